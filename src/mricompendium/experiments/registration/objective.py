"""Training objectives: a network plus the losses it is trained with (and their learned weights).

:class:`Registrator` wraps a registration network so that :func:`mricompendium.training.fit`
optimises the network *and* the learnable part of its loss (the log-variances of adaptive
weighting) together; at inference ``Registrator.forward`` is the bare network's forward, so a
loss choice never changes inference cost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.registration import (
    MSE,
    NCC,
    Grad,
    Incompressibility,
    LinearElastic,
    SoftDice,
    UncertaintyWeighting,
)
from mricompendium.models.registration.common import RegistrationOutput
from mricompendium.physics.deform import warp

__all__ = ["LossConfig", "Registrator", "loss_fn", "one_hot"]


@dataclass(frozen=True)
class LossConfig:
    """What a registration network is trained to minimise.

    ``similarity_weight * similarity(warped, fixed) + smoothness * Grad(u)
    + elastic * LinearElastic(u) + incompressibility * Incompressibility(u)
    + dice * SoftDice(warped labels, fixed labels)``;
    with ``adaptive`` the similarity and Dice weights are learned log-variances (Kendall et al.)
    started at the fixed weights, the regularisers keep theirs.

    Attributes:
        similarity: ``"ncc"`` (local squared NCC: invariant to a local affine intensity map of
            either sign, so it also serves pairs of different contrasts) or ``"mse"``.
        similarity_weight: fixed weight of the similarity term (a fixed-weight control can
            take the weights an adaptive run learned).
        ncc_window: NCC window width in voxels.
        smoothness: weight of the L2 gradient penalty.
        elastic: weight of the linear elastic strain energy (Poisson ratio ``poisson_ratio``).
        poisson_ratio: in [0, 0.5).
        incompressibility: weight of ``(log J)^2``.
        dice: weight of segmentation guidance (0: unsupervised).
        adaptive: learned weighting of similarity and Dice.
        n_labels: labels ``1..n_labels`` used by the Dice term.
    """

    similarity: str = "ncc"
    similarity_weight: float = 1.0
    ncc_window: int = 9
    smoothness: float = 1.0
    elastic: float = 0.0
    poisson_ratio: float = 0.45
    incompressibility: float = 0.0
    dice: float = 0.0
    adaptive: bool = False
    n_labels: int = 0

    def __post_init__(self) -> None:
        if self.similarity not in ("ncc", "mse"):
            raise ValueError(f"similarity must be 'ncc' or 'mse', got {self.similarity!r}")
        if self.similarity_weight <= 0:
            raise ValueError("similarity_weight must be > 0")
        for name in ("smoothness", "elastic", "incompressibility", "dice"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.dice > 0 and self.n_labels < 1:
            raise ValueError("Dice guidance needs n_labels >= 1")

    def as_dict(self) -> dict:
        return asdict(self)


def one_hot(labels: torch.Tensor, n_labels: int) -> torch.Tensor:
    """``(B, 1, *S)`` integer labels -> ``(B, n_labels, *S)`` float one-hot of labels 1..n."""
    oh = F.one_hot(labels[:, 0].long().clamp(0, n_labels), n_labels + 1)
    return oh.movedim(-1, 1)[:, 1:].float()


class Registrator(nn.Module):
    """A registration network with its training losses.

    Args:
        net: a network with ``forward(moving, fixed) -> RegistrationOutput``.
        config: the :class:`LossConfig`.
    """

    def __init__(self, net: nn.Module, config: LossConfig) -> None:
        super().__init__()
        self.net, self.config = net, config
        self.similarity = NCC(config.ncc_window) if config.similarity == "ncc" else MSE()
        self.grad = Grad()
        self.elastic = LinearElastic(config.poisson_ratio)
        self.incompress = Incompressibility("log")
        self.soft_dice = SoftDice()
        self.weighting = None
        if config.adaptive:
            names, init = ["similarity"], [config.similarity_weight]
            if config.dice > 0:
                names, init = [*names, "dice"], [*init, config.dice]
            self.weighting = UncertaintyWeighting(
                [*names, "regulariser"], [*init, 1.0], fixed=["regulariser"]
            )

    def forward(self, moving: torch.Tensor, fixed: torch.Tensor) -> RegistrationOutput:
        return self.net(moving, fixed)

    def regulariser(self, disp: torch.Tensor) -> torch.Tensor:
        c = self.config
        total = disp.new_zeros(())
        if c.smoothness > 0:
            total = total + c.smoothness * self.grad(disp)
        if c.elastic > 0:
            total = total + c.elastic * self.elastic(disp)
        if c.incompressibility > 0:
            total = total + c.incompressibility * self.incompress(disp)
        return total

    def terms(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The unweighted loss terms of one batch (``similarity``, ``dice``, ``regulariser``)."""
        out = self.net(batch["moving"], batch["fixed"])
        terms = {"similarity": self.similarity(out.warped, batch["fixed"])}
        if self.config.dice > 0:
            n = self.config.n_labels
            warped = warp(one_hot(batch["moving_labels"], n), out.disp)
            terms["dice"] = self.soft_dice(warped, one_hot(batch["fixed_labels"], n))
        terms["regulariser"] = self.regulariser(out.disp)
        return terms

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of one batch."""
        t = self.terms(batch)
        if self.weighting is not None:
            return self.weighting([t[n] for n in self.weighting.names])
        total = self.config.similarity_weight * t["similarity"] + t["regulariser"]
        return total + self.config.dice * t["dice"] if "dice" in t else total


def loss_fn(model: Registrator, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``loss_fn`` for :func:`mricompendium.training.fit`."""
    return model.loss(batch)
