"""The map of a comparison (``compare.html``): 街道 shaded by rules improved or declined, compounds coloured by change
or — switched with a before / after control — by their coverage in run A and in run B for one view at a time (养老,
托育, 一刻钟便民生活圈) in the runs' walking-time bands, facilities added or removed. Like the gap map it works
offline (:func:`planner.outputs.basemaps.offline_map`).

Compounds and 街道 are packed as on the gap map (:mod:`planner.outputs.map_layers`): one table of columns shared by
every compound layer, popups built on click. The before/after layers, the 街道 layer and the switch are drawn by
this module's own script (:data:`COMPARE_JS`, ``plannerCompare``), inlined once in the page's head."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.io.categories import Taxonomy, load_taxonomy
from planner.labels import tr
from planner.outputs.basemaps import add_basemap, offline_map, to_display
from planner.outputs.map_export import add_export
from planner.outputs.map_layers import (
    POINT_SCALE,
    DataLayer,
    DataTable,
    RawElement,
    add_map_script,
    encode_ints,
    encode_points,
    escape_all,
    marker_points,
    pack_column,
    polygon_table,
    text_codes,
    to_json,
)

if TYPE_CHECKING:
    from planner.outputs.compare import Comparison

__all__ = ["comparison_map", "CHANGES", "VIEWS", "ZONE_STATES", "COMPARE_JS", "view_categories", "bands"]

#: compound change classes, in legend order, with their map colour
CHANGES = {"gained": "#1a9850", "lost": "#d73027", "mixed": "#f68b1f", "unchanged": "#b4b4b4"}

#: the thematic views of the gap map, each with the group of people it is about: 养老 (the taxonomy's elderly group),
#: 托育 (childcare), 一刻钟便民生活圈 (every basic format within reach)
VIEWS = {"elderly": "age_60_plus", "childcare": "age_0_3", "formats": "population"}

#: 街道 by their rule changes: some improved or newly passing (up), some declined or newly failing (down), both, none
ZONE_STATES = {"up": "#1a9850", "down": "#d73027", "mixed": "#f68b1f", "same": "#ffffff"}

_NO_DATA = "#9e9e9e"
_BEYOND = "#d73027"
_BAND_RAMP = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61")
_ZONE_POPUP_RULES = 8


def view_categories(view: str, cats: list[str], taxonomy: Taxonomy | None = None) -> list[str]:
    """The categories (of ``cats``) a view of :data:`VIEWS` serves with: the taxonomy's group for 养老 and 托育, the
    basic formats (``basic = true``) for 一刻钟便民生活圈."""
    taxonomy = taxonomy or load_taxonomy()
    known = [c for c in cats if c in taxonomy]
    if view == "formats":
        return [c for c in known if taxonomy[c].basic]
    return [c for c in known if taxonomy[c].group == view]


def bands(compounds: pd.DataFrame, ids: list[str], categories: list[str], thresholds: list[float], *, every: bool) -> np.ndarray:
    """Per compound of ``ids``: the index of the first threshold within which it reaches any (``every``: all) of
    ``categories``, ``len(thresholds)`` when none, -1 when it is not connected to the network."""
    sub = compounds.loc[ids]
    n = len(ids)
    out = np.full(n, len(thresholds), dtype=np.int64)
    join = np.logical_and.reduce if every else np.logical_or.reduce
    for k in range(len(thresholds) - 1, -1, -1):
        cols = []
        for c in categories:
            col = schema.within(c, thresholds[k])
            cols.append(_as_bool(sub[col]) if col in sub.columns else np.zeros(n, dtype=bool))
        if cols:
            out[np.asarray(join([np.asarray(c, dtype=bool) for c in cols]))] = k
    if "reachable" in sub.columns:
        out[~_as_bool(sub["reachable"])] = -1
    return out


def _as_bool(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series):
        return series.fillna(False).to_numpy(dtype=bool)
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"]).to_numpy()


def _band_colours(n: int) -> list[str]:
    """Colours of ``n`` walking-time bands (nearest first), then the one for beyond the longest."""
    ramp = list(_BAND_RAMP[:n]) if n <= len(_BAND_RAMP) else [_BAND_RAMP[min(len(_BAND_RAMP) - 1, k * len(_BAND_RAMP) // n)] for k in range(n)]
    return [*ramp, _BEYOND]


def comparison_map(cmp: Comparison, *, lang: str, basemap: str, tianditu_key: str | None) -> folium.Map:
    """The comparison drawn on ``basemap``: 街道 shaded by rule changes, compounds by change class or by coverage before
    and after (one switch), facilities added or removed.

    Parameters
    ----------
    cmp
        The result of :func:`planner.outputs.compare.compare_runs`. 街道 outlines are B's (A's when B has none).
    lang
        ``"zh"`` or ``"en"``.
    basemap, tianditu_key
        As for :func:`planner.outputs.basemaps.add_basemap`.
    """
    comp = cmp.compounds
    outlines = cmp.b.outlines if cmp.b.outlines is not None else cmp.a.outlines
    has_geometry = isinstance(comp, gpd.GeoDataFrame) and len(comp)
    shown = to_display(comp, basemap) if has_geometry else None
    frames = [f for f in (shown, to_display(outlines, basemap) if outlines is not None else None) if f is not None and len(f)]
    if frames:
        b = np.array([f.total_bounds for f in frames])
        bounds = [b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()]
    else:
        bounds = [0.0, 0.0, 0.0, 0.0]
    fmap = offline_map([(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2], tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key=tianditu_key)
    add_map_script(fmap)
    fmap.get_root().header.add_child(RawElement(f"<script>{COMPARE_JS}</script>"), name="planner_compare_js")

    if outlines is not None and len(outlines):
        _add_zone_changes(fmap, cmp, outlines, lang=lang, basemap=basemap)
    groups: dict[str, list[folium.map.Layer]] = {"before": [], "after": [], "change": []}
    views: list[str] = []
    if has_geometry:
        groups, views = _add_compounds(fmap, cmp, shown, lang=lang)
    fac = cmp.facilities
    if fac is not None and len(fac) and {"lon", "lat"} <= set(fac.columns):
        _add_facility_changes(fmap, fac, lang=lang, basemap=basemap)

    folium.LayerControl(collapsed=False).add_to(fmap)
    if views:
        _Switch(groups, views, lang=lang).add_to(fmap)
    _add_titles(fmap, cmp, lang=lang, has_views=bool(views))
    if frames:
        fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    return fmap


# ------------------------------------------------------------------------------------------------ page elements


class _CompareLayer(folium.map.Layer):
    """A layer made by one call of :data:`COMPARE_JS` (``plannerCompare.<kind>(data[, table])``)."""

    def __init__(self, kind: str, data: object, *, name: str, table: DataTable | None = None, show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "CompareLayer"
        self.kind = kind
        self.data = to_json(data)
        self.table = table

    def render(self, **kwargs) -> None:
        script = self.get_root().script
        args = ", ".join([self.data, *([self.table.get_name()] if self.table is not None else [])])
        script.add_child(RawElement(f"var {self.get_name()} = plannerCompare.{self.kind}({args});\n"), name=self.get_name())
        if self.show:
            script.add_child(RawElement(f"{self.get_name()}.addTo({self._parent.get_name()});\n"), name=self.get_name() + "_add")


class _Switch(folium.MacroElement):
    """The before / after / change switch and the view chooser (``plannerCompare.switch``)."""

    def __init__(self, groups: dict[str, list[folium.map.Layer]], views: list[str], *, lang: str) -> None:
        super().__init__()
        self._name = "CompareSwitch"
        self.groups = groups
        self.labels = {
            "title": tr("cmp.coverage_title", lang), "measure": tr("cmp.measure", lang), "views": views,
            "modes": {k: tr(f"cmp.{k}", lang) for k in ("before", "after", "changes")},
        }

    def render(self, **kwargs) -> None:
        layers = "{" + ",".join(f'"{k}":[{",".join(g.get_name() for g in v)}]' for k, v in self.groups.items()) + "}"
        self.get_root().script.add_child(
            RawElement(f"plannerCompare.switch({self._parent.get_name()}, {layers}, {to_json(self.labels)});\n"), name=self.get_name()
        )


# ------------------------------------------------------------------------------------------------ layers


def _zone_state(row: pd.Series) -> str:
    """up, down, mixed or same: whether a 街道 has rules improved or newly passing and/or declined or newly failing."""
    up = row["n_newly_passing"] + row["n_improved"] > 0
    down = row["n_newly_failing"] + row["n_declined"] > 0
    return "mixed" if up and down else "up" if up else "down" if down else "same"


def _add_zone_changes(fmap: folium.Map, cmp: Comparison, outlines: gpd.GeoDataFrame, *, lang: str, basemap: str) -> None:
    """街道 packed as polygons (:func:`planner.outputs.map_layers.polygon_table`), filled by :data:`ZONE_STATES`, each
    with its compact popup (rules changed: name, before → after, target; people newly served per view)."""
    zt = cmp.zones.set_index("zone_id")
    zg = outlines[outlines.index.isin(zt.index)]
    if not len(zg):
        return
    metric = zg.estimate_utm_crs() if zg.crs is not None and zg.crs.is_geographic else zg.crs
    table = polygon_table(zg.to_crs(metric).geometry.to_numpy(), metric, basemap=basemap, tolerance_m=5.0)
    states = [_zone_state(zt.loc[z]) for z in zg.index]
    table["popup"] = [_zone_popup(cmp, z, str(n), lang) for z, n in zip(zg.index, zg["name"], strict=True)]
    table["tip"] = escape_all(zg["name"])
    table["fill"] = [ZONE_STATES[st] for st in states]
    table["op"] = [5 if st == "same" else 30 for st in states]  # fill opacity in %
    _CompareLayer("zones", table, name=tr("cmp.zones_shaded", lang)).add_to(fmap)


def _add_compounds(fmap: folium.Map, cmp: Comparison, shown: gpd.GeoDataFrame, *, lang: str) -> tuple[dict, list[str]]:
    """Compounds as one packed table: the change-class layers (:data:`CHANGES`, shown first) and a before and an after
    layer coloured by the walking-time band of the chosen view in run A and in run B.

    As on the gap map, popups are built when clicked (:data:`planner.outputs.map_layers.MAP_JS`, ``changes``;
    :data:`COMPARE_JS`, ``coverage``), not one GeoJSON feature and popup string each.
    """
    comp = cmp.compounds
    ids = list(comp.index)
    pts = marker_points(shown.geometry.to_numpy())
    change = pd.Categorical(comp["change"].astype(str), categories=list(CHANGES)).codes
    gained_codes, gained = text_codes(comp["categories_gained"], sort=True)
    lost_codes, lost = text_codes(comp["categories_lost"], sort=True)
    cols: dict[str, object] = {"k": pack_column(change), "g": pack_column(gained_codes), "l": pack_column(lost_codes)}
    thresholds = cmp.b.thresholds
    measures = _measures(cmp, lang)
    for j, (cats, every, g, _) in enumerate(measures):
        cols[f"a{j}"] = pack_column(bands(cmp.a.compounds, ids, cats, thresholds, every=every))
        cols[f"b{j}"] = pack_column(bands(cmp.b.compounds, ids, cats, thresholds, every=every))
        for side, run in (("pa", cmp.a), ("pb", cmp.b)):
            people = pd.to_numeric(run.compounds.loc[ids, g], errors="coerce") if g in run.compounds.columns else pd.Series(np.nan, index=ids)
            cols[f"{side}{j}"] = pack_column(np.where(people.notna(), np.rint(people.fillna(0)), -1).astype(np.int64))
    views = [label for *_, label in measures]
    longest = schema.minutes_text(thresholds[-1])
    table = DataTable({
        "scale": POINT_SCALE, "xy": encode_points(pts[:, 0], pts[:, 1]), "name": escape_all(comp["name"]),
        "changes": [tr("cmp." + k, lang) for k in CHANGES], "gained": escape_all(gained), "lost": escape_all(lost),
        "cols": cols,
        "cov": {
            "views": escape_all(views),
            "groups": [tr(f"group.{g}", lang) for _, _, g, _ in measures],
            "bands": [tr("cmp.band_within", lang, t=schema.minutes_text(t)) for t in thresholds] + [tr("cmp.band_beyond", lang, t=longest)],
            "colours": _band_colours(len(thresholds)), "nodata": tr("cmp.band_nodata", lang), "nodataColour": _NO_DATA,
            "before": tr("cmp.before", lang), "after": tr("cmp.after", lang),
        },
    })
    table.add_to(fmap)
    groups: dict[str, list[folium.map.Layer]] = {"before": [], "after": [], "change": []}
    for k, (key, colour) in enumerate(CHANGES.items()):
        rows = np.flatnonzero(change == k)
        if not len(rows):
            continue
        layer = DataLayer(
            "changes", {"rows": encode_ints(np.diff(rows, prepend=0)), "radius": 4 if key == "unchanged" else 7, "colour": colour},
            name=f"{tr('cmp.' + key, lang)} ({len(rows)})", args=(table,),
        )
        layer.add_to(fmap)
        groups["change"].append(layer)
    if views:
        for side, run in (("before", cmp.a), ("after", cmp.b)):
            name = tr("cmp.coverage_layer", lang, when=tr(f"cmp.{side}", lang), run=html.escape(run.name))
            layer = _CompareLayer("coverage", {"side": "a" if side == "before" else "b"}, name=name, table=table, show=False)
            layer.add_to(fmap)
            groups[side].append(layer)
    return groups, views


def _measures(cmp: Comparison, lang: str) -> list[tuple[list[str], bool, str, str]]:
    """What the before / after layers can colour compounds by: each view of :data:`VIEWS` the runs have categories
    for, then each category in which some compound gained or lost cover: (categories, whether every one of them must be
    within reach, the group of people shown, label)."""
    from planner.outputs.compare import runs_taxonomy

    taxonomy = runs_taxonomy(cmp.a, cmp.b)
    out = []
    for v, g in VIEWS.items():
        cats = view_categories(v, cmp.categories, taxonomy)
        if cats:
            out.append((cats, v == "formats", g, tr(f"cmp.view.{v}", lang)))
    ids = list(cmp.compounds.index)
    for c in cmp.categories:
        if (cmp.a.within(c).loc[ids].to_numpy() != cmp.b.within(c).loc[ids].to_numpy()).any():
            cat = taxonomy[c] if c in taxonomy else None
            group = VIEWS.get(cat.group, "population") if cat is not None else "population"
            out.append(([c], False, group, cat.label(lang) if cat is not None else c))
    return out


def _add_facility_changes(fmap: folium.Map, fac: pd.DataFrame, *, lang: str, basemap: str) -> None:
    """Facilities added in B (green) and removed from A (red), one layer each."""
    pts = to_display(gpd.GeoDataFrame(fac, geometry=gpd.points_from_xy(fac["lon"], fac["lat"]), crs=4326), basemap)
    for change, colour in (("added", "#1a9850"), ("removed", "#d73027")):
        sub = pts[pts["change"] == change]
        if not len(sub):
            continue
        label = sub["category_zh"] if "category_zh" in sub.columns else sub["category"]
        layer = gpd.GeoDataFrame(
            {"name": sub["name"].astype(str).to_numpy(),
             "popup": [f"<b>{html.escape(str(n))}</b><br>{html.escape(str(c))}<br>{tr('cmp.fac_' + change, lang)}"
                       for n, c in zip(sub["name"], label, strict=True)]},
            geometry=sub.geometry.to_numpy(), crs=4326,
        )
        folium.GeoJson(
            layer,
            name=f"{tr('cmp.fac_' + change, lang)} ({len(sub)})",
            marker=folium.CircleMarker(radius=9, weight=3),
            style_function=lambda f, col=colour: {"radius": 9, "color": "#000000", "weight": 3, "fill": True, "fillColor": col,
                                                  "fillOpacity": 1.0, "dashArray": None},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        ).add_to(fmap)


def _add_titles(fmap: folium.Map, cmp: Comparison, *, lang: str, has_views: bool) -> None:
    """The title box (with the comparison's notes), the legend and the page title."""
    root = fmap.get_root()
    title = tr("cmp.title", lang, a=cmp.a.name, b=cmp.b.name)
    notes = "".join(f"<br><span style='color:#b35806'>{html.escape(n)}</span>" for n in cmp.notes)
    root.html.add_child(folium.Element(
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px sans-serif;max-width:55%'>"
        f"<b>{html.escape(title)}</b><br><span style='font-size:12px;color:#555'>{tr('cmp.subtitle', lang, t=schema.minutes_text(cmp.b.longest))}</span>{notes}</div>"
    ))
    root.html.add_child(folium.Element(_legend_html(cmp, lang, has_views=has_views)))
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="page_title")
    add_export(fmap, lang=lang, title=title)


# ------------------------------------------------------------------------------------------------ popups and legend


def _swatch(colour: str, *, round_: bool = True, dashed: bool = False) -> str:
    shape = "border-radius:5px;" if round_ else ""
    border = "1px dashed #3f007d" if dashed else "1px solid #333"
    return f"<i style='background:{colour};width:10px;height:10px;{shape}display:inline-block;margin-right:4px;border:{border}'></i>"


def _legend_html(cmp: Comparison, lang: str, *, has_views: bool) -> str:
    """The legend: compound change classes (or, when the switch shows before / after, the walking-time bands), 街道
    states, facility changes; the two compound parts swap with the switch."""
    changes = "".join(f"<div>{_swatch(c)}{tr('cmp.' + k, lang)}</div>" for k, c in CHANGES.items())
    thresholds = cmp.b.thresholds
    labels = [tr("cmp.band_within", lang, t=schema.minutes_text(t)) for t in thresholds]
    labels.append(tr("cmp.band_beyond", lang, t=schema.minutes_text(thresholds[-1])))
    band_items = [*zip(labels, _band_colours(len(thresholds)), strict=True), (tr("cmp.band_nodata", lang), _NO_DATA)]
    coverage = "".join(f"<div>{_swatch(c)}{html.escape(t)}</div>" for t, c in band_items)
    zones = "".join(f"<div>{_swatch(c, round_=False, dashed=True)}{tr('cmp.zone_' + k, lang)}</div>"
                    for k, c in ZONE_STATES.items() if k != "same")
    fac = "".join(f"<div>{_swatch(c)}{tr('cmp.fac_' + k, lang)}</div>" for k, c in (("added", "#1a9850"), ("removed", "#d73027")))
    cover_part = f"<div id='planner-legend-coverage' style='display:none'>{coverage}</div>" if has_views else ""
    return (
        "<div id='planner-legend' style='position:fixed;bottom:30px;left:10px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px sans-serif;max-height:45%;overflow:auto'>"
        f"<b>{tr('ui.legend', lang)}</b><div id='planner-legend-changes'>{changes}</div>{cover_part}{zones}{fac}</div>"
    )


def _zone_popup(cmp: Comparison, zone: str, name: str, lang: str) -> str:
    """A 街道's popup: the rules that changed (mark, name, before → after, target; at most a few, the rest counted) and
    the people of each view's group newly served or no longer served."""
    from planner.outputs.compare import RULE_CHANGES, format_value

    rules = cmp.rules[(cmp.rules["subdistrict"] == zone) & (cmp.rules["change"] != "unchanged")]
    rules = rules.iloc[np.argsort(pd.Categorical(rules["change"], categories=list(RULE_CHANGES)).codes, kind="stable")]
    marks = {"newly_passing": ("✔", "#1a9850"), "improved": ("↑", "#1a9850"), "declined": ("↓", "#d73027"),
             "newly_failing": ("✘", "#d73027"), "changed": ("~", "#777777")}
    parts = [f"<b>{html.escape(name)}</b>"]
    if len(rules):
        rows = []
        for r in rules.iloc[:_ZONE_POPUP_RULES].itertuples():
            mark, colour = marks[r.change]
            rule = r.rule if lang == "zh" else r.rule_en
            va = format_value(r.value_a, r.unit, lang) if r.status_a != "not_evaluable" else tr("cmp.not_evaluable", lang)
            vb = format_value(r.value_b, r.unit, lang) if r.status_b != "not_evaluable" else tr("cmp.not_evaluable", lang)
            target = r.target_b if np.isfinite(r.target_b) else r.target_a
            rows.append(
                f"<tr><td style='color:{colour};white-space:nowrap'>{mark} {tr('cmp.change.' + r.change, lang)}</td><td>{html.escape(str(rule))}</td>"
                f"<td style='white-space:nowrap'>{html.escape(va)} → {html.escape(vb)}</td>"
                f"<td style='white-space:nowrap'>{tr('cmp.target', lang)} {html.escape(r.operator)} {html.escape(format_value(target, r.unit, lang))}</td></tr>"
            )
        more = len(rules) - _ZONE_POPUP_RULES
        tail = f"<br><i>{tr('cmp.more_rules', lang, n=more)}</i>" if more > 0 else ""
        parts.append(f"<span style='font-size:12px'>{tr('cmp.rule_changes', lang)}</span><table style='font-size:11px;max-width:520px'>{''.join(rows)}</table>{tail}")
    served = cmp.served
    if len(served):
        from planner.outputs.compare import runs_taxonomy

        taxonomy = runs_taxonomy(cmp.a, cmp.b)
        sub = served[(served["zone_id"] == zone) & ((served["newly_served"] > 0) | (served["no_longer_served"] > 0))]
        items = []
        for r in sub.itertuples():
            if r.view_kind == "view":
                main, label = VIEWS.get(r.view), tr(f"cmp.view.{r.view}", lang)
            else:
                cat = taxonomy[r.view] if r.view in taxonomy else None
                main = VIEWS.get(cat.group, "population") if cat is not None else "population"
                label = cat.label(lang) if cat is not None else r.view
            if r.group != main:
                continue
            text = f"+{r.newly_served:,.0f}" + (f" / −{r.no_longer_served:,.0f}" if r.no_longer_served > 0 else "")
            items.append(f"<tr><td>{html.escape(label)}（{tr('group.' + r.group, lang)}）</td><td>{text}</td></tr>")
        if items:
            more = f"<br><i>{tr('cmp.more_rules', lang, n=len(items) - 6)}</i>" if len(items) > 6 else ""
            parts.append(f"<span style='font-size:12px'>{tr('cmp.served_in_zone', lang)}</span><table style='font-size:11px'>{''.join(items[:6])}</table>{more}")
    if len(parts) == 1:
        parts.append(tr("cmp.no_change", lang))
    return "<br>".join(parts)


#: the page script of the comparison map: 街道 polygons, the before / after coverage layers and their switch
COMPARE_JS = r"""
var plannerCompare = (function () {
  "use strict";
  // the decoders of the page's plannerLayers (planner.outputs.map_layers.MAP_JS, inlined on this page too)
  var ints = plannerLayers.ints, coords = plannerLayers.coords, box = plannerLayers.box, thousands = plannerLayers.thousands;
  var state = {view: 0, layers: []};

  function bandColour(t, code) { return code < 0 ? t.cov.nodataColour : t.cov.colours[code]; }
  function bandText(t, code) { return code < 0 ? t.cov.nodata : t.cov.bands[code]; }
  function coveragePopup(t, i) {
    var c = t.cols, v = state.view, pa = c["pa" + v][i], pb = c["pb" + v][i];
    var ppl = function (p) { return p < 0 ? "" : "（" + t.cov.groups[v] + " " + thousands(p) + "）"; };
    return "<b>" + t.name[i] + "</b><br>" + t.cov.views[v] + "<table style='font-size:12px'>" +
      "<tr><td>" + t.cov.before + "</td><td style='color:" + bandColour(t, c["a" + v][i]) + "'>●</td><td>" + bandText(t, c["a" + v][i]) + ppl(pa) + "</td></tr>" +
      "<tr><td>" + t.cov.after + "</td><td style='color:" + bandColour(t, c["b" + v][i]) + "'>●</td><td>" + bandText(t, c["b" + v][i]) + ppl(pb) + "</td></tr></table>";
  }
  function recolour(g) {
    var t = g._t, col = t.cols[g._side + state.view];
    g.eachLayer(function (m) { m.setStyle({fillColor: bandColour(t, col[m.options.i])}); });
  }

  return {
    // compounds coloured by the band of the chosen view in run A ("a") or run B ("b"); the markers are made when the
    // layer is first shown
    coverage: function (d, t) {
      var g = L.featureGroup();
      g._t = t; g._side = d.side; g._made = false;
      g.on("add", function () {
        if (g._made) { recolour(g); return; }
        g._made = true;
        var col = t.cols[d.side + state.view];
        for (var i = 0; i < t.ll.length; i++) {
          g.addLayer(L.circleMarker(t.ll[i], {radius: 6, color: "#333333", weight: 1, fill: true, fillOpacity: 0.9,
            fillColor: bandColour(t, col[i]), i: i}));
        }
      });
      g.bindPopup(function (layer) { return box(coveragePopup(t, layer.options.i)); }, {className: "foliumpopup"});
      g.bindTooltip(function (layer) { return box(t.name[layer.options.i]); }, {className: "foliumtooltip", sticky: true});
      state.layers.push(g);
      return g;
    },
    // 街道 packed by planner.outputs.map_layers.polygon_table, filled by their rule changes
    zones: function (d) {
      var g = L.featureGroup();
      for (var i = 0; i < d.pxy.length; i++) {
        var ll = coords(d.pxy[i], d.scale), sizes = ints(d.pp[i]), parts = [], at = 0;
        for (var p = 0; p < sizes.length; p++) { parts.push(ll.slice(at, at + sizes[p])); at += sizes[p]; }
        if (!parts.length) continue;
        g.addLayer(L.polygon(parts, {color: "#3f007d", weight: 2.5, dashArray: "6 4", fillColor: d.fill[i],
          fillOpacity: d.op[i] / 100, i: i}));
      }
      g.bindPopup(function (layer) { return box(d.popup[layer.options.i]); }, {className: "foliumpopup", maxWidth: 560});
      g.bindTooltip(function (layer) { return box(d.tip[layer.options.i]); }, {className: "foliumtooltip", sticky: true});
      return g;
    },
    // the switch: 之前 / 之后 / 变化 (which compound layers are on) and the view the coverage layers show
    switch: function (map, groups, labels) {
      var ctl = L.control({position: "topright"});
      ctl.onAdd = function () {
        var div = L.DomUtil.create("div", "leaflet-bar planner-compare-switch");
        div.style.cssText = "background:rgba(255,255,255,.95);padding:6px 8px;font:12px sans-serif;border-radius:4px";
        var html = "<b>" + labels.title + "</b><div style='margin:4px 0'>";
        ["before", "after", "changes"].forEach(function (k) {
          html += "<label style='margin-right:6px;cursor:pointer'><input type='radio' name='planner-mode' value='" + k + "'" +
            (k === "changes" ? " checked" : "") + "> " + labels.modes[k] + "</label>";
        });
        html += "</div><label>" + labels.measure + " <select id='planner-view' style='font:inherit'>";
        labels.views.forEach(function (v, j) { html += "<option value='" + j + "'>" + v + "</option>"; });
        div.innerHTML = html + "</select></label>";
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        div.querySelectorAll("input[name=planner-mode]").forEach(function (input) {
          input.addEventListener("change", function () { plannerCompare.mode(map, groups, input.value); });
        });
        div.querySelector("#planner-view").addEventListener("change", function (e) { plannerCompare.view(+e.target.value); });
        return div;
      };
      ctl.addTo(map);
      return ctl;
    },
    mode: function (map, groups, mode) {
      var on = {before: groups.before, after: groups.after, changes: groups.change}[mode];
      [groups.before, groups.after, groups.change].forEach(function (list) {
        list.forEach(function (layer) { if (on.indexOf(layer) < 0 && map.hasLayer(layer)) map.removeLayer(layer); });
      });
      on.forEach(function (layer) { if (!map.hasLayer(layer)) map.addLayer(layer); });
      var cov = document.getElementById("planner-legend-coverage"), chg = document.getElementById("planner-legend-changes");
      if (cov && chg) { cov.style.display = mode === "changes" ? "none" : ""; chg.style.display = mode === "changes" ? "" : "none"; }
    },
    view: function (j) {
      state.view = j;
      state.layers.forEach(function (g) { if (g._made) recolour(g); });
    },
    state: state
  };
})();
"""
