"""Non-uniform FFT for 2D non-Cartesian (radial) MRI, and the direct NDFT it approximates.

Convention (shared with :func:`mricompendium.physics.fft.fft2c`): an image ``x`` of shape
``(H, W)`` with centred pixel offsets ``n = (n_y, n_x) = (row - H // 2, col - W // 2)`` has the
k-space value at ``omega = (omega_y, omega_x)`` (radians per pixel, rows of the ``(K, 2)``
trajectory)::

    y(omega) = (H W)^(-1/2) * sum_n x[n] * exp(-i (omega_y n_y + omega_x n_x)).

On the Cartesian grid, ``omega = 2 pi (m_y / H, m_x / W)`` with centred indices ``m``, this is
exactly ``fft2c``. :func:`ndft_forward` evaluates the sum directly (the reference);
:class:`RadialNufftOp` approximates it by Kaiser-Bessel gridding (Beatty et al., IEEE TMI 2005):
deapodise, zero-pad to an oversampled grid, FFT, then interpolate with a precomputed sparse
matrix. Real sparse matrix products act on the real and imaginary parts, which runs on CPU and
CUDA alike. The adjoint is the exact transpose of these steps.
"""

from __future__ import annotations

import math
import warnings

import torch

from mricompendium.physics.precision import full_precision, upcast

__all__ = [
    "KaiserBesselGrid",
    "RadialNufftOp",
    "density_compensation",
    "ndft_adjoint",
    "ndft_forward",
]


def _i0(v: float) -> float:
    return float(torch.special.i0(torch.tensor(v, dtype=torch.float64)))


def _kb_beta(kernel_width: int, oversampling: float) -> float:
    """Kaiser-Bessel shape parameter of Beatty et al. (2005), eq. 5."""
    j, a = kernel_width, oversampling
    return math.pi * math.sqrt((j / a) ** 2 * (a - 0.5) ** 2 - 0.8)


def _kb_kernel(u: torch.Tensor, width: int, beta: float) -> torch.Tensor:
    """Kaiser-Bessel kernel ``I0(beta sqrt(1 - (2u/J)^2)) / I0(beta)``, zero for ``|u| > J/2``."""
    arg = (1 - (2 * u / width) ** 2).clamp_min(0)
    val = torch.special.i0(beta * torch.sqrt(arg)) / _i0(beta)
    return torch.where(u.abs() <= width / 2, val, torch.zeros_like(val))


def _kb_transform(f: torch.Tensor, width: int, beta: float) -> torch.Tensor:
    """Continuous Fourier transform of :func:`_kb_kernel` at ``f`` cycles per grid point."""
    z2 = beta**2 - (math.pi * width * f) ** 2
    z = torch.sqrt(z2.abs()).clamp_min(1e-12)
    val = torch.where(z2 > 0, torch.sinh(z) / z, torch.sin(z) / z)
    return width * val / _i0(beta)


class KaiserBesselGrid:
    """Kaiser-Bessel gridding NUFFT of coil images ``(B, C, H, W)`` <-> samples ``(B, C, K)``.

    Forward: deapodise by the kernel's Fourier transform, zero-pad to the oversampled grid
    ``(Gy, Gx)``, centred unnormalised FFT, interpolate with the sparse ``(K, Gy Gx)`` kernel
    matrix, scale by ``(H W)^(-1/2)``. The adjoint applies the transposed steps. The default
    (oversampling 1.5, kernel width 6) gives a relative error of about 5e-5 against the NDFT and
    is about twice as fast as oversampling 2 (error 7e-6) on CPU.

    Args:
        traj: ``(K, 2)`` trajectory, rows ``(ky, kx)`` in radians per pixel.
        im_size: image shape ``(H, W)``.
        oversampling: grid oversampling factor (>= 1.25).
        kernel_width: kernel width ``J`` in oversampled grid points.
    """

    def __init__(
        self,
        traj: torch.Tensor,
        im_size: tuple[int, int],
        *,
        oversampling: float = 1.5,
        kernel_width: int = 6,
    ) -> None:
        if oversampling < 1.25 or kernel_width < 2:
            raise ValueError("need oversampling >= 1.25 and kernel_width >= 2")
        self.im_size = (int(im_size[0]), int(im_size[1]))
        self.grid_size = tuple(int(math.ceil(oversampling * n)) for n in self.im_size)
        if min(self.grid_size) < kernel_width:
            raise ValueError(f"oversampled grid {self.grid_size} smaller than the kernel")
        self.width = int(kernel_width)
        self.beta = _kb_beta(kernel_width, oversampling)
        self.num_points = traj.shape[0]
        self._interp = self._interp_matrix(traj.detach().double())
        self._cache: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, ...]] = {}

    def _axis_weights(self, u: torch.Tensor, g: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Neighbour grid indices and kernel weights ``(K, J)`` along one axis."""
        offsets = torch.arange(self.width, dtype=torch.float64, device=u.device)
        near = torch.ceil(u - self.width / 2)[:, None] + offsets[None, :]
        weight = _kb_kernel(u[:, None] - near, self.width, self.beta)
        index = torch.remainder(near.long(), g)
        return index, weight

    def _interp_matrix(self, traj: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """CSR parts (crow, col, val) of the ``(K, Gy Gx)`` matrix and of its transpose."""
        gy, gx = self.grid_size
        iy, wy = self._axis_weights(traj[:, 0] * gy / (2 * math.pi), gy)
        ix, wx = self._axis_weights(traj[:, 1] * gx / (2 * math.pi), gx)
        cols = (iy[:, :, None] * gx + ix[:, None, :]).flatten(1)
        vals = (wy[:, :, None] * wx[:, None, :]).flatten(1)
        cols, order = cols.sort(dim=1)  # unique within a row because G >= J
        vals = vals.gather(1, order)
        k, nnz_row = cols.shape
        crow = torch.arange(0, k * nnz_row + 1, nnz_row, device=traj.device)
        rows = torch.arange(k, device=traj.device).repeat_interleave(nnz_row)
        cols, vals = cols.flatten(), vals.flatten()
        perm = torch.argsort(cols, stable=True)
        counts = torch.bincount(cols, minlength=gy * gx)
        crow_t = torch.cat((counts.new_zeros(1), counts.cumsum(0)))
        return crow, cols, vals, crow_t, rows[perm], vals[perm]

    def _operators(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        """CSR interpolation matrix, its transpose and the deapodisation image, cast and cached."""
        key = (dtype, device)
        if key not in self._cache:
            crow, col, val, crow_t, col_t, val_t = (t.to(device) for t in self._interp)
            size = (self.num_points, self.grid_size[0] * self.grid_size[1])
            with warnings.catch_warnings():  # "sparse CSR support is in beta"
                warnings.simplefilter("ignore", UserWarning)
                fwd = torch.sparse_csr_tensor(
                    crow, col, val.to(dtype), size, check_invariants=False
                )
                adj = torch.sparse_csr_tensor(
                    crow_t, col_t, val_t.to(dtype), size[::-1], check_invariants=False
                )
            apod = []
            for n, g in zip(self.im_size, self.grid_size, strict=True):
                f = (torch.arange(n, dtype=torch.float64) - n // 2) / g
                apod.append(_kb_transform(f, self.width, self.beta))
            deapod = 1.0 / (apod[0][:, None] * apod[1][None, :])
            deapod = deapod / math.sqrt(self.im_size[0] * self.im_size[1])
            self._cache[key] = (fwd, adj, deapod.to(device=device, dtype=dtype))
        return self._cache[key]

    def density(self, w: torch.Tensor) -> torch.Tensor:
        """Gridded density at the samples, ``G G^T w`` for real weights ``(K,)``."""
        fwd, adj, _ = self._operators(w.dtype, w.device)
        return (fwd @ (adj @ w[:, None]))[:, 0]

    def cartesian_density(self) -> float:
        """Value of :meth:`density` for unit weights on the fully sampled Cartesian grid."""
        out = 1.0
        for n, g in zip(self.im_size, self.grid_size, strict=True):
            integral = float(
                _kb_transform(torch.zeros((), dtype=torch.float64), self.width, self.beta)
            )
            out *= integral**2 * n / g
        return out

    def _quadrants(self) -> list[tuple[tuple[slice, slice], tuple[slice, slice]]]:
        """(image, grid) slice pairs that place centred pixel ``n`` at grid index ``n mod G``.

        This is ``ifftshift`` of the zero-padded image without building the padded image, so
        the FFT needs no shifts; the matching ``fftshift`` of k-space lives in the interpolation
        indices.
        """
        axes = []
        for n, g in zip(self.im_size, self.grid_size, strict=True):
            half = n // 2
            axes.append(
                [(slice(half, n), slice(0, n - half)), (slice(0, half), slice(g - half, g))]
            )
        return [
            ((iy, ix), (gy, gx)) for iy, gy in axes[0] for ix, gx in axes[1] if iy.stop > iy.start
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Coil images ``(B, C, H, W)`` complex -> samples ``(B, C, K)``."""
        with full_precision(x):  # the interpolation matmul stays in fp32 under autocast
            return self._forward(upcast(x))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        fwd, _, deapod = self._operators(x.real.dtype, x.device)
        xd = x * deapod
        grid = x.new_zeros(b, c, *self.grid_size)
        for (iy, ix), (gy, gx) in self._quadrants():
            grid[..., gy, gx] = xd[..., iy, ix]
        grid = torch.fft.fft2(grid)
        cols = torch.view_as_real(grid.reshape(b * c, -1).T.contiguous()).reshape(-1, 2 * b * c)
        out = torch.view_as_complex((fwd @ cols).reshape(-1, b * c, 2))
        return out.T.reshape(b, c, self.num_points)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Samples ``(B, C, K)`` complex -> coil images ``(B, C, H, W)``."""
        with full_precision(y):
            return self._adjoint(upcast(y))

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        b, c, k = y.shape
        _, adj, deapod = self._operators(y.real.dtype, y.device)
        cols = torch.view_as_real(y.reshape(b * c, k).T.contiguous()).reshape(k, 2 * b * c)
        grid = torch.view_as_complex((adj @ cols).reshape(-1, b * c, 2))
        grid = torch.fft.ifft2(grid.T.reshape(b, c, *self.grid_size), norm="forward")
        out = y.new_empty(b, c, *self.im_size)
        for (iy, ix), (gy, gx) in self._quadrants():
            out[..., iy, ix] = grid[..., gy, gx]
        return out * deapod


def _check_traj(traj: torch.Tensor) -> None:
    if traj.dim() != 2 or traj.shape[1] != 2 or torch.is_complex(traj):
        raise ValueError(f"traj must be real (K, 2) in radians per pixel, got {tuple(traj.shape)}")


def _ndft_matrix(traj: torch.Tensor, im_size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    h, w = im_size
    real = torch.float64 if dtype == torch.complex128 else torch.float32
    ny = torch.arange(h, dtype=real, device=traj.device) - h // 2
    nx = torch.arange(w, dtype=real, device=traj.device) - w // 2
    t = traj.to(real)
    phase = t[:, 0, None, None] * ny[None, :, None] + t[:, 1, None, None] * nx[None, None, :]
    return torch.polar(torch.full_like(phase, 1.0 / math.sqrt(h * w)), -phase).flatten(1)


def ndft_forward(x: torch.Tensor, traj: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
    """Direct non-uniform DFT, image ``(..., H, W)`` complex -> samples ``(..., K)``.

    Memory is ``chunk * H * W`` complex numbers; meant as a reference on small images.
    """
    _check_traj(traj)
    if not torch.is_complex(x):
        raise TypeError(f"ndft_forward expects a complex image, got {x.dtype}")
    flat = x.flatten(-2)
    parts = [
        flat @ _ndft_matrix(traj[i : i + chunk], x.shape[-2:], x.dtype).T
        for i in range(0, traj.shape[0], chunk)
    ]
    return torch.cat(parts, dim=-1)


def ndft_adjoint(
    y: torch.Tensor, traj: torch.Tensor, im_size: tuple[int, int], *, chunk: int = 4096
) -> torch.Tensor:
    """Adjoint of :func:`ndft_forward`, samples ``(..., K)`` -> image ``(..., H, W)``."""
    _check_traj(traj)
    if not torch.is_complex(y) or y.shape[-1] != traj.shape[0]:
        raise ValueError(
            f"y must be complex (..., {traj.shape[0]}), got {y.dtype} {tuple(y.shape)}"
        )
    out = 0
    for i in range(0, traj.shape[0], chunk):
        mat = _ndft_matrix(traj[i : i + chunk], im_size, y.dtype)
        out = out + y[..., i : i + chunk] @ mat.conj()
    return out.reshape(*y.shape[:-1], *im_size)


def density_compensation(
    traj: torch.Tensor,
    im_size: tuple[int, int],
    *,
    method: str = "pipe",
    num_iters: int = 30,
) -> torch.Tensor:
    """Density compensation weights ``(K,)`` for gridding reconstruction.

    ``"pipe"``: the iterative Pipe-Menon weights (MRM 1999), ``w <- w / (G G^T w)`` with ``G`` the
    interpolation matrix of a narrow Kaiser-Bessel kernel (2 pixels wide), which make the gridded
    sampling density uniform.
    ``"ramp"``: ``|omega|``, the analytic radial density, with the DC sample set to a quarter of
    its neighbours' weight. Either is then scaled so that its gridded density equals that of
    fully sampled Cartesian data with unit weights; ``A^H (w * A x)`` is then about ``x`` for a
    fully sampled trajectory (weights sum to about ``H W`` times the covered fraction of
    ``[-pi, pi)^2``).
    """
    _check_traj(traj)
    grid = KaiserBesselGrid(traj, im_size, oversampling=2.0, kernel_width=4)
    if method == "pipe":
        w = torch.ones(traj.shape[0], dtype=torch.float64, device=traj.device)
        for _ in range(num_iters):
            w = w / grid.density(w).clamp_min(1e-12)
    elif method == "ramp":
        w = traj.double().norm(dim=1)
        step = w[w > 0].min() if bool((w > 0).any()) else torch.ones((), dtype=w.dtype)
        w = torch.where(w > 0, w, step / 4)
    else:
        raise ValueError(f"method must be 'pipe' or 'ramp', got {method!r}")
    scale = grid.cartesian_density() / grid.density(w).median()
    return (w * scale).to(traj.dtype)


class RadialNufftOp:
    """Multi-coil non-Cartesian forward operator ``A x = NUFFT(S x)`` with ``A`` and ``A_adjoint``.

    Args:
        traj: trajectory ``(K, 2)``, rows ``(ky, kx)`` in radians per pixel (see
            :func:`mricompendium.physics.masks.golden_angle_radial`).
        im_size: image shape ``(H, W)``.
        maps: complex coil sensitivities ``(B or 1, C, H, W)`` (``(C, H, W)`` is accepted);
            ``None`` for single-coil data (C = 1, S = 1).
        dcf: density compensation ``(K,)`` for :meth:`gridding_recon`; computed with
            :func:`density_compensation` on first use when ``None``.
        oversampling: grid oversampling factor of the NUFFT.
        kernel_width: Kaiser-Bessel kernel width in oversampled grid points.
    """

    def __init__(
        self,
        traj: torch.Tensor,
        im_size: tuple[int, int],
        *,
        maps: torch.Tensor | None = None,
        dcf: torch.Tensor | None = None,
        oversampling: float = 1.5,
        kernel_width: int = 6,
    ) -> None:
        _check_traj(traj)
        if maps is not None:
            if not torch.is_complex(maps):
                raise TypeError(f"coil maps must be complex, got {maps.dtype}")
            maps = maps.unsqueeze(0) if maps.dim() == 3 else maps
            if maps.dim() != 4 or tuple(maps.shape[-2:]) != tuple(im_size):
                raise ValueError(
                    f"maps must be (B, C, {im_size[0]}, {im_size[1]}), got {tuple(maps.shape)}"
                )
        if dcf is not None and dcf.shape != (traj.shape[0],):
            raise ValueError(f"dcf must be ({traj.shape[0]},), got {tuple(dcf.shape)}")
        self.traj = traj
        self.im_size = (int(im_size[0]), int(im_size[1]))
        self.maps = maps
        self.dcf = dcf
        self.grid = KaiserBesselGrid(
            traj, self.im_size, oversampling=oversampling, kernel_width=kernel_width
        )

    @property
    def num_coils(self) -> int:
        return 1 if self.maps is None else self.maps.shape[1]

    def A(self, x: torch.Tensor) -> torch.Tensor:
        """Image ``(B, H, W)`` complex -> coil samples ``(B, C, K)``."""
        if not torch.is_complex(x) or x.dim() != 3 or tuple(x.shape[-2:]) != self.im_size:
            h, w = self.im_size
            raise ValueError(f"x must be complex (B, {h}, {w}), got {x.dtype} {tuple(x.shape)}")
        coil = x.unsqueeze(1) if self.maps is None else x.unsqueeze(1) * self.maps
        return self.grid.forward(coil)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Coil samples ``(B, C, K)`` -> image ``(B, H, W)`` (plain adjoint, no density weights)."""
        k = self.traj.shape[0]
        if not torch.is_complex(y) or y.dim() != 3 or y.shape[1:] != (self.num_coils, k):
            raise ValueError(
                f"y must be complex (B, {self.num_coils}, {k}), got {y.dtype} {tuple(y.shape)}"
            )
        coil = self.grid.adjoint(y)
        return coil[:, 0] if self.maps is None else (coil * self.maps.conj()).sum(dim=1)

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """``A^H A x``."""
        return self.A_adjoint(self.A(x))

    def gridding_recon(self, y: torch.Tensor) -> torch.Tensor:
        """Density-compensated adjoint ``A^H (w * y)``: about ``x`` for full radial sampling."""
        if self.dcf is None:
            self.dcf = density_compensation(self.traj, self.im_size)
        return self.A_adjoint(y * self.dcf.to(device=y.device, dtype=y.real.dtype))

    A_dagger = gridding_recon
