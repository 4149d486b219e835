"""The comparison map (compare.html): compounds as one packed table whose popups are built on click, equal to the
popups planner built per GeoJSON feature before (issue #12)."""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _browser import find_chromium, load_page
from _mapdata import column, decode, page_calls
from _popups import POPUPS_JS
from test_compare import comparison, run_b  # noqa: F401  (module fixtures: the demo and the demo with one more centre)

from planner.labels import tr
from planner.outputs.compare_map import CHANGES, comparison_map


def _old_popup(name, change: str, gained, lost, lang: str) -> str:
    """A compound's popup as planner.outputs.compare_map built it per feature before."""
    parts = [f"<b>{html.escape(str(name))}</b>", tr("cmp." + change, lang)]
    if gained:
        parts.append(f"+ {html.escape(gained)}")
    if lost:
        parts.append(f"− {html.escape(lost)}")
    return "<br>".join(parts)


@pytest.fixture(scope="module")
def page(comparison) -> str:  # noqa: F811
    return comparison_map(comparison, lang="zh", basemap="offline", tianditu_key=None).get_root().render()


def test_compounds_are_one_table(comparison, page: str) -> None:  # noqa: F811
    comp = comparison.compounds
    calls = page_calls(page)
    tables = [d for _, kind, d, _ in calls if kind == "table"]
    assert len(tables) == 1 and "GeoJson" not in "".join(kind for _, kind, _, _ in calls)
    (t,) = tables
    n = len(comp)
    assert t["name"] == [html.escape(str(v)) for v in comp["name"]]
    assert [t["changes"][k] for k in column(t, "k", n)] == [tr("cmp." + c, "zh") for c in comp["change"]]
    assert [t["gained"][k] for k in column(t, "g", n)] == [html.escape(g) for g in comp["categories_gained"]]
    assert [t["lost"][k] for k in column(t, "l", n)] == [html.escape(g) for g in comp["categories_lost"]]
    layers = {d["colour"]: np.cumsum(decode(d["rows"])).tolist() for _, kind, d, _ in calls if kind == "changes"}
    for change, colour in CHANGES.items():
        rows = np.flatnonzero((comp["change"] == change).to_numpy()).tolist()
        assert layers.get(colour, []) == rows
    assert layers[CHANGES["gained"]], "the demo with one more centre has compounds that gain a category"


def test_popups_in_a_browser_are_the_ones_built_per_feature(comparison, page: str, tmp_path: Path) -> None:  # noqa: F811
    chromium = find_chromium()
    if chromium is None or sys.platform != "linux":
        pytest.skip("no headless Chromium")
    comp = comparison.compounds
    expected = {}
    for change in CHANGES:
        sub = comp[comp["change"] == change]
        if len(sub):
            expected[f"{tr('cmp.' + change, 'zh')} ({len(sub)})"] = [
                _old_popup(r.name, r.change, r.categories_gained, r.categories_lost, "zh") for r in sub.itertuples()
            ]
    parse = f"""
    (() => {{
      const out = {{}};
      for (const [name, list] of Object.entries({json.dumps(expected, ensure_ascii=False)})) {{
        out[name] = list.map((h) => {{
          const div = document.createElement('div');
          div.innerHTML = '<table><tr><td>' + h + '</td></tr></table>';
          return div.querySelector('td').innerHTML;
        }});
      }}
      return out;
    }})()
    """
    path = tmp_path / "compare.html"
    path.write_text(page, encoding="utf-8")
    report = load_page(path, expressions={"popups": POPUPS_JS, "expected": parse}, screenshot=False, executable=chromium,
                       workdir=tmp_path / "chromium")
    assert report.problems == [], report.problems
    got, want = report.values["popups"], report.values["expected"]
    assert want
    for name, popups in want.items():
        assert got[name]["popups"] == popups, name
        assert len(got[name]["tooltips"]) == len(popups)
