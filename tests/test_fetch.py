"""`planner fetch` against a local OSM file standing in for Overpass: no test touches the network."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import osmnx as ox
import pytest
import shapely

from planner.cli import main
from planner.io import fetch as fetch_mod

PBF = Path(__file__).resolve().parents[2] / "shared" / "data" / "beijing_haidian_cau_osm2026" / "haidian_cau_osm_2026.osm.pbf"
pytestmark = pytest.mark.skipif(not PBF.exists(), reason="../shared/data is not beside the repository")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Haidian extract as OSM XML: what an Overpass download of the area would return."""
    import osmium

    xml = tmp_path_factory.mktemp("recorded") / "haidian.osm"
    with osmium.SimpleWriter(str(xml)) as writer:
        for obj in osmium.FileProcessor(str(PBF)):
            if obj.is_node():
                writer.add_node(obj)
            elif obj.is_way():
                writer.add_way(obj)
            else:
                writer.add_relation(obj)
    return xml


@pytest.fixture
def offline_osmnx(monkeypatch: pytest.MonkeyPatch, recorded: Path) -> None:
    monkeypatch.setattr(fetch_mod, "_graph", lambda place: ox.graph_from_xml(recorded, bidirectional=True, retain_all=True))
    monkeypatch.setattr(fetch_mod, "_features", lambda place, tags: ox.features_from_xml(recorded, tags=tags))
    box = shapely.box(116.344, 39.9977, 116.3597, 40.0089)
    monkeypatch.setattr(fetch_mod, "_boundary", lambda place: gpd.GeoDataFrame({"name": [place]}, geometry=[box], crs=4326))


def test_fetch_writes_layers_and_a_runnable_scenario(offline_osmnx, tmp_path: Path, capsys):
    """fetch writes network, POIs, compounds, boundary and a scenario; `planner run` runs that scenario."""
    out = tmp_path / "haidian"
    assert main(["fetch", "海淀区学院路", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("network.gpkg", "pois.gpkg", "compounds.gpkg", "boundary.gpkg", "scenario.toml"):
        assert (out / name).exists() and name in printed
    pois = gpd.read_file(out / "pois.gpkg")
    assert len(pois) > 200 and pois["tags"].str.contains('"amenity"').any()
    compounds = gpd.read_file(out / "compounds.gpkg")
    assert (compounds["population"] > 0).all()
    run_out = tmp_path / "run"
    assert main(["run", str(out / "scenario.toml"), "--out", str(run_out), "-q"]) == 0
    import json

    summary = json.loads((run_out / "summary.json").read_text(encoding="utf-8"))
    assert summary["facilities"]["by_category"]["convenience"] >= 17
    assert summary["layers"]["facilities"]["kept"] + summary["layers"]["facilities"]["rejected"] == len(pois)


def test_fetch_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys):
    """Without internet the download fails with a message, not a traceback."""

    def no_network(place):
        raise ConnectionError("Max retries exceeded (name resolution)")

    monkeypatch.setattr(fetch_mod, "_graph", no_network)
    assert main(["fetch", "崇川区", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "需要能访问" in err and "Traceback" not in err
