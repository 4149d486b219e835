"""The demo, run through the CLI: its outputs exist, account for every input row, and tell the story the data was built for."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.cli import main
from planner.io.demo import generate


@pytest.fixture(scope="module")
def outputs(demo_run: Path) -> dict:
    return {
        "summary": json.loads((demo_run / "summary.json").read_text(encoding="utf-8")),
        "zones": pd.read_csv(demo_run / "subdistricts.csv", encoding="utf-8-sig", index_col="zone_id"),
        "compounds": pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig"),
        "facilities": pd.read_csv(demo_run / "facilities.csv", encoding="utf-8-sig"),
        "rejected": pd.read_csv(demo_run / "rejected.csv", encoding="utf-8-sig"),
        "html": (demo_run / "index.html").read_text(encoding="utf-8"),
    }


def test_all_outputs_written(demo_run: Path):
    """planner run writes the map, the tables (CSV and GeoPackage) and summary.json."""
    for name in ("index.html", "subdistricts.csv", "compounds.csv", "compounds.gpkg", "facilities.csv", "rejected.csv", "summary.json"):
        assert (demo_run / name).stat().st_size > 0, name
    gpkg = gpd.read_file(demo_run / "compounds.gpkg")
    assert gpkg.crs.to_epsg() == 4326 and len(gpkg) == 149


def test_every_input_row_accounted_for(outputs, repo_root: Path):
    """Rows read = rows kept + rows rejected, for each layer, and the counts match the demo files."""
    s = outputs["summary"]
    for kind, file in (("facilities", "facilities.geojson"), ("residential", "compounds.geojson"), ("zones", "subdistricts.geojson")):
        n_file = len(json.loads((repo_root / "layers" / "demo" / file).read_text(encoding="utf-8"))["features"])
        layer = s["layers"][kind]
        assert layer["rows_read"] == n_file
        assert layer["kept"] + layer["rejected"] == n_file
    assert len(outputs["compounds"]) == s["layers"]["residential"]["kept"]
    assert len(outputs["facilities"]) == s["layers"]["facilities"]["kept"]
    assert len(outputs["rejected"]) == s["layers"]["facilities"]["rejected"] + s["layers"]["residential"]["rejected"]


def test_deliberate_bad_rows_rejected_for_the_right_reason(outputs):
    """The four rows broken on purpose in the demo are rejected, each with its reason."""
    got = dict(zip(outputs["rejected"]["id"], outputs["rejected"]["reason_code"], strict=True))
    assert got == {"SS166": "unknown_category", "SS167": "missing_geometry", "XQ150": "non_numeric", "XQ011": "duplicate_id"}


def test_village_beyond_the_roads_is_unreachable_not_dropped(outputs):
    """孤村 is 600 m beyond the last road: kept, marked unreachable, no distance."""
    comp = outputs["compounds"].set_index("name")
    assert not comp.loc["孤村", "reachable"]
    assert comp.loc["孤村", "snap_distance_m"] > 300
    assert pd.isna(comp.loc["孤村", "dist_m__convenience"])
    assert outputs["summary"]["compounds"]["unreachable"] == 1


def test_street_without_elderly_centre(outputs):
    """南湖街道 (Z03) has no 综合性养老服务中心; the other three have one each."""
    z = outputs["zones"]
    assert z.loc["Z03", "name"] == "南湖街道"
    assert z.loc["Z03", "facilities__elderly_centre"] == 0
    assert list(z.loc[["Z01", "Z02", "Z04"], "facilities__elderly_centre"]) == [1, 1, 1]


def test_street_short_of_childcare_places(outputs):
    """新城街道 (Z02) has fewer than 4.5 childcare places per 1000 residents; 江南街道 has no 普惠 childcare."""
    fac, z = outputs["facilities"], outputs["zones"]
    cc = fac[fac["category"] == "childcare"]
    per_1000 = cc.groupby("zone_id")["places"].sum() / z["population"] * 1000
    assert per_1000["Z02"] < 4.5
    assert (per_1000[["Z01", "Z03", "Z04"]] >= 4.5).all()
    puhui = cc[cc["public_benefit"] == True].groupby("zone_id").size()  # noqa: E712 (nullable bool column)
    assert "Z04" not in puhui.index and (puhui.reindex(["Z01", "Z02", "Z03"]) >= 1).all()


def test_riverside_compounds_cut_off_from_their_market(outputs, demo_run: Path):
    """江南街道 has no market within 15 minutes; its riverside compounds face 滨河菜市场 across the water
    yet their nearest market is more than three times that straight-line distance away on foot."""
    z = outputs["zones"]
    assert z.loc["Z04", "facilities__market"] == 0 and z.loc["Z04", "share_15min__market"] == 0
    comp = gpd.read_file(demo_run / "compounds.gpkg").to_crs(4549)
    fac = outputs["facilities"]
    market = fac[fac["name"] == "滨河菜市场"].iloc[0]
    mpt = gpd.GeoSeries([shapely.Point(market["lon"], market["lat"])], crs=4326).to_crs(4549).iloc[0]
    near = comp[(comp["zone_id"] == "Z04") & (comp.distance(mpt) < 700)]
    assert len(near) >= 3
    # the nearest market of any kind is still more than 1.5 km and 3× the straight line to 滨河菜市场 away
    ratio = near["dist_m__market"] / near.distance(mpt)
    assert (near["dist_m__market"] > 1500).all() and (ratio > 3).all(), ratio


def test_shares_are_population_weighted(outputs):
    """A 街道's 15-minute share equals the population within 15 minutes over its population (recomputed from compounds.csv)."""
    comp, z = outputs["compounds"], outputs["zones"]
    for cat in ("convenience", "market", "elderly_centre"):
        within = comp[comp[f"within_15min__{cat}"]].groupby("zone_id")["population"].sum()
        share = within.reindex(["Z01", "Z02", "Z03", "Z04"]).fillna(0) / z.loc[["Z01", "Z02", "Z03", "Z04"], "population"]
        assert np.allclose(share.to_numpy(), z.loc[["Z01", "Z02", "Z03", "Z04"], f"share_15min__{cat}"].to_numpy(), atol=1e-5)


def test_map_is_offline_and_labelled(outputs):
    """The map loads nothing from the internet, is marked 示例数据, and has its layers and legend."""
    html = outputs["html"]
    assert "<script src=" not in html and 'rel="stylesheet" href="http' not in html
    assert "L.map(" in html and "示例数据" in html
    for label in ("步行路网", "街道边界", "小区覆盖情况", "距路网超过 300 米", "便利店 (", "planner-legend", "养老", "托育",
                  "一刻钟便民生活圈", "街道达标", "planner-search"):
        assert label in html or json.dumps(label)[1:-1] in html, label


def test_summary_records_inputs_and_timings(outputs):
    """summary.json lists the inputs with checksums, the metric CRS and the stage timings."""
    s = outputs["summary"]
    assert s["crs"]["metric"] == "EPSG:4549"
    assert {Path(i["path"]).name for i in s["inputs"]} == {"demo.toml", "roads.geojson", "facilities.geojson", "compounds.geojson", "subdistricts.geojson"}
    assert all(len(i["sha256"]) == 64 for i in s["inputs"])
    assert s["run_time_s"]["total"] > 0
    assert s["network"]["components"] == 1


def test_demo_layers_match_their_generator(tmp_path: Path, repo_root: Path):
    """The committed layers/demo files are exactly what `planner demo-data` writes (deterministic, reviewable)."""
    written = generate(tmp_path)
    for path in written:
        committed = repo_root / "layers" / "demo" / path.name
        assert committed.read_bytes() == path.read_bytes(), f"{committed} is stale: run `make demo-data`"


def test_cli_reports_bad_scenario_without_traceback(tmp_path: Path, capsys):
    """A broken scenario gives exit code 2 and a bilingual message listing every problem, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('name = ""\nwalking_speed_m_per_min = 5000\ncolour = "red"\n[network]\npath = "nowhere.pbf"\n', encoding="utf-8")
    assert main(["run", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in ("walking_speed_m_per_min", "'colour'", "nowhere.pbf", "[layers.facilities]", "missing name"):
        assert fragment in err


def test_coordinates_are_written_to_the_centimetre(demo_run: Path, demo_result):
    """facilities.csv and sites.csv carry lon/lat with 7 decimals (≈ 1 cm), not the tables' 6 significant digits
    (which moved a point by up to ~40 m), and they are the run's own points."""
    for name, frame in (("facilities.csv", demo_result.facilities), ("sites.csv", demo_result.sites)):
        text = pd.read_csv(demo_run / name, encoding="utf-8-sig", dtype=str)
        assert text["lon"].str.fullmatch(r"\d+\.\d{7}").all() and text["lat"].str.fullmatch(r"\d+\.\d{7}").all(), name
        wgs = frame.geometry.to_crs(4326)
        np.testing.assert_allclose(text["lon"].astype(float), wgs.x.to_numpy(), atol=5.1e-8, err_msg=name)
        np.testing.assert_allclose(text["lat"].astype(float), wgs.y.to_numpy(), atol=5.1e-8, err_msg=name)
