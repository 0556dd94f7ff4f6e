"""Small multi-coil test data and a one-batch overfit check shared by the model tests."""

from __future__ import annotations

import torch

from mricompendium.physics.sense import sens_expand, sens_reduce


def make_data(b: int, c: int, h: int, w: int):
    """Smooth complex images, unit-RSS coil maps (ones for c=1), a 1D mask with a 4-line ACS."""
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    x = (
        torch.exp(-(xx**2 + yy**2) * 3)
        * (1 + xx * yy)
        * torch.exp(1j * torch.rand(b, 1, 1, generator=g))
    )
    x = (x + 0.1 * torch.randn(b, h, w, dtype=torch.complex64, generator=g)).to(torch.complex64)
    if c == 1:
        maps = torch.ones(b, 1, h, w, dtype=torch.complex64)
    else:
        ang = (torch.arange(c) * 2 * torch.pi / c)[:, None, None]
        mag = torch.exp(-((xx - ang.cos()) ** 2 + (yy - ang.sin()) ** 2))
        maps = (mag * torch.exp(1j * ang * (xx + 1))).expand(b, c, h, w)
        maps = (maps / maps.abs().square().sum(1, keepdim=True).sqrt()).to(torch.complex64)
    mask = torch.zeros(1, 1, 1, w)
    mask[..., ::3] = 1
    mask[..., w // 2 - 2 : w // 2 + 2] = 1
    return mask * sens_expand(x, maps), mask, maps, x


def overfit_ratio(net: torch.nn.Module, k, mask, maps, x, *, steps: int = 30, lr: float = 3e-3):
    """Last over first loss of ``steps`` Adam steps on one batch (magnitude MSE).

    The data are first divided by the RMS of the zero-filled image, as the experiment layer
    normalises every model's input.
    """
    scale = sens_reduce(k, maps).abs().square().mean().sqrt()
    k, x = k / scale, x / scale
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (net(k, mask, maps).abs() - x.abs()).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[-1] / losses[0]


SIZE = 32


def ellipse_problem(coils: int, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Deterministic phantom, smooth coil maps and a 1D mask (every 2nd column + 4 central)."""
    lin = torch.linspace(-1, 1, SIZE)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    shift = 0.1 * torch.arange(1, batch + 1).view(-1, 1, 1)
    body = ((xx / 0.45) ** 2 + (yy / 0.8) ** 2 < 1).float()
    spot = 0.5 * ((xx - shift) ** 2 + (yy + 0.1) ** 2 < 0.04).float()
    target = ((body + spot) * torch.exp(0.5j * yy)).to(torch.complex64)
    angles = 2 * torch.pi * torch.arange(coils) / coils
    maps = torch.stack(
        [
            torch.exp(-((xx - a.cos()) ** 2) - (yy - a.sin()) ** 2 + 1j * (a + 0.3 * yy))
            for a in angles
        ]
    )
    maps = maps / maps.abs().pow(2).sum(0).sqrt() if coils > 1 else torch.ones_like(maps)
    maps = maps.to(torch.complex64).expand(batch, -1, -1, -1)
    mask = torch.zeros(1, 1, 1, SIZE)
    mask[..., ::2] = 1
    mask[..., SIZE // 2 - 2 : SIZE // 2 + 2] = 1
    return mask * sens_expand(target, maps), mask, maps.contiguous(), target
