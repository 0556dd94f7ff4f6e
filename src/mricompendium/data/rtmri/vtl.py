"""The one module that talks to VocalTractLab (``vocaltractlab_cython``, GPL-3.0).

Every other module of the speech family works on the numpy arrays returned here, so the package
imports and runs without VocalTractLab; only building the speech corpus needs it. The library is
imported lazily, on the first call that needs it (:func:`available` tells whether it is there).

What VocalTractLab 2.x (the JD3 speaker model bundled with ``vocaltractlab-cython`` 0.0.17) gives:

* a segment (phone) sequence -> a gestural score -> a *tract sequence*: 19 vocal-tract and 11
  glottis parameters per state, one state every 110 audio samples at 44.1 kHz (about 400.9 states
  per second);
* audio for a tract sequence (the time-domain simulation of the tube model, 44.1 kHz);
* for one tract state, the midsagittal outlines (upper wall, lower wall, tongue, epiglottis; cm) and
  the centre line with its normals;
* 13 anatomy parameters (``ANATOMY_NAMES``, VocalTractLab's ``AnatomyParams``) that rescale the
  speaker (lengths in cm, the oral-pharyngeal angle in degrees).

Two behaviours of the library are worked around here. Closing the API after the anatomy was changed
crashes the process at exit (segmentation fault), so the ``atexit`` close handler is unregistered:
the operating system frees the library's memory. And the anatomy that the speaker file loads is not
one that :func:`set_anatomy` can reproduce, whereas ``set_anatomy`` itself is a pure function of its
13 values: callers always set the anatomy explicitly (every speaker, the reference one included),
which makes every result independent of what ran before in the process.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import multiprocessing
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "ANATOMY_NAMES",
    "AUDIO_RATE",
    "SAMPLES_PER_STATE",
    "OUTLINE_NAMES",
    "anatomy",
    "available",
    "centerline",
    "outlines",
    "segments_to_states",
    "segments_to_states_many",
    "set_anatomy",
    "shape",
    "shape_names",
    "shapes",
    "synthesise",
    "version",
]

#: VocalTractLab's 13 anatomy parameters, in its order (cm, the last in degrees).
ANATOMY_NAMES: tuple[str, ...] = (
    "lip_width_cm",
    "mandible_height_cm",
    "lower_molars_height_cm",
    "upper_molars_height_cm",
    "palate_height_cm",
    "palate_depth_cm",
    "hard_palate_length_cm",
    "soft_palate_length_cm",
    "pharynx_length_cm",
    "larynx_length_cm",
    "larynx_width_cm",
    "vocal_fold_length_cm",
    "oral_pharyngeal_angle_deg",
)
OUTLINE_NAMES: tuple[str, ...] = ("upper", "lower", "tongue", "epiglottis")
AUDIO_RATE = 44100  # Hz
SAMPLES_PER_STATE = 110  # audio samples per tract state
_MODULE = "vocaltractlab_cython"
_STATE = {"anatomy_set": False}


def available() -> bool:
    """Whether ``vocaltractlab_cython`` is installed (without importing it)."""
    return importlib.util.find_spec(_MODULE) is not None


@functools.cache
def _api() -> ModuleType:
    if not available():
        raise ModuleNotFoundError(
            "vocaltractlab-cython is not installed: it is needed to build the speech corpus "
            "(pip install vocaltractlab-cython==0.0.17; GPL-3.0, see the README's licence note)"
        )
    import vocaltractlab_cython as vtl  # noqa: PLC0415 (lazy by design)
    from vocaltractlab_cython import VocalTractLabApi

    atexit.unregister(VocalTractLabApi._close)  # crashes at exit after an anatomy change
    return vtl


def version() -> str:
    """The VocalTractLab library's build string and the binding's version."""
    from importlib.metadata import version as pkg_version

    return f"vocaltractlab-cython {pkg_version('vocaltractlab-cython')} ({_api().get_version()})"


def anatomy() -> np.ndarray:
    """The 13 anatomy parameters of the speaker now loaded (``ANATOMY_NAMES`` order)."""
    return np.asarray(_api().get_anatomy_params(), dtype=np.float64).copy()


def set_anatomy(params: Sequence[float] | np.ndarray) -> np.ndarray:
    """Set the 13 anatomy parameters; VocalTractLab clips them to its ranges.

    Returns:
        The parameters in effect after clipping.
    """
    p = np.asarray(params, dtype=np.float64).ravel()
    if p.shape != (len(ANATOMY_NAMES),) or not np.all(np.isfinite(p)):
        raise ValueError(f"anatomy needs {len(ANATOMY_NAMES)} finite values, got {p.shape}")
    _api().set_anatomy_params(p)
    _STATE["anatomy_set"] = True
    return anatomy()


def _pristine(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` here if this process never changed the anatomy, else in a fresh process."""
    if not _STATE["anatomy_set"]:
        return fn(*args)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(fn, *args).result()


def shape_names() -> list[str]:
    """Names of the vocal-tract shapes stored in the speaker file (vowels, consonant targets)."""
    import re

    text = Path(_api().DEFAULT_SPEAKER_PATH).read_text(encoding="utf-8", errors="replace")
    block = text.split("<glottis_models>")[0]
    return list(dict.fromkeys(re.findall(r'<shape name="([^"]+)"', block)))


def _shapes(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    api = _api()
    return {n: np.asarray(api.get_shape(n, "tract"), dtype=np.float64) for n in names}


def shapes(names: Sequence[str]) -> dict[str, np.ndarray]:
    """The 19 tract parameters of named shapes of the JD3 speaker file (its own anatomy)."""
    return _pristine(_shapes, tuple(names))


def shape(name: str) -> np.ndarray:
    """The 19 vocal-tract parameters of one named shape of the speaker file (e.g. ``"a"``)."""
    return shapes([name])[name]


def outlines(tract_state: np.ndarray) -> dict[str, np.ndarray]:
    """Midsagittal outlines of one tract state: ``{name: (n, 2) array of (x, y) in cm}``.

    ``upper`` runs from the larynx up the posterior pharynx wall, along the velum and palate, to the
    upper lip; ``lower`` from the larynx along the anterior wall and the floor of the mouth to the
    lower lip; ``tongue`` from the root to the tip; ``epiglottis`` around the epiglottis.
    """
    out = _api().get_outlines(np.asarray(tract_state, dtype=np.float64))
    return {k: np.asarray(out[k], dtype=np.float64) for k in OUTLINE_NAMES}


def centerline(tract_state: np.ndarray) -> np.ndarray:
    """The 129 centre-line points of the airway: ``(129, 5)`` = x, y, normal x, normal y, pos."""
    return np.asarray(_api().get_centerline(np.asarray(tract_state, dtype=np.float64)))


def _segment_text(segments: Sequence[tuple[str, float]]) -> str:
    lines = []
    for name, duration in segments:
        if not (isinstance(duration, int | float) and duration > 0):
            raise ValueError(f"segment {name!r}: duration must be > 0 s, got {duration!r}")
        lines.append(f"name = {name}; duration_s = {float(duration):.6f};")
    return "\n".join(lines) + "\n"


def _read_tract_sequence(path: Path) -> tuple[np.ndarray, np.ndarray]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    n = int(lines[1])
    rows = [np.array(ln.split(), dtype=np.float64) for ln in lines[2 : 2 + 2 * n]]
    if len(rows) != 2 * n:
        raise RuntimeError(f"{path}: tract sequence holds {len(rows) // 2} of {n} states")
    return np.stack(rows[1::2]), np.stack(rows[0::2])


def _many_states(
    utterances: tuple[tuple[tuple[str, float], ...], ...],
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    return [_states(u) for u in utterances]


def segments_to_states_many(
    utterances: Sequence[Sequence[tuple[str, float]]],
) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """:func:`segments_to_states` for many utterances (one fresh process at most)."""
    frozen = tuple(tuple((str(p), float(d)) for p, d in u) for u in utterances)
    return _pristine(_many_states, frozen)


def segments_to_states(
    segments: Sequence[tuple[str, float]],
) -> tuple[np.ndarray, np.ndarray, str]:
    """Phone segments -> gestural score -> tract sequence of the JD3 speaker.

    Args:
        segments: ``(name, duration_s)`` in German SAMPA as VocalTractLab knows them (``""`` is a
            pause), e.g. ``[("", 0.1), ("b", 0.08), ("a", 0.2), ("", 0.1)]``.

    Returns:
        ``(tract, glottis, gestural_score)``: ``(n_states, 19)`` and ``(n_states, 11)`` parameters,
        one state every ``SAMPLES_PER_STATE`` samples at ``AUDIO_RATE``, and the gestural score's
        XML text.
    """
    return segments_to_states_many([segments])[0]


def _states(segments: Sequence[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray, str]:
    api = _api()
    with tempfile.TemporaryDirectory() as tmp:
        seg, ges, tract = (Path(tmp) / n for n in ("seg.txt", "score.ges", "tract.txt"))
        seg.write_text(_segment_text(segments))
        api.phoneme_file_to_gesture_file(str(seg), str(ges))
        api.gesture_file_to_motor_file(str(ges), str(tract))
        tract_params, glottis_params = _read_tract_sequence(tract)
        score = ges.read_text()
    return tract_params, glottis_params, score


def synthesise(tract: np.ndarray, glottis: np.ndarray) -> np.ndarray:
    """Audio (44.1 kHz, float64) of a tract sequence: ``SAMPLES_PER_STATE`` samples per state.

    Sample ``i`` belongs to state ``i // SAMPLES_PER_STATE`` (the synthesiser interpolates the
    parameters linearly within a state).
    """
    tract = np.ascontiguousarray(tract, dtype=np.float64)
    glottis = np.ascontiguousarray(glottis, dtype=np.float64)
    return np.asarray(_api().synth_block(tract, glottis, SAMPLES_PER_STATE), dtype=np.float64)


def glottis_names() -> list[str]:
    """Names of the 11 glottis parameters (the first is F0 in Hz)."""
    return [p["name"] for p in _api().get_param_info("glottis")]


def tract_names() -> list[str]:
    """Names of the 19 vocal-tract parameters (``HX``, ``HY``, ``JX``, ``JA``, ``LP`` ...)."""
    return [p["name"] for p in _api().get_param_info("tract")]


def describe() -> dict[str, Any]:
    """Constants and names for a corpus manifest."""
    c = _api().get_constants()
    return {
        "version": version(),
        "audio_rate_hz": int(c["sr_audio"]),
        "samples_per_state": int(c["n_samples_per_state"]),
        "tract_parameters": tract_names(),
        "glottis_parameters": glottis_names(),
        "anatomy_parameters": list(ANATOMY_NAMES),
    }
