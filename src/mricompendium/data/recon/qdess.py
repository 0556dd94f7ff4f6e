"""qDESS-like two-echo slices from tissue maps: the S30 (SKM-TEA) proxy data.

No knee qMRI ships offline. The two echoes are simulated from the CSF / grey / white matter
probability maps of MNI-template slices (the embedded set's, or fresh template variants away from
the training positions) with the tissue table of :mod:`mricompendium.physics.signal` (3 T) and
the signal model of :mod:`mricompendium.physics.qdess`: each voxel is the sum of its tissues'
signals weighted by their fractions (partial volume: a mixed voxel does not decay with one T2),
with a smooth random B1 field per case (the flip angle the tissue sees). The T2 estimate assumes
B1 = 1, one T1 and no diffusion, so it is not the simulator's model.

The region of the T2 error is the grey matter (probability >= 0.5 on the reconstruction grid): a
thin, folded tissue standing in for cartilage (not its T2: cartilage is about 30-40 ms, grey
matter 110 ms at 3 T in the table).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.data.build import CYCLE_MM, FOV_MM, N_CYCLES, Z_START
from mricompendium.data.embedded import SIZE, load_slices, resize_stack, simulate_slice
from mricompendium.data.recon.batches import case_seed
from mricompendium.data.recon.cases import TEST_OFFSETS, _template_band
from mricompendium.physics.qdess import QDessProtocol, qdess_echoes
from mricompendium.physics.signal import tissue_table

__all__ = ["EchoCases", "embedded_echo_cases", "template_echo_cases", "tissue_echoes"]

TISSUES = ("csf", "gm", "wm")


@dataclass(frozen=True)
class EchoCases:
    """Two-echo cases on the fine grid with their regions and bookkeeping.

    Attributes:
        objects: float32 ``(N, 2, Hs, Ws)`` echo magnitudes on the fine grid.
        head: bool ``(N, H, W)`` brain masks on the reconstruction grid (SNR, SSIM region).
        roi: bool ``(N, H, W)`` the T2 region (grey matter >= 0.5).
        t2_true: float32 ``(N, H, W)`` the T2 (ms) of each pixel's dominant tissue.
        purity: float32 ``(N, H, W)`` the dominant tissue's fraction (1: one tissue; below:
            partial volume, whose apparent T2 is not any one tissue's).
    """

    objects: np.ndarray
    head: np.ndarray
    roi: np.ndarray
    t2_true: np.ndarray
    case: list[str]
    unit: list[str]
    group: list[str]
    purity: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.case)


def _b1_field(shape: tuple[int, int], spread: float, seed: int) -> torch.Tensor:
    """A smooth B1 scale ``1 + spread * f`` with ``f`` a random low-order field in [-1, 1]."""
    gen = torch.Generator().manual_seed(int(seed))
    h, w = shape
    y = torch.linspace(-1, 1, h, dtype=torch.float64)[:, None]
    x = torch.linspace(-1, 1, w, dtype=torch.float64)[None, :]
    c = torch.rand(5, generator=gen, dtype=torch.float64) * 2 - 1
    f = c[0] * x + c[1] * y + c[2] * x * y + c[3] * (x**2 - 0.5) + c[4] * (y**2 - 0.5)
    return 1 + spread * f / f.abs().max().clamp_min(1e-12)


def tissue_echoes(
    tissue: np.ndarray, *, protocol: QDessProtocol, b1_spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Echoes ``(2, H, W)`` and the dominant tissue's T2 (ms) of CSF/GM/WM maps ``(3, H, W)``."""
    table = tissue_table(3.0)
    frac = torch.from_numpy(np.asarray(tissue, dtype=np.float64))
    b1 = _b1_field(tuple(frac.shape[1:]), b1_spread, seed)
    echoes = torch.zeros(2, *frac.shape[1:], dtype=torch.float64)
    for f, name in zip(frac, TISSUES, strict=True):
        p = table[name]
        full = torch.full_like(f, 1.0)
        echoes += f * qdess_echoes(p.pd * full, p.t1_ms * full, p.t2_ms * full, p.adc * full,
                                   protocol=protocol, b1=b1).double()  # fmt: skip
    t2s = torch.tensor([table[name].t2_ms for name in TISSUES], dtype=torch.float64)
    t2 = t2s[frac.argmax(dim=0)]
    return echoes.float().numpy(), t2.float().numpy()


def _cases(tissue: np.ndarray, masks: np.ndarray, names: list[str], group: str, *, size: int,
           protocol: QDessProtocol, b1_spread: float, seed: int) -> EchoCases:  # fmt: skip
    objs = [
        tissue_echoes(t, protocol=protocol, b1_spread=b1_spread, seed=case_seed(seed, j, 61))[0]
        for j, t in enumerate(tissue)
    ]
    head = resize_stack(np.asarray(masks, np.float32), size) >= 0.5
    small = resize_stack(np.asarray(tissue, np.float32).reshape(-1, *tissue.shape[2:]), size)
    small = small.reshape(len(tissue), 3, size, size)
    t2s = np.array([tissue_table(3.0)[name].t2_ms for name in TISSUES], dtype=np.float32)
    roi = (small[:, 1] >= 0.5) & head
    return EchoCases(np.stack(objs).astype(np.float32), head, roi, t2s[small.argmax(axis=1)],
                     list(names), list(names), [group] * len(names),
                     small.max(axis=1) / small.sum(axis=1).clip(1e-6))  # fmt: skip


def embedded_echo_cases(
    split: str, *, size: int, protocol: QDessProtocol, b1_spread: float, seed: int,
    limit: int | None = None,
) -> EchoCases:  # fmt: skip
    """The embedded ``train``/``val`` slices (their tissue maps at 128 px) as two-echo cases."""
    s = load_slices(split)
    n = len(s) if limit is None else min(limit, len(s))
    return _cases(s.tissue[:n], s.masks[:n], list(s.names[:n]), split, size=size,
                  protocol=protocol, b1_spread=b1_spread, seed=seed)  # fmt: skip


def template_echo_cases(
    n: int, *, size: int, protocol: QDessProtocol, b1_spread: float, seed: int
) -> EchoCases:
    """``n`` fresh template variants at axial positions away from the training slices (each
    its own deformation, contrast and B1 field: each its own unit), as two-echo cases."""
    band = _template_band(TEST_OFFSETS)
    centre = (float(band["centre"][0]), float(band["centre"][1]))
    tissue, masks, names = [], [], []
    for j in range(n):
        cycle, k = j % N_CYCLES, (j // N_CYCLES) % len(TEST_OFFSETS)
        z = Z_START + cycle * CYCLE_MM + TEST_OFFSETS[k]
        i = int(np.flatnonzero(band["z"] == z)[0])
        arrays = [band[key][:, :, i].astype(np.float64) for key in ("t1", "gm", "wm", "brain")]
        _, mask, tis, _ = simulate_slice(*arrays, seed=case_seed(seed, j, 77), center=centre,
                                         fov_mm=FOV_MM, size=SIZE)  # fmt: skip
        tissue.append(tis)
        masks.append(mask)
        names.append(f"mni_z{z:03d}_q{j:03d}")
    return _cases(np.stack(tissue), np.stack(masks), names, "template", size=size,
                  protocol=protocol, b1_spread=b1_spread, seed=seed + 1)  # fmt: skip
