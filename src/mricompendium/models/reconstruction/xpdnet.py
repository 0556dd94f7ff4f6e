"""XPDNet: an unrolled primal-dual network with a multi-scale wavelet CNN as primal step.

Ramzi et al., "XPDNet for MRI Reconstruction: an application to the 2020 fastMRI challenge",
arXiv 2010.07290. The dual variable is the k-space residual ``A x - y`` (no learned dual network,
as in the paper's "primal only" design); the primal update keeps a buffer of ``num_primal`` image
iterates and refines them with a multi-level wavelet CNN (MWCNN, Liu et al., CVPR Workshops 2018)
whose down- and up-sampling are the orthonormal Haar transform (:func:`haar_dwt`,
:func:`haar_idwt`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mricompendium.models.reconstruction.blocks import ConvDenoiser, crop_padding, pad_to_multiple
from mricompendium.models.reconstruction.recurrent import check_kspace_and_mask, resolve_maps
from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import SenseOp

__all__ = ["XPDNet", "MWCNN", "haar_dwt", "haar_idwt"]

# Rows: LL, and the three detail bands; columns: the 2x2 pixels in pixel_unshuffle order
# (0,0), (0,1), (1,0), (1,1). Orthonormal, so the inverse is the transpose.
_HAAR = 0.5 * torch.tensor(
    [[1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, 1.0, 1.0], [-1.0, 1.0, -1.0, 1.0], [1.0, -1.0, -1.0, 1.0]]
)


def haar_dwt(x: torch.Tensor) -> torch.Tensor:
    """One level of the orthonormal 2D Haar transform.

    Real ``(B, C, H, W)`` with even H, W -> ``(B, 4C, H/2, W/2)``, the four sub-bands stacked
    band-major (channels ``[0, C)`` are the low-pass band).
    """
    b, c, h, w = x.shape
    if h % 2 or w % 2:
        raise ValueError(f"haar_dwt needs even height and width, got {(h, w)}")
    z = F.pixel_unshuffle(x, 2).reshape(b, c, 4, h // 2, w // 2)
    z = torch.einsum("sq,bcqhw->bschw", _HAAR.to(x), z)
    return z.reshape(b, 4 * c, h // 2, w // 2)


def haar_idwt(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`haar_dwt`: ``(B, 4C, h, w)`` -> ``(B, C, 2h, 2w)``."""
    b, c4, h, w = y.shape
    if c4 % 4:
        raise ValueError(f"haar_idwt needs a multiple of 4 channels, got {c4}")
    z = torch.einsum("sq,bschw->bcqhw", _HAAR.to(y), y.reshape(b, 4, c4 // 4, h, w))
    return F.pixel_shuffle(z.reshape(b, c4, h, w), 2)


def _convs(chans: list[int]) -> nn.Sequential:
    """3x3 convolutions ``chans[0] -> chans[1] -> ...``, each followed by ReLU."""
    layers: list[nn.Module] = []
    for c_in, c_out in zip(chans[:-1], chans[1:], strict=True):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class MWCNN(nn.Module):
    """Multi-level wavelet CNN: a U-Net whose pooling is the Haar DWT and unpooling its inverse.

    ``e_0 = head(x)``; ``e_{i+1} = enc_i(DWT(e_i))``; decoding from ``d = e_S``:
    ``d = IDWT(dec_i(d)) + e_i``; output ``tail(d)`` (last convolution linear). Inputs are
    zero-padded to a multiple of ``2**len(scale_chans)`` and cropped back.

    Args:
        in_chans: input channels.
        out_chans: output channels.
        first_chans: channels at full resolution.
        scale_chans: channels at each coarser level (one level per entry).
        convs_per_scale: 3x3 convolutions in each encoder and decoder stage.
    """

    def __init__(
        self,
        *,
        in_chans: int,
        out_chans: int,
        first_chans: int = 16,
        scale_chans: tuple[int, ...] = (32, 64),
        convs_per_scale: int = 2,
    ) -> None:
        super().__init__()
        if len(scale_chans) == 0 or convs_per_scale < 1:
            raise ValueError("MWCNN needs at least one scale and one convolution per scale")
        chans = [first_chans, *scale_chans]
        self.n_scales = len(scale_chans)
        self.head = _convs([in_chans, first_chans, first_chans])
        self.enc = nn.ModuleList(
            _convs([4 * chans[i]] + [chans[i + 1]] * convs_per_scale) for i in range(self.n_scales)
        )
        self.dec = nn.ModuleList(
            _convs([chans[i + 1]] * convs_per_scale + [4 * chans[i]]) for i in range(self.n_scales)
        )
        self.tail = nn.Sequential(
            _convs([first_chans, first_chans]), nn.Conv2d(first_chans, out_chans, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Real ``(B, in_chans, H, W)`` -> real ``(B, out_chans, H, W)``."""
        x, pad = pad_to_multiple(x, 2**self.n_scales)
        skips = [self.head(x)]
        for enc in self.enc:
            skips.append(enc(haar_dwt(skips[-1])))
        d = skips.pop()
        for dec in reversed(self.dec):
            d = haar_idwt(dec(d)) + skips.pop()
        return crop_padding(self.tail(d), pad)


class XPDNet(nn.Module):
    """XPDNet (Ramzi et al., arXiv 2010.07290): unrolled primal-dual with an MWCNN primal step.

    With a primal buffer ``p = (x^1, ..., x^P)`` initialised to ``P`` copies of ``A^H y``, each of
    ``num_iter`` iterations computes the dual ``h = A x^1 - y`` and updates
    ``p <- p + MWCNN_i([p, A^H h])`` (separate weights per iteration); the output is ``x^1``.
    ``learned_dual=True`` adds a coil-wise CNN correction ``h = (A x^1 - y) + CNN_i([h, A x^1, y])``
    (a learned dual step as in LPD, Adler & Öktem 2018); off by default, as in the paper.

    Paper scale (the 2020 fastMRI challenge entry): buffer of 5 primal iterates, 10 to 25 unrolled
    iterations (25 in the final runs), an MWCNN per iteration with 3 scales of 64/128/256 filters
    and 32-filter full-resolution convolutions, and a learned refinement of the coil maps (not
    included here: maps are given).

    Args:
        num_iter: unrolled iterations.
        num_primal: primal buffer size ``P``.
        first_chans: MWCNN channels at full resolution.
        scale_chans: MWCNN channels per coarser level.
        convs_per_scale: MWCNN convolutions per encoder/decoder stage.
        learned_dual: add the learned dual correction.
        dual_hidden: channels of the dual CNN (3 convolutions).
    """

    def __init__(
        self,
        *,
        num_iter: int = 4,
        num_primal: int = 3,
        first_chans: int = 8,
        scale_chans: tuple[int, ...] = (8, 16),
        convs_per_scale: int = 1,
        learned_dual: bool = False,
        dual_hidden: int = 16,
    ) -> None:
        super().__init__()
        for key, value in {"num_iter": num_iter, "num_primal": num_primal}.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive int, got {value!r}")
        self.num_iter, self.num_primal = num_iter, num_primal
        self.primal_nets = nn.ModuleList(
            MWCNN(
                in_chans=2 * (num_primal + 1),
                out_chans=2 * num_primal,
                first_chans=first_chans,
                scale_chans=scale_chans,
                convs_per_scale=convs_per_scale,
            )
            for _ in range(num_iter)
        )
        self.dual_nets = (
            nn.ModuleList(
                ConvDenoiser(in_chans=6, out_chans=2, hidden=dual_hidden, depth=3)
                for _ in range(num_iter)
            )
            if learned_dual
            else None
        )

    def _dual(
        self, i: int, dual: torch.Tensor, ax: torch.Tensor, kspace: torch.Tensor
    ) -> torch.Tensor:
        residual = ax - kspace
        if self.dual_nets is None:
            return residual
        b, c, h, w = kspace.shape
        z = torch.cat([complex_to_channels(v.reshape(b * c, h, w)) for v in (dual, ax, kspace)], 1)
        return residual + channels_to_complex(self.dual_nets[i](z)).reshape(b, c, h, w)

    def forward(
        self,
        kspace: torch.Tensor,
        mask: torch.Tensor,
        maps: torch.Tensor | None = None,
        *,
        return_all: bool = False,
    ) -> torch.Tensor | list[torch.Tensor]:
        """Masked k-space ``(B, C, H, W)`` -> image ``(B, H, W)`` (complex); ``maps`` may be None
        only for single-coil. ``return_all=True`` returns the first primal after each iteration."""
        check_kspace_and_mask(kspace, mask, "XPDNet")
        op = SenseOp(resolve_maps(kspace, maps, "XPDNet"), mask)
        primal = complex_to_channels(op.A_adjoint(kspace)).repeat(1, self.num_primal, 1, 1)
        dual, estimates = torch.zeros_like(kspace), []
        for i, net in enumerate(self.primal_nets):
            dual = self._dual(i, dual, op.A(channels_to_complex(primal[:, :2])), kspace)
            primal = primal + net(torch.cat([primal, complex_to_channels(op.A_adjoint(dual))], 1))
            estimates.append(channels_to_complex(primal[:, :2]))
        return estimates if return_all else estimates[-1]
