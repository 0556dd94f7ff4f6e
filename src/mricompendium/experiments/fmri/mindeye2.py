"""MindEye2 (S56): registry, shared-subject pretraining, fine-tuning, baselines and evaluation.

Protocol (our reading of the paper, scaled): pretrain one model on every subject but the new one
(each step draws a sub-batch from every pretraining subject through its own linear map), then add
a linear map for the new subject, align it with the shared network frozen and fine-tune the whole
model on its single session (:func:`finetune`); compare it with the same architecture trained on
that session alone (:func:`train_on_subject`) and with ridge regression. Test images
are shared and their betas averaged over repeats; retrieval uses the contrastive head, the
reconstructions are the low-level pathway's images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mricompendium import training
from mricompendium.data.fmri import JointEmbedding
from mricompendium.data.fmri.voxels import feature_maps
from mricompendium.experiments.fmri.common import fit_ridge, identification, sample_rows
from mricompendium.experiments.fmri.study import Study, SubjectSet
from mricompendium.metrics import retrieval
from mricompendium.models.fmri import MindEye2, MindEye2Loss

__all__ = [
    "CITATION",
    "CONFIGS",
    "TrainConfig",
    "build_mindeye2",
    "evaluate_predictions",
    "finetune",
    "predict",
    "pretrain",
    "ridge_predictions",
    "train_on_subject",
]

CITATION = (
    "Scotti, Tripathy, Torrico Villanueva, Kneeland, Chen, Narang, Santhirasegaran, Xu, "
    "Naselaris, Norman, Abraham. MindEye2: Shared-Subject Models Enable fMRI-To-Image With "
    "1 Hour of Data. ICML 2024 (arXiv:2403.11207)."
)
# Model sizes: "cpu" runs here in seconds; "paper" is our reading of the paper's widths (4096-d
# shared latent, 4 residual blocks), for a GPU.
CONFIGS: dict[str, dict[str, Any]] = {
    "cpu": {"latent_dim": 256, "n_blocks": 2, "lowlevel_channels": 16, "dropout": 0.15},
    "paper": {"latent_dim": 4096, "n_blocks": 4, "lowlevel_channels": 256, "dropout": 0.15},
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation of one MindEye2 training stage (AdamW, cosine schedule).

    ``subject_l2`` adds a ridge penalty on the subject-specific linear maps (the paper calls that
    layer a ridge regression): ``subject_l2`` times the mean over latent units of the squared norm
    of their voxel weights, summed over the subjects in the batch.
    """

    steps: int
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    temperature: float = 0.05
    prior_weight: float = 30.0
    lowlevel_weight: float = 1.0
    subject_l2: float = 0.0
    val_every: int = 25


def build_mindeye2(
    size: str, voxels: Mapping[str, int], *, embed_dim: int, image_size: int, seed: int
) -> MindEye2:
    """A MindEye2 of registry size ``size`` ("cpu" or "paper"), initialised from ``seed``."""
    if size not in CONFIGS:
        raise ValueError(f"unknown MindEye2 size {size!r}; choose one of {sorted(CONFIGS)}")
    torch.manual_seed(seed)
    return MindEye2(voxels=voxels, embed_dim=embed_dim, image_size=image_size, **CONFIGS[size])


def _tensors(s: SubjectSet, study: Study, split: str) -> dict[str, torch.Tensor]:
    x, idx = getattr(s, f"{split}_x"), getattr(s, f"{split}_idx")
    return {
        "x": torch.from_numpy(np.ascontiguousarray(x)),
        "emb": torch.from_numpy(study.bank.image_emb[idx]),
        "img": torch.from_numpy(study.bank.images[idx]),
    }


def _loss(cfg: TrainConfig) -> Callable[[MindEye2, dict], torch.Tensor]:
    objective = MindEye2Loss(
        temperature=cfg.temperature,
        prior_weight=cfg.prior_weight,
        lowlevel_weight=cfg.lowlevel_weight,
    )

    def loss_fn(model: MindEye2, batch: dict) -> torch.Tensor:
        outs = [model(x, s) for x, s in zip(batch["x"], batch["subjects"], strict=True)]
        heads = [
            torch.cat([getattr(o, k) for o in outs]) for k in ("contrastive", "prior", "image")
        ]
        loss = objective(*heads, torch.cat(batch["emb"]), torch.cat(batch["img"]))
        if cfg.subject_l2 > 0:
            for s in batch["subjects"]:
                w = model.subject_maps[s].weight
                loss = loss + cfg.subject_l2 * w.pow(2).sum() / w.shape[0]
        return loss

    return loss_fn


def _batch_fn(data: Mapping[str, dict[str, torch.Tensor]], batch_size: int):
    names = list(data)
    per = max(2, batch_size // len(names))

    def batch_fn(step: int, g: torch.Generator) -> dict[str, Any]:
        picks = {n: sample_rows(len(data[n]["x"]), per, g) for n in names}
        return {
            "subjects": names,
            **{k: [data[n][k][picks[n]] for n in names] for k in ("x", "emb", "img")},
        }

    return batch_fn


def pretrain(
    model: MindEye2,
    study: Study,
    subjects: Sequence[str],
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device | str,
) -> training.History:
    """Shared-subject pretraining on ``subjects``' training sessions (the new one excluded)."""
    data = {n: _tensors(study.subjects[n], study, "train") for n in subjects}
    torch.manual_seed(seed)
    return training.fit(
        model,
        _batch_fn(data, cfg.batch_size),
        _loss(cfg),
        steps=cfg.steps,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        optimizer="adamw",
        scheduler="cosine",
        seed=seed,
        device=device,
        progress=False,
    )


def _val_fn(s: SubjectSet, study: Study, device) -> Callable[[MindEye2], float]:
    """Validation identification of the contrastive head on the subject's validation images."""
    val = _tensors(s, study, "val")
    if len(val["x"]) < 2:
        raise ValueError(f"{s.name}: needs >= 2 validation images for a validation curve")

    def val_fn(model: MindEye2) -> float:
        return identification(model(val["x"].to(device), s.name).contrastive, val["emb"])

    return val_fn


def train_on_subject(
    model: MindEye2,
    study: Study,
    subject: str,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device | str,
    on_step: dict[int, Callable[[MindEye2], Any]] | None = None,
) -> training.History:
    """Train every parameter on ``subject``'s training session(s) (adds its map if missing).

    Used for fine-tuning a pretrained model and for training a single-subject model from
    scratch: the same budget rule for both (a fixed number of steps, cosine schedule to zero) and
    the same validation curve, fMRI-to-image identification on the subject's validation images
    (:func:`~mricompendium.experiments.fmri.common.identification`, higher is better), by which
    the verdict engine checks that each has settled.
    """
    s = study.subjects[subject]
    if subject not in model.subject_maps:
        torch.manual_seed(seed + 7919)
        model.add_subject(subject, s.n_voxels)
    torch.manual_seed(seed)
    return training.fit(
        model,
        _batch_fn({subject: _tensors(s, study, "train")}, cfg.batch_size),
        _loss(cfg),
        steps=cfg.steps,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        optimizer="adamw",
        scheduler="cosine",
        seed=seed,
        device=device,
        progress=False,
        val_fn=_val_fn(s, study, training.select_device(device)),
        val_every=cfg.val_every,
        on_step=on_step,
    )


def _merge(first: training.History, second: training.History) -> training.History:
    """One history for two consecutive training phases (steps of the second shifted)."""
    off = first.steps
    return dataclasses.replace(
        second,
        losses=first.losses + second.losses,
        lrs=first.lrs + second.lrs,
        steps=off + second.steps,
        wall_s=first.wall_s + second.wall_s,
        val_steps=first.val_steps + [off + s for s in second.val_steps],
        val=first.val + second.val,
        snapshots={**first.snapshots, **{off + k: v for k, v in second.snapshots.items()}},
    )


def finetune(
    model: MindEye2,
    study: Study,
    subject: str,
    align: TrainConfig,
    tune: TrainConfig,
    *,
    seed: int,
    device: torch.device | str,
    on_step: dict[int, Callable[[MindEye2], Any]] | None = None,
) -> training.History:
    """Fine-tune a pretrained model on a new subject, in two phases.

    1. **Alignment** (``align.steps``): only the new subject's linear map is trained, the shared
       network frozen, so that the new voxels land where the shared latent expects them.
    2. **Fine-tuning** (``tune.steps``): every parameter, at ``tune.lr``.

    Our choice: the paper fine-tunes the whole model at once; at this scale that overfit within a
    few dozen steps (the new map starts random and its gradients rewrite the shared network).
    ``on_step`` keys count steps over both phases; the history covers both.
    """
    s = study.subjects[subject]
    if subject not in model.subject_maps:
        torch.manual_seed(seed + 7919)
        model.add_subject(subject, s.n_voxels)
    hooks = on_step or {}
    prefix = f"subject_maps.{subject}."
    frozen = [p for n, p in model.named_parameters() if not n.startswith(prefix)]
    for p in frozen:
        p.requires_grad_(False)
    try:
        first = train_on_subject(
            model, study, subject, align, seed=seed, device=device,
            on_step={k: f for k, f in hooks.items() if k <= align.steps},
        )  # fmt: skip
    finally:
        for p in frozen:
            p.requires_grad_(True)
    second = train_on_subject(
        model, study, subject, tune, seed=seed + 1, device=device,
        on_step={k - align.steps: f for k, f in hooks.items() if k > align.steps},
    )  # fmt: skip
    return _merge(first, second)


@torch.no_grad()
def predict(
    model: MindEye2, x: np.ndarray, subject: str, batch: int = 256
) -> dict[str, np.ndarray]:
    """Decode betas ``(N, V)``: ``{"emb" (contrastive head), "prior", "image"}`` as numpy."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    outs = [
        model(torch.from_numpy(x[i : i + batch]).to(dev), subject) for i in range(0, len(x), batch)
    ]
    model.train(was_training)
    return {
        "emb": torch.cat([o.contrastive for o in outs]).float().cpu().numpy(),
        "prior": torch.cat([o.prior for o in outs]).float().cpu().numpy(),
        "image": torch.cat([o.image for o in outs]).float().cpu().numpy(),
    }


def ridge_predictions(
    study: Study, subject: str, *, alphas: Sequence[float], n_candidates: int
) -> dict[str, np.ndarray]:
    """Ridge baseline: betas -> image embedding and betas -> pixels, penalties chosen on the
    validation trials (embedding: image retrieval; pixels: PixCorr)."""
    s, bank = study.subjects[subject], study.bank
    emb_val = bank.image_emb[s.val_idx]
    emb = fit_ridge(
        s.train_x,
        bank.image_emb[s.train_idx],
        alphas=alphas,
        x_val=s.val_x,
        score=lambda p: float(
            retrieval.image_retrieval(p, emb_val, n_candidates=n_candidates).mean()
        ),
    )
    n_pix = int(np.prod(bank.images.shape[1:]))
    img_val = bank.images[s.val_idx]
    pix = fit_ridge(
        s.train_x,
        bank.images[s.train_idx].reshape(-1, n_pix),
        alphas=alphas,
        x_val=s.val_x,
        score=lambda p: float(retrieval.pixcorr(p.reshape(img_val.shape), img_val).mean()),
    )
    image = np.clip(pix.predict(s.test_x).reshape((-1, *bank.images.shape[1:])), 0.0, 1.0)
    return {"emb": emb.predict(s.test_x), "image": image, "alpha_emb": emb.alpha}


def evaluate_predictions(
    pred: Mapping[str, np.ndarray],
    study: Study,
    test_idx: np.ndarray,
    *,
    embedding: JointEmbedding,
    n_candidates: int,
) -> dict[str, np.ndarray]:
    """Per-test-image metrics: retrieval both ways, PixCorr, SSIM and two-way identification.

    Two-way identification compares the reconstruction with the seen image in two feature
    spaces: the low-level feature maps (the stand-in for AlexNet's early layer) and the joint
    embedding's image encoder (the stand-in for CLIP).
    """
    bank = study.bank
    truth = bank.images[test_idx]
    recon = pred["image"]
    return {
        "image_retrieval": retrieval.image_retrieval(
            pred["emb"], bank.image_emb[test_idx], n_candidates=n_candidates
        ),
        "brain_retrieval": retrieval.brain_retrieval(
            pred["emb"], bank.image_emb[test_idx], n_candidates=n_candidates
        ),
        "pixcorr": retrieval.pixcorr(recon, truth),
        "ssim": retrieval.ssim_grey(recon, truth),
        "twoway_lowlevel": retrieval.two_way_identification(
            feature_maps(recon), bank.features[test_idx]
        ),
        "twoway_clip": retrieval.two_way_identification(
            embedding.encode_images(recon), bank.image_emb[test_idx]
        ),
    }
