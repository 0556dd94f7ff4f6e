"""Stroke lesion segmentation trained on physics-synthesised contrasts (S45) vs one contrast.

Chalcroft, Crinion, Price, Ashburner, MICCAI 2025 (arXiv:2412.03318): quantitative MR maps
synthesised from label maps, imaged with random sequences through MR signal equations, train a
lesion segmenter that generalises across acquisition domains better than a baseline trained on
one real contrast (T1-weighted MPRAGE). Here:

- ``"physics-trained"``: every training slice is imaged with a random spin-echo, inversion-recovery
  or gradient-echo timing (:data:`mricompendium.data.synth.PROTOCOLS` ``"random"``) from per-tissue
  T1, T2 and PD with per-subject jitter;
- ``"T1-trained"``: the same heads and lesions imaged with clinical T1-weighted timing only.

Both are tested on synthesised T1, T2, FLAIR and DWI slices through a lesion (exact masks), and,
with a ``data_path``, on a user's ISLES 2022 cases (:mod:`mricompendium.data.segmentation.isles`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mricompendium.data import synth
from mricompendium.experiments.segmentation.synthetic import SliceSet, case_seeds, synth_slices
from mricompendium.models.segmentation.unet import UNet

__all__ = [
    "METHODS",
    "STROKE",
    "TEST_CONTRASTS",
    "build",
    "isles_slices",
    "lesion_mask",
    "stroke_config",
    "stroke_data",
]

METHODS = ("physics-trained", "T1-trained")
TEST_CONTRASTS = {"synthetic T1": "T1", "synthetic T2": "T2", "synthetic FLAIR": "FLAIR",
                  "synthetic DWI": "DWI"}  # fmt: skip
STROKE = synth.RandomStroke(lacune_mm=(5.0, 10.0), stages=("acute", "subacute", "chronic"))


def build(*, features: Sequence[int] = (8, 16, 32, 64)) -> UNet:
    """The lesion U-Net: one input channel, two classes (background, lesion)."""
    return UNet(spatial_dims=2, in_channels=1, out_channels=2, features=tuple(features))


def stroke_config(
    method_or_group: str,
    *,
    spacing_mm: float,
    shape: tuple[int, int, int],
    p_slice_through_lesion: float = 0.9,
) -> synth.SynthConfig:
    """The synthesiser of a training method (:data:`METHODS`) or a test group."""
    if method_or_group == "physics-trained":
        contrast = "random"
    elif method_or_group == "T1-trained":
        contrast = "T1"
    elif method_or_group in TEST_CONTRASTS:
        contrast, p_slice_through_lesion = TEST_CONTRASTS[method_or_group], 1.0
    else:
        raise ValueError(f"unknown method or test group {method_or_group!r}")
    return synth.SynthConfig(
        spacing_mm=spacing_mm, shape=shape, contrasts=(contrast,), p_stroke=1.0, stroke=STROKE,
        p_slice_through_lesion=p_slice_through_lesion,
    )  # fmt: skip


def lesion_mask(labels: torch.Tensor) -> torch.Tensor:
    """int64 0/1: an infarct of any stage."""
    return synth.in_labels(labels, synth.STROKE_LABELS).long()


def stroke_data(
    config: synth.SynthConfig, n: int, *, seed: int, split: str
) -> tuple[torch.Tensor, torch.Tensor, SliceSet]:
    """``n`` axial slices: images ``(N, 1, H, W)`` and lesion masks ``(N, H, W)``."""
    slices = synth_slices(config, case_seeds(seed, split, n), plane="axial")
    return slices.images, lesion_mask(slices.labels), slices


def isles_slices(
    path: str, *, spacing_mm: float, shape: tuple[int, int, int], n_per_case: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor, list[str], list[str]]]:
    """Axial slices through the lesions of a user's ISLES 2022 cases, on the synthetic grid.

    Returns:
        ``{"ISLES DWI": (x, y, cases, units), "ISLES FLAIR": ...}`` with images ``(N, 1, H, W)``
        in [0, 1] and lesion masks ``(N, H, W)``; the slices of one case share its unit. Cases
        without a lesion are skipped; FLAIR only where the case has one.
    """
    import numpy as np

    from mricompendium.data.segmentation import isles
    from mricompendium.data.segmentation.pairs import middle_slices, normalise, to_grid

    out: dict[str, tuple[list, list, list, list]] = {}
    for files in isles.find_cases(path):
        case = isles.load_case(files)
        if not case.mask.any():
            continue
        grid = dict(spacing_mm=spacing_mm, shape=shape)
        mask = to_grid(case.mask.astype(np.int64), case.affine, **grid)
        if not mask.any():
            continue
        images = {"ISLES DWI": case.dwi, "ISLES FLAIR": case.flair}
        for group, vol in images.items():
            if vol is None:
                continue
            img = normalise(to_grid(vol, case.affine, order=1, **grid), files.dwi)
            xs, ys, cs, us = out.setdefault(group, ([], [], [], []))
            for k in middle_slices(mask, n_per_case):
                xs.append(torch.from_numpy(img[:, :, k].copy())[None])
                ys.append(torch.from_numpy(mask[:, :, k].copy()))
                cs.append(f"{case.name}:z{k}")
                us.append(case.name)
    return {g: (torch.stack(x), torch.stack(y), c, u) for g, (x, y, c, u) in out.items()}
