"""Building blocks shared by the reconstruction networks.

* :class:`UNet`: the 2D U-Net of Ronneberger et al. (MICCAI 2015) in the form used by the fastMRI
  baselines (3x3 convolutions without bias, instance norm, LeakyReLU 0.2, average pooling, 2x2
  transposed convolutions), real tensors ``(B, Cin, H, W) -> (B, Cout, H, W)``.
* :class:`NormUNet`: a U-Net on a complex image ``(B, H, W)`` with per-channel normalisation and
  padding, as used inside E2E-VarNet (Sriram et al., MICCAI 2020).
* :class:`ConvDenoiser`: a plain stack of 3x3 convolutions with ReLU (the CNN of Schlemper et al.,
  IEEE TMI 2018).
* :func:`soft_dc` and :func:`hard_dc`: k-space data-consistency terms, and
  :class:`DataConsistency`, the image-to-image DC layer of Schlemper et al. through the coil
  k-space.

Complex images are ``(B, H, W)`` complex tensors; coil k-space is ``(B, C, H, W)`` complex; masks
are real 0/1 tensors broadcastable to the k-space.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import sens_expand, sens_reduce

__all__ = [
    "UNet",
    "NormUNet",
    "ConvDenoiser",
    "soft_dc",
    "hard_dc",
    "pad_to_multiple",
    "crop_padding",
    "check_recon_inputs",
    "check_positive",
    "DataConsistency",
]


def check_positive(**kwargs: int) -> None:
    """Raise ``ValueError`` unless every keyword value is a positive ``int``."""
    for name, value in kwargs.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def pad_to_multiple(
    x: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Zero-pad the last two dimensions of ``x`` symmetrically up to a multiple of ``multiple``.

    Returns:
        The padded tensor and the padding ``(left, right, top, bottom)`` to undo with
        :func:`crop_padding`.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    pad = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)
    if ph == 0 and pw == 0:
        return x, pad
    return F.pad(x, pad), pad


def crop_padding(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    """Undo :func:`pad_to_multiple` on the last two dimensions."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top : h - bottom, left : w - right]


class _ConvBlock(nn.Sequential):
    """Two (3x3 conv, instance norm, LeakyReLU 0.2, dropout) layers."""

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_chans, out_chans):
            layers += [
                nn.Conv2d(c_in, out_chans, kernel_size=3, padding=1, bias=False),
                nn.InstanceNorm2d(out_chans),
                nn.LeakyReLU(negative_slope=0.2, inplace=True),
                nn.Dropout2d(drop_prob),
            ]
        super().__init__(*layers)


class _UpBlock(nn.Sequential):
    """2x2 stride-2 transposed conv, instance norm, LeakyReLU 0.2: doubles H and W."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )


class UNet(nn.Module):
    """2D U-Net (Ronneberger et al., "U-Net: Convolutional Networks for Biomedical Image
    Segmentation", MICCAI 2015), in the variant of the fastMRI baseline (Zbontar et al., 2018).

    ``num_pools`` average-pool downsamplings; the channel count doubles at each level from
    ``chans``. Inputs of any height and width are zero-padded to a multiple of ``2**num_pools``
    and the output is cropped back.

    Args:
        in_chans: input channels.
        out_chans: output channels (the last 1x1 convolution has a bias, no activation).
        chans: channels at the first level.
        num_pools: number of down/up-sampling levels.
        drop_prob: dropout probability (``Dropout2d``) after each convolution.
    """

    def __init__(
        self,
        *,
        in_chans: int,
        out_chans: int,
        chans: int = 16,
        num_pools: int = 3,
        drop_prob: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive(in_chans=in_chans, out_chans=out_chans, chans=chans, num_pools=num_pools)
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must be in [0, 1), got {drop_prob}")
        self.in_chans, self.out_chans, self.num_pools = in_chans, out_chans, num_pools
        self.down = nn.ModuleList([_ConvBlock(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pools - 1):
            self.down.append(_ConvBlock(ch, 2 * ch, drop_prob))
            ch *= 2
        self.bottom = _ConvBlock(ch, 2 * ch, drop_prob)
        self.up_transpose = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for _ in range(num_pools):
            self.up_transpose.append(_UpBlock(2 * ch, ch))
            self.up_conv.append(_ConvBlock(2 * ch, ch, drop_prob))
            ch //= 2
        self.head = nn.Conv2d(chans, out_chans, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real ``(B, in_chans, H, W)`` -> real ``(B, out_chans, H, W)``."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise ValueError(f"UNet expects (B, {self.in_chans}, H, W), got shape {tuple(x.shape)}")
        x, pad = pad_to_multiple(x, 2**self.num_pools)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = self.bottom(x)
        for up, conv in zip(self.up_transpose, self.up_conv, strict=True):
            x = conv(torch.cat([up(x), skips.pop()], dim=1))
        return crop_padding(self.head(x), pad)


class NormUNet(nn.Module):
    """U-Net on a complex image with input normalisation, as in E2E-VarNet (Sriram et al., 2020).

    The complex image becomes two real channels; each channel is normalised by its own mean and
    standard deviation over (H, W), padded to a multiple of ``2**num_pools``, passed through
    :class:`UNet`, cropped and un-normalised. With ``residual``, the U-Net's output is added to
    its normalised input before un-normalising, so a zero U-Net output returns the input exactly.

    Args:
        chans: channels at the first U-Net level.
        num_pools: U-Net levels.
        drop_prob: U-Net dropout probability.
        residual: learn a correction of the input (in normalised units) instead of the image.
    """

    def __init__(
        self, *, chans: int = 16, num_pools: int = 3, drop_prob: float = 0.0, residual: bool = False
    ) -> None:
        super().__init__()
        self.num_pools = num_pools
        self.residual = residual
        self.unet = UNet(
            in_chans=2, out_chans=2, chans=chans, num_pools=num_pools, drop_prob=drop_prob
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Complex ``(B, H, W)`` -> complex ``(B, H, W)``."""
        if not torch.is_complex(x) or x.dim() != 3:
            raise ValueError(
                f"NormUNet expects a complex (B, H, W) tensor, got {x.dtype} {x.shape}"
            )
        z = complex_to_channels(x)
        mean = z.mean(dim=(-2, -1), keepdim=True)
        std = z.std(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
        z = (z - mean) / std
        padded, pad = pad_to_multiple(z, 2**self.num_pools)
        out = crop_padding(self.unet(padded), pad)
        if self.residual:
            out = out + z
        return channels_to_complex(out * std + mean)


class ConvDenoiser(nn.Sequential):
    """Plain CNN: ``depth`` 3x3 convolutions, ReLU between them, none after the last.

    The D5-C5 CNN of Schlemper et al. (IEEE TMI 2018) is ``depth=5, hidden=64``. Real tensors
    ``(B, in_chans, H, W) -> (B, out_chans, H, W)``; residual connections are left to the caller.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        hidden: channels of the hidden layers.
        depth: number of convolutions (at least 2).
    """

    def __init__(self, *, in_chans: int, out_chans: int, hidden: int = 32, depth: int = 5) -> None:
        check_positive(in_chans=in_chans, out_chans=out_chans, hidden=hidden, depth=depth)
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        layers: list[nn.Module] = [nn.Conv2d(in_chans, hidden, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(hidden, out_chans, 3, padding=1))
        super().__init__(*layers)


def soft_dc(
    k_pred: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor, weight: torch.Tensor | float
) -> torch.Tensor:
    """Soft data-consistency term ``mask * (k_pred - k0) * weight`` (to subtract from ``k_pred``).

    Args:
        k_pred: current k-space estimate, complex ``(B, C, H, W)``.
        k0: measured (masked) k-space, same shape.
        mask: 0/1 mask broadcastable to the k-space.
        weight: scalar step size (a learnable parameter or a float).
    """
    return mask.to(k_pred.real.dtype) * (k_pred - k0) * weight


def hard_dc(k_pred: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hard data consistency: sampled entries of ``k_pred`` replaced by ``k0``, others kept.

    Args:
        k_pred: current k-space estimate, complex ``(B, C, H, W)``.
        k0: measured (masked) k-space, same shape.
        mask: 0/1 mask broadcastable to the k-space.
    """
    m = mask.to(k_pred.real.dtype)
    return (1 - m) * k_pred + m * k0


def check_recon_inputs(
    kspace: torch.Tensor,
    mask: torch.Tensor,
    maps: torch.Tensor | None,
    *,
    require_maps: bool,
    name: str = "model",
) -> None:
    """Validate the common ``forward(kspace, mask, maps)`` inputs of the reconstruction models.

    Args:
        kspace: masked coil k-space, complex ``(B, C, H, W)``.
        mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)``.
        maps: coil sensitivities, complex ``(B or 1, C, H, W)``, or None.
        require_maps: raise if ``maps`` is None.
        name: model name used in the error messages.

    Raises:
        TypeError: if ``kspace`` or ``maps`` is not complex, or ``mask`` is complex.
        ValueError: on wrong dimensions, non-broadcastable mask, or missing/mis-shaped maps.
    """
    if not torch.is_complex(kspace):
        raise TypeError(f"{name}: kspace must be complex, got {kspace.dtype}")
    if kspace.dim() != 4:
        raise ValueError(f"{name}: kspace must be (B, C, H, W), got shape {tuple(kspace.shape)}")
    if torch.is_complex(mask) or mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(
            f"{name}: mask must be real (B|1, 1, 1|H, W), got {mask.dtype} {tuple(mask.shape)}"
        )
    try:
        torch.broadcast_shapes(mask.shape, kspace.shape)
    except RuntimeError as exc:
        raise ValueError(
            f"{name}: mask {tuple(mask.shape)} does not broadcast to kspace {tuple(kspace.shape)}"
        ) from exc
    if maps is None:
        if require_maps:
            raise ValueError(f"{name} needs coil sensitivity maps; pass maps=ones for single-coil")
        return
    if not torch.is_complex(maps):
        raise TypeError(f"{name}: maps must be complex, got {maps.dtype}")
    if (
        maps.dim() != 4
        or maps.shape[1:] != kspace.shape[1:]
        or maps.shape[0] not in (1, len(kspace))
    ):
        raise ValueError(
            f"{name}: maps shape {tuple(maps.shape)} must be kspace shape {tuple(kspace.shape)} "
            "(or batch 1)"
        )


class DataConsistency(nn.Module):
    """Schlemper's data-consistency layer on an image, through the coil k-space.

    ``k = E x``; on sampled entries ``k <- (k + lam * k0) / (1 + lam)``, i.e.
    ``k - w * M (k - k0)`` with ``w = lam / (1 + lam)``; then ``x <- R k``. ``lam = None`` is the
    noise-free limit ``lam -> inf`` (hard replacement).

    Args:
        lam: noise-level weight ``lambda`` (> 0), or None for hard data consistency.
        learn_lam: make ``lambda`` learnable (stored as its logarithm to stay positive).
    """

    def __init__(self, *, lam: float | None = None, learn_lam: bool = False) -> None:
        super().__init__()
        if lam is None:
            if learn_lam:
                raise ValueError("learn_lam needs a finite initial lam")
            self.register_parameter("log_lam", None)
            return
        if lam <= 0:
            raise ValueError(f"lam must be positive, got {lam}")
        log_lam = torch.tensor([math.log(lam)])
        if learn_lam:
            self.log_lam = nn.Parameter(log_lam)
        else:
            self.register_buffer("log_lam", log_lam)

    def forward(
        self, x: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor
    ) -> torch.Tensor:
        """Image ``(B, H, W)``, measured k-space, maps ``(B, C, H, W)`` -> image ``(B, H, W)``."""
        k = sens_expand(x, maps)
        if self.log_lam is None:
            return sens_reduce(hard_dc(k, k0, mask), maps)
        weight = torch.sigmoid(self.log_lam)  # lam / (1 + lam)
        return sens_reduce(k - soft_dc(k, k0, mask, weight), maps)
