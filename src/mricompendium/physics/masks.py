"""Undersampling: Cartesian 1D/2D masks, and :class:`Sampling`, a named setting (mask or radial).

Cartesian masks are float32 tensors of 0/1. 1D masks undersample the last (phase-encode) dimension
``W`` and have shape ``(1, 1, 1, W)``; 2D masks have shape ``(1, 1, H, W)``. Both broadcast against
multi-coil k-space ``(B, C, H, W)``. Acceleration is always *realised* acceleration: the number of
points of the full grid divided by the number of sampled points (for a 1D mask the grid is the ``W``
columns). Every random pattern takes a ``seed``; the same seed gives the same pattern.

Radial trajectories live in :mod:`mricompendium.physics.trajectories` (re-exported here);
:class:`Sampling` names either kind (``"poisson_2d@8"``, ``"radial@17"``) and makes its mask or
trajectory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.physics.trajectories import (
    GOLDEN_ANGLE,
    golden_angle_radial,
    radial_acceleration,
    spokes_for_acceleration,
)

__all__ = [
    "GOLDEN_ANGLE",
    "MIN_ACS",
    "PATTERNS",
    "Sampling",
    "equispaced_mask_1d",
    "gaussian_mask_2d",
    "golden_angle_radial",
    "poisson_disc_mask_2d",
    "radial_acceleration",
    "random_mask_1d",
    "realised_acceleration",
    "spokes_for_acceleration",
]


def _generator(seed: int | None) -> torch.Generator | None:
    return None if seed is None else torch.Generator().manual_seed(int(seed))


def _check_acceleration(acceleration: float) -> None:
    if not acceleration > 1.0:
        raise ValueError(f"acceleration must be > 1, got {acceleration}")


def _centre_and_total(width: int, acceleration: float, center_fraction: float) -> tuple[int, int]:
    """Number of fully sampled centre columns and total sampled columns of a 1D mask."""
    if width < 2:
        raise ValueError(f"width must be >= 2, got {width}")
    _check_acceleration(acceleration)
    if not 0.0 <= center_fraction < 1.0:
        raise ValueError(f"center_fraction must be in [0, 1), got {center_fraction}")
    num_low = int(round(width * center_fraction))
    total = int(round(width / acceleration))
    if num_low > total:
        raise ValueError(
            f"centre ({num_low} columns) exceeds the sampling budget round({width}/{acceleration})"
            f" = {total}; lower center_fraction or acceleration"
        )
    return num_low, total


def _centre_slice(width: int, num_low: int) -> slice:
    start = (width - num_low + 1) // 2
    return slice(start, start + num_low)


def _outer_columns(width: int, num_low: int) -> torch.Tensor:
    keep = torch.ones(width, dtype=torch.bool)
    keep[_centre_slice(width, num_low)] = False
    return torch.nonzero(keep).flatten()


def equispaced_mask_1d(
    width: int, *, acceleration: float, center_fraction: float, seed: int | None = None
) -> torch.Tensor:
    """Fully sampled centre plus equally spaced phase-encode lines (fastMRI-style).

    The mask samples exactly ``round(width / acceleration)`` columns, of which
    ``round(width * center_fraction)`` form the contiguous centre. The other lines are placed
    on the columns outside the centre with a constant real-valued step rounded down to a
    column, so neighbouring gaps differ by at most one column (they are exactly equal when the
    step is an integer). The seed picks the offset of the first line (offset 0 when ``None``).

    Returns:
        float32 mask ``(1, 1, 1, width)``.
    """
    num_low, total = _centre_and_total(width, acceleration, center_fraction)
    mask = torch.zeros(width, dtype=torch.float32)
    mask[_centre_slice(width, num_low)] = 1.0
    outer = _outer_columns(width, num_low)
    remaining = total - num_low
    if remaining > 0:
        step = outer.numel() / remaining
        gen = _generator(seed)
        offset = 0.0 if gen is None else float(torch.rand((), generator=gen)) * step
        pos = torch.floor(offset + step * torch.arange(remaining, dtype=torch.float64))
        mask[outer[pos.long()]] = 1.0
    return mask.view(1, 1, 1, width)


def random_mask_1d(
    width: int, *, acceleration: float, center_fraction: float, seed: int | None = None
) -> torch.Tensor:
    """Fully sampled centre plus uniformly random phase-encode lines (without replacement).

    Samples exactly ``round(width / acceleration)`` columns including the centre.

    Returns:
        float32 mask ``(1, 1, 1, width)``.
    """
    num_low, total = _centre_and_total(width, acceleration, center_fraction)
    mask = torch.zeros(width, dtype=torch.float32)
    mask[_centre_slice(width, num_low)] = 1.0
    outer = _outer_columns(width, num_low)
    perm = torch.randperm(outer.numel(), generator=_generator(seed))
    mask[outer[perm[: total - num_low]]] = 1.0
    return mask.view(1, 1, 1, width)


def _check_2d(shape: tuple[int, int], acceleration: float, calib: tuple[int, int]) -> int:
    if len(shape) != 2 or min(shape) < 2:
        raise ValueError(f"shape must be (H, W) with H, W >= 2, got {shape}")
    _check_acceleration(acceleration)
    h, w = shape
    if len(calib) != 2 or not (0 <= calib[0] <= h and 0 <= calib[1] <= w):
        raise ValueError(f"calib must be (ch, cw) within {shape}, got {calib}")
    total = int(round(h * w / acceleration))
    if calib[0] * calib[1] > total:
        raise ValueError(f"calibration region {calib} exceeds the budget of {total} samples")
    return total


def _calib_region(shape: tuple[int, int], calib: tuple[int, int]) -> torch.Tensor:
    region = torch.zeros(shape, dtype=torch.bool)
    region[_centre_slice(shape[0], calib[0]), _centre_slice(shape[1], calib[1])] = True
    return region


def _set_count(
    mask: torch.Tensor, calib: torch.Tensor, total: int, weight: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Remove random non-calibration samples, or add samples drawn from ``weight``, to hit total."""
    mask = mask | calib
    flat = mask.flatten().clone()
    surplus = int(flat.sum()) - total
    if surplus > 0:
        removable = torch.nonzero(flat & ~calib.flatten()).flatten()
        drop = removable[torch.randperm(removable.numel(), generator=gen)[:surplus]]
        flat[drop] = False
    elif surplus < 0:
        w = weight.flatten().double() * (~flat).double()
        flat[torch.multinomial(w, -surplus, replacement=False, generator=gen)] = True
    return flat.view(mask.shape)


def _radius_map(shape: tuple[int, int], calib: tuple[int, int]) -> torch.Tensor:
    """Normalised k-space radius outside the calibration box (0 inside), as in variable density."""
    axes = []
    for n, c in zip(shape, calib, strict=True):
        d = (torch.arange(n, dtype=torch.float64) - n / 2).abs() - c / 2
        d = d.clamp_min(0)
        axes.append(d / d.max().clamp_min(1e-12))
    return torch.sqrt(axes[0][:, None] ** 2 + axes[1][None, :] ** 2)


def _sigpy_poisson(
    shape: tuple[int, int], accel: float, calib: tuple[int, int], seed: int, tol: float
) -> np.ndarray:
    """``sigpy.mri.poisson``'s slope bisection, with its Poisson-disc kernel, but bounded.

    SigPy's own loop (``while slope_min < slope_max``) never ends when the two ends become
    neighbouring floats without meeting the tolerance, which happens for rare seeds. The same
    bisection, capped at 60 halvings, gives the same masks wherever SigPy's converges and raises
    ``ValueError`` where it would hang.
    """
    from sigpy.mri.samp import _poisson

    ny, nx = shape
    y, x = np.mgrid[:ny, :nx]
    x = np.maximum(abs(x - nx / 2) - calib[-1] / 2, 0)
    x /= x.max()
    y = np.maximum(abs(y - ny / 2) - calib[-2] / 2, 0)
    y /= y.max()
    r = np.sqrt(x**2 + y**2)
    lo, hi = 0.0, float(max(nx, ny))
    for _ in range(60):
        slope = (lo + hi) / 2
        radius_x = np.clip((1 + r * slope) * nx / max(nx, ny), 1, None)
        radius_y = np.clip((1 + r * slope) * ny / max(nx, ny), 1, None)
        mask = _poisson(nx, ny, 30, radius_x, radius_y, calib, seed) * (r < 1)
        actual = nx * ny / np.sum(mask)
        if abs(actual - accel) < tol:
            return mask.reshape(shape)
        lo, hi = (slope, hi) if actual < accel else (lo, slope)
    raise ValueError(f"cannot generate a Poisson-disc mask for acceleration {accel}")


def poisson_disc_mask_2d(
    shape: tuple[int, int],
    *,
    acceleration: float,
    calib: tuple[int, int] = (16, 16),
    seed: int | None = None,
) -> torch.Tensor:
    """Variable-density Poisson-disc 2D mask with a fully sampled calibration box.

    Backend: SigPy's Poisson-disc kernel (Bridson's algorithm, density ``1 / (1 + s r)``) in a
    bounded copy of ``sigpy.mri.poisson``'s slope search (:func:`_sigpy_poisson`), asked for a
    slightly denser pattern; random non-calibration samples are then removed (which keeps the
    minimum-distance property) so that exactly ``round(H * W / acceleration)`` points are sampled.

    Returns:
        float32 mask ``(1, 1, H, W)``.
    """
    total = _check_2d(shape, acceleration, calib)
    seed = 0 if seed is None else int(seed)
    gen = torch.Generator().manual_seed(seed)
    region = _calib_region(shape, calib)
    weight = 1.0 / (1.0 + 4.0 * _radius_map(shape, calib))
    sampled = None
    for request in (0.96, 0.93, 0.9):  # sigpy's bisection occasionally misses its tolerance
        try:
            arr = _sigpy_poisson(
                shape, acceleration * request, tuple(calib), seed, tol=0.02 * acceleration
            )
        except ValueError:
            continue
        sampled = torch.from_numpy(np.abs(arr) > 0)
        break
    if sampled is None:
        sampled = torch.zeros(shape, dtype=torch.bool)
    mask = _set_count(sampled, region, total, weight, gen)
    return mask.float().view(1, 1, *shape)


def gaussian_mask_2d(
    shape: tuple[int, int],
    *,
    acceleration: float,
    calib: tuple[int, int] = (16, 16),
    seed: int | None = None,
    sigma: float = 0.35,
) -> torch.Tensor:
    """Variable-density random 2D mask with Gaussian density and a fully sampled calibration box.

    Points outside the box are drawn without replacement with probability proportional to
    ``exp(-r^2 / (2 sigma^2))``, ``r`` the k-space radius normalised to 1 at the edge, until
    exactly ``round(H * W / acceleration)`` points are sampled.

    Returns:
        float32 mask ``(1, 1, H, W)``.
    """
    total = _check_2d(shape, acceleration, calib)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    gen = torch.Generator().manual_seed(0 if seed is None else int(seed))
    region = _calib_region(shape, calib)
    weight = torch.exp(-(_radius_map(shape, (0, 0)) ** 2) / (2 * sigma**2))
    mask = _set_count(torch.zeros(shape, dtype=torch.bool), region, total, weight, gen)
    return mask.float().view(1, 1, *shape)


def realised_acceleration(mask: torch.Tensor) -> float:
    """Points in the full grid / sampled points (``W / sum`` for a ``(1, 1, 1, W)`` mask)."""
    sampled = float(mask.sum())
    if sampled <= 0:
        raise ValueError("mask samples no points")
    return mask.numel() / sampled


# --- Named sampling settings ------------------------------------------------------------------

PATTERNS = ("equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d", "radial")
_LABELS = {
    "equispaced_1d": "1D equispaced",
    "random_1d": "1D random",
    "poisson_2d": "2D Poisson-disc",
    "gaussian_2d": "2D Gaussian",
    "radial": "golden-angle radial",
}
MIN_ACS = 4  # fewest calibration lines (1D) or box side (2D) a Cartesian mask keeps
READOUT_OVERSAMPLING = 2  # radial: samples per spoke = 2 x image width, as is usual


@dataclass(frozen=True)
class Sampling:
    """An undersampling setting: a pattern at a realised acceleration.

    Attributes:
        pattern: ``"equispaced_1d"``, ``"random_1d"`` (phase-encode lines, the last dimension W),
            ``"poisson_2d"``, ``"gaussian_2d"`` (2D variable density on the Cartesian grid) or
            ``"radial"`` (golden-angle spokes; acceleration = Nyquist spokes ``pi/2 W`` / spokes).
        acceleration: > 1.
        center_fraction: 1D only: fraction of columns fully sampled at the centre; default
            ``0.32 / acceleration`` (fastMRI's 0.08 at 4x, 0.04 at 8x), at least
            :data:`MIN_ACS` columns.
        calib: 2D only: side of the square calibration box in pixels; default
            ``max(MIN_ACS, round(min(H, W) / 8))`` (8x8 at 64x64).
    """

    pattern: str
    acceleration: float
    center_fraction: float | None = None
    calib: int | None = None

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}, got {self.pattern!r}")
        if not float(self.acceleration) > 1.0:
            raise ValueError(f"acceleration must be > 1, got {self.acceleration}")
        if self.center_fraction is not None and not 0.0 < self.center_fraction < 1.0:
            raise ValueError(f"center_fraction must be in (0, 1), got {self.center_fraction}")
        if self.calib is not None and self.calib < 1:
            raise ValueError(f"calib must be >= 1, got {self.calib}")
        object.__setattr__(self, "acceleration", float(self.acceleration))

    @classmethod
    def parse(cls, text: str | Sampling) -> Sampling:
        """Parse ``"pattern@acceleration"`` (``"equispaced_1d@4"``, ``"radial@17"``).

        Optional ``",cf=0.08"`` (1D centre fraction) or ``",calib=8"`` (2D box) may follow.
        A :class:`Sampling` is returned unchanged.
        """
        if isinstance(text, Sampling):
            return text
        if not isinstance(text, str) or "@" not in text:
            raise ValueError(
                f"expected 'pattern@acceleration' such as 'poisson_2d@8', got {text!r}"
            )
        head, *options = [part.strip() for part in text.split(",")]
        pattern, acc = (s.strip() for s in head.split("@", 1))
        kwargs: dict[str, float | int] = {}
        for opt in options:
            key, _, value = opt.partition("=")
            if key not in ("cf", "calib"):
                raise ValueError(f"unknown sampling option {opt!r} in {text!r} (cf=, calib=)")
            kwargs["center_fraction" if key == "cf" else "calib"] = (
                float(value) if key == "cf" else int(value)
            )
        try:
            acceleration = float(acc.rstrip("x"))
        except ValueError as e:
            raise ValueError(f"cannot read the acceleration in {text!r}") from e
        return cls(pattern, acceleration, **kwargs)  # type: ignore[arg-type]

    @property
    def is_radial(self) -> bool:
        """Whether this is a non-Cartesian (radial) setting."""
        return self.pattern == "radial"

    @property
    def is_2d(self) -> bool:
        """Whether the Cartesian mask is 2D ``(1, 1, H, W)`` rather than 1D ``(1, 1, 1, W)``."""
        return self.pattern.endswith("_2d")

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"1D equispaced 4x"``."""
        return f"{_LABELS[self.pattern]} {self.acceleration:g}x"

    def __str__(self) -> str:
        return f"{self.pattern}@{self.acceleration:g}"

    def make_mask(self, shape: tuple[int, int], seed: int) -> torch.Tensor:
        """Float32 0/1 mask ``(1, 1, 1, W)`` (1D) or ``(1, 1, H, W)`` (2D); cached per args."""
        if self.is_radial:
            raise ValueError(f"{self} is radial: use trajectory(), not make_mask()")
        return _cached_mask(self, (int(shape[0]), int(shape[1])), int(seed)).clone()

    def trajectory(self, shape: tuple[int, int], seed: int) -> torch.Tensor:
        """Radial only: golden-angle trajectory ``(K, 2)`` (see :func:`golden_angle_radial`).

        ``spokes_for_acceleration(acceleration, W)`` spokes of ``2 W`` samples, first spoke at a
        random angle drawn from ``seed``.
        """
        if not self.is_radial:
            raise ValueError(f"{self} is Cartesian: use make_mask(), not trajectory()")
        spokes = spokes_for_acceleration(self.acceleration, int(shape[1]))
        return golden_angle_radial(spokes, READOUT_OVERSAMPLING * int(shape[1]), seed=seed)


@functools.lru_cache(maxsize=4096)
def _cached_mask(sampling: Sampling, shape: tuple[int, int], seed: int) -> torch.Tensor:
    h, w = shape
    acc = sampling.acceleration
    if not sampling.is_2d:
        cf = sampling.center_fraction if sampling.center_fraction is not None else 0.32 / acc
        cf = min(max(cf, MIN_ACS / w), int(round(w / acc)) / w)
        fn = equispaced_mask_1d if sampling.pattern == "equispaced_1d" else random_mask_1d
        return fn(w, acceleration=acc, center_fraction=cf, seed=seed)
    side = sampling.calib if sampling.calib is not None else max(MIN_ACS, round(min(h, w) / 8))
    fn2 = poisson_disc_mask_2d if sampling.pattern == "poisson_2d" else gaussian_mask_2d
    return fn2((h, w), acceleration=acc, calib=(side, side), seed=seed)
