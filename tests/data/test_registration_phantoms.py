"""The prostate bpMRI and breathing-abdomen phantoms, and their rendering helpers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mricompendium.data.registration import (
    LESION,
    BreathingSimulator,
    Misalignment,
    ProstateSimulator,
    random_abdomen,
    random_subject,
)
from mricompendium.data.registration.render import (
    rician,
    splat,
    splat_labels,
    truncate_kspace,
    upsample_cells,
)
from mricompendium.metrics.image import ssim
from mricompendium.metrics.registration import mean_dice
from mricompendium.physics.deform import warp


def test_splat_conserves_signal_and_labels_take_the_majority() -> None:
    rng = np.random.default_rng(0)
    ya, yb = rng.uniform(-4, 4, 500), rng.uniform(-4, 4, 500)
    out = splat(np.ones(500), ya, yb, n=8, fov=10.0)
    assert out.shape == (8, 8) and np.isclose(out.sum(), 500.0)
    votes = np.r_[np.ones(3, int), 2 * np.ones(1, int)]
    labels = splat_labels(votes, np.zeros(4), np.zeros(4), 2, 2.0)
    assert labels[1, 1] == 1 and labels.sum() == 1


def test_cell_grids_keep_constants_and_centres() -> None:
    assert np.allclose(upsample_cells(np.full((4, 4), 3.0), 4), 3.0)
    assert np.allclose(truncate_kspace(np.full((32, 32), 2.0), 4), 2.0)
    fine = np.zeros((32, 32))
    fine[12:20, 12:20] = 1.0  # centred on the field of view
    coarse = truncate_kspace(fine, 4)
    assert coarse.shape == (8, 8)
    assert np.allclose(coarse, coarse[::-1, ::-1], atol=1e-9)  # still centred: cell centres
    with pytest.raises(ValueError):
        truncate_kspace(np.zeros((30, 30)), 4)
    assert np.allclose(rician(np.ones((3, 3)), 0.0, np.random.default_rng(0)), 1.0)


@pytest.fixture(scope="module")
def prostate():
    sim = ProstateSimulator(size=32, fov_mm=96.0, dwi_factor=2)
    return sim, sim.fixed_set(5, seed=3, cancer_fraction=0.4)


def test_prostate_pairs_shapes_classes_and_determinism(prostate) -> None:
    sim, pairs = prostate
    assert pairs["fixed"].shape == pairs["adc"].shape == (5, 1, 32, 32)
    assert pairs["truth"].shape == (5, 2, 32, 32)
    assert int(pairs["cancer"].sum()) == 2  # floor((i + 1) f) > floor(i f) over 5 subjects
    assert all((pairs["fixed_labels"][i] == LESION).any() for i in range(5))
    again = sim.fixed_set(2, seed=3, cancer_fraction=0.4)
    assert all(torch.equal(again[k], pairs[k][:2]) for k in ("fixed", "adc", "truth"))
    assert pairs["adc"].max() <= 3.5 and pairs["adc"].min() >= 0


def test_prostate_truth_maps_the_t2_frame_onto_the_diffusion_frame(prostate) -> None:
    _, pairs = prostate
    before = mean_dice(pairs["moving_labels"], pairs["fixed_labels"], labels=[1, 2])
    after = mean_dice(warp(pairs["moving_labels"], pairs["truth"], mode="nearest"),
                      pairs["fixed_labels"], labels=[1, 2])  # fmt: skip
    assert after.mean() > 0.85 and after.mean() >= before.mean()


def test_prostate_epi_shift_is_along_the_rows_only() -> None:
    sim = ProstateSimulator(size=32)
    still = dataclasses.replace(random_subject(7, True), translation=(0.0, 0.0), rotation=0.0,
                                push=0.0)  # fmt: skip
    a, lr = sim._grid(32)
    ya, ylr = sim.to_dwi(still, a, lr)
    assert np.allclose(ylr, lr) and not np.allclose(ya, a)
    with pytest.raises(ValueError):
        Misalignment(bandwidth_hz_per_mm=0.0)


@pytest.fixture(scope="module")
def abdomen():
    sim = BreathingSimulator(size=32, fov_mm=320.0)
    return sim, sim.pairs([random_abdomen(1), random_abdomen(2)], (2, 4))


def test_breathing_wall_is_static_and_the_truth_registers(abdomen) -> None:
    sim, p = abdomen
    outside = ~p["fixed_mask"].expand_as(p["truth"])
    assert (p["truth"][outside] == 0).all() and p["truth"].abs().max() > 1
    subjects = (random_abdomen(1), random_abdomen(2))
    exhale = torch.from_numpy(np.stack([sim.frame(s, 0.0, noise=False) for s in subjects]))[:, None]
    warped = warp(exhale, p["truth"])[:, 0].numpy()
    ref = p["reference"][:, 0].numpy()
    mask = p["fixed_mask"][:, 0].numpy()
    assert (ssim(warped, ref, data_range=1.0, mask=mask) > ssim(exhale[:, 0].numpy(), ref,
            data_range=1.0, mask=mask)).all()  # fmt: skip


def test_breathing_low_res_frames_are_truncated_kspace(abdomen) -> None:
    sim, p = abdomen
    assert p["low_res"][4]["moving"].shape == (2, 1, 8, 8)
    s = random_abdomen(1)
    np.testing.assert_allclose(
        sim.low_res(s, 1.0, 2, noise=False),
        truncate_kspace(sim.frame(s, 1.0, noise=False), 2),
        rtol=1e-5,
    )
    assert set(np.unique(p["fixed_labels"])) >= {0, 1, 3}
