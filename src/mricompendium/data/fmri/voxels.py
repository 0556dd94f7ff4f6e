"""An encoding model of visual cortex: what each simulated voxel responds to.

Each voxel belongs to a visual area and has

* a **population receptive field** (pRF; Dumoulin & Wandell 2008): a 2D Gaussian in the visual
  field whose centre follows a foveally magnified eccentricity distribution and whose size grows
  linearly with eccentricity, more steeply in higher areas;
* **low-level tuning** (the image pathway): a mixture over seven feature channels of the
  stimulus image (contrast energy at four orientations, luminance contrast, red-green and
  blue-yellow colour contrast) pooled over its pRF, then compressed by a power law whose exponent
  falls along the hierarchy (compressive spatial summation, Kay et al. 2013);
* **object tuning** (the object pathway, :mod:`~mricompendium.data.fmri.objects`): for each object
  of the scene, the fraction of the pRF the object covers, times a Gaussian tuning around the
  voxel's preferred point in a geometric shape space (category-selective responses of lateral
  occipital and ventral temporal cortex), times a colour (hue) tuning and a texture preference;
  the drives of a scene's objects add up;
* a **mixture weight** between the two that rises from V1 to ventral temporal cortex.

Both pathways read only what the subject sees: the stimulus image's low-level feature maps and
the scene's attribute table (:class:`~mricompendium.data.fmri.stimuli.Scenes`). No embedding of
the scene (the decoders' target) enters the simulator, nor any learnt network.

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

from mricompendium.data.fmri.objects import HUES, object_layout, prf_coverage, shape_descriptors
from mricompendium.data.fmri.stimuli import TEXTURES, Scenes

__all__ = ["AREAS", "FEATURES", "SubjectModel", "draw_subject", "feature_maps", "prf_weights"]

# name: (share of voxels, pRF size slope, size intercept (deg), CSS exponent, object weight,
#        colour weight of the object pathway)
AREAS: dict[str, tuple[float, float, float, float, float, float]] = {
    "V1": (0.22, 0.10, 0.30, 0.60, 0.00, 0.2),
    "V2": (0.20, 0.15, 0.40, 0.50, 0.05, 0.2),
    "V3": (0.16, 0.25, 0.50, 0.45, 0.15, 0.3),
    "hV4": (0.12, 0.40, 0.70, 0.40, 0.35, 0.6),
    "LO": (0.14, 0.70, 1.00, 0.35, 0.60, 0.2),
    "VOT": (0.16, 1.00, 1.50, 0.30, 0.90, 0.3),
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
        shape_pref: ``(V, F)`` preferred point in shape space
            (:func:`~mricompendium.data.fmri.objects.shape_descriptors`); shape_width: tuning
            width in the same standardised units.
        hue_pref, hue_kappa: preferred hue (radians) and von Mises concentration;
        colour_gain: share of the object drive modulated by hue, in [0, 1].
        texture_pref: ``(V, 4)`` relative preference for each texture (max 1); texture_gain:
            share of the object drive modulated by texture, in [0, 1].
        object_w: mixture weight of the object pathway in [0, 1].
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
    shape_pref: np.ndarray
    shape_width: np.ndarray
    hue_pref: np.ndarray
    hue_kappa: np.ndarray
    colour_gain: np.ndarray
    texture_pref: np.ndarray
    texture_gain: np.ndarray
    object_w: np.ndarray
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

    def low_level(self, features: np.ndarray) -> np.ndarray:
        """Image pathway: pRF-pooled, channel-weighted, compressed feature energy ``(N, V)``."""
        n, c, h, w = features.shape
        weights = prf_weights(self.x_deg, self.y_deg, self.sigma_deg, h, self.fov_deg)
        pooled = np.einsum("ncp,vp->ncv", features.reshape(n, c, h * w), weights, optimize=True)
        scale = self.ref.get("channel_scale", np.ones(c, np.float32))
        low = np.einsum("ncv,vc->nv", pooled / scale[None, :, None], self.feature_w)
        return (np.maximum(low, 0.0) ** self.exponent).astype(np.float32)

    def object_drive(self, scenes: Scenes) -> np.ndarray:
        """Object pathway: summed over a scene's objects, pRF coverage x shape, hue and texture
        tuning ``(N, V)``."""
        lay = object_layout(scenes, self.fov_deg)
        shapes = shape_descriptors()
        out = np.zeros((len(scenes), self.n_voxels))
        for k in range(lay["present"].shape[1]):
            rows = np.flatnonzero(lay["present"][:, k])
            if rows.size == 0:
                continue
            cover = prf_coverage(
                self.x_deg, self.y_deg, self.sigma_deg,
                lay["x_deg"][rows, k], lay["y_deg"][rows, k], lay["radius_deg"][rows, k],
            )  # fmt: skip
            d2 = ((shapes[lay["category"][rows, k]][:, None, :] - self.shape_pref) ** 2).sum(-1)
            shape = np.exp(-d2 / (2.0 * self.shape_width**2))
            dh = HUES[lay["colour"][rows, k]][:, None] - self.hue_pref[None, :]
            hue = np.exp(self.hue_kappa * (np.cos(dh) - 1.0))
            texture = self.texture_pref[:, lay["texture"][rows, k]].T
            out[rows] += (
                cover
                * shape
                * (1.0 - self.colour_gain + self.colour_gain * hue)
                * (1.0 - self.texture_gain + self.texture_gain * texture)
            )
        return out.astype(np.float32)

    def components(self, features: np.ndarray, scenes: Scenes) -> tuple[np.ndarray, np.ndarray]:
        """Raw low-level and object responses ``(N, V)`` each (before standardisation)."""
        if len(scenes) != len(features):
            raise ValueError(f"{len(features)} feature maps for {len(scenes)} scenes")
        return self.low_level(features), self.object_drive(scenes)

    def calibrate(self, features: np.ndarray, scenes: Scenes) -> None:
        """Set the standardisation statistics from a reference stimulus set (in place)."""
        n, c = features.shape[:2]
        self.ref = {"channel_scale": features.reshape(n, c, -1).mean((0, 2)) + 1e-6}
        low, obj = self.components(features, scenes)
        self.ref.update(low_mu=low.mean(0), low_sd=low.std(0) + 1e-6)
        self.ref.update(obj_mu=obj.mean(0), obj_sd=obj.std(0) + 1e-6)
        self.ref["mix_sd"] = self._mix(low, obj).std(0) + 1e-6

    def _mix(self, low: np.ndarray, obj: np.ndarray) -> np.ndarray:
        zl = (low - self.ref["low_mu"]) / self.ref["low_sd"]
        zo = (obj - self.ref["obj_mu"]) / self.ref["obj_sd"]
        return (1.0 - self.object_w) * zl + self.object_w * zo

    def amplitudes(self, features: np.ndarray, scenes: Scenes) -> np.ndarray:
        """Noise-free response amplitude of each voxel to each scene, % signal change ``(N, V)``.

        Args:
            features: ``(N, 7, h, w)`` low-level feature maps of the stimulus images.
            scenes: the same ``N`` scenes' attribute table.
        """
        if "mix_sd" not in self.ref:
            raise RuntimeError(f"{self.name}: call calibrate() on a reference set first")
        mix = self._mix(*self.components(features, scenes)) / self.ref["mix_sd"]
        return (self.evoked_psc + self.gain_psc * mix).astype(np.float32)


def _prf_layout(areas: np.ndarray, rng: np.random.Generator, max_ecc: float, size_scale: float):
    n = areas.size
    ecc = max_ecc * rng.random(n) ** 2  # cortical magnification: more voxels near the fovea
    angle = rng.uniform(0, 2 * np.pi, n)
    slope = np.array([AREAS[a][1] for a in areas]) * size_scale
    icpt = np.array([AREAS[a][2] for a in areas])
    sigma = (slope * ecc + icpt) * rng.lognormal(0.0, 0.15, n)
    return ecc * np.cos(angle), ecc * np.sin(angle), sigma


def _object_tuning(areas: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Object-pathway tuning: preferred shapes around the categories' own points in shape space
    (any category, so that every shape has voxels near it), hue, texture and their gains."""
    v, shapes = areas.size, shape_descriptors()
    centre = shapes[rng.integers(len(shapes), size=v)]
    colour = np.array([AREAS[a][5] for a in areas])
    texture = rng.dirichlet(np.ones(len(TEXTURES)), size=v)
    return {
        "shape_pref": centre + rng.normal(0.0, 0.5, centre.shape),
        "shape_width": rng.uniform(1.5, 3.0, v),
        "hue_pref": rng.uniform(0.0, 2 * np.pi, v),
        "hue_kappa": rng.uniform(1.0, 4.0, v),
        "colour_gain": np.clip(colour * rng.uniform(0.5, 1.5, v), 0.0, 1.0),
        "texture_pref": texture / texture.max(1, keepdims=True),
        "texture_gain": rng.uniform(0.0, 0.5, v),
    }


def draw_subject(
    name: str,
    *,
    n_voxels: int,
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
    obj = np.array([AREAS[a][4] for a in areas]) + rng.normal(0.0, 0.05) + rng.normal(0, 0.08, v)
    tuning = _object_tuning(areas, rng)
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
        **tuning,
        object_w=np.clip(obj, 0.0, 1.0),
        evoked_psc=evoked_psc * rng.lognormal(0.0, 0.3, v),
        gain_psc=signal_psc * rng.lognormal(0.0, 0.3, v),
        noise_sd_psc=subject_noise * rng.choice(noise.sd_psc, size=v),
        noise_rho=noise.sample_rho(v, tr, rng),
        hrf_index=hrf,
        fov_deg=float(fov_deg),
    )
