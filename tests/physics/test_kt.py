"""k-t sampling masks and the multi-frame SENSE operator."""

from __future__ import annotations

import pytest
import torch

from mricompendium.physics.fft import fft2c, ifft2c
from mricompendium.physics.kt import (
    KtSampling,
    KtSenseOp,
    equispaced_kt_mask,
    frame_average,
    realised_kt_acceleration,
    variable_density_kt_mask,
)


def test_variable_density_samples_the_budget_and_the_centre_in_every_frame() -> None:
    m = variable_density_kt_mask(10, 64, acceleration=8, center=2, seed=3)
    assert m.shape == (1, 1, 10, 1, 64)
    assert (m.sum(dim=-1) == 8).all()  # round(64 / 8) lines per frame
    assert (m[0, 0, :, 0, 31:33] == 1).all()
    assert realised_kt_acceleration(m) == pytest.approx(8.0)
    assert len({tuple(m[0, 0, t, 0].tolist()) for t in range(10)}) > 1  # frames differ
    assert torch.equal(m, variable_density_kt_mask(10, 64, acceleration=8, center=2, seed=3))
    assert not torch.equal(m, variable_density_kt_mask(10, 64, acceleration=8, center=2, seed=4))


def test_variable_density_favours_low_frequencies() -> None:
    m = variable_density_kt_mask(400, 64, acceleration=4, center=0, seed=0)[0, 0, :, 0]
    assert m[:, 24:40].mean() > 2 * m[:, :8].mean()


def test_equispaced_fixed_and_interleaved() -> None:
    fixed = equispaced_kt_mask(4, 40, step=4, acs=6, seed=1)
    assert (fixed[0, 0] == fixed[0, 0, :1]).all()  # the same lines in every frame
    assert (fixed[0, 0, :, 0, 17:23] == 1).all()  # the ACS block
    inter = equispaced_kt_mask(4, 40, step=4, acs=0, interleaved=True, seed=1)
    lines = [torch.nonzero(inter[0, 0, t, 0]).flatten() for t in range(4)]
    assert all(((b - a) % 4 == 1).all() for a, b in zip(lines, lines[1:], strict=False))
    assert realised_kt_acceleration(inter) == pytest.approx(4.0)


def test_sampling_parses_round_trips_and_validates() -> None:
    s = KtSampling.parse("equispaced_kt@8,acs=6,interleaved")
    assert (s.pattern, s.acceleration, s.acs, s.interleaved) == ("equispaced_kt", 8.0, 6, True)
    assert KtSampling.parse(str(s)) == s
    assert KtSampling.parse("vd_kt@12").acs_lines(64) == 2
    assert KtSampling("equispaced_kt", 10).acs_lines(240) == 24  # CMRxRecon's 24 of ~246
    for bad in ("vd_kt@1", "equispaced_kt@2.5", "spiral@4", "vd_kt@8,foo=1", "vd_kt"):
        with pytest.raises(ValueError):
            KtSampling.parse(bad)
    assert s.make_mask(6, 32, 0).shape == (1, 1, 6, 1, 32)


@pytest.mark.parametrize("shape", [(8, 6), (7, 6), (6, 9)])
def test_kt_sense_matches_fft2c_and_is_adjoint(shape: tuple[int, int]) -> None:
    h, w = shape
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, h, w, dtype=torch.complex64, generator=g)
    maps = torch.randn(2, 4, h, w, dtype=torch.complex64, generator=g)
    mask = (torch.rand(2, 1, 3, 1, w, generator=g) > 0.5).float()
    y = torch.randn(2, 4, 3, h, w, dtype=torch.complex64, generator=g)
    op = KtSenseOp(maps, mask)
    ref = mask * fft2c(maps.unsqueeze(2) * x.unsqueeze(1))
    torch.testing.assert_close(op.A(x), ref)
    torch.testing.assert_close(
        op.A_adjoint(y), (maps.unsqueeze(2).conj() * ifft2c(mask * y)).sum(1)
    )
    lhs = (op.A(x).conj() * y).sum()
    rhs = (x.conj() * op.A_adjoint(y)).sum()
    assert abs(lhs - rhs) < 1e-4 * abs(lhs)


def test_kt_sense_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError):
        KtSenseOp(torch.ones(1, 2, 4, 4), torch.ones(1, 1, 3, 1, 4))  # real maps
    with pytest.raises(ValueError):
        KtSenseOp(torch.ones(1, 2, 4, 4, dtype=torch.complex64), torch.ones(1, 1, 4))


def test_frame_average_divides_by_the_frames_that_sampled() -> None:
    k = torch.ones(1, 2, 3, 4, 4, dtype=torch.complex64) * torch.arange(1, 4).view(1, 1, 3, 1, 1)
    mask = torch.zeros(1, 1, 3, 1, 4)
    mask[..., 0] = 1
    mask[0, 0, 2, 0, 1] = 1
    avg, union = frame_average(k * mask, mask)
    assert torch.allclose(avg[0, 0, 0, :2].real, torch.tensor([2.0, 3.0]))
    assert union[0, 0, 0].tolist() == [1, 1, 0, 0]
