"""The simulator with VocalTractLab: audio/frame alignment, vowel formants, determinism, the build.

Skipped where ``vocaltractlab-cython`` is not installed (the rest of the package runs without it).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("vocaltractlab_cython")

from mricompendium.data.rtmri import build, simulate, vtl  # noqa: E402
from mricompendium.data.rtmri.corpus import load_corpus  # noqa: E402
from mricompendium.data.rtmri.speakers import reference_speaker, sample_speakers  # noqa: E402
from mricompendium.metrics.speech import lpc_formants  # noqa: E402

SIM = simulate.SimConfig()


@pytest.fixture(scope="module")
def neutral():
    return vtl.shape(simulate.NEUTRAL_SHAPE)


def _simulate(speaker, segments, neutral, seed=0):
    art = simulate.articulate([segments])[0]
    scene = simulate.speaker_scene(speaker, neutral, SIM, seed)
    return simulate.simulate_utterance(speaker, art, scene, SIM, np.random.default_rng(seed))


def _rms(audio, t0, t1, rate=SIM.audio_rate_hz):
    seg = audio[int(t0 * rate) : int(t1 * rate)]
    return float(np.sqrt(np.mean(seg**2)))


def test_lip_closure_of_p_is_silent_and_its_release_starts_the_vowel(neutral):
    """The known event: /p/ closes the lips (frames) while the audio falls silent; the audio of the
    next vowel starts when the lips open again, within one frame (20 ms)."""
    segs = [("", 0.15), ("a", 0.2), ("p", 0.12), ("a", 0.2), ("", 0.15)]
    out = _simulate(reference_speaker(), segs, neutral)
    t, lips, audio = out["frame_times_s"], out["lip_aperture_cm"], out["audio"]
    assert len(audio) == len(t) * SIM.samples_per_frame
    closed = np.flatnonzero((lips < 0.01) & (t > 0.3) & (t < 0.55))
    assert len(closed) >= 2
    t_close, t_open = t[closed[0]], t[closed[-1]] + 1 / SIM.frame_rate_hz
    assert 0.30 <= t_close <= 0.40 and 0.43 <= t_open <= 0.53  # the /p/ segment is 0.35-0.47 s
    vowel = _rms(audio, 0.2, 0.3)
    assert _rms(audio, t_close + 0.02, t_open - 0.02) < 0.05 * vowel
    win = np.arange(t_close, t_open + 0.1, 0.005)
    onset = next(w for w in win if _rms(audio, w, w + 0.01) > 0.2 * vowel)
    assert abs(onset - t_open) <= 1 / SIM.frame_rate_hz
    # and the image shows it: the lips' pixels are tissue during the closure, air in the vowel
    lip_xy = np.mean(
        [vtl.outlines(out["tract"][closed[1]].astype(float))[k][-1] for k in ("upper", "lower")],
        axis=0,
    )
    rows, cols = SIM.geometry.to_hires(lip_xy[None])
    r, c = int(rows[0]) // SIM.geometry.supersample, int(cols[0]) // SIM.geometry.supersample
    open_frame = int(np.argmax(lips * (t < 0.3)))
    assert out["frames"][closed[1], r, c] > out["frames"][open_frame, r, c] + 40


# Adult male vowel formants: Peterson & Barney (1952, J Acoust Soc Am 24:175) give /a/ 730/1090,
# /i/ 270/2290, /u/ 300/870 Hz; Hillenbrand et al. (1995, J Acoust Soc Am 97:3099) /a/ 768/1333,
# /i/ 342/2322, /u/ 378/997. The ranges below hold both, widened by about 20 %.
RANGES = {
    "a": ((550, 950), (950, 1550)),
    "i": ((150, 420), (1850, 2700)),
    "u": ((170, 450), (550, 1150)),
}


@pytest.mark.parametrize("who", ["reference", "test01"])
def test_sustained_vowel_formants_fall_in_adult_ranges(who, neutral):
    pool = {s.id: s for s in sample_speakers(2, "train", 0) + sample_speakers(2, "test", 0)}
    spk = reference_speaker() if who == "reference" else pool[who]
    for v, ((f1lo, f1hi), (f2lo, f2hi)) in RANGES.items():
        out = _simulate(spk, [("", 0.05), (v, 0.5), ("", 0.05)], neutral)
        mid = len(out["audio"]) // 2
        f1, f2, _ = lpc_formants(out["audio"][mid - 2400 : mid + 2400], SIM.audio_rate_hz)
        assert f1lo <= f1 <= f1hi, f"{who} /{v}/ F1 {f1:.0f} Hz"
        assert f2lo <= f2 <= f2hi, f"{who} /{v}/ F2 {f2:.0f} Hz"


def test_simulation_is_deterministic_for_a_seed(neutral):
    spk = sample_speakers(1, "train", 3)[0]
    segs = [("", 0.1), ("m", 0.08), ("i", 0.15), ("", 0.1)]
    a = _simulate(spk, segs, neutral, seed=7)
    _simulate(sample_speakers(1, "test", 3)[0], segs, neutral, seed=1)  # another speaker between
    b = _simulate(spk, segs, neutral, seed=7)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    c = _simulate(spk, segs, neutral, seed=8)
    np.testing.assert_array_equal(a["audio"], c["audio"])  # the seed draws the image noise only
    assert not np.array_equal(a["frames"], c["frames"])


def test_tiny_corpus_builds_deterministically_and_loads(tmp_path):
    cfg = build.BuildConfig(
        n_train_speakers=1,
        n_test_speakers=1,
        train_utterances=1,
        seen_test_utterances=0,
        unseen_test_utterances=1,
        n_syllables=1,
        n_shape_speakers=2,
    )
    m1 = build.build(tmp_path / "a", cfg, workers=1)
    m2 = build.build(tmp_path / "b", cfg, workers=2)
    j1, j2 = json.loads(m1.read_text()), json.loads(m2.read_text())
    assert j1["files"] == j2["files"]
    c = load_corpus(tmp_path / "a", verify=True)
    assert [u.speaker_split for u in c.utterances] == ["train", "test"]
    assert c.shapes["tongue"].shape[:2] == (2, len(c.pose_names))
    assert c.utterances[0].frames.shape[1:] == (84, 84)
    assert "rasterised from the articulatory model" in c.describe()
    assert build.build(tmp_path / "a", cfg, workers=1, if_changed=True) == m1


def test_the_tongue_contour_moves_with_exactly_the_listed_tract_parameters():
    """The pose degrees of freedom the tongue-model notebook quotes (``VTL_TONGUE_PARAMETERS``)."""
    from mricompendium.data.rtmri.speakers import REFERENCE_ANATOMY
    from mricompendium.experiments.speech.tongue_cv import VTL_TONGUE_PARAMETERS

    names = vtl.tract_names()
    poses = vtl.shapes(build.tongue_poses(vtl.shape_names()))
    vtl.set_anatomy(np.array(REFERENCE_ANATOMY))
    x = np.stack(list(poses.values()))
    base = x.mean(axis=0)
    ref = simulate.resample_curve(vtl.outlines(base)["tongue"], 40)
    moved = []
    for k, name in enumerate(names):
        p = base.copy()
        p[k] += 0.1 * (np.ptp(x[:, k]) + 1e-3)  # a tenth of the parameter's range over the poses
        c = simulate.resample_curve(vtl.outlines(p)["tongue"], 40)
        if np.abs(c - ref).max() > 0.01:  # 0.1 mm
            moved.append(name)
    assert tuple(moved) == VTL_TONGUE_PARAMETERS
