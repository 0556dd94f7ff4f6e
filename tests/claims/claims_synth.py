"""Synthetic per-case results whose verdict is known, for the engine's tests."""

from __future__ import annotations

import numpy as np

from mricompendium import claims


def rows(method, unit_effects, *, base=0.7, seeds=(0,), budget=100, cases_per_unit=1,
         noise=0.002, setting="s", group="g", rng_seed=0, seed_effects=None,
         unit_prefix="u"):  # fmt: skip
    """One method's rows: case j of unit k gets ``base + unit_effects[k] (+ seed effect) + noise``.

    ``base`` per case is fixed by (unit, case) so that two methods built with the same ``rng_seed``
    share case difficulty; the method's advantage is ``unit_effects``.
    """
    out = []
    case_rng = np.random.default_rng(1234)
    difficulty = case_rng.normal(0, 0.05, size=(len(unit_effects), cases_per_unit))
    rng = np.random.default_rng([rng_seed, sum(map(ord, method))])
    for s_i, s in enumerate(seeds):
        for k, eff in enumerate(unit_effects):
            for j in range(cases_per_unit):
                extra = 0.0 if seed_effects is None else seed_effects[s_i]
                out.append({
                    "setting": setting, "method": method, "seed": s, "budget": budget,
                    "case": f"{unit_prefix}{k}-c{j}", "unit": f"{unit_prefix}{k}", "group": group,
                    "ssim": base + difficulty[k, j] + eff + extra + noise * rng.standard_normal(),
                })  # fmt: skip
    return out


def curve(method, seed=0, *, rising=False, steps=100):
    s = list(range(10, steps + 1, 10))
    v = [0.5 + (0.3 * i / len(s) if rising else 0.3 * (1 - np.exp(-i))) for i in range(len(s))]
    return claims.Curve(method, seed, list(range(1, steps + 1)), [1.0] * steps, s, v, "ssim")


def claim(primary, secondary=(), **kw):
    base = dict(nb_id="cirim", paper="S02", text="A beats B.", metric="ssim",
                higher_is_better=True, smallest_effect=0.01, unit="volume")  # fmt: skip
    base.update(kw)
    return claims.Claim(primary=primary, secondary=secondary, **base)
