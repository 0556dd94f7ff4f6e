"""PI-CAI cases: biparametric prostate MRI (``.mha``) with csPCa outcomes, read as distributed.

The PI-CAI Public Training and Development Dataset, laid out as ``picai_baseline``'s data
preparation expects it (``<root>/images`` and ``<root>/labels``; checked against the public
repositories DIAGNijmegen/picai_labels, picai_baseline and picai_prep):

* ``images/<patient_id>/<patient_id>_<study_id>_{t2w,adc,hbv}.mha``: the five Zenodo folds
  unzipped into one folder (a level of ``picai_public_images_fold*`` folders is accepted too);
  ``_cor`` / ``_sag`` series are ignored;
* ``labels/`` is a clone of ``picai_labels``:
  ``csPCa_lesion_delineations/human_expert/resampled/<patient_id>_<study_id>.nii.gz`` (expert
  lesion delineations resampled to the axial T2-weighted scan; 0 background, ISUP 2-5 lesions),
  ``csPCa_lesion_delineations/AI/Bosma22a/`` (AI-derived, label 1; used where no expert file),
  ``anatomical_delineations/whole_gland/AI/Bosma22b/<patient_id>_<study_id>.nii.gz`` (gland)
  and ``clinical_information/marksheet.csv`` (``patient_id``, ``study_id``, ...,
  ``case_csPCa`` YES/NO).

Each volume is brought to RAS+ (SimpleITK ``DICOMOrient("RAS")``). ADC and high-b images are
resampled onto the T2-weighted grid through physical space (linear), as PI-CAI's preprocessing
does; lesion and gland masks must already share that grid (the layout says they are resampled to
it) and are refused otherwise, naming both files. The ADC unit is not recorded in the files: a
map whose median inside the gland exceeds 10 is taken as 1e-6 mm^2/s and rescaled to
um^2/ms (1e-3 mm^2/s), the unit of :mod:`.prostate`.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mricompendium.data.errors import DataError
from mricompendium.data.registration.prostate import LESION

__all__ = [
    "PicaiCase",
    "PicaiFiles",
    "find_picai_cases",
    "load_picai_case",
    "picai_slices",
    "split_patients",
    "write_picai_study",
]

PathLike = str | os.PathLike[str]
MODALITIES = ("t2w", "adc", "hbv")
EXPERT = Path("csPCa_lesion_delineations/human_expert/resampled")
AI_LESIONS = Path("csPCa_lesion_delineations/AI/Bosma22a")
GLAND = Path("anatomical_delineations/whole_gland/AI/Bosma22b")
MARKSHEET = Path("clinical_information/marksheet.csv")
GLAND_LABEL = 1


@dataclass(frozen=True)
class PicaiFiles:
    """The files of one study (``None`` where absent)."""

    patient_id: str
    study_id: str
    scans: dict[str, Path]
    lesion: Path | None
    gland: Path | None
    cspca: bool | None  # from the marksheet

    @property
    def name(self) -> str:
        return f"{self.patient_id}_{self.study_id}"


@dataclass(frozen=True)
class PicaiCase:
    """One study on its T2-weighted grid, RAS+, arrays ``(Z, Y, X)`` (S, A, R increasing).

    Attributes:
        t2w, adc, hbv: float32 volumes (ADC in um^2/ms).
        lesion: int64 lesion labels (0 background).
        gland: bool gland mask.
        cspca: the case label (marksheet, else any lesion voxel).
        spacing_mm: ``(z, y, x)`` voxel size.
    """

    name: str
    patient_id: str
    t2w: np.ndarray
    adc: np.ndarray
    hbv: np.ndarray
    lesion: np.ndarray
    gland: np.ndarray
    cspca: bool
    spacing_mm: tuple[float, float, float]


def _marksheet(labels_root: Path) -> dict[str, bool]:
    path = labels_root / MARKSHEET
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"patient_id", "study_id", "case_csPCa"} <= set(rows[0]):
        raise DataError(path, "needs columns patient_id, study_id and case_csPCa")
    out = {}
    for r in rows:
        value = r["case_csPCa"].strip().upper()
        if value not in ("YES", "NO"):
            raise DataError(path, f"case_csPCa must be YES or NO, got {value!r}")
        out[f"{r['patient_id'].strip()}_{r['study_id'].strip()}"] = value == "YES"
    return out


def _patient_dirs(images_root: Path) -> list[Path]:
    dirs = []
    for d in sorted(p for p in images_root.iterdir() if p.is_dir()):
        dirs += sorted(p for p in d.iterdir() if p.is_dir()) if d.name.startswith("picai_") else [d]
    return dirs


def find_picai_cases(root: PathLike) -> list[PicaiFiles]:
    """Studies under ``root`` (with ``images/`` and ``labels/``) that have all three scans.

    Raises:
        FileNotFoundError: ``root/images`` is missing.
    """
    root = Path(root)
    images, labels = root / "images", root / "labels"
    if not images.is_dir():
        raise FileNotFoundError(f"no such folder: {images} (PI-CAI layout: images/, labels/)")
    sheet = _marksheet(labels)
    found = []
    for pdir in _patient_dirs(images):
        studies = {f.name.split("_")[1] for f in pdir.glob(f"{pdir.name}_*_t2w.mha")}
        for sid in sorted(studies):
            name = f"{pdir.name}_{sid}"
            scans = {m: pdir / f"{name}_{m}.mha" for m in MODALITIES}
            if not all(p.exists() for p in scans.values()):
                continue
            lesion = next((labels / d / f"{name}.nii.gz" for d in (EXPERT, AI_LESIONS)
                           if (labels / d / f"{name}.nii.gz").exists()), None)  # fmt: skip
            gland = labels / GLAND / f"{name}.nii.gz"
            found.append(
                PicaiFiles(
                    pdir.name,
                    sid,
                    scans,
                    lesion,
                    gland if gland.exists() else None,
                    sheet.get(name),
                )
            )
    return found


def _read(path: Path):
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DataError(path, f"not a readable image ({str(err).splitlines()[0][:120]})") from err
    if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(path, f"expected a 3D scalar volume, got {img.GetDimension()}D")
    return img


def _same_grid(a, b) -> bool:
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-3)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-2)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=1e-4))  # fmt: skip


def _array(img) -> np.ndarray:
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(sitk.DICOMOrient(img, "RAS"))
    if not np.all(np.isfinite(arr)):
        raise DataError("volume", "holds NaN or infinite values")
    return arr


def load_picai_case(files: PicaiFiles) -> PicaiCase:
    """Read one study (see the module docstring); a missing gland mask or lesion file is an
    error naming the study, a label map off the T2-weighted grid one naming both files."""
    import SimpleITK as sitk

    if files.gland is None:
        raise DataError(files.name, f"no whole-gland mask under labels/{GLAND}")
    t2 = _read(files.scans["t2w"])
    vols = {"t2w": _array(t2).astype(np.float32)}
    for m in ("adc", "hbv"):
        img = sitk.Resample(_read(files.scans[m]), t2, sitk.Transform(), sitk.sitkLinear, 0.0)
        vols[m] = _array(img).astype(np.float32)
    masks = {}
    for key, path in (("gland", files.gland), ("lesion", files.lesion)):
        if path is None:
            masks[key] = np.zeros(vols["t2w"].shape, dtype=np.int64)
            continue
        img = _read(path)
        if not _same_grid(img, t2):
            raise DataError(path, f"is not on the grid of {files.scans['t2w'].name}")
        masks[key] = np.rint(_array(img)).astype(np.int64)
    gland = masks["gland"] > 0
    if not gland.any():
        raise DataError(files.gland, "gland mask is empty")
    if np.median(vols["adc"][gland]) > 10:
        vols["adc"] = vols["adc"] * 1e-3
    cspca = files.cspca if files.cspca is not None else bool((masks["lesion"] > 0).any())
    spacing = sitk.DICOMOrient(t2, "RAS").GetSpacing()[::-1]
    return PicaiCase(
        files.name,
        files.patient_id,
        vols["t2w"],
        vols["adc"],
        vols["hbv"],
        masks["lesion"],
        gland,
        bool(cspca),
        tuple(float(s) for s in spacing),
    )


def _slice_index(case: PicaiCase) -> int:
    """The axial slice with the largest lesion area, else the largest gland area."""
    area = (case.lesion > 0).sum((1, 2))
    if area.max() == 0:
        area = case.gland.sum((1, 2))
    return int(np.argmax(area))


def _crop(img: np.ndarray, centre: np.ndarray, half_px: np.ndarray, size: int, order: int):
    """Resample the square ``centre +- half_px`` (rows, cols) of ``img`` onto ``size x size``."""
    from scipy import ndimage

    step = 2 * half_px / size
    rows = centre[0] - half_px[0] + (np.arange(size) + 0.5) * step[0] - 0.5
    cols = centre[1] - half_px[1] + (np.arange(size) + 0.5) * step[1] - 0.5
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return ndimage.map_coordinates(img, [rr, cc], order=order, mode="constant", cval=0.0)


def picai_slices(
    cases: list[PicaiCase], size: int, fov_mm: float
) -> dict[str, torch.Tensor | list[str]]:
    """One axial slice per case (anterior at the top row), ``fov_mm`` square around the gland's
    centre, resampled to ``size x size``, in the layout of
    :meth:`~.prostate.ProstateSimulator.pair` (``moving`` = ADC / 3, ``fixed`` = T2-weighted
    divided by its 99th percentile in the gland; labels: 1 gland, 3 lesion, T2-weighted frame
    only; no ``moving_labels``, no truth); ``subject`` and ``unit`` (the patient) lists."""
    keys = ("fixed", "adc", "high_b", "fixed_labels", "fixed_mask")
    out: dict[str, list] = {k: [] for k in keys}
    for c in cases:
        k = _slice_index(c)
        sl = {n: v[k][::-1] for n, v in (("t2w", c.t2w), ("adc", c.adc), ("hbv", c.hbv),
                                          ("lesion", c.lesion), ("gland", c.gland))}  # fmt: skip
        centre = np.argwhere(sl["gland"]).mean(0)
        half = fov_mm / 2 / np.asarray(c.spacing_mm[1:])
        t2 = _crop(sl["t2w"], centre, half, size, 1)
        gland = _crop(sl["gland"].astype(np.float32), centre, half, size, 1) > 0.5
        lesion = _crop((sl["lesion"] > 0).astype(np.float32), centre, half, size, 1) > 0.5
        if not gland.any():
            raise DataError(c.name, "the gland leaves no pixel in the cropped slice")
        out["fixed"].append(t2 / max(np.percentile(t2[gland], 99), 1e-6))
        out["adc"].append(_crop(sl["adc"], centre, half, size, 1))
        out["high_b"].append(_crop(sl["hbv"], centre, half, size, 1))
        out["fixed_labels"].append(np.where(lesion, LESION, np.where(gland, GLAND_LABEL, 0)))
        out["fixed_mask"].append(gland)
    dtypes = {"fixed_labels": np.int64, "fixed_mask": bool}
    batch: dict = {
        k: torch.from_numpy(np.stack(v).astype(dtypes.get(k, np.float32)))[:, None]
        for k, v in out.items()
    }
    batch["moving"] = batch["adc"] / 3.0
    batch["cancer"] = torch.tensor([c.cspca for c in cases])
    batch["subject"] = [c.name for c in cases]
    batch["unit"] = [c.patient_id for c in cases]
    return batch


def split_patients(units: list[str], cancer: list[bool]) -> tuple[list[int], list[int]]:
    """Indices of the studies that fit the classifier and of those that test it, split by
    patient and stratified by outcome: patients (sorted, a patient positive if any study is)
    alternate between the halves within each class, the first to the fit half.

    Raises:
        ValueError: the test half would hold fewer than two csPCa or two non-csPCa patients
            (the AUROC's jackknife needs both), naming the counts.
    """
    positive: dict[str, bool] = {}
    for u, c in zip(units, cancer, strict=True):
        positive[u] = positive.get(u, False) or bool(c)
    fit: set[str] = set()
    for label in (True, False):
        fit.update(sorted(u for u, p in positive.items() if p is label)[::2])
    n_pos = sum(positive.values())
    n_neg = len(positive) - n_pos
    if n_pos // 2 < 2 or n_neg // 2 < 2:
        raise ValueError(
            f"{n_pos} csPCa and {n_neg} non-csPCa patients: the AUROC needs at least 4 of "
            "each (half fit the classifier, the other half test it)"
        )
    fit_idx = [i for i, u in enumerate(units) if u in fit]
    return fit_idx, [i for i, u in enumerate(units) if u not in fit]


def write_picai_study(root: PathLike, case: PicaiCase) -> None:
    """Write ``case`` in the PI-CAI layout under ``root`` (``images/`` and ``labels/``): scans as
    ``.mha`` in LPS orientation (the arrays flipped back from RAS+), ADC in 1e-6 mm^2/s, labels as
    ``.nii.gz`` on the T2-weighted grid, one marksheet row (appended). For tests and round trips.
    """
    import SimpleITK as sitk

    root = Path(root)
    study = root / "images" / case.patient_id
    study.mkdir(parents=True, exist_ok=True)
    sid = case.name.split("_", 1)[1]

    def lps(arr: np.ndarray, dtype) -> sitk.Image:
        img = sitk.GetImageFromArray(np.ascontiguousarray(arr[:, ::-1, ::-1]).astype(dtype))
        img.SetSpacing(tuple(float(s) for s in case.spacing_mm[::-1]))
        return img

    for m, arr in (("t2w", case.t2w), ("adc", case.adc * 1e3), ("hbv", case.hbv)):
        sitk.WriteImage(lps(arr, np.float32), str(study / f"{case.name}_{m}.mha"))
    for sub, arr in ((EXPERT, case.lesion), (GLAND, case.gland)):
        (root / "labels" / sub).mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(lps(arr, np.uint8), str(root / "labels" / sub / f"{case.name}.nii.gz"))
    sheet = root / "labels" / MARKSHEET
    sheet.parent.mkdir(parents=True, exist_ok=True)
    if not sheet.exists():
        sheet.write_text("patient_id,study_id,case_csPCa\n")
    with sheet.open("a") as f:
        f.write(f"{case.patient_id},{sid},{'YES' if case.cspca else 'NO'}\n")
