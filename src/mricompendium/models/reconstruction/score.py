"""A small noise-conditioned denoiser (score network) for complex MR images.

The network of a diffusion prior: ``D(x, sigma, mask) ~ E[x0 | x]``, the clean image given a
noisy (and, for an ambient model, further subsampled) one. It follows the preconditioning of
Karras et al. ("Elucidating the Design Space of Diffusion-Based Generative Models", NeurIPS
2022, EDM): ``D = c_skip x + c_out F(c_in x, c_noise)`` with ``c_skip = sd^2 / (s^2 + sd^2)``,
``c_out = s sd / sqrt(s^2 + sd^2)``, ``c_in = 1 / sqrt(s^2 + sd^2)`` and ``c_noise = log(s) / 4``
(``s`` the noise level, ``sd`` the data's standard deviation), and ``F`` a two-level U-Net whose
blocks add a learned embedding of ``c_noise`` to their features. Ambient Diffusion (Daras et al.,
NeurIPS 2023; Aali et al. for MRI) conditions the network on the corruption it sees: the k-space
mask is one more input channel (all ones for a model trained on fully sampled images).

Sized for 32x32 CPU training (about 1e5 parameters at ``chans=16``); the paper's EDM network at
384 px has tens of millions.
"""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.physics.fft import channels_to_complex, complex_to_channels

__all__ = ["ScoreUNet"]


class _Block(nn.Module):
    """Two 3x3 convolutions with group norm and SiLU; the noise embedding is added between."""

    def __init__(self, cin: int, cout: int, emb: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(4, cout), cout)
        self.norm2 = nn.GroupNorm(min(4, cout), cout)
        self.emb = nn.Linear(emb, cout)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x)))
        h = h + self.emb(e)[:, :, None, None]
        return self.act(self.norm2(self.conv2(h)))


class ScoreUNet(nn.Module):
    """EDM-preconditioned denoiser ``D(x, sigma, mask)`` for complex images ``(B, H, W)``.

    Args:
        chans: first-level channels (the second level has ``2 * chans``, the bottom ``4 * chans``).
        emb: width of the noise-level embedding.
        sigma_data: the standard deviation of the (normalised) training images.

    ``H`` and ``W`` must be multiples of 4.
    """

    def __init__(self, *, chans: int = 16, emb: int = 32, sigma_data: float = 0.5) -> None:
        super().__init__()
        if chans < 4 or emb < 1 or not sigma_data > 0:
            raise ValueError(
                f"need chans >= 4, emb >= 1, sigma_data > 0; got {chans}, {emb}, {sigma_data}"
            )
        self.sigma_data = float(sigma_data)
        self.embed = nn.Sequential(nn.Linear(1, emb), nn.SiLU(), nn.Linear(emb, emb))
        c1, c2, c3 = chans, 2 * chans, 4 * chans
        self.down1 = _Block(3, c1, emb)
        self.down2 = _Block(c1, c2, emb)
        self.mid = _Block(c2, c3, emb)
        self.up2 = _Block(c3 + c2, c2, emb)
        self.up1 = _Block(c2 + c1, c1, emb)
        self.out = nn.Conv2d(c1, 2, 1)
        self.pool = nn.AvgPool2d(2)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(c_skip, c_out, c_in, c_noise)`` per case for noise levels ``sigma`` ``(B,)``."""
        sd2 = self.sigma_data**2
        s2 = sigma.square()
        c_skip = sd2 / (s2 + sd2)
        c_out = sigma * self.sigma_data / (s2 + sd2).sqrt()
        c_in = 1.0 / (s2 + sd2).sqrt()
        return c_skip, c_out, c_in, sigma.log() / 4

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Denoised complex image ``(B, H, W)``.

        Args:
            x: noisy complex image ``(B, H, W)``.
            sigma: noise level per case ``(B,)`` (or a scalar), > 0.
            mask: k-space mask the input was seen through, broadcastable to ``(B, 1, H, W)``
                (``None``: fully sampled, all ones).
        """
        if x.dim() != 3 or not torch.is_complex(x):
            raise ValueError(f"x must be complex (B, H, W), got {tuple(x.shape)} {x.dtype}")
        b, h, w = x.shape
        if h % 4 or w % 4:
            raise ValueError(f"H and W must be multiples of 4, got {h}x{w}")
        sigma = torch.as_tensor(sigma, dtype=x.real.dtype, device=x.device).reshape(-1).expand(b)
        c_skip, c_out, c_in, c_noise = self.coefficients(sigma)
        m = torch.ones(b, 1, h, w, dtype=x.real.dtype, device=x.device)
        if mask is not None:
            m = m * mask.to(x.real.dtype).reshape(-1, 1, *mask.shape[-2:])
        z = torch.cat([complex_to_channels(x * c_in.view(-1, 1, 1)), m], dim=1)
        e = self.embed(c_noise.view(-1, 1))
        d1 = self.down1(z, e)
        d2 = self.down2(self.pool(d1), e)
        u = self.mid(self.pool(d2), e)
        u = self.up2(torch.cat([self.upsample(u), d2], dim=1), e)
        u = self.up1(torch.cat([self.upsample(u), d1], dim=1), e)
        f = channels_to_complex(self.out(u))
        return c_skip.view(-1, 1, 1) * x + c_out.view(-1, 1, 1) * f
