"""Atomic writers: complete files or nothing, never a half-written report."""

from __future__ import annotations

import json

import matplotlib
import numpy as np
import pytest

from mricompendium import io

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_bytes_json_create_parents(tmp_path):
    io.atomic_write_text(tmp_path / "a" / "b" / "t.txt", "héllo\n")
    io.atomic_write_bytes(tmp_path / "x.bin", b"\x00\x01")
    io.atomic_write_json(tmp_path / "j.json", {"b": np.float32(0.5), "a": np.arange(3)})
    assert (tmp_path / "a" / "b" / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "x.bin").read_bytes() == b"\x00\x01"
    text = (tmp_path / "j.json").read_text()
    assert json.loads(text) == {"a": [0, 1, 2], "b": 0.5}
    assert text.index('"a"') < text.index('"b"') and text.endswith("\n")  # sorted keys
    assert _leftovers(tmp_path) == []


def test_unserialisable_json_leaves_existing_target_intact(tmp_path):
    target = tmp_path / "m.json"
    io.atomic_write_json(target, {"ok": 1})
    with pytest.raises(TypeError):
        io.atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": 1}
    assert _leftovers(tmp_path) == []


def test_failure_inside_atomic_open_leaves_no_file(tmp_path):
    target = tmp_path / "new.bin"
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_open(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_savefig_leaves_existing_png_intact(tmp_path):
    target = tmp_path / "fig.png"
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    io.atomic_savefig(fig, target, dpi=20)
    before = target.read_bytes()
    assert before.startswith(b"\x89PNG")
    with pytest.raises(ValueError):
        io.atomic_savefig(fig, target, format="not-a-format")
    plt.close(fig)
    assert target.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_csv_from_dicts_with_missing_cells(tmp_path):
    target = tmp_path / "t" / "table.csv"
    io.atomic_write_csv(target, [{"method": "CS", "ssim": 0.5}, {"method": "VN", "psnr": 30}])
    assert target.read_text() == "method,ssim,psnr\nCS,0.5,\nVN,,30\n"


def test_csv_rejects_unknown_column_without_writing(tmp_path):
    target = tmp_path / "table.csv"
    with pytest.raises(ValueError):
        io.atomic_write_csv(target, [{"a": 1, "b": 2}], fieldnames=["a"])
    assert not target.exists()


def test_bad_input_types_raise():
    with pytest.raises(TypeError):
        io.atomic_write_text("unused.txt", b"bytes")
    with pytest.raises(TypeError):
        io.atomic_write_bytes("unused.bin", "text")
    with pytest.raises(TypeError):
        io.atomic_write_csv("unused.csv", [1, 2])
