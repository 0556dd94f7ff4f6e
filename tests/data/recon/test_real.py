"""Real fully sampled k-space: fastMRI and Calgary-Campinas files, splits, coil checks."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mricompendium.data.errors import DataError
from mricompendium.data.recon import RealKspaceSet, load_kspace_source
from mricompendium.physics.coils import birdcage_maps, rss
from mricompendium.physics.fft import fft2c


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
    data = RealKspaceSet.from_files(tmp_path, "fastmri")
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
    small = RealKspaceSet.from_files(
        tmp_path / "file_brain_1.h5", "fastmri", size=16, num_coils=2, max_slices=2
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
    central = RealKspaceSet.from_files(tmp_path / "e1.h5", "calgary_campinas")
    assert len(central) == 3
    with pytest.raises(ValueError, match="data_format"):
        load_kspace_source(tmp_path, "nifti")
    with pytest.raises(DataError, match="missing"):
        RealKspaceSet.from_files(tmp_path / "missing", "fastmri")


def test_data_are_not_rescaled_by_the_reference(tmp_path: Path) -> None:
    vol = _coil_images(3, 4, 24, 24, seed=0)
    _write_fastmri(tmp_path / "a.h5", vol, recon=(24, 24))
    _write_fastmri(tmp_path / "b.h5", 10 * vol, recon=(24, 24))
    a = RealKspaceSet.from_files(tmp_path / "a.h5", "fastmri")
    b = RealKspaceSet.from_files(tmp_path / "b.h5", "fastmri")
    torch.testing.assert_close(
        b.kspace, 10 * a.kspace, rtol=0, atol=1e-5 * float(b.kspace.abs().max())
    )
    assert torch.equal(a.brain, b.brain)


def test_single_file_is_split_by_slices_and_says_so(tmp_path: Path) -> None:
    _write_fastmri(tmp_path / "one.h5", _coil_images(9, 4, 24, 24, seed=0), recon=(24, 24))
    data = load_kspace_source(tmp_path / "one.h5", "fastmri")
    train, test = data.split_by_volume(1)
    assert len(train) == 4 and len(test) == 3
    assert "one.h5" in test.split_note and "one unit" in test.split_note
    assert test.unit(0) == "one.h5"


def test_too_few_and_mixed_coils_name_the_files_and_parameter(tmp_path: Path) -> None:
    _write_fastmri(tmp_path / "eight.h5", _coil_images(2, 8, 24, 24, seed=0), recon=(24, 24))
    _write_fastmri(tmp_path / "four.h5", _coil_images(2, 4, 24, 24, seed=1), recon=(24, 24))
    with pytest.raises(DataError, match=r"four\.h5 \(4 coils\).*train_coils=6"):
        RealKspaceSet.from_files(tmp_path, "fastmri", num_coils=6, coils_param="train_coils")
    with pytest.raises(DataError, match=r"mix coil counts: eight\.h5 \(8\), four\.h5 \(4\)"):
        RealKspaceSet.from_files(tmp_path, "fastmri")
    mixed = RealKspaceSet.from_files(tmp_path, "fastmri", num_coils=4)
    assert mixed.num_coils == 4 and len(mixed) == 4
    with pytest.raises(DataError, match="test_coils=8"):
        mixed.compressed(8, coils_param="test_coils")
    assert mixed.compressed(2).kspace.shape == (4, 2, 24, 24)
