"""Every notebook's parameters cell parses cleanly; its params.yaml section passes the checks."""

from __future__ import annotations

import logging

import pytest
import yaml

from mricompendium import parameters, paths, run

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*/*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_papermill_parses_every_parameter_without_a_warning(notebook, caplog) -> None:
    import papermill

    with caplog.at_level(logging.WARNING, logger="papermill"):
        found = papermill.inspect_notebook(str(notebook))
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("papermill")]
    assert warnings == []
    assert list(found) == list(parameters.notebook_parameters(notebook))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_params_yaml_section_passes_the_checks(notebook) -> None:
    sections = yaml.safe_load(paths.PARAMS.read_text())
    if notebook.stem not in sections:
        pytest.skip(f"{notebook.stem} has no params.yaml section yet")
    checked = run.check_run(notebook.stem)
    assert set(sections[notebook.stem]) <= set(checked.params)
    cell = parameters.notebook_parameters(notebook)
    for key in ("output_dir", "seed", "device", "data_path"):
        assert key in cell, f"{notebook.stem}: the contract's parameter {key} is missing"
