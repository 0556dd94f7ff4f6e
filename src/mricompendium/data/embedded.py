"""The embedded data set: loading it, and the simulation that makes its synthetic slices.

The files live in :func:`mricompendium.paths.data_root` (``data/embedded``) and are rebuilt bit for
bit by ``python -m mricompendium.data.build`` (``make data`` / ``dvc repro data``):

- ``slices_128.npy`` float32 ``(N, 128, 128)``: axial slices of the MNI ICBM152 2009a T1 template,
  each varied by a seeded deformation, contrast change and bias field (:func:`simulate_slice`).
- ``brainmask_128.npy`` uint8 ``(N, 128, 128)`` and ``tissue_128.npy`` float16 ``(N, 3, 128, 128)``
  (CSF, GM, WM probabilities), deformed with the image.
- ``real_128.npy`` float32 ``(M, 128, 128)`` and ``real_brainmask_128.npy`` uint8: real
  single-subject magnitude slices shipped inside dipy and pydicom, the held-out ``"real"`` split.
- ``splits.json`` (train/val/test indices into ``slices_128.npy``) and ``manifest.json``.

Images are magnitudes scaled so that the 99.5th percentile inside the head is 1 (clipped at 1.5).
Axial slices are shown with anterior at the top and the subject's right on the image right.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from mricompendium import paths

SIZE = 128
SPLITS = ("train", "val", "test", "real")
FILES = {
    "slices": "slices_128.npy",
    "brainmask": "brainmask_128.npy",
    "tissue": "tissue_128.npy",
    "real": "real_128.npy",
    "real_brainmask": "real_brainmask_128.npy",
    "splits": "splits.json",
    "manifest": "manifest.json",
}
TISSUE_CLASSES = ("csf", "gm", "wm")
NORM_PERCENTILE = 99.5
NORM_CLIP = 1.5


@dataclass(frozen=True)
class SliceSet:
    """A set of 2D magnitude slices with their masks.

    Attributes:
        images: float32 ``(N, H, W)`` magnitudes, 99.5th percentile inside the head = 1.
        masks: bool ``(N, H, W)`` brain (synthetic) or head (real) masks.
        tissue: float32 ``(N, 3, H, W)`` CSF/GM/WM probabilities, or ``None`` for real slices.
        names: one name per slice (see ``manifest.json`` for its provenance).
    """

    images: np.ndarray
    masks: np.ndarray
    tissue: np.ndarray | None
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)


def load_slices(
    split: str, *, root: str | os.PathLike[str] | None = None, size: int = SIZE
) -> SliceSet:
    """Load one split of the embedded data set.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` (synthetic slices of the MNI template) or
            ``"real"`` (real single-subject slices; no tissue maps).
        root: the data folder; default :func:`mricompendium.paths.data_root`.
        size: output side length; below 128 the slices are downsampled with anti-aliasing
            (block mean when ``size`` divides 128), masks by majority (mean >= 0.5).

    Returns:
        The :class:`SliceSet`, images ``(N, size, size)``.

    Raises:
        ValueError: unknown split or size outside ``[8, 128]``.
        FileNotFoundError: the data have not been built (run ``make data`` or ``dvc repro data``).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= SIZE:
        raise ValueError(f"size must be an int in [8, {SIZE}], got {size!r}")
    folder = Path(root) if root is not None else paths.data_root()
    manifest = json.loads(_require(folder, "manifest").read_text())
    if split == "real":
        images = np.load(_require(folder, "real"))
        masks = np.load(_require(folder, "real_brainmask"))
        tissue = None
        names = [s["name"] for s in manifest["real_slices"]]
    else:
        index = np.asarray(
            json.loads(_require(folder, "splits").read_text())[split], dtype=np.int64
        )
        images = np.load(_require(folder, "slices"))[index]
        masks = np.load(_require(folder, "brainmask"))[index]
        tissue = np.load(_require(folder, "tissue"))[index].astype(np.float32)
        names = [manifest["slices"][i]["name"] for i in index]
    if size != SIZE:
        images = resize_stack(images, size)
        masks = resize_stack(masks.astype(np.float32), size) >= 0.5
        tissue = None if tissue is None else resize_stack(tissue, size)
    return SliceSet(
        images=images.astype(np.float32), masks=masks.astype(bool), tissue=tissue, names=names
    )


def _require(folder: Path, key: str) -> Path:
    path = folder / FILES[key]
    if not path.is_file():
        what = "folder" if not folder.is_dir() else "file"
        missing = folder if not folder.is_dir() else path
        raise FileNotFoundError(
            f"embedded data {what} not found: {missing}. Build it with `make data` "
            f"(or `dvc repro data`, or `python -m mricompendium.data.build --out {folder}`)."
        )
    return path


def resize_stack(x: np.ndarray, size: int) -> np.ndarray:
    """Downsample the last two (square) dimensions of ``x`` to ``size`` with anti-aliasing.

    Uses an exact block mean when ``size`` divides the input side, otherwise
    :func:`skimage.transform.resize` with Gaussian anti-aliasing (linear interpolation).
    """
    *lead, h, w = x.shape
    if h != w:
        raise ValueError(f"expected square slices, got {h}x{w}")
    if size == h:
        return x.astype(np.float32)
    if size > h:
        raise ValueError(f"resize_stack only downsamples: {h} -> {size}")
    if h % size == 0:
        f = h // size
        blocks = x.astype(np.float64).reshape(*lead, size, f, size, f)
        return blocks.mean(axis=(-3, -1)).astype(np.float32)
    from skimage.transform import resize

    out = resize(
        x.astype(np.float64), (*lead, size, size), order=1, anti_aliasing=True, preserve_range=True
    )
    return out.astype(np.float32)


def normalise_intensity(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    percentile: float = NORM_PERCENTILE,
    clip: float = NORM_CLIP,
) -> np.ndarray:
    """Scale a magnitude image so its ``percentile`` inside ``mask`` is 1; clip to [0, clip]."""
    inside = image[mask.astype(bool)]
    if inside.size == 0:
        raise ValueError("cannot normalise: the mask is empty")
    ref = float(np.percentile(inside, percentile))
    if not ref > 0:
        raise ValueError(
            f"cannot normalise: the {percentile}th percentile inside the mask is {ref}"
        )
    return np.clip(image / ref, 0.0, clip)


def resample_square(
    image: np.ndarray,
    *,
    center: tuple[float, float],
    side_mm: float,
    spacing: tuple[float, float] = (1.0, 1.0),
    size: int = SIZE,
    order: int = 1,
) -> np.ndarray:
    """Resample a square field of view of a 2D image onto a ``size x size`` grid.

    Args:
        image: ``(H, W)`` array, rows then columns.
        center: the field of view's centre in (fractional) pixel coordinates ``(row, col)``.
        side_mm: side of the square field of view in mm; pixels outside ``image`` read 0.
        spacing: ``image``'s pixel size in mm ``(row, col)``; keeps the physical aspect ratio.
        size: output side in pixels.
        order: spline order of the interpolation (1 = linear, no overshoot).

    Returns:
        float64 ``(size, size)``; a Gaussian pre-filter anti-aliases when the output pixel is
        larger than the input one.
    """
    step = side_mm / size
    sigma = [max(0.0, (step / s - 1.0) / 2.0) for s in spacing]
    src = image.astype(np.float64)
    if any(sg > 0 for sg in sigma):
        src = ndimage.gaussian_filter(src, sigma, mode="constant")
    offsets = (np.arange(size, dtype=np.float64) - (size - 1) / 2.0) * step
    rows = center[0] + offsets[:, None] / spacing[0] + np.zeros((1, size))
    cols = center[1] + offsets[None, :] / spacing[1] + np.zeros((size, 1))
    return ndimage.map_coordinates(src, [rows, cols], order=order, mode="constant", cval=0.0)


@dataclass(frozen=True)
class Variation:
    """The seeded parameters that make one synthetic slice differ from the template.

    Attributes:
        rotation_deg: in-plane rotation. scale: isotropic zoom. shift_mm: (right, anterior) shift.
        elastic_mm: largest displacement of the smooth elastic field.
        class_gain: relative intensity change of (CSF, GM, WM) before the gamma.
        gamma: power applied to the normalised intensities.
        bias: largest log-amplitude of the multiplicative smooth bias field.
    """

    rotation_deg: float
    scale: float
    shift_mm: tuple[float, float]
    elastic_mm: float
    class_gain: tuple[float, float, float]
    gamma: float
    bias: float


def sample_variation(rng: np.random.Generator) -> Variation:
    """Draw the parameters of one slice's variation (ranges documented in data/README.md)."""
    return Variation(
        rotation_deg=float(rng.uniform(-5.0, 5.0)),
        scale=float(rng.uniform(0.96, 1.04)),
        shift_mm=(float(rng.uniform(-3.0, 3.0)), float(rng.uniform(-3.0, 3.0))),
        elastic_mm=float(rng.uniform(1.5, 4.0)),
        class_gain=tuple(float(g) for g in rng.uniform(-0.15, 0.15, size=3)),
        gamma=float(math.exp(rng.uniform(math.log(0.8), math.log(1.25)))),
        bias=float(rng.uniform(0.05, 0.25)),
    )


def _elastic_field(rng: np.random.Generator, size: int, px_mm: float, amp_mm: float) -> np.ndarray:
    """A smooth random displacement field ``(2, size, size)`` in mm, largest norm ``amp_mm``."""
    noise = rng.standard_normal((2, size, size))
    sigma_px = 10.0 / px_mm  # 10 mm correlation length
    field = np.stack([ndimage.gaussian_filter(n, sigma_px, mode="reflect") for n in noise])
    norm = np.sqrt((field**2).sum(axis=0)).max()
    return field * (amp_mm / norm)


def _bias_field(rng: np.random.Generator, size: int, amplitude: float) -> np.ndarray:
    """A smooth multiplicative field ``exp(b)``, ``b`` a random cubic, ``max|b| = amplitude``."""
    t = np.linspace(-1.0, 1.0, size)
    v, u = np.meshgrid(t, t, indexing="ij")
    b = np.zeros((size, size))
    for i in range(4):
        for j in range(4 - i):
            b += rng.standard_normal() * u**i * v**j
    b *= amplitude / np.abs(b).max()
    return np.exp(b)


def simulate_slice(
    t1: np.ndarray,
    gm: np.ndarray,
    wm: np.ndarray,
    brain: np.ndarray,
    *,
    seed: int,
    center: tuple[float, float],
    fov_mm: float,
    size: int = SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Variation]:
    """One synthetic slice: the template deformed, re-contrasted and bias-modulated by a seed.

    The template arrays are axial slices ``(X, Y)`` at 1 mm (RAS: X to the subject's right,
    Y anterior). A single coordinate map (affine + smooth elastic field) resamples all of them,
    so image, mask and tissue maps stay consistent.

    Args:
        t1, gm, wm, brain: template T1 intensities, GM and WM probabilities, brain mask (0/1).
        seed: the seed of this slice (``numpy.random.default_rng(seed)``).
        center: the field of view's centre in template voxels ``(x, y)``.
        fov_mm: side of the square field of view.
        size: output side in pixels.

    Returns:
        ``(image float64 (size, size) normalised, mask bool (size, size),
        tissue float64 (3, size, size) CSF/GM/WM, variation)``.
    """
    rng = np.random.default_rng(seed)
    var = sample_variation(rng)
    px = fov_mm / size
    coords = _source_coords(rng, var, center=center, size=size, px_mm=px)
    sigma = max(0.0, (px * var.scale - 1.0) / 2.0)

    def warp(a: np.ndarray) -> np.ndarray:
        src = ndimage.gaussian_filter(a.astype(np.float64), sigma, mode="constant")
        return ndimage.map_coordinates(src, coords, order=1, mode="constant", cval=0.0)

    brain_w = np.clip(warp(brain), 0.0, 1.0)
    gm_w = np.clip(warp(gm), 0.0, 1.0) * brain_w
    wm_w = np.clip(warp(wm), 0.0, 1.0) * brain_w
    csf_w = np.clip(brain_w - gm_w - wm_w, 0.0, 1.0)
    tissue = np.stack([csf_w, gm_w, wm_w])
    mask = brain_w >= 0.5

    image = np.clip(warp(t1), 0.0, None)
    image = image * (1.0 + np.tensordot(np.asarray(var.class_gain), tissue, axes=1))
    image = normalise_intensity(image, mask, clip=np.inf) ** var.gamma
    image = image * _bias_field(rng, size, var.bias)
    return normalise_intensity(image, mask), mask, tissue, var


def _source_coords(
    rng: np.random.Generator,
    var: Variation,
    *,
    center: tuple[float, float],
    size: int,
    px_mm: float,
) -> np.ndarray:
    """Template voxel coordinates ``(2, size, size)`` sampled by each output pixel."""
    t = (np.arange(size, dtype=np.float64) - (size - 1) / 2.0) * px_mm
    up, right = np.meshgrid(-t, t, indexing="ij")  # row 0 is anterior, column 0 the left
    theta = math.radians(var.rotation_deg)
    c, s = math.cos(theta), math.sin(theta)
    x = var.scale * (c * right - s * up) + var.shift_mm[0]
    y = var.scale * (s * right + c * up) + var.shift_mm[1]
    disp = _elastic_field(rng, size, px_mm, var.elastic_mm)
    return np.stack([center[0] + x + disp[0], center[1] + y + disp[1]])
