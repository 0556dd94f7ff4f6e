"""A coarse memory estimate of a notebook run, from its sizes, checked before a kernel starts.

Each estimate is a **lower bound from the largest arrays** a notebook must hold at once (the data
it simulates or loads, and one training batch's activations times a rough depth factor) plus
the interpreter with torch loaded; it ignores caches, fragmentation and everything small. It
is not a prediction of the peak: it exists to refuse, in a fraction of a second, a run that
cannot fit (``n_voxels=100000000`` needs terabytes) instead of letting it swap or be killed
after minutes. :func:`check` compares it with this machine's memory (``/proc/meminfo``, or a
smaller cgroup limit). Host memory only: on a GPU the activations live in device memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ESTIMATES", "check", "estimate", "machine_memory"]

GIB = 1024**3
BASE = 0.5 * GIB  # Python, numpy, torch and a Jupyter kernel, at the least
F32, C64 = 4, 8
DEPTH = 20  # activations kept for the backward pass: a rough count of layers per resolution


def _n(p: Mapping[str, Any], key: str, default: float = 0) -> float:
    v = p.get(key, default)
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else float(default)


def _len(p: Mapping[str, Any], *keys: str) -> int:
    return sum(len(p[k]) for k in keys if isinstance(p.get(k), list))


def _recon(p: Mapping[str, Any]) -> tuple[float, str]:
    n = _n(p, "image_size", 32)
    coils = max(_n(p, "num_coils", 1), _n(p, "train_coils"), _n(p, "test_coils"), 1)
    settings = max(_len(p, "train_samplings", "unseen_samplings", "accelerations",
                        "cartesian_accelerations", "radial_accelerations"), 1)  # fmt: skip
    cases = _n(p, "n_test_template", 6) + _n(p, "n_val", 3) + _n(p, "mask_pool", 8)
    data = cases * settings * coils * n * n * C64
    train = _n(p, "batch_size", 1) * coils * n * n * C64 * DEPTH * 2
    return data + train, f"k-space of {cases:.0f} cases x {settings} settings x {coils:.0f} coils"


def _seg_volume(p: Mapping[str, Any]) -> float:
    shape = p.get("shape")
    if isinstance(shape, list) and shape:
        return float(math.prod(shape))
    return _n(p, "grid", 64) ** 3


def _pyramid(features: Any) -> float:
    """Channels at full resolution equivalent to a U-Net's levels (each a quarter the pixels)."""
    feats = features if isinstance(features, list) and features else [64]
    return sum(f / 4**level for level, f in enumerate(feats))


def _seg2d(p: Mapping[str, Any], side: float, chans: float) -> tuple[float, str]:
    synth = _seg_volume(p) * F32 * 8  # one head: labels, deformation field, image, bias ...
    train = _n(p, "batch_size", 1) * chans * side * side * F32 * DEPTH * 2  # encoder + decoder
    return synth + train, "one synthesised head and a training batch's activations"


def _scse(p: Mapping[str, Any]) -> tuple[float, str]:
    shape = p.get("shape") if isinstance(p.get("shape"), list) else [64, 80, 64]
    return _seg2d(p, math.sqrt(shape[0] * shape[1]), _pyramid(p.get("features")))


def _synthstrip(p: Mapping[str, Any]) -> tuple[float, str]:
    return _seg2d(p, _n(p, "grid", 64), _pyramid(p.get("features")))


def _stroke(p: Mapping[str, Any]) -> tuple[float, str]:
    return _seg2d(p, _n(p, "patch", 32), _pyramid(p.get("features")))


def _swin(p: Mapping[str, Any]) -> tuple[float, str]:
    return _seg2d(p, _n(p, "size", 64), _n(p, "swin_feature_size", 12) * 4)


def _segresnet(p: Mapping[str, Any]) -> tuple[float, str]:
    synth = _seg_volume(p) * F32 * 8
    train = _n(p, "batch_size", 1) * _n(p, "width", 8) * _n(p, "crop", 32) ** 3 * F32 * DEPTH
    return synth + train, "one synthesised head and a 3D training batch's activations"


def _nnunet(p: Mapping[str, Any]) -> tuple[float, str]:
    cases = _n(p, "n_train", 4) + _n(p, "n_val", 2) + _n(p, "n_test", 6)
    data = cases * _seg_volume(p) * F32 * 2
    patch = min(_n(p, "max_patch_voxels", 12000), _n(p, "initial_voxels", 110592))
    train = 2 * _n(p, "base_features", 8) * patch * F32 * DEPTH
    return data + train, f"{cases:.0f} volumes and a 3D patch's activations"


def _registration(p: Mapping[str, Any]) -> tuple[float, str]:
    if _n(p, "ndim", 2) == 3:
        mm = max(_n(p, "template_mm", 4.0), 0.5)
        voxels = (197 / mm) * (233 / mm) * (189 / mm)  # the MNI template at template_mm
        width = max(p.get("nested_dims") or [32])
    else:
        voxels = _n(p, "image_size", 32) ** 2
        width = max(p.get("nested_dims") or [32])
    pairs = _n(p, "n_val", 6) + _n(p, "n_test", 8)
    data = pairs * voxels * F32 * 8  # two images, labels and the true displacement per pair
    train = _n(p, "batch_size", 1) * width * voxels * F32 * DEPTH
    return data + train, f"{pairs:.0f} test pairs and a training batch of {voxels:.0f} voxels"


def _fmri_trials(p: Mapping[str, Any]) -> float:
    repeats = _n(p, "test_repeats", 3)
    if "n_subjects" in p:  # MindEye2: sessions of every subject
        sessions = _n(p, "target_sessions", 1) + _n(p, "pretrain_sessions", 2)
        return sessions * _n(p, "trials_per_session", 200) + _n(p, "n_test", 100) * repeats
    test = _n(p, "n_test_seen", 60) + _n(p, "n_test_novel", 100)
    return _n(p, "n_train", 600) + _n(p, "n_val", 60) + test * repeats


def _fmri(p: Mapping[str, Any]) -> tuple[float, str]:
    voxels, trials = _n(p, "n_voxels", 300), _fmri_trials(p)
    subjects = max(_n(p, "n_subjects", 1), 1)
    stored = subjects * trials * voxels * F32  # single-trial betas of every subject
    transient = trials * voxels * F32 * 10  # one subject's pooled features, amplitudes, fits
    prf = voxels * 1024 * 8 * 2  # pRF weights on the feature grid, float64 while built
    return (
        stored + transient + prf,
        f"betas of {subjects:.0f} x {trials:.0f} trials x {voxels:.0f} voxels",
    )


def _speech(p: Mapping[str, Any]) -> tuple[float, str]:
    side = 84 / max(_n(p, "downsample", 1), 1)
    corpus = 2 * GIB if p.get("corpus") == "full" else 0.2 * GIB  # frames and audio, loaded
    train = _n(p, "batch_size", 1) * _n(p, "crop_frames", 32) * side * side * F32 * DEPTH * 4
    return corpus + train, "the corpus and a training batch's activations"


def _small(p: Mapping[str, Any]) -> tuple[float, str]:
    return 0.2 * GIB, "contours only"


ESTIMATES: dict[str, Callable[[Mapping[str, Any]], tuple[float, str]]] = {
    **dict.fromkeys(
        ("cirim", "multicoil_generalisation", "reconresnet", "recurrentvarnet", "xpdnet"), _recon
    ),
    "scse": _scse,
    "synthstrip": _synthstrip,
    "stroke_synthetic": _stroke,
    "swin_unetr": _swin,
    "segresnet_vae": _segresnet,
    "nnunet_extended": _nnunet,
    **dict.fromkeys(("ddmr", "nestedmorph", "biomech_cardiac"), _registration),
    **dict.fromkeys(("brainclip", "mindeye2"), _fmri),
    "mri2speech": _speech,
    "tongue_model": _small,
}


def estimate(nb_id: str, params: Mapping[str, Any]) -> tuple[float, str]:
    """``(bytes, what dominates)`` for a run of ``nb_id`` with the effective ``params``.

    A notebook without an estimate gets the base only.
    """
    fn = ESTIMATES.get(nb_id)
    if fn is None:
        return BASE, "the interpreter (no estimate for this notebook)"
    size, what = fn(params)
    return BASE + size, what


def machine_memory() -> int | None:
    """Bytes of memory this process may use: MemTotal, or a smaller cgroup limit (v2 or v1)."""
    total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and total is not None:
            total = min(total, int(text))
    return total


def check(nb_id: str, params: Mapping[str, Any], available: int | None = None) -> str | None:
    """Why a run cannot fit in this machine's memory, or ``None`` (also when unknown)."""
    available = available if available is not None else machine_memory()
    need, what = estimate(nb_id, params)
    if available is None or need <= available:
        return None
    return (
        f"needs at least {need / GIB:.1f} GiB ({what}; a coarse lower bound from the sizes), "
        f"this machine has {available / GIB:.1f} GiB"
    )
