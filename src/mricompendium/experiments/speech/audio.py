"""Audio side of the speech experiments: log-mel features, Griffin-Lim, the vowel classifier.

The vowel classifier is the intelligibility stand-in: a linear discriminant (shared-covariance
Gaussian) classifier of the five vowels, trained on the *clean* synthesised audio of the training
speakers (mean mel-cepstrum c1..c12 over the central half of each vowel), then applied to the audio
each method produces. It plays the role an ASR system plays in the paper's word error rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import librosa
import numpy as np

from mricompendium.data.rtmri.utterances import Segment
from mricompendium.metrics.speech import mel_cepstra

__all__ = ["MelConfig", "VowelClassifier", "griffin_lim", "log_mel", "vowel_features"]


@dataclasses.dataclass(frozen=True)
class MelConfig:
    """Mel analysis: 25 ms Hann windows every ``hop_length`` samples, magnitude mel bands.

    ``hop_length`` must divide the audio samples per video frame (the network emits a whole number
    of mel frames per video frame).
    """

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 40
    fmin: float = 50.0
    fmax: float = 7600.0
    floor: float = 1e-5  # amplitude floor before the log

    def frames_per_video_frame(self, frame_rate_hz: float) -> int:
        spf = self.sample_rate / frame_rate_hz
        up = spf / self.hop_length
        if abs(up - round(up)) > 1e-9 or round(up) < 1:
            raise ValueError(
                f"hop_length {self.hop_length} must divide the {spf:g} samples per video frame"
            )
        return int(round(up))


def log_mel(audio: np.ndarray, cfg: MelConfig, n_frames: int | None = None) -> np.ndarray:
    """Natural-log mel amplitudes ``(T_mel, n_mels)`` float32 (centred frames, frame ``m`` at
    ``m * hop_length`` samples); cut or edge-padded to ``n_frames`` when given."""
    m = librosa.feature.melspectrogram(
        y=np.asarray(audio, dtype=np.float32),
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        power=1.0,
        center=True,
    )
    out = np.log(np.maximum(m, cfg.floor)).T.astype(np.float32)
    if n_frames is not None:
        out = out[:n_frames]
        if len(out) < n_frames:
            out = np.pad(out, ((0, n_frames - len(out)), (0, 0)), mode="edge")
    return out


def griffin_lim(
    log_mel_: np.ndarray, cfg: MelConfig, *, n_iter: int = 32, seed: int = 0
) -> np.ndarray:
    """Waveform (float32) from natural-log mel amplitudes ``(T_mel, n_mels)`` by Griffin-Lim.

    The mel bands are mapped back to a linear spectrogram by non-negative least squares (librosa),
    then the phase is estimated by ``n_iter`` fast Griffin-Lim iterations from a seeded random
    start. Output length: ``(T_mel - 1) * hop_length`` samples (its analysis gives ``T_mel``
    centred frames again).
    """
    mel = np.exp(np.asarray(log_mel_, dtype=np.float64)).T
    spec = librosa.feature.inverse.mel_to_stft(
        mel, sr=cfg.sample_rate, n_fft=cfg.n_fft, power=1.0, fmin=cfg.fmin, fmax=cfg.fmax
    )
    audio = librosa.griffinlim(
        spec,
        n_iter=n_iter,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        n_fft=cfg.n_fft,
        length=(mel.shape[1] - 1) * cfg.hop_length,
        random_state=np.random.default_rng(seed),
    )
    return np.asarray(audio, dtype=np.float32)


def vowel_features(
    log_mel_: np.ndarray,
    segments: Sequence[Segment],
    vowels: Sequence[str],
    cfg: MelConfig,
    n_ceps: int = 13,
) -> tuple[np.ndarray, list[str]]:
    """Mean mel-cepstrum c1..c{n_ceps-1} over the central half of each vowel segment.

    Returns:
        ``(n_vowels, n_ceps - 1)`` features and the vowel labels, in order.
    """
    ceps = mel_cepstra(log_mel_, n_ceps)[:, 1:]
    rate = cfg.sample_rate / cfg.hop_length
    feats, labels = [], []
    for s in segments:
        if s.phone not in vowels:
            continue
        quarter = 0.25 * (s.end_s - s.start_s)
        a = int(round((s.start_s + quarter) * rate))
        b = max(a + 1, int(round((s.end_s - quarter) * rate)))
        a, b = min(a, len(ceps) - 1), min(b, len(ceps))
        feats.append(ceps[a:b].mean(axis=0))
        labels.append(s.phone)
    return np.asarray(feats, dtype=np.float64).reshape(len(labels), n_ceps - 1), labels


class VowelClassifier:
    """Linear discriminant analysis with shrinkage of the pooled covariance (numpy).

    Args:
        shrinkage: weight of the scaled identity mixed into the pooled covariance (0..1).
    """

    def __init__(self, shrinkage: float = 0.1) -> None:
        if not 0.0 <= shrinkage <= 1.0:
            raise ValueError(f"shrinkage must be in [0, 1], got {shrinkage}")
        self.shrinkage = shrinkage
        self.classes_: list[str] = []

    def fit(self, x: np.ndarray, y: Sequence[str]) -> VowelClassifier:
        x = np.asarray(x, dtype=np.float64)
        self.classes_ = sorted(set(y))
        if len(self.classes_) < 2:
            raise ValueError("need at least two classes to train the classifier")
        labels = np.asarray(y)
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0) + 1e-8
        z = (x - self.mean_) / self.scale_
        means = np.stack([z[labels == c].mean(axis=0) for c in self.classes_])
        resid = z - means[[self.classes_.index(c) for c in labels]]
        cov = resid.T @ resid / max(1, len(z) - len(self.classes_))
        cov = (1 - self.shrinkage) * cov + self.shrinkage * np.trace(cov) / len(cov) * np.eye(
            len(cov)
        )
        prec = np.linalg.inv(cov)
        self.coef_ = means @ prec
        self.intercept_ = -0.5 * np.einsum("kd,kd->k", self.coef_, means)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """``(n, n_classes)`` discriminant scores: class log-likelihoods up to a shared constant."""
        if not self.classes_:
            raise RuntimeError("fit the classifier first")
        z = (np.asarray(x, dtype=np.float64) - self.mean_) / self.scale_
        return z @ self.coef_.T + self.intercept_

    def predict(self, x: np.ndarray) -> list[str]:
        scores = self.decision_function(x)
        return [self.classes_[i] for i in np.argmax(scores, axis=1)]
