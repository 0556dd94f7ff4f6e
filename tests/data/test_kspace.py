"""Simulated and real multi-coil k-space batches (mricompendium.data.kspace)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mricompendium.data.kspace import (
    MultiCoilSimulator,
    RealKspaceSet,
    ReconBatch,
    Sampling,
    batch_fn,
    coil_compress,
    load_kspace_source,
    random_birdcage_maps,
)
from mricompendium.physics.coils import birdcage_maps, rss
from mricompendium.physics.fft import fft2c, ifft2c
from mricompendium.physics.masks import realised_acceleration

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


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("acc", [4.0, 8.0])
def test_realised_acceleration(pattern: str, acc: float) -> None:
    mask = Sampling(pattern, acc).make_mask((64, 64), seed=2)
    assert abs(realised_acceleration(mask) - acc) / acc < 0.05
    if pattern.endswith("2d"):  # the 8x8 calibration box
        assert bool((mask[0, 0, 28:36, 28:36] > 0).all())
    else:  # at least 4 centre columns
        assert bool((mask[0, 0, 0, 30:34] > 0).all())


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


def test_random_birdcage_maps_reduce_to_birdcage_and_vary() -> None:
    fixed = random_birdcage_maps(4, (16, 20), rotation=torch.zeros(1), radius=torch.full((1,), 1.5))
    torch.testing.assert_close(fixed[0], birdcage_maps(4, (16, 20)))
    varied = random_birdcage_maps(
        4, (16, 20), rotation=torch.tensor([0.5]), radius=torch.tensor([1.5])
    )
    assert not torch.allclose(varied, fixed)
    with pytest.raises(ValueError, match="radius"):
        random_birdcage_maps(4, (8, 8), rotation=torch.zeros(1), radius=torch.zeros(1))


def test_sampling_parse_and_errors() -> None:
    s = Sampling.parse("poisson_2d@8")
    assert s == Sampling("poisson_2d", 8.0) and str(s) == "poisson_2d@8" and s.is_2d
    assert Sampling.parse("equispaced_1d@4x,cf=0.1").center_fraction == 0.1
    assert Sampling.parse("gaussian_2d@6,calib=6").calib == 6
    assert Sampling.parse(s) is s and "1D equispaced 4x" == Sampling("equispaced_1d", 4).label
    for bad in ("poisson_2d", "spiral@4", "poisson_2d@1", "poisson_2d@4,foo=1"):
        with pytest.raises(ValueError):
            Sampling.parse(bad)


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


# --- real data -------------------------------------------------------------------------------

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>
<encodedSpace><matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize></encodedSpace>
<reconSpace><matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize></reconSpace>
<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{kmax}</maximum>
<center>{kc}</center></kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>"""


def _coil_images(s: int, c: int, h: int, w: int, seed: int) -> np.ndarray:
    images, _ = _phantom(s, max(h, w))
    images = images[:, :h, :w] if h <= w else images[:, (max(h, w) - h) // 2 :][:, :h, :w]
    rng = np.random.default_rng(seed)
    maps = birdcage_maps(c, (h, w)).numpy()
    phase = np.exp(1j * rng.uniform(-0.3, 0.3, size=(s, 1, 1, 1)))
    return (images[:, None] * maps[None] * phase).astype(np.complex64)


def _write_fastmri(path: Path, coil_images: np.ndarray, recon: tuple[int, int]) -> None:
    kspace = fft2c(torch.from_numpy(coil_images)).numpy()
    h, w = kspace.shape[-2:]
    header = HEADER.format(ex=h, ey=w, rx=recon[0], ry=recon[1], kmax=w - 1, kc=w // 2)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("ismrmrd_header", data=header.encode())
        f.create_dataset("reconstruction_rss", data=np.zeros((len(kspace), *recon), np.float32))


def _expected_rss(coil_images: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    h, w = coil_images.shape[-2:]
    top, left = (h - crop[0]) // 2, (w - crop[1]) // 2
    cropped = coil_images[..., top : top + crop[0], left : left + crop[1]]
    return np.sqrt((np.abs(cropped) ** 2).sum(1))


def _assert_same_up_to_scale(a: np.ndarray, b: np.ndarray) -> None:
    scale = (a * b).sum() / (b * b).sum()
    np.testing.assert_allclose(a, scale * b, atol=1e-4 * float(np.abs(a).max()))


def test_fastmri_files_round_trip(tmp_path: Path) -> None:
    vols = [_coil_images(3, 4, 48, 24, seed=i) for i in range(2)]
    for i, v in enumerate(vols):
        _write_fastmri(tmp_path / f"file_brain_{i}.h5", v, recon=(24, 24))
    data = RealKspaceSet.from_fastmri(tmp_path)
    assert len(data) == 6 and data.image_shape == (24, 24) and data.num_coils == 4
    assert data.volume_ids.tolist() == [0, 0, 0, 1, 1, 1]
    expected = np.concatenate([_expected_rss(v, (24, 24)) for v in vols])
    _assert_same_up_to_scale(data.target.abs().numpy(), expected)
    b = data.batch([0, 4], "equispaced_1d@4", seed=0)
    assert b.kspace.shape == (2, 4, 24, 24) and b.mask.shape == (2, 1, 1, 24)
    torch.testing.assert_close(b.kspace, b.mask * data.kspace[[0, 4]])
    torch.testing.assert_close(
        rss(b.true_maps, dim=1)[b.brain_mask],
        torch.ones(int(b.brain_mask.sum())),
        atol=1e-4,
        rtol=0,
    )
    assert torch.equal(b.kspace, data.batch([0, 4], "equispaced_1d@4", seed=0).kspace)
    train, test = data.split_by_volume(1)
    assert len(train) == len(test) == 3 and set(test.volume_ids) == {1}
    small = RealKspaceSet.from_fastmri(
        tmp_path / "file_brain_1.h5", size=16, num_coils=2, max_slices=2
    )
    assert small.kspace.shape == (2, 2, 16, 16)


def test_calgary_campinas_files_round_trip(tmp_path: Path) -> None:
    coil = _coil_images(5, 4, 20, 20, seed=0)
    kspace = np.fft.fft2(coil, axes=(-2, -1))  # CC stores uncentred k-space
    raw = np.empty((5, 20, 20, 8), np.float32)
    raw[..., 0::2], raw[..., 1::2] = (
        np.moveaxis(kspace.real, 1, -1),
        np.moveaxis(kspace.imag, 1, -1),
    )
    with h5py.File(tmp_path / "e1.h5", "w") as f:
        f.create_dataset("kspace", data=raw)
    data = load_kspace_source(tmp_path, "calgary_campinas", keep_fraction=1.0)
    assert data.kspace.shape == (5, 4, 20, 20)
    _assert_same_up_to_scale(data.target.abs().numpy(), _expected_rss(coil, (20, 20)))
    central = RealKspaceSet.from_calgary_campinas(tmp_path / "e1.h5", keep_fraction=0.6)
    assert len(central) == 3
    with pytest.raises(ValueError, match="data_format"):
        load_kspace_source(tmp_path, "nifti")
    with pytest.raises(FileNotFoundError):
        RealKspaceSet.from_fastmri(tmp_path / "missing")


def test_coil_compress_keeps_the_signal_of_low_rank_data() -> None:
    rng = np.random.default_rng(0)
    mix = torch.from_numpy(
        (rng.standard_normal((6, 2)) + 1j * rng.standard_normal((6, 2))).astype(np.complex64)
    )
    virtual = torch.from_numpy(_coil_images(2, 2, 16, 16, seed=1))
    kspace = fft2c(torch.einsum("cv,svhw->schw", mix, virtual))
    out = coil_compress(kspace, 2)
    assert out.shape == (2, 2, 16, 16)
    torch.testing.assert_close(
        rss(ifft2c(out), dim=1), rss(ifft2c(kspace), dim=1), atol=1e-4, rtol=1e-4
    )
    with pytest.raises(ValueError, match="num_coils"):
        coil_compress(kspace, 7)
