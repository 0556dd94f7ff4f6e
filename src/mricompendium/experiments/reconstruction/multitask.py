"""Multitask reconstruction + segmentation (S67, ATOMMIC): labels, losses, training, rows.

- :func:`tissue_labels`: background/CSF/GM/WM labels from the embedded tissue probabilities.
- :func:`simulated_labels` (the template slices) and :func:`pairs_data` (a user's image +
  tissue-label NIfTI pairs: k-space simulated as from the template slices, labels alike).
- :func:`skmtea_data` (SKM-TEA's raw data track: the measured multi-coil k-space of knee
  scans with their cartilage and meniscus segmentations, the paper's own multitask data set)
  and :func:`skmtea_labels`.
- :func:`majority_map`: the per-pixel majority label of the training set (an atlas that never
  looks at the image: the trivial floor of a segmentation claim).
- :func:`segmentation_loss` (cross-entropy + soft Dice) and :func:`multitask_loss` (the
  reconstruction protocol's magnitude L1 plus the segmentation loss, summed with weights).
- :func:`dice_per_case`: mean Dice over the tissue classes, one value per case.
- :func:`reconseg_rows`: the protocol's per-case rows (SSIM, PSNR, ...) plus ``dice`` and
  ``degenerate`` (no tissue predicted) columns, from the model's own segmenter.
- :func:`train_over_seeds`: one training rule for every stage (a reconstruction network, a
  joint model, a segmenter on a frozen reconstruction): :func:`~.protocol.train_model` per seed,
  a validation curve, and the model at half budget kept (for sequential pipelines, whose second
  stage at half budget starts from the first stage's half-budget network).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mricompendium import claims, training
from mricompendium.data.recon import ReconBatch
from mricompendium.experiments.reconstruction.datasets import (
    ReconData,
    _check_size,
    _grid_text,
    _groups_text,
)
from mricompendium.experiments.reconstruction.protocol import (
    Method,
    evaluate,
    input_scale,
    predict,
    train_model,
)
from mricompendium.experiments.reconstruction.study import TestSetting, Trained
from mricompendium.physics.masks import Sampling

__all__ = [
    "TEMPLATE_SEED_OFFSET",
    "Staged",
    "dice_per_case",
    "dice_validation",
    "majority_map",
    "multitask_loss",
    "pairs_data",
    "reconseg_rows",
    "segmentation_loss",
    "simulated_labels",
    "SKMTEA_CLASSES",
    "SKMTEA_NAMES",
    "skmtea_data",
    "skmtea_labels",
    "tissue_labels",
    "train_over_seeds",
]

TISSUES = (1, 2, 3)  # CSF, GM, WM (0 is background)
TISSUE_NAMES = ("CSF", "GM", "WM")
# SKM-TEA's segmentation labels (1 patellar cartilage, 2 femoral cartilage, 3-4 tibial cartilage
# medial/lateral, 5-6 meniscus medial/lateral) merged into four tissues: class -> source labels
SKMTEA_MERGE = {1: (1,), 2: (2,), 3: (3, 4), 4: (5, 6)}
SKMTEA_CLASSES = tuple(SKMTEA_MERGE)
SKMTEA_NAMES = ("patellar cartilage", "femoral cartilage", "tibial cartilage", "menisci")
TEMPLATE_SEED_OFFSET = 101  # simulated_data draws its template test cases with seed + 101


def simulated_labels(*, image_size: int, seed: int, n_test_template: int) -> dict[str, np.ndarray]:
    """Tissue labels of :func:`~.datasets.simulated_data`'s sources with the same arguments:
    ``"train"`` and ``"val"`` (the embedded splits, in the simulators' order) and ``"test"``
    (its template test cases, deformed with their images; no real slices, which have no
    tissue maps)."""
    from mricompendium.data import load_slices
    from mricompendium.data.recon import template_tissue

    test = template_tissue(n_test_template, size=image_size, seed=seed + TEMPLATE_SEED_OFFSET)
    return {
        "train": tissue_labels(load_slices("train", size=image_size).tissue),
        "val": tissue_labels(load_slices("val", size=image_size).tissue),
        "test": tissue_labels(test),
    }


def pairs_data(
    data_path: str,
    *,
    image_suffix: str,
    label_suffix: str,
    slices_per_volume: int,
    n_test_volumes: int,
    image_size: int,
    num_coils: int,
    snr: float,
    seed: int,
    n_val: int,
    device: Any = "cpu",
) -> tuple[ReconData, dict[str, np.ndarray]]:
    """A user's image + tissue-label NIfTI pairs in place of the template slices: k-space
    simulated from their slices as :func:`~.datasets.simulated_data` does from the template's
    (:func:`_slice_sets_data`: the 128 object grid, the same coils, phase and noise),
    split by volume (:func:`~mricompendium.data.recon.tissue_pairs.tissue_pair_sets`; the test
    slices of one volume share a unit), and the labels of each split as
    :func:`simulated_labels` gives them (``"train"``, ``"val"``, ``"test"`` in the sources'
    order): the tissue fractions downsampled to ``image_size``, then :func:`tissue_labels`."""
    from mricompendium import paths
    from mricompendium.data.embedded import resize_stack
    from mricompendium.data.recon.tissue_pairs import tissue_pair_sets

    root = paths.resolve(data_path)
    train, val, test = tissue_pair_sets(root, image_suffix=image_suffix, label_suffix=label_suffix,
                                        slices_per_volume=slices_per_volume,
                                        n_test_volumes=n_test_volumes)  # fmt: skip
    volumes = len({n.rsplit("_z", 1)[0] for s in (train, val, test) for n in s.names})
    source = (f"the user's {volumes} image + tissue-label NIfTI pairs at {root} "
              f"(up to {slices_per_volume} axial slices per volume)")  # fmt: skip
    data = _slice_sets_data(train, val, test, group="user NIfTI", source=source,
                            path=str(data_path), image_size=image_size, num_coils=num_coils,
                            snr=snr, seed=seed, n_val=n_val, device=device)  # fmt: skip
    labels = {k: tissue_labels(resize_stack(s.tissue, image_size))  # type: ignore[arg-type]
              for k, s in (("train", train), ("val", val), ("test", test))}  # fmt: skip
    return data, labels


def _slice_sets_data(train_set, val_set, test_set, *, group: str, source: str, path: str,
                     image_size: int, num_coils: int, snr: float, seed: int, n_val: int,
                     device: Any = "cpu") -> ReconData:  # fmt: skip
    """k-space simulated from three slice sets on the 128 object grid, as
    :func:`~.datasets.nifti_data` does from a user's volumes (the same simulator, seeds and
    description; written beside it rather than factored out of it so that the other
    reconstruction notebooks' stages keep their dependencies unchanged)."""
    from mricompendium.data.embedded import resize_stack
    from mricompendium.data.recon import KspaceSimulator, slice_set_cases

    _check_size(image_size)
    cases = slice_set_cases(test_set, group, size=image_size)

    def sim(objects: np.ndarray, masks: np.ndarray, offset: int) -> KspaceSimulator:
        small = resize_stack(masks.astype(np.float32), image_size) >= 0.5
        return KspaceSimulator(objects, small, num_coils=num_coils, snr=snr, seed=seed + offset,
                               device=device)  # fmt: skip

    meta = list(zip(cases.case, cases.unit, cases.group, strict=True))
    coils = f"{num_coils}-coil" if num_coils > 1 else "single-coil"
    text = (f"simulated {coils} k-space (SNR {snr:g}, smooth random phase; "
            f"{_grid_text(image_size, num_coils)}) from {source}, reconstructed on "
            f"{image_size}x{image_size} axial slices: training {len(train_set)} slices, "
            f"validation {min(n_val, len(val_set))}, test {_groups_text(meta)}")  # fmt: skip
    return ReconData(kind="user", train=sim(train_set.images, train_set.masks, 0),
                     val=sim(val_set.images, val_set.masks, 1),
                     val_idx=list(range(min(n_val, len(val_set)))),
                     test=sim(cases.objects, cases.masks, 2), meta=meta, description=text,
                     path=path, cases=cases, num_coils=num_coils)  # fmt: skip


def skmtea_labels(seg: np.ndarray, size: int) -> np.ndarray:
    """SKM-TEA label maps ``(S, ky, kz)`` (0-6) -> ``(S, size, size)`` int64 labels 0-4
    (:data:`SKMTEA_MERGE`) on the reconstruction grid: each merged tissue's fraction resized as
    the k-space crop resizes the image (the whole field of view, ``size`` pixels a side), then
    the most probable of the four tissues and background, as :func:`tissue_labels` does."""
    from mricompendium.data.recon.skmtea import _resize_rect

    s = np.asarray(seg)
    if s.ndim != 3:
        raise ValueError(f"seg must be (S, ky, kz), got shape {s.shape}")
    frac = np.stack([np.isin(s, v).astype(np.float32) for v in SKMTEA_MERGE.values()], axis=1)
    n, t, h, w = frac.shape
    small = _resize_rect(frac.reshape(n * t, h, w), size).reshape(n, t, size, size)
    background = np.clip(1.0 - small.sum(axis=1, keepdims=True), 0.0, None)
    return np.argmax(np.concatenate([background, small], axis=1), axis=1).astype(np.int64)


def _skmtea_split(
    root: Any, split: str, *, max_scans: int, slices_per_volume: int, image_size: int,
    num_coils: int, echo: int, device: Any,
) -> tuple[Any, np.ndarray]:  # fmt: skip
    """The central ``slices_per_volume`` slices of the first ``max_scans`` scans of a split:
    ``(RealKspaceSet, labels)``, one unit per subject."""
    from mricompendium.data.errors import DataError
    from mricompendium.data.loaders import open_h5
    from mricompendium.data.recon.real import RealKspaceSet
    from mricompendium.data.recon.skmtea import (
        RECON_DIR,
        SEG_DIR,
        _crop,
        _read_seg,
        read_scan,
        read_split,
    )
    from mricompendium.physics.coils import coil_compress

    images = read_split(root, split)
    if len(images) < max_scans:
        raise DataError(root / "annotations", f"the {split} split lists {len(images)} scans, "
                                              f"{max_scans} needed")  # fmt: skip
    kspace, labels, ids, names = [], [], [], []
    for d in images[:max_scans]:
        path = root / RECON_DIR / d["file_name"]
        with open_h5(path) as f:
            if "kspace" not in f:
                raise DataError(path, "has no dataset 'kspace'")
            shape = tuple(f["kspace"].shape)
        if min(shape[1:3]) < image_size:
            raise DataError(path, f"its (ky, kz) plane {shape[1]}x{shape[2]} is smaller than "
                                  f"image_size={image_size}")  # fmt: skip
        if shape[4] < num_coils:
            raise DataError(path, f"has {shape[4]} coils; num_coils={num_coils} needs at least "
                                  f"that many (set num_coils <= {shape[4]})")  # fmt: skip
        start = max(0, shape[0] // 2 - slices_per_volume // 2)
        sel = list(range(start, min(shape[0], start + slices_per_volume)))
        scan = read_scan(path, slices=sel)
        seg = _read_seg(root / SEG_DIR / f"{d['scan_id']}.nii.gz", sel, shape[:3])
        k = np.moveaxis(scan["kspace"][:, :, :, echo, :], -1, 1)  # (S, C, ky, kz)
        k = torch.from_numpy(np.ascontiguousarray(_crop(k, image_size)))
        kspace.append(coil_compress(k, num_coils))
        labels.append(skmtea_labels(seg, image_size))
        unit = f"subject {d.get('subject_id', d['scan_id'])}"
        if unit not in names:
            names.append(unit)
        ids += [names.index(unit)] * len(sel)
    source = RealKspaceSet(torch.cat(kspace), volume_ids=ids, names=names, device=device)
    return source, np.concatenate(labels)


def skmtea_data(
    data_path: str,
    *,
    image_size: int,
    num_coils: int,
    slices_per_volume: int,
    n_test_volumes: int,
    n_train_volumes: int,
    n_val: int,
    echo: int = 0,
    device: Any = "cpu",
) -> tuple[ReconData, dict[str, np.ndarray]]:
    """SKM-TEA's raw data track (``data/recon/skmtea.py`` reads the published layout): the
    measured k-space of one echo, the segmentations as labels (:func:`skmtea_labels`), and the
    data set's own split: the first ``n_train_volumes`` scans of ``train`` (0: all), enough
    scans of ``val`` for ``n_val`` slices, the first ``n_test_volumes`` of ``test``; the central
    ``slices_per_volume`` readout slices of each scan (2D ``(ky, kz)`` planes of the hybrid
    k-space), their k-space centre cropped to ``image_size`` a side (the whole field of view at
    a coarser grid) and PCA-compressed to ``num_coils`` coils. No noise is added; the masks are
    the notebook's, drawn retrospectively. Units: subjects."""
    from mricompendium import paths
    from mricompendium.data.recon.skmtea import read_split

    root = paths.resolve(data_path)
    n_train = n_train_volumes or len(read_split(root, "train"))
    common = dict(slices_per_volume=slices_per_volume, image_size=image_size,
                  num_coils=num_coils, echo=echo, device=device)  # fmt: skip
    train, train_labels = _skmtea_split(root, "train", max_scans=n_train, **common)
    val_scans = min(len(read_split(root, "val")), -(-n_val // slices_per_volume))
    val, val_labels = _skmtea_split(root, "val", max_scans=max(1, val_scans), **common)
    test, test_labels = _skmtea_split(root, "test", max_scans=n_test_volumes, **common)
    meta = [(f"{test.unit(i)}:{i}", test.unit(i), "SKM-TEA") for i in range(len(test))]
    text = (f"SKM-TEA raw-data k-space (echo {echo + 1} of 2, measured, no noise added) from "
            f"{root}: the central {slices_per_volume} readout slices of each scan, their "
            f"(ky, kz) k-space centre cropped to {image_size}x{image_size} (the whole field of "
            f"view) and PCA-compressed to {num_coils} coils; the data set's own split: "
            f"training {len(train)} slices of {n_train} scans, validation "
            f"{min(n_val, len(val))}, test {_groups_text(meta)}")  # fmt: skip
    data = ReconData(kind="user", train=train, val=val,
                     val_idx=list(range(min(n_val, len(val)))), test=test, meta=meta,
                     description=text, path=str(data_path), num_coils=num_coils)  # fmt: skip
    return data, {"train": train_labels, "val": val_labels, "test": test_labels}


def tissue_labels(tissue: np.ndarray) -> np.ndarray:
    """Hard labels ``(N, H, W)`` int64 (0 background, 1 CSF, 2 GM, 3 WM) from CSF/GM/WM
    probabilities ``(N, 3, H, W)``: the most probable of the three tissues and of background
    (one minus their sum)."""
    t = np.asarray(tissue, dtype=np.float32)
    if t.ndim != 4 or t.shape[1] != 3:
        raise ValueError(f"tissue must be (N, 3, H, W), got shape {t.shape}")
    background = np.clip(1.0 - t.sum(axis=1, keepdims=True), 0.0, None)
    return np.argmax(np.concatenate([background, t], axis=1), axis=1).astype(np.int64)


def majority_map(labels: np.ndarray, classes: int = 4) -> np.ndarray:
    """The most frequent label at each pixel over ``labels`` ``(N, H, W)`` -> ``(H, W)``."""
    lab = np.asarray(labels)
    if lab.ndim != 3 or lab.shape[0] < 1:
        raise ValueError(f"labels must be (N, H, W) with N >= 1, got shape {lab.shape}")
    counts = np.stack([(lab == c).sum(axis=0) for c in range(classes)])
    return np.argmax(counts, axis=0).astype(np.int64)


def dice_per_case(
    pred: np.ndarray, labels: np.ndarray, classes: Sequence[int] = TISSUES
) -> np.ndarray:
    """Mean Dice over ``classes`` per case ``(n,)``; a class absent from both counts as 1."""
    p, t = np.asarray(pred), np.asarray(labels)
    if p.shape != t.shape or p.ndim != 3:
        raise ValueError(f"pred and labels must both be (n, H, W), got {p.shape} and {t.shape}")
    scores = []
    for c in classes:
        a, b = p == c, t == c
        inter = (a & b).sum(axis=(1, 2))
        total = a.sum(axis=(1, 2)) + b.sum(axis=(1, 2))
        scores.append(np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 1.0))
    return np.mean(scores, axis=0)


def segmentation_loss(
    logits: torch.Tensor, labels: torch.Tensor, classes: Sequence[int] = TISSUES
) -> torch.Tensor:
    """Cross-entropy plus (1 - mean soft Dice over ``classes``)."""
    ce = F.cross_entropy(logits, labels)
    prob = logits.softmax(dim=1)
    onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    idx = list(classes)
    inter = (prob[:, idx] * onehot[:, idx]).sum(dim=(-2, -1))
    total = (prob[:, idx] + onehot[:, idx]).sum(dim=(-2, -1))
    soft = (2.0 * inter + 1.0) / (total + 1.0)
    return ce + (1.0 - soft.mean())


def multitask_loss(
    labels: torch.Tensor, *, recon_weight: float, seg_weight: float,
    classes: Sequence[int] = TISSUES,
) -> Callable[[nn.Module, ReconBatch], torch.Tensor]:  # fmt: skip
    """``loss(model, batch)`` for a
    :class:`~mricompendium.models.reconstruction.multitask.ReconSeg`: ``recon_weight`` x the
    protocol's magnitude L1 (normalised units) + ``seg_weight`` x :func:`segmentation_loss` of
    its segmenter on the reconstruction, the labels looked up by the batch's case indices in
    ``labels`` ``(N, H, W)``. ``recon_weight=0``: the sequential pipeline's second stage
    (segmentation only); ``classes``: the foreground labels of the soft Dice."""
    if recon_weight < 0 or seg_weight < 0 or recon_weight + seg_weight == 0:
        raise ValueError(f"weights must be >= 0, not both 0: {recon_weight}, {seg_weight}")
    lab = torch.as_tensor(labels, dtype=torch.int64)

    def loss(model: nn.Module, batch: ReconBatch) -> torch.Tensor:
        pred = predict(model, batch, normalised=True)
        target = lab[batch.indices.cpu()].to(pred.device)
        total = seg_weight * segmentation_loss(model.segmenter(pred), target, classes)
        if recon_weight > 0:
            ref = batch.target_abs / input_scale(batch).view(-1, 1, 1).to(pred.real.dtype)
            total = total + recon_weight * (pred.abs() - ref).abs().mean()
        return total

    return loss


def _dice_extra(
    segment: Callable[[torch.Tensor], np.ndarray] | np.ndarray, labels: np.ndarray,
    classes: Sequence[int] = TISSUES,
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]:  # fmt: skip
    def extra(pred: np.ndarray, target: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
        if callable(segment):
            seg = segment(torch.from_numpy(np.ascontiguousarray(pred)))
        else:
            seg = np.broadcast_to(segment, pred.shape)
        empty = ~np.isin(seg, classes).any(axis=(1, 2))
        return {"dice": dice_per_case(seg, labels, classes), "degenerate": empty.astype(np.float64)}

    return extra


def _segment_fn(segmenter: nn.Module) -> Callable[[torch.Tensor], np.ndarray]:
    def run(mag: torch.Tensor) -> np.ndarray:
        p = next(segmenter.parameters())
        with torch.no_grad():
            return segmenter(mag.to(p.device, p.dtype)).argmax(dim=1).cpu().numpy()

    return run


def reconseg_rows(
    method: nn.Module | Method,
    name: str,
    settings: Sequence[TestSetting],
    labels: np.ndarray | None,
    *,
    segment: nn.Module | np.ndarray | None = None,
    train_seed: int = -1,
    budget: int = 0,
    batch_size: int = 8,
    classes: Sequence[int] = TISSUES,
) -> list[dict[str, Any]]:
    """Per-case rows of the protocol's metrics plus ``dice`` and ``degenerate``.

    Args:
        method: a model (its reconstruction) or an untrained method ``f(batch) -> image``.
        name, train_seed, budget: the row keys.
        settings: where to evaluate; each setting's ``indices`` (default all) index ``labels``.
        labels: ``(N, H, W)`` labels of the test source's cases; ``None``: data without labels,
            the reconstruction's rows alone (no segmenter is run).
        segment: the segmenter applied to the reconstructed magnitude (default
            ``method.segmenter``), or a fixed label map ``(H, W)`` (an atlas).
        classes: the foreground labels the Dice averages over.
    """
    fn = None
    if labels is not None:
        seg = method.segmenter if segment is None else segment
        fn = _segment_fn(seg) if isinstance(seg, nn.Module) else np.asarray(seg)
    rows = []
    for t in settings:
        idx = list(range(len(t.source))) if t.indices is None else [int(i) for i in t.indices]
        extra = None if fn is None else _dice_extra(fn, np.asarray(labels)[idx], classes)
        ev = evaluate(method, t.source, t.sampling, t.meta, seed=t.seed, name=name,
                      train_seed=train_seed, budget=budget, setting=t.label, indices=idx,
                      batch_size=batch_size, extra=extra)  # fmt: skip
        rows += ev.rows
    return rows


def dice_validation(
    source: Any,
    samplings: Sequence[Sampling | str],
    labels: np.ndarray,
    *,
    seed: int,
    indices: Sequence[int] | None = None,
    classes: Sequence[int] = TISSUES,
) -> Callable[[nn.Module], float]:
    """``fn(model) -> mean Dice`` of the model's segmenter over validation cases and settings."""
    idx = list(range(len(source))) if indices is None else [int(i) for i in indices]
    meta = [(str(i), str(i), "val") for i in range(len(source))]
    settings = [TestSetting(str(s), source, s, meta, seed, idx) for s in samplings]

    def fn(model: nn.Module) -> float:
        rows = reconseg_rows(model, "val", settings, labels, classes=classes)
        return float(np.mean([r["dice"] for r in rows]))

    return fn


@dataclass
class Staged(Trained):
    """:class:`~.study.Trained` plus each seed's model at half budget (``halves``)."""

    halves: dict[int, nn.Module] = field(default_factory=dict)


def train_over_seeds(
    label: str,
    build: Callable[[int], nn.Module],
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    seeds: Sequence[int],
    steps: int,
    batch_size: int,
    lr: float,
    val_fn: Callable[[nn.Module], float],
    val_metric: str,
    val_every: int,
    rows: Callable[[nn.Module, int, int], list[dict[str, Any]]] | None = None,
    half_budget: bool = True,
    budget: int | None = None,
    **setup: Any,
) -> Staged:
    """Train ``build(seed)`` (built after seeding, so two stages built alike start alike)
    once per seed under :func:`~.protocol.train_model`'s rule, with a validation curve.

    Args:
        label: the method's name in curves.
        build: ``seed -> module`` (a registry network, a :class:`ReconSeg`, ...).
        source, samplings, steps, batch_size, lr: the training data and budget.
        val_fn, val_metric, val_every: validation along training (the curve's metric).
        rows: ``(model, seed, budget) -> rows`` evaluated at full (and half) budget.
        half_budget: keep (and evaluate with ``rows``) the model at ``steps // 2``.
        budget: the ``budget`` written in rows (default ``steps``; a second stage may report
            the budget per network it shares with its first stage).
        setup: more :func:`~.protocol.fit_setup` arguments (``loss``, ``device``,
            ``indices``, ``mask_pool``, ``scheduler``, ...).
    """
    out = Staged(label)
    half = steps // 2
    shown = steps if budget is None else budget
    for seed in seeds:
        training.seed_everything(seed)
        module = build(seed)
        snap = {half: lambda m: copy.deepcopy(m).eval()} if half_budget and half >= 1 else None
        model, hist = train_model(module, source, samplings, seed=seed, steps=steps,
                                  batch_size=batch_size, lr=lr, val_fn=val_fn,
                                  val_every=val_every, on_step=snap, method=label,
                                  **setup)  # fmt: skip
        out.models[seed], out.histories[seed] = model, hist
        out.curves.append(claims.Curve.from_history(label, seed, hist, val_metric=val_metric))
        if snap:
            out.halves[seed] = hist.snapshots[half]
        if rows is not None:
            out.rows += rows(model, seed, shown)
            if snap:
                out.rows += rows(out.halves[seed], seed, shown // 2)
    return out
