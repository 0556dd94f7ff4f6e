"""Perturbed acquisitions: noise and motion applied to reconstruction batches (tests, training).

A :class:`Perturbation` is one kind and level of corruption of an acquisition; its random draws
(shot phases and poses, noise) come from a per-case seed, so every method sees the same
corrupted data. :func:`perturb_batch` applies it to a
:class:`~mricompendium.data.recon.batches.ReconBatch` (what a training augmenter can do: only
k-space kinds), :class:`PerturbedSource` to every batch of a source (what a test setting does:
for a :class:`~mricompendium.data.recon.simulate.KspaceSimulator` a rotation is measured again
from the object on its fine grid, :func:`~mricompendium.physics.perturb.rigid_motion_kspace`).
:class:`PerturbationRange` is a training augmenter's distribution: it samples perturbations and
says whether a test perturbation lies inside what it draws (:meth:`PerturbationRange.outside`).

Noise level. ``noise`` is the standard deviation of each of the real and imaginary parts of the
added noise, per sampled k-space value, relative to the root-mean-square magnitude of the
unperturbed batch's zero-filled image: the unit in which the reconstruction protocol normalises
every input (:func:`mricompendium.experiments.reconstruction.input_scale`), computed from the
data alone, so a training augmenter on undersampled-only data and a test setting use one scale.
The coil maps of a perturbed batch are estimated again from its perturbed calibration region, as
they would be from a corrupted acquisition.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mricompendium.data.recon.batches import ReconBatch, case_seed
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.masks import Sampling
from mricompendium.physics.perturb import (
    ORDERS,
    add_kspace_noise,
    coil_covariance,
    rigid_motion_kspace,
    shot_of_line,
    shot_phase_error,
    translation_phase,
)

__all__ = ["Perturbation", "PerturbationRange", "PerturbedSource", "perturb_batch"]

_PURPOSE_NOISE, _PURPOSE_MOTION = 41, 42


@dataclass(frozen=True)
class Perturbation:
    """One corruption of an acquisition (all zero: none).

    Attributes:
        noise: added noise level (see the module docstring), >= 0.
        coil_correlation: neighbouring-coil noise correlation in ``[0, 1)``; 0 is white noise.
        gain_spread: log-standard deviation of the per-coil noise levels (correlated noise).
        phase_alpha: constant phase error per shot, uniform in ``[-pi a, pi a]`` (the papers'
            k-space motion model), >= 0.
        max_shift: rigid translation per shot, uniform in ``[-m, m]`` pixels of the
            reconstruction grid along each axis, >= 0.
        max_rotation: rigid rotation per shot, uniform in ``[-r, r]`` degrees, >= 0.
        shots: shots the lines are acquired in (see
            :func:`~mricompendium.physics.perturb.shot_of_line`).
        order: ``"interleaved"`` or ``"sequential"`` lines per shot.

    Rigid motion keeps the shot that acquires the k-space centre still (the reference pose of
    the target); the phase errors of all shots are drawn, as the papers' model does.
    """

    noise: float = 0.0
    coil_correlation: float = 0.0
    gain_spread: float = 0.0
    phase_alpha: float = 0.0
    max_shift: float = 0.0
    max_rotation: float = 0.0
    shots: int = 2
    order: str = "interleaved"

    def __post_init__(self) -> None:
        for name in ("noise", "gain_spread", "phase_alpha", "max_shift", "max_rotation"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"Perturbation.{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.coil_correlation < 1:
            raise ValueError(f"coil_correlation must be in [0, 1), got {self.coil_correlation}")
        if not isinstance(self.shots, int) or self.shots < 1:
            raise ValueError(f"shots must be an int >= 1, got {self.shots!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")

    @property
    def correlated(self) -> bool:
        return self.noise > 0 and (self.coil_correlation > 0 or self.gain_spread > 0)

    @property
    def kinds(self) -> frozenset[str]:
        """What it does: ``white noise``, ``correlated noise``, ``shot phase``, ``translation``,
        ``rotation``."""
        out = set()
        if self.noise > 0:
            out.add("correlated noise" if self.correlated else "white noise")
        for name, kind in (("phase_alpha", "shot phase"), ("max_shift", "translation"),
                           ("max_rotation", "rotation")):  # fmt: skip
            if getattr(self, name) > 0:
                out.add(kind)
        return frozenset(out)

    def describe(self) -> str:
        """One phrase, generated from the fields."""
        parts = []
        if self.noise > 0:
            coils = (f"coil-correlated (neighbour correlation {self.coil_correlation:g}, gain "
                     f"spread {self.gain_spread:g}) " if self.correlated else "white ")  # fmt: skip
            parts.append(f"{coils}noise at level {self.noise:g}")
        motion = []
        if self.phase_alpha > 0:
            motion.append(f"phase errors up to {self.phase_alpha:g} pi")
        if self.max_shift > 0:
            motion.append(f"translations up to {self.max_shift:g} px")
        if self.max_rotation > 0:
            motion.append(f"rotations up to {self.max_rotation:g} deg")
        if motion:
            parts.append(" and ".join(motion) + f" per shot ({self.shots} {self.order} shots)")
        return "; ".join(parts) if parts else "no perturbation"

    def draw_motion(self, width: int, seed: int) -> dict[str, torch.Tensor]:
        """The per-shot phases ``(S,)``, rotations ``(S,)`` radians and shifts ``(S, 2)`` px of
        one case, from ``seed``; the rigid pose of the centre line's shot is zero."""
        gen = torch.Generator().manual_seed(int(seed))
        s = self.shots
        u = torch.rand(4, s, generator=gen, dtype=torch.float64) * 2 - 1
        still = int(shot_of_line(width, s, order=self.order)[width // 2])
        angles = u[1] * math.radians(self.max_rotation)
        shifts = u[2:].T * self.max_shift
        angles[still], shifts[still] = 0.0, 0.0
        return {"phases": u[0] * math.pi * self.phase_alpha, "angles": angles, "shifts": shifts}


def _zero_filled_rms(batch: ReconBatch) -> torch.Tensor:
    """RMS magnitude of the zero-filled image per case ``(B,)`` (the protocol's input scale)."""
    rms = batch.zero_filled().abs().square().mean(dim=(-2, -1)).sqrt()
    return rms.clamp_min(torch.finfo(rms.dtype).tiny)


def perturb_batch(
    batch: ReconBatch,
    perturbation: Perturbation,
    seeds: Sequence[int],
    *,
    motion_delta: torch.Tensor | None = None,
) -> ReconBatch:
    """``batch`` with ``perturbation`` applied to its k-space, and maps estimated again.

    Motion first (shot phases; a rigid motion as ``motion_delta`` measured on the object grid,
    or, without it, a translation as a linear phase), then noise on the sampled positions.

    Args:
        batch: a Cartesian batch.
        perturbation: what to apply.
        seeds: one per case (its noise and motion draws).
        motion_delta: fully sampled k-space change ``(B, C, H, W)`` a rigid motion makes
            (from :class:`PerturbedSource`); needed for rotations.
    """
    if batch.mask is None:
        raise ValueError("perturbations are defined for Cartesian batches only")
    b, c, h, w = batch.kspace.shape
    if len(seeds) != b:
        raise ValueError(f"need {b} seeds, got {len(seeds)}")
    p = perturbation
    k, mask = batch.kspace, batch.mask.to(batch.kspace.real.dtype)
    draws = [p.draw_motion(w, case_seed(s, _PURPOSE_MOTION)) for s in seeds]
    shots = shot_of_line(w, p.shots, order=p.order)
    if motion_delta is not None:
        k = k + motion_delta.to(k.device) * mask
    elif p.max_rotation > 0:
        raise ValueError(
            "a rotation is measured from the object: use PerturbedSource on a simulator"
        )
    elif p.max_shift > 0:
        shifts = torch.stack([d["shifts"] for d in draws]).to(k.device)
        k = k * translation_phase((h, w), shifts, shots).to(k.device)
    if p.phase_alpha > 0:
        k = shot_phase_error(k, shots, torch.stack([d["phases"] for d in draws]))
    if p.noise > 0:
        sigma = p.noise * _zero_filled_rms(batch)
        noise_seeds = [case_seed(s, _PURPOSE_NOISE) for s in seeds]
        cov = None
        if p.correlated:
            gen = torch.Generator().manual_seed(noise_seeds[0])
            cov = coil_covariance(c, correlation=p.coil_correlation, gain_spread=p.gain_spread,
                                  generator=gen)  # fmt: skip
        k = add_kspace_noise(k, mask, sigma, covariance=cov, seeds=noise_seeds)
    maps = estimate_sensitivities(k, batch.mask) if c > 1 else batch.maps
    return dataclasses.replace(batch, kspace=k, maps=maps)


@dataclass(frozen=True)
class PerturbationRange:
    """A training augmenter's distribution over perturbations (k-space kinds only).

    Each kind with a range is applied with probability ``p`` and its level drawn uniformly in
    its range (one level per batch; the per-case draws follow the case seeds).

    Attributes:
        noise: range of the white-noise level, or ``None``.
        phase_alpha: range of the per-shot phase-error amplitude, or ``None``.
        shots: shots of the phase-error model; order: their line order.
        p: probability of applying each kind.
    """

    noise: tuple[float, float] | None = None
    phase_alpha: tuple[float, float] | None = None
    shots: int = 2
    order: str = "interleaved"
    p: float = 0.5

    def __post_init__(self) -> None:
        for name in ("noise", "phase_alpha"):
            r = getattr(self, name)
            if r is not None and not (len(r) == 2 and 0 <= r[0] <= r[1]):
                raise ValueError(f"PerturbationRange.{name} must be (lo, hi) with 0 <= lo <= hi")
        if self.noise is None and self.phase_alpha is None:
            raise ValueError("a PerturbationRange needs a noise or a phase_alpha range")
        if not 0 < self.p <= 1:
            raise ValueError(f"p must be in (0, 1], got {self.p}")
        Perturbation(shots=self.shots, order=self.order)  # validates them

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(
            k for k, r in (("white noise", self.noise), ("shot phase", self.phase_alpha)) if r
        )

    def sample(self, generator: torch.Generator) -> Perturbation:
        """One perturbation: each kind present with probability ``p``, level uniform in range."""
        u = torch.rand(4, generator=generator, dtype=torch.float64).tolist()
        noise = alpha = 0.0
        if self.noise is not None and u[0] < self.p:
            noise = self.noise[0] + (self.noise[1] - self.noise[0]) * u[1]
        if self.phase_alpha is not None and u[2] < self.p:
            alpha = self.phase_alpha[0] + (self.phase_alpha[1] - self.phase_alpha[0]) * u[3]
        return Perturbation(noise=noise, phase_alpha=alpha, shots=self.shots, order=self.order)

    def outside(self, perturbation: Perturbation) -> list[str]:
        """Why ``perturbation`` is not something this augmenter draws (empty: it is).

        A kind the augmenter never applies, a level beyond its range, or another shot
        structure each count."""
        p, reasons = perturbation, []
        for kind in sorted(p.kinds - self.kinds):
            reasons.append(f"{kind}: a kind the augmenter never draws")
        for name, kind, level in (("noise", "white noise", p.noise),
                                  ("phase_alpha", "shot phase", p.phase_alpha)):  # fmt: skip
            r = getattr(self, name)
            if kind in p.kinds and r is not None and not r[0] <= level <= r[1]:
                reasons.append(
                    f"{kind} level {level:g} outside the training range [{r[0]:g}, {r[1]:g}]"
                )
        if "shot phase" in p.kinds and (p.shots, p.order) != (self.shots, self.order):
            reasons.append(
                f"{p.shots} {p.order} shots, not the augmenter's {self.shots} {self.order}"
            )
        return reasons


class PerturbedSource:
    """A k-space source whose every batch is perturbed (a test setting's data).

    Args:
        source: a :class:`~mricompendium.data.recon.simulate.KspaceSimulator` (any
            perturbation) or another Cartesian source (k-space kinds only: no rotation).
        perturbation: what to apply; its draws follow ``case_seed(seed, index)`` of each
            batch's seed, so every method sees the same corrupted cases.
    """

    def __init__(self, source: Any, perturbation: Perturbation) -> None:
        if perturbation.max_rotation > 0 and not hasattr(source, "fine_objects"):
            raise ValueError(
                "a rotation is measured from the object: the source must be a simulator"
            )
        self.source, self.perturbation = source, perturbation
        self.device = source.device
        self._delta: dict[tuple[int, int, int], torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.source)

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.source.image_shape

    def _motion_delta(self, i: int, seed: int) -> torch.Tensor:
        """Case ``i``'s fully sampled k-space change under the rigid motion of ``seed``."""
        key = (i, seed, hash(self.perturbation))
        if key not in self._delta:
            p, (h, w) = self.perturbation, self.image_shape
            d = p.draw_motion(w, case_seed(seed, _PURPOSE_MOTION))
            obj, maps = self.source.fine_objects([i]), self.source.fine_coil_maps([i])
            shots = shot_of_line(w, p.shots, order=p.order)
            moved = rigid_motion_kspace(obj, maps, (h, w), angles=d["angles"][None].float(),
                                        shifts=d["shifts"][None].float(), shots=shots)  # fmt: skip
            zero = torch.zeros(1, p.shots, dtype=torch.float32)
            still = rigid_motion_kspace(obj, maps, (h, w), angles=zero,
                                        shifts=torch.zeros(1, p.shots, 2), shots=shots)  # fmt: skip
            self._delta[key] = (moved - still)[0]
        return self._delta[key]

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        sampling: Sampling | str,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> ReconBatch:
        """The source's batch, perturbed (see :func:`perturb_batch`)."""
        base = self.source.batch(indices, sampling, seed, mask_seed=mask_seed)
        idx = [int(i) for i in base.indices]
        seeds = [case_seed(seed, i, 40) for i in idx]
        p, delta = self.perturbation, None
        if p.max_rotation > 0 or (p.max_shift > 0 and hasattr(self.source, "fine_objects")):
            delta = torch.stack([self._motion_delta(i, s) for i, s in zip(idx, seeds, strict=True)])
        return perturb_batch(base, p, seeds, motion_delta=delta)
