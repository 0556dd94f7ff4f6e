"""Whole-brain tissue segmentation with and without squeeze & excitation (scSE, S74).

Roy, Navab, Wachinger, MICCAI 2018: cSE, sSE and scSE blocks inserted after every encoder and
decoder block of a U-Net (and other F-CNNs) raise Dice on whole-brain MRI segmentation (MALC,
27 structures) at a small parameter cost. Here the same U-Net is trained with each block on
synthesised T1-weighted axial slices (MR physics contrast, random anatomy deformation, layer
thicknesses, bias and noise) to label CSF, grey matter and white matter.

Registry: :data:`METHODS` (display name -> SE kind), :data:`CPU_CONFIG` (the width trained here)
and :data:`PAPER_CONFIG` (a GPU profile: the original U-Net widths of Ronneberger et al. 2015;
the paper's exact U-Net widths are not in our verified notes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mricompendium.data import synth
from mricompendium.experiments.segmentation.synthetic import SliceSet, case_seeds, synth_slices
from mricompendium.models.segmentation.unet import UNet, n_parameters

__all__ = [
    "CLASSES",
    "CPU_CONFIG",
    "METHODS",
    "PAPER_CONFIG",
    "build",
    "overhead_table",
    "tissue_config",
    "tissue_data",
]

METHODS = {"U-Net": "none", "U-Net+cSE": "cse", "U-Net+sSE": "sse", "U-Net+scSE": "scse"}
CLASSES = ("CSF", "GM", "WM")  # labels 1, 2, 3 of synth.tissue_classes; 0 = everything else
CPU_CONFIG = {"features": (16, 32, 64, 128), "reduction": 2, "norm": "batch"}
PAPER_CONFIG = {"features": (64, 128, 256, 512, 1024), "reduction": 2, "norm": "batch"}


def build(method: str, *, in_channels: int = 1, **config) -> UNet:
    """The U-Net of ``method`` (a key of :data:`METHODS`) with ``config`` (e.g. CPU_CONFIG)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    cfg = {**CPU_CONFIG, **config}
    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=len(CLASSES) + 1,
        se=METHODS[method],
        **cfg,
    )


def tissue_config(
    *, spacing_mm: float, shape: tuple[int, int, int], contrasts: Sequence[str] = ("T1",)
) -> synth.SynthConfig:
    """The synthesiser for the tissue task: healthy heads, physics contrasts, default artefacts."""
    return synth.SynthConfig(spacing_mm=spacing_mm, shape=shape, contrasts=tuple(contrasts))


def tissue_data(
    config: synth.SynthConfig, n: int, *, seed: int, split: str, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor, SliceSet]:
    """``n`` axial slices of ``split``: images ``(N, C, H, W)``, tissue classes ``(N, H, W)``."""
    slices = synth_slices(config, case_seeds(seed, split, n), plane="axial", device=device)
    return slices.images, synth.tissue_classes(slices.labels), slices


def overhead_table(**config) -> list[dict[str, float | int | str]]:
    """Parameters of each method and the overhead over the plain U-Net, in percent."""
    base = n_parameters(build("U-Net", **config))
    rows = []
    for method in METHODS:
        n = n_parameters(build(method, **config))
        rows.append({"method": method, "parameters": n, "overhead_pct": 100.0 * (n - base) / base})
    return rows
