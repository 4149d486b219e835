"""report.html: sections, the 街道 × rule matrix, embedded PNG maps, offline self-containment, the bundled Chinese
font, the English and no-siting variants, and the page in a real (headless, offline) Chromium.

The demo run of conftest.py (``demo_run``, through the CLI) writes the report; ``demo_result`` is the same run as
an object, for the variants built here.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from planner.outputs import charts
from planner.outputs.report import build_report

SECTION_HEADINGS_ZH = {"summary": "概况", "compliance": "街道达标一览表", "gaps": "缺口清单", "one_plus_n": "1+N 托育体系",
                       "sites": "选址建议", "methods": "方法与数据来源"}


class _Page(HTMLParser):
    """Collects sections (id → heading text), matrix structure, images and external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, str] = {}
        self.images: dict[str, list[str]] = {}  # section id → image srcs
        self.matrix_rows: list[str] = []  # data-zone of each body row
        self.matrix_rules: list[str] = []  # data-rule of each rule header
        self.matrix_cells: list[tuple[str, str]] = []  # (class, text) of each rule cell, row by row
        self.external: list[str] = []
        self._section: str | None = None
        self._in_h2 = False
        self._in_matrix = False
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http:", "https:", "//")):
                self.external.append(a[key])
        if tag == "section":
            self._section = a.get("id")
        elif tag == "h2" and self._section:
            self._in_h2 = True
            self.sections[self._section] = ""
        elif tag == "img" and self._section:
            self.images.setdefault(self._section, []).append(a["src"])
        elif tag == "table" and a.get("id") == "compliance-matrix":
            self._in_matrix = True
        elif self._in_matrix and tag == "tr" and "data-zone" in a:
            self.matrix_rows.append(a["data-zone"])
        elif self._in_matrix and tag == "th" and "data-rule" in a:
            self.matrix_rules.append(a["data-rule"])
        elif self._in_matrix and tag == "td" and a.get("class") in ("pass", "fail", "not_evaluable"):
            self._cell = [a["class"], ""]

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        elif tag == "section":
            self._section = None
        elif tag == "table" and self._in_matrix:
            self._in_matrix = False
        elif tag == "td" and self._cell is not None:
            self.matrix_cells.append((self._cell[0], self._cell[1]))
            self._cell = None

    def handle_data(self, data):
        if self._in_h2 and self._section:
            self.sections[self._section] += data
        if self._cell is not None:
            self._cell[1] += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def report_html(demo_run: Path) -> str:
    return (demo_run / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(report_html: str) -> _Page:
    return _parse(report_html)


@pytest.fixture(scope="module")
def compliance(demo_run: Path) -> pd.DataFrame:
    return pd.read_csv(demo_run / "compliance.csv", encoding="utf-8-sig")


def test_sections_and_headings(page: _Page, report_html: str) -> None:
    assert list(page.sections) == list(SECTION_HEADINGS_ZH)
    for number, (sid, heading) in enumerate(SECTION_HEADINGS_ZH.items(), start=1):
        assert page.sections[sid].strip() == f"{number} {heading}"
    assert "示例数据（虚构）" in report_html  # scenario.sample_data
    assert '<html lang="zh-CN">' in report_html
    # printable: A4 pages, one section per page, the matrix on a landscape page
    assert "@page{size:A4 portrait" in report_html and "@page wide{size:A4 landscape" in report_html
    assert "@media print" in report_html and "break-before:page" in report_html


def test_compliance_matrix_has_a_row_per_zone_and_a_column_per_rule(page: _Page, compliance: pd.DataFrame) -> None:
    zones = compliance[compliance["subdistrict"] != "全市"]
    assert page.matrix_rows == list(dict.fromkeys(zones["subdistrict"]))  # Z01 … Z04
    assert page.matrix_rules == list(dict.fromkeys(zones["rule_id"]))
    assert len(page.matrix_cells) == len(page.matrix_rows) * len(page.matrix_rules) == len(zones)
    mark = {"pass": "✔", "fail": "✘", "not_evaluable": "？"}
    for cls, text in page.matrix_cells:
        assert text.startswith(mark[cls])
    # cell by cell against compliance.csv: status, and the shortfall text of every failing rule
    cells = dict(zip([(z, r) for z in page.matrix_rows for r in page.matrix_rules], page.matrix_cells, strict=True))
    for row in zones.itertuples():
        cls, text = cells[(row.subdistrict, row.rule_id)]
        assert cls == row.status
        if row.status == "fail" and isinstance(row.shortfall_text, str):
            assert row.shortfall_text in text
    # the demo's story: 南湖街道 has no 综合性养老服务中心
    assert cells[("Z03", "elderly.street_centre.count")] == ("fail", "✘缺 1 所综合性养老服务中心")


def test_gap_list_and_sites(report_html: str, demo_run: Path) -> None:
    gaps = pd.read_csv(demo_run / "gaps.csv", encoding="utf-8-sig")
    for req in gaps["requirement"].unique():
        assert f'data-requirement="{req}"' in report_html
    top = gaps.sort_values("rank").groupby("requirement").head(1)
    for name in top["name"]:
        assert f"<td>{name}</td>" in report_html
    sites = pd.read_csv(demo_run / "sites.csv", encoding="utf-8-sig")
    for task in sites["task"].unique():
        assert f"<h3>{task}" in report_html
    assert 'id="fig-curve"' in report_html


@pytest.mark.parametrize("section", ["summary", "compliance", "gaps", "sites"])
def test_each_section_has_a_png_map_that_is_not_blank(page: _Page, section: str) -> None:
    srcs = page.images.get(section, [])
    assert srcs, f"no image in section {section}"
    for n, src in enumerate(srcs):  # the section's map first, then charts (mostly white by nature)
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1])
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        image = Image.open(io.BytesIO(data)).convert("RGB")
        assert image.width >= 800 and image.height >= 300
        colours = image.getcolors(maxcolors=1 << 20)
        assert len(colours) > 50, "too few colours: the image looks blank"
        assert max(k for k, _ in colours) / (image.width * image.height) < (0.9 if n == 0 else 0.97)


def test_report_is_one_offline_file(page: _Page, report_html: str) -> None:
    assert page.external == []
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:|#)[^"'\s>]+\.(js|css|png|woff2?)""", report_html)
    # the fonts travel inside the page: Chinese text (Noto Sans CJK SC) and ✔/✘ (DejaVu Sans)
    assert report_html.count("@font-face") == 2
    assert 'font-family:"PlannerCJK";src:url(data:font/woff;base64,' in report_html


def test_chinese_font_comes_from_the_pypi_package(tmp_path: Path) -> None:
    """Matplotlib draws with the face registered from noto-cjk-sans-otc, never a system font of the same name,
    and that face has a glyph for every character of the report's headings."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    family = charts.register_cjk_font()
    path = charts.cjk_font_path()
    assert "noto_cjk_sans_otc" in path.parts
    found = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    assert Path(found) == path
    face = FT2Font(path, face_index=found.face_index)
    assert face.family_name == "Noto Sans CJK SC"
    text = "街道达标一览表 概况 缺口清单 选址建议 方法与数据来源 综合性养老服务中心 0–3岁"
    assert [c for c in text if c != " " and face.get_char_index(ord(c)) == 0] == []


def test_english_report_without_siting(demo_result) -> None:
    """lang="en" gives English headings; a run without siting has no 选址建议 section and the methods become 4."""
    result = dataclasses.replace(demo_result, siting=[], one_plus_n=None)
    assert result.sites is None
    text = build_report(result, lang="en", embed_font=False)
    page = _parse(text)
    assert list(page.sections) == ["summary", "compliance", "gaps", "methods"]
    assert page.sections["methods"].strip() == "4 Methods and sources"
    assert page.sections["compliance"].strip() == "2 街道 compliance matrix"
    assert "Sample data (fictional)" in text and "@font-face" not in text
    assert "at least one comprehensive elderly-care centre per 街道" in text  # rules by their English names


# -------------------------------------------------------------------------------------------------- real browser


REPORT_STATE_JS = """
(async () => {
  await document.fonts.ready;
  const text = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.innerText.trim());
  const imgs = Array.from(document.images);
  return {
    headings: text('section > h2'),
    rows: document.querySelectorAll('#compliance-matrix tbody tr').length,
    ruleColumns: document.querySelectorAll('#compliance-matrix thead th.rule').length,
    images: imgs.length,
    imagesDecoded: imgs.filter((i) => i.complete && i.naturalWidth > 0).length,
    cjkFont: document.fonts.check('16px PlannerCJK', '街道达标一览表'),
    fontsLoaded: Array.from(document.fonts).filter((f) => f.status === 'loaded').map((f) => f.family),
  };
})()
"""


@pytest.mark.browser
def test_report_in_an_offline_browser(demo_run: Path, compliance: pd.DataFrame, tmp_path: Path) -> None:
    from _browser import decode_png, find_chromium, live_group_members, load_page

    if sys.platform != "linux":
        pytest.skip("the headless-Chromium helpers are Linux only")
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium, chromium-browser or google-chrome executable on PATH")
    viewport = (1280, 900)
    report = load_page(demo_run / "report.html", expressions={"state": REPORT_STATE_JS}, viewport=viewport,
                       executable=chromium, workdir=tmp_path / "chromium")
    assert report.browser_pid is not None and live_group_members(report.browser_pid) == []
    assert report.problems == [], "problems while loading the report:\n" + "\n".join(report.problems)
    assert [u for u in report.requests if u.startswith("file:") and u != report.url] == []

    state = report.values["state"]
    assert [h.split(" ", 1)[1] for h in state["headings"]] == list(SECTION_HEADINGS_ZH.values())
    zones = compliance[compliance["subdistrict"] != "全市"]
    assert state["rows"] == zones["subdistrict"].nunique()
    assert state["ruleColumns"] == zones["rule_id"].nunique()
    assert state["images"] >= 5 and state["imagesDecoded"] == state["images"]
    assert state["cjkFont"] is True and "PlannerCJK" in state["fontsLoaded"]

    assert report.screenshot is not None
    (tmp_path / "report.png").write_bytes(report.screenshot)
    image = decode_png(report.screenshot)
    assert (image.width, image.height) == viewport
    assert len(image.histogram(step=3)) > 100, "too few colours: the page looks blank"
    assert image.dominant_share(step=3) < 0.9
