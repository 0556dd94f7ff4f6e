"""The reconstruction model zoo: a registry, and the shared training and evaluation of its models.

:data:`MODELS` maps a display name to a :class:`ModelSpec` holding the class, a small
configuration (CPU, 64x64 images, minutes of training), the paper's configuration (from each
class docstring) and a citation. :func:`build_model` instantiates one at either scale.

Shared protocol of the benchmark notebooks:

- Training (:func:`train_model`): Adam, a fixed number of steps, batches from
  :func:`mricompendium.data.kspace.batch_fn` (cases, sampling setting and mask drawn per step),
  loss = L1 between the magnitudes ``|model(kspace, mask, maps)|`` and ``|target|``. Magnitude,
  because the models are given maps estimated from the calibration region, which absorb the
  image's low-resolution phase, so their complex output is defined only up to that phase.
  Optionally (``loss_over_steps``) the mean of that loss over every intermediate estimate, as
  the RIM-family papers train.
- Evaluation (:func:`evaluate_model`): magnitudes, protocol ``"slice_normalised"`` of
  :mod:`mricompendium.metrics` (each slice divided by its target maximum, data range 1), SSIM /
  PSNR / NMSE over the image and SSIM / PSNR / NMSE inside the brain mask, one value per case,
  plus the inference wall time per slice.

Every model and baseline has the interface ``f(kspace, mask, maps) -> image (B, H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium import metrics, training
from mricompendium.data.kspace import ReconBatch, Sampling, batch_fn
from mricompendium.models.reconstruction.cascadenet import CascadeNet
from mricompendium.models.reconstruction.cs import l1_wavelet_recon
from mricompendium.models.reconstruction.kikinet import KIKINet
from mricompendium.models.reconstruction.lpd import LPDNet
from mricompendium.models.reconstruction.recurrentvarnet import RecurrentVarNet
from mricompendium.models.reconstruction.rim import CIRIM, IRIM, RIM
from mricompendium.models.reconstruction.unet import UNetRecon
from mricompendium.models.reconstruction.varnet import VarNet
from mricompendium.models.reconstruction.xpdnet import XPDNet
from mricompendium.physics.sense import SenseOp, sens_reduce

__all__ = [
    "EVAL_PROTOCOL",
    "MODELS",
    "ModelSpec",
    "build_model",
    "count_parameters",
    "cs_baseline",
    "evaluate_model",
    "reconstruct",
    "train_model",
    "zero_filled",
]

EVAL_PROTOCOL = "slice_normalised"
Recon = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    Attributes:
        name: display name (the registry key).
        factory: the class (or a function) called with keyword hyperparameters.
        small: the CPU configuration (64x64 images, minutes of training).
        paper: the paper's configuration, as stated in the class docstring.
        citation: the paper.
        learns_maps: the model estimates coil maps itself and ignores the maps it is given.
        multi_step: ``forward`` accepts ``return_all=True`` (intermediate estimates).
        notes: deviations from the paper worth stating.
    """

    name: str
    factory: Callable[..., nn.Module]
    small: dict[str, Any]
    paper: dict[str, Any]
    citation: str
    learns_maps: bool = False
    multi_step: bool = False
    notes: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)

    def config(self, scale: str = "small", **overrides: Any) -> dict[str, Any]:
        """Keyword arguments at ``scale`` (``"small"`` or ``"paper"``) with ``overrides``."""
        if scale not in ("small", "paper"):
            raise ValueError(f"scale must be 'small' or 'paper', got {scale!r}")
        base = self.small if scale == "small" else self.paper
        return {**base, **self.fixed, **overrides}


_E2E = (
    "Sriram et al., End-to-End Variational Networks for Accelerated MRI Reconstruction, MICCAI 2020"
)
_CIRIM = (
    "Karkalousos et al., Assessment of data consistency through cascades of independently "
    "recurrent inference machines, Phys. Med. Biol. 67:124001, 2022"
)
_VARNET_PAPER = {"num_cascades": 12, "sens_chans": 8, "sens_pools": 4, "chans": 18, "pools": 4}
_VARNET_SMALL = {"num_cascades": 4, "sens_chans": 4, "sens_pools": 2, "chans": 8, "pools": 2}
_CIRIM_PAPER = {"num_cascades": 8, "time_steps": 8, "hidden": 64, "num_layers": 3}
_CIRIM_SMALL = {"num_cascades": 2, "time_steps": 4, "hidden": 16, "num_layers": 2}

MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec(
            "U-Net",
            UNetRecon,
            small={"chans": 12, "num_pools": 3},
            paper={"chans": 32, "num_pools": 4},
            citation="Ronneberger et al., MICCAI 2015; fastMRI baseline, Zbontar et al., 2018",
        ),
        ModelSpec(
            "E2E-VarNet",
            VarNet,
            small=_VARNET_SMALL,
            paper=_VARNET_PAPER,
            citation=_E2E,
            learns_maps=True,
            fixed={"explicit_dc": True},
        ),
        ModelSpec(
            "E2E-VarNet (no DC)",
            VarNet,
            small=_VARNET_SMALL,
            paper=_VARNET_PAPER,
            citation=_E2E + " (ablation without the explicit soft-DC term)",
            learns_maps=True,
            fixed={"explicit_dc": False},
        ),
        ModelSpec(
            "CascadeNet",
            CascadeNet,
            small={"num_cascades": 4, "hidden": 16, "depth": 4},
            paper={"num_cascades": 5, "hidden": 64, "depth": 5},
            citation="Schlemper et al., A Deep Cascade of CNNs for Dynamic MR Image "
            "Reconstruction, IEEE TMI 2018",
        ),
        ModelSpec(
            "KIKI-Net",
            KIKINet,
            small={"num_iter": 2, "k_hidden": 8, "k_depth": 3, "i_hidden": 16, "i_depth": 4},
            paper={"num_iter": 2, "k_hidden": 32, "k_depth": 25, "i_hidden": 64, "i_depth": 25},
            citation="Eo et al., KIKI-net: cross-domain CNNs for reconstructing undersampled MR "
            "images, MRM 2018",
            notes="paper depth/width approximate (about 25 layers of 32-64 filters per CNN)",
        ),
        ModelSpec(
            "LPD-Net",
            LPDNet,
            small={"num_iter": 3, "n_primal": 3, "n_dual": 3, "hidden": 12, "depth": 3},
            paper={"num_iter": 10, "n_primal": 5, "n_dual": 5, "hidden": 32, "depth": 3},
            citation="Adler & Oktem, Learned Primal-Dual Reconstruction, IEEE TMI 2018",
        ),
        ModelSpec(
            "RIM",
            RIM,
            small={"time_steps": 4, "hidden": 16, "num_layers": 2},
            paper={"time_steps": 8, "hidden": 64, "num_layers": 2},
            citation="Putzky & Welling 2017; Lonning et al., Recurrent inference machines for "
            "reconstructing heterogeneous MRI data, Med. Image Anal. 2019",
            multi_step=True,
        ),
        ModelSpec(
            "i-RIM",
            IRIM,
            small={"time_steps": 4, "channels": 8, "hidden": 16, "dilations": (1, 2)},
            paper={"time_steps": 8, "channels": 64, "hidden": 64, "dilations": (1, 2, 4, 8)},
            citation="Putzky & Welling, Invert to Learn to Invert, NeurIPS 2019; Putzky et al., "
            "i-RIM applied to the fastMRI challenge, arXiv 1910.08952",
            multi_step=True,
            notes="invertible U-Nets replaced by dilated couplings; no memory-free backward pass",
        ),
        ModelSpec(
            "CIRIM",
            CIRIM,
            small=_CIRIM_SMALL,
            paper=_CIRIM_PAPER,
            citation=_CIRIM,
            multi_step=True,
            fixed={"dc": "implicit"},
        ),
        ModelSpec(
            "CIRIM (explicit DC)",
            CIRIM,
            small=_CIRIM_SMALL,
            paper=_CIRIM_PAPER,
            citation=_CIRIM + " (explicit soft-DC variant)",
            multi_step=True,
            fixed={"dc": "explicit"},
        ),
        ModelSpec(
            "RecurrentVarNet",
            RecurrentVarNet,
            small={"num_steps": 4, "hidden": 16, "num_layers": 2},
            paper={
                "num_steps": 8,
                "hidden": 128,
                "num_layers": 4,
                "init_channels": (32, 32, 64, 64),
                "init_dilations": (1, 1, 2, 4),
                "init_multiscale": 3,
            },
            citation="Yiasemis et al., Recurrent Variational Network, CVPR 2022",
            multi_step=True,
            notes="coil maps from the calibration region, not a learned sensitivity U-Net",
        ),
        ModelSpec(
            "XPDNet",
            XPDNet,
            small={"num_iter": 4, "num_primal": 3, "first_chans": 8, "scale_chans": (8, 16)},
            paper={
                "num_iter": 25,
                "num_primal": 5,
                "first_chans": 32,
                "scale_chans": (64, 128, 256),
                "convs_per_scale": 2,
            },
            citation="Ramzi et al., XPDNet for MRI Reconstruction: an application to the 2020 "
            "fastMRI challenge, arXiv 2010.07290",
            multi_step=True,
            notes="no learned coil-map refinement",
        ),
    )
}


def build_model(name: str, *, scale: str = "small", **overrides: Any) -> nn.Module:
    """Instantiate registry model ``name`` at ``scale`` (``"small"``/``"paper"``) + overrides."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    return spec.factory(**spec.config(scale, **overrides))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def zero_filled() -> Recon:
    """The zero-filled SENSE image ``sum_c conj(S_c) F^-1 (M y_c)`` as a reconstruction."""

    def recon(kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return sens_reduce(kspace, maps)

    return recon


def cs_baseline(lam: float, iters: int) -> Recon:
    """L1-wavelet compressed sensing (FISTA, :func:`l1_wavelet_recon`) with the given maps."""
    if lam < 0 or iters < 1:
        raise ValueError(f"need lam >= 0 and iters >= 1, got {lam}, {iters}")

    def recon(kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        return l1_wavelet_recon(kspace, SenseOp(maps, mask), lam=lam, num_iters=iters)

    return recon


def _flatten(estimates: Any) -> list[torch.Tensor]:
    if isinstance(estimates, torch.Tensor):
        return [estimates]
    return [t for e in estimates for t in _flatten(e)]


def magnitude_l1(model: nn.Module, batch: ReconBatch, *, over_steps: bool = False) -> torch.Tensor:
    """Mean ``|(|pred| - |target|)|``; with ``over_steps`` averaged over all estimates."""
    if over_steps:
        preds = _flatten(model(batch.kspace, batch.mask, batch.maps, return_all=True))
    else:
        preds = [model(batch.kspace, batch.mask, batch.maps)]
    target = batch.target_abs
    return torch.stack([(p.abs() - target).abs().mean() for p in preds]).mean()


def train_model(
    name: str | nn.Module,
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | torch.device = "cpu",
    scale: str = "small",
    overrides: dict[str, Any] | None = None,
    indices: Sequence[int] | None = None,
    loss_over_steps: bool = False,
    grad_clip: float | None = 1.0,
    mask_pool: int = 8,
) -> tuple[nn.Module, training.History]:
    """Train a registry model (or a given module) on a mix of sampling settings.

    Args:
        name: registry name (built at ``scale`` with ``overrides``) or an ``nn.Module``.
        source: a ``MultiCoilSimulator`` or ``RealKspaceSet`` (batches made on its device).
        samplings: the training settings; each step draws one (see ``batch_fn``).
        steps, batch_size, lr: the budget (Adam, constant learning rate).
        seed: seeds the initial weights and the batch stream.
        device: where the model trains.
        indices: the training cases (default all of ``source``).
        loss_over_steps: average the loss over intermediate estimates (multi-step models only).
        grad_clip: maximum gradient norm.
        mask_pool: distinct masks per setting.

    Returns:
        ``(model in eval mode, History)``.
    """
    training.seed_everything(seed)
    model = (
        name if isinstance(name, nn.Module) else build_model(name, scale=scale, **(overrides or {}))
    )
    over = bool(loss_over_steps) and (isinstance(name, nn.Module) or MODELS[name].multi_step)
    dev = training.select_device(device)
    batches = batch_fn(
        source, samplings, batch_size, indices=indices, mask_pool=mask_pool, seed=seed
    )

    def loss_fn(m: nn.Module, batch: ReconBatch) -> torch.Tensor:
        return magnitude_l1(m, batch.to(dev), over_steps=over)

    history = training.fit(
        model,
        batches,
        loss_fn,
        steps=steps,
        lr=lr,
        device=dev,
        amp=False,
        grad_clip=grad_clip,
        progress=False,
        seed=seed,
    )
    return model.eval(), history


def reconstruct(
    model: nn.Module | Recon, batch: ReconBatch, *, device: str | torch.device | None = None
) -> torch.Tensor:
    """``model(kspace, mask, maps)`` without gradients, on ``device`` (default: the batch's)."""
    if device is not None:
        batch = batch.to(device)
    if isinstance(model, nn.Module):
        model.eval()
    with torch.no_grad():
        return model(batch.kspace, batch.mask, batch.maps)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_model(
    model: nn.Module | Recon,
    source: Any,
    indices: Sequence[int],
    sampling: Sampling | str,
    *,
    seed: int,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    keep: int = 0,
) -> dict[str, np.ndarray]:
    """Per-case metrics of a model or baseline on the cases ``indices`` under ``sampling``.

    The cases' data (phase, coils, noise, per-case masks) depend only on ``(index, seed)``, so
    every method sees exactly the same inputs whatever ``batch_size``.

    Args:
        model: an ``nn.Module`` or a callable ``f(kspace, mask, maps) -> (B, H, W)``.
        source: a ``MultiCoilSimulator`` or ``RealKspaceSet``.
        indices: the test cases.
        sampling: the setting.
        seed: seeds the test data (use the same for every method).
        batch_size: cases per forward pass.
        device: where to run (default: the source's).
        keep: also return the first ``keep`` reconstructions and targets (magnitudes) as
            ``"recon"`` and ``"target"`` arrays ``(keep, H, W)``.

    Returns:
        ``{"ssim", "psnr", "nmse", "ssim_brain", "psnr_brain", "nmse_brain", "time_s",
        "index"}``: float64 arrays ``(n,)`` (``time_s``: wall time of the batch / its size),
        protocol :data:`EVAL_PROTOCOL`.
    """
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("indices is empty")
    dev = torch.device(device) if device is not None else source.device
    if isinstance(model, nn.Module):
        model.to(dev)
    preds, targets, brains, times = [], [], [], []
    for start in range(0, len(idx), batch_size):
        batch = source.batch(idx[start : start + batch_size], sampling, seed).to(dev)
        _sync(dev)
        t0 = time.perf_counter()
        pred = reconstruct(model, batch)
        _sync(dev)
        times += [(time.perf_counter() - t0) / len(batch)] * len(batch)
        preds.append(pred.abs().float().cpu())
        targets.append(batch.target_abs.float().cpu())
        brains.append(batch.brain_mask.cpu())
    pred, target, brain = torch.cat(preds), torch.cat(targets), torch.cat(brains)
    res = metrics.evaluate(pred.numpy(), target.numpy(), protocol=EVAL_PROTOCOL, mask=brain.numpy())
    out = {k.replace("_mask", "_brain"): np.asarray(v, dtype=np.float64) for k, v in res.items()}
    out["time_s"] = np.asarray(times, dtype=np.float64)
    out["index"] = np.asarray(idx, dtype=np.float64)
    if keep:
        out["recon"], out["target"] = pred[:keep].numpy(), target[:keep].numpy()
    return out
