"""MR signal equations and a table of tissue parameters (T1, T2, T2*, PD, ADC) at 1.5 T and 3 T.

The equations are the textbook steady-state magnitudes (Bernstein, King, Zhou, *Handbook of MRI
Pulse Sequences*, Elsevier 2004; Haacke et al., *Magnetic Resonance Imaging: Physical Principles
and Sequence Design*, Wiley 1999). They broadcast over torch tensors of any shape (voxels), so a
whole parameter map becomes an image in one call. Units: times in milliseconds, flip angle in
degrees, ADC in mm^2/s, b-value in s/mm^2; signals are in units of proton density.

Tissue values (:data:`TISSUES`):

- Grey and white matter at 3 T, in vivo: Wansapura et al., "NMR relaxation times in the human
  brain at 3.0 tesla", JMRI 9:531-538 (1999): T1 GM 1331 ms, WM 832 ms; T2 GM 110 ms, WM 80 ms.
- Grey and white matter at 1.5 T: round in-vivo values (T1 GM 1200 ms, WM 790 ms; T2 GM 100 ms,
  WM 80 ms) inside the spread reported across studies; Stanisz et al., MRM 54:507-512 (2005)
  (tissue samples at 37 C, 1.5 and 3 T) and the review of Bojorquez et al., MRI 35:69-80 (2017)
  show how wide that spread is. Only the orderings (T1 and T2: CSF > GM > WM) are tested.
- CSF T1 about 4.3 s, nearly independent of field: Rooney et al., "Magnetic field and tissue
  dependencies of human brain longitudinal 1H2O relaxation in vivo", MRM 57:308-318 (2007).
  CSF T2 about 2 s (a round literature value; reported values spread between about 1.5 and 2.5 s).
- Proton density (water content relative to CSF): WM about 0.69-0.71, GM about 0.80-0.82
  (Tofts (ed.), *Quantitative MRI of the Brain*, Wiley 2003, ch. 4).
- Subcutaneous fat (the scalp layer) T1 343/382 ms and T2 58/68 ms at 1.5/3 T: Gold et al.,
  "Musculoskeletal MRI at 3.0 T: relaxation times and image contrast", AJR 183:343-351 (2004).
- Cortical bone (skull): almost no MR-visible signal (T2 well below 1 ms); modelled as low PD with
  a short T2, so it is dark on every conventional sequence.
- ADC: free water at body temperature about 3.0e-3 mm^2/s (CSF), WM about 0.7e-3, GM about 0.8e-3.
- Lesions (necrosis, enhancing tumour, oedema, subacute and chronic infarct) are *illustrative*
  values set from their qualitative appearance in the radiology literature (oedema and infarct
  prolong T1 and T2; a chronic infarct becomes fluid-like tissue loss with a high ADC; necrosis
  is fluid-like), not measurements.
- Acute ischaemic infarct (about a day after onset, as vasogenic oedema develops): ADC lowered by
  roughly 40 % (0.45e-3 mm^2/s, below the low-ADC threshold that delineates acute lesions in
  Siemonsen et al., "Quantitative T2 values predict time from symptom onset in acute stroke
  patients", Stroke 40:1612-1616, 2009); T2 prolonged: it rises by about 1.4-1.9 ms per hour in
  ADC-defined lesions at 3 T over the first 9 hours (Damion et al., Phys. Med. Biol. 64:095016,
  2019) and T2-weighted and FLAIR signal keep rising over the first days while the ADC stays low
  (Lansberg et al., AJNR 22:637-644, 2001), so about 30 ms above grey matter at one day (3 T:
  140 ms; 1.5 T: 130 ms); T1 prolonged with the water uptake (quantitative T1 of ischaemic tissue
  rises with time from onset alongside T2: McGarry et al., J. Vis. Exp. 127:55277, 2017, in rats),
  here about 12 % above grey matter, and PD raised a few percent by the oedema. Acute lesions are
  therefore bright on DWI, T2 and FLAIR, and faint (slightly dark) on T1-weighted images.
- Gadolinium shortens T1 as ``1/T1' = 1/T1 + r1 C`` with relaxivity ``r1`` about 4 /(mM s) at
  1.5-3 T for gadobutrol-like agents (Rohrer et al., Invest. Radiol. 40:715-724, 2005).

T2* is taken as a fixed fraction of T2 per tissue (no susceptibility model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = [
    "FIELDS_T",
    "TISSUES",
    "Sequence",
    "TissueParams",
    "diffusion_weighting",
    "flair_null_ti",
    "gradient_echo",
    "inversion_recovery",
    "signal",
    "spin_echo",
    "t1_with_contrast_agent",
    "tissue_table",
]

FIELDS_T = (1.5, 3.0)
GD_R1_PER_MM_S = 4.0  # relaxivity of a gadobutrol-like agent, 1/(mM s)


@dataclass(frozen=True)
class TissueParams:
    """Relaxation and diffusion parameters of one tissue at one field strength.

    Attributes:
        t1_ms: longitudinal relaxation time in ms.
        t2_ms: transverse relaxation time in ms.
        pd: proton density relative to CSF (CSF = 1).
        adc: apparent diffusion coefficient in mm^2/s.
        t2s_ms: effective transverse relaxation time T2* in ms.
    """

    t1_ms: float
    t2_ms: float
    pd: float
    adc: float
    t2s_ms: float


def _tp(t1: float, t2: float, pd: float, adc: float, t2s_frac: float = 0.7) -> TissueParams:
    return TissueParams(t1, t2, pd, adc, t2 * t2s_frac)


# field strength (T) -> tissue name -> parameters; sources in the module docstring.
TISSUES: dict[float, dict[str, TissueParams]] = {
    1.5: {
        "background": _tp(1000.0, 1.0, 0.0, 0.0),
        "csf": _tp(4300.0, 2000.0, 1.0, 3.0e-3),
        "gm": _tp(1200.0, 100.0, 0.81, 0.8e-3),
        "wm": _tp(790.0, 80.0, 0.70, 0.7e-3),
        "skull": _tp(300.0, 2.0, 0.05, 0.1e-3),
        "scalp": _tp(343.0, 58.0, 0.90, 0.05e-3),
        "necrosis": _tp(3000.0, 400.0, 0.95, 2.2e-3),
        "enhancing": _tp(1400.0, 110.0, 0.85, 1.0e-3),
        "oedema": _tp(1300.0, 140.0, 0.85, 1.3e-3),
        "stroke_acute": _tp(1350.0, 130.0, 0.86, 0.45e-3),
        "stroke_subacute": _tp(1350.0, 180.0, 0.86, 0.9e-3),
        "stroke_chronic": _tp(2500.0, 450.0, 0.92, 2.0e-3),
    },
    3.0: {
        "background": _tp(1000.0, 1.0, 0.0, 0.0),
        "csf": _tp(4300.0, 1800.0, 1.0, 3.0e-3),
        "gm": _tp(1331.0, 110.0, 0.81, 0.8e-3),
        "wm": _tp(832.0, 80.0, 0.70, 0.7e-3),
        "skull": _tp(350.0, 2.0, 0.05, 0.1e-3),
        "scalp": _tp(382.0, 68.0, 0.90, 0.05e-3),
        "necrosis": _tp(3500.0, 380.0, 0.95, 2.2e-3),
        "enhancing": _tp(1500.0, 120.0, 0.85, 1.0e-3),
        "oedema": _tp(1500.0, 150.0, 0.85, 1.3e-3),
        "stroke_acute": _tp(1500.0, 140.0, 0.86, 0.45e-3),
        "stroke_subacute": _tp(1500.0, 190.0, 0.86, 0.9e-3),
        "stroke_chronic": _tp(3000.0, 420.0, 0.92, 2.0e-3),
    },
}


def tissue_table(field_t: float) -> dict[str, TissueParams]:
    """The tissue parameters at ``field_t`` tesla (1.5 or 3.0)."""
    key = float(field_t)
    if key not in TISSUES:
        raise ValueError(f"field_t must be one of {FIELDS_T}, got {field_t}")
    return TISSUES[key]


def _positive(name: str, value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of ms, got {value}")
    return float(value)


def spin_echo(
    pd: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor, *, tr: float, te: float
) -> torch.Tensor:
    """Spin echo with a 90-degree excitation: ``PD (1 - exp(-TR/T1)) exp(-TE/T2)``.

    Short TR and TE give T1 weighting, long TR and TE T2 weighting, long TR and short TE proton
    density weighting. ``TE << TR`` is assumed (refocusing pulse recovery ignored).
    """
    tr, te = _positive("tr", tr), _positive("te", te)
    return pd * (1.0 - torch.exp(-tr / t1)) * torch.exp(-te / t2)


def inversion_recovery(
    pd: torch.Tensor, t1: torch.Tensor, t2: torch.Tensor, *, tr: float, te: float, ti: float
) -> torch.Tensor:
    """Inversion recovery spin echo (magnitude).

    ``PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2)``.

    With ``TI`` from :func:`flair_null_ti` for CSF this is FLAIR (fluid suppressed); with a short
    ``TI`` it is STIR (fat suppressed).
    """
    tr, te, ti = _positive("tr", tr), _positive("te", te), _positive("ti", ti)
    if ti >= tr:
        raise ValueError(f"ti must be shorter than tr, got ti={ti}, tr={tr}")
    mz = 1.0 - 2.0 * torch.exp(-ti / t1) + torch.exp(-tr / t1)
    return pd * mz.abs() * torch.exp(-te / t2)


def gradient_echo(
    pd: torch.Tensor,
    t1: torch.Tensor,
    t2s: torch.Tensor,
    *,
    tr: float,
    te: float,
    flip_deg: float,
) -> torch.Tensor:
    """Spoiled gradient echo (FLASH) steady state, Ernst equation times ``exp(-TE/T2*)``.

    ``PD sin(a) (1 - E1) / (1 - cos(a) E1) exp(-TE/T2*)`` with ``E1 = exp(-TR/T1)``: a large flip
    angle with a short TR weights T1, a small flip angle proton density.
    """
    tr, te = _positive("tr", tr), _positive("te", te)
    if not 0 < flip_deg <= 180:
        raise ValueError(f"flip_deg must lie in (0, 180], got {flip_deg}")
    a = math.radians(flip_deg)
    e1 = torch.exp(-tr / t1)
    return pd * math.sin(a) * (1.0 - e1) / (1.0 - math.cos(a) * e1) * torch.exp(-te / t2s)


def diffusion_weighting(adc: torch.Tensor, *, b: float) -> torch.Tensor:
    """The diffusion attenuation ``exp(-b ADC)`` (``b`` in s/mm^2, ADC in mm^2/s)."""
    if not math.isfinite(b) or b < 0:
        raise ValueError(f"b must be a non-negative number of s/mm^2, got {b}")
    return torch.exp(-b * adc)


def t1_with_contrast_agent(
    t1: torch.Tensor, concentration_mm: torch.Tensor | float, *, r1: float = GD_R1_PER_MM_S
) -> torch.Tensor:
    """T1 (ms) after a gadolinium agent at ``concentration_mm`` (mM): ``1/T1' = 1/T1 + r1 C``."""
    return 1.0 / (1.0 / t1 + r1 * 1e-3 * concentration_mm)


def flair_null_ti(t1_ms: float, tr_ms: float) -> float:
    """The inversion time that nulls a tissue of ``t1_ms`` at repetition ``tr_ms`` (magnitude IR).

    ``TI = T1 ln(2 / (1 + exp(-TR/T1)))``, which tends to ``T1 ln 2`` for ``TR >> T1``.
    """
    t1_ms, tr_ms = _positive("t1_ms", t1_ms), _positive("tr_ms", tr_ms)
    return t1_ms * math.log(2.0 / (1.0 + math.exp(-tr_ms / t1_ms)))


@dataclass(frozen=True)
class Sequence:
    """One acquisition: which equation, and its timing.

    Attributes:
        kind: ``"se"`` (spin echo), ``"ir"`` (inversion recovery), ``"gre"`` (spoiled gradient
            echo) or ``"dwi"`` (spin-echo EPI with diffusion weighting ``b``).
        tr: repetition time in ms.
        te: echo time in ms.
        ti: inversion time in ms (``"ir"`` only).
        flip_deg: flip angle in degrees (``"gre"`` only).
        b: diffusion weighting in s/mm^2 (``"dwi"`` only).
    """

    kind: str
    tr: float
    te: float
    ti: float = 0.0
    flip_deg: float = 90.0
    b: float = 0.0


def signal(
    seq: Sequence,
    *,
    pd: torch.Tensor,
    t1: torch.Tensor,
    t2: torch.Tensor,
    t2s: torch.Tensor | None = None,
    adc: torch.Tensor | None = None,
) -> torch.Tensor:
    """The magnitude signal of ``seq`` for parameter maps of any (common) shape."""
    if seq.kind == "se":
        return spin_echo(pd, t1, t2, tr=seq.tr, te=seq.te)
    if seq.kind == "ir":
        return inversion_recovery(pd, t1, t2, tr=seq.tr, te=seq.te, ti=seq.ti)
    if seq.kind == "gre":
        return gradient_echo(
            pd, t1, t2 if t2s is None else t2s, tr=seq.tr, te=seq.te, flip_deg=seq.flip_deg
        )
    if seq.kind == "dwi":
        if adc is None:
            raise ValueError("a 'dwi' sequence needs the adc map")
        return spin_echo(pd, t1, t2, tr=seq.tr, te=seq.te) * diffusion_weighting(adc, b=seq.b)
    raise ValueError(f"unknown sequence kind {seq.kind!r}; expected se, ir, gre or dwi")
