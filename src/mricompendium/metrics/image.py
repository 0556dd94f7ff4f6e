"""Image-quality and overlap metrics, one value per test case.

All functions are pure: numpy arrays or torch tensors in, a ``numpy.float64`` array with one value
per case out. Images are real (magnitude) arrays ``(N, H, W)``; a single ``(H, W)`` image is a batch
of one. Intensity metrics take an explicit ``data_range`` (the dynamic range ``L`` in SSIM's
constants and PSNR's peak), a scalar or one value per case.

SSIM follows Wang et al. (2004) exactly as ``skimage.metrics.structural_similarity`` computes it
with its defaults and as the fastMRI evaluation does: a uniform 7x7 window, K1 = 0.01, K2 = 0.03,
sample (co)variances (normalised by ``win_size**2 - 1``), and the mean of the SSIM map over the
positions where the window lies fully inside the image (a 3-pixel border is dropped).

Two named evaluation protocols (:func:`evaluate`, :func:`protocol_description`) fix how
``data_range`` is chosen, because SSIM and PSNR are not comparable across choices:

* ``"fastmri_volume"``: ``data_range = target.max()`` over everything passed in (pass one volume,
  or one test set, at a time), as the fastMRI evaluation uses the volume maximum. Values are still
  reported per slice (fastMRI's SSIM is the mean over slices; its PSNR/NMSE are computed over the
  whole volume, so volume-level PSNR/NMSE differ from the mean of ours).
* ``"slice_normalised"``: each slice of ``pred`` and ``target`` is divided by that slice's
  ``target.max()`` and ``data_range = 1``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

__all__ = [
    "PROTOCOLS",
    "dice",
    "evaluate",
    "nmse",
    "protocol_description",
    "psnr",
    "ssim",
]

Protocol = Literal["fastmri_volume", "slice_normalised"]
PROTOCOLS: tuple[str, ...] = ("fastmri_volume", "slice_normalised")
_GRAIN = 32768  # PyTorch's elementwise grain size: smaller operations stay on one thread


def _as_images(x: Any, name: str) -> torch.Tensor:
    """numpy/torch ``(N, H, W)`` or ``(H, W)`` real -> float64 tensor ``(N, H, W)``."""
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.is_complex():
        raise TypeError(f"{name} is complex: pass magnitude images (e.g. x.abs())")
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    if not (
        t.is_floating_point()
        or t.dtype in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
    ):
        raise TypeError(f"{name} must be a real numeric array, got dtype {t.dtype}")
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3:
        raise ValueError(f"{name} must be (N, H, W) or (H, W), got shape {tuple(t.shape)}")
    return t.to(torch.float64)


def _pair(pred: Any, target: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p, t = _as_images(pred, "pred"), _as_images(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    return p, t.to(p.device)


def _mask(mask: Any, like: torch.Tensor) -> torch.Tensor:
    m = _as_images(mask, "mask").to(like.device) > 0.5
    if m.shape[1:] != like.shape[1:] or m.shape[0] not in (1, like.shape[0]):
        raise ValueError(f"mask {tuple(m.shape)} does not broadcast to images {tuple(like.shape)}")
    return m.expand_as(like)


def _data_range(data_range: Any, n: int, device: torch.device) -> torch.Tensor:
    r = torch.as_tensor(np.asarray(data_range, dtype=np.float64), device=device).reshape(-1)
    if r.numel() not in (1, n):
        raise ValueError(f"data_range must be a scalar or have one value per case ({n})")
    if not torch.all(torch.isfinite(r) & (r > 0)):
        raise ValueError(f"data_range must be finite and > 0, got {data_range}")
    return r.expand(n)


def _window_sums(a: torch.Tensor, win: int) -> torch.Tensor:
    """Sums over every ``win x win`` window inside ``(..., H, W)``: ``(..., H-win+1, W-win+1)``.

    Separable: ``win`` shifted slices added along W, then along H (2 (win - 1) additions per
    pixel instead of ``win**2``), in the input's precision. In float64 the result equals a 7x7
    average pool to rounding (about 1e-16).
    """
    h, w = a.shape[-2:]
    rows = a[..., :, : w - win + 1].clone()
    for k in range(1, win):
        rows += a[..., :, k : w - win + 1 + k]
    out = rows[..., : h - win + 1, :].clone()
    for k in range(1, win):
        out += rows[..., k : h - win + 1 + k, :]
    return out


def _ssim_sum(
    x: torch.Tensor, y: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, win: int,
    mask: torch.Tensor | None,
) -> torch.Tensor:  # fmt: skip
    """Sum of the SSIM map (inside ``mask``) of each image of ``x``, ``y`` ``(b, h, w)``: ``(b,)``.

    From the window sums ``S`` over ``n = win**2`` pixels, each factor of SSIM times ``n**2``
    (which cancels): ``A1 = 2 Sx Sy + C1 n^2``, ``A2 = 2 c (n Sxy - Sx Sy) + C2 n^2``,
    ``B1 = Sx^2 + Sy^2 + C1 n^2``, ``B2 = c (n (Sxx + Syy) - Sx^2 - Sy^2) + C2 n^2`` with the
    sample-covariance factor ``c = n / (n - 1)``; SSIM = A1 A2 / (B1 B2). Computed in place:
    no temporaries beyond the window sums.
    """
    n = float(win * win)
    cov = n / (n - 1.0)
    sx, sy = _window_sums(x, win), _window_sums(y, win)
    s2 = _window_sums(x * x, win).add_(_window_sums(y * y, win))
    sxy = _window_sums(x * y, win)
    a1 = sx * sy
    q = sx.mul_(sx).addcmul_(sy, sy)
    c1n, c2n = c1 * (n * n), c2 * (n * n)
    a2 = sxy.mul_(n).sub_(a1).mul_(2.0 * cov).add_(c2n)
    a1.mul_(2.0).add_(c1n)
    b2 = s2.mul_(n).sub_(q).mul_(cov).add_(c2n)
    ssim_map = a1.mul_(a2).div_(q.add_(c1n).mul_(b2))
    if mask is not None:
        ssim_map.mul_(mask)
    return ssim_map.sum(dim=(-2, -1))


def _chunks(n: int, h: int, w: int, win: int, device: torch.device) -> list[tuple[slice, slice]]:
    """(cases, input rows) of each piece SSIM is computed on.

    On a CPU every piece holds at most :data:`_GRAIN` pixels: several small images, or a band of
    rows of one large image (bands overlap by ``win - 1`` rows, so their window positions tile
    the image's). Elementwise operations on fewer elements than PyTorch's grain size run on one
    thread without OpenMP dispatch, and a piece's arrays stay in cache; the same numbers come
    out whatever the thread count. On a GPU the whole batch is one piece.
    """
    if device.type != "cpu":
        return [(slice(0, n), slice(0, h))]
    if h * w <= _GRAIN:
        step = max(1, _GRAIN // (h * w))
        return [(slice(i, i + step), slice(0, h)) for i in range(0, n, step)]
    band = max(win, _GRAIN // w)
    rows = [slice(r, min(h, r + band)) for r in range(0, h - win + 1, band - win + 1)]
    return [(slice(i, i + 1), r) for i in range(n) for r in rows]


def ssim(
    pred: Any,
    target: Any,
    *,
    data_range: float | Any,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
    mask: Any | None = None,
) -> np.ndarray:
    """Structural similarity per image (uniform window, skimage/fastMRI convention).

    Args:
        pred: reconstructed images ``(N, H, W)`` or ``(H, W)``, real.
        target: reference images, same shape.
        data_range: the dynamic range ``L`` (scalar or ``(N,)``), e.g. ``target.max()``.
        win_size: odd side of the uniform window, at most ``min(H, W)``.
        k1: SSIM constant, ``C1 = (k1 * L)**2``.
        k2: SSIM constant, ``C2 = (k2 * L)**2``.
        mask: optional region ``(N, H, W)`` or ``(H, W)`` (e.g. a brain mask): the mean is taken
            over the SSIM map's centre pixels inside the mask instead of over the whole map.

    Returns:
        ``(N,)`` float64 SSIM values.
    """
    p, t = _pair(pred, target)
    n, h, w = p.shape
    if win_size < 3 or win_size % 2 == 0 or win_size > min(h, w):
        raise ValueError(f"win_size must be odd, >= 3 and <= min(H, W) = {min(h, w)}: {win_size}")
    rng = _data_range(data_range, n, p.device)
    m = None
    if mask is not None:
        r = (win_size - 1) // 2
        m = _mask(mask, p)[:, r : h - r, r : w - r]
        empty = (m.sum(dim=(1, 2)) == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"mask has no pixels away from the {r}-pixel border in cases {empty}")
    c1 = ((k1 * rng) ** 2).view(-1, 1, 1)
    c2 = ((k2 * rng) ** 2).view(-1, 1, 1)
    total = torch.zeros(n, dtype=torch.float64, device=p.device)
    for cases, rows in _chunks(n, h, w, win_size, p.device):
        out_rows = slice(rows.start, rows.stop - win_size + 1)
        mi = None if m is None else m[cases, out_rows].to(p.dtype)
        total[cases] += _ssim_sum(p[cases, rows], t[cases, rows], c1[cases], c2[cases],
                                  win_size, mi)  # fmt: skip
    count = (h - win_size + 1) * (w - win_size + 1) if m is None else m.sum(dim=(1, 2))
    return (total / count).cpu().numpy()


def _mse(p: torch.Tensor, t: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    err = (p - t) ** 2
    if m is None:
        return err.mean(dim=(1, 2))
    count = m.sum(dim=(1, 2))
    if torch.any(count == 0):
        raise ValueError("mask is empty for some case")
    return (err * m).sum(dim=(1, 2)) / count


def psnr(pred: Any, target: Any, *, data_range: float | Any, mask: Any | None = None) -> np.ndarray:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(L**2 / MSE)``.

    Args:
        pred: images ``(N, H, W)`` or ``(H, W)``, real.
        target: reference images, same shape.
        data_range: the peak ``L`` (scalar or ``(N,)``).
        mask: optional region; the MSE is averaged inside it.

    Returns:
        ``(N,)`` float64 PSNR values; ``inf`` where ``pred == target``.
    """
    p, t = _pair(pred, target)
    rng = _data_range(data_range, p.shape[0], p.device)
    mse = _mse(p, t, None if mask is None else _mask(mask, p))
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10((rng**2).cpu().numpy() / mse.cpu().numpy())).astype(np.float64)


def nmse(pred: Any, target: Any, *, mask: Any | None = None) -> np.ndarray:
    """Normalised mean squared error per image: ``||pred - target||^2 / ||target||^2``.

    Args:
        pred: images ``(N, H, W)`` or ``(H, W)``, real.
        target: reference images, same shape; each must be non-zero (inside ``mask``).
        mask: optional region; both norms are taken inside it.

    Returns:
        ``(N,)`` float64 NMSE values (0 for a perfect reconstruction).
    """
    p, t = _pair(pred, target)
    m = None if mask is None else _mask(mask, p).to(p.dtype)
    if m is not None:
        p, t = p * m, t * m
    den = (t**2).sum(dim=(1, 2))
    if torch.any(den == 0):
        raise ValueError("target is zero for some case: NMSE is undefined")
    return (((p - t) ** 2).sum(dim=(1, 2)) / den).cpu().numpy()


def dice(pred_mask: Any, true_mask: Any, *, label: int | None = None) -> np.ndarray:
    """Dice overlap ``2|A & B| / (|A| + |B|)`` per case.

    Args:
        pred_mask: predicted masks ``(N, ...)`` (any spatial dims; bool or 0/1, or a label map).
        true_mask: reference masks, same shape.
        label: if given, compare ``pred_mask == label`` with ``true_mask == label``; otherwise
            non-zero voxels are foreground.

    Returns:
        ``(N,)`` float64 Dice values; 1.0 where both masks are empty (perfect agreement).
    """

    def to_np(x: Any) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)

    a, b = to_np(pred_mask), to_np(true_mask)
    if a.shape != b.shape:
        raise ValueError(f"pred_mask {a.shape} and true_mask {b.shape} differ in shape")
    if a.ndim < 2:
        raise ValueError(f"masks must be (N, ...) with at least one spatial dim, got {a.shape}")
    a, b = ((a == label), (b == label)) if label is not None else (a != 0, b != 0)
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    inter = np.logical_and(a, b).sum(axis=1).astype(np.float64)
    total = (a.sum(axis=1) + b.sum(axis=1)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total == 0, 1.0, 2.0 * inter / total)


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")


def evaluate(
    pred: Any, target: Any, *, protocol: Protocol, mask: Any | None = None
) -> dict[str, np.ndarray]:
    """SSIM, PSNR and NMSE per slice under a named protocol (see the module docstring).

    Args:
        pred: reconstructed magnitude images ``(N, H, W)`` or ``(H, W)``.
        target: reference magnitude images, same shape.
        protocol: ``"fastmri_volume"`` (``data_range = target.max()`` over all slices passed) or
            ``"slice_normalised"`` (each slice divided by its target maximum, ``data_range = 1``).
        mask: optional region (e.g. brain mask ``(N, H, W)`` or ``(H, W)``); adds ``ssim_mask``,
            ``psnr_mask`` and ``nmse_mask`` computed inside it.

    Returns:
        ``{"ssim", "psnr", "nmse"}`` (plus ``"ssim_mask"``, ``"psnr_mask"``, ``"nmse_mask"``
        with a mask), each a ``(N,)`` float64 array.
    """
    _check_protocol(protocol)
    p, t = _pair(pred, target)
    if protocol == "fastmri_volume":
        rng: Any = float(t.max())
        if rng <= 0:
            raise ValueError("target.max() must be > 0 for the fastmri_volume protocol")
    else:
        peak = t.amax(dim=(1, 2), keepdim=True)
        if torch.any(peak <= 0):
            raise ValueError("every target slice needs a positive maximum for slice_normalised")
        p, t, rng = p / peak, t / peak, 1.0
    out = {
        "ssim": ssim(p, t, data_range=rng),
        "psnr": psnr(p, t, data_range=rng),
        "nmse": nmse(p, t),
    }
    if mask is not None:
        out["ssim_mask"] = ssim(p, t, data_range=rng, mask=mask)
        out["psnr_mask"] = psnr(p, t, data_range=rng, mask=mask)
        out["nmse_mask"] = nmse(p, t, mask=mask)
    return out


def protocol_description(protocol: Protocol, *, mask: str | None = None) -> dict[str, Any]:
    """A JSON-ready description of an evaluation protocol, for the metrics JSON.

    Args:
        protocol: ``"fastmri_volume"`` or ``"slice_normalised"``.
        mask: optional words for the region of the ``*_mask`` metrics (e.g. ``"MNI brain mask"``).
    """
    _check_protocol(protocol)
    rule = {
        "fastmri_volume": "data_range = max of the target over all evaluated slices (fastMRI)",
        "slice_normalised": "pred and target divided by each target slice's max; data_range = 1",
    }[protocol]
    return {
        "name": protocol,
        "data_range": rule,
        "unit": "per slice (one value per test case)",
        "ssim_window": "uniform 7x7, K1=0.01, K2=0.03, sample covariance (skimage defaults)",
        "ssim_crop": "mean over valid window positions (3-pixel border dropped)",
        "image_crop": "none (images evaluated at the size given)",
        "psnr": "10 log10(data_range^2 / MSE), dB",
        "nmse": "||pred - target||^2 / ||target||^2",
        "mask": mask,
    }
