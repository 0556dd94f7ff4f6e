"""Recurrent Variational Network (Yiasemis et al., CVPR 2022).

A k-space unrolled gradient scheme whose regulariser is a convolutional GRU that carries its hidden
state from one step to the next, started by a learned Recurrent State Initialiser (RSI)::

    k_0 = y,   h_0 = RSI(x_SENSE)
    w_t, h_{t+1} = H_t(R F^-1 k_t, h_t)
    k_{t+1} = k_t - alpha_t M (k_t - y) + F E w_t

with ``E`` / ``R`` the SENSE expand / reduce operators (coil maps), ``M`` the mask and ``alpha_t`` a
learned step size. The reconstruction is ``R F^-1 k_T``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.reconstruction.blocks import soft_dc
from mricompendium.models.reconstruction.recurrent import (
    ConvRNNStack,
    check_kspace_and_mask,
    resolve_maps,
)
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import sens_expand, sens_reduce

__all__ = ["RecurrentInit", "RecurrentVarNet", "RecurrentVarNetBlock"]


class RecurrentInit(nn.Module):
    """Recurrent State Initialiser: dilated convolutions -> one initial hidden state per layer.

    Real ``(B, in_chans, H, W)`` -> ``num_layers`` tensors ``(B, hidden, H, W)`` (ReLU outputs).
    With ``multiscale_depth > 1`` the last ``multiscale_depth`` feature maps are concatenated
    (multi-scale context aggregation, Yu & Koltun, ICLR 2016).

    Args:
        in_chans: input channels (2 for a complex image).
        hidden: hidden channels of the recurrent unit to initialise.
        num_layers: recurrent layers, i.e. number of states to produce.
        channels: channels of the successive 3x3 dilated convolutions.
        dilations: their dilations (same length as ``channels``).
        multiscale_depth: how many of the last feature maps feed the output 1x1 convolutions.
    """

    def __init__(
        self,
        *,
        in_chans: int,
        hidden: int,
        num_layers: int,
        channels: tuple[int, ...] = (8, 8, 16, 16),
        dilations: tuple[int, ...] = (1, 1, 2, 4),
        multiscale_depth: int = 1,
    ) -> None:
        super().__init__()
        if len(channels) != len(dilations) or len(channels) == 0:
            raise ValueError("channels and dilations must be non-empty and of equal length")
        if not 1 <= multiscale_depth <= len(channels):
            raise ValueError(f"multiscale_depth must be in [1, {len(channels)}]")
        self.multiscale_depth = multiscale_depth
        self.convs = nn.ModuleList()
        prev = in_chans
        for ch, d in zip(channels, dilations, strict=True):
            self.convs.append(
                nn.Conv2d(prev, ch, 3, padding=d, dilation=d, padding_mode="replicate")
            )
            prev = ch
        n_feat = sum(channels[-multiscale_depth:])
        self.heads = nn.ModuleList(nn.Conv2d(n_feat, hidden, 1) for _ in range(num_layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for conv in self.convs:
            x = F.relu(conv(x))
            features.append(x)
        x = torch.cat(features[-self.multiscale_depth :], dim=1)
        return [F.relu(head(x)) for head in self.heads]


class RecurrentVarNetBlock(nn.Module):
    """One step ``k <- k - alpha M (k - y) + F E w`` with ``w, h = ConvGRU(R F^-1 k, h)``.

    Args:
        hidden: channels of the ConvGRU unit.
        num_layers: (conv, GRU) pairs in the unit.
    """

    def __init__(self, *, hidden: int, num_layers: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(1.0))
        self.regulariser = ConvRNNStack(
            in_chans=2, out_chans=2, hidden=hidden, num_layers=num_layers, cell="gru"
        )

    def forward(
        self,
        k: torch.Tensor,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor,
        state: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Current k-space ``k`` and measured ``kspace`` (complex ``(B, C, H, W)``), mask, maps and
        recurrent state -> next k-space and state."""
        w, state = self.regulariser(complex_to_channels(sens_reduce(k, maps)), state)
        w = channels_to_complex(w.to(k.real.dtype))  # float32 again under autocast
        k_next = k - soft_dc(k, kspace, mask, self.alpha) + sens_expand(w, maps)
        return k_next, state


class RecurrentVarNet(nn.Module):
    """Recurrent Variational Network (Yiasemis et al., "Recurrent Variational Network: A Deep
    Learning Inverse Problem Solver applied to the task of Accelerated MRI Reconstruction",
    CVPR 2022, arXiv 2111.09639).

    ``num_steps`` :class:`RecurrentVarNetBlock` steps in k-space (separate weights per step unless
    ``shared_weights``), with the ConvGRU hidden state carried across steps and initialised by
    :class:`RecurrentInit` from the SENSE image ``R F^-1 y`` (``learned_init=False``: zeros). The
    RSI reads the image, where the hidden states live (the authors' DIRECT code feeds it the
    image's k-space instead).

    Coil maps: when ``maps`` is None, multi-coil maps are estimated inside the forward pass by
    :func:`~mricompendium.physics.coils.estimate_sensitivities` (ACS low-resolution coil images
    over their root-sum-of-squares, not learned); the paper learns them with a sensitivity U-Net.

    Paper scale (the authors' Calgary-Campinas configuration): 8 steps, ConvGRU with 128 hidden
    channels and 4 layers, RSI with channels (32, 32, 64, 64), dilations (1, 1, 2, 4), multi-scale
    depth 3, learned sensitivity maps.

    Args:
        num_steps: number of steps ``T``.
        hidden: ConvGRU hidden channels.
        num_layers: ConvGRU (conv, GRU) pairs.
        shared_weights: one block for all steps if True.
        learned_init: use the RSI for ``h_0`` (else zeros).
        init_channels: RSI convolution channels.
        init_dilations: RSI dilations.
        init_multiscale: RSI multi-scale depth.
    """

    def __init__(
        self,
        *,
        num_steps: int = 4,
        hidden: int = 16,
        num_layers: int = 2,
        shared_weights: bool = False,
        learned_init: bool = True,
        init_channels: tuple[int, ...] = (8, 8, 16, 16),
        init_dilations: tuple[int, ...] = (1, 1, 2, 4),
        init_multiscale: int = 1,
    ) -> None:
        super().__init__()
        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
        self.num_steps, self.shared_weights = num_steps, shared_weights
        self.blocks = nn.ModuleList(
            RecurrentVarNetBlock(hidden=hidden, num_layers=num_layers)
            for _ in range(1 if shared_weights else num_steps)
        )
        self.initialiser = (
            RecurrentInit(
                in_chans=2,
                hidden=hidden,
                num_layers=num_layers,
                channels=init_channels,
                dilations=init_dilations,
                multiscale_depth=init_multiscale,
            )
            if learned_init
            else None
        )

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
        *,
        return_all: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Masked k-space ``(B, C, H, W)`` -> image ``(B, H, W)`` (complex).

        ``maps`` None: ones for single-coil, estimated from the ACS for multi-coil. With
        ``return_all=True`` returns the ``T`` images ``R F^-1 k_t``, t = 1..T.
        """
        check_kspace_and_mask(kspace, mask, "RecurrentVarNet")
        if maps is None:
            maps = estimate_sensitivities(kspace, mask)
        maps = resolve_maps(kspace, maps, "RecurrentVarNet")
        state = None
        if self.initialiser is not None:
            state = self.initialiser(complex_to_channels(sens_reduce(kspace, maps)))
        k, images = kspace, []
        for t in range(self.num_steps):
            k, state = self.blocks[0 if self.shared_weights else t](k, kspace, mask, maps, state)
            images.append(sens_reduce(k, maps))
        return images if return_all else images[-1]
