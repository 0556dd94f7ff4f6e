"""A joint image-text embedding trained contrastively on the stimulus set (the stand-in for CLIP).

MindEye2 and BrainCLIP decode fMRI into CLIP's space. CLIP's weights do not ship offline, so the
compendium trains its own small CLIP: an image encoder (a 4-layer CNN) and a text encoder (word and
position embeddings, one transformer layer, mean pooling), both ending in a ``dim``-dimensional
unit vector, trained with CLIP's symmetric InfoNCE loss and a learnt temperature on scenes drawn
from **every** category (as CLIP was trained on web data that include the categories an fMRI
decoder never saw). Each scene is paired with two captions: its description and a category
caption whose wording is drawn, per step, from every template (the zero-shot prompts and the
training captions of :mod:`~mricompendium.data.fmri.stimuli`, as web text holds every wording);
each step averages the image-description and the image-category-caption losses.

It is trained apart from the fMRI simulator, on scenes of its own, and the simulator never reads
it: the decoders' target is a representation the simulated brain does not compute.

The text side is trained here rather than taken from a pretrained sentence encoder: none ships
offline in the installed packages, and one that does would pull in ``transformers`` (hundreds of
MB) for captions whose vocabulary is about 70 words.

Training is deterministic for a configuration on a given machine (one thread, fixed seeds); it
takes tens of seconds, so :func:`load_embedding` caches the weights under ``data/fmri/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mricompendium import paths
from mricompendium.data.errors import DataError
from mricompendium.data.fmri.render import render
from mricompendium.data.fmri.stimuli import (
    BACKGROUNDS,
    CAPTION_TEMPLATES,
    CATEGORIES,
    COLOURS,
    POSITIONS,
    PROMPT_TEMPLATES,
    SIZES,
    TEXTURES,
    category_prompt,
    category_text,
    sample_scenes,
)

__all__ = ["EmbeddingConfig", "JointEmbedding", "load_embedding", "tokenize", "train_embedding"]

logger = logging.getLogger(__name__)
TEMPLATES: tuple[str, ...] = PROMPT_TEMPLATES + CAPTION_TEMPLATES
_WORDS = ("a", "an", "at", "the", "on", "and", "background") + tuple(
    w for t in TEMPLATES for w in re.findall(r"[a-z]+", t)
)
VOCAB: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["<pad>", "<unk>", *_WORDS]
        + [w for group in (CATEGORIES, COLOURS, SIZES, TEXTURES, POSITIONS, BACKGROUNDS)
           for phrase in group for w in phrase.split()]
    )
)  # fmt: skip
MAX_TOKENS = 28


def tokenize(texts: Sequence[str]) -> torch.Tensor:
    """Captions -> int64 token ids ``(N, MAX_TOKENS)`` (0 = padding, 1 = unknown word)."""
    index = {w: i for i, w in enumerate(VOCAB)}
    out = torch.zeros(len(texts), MAX_TOKENS, dtype=torch.int64)
    for i, text in enumerate(texts):
        words = re.findall(r"[a-z]+", text.lower())[:MAX_TOKENS]
        out[i, : len(words)] = torch.tensor([index.get(w, 1) for w in words], dtype=torch.int64)
    return out


@dataclasses.dataclass(frozen=True)
class EmbeddingConfig:
    """How the stand-in CLIP is trained (every field enters the cache key).

    Attributes:
        dim: embedding dimension (CLIP ViT-L/14: 768).
        image_size: side of the stimulus images it encodes, pixels.
        n_pairs: training scenes (all categories; 30 % hold a second object).
        steps: optimisation steps; batch_size: pairs per step; lr: Adam learning rate.
        seed: seeds the scenes, the initialisation and the batches.
    """

    dim: int = 64
    image_size: int = 32
    n_pairs: int = 8000
    steps: int = 800
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 1234

    def key(self) -> str:
        """A short hash of the configuration and of the code that trains it (names the cache
        file), so that a changed encoder, caption grammar or renderer is never read from a stale
        cache."""
        h = hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode())
        for module in (__name__, render.__module__, sample_scenes.__module__):
            h.update(Path(sys.modules[module].__file__).read_bytes())
        return h.hexdigest()[:12]


class ImageEncoder(nn.Module):
    """RGB ``(N, 3, S, S)`` in [0, 1] -> unit vectors ``(N, dim)``; S divisible by 8.

    Four 3x3 convolutions (strides 2, 2, 1, 2) with batch norm; the final map is
    summarised by global average and max pooling (what is in the image, wherever it is) and by a
    2x2 average pooling of a 1x1 projection (roughly where it is).
    """

    def __init__(self, *, dim: int, image_size: int) -> None:
        super().__init__()
        chans, strides = (3, 32, 64, 64, 64), (2, 2, 1, 2)
        layers: list[nn.Module] = []
        for a, b, stride in zip(chans[:-1], chans[1:], strides, strict=True):
            layers += [nn.Conv2d(a, b, 3, stride=stride, padding=1), nn.BatchNorm2d(b), nn.GELU()]
        self.features = nn.Sequential(*layers)
        self.where = nn.Sequential(nn.Conv2d(64, 16, 1), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(64 + 64 + 64, 128), nn.GELU(), nn.Linear(128, dim))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f = self.features(images - 0.5)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3)), self.where(f)], dim=1)
        return F.normalize(self.head(pooled), dim=-1)


class TextEncoder(nn.Module):
    """Token ids ``(N, MAX_TOKENS)`` -> unit vectors ``(N, dim)``."""

    def __init__(self, *, dim: int, width: int = 64) -> None:
        super().__init__()
        self.words = nn.Embedding(len(VOCAB), width, padding_idx=0)
        self.position = nn.Parameter(torch.randn(MAX_TOKENS, width) * 0.02)
        self.layer = nn.TransformerEncoderLayer(
            width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.head = nn.Linear(width, dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0
        h = self.layer(self.words(tokens) + self.position, src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp_min(1.0)
        return F.normalize(self.head(pooled), dim=-1)


class JointEmbedding(nn.Module):
    """The trained pair of encoders with CLIP's learnt logit scale.

    Use :meth:`encode_images` and :meth:`encode_text` (no grad, CPU float32, batched) to get
    numpy ``(N, dim)`` unit vectors.
    """

    def __init__(self, config: EmbeddingConfig) -> None:
        super().__init__()
        self.config = config
        self.image = ImageEncoder(dim=config.dim, image_size=config.image_size)
        self.text = TextEncoder(dim=config.dim)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))

    @torch.no_grad()
    def encode_images(self, images: np.ndarray, batch: int = 512) -> np.ndarray:
        """``(N, 3, S, S)`` float images in [0, 1] -> ``(N, dim)`` float32 unit vectors."""
        x = torch.as_tensor(np.asarray(images, np.float32))
        s = self.config.image_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2:] != (s, s):
            raise ValueError(f"images must be (N, 3, {s}, {s}), got {tuple(x.shape)}")
        self.eval()
        return torch.cat([self.image(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], batch: int = 512) -> np.ndarray:
        """Captions -> ``(N, dim)`` float32 unit vectors."""
        self.eval()
        tok = tokenize(list(texts))
        return torch.cat([self.text(tok[i : i + batch]) for i in range(0, len(tok), batch)]).numpy()

    def class_vectors(self, categories: Sequence[str]) -> np.ndarray:
        """Zero-shot classifier ``(C, dim)``: per category the normalised mean of its prompts'
        embeddings over :data:`~mricompendium.data.fmri.stimuli.PROMPT_TEMPLATES` (CLIP's prompt
        ensembling)."""
        z = np.stack([self.encode_text([category_prompt(c, t) for c in categories])
                      for t in PROMPT_TEMPLATES]).mean(0)  # fmt: skip
        return (z / np.linalg.norm(z, axis=1, keepdims=True)).astype(np.float32)


def _clip_loss(model: JointEmbedding, img: torch.Tensor, *texts: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of the images against each text batch, averaged; pairs with the same
    caption (e.g. a shared template) all count as positives, so a template shared by several
    images in the batch is not a false negative."""
    zi = model.image(img)
    scale = model.logit_scale.clamp(max=np.log(100.0)).exp()
    total = zi.new_zeros(())
    for tok in texts:
        logits = scale * zi @ model.text(tok).T
        same = (tok[:, None, :] == tok[None, :, :]).all(-1).float()
        target = same / same.sum(1, keepdim=True)
        total = total + 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    return total / len(texts)


def train_embedding(config: EmbeddingConfig = EmbeddingConfig()) -> tuple[JointEmbedding, dict]:
    """Train the stand-in CLIP from scratch (one CPU thread's worth of work, tens of seconds).

    Returns:
        ``(model, report)``; ``report`` holds the loss history's end, the wall time and held-out
        quality (image->caption top-1 among 100 held-out pairs; zero-shot category accuracy of
        held-out images against the 20 categories' prompt ensembles).
    """
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    scenes = sample_scenes(config.n_pairs, rng, p_second=0.3)
    images = torch.from_numpy(render(scenes, config.image_size))
    captions = tokenize(scenes.captions())
    names = [CATEGORIES[c] for c in scenes.labels]
    wordings = [tokenize([category_text(n, t) for n in names]) for t in TEMPLATES]
    model = JointEmbedding(config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    t0, losses = time.perf_counter(), []
    for _ in range(config.steps):
        idx = torch.from_numpy(rng.choice(config.n_pairs, config.batch_size, replace=False))
        labels = wordings[int(rng.integers(len(wordings)))]  # one wording per step
        loss = _clip_loss(model, images[idx], captions[idx], labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    report = {"final_loss": float(np.mean(losses[-20:])), "train_s": time.perf_counter() - t0}
    report.update(_quality(model, config))
    return model, report


def _quality(model: JointEmbedding, config: EmbeddingConfig) -> dict[str, float]:
    test = sample_scenes(400, config.seed + 1, p_second=0.0)
    zi = model.encode_images(render(test, config.image_size))
    zt = model.encode_text(test.captions())
    sim = zi[:100] @ zt[:100].T
    zc = model.class_vectors(CATEGORIES)
    return {
        "caption_top1_among_100": float(np.mean(sim.argmax(1) == np.arange(100))),
        "zero_shot_category_acc": float(np.mean((zi @ zc.T).argmax(1) == test.labels)),
    }


def cache_dir() -> Path:
    """``data/fmri`` under the repository root (``MRICOMPENDIUM_FMRI_DATA`` overrides it)."""
    env = os.environ.get("MRICOMPENDIUM_FMRI_DATA")
    return Path(env).resolve() if env else paths.ROOT / "data" / "fmri"


def load_embedding(
    config: EmbeddingConfig = EmbeddingConfig(),
    *,
    directory: str | os.PathLike[str] | None = None,
    build: bool = True,
) -> JointEmbedding:
    """The trained stand-in CLIP for ``config``: from the cache, or trained and cached.

    Args:
        config: the training configuration (its hash names the file).
        directory: the cache folder (default :func:`cache_dir`).
        build: train and cache it when the file is missing (else raise ``FileNotFoundError``).
    """
    folder = Path(directory) if directory is not None else cache_dir()
    file = folder / f"embedding-{config.key()}.pt"
    model = JointEmbedding(config)
    if not file.exists():
        if not build:
            raise FileNotFoundError(
                f"{file}: no cached embedding; build it with "
                "python -m mricompendium.data.fmri.build"
            )
        logger.info("training the stand-in CLIP (%s), cached at %s", config, file)
        trained, report = train_embedding(config)
        save_embedding(trained, report, file)
        return trained
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
    except Exception as err:  # noqa: BLE001 - any unreadable cache is the same problem
        raise DataError(
            file, f"not a readable embedding cache ({type(err).__name__}: {err})"
        ) from err
    return model.eval()


def save_embedding(model: JointEmbedding, report: dict, file: Path) -> None:
    """Write the weights (and a JSON side-car with the config and report) atomically."""
    from mricompendium.io import atomic_open, atomic_write_json

    file.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(file) as f:
        torch.save({"model": model.state_dict()}, f)
    meta = {"config": dataclasses.asdict(model.config), "report": report}
    atomic_write_json(file.with_suffix(".json"), meta)
