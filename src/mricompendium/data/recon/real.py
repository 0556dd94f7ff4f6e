"""Real fully sampled multi-coil k-space (fastMRI, Calgary-Campinas), undersampled like simulated.

:class:`RealKspaceSet` holds the slices of one or more volumes, prepared by a documented policy
(:meth:`RealKspaceSet.from_arrays`), with the root-sum-of-squares (RSS) image of the fully
sampled coils as the reference. The data are not rescaled: every model input is normalised by the
experiment layer from the undersampled data alone, so the reference never leaks into the input
(the object mask, used only for evaluation, is drawn from the reference).

Bad input fails with one message naming the file(s) and the parameter at fault: a folder with
fewer coils than ``num_coils`` asks for, a folder mixing coil counts, a missing path.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mricompendium.data.errors import DataError
from mricompendium.data.loaders import load_calgary_campinas_h5, load_fastmri_h5
from mricompendium.data.recon.batches import ReconBatch, case_masks
from mricompendium.physics.coils import coil_compress, estimate_sensitivities, rss
from mricompendium.physics.fft import fft2c, ifft2c
from mricompendium.physics.masks import Sampling

__all__ = ["FORMATS", "RealKspaceSet", "load_kspace_source"]

log = logging.getLogger(__name__)
FORMATS = ("fastmri", "calgary_campinas")
OBJECT_THRESHOLD = 0.1  # object mask: RSS > 10 % of its 99.5th percentile, holes filled


def _num_slices(path: Path) -> int | None:
    """Slices in an HDF5 file's ``kspace`` without reading it (None if it cannot be opened)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return int(f["kspace"].shape[0])
    except (OSError, KeyError, TypeError):
        return None  # the loader raises the informative error


def _slice_range(n: int | None, keep_fraction: float, max_slices: int | None) -> slice | None:
    """The central ``keep_fraction`` of ``n`` slices, thinned to at most ``max_slices``."""
    if n is None:
        return None
    keep = max(1, int(round(n * keep_fraction)))
    start = (n - keep) // 2
    step = 1 if max_slices is None else max(1, math.ceil(keep / max_slices))
    stop = start + keep if max_slices is None else min(start + keep, start + step * max_slices)
    return slice(start, stop, step)


def _centre_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    h, w = x.shape[-2:]
    ch, cw = min(shape[0], h), min(shape[1], w)
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]


def _check_coils(counts: dict[str, int], num_coils: int | None, param: str) -> None:
    """One error naming the files and ``param`` when the coil counts do not fit."""
    if num_coils is None:
        if len(set(counts.values())) > 1:
            listing = ", ".join(f"{name} ({c})" for name, c in counts.items())
            raise DataError(
                "data_path",
                f"the files mix coil counts: {listing}; set {param} to at most "
                f"{min(counts.values())} to compress them all to one count",
            )
        return
    few = {name: c for name, c in counts.items() if c < num_coils}
    if few:
        listing = ", ".join(f"{name} ({c} coils)" for name, c in few.items())
        raise DataError(
            listing,
            f"{param}={num_coils} needs at least {num_coils} coils; set {param} <= "
            f"{min(few.values())} or leave these files out",
        )


def _prepare_volume(
    kspace: np.ndarray, *, crop: tuple[int, int] | None, size: int | None, num_coils: int | None
) -> torch.Tensor:
    """Fully sampled ``(S, C, H, W)`` k-space -> cropped, resized, compressed k-space."""
    image = ifft2c(torch.from_numpy(np.ascontiguousarray(kspace, dtype=np.complex64)))
    if crop is not None:
        image = _centre_crop(image, crop)
    if size is not None:
        side = min(image.shape[-2:])
        if size > side:
            raise ValueError(f"image_size {size} exceeds the cropped image side {side}")
        image = _centre_crop(image, (side, side))
    k = fft2c(image)
    if size is not None:
        k = _centre_crop(k, (size, size))  # lower resolution, same field of view
    if num_coils is not None:
        k = coil_compress(k, num_coils)
    return k


class RealKspaceSet:
    """Fully sampled real multi-coil k-space, undersampled retrospectively like the simulator.

    Policy (see :meth:`from_arrays`): per volume, the coil images are centre-cropped (fastMRI:
    to the header's reconstruction matrix, which removes the 2x readout oversampling), made
    square and, with ``size``, reduced in resolution by cropping the k-space centre to
    ``size x size`` (the same field of view at a coarser grid). With ``num_coils``, PCA coil
    compression. No rescaling. The reference is the RSS of the fully sampled coil images
    (``target``, phase zero); ``true_maps`` are the coil images over their RSS; the object mask
    is RSS > 10 % of its 99.5th percentile, holes filled. No noise is added: the data have
    their own.

    Args:
        kspace: fully sampled, centred k-space, complex ``(N, C, H, W)`` (all slices).
        volume_ids: ``(N,)`` int volume of each slice (slices of one volume are one unit).
        names: one name per volume.
        device: where the batches are made.
    """

    def __init__(
        self,
        kspace: torch.Tensor,
        *,
        volume_ids: Sequence[int] | None = None,
        names: Sequence[str] = (),
        device: str | torch.device = "cpu",
    ) -> None:
        if not torch.is_complex(kspace) or kspace.dim() != 4:
            raise ValueError(f"kspace must be complex (N, C, H, W), got {tuple(kspace.shape)}")
        from scipy import ndimage

        self.device = torch.device(device)
        self.kspace = kspace.to(self.device)
        coil_images = ifft2c(self.kspace)
        image = rss(coil_images, dim=1)
        self.target = image.to(kspace.dtype)
        floor = 1e-6 * image.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        self.true_maps = coil_images / (image + floor).unsqueeze(1)
        level = torch.quantile(image.flatten(1)[:, ::7].double(), 0.995, dim=1).view(-1, 1, 1)
        obj = (image > OBJECT_THRESHOLD * level.to(image.dtype)).cpu().numpy()
        self.brain = torch.from_numpy(np.stack([ndimage.binary_fill_holes(m) for m in obj]))
        self.brain = self.brain.to(self.device)
        n = kspace.shape[0]
        self.volume_ids = np.zeros(n, np.int64) if volume_ids is None else np.asarray(volume_ids)
        if self.volume_ids.shape != (n,):
            raise ValueError(f"volume_ids must be ({n},), got {self.volume_ids.shape}")
        self.names = list(names)
        self.num_coils = int(kspace.shape[1])
        self.split_note = ""

    def __len__(self) -> int:
        return int(self.kspace.shape[0])

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.kspace.shape[-2]), int(self.kspace.shape[-1])

    def unit(self, index: int) -> str:
        """The unit of independence of slice ``index``: its volume's name."""
        v = int(self.volume_ids[index])
        return self.names[v] if v < len(self.names) else f"volume {v}"

    @classmethod
    def from_arrays(
        cls,
        volumes: Sequence[np.ndarray],
        *,
        crops: Sequence[tuple[int, int] | None] | None = None,
        size: int | None = None,
        num_coils: int | None = None,
        names: Sequence[str] = (),
        coils_param: str = "num_coils",
        device: str | torch.device = "cpu",
    ) -> RealKspaceSet:
        """Build from fully sampled volumes ``(S, C, H, W)`` with the policy of the class.

        ``coils_param`` is the parameter name that errors about coil counts cite.
        """
        if not volumes:
            raise ValueError("no volumes")
        labels = list(names) or [f"volume {i}" for i in range(len(volumes))]
        _check_coils({n: int(v.shape[1]) for n, v in zip(labels, volumes, strict=True)},
                     num_coils, coils_param)  # fmt: skip
        crops = list(crops) if crops is not None else [None] * len(volumes)
        prepared = [
            _prepare_volume(v, crop=c, size=size, num_coils=num_coils)
            for v, c in zip(volumes, crops, strict=True)
        ]
        shapes = {tuple(p.shape[2:]) for p in prepared}
        if len(shapes) > 1:
            raise DataError("data_path", f"volumes differ in size {sorted(shapes)}: set image_size")
        ids = np.concatenate([np.full(len(p), i) for i, p in enumerate(prepared)])
        return cls(torch.cat(prepared), volume_ids=ids, names=labels, device=device)

    @classmethod
    def from_files(
        cls,
        path: str | Path,
        data_format: str,
        *,
        size: int | None = None,
        num_coils: int | None = None,
        keep_fraction: float | None = None,
        max_slices: int | None = None,
        max_files: int | None = None,
        coils_param: str = "num_coils",
        device: str | torch.device = "cpu",
    ) -> RealKspaceSet:
        """Load fastMRI or Calgary-Campinas (CC-359) multi-coil ``.h5`` files (a file or folder).

        fastMRI volumes are cropped to their ISMRMRD reconstruction matrix in image space.
        CC-359 slices are (ky, kz) planes along the readout; the default ``keep_fraction`` (0.6)
        drops the outer slices (mostly outside the head). ``max_slices`` thins each volume
        evenly; ``max_files`` caps the files read (sorted by name).
        """
        if data_format not in FORMATS:
            raise ValueError(f"data_format must be one of {FORMATS}, got {data_format!r}")
        keep = keep_fraction if keep_fraction is not None else (
            1.0 if data_format == "fastmri" else 0.6
        )  # fmt: skip
        vols, crops, files = [], [], _h5_files(path, max_files)
        for f in files:
            index = _slice_range(_num_slices(f), keep, max_slices)
            if data_format == "fastmri":
                vol = load_fastmri_h5(f, slices=index)
                if vol.kspace.ndim != 4:
                    raise DataError(f, "is single-coil; multi-coil k-space (S, C, H, W) needed")
                vols.append(vol.kspace)
                crops.append((vol.recon_size[0], vol.recon_size[1]))
            else:
                vols.append(load_calgary_campinas_h5(f, slices=index))
                crops.append(None)
        return cls.from_arrays(vols, crops=crops, size=size, num_coils=num_coils,
                               names=[f.name for f in files], coils_param=coils_param,
                               device=device)  # fmt: skip

    def subset(self, indices: Sequence[int] | np.ndarray) -> RealKspaceSet:
        """The slices ``indices`` as a new set (sharing nothing mutable)."""
        idx = np.asarray(indices, dtype=np.int64)
        out = object.__new__(RealKspaceSet)
        out.__dict__.update(self.__dict__)
        for key in ("kspace", "target", "true_maps", "brain"):
            setattr(out, key, getattr(self, key)[torch.as_tensor(idx, device=self.device)])
        out.volume_ids = self.volume_ids[idx]
        return out

    def compressed(self, num_coils: int, *, coils_param: str = "num_coils") -> RealKspaceSet:
        """Every volume PCA-compressed to ``num_coils`` virtual coils (itself if already so)."""
        if num_coils == self.num_coils:
            return self
        counts = {self.unit(int(np.flatnonzero(self.volume_ids == v)[0])): self.num_coils
                  for v in np.unique(self.volume_ids)}  # fmt: skip
        _check_coils(counts, num_coils, coils_param)
        parts = [
            coil_compress(self.kspace[torch.as_tensor(self.volume_ids == v)], num_coils)
            for v in np.unique(self.volume_ids)
        ]
        order = np.concatenate(
            [np.flatnonzero(self.volume_ids == v) for v in np.unique(self.volume_ids)]
        )
        out = RealKspaceSet(torch.cat(parts), volume_ids=self.volume_ids[order],
                            names=self.names, device=self.device)  # fmt: skip
        out.split_note = self.split_note
        return out

    def split_by_volume(self, n_test: int, *, gap: int = 2) -> tuple[RealKspaceSet, RealKspaceSet]:
        """``(train, test)``: the last ``n_test`` volumes held out (no subject in both).

        With a single volume (a single-file ``data_path``) the slices are split instead: the
        last third for testing, ``gap`` slices dropped between the parts, and ``split_note``
        says that training and test slices come from the same subject (one unit).
        """
        vols = np.unique(self.volume_ids)
        if len(vols) == 1:
            n = len(self)
            n_te = max(1, n // 3)
            n_tr = n - n_te - gap
            if n_tr < 1:
                raise DataError(
                    self.unit(0), f"{n} slices are too few to split one volume (need {gap + 2})"
                )
            self.split_note = (
                f"one volume ({self.unit(0)}): slices 0-{n_tr - 1} train, {n - n_te}-{n - 1} "
                f"test, {gap} left out between; training and test share the subject (one unit)"
            )
            log.warning(self.split_note)
            train, test = self.subset(np.arange(n_tr)), self.subset(np.arange(n - n_te, n))
            train.split_note = test.split_note = self.split_note
            return train, test
        if not 1 <= n_test < len(vols):
            raise ValueError(
                f"n_test_volumes must be in [1, {len(vols) - 1}] for {len(vols)} volumes, "
                f"got {n_test}"
            )
        test = np.isin(self.volume_ids, vols[-n_test:])
        return self.subset(np.flatnonzero(~test)), self.subset(np.flatnonzero(test))

    def batch(
        self,
        indices: Sequence[int] | np.ndarray | torch.Tensor,
        sampling: Sampling | str,
        seed: int,
        *,
        mask_seed: int | None = None,
    ) -> ReconBatch:
        """Retrospectively undersampled slices, as the simulator's ``batch`` (Cartesian only)."""
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx or min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be a non-empty subset of [0, {len(self)})")
        sampling = Sampling.parse(sampling)
        if sampling.is_radial:
            raise ValueError("real k-space is Cartesian: radial undersampling is not supported")
        mask = case_masks(sampling, self.image_shape, seed, idx, mask_seed).to(self.device)
        kspace = self.kspace[idx] * mask
        return ReconBatch(
            kspace=kspace,
            mask=mask,
            maps=estimate_sensitivities(kspace, mask),
            true_maps=self.true_maps[idx],
            target=self.target[idx],
            brain_mask=self.brain[idx],
            indices=torch.tensor(idx, dtype=torch.int64),
            sampling=str(sampling),
        )


def _h5_files(path: str | Path, max_files: int | None) -> list[Path]:
    p = Path(path)
    if not p.exists():
        raise DataError(p, "no such file or folder (data_path)")
    files = sorted(p.glob("*.h5")) if p.is_dir() else [p]
    if not files:
        raise DataError(p, "no .h5 files in this folder (data_path)")
    return files[:max_files] if max_files is not None else files


def load_kspace_source(data_path: str | Path, data_format: str, **kwargs: object) -> RealKspaceSet:
    """:meth:`RealKspaceSet.from_files` (kept as the notebooks' one-line entry point)."""
    return RealKspaceSet.from_files(data_path, data_format, **kwargs)  # type: ignore[arg-type]
