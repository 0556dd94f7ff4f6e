"""The k-space simulator and the training batch stream (mricompendium.data.recon)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.data.recon import KspaceSimulator as MultiCoilSimulator
from mricompendium.data.recon import ReconBatch, batch_fn
from mricompendium.physics.coils import rss
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import Sampling

PATTERNS = ["equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d"]


def _phantom(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth disc-shaped 'brains' of varying size: images (N, H, W) and masks."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    images, masks = [], []
    for i in range(n):
        r = size * (0.3 + 0.02 * i)
        mask = x**2 + (y / 1.2) ** 2 < r**2
        img = mask * (0.6 + 0.4 * np.cos(x / (3 + i)) * np.sin(y / 4))
        images.append(img.astype(np.float32))
        masks.append(mask)
    return np.stack(images), np.stack(masks)


@pytest.fixture(scope="module")
def sim() -> MultiCoilSimulator:
    images, masks = _phantom(6, 32)
    return MultiCoilSimulator(images, masks, num_coils=2, snr=20.0, seed=3)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_batch_shapes_and_dtypes(sim: MultiCoilSimulator, pattern: str) -> None:
    b = sim.batch([0, 2, 4], Sampling(pattern, 4), seed=1)
    assert isinstance(b, ReconBatch) and len(b) == 3
    assert b.kspace.shape == b.maps.shape == b.true_maps.shape == (3, 2, 32, 32)
    assert b.kspace.dtype == b.maps.dtype == torch.complex64
    assert b.target.shape == (3, 32, 32) and torch.is_complex(b.target)
    assert b.brain_mask.dtype == torch.bool and b.brain_mask.shape == (3, 32, 32)
    expected = (3, 1, 32, 32) if pattern.endswith("2d") else (3, 1, 1, 32)
    assert b.mask.shape == expected and b.mask.dtype == torch.float32
    assert b.sampling == f"{pattern}@4" and b.indices.tolist() == [0, 2, 4]
    assert torch.allclose(b.target_abs, b.target.abs())


def test_batch_is_deterministic_and_per_case(sim: MultiCoilSimulator) -> None:
    a = sim.batch([1, 3], "poisson_2d@4", seed=5)
    b = sim.batch([1, 3], "poisson_2d@4", seed=5)
    for name in ("kspace", "mask", "maps", "target"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    alone = sim.batch([3], "poisson_2d@4", seed=5)  # a case's data ignore the rest of the batch
    assert torch.equal(alone.kspace[0], a.kspace[1]) and torch.equal(alone.mask[0], a.mask[1])
    other = sim.batch([1, 3], "poisson_2d@4", seed=6)
    assert not torch.equal(other.kspace, a.kspace)
    assert torch.equal(other.target, a.target)  # phase and coils depend on the simulator seed
    shared = sim.batch([1, 3], "poisson_2d@4", seed=5, mask_seed=0)
    assert shared.mask.shape == (1, 1, 32, 32)


def test_kspace_is_masked_forward_model_plus_noise_at_requested_snr() -> None:
    images, masks = _phantom(4, 64)
    snr = 15.0
    sim = MultiCoilSimulator(images, masks, num_coils=8, snr=snr, seed=0)
    b = sim.batch(range(4), "equispaced_1d@2", seed=9)
    clean = b.mask * fft2c(b.true_maps * b.target.unsqueeze(1))
    noise = (b.kspace - clean)[b.mask.expand_as(b.kspace) > 0]
    assert torch.all(b.kspace[b.mask.expand_as(b.kspace) == 0] == 0)
    sigma = torch.cat([noise.real, noise.imag]).std()
    mean_brain = np.mean([images[i][masks[i]].mean() for i in range(4)])
    assert abs(float(mean_brain / sigma) - snr) / snr < 0.1
    quiet = MultiCoilSimulator(images, masks, num_coils=8, snr=None, seed=0)
    q = quiet.batch(range(4), "equispaced_1d@2", seed=9)
    torch.testing.assert_close(q.kspace, q.mask * fft2c(q.true_maps * q.target.unsqueeze(1)))


def test_estimated_maps_match_true_maps_inside_brain() -> None:
    images, masks = _phantom(3, 64)
    sim = MultiCoilSimulator(images, masks, num_coils=8, snr=40.0, seed=1)
    b = sim.batch(range(3), "poisson_2d@4", seed=0)
    # the estimate carries the image's smooth phase: compare after removing it per pixel
    ph = (b.maps * b.true_maps.conj()).sum(1, keepdim=True)
    aligned = b.true_maps * ph / ph.abs().clamp_min(1e-9)
    err = rss(b.maps - aligned, dim=1)[b.brain_mask]
    assert float(err.mean()) < 0.2
    assert torch.allclose(rss(b.true_maps, dim=1), torch.ones(3, 64, 64), atol=1e-5)


def test_simulator_rejects_bad_input() -> None:
    images, masks = _phantom(2, 16)
    with pytest.raises(ValueError, match="same shape"):
        MultiCoilSimulator(images, masks[:1], num_coils=2, snr=10, seed=0)
    with pytest.raises(ValueError, match="snr"):
        MultiCoilSimulator(images, masks, num_coils=2, snr=-1, seed=0)
    sim = MultiCoilSimulator(images, masks, num_coils=2, snr=10, seed=0)
    with pytest.raises(ValueError, match="indices"):
        sim.batch([5], "poisson_2d@4", seed=0)


def test_batch_fn_draws_settings_and_is_reproducible(sim: MultiCoilSimulator) -> None:
    fn = batch_fn(sim, ["equispaced_1d@4", "poisson_2d@4"], 2, indices=[0, 1, 2])
    seen = set()
    for step in range(8):
        b = fn(step, torch.Generator().manual_seed(step))
        again = fn(step, torch.Generator().manual_seed(step))
        assert torch.equal(b.kspace, again.kspace) and set(b.indices.tolist()) <= {0, 1, 2}
        assert b.mask.shape[0] == 1
        seen.add(b.sampling)
    assert seen == {"equispaced_1d@4", "poisson_2d@4"}


def test_single_coil_cartesian_and_radial_batches() -> None:
    images, masks = _phantom(3, 32)
    sim = MultiCoilSimulator(images, masks, num_coils=1, snr=None, seed=0)
    b = sim.batch([0, 1], "poisson_2d@4", seed=0)
    assert b.kspace.shape == (2, 1, 32, 32) and torch.equal(b.maps, torch.ones_like(b.maps))
    torch.testing.assert_close(b.kspace, b.mask * fft2c(b.target.unsqueeze(1)))
    r = sim.batch([2], "radial@4", seed=0)
    assert r.is_radial and r.mask is None and r.kspace.shape[:2] == (1, 1)
    spokes = round(math.pi / 2 * 32 / 4)
    assert r.kspace.shape[2] == spokes * 2 * 32
    torch.testing.assert_close(r.kspace, r.op.A(r.target), atol=1e-5, rtol=0)
    assert r.zero_filled().shape == (1, 32, 32)
    with pytest.raises(ValueError, match="mask_seed"):
        sim.batch([0, 1], "radial@4", seed=0)
    shared = sim.batch([0, 1], "radial@4", seed=0, mask_seed=7)
    assert shared.kspace.shape[0] == 2
