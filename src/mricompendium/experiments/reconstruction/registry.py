"""The reconstruction model registry: configurations at two scales, citations, budget matching.

:data:`MODELS` maps a display name to a :class:`ModelSpec`: the network class, a small
configuration (CPU, 64x64 images, minutes of training), the paper's configuration (from each
class docstring) and a citation. :func:`build_model` instantiates one; :func:`match_budget`
sizes a model to a parameter budget by its width knob, so that comparisons about architecture
compare networks of about the same number of parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from mricompendium.models.reconstruction.cascadenet import CascadeNet
from mricompendium.models.reconstruction.hypervarnet import HyperVarNet
from mricompendium.models.reconstruction.irim import IRIM
from mricompendium.models.reconstruction.kikinet import KIKINet
from mricompendium.models.reconstruction.lpd import LPDNet
from mricompendium.models.reconstruction.reconresnet import ReconResNet
from mricompendium.models.reconstruction.recurrentvarnet import RecurrentVarNet
from mricompendium.models.reconstruction.rim import CIRIM, RIM
from mricompendium.models.reconstruction.unet import UNetRecon
from mricompendium.models.reconstruction.varnet import VarNet
from mricompendium.models.reconstruction.xpdnet import XPDNet

__all__ = ["MODELS", "ModelSpec", "build_model", "count_parameters", "match_budget"]

Width = Callable[[int, int], dict[str, Any]]  # (width, second width) -> overrides


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry.

    Attributes:
        name: display name (the registry key).
        factory: the class called with keyword hyperparameters.
        small: the CPU configuration (64x64 images, minutes of training).
        paper: the paper's configuration, as stated in the class docstring.
        citation: the paper.
        multi_step: ``forward`` accepts ``return_all=True`` (intermediate estimates).
        takes_operator: ``forward(y, op)`` (ReconResNet: any operator, radial included) instead
            of ``forward(kspace, mask, maps)``.
        notes: deviations from the paper worth stating.
        fixed: hyperparameters that define the entry (applied at both scales).
        width: ``(w, v) -> overrides``: the knob :func:`match_budget` turns (parameters grow with
            ``w``; ``v`` a second, coarse knob or ignored); ``widths`` its candidate rows.
    """

    name: str
    factory: Callable[..., nn.Module]
    small: dict[str, Any]
    paper: dict[str, Any]
    citation: str
    multi_step: bool = False
    takes_operator: bool = False
    notes: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)
    width: Width | None = None
    widths: tuple[tuple[int, ...], ...] = ((1,), tuple(range(2, 257)))

    def config(self, scale: str = "small", **overrides: Any) -> dict[str, Any]:
        """Keyword arguments at ``scale`` (``"small"`` or ``"paper"``) with ``overrides``."""
        if scale not in ("small", "paper"):
            raise ValueError(f"scale must be 'small' or 'paper', got {scale!r}")
        base = self.small if scale == "small" else self.paper
        return {**base, **self.fixed, **overrides}


_E2E = (
    "Sriram et al., End-to-End Variational Networks for Accelerated MRI Reconstruction, MICCAI 2020"
)
_CIRIM = (
    "Karkalousos et al., Assessment of data consistency through cascades of independently "
    "recurrent inference machines, Phys. Med. Biol. 67:124001, 2022"
)
_VARNET_PAPER = {"num_cascades": 12, "sens_chans": 8, "sens_pools": 4, "chans": 18, "pools": 4}
_VARNET_SMALL = {"num_cascades": 4, "sens_chans": 4, "sens_pools": 2, "chans": 8, "pools": 2}
_CIRIM_PAPER = {"num_cascades": 8, "time_steps": 8, "hidden": 64, "num_layers": 3}
_CIRIM_SMALL = {"num_cascades": 2, "time_steps": 4, "hidden": 16, "num_layers": 2}
_HYPER = (
    "S06: Inference Stage Denoising for Undersampled MRI Reconstruction, ISBI 2024 (arXiv "
    "2402.08692); hypernetwork as in Wang et al., HyperRecon, 2021"
)
_HYPER_SMALL = {"num_cascades": 4, "hidden": 16, "depth": 4, "hyper_hidden": 16}
_HYPER_NOTE = "paper architecture not in the abstract: FiLM-modulated CNN steps, MLP hypernetwork"
_SECOND = tuple(range(1, 9))  # E2E-VarNet: sensitivity-U-Net channels, XPDNet: first channels


def _rvn_width(h: int, _: int) -> dict[str, Any]:
    q = max(
        2, h // 4
    )  # the RSI scaled with the GRU in the paper's proportions (h/4, h/4, h/2, h/2)
    return {"hidden": h, "init_channels": (q, q, 2 * q, 2 * q), "init_dilations": (1, 1, 2, 4),
            "init_multiscale": 3}  # fmt: skip


def _varnet_width(c: int, s: int) -> dict[str, Any]:
    return {"chans": c, "sens_chans": s}


def _xpd_width(s: int, f: int) -> dict[str, Any]:
    return {"scale_chans": (s, 2 * s), "first_chans": min(f, s), "convs_per_scale": 1}


def _hidden(h: int, _: int) -> dict[str, Any]:
    return {"hidden": h}


_TWO_KNOBS = tuple(tuple(range(1, 129)) for _ in _SECOND)

MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        ModelSpec("U-Net", UNetRecon, small={"chans": 12, "num_pools": 3},
                  paper={"chans": 32, "num_pools": 4},
                  citation="Ronneberger et al., MICCAI 2015; fastMRI baseline, Zbontar et al., "
                  "2018",
                  width=lambda c, v: {"chans": c, "num_pools": v + 1},
                  widths=tuple(tuple(range(1, 129)) for _ in range(3))),
        ModelSpec("E2E-VarNet", VarNet, small=_VARNET_SMALL, paper=_VARNET_PAPER, citation=_E2E,
                  fixed={"explicit_dc": True}, width=_varnet_width, widths=_TWO_KNOBS),
        ModelSpec("E2E-VarNet (no DC)", VarNet, small=_VARNET_SMALL, paper=_VARNET_PAPER,
                  citation=_E2E + " (ablation without the explicit soft-DC term)",
                  fixed={"explicit_dc": False}, width=_varnet_width, widths=_TWO_KNOBS),
        ModelSpec("CascadeNet", CascadeNet, small={"num_cascades": 4, "hidden": 16, "depth": 4},
                  paper={"num_cascades": 5, "hidden": 64, "depth": 5},
                  citation="Schlemper et al., A Deep Cascade of CNNs for Dynamic MR Image "
                  "Reconstruction, IEEE TMI 2018", width=_hidden),
        ModelSpec("KIKI-Net", KIKINet,
                  small={"num_iter": 2, "k_hidden": 8, "k_depth": 3, "i_hidden": 16, "i_depth": 4},
                  paper={"num_iter": 2, "k_hidden": 32, "k_depth": 25, "i_hidden": 64,
                         "i_depth": 25},
                  citation="Eo et al., KIKI-net: cross-domain CNNs for reconstructing undersampled "
                  "MR images, MRM 2018",
                  notes="paper depth/width approximate (about 25 layers of 32-64 filters per CNN)",
                  width=lambda h, _: {"k_hidden": max(1, h // 2), "i_hidden": h}),
        ModelSpec("LPD-Net", LPDNet,
                  small={"num_iter": 3, "n_primal": 3, "n_dual": 3, "hidden": 12, "depth": 3},
                  paper={"num_iter": 10, "n_primal": 5, "n_dual": 5, "hidden": 32, "depth": 3},
                  citation="Adler & Oktem, Learned Primal-Dual Reconstruction, IEEE TMI 2018",
                  width=_hidden),
        ModelSpec("RIM", RIM, small={"time_steps": 4, "hidden": 16, "num_layers": 2},
                  paper={"time_steps": 8, "hidden": 64, "num_layers": 2},
                  citation="Putzky & Welling 2017; Lonning et al., Recurrent inference machines "
                  "for reconstructing heterogeneous MRI data, Med. Image Anal. 2019",
                  multi_step=True, width=_hidden),
        ModelSpec("i-RIM", IRIM,
                  small={"time_steps": 4, "channels": 8, "hidden": 16, "dilations": (1, 2)},
                  paper={"time_steps": 8, "channels": 64, "hidden": 64, "dilations": (1, 2, 4, 8)},
                  citation="Putzky & Welling, Invert to Learn to Invert, NeurIPS 2019; Putzky et "
                  "al., i-RIM applied to the fastMRI challenge, arXiv 1910.08952",
                  multi_step=True,
                  notes="invertible U-Nets replaced by dilated couplings; no memory-free backward",
                  width=_hidden),
        ModelSpec("CIRIM", CIRIM, small=_CIRIM_SMALL, paper=_CIRIM_PAPER, citation=_CIRIM,
                  multi_step=True, fixed={"dc": "implicit"}, width=_hidden),
        ModelSpec("CIRIM (explicit DC)", CIRIM, small=_CIRIM_SMALL, paper=_CIRIM_PAPER,
                  citation=_CIRIM + " (explicit soft-DC variant)", multi_step=True,
                  fixed={"dc": "explicit"}, width=_hidden),
        ModelSpec("RecurrentVarNet", RecurrentVarNet,
                  small={"num_steps": 4, "hidden": 16, "num_layers": 2},
                  paper={"num_steps": 8, "hidden": 128, "num_layers": 4,
                         "init_channels": (32, 32, 64, 64), "init_dilations": (1, 1, 2, 4),
                         "init_multiscale": 3},
                  citation="Yiasemis et al., Recurrent Variational Network, CVPR 2022",
                  multi_step=True,
                  notes="coil maps from the calibration region, not a learned sensitivity U-Net",
                  width=_rvn_width),
        ModelSpec("XPDNet", XPDNet,
                  small={"num_iter": 4, "num_primal": 3, "first_chans": 8, "scale_chans": (8, 16)},
                  paper={"num_iter": 25, "num_primal": 5, "first_chans": 32,
                         "scale_chans": (64, 128, 256), "convs_per_scale": 2},
                  citation="Ramzi et al., XPDNet for MRI Reconstruction: an application to the "
                  "2020 fastMRI challenge, arXiv 2010.07290",
                  multi_step=True, notes="no learned coil-map refinement", width=_xpd_width,
                  widths=_TWO_KNOBS),
        ModelSpec("ReconResNet", ReconResNet,
                  small={"chans": 16, "num_blocks": 4, "num_iterations": 2, "dropout": 0.1},
                  paper={"chans": 64, "num_blocks": 14, "num_iterations": 1, "dropout": 0.5},
                  citation="Chatterjee et al., ReconResNet: Regularised Residual Learning for MR "
                  "Image Reconstruction of Undersampled Cartesian and Radial Data, Comput. Biol. "
                  "Med. 2022",
                  takes_operator=True, width=lambda c, _: {"chans": c}),
        ModelSpec("HyperVarNet", HyperVarNet, small=_HYPER_SMALL, paper=_HYPER_SMALL,
                  citation=_HYPER, fixed={"conditioned": True}, notes=_HYPER_NOTE,
                  width=_hidden),
        ModelSpec("Unrolled CNN", HyperVarNet, small=_HYPER_SMALL, paper=_HYPER_SMALL,
                  citation="Unrolled proximal-gradient network with CNN steps, the backbone of "
                  "the consistency-training papers (meddlr's unrolled CNN; Sandino et al., IEEE "
                  "SPM 2020); HyperVarNet without its hypernetwork (S06's fixed network)",
                  fixed={"conditioned": False}, notes=_HYPER_NOTE, width=_hidden),
    )
}  # fmt: skip


def build_model(name: str, *, scale: str = "small", **overrides: Any) -> nn.Module:
    """Instantiate registry model ``name`` at ``scale`` (``"small"``/``"paper"``) + overrides."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    spec = MODELS[name]
    return spec.factory(**spec.config(scale, **overrides))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _count(name: str, overrides: dict[str, Any]) -> int:
    with torch.device("meta"):  # no memory, no initialisation
        return count_parameters(build_model(name, **overrides))


def match_budget(
    name: str, budget: int, *, fixed: dict[str, Any] | None = None
) -> tuple[dict[str, Any], int]:
    """The small configuration of ``name`` whose width puts it closest to ``budget`` parameters.

    The registry entry's width knob (:attr:`ModelSpec.width`) is turned over its candidate rows
    (each row increasing; a row stops once past the budget), on top of ``fixed`` (structure
    such as the number of steps, kept as given).

    Returns:
        ``(overrides, parameters)``: pass ``overrides`` to :func:`build_model`.
    """
    spec = MODELS.get(name)
    if spec is None:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    if spec.width is None:
        raise ValueError(f"{name} has no width knob to match a parameter budget")
    if not budget > 0:
        raise ValueError(f"budget must be positive, got {budget}")
    best: tuple[dict[str, Any], int] | None = None
    for second, row in zip(_SECOND, spec.widths, strict=False):
        for w in row:
            overrides = {**(fixed or {}), **spec.width(w, second)}
            n = _count(name, overrides)
            if best is None or abs(n - budget) < abs(best[1] - budget):
                best = (overrides, n)
            if n > budget:
                break
    assert best is not None
    return best


def budget_table(counts: dict[str, int], budget: int, tolerance: float) -> dict[str, Any]:
    """Whether parameter counts are matched: largest / smallest - 1 <= ``tolerance``."""
    ratio = max(counts.values()) / min(counts.values())
    return {"budget": budget, "parameters": dict(counts), "ratio": ratio,
            "tolerance": tolerance, "matched": ratio - 1 <= tolerance}  # fmt: skip


def paper_counts(names: Sequence[str]) -> dict[str, int]:
    """Parameters of each model at the paper's configuration (built on the meta device)."""
    with torch.device("meta"):
        return {n: count_parameters(build_model(n, scale="paper")) for n in names}
