"""Robustness pieces: transformed test sources, worst cases, PGD in k-space, adversarial loss."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mricompendium.data.recon import CaseSet, KspaceSimulator
from mricompendium.data.recon.transforms import Flip, Identity, Rotation
from mricompendium.experiments import reconstruction as rx
from mricompendium.experiments.reconstruction.protocol import magnitude_l1, predict
from mricompendium.experiments.reconstruction.robustness import (
    AdversarialL1,
    TransformFamily,
    family_settings,
    pgd_kspace,
    pgd_method,
    transformed_source,
    worst_case,
)


@pytest.fixture(scope="module")
def cases() -> CaseSet:
    y, x = (np.mgrid[:64, :64] - 31.5) / 2
    fine = np.stack([x**2 + (y / 1.2) ** 2 < (32 * (0.3 + 0.02 * i)) ** 2 for i in range(4)])
    objects = (fine * (0.6 + 0.4 * np.cos(x / 3) * np.sin(y / 4))).astype(np.float32)
    names = [f"c{i}" for i in range(4)]
    return CaseSet.from_objects(objects, fine, 32, names, names, ["template"] * 4)


@pytest.fixture(scope="module")
def clean(cases: CaseSet) -> KspaceSimulator:
    return KspaceSimulator(cases.objects, cases.masks, num_coils=2, snr=20.0, seed=3)


def test_an_identity_source_measures_exactly_the_clean_data(cases, clean) -> None:
    same = transformed_source(clean, cases, Identity())
    a, b = clean.batch([0, 2], "poisson_2d@4", 5), same.batch([0, 2], "poisson_2d@4", 5)
    torch.testing.assert_close(a.kspace, b.kspace)
    torch.testing.assert_close(a.maps, b.maps)
    flipped = transformed_source(clean, cases, Flip("ud"))
    f = flipped.batch([0], "poisson_2d@4", 5)
    r = np.corrcoef(f.target_abs[0].flatten(), a.target_abs[0].flip(0).flatten())[0, 1]
    assert r > 0.97 and not torch.allclose(f.kspace, a.kspace[:1])  # phase and grid centre stay
    assert torch.equal(f.mask, a.mask[:1])  # the same mask: only the object changed


def test_family_settings_label_each_transform(cases, clean) -> None:
    fam = TransformFamily("rotation", (Rotation(10), Rotation(-10)))
    meta = [(c, c, "template") for c in cases.case]
    settings = family_settings(fam, clean, cases, "poisson_2d@4", meta, 9)
    labels = [s.label for s in settings]
    assert labels == ["rotation: rotation +10 deg", "rotation: rotation -10 deg"]
    assert all(s.seed == 9 and len(s.source) == 4 for s in settings)


def _rows(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([
        {"setting": s, "method": "m", "seed": 0, "budget": 10, "case": f"c{i}", "unit": f"c{i}",
         "group": "g", "ssim_brain": v, "psnr": 10 * v}
        for s, vs in values.items() for i, v in enumerate(vs)
    ])  # fmt: skip


def test_worst_case_takes_each_cases_worst_row_and_says_which() -> None:
    df = _rows({"clean": [0.9, 0.8], "rot a": [0.7, 0.85], "rot b": [0.75, 0.6]})
    rows, which = worst_case(df, ["clean", "rot a", "rot b"], "worst")
    assert rows["ssim_brain"].tolist() == [0.7, 0.6] and set(rows["setting"]) == {"worst"}
    assert rows["psnr"].tolist() == [7.0, 6.0]  # the whole row of the worst setting
    assert which["worst"].tolist() == ["rot a", "rot b"]
    rows, _ = worst_case(df, ["clean", "rot a"], "w", metric="psnr", higher_is_better=False)
    assert rows["psnr"].tolist() == [9.0, 8.5]
    with pytest.raises(ValueError, match="lacks"):
        worst_case(df[~((df.setting == "rot b") & (df.case == "c1"))], ["clean", "rot b"], "w")


def test_pgd_stays_in_its_ball_on_the_sampled_positions_and_hurts(sim) -> None:
    torch.manual_seed(0)
    model = rx.build_model("CascadeNet", num_cascades=2, hidden=8, depth=3).eval()
    batch = sim.batch([0, 1], "poisson_2d@4", 1)
    attacked = pgd_kspace(model, batch, epsilon=0.05, steps=4)
    delta = attacked.kspace - batch.kspace
    norm = lambda x: x.abs().square().flatten(1).sum(1).sqrt()  # noqa: E731
    assert (norm(delta) <= 0.05 * norm(batch.kspace) * (1 + 1e-4)).all()
    assert (norm(delta) > 0.04 * norm(batch.kspace)).all()
    assert torch.all(delta[(batch.mask == 0).expand_as(delta)] == 0)
    with torch.no_grad():
        err = lambda b: (predict(model, b).abs() - b.target_abs).abs().mean()  # noqa: E731
        assert err(attacked) > err(batch)
        random = batch.kspace + torch.randn_like(batch.kspace) * batch.mask * delta.abs().mean()
        assert err(attacked) > err(type(batch)(**{**batch.__dict__, "kspace": random}))
    assert pgd_kspace(model, batch, epsilon=0.0, steps=1) is batch
    rows = rx.evaluate(
        pgd_method(model, epsilon=0.05, steps=2),
        sim,
        "poisson_2d@4",
        [(str(i), str(i), "g") for i in range(5)],
        seed=1,
        name="pgd",
    ).rows
    assert len(rows) == 5 and all(np.isfinite(r["ssim_brain"]) for r in rows)
    with pytest.raises(ValueError, match="epsilon"):
        pgd_kspace(model, batch, epsilon=-1.0, steps=1)


def test_adversarial_loss_bounds_the_clean_loss_and_trains(sim) -> None:
    torch.manual_seed(0)
    model = rx.build_model("CascadeNet", num_cascades=2, hidden=8, depth=3)
    batch = sim.batch([0, 1, 2], "poisson_2d@4", 2, mask_seed=4)
    loss = AdversarialL1(epsilon=0.05, steps=1, weight=1.0)
    assert loss(model, batch) >= magnitude_l1(model, batch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    mixed = AdversarialL1(epsilon=0.05)
    first = mixed(model, batch).item()
    for _ in range(25):
        opt.zero_grad()
        mixed(model, batch).backward()
        opt.step()
    assert mixed(model, batch).item() < 0.8 * first
    with pytest.raises(ValueError, match="epsilon"):
        AdversarialL1(epsilon=0.0)
