"""Network instances trained from different seeds, and their layers' responses to a stimulus set.

The simulation half of S26: instances of one architecture
(:class:`~mricompendium.models.representation.LayerConvNet`) are trained from different random
seeds (initialisation and batch order; the training images are the same) to report the main
object of the fMRI family's procedural scenes (:mod:`mricompendium.data.fmri.stimuli`): its shape
category, colour, position and size, one softmax read-out each from one shared network (the
category alone is learnt too slowly at this size for a CPU budget). Each instance's layers then
respond to the probe stimuli; a layer's patterns plus Gaussian noise are the "data", and every
layer of the other instances is a candidate model.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

from mricompendium import training
from mricompendium.data.fmri import sample_scenes
from mricompendium.data.fmri.render import render
from mricompendium.data.fmri.stimuli import CATEGORIES, COLOURS, POSITIONS, SIZES
from mricompendium.models.representation import LayerConvNet

__all__ = [
    "ATTRIBUTES",
    "NetConfig",
    "TrainedNet",
    "add_noise",
    "attribute_accuracy",
    "attribute_loss",
    "chance_accuracy",
    "layer_patterns",
    "train_instance",
]

# The attributes every instance reports, with their number of classes.
ATTRIBUTES: dict[str, int] = {
    "category": len(CATEGORIES), "colour": len(COLOURS), "position": len(POSITIONS),
    "size": len(SIZES),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class NetConfig:
    """How every instance is built and trained (only the seed differs between instances).

    Attributes:
        image_size: image side, pixels.
        widths, hidden: :class:`LayerConvNet` widths.
        n_train, n_val: training and validation scenes (one object each), drawn from ``data_seed``.
        steps, batch_size, lr: Adam steps (cosine schedule to 0), batch and learning rate.
        val_every: steps between validations.
        data_seed: seed of the training and validation scenes (shared by every instance).
    """

    image_size: int = 32
    widths: tuple[int, int, int] = (8, 16, 32)
    hidden: int = 64
    n_train: int = 2000
    n_val: int = 200
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    val_every: int = 30
    data_seed: int = 0


@dataclasses.dataclass
class TrainedNet:
    """One trained instance: its seed, network (eval mode, CPU), training history and final
    validation accuracy per attribute."""

    seed: int
    model: LayerConvNet
    history: training.History
    accuracy: dict[str, float]


_DATA: dict[tuple[int, int, int, int], tuple[torch.Tensor, ...]] = {}


def _data(config: NetConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training and validation images ``(n, 3, S, S)`` and targets ``(n, 4)`` (the main
    object's :data:`ATTRIBUTES`), cached per size and seed."""
    key = (config.image_size, config.n_train, config.n_val, config.data_seed)
    if key not in _DATA:
        rng = np.random.default_rng([config.data_seed, 260])
        scenes = sample_scenes(config.n_train + config.n_val, rng)
        x = torch.from_numpy(render(scenes, config.image_size))
        y = np.stack([getattr(scenes, a)[:, 0] for a in ATTRIBUTES], axis=1)
        y = torch.from_numpy(y.astype(np.int64))
        n = config.n_train
        _DATA[key] = (x[:n], y[:n], x[n:], y[n:])
    return _DATA[key]  # type: ignore[return-value]


def _split(logits: torch.Tensor) -> list[torch.Tensor]:
    return list(logits.split(list(ATTRIBUTES.values()), dim=1))


def attribute_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over :data:`ATTRIBUTES` of the cross-entropy of each read-out ``(B, K_a)``."""
    return sum(F.cross_entropy(z, targets[:, k]) for k, z in enumerate(_split(logits)))


def attribute_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Accuracy of each attribute's read-out: ``(4,)`` in :data:`ATTRIBUTES` order."""
    return np.array([float((z.argmax(1) == targets[:, k]).float().mean())
                     for k, z in enumerate(_split(logits))])  # fmt: skip


def train_instance(
    config: NetConfig, seed: int, *, device: str | torch.device = "cpu"
) -> TrainedNet:
    """Train one instance from ``seed`` (initialisation and batch order).

    The validation curve is the mean over :data:`ATTRIBUTES` of the read-out accuracy on
    ``config.n_val`` held-out scenes (chance: the mean of one over each class count).
    """
    x, y, xv, yv = _data(config)
    torch.manual_seed(seed)
    model = LayerConvNet(image_size=config.image_size, widths=config.widths,
                         hidden=config.hidden, n_classes=sum(ATTRIBUTES.values()))  # fmt: skip

    def batch(step: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(x), (config.batch_size,), generator=gen)
        return x[idx], y[idx]

    def loss(m: torch.nn.Module, b: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return attribute_loss(m(b[0]), b[1])

    def val(m: torch.nn.Module) -> float:
        dev = next(m.parameters()).device
        return float(attribute_accuracy(m(xv.to(dev)).cpu(), yv).mean())

    history = training.fit(
        model, batch, loss, steps=config.steps, lr=config.lr, scheduler="cosine", seed=seed,
        device=device, progress=False, val_fn=val, val_every=config.val_every,
    )  # fmt: skip
    model = model.cpu().eval()
    with torch.no_grad():
        accuracy = attribute_accuracy(model(xv), yv)
    return TrainedNet(seed, model, history, dict(zip(ATTRIBUTES, accuracy.tolist(), strict=True)))


def chance_accuracy() -> float:
    """The validation curve's chance level: the mean over attributes of one over their classes."""
    return float(np.mean([1.0 / k for k in ATTRIBUTES.values()]))


@torch.no_grad()
def layer_patterns(model: LayerConvNet, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's responses to ``images`` ``(N, 3, S, S)``: ``{layer: (N, F_layer)}`` float64."""
    model.eval()
    acts = model.layers(torch.as_tensor(np.asarray(images, np.float32)))
    return {k: v.flatten(1).double().numpy() for k, v in acts.items()}


def add_noise(patterns: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """``patterns`` ``(N, F)`` plus Gaussian noise of SD ``level`` times their overall SD."""
    if level < 0:
        raise ValueError(f"noise level must be >= 0, got {level}")
    p = np.asarray(patterns, np.float64)
    return p + rng.normal(0.0, level * float(p.std()), p.shape) if level > 0 else p.copy()
