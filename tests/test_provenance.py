import pytest

from mricompendium import provenance


def test_fingerprint_changes_with_any_byte_and_name(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    (d / "a.nii").write_bytes(b"abc")
    (d / "sub").mkdir()
    (d / "sub" / "b.h5").write_bytes(b"xyz")
    (d / ".hidden").write_bytes(b"ignored")
    first = provenance.fingerprint(d)
    assert first == provenance.fingerprint(d)
    (d / ".hidden").write_bytes(b"still ignored")
    assert provenance.fingerprint(d) == first
    (d / "sub" / "b.h5").write_bytes(b"xyZ")
    assert provenance.fingerprint(d) != first
    (d / "sub" / "b.h5").write_bytes(b"xyz")
    (d / "a.nii").rename(d / "c.nii")
    assert provenance.fingerprint(d) != first


def test_data_info_user_names_path_and_fingerprint(tmp_path):
    f = tmp_path / "x.h5"
    f.write_bytes(b"123")
    info = provenance.data_info("user", "3 fastMRI files", f)
    assert info["kind"] == "user" and info["path"] == str(f)
    assert info["fingerprint"] == provenance.fingerprint(f)


def test_data_info_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        provenance.data_info("real", "x")
    with pytest.raises(ValueError, match="path"):
        provenance.data_info("user", "x")
    with pytest.raises(FileNotFoundError, match="missing"):
        provenance.data_info("user", "x", tmp_path / "missing")
    with pytest.raises(ValueError, match="no files"):
        provenance.fingerprint(tmp_path)
