"""Label maps of a whole head from the MNI template: brain tissues plus grown non-brain layers.

Inside the template's brain mask each voxel takes the most probable of CSF, GM and WM. Outside it,
layers are grown by distance from the mask: an extracerebral CSF rim, the skull and the scalp, each
with a random thickness that also varies smoothly over the head; beyond them is background. The
brain mask of skull-stripping is every label of :data:`BRAIN_LABELS` (the CSF rim is not brain).

Label values (int64, :data:`LABELS`)::

    0 background   1 csf (ventricles, sulci)   2 gm   3 wm   4 csf_rim   5 skull   6 scalp
    7 necrosis     8 enhancing                 9 oedema   10 stroke_acute   11 stroke_subacute
    12 stroke_chronic

Volumes are ``(X, Y, Z)`` in the template's RAS+ voxel order; ``affine`` maps voxel indices to MNI
millimetres.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.synth.fields import smooth_noise
from mricompendium.data.template import mni152

__all__ = [
    "BRAIN_LABELS",
    "LABELS",
    "LESION_LABELS",
    "NUM_LABELS",
    "STROKE_LABELS",
    "HeadParams",
    "LabelMap",
    "RandomHead",
    "add_head_layers",
    "brain_mask",
    "head_labels",
    "in_labels",
    "outside_distance",
    "template_labels",
    "tissue_classes",
    "tumour_regions",
]

LABELS: dict[str, int] = {
    "background": 0,
    "csf": 1,
    "gm": 2,
    "wm": 3,
    "csf_rim": 4,
    "skull": 5,
    "scalp": 6,
    "necrosis": 7,
    "enhancing": 8,
    "oedema": 9,
    "stroke_acute": 10,
    "stroke_subacute": 11,
    "stroke_chronic": 12,
}
NUM_LABELS = len(LABELS)
LESION_LABELS = (7, 8, 9, 10, 11, 12)
STROKE_LABELS = (10, 11, 12)
BRAIN_LABELS = (1, 2, 3, *LESION_LABELS)


@dataclass(frozen=True)
class LabelMap:
    """A label volume with its geometry.

    Attributes:
        labels: int64 ``(X, Y, Z)`` label values of :data:`LABELS`.
        affine: float64 ``(4, 4)`` voxel -> MNI mm.
        spacing_mm: isotropic voxel size.
    """

    labels: torch.Tensor
    affine: np.ndarray
    spacing_mm: float


@dataclass(frozen=True)
class HeadParams:
    """Thicknesses of the non-brain layers (mm) and the seed of their spatial variation.

    Attributes:
        csf_rim_mm: mean thickness of the extracerebral CSF rim.
        skull_mm: mean skull thickness.
        scalp_mm: mean scalp thickness.
        variation: relative spatial variation of each thickness (0 = uniform).
        field_seed: seed of the smooth fields that vary the thicknesses over the head.
    """

    csf_rim_mm: float
    skull_mm: float
    scalp_mm: float
    variation: float
    field_seed: int


@dataclass(frozen=True)
class RandomHead:
    """Sampler of :class:`HeadParams` (uniform ranges in mm)."""

    csf_rim_mm: tuple[float, float] = (1.0, 4.0)
    skull_mm: tuple[float, float] = (3.0, 8.0)
    scalp_mm: tuple[float, float] = (3.0, 9.0)
    variation: tuple[float, float] = (0.0, 0.4)

    def sample(self, rng: np.random.Generator) -> HeadParams:
        """Draw one set of parameters from ``rng``."""
        return HeadParams(
            csf_rim_mm=float(rng.uniform(*self.csf_rim_mm)),
            skull_mm=float(rng.uniform(*self.skull_mm)),
            scalp_mm=float(rng.uniform(*self.scalp_mm)),
            variation=float(rng.uniform(*self.variation)),
            field_seed=int(rng.integers(2**31)),
        )


def _crop_or_pad_np(x: np.ndarray, shape: tuple[int, ...], fill: float) -> np.ndarray:
    out = np.full(shape, fill, dtype=x.dtype)
    src, dst = [], []
    for n_in, n_out in zip(x.shape, shape, strict=True):
        if n_in >= n_out:
            a = (n_in - n_out) // 2
            src.append(slice(a, a + n_out))
            dst.append(slice(0, n_out))
        else:
            a = (n_out - n_in) // 2
            src.append(slice(0, n_in))
            dst.append(slice(a, a + n_in))
    out[tuple(dst)] = x[tuple(src)]
    return out


@functools.cache
def _base(spacing_mm: float, shape: tuple[int, ...] | None):
    """Brain tissue labels, outside distance (mm) and the affine on the output grid (cached)."""
    t = mni152(spacing_mm)
    tissue = np.stack([t.csf, t.gm, t.wm])
    labels = np.where(t.mask, tissue.argmax(0) + 1, 0).astype(np.int64)
    affine = t.affine.copy()
    if shape is not None:
        shape = tuple(int(s) for s in shape)
        offset = [
            (n_in - n_out) // 2 if n_in >= n_out else -((n_out - n_in) // 2)
            for n_in, n_out in zip(labels.shape, shape, strict=True)
        ]
        labels = _crop_or_pad_np(labels, shape, 0)
        affine[:3, 3] = affine[:3, :3] @ np.asarray(offset, dtype=np.float64) + affine[:3, 3]
    outside = ndimage.distance_transform_edt(labels == 0) * spacing_mm
    return labels, outside.astype(np.float32), affine


def head_labels(
    params: HeadParams,
    *,
    spacing_mm: float = 2.0,
    shape: tuple[int, int, int] | None = None,
    device: torch.device | str = "cpu",
) -> LabelMap:
    """The head label map of the template with non-brain layers of the given thicknesses.

    Args:
        params: layer thicknesses, e.g. from :meth:`RandomHead.sample`.
        spacing_mm: isotropic voxel size (>= 1 mm).
        shape: output ``(X, Y, Z)``, centre-cropped or zero-padded from the template grid (the
            template is 197 x 233 x 189 mm); ``None`` keeps the template grid.
        device: where the labels live.

    Returns:
        A :class:`LabelMap`.
    """
    if shape is not None and (len(shape) != 3 or min(shape) < 8):
        raise ValueError(f"shape must be (X, Y, Z) with sizes >= 8, got {shape}")
    base, outside, affine = _base(float(spacing_mm), None if shape is None else tuple(shape))
    labels = torch.from_numpy(base).to(device)
    dist = torch.from_numpy(outside).to(device)
    return LabelMap(add_head_layers(labels, dist, params), affine, float(spacing_mm))


def add_head_layers(
    labels: torch.Tensor, outside_mm: torch.Tensor, params: HeadParams
) -> torch.Tensor:
    """Label the background voxels by their distance to the brain: CSF rim, skull, scalp.

    Args:
        labels: int64 ``(X, Y, Z)`` or ``(H, W)`` brain labels (0 outside the brain).
        outside_mm: float distance of each voxel to the brain, mm (0 inside), same shape.
        params: the layer thicknesses.

    Returns:
        A new label tensor.
    """
    for name in ("csf_rim_mm", "skull_mm", "scalp_mm"):
        value = getattr(params, name)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if outside_mm.shape != labels.shape:
        raise ValueError(f"outside_mm {tuple(outside_mm.shape)} != labels {tuple(labels.shape)}")
    dev = labels.device
    fields = smooth_noise(labels.shape, control=5, seed=params.field_seed, channels=3, device=dev)
    scale = (1.0 + params.variation * fields).clamp_min(0.2)
    rim = params.csf_rim_mm * scale[0]
    skull = rim + params.skull_mm * scale[1]
    scalp = skull + params.scalp_mm * scale[2]
    out = labels.clone()
    grown = (labels == 0) & (outside_mm > 0)
    out[grown & (outside_mm <= scalp)] = LABELS["scalp"]
    out[grown & (outside_mm <= skull)] = LABELS["skull"]
    out[grown & (outside_mm <= rim)] = LABELS["csf_rim"]
    return out


def outside_distance(spacing_mm: float = 2.0, shape: tuple[int, int, int] | None = None):
    """float32 ``(X, Y, Z)`` tensor: distance (mm) of each voxel to the template's brain (CPU)."""
    _, outside, _ = _base(float(spacing_mm), None if shape is None else tuple(shape))
    return torch.from_numpy(outside)


def template_labels(spacing_mm: float = 2.0, shape: tuple[int, int, int] | None = None) -> LabelMap:
    """The template's brain labels (CSF, GM, WM; no non-brain layers) on the output grid (CPU)."""
    base, _, affine = _base(float(spacing_mm), None if shape is None else tuple(shape))
    return LabelMap(torch.from_numpy(base), affine, float(spacing_mm))


def brain_mask(labels: torch.Tensor) -> torch.Tensor:
    """bool mask of the brain (every label in :data:`BRAIN_LABELS`, lesions included)."""
    return in_labels(labels, BRAIN_LABELS)


def in_labels(labels: torch.Tensor, values: tuple[int, ...]) -> torch.Tensor:
    """bool mask of the voxels whose label is one of ``values`` (a look-up table, fast)."""
    lut = torch.zeros(NUM_LABELS, dtype=torch.bool, device=labels.device)
    lut[list(values)] = True
    return lut[labels]


def tissue_classes(labels: torch.Tensor) -> torch.Tensor:
    """Merge labels into 4 classes for tissue segmentation: 0 other, 1 CSF, 2 GM, 3 WM.

    CSF is the template brain mask's CSF (ventricles, sulci); the extracerebral CSF rim counts as
    other, with the skull and scalp (as whole-brain label sets such as MALC leave it out: on a
    T1-weighted image the rim and the skull are both dark and their border is invisible). Lesions
    count as WM.
    """
    lut = torch.tensor([0, 1, 2, 3, 0, 0, 0, 3, 3, 3, 3, 3, 3], device=labels.device)
    return lut[labels]


def tumour_regions(labels: torch.Tensor) -> torch.Tensor:
    """The BraTS evaluation regions as bool ``(3, *spatial)``: ET, TC, WT.

    ET (enhancing tumour) = enhancing; TC (tumour core) = enhancing + necrosis; WT (whole tumour)
    = TC + oedema.
    """
    et = labels == LABELS["enhancing"]
    tc = et | (labels == LABELS["necrosis"])
    wt = tc | (labels == LABELS["oedema"])
    return torch.stack([et, tc, wt])
