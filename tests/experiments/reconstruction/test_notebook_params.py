"""The five reconstruction notebooks' parameters: params.yaml, README commands, papermill."""

from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
IDS = ["reconresnet", "cirim", "recurrentvarnet", "xpdnet", "multicoil_generalisation"]


def _parameters_cell(nb_id: str) -> str:
    nb = json.loads((ROOT / "notebooks" / "reconstruction" / f"{nb_id}.ipynb").read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{nb_id}: exactly one parameters cell"
    return "".join(cells[0]["source"])


def _names(source: str) -> set[str]:
    return {t.id for n in ast.parse(source).body if isinstance(n, ast.Assign) for t in n.targets}


@pytest.mark.parametrize("nb_id", IDS)
def test_params_yaml_keys_are_notebook_parameters(nb_id: str) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    names = _names(_parameters_cell(nb_id))
    assert set(params[nb_id]) <= names
    assert {"output_dir", "seed", "device", "torch_threads", "seeds", "data_path"} <= names
    assert params[nb_id]["seeds"] == [0, 1, 2]


@pytest.mark.parametrize("nb_id", IDS)
def test_papermill_parses_the_parameters_cell_without_a_warning(nb_id: str) -> None:
    from papermill.translators import PythonTranslator

    source = _parameters_cell(nb_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = PythonTranslator.inspect({"source": source})
    assert {p.name for p in found} == _names(source)
    assert not [p.name for p in found if p.help and ('"' in p.help or "'" in p.help)]


def test_every_readme_key_of_a_recon_notebook_exists_in_params_yaml() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    readme = (ROOT / "README.md").read_text()
    used = re.findall(r"-S (\w+)\.(\w+)=", readme)
    recon = [(i, k) for i, k in used if i in IDS]
    assert recon, "the README's full-scale commands name recon parameters"
    assert [f"{i}.{k}" for i, k in recon if k not in params[i]] == []


@pytest.mark.parametrize("nb_id", IDS)
def test_no_forced_backend_and_no_typed_verdict(nb_id: str) -> None:
    nb = json.loads((ROOT / "notebooks" / "reconstruction" / f"{nb_id}.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert 'matplotlib.use("Agg")' not in code and "claims.verdict(" not in code
    assert "write_metrics" not in code and "claims.write_record(" in code
