"""A small phone recogniser: the intelligibility stand-in for an ASR system's word error rate.

MRI2Speech (S49) scores its synthesised speech by the word error rate of a speech recogniser. Our
utterances are nonsense consonant-vowel syllables and no ASR model ships offline, so the stand-in
is a recogniser of the corpus's phones trained on the *clean* audio of the training speakers only:

1. features: mel cepstra c0..c{n_ceps-1} of each 10 ms frame, stacked over +-``context`` frames;
2. a frame classifier: linear discriminant analysis (shared covariance, shrinkage) over the phones
   and silence, whose per-frame posteriors score each phone;
3. decoding: Viterbi through a phone loop in which every phone lasts at least ``min_frames`` frames
   and each new phone costs ``insertion_penalty`` (in log-posterior units); runs of one label make
   the recognised phone sequence, silence dropped.

The phone error rate (:func:`mricompendium.metrics.speech.error_rate_pct`) of the recognised
sequence against the utterance's phones plays the role of the paper's word error rate. The
recogniser never sees the output of a model under test while it is trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mricompendium.data.rtmri.utterances import Segment
from mricompendium.experiments.speech.audio import MelConfig, VowelClassifier
from mricompendium.metrics.speech import mel_cepstra

__all__ = ["SILENCE", "PhoneRecogniser", "frame_labels", "reference_phones"]

SILENCE = "sil"


def frame_labels(segments: Sequence[Segment], n_frames: int, cfg: MelConfig) -> list[str]:
    """The phone under each centred mel frame (``SILENCE`` in pauses and outside the segments)."""
    times = np.arange(n_frames) * cfg.hop_length / cfg.sample_rate
    out = [SILENCE] * n_frames
    for s in segments:
        if not s.phone:
            continue
        for m in np.flatnonzero((times >= s.start_s) & (times < s.end_s)):
            out[m] = s.phone
    return out


def reference_phones(segments: Sequence[Segment]) -> list[str]:
    """The utterance's phones in order, pauses left out."""
    return [s.phone for s in segments if s.phone]


def _stack(feats: np.ndarray, context: int) -> np.ndarray:
    """``(T, F)`` -> ``(T, (2 context + 1) F)``: each frame with its neighbours (edges repeated)."""
    t = len(feats)
    padded = np.pad(feats, ((context, context), (0, 0)), mode="edge")
    return np.concatenate([padded[k : k + t] for k in range(2 * context + 1)], axis=1)


def _viterbi(logp: np.ndarray, min_frames: int, penalty: float) -> np.ndarray:
    """Best class per frame under a minimum duration and an insertion penalty.

    Each class ``k`` is a chain of ``m`` states ``(k, 0) .. (k, m - 1)``; the last one loops on
    itself and leads to the first state of any other class at the cost ``penalty``.

    Args:
        logp: ``(T, K)`` per-frame log-posteriors.
        min_frames: frames each run of one class lasts at least (shortened when ``T`` is smaller).
        penalty: cost of entering a new class.

    Returns:
        ``(T,)`` class indices.
    """
    t_len, k = logp.shape
    m = max(1, min(int(min_frames), t_len))
    cls = np.arange(k)
    score = np.full((k, m), -np.inf)
    score[:, 0] = logp[0]
    back = np.zeros((t_len, k, m), dtype=np.int64)  # flat index k * m + d of the predecessor
    for t in range(1, t_len):
        last = score[:, m - 1]
        order = np.argsort(-last, kind="stable")
        other = np.where(cls == order[0], order[min(1, k - 1)], order[0])  # best other class
        new = np.empty_like(score)
        new[:, 0] = last[other] - penalty
        back[t, :, 0] = other * m + m - 1
        if m == 1:
            stay = last >= new[:, 0]
            new[:, 0] = np.where(stay, last, new[:, 0])
            back[t, :, 0] = np.where(stay, cls, other)
        else:
            new[:, 1:] = score[:, :-1]
            back[t, :, 1:] = cls[:, None] * m + np.arange(m - 1)[None, :]
            stay = last >= score[:, m - 2]
            new[:, m - 1] = np.where(stay, last, score[:, m - 2])
            back[t, :, m - 1] = np.where(stay, cls * m + m - 1, cls * m + m - 2)
        score = new + logp[t][:, None]
    state = int(np.argmax(score[:, m - 1])) * m + m - 1
    path = np.empty(t_len, dtype=np.int64)
    for t in range(t_len - 1, -1, -1):
        path[t] = state // m
        state = int(back[t, state // m, state % m])
    return path


class PhoneRecogniser:
    """Frame classifier (LDA) + minimum-duration Viterbi decoding of phones.

    The defaults were chosen on the clean validation utterances of the full corpus's training
    speakers (phone error rate over a small grid of context, minimum duration, penalty and
    shrinkage), never on test audio or on any model's output.

    Args:
        n_ceps: mel cepstra per frame (c0, the level, included: it tells silence and closures).
        context: frames stacked on each side of the current one.
        min_frames: shortest phone, in 10 ms frames.
        insertion_penalty: log-posterior cost of each new phone.
        shrinkage: LDA covariance shrinkage towards a scaled identity (0..1).
    """

    def __init__(
        self,
        *,
        n_ceps: int = 13,
        context: int = 4,
        min_frames: int = 5,
        insertion_penalty: float = 20.0,
        shrinkage: float = 0.1,
    ) -> None:
        if n_ceps < 1 or context < 0 or min_frames < 1 or insertion_penalty < 0:
            raise ValueError(
                "need n_ceps >= 1, context >= 0, min_frames >= 1, insertion_penalty >= 0"
            )
        self.n_ceps, self.context = int(n_ceps), int(context)
        self.min_frames, self.insertion_penalty = int(min_frames), float(insertion_penalty)
        self.lda = VowelClassifier(shrinkage=shrinkage)

    def features(self, log_mel_: np.ndarray) -> np.ndarray:
        """``(T, n_mels)`` natural-log mel amplitudes -> ``(T, (2 context + 1) n_ceps)``."""
        return _stack(mel_cepstra(log_mel_, self.n_ceps), self.context)

    def fit(
        self, log_mels: Sequence[np.ndarray], segments: Sequence[Sequence[Segment]], cfg: MelConfig
    ) -> PhoneRecogniser:
        """Train on clean utterances: their log-mels and phone segments (the frames' labels)."""
        if len(log_mels) != len(segments) or not log_mels:
            raise ValueError("give one segment list per log-mel (at least one utterance)")
        x = np.concatenate([self.features(lm) for lm in log_mels])
        y = [lab for lm, seg in zip(log_mels, segments, strict=True)
             for lab in frame_labels(seg, len(lm), cfg)]  # fmt: skip
        self.lda.fit(x, y)
        return self

    @property
    def classes(self) -> list[str]:
        return list(self.lda.classes_)

    def log_posteriors(self, log_mel_: np.ndarray) -> np.ndarray:
        """``(T, K)`` per-frame log-posteriors of the classes (equal priors)."""
        scores = self.lda.decision_function(self.features(log_mel_))
        scores = scores - scores.max(axis=1, keepdims=True)
        return scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))

    def transcribe(self, log_mel_: np.ndarray) -> list[str]:
        """The recognised phone sequence of one utterance (silence left out)."""
        path = _viterbi(self.log_posteriors(log_mel_), self.min_frames, self.insertion_penalty)
        runs = [int(c) for i, c in enumerate(path) if i == 0 or c != path[i - 1]]
        names = self.classes
        return [names[c] for c in runs if names[c] != SILENCE]
