"""Brain anatomies for registration: MNI template slices or volumes with tissue and parcel labels.

Every anatomy comes from the MNI ICBM152 2009a template shipped with nilearn
(:func:`mricompendium.data.template.mni152`): smooth, noise-free, skull-stripped, one average
brain. Labels are what registration evaluation needs and no more:

* ``1`` CSF, ``2`` WM (argmax of the template's tissue probabilities inside the brain mask);
* ``3 .. 2 + n_parcels``: a **Voronoi parcellation of grey matter** around seed points placed
  by seeded farthest-point sampling (no atlas ships offline), so that Dice is not carried by
  three large classes; ``0`` is background.

2D anatomies are coronal slices (x: subject left -> right along the image columns, z: superior
at the top row), cropped to the brain's bounding box, squared and resampled to ``size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mricompendium.data.template import mni152

__all__ = [
    "Anatomies",
    "brain_slices",
    "brain_volume",
    "label_names",
    "voronoi_parcels",
]

CSF, WM, FIRST_PARCEL = 1, 2, 3


@dataclass(frozen=True)
class Anatomies:
    """A stack of base anatomies on one grid.

    Attributes:
        images: float32 ``(N, 1, *S)`` T1-weighted intensities in [0, 1].
        tissue: float32 ``(N, 3, *S)`` CSF, GM, WM probabilities.
        labels: int64 ``(N, 1, *S)``: 0 background, 1 CSF, 2 WM, 3.. GM parcels.
        masks: bool ``(N, 1, *S)`` brain masks.
        spacing_mm: voxel size in mm (isotropic).
        names: one name per anatomy (e.g. ``"mni_coronal_y-012mm"``).
        n_labels: number of foreground labels (``2 + n_parcels``).
    """

    images: torch.Tensor
    tissue: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    spacing_mm: float
    names: list[str]
    n_labels: int

    def __len__(self) -> int:
        return len(self.names)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape[2:])

    def subset(self, index: np.ndarray | list[int]) -> Anatomies:
        """The anatomies at ``index``."""
        idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return Anatomies(
            self.images[idx],
            self.tissue[idx],
            self.labels[idx],
            self.masks[idx],
            self.spacing_mm,
            [self.names[int(i)] for i in idx],
            self.n_labels,
        )


def label_names(n_parcels: int) -> dict[int, str]:
    """``{1: "CSF", 2: "WM", 3: "GM parcel 1", ...}``."""
    names = {CSF: "CSF", WM: "WM"}
    names.update({FIRST_PARCEL + k: f"GM parcel {k + 1}" for k in range(n_parcels)})
    return names


def voronoi_parcels(gm: np.ndarray, n_parcels: int, seed: int) -> np.ndarray:
    """Split a grey-matter mask into ``n_parcels`` Voronoi cells around farthest-point seeds.

    Args:
        gm: bool mask (2D or 3D).
        n_parcels: number of parcels (>= 1; fewer if the mask has fewer voxels).
        seed: the first seed voxel is drawn with it; the rest follow deterministically.

    Returns:
        int64 array, ``0`` outside ``gm``, ``1..n`` inside (nearest seed, Euclidean).
    """
    if n_parcels < 1:
        raise ValueError(f"n_parcels must be >= 1, got {n_parcels}")
    pts = np.argwhere(gm).astype(np.float64)
    out = np.zeros(gm.shape, dtype=np.int64)
    if len(pts) == 0:
        return out
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(pts)))]
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    for _ in range(min(n_parcels, len(pts)) - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[chosen[-1]], axis=1))
    seeds = pts[chosen]
    d2 = ((pts[:, None, :] - seeds[None, :, :]) ** 2).sum(-1)
    out[tuple(pts.T.astype(np.int64))] = d2.argmin(1) + 1
    return out


def _labels(tissue: np.ndarray, mask: np.ndarray, n_parcels: int, seed: int) -> np.ndarray:
    """Label map from ``(3, *S)`` CSF/GM/WM probabilities and a mask."""
    cls = tissue.argmax(0)  # 0 CSF, 1 GM, 2 WM
    lab = np.zeros(mask.shape, dtype=np.int64)
    lab[mask & (cls == 0)] = CSF
    lab[mask & (cls == 2)] = WM
    parcels = voronoi_parcels(mask & (cls == 1), n_parcels, seed)
    lab[parcels > 0] = parcels[parcels > 0] + FIRST_PARCEL - 1
    return lab


def _square_box(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    """A bounding box of ``mask`` with a margin, made square (cube); it may leave the array."""
    idx = np.argwhere(mask)
    lo, hi = idx.min(0) - margin, idx.max(0) + 1 + margin
    side = int((hi - lo).max())
    centre = (lo + hi) / 2
    out = []
    for c in centre:
        start = int(round(c - side / 2))
        out.append(slice(start, start + side))
    return tuple(out)


def _crop(x: np.ndarray, box: tuple[slice, ...]) -> np.ndarray:
    """Crop with zero padding where ``box`` leaves the array (leading axes are kept)."""
    lead = x.ndim - len(box)
    pad = [(0, 0)] * lead + [
        (max(0, -b.start), max(0, b.stop - n)) for b, n in zip(box, x.shape[lead:], strict=True)
    ]
    xp = np.pad(x, pad)
    shifted = tuple(
        slice(b.start + p[0], b.stop + p[0]) for b, p in zip(box, pad[lead:], strict=True)
    )
    return xp[(Ellipsis, *shifted)]


def _resample(x: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    lead = x.ndim - len(shape)
    factors = [1.0] * lead + [t / s for t, s in zip(shape, x.shape[lead:], strict=True)]
    return ndimage.zoom(x, factors, order=order, mode="nearest", grid_mode=True)


def _finish(images, tissue, masks, n_parcels, seed, spacing, names) -> Anatomies:
    labels = np.stack(
        [
            _labels(t, m, n_parcels, seed + i)
            for i, (t, m) in enumerate(zip(tissue, masks, strict=True))
        ]
    )
    return Anatomies(
        images=torch.from_numpy(np.clip(images, 0, 1).astype(np.float32)[:, None]),
        tissue=torch.from_numpy(np.clip(tissue, 0, 1).astype(np.float32)),
        labels=torch.from_numpy(labels[:, None]),
        masks=torch.from_numpy(masks[:, None]),
        spacing_mm=float(spacing),
        names=names,
        n_labels=2 + n_parcels,
    )


def brain_slices(
    size: int = 48,
    *,
    y_mm: list[float] | np.ndarray | None = None,
    n_parcels: int = 16,
    seed: int = 0,
    template_mm: float = 2.0,
) -> Anatomies:
    """Coronal slices of the MNI template as 2D anatomies ``(N, 1, size, size)``.

    Args:
        size: output side in pixels.
        y_mm: MNI y coordinates (posterior -> anterior, mm) of the slices; default every
            template voxel from -60 mm to +30 mm.
        n_parcels: grey-matter Voronoi parcels per slice.
        seed: parcellation seed (slice ``i`` uses ``seed + i``).
        template_mm: spacing the template is read at before cropping and resampling.

    Returns:
        :class:`Anatomies`; the field of view is the square around the brain of all slices.
    """
    tpl = mni152(template_mm)
    inv = np.linalg.inv(tpl.affine)
    ys = np.arange(-60.0, 30.0 + 1e-6, template_mm) if y_mm is None else np.asarray(y_mm, float)
    js = np.array([int(round((inv @ np.array([0.0, y, 0.0, 1.0]))[1])) for y in ys])
    if (js < 0).any() or (js >= tpl.shape[1]).any():
        raise ValueError(f"y_mm outside the template: {ys[(js < 0) | (js >= tpl.shape[1])]}")

    def cor(vol: np.ndarray) -> np.ndarray:  # (X, Y, Z) -> (N, Z reversed, X): superior on top
        return np.flip(np.moveaxis(vol[:, js, :], 1, 0), axis=2).transpose(0, 2, 1)

    mask = cor(tpl.mask)
    box = _square_box(mask.any(0), margin=2)
    side = box[0].stop - box[0].start
    t1 = _resample(_crop(cor(tpl.t1), box), (size, size), 1)
    tissue = _resample(
        _crop(np.stack([cor(v) for v in (tpl.csf, tpl.gm, tpl.wm)], 1), box), (size, size), 1
    )
    masks = _resample(_crop(mask.astype(np.float32), box), (size, size), 1) > 0.5
    spacing = template_mm * side / size
    names = [f"mni_coronal_y{y:+04.0f}mm" for y in ys]
    return _finish(t1, tissue * masks[:, None], masks, n_parcels, seed, spacing, names)


def brain_volume(
    spacing_mm: float = 4.0, *, n_parcels: int = 32, seed: int = 0, multiple: int = 16
) -> Anatomies:
    """The whole template as one 3D anatomy ``(1, 1, X, Y, Z)``, cropped around the brain.

    The box around the brain is padded so every side is a multiple of ``multiple`` (U-Net
    pooling); at 4 mm it is 48 x 48 x 48 or close to it.
    """
    tpl = mni152(spacing_mm)
    idx = np.argwhere(tpl.mask)
    lo, hi = idx.min(0) - 1, idx.max(0) + 2
    ext = [int(np.ceil((h - lo_) / multiple) * multiple) for lo_, h in zip(lo, hi, strict=True)]
    box = tuple(
        slice(int((lo_ + h) // 2 - e // 2), int((lo_ + h) // 2 - e // 2) + e)
        for lo_, h, e in zip(lo, hi, ext, strict=True)
    )
    t1 = _crop(tpl.t1, box)[None]
    tissue = _crop(np.stack([tpl.csf, tpl.gm, tpl.wm]), box)[None]
    mask = _crop(tpl.mask, box)[None]
    return _finish(t1, tissue, mask, n_parcels, seed, spacing_mm, [f"mni_{spacing_mm:g}mm"])
