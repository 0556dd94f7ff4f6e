"""Sampling masks and radial trajectories: realised acceleration, centre, seeding, spacing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.physics.masks import (
    Sampling,
    equispaced_mask_1d,
    gaussian_mask_2d,
    golden_angle_radial,
    poisson_disc_mask_2d,
    radial_acceleration,
    random_mask_1d,
    realised_acceleration,
    spokes_for_acceleration,
)

ACCELERATIONS = [4, 5, 8, 10, 16, 20]
MASKS_1D = [equispaced_mask_1d, random_mask_1d]
MASKS_2D = [poisson_disc_mask_2d, gaussian_mask_2d]


def _centre_fraction(acc: float) -> float:
    return 0.32 / acc  # fastMRI-like: 8 % at 4x, 4 % at 8x


@pytest.mark.parametrize("fn", MASKS_1D)
@pytest.mark.parametrize("acc", ACCELERATIONS)
def test_1d_mask_acceleration_and_centre(fn, acc: int) -> None:
    w, cf = 320, _centre_fraction(acc)
    mask = fn(w, acceleration=acc, center_fraction=cf, seed=3)
    assert mask.shape == (1, 1, 1, w) and mask.dtype == torch.float32
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask.sum() == round(w / acc)
    assert abs(realised_acceleration(mask) - acc) / acc < 0.02
    num_low = round(w * cf)
    start = (w - num_low + 1) // 2
    assert mask[0, 0, 0, start : start + num_low].all()


@pytest.mark.parametrize("fn", MASKS_2D)
@pytest.mark.parametrize("acc", ACCELERATIONS)
def test_2d_mask_acceleration_and_calibration(fn, acc: int) -> None:
    mask = fn((128, 128), acceleration=acc, calib=(16, 16), seed=1)
    assert mask.shape == (1, 1, 128, 128) and mask.dtype == torch.float32
    assert abs(realised_acceleration(mask) - acc) / acc < 0.02
    assert mask[0, 0, 56:72, 56:72].all()


def test_2d_masks_are_variable_density() -> None:
    for fn in MASKS_2D:
        mask = fn((128, 128), acceleration=8, calib=(8, 8), seed=0)[0, 0]
        inner, outer = mask[40:88, 40:88].mean(), mask[:24, :24].mean()
        assert inner > 2 * outer


@pytest.mark.parametrize("fn", MASKS_1D + MASKS_2D)
def test_seeding(fn) -> None:
    if fn in MASKS_1D:
        make = lambda s: fn(128, acceleration=4, center_fraction=0.08, seed=s)  # noqa: E731
    else:
        make = lambda s: fn((64, 64), acceleration=4, calib=(8, 8), seed=s)  # noqa: E731
    assert torch.equal(make(7), make(7))
    assert not torch.equal(make(7), make(8))


@pytest.mark.parametrize("acc", [4, 5, 8])
def test_equispaced_lines_are_evenly_spaced_outside_centre(acc: int) -> None:
    w, cf = 320, 0.08
    mask = equispaced_mask_1d(w, acceleration=acc, center_fraction=cf, seed=0)[0, 0, 0]
    num_low = round(w * cf)
    start = (w - num_low + 1) // 2
    for side in (mask[: start - 1], mask[start + num_low + 1 :]):
        cols = torch.nonzero(side).flatten()
        gaps = cols.diff()
        assert gaps.max() - gaps.min() <= 1
    # an integer step gives exactly equal gaps: 72 outer columns, 12 lines -> step 6
    mask = equispaced_mask_1d(80, acceleration=4, center_fraction=0.1, seed=0)[0, 0, 0]
    outer = torch.cat((mask[:36], mask[44:]))
    assert outer.sum() == 12
    assert set(torch.nonzero(outer).flatten().diff().tolist()) == {6}


def test_mask_input_errors() -> None:
    with pytest.raises(ValueError):
        random_mask_1d(64, acceleration=0.5, center_fraction=0.1, seed=0)
    with pytest.raises(ValueError):  # centre larger than the budget
        equispaced_mask_1d(64, acceleration=8, center_fraction=0.5)
    with pytest.raises(ValueError):
        gaussian_mask_2d((32, 32), acceleration=16, calib=(16, 16), seed=0)
    with pytest.raises(ValueError):
        realised_acceleration(torch.zeros(1, 1, 1, 8))


def test_realised_acceleration_values() -> None:
    mask = torch.zeros(1, 1, 1, 10)
    mask[..., :2] = 1
    assert realised_acceleration(mask) == 5.0
    mask2 = torch.zeros(1, 1, 4, 4)
    mask2[..., 0, :] = 1
    assert realised_acceleration(mask2) == 4.0


def test_golden_angle_radial_layout() -> None:
    traj = golden_angle_radial(5, 16)
    assert traj.shape == (80, 2) and traj.dtype == torch.float32
    assert traj.min() >= -math.pi and traj.max() < math.pi
    spoke0 = traj[:16]  # angle 0: along kx, ky = 0
    assert torch.allclose(spoke0[:, 0], torch.zeros(16), atol=1e-6)
    torch.testing.assert_close(spoke0[:, 1], (torch.arange(16) - 8) * (2 * math.pi / 16))
    # consecutive spokes differ by the golden angle (mod pi)
    angles = torch.atan2(traj[15::16, 0], traj[15::16, 1]).double()
    step = torch.remainder(angles.diff(), math.pi)
    torch.testing.assert_close(
        step, torch.full_like(step, math.pi * (math.sqrt(5) - 1) / 2 % math.pi), atol=1e-5, rtol=0
    )


def test_golden_angle_seed_rotates() -> None:
    a, b = golden_angle_radial(4, 8, seed=1), golden_angle_radial(4, 8, seed=1)
    assert torch.equal(a, b)
    assert not torch.allclose(a, golden_angle_radial(4, 8, seed=2))
    assert not torch.allclose(a, golden_angle_radial(4, 8))


def test_radial_acceleration_round_trip() -> None:
    assert radial_acceleration(201, 128) == pytest.approx(math.pi / 2 * 128 / 201)
    for acc in (2, 4, 8):
        spokes = spokes_for_acceleration(acc, 256)
        assert abs(radial_acceleration(spokes, 256) - acc) / acc < 0.02
    with pytest.raises(ValueError):
        radial_acceleration(0, 128)


def test_poisson_search_matches_sigpy_and_terminates():
    """The bounded slope search gives SigPy's mask where SigPy converges, and never hangs."""
    import sigpy.mri

    from mricompendium.physics.masks import _sigpy_poisson

    for seed in (0, 1, 2):
        ours = _sigpy_poisson((32, 32), 4.0, (4, 4), seed, tol=0.08)
        theirs = sigpy.mri.poisson((32, 32), 4.0, calib=(4, 4), seed=seed, tol=0.08)
        np.testing.assert_array_equal(ours != 0, np.abs(theirs) > 0)
    # A seed on which sigpy.mri.poisson loops forever (its bisection stalls on equal floats):
    mask = poisson_disc_mask_2d((48, 48), acceleration=10, calib=(6, 6), seed=173230765)
    assert realised_acceleration(mask) == pytest.approx(10, rel=0.02)


@pytest.mark.parametrize("pattern", ["equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d"])
@pytest.mark.parametrize("acc", [4.0, 8.0])
def test_sampling_realised_acceleration(pattern: str, acc: float) -> None:
    mask = Sampling(pattern, acc).make_mask((64, 64), seed=2)
    assert abs(realised_acceleration(mask) - acc) / acc < 0.05
    if pattern.endswith("2d"):  # the 8x8 calibration box
        assert bool((mask[0, 0, 28:36, 28:36] > 0).all())
    else:  # at least 4 centre columns
        assert bool((mask[0, 0, 0, 30:34] > 0).all())


def test_sampling_parse_and_errors() -> None:
    s = Sampling.parse("poisson_2d@8")
    assert s == Sampling("poisson_2d", 8.0) and str(s) == "poisson_2d@8" and s.is_2d
    assert Sampling.parse("equispaced_1d@4x,cf=0.1").center_fraction == 0.1
    assert Sampling.parse("gaussian_2d@6,calib=6").calib == 6
    assert Sampling.parse(s) is s and "1D equispaced 4x" == Sampling("equispaced_1d", 4).label
    for bad in ("poisson_2d", "spiral@4", "poisson_2d@1", "poisson_2d@4,foo=1"):
        with pytest.raises(ValueError):
            Sampling.parse(bad)


def test_radial_sampling_trajectory() -> None:
    r = Sampling.parse("radial@17")
    assert r.is_radial and not r.is_2d and r.label == "golden-angle radial 17x"
    traj = r.trajectory((64, 64), seed=0)
    assert traj.shape == (spokes_for_acceleration(17, 64) * 128, 2)
    assert not torch.equal(traj, r.trajectory((64, 64), seed=1))
    with pytest.raises(ValueError, match="radial"):
        r.make_mask((64, 64), seed=0)
    with pytest.raises(ValueError, match="Cartesian"):
        Sampling("poisson_2d", 4).trajectory((64, 64), seed=0)
