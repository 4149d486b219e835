"""Print and PNG export of the map's current view, and the north arrow (planner/outputs/map_export.py; #14, deliverable 4).

The structure of what :func:`add_export` puts into a page is checked without a browser. In the shared headless
Chromium (conftest.py ``browser``) the demo gap map (side panel, views, point canvases) at 1280×720: the buttons and
the north arrow are visible and on top; ``plannerExport.png()`` gives a PNG of the map container plus a column
holding the panel's legend, equal to the browser's own rendering of the map where no box sits (point canvases
included: hiding their pane changes it), with the title, scale bar and north arrow where the page shows them and the
legend as the panel shows it, but no search box, view buttons or layer list; each view (plannerApp.setView, exported
at once) gives its own legend and colours; with the panel closed the legend is still drawn; the 导出PNG button
downloads it as 地图.png. Printing (beforeprint, the 打印 button, Chromium's PDF) sizes the map to an A4 landscape
page less the legend column, keeps the title, legend, scale bar, north arrow and attribution, hides the rest of the
panel and the controls, prints one page and restores the screen layout. A tile image that taints the canvas gives a
message suggesting 打印.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import folium
import numpy as np
import pytest
from fontTools.ttLib import TTFont

from planner.outputs.basemaps import offline_map
from planner.outputs.map_export import EXPORT_JS, EXPORT_LABELS, add_export

VIEWPORT = (1280, 720)


def _small_map(lang: str = "zh") -> folium.Map:
    fmap = offline_map([30.0, 120.0], tiles=None)
    folium.CircleMarker([30.0, 120.0], radius=8, color="#d73027", fill=True).add_to(fmap)
    add_export(fmap, lang=lang, title="示例 <地图>")
    return fmap


def _install_options(page: str) -> dict[str, Any]:
    calls = re.findall(r"plannerExportInstall\((map_\w+), (\{.*?\})\);", page)
    assert len(calls) == 1, calls
    return json.loads(calls[0][1])


# --------------------------------------------------------------------------------------------------- no browser


@pytest.mark.parametrize(("lang", "print_label", "png_label", "file"), [("zh", "打印", "导出PNG", "地图.png"),
                                                                        ("en", "Print", "Export PNG", "map.png")])
def test_add_export_puts_script_style_and_labels_in_the_page(lang: str, print_label: str, png_label: str, file: str) -> None:
    page = _small_map(lang).get_root().render()
    options = _install_options(page)
    assert options["labels"]["print"] == print_label
    assert options["labels"]["png"] == png_label
    assert options["labels"]["file"] == file
    assert options["title"] == "示例 <地图>"
    assert "<\\/" not in page.split("plannerExportInstall(map_", 1)[1].split(");", 1)[0]  # nothing to escape here
    assert page.count("function plannerExportInstall(") == 1
    assert "@media print" in page
    # the script loads nothing: its only URL is the SVG namespace
    assert re.findall(r"https?://[^\s\"'<>]+", EXPORT_JS) == ["http://www.w3.org/2000/svg"]
    assert "</script" not in EXPORT_JS.lower()


def test_labels_are_chinese_first() -> None:
    for key, (zh, en) in EXPORT_LABELS.items():
        assert zh and en and zh != en, key
        assert re.search(r"[\u4e00-\u9fff]", zh), key


def test_a_title_with_a_script_end_cannot_break_the_page() -> None:
    fmap = offline_map([30.0, 120.0], tiles=None)
    add_export(fmap, lang="zh", title="</script><script>alert(1)</script>")
    page = fmap.get_root().render()
    assert "</script><script>alert(1)" not in page
    assert _install_options(page)["title"] == "</script><script>alert(1)</script>"


def test_the_embedded_font_covers_the_buttons(tmp_path: Path) -> None:
    """save_map subsets the CJK font from the page's text, \\u escapes included: the buttons' labels are in it."""
    from planner.outputs.maps import save_map

    page = save_map(_small_map("zh"), tmp_path / "m.html").read_text(encoding="utf-8")
    data = re.search(r'font-family:"PlannerCJK";src:url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)', page).group(1)
    cmap = TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap()
    for text in ("打印", "导出", "指北针", "请改用"):
        assert all(ord(c) in cmap for c in text), text


# --------------------------------------------------------------------------------------------------- in a browser

PAD = 10  # the PNG's margin round the legend in its column (map_export.js PAD)

RECTS_JS = """
(() => {
  const rect = (sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height,
            text: el.innerText.trim(), onTop: Boolean(top && (top === el || el.contains(top)))};
  };
  return {print: rect('.planner-export-print'), png: rect('.planner-export-png'), north: rect('.planner-north'),
          legend: rect('#planner-legend'), title: rect('#planner-title'), map: rect('.folium-map'),
          panel: rect('#planner-panel'), search: rect('.planner-search-box'), views: rect('#planner-views'),
          layers: rect('#planner-layers'), toggle: rect('#planner-panel-toggle'), scale: rect('.leaflet-control-scale'),
          zoom: rect('.leaflet-control-zoom'), width: innerWidth, height: innerHeight, view: plannerApp.view,
          question: document.querySelector('#planner-legend .planner-legend-title').innerText};
})()
"""

#: a view switched and exported at once (no frame between: the export draws the pending redraws itself)
VIEW_PNG_JS = "plannerApp.setView('{view}'); plannerExport.png()"


def _decode_url(url: object, where: str):
    from _browser import decode_png

    assert isinstance(url, str) and url.startswith("data:image/png;base64,"), (where, url)
    return decode_png(base64.b64decode(url.split(",", 1)[1]))


@pytest.fixture(scope="module")
def opened(browser, demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo gap map (maps.py adds the export) opened at 1280×720 in its first view (养老): its report, the boxes'
    rectangles, its screenshot, the PNG export, then one PNG per view (switched by plannerApp.setView) and one with
    the panel closed."""
    from _browser import decode_png

    report = browser.open(demo_run / "index.html", viewport=VIEWPORT, expressions={
        "rects": RECTS_JS,
        "png": "plannerExport.png()",
        "noPoints": "const pane = plannerApp.map.getPane('plannerPoints'); pane.style.display = 'none';"
                    "plannerExport.png().finally(() => { pane.style.display = ''; })",
    })
    assert report.screenshot is not None
    out = tmp_path_factory.mktemp("export-shots")
    (out / "screenshot.png").write_bytes(report.screenshot)
    images = {key: _decode_url(report.values[key], str(report.evaluation_errors)) for key in ("png", "noPoints")}
    views = browser.evaluate("plannerApp.views")
    for view in views:
        images[view] = _decode_url(browser.evaluate(VIEW_PNG_JS.format(view=view)), view)
    browser.evaluate(f"plannerApp.setView('{views[0]}'); true")
    # the panel closed: the map takes the window, the legend still goes into the column
    closed = browser.evaluate("document.getElementById('planner-panel-toggle').click();"
                              "new Promise((r) => setTimeout(r, 300)).then(() => plannerExport.png()).then((url) => ({url,"
                              " map: plannerApp.map.getSize().x, closed: document.body.classList.contains('planner-panel-closed'),"
                              " legend: getComputedStyle(document.getElementById('planner-legend')).visibility,"
                              " panel: getComputedStyle(document.getElementById('planner-panel')).display}))")
    browser.evaluate("document.getElementById('planner-panel-toggle').click(); plannerApp.map.invalidateSize(); true")
    images["closed"] = _decode_url(closed.pop("url"), "closed")
    for key, image in images.items():
        (out / f"{key}.png").write_bytes(_encode(image))
    return {"report": report, "rects": report.values["rects"], "screen": decode_png(report.screenshot), "views": views,
            "closed": closed, "images": images}


def _encode(image) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image.array).save(buf, format="PNG")
    return buf.getvalue()


def _box(rect: dict[str, float], inset: int = 4, dx: float = 0, dy: float = 0) -> tuple[int, int, int, int]:
    return (int(rect["left"] + dx) + inset, int(rect["top"] + dy) + inset, int(rect["right"] + dx) - inset,
            int(rect["bottom"] + dy) - inset)


def _part(image, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    return image.array[top:bottom, left:right, :3].astype(int)


def _near_white(image, box: tuple[int, int, int, int]) -> float:
    return float((_part(image, box).min(axis=2) >= 245).mean())


def _legend_in_png(rects: dict[str, Any]) -> tuple[float, float]:
    """Where the PNG draws the legend: the shift from its place on the screen to its place in the column."""
    return rects["map"]["width"] + PAD - rects["legend"]["left"], PAD - rects["legend"]["top"]


@pytest.mark.browser
def test_page_with_export_loads_cleanly(opened: dict[str, Any]) -> None:
    report = opened["report"]
    assert report.problems == [], "\n".join(report.problems)
    assert [u for u in report.requests if not u.startswith("data:")] == [report.url]
    assert report.evaluation_errors == {}


@pytest.mark.browser
def test_buttons_and_north_arrow_are_visible_at_1280x720(opened: dict[str, Any]) -> None:
    rects = opened["rects"]
    assert (rects["width"], rects["height"]) == VIEWPORT
    assert rects["print"]["text"] == "打印" and rects["png"]["text"] == "导出PNG"
    for key in ("print", "png", "north"):
        r = rects[key]
        assert 0 <= r["left"] < r["right"] <= rects["map"]["right"] and 0 <= r["top"] < r["bottom"] <= VIEWPORT[1], (key, r)
        assert r["onTop"], f"{key} is covered"
    # top left, under the zoom buttons; the north arrow at the map's bottom right, left of the panel
    assert rects["print"]["top"] >= rects["zoom"]["bottom"] and rects["print"]["left"] < 60
    assert rects["png"]["top"] >= rects["print"]["bottom"] - 1
    assert rects["map"]["right"] - 60 < rects["north"]["right"] <= rects["map"]["right"] <= rects["panel"]["left"]


@pytest.mark.browser
def test_png_is_the_map_plus_a_legend_column_and_not_blank(opened: dict[str, Any]) -> None:
    rects, image = opened["rects"], opened["images"]["png"]
    assert rects["map"]["width"] == 980 and rects["legend"]["width"] > 200  # the panel's 300 px beside the map
    assert image.width == round(rects["map"]["width"] + rects["legend"]["width"] + 2 * PAD)
    assert image.height == round(max(rects["map"]["height"], rects["legend"]["height"] + 2 * PAD)) == VIEWPORT[1]
    assert len(image.histogram(step=2)) > 200, "too few colours: the export looks blank"
    assert image.dominant_share(step=2) < 0.8
    map_box = (0, 0, int(rects["map"]["width"]), image.height)
    assert len(image.histogram(step=2, box=map_box)) > 100 and image.dominant_share(step=2, box=map_box) < 0.5


@pytest.mark.browser
def test_png_equals_the_screen_where_only_map_is_shown(opened: dict[str, Any]) -> None:
    """Away from the boxes, the composed PNG is what the browser itself shows (the street and zone canvases, the
    compounds' and facilities' point canvases, the site markers, at the same pixels)."""
    w, h = int(opened["rects"]["map"]["width"]), VIEWPORT[1]
    box = (w // 4, h // 4, w * 3 // 4, h * 3 // 4)
    screen, png = _part(opened["screen"], box), _part(opened["images"]["png"], box)
    diff = np.abs(screen - png).max(axis=2)
    assert diff.mean() < 6, diff.mean()
    assert (diff > 40).mean() < 0.03
    # the compounds' and facilities' canvases (pane plannerPoints) are in it: without them the same area differs
    bare = _part(opened["images"]["noPoints"], box)
    assert (np.abs(bare - png).max(axis=2) > 40).mean() > 0.03


@pytest.mark.browser
def test_png_has_the_title_and_the_legend_as_the_screen_shows_them(opened: dict[str, Any]) -> None:
    rects, png, screen = opened["rects"], opened["images"]["png"], opened["screen"]
    title = _box(rects["title"])
    assert _near_white(png, title) > 0.5
    assert np.abs(_part(png, title) - _part(screen, title)).max(axis=2).mean() < 6
    # the legend, moved into the column's top: the same pixels as the panel shows it (its question first)
    assert rects["question"].startswith("哪里的老人")
    dx, dy = _legend_in_png(rects)
    legend_png, legend_screen = _box(rects["legend"], dx=dx, dy=dy), _box(rects["legend"])
    diff = np.abs(_part(png, legend_png) - _part(screen, legend_screen)).max(axis=2)
    assert diff.mean() < 6, diff.mean()
    assert (diff > 60).mean() < 0.03
    assert 0.5 < _near_white(png, legend_png) < 0.98  # a white box with text and swatches
    # the scale bar and the north arrow over the map, where the screen has them: their dark strokes and text
    for key in ("scale", "north"):
        box = _box(rects[key], inset=1)
        dark_png, dark_screen = ((_part(img, box).max(axis=2) < 100).mean() for img in (png, screen))
        assert dark_screen > 0.03 and abs(dark_png - dark_screen) < 0.3 * dark_screen, (key, dark_png, dark_screen)


@pytest.mark.browser
def test_png_leaves_out_the_search_box_view_buttons_and_layer_list(opened: dict[str, Any]) -> None:
    rects, png, screen = opened["rects"], opened["images"]["png"], opened["screen"]
    column_left = int(rects["map"]["width"]) + 2
    below_legend = (column_left, int(rects["legend"]["height"] + 2 * PAD) + 2, png.width, png.height)
    assert _near_white(png, below_legend) == 1.0, "something is drawn below the legend"
    # the active view button's fill (#3f007d) is on the screen's panel and nowhere in the column
    purple = np.array([0x3f, 0x00, 0x7d])
    assert (np.abs(_part(screen, _box(rects["views"], inset=0)) - purple).max(axis=2) < 10).sum() > 500
    column = _part(png, (column_left, 0, png.width, png.height))
    assert (np.abs(column - purple).max(axis=2) < 10).sum() == 0
    # the layer list's checkboxes and the search box's frame are on the screen, not in the PNG: the layer list's
    # place on the screen is below the legend's place in the PNG
    assert rects["layers"]["top"] > rects["legend"]["bottom"] - 1 and rects["search"]["bottom"] <= rects["legend"]["top"]
    assert _near_white(screen, _box(rects["layers"])) < 0.99


@pytest.mark.browser
def test_each_view_exports_its_own_legend(opened: dict[str, Any]) -> None:
    """plannerApp.setView then png() at once: the legend column (and the map) of 养老 and 托育 differ, and the
    export of the first view equals the first export of the page."""
    rects, images, views = opened["rects"], opened["images"], opened["views"]
    assert views[:2] == ["elderly", "childcare"]
    elderly, childcare = images["elderly"], images["childcare"]
    top = (int(rects["map"]["width"]) + 2, 0, elderly.width, 40)  # the column's first line: the view's question
    assert np.abs(_part(elderly, top) - _part(childcare, top)).max(axis=2).mean() > 3
    assert np.array_equal(elderly.array, images["png"].array)
    w = int(rects["map"]["width"])
    maps = [_part(images[v], (0, 0, w, VIEWPORT[1])) for v in views]
    assert np.abs(maps[0] - maps[1]).max(axis=2).mean() > 2  # the compounds recoloured before the export
    for view in views:
        assert len(images[view].histogram(step=2)) > 100, view


@pytest.mark.browser
def test_png_with_the_panel_closed_still_has_the_legend(opened: dict[str, Any]) -> None:
    closed, image, rects = opened["closed"], opened["images"]["closed"], opened["rects"]
    assert closed == {"map": VIEWPORT[0], "closed": True, "legend": "visible", "panel": "none"}  # nothing left shown
    assert image.width == round(VIEWPORT[0] + rects["legend"]["width"] + 2 * PAD)
    dx, dy = _legend_in_png(rects)
    same = _box(rects["legend"], dx=dx, dy=dy)
    open_png = opened["images"]["png"]
    open_box = same
    closed_box = (same[0] + VIEWPORT[0] - int(rects["map"]["width"]), same[1],
                  same[2] + VIEWPORT[0] - int(rects["map"]["width"]), same[3])
    assert np.abs(_part(image, closed_box) - _part(open_png, open_box)).max(axis=2).mean() < 3


DOWNLOAD_JS = """
(async () => {
  const seen = [];
  const click = HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click = function () { seen.push({download: this.download, href: this.href.slice(0, 22)}); };
  try {
    document.querySelector('.planner-export-png').dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));
    for (let i = 0; i < 100 && !seen.length; i++) await new Promise((r) => setTimeout(r, 50));
  } finally {
    HTMLAnchorElement.prototype.click = click;
  }
  let printed = 0;
  const print = window.print;
  window.print = () => { printed += 1; };
  try {
    document.querySelector('.planner-export-print').dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));
    for (let i = 0; i < 100 && !printed; i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    window.print = print;
  }
  return {seen, printed, anchorsLeft: document.querySelectorAll('a[download]').length};
})()
"""


@pytest.mark.browser
def test_buttons_download_the_png_and_print(browser, opened: dict[str, Any]) -> None:
    result = browser.evaluate(DOWNLOAD_JS)
    assert result["seen"] == [{"download": "地图.png", "href": "data:image/png;base64,"}]
    assert result["printed"] == 1
    assert result["anchorsLeft"] == 0


PRINT_STATE_JS = """
(() => {
  const shown = (sel) => Array.from(document.querySelectorAll(sel)).map((el) => getComputedStyle(el).display !== 'none');
  const size = plannerApp.map.getSize(), r = document.querySelector('.folium-map').getBoundingClientRect();
  const panel = document.getElementById('planner-panel').getBoundingClientRect();
  return {shown: {search: shown('.planner-search-box'), views: shown('#planner-views'), layers: shown('#planner-layers'),
                  toggle: shown('#planner-panel-toggle'), zoom: shown('.leaflet-control-zoom'), export: shown('.planner-export'),
                  scale: shown('.leaflet-control-scale'), north: shown('.planner-north'), title: shown('#planner-title'),
                  legend: shown('#planner-legend'), panel: shown('#planner-panel'), map: shown('.leaflet-container')},
          leaflet: [size.x, size.y], box: [Math.round(r.width), Math.round(r.height)], panelLeft: Math.round(panel.left),
          printing: document.body.classList.contains('planner-printing'),
          centre: [plannerApp.map.getCenter().lat, plannerApp.map.getCenter().lng]};
})()
"""

MM = 96 / 25.4  # CSS px per mm
PRINT_MAP = (round(281 * MM - 250), round(193 * MM))  # A4 landscape less 8 mm margins, less the legend column


@pytest.mark.browser
def test_print_keeps_map_title_legend_scale_and_north_and_sizes_the_map_to_the_page(browser, opened: dict[str, Any]) -> None:
    screen = browser.evaluate(PRINT_STATE_JS)
    assert all(all(v) and v for v in screen["shown"].values()), screen  # on screen everything shows
    assert screen["leaflet"] == [980, 720] and not screen["printing"]
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        browser.evaluate("window.dispatchEvent(new Event('beforeprint')); true")
        printed = browser.evaluate(PRINT_STATE_JS)
        browser.evaluate("window.dispatchEvent(new Event('afterprint')); true")
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert printed["shown"] == {"search": [False], "views": [False], "layers": [False], "toggle": [False],
                                "zoom": [False], "export": [False], "scale": [True], "north": [True], "title": [True],
                                "legend": [True], "panel": [True], "map": [True]}
    # Leaflet knows the printed size (so it draws what is printed), the legend column right of it, same centre
    assert printed["printing"]
    assert printed["box"] == printed["leaflet"] and abs(printed["leaflet"][0] - PRINT_MAP[0]) <= 1
    assert abs(printed["leaflet"][1] - PRINT_MAP[1]) <= 1 and abs(printed["panelLeft"] - PRINT_MAP[0]) <= 1
    assert printed["centre"] == pytest.approx(screen["centre"], abs=5e-5)  # within a pixel or two
    after = browser.evaluate(PRINT_STATE_JS)
    assert after == screen, "the screen layout is back after printing"


PRINT_BUTTON_JS = """
(async () => {
  const seen = [];
  const print = window.print;
  window.print = () => { seen.push({size: [plannerApp.map.getSize().x, plannerApp.map.getSize().y],
                                    printing: document.body.classList.contains('planner-printing')}); };
  try {
    await plannerExport.print();
  } finally {
    window.print = print;
  }
  return {seen, after: [plannerApp.map.getSize().x, plannerApp.map.getSize().y], printing: plannerExport.printing()};
})()
"""


@pytest.mark.browser
def test_print_button_prints_the_page_sized_map_and_restores_it(browser, opened: dict[str, Any]) -> None:
    result = browser.evaluate(PRINT_BUTTON_JS)
    assert len(result["seen"]) == 1 and result["seen"][0]["printing"]
    assert abs(result["seen"][0]["size"][0] - PRINT_MAP[0]) <= 1 and abs(result["seen"][0]["size"][1] - PRINT_MAP[1]) <= 1
    assert result["after"] == [980, 720] and result["printing"] is False


@pytest.mark.browser
def test_printed_pdf_is_one_a4_landscape_page(browser, opened: dict[str, Any]) -> None:
    """Chromium's own print (as 另存为 PDF): beforeprint sizes the map, one page, afterprint restores it."""
    browser.evaluate("window.__sizes = []; window.addEventListener('beforeprint', () => "
                     "window.__sizes.push(plannerApp.map.getSize().x)); true")
    pdf = base64.b64decode(browser.driver.execute_cdp_cmd(
        "Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True})["data"])
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert boxes and all(abs(float(w) - 841.89) < 1 and abs(float(h) - 595.28) < 1 for w, h in boxes), boxes
    sizes = browser.evaluate("window.__sizes")
    assert len(sizes) == 1 and abs(sizes[0] - PRINT_MAP[0]) <= 1
    assert browser.evaluate("plannerApp.map.getSize().x") == 980


@pytest.mark.browser
def test_tiles_that_taint_the_canvas_give_a_message_suggesting_print(browser, tmp_path: Path) -> None:
    """A tile image from another origin (for a file:// page, any other file) may not be read back from a canvas."""
    from PIL import Image

    Image.new("RGB", (256, 256), (200, 230, 200)).save(tmp_path / "tile.png")
    fmap = offline_map([30.0, 120.0], tiles=None)
    folium.TileLayer(tiles="tile.png", attr="test tiles", name="tiles").add_to(fmap)
    add_export(fmap, lang="zh", title="瓦片")
    path = tmp_path / "tiles.html"
    fmap.save(str(path))
    report = browser.open(path, screenshot=False, expressions={
        "png": "plannerExport.png().then(() => 'exported', (e) => e.message)",
        "click": "document.querySelector('.planner-export-png').click();"
                 "new Promise((r) => setTimeout(r, 500)).then(() => document.querySelector('.planner-export-msg').innerText)",
    })
    assert report.values["png"] == EXPORT_LABELS["tainted"][0]
    assert "打印" in report.values["click"]
    assert all(u.startswith(("file:", "data:")) for u in report.requests), report.requests
    assert [m for m in report.console if m.is_error] == []
    warnings = [m.text for m in report.console if m.level == "WARNING"]
    assert any("planner export" in t for t in warnings), warnings
