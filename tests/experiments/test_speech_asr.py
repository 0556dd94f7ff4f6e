"""The phone recogniser: frame labels, minimum-duration Viterbi, and recognition of phones with
distinct spectra (trained on some utterances, tested on others)."""

from __future__ import annotations

import numpy as np
import pytest

from mricompendium.data.rtmri.utterances import Segment
from mricompendium.experiments.speech import asr, audio

MEL = audio.MelConfig(n_mels=20)
PHONES = ["b", "a", "d", "i", "s", "u"]


def _utterance(rng: np.random.Generator, templates: dict[str, np.ndarray], n: int = 4):
    """Random phones with 50-120 ms durations between pauses; log-mel = template + noise."""
    phones = [str(p) for p in rng.choice(PHONES, size=n)]
    for k in range(1, n):  # no phone twice in a row: runs of one label would merge
        while phones[k] == phones[k - 1]:
            phones[k] = str(rng.choice(PHONES))
    segs, t = [Segment("", 0.0, 0.1)], 0.1
    for p in phones:
        d = float(rng.uniform(0.05, 0.12))
        segs.append(Segment(p, t, t + d))
        t += d
    segs.append(Segment("", t, t + 0.1))
    n_frames = int((t + 0.1) * MEL.sample_rate / MEL.hop_length)
    labels = asr.frame_labels(segs, n_frames, MEL)
    log_mel = np.stack([templates[lab] for lab in labels]) + 0.3 * rng.normal(size=(n_frames, 20))
    return log_mel, segs


def _templates() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    out = {p: rng.normal(scale=2.0, size=20) - 5.0 for p in PHONES}
    out[asr.SILENCE] = np.full(20, -11.0)
    return out


def test_frame_labels_and_reference_phones():
    segs = [Segment("", 0.0, 0.02), Segment("a", 0.02, 0.05), Segment("", 0.05, 0.06)]
    assert asr.frame_labels(segs, 7, MEL) == ["sil", "sil", "a", "a", "a", "sil", "sil"]
    assert asr.reference_phones(segs) == ["a"]


def test_viterbi_keeps_runs_at_least_the_minimum_length():
    logp = np.log(np.full((12, 2), 0.1))
    logp[:, 0] = np.log(0.9)
    logp[5] = np.log([0.1, 0.9])  # a one-frame blip of class 1
    assert list(asr._viterbi(logp, min_frames=1, penalty=0.0)) == [0] * 5 + [1] + [0] * 6
    assert (asr._viterbi(logp, min_frames=3, penalty=0.0) == 0).all()  # 3 frames cost more
    assert (asr._viterbi(logp, min_frames=1, penalty=10.0) == 0).all()  # two changes cost more
    long = logp.copy()
    long[4:9] = np.log([0.1, 0.9])
    path = asr._viterbi(long, min_frames=3, penalty=1.0)
    assert list(path) == [0] * 4 + [1] * 5 + [0] * 3


def test_the_recogniser_transcribes_phones_it_was_trained_on():
    templates, rng = _templates(), np.random.default_rng(0)
    train = [_utterance(rng, templates) for _ in range(12)]
    rec = asr.PhoneRecogniser(context=1, min_frames=3, insertion_penalty=2.0)
    rec.fit([lm for lm, _ in train], [s for _, s in train], MEL)
    assert set(rec.classes) == {*PHONES, asr.SILENCE}
    for _ in range(5):
        log_mel, segs = _utterance(rng, templates)
        assert rec.transcribe(log_mel) == asr.reference_phones(segs)
    flat = np.full((40, 20), -11.0)  # silence only: nothing to recognise
    assert rec.transcribe(flat) == []


def test_the_recogniser_rejects_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="min_frames"):
        asr.PhoneRecogniser(min_frames=0)
    with pytest.raises(ValueError, match="one segment list"):
        asr.PhoneRecogniser().fit([np.zeros((5, 20))], [], MEL)
    with pytest.raises(RuntimeError, match="fit"):
        asr.PhoneRecogniser().transcribe(np.zeros((5, 20)))
