"""The multi-modal brain-tumour task of S34 (SegResNet + VAE) and S63 (Swin UNETR).

Input: four co-registered modalities (T1, T1c, T2, FLAIR), each z-scored over its non-zero
(head) voxels, as both papers do. Output: three sigmoid channels, the nested BraTS regions in the
order ET (enhancing tumour), TC (tumour core = ET + necrosis), WT (whole tumour = TC + oedema)
(:data:`mricompendium.data.segmentation.brats.REGIONS`).

Data come from the label-map synthesiser (:mod:`mricompendium.data.synth`: MNI anatomy, a tumour
with necrotic core, enhancing rim and oedema, physics-based contrasts, deformation, artefacts);
each case is synthesised from its own seed and is its own unit of independence. 3D cases are
cubes cropped around the tumour (with a seeded random offset), 2D cases axial slices through it.
With a ``data_path``, :func:`brats_cases` reads BraTS folders (:mod:`.data.segmentation.brats`),
resamples them to the task's spacing and crops them the same way; each BraTS case is a unit.

Model registry: :data:`MODELS` builds each network at a small CPU width; :data:`PAPER_PROFILES`
records each paper's own configuration (the GPU profile); :func:`matched_width` finds the width
at which a rival has as many parameters as a reference model (a fair parameter budget).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from mricompendium import plans, training
from mricompendium.data import synth
from mricompendium.data.segmentation import brats
from mricompendium.experiments.segmentation import common, floors
from mricompendium.models.segmentation import monai_nets
from mricompendium.plans import Checkpoints, FitCall

__all__ = [
    "CONTRASTS",
    "MODELS",
    "PAPER_PROFILES",
    "REGIONS",
    "TumourData",
    "TrainResult",
    "brats_cases",
    "build_model",
    "floor_rows",
    "matched_width",
    "synth_cases",
    "fit_setup",
    "train_and_evaluate",
    "zscore_nonzero",
]

CONTRASTS = ("T1", "T1c", "T2", "FLAIR")
REGIONS = brats.REGIONS  # ("ET", "TC", "WT")


@dataclass
class TumourData:
    """Cases of the tumour task.

    Attributes:
        x: float32 ``(N, 4, *spatial)`` z-scored T1, T1c, T2, FLAIR.
        y: float32 ``(N, 3, *spatial)`` multi-hot ET, TC, WT.
        cases: case ids; units: their units of independence (one per case here).
        spacing_mm: voxel size per spatial axis.
        group: what the cases are (``"synthetic tumour"``, ``"BraTS"``).
    """

    x: torch.Tensor
    y: torch.Tensor
    cases: list[str]
    units: list[str]
    spacing_mm: tuple[float, ...]
    group: str

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def describe(self) -> str:
        """One sentence about the cases, generated from the data themselves."""
        size = "x".join(str(s) for s in self.x.shape[2:])
        sp = "x".join(f"{s:g}" for s in self.spacing_mm)
        wt = self.y[:, 2].flatten(1).sum(1).float().mean().item()
        return (
            f"{len(self)} {self.group} cases ({self.x.ndim - 2}D, {size} voxels of {sp} mm, "
            f"{'/'.join(CONTRASTS)}), mean whole-tumour size {wt:.0f} voxels"
        )


def zscore_nonzero(image: torch.Tensor) -> torch.Tensor:
    """Per-channel z-score over each channel's non-zero voxels (zeros stay); ``(C, *spatial)``."""
    out = torch.zeros_like(image)
    for c in range(image.shape[0]):
        nz = image[c] != 0
        if nz.sum() > 1:
            v = image[c][nz]
            out[c][nz] = (v - v.mean()) / v.std().clamp_min(1e-6)
    return out


def _crop_box(centre: Sequence[float], size: Sequence[int], shape: Sequence[int], offset) -> tuple:
    box = []
    for c, s, n, o in zip(centre, size, shape, offset, strict=True):
        lo = int(round(c + o - s / 2))
        lo = min(max(lo, 0), max(n - s, 0))
        box.append(slice(lo, lo + s))
    return tuple(box)


def _pad_to(t: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    pad = []
    for s, n in zip(reversed(size), reversed(t.shape[-len(size) :]), strict=True):
        pad += [0, max(0, s - n)]
    return torch.nn.functional.pad(t, pad) if any(pad) else t


def _tumour_crop(x: torch.Tensor, y: torch.Tensor, size: Sequence[int], rng, jitter: int):
    """Crop ``size`` around the whole-tumour centroid (shifted by up to ``jitter`` voxels)."""
    wt = y[2]
    centre = torch.nonzero(wt).float().mean(0).tolist() if wt.any() else [n / 2 for n in wt.shape]
    offset = rng.integers(-jitter, jitter + 1, size=len(size)) if jitter else [0] * len(size)
    box = (slice(None), *_crop_box(centre, size, wt.shape, offset))
    return _pad_to(x[box], size), _pad_to(y[box], size)


def synth_cases(
    n: int,
    *,
    first_seed: int,
    dims: int = 3,
    size: int = 32,
    spacing_mm: float = 3.0,
    grid: int = 64,
    jitter: int = 4,
) -> TumourData:
    """Synthesise ``n`` tumour cases from seeds ``first_seed, first_seed + 1, ...``.

    Args:
        n: number of cases (each from its own seed: its own unit).
        first_seed: the first case's seed (use disjoint ranges for train/val/test).
        dims: 3 (a cube around the tumour) or 2 (an axial slice through the tumour).
        size: edge of the returned cube or square, in voxels.
        spacing_mm: isotropic voxel size of the synthesised volume.
        grid: edge of the synthesised volume, centred on the head (``grid * spacing_mm`` mm).
        jitter: largest random shift (voxels) of the crop centre from the tumour centre.
    """
    if dims not in (2, 3) or size > grid or n < 1:
        raise ValueError(f"need dims 2 or 3, size <= grid, n >= 1; got {dims}, {size}, {grid}, {n}")
    cfg = synth.SynthConfig(spacing_mm=spacing_mm, shape=(grid,) * 3, contrasts=CONTRASTS,
                            p_tumour=1.0, p_slice_through_lesion=1.0)  # fmt: skip
    xs, ys, ids = [], [], []
    for seed in range(first_seed, first_seed + n):
        params = synth.sample_case(cfg, seed, plane="axial" if dims == 2 else None)
        # 2D: an axial slice in the middle half of the tumour's extent (not a grazing one)
        params = dataclasses.replace(params, slice_pos=0.25 + 0.5 * params.slice_pos)
        case = synth.render(cfg, params)
        x, y = case.stack(CONTRASTS).float(), synth.tumour_regions(case.labels).float()
        rng = np.random.default_rng(seed)
        x, y = _tumour_crop(x, y, (size,) * dims, rng, jitter)
        xs.append(zscore_nonzero(x))
        ys.append(y)
        ids.append(f"synth-{seed}")
    return TumourData(torch.stack(xs), torch.stack(ys), ids, list(ids), (spacing_mm,) * dims,
                      "synthetic tumour")  # fmt: skip


def brats_cases(
    root: str,
    *,
    max_cases: int | None,
    dims: int = 3,
    size: int = 32,
    spacing_mm: float = 3.0,
    skip: int = 0,
    convention: str = "auto",
) -> TumourData:
    """BraTS cases (a user's folder) resampled to ``spacing_mm``, cropped as :func:`synth_cases`.

    ``skip`` drops the first cases (to take disjoint train / test subsets). Volumes are RAS+
    (:func:`~mricompendium.data.segmentation.brats.load_case`), so 2D takes the axial slice with
    the largest whole-tumour area. Labels are resampled as the three region masks; ``convention``
    is the folder's label convention (``auto``, ``brats2021``, ``brats2023``; a folder mixing
    releases is refused under ``auto``).
    """
    every = brats.find_cases(root)
    conv = brats.resolve_convention(every, convention)
    folders = every[skip:]
    folders = folders[:max_cases] if max_cases else folders
    if not folders:
        raise ValueError(f"{root}: no BraTS cases left after skipping {skip}")
    xs, ys, ids = [], [], []
    for folder in folders:
        case = brats.load_case(folder, convention=conv)
        if case.regions is None:
            raise ValueError(f"{folder}: no label file; training and testing need labels")
        zoom = [s / spacing_mm for s in case.spacing_mm]
        x = np.stack([ndimage.zoom(v, zoom, order=1) for v in case.image])
        y = np.stack(
            [ndimage.zoom(r.astype(np.float32), zoom, order=1) > 0.5 for r in case.regions]
        )
        xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y).float()
        if dims == 2:
            k = int(yt[2].sum(dim=(0, 1)).argmax())
            xt, yt = xt[..., k], yt[..., k]
        xt, yt = _tumour_crop(xt, yt, (size,) * dims, None, 0)
        xs.append(zscore_nonzero(xt))
        ys.append(yt)
        ids.append(case.case_id)
    return TumourData(torch.stack(xs), torch.stack(ys), ids, list(ids), (spacing_mm,) * dims,
                      "BraTS")  # fmt: skip


# ----------------------------------------------------------------------------- model registry


def _segresnet(dims: int, size: int, width: int) -> nn.Module:
    return monai_nets.segresnet(spatial_dims=dims, init_filters=width)


def _segresnet_vae(dims: int, size: int, width: int) -> nn.Module:
    return monai_nets.segresnet_vae(spatial_dims=dims, init_filters=width,
                                    input_image_size=(size,) * dims)  # fmt: skip


def _swin(dims: int, size: int, width: int) -> nn.Module:
    return monai_nets.swin_unetr(spatial_dims=dims, feature_size=width)


def _unet(dims: int, size: int, width: int) -> nn.Module:
    w = width
    return monai_nets.basic_unet(spatial_dims=dims, features=(w, w, 2 * w, 4 * w, 8 * w, w))


MODELS: dict[str, Callable[[int, int, int], nn.Module]] = {
    "SegResNet": _segresnet,
    "SegResNet+VAE": _segresnet_vae,
    "Swin UNETR": _swin,
    "U-Net": _unet,
}

PAPER_PROFILES: dict[str, dict[str, Any]] = {
    "SegResNet": {"source": "Myronenko 2018 (arXiv:1810.11654)", "dims": 3,
                  "crop": (160, 192, 128), "init_filters": 32, "batch_size": 1,
                  "optimizer": "Adam lr 1e-4, poly decay", "epochs": 300},
    "SegResNet+VAE": {"source": "Myronenko 2018 (arXiv:1810.11654)", "dims": 3,
                      "crop": (160, 192, 128), "init_filters": 32, "vae_nz": 128,
                      "vae_weights": "0.1 KL + 0.1 L2", "batch_size": 1, "epochs": 300},
    "Swin UNETR": {"source": "Hatamizadeh et al. 2022 (arXiv:2201.01266)", "dims": 3,
                   "crop": (128, 128, 128), "feature_size": 48, "batch_size": "1 per GPU x 8",
                   "optimizer": "AdamW lr 8e-4, warm-up + cosine", "epochs": 800},
    "U-Net": {"source": "MONAI BasicUNet baseline", "dims": 3, "crop": (128, 128, 128),
              "features": (32, 32, 64, 128, 256, 32)},
}  # fmt: skip


def build_model(name: str, *, dims: int, size: int, width: int) -> nn.Module:
    """A registry model (``MODELS``) for ``dims``-D inputs of edge ``size`` at ``width``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](dims, size, width)


WIDTH_STEP = {"SegResNet": 8, "SegResNet+VAE": 8, "Swin UNETR": 12, "U-Net": 1}  # valid widths


def matched_width(name: str, target: int, *, dims: int, size: int) -> int:
    """The width of registry model ``name`` whose parameter count is closest to ``target``.

    Widths are multiples of :data:`WIDTH_STEP` (group norm and MONAI's Swin UNETR need them);
    the count grows with the width, so doubling then bisecting over those multiples finds it.
    """
    step = WIDTH_STEP[name]

    def count(k: int) -> int:
        return monai_nets.n_parameters(build_model(name, dims=dims, size=size, width=k * step))

    hi = 1
    while count(hi) < target:
        hi *= 2
    lo = max(1, hi // 2)
    while lo < hi:  # the smallest multiple whose count reaches the target
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    best = min({max(1, lo - 1), lo}, key=lambda k: abs(count(k) - target))
    return best * step


def floor_rows(kind: str, test: TumourData, *, setting: str, train: TumourData | None = None,
               metrics: Sequence[str] = ("dice", "hd95")) -> list[dict[str, Any]]:  # fmt: skip
    """Rows of a trivial answer on ``test`` (:mod:`.floors`: ``"empty mask"``, or the
    ``"majority map"`` of ``train``'s regions), scored as :func:`train_and_evaluate` scores."""
    return floors.floor_rows(
        kind, test.y, names=REGIONS, multilabel=True,
        train_target=None if train is None else train.y, setting=setting, cases=test.cases,
        units=test.units, groups=test.group, spacing=test.spacing_mm, metrics=tuple(metrics),
    )  # fmt: skip


@dataclass
class TrainResult:
    """One trained model: its test rows (full and half budget), history, size and time."""

    rows: list[dict[str, Any]]
    history: Any
    n_parameters: int
    train_s: float
    val_dice: float


def fit_setup(
    name: str, *, seed: int, train: TumourData, val: TumourData, steps: int, batch_size: int,
    lr: float, width: int, device: str | torch.device = "cpu", val_every: int | None = None,
    aux_weight: float = 0.1, scheduler: str | None = "cosine", crop: int | None = None,
    on_step: dict[int, Callable[[nn.Module], Any]] | None = None, precision: str | None = None,
) -> FitCall:  # fmt: skip
    """The ``training.fit`` call of :func:`train_and_evaluate` (seeded, built, nothing trained).

    ``precision``: ``None`` leaves it to ``training.fit`` (fp32 on a CPU, ``auto`` on CUDA).
    """
    dims = train.x.ndim - 2
    size = int(crop or train.x.shape[-1])
    training.seed_everything(seed)
    model = build_model(name, dims=dims, size=size, width=width)
    val_fn = common.mean_dice_fn(val.x, val.y, multilabel=True, n_classes=len(REGIONS))
    patch = (size,) * dims if crop else None
    fn = common.sampler(train.x, train.y, batch_size=batch_size, patch_size=patch)
    loss = common.SegLoss(multilabel=True, aux_weight=aux_weight)
    kwargs = dict(steps=steps, lr=lr, seed=seed, device=device, val_fn=val_fn,
                  val_every=val_every, on_step=on_step, scheduler=scheduler, progress=False,
                  precision=precision)  # fmt: skip
    config = {"factory": "mricompendium.experiments.segmentation.tumour:build_model",
              "kwargs": {"name": name, "dims": dims, "size": size, "width": width}}  # fmt: skip
    recipe = {"batch_size": batch_size, "aux_weight": aux_weight, "crop": crop}
    return FitCall(model, fn, loss, kwargs, config, recipe)


def train_and_evaluate(
    name: str,
    *,
    seed: int,
    train: TumourData,
    val: TumourData,
    test: TumourData,
    steps: int,
    batch_size: int,
    lr: float,
    width: int,
    setting: str,
    device: str | torch.device = "cpu",
    half_budget: bool = True,
    val_every: int | None = None,
    metrics: Sequence[str] = ("dice", "hd95"),
    aux_weight: float = 0.1,
    scheduler: str | None = "cosine",
    crop: int | None = None,
    precision: str | None = None,
    checkpoints: Checkpoints | None = None,
) -> TrainResult:
    """Train registry model ``name`` with ``seed`` and score the test cases into per-case rows.

    The model is initialised after seeding with ``seed``; batches are random training cases with
    random flips; the loss is soft Dice + BCE per region plus ``aux_weight`` times the VAE term
    of SegResNet+VAE. With ``half_budget`` the test cases are also scored after ``steps // 2``.
    ``scheduler="cosine"`` anneals the learning rate to 0 over ``steps`` (``None``: constant).
    ``crop``: train on random cubes (squares) of this edge instead of whole cases (the model is
    built for that size; whole cases are still predicted with a sliding window of it).
    With ``checkpoints`` nothing is trained: the model (and its half-budget one) comes from what
    ``python -m mricompendium.train`` wrote for ``name`` at ``seed``
    (:class:`mricompendium.plans.Checkpoints`); ``train_s`` is then the recorded training time.
    """
    keys = dict(setting=setting, method=name, seed=seed, cases=test.cases, units=test.units,
                groups=test.group, spacing=test.spacing_mm, metrics=tuple(metrics))  # fmt: skip

    def score(m: nn.Module, budget: int) -> list[dict[str, Any]]:
        return common.evaluate(m, test.x, test.y, multilabel=True, names=REGIONS,
                               budget=budget, **keys)  # fmt: skip

    on_step = {steps // 2: lambda m: score(m, steps // 2)} if half_budget and steps >= 2 else None
    call = fit_setup(name, seed=seed, train=train, val=val, steps=steps, batch_size=batch_size,
                     lr=lr, width=width, device=device, val_every=val_every,
                     aux_weight=aux_weight, scheduler=scheduler, crop=crop, on_step=on_step,
                     precision=precision)  # fmt: skip
    t0 = time.perf_counter()
    hist = plans.fit(call, checkpoints, name, seed)
    train_s = time.perf_counter() - t0 if checkpoints is None else hist.wall_s
    rows = score(call.model, steps) + (hist.snapshots.get(steps // 2, []) if on_step else [])
    return TrainResult(rows, hist, monai_nets.n_parameters(call.model), train_s,
                       float(hist.val[-1]))  # fmt: skip
