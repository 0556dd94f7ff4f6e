"""BrainCLIP (S81): registry, visual-only vs visual+text training, zero-shot evaluation.

Protocol (our reading, scaled): one subject; an MLP maps its betas into the joint embedding,
trained on seen categories only, with CLIP's contrastive loss against the image embedding
(visual supervision) or against the image embedding and the embeddings of the image's two
captions, its description and its category caption (visual + textual supervision). Tested on
seen- and novel-category images: zero-shot category decoding (nearest category prompt ensemble
among the setting's categories), fMRI-to-image and fMRI-to-text (description) matching.

The category captions trained on use other wordings than the zero-shot prompts
(:data:`~mricompendium.data.fmri.stimuli.CAPTION_TEMPLATES` vs
:data:`~mricompendium.data.fmri.stimuli.PROMPT_TEMPLATES`): the text loss never pulls the decoded
embedding onto a classifier vector. :func:`text_targets_apart` checks it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from mricompendium import plans, training
from mricompendium.data.fmri import CATEGORIES, PROMPT_TEMPLATES, JointEmbedding, category_prompt
from mricompendium.experiments.fmri.common import fit_ridge, identification, sample_rows
from mricompendium.experiments.fmri.study import Study
from mricompendium.metrics import retrieval
from mricompendium.models.fmri import BrainCLIPMapper, CLIPLoss
from mricompendium.plans import Checkpoints, FitCall

__all__ = [
    "CITATION",
    "CONFIGS",
    "TrainConfig",
    "build_mapper",
    "class_embeddings",
    "evaluate_embeddings",
    "fit_setup",
    "predict",
    "ridge_embeddings",
    "text_targets_apart",
    "train_mapper",
    "zero_shot_prompts",
]

CITATION = (
    "Liu, Ma, Zhou, Zhu, Zheng. BrainCLIP: Bridging Brain and Visual-Linguistic Representation "
    "via CLIP for Generic Natural Visual Stimulus Decoding. arXiv:2302.12971 (2023)."
)
CONFIGS: dict[str, dict[str, Any]] = {
    "cpu": {"hidden": 256, "dropout": 0.3, "variational": False},
    "paper": {"hidden": 2048, "dropout": 0.3, "variational": True},
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation of the mapper (AdamW, cosine schedule).

    ``text_weight`` is the share of the textual terms in the loss (0: visual only);
    ``kl_weight`` weighs the KL term of a variational mapper.
    """

    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    temperature: float = 0.05
    text_weight: float = 0.0
    kl_weight: float = 1e-3
    val_every: int = 25


def build_mapper(size: str, *, n_voxels: int, embed_dim: int, seed: int) -> BrainCLIPMapper:
    """A mapper of registry size ``size`` (``"cpu"`` or ``"paper"``), initialised from ``seed``."""
    if size not in CONFIGS:
        raise ValueError(f"unknown BrainCLIP size {size!r}; choose one of {sorted(CONFIGS)}")
    torch.manual_seed(seed)
    return BrainCLIPMapper(n_voxels=n_voxels, embed_dim=embed_dim, **CONFIGS[size])


def _split(study: Study, split: str) -> dict[str, torch.Tensor]:
    s, bank = study.subjects[study.target], study.bank
    x, idx = getattr(s, f"{split}_x"), getattr(s, f"{split}_idx")
    return {
        "x": torch.from_numpy(np.ascontiguousarray(x)),
        "img": torch.from_numpy(bank.image_emb[idx]),
        "cap": torch.from_numpy(bank.caption_emb[idx]),
        "label": torch.from_numpy(bank.label_emb[idx]),
    }


def _objective(cfg: TrainConfig) -> Callable[[BrainCLIPMapper, dict], torch.Tensor]:
    clip = CLIPLoss(cfg.temperature)

    def loss_fn(model: BrainCLIPMapper, batch: dict) -> torch.Tensor:
        out = model(batch["x"])
        loss = (1.0 - cfg.text_weight) * clip(out.embedding, batch["img"])
        if cfg.text_weight > 0:
            text = clip(out.embedding, batch["cap"]) + clip(out.embedding, batch["label"])
            loss = loss + cfg.text_weight * 0.5 * text
        return loss + cfg.kl_weight * out.kl

    return loss_fn


def fit_setup(
    model: BrainCLIPMapper,
    study: Study,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device | str,
    on_step: dict[int, Callable[[BrainCLIPMapper], Any]] | None = None,
    precision: str | None = None,
    config: dict[str, Any] | None = None,
) -> FitCall:
    """The ``training.fit`` call of :func:`train_mapper` (nothing trained).

    ``config``: the mapper's constructor configuration (:func:`build_mapper`'s factory and
    arguments), which a checkpoint needs to rebuild it.
    """
    train, val = _split(study, "train"), _split(study, "val")
    if len(val["x"]) < 2:
        raise ValueError("needs >= 2 validation images for a validation curve")
    loss_fn = _objective(cfg)
    dev = training.select_device(device)

    def batch_fn(step: int, g: torch.Generator) -> dict[str, torch.Tensor]:
        pick = sample_rows(len(train["x"]), cfg.batch_size, g)
        return {k: v[pick] for k, v in train.items()}

    def val_fn(m: BrainCLIPMapper) -> float:
        return identification(m(val["x"].to(dev)).embedding, val["img"])

    kwargs = dict(steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay, optimizer="adamw",
                  scheduler="cosine", seed=seed, device=device, progress=False, val_fn=val_fn,
                  val_every=cfg.val_every, on_step=on_step, precision=precision)  # fmt: skip
    torch.manual_seed(seed)  # the global stream (dropout) starts from the seed
    return FitCall(model, batch_fn, loss_fn, kwargs, config, dataclasses.asdict(cfg))


def train_mapper(
    model: BrainCLIPMapper,
    study: Study,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device | str,
    on_step: dict[int, Callable[[BrainCLIPMapper], Any]] | None = None,
    precision: str | None = None,
    checkpoints: Checkpoints | None = None,
    method: str = "",
) -> training.History:
    """Train on the seen-category training trials.

    Every mapper, whatever its loss, gets the same budget rule (``cfg.steps``, cosine schedule to
    zero) and the same validation curve: fMRI-to-image identification on the validation images
    (:func:`~mricompendium.experiments.fmri.common.identification`, higher is better), by which the
    verdict engine checks that each has settled. With ``checkpoints`` nothing is trained: the
    weights (and the half-budget ones for ``on_step``) come from what
    ``python -m mricompendium.train`` wrote for ``method`` at ``seed``.
    """
    call = fit_setup(model, study, cfg, seed=seed, device=device, on_step=on_step,
                     precision=precision)  # fmt: skip
    return plans.fit(call, checkpoints, method, seed)


@torch.no_grad()
def predict(model: BrainCLIPMapper, x: np.ndarray) -> np.ndarray:
    """Betas ``(N, V)`` -> embeddings ``(N, D)`` (eval mode: the mean of a variational mapper)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = model(torch.from_numpy(np.ascontiguousarray(x)).to(dev)).embedding.float().cpu().numpy()
    model.train(was_training)
    return out


def ridge_embeddings(study: Study, *, alphas: list[float], n_candidates: int) -> np.ndarray:
    """Ridge from betas to the image embedding (penalty chosen by validation image matching);
    returns the test embeddings."""
    s, bank = study.subjects[study.target], study.bank
    emb_val = bank.image_emb[s.val_idx]
    r = fit_ridge(
        s.train_x,
        bank.image_emb[s.train_idx],
        alphas=alphas,
        x_val=s.val_x,
        score=lambda p: float(
            retrieval.image_retrieval(p, emb_val, n_candidates=n_candidates).mean()
        ),
    )
    return r.predict(s.test_x)


def class_embeddings(embedding: JointEmbedding, categories: list[int]) -> np.ndarray:
    """The zero-shot classifier: each category's prompt-ensemble embedding, ``(C, D)``."""
    return embedding.class_vectors([CATEGORIES[c] for c in categories])


def zero_shot_prompts(categories: list[int]) -> list[str]:
    """Every prompt the zero-shot classifier of ``categories`` encodes."""
    return [category_prompt(CATEGORIES[c], t) for t in PROMPT_TEMPLATES for c in categories]


def text_targets_apart(study: Study) -> dict[str, bool]:
    """Are the mapper's text targets disjoint from the zero-shot classifier's prompts?

    Returns:
        ``{"wordings": ...}``: no training text (a description or a category caption of a
        training or validation image) equals a zero-shot prompt of any category;
        ``{"novel_absent": ...}``: no training text names a novel category.
    """
    s, bank = study.subjects[study.target], study.bank
    rows = np.concatenate([s.train_idx, s.val_idx])
    texts = {bank.captions[i] for i in rows} | {bank.label_captions[i] for i in rows}
    prompts = set(zero_shot_prompts(list(range(len(CATEGORIES)))))
    novel = [CATEGORIES[c] for c in study.novel]
    return {
        "wordings": not texts & prompts,
        "novel_absent": not set(novel) & {w for t in texts for w in re.findall(r"[a-z]+", t)},
    }


def evaluate_embeddings(
    brain: np.ndarray,
    study: Study,
    rows: np.ndarray,
    categories: list[int],
    *,
    embedding: JointEmbedding,
    n_candidates: int,
) -> dict[str, np.ndarray]:
    """Per-test-image metrics for the test images at positions ``rows`` of the target's test set.

    Args:
        brain: ``(N_test, D)`` decoded embeddings of all test images.
        rows: which test images (e.g. the novel-category ones) to score together.
        categories: the candidate categories for category decoding (e.g. the novel ones).

    Returns:
        ``category_top1`` (nearest template among ``categories``), ``image_match`` and
        ``text_match`` (fMRI -> image embedding / description embedding, top-1 among
        ``n_candidates`` of these test images).
    """
    s, bank = study.subjects[study.target], study.bank
    idx = s.test_idx[rows]
    labels = np.searchsorted(np.asarray(categories), bank.scenes.labels[idx])
    return {
        "category_top1": retrieval.zero_shot_top1(
            brain[rows], class_embeddings(embedding, categories), labels
        ),
        "image_match": retrieval.image_retrieval(
            brain[rows], bank.image_emb[idx], n_candidates=n_candidates
        ),
        "text_match": retrieval.image_retrieval(
            brain[rows], bank.caption_emb[idx], n_candidates=n_candidates
        ),
    }
