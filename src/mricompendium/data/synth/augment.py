"""Random deformation of label maps, and acquisition artefacts of images.

- :class:`RandomDeformation` / :func:`deform`: an affine (rotation, scaling, shear, translation)
  about the grid centre plus a smooth non-linear displacement, applied to the label map with
  nearest-neighbour sampling (no new label values appear); images are made after it, so they
  stay aligned with the labels.
- :class:`RandomArtefacts` / :func:`corrupt`: blur (the point-spread function), thick slices
  (resolution loss), a multiplicative smooth bias field, Rician noise, a gamma change, then
  robust normalisation to [0, 1].

2D ``(H, W)`` and 3D ``(X, Y, Z)`` alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mricompendium.data.synth.fields import (
    displacement_grid,
    gaussian_blur,
    resolution_loss,
    smooth_noise,
    warp,
)

__all__ = [
    "ArtefactParams",
    "DeformParams",
    "RandomArtefacts",
    "RandomDeformation",
    "corrupt",
    "deform",
    "normalise",
]

NORM_PERCENTILE = 99.5


@dataclass(frozen=True)
class DeformParams:
    """One deformation.

    Attributes:
        matrix: ``(ndim, ndim)`` linear part (output -> input), about the grid centre.
        translation_vox: ``(ndim,)`` translation in voxels.
        elastic_vox: standard deviation of the smooth displacement at its control points, voxels.
        control: control points per axis of the smooth displacement.
        seed: seed of the smooth displacement.
    """

    matrix: tuple[tuple[float, ...], ...]
    translation_vox: tuple[float, ...]
    elastic_vox: float
    control: int
    seed: int


def _rotation(angles: np.ndarray) -> np.ndarray:
    if angles.size == 1:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    r = np.eye(3)
    for axis, a in enumerate(angles):
        i, j = [k for k in range(3) if k != axis]
        m = np.eye(3)
        m[i, i] = m[j, j] = math.cos(a)
        m[i, j], m[j, i] = -math.sin(a), math.sin(a)
        r = r @ m
    return r


@dataclass(frozen=True)
class RandomDeformation:
    """Sampler of :class:`DeformParams` (uniform ranges; angles in degrees, sizes in mm)."""

    rotation_deg: float = 10.0
    scaling: float = 0.1
    shear: float = 0.02
    translation_mm: float = 4.0
    elastic_mm: tuple[float, float] = (0.0, 3.0)
    control: int = 6

    def sample(self, rng: np.random.Generator, *, ndim: int, spacing_mm: float) -> DeformParams:
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3, got {ndim}")
        n_rot = 1 if ndim == 2 else 3
        rot = _rotation(np.radians(rng.uniform(-1, 1, n_rot) * self.rotation_deg))
        scale = np.diag(1.0 + rng.uniform(-1, 1, ndim) * self.scaling)
        shear = np.eye(ndim) + np.triu(rng.uniform(-1, 1, (ndim, ndim)) * self.shear, 1)
        m = rot @ scale @ shear
        return DeformParams(
            matrix=tuple(tuple(float(v) for v in row) for row in m),
            translation_vox=tuple(
                float(v) for v in rng.uniform(-1, 1, ndim) * self.translation_mm / spacing_mm
            ),
            elastic_vox=float(rng.uniform(*self.elastic_mm)) / spacing_mm,
            control=int(self.control),
            seed=int(rng.integers(2**31)),
        )


def deformation_grid(shape: tuple[int, ...], params: DeformParams, device) -> torch.Tensor:
    """The ``grid_sample`` grid of ``params`` on a grid of ``shape``."""
    nd = len(shape)
    m = torch.tensor(params.matrix, dtype=torch.float32, device=device)
    if m.shape != (nd, nd):
        raise ValueError(f"deformation of dimension {m.shape[0]} applied to a {nd}D grid")
    idx = torch.meshgrid(*[torch.arange(n, device=device) for n in shape], indexing="ij")
    pos = torch.stack(idx).float()
    centre = torch.tensor([(n - 1) / 2 for n in shape], device=device).reshape(nd, *[1] * nd)
    t = torch.tensor(params.translation_vox, device=device).reshape(nd, *[1] * nd)
    src = torch.einsum("ij,j...->i...", m, pos - centre) + centre + t
    if params.elastic_vox > 0:
        src = src + params.elastic_vox * smooth_noise(
            shape, control=params.control, seed=params.seed, channels=nd, device=device
        )
    return displacement_grid(src - pos)


def deform(labels: torch.Tensor, params: DeformParams) -> torch.Tensor:
    """Warp an integer label map with nearest-neighbour sampling (outside the grid: label 0)."""
    if labels.dtype.is_floating_point:
        raise TypeError(f"labels must be an integer tensor, got {labels.dtype}")
    grid = deformation_grid(tuple(labels.shape), params, labels.device)
    return warp(labels, grid, mode="nearest")


@dataclass(frozen=True)
class ArtefactParams:
    """Acquisition artefacts of one image.

    Attributes:
        blur_vox: per-axis Gaussian sigma of the point-spread function, voxels.
        slice_axis: axis of thick slices (-1: none).
        thickness: slice thickness in voxels (>= 1).
        bias_std: standard deviation of the log bias field.
        bias_seed: seed of the bias field.
        noise_std: Rician noise level relative to the image's 99.5th percentile.
        noise_seed: seed of the noise.
        gamma: exponent applied after normalisation.
    """

    blur_vox: tuple[float, ...]
    slice_axis: int
    thickness: float
    bias_std: float
    bias_seed: int
    noise_std: float
    noise_seed: int
    gamma: float


@dataclass(frozen=True)
class RandomArtefacts:
    """Sampler of :class:`ArtefactParams` (uniform ranges; probability of thick slices)."""

    blur_vox: tuple[float, float] = (0.3, 1.0)
    p_thick: float = 0.0
    thickness: tuple[float, float] = (2.0, 5.0)
    bias_std: tuple[float, float] = (0.0, 0.3)
    noise_std: tuple[float, float] = (0.0, 0.05)
    gamma_std: float = 0.1

    def sample(self, rng: np.random.Generator, *, ndim: int) -> ArtefactParams:
        thick = rng.random() < self.p_thick
        return ArtefactParams(
            blur_vox=tuple(float(v) for v in rng.uniform(*self.blur_vox, ndim)),
            slice_axis=int(rng.integers(ndim)) if thick else -1,
            thickness=float(rng.uniform(*self.thickness)) if thick else 1.0,
            bias_std=float(rng.uniform(*self.bias_std)),
            bias_seed=int(rng.integers(2**31)),
            noise_std=float(rng.uniform(*self.noise_std)),
            noise_seed=int(rng.integers(2**31)),
            gamma=float(np.exp(rng.normal(0.0, self.gamma_std))),
        )


def normalise(image: torch.Tensor, percentile: float = NORM_PERCENTILE) -> torch.Tensor:
    """Scale so that the ``percentile`` of the image is 1, then clip to [0, 1]."""
    flat = image.flatten().float()
    if flat.numel() > 200_000:  # a regular subsample is plenty for a percentile
        flat = flat[:: flat.numel() // 100_000]
    k = max(1, min(flat.numel(), round(flat.numel() * percentile / 100.0)))
    top = torch.kthvalue(flat.cpu(), k).values.to(image.device)
    return (image / top.clamp_min(1e-8)).clamp(0.0, 1.0)


def corrupt(image: torch.Tensor, params: ArtefactParams) -> torch.Tensor:
    """Blur, thicken slices, bias, add Rician noise, normalise to [0, 1] and apply gamma."""
    nd = image.ndim
    if len(params.blur_vox) != nd:
        raise ValueError(f"blur_vox has {len(params.blur_vox)} axes for a {nd}D image")
    x = gaussian_blur(image.float(), params.blur_vox)
    if params.slice_axis >= 0:
        x = resolution_loss(x, axis=params.slice_axis, factor=params.thickness)
    if params.bias_std > 0:
        field = smooth_noise(x.shape, control=4, seed=params.bias_seed, device=x.device)[0]
        x = x * torch.exp(params.bias_std * field)
    x = normalise(x.clamp_min(0))
    if params.noise_std > 0:
        gen = torch.Generator().manual_seed(params.noise_seed)
        n = torch.randn((2, *x.shape), generator=gen).to(x.device) * params.noise_std
        x = torch.sqrt((x + n[0]) ** 2 + n[1] ** 2)
        x = normalise(x)
    return x.pow(params.gamma)
