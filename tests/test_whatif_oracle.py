"""What-if plans against an oracle: the incremental coverage of :meth:`planner.whatif.WhatIf.apply` must equal the
run's own coverage computed afresh over the edited facilities, and its standards a full ``run`` of the scenario whose
facilities layer is the edited one (written to a file).

Two worlds: the demo (a river with two bridges, 165 facilities) and a small generated city (a perturbed 30 × 30 grid
from ``benchmarks/e2e.py``). Edit sets: an addition in the worst gap, one beside an existing facility, a removal of
the facility nearest to the most compounds, a move into a gap, a mix across categories (community centre and basic
formats, so the 一刻钟 circles change) and edits that cancel (a facility removed and an identical one added on its spot).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _cities import generate_city
from pyproj import Transformer

from planner import schema
from planner.analysis.circles import CENTRE_CATEGORY
from planner.pipeline import measure_coverage, run, snap_to_network
from planner.scenario import load_scenario
from planner.whatif import Edits, PlanState, WhatIf

ROOT = Path(__file__).resolve().parents[1]
ATOL_M = 1e-6


def _quiet(scenario):
    return replace(scenario, siting=())


@pytest.fixture(scope="module")
def demo() -> WhatIf:
    return WhatIf(run(_quiet(load_scenario(ROOT / "scenarios" / "demo.toml")), report=lambda m: None))


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> WhatIf:
    folder = tmp_path_factory.mktemp("grid30")
    generate_city(30, folder)
    return WhatIf(run(load_scenario(folder / "city.toml"), report=lambda m: None))


def _lonlat(w: WhatIf, x: float, y: float) -> tuple[float, float]:
    lon, lat = Transformer.from_crs(w.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return float(lon), float(lat)


def _worst_gap(w: WhatIf, cat: str) -> tuple[float, float]:
    """(lon, lat) of the reachable compound farthest from ``cat`` (inf first), at its gate."""
    d = w.coverage.table[schema.dist_m(cat)].where(w.compounds["reachable"], -1.0).replace(np.inf, 1e12)
    p = w.compounds.geometry.loc[d.idxmax()].representative_point()
    return _lonlat(w, p.x, p.y)


def _busiest(w: WhatIf, cat: str) -> str:
    """The facility of ``cat`` that is the nearest of the most compounds."""
    return str(w.coverage.table[schema.nearest_id(cat)].replace("", np.nan).value_counts().index[0])


def _beside(w: WhatIf, fid: str, dx: float = 25.0) -> tuple[float, float]:
    p = w.facilities.geometry[w.facilities["id"].astype(str) == fid].iloc[0]
    return _lonlat(w, p.x + dx, p.y + dx / 2)


def _edit_sets(w: WhatIf) -> dict[str, dict]:
    centre = w.facilities["id"].astype(str)[w.facilities["category"] == CENTRE_CATEGORY]
    conv = _busiest(w, "convenience")
    elderly = _busiest(w, "elderly_station")
    child = _busiest(w, "childcare")
    first_centre = str(centre.iloc[0]) if len(centre) else None
    p = w.facilities.loc[w.facilities["id"].astype(str) == child].iloc[0]
    same_spot = _lonlat(w, p.geometry.x, p.geometry.y)
    sets = {
        "add_in_gap": {"add": [{"category": "elderly_centre", "name": "新中心", "beds": 60, **_ll(_worst_gap(w, "elderly_centre"))}]},
        "add_beside": {"add": [{"category": "elderly_station", **_ll(_beside(w, elderly))}]},
        "remove": {"remove": [elderly, conv]},
        "move": {"move": [{"id": child, **_ll(_worst_gap(w, "childcare"))}]},
        "mixed": {
            "add": [{"category": "convenience", **_ll(_worst_gap(w, "convenience"))},
                    {"category": CENTRE_CATEGORY, **_ll(_worst_gap(w, CENTRE_CATEGORY))},
                    {"category": "convenience", **_ll(_beside(w, conv, 40.0))},
                    {"category": "childcare", "places": 80, "public_benefit": True, **_ll(_worst_gap(w, "childcare"))}],
            "move": [{"id": elderly, **_ll(_worst_gap(w, "elderly_station"))}],
            "remove": [conv] + ([first_centre] if first_centre else []),
        },
        # the childcare facility removed and an identical one added on its very spot; another moved onto itself
        "cancel": {
            "add": [{"category": "childcare", "name": str(p["name"]), **_ll(same_spot),
                     **({"places": float(p["places"])} if pd.notna(p["places"]) else {}),
                     **({"public_benefit": bool(p["public_benefit"])} if pd.notna(p["public_benefit"]) else {})}],
            "remove": [child],
            "move": [{"id": elderly, **_ll(_beside(w, elderly, 0.0))}],
        },
    }
    return sets


def _ll(lonlat: tuple[float, float]) -> dict:
    return {"lon": lonlat[0], "lat": lonlat[1]}


def _fresh_coverage(w: WhatIf, state: PlanState):
    """The run's own stages over the edited facilities: snapped afresh, a new reach graph, compute_coverage."""
    from planner.network.points import Reach

    fac = state.active.drop(columns=["reachable", "snap_distance_m", "edit"])
    comp = w.compounds.drop(columns=["gates", "reachable", "snap_distance_m"])
    snap = snap_to_network(comp, fac, w.network, max_snap_m=w.max_snap_m)
    reach = Reach.build(w.network, snap.snapped, n_gates=len(snap.gate_owner), max_snap_m=w.max_snap_m)
    return measure_coverage(w.scenario, reach, snap.gate_owner, snap.compounds, snap.facilities, w.coverage.categories)


def _assert_coverage_equal(got, want) -> None:
    a, b = got.table, want.table
    assert list(a.columns) == list(b.columns) and a.index.equals(b.index)
    catch = want.catchments
    pair = dict(zip(zip(catch["compound_id"], catch["facility_id"], strict=True), catch["dist_m"], strict=True))
    for col in a.columns:
        parsed = schema.parse_column(col)
        kind = parsed.kind if parsed is not None else col
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if kind in ("dist_m", "minutes", "completeness"):
            x, y = x.astype(float), y.astype(float)
            assert np.array_equal(np.isinf(x), np.isinf(y)), col
            fin = np.isfinite(x)
            np.testing.assert_allclose(x[fin], y[fin], rtol=0, atol=ATOL_M, err_msg=col)
        elif kind == "nearest_id":
            differ = np.flatnonzero(x != y)
            dist = a[schema.dist_m(parsed.category)].to_numpy()
            for i in differ:  # only a tie may differ: the claimed facility is as near as the fresh one's
                assert abs(pair.get((a.index[i], x[i]), np.inf) - dist[i]) <= ATOL_M, (col, a.index[i], x[i], y[i])
        elif kind == "nearest_name":
            continue  # follows the id
        else:
            assert np.array_equal(x, y), (col, np.flatnonzero(x != y)[:5])
    key = ["category", "facility_id", "compound_id"]
    ca = got.catchments.sort_values(key).reset_index(drop=True)
    cb = want.catchments.sort_values(key).reset_index(drop=True)
    assert ca[key].equals(cb[key])
    np.testing.assert_allclose(ca["dist_m"].to_numpy(), cb["dist_m"].to_numpy(), rtol=0, atol=ATOL_M)


def _write_layer(w: WhatIf, state: PlanState, path: Path) -> Path:
    """The plan's facilities as the scenario's facilities layer: its own column names, the metric CRS."""
    cols = w.scenario.facilities.columns
    fac = state.active
    yes_no = fac["public_benefit"].map(lambda v: None if pd.isna(v) else ("是" if v else "否"))
    data = {cols["id"]: fac["id"].astype(str), cols["name"]: fac["name"], cols["category"]: fac["category_zh"]}
    for key in ("places", "beds", "nursing_beds"):
        if key in cols:
            data[cols[key]] = fac[key].astype(float)
    if "public_benefit" in cols:
        data[cols["public_benefit"]] = yes_no.astype(object)
    gpd.GeoDataFrame(data, geometry=fac.geometry.to_numpy(), crs=w.crs).to_file(path, driver="GPKG")
    return path


def _assert_compliance_equal(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Every row, the 1+N 托育 rules too: a plan that edits childcare recomputes the 1+N model."""
    key = ["subdistrict", "rule_id"]
    a, b = got.set_index(key).sort_index(), want.set_index(key).sort_index()
    assert a.index.equals(b.index)
    assert (a["status"] == b["status"]).all(), a.loc[a["status"] != b["status"], "status"]
    for col in ("value", "shortfall"):
        x, y = pd.to_numeric(a[col], errors="coerce").to_numpy(float), pd.to_numeric(b[col], errors="coerce").to_numpy(float)
        assert np.array_equal(np.isnan(x), np.isnan(y)), col
        np.testing.assert_allclose(x[~np.isnan(x)], y[~np.isnan(y)], rtol=0, atol=1e-6, err_msg=col)


EDIT_SETS = ("add_in_gap", "add_beside", "remove", "move", "mixed", "cancel")


@pytest.mark.parametrize("name", EDIT_SETS)
@pytest.mark.parametrize("world", ["demo", "grid"])
def test_coverage_equals_a_fresh_computation(world: str, name: str, request: pytest.FixtureRequest) -> None:
    w = request.getfixturevalue(world)
    edits = w.parse(_edit_sets(w)[name])
    state = w.apply(edits)
    _assert_coverage_equal(state.coverage, _fresh_coverage(w, state))
    assert len(state.facilities) == len(w.facilities) + len(edits.add)
    assert (state.facilities["edit"] == "remove").sum() == len(edits.remove)
    assert (state.facilities["edit"] == "move").sum() == len(edits.move)
    assert state.facilities["id"].is_unique


@pytest.fixture(scope="module")
def slow_adults() -> WhatIf:
    """The demo with adults walking 40 m/min: the elderly's 53.3 is then the fastest walk, and the 一刻钟 circles (the
    adults' 15 minutes, 600 m) are shorter than the searches' longest walk (800 m)."""
    sc = _quiet(load_scenario(ROOT / "scenarios" / "demo.toml"))
    return WhatIf(run(replace(sc, speeds=replace(sc.speeds, adults=40.0, carers=40.0)), report=lambda m: None))


@pytest.mark.parametrize(("world", "name"), [(w, n) for w in ("demo", "grid") for n in ("add_in_gap", "mixed", "cancel")]
                         + [("slow_adults", "mixed")])
def test_compliance_equals_a_full_run(world: str, name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    w = request.getfixturevalue(world)
    state = w.apply(w.parse(_edit_sets(w)[name]))
    layer = _write_layer(w, state, tmp_path / "facilities.gpkg")
    scenario = replace(w.scenario, facilities=replace(w.scenario.facilities, path=layer), siting=())
    full = run(scenario, report=lambda m: None)
    assert len(full.facilities) == len(state.active)
    _assert_coverage_equal(state.coverage, full.coverage)
    _assert_compliance_equal(state.compliance.table, full.compliance.table)
    if full.circles is not None:
        assert int(state.circles["complete"].sum()) == int(full.circles["complete"].sum())


def test_cancelling_edits_change_nothing(demo: WhatIf) -> None:
    state = demo.apply(demo.parse(_edit_sets(demo)["cancel"]))
    changes = state.changes()
    assert changes["rules"] == []
    assert all(v["compounds_gained"] == 0 and v["compounds_lost"] == 0 for v in changes["served"].values())
    assert all(abs(r["dist_after"] - r["dist_before"]) < 1e-6 for r in changes["compounds"] if r["dist_before"] is not None)


def test_the_run_is_never_changed(demo: WhatIf) -> None:
    before = demo.coverage.table.copy(), demo.facilities.copy(), demo.compliance.table.copy()
    demo.apply(demo.parse(_edit_sets(demo)["mixed"]))
    pd.testing.assert_frame_equal(demo.coverage.table, before[0])
    pd.testing.assert_frame_equal(demo.facilities, before[1])
    pd.testing.assert_frame_equal(demo.compliance.table, before[2])


def test_an_empty_plan_is_the_run(demo: WhatIf) -> None:
    state = demo.apply(Edits())
    pd.testing.assert_frame_equal(state.coverage.table, demo.coverage.table)
    _assert_compliance_equal(state.compliance.table, demo.compliance.table)
    assert state.changes()["compounds"] == [] and state.changes()["rules"] == []


def test_changes_agree_with_the_tables(demo: WhatIf) -> None:
    """People newly served are the populations of the compounds whose longest-threshold flag turned on; every
    compound listed changed, every rule listed changed, and the whole answer is plain JSON."""
    import json

    state = demo.apply(demo.parse(_edit_sets(demo)["mixed"]))
    changes = state.changes()
    json.dumps(changes, allow_nan=False)  # JSON-ready: no NaN or inf
    longest = max(demo.thresholds)
    for cat, served in changes["served"].items():
        w0 = demo.coverage.table[schema.within(cat, longest)]
        w1 = state.coverage.table[schema.within(cat, longest)]
        for group in ("population", "age_60_plus", "age_0_3"):
            assert served["gained"][group] == pytest.approx(demo.compounds.loc[~w0 & w1, group].sum(), abs=1e-3)
            assert served["lost"][group] == pytest.approx(demo.compounds.loc[w0 & ~w1, group].sum(), abs=1e-3)
    assert changes["compounds"] and changes["rules"]
    assert any(s["gained"]["population"] > 0 for s in changes["served"].values())
    for r in changes["compounds"]:
        assert r["dist_before"] != r["dist_after"] or r["within_before"] != r["within_after"]
    t0 = demo.compliance.table.set_index(["subdistrict", "rule_id"])
    for r in changes["rules"]:
        assert (r["value_before"], r["status_before"]) != (r["value_after"], r["status_after"])
        assert t0.loc[(r["subdistrict"], r["rule_id"]), "status"] == r["status_before"]


def test_a_point_off_the_network_is_refused(demo: WhatIf) -> None:
    from planner.whatif import EditError

    x0, y0, x1, y1 = demo.bounds
    with pytest.raises(EditError, match="max_snap_m") as err:
        demo.apply(demo.parse({"add": [{"category": "childcare", "lon": x0 + 1e-5, "lat": y0 + 1e-5}]}))
    assert str(err.value).startswith("编辑无效")
    with pytest.raises(EditError, match="outside the study area"):
        demo.parse({"add": [{"category": "childcare", "lon": x1 + 0.01, "lat": y1}]})


def test_added_facilities_get_new_ids_and_their_attributes(demo: WhatIf) -> None:
    lon, lat = _worst_gap(demo, "childcare")
    state = demo.apply(demo.parse({"add": [{"category": "childcare", "lon": lon, "lat": lat, "places": 50, "public_benefit": True},
                                           {"category": "childcare", "lon": lon, "lat": lat, "name": "乙"}]}))
    new = state.facilities[state.facilities["edit"] == "add"]
    assert new["id"].tolist() == ["NEW-1", "NEW-2"]
    assert new["name"].iloc[0].startswith("新增") and new["name"].iloc[1] == "乙"  # a default name, or the given one
    assert new["places"].iloc[0] == 50 and bool(new["public_benefit"].iloc[0])
    assert (new["zone_id"] != "").all() and new.geometry.notna().all()
    assert state.coverage.table[schema.nearest_id("childcare")].isin(["NEW-1", "NEW-2"]).any()


def test_a_plan_adding_a_hub_recomputes_the_1_plus_n_model(demo: WhatIf) -> None:
    """The demo's 南岸区 has no 托育综合服务中心 (district_hub fails, 0 hubs in its weakest 县区). A plan adding one beside
    江南街道's first childcare centre, named as a hub, gives every 县区 a hub (value 1, pass), and the hub guides 南岸区's
    points, so the share of points guided rises; a plan adding a plain childcare centre there changes neither."""
    run = demo.compliance.table.set_index("rule_id")
    fac = demo.facilities
    spot = fac[(fac["category"] == "childcare") & (fac["zone_id"] == "Z04")].iloc[0].geometry
    where = _lonlat(demo, spot.x + 5, spot.y)
    hub = demo.apply(demo.parse({"add": [{"category": "childcare", "name": "江南街道托育综合服务中心", "places": 60, **_ll(where)}]}))
    plain = demo.apply(demo.parse({"add": [{"category": "childcare", "name": "江南街道托育园4号", "places": 60, **_ll(where)}]}))
    got, flat = hub.compliance.table.set_index("rule_id"), plain.compliance.table.set_index("rule_id")
    rid, cov = "childcare.one_plus_n.district_hub", "childcare.one_plus_n.coverage"
    assert (run.loc[rid, "status"], run.loc[rid, "value"]) == ("fail", 0)
    assert (got.loc[rid, "status"], got.loc[rid, "value"]) == ("pass", 1)
    assert got.loc[cov, "value"] > run.loc[cov, "value"]
    assert (flat.loc[rid, "value"], flat.loc[cov, "status"]) == (0, run.loc[cov, "status"])
    assert hub.one_plus_n is not None and hub.one_plus_n.city["points"] == demo.result.one_plus_n.city["points"]
