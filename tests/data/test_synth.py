"""The label-map synthesiser: determinism, label preservation, lesions, contrast ordering."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from mricompendium.data import synth
from mricompendium.data.synth import fields

L = synth.LABELS
SPACING = 4.0  # small grids keep these tests fast
CLEAN = synth.RandomArtefacts(
    blur_vox=(0.0, 0.0), bias_std=(0.0, 0.0), noise_std=(0.0, 0.0), gamma_std=0.0
)
STILL = synth.RandomDeformation(
    rotation_deg=0.0, scaling=0.0, shear=0.0, translation_mm=0.0, elastic_mm=(0.0, 0.0)
)


def test_same_seed_same_case_other_seed_other_case():
    cfg = synth.SynthConfig(spacing_mm=SPACING, p_tumour=1.0, contrasts=("T1", "gmm"))
    a, b, c = (synth.synthesise(cfg, s) for s in (3, 3, 4))
    assert torch.equal(a.labels, b.labels)
    assert all(torch.equal(a.images[k], b.images[k]) for k in a.images)
    assert not torch.equal(a.labels, c.labels)
    assert a.params == b.params


def test_images_are_normalised_and_shaped_like_labels():
    cfg = synth.SynthConfig(spacing_mm=SPACING, contrasts=("T1", "T2", "FLAIR", "gmm", "random"))
    case = synth.synthesise(cfg, 0)
    assert case.stack().shape == (5, *case.labels.shape)
    for img in case.images.values():
        assert img.dtype == torch.float32
        assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
        assert torch.isfinite(img).all()


def test_identity_deformation_keeps_labels_exactly():
    lm = synth.template_labels(SPACING).labels
    params = STILL.sample(np.random.default_rng(0), ndim=3, spacing_mm=SPACING)
    assert torch.equal(synth.deform(lm, params), lm)


def test_integer_translation_shifts_labels_exactly():
    lm = synth.template_labels(SPACING).labels
    params = synth.DeformParams(((1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0)), (2.0, 0.0, 0.0), 0.0, 4, 0)
    moved = synth.deform(lm, params)
    assert torch.equal(moved[:-2], lm[2:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_deformation_preserves_labels(seed):
    head = synth.head_labels(synth.RandomHead().sample(np.random.default_rng(seed)), spacing_mm=3)
    params = synth.RandomDeformation().sample(np.random.default_rng(seed), ndim=3, spacing_mm=3)
    moved = synth.deform(head.labels, params)
    assert set(moved.unique().tolist()) <= set(head.labels.unique().tolist())  # no new values
    before, after = synth.brain_mask(head.labels), synth.brain_mask(moved)
    assert abs(int(after.sum()) / int(before.sum()) - 1.0) < 0.4  # scaling <= 10 % per axis
    for label in (L["csf"], L["gm"], L["wm"]):  # every tissue survives, none is smeared away
        assert int((moved == label).sum()) > 0.5 * int((head.labels == label).sum())


def test_head_layers_are_nested_around_the_brain():
    params = synth.HeadParams(2.0, 5.0, 5.0, 0.0, 0)
    lab = synth.head_labels(params, spacing_mm=2.0).labels.numpy()
    brain = np.isin(lab, synth.BRAIN_LABELS)
    dist = ndimage.distance_transform_edt(~brain) * 2.0
    for label, (lo, hi) in {"csf_rim": (0, 2), "skull": (2, 7), "scalp": (7, 12)}.items():
        d = dist[lab == L[label]]
        assert d.size > 0 and d.min() >= lo - 1e-6 and d.max() <= hi + 1e-6
    none = synth.head_labels(synth.HeadParams(0.0, 0.0, 0.0, 0.0, 0), spacing_mm=SPACING)
    assert int((none.labels >= L["csf_rim"]).sum()) == 0


@pytest.mark.parametrize("seed", range(4))
def test_tumour_sub_regions_are_nested_inside_the_brain(seed):
    lm = synth.template_labels(3.0)
    params = synth.RandomTumour(p_necrosis=1.0).sample(np.random.default_rng(seed), lm)
    out = synth.insert_tumour(lm, params).labels
    et, tc, wt = synth.tumour_regions(out)
    necrosis = out == L["necrosis"]
    assert int(et.sum()) > 0 and int(necrosis.sum()) > 0
    assert bool((tc >= et).all() and (wt >= tc).all() and (tc >= necrosis).all())
    assert not bool((wt & (lm.labels == 0)).any())  # never outside the template brain
    assert int(wt.sum()) > int(tc.sum())  # oedema around the core


def test_mass_effect_moves_tissue_but_not_the_brain_outline():
    lm = synth.template_labels(3.0)
    p = synth.RandomTumour(p_mass_effect=1.0).sample(np.random.default_rng(1), lm)
    flat = synth.insert_tumour(lm, synth.TumourParams(**{**p.__dict__, "mass_effect_mm": 0.0}))
    pushed = synth.insert_tumour(lm, p)
    assert not torch.equal(flat.labels, pushed.labels)
    outline = (pushed.labels > 0) ^ (lm.labels > 0)
    assert int(outline.sum()) <= 0.002 * int((lm.labels > 0).sum())


@pytest.mark.parametrize("seed", range(6))
def test_stroke_lies_in_one_hemisphere_of_parenchyma(seed):
    lm = synth.template_labels(3.0)
    p = synth.RandomStroke().sample(np.random.default_rng(seed))
    out = synth.insert_stroke(lm, p).labels
    lesion = out == L[f"stroke_{p.stage}"]
    assert bool(torch.isin(lm.labels[lesion], torch.tensor([L["gm"], L["wm"]])).all())
    xs = torch.nonzero(lesion)[:, 0].double() * lm.affine[0, 0] + lm.affine[0, 3]
    assert bool((xs * p.hemisphere > 0).all())


def _tissue_means(case: synth.Case, name: str) -> dict[str, float]:
    img, lab = case.images[name], case.labels
    return {k: float(img[lab == v].mean()) for k, v in L.items() if bool((lab == v).any())}


@pytest.mark.parametrize("field", [1.5, 3.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_physics_contrast_ordering(field, seed):
    cfg = synth.SynthConfig(
        spacing_mm=3.0,
        contrasts=("T1", "T1c", "T2", "FLAIR", "DWI", "ADC"),
        p_tumour=1.0,
        tissue=synth.RandomTissue(fields_t=(field,)),
        artefacts=CLEAN,
        deformation=STILL,
    )
    case = synth.synthesise(cfg, seed)
    t1, t1c, t2 = (_tissue_means(case, n) for n in ("T1", "T1c", "T2"))
    flair = _tissue_means(case, "FLAIR")
    assert t1["wm"] > t1["gm"] > t1["csf"]  # T1: WM brighter than GM, CSF dark
    assert t2["csf"] > t2["gm"] > t2["wm"]  # T2: CSF brightest
    assert flair["csf"] < 0.5 * min(flair["gm"], flair["wm"])  # FLAIR: CSF suppressed
    assert flair["oedema"] > flair["wm"]
    assert t1c["enhancing"] / t1c["wm"] > t1["enhancing"] / t1["wm"]  # gadolinium enhancement
    assert _tissue_means(case, "ADC")["csf"] > _tissue_means(case, "ADC")["wm"]


def test_acute_stroke_is_bright_on_dwi_t2_and_flair_and_dark_on_adc():
    cfg = synth.SynthConfig(
        spacing_mm=3.0,
        contrasts=("DWI", "ADC", "T2", "FLAIR"),
        p_stroke=1.0,
        stroke=synth.RandomStroke(stages=("acute",), territories=("mca",), territory_probs=(1.0,)),
        artefacts=CLEAN,
        deformation=STILL,
    )
    case = synth.synthesise(cfg, 0)
    dwi, adc = _tissue_means(case, "DWI"), _tissue_means(case, "ADC")
    assert dwi["stroke_acute"] > dwi["wm"] and adc["stroke_acute"] < adc["wm"]
    for name in ("T2", "FLAIR"):  # vasogenic oedema: prolonged T2
        means = _tissue_means(case, name)
        assert means["stroke_acute"] > max(means["gm"], means["wm"])


def test_slices_cut_the_lesion_and_match_their_volume():
    cfg = synth.SynthConfig(
        spacing_mm=3.0, p_stroke=1.0, p_slice_through_lesion=1.0, contrasts=("FLAIR",)
    )
    for seed in range(3):
        case = synth.synthesise(cfg, seed, plane="axial")
        assert case.labels.ndim == 2 and case.images["FLAIR"].shape == case.labels.shape
        assert int(torch.isin(case.labels, torch.tensor(synth.LESION_LABELS)).sum()) > 0
        assert case.slice_index is not None


def test_gaussian_blur_matches_scipy():
    x = torch.rand(12, 15, 17, generator=torch.Generator().manual_seed(0))
    ours = fields.gaussian_blur(x, (1.0, 0.0, 2.0)).double().numpy()
    ref = ndimage.gaussian_filter(x.double().numpy(), (1.0, 0.0, 2.0), mode="nearest", truncate=3)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_resolution_loss_keeps_constant_images_and_blurs_along_its_axis():
    const = torch.full((20, 30), 0.7)
    assert torch.allclose(fields.resolution_loss(const, axis=0, factor=3.0), const, atol=1e-6)
    edge = torch.zeros(20, 30)
    edge[10:] = 1.0
    thick = fields.resolution_loss(edge, axis=0, factor=4.0)
    assert 0.05 < float(thick[9, 0]) < 0.95  # the edge is smeared across slices
    assert torch.equal(fields.resolution_loss(edge, axis=1, factor=4.0), edge)


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="unknown contrast"):
        synth.SynthConfig(contrasts=("T7",))
    with pytest.raises(ValueError, match="p_tumour"):
        synth.SynthConfig(p_tumour=1.5)
    with pytest.raises(TypeError, match="seed"):
        synth.synthesise(synth.SynthConfig(spacing_mm=SPACING), seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plane"):
        synth.synthesise(synth.SynthConfig(spacing_mm=SPACING), seed=0, plane="oblique")


@pytest.mark.parametrize("field", [1.5, 3.0])
def test_every_sampled_protocol_keeps_the_textbook_ordering(field):
    labels = torch.tensor([L["csf"], L["gm"], L["wm"], L["oedema"]])
    flat = synth.TissueMapParams(field, ((1.0, 1.0, 1.0, 1.0),) * synth.NUM_LABELS, 0.0, 0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        t1, t2, flair = (
            synth.physics_image(labels, flat, synth.sample_image_spec(n, rng, field)).tolist()
            for n in ("T1", "T2", "FLAIR")
        )  # each: csf, gm, wm, oedema
        assert t1[2] > t1[1] > t1[0]
        assert t2[0] > t2[1] > t2[2]
        assert flair[0] < 0.3 * flair[2] and flair[3] > flair[2]
