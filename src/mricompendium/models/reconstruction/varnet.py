"""End-to-end variational network (E2E-VarNet).

Sriram et al., "End-to-End Variational Networks for Accelerated MRI Reconstruction", MICCAI 2020.
Each cascade updates the coil k-space as

    k <- k - eta * M (k - k0) - E(G(R(k)))

with ``E = F S`` and ``R = S^H F^-1`` the sensitivity expand/reduce operators
(:func:`sens_expand`, :func:`sens_reduce`), ``G`` a :class:`NormUNet` and ``M`` the mask. The
coil maps are estimated from the ACS (fully sampled centre) by a second NormUNet and normalised
to unit root-sum-of-squares.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from mricompendium.models.reconstruction.blocks import NormUNet, check_recon_inputs, soft_dc
from mricompendium.physics.coils import acs_mask
from mricompendium.physics.fft import ifft2c
from mricompendium.physics.sense import sens_expand, sens_reduce

__all__ = ["SensitivityModel", "VarNet", "VarNetBlock", "convert_fastmri_state_dict"]


class SensitivityModel(nn.Module):
    """Learned coil-sensitivity estimation of E2E-VarNet (Sriram et al., MICCAI 2020).

    The ACS lines of the k-space are kept (:func:`~mricompendium.physics.coils.acs_mask`, the
    fastMRI rule: the block symmetric about the centre), each coil image is refined by one shared
    :class:`NormUNet`, and the maps are divided by their root-sum-of-squares over coils.

    Args:
        chans: first-level channels of the U-Net.
        num_pools: U-Net levels.
    """

    def __init__(self, *, chans: int = 4, num_pools: int = 3) -> None:
        super().__init__()
        self.norm_unet = NormUNet(chans=chans, num_pools=num_pools)

    def forward(self, kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Masked coil k-space ``(B, C, H, W)`` and mask -> complex maps ``(B, C, H, W)``."""
        b, c, h, w = kspace.shape
        acs = acs_mask(mask, symmetric=True)
        empty = acs.flatten(1).sum(dim=1) == 0
        acs = torch.where(empty.view(-1, 1, 1, 1), mask, acs)  # no centre: use every sample
        images = ifft2c(kspace * acs.to(kspace.real.dtype))
        maps = self.norm_unet(images.reshape(b * c, h, w)).reshape(b, c, h, w)
        rss = maps.abs().square().sum(dim=1, keepdim=True).sqrt()
        return maps / rss.clamp_min(torch.finfo(rss.dtype).tiny)


class VarNetBlock(nn.Module):
    """One E2E-VarNet cascade: ``k - eta * M (k - k0) - E(NormUNet(R(k)))``.

    Args:
        chans: first-level channels of the cascade U-Net.
        pools: U-Net levels.
        explicit_dc: keep the soft data-consistency term with its learnable step ``eta``
            (initialised to 1); False drops it (and the parameter) for the ablation.
    """

    def __init__(self, *, chans: int = 8, pools: int = 3, explicit_dc: bool = True) -> None:
        super().__init__()
        self.regulariser = NormUNet(chans=chans, num_pools=pools)
        if explicit_dc:
            self.dc_weight = nn.Parameter(torch.ones(1))
        else:
            self.register_parameter("dc_weight", None)

    def forward(
        self, k: torch.Tensor, k0: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor
    ) -> torch.Tensor:
        """Coil k-space ``(B, C, H, W)`` -> updated coil k-space ``(B, C, H, W)``."""
        out = k - sens_expand(self.regulariser(sens_reduce(k, maps)), maps)
        if self.dc_weight is not None:
            out = out - soft_dc(k, k0, mask, self.dc_weight)
        return out


class VarNet(nn.Module):
    """E2E-VarNet (Sriram et al., "End-to-End Variational Networks for Accelerated MRI
    Reconstruction", MICCAI 2020).

    Paper configuration (fastMRI knee/brain): ``num_cascades=12, sens_chans=8, sens_pools=4,
    chans=18, pools=4`` (about 30M parameters). The defaults here are sized for 64x64 CPU training.

    Unlike fastMRI's ``VarNet``, which returns the root-sum-of-squares magnitude of the coil
    images, this returns the complex coil-combined image ``R(k_final)`` with the estimated (or
    given) maps; take ``abs`` for evaluation.

    Args:
        num_cascades: number of unrolled cascades.
        sens_chans: first-level channels of the sensitivity U-Net.
        sens_pools: levels of the sensitivity U-Net.
        chans: first-level channels of each cascade U-Net.
        pools: levels of each cascade U-Net.
        explicit_dc: keep the soft data-consistency term in each cascade (False: ablation).
        use_given_maps: use the ``maps`` passed to ``forward`` instead of the sensitivity network
            (which is then not built).
    """

    def __init__(
        self,
        *,
        num_cascades: int = 5,
        sens_chans: int = 4,
        sens_pools: int = 3,
        chans: int = 8,
        pools: int = 3,
        explicit_dc: bool = True,
        use_given_maps: bool = False,
    ) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"num_cascades must be >= 1, got {num_cascades}")
        self.use_given_maps = use_given_maps
        self.sens_net = (
            None if use_given_maps else SensitivityModel(chans=sens_chans, num_pools=sens_pools)
        )
        self.cascades = nn.ModuleList(
            VarNetBlock(chans=chans, pools=pools, explicit_dc=explicit_dc)
            for _ in range(num_cascades)
        )

    def estimate_maps(self, kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Coil maps ``(B, C, H, W)`` from the sensitivity network."""
        if self.sens_net is None:
            raise RuntimeError("built with use_given_maps=True: no sensitivity network")
        return self.sens_net(kspace, mask)

    def forward(
        self, kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Reconstruct a complex image.

        Args:
            kspace: masked coil k-space, complex ``(B, C, H, W)``.
            mask: real 0/1 mask ``(B or 1, 1, 1 or H, W)``.
            maps: complex coil maps ``(B, C, H, W)``; required only with ``use_given_maps``,
                ignored otherwise.

        Returns:
            Complex coil-combined image ``(B, H, W)``.
        """
        check_recon_inputs(kspace, mask, maps, require_maps=self.use_given_maps, name="VarNet")
        mask = mask.to(kspace.real.dtype)
        if not self.use_given_maps:
            maps = self.estimate_maps(kspace, mask)
        k = kspace
        for cascade in self.cascades:
            k = cascade(k, kspace, mask, maps)
        return sens_reduce(k, maps)


def _convert_unet_key(key: str, last_up: int) -> str:
    """fastMRI ``Unet`` parameter name -> :class:`UNet` parameter name."""
    rules = [
        (r"^down_sample_layers\.(\d+)\.layers\.", r"down.\1."),
        (r"^conv\.layers\.", "bottom."),
        (r"^up_transpose_conv\.(\d+)\.layers\.", r"up_transpose.\1."),
        (rf"^up_conv\.{last_up}\.0\.layers\.", f"up_conv.{last_up}."),
        (rf"^up_conv\.{last_up}\.1\.", "head."),
        (r"^up_conv\.(\d+)\.layers\.", r"up_conv.\1."),
    ]
    for pattern, repl in rules:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise KeyError(f"unexpected fastMRI U-Net parameter {key!r}")


def convert_fastmri_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a ``fastmri.models.VarNet`` state dict (fastmri 0.3.0) for :class:`VarNet`.

    The architectures are the same, so pretrained fastMRI weights load with
    ``VarNet(...).load_state_dict(convert_fastmri_state_dict(state))`` given the same
    ``num_cascades, sens_chans, sens_pools, chans, pools``. The final coil k-space then agrees
    with fastMRI's to float precision when H and W are even multiples of 16 (fastMRI always pads
    to a multiple of 16, we pad to ``2**pools``; for odd widths its ACS block is shifted by one).
    """
    pools = 1 + max(
        int(m.group(1))
        for k in state
        if (m := re.match(r"^cascades\.\d+\.model\.unet\.up_conv\.(\d+)\.", k))
    )
    sens_pools = 1 + max(
        int(m.group(1))
        for k in state
        if (m := re.match(r"^sens_net\.norm_unet\.unet\.up_conv\.(\d+)\.", k))
    )
    out = {}
    for key, value in state.items():
        if m := re.match(r"^(cascades\.\d+\.)model\.unet\.(.*)$", key):
            new = f"{m.group(1)}regulariser.unet.{_convert_unet_key(m.group(2), pools - 1)}"
        elif m := re.match(r"^sens_net\.norm_unet\.unet\.(.*)$", key):
            new = f"sens_net.norm_unet.unet.{_convert_unet_key(m.group(1), sens_pools - 1)}"
        elif re.match(r"^cascades\.\d+\.dc_weight$", key):
            new = key
        else:
            raise KeyError(f"unexpected fastMRI VarNet parameter {key!r}")
        out[new] = value
    return out
