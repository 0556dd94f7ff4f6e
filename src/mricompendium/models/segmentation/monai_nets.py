"""Thin, typed constructors of the MONAI networks that the tumour papers' own code uses.

Each function builds the MONAI class with keyword hyperparameters (defaults are small CPU sizes;
the paper's configuration is given in each docstring) and returns it unchanged, so checkpoints and
state dicts stay MONAI's. Every network returns logits ``(B, out_channels, *spatial)``:

* :func:`segresnet`, :func:`swin_unetr`, :func:`basic_unet` return a tensor;
* :func:`segresnet_vae` returns ``(logits, vae_loss)`` in train mode and ``(logits, None)`` in
  eval mode (MONAI's contract), ``vae_loss`` being the VAE branch's regulariser (KL or L2 prior
  term + input-reconstruction MSE) to be added to the segmentation loss with a weight.
"""

from __future__ import annotations

from collections.abc import Sequence

from monai.networks import nets
from torch import nn

__all__ = ["basic_unet", "n_parameters", "segresnet", "segresnet_vae", "swin_unetr"]


def n_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_io(spatial_dims: int, in_channels: int, out_channels: int) -> None:
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"channels must be >= 1, got in={in_channels}, out={out_channels}")


def segresnet(
    *,
    spatial_dims: int = 3,
    in_channels: int = 4,
    out_channels: int = 3,
    init_filters: int = 8,
    blocks_down: Sequence[int] = (1, 2, 2, 4),
    blocks_up: Sequence[int] = (1, 1, 1),
    dropout_prob: float | None = None,
) -> nets.SegResNet:
    """SegResNet: the encoder-decoder of Myronenko (BraTS 2018, arXiv:1810.11654) without the VAE.

    Paper configuration: 3D, 4 input modalities, 3 sigmoid outputs (ET, TC, WT), 32 initial
    filters, blocks (1, 2, 2, 4) down and (1, 1, 1) up, group norm (8 groups), 160x192x128 crops;
    MONAI's model-zoo bundle uses 16 initial filters.

    Input ``(B, in_channels, *spatial)`` with each spatial size divisible by 8; output logits
    ``(B, out_channels, *spatial)``.
    """
    _check_io(spatial_dims, in_channels, out_channels)
    return nets.SegResNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        init_filters=init_filters,
        blocks_down=tuple(blocks_down),
        blocks_up=tuple(blocks_up),
        dropout_prob=dropout_prob,
    )


def segresnet_vae(
    *,
    input_image_size: Sequence[int],
    spatial_dims: int = 3,
    in_channels: int = 4,
    out_channels: int = 3,
    init_filters: int = 8,
    blocks_down: Sequence[int] = (1, 2, 2, 4),
    blocks_up: Sequence[int] = (1, 1, 1),
    vae_nz: int = 128,
    vae_estimate_std: bool = True,
    dropout_prob: float | None = None,
) -> nets.SegResNetVAE:
    """SegResNet plus the variational auto-encoder branch that rebuilds the input (Myronenko 2018).

    The VAE branch starts from the encoder's deepest features, samples a latent of ``vae_nz``
    values (the paper: 128 means and 128 standard deviations, ``vae_estimate_std=True``) and
    decodes the input image; its loss (KL + reconstruction MSE, each weighted 0.1 in the paper)
    only regularises the shared encoder and is dropped at inference.

    Input ``(B, in_channels, *input_image_size)`` (the size is fixed: the latent layer is dense;
    each size divisible by 16, as the VAE branch halves the encoder's output once more).
    Output: ``(logits, vae_loss)`` in train mode, ``(logits, None)`` in eval mode.
    """
    _check_io(spatial_dims, in_channels, out_channels)
    size = tuple(int(s) for s in input_image_size)
    div = 2 ** len(blocks_down)
    if len(size) != spatial_dims or any(s % div for s in size):
        raise ValueError(
            f"input_image_size must be {spatial_dims} sizes divisible by {div}, "
            f"got {input_image_size}"
        )
    return nets.SegResNetVAE(
        input_image_size=size,
        vae_estimate_std=vae_estimate_std,
        vae_nz=vae_nz,
        spatial_dims=spatial_dims,
        init_filters=init_filters,
        in_channels=in_channels,
        out_channels=out_channels,
        dropout_prob=dropout_prob,
        blocks_down=tuple(blocks_down),
        blocks_up=tuple(blocks_up),
    )


def swin_unetr(
    *,
    spatial_dims: int = 3,
    in_channels: int = 4,
    out_channels: int = 3,
    feature_size: int = 12,
    depths: Sequence[int] = (2, 2, 2, 2),
    num_heads: Sequence[int] = (3, 6, 12, 24),
    window_size: int = 7,
    dropout_path_rate: float = 0.0,
    use_v2: bool = False,
) -> nets.SwinUNETR:
    """Swin UNETR: shifted-window transformer encoder, CNN decoder (Hatamizadeh et al. 2022).

    Paper configuration (BraTS 2021, arXiv:2201.01266, Table 1): 3D, feature size 48, depths
    (2, 2, 2, 2), heads (3, 6, 12, 24), window 7, 128^3 crops, 62 M parameters. ``feature_size``
    must be divisible by 12 (MONAI's requirement).

    Input ``(B, in_channels, *spatial)`` with each spatial size divisible by 32; output logits
    ``(B, out_channels, *spatial)``.
    """
    _check_io(spatial_dims, in_channels, out_channels)
    if feature_size % 12:
        raise ValueError(f"feature_size must be divisible by 12, got {feature_size}")
    return nets.SwinUNETR(
        in_channels=in_channels,
        out_channels=out_channels,
        feature_size=feature_size,
        depths=tuple(depths),
        num_heads=tuple(num_heads),
        window_size=window_size,
        dropout_path_rate=dropout_path_rate,
        spatial_dims=spatial_dims,
        use_v2=use_v2,
    )


def basic_unet(
    *,
    spatial_dims: int = 3,
    in_channels: int = 4,
    out_channels: int = 3,
    features: Sequence[int] = (16, 16, 32, 64, 128, 16),
) -> nets.BasicUNet:
    """A plain U-Net baseline (MONAI ``BasicUNet``: four poolings, instance norm, LeakyReLU).

    ``features`` are the six channel numbers of MONAI's BasicUNet (five encoder levels and the
    last decoder level); its default is (32, 32, 64, 128, 256, 32).

    Input ``(B, in_channels, *spatial)`` with each spatial size divisible by 16; output logits.
    """
    _check_io(spatial_dims, in_channels, out_channels)
    if len(features) != 6:
        raise ValueError(f"features must hold 6 channel numbers, got {len(features)}")
    return nets.BasicUNet(
        spatial_dims=spatial_dims,
        in_channels=in_channels,
        out_channels=out_channels,
        features=tuple(features),
    )
