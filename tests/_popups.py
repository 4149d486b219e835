"""The gap map's popups as planner built them per feature before the map held at city scale (issue #12): an oracle
for the popups the page now builds on click from packed columns. Same text, same formatting, in Python."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from planner import schema
from planner.labels import tr

__all__ = ["compound_popup", "facility_popup", "formats_popup", "POPUPS_JS"]

# Evaluated in a page: every popup and tooltip of every overlay of the layer control, as the page would show it
# (the text inside folium's popup table), in layer order; popups are built on click from the packed columns.
POPUPS_JS = """
(() => {
  const globals = (re) => Object.keys(window).filter((k) => re.test(k)).map((k) => window[k]);
  const control = globals(/^layer_control_[0-9a-f]+_layers$/)[0];
  const text = (c) => { const td = c.querySelector('td'); return td ? td.innerHTML : c.innerHTML; };
  const out = {};
  for (const [name, layer] of Object.entries(control.overlays)) {
    const popups = [], tooltips = [];
    layer.eachLayer((l) => {
      if (layer._popup && typeof layer._popup._content === 'function') popups.push(text(layer._popup._content(l)));
      if (layer._tooltip && typeof layer._tooltip._content === 'function') tooltips.push(text(layer._tooltip._content(l)));
    });
    out[name] = {popups, tooltips};
  }
  return out;
})()
"""


def _fmt_m(dist: float, speed: float, lang: str) -> str:
    if not np.isfinite(dist):
        return tr("ui.none_reachable", lang)
    return f"{dist:,.0f} m（{dist / speed:.1f} {tr('ui.minutes', lang)}）"


def compound_popup(row, cov_row, cats, taxonomy, lang: str, coverage, max_snap_m: float, reachable: bool) -> str:
    longest = max(coverage.thresholds_min)
    label_t = schema.minutes_text(longest)
    head = f"<b>{html.escape(str(row['name']))}</b><br>"
    facts = []
    for key in ("population", "households", "age_60_plus", "age_0_3"):
        val = row.get(key)
        if val is not None and pd.notna(val):
            facts.append(f"{tr(f'ui.{key}', lang)} {float(val):,.0f}")
    head += "，".join(facts) + "<br>"
    if not reachable:
        return head + f"<i>{tr('ui.not_connected', lang, d=max_snap_m)}</i>"
    head += f"{tr('ui.completeness', lang, t=label_t)}：{cov_row['completeness'] * 100:.0f}%"
    rows = []
    for cat in cats:
        dist = cov_row[schema.dist_m(cat)]
        ok = bool(cov_row[schema.within(cat, longest)])
        mark = "✔" if ok else "✘"
        colour = "#1a9850" if ok else "#d73027"
        nearest = html.escape(str(cov_row[schema.nearest_name(cat)] or ""))
        rows.append(
            f"<tr><td style='color:{colour}'>{mark}</td><td>{html.escape(taxonomy[cat].label(lang))}</td>"
            f"<td>{_fmt_m(dist, coverage.speed_m_per_min, lang)}</td><td>{nearest}</td></tr>"
        )
    return head + "<table style='font-size:12px'>" + "".join(rows) + "</table>"


def facility_popup(row, label: str, lang: str) -> str:
    parts = [f"<b>{html.escape(str(row['name']))}</b>", html.escape(label)]
    if pd.notna(row.get("places")):
        parts.append(tr("ui.capacity", lang, p=float(row["places"])))
    if pd.notna(row.get("beds")):
        parts.append(tr("ui.beds", lang, b=float(row["beds"])))
    if row.get("public_benefit") is True:
        parts.append(tr("ui.puhui", lang))
    return "<br>".join(parts)


def formats_popup(name, present, missing, n_basic: int, lang: str) -> str:
    return (f"<b>{html.escape(str(name))}</b><br>{tr('ui.formats', lang)}：{int(present)}/{n_basic}"
            + (f"<br>{tr('ui.formats_missing', lang)}：{html.escape(str(missing))}" if missing else ""))
