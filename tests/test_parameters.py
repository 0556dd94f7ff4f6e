"""The parameters cell as data, and the checks of a run's parameters against it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from mricompendium import parameters

CELL = """# CI defaults
output_dir = ""  # "" -> scratch folder
seed = 0
image_size = 32
num_coils = 8  # receive coils
snr = 25.0
accelerations = [4.0, 8.0]
models = [
    "A", "B",
]  # fmt: skip
scale = "small"  # one of small, paper
overlap = 0.5  # fraction in [0, 1]
use_amp = False
overrides = {}
data_path = ""  # optional folder
"""


def _notebook(tmp_path: Path, source: str = CELL, tag: bool = True) -> Path:
    cell = nbformat.v4.new_code_cell(source)
    if tag:
        cell.metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), cell])
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    return path


def test_cell_is_parsed_with_defaults_and_comments(tmp_path: Path) -> None:
    cell = parameters.notebook_parameters(_notebook(tmp_path))
    assert list(cell)[:4] == ["output_dir", "seed", "image_size", "num_coils"]
    assert cell["accelerations"].default == [4.0, 8.0]
    assert cell["models"].default == ["A", "B"] and cell["models"].comment == "fmt: skip"
    assert cell["num_coils"].comment == "receive coils" and cell["num_coils"].line == 5
    assert cell["overrides"].default == {} and cell["use_amp"].default is False


def test_cell_errors_name_the_notebook(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"toy\.ipynb: no cell tagged 'parameters'"):
        parameters.notebook_parameters(_notebook(tmp_path, tag=False))
    with pytest.raises(ValueError, match=r"toy\.ipynb: parameters line 2"):
        parameters.notebook_parameters(_notebook(tmp_path, "a = 1\nb = a + 1\n"))
    with pytest.raises(ValueError, match=r"line 1: not `name = literal`"):
        parameters.notebook_parameters(_notebook(tmp_path, "import os\n"))


def _problems(tmp_path: Path, **params: object) -> list[str]:
    cell = parameters.notebook_parameters(_notebook(tmp_path))
    origins = dict.fromkeys(params, "--set")
    return [p.line("toy") for p in parameters.check("toy", cell, params, origins)]


def test_unknown_key_gets_a_suggestion(tmp_path: Path) -> None:
    assert _problems(tmp_path, num_coil=12) == [
        "toy: num_coil: unknown parameter of toy (from --set); did you mean num_coils?"
    ]
    (line,) = _problems(tmp_path, zzz=1)
    assert "its parameters: output_dir, seed" in line


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("image_size", 32.5, "32.5 is a float, expected an int like 32"),
        ("image_size", True, "True is a bool, expected an int"),
        ("snr", "high", "'high' is a str, expected a float"),
        ("accelerations", 4.0, "4.0 is a float, expected a list"),
        ("accelerations", [4, "x"], "item 'x' is a str, expected float"),
        ("use_amp", 1, "1 is an int, expected a bool"),
        ("seed", -1, "-1 must be >= 0"),
        ("snr", 0.0, "0.0 must be > 0"),
        ("image_size", 2, "2 must be >= 8"),
        ("accelerations", [4.0, 0.5], "0.5 must be >= 1"),
        ("scale", "huge", "'huge' is not one of small, paper"),
        ("overlap", 1.5, "1.5 must be <= 1"),
        ("data_path", "/no/such/folder", "/no/such/folder does not exist"),
    ],
)
def test_bad_values(tmp_path: Path, key: str, value: object, message: str) -> None:
    (line,) = _problems(tmp_path, **{key: value})
    assert line.startswith(f"toy: {key}: {message}") and line.endswith(" (from --set)")


def test_good_values_pass(tmp_path: Path) -> None:
    assert not _problems(
        tmp_path,
        image_size=320,
        snr=10,  # an int where a float is expected is fine
        accelerations=[4, 6.5],
        scale="paper",
        data_path=str(tmp_path),
        overrides={"A": {"hidden": 32}},
        use_amp=True,
    )


def test_set_values_are_typed_like_the_default(tmp_path: Path) -> None:
    cell = parameters.notebook_parameters(_notebook(tmp_path))
    assert parameters.coerce(cell, "data_path", "2024") == "2024"
    assert parameters.coerce(cell, "data_path", '"quoted"') == "quoted"
    assert parameters.coerce(cell, "image_size", "64") == 64
    assert parameters.coerce(cell, "accelerations", "[4, 8]") == [4, 8]
    assert parameters.coerce(cell, "use_amp", "true") is True


def test_sampling_rules_follow_the_masks_module(tmp_path: Path) -> None:
    from mricompendium.physics import masks

    assert parameters.SAMPLING_PATTERNS == masks.PATTERNS
    rule = parameters.RULES["*_samplings"]
    assert rule.violation(["poisson_2d@8", "equispaced_1d@4,cf=0.08", "gaussian_2d@6x"]) is None
    assert "does not match" in rule.violation(["poisson@8"])
    assert "not one of" in parameters.RULES["pattern"].violation("equispaced")
