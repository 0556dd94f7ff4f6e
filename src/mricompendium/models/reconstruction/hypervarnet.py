"""An unrolled network whose data consistency and regulariser are set by a hypernetwork.

Inference-stage denoising (S06, "Inference Stage Denoising for Undersampled MRI Reconstruction",
ISBI 2024): a conditional hyperparameter network drives the data-consistency module of an
unrolled reconstruction, so that one network trained without noise can be set, at inference, for
the noise level of the data. The hypernetwork idea follows HyperRecon (Wang, Dalca et al.,
"Regularization-agnostic compressed sensing MRI reconstruction with hypernetworks", 2021): a
small MLP maps the hyperparameter ``alpha`` to weights of the reconstruction network. The paper's
exact architecture is not stated in its abstract; this is one faithful reading of it.

Each of ``T`` cascades is a gradient step on the data term and a learned regulariser,

    x <- x - eta_t(alpha) * s * A^H (A x - y) - G_t(x; gamma_t(alpha), beta_t(alpha)),

with ``A = M F S`` the SENSE operator, ``s`` a test-time scale of the data-consistency step
(``dc_scale``, 1 in training), ``G_t`` a CNN whose hidden features are modulated (FiLM: ``gamma
h + beta`` per channel) by the hypernetwork's output, and ``eta_t = softplus(.)`` positive.
``conditioned=False`` drops the hypernetwork: the same unrolled network with learned constant
steps and no modulation (the fixed baseline), which keeps ``dc_scale`` as its test-time knob.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.reconstruction.blocks import check_positive, check_recon_inputs
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import SenseOp

__all__ = ["FiLMConvNet", "HyperVarNet"]


class FiLMConvNet(nn.Module):
    """A CNN on complex images whose hidden features can be scaled and shifted per channel.

    ``depth`` 3x3 convolutions (complex image as 2 channels in and out, ``hidden`` channels in
    between), ReLU after each hidden one; before each ReLU the features ``h`` become ``gamma h +
    beta`` when a modulation is given.

    Args:
        hidden: hidden channels.
        depth: convolutions (>= 2).
    """

    def __init__(self, *, hidden: int = 16, depth: int = 4) -> None:
        super().__init__()
        check_positive(hidden=hidden, depth=depth)
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        chans = [2] + [hidden] * (depth - 1) + [2]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        self.hidden, self.depth = hidden, depth

    @property
    def num_modulations(self) -> int:
        """Values a modulation holds: ``gamma`` and ``beta`` for each hidden layer's channels."""
        return 2 * self.hidden * (self.depth - 1)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor | None = None) -> torch.Tensor:
        """Complex ``(B, H, W)`` -> complex ``(B, H, W)``; ``modulation`` ``(B,
        num_modulations)`` (``None``: gamma 1, beta 0)."""
        h = complex_to_channels(x)
        mods = None
        if modulation is not None:
            mods = modulation.view(len(x), self.depth - 1, 2, self.hidden, 1, 1)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i < self.depth - 1:
                if mods is not None:
                    h = (1 + mods[:, i, 0]) * h + mods[:, i, 1]
                h = F.relu(h)
        return channels_to_complex(h)


class HyperVarNet(nn.Module):
    """Unrolled gradient network with hyperparameter-generated DC steps and FiLM (S06).

    Args:
        num_cascades: unrolled steps T.
        hidden: channels of each regulariser CNN.
        depth: convolutions of each regulariser CNN.
        hyper_hidden: width of the hypernetwork MLP (two hidden layers).
        conditioned: with the hypernetwork (False: the fixed network, no ``alpha``).
    """

    def __init__(
        self,
        *,
        num_cascades: int = 4,
        hidden: int = 16,
        depth: int = 4,
        hyper_hidden: int = 16,
        conditioned: bool = True,
    ) -> None:
        super().__init__()
        check_positive(num_cascades=num_cascades, hyper_hidden=hyper_hidden)
        self.regularisers = nn.ModuleList(
            FiLMConvNet(hidden=hidden, depth=depth) for _ in range(num_cascades)
        )
        self.step_logits = nn.Parameter(torch.full((num_cascades,), 0.5413))  # softplus -> 1
        self.conditioned = conditioned
        self.hyper: nn.Sequential | None = None
        if conditioned:
            per = 1 + self.regularisers[0].num_modulations  # a step offset and a modulation
            self.hyper = nn.Sequential(
                nn.Linear(1, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, hyper_hidden),
                nn.ReLU(), nn.Linear(hyper_hidden, num_cascades * per),
            )  # fmt: skip
            last = self.hyper[-1]
            nn.init.zeros_(last.weight)  # starts as the fixed network, whatever alpha
            nn.init.zeros_(last.bias)

    def _conditions(
        self, alpha: torch.Tensor | float | None, b: int, ref: torch.Tensor
    ) -> tuple[torch.Tensor, list[torch.Tensor | None]]:
        """Steps ``(B, T)`` and one modulation per cascade (or ``None``)."""
        t = len(self.regularisers)
        steps = self.step_logits.expand(b, t)
        if self.hyper is None:
            return F.softplus(steps), [None] * t
        a = torch.as_tensor(0.0 if alpha is None else alpha, dtype=ref.dtype, device=ref.device)
        out = self.hyper(a.reshape(-1, 1).expand(b, 1)).view(b, t, -1)
        return F.softplus(steps + out[..., 0]), [out[:, i, 1:] for i in range(t)]

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor,
        *,
        alpha: torch.Tensor | float | None = None,
        dc_scale: torch.Tensor | float = 1.0,
    ) -> torch.Tensor:
        """Reconstruct a complex image.

        Args:
            kspace: masked coil k-space, complex ``(B, C, H, W)``.
            mask: 0/1 mask ``(B or 1, 1, 1 or H, W)``.
            maps: coil maps ``(B, C, H, W)``.
            alpha: the hyperparameter, a float or ``(B,)`` (``None``: 0); ignored by the fixed
                network.
            dc_scale: test-time factor on every data-consistency step, a float or ``(B,)``.

        Returns:
            complex ``(B, H, W)``.
        """
        check_recon_inputs(kspace, mask, maps, require_maps=True, name="HyperVarNet")
        b = len(kspace)
        op = SenseOp(maps, mask.to(kspace.real.dtype))
        x = op.A_adjoint(kspace)
        steps, mods = self._conditions(alpha, b, x.real)
        scale = torch.as_tensor(dc_scale, dtype=x.real.dtype, device=x.device).reshape(-1)
        steps = steps * scale.expand(b)[:, None]
        for t, reg in enumerate(self.regularisers):
            grad = op.A_adjoint(op.A(x) - kspace)
            x = x - steps[:, t, None, None] * grad - reg(x, mods[t])
        return x
