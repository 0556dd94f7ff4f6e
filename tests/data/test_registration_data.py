"""Registration data: template anatomies, synthetic pairs with known truth, the beating heart."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.registration import (
    BLOOD,
    MYO,
    CardiacGenerator,
    CardiacSequence,
    ContrastModel,
    PairGenerator,
    TissueContrast,
    brain_slices,
    random_heart,
    smooth_displacement,
    voronoi_parcels,
)
from mricompendium.metrics.registration import mean_dice
from mricompendium.physics.deform import jacobian_determinant, warp


@pytest.fixture(scope="module")
def anatomies():
    return brain_slices(32, y_mm=[-20.0, -8.0, 4.0], n_parcels=8, template_mm=4.0)


def test_voronoi_parcels_partition_the_mask():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 3:18] = True
    p = voronoi_parcels(mask, 6, seed=0)
    assert set(np.unique(p[mask])) == set(range(1, 7))
    assert np.all(p[~mask] == 0)
    assert np.array_equal(p, voronoi_parcels(mask, 6, seed=0))


def test_brain_slices_have_tissue_and_parcel_labels(anatomies):
    a = anatomies
    assert a.images.shape == (3, 1, 32, 32) and a.labels.shape == (3, 1, 32, 32)
    assert a.n_labels == 10
    assert a.spacing_mm > 4.0  # the brain is wider than 32 template voxels of 4 mm
    for lab in a.labels:
        present = set(lab.unique().tolist())
        assert {0, 1, 2} <= present and len(present & set(range(3, 11))) >= 6
    assert torch.all(a.labels[~a.masks] == 0)


def test_pairs_are_seeded_and_truth_registers_them(anatomies):
    gen = PairGenerator(anatomies, amplitude_mm=6.0, control_spacing_mm=40.0, contrast=None)
    p = gen.sample(3, torch.Generator().manual_seed(0))
    q = gen.sample(3, torch.Generator().manual_seed(0))
    assert all(torch.equal(p[k], q[k]) for k in p)
    warped = warp(p["moving"], p["truth"])
    before = (p["moving"] - p["fixed"]).abs().mean()
    assert (warped - p["fixed"]).abs().mean() < 0.5 * before
    lab = warp(p["moving_labels"], p["truth"], mode="nearest")
    assert (
        mean_dice(lab, p["fixed_labels"]).mean()
        > mean_dice(p["moving_labels"], p["fixed_labels"]).mean()
    )
    assert (jacobian_determinant(p["truth"]) > 0).all()  # diffeomorphic


def test_contrast_changes_intensity_but_not_geometry(anatomies):
    plain = PairGenerator(anatomies, contrast=None).sample(2, torch.Generator().manual_seed(1))
    varied = PairGenerator(anatomies, contrast=ContrastModel()).sample(
        2, torch.Generator().manual_seed(1)
    )
    assert not torch.allclose(plain["fixed"], varied["fixed"])
    assert (varied["fixed"] >= 0).all()


def test_fixed_set_does_not_depend_on_its_size(anatomies):
    gen = PairGenerator(anatomies, contrast=ContrastModel())
    a, b = gen.fixed_set(2, seed=5), gen.fixed_set(3, seed=5)
    assert torch.equal(a["fixed"], b["fixed"][:2])


def test_heart_myocardium_is_incompressible_and_thickens():
    seq = CardiacSequence(random_heart(7), size=64)
    t = seq.heart.t_es
    u = torch.from_numpy(seq.displacement(t))[None]
    _, lab_es = seq.frame(t)
    _, lab_ed = seq.frame(0.0)
    jac = jacobian_determinant(u)[0].numpy()
    inner = lab_es == MYO
    assert abs(np.median(jac[inner]) - 1.0) < 0.02
    assert np.median(jac[lab_es == BLOOD]) > 1.3  # the cavity shrank (inverse map expands it)
    assert (lab_es == BLOOD).sum() < (lab_ed == BLOOD).sum()
    # incompressible ring with a smaller cavity: thicker wall
    r_ed = np.sqrt((lab_ed > 0).sum() / np.pi) - np.sqrt((lab_ed == BLOOD).sum() / np.pi)
    r_es = np.sqrt((lab_es > 0).sum() / np.pi) - np.sqrt((lab_es == BLOOD).sum() / np.pi)
    assert r_es > r_ed


def test_cardiac_truth_registers_ed_to_es():
    p = CardiacGenerator(size=48).fixed_set(3, seed=0)
    lab = warp(p["moving_labels"], p["truth"], mode="nearest")
    assert mean_dice(lab, p["fixed_labels"]).min() > 0.85
    assert mean_dice(p["moving_labels"], p["fixed_labels"]).mean() < 0.8
    q = CardiacGenerator(size=48).fixed_set(3, seed=0)
    assert torch.equal(p["fixed"], q["fixed"])


def test_gaussian_family_is_invertible_and_its_truth_registers(anatomies):
    gen = PairGenerator(
        anatomies, amplitude_mm=8.0, control_spacing_mm=40.0, deformation="gaussian"
    )
    p = gen.fixed_set(3, seed=2)
    assert (jacobian_determinant(p["truth"]) > 0).all()
    lab = warp(p["moving_labels"], p["truth"], mode="nearest")
    assert (
        mean_dice(lab, p["fixed_labels"]).mean()
        > mean_dice(p["moving_labels"], p["fixed_labels"]).mean() + 0.02
    )
    with pytest.raises(ValueError, match="deformation"):
        PairGenerator(anatomies, deformation="bspline")


def test_smooth_displacement_has_its_sd_and_no_folding():
    g = torch.Generator().manual_seed(0)
    u = smooth_displacement((40, 40), amplitude=0.5, sigma=6.0, generator=g, batch=3)
    assert u.shape == (3, 2, 40, 40)
    assert torch.allclose(
        u.flatten(1).std(1), torch.full((3,), 0.5), atol=1e-4
    )  # smooth: not shrunk
    rough = smooth_displacement((40, 40), amplitude=3.0, sigma=1.0, generator=g, min_jacobian=0.2)
    assert jacobian_determinant(rough).min() >= 0.2 and rough.std() < 3.0  # shrunk until safe
    with pytest.raises(ValueError, match="sigma"):
        smooth_displacement((8, 8), amplitude=1.0, sigma=0.0, generator=g)


def test_fixed_set_visits_anatomies_in_turn_and_names_units(anatomies):
    gen = PairGenerator(anatomies, contrast=ContrastModel())
    p = gen.fixed_set(5, seed=1)
    assert p["anatomy"].tolist() == [0, 1, 2, 0, 1]
    assert gen.units(p) == [anatomies.names[i] for i in (0, 1, 2, 0, 1)]


def test_multi_contrast_fixed_image_inverts_csf_and_wm(anatomies):
    gen = PairGenerator(anatomies, contrast=ContrastModel(), fixed_contrast=TissueContrast())
    p = gen.sample(2, torch.Generator().manual_seed(3))
    lab = p["fixed_labels"]
    for img, inverted in ((p["fixed_reference"], False), (p["fixed"], True)):
        csf, wm = img[lab == 1].mean(), img[lab == 2].mean()
        assert (csf > wm) == inverted  # T1-like: WM bright; b0-like: CSF bright
    # the reference is the moving image's own contrast at the fixed position: truth registers it
    warped = warp(p["moving"], p["truth"])
    assert (warped - p["fixed_reference"]).abs().mean() < (
        p["moving"] - p["fixed_reference"]
    ).abs().mean()


def test_tissue_contrast_rejects_bad_ranges():
    with pytest.raises(ValueError, match="csf"):
        TissueContrast(csf=(1.0, 0.5))
