"""Label-scarce training: a few fully sampled subjects, the rest undersampled only.

A :class:`Regime` says what a method does with the two kinds of training data, and
:func:`regime_training` turns it into the ``loss`` and ``stream`` of
:func:`~mricompendium.experiments.reconstruction.study.train_seeds`:

- **labelled** subjects (fully sampled, so a reference exists) give the supervised magnitude L1
  (:func:`~.protocol.magnitude_l1`), on the acquired data or on an augmented copy: physics
  augmentation (a :class:`~mricompendium.data.recon.perturbed.PerturbationRange`: noise, shot
  phase errors; "Supervised+Aug") or image-domain augmentation (:func:`dihedral`, exact flips and
  transposes of the whole acquisition; MRAugment-style, Fabian et al., NeurIPS 2021);
- **undersampled-only** subjects give no reference; they add a consistency loss between the
  reconstruction of their acquired data (a pseudo-label, no gradient) and of a perturbed copy
  (:func:`consistency_l1`): VORTEX (Desai et al., MIDL 2022) with physics perturbations (noise
  and motion), Noise2Recon (Desai et al., 2021) with noise; or the SSDU loss (Yaman et al., MRM
  2020, :func:`ssdu_loss`): the acquired samples are split into an input set and a held-out set
  the reconstruction must predict.

Subjects are the unit a data set is split by (:func:`label_split`): never slices, so a labelled
subject's slices never appear as undersampled-only ones. The embedded MNI slices all come from
one template; :func:`template_subjects` groups them into blocks of neighbouring axial positions,
which stand in for subjects without being independent ones.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from mricompendium.data import load_slices
from mricompendium.data.build import CYCLE_MM, Z_START
from mricompendium.data.recon import ReconBatch, batch_fn
from mricompendium.data.recon.perturbed import PerturbationRange, perturb_batch
from mricompendium.experiments.reconstruction.protocol import input_scale, magnitude_l1, predict
from mricompendium.physics.coils import acs_mask, estimate_sensitivities
from mricompendium.physics.masks import Sampling
from mricompendium.physics.sense import sens_expand

__all__ = [
    "REGIMES",
    "Regime",
    "SemiBatch",
    "consistency_l1",
    "dihedral",
    "label_split",
    "regime_training",
    "ssdu_loss",
    "ssdu_split",
    "template_subjects",
    "training_subjects",
]


@dataclass(frozen=True)
class Regime:
    """What a method does with labelled and undersampled-only training subjects.

    Attributes:
        name: the method's name.
        augment: what the labelled cases get: ``"none"``, ``"physics"`` (the augmenter's
            perturbations, clean reference kept) or ``"dihedral"`` (:func:`dihedral`).
        unlabelled: the loss on undersampled-only cases: ``"none"`` (they are not used),
            ``"consistency"`` (:func:`consistency_l1` under the augmenter) or ``"ssdu"``.
        weight: weight of the unlabelled loss against the supervised one.
        ssdu_fraction: share of the acquired samples outside the calibration region held out
            by the SSDU split.
    """

    name: str
    augment: str = "none"
    unlabelled: str = "none"
    weight: float = 1.0
    ssdu_fraction: float = 0.4

    def __post_init__(self) -> None:
        if self.augment not in ("none", "physics", "dihedral"):
            raise ValueError(f"augment must be none, physics or dihedral, got {self.augment!r}")
        if self.unlabelled not in ("none", "consistency", "ssdu"):
            raise ValueError(
                f"unlabelled must be none, consistency or ssdu, got {self.unlabelled!r}"
            )
        if not self.weight >= 0 or not 0 < self.ssdu_fraction < 1:
            raise ValueError("weight must be >= 0 and ssdu_fraction in (0, 1)")

    @property
    def needs_augmenter(self) -> bool:
        return self.augment == "physics" or self.unlabelled == "consistency"

    @property
    def uses_unlabelled(self) -> bool:
        return self.unlabelled != "none"


REGIMES: dict[str, Regime] = {
    r.name: r
    for r in (
        Regime("Supervised"),
        Regime("Supervised+Aug", augment="physics"),
        Regime("Image-aug", augment="dihedral"),
        Regime("VORTEX", unlabelled="consistency"),
        Regime("Noise2Recon", unlabelled="consistency"),
        Regime("SSDU", unlabelled="ssdu"),
    )
}


def template_subjects(names: Sequence[str], *, positions_per_subject: int = 3) -> list[str]:
    """Pseudo-subjects of the embedded MNI slices: blocks of neighbouring axial positions.

    A slice named ``mni_z<z>_...`` lies in 20-mm cycle ``(z - z0) // 20`` at offset
    ``(z - z0) % 20``; offsets are grouped ``positions_per_subject`` at a time
    (``"c2b1"``: cycle 2, block 1). Every variant of a position falls in its block.
    """
    if positions_per_subject < 1:
        raise ValueError(f"positions_per_subject must be >= 1, got {positions_per_subject}")
    out = []
    for name in names:
        m = re.search(r"_z(\d+)", name)
        if m is None:
            raise ValueError(f"{name!r} does not name an axial position (_z<index>)")
        rel = int(m.group(1)) - Z_START
        out.append(f"c{rel // CYCLE_MM}b{(rel % CYCLE_MM) // positions_per_subject}")
    return out


def training_subjects(data: Any, *, positions_per_subject: int = 3) -> tuple[list[int], list[str]]:
    """The training cases of a notebook's data and the subject of each.

    Simulated data (:func:`~.datasets.simulated_data`): every training slice, its subject a
    block of neighbouring template positions (:func:`template_subjects`). A user's k-space
    (:func:`~.datasets.real_data`): the training slices outside validation, each volume one
    subject.

    Returns:
        ``(case indices of data.train, subject per case)``.
    """
    if data.kind == "simulated":
        names = load_slices("train").names
        if len(names) != len(data.train):
            raise ValueError(f"{len(data.train)} training cases but {len(names)} slice names")
        return list(range(len(names))), template_subjects(
            names, positions_per_subject=positions_per_subject
        )
    idx = data.extra.get("train_idx", list(range(len(data.train))))
    return list(idx), [data.train.unit(i) for i in idx]


def label_split(
    subjects: Sequence[str], n_labelled: int, n_unlabelled: int, *, seed: int
) -> tuple[list[int], list[int], dict[str, list[str]]]:
    """Cases of ``n_labelled`` fully sampled and ``n_unlabelled`` undersampled-only subjects.

    Subjects are drawn at random (``seed``) without replacement; every case of a subject goes
    to its side.

    Returns:
        ``(labelled case indices, undersampled-only case indices, {"labelled": subjects,
        "unlabelled": subjects})``.
    """
    order = list(dict.fromkeys(subjects))
    if n_labelled < 1 or n_unlabelled < 0 or n_labelled + n_unlabelled > len(order):
        raise ValueError(
            f"need 1 <= n_labelled and n_labelled + n_unlabelled <= {len(order)} subjects, got "
            f"{n_labelled} + {n_unlabelled}"
        )
    pick = np.random.default_rng(seed).permutation(len(order))
    lab = [order[i] for i in pick[:n_labelled]]
    unl = [order[i] for i in pick[n_labelled : n_labelled + n_unlabelled]]
    idx = {s: [i for i, x in enumerate(subjects) if x == s] for s in lab + unl}
    return ([i for s in lab for i in idx[s]], [i for s in unl for i in idx[s]],
            {"labelled": lab, "unlabelled": unl})  # fmt: skip


def _reverse(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Index reversal about ``n // 2`` (circular): ``i -> (2 (n // 2) - i) mod n``."""
    n = x.shape[dim]
    return torch.roll(torch.flip(x, [dim]), shifts=1 - n % 2, dims=[dim])


def dihedral(batch: ReconBatch, *, transpose: bool, flip_y: bool, flip_x: bool) -> ReconBatch:
    """The acquisition of the object flipped and/or transposed, exactly.

    On the centred grid, reversing an image about pixel ``n // 2`` reverses its k-space about
    the centre sample, and transposing an image transposes its k-space: k-space, mask, maps,
    reference and brain mask are transformed together, and the result is the acquisition of
    the transformed object with the transformed mask. Transposes need square 2D masks.
    """
    fields = ("kspace", "mask", "maps", "true_maps", "target", "brain_mask")
    out = {f: getattr(batch, f) for f in fields}
    if batch.mask is None:
        raise ValueError("dihedral is defined for Cartesian batches")
    if transpose:
        h, w = batch.target.shape[-2:]
        if h != w or batch.mask.shape[-2] != h:
            raise ValueError("a transpose needs square images and a 2D mask")
        out = {f: v.transpose(-2, -1) for f, v in out.items()}
    for flip, dim in ((flip_y, -2), (flip_x, -1)):
        if flip:
            out = {f: v if v.shape[dim] == 1 else _reverse(v, dim) for f, v in out.items()}
    return dataclasses.replace(batch, **out)


def consistency_l1(model: nn.Module, clean: ReconBatch, augmented: ReconBatch) -> torch.Tensor:
    """Mean ``| |f(augmented)| - |f(clean)| |`` in the clean input's normalised units.

    ``f(clean)`` is a pseudo-label: computed without gradient, as the consistency-training
    papers stop the gradient through the unperturbed branch.
    """
    with torch.no_grad():
        ref = predict(model, clean).abs()
    out = predict(model, augmented).abs()
    scale = input_scale(clean).view(-1, 1, 1).to(out.dtype)
    return ((out - ref).abs() / scale).mean()


def ssdu_split(
    batch: ReconBatch, fraction: float, generator: torch.Generator
) -> tuple[ReconBatch, torch.Tensor]:
    """Split the acquired samples into an input set and a held-out loss set, per case.

    Each sample outside the calibration region is held out with probability ``fraction``
    (uniform selection); the calibration region stays in the input, so the maps estimated from
    the input are those of the acquisition.

    Returns:
        ``(input batch with masks (B, 1, H, W), loss mask (B, 1, H, W))``.
    """
    b, _, h, w = batch.kspace.shape
    mask = batch.mask.expand(b, 1, h, w).to(batch.kspace.real.dtype)
    acs = acs_mask(batch.mask).expand(b, 1, h, w).to(mask.dtype)
    u = torch.rand(b, 1, h, w, generator=generator).to(mask.device)
    held = mask * (1 - acs) * (u < fraction).to(mask.dtype)
    keep = mask - held
    k = batch.kspace * keep
    maps = estimate_sensitivities(k, keep) if k.shape[1] > 1 else batch.maps
    return dataclasses.replace(batch, kspace=k, mask=keep, maps=maps), held


def ssdu_loss(model: nn.Module, inputs: ReconBatch, acquired: ReconBatch,
              held: torch.Tensor) -> torch.Tensor:  # fmt: skip
    """SSDU's normalised l1 + l2 loss on the held-out samples: ``|E_h x - y_h| / |y_h|``.

    ``x`` is the reconstruction of the input set, ``E_h`` the coil expansion (with the input's
    maps) on the held-out samples ``held``, ``y_h`` the acquired values there.
    """
    x = predict(model, inputs)
    pred = sens_expand(x, inputs.maps) * held
    target = acquired.kspace * held
    diff = (pred - target).flatten(1)
    ref = target.flatten(1)
    tiny = torch.finfo(diff.real.dtype).tiny
    l2 = diff.abs().square().sum(1).sqrt() / ref.abs().square().sum(1).sqrt().clamp_min(tiny)
    l1 = diff.abs().sum(1) / ref.abs().sum(1).clamp_min(tiny)
    return (l1 + l2).mean()


@dataclass
class SemiBatch:
    """One training step's data: labelled cases (maybe augmented) and undersampled-only ones.

    Attributes:
        labelled: what the supervised loss sees (augmented where the regime says so).
        unlabelled: undersampled-only cases as acquired (``None`` when unused).
        perturbed: their perturbed copy (consistency) or SSDU input set.
        held: the SSDU loss mask.
    """

    labelled: ReconBatch
    unlabelled: ReconBatch | None = None
    perturbed: ReconBatch | None = None
    held: torch.Tensor | None = None


def _seeds(gen: torch.Generator, n: int) -> list[int]:
    return torch.randint(2**31 - 1, (n,), generator=gen).tolist()


def _augment(regime: Regime, batch: ReconBatch, augmenter: PerturbationRange | None,
             gen: torch.Generator) -> ReconBatch:  # fmt: skip
    if regime.augment == "physics":
        return perturb_batch(batch, augmenter.sample(gen), _seeds(gen, len(batch)))
    if regime.augment == "dihedral":
        t, fy, fx = (torch.rand(3, generator=gen) < 0.5).tolist()
        square = batch.mask.shape[-2] == batch.mask.shape[-1] == batch.target.shape[-1]
        return dihedral(batch, transpose=bool(t and square), flip_y=bool(fy), flip_x=bool(fx))
    return batch


def regime_training(
    regime: Regime,
    source: Any,
    samplings: Sequence[Sampling | str],
    *,
    labelled: Sequence[int],
    unlabelled: Sequence[int] = (),
    augmenter: PerturbationRange | None = None,
    batch_size: int,
    unlabelled_batch_size: int | None = None,
    mask_pool: int = 8,
    device: str | torch.device = "cpu",
) -> dict[str, Callable[..., Any]]:
    """The ``loss`` and ``stream`` of :func:`~.study.train_seeds` for ``regime``.

    Each step draws ``batch_size`` labelled cases and, when the regime uses them,
    ``unlabelled_batch_size`` (default ``batch_size``) undersampled-only cases, each with its
    own setting and mask from the pools of :func:`~mricompendium.data.recon.batch_fn`;
    perturbations and SSDU splits are drawn from the step's generator.
    """
    if regime.needs_augmenter and augmenter is None:
        raise ValueError(f"{regime.name} needs an augmenter (a PerturbationRange)")
    if regime.uses_unlabelled and not unlabelled:
        raise ValueError(f"{regime.name} needs undersampled-only cases")
    if set(labelled) & set(unlabelled):
        raise ValueError("a case cannot be both labelled and undersampled-only")
    n_unl = unlabelled_batch_size or batch_size

    def stream(seed: int) -> Callable[[int, torch.Generator], SemiBatch]:
        lab = batch_fn(source, samplings, batch_size, indices=labelled, mask_pool=mask_pool,
                       seed=seed)  # fmt: skip
        unl = None
        if regime.uses_unlabelled:
            unl = batch_fn(source, samplings, n_unl, indices=unlabelled, mask_pool=mask_pool,
                           seed=seed + 7919)  # fmt: skip

        def sample(step: int, gen: torch.Generator) -> SemiBatch:
            out = SemiBatch(_augment(regime, lab(step, gen), augmenter, gen))
            if unl is not None:
                u = unl(step, gen)
                if regime.unlabelled == "consistency":
                    out.unlabelled = u
                    out.perturbed = perturb_batch(u, augmenter.sample(gen), _seeds(gen, len(u)))
                else:
                    out.unlabelled = u
                    out.perturbed, out.held = ssdu_split(u, regime.ssdu_fraction, gen)
            return out

        return sample

    def loss(model: nn.Module, batch: SemiBatch) -> torch.Tensor:
        total = magnitude_l1(model, batch.labelled.to(device))
        if regime.unlabelled == "consistency":
            total = total + regime.weight * consistency_l1(
                model, batch.unlabelled.to(device), batch.perturbed.to(device)
            )
        elif regime.unlabelled == "ssdu":
            total = total + regime.weight * ssdu_loss(
                model, batch.perturbed.to(device), batch.unlabelled.to(device),
                batch.held.to(device),
            )  # fmt: skip
        return total

    return {"loss": loss, "stream": stream}
