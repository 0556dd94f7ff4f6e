"""Label-scarce training (experiments.reconstruction.consistency): subject splits, exact image
augmentation, consistency and SSDU losses, the training stream, and a model that learns."""

from __future__ import annotations

import pytest
import torch

from mricompendium.data.recon.perturbed import Perturbation, PerturbationRange, perturb_batch
from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction import consistency as cx
from mricompendium.physics.coils import acs_mask

SAMPLING = "poisson_2d@4"
AUG = PerturbationRange(noise=(0.2, 0.5), phase_alpha=(0.2, 0.5), p=1.0)


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return rx.build_model("E2E-VarNet", use_given_maps=True, num_cascades=2, chans=4)


def test_template_subjects_group_neighbouring_positions() -> None:
    names = ["mni_z036_v0", "mni_z036_v1", "mni_z038_v0", "mni_z039_v0", "mni_z056_v0"]
    assert cx.template_subjects(names) == ["c0b0", "c0b0", "c0b0", "c0b1", "c1b0"]
    assert cx.template_subjects(names, positions_per_subject=1)[2] == "c0b2"
    with pytest.raises(ValueError):
        cx.template_subjects(["t1_coronal_slice"])


def test_label_split_is_by_subject_disjoint_and_seeded() -> None:
    subjects = [f"s{i // 3}" for i in range(30)]  # 10 subjects of 3 cases
    lab, unl, names = cx.label_split(subjects, 1, 5, seed=0)
    assert len(lab) == 3 and len(unl) == 15 and not set(lab) & set(unl)
    assert {subjects[i] for i in lab} == set(names["labelled"])
    assert {subjects[i] for i in unl} == set(names["unlabelled"])
    assert cx.label_split(subjects, 1, 5, seed=0) == (lab, unl, names)
    assert cx.label_split(subjects, 1, 5, seed=1)[2] != names
    with pytest.raises(ValueError):
        cx.label_split(subjects, 5, 6, seed=0)


@pytest.mark.parametrize("transpose,fy,fx", [(True, False, False), (False, True, False),
                                             (False, False, True), (True, True, True)])  # fmt: skip
def test_dihedral_transforms_the_whole_acquisition_exactly(sim, transpose, fy, fx) -> None:
    b = sim.batch([0, 1], SAMPLING, 0)
    out = cx.dihedral(b, transpose=transpose, flip_y=fy, flip_x=fx)
    expected = b.zero_filled()
    if transpose:
        expected = expected.transpose(-2, -1)
    for flip, dim in ((fy, -2), (fx, -1)):
        if flip:
            expected = cx._reverse(expected, dim)
    torch.testing.assert_close(out.zero_filled(), expected, atol=1e-5, rtol=1e-5)
    assert out.target.abs().sum() == pytest.approx(float(b.target.abs().sum()), rel=1e-6)
    back = cx.dihedral(cx.dihedral(b, transpose=False, flip_y=fy, flip_x=fx), transpose=False,
                       flip_y=fy, flip_x=fx)  # fmt: skip
    assert torch.equal(back.kspace, b.kspace)


def test_consistency_is_zero_for_identical_inputs_and_trains_only_the_perturbed_branch(
    sim,
) -> None:
    model = _net()
    b = sim.batch([0, 1], SAMPLING, 0)
    assert float(cx.consistency_l1(model, b, b).detach()) == pytest.approx(0.0, abs=1e-7)
    noisy = perturb_batch(b, Perturbation(noise=0.5), [1, 2])
    loss = cx.consistency_l1(model, b, noisy)
    assert float(loss) > 0
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_ssdu_split_partitions_the_samples_and_keeps_the_calibration_region(sim) -> None:
    b = sim.batch([0, 1, 2], SAMPLING, 0, mask_seed=5)
    inputs, held = cx.ssdu_split(b, 0.4, torch.Generator().manual_seed(0))
    mask = b.mask.expand_as(held)
    torch.testing.assert_close(inputs.mask + held, mask)
    assert bool((inputs.mask * held == 0).all())
    assert bool((held * acs_mask(b.mask).expand_as(held) == 0).all())
    outside = mask * (1 - acs_mask(b.mask).expand_as(held))
    assert float(held.sum() / outside.sum()) == pytest.approx(0.4, abs=0.1)
    assert not torch.equal(held[0], held[1])  # one split per case
    assert float(cx.ssdu_loss(_net(), inputs, b, held)) > 0


def test_regime_training_checks_its_inputs(sim) -> None:
    with pytest.raises(ValueError):
        cx.regime_training(cx.REGIMES["VORTEX"], sim, [SAMPLING], labelled=[0], unlabelled=[1],
                           batch_size=1)  # fmt: skip
    with pytest.raises(ValueError):
        cx.regime_training(cx.REGIMES["SSDU"], sim, [SAMPLING], labelled=[0], batch_size=1)
    with pytest.raises(ValueError):
        cx.regime_training(cx.REGIMES["Supervised"], sim, [SAMPLING], labelled=[0, 1],
                           unlabelled=[1], batch_size=1)  # fmt: skip
    with pytest.raises(ValueError):
        cx.Regime("x", augment="mixup")


def test_stream_draws_labelled_and_unlabelled_cases_from_their_sides(sim) -> None:
    parts = cx.regime_training(cx.REGIMES["VORTEX"], sim, [SAMPLING], labelled=[0],
                               unlabelled=[2, 3, 4], augmenter=AUG, batch_size=2)  # fmt: skip
    sample = parts["stream"](0)
    for step in range(3):
        batch = sample(step, torch.Generator().manual_seed(step))
        assert set(batch.labelled.indices.tolist()) == {0}
        assert set(batch.unlabelled.indices.tolist()) <= {2, 3, 4}
        assert torch.equal(batch.perturbed.target, batch.unlabelled.target)
        assert not torch.equal(batch.perturbed.kspace, batch.unlabelled.kspace)
    again = parts["stream"](0)(1, torch.Generator().manual_seed(1))
    first = sample(1, torch.Generator().manual_seed(1))
    assert torch.equal(again.perturbed.kspace, first.perturbed.kspace)  # seeded


@pytest.mark.parametrize("name", ["Supervised+Aug", "Image-aug", "VORTEX", "SSDU"])
def test_each_regime_trains_a_model_that_improves(sim, name) -> None:
    parts = cx.regime_training(cx.REGIMES[name], sim, [SAMPLING], labelled=[0, 1],
                               unlabelled=[2, 3], augmenter=AUG, batch_size=2)  # fmt: skip
    check = sim.batch([0, 1], SAMPLING, 99)
    net = _net()
    with torch.no_grad():
        before = float(rx.magnitude_l1(net, check))
    model, hist = rx.train_model(net, sim, [SAMPLING], steps=40, batch_size=2, lr=3e-3,
                                 seed=0, **parts)  # fmt: skip
    with torch.no_grad():
        after = float(rx.magnitude_l1(model, check))
    assert after < 0.8 * before
    assert len(hist.losses) == 40


def test_training_subjects_of_simulated_and_user_data(tmp_path) -> None:
    from test_datasets import _write  # the fastMRI layout writer of the datasets tests

    from mricompendium.experiments.reconstruction.datasets import real_data, simulated_data

    sim_data = simulated_data(image_size=16, num_coils=2, snr=20.0, seed=0, n_test_template=2,
                              real_per_unit=0, n_val=1)  # fmt: skip
    idx, subjects = cx.training_subjects(sim_data)
    assert idx == list(range(len(sim_data.train))) and len(subjects) == len(idx)
    assert len(set(subjects)) == 15 and subjects[0] == "c0b0"
    for name in ("a", "b", "c"):
        _write(tmp_path / f"{name}.h5", slices=4, coils=2)
    user = real_data(str(tmp_path), "fastmri", image_size=16, num_coils=None, max_slices=None,
                     n_test_volumes=1, n_val=1)  # fmt: skip
    idx, subjects = cx.training_subjects(user)
    assert set(idx).isdisjoint(user.val_idx) and len(idx) == len(subjects) == 7
    assert set(subjects) == {"a.h5", "b.h5"}
