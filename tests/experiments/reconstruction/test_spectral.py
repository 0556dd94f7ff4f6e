"""Spectral-lifted PROPELLER experiment layer (S64): objects, data, bins, recons, scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.recon import CaseSet
from mricompendium.experiments.reconstruction import spectral as sp
from mricompendium.physics.propeller import Propeller, fat_spectrum

SIZE = 16


@pytest.fixture(scope="module")
def cases() -> CaseSet:
    y, x = (np.mgrid[: 2 * SIZE, : 2 * SIZE] - (2 * SIZE - 1) / 2) / 2
    masks = np.stack([x**2 + (y / 1.2) ** 2 < (SIZE * (0.22 + 0.02 * i)) ** 2 for i in range(2)])
    objects = masks * (0.6 + 0.4 * np.cos(x / 2) * np.sin(y / 3))
    names = ["a", "b"]
    return CaseSet.from_objects(objects, masks, SIZE, names, names, ["test"] * 2)


@pytest.fixture(scope="module")
def acq() -> Propeller:
    return Propeller(SIZE, n_blades=4, n_lines=6, n_readout=SIZE, te_s=4.6e-3, bw_hz_per_px=150.0)


def test_fat_rim_lies_outside_the_head(cases: CaseSet) -> None:
    water, fat, masks = sp.fat_rim_objects(cases, seed=0)
    assert water.shape == fat.shape == masks.shape == cases.objects.shape
    head = cases.object_masks.astype(bool)
    assert not (fat[head] > 0).any() and (fat > 0).any()
    rim = fat > 0
    ff = fat[rim] / (fat[rim] + water[rim])
    assert ff.min() >= 0.6 - 1e-6 and ff.max() <= 1.0 + 1e-6
    assert masks[head].all()  # the object mask covers head and rim
    w2, f2, _ = sp.fat_rim_objects(cases, seed=0)
    np.testing.assert_array_equal(fat, f2)


def test_frequency_bins_known_values() -> None:
    assert sp.frequency_bins(0.0, 1, None) == [0.0]
    assert sp.frequency_bins(100.0, 3, -400.0) == [-100.0, 0.0, 100.0, -500.0, -400.0, -300.0]
    with pytest.raises(ValueError, match="n_b0"):
        sp.frequency_bins(100.0, 0, None)


def test_data_and_reconstructions(cases: CaseSet, acq: Propeller) -> None:
    s = sp.propeller_data(cases, acq, label="static", seed=0, b0_max_hz=60.0, snr=50.0,
                          substeps=1)  # fmt: skip
    assert s.samples.shape == (2, acq.num_samples) and s.reference.shape == (2, SIZE, SIZE)
    assert float(s.ff.max()) <= 1.0 and float(s.ff.min()) >= 0.0
    grid = sp.gridding(s)
    rows = sp.score_rows(s, grid, name="gridding")
    assert len(rows) == 2 and all(0 < r["ssim_obj"] <= 1 for r in rows)
    fat_hz = float(fat_spectrum(3.0, peaks="single")[0][0])
    freqs = sp.frequency_bins(60.0, 3, fat_hz)
    rec = sp.lifted_recon(s, freqs, n_water=3, lam_tv=0.01, iters=30)
    assert rec.bins.shape == (2, 6, SIZE, SIZE) and rec.objective[-1] < rec.objective[0]
    ff = sp.fat_fraction(rec)
    assert ff.shape == (2, SIZE, SIZE) and float(ff.min()) >= 0 and float(ff.max()) <= 1
    lifted = sp.score_rows(s, rec.combined(), name="lifted", ff=ff)
    assert all(np.isfinite(r["ff_mae"]) for r in lifted)
    # a method that separates nothing scores as fat fraction 0 everywhere
    assert all(r["ff_mae"] > 0 for r in rows)
    moving = sp.propeller_data(cases, acq, label="moving", seed=0, b0_max_hz=60.0, snr=50.0,
                               substeps=1, motion_px=1.0)  # fmt: skip
    assert not torch.allclose(moving.samples, s.samples)
    torch.testing.assert_close(moving.reference, s.reference)


def test_cases_do_not_interact(cases: CaseSet, acq: Propeller) -> None:
    s = sp.propeller_data(cases, acq, label="x", seed=1, b0_max_hz=60.0, snr=50.0, substeps=1)
    both = sp.lifted_recon(s, [0.0], n_water=1, lam_tv=[0.01, 0.1], iters=10)
    one = sp.lifted_recon(sp._repeat(s, 1), [0.0], n_water=1, lam_tv=[0.01, 0.1], iters=10)
    torch.testing.assert_close(both.bins, one.bins)
    first = sp.PropellerSet("x", s.samples[:1], acq, s.reference[:1], s.ff[:1], s.masks[:1],
                            s.meta[:1])  # fmt: skip
    alone = sp.lifted_recon(first, [0.0], n_water=1, lam_tv=0.01, iters=10)
    torch.testing.assert_close(alone.bins[0], both.bins[0], rtol=1e-4, atol=1e-5)


def test_tune_lambda_widens_to_an_interior_choice(cases: CaseSet, acq: Propeller) -> None:
    s = sp.propeller_data(cases, acq, label="val", seed=2, b0_max_hz=60.0, snr=20.0, substeps=1)
    lam, table = sp.tune_lambda(s, [0.0], n_water=1, grid=[1e-4, 1e-3], iters=15)
    assert sum(r["chosen"] for r in table) == 1 and lam in [r["lam"] for r in table]
    assert len(table) >= 2
    with pytest.raises(ValueError, match="grid"):
        sp.tune_lambda(s, [0.0], n_water=1, grid=[0.1], iters=5)
