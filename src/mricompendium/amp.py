"""The ``precision`` switch of the training loop: ``auto``, ``fp32``, ``bf16`` or ``fp16``.

- ``fp32``: no autocast.
- ``bf16``: ``torch.autocast`` to bfloat16 (CUDA with bf16 support, or a CPU); no loss scaling.
- ``fp16``: ``torch.autocast`` to float16 with a ``GradScaler`` (CUDA only).
- ``auto``: on CUDA bf16 where the GPU supports it, else fp16. On a CPU fp32, unless the caller
  says bf16 is faster for its model (``cpu_bf16=True``) and the CPU has bfloat16 units
  (AVX512-BF16 or AMX; without them bf16 is emulated and slower). Whether it is faster depends
  on the model: ``make bench`` measured (``benchmarks/precision.py``) 2.5x for a 2D Swin UNETR
  and 1.1x for CIRIM, but 0.8-0.9x for BrainCLIP's MLP mapper and MRI2Mel (autocast's casts
  cost more than small matrix products gain); the training plans say so per notebook.

Fourier transforms and data consistency stay in fp32 under every setting
(:mod:`mricompendium.physics.precision`).
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import torch

__all__ = ["PRECISIONS", "autocast", "cpu_has_bf16", "grad_scaler", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (``avx512_bf16`` or ``amx_bf16`` flags).

    Read from ``/proc/cpuinfo`` (Linux); elsewhere oneDNN's own check, if torch exposes it.
    """
    info = Path("/proc/cpuinfo")
    if info.exists():
        flags = set()
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                flags.update(line.partition(":")[2].split())
                break
        return bool({"avx512_bf16", "amx_bf16"} & flags)
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def resolve_precision(spec: str, device: torch.device | str, *, cpu_bf16: bool = False) -> str:
    """The precision ``spec`` means on ``device``: ``"fp32"``, ``"bf16"`` or ``"fp16"``.

    ``cpu_bf16``: for ``auto`` on a CPU, bf16 is faster for this model (where the CPU has bf16
    units).

    Raises:
        ValueError: an unknown ``spec``; ``fp16`` on a CPU; ``bf16`` on a GPU without it.
    """
    if spec not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {spec!r}")
    device = torch.device(device)
    cuda = device.type == "cuda"
    if spec == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_bf16 and device.type == "cpu" and cpu_has_bf16() else "fp32"
    if spec == "fp16" and not cuda:
        raise ValueError(f"precision fp16 needs a CUDA device (got {device}); use bf16 or fp32")
    if spec == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision bf16: {device} does not support bfloat16; use fp16")
    if spec == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"precision bf16 needs a CPU or CUDA device, got {device}")
    return spec


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """The autocast context of a resolved ``precision`` on ``device`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=_DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """A ``GradScaler``, enabled for fp16 only (bf16 has fp32's exponent range)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")
