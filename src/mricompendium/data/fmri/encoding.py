"""A voxel-wise pRF encoding model fitted on betas: does the simulation carry what it was given?

For each voxel, a grid search over pRF centres and sizes picks the Gaussian whose pooled low-level
feature energy (the sum of the seven channels, compressed by a square root) correlates best with
the voxel's single-trial betas across images. It knows neither the voxel's channel mixture nor its
exponent, as an analyst would not; recovering the centres the simulator drew is the check.
"""

from __future__ import annotations

import numpy as np

from mricompendium.data.fmri.voxels import prf_weights

__all__ = ["fit_prf_grid"]


def fit_prf_grid(
    betas: np.ndarray,
    features: np.ndarray,
    *,
    fov_deg: float,
    extent_deg: float = 5.0,
    n_grid: int = 15,
    sizes_deg: tuple[float, ...] = (0.4, 0.8, 1.6, 3.2),
) -> dict[str, np.ndarray]:
    """Fit pRF centres and sizes by grid search.

    Args:
        betas: ``(N, V)`` responses of V voxels to N images.
        features: ``(N, C, h, w)`` low-level feature maps of the same images
            (:func:`~mricompendium.data.fmri.voxels.feature_maps`).
        fov_deg: the images' visual angle, degrees.
        extent_deg: candidate centres span ``[-extent, extent]`` in x and y, degrees.
        n_grid: candidate centres per axis.
        sizes_deg: candidate pRF sizes (Gaussian SD), degrees.

    Returns:
        ``{"x_deg", "y_deg", "sigma_deg", "r"}``: ``(V,)`` best candidate and its correlation.
    """
    betas = np.asarray(betas, np.float64)
    n, c, h, w = features.shape
    if betas.ndim != 2 or betas.shape[0] != n:
        raise ValueError(f"betas must be (N={n}, V), got {betas.shape}")
    axis = np.linspace(-extent_deg, extent_deg, n_grid)
    gx, gy, gs = (a.ravel() for a in np.meshgrid(axis, axis, np.asarray(sizes_deg)))
    scale = features.reshape(n, c, -1).mean((0, 2)) + 1e-6
    energy = (features / scale[None, :, None, None]).sum(1).reshape(n, h * w)
    pred = np.sqrt(np.maximum(energy @ prf_weights(gx, gy, gs, h, fov_deg).T, 0.0))  # (N, K)

    def standardise(a: np.ndarray) -> np.ndarray:
        a = a - a.mean(0)
        return a / (np.linalg.norm(a, axis=0) + 1e-12)

    corr = standardise(pred).T @ standardise(betas)  # (K, V)
    best = corr.argmax(0)
    return {
        "x_deg": gx[best],
        "y_deg": gy[best],
        "sigma_deg": gs[best],
        "r": corr[best, np.arange(betas.shape[1])],
    }
