"""The demo gap map in a real (headless) Chromium, fully offline.

The demo scenario is run once (``demo_run`` in conftest.py); its ``index.html`` is opened from disk
with all networking cut off. The page must load without console errors, uncaught exceptions or
failed/non-local requests, show its layers in the layer switcher, draw one circle marker per
compound and facility in ``summary.json``, and not render blank. The detector tests prove each of
those checks can fail.

Skipped when no Chromium is installed (``.ci/run`` installs Debian's ``chromium``).
"""

from __future__ import annotations

import html
import json
import re
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _browser import BrowserError, PageReport, decode_png, find_chromium, live_group_members, load_page
from _popups import POPUPS_JS, compound_popup, facility_popup, formats_popup

pytestmark = pytest.mark.browser

VIEWPORT = (1280, 900)

# Folium keeps the map and the layer switcher's contents in globals named map_<id> and
# layer_control_<id>_layers; the counts come from Leaflet's own layers, since with prefer_canvas
# the markers are pixels on a <canvas>, not DOM elements.
MAP_STATE_JS = """
(() => {
  if (typeof L === 'undefined') return {error: 'Leaflet (L) is not loaded'};
  const globals = (re) => Object.keys(window).filter((k) => re.test(k)).map((k) => window[k]);
  const maps = globals(/^map_[0-9a-f]+$/).filter((v) => v instanceof L.Map);
  const controls = globals(/^layer_control_[0-9a-f]+_layers$/);
  if (maps.length !== 1 || controls.length !== 1) {
    return {error: `expected one map and one layer control, found ${maps.length} and ${controls.length}`};
  }
  const map = maps[0];
  const isMarker = (l) => l instanceof L.CircleMarker && !(l instanceof L.Circle);
  const markersIn = (group) => { let n = 0; group.eachLayer((l) => { n += isMarker(l) ? 1 : 0; }); return n; };
  const overlays = {};
  for (const [name, layer] of Object.entries(controls[0].overlays)) {
    overlays[name] = {markers: layer.eachLayer ? markersIn(layer) : 0, shown: map.hasLayer(layer)};
  }
  const view = map.getBounds();
  let onMap = 0, inView = 0;
  map.eachLayer((l) => { if (isMarker(l)) { onMap += 1; inView += view.contains(l.getLatLng()) ? 1 : 0; } });
  // how much of the overlay canvas(es) is painted: proves the markers and lines were drawn
  let painted = 0, sampled = 0;
  for (const canvas of document.querySelectorAll('.leaflet-overlay-pane canvas')) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4 * 7) { sampled += 1; painted += data[i] > 0 ? 1 : 0; }
  }
  const text = (id) => { const el = document.getElementById(id); return el ? el.innerText : null; };
  return {
    overlays,
    onMap,
    inView,
    paintedShare: sampled ? painted / sampled : 0,
    canvases: document.querySelectorAll('.leaflet-overlay-pane canvas').length,
    svgPaths: document.querySelectorAll('.leaflet-overlay-pane path.leaflet-interactive').length,
    labels: Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'), (e) => e.innerText.trim()),
    title: text('planner-title'),
    legend: text('planner-legend'),
    bodyText: document.body.innerText,
  };
})()
"""


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable; the test is skipped when there is none."""
    if sys.platform != "linux":
        pytest.skip("the headless-Chromium helpers are Linux only")
    found = find_chromium()
    if found is None:
        pytest.skip("no chromium, chromium-browser or google-chrome executable on PATH")
    return found


@pytest.fixture(scope="module")
def browser_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this module keeps its screenshot, test pages and Chromium profiles (not in the shared demo run)."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def summary(demo_run: Path) -> dict[str, Any]:
    """The demo run's ``summary.json`` (``demo_run`` comes from conftest.py)."""
    return json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_page(chromium: str, demo_run: Path, browser_dir: Path) -> PageReport:
    """The demo map opened once in headless Chromium; the screenshot is saved as ``browser_dir/demo.png``."""
    report = load_page(
        demo_run / "index.html",
        expressions={"state": MAP_STATE_JS},
        viewport=VIEWPORT,
        executable=chromium,
        workdir=browser_dir / "demo-chromium",
    )
    assert report.screenshot is not None
    (browser_dir / "demo.png").write_bytes(report.screenshot)
    assert report.browser_pid is not None
    assert live_group_members(report.browser_pid) == [], "Chromium processes left behind"
    return report


@pytest.fixture(scope="module")
def state(demo_page: PageReport) -> dict[str, Any]:
    """What ``MAP_STATE_JS`` found in the rendered demo map."""
    value = demo_page.values["state"]
    assert isinstance(value, dict), demo_page.evaluation_errors
    assert "error" not in value, value["error"]
    return value


def _facility_overlays(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: info for name, info in state["overlays"].items() if name.startswith("设施：")}


# --------------------------------------------------------------------------------------------------
# the demo map


def test_no_console_errors_exceptions_or_network(demo_page: PageReport) -> None:
    assert demo_page.problems == [], "problems while loading the map:\n" + "\n".join(demo_page.problems)
    # one self-contained file: no sibling files either (they would be missing when the map is sent on)
    others = [u for u in demo_page.requests if u.startswith("file:") and u != demo_page.url]
    assert others == [], f"the map loads other local files: {others}"


def test_layer_switcher_title_and_legend(state: dict[str, Any]) -> None:
    labels = state["labels"]
    for name in ("步行路网", "街道边界", "小区覆盖情况", "无法接入路网的小区"):
        assert name in labels, f"{name!r} missing from the layer switcher {labels}"
        assert name in state["bodyText"]
    assert any(re.fullmatch(r"设施：便利店 \(\d+\)", label) for label in labels), labels
    assert list(state["overlays"]) == labels, "the switcher should list exactly the map's overlays"
    assert "示例数据（虚构）" in (state["title"] or "")
    assert state["legend"], "legend missing or empty"


def test_marker_counts_match_summary(state: dict[str, Any], summary: dict[str, Any]) -> None:
    overlays = state["overlays"]
    compounds = overlays["小区覆盖情况"]["markers"] + overlays["无法接入路网的小区"]["markers"]
    assert compounds == summary["compounds"]["count"]
    assert overlays["无法接入路网的小区"]["markers"] == summary["compounds"]["unreachable"]

    facilities = _facility_overlays(state)
    assert sum(info["markers"] for info in facilities.values()) == summary["facilities"]["count"]
    for name, info in facilities.items():  # the "(n)" in each label is the layer's size
        assert name.endswith(f"({info['markers']})"), (name, info)

    shown = sum(info["markers"] for info in overlays.values() if info["shown"])
    assert state["onMap"] == shown
    # the demo shows every layer at start (suggested sites too), and the initial view frames all of them
    n_sites = sum(task["sites"] for task in summary.get("siting", []))
    assert overlays.get("建议选址", {"markers": 0})["markers"] == n_sites
    assert state["onMap"] == summary["compounds"]["count"] + summary["facilities"]["count"] + n_sites
    assert state["inView"] == state["onMap"]


def test_layers_are_drawn(state: dict[str, Any]) -> None:
    assert state["canvases"] + state["svgPaths"] > 0, "no Leaflet renderer in the overlay pane"
    if state["canvases"]:
        assert state["paintedShare"] > 0.05, f"overlay canvas nearly empty ({state['paintedShare']:.1%} painted)"


def test_screenshot_not_blank(demo_page: PageReport, browser_dir: Path) -> None:
    assert demo_page.screenshot is not None
    image = decode_png(demo_page.screenshot)
    assert (image.width, image.height) == VIEWPORT
    assert len(image.histogram(step=2)) > 200, "too few colours: the page looks blank"
    assert image.dominant_share(step=2) < 0.8
    # the middle of the viewport is map only (title, legend and layer switcher sit at the edges)
    w, h = VIEWPORT
    middle = (w // 4, h // 4, w * 3 // 4, h * 3 // 4)
    assert len(image.histogram(step=2, box=middle)) > 50
    assert image.dominant_share(step=2, box=middle) < 0.95
    assert (browser_dir / "demo.png").stat().st_size > 10_000


# A real click on the canvas: Leaflet finds the compound under the pointer and opens its popup.
CLICK_JS = """
(() => {
  const globals = (re) => Object.keys(window).filter((k) => re.test(k)).map((k) => window[k]);
  const map = globals(/^map_[0-9a-f]+$/)[0];
  const group = globals(/^layer_control_[0-9a-f]+_layers$/)[0].overlays['小区覆盖情况'];
  const canvas = document.querySelector('.leaflet-overlay-pane canvas');
  const box = map.getContainer().getBoundingClientRect();
  for (const marker of group.getLayers()) {
    const p = map.latLngToContainerPoint(marker.getLatLng());
    if (p.x < 250 || p.y < 120 || p.x > box.width - 250 || p.y > box.height - 120) continue;  // clear of the boxes
    canvas.dispatchEvent(new MouseEvent('click', {clientX: box.left + p.x, clientY: box.top + p.y, bubbles: true}));
    const popup = document.querySelector('.leaflet-popup-content');
    if (!popup) continue;
    const name = group._tooltip._content(marker).innerText.trim();
    return {name, popup: popup.innerText, bold: popup.querySelector('b') ? popup.querySelector('b').innerText : null};
  }
  return null;
})()
"""


def _expected_popups(r) -> dict[str, list[str]]:
    """The popups planner built per feature before #12 (tests/_popups.py), per overlay."""
    lang = r.scenario.language
    comp, table, cov = r.compounds.to_crs(4326), r.coverage.table, r.coverage
    reach = comp["reachable"].to_numpy(dtype=bool)
    each = [
        compound_popup(comp.iloc[i], table.iloc[i], cov.categories, r.taxonomy, lang, cov, r.scenario.max_snap_m, reach[i])
        for i in range(len(comp))
    ]
    n_basic = sum(1 for c in r.taxonomy.categories if c.basic)
    out = {
        "小区覆盖情况": [e for e, ok in zip(each, reach, strict=True) if ok],
        "无法接入路网的小区": [e for e, ok in zip(each, reach, strict=True) if not ok],
        "一刻钟便民生活圈业态完整度": [
            formats_popup(n, k, m, n_basic, lang)
            for n, k, m, ok in zip(comp["name"], comp["formats_present"], comp["formats_missing"].fillna(""), reach, strict=True)
            if ok
        ],
    }
    for cat in r.coverage.categories + tuple(sorted(set(r.facilities["category"]) - set(r.coverage.categories))):
        sub = r.facilities[r.facilities["category"] == cat]
        label = r.taxonomy[cat].label(lang)
        if len(sub):
            out[f"设施：{label} ({len(sub)})"] = [facility_popup(row, label, lang) for _, row in sub.iterrows()]
    return out


@pytest.fixture(scope="module")
def popups(chromium: str, demo_run: Path, browser_dir: Path, demo_result) -> dict[str, Any]:
    """The demo page's popups, a click on a compound, and the expected popups put through the same HTML parser."""
    expected = json.dumps(_expected_popups(demo_result), ensure_ascii=False)
    parse = f"""
    (() => {{
      const out = {{}};
      for (const [name, list] of Object.entries({expected})) {{
        out[name] = list.map((h) => {{
          const div = document.createElement('div');
          div.innerHTML = '<table><tr><td>' + h + '</td></tr></table>';
          return div.querySelector('td').innerHTML;
        }});
      }}
      return out;
    }})()
    """
    report = load_page(demo_run / "index.html", expressions={"popups": POPUPS_JS, "expected": parse, "click": CLICK_JS},
                       screenshot=False, viewport=VIEWPORT, executable=chromium, workdir=browser_dir / "popups-chromium")
    assert report.problems == [], report.problems
    return report.values


def test_clicking_a_compound_opens_its_popup(popups: dict[str, Any], demo_run: Path) -> None:
    click = popups["click"]
    assert click is not None, "no compound marker opened a popup when clicked"
    names = set(pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig")["name"].astype(str))
    assert click["name"] in names
    assert click["bold"] == click["name"]
    assert "15 分钟内可达的服务类别占比" in click["popup"]


def test_popups_are_the_ones_planner_built_per_feature(popups: dict[str, Any], demo_result) -> None:
    """The page's popups, built on click from packed columns, equal the HTML planner built for each feature before."""
    got, expected = popups["popups"], popups["expected"]
    assert len(expected) > 10
    for name, html_list in expected.items():
        assert got[name]["popups"] == html_list, name
    reach = demo_result.compounds["reachable"].to_numpy(dtype=bool)
    names = [html.escape(n) for n, ok in zip(demo_result.compounds["name"], reach, strict=True) if ok]
    assert got["小区覆盖情况"]["tooltips"] == names
    # 街道 popups: the compliance table of each 街道, and its summary
    zones, table = demo_result.zones, demo_result.compliance.table
    assert len(got["街道达标情况"]["popups"]) == len(got["街道边界"]["popups"]) == len(zones)
    first = table[table["subdistrict"] == str(zones.index[0])]
    assert got["街道达标情况"]["popups"][0].count("<tr>") == len(first) + 1
    assert str(zones["name"].iloc[0]) in got["街道边界"]["popups"][0]


# --------------------------------------------------------------------------------------------------
# the checks above can fail


_BROKEN_HEAD = '<script src="https://cdn.example.com/leaflet.js"></script>'
_BROKEN_BODY = (
    '<img src="missing-tile.png">'
    '<script>console.error("planner-test: deliberate console error")</script>'
    '<script>setTimeout(() => { throw new Error("planner-test: deliberate late boom"); }, 100)</script>'
    '<script>throw new Error("planner-test: deliberate boom")</script>'
)


def test_detector_reports_a_broken_copy_of_the_map(chromium: str, demo_run: Path, tmp_path: Path) -> None:
    page = (demo_run / "index.html").read_text(encoding="utf-8")
    assert page.count("</head>") == 1 and page.count("</body>") == 1
    broken = page.replace("</head>", _BROKEN_HEAD + "</head>").replace("</body>", _BROKEN_BODY + "</body>")
    path = tmp_path / "broken.html"
    path.write_text(broken, encoding="utf-8")

    report = load_page(path, screenshot=False, executable=chromium, workdir=tmp_path / "chromium")

    problems = "\n".join(report.problems)
    assert "planner-test: deliberate console error" in problems
    assert "planner-test: deliberate boom" in problems
    assert "planner-test: deliberate late boom" in problems
    failed = {r.url: r.error for r in report.failed_requests}
    assert failed.get("https://cdn.example.com/leaflet.js", "").startswith("net::ERR_"), failed
    assert failed.get((tmp_path / "missing-tile.png").as_uri()) == "net::ERR_FILE_NOT_FOUND", failed
    assert report.external_requests == ["https://cdn.example.com/leaflet.js"]
    assert any(m.source == "network" and m.is_error for m in report.console)


def test_screenshot_check_fails_on_a_blank_page(chromium: str, tmp_path: Path) -> None:
    path = tmp_path / "blank.html"
    path.write_text(
        "<!doctype html><body style='margin:0;background:#fff'>"
        "<div style='width:100px;height:50px;background:#f00'></div></body>",
        encoding="utf-8",
    )
    report = load_page(path, viewport=(400, 300), executable=chromium, workdir=tmp_path / "chromium")
    assert report.problems == []
    assert report.screenshot is not None
    image = decode_png(report.screenshot)
    assert (image.width, image.height) == (400, 300)
    assert image.pixel(10, 10)[:3] == (255, 0, 0)
    assert image.pixel(200, 200)[:3] == (255, 255, 255)
    assert len(image.histogram(step=2)) <= 3
    assert image.dominant_share(step=2) > 0.9


def test_load_page_gives_up_after_its_timeout(chromium: str, tmp_path: Path) -> None:
    path = tmp_path / "busy.html"
    path.write_text("<!doctype html><script>while (true) {}</script>", encoding="utf-8")
    workdir = tmp_path / "chromium"
    started = time.monotonic()
    with pytest.raises(BrowserError, match="did not finish loading|timed out") as caught:
        load_page(path, screenshot=False, timeout_s=3, executable=chromium, workdir=workdir)
    assert time.monotonic() - started < 3 + 15  # the timeout, plus at most 10 s for Chromium to exit
    assert caught.value.browser_pid is not None
    assert live_group_members(caught.value.browser_pid) == [], "Chromium processes left behind"


# --------------------------------------------------------------------------------------------------
# the PNG decoder, without a browser


def _png(width: int, height: int, colour_type: int, rows: list[bytes], filters: list[int]) -> bytes:
    """Encode ``rows`` (raw samples) as a PNG, applying the given filter type to each row."""
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    raw = bytearray()
    prev = bytes(len(rows[0]))
    for row, kind in zip(rows, filters, strict=True):
        out = bytearray()
        for i, x in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 0:
                pred = 0
            elif kind == 1:
                pred = a
            elif kind == 2:
                pred = b
            elif kind == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
            out.append((x - pred) & 0xFF)
        raw += bytes([kind]) + out
        prev = row

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return _PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw))) + _chunk(b"IEND", b"")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@pytest.mark.parametrize("colour_type", [0, 2, 4, 6])
def test_decode_png_all_filters(colour_type: int) -> None:
    width, height = 7, 10
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    rows = [bytes((x * 37 + y * 91 + x * y * 13) % 256 for x in range(width * bpp)) for y in range(height)]
    image = decode_png(_png(width, height, colour_type, rows, [y % 5 for y in range(height)]))
    assert (image.width, image.height, image.channels) == (width, height, bpp)
    assert image.pixels == b"".join(rows)
    assert image.pixel(2, 3) == tuple(rows[3][2 * bpp : 3 * bpp])


def test_decode_png_rejects_bad_input() -> None:
    good = _png(2, 2, 2, [bytes(6), bytes(6)], [0, 0])
    with pytest.raises(ValueError, match="not a PNG"):
        decode_png(b"GIF89a")
    idat_data = len(_PNG_SIGNATURE) + 25 + 8  # signature, IHDR chunk, IDAT length and type
    with pytest.raises(ValueError, match="CRC"):
        decode_png(good[:idat_data] + bytes([good[idat_data] ^ 1]) + good[idat_data + 1 :])
    palette = _PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 3, 0, 0, 0)) + _chunk(b"IEND", b"")
    with pytest.raises(ValueError, match="unsupported"):
        decode_png(palette)
    with pytest.raises(ValueError, match="truncated"):
        decode_png(good[:-20])
    with pytest.raises(ValueError, match="wrong size"):
        decode_png(good.replace(_chunk(b"IDAT", zlib.compress(bytes(14))), _chunk(b"IDAT", zlib.compress(bytes(13)))))
