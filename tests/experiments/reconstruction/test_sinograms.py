"""Sinogram experiment layer (S16): data from an independent generator, baselines, budget match."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mricompendium.data.recon import CaseSet
from mricompendium.experiments.reconstruction import sinograms as sg
from mricompendium.models.reconstruction.pdunet import PDUNet, RadonLPD

SIZE = 24


@pytest.fixture(scope="module")
def cases() -> CaseSet:
    # elliptical 'brains' with a smooth texture on a grid twice finer than the reconstruction
    y, x = (np.mgrid[: 2 * SIZE, : 2 * SIZE] - (2 * SIZE - 1) / 2) / 2
    masks = np.stack([x**2 + (y / 1.2) ** 2 < (SIZE * (0.3 + 0.03 * i)) ** 2 for i in range(3)])
    objects = masks * (0.6 + 0.4 * np.cos(x / 3) * np.sin(y / 4))
    names = [f"c{i}" for i in range(3)]
    return CaseSet.from_objects(objects, masks, SIZE, names, names, ["test"] * 3)


def test_mri_sinograms_shapes_and_linear_baselines(cases: CaseSet) -> None:
    s = sg.mri_sinograms(cases, image_size=SIZE, acceleration=4.0, upsample=4, snr=1e4,
                         seed=0, label="radial 4x")  # fmt: skip
    spokes = s.info["spokes"]
    assert s.complex_data and s.sino.shape == (3, spokes, 2 * SIZE)
    assert s.op_full.num_angles == 4 * spokes and s.target.shape == (3, SIZE, SIZE)
    # the sparse angles are among the full ones
    torch.testing.assert_close(s.op.angles, s.op_full.angles[::4])
    rows, pred = sg.evaluate(sg.fbp_method(), s, name="FBP", keep=2)
    assert len(rows) == 3 and pred.shape == (2, SIZE, SIZE)
    assert all(r["ssim_brain"] > 0.2 and math.isfinite(r["psnr"]) for r in rows)
    # gridding of the same spokes agrees with FBP in magnitude (both linear, both crude)
    grid_rows, _ = sg.evaluate(sg.gridding_method(), s, name="grid")
    assert np.mean([r["ssim_brain"] for r in grid_rows]) > 0.2


def test_noise_seed_changes_data_not_targets(cases: CaseSet) -> None:
    kw = dict(image_size=SIZE, acceleration=4.0, upsample=2, snr=10.0, label="x")
    a = sg.mri_sinograms(cases, seed=0, **kw)
    b = sg.mri_sinograms(cases, seed=1, **kw)
    assert not torch.allclose(a.sino, b.sino)
    c = sg.mri_sinograms(cases, seed=0, **kw)
    torch.testing.assert_close(a.sino, c.sino)


def test_ct_sinograms_and_checks(cases: CaseSet) -> None:
    s = sg.ct_sinograms(cases, image_size=SIZE, sparsity=4, full_views=32, noise=0.0, seed=0,
                        label="ct")  # fmt: skip
    assert not s.complex_data and s.sino.shape == (3, 8, 2 * SIZE)
    # scikit-image's projections binned to our grid are close to our own operator's
    ref = s.op.A(s.target.double())
    assert float((s.sino - ref).norm() / ref.norm()) < 0.1
    with pytest.raises(ValueError, match="multiple"):
        sg.ct_sinograms(cases, image_size=SIZE, sparsity=5, full_views=32, noise=0.0, seed=0,
                        label="ct")  # fmt: skip
    with pytest.raises(ValueError, match="objects"):
        sg.mri_sinograms(CaseSet(cases.images, cases.masks, cases.case, cases.unit, cases.group),
                         image_size=SIZE, acceleration=4.0, upsample=2, snr=10.0, seed=0,
                         label="x")  # fmt: skip


def test_match_lpd_is_nearest_width() -> None:
    with torch.device("meta"):
        budget = sg.count_parameters(PDUNet(num_iter=2, n_primal=4, n_dual=5, chans=8,
                                            num_pools=2, dual_hidden=16))  # fmt: skip
    cfg, n = sg.match_lpd(budget, num_iter=4, n_primal=4, n_dual=5, complex_data=True)
    assert abs(n - budget) / budget < 0.1
    # one step wider or narrower is no closer to the budget
    fixed = dict(num_iter=4, n_primal=4, n_dual=5, complex_data=True)
    for hidden in (cfg["hidden"] - 1, cfg["hidden"] + 1):
        with torch.device("meta"):
            other = sg.count_parameters(RadonLPD(hidden=hidden, **fixed))
        assert abs(other - budget) >= abs(n - budget)
