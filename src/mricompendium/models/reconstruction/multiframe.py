"""Networks for multi-frame data (cine phases, or the echoes of one acquisition): 2D+t and
frame-wise variants of the E2E-VarNet cascade and of the image-domain U-Net.

Layouts (as :mod:`mricompendium.physics.kt`): coil k-space complex ``(B, C, T, H, W)``, masks
real ``(B or 1, 1, T or 1, H or 1, W)``, coil maps ``(B, C, H, W)`` (the same in every frame,
given: estimated from the time-averaged calibration data), images ``(B, T, H, W)``.

"2D+t" here means the regulariser sees every frame at once, the ``T`` complex frames stacked as
``2T`` channels of a 2D U-Net (as many CMRxRecon entries fed neighbouring phases as channels);
"frame-wise" runs a 2-channel U-Net on each frame alone (time folded into the batch).
"""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import (
    UNet,
    check_positive,
    crop_padding,
    pad_to_multiple,
    soft_dc,
)
from mricompendium.physics.fft import fft2c, ifft2c

__all__ = ["FrameNormUNet", "FrameUNet", "FrameVarNet"]


def _expand(x: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Images ``(B, T, H, W)`` -> coil k-space ``(B, C, T, H, W)`` (no mask)."""
    return fft2c(maps.unsqueeze(2) * x.unsqueeze(1))


def _reduce(k: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
    """Coil k-space ``(B, C, T, H, W)`` -> images ``(B, T, H, W)``; adjoint of :func:`_expand`."""
    return (maps.unsqueeze(2).conj() * ifft2c(k)).sum(dim=1)


class FrameNormUNet(nn.Module):
    """A U-Net on complex frames ``(B, T, H, W)`` with per-channel normalisation (as E2E-VarNet's
    NormUNet, Sriram et al., MICCAI 2020).

    Args:
        frames: T (the number of frames, fixed by the first convolution when not ``frame_wise``).
        chans: first-level U-Net channels.
        num_pools: U-Net levels.
        frame_wise: one 2-channel U-Net applied to each frame alone (time folded into the batch)
            instead of one ``2T``-channel U-Net on all frames.
        residual: add the (normalised) input to the U-Net's output.
        zero_init: start the U-Net's last (1x1) convolution at zero, so that the untrained
            network adds nothing (a residual U-Net starts as the identity, an unrolled
            cascade as data consistency alone); default off (the earlier behaviour).
    """

    def __init__(
        self, *, frames: int, chans: int, num_pools: int, frame_wise: bool = False,
        residual: bool = False, zero_init: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        check_positive(frames=frames, chans=chans, num_pools=num_pools)
        self.frames, self.frame_wise, self.residual, self.num_pools = (
            frames, frame_wise, residual, num_pools)  # fmt: skip
        io = 2 if frame_wise else 2 * frames
        self.unet = UNet(in_chans=io, out_chans=io, chans=chans, num_pools=num_pools)
        if zero_init:
            nn.init.zeros_(self.unet.head.weight)
            nn.init.zeros_(self.unet.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Complex ``(B, T, H, W)`` -> complex ``(B, T, H, W)``."""
        if not torch.is_complex(x) or x.dim() != 4 or x.shape[1] != self.frames:
            raise ValueError(f"expected complex (B, {self.frames}, H, W), got {x.dtype} {x.shape}")
        b, t, h, w = x.shape
        z = torch.view_as_real(x).permute(0, 1, 4, 2, 3).reshape(b, 2 * t, h, w)
        if self.frame_wise:
            z = z.reshape(b * t, 2, h, w)
        mean = z.mean(dim=(-2, -1), keepdim=True)
        std = z.std(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
        z = (z - mean) / std
        padded, pad = pad_to_multiple(z, 2**self.num_pools)
        out = crop_padding(self.unet(padded), pad)
        if self.residual:
            out = out + z
        out = (out * std + mean).reshape(b, t, 2, h, w).permute(0, 1, 3, 4, 2)
        return torch.view_as_complex(out.contiguous())


class FrameVarNet(nn.Module):
    """E2E-VarNet cascades on multi-frame k-space (Sriram et al., "End-to-End Variational Networks
    for Accelerated MRI Reconstruction", MICCAI 2020), the backbone of the CMRxRecon 2023 winner.

    Each cascade: ``k <- k - eta M (k - k0) - E(G(R(k)))`` with ``E``/``R`` the multi-frame
    sensitivity expand/reduce with the given maps and ``G`` a :class:`FrameNormUNet` (2D+t, or
    frame-wise). Unlike the paper, the maps are given (estimated from the time-averaged
    calibration lines), not refined by a learned sensitivity network.

    Args:
        frames: T.
        num_cascades: unrolled cascades.
        chans, pools: each cascade's U-Net.
        frame_wise: frame-wise regularisers instead of 2D+t.
        zero_init: scale each cascade's regulariser term by a learned gain that starts at zero
            (as ReZero, Bachlechner et al. 2021), so that the untrained network returns the
            zero-filled data (``num_cascades`` more parameters); default off (the earlier
            network).
    """

    def __init__(
        self, *, frames: int, num_cascades: int = 4, chans: int = 8, pools: int = 2,
        frame_wise: bool = False, zero_init: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        check_positive(num_cascades=num_cascades)
        self.regularisers = nn.ModuleList(
            FrameNormUNet(frames=frames, chans=chans, num_pools=pools, frame_wise=frame_wise)
            for _ in range(num_cascades)
        )
        self.dc_weights = nn.Parameter(torch.ones(num_cascades))
        self.reg_gains = nn.Parameter(torch.zeros(num_cascades)) if zero_init else None

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Masked k-space ``(B, C, T, H, W)``, mask, maps ``(B, C, H, W)`` -> ``(B, T, H, W)``."""
        _check(kspace, mask, maps)
        m = mask.to(kspace.real.dtype)
        k = kspace
        for i, (reg, eta) in enumerate(zip(self.regularisers, self.dc_weights, strict=True)):
            term = _expand(reg(_reduce(k, maps)), maps)
            k = k - soft_dc(k, kspace, m, eta) - (term if self.reg_gains is None
                                                  else self.reg_gains[i] * term)  # fmt: skip
        return _reduce(k, maps)


class FrameUNet(nn.Module):
    """Image-domain residual U-Net on the zero-filled SENSE-combined frames (the fastMRI
    baseline, Zbontar et al. 2018, on frames stacked as channels: the most common CMRxRecon
    backbone).

    Args:
        frames: T.
        chans, num_pools: the U-Net.
        frame_wise: one U-Net per frame instead of all frames as channels.
        zero_init: start the U-Net's last convolution at zero (the untrained network returns
            its zero-filled input); default off (the earlier network).
    """

    def __init__(
        self, *, frames: int, chans: int = 16, num_pools: int = 3, frame_wise: bool = False,
        zero_init: bool = False,
    ) -> None:  # fmt: skip
        super().__init__()
        self.net = FrameNormUNet(frames=frames, chans=chans, num_pools=num_pools,
                                 frame_wise=frame_wise, residual=True,
                                 zero_init=zero_init)  # fmt: skip

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """Masked k-space ``(B, C, T, H, W)``, mask, maps -> images ``(B, T, H, W)``."""
        _check(kspace, mask, maps)
        return self.net(_reduce(kspace, maps))


def _check(kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor) -> None:
    if not torch.is_complex(kspace) or kspace.dim() != 5:
        raise ValueError(f"kspace must be complex (B, C, T, H, W), got {kspace.dtype} "
                         f"{tuple(kspace.shape)}")  # fmt: skip
    if torch.is_complex(mask) or mask.dim() != 5:
        raise ValueError(f"mask must be real (B, 1, T, H, W)-broadcastable, got {mask.shape}")
    b, c, _, h, w = kspace.shape
    if not torch.is_complex(maps) or maps.shape[1:] != (c, h, w):
        raise ValueError(f"maps must be complex (B, {c}, {h}, {w}), got {tuple(maps.shape)}")
