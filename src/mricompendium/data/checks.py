"""Check a run's real-data parameters before a notebook starts: formats, counts, coils, sizes.

``mricompendium.run`` calls :func:`check_sources` with the parameters it will inject (also with
``--dry``). The checks read file metadata (HDF5 shapes, ISMRMRD and NIfTI headers) for every file
and then load a little through the same public loaders the notebooks call (``load_kspace_source``
of ``mricompendium.data.recon``, or of the older ``mricompendium.data.kspace``, and
:func:`mricompendium.data.user_data.axial_slices`), so a run that passes them does not fail
later on a wrong format, a single file that cannot be split, a coil count or an image size.

What a notebook does with each data parameter is declared in :data:`SOURCES` (keep it in step with
the notebooks): which parameter gives the coil count the loader compresses to, and which one the
volumes held out for testing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mricompendium import paths
from mricompendium.data.errors import DataError
from mricompendium.data.loaders import KspaceFileInfo, inspect_kspace_h5

__all__ = ["SOURCES", "Source", "check_sources", "describe_kspace_source", "kspace_files"]


@dataclass(frozen=True)
class Source:
    """How notebooks use one data-path parameter.

    Attributes:
        key: the parameter holding the path (``data_path``).
        coils_from: parameters that may give the coil count the loader compresses to (the
            first one present is used); every file needs at least that many coils.
        min_coils_from: parameters giving a coil count the data must reach without compression.
        split_from: parameter giving the number of volumes held out for testing (the data need
            one more volume than that), or ``None`` when the data are only tested on.
    """

    key: str
    coils_from: tuple[str, ...] = ()
    min_coils_from: tuple[str, ...] = ()
    split_from: str | None = None


SOURCES: tuple[Source, ...] = (
    Source("data_path", coils_from=("num_coils", "train_coils"), split_from="n_test_volumes"),
    Source("shift_data_path", min_coils_from=("test_coils",)),
)


def _count(path: Path, found: list[Any], what: str, minimum: int) -> str:
    if len(found) < minimum:
        raise DataError(path, f"holds {len(found)} {what}, needs at least {minimum}")
    return f"{len(found)} {what} in {path}"


def _brats(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.segmentation.brats import find_cases

    return _count(path, find_cases(path), "BraTS cases", 3)


def _isles(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.segmentation.isles import find_cases

    return _count(path, find_cases(path), "ISLES 2022 cases", 3)


def _pairs(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.segmentation.pairs import find_pairs

    found = find_pairs(path, image_suffix=str(params.get("image_suffix", "")),
                       label_suffix=str(params.get("label_suffix", "")))  # fmt: skip
    return _count(path, found, "image + label NIfTI pairs", 1)


def _learn2reg(path: Path, params: Mapping[str, Any]) -> str:
    images = sorted((path / "imagesTr").glob("*.nii*")) if (path / "imagesTr").is_dir() else []
    if not (path / "labelsTr").is_dir():
        raise DataError(path, "needs imagesTr/ and labelsTr/ (Learn2Reg/OASIS layout)")
    return _count(path, images, "Learn2Reg/OASIS images", 2)


def _acdc(path: Path, params: Mapping[str, Any]) -> str:
    found = sorted(d for d in path.iterdir() if d.is_dir() and d.name.startswith("patient"))
    return _count(path, found, "ACDC patient folders", 1)


def _picai(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.registration.picai import find_picai_cases, load_picai_case

    found = [f for f in find_picai_cases(path) if f.gland is not None]
    out = _count(path, found, "PI-CAI studies with T2W, ADC, HBV and a whole-gland mask", 4)
    load_picai_case(found[0])
    return out


# Notebooks whose data_path is not a folder of NIfTI volumes nor raw k-space, by format.
FORMATS: dict[str, Callable[[Path, Mapping[str, Any]], str]] = {
    "segresnet_vae": _brats, "swin_unetr": _brats, "nnunet_extended": _brats,
    "stroke_synthetic": _isles, "scse": _pairs, "synthstrip": _pairs,
    "ddmr": _learn2reg, "nestedmorph": _learn2reg, "biomech_cardiac": _acdc,
    "prostate_seq_reg": _picai,
}  # fmt: skip


def check_sources(params: Mapping[str, Any], nb_id: str | None = None) -> list[str]:
    """Check every non-empty data path of ``params``; one description per source.

    A source is read in the format of the notebook (:data:`FORMATS`: BraTS, ISLES, NIfTI pairs,
    Learn2Reg, ACDC; ``data_format: nsd`` for NSD-style betas), as raw k-space when the notebook
    has a ``data_format`` parameter, and otherwise as a folder of NIfTI volumes.

    Raises:
        FileNotFoundError: a path that does not exist.
        DataError: ``source`` is the file (or the parameter) at fault, ``problem`` what is wrong.
    """
    out = []
    for src in SOURCES:
        value = params.get(src.key)
        if not value:
            continue
        path = paths.resolve(str(value))
        try:
            if nb_id in FORMATS and src.key == "data_path":
                if not path.exists():
                    raise FileNotFoundError(path)
                out.append(f"{src.key}: {FORMATS[nb_id](path, params)}")
            else:
                out.append(f"{src.key}: {_describe(path, params, src)}")
        except FileNotFoundError as e:
            raise DataError(path, f"does not exist ({src.key})") from e
        except DataError as e:
            if src.key in e.problem:
                raise
            raise DataError(e.source, f"{e.problem} ({src.key})") from e
    return out


def _describe(path: Path, params: Mapping[str, Any], src: Source) -> str:
    if params.get("data_format") == "nsd":  # MindEye2's NSD-style betas, not k-space
        from mricompendium.data.fmri.nsd import describe_nsd_folder

        return describe_nsd_folder(path)
    if "data_format" in params:
        return describe_kspace_source(path, str(params["data_format"]), params, src)
    from mricompendium.data.user_data import describe_nifti_dir

    return describe_nifti_dir(path, size=int(params.get("image_size", 128)))


def kspace_files(path: Path) -> list[Path]:
    """The ``.h5`` file itself, or a folder's ``.h5`` files sorted by name.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        DataError: a folder without ``.h5`` files, or a file that is not ``.h5``.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: data path does not exist")
    if path.is_file():
        if path.suffix.lower() not in (".h5", ".hdf5"):
            raise DataError(path, "is not an .h5 file (raw k-space is read from HDF5)")
        return [path]
    files = sorted(f for f in path.iterdir() if f.suffix == ".h5" and f.is_file())
    if not files:
        raise DataError(path, "holds no .h5 files (subfolders are not searched)")
    return files


def _first(params: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, int] | None:
    key = next((k for k in keys if k in params), None)
    return (key, int(params[key])) if key else None


def describe_kspace_source(
    path: Path, data_format: str, params: Mapping[str, Any], src: Source
) -> str:
    """Check raw k-space at ``path`` for the notebook parameters ``params``; describe it."""
    files = kspace_files(path)
    if src.split_from and src.split_from in params:
        _check_split(path, files, int(params[src.split_from]), src)
    infos = [inspect_kspace_h5(f, data_format) for f in files]
    target = _first(params, src.coils_from)
    _check_coils(infos, target, _first(params, src.min_coils_from), src.key)
    size = int(params["image_size"]) if "image_size" in params else None
    small = min(infos, key=lambda i: min(i.image_shape))
    if size is not None and size > min(small.image_shape):
        raise DataError(
            small.path,
            f"image {small.image_shape[0]}x{small.image_shape[1]} is smaller than "
            f"image_size={size} (the loader crops a square and keeps its k-space centre)",
        )
    _load_sample(path, files, data_format, size, target[1] if target else None)
    coils = sorted({i.coils for i in infos})
    shapes = sorted({i.image_shape for i in infos})
    return (
        f"{data_format} k-space, {len(files)} file(s), {sum(i.slices for i in infos)} slices, "
        f"{'/'.join(map(str, coils))} coils, images {', '.join(f'{h}x{w}' for h, w in shapes)}"
    )


def _check_split(path: Path, files: list[Path], n_test: int, src: Source) -> None:
    if len(files) > n_test or (len(files) == 1 and _kspace_loader()[1]):
        return
    what = "is a single file" if path.is_file() else f"holds {len(files)} .h5 file(s)"
    raise DataError(
        path,
        f"{what} (one volume per file): cannot hold out {src.split_from}={n_test} for testing "
        f"and keep one for training; give a folder of at least {n_test + 1} volumes",
    )


def _check_coils(
    infos: list[KspaceFileInfo],
    target: tuple[str, int] | None,
    minimum: tuple[str, int] | None,
    key: str,
) -> None:
    for need in (target, minimum):
        if need is None:
            continue
        short = next((i for i in infos if i.coils < need[1]), None)
        if short is not None:
            raise DataError(
                short.path, f"has {short.coils} coils, fewer than {need[0]}={need[1]} ({key})"
            )
    if target is None:
        odd = next((i for i in infos if i.coils != infos[0].coils), None)
        if odd is not None:
            raise DataError(
                odd.path,
                f"has {odd.coils} coils but {infos[0].path.name} has {infos[0].coils}: "
                f"the files of {key} must share one coil configuration",
            )


def _kspace_loader() -> tuple[Callable[..., Any], bool]:
    """The notebooks' ``load_kspace_source``, and whether its split accepts a single volume.

    ``mricompendium.data.recon`` (the reconstruction package) splits one volume by slices;
    the older ``mricompendium.data.kspace`` needs one volume more than it holds out.
    """
    try:
        from mricompendium.data.recon import load_kspace_source

        return load_kspace_source, True
    except ImportError:
        from mricompendium.data.kspace import load_kspace_source

        return load_kspace_source, False


def _load_sample(
    path: Path, files: list[Path], data_format: str, size: int | None, coils: int | None
) -> None:
    """Load one slice of up to two files through the notebooks' own loader."""
    load_kspace_source, _ = _kspace_loader()
    sample = path if len(files) <= 2 else files[0]
    try:
        load_kspace_source(
            sample, data_format, size=size, num_coils=coils, max_slices=1, max_files=2
        )
    except DataError:
        raise
    except (ValueError, OSError, RuntimeError) as e:
        raise DataError(sample, f"the {data_format} loader failed: {e}") from e
