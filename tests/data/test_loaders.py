"""Real-format loaders on small files written here in the real formats, and their errors."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch

from mricompendium.data import (
    DataError,
    check_kspace,
    load_calgary_campinas_h5,
    load_dicom,
    load_fastmri_h5,
    load_nifti,
)
from mricompendium.physics.fft import ifft2c

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


def _complex(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


# --- NIfTI -----------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_round_trip(tmp_path: Path, suffix: str) -> None:
    data = np.random.default_rng(0).random((6, 5, 4)).astype(np.float32)
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-5.0, 1.0, 7.0]
    path = tmp_path / f"vol{suffix}"
    nib.save(nib.Nifti1Image(data, affine), path)
    out, aff = load_nifti(path)
    np.testing.assert_array_equal(out, data)
    np.testing.assert_array_equal(aff, affine)
    labels, _ = load_nifti(path, dtype=None)
    assert labels.dtype == np.float32


def test_nifti_garbage_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.nii"
    path.write_bytes(b"this is not a NIfTI header" * 20)
    with pytest.raises(DataError, match="garbage.nii"):
        load_nifti(path)


def test_nifti_truncated_gz(tmp_path: Path) -> None:
    path = tmp_path / "whole.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((16, 16, 16), np.float32), np.eye(4)), path)
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match="cut.nii.gz"):
        load_nifti(cut)


def test_nifti_wrong_dimensionality(tmp_path: Path) -> None:
    path = tmp_path / "fmri.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3, 2), np.float32), np.eye(4)), path)
    with pytest.raises(DataError, match=r"fmri.nii.gz.*4 dimensions"):
        load_nifti(path, ndim=(3,))


def test_missing_paths_raise_file_not_found(tmp_path: Path) -> None:
    for loader in (load_nifti, load_dicom, load_fastmri_h5, load_calgary_campinas_h5):
        with pytest.raises(FileNotFoundError, match="absent_file"):
            loader(tmp_path / "absent_file")


# --- DICOM -----------------------------------------------------------------------------------


def _write_dicom(
    path: Path, pixels: np.ndarray, slope: float = 1.0, intercept: float = 0.0
) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["test"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_dicom_round_trip_with_rescale(tmp_path: Path) -> None:
    pixels = np.arange(48, dtype=np.uint16).reshape(6, 8)
    path = tmp_path / "slice.dcm"
    _write_dicom(path, pixels, slope=2.0, intercept=-5.0)
    out = load_dicom(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, 2.0 * pixels - 5.0)


def test_dicom_garbage_and_truncated(tmp_path: Path) -> None:
    bad = tmp_path / "notdicom.dcm"
    bad.write_bytes(b"\x00\x01garbage" * 50)
    with pytest.raises(DataError, match="notdicom.dcm"):
        load_dicom(bad)
    good = tmp_path / "whole.dcm"
    _write_dicom(good, np.ones((32, 32), np.uint16))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(good.read_bytes()[:-700])
    with pytest.raises(DataError, match="cut.dcm"):
        load_dicom(cut)


# --- fastMRI HDF5 ----------------------------------------------------------------------------


def _write_fastmri(path: Path, kspace: np.ndarray, **extra: np.ndarray) -> None:
    w = kspace.shape[-1]
    header = HEADER.format(ex=2 * kspace.shape[-2], ey=w, rx=8, ry=8, kmax=w - 3, kc=w // 2 - 1)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("ismrmrd_header", data=header.encode())
        for key, value in extra.items():
            f.create_dataset(key, data=value)
        f.attrs["acquisition"] = "AXT2"
        f.attrs["max"] = 1.5


def test_fastmri_multicoil_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    kspace = _complex(rng, (3, 4, 10, 12))
    target = rng.random((3, 8, 8)).astype(np.float32)
    path = tmp_path / "file_brain_AXT2.h5"
    _write_fastmri(path, kspace, reconstruction_rss=target)
    vol = load_fastmri_h5(path)
    np.testing.assert_array_equal(vol.kspace, kspace)
    np.testing.assert_array_equal(vol.target, target)
    assert vol.kspace.dtype == np.complex64 and vol.target_key == "reconstruction_rss"
    assert vol.mask is None
    assert vol.encoding_size == (20, 12, 1) and vol.recon_size == (8, 8, 1)
    assert vol.padding == (12 // 2 - (12 // 2 - 1), 1 + 12 - 3 + 1)
    assert vol.attrs["acquisition"] == "AXT2" and vol.attrs["max"] == 1.5
    part = load_fastmri_h5(path, slices=slice(1, 3))
    np.testing.assert_array_equal(part.kspace, kspace[1:3])
    np.testing.assert_array_equal(part.target, target[1:3])


def test_fastmri_singlecoil_with_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    kspace = _complex(rng, (2, 10, 12))
    mask = (rng.random(12) > 0.5).astype(np.float32)
    path = tmp_path / "file1000001.h5"
    _write_fastmri(path, kspace, reconstruction_esc=rng.random((2, 8, 8)), mask=mask)
    vol = load_fastmri_h5(path)
    assert vol.kspace.shape == (2, 10, 12) and vol.target_key == "reconstruction_esc"
    np.testing.assert_array_equal(vol.mask, mask)


def test_fastmri_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "whole.h5"
    _write_fastmri(path, _complex(np.random.default_rng(3), (4, 4, 32, 32)))
    cut = tmp_path / "truncated.h5"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated.h5"):
        load_fastmri_h5(cut)


def test_fastmri_nan_kspace(tmp_path: Path) -> None:
    kspace = _complex(np.random.default_rng(4), (2, 3, 8, 8))
    kspace[1, 2, 3, 4] = np.nan
    path = tmp_path / "nan_scan.h5"
    _write_fastmri(path, kspace)
    with pytest.raises(DataError, match=r"nan_scan.h5.*NaN"):
        load_fastmri_h5(path)


def test_fastmri_mask_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "badmask.h5"
    _write_fastmri(path, _complex(np.random.default_rng(5), (2, 8, 8)), mask=np.ones(9, np.float32))
    with pytest.raises(DataError, match=r"badmask.h5.*broadcast"):
        load_fastmri_h5(path)


def test_fastmri_missing_kspace_and_bad_header(tmp_path: Path) -> None:
    path = tmp_path / "nokspace.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("reconstruction_rss", data=np.zeros((1, 4, 4)))
    with pytest.raises(DataError, match=r"nokspace.h5.*'kspace'"):
        load_fastmri_h5(path)
    path = tmp_path / "badheader.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=_complex(np.random.default_rng(6), (1, 4, 4)))
        f.create_dataset("ismrmrd_header", data=b"<not-xml")
    with pytest.raises(DataError, match=r"badheader.h5.*ISMRMRD"):
        load_fastmri_h5(path)


# --- Calgary-Campinas HDF5 -------------------------------------------------------------------


def _write_cc(path: Path, kspace: np.ndarray) -> None:
    """(S, C, H, W) complex -> the CC-359 layout (S, H, W, 2C), real/imag interleaved."""
    s, c, h, w = kspace.shape
    raw = np.empty((s, h, w, 2 * c), np.float32)
    raw[..., 0::2] = np.moveaxis(kspace.real, 1, -1)
    raw[..., 1::2] = np.moveaxis(kspace.imag, 1, -1)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=raw)


def test_calgary_campinas_round_trip_and_centering(tmp_path: Path) -> None:
    kspace = _complex(np.random.default_rng(7), (2, 12, 16, 10))
    path = tmp_path / "e14089s3_P53248.7.h5"
    _write_cc(path, kspace)
    stored = load_calgary_campinas_h5(path, centered=False)
    assert stored.shape == (2, 12, 16, 10) and stored.dtype == np.complex64
    np.testing.assert_array_equal(stored, kspace)
    centred = load_calgary_campinas_h5(path)
    image = ifft2c(torch.from_numpy(centred)).numpy()
    np.testing.assert_allclose(image, np.fft.ifft2(kspace, axes=(-2, -1)), atol=1e-5)
    part = load_calgary_campinas_h5(path, slices=slice(1, 2), centered=False)
    np.testing.assert_array_equal(part, kspace[1:2])


def test_calgary_campinas_bad_files(tmp_path: Path) -> None:
    odd = tmp_path / "odd_channels.h5"
    with h5py.File(odd, "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 4, 4, 23), np.float32))
    with pytest.raises(DataError, match="odd_channels.h5"):
        load_calgary_campinas_h5(odd)
    whole = tmp_path / "whole.h5"
    _write_cc(whole, _complex(np.random.default_rng(8), (4, 12, 32, 32)))
    cut = tmp_path / "cc_truncated.h5"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    with pytest.raises(DataError, match="cc_truncated.h5"):
        load_calgary_campinas_h5(cut)
    gz = tmp_path / "compressed.h5"
    gz.write_bytes(gzip.compress(whole.read_bytes()))
    with pytest.raises(DataError, match="compressed.h5"):
        load_calgary_campinas_h5(gz)


# --- check_kspace and DataError --------------------------------------------------------------


def test_check_kspace_accepts_good_numpy_and_torch() -> None:
    k = _complex(np.random.default_rng(9), (2, 4, 8, 8))
    check_kspace(k, np.ones((1, 1, 1, 8), np.float32), source="ok")
    check_kspace(torch.from_numpy(k), torch.ones(1, 1, 8, 8), source="ok")


@pytest.mark.parametrize(
    ("kspace", "mask", "match"),
    [
        (np.full((2, 8, 8), np.inf + 0j, np.complex64), None, "NaN/Inf"),
        (np.zeros((8,), np.complex64), None, "dimensions"),
        (np.zeros((1, 2, 3, 8, 8), np.complex64), None, "dimensions"),
        (np.zeros((2, 8, 8), np.float32), None, "complex"),
        (np.zeros((2, 4, 8, 8), np.complex64), np.ones((1, 1, 1, 7)), "broadcast"),
        (np.zeros((2, 4, 8, 8), np.complex64), np.ones((3, 1, 1, 8)), "broadcast"),
        (np.zeros((2, 8, 8), np.complex64), np.ones((1, 1, 2, 8, 8)), "broadcast"),
        (np.zeros((2, 8, 8), np.complex64), np.full((8,), np.nan), "mask holds NaN"),
    ],
)
def test_check_kspace_rejects(kspace: np.ndarray, mask: np.ndarray | None, match: str) -> None:
    with pytest.raises(DataError, match=f"my_source.*{match}"):
        check_kspace(kspace, mask, source="my_source")


def test_data_error_is_value_error_and_pickles() -> None:
    e = DataError("scan.h5", "is broken")
    assert isinstance(e, ValueError) and str(e) == "scan.h5: is broken"
    again = pickle.loads(pickle.dumps(e))
    assert (again.source, again.problem, str(again)) == ("scan.h5", "is broken", str(e))


# --- orientation and metadata-only inspection ------------------------------------------------


def test_nifti_canonical_reorders_to_ras(tmp_path: Path) -> None:
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

    from mricompendium.data.loaders import nifti_header

    ras = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    ornt = ornt_transform(axcodes2ornt("RAS"), axcodes2ornt("PIR"))
    pir = apply_orientation(ras, ornt)
    path = tmp_path / "pir.nii.gz"
    nib.save(nib.Nifti1Image(pir, affine @ inv_ornt_aff(ornt, ras.shape)), path)
    assert nifti_header(path) == ((5, 6, 4), "PIR")
    stored, _ = load_nifti(path)
    np.testing.assert_array_equal(stored, pir)
    canon, aff = load_nifti(path, canonical=True)
    np.testing.assert_array_equal(canon, ras)
    np.testing.assert_allclose(aff, affine)


def test_inspect_kspace_reads_shapes_only(tmp_path: Path) -> None:
    from mricompendium.data.loaders import inspect_kspace_h5

    rng = np.random.default_rng(3)
    path = tmp_path / "brain.h5"
    _write_fastmri(path, _complex(rng, (3, 4, 10, 12)))
    info = inspect_kspace_h5(path, "fastmri")
    assert (info.slices, info.coils, info.image_shape) == (3, 4, (8, 8))
    with pytest.raises(DataError, match=r"brain\.h5.*not Calgary-Campinas.*data_format fastmri"):
        inspect_kspace_h5(path, "calgary_campinas")
    cc = tmp_path / "e1.h5"
    with h5py.File(cc, "w") as f:
        f.create_dataset("kspace", data=np.zeros((5, 20, 18, 24), np.float32))
    info = inspect_kspace_h5(cc, "calgary_campinas")
    assert (info.slices, info.coils, info.image_shape) == (5, 12, (20, 18))
    with pytest.raises(
        DataError, match=r"e1\.h5.*not complex fastMRI.*data_format calgary_campinas"
    ):
        inspect_kspace_h5(cc, "fastmri")
    single = tmp_path / "single.h5"
    _write_fastmri(single, _complex(rng, (2, 10, 12)))
    with pytest.raises(DataError, match=r"single\.h5.*not multi-coil"):
        inspect_kspace_h5(single, "fastmri")
    with pytest.raises(ValueError, match="data_format"):
        inspect_kspace_h5(cc, "nifti")
