"""Skull-stripping trained on synthesised images only (SynthStrip, S21), against a T1-only network.

Hoopes, Mora, Dalca, Fischl, Hoffmann, NeuroImage 2022: a network trained on images synthesised from
label maps with random contrasts, artefacts and resolutions strips any brain image. Here two
copies of the same U-Net learn the brain mask from synthesised 2D slices (axial, coronal and
sagittal) of whole heads (brain, CSF rim, skull, scalp):

- ``"synth-trained"``: domain-randomised contrasts (a random Gaussian mixture per label), strong
  bias, noise, blur and thick slices up to ``train_thick_mm`` (the SynthStrip recipe);
- ``"T1-trained"``: MR-physics T1-weighted images of the same heads with mild artefacts.

They are tested on synthesised contrasts where the mask is exact (T1, T2, PD, and T1 with slices
thicker than any training augmentation, ``test_thick_mm``: :func:`drawn_thickness_mm` reads the
thickness each case was drawn with)
and on real head images that ship offline (dipy's EPI b0 and diffusion volumes and its
skull-stripped T1 slice, and the first volume of nibabel's test fMRI run ``example4d``), whose
reference masks are a *silver standard* from dipy's
``median_otsu`` (a classical method), not manual labels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data import synth
from mricompendium.experiments.segmentation.synthetic import SliceSet, case_seeds
from mricompendium.models.segmentation.unet import UNet

__all__ = [
    "METHODS",
    "PLANES",
    "REAL_SPACING_MM",
    "TEST_CONTRASTS",
    "build",
    "drawn_thickness_mm",
    "real_heads",
    "strip_config",
    "strip_data",
]

METHODS = ("synth-trained", "T1-trained")
PLANES = ("axial", "coronal", "sagittal")
# test group -> (protocol, thick slices?)
TEST_CONTRASTS = {
    "synthetic T1": ("T1", False),
    "synthetic T2": ("T2", False),
    "synthetic PD": ("PD", False),
    "synthetic low-res T1": ("T1", True),
}
REAL_SPACING_MM = {  # pixel size of the real images (the files' headers, or assumed)
    "dipy_t1_coronal_slice": 1.0,  # not recorded in the file; 1 mm assumed
    "S0_10": 2.0,
    "test_piesno": 2.0,  # identity affine in the file; 2 mm assumed from the brain's width
    "aniso_vox": 4.0,
    "nibabel_example4d": 2.0,
}
REAL_GROUPS = {
    "dipy_t1_coronal_slice": "real T1 (skull-stripped)",
    "S0_10": "real EPI b0",
    "test_piesno": "real EPI DWI",
    "aniso_vox": "real EPI b0",
    "nibabel_example4d": "real EPI fMRI",
}


def build(*, features: Sequence[int] = (8, 16, 32, 64)) -> UNet:
    """The skull-stripping U-Net: one input channel, two classes (background, brain)."""
    return UNet(spatial_dims=2, in_channels=1, out_channels=2, features=tuple(features))


def strip_config(
    method_or_group: str,
    *,
    spacing_mm: float,
    shape: tuple[int, int, int],
    train_thick_mm: tuple[float, float] = (6.0, 10.0),
    test_thick_mm: tuple[float, float] = (12.0, 20.0),
) -> synth.SynthConfig:
    """The synthesiser of a training method (:data:`METHODS`) or a test group.

    Args:
        method_or_group: a key of :data:`METHODS` or :data:`TEST_CONTRASTS`.
        spacing_mm: voxel size; shape: the grid.
        train_thick_mm: slice thickness range (mm) of the synth-trained network's thick-slice
            augmentation (drawn for 40 % of its cases).
        test_thick_mm: slice thickness range (mm) of the low-resolution test group.
    """
    for name, (lo, hi) in (("train_thick_mm", train_thick_mm), ("test_thick_mm", test_thick_mm)):
        if not spacing_mm <= lo <= hi:
            raise ValueError(f"{name} must be a range spacing_mm <= lo <= hi, got {(lo, hi)}")
    geometry = {"spacing_mm": spacing_mm, "shape": shape}
    if method_or_group == "synth-trained":
        artefacts = synth.RandomArtefacts(
            blur_vox=(0.2, 1.5), p_thick=0.4, thickness=_voxels(train_thick_mm, spacing_mm),
            bias_std=(0.0, 0.5), noise_std=(0.0, 0.1), gamma_std=0.25,
        )  # fmt: skip
        return synth.SynthConfig(contrasts=("gmm",), artefacts=artefacts, **geometry)
    if method_or_group == "T1-trained":
        return synth.SynthConfig(contrasts=("T1",), **geometry)
    if method_or_group in TEST_CONTRASTS:
        protocol, thick = TEST_CONTRASTS[method_or_group]
        artefacts = synth.RandomArtefacts(
            p_thick=1.0 if thick else 0.0, thickness=_voxels(test_thick_mm, spacing_mm)
        )
        return synth.SynthConfig(contrasts=(protocol,), artefacts=artefacts, **geometry)
    raise ValueError(f"unknown method or test group {method_or_group!r}")


def _voxels(mm: tuple[float, float], spacing_mm: float) -> tuple[float, float]:
    return (mm[0] / spacing_mm, mm[1] / spacing_mm)


def drawn_thickness_mm(
    config: synth.SynthConfig, seeds: Sequence[int], planes: Sequence[str] = PLANES
) -> list[float]:
    """The slice thickness (mm) each case of ``seeds`` was drawn with; cases without thick
    slices are left out (plane per case as in :func:`strip_data`)."""
    name = config.contrasts[0]
    out = []
    for s in seeds:
        art = synth.sample_case(config, s, plane=planes[s % len(planes)]).artefacts[name]
        if art.slice_axis >= 0:
            out.append(art.thickness * config.spacing_mm)
    return out


def strip_data(
    config: synth.SynthConfig, n: int, *, seed: int, split: str, planes: Sequence[str] = PLANES
) -> tuple[torch.Tensor, torch.Tensor, SliceSet]:
    """``n`` slices (plane drawn per case): images ``(N, 1, H, W)``, brain masks ``(N, H, W)``.

    The grid must be cubic (``shape`` with equal sizes) so that every plane has the same size.
    Slices are turned to the display orientation of the real images (anterior at the top for
    axial slices, superior at the top for coronal and sagittal ones).
    """
    if config.shape is None or len(set(config.shape)) != 1:
        raise ValueError(f"strip_data needs a cubic grid, got shape {config.shape}")
    seeds = case_seeds(seed, split, n)
    xs, ys = [], []
    for s in seeds:
        plane = planes[s % len(planes)]
        case = synth.synthesise(config, s, plane=plane)
        xs.append(_display(case.stack()))
        ys.append(_display(case.brain_mask.long()))
    slices = SliceSet(torch.stack(xs), torch.stack(ys), config.contrasts, tuple(seeds))
    return slices.images, slices.labels, slices


def _display(x: torch.Tensor) -> torch.Tensor:
    """``(..., A, B)`` with B the plane's anterior/superior axis -> ``(..., B reversed, A)``."""
    return x.transpose(-1, -2).flip(-2)


@dataclasses.dataclass(frozen=True)
class RealSlice:
    """A real slice on the synthetic grid with its silver-standard brain mask."""

    name: str
    unit: str
    group: str
    image: np.ndarray
    mask: np.ndarray


def _silver_masks(volume: np.ndarray) -> np.ndarray:
    """dipy's ``median_otsu`` brain mask of a stack ``(H, W, K)`` (2D slices when ``K == 1``)."""
    from dipy.segment.mask import median_otsu

    if volume.shape[-1] == 1:
        return median_otsu(volume[..., 0], median_radius=2, numpass=2)[1][..., None]
    return median_otsu(volume, median_radius=2, numpass=2)[1]


def _to_grid(image: np.ndarray, spacing: float, target_mm: float, size: int, order: int):
    zoomed = ndimage.zoom(image, spacing / target_mm, order=order, grid_mode=True, mode="nearest")
    out = np.zeros((size, size), dtype=zoomed.dtype)
    src, dst = [], []
    for n in zoomed.shape:
        m = min(n, size)
        src.append(slice((n - m) // 2, (n - m) // 2 + m))
        dst.append(slice((size - m) // 2, (size - m) // 2 + m))
    out[tuple(dst)] = zoomed[tuple(src)]
    return out


def _nibabel_epi() -> list[dict]:
    """The first volume of nibabel's test ``example4d.nii.gz`` (a whole-head EPI), axial slices."""
    import os

    import nibabel as nib

    path = os.path.join(os.path.dirname(nib.__file__), "tests", "data", "example4d.nii.gz")
    img = nib.as_closest_canonical(nib.load(path))
    vol = np.asarray(img.dataobj, dtype=np.float64)[..., 0]
    return [
        {"name": f"nibabel_example4d_z{k:02d}", "group": "nibabel_example4d",
         "image": np.rot90(vol[:, :, k])}  # RAS (x, y) -> anterior at the top
        for k in range(vol.shape[2])
    ]  # fmt: skip


def real_heads(*, spacing_mm: float, size: int, min_area: float = 0.3) -> list[RealSlice]:
    """The real head slices of the embedded data's sources and nibabel's test EPI, on the grid.

    Each volume (or single slice) gets dipy's ``median_otsu`` mask (median radius 2, two passes),
    is resampled from its pixel size (:data:`REAL_SPACING_MM`) to ``spacing_mm`` and centred on
    the grid; slices whose mask is under ``min_area`` of the volume's largest are dropped.
    Images are scaled so that their 99.5th percentile is 1; anterior (coronal: superior) is at
    the top, as in :func:`strip_data`.
    """
    from mricompendium.data.build import _real_sources

    by_unit: dict[str, list[dict]] = {}
    for src in [*_real_sources(), *_nibabel_epi()]:
        unit = src["group"] or src["name"]
        if unit in REAL_SPACING_MM:
            by_unit.setdefault(unit, []).append(src)
    out = []
    for unit, items in by_unit.items():
        vol = np.stack([np.asarray(s["image"], dtype=np.float64) for s in items], axis=-1)
        masks = _silver_masks(vol)
        areas = masks.reshape(-1, masks.shape[-1]).sum(0)
        for k, src in enumerate(items):
            if areas[k] < min_area * areas.max():
                continue
            img = _to_grid(vol[..., k], REAL_SPACING_MM[unit], spacing_mm, size, order=1)
            msk = _to_grid(masks[..., k].astype(np.float32), REAL_SPACING_MM[unit], spacing_mm,
                           size, order=1) >= 0.5  # fmt: skip
            top = np.percentile(img, 99.5)
            img = np.clip(img / top, 0, 1) if top > 0 else img
            out.append(RealSlice(src["name"], unit, REAL_GROUPS[unit], img.astype(np.float32), msk))
    return out
