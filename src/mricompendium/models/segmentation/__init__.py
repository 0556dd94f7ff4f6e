"""Segmentation networks: thin, typed constructors (MONAI where the paper's code is MONAI).

Every network returns logits (never a softmax or sigmoid); a model imports torch, MONAI and
einops only, never data, training, metrics or experiments.
"""
