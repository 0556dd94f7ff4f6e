"""``--if-changed`` skips an rtMRI corpus: no rebuild when nothing changed."""

from __future__ import annotations

import json
import time

import pytest

from mricompendium.data.rtmri import build
from mricompendium.data.rtmri.simulate import SimConfig


def _built(tmp_path, preset: str = "ci"):
    """A corpus folder whose manifest is what a build of ``preset`` writes (the files are stubs)."""
    head = build._manifest_config(build.PRESETS[preset], SimConfig(), preset)
    (tmp_path / "a.npz").write_bytes(b"stub")
    manifest = {**head, "files": {"a.npz": "0" * 64}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return head


def test_second_build_skips_in_well_under_a_second(tmp_path, monkeypatch):
    _built(tmp_path)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt although nothing changed")

    monkeypatch.setattr(build, "_plan", no_rebuild)
    t0 = time.perf_counter()
    out = build.build(tmp_path, build.PRESETS["ci"], preset="ci", if_changed=True)
    assert out == tmp_path / "manifest.json"
    assert time.perf_counter() - t0 < 1.0


def test_manifest_head_compares_like_with_like(tmp_path):
    head = _built(tmp_path)
    assert build._up_to_date(tmp_path, head)
    # a tuple in a config (center_cm) compares equal to the list JSON gives back
    assert isinstance(head["sim"]["geometry"]["center_cm"], list)


@pytest.mark.parametrize("change", ["seed", "preset", "missing_file"])
def test_a_changed_corpus_is_rebuilt(tmp_path, change):
    head = _built(tmp_path)
    if change == "missing_file":
        (tmp_path / "a.npz").unlink()
    else:
        head = {**head, change: head[change] + 1 if change == "seed" else "full"}
    assert not build._up_to_date(tmp_path, head)
