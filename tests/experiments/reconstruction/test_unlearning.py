"""Unlearning pieces: the forget anatomy, subsets and pools, the losses, the background metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction.protocol import magnitude_l1
from mricompendium.experiments.reconstruction.unlearning import (
    GradientAscentL1,
    NoisyLabelL1,
    background_energy_db,
    balanced_pool,
    cine_cases,
    retain_subset,
)


def test_cine_cases_are_frames_of_subjects_on_the_object_grid() -> None:
    c = cine_cases(2, 3, size=16, seed=4, object_size=64)
    assert c.images.shape == (6, 16, 16) and c.objects.shape == (6, 64, 64)
    assert c.unit == ["cine_s00"] * 3 + ["cine_s01"] * 3 and set(c.group) == {"cine torso"}
    assert all(m.any() and not m.all() for m in c.masks)
    assert (c.objects[~c.object_masks] == 0).all()  # noise-free: the simulator adds the noise
    assert not np.allclose(c.objects[0], c.objects[1])  # the heart beats
    again = cine_cases(2, 3, size=16, seed=4, object_size=64)
    np.testing.assert_array_equal(c.objects, again.objects)
    with pytest.raises(ValueError, match="n_subjects"):
        cine_cases(0, 3, size=16, seed=0)


def test_retain_subset_and_balanced_pool() -> None:
    sub = retain_subset(90, 0.2, seed=1)
    assert len(sub) == 18 and sub == sorted(set(sub)) and max(sub) < 90
    assert sub == retain_subset(90, 0.2, seed=1) and sub != retain_subset(90, 0.2, seed=2)
    pool = balanced_pool(list(range(18)), list(range(100, 130)))
    retain = sum(i < 100 for i in pool)
    assert 0.4 < retain / len(pool) < 0.6 and set(pool) >= set(range(100, 130))
    with pytest.raises(ValueError, match="fraction"):
        retain_subset(10, 0.0, seed=0)


def test_gradient_ascent_is_the_negated_loss(sim) -> None:
    torch.manual_seed(0)
    model = rx.build_model("U-Net", chans=4, num_pools=2)
    batch = sim.batch([0, 1], "poisson_2d@4", 0, mask_seed=1)
    torch.testing.assert_close(GradientAscentL1()(model, batch), -magnitude_l1(model, batch))


def test_noisy_labels_replace_only_the_forget_targets(sim) -> None:
    torch.manual_seed(0)
    model = rx.build_model("U-Net", chans=4, num_pools=2)
    batch = sim.batch([0, 1], "poisson_2d@4", 0, mask_seed=1)
    untouched = NoisyLabelL1([3, 4], seed=0)(model, batch)
    torch.testing.assert_close(untouched, magnitude_l1(model, batch))
    nl = NoisyLabelL1([1], seed=0)
    assert not torch.allclose(nl(model, batch), magnitude_l1(model, batch))
    torch.testing.assert_close(nl(model, batch), NoisyLabelL1([1], seed=0)(model, batch))
    like = batch.target_abs[1]
    noise = nl._noise(1, like)
    torch.testing.assert_close(noise.square().mean(), like.square().mean())
    assert torch.corrcoef(torch.stack([noise.flatten(), like.flatten()]))[0, 1].abs() < 0.2
    with pytest.raises(ValueError, match="empty"):
        NoisyLabelL1([], seed=0)


def test_background_energy_counts_only_what_lies_outside_the_object() -> None:
    region = np.zeros((2, 16, 16), bool)
    region[:, 4:12, 4:12] = True
    target = region * 2.0
    pred = target.copy()
    pred[1, 0, 0] = 1.0  # one false bright pixel in the background
    out = background_energy_db(pred, target, region, dilate=1)["background_db"]
    assert out[0] == pytest.approx(-120.0, abs=1e-6)
    background = 256 - (64 + 4 * 8)  # outside the 8x8 square grown by one pixel (a cross)
    assert out[1] == pytest.approx(10 * np.log10(1.0 / background / 4.0), abs=1e-6)
    with pytest.raises(ValueError, match="one shape"):
        background_energy_db(pred[:1], target, region)


def test_evaluate_adds_extra_columns_and_train_seeds_can_fine_tune(sim, meta) -> None:
    rows = rx.evaluate(rx.zero_filled(), sim, "poisson_2d@4", meta, seed=0, name="zf",
                       extra=background_energy_db).rows  # fmt: skip
    assert all(np.isfinite(r["background_db"]) for r in rows)
    start = rx.build_model("U-Net", chans=4, num_pools=2)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    val = rx.ValidationSet(sim, ["poisson_2d@4"], 1, [3, 4])
    tuned = rx.train_seeds("U-Net", sim, ["poisson_2d@4"], [], seeds=[0], steps=4, batch_size=2,
                           lr=1e-2, validation=val, val_every=2, init={0: start},
                           indices=[0, 1], label="FT")  # fmt: skip
    after = tuned.models[0].state_dict()
    assert all(torch.equal(before[k], start.state_dict()[k]) for k in before)  # a copy was tuned
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert tuned.curves[0].method == "FT"


def test_a_concatenated_source_joins_batches_in_the_order_asked(sim, single_coil_sim) -> None:
    from mricompendium.data.recon import KspaceSimulator
    from mricompendium.experiments.reconstruction.unlearning import ConcatSource

    other = KspaceSimulator(sim.objects.numpy()[:2], sim.brain.numpy()[:2], num_coils=2, snr=20.0,
                            seed=9)  # fmt: skip
    both = ConcatSource(sim, other)
    assert len(both) == 7 and both.image_shape == sim.image_shape
    b = both.batch([5, 0, 6, 1], "poisson_2d@4", 3)
    a0 = sim.batch([0, 1], "poisson_2d@4", 3)
    o0 = other.batch([0, 1], "poisson_2d@4", 3)
    torch.testing.assert_close(b.kspace[1], a0.kspace[0])
    torch.testing.assert_close(b.kspace[2], o0.kspace[1])
    assert b.mask.shape[0] == 4 and b.indices.tolist() == [5, 0, 6, 1]
    with pytest.raises(ValueError, match="grids differ"):
        small = KspaceSimulator(np.zeros((1, 32, 32), np.float32) + 1, np.ones((1, 16, 16), bool),
                                num_coils=1, snr=None, seed=0)  # fmt: skip
        ConcatSource(sim, small)


def _write_fastmri(path, coil_images: np.ndarray, recon: tuple[int, int]) -> None:
    """A fastMRI multi-coil file in the published layout: ``kspace`` (slices, coils, H, W),
    the ISMRMRD header with the reconstruction matrix, ``reconstruction_rss``."""
    import h5py

    from mricompendium.physics.fft import fft2c

    kspace = fft2c(torch.from_numpy(coil_images)).numpy()
    h, w = kspace.shape[-2:]
    header = (
        '<?xml version="1.0" encoding="utf-8"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">'
        f"<encoding><encodedSpace><matrixSize><x>{h}</x><y>{w}</y><z>1</z></matrixSize>"
        f"</encodedSpace><reconSpace><matrixSize><x>{recon[0]}</x><y>{recon[1]}</y><z>1</z>"
        "</matrixSize></reconSpace><encodingLimits><kspace_encoding_step_1><minimum>0</minimum>"
        f"<maximum>{w - 1}</maximum><center>{w // 2}</center></kspace_encoding_step_1>"
        "</encodingLimits></encoding></ismrmrdHeader>"
    )
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("ismrmrd_header", data=header.encode())
        f.create_dataset("reconstruction_rss", data=np.zeros((len(kspace), *recon), np.float32))


def test_the_real_route_joins_a_brain_and_a_knee_folder(tmp_path) -> None:
    from mricompendium.data.recon import load_kspace_source
    from mricompendium.experiments.reconstruction.unlearning import ConcatSource

    rng = np.random.default_rng(0)
    for organ in ("brain", "knee"):
        (tmp_path / organ).mkdir()
        for v in range(2):
            disc = (np.hypot(*np.mgrid[-12:12, -12:12]) < 8 + v).astype(np.complex64)
            coils = disc[None, None] * np.exp(1j * rng.uniform(0, 6, (3, 4, 1, 1)))
            _write_fastmri(tmp_path / organ / f"file_{organ}_{v}.h5", coils.astype(np.complex64),
                           recon=(24, 24))  # fmt: skip
    kw = dict(size=16, num_coils=2, max_slices=3)
    brain, brain_test = load_kspace_source(tmp_path / "brain", "fastmri", **kw).split_by_volume(1)
    knee, _ = load_kspace_source(tmp_path / "knee", "fastmri", **kw).split_by_volume(1)
    both = ConcatSource(brain, knee)
    assert len(both) == 6 and both.image_shape == (16, 16) and len(brain_test) == 3
    b = both.batch([4, 1], "equispaced_1d@4", 0)
    torch.testing.assert_close(b.target[0], knee.batch([1], "equispaced_1d@4", 0).target[0])
    torch.testing.assert_close(b.target[1], brain.batch([1], "equispaced_1d@4", 0).target[0])
    (tmp_path / "knee" / "file_knee_0.h5").write_bytes(b"not an HDF5 file")
    with pytest.raises(ValueError, match="file_knee_0.h5: not a readable HDF5"):
        load_kspace_source(tmp_path / "knee", "fastmri", **kw)
