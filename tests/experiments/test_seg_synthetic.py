"""Synthetic-slice experiments: split seeds, data shapes, the lesion sampler, runs, real heads."""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
import pytest

from mricompendium.data import synth
from mricompendium.experiments.segmentation import strip, stroke, synthetic, tissue


def test_case_seeds_are_reproducible_and_disjoint_between_splits():
    a = synthetic.case_seeds(0, "train", 50)
    assert a == synthetic.case_seeds(0, "train", 50)
    assert not set(a) & set(synthetic.case_seeds(0, "test", 50))
    assert synthetic.case_seeds(0, "train", 5) == a[:5]
    with pytest.raises(ValueError, match="split"):
        synthetic.case_seeds(0, "holdout", 3)


def test_tissue_data_holds_four_classes_and_the_overhead_is_exact():
    cfg = tissue.tissue_config(spacing_mm=4.0, shape=(48, 56, 48))
    x, y, sl = tissue.tissue_data(cfg, 3, seed=0, split="train")
    assert x.shape == (3, 1, 48, 56) and y.shape == (3, 48, 56)
    assert set(y.unique().tolist()) == {0, 1, 2, 3}
    rows = {r["method"]: r for r in tissue.overhead_table(features=(8, 16))}
    assert rows["U-Net"]["overhead_pct"] == 0.0
    assert 0 < rows["U-Net+sSE"]["overhead_pct"] < rows["U-Net+cSE"]["overhead_pct"]


def test_run_method_scores_full_and_half_budget():
    cfg = tissue.tissue_config(spacing_mm=4.0, shape=(48, 56, 48))
    x, y, _ = tissue.tissue_data(cfg, 4, seed=0, split="train")
    ids = ["a", "b"]
    test = synthetic.TestSet(x[:2], y[:2], "tissue", "g", ids, ids, 4.0)
    run = synthetic.run_method(
        "U-Net", lambda: tissue.build("U-Net", features=(4, 8)), (x, y), (x[:2], y[:2]), [test],
        names=tissue.CLASSES, steps=4, seed=0, batch_size=2, device="cpu", val_every=2,
    )  # fmt: skip
    assert sorted({r["budget"] for r in run.rows}) == [2, 4]
    assert len(run.rows) == 4 and run.history.val_steps == [2, 4]
    assert all(0 <= r["dice"] <= 1 and r["unit"] in ids for r in run.rows)


def test_strip_slices_are_square_in_every_plane_with_binary_masks():
    cfg = strip.strip_config("synth-trained", spacing_mm=4.0, shape=(48, 48, 48))
    x, y, _ = strip.strip_data(cfg, 3, seed=0, split="test")
    assert x.shape == (3, 1, 48, 48) and set(y.unique().tolist()) == {0, 1}
    with pytest.raises(ValueError, match="cubic"):
        strip.strip_data(strip.strip_config("T1-trained", spacing_mm=4.0, shape=(48, 56, 48)), 1,
                         seed=0, split="test")  # fmt: skip


def test_strip_low_resolution_test_is_thicker_than_any_training_augmentation():
    grid = dict(spacing_mm=4.0, shape=(48, 48, 48), train_thick_mm=(6.0, 10.0),
                test_thick_mm=(12.0, 20.0))  # fmt: skip
    train = strip.drawn_thickness_mm(strip.strip_config("synth-trained", **grid), range(60))
    test = strip.drawn_thickness_mm(strip.strip_config("synthetic low-res T1", **grid), range(20))
    assert 10 < len(train) < 60 and len(test) == 20  # 40 % of the training cases are thick
    assert 6.0 <= min(train) and max(train) <= 10.0 < 12.0 <= min(test) and max(test) <= 20.0
    assert strip.drawn_thickness_mm(strip.strip_config("synthetic T2", **grid), range(5)) == []
    with pytest.raises(ValueError, match="train_thick_mm"):
        strip.strip_config("synth-trained", spacing_mm=4.0, shape=(48, 48, 48),
                           train_thick_mm=(2.0, 10.0))  # fmt: skip


def test_stroke_test_slices_always_cut_the_lesion():
    cfg = stroke.stroke_config("synthetic FLAIR", spacing_mm=4.0, shape=(48, 56, 48))
    _, y, _ = stroke.stroke_data(cfg, 4, seed=0, split="test")
    assert bool((y.sum((1, 2)) > 0).all())


def test_stroke_unseen_test_protocols_lie_outside_the_physics_training_ranges():
    assert [g for g in stroke.TEST_CONTRASTS if stroke.outside_training(g)] == list(stroke.UNSEEN)
    train = stroke.TRAIN_SEQUENCES.timing()
    grid = dict(spacing_mm=4.0, shape=(48, 56, 48))
    for group in stroke.UNSEEN:
        cfg = stroke.stroke_config(group, **grid)
        drawn = stroke.drawn_sequences(cfg, synthetic.case_seeds(0, "test", 20))
        assert not any(synth.contains(train, seq) for seq in drawn)
    physics = stroke.stroke_config("physics-trained", **grid)
    drawn = stroke.drawn_sequences(physics, synthetic.case_seeds(0, "train", 40))
    assert all(synth.contains(train, seq) for seq in drawn)
    assert {seq.kind for seq in drawn} == {"se", "ir", "gre"}


def test_acute_lesions_are_visible_where_physics_puts_them():
    grid = dict(spacing_mm=4.0, shape=(48, 56, 48))
    acute = dataclasses.replace(stroke.STROKE, stages=("acute",))
    cnr = {}
    for group in ("synthetic T1", "synthetic T2", "synthetic DWI"):
        cfg = dataclasses.replace(stroke.stroke_config(group, **grid), stroke=acute)
        x, _, sl = stroke.stroke_data(cfg, 4, seed=0, split="test")
        cnr[group] = float(np.nanmedian(stroke.lesion_contrast(x, sl.labels)))
    assert cnr["synthetic T2"] > 1.0 and cnr["synthetic DWI"] > 1.0  # bright
    assert abs(cnr["synthetic T1"]) < cnr["synthetic T2"]  # faint on T1


def test_reference_data_mixes_the_unseen_protocols():
    x, y = stroke.reference_data(4, spacing_mm=4.0, shape=(48, 56, 48), seed=0, split="train")
    assert x.shape == (4, 1, 48, 56) and y.shape == (4, 48, 56)


def test_isles_slices_put_real_cases_on_the_grid(tmp_path):
    case = "sub-strokecase0001_ses-0001"
    vol = np.random.default_rng(0).random((40, 48, 30)).astype(np.float32) + 0.1
    mask = np.zeros((40, 48, 30), np.uint8)
    mask[15:25, 20:30, 10:20] = 1
    for name, data in (("dwi", vol), ("adc", vol), ("FLAIR", vol), ("msk", mask)):
        nib.save(
            nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), tmp_path / f"{case}_{name}.nii.gz"
        )
    out = stroke.isles_slices(str(tmp_path), spacing_mm=4.0, shape=(32, 32, 32), n_per_case=2)
    assert set(out) == {"ISLES DWI", "ISLES FLAIR"}
    x, y, cases, units = out["ISLES DWI"]
    assert x.shape[1:] == (1, 32, 32) and len(cases) == x.shape[0] == 2
    assert units == [case, case] and bool((y.sum((1, 2)) > 0).all())
    assert all(c.startswith(f"{case}:dwi:z") for c in cases)
    assert set(cases).isdisjoint(out["ISLES FLAIR"][2])  # one setting: ids unique across groups
