"""Perturbed acquisitions (mricompendium.data.recon.perturbed): levels, kinds, coordination with
the simulator's fine grid, determinism, and the augmenter's range checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mricompendium.data.recon import KspaceSimulator
from mricompendium.data.recon.perturbed import (
    Perturbation,
    PerturbationRange,
    PerturbedSource,
    perturb_batch,
)
from mricompendium.physics.fft import fft2c
from mricompendium.physics.perturb import rigid_motion_kspace, shot_of_line
from mricompendium.physics.simulate import crop_kspace

SAMPLING = "poisson_2d@4"


def phantom(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Textured ellipses on a grid twice finer than ``size``, and their masks on ``size``."""
    fine = 2 * size
    y, x = (np.mgrid[:fine, :fine] - (fine - 1) / 2) / 2
    objects, masks = [], []
    for i in range(n):
        inside = x**2 + (y / 1.2) ** 2 < (size * (0.3 + 0.02 * i)) ** 2
        objects.append(inside * (0.6 + 0.4 * np.cos(x / (3 + i)) * np.sin(y / 4)))
        masks.append(inside.reshape(size, 2, size, 2).mean(axis=(1, 3)) >= 0.5)
    return np.stack(objects).astype(np.float32), np.stack(masks)


def _sim(snr: float | None) -> KspaceSimulator:
    objects, masks = phantom(3, 24)
    return KspaceSimulator(objects, masks, num_coils=4, snr=snr, seed=0)


@pytest.fixture(scope="module")
def clean() -> KspaceSimulator:
    return _sim(None)


def test_perturbation_validates_and_names_its_kinds() -> None:
    assert Perturbation().kinds == frozenset() and Perturbation().describe() == "no perturbation"
    assert Perturbation(noise=0.2).kinds == {"white noise"}
    p = Perturbation(noise=0.2, coil_correlation=0.5, max_shift=1, max_rotation=2, shots=4)
    assert p.kinds == {"correlated noise", "translation", "rotation"}
    assert "coil-correlated" in p.describe() and "4 interleaved shots" in p.describe()
    for bad in ({"noise": -0.1}, {"coil_correlation": 1.0}, {"shots": 0}, {"order": "random"}):
        with pytest.raises(ValueError):
            Perturbation(**bad)


def test_draw_motion_keeps_the_centre_shot_still_and_depends_on_the_seed() -> None:
    p = Perturbation(phase_alpha=0.4, max_shift=2, max_rotation=5, shots=4, order="sequential")
    d = p.draw_motion(16, 3)
    still = int(shot_of_line(16, 4, order="sequential")[8])
    assert d["angles"][still] == 0 and bool((d["shifts"][still] == 0).all())
    assert d["phases"].abs().max() <= 0.4 * torch.pi and d["shifts"].abs().max() <= 2
    assert torch.equal(d["phases"], p.draw_motion(16, 3)["phases"])
    assert not torch.equal(d["phases"], p.draw_motion(16, 4)["phases"])


def test_no_perturbation_leaves_the_batch_as_it_was(clean: KspaceSimulator) -> None:
    b = clean.batch([0, 1], SAMPLING, 0)
    out = perturb_batch(b, Perturbation(), [1, 2])
    assert torch.equal(out.kspace, b.kspace) and torch.equal(out.target, b.target)
    torch.testing.assert_close(out.maps, b.maps)


def test_noise_level_is_relative_to_the_zero_filled_rms(clean: KspaceSimulator) -> None:
    b = clean.batch([0, 1, 2], SAMPLING, 0)
    out = perturb_batch(b, Perturbation(noise=0.3), [4, 5, 6])
    added = out.kspace - b.kspace
    assert bool((added * (1 - b.mask) == 0).all())  # only where sampled
    rms = b.zero_filled().abs().square().mean(dim=(-2, -1)).sqrt()
    for i in range(3):
        vals = added[i][:, b.mask[i % len(b.mask), 0] > 0]
        assert float(vals.real.std()) == pytest.approx(0.3 * float(rms[i]), rel=0.1)
    assert not torch.equal(out.maps, b.maps)  # maps estimated again from the noisy data


def test_translation_measured_on_the_fine_grid_equals_the_linear_phase(
    clean: KspaceSimulator,
) -> None:
    p = Perturbation(max_shift=1.5, shots=4)
    via_object = PerturbedSource(clean, p).batch([0, 1], SAMPLING, 7)
    b = clean.batch([0, 1], SAMPLING, 7)
    from mricompendium.data.recon.batches import case_seed

    via_phase = perturb_batch(b, p, [case_seed(7, i, 40) for i in (0, 1)])
    torch.testing.assert_close(via_object.kspace, via_phase.kspace, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(via_object.kspace, b.kspace)


def test_still_rigid_measurement_is_the_simulators_own_kspace(clean: KspaceSimulator) -> None:
    obj, maps = clean.fine_objects([0, 2]), clean.fine_coil_maps([0, 2])
    assert maps.shape == (2, 4, 48, 48)
    still = rigid_motion_kspace(obj, maps, clean.image_shape, angles=torch.zeros(2, 3),
                                shifts=torch.zeros(2, 3, 2), shots=shot_of_line(24, 3))  # fmt: skip
    torch.testing.assert_close(still, crop_kspace(fft2c(obj.unsqueeze(1) * maps), (24, 24)))
    full = clean.batch([0, 2], "poisson_2d@1.01", 0)  # nearly fully sampled, noise-free
    torch.testing.assert_close(still * full.mask, full.kspace, atol=1e-5, rtol=1e-4)


def test_rotation_changes_only_the_moving_shots_and_is_deterministic(
    clean: KspaceSimulator,
) -> None:
    p = Perturbation(max_rotation=4.0, shots=2)
    src = PerturbedSource(clean, p)
    a, b = src.batch([1], SAMPLING, 3), src.batch([1], SAMPLING, 3)
    assert torch.equal(a.kspace, b.kspace)
    base = clean.batch([1], SAMPLING, 3)
    shots = shot_of_line(24, 2)
    still = int(shots[12])
    torch.testing.assert_close(a.kspace[..., shots == still], base.kspace[..., shots == still])
    assert not torch.allclose(a.kspace[..., shots != still], base.kspace[..., shots != still])
    assert torch.equal(a.target, base.target)  # the reference is the still object
    with pytest.raises(ValueError):
        perturb_batch(base, p, [0])  # a rotation needs the object


def test_perturbed_source_needs_a_simulator_for_rotations() -> None:
    class KspaceOnly:
        device = torch.device("cpu")

    with pytest.raises(ValueError):
        PerturbedSource(KspaceOnly(), Perturbation(max_rotation=1.0))


def test_correlated_noise_differs_from_white_noise_of_the_same_level() -> None:
    sim = _sim(None)
    b = sim.batch([0, 1], SAMPLING, 0)
    white = perturb_batch(b, Perturbation(noise=0.5), [1, 2])
    corr = perturb_batch(b, Perturbation(noise=0.5, coil_correlation=0.8), [1, 2])
    assert not torch.allclose(white.kspace, corr.kspace)
    n = (corr.kspace - b.kspace)[0][:, b.mask[0, 0] > 0]
    c = (n @ n.conj().T).abs() / n.shape[1]
    assert float(c[0, 1] / c[0, 0]) > 0.5  # neighbouring coils correlate


def test_range_samples_inside_itself_and_names_what_is_outside() -> None:
    r = PerturbationRange(noise=(0.2, 0.5), phase_alpha=(0.2, 0.5), p=0.5)
    gen = torch.Generator().manual_seed(0)
    draws = [r.sample(gen) for _ in range(200)]
    assert all(r.outside(d) == [] for d in draws)
    assert any(d.noise == 0 for d in draws) and any(d.noise > 0 for d in draws)
    assert r.outside(Perturbation(noise=0.4)) == []
    assert r.outside(Perturbation(phase_alpha=0.6)) == [
        "shot phase level 0.6 outside the training range [0.2, 0.5]"
    ]
    assert any("never draws" in x for x in r.outside(Perturbation(max_rotation=2.0, shots=2)))
    assert any("never draws" in x for x in r.outside(Perturbation(noise=0.4, coil_correlation=0.5)))
    assert any("shots" in x for x in r.outside(Perturbation(phase_alpha=0.4, shots=4)))
    with pytest.raises(ValueError):
        PerturbationRange()
    assert dataclasses.replace(r, p=1.0).sample(gen).kinds == {"white noise", "shot phase"}
