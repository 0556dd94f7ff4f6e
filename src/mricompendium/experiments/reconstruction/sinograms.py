"""Sinogram reconstruction (S16): radial MRI as sinograms, the sparse-view CT proxy, training and
evaluation of the Radon-operator networks and their baselines.

Data (never made by the operator that reconstructs them):

* **radial MRI** (:func:`mri_sinograms`): each slice with a smooth random phase on its 128 x 128
  object grid; the exact NDFT there at uniformly spaced full spokes (positions in the
  reconstruction grid's units, readout oversampled twice), complex Gaussian noise at a stated SNR,
  then the 1D inverse DFT per spoke (:func:`~mricompendium.physics.sinogram.radial_to_sinogram`).
  Reference: the fully sampled, noise-free acquisition on the reconstruction grid.
* **sparse-view CT proxy** (:func:`ct_sinograms`): parallel-beam projections of the 128 x 128
  magnitude slice by scikit-image's ``radon`` (another implementation, on a finer grid), binned to
  the reconstruction grid's detectors, Gaussian noise relative to the mean projection. Reference:
  the slice on the reconstruction grid (area-averaged, as the embedded data set downsamples).

Every method maps a :class:`SinogramSet` and case indices to images; networks run on the one
input normalisation (each case divided by the RMS magnitude of the FBP of its own data).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium import claims, metrics, training
from mricompendium.data import load_slices
from mricompendium.data.recon import CaseSet
from mricompendium.data.recon.batches import case_seed
from mricompendium.experiments.reconstruction.cs import l1_wavelet_recon
from mricompendium.models.reconstruction.pdunet import RadonLPD
from mricompendium.physics.nufft import RadialNufftOp, density_compensation, ndft_forward
from mricompendium.physics.simulate import (
    add_complex_noise,
    fine_trajectory,
    fourier_resample,
    grid_sample_weights,
    noise_sigma_for_snr,
    smooth_phase,
)
from mricompendium.physics.sinogram import (
    RadonOp,
    bin_projections,
    radial_to_sinogram,
    skimage_projections,
    uniform_angles,
    uniform_radial,
)
from mricompendium.physics.trajectories import spokes_for_acceleration

__all__ = [
    "METRICS",
    "SinogramSet",
    "TrainedSeeds",
    "count_parameters",
    "match_lpd",
    "split_cases",
    "train_seeds",
    "cs_method",
    "ct_sinograms",
    "evaluate",
    "fbp_method",
    "gridding_method",
    "model_method",
    "mri_sinograms",
    "radon_ops",
    "train_sinogram_model",
    "tune_cs",
    "validation_fn",
]

METRICS = ("ssim_brain", "ssim", "psnr", "nmse", "psnr_brain", "nmse_brain")
Method = Callable[["SinogramSet", Sequence[int]], torch.Tensor]


@functools.lru_cache(maxsize=32)
def radon_ops(image_size: int, views: int, upsample: int) -> tuple[RadonOp, RadonOp]:
    """The sparse operator (``views`` equispaced angles in ``[0, pi)``) and the full one
    (``views * upsample`` angles, the sparse ones among them), ``2 * image_size`` detectors."""
    full = uniform_angles(views * upsample)
    shape = (image_size, image_size)
    return RadonOp(full[::upsample], shape), RadonOp(full, shape)


@dataclass
class SinogramSet:
    """Sinograms of some cases in one setting.

    Attributes:
        label: the setting (results ``setting`` column).
        sino: ``(N, S, D)`` complex (MRI) or float (CT) sinograms, the data.
        target: ``(N, H, W)`` references (complex for MRI).
        masks: bool ``(N, H, W)`` regions of ``*_brain`` metrics.
        op, op_full: the sparse and full-angle Radon operators.
        meta: ``(case, unit, group)`` per case.
        samples: MRI only, the radial k-space ``(N, 1, K)`` the sinograms came from, and
        nufft: the reconstruction grid's radial NUFFT of those spokes (gridding, CS).
    """

    label: str
    sino: torch.Tensor
    target: torch.Tensor
    masks: torch.Tensor
    op: RadonOp
    op_full: RadonOp
    meta: list[tuple[str, str, str]]
    samples: torch.Tensor | None = None
    nufft: RadialNufftOp | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.sino.shape[0])

    @property
    def complex_data(self) -> bool:
        return torch.is_complex(self.sino)


def mri_sinograms(
    cases: CaseSet, *, image_size: int, acceleration: float, upsample: int, snr: float,
    seed: int, label: str, max_phase: float = math.pi / 2,
) -> SinogramSet:  # fmt: skip
    """Single-coil radial k-space of ``cases`` (exact NDFT on their object grid), as sinograms.

    ``spokes_for_acceleration(acceleration, image_size)`` equispaced spokes (acceleration =
    Nyquist spokes ``pi / 2 N`` over spokes); the full angle set has ``upsample`` times more.
    """
    if cases.objects is None:
        raise ValueError("the cases need objects on a finer grid (CaseSet.from_objects)")
    n, fine = image_size, tuple(cases.objects.shape[1:])
    views = spokes_for_acceleration(acceleration, n)
    op, op_full = radon_ops(n, views, upsample)
    traj = uniform_radial(op.angles, 2 * n)
    ftraj = fine_trajectory(traj, fine, (n, n))
    weights = grid_sample_weights(traj, fine, (n, n))
    masks = torch.from_numpy(np.asarray(cases.masks, dtype=bool))
    objs = torch.stack([
        torch.polar(torch.from_numpy(cases.objects[i]).float(),
                    smooth_phase(fine, max_phase=max_phase, seed=case_seed(seed, i, 0)))
        for i in range(len(cases))
    ])  # fmt: skip
    targets = fourier_resample(objs, (n, n))
    clean = ndft_forward(objs.to(torch.complex128), ftraj.double(), chunk=512) * weights
    sigma = noise_sigma_for_snr(targets, snr, mask=masks)
    y = add_complex_noise(clean.to(torch.complex64)[:, None], sigma=sigma,
                          seeds=[case_seed(seed, i, 2) for i in range(len(cases))])  # fmt: skip
    sino = radial_to_sinogram(y[:, 0], views, (n, n)).to(torch.complex64)
    nufft = RadialNufftOp(traj, (n, n), dcf=density_compensation(traj, (n, n)))
    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    return SinogramSet(label, sino, targets, masks, op, op_full, meta, y, nufft,
                       {"modality": "radial MRI", "spokes": views, "acceleration": acceleration,
                        "full_spokes": op_full.num_angles})  # fmt: skip


def ct_sinograms(
    cases: CaseSet, *, image_size: int, sparsity: int, full_views: int, noise: float, seed: int,
    label: str,
) -> SinogramSet:  # fmt: skip
    """Sparse-view parallel-beam projections of the magnitude slices (scikit-image's ``radon``
    on the object grid, binned to the reconstruction grid), every ``sparsity``-th of
    ``full_views`` equispaced views, Gaussian noise of ``noise`` times the mean projection."""
    if cases.objects is None:
        raise ValueError("the cases need objects on a finer grid (CaseSet.from_objects)")
    if full_views % sparsity:
        raise ValueError(f"full_views {full_views} is not a multiple of sparsity {sparsity}")
    n = image_size
    op, op_full = radon_ops(n, full_views // sparsity, sparsity)
    fine_n = cases.objects.shape[1]
    factor = fine_n / n
    shift = factor * (n // 2 + 0.5) - 0.5 - fine_n // 2  # coarse origin n = 0 in fine pixels
    angles = op.angles.numpy()
    sinos = []
    for i in range(len(cases)):
        fine = skimage_projections(cases.objects[i], angles)
        p = bin_projections(fine, angles, factor, op.num_det, origin=shift)
        rng = np.random.default_rng(case_seed(seed, i, 5))
        sinos.append(p + noise * np.abs(p).mean() * rng.standard_normal(p.shape))
    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    return SinogramSet(label, torch.tensor(np.stack(sinos), dtype=torch.float32),
                       torch.from_numpy(np.asarray(cases.images, dtype=np.float32)),
                       torch.from_numpy(np.asarray(cases.masks, dtype=bool)), op, op_full, meta,
                       info={"modality": "CT proxy", "views": op.num_angles,
                             "full_views": full_views, "sparsity": sparsity})  # fmt: skip


def _scale(sino: torch.Tensor, op: RadonOp) -> torch.Tensor:
    """Per-case scale ``(B,)``: RMS magnitude of the FBP of the case's own data."""
    rms = op.fbp(sino).abs().square().mean(dim=(-2, -1)).sqrt()
    return rms.clamp_min(torch.finfo(rms.dtype).tiny)


def _normalised_output(
    model: nn.Module, sino: torch.Tensor, op: RadonOp, op_full: RadonOp
) -> tuple[torch.Tensor, torch.Tensor]:
    scale = _scale(sino, op)
    out = model(sino / scale.view(-1, 1, 1).to(sino.real.dtype), op, op_full)
    return out, scale


def model_method(model: nn.Module) -> Method:
    """A trained network as a method (input normalised, output scaled back), run on the
    network's device."""

    def run(s: SinogramSet, idx: Sequence[int]) -> torch.Tensor:
        dev = next(model.parameters()).device
        out, scale = _normalised_output(model, s.sino[list(idx)].to(dev), s.op, s.op_full)
        return (out * scale.view(-1, 1, 1).to(out.real.dtype)).cpu()

    return run


def fbp_method() -> Method:
    """Filtered back-projection of the sparse sinogram (the trivial answer)."""
    return lambda s, idx: s.op.fbp(s.sino[list(idx)])


def gridding_method() -> Method:
    """Density-compensated NUFFT gridding of the radial k-space (MRI only)."""

    def run(s: SinogramSet, idx: Sequence[int]) -> torch.Tensor:
        if s.nufft is None or s.samples is None:
            raise ValueError(f"{s.label}: gridding needs radial k-space (MRI sets only)")
        return s.nufft.gridding_recon(s.samples[list(idx)])

    return run


def cs_method(lam: float, iters: int) -> Method:
    """L1-wavelet CS with the radial NUFFT (MRI) on the normalised data, weight ``lam``."""

    def run(s: SinogramSet, idx: Sequence[int]) -> torch.Tensor:
        if s.nufft is None or s.samples is None:
            raise ValueError(f"{s.label}: NUFFT CS needs radial k-space (MRI sets only)")
        y = s.samples[list(idx)]
        scale = s.nufft.gridding_recon(y).abs().square().mean(dim=(-2, -1)).sqrt()
        scale = scale.clamp_min(1e-30).view(-1, 1, 1)
        return l1_wavelet_recon(y / scale, s.nufft, lam=lam, num_iters=iters) * scale

    return run


def evaluate(
    method: Method, s: SinogramSet, *, name: str, seed: int = -1, budget: int = 0,
    batch_size: int = 8, keep: int = 0,
) -> tuple[list[dict[str, Any]], np.ndarray]:  # fmt: skip
    """Rows (setting, method, seed, budget, case, unit, group, metrics, time_s) of ``method`` on
    every case of ``s``, slice-normalised magnitudes; and the first ``keep`` reconstructions."""
    preds, times = [], []
    with torch.no_grad():
        for start in range(0, len(s), batch_size):
            idx = list(range(start, min(len(s), start + batch_size)))
            t0 = time.perf_counter()
            preds.append(method(s, idx).abs().float())
            times += [(time.perf_counter() - t0) / len(idx)] * len(idx)
    pred = torch.cat(preds).numpy()
    res = metrics.evaluate(pred, s.target.abs().numpy(), protocol="slice_normalised",
                           mask=s.masks.numpy())  # fmt: skip
    res = {k.replace("_mask", "_brain"): v for k, v in res.items()}
    rows = [
        {"setting": s.label, "method": name, "seed": int(seed), "budget": int(budget),
         "case": c, "unit": u, "group": g, **{m: float(res[m][j]) for m in METRICS},
         "time_s": times[j]}
        for j, (c, u, g) in enumerate(s.meta)
    ]  # fmt: skip
    return rows, pred[:keep]


def tune_cs(
    s: SinogramSet, grid: Sequence[float], *, iters: int, max_widen: int = 6
) -> tuple[float, list[dict[str, float]]]:
    """The CS weight with the best mean brain SSIM on ``s`` (validation cases), the grid widened
    by its outer ratio until the best weight is interior (at most ``max_widen`` times)."""
    values = sorted(float(v) for v in grid)
    if len(values) < 2 or values[0] <= 0:
        raise ValueError(f"grid needs at least two positive weights, got {list(grid)}")
    scores: dict[float, float] = {}

    def score(lam: float) -> float:
        if lam not in scores:
            rows, _ = evaluate(cs_method(lam, iters), s, name="CS")
            scores[lam] = float(np.mean([r["ssim_brain"] for r in rows]))
        return scores[lam]

    for _ in range(max_widen + 1):
        best = max(values, key=score)
        if values[0] < best < values[-1]:
            break
        if best == values[0]:
            values.insert(0, values[0] ** 2 / values[1])
        else:
            values.append(values[-1] ** 2 / values[-2])
    best = max(values, key=score)
    return best, [{"lam": v, "score": score(v), "chosen": v == best} for v in values]


def _loss(model: nn.Module, batch: tuple[Any, ...]) -> torch.Tensor:
    sino, target, op, op_full = batch
    out, scale = _normalised_output(model, sino, op, op_full)
    return (out.abs() - target.abs() / scale.view(-1, 1, 1)).abs().mean()


def train_sinogram_model(
    model: nn.Module, sets: Sequence[SinogramSet], *, steps: int, batch_size: int, lr: float,
    seed: int, device: str | torch.device = "cpu", scheduler: str | None = None,
    val_fn: Callable[[nn.Module], float] | None = None, val_every: int | None = None,
    on_step: dict[int, Callable[[nn.Module], Any]] | None = None, grad_clip: float | None = 1.0,
) -> training.History:  # fmt: skip
    """Adam on the L1 loss between magnitudes (normalised units); each step draws one of
    ``sets`` (a setting) and ``batch_size`` of its cases from a seeded generator."""
    if not sets:
        raise ValueError("no training sets")
    training.seed_everything(seed)

    def batches(step: int, gen: torch.Generator) -> tuple[Any, ...]:
        s = sets[int(torch.randint(len(sets), (1,), generator=gen))]
        idx = sorted(int(i) for i in torch.randperm(len(s), generator=gen)[:batch_size])
        return s.sino[idx], s.target[idx], s.op, s.op_full

    return training.fit(model, batches, _loss, steps=steps, lr=lr, device=device, amp=False,
                        grad_clip=grad_clip, progress=False, seed=seed, val_fn=val_fn,
                        val_every=val_every, on_step=on_step, scheduler=scheduler)  # fmt: skip


def validation_fn(sets: Sequence[SinogramSet]) -> Callable[[nn.Module], float]:
    """``fn(model)``: mean brain SSIM over the validation sets."""

    def fn(model: nn.Module) -> float:
        vals = [r["ssim_brain"] for s in sets for r in evaluate(model_method(model), s,
                                                                name="val")[0]]  # fmt: skip
        return float(np.mean(vals))

    return fn


def split_cases(split: str, image_size: int, n: int | None = None) -> CaseSet:
    """The embedded ``split`` (``"train"``, ``"val"``) as cases with their 128 x 128 objects
    (each slice its own unit: the training side never enters the statistics)."""
    sl = load_slices(split)
    k = len(sl.names) if n is None else min(n, len(sl.names))
    return CaseSet.from_objects(sl.images[:k], sl.masks[:k], image_size, sl.names[:k],
                                sl.names[:k], [split] * k)  # fmt: skip


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def match_lpd(budget: int, **fixed: Any) -> tuple[dict[str, Any], int]:
    """The :class:`RadonLPD` width (``hidden``, with ``fixed`` structure) closest to ``budget``
    parameters: ``(overrides, parameters)``."""
    best: tuple[dict[str, Any], int] | None = None
    for hidden in range(2, 257):
        with torch.device("meta"):
            n = count_parameters(RadonLPD(hidden=hidden, **fixed))
        if best is None or abs(n - budget) < abs(best[1] - budget):
            best = ({**fixed, "hidden": hidden}, n)
        if n > budget:
            break
    assert best is not None
    return best


@dataclass
class TrainedSeeds:
    """One network trained over seeds: models, curves, rows (full and half budget), histories."""

    name: str
    models: dict[int, nn.Module] = field(default_factory=dict)
    curves: list[claims.Curve] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    histories: dict[int, training.History] = field(default_factory=dict)


def train_seeds(
    name: str, factory: Callable[[], nn.Module], train: Sequence[SinogramSet],
    tests: Sequence[SinogramSet], *, seeds: Sequence[int], steps: int, batch_size: int,
    lr: float, val: Sequence[SinogramSet], val_every: int, half_labels: Sequence[str] = (),
    scheduler: str | None = None, device: str | torch.device = "cpu",
) -> TrainedSeeds:  # fmt: skip
    """Train ``factory()`` once per seed on ``train``; evaluate on every test set at the full
    budget and on the ``half_labels`` sets at half the budget; validation SSIM every
    ``val_every`` steps."""
    out = TrainedSeeds(name)
    half = steps // 2
    at_half = [s for s in tests if s.label in half_labels]
    for seed in seeds:
        training.seed_everything(seed)
        model = factory()
        snap = {}
        if at_half and half >= 1:
            snap = {half: lambda m, s=seed: [r for t in at_half for r in evaluate(
                model_method(m), t, name=name, seed=s, budget=half)[0]]}  # fmt: skip
        hist = train_sinogram_model(model, train, steps=steps, batch_size=batch_size, lr=lr,
                                    seed=seed, device=device, scheduler=scheduler,
                                    val_fn=validation_fn(val), val_every=val_every,
                                    on_step=snap)  # fmt: skip
        model.eval()
        for t in tests:
            out.rows += evaluate(model_method(model), t, name=name, seed=seed, budget=steps)[0]
        out.rows += hist.snapshots.get(half, [])
        out.models[seed], out.histories[seed] = model, hist
        out.curves.append(claims.Curve.from_history(name, seed, hist, val_metric="ssim_brain"))
    return out
