"""k-t sampling of dynamic (2D+t) Cartesian MRI, and the multi-frame SENSE operator.

A dynamic series has ``T`` frames (cardiac phases, or the echoes of a multi-echo scan) of the
same slice; each frame samples phase-encode lines ``ky`` (the last dimension ``W``) of its own.
Layouts: multi-frame coil k-space complex ``(B, C, T, H, W)`` (DC at ``(H // 2, W // 2)`` in every
frame), images complex ``(B, T, H, W)``, coil maps ``(B, C, H, W)`` (the same in every frame);
masks real 0/1 ``(B or 1, 1, T or 1, H or 1, W)`` (a k-t line mask is ``(1, 1, T, 1, W)``, a 2D
mask shared by every frame ``(1, 1, 1, H, W)``). Acceleration is *realised*: lines in the
``T x W`` grid over lines sampled.

Patterns (:class:`KtSampling`, every random one seeded):

* ``vd_kt``: variable density per frame (Lustig et al., k-t SPARSE, MRM 2007; Otazo et al., L+S,
  MRM 2015): ``center`` central lines in every frame, the rest drawn without replacement with a
  density that falls with ``|ky|``, a new draw per frame (incoherent in k-t).
* ``equispaced_kt``: every ``R``-th line plus ``acs`` fully sampled central lines in every frame,
  either the same lines in every frame (``fixed``: the CMRxRecon masks, "fixed among
  different sc, sz and t", 24 ACS lines at 4x/8x/10x) or shifted by one line per frame
  (``interleaved``: a sheared k-t lattice, as in k-t BLAST/SENSE). ``R`` is the nominal factor of
  the challenge (``AccFactor08`` = every 8th line plus the ACS); the realised acceleration is
  lower and is what :func:`realised_kt_acceleration` reports.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from mricompendium.physics.fft import fft2c, ifft2c

__all__ = [
    "KT_PATTERNS",
    "KtSampling",
    "KtSenseOp",
    "equispaced_kt_mask",
    "frame_average",
    "mean_lines",
    "realised_kt_acceleration",
    "variable_density_kt_mask",
]

KT_PATTERNS = ("vd_kt", "equispaced_kt")


def _centre(width: int, n: int) -> slice:
    start = (width - n + 1) // 2
    return slice(start, start + n)


def _check(frames: int, width: int) -> None:
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be an int >= 1, got {frames!r}")
    if not isinstance(width, int) or width < 4:
        raise ValueError(f"width must be an int >= 4, got {width!r}")


def variable_density_kt_mask(
    frames: int,
    width: int,
    *,
    acceleration: float,
    center: int = 2,
    decay: float = 2.0,
    seed: int = 0,
) -> torch.Tensor:
    """Variable-density random phase-encode lines, a new draw in every frame.

    Each frame samples exactly ``round(width / acceleration)`` lines: the ``center`` central
    lines, and the others without replacement with probability proportional to
    ``(1 - |k|)^decay`` (``|k|`` the distance from the centre, 1 at the edge), so low
    frequencies are sampled more often and every frame's lines differ.

    Returns:
        float32 mask ``(1, 1, frames, 1, width)``.
    """
    _check(frames, width)
    if not acceleration > 1:
        raise ValueError(f"acceleration must be > 1, got {acceleration}")
    per = int(round(width / acceleration))
    if not 0 <= center <= per or per < 1:
        raise ValueError(f"center ({center}) must be within the {per} lines of a frame")
    if decay < 0:
        raise ValueError(f"decay must be >= 0, got {decay}")
    gen = torch.Generator().manual_seed(int(seed))
    k = (torch.arange(width, dtype=torch.float64) - width // 2).abs() / (width / 2)
    weight = (1 - k).clamp_min(1e-3) ** decay
    mask = torch.zeros(frames, width)
    for t in range(frames):
        mask[t, _centre(width, center)] = 1
        free = weight * (1 - mask[t].double())
        if per > center:
            mask[t, torch.multinomial(free, per - center, generator=gen)] = 1
    return mask.view(1, 1, frames, 1, width)


def equispaced_kt_mask(
    frames: int,
    width: int,
    *,
    step: int,
    acs: int,
    interleaved: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Every ``step``-th phase-encode line plus ``acs`` central lines in every frame.

    The seed picks the offset of the lattice in ``[0, step)``; ``interleaved`` shifts it by one
    line per frame (sheared k-t lattice), otherwise every frame samples the same lines.

    Returns:
        float32 mask ``(1, 1, frames, 1, width)``.
    """
    _check(frames, width)
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be an int >= 1, got {step!r}")
    if not 0 <= acs <= width:
        raise ValueError(f"acs must be in [0, {width}], got {acs}")
    gen = torch.Generator().manual_seed(int(seed))
    offset = int(torch.randint(step, (1,), generator=gen))
    mask = torch.zeros(frames, width)
    for t in range(frames):
        start = (offset + (t if interleaved else 0)) % step
        mask[t, start::step] = 1
        mask[t, _centre(width, acs)] = 1
    return mask.view(1, 1, frames, 1, width)


def realised_kt_acceleration(mask: torch.Tensor) -> float:
    """Samples of the full k-t grid over samples taken (a line mask counts lines)."""
    sampled = float(mask.sum())
    if sampled <= 0:
        raise ValueError("mask samples nothing")
    return mask.numel() / sampled


@dataclass(frozen=True)
class KtSampling:
    """A k-t undersampling setting.

    Attributes:
        pattern: ``"vd_kt"`` or ``"equispaced_kt"``.
        acceleration: ``vd_kt``: realised acceleration per frame (> 1); ``equispaced_kt``: the
            nominal step ``R`` (an integer >= 1; the ACS lines come on top).
        acs: central lines sampled in every frame (``vd_kt`` default 2; ``equispaced_kt``
            default ``max(2, round(0.1 W))``, the CMRxRecon proportion: 24 of about 246 lines).
        interleaved: ``equispaced_kt`` only: shift the lattice by one line per frame.
    """

    pattern: str
    acceleration: float
    acs: int | None = None
    interleaved: bool = False

    def __post_init__(self) -> None:
        if self.pattern not in KT_PATTERNS:
            raise ValueError(f"pattern must be one of {KT_PATTERNS}, got {self.pattern!r}")
        acc = float(self.acceleration)
        if self.pattern == "vd_kt" and not acc > 1:
            raise ValueError(f"vd_kt acceleration must be > 1, got {acc}")
        if self.pattern == "equispaced_kt" and (acc < 1 or not acc.is_integer()):
            raise ValueError(f"equispaced_kt needs an integer step >= 1, got {acc}")
        if self.acs is not None and self.acs < 0:
            raise ValueError(f"acs must be >= 0, got {self.acs}")
        object.__setattr__(self, "acceleration", acc)

    @classmethod
    def parse(cls, text: str | KtSampling) -> KtSampling:
        """``"vd_kt@8"``, ``"equispaced_kt@10,acs=6"``, ``"equispaced_kt@4,interleaved"``."""
        if isinstance(text, KtSampling):
            return text
        if not isinstance(text, str) or "@" not in text:
            raise ValueError(f"expected 'pattern@acceleration' such as 'vd_kt@8', got {text!r}")
        head, *options = [p.strip() for p in text.split(",")]
        pattern, _, acc = head.partition("@")
        kwargs: dict[str, int | bool] = {}
        for opt in options:
            key, _, value = opt.partition("=")
            if key == "acs" and value.isdigit():
                kwargs["acs"] = int(value)
            elif key == "interleaved" and not value:
                kwargs["interleaved"] = True
            else:
                raise ValueError(f"unknown k-t option {opt!r} in {text!r} (acs=N, interleaved)")
        try:
            acceleration = float(acc.rstrip("x"))
        except ValueError as e:
            raise ValueError(f"cannot read the acceleration in {text!r}") from e
        return cls(pattern.strip(), acceleration, **kwargs)  # type: ignore[arg-type]

    def __str__(self) -> str:
        opts = ([f"acs={self.acs}"] if self.acs is not None else []) + (
            ["interleaved"] if self.interleaved else []
        )
        return ",".join([f"{self.pattern}@{self.acceleration:g}", *opts])

    @property
    def label(self) -> str:
        """``"k-t variable density 8x"`` or ``"equispaced ky R=8 + ACS"``."""
        if self.pattern == "vd_kt":
            return f"k-t variable density {self.acceleration:g}x"
        return f"equispaced ky R={self.acceleration:g} + ACS" + (
            " (interleaved)" if self.interleaved else ""
        )

    def acs_lines(self, width: int) -> int:
        """Central lines sampled in every frame at this width."""
        if self.acs is not None:
            return self.acs
        return 2 if self.pattern == "vd_kt" else max(2, round(0.1 * width))

    def make_mask(self, frames: int, width: int, seed: int) -> torch.Tensor:
        """Float32 mask ``(1, 1, frames, 1, width)`` (cached per arguments)."""
        return _cached(self, int(frames), int(width), int(seed)).clone()


@functools.lru_cache(maxsize=4096)
def _cached(sampling: KtSampling, frames: int, width: int, seed: int) -> torch.Tensor:
    acs = sampling.acs_lines(width)
    if sampling.pattern == "vd_kt":
        return variable_density_kt_mask(frames, width, acceleration=sampling.acceleration,
                                        center=acs, seed=seed)  # fmt: skip
    return equispaced_kt_mask(frames, width, step=int(sampling.acceleration), acs=acs,
                              interleaved=sampling.interleaved, seed=seed)  # fmt: skip


class KtSenseOp:
    """Multi-frame masked SENSE: ``A x = M F (S x_t)`` for every frame ``t``, and its adjoint.

    ``F`` is :func:`~mricompendium.physics.fft.fft2c`. For even ``H`` and ``W`` the centring
    (a checkerboard sign on both sides of the plain FFT) is folded into the maps and the mask
    once, so each application costs one FFT and two products; the result is the same.

    Args:
        maps: complex coil maps ``(B, C, H, W)`` (the same in every frame).
        mask: real 0/1 mask broadcastable to ``(B, C, T, H, W)``.
    """

    def __init__(self, maps: torch.Tensor, mask: torch.Tensor) -> None:
        if not torch.is_complex(maps) or maps.dim() != 4:
            raise ValueError(f"maps must be complex (B, C, H, W), got {maps.dtype} {maps.shape}")
        if torch.is_complex(mask) or mask.dim() != 5 or mask.shape[1] != 1:
            raise ValueError(f"mask must be real (B, 1, T, H|1, W), got {tuple(mask.shape)}")
        h, w = maps.shape[-2:]
        self.maps = maps.unsqueeze(2)  # (B, C, 1, H, W)
        self.mask = mask.to(maps.real.dtype)
        self._even = h % 2 == 0 and w % 2 == 0
        if self._even:
            i = torch.arange(h, device=maps.device)[:, None]
            j = torch.arange(w, device=maps.device)[None, :]
            c = (1 - 2 * ((i + j) % 2)).to(maps.real.dtype)
            sign = -1.0 if (h // 2 + w // 2) % 2 else 1.0
            self._maps = self.maps * c
            full = (*mask.shape[:3], h, w)
            self._mask = (self.mask * (sign * c)).expand(full).contiguous()

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, T, H, W)`` -> masked coil k-space ``(B, C, T, H, W)``."""
        if self._even:
            return self._mask * torch.fft.fft2(self._maps * x.unsqueeze(1), norm="ortho")
        return self.mask * fft2c(self.maps * x.unsqueeze(1))

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Coil k-space ``(B, C, T, H, W)`` -> images ``(B, T, H, W)``."""
        if self._even:
            return (self._maps.conj() * torch.fft.ifft2(self._mask * y, norm="ortho")).sum(dim=1)
        return (self.maps.conj() * ifft2c(self.mask * y)).sum(dim=1)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``."""
        return self.A_adjoint(self.A(x))


def frame_average(kspace: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-averaged k-space ``(B, C, H, W)`` (each sample over the frames that took it) and its
    union mask ``(B or 1, 1, H or 1, W)``: the calibration data of k-t methods."""
    m = mask.to(kspace.real.dtype)
    count = m.sum(dim=2)
    avg = kspace.sum(dim=2) / count.clamp_min(1)
    return avg, (count > 0).to(kspace.real.dtype)


def mean_lines(mask: torch.Tensor) -> float:
    """Mean number of sampled lines per frame of a line mask ``(B, 1, T, 1, W)``."""
    return float(mask.sum()) / math.prod(mask.shape[:-1])
