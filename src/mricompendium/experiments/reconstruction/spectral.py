"""Spectral-lifted PROPELLER reconstruction (S64): objects with a fat rim and a B0 map, the
simulated blades, the reconstructions and their per-case scores.

* Objects (:func:`fat_rim_objects`): each slice (on its 128 x 128 object grid) is the water map;
  a fat rim (a "scalp" ring outside the head mask, behind a dark gap, of random thickness and a
  smoothly varying fat fraction) is added; a smooth random B0 map (Hz) and a smooth common phase.
* Data (:func:`propeller_data`): :func:`~mricompendium.physics.propeller.simulate` (six-peak fat,
  T2* decay, dwell integration, the object's own fine grid), complex Gaussian noise at a stated
  SNR, optionally a rigid shift of the object per blade.
* Methods: :func:`gridding` (density-compensated NUFFT of all blades, the standard), and
  :func:`lifted_recon`: least squares + TV on ``K`` frequency bins (the reconstruction's
  coarser model, single-peak fat), Adam in torch; one bin at 0 Hz is the standard model + TV,
  two bins (0 Hz, fat) a water/fat model without B0.
* Scores (:func:`score_rows`): SSIM/PSNR/NMSE of ``|water| + |fat|`` against the off-resonance
  free image at TE (slice-normalised, inside the object mask) and the fat-fraction MAE.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from mricompendium import metrics
from mricompendium.data.recon import CaseSet
from mricompendium.data.recon.batches import case_seed
from mricompendium.physics.nufft import RadialNufftOp, density_compensation
from mricompendium.physics.propeller import Propeller, SpectralOp, fat_spectrum, simulate
from mricompendium.physics.simulate import (
    add_complex_noise,
    fourier_resample,
    noise_sigma_for_snr,
    smooth_phase,
)

__all__ = [
    "METRICS",
    "PropellerSet",
    "Recon",
    "fat_rim_objects",
    "frequency_bins",
    "gridding",
    "lifted_recon",
    "propeller_data",
    "fat_fraction",
    "score_rows",
    "tune_lambda",
]

METRICS = ("ssim_obj", "ssim", "psnr_obj", "nmse_obj", "ff_mae")


def fat_rim_objects(
    cases: CaseSet, *, seed: int, rim_px: tuple[float, float] = (3.0, 6.0),
    gap_px: tuple[float, float] = (2.0, 4.0), fat_fraction: tuple[float, float] = (0.6, 1.0),
    fat_level: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Water maps (the slices), fat maps (a rim around each head mask) and the object masks,
    all on the object grid ``(N, Hs, Ws)``.

    The rim starts ``gap`` fine pixels outside the mask and is ``rim`` pixels thick (both drawn
    per case from the ranges); inside it the fat fraction varies smoothly within
    ``fat_fraction`` and the total density is ``fat_level``.
    """
    if cases.objects is None or cases.object_masks is None:
        raise ValueError("the cases need objects on a finer grid (CaseSet.from_objects)")
    water, fat, masks = [], [], []
    for i in range(len(cases)):
        rng = np.random.default_rng(case_seed(seed, i, 11))
        head = cases.object_masks[i].astype(bool)
        gap = int(round(rng.uniform(*gap_px)))
        rim = int(round(rng.uniform(*rim_px)))
        inner = ndimage.binary_dilation(head, iterations=max(gap, 1))
        outer = ndimage.binary_dilation(inner, iterations=max(rim, 1))
        ring = outer & ~inner
        shape = head.shape
        ff_field = smooth_phase(shape, max_phase=1.0, seed=case_seed(seed, i, 12)).numpy()
        lo, hi = fat_fraction
        ff = lo + (hi - lo) * (ff_field - ff_field.min()) / max(np.ptp(ff_field), 1e-9)
        w = cases.objects[i].astype(np.float64) * head + fat_level * (1 - ff) * ring
        water.append(w)
        fat.append(fat_level * ff * ring)
        masks.append(outer)
    return (np.stack(water).astype(np.float32), np.stack(fat).astype(np.float32),
            np.stack(masks))  # fmt: skip


def _coarse_masks(masks: np.ndarray, n: int) -> torch.Tensor:
    from mricompendium.data.embedded import resize_stack

    return torch.from_numpy(resize_stack(masks.astype(np.float32), n) >= 0.5)


@dataclass
class PropellerSet:
    """Simulated PROPELLER data of some cases in one setting, with references.

    Attributes:
        label: the setting.
        samples: ``(N, num_samples)`` complex, noisy.
        acq: the acquisition.
        reference: ``(N, n, n)`` the off-resonance-free magnitude at TE (water + fat).
        ff: ``(N, n, n)`` true fat fraction ``F / (W + F)`` (0 where there is no signal).
        masks: ``(N, n, n)`` object masks (head + rim); meta: ``(case, unit, group)``.
    """

    label: str
    samples: torch.Tensor
    acq: Propeller
    reference: torch.Tensor
    ff: torch.Tensor
    masks: torch.Tensor
    meta: list[tuple[str, str, str]]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.samples.shape[0])


def propeller_data(
    cases: CaseSet, acq: Propeller, *, label: str, seed: int, b0_max_hz: float, snr: float,
    motion_px: float = 0.0, field_t: float = 3.0, substeps: int = 4,
    t2star_s: tuple[float, float] = (0.030, 0.015), max_phase: float = math.pi / 2,
) -> PropellerSet:  # fmt: skip
    """Simulated blades of ``cases`` with a fat rim, a smooth B0 map (peak ``b0_max_hz``) and,
    with ``motion_px``, a random rigid shift of the object per blade (uniform within
    ``+-motion_px`` reconstruction pixels per axis)."""
    water, fat, masks = fat_rim_objects(cases, seed=seed)
    n, fine = acq.image_size, water.shape[1:]
    b = len(cases)
    b0 = torch.stack([smooth_phase(fine, max_phase=b0_max_hz, seed=case_seed(seed, i, 13))
                      for i in range(b)])  # fmt: skip
    phase = torch.stack([smooth_phase(fine, max_phase=max_phase, seed=case_seed(seed, i, 14))
                         for i in range(b)])  # fmt: skip
    shifts = None
    if motion_px > 0:
        gen = torch.Generator().manual_seed(case_seed(seed, 0, 15))
        shifts = 2 * torch.rand(b, acq.n_blades, 2, generator=gen, dtype=torch.float64) - 1
        shifts = shifts * motion_px
    w_t, f_t = torch.from_numpy(water), torch.from_numpy(fat)
    clean = simulate(w_t, f_t, b0, acq, field_t=field_t, substeps=substeps, t2star_s=t2star_s,
                     shifts_px=shifts, phase=phase)  # fmt: skip
    freqs, amps = fat_spectrum(field_t)
    c_te = complex((amps * torch.exp(-2j * math.pi * freqs * acq.te_s)).sum())
    c_te *= math.exp(-acq.te_s / t2star_s[1])
    wc = fourier_resample(w_t.to(torch.complex64), (n, n)).abs()
    fc = fourier_resample(f_t.to(torch.complex64), (n, n)).abs()
    reference = (wc * math.exp(-acq.te_s / t2star_s[0]) + fc * c_te).abs()
    cmask = _coarse_masks(masks, n)
    total = wc + fc
    ff = torch.where(total > 0.05 * total.amax(dim=(-2, -1), keepdim=True),
                     fc / total.clamp_min(1e-12), torch.zeros_like(total))  # fmt: skip
    sigma = noise_sigma_for_snr(reference, snr, mask=cmask)
    y = add_complex_noise(clean, sigma=sigma, seeds=[case_seed(seed, i, 16) for i in range(b)])
    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    return PropellerSet(label, y, acq, reference.float(), ff.float(), cmask, meta,
                        {"b0_max_hz": b0_max_hz, "motion_px": motion_px, "snr": snr})  # fmt: skip


def frequency_bins(b0_range_hz: float, n_b0: int, fat_hz: float | None) -> list[float]:
    """``n_b0`` water bins evenly over ``[-b0_range, b0_range]`` (one bin at 0 Hz when
    ``n_b0 = 1``), and the same offsets shifted by ``fat_hz`` (skipped when ``None``)."""
    if n_b0 < 1:
        raise ValueError(f"n_b0 must be >= 1, got {n_b0}")
    water = [0.0] if n_b0 == 1 else np.linspace(-b0_range_hz, b0_range_hz, n_b0).tolist()
    return water + ([] if fat_hz is None else [f + fat_hz for f in water])


def _nufft(acq: Propeller) -> RadialNufftOp:
    traj = acq.trajectory().reshape(-1, 2).float()
    n = acq.image_size
    return RadialNufftOp(traj, (n, n), dcf=density_compensation(traj, (n, n)))


def gridding(s: PropellerSet) -> torch.Tensor:
    """Density-compensated NUFFT of all blades (no off-resonance model), complex ``(N, n, n)``."""
    return _nufft(s.acq).gridding_recon(s.samples[:, None])


def _tv(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Smoothed isotropic TV per case, summed over bins, ``(B,)`` (mean over pixels)."""
    dy = torch.diff(x, dim=-2, append=x[..., -1:, :])
    dx = torch.diff(x, dim=-1, append=x[..., :, -1:])
    return (dy.abs().square() + dx.abs().square() + eps**2).sqrt().mean(dim=(-2, -1)).sum(dim=1)


@dataclass
class Recon:
    """A lifted reconstruction: bin images ``(N, K, n, n)``, the water and fat bins, and the
    objective per iteration (mean over cases)."""

    bins: torch.Tensor
    freqs: list[float]
    n_water: int
    objective: list[float]

    @property
    def water(self) -> torch.Tensor:
        return self.bins[:, : self.n_water].sum(dim=1)

    @property
    def fat(self) -> torch.Tensor:
        return self.bins[:, self.n_water :].sum(dim=1)

    def combined(self) -> torch.Tensor:
        """``|water| + |fat|``, ``(N, n, n)``."""
        return self.water.abs() + self.fat.abs()


def lifted_recon(
    s: PropellerSet, freqs: Sequence[float], *, n_water: int, lam_tv: float | Sequence[float],
    iters: int, lr: float = 0.05, device: str | torch.device = "cpu",
) -> Recon:  # fmt: skip
    """Least squares + TV over the bins ``freqs`` (the first ``n_water`` are water), Adam with a
    cosine-annealed rate, from the gridding image in the 0 Hz (or first) water bin.

    Each case is normalised by the RMS of its gridding image; ``lam_tv`` (one value, or one per
    case) weights the TV of each bin against the mean squared data residual. Cases do not
    interact (the loss is a sum over cases and Adam acts elementwise).
    """
    op = SpectralOp(s.acq, freqs)
    x0 = gridding(s)
    scale = x0.abs().square().mean(dim=(-2, -1)).sqrt().clamp_min(1e-30)
    y = (s.samples / scale[:, None]).to(device)
    b, n = len(s), s.acq.image_size
    lam = torch.as_tensor(lam_tv, dtype=torch.float32).reshape(-1).expand(b).to(device)
    start = torch.zeros(b, op.num_bins, n, n, dtype=torch.complex64)
    zero = int(np.argmin(np.abs(np.asarray(freqs[:n_water]))))
    start[:, zero] = x0 / scale[:, None, None]
    x = torch.view_as_real(start).to(device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(iters, 1))
    history = []
    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        z = torch.view_as_complex(x)
        resid = (op.A(z) - y).abs().square().mean(dim=-1)
        loss = (resid + lam * _tv(z)).sum()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss.detach()) / b)
    bins = torch.view_as_complex(x.detach()).cpu() * scale[:, None, None, None]
    return Recon(bins, list(map(float, freqs)), n_water, history)


def score_rows(
    s: PropellerSet, image: torch.Tensor, *, name: str, ff: torch.Tensor | None = None,
    seed: int = -1, budget: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per case: SSIM/PSNR/NMSE of the magnitude ``image`` against the reference inside
    the object mask (``*_obj``; whole image ``ssim``), slice-normalised, and the fat-fraction MAE
    inside the object where the truth has signal (``ff`` ``None``: a method that separates
    nothing, scored as fat fraction 0 everywhere)."""
    res = metrics.evaluate(image.abs().float().numpy(), s.reference.numpy(),
                           protocol="slice_normalised", mask=s.masks.numpy())  # fmt: skip
    rows = []
    ff = torch.zeros_like(s.ff) if ff is None else ff
    for j, (case, unit, group) in enumerate(s.meta):
        region = s.masks[j] & (s.reference[j] > 0.05 * s.reference[j].max())
        mae = float((ff[j] - s.ff[j]).abs()[region].mean())
        rows.append({"setting": s.label, "method": name, "seed": seed, "budget": budget,
                     "case": case, "unit": unit, "group": group,
                     "ssim_obj": float(res["ssim_mask"][j]), "ssim": float(res["ssim"][j]),
                     "psnr_obj": float(res["psnr_mask"][j]),
                     "nmse_obj": float(res["nmse_mask"][j]), "ff_mae": mae})  # fmt: skip
    return rows


def fat_fraction(r: Recon) -> torch.Tensor:
    """``|fat| / (|water| + |fat|)`` per pixel, ``(N, n, n)``."""
    w, f = r.water.abs(), r.fat.abs()
    return f / (w + f).clamp_min(1e-12)


def _repeat(s: PropellerSet, k: int) -> PropellerSet:
    """``s`` with its cases repeated ``k`` times (case-major blocks), to solve ``k`` weights at
    once."""
    rep = lambda t: t.repeat(k, *([1] * (t.dim() - 1)))  # noqa: E731
    meta = [(f"{c}#{j}", u, g) for j in range(k) for c, u, g in s.meta]
    return PropellerSet(s.label, rep(s.samples), s.acq, rep(s.reference), rep(s.ff),
                        rep(s.masks), meta, dict(s.info))  # fmt: skip


def tune_lambda(
    s: PropellerSet, freqs: Sequence[float], *, n_water: int, grid: Sequence[float], iters: int,
    lr: float = 0.05, max_widen: int = 4, metric: str = "ssim_obj",
) -> tuple[float, list[dict[str, Any]]]:  # fmt: skip
    """The TV weight with the best mean ``metric`` on the validation cases ``s``: the grid is
    solved at once, then widened by its outer ratio (one weight at a time) until the best
    weight is interior, at most ``max_widen`` times.

    Returns:
        ``(lam, table)`` with one row per weight tried (``lam``, ``score``, ``chosen``,
        ``interior``).
    """
    values = sorted(float(v) for v in grid)
    if len(values) < 2 or values[0] <= 0:
        raise ValueError(f"grid needs at least two positive weights, got {list(grid)}")
    scores: dict[float, float] = {}

    def solve(lams: list[float]) -> None:
        rep = _repeat(s, len(lams))
        per_case = [lam for lam in lams for _ in range(len(s))]
        rec = lifted_recon(rep, freqs, n_water=n_water, lam_tv=per_case, iters=iters, lr=lr)
        rows = score_rows(rep, rec.combined(), name="val")
        for j, lam in enumerate(lams):
            scores[lam] = float(np.mean([r[metric] for r in rows[j * len(s) : (j + 1) * len(s)]]))

    solve(values)
    for _ in range(max_widen):
        best = max(values, key=scores.get)
        if values[0] < best < values[-1]:
            break
        new = values[0] ** 2 / values[1] if best == values[0] else values[-1] ** 2 / values[-2]
        values = sorted([*values, new])
        solve([new])
    best = max(values, key=scores.get)
    interior = values[0] < best < values[-1]
    return best, [{"lam": v, "score": scores[v], "chosen": v == best, "interior": interior}
                  for v in values]  # fmt: skip
