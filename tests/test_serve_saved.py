"""`planner serve`'s saved plans: summary.json, the list, reopening, the exported report (equal to a fresh `planner
run` of the saved scenario, and `planner compare` reads it), downloads of whitelisted files only, the comparison of
the present with saved and live plans, and the issue's stateless ``POST /api/plan`` and ``/api/plan/save``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from planner import schema  # noqa: E402
from planner.serve.app import create_app  # noqa: E402
from planner.serve.plans import combine  # noqa: E402
from planner.serve.security import ServeConfig  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture(scope="module")
def app_of(demo_result):
    """The app over the demo run (the real what-if engine), one per output folder."""
    from planner.whatif.engine import WhatIf

    engine = WhatIf(demo_result)

    def make(out: Path, config: ServeConfig | None = None):
        return create_app(demo_result, config=config or ServeConfig(), out_dir=out, engine=engine)

    return make


@pytest.fixture(scope="module")
def served(app_of, demo_result, tmp_path_factory):
    out = tmp_path_factory.mktemp("serve_saved")
    with TestClient(app_of(out), base_url=LOCAL) as client:
        yield client, out, demo_result


def _point(result, k: int = 0) -> tuple[float, float]:
    p = result.compounds.to_crs(4326).geometry.iloc[k]
    return round(p.x, 6), round(p.y, 6)


def _body(result) -> dict:
    """A centre added in 南湖 (which has none) at the first compound, the run's first facility removed."""
    lon, lat = _point(result)
    return {"add": [{"category": "elderly_centre", "lon": lon, "lat": lat, "name": "新增中心"}], "remove": [result.facilities.index[0]]}


def _plan(client, body: dict) -> str:
    pid = client.post("/api/plans").json()["id"]
    r = client.post(f"/api/plans/{pid}/edit", json=body)
    assert r.status_code == 200, r.text
    return pid


def _refused(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message"} and " / " in err["message"] and "Traceback" not in r.text
    if code:
        assert err["code"] == code, err
    return err


@pytest.fixture(scope="module")
def exported(served):
    """One plan saved and exported as the report: (plan id, the export's answer)."""
    client, _, result = served
    pid = _plan(client, _body(result))
    r = client.post(f"/api/plans/{pid}/report", json={"name": "南湖 方案A"})
    assert r.status_code == 200, r.text
    return pid, r.json()


# ---- summary.json and the list ---------------------------------------------------------------------------------------


def test_save_writes_a_summary_for_the_list(served):
    client, out, result = served
    pid = _plan(client, _body(result))
    changes = client.get(f"/api/plans/{pid}").json()["changes"]
    r = client.post(f"/api/plans/{pid}/save", json={"name": "summary-test"})
    assert r.status_code == 200, r.text
    summary = json.loads((out / "plans" / "summary-test" / "summary.json").read_text(encoding="utf-8"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", summary["saved_at"])
    assert summary["name"] == "summary-test" and summary["scenario"] == result.scenario.name
    assert summary["edits"] == {"add": 1, "move": 0, "remove": 1} == r.json()["edits"]
    head = summary["summary"]
    assert head["served"] == changes["served"]  # people newly served per category and group, as the app showed
    assert head["newly_passing"] == changes["passing"] and head["newly_failing"] == changes["failing"]
    # 南湖 (Z03) has no 综合性养老服务中心 in the present: the plan's centre makes that rule pass (a hand-checkable fact)
    assert {(x["subdistrict"], x["rule_id"]) for x in head["rules_newly_passing"]} >= {("Z03", "elderly.street_centre.count")}
    assert head["compounds_changed"] == len(changes["compounds"])


def test_list_is_sorted_and_reports_broken_folders(app_of, demo_result, tmp_path):
    with TestClient(app_of(tmp_path), base_url=LOCAL) as client:
        assert client.get("/api/saved").json() == {"plans": []}
        for name in ("乙方案", "a方案"):
            pid = _plan(client, _body(demo_result))
            assert client.post(f"/api/plans/{pid}/save", json={"name": name}).status_code == 200
        (tmp_path / "plans" / "b_no_summary").mkdir()
        (tmp_path / "plans" / "c_bad").mkdir()
        (tmp_path / "plans" / "c_bad" / "summary.json").write_text("{not json", encoding="utf-8")
        (tmp_path / "plans" / "d_wrong").mkdir()
        (tmp_path / "plans" / "d_wrong" / "summary.json").write_text("[1]", encoding="utf-8")
        (tmp_path / "plans" / "stray.txt").write_text("x", encoding="utf-8")
        r = client.get("/api/saved")
        assert r.status_code == 200
        plans = r.json()["plans"]
        assert [p["name"] for p in plans] == sorted(["乙方案", "a方案", "b_no_summary", "c_bad", "d_wrong"])
        good = {p["name"]: p for p in plans if "error" not in p}
        assert set(good) == {"乙方案", "a方案"} and good["a方案"]["edits"] == {"add": 1, "move": 0, "remove": 1}
        assert good["a方案"]["report"] is False and {x["file"] for x in good["a方案"]["links"]} == {"scenario.toml", "facilities.geojson", "edits.json"}
        for p in plans:
            if "error" in p:
                assert set(p) == {"name", "error"} and " / " in p["error"]


# ---- reopening --------------------------------------------------------------------------------------------------------


def test_reopen_gives_a_new_plan_with_the_saved_edits_as_one_step(served):
    client, _, result = served
    lon, lat = _point(result, 3)
    pid = _plan(client, {"add": [{"category": "elderly_station", "lon": lon, "lat": lat}, {"category": "elderly_station", "lon": lon + 1e-4, "lat": lat}]})
    # NEW-1 moved, then taken back (the engine's own checks: ids of the plan's additions are known to the plan only)
    assert client.post(f"/api/plans/{pid}/edit", json={"move": [{"id": "NEW-1", "lon": lon, "lat": lat + 2e-4}]}).status_code == 200
    assert client.post(f"/api/plans/{pid}/edit", json={"remove": ["NEW-1"]}).status_code == 200  # NEW-2 stays
    before = client.get(f"/api/plans/{pid}").json()
    assert client.post(f"/api/plans/{pid}/save", json={"name": "reopen"}).status_code == 200
    r = client.post("/api/saved/reopen/open")
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["id"] != pid and got["plan"]["id"] == got["id"] and got["plan"]["steps"] == 1
    assert got["plan"]["edits"] == before["plan"]["edits"] and got["changes"] == before["changes"]
    # the reopened plan goes on: its next addition gets an id of its own (NEW-2 kept, never reused)
    more = client.post(f"/api/plans/{got['id']}/edit", json={"add": [{"category": "elderly_station", "lon": lon, "lat": lat + 1e-4}]})
    assert more.status_code == 200 and [a["id"] for a in more.json()["plan"]["edits"]["add"]] == ["NEW-2", "NEW-3"]
    assert client.post(f"/api/plans/{got['id']}/undo").json()["plan"]["edits"] == before["plan"]["edits"]


def test_combine_keeps_given_ids_and_never_reuses_them():
    a = {"category": "x", "lon": 1, "lat": 1}
    got = combine([{"add": [{**a, "id": "NEW-1"}, {**a, "id": "NEW-3"}]}, {"add": [a, a]}])
    assert [x["id"] for x in got["add"]] == ["NEW-1", "NEW-3", "NEW-4", "NEW-5"]


@pytest.mark.parametrize(("path", "status"), [
    ("/api/saved/nosuch/open", 404), ("/api/saved/..%2F..%2Fetc/open", 404), ("/api/saved/..%5C..%5Cetc/open", 404),
    ("/api/saved/%2E%2E/open", 422), ("/api/saved/a%00b/open", 422),
])
def test_reopen_refusals(served, path, status):
    client, _, _ = served
    _refused(client.post(path), status)


# ---- the exported report ----------------------------------------------------------------------------------------------


def test_export_writes_the_run_folder_and_links(served, exported):
    client, out, _ = served
    _, got = exported
    folder = out / "plans" / "南湖_方案A" / "run"
    assert Path(got["folder"]) == folder.resolve()
    assert {"report.html", "report.xlsx", "index.html", "compliance.csv", "compounds.csv", "summary.json"} <= set(got["files"])
    assert all((folder / f).is_file() for f in got["files"])
    assert got["siting"] == "rerun" and got["saved"]["name"] == "南湖_方案A"
    links = {x["file"]: x["url"] for x in got["links"]}
    assert links["report.html"] == "/api/saved/%E5%8D%97%E6%B9%96_%E6%96%B9%E6%A1%88A/files/report.html"
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"]["name"].endswith("（方案：南湖 方案A）")
    listed = {p["name"]: p for p in client.get("/api/saved").json()["plans"]}
    assert listed["南湖_方案A"]["report"] is True


@pytest.mark.parametrize(("file", "ctype"), [
    ("report.html", "text/html; charset=utf-8"), ("index.html", "text/html; charset=utf-8"),
    ("report.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("compliance.csv", "text/csv; charset=utf-8"), ("scenario.toml", "application/toml; charset=utf-8"),
    ("facilities.geojson", "application/geo+json"),
])
def test_whitelisted_files_are_served_with_their_type(served, exported, file, ctype):
    client, out, _ = served
    r = client.get(f"/api/saved/南湖_方案A/files/{file}")
    assert r.status_code == 200 and r.headers["content-type"] == ctype
    sub = "" if file in ("scenario.toml", "facilities.geojson") else "run"
    assert r.content == (out / "plans" / "南湖_方案A" / sub / file).read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("path", "status"), [
    ("/api/saved/南湖_方案A/files/summary.json", 404),  # not on the list
    ("/api/saved/南湖_方案A/files/compounds.gpkg", 404),
    ("/api/saved/南湖_方案A/files/..%2F..%2F..%2Fetc%2Fpasswd", 404),
    ("/api/saved/南湖_方案A/files/..%2Fscenario.toml", 404),
    ("/api/saved/..%2F..%2Fetc/files/passwd", 404),
    ("/api/saved/%2E%2E/files/report.html", 422),
    ("/api/saved/nosuch/files/report.html", 404),
    ("/api/saved/南湖_方案A/files/run%2Freport.html", 404),
])
def test_file_refusals(served, exported, path, status):
    client, _, _ = served
    _refused(client.get(path), status)


def test_file_not_exported_yet_is_404(served):
    client, _, result = served
    pid = _plan(client, _body(result))
    client.post(f"/api/plans/{pid}/save", json={"name": "no-report"})
    err = _refused(client.get("/api/saved/no-report/files/report.html"), 404, "no_such_file")
    assert "/report" in err["message"]


def test_exported_run_equals_a_fresh_run_of_the_saved_scenario(served, exported):
    """The oracle: `planner run` of the saved scenario gives the exported folder's coverage, standards and sites."""
    from planner.pipeline import run
    from planner.scenario import load_scenario

    client, out, _ = served
    pid, got = exported
    folder = Path(got["folder"])
    fresh = run(load_scenario(got["saved"]["scenario"]), report=lambda m: None)
    comp = pd.read_csv(folder / "compounds.csv", encoding="utf-8-sig", dtype={"id": str}).set_index("id")
    table = fresh.compounds[["id"]].join(fresh.coverage.table).set_index("id")
    cats = fresh.coverage.categories
    for c in cats:
        d_exp = comp.loc[table.index, schema.dist_m(c)].to_numpy(float)
        d_new = np.array(table[schema.dist_m(c)].to_numpy(float))
        d_new[~np.isfinite(d_new)] = np.nan
        np.testing.assert_allclose(d_exp, d_new, rtol=1e-5, atol=0.01, equal_nan=True, err_msg=c)
        for t in fresh.coverage.thresholds_min:
            assert (comp.loc[table.index, schema.within(c, t)].astype(bool).to_numpy() == table[schema.within(c, t)].to_numpy(bool)).all(), (c, t)
            assert (comp.loc[table.index, schema.count(c, t)].to_numpy() == table[schema.count(c, t)].to_numpy()).all(), (c, t)
    rules = pd.read_csv(folder / "compliance.csv", encoding="utf-8-sig", dtype={"subdistrict": str, "rule_id": str})
    key = ["subdistrict", "rule_id"]
    both = rules.merge(fresh.compliance.table.astype({"subdistrict": str, "rule_id": str}), on=key, suffixes=("_exp", "_new"), validate="1:1")
    assert len(both) == len(rules) == len(fresh.compliance.table)
    assert (both["status_exp"] == both["status_new"]).all()
    v_exp = pd.to_numeric(both["value_exp"], errors="coerce").to_numpy(float)
    v_new = pd.to_numeric(both["value_new"], errors="coerce").to_numpy(float)
    np.testing.assert_allclose(v_exp, v_new, rtol=1e-5, equal_nan=True)
    sites = pd.read_csv(folder / "sites.csv", encoding="utf-8-sig")
    assert list(sites["site_id"].astype(str)) == list(fresh.sites["site_id"].astype(str))  # siting re-run on the plan
    assert list(sites["served"]) == pytest.approx(list(fresh.sites["served"]))
    # what the app showed is what was exported
    state = client.app.state.store.get(pid).state
    assert (state.compliance.table["status"].to_numpy() == fresh.compliance.table["status"].to_numpy()).all()


def test_planner_compare_reads_the_export(demo_run, exported, tmp_path, capsys):
    from planner.cli import main

    _, got = exported
    assert main(["compare", str(demo_run), got["folder"], "--out", str(tmp_path / "cmp")]) == 0
    text = capsys.readouterr().out
    assert "（方案：南湖 方案A）" in text and "南湖街道" in text
    rules = pd.read_csv(tmp_path / "cmp" / "compare_rules.csv", encoding="utf-8-sig", dtype={"subdistrict": str})
    row = rules[(rules["subdistrict"] == "Z03") & (rules["rule_id"] == "elderly.street_centre.count")]
    assert row["change"].tolist() == ["newly_passing"]


def test_export_refusals(served):
    client, _, result = served
    pid = client.post("/api/plans").json()["id"]
    _refused(client.post(f"/api/plans/{pid}/report", json={"name": "empty"}), 409, "empty_plan")
    _refused(client.post("/api/plans/nosuchplan123/report", json={"name": "x"}), 404, "no_such_plan")
    pid = _plan(client, _body(result))
    _refused(client.post(f"/api/plans/{pid}/report", json={"name": "a", "path": "/etc"}), 422, "invalid_body")
    _refused(client.post(f"/api/plans/{pid}/report", json=["a"]), 422, "invalid_body")
    _refused(client.post(f"/api/plans/{pid}/report", content=b"{bad", headers={"content-type": "application/json"}), 400, "malformed_json")
    _refused(client.post(f"/api/plans/{pid}/report", json={"name": ".."}), 422, "invalid_name")


# ---- comparing in the app ---------------------------------------------------------------------------------------------


def _people_within(result, table: pd.DataFrame, cat: str, group: str) -> float:
    """The independent count: people of ``group`` in compounds within the longest threshold of ``cat``."""
    longest = max(result.coverage.thresholds_min)
    return float(result.compounds[group].to_numpy(float)[table[schema.within(cat, longest)].to_numpy(bool)].sum())


def test_compare_present_saved_and_live(served, exported):
    client, _, result = served
    pid, _ = exported
    lon, lat = _point(result, 10)
    live = _plan(client, {"add": [{"category": "childcare", "lon": lon, "lat": lat, "places": 60, "public_benefit": True}]})
    r = client.get("/api/compare", params={"plans": f"南湖_方案A,live:{live}", "rules": "all"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rules_listed"] == "all" and got["rules_total"] == len(result.compliance.table)
    assert [c["key"] for c in got["columns"]] == ["present", "南湖_方案A", f"live:{live}"]
    assert got["columns"][0]["name"] == "现状" and got["columns"][1]["edits"] == {"add": 1, "move": 0, "remove": 1}
    assert got["columns"][2]["edits"] == {"add": 1, "move": 0, "remove": 0}
    states = [None, client.app.state.store.get(pid).state, client.app.state.store.get(live).state]
    tables = [result.coverage.table] + [s.coverage.table for s in states[1:]]
    rows = {(x["key"], x["group"]): x for x in got["served"] if x["kind"] == "category"}
    assert {k for k, _ in rows} == set(result.coverage.categories)
    for cat in ("elderly_centre", "childcare"):
        for group in ("population", "age_60_plus", "age_0_3"):
            expected = [_people_within(result, t, cat, group) for t in tables]
            assert rows[(cat, group)]["values"] == pytest.approx(expected), (cat, group)
    compliance = [result.compliance.table] + [s.compliance.table for s in states[1:]]
    assert got["rules_passing"] == [int((c["status"] == "pass").sum()) for c in compliance]
    assert len(got["rules"]) == len(result.compliance.table)
    nanhu = next(x for x in got["rules"] if (x["subdistrict"], x["rule_id"]) == ("Z03", "elderly.street_centre.count"))
    assert nanhu["status"] == ["fail", "pass", "fail"] and nanhu["value"] == [0.0, 1.0, 0.0]
    assert nanhu["change"] == [None, "newly_passing", "unchanged"]


def _differs(row: dict) -> bool:
    """The oracle of ``rules=changed``: a row whose columns do not all show the same status and value, or whose
    change against the present is not ``unchanged``."""
    return (len(set(row["status"])) > 1 or len({json.dumps(v) for v in row["value"]}) > 1
            or any(c not in (None, "unchanged") for c in row["change"]))


def test_compare_lists_the_rules_that_changed(served, exported):
    client, _, result = served
    lon, lat = _point(result, 10)
    live = _plan(client, {"add": [{"category": "childcare", "lon": lon, "lat": lat, "places": 60, "public_benefit": True}]})
    plans = {"plans": f"南湖_方案A,live:{live}"}
    everything = client.get("/api/compare", params={**plans, "rules": "all"}).json()
    default = client.get("/api/compare", params=plans).json()
    changed = client.get("/api/compare", params={**plans, "rules": "changed"}).json()
    assert changed == default and default["rules_listed"] == "changed"
    expected = [row for row in everything["rules"] if _differs(row)]
    assert 0 < len(expected) < len(everything["rules"])  # the demo's plans change some rules, not all
    assert changed["rules"] == expected
    nanhu = [x for x in changed["rules"] if (x["subdistrict"], x["rule_id"]) == ("Z03", "elderly.street_centre.count")]
    assert len(nanhu) == 1 and nanhu[0]["change"][1] == "newly_passing"
    for k in ("columns", "minutes", "served", "rules_passing", "rules_failing", "rule_changes", "rules_total", "notes"):
        assert changed[k] == everything[k], k  # counts are over every row either way
    assert changed["rules_total"] == len(everything["rules"]) == len(result.compliance.table)
    for name, counts in changed["rule_changes"].items():
        assert counts == [None] + [sum(r["change"][i] == name for r in everything["rules"]) for i in (1, 2)], name


def test_compare_a_plan_without_edits_lists_no_rule(served):
    client, _, result = served
    pid = client.post("/api/plans").json()["id"]
    got = client.get("/api/compare", params={"plans": f"live:{pid}"}).json()
    assert got["rules"] == [] and got["rules_total"] == len(result.compliance.table)
    assert got["rules_passing"][0] == got["rules_passing"][1] == int((result.compliance.table["status"] == "pass").sum())
    assert all(v == [None, 0] for v in got["rule_changes"].values())


def test_compare_table_with_the_present_kept(demo_result):
    from planner.serve.versus import Column, compare_table, present_output

    col = Column("live:x", "live", "x", {"add": 0, "move": 0, "remove": 0}, None)
    kept = present_output(demo_result)
    assert compare_table(demo_result, [col], rules="all", present=kept) == compare_table(demo_result, [col], rules="all")
    with pytest.raises(ValueError, match="changed.*all"):
        compare_table(demo_result, [col], rules="some")


@pytest.mark.parametrize(("query", "status"), [
    ("", 422), ("plans=", 422), ("plans=,,", 422), ("plans=a,b,c,d,e,f,g", 422), ("plans=nosuch", 404),
    ("plans=live:abc&rules=some", 422),
    ("plans=live:nosuchplan123", 404), ("plans=..%2F..%2Fetc", 404), ("plans=%2E%2E", 422),
])
def test_compare_refusals(served, query, status):
    client, _, _ = served
    _refused(client.get(f"/api/compare?{query}"), status)


# ---- the stateless forms --------------------------------------------------------------------------------------


def test_stateless_plan_answers_like_a_live_plan(served):
    client, _, result = served
    body = _body(result)
    n_plans = client.get("/api/state").json()["plans"]
    r = client.post("/api/plan", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert client.get("/api/state").json()["plans"] == n_plans  # nothing kept
    pid = _plan(client, body)
    live = client.get(f"/api/plans/{pid}").json()
    assert got["changes"] == live["changes"] and got["edits"] == live["plan"]["edits"]
    state = client.app.state.store.get(pid).state
    assert len(got["compliance"]) == len(state.compliance.table)
    assert [x["status"] for x in got["compliance"]] == state.compliance.table["status"].tolist()
    assert {"subdistrict", "subdistrict_name", "rule_id", "value", "target", "status", "shortfall"} <= set(got["compliance"][0])
    present = client.post("/api/plan", json={}).json()  # no edit: the present
    assert present["changes"]["compounds"] == [] and [x["status"] for x in present["compliance"]] == result.compliance.table["status"].tolist()


def test_stateless_save(served):
    client, out, result = served
    r = client.post("/api/plan/save", json={"name": "无状态 方案", "edits": _body(result)})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "无状态_方案" and (out / "plans" / "无状态_方案" / "summary.json").is_file()
    assert client.post("/api/saved/无状态_方案/open").status_code == 201
    _refused(client.post("/api/plan/save", json={"name": "x"}), 422, "invalid_body")
    _refused(client.post("/api/plan/save", json={"name": "x", "edits": {}, "path": "/tmp"}), 422, "invalid_body")
    _refused(client.post("/api/plan/save", json={"name": "x", "edits": {}}), 409, "empty_plan")
    _refused(client.post("/api/plan/save", json={"name": "../..", "edits": _body(result)}), 422, "invalid_name")
    _refused(client.post("/api/plan/save", json={"name": "a/b", "edits": {"add": [{"category": "casino", "lon": 0, "lat": 0}]}}), 422, "invalid_edit")


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"{bad", 400, "malformed_json"), (b"[1]", 422, "invalid_body"),
    (b'{"add": [{"category": "casino", "lon": 0, "lat": 0}]}', 422, "invalid_edit"),
    (b'{"remove": ["NO-SUCH-ID"]}', 422, "invalid_edit"),
])
def test_stateless_plan_refusals(served, body, status, code):
    client, _, _ = served
    _refused(client.post("/api/plan", content=body, headers={"content-type": "application/json"}), status, code)


def test_stateless_plan_limit(served):
    client, _, result = served
    lon, lat = _point(result)
    body = {"add": [{"category": "elderly_station", "lon": lon, "lat": lat}] * 201}
    _refused(client.post("/api/plan", json=body), 413, "too_many_edits")


# ---- the token off loopback, and an unknown plan before an empty edit ------------------------------------------------


def test_new_posts_need_the_token_off_loopback(app_of, demo_result, tmp_path):
    config = ServeConfig.for_host("0.0.0.0", 8765)
    good = {"authorization": f"Bearer {config.token}"}
    with TestClient(app_of(tmp_path, config), base_url="http://10.1.2.3:8765") as client:
        pid = client.post("/api/plans", headers=good).json()["id"]
        assert client.post(f"/api/plans/{pid}/edit", json=_body(demo_result), headers=good).status_code == 200
        assert client.post(f"/api/plans/{pid}/save", json={"name": "t"}, headers=good).status_code == 200
        for path, body in ((f"/api/plans/{pid}/report", {"name": "t"}), ("/api/saved/t/open", None),
                           ("/api/plan", _body(demo_result)), ("/api/plan/save", {"name": "u", "edits": _body(demo_result)})):
            _refused(client.post(path, json=body), 401, "unauthorised")
            _refused(client.post(path, json=body, headers={"authorization": "Bearer wrong"}), 401, "unauthorised")
        assert not (tmp_path / "plans" / "u").exists() and not (tmp_path / "plans" / "t" / "run").exists()
        # viewing stays open
        assert client.get("/api/saved").status_code == 200
        assert client.get("/api/saved/t/files/scenario.toml").status_code == 200
        assert client.get("/api/compare", params={"plans": "t"}).status_code == 200
        assert client.post("/api/saved/t/open", headers=good).status_code == 201


def test_unknown_plan_is_404_before_an_empty_edit(served):
    client, _, _ = served
    _refused(client.post("/api/plans/nosuchplan123/edit", json={}), 404, "no_such_plan")
    _refused(client.post("/api/plans/nosuchplan123/edit", json=[1]), 404, "no_such_plan")
    pid = client.post("/api/plans").json()["id"]
    _refused(client.post(f"/api/plans/{pid}/edit", json={}), 422, "empty_edit")
