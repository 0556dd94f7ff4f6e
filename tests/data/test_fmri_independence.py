"""The fMRI simulator never reads the decoders' target (the stand-in CLIP's embeddings).

Three guards: the voxels are bit-identical whatever embedding the bank carries (two different
networks, or NaN in place of every embedding); no call into the embedding network happens while
subjects are drawn and betas simulated; and the generator's modules import neither the embedding
nor the bank, nor name an embedding field.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect

import numpy as np
import pytest

from mricompendium.data.fmri import (
    EmbeddingConfig,
    JointEmbedding,
    SimConfig,
    Stimuli,
    StimulusBank,
    fit_noise_model,
    make_subjects,
    sample_scenes,
    simulate_trials,
)
from mricompendium.data.fmri import embedding as emb_mod
from mricompendium.experiments.fmri import brainclip_study, mindeye2_study

SIM = SimConfig(n_voxels=60, trials_per_session=60, trials_per_run=30)
GENERATOR = ("glm", "noise", "objects", "render", "simulate", "stimuli", "voxels")
TARGETS = ("image_emb", "caption_emb", "label_emb", "JointEmbedding", "encode_images")


@pytest.fixture(scope="module")
def noise():
    return fit_noise_model()


def _embedding(seed: int) -> JointEmbedding:
    import torch

    torch.manual_seed(seed)
    return JointEmbedding(EmbeddingConfig(dim=16)).eval()


def test_voxels_are_bit_identical_whatever_the_embedding_bank(noise):
    scenes = sample_scenes(90, 3, p_second=0.3)
    a, b = StimulusBank.build(scenes, _embedding(0)), StimulusBank.build(scenes, _embedding(1))
    assert not np.allclose(a.image_emb, b.image_emb)  # two different targets
    nan = dataclasses.replace(
        a,
        image_emb=np.full_like(a.image_emb, np.nan),
        caption_emb=np.full_like(a.caption_emb, np.nan),
        label_emb=np.full_like(a.label_emb, np.nan),
    )
    subj = make_subjects(1, SIM, noise, seed=4, n_reference=60)[0]
    idx = np.arange(90)
    betas = [
        simulate_trials(subj, bank.stimuli, idx, SIM, noise, seed=2)[0] for bank in (a, b, nan)
    ]
    assert np.isfinite(betas[0]).all()
    assert all(np.array_equal(betas[0], x) for x in betas[1:])


def test_studies_simulate_the_same_betas_with_another_embedding(noise):
    """The whole study path: a different network changes the targets, never the voxels."""
    kw = dict(n_novel=3, n_train=30, n_val=6, n_test_seen=4, n_test_novel=6, seed=1)
    s1, s2 = (brainclip_study(SIM, _embedding(k), noise, **kw) for k in (0, 1))
    t1, t2 = s1.subjects[s1.target], s2.subjects[s2.target]
    assert not np.allclose(s1.bank.image_emb, s2.bank.image_emb)
    for split in ("train_x", "val_x", "test_x"):
        assert np.array_equal(getattr(t1, split), getattr(t2, split)), split
    m1, m2 = (
        mindeye2_study(SIM, _embedding(k), noise, n_subjects=2, pretrain_sessions=1, n_val=5,
                       n_test=6, seed=0)
        for k in (0, 1)
    )  # fmt: skip
    for name in m1.subjects:
        assert np.array_equal(m1.subjects[name].train_x, m2.subjects[name].train_x)


def test_no_call_reaches_the_embedding_network_while_simulating(noise, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the simulator called the embedding network")

    for name in ("forward", "encode_images", "encode_text", "class_vectors"):
        monkeypatch.setattr(emb_mod.JointEmbedding, name, refuse)
    monkeypatch.setattr(emb_mod.ImageEncoder, "forward", refuse)
    monkeypatch.setattr(emb_mod.TextEncoder, "forward", refuse)
    subj = make_subjects(2, SIM, noise, seed=0, n_reference=40)[1]
    stim = Stimuli.render(sample_scenes(40, 0, p_second=0.3), SIM.image_size)
    betas, _ = simulate_trials(subj, stim, np.arange(40), SIM, noise, seed=0)
    assert betas.shape == (40, subj.n_voxels)


def test_the_simulator_refuses_a_bank_that_carries_embeddings(noise):
    bank = StimulusBank.build(sample_scenes(20, 0), _embedding(0))
    subj = make_subjects(1, SIM, noise, seed=0, n_reference=30)[0]
    with pytest.raises(TypeError, match="Stimuli"):
        simulate_trials(subj, bank, np.arange(20), SIM, noise, seed=0)
    assert {f.name for f in dataclasses.fields(Stimuli)} == {"scenes", "images", "features"}
    with pytest.raises(ValueError, match="real images"):
        dataclasses.replace(bank, scenes=None).stimuli  # noqa: B018 (the property raises)


@pytest.mark.parametrize("module", GENERATOR)
def test_generator_modules_neither_import_nor_name_the_embedding(module):
    mod = importlib.import_module(f"mricompendium.data.fmri.{module}")
    tree = ast.parse(inspect.getsource(mod))
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not {m for m in imported if m and m.split(".")[-1] in ("embedding", "bank")}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not names & set(TARGETS), sorted(names & set(TARGETS))
