"""Lesions drawn into a head label map: brain tumours with sub-regions, and stroke infarcts.

Tumour: three nested irregular blobs around a centre in the parenchyma: oedema (outer, only on
grey/white matter), enhancing tumour (the core's rim) and necrosis (the core's centre, optional).
Each blob is an ellipsoid whose boundary is perturbed by a smooth random field, so the shapes are
irregular but nested. An optional mass effect pushes the surrounding tissue outward with a smooth,
fold-free radial displacement that vanishes at the brain's border (the skull does not move).

Stroke: a wedge of a vascular territory (middle, anterior or posterior cerebral artery: a cone from
a point near the circle of Willis towards the territory's cortex, of random direction and width, on
one hemisphere) or a small deep lacune; only grey and white matter are labelled. The stage (acute,
subacute or chronic) sets the label and therefore its MR appearance (see
:mod:`mricompendium.physics.signal`). Territory directions are coarse approximations in MNI space,
not an atlas.

Samplers (``Random*``) draw parameters from a numpy generator; ``insert_*`` are deterministic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.synth.fields import displacement_grid, smooth_noise, warp
from mricompendium.data.synth.labels import LABELS, LabelMap, _base, in_labels

__all__ = [
    "TERRITORIES",
    "RandomStroke",
    "RandomTumour",
    "StrokeParams",
    "TumourParams",
    "insert_stroke",
    "insert_tumour",
    "stroke_region",
]

PARENCHYMA = (LABELS["gm"], LABELS["wm"])
STAGES = ("acute", "subacute", "chronic")
# territory -> (origin in MNI mm for the right hemisphere, direction towards its cortex)
TERRITORIES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "mca": ((22.0, 5.0, -8.0), (1.0, 0.0, 0.45)),
    "aca": ((6.0, 12.0, -2.0), (0.1, 0.45, 1.0)),
    "pca": ((10.0, -25.0, -8.0), (0.25, -1.0, 0.0)),
    "lacunar": ((22.0, 0.0, 8.0), (1.0, 0.0, 0.0)),
}


def _mm_coords(lm: LabelMap, box: tuple[slice, ...] | None = None) -> torch.Tensor:
    """float32 ``(3, *box shape)`` MNI millimetres of the voxels of ``box`` (default: all)."""
    dev = lm.labels.device
    box = box or tuple(slice(0, n) for n in lm.labels.shape)
    idx = torch.meshgrid(*[torch.arange(b.start, b.stop, device=dev) for b in box], indexing="ij")
    vox = torch.stack(idx).float()
    a = torch.as_tensor(lm.affine, dtype=torch.float32, device=dev)
    return torch.einsum("ij,jxyz->ixyz", a[:3, :3], vox) + a[:3, 3].reshape(3, 1, 1, 1)


def _box(lm: LabelMap, centre_mm: tuple[float, ...], radius_mm: float) -> tuple[slice, ...]:
    """The voxel box of ``lm`` covering a ball of ``radius_mm`` around ``centre_mm``."""
    ijk = np.linalg.solve(lm.affine[:3, :3], np.asarray(centre_mm) - lm.affine[:3, 3])
    half = radius_mm / lm.spacing_mm + 1
    return tuple(
        slice(max(0, int(np.floor(c - half))), min(n, int(np.ceil(c + half)) + 1))
        for c, n in zip(ijk, lm.labels.shape, strict=True)
    )


def _norm(v: torch.Tensor) -> torch.Tensor:
    return (v * v).sum(0).sqrt()


@functools.cache
def _inside_mm(spacing_mm: float, shape: tuple[int, ...]) -> np.ndarray:
    """Distance (mm) of each brain voxel of the template grid to the brain's border."""
    labels, _, _ = _base(spacing_mm, shape)
    return (ndimage.distance_transform_edt(labels > 0) * spacing_mm).astype(np.float32)


def _in_set(labels: torch.Tensor, values: tuple[int, ...]) -> torch.Tensor:
    return in_labels(labels, values)


@dataclass(frozen=True)
class TumourParams:
    """One tumour.

    Attributes:
        centre_mm: centre in MNI mm.
        oedema_mm: mean radius of the oedema (outer boundary).
        core_mm: mean radius of the tumour core (enhancing + necrosis).
        necrosis_mm: mean radius of the necrotic centre (0: none).
        elongation: per-axis factors of the ellipsoid (mean 1).
        roughness: relative amplitude of the boundary perturbation.
        mass_effect_mm: peak outward displacement of the surrounding tissue (0: none).
        field_seed: seed of the boundary perturbation fields.
    """

    centre_mm: tuple[float, float, float]
    oedema_mm: float
    core_mm: float
    necrosis_mm: float
    elongation: tuple[float, float, float]
    roughness: float
    mass_effect_mm: float
    field_seed: int


@dataclass(frozen=True)
class RandomTumour:
    """Sampler of :class:`TumourParams` (uniform ranges; probabilities for optional parts)."""

    oedema_mm: tuple[float, float] = (15.0, 35.0)
    core_fraction: tuple[float, float] = (0.45, 0.8)
    necrosis_fraction: tuple[float, float] = (0.4, 0.75)
    p_necrosis: float = 0.8
    elongation: float = 0.25
    roughness: tuple[float, float] = (0.1, 0.35)
    mass_effect_mm: tuple[float, float] = (2.0, 6.0)
    p_mass_effect: float = 0.5

    def sample(self, rng: np.random.Generator, lm: LabelMap) -> TumourParams:
        """Draw a tumour whose core lies in the parenchyma of ``lm`` (a template-grid map)."""
        oedema = float(rng.uniform(*self.oedema_mm))
        core = oedema * float(rng.uniform(*self.core_fraction))
        necrosis = core * float(rng.uniform(*self.necrosis_fraction))
        necrosis = necrosis if rng.random() < self.p_necrosis else 0.0
        inside = torch.from_numpy(_inside_mm(lm.spacing_mm, tuple(lm.labels.shape)))
        ok = (inside > core + lm.spacing_mm) & _in_set(lm.labels.cpu(), PARENCHYMA)
        cand = torch.nonzero(ok.flatten()).flatten().numpy()
        if cand.size == 0:  # a very small grid: take the deepest brain voxel
            cand = np.asarray([int(inside.flatten().argmax())])
        ijk = np.unravel_index(int(cand[rng.integers(cand.size)]), lm.labels.shape)
        centre = lm.affine[:3, :3] @ np.asarray(ijk, dtype=np.float64) + lm.affine[:3, 3]
        mass = float(rng.uniform(*self.mass_effect_mm)) if rng.random() < self.p_mass_effect else 0
        return TumourParams(
            centre_mm=tuple(float(c) for c in centre),
            oedema_mm=oedema,
            core_mm=core,
            necrosis_mm=necrosis,
            elongation=tuple(float(e) for e in 1 + rng.uniform(-1, 1, 3) * self.elongation),
            roughness=float(rng.uniform(*self.roughness)),
            mass_effect_mm=mass,
            field_seed=int(rng.integers(2**31)),
        )


def _mass_effect(lm: LabelMap, centre: tuple[float, ...], peak_mm: float, reach_mm: float):
    """Push tissue radially away from ``centre``; displacement fades to 0 at the brain border.

    The radial profile ``peak q exp((1 - q^2) / 2) (1 - (r / 2 reach)^2)^2`` (``q = r / reach``)
    peaks near ``reach`` and vanishes beyond ``2 reach``; ``peak <= 0.4 reach`` keeps the map
    ``r -> r - displacement`` monotonic, so the warp does not fold.
    """
    box = _box(lm, centre, 2.0 * reach_mm)
    rel = _mm_coords(lm, box) - torch.tensor(centre, device=lm.labels.device).reshape(3, 1, 1, 1)
    r = _norm(rel).clamp_min(1e-3)
    q = r / reach_mm
    taper = (1.0 - (r / (2.0 * reach_mm)).clamp(max=1.0) ** 2) ** 2
    g = q * torch.exp(0.5 * (1.0 - q**2)) * taper
    peak = min(peak_mm, 0.4 * reach_mm)
    inside = torch.from_numpy(_inside_mm(lm.spacing_mm, tuple(lm.labels.shape))[box])
    fade = (inside.to(r.device) / (3.0 * lm.spacing_mm)).clamp(0, 1)
    disp_mm = -peak * g * fade * rel / r  # input position = output position - outward push
    a = torch.as_tensor(lm.affine[:3, :3], dtype=torch.float32, device=r.device)
    disp_vox = torch.einsum("ij,jxyz->ixyz", torch.linalg.inv(a), disp_mm)
    out = lm.labels.clone()
    out[box] = warp(lm.labels[box], displacement_grid(disp_vox), mode="nearest")
    return out


def insert_tumour(lm: LabelMap, params: TumourParams) -> LabelMap:
    """Draw the tumour of ``params`` into ``lm`` (after its mass effect, if any)."""
    if not 0 <= params.necrosis_mm <= params.core_mm <= params.oedema_mm:
        raise ValueError("need 0 <= necrosis_mm <= core_mm <= oedema_mm")
    dev = lm.labels.device
    labels = lm.labels
    if params.mass_effect_mm > 0:
        labels = _mass_effect(lm, params.centre_mm, params.mass_effect_mm, params.oedema_mm)
    el = torch.tensor(params.elongation, dtype=torch.float32, device=dev).reshape(3, 1, 1, 1)
    reach = params.oedema_mm * float(el.max()) * (1.0 + 3.0 * params.roughness)
    box = _box(lm, params.centre_mm, reach)
    sub = labels[box]
    rel = _mm_coords(lm, box) - torch.tensor(params.centre_mm, device=dev).reshape(3, 1, 1, 1)
    dist = _norm(rel / el)
    f = smooth_noise(sub.shape, control=4, seed=params.field_seed, channels=2, device=dev)
    core_b = params.core_mm * (1.0 + params.roughness * f[0]).clamp_min(0.3)
    oedema_b = params.oedema_mm * (1.0 + params.roughness * f[1]).clamp_min(0.3)
    core = (dist <= core_b) & (sub > 0) & (sub <= LABELS["wm"])
    oedema = ((dist <= oedema_b) & _in_set(sub, PARENCHYMA)) | core
    new = sub.clone()
    new[oedema] = LABELS["oedema"]
    new[core] = LABELS["enhancing"]
    if params.necrosis_mm > 0:
        necrosis = core & (dist <= params.necrosis_mm * (1.0 + params.roughness * f[0]))
        new[necrosis] = LABELS["necrosis"]
    out = labels.clone()
    out[box] = new
    return LabelMap(out, lm.affine, lm.spacing_mm)


@dataclass(frozen=True)
class StrokeParams:
    """One infarct.

    Attributes:
        territory: ``"mca"``, ``"aca"``, ``"pca"`` or ``"lacunar"``.
        hemisphere: +1 right, -1 left.
        origin_mm: apex of the territory cone (lacune: its centre), MNI mm.
        direction: unit axis of the cone.
        half_angle_deg: cone half-angle (lacune: unused).
        r_min_mm: inner radius along the cone (lacune: 0).
        r_max_mm: outer radius along the cone (lacune: its radius).
        roughness: relative perturbation of the boundary.
        stage: ``"acute"``, ``"subacute"`` or ``"chronic"``.
        field_seed: seed of the boundary perturbation.
    """

    territory: str
    hemisphere: int
    origin_mm: tuple[float, float, float]
    direction: tuple[float, float, float]
    half_angle_deg: float
    r_min_mm: float
    r_max_mm: float
    roughness: float
    stage: str
    field_seed: int


@dataclass(frozen=True)
class RandomStroke:
    """Sampler of :class:`StrokeParams`."""

    territories: tuple[str, ...] = ("mca", "aca", "pca", "lacunar")
    territory_probs: tuple[float, ...] = (0.5, 0.15, 0.2, 0.15)
    half_angle_deg: tuple[float, float] = (10.0, 32.0)
    direction_jitter_deg: float = 25.0
    r_min_mm: tuple[float, float] = (5.0, 35.0)
    r_max_mm: tuple[float, float] = (50.0, 110.0)
    lacune_mm: tuple[float, float] = (3.0, 9.0)
    roughness: tuple[float, float] = (0.1, 0.3)
    stages: tuple[str, ...] = ("acute", "subacute")

    def sample(self, rng: np.random.Generator) -> StrokeParams:
        """Draw one infarct."""
        p = np.asarray(self.territory_probs, dtype=np.float64)
        territory = str(self.territories[rng.choice(len(self.territories), p=p / p.sum())])
        if territory not in TERRITORIES:
            raise ValueError(f"unknown territory {territory!r}; expected {sorted(TERRITORIES)}")
        hemi = int(rng.choice([-1, 1]))
        origin, axis = (np.asarray(v, dtype=np.float64) for v in TERRITORIES[territory])
        origin, axis = origin * [hemi, 1, 1], axis * [hemi, 1, 1]
        jitter = rng.normal(size=3) * math.radians(self.direction_jitter_deg) / math.sqrt(3)
        axis = axis / np.linalg.norm(axis) + jitter
        axis = axis / np.linalg.norm(axis)
        if territory == "lacunar":
            origin = origin + rng.uniform(-8, 8, 3)
            r_min, r_max = 0.0, float(rng.uniform(*self.lacune_mm))
        else:
            r_min, r_max = float(rng.uniform(*self.r_min_mm)), float(rng.uniform(*self.r_max_mm))
        return StrokeParams(
            territory=territory,
            hemisphere=hemi,
            origin_mm=tuple(float(v) for v in origin),
            direction=tuple(float(v) for v in axis),
            half_angle_deg=float(rng.uniform(*self.half_angle_deg)),
            r_min_mm=r_min,
            r_max_mm=r_max,
            roughness=float(rng.uniform(*self.roughness)),
            stage=str(self.stages[rng.integers(len(self.stages))]),
            field_seed=int(rng.integers(2**31)),
        )


def stroke_region(lm: LabelMap, params: StrokeParams) -> torch.Tensor:
    """bool ``(X, Y, Z)``: the parenchyma voxels of the infarct of ``params``."""
    dev = lm.labels.device
    rel = _mm_coords(lm) - torch.tensor(params.origin_mm, device=dev).reshape(3, 1, 1, 1)
    r = _norm(rel).clamp_min(1e-3)
    f = smooth_noise(lm.labels.shape, control=10, seed=params.field_seed, device=dev)[0]
    wobble = 1.0 + params.roughness * f
    if params.territory == "lacunar":
        region = r <= params.r_max_mm * wobble
    else:
        axis = torch.tensor(params.direction, dtype=torch.float32, device=dev)
        cos = torch.einsum("i,ixyz->xyz", axis, rel) / r
        half = math.radians(params.half_angle_deg) * wobble
        region = (cos >= torch.cos(half.clamp(max=math.pi / 2))) & (r >= params.r_min_mm)
        region &= r <= params.r_max_mm * wobble
        mm_x = rel[0] + params.origin_mm[0]
        region &= mm_x * params.hemisphere > 0.0  # one hemisphere (MNI midline x = 0)
    return region & _in_set(lm.labels, PARENCHYMA)


def insert_stroke(lm: LabelMap, params: StrokeParams) -> LabelMap:
    """Draw the infarct of ``params`` into ``lm`` (label ``stroke_<stage>``)."""
    if params.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {params.stage!r}")
    out = lm.labels.clone()
    out[stroke_region(lm, params)] = LABELS[f"stroke_{params.stage}"]
    return LabelMap(out, lm.affine, lm.spacing_mm)
