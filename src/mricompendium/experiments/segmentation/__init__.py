"""The segmentation family's experiment layer.

* :mod:`.common`: routines every segmentation notebook shares (Dice + cross-entropy training on
  :func:`mricompendium.training.fit`, whole-image or sliding-window prediction, evaluation into
  per-case rows of the claims long format).
* :mod:`.tumour`: the multi-modal tumour task (ET / TC / WT regions) for S34 and S63.
* :mod:`.autoconfig`: a self-configuring U-Net pipeline following nnU-Net's rules (S88).
"""
