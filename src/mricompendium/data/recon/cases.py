"""Test cases for reconstruction, each with its unit of independence and its group.

A :class:`CaseSet` holds each slice twice: on the reconstruction grid (``images``, ``masks``:
what the metrics and figures use) and on the finer grid the k-space is simulated on
(``objects``, ``object_masks``: the embedded data's own 128 x 128 grid), so that the simulator
never makes its data with the operator that reconstructs them.

* :func:`template_cases`: fresh variants of the MNI template drawn at axial positions away from
  every training slice of the embedded set (each its own deformation, contrast and bias; the
  simulator then gives each its own phase, coils, noise and mask): every case is a unit.
* :func:`embedded_real_cases`: the embedded real slices, grouped by what they are (``"real T1"``,
  ``"real EPI"``); slices of one source volume share one unit.
* :func:`slice_set_cases`: any :class:`~mricompendium.data.embedded.SliceSet` (e.g. a user's
  NIfTI volumes); slices of one volume share one unit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from mricompendium import paths
from mricompendium.data.build import CYCLE_MM, CYCLE_TRAIN, FOV_MM, N_CYCLES, Z_START
from mricompendium.data.embedded import SIZE, SliceSet, load_slices, resize_stack, simulate_slice
from mricompendium.data.recon.batches import case_seed
from mricompendium.io import atomic_open

__all__ = [
    "TEST_OFFSETS",
    "CaseSet",
    "embedded_real_cases",
    "slice_set_cases",
    "template_cases",
    "template_tissue",
    "training_distance_mm",
]

TEST_OFFSETS = (14,)  # mm into each 20-mm cycle: 6 mm from the nearest training slices
REAL_GROUPS = {"t1_coronal_slice.npy": "real T1", "MR_small.dcm": "real T1"}


@dataclass(frozen=True)
class CaseSet:
    """Magnitude test slices with their ids, units of independence and groups.

    Attributes:
        images: float32 ``(N, H, W)``; masks: bool ``(N, H, W)`` brain (head) masks, on the
            reconstruction grid.
        case: unique id per slice. unit: the unit each slice belongs to. group: what it is.
        objects: float32 ``(N, Hs, Ws)``, the same slices on the finer object grid (``None``
            when the set has none); object_masks: their bool masks.
    """

    images: np.ndarray
    masks: np.ndarray
    case: list[str]
    unit: list[str]
    group: list[str]
    objects: np.ndarray | None = None
    object_masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.images)
        if not (len(self.masks) == len(self.case) == len(self.unit) == len(self.group) == n):
            raise ValueError("images, masks, case, unit and group must have one entry per slice")
        if len(set(self.case)) != n:
            raise ValueError("case ids must be unique")
        if (self.objects is None) != (self.object_masks is None):
            raise ValueError("objects and object_masks come together")
        if self.objects is not None and (
            len(self.objects) != n or np.shape(self.object_masks) != np.shape(self.objects)
        ):
            raise ValueError("objects and object_masks must be (N, Hs, Ws), one per slice")

    @classmethod
    def from_objects(
        cls, objects: np.ndarray, masks: np.ndarray, size: int, case: list[str],
        unit: list[str], group: list[str],
    ) -> CaseSet:  # fmt: skip
        """Cases from slices on the object grid; the reconstruction grid ``size x size`` is
        derived as the embedded set derives its smaller sizes (:func:`resize_stack`)."""
        objects = np.asarray(objects, dtype=np.float32)
        masks = np.asarray(masks).astype(bool)
        images = resize_stack(objects, size)
        small = resize_stack(masks.astype(np.float32), size) >= 0.5
        return cls(images, small, list(case), list(unit), list(group), objects, masks)

    def __len__(self) -> int:
        return len(self.case)

    @classmethod
    def concat(cls, *sets: CaseSet) -> CaseSet:
        """The sets one after another (objects kept when every set has them)."""
        fine = all(s.objects is not None for s in sets)
        return cls(
            images=np.concatenate([s.images for s in sets]),
            masks=np.concatenate([s.masks for s in sets]),
            case=[c for s in sets for c in s.case],
            unit=[u for s in sets for u in s.unit],
            group=[g for s in sets for g in s.group],
            objects=np.concatenate([s.objects for s in sets]) if fine else None,
            object_masks=np.concatenate([s.object_masks for s in sets]) if fine else None,
        )

    def subset(self, index: np.ndarray | list[int]) -> CaseSet:
        """The slices ``index`` in that order."""
        idx = np.asarray(index, dtype=np.int64)
        pick = [int(i) for i in idx]
        fine = self.objects is not None
        return CaseSet(self.images[idx], self.masks[idx], [self.case[i] for i in pick],
                       [self.unit[i] for i in pick], [self.group[i] for i in pick],
                       self.objects[idx] if fine else None,
                       self.object_masks[idx] if fine else None)  # fmt: skip

    def summary(self) -> str:
        """``"template 40 slices (40 units), real EPI 38 slices (3 units), ..."``."""
        parts = []
        for g in dict.fromkeys(self.group):
            n = sum(x == g for x in self.group)
            units = len({u for u, x in zip(self.unit, self.group, strict=True) if x == g})
            parts.append(f"{g} {n} slices ({units} units)")
        return ", ".join(parts)


def training_distance_mm(offset: int) -> int:
    """Distance in mm from axial offset ``offset`` of a cycle to the nearest training position."""
    train = [o + k * CYCLE_MM for o in CYCLE_TRAIN for k in (-1, 0, 1)]
    return int(min(abs(offset - t) for t in train))


def _template_band(offsets: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Template T1/GM/WM/brain axial slices at the test positions, and the field-of-view centre.

    Loading the 1-mm template takes seconds, so the few slices needed are cached in
    ``.scratch/cache`` (rebuilt when missing; deterministic for a nilearn version).
    """
    zs = sorted({Z_START + c * CYCLE_MM + o for c in range(N_CYCLES) for o in offsets})
    cache = paths.SCRATCH / "cache" / f"recon_template_z{'-'.join(map(str, zs))}_v1.npz"
    if cache.is_file():
        with np.load(cache) as f:
            return {k: f[k] for k in f.files}
    from mricompendium.data.template import mni152

    t = mni152(1.0)
    idx = np.argwhere(t.mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0)
    brain = np.stack([ndimage.binary_fill_holes(t.mask[:, :, z]) for z in zs], axis=-1)
    band = {
        "z": np.asarray(zs),
        "t1": t.t1[:, :, zs],
        "gm": t.gm[:, :, zs],
        "wm": t.wm[:, :, zs],
        "brain": brain.astype(np.float32),
        "centre": np.array([(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0]),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(cache) as f:
        np.savez(f, **band)
    return band


def _render_templates(
    n: int, seed: int, offsets: tuple[int, ...]
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[str]]:
    """Images, masks, tissue maps (CSF/GM/WM) and names of the ``n`` template variants at 128."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    if not offsets or any(not 0 <= o < CYCLE_MM for o in offsets):
        raise ValueError(f"offsets must be in [0, {CYCLE_MM}) mm, got {offsets}")
    band = _template_band(tuple(offsets))
    centre = (float(band["centre"][0]), float(band["centre"][1]))
    images, masks, tissues, names = [], [], [], []
    for j in range(n):
        cycle, k = j % N_CYCLES, (j // N_CYCLES) % len(offsets)
        z = Z_START + cycle * CYCLE_MM + offsets[k]
        i = int(np.flatnonzero(band["z"] == z)[0])
        arrays = [band[key][:, :, i].astype(np.float64) for key in ("t1", "gm", "wm", "brain")]
        img, mask, tissue, _ = simulate_slice(*arrays, seed=case_seed(seed, j, 77), center=centre,
                                              fov_mm=FOV_MM, size=SIZE)  # fmt: skip
        images.append(img.astype(np.float32))
        masks.append(mask)
        tissues.append(tissue.astype(np.float32))
        names.append(f"mni_z{z:03d}_t{j:03d}")
    return images, masks, tissues, names


def template_cases(
    n: int, *, size: int, seed: int, offsets: tuple[int, ...] = TEST_OFFSETS
) -> CaseSet:
    """``n`` fresh template variants at axial positions away from the training slices.

    Case ``j`` lies in cycle ``j % 5`` of the embedded set's axial band at offset
    ``offsets[(j // 5) % len(offsets)]`` mm (default 14: 6 mm from the nearest training slice,
    where the embedded test slices sit 3 mm away), with its own deformation, contrast change
    and bias field drawn from ``case_seed(seed, j)`` by the embedded set's own simulator
    (:func:`~mricompendium.data.embedded.simulate_slice`), rendered at 128 (the objects) and
    downsampled like the embedded slices (the images). Every case is its own unit; the group is
    ``"template"``.
    """
    images, masks, _, names = _render_templates(n, seed, tuple(offsets))
    return CaseSet.from_objects(np.stack(images), np.stack(masks), size, names, list(names),
                                ["template"] * n)  # fmt: skip


def template_tissue(
    n: int, *, size: int, seed: int, offsets: tuple[int, ...] = TEST_OFFSETS
) -> np.ndarray:
    """The CSF/GM/WM probability maps ``(n, 3, size, size)`` of :func:`template_cases` with the
    same arguments (the same deformation moves image, mask and tissue maps), downsampled from
    128 like the images."""
    _, _, tissues, _ = _render_templates(n, seed, tuple(offsets))
    return resize_stack(np.stack(tissues), size)


def embedded_real_cases(size: int, *, per_unit: int | None = None) -> CaseSet:
    """The embedded real slices; unit = source volume; group ``"real T1"`` or ``"real EPI"``.

    ``per_unit`` keeps at most that many slices per volume (evenly spaced). The objects are the
    slices at the embedded set's 128 x 128.
    """
    real = load_slices("real")
    manifest = json.loads((paths.data_root() / "manifest.json").read_text())
    files = [s["file"] for s in manifest["real_slices"]]
    notes = {s["file"]: s.get("note", "") for s in manifest["real_slices"]}
    group = [REAL_GROUPS.get(f, "real EPI" if "EPI" in notes[f] else "real other") for f in files]
    keep = np.arange(len(files))
    if per_unit is not None:
        if per_unit < 1:
            raise ValueError(f"per_unit must be >= 1, got {per_unit}")
        keep = np.concatenate([_even(np.flatnonzero(np.asarray(files) == f), per_unit)
                               for f in dict.fromkeys(files)])  # fmt: skip
    out = CaseSet.from_objects(real.images, real.masks, size, list(real.names), files, group)
    return out.subset(keep)


def _even(index: np.ndarray, k: int) -> np.ndarray:
    if len(index) <= k:
        return index
    return index[np.linspace(0, len(index) - 1, k).round().astype(int)]


def slice_set_cases(slices: SliceSet, group: str, size: int | None = None) -> CaseSet:
    """Cases from a :class:`SliceSet` whose names end in ``_z<slice>``: unit = the volume.

    With ``size``, the slices are the objects and the reconstruction grid is ``size x size``.
    """
    units = [re.sub(r"_z\d+$", "", n) for n in slices.names]
    names, groups = list(slices.names), [group] * len(slices)
    if size is not None:
        return CaseSet.from_objects(slices.images, slices.masks, size, names, units, groups)
    return CaseSet(slices.images, slices.masks, names, units, groups)
