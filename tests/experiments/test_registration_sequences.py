"""Classical engines (rigid, rigid + B-spline, SyN-like CC, symmetric demons), low-resolution
registration, the gland classifier, and the protocol helpers of S48 / S55."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.experiments import registration as R
from mricompendium.experiments.registration import diagnosis, multires, protocols
from mricompendium.metrics.classification import auroc
from mricompendium.physics.deform import warp


def _blobs(n: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(n).float(), torch.arange(n).float(), indexing="ij")
    img = torch.exp(-((y - 12) ** 2 + (x - 14) ** 2) / 18) + 0.6 * torch.exp(
        -((y - 20) ** 2 + (x - 20) ** 2) / 10
    )
    return img[None, None]


def _shifted(img: torch.Tensor, dy: float, dx: float) -> torch.Tensor:
    disp = torch.zeros(1, 2, *img.shape[2:])
    disp[:, 0], disp[:, 1] = dy, dx
    return warp(img, disp)


def test_rigid_recovers_a_translation() -> None:
    fixed = _blobs()
    moving = _shifted(fixed, 2.0, -1.0)  # moving(x) = fixed(x + d): warp(moving, -d) = fixed
    disp = R.sitk_rigid()(moving, fixed)
    assert disp.shape == (1, 2, 32, 32)
    centre = disp[0, :, 8:24, 8:24].mean((1, 2))
    assert torch.allclose(centre, torch.tensor([-2.0, 1.0]), atol=0.3)


def test_rigid_bspline_and_dense_fields_reduce_the_error() -> None:
    fixed = _blobs()
    moving = _shifted(fixed, 1.5, 1.0)
    err0 = (moving - fixed).abs().mean()
    domain = torch.ones_like(fixed, dtype=torch.bool)
    for fn, kw in ((R.sitk_rigid_bspline(mesh_spacing=8, iterations=10), {"domain": domain}),
                   (R.sitk_syn_cc(iterations=30), {}),
                   (R.sitk_symmetric_demons(iterations=30), {})):  # fmt: skip
        disp = fn(moving, fixed, **kw)
        assert disp.shape == (1, 2, 32, 32) and torch.isfinite(disp).all()
        assert (warp(moving, disp) - fixed).abs().mean() < 0.6 * err0
    with pytest.raises(ValueError):
        R.sitk_syn_cc(radius=0)


def test_register_pairs_passes_named_inputs() -> None:
    seen = []

    def fn(moving, fixed, domain):
        seen.append(domain.shape)
        return torch.zeros(1, 2, *moving.shape[2:])

    pairs = {"moving": torch.zeros(3, 1, 8, 8), "fixed": torch.zeros(3, 1, 8, 8),
             "domain": torch.ones(3, 1, 8, 8, dtype=torch.bool)}  # fmt: skip
    disp, seconds = R.register_pairs(fn, pairs, inputs=("domain",), warmup=False)
    assert disp.shape == (3, 2, 8, 8) and len(seconds) == 3 and seen == [(1, 1, 8, 8)] * 3


def test_low_res_registration_lands_on_the_fine_grid() -> None:
    fixed = _blobs(32)
    moving = _shifted(fixed, 2.0, 0.0)
    coarse = torch.nn.functional.avg_pool2d
    pairs = {"moving": moving, "fixed": fixed, "reference": fixed,
             "fixed_mask": torch.ones_like(fixed, dtype=torch.bool),
             "low_res": {2: {"moving": coarse(moving, 2), "fixed": coarse(fixed, 2)}}}  # fmt: skip
    disp, _ = multires.register_at(R.sitk_rigid(), pairs, 2)
    assert disp.shape == (1, 2, 32, 32)
    assert disp[0, 0, 8:24, 8:24].mean() == pytest.approx(-2.0, abs=0.5)
    score = multires.ssim_to_reference()(pairs, disp)
    assert score[0] > multires.ssim_to_reference()(pairs, torch.zeros_like(disp))[0]
    with pytest.raises(ValueError, match="factor 4"):
        multires.register_at(R.identity(), pairs, 4)


def test_gland_classifier_reads_the_adc_inside_the_gland() -> None:
    rng = np.random.default_rng(0)
    n = 40
    cancer = torch.tensor(np.arange(n) % 2 == 0)
    adc = torch.full((n, 1, 16, 16), 1.6)
    mask = torch.zeros(n, 1, 16, 16, dtype=torch.bool)
    mask[:, :, 4:12, 4:12] = True
    for i in range(n):
        adc[i, 0, 6:8, 6:8] = (0.8 if cancer[i] else 1.2) + 0.1 * rng.standard_normal()
    t2 = torch.ones_like(adc)
    x = diagnosis.gland_features(adc, t2, mask)
    assert x.shape == (n, len(diagnosis.FEATURES))
    model = diagnosis.LogisticModel.fit(x, cancer.numpy())
    assert auroc(model.score(x), cancer.numpy()) > 0.9
    pairs = {"adc": adc, "fixed": t2, "fixed_mask": mask, "cancer": cancer}
    pv = diagnosis.auroc_metric(model)(pairs, torch.zeros(n, 2, 16, 16))
    assert pv.shape == (n,) and pv.mean() == pytest.approx(auroc(model.score(x), cancer.numpy()))


def test_pool_batches_dilate_and_label_dice() -> None:
    pool = {"moving": torch.arange(10.0).view(10, 1, 1, 1), "fixed": torch.zeros(10, 1, 1, 1),
            "subject": [f"s{i}" for i in range(10)]}  # fmt: skip
    fn = protocols.pool_batches(pool, batch_size=3)
    a = fn(0, torch.Generator().manual_seed(1))
    b = fn(0, torch.Generator().manual_seed(1))
    assert torch.equal(a["moving"], b["moving"]) and "subject" not in a and len(a["moving"]) == 3
    m = torch.zeros(1, 1, 9, 9, dtype=torch.bool)
    m[0, 0, 4, 4] = True
    assert int(protocols.dilate(m, 2).sum()) == 25
    labels = torch.zeros(1, 1, 8, 8, dtype=torch.int64)
    labels[..., 2:5, 2:5] = 3
    pairs = {"moving_labels": labels, "fixed_labels": labels}
    assert protocols.label_dice(3)(pairs, torch.zeros(1, 2, 8, 8))[0] == pytest.approx(1.0)
