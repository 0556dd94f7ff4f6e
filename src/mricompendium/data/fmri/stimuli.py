"""Procedural visual stimuli with categories and one-line captions (the stand-in for NSD/COCO).

A scene is one object (optionally a second, smaller one) of a shape **category**, with a colour,
size, position, rotation and surface texture, on one of several backgrounds. Scenes are sampled as
an attribute table (:class:`Scenes`, integers and floats only, so its hash is the same on every
machine) and rendered deterministically from it (:func:`~mricompendium.data.fmri.render.render`),
anti-aliased by 2x
super-sampling. Each scene has a free description
(``"a large red striped star at the upper left on a dark background."``) and category captions
built from templates. The templates come in two disjoint sets: :data:`PROMPT_TEMPLATES`, the
wordings a zero-shot classifier uses (``"an image of a star."``, BrainCLIP's caption-file wording),
and :data:`CAPTION_TEMPLATES`, the wordings of the category caption a decoder may be trained on
(``"a picture of a star."``), so that training on captions never trains on the classifier's
own vectors.

Images are float32 ``(N, 3, H, W)`` RGB in ``[0, 1]``; image coordinates run from -1 (left, top)
to +1 (right, bottom).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = [
    "BACKGROUNDS",
    "CATEGORIES",
    "COLOURS",
    "POSITIONS",
    "SIZES",
    "CAPTION_TEMPLATES",
    "PROMPT_TEMPLATES",
    "TEXTURES",
    "Scenes",
    "category_prompt",
    "category_text",
    "sample_scenes",
]

CATEGORIES: tuple[str, ...] = (
    "circle", "ring", "square", "frame", "triangle", "diamond", "cross", "plus", "star",
    "hexagon", "crescent", "heart", "arrow", "bar", "ellipse", "semicircle", "pentagon",
    "hourglass", "tee", "trapezoid",
)  # fmt: skip
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.1),
    "green": (0.15, 0.7, 0.2),
    "blue": (0.15, 0.3, 0.9),
    "yellow": (0.95, 0.85, 0.15),
    "orange": (0.95, 0.55, 0.1),
    "purple": (0.55, 0.2, 0.75),
    "cyan": (0.2, 0.8, 0.85),
    "pink": (0.95, 0.5, 0.7),
}
SIZES: dict[str, float] = {
    "small": 0.24,
    "medium": 0.34,
    "large": 0.46,
}  # radius, image half-widths
POSITIONS: dict[str, tuple[float, float]] = {
    "upper left": (-0.42, -0.42),
    "top": (0.0, -0.42),
    "upper right": (0.42, -0.42),
    "left": (-0.42, 0.0),
    "centre": (0.0, 0.0),
    "right": (0.42, 0.0),
    "lower left": (-0.42, 0.42),
    "bottom": (0.0, 0.42),
    "lower right": (0.42, 0.42),
}
TEXTURES: tuple[str, ...] = ("plain", "horizontally striped", "vertically striped", "dotted")
BACKGROUNDS: tuple[str, ...] = ("dark", "light", "grey", "noisy", "graded")
_BG_LEVEL = {"dark": 0.1, "light": 0.85, "grey": 0.5, "noisy": 0.42, "graded": 0.5}
_JITTER = 0.08  # position jitter (image half-widths): the named position stays true
# Category captions: "{}" takes the category with its article ("a star", "an ellipse").
PROMPT_TEMPLATES: tuple[str, ...] = ("an image of {}.", "a drawing of {}.")  # zero-shot prompts
CAPTION_TEMPLATES: tuple[str, ...] = ("a picture of {}.", "{} shape.")  # training captions


@dataclasses.dataclass(frozen=True)
class Scenes:
    """An attribute table: one row per scene, objects along the second axis (``max_objects``).

    Attributes:
        category, colour, size, position, texture: ``(N, K)`` int indices into the vocabularies
            (``-1``: no object in that slot; slot 0 always holds the scene's main object).
        offset: ``(N, K, 2)`` float position jitter (x, y), image half-widths.
        rotation: ``(N, K)`` float rotation in radians.
        background: ``(N,)`` int index into :data:`BACKGROUNDS`.
        tint: ``(N, 3)`` float background colour tint.
        noise_seed: ``(N,)`` int seed of the background texture ("noisy").
    """

    category: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    position: np.ndarray
    texture: np.ndarray
    offset: np.ndarray
    rotation: np.ndarray
    background: np.ndarray
    tint: np.ndarray
    noise_seed: np.ndarray

    def __len__(self) -> int:
        return int(self.category.shape[0])

    @property
    def labels(self) -> np.ndarray:
        """``(N,)`` category index of each scene's main object."""
        return self.category[:, 0]

    def subset(self, index: Sequence[int] | np.ndarray) -> Scenes:
        """The scenes at ``index`` (a new table, rows in that order)."""
        idx = np.asarray(index, dtype=np.int64)
        return Scenes(**{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)})

    @staticmethod
    def concat(parts: Sequence[Scenes]) -> Scenes:
        """Stack tables with the same number of object slots."""
        names = [f.name for f in dataclasses.fields(Scenes)]
        return Scenes(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def digest(self) -> str:
        """sha256 of the table (float columns rounded to 1e-6): the same on any machine."""
        h = hashlib.sha256()
        for f in dataclasses.fields(self):
            a = getattr(self, f.name)
            if a.dtype.kind == "f":
                a = np.round(a * 1e6).astype(np.int64)
            h.update(f.name.encode())
            h.update(np.ascontiguousarray(a).astype("<i8").tobytes())
        return h.hexdigest()

    def captions(self) -> list[str]:
        """One descriptive caption per scene."""
        return [_describe(self, i) for i in range(len(self))]

    def label_captions(self) -> list[str]:
        """A category caption of each scene's main object in a training wording
        (:data:`CAPTION_TEMPLATES`, picked by the scene's own ``noise_seed``): never a zero-shot
        prompt."""
        k = len(CAPTION_TEMPLATES)
        return [
            category_text(CATEGORIES[c], CAPTION_TEMPLATES[int(seed) % k])
            for c, seed in zip(self.labels, self.noise_seed, strict=True)
        ]


def category_text(category: str, template: str) -> str:
    """``template`` filled with the category and its article: ``"a picture of an ellipse."``."""
    article = "an" if category[0] in "aeiou" or category == "hourglass" else "a"
    text = template.format(f"{article} {category}")
    return text[0].lower() + text[1:]


def category_prompt(category: str, template: str = PROMPT_TEMPLATES[0]) -> str:
    """A zero-shot prompt for a category, e.g. ``"an image of a star."``."""
    if template not in PROMPT_TEMPLATES:
        raise ValueError(f"{template!r} is not a zero-shot prompt template {PROMPT_TEMPLATES}")
    return category_text(category, template)


def _object_phrase(s: Scenes, i: int, k: int) -> str:
    size = list(SIZES)[s.size[i, k]]
    colour = list(COLOURS)[s.colour[i, k]]
    texture = TEXTURES[s.texture[i, k]]
    words = (
        [size, colour] + ([] if texture == "plain" else [texture]) + [CATEGORIES[s.category[i, k]]]
    )
    where = list(POSITIONS)[s.position[i, k]]
    return f"a {' '.join(words)} at the {where}"


def _describe(s: Scenes, i: int) -> str:
    objs = [_object_phrase(s, i, k) for k in range(s.category.shape[1]) if s.category[i, k] >= 0]
    return f"{' and '.join(objs)} on a {BACKGROUNDS[s.background[i]]} background."


def sample_scenes(
    n: int,
    rng: np.random.Generator | int,
    *,
    categories: Sequence[int] | None = None,
    p_second: float = 0.0,
) -> Scenes:
    """Draw ``n`` scenes' attributes.

    Args:
        n: number of scenes.
        rng: a numpy generator or a seed.
        categories: category indices the main object is drawn from (default: all); a second
            object, when present, is drawn from the same list.
        p_second: probability that a scene holds a second, smaller object at another position.

    Returns:
        A :class:`Scenes` table with two object slots.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= p_second <= 1.0:
        raise ValueError(f"p_second must lie in [0, 1], got {p_second}")
    rng = np.random.default_rng(rng)
    cats = np.arange(len(CATEGORIES)) if categories is None else np.asarray(categories, int)
    if cats.size == 0 or cats.min() < 0 or cats.max() >= len(CATEGORIES):
        raise ValueError(f"categories must be indices in [0, {len(CATEGORIES)}), got {categories}")
    k = 2
    category = rng.choice(cats, size=(n, k))
    position = np.stack(
        [rng.integers(len(POSITIONS), size=n), rng.integers(len(POSITIONS) - 1, size=n)], axis=1
    )
    position[:, 1] += position[:, 1] >= position[:, 0]  # the second object sits elsewhere
    size = np.stack([rng.integers(len(SIZES), size=n), np.zeros(n, int)], axis=1)
    second = rng.random(n) < p_second
    for arr in (category, position, size):
        arr[~second, 1] = -1
    colour = rng.integers(len(COLOURS), size=(n, k))
    texture = rng.integers(len(TEXTURES), size=(n, k))
    colour[~second, 1] = -1
    texture[~second, 1] = -1
    return Scenes(
        category=category,
        colour=colour,
        size=size,
        position=position,
        texture=texture,
        offset=rng.uniform(-_JITTER, _JITTER, size=(n, k, 2)),
        rotation=rng.uniform(-np.pi / 8, np.pi / 8, size=(n, k)),
        background=rng.integers(len(BACKGROUNDS), size=n),
        tint=rng.uniform(-0.08, 0.08, size=(n, 3)),
        noise_seed=rng.integers(0, 2**31 - 1, size=n),
    )
