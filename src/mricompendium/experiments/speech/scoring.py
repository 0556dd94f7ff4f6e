"""S49: scoring synthesised speech the way a listener receives it, after the vocoder.

Every method's log-mel spectrogram (a model's, a baseline's, or the clean one for the *oracle*)
goes through the same Griffin-Lim vocoder; the waveform is analysed again and scored against the
clean utterance:

* ``per_pct``: phone error rate of the phone recogniser (:mod:`.asr`, trained on the clean audio
  of the training speakers), the stand-in for the paper's word error rate;
* ``mcd_db``: mel-cepstral distortion of the re-analysed waveform (speech frames), so the oracle
  measures what the vocoder alone costs; ``mel_mcd_db``: the same before the vocoder;
* ``formant_err_pct``: F1/F2 error of the vowels (LPC on the waveform);
* ``vowel_acc``: the vowel classifier's accuracy on the waveform;
* ``degenerate``: 1 when the spectrogram hardly changes over the utterance (its spread over time is
  under a tenth of the clean one's): a constant output.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mricompendium.data.rtmri.utterances import VOWELS
from mricompendium.experiments.speech.asr import PhoneRecogniser, reference_phones
from mricompendium.experiments.speech.audio import (
    MelConfig,
    VowelClassifier,
    griffin_lim,
    log_mel,
    vowel_features,
)
from mricompendium.experiments.speech.mri2speech import Item, speech_mcd, vowel_formants
from mricompendium.metrics.speech import accuracy, error_rate_pct, formant_error_pct

__all__ = [
    "clean_scores",
    "evaluate",
    "is_degenerate",
    "train_recogniser",
    "train_vowel_classifier",
]


def train_vowel_classifier(
    items: Sequence[Item], mel: MelConfig, vowels: Sequence[str] = VOWELS
) -> VowelClassifier:
    """The vowel classifier, trained on the clean audio of ``items``."""
    feats, labels = [], []
    for i in items:
        f, lab = vowel_features(i.log_mel, i.segments, vowels, mel)
        feats.append(f)
        labels += lab
    return VowelClassifier().fit(np.concatenate(feats), labels)


def train_recogniser(items: Sequence[Item], mel: MelConfig, **kwargs: Any) -> PhoneRecogniser:
    """The phone recogniser, trained on the clean audio (log-mel) and phones of ``items``.

    Args:
        items: clean training utterances (the training speakers' training role only).
        mel: the mel analysis of their log-mels.
        **kwargs: :class:`~.asr.PhoneRecogniser` settings.
    """
    return PhoneRecogniser(**kwargs).fit(
        [i.log_mel for i in items], [i.segments for i in items], mel
    )


def is_degenerate(pred: np.ndarray, item: Item, fraction: float = 0.1) -> bool:
    """Whether a log-mel ``(T, n_mels)`` hardly changes over the utterance's speech frames: the mean
    over bands of its standard deviation over time is under ``fraction`` of the clean one's."""
    m = item.speech_mask
    spread = float(np.asarray(pred)[m].std(axis=0).mean())
    return spread < fraction * float(item.log_mel[m].std(axis=0).mean())


def _case_seed(case: str, seed: int) -> int:
    return zlib.crc32(f"{case}#{seed}".encode())


def _scores(
    re_mel: np.ndarray,
    audio: np.ndarray,
    it: Item,
    classifier: VowelClassifier,
    recogniser: PhoneRecogniser,
    mel: MelConfig,
    vowels: Sequence[str],
) -> dict[str, float]:
    """Phone error rate, formant error and vowel accuracy of one waveform (and its log-mel)."""
    feats, labels = vowel_features(re_mel, it.segments, vowels, mel)
    errs = [
        formant_error_pct(ref, vowel_formants(audio, s, mel.sample_rate))
        for ref, s in zip(it.formants, it.vowels(vowels), strict=True)
    ]
    errs = [e for e in errs if np.isfinite(e)]
    return {
        "per_pct": error_rate_pct(reference_phones(it.segments), recogniser.transcribe(re_mel)),
        "formant_err_pct": float(np.mean(errs)) if errs else 100.0,
        "vowel_acc": accuracy(classifier.predict(feats), labels) if labels else 0.0,
    }


def clean_scores(
    items: Sequence[Item],
    *,
    classifier: VowelClassifier,
    recogniser: PhoneRecogniser,
    mel: MelConfig,
    vowels: Sequence[str] = VOWELS,
) -> dict[str, float]:
    """Mean phone error rate and vowel accuracy on the *clean* audio of ``items``: how well the
    recogniser and the classifier do before any synthesis (their own error)."""
    per, acc = [], []
    for it in items:
        feats, labels = vowel_features(it.log_mel, it.segments, vowels, mel)
        hyp = recogniser.transcribe(it.log_mel)
        per.append(error_rate_pct(reference_phones(it.segments), hyp))
        acc.append(accuracy(classifier.predict(feats), labels) if labels else 0.0)
    return {"per_pct": float(np.mean(per)), "vowel_acc": float(np.mean(acc))}


def evaluate(
    predict: Callable[[Item], np.ndarray],
    items: Sequence[Item],
    *,
    method: str,
    seed: int,
    budget: int,
    setting: str,
    group: str,
    classifier: VowelClassifier,
    recogniser: PhoneRecogniser,
    mel: MelConfig,
    gl_iter: int = 32,
    vowels: Sequence[str] = VOWELS,
) -> list[dict[str, Any]]:
    """Per-utterance rows: ``per_pct``, ``mcd_db`` (after the vocoder), ``mel_mcd_db`` (before),
    ``formant_err_pct``, ``vowel_acc`` and ``degenerate``.

    The predicted log-mel becomes a waveform by Griffin-Lim (seeded by case and ``seed``); that
    waveform is analysed again and scored (see the module docstring).
    """
    rows = []
    for it in items:
        pred = predict(it)
        audio = griffin_lim(pred, mel, n_iter=gl_iter, seed=_case_seed(it.id, seed))
        re_mel = log_mel(audio, mel, len(pred))
        rows.append(
            {
                "setting": setting,
                "method": method,
                "seed": seed,
                "budget": budget,
                "case": it.id,
                "unit": it.id,
                "group": group,
                **_scores(re_mel, audio, it, classifier, recogniser, mel, vowels),
                "mcd_db": speech_mcd(re_mel, it),
                "mel_mcd_db": speech_mcd(pred, it),
                "degenerate": float(is_degenerate(pred, it)),
            }
        )
    return rows
