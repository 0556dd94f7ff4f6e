"""A two-echo steady-state (qDESS-like) signal model and the echo-ratio T2 estimate.

Double-echo steady state (DESS) acquires two echoes per repetition: the first (S+, FISP-like)
weighted mostly by T1 and proton density, the second (S-, PSIF-like) further attenuated by T2
over about two repetitions and by diffusion in the unbalanced spoiler gradient. Their ratio
gives T2 in closed form (Sveinsson, Chaudhari, Gold and Hargreaves, "A simple analytic method for
estimating T2 in the knee from DESS", MRI 38:63-70, 2017; the SKM-TEA data set's T2 maps).

Here, a simplified model of that kind (ours, not DOSMA's exact equation):

* echo 1: ``S1 = PD sin(a) (1 - E1) / (1 - cos(a) E1) exp(-TE / T2)`` with ``E1 = exp(-TR/T1)``
  and ``a = B1 * flip`` (the flip angle the tissue sees);
* echo 2: ``S2 = S1 k(a, T1) exp(-2 (TR - TE) / T2) exp(-b ADC)`` with the ratio factor
  ``k(a, T1) = sin^2(a/2) (1 + E1) / (1 - cos(a) E1)``;
* the estimate :func:`t2_from_echoes` inverts the ratio **assuming** the nominal flip angle
  (B1 = 1), one T1 for every tissue and one diffusivity (``adc_assumed``; 0: no diffusion term),
  as DOSMA's qDESS fit assumes a tissue T1 and a diffusivity but no B1 map: the simulator's exact
  model is not the fit's, so the T2 map is biased where B1, T1 or the diffusivity differ from
  the assumption, as in a real qDESS T2 map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["QDessProtocol", "qdess_echoes", "ratio_factor", "t2_from_echoes"]


@dataclass(frozen=True)
class QDessProtocol:
    """Timing of the two-echo acquisition and the fit's assumptions.

    Attributes:
        tr_ms, te_ms: repetition and first echo time (ms), ``TE < TR``.
        flip_deg: nominal flip angle (degrees).
        b_s_mm2: diffusion weighting of the second echo (s/mm^2) in the simulator.
        t1_assumed_ms: the single T1 the fit assumes for every tissue.
        adc_assumed: the single diffusivity (mm^2/s) the fit assumes (its second echo's
            ``exp(-b ADC)`` term); 0: the fit ignores diffusion.
        t2_max_ms: estimates are clipped to ``[1, t2_max_ms]``.
    """

    tr_ms: float = 20.0
    te_ms: float = 6.0
    flip_deg: float = 20.0
    b_s_mm2: float = 20.0
    t1_assumed_ms: float = 1200.0
    t2_max_ms: float = 1000.0
    adc_assumed: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.te_ms < self.tr_ms:
            raise ValueError(f"need 0 < te_ms < tr_ms, got {self.te_ms}, {self.tr_ms}")
        if not 0 < self.flip_deg < 90:
            raise ValueError(f"flip_deg must be in (0, 90), got {self.flip_deg}")
        if self.b_s_mm2 < 0 or self.t1_assumed_ms <= 0 or self.t2_max_ms <= 1:
            raise ValueError("b_s_mm2 >= 0, t1_assumed_ms > 0 and t2_max_ms > 1 are needed")
        if not 0 <= self.adc_assumed < 0.1:
            raise ValueError(f"adc_assumed must be in [0, 0.1) mm^2/s, got {self.adc_assumed}")


def ratio_factor(flip_rad: torch.Tensor | float, t1_ms: torch.Tensor | float, tr_ms: float):
    """``k(a, T1) = sin^2(a/2) (1 + E1) / (1 - cos(a) E1)``, the T2-free part of S2/S1."""
    a = torch.as_tensor(flip_rad, dtype=torch.float64)
    e1 = torch.exp(-tr_ms / torch.as_tensor(t1_ms, dtype=torch.float64))
    return torch.sin(a / 2) ** 2 * (1 + e1) / (1 - torch.cos(a) * e1)


def qdess_echoes(
    pd: torch.Tensor,
    t1_ms: torch.Tensor,
    t2_ms: torch.Tensor,
    adc: torch.Tensor,
    *,
    protocol: QDessProtocol,
    b1: torch.Tensor | float = 1.0,
) -> torch.Tensor:
    """The two echo magnitudes of tissue maps of any common shape ``S`` -> ``(2, *S)``."""
    p = protocol
    a = math.radians(p.flip_deg) * torch.as_tensor(b1, dtype=torch.float64)
    t1 = t1_ms.double()
    e1 = torch.exp(-p.tr_ms / t1)
    s1 = pd.double() * torch.sin(a) * (1 - e1) / (1 - torch.cos(a) * e1)
    s1 = s1 * torch.exp(-p.te_ms / t2_ms.double())
    decay = torch.exp(-2 * (p.tr_ms - p.te_ms) / t2_ms.double()) * torch.exp(-p.b_s_mm2 * adc)
    s2 = s1 * ratio_factor(a, t1, p.tr_ms) * decay
    return torch.stack([s1, s2]).float()


def t2_from_echoes(
    echo1: torch.Tensor, echo2: torch.Tensor, *, protocol: QDessProtocol, eps: float = 1e-6
) -> torch.Tensor:
    """T2 (ms) from the echo ratio, assuming the nominal flip, ``t1_assumed_ms`` and
    ``adc_assumed``.

    ``T2 = -2 (TR - TE) / ln((S2 / S1) / (k(flip, T1_assumed) exp(-b ADC_assumed)))``; where the
    ratio is not in ``(0, k)`` (noise, background) the estimate is clipped to ``[1, t2_max_ms]``.
    """
    p = protocol
    e1, e2 = echo1.abs().double(), echo2.abs().double()
    k = ratio_factor(math.radians(p.flip_deg), p.t1_assumed_ms, p.tr_ms)
    k = k * math.exp(-p.b_s_mm2 * p.adc_assumed)
    r = (e2 / e1.clamp_min(eps)) / k
    r = r.clamp(min=eps, max=1 - eps)
    t2 = -2 * (p.tr_ms - p.te_ms) / torch.log(r)
    return t2.clamp(1.0, p.t2_max_ms).float()
