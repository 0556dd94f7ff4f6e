"""Diffusion priors from fully sampled or undersampled-only data, and their posterior sampler."""

from __future__ import annotations

import pytest
import torch

from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction import diffusion as dx
from mricompendium.models.reconstruction.score import ScoreUNet
from mricompendium.physics.fft import fft2c
from mricompendium.physics.masks import Sampling

AMB = dx.AmbientSpec(Sampling.parse("gaussian_2d@4"), 0.3)


def test_full_sampling_samples_everything():
    for shape in ((32, 32), (16, 24)):
        mask = dx.full_sampling(shape).make_mask(shape, 3)
        assert int(mask.sum()) == shape[0] * shape[1]


def test_calib_scale_is_the_same_for_any_mask_with_the_box():
    k = torch.randn(2, 1, 32, 32, dtype=torch.complex64)
    m = Sampling.parse("gaussian_2d@8").make_mask((32, 32), 1)
    assert torch.allclose(dx.calib_scale(k), dx.calib_scale(k * m))
    assert torch.allclose(dx.calib_scale(3 * k), 3 * dx.calib_scale(k))


def test_further_mask_is_a_subset_keeping_the_box():
    gen = torch.Generator().manual_seed(0)
    m = Sampling.parse("gaussian_2d@4").make_mask((32, 32), 2).expand(4, -1, -1, -1)
    f = dx.further_mask(m, 0.5, gen)
    assert bool((f <= m).all()) and f.sum() < m.sum()
    assert bool((f[..., 14:18, 14:18] == 1).all())
    one_d = Sampling.parse("random_1d@4").make_mask((32, 32), 0)
    assert dx.further_mask(one_d, 0.5, gen).shape == one_d.shape
    assert torch.equal(dx.further_mask(m, 0.0, gen), m)
    with pytest.raises(ValueError):
        dx.further_mask(m, 1.0, gen)


def test_data_consistency_is_the_projection_for_one_coil():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 16, dtype=torch.complex64)
    truth = torch.randn(2, 16, 16, dtype=torch.complex64)
    mask = Sampling.parse("gaussian_2d@4").make_mask((16, 16), 0)
    maps = torch.ones(2, 1, 16, 16, dtype=torch.complex64)
    y = mask * fft2c(truth).unsqueeze(1)
    p = dx.data_consistency(x, y, mask, maps)
    kp = fft2c(p).unsqueeze(1)
    assert torch.allclose(mask * kp, y, atol=1e-5)  # measured samples replaced by the data
    assert torch.allclose((1 - mask) * kp, (1 - mask) * fft2c(x).unsqueeze(1), atol=1e-5)
    assert torch.allclose(dx.data_consistency(p, y, mask, maps), p, atol=1e-5)  # idempotent


def test_sigma_schedule():
    s = dx.sigma_schedule(3.0, 0.01, 5)
    assert s[0] == pytest.approx(3.0) and s[-1] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(s, s[1:], strict=False))
    with pytest.raises(ValueError):
        dx.sigma_schedule(0.1, 1.0, 5)


def _item(seed: int = 0, b: int = 3):
    gen = torch.Generator().manual_seed(seed)
    full = torch.randn(b, 1, 16, 16, dtype=torch.complex64)
    mask = Sampling.parse("gaussian_2d@4").make_mask((16, 16), 1).expand(b, -1, -1, -1)
    further = dx.further_mask(mask, 0.3, gen)
    maps = torch.ones(b, 1, 16, 16, dtype=torch.complex64)
    sigma = torch.tensor([0.05, 0.5, 2.0][:b])
    noise = dx.complex_noise((b, 16, 16), gen)
    return full, mask, maps, further, sigma, noise


def test_ambient_loss_ignores_unobserved_kspace():
    """Values outside the acquired mask change neither the loss nor its gradient."""
    torch.manual_seed(0)
    net = ScoreUNet(chans=8)
    full, mask, maps, further, sigma, noise = _item()
    other = full + (1 - mask) * torch.randn_like(full) * 10  # differs only where not acquired
    grads, losses = [], []
    for k in (full, other):
        net.zero_grad()
        loss = dx.ambient_loss(net, mask * k, mask, maps, further, sigma, noise)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)
    # while the observed samples do matter
    net.zero_grad()
    shifted = dx.ambient_loss(net, mask * (full + 0.5), mask, maps, further, sigma, noise)
    assert shifted.item() != pytest.approx(losses[0], rel=1e-4)


def test_ambient_loss_with_full_masks_is_the_denoising_loss():
    torch.manual_seed(0)
    net = ScoreUNet(chans=8)
    full, _, maps, _, sigma, noise = _item()
    ones = torch.ones(3, 1, 16, 16)
    x0 = torch.fft.ifftshift(full[:, 0], dim=(-2, -1))  # any image
    k = fft2c(x0).unsqueeze(1)
    loss = dx.ambient_loss(net, k, ones, maps, ones, sigma, noise, weighting="uniform")
    d = net(x0 + sigma.view(-1, 1, 1) * noise, sigma, ones)
    ref = (d - x0).abs().square().mean(dim=(1, 2)).mean() / net.sigma_data**2
    assert loss.item() == pytest.approx(ref.item(), rel=1e-4)
    with pytest.raises(ValueError):
        dx.ambient_loss(net, k, ones, maps, ones, sigma, noise, weighting="other")


def test_prior_data_pairs_and_stream(single_coil_sim):
    full = dx.prior_data(single_coil_sim, [0, 1], seed=4)
    sub = dx.prior_data(single_coil_sim, [0, 1], seed=4, ambient=AMB)
    assert bool((full.mask == 1).all()) and sub.mask.mean() < 0.3
    assert torch.allclose(full.kspace * sub.mask, sub.kspace, atol=1e-6)  # same noise draw
    assert torch.allclose(full.scale, sub.scale)
    stream = dx.prior_stream(sub, 4)(0)
    a = stream(0, torch.Generator().manual_seed(1))
    b = stream(0, torch.Generator().manual_seed(1))
    assert all(torch.equal(a[k], b[k]) for k in a)  # seeded
    assert bool((a["further"] <= a["mask"]).all()) and a["further"].sum() < a["mask"].sum()
    plain = dx.prior_stream(full, 4)(0)(0, torch.Generator().manual_seed(1))
    assert torch.equal(plain["further"], plain["mask"])  # no further corruption


def test_prior_subset_keeps_the_first_acquisitions(single_coil_sim):
    sub = dx.prior_data(single_coil_sim, [0, 1], seed=4, ambient=AMB)
    part = dx.prior_subset(sub, 1)
    assert len(part) == 1 and part.ambient is AMB
    assert torch.equal(part.kspace, sub.kspace[:1]) and torch.equal(part.mask, sub.mask[:1])
    with pytest.raises(ValueError):
        dx.prior_subset(sub, 0)
    with pytest.raises(ValueError):
        dx.prior_subset(sub, 3)


def test_gap_trend_in_words():
    assert (
        dx.gap_trend({90: 0.01, 20: 0.03})
        == "its magnitude shrinks from n=20 to n=90 and it keeps its sign"
    )
    assert dx.gap_trend({20: -0.01, 45: 0.0, 90: 0.02}).endswith(
        "grows from n=20 to n=90 and it does not keep its sign"
    )
    with pytest.raises(ValueError):
        dx.gap_trend({20: 0.1})


def test_one_batch_overfit_and_sampler(single_coil_sim):
    torch.manual_seed(0)
    data = dx.prior_data(single_coil_sim, [0, 1], seed=4, ambient=AMB)
    model = dx.DiffusionRecon(ScoreUNet(chans=8), ambient=AMB, steps=4)
    item = dx.prior_stream(data, 2)(0)(0, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = dx.prior_loss(model, item).item()
    for _ in range(80):
        loss = dx.prior_loss(model, item)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    model.eval()
    batch = single_coil_sim.batch([0, 1], "gaussian_2d@8", 7)
    with torch.no_grad():
        a, b = rx.predict(model, batch), rx.predict(model, batch)
        steps = model(batch.kspace, batch.mask, batch.maps, return_all=True)
    assert a.shape == (2, 32, 32) and torch.equal(a, b)  # deterministic sampler
    assert len(steps) == 4
    k = fft2c(a).unsqueeze(1)
    assert torch.allclose(batch.mask * k, batch.kspace, atol=1e-4 * batch.kspace.abs().max())


def test_build_prior_same_seed_same_weights():
    a = dx.build_prior(3, chans=8, steps=5)
    b = dx.build_prior(3, chans=8, ambient=AMB, steps=5)
    c = dx.build_prior(4, chans=8, steps=5)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert len(a.schedule) == 5 and b.ambient == AMB


def test_multicoil_real_kspace_route(sim):
    """The fastMRI route: fully sampled multi-coil volumes, both priors' data and the sampler."""
    from mricompendium.data.recon.real import RealKspaceSet

    objects = sim.objects[:3, ::2, ::2].cpu()
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    maps = torch.stack([torch.exp(-((xx - c) ** 2 + yy**2)) for c in (-0.8, 0.0, 0.8)])
    images = objects[:, None] * maps[None]
    volume = fft2c(images.to(torch.complex64)).numpy()
    real = RealKspaceSet.from_arrays([volume], names=["v0"])
    full = dx.prior_data(real, [0, 1, 2], seed=1)
    sub = dx.prior_data(real, [0, 1, 2], seed=1, ambient=AMB)
    assert full.kspace.shape == (3, 3, 32, 32) and bool((full.mask == 1).all())
    assert float((sub.kspace * (1 - sub.mask)).abs().max()) == 0.0
    model = dx.build_prior(0, chans=8, ambient=AMB, steps=3, dc_steps=2)
    batch = real.batch([0, 1], "gaussian_2d@8", 3)
    with torch.no_grad():
        out = rx.predict(model, batch)
    assert out.shape == (2, 32, 32) and bool(torch.isfinite(out).all())
