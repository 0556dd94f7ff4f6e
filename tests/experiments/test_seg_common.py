"""Shared segmentation routines: loss, sampler, prediction, per-case rows, a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium import training
from mricompendium.experiments.segmentation import common, floors
from mricompendium.models.segmentation import monai_nets


def _disks(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images of a bright disk (label 1) with a brighter core (label 2)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        cy, cx = torch.randint(8, size - 8, (2,), generator=g).tolist()
        r = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2.0)
        labels[i][r < 7] = 1
        labels[i][r < 3] = 2
    x = labels.float()[:, None] + 0.3 * torch.randn(n, 1, size, size, generator=g)
    return x, labels


def test_sampler_is_deterministic_and_crops():
    x, y = _disks(4, 32, 0)
    fn = common.sampler(x, y[:, None], batch_size=3, patch_size=(16, 16))
    a = fn(5, training.step_generator(0, 5))
    b = fn(5, training.step_generator(0, 5))
    assert a[0].shape == (3, 1, 16, 16) and a[1].shape == (3, 1, 16, 16)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match="fit inside"):
        common.sampler(x, y[:, None], batch_size=1, patch_size=(40, 16))


def test_case_rows_long_format_and_means():
    t = np.zeros((2, 2, 8, 8), bool)
    t[:, 0, 2:5, 2:5] = True
    t[:, 1, 1:6, 1:6] = True
    p = t.copy()
    p[1, 0] = False  # case 1 misses class A entirely
    rows = common.case_rows(
        p, t, names=["A", "B"], setting="s", method="m", seed=1, budget=10,
        cases=["c0", "c1"], units=["u0", "u1"], groups="template", spacing=2.0,
    )  # fmt: skip
    assert [r["case"] for r in rows] == ["c0", "c1"]
    assert rows[0]["dice"] == 1.0 and rows[0]["hd95"] == 0.0
    assert rows[1]["dice_A"] == 0.0 and rows[1]["dice"] == pytest.approx(0.5)
    assert rows[1]["hd95_A"] == pytest.approx(np.hypot(16, 16))  # the image diagonal in mm
    assert {"setting", "method", "seed", "budget", "case", "unit", "group"} <= set(rows[0])
    with pytest.raises(ValueError, match="one entry per case"):
        common.case_rows(p, t, names=["A", "B"], setting="s", method="m", seed=0, budget=0,
                         cases=["c0"], units=["u0", "u1"], groups="g")  # fmt: skip


def test_sliding_window_matches_whole_image_for_a_pointwise_model():
    model = torch.nn.Conv2d(1, 3, 1)
    x = torch.randn(2, 1, 24, 24)
    whole = common.predict_logits(model, x)
    windows = common.predict_logits(model, x, roi_size=(16, 16), overlap=0.5)
    torch.testing.assert_close(whole, windows, atol=1e-5, rtol=1e-5)


def test_training_softmax_unet_beats_a_trivial_prediction():
    training.seed_everything(0)
    x, y = _disks(8, 32, 1)
    model = monai_nets.basic_unet(
        spatial_dims=2, in_channels=1, out_channels=3, features=(8, 8, 16, 16, 32, 8)
    )
    fn = common.sampler(x, y[:, None], batch_size=4)
    hist = common.train_segmenter(model, fn, steps=40, lr=3e-3, seed=0, device="cpu")
    assert hist.losses[-1] < hist.losses[0]
    xt, yt = _disks(3, 32, 2)
    rows = common.evaluate(
        model, xt, yt, multilabel=False, names=["disk", "core"], setting="s", method="U-Net",
        seed=0, budget=40, cases=["a", "b", "c"], units=["a", "b", "c"], groups="disks",
    )  # fmt: skip
    assert np.mean([r["dice_disk"] for r in rows]) > 0.7


def test_segloss_adds_the_auxiliary_term():
    class WithAux(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 2, 1)

        def forward(self, x):
            return self.conv(x), torch.tensor(5.0)

    x, y = torch.randn(2, 1, 8, 8), torch.zeros(2, 2, 8, 8)
    model = WithAux()
    plain = common.SegLoss(multilabel=True, aux_weight=0.0)(model, (x, y))
    with_aux = common.SegLoss(multilabel=True, aux_weight=0.1)(model, (x, y))
    assert with_aux.item() == pytest.approx(plain.item() + 0.5, rel=1e-5)


def test_case_rows_flag_a_missed_class_as_degenerate():
    t = np.zeros((3, 2, 8, 8), bool)
    t[:, 0, 2:5, 2:5] = True
    t[:2, 1, 5:7, 5:7] = True  # case 2 has no class B
    p = t.copy()
    p[1, 1] = False  # case 1 misses class B, which its reference has
    p[2, 1, 0, 0] = True  # case 2 predicts a B the reference lacks: wrong, not a missed class
    rows = common.case_rows(p, t, names=["A", "B"], setting="s", method="m", seed=0, budget=1,
                            cases=["a", "b", "c"], units=["a", "b", "c"], groups="g")  # fmt: skip
    assert [r["degenerate"] for r in rows] == [0.0, 1.0, 0.0]
    assert common.missed_classes(np.zeros_like(t), t).tolist() == [2, 2, 1]


def test_floor_rows_score_the_empty_mask_and_the_majority_map():
    train = torch.zeros(3, 6, 6, dtype=torch.long)
    train[:, :3] = 1
    train[0, :, :2] = 2  # one case in three: not the majority
    prior = floors.majority_map(train)
    assert prior.tolist() == (np.repeat([[1], [0]], 3, axis=0) * np.ones((1, 6), int)).tolist()
    test = train[1:]
    keys = dict(setting="s", cases=["a", "b"], units=["a", "b"], groups="g", metrics=("dice",))
    empty = floors.floor_rows("empty mask", test, names=["one", "two"], **keys)
    assert {r["method"] for r in empty} == {"empty mask"} and {r["seed"] for r in empty} == {-1}
    assert [r["dice_one"] for r in empty] == [0.0, 0.0] and empty[0]["degenerate"] == 1.0
    atlas = floors.floor_rows("majority map", test, names=["one"], train_target=train, **keys)
    assert [r["dice"] for r in atlas] == [1.0, 1.0] and atlas[0]["budget"] == 0
    multi = floors.majority_map(torch.stack([train > 0, train > 1], 1), multilabel=True)
    assert multi.shape == (2, 6, 6) and not multi[1].any()
    with pytest.raises(ValueError, match="needs the training targets"):
        floors.floor_rows("majority map", test, names=["one"], **keys)
    with pytest.raises(ValueError, match="kind must be one of"):
        floors.floor_rows("zeros", test, names=["one"], **keys)
