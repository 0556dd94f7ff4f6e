"""Machine unlearning for reconstruction (S33): retain and forget sets, unlearning losses, metrics.

The protocol of Xue et al. (MIDL 2024), in the experiment layer:

- **Data** (:func:`cine_cases`, :func:`balanced_pool`): the *retain* set is brain slices; the
  *forget* set another anatomy, here the frames of the analytic beating-heart torso
  (:mod:`mricompendium.data.registration.cardiac`) rendered on the object grid, noise-free (the
  k-space simulator adds the noise), one unit per subject.
- **Models**: the *original* is trained on retain and forget data together, the *oracle* on the
  retain data alone (full retraining), both for the same number of steps; an *unlearned* model
  starts from the original and is trained for a fraction of those steps
  (:func:`~.study.train_seeds` with ``init``) by one of:

  * ``FT``: fine-tuning on a subset of the retain data (the protocol L1 loss);
  * ``GA``: gradient ascent of the L1 loss on the forget data (:class:`GradientAscentL1`);
  * ``NL-FT``: noisy labels: the forget cases' targets are replaced by fixed noise images
    (:class:`NoisyLabelL1`) while the retain subset keeps its own, in one mixed pool.

- **A hallucination proxy** (:func:`background_energy_db`): the energy a reconstruction puts
  outside the (dilated) object mask, where the reference is empty, relative to the reference's
  energy inside it, in dB; one more per-case metric column for ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from mricompendium.data.embedded import normalise_intensity
from mricompendium.data.recon import CaseSet, ReconBatch, case_seed
from mricompendium.data.registration.cardiac import CardiacSequence, random_heart
from mricompendium.experiments.reconstruction.protocol import input_scale, magnitude_l1, predict

__all__ = [
    "METHODS",
    "ConcatSource",
    "GradientAscentL1",
    "NoisyLabelL1",
    "background_energy_db",
    "balanced_pool",
    "cine_cases",
    "retain_subset",
]

METHODS = ("FT", "GA", "NL-FT")


def cine_cases(
    n_subjects: int,
    frames: int,
    *,
    size: int,
    seed: int,
    object_size: int = 128,
    fov_mm: float = 160.0,
    group: str = "cine torso",
    name: str = "cine",
) -> CaseSet:
    """Short-axis cine frames of ``n_subjects`` analytic hearts as objects on a fine grid.

    Subject ``j`` is :func:`random_heart` of ``case_seed(seed, j, 91)``; its ``frames`` frames
    are evenly spaced over the cycle, rendered noise-free on ``object_size`` pixels over a
    ``fov_mm`` field of view (the body is about 120 mm across) and scaled like the embedded
    slices (99.5th percentile inside the body = 1).
    The mask is the body outline; the unit is the subject ``<name>_s<j>``; ids
    ``<name>_s<j>_t<k>``.
    """
    if n_subjects < 1 or frames < 1:
        raise ValueError(f"need n_subjects >= 1 and frames >= 1, got {n_subjects}, {frames}")
    images, masks, names, units = [], [], [], []
    for j in range(n_subjects):
        seq = CardiacSequence(random_heart(case_seed(seed, j, 91)), size=object_size,
                              spacing_mm=fov_mm / object_size)  # fmt: skip
        for k, t in enumerate(np.arange(frames) / frames):
            img, _ = seq.frame(float(t), noise=False)
            mask = img > 0
            images.append(normalise_intensity(img, mask).astype(np.float32))
            masks.append(mask)
            names.append(f"{name}_s{j:02d}_t{k:02d}")
            units.append(f"{name}_s{j:02d}")
    return CaseSet.from_objects(np.stack(images), np.stack(masks), size, names, units,
                                [group] * len(names))  # fmt: skip


def retain_subset(n_retain: int, fraction: float, seed: int) -> list[int]:
    """A seeded random ``fraction`` of ``range(n_retain)`` (at least one index), sorted."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    k = max(1, round(fraction * n_retain))
    rng = np.random.default_rng(case_seed(seed, 0, 92))
    return sorted(int(i) for i in rng.choice(n_retain, size=k, replace=False))


def balanced_pool(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """``a`` and ``b`` with the shorter repeated so that each makes about half the pool (a
    batch stream that draws uniformly from the pool then draws from each about equally)."""
    if not a or not b:
        raise ValueError("both index lists must be non-empty")
    short, long_ = (list(a), list(b)) if len(a) <= len(b) else (list(b), list(a))
    reps = max(1, round(len(long_) / len(short)))
    return sorted(long_ + short * reps)


class GradientAscentL1(nn.Module):
    """Gradient ascent: the negated protocol L1 loss (train on the forget cases only)."""

    def forward(self, model: nn.Module, batch: ReconBatch) -> torch.Tensor:
        return -magnitude_l1(model, batch)


class NoisyLabelL1(nn.Module):
    """The protocol L1 loss with the targets of the forget cases replaced by noise.

    Case ``i`` in ``forget`` gets one fixed target: the magnitude of complex white Gaussian
    noise (seeded by ``(seed, i)``) with the same root-mean-square as its true target, in the
    normalised units of the input; other cases keep their targets.

    Args:
        forget: the forget cases' indices in the training source.
        seed: seeds the noise images.
    """

    def __init__(self, forget: Sequence[int], *, seed: int) -> None:
        super().__init__()
        self.forget = frozenset(int(i) for i in forget)
        if not self.forget:
            raise ValueError("forget is empty")
        self.seed = int(seed)

    def _noise(self, index: int, like: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(case_seed(self.seed, index, 93))
        z = torch.randn((2, *like.shape), generator=gen, dtype=torch.float32).to(like.device)
        noise = torch.complex(z[0], z[1]).abs()
        return noise * like.square().mean().sqrt() / noise.square().mean().sqrt()

    def forward(self, model: nn.Module, batch: ReconBatch) -> torch.Tensor:
        pred = predict(model, batch, normalised=True).abs()
        target = batch.target_abs / input_scale(batch).view(-1, 1, 1).to(pred.dtype)
        rows = [
            self._noise(int(i), t) if int(i) in self.forget else t
            for i, t in zip(batch.indices.tolist(), target, strict=True)
        ]
        return (pred - torch.stack(rows)).abs().mean()


def background_energy_db(
    pred: np.ndarray, target: np.ndarray, region: np.ndarray, *, dilate: int = 2
) -> dict[str, np.ndarray]:
    """Per case, ``10 log10(mean |pred|^2 outside the dilated region / mean |target|^2 inside
    it)`` (floored at -120 dB): false structure where the object is not (lower is better).

    Args:
        pred, target: magnitudes ``(n, H, W)``.
        region: bool ``(n, H, W)``, the object (brain, body) masks.
        dilate: pixels the region is grown by before its outside is taken (edge blur is not
            false structure).

    Returns:
        ``{"background_db": (n,) values}``.
    """
    pred, target = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    region = np.asarray(region).astype(bool)
    if pred.shape != target.shape or pred.shape != region.shape or pred.ndim != 3:
        raise ValueError("pred, target and region must be (n, H, W) of one shape")
    out = np.empty(len(pred))
    for j, (p, t, r) in enumerate(zip(pred, target, region, strict=True)):
        grown = ndimage.binary_dilation(r, iterations=dilate) if dilate > 0 else r
        if grown.all() or not r.any():
            raise ValueError(f"case {j}: no background outside the dilated region, or no region")
        ratio = (p[~grown] ** 2).mean() / max((t[r] ** 2).mean(), 1e-30)
        out[j] = 10 * np.log10(ratio + 1e-12)
    return {"background_db": out}


class ConcatSource:
    """Two or more k-space sources seen as one (retain cases first, then forget cases): index
    ``i`` of the whole is index ``i - offset`` of the source it falls in. A batch is made by each
    source for its own cases and joined in the order asked (Cartesian data with one coil count
    and grid; the mask becomes one per case).
    """

    def __init__(self, *sources: object) -> None:
        if len(sources) < 2:
            raise ValueError("ConcatSource needs at least two sources")
        shapes = {tuple(s.image_shape) for s in sources}
        if len(shapes) != 1:
            raise ValueError(f"the sources' grids differ: {sorted(shapes)}")
        self.sources = list(sources)
        self.device = sources[0].device
        self.offsets = np.cumsum([0] + [len(s) for s in sources])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.sources[0].image_shape)

    def batch(
        self, indices: Sequence[int], sampling: object, seed: int, *, mask_seed: int | None = None
    ) -> ReconBatch:
        idx = [int(i) for i in np.asarray(indices).reshape(-1)]
        if not idx or min(idx) < 0 or max(idx) >= len(self):
            raise ValueError(f"indices must be in [0, {len(self)}), got {idx}")
        which = np.searchsorted(self.offsets, idx, side="right") - 1
        parts = {}
        for k in sorted(set(which.tolist())):
            local = [i - int(self.offsets[k]) for i, w in zip(idx, which, strict=True) if w == k]
            parts[k] = self.sources[k].batch(local, sampling, seed, mask_seed=mask_seed)
        if any(b.mask is None for b in parts.values()):
            raise ValueError("ConcatSource joins Cartesian batches only")
        pos = {k: 0 for k in parts}
        order = []
        for w in which.tolist():
            order.append((w, pos[w]))
            pos[w] += 1

        def pick(name: str) -> torch.Tensor:
            rows = []
            for w, j in order:
                x = getattr(parts[w], name)
                rows.append(x[j if x.shape[0] > 1 else 0])
            return torch.stack(rows)

        first = next(iter(parts.values()))
        fields = ("kspace", "mask", "maps", "true_maps", "target", "brain_mask")
        return ReconBatch(**{f: pick(f) for f in fields}, sampling=first.sampling,
                          indices=torch.tensor(idx, dtype=torch.int64))  # fmt: skip
