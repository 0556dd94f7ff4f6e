"""The object pathway: shape space, object layout, pRF coverage and the voxels' object tuning."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mricompendium.data.fmri import (
    SimConfig,
    Stimuli,
    fit_noise_model,
    make_subjects,
    sample_scenes,
)
from mricompendium.data.fmri.objects import (
    SHAPE_FEATURES,
    _describe_shape,
    object_layout,
    prf_coverage,
    shape_descriptors,
)
from mricompendium.data.fmri.stimuli import CATEGORIES


def test_shape_space_is_standardised_and_puts_like_shapes_together():
    d = shape_descriptors()
    assert d.shape == (len(CATEGORIES), len(SHAPE_FEATURES)) and not d.flags.writeable
    assert np.allclose(d.mean(0), 0, atol=1e-9) and np.allclose(d.std(0), 1, atol=1e-9)
    dist = np.linalg.norm(d[:, None] - d[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    nearest = {CATEGORIES[i]: CATEGORIES[j] for i, j in enumerate(dist.argmin(1))}
    assert nearest["cross"] == "plus" and nearest["plus"] == "cross"
    assert nearest["ring"] == "frame" and nearest["frame"] == "ring"
    assert nearest["ellipse"] in ("semicircle", "bar")


def test_descriptors_of_a_disc_and_a_bar_have_known_values():
    c = (np.arange(161) + 0.5) / 161 * 2 - 1
    u, w = np.meshgrid(c, -c)
    disc = dict(zip(SHAPE_FEATURES, _describe_shape(u * u + w * w < 0.81), strict=True))
    assert disc["area"] == pytest.approx(0.81, abs=0.01)
    assert disc["holes"] == 0 and disc["elongation"] < 0.01 and disc["solidity"] > 0.97
    assert max(disc[f"radial frequency {k}"] for k in range(2, 7)) < 0.01
    bar = dict(zip(SHAPE_FEATURES, _describe_shape((abs(u) < 0.9) & (abs(w) < 0.2)), strict=True))
    assert bar["elongation"] > 0.7 and bar["radial frequency 2"] > 0.2
    r2 = u * u + w * w
    ring = dict(zip(SHAPE_FEATURES, _describe_shape((r2 < 0.81) & (r2 > 0.25)), strict=True))
    assert ring["holes"] == pytest.approx(0.25 / 0.81, abs=0.02)


def test_prf_coverage_matches_a_numerical_integral():
    x, y, s = np.array([0.0, 1.0, -2.0]), np.array([0.0, 0.5, 1.0]), np.array([0.5, 1.0, 2.0])
    cx, cy, r = np.array([0.0, 1.5]), np.array([0.0, -0.5]), np.array([1.0, 0.7])
    got = prf_coverage(x, y, s, cx, cy, r)
    g = np.linspace(-10, 10, 1001)
    gx, gy = np.meshgrid(g, g)
    step = (g[1] - g[0]) ** 2
    for i in range(2):
        disc = (gx - cx[i]) ** 2 + (gy - cy[i]) ** 2 < r[i] ** 2
        for v in range(3):
            pdf = np.exp(-((gx - x[v]) ** 2 + (gy - y[v]) ** 2) / (2 * s[v] ** 2))
            want = (pdf * disc).sum() * step / (2 * np.pi * s[v] ** 2)
            assert got[i, v] == pytest.approx(want, abs=5e-3)
    assert got[0, 0] == pytest.approx(1 - np.exp(-1 / (2 * 0.25)))  # centred: closed form
    assert prf_coverage(x, y, s, cx, cy, np.zeros(2)).max() == 0.0


def test_object_layout_reads_positions_sizes_and_empty_slots():
    s = sample_scenes(30, 0, p_second=0.5)
    lay = object_layout(s, fov_deg=8.4)
    assert lay["present"][:, 0].all() and not lay["present"][:, 1].all()
    assert (lay["radius_deg"][~lay["present"]] == 0).all()
    assert np.abs(lay["x_deg"][lay["present"]]).max() < 4.2
    left = s.position[:, 0] == 3  # "left"
    assert (lay["x_deg"][left, 0] < -1.0).all()


@pytest.fixture(scope="module")
def subject():
    sim = SimConfig(n_voxels=300)
    return make_subjects(1, sim, fit_noise_model(), seed=2, n_reference=200)[0]


def test_object_drive_follows_shape_position_and_colour(subject):
    base = sample_scenes(1, 0, categories=[0])
    base = dataclasses.replace(
        base, position=np.array([[4, -1]]), size=np.array([[2, -1]]),
        offset=np.zeros((1, 2, 2)), colour=np.array([[0, -1]]), texture=np.array([[0, -1]]),
    )  # fmt: skip
    table = [
        dataclasses.replace(base, category=np.array([[c, -1]])) for c in range(len(CATEGORIES))
    ]
    drive = np.concatenate([subject.object_drive(t) for t in table])  # (categories, V)
    vot = subject.area == "VOT"
    cv = drive[:, vot].std(0) / drive[:, vot].mean(0)
    assert np.median(cv) > 0.3  # category-selective (the drive's scale is standardised later)
    best = drive[:, vot].argmax(0)
    assert len(np.unique(best)) >= 5  # different voxels prefer different shapes
    left = dataclasses.replace(base, position=np.array([[3, -1]]))
    v1_left = (subject.area == "V3") & (subject.x_deg < -1.5) & (subject.sigma_deg < 1.5)
    assert (subject.object_drive(left)[0, v1_left] > subject.object_drive(base)[0, v1_left]).all()
    colours = [dataclasses.replace(base, colour=np.array([[k, -1]])) for k in range(8)]
    hv4 = subject.area == "hV4"
    by_colour = np.concatenate([subject.object_drive(t) for t in colours])[:, hv4]
    assert (by_colour.std(0) / (by_colour.mean(0) + 1e-9)).mean() > 0.1  # hue-tuned


def test_amplitudes_need_matching_features_and_scenes(subject):
    stim = Stimuli.render(sample_scenes(6, 1), 32)
    assert subject.amplitudes(stim.features, stim.scenes).shape == (6, subject.n_voxels)
    with pytest.raises(ValueError, match="scenes"):
        subject.amplitudes(stim.features[:5], stim.scenes)
    with pytest.raises(ValueError, match="scenes"):
        Stimuli(stim.scenes, stim.images[:5], stim.features)
