"""Small files in the real formats a user brings: fastMRI and Calgary-Campinas HDF5, NIfTI.

Shared by the data-check, user-data and README-command tests.
"""

from __future__ import annotations

import functools
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

HEADER = """<?xml version="1.0" encoding="utf-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
 <encoding>
  <encodedSpace><matrixSize><x>{ex}</x><y>{ey}</y><z>1</z></matrixSize></encodedSpace>
  <reconSpace><matrixSize><x>{rx}</x><y>{ry}</y><z>1</z></matrixSize></reconSpace>
  <encodingLimits>
   <kspace_encoding_step_1><minimum>0</minimum><maximum>{kmax}</maximum><center>{kc}</center>
   </kspace_encoding_step_1>
  </encodingLimits>
 </encoding>
</ismrmrdHeader>"""


def coil_images(slices: int, coils: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """complex64 ``(S, C, H, W)``: an elliptical head with texture times smooth coil maps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    yy, xx = (yy - h / 2) / (0.42 * h), (xx - w / 2) / (0.4 * w)
    head = ((yy**2 + xx**2) <= 1).astype(np.float32) * (1 + 0.2 * np.cos(3 * xx + 2 * yy))
    angles = 2 * np.pi * np.arange(coils) / coils
    maps = np.exp(-((xx[None] - np.cos(angles)[:, None, None]) ** 2) / 2) * np.exp(
        1j * (yy[None] * np.sin(angles)[:, None, None])
    )
    noise = 0.01 * rng.standard_normal((slices, coils, h, w))
    scale = 1 + 0.1 * np.arange(slices)[:, None, None, None]
    return (scale * head[None, None] * maps[None] + noise).astype(np.complex64)


def write_fastmri(
    path: Path,
    *,
    slices: int = 1,
    coils: int = 8,
    shape: tuple[int, int] = (32, 32),
    recon: tuple[int, int] | None = None,
    seed: int = 0,
) -> Path:
    """A multi-coil fastMRI file: centred k-space ``(S, C, H, W)``, ISMRMRD header, RSS target."""
    h, w = shape
    rx, ry = recon or shape
    images = coil_images(slices, coils, h, w, seed)
    axes = (-2, -1)
    kspace = np.fft.fftshift(
        np.fft.fft2(np.fft.ifftshift(images, axes=axes), norm="ortho"), axes=axes
    )
    header = HEADER.format(ex=h, ey=w, rx=rx, ry=ry, kmax=w - 1, kc=w // 2)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace.astype(np.complex64))
        f.create_dataset("ismrmrd_header", data=header.encode())
        f.create_dataset("reconstruction_rss", data=np.zeros((slices, rx, ry), np.float32))
        f.attrs["acquisition"] = "AXT1"
    return path


def write_cc(
    path: Path,
    *,
    slices: int = 2,
    coils: int = 12,
    shape: tuple[int, int] = (218, 170),
    seed: int = 0,
) -> Path:
    """A Calgary-Campinas file: uncentred k-space, real ``(S, H, W, 2C)`` interleaved channels."""
    kspace = np.fft.fft2(coil_images(slices, coils, *shape, seed=seed), axes=(-2, -1))
    raw = np.empty((slices, *shape, 2 * coils), np.float32)
    raw[..., 0::2] = np.moveaxis(kspace.real, 1, -1)
    raw[..., 1::2] = np.moveaxis(kspace.imag, 1, -1)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=raw)
    return path


def reorient(data: np.ndarray, affine: np.ndarray, codes: str) -> tuple[np.ndarray, np.ndarray]:
    """The same image stored with voxel axes ``codes`` (e.g. ``"PIR"``) and a consistent affine."""
    start = axcodes2ornt(nib.aff2axcodes(affine))
    ornt = ornt_transform(start, axcodes2ornt(tuple(codes)))
    out = apply_orientation(data, ornt)
    return np.ascontiguousarray(out), affine @ inv_ornt_aff(ornt, data.shape)


@functools.cache
def _template(block: int) -> tuple[np.ndarray, np.ndarray]:
    import importlib.util

    spec = importlib.util.find_spec("nilearn")  # the file nilearn ships, without importing it
    assert spec is not None and spec.submodule_search_locations
    folder = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    img = nib.load(folder / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz")
    data = np.asarray(img.dataobj, dtype=np.float32)
    x, y, z = (n // block * block for n in data.shape)
    data = data[:x, :y, :z].reshape(x // block, block, y // block, block, z // block, block)
    affine = img.affine.copy()
    affine[:3, :3] *= block
    return data.mean(axis=(1, 3, 5)), affine


def template_volume(block: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The MNI T1 template (RAS+, 1 mm, shipped by nilearn) block-averaged, and its affine."""
    data, affine = _template(block)
    return data.copy(), affine.copy()


def write_nifti(path: Path, *, orientation: str = "RAS", scale: float = 100.0) -> Path:
    """The template (times ``scale``) stored in ``orientation`` voxel order."""
    data, affine = template_volume()
    data, affine = reorient(data * scale, affine, orientation)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def write_nifti_dir(folder: Path, n: int = 3, orientation: str = "RAS") -> Path:
    """``n`` volumes (``sub<i>.nii.gz``) in one orientation."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_nifti(folder / f"sub{i}.nii.gz", orientation=orientation, scale=100.0 + 10 * i)
    return folder


def write_brats_dir(folder: Path, n: int = 3, shape: tuple[int, int, int] = (24, 24, 16)) -> Path:
    """``n`` BraTS 2018-2021-style cases (four modalities + seg, labels 1/2/4) in ``folder``."""
    rng = np.random.default_rng(0)
    for i in range(n):
        case = f"BraTS_{i:05d}"
        d = folder / case
        d.mkdir(parents=True, exist_ok=True)
        for j, name in enumerate(("t1", "t1ce", "t2", "flair")):
            data = (rng.random(shape) + j).astype(np.float32)
            nib.save(nib.Nifti1Image(data, np.eye(4)), d / f"{case}_{name}.nii.gz")
        lab = np.zeros(shape, np.int16)
        lab[6:16, 6:16, 4:10] = 2
        lab[8:12, 8:12, 5:9] = 1
        lab[10, 10, 7] = 4
        nib.save(nib.Nifti1Image(lab, np.eye(4)), d / f"{case}_seg.nii.gz")
    return folder


def write_isles_dir(folder: Path, n: int = 3, shape: tuple[int, int, int] = (16, 16, 8)) -> Path:
    """``n`` ISLES 2022-style BIDS cases (DWI, ADC, FLAIR, lesion mask) under ``folder``."""
    rng = np.random.default_rng(0)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    for i in range(1, n + 1):
        sub, ses = f"sub-strokecase{i:04d}", "ses-0001"
        raw = folder / "rawdata" / sub / ses
        (raw / "dwi").mkdir(parents=True, exist_ok=True)
        (raw / "anat").mkdir(parents=True, exist_ok=True)
        der = folder / "derivatives" / sub / ses
        der.mkdir(parents=True, exist_ok=True)
        name = f"{sub}_{ses}"
        for kind, scale in (("dwi", 1.0), ("adc", 800.0)):
            img = nib.Nifti1Image((scale * rng.random(shape)).astype(np.float32), aff)
            nib.save(img, raw / "dwi" / f"{name}_{kind}.nii.gz")
        flair = nib.Nifti1Image(rng.random(shape).astype(np.float32), aff)
        nib.save(flair, raw / "anat" / f"{name}_FLAIR.nii.gz")
        mask = np.zeros(shape, np.uint8)
        mask[4:8, 4:8, 2:4] = 1
        nib.save(nib.Nifti1Image(mask, aff), der / f"{name}_msk.nii.gz")
    return folder
