"""Biparametric prostate MRI pairs: a T2-weighted slice and a misaligned, distorted ADC map.

No prostate MRI ships offline, so this is a documented model of our own, analytic in continuous
coordinates (mm; an axial slice through the mid-gland, ``a`` anterior -> posterior along the
image rows, ``lr`` along the columns, origin at the image centre):

* **Anatomy** (the T2-weighted frame): pelvic fat with a smooth texture, two obturator internus
  muscles, the pubic bone, the prostate (an ellipse: transition zone anteriorly with nodular
  texture, peripheral zone around it, a thin dark capsule), the rectum behind it (a muscular
  wall around a lumen of gas or fluid) and one focal lesion, either clinically significant cancer
  (csPCa) or a benign mimic (prostatitis, a stromal nodule).
* **Tissue values**: proton density, T2 and ADC drawn per subject from literature-like ranges at
  3 T (:data:`TISSUES`). Cancers and mimics differ mainly in ADC (restricted diffusion) and a
  little in T2, with overlapping ranges: the class is in the images only through these values.
* **T2-weighted image**: spin echo ``PD exp(-TE / T2)`` (TE 100 ms) with 3x3 supersampling
  (partial volume) and Rician noise.
* **Diffusion**: two b-values on a grid ``dwi_factor`` times coarser, fat suppressed, with the
  echo-planar geometry. Each tissue sample is moved by the **misalignment** (a radial push from a
  change of rectal filling, then a rigid motion of the patient between the two series) and
  shifted along the phase-encode axis (the rows) by ``field / bandwidth``, the field being a
  susceptibility offset around rectal gas (the equatorial ``(R / r)^3`` field of a sphere), a
  global frequency offset and a linear shim gradient. Samples are pushed to where they land and
  their signal is summed into those pixels (pile-up where the distortion compresses), then
  Rician noise is added and the ADC map ``ln(S_lo / S_hi) / (b_hi - b_lo)`` is computed (0 where
  the low-b signal is below four noise sd) and resampled onto the T2 grid, as PI-CAI's
  preprocessing resamples ADC to the T2-weighted scan.
* **Labels** 1 peripheral zone, 2 transition zone, 3 lesion, 4 rectal wall, in the T2 frame and,
  pushed like the signal, in the diffusion frame on the T2 grid (paired lesion annotations).
* **Truth**: ``u(x) = F(x) - x`` in voxels, ``F`` the tissue -> diffusion-frame map, so that
  ``warp(adc, u)`` shows at ``x`` the tissue that lies at ``x`` in the T2-weighted image.

None of the misalignment's parts is a B-spline or a smooth random field: a rigid motion, an
analytic radial push, and a shift along one axis that follows a ``1 / r^3`` field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.data.registration.render import rician, splat, splat_labels, upsample_cells

__all__ = [
    "LABELS",
    "LESION",
    "TISSUES",
    "Misalignment",
    "ProstateSimulator",
    "ProstateSubject",
    "random_subject",
]

PZ, TZ, LESION, RECTAL_WALL = 1, 2, 3, 4
LABELS = {
    PZ: "peripheral zone",
    TZ: "transition zone",
    LESION: "lesion",
    RECTAL_WALL: "rectal wall",
}
# (PD, T2 ms, ADC um^2/ms) ranges; a value is drawn uniformly per subject. Fat's T2 is the
# apparent one of turbo spin echo (J-coupling keeps fat bright).
TISSUES: dict[str, tuple[tuple[float, float], ...]] = {
    "fat": ((0.9, 1.0), (150.0, 180.0), (0.1, 0.3)),
    "muscle": ((0.75, 0.85), (30.0, 40.0), (1.3, 1.5)),
    "bone": ((0.08, 0.15), (35.0, 45.0), (0.2, 0.4)),
    "pz": ((0.85, 0.95), (140.0, 200.0), (1.5, 1.9)),
    "tz": ((0.8, 0.9), (85.0, 110.0), (1.1, 1.4)),
    "capsule": ((0.75, 0.85), (45.0, 60.0), (1.1, 1.3)),
    "rectal_wall": ((0.75, 0.85), (50.0, 70.0), (1.2, 1.5)),
    "fluid": ((0.9, 1.0), (200.0, 400.0), (2.0, 2.8)),
    "cancer": ((0.8, 0.9), (65.0, 95.0), (0.6, 1.0)),
    "mimic": ((0.8, 0.9), (75.0, 105.0), (0.95, 1.35)),
}
_ORDER = list(TISSUES) + ["gas"]
TE_T2_MS, TE_DWI_MS, FAT_SUPPRESSION = 100.0, 80.0, 0.03
GAMMA_BAR_HZ_PER_PPM_3T = 127.7  # 42.58 MHz/T x 3 T x 1e-6


@dataclass(frozen=True)
class Misalignment:
    """The generator of diffusion-frame geometry (all drawn per subject).

    Attributes:
        translation_mm: sd of the rigid translation along each axis.
        rotation_deg: sd of the in-plane rotation about the prostate centre.
        push_mm: the radial push at the rectal wall is drawn from ``[-push_mm, push_mm]``.
        push_width_mm: decay length of the push outside the rectum.
        offset_hz: sd of the global frequency offset.
        gradient_hz_per_mm: sd of each linear shim term.
        gas_probability: chance that the rectal lumen holds gas (else fluid).
        gas_hz: range of the field offset at the gas surface, in Hz (3 T, sign: negative).
        bandwidth_hz_per_mm: phase-encode bandwidth per mm (pixel bandwidth / pixel size).
    """

    translation_mm: float = 0.5
    rotation_deg: float = 0.5
    push_mm: float = 5.0
    push_width_mm: float = 12.0
    offset_hz: float = 5.0
    gradient_hz_per_mm: float = 0.3
    gas_probability: float = 0.6
    gas_hz: tuple[float, float] = (50.0, 300.0)
    bandwidth_hz_per_mm: float = 12.0

    def __post_init__(self) -> None:
        if min(self.translation_mm, self.rotation_deg, self.push_mm, self.offset_hz) < 0:
            raise ValueError("misalignment sds and ranges must be >= 0")
        if self.bandwidth_hz_per_mm <= 0 or self.push_width_mm <= 0:
            raise ValueError("bandwidth_hz_per_mm and push_width_mm must be > 0")
        if not 0 <= self.gas_probability <= 1 or not 0 <= self.gas_hz[0] <= self.gas_hz[1]:
            raise ValueError("gas_probability must be in [0, 1] and gas_hz a range >= 0")


@dataclass(frozen=True)
class ProstateSubject:
    """One subject's anatomy, tissue values and misalignment (mm, degrees, Hz)."""

    seed: int
    cancer: bool
    centre: tuple[float, float]
    radii: tuple[float, float]  # (a, lr) semi-axes of the gland
    angle: float
    lesion: tuple[float, float, float, float, float]  # a, lr, semi-axes, angle
    rectum: tuple[float, float, float, float]  # a, lr, outer radius, wall thickness
    gas: bool
    tissue: dict[str, tuple[float, float, float]]
    nodules: tuple[tuple[float, float, float, float], ...]  # a, lr, sd, relative T2 change
    waves: tuple[tuple[float, float, float, float], ...]  # ka, kl, phase, amplitude (fat PD)
    translation: tuple[float, float]
    rotation: float
    push: float
    offset_hz: float
    gradient_hz_per_mm: tuple[float, float]
    gas_hz: float
    polarity: float
    noise: tuple[float, float]  # Rician sd of the T2-weighted and diffusion images

    @property
    def name(self) -> str:
        return f"prostate_subject_{self.seed}"


def _in_ellipse(a, lr, ca, cl, ra, rl, angle_deg=0.0):
    t = math.radians(angle_deg)
    da, dl = a - ca, lr - cl
    u = da * math.cos(t) + dl * math.sin(t)
    v = -da * math.sin(t) + dl * math.cos(t)
    return (u / ra) ** 2 + (v / rl) ** 2


def _lesion_centre(rng, centre, radii, angle, zone_tz: bool, size: float):
    """A lesion centre inside the zone, the whole lesion inside the gland's inner 85 %."""
    for _ in range(200):
        u, v = rng.uniform(-1, 1, 2)
        a = centre[0] + u * radii[0]
        lr = centre[1] + v * radii[1]
        rho = _in_ellipse(a, lr, *centre, *radii, angle)
        tz = _in_ellipse(a, lr, centre[0] - 0.3 * radii[0], centre[1], 0.5 * radii[0],
                         0.6 * radii[1], angle) < 1  # fmt: skip
        margin = (size / min(radii) + 0.15) ** 2
        if rho < 1 - margin and rho > 0 and tz == zone_tz:
            return float(a), float(lr)
    return float(centre[0] + (0.0 if zone_tz else 0.5 * radii[0])), float(centre[1])


def random_subject(seed: int, cancer: bool, misalignment: Misalignment | None = None):
    """A subject drawn from ``seed`` with a csPCa (``cancer``) or a benign mimic lesion."""
    m = misalignment or Misalignment()
    rng = np.random.default_rng([seed, 48])
    u = rng.uniform
    tissue = {k: tuple(float(u(*r)) for r in v) for k, v in TISSUES.items()}
    centre = (float(u(-8, -2)), float(u(-3, 3)))
    radii = (float(u(14, 19)), float(u(19, 26)))
    angle = float(u(-10, 10))
    size = float(u(3.5, 8.0))
    zone_tz = bool(rng.random() < 0.3)
    la, ll = _lesion_centre(rng, centre, radii, angle, zone_tz, size)
    lesion = (la, ll, size, size * float(u(0.6, 1.0)), float(u(0, 180)))
    r_out = float(u(11, 15))
    rectum = (centre[0] + radii[0] + r_out + float(u(1, 4)), centre[1] + float(u(-3, 3)),
              r_out, float(u(3, 4)))  # fmt: skip
    gas = bool(rng.random() < m.gas_probability)
    nodules = tuple((float(centre[0] - 0.3 * radii[0] + u(-6, 6)), float(centre[1] + u(-10, 10)),
                     float(u(2, 4)), float(u(-0.2, 0.2))) for _ in range(6))  # fmt: skip
    waves = tuple((float(u(-0.2, 0.2)), float(u(-0.2, 0.2)), float(u(0, 2 * math.pi)),
                   float(u(0, 0.1))) for _ in range(5))  # fmt: skip
    return ProstateSubject(
        seed=int(seed),
        cancer=bool(cancer),
        centre=centre,
        radii=radii,
        angle=angle,
        lesion=lesion,
        rectum=rectum,
        gas=gas,
        tissue=tissue,  # type: ignore[arg-type]
        nodules=nodules,
        waves=waves,
        translation=(
            float(rng.normal(0, m.translation_mm)),
            float(rng.normal(0, m.translation_mm)),
        ),
        rotation=float(rng.normal(0, m.rotation_deg)),
        push=float(u(-m.push_mm, m.push_mm)),
        offset_hz=float(rng.normal(0, m.offset_hz)),
        gradient_hz_per_mm=(
            float(rng.normal(0, m.gradient_hz_per_mm)),
            float(rng.normal(0, m.gradient_hz_per_mm)),
        ),  # fmt: skip
        gas_hz=float(u(*m.gas_hz)) if gas else 0.0,
        polarity=float(rng.choice([-1.0, 1.0])),
        noise=(float(u(0.01, 0.02)), float(u(0.01, 0.02))),
    )


def _anatomy(s: ProstateSubject, a: np.ndarray, lr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tissue index (into ``_ORDER``) and label at anatomy positions ``(a, lr)`` (mm)."""
    t = np.full(a.shape, _ORDER.index("fat"), dtype=np.int64)
    lab = np.zeros(a.shape, dtype=np.int64)
    ca, cl = s.centre
    ra, rl = s.radii
    for side in (-1, 1):
        t[_in_ellipse(a, lr, ca, cl + side * (rl + 16), 22, 7) < 1] = _ORDER.index("muscle")
    t[_in_ellipse(a, lr, ca - ra - 18, cl, 6, 14) < 1] = _ORDER.index("bone")
    rho = _in_ellipse(a, lr, ca, cl, ra, rl, s.angle)
    tz = _in_ellipse(a, lr, ca - 0.3 * ra, cl, 0.5 * ra, 0.6 * rl, s.angle) < 1
    gland = rho < 1
    t[gland] = _ORDER.index("pz")
    lab[gland] = PZ
    t[gland & tz] = _ORDER.index("tz")
    lab[gland & tz] = TZ
    t[(rho >= 0.88) & gland & ~tz] = _ORDER.index("capsule")
    la, ll, r1, r2, ang = s.lesion
    lesion = _in_ellipse(a, lr, la, ll, r1, r2, ang) < 1
    t[lesion] = _ORDER.index("cancer" if s.cancer else "mimic")
    lab[lesion] = LESION
    qa, ql, ro, wall = s.rectum
    r = np.hypot(a - qa, lr - ql)
    t[r < ro] = _ORDER.index("rectal_wall")
    lab[r < ro] = RECTAL_WALL
    t[r < ro - wall] = _ORDER.index("gas" if s.gas else "fluid")
    lab[r < ro - wall] = 0
    return t, lab


def _signals(s: ProstateSubject, a, lr, tissue: np.ndarray):
    """``(pd, t2, adc, fat)`` per sample, with the subject's textures."""
    table = np.array([[*s.tissue[k]] for k in TISSUES] + [[0.0, 1.0, 0.0]])
    pd, t2, adc = (table[tissue, i] for i in range(3))
    fat = tissue == _ORDER.index("fat")
    wave = sum(amp * np.cos(ka * a + kl * lr + p) for ka, kl, p, amp in s.waves)
    pd = np.where(fat, pd * (1 + wave), pd)
    tz = tissue == _ORDER.index("tz")
    nod = sum(
        c * np.exp(-((a - na) ** 2 + (lr - nl) ** 2) / (2 * sd**2)) for na, nl, sd, c in s.nodules
    )
    t2 = np.where(tz, t2 * (1 + nod), t2)
    pz = tissue == _ORDER.index("pz")
    t2 = np.where(pz, t2 * (1 + 0.05 * np.sin(0.7 * a + 0.3 * lr)), t2)
    return pd, t2, adc, fat


class ProstateSimulator:
    """Renders :class:`ProstateSubject` s as registration pairs on a ``size`` grid.

    Args:
        size: pixels per side of the T2-weighted grid (the registration grid).
        fov_mm: field of view (square, centred on the image centre).
        dwi_factor: the diffusion pixel is this many T2 pixels wide (an integer >= 1).
        b_values: the two b-values (s/mm^2) of the ADC fit.
        misalignment: the generator of the diffusion-frame geometry.
    """

    def __init__(
        self,
        *,
        size: int = 64,
        fov_mm: float = 96.0,
        dwi_factor: int = 2,
        b_values: tuple[float, float] = (50.0, 800.0),
        misalignment: Misalignment | None = None,
    ) -> None:
        if size < 16 or size % dwi_factor or dwi_factor < 1:
            raise ValueError(f"size must be >= 16 and a multiple of dwi_factor, got {size}")
        if not 0 <= b_values[0] < b_values[1]:
            raise ValueError(f"b_values must be increasing and >= 0, got {b_values}")
        self.size, self.fov_mm, self.dwi_factor = size, float(fov_mm), int(dwi_factor)
        self.b_values = (float(b_values[0]), float(b_values[1]))
        self.misalignment = misalignment or Misalignment()

    @property
    def spacing_mm(self) -> float:
        return self.fov_mm / self.size

    @property
    def dwi_spacing_mm(self) -> float:
        return self.spacing_mm * self.dwi_factor

    def _grid(self, n: int, margin_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres of an ``n x n`` grid over the FOV (plus a margin), in mm."""
        step = self.fov_mm / n
        extra = int(math.ceil(margin_mm / step))
        x = (np.arange(-extra, n + extra) + 0.5) * step - self.fov_mm / 2
        return np.meshgrid(x, x, indexing="ij")

    def to_dwi(self, s: ProstateSubject, a: np.ndarray, lr: np.ndarray):
        """``F``: anatomy positions (mm) -> where the diffusion series shows them (mm)."""
        qa, ql, ro, wall = s.rectum
        da, dl = a - qa, lr - ql
        r = np.maximum(np.hypot(da, dl), 1e-9)
        w = self.misalignment.push_width_mm
        mag = np.where(r < ro, s.push * r / ro, s.push * np.exp(-((r - ro) ** 2) / (2 * w**2)))
        pa, pl = a + mag * da / r, lr + mag * dl / r
        t = math.radians(s.rotation)
        ca, cl = s.centre
        ya = ca + math.cos(t) * (pa - ca) - math.sin(t) * (pl - cl) + s.translation[0]
        yl = cl + math.sin(t) * (pa - ca) + math.cos(t) * (pl - cl) + s.translation[1]
        return ya + s.polarity * self.field_hz(
            s, ya, yl
        ) / self.misalignment.bandwidth_hz_per_mm, yl

    def field_hz(self, s: ProstateSubject, ya: np.ndarray, yl: np.ndarray) -> np.ndarray:
        """Off-resonance (Hz) at diffusion-time positions: offset, shim gradient, rectal gas."""
        qa, ql, ro, wall = s.rectum
        t = math.radians(s.rotation)
        ca, cl = s.centre
        ga = ca + math.cos(t) * (qa - ca) - math.sin(t) * (ql - cl) + s.translation[0]
        gl = cl + math.sin(t) * (qa - ca) + math.cos(t) * (ql - cl) + s.translation[1]
        rg = ro - wall
        r = np.maximum(np.hypot(ya - ga, yl - gl), rg)
        gas = -s.gas_hz * (rg / r) ** 3
        return s.offset_hz + s.gradient_hz_per_mm[0] * ya + s.gradient_hz_per_mm[1] * yl + gas

    def t2w(self, s: ProstateSubject, noise: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """The T2-weighted image (3x3 supersampled, Rician noise) and its labels."""
        sub, n = 3, self.size
        a, lr = self._grid(n * sub)
        tissue, _ = _anatomy(s, a, lr)
        pd, t2, _, _ = _signals(s, a, lr, tissue)
        img = (pd * np.exp(-TE_T2_MS / t2)).reshape(n, sub, n, sub).mean((1, 3))
        if noise:
            img = rician(img, s.noise[0], np.random.default_rng([s.seed, 1]))
        _, lab = _anatomy(s, *self._grid(n))
        return img.astype(np.float32), lab

    def diffusion(self, s: ProstateSubject, noise: bool = True) -> dict[str, np.ndarray]:
        """ADC (um^2/ms) and high-b images on the T2 grid, diffusion-frame labels, the truth."""
        sub, n, nd = 2, self.size, self.size // self.dwi_factor
        a, lr = self._grid(n * sub, margin_mm=16.0)
        tissue, lab = _anatomy(s, a, lr)
        pd, t2, adc, fat = _signals(s, a, lr, tissue)
        s0 = np.where(fat, FAT_SUPPRESSION, 1.0) * pd * np.exp(-TE_DWI_MS / t2)
        ya, yl = self.to_dwi(s, a, lr)
        area = (self.fov_mm / (n * sub)) ** 2 / self.dwi_spacing_mm**2
        rng = np.random.default_rng([s.seed, 2])
        images = []
        for b in self.b_values:
            img = splat(s0 * np.exp(-b * 1e-3 * adc) * area, ya, yl, nd, self.fov_mm)
            images.append(rician(img, s.noise[1], rng) if noise else img)
        lo, hi = images
        with np.errstate(divide="ignore", invalid="ignore"):
            adc_map = np.log(lo / np.maximum(hi, 1e-6)) / (
                (self.b_values[1] - self.b_values[0]) * 1e-3
            )
        adc_map = np.where(lo > 4 * s.noise[1], np.clip(np.nan_to_num(adc_map), 0.0, 3.5), 0.0)
        labels = splat_labels(lab, ya, yl, n, self.fov_mm)
        ca, cl = self._grid(n)
        fa, fl = self.to_dwi(s, ca, cl)
        truth = np.stack([(fa - ca), (fl - cl)]) / self.spacing_mm
        return {
            "adc": upsample_cells(adc_map, self.dwi_factor),
            "high_b": upsample_cells(hi, self.dwi_factor),
            "labels": labels,
            "truth": truth.astype(np.float32),
        }

    def pair(self, s: ProstateSubject) -> dict[str, torch.Tensor]:
        """One subject's pair: ADC (moving, scaled by 1/3) -> T2-weighted (fixed), batch of one.

        Keys: ``moving``, ``fixed``, ``adc`` (um^2/ms), ``high_b``, ``moving_labels``,
        ``fixed_labels``, ``fixed_mask`` (the gland in the T2 frame), ``truth`` (voxels),
        ``cancer`` (bool ``(1,)``).
        """
        t2, lab = self.t2w(s)
        d = self.diffusion(s)
        out = {
            "moving": d["adc"] / 3.0,
            "fixed": t2,
            "adc": d["adc"],
            "high_b": d["high_b"],
            "moving_labels": d["labels"],
            "fixed_labels": lab,
            "fixed_mask": np.isin(lab, (PZ, TZ, LESION)),
        }
        batch = {k: torch.from_numpy(np.ascontiguousarray(v))[None, None] for k, v in out.items()}
        batch["truth"] = torch.from_numpy(d["truth"])[None]
        batch["cancer"] = torch.tensor([s.cancer])
        return batch

    def subjects(self, n: int, seed: int, cancer_fraction: float = 0.4) -> list[ProstateSubject]:
        """``n`` subjects seeded by ``(seed, i)``; subject ``i`` has csPCa when
        ``floor((i + 1) f) > floor(i f)`` (every block of subjects holds the fraction ``f``)."""
        if not 0 < cancer_fraction < 1:
            raise ValueError(f"cancer_fraction must be in (0, 1), got {cancer_fraction}")
        out = []
        for i in range(n):
            sub_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0] % 2**31)
            cancer = math.floor((i + 1) * cancer_fraction) > math.floor(i * cancer_fraction)
            out.append(random_subject(sub_seed, cancer, self.misalignment))
        return out

    def fixed_set(self, n: int, seed: int, cancer_fraction: float = 0.4) -> dict[str, torch.Tensor]:
        """``n`` pairs (:meth:`subjects`) batched; ``subject`` holds their names."""
        subs = self.subjects(n, seed, cancer_fraction)
        pairs = [self.pair(s) for s in subs]
        out = {k: torch.cat([p[k] for p in pairs]) for k in pairs[0]}
        out["subject"] = [s.name for s in subs]  # type: ignore[assignment]
        return out
