"""dvc.yaml's stage dependencies are generated from the notebooks' import closures."""

from __future__ import annotations

import json

import yaml

from mricompendium import paths, stages


def _write(root, rel, text=""):
    f = root / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)


def test_closure_follows_relative_lazy_and_submodule_imports(tmp_path):
    src = tmp_path / "src"
    _write(src, "mricompendium/__init__.py")
    _write(src, "mricompendium/pkg/__init__.py", "from .a import f\n")
    _write(
        src,
        "mricompendium/pkg/a.py",
        "from . import b\n\ndef f():\n    import mricompendium.lazy\n",
    )
    _write(src, "mricompendium/pkg/b.py", "from ..util import g\n")
    _write(src, "mricompendium/util.py", "import numpy\n")
    _write(src, "mricompendium/lazy.py")
    _write(src, "mricompendium/unused.py")
    nb = tmp_path / "nb.ipynb"
    cells = [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "from mricompendium import pkg\n"]}
    ]
    nb.write_text(json.dumps({"cells": cells}))
    mods = stages.closure(stages.notebook_imports(nb, src), src=src)
    assert mods == {"mricompendium", "mricompendium.pkg", "mricompendium.pkg.a",
                    "mricompendium.pkg.b", "mricompendium.util", "mricompendium.lazy"}  # fmt: skip
    cut = stages.closure({"mricompendium.pkg"}, exclude=frozenset({"mricompendium.pkg.b"}), src=src)
    assert "mricompendium.util" not in cut and "mricompendium.pkg.b" not in cut


def test_dvc_yaml_is_up_to_date_with_the_notebooks():
    """Fails when a notebook's imports changed and `python -m mricompendium.stages` was not run."""
    assert stages.main(["--check"]) == 0


def test_every_stage_covers_its_notebook_import_closure_except_the_verdict_rules():
    spec = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())["stages"]
    for nb_id, nb in stages.notebooks().items():
        deps = set(spec[nb_id]["deps"])
        mods = stages.closure(stages.notebook_imports(nb))
        for m in mods:
            f = stages.module_file(m).relative_to(paths.ROOT).as_posix()
            assert (f in deps) != (m in stages.VERDICT_ONLY), f"{nb_id}: {f}"
        assert "src/mricompendium/references.yaml" not in deps
    if "verdict" in spec:
        vdeps = set(spec["verdict"]["do"]["deps"])
        assert {"src/mricompendium/claims/engine.py", "src/mricompendium/references.yaml"} <= vdeps


def test_stale_notebooks_are_the_changed_notebook_stages_of_dvc_status():
    status = {
        "atommic": [{"changed deps": {"notebooks/reconstruction/atommic.ipynb": "modified"}}],
        "verdict@atommic": [{"changed deps": {"reports/records/atommic.json": "modified"}}],
        "data": [{"changed outs": {"data/manifest.json": "modified"}}],
        "cirim": ["always changed"],
        "no_such_notebook": [],
    }
    assert stages.stale_notebooks(status) == ["atommic", "cirim"]
    assert stages.stale_notebooks({}) == []
