"""Fuzzing the real-format loaders (Hypothesis): truncated, bit-flipped and wrong-shaped files.

Every case must end in the project's one-line error, :class:`DataError`, or in an array that is
not silently wrong: the reference's shape and dtype, finite values, and the same metadata. A
truncated file that still loads must give the reference exactly. Values inside an uncompressed
data block carry no checksum in these formats (NIfTI, DICOM, HDF5 without filters), so a flip
there may change a value: that alone is accepted. Examples are derandomised (the same cases on
every run) and few, to keep the whole file to seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from userdata_files import write_cc, write_fastmri

from mricompendium.data import loaders
from mricompendium.data.errors import DataError
from mricompendium.data.fmri import nsd
from mricompendium.data.rtmri import usc

FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip


# ---------------------------------------------------------------- mutations
def _flip(data: bytes, bits: list[int]) -> bytes:
    out = bytearray(data)
    for b in bits:
        out[(b // 8) % len(out)] ^= 1 << (b % 8)
    return bytes(out)


def mutations(size: int, header: int = 1024) -> st.SearchStrategy[tuple[str, Any]]:
    """``("truncate", n)`` or ``("flip", [bit, ...])``, flips biased towards the header."""
    bit = st.one_of(st.integers(0, 8 * min(size, header) - 1), st.integers(0, 8 * size - 1))
    return st.one_of(
        st.tuples(st.just("truncate"), st.integers(0, size - 1)),
        st.tuples(st.just("flip"), st.lists(bit, min_size=1, max_size=12)),
    )


def _mutated(data: bytes, mutation: tuple[str, Any]) -> bytes:
    kind, arg = mutation
    return data[:arg] if kind == "truncate" else _flip(data, arg)


def _same(a: Any, b: Any, exact: bool) -> None:
    """``a`` is not a silently wrong ``b``: equal when ``exact``, else same shape/dtype, finite."""
    if isinstance(a, str) and a == "hidden" and not exact:
        return  # an optional dataset whose name a flip changed (see _fastmri_load)
    if isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.shape == b.shape and a.dtype == b.dtype
        if np.issubdtype(a.dtype, np.inexact):
            assert np.isfinite(a).all(), "non-finite values passed silently"
        if exact:
            np.testing.assert_array_equal(a, b)
    elif isinstance(b, tuple | list):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, exact)
    elif isinstance(b, dict):
        assert a.keys() == b.keys()
        for k in b:
            _same(a[k], b[k], exact)
    else:
        assert a == b, f"{a!r} != {b!r}"


def _check(load: Callable[[Path], Any], path: Path, data: bytes, mutation: Any, ref: Any) -> None:
    path.write_bytes(_mutated(data, mutation))
    try:
        got = load(path)
    except DataError:
        return  # the one-line error: fine
    _same(got, ref, exact=mutation[0] == "truncate")


def _check_text(load: Callable[[Path], Any], path: Path, data: bytes, mutation: Any,
                ref: Any) -> None:  # fmt: skip
    """Text carries no checksum and may end without a newline, so two cases cannot be told
    from a good file: a flipped character that changes a value (a digit, a label), and a cut
    inside the last field. A flip must end in DataError or in what the loader validates; a
    truncated file in DataError or the reference's first rows, the last one's last field
    possibly cut."""
    path.write_bytes(_mutated(data, mutation))
    try:
        got = load(path)
    except DataError:
        return
    if mutation[0] != "truncate":
        return
    rows = _as_rows(got)
    want = _as_rows(ref)[: len(rows)]
    assert rows[:-1] == want[:-1], "a truncated file gave other rows"
    if rows:
        *head, last = rows[-1]
        *want_head, want_last = want[-1]
        assert head == want_head and str(want_last).startswith(str(last))


def _as_rows(x: Any) -> list[tuple]:
    if isinstance(x, dict):
        return [tuple(str(x[k][i]) for k in x) for i in range(len(x["trial"]))]
    return [(s.start_s, s.end_s, s.phone) for s in x]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


# ---------------------------------------------------------------- NIfTI
def _nifti(folder: Path, name: str, data: np.ndarray) -> Path:
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-8, -9, -10]
    nib.save(nib.Nifti1Image(data, affine), folder / name)
    return folder / name


def _nifti_load(p: Path) -> Any:
    (data, affine), (shape, _) = loaders.load_nifti(p, canonical=True), loaders.nifti_header(p)
    assert np.isfinite(affine).all()
    # the affine and the orientation codes derived from it are header values without a
    # checksum: a flip in one of their floats changes them (as a flip in a voxel changes it);
    # a flip that leaves no orientation at all (both form codes 0) must be refused
    return data, shape


@pytest.mark.parametrize("name", ["a.nii", "a.nii.gz"])
def test_nifti(files: Path, name: str) -> None:
    vol = np.random.default_rng(0).random((8, 9, 10)).astype(np.float32)
    src = _nifti(files, name, vol)
    data, ref = src.read_bytes(), _nifti_load(src)
    target = files / f"m_{name}"

    @FUZZ
    @given(mutations(len(data), header=352))
    def fuzz(mutation: Any) -> None:
        _check(_nifti_load, target, data, mutation, ref)

    fuzz()


@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=6))
@FUZZ
def test_nifti_of_any_shape(files: Path, shape: list[int]) -> None:
    p = _nifti(files, "shape.nii.gz", np.ones(shape, np.float32))
    try:
        data, _ = loaders.load_nifti(p, ndim=(3,))
    except DataError:
        assert len(shape) != 3 or min(shape) < 1
        return
    assert data.shape == tuple(shape)


# ---------------------------------------------------------------- DICOM
def test_dicom(files: Path) -> None:
    from pydicom.data import get_testdata_file

    src = files / "mr.dcm"
    shutil.copyfile(get_testdata_file("MR_small.dcm"), src)
    data, ref = src.read_bytes(), loaders.load_dicom(src)
    target = files / "m.dcm"

    @FUZZ
    @given(mutations(len(data), header=len(data) - ref.size * 2))
    def fuzz(mutation: Any) -> None:
        _check(loaders.load_dicom, target, data, mutation, ref)

    fuzz()


@given(rows=st.integers(1, 200), cols=st.integers(1, 200))
@FUZZ
def test_dicom_of_a_wrong_shape(files: Path, rows: int, cols: int) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    ds.Rows, ds.Columns = rows, cols
    p = files / "shape.dcm"
    ds.save_as(p)
    try:
        got = loaders.load_dicom(p)
    except DataError:
        assert (rows, cols) != (64, 64)
        return
    assert got.shape == (rows, cols) and rows * cols == 64 * 64


# ---------------------------------------------------------------- fastMRI and CC-359 HDF5
def _fastmri_load(p: Path) -> Any:
    v = loaders.load_fastmri_h5(p)
    info = loaders.inspect_kspace_h5(p, "fastmri")
    target = v.target
    if target is None:  # optional: a flip in its name hides it, as in a test-set file
        with h5py.File(p, "r") as f:
            assert "reconstruction_rss" not in f
        target = "hidden"
    return v.kspace, target, v.encoding_size, v.recon_size, v.padding, info.image_shape


def _cc_load(p: Path) -> Any:
    info = loaders.inspect_kspace_h5(p, "calgary_campinas")
    return loaders.load_calgary_campinas_h5(p), info.coils, info.image_shape


@pytest.mark.parametrize("kind", ["fastmri", "calgary_campinas"])
def test_kspace_h5(files: Path, kind: str) -> None:
    src = files / f"{kind}.h5"
    if kind == "fastmri":
        write_fastmri(src, slices=1, coils=2, shape=(16, 16))
    else:
        write_cc(src, slices=1, coils=2, shape=(16, 12))
    load = _fastmri_load if kind == "fastmri" else _cc_load
    data, ref = src.read_bytes(), load(src)
    target = files / f"m_{kind}.h5"

    @FUZZ
    @given(mutations(len(data), header=4096))
    def fuzz(mutation: Any) -> None:
        _check(load, target, data, mutation, ref)

    fuzz()


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=5),
       dtype=st.sampled_from(["complex64", "float32", "int16"]))  # fmt: skip
@FUZZ
def test_kspace_h5_of_any_shape(files: Path, shape: list[int], dtype: str) -> None:
    p = files / "shape.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("kspace", data=np.ones(shape, dtype))
        f.create_dataset("ismrmrd_header", data=b"<ismrmrdHeader/>")
    for load in (loaders.load_fastmri_h5, loaders.load_calgary_campinas_h5):
        try:
            out = load(p)
        except DataError:
            continue
        k = out.kspace if hasattr(out, "kspace") else out
        assert np.iscomplexobj(k) and k.ndim in (3, 4) and np.isfinite(k).all()


# ---------------------------------------------------------------- NSD betas and tables
def _nsd_load(p: Path) -> Any:
    return nsd.load_betas(p)


@pytest.mark.parametrize("name", ["betas_session01.nii.gz", "betas_session01.hdf5"])
def test_nsd_betas(files: Path, name: str) -> None:
    raw = np.random.default_rng(1).integers(-900, 900, (4, 3, 2, 5)).astype(np.int16)
    src = files / name
    if name.endswith(".hdf5"):
        with h5py.File(src, "w") as f:
            f.create_dataset("betas", data=np.transpose(raw, (3, 2, 1, 0)))
    else:
        nib.save(nib.Nifti1Image(raw, np.eye(4)), src)
    data, ref = src.read_bytes(), _nsd_load(src)
    target = files / f"m_{name}"

    @FUZZ
    @given(mutations(len(data), header=2048))
    def fuzz(mutation: Any) -> None:
        _check(_nsd_load, target, data, mutation, ref)

    fuzz()


def test_nsd_stimulus_table(files: Path) -> None:
    src = files / "stimulus_table.csv"
    src.write_text("trial,image,session\n" + "".join(f"{i},{7 * i},1\n" for i in range(6)))
    data, ref = src.read_bytes(), nsd.load_stimulus_table(src)
    target = files / "m_table.csv"

    @FUZZ
    @given(mutations(len(data)))
    def fuzz(mutation: Any) -> None:
        _check_text(nsd.load_stimulus_table, target, data, mutation, ref)

    fuzz()


# ---------------------------------------------------------------- rtMRI (USC layouts)
def _wav(path: Path, samples: np.ndarray, rate: int = 8000) -> None:
    import soundfile as sf

    sf.write(path, samples, rate, subtype="PCM_16")


@pytest.mark.parametrize("name", ["frames.h5", "frames.npy", "audio.wav", "phones.lab"])
def test_rtmri(files: Path, name: str) -> None:
    src = files / name
    frames = np.random.default_rng(2).integers(0, 255, (3, 8, 8)).astype(np.uint8)
    if name == "frames.h5":
        with h5py.File(src, "w") as f:
            f.create_dataset("video", data=frames)
        load: Callable[[Path], Any] = usc.read_frames
    elif name == "frames.npy":
        np.save(src, frames)
        load = usc.read_frames
    elif name == "audio.wav":
        _wav(src, np.sin(np.linspace(0, 40, 800)) * 0.5)
        load = usc.read_audio
    else:
        src.write_text("0.0 0.1 sil\n0.1 0.25 aa\n0.25 0.4 t\n")
        load = usc.read_alignment
    data, ref = src.read_bytes(), load(src)
    target = files / f"m_{name}"

    check = _check_text if name.endswith(".lab") else _check

    @FUZZ
    @given(mutations(len(data), header=256))
    def fuzz(mutation: Any) -> None:
        check(load, target, data, mutation, ref)

    fuzz()


@given(shape=st.lists(st.integers(0, 3), min_size=1, max_size=5))
@FUZZ
def test_rtmri_frames_of_any_shape(files: Path, shape: list[int]) -> None:
    p = files / "shape.npy"
    np.save(p, np.ones(shape, np.uint8))
    try:
        out = usc.read_frames(p)
    except DataError:
        assert len(shape) != 3 or min(shape) < 1
        return
    assert out.shape == tuple(shape) and out.dtype == np.float32
