"""Diffusion priors for MRI trained on fully sampled images or on undersampled k-space only.

Ambient Diffusion (Daras et al., NeurIPS 2023) trains a denoiser from corrupted data: each
training acquisition ``y = A x0`` (here ``A = M F S``, a Cartesian mask ``M`` at acceleration
R) is corrupted **further** (``A~ = M~ F S`` with ``M~`` a random subset of ``M``), noise is
added, and the network must predict ``x0`` from ``A~ (x0 + sigma e)``; the loss is measured on
every sample of the original acquisition, ``|| M (F S D - y) ||^2``, so the network learns to
fill in what the further corruption removed without ever seeing a sample outside ``M``
(:func:`ambient_loss`). With ``M = M~ = 1`` it is the ordinary denoising loss of a model trained
on fully sampled images (the same function, so the two priors differ only in their data).

Posterior sampling (:class:`DiffusionRecon`): the paper uses diffusion posterior sampling (DPS,
a likelihood gradient through the network at every step). Here a cheaper sampler, stated as a
deviation: from the zero-filled image plus noise, at each of a decreasing geometric sequence of
noise levels, denoise, apply data consistency (``x <- x - A^H (A x - y)``, the exact projection
onto the measured samples for one coil; :func:`data_consistency`, in fp32), and add noise at the
next level. An ambient model sees its input through a fresh further-corrupted mask of its
training kind (as it was trained), drawn once per reconstruction and kept over the steps (the
fixed-mask sampler of Ambient Diffusion).

All images are normalised per case by :func:`calib_scale`, the RMS image energy of the central
k-space box that every mask samples, so fully sampled and undersampled data of one image get the
same scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mricompendium.models.reconstruction.score import ScoreUNet
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.masks import MIN_ACS, Sampling
from mricompendium.physics.sense import sens_expand, sens_reduce

__all__ = [
    "AmbientSpec",
    "DiffusionRecon",
    "build_prior",
    "PriorData",
    "ambient_loss",
    "calib_scale",
    "complex_noise",
    "data_consistency",
    "full_sampling",
    "further_mask",
    "gap_trend",
    "prior_data",
    "prior_subset",
    "prior_loss",
    "prior_stream",
    "sigma_schedule",
]


def full_sampling(shape: tuple[int, int]) -> Sampling:
    """A setting that samples every point of an ``(H, W)`` grid (a 2D mask of all ones)."""
    h, w = int(shape[0]), int(shape[1])
    sampling = Sampling("gaussian_2d", 1.0 + 0.25 / (h * w))
    if int(sampling.make_mask((h, w), 0).sum()) != h * w:  # pragma: no cover - guarded by tests
        raise RuntimeError("the full setting does not sample every point")
    return sampling


def _centre(n: int, c: int) -> slice:
    c = min(c, n)
    start = n // 2 - c // 2
    return slice(start, start + c)


def calib_scale(kspace: torch.Tensor, calib: int = MIN_ACS) -> torch.Tensor:
    """Per-case scale ``(B,)``: RMS image magnitude of the central ``calib x calib`` k-space box.

    Every mask of the family samples that box, so the scale of one image is the same whatever
    its undersampling (orthonormal FFT: image energy = k-space energy).
    """
    b, _, h, w = kspace.shape
    box = kspace[..., _centre(h, calib), _centre(w, calib)]
    rms = (box.abs().square().sum(dim=(1, 2, 3)) / (h * w)).sqrt()
    return rms.clamp_min(torch.finfo(rms.dtype).tiny)


def complex_noise(shape: Sequence[int], gen: torch.Generator) -> torch.Tensor:
    """Complex Gaussian noise, real and imaginary parts each of unit variance (CPU, complex64)."""
    return torch.complex(torch.randn(*shape, generator=gen), torch.randn(*shape, generator=gen))


def further_mask(
    mask: torch.Tensor, drop: float, gen: torch.Generator, *, calib: int = MIN_ACS
) -> torch.Tensor:
    """A random subset of ``mask``: each sampled entry outside the central ``calib`` box is
    dropped with probability ``drop`` (Ambient Diffusion's further corruption ``M~``).

    Args:
        mask: float 0/1 ``(B, 1, Hm, W)`` (``Hm = 1`` for 1D masks: whole lines are dropped).
        drop: probability in ``[0, 1)``.
        gen: the generator of the draw (CPU).
        calib: side of the central box that is always kept.
    """
    if not 0.0 <= drop < 1.0:
        raise ValueError(f"drop must be in [0, 1), got {drop}")
    keep = (torch.rand(mask.shape, generator=gen) >= drop).to(mask.device, mask.dtype)
    box = torch.zeros_like(keep)
    box[..., _centre(mask.shape[-2], calib), _centre(mask.shape[-1], calib)] = 1.0
    return mask * torch.maximum(keep, box)


def data_consistency(
    x: torch.Tensor, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, steps: int = 1
) -> torch.Tensor:
    """``steps`` unit gradient steps on ``0.5 || M F S x - y ||^2``, in fp32.

    For one coil (``S = 1``) one step replaces the measured samples of ``F x`` by ``y`` and
    keeps the rest: the exact projection onto the data. For normalised SENSE maps it moves
    towards it.
    """
    x, kspace, maps = x.to(torch.complex64), kspace.to(torch.complex64), maps.to(torch.complex64)
    mask = mask.float()
    for _ in range(steps):
        x = x - sens_reduce(mask * (sens_expand(x, maps) - kspace), maps)
    return x


def sigma_schedule(sigma_max: float, sigma_min: float, steps: int) -> list[float]:
    """A geometric sequence of ``steps`` noise levels from ``sigma_max`` down to ``sigma_min``."""
    if not 0 < sigma_min <= sigma_max or steps < 1:
        raise ValueError(
            f"need 0 < sigma_min <= sigma_max and steps >= 1, got {sigma_min}, {sigma_max}, {steps}"
        )
    if steps == 1:
        return [float(sigma_min)]
    r = math.log(sigma_min / sigma_max) / (steps - 1)
    return [float(sigma_max * math.exp(r * i)) for i in range(steps)]


@dataclass(frozen=True)
class AmbientSpec:
    """How an ambient prior was trained: its data's sampling and the further corruption.

    Attributes:
        sampling: the training acquisitions' setting (e.g. ``gaussian_2d@4``).
        drop: probability of dropping each sampled point outside the calibration box.
        calib: side of the central box always kept (and used by :func:`calib_scale`).
    """

    sampling: Sampling
    drop: float
    calib: int = MIN_ACS


def ambient_loss(
    net: nn.Module,
    kspace: torch.Tensor,
    mask: torch.Tensor,
    maps: torch.Tensor,
    further: torch.Tensor,
    sigma: torch.Tensor,
    noise: torch.Tensor,
    *,
    weighting: str = "edm",
) -> torch.Tensor:
    """The ambient denoising loss, mean over the batch.

    The network sees ``S^H F^H M~ (y + sigma F S e)``, i.e. the noisy image ``x0 + sigma e``
    through the further mask ``M~``, and is scored on every originally measured sample:
    ``|| M (F S D - y) ||^2 / (C H W)`` weighted by ``1 / c_out(sigma)^2`` (``weighting="edm"``)
    or by ``1 / sigma_data^2`` at every level (``"uniform"``). Nothing outside
    ``M`` enters (``y`` is zero there and the residual is masked). With ``M = M~ = 1`` and one
    coil it is the plain denoising loss ``|| D - x0 ||^2 / (H W)``.

    Args:
        net: a :class:`~mricompendium.models.reconstruction.score.ScoreUNet`.
        kspace: normalised measured k-space ``y`` complex ``(B, C, H, W)`` (zero off ``mask``).
        mask: ``M``, broadcastable to ``(B, 1, H, W)``.
        maps: coil maps ``(B, C, H, W)``.
        further: ``M~``, a subset of ``mask``.
        sigma: noise levels ``(B,)``.
        noise: complex image noise ``e`` ``(B, H, W)``.
        weighting: ``"edm"`` or ``"uniform"``.
    """
    if weighting not in ("edm", "uniform"):
        raise ValueError(f"weighting must be 'edm' or 'uniform', got {weighting!r}")
    b, c, h, w = kspace.shape
    sig = sigma.view(-1, 1, 1, 1).to(kspace.real.dtype)
    k_in = further * (kspace + sig * sens_expand(noise, maps))
    x_in = sens_reduce(k_in, maps)
    d = net(x_in, sigma, further)
    resid = mask * (sens_expand(d, maps) - kspace)
    per_case = resid.abs().square().sum(dim=(1, 2, 3)) / (c * h * w)
    if weighting == "uniform":
        return per_case.mean() / net.sigma_data**2
    c_out = net.coefficients(sigma)[1]
    return (per_case / c_out.square()).mean()


@dataclass
class PriorData:
    """Fixed training acquisitions of a prior (one acquisition per image, as in a scanner).

    Attributes:
        kspace: normalised k-space ``(N, C, H, W)`` (zero off ``mask``).
        mask: ``(N, 1, Hm, W)`` masks (all ones for fully sampled data).
        maps: coil maps estimated from each acquisition ``(N, C, H, W)``.
        scale: the per-image normalisation ``(N,)`` (:func:`calib_scale`).
        ambient: the further corruption (``None``: fully sampled data, no further corruption).
    """

    kspace: torch.Tensor
    mask: torch.Tensor
    maps: torch.Tensor
    scale: torch.Tensor
    ambient: AmbientSpec | None = None

    def __len__(self) -> int:
        return int(self.kspace.shape[0])


def prior_data(
    source: Any,
    indices: Sequence[int],
    *,
    seed: int,
    ambient: AmbientSpec | None = None,
    chunk: int = 32,
) -> PriorData:
    """The training acquisitions of ``indices``: fully sampled (``ambient=None``) or each image
    once under ``ambient.sampling`` (its own mask). Both draw the same noise (``seed``), so an
    undersampled acquisition is exactly the masked fully sampled one."""
    shape = source.image_shape
    sampling = full_sampling(shape) if ambient is None else ambient.sampling
    calib = MIN_ACS if ambient is None else ambient.calib
    parts = []
    idx = [int(i) for i in indices]
    for start in range(0, len(idx), chunk):
        batch = source.batch(idx[start : start + chunk], sampling, seed)
        mask = batch.mask.expand(len(batch), *batch.mask.shape[1:])
        maps = batch.maps if ambient is not None else estimate_sensitivities(batch.kspace, mask)
        s = calib_scale(batch.kspace, calib)
        parts.append((batch.kspace / s.view(-1, 1, 1, 1), mask, maps, s))
    k, m, maps, s = (torch.cat(t) for t in zip(*parts, strict=True))
    return PriorData(k, m, maps, s, ambient)


def prior_subset(data: PriorData, n: int) -> PriorData:
    """The first ``n`` acquisitions of ``data``: the same images, masks and noise (a smaller
    training set for the training-size sweep)."""
    if not 1 <= n <= len(data):
        raise ValueError(f"subset size {n} outside [1, {len(data)}]")
    return PriorData(data.kspace[:n], data.mask[:n], data.maps[:n], data.scale[:n], data.ambient)


def gap_trend(gaps: dict[int, float]) -> str:
    """How a gap (one prior minus the other) changes with the training-set size, in words:
    whether its magnitude shrinks or grows from the smallest to the largest size, and whether it
    keeps its sign across every size (``gaps``: size -> gap, at least two sizes)."""
    if len(gaps) < 2:
        raise ValueError("need the gap at two training-set sizes at least")
    sizes = sorted(gaps)
    first, last = abs(gaps[sizes[0]]), abs(gaps[sizes[-1]])
    size = "shrinks" if last < first else "grows" if last > first else "stays the same"
    signs = {(g > 0) - (g < 0) for g in gaps.values()}
    sign = "keeps its sign" if len(signs) == 1 and 0 not in signs else "does not keep its sign"
    return f"its magnitude {size} from n={sizes[0]} to n={sizes[-1]} and it {sign}"


def prior_stream(
    data: PriorData,
    batch_size: int,
    *,
    p_mean: float = -1.2,
    p_std: float = 1.2,
) -> Callable[[int], Callable[[int, torch.Generator], dict[str, torch.Tensor]]]:
    """``stream(seed) -> batch function`` for ``train_seeds``: cases with replacement, noise
    levels ``log sigma ~ N(p_mean, p_std^2)`` (EDM), image noise and, for ambient data, a fresh
    further mask per case; everything from the step's generator."""
    if batch_size < 1 or len(data) < 1:
        raise ValueError("need batch_size >= 1 and training data")
    h, w = data.kspace.shape[-2:]

    def make(seed: int) -> Callable[[int, torch.Generator], dict[str, torch.Tensor]]:
        def sample(step: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
            pick = torch.randint(len(data), (batch_size,), generator=gen)
            sigma = (p_mean + p_std * torch.randn(batch_size, generator=gen)).exp()
            noise = complex_noise((batch_size, h, w), gen)
            mask = data.mask[pick.to(data.mask.device)]
            further = mask
            if data.ambient is not None:
                further = further_mask(mask, data.ambient.drop, gen, calib=data.ambient.calib)
            dev = data.kspace.device
            pick = pick.to(dev)
            return {"kspace": data.kspace[pick], "mask": mask, "maps": data.maps[pick],
                    "further": further, "sigma": sigma.to(dev), "noise": noise.to(dev)}  # fmt: skip

        return sample

    return make


def prior_loss(
    model: nn.Module, item: dict[str, torch.Tensor], *, weighting: str = "edm"
) -> torch.Tensor:
    """The training loss of a :class:`DiffusionRecon` on one :func:`prior_stream` item."""
    dev = next(model.parameters()).device
    item = {k: v.to(dev) for k, v in item.items()}
    return ambient_loss(model.denoiser, item["kspace"], item["mask"], item["maps"],
                        item["further"], item["sigma"], item["noise"],
                        weighting=weighting)  # fmt: skip


class DiffusionRecon(nn.Module):
    """A diffusion prior and its posterior sampler as a reconstruction ``(kspace, mask, maps)``.

    Args:
        denoiser: the noise-conditioned network ``D(x, sigma, mask)``.
        ambient: how it was trained (``None``: fully sampled images).
        steps: sampler steps (network evaluations per reconstruction).
        sigma_max, sigma_min: the noise levels of the first and last step (normalised units).
        dc_steps: data-consistency gradient steps after each denoising (1: exact for one coil).
        sample_seed: seeds the sampler's noise (the same for every call: deterministic).
    """

    def __init__(
        self,
        denoiser: nn.Module,
        *,
        ambient: AmbientSpec | None = None,
        steps: int = 30,
        sigma_max: float = 3.0,
        sigma_min: float = 0.01,
        dc_steps: int = 1,
        sample_seed: int = 0,
    ) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.ambient = ambient
        self.schedule = sigma_schedule(sigma_max, sigma_min, steps)
        self.dc_steps, self.sample_seed = int(dc_steps), int(sample_seed)

    def _view_mask(
        self, b: int, shape: tuple[int, int], gen: torch.Generator
    ) -> torch.Tensor | None:
        if self.ambient is None:
            return None
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        base = self.ambient.sampling.make_mask(shape, seed).expand(b, -1, -1, -1)
        return further_mask(base, self.ambient.drop, gen, calib=self.ambient.calib)

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor, return_all: bool = False
    ) -> torch.Tensor | list[torch.Tensor]:
        """Posterior sample ``(B, H, W)`` for measured ``kspace`` (and, with ``return_all``, the
        denoised estimate of every step)."""
        calib = self.ambient.calib if self.ambient is not None else MIN_ACS
        b, _, h, w = kspace.shape
        s = calib_scale(kspace, calib).view(-1, 1, 1, 1)
        y = kspace / s
        gen = torch.Generator().manual_seed(self.sample_seed)
        dev = kspace.device
        x = sens_reduce(y, maps) + self.schedule[0] * complex_noise((b, h, w), gen).to(dev)
        view = self._view_mask(b, (h, w), gen)
        estimates = []
        for i, sigma in enumerate(self.schedule):
            x_in = x if view is None else sens_reduce(view.to(dev) * sens_expand(x, maps), maps)
            sig = torch.full((b,), sigma, dtype=x.real.dtype, device=dev)
            x0 = self.denoiser(x_in, sig, None if view is None else view.to(dev))
            x0 = data_consistency(x0, y, mask, maps, self.dc_steps)
            estimates.append(x0 * s[:, 0])
            if i + 1 < len(self.schedule):
                x = x0 + self.schedule[i + 1] * complex_noise((b, h, w), gen).to(dev)
        return estimates if return_all else estimates[-1]


def build_prior(
    seed: int, *, chans: int = 12, ambient: AmbientSpec | None = None, **sampler: Any
) -> DiffusionRecon:
    """A fresh :class:`DiffusionRecon` around a :class:`ScoreUNet` with ``chans`` channels,
    initialised from ``seed`` (the same weights for an ambient and a fully sampled prior of one
    seed); ``sampler``: the keyword arguments of :class:`DiffusionRecon`."""
    torch.manual_seed(seed)
    return DiffusionRecon(ScoreUNet(chans=chans), ambient=ambient, **sampler)
