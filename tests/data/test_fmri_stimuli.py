"""Procedural stimuli, captions, the stand-in CLIP's plumbing and its cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.errors import DataError
from mricompendium.data.fmri import embedding as emb_mod
from mricompendium.data.fmri.render import SHAPES, render
from mricompendium.data.fmri.stimuli import (
    CAPTION_TEMPLATES,
    CATEGORIES,
    PROMPT_TEMPLATES,
    Scenes,
    category_prompt,
    category_text,
    sample_scenes,
)


def test_scenes_are_reproducible_for_a_seed_and_differ_across_seeds():
    a, b, c = sample_scenes(50, 3), sample_scenes(50, 3), sample_scenes(50, 4)
    assert a.digest() == b.digest() != c.digest()
    assert np.array_equal(render(a, 16), render(b, 16))


def test_categories_are_respected_and_captions_name_them():
    s = sample_scenes(40, 0, categories=[2, 5], p_second=0.5)
    assert set(np.unique(s.labels)) <= {2, 5}
    for caption, label in zip(s.captions(), s.labels, strict=True):
        assert CATEGORIES[label] in caption and caption.endswith("background.")
    assert (s.category[:, 1] >= 0).any() and (s.category[:, 1] < 0).any()
    assert category_prompt("ellipse") == "an image of an ellipse."


def test_training_captions_never_use_a_zero_shot_wording():
    assert not set(PROMPT_TEMPLATES) & set(CAPTION_TEMPLATES)
    s = sample_scenes(200, 5)
    labels = s.label_captions()
    prompts = {category_prompt(c, t) for c in CATEGORIES for t in PROMPT_TEMPLATES}
    assert not set(labels) & prompts and not set(s.captions()) & prompts
    assert {category_text(CATEGORIES[c], t) for c in s.labels for t in CAPTION_TEMPLATES} >= set(
        labels
    )
    assert (
        len({label.split(CATEGORIES[c])[0] for label, c in zip(labels, s.labels, strict=True)}) > 1
    )
    assert category_text("star", "{} shape.") == "a star shape."
    with pytest.raises(ValueError, match="zero-shot"):
        category_prompt("star", CAPTION_TEMPLATES[0])


def test_render_shape_range_and_every_shape_draws_pixels():
    s = sample_scenes(len(CATEGORIES), 1, categories=list(range(len(CATEGORIES))))
    img = render(s, 32)
    assert img.shape == (len(CATEGORIES), 3, 32, 32) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    u, w = np.meshgrid(np.linspace(-1, 1, 41), np.linspace(-1, 1, 41))
    for name, inside in SHAPES.items():
        frac = inside(u, w).mean()
        assert 0.05 < frac < 0.9, name


def test_subset_and_concat_round_trip():
    s = sample_scenes(10, 2)
    t = Scenes.concat([s.subset([0, 1, 2]), s.subset(range(3, 10))])
    assert t.digest() == s.digest() and len(t) == 10


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="categories"):
        sample_scenes(5, 0, categories=[99])
    with pytest.raises(ValueError, match="p_second"):
        sample_scenes(5, 0, p_second=2.0)
    with pytest.raises(ValueError, match="size"):
        render(sample_scenes(2, 0), 4)


def test_tokenizer_and_encoders_give_unit_vectors():
    tok = emb_mod.tokenize(["a red star at the top.", "zebra"])
    assert tok.shape == (2, emb_mod.MAX_TOKENS) and tok[1, 0] == 1 and tok[1, 1] == 0
    model = emb_mod.JointEmbedding(emb_mod.EmbeddingConfig(dim=16))
    z = model.encode_images(render(sample_scenes(3, 0), 32))
    t = model.encode_text(["an image of a star."])
    assert z.shape == (3, 16) and t.shape == (1, 16)
    known = emb_mod.tokenize(["a picture of a star.", "a drawing of an arrow shape."])
    assert (known[known > 0] > 1).all()  # every template word is in the vocabulary
    c = model.class_vectors(["star", "ring"])
    assert c.shape == (2, 16) and np.allclose(np.linalg.norm(c, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="images"):
        model.encode_images(np.zeros((2, 3, 16, 16)))


def test_embedding_cache_round_trip_and_errors(tmp_path):
    cfg = emb_mod.EmbeddingConfig(dim=8, n_pairs=64, steps=2, batch_size=16)
    with pytest.raises(FileNotFoundError, match="embedding-"):
        emb_mod.load_embedding(cfg, directory=tmp_path, build=False)
    built = emb_mod.load_embedding(cfg, directory=tmp_path)
    again = emb_mod.load_embedding(cfg, directory=tmp_path, build=False)
    for p, q in zip(built.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    file = tmp_path / f"embedding-{cfg.key()}.pt"
    assert file.with_suffix(".json").exists()
    file.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=file.name):
        emb_mod.load_embedding(cfg, directory=tmp_path, build=False)
