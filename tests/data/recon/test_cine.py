"""The 2D+t cine simulator: fine-grid cases of the analytic heart, multi-frame k-space."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data import cardiac
from mricompendium.data.recon.cine import FrameSimulator, cine_cases
from mricompendium.data.registration import cardiac as reexported


def test_the_registration_family_still_imports_the_moved_heart() -> None:
    assert reexported.CardiacSequence is cardiac.CardiacSequence
    assert reexported.random_heart is cardiac.random_heart


def test_cases_are_deterministic_hearts_of_their_own() -> None:
    c = cine_cases(2, frames=4, size=16, seed=0)
    assert c.objects.shape == (2, 4, 128, 128) and c.body.shape == c.heart.shape == (2, 16, 16)
    assert len(set(c.unit)) == 2 and set(c.group) == {"analytic"}
    np.testing.assert_array_equal(c.objects, cine_cases(2, frames=4, size=16, seed=0).objects)
    assert not np.allclose(c.objects[0], c.objects[1])
    assert not np.allclose(c.objects[0, 0], c.objects[0, 1])  # the heart beats
    assert c.heart.any(axis=(1, 2)).all() and (c.heart <= c.body | c.heart).all()


def test_real_texture_and_breathing_change_the_frames() -> None:
    base = cine_cases(1, frames=4, size=16, seed=1)
    real = cine_cases(1, frames=4, size=16, seed=1, background="real")
    assert not np.allclose(base.objects, real.objects)
    breath = cine_cases(1, frames=4, size=16, seed=1, breathing_mm=6.0)
    assert not np.allclose(base.objects[0, 1], breath.objects[0, 1])
    with pytest.raises(ValueError):
        cine_cases(1, frames=4, size=16, seed=1, background="mri")
    with pytest.raises(ValueError):
        cine_cases(1, frames=4, size=80, seed=1)  # object grid not 2x finer


def test_simulator_refuses_the_inverse_crime_and_bad_regions() -> None:
    obj = np.ones((1, 2, 32, 32), np.float32)
    with pytest.raises(ValueError, match="inverse crime"):
        FrameSimulator(obj, np.ones((1, 20, 20), bool), num_coils=2, snr=None, seed=0)
    with pytest.raises(ValueError):
        FrameSimulator(obj, np.zeros((1, 16, 16), bool), num_coils=2, snr=None, seed=0)


def test_batches_are_pure_and_full_sampling_without_noise_returns_the_reference() -> None:
    c = cine_cases(2, frames=3, size=16, seed=2)
    sim = FrameSimulator(c.objects, c.heart, num_coils=1, snr=None, seed=0)
    full = sim.batch([0], "equispaced_kt@1,acs=0", seed=5)
    assert full.kspace.shape == (1, 1, 3, 16, 16) and full.mask.shape == (1, 1, 3, 1, 16)
    torch.testing.assert_close(full.zero_filled(), full.target, atol=1e-5, rtol=1e-4)
    noisy = FrameSimulator(c.objects, c.heart, num_coils=4, snr=10.0, seed=0)
    a, b = noisy.batch([0, 1], "vd_kt@4", seed=7), noisy.batch([1, 0], "vd_kt@4", seed=7)
    torch.testing.assert_close(a.kspace[1], b.kspace[0])  # a case's data ignore its batch
    assert a.maps.shape == (2, 4, 16, 16)
    shared = noisy.batch([0, 1], "poisson_2d@4", seed=7, mask_seed=3)
    assert shared.mask.shape == (1, 1, 1, 16, 16)  # one 2D mask for every frame


def test_multi_coil_zero_filled_frames_have_the_references_scale() -> None:
    # the networks' inputs and targets share one scale: fully sampled, noise-free, 10 coils,
    # maps estimated from the data, the combined frames match the reference in the heart
    c = cine_cases(2, frames=3, size=32, seed=3)
    sim = FrameSimulator(c.objects, c.heart, num_coils=10, snr=None, seed=0)
    full = sim.batch([0, 1], "equispaced_kt@1,acs=4", seed=5)
    region = full.region.unsqueeze(1).expand_as(full.target)
    zf, ref = full.zero_filled().abs()[region], full.target.abs()[region]
    assert 0.95 < float(zf.sum() / ref.sum()) < 1.05
    assert float((zf - ref).abs().mean() / ref.mean()) < 0.05
