"""benchmarks/map_paint.py: its figures (medians, ratios, table), the peer maps it builds (offline, every compound in
them) and, in headless Chromium, its in-page probe on a hand-made page whose data are drawn 300 ms after the load."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def mp():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import map_paint
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return map_paint


# ---- figures


def test_median_is_unknown_when_a_run_never_got_there(mp):
    assert mp.median_or_none([0.3, 0.1, 0.2]) == 0.2
    assert mp.median_or_none([1.0, 3.0]) == 2.0
    assert mp.median_or_none([0.3, None, 0.2]) is None
    assert mp.median_or_none([]) is None


def test_ratio_is_value_over_planner(mp):
    assert mp.ratio(3.0, 1.5) == "2.00×"
    assert mp.ratio(0.5, 2.0) == "0.25×"
    assert mp.ratio(None, 2.0) == "—"
    assert mp.ratio(2.0, None) == "—"
    assert mp.ratio(2.0, 0.0) == "—"


def test_sample_from_page_milliseconds(mp):
    s = mp.sample_from({"load": 480.0, "drawn": 1250.0, "heap": 3 * 2**20, "done": True}, 300.0, 500.0,
                       ["file:///a.png", "data:image/png;base64,x", "https://unpkg.com/x.js", "https://unpkg.com/x.js"])
    assert (s.fcp_s, s.load_s, s.drawn_s, s.heap_b) == (0.3, 0.5, 1.25, 3 * 2**20)
    assert s.external == ["https://unpkg.com/x.js"]
    never = mp.sample_from({"load": 480.0, "done": True, "heap": 1.0}, None, 500.0, [])
    assert never.drawn_s is None and never.fcp_s is None


def test_summarise_and_table(mp):
    planner = [mp.Sample(0.2, 0.4, 1.0, 2**20), mp.Sample(0.3, 0.5, 3.0, 3 * 2**20), mp.Sample(0.1, 0.6, 2.0, 2 * 2**20)]
    peer = [mp.Sample(0.5, 4.0, 8.0, 100 * 2**20), mp.Sample(0.5, 4.0, None, 100 * 2**20), mp.Sample(0.5, 4.0, 6.0, 100 * 2**20)]
    a, b = mp.summarise(planner), mp.summarise(peer)
    assert (a["fcp_s"], a["load_s"], a["drawn_s"], a["heap_mib"]) == (0.2, 0.5, 2.0, 2.0)
    assert b["drawn_s"] is None and b["drawn_runs"] == 2 and b["runs"] == 3
    a.update(label="planner", size_mb=10.0)
    b.update(label="peer", size_mb=25.0)
    table = mp.format_table([a, b], timeout_s=60).splitlines()
    assert table[0].split()[:3] == ["map", "size", "MB"]
    planner_row, peer_row = table[2].split(), table[3].split()
    assert planner_row == ["planner", "10.0", "2.00", "0.50", "0.20", "2", "1.00×", "1.00×", "1.00×"]
    assert peer_row[:3] == ["peer", "25.0", ">"] and peer_row[3] == "60"  # never drawn in one run: "> timeout"
    assert peer_row[-2:] == ["2.50×", "50.00×"]  # size 25 / 10, heap 100 / 2


def test_probe_script_embeds_the_check_and_limit(mp):
    src = mp.probe_script("planner", {"labels": ["小区覆盖情况", "Compounds by coverage"]}, 7.5)
    assert "limit = 7500" in src and '"小区覆盖情况"' in src and "planner-points" not in src  # the canvas is found via plannerApp
    assert "app.points()" in src
    assert "%(" not in src
    with pytest.raises(KeyError):
        mp.probe_script("nope", {}, 1)


# ---- peer maps


@pytest.fixture()
def small_run():
    pts = [(120.90, 32.00), (120.91, 32.01), (120.92, 32.00)]
    compounds = gpd.GeoDataFrame({"name": ["甲小区", "乙小区", "丙小区"], "population": [1200.0, 800.0, 450.4]},
                                 geometry=shapely.points(pts), crs=4326)
    zones = gpd.GeoDataFrame({"name": ["东和街道"]}, geometry=[shapely.box(120.89, 31.99, 120.93, 32.02)], crs=4326)
    return compounds, zones


def _external_refs(html: str) -> list[str]:
    """URLs the page's own tags load (``<script src>``, ``<link href>``; not links inside Leaflet's attribution)."""
    return re.findall(r"""<(?:script|link)[^>]*?(?:src|href)\s*=\s*["']?(https?:[^"'\s>]+)""", html)


def test_folium_geojson_peer_is_offline_and_holds_every_compound(mp, small_run, tmp_path):
    page = mp.folium_geojson(*small_run, tmp_path / "g.html")
    html = page.path.read_text(encoding="utf-8")
    assert _external_refs(html) == []
    assert page.kind == "leaflet_canvas" and f"var {page.spec['layer']} = L.geoJson(" in html
    data = json.loads(re.search(page.spec["layer"] + r"_add\((\{.*?\})\);", html, flags=re.S).group(1))
    assert sorted(f["properties"]["name"] for f in data["features"]) == ["丙小区", "乙小区", "甲小区"]
    assert sorted(f["properties"]["population"] for f in data["features"]) == [450, 800, 1200]
    assert json.dumps("东和街道")[1:-1] in html and '"preferCanvas": true' in html  # the 街道, on Leaflet's canvas


def test_cluster_peer_inlines_markercluster(mp, small_run, tmp_path):
    pytest.importorskip("xstatic.pkg.leaflet_markercluster")
    page = mp.folium_cluster(*small_run, tmp_path / "c.html")
    html = page.path.read_text(encoding="utf-8")
    assert _external_refs(html) == []
    assert "L.MarkerClusterGroup=" in html and "L.AwesomeMarkers" not in html
    rows = json.loads(re.search(r"var data = (\[.*?\]);\n", html).group(1))
    assert rows == [[32.0, 120.9, "甲小区", 1200], [32.01, 120.91, "乙小区", 800], [32.0, 120.92, "丙小区", 450]]


def test_cluster_peer_left_out_without_the_package(mp, small_run, tmp_path, monkeypatch):
    monkeypatch.setattr(mp, "markercluster_assets", lambda: None)
    assert mp.folium_cluster(*small_run, tmp_path / "c.html") is None


# ---- the probe in a real browser


LATE_PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<div class="leaflet-overlay-pane"><canvas width="200" height="100"></canvas></div>
<script>
window.fake = {getLayers: function () { return [1]; }};
addEventListener("load", function () {
  setTimeout(function () { document.querySelector("canvas").getContext("2d").fillRect(10, 10, 5, 5); }, 300);
});
</script></body></html>"""


@pytest.mark.browser
def test_probe_waits_until_the_data_are_painted(mp, tmp_path):
    from _browser import browser_missing

    if reason := browser_missing():
        pytest.skip(reason)
    late = tmp_path / "late.html"
    late.write_text(LATE_PAGE, encoding="utf-8")
    never = tmp_path / "never.html"
    never.write_text(LATE_PAGE.replace("fillRect", "clearRect"), encoding="utf-8")
    pages = [mp.MapPage("late", late, "leaflet_canvas", {"layer": "fake"}),
             mp.MapPage("never", never, "leaflet_canvas", {"layer": "fake"})]
    rows, _version = mp.measure(pages, 1, 1.5)
    by = {r["label"]: r for r in rows}
    assert by["late"]["drawn_s"] is not None and by["late"]["load_s"] is not None
    assert by["late"]["drawn_s"] - by["late"]["load_s"] >= 0.29  # painted 300 ms after the load event, not before
    assert by["late"]["heap_mib"] > 0 and by["late"]["external"] == []
    assert by["never"]["drawn_s"] is None and by["never"]["load_s"] is not None
