from __future__ import annotations

import pytest
import torch

from mricompendium.physics.sense import sens_expand, sens_reduce


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seed, and one intra-op thread: small convolutions slow down badly on shared cores."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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
    """Last over first loss of ``steps`` Adam steps on one batch (magnitude MSE)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (net(k, mask, maps).abs() - x.abs()).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[-1] / losses[0]


from mricompendium.models.reconstruction.lpd import LPDNet  # noqa: E402

SMALL = dict(num_iter=3, n_primal=3, n_dual=2, hidden=16, depth=3)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(("h", "w"), [(32, 32), (33, 30)])
def test_output_shape_and_dtype(coils: int, h: int, w: int) -> None:
    k, mask, maps, _ = make_data(2, coils, h, w)
    out = LPDNet(**SMALL)(k, mask, maps)
    assert out.shape == (2, h, w) and out.dtype == torch.complex64


def test_requires_maps_and_valid_sizes() -> None:
    k, mask, _, _ = make_data(1, 4, 32, 32)
    with pytest.raises(ValueError, match="maps"):
        LPDNet(**SMALL)(k, mask)
    with pytest.raises(ValueError, match="n_dual"):
        LPDNet(n_dual=0)


@pytest.mark.parametrize("n_primal", [1, 3])
def test_zero_updates_return_the_zero_filled_image(n_primal: int) -> None:
    k, mask, maps, _ = make_data(2, 4, 32, 32)
    net = LPDNet(**{**SMALL, "n_primal": n_primal})
    for cnn in [*net.primal_nets, *net.dual_nets]:
        torch.nn.init.zeros_(cnn[-1].weight)
        torch.nn.init.zeros_(cnn[-1].bias)
    torch.testing.assert_close(net(k, mask, maps), sens_reduce(k, maps))


def test_gradients_reach_every_network() -> None:
    k, mask, maps, _ = make_data(1, 4, 32, 32)
    net = LPDNet(**SMALL)
    out = net(k, mask, maps)
    out.abs().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_is_equivariant_to_data_scale() -> None:
    k, mask, maps, _ = make_data(2, 4, 32, 32)
    net = LPDNet(**SMALL)
    torch.testing.assert_close(
        net(1e-4 * k, mask, maps), 1e-4 * net(k, mask, maps), rtol=1e-3, atol=1e-8
    )


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    k, mask, maps, x = make_data(1, coils, 32, 32)
    assert overfit_ratio(LPDNet(**SMALL), k, mask, maps, x, steps=60, lr=3e-3) < 0.4
