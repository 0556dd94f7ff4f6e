"""Centred orthonormal FFT: round trips, unitarity, centring, agreement with numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c


def _randc(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.complex128)


@pytest.mark.parametrize("shape", [(2, 8, 8), (1, 3, 7, 10), (5, 9)])
def test_round_trip_and_norm(shape: tuple[int, ...]) -> None:
    x = _randc(*shape)
    k = fft2c(x)
    assert k.shape == x.shape
    torch.testing.assert_close(ifft2c(k), x)
    torch.testing.assert_close(k.norm(), x.norm())


def test_adjoint_is_inverse() -> None:
    x, y = _randc(2, 6, 10, seed=1), _randc(2, 6, 10, seed=2)
    lhs = torch.vdot(fft2c(x).flatten(), y.flatten())
    rhs = torch.vdot(x.flatten(), ifft2c(y).flatten())
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("shape", [(8, 8), (7, 10)])
def test_constant_image_puts_dc_at_centre(shape: tuple[int, int]) -> None:
    h, w = shape
    k = fft2c(torch.ones(1, h, w, dtype=torch.complex64))[0]
    assert torch.isclose(k[h // 2, w // 2].abs(), torch.tensor(float(np.sqrt(h * w))))
    k[h // 2, w // 2] = 0
    assert k.abs().max() < 1e-4


def test_matches_numpy_centred_fft() -> None:
    x = _randc(7, 10, seed=3)
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x.numpy()), norm="ortho"))
    np.testing.assert_allclose(fft2c(x).numpy(), ref, atol=1e-12)


def test_delta_at_centre_gives_flat_spectrum() -> None:
    x = torch.zeros(6, 8, dtype=torch.complex64)
    x[3, 4] = 1
    torch.testing.assert_close(fft2c(x), torch.full_like(x, 1 / np.sqrt(48)))


def test_real_input_rejected() -> None:
    with pytest.raises(TypeError):
        fft2c(torch.ones(4, 4))
    with pytest.raises(TypeError):
        ifft2c(torch.ones(4, 4))


def test_channels_round_trip() -> None:
    x = _randc(2, 5, 6).to(torch.complex64)
    ch = complex_to_channels(x)
    assert ch.shape == (2, 2, 5, 6) and not torch.is_complex(ch)
    torch.testing.assert_close(channels_to_complex(ch), x)
    with pytest.raises(ValueError):
        channels_to_complex(torch.zeros(1, 3, 4, 4))


@pytest.mark.parametrize("shape", [(4, 6), (2, 4), (8, 8), (6, 10), (5, 6), (7, 7)])
def test_centred_fft_equals_shift_definition(shape):
    """The even-size checkerboard shortcut equals fftshift(F(ifftshift(x))) for every size."""
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, *shape, dtype=torch.complex128, generator=g)
    dims = (-2, -1)
    for ours, f in ((fft2c, torch.fft.fft2), (ifft2c, torch.fft.ifft2)):
        ref = torch.fft.fftshift(f(torch.fft.ifftshift(z, dim=dims), norm="ortho"), dim=dims)
        torch.testing.assert_close(ours(z), ref, rtol=0, atol=1e-12)
