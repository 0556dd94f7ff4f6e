"""The precision switch: what ``auto`` resolves to, refusals, and bf16 training on a CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mricompendium import amp, training


def test_resolve_precision_on_cpu(monkeypatch):
    cpu = torch.device("cpu")
    assert amp.resolve_precision("fp32", cpu) == "fp32"
    assert amp.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(amp, "cpu_has_bf16", lambda: True)
    assert amp.resolve_precision("auto", cpu) == "fp32"  # unless bf16 is faster for the model
    assert amp.resolve_precision("auto", cpu, cpu_bf16=True) == "bf16"
    monkeypatch.setattr(amp, "cpu_has_bf16", lambda: False)
    assert amp.resolve_precision("auto", cpu, cpu_bf16=True) == "fp32"
    with pytest.raises(ValueError, match="CUDA"):
        amp.resolve_precision("fp16", cpu)
    with pytest.raises(ValueError, match="one of"):
        amp.resolve_precision("int8", cpu)


def test_resolve_precision_on_cuda_follows_bf16_support(monkeypatch):
    cuda = torch.device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert amp.resolve_precision("auto", cuda) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert amp.resolve_precision("auto", cuda) == "fp16"
    assert amp.resolve_precision("fp16", cuda) == "fp16"
    with pytest.raises(ValueError, match="bfloat16"):
        amp.resolve_precision("bf16", cuda)


def test_only_fp16_scales_the_loss():
    cpu = torch.device("cpu")
    assert not amp.grad_scaler(cpu, "bf16").is_enabled()
    assert not amp.grad_scaler(cpu, "fp32").is_enabled()


def test_cpu_has_bf16_reads_the_cpu_flags():
    assert isinstance(amp.cpu_has_bf16(), bool)


def test_fit_in_bf16_on_cpu_autocasts_and_learns():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 1))
    seen = []

    def loss_fn(m, batch):
        x, y = batch
        out = m(x)
        seen.append(out.dtype)
        return nn.functional.mse_loss(out.float(), y)

    def batch_fn(step, g):
        x = torch.randn(16, 8, generator=g)
        return x, x[:, :1] - x[:, 1:2]

    hist = training.fit(model, batch_fn, loss_fn, steps=60, lr=1e-2, device="cpu",
                        precision="bf16", progress=False)  # fmt: skip
    assert hist.precision == "bf16" and hist.amp and set(seen) == {torch.bfloat16}
    assert model[0].weight.dtype == torch.float32  # master weights stay fp32
    assert hist.final_loss < hist.losses[0] / 4
    with pytest.raises(ValueError, match="not both"):
        training.fit(model, batch_fn, loss_fn, steps=1, device="cpu", precision="fp32",
                     amp=False, progress=False)  # fmt: skip


def test_contrastive_losses_keep_fp32_similarities_under_bf16_autocast():
    from mricompendium.models.fmri.losses import CLIPLoss, SoftCLIPLoss

    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(8, 32, generator=g), torch.randn(8, 32, generator=g)
    for loss in (CLIPLoss(0.05), SoftCLIPLoss(0.05)):
        ref = loss(pred, target)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got = loss(pred, target)
        assert torch.isfinite(got) and torch.equal(got, ref)  # in bf16 t.t = 1 rounds to 0.996
