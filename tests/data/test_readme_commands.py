"""The README's real-data and full-scale commands run as printed, on small files written here.

Every ``dvc exp run`` line is applied to a copy of ``params.yaml`` with DVC's own override code
(a key missing from ``params.yaml`` fails there as it does under DVC), and each notebook it changes
goes through ``mricompendium.run``'s checks, which read the data through the notebooks' loaders
(``--dry``: nothing trains). ``python -m mricompendium.run`` lines run with ``--dry``;
``python -m mricompendium.userdata`` lines run as they are. Paths under ``/data/`` point at files
this test writes: fastMRI and Calgary-Campinas HDF5, and NIfTI volumes in two orientations.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from realdata_files import (
    write_acdc,
    write_brats,
    write_cmrxrecon,
    write_contours,
    write_dynamic,
    write_isles,
    write_learn2reg,
    write_nsd,
    write_pairs,
    write_picai,
    write_skmtea,
    write_usc75,
)
from userdata_files import write_cc, write_fastmri, write_nifti

from mricompendium import memory, paths, run, userdata

README = paths.ROOT / "README.md"
PARAMS = paths.PARAMS
# Commands that cannot pass as printed, with the reason (for the notebooks' owners to fix).
KNOWN: dict[str, str] = {}  # command fragment -> why it cannot pass as printed (none today)
# command fragment -> the test that runs it instead (it needs what an earlier line trains)
ELSEWHERE: dict[str, str] = {
    "checkpoint_dir=": "reads checkpoints that `python -m mricompendium.train` writes: "
    "tests/test_plans.py trains them and runs the notebook's checkpoint route",
}


def readme_commands(text: str) -> list[str]:
    """The ``dvc exp run``, ``mricompendium.run`` and ``mricompendium.userdata`` commands."""
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = " ".join(blocks).replace("\\\n", " ").splitlines()
    wanted = ("dvc exp run", "-m mricompendium.run", "-m mricompendium.userdata")
    return [ln.split("#")[0].strip() for ln in lines if any(w in ln for w in wanted)]


COMMANDS = readme_commands(README.read_text())


# path fragment -> writer of that release's own tree at the path (see realdata_files)
RELEASES = {
    "brats": lambda p: write_brats(p, n=240, links_after=4),  # enough for n_train=200 + val + test
    "isles": write_isles,
    "usc": lambda p: write_usc75(p, speakers=4),
    "tongue": lambda p: write_contours(p, speakers=12, poses=11),
    "nsd": write_nsd,
    "oasis": lambda p: write_learn2reg(p.parent),  # <parent>/OASIS
    "acdc": lambda p: write_acdc(p.parent.parent),  # <root>/database/training
    # atommic splits pairs by volume: n_test_volumes (default 7) test, 1 validates, 1 trains
    "dseg": lambda p: write_pairs(p, n=max(7, N_TEST_VOLUMES) + 2),
    "brainmask": lambda p: write_pairs(p, suffixes=("_image.nii.gz", "_brainmask.nii.gz")),
    "picai": write_picai,
    "dynamic": write_dynamic,
    "cmrxrecon": lambda p: write_cmrxrecon(p, patients=CMRX_PATIENTS),
    # skm_tea and atommic (data_format skmtea: 7 test scans by default, 8 coils, 128-px planes)
    "skm-tea": lambda p: write_skmtea(p, scans=(2, 1, 7), shape=(4, 128, 128), coils=8),
}
# cmrxrecon tests the last n_test_patients and validates on the one before (checks.ROUTES)
CMRX_PATIENTS = 2 + max(
    [2] + [int(n) for n in re.findall(r"n_test_patients=(\d+)", " ".join(COMMANDS))]
)
N_TEST_VOLUMES = max(int(n) for n in re.findall(r"n_test_volumes=(\d+)", " ".join(COMMANDS)) or [1])


def _data_kind(path: str) -> str:
    low = path.lower()
    release = next((k for k in RELEASES if k in low), None)
    if release is not None:
        return release
    if "fastmri" in low:
        return "fastmri"
    if "cc359" in low or "calgary" in low:
        return "cc32" if "32" in low else "cc12"
    return "nifti"


def _write(folder: Path, kind: str) -> None:
    if kind in RELEASES:
        RELEASES[kind](folder)
        return
    folder.mkdir(parents=True)
    for i in range(2 if kind != "nifti" else 3):
        if kind == "fastmri":  # brain multi-coil: 320 x 320 after the header's crop
            write_fastmri(folder / f"file_brain_{i}.h5", coils=12, shape=(320, 320), seed=i)
            if i == 1:  # as many volumes as the largest held-out split asks for (hard links)
                for j in range(2, N_TEST_VOLUMES + 1):
                    os.link(folder / f"file_brain_{j % 2}.h5", folder / f"file_brain_{j}.h5")
        elif kind.startswith("cc"):
            write_cc(folder / f"e{i}.h5", coils=int(kind[2:]), slices=2, seed=i)
            if i == 1:  # as many volumes as the largest held-out split asks for (hard links)
                for j in range(2, N_TEST_VOLUMES + 1):
                    os.link(folder / f"e{j % 2}.h5", folder / f"e{j}.h5")
        else:
            write_nifti(folder / f"sub{i}.nii.gz", orientation=("RAS", "PIR", "RAS")[i])


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    for path in sorted(set(re.findall(r"(/data/[\w./-]+)", " ".join(COMMANDS)))):
        _write(root / path.lstrip("/"), _data_kind(path))
    # data/user/<name> folders that no userdata line links (BraTS, ISLES)
    linked = {a.split()[0] for a in re.findall(r"userdata add ([\w-]+ )", " ".join(COMMANDS))}
    for name in sorted(set(re.findall(r"data/user/([\w-]+)", " ".join(COMMANDS))) - linked):
        if _data_kind(name) in RELEASES:
            _write(root / "data" / "user" / name, _data_kind(name))
    return root


def _cases() -> list:
    cases = []
    for i, cmd in enumerate(COMMANDS):
        known = next((why for key, why in KNOWN.items() if key in cmd), None)
        marks = pytest.mark.xfail(reason=known, strict=True) if known else ()
        elsewhere = next((why for key, why in ELSEWHERE.items() if key in cmd), None)
        marks = pytest.mark.skip(reason=elsewhere) if elsewhere else marks
        cases.append(pytest.param(i, cmd, id=f"{i}-{shlex.split(cmd)[0]}", marks=marks))
    return cases


def test_readme_has_the_commands() -> None:
    assert sum("dvc exp run" in c for c in COMMANDS) >= 6
    assert any("mricompendium.userdata add" in c for c in COMMANDS)


@pytest.mark.parametrize(("index", "command"), _cases())
def test_readme_command(index: int, command: str, data_root: Path, monkeypatch) -> None:
    monkeypatch.setattr(paths, "ROOT", data_root)  # data/user/ links and /data/ live here
    # full-scale commands are meant for a bigger machine than CI's (tests/test_memory.py)
    monkeypatch.setattr(memory, "machine_memory", lambda: 2**40)
    args = _args(command, data_root)
    for earlier in COMMANDS[:index]:  # links added by earlier lines exist
        if "userdata add" in earlier:
            _run_userdata(_args(earlier, data_root))
    if args[0].endswith("dvc"):
        _dvc_exp_run(args, data_root, monkeypatch)
    elif "mricompendium.userdata" in args:
        assert _run_userdata(args) == 0
    else:
        sub = args[args.index("mricompendium.run") + 1 :]
        assert run.main([*sub, "--dry"] if "--dry" not in sub else sub) == 0


def _args(command: str, root: Path) -> list[str]:
    """The command's words, ``/data/...`` pointing at the files written under ``root``."""
    return [re.sub(r"(^|=)/data/", rf"\g<1>{root}/data/", a) for a in shlex.split(command)]


def _run_userdata(args: list[str]) -> int:
    return userdata.main(args[args.index("mricompendium.userdata") + 1 :])


def _dvc_exp_run(args: list[str], root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dvc.utils.hydra import apply_overrides

    overrides = [args[i + 1] for i, a in enumerate(args) if a in ("-S", "--set-param")]
    params = root / "params.yaml"
    shutil.copyfile(PARAMS, params)
    apply_overrides(params, overrides)  # raises as `dvc exp run` does on an unknown key
    monkeypatch.setattr(paths, "PARAMS", params)
    before, after = yaml.safe_load(PARAMS.read_text()), yaml.safe_load(params.read_text())
    changed = [k for k in after if after[k] != before.get(k)]
    assert changed, f"{overrides} changes nothing"
    for nb_id in changed:
        checked = run.check_run(nb_id)
        paths_set = [o for o in overrides if o.startswith(f"{nb_id}.") and "data_path=" in o]
        assert len(checked.data) == len(paths_set)
