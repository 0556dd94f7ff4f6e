"""Radial MRI as sinograms, and a parallel-beam Radon operator with its filtered back-projection.

**Radial k-space -> sinogram** (the Fourier-slice theorem). With the k-space convention of
:mod:`mricompendium.physics.nufft` (centred pixel offsets ``n``, frequencies in radians per
pixel), a full-diameter spoke at angle ``theta`` samples ``y(rho) = (H W)^(-1/2) sum_n x[n]
exp(-i rho t_n)`` with ``t_n = n_y sin(theta) + n_x cos(theta)``: the continuous Fourier transform
of the projection of ``x`` onto the direction ``(sin theta, cos theta)``. A centred 1D inverse DFT
along each spoke (:func:`radial_to_sinogram`) therefore gives that projection, band-limited and
sampled at unit detector spacing: one sinogram row per spoke. With ``R = 2 W`` samples per spoke
spaced ``pi / W`` (the readout oversampled twice), the rows hold ``2 W`` detectors, enough for
the image diagonal.

**Radon operator** (:class:`RadonOp`): ray sums ``p[theta, m] = integral x(t_m u + s v) ds`` of a
real or complex image on its pixel grid (bilinear interpolation, step 0.5 pixel), detector ``m``
at ``t_m = m - D // 2`` pixels, ``u = (sin theta, cos theta)`` in ``(y, x)``, one sparse matrix
built once; the adjoint is its exact transpose. :meth:`RadonOp.fbp` is filtered back-projection
(ramp filter, optionally Hann-windowed, zero-padded; Kak and Slaney, *Principles of Computerized
Tomographic Imaging*, 1988, ch. 3), ``(pi / S) A^T (h * p)``.

This operator is the reconstruction side. The CT proxy's data are made elsewhere by another
implementation on a finer grid (scikit-image's ``radon``, :func:`skimage_projections`), so that
no method is handed the operator its data came from.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from mricompendium.physics.precision import upcast

__all__ = [
    "RadonOp",
    "bin_projections",
    "radial_to_sinogram",
    "ramp_filter",
    "skimage_projections",
    "uniform_angles",
    "uniform_radial",
]


def uniform_angles(num_spokes: int) -> torch.Tensor:
    """``num_spokes`` equispaced angles ``pi j / num_spokes`` in ``[0, pi)``, float64."""
    if not isinstance(num_spokes, int) or num_spokes < 1:
        raise ValueError(f"num_spokes must be a positive int, got {num_spokes!r}")
    return torch.arange(num_spokes, dtype=torch.float64) * (math.pi / num_spokes)


def uniform_radial(angles: torch.Tensor, num_readout: int) -> torch.Tensor:
    """Full-diameter spokes at ``angles``: ``(S * R, 2)`` rows ``(ky, kx)`` in radians per pixel.

    Readout sample ``j`` lies at radius ``(j - R / 2) 2 pi / R``, spoke-major (readout fastest),
    the convention of :func:`mricompendium.physics.trajectories.golden_angle_radial` with the
    angles given instead of golden-angle ones.
    """
    if num_readout < 2 or num_readout % 2:
        raise ValueError(f"num_readout must be an even int >= 2, got {num_readout}")
    theta = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    rho = (torch.arange(num_readout, dtype=torch.float64) - num_readout / 2) * (
        2 * math.pi / num_readout
    )
    ky = rho[None, :] * torch.sin(theta)[:, None]
    kx = rho[None, :] * torch.cos(theta)[:, None]
    return torch.stack((ky.flatten(), kx.flatten()), dim=-1).float()


def radial_to_sinogram(
    samples: torch.Tensor, num_spokes: int, image_shape: tuple[int, int]
) -> torch.Tensor:
    """Radial samples ``(..., S * R)`` -> complex sinogram ``(..., S, R)`` by a centred 1D
    inverse DFT per spoke (Fourier-slice theorem).

    Detector ``m`` of a row sits at ``t = m - R // 2`` pixels (the image's own units, when the
    readout is oversampled twice as :func:`uniform_radial` with ``R = 2 W`` does) and holds the
    band-limited projection in the units of :class:`RadonOp` (ray sums over pixels).
    """
    if not torch.is_complex(samples):
        raise TypeError(f"samples must be complex, got {samples.dtype}")
    k = samples.shape[-1]
    if k % num_spokes:
        raise ValueError(f"{k} samples are not {num_spokes} spokes of equal length")
    r = k // num_spokes
    rows = samples.reshape(*samples.shape[:-1], num_spokes, r)
    h, w = image_shape
    # P(m) = sqrt(HW) / (2 pi) sum_j y_j exp(+i rho_j m) d rho, d rho = 2 pi / R: a centred IDFT
    out = torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(rows, dim=-1), dim=-1), dim=-1)
    return out * math.sqrt(h * w)


def ramp_filter(num_det: int, *, window: str = "ram-lak", dtype=torch.float64) -> torch.Tensor:
    """Frequency response ``(P,)`` of the discrete ramp filter on a zero-padded grid ``P``.

    The spatial kernel of Kak and Slaney (eq. 61: ``h[0] = 1/4``, ``h[n] = -1 / (pi n)^2`` for odd
    ``n``, 0 for even ``n``, unit detector spacing), transformed on ``P = 2^ceil(log2(2 D))``
    points, so that linear (not circular) convolution results; ``"hann"`` multiplies the
    response by a Hann window (as scikit-image's ``iradon`` does).
    """
    if window not in ("ram-lak", "hann"):
        raise ValueError(f"window must be 'ram-lak' or 'hann', got {window!r}")
    size = max(64, 2 ** int(math.ceil(math.log2(2 * num_det))))
    n = torch.cat((torch.arange(1, size // 2 + 1, 2), torch.arange(size // 2 - 1, 0, -2)))
    kernel = torch.zeros(size, dtype=torch.float64)
    kernel[0] = 0.25
    kernel[1::2] = -1 / (math.pi * n.double()) ** 2
    response = torch.fft.fft(kernel).real
    if window == "hann":
        freq = torch.fft.fftfreq(size, dtype=torch.float64)
        response = response * torch.cos(math.pi * freq) ** 2
    return response.to(dtype)


class _SparseApply(torch.autograd.Function):
    """``y = M x`` for a sparse ``M`` whose backward applies the stored transpose ``M^T``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fwd: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return fwd @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return ctx.adj @ grad, None, None


class RadonOp:
    """Parallel-beam Radon transform of ``(B, H, W)`` images at fixed angles, with its adjoint.

    Args:
        angles: projection angles ``(S,)`` in radians (any order; ``[0, pi)`` for FBP).
        image_shape: ``(H, W)``.
        num_det: detectors ``D`` at unit spacing (default ``2 * max(H, W)``, as a sinogram from
            twice-oversampled radial spokes has).
        step: integration step along each ray in pixels.
        window: the FBP filter's window, ``"ram-lak"`` or ``"hann"``.
    """

    def __init__(
        self,
        angles: torch.Tensor,
        image_shape: tuple[int, int],
        *,
        num_det: int | None = None,
        step: float = 0.5,
        window: str = "ram-lak",
    ) -> None:
        h, w = (int(image_shape[0]), int(image_shape[1]))
        if min(h, w) < 2:
            raise ValueError(f"image_shape must be at least 2x2, got {image_shape}")
        self.angles = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
        if self.angles.numel() < 1:
            raise ValueError("need at least one angle")
        self.image_shape = (h, w)
        self.num_det = int(num_det or 2 * max(h, w))
        self.window = window
        self.filter = ramp_filter(self.num_det, window=window)
        self._parts = self._matrix(float(step))
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}

    @property
    def num_angles(self) -> int:
        return int(self.angles.numel())

    @property
    def sinogram_shape(self) -> tuple[int, int]:
        """``(S, D)``."""
        return self.num_angles, self.num_det

    def _matrix(self, step: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """COO parts (row, col, value) of the ``(S D, H W)`` ray-sum matrix, coalesced."""
        h, w = self.image_shape
        s_max = 0.5 * math.hypot(h, w) + 1
        s = torch.arange(-s_max, s_max + step / 2, step, dtype=torch.float64)
        t = torch.arange(self.num_det, dtype=torch.float64) - self.num_det // 2
        sin, cos = torch.sin(self.angles), torch.cos(self.angles)
        # point (y, x) = t u + s v, u = (sin, cos), v = (cos, -sin); pixel offsets n = index - N//2
        py = t[None, :, None] * sin[:, None, None] + s[None, None, :] * cos[:, None, None]
        px = t[None, :, None] * cos[:, None, None] - s[None, None, :] * sin[:, None, None]
        py, px = py + h // 2, px + w // 2
        ray = torch.arange(self.num_angles * self.num_det).view(self.num_angles, self.num_det, 1)
        ray = ray.expand_as(py)
        y0, x0 = torch.floor(py), torch.floor(px)
        rows, cols, vals = [], [], []
        for dy in (0, 1):
            for dx in (0, 1):
                yy, xx = y0 + dy, x0 + dx
                wgt = (1 - (py - yy).abs()) * (1 - (px - xx).abs()) * step
                ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & (wgt > 0)
                rows.append(ray[ok])
                cols.append((yy[ok] * w + xx[ok]).long())
                vals.append(wgt[ok])
        size = (self.num_angles * self.num_det, h * w)
        coo = torch.sparse_coo_tensor(
            torch.stack((torch.cat(rows), torch.cat(cols))),
            torch.cat(vals),
            size,
            check_invariants=False,
        ).coalesce()
        index, values = coo.indices(), coo.values()
        return index[0], index[1], values

    def _operators(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        key = (dtype, device)
        if key not in self._cache:
            row, col, val = (t.to(device) for t in self._parts)
            size = (self.num_angles * self.num_det, self.image_shape[0] * self.image_shape[1])
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                fwd = torch.sparse_coo_tensor(
                    torch.stack((row, col)), val.to(dtype), size, check_invariants=False
                )
                adj = torch.sparse_coo_tensor(
                    torch.stack((col, row)), val.to(dtype), size[::-1], check_invariants=False
                )
                fwd, adj = fwd.coalesce().to_sparse_csr(), adj.coalesce().to_sparse_csr()
            self._cache[key] = (fwd, adj, self.filter.to(device=device, dtype=dtype))
        return self._cache[key]

    @property
    def nnz(self) -> int:
        """Non-zeros of the ray-sum matrix."""
        return int(self._parts[2].numel())

    def _apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        x = upcast(x)
        if torch.is_complex(x):
            return torch.complex(self._apply(x.real, adjoint), self._apply(x.imag, adjoint))
        fwd, adj, _ = self._operators(x.dtype, x.device)
        lead = x.shape[:-2]
        cols = x.reshape(-1, x.shape[-2] * x.shape[-1]).T
        if adjoint:
            out = _SparseApply.apply(cols.contiguous(), adj, fwd)
            return out.T.reshape(*lead, *self.image_shape)
        out = _SparseApply.apply(cols.contiguous(), fwd, adj)
        return out.T.reshape(*lead, *self.sinogram_shape)

    def _check(self, x: torch.Tensor, shape: tuple[int, int], what: str) -> None:
        if x.dim() < 2 or tuple(x.shape[-2:]) != shape:
            raise ValueError(f"{what} must be (..., {shape[0]}, {shape[1]}), got {tuple(x.shape)}")

    def A(self, x: torch.Tensor) -> torch.Tensor:  # noqa: N802 (operator notation)
        """Image ``(..., H, W)`` (real or complex) -> sinogram ``(..., S, D)``."""
        self._check(x, self.image_shape, "image")
        return self._apply(x, adjoint=False)

    def A_adjoint(self, p: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Sinogram ``(..., S, D)`` -> image ``(..., H, W)``: the exact transpose of :meth:`A`."""
        self._check(p, self.sinogram_shape, "sinogram")
        return self._apply(p, adjoint=True)

    def filtered(self, p: torch.Tensor) -> torch.Tensor:
        """Sinogram ``(..., S, D)`` filtered along the detectors by the ramp filter."""
        self._check(p, self.sinogram_shape, "sinogram")
        p = upcast(p)
        _, _, resp = self._operators(p.real.dtype, p.device)
        size = resp.numel()
        spec = torch.fft.fft(p, n=size, dim=-1) * resp
        out = torch.fft.ifft(spec, dim=-1)[..., : self.num_det]
        return out if torch.is_complex(p) else out.real

    def fbp(self, p: torch.Tensor) -> torch.Tensor:
        """Filtered back-projection ``(pi / S) A^T (h * p)``, sinogram -> image ``(..., H, W)``.

        Assumes the angles cover ``[0, pi)`` evenly (as :func:`uniform_angles` does).
        """
        return self.A_adjoint(self.filtered(p)) * (math.pi / self.num_angles)


def skimage_projections(image: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Parallel-beam projections ``(S, D_fine)`` of a real image by scikit-image's ``radon``.

    ``circle=False`` (the image is zero-padded to its diagonal), detectors at unit spacing of
    the image's own grid, detector ``k`` at ``t = k - D_fine // 2`` from the pixel
    ``(H // 2, W // 2)``: the centre scikit-image rotates about. Angles in radians, our
    convention (``t = n_y sin(theta) + n_x cos(theta)``; scikit-image measures its angle the
    other way round, which is converted here).
    """
    from skimage.transform import radon

    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or img.shape[0] != img.shape[1]:
        raise ValueError(f"image must be square 2D, got {img.shape}")
    degrees = -np.degrees(np.asarray(angles, dtype=np.float64))
    return radon(img, theta=degrees, circle=False).T


def bin_projections(
    fine: np.ndarray, angles: np.ndarray, factor: float, num_det: int, *, origin: float
) -> np.ndarray:
    """Projections on a grid ``factor`` times finer -> the coarse grid's detectors.

    A coarse detector ``m`` (``t = m - num_det // 2`` coarse pixels) integrates the fine
    projection over its unit-width bin, centred at fine ``t = factor t + origin (sin theta +
    cos theta)``: ``origin`` is where the coarse pixel ``n = 0`` lies, in fine pixels from the
    fine one along each axis (0.5 for 128 -> 64 with centres at ``N // 2``). Ray sums are divided
    by ``factor`` (lengths in coarse pixels) and the bin integral by ``factor`` again (its width).

    Args:
        fine: ``(S, Df)`` projections, detector ``k`` at fine ``t = k - Df // 2``.
        angles: ``(S,)`` radians.
        factor: grid ratio (fine over coarse pixel count, e.g. 2 or 8/3).
        num_det: coarse detectors.
        origin: the coarse origin's offset in fine pixels (see above).

    Returns:
        ``(S, num_det)`` float64.
    """
    fine = np.asarray(fine, dtype=np.float64)
    s, df = fine.shape
    theta = np.asarray(angles, dtype=np.float64).reshape(-1)
    if len(theta) != s:
        raise ValueError(f"{len(theta)} angles for {s} projections")
    if not factor >= 1:
        raise ValueError(f"factor must be >= 1, got {factor}")
    cdf = np.concatenate([np.zeros((s, 1)), np.cumsum(fine, axis=1)], axis=1)
    edges = np.arange(df + 1) - df // 2 - 0.5  # fine bin edges
    t = np.arange(num_det) - num_det // 2
    shift = origin * (np.sin(theta) + np.cos(theta))
    out = np.empty((s, num_det))
    for i in range(s):
        lo = factor * (t - 0.5) + shift[i]
        hi = factor * (t + 0.5) + shift[i]
        out[i] = np.interp(hi, edges, cdf[i]) - np.interp(lo, edges, cdf[i])
    return out / factor**2
