"""The map of a comparison (``compare.html``): 街道 that gain or lose rules, compounds coloured by change,
facilities added or removed. Like the gap map it works offline (:func:`planner.outputs.basemaps.offline_map`)."""

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
    add_map_script,
    encode_ints,
    encode_points,
    escape_all,
    marker_points,
    pack_column,
    text_codes,
)

if TYPE_CHECKING:
    from planner.outputs.compare import Comparison

__all__ = ["comparison_map", "CHANGES"]

#: compound change classes, in legend order, with their map colour
CHANGES = {"gained": "#1a9850", "lost": "#d73027", "mixed": "#f68b1f", "unchanged": "#b4b4b4"}


def comparison_map(cmp: Comparison, *, lang: str, basemap: str, tianditu_key: str | None) -> folium.Map:
    """The comparison drawn on ``basemap``: 街道 outlines, compounds by change class, facilities added or removed.

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

    if outlines is not None and len(outlines):
        _add_zone_changes(fmap, cmp, to_display(outlines, basemap), lang=lang)
    if has_geometry:
        _add_compound_changes(fmap, comp, shown, lang=lang)
    fac = cmp.facilities
    if fac is not None and len(fac) and {"lon", "lat"} <= set(fac.columns):
        _add_facility_changes(fmap, fac, lang=lang, basemap=basemap)

    _add_controls(fmap, cmp, lang=lang)
    if frames:
        fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    return fmap


# ------------------------------------------------------------------------------------------------ layers


def _add_zone_changes(fmap: folium.Map, cmp: Comparison, outlines: gpd.GeoDataFrame, *, lang: str) -> None:
    """街道 outlines filled by whether they gain rules, lose rules or both; the popup lists the changes."""
    taxonomy = load_taxonomy()
    zt = cmp.zones.set_index("zone_id")
    zg = outlines[["name", "geometry"]].copy()
    zg = zg[zg.index.isin(zt.index)]
    zg["state"] = [_zone_state(zt.loc[z]) for z in zg.index]
    rule_names = dict(zip(cmp.rules["rule_id"], cmp.rules["rule"], strict=True))
    zg["popup"] = [_zone_popup(zt.loc[z], cmp.categories, taxonomy, rule_names, lang) for z in zg.index]
    colours = {"better": "#1a9850", "worse": "#d73027", "both": "#f68b1f", "same": "#ffffff"}
    folium.GeoJson(
        zg,
        name=tr("cmp.zones", lang),
        style_function=lambda f, c=colours: {
            "color": "#3f007d", "weight": 2.5, "dashArray": "6 4", "fillColor": c[f["properties"]["state"]],
            "fillOpacity": 0.05 if f["properties"]["state"] == "same" else 0.3,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
    ).add_to(fmap)


def _add_compound_changes(fmap: folium.Map, comp: gpd.GeoDataFrame, shown: gpd.GeoDataFrame, *, lang: str) -> None:
    """One layer per change class of :data:`CHANGES` (unchanged compounds drawn smaller).

    As on the gap map, the compounds are one packed table (positions; names; change class, categories gained and
    lost as indices into tables of their texts) whose popups are built when clicked
    (:data:`planner.outputs.map_layers.MAP_JS`, ``changes``), not one GeoJSON feature and popup string each.
    """
    pts = marker_points(shown.geometry.to_numpy())
    change = pd.Categorical(comp["change"].astype(str), categories=list(CHANGES)).codes
    gained_codes, gained = text_codes(comp["categories_gained"], sort=True)
    lost_codes, lost = text_codes(comp["categories_lost"], sort=True)
    table = DataTable({
        "scale": POINT_SCALE, "xy": encode_points(pts[:, 0], pts[:, 1]), "name": escape_all(comp["name"]),
        "changes": [tr("cmp." + k, lang) for k in CHANGES], "gained": escape_all(gained), "lost": escape_all(lost),
        "cols": {"k": pack_column(change), "g": pack_column(gained_codes), "l": pack_column(lost_codes)},
    })
    table.add_to(fmap)
    for k, (key, colour) in enumerate(CHANGES.items()):
        rows = np.flatnonzero(change == k)
        if not len(rows):
            continue
        DataLayer(
            "changes", {"rows": encode_ints(np.diff(rows, prepend=0)), "radius": 4 if key == "unchanged" else 7, "colour": colour},
            name=f"{tr('cmp.' + key, lang)} ({len(rows)})", args=(table,),
        ).add_to(fmap)


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


def _add_controls(fmap: folium.Map, cmp: Comparison, *, lang: str) -> None:
    """The layer switcher, the title box (with the comparison's notes), the legend and the page title."""
    folium.LayerControl(collapsed=False).add_to(fmap)
    root = fmap.get_root()
    title = tr("cmp.title", lang, a=cmp.a.name, b=cmp.b.name)
    notes = "".join(f"<br><span style='color:#b35806'>{html.escape(n)}</span>" for n in cmp.notes)
    root.html.add_child(folium.Element(
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px sans-serif;max-width:60%'>"
        f"<b>{html.escape(title)}</b><br><span style='font-size:12px;color:#555'>{tr('cmp.subtitle', lang, t=schema.minutes_text(cmp.b.longest))}</span>{notes}</div>"
    ))
    root.html.add_child(folium.Element(_legend_html(lang)))
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="page_title")
    add_export(fmap, lang=lang, title=title)


# ------------------------------------------------------------------------------------------------ popups and legend


def _legend_html(lang: str) -> str:
    """The legend: compound change classes, 街道 states, facility changes."""
    items = "".join(
        f"<div><i style='background:{c};width:10px;height:10px;border-radius:5px;display:inline-block;margin-right:4px;border:1px solid #333'></i>"
        f"{tr('cmp.' + k, lang)}</div>" for k, c in CHANGES.items()
    )
    zones_legend = "".join(
        f"<div><i style='background:{c};opacity:.6;width:12px;height:10px;display:inline-block;margin-right:4px;border:1px dashed #3f007d'></i>"
        f"{tr('cmp.zone_' + k, lang)}</div>" for k, c in (("better", "#1a9850"), ("worse", "#d73027"), ("both", "#f68b1f"))
    )
    fac_legend = "".join(
        f"<div><i style='background:{c};width:12px;height:12px;border-radius:7px;display:inline-block;margin-right:4px;border:2px solid #000'></i>"
        f"{tr('cmp.fac_' + k, lang)}</div>" for k, c in (("added", "#1a9850"), ("removed", "#d73027"))
    )
    return (
        "<div id='planner-legend' style='position:fixed;bottom:60px;left:10px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px sans-serif'>"
        f"<b>{tr('ui.legend', lang)}</b>{items}{zones_legend}{fac_legend}</div>"
    )


def _zone_state(row: pd.Series) -> str:
    """better, worse, both or same: whether a 街道 has newly passing and/or newly failing rules."""
    up, down = row["n_newly_passing"] > 0, row["n_newly_failing"] > 0
    return "both" if up and down else "better" if up else "worse" if down else "same"


def _zone_popup(row: pd.Series, cats: list[str], taxonomy: Taxonomy, rule_names: dict[str, str], lang: str) -> str:
    """A 街道's popup: rules newly passing or failing, people newly covered or losing cover per category."""
    parts = [f"<b>{html.escape(str(row['name']))}</b>"]
    for key, label, mark in (("newly_passing", "cmp.newly_passing", "✔"), ("newly_failing", "cmp.newly_failing", "✘")):
        if row[key]:
            items = "".join(f"<li>{mark} {html.escape(rule_names.get(rid, rid))}</li>" for rid in str(row[key]).split("；"))
            parts.append(f"{tr(label, lang)}<ul style='margin:0;padding-left:16px'>{items}</ul>")
    gains = [(c, row[schema.newly_covered(c)]) for c in cats if row[schema.newly_covered(c)] > 0]
    if gains:
        items = "".join(f"<tr><td>{html.escape(taxonomy[c].label(lang) if c in taxonomy else c)}</td><td>+{v:,.0f}</td></tr>" for c, v in gains)
        parts.append(f"{tr('cmp.newly_covered', lang)}<table style='font-size:11px'>{items}</table>")
    losses = [(c, row[schema.lost(c)]) for c in cats if row[schema.lost(c)] > 0]
    if losses:
        items = "".join(f"<tr><td>{html.escape(taxonomy[c].label(lang) if c in taxonomy else c)}</td><td>−{v:,.0f}</td></tr>" for c, v in losses)
        parts.append(f"{tr('cmp.lost_cover', lang)}<table style='font-size:11px'>{items}</table>")
    if len(parts) == 1:
        parts.append(tr("cmp.no_change", lang))
    return "<br>".join(parts)
