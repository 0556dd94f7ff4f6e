"""Speech experiments: audio features, the classifier, the baselines, training, the tongue model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.rtmri.utterances import Segment
from mricompendium.experiments.speech import audio, mri2speech, scoring, tongue

MEL = audio.MelConfig(n_mels=16)


def _item(k: int, rng: np.random.Generator, t: int = 12) -> mri2speech.Item:
    """A synthetic utterance whose mel is a linear function of its frames (0.24 s at 50 fps)."""
    frames = rng.normal(size=(t, 6, 6)).astype(np.float32)
    mix = np.random.default_rng(99).normal(size=(36, 2 * MEL.n_mels)) * 0.3
    log_mel = (frames.reshape(t, -1) @ mix).reshape(2 * t, MEL.n_mels) - 4.0
    segs = [
        Segment("", 0.0, 0.04),
        Segment("a" if k % 2 else "i", 0.04, 0.2),
        Segment("", 0.2, 0.24),
    ]
    sr = MEL.sample_rate
    tone = 0.1 * np.sin(2 * np.pi * (300 + 200 * (k % 2)) * np.arange(int(0.24 * sr)) / sr)
    mask = np.zeros(2 * t, bool)
    mask[4:20] = True
    return mri2speech.Item(
        f"u{k}",
        f"s{k % 2}",
        "train",
        "train",
        frames,
        log_mel.astype(np.float32),
        tone.astype(np.float32),
        segs,
        [np.array([700.0, 1200.0, 2500.0])],
        mask,
    )


def test_mel_frames_per_video_frame():
    assert audio.MelConfig().frames_per_video_frame(50.0) == 2
    with pytest.raises(ValueError, match="hop_length"):
        audio.MelConfig(hop_length=150).frames_per_video_frame(50.0)


def test_log_mel_and_griffin_lim_round_trip_lengths():
    sr = MEL.sample_rate
    x = 0.1 * np.sin(2 * np.pi * 440 * np.arange(sr // 4) / sr)
    m = audio.log_mel(x, MEL, 50)
    assert m.shape == (50, MEL.n_mels)
    y = audio.griffin_lim(m, MEL, n_iter=4, seed=0)
    assert len(y) == 49 * MEL.hop_length
    assert audio.log_mel(y, MEL).shape == m.shape
    np.testing.assert_array_equal(y, audio.griffin_lim(m, MEL, n_iter=4, seed=0))


def test_vowel_classifier_separates_clusters():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (30, 4)), rng.normal(4, 1, (30, 4))])
    y = ["a"] * 30 + ["i"] * 30
    clf = audio.VowelClassifier().fit(x, y)
    assert clf.predict(x).count("a") == 30 and clf.predict(np.full((1, 4), 4.0)) == ["i"]
    with pytest.raises(RuntimeError):
        audio.VowelClassifier().predict(x)
    with pytest.raises(ValueError, match="two classes"):
        audio.VowelClassifier().fit(x[:3], ["a"] * 3)


def test_split_keeps_validation_inside_training_speakers():
    rng = np.random.default_rng(0)
    items = [_item(k, rng) for k in range(6)]
    items[5].speaker_split, items[5].speaker = "test", "new"
    items[4].role = "test"
    d = mri2speech.split_items(items)
    assert [len(d[k]) for k in ("train", "val", "test_seen", "test_unseen")] == [2, 2, 1, 1]
    assert {i.speaker for i in d["val"]} <= {i.speaker for i in d["train"]}


def test_ridge_recovers_a_linear_frame_to_mel_map():
    rng = np.random.default_rng(0)
    train = [_item(k, rng) for k in range(20)]
    norm = mri2speech.MelNorm.fit(train)
    ridge = mri2speech.RidgeBaseline(n_components=36, context=0, alpha=1e-6).fit(train, norm, 2)
    test = _item(99, rng)
    assert mri2speech.speech_mcd(ridge.predict(test), test) < 0.05
    mean = norm.inverse(np.zeros_like(test.log_mel))
    assert mri2speech.speech_mcd(mean, test) > 1.0


def test_evaluate_scores_after_the_vocoder_so_the_oracle_pays_for_it():
    rng = np.random.default_rng(0)
    items = [_item(k, rng) for k in range(4)]
    clf = scoring.train_vowel_classifier(items, MEL)
    rec = scoring.train_recogniser(items, MEL, context=1, min_frames=2)
    kw = dict(seed=-1, budget=0, setting="seen speakers", group="sim", classifier=clf,
              recogniser=rec, mel=MEL, gl_iter=2)  # fmt: skip
    rows = scoring.evaluate(lambda it: it.log_mel, items, method="oracle", **kw)
    assert [r["case"] for r in rows] == ["u0", "u1", "u2", "u3"]
    assert all(r["mel_mcd_db"] == 0.0 and r["mcd_db"] > 0.0 for r in rows)  # vocoder's cost
    assert all(np.isfinite(r["formant_err_pct"]) and 0 <= r["vowel_acc"] <= 1 for r in rows)
    assert all(r["per_pct"] >= 0 and r["degenerate"] == 0.0 for r in rows)
    flat = scoring.evaluate(lambda it: np.full_like(it.log_mel, -4.0), items, method="flat", **kw)
    assert all(r["degenerate"] == 1.0 for r in flat)


def test_clean_scores_are_the_recogniser_and_classifier_on_clean_audio():
    rng = np.random.default_rng(0)
    items = [_item(k, rng) for k in range(4)]
    clf = scoring.train_vowel_classifier(items, MEL)
    rec = scoring.train_recogniser(items, MEL, context=1, min_frames=2)
    got = scoring.clean_scores(items, classifier=clf, recogniser=rec, mel=MEL)
    assert set(got) == {"per_pct", "vowel_acc"}
    assert got["per_pct"] >= 0 and 0 <= got["vowel_acc"] <= 1


def test_training_is_seeded_and_records_validation_and_half_budget():
    rng = np.random.default_rng(0)
    items = [_item(k, rng, t=16) for k in range(6)]
    data = {"train": items[:4], "val": items[4:]}
    norm = mri2speech.MelNorm.fit(items[:4])
    kw = dict(upsample=2, steps=6, lr=1e-3, batch_size=2, crop=8, device="cpu", val_every=3)
    torch.set_num_threads(1)
    m1, h1 = mri2speech.fit_mri2mel(
        "small", data, norm, seed=0, on_step={3: lambda m: "half"}, **kw
    )
    _, h2 = mri2speech.fit_mri2mel("small", data, norm, seed=0, **kw)
    assert h1.losses == h2.losses and len(h1.losses) == 6
    assert h1.val_steps == [3, 6] and h1.snapshots == {3: "half"}
    assert mri2speech.predict_mel(m1, items[0], norm).shape == items[0].log_mel.shape
    with pytest.raises(ValueError, match="scale"):
        mri2speech.build_model("huge", n_mels=8, upsample=2)


# ------------------------------------------------------------------------------ tongue model


def _bilinear(s=6, p=8, d=20, ra=2, rp=3, seed=0):
    rng = np.random.default_rng(seed)
    a, q, core = rng.normal(size=(s, ra)), rng.normal(size=(p, rp)), rng.normal(size=(ra, rp, d))
    a, q = a - a.mean(0), q - q.mean(0)  # centred weights: the centred tensor has rank (ra, rp)
    return 5.0 + np.einsum("si,pj,ijd->spd", a, q, core)


def test_hosvd_reproduces_a_tensor_of_matching_rank():
    x = _bilinear()
    for hooi in (0, 3):
        m = tongue.MultilinearModel.fit(x, 2, 3, hooi_iter=hooi)
        rec = m.mean + np.einsum("si,pj,ijd->spd", m.anatomy, m.pose, m.core)
        np.testing.assert_allclose(rec, x, atol=1e-8)
    with pytest.raises(ValueError, match="ranks"):
        tongue.MultilinearModel.fit(x, 7, 3)


def test_registration_recovers_an_unseen_speaker_from_few_coordinates():
    x = _bilinear(s=7)
    m = tongue.MultilinearModel.fit(x[:6], 2, 3)
    mask = np.zeros(20, bool)
    mask[::3] = True  # 7 of 20 coordinates per shape
    _, _, est = m.register(x[6], mask, noise_mm=1e-3, prior=1e-6, n_iter=50)
    assert np.abs(est - x[6]).max() < 0.05 * np.abs(x[6] - 5.0).max()


def test_rigid_alignment_undoes_head_placement():
    rng = np.random.default_rng(0)
    palate = rng.normal(size=(3, 20, 2)) * 10
    palate[1:] = palate[0]
    tongue_ = rng.normal(size=(3, 4, 10, 2))
    obs_t, obs_p, true_t = tongue.observe(tongue_, palate, rng, noise_mm=0.0)
    fits, ref = tongue.align_speakers(obs_p)
    aligned = [p @ r.T + t for p, (r, t) in zip(obs_p, fits, strict=True)]
    np.testing.assert_allclose(aligned[1], aligned[0], atol=1e-8)
    np.testing.assert_allclose(obs_t, true_t)


def test_observation_masks_and_rows():
    assert tongue.observation_mask(40, "dense contour").sum() == 80
    assert tongue.observation_mask(40, "sparse points").sum() == 6
    with pytest.raises(ValueError, match="setting"):
        tongue.observation_mask(40, "everything")
    x = _bilinear(s=4, p=3)
    pca = tongue.PCAModel.fit(x[:3], 2)
    rows = tongue.registration_rows(
        pca,
        x[3:],
        x[3:],
        np.ones(20, bool),
        0.5,
        method="PCA",
        setting="dense contour",
        speakers=["s3"],
        poses=["a", "i", "u"],
    )
    assert [r["case"] for r in rows] == ["s3/a", "s3/i", "s3/u"]
    assert {r["unit"] for r in rows} == {"s3"} and all(r["err_mm"] >= 0 for r in rows)


def test_the_mean_shape_floor_ignores_what_it_observes():
    x = _bilinear(s=4, p=3)
    floor = tongue.MeanShapeModel.fit(x[:3])
    np.testing.assert_allclose(floor.mean, x[:3].reshape(-1, 20).mean(0))
    weights, shapes = floor.register(x[3], np.ones(20, bool), 0.5)
    assert weights.shape == (3, 0)
    np.testing.assert_allclose(shapes, np.repeat(floor.mean[None], 3, axis=0))
    rows = tongue.registration_rows(
        floor,
        x[3:],
        x[3:],
        np.ones(20, bool),
        0.5,
        method="mean",
        setting="dense contour",
        speakers=["s3"],
        poses=["a", "i", "u"],
    )
    expected = tongue.shape_error_mm(shapes, x[3])
    np.testing.assert_allclose([r["err_mm"] for r in rows], expected)
