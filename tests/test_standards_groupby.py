"""Standards by group-bys over 街道 give exactly the rows of the per-街道 evaluation they replaced (the oracle in
tests/_requirements_reference.py), on small random worlds full of missing data, empty 街道 and compounds in none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner.analysis.requirements import evaluate
from planner.io.categories import load_taxonomy
from planner.schema import OUTSIDE_ZONE
from tests._requirements_reference import evaluate as evaluate_reference


def _maybe_nan(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    out = values.astype(float)
    out[rng.random(len(out)) < share] = np.nan
    return out


def _world(seed: int, n_comp: int = 300, n_fac: int = 120, n_zones: int = 9):
    rng = np.random.default_rng(seed)
    tax = load_taxonomy()
    zones = {f"Z{i}": f"街道{i}" for i in range(n_zones)}
    # zone Z0 has nothing at all; some compounds lie outside every 街道
    zone_pool = [f"Z{i}" for i in range(1, n_zones)] + [OUTSIDE_ZONE]
    nan_share = [0.0, 0.02, 0.3][seed % 3]
    pop = rng.integers(0, 3000, n_comp).astype(float) + rng.random(n_comp) * (seed % 2)  # non-integers for odd seeds
    comp = pd.DataFrame(
        {
            "zone_id": rng.choice(zone_pool, n_comp),
            "name": [f"小区{i}" for i in range(n_comp)],
            "population": _maybe_nan(rng, pop, nan_share),
            "households": _maybe_nan(rng, np.round(pop / 2.6), nan_share),
            "age_60_plus": _maybe_nan(rng, np.round(pop * rng.uniform(0.1, 0.3, n_comp)), nan_share),
            "age_0_3": _maybe_nan(rng, np.round(pop * 0.02), nan_share),
            "built_type": pd.array(rng.choice(["new", "existing", None], n_comp, p=[0.3, 0.6, 0.1]), dtype="string"),
            "elderly_room_m2": _maybe_nan(rng, rng.uniform(0, 400, n_comp), nan_share),
            "childcare_room_m2": _maybe_nan(rng, rng.uniform(0, 300, n_comp), nan_share),
            "community": pd.array(rng.choice(["c1", "c2", "c3", "c4", None], n_comp), dtype="string"),
        },
        index=pd.Index([f"R{i:04d}" for i in range(n_comp)]),
    )
    cov = pd.DataFrame(
        {f"dist_m__{c.key}": np.where(rng.random(n_comp) < 0.1, np.inf, rng.uniform(0, 2500, n_comp)) for c in tax.categories},
        index=comp.index,
    )
    cats = [c.key for c in tax.categories]
    fac = pd.DataFrame(
        {
            "id": [f"F{i}" for i in range(n_fac)],
            "name": [f"设施{i}" for i in range(n_fac)],
            "category": rng.choice(cats, n_fac),
            "zone_id": rng.choice(zone_pool, n_fac),
            "places": _maybe_nan(rng, rng.integers(0, 120, n_fac), 0.3),
            "beds": _maybe_nan(rng, rng.integers(0, 200, n_fac), 0.3),
            "nursing_beds": _maybe_nan(rng, rng.integers(0, 150, n_fac), 0.3),
            "public_benefit": pd.array(rng.choice([True, False, None], n_fac), dtype="boolean"),
        }
    )
    return comp, cov, fac, zones, tax


@pytest.mark.parametrize("preset", ["national", "nantong-2025"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_groupby_rows_equal_the_per_zone_oracle(preset, seed):
    comp, cov, fac, zones, tax = _world(seed)
    kwargs = dict(preset=preset, overrides=None, compounds=comp, coverage_table=cov, facilities=fac, zone_names=zones,
                  taxonomy=tax, complete_circles=seed if seed % 2 else None)
    got = evaluate(**kwargs)
    want = evaluate_reference(**kwargs)
    pd.testing.assert_frame_equal(got.table, want.table, check_exact=True)
    pd.testing.assert_frame_equal(got.formats, want.formats, check_exact=True)
    assert set(got.table["status"]) >= {"pass", "fail", "not_evaluable"}


def test_one_zone_without_zones_layer():
    """Without a zones layer every compound is in 全市 and the table has one row per rule."""
    comp, cov, fac, _, tax = _world(7)
    comp["zone_id"] = "全市"
    fac["zone_id"] = "全市"
    kwargs = dict(preset="nantong-2025", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                  zone_names={"全市": "全市"}, taxonomy=tax, complete_circles=2)
    pd.testing.assert_frame_equal(evaluate(**kwargs).table, evaluate_reference(**kwargs).table, check_exact=True)


def test_facilities_without_nursing_bed_column():
    """OSM facilities have no nursing-bed column: the nursing share is not evaluable, not an error."""
    comp, cov, fac, zones, tax = _world(8)
    fac = fac.drop(columns="nursing_beds")
    table = evaluate(preset="nantong-2025", overrides=None, compounds=comp, coverage_table=cov, facilities=fac,
                     zone_names=zones, taxonomy=tax, complete_circles=None).table
    rows = table[table["rule_id"] == "elderly.nursing_bed_share"]
    assert (rows["status"] == "not_evaluable").all()
