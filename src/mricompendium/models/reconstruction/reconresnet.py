"""ReconResNet: a regularised residual network with data-consistency steps.

Chatterjee, Breitkopf, Sarasaen, Yassin, Rose, Nürnberger, Speck, "ReconResNet: Regularised
Residual Learning for MR Image Reconstruction of Undersampled Cartesian and Radial Data",
Computers in Biology and Medicine 2022 (arXiv:2103.09203); official code: soumickmj/NCC1701.

The backbone follows the paper's modified ResNet: a 7x7 reflection-padded input convolution, two
strided down-sampling convolutions, residual blocks regularised with dropout, two
transposed-convolution up-sampling steps and a 7x7 output convolution. The network removes
artefacts from the (complex, two-channel) undersampled image; a data-consistency step then fuses
its output with the measured k-space. Here both are unrolled for ``num_iterations`` steps with
shared weights, and the data-consistency step works for any linear operator with ``A`` /
``A_adjoint`` (Cartesian or radial NUFFT):

    x <- x - lam * W(A^H (A x - y)),

where ``W`` is the operator's density-compensated adjoint when it has one (``gridding_recon``), so
that for single-coil Cartesian sampling and ``lam = 1`` the step replaces the sampled k-space
exactly.

Paper configuration (full scale): 64 initial filters, 14 residual blocks, dropout 0.5, trained on
256x256 IXI T1 slices. Defaults here are small for CPU training on 64x64-128x128 slices.
"""

from __future__ import annotations

import torch
from torch import nn

from mricompendium.physics.fft import channels_to_complex, complex_to_channels
from mricompendium.physics.sense import LinearOperator


def _back_project(op: LinearOperator, y: torch.Tensor) -> torch.Tensor:
    """Density-compensated adjoint when the operator has one (radial), else the plain adjoint."""
    gridding = getattr(op, "gridding_recon", None)
    return gridding(y) if gridding is not None else op.A_adjoint(y)


class ResidualBlock(nn.Module):
    """Reflection-padded 3x3 conv -> norm -> PReLU -> dropout -> 3x3 conv -> norm, plus identity."""

    def __init__(self, *, channels: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
            nn.PReLU(channels),
            nn.Dropout2d(dropout),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetBackbone(nn.Module):
    """The modified ResNet of ReconResNet on real tensors ``(B, 2, H, W) -> (B, 2, H, W)``.

    ``H`` and ``W`` must be divisible by ``2 ** num_downsampling`` (ReconResNet pads the input).
    """

    def __init__(
        self,
        *,
        in_chans: int = 2,
        chans: int = 32,
        num_blocks: int = 6,
        num_downsampling: int = 2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_chans, chans, 7),
            nn.InstanceNorm2d(chans, affine=True),
            nn.PReLU(chans),
        ]
        c = chans
        for _ in range(num_downsampling):
            layers += [
                nn.Conv2d(c, 2 * c, 3, stride=2, padding=1),
                nn.InstanceNorm2d(2 * c, affine=True),
                nn.PReLU(2 * c),
            ]
            c *= 2
        layers += [ResidualBlock(channels=c, dropout=dropout) for _ in range(num_blocks)]
        for _ in range(num_downsampling):
            layers += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1),
                nn.InstanceNorm2d(c // 2, affine=True),
                nn.PReLU(c // 2),
            ]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, in_chans, 7)]
        self.net = nn.Sequential(*layers)
        self.factor = 2**num_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ph, pw = (-h) % self.factor, (-w) % self.factor
        if ph or pw:
            x = nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        return self.net(x)[..., :h, :w]


class ReconResNet(nn.Module):
    """ReconResNet (Chatterjee et al. 2022): residual artefact removal + data consistency, unrolled.

    Args:
        chans: filters of the first convolution (doubled at each down-sampling).
        num_blocks: residual blocks at the lowest resolution.
        num_downsampling: strided down-sampling steps.
        dropout: dropout probability inside residual blocks (the "regularised" in the name).
        num_iterations: network + data-consistency steps, sharing weights.
        learn_dc: whether the data-consistency weight ``lam`` is learned (initialised at 1).
    """

    def __init__(
        self,
        *,
        chans: int = 32,
        num_blocks: int = 6,
        num_downsampling: int = 2,
        dropout: float = 0.1,
        num_iterations: int = 2,
        learn_dc: bool = True,
    ) -> None:
        super().__init__()
        if num_iterations < 1:
            raise ValueError(f"num_iterations must be >= 1, got {num_iterations}")
        self.backbone = ResNetBackbone(
            chans=chans, num_blocks=num_blocks, num_downsampling=num_downsampling, dropout=dropout
        )
        self.num_iterations = num_iterations
        self.lam = nn.Parameter(torch.ones(num_iterations), requires_grad=learn_dc)

    @staticmethod
    def initial_image(y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
        """Zero-filled (Cartesian) or density-compensated gridding (radial) image ``(B, H, W)``."""
        return _back_project(op, y)

    def data_consistency(
        self, x: torch.Tensor, y: torch.Tensor, op: LinearOperator, step: int
    ) -> torch.Tensor:
        """One gradient step towards the measurements, ``x - lam * W(A^H(Ax - y))``."""
        residual = op.A(x) - y
        back = _back_project(op, residual)
        return x - self.lam[step] * back

    def forward(self, y: torch.Tensor, op: LinearOperator) -> torch.Tensor:
        """Reconstruct an image from measurements.

        Args:
            y: measured k-space, ``(B, C, H, W)`` Cartesian or ``(B, C, K)`` radial, complex.
            op: the acquisition's operator (same batch as ``y``).

        Returns:
            Complex image ``(B, H, W)``.
        """
        x = self.initial_image(y, op)
        for step in range(self.num_iterations):
            x = x + channels_to_complex(self.backbone(complex_to_channels(x)))
            x = self.data_consistency(x, y, op, step)
        return x
