"""The demo gap map in a real (headless) Chromium driven by Selenium, fully offline, at 1280×720.

The demo scenario is run once (``demo_run`` in conftest.py); its ``index.html`` is opened from disk in the
session's shared browser (``browser`` in conftest.py) with all networking cut off. The page must load without
console errors, uncaught exceptions or failed/non-local requests; show its side panel (search, the four views,
the legend, the grouped layers) beside the map, not over it; draw every compound and the view's facilities in
``summary.json``; colour each compound by its walking-time band of the view, as computed here from
``compounds.csv``; open popups on a click that nothing covers; find 小区, facilities, 街道 and sites by name; ring
the compounds a facility serves; draw a suggested site's catchment; and not render blank. The detector tests prove
the checks can fail.

The map is found through ``window.plannerApp`` ({map, view, views, setView(key), overlays, points(), …},
planner/outputs/map_app.js).

Skipped when Chromium or chromedriver is missing (``.ci/run`` installs Debian's ``chromium`` and ``chromium-driver``).
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _browser import Browser, BrowserError, PageReport, browser_missing, decode_png, live_group_members, load_page

pytestmark = pytest.mark.browser

VIEWPORT = (1280, 720)
PANEL_PX = 300
FRAMES = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"

MAP_STATE_JS = """
(() => {
  if (typeof L === 'undefined') return {error: 'Leaflet (L) is not loaded'};
  const app = window.plannerApp;
  if (!app || !(app.map instanceof L.Map)) return {error: 'window.plannerApp has no map'};
  const text = (sel) => { const el = document.querySelector(sel); return el ? el.innerText : null; };
  const box = app.map.getContainer().getBoundingClientRect();
  let painted = 0, sampled = 0;
  for (const canvas of document.querySelectorAll('canvas.planner-points, .leaflet-overlay-pane canvas')) {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4 * 7) { sampled += 1; painted += data[i] > 0 ? 1 : 0; }
  }
  const shown = app.overlaysShown();
  return {
    view: app.view,
    views: app.views,
    buttons: Array.from(document.querySelectorAll('#planner-views button'), (b) => [b.dataset.view, b.innerText.trim()]),
    groups: Array.from(document.querySelectorAll('#planner-layers summary'), (s) => s.innerText.trim()),
    layerLabels: Array.from(document.querySelectorAll('#planner-layers label'), (l) => l.innerText.trim()),
    shown: Object.keys(shown).filter((k) => shown[k]),
    points: app.points(),
    mapBox: [box.left, box.top, box.width, box.height],
    panelWidth: document.getElementById('planner-panel').getBoundingClientRect().width,
    paintedShare: sampled ? painted / sampled : 0,
    title: text('#planner-title'),
    legend: text('#planner-legend'),
    search: document.getElementById('planner-search') ? document.getElementById('planner-search').placeholder : null,
  };
})()
"""


# --------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def browser_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this module keeps its screenshots and test pages (not in the shared demo run)."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def summary(demo_run: Path) -> dict[str, Any]:
    """The demo run's ``summary.json`` (``demo_run`` comes from conftest.py)."""
    return json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compounds_csv(demo_run: Path) -> pd.DataFrame:
    return pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig")


@pytest.fixture(scope="module")
def demo_page(browser: Browser, demo_run: Path, browser_dir: Path) -> PageReport:
    """The demo map opened once at 1280×720; the screenshot is saved as ``browser_dir/demo.png``."""
    report = browser.open(demo_run / "index.html", expressions={"state": MAP_STATE_JS}, viewport=VIEWPORT)
    assert report.screenshot is not None
    (browser_dir / "demo.png").write_bytes(report.screenshot)
    return report


@pytest.fixture(scope="module")
def state(demo_page: PageReport) -> dict[str, Any]:
    """What ``MAP_STATE_JS`` found in the rendered demo map."""
    value = demo_page.values["state"]
    assert isinstance(value, dict), demo_page.evaluation_errors
    assert "error" not in value, value["error"]
    return value


@pytest.fixture()
def page(browser: Browser, demo_run: Path) -> Browser:
    """The demo map freshly opened (a test may change its view, popups and layers)."""
    report = browser.open(demo_run / "index.html", screenshot=False, viewport=VIEWPORT)
    assert report.problems == [], report.problems
    return browser


def _set_view(browser: Browser, key: str) -> None:
    browser.evaluate(f"Promise.resolve(window.plannerApp.setView({json.dumps(key)})).then(() => {FRAMES})")
    assert browser.evaluate("window.plannerApp.view") == key


def _popup_text(browser: Browser) -> str | None:
    # the last popup in the page: the one before may still be fading out
    return browser.evaluate(f"{FRAMES}.then(() => {{ const all = document.querySelectorAll('.leaflet-popup-content'); "
                            "return all.length ? all[all.length - 1].innerText : null; })")


# the bands of a view computed here from compounds.csv (planner.outputs.map_views does it in the run)
def _bands(compounds: pd.DataFrame, cats: list[str], thresholds_m: list[float], *, farthest: bool) -> np.ndarray:
    dist = compounds[[f"dist_m__{c}" for c in cats]].to_numpy(dtype=float)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    metres = dist.max(axis=1) if farthest else dist.min(axis=1)
    band = np.searchsorted(np.asarray(thresholds_m) + 1e-6, metres, side="left")
    return np.where(compounds["reachable"].astype(bool).to_numpy(), band, -1)


# --------------------------------------------------------------------------------------------------
# the demo map


def test_no_console_errors_exceptions_or_network(demo_page: PageReport) -> None:
    assert demo_page.problems == [], "problems while loading the map:\n" + "\n".join(demo_page.problems)
    assert [u for u in demo_page.requests if not u.startswith("data:")] == [demo_page.url]
    # one self-contained file: no sibling files either (they would be missing when the map is sent on)
    others = [u for u in demo_page.requests + demo_page.resources if u.startswith("file:") and u != demo_page.url]
    assert others == [], f"the map loads other local files: {others}"


def test_panel_beside_the_map_with_views_search_legend_and_layers(state: dict[str, Any]) -> None:
    assert state["views"] == ["elderly", "childcare", "circle", "compliance"]
    assert state["buttons"] == [["elderly", "养老"], ["childcare", "托育"], ["circle", "一刻钟便民生活圈"], ["compliance", "街道达标"]]
    assert state["view"] == "elderly" and state["legend"].startswith("哪里的老人步行 15 分钟内没有养老服务？")
    for band in ("5 分钟内", "5–10 分钟", "10–15 分钟", "超过 15 分钟或不可达"):
        assert band in state["legend"]
    assert state["groups"][:4] == ["底图", "街道", "步行等时圈", "小区"]
    assert {"步行路网", "街道边界", "街道名称", "小区覆盖情况", "养老 · 15 分钟等时圈", "建议选址"} <= set(state["layerLabels"])
    assert "示例数据（虚构）" in (state["title"] or "")
    assert state["search"] == "搜索小区、设施、街道…"
    # the map ends where the panel begins: nothing of the panel lies over the map
    left, top, width, height = state["mapBox"]
    assert (left, top, height) == (0, 0, VIEWPORT[1]) and width == VIEWPORT[0] - PANEL_PX == VIEWPORT[0] - state["panelWidth"]


def test_points_drawn_match_summary(state: dict[str, Any], summary: dict[str, Any]) -> None:
    points = state["points"]
    compounds = points["小区覆盖情况"]
    # every compound is in the layer and, framed at start, drawn (the one off the network as a dashed ring)
    assert compounds["total"] == compounds["drawn"] == summary["compounds"]["count"]
    by_cat = summary["facilities"]["by_category"]
    shown = {name: p for name, p in points.items() if p["shown"] and name != "小区覆盖情况"}
    # the 养老 view shows only its facilities (the taxonomy's elderly group, the demo's own 老年活动室 too), each layer
    # labelled with its size
    elderly = {"综合性养老服务中心", "社区养老服务站", "养老院", "老年助餐点", "老年活动室"}
    assert shown and all(re.sub(r" \(\d+\)$", "", n) in elderly for n in shown), list(shown)
    for name, p in shown.items():
        assert name.endswith(f"({p['total']})") and p["drawn"] == p["total"]
    assert sum(p["total"] for p in shown.values()) == sum(by_cat.get(c, 0) for c in summary["categories_by_group"]["elderly"])


def test_layers_are_drawn(state: dict[str, Any]) -> None:
    assert state["paintedShare"] > 0.02, f"point and overlay canvases nearly empty ({state['paintedShare']:.1%} painted)"


def _assert_not_blank(png: bytes, viewport: tuple[int, int]) -> None:
    image = decode_png(png)
    assert (image.width, image.height) == viewport
    assert len(image.histogram(step=2)) > 200, "too few colours: the page looks blank"
    assert image.dominant_share(step=2) < 0.8
    # the middle of the map is map only (the title sits at its top left, the panel beside it)
    w, h = viewport[0] - PANEL_PX, viewport[1]
    middle = (w // 4, h // 4, w * 3 // 4, h * 3 // 4)
    assert len(image.histogram(step=2, box=middle)) > 50
    assert image.dominant_share(step=2, box=middle) < 0.95


def test_screenshot_not_blank(demo_page: PageReport, browser_dir: Path) -> None:
    assert demo_page.screenshot is not None
    _assert_not_blank(demo_page.screenshot, VIEWPORT)
    assert (browser_dir / "demo.png").stat().st_size > 10_000


def test_each_thematic_view_renders(page: Browser, browser_dir: Path, summary: dict[str, Any]) -> None:
    """Each view switched to: its button active, its question first in the legend, only its facilities shown,
    a screenshot at 1280×720 not blank, no console errors."""
    questions = {"elderly": "哪里的老人", "childcare": "哪里的婴幼儿", "circle": "哪些小区 15 分钟内基本业态不全", "compliance": "哪些街道未达标"}
    for key in page.evaluate("window.plannerApp.views"):
        _set_view(page, key)
        got = page.evaluate(MAP_STATE_JS)
        assert got["legend"].startswith(questions[key]), got["legend"]
        assert page.evaluate("document.querySelector('#planner-views button.active').dataset.view") == key
        png = page.driver.get_screenshot_as_png()
        (browser_dir / f"view-{key}.png").write_bytes(png)
        _assert_not_blank(png, VIEWPORT)
        if key == "childcare":
            shown = [n for n, p in got["points"].items() if p["shown"] and n != "小区覆盖情况"]
            assert shown == [f"托育机构 ({summary['facilities']['by_category']['childcare']})"]
    errors = [m for m in page.console() if m.is_error]
    assert errors == [], errors


# the fill of each compound drawn alone (no other compound within reach of its circle), read from its canvas
COLOURS_JS = """
(() => {
  const app = window.plannerApp, map = app.map, t = app.compoundTable();
  const canvas = document.querySelector('canvas.planner-points'), ctx = canvas.getContext('2d');
  const ratio = canvas.width / canvas.getBoundingClientRect().width;
  const pts = t.ll.map((ll) => map.latLngToContainerPoint(ll)), r = t.cols.r.map((v) => v / 10), out = {};
  for (let i = 0; i < pts.length; i++) {
    let alone = pts[i].x > 5 && pts[i].y > 5 && pts[i].x < canvas.width / ratio - 5 && pts[i].y < canvas.height / ratio - 5;
    for (let j = 0; alone && j < pts.length; j++) if (j !== i && pts[i].distanceTo(pts[j]) < r[i] + r[j] + 2) alone = false;
    if (!alone) continue;
    const d = ctx.getImageData(Math.round(pts[i].x * ratio), Math.round(pts[i].y * ratio), 1, 1).data;
    out[i] = [d[0], d[1], d[2], d[3]];
  }
  return out;
})()
"""


@pytest.mark.parametrize(("view", "cats", "farthest"), [
    ("elderly", ("elderly_centre", "elderly_station", "elderly_home", "meal_point", "elderly_activity"), False),
    ("childcare", ("childcare",), False),
    ("circle", ("pharmacy", "market", "supermarket", "convenience", "breakfast", "post_parcel", "hairdresser", "laundry",
                "repair"), True),
])
def test_compounds_are_coloured_by_their_band(page: Browser, compounds_csv: pd.DataFrame, summary: dict[str, Any], view: str,
                                               cats: tuple[str, ...], farthest: bool) -> None:
    """Each compound's fill is the colour of its band in the view, the band computed here from compounds.csv:
    the nearest facility of the view (for the 一刻钟 circle the farthest of the nearest basic formats) against the
    thresholds in metres at the speed of the view's walkers (养老: the elderly's, 托育: carers', the circle: adults')."""
    from planner.outputs.map_views import band_colours

    analysed = [c for c in cats if c in summary["categories"]]
    walker = {"elderly": "elderly", "childcare": "carers"}.get(view, "adults")
    bands = _bands(compounds_csv, analysed, [t * summary["walking_speeds"][walker] for t in summary["thresholds_min"]],
                   farthest=farthest)
    _set_view(page, view)
    colours = page.evaluate(COLOURS_JS)
    assert len(colours) > 30, "too few compounds drawn apart from the others to check"
    seen = set()
    for i, rgba in colours.items():
        b = int(bands[int(i)])
        expected = "#ffffff" if b < 0 else band_colours(len(summary["thresholds_m"]))[b]
        want = [int(expected[k:k + 2], 16) for k in (1, 3, 5)]
        assert rgba[3] > 200 and all(abs(a - w) <= 3 for a, w in zip(rgba[:3], want, strict=True)), (view, i, rgba, expected)
        seen.add(b)
    assert len(seen) >= 2, f"the demo should show several bands in {view}: {seen}"


# A real click on the map where a compound is drawn: the page finds the compound under the pointer and opens its
# popup. The popup must then be on top (the point in the middle of its content is the popup's) after Leaflet pans.
CLICK_JS = """
(async () => {
  const app = window.plannerApp, map = app.map, t = app.compoundTable(), box = map.getContainer().getBoundingClientRect();
  for (let i = 0; i < t.ll.length; i++) {
    const p = map.latLngToContainerPoint(t.ll[i]);
    if (p.x < 150 || p.y < 150 || p.x > box.width - 150 || p.y > box.height - 150) continue;
    const x = box.left + p.x, y = box.top + p.y, target = document.elementFromPoint(x, y);
    target.dispatchEvent(new MouseEvent('mousedown', {clientX: x, clientY: y, bubbles: true}));
    target.dispatchEvent(new MouseEvent('click', {clientX: x, clientY: y, bubbles: true}));
    await new Promise((r) => setTimeout(r, 600));  // Leaflet pans the map to show the whole popup
    const popup = document.querySelector('.leaflet-popup-content');
    if (!popup) continue;
    const r = popup.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 20));
    return {index: i, name: t.name[i], popup: popup.innerText, bold: popup.querySelector('b') ? popup.querySelector('b').innerText : null,
            onTop: Boolean(top && top.closest('.leaflet-popup')),
            coveredBy: !top ? 'nothing: outside the window' : top.closest('.leaflet-popup') ? null
              : (top.closest('[id]') ? '#' + top.closest('[id]').id : top.className || top.tagName)};
  }
  return null;
})()
"""


def test_clicking_a_compound_opens_its_popup_on_top(page: Browser, compounds_csv: pd.DataFrame) -> None:
    click = page.evaluate(CLICK_JS)
    assert click is not None, "no compound opened a popup when clicked"
    row = compounds_csv.iloc[click["index"]]
    assert click["bold"] == click["name"] == str(row["name"])
    assert "步行到最近养老设施" in click["popup"] and str(row["zone_name"]) in click["popup"]
    assert click["onTop"], f"the popup is covered by {click['coveredBy']}"


def test_search_finds_and_opens(page: Browser, compounds_csv: pd.DataFrame) -> None:
    from selenium.webdriver.common.by import By

    box = page.driver.find_element(By.ID, "planner-search")
    box.send_keys("翠湖")
    time.sleep(0.3)
    items = page.driver.find_elements(By.CSS_SELECTOR, "#planner-search-results li")
    names = [i.text.split(" ")[0].split("\n")[0] for i in items]
    expected = sorted(n for n in compounds_csv["name"].astype(str) if "翠湖" in n)
    assert sorted(names) == expected[:12] and expected
    items[0].click()
    text = _popup_text(page)
    assert text is not None and text.startswith(names[0])
    # nothing found says so
    box.clear()
    box.send_keys("不存在的名字")
    time.sleep(0.3)
    assert page.driver.find_element(By.ID, "planner-search-results").text == "没有找到"


def test_zone_popup_is_compact_with_rules_and_link(page: Browser, demo_run: Path) -> None:
    compliance = pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig")
    zone = compliance[compliance["subdistrict"] != "全市"].iloc[0]
    _set_view(page, "compliance")
    assert page.evaluate(f"window.plannerApp.go({json.dumps(zone['subdistrict_name'])})")
    text = _popup_text(page)
    assert text is not None and text.startswith(zone["subdistrict_name"])
    assert "已达标指标占比" in text
    failing = compliance[(compliance["subdistrict"] == zone["subdistrict"]) & (compliance["status"] == "fail")]
    shown = min(len(failing), 8)
    assert text.count("✘") == shown
    if len(failing) > 8:
        assert f"另有 {len(failing) - 8} 项" in text
    link = page.evaluate("document.querySelector('.leaflet-popup-content a').getAttribute('href')")
    assert link == "report.html#compliance-matrix"
    height = page.evaluate("document.querySelector('.leaflet-popup').getBoundingClientRect().height")
    assert height < VIEWPORT[1] - 100, "the 街道 popup should fit on the screen"


def test_facility_click_rings_the_compounds_it_serves(page: Browser, compounds_csv: pd.DataFrame, demo_run: Path,
                                                     summary: dict[str, Any]) -> None:
    facilities = pd.read_csv(demo_run / "facilities.csv", encoding="utf-8-sig")
    childcare = facilities[facilities["category"] == "childcare"]
    assert childcare["name"].is_unique
    id_of = dict(zip(childcare["name"].astype(str), childcare["id"].astype(str), strict=True))
    _set_view(page, "childcare")
    longest = max(summary["thresholds_m"])
    names = page.evaluate("window.plannerApp.facilityNames('childcare')")
    assert sorted(names) == sorted(id_of)
    for j, name in enumerate(names):
        page.evaluate(f"window.plannerApp.clickFacility('childcare', {j})")
        ringed = sorted(page.evaluate("window.plannerApp.ringed()"))
        fid = id_of[name]
        served = compounds_csv[(compounds_csv["nearest_id__childcare"].astype(str) == fid)
                               & (compounds_csv["dist_m__childcare"] <= longest + 1e-6)]
        assert ringed == sorted(served["name"].astype(str)), fid
        assert f"15 分钟内为 {len(served)} 个小区最近的同类设施" in _popup_text(page)
        assert page.evaluate("window.plannerApp.facilityAreaShown()"), "the facility's own isochrone is drawn"
    page.evaluate("(window.plannerApp.map.closePopup(), null)")
    assert not page.evaluate("window.plannerApp.facilityAreaShown()") and page.evaluate("window.plannerApp.ringed()") == []


def test_site_popup_numbers_and_catchment(page: Browser, demo_run: Path) -> None:
    from selenium.webdriver.common.by import By

    sites = pd.read_csv(demo_run / "sites.csv", encoding="utf-8-sig")
    markers = page.driver.find_elements(By.CSS_SELECTOR, ".leaflet-marker-icon.planner-site div")
    assert sorted(int(m.text) for m in markers) == sorted(  # the 养老 view: its tasks' sites, numbered as in sites.csv
        int(n) for n, c, p in zip(sites["no"], sites["category"], sites["partner"].fillna(""), strict=True)
        if c.startswith("elderly") or str(p).startswith("elderly"))
    first = min(markers, key=lambda m: int(m.text))
    first.click()
    text = _popup_text(page)
    row = sites[sites["no"] == int(first.text)].iloc[0]
    assert text is not None and text.startswith(row["title"]) and row["numbers"] in text
    assert page.evaluate("window.plannerApp.catchmentShown()")
    page.evaluate("(window.plannerApp.map.closePopup(), null)")
    assert not page.evaluate("window.plannerApp.catchmentShown()")


def test_panel_folds_away_for_the_full_map(page: Browser) -> None:
    from selenium.webdriver.common.by import By

    page.driver.find_element(By.ID, "planner-panel-toggle").click()
    assert page.evaluate(f"{FRAMES}.then(() => window.plannerApp.map.getContainer().getBoundingClientRect().width)") == VIEWPORT[0]
    assert page.evaluate("getComputedStyle(document.getElementById('planner-panel')).display") == "none"
    page.driver.find_element(By.ID, "planner-panel-toggle").click()
    assert page.evaluate(f"{FRAMES}.then(() => window.plannerApp.map.getContainer().getBoundingClientRect().width)") == VIEWPORT[0] - PANEL_PX


# --------------------------------------------------------------------------------------------------
# the checks above can fail


_BROKEN_HEAD = '<script src="https://cdn.example.com/leaflet.js"></script>'
_BROKEN_BODY = (
    '<img src="missing-tile.png">'
    '<script>console.error("planner-test: deliberate console error")</script>'
    '<script>setTimeout(() => { throw new Error("planner-test: deliberate late boom"); }, 100)</script>'
    '<script>throw new Error("planner-test: deliberate boom")</script>'
)


def test_detector_reports_a_broken_copy_of_the_map(browser: Browser, demo_run: Path, tmp_path: Path) -> None:
    page = (demo_run / "index.html").read_text(encoding="utf-8")
    assert page.count("</head>") == 1 and page.count("</body>") == 1
    broken = page.replace("</head>", _BROKEN_HEAD + "</head>").replace("</body>", _BROKEN_BODY + "</body>")
    path = tmp_path / "broken.html"
    path.write_text(broken, encoding="utf-8")

    report = browser.open(path, screenshot=False, expressions={"state": MAP_STATE_JS, "threw": "null.x"})

    problems = "\n".join(report.problems)
    assert "planner-test: deliberate console error" in problems
    assert "planner-test: deliberate boom" in problems
    assert "planner-test: deliberate late boom" in problems
    assert any("deliberate boom" in e for e in report.exceptions)
    failed = {r.url: r.error for r in report.failed_requests}
    assert failed.get("https://cdn.example.com/leaflet.js", "").startswith("net::ERR_"), failed
    assert failed.get((tmp_path / "missing-tile.png").as_uri()) == "net::ERR_FILE_NOT_FOUND", failed
    assert report.external_requests == ["https://cdn.example.com/leaflet.js"]
    assert any(m.source == "network" and m.is_error for m in report.console)
    assert "TypeError" in report.evaluation_errors["threw"] and report.values["threw"] is None
    # the map itself still works: the failures above are the page's, not the helpers'
    assert "error" not in report.values["state"]


def test_detector_sees_requests_made_after_load(browser: Browser, tmp_path: Path) -> None:
    """A request made by a timer after the load event, and one made by fetch(), are caught too."""
    path = tmp_path / "late.html"
    path.write_text(
        "<!doctype html><body><script>setTimeout(() => { new Image().src = 'http://tiles.example.org/1/2/3.png'; "
        "fetch('https://api.example.org/x').catch(() => {}); }, 150)</script></body>",
        encoding="utf-8",
    )
    report = browser.open(path, screenshot=False)
    assert set(report.external_requests) == {"http://tiles.example.org/1/2/3.png", "https://api.example.org/x"}
    assert {r.url for r in report.failed_requests} == set(report.external_requests)


def test_screenshot_check_fails_on_a_blank_page(browser: Browser, tmp_path: Path) -> None:
    path = tmp_path / "blank.html"
    path.write_text(
        "<!doctype html><body style='margin:0;background:#fff'>"
        "<div style='width:100px;height:50px;background:#f00'></div></body>",
        encoding="utf-8",
    )
    report = browser.open(path, viewport=(400, 300))
    assert report.problems == []
    assert report.screenshot is not None
    image = decode_png(report.screenshot)
    assert (image.width, image.height) == (400, 300)
    assert image.pixel(10, 10)[:3] == (255, 0, 0)
    assert image.pixel(200, 200)[:3] == (255, 255, 255)
    assert len(image.histogram(step=2)) <= 3
    assert image.dominant_share(step=2) > 0.9
    with pytest.raises(AssertionError, match="blank"):
        _assert_not_blank(report.screenshot, (400, 300))


def test_load_page_gives_up_after_its_timeout(tmp_path: Path) -> None:
    """A page that never finishes loading raises BrowserError after the timeout, and its browser is gone."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    path = tmp_path / "busy.html"
    path.write_text("<!doctype html><script>while (true) {}</script>", encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(BrowserError, match="did not finish loading") as caught:
        load_page(path, screenshot=False, timeout_s=3, workdir=tmp_path / "chromium")
    assert time.monotonic() - started < 3 + 15  # the timeout, plus start-up and shut-down
    assert caught.value.browser_pid is not None
    assert live_group_members(caught.value.browser_pid) == [], "Chromium processes left behind"


def test_load_page_closes_its_browser(tmp_path: Path) -> None:
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    path = tmp_path / "ok.html"
    path.write_text("<!doctype html><p>好</p>", encoding="utf-8")
    report = load_page(path, expressions={"text": "document.body.innerText"}, viewport=(320, 200))
    assert report.values == {"text": "好"} and report.problems == []
    assert decode_png(report.screenshot).width == 320
    assert report.browser_pid is not None and live_group_members(report.browser_pid) == []


# --------------------------------------------------------------------------------------------------
# the screenshot helpers, without a browser


def _encode(array: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("channels", [3, 4])
def test_decode_png_pixels_histogram_and_dominant_share(channels: int) -> None:
    # 4 × 3 pixels: eight white, three red, one blue (counted by hand)
    white, red, blue = [255] * channels, [255, 0, 0, 255][:channels], [0, 0, 255, 255][:channels]
    rows = [[white, white, red, white], [white, red, white, white], [red, white, blue, white]]
    image = decode_png(_encode(np.array(rows, dtype=np.uint8)))
    assert (image.width, image.height, image.channels) == (4, 3, channels)
    assert image.pixel(2, 0) == tuple(red) and image.pixel(2, 2) == tuple(blue)
    assert image.histogram() == {bytes(white): 8, bytes(red): 3, bytes(blue): 1}
    assert image.dominant_share() == pytest.approx(8 / 12)
    # every 2nd pixel both ways: (0,0) (2,0) (0,2) (2,2) = white, red, red, blue
    assert image.histogram(step=2) == {bytes(white): 1, bytes(red): 2, bytes(blue): 1}
    assert image.dominant_share(step=2) == pytest.approx(0.5)
    assert image.histogram(box=(2, 2, 4, 3)) == {bytes(blue): 1, bytes(white): 1}
    assert image.dominant_share(box=(10, 10, 20, 20)) == 1.0  # an empty box counts as blank


def test_decode_png_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="not a readable image"):
        decode_png(b"GIF89a not really")
    good = _encode(np.zeros((5, 5, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="not a readable image"):
        decode_png(good[:40])
