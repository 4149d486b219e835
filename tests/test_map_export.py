"""Print and PNG export of the map's current view, and the north arrow (planner/outputs/map_export.py; #14, deliverable 4).

The structure of what :func:`add_export` puts into a page is checked without a browser. In the shared headless
Chromium (conftest.py ``browser``) the demo gap map with the export controls, at 1280×720: the buttons and the north
arrow are visible and on top; ``plannerExport.png()`` gives a PNG of exactly the viewport that equals the browser's
own rendering of the map where no box sits, has the legend and the title drawn where the page shows them (near-white,
not map-coloured, and different from an export with the legend hidden) and leaves the layer switcher out; the 导出PNG
button downloads it as 地图.png; 打印 calls ``window.print()`` and the print style sheet keeps only the title,
legend, scale bar, north arrow and attribution; a tile image that taints the canvas gives a message suggesting 打印.
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



@pytest.fixture(scope="module")
def export_page(demo_result, tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Path:
    """The demo gap map with the export controls (added here until maps.py adds them itself)."""
    import planner.outputs.maps as maps
    from planner.outputs.write import _write_map

    save = maps.save_map

    def save_with_export(fmap: folium.Map, path: Path) -> Path:
        if "planner_export" not in fmap._children:
            add_export(fmap, lang="zh", title=demo_result.scenario.name)
        return save(fmap, path)

    monkeypatch_module.setattr(maps, "save_map", save_with_export)
    path = tmp_path_factory.mktemp("export") / "index.html"
    _write_map(demo_result, path, lang="zh")
    return path


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


RECTS_JS = """
(() => {
  const rect = (sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, text: el.innerText.trim(),
            onTop: Boolean(top && (top === el || el.contains(top)))};
  };
  return {print: rect('.planner-export-print'), png: rect('.planner-export-png'), north: rect('.planner-north'),
          legend: rect('#planner-legend'), title: rect('#planner-title'), layers: rect('.leaflet-control-layers'),
          zoom: rect('.leaflet-control-zoom'), width: innerWidth, height: innerHeight};
})()
"""


@pytest.fixture(scope="module")
def opened(browser, export_page: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The page opened at 1280×720: its report, the boxes' rectangles, its screenshot and two PNG exports (as is,
    and with the legend hidden)."""
    from _browser import decode_png

    report = browser.open(export_page, viewport=VIEWPORT, expressions={
        "rects": RECTS_JS,
        "png": "plannerExport.png()",
        "noLegend": "document.getElementById('planner-legend').style.display = 'none';"
                    "plannerExport.png().finally(() => { document.getElementById('planner-legend').style.display = ''; })",
    })
    out = tmp_path_factory.mktemp("export-shots")
    assert report.screenshot is not None
    (out / "screenshot.png").write_bytes(report.screenshot)
    pngs = {}
    for key in ("png", "noLegend"):
        url = report.values[key]
        assert isinstance(url, str) and url.startswith("data:image/png;base64,"), report.evaluation_errors
        data = base64.b64decode(url.split(",", 1)[1])
        (out / f"{key}.png").write_bytes(data)
        pngs[key] = decode_png(data)
    return {"report": report, "rects": report.values["rects"], "screen": decode_png(report.screenshot), **pngs}


def _box(rect: dict[str, float], inset: int = 4) -> tuple[int, int, int, int]:
    return (int(rect["left"]) + inset, int(rect["top"]) + inset, int(rect["right"]) - inset, int(rect["bottom"]) - inset)


def _near_white(image, box: tuple[int, int, int, int]) -> float:
    left, top, right, bottom = box
    part = image.array[top:bottom, left:right, :3].astype(int)
    return float((part.min(axis=2) >= 245).mean())


@pytest.mark.browser
def test_page_with_export_loads_cleanly(opened: dict[str, Any]) -> None:
    report = opened["report"]
    assert report.problems == [], "\n".join(report.problems)
    assert [u for u in report.requests if not u.startswith("data:")] == [report.url]


@pytest.mark.browser
def test_buttons_and_north_arrow_are_visible_at_1280x720(opened: dict[str, Any]) -> None:
    rects = opened["rects"]
    assert (rects["width"], rects["height"]) == VIEWPORT
    assert rects["print"]["text"] == "打印" and rects["png"]["text"] == "导出PNG"
    for key in ("print", "png", "north"):
        r = rects[key]
        assert 0 <= r["left"] < r["right"] <= VIEWPORT[0] and 0 <= r["top"] < r["bottom"] <= VIEWPORT[1], (key, r)
        assert r["onTop"], f"{key} is covered"
    # top left, under the zoom buttons
    assert rects["print"]["top"] >= rects["zoom"]["bottom"] and rects["print"]["left"] < 60
    assert rects["png"]["top"] >= rects["print"]["bottom"] - 1


@pytest.mark.browser
def test_png_is_the_viewport_and_not_blank(opened: dict[str, Any]) -> None:
    image = opened["png"]
    assert (image.width, image.height) == VIEWPORT
    assert len(image.histogram(step=2)) > 200, "too few colours: the export looks blank"
    assert image.dominant_share(step=2) < 0.8


@pytest.mark.browser
def test_png_equals_the_screen_where_only_map_is_shown(opened: dict[str, Any]) -> None:
    """Away from the boxes, the composed PNG is what the browser itself shows (tiles, canvases at the same pixels)."""
    w, h = VIEWPORT
    top, bottom, left, right = h // 4, h * 3 // 4, w // 4, w * 3 // 4
    screen = opened["screen"].array[top:bottom, left:right, :3].astype(int)
    png = opened["png"].array[top:bottom, left:right, :3].astype(int)
    diff = np.abs(screen - png).max(axis=2)
    assert diff.mean() < 6, diff.mean()
    assert (diff > 40).mean() < 0.03


@pytest.mark.browser
def test_png_has_the_legend_and_title_but_not_the_layer_switcher(opened: dict[str, Any]) -> None:
    rects, png, screen, bare = opened["rects"], opened["png"], opened["screen"], opened["noLegend"]
    legend, title = _box(rects["legend"]), _box(rects["title"])
    # where the legend is drawn the pixels are its near-white box (text and swatches aside), not map colours
    assert _near_white(png, legend) > 0.5
    assert _near_white(bare, legend) < 0.3, "without the legend that area is map"
    assert abs(_near_white(png, legend) - _near_white(screen, legend)) < 0.1
    assert _near_white(png, title) > 0.5
    # the layer switcher is left out: the map shows through where the screen has its white box
    layers = _box(rects["layers"])
    assert _near_white(screen, layers) > 0.5
    assert _near_white(png, layers) < 0.3


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


PRINT_STYLE_JS = """
(() => {
  const shown = (sel) => Array.from(document.querySelectorAll(sel)).map((el) => getComputedStyle(el).display !== 'none');
  return {layers: shown('.leaflet-control-layers'), zoom: shown('.leaflet-control-zoom'), export: shown('.planner-export'),
          scale: shown('.leaflet-control-scale'), north: shown('.planner-north'), title: shown('#planner-title'),
          legend: shown('#planner-legend'), map: shown('.leaflet-container')};
})()
"""


@pytest.mark.browser
def test_print_style_keeps_title_legend_scale_and_north_only(browser, opened: dict[str, Any]) -> None:
    screen = browser.evaluate(PRINT_STYLE_JS)
    assert all(all(v) for v in screen.values()), screen  # on screen everything shows
    browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = browser.evaluate(PRINT_STYLE_JS)
    finally:
        browser.driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert printed == {"layers": [False], "zoom": [False], "export": [False], "scale": [True], "north": [True],
                       "title": [True], "legend": [True], "map": [True]}


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
