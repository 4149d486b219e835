"""The gap map carries its own Chinese font (issue #14, deliverable 5): a subset of the bundled Noto Sans CJK SC,
embedded as a base64 WOFF, covers every CJK character the page can show (its HTML and the packed data its script turns
into popups, tooltips and labels), is applied to the map container, controls, popups and tooltips, and is the same
bytes every time; with ``--lang en`` too, for the Chinese names.

The characters are read from the page apart from planner's own collection (:func:`planner.outputs.fonts.page_characters`):
the page's text with entities decoded, every string of the packed data (tests/_mapdata.py) and folium's JSON.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import pytest
from _mapdata import page_calls
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parents[1]


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x20000 <= o <= 0x2FFFF


def _faces(page: str) -> dict[str, TTFont]:
    """The embedded fonts by family."""
    out = {}
    for family, data in re.findall(r'@font-face\{font-family:"(\w+)";src:url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)', page):
        out[family] = TTFont(io.BytesIO(base64.b64decode(data)))
    return out


def _strings(obj) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in _strings(k) + _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _shown_characters(page: str) -> set[str]:
    """Every CJK character of the page outside its font rules: the text (entities decoded), the packed data's strings
    (HTML inside them decoded too) and the strings of folium's JSON (written with \\u escapes)."""
    body = re.sub(r'<style id="planner-font">.*?</style>', "", page, flags=re.S)
    texts = [html.unescape(body)]
    for _, _, data, _ in page_calls(body):
        texts += [html.unescape(s) for s in _strings(data)]
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"', body):
        if "\\u" in m.group(0):
            try:
                texts.append(html.unescape(json.loads(m.group(0))))
            except ValueError:
                pass
    return {c for t in texts for c in t if _is_cjk(c)}


def _check_page(page: str) -> None:
    faces = _faces(page)
    assert "PlannerCJK" in faces, "no embedded CJK font"
    cmap = faces["PlannerCJK"].getBestCmap()
    shown = _shown_characters(page)
    assert shown, "the page shows no Chinese"
    missing = sorted(c for c in shown if ord(c) not in cmap)
    assert not missing, f"characters not in the embedded font: {''.join(missing[:50])}"
    # a subset: about the characters shown, not the whole font (65 k glyphs)
    assert len(cmap) < len(shown) + 400
    for c in "✔✘":
        if c in page.split('<style id="planner-font">')[0] + page.split("</style>", 1)[-1]:
            assert ord(c) in faces["PlannerSymbols"].getBestCmap()


def _check_css(page: str) -> None:
    rules = re.findall(r"([^{}]+)\{font-family:([^}]*)\}", page.split('<style id="planner-font">', 1)[1].split("</style>", 1)[0])
    rules = [(sel, fam) for sel, fam in rules if not sel.startswith("@font-face")]
    assert rules, "no font-family rule"
    selectors = {s.strip() for sel, _ in rules for s in sel.split(",")}
    for needed in (".leaflet-container", ".leaflet-popup-content", ".leaflet-tooltip", "#planner-title", "#planner-legend",
                   "#planner-panel", "#planner-panel button", "#planner-panel input", "#planner-panel-toggle"):
        assert needed in selectors, needed
    family = rules[0][1]
    assert family.startswith('"PlannerSymbols","PlannerCJK",'), family
    assert "sans-serif" in family and family.index("sans-serif") > family.index("PlannerCJK")  # system fonts after it
    # it wins over Leaflet's own .leaflet-container font and the boxes' inline font: shorthands
    assert family.rstrip().endswith("!important")


def test_demo_map_embeds_a_font_covering_every_chinese_character(demo_run) -> None:
    page = (demo_run / "index.html").read_text(encoding="utf-8")
    _check_page(page)
    _check_css(page)


@pytest.fixture(scope="module")
def english_run(tmp_path_factory) -> Path:
    from planner.cli import main

    out = tmp_path_factory.mktemp("demo_en")
    assert main(["run", str(ROOT / "scenarios" / "demo.toml"), "--out", str(out), "-q", "--lang", "en"]) == 0
    return out


def test_english_map_still_embeds_the_font_for_chinese_names(english_run) -> None:
    page = (english_run / "index.html").read_text(encoding="utf-8")
    _check_page(page)
    _check_css(page)


def test_page_characters_reads_entities_and_escapes() -> None:
    from planner.outputs.fonts import page_characters

    chars = page_characters('<b>&#24191;&amp;</b><script>var a = "\\u5e7f\\ud840\\udc00"; var b = "南";</script>')
    for c in "广&广\U00020000南":
        assert c in chars
    assert "\n" not in chars


FONT_STATE_JS = """
(async () => {
  await document.fonts.ready;
  const family = (sel) => { const el = document.querySelector(sel); return el ? getComputedStyle(el).fontFamily : null; };
  const title = document.getElementById('planner-title').innerText;
  return {
    loaded: Array.from(document.fonts).filter((f) => f.status === 'loaded').map((f) => f.family.replace(/"/g, '')),
    covers: document.fonts.check('15px PlannerCJK', title),
    container: family('.leaflet-container'),
    title: family('#planner-title'),
    legend: family('#planner-legend'),
    panel: family('#planner-panel'),
    layers: family('#planner-layers label'),
    viewButton: family('#planner-views button'),
    search: family('#planner-search'),
    toggle: family('#planner-panel-toggle'),
    exportButton: family('.planner-export-png'),
  };
})()
"""


@pytest.mark.browser
def test_the_browser_uses_the_embedded_font(browser, demo_run) -> None:
    """In headless Chromium the embedded faces load from the page itself, and the map's boxes are set in them: the
    title, the side panel (legend, layer list, view buttons, search box), its toggle and the export buttons."""
    report = browser.open(demo_run / "index.html", screenshot=False, expressions={"font": FONT_STATE_JS})
    assert report.problems == [], "\n".join(report.problems)
    state = report.values["font"]
    assert "PlannerCJK" in state["loaded"]
    assert state["covers"] is True
    for key in ("container", "title", "legend", "panel", "layers", "viewButton", "search", "toggle", "exportButton"):
        assert state[key].replace('"', "").startswith("PlannerSymbols, PlannerCJK"), (key, state[key])
