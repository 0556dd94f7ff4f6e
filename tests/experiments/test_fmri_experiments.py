"""The fMRI experiment layer end to end at toy size: studies, training, rows in claims format."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mricompendium import claims
from mricompendium.data.fmri import (
    CATEGORIES,
    EmbeddingConfig,
    JointEmbedding,
    SimConfig,
    category_prompt,
    fit_noise_model,
)
from mricompendium.experiments.fmri import brainclip as bc
from mricompendium.experiments.fmri import (
    brainclip_study,
    fit_ridge,
    mindeye2_study,
    rows_from_metrics,
)
from mricompendium.experiments.fmri import mindeye2 as me
from mricompendium.experiments.fmri.common import baseline_gap, gap_words, identification

SIM = SimConfig(n_voxels=40, trials_per_session=40, trials_per_run=20)


@pytest.fixture(scope="module")
def world():
    return JointEmbedding(EmbeddingConfig(dim=8)).eval(), fit_noise_model()


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(200, 10)), rng.normal(size=(10, 3))
    xv = rng.normal(size=(50, 10))
    r = fit_ridge(x, x @ w, alphas=[1e-6, 1.0], x_val=xv, score=lambda p: -np.abs(p - xv @ w).sum())
    assert r.alpha == 1e-6 and np.allclose(r.predict(xv), xv @ w, atol=1e-3)


def test_baseline_gap_pairs_cases_and_averages_seeds():
    cases = [f"img{i}" for i in range(8)]
    base = np.linspace(0.2, 0.6, 8)
    rows = rows_from_metrics(
        {"acc": base}, setting="s", method="ridge", seed=-1, budget=0, cases=cases,
        units=cases, groups=["g"] * 8,
    )  # fmt: skip
    for seed, shift in ((0, 0.095), (1, 0.1), (2, 0.105)):
        rows += rows_from_metrics(
            {"acc": base + shift + 0.01 * np.sin(np.arange(8))}, setting="s", method="net",
            seed=seed, budget=10, cases=cases, units=cases, groups=["g"] * 8,
        )  # fmt: skip
    stat = baseline_gap(claims.results_frame(rows), "net", "ridge", metric="acc", setting="s")
    assert stat.n_units == 8 and stat.n_seeds == 3
    assert stat.effect == pytest.approx(0.10 + 0.01 * np.sin(np.arange(8)).mean())
    assert stat.ci_low < 0.1 < stat.ci_high and stat.ci_low > 0
    assert gap_words(stat, 0.05) == "beats"
    flat = dataclasses.replace(stat, effect=0.0, ci_low=-0.01, ci_high=0.01)
    assert gap_words(flat, 0.02) == "matches (within 0.02)"
    wide = dataclasses.replace(stat, effect=0.0, ci_low=-0.1, ci_high=0.1)
    assert gap_words(wide, 0.02).startswith("cannot be told apart")
    short = dataclasses.replace(stat, effect=-0.05, ci_low=-0.1, ci_high=-0.01)
    assert gap_words(short, 0.02) == "falls short of"


def test_identification_is_half_at_chance_and_one_when_exact():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(30, 8))
    assert identification(target, target) == 1.0
    assert 0.35 < identification(rng.normal(size=(30, 8)), target) < 0.65


def test_mindeye2_pipeline_gives_valid_rows(world):
    emb, noise = world
    study = mindeye2_study(
        SIM, emb, noise, n_subjects=3, pretrain_sessions=1, n_val=10, n_test=12, seed=0
    )
    tgt = study.subjects[study.target]
    assert tgt.train_x.shape[0] == 40 and tgt.test_x.shape[0] == 12
    assert len({s.n_voxels for s in study.subjects.values()}) == 3
    assert "1 session" in study.description and "NSD: 750" in study.description
    others = [n for n in study.subjects if n != study.target]
    voxels = {n: study.subjects[n].n_voxels for n in others}
    model = me.build_mindeye2("cpu", voxels, embed_dim=8, image_size=32, seed=0)
    me.pretrain(model, study, others, me.TrainConfig(steps=3, batch_size=8), seed=0, device="cpu")
    hist = me.train_on_subject(
        model,
        study,
        study.target,
        me.TrainConfig(steps=4, batch_size=8, val_every=2),
        seed=0,
        device="cpu",
        on_step={2: lambda m: me.predict(m, tgt.test_x, study.target)},
    )
    assert hist.val_steps == [2, 4] and 2 in hist.snapshots
    metrics = me.evaluate_predictions(
        hist.snapshots[2], study, tgt.test_idx, embedding=emb, n_candidates=300
    )
    ridge = me.ridge_predictions(study, study.target, alphas=[1.0, 10.0], n_candidates=300)
    base = me.evaluate_predictions(ridge, study, tgt.test_idx, embedding=emb, n_candidates=300)
    cases = [f"img{i}" for i in tgt.test_idx]
    rows = rows_from_metrics(
        metrics, setting="1 session", method="A", seed=0, budget=2, cases=cases, units=cases,
        groups=["all"] * 12,
    ) + rows_from_metrics(
        base, setting="1 session", method="B", seed=-1, budget=0, cases=cases, units=cases,
        groups=["all"] * 12,
    )  # fmt: skip
    df = claims.results_frame(rows)
    assert len(df) == 24 and df["image_retrieval"].between(0, 1).all()


def test_brainclip_pipeline_holds_novel_categories_out_of_training(world):
    emb, noise = world
    study = brainclip_study(
        SIM, emb, noise, n_novel=3, n_train=40, n_val=10, n_test_seen=6, n_test_novel=9, seed=0
    )
    labels = study.bank.scenes.labels
    s = study.subjects[study.target]
    assert not np.isin(labels[s.train_idx], study.novel).any()
    groups = study.test_groups()
    assert (groups == "novel category").sum() == 9 and (groups == "seen category").sum() == 6
    model = bc.build_mapper("cpu", n_voxels=s.n_voxels, embed_dim=8, seed=0)
    cfg = bc.TrainConfig(steps=4, batch_size=8, text_weight=0.5, val_every=2)
    hist = bc.train_mapper(model, study, cfg, seed=0, device="cpu")
    assert len(hist.val) == 2 and np.isfinite(hist.losses).all()
    brain = bc.predict(model, s.test_x)
    rows = np.flatnonzero(groups == "novel category")
    m = bc.evaluate_embeddings(
        brain, study, rows, list(study.novel), embedding=emb, n_candidates=300
    )
    assert set(m) == {"category_top1", "image_match", "text_match"}
    assert all(len(v) == 9 and np.all((v >= 0) & (v <= 1)) for v in m.values())
    ridge = bc.ridge_embeddings(study, alphas=[1.0], n_candidates=300)
    assert ridge.shape == brain.shape
    assert bc.text_targets_apart(study) == {"wordings": True, "novel_absent": True}
    assert set(bc.zero_shot_prompts([0])) == {"an image of a circle.", "a drawing of a circle."}


def test_text_targets_apart_catches_a_prompt_among_the_training_texts(world):
    emb, noise = world
    study = brainclip_study(
        SIM, emb, noise, n_novel=3, n_train=20, n_val=4, n_test_seen=2, n_test_novel=3, seed=0
    )
    s = study.subjects[study.target]
    study.bank.label_captions[s.train_idx[0]] = category_prompt(CATEGORIES[study.novel[0]])
    assert bc.text_targets_apart(study) == {"wordings": False, "novel_absent": False}


def test_real_nsd_style_folder_builds_a_study(tmp_path, world):
    import h5py
    import nibabel as nib

    emb, _ = world
    rng = np.random.default_rng(0)
    shared = [0, 1, 2, 3]
    for k, own in enumerate(([10, 11, 12, 13, 14, 15, 16, 17], [20, 21, 22, 23, 24, 25])):
        d = tmp_path / f"subj0{k + 1}"
        d.mkdir()
        images = own + shared + shared  # each shared image twice
        betas = rng.integers(-500, 500, size=(3, 2, 2, len(images))).astype(np.int16)
        nib.save(nib.Nifti1Image(betas, np.eye(4)), str(d / "betas_session01.nii.gz"))
        rows = "\n".join(f"{t},{i}" for t, i in enumerate(images))
        (d / "stimulus_table.csv").write_text("trial,image\n" + rows)
    with h5py.File(tmp_path / "nsd_stimuli.hdf5", "w") as f:
        f["imgBrick"] = rng.integers(0, 255, size=(30, 40, 40, 3), dtype=np.uint8)
    from mricompendium.experiments.fmri import nsd_mindeye2_study

    study = nsd_mindeye2_study(tmp_path, emb, n_val=2, n_test=3)
    t = study.subjects["subj01"]
    assert t.train_x.shape == (6, 12) and t.val_x.shape == (2, 12) and t.test_x.shape == (3, 12)
    assert study.bank.images.shape[1:] == (3, 32, 32)
    assert np.array_equal(t.test_idx, study.subjects["subj02"].test_idx)
    assert "NSD-style" in study.description


def test_nsd_download_tree_builds_a_study_named_by_nsd_ids(tmp_path, world):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from realdata_files import write_nsd

    from mricompendium.data.settings import used_settings
    from mricompendium.experiments.fmri import nsd_mindeye2_study

    emb, _ = world
    root = write_nsd(tmp_path, sessions=2, image_size=8)
    study = nsd_mindeye2_study(root, emb, target_sessions=1, pretrain_sessions=1, n_val=5,
                               n_test=20)  # fmt: skip
    t = study.subjects["subj01"]
    names = [study.image_name(i) for i in t.test_idx]
    assert len(names) == 20 and all(n.startswith("nsd") and len(n) == 8 for n in names)
    assert "NSD download tree" in study.description and "first 1 sessions" in study.description
    assert len(study.subjects["subj02"].train_idx) < 750  # pretraining on its first session only
    record = used_settings("mindeye2", {"trials_per_session": 200, "pretrain_sessions": 1},
                           real=True)  # fmt: skip
    assert record == {"pretrain_sessions": 1}
