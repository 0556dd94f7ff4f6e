"""Small data sets written in each public release's own tree, for the real-data tests.

Every writer lays files out as the release ships them (names, folders, datasets, label values),
at a small size, and can store chosen cases in another voxel order (``orient``: case index ->
axis codes such as ``"PIR"``) with a consistent affine: the same anatomy, as a scanner or a
converter may write it. Anatomy comes from the MNI template nilearn ships (block-averaged), so
slices look like heads and Dice scores mean something.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import soundfile as sf
from scipy.io import savemat
from userdata_files import reorient, template_volume

BRATS_FOLDERS = {
    "2018": "MICCAI_BraTS_2018_Data_Training",
    "2021": "BraTS2021_Training_Data",
    "2023": "ASNR-MICCAI-BraTS2023-GLI-Challenge-TrainingData",
}


def _save(path: Path, data: np.ndarray, affine: np.ndarray, codes: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if codes is not None:
        data, affine = reorient(data, affine, codes)
    nib.save(nib.Nifti1Image(data, affine), path)
    return path


def head(block: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small RAS+ head (the MNI template block-averaged), lightly varied by ``seed``."""
    data, affine = template_volume(block)
    rng = np.random.default_rng(seed)
    return (data * (1.0 + 0.1 * rng.random()) + rng.random(data.shape)).astype(np.float32), affine


def tumour_labels(shape: tuple[int, ...], et: int, seed: int = 0) -> np.ndarray:
    """Nested tumour labels (2 oedema around 1 necrosis around ``et`` enhancing), off-centre."""
    rng = np.random.default_rng(seed)
    c = np.array(shape) * np.array([0.35, 0.55, 0.6]) + rng.integers(-1, 2, 3)
    zz = np.indices(shape).astype(np.float32)
    r = np.sqrt(sum(((zz[i] - c[i]) / s) ** 2 for i, s in enumerate((1.0, 1.3, 0.8))))
    lab = np.zeros(shape, np.uint8)
    lab[r < 5] = 2
    lab[r < 3] = et
    lab[r < 1.5] = 1
    return lab


def write_brats(
    root: Path,
    *,
    release: str = "2021",
    n: int = 3,
    orient: Mapping[int, str] | None = None,
    et: bool | Mapping[int, bool] = True,
    links_after: int | None = None,
) -> Path:
    """BraTS cases under ``root/<release folder>/`` (2018: ``HGG/`` and ``LGG/``); returns it.

    Args:
        release: ``"2018"`` (``Brats18_...``), ``"2021"`` (``BraTS2021_00000``), ``"2023"``
            (``BraTS-GLI-00000-000``, ``-t1n`` ... naming, ET = 3).
        n: cases.
        orient: case index -> stored axis codes (default RAS).
        et: whether a case has enhancing tumour (all, or per case).
        links_after: cases from this index on are symbolic links to the first ones' files
            (many cases cheaply, for counting tests).
    """
    base = root / BRATS_FOLDERS[release]
    scheme = ("-t1n", "-t1c", "-t2w", "-t2f", "-seg") if release == "2023" else (
        "_t1", "_t1ce", "_t2", "_flair", "_seg")  # fmt: skip
    et_value = 3 if release == "2023" else 4
    for i in range(n):
        if release == "2023":
            case, folder = f"BraTS-GLI-{i:05d}-000", base
        elif release == "2021":
            case, folder = f"BraTS2021_{i:05d}", base
        else:
            case, folder = f"Brats18_TCIA0{i}_1", base / ("HGG" if i % 2 == 0 else "LGG")
        d = folder / case
        d.mkdir(parents=True, exist_ok=True)
        if links_after is not None and i >= links_after:
            src_case = sorted(p for p in folder.iterdir() if p.is_dir())[i % links_after]
            for suffix in scheme:
                (d / f"{case}{suffix}.nii.gz").symlink_to(
                    src_case / f"{src_case.name}{suffix}.nii.gz"
                )
            continue
        codes = (orient or {}).get(i)
        img, affine = head(seed=i)
        has_et = et if isinstance(et, bool) else et.get(i, True)
        lab = tumour_labels(img.shape, et_value if has_et else 1, seed=i)
        for j, suffix in enumerate(scheme[:4]):
            contrast = img * (1.0 + 0.3 * j) + 40.0 * (lab > 0) * (j + 1)
            _save(d / f"{case}{suffix}.nii.gz", contrast.astype(np.float32), affine, codes)
        _save(d / f"{case}{scheme[4]}.nii.gz", lab, affine, codes)
    return base


def write_isles(
    root: Path, *, n: int = 3, orient: Mapping[int, str] | None = None, float_mask: bool = False
) -> Path:
    """ISLES 2022 as the archive ships it: ``ISLES-2022/sub-strokecaseNNNN/ses-0001/dwi/``,
    ``anat/`` (FLAIR on a finer grid) and ``derivatives/``; returns ``ISLES-2022``."""
    base = root / "ISLES-2022"
    for i in range(1, n + 1):
        sub, ses = f"sub-strokecase{i:04d}", "ses-0001"
        name = f"{sub}_{ses}"
        img, affine = head(seed=i)
        lab = tumour_labels(img.shape, 1, seed=i).astype(np.float32 if float_mask else np.uint8)
        lab = (lab > 0).astype(lab.dtype)
        codes = (orient or {}).get(i - 1)
        raw = base / sub / ses
        lesion = lab.astype(np.float32)
        _save(raw / "dwi" / f"{name}_dwi.nii.gz", img + 50 * lesion, affine, codes)
        _save(raw / "dwi" / f"{name}_adc.nii.gz", 800 - 300 * lesion + img, affine, codes)
        fine = affine.copy()
        fine[:3, :3] /= 2  # FLAIR on its own, finer grid over the same field of view
        flair = np.repeat(np.repeat(np.repeat(img, 2, 0), 2, 1), 2, 2)
        _save(raw / "anat" / f"{name}_FLAIR.nii.gz", flair, fine, codes)
        _save(base / "derivatives" / sub / ses / f"{name}_msk.nii.gz", lab, affine, codes)
    (base / "dataset_description.json").write_text('{"Name": "ISLES 2022"}')
    return base


def write_learn2reg(root: Path, *, n: int = 4, orient: Mapping[int, str] | None = None) -> Path:
    """Learn2Reg OASIS: ``OASIS/imagesTr``, ``labelsTr``, ``masksTr``, ``OASIS_dataset.json``
    (``registration_val``: each subject to the next), stored LIA as the release does."""
    base = root / "OASIS"
    pairs = []
    for i in range(1, n + 1):
        name = f"OASIS_{i:04d}_0000.nii.gz"
        img, affine = head(seed=i)
        lab = np.zeros(img.shape, np.uint8)
        lab[img > np.percentile(img, 60)] = 1
        lab[img > np.percentile(img, 80)] = 2
        lab[img > np.percentile(img, 92)] = 3
        codes = (orient or {}).get(i - 1, "LIA")
        _save(base / "imagesTr" / name, img, affine, codes)
        _save(base / "labelsTr" / name, lab, affine, codes)
        _save(base / "masksTr" / name, (lab > 0).astype(np.uint8), affine, codes)
        if i > 1:
            pairs.append({"fixed": f"./imagesTr/OASIS_{i - 1:04d}_0000.nii.gz",
                          "moving": f"./imagesTr/{name}"})  # fmt: skip
    meta = {"name": "OASIS", "tensorImageShape": {"0": list(img.shape)},
            "registration_val": pairs, "numRegistration_val": len(pairs)}  # fmt: skip
    (base / "OASIS_dataset.json").write_text(json.dumps(meta))
    return base


def _heart(size: int, radius: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size]
    d = np.hypot(yy - size / 2 - 1, xx - size / 2 + 1)
    lab = np.where(d < radius, 3, np.where(d < radius + 3, 2, 0)).astype(np.uint8)
    lab[(yy < 4) & (xx > size - 6)] = 1  # a little right ventricle
    img = (
        100.0 * (lab == 3) + 40.0 * (lab == 2) + 10 * np.random.default_rng(seed).random(lab.shape)
    )
    return img.astype(np.float32), lab


def write_acdc(root: Path, *, n: int = 2, orient: Mapping[int, str] | None = None) -> Path:
    """ACDC as distributed: ``database/training/patientNNN/`` (Info.cfg, ED/ES frames and
    ground truth, the 4D cine) and ``database/testing/``; returns ``database/training``."""
    training = root / "database" / "training"
    affine = np.array([[0, -1.5, 0, 40], [-1.5, 0, 0, 30], [0, 0, 10, -20], [0, 0, 0, 1.0]])
    for i in range(1, n + 1):
        pid = f"patient{i:03d}"
        d = training / pid
        d.mkdir(parents=True, exist_ok=True)
        (d / "Info.cfg").write_text("ED: 1\nES: 12\nGroup: NOR\nHeight: 180.0\nNbFrame: 30\n"
                                    "Weight: 80.0\n")  # fmt: skip
        (d / "MANDATORY_CITATION.md").write_text("Bernard et al., IEEE TMI 2018\n")
        codes = (orient or {}).get(i - 1)
        frames = {}
        for frame, radius in ((1, 7.0), (12, 4.5)):
            imgs, labs = zip(
                *(_heart(24, radius - 0.4 * k, 10 * i + k) for k in range(4)), strict=True
            )
            img, lab = np.stack(imgs, -1), np.stack(labs, -1)
            frames[frame] = img
            _save(d / f"{pid}_frame{frame:02d}.nii.gz", img, affine, codes)
            _save(d / f"{pid}_frame{frame:02d}_gt.nii.gz", lab, affine, codes)
        cine = np.stack([frames[1], frames[12]], -1)
        nib.save(nib.Nifti1Image(cine, affine), d / f"{pid}_4d.nii.gz")
    (root / "database" / "testing").mkdir(parents=True, exist_ok=True)
    return training


def write_pairs(
    folder: Path, *, n: int = 3, suffixes=("_T1w.nii.gz", "_dseg.nii.gz"),
    orient: Mapping[int, str] | None = None,
) -> Path:  # fmt: skip
    """Image + tissue-label pairs (1 CSF, 2 GM, 3 WM by intensity) as FSL FAST writes them."""
    for i in range(n):
        img, affine = head(seed=i)
        lab = np.zeros(img.shape, np.int16)
        lab[img > np.percentile(img, 55)] = 1
        lab[img > np.percentile(img, 70)] = 2
        lab[img > np.percentile(img, 85)] = 3
        codes = (orient or {}).get(i)
        _save(folder / f"sub-{i:02d}{suffixes[0]}", img, affine, codes)
        _save(folder / f"sub-{i:02d}{suffixes[1]}", lab, affine, codes)
    return folder


def write_nsd(
    root: Path, *, subjects: int = 2, sessions: int = 2, hdf5: frozenset[int] = frozenset({2}),
    orient: Mapping[int, str] | None = None, image_size: int = 16,
) -> Path:  # fmt: skip
    """NSD's download tree (see mricompendium.data.fmri.nsd_tree): betas of ``sessions``
    sessions of 750 trials per subject (HDF5 for the subjects in ``hdf5``, NIfTI otherwise), the
    nsdgeneral ROI, nsd_expdesign.mat (masterordering 30000, subjectim 8 x 10000, sharedix) and
    nsd_stimuli.hdf5 (imgBrick 73000 images, only those shown written); returns ``root``."""
    rng = np.random.default_rng(0)
    shape = (6, 5, 4)
    affine = np.diag([1.8, 1.8, 1.8, 1.0])
    shared = rng.choice(73000, 1000, replace=False) + 1
    rest = rng.permutation(np.setdiff1d(np.arange(1, 73001), shared))
    subjectim = np.zeros((8, 10000), np.int64)
    for s in range(8):
        subjectim[s] = np.concatenate([shared, rest[9000 * s : 9000 * (s + 1)]])
    order = rng.integers(1, 10001, 30000)
    order[:3000:3] = rng.integers(1, 1001, 1000)  # shared images early, as NSD shows them
    design = root / "nsddata" / "experiments" / "nsd"
    design.mkdir(parents=True, exist_ok=True)
    savemat(design / "nsd_expdesign.mat", {"masterordering": order[None], "subjectim": subjectim,
                                            "sharedix": shared[None]})  # fmt: skip
    (design / "nsd_stim_info_merged.csv").write_text("nsdId,cocoId,shared1000\n0,1,False\n")
    for s in range(1, subjects + 1):
        sub = f"subj{s:02d}"
        roi = np.where(rng.random(shape) < 0.6, 1, -1).astype(np.int16)
        codes = (orient or {}).get(s - 1)
        _save(root / "nsddata" / "ppdata" / sub / "func1pt8mm" / "roi" / "nsdgeneral.nii.gz",
              roi, affine, codes)  # fmt: skip
        betas_dir = (
            root / "nsddata_betas" / "ppdata" / sub / "func1pt8mm" / "betas_fithrf_GLMdenoise_RR"
        )
        betas_dir.mkdir(parents=True, exist_ok=True)
        for k in range(1, sessions + 1):
            data = rng.integers(-900, 900, (*shape, 750)).astype(np.int16)
            if s in hdf5:
                with h5py.File(betas_dir / f"betas_session{k:02d}.hdf5", "w") as f:
                    f["betas"] = np.transpose(data, (3, 2, 1, 0))
            else:
                _save(betas_dir / f"betas_session{k:02d}.nii.gz", data, affine, codes)
    stim = root / "nsddata_stimuli" / "stimuli" / "nsd"
    stim.mkdir(parents=True, exist_ok=True)
    shown = np.unique(subjectim[:subjects][:, order[: 750 * sessions] - 1]) - 1
    with h5py.File(stim / "nsd_stimuli.hdf5", "w") as f:
        brick = f.create_dataset("imgBrick", (73000, image_size, image_size, 3), np.uint8,
                                 chunks=(1, image_size, image_size, 3))  # fmt: skip
        for i in shown:
            brick[int(i)] = rng.integers(0, 255, (image_size, image_size, 3), dtype=np.uint8)
    return root


USC_RATE = 16000
USC_FPS = 83.28


TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = {end}
tiers? <exists>
size = 1
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = {end}
        intervals: size = {n}
{intervals}"""


def _textgrid(phones: list[str], seconds: float) -> str:
    edges = np.linspace(0, seconds, len(phones) + 1)
    ivs = "".join(
        f"        intervals [{k + 1}]:\n            xmin = {edges[k]:.4f}\n"
        f'            xmax = {edges[k + 1]:.4f}\n            text = "{p}"\n'
        for k, p in enumerate(phones)
    )
    return TEXTGRID.format(end=f"{seconds:.4f}", n=len(phones), intervals=ivs)


def write_usc75(
    root: Path, *, speakers: int = 3, utterances: int = 3, frames: int = 42, size: int = 20,
    no_audio: int = 0, align: bool = True,
) -> Path:  # fmt: skip
    """The USC 75-speaker tree: ``subNNN/2drt/recon/<stem>_recon.h5`` (dataset ``recon`` as
    MATLAB writes it: each frame transposed), ``2drt/audio/<stem>_audio.wav``, a ``video/``
    placeholder; ``no_audio`` reconstructions of the first speaker lack their audio. The set
    ships no alignment; with ``align`` each WAV gets the ``<stem>_audio.TextGrid`` a forced
    aligner would write, in the notebook's phone inventory."""
    rng = np.random.default_rng(0)
    tasks = ["vcv1", "vcv2", "shibboleth", "rainbow", "picture"]
    for s in range(1, speakers + 1):
        rt = root / f"sub{s:03d}" / "2drt"
        for d in ("recon", "audio", "video"):
            (rt / d).mkdir(parents=True, exist_ok=True)
        for k in range(utterances + (no_audio if s == 1 else 0)):
            stem = f"sub{s:03d}_2drt_{k + 1:02d}_{tasks[k % len(tasks)]}_r1"
            video = rng.random((frames, size, size)).astype(np.float32)
            video[:, : size // 2, :] += 1.0  # the upper half brighter: orientation is testable
            with h5py.File(rt / "recon" / f"{stem}_recon.h5", "w") as f:
                f["recon"] = np.ascontiguousarray(video.transpose(0, 2, 1))
            (rt / "video" / f"{stem}_video.mp4").write_bytes(b"")
            if k >= utterances:
                continue
            t = np.arange(int(frames / USC_FPS * USC_RATE)) / USC_RATE
            sf.write(rt / "audio" / f"{stem}_audio.wav", 0.1 * np.sin(2 * np.pi * 150 * s * t),
                     USC_RATE)  # fmt: skip
            if align:
                phones = ["", "b", "a", "d", "i", "g", "u", ""]
                text = _textgrid(phones, frames / USC_FPS)
                (rt / "audio" / f"{stem}_audio.TextGrid").write_text(text)
    return root


def write_contours(path: Path, *, speakers: int = 8, poses: int = 10, points: int = 12) -> Path:
    """Traced tongue and palate contours (cm): ``tongue (S, P, N, 2)``, ``palate (S, M, 2)``."""
    rng = np.random.default_rng(0)
    u = np.linspace(0, np.pi, points)
    base = np.stack([np.cos(u) * 3, np.sin(u) * 2], -1)
    anat = rng.normal(size=(speakers, 2))
    pose = rng.normal(size=(poses, 3))
    tongue = (
        base[None, None] * (1 + 0.1 * anat[:, None, None, :1])
        + 0.2 * pose[None, :, None, :2]
        + 0.01 * rng.normal(size=(speakers, poses, points, 2))
    )
    palate = np.stack([np.cos(u) * 3.5, np.sin(u) * 2.8 + 0.5], -1)[None].repeat(speakers, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, tongue=tongue.astype(np.float32), palate=palate.astype(np.float32))
    return path


def write_picai(root: Path, *, n: int = 8) -> Path:
    """PI-CAI's tree (``images/<pid>/<pid>_<sid>_{t2w,adc,hbv}.mha``, ``labels/`` as
    ``picai_labels``) with ``n`` small studies, every other one with a lesion (csPCa); 8 are
    the fewest the real-data route takes (4 patients of each outcome)."""
    from mricompendium.data.registration.picai import PicaiCase, write_picai_study

    z, y, x = np.meshgrid(np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    gland = ((y - 16) ** 2 + (x - 16) ** 2 < 64).astype(np.int64)
    for i in range(n):
        lesion = gland * (((y - 14) ** 2 + (x - 18) ** 2 < 9) & (i % 2 == 0))
        t2w = (100 + x + 2 * y + 50 * gland).astype(np.float32)
        adc = (1.5 - 0.5 * lesion + 0.01 * x).astype(np.float32)
        case = PicaiCase(name=f"{10000 + i}_{1000000 + i}", patient_id=str(10000 + i), t2w=t2w,
                         adc=adc, hbv=t2w / 10, lesion=lesion, gland=gland, cspca=i % 2 == 0,
                         spacing_mm=(3.0, 0.5, 0.5))  # fmt: skip
        write_picai_study(root, case)
    return root


def write_dynamic(root: Path, *, n: int = 2, frames: int = 9) -> Path:
    """``n`` NIfTI dynamic series ``(X, Y, T)``: a block moving with a sinusoidal breathing."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        x = np.full((40, 32, frames), 0.05, np.float32)
        for k in range(frames):
            s = int(round(4 * np.sin(2 * np.pi * k / frames)))
            x[12 + s : 24 + s, 8:24, k] = 1.0
        _save(root / f"sub{i + 1:02d}.nii.gz", x, np.diag([2.0, 2.0, 5.0, 1.0]))
    return root


def write_cmrxrecon(folder: Path, *, patients: int = 2) -> Path:
    """CMRxRecon 2023 cine training set: ``FullSample/P00n/cine_sax.mat`` (MATLAB v7.3,
    ``kspace_full`` with kx oversampled 2x, 10 coils, 1 slice, 3 frames); returns ``folder``."""
    from mricompendium.data.recon.cmrxrecon import write_cine_mat

    rng = np.random.default_rng(0)
    for i in range(1, patients + 1):
        d = folder / "FullSample" / f"P{i:03d}"
        d.mkdir(parents=True)
        k = rng.standard_normal((2, 160, 72, 10, 1, 3)).astype(np.float32)
        write_cine_mat(d / "cine_sax.mat", {"kspace_full": (k[0] + 1j * k[1]).astype(np.complex64)})
    return folder


def write_skmtea(
    folder: Path, *, scans: tuple[int, int, int] = (2, 1, 2),
    shape: tuple[int, int, int] = (4, 64, 64), coils: int = 4,
) -> Path:  # fmt: skip
    """SKM-TEA v1.0.0 raw-data track: ``files_recon_calib-24/MTR_00n.h5`` (``kspace``
    ``(x, ky, kz, 2, coils)``, ``maps``, ``target``), ``segmentation_masks/raw-data-track/
    MTR_00n.nii.gz`` with femoral cartilage, ``annotations/v1.0.0/{train,val,test}.json``."""
    from mricompendium.data.recon.skmtea import write_skmtea_scan, write_skmtea_split

    rng = np.random.default_rng(0)
    (x, y, z), c, n = shape, coils, 0
    for split, count in zip(("train", "val", "test"), scans, strict=True):
        entries = []
        for _ in range(count):
            n += 1
            sid = f"MTR_{n:03d}"
            k = rng.standard_normal((2, x, y, z, 2, c)).astype(np.float32)
            seg = np.zeros((x, y, z), np.uint8)
            seg[:, 20:44, 24:40] = 2
            write_skmtea_scan(folder, sid, kspace=k[0] + 1j * k[1], maps=np.ones((x, y, z, c, 1)),
                              target=np.ones((x, y, z, 2, 1)), seg=seg)  # fmt: skip
            entries.append({"file_name": f"{sid}.h5", "scan_id": sid, "subject_id": n,
                            "matrix_shape": [x, y, z]})  # fmt: skip
        write_skmtea_split(folder, split, entries)
    return folder
