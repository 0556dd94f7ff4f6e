"""The k-space simulator and the training batch stream (mricompendium.data.recon).

The simulator must not commit the inverse crime: its data come from an object on a grid finer
than the reconstruction grid, are not in the range of the reconstruction operator, and are made
without calling it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.data.recon import KspaceSimulator, ReconBatch, batch_fn
from mricompendium.physics import nufft, sense
from mricompendium.physics.coils import estimate_sensitivities, rss
from mricompendium.physics.fft import fft2c, ifft2c
from mricompendium.physics.masks import Sampling
from mricompendium.physics.simulate import fine_trajectory, grid_sample_weights

PATTERNS = ["equispaced_1d", "random_1d", "poisson_2d", "gaussian_2d"]


def phantom(n: int, size: int, factor: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Sharp-edged elliptical 'brains' with texture on a ``factor`` x finer grid, and their
    masks on the ``size`` grid: objects ``(N, f size, f size)``, masks ``(N, size, size)``."""
    fine = size * factor
    y, x = (np.mgrid[:fine, :fine] - (fine - 1) / 2) / factor
    objects, masks = [], []
    for i in range(n):
        r = size * (0.3 + 0.02 * i)
        inside = x**2 + (y / 1.2) ** 2 < r**2
        objects.append(inside * (0.6 + 0.4 * np.cos(x / (3 + i)) * np.sin(y / 4)))
        masks.append(inside.reshape(size, factor, size, factor).mean(axis=(1, 3)) >= 0.5)
    return np.stack(objects).astype(np.float32), np.stack(masks)


def blob(n: int, size: int) -> np.ndarray:
    """Smooth Gaussian blobs (nearly band-limited) sampled at the pixel centres of a grid of
    ``size`` pixels over the field of view, ``(n, size, size)``."""
    u = (np.arange(size) + 0.5) / size
    return np.stack([np.exp(-((u[:, None] - 0.5) ** 2 + (u[None, :] - 0.45 - 0.02 * i) ** 2)
                            / 0.02) for i in range(n)]).astype(np.float32)  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> KspaceSimulator:
    objects, masks = phantom(6, 32)
    return KspaceSimulator(objects, masks, num_coils=2, snr=20.0, seed=3)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_batch_shapes_and_dtypes(sim: KspaceSimulator, pattern: str) -> None:
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
    assert sim.object_shape == (64, 64) and sim.image_shape == (32, 32) and sim.oversampling == 2


def test_batch_is_deterministic_and_per_case(sim: KspaceSimulator) -> None:
    a = sim.batch([1, 3], "poisson_2d@4", seed=5)
    b = sim.batch([1, 3], "poisson_2d@4", seed=5)
    for name in ("kspace", "mask", "maps", "target"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    objects, masks = phantom(6, 32)
    fresh = KspaceSimulator(objects, masks, num_coils=2, snr=20.0, seed=3)
    alone = fresh.batch([3], "poisson_2d@4", seed=5)  # a case's data ignore the rest of the batch
    assert torch.equal(alone.kspace[0], a.kspace[1]) and torch.equal(alone.mask[0], a.mask[1])
    other = sim.batch([1, 3], "poisson_2d@4", seed=6)
    assert not torch.equal(other.kspace, a.kspace)
    assert torch.equal(other.target, a.target)  # phase and coils depend on the simulator seed
    shared = sim.batch([1, 3], "poisson_2d@4", seed=5, mask_seed=0)
    assert shared.mask.shape == (1, 1, 32, 32)


def test_noise_is_added_in_kspace_at_the_requested_snr() -> None:
    objects, masks = phantom(4, 32)
    snr = 15.0
    noisy = KspaceSimulator(objects, masks, num_coils=8, snr=snr, seed=0)
    quiet = KspaceSimulator(objects, masks, num_coils=8, snr=None, seed=0)
    b = noisy.batch(range(4), "equispaced_1d@2", seed=9)
    q = quiet.batch(range(4), "equispaced_1d@2", seed=9)
    sampled = b.mask.expand_as(b.kspace) > 0
    assert torch.all(b.kspace[~sampled] == 0) and torch.equal(b.target, q.target)
    noise = (b.kspace - q.kspace)[sampled]
    sigma = torch.cat([noise.real, noise.imag]).std()
    mean_brain = float(np.mean([float(q.target_abs[i][q.brain_mask[i]].mean()) for i in range(4)]))
    assert abs(mean_brain / float(sigma) - snr) / snr < 0.1


def test_reference_is_the_fully_sampled_acquisition_on_the_reconstruction_grid() -> None:
    objects, masks = phantom(3, 32)
    sim = KspaceSimulator(objects, masks, num_coils=1, snr=None, seed=0)
    b = sim.batch([0, 1, 2], "poisson_2d@4", seed=0)
    torch.testing.assert_close(b.kspace, b.mask * fft2c(b.target.unsqueeze(1)))
    # ... which is not the object on the reconstruction grid: the edges ring (truncation)
    block = torch.from_numpy(objects.reshape(3, 32, 2, 32, 2).mean(axis=(2, 4)))
    assert float((b.target_abs - block).abs().max()) > 0.05


def _range_residual(kspace: torch.Tensor, maps: torch.Tensor) -> float:
    """Relative distance of fully sampled coil k-space from the range of ``F S`` (least
    squares per pixel, as ``F`` is unitary)."""
    coil = ifft2c(kspace)
    x = (maps.conj() * coil).sum(1) / rss(maps, dim=1).square().clamp_min(1e-12)
    return float((fft2c(maps * x.unsqueeze(1)) - kspace).norm() / kspace.norm())


def test_multicoil_data_are_not_in_the_range_of_the_reconstruction_operator() -> None:
    objects, masks = phantom(3, 32)
    sim = KspaceSimulator(objects, masks, num_coils=8, snr=None, seed=2)
    b = sim.batch([0, 1, 2], "equispaced_1d@2", seed=0)
    full = torch.stack([sim._case(i).kspace for i in range(3)])  # fully sampled, noise-free
    assert _range_residual(full, b.true_maps) > 1e-3
    crime = fft2c(b.true_maps * b.target.unsqueeze(1))  # what the inverse crime would measure
    assert _range_residual(crime, b.true_maps) < 1e-5
    assert float((full - crime).norm() / full.norm()) > 1e-3
    # on a smooth, nearly band-limited object the two grids agree: the gap is the grid's
    coarse = blob(2, 32)
    s = KspaceSimulator(blob(2, 96), coarse > 0.1, num_coils=1, snr=None, seed=0)
    assert float((s.targets([0, 1]).abs() - torch.from_numpy(coarse)).abs().max()) < 1e-4


def test_radial_data_are_the_fine_objects_transform_not_the_operators() -> None:
    objects, masks = phantom(2, 16)
    sim = KspaceSimulator(objects, masks, num_coils=1, snr=None, seed=0)
    r = sim.batch([1], "radial@4", seed=0)
    traj = r.op.traj.double()
    exact = nufft.ndft_forward(
        sim.fine_objects([1]).to(torch.complex128),
        fine_trajectory(traj, sim.object_shape, sim.image_shape),
    )
    exact = exact * grid_sample_weights(traj, sim.object_shape, sim.image_shape)
    rel = (r.kspace[:, 0].to(torch.complex128) - exact).norm() / exact.norm()
    assert float(rel) < 1e-3
    crime = r.op.A(r.target)
    assert float((r.kspace - crime).norm() / r.kspace.norm()) > 2e-3  # 40x the NUFFT error


def test_the_simulator_never_calls_the_reconstruction_operator(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the simulator called a reconstruction operator")

    for cls in (sense.SenseOp, nufft.RadialNufftOp):
        monkeypatch.setattr(cls, "A", refuse)
        monkeypatch.setattr(cls, "A_adjoint", refuse)
    monkeypatch.setattr(sense, "sens_expand", refuse)
    objects, masks = phantom(2, 16)
    KspaceSimulator(objects, masks, num_coils=4, snr=20.0, seed=0).batch([0, 1], "poisson_2d@4", 0)
    KspaceSimulator(objects, masks, num_coils=1, snr=20.0, seed=0).batch([0], "radial@4", 0)


def test_models_get_maps_estimated_from_the_data_not_the_true_maps() -> None:
    objects, masks = phantom(3, 32)
    sim = KspaceSimulator(objects, masks, num_coils=8, snr=40.0, seed=1)
    b = sim.batch(range(3), "poisson_2d@4", seed=0)
    assert torch.equal(b.maps, estimate_sensitivities(b.kspace, b.mask))
    assert not torch.allclose(b.maps, b.true_maps, atol=1e-2)
    # the estimate carries the image's smooth phase: compare after removing it per pixel
    ph = (b.maps * b.true_maps.conj()).sum(1, keepdim=True)
    aligned = b.true_maps * ph / ph.abs().clamp_min(1e-9)
    err = rss(b.maps - aligned, dim=1)[b.brain_mask]
    assert float(err.mean()) < 0.2
    inside = rss(b.true_maps, dim=1)[b.brain_mask]  # resampled maps ring at the FOV edge only
    assert torch.allclose(inside, torch.ones_like(inside), atol=2e-2)


def test_simulator_rejects_bad_input() -> None:
    objects, masks = phantom(2, 16)
    with pytest.raises(ValueError, match="same N"):
        KspaceSimulator(objects, masks[:1], num_coils=2, snr=10, seed=0)
    with pytest.raises(ValueError, match="inverse crime"):
        KspaceSimulator(masks.astype(np.float32), masks, num_coils=2, snr=10, seed=0)
    with pytest.raises(ValueError, match="snr"):
        KspaceSimulator(objects, masks, num_coils=2, snr=-1, seed=0)
    sim = KspaceSimulator(objects, masks, num_coils=2, snr=10, seed=0)
    with pytest.raises(ValueError, match="indices"):
        sim.batch([5], "poisson_2d@4", seed=0)


def test_batch_fn_draws_settings_and_is_reproducible(sim: KspaceSimulator) -> None:
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
    objects, masks = phantom(3, 32)
    sim = KspaceSimulator(objects, masks, num_coils=1, snr=None, seed=0)
    b = sim.batch([0, 1], "poisson_2d@4", seed=0)
    assert b.kspace.shape == (2, 1, 32, 32) and torch.equal(b.maps, torch.ones_like(b.maps))
    r = sim.batch([2], "radial@4", seed=0)
    assert r.is_radial and r.mask is None and r.kspace.shape[:2] == (1, 1)
    spokes = round(math.pi / 2 * 32 / 4)
    assert r.kspace.shape[2] == spokes * 2 * 32
    assert r.zero_filled().shape == (1, 32, 32) and torch.equal(r.maps, torch.ones_like(r.maps))
    with pytest.raises(ValueError, match="mask_seed"):
        sim.batch([0, 1], "radial@4", seed=0)
    shared = sim.batch([0, 1], "radial@4", seed=0, mask_seed=7)
    assert shared.kspace.shape[0] == 2
