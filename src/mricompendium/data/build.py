"""Build the embedded data set, offline and bit for bit, from pinned packages.

Usage::

    python -m mricompendium.data.build [--out DIR] [--n N]

``--out`` defaults to :func:`mricompendium.paths.data_root` (``data/embedded``). ``--n`` keeps only
the first ``N`` synthetic slices of the plan (for tests; ``--n 24`` is one whole cycle, so every
split is present). Every file is written without timestamps (``.npy`` and sorted-key JSON), so two
builds with the same packages are byte-identical. Sources, versions and licences are recorded in
``manifest.json``; see ``data/README.md``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from mricompendium import paths
from mricompendium.data.embedded import FILES, SIZE, normalise_intensity, resample_square
from mricompendium.data.embedded import simulate_slice as _simulate

log = logging.getLogger(__name__)

BUILD_VERSION = 1  # bump whenever the builder's output changes
SEED_BASE = 2_009_000  # slice i uses seed SEED_BASE + i
Z_START = 36  # first axial voxel index of the band (MNI z = -36 mm)
N_CYCLES = 5
# One 20-mm cycle of axial positions (offsets in mm from the cycle start) and its use.
CYCLE_TRAIN = tuple(range(0, 9))  # each used twice (two seeds)
CYCLE_VAL = (11, 12, 13)
CYCLE_TEST = (15, 16, 17)
CYCLE_MM = 20
TRAIN_VARIANTS = 2
FOV_MM = 208.0  # square field of view of the synthetic slices (1.625 mm pixels at 128)
REAL_MIN_AREA = 0.7  # keep a volume's slices whose head area is >= this fraction of its largest

LICENCES = {
    "nilearn": "BSD-3-Clause",
    "dipy": "BSD-3-Clause",
    "pydicom": "MIT",
    "mni_icbm152_2009a": (
        "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre, Montreal "
        "Neurological Institute, McGill University. Permission to use, copy, modify, and "
        "distribute this software and its documentation for any purpose and without fee is "
        "hereby granted, provided that the above copyright notice appear in all copies. The "
        "authors and McGill University make no representations about the suitability of this "
        'software for any purpose. It is provided "as is" without express or implied warranty.'
    ),
}


def slice_plan(n: int | None = None) -> list[dict[str, Any]]:
    """The synthetic slices in file order: index, split, axial voxel index, variant, seed."""
    plan: list[dict[str, Any]] = []
    for cycle in range(N_CYCLES):
        z0 = Z_START + cycle * CYCLE_MM
        rows = [("train", z0 + o, v) for o in CYCLE_TRAIN for v in range(TRAIN_VARIANTS)]
        rows += [("val", z0 + o, 0) for o in CYCLE_VAL] + [("test", z0 + o, 0) for o in CYCLE_TEST]
        for split, z, variant in rows:
            i = len(plan)
            plan.append({"index": i, "split": split, "z_vox": z, "variant": variant,
                         "seed": SEED_BASE + i, "name": f"mni_z{z:03d}_v{variant}"})  # fmt: skip
    return plan if n is None else plan[:n]


@functools.lru_cache(maxsize=1)
def _load_mni() -> dict[str, Any]:
    """The MNI ICBM152 2009a template volumes bundled with nilearn, float64 ``(X, Y, Z)`` RAS."""
    from nilearn import datasets

    t1_img = datasets.load_mni152_template(resolution=1)
    vols = {
        "t1": t1_img.get_fdata(dtype=np.float64),
        "gm": datasets.load_mni152_gm_template(resolution=1).get_fdata(dtype=np.float64),
        "wm": datasets.load_mni152_wm_template(resolution=1).get_fdata(dtype=np.float64),
    }
    brain = datasets.load_mni152_brain_mask(resolution=1).get_fdata() > 0
    brain = ndimage.binary_fill_holes(brain)
    for z in range(brain.shape[2]):  # also close holes open in 3D (cisterns around the brainstem)
        brain[:, :, z] = ndimage.binary_fill_holes(brain[:, :, z])
    vols["brain"] = brain.astype(np.float64)
    idx = np.argwhere(vols["brain"] > 0)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    vols["center"] = (float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0)
    vols["affine"] = t1_img.affine
    return vols


def build_synthetic(n: int | None = None) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """Simulate the planned synthetic slices; returns the arrays and per-slice provenance."""
    mni = _load_mni()
    z_offset = float(mni["affine"][2, 3])
    images, masks, tissues, prov = [], [], [], []
    for row in slice_plan(n):
        z = row["z_vox"]
        img, mask, tissue, var = _simulate(
            mni["t1"][:, :, z], mni["gm"][:, :, z], mni["wm"][:, :, z], mni["brain"][:, :, z],
            seed=row["seed"], center=mni["center"], fov_mm=FOV_MM, size=SIZE,
        )  # fmt: skip
        images.append(img.astype(np.float32))
        masks.append(mask.astype(np.uint8))
        tissues.append(tissue.astype(np.float16))
        prov.append({**row, "source": "mni_icbm152_2009a", "z_mm": z + z_offset,
                     "variation": _rounded(var.__dict__)})  # fmt: skip
    arrays = {"slices": np.stack(images), "brainmask": np.stack(masks), "tissue": np.stack(tissues)}
    return arrays, prov


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    def r(v: Any) -> Any:
        return [r(x) for x in v] if isinstance(v, list | tuple) else round(float(v), 6)

    return {k: r(v) for k, v in d.items()}


def head_mask(image: np.ndarray) -> np.ndarray:
    """A head (or brain) mask by thresholding and morphology: bool, same shape as ``image``.

    The image is smoothed (Gaussian, 1 pixel) and thresholded at the larger of half Otsu's level
    and the background noise (99th percentile of the non-zero pixels more than 6 pixels away from
    the pixels above Otsu's level, capped at Otsu's level); then
    closed, hole-filled, reduced to its largest component and opened.
    """
    from skimage.filters import threshold_otsu

    x = ndimage.gaussian_filter(image.astype(np.float64), 1.0)
    otsu = threshold_otsu(x)
    far = ~ndimage.binary_dilation(x > otsu, structure=_disk(2), iterations=3) & (x > 0)
    noise = float(np.percentile(x[far], 99)) if far.any() else 0.0
    m = x > max(0.5 * otsu, min(otsu, noise))
    m = ndimage.binary_closing(m, structure=_disk(2), iterations=1, border_value=0)
    m = ndimage.binary_fill_holes(m)
    labels, n = ndimage.label(m)
    if n > 1:
        sizes = ndimage.sum_labels(m, labels, index=np.arange(1, n + 1))
        m = labels == (int(np.argmax(sizes)) + 1)
    return ndimage.binary_opening(m, structure=_disk(1))


def _disk(r: int) -> np.ndarray:
    y, x = np.mgrid[-r : r + 1, -r : r + 1]
    return (x**2 + y**2) <= r * r


REAL_NOTES = {
    "t1_coronal_slice": "T1-weighted coronal slice, skull-stripped; pixel size not recorded "
    "(1 mm assumed)",
    "S0_10": "b0 (T2-weighted EPI) axial slices of a diffusion scan",
    "test_piesno": "diffusion-weighted EPI axial slices with real background noise; the file's "
    "affine is the identity: anterior put at the top by eye (the broader end of the brain)",
    "aniso_vox": "b0 EPI axial slices, 4 x 4 x 5 mm voxels",
    "MR_small.dcm": "64 x 64 MR image downsized from NEMA WG04 'MR1_UNC'; a small field of view, "
    "not a whole head",
}
QUARTER_TURNS = {"S0_10": 1, "test_piesno": 2, "aniso_vox": 1}  # RAS (x, y) -> anterior at top


def _real(
    key: str, name: str, image: np.ndarray, spacing: tuple[float, float], **prov: Any
) -> dict:
    return {"name": name, "image": image, "spacing": spacing, "note": REAL_NOTES[key], **prov}


def _real_sources() -> list[dict[str, Any]]:
    """Every real 2D slice candidate: name, image (rows, cols), pixel spacing, provenance."""
    import nibabel as nib
    import pydicom
    from dipy.data import get_fnames
    from pydicom.data import get_testdata_file

    path = get_fnames(name="t1_coronal_slice")
    fn = "dipy.data.get_fnames(name='t1_coronal_slice')"
    out = [
        _real("t1_coronal_slice", "dipy_t1_coronal_slice", np.load(path), (1.0, 1.0),
              group=None, package="dipy", function=fn, file=Path(path).name, slice=None)
    ]  # fmt: skip
    for key, turns in QUARTER_TURNS.items():
        path = get_fnames(name=key)
        img = nib.as_closest_canonical(nib.load(path))
        vol = np.asarray(img.dataobj, dtype=np.float64).reshape(img.shape[:3])
        sx, sy = (float(z) for z in img.header.get_zooms()[:2])
        spacing = (sy, sx) if turns % 2 else (sx, sy)
        fn = f"dipy.data.get_fnames(name='{key}')"
        for k in range(vol.shape[2]):
            image = np.rot90(vol[:, :, k], turns)
            name = f"dipy_{key}_z{k:02d}"
            prov = {"package": "dipy", "function": fn, "file": Path(path).name, "slice": k}
            out.append(_real(key, name, image, spacing, group=key, **prov))
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    image = pydicom.pixels.apply_rescale(ds.pixel_array, ds).astype(np.float64)
    spacing = tuple(float(v) for v in ds.PixelSpacing)
    fn = "pydicom.data.get_testdata_file('MR_small.dcm')"
    out.append(_real("MR_small.dcm", "pydicom_MR_small", image, spacing, group=None,
                     package="pydicom", function=fn, file="MR_small.dcm", slice=None))  # fmt: skip
    return out


def _prepare_real(src: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Crop a real slice to its head (square, 10% margin), resample to SIZE, normalise."""
    image, spacing = np.asarray(src["image"], dtype=np.float64), src["spacing"]
    mask = head_mask(image)
    rows, cols = np.nonzero(mask)
    center = ((rows.min() + rows.max()) / 2.0, (cols.min() + cols.max()) / 2.0)
    extent = max(
        (rows.max() - rows.min() + 1) * spacing[0], (cols.max() - cols.min() + 1) * spacing[1]
    )
    side = 1.1 * extent
    out = np.clip(resample_square(image, center=center, side_mm=side, spacing=spacing), 0.0, None)
    mask_out = resample_square(
        mask.astype(np.float64), center=center, side_mm=side, spacing=spacing
    )
    mask_out = mask_out >= 0.5
    return normalise_intensity(out, mask_out), mask_out


def build_real() -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The real held-out slices (see :func:`_real_sources`), each resampled to SIZE x SIZE."""
    sources = _real_sources()
    areas = [int(head_mask(np.asarray(s["image"], dtype=np.float64)).sum()) for s in sources]
    largest: dict[str, int] = {}
    for s, a in zip(sources, areas, strict=True):
        if s["group"] is not None:
            largest[s["group"]] = max(largest.get(s["group"], 0), a)
    images, masks, prov = [], [], []
    for s, a in zip(sources, areas, strict=True):
        if s["group"] is not None and a < REAL_MIN_AREA * largest[s["group"]]:
            continue
        img, mask = _prepare_real(s)
        images.append(img.astype(np.float32))
        masks.append(mask.astype(np.uint8))
        meta = {k: v for k, v in s.items() if k not in ("image", "group")}
        prov.append({**meta, "index": len(prov), "spacing": list(s["spacing"])})
    return {"real": np.stack(images), "real_brainmask": np.stack(masks)}, prov


def _versions() -> dict[str, str]:
    pkgs = ("nilearn", "dipy", "pydicom", "nibabel", "numpy", "scipy", "scikit-image")
    return {p: importlib.metadata.version(p) for p in pkgs}


def _sources(versions: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"id": "mni_icbm152_2009a", "package": "nilearn", "version": versions["nilearn"],
         "licence": LICENCES["nilearn"], "data_licence": LICENCES["mni_icbm152_2009a"],
         "function": "nilearn.datasets.load_mni152_template / load_mni152_gm_template / "
         "load_mni152_wm_template / load_mni152_brain_mask (resolution=1; mask holes filled "
         "in 3D and per axial slice)",
         "description": "MNI ICBM152 2009a nonlinear symmetric T1 template and GM/WM probability "
         "maps (file mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz), 197x233x189 at 1 mm: an "
         "average of many scans, skull-stripped and noise-free"},
        {"id": "dipy", "package": "dipy", "version": versions["dipy"], "licence": LICENCES["dipy"],
         "function": "dipy.data.get_fnames(name=...): t1_coronal_slice, S0_10, test_piesno, "
         "aniso_vox", "description": "small real single-subject scans bundled with dipy"},
        {"id": "pydicom", "package": "pydicom", "version": versions["pydicom"],
         "licence": LICENCES["pydicom"],
         "function": "pydicom.data.get_testdata_file('MR_small.dcm')",
         "description": "pydicom test file, downsized from NEMA WG04 sample MR1_UNC"},
    ]  # fmt: skip


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n")


def _builder_config(n_synthetic: int) -> dict[str, Any]:
    return {
        "module": "mricompendium.data.build", "build_version": BUILD_VERSION,
        "n_synthetic": n_synthetic, "seed_base": SEED_BASE, "fov_mm": FOV_MM, "size": SIZE,
        "z_start_vox": Z_START, "cycle_mm": CYCLE_MM, "cycle_train_offsets": list(CYCLE_TRAIN),
        "cycle_val_offsets": list(CYCLE_VAL), "cycle_test_offsets": list(CYCLE_TEST),
        "train_variants": TRAIN_VARIANTS, "real_min_area": REAL_MIN_AREA,
        "normalisation": "99.5th percentile inside the mask = 1, clipped to [0, 1.5]",
    }  # fmt: skip


def build(
    out: str | os.PathLike[str] | None = None,
    *,
    n: int | None = None,
    manifest_copy: str | os.PathLike[str] | None = None,
) -> Path:
    """Build the embedded data set into ``out`` (default :func:`paths.data_root`).

    Args:
        out: output folder, created if needed; existing files of the data set are overwritten.
        n: keep only the first ``n`` synthetic slices of :func:`slice_plan` (tests); ``None``: all.
        manifest_copy: also write the manifest here (a small file DVC or git can track).

    Returns:
        The path of the written ``manifest.json`` inside ``out``.
    """
    if n is not None and n < 1:
        raise ValueError(f"n must be a positive number of slices, got {n}")
    folder = Path(out) if out is not None else paths.data_root()
    folder.mkdir(parents=True, exist_ok=True)
    synth, slice_prov = build_synthetic(n)
    real, real_prov = build_real()
    arrays = {**synth, **real}
    splits = {
        s: [p["index"] for p in slice_prov if p["split"] == s] for s in ("train", "val", "test")
    }
    for key, arr in arrays.items():
        np.save(folder / FILES[key], np.ascontiguousarray(arr), allow_pickle=False)
    _write_json(folder / FILES["splits"], splits)
    files: dict[str, Any] = {}
    for key in ("slices", "brainmask", "tissue", "real", "real_brainmask", "splits"):
        entry: dict[str, Any] = {"sha256": _sha256(folder / FILES[key])}
        if key in arrays:
            entry |= {"shape": list(arrays[key].shape), "dtype": str(arrays[key].dtype)}
        files[FILES[key]] = entry
    versions = _versions()
    manifest = {
        "builder": _builder_config(len(slice_prov)), "versions": versions,
        "sources": _sources(versions), "files": files, "slices": slice_prov,
        "real_slices": real_prov,
    }  # fmt: skip
    path = folder / FILES["manifest"]
    _write_json(path, manifest)
    if manifest_copy is not None:
        Path(manifest_copy).parent.mkdir(parents=True, exist_ok=True)
        Path(manifest_copy).write_bytes(path.read_bytes())
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_up_to_date(out: str | os.PathLike[str] | None = None, *, n: int | None = None) -> bool:
    """Whether ``out`` holds a complete build with this builder configuration and these package
    versions, every file matching the sha256 in its manifest."""
    folder = Path(out) if out is not None else paths.data_root()
    try:
        manifest = json.loads((folder / FILES["manifest"]).read_text())
        expected = _builder_config(len(slice_plan(n)))
        if manifest["builder"] != expected or manifest["versions"] != _versions():
            return False
        return all(
            _sha256(folder / name) == entry["sha256"] for name, entry in manifest["files"].items()
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m mricompendium.data.build [--out DIR] [--n N] ...``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: data/embedded)")
    parser.add_argument("--n", type=int, default=None, help="first N synthetic slices only")
    parser.add_argument("--manifest", default=None, help="also write the manifest to this path")
    parser.add_argument(
        "--if-changed", action="store_true", help="skip when --out already holds this build"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    if args.if_changed and is_up_to_date(args.out, n=args.n):
        log.info("embedded data up to date in %s", args.out or paths.data_root())
        if args.manifest is not None:
            folder = Path(args.out) if args.out else paths.data_root()
            Path(args.manifest).write_bytes((folder / FILES["manifest"]).read_bytes())
        return
    manifest = build(args.out, n=args.n, manifest_copy=args.manifest)
    log.info("wrote %s in %.1f s", manifest.parent, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
