"""Check a run's real-data parameters before a notebook starts: formats, counts, coils, sizes.

``mricompendium.run`` calls :func:`check_sources` with the parameters it will inject (also with
``--dry``). The checks read file metadata (HDF5 shapes, ISMRMRD and NIfTI headers) for every file
and then load a little through the same public loaders the notebooks call (``load_kspace_source``
of ``mricompendium.data.recon``, or of the older ``mricompendium.data.kspace``, and
:func:`mricompendium.data.user_data.axial_slices`), so a run that passes them does not fail
later on a wrong format, a single file that cannot be split, a coil count or an image size.

What a notebook does with each data parameter is declared in :data:`SOURCES` (keep it in step with
the notebooks): which parameter gives the coil count the loader compresses to, and which one the
volumes held out for testing. Notebooks whose ``data_path`` holds another format have a route in
:data:`ROUTES` (:mod:`mricompendium.data.volume_checks` for BraTS, ISLES, image + label pairs
(``atommic``'s also through :mod:`mricompendium.data.recon.tissue_pairs`), Learn2Reg and ACDC;
:mod:`mricompendium.data.fmri.nsd_tree` for NSD;
:mod:`mricompendium.data.rtmri.checks` for rtMRI recordings and tongue contours): each reads the
headers of every file and every label map the notebook would read (no image data), and counts
the cases each split needs at the run's parameters, so that what the notebook would refuse after
its kernel started is refused here, in seconds, as one line naming the file or the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mricompendium import paths
from mricompendium.data.errors import DataError
from mricompendium.data.loaders import KspaceFileInfo, inspect_kspace_h5

__all__ = [
    "ROUTES",
    "SOURCES",
    "Source",
    "check_sources",
    "describe_kspace_source",
    "kspace_files",
]


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


def _brainclip(path: Path, params: Mapping[str, Any]) -> str:
    raise DataError(
        "data_path",
        "brainclip does not take real data: it needs CLIP embeddings of the images, captions and "
        "category names, which do not ship offline (README, fMRI decoding)",
    )


def _neural_geometry(path: Path, params: Mapping[str, Any]) -> str:
    raise DataError(
        "data_path",
        "neural_geometry does not take real data: it needs every subject's per-area betas for one "
        "shared stimulus set (e.g. NSD's shared images), which no loader reads yet",
    )


def _nsd(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.fmri.nsd_tree import check_layout

    if params.get("data_format", "nsd") != "nsd":
        raise DataError(f"data_format={params['data_format']}", "mindeye2 reads only nsd")
    pre = params.get("pretrain_sessions")
    return check_layout(
        path, target_sessions=int(params.get("target_sessions", 1)),
        pretrain_sessions=None if pre is None else int(pre), n_val=int(params.get("n_val", 0)),
        n_test=int(params.get("n_test", 1)),
    )  # fmt: skip


def _usc(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.rtmri.checks import check_recordings

    return check_recordings(path, frame_rate_hz=float(params.get("data_frame_rate", 83.28)))


def _contours(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.rtmri.checks import check_contours

    keys = ("n_train_speakers", "max_anatomy_rank", "max_pose_rank", "pose_folds")
    return check_contours(path, **{k: int(params[k]) for k in keys})


def _nifti_folder(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.user_data import describe_nifti_dir

    return describe_nifti_dir(path, size=int(params.get("image_size", 128)))


def _two_organs(path: Path, params: Mapping[str, Any]) -> str:
    """recon_unlearning: raw fastMRI k-space of the retain organ (data_path) and of the organ to
    forget (forget_path), each with its own held-out volumes."""
    split, coils = "n_test_volumes", ("num_coils",)
    src = Source("data_path", coils_from=coils, split_from=split)
    out = describe_kspace_source(path, "fastmri", params, src)
    forget = params.get("forget_path")
    if not forget:
        raise DataError("forget_path", "is empty: data_path (retain) needs the organ to forget")
    fpath = paths.resolve(str(forget))
    if not fpath.exists():
        raise DataError(fpath, "does not exist (forget_path)")
    src = Source("forget_path", coils_from=coils, split_from=split)
    return f"{out}; forget_path: {describe_kspace_source(fpath, 'fastmri', params, src)}"


def _cmrxrecon(path: Path, min_patients: int) -> str:
    from mricompendium.data.recon.cmrxrecon import describe_cmrxrecon

    return describe_cmrxrecon(path, min_patients=min_patients)


def _skmtea(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.recon.skmtea import describe_skmtea

    return describe_skmtea(path)


def _atommic(path: Path, params: Mapping[str, Any]) -> str:
    """atommic: SKM-TEA's raw data (``data_format: skmtea``), raw k-space without labels
    (``calgary_campinas``, ``fastmri``) or image + tissue-label pairs (``nifti_pairs``)."""
    fmt = params.get("data_format")
    if fmt == "skmtea":
        return _skmtea_multitask(path, params)
    if fmt in ("calgary_campinas", "fastmri"):  # raw k-space without labels: primary 1 alone
        src = next(s for s in SOURCES if s.key == "data_path")
        return describe_kspace_source(path, str(fmt), params, src)
    return _tissue_pairs(path, params)


def _skmtea_multitask(path: Path, params: Mapping[str, Any]) -> str:
    """atommic on SKM-TEA: every scan of the three splits (keys, shapes, segmentation headers),
    the scans the notebook's split takes, and their coils and planes against its parameters."""
    from mricompendium.data.loaders import open_h5
    from mricompendium.data.recon.skmtea import RECON_DIR, describe_skmtea, read_split

    out = describe_skmtea(path)
    n_test = int(params.get("n_test_volumes", 1))
    n_train = int(params.get("n_train_volumes", 0))
    taken = {"train": n_train, "val": 1, "test": n_test}
    for split, n in taken.items():
        images = read_split(path, split)
        if len(images) < max(n, 1):
            key = {"train": "n_train_volumes", "test": "n_test_volumes"}.get(split, "n_val")
            raise DataError(path / "annotations", f"the {split} split lists {len(images)} scans; "
                                                  f"{key}={n} needs {max(n, 1)}")  # fmt: skip
        for d in images[: n or None]:
            f_path = path / RECON_DIR / d["file_name"]
            with open_h5(f_path) as f:
                shape = tuple(f["kspace"].shape)
            size, coils = int(params.get("image_size", 0)), int(params.get("num_coils", 0))
            if min(shape[1:3]) < size:
                raise DataError(f_path, f"its (ky, kz) plane {shape[1]}x{shape[2]} is smaller "
                                        f"than image_size={size}")  # fmt: skip
            if shape[4] < coils:
                raise DataError(f_path, f"has {shape[4]} coils; num_coils={coils} needs at "
                                        "least that many")  # fmt: skip
    return (f"{out}; taken: {n_train or 'all'} training, the first validation and {n_test} "
            "test scans")  # fmt: skip


def _tissue_pairs(path: Path, params: Mapping[str, Any]) -> str:
    """atommic: image + tissue-label pairs (0-3) on one grid each, enough for its split by
    volume, and the first pair read through the notebook's loader."""
    from mricompendium.data import volume_checks
    from mricompendium.data.recon.tissue_pairs import TISSUE_VALUES, split_pairs, tissue_slices
    from mricompendium.data.segmentation.pairs import find_pairs

    out = volume_checks.check_pairs(path, params, allowed=set(TISSUE_VALUES))
    pairs = find_pairs(path, image_suffix=str(params.get("image_suffix", "")),
                       label_suffix=str(params.get("label_suffix", "")))  # fmt: skip
    n_test = int(params.get("n_test_volumes", 1))
    train, _, _ = split_pairs(pairs, n_test)
    first = tissue_slices(pairs[0], n_slices=int(params.get("slices_per_volume", 1)))
    return (
        f"{out}; {len(train)} training, 1 validation and {n_test} test volumes; "
        f"{len(first.names)} axial slices of {pairs[0].name} read"
    )


def _volumes(name: str, **kw: Any) -> Callable[[Path, Mapping[str, Any]], str]:
    def check(path: Path, params: Mapping[str, Any]) -> str:
        from mricompendium.data import volume_checks

        return getattr(volume_checks, f"check_{name}")(path, params, **kw)

    return check


def _count(path: Path, found: list[Any], what: str, minimum: int) -> str:
    if len(found) < minimum:
        raise DataError(path, f"holds {len(found)} {what}, needs at least {minimum}")
    return f"{len(found)} {what} in {path}"


def _picai(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.registration.picai import (
        find_picai_cases,
        load_picai_case,
        split_patients,
    )

    found = find_picai_cases(path)
    found = found[: params["max_user_cases"]] if params.get("max_user_cases") else found
    found = [f for f in found if f.gland is not None]
    out = _count(path, found, "PI-CAI studies with T2W, ADC, HBV and a whole-gland mask", 4)
    load_picai_case(found[0])
    cancer = [f.cspca if f.cspca is not None else _any_lesion(f.lesion) for f in found]
    try:
        split_patients([f.patient_id for f in found], cancer)
    except ValueError as e:
        raise DataError(path, str(e)) from None
    return f"{out}, {sum(cancer)} with csPCa"


def _any_lesion(path: Path | None) -> bool:
    """A study's outcome without a marksheet row: any lesion voxel (as the loader decides)."""
    import nibabel as nib
    import numpy as np

    return path is not None and bool(np.asarray(nib.load(path).dataobj).any())


def _dynamic(path: Path, params: Mapping[str, Any]) -> str:
    from mricompendium.data.registration.dynamic import find_dynamic_series, load_dynamic_series

    found = find_dynamic_series(path)
    out = _count(path, found, "NIfTI dynamic series", 1)
    load_dynamic_series(found[0])
    return out


# How each notebook reads its data_path (the route its data cell takes; keep them in step):
# a function of (path, parameters) that checks the data and describes them in one line.
# Notebooks not listed read raw k-space (their data_format parameter: fastmri, calgary_campinas).
ROUTES: dict[str, Callable[[Path, Mapping[str, Any]], str]] = {
    "segresnet_vae": _volumes("brats"), "swin_unetr": _volumes("brats"),
    "nnunet_extended": _volumes("brats"), "stroke_synthetic": _volumes("isles"),
    "scse": _volumes("pairs", allowed={0, 1, 2, 3}), "synthstrip": _volumes("pairs"),
    "ddmr": _volumes("learn2reg"), "nestedmorph": _volumes("learn2reg"),
    "biomech_cardiac": _volumes("acdc"), "mindeye2": _nsd, "brainclip": _brainclip,
    "mri2speech": _usc, "tongue_model": _contours, "reconresnet": _nifti_folder,
    "neural_geometry": _neural_geometry,
    "prostate_seq_reg": _picai, "breathing_model": _dynamic,
    "primal_dual_unet": _nifti_folder, "propeller": _nifti_folder,
    "recon_robustness": _nifti_folder, "recon_unlearning": _two_organs,
    "dynamic_cs": lambda p, q: _cmrxrecon(p, 2),
    "cmrxrecon": lambda p, q: _cmrxrecon(p, int(q.get("n_test_patients", 2)) + 2),
    "skm_tea": _skmtea, "atommic": _atommic,
}  # fmt: skip
FORMATS = ROUTES  # the earlier name


def check_sources(params: Mapping[str, Any], nb_id: str | None = None) -> list[str]:
    """Check every non-empty data path of ``params``; one description per source.

    ``params`` are the values the kernel will see (defaults included). A source is read by the
    notebook's route (:data:`ROUTES`: BraTS, ISLES, NIfTI pairs, Learn2Reg, ACDC, NSD, USC
    rtMRI, tongue contours; brainclip and neural_geometry refuse real data), as raw k-space when
    the notebook has a ``data_format`` parameter, and otherwise as a folder of NIfTI volumes.
    Every route reads the headers of every file it would load and every label map, and counts
    the cases the notebook's splits need at these parameters.

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
            if nb_id in ROUTES and src.key == "data_path":
                if not path.exists():
                    raise FileNotFoundError(path)
                out.append(f"{src.key}: {ROUTES[nb_id](path, params)}")
            else:
                out.append(f"{src.key}: {_describe(path, params, src)}")
        except FileNotFoundError as e:
            if not path.exists():
                raise DataError(path, f"does not exist ({src.key})") from e
            raise DataError(path, f"{e} ({src.key})") from e  # a file the layout needs
        except DataError as e:
            if src.key in e.problem or "=" in e.source or e.source.startswith(src.key):
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
