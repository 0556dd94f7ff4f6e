"""S49 MRI2Speech: rtMRI video -> mel-spectrogram -> waveform, and its evaluation.

Registry (:data:`SCALES`): the small CPU configuration and a paper-sized one for a GPU (the paper's
own front end is AV-HuBERT, a ResNet-18 per frame and a 24-layer transformer; ours is the
CNN + BiGRU of :class:`~mricompendium.models.speech.MRI2Mel` at a width that trains on a GPU in
hours). Baselines: a linear map from frame PCA to mel (ridge regression on +-``context`` frames),
the training set's mean spectrum, and the *oracle* (the true mel through the same
Griffin-Lim), which measures what the vocoder alone loses. Scoring the waveforms (phone error
rate, MCD after the vocoder, formants, vowel accuracy): :mod:`.scoring`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mricompendium import plans, training
from mricompendium.data.rtmri.corpus import Utterance
from mricompendium.data.rtmri.utterances import VOWELS, Segment
from mricompendium.experiments.speech.audio import MelConfig, log_mel
from mricompendium.metrics.speech import lpc_formants, mcd_from_log_mel
from mricompendium.models.speech import MRI2Mel
from mricompendium.plans import Checkpoints, FitCall

__all__ = [
    "CITATION",
    "SCALES",
    "Item",
    "MelNorm",
    "RidgeBaseline",
    "build_model",
    "fit_mri2mel",
    "fit_setup",
    "make_batch_fn",
    "predict_mel",
    "prepare_items",
    "speech_mcd",
    "split_items",
    "vowel_formants",
]

CITATION = (
    "Shah, Kashyap, Karande, Gandhi. MRI2Speech: Speech synthesis from articulatory movements "
    "recorded by real-time MRI. ICASSP 2025; arXiv:2412.18836"
)
#: Model configurations: ``small`` trains in seconds on a CPU; ``paper`` is the GPU profile.
SCALES: dict[str, dict[str, Any]] = {
    "small": {
        "channels": (8, 16, 32, 32),
        "embed": 64,
        "hidden": 64,
        "gru_layers": 1,
        "temporal_kernel": 5,
        "dropout": 0.1,
    },
    "paper": {
        "channels": (32, 64, 128, 256),
        "embed": 256,
        "hidden": 256,
        "gru_layers": 2,
        "temporal_kernel": 5,
        "dropout": 0.2,
    },
}


@dataclasses.dataclass
class Item:
    """One utterance prepared for the experiment.

    Attributes:
        frames: ``(T, h, w)`` float32, downsampled and standardised per utterance.
        log_mel: ``(T * up, n_mels)`` float32 natural-log mel amplitudes of the clean audio.
        formants: reference F1-F3 of each vowel (clean audio), in the order of ``vowels()``.
    """

    id: str
    speaker: str
    speaker_split: str
    role: str
    frames: np.ndarray
    log_mel: np.ndarray
    audio: np.ndarray
    segments: list[Segment]
    formants: list[np.ndarray]
    speech_mask: np.ndarray  # (T * up,) True inside phones (not pauses)

    def vowels(self, inventory: Sequence[str] = VOWELS) -> list[Segment]:
        return [s for s in self.segments if s.phone in inventory]


def _downsample(frames: np.ndarray, factor: int) -> np.ndarray:
    f = frames.astype(np.float32) / 255.0 if frames.dtype == np.uint8 else frames.astype(np.float32)
    if factor > 1:
        t, h, w = f.shape
        h2, w2 = h // factor, w // factor
        f = f[:, : h2 * factor, : w2 * factor].reshape(t, h2, factor, w2, factor).mean((2, 4))
    return (f - f.mean()) / (f.std() + 1e-6)


def vowel_formants(audio: np.ndarray, seg: Segment, rate: int) -> np.ndarray:
    """F1-F3 (Hz) of the central half of one vowel segment (at least 30 ms) of ``audio``."""
    quarter = 0.25 * (seg.end_s - seg.start_s)
    a, b = int((seg.start_s + quarter) * rate), int((seg.end_s - quarter) * rate)
    b = max(b, a + int(0.03 * rate))
    return lpc_formants(audio[a:b], rate)


def prepare_items(
    utterances: Sequence[Utterance],
    mel: MelConfig,
    *,
    downsample: int = 2,
    vowels: Sequence[str] = VOWELS,
) -> list[Item]:
    """Frames, clean log-mel, reference formants and the speech mask of each utterance."""
    out = []
    for u in utterances:
        if u.audio_rate_hz != mel.sample_rate:
            raise ValueError(f"{u.id}: audio at {u.audio_rate_hz} Hz, mel at {mel.sample_rate} Hz")
        up = mel.frames_per_video_frame(u.frame_rate_hz)
        n = len(u.frames) * up
        times = np.arange(n) * mel.hop_length / mel.sample_rate
        mask = np.zeros(n, dtype=bool)
        for s in u.segments:
            if s.phone:
                mask |= (times >= s.start_s) & (times < s.end_s)
        formants = [
            vowel_formants(u.audio, s, u.audio_rate_hz) for s in u.segments if s.phone in vowels
        ]
        out.append(
            Item(
                u.id,
                u.speaker,
                u.speaker_split,
                u.role,
                _downsample(u.frames, downsample),
                log_mel(u.audio, mel, n),
                u.audio,
                list(u.segments),
                formants,
                mask,
            )
        )
    return out


def split_items(items: Sequence[Item], n_val_per_speaker: int = 1) -> dict[str, list[Item]]:
    """``train``, ``val`` (the last training utterances of each seen speaker), ``test_seen``,
    ``test_unseen``."""
    train, val = [], []
    for spk in dict.fromkeys(i.speaker for i in items if i.speaker_split == "train"):
        mine = [i for i in items if i.speaker == spk and i.role == "train"]
        cut = max(1, len(mine) - n_val_per_speaker)
        train += mine[:cut]
        val += mine[cut:]
    return {
        "train": train,
        "val": val,
        "test_seen": [i for i in items if i.speaker_split == "train" and i.role == "test"],
        "test_unseen": [i for i in items if i.speaker_split == "test"],
    }


@dataclasses.dataclass
class MelNorm:
    """Per-band mean and standard deviation of the training log-mels (the network's targets)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, items: Sequence[Item]) -> MelNorm:
        x = np.concatenate([i.log_mel for i in items])
        return cls(x.mean(axis=0), x.std(axis=0) + 1e-6)

    def __call__(self, log_mel_: np.ndarray) -> np.ndarray:
        return ((log_mel_ - self.mean) / self.std).astype(np.float32)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return (z * self.std + self.mean).astype(np.float32)


def build_model(scale: str, *, n_mels: int, upsample: int) -> MRI2Mel:
    """The registry's ``MRI2Mel`` at ``scale`` (``"small"`` or ``"paper"``)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    return MRI2Mel(n_mels=n_mels, upsample=upsample, **SCALES[scale])


def make_batch_fn(
    train: Sequence[Item],
    norm: MelNorm,
    *,
    crop: int,
    batch_size: int,
    upsample: int,
    augment: bool = False,
) -> Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """Random ``crop``-frame windows of training utterances with their mel targets.

    With ``augment`` (seeded by the step's generator): an intensity gain of 0.9-1.1 and a shift of
    one pixel at most, for the small intensity and head-position changes between sessions. At the
    CPU scale it slowed learning more than it helped (measured on the CI corpus), so it is off by
    default.
    """
    frames = [torch.from_numpy(i.frames) for i in train]
    targets = [torch.from_numpy(norm(i.log_mel)) for i in train]

    def batch(step: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for k in torch.randint(len(frames), (batch_size,), generator=gen).tolist():
            f, y = frames[k], targets[k]
            if len(f) < crop:
                f = torch.cat([f, f[-1:].expand(crop - len(f), *f.shape[1:])])
                y = torch.cat([y, y[-1:].expand((crop * upsample) - len(y), y.shape[1])])
            s = int(torch.randint(len(f) - crop + 1, (1,), generator=gen))
            x = f[s : s + crop]
            if augment:
                gain = 0.9 + 0.2 * float(torch.rand(1, generator=gen))
                dy, dx = torch.randint(-1, 2, (2,), generator=gen).tolist()
                x = torch.roll(x * gain, shifts=(dy, dx), dims=(1, 2))
            xs.append(x)
            ys.append(y[s * upsample : (s + crop) * upsample])
        return torch.stack(xs), torch.stack(ys)

    return batch


def l1_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    frames, target = batch
    return F.l1_loss(model(frames), target)


@torch.no_grad()
def predict_mel(model: nn.Module, item: Item, norm: MelNorm) -> np.ndarray:
    """The model's log-mel ``(T * up, n_mels)`` for a whole utterance (eval mode)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    z = model(torch.from_numpy(item.frames)[None].to(dev))[0].float().cpu().numpy()
    model.train(was)
    return norm.inverse(z)


def speech_mcd(pred: np.ndarray, item: Item, n_ceps: int = 25) -> float:
    """MCD (dB) between a predicted log-mel and the clean one, over speech frames (cepstra c1..c24,
    fewer when there are fewer mel bands)."""
    n = min(n_ceps, pred.shape[1])
    return mcd_from_log_mel(item.log_mel, pred, n_coeffs=n, mask=item.speech_mask)


def mean_val_mcd(model: nn.Module, val: Sequence[Item], norm: MelNorm) -> float:
    """Validation metric: mean speech-frame MCD over the validation utterances."""
    return float(np.mean([speech_mcd(predict_mel(model, i, norm), i) for i in val]))


def fit_setup(
    scale: str,
    data: dict[str, list[Item]],
    norm: MelNorm,
    *,
    upsample: int,
    steps: int,
    seed: int,
    lr: float,
    batch_size: int,
    crop: int,
    device: str | torch.device,
    val_every: int,
    on_step: dict[int, Callable[[nn.Module], Any]] | None = None,
    precision: str | None = None,
) -> FitCall:
    """The ``training.fit`` call of :func:`fit_mri2mel` (seeded, built, nothing trained)."""
    training.seed_everything(seed)
    model = build_model(scale, n_mels=len(norm.mean), upsample=upsample)
    batches = make_batch_fn(
        data["train"], norm, crop=crop, batch_size=batch_size, upsample=upsample
    )
    kwargs = dict(steps=steps, lr=lr, seed=seed, device=device, scheduler="cosine",
                  grad_clip=1.0, progress=False, val_every=val_every, on_step=on_step,
                  val_fn=lambda m: mean_val_mcd(m, data["val"], norm),
                  precision=precision)  # fmt: skip
    config = {"factory": "mricompendium.experiments.speech.mri2speech:build_model",
              "kwargs": {"scale": scale, "n_mels": len(norm.mean),
                         "upsample": upsample}}  # fmt: skip
    return FitCall(model, batches, l1_loss, kwargs, config, {"batch_size": batch_size,
                                                             "crop": crop})  # fmt: skip


def fit_mri2mel(
    scale: str,
    data: dict[str, list[Item]],
    norm: MelNorm,
    *,
    seed: int,
    checkpoints: Checkpoints | None = None,
    **setup: Any,
) -> tuple[MRI2Mel, training.History]:
    """Build the ``scale`` model from ``seed`` and train it: L1 on standardised log-mel, Adam with a
    cosine schedule, gradient clipping at 1, validation MCD every ``val_every`` steps (the
    keywords of :func:`fit_setup`). With ``checkpoints`` nothing is trained: the weights (and the
    half-budget ones for ``on_step``) come from what ``python -m mricompendium.train`` wrote for
    MRI2Mel at ``seed``."""
    call = fit_setup(scale, data, norm, seed=seed, **setup)
    hist = plans.fit(call, checkpoints, "MRI2Mel", seed)
    return call.model, hist


class RidgeBaseline:
    """Frames -> PCA -> stacked context -> ridge regression to the standardised mel frames.

    Args:
        n_components: principal components of the frames (fit on training frames).
        context: video frames on each side stacked with the current one.
        alpha: ridge penalty (on standardised features).
    """

    def __init__(self, n_components: int = 48, context: int = 2, alpha: float = 10.0) -> None:
        self.n_components, self.context, self.alpha = n_components, context, alpha

    def _features(self, frames: np.ndarray) -> np.ndarray:
        z = (frames.reshape(len(frames), -1) - self.mu_) @ self.basis_.T / self.sd_
        padded = np.pad(z, ((self.context, self.context), (0, 0)), mode="edge")
        cols = [padded[k : k + len(z)] for k in range(2 * self.context + 1)]
        return np.concatenate([*cols, np.ones((len(z), 1))], axis=1)

    def fit(self, train: Sequence[Item], norm: MelNorm, upsample: int) -> RidgeBaseline:
        x = np.concatenate([i.frames.reshape(len(i.frames), -1) for i in train]).astype(np.float64)
        self.mu_ = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - self.mu_, full_matrices=False)
        k = min(self.n_components, len(s))
        self.basis_ = vt[:k]
        self.sd_ = s[:k] / np.sqrt(len(x))
        feats = np.concatenate([self._features(i.frames) for i in train])
        y = np.concatenate([norm(i.log_mel).reshape(len(i.frames), -1) for i in train])
        reg = self.alpha * np.eye(feats.shape[1])
        reg[-1, -1] = 0.0
        self.w_ = np.linalg.solve(feats.T @ feats + reg, feats.T @ y)
        self.norm_, self.up_ = norm, upsample
        return self

    @property
    def n_parameters(self) -> int:
        """Fitted numbers: frame mean, PCA basis and scales, and the regression weights."""
        return int(self.mu_.size + self.basis_.size + self.sd_.size + self.w_.size)

    def predict(self, item: Item) -> np.ndarray:
        z = (self._features(item.frames) @ self.w_).reshape(len(item.frames) * self.up_, -1)
        return self.norm_.inverse(z)
