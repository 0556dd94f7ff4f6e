"""Full precision for the physics under mixed-precision training.

Under ``torch.autocast`` (bfloat16 or float16) convolutions and matrix products run in half
precision; Fourier transforms and data consistency must not: ``torch.fft`` has no bfloat16
kernels, float16 FFTs exist on CUDA for power-of-two sizes only, and k-space spans several orders
of magnitude that a 8-bit mantissa (bfloat16) rounds away. Every FFT of the package goes through
:mod:`mricompendium.physics.fft`, which calls :func:`full_precision`, so a model that reaches
k-space through ``fft2c``/``ifft2c``, ``sens_expand``/``sens_reduce`` or ``SenseOp`` is covered
without code of its own; a model with its own k-space arithmetic wraps it the same way::

    with full_precision(x):
        k = fft2c(upcast(x))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["full_precision", "upcast"]

_UP = {
    torch.float16: torch.float32,
    torch.bfloat16: torch.float32,
    torch.complex32: torch.complex64,
}


def upcast(x: torch.Tensor) -> torch.Tensor:
    """``x`` in single precision if it is in half precision (real or complex); else ``x`` itself."""
    target = _UP.get(x.dtype)
    return x if target is None else x.to(target)


@contextlib.contextmanager
def full_precision(like: torch.Tensor | torch.device | str) -> Iterator[None]:
    """Switch autocast off on ``like``'s device type for the block (a no-op outside autocast).

    Args:
        like: a tensor, device or device type (``"cpu"``, ``"cuda"``) whose autocast to suspend.
    """
    if isinstance(like, torch.Tensor):
        device_type = like.device.type
    else:
        device_type = torch.device(like).type
    if device_type not in ("cpu", "cuda") or not torch.is_autocast_enabled(device_type):
        yield
        return
    with torch.autocast(device_type, enabled=False):
        yield
