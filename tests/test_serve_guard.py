"""planner serve after its review: a save never silently replaces another plan, saved plans of a plan's size can be
compared, a full server forgets the plan idle longest, pages of other sites cannot edit, the kept run follows the code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

import planner.pipeline  # noqa: E402
from planner.serve.app import create_app  # noqa: E402
from planner.serve.plans import PlanStore  # noqa: E402
from planner.serve.security import ApiError, ServeConfig  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def engine(demo_result):
    from planner.whatif.engine import WhatIf

    return WhatIf(demo_result)


def _client(demo_result, engine, out: Path, **config) -> TestClient:
    return TestClient(create_app(demo_result, config=ServeConfig(**config), out_dir=out, engine=engine), base_url=LOCAL)


def _removal(result, k: int) -> dict:
    return {"remove": [str(result.facilities["id"].iat[k])]}


def test_a_second_save_under_one_folder_name_is_refused_unless_confirmed(demo_result, engine, tmp_path):
    client = _client(demo_result, engine, tmp_path)
    a = client.post("/api/plans").json()["id"]
    for k in range(3):
        assert client.post(f"/api/plans/{a}/edit", json=_removal(demo_result, k)).status_code == 200
    first = client.post(f"/api/plans/{a}/save", json={"name": "big"}).json()
    folder = Path(first["folder"])
    (folder / "run").mkdir()
    (folder / "run" / "report.html").write_text("plan A's report", encoding="utf-8")
    b = client.post("/api/plans").json()["id"]
    assert client.post(f"/api/plans/{b}/edit", json=_removal(demo_result, 5)).status_code == 200
    r = client.post(f"/api/plans/{b}/save", json={"name": "big?"})  # "big?" → the folder "big" too
    assert r.status_code == 409 and r.json()["error"]["code"] == "plan_exists"
    assert '"remove"' in (folder / "edits.json").read_text(encoding="utf-8") and (folder / "run").exists()  # untouched
    assert client.post(f"/api/plans/{b}/save", json={"name": "big?", "overwrite": "yes"}).status_code == 422
    r = client.post(f"/api/plans/{b}/save", json={"name": "big?", "overwrite": True})
    assert r.status_code == 200, r.text
    assert r.json()["edits"]["remove"] == 1 and not (folder / "run").exists()  # A's report went with A


def test_a_saved_plan_larger_than_one_request_can_be_compared(demo_result, engine, tmp_path):
    client = _client(demo_result, engine, tmp_path, max_edits_per_request=3)
    pid = client.post("/api/plans").json()["id"]
    for start in (0, 3):
        body = {"remove": [str(demo_result.facilities["id"].iat[k]) for k in range(start, start + 3)]}
        assert client.post(f"/api/plans/{pid}/edit", json=body).status_code == 200
    assert client.post(f"/api/plans/{pid}/save", json={"name": "six"}).status_code == 200
    r = client.get("/api/compare", params={"plans": "six"})
    assert r.status_code == 200, r.text
    assert r.json()["columns"][1]["edits"]["remove"] == 6


def test_a_full_store_forgets_the_plan_idle_longest():
    class Engine:
        def apply(self, edits):
            return None

    store = PlanStore(Engine(), lambda body: body, max_plans=2)
    old, recent = store.create(), store.create()
    with pytest.raises(ApiError) as refused:  # none idle long enough: refused
        store.create()
    assert refused.value.status == 429
    old.used -= 3600
    recent.used -= 60
    new = store.create()
    assert len(store) == 2 and new.id in store._plans and recent.id in store._plans and old.id not in store._plans
    with pytest.raises(ApiError) as gone:
        store.get(old.id)
    assert gone.value.status == 404
    before = recent.used
    time.sleep(0.01)
    store.get(recent.id)
    assert recent.used > before  # asking for a plan keeps it


@pytest.mark.parametrize(("headers", "status"), [
    ({"Origin": "https://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Origin": "http://127.0.0.1:9999"}, 403),  # another port is another site's page
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site"}, 403),
    ({"Origin": LOCAL, "Sec-Fetch-Site": "same-origin"}, 201),
    ({}, 201),  # curl and scripts send neither
])
def test_changes_from_pages_of_other_sites_are_refused(demo_result, engine, tmp_path, headers, status):
    client = _client(demo_result, engine, tmp_path)
    r = client.post("/api/plans", headers=headers)
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["code"] == "cross_origin"
    assert client.get("/api/state", headers=headers).status_code == 200  # viewing stays open


def test_the_kept_run_follows_planner_code(tmp_path, monkeypatch):
    import planner.serve.runcache as runcache

    calls = []
    monkeypatch.setattr(planner.pipeline, "run", lambda scenario, report=None: calls.append(1) or {"run": len(calls)})

    class Scenario:
        def input_paths(self):
            return (tmp_path / "a.toml",)

    (tmp_path / "a.toml").write_text("x = 1\n", encoding="utf-8")
    runcache.load_or_run(Scenario(), tmp_path / "out")
    assert runcache.load_or_run(Scenario(), tmp_path / "out") == ({"run": 1}, True)
    monkeypatch.setattr(runcache, "code_digest", lambda: "other code, same version")
    assert runcache.load_or_run(Scenario(), tmp_path / "out") == ({"run": 2}, False)


def test_places_beds_and_puhui_of_added_facilities_count_in_the_standards_as_a_full_run_counts_them(demo_result, engine, tmp_path):
    """托位 and 普惠 of an added childcare centre and 床位 of an added elderly home reach the 街道 rules (places per
    1000 residents, the public-benefit share …): the app's compliance equals a fresh `planner run` of the saved
    plan's scenario, value for value, and the places rule of the 街道 went up by the places added."""
    import numpy as np
    import pandas as pd

    from planner.pipeline import run
    from planner.scenario import load_scenario

    client = _client(demo_result, engine, tmp_path)
    comp = demo_result.compounds.to_crs(4326)
    p, q = comp.geometry.iloc[3], comp.geometry.iloc[40]
    body = {"add": [{"category": "childcare", "lon": round(p.x, 6), "lat": round(p.y, 6), "name": "新增托育", "places": 120,
                     "public_benefit": True},
                    {"category": "elderly_home", "lon": round(q.x, 6), "lat": round(q.y, 6), "name": "新增养老院", "beds": 80}]}
    pid = client.post("/api/plans").json()["id"]
    assert client.post(f"/api/plans/{pid}/edit", json=body).status_code == 200
    saved = client.post(f"/api/plans/{pid}/save", json={"name": "capacity"}).json()
    state = client.app.state.store.get(pid).state
    rerun = run(load_scenario(saved["scenario"]), report=lambda m: None)
    key = ["subdistrict", "rule_id"]
    app_rules = state.compliance.table.set_index(key).sort_index()
    full = rerun.compliance.table.set_index(key).sort_index()
    assert list(app_rules.index) == list(full.index)
    np.testing.assert_allclose(pd.to_numeric(app_rules["value"]).to_numpy(float), pd.to_numeric(full["value"]).to_numpy(float),
                               rtol=1e-9, atol=1e-6, equal_nan=True)
    assert list(app_rules["status"]) == list(full["status"])
    zone = str(demo_result.compounds["zone_id"].iloc[3])
    rule = "childcare.places_per_1000"
    before = demo_result.compliance.table.set_index(key).loc[(zone, rule)]
    after = app_rules.loc[(zone, rule)]
    population = float(pd.to_numeric(demo_result.compounds.loc[demo_result.compounds["zone_id"].astype(str) == zone, "population"]).sum())
    assert float(after["value"]) - float(before["value"]) == pytest.approx(120 / population * 1000, abs=1e-3)  # values kept to 4 places
