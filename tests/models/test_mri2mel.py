"""MRI2Mel: shape contract, one-batch overfitting, input validation."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.speech import FrameEncoder, MRI2Mel


@pytest.mark.parametrize(("t", "h", "up"), [(5, 28, 2), (3, 42, 1), (4, 84, 3)])
def test_output_has_upsampled_time_and_mel_bands(t, h, up):
    model = MRI2Mel(n_mels=12, upsample=up, channels=(4, 8), embed=16, hidden=8)
    y = model(torch.randn(2, t, h, h))
    assert y.shape == (2, t * up, 12)


def test_frame_encoder_shape():
    enc = FrameEncoder(channels=(4, 8, 8), out_features=10, pool_size=3)
    assert enc(torch.randn(6, 1, 40, 40)).shape == (6, 10)


def test_overfits_one_batch():
    torch.manual_seed(0)
    model = MRI2Mel(n_mels=8, upsample=2, channels=(4, 8), embed=16, hidden=16, dropout=0.0)
    x, y = torch.randn(2, 6, 28, 28), torch.randn(2, 12, 8)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    first = None
    for _ in range(80):
        loss = torch.nn.functional.l1_loss(model(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="B, T, H, W"):
        MRI2Mel()(torch.randn(3, 28, 28))
    with pytest.raises(ValueError, match="odd"):
        MRI2Mel(temporal_kernel=4)
