"""The training loop: determinism, overfitting, checkpoints, resume, devices."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mricompendium import training


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def _batch_fn(step, generator):
    """Regression batches simulated on the fly from the step's generator."""
    x = torch.randn(8, 4, generator=generator)
    return {"x": x, "y": x.sum(dim=1, keepdim=True).sin()}


def _mse(model, batch):
    return nn.functional.mse_loss(model(batch["x"]), batch["y"])


def _fit(model, **kw):
    kw.setdefault("steps", 20)
    return training.fit(model, _batch_fn, _mse, device="cpu", progress=False, **kw)


def test_same_seed_gives_identical_losses():
    training.seed_everything(0)
    h1 = _fit(_model(), scheduler="cosine", grad_clip=1.0)
    h2 = _fit(_model(), scheduler="cosine", grad_clip=1.0)
    assert len(h1.losses) == 20 and h1.losses == h2.losses
    h3 = _fit(_model(), seed=1)
    assert h3.losses != h1.losses  # the batch seed matters


def test_overfits_one_batch():
    batch = (torch.randn(16, 4, generator=torch.Generator().manual_seed(0)),)
    target = batch[0][:, :1] * 2.0 - 1.0

    def loss_fn(model, b):
        return nn.functional.mse_loss(model(b[0]), target)

    h = training.fit(_model(), [batch], loss_fn, epochs=300, lr=1e-2, device="cpu", progress=False)
    assert h.steps == 300 and h.device == "cpu" and not h.amp
    assert h.losses[-1] < h.losses[0] / 10


def test_iterable_epochs_count_steps():
    batches = [_batch_fn(i, torch.Generator().manual_seed(i)) for i in range(3)]
    h = training.fit(_model(), batches, _mse, epochs=2, device="cpu", progress=False)
    assert h.steps == 6 and len(h.losses) == 6


def test_checkpoint_round_trip_restores_outputs(tmp_path):
    model = _model()
    _fit(model, checkpoint=tmp_path / "ckpt.pt")
    restored = _model(seed=1)
    x = torch.randn(5, 4)
    assert not torch.equal(restored(x), model(x))
    step = training.load_checkpoint(tmp_path / "ckpt.pt", restored)
    assert step == 20
    assert torch.equal(restored(x), model(x))


def test_resume_after_crash_continues_step_count_and_matches_full_run(tmp_path):
    ckpt = tmp_path / "run" / "ckpt.pt"
    kw = {"steps": 12, "scheduler": "cosine", "log_every": 4}
    full = _fit(_model(), **kw)

    def crashing_batch_fn(step, generator):
        if step == 7:
            raise KeyboardInterrupt  # the run dies after the step-5 checkpoint
        return _batch_fn(step, generator)

    with pytest.raises(KeyboardInterrupt):
        training.fit(
            _model(), crashing_batch_fn, _mse, device="cpu", progress=False,
            checkpoint=ckpt, checkpoint_every=5, **kw,
        )  # fmt: skip
    assert [p.name for p in ckpt.parent.iterdir()] == ["ckpt.pt"]  # no temp files
    resumed = _fit(_model(seed=5), checkpoint=ckpt, resume=True, **kw)
    assert resumed.start_step == 5 and resumed.steps == 12 and len(resumed.lrs) == 7
    assert resumed.losses == full.losses  # bit-identical on CPU, schedule and Adam state included
    again = _fit(_model(), checkpoint=ckpt, resume=True, **kw)
    assert again.start_step == 12 and again.lrs == [] and again.losses == full.losses


def test_non_finite_loss_stops_training():
    def nan_loss(model, batch):
        return _mse(model, batch) * float("nan")

    with pytest.raises(FloatingPointError):
        training.fit(_model(), _batch_fn, nan_loss, steps=3, device="cpu", progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({}, ValueError),  # neither steps nor epochs
        ({"steps": 2, "epochs": 2}, ValueError),
        ({"epochs": 2}, ValueError),  # a batch function has no length
        ({"steps": 2, "amp": True}, ValueError),  # AMP is CUDA-only
        ({"steps": 2, "scheduler": "step"}, ValueError),
        ({"steps": 2, "optimizer": "lbfgs"}, ValueError),
    ],
)
def test_bad_arguments_raise(kwargs, error):
    with pytest.raises(error):
        training.fit(_model(), _batch_fn, _mse, device="cpu", progress=False, **kwargs)


def test_select_device():
    assert training.select_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert training.select_device("auto").type == expected
    with pytest.raises(ValueError):
        training.select_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError):
            training.select_device("cuda")


def test_to_device_handles_nested_batches():
    batch = {"a": (torch.ones(1), [torch.zeros(2)]), "meta": "slice-3"}
    moved = training.to_device(batch, torch.device("cpu"))
    assert moved["meta"] == "slice-3" and torch.equal(moved["a"][1][0], torch.zeros(2))


def test_step_generators_are_distinct_and_repeatable():
    a = torch.rand(3, generator=training.step_generator(0, 1))
    assert torch.equal(a, torch.rand(3, generator=training.step_generator(0, 1)))
    assert not torch.equal(a, torch.rand(3, generator=training.step_generator(0, 2)))
    assert not torch.equal(a, torch.rand(3, generator=training.step_generator(1, 1)))


def test_one_shot_iterator_that_runs_out_raises():
    batches = (_batch_fn(i, torch.Generator().manual_seed(i)) for i in range(3))
    with pytest.raises(ValueError, match="ran out"):
        training.fit(_model(), batches, _mse, steps=5, device="cpu", progress=False)


def test_load_checkpoint_rejects_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        training.load_checkpoint(tmp_path / "none.pt", _model())
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError):
        training.load_checkpoint(tmp_path / "other.pt", _model())


def test_validation_history_and_step_callbacks():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    x, y = torch.randn(16, 2), torch.randn(16, 1)
    modes = []

    def val_fn(m):
        modes.append(m.training)
        return float(torch.nn.functional.mse_loss(m(x), y))

    hist = training.fit(
        model, [(x, y)], lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1]),
        steps=10, lr=0.05, device="cpu", progress=False,
        val_fn=val_fn, val_every=4, on_step={5: lambda m: m.weight.detach().clone()},
    )  # fmt: skip
    assert hist.val_steps == [4, 8, 10] and len(hist.val) == 3
    assert hist.val[-1] < hist.val[0]
    assert modes == [False] * 3 and model.training  # eval for validation, train mode restored
    assert set(hist.snapshots) == {5} and hist.snapshots[5].shape == (1, 2)
    with pytest.raises(ValueError, match="on_step"):
        training.fit(model, [(x, y)], lambda m, b: m(b[0]).sum(), steps=3, device="cpu",
                     progress=False, on_step={7: print})  # fmt: skip


def test_shards_accumulate_gradients_of_several_batches_per_step():
    batches = [_batch_fn(i, torch.Generator().manual_seed(i)) for i in range(4)]
    h = training.fit(_model(), batches, _mse, epochs=2, shards=2, device="cpu", progress=False)
    assert h.steps == 4 and h.shards == 2 and len(h.losses) == 4
    # one step on shards (a, b) = one step on the mean of their losses
    a, b = batches[:2]
    m1, m2 = _model(), _model()
    training.fit(m1, [a, b], _mse, steps=1, shards=2, lr=0.1, optimizer="sgd", device="cpu",
                 progress=False)  # fmt: skip

    def mean_loss(model, batch):
        return 0.5 * (_mse(model, batch[0]) + _mse(model, batch[1]))

    training.fit(m2, [(a, b)], mean_loss, steps=1, lr=0.1, optimizer="sgd", device="cpu",
                 progress=False)  # fmt: skip
    for p1, p2 in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.allclose(p1, p2, rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="multiple"):
        training.fit(_model(), _batch_fn, _mse, steps=1, shards=0, device="cpu", progress=False)
