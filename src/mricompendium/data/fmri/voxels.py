"""An encoding model of visual cortex: what each simulated voxel responds to.

Each voxel belongs to a visual area and has

* a **population receptive field** (pRF; Dumoulin & Wandell 2008): a 2D Gaussian in the visual
  field whose centre follows a foveally magnified eccentricity distribution and whose size grows
  linearly with eccentricity, more steeply in higher areas;
* **low-level tuning**: a mixture over seven feature channels (contrast energy at four
  orientations, luminance contrast, red-green and blue-yellow colour contrast) pooled over its
  pRF, then compressed by a power law whose exponent falls along the hierarchy (compressive
  spatial summation, Kay et al. 2013);
* **semantic tuning**: a von Mises bump around a preferred direction of the joint embedding
  (the stand-in for CLIP), standing for category-selective responses of ventral cortex;
* a **mixture weight** between the two that rises from V1 to ventral temporal cortex.

The two components are standardised on a reference stimulus set, mixed, and scaled to a voxel's
stimulus-driven modulation (percent signal change) on top of its mean evoked response.
Subjects differ in voxel count, area proportions, pRF layout and sizes, tuning, gains, HRFs and
noise: every draw comes from the subject's own seed.

Layouts: images ``(N, 3, S, S)`` in [0, 1]; features ``(N, 7, S/2, S/2)``; responses ``(N, V)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["AREAS", "FEATURES", "SubjectModel", "draw_subject", "feature_maps", "prf_weights"]

# name: (share of voxels, pRF size slope, size intercept (deg), CSS exponent, semantic weight)
AREAS: dict[str, tuple[float, float, float, float, float]] = {
    "V1": (0.22, 0.10, 0.30, 0.60, 0.00),
    "V2": (0.20, 0.15, 0.40, 0.50, 0.05),
    "V3": (0.16, 0.25, 0.50, 0.45, 0.15),
    "hV4": (0.12, 0.40, 0.70, 0.40, 0.35),
    "LO": (0.14, 0.70, 1.00, 0.35, 0.60),
    "VOT": (0.16, 1.00, 1.50, 0.30, 0.90),
}
FEATURES: tuple[str, ...] = (
    "energy 0 deg", "energy 45 deg", "energy 90 deg", "energy 135 deg",
    "luminance contrast", "red-green", "blue-yellow",
)  # fmt: skip


def _gabor_bank(wavelength: float = 4.0, sigma: float = 2.0, size: int = 9) -> torch.Tensor:
    """Quadrature Gabor pairs at 4 orientations: ``(8, 1, size, size)`` (even, odd per angle)."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    env = torch.exp(-(x * x + y * y) / (2 * sigma * sigma))
    filters = []
    for theta in (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4):
        u = x * math.cos(theta) + y * math.sin(theta)
        even = env * torch.cos(2 * math.pi * u / wavelength)
        filters += [
            even - even.mean() * env / env.mean(),
            env * torch.sin(2 * math.pi * u / wavelength),
        ]
    bank = torch.stack(filters)
    return (bank / bank.flatten(1).norm(dim=1)[:, None, None]).unsqueeze(1)


def feature_maps(images: np.ndarray, batch: int = 512) -> np.ndarray:
    """Low-level feature channels of ``images`` at half resolution: ``(N, 7, S/2, S/2)``, >= 0.

    Channels (:data:`FEATURES`): Gabor energy (wavelength 4 px) at 0/45/90/135 degrees of
    luminance; local luminance contrast (absolute difference from a Gaussian-blurred copy);
    red-green and blue-yellow colour contrast (absolute opponent signals).
    """
    x = torch.as_tensor(np.asarray(images, np.float32))
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"images must be (N, 3, S, S), got {tuple(x.shape)}")
    bank = _gabor_bank()
    blur = torch.exp(-((torch.arange(9.0) - 4) ** 2) / 18.0)
    blur = (blur[:, None] * blur[None, :] / blur.sum() ** 2)[None, None]
    out = []
    for chunk in x.split(batch):
        r, g, b = chunk[:, 0:1], chunk[:, 1:2], chunk[:, 2:3]
        lum = 0.299 * r + 0.587 * g + 0.114 * b
        resp = F.conv2d(lum, bank, padding=4)
        energy = (resp[:, 0::2] ** 2 + resp[:, 1::2] ** 2).sqrt()
        contrast = (lum - F.conv2d(lum, blur, padding=4)).abs()
        feats = torch.cat([energy, contrast, (r - g).abs(), (b - (r + g) / 2).abs()], dim=1)
        out.append(F.avg_pool2d(feats, 2))
    return torch.cat(out).numpy()


def prf_weights(
    x_deg: np.ndarray, y_deg: np.ndarray, sigma_deg: np.ndarray, side: int, fov_deg: float
) -> np.ndarray:
    """Gaussian pRFs sampled on a ``side x side`` pixel grid spanning ``fov_deg``: ``(V, side**2)``.

    Each pRF integrates to 1 over the whole visual field, so one lying partly outside the image
    sees proportionally less of it. ``y`` grows downwards, as image rows do.
    """
    pix = fov_deg / side
    c = (np.arange(side) + 0.5) * pix - fov_deg / 2
    gx = np.exp(-((c[None, :] - x_deg[:, None]) ** 2) / (2 * sigma_deg[:, None] ** 2))
    gy = np.exp(-((c[None, :] - y_deg[:, None]) ** 2) / (2 * sigma_deg[:, None] ** 2))
    w = gy[:, :, None] * gx[:, None, :] * pix * pix / (2 * np.pi * sigma_deg[:, None, None] ** 2)
    return w.reshape(len(x_deg), side * side).astype(np.float32)


@dataclasses.dataclass
class SubjectModel:
    """One simulated subject's voxels (arrays have one entry, or row, per voxel).

    Attributes:
        name: e.g. ``"subj01"``.
        area: area name of each voxel.
        x_deg, y_deg, sigma_deg: pRF centre (deg; x right, y down) and size (deg).
        exponent: compressive exponent; feature_w: ``(V, 7)`` low-level tuning (rows sum to 1).
        preferred: ``(V, D)`` unit preferred embedding directions; kappa: tuning concentration.
        semantic: mixture weight of the semantic component in [0, 1].
        evoked_psc, gain_psc: mean evoked response and stimulus-driven SD, % signal change.
        noise_sd_psc, noise_rho: per-scan noise SD (% signal change) and AR(1) at the TR.
        hrf_index: each voxel's HRF in the library; ref: standardisation statistics.
        fov_deg: the stimulus' visual angle.
    """

    name: str
    area: np.ndarray
    x_deg: np.ndarray
    y_deg: np.ndarray
    sigma_deg: np.ndarray
    exponent: np.ndarray
    feature_w: np.ndarray
    preferred: np.ndarray
    kappa: np.ndarray
    semantic: np.ndarray
    evoked_psc: np.ndarray
    gain_psc: np.ndarray
    noise_sd_psc: np.ndarray
    noise_rho: np.ndarray
    hrf_index: np.ndarray
    fov_deg: float
    ref: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def n_voxels(self) -> int:
        return int(self.area.size)

    def components(self, features: np.ndarray, embeddings: np.ndarray) -> tuple[np.ndarray, ...]:
        """Raw low-level and semantic responses ``(N, V)`` each (before standardisation)."""
        n, c, h, w = features.shape
        weights = prf_weights(self.x_deg, self.y_deg, self.sigma_deg, h, self.fov_deg)
        pooled = np.einsum("ncp,vp->ncv", features.reshape(n, c, h * w), weights, optimize=True)
        scale = self.ref.get("channel_scale", np.ones(c, np.float32))
        low = np.einsum("ncv,vc->nv", pooled / scale[None, :, None], self.feature_w)
        low = np.maximum(low, 0.0) ** self.exponent
        sem = np.exp(self.kappa * (embeddings @ self.preferred.T - 1.0))
        return low.astype(np.float32), sem.astype(np.float32)

    def calibrate(self, features: np.ndarray, embeddings: np.ndarray) -> None:
        """Set the standardisation statistics from a reference stimulus set (in place)."""
        n, c = features.shape[:2]
        self.ref = {"channel_scale": features.reshape(n, c, -1).mean((0, 2)) + 1e-6}
        low, sem = self.components(features, embeddings)
        self.ref.update(low_mu=low.mean(0), low_sd=low.std(0) + 1e-6)
        self.ref.update(sem_mu=sem.mean(0), sem_sd=sem.std(0) + 1e-6)
        self.ref["mix_sd"] = self._mix(low, sem).std(0) + 1e-6

    def _mix(self, low: np.ndarray, sem: np.ndarray) -> np.ndarray:
        zl = (low - self.ref["low_mu"]) / self.ref["low_sd"]
        zs = (sem - self.ref["sem_mu"]) / self.ref["sem_sd"]
        return (1.0 - self.semantic) * zl + self.semantic * zs

    def amplitudes(self, features: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """Noise-free response amplitude of each voxel to each image, % signal change ``(N, V)``."""
        if "mix_sd" not in self.ref:
            raise RuntimeError(f"{self.name}: call calibrate() on a reference set first")
        mix = self._mix(*self.components(features, embeddings)) / self.ref["mix_sd"]
        return (self.evoked_psc + self.gain_psc * mix).astype(np.float32)


def _prf_layout(areas: np.ndarray, rng: np.random.Generator, max_ecc: float, size_scale: float):
    n = areas.size
    ecc = max_ecc * rng.random(n) ** 2  # cortical magnification: more voxels near the fovea
    angle = rng.uniform(0, 2 * np.pi, n)
    slope = np.array([AREAS[a][1] for a in areas]) * size_scale
    icpt = np.array([AREAS[a][2] for a in areas])
    sigma = (slope * ecc + icpt) * rng.lognormal(0.0, 0.15, n)
    return ecc * np.cos(angle), ecc * np.sin(angle), sigma


def draw_subject(
    name: str,
    *,
    n_voxels: int,
    prototypes: np.ndarray,
    noise: object,
    tr: float,
    n_hrfs: int,
    signal_psc: float,
    evoked_psc: float = 1.5,
    noise_scale: float = 1.0,
    fov_deg: float = 8.4,
    seed: int = 0,
) -> SubjectModel:
    """Draw one subject's voxels.

    Args:
        name: the subject's name.
        n_voxels: the mean voxel count; the subject's own is drawn within -20/+25 % of it.
        prototypes: ``(K, D)`` unit embeddings of reference stimuli; preferred directions are
            drawn around them, so that the semantic tuning covers where stimuli lie.
        noise: a fitted :class:`~mricompendium.data.fmri.noise.NoiseModel`.
        tr: repetition time (s) at which ``noise_rho`` applies.
        n_hrfs: size of the HRF library (each subject has its own typical HRF in it).
        signal_psc: typical SD of the stimulus-driven modulation, % signal change.
        evoked_psc: typical mean evoked response, % signal change.
        noise_scale: multiplies the fitted noise SD.
        fov_deg: stimulus size, degrees of visual angle (NSD: 8.4).
        seed: the subject's seed (everything above is drawn from it).
    """
    rng = np.random.default_rng(seed)
    v = max(8, int(round(n_voxels * rng.uniform(0.8, 1.25))))
    base = np.array([a[0] for a in AREAS.values()])
    share = rng.dirichlet(base * 60.0)
    areas = np.array(list(AREAS))[np.sort(rng.choice(len(AREAS), size=v, p=share))]
    x, y, sigma = _prf_layout(areas, rng, 0.6 * fov_deg, rng.lognormal(0.0, 0.15))
    sem = np.array([AREAS[a][4] for a in areas]) + rng.normal(0.0, 0.05) + rng.normal(0, 0.08, v)
    proto = prototypes[rng.integers(len(prototypes), size=v)]
    pref = proto + rng.normal(0.0, 0.6 / np.sqrt(proto.shape[1]), proto.shape)
    hrf_mean = rng.uniform(0, n_hrfs - 1)
    hrf = np.clip(np.round(hrf_mean + rng.normal(0, 0.7, v)), 0, n_hrfs - 1).astype(np.int64)
    subject_noise = noise_scale * rng.lognormal(0.0, 0.2)
    return SubjectModel(
        name=name,
        area=areas,
        x_deg=x,
        y_deg=y,
        sigma_deg=sigma,
        exponent=np.array([AREAS[a][3] for a in areas]) * rng.lognormal(0, 0.1, v),
        feature_w=rng.dirichlet(np.full(len(FEATURES), 0.7), size=v).astype(np.float32),
        preferred=(pref / np.linalg.norm(pref, axis=1, keepdims=True)).astype(np.float32),
        kappa=rng.uniform(2.0, 8.0, v),
        semantic=np.clip(sem, 0.0, 1.0),
        evoked_psc=evoked_psc * rng.lognormal(0.0, 0.3, v),
        gain_psc=signal_psc * rng.lognormal(0.0, 0.3, v),
        noise_sd_psc=subject_noise * rng.choice(noise.sd_psc, size=v),
        noise_rho=noise.sample_rho(v, tr, rng),
        hrf_index=hrf,
        fov_deg=float(fov_deg),
    )
