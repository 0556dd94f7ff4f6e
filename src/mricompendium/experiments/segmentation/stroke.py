"""Stroke lesion segmentation trained on physics-synthesised contrasts (S45) vs one contrast.

Chalcroft, Crinion, Price, Ashburner, MICCAI 2025 (arXiv:2412.03318): quantitative MR maps
synthesised from label maps, imaged with random sequences through MR signal equations, train a
lesion segmenter that generalises across acquisition domains better than a baseline trained on
one real contrast (T1-weighted MPRAGE). Here:

- ``"physics-trained"``: every training slice is imaged with a random spin-echo, inversion-recovery
  or gradient-echo timing (the ``"random"`` protocol) drawn from :data:`TRAIN_SEQUENCES`, from
  per-tissue T1, T2 and PD with per-subject jitter;
- ``"T1-trained"``: the same heads and lesions imaged with clinical T1-weighted timing only;
- ``"test-contrast-trained"`` (a reference, not part of the claim): trained on the unseen test
  contrasts themselves (T2, FLAIR and DWI slices), the same-contrast upper bound.

All are tested on synthesised T1, T2, FLAIR and DWI slices through a lesion (exact masks), and,
with a ``data_path``, on a user's ISLES 2022 cases (:mod:`mricompendium.data.segmentation.isles`).
:data:`TRAIN_SEQUENCES` keeps long echo times (T2 weighting), long inversion times (fluid
nulling) and diffusion weighting out of the physics-trained network's training, so that the T2,
FLAIR and DWI test protocols lie outside its ranges (:func:`outside_training` checks the boxes,
:func:`drawn_sequences` the sequences actually drawn). :func:`lesion_contrast` measures how
visible each test lesion is (its contrast-to-noise ratio against the parenchyma around it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data import synth
from mricompendium.experiments.segmentation.synthetic import SliceSet, case_seeds, synth_slices
from mricompendium.metrics.segmentation import lesion_cnr
from mricompendium.models.segmentation.unet import UNet
from mricompendium.physics import signal as mr

__all__ = [
    "METHODS",
    "REFERENCE",
    "STROKE",
    "TEST_CONTRASTS",
    "TRAIN_SEQUENCES",
    "UNSEEN",
    "build",
    "case_stages",
    "drawn_sequences",
    "isles_slices",
    "lesion_contrast",
    "lesion_mask",
    "outside_training",
    "reference_data",
    "stroke_config",
    "stroke_data",
]

METHODS = ("physics-trained", "T1-trained")
REFERENCE = "test-contrast-trained"  # the same-contrast upper bound, outside the claim
TEST_CONTRASTS = {"synthetic T1": "T1", "synthetic T2": "T2", "synthetic FLAIR": "FLAIR",
                  "synthetic DWI": "DWI"}  # fmt: skip
UNSEEN = ("synthetic T2", "synthetic FLAIR", "synthetic DWI")
STROKE = synth.RandomStroke(lacune_mm=(5.0, 10.0), stages=("acute", "subacute", "chronic"))
# The physics-trained network's random timing: T1- and PD-weighted spin echo (TE <= 40 ms),
# T1-weighted inversion recovery (TI <= 1000 ms, TE <= 40 ms) and any spoiled gradient echo; no
# long-TE spin echo (T2), no fluid-nulling inversion (FLAIR), no diffusion weighting (DWI).
TRAIN_SEQUENCES = synth.RandomSequence(se_te=(5.0, 40.0), ir_te=(5.0, 40.0), ir_ti=(50.0, 1000.0))


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
    elif method_or_group in [TEST_CONTRASTS[g] for g in UNSEEN]:  # the reference's training data
        contrast = method_or_group
    elif method_or_group == "T1-trained":
        contrast = "T1"
    elif method_or_group in TEST_CONTRASTS:
        contrast, p_slice_through_lesion = TEST_CONTRASTS[method_or_group], 1.0
    else:
        raise ValueError(f"unknown method or test group {method_or_group!r}")
    return synth.SynthConfig(
        spacing_mm=spacing_mm, shape=shape, contrasts=(contrast,), p_stroke=1.0, stroke=STROKE,
        p_slice_through_lesion=p_slice_through_lesion, sequences=TRAIN_SEQUENCES,
    )  # fmt: skip


def reference_data(
    n: int, *, spacing_mm: float, shape: tuple[int, int, int], seed: int, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training data of the same-contrast reference: ``n`` slices, a third each of the unseen
    test protocols (T2, FLAIR, DWI), drawn like the other networks' training slices."""
    xs, ys = [], []
    for k, group in enumerate(UNSEEN):
        cfg = stroke_config(TEST_CONTRASTS[group], spacing_mm=spacing_mm, shape=shape)
        m = n // len(UNSEEN) + (k < n % len(UNSEEN))
        if m:
            x, y, _ = stroke_data(cfg, m, seed=seed + 7919 * (k + 1), split=split)
            xs.append(x)
            ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def outside_training(group: str) -> bool:
    """Whether the timing boxes of test ``group`` (a key of :data:`TEST_CONTRASTS`) share no
    sequence with :data:`TRAIN_SEQUENCES` at either field strength."""
    train = TRAIN_SEQUENCES.timing()
    protocol = TEST_CONTRASTS[group]
    return not any(synth.overlaps(synth.protocol_timing(protocol, f), train) for f in mr.FIELDS_T)


def drawn_sequences(config: synth.SynthConfig, seeds: Sequence[int]) -> list[mr.Sequence]:
    """The sequence each case of ``seeds`` was imaged with (its first contrast)."""
    name = config.contrasts[0]
    return [synth.sample_case(config, int(s), plane="axial").images[name].sequence for s in seeds]


def case_stages(config: synth.SynthConfig, seeds: Sequence[int]) -> list[str]:
    """The infarct stage (``"acute"``, ``"subacute"``, ``"chronic"``) of each case of ``seeds``."""
    return [synth.sample_case(config, int(s), plane="axial").stroke.stage for s in seeds]


def lesion_contrast(images: torch.Tensor, labels: torch.Tensor, *, ring_px: int = 3) -> np.ndarray:
    """Per case, the lesion's contrast-to-noise ratio against the parenchyma around it.

    Args:
        images: ``(N, 1, H, W)`` slices.
        labels: ``(N, H, W)`` synthesiser labels (lesion, grey and white matter).
        ring_px: width of the reference ring of normal grey and white matter around the lesion.

    Returns:
        ``(N,)`` signed CNR (:func:`mricompendium.metrics.segmentation.lesion_cnr`; positive:
        the lesion is brighter); NaN where a slice has no lesion.
    """
    lab = labels.cpu().numpy()
    lesion = synth.in_labels(labels, synth.STROKE_LABELS).cpu().numpy()
    tissue = np.isin(lab, [synth.LABELS["gm"], synth.LABELS["wm"]])
    ring = np.stack([ndimage.binary_dilation(m, iterations=ring_px) for m in lesion])
    return lesion_cnr(images[:, 0].cpu().numpy(), lesion, ring & tissue & ~lesion)


def lesion_mask(labels: torch.Tensor) -> torch.Tensor:
    """int64 0/1: an infarct of any stage."""
    return synth.in_labels(labels, synth.STROKE_LABELS).long()


def stroke_data(
    config: synth.SynthConfig, n: int, *, seed: int, split: str
) -> tuple[torch.Tensor, torch.Tensor, SliceSet]:
    """``n`` axial slices: images ``(N, 1, H, W)`` and lesion masks ``(N, H, W)``.

    Validation and test slices lie in the central half of the lesion's extent, so that none
    grazes its edge with a few pixels (and the validation Dice is not dominated by slices that
    score 0 or 1 on a handful of pixels); training slices go anywhere, some missing the lesion.
    """
    central = (0.0, 1.0) if split == "train" else (0.25, 0.75)
    slices = synth_slices(config, case_seeds(seed, split, n), plane="axial", slice_pos=central)
    return slices.images, lesion_mask(slices.labels), slices


def isles_slices(
    path: str, *, spacing_mm: float, shape: tuple[int, int, int], n_per_case: int
) -> dict[str, tuple[torch.Tensor, torch.Tensor, list[str], list[str]]]:
    """Axial slices through the lesions of a user's ISLES 2022 cases, on the synthetic grid.

    Returns:
        ``{"ISLES DWI": (x, y, cases, units), "ISLES FLAIR": ...}`` with images ``(N, 1, H, W)``
        in [0, 1] and lesion masks ``(N, H, W)``; case ids ``<case>:<dwi|flair>:z<k>`` (both
        groups form one setting, so a slice's id names its contrast), the slices of one case
        share its unit. Cases without a lesion are skipped; FLAIR only where the case has one.
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
                cs.append(f"{case.name}:{group.split()[-1].lower()}:z{k}")  # one id per image
                us.append(case.name)
    return {g: (torch.stack(x), torch.stack(y), c, u) for g, (x, y, c, u) in out.items()}
