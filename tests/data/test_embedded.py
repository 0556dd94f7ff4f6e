"""The embedded data set: bit-for-bit rebuilds, shapes and ranges, splits, the loader API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mricompendium.data import SliceSet, load_slices
from mricompendium.data import build as builder
from mricompendium.data.embedded import FILES, simulate_slice

N_SUBSET = 24  # one whole cycle of the plan: train, val and test all present


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    a = builder.build(tmp_path_factory.mktemp("a"), n=N_SUBSET).parent
    b = builder.build(tmp_path_factory.mktemp("b"), n=N_SUBSET).parent
    return a, b


def test_two_builds_are_byte_identical(built: tuple[Path, Path]) -> None:
    a, b = built
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(FILES.values())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_manifest_hashes_match_files(built: tuple[Path, Path]) -> None:
    import hashlib

    root = built[0]
    manifest = json.loads((root / FILES["manifest"]).read_text())
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == entry["sha256"]
    assert {s["package"] for s in manifest["sources"]} == {"nilearn", "dipy", "pydicom"}
    assert all(s["licence"] and s["version"] for s in manifest["sources"])
    assert len(manifest["slices"]) == N_SUBSET
    assert all({"seed", "z_vox", "split", "name"} <= set(s) for s in manifest["slices"])


def test_synthetic_arrays_shapes_dtypes_ranges(built: tuple[Path, Path]) -> None:
    root = built[0]
    x = np.load(root / FILES["slices"])
    m = np.load(root / FILES["brainmask"])
    t = np.load(root / FILES["tissue"])
    assert (x.shape, x.dtype) == ((N_SUBSET, 128, 128), np.float32)
    assert (m.shape, m.dtype) == ((N_SUBSET, 128, 128), np.uint8)
    assert (t.shape, t.dtype) == ((N_SUBSET, 3, 128, 128), np.float16)
    assert x.min() >= 0 and x.max() <= 1.5
    for img, mask in zip(x, m.astype(bool), strict=True):
        assert np.percentile(img[mask], 99.5) == pytest.approx(1.0, abs=1e-4)
        assert not mask[0].any() and not mask[-1].any() and not mask[:, 0].any()
    tf = t.astype(np.float32)
    assert tf.min() >= 0 and tf.sum(axis=1).max() <= 1.0 + 1e-2


def test_tissue_maps_follow_the_deformed_image(built: tuple[Path, Path]) -> None:
    root = built[0]
    x = np.load(root / FILES["slices"])
    t = np.load(root / FILES["tissue"]).astype(np.float32)
    for img, (csf, _, wm) in zip(x, t, strict=True):
        # T1 contrast: white matter brighter than CSF wherever the maps say so.
        assert img[wm > 0.9].mean() > img[csf > 0.9].mean() + 0.3


def test_variants_at_one_position_differ_and_are_reproducible() -> None:
    plan = builder.slice_plan()
    mni = builder._load_mni()
    row0, row1 = plan[0], plan[1]
    assert row0["z_vox"] == row1["z_vox"] and row0["seed"] != row1["seed"]
    z = row0["z_vox"]
    args = (mni["t1"][:, :, z], mni["gm"][:, :, z], mni["wm"][:, :, z], mni["brain"][:, :, z])
    kw = {"center": mni["center"], "fov_mm": builder.FOV_MM}
    a = simulate_slice(*args, seed=row0["seed"], **kw)[0]
    b = simulate_slice(*args, seed=row1["seed"], **kw)[0]
    again = simulate_slice(*args, seed=row0["seed"], **kw)[0]
    np.testing.assert_array_equal(a, again)
    assert np.abs(a - b).mean() > 0.02


def test_plan_splits_are_disjoint_and_test_positions_unseen_in_train() -> None:
    plan = builder.slice_plan()
    counts = {s: sum(p["split"] == s for p in plan) for s in ("train", "val", "test")}
    assert counts == {"train": 90, "val": 15, "test": 15}
    assert [p["index"] for p in plan] == list(range(120))
    z = {s: {p["z_vox"] for p in plan if p["split"] == s} for s in counts}
    assert (
        not (z["train"] & z["test"]) and not (z["train"] & z["val"]) and not (z["val"] & z["test"])
    )
    gap = min(abs(a - b) for a in z["train"] for b in z["test"])
    assert gap >= 3


def test_splits_json_is_disjoint_and_covers_subset(built: tuple[Path, Path]) -> None:
    splits = json.loads((built[0] / FILES["splits"]).read_text())
    sets = [set(v) for v in splits.values()]
    assert sum(map(len, sets)) == len(set().union(*sets)) == N_SUBSET
    assert all(sets)


@pytest.mark.parametrize("split", ["train", "val", "test", "real"])
@pytest.mark.parametrize("size", [128, 64, 48])
def test_load_slices_shapes(built: tuple[Path, Path], split: str, size: int) -> None:
    s = load_slices(split, root=built[0], size=size)
    assert isinstance(s, SliceSet)
    n = len(s)
    assert n > 0 and len(s.names) == n
    assert s.images.shape == (n, size, size) and s.images.dtype == np.float32
    assert s.masks.shape == (n, size, size) and s.masks.dtype == bool
    if split == "real":
        assert s.tissue is None
    else:
        assert s.tissue is not None and s.tissue.shape == (n, 3, size, size)


def test_downsampling_is_a_block_mean(built: tuple[Path, Path]) -> None:
    full = load_slices("val", root=built[0])
    half = load_slices("val", root=built[0], size=64)
    expected = full.images.reshape(-1, 64, 2, 64, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(half.images, expected, atol=1e-6)


def test_real_slices_are_normalised(built: tuple[Path, Path]) -> None:
    s = load_slices("real", root=built[0])
    assert len(s) >= 30 and s.images.min() >= 0 and s.images.max() <= 1.5
    assert any(n.startswith("dipy_t1_coronal") for n in s.names)
    assert any(n.startswith("pydicom_MR_small") for n in s.names)
    for img, mask in zip(s.images, s.masks, strict=True):
        assert mask.mean() > 0.2
        assert np.percentile(img[mask], 99.5) == pytest.approx(1.0, abs=1e-4)


def test_missing_data_names_path_and_command(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="make data") as e:
        load_slices("train", root=missing)
    assert str(missing) in str(e.value)


@pytest.mark.parametrize(("split", "size"), [("training", 128), ("train", 256), ("train", 4)])
def test_load_slices_rejects_bad_arguments(split: str, size: int) -> None:
    with pytest.raises(ValueError):
        load_slices(split, root="/nonexistent", size=size)


def test_if_changed_skips_an_intact_build_and_detects_damage(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    import shutil

    assert builder.is_up_to_date(built[0], n=N_SUBSET)
    assert not builder.is_up_to_date(built[0])  # a full build has more slices
    copy = tmp_path / "copy"
    shutil.copytree(built[0], copy)
    target = copy / FILES["slices"]
    data = bytearray(target.read_bytes())
    data[-1] ^= 1
    target.write_bytes(bytes(data))
    assert not builder.is_up_to_date(copy, n=N_SUBSET)
    # The CLI with --if-changed leaves an intact build alone and copies its manifest.
    before = (built[0] / FILES["slices"]).stat().st_mtime_ns
    out_manifest = tmp_path / "manifest.json"
    builder.main(["--out", str(built[0]), "--n", str(N_SUBSET), "--if-changed",
                  "--manifest", str(out_manifest)])  # fmt: skip
    assert (built[0] / FILES["slices"]).stat().st_mtime_ns == before
    assert out_manifest.read_bytes() == (built[0] / FILES["manifest"]).read_bytes()
