"""The scaffold writes a notebook that runs and meets the contract, and its params section."""

from __future__ import annotations

import json

import pytest
import yaml

from mricompendium import new, stages


def test_scaffolded_notebook_runs_and_meets_the_contract(tmp_path):
    (tmp_path / "params.yaml").write_text("global:\n  seed: 0\n")
    nb_path = new.scaffold("scse", root=tmp_path, update_dvc=False)
    assert nb_path == tmp_path / "notebooks" / "segmentation" / "scse.ipynb"
    nb = json.loads(nb_path.read_text())
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "S74" in "".join(cells[0]["source"])
    tagged = [c for c in cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    check = [c for c in cells if "NBVAL_CHECK_OUTPUT" in "".join(c["source"])]
    assert "".join(check[0]["outputs"][0]["text"]) == "scse S74 parameters ok: True\n"
    assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert params["scse"]["seeds"] == [0, 1, 2] and params["global"] == {"seed": 0}
    assert "src/mricompendium/claims/engine.py" not in stages.notebook_stage_deps(nb_path)
    with pytest.raises(FileExistsError):
        new.scaffold("scse", root=tmp_path, update_dvc=False)


def test_unknown_id_is_refused(capsys):
    assert new.main(["not_a_paper"]) == 1
    assert "not in the catalogue" in capsys.readouterr().err
