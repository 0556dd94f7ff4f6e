"""Every image a study shows, with the decoders' targets: the stand-in CLIP's embeddings.

A :class:`StimulusBank` joins two things the family keeps apart: what the simulated subjects see
(:attr:`StimulusBank.stimuli`, the only part the fMRI simulator is given) and what the decoders
are trained to output (the joint embedding of each image, of its description and of its category
caption in a training wording).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mricompendium.data.fmri.embedding import JointEmbedding
from mricompendium.data.fmri.render import render
from mricompendium.data.fmri.simulate import Stimuli
from mricompendium.data.fmri.stimuli import Scenes
from mricompendium.data.fmri.voxels import feature_maps

__all__ = ["StimulusBank"]


@dataclasses.dataclass
class StimulusBank:
    """Every image a study shows, with what the simulator and the decoders need of it.

    Attributes:
        scenes: the attribute table (``None`` for real images); images: ``(N, 3, S, S)`` float32
        in [0, 1]; features: ``(N, 7, S/2, S/2)`` low-level channels; image_emb / caption_emb /
        label_emb: ``(N, D)`` unit joint embeddings of the image, its description and its
        category caption in a training wording (:meth:`Scenes.label_captions`; zeros where there
        is no caption); captions: the descriptions; label_captions: the category captions.
    """

    scenes: Scenes | None
    images: np.ndarray
    features: np.ndarray
    image_emb: np.ndarray
    caption_emb: np.ndarray
    label_emb: np.ndarray
    captions: list[str]
    label_captions: list[str]

    @classmethod
    def build(cls, scenes: Scenes, embedding: JointEmbedding) -> StimulusBank:
        """Render ``scenes`` at the embedding's image size and encode them."""
        images = render(scenes, embedding.config.image_size)
        return cls.from_images(
            images,
            embedding,
            scenes=scenes,
            captions=scenes.captions(),
            label_captions=scenes.label_captions(),
        )

    @classmethod
    def from_images(
        cls,
        images: np.ndarray,
        embedding: JointEmbedding,
        *,
        scenes: Scenes | None = None,
        captions: list[str] | None = None,
        label_captions: list[str] | None = None,
    ) -> StimulusBank:
        """A bank of given images ``(N, 3, S, S)`` (e.g. real stimuli), captions optional."""
        n, dim = len(images), embedding.config.dim

        def text(t: list[str] | None) -> np.ndarray:
            return embedding.encode_text(t) if t else np.zeros((n, dim), np.float32)

        return cls(
            scenes=scenes,
            images=images,
            features=feature_maps(images),
            image_emb=embedding.encode_images(images),
            caption_emb=text(captions),
            label_emb=text(label_captions),
            captions=list(captions or []),
            label_captions=list(label_captions or []),
        )

    @property
    def stimuli(self) -> Stimuli:
        """What the subjects see (scenes, images, feature maps): the simulator's whole input."""
        if self.scenes is None:
            raise ValueError("a bank of real images has no scene table to simulate fMRI from")
        return Stimuli(self.scenes, self.images, self.features)

    def __len__(self) -> int:
        return len(self.images)
