"""Topological RSA: rsatoolbox's transforms as wrapped, identification, thresholds, simulation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from rsatoolbox.rdm import RDMs
from rsatoolbox.rdm.transform import geodesic_transform, geotopological_transform
from scipy.sparse.csgraph import shortest_path
from scipy.spatial.distance import pdist, squareform

from mricompendium.data.fmri import NoiseModel, SimConfig
from mricompendium.experiments import representation as rep
from mricompendium.experiments.representation import layers, rsa


def _rdms(k: int = 4, n: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rsa.rdm_vectors([rng.normal(size=(n, 9)) for _ in range(k)])


def _gt_formula(v: np.ndarray, low: float, up: float) -> np.ndarray:
    q_l, q_u = np.quantile(v, low), np.quantile(v, up)
    return np.clip((v - q_l) / (q_u - q_l), 0.0, 1.0)


def test_rdm_vectors_are_rsatoolbox_correlation_distances() -> None:
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(10, 7)), rng.normal(size=(10, 3))]
    v = rsa.rdm_vectors(x)
    assert v.shape == (2, 45) and rsa.n_stimuli(45) == 10
    assert np.allclose(v[0], pdist(x[0], "correlation"))
    with pytest.raises(ValueError, match="measure"):
        rsa.rdm_vectors(x, "cosine")
    with pytest.raises(ValueError, match="one N"):
        rsa.rdm_vectors([x[0], x[1][:5]])


@pytest.mark.parametrize(("low", "up"), [(0.0, 1.0), (0.1, 0.7), (0.3, 0.9)])
def test_gt_matches_the_papers_formula_also_for_small_distances(low: float, up: float) -> None:
    v = np.random.default_rng(2).uniform(0.1, 0.6, size=(3, 66))  # every distance below 1
    out = rsa.transform(v, "GT", (low, up))
    for row, got in zip(v, out, strict=True):
        assert np.allclose(got, _gt_formula(row, low, up), atol=1e-12)


def test_rsatoolbox_0_3_2_quirks_the_wrapper_avoids() -> None:
    """If one of these starts failing, rsatoolbox changed: revisit the notes in rsa.py."""
    v = np.random.default_rng(3).uniform(0.1, 0.6, size=66)
    raw = RDMs(v[None].copy())
    gt = geotopological_transform(raw, 0.1, 0.7).get_vectors()[0]
    assert not np.allclose(raw.get_vectors()[0], v)  # it wrote into its input
    assert (gt == 1).mean() > (_gt_formula(v, 0.1, 0.7) == 1).mean() + 0.1  # saturates too much
    two = RDMs(np.stack([v, 10 * v]))
    rows = geotopological_transform(two, 0.1, 0.7).get_vectors()
    assert not np.allclose(rows[0], rows[1])  # quantiles pooled over the RDMs of the object


def test_transforms_leave_inputs_alone_and_use_each_rdms_own_quantiles() -> None:
    v = _rdms()
    keep = v.copy()
    stacked = rsa.transform(v, "GT", (0.2, 0.8))
    geo = rsa.transform(v, "GT geodesic", (0.0, 0.8))
    assert np.array_equal(v, keep)
    for k in range(len(v)):
        assert np.allclose(stacked[k], rsa.transform(v[k], "GT", (0.2, 0.8))[0])
        assert np.allclose(rsa.transform(10 * v[k] + 3, "GT", (0.2, 0.8))[0], stacked[k])
    assert geo.shape == v.shape and np.isfinite(geo).all()
    with pytest.raises(ValueError, match="thresholds"):
        rsa.transform(v, "GT", (0.8, 0.2))
    with pytest.raises(ValueError, match="method"):
        rsa.transform(v, "rank", (0.0, 1.0))


def test_gt_is_monotone_and_identity_thresholds_leave_correlations_unchanged() -> None:
    v = _rdms(k=5)
    for row in v:
        order = np.argsort(row, kind="stable")
        assert np.all(np.diff(rsa.transform(row, "GT", (0.2, 0.7))[0][order]) >= 0)
    gt = rsa.transform(v, "GT", rep.IDENTITY)
    assert np.allclose(rsa.similarity(gt, gt), rsa.similarity(v, v), atol=1e-12)


def test_geodesic_is_the_shortest_path_without_saturated_or_zero_edges() -> None:
    v = _rdms(k=1, n=10, seed=4)[0]
    gt = rsa.transform(v, "GT", (0.1, 0.6))[0]
    graph = squareform(gt)
    graph[graph >= 1] = 0  # saturated pairs are no edge; networkx drops zero weights as well
    expected = shortest_path(graph, directed=False)
    expected[~np.isfinite(expected)] = 10
    assert np.allclose(
        rsa.transform(v, "GT geodesic", (0.1, 0.6))[0], squareform(expected, checks=False)
    )
    again = geodesic_transform(RDMs(gt[None].copy())).get_vectors()[0]
    assert np.allclose(np.where(np.isfinite(again), again, 10), squareform(expected, checks=False))


def test_disconnected_pairs_get_the_number_of_stimuli() -> None:
    x = np.concatenate([np.zeros((4, 2)), np.full((4, 2), 100.0)])
    x += np.random.default_rng(5).normal(0, 0.1, x.shape)
    v = rsa.rdm_vectors([np.c_[x, np.ones(8)]], "euclidean")
    geo = rsa.transform(v, "GT geodesic", (0.0, 0.4))[0]
    far = squareform(geo)[:4, 4:]
    assert np.all(far == 8) and np.all(squareform(geo)[:4, :4] < 8)


def test_identify_counts_the_other_owners_only() -> None:
    labels = ["a", "b"] * 3
    owners = ["s1", "s1", "s2", "s2", "s3", "s3"]
    sim = np.full((6, 6), 0.0)
    sim[0] = [9, 9, 0.9, 0.1, 0.2, 0.8]  # own owner ignored; s2 right, s3 wrong; best overall s2
    sim[2] = [0.5, 0.4, 9, 9, 0.1, 0.3]  # s1 right, s3 wrong (b > a)
    sim[5, :] = np.nan
    out = rsa.identify(sim, labels, owners)
    assert out["identification"][0] == 0.5 and out["top1"][0] == 1.0
    assert out["identification"][2] == 0.5 and out["top1"][2] == 1.0
    assert out["degenerate"][5] == 1.0 and out["degenerate"][:5].sum() == 0
    with pytest.raises(ValueError, match="does not match"):
        rsa.identify(sim[:, :4], labels, owners)


def test_rdm_sets_score_and_choose_thresholds_on_tuning_owners() -> None:
    rng = np.random.default_rng(6)
    base = [rng.normal(size=(10, 8)) for _ in range(3)]  # three "areas"
    patterns, labels, owners = [], [], []
    for s in range(4):
        for a, b in enumerate(base):
            patterns.append(b + rng.normal(0, 0.3, b.shape))
            labels.append(f"area{a}")
            owners.append(f"s{s}")
    rdm_set = rep.RDMSet(rsa.rdm_vectors(patterns), labels, owners)
    scores = rep.score(rdm_set, "RDM")
    assert scores["identification"].mean() == 1.0 and scores["top1"].mean() == 1.0
    grid = rsa.gt_grid([0.0, 0.2], [0.8, 1.0])
    sel = rep.choose(rdm_set, "GT", grid)
    assert sel.thresholds == grid[0] and len(sel.scores) == 4  # all tie at 1.0: the first wins
    assert rep.choose(rdm_set, "RDM", grid).thresholds == rep.IDENTITY
    with pytest.raises(ValueError, match="candidates"):
        rep.RDMSet(rdm_set.queries, labels, owners, rdm_set.queries[:, :3], labels, owners)


def test_grid_selection_names_and_rows() -> None:
    assert rsa.gt_grid([0.0, 0.5], [0.5, 1.0]) == [(0.0, 0.5), (0.0, 1.0), (0.5, 1.0)]
    with pytest.raises(ValueError, match="low < up"):
        rsa.gt_grid([0.6], [0.5])
    best, scores = rsa.select_thresholds(lambda t: {(0.0, 1.0): 0.2}.get(t, 0.5),
                                         [(0.0, 1.0), (0.1, 0.9), (0.2, 0.8)])  # fmt: skip
    assert best == (0.1, 0.9) and scores[(0.0, 1.0)] == 0.2
    assert rep.case_names(["s1", "s1", "s1"], ["a", "b", "a"]) == ["s1/a/0", "s1/b/0", "s1/a/1"]
    rows = rep.result_rows({"identification": np.array([0.5])}, setting="x", method="GT",
                           cases=["s1/a"], units=["s1"], groups=["a"])  # fmt: skip
    assert rows == [{"setting": "x", "method": "GT", "seed": -1, "budget": 0, "case": "s1/a",
                     "unit": "s1", "group": "a", "identification": 0.5}]  # fmt: skip


def test_monotone_share_detects_monotone_transforms_only() -> None:
    x = np.random.default_rng(7).uniform(size=200)
    assert rsa.monotone_share(x, np.exp(3 * x)) == pytest.approx(1.0)
    assert rsa.monotone_share(x, np.random.default_rng(8).uniform(size=200)) < 0.3


def _noise() -> NoiseModel:
    return NoiseModel(sd_psc=np.array([1.0, 1.5, 2.0]), rho_mean=0.2, rho_spread=0.05,
                      tr_ref=1.6, shared_fraction=0.01, shared_rho_per_s=0.8, drift_sd_psc=0.3,
                      sources={"test": 1.6})  # fmt: skip


def test_area_study_shares_stimuli_and_keeps_noise_draws_across_levels() -> None:
    sim = SimConfig(n_voxels=90, trials_per_run=20)
    study = rep.simulate_area_study(sim, _noise(), n_subjects=2, n_stimuli=8, repeats=2,
                                    levels=[0.5, 4.0], seed=1)  # fmt: skip
    assert len(study.subjects) == 2 and study.names == ["subj01", "subj02"]
    patterns, labels, owners = study.area_patterns(0.5)
    assert len(patterns) == 12 and labels[:6] == list(rep.AREA_NAMES)
    assert all(p.shape[0] == 8 for p in patterns) and owners[-1] == "subj02"
    counts = study.voxel_counts()["subj01"]
    assert sum(counts.values()) == study.subjects[0].n_voxels
    clean = study.clean[0]
    err = [np.abs(study.betas[x][0] - (clean - clean.mean(0)) / clean.std(0)).mean()
           for x in (0.5, 4.0)]  # fmt: skip
    assert err[0] < err[1]  # more noise, further from the noise-free responses
    again = rep.simulate_area_study(sim, _noise(), n_subjects=2, n_stimuli=8, repeats=2,
                                    levels=[0.5, 4.0], seed=1)  # fmt: skip
    assert np.array_equal(again.betas[4.0][1], study.betas[4.0][1])
    with pytest.raises(ValueError, match="levels"):
        rep.simulate_area_study(sim, _noise(), n_subjects=2, n_stimuli=8, repeats=1,
                                levels=[0.0], seed=1)  # fmt: skip


def test_network_instances_train_and_give_every_layer() -> None:
    config = layers.NetConfig(n_train=64, n_val=20, steps=4, batch_size=8, val_every=2)
    net = layers.train_instance(config, seed=3)
    assert set(net.accuracy) == set(layers.ATTRIBUTES) and len(net.history.val) == 2
    other = layers.train_instance(config, seed=4)
    images = torch.rand(5, 3, 32, 32).numpy()
    acts = layers.layer_patterns(net.model, images)
    assert list(acts) == list(net.model.LAYERS) and acts["logits"].shape == (5, 40)
    assert not np.allclose(acts["conv1"], layers.layer_patterns(other.model, images)["conv1"])
    p = acts["conv2"]
    assert np.array_equal(layers.add_noise(p, 0.0, np.random.default_rng(0)), p)
    noisy = layers.add_noise(p, 2.0, np.random.default_rng(0))
    assert (noisy - p).std() == pytest.approx(2.0 * p.std(), rel=0.1)
    assert 0 < layers.chance_accuracy() < 0.5
    assert dataclasses.asdict(config)["steps"] == 4


def test_parameter_rules_refuse_shared_network_seeds_and_single_levels() -> None:
    from mricompendium import parameters, paths

    nb = paths.NOTEBOOKS / "representation" / "neural_geometry.ipynb"
    cell = parameters.notebook_parameters(nb)
    assert parameters.check("neural_geometry", cell, {}) == []
    shared = parameters.check("neural_geometry", cell, {"test_net_seeds": [100, 5]})
    assert [p.source for p in shared] == ["test_net_seeds"]
    single = parameters.check("neural_geometry", cell, {"noise_levels": [2.0]})
    assert [p.source for p in single] == ["noise_levels"]
    widths = parameters.check("neural_geometry", cell, {"net_widths": [8, 16]})
    assert [p.source for p in widths] == ["net_widths"]


def test_real_data_is_refused_in_one_line_before_a_kernel_starts(tmp_path, capsys) -> None:
    from mricompendium import run

    assert run.main(["neural_geometry", "--dry", "--set", f"data_path={tmp_path}"]) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if not ln.startswith("log:")]
    assert len(lines) == 1 and "neural_geometry does not take real data" in lines[0], lines
