"""Object-space transforms: rotation, shift, flip and cutout of the object before k-space exists.

A transform acts on a slice on its object grid (the finer grid the k-space simulator measures
from, :mod:`mricompendium.data.recon.simulate`) and on its mask, so the k-space of a transformed
case is simulated from the transformed object, exactly as the untransformed case's is: nothing is
interpolated on the reconstruction grid, and the reference comes from the same object as the data.

Deterministic transforms (:class:`Identity`, :class:`Rotation`, :class:`Shift`, :class:`Flip`,
:class:`Cutout`, :class:`Compose`) take their parameters explicitly. As in torchio, a random
transform (:class:`RandomRotation`, :class:`RandomShift`, :class:`RandomFlip`,
:class:`RandomCutout`) samples those parameters from a generator and returns the deterministic
transform; an :class:`Augmenter` composes random transforms, draws one transform per case from a
per-case seed, and states the ranges it draws (:meth:`Augmenter.bounds`), so that a test
transform can be shown to lie outside them (:func:`outside`).

Conventions: images ``(H, W)`` float (magnitudes, zero outside the object), masks ``(H, W)``
bool. Rotation angles in degrees, counter-clockwise as displayed (row 0 at the top), about the
grid centre; shifts and cutout positions in fractions of the field of view. Interpolation is a
cubic spline for images (clipped at zero: magnitudes) and linear for masks (kept where >= 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from scipy import ndimage

from mricompendium.data.build import FOV_MM
from mricompendium.data.recon.batches import case_seed
from mricompendium.data.recon.cases import CaseSet

__all__ = [
    "Augmenter",
    "Bounds",
    "Compose",
    "EMBEDDED_VARIATION",
    "Cutout",
    "Flip",
    "Identity",
    "RandomCutout",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "Rotation",
    "Shift",
    "Transform",
    "augment_cases",
    "outside",
    "round_trip_error",
    "transform_cases",
]

FLIP_AXES = ("ud", "lr")  # up-down (anterior-posterior on axial slices), left-right


@runtime_checkable
class Transform(Protocol):
    """A deterministic object-space transform."""

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...

    @property
    def label(self) -> str: ...


def _check_2d(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image, mask = np.asarray(image, dtype=np.float64), np.asarray(mask).astype(bool)
    if image.ndim != 2 or image.shape != mask.shape:
        raise ValueError(f"image and mask must be (H, W) of one shape, got {image.shape}, "
                         f"{mask.shape}")  # fmt: skip
    return image, mask


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


@dataclass(frozen=True)
class Identity:
    """No change (the clean case)."""

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _check_2d(image, mask)
        return image.copy(), mask.copy()

    @property
    def label(self) -> str:
        return "identity"


@dataclass(frozen=True)
class Rotation:
    """In-plane rotation about the grid centre by ``degrees`` (counter-clockwise as displayed)."""

    degrees: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "degrees", _finite("degrees", self.degrees))

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _check_2d(image, mask)
        if self.degrees % 360 == 0:
            return image.copy(), mask.copy()
        kw = {"reshape": False, "mode": "constant", "cval": 0.0}
        out = ndimage.rotate(image, self.degrees, order=3, **kw)
        m = ndimage.rotate(mask.astype(np.float64), self.degrees, order=1, **kw)
        return np.clip(out, 0.0, None), m >= 0.5

    @property
    def label(self) -> str:
        return f"rotation {self.degrees:+g} deg"


@dataclass(frozen=True)
class Shift:
    """Translation by ``(rows, cols)`` fractions of the field of view (content leaving the field
    of view is lost; zeros come in)."""

    rows: float
    cols: float

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = _finite(name, getattr(self, name))
            if abs(value) >= 1:
                raise ValueError(f"{name} must be a fraction of the field of view in (-1, 1)")
            object.__setattr__(self, name, value)

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _check_2d(image, mask)
        h, w = image.shape
        by = (self.rows * h, self.cols * w)
        out = ndimage.shift(image, by, order=3, mode="constant", cval=0.0)
        m = ndimage.shift(mask.astype(np.float64), by, order=1, mode="constant", cval=0.0)
        return np.clip(out, 0.0, None), m >= 0.5

    @property
    def label(self) -> str:
        return f"shift ({self.rows:+.3g}, {self.cols:+.3g}) FOV"


@dataclass(frozen=True)
class Flip:
    """Mirror along ``axis``: ``"ud"`` (rows reversed) or ``"lr"`` (columns reversed). Exact."""

    axis: str

    def __post_init__(self) -> None:
        if self.axis not in FLIP_AXES:
            raise ValueError(f"axis must be one of {FLIP_AXES}, got {self.axis!r}")

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _check_2d(image, mask)
        ax = 0 if self.axis == "ud" else 1
        return np.flip(image, axis=ax).copy(), np.flip(mask, axis=ax).copy()

    @property
    def label(self) -> str:
        return f"flip {self.axis}"


@dataclass(frozen=True)
class Cutout:
    """A square of side ``size`` (fraction of the field of view) centred at ``(row, col)``
    (fractions, 0.5 = centre) set to ``value`` in the object; the mask is kept, so the metrics
    still cover the region the hole was cut from."""

    row: float
    col: float
    size: float
    value: float = 0.0

    def __post_init__(self) -> None:
        for name in ("row", "col", "size", "value"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        if not 0 < self.size < 1 or not (0 <= self.row <= 1 and 0 <= self.col <= 1):
            raise ValueError("size must be in (0, 1) and (row, col) in [0, 1]")
        if self.value < 0:
            raise ValueError(f"value must be >= 0 (a magnitude), got {self.value}")

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        image, mask = _check_2d(image, mask)
        h, w = image.shape
        r = (np.arange(h) + 0.5) / h
        c = (np.arange(w) + 0.5) / w
        inside = (np.abs(r - self.row)[:, None] <= self.size / 2) & (
            np.abs(c - self.col)[None, :] <= self.size / 2
        )
        out = image.copy()
        out[inside] = self.value
        return out, mask.copy()

    @property
    def label(self) -> str:
        return f"cutout {self.size:.3g} at ({self.row:.2f}, {self.col:.2f})"


@dataclass(frozen=True)
class Compose:
    """The transforms one after the other (first item first)."""

    parts: tuple[Transform, ...]

    def apply(self, image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = _check_2d(image, mask)
        for t in self.parts:
            out = t.apply(*out)
        return out

    @property
    def label(self) -> str:
        return " + ".join(t.label for t in self.parts) or "identity"


@dataclass(frozen=True)
class Bounds:
    """What a generator of training data draws, per kind: the largest rotation (degrees, either
    side), the largest shift (FOV fraction, per axis), the flip axes and the largest cutout side
    (0: never)."""

    rotation: float = 0.0
    shift: float = 0.0
    flips: frozenset[str] = field(default_factory=frozenset)
    cutout: float = 0.0

    def __add__(self, other: Bounds) -> Bounds:
        """Bounds of the two generators applied one after the other."""
        return Bounds(self.rotation + other.rotation, self.shift + other.shift,
                      self.flips | other.flips, max(self.cutout, other.cutout))  # fmt: skip


EMBEDDED_VARIATION = Bounds(rotation=5.0, shift=3.0 / FOV_MM)
"""What the embedded training slices already vary by (:func:`~mricompendium.data.embedded.
sample_variation`: rotation within 5 degrees, shift within 3 mm of the 208-mm field of view):
every training generator draws at least this."""


def outside(t: Transform, bounds: Bounds) -> bool:
    """Whether ``t`` lies outside what a generator with ``bounds`` draws: a kind it never draws,
    or a parameter beyond its range (a composition is outside when any part is)."""
    if isinstance(t, Compose):
        return any(outside(p, bounds) for p in t.parts)
    if isinstance(t, Identity):
        return False
    if isinstance(t, Rotation):
        return abs(((t.degrees + 180) % 360) - 180) > bounds.rotation
    if isinstance(t, Shift):
        return max(abs(t.rows), abs(t.cols)) > bounds.shift
    if isinstance(t, Flip):
        return t.axis not in bounds.flips
    if isinstance(t, Cutout):
        return t.size > bounds.cutout
    raise TypeError(f"unknown transform {type(t).__name__}")


@dataclass(frozen=True)
class RandomRotation:
    """Rotation by an angle drawn uniformly in ``degrees`` = (lo, hi)."""

    degrees: tuple[float, float]

    def __post_init__(self) -> None:
        lo, hi = (_finite("degrees", d) for d in self.degrees)
        if not lo <= hi:
            raise ValueError(f"degrees must be (lo, hi) with lo <= hi, got {self.degrees}")
        object.__setattr__(self, "degrees", (lo, hi))

    def sample(self, rng: np.random.Generator) -> Rotation:
        return Rotation(float(rng.uniform(*self.degrees)))

    def bounds(self) -> Bounds:
        return Bounds(rotation=max(abs(d) for d in self.degrees))


@dataclass(frozen=True)
class RandomShift:
    """Shift by fractions of the field of view drawn uniformly in ``[-max_fraction,
    max_fraction]`` per axis."""

    max_fraction: float

    def __post_init__(self) -> None:
        if not 0 <= _finite("max_fraction", self.max_fraction) < 1:
            raise ValueError(f"max_fraction must be in [0, 1), got {self.max_fraction}")

    def sample(self, rng: np.random.Generator) -> Shift:
        m = self.max_fraction
        return Shift(float(rng.uniform(-m, m)), float(rng.uniform(-m, m)))

    def bounds(self) -> Bounds:
        return Bounds(shift=self.max_fraction)


@dataclass(frozen=True)
class RandomFlip:
    """A flip along one of ``axes`` (chosen uniformly) with probability ``p``, else identity."""

    axes: tuple[str, ...] = ("lr",)
    p: float = 0.5

    def __post_init__(self) -> None:
        if not self.axes or any(a not in FLIP_AXES for a in self.axes):
            raise ValueError(f"axes must be a non-empty subset of {FLIP_AXES}, got {self.axes}")
        if not 0 <= _finite("p", self.p) <= 1:
            raise ValueError(f"p must be in [0, 1], got {self.p}")

    def sample(self, rng: np.random.Generator) -> Flip | Identity:
        flip, axis = rng.uniform() < self.p, self.axes[int(rng.integers(len(self.axes)))]
        return Flip(axis) if flip else Identity()

    def bounds(self) -> Bounds:
        return Bounds(flips=frozenset(self.axes) if self.p > 0 else frozenset())


@dataclass(frozen=True)
class RandomCutout:
    """A cutout of side drawn in ``size`` = (lo, hi) at a centre drawn in ``[margin, 1 -
    margin]`` per axis."""

    size: tuple[float, float]
    margin: float = 0.25

    def __post_init__(self) -> None:
        lo, hi = (_finite("size", s) for s in self.size)
        if not 0 < lo <= hi < 1 or not 0 <= self.margin < 0.5:
            raise ValueError(f"need 0 < size lo <= hi < 1 and margin in [0, 0.5), got "
                             f"{self.size}, {self.margin}")  # fmt: skip
        object.__setattr__(self, "size", (lo, hi))

    def sample(self, rng: np.random.Generator) -> Cutout:
        lo, hi = self.margin, 1 - self.margin
        return Cutout(float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)),
                      float(rng.uniform(*self.size)))  # fmt: skip

    def bounds(self) -> Bounds:
        return Bounds(cutout=self.size[1])


RandomTransform = RandomRotation | RandomShift | RandomFlip | RandomCutout


@dataclass(frozen=True)
class Augmenter:
    """Random transforms applied one after the other; one draw per case from its own seed.

    Args:
        parts: the random transforms, in order.
    """

    parts: tuple[RandomTransform, ...]

    def sample(self, rng: np.random.Generator) -> Compose:
        """One deterministic transform: a draw of every part, composed."""
        return Compose(tuple(p.sample(rng) for p in self.parts))

    def draw(self, seed: int, index: int) -> Compose:
        """Case ``index``'s transform under ``seed`` (the same whatever else is drawn)."""
        return self.sample(np.random.default_rng(case_seed(seed, index, 61)))

    def bounds(self) -> Bounds:
        """What it draws, summed over its parts."""
        out = Bounds()
        for p in self.parts:
            out = out + p.bounds()
        return out


def _per_case(transforms: Transform | Sequence[Transform], n: int) -> list[Transform]:
    if isinstance(transforms, Transform):
        return [transforms] * n
    out = list(transforms)
    if len(out) != n:
        raise ValueError(f"need one transform per case ({n}), got {len(out)}")
    return out


def transform_cases(cases: CaseSet, transforms: Transform | Sequence[Transform]) -> CaseSet:
    """The cases with each object (and its mask) transformed on the object grid.

    The reconstruction-grid images and masks are derived again from the transformed objects as
    :meth:`CaseSet.from_objects` derives them, so an :class:`Identity` gives the cases back
    unchanged. Ids, units and groups are kept (a transformed case is the same test case, seen
    differently).

    Raises:
        ValueError: the cases have no objects, or a transform leaves a mask empty.
    """
    if cases.objects is None or cases.object_masks is None:
        raise ValueError("transform_cases needs cases with objects (the object grid)")
    ts = _per_case(transforms, len(cases))
    pairs = [t.apply(o, m) for t, o, m in zip(ts, cases.objects, cases.object_masks, strict=True)]
    objects = np.stack([p[0] for p in pairs]).astype(np.float32)
    masks = np.stack([p[1] for p in pairs])
    size = int(cases.images.shape[-1])
    out = CaseSet.from_objects(objects, masks, size, cases.case, cases.unit, cases.group)
    empty = [c for c, m in zip(out.case, out.masks, strict=True) if not m.any()]
    if empty:
        raise ValueError(f"the transform leaves the masks of {empty[:3]} empty (too large?)")
    return out


def augment_cases(cases: CaseSet, augmenter: Augmenter, *, copies: int, seed: int) -> CaseSet:
    """``copies`` random draws of ``augmenter`` for every case (case ``i``, copy ``k`` drawn
    from ``(seed, k * N + i)``), as new cases named ``<case>~a<k>`` in the case's unit."""
    if not isinstance(copies, int) or copies < 1:
        raise ValueError(f"copies must be a positive int, got {copies!r}")
    n = len(cases)
    sets = []
    for k in range(copies):
        drawn = [augmenter.draw(seed, k * n + i) for i in range(n)]
        t = transform_cases(cases, drawn)
        sets.append(CaseSet(t.images, t.masks, [f"{c}~a{k}" for c in t.case], t.unit, t.group,
                            t.objects, t.object_masks))  # fmt: skip
    return CaseSet.concat(*sets)


def round_trip_error(cases: CaseSet, degrees: float) -> float:
    """What interpolation on the object grid costs at the reconstruction grid: the mean absolute
    difference, inside the masks, between the cases and the cases rotated by ``degrees`` and
    back (two interpolations), relative to the mean magnitude there."""
    back = transform_cases(transform_cases(cases, Rotation(degrees)), Rotation(-degrees))
    inside = cases.masks & back.masks
    return float(np.abs(back.images - cases.images)[inside].mean() / cases.images[inside].mean())
