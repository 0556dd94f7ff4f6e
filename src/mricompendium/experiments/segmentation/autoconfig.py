"""A self-configuring U-Net pipeline following nnU-Net's published rules (S88, nnunet_extended).

Why not ``nnunetv2`` itself: it runs on a CPU (``-device cpu``) with a short trainer variant, but
on this machine planning and preprocessing eight 48^3 four-channel cases took 266 s and two
epochs of five iterations 318 s (load about 10 on two cores), against a budget of 60 s per
notebook at CI size and 4 minutes at full size; it also works through files and worker processes
(``nnUNet_raw`` / ``nnUNet_preprocessed`` folders). So this module re-implements the planning
rules (Isensee et al., Nature Methods 2021; nnU-Net v2 ``ExperimentPlanner``), in our own code:

1. **Fingerprint**: per case spacing, shape after cropping to the non-zero region, the median
   relative size after that crop, and per-channel foreground intensity statistics.
2. **Target spacing**: the median spacing; if one axis is more than 3x coarser than the others
   *and* has more than 3x fewer voxels, its target is the 10th percentile of its spacings (not
   finer than the other axes).
3. **Normalisation**: ``CT`` channels: clip to the foreground 0.5-99.5 percentiles, then z-score
   with the foreground mean and sd; any other channel: per-image z-score, inside the non-zero mask
   when cropping to it shrank the median case below 3/4 of its size.
4. **Patch size**: start from a cube of ``initial_voxels`` in millimetre-isotropic proportions
   (nnU-Net: 256^3 in 3D, 2048^2 in 2D), clip to the median shape, then shrink the axis with the
   largest patch / median-shape ratio until the patch fits the compute budget (nnU-Net: a GPU
   memory estimate; here ``max_patch_voxels``, our deviation).
5. **Topology**: pool an axis while its feature map is >= 2 x 4 voxels and its spacing is within
   2x of the finest; 3-voxel kernels, except 1 along an axis still > 2x coarser than the finest;
   the patch is made divisible by 2^(poolings per axis). Features: ``base * 2^stage`` capped at
   ``10 * base`` in 3D (nnU-Net 32 -> 320) and ``16 * base`` in 2D (32 -> 512).
6. **Batch size**: at least 2, at most what covers 5 % of the data set's voxels per step.
7. **Post-processing** (nnU-Net's rule): keep only the largest connected component of the whole
   foreground if that raises the mean foreground Dice on validation cases, then of each class
   if that raises the class's Dice.

The residual-encoder variant of S88 swaps the encoder for residual blocks
(:class:`mricompendium.models.segmentation.dynamic_unet.DynamicUNet`). Training and evaluation
with a plan live in :mod:`mricompendium.experiments.segmentation.pipeline`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from mricompendium.metrics import segmentation as segmetrics
from mricompendium.models.segmentation.dynamic_unet import DynamicUNet

__all__ = [
    "Fingerprint",
    "Plan",
    "build_network",
    "Postprocessing",
    "plan_postprocessing",
    "fingerprint",
    "keep_largest_component",
    "plan",
    "pool_and_conv",
    "preprocess",
    "target_spacing",
]

ANISOTROPY = 3.0
MIN_EDGE = 4


@dataclass(frozen=True)
class Fingerprint:
    """What the planner needs to know about a training set.

    Attributes:
        spacings: ``(N, D)`` voxel sizes in mm.
        shapes: ``(N, D)`` shapes after cropping to the non-zero region.
        relative_size: median of (cropped voxels / original voxels).
        channel_names: one per input channel (``"CT"`` selects the CT normalisation).
        intensity: per channel ``{"mean", "sd", "p00_5", "p99_5"}`` over foreground voxels.
    """

    spacings: np.ndarray
    shapes: np.ndarray
    relative_size: float
    channel_names: tuple[str, ...]
    intensity: tuple[dict[str, float], ...]

    @property
    def median_shape(self) -> np.ndarray:
        return np.median(self.shapes, axis=0)


def _nonzero_box(image: np.ndarray) -> tuple[slice, ...]:
    nz = np.any(image != 0, axis=0)
    if not nz.any():
        return tuple(slice(0, s) for s in nz.shape)
    idx = np.argwhere(nz)
    return tuple(slice(int(a), int(b) + 1) for a, b in zip(idx.min(0), idx.max(0), strict=True))


def fingerprint(
    images: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    spacings: Sequence[Sequence[float]],
    channel_names: Sequence[str],
) -> Fingerprint:
    """Fingerprint of training cases: images ``(C, *spatial)``, labels ``(*spatial)`` (0 = bg)."""
    if not (len(images) == len(labels) == len(spacings)) or not images:
        raise ValueError("images, labels and spacings need one entry per case (at least one)")
    shapes, rel, fg = [], [], [[] for _ in channel_names]
    for img, lab in zip(images, labels, strict=True):
        if img.shape[0] != len(channel_names) or img.shape[1:] != lab.shape:
            raise ValueError(f"image {img.shape} and labels {lab.shape} do not match the channels")
        box = _nonzero_box(img)
        shapes.append([b.stop - b.start for b in box])
        rel.append(np.prod(shapes[-1]) / np.prod(lab.shape))
        for c in range(img.shape[0]):
            fg[c].append(img[c][lab > 0][::10])  # every 10th foreground voxel, as nnU-Net samples
    stats = []
    for v in fg:
        v = np.concatenate(v) if any(len(x) for x in v) else np.zeros(1)
        p_lo, p_hi = np.percentile(v, [0.5, 99.5])
        stats.append({"mean": float(v.mean()), "sd": float(v.std()),
                      "p00_5": float(p_lo), "p99_5": float(p_hi)})  # fmt: skip
    return Fingerprint(np.asarray(spacings, float), np.asarray(shapes, float),
                       float(np.median(rel)), tuple(channel_names), tuple(stats))  # fmt: skip


def target_spacing(fp: Fingerprint) -> np.ndarray:
    """Rule 2: the median spacing, with nnU-Net's correction for one very coarse axis."""
    target = np.median(fp.spacings, axis=0)
    size = fp.median_shape
    worst = int(np.argmax(target))
    others = [i for i in range(len(target)) if i != worst]
    aniso_spacing = target[worst] > ANISOTROPY * max(target[others])
    aniso_voxels = size[worst] * ANISOTROPY < min(size[others])
    if aniso_spacing and aniso_voxels:
        t = np.percentile(fp.spacings[:, worst], 10)
        target[worst] = max(t, max(target[others]) + 1e-5)
    return target


def pool_and_conv(
    spacing: Sequence[float], patch: Sequence[int], min_edge: int = MIN_EDGE
) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Rule 5: strides and kernels per stage, and the patch made divisible (nnU-Net's rule)."""
    dim = len(spacing)
    sp, size = list(map(float, spacing)), list(map(float, patch))
    strides, kernels, n_pool, kernel = [[1] * dim], [], [0] * dim, [1] * dim
    while True:
        axes = [i for i in range(dim) if size[i] >= 2 * min_edge]
        if not axes:
            break
        finest = min(sp[i] for i in axes)
        axes = [i for i in axes if sp[i] / finest < 2]
        if len(axes) == 1 and size[axes[0]] < 3 * min_edge:
            break
        kernel = [3 if kernel[d] == 3 or sp[d] / min(sp) < 2 else 1 for d in range(dim)]
        stride = [2 if d in axes else 1 for d in range(dim)]
        for d in axes:
            n_pool[d] += 1
            sp[d] *= 2
            size[d] = np.ceil(size[d] / 2)
        strides.append(stride)
        kernels.append(list(kernel))
    kernels.append([3] * dim)  # the bottleneck
    div = [2**n for n in n_pool]
    patch_out = [int(np.ceil(p / d) * d) for p, d in zip(patch, div, strict=True)]
    return strides, kernels, patch_out


@dataclass(frozen=True)
class Plan:
    """One configuration of the pipeline (all that training and inference need)."""

    configuration: str
    spacing: tuple[float, ...]
    patch_size: tuple[int, ...]
    batch_size: int
    strides: tuple[tuple[int, ...], ...]
    kernel_sizes: tuple[tuple[int, ...], ...]
    features: tuple[int, ...]
    normalisation: tuple[str, ...]
    use_mask_for_norm: tuple[bool, ...]
    rules: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line per decision."""
        return "\n".join(self.rules)


def _normalisation(fp: Fingerprint) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    schemes = tuple("CT" if n.upper() == "CT" else "zscore" for n in fp.channel_names)
    mask = tuple(s == "zscore" and fp.relative_size < 0.75 for s in schemes)
    return schemes, mask


def plan(
    fp: Fingerprint,
    *,
    configuration: str = "3d_fullres",
    base_features: int = 32,
    initial_voxels: int | None = None,
    max_patch_voxels: int | None = None,
    min_batch: int = 2,
    max_batch: int = 16,
    dataset_fraction: float = 0.05,
) -> Plan:
    """Rules 2-6: the plan of one configuration (``"3d_fullres"`` or ``"2d"``, slices along the
    coarsest axis). ``initial_voxels`` defaults to nnU-Net's 256^3 (3D) / 2048^2 (2D);
    ``max_patch_voxels`` (default: no limit) stands in for nnU-Net's GPU-memory budget."""
    if configuration not in ("3d_fullres", "2d"):
        raise ValueError(f"configuration must be '3d_fullres' or '2d', got {configuration!r}")
    spacing3 = target_spacing(fp)
    shape3 = fp.median_shape * np.median(fp.spacings, axis=0) / spacing3
    if configuration == "2d":
        keep = [i for i in range(3) if i != int(np.argmax(spacing3))]
        spacing, shape = spacing3[keep], shape3[keep]
    else:
        spacing, shape = spacing3, shape3
    dim = len(spacing)
    start = initial_voxels or (256**3 if dim == 3 else 2048**2)
    inv = 1 / spacing
    patch = np.minimum(np.round(inv * (start / np.prod(inv)) ** (1 / dim)), np.round(shape))
    strides, kernels, patch = pool_and_conv(spacing, patch)
    limit = max_patch_voxels or np.inf
    while np.prod(patch) > limit:
        axis = int(np.argmax(np.asarray(patch) / shape))
        div = int(np.prod([s[axis] for s in strides]))
        patch[axis] = max(patch[axis] - div, div)
        strides, kernels, patch = pool_and_conv(spacing, patch)
        if all(p <= 2 * MIN_EDGE for p in patch):
            break
    cap = base_features * (10 if dim == 3 else 16)
    features = tuple(min(cap, base_features * 2**i) for i in range(len(strides)))
    n_vox = np.prod(shape) * len(fp.shapes)
    fit = int(limit // np.prod(patch)) if np.isfinite(limit) else max_batch
    cover = int(dataset_fraction * n_vox // np.prod(patch))
    batch = int(max(min_batch, min(fit, cover, max_batch)))
    norm, mask = _normalisation(fp)
    corrected = not np.allclose(spacing3, np.median(fp.spacings, 0))
    rules = (
        f"target spacing {tuple(round(float(s), 3) for s in spacing3)} mm (median"
        f"{'; coarse axis at its 10th percentile' if corrected else ''})",
        f"{configuration}: patch {tuple(patch)} from a {start:.3g}-voxel start, median shape "
        f"{tuple(int(s) for s in np.round(shape))}, limit {limit:.3g} voxels",
        f"{len(strides)} stages, strides {strides}, kernels {kernels}",
        f"features {features}; batch {batch} (>= {min_batch}, <= {dataset_fraction:.0%} of data)",
        f"normalisation {norm}, inside the non-zero mask: {mask} (relative size after crop "
        f"{fp.relative_size:.2f})",
    )  # fmt: skip
    return Plan(configuration, tuple(float(s) for s in spacing), tuple(int(p) for p in patch),
                batch, tuple(map(tuple, strides)), tuple(map(tuple, kernels)), features, norm,
                mask, rules)  # fmt: skip


def preprocess(
    image: np.ndarray, labels: np.ndarray | None, spacing: Sequence[float], p: Plan,
    fp: Fingerprint,
) -> tuple[np.ndarray, np.ndarray | None]:  # fmt: skip
    """Crop to the non-zero region, resample to the plan's 3D spacing, normalise (rule 3).

    Images are resampled with linear interpolation and labels with nearest neighbour (nnU-Net:
    third-order splines and linear on one-hot labels). Returns float32 ``(C, *spatial)`` and int64
    labels.
    """
    box = _nonzero_box(image)
    img = image[(slice(None), *box)].astype(np.float32)
    lab = labels[box] if labels is not None else None
    target = target_spacing(fp)
    zoom = np.asarray(spacing, float) / target
    if not np.allclose(zoom, 1.0):
        img = np.stack([ndimage.zoom(c, zoom, order=1) for c in img])
        lab = ndimage.zoom(lab, zoom, order=0) if lab is not None else None
    out = np.zeros_like(img)
    for c, (scheme, use_mask) in enumerate(zip(p.normalisation, p.use_mask_for_norm, strict=True)):
        if scheme == "CT":
            s = fp.intensity[c]
            v = np.clip(img[c], s["p00_5"], s["p99_5"])
            out[c] = (v - s["mean"]) / max(s["sd"], 1e-8)
        else:
            m = img[c] != 0 if use_mask else np.ones(img[c].shape, bool)
            v = img[c][m]
            out[c][m] = (v - v.mean()) / max(float(v.std()), 1e-8)
    return out, (lab.astype(np.int64) if lab is not None else None)


def build_network(
    p: Plan, *, in_channels: int, out_channels: int, residual_encoder: bool
) -> DynamicUNet:
    """The plan's U-Net, with a plain or a residual encoder."""
    return DynamicUNet(
        spatial_dims=len(p.patch_size), in_channels=in_channels, out_channels=out_channels,
        features=p.features, kernel_sizes=p.kernel_sizes, strides=p.strides,
        residual_encoder=residual_encoder,
    )  # fmt: skip


def keep_largest_component(labels: np.ndarray, cls: int | None = None) -> np.ndarray:
    """Zero every voxel of class ``cls`` (``None``: all foreground together) outside its largest
    connected component (face connectivity), per case ``(N, *spatial)``."""
    out = np.array(labels, copy=True)
    for i in range(out.shape[0]):
        comp, n = ndimage.label(out[i] > 0 if cls is None else out[i] == cls)
        if n > 1:
            sizes = np.bincount(comp.ravel())[1:]
            out[i][(comp > 0) & (comp != int(np.argmax(sizes)) + 1)] = 0
    return out


@dataclass(frozen=True)
class Postprocessing:
    """Rule 7's decision: largest component of the whole foreground, then of these classes."""

    foreground: bool
    classes: tuple[int, ...]

    def apply(self, labels: np.ndarray) -> np.ndarray:
        """Post-process label maps ``(N, *spatial)``."""
        out = keep_largest_component(labels) if self.foreground else labels
        for c in self.classes:
            out = keep_largest_component(out, c)
        return out

    def describe(self) -> str:
        parts = ["whole foreground"] if self.foreground else []
        parts += [f"class {c}" for c in self.classes]
        return "largest component of " + ", ".join(parts) if parts else "none"


def plan_postprocessing(
    preds: Sequence[np.ndarray], targets: Sequence[np.ndarray], classes: Sequence[int]
) -> Postprocessing:
    """Rule 7 (nnU-Net): on validation cases, keep the largest component of the whole foreground
    if that raises the mean foreground Dice, then of each class if that raises the class's Dice."""
    pred = [np.asarray(x)[None] for x in preds]
    target = [np.asarray(x)[None] for x in targets]

    def dice(ps, c=None) -> float:
        cls = list(classes) if c is None else [c]
        return float(np.mean([segmetrics.dice_per_class(a, b, cls).mean()
                              for a, b in zip(ps, target, strict=True)]))  # fmt: skip

    fg = [keep_largest_component(x) for x in pred]
    foreground = dice(fg) > dice(pred)
    current = fg if foreground else pred
    chosen = []
    for c in classes:
        trial = [keep_largest_component(x, c) for x in current]
        if dice(trial, c) > dice(current, c):
            chosen.append(int(c))
            current = trial
    return Postprocessing(bool(foreground), tuple(chosen))
