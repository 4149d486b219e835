"""What-if speed-ups against their oracles (issue #15 item 3): the standards re-evaluated only for the 街道 an edit
touches must equal the full :func:`planner.pipeline.evaluate_standards` on the edited coverage (table and formats,
``assert_frame_equal``: same rows, order, dtypes and values); the kept nearest-edge index must snap as a fresh one;
``changes()`` comparing only the touched 街道 must list what comparing every row lists.

Worlds: the demo (its 街道 and the 一刻钟 circles) and a generated 90 × 90 grid city (``benchmarks/e2e.py``: 9 街道
of 30 × 30 blocks), under both standards presets (``national`` counts 街道 passing a rule it does not evaluate
itself: a city-wide rule that reads every 街道).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _cities import generate_city
from test_whatif_oracle import EDIT_SETS, _edit_sets, _lonlat

from planner.engine.snap import SnapIndex, snap_points
from planner.network.points import snap_index
from planner.pipeline import evaluate_standards, run
from planner.scenario import load_scenario
from planner.whatif import WhatIf

ROOT = Path(__file__).resolve().parents[1]


def _whatif(scenario, preset: str) -> WhatIf:
    sc = replace(scenario, siting=(), standards=replace(scenario.standards, preset=preset))
    return WhatIf(run(sc, report=lambda m: None))


@pytest.fixture(scope="module")
def demo_scenario():
    return load_scenario(ROOT / "scenarios" / "demo.toml")


@pytest.fixture(scope="module")
def city_scenario(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("grid90")
    generate_city(90, folder)
    return load_scenario(folder / "city.toml")


_WORLDS: dict[tuple[str, str], WhatIf] = {}


@pytest.fixture
def world(request: pytest.FixtureRequest):
    """A WhatIf per (world, preset), built once for the module."""
    name, preset = request.param
    if (name, preset) not in _WORLDS:
        _WORLDS[(name, preset)] = _whatif(request.getfixturevalue(f"{name}_scenario"), preset)
    return _WORLDS[(name, preset)]


WORLDS = [("demo", "nantong-2025"), ("demo", "national"), ("city", "nantong-2025"), ("city", "national")]


def _far_edits(w: WhatIf) -> dict:
    """Two additions in opposite corners of the study area and a removal: 街道 far apart, most untouched."""
    x0, y0 = w.network.streets.node_x.min(), w.network.streets.node_y.min()
    x1, y1 = w.network.streets.node_x.max(), w.network.streets.node_y.max()
    a, b = _lonlat(w, x0 + 0.1 * (x1 - x0), y0 + 0.1 * (y1 - y0)), _lonlat(w, x1 - 0.1 * (x1 - x0), y1 - 0.1 * (y1 - y0))
    fid = str(w.facilities["id"].iloc[len(w.facilities) // 2])
    return {"add": [{"category": "childcare", "lon": a[0], "lat": a[1], "places": 30},
                    {"category": "elderly_centre", "lon": b[0], "lat": b[1], "beds": 40}], "remove": [fid]}


def _sets(w: WhatIf) -> dict[str, dict]:
    return {**_edit_sets(w), "far": _far_edits(w)}


@pytest.mark.parametrize("name", [*EDIT_SETS, "far"])
@pytest.mark.parametrize("world", WORLDS, indirect=True, ids=["-".join(k) for k in WORLDS])
def test_spliced_compliance_equals_a_full_evaluation(world: WhatIf, name: str) -> None:
    w = world
    state = w.apply(w.parse(_sets(w)[name]))
    full = evaluate_standards(w.scenario, w.compounds, state.active, state.coverage, w.result.zones, w.taxonomy, state.circles,
                              state.one_plus_n)
    pd.testing.assert_frame_equal(state.compliance.table, full.table)
    pd.testing.assert_frame_equal(state.compliance.formats, full.formats)
    assert state.compliance.preset == full.preset


@pytest.mark.parametrize("world", [("city", "nantong-2025")], indirect=True, ids=["city"])
def test_only_the_touched_zones_are_evaluated(world: WhatIf) -> None:
    """An addition in one corner of the 9-街道 city re-evaluates a few 街道, not all; an empty plan none."""
    w = world
    state = w.apply(w.parse({"add": _far_edits(w)["add"][:1]}))
    assert state.zones is not None and 1 <= len(state.zones) < 9
    assert w.apply(w.parse({})).zones == ()


@pytest.mark.parametrize("name", ["mixed", "far", "remove"])
@pytest.mark.parametrize("world", [("demo", "nantong-2025"), ("city", "national")], indirect=True, ids=["demo", "city"])
def test_changes_compare_only_the_touched_rows_but_miss_none(world: WhatIf, name: str) -> None:
    w = world
    state = w.apply(w.parse(_sets(w)[name]))
    fast, slow = state.changes(), replace(state, zones=None).changes()  # zones=None: every row compared (the old way)
    assert fast == slow


def test_a_kept_snap_index_snaps_as_a_fresh_one() -> None:
    """Random points over the demo's network (and beyond it, and beside its small cut-off pieces): the same edges,
    offsets, access legs, reachability and isolation with one kept index as with an index built per call."""
    w = WhatIf(run(replace(load_scenario(ROOT / "scenarios" / "demo.toml"), siting=()), report=lambda m: None))
    st = w.network.streets
    rng = np.random.default_rng(15)
    pad = 400.0
    xy = np.column_stack([rng.uniform(st.node_x.min() - pad, st.node_x.max() + pad, 400),
                          rng.uniform(st.node_y.min() - pad, st.node_y.max() + pad, 400)])
    xy[:20] = np.column_stack([st.node_x[:20], st.node_y[:20]])  # on nodes: ties between edges
    xy[20] = np.nan
    edge_ok = w.network.snap_edges
    index = snap_index(w.network)
    for chunk in np.array_split(np.arange(len(xy)), 7):  # several calls on the one index
        want = snap_points(w.network, xy[chunk], max_snap_m=w.max_snap_m, edge_ok=edge_ok)
        got = snap_points(w.network, xy[chunk], max_snap_m=w.max_snap_m, edge_ok=edge_ok, index=index)
        for field in ("edge", "offset", "access", "reachable"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), err_msg=field)
        assert (got.isolated is None) == (want.isolated is None)
        if want.isolated is not None:
            np.testing.assert_array_equal(got.isolated, want.isolated)
    with pytest.raises(ValueError, match="another network"):
        snap_points(w.network, xy[:3], max_snap_m=w.max_snap_m, edge_ok=edge_ok, index=SnapIndex(w.network.streets, None)
                    if edge_ok is not None else SnapIndex(w.network.streets, np.zeros(st.n_edges, bool)))


def test_every_zone_rule_kind_says_what_it_reads() -> None:
    """A new kind of 街道 rule must be told to ZoneUpdate (else it is re-evaluated wherever anything changed)."""
    from planner.analysis import requirements

    assert set(requirements._READS) == set(requirements._ZONE_EVALUATORS)
