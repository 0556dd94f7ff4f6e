"""Robustness of a reconstruction to transformed objects and to adversarial k-space (S62).

- **Transformed test cases** (:func:`transformed_source`, :class:`TransformFamily`,
  :func:`family_settings`): each test object is rotated, shifted, flipped or cut on its object
  grid (:mod:`mricompendium.data.recon.transforms`) and measured again by a simulator with the
  same seeds as the clean one, so a case keeps its phase, coil geometry, noise and mask: only the
  object changes.
- **Worst case per test case** (:func:`worst_case`): over a family of settings (the clean one and
  every transform of the family), the setting where a method does worst on that case; the
  search is made for each method, seed and case separately (the adversary adapts to the model).
- **Adversarial k-space** (:func:`pgd_kspace`, :func:`pgd_method`): projected gradient ascent of
  the reconstruction's L1 error over a perturbation of the sampled k-space whose norm is at most
  ``epsilon`` times the norm of the measured data (per case; the coil maps stay those estimated
  from the unperturbed data).
- **Robustness-aware training** (:class:`AdversarialL1`): the protocol's L1 loss averaged over
  the clean batch and its PGD-perturbed version (Madry et al., ICLR 2018, in the mixed form of
  Goodfellow et al., ICLR 2015); the spatial-transform half is data augmentation
  (:func:`~mricompendium.data.recon.transforms.augment_cases`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn

from mricompendium.data.recon import CaseSet, KspaceSimulator, ReconBatch
from mricompendium.data.recon.transforms import Transform, transform_cases
from mricompendium.experiments.reconstruction.protocol import Method, magnitude_l1, predict
from mricompendium.experiments.reconstruction.study import TestSetting
from mricompendium.physics.masks import Sampling

__all__ = [
    "AdversarialL1",
    "TransformFamily",
    "family_settings",
    "pgd_kspace",
    "pgd_method",
    "transformed_source",
    "worst_case",
]

KEYS = ["method", "seed", "budget", "case"]


def transformed_source(
    sim: KspaceSimulator, cases: CaseSet, transform: Transform | Sequence[Transform]
) -> KspaceSimulator:
    """A simulator of ``cases`` transformed on the object grid, with every setting and seed of
    ``sim`` (the simulator of the untransformed ``cases``): case ``i`` keeps its phase, coil
    geometry, noise and mask."""
    if len(cases) != len(sim):
        raise ValueError(f"{len(cases)} cases for a simulator of {len(sim)}")
    t = transform_cases(cases, transform)
    return KspaceSimulator(t.objects, t.masks, num_coils=sim.num_coils, snr=sim.snr,
                           seed=sim.seed, max_phase=sim.max_phase, vary_coils=sim.vary_coils,
                           radius_range=sim.radius_range, device=sim.device)  # fmt: skip


@dataclass(frozen=True)
class TransformFamily:
    """Transforms of one kind searched together for the worst case (``name``: the kind)."""

    name: str
    transforms: tuple[Transform, ...]

    def labels(self) -> list[str]:
        """The setting label of each transform: ``"<name>: <transform label>"``."""
        return [f"{self.name}: {t.label}" for t in self.transforms]


def family_settings(
    family: TransformFamily,
    sim: KspaceSimulator,
    cases: CaseSet,
    sampling: Sampling | str,
    meta: Sequence[tuple[str, str, str]],
    seed: int,
) -> list[TestSetting]:
    """One :class:`TestSetting` per transform of ``family``, the test data seeded as ``seed``."""
    return [
        TestSetting(label, transformed_source(sim, cases, t), sampling, meta, seed)
        for label, t in zip(family.labels(), family.transforms, strict=True)
    ]


def worst_case(
    df: pd.DataFrame,
    settings: Sequence[str],
    label: str,
    *,
    metric: str = "ssim_brain",
    higher_is_better: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each (method, seed, budget, case)'s worst row over ``settings``, as setting ``label``.

    Returns:
        ``(rows, which)``: the worst rows (every column of ``df``, ``setting`` = ``label``), and
        the keys with the setting each came from (column ``worst``).

    Raises:
        ValueError: a (method, seed, budget, case) lacks one of the settings (the search would
            be over fewer transforms for it).
    """
    rows = df[df["setting"].isin(settings)]
    counts = rows.groupby(KEYS)["setting"].nunique()
    short = counts[counts < len(set(settings))]
    if rows.empty or len(short):
        where = short.index[0] if len(short) else "every method"
        raise ValueError(f"worst case over {len(set(settings))} settings: {where} lacks some")
    pick = (
        rows.groupby(KEYS)[metric].idxmin()
        if higher_is_better
        else rows.groupby(KEYS)[metric].idxmax()
    )
    worst = rows.loc[pick.to_numpy()]
    which = worst[KEYS].assign(worst=worst["setting"].to_numpy()).reset_index(drop=True)
    return worst.assign(setting=label).reset_index(drop=True), which


def _case_norm(x: torch.Tensor) -> torch.Tensor:
    return x.abs().square().flatten(1).sum(dim=1).sqrt().view(-1, *([1] * (x.dim() - 1)))


def pgd_kspace(model: nn.Module, batch: ReconBatch, *, epsilon: float, steps: int) -> ReconBatch:
    """The batch with an adversarial perturbation of its sampled k-space (L2 PGD).

    The perturbation ``delta`` lives on the sampled positions; ``||delta|| <= epsilon ||y||`` per
    case; each of ``steps`` steps moves it by ``2.5 epsilon ||y|| / steps`` along the normalised
    gradient of the summed L1 error of ``|model output|`` to ``|target|`` and projects it back
    (Madry et al., ICLR 2018). Gradients are taken with respect to ``delta`` only.

    Args:
        model: a registry network (run through :func:`~.protocol.predict`).
        batch: Cartesian data.
        epsilon: perturbation norm relative to the measured data's norm, >= 0.
        steps: ascent steps, >= 1.
    """
    if batch.mask is None:
        raise ValueError("pgd_kspace needs Cartesian data (a mask)")
    if not epsilon >= 0 or steps < 1:
        raise ValueError(f"need epsilon >= 0 and steps >= 1, got {epsilon}, {steps}")
    y = batch.kspace.detach()
    mask = batch.mask.to(y.real.dtype)
    radius = epsilon * _case_norm(y)
    delta = torch.zeros_like(y)
    if epsilon == 0:
        return batch
    target = batch.target_abs.detach()
    with torch.enable_grad():
        for _ in range(steps):
            delta = delta.detach().requires_grad_(True)
            out = predict(model, dataclasses.replace(batch, kspace=y + delta * mask))
            loss = (out.abs() - target).abs().sum()
            (grad,) = torch.autograd.grad(loss, delta)
            grad = grad * mask
            step = 2.5 * radius / steps * grad / _case_norm(grad).clamp_min(1e-30)
            delta = delta.detach() + step
            delta = delta * (radius / _case_norm(delta).clamp_min(1e-30)).clamp(max=1.0)
    return dataclasses.replace(batch, kspace=y + delta.detach() * mask)


def pgd_method(model: nn.Module, *, epsilon: float, steps: int) -> Method:
    """``model``'s reconstruction of each batch after :func:`pgd_kspace` (for ``evaluate``)."""

    def run(batch: ReconBatch) -> torch.Tensor:
        attacked = pgd_kspace(model, batch, epsilon=epsilon, steps=steps)
        with torch.no_grad():
            return predict(model, attacked)

    return run


class AdversarialL1(nn.Module):
    """Robustness-aware loss: ``(1 - w) L1(clean) + w L1(PGD-perturbed)`` for ``train_model``.

    Args:
        epsilon: the training attack's norm relative to the data's (see :func:`pgd_kspace`).
        steps: its ascent steps (1: a normalised gradient step to the ball's surface).
        weight: ``w``, the adversarial share of the loss.
    """

    def __init__(self, *, epsilon: float, steps: int = 1, weight: float = 0.5) -> None:
        super().__init__()
        if not epsilon > 0 or steps < 1 or not 0 < weight <= 1:
            raise ValueError(f"need epsilon > 0, steps >= 1, weight in (0, 1]: got {epsilon}, "
                             f"{steps}, {weight}")  # fmt: skip
        self.epsilon, self.steps, self.weight = float(epsilon), int(steps), float(weight)

    def forward(self, model: nn.Module, batch: ReconBatch) -> torch.Tensor:
        attacked = pgd_kspace(model, batch, epsilon=self.epsilon, steps=self.steps)
        adv = magnitude_l1(model, attacked)
        if self.weight == 1:
            return adv
        return (1 - self.weight) * magnitude_l1(model, batch) + self.weight * adv

    def describe(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "steps": self.steps, "weight": self.weight}
