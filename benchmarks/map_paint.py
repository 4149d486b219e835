#!/usr/bin/env python
"""First paint of the gap map in headless Chromium (issue #14, deliverable 6), against maps a folium user would write.

For one planner run (``--run DIR``, an output folder; or ``--scenario TOML``, run into a temp folder first) the
script opens, in headless Chromium driven by Selenium through the system ``chromedriver`` (offline: every host name
resolves to nothing; viewport 1280×720 through CDP ``Emulation.setDeviceMetricsOverride``):

* ``planner``            the run's ``index.html``;
* ``folium GeoJson``     what a folium user writes: ``folium.Map(prefer_canvas=True)`` with the compounds as one
                         ``folium.GeoJson`` of ``CircleMarker`` s with a ``GeoJsonPopup`` (name, population) and the
                         街道 polygons as a second ``GeoJson`` — no streets: a 2 M-edge walk network does not fit in a
                         GeoJSON a browser opens. Leaflet is inlined (``planner.outputs.basemaps.offline_map``), as
                         planner does, so that no map loads anything from a CDN;
* ``folium FastMarkerCluster``  the compounds through ``folium.plugins.FastMarkerCluster`` (markers made in the
                         browser, clustered) with the 街道 as above; Leaflet.markercluster's JS and CSS are inlined from
                         the ``xstatic-leaflet-markercluster`` package (``pip install -e '.[bench]'``); folium's default
                         callback needs Leaflet.awesome-markers from a CDN, so the callback here makes ``divIcon``
                         markers with the same popup. Left out, with a note, when that package is missing.

Measured per map, in a new tab each run (median of ``--runs``, default 3), from navigation start: first contentful
paint (``performance`` paint entry); the load event (``loadEventEnd``); **first paint of the data** = the load event,
then two animation frames, then the first frame at which the compounds are drawn — planner: the compounds' point
canvas (``canvas.planner-points``) has painted pixels and ``plannerApp.points()['小区覆盖情况'].drawn > 0``; folium
GeoJson: its layer holds the compounds and Leaflet's canvas has painted pixels; FastMarkerCluster: cluster icons are
in the marker pane. The check runs inside the page (a script added before the page's own), so the moment does not
depend on Selenium's round trips. Also the file size and the JS heap in use (``performance.memory``, precise) at that
moment, and any request to a non-local URL (an offline map makes none).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/map_paint.py --scenario scenarios/demo.toml
    PYTHONPATH=. .venv/bin/python benchmarks/map_paint.py --run /tmp/paint14-1m --runs 3
    PYTHONPATH=. .venv/bin/python benchmarks/map_paint.py --run OUT --keep /tmp/peers   # keep the peer maps

Nothing is written into the repository: peer maps (and a ``--scenario`` run) go to a temp folder or ``--keep DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIEWPORT = (1280, 720)
PAINT_TARGET_S = 5.0  # issue #14: the map's data painted within 5 s at the 1 M-node city
SIZE_TARGET_MB = 30.0  # ... from a file of at most 30 MB
LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")
CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-extensions",
    "--disable-sync",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
    "--enable-precise-memory-info",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)

# Added to every page before its own scripts: after the load event and two animation frames, checks once per frame
# whether the data are drawn (``CHECKS[kind]``) and records the moment (ms from navigation start) and the JS heap.
PROBE = """
(function () {
  var P = window.__paint = {done: false};
  var spec = %(spec)s, limit = %(limit_ms)d;
  function painted(c) {
    if (!c || !c.width || !c.height) return false;
    var d;
    try { d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data; } catch (e) { return false; }
    for (var i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
    return false;
  }
  function drawn() {
    try { %(check)s } catch (e) { P.error = String(e); return false; }
  }
  addEventListener("load", function () {
    P.load = performance.now();
    requestAnimationFrame(function () {
      requestAnimationFrame(function tick() {
        if (drawn()) {
          P.drawn = performance.now();
        } else if (performance.now() - P.load < limit) {
          requestAnimationFrame(tick);
          return;
        }
        P.heap = performance.memory ? performance.memory.usedJSHeapSize : null;
        P.done = true;
      });
    });
  });
})();
"""

#: JavaScript bodies of ``drawn()`` per kind of map (``spec`` holds what the page calls its layer)
CHECKS = {
    # planner: the compounds' PointCanvas reports points drawn and its canvas has painted pixels
    "planner": """
      var app = window.plannerApp;
      if (!app || !app.points || !app.overlays) return false;
      var pts = app.points(), key = spec.labels.filter(function (k) { return k in pts; })[0];
      if (!key || !(pts[key].drawn > 0)) return false;
      var layer = app.overlays[key].layer; layer = layer._inner || layer;
      return painted(layer._canvas);""",
    # folium GeoJson on Leaflet's canvas renderer: the layer holds the compounds and a canvas has painted pixels
    "leaflet_canvas": """
      var layer = window[spec.layer];
      if (!layer || !layer.getLayers().length) return false;
      var cs = document.querySelectorAll(".leaflet-overlay-pane canvas");
      for (var i = 0; i < cs.length; i++) if (painted(cs[i])) return true;
      return false;""",
    # marker clusters: cluster (or single marker) icons are in the marker pane
    "marker_cluster": """
      var layer = window[spec.layer];
      if (!layer) return false;
      return document.querySelectorAll(".leaflet-marker-pane .leaflet-marker-icon").length > 0;""",
}


@dataclass
class MapPage:
    """One map to measure: its label in the table, its file and how to tell that its data are drawn."""

    label: str
    path: Path
    kind: str  # a key of CHECKS
    spec: dict = field(default_factory=dict)
    note: str = ""


@dataclass
class Sample:
    """One page load: times in seconds from navigation start (None: not reached), heap in bytes."""

    fcp_s: float | None
    load_s: float | None
    drawn_s: float | None
    heap_b: float | None
    external: list[str] = field(default_factory=list)
    error: str = ""


# --------------------------------------------------------------------------------------------------------------
# pure helpers
# --------------------------------------------------------------------------------------------------------------


def probe_script(kind: str, spec: dict, limit_s: float) -> str:
    """The script added to a page before its own: records ``window.__paint`` (load, drawn, heap)."""
    return PROBE % {"spec": json.dumps(spec, ensure_ascii=False), "limit_ms": int(limit_s * 1000), "check": CHECKS[kind]}


def sample_from(paint: dict | None, fcp_ms: float | None, load_end_ms: float | None, resources: list[str]) -> Sample:
    """A :class:`Sample` from what the page recorded (milliseconds from navigation start)."""
    paint = paint or {}

    def sec(ms: float | None) -> float | None:
        return None if ms is None else ms / 1000.0

    external = sorted({u for u in resources if not u.startswith(LOCAL_SCHEMES)})
    return Sample(fcp_s=sec(fcp_ms), load_s=sec(load_end_ms), drawn_s=sec(paint.get("drawn")), heap_b=paint.get("heap"),
                  external=external, error=str(paint.get("error", "")))


def median_or_none(values: list[float | None]) -> float | None:
    """The median of the values; None when any is None (a run that never got there makes the figure unknown)."""
    if not values or any(v is None for v in values):
        return None
    return float(statistics.median(values))


def summarise(samples: list[Sample]) -> dict:
    """Medians over the runs of one map."""
    return {
        "fcp_s": median_or_none([s.fcp_s for s in samples]),
        "load_s": median_or_none([s.load_s for s in samples]),
        "drawn_s": median_or_none([s.drawn_s for s in samples]),
        "heap_mib": median_or_none([None if s.heap_b is None else s.heap_b / 2**20 for s in samples]),
        "runs": len(samples),
        "drawn_runs": sum(s.drawn_s is not None for s in samples),
        "external": sorted({u for s in samples for u in s.external}),
        "drawn_all_s": [s.drawn_s for s in samples],
    }


def ratio(value: float | None, base: float | None) -> str:
    """``value / base`` as ``"2.35×"``; ``"—"`` when either is unknown or base is 0."""
    if value is None or base is None or base == 0:
        return "—"
    return f"{value / base:.2f}×"


def fmt(value: float | None, digits: int = 2, missing: str = "—") -> str:
    return missing if value is None else f"{value:.{digits}f}"


def format_table(rows: list[dict], *, timeout_s: float) -> str:
    """The comparison table; the first row is planner, ratios are each row's figure over planner's."""
    head = f"{'map':<28}{'size MB':>9}{'data drawn s':>14}{'load s':>8}{'FCP s':>7}{'heap MiB':>10}{'drawn ×':>9}{'size ×':>8}{'heap ×':>8}"
    lines = [head, "-" * len(head)]
    base = rows[0] if rows else {}
    for r in rows:
        drawn = fmt(r["drawn_s"]) if r["drawn_s"] is not None else f"> {timeout_s:.0f}"
        if r["drawn_s"] is not None and r["drawn_runs"] < r["runs"]:
            drawn += "*"
        lines.append(
            f"{r['label']:<28}{r['size_mb']:>9.1f}{drawn:>14}{fmt(r['load_s']):>8}{fmt(r['fcp_s']):>7}"
            f"{fmt(r['heap_mib'], 0):>10}{ratio(r['drawn_s'], base.get('drawn_s')):>9}"
            f"{ratio(r['size_mb'], base.get('size_mb')):>8}{ratio(r['heap_mib'], base.get('heap_mib')):>8}"
        )
    return "\n".join(lines)


def machine() -> str:
    """One line describing the machine: CPU model, cores, memory, load average, OS."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split("MemTotal:", 1)[1].split()[0])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    load = ", load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return f"{cpu}, {os.cpu_count()} logical CPUs{mem}{load}; {platform.system()} {platform.release()}"


# --------------------------------------------------------------------------------------------------------------
# the peers
# --------------------------------------------------------------------------------------------------------------


def read_run(run: Path):
    """The run's compounds and 街道 (WGS84), as the peers draw them."""
    import geopandas as gpd

    compounds = gpd.read_file(run / "compounds.gpkg", columns=["name", "population"], engine="pyogrio").to_crs(4326)
    zones_file = run / "subdistricts.gpkg"
    zones = gpd.read_file(zones_file, columns=["name"], engine="pyogrio").to_crs(4326) if zones_file.exists() else None
    compounds = compounds[~compounds.geometry.is_empty & compounds.geometry.notna()]
    return compounds, zones


def _base_map(compounds, zones):
    import folium

    from planner.outputs.basemaps import offline_map

    minx, miny, maxx, maxy = compounds.total_bounds
    fmap = offline_map([(miny + maxy) / 2, (minx + maxx) / 2], tiles=None)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    if zones is not None and len(zones):
        folium.GeoJson(
            zones, name="街道", style_function=lambda _f: {"color": "#555", "weight": 1.5, "fillOpacity": 0.05},
            tooltip=folium.GeoJsonTooltip(["name"], aliases=["街道"]),
        ).add_to(fmap)
    return fmap


def folium_geojson(compounds, zones, path: Path) -> MapPage:
    """Compounds as one ``folium.GeoJson`` of CircleMarkers with a popup, 街道 as GeoJson, on Leaflet's canvas."""
    import folium

    fmap = _base_map(compounds, zones)
    data = compounds[["name", "population", "geometry"]].copy()
    data["population"] = data["population"].astype("float").round().astype("Int64")
    layer = folium.GeoJson(
        data, name="小区",
        marker=folium.CircleMarker(radius=4, color="#2166ac", weight=1, fill=True, fill_opacity=0.8),
        popup=folium.GeoJsonPopup(["name", "population"], aliases=["小区", "人口"]),
    )
    layer.add_to(fmap)
    fmap.save(str(path))
    return MapPage("folium GeoJson", path, "leaflet_canvas", {"layer": layer.get_name()},
                   note="no streets: the walk network as a folium GeoJSON (2 M edges at the 1 M-node city) is not a map a browser opens")


_CLUSTER_CALLBACK = """function (row) {
  var marker = L.marker(new L.LatLng(row[0], row[1]), {icon: L.divIcon({className: "pt", iconSize: [8, 8]})});
  marker.bindPopup("小区: " + row[2] + "<br>人口: " + row[3]);
  return marker;
}"""


def markercluster_assets() -> tuple[str, str] | None:
    """Leaflet.markercluster's JS and CSS from the installed ``xstatic-leaflet-markercluster``, or None."""
    try:
        from xstatic.pkg import leaflet_markercluster as xs
    except ImportError:
        return None
    base = Path(xs.BASE_DIR)
    css = (base / "MarkerCluster.css").read_text(encoding="utf-8") + (base / "MarkerCluster.Default.css").read_text(encoding="utf-8")
    return (base / "leaflet.markercluster.js").read_text(encoding="utf-8"), css


def folium_cluster(compounds, zones, path: Path) -> MapPage | None:
    """Compounds through ``folium.plugins.FastMarkerCluster`` (JS inlined from an installed package), 街道 as GeoJson."""
    import folium
    from folium.plugins import FastMarkerCluster

    assets = markercluster_assets()
    if assets is None:
        return None
    fmap = _base_map(compounds, zones)
    fmap.options["max_zoom"] = 19  # Leaflet.markercluster throws on a map without tile layers unless it has a maxZoom
    js, css = assets
    header = fmap.get_root().header
    header.add_child(folium.Element(f"<style>{css}</style>"), name="markercluster_css_inline")
    header.add_child(folium.Element(f"<script>{js}</script>"), name="markercluster_js_inline")
    names = compounds["name"].fillna("").astype(str).to_numpy()
    pop = compounds["population"].fillna(0).round().astype("int64").to_numpy()
    rows = [[float(y), float(x), n, int(p)] for x, y, n, p in
            zip(compounds.geometry.x.to_numpy(), compounds.geometry.y.to_numpy(), names, pop, strict=True)]
    cluster = FastMarkerCluster(rows, callback=_CLUSTER_CALLBACK, name="小区")
    cluster.default_js = []  # inlined above instead of folium's CDN links
    cluster.default_css = []
    cluster.add_to(fmap)
    fmap.get_root().header.add_child(folium.Element("<style>.pt{background:#2166ac;border-radius:50%}</style>"), name="pt_css")
    fmap.save(str(path))
    return MapPage("folium FastMarkerCluster", path, "marker_cluster", {"layer": cluster.get_name()},
                   note="Leaflet.markercluster 1.4.1 inlined from xstatic-leaflet-markercluster; divIcon markers "
                        "(folium's default callback needs Leaflet.awesome-markers from a CDN)")


def planner_page(run: Path) -> MapPage:
    from planner.labels import tr

    return MapPage("planner", run / "index.html", "planner", {"labels": [tr("ui.compounds", "zh"), tr("ui.compounds", "en")]})


# --------------------------------------------------------------------------------------------------------------
# the browser
# --------------------------------------------------------------------------------------------------------------


def start_browser():
    """Headless Chromium through the system chromedriver (Selenium Manager is never asked to download one)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        sys.exit("需要 chromium 与 chromedriver / needs chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (*CHROME_ARGS, f"--window-size={VIEWPORT[0]},{VIEWPORT[1] + 200}"):
        options.add_argument(arg)
    service = Service(executable_path=driver_path, log_output=os.devnull, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(service=service, options=options)
    return driver, service.process.pid


def stop_browser(driver, pid: int) -> None:
    with contextlib.suppress(Exception):
        driver.quit()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def measure_once(driver, page: MapPage, timeout_s: float, screenshot: Path | None = None) -> Sample:
    """Open ``page`` in a new tab, wait until its probe is done (or ``timeout_s``), read the figures, close the tab
    (after saving a screenshot of the viewport to ``screenshot`` when given)."""
    from selenium.common.exceptions import TimeoutException, WebDriverException

    home = driver.current_window_handle
    driver.switch_to.new_window("tab")
    try:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False})
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": probe_script(page.kind, page.spec, timeout_s)})
        driver.set_page_load_timeout(timeout_s + 60)
        try:
            driver.get(page.path.resolve().as_uri())
        except TimeoutException:
            return Sample(None, None, None, None, error="page did not load")
        paint: dict = {}
        until = time.monotonic() + timeout_s + 10
        while time.monotonic() < until:
            paint = driver.execute_script("return window.__paint || null") or {}
            if paint.get("done"):
                break
            time.sleep(0.1)
        fcp = driver.execute_script(
            "var e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null")
        load_end = driver.execute_script(
            "var e = performance.getEntriesByType('navigation')[0]; return e && e.loadEventEnd ? e.loadEventEnd : null")
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
        if screenshot is not None:
            driver.save_screenshot(str(screenshot))
        return sample_from(paint, fcp, load_end, resources or [])
    except WebDriverException as exc:
        return Sample(None, None, None, None, error=f"browser: {exc.msg}")
    finally:
        with contextlib.suppress(Exception):
            driver.close()
            driver.switch_to.window(home)


def measure(pages: list[MapPage], runs: int, timeout_s: float, shots: Path | None = None) -> tuple[list[dict], str]:
    """Every page ``runs`` times (pages interleaved run by run), medians per page, and the browser's version;
    screenshots of the first run into ``shots`` when given."""
    driver, pid = start_browser()
    samples: dict[str, list[Sample]] = {p.label: [] for p in pages}
    try:
        version = driver.capabilities.get("browserVersion", "?")
        driver.get("about:blank")
        for i in range(runs):
            for page in pages:
                shot = shots / f"{page.path.stem}.png" if shots is not None and i == 0 else None
                s = measure_once(driver, page, timeout_s, shot)
                samples[page.label].append(s)
                print(f"  run {i + 1}/{runs} {page.label}: data drawn {fmt(s.drawn_s)} s, load {fmt(s.load_s)} s"
                      + (f" ({s.error})" if s.error else ""), flush=True)
    finally:
        stop_browser(driver, pid)
    rows = []
    for page in pages:
        row = summarise(samples[page.label])
        row.update(label=page.label, size_mb=page.path.stat().st_size / 1e6, note=page.note)
        rows.append(row)
    return rows, version


# --------------------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------------------


def run_planner(scenario: Path, out: Path) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "planner.cli", "run", str(scenario), "--out", str(out), "-q"], check=True, cwd=REPO, env=env)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", type=Path, help="run planner on this scenario (into a temp folder) and measure its map")
    src.add_argument("--run", type=Path, help="an existing planner output folder (index.html, compounds.gpkg, subdistricts.gpkg)")
    ap.add_argument("--runs", type=int, default=3, help="page loads per map, median reported (default 3)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds after the load event to wait for the data to be drawn")
    ap.add_argument("--peers", default="geojson,cluster", help="comma-separated of geojson, cluster; 'none' for planner only")
    ap.add_argument("--keep", type=Path, help="write the peer maps (and a --scenario run) into this folder and keep them")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--screenshots", type=Path, metavar="DIR", help="save a 1280×720 screenshot of each map (first run) into DIR")
    args = ap.parse_args(argv)
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    if bad := [p for p in peers if p not in ("geojson", "cluster")]:
        ap.error(f"unknown peer {bad}")

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="map_paint_")
    work = Path(args.keep or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.scenario:
            run = work / "planner_out"
            print(f"planner run {args.scenario} → {run} …", flush=True)
            print(f"  done in {run_planner(args.scenario.resolve(), run):.1f} s", flush=True)
        else:
            run = args.run.resolve()
        missing = [n for n in ("index.html", "compounds.gpkg") if not (run / n).exists()]
        if missing:
            sys.exit(f"{run} 中缺少 / is missing {', '.join(missing)}: give a planner output folder (--run) or a scenario (--scenario)")
        pages = [planner_page(run)]
        notes = []
        if peers:
            t0 = time.perf_counter()
            compounds, zones = read_run(run)
            if "geojson" in peers:
                pages.append(folium_geojson(compounds, zones, work / "peer_folium_geojson.html"))
            if "cluster" in peers:
                page = folium_cluster(compounds, zones, work / "peer_folium_cluster.html")
                if page is None:
                    notes.append("folium FastMarkerCluster left out: Leaflet.markercluster is not installed "
                                 "(pip install xstatic-leaflet-markercluster, or -e '.[bench]'); folium would load it from a CDN")
                else:
                    pages.append(page)
            print(f"peers built from {len(compounds):,} compounds and {0 if zones is None else len(zones)} 街道 "
                  f"in {time.perf_counter() - t0:.1f} s", flush=True)
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        rows, version = measure(pages, args.runs, args.timeout, args.screenshots)
        print(f"\n== map first paint: {run} ({len(compounds) if peers else '?'} compounds), headless Chromium {version}, "
              f"{VIEWPORT[0]}×{VIEWPORT[1]}, median of {args.runs} ==")
        print(format_table(rows, timeout_s=args.timeout))
        print("ratios: each map's figure over planner's (> 1: planner is faster / smaller); "
              "* = the data were not drawn in every run (median of all runs)")
        for r in rows:
            if r["note"]:
                notes.append(f"{r['label']}: {r['note']}")
            if r["external"]:
                notes.append(f"{r['label']}: requested non-local URLs {r['external'][:3]}")
        for n in notes:
            print(f"note: {n}")
        print(f"machine: {machine()}")
        p = rows[0]
        verdict = ("within" if p["drawn_s"] is not None and p["drawn_s"] <= PAINT_TARGET_S and p["size_mb"] <= SIZE_TARGET_MB
                   else "NOT within")
        print(f"map_paint: planner's data drawn in {fmt(p['drawn_s'])} s, file {p['size_mb']:.1f} MB, heap {fmt(p['heap_mib'], 0)} MiB "
              f"— {verdict} the target ({PAINT_TARGET_S:g} s, {SIZE_TARGET_MB:g} MB)")
        if args.json:
            args.json.write_text(json.dumps({"run": str(run), "chromium": version, "machine": machine(), "rows": rows},
                                            ensure_ascii=False, indent=1), encoding="utf-8")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
