"""MRI physics: Fourier transforms, coil sensitivities, sampling, forward operators, simulation.

Conventions (see :mod:`mricompendium.physics.fft`): images are complex ``(B, H, W)``, multi-coil
k-space and coil maps complex ``(B, C, H, W)``, Cartesian masks float32 ``(B or 1, 1, 1, W)`` (1D)
or ``(B or 1, 1, H, W)`` (2D), non-Cartesian trajectories ``(K, 2)`` rows ``(ky, kx)`` in radians
per pixel. Physics imports no model and no data set.
"""

from mricompendium.physics.coils import (
    acs_mask,
    birdcage_maps,
    coil_compress,
    espirit_maps,
    estimate_sensitivities,
    random_birdcage_maps,
    rss,
    sampled_mask,
)
from mricompendium.physics.fft import channels_to_complex, complex_to_channels, fft2c, ifft2c
from mricompendium.physics.masks import (
    PATTERNS,
    Sampling,
    equispaced_mask_1d,
    gaussian_mask_2d,
    golden_angle_radial,
    poisson_disc_mask_2d,
    radial_acceleration,
    random_mask_1d,
    realised_acceleration,
    spokes_for_acceleration,
)
from mricompendium.physics.nufft import (
    KaiserBesselGrid,
    RadialNufftOp,
    density_compensation,
    ndft_adjoint,
    ndft_forward,
)
from mricompendium.physics.sense import SenseOp, sens_expand, sens_reduce
from mricompendium.physics.simulate import add_complex_noise, noise_sigma_for_snr, smooth_phase

__all__ = [
    "PATTERNS",
    "KaiserBesselGrid",
    "RadialNufftOp",
    "Sampling",
    "SenseOp",
    "acs_mask",
    "add_complex_noise",
    "birdcage_maps",
    "channels_to_complex",
    "coil_compress",
    "complex_to_channels",
    "density_compensation",
    "equispaced_mask_1d",
    "espirit_maps",
    "estimate_sensitivities",
    "fft2c",
    "gaussian_mask_2d",
    "golden_angle_radial",
    "ifft2c",
    "ndft_adjoint",
    "ndft_forward",
    "noise_sigma_for_snr",
    "poisson_disc_mask_2d",
    "radial_acceleration",
    "random_birdcage_maps",
    "random_mask_1d",
    "realised_acceleration",
    "rss",
    "sampled_mask",
    "sens_expand",
    "sens_reduce",
    "smooth_phase",
    "spokes_for_acceleration",
]
