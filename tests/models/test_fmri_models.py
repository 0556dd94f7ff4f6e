"""MindEye2, the BrainCLIP mapper and their losses: shapes, invariants, overfitting one batch."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.fmri import (
    BrainCLIPMapper,
    CLIPLoss,
    LowLevelDecoder,
    MindEye2,
    MindEye2Loss,
    SoftCLIPLoss,
)


def _mindeye2() -> MindEye2:
    torch.manual_seed(0)
    return MindEye2(voxels={"s1": 30, "s2": 45}, embed_dim=8, latent_dim=32, n_blocks=2,
                    image_size=16, lowlevel_channels=8)  # fmt: skip


def test_mindeye2_shapes_and_subject_maps():
    m = _mindeye2()
    out = m(torch.randn(4, 45), "s2")
    assert out.latent.shape == (4, 32) and out.contrastive.shape == (4, 8)
    assert out.prior.shape == (4, 8) and out.image.shape == (4, 3, 16, 16)
    assert 0 <= out.image.min() and out.image.max() <= 1
    with pytest.raises(KeyError, match="s3"):
        m(torch.randn(2, 10), "s3")
    m.add_subject("s3", 10)
    assert m(torch.randn(2, 10), "s3").contrastive.shape == (2, 8)


def test_subjects_share_everything_but_their_linear_map():
    m = _mindeye2()
    shared = {n for n, _ in m.named_parameters() if not n.startswith("subject_maps")}
    assert any(n.startswith("backbone") for n in shared) and "subject_maps.s1.weight" in dict(
        m.named_parameters()
    )
    m(torch.randn(3, 30), "s1").contrastive.sum().backward()
    assert m.subject_maps["s2"].weight.grad is None
    assert m.backbone.blocks[0][3].weight.grad is not None


def test_lowlevel_decoder_refuses_bad_sizes():
    with pytest.raises(ValueError, match="image_size"):
        LowLevelDecoder(8, image_size=18)


def test_mindeye2_overfits_one_batch():
    m = _mindeye2()
    x, emb = torch.randn(8, 30), torch.nn.functional.normalize(torch.randn(8, 8), dim=-1)
    img = torch.rand(8, 3, 16, 16)
    loss_fn = MindEye2Loss(prior_weight=1.0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        o = m(x, "s1")
        loss = loss_fn(o.contrastive, o.prior, o.image, emb, img)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.3 * losses[0]


def test_brainclip_mapper_unit_outputs_and_variational_kl():
    torch.manual_seed(0)
    m = BrainCLIPMapper(n_voxels=20, embed_dim=6, hidden=16, variational=True)
    out = m(torch.randn(5, 20))
    assert out.embedding.shape == (5, 6) and out.kl > 0
    assert torch.allclose(out.embedding.norm(dim=-1), torch.ones(5), atol=1e-5)
    m.eval()
    x = torch.randn(3, 20)
    assert torch.equal(m(x).embedding, m(x).embedding)
    with pytest.raises(ValueError, match="voxels"):
        m(torch.randn(20))


def test_contrastive_losses_prefer_aligned_pairs_and_share_duplicate_targets():
    torch.manual_seed(0)
    t = torch.nn.functional.normalize(torch.randn(6, 4), dim=-1)
    for loss in (CLIPLoss(0.1), SoftCLIPLoss(0.1)):
        assert loss(t, t) < loss(t.flip(0), t)
    dup = torch.cat([t[:1], t[:1], t[2:]])  # rows 0 and 1 have the same target
    swapped = torch.cat([dup[1:2], dup[0:1], dup[2:]])
    assert torch.isclose(CLIPLoss(0.1)(dup, dup), CLIPLoss(0.1)(swapped, dup))
    with pytest.raises(ValueError, match="temperature"):
        CLIPLoss(0.0)
