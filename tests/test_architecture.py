"""The import rules of the architecture, checked on the source (AST) of every module under src.

- ``models/<family>/`` imports no ``data``, ``training``, ``metrics`` or ``experiments``, and no
  other family's models;
- ``physics/`` imports no model and no data set;
- nothing under ``src`` imports a notebook;
- no family (its ``models/``, ``experiments/``, ``data/`` or ``metrics/`` module) imports another
  family's models.

The rules are read from the files, not from a list of modules, so the families being added on
other branches are checked as soon as they land.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = "mricompendium"
FORBIDDEN_IN_MODELS = ("data", "training", "metrics", "experiments")
FORBIDDEN_IN_PHYSICS = ("models", "data")
FAMILY_LAYERS = ("models", "experiments", "data", "metrics")


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, root: Path) -> set[str]:
    """Every module a file imports, absolute, with ``from a import b`` also giving ``a.b``."""
    module = _module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{alias.name}" for alias in node.names)
    return out


def _families(root: Path) -> set[str]:
    models = root / PKG / "models"
    return {p.name for p in models.iterdir() if p.is_dir() and not p.name.startswith("_")}


def _family_of(module: str, families: set[str]) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] in FAMILY_LAYERS and parts[2] in families:
        return parts[2]
    return None


def _starts(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path) -> list[str]:
    """Every broken rule under ``root`` (a ``src`` folder), as ``module: imports x (rule)``."""
    families = _families(root)
    found = []
    for path in sorted((root / PKG).rglob("*.py")):
        module = _module_name(path, root)
        layer = module.split(".")[1] if module.count(".") >= 1 else ""
        family = _family_of(module, families)
        for name in sorted(_imports(path, root)):
            if any(_starts(name, p) for p in ("notebooks", "import_ipynb", "ipynb")):
                found.append(f"{module}: imports {name} (nothing under src imports a notebook)")
            if not _starts(name, PKG):
                continue
            target = name.split(".")
            target_layer = target[1] if len(target) > 1 else ""
            if layer == "models" and target_layer in FORBIDDEN_IN_MODELS:
                found.append(f"{module}: imports {name} (models import no {target_layer})")
            if layer == "physics" and target_layer in FORBIDDEN_IN_PHYSICS:
                found.append(f"{module}: imports {name} (physics imports no {target_layer})")
            if family and target_layer == "models" and len(target) > 2 and target[2] in families:
                if target[2] != family:
                    found.append(f"{module}: imports {name} (family {family} imports another "
                                 f"family's models)")  # fmt: skip
    return found


def test_the_source_tree_follows_the_import_rules() -> None:
    assert violations(SRC) == []


def test_the_rules_cover_the_reconstruction_family() -> None:
    assert "reconstruction" in _families(SRC)
    files = {_module_name(p, SRC) for p in (SRC / PKG).rglob("*.py")}
    assert f"{PKG}.models.reconstruction.varnet" in files
    assert f"{PKG}.experiments.reconstruction.protocol" in files


def _write(root: Path, rel: str, text: str) -> None:
    path = root / PKG / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("rel", "text", "rule"),
    [
        ("models/seg/net.py", "from mricompendium.data import load_slices\n", "models import no"),
        ("models/seg/net.py", "from ...training import fit\n", "models import no training"),
        ("models/seg/net.py", "import mricompendium.metrics.image\n", "models import no metrics"),
        ("models/seg/net.py", "from mricompendium.models.recon import x\n", "another family"),
        ("physics/op.py", "from mricompendium.models.recon.a import b\n", "physics imports no"),
        ("physics/op.py", "from ..data import embedded\n", "physics imports no data"),
        ("experiments/seg.py", "from mricompendium.models import recon\n", "another family"),
        ("data/seg/x.py", "import notebooks.seg\n", "imports a notebook"),
    ],
)
def test_each_rule_catches_a_violation(tmp_path: Path, rel: str, text: str, rule: str) -> None:
    for fam in ("recon", "seg"):
        _write(tmp_path, f"models/{fam}/__init__.py", "")
    _write(tmp_path, "__init__.py", "")
    _write(tmp_path, "models/__init__.py", "")
    _write(tmp_path, rel, text)
    found = violations(tmp_path)
    assert len(found) >= 1 and all(rule in f for f in found), found


def test_allowed_imports_pass(tmp_path: Path) -> None:
    for fam in ("recon", "seg"):
        _write(tmp_path, f"models/{fam}/__init__.py", "")
    model = "from mricompendium.physics.fft import fft2c\nfrom .blocks import Block\nimport torch\n"
    harness = "from mricompendium.models.seg import net\nfrom mricompendium import training\n"
    _write(tmp_path, "models/seg/net.py", model)
    _write(tmp_path, "experiments/seg.py", harness)
    assert violations(tmp_path) == []
