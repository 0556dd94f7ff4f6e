"""FFTs, the NUFFT and data consistency stay in fp32 under bf16 autocast."""

from __future__ import annotations

import pytest
import torch

from mricompendium.physics import fft
from mricompendium.physics.precision import full_precision, upcast


def _image(h=16, w=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, h, w, dtype=torch.complex64, generator=g)


def test_fft_under_autocast_is_the_fp32_fft():
    x = _image()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        k = fft.fft2c(x)
        odd = fft.ifft2c(_image(15, 13))
    assert k.dtype == torch.complex64 and odd.dtype == torch.complex64
    assert torch.equal(k, fft.fft2c(x))


def test_half_channels_become_single_precision_complex():
    x = torch.randn(2, 2, 8, 8).to(torch.bfloat16)
    z = fft.channels_to_complex(x)
    assert z.dtype == torch.complex64
    assert torch.equal(z.real, x[:, 0].float())


def test_full_precision_suspends_autocast_only_inside():
    a = torch.randn(4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (a @ a).dtype == torch.bfloat16
        with full_precision(a):
            assert (a @ a).dtype == torch.float32
        assert (a @ a).dtype == torch.bfloat16
    with full_precision("cpu"):  # a no-op outside autocast
        assert (a @ a).dtype == torch.float32
    assert upcast(a.half()).dtype == torch.float32 and upcast(a) is a


def test_radial_nufft_under_autocast_matches_fp32():
    from mricompendium.physics import RadialNufftOp, golden_angle_radial

    traj = golden_angle_radial(8, 32, seed=0)
    op = RadialNufftOp(traj, (16, 16))
    x = _image()
    ref = op.A(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = op.A(x)
        back = op.A_adjoint(y)
    assert y.dtype == torch.complex64 and back.dtype == torch.complex64
    assert torch.equal(y, ref)


def _problem(b=2, c=4, n=16):
    """A smooth complex image, unit-RSS coil maps and a 1D mask with a calibration band."""
    from mricompendium.physics.sense import sens_expand

    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    x = (torch.exp(-(xx**2 + yy**2) * 3) + 0.1 * torch.randn(b, n, n, generator=g)).to(
        torch.complex64
    )
    ang = (torch.arange(c) * 2 * torch.pi / c)[:, None, None]
    maps = torch.exp(-((xx - ang.cos()) ** 2 + (yy - ang.sin()) ** 2)) * torch.exp(1j * ang * xx)
    maps = (maps / maps.abs().square().sum(0).sqrt()).expand(b, c, n, n).to(torch.complex64)
    mask = torch.zeros(1, 1, 1, n)
    mask[..., ::3] = 1
    mask[..., n // 2 - 2 : n // 2 + 2] = 1
    return mask * sens_expand(x, maps), mask, maps, x


def _recon_models() -> list[str]:
    from mricompendium.experiments import reconstruction as rx

    return list(rx.MODELS)


@pytest.mark.parametrize("name", _recon_models())
def test_recon_models_train_under_bf16_autocast(name):
    from mricompendium.data.recon import ReconBatch
    from mricompendium.experiments import reconstruction as rx

    k, mask, maps, x = _problem()
    batch = ReconBatch(k, mask, maps, maps, x, torch.ones(2, 16, 16, dtype=torch.bool),
                       torch.arange(2))  # fmt: skip
    torch.manual_seed(0)
    model = rx.build_model(name)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = rx.predict(model, batch)
        loss = rx.magnitude_l1(model, batch)
    loss.backward()
    assert out.dtype == torch.complex64 and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
