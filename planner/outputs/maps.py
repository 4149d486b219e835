"""The interactive gap map (folium): 街道, compounds coloured by coverage, facilities by category; works offline."""

from __future__ import annotations

import datetime as _dt
import html
import logging
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.analysis.coverage import Coverage
from planner.io.categories import Category, Taxonomy
from planner.labels import tr
from planner.outputs.basemaps import add_basemap, check_basemap, needs_gcj02, offline_map, to_display
from planner.outputs.style import COMPLETENESS_RAMP, completeness_color, fail_color

__all__ = ["gap_map", "save_map"]

log = logging.getLogger(__name__)


def gap_map(
    *,
    title: str,
    lang: str,
    sample_data: bool,
    basemap: str,
    network_edges: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None,
    zone_table: pd.DataFrame,
    compounds: gpd.GeoDataFrame,
    coverage: Coverage,
    facilities: gpd.GeoDataFrame,
    taxonomy: Taxonomy,
    max_snap_m: float,
    isochrones: dict[str, gpd.GeoDataFrame] | None = None,
    compliance: pd.DataFrame | None = None,
    tianditu_key: str | None = None,
    sites: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the gap map. All frames may be in any CRS; they are drawn in WGS84.

    Layers: walk network (the offline basemap), 街道 outlines with their summary, compounds
    coloured by the share of categories within the longest threshold, unreachable compounds,
    and one layer per facility category. A legend, a layer switcher and a scale bar are added.
    ``basemap`` is one of :data:`planner.outputs.basemaps.BASEMAPS` (天地图 needs ``tianditu_key``).
    """
    # --- base map (planner.outputs.basemaps): on 高德's GCJ-02 tiles every geometry is drawn shifted to GCJ-02 ---
    check_basemap(basemap, tianditu_key)
    if needs_gcj02(basemap):
        network_edges, zones, compounds, facilities = (to_display(f, basemap) for f in (network_edges, zones, compounds, facilities))
        isochrones = {k: to_display(v, basemap) for k, v in (isochrones or {}).items()}
        sites = to_display(sites, basemap) if sites is not None and len(sites) else sites
    # --- end base map ---
    longest = schema.minutes_text(max(coverage.thresholds_min))
    comp = compounds.to_crs(4326)
    bounds = comp.total_bounds if len(comp) else network_edges.to_crs(4326).total_bounds
    center = [float((bounds[1] + bounds[3]) / 2), float((bounds[0] + bounds[2]) / 2)]
    fmap = offline_map(center, tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key=tianditu_key)

    _add_network(fmap, network_edges, lang=lang, basemap=basemap)
    if zones is not None and len(zones) and compliance is not None and len(compliance):
        _add_compliance(fmap, zones, compliance, lang=lang)
    if zones is not None and len(zones):
        _add_zones(fmap, zones, zone_table, coverage.categories, taxonomy, lang=lang, longest=longest)
    _add_isochrones(fmap, isochrones or {}, taxonomy, lang=lang, longest=longest)
    _add_compounds(fmap, compounds, coverage, taxonomy, lang=lang, max_snap_m=max_snap_m)
    if "formats_present" in compounds.columns:
        _add_formats(fmap, compounds, taxonomy, lang=lang)
    drawn = _add_facilities(fmap, facilities, coverage.categories, taxonomy, lang=lang)
    if sites is not None and len(sites):
        _add_sites(fmap, sites, taxonomy, lang=lang)

    _add_controls(fmap, title=title, lang=lang, sample_data=sample_data, speed=coverage.speed_m_per_min, longest=longest,
                  legend_categories=[taxonomy[c] for c in drawn])
    if len(comp):
        fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    return fmap


# ------------------------------------------------------------------------------------------------ layers


def _add_network(fmap: folium.Map, network_edges: gpd.GeoDataFrame, *, lang: str, basemap: str) -> None:
    """The walk network: the basemap offline, an optional layer over tiles; main roads drawn wider."""
    net = network_edges.to_crs(4326)[["highway", "name", "geometry"]].copy()
    net["name"] = net["name"].fillna("").astype(str)
    major = net["highway"].astype(str).str.contains("primary|secondary|trunk|tertiary", regex=True)
    folium.GeoJson(
        net,
        name=tr("ui.network", lang),
        style_function=lambda f: {
            "color": "#9a9a9a" if f["properties"]["highway"] and any(
                k in str(f["properties"]["highway"]) for k in ("primary", "secondary", "tertiary", "trunk")
            ) else "#c8c8c8",
            "weight": 3 if any(k in str(f["properties"]["highway"]) for k in ("primary", "secondary", "trunk")) else 1.5,
            "opacity": 0.9,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False) if (net["name"] != "").any() else None,
        control=True,
        show=basemap == "offline",  # it is the basemap offline; over tiles it is an optional layer
    ).add_to(fmap)
    log.debug("network layer: %d edges (%d major)", len(net), int(major.sum()))


def _add_compliance(fmap: folium.Map, zones: gpd.GeoDataFrame, compliance: pd.DataFrame, *, lang: str) -> None:
    """街道 shaded by their number of failed rules, with the rule-by-rule result in the popup (hidden at first)."""
    zc = zones.to_crs(4326)[["name", "geometry"]].copy()
    zone_rows = compliance[compliance["subdistrict"] != schema.CITY]
    fails = zone_rows[zone_rows["status"] == "fail"].groupby("subdistrict").size()
    zc["failed"] = [int(fails.get(str(z), 0)) for z in zc.index.astype(str)]
    zc["popup"] = [_compliance_popup(str(z), n, zone_rows, lang) for z, n in zip(zc.index.astype(str), zc["name"], strict=True)]
    worst = max(1, int(zc["failed"].max()))
    folium.GeoJson(
        zc,
        name=tr("ui.compliance", lang),
        style_function=lambda f, w=worst: {
            "color": "#67000d", "weight": 1, "fillColor": fail_color(f["properties"]["failed"] / w), "fillOpacity": 0.45,
        },
        tooltip=folium.GeoJsonTooltip(fields=["name", "failed"], aliases=["", tr("ui.failed_rules", lang)]),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        show=False,
    ).add_to(fmap)


def _add_zones(
    fmap: folium.Map,
    zones: gpd.GeoDataFrame,
    zone_table: pd.DataFrame,
    cats: Sequence[str],
    taxonomy: Taxonomy,
    *,
    lang: str,
    longest: str,
) -> None:
    """街道 outlines with their population and shares within the longest threshold in the popup."""
    zg = zones.to_crs(4326)[["name", "geometry"]].copy()
    zg["popup"] = [_zone_popup(str(zid), zone_table, cats, taxonomy, lang, longest) for zid in zg.index.astype(str)]
    folium.GeoJson(
        zg,
        name=tr("ui.zones", lang),
        style_function=lambda f: {"color": "#3f007d", "weight": 3, "fill": True, "fillOpacity": 0.03, "dashArray": "6 4"},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
    ).add_to(fmap)


def _add_isochrones(
    fmap: folium.Map, isochrones: dict[str, gpd.GeoDataFrame], taxonomy: Taxonomy, *, lang: str, longest: str
) -> None:
    """One hidden layer per category: the area within the longest threshold of its facilities."""
    for cat, iso in isochrones.items():
        meta = taxonomy[cat]
        folium.GeoJson(
            iso.to_crs(4326)[["geometry"]],
            name=tr("ui.isochrone", lang, t=longest, c=meta.label(lang)),
            style_function=lambda f, col=meta.color: {"color": col, "weight": 1, "fillColor": col, "fillOpacity": 0.15},
            show=False,
        ).add_to(fmap)


def _add_compounds(
    fmap: folium.Map, compounds: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy, *, lang: str, max_snap_m: float
) -> None:
    """Compounds coloured by completeness and sized by population; unreachable ones in a layer of their own."""
    comp = compounds.to_crs(4326)
    cats = coverage.categories
    table = coverage.table
    reach = compounds["reachable"].to_numpy(dtype=bool)
    cg = gpd.GeoDataFrame(
        {
            "name": comp["name"].astype(str).to_numpy(),
            "completeness": table["completeness"].to_numpy(),
            "popup": [_compound_popup(comp.iloc[i], table.iloc[i], cats, taxonomy, lang, coverage, max_snap_m, reach[i]) for i in range(len(comp))],
            "radius": np.clip(np.sqrt(comp["population"].fillna(0).to_numpy()) / 6.0, 4, 14),
        },
        geometry=comp.geometry.representative_point().to_numpy(),
        crs=4326,
    )
    for layer_key, mask in (("compounds", reach), ("unreachable", ~reach)):
        if not mask.any():
            continue
        sub = cg[mask]
        folium.GeoJson(
            sub,
            name=tr(f"ui.{layer_key}", lang),
            marker=folium.CircleMarker(radius=6, weight=1),
            style_function=lambda f, lk=layer_key: {
                "radius": f["properties"]["radius"],
                "color": "#000000" if lk == "unreachable" else "#333333",
                "weight": 2 if lk == "unreachable" else 1,
                "fillColor": "#ffffff" if lk == "unreachable" else completeness_color(f["properties"]["completeness"]),
                "fill": True,
                "fillOpacity": 0.9,
                "dashArray": "2 2" if lk == "unreachable" else None,
            },
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        ).add_to(fmap)


def _add_formats(fmap: folium.Map, compounds: gpd.GeoDataFrame, taxonomy: Taxonomy, *, lang: str) -> None:
    """Reachable compounds coloured by the share of basic service formats present (hidden at first)."""
    comp = compounds.to_crs(4326)
    reach = compounds["reachable"].to_numpy(dtype=bool)
    n_basic = max(1, sum(1 for c in taxonomy.categories if c.basic))
    fg = gpd.GeoDataFrame(
        {
            "name": comp["name"].astype(str).to_numpy(),
            "share": compounds["formats_present"].to_numpy() / n_basic,
            "popup": [
                f"<b>{html.escape(str(n))}</b><br>{tr('ui.formats', lang)}：{int(k)}/{n_basic}"
                + (f"<br>{tr('ui.formats_missing', lang)}：{html.escape(str(m))}" if m else "")
                for n, k, m in zip(comp["name"], compounds["formats_present"], compounds["formats_missing"].fillna(""), strict=True)
            ],
        },
        geometry=comp.geometry.representative_point().to_numpy(),
        crs=4326,
    )[reach]
    folium.GeoJson(
        fg,
        name=tr("ui.formats", lang),
        marker=folium.CircleMarker(radius=6, weight=1),
        style_function=lambda f: {"radius": 6, "color": "#333333", "weight": 1, "fill": True, "fillOpacity": 0.9,
                                  "fillColor": completeness_color(f["properties"]["share"])},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
        show=False,
    ).add_to(fmap)


def _add_facilities(
    fmap: folium.Map, facilities: gpd.GeoDataFrame, cats: Sequence[str], taxonomy: Taxonomy, *, lang: str
) -> list[str]:
    """One layer per facility category (analysed ones first and shown); returns the categories drawn, in order."""
    fac = facilities.to_crs(4326)
    shown = [c for c in cats] + sorted(set(fac["category"]) - set(cats))
    drawn = []
    for cat in shown:
        sub = fac[fac["category"] == cat]
        if not len(sub):
            continue
        drawn.append(cat)
        meta = taxonomy[cat]
        fg = gpd.GeoDataFrame(
            {"name": sub["name"].astype(str).to_numpy(), "popup": [_facility_popup(r, meta.label(lang), lang) for _, r in sub.iterrows()]},
            geometry=sub.geometry.to_numpy(),
            crs=4326,
        )
        folium.GeoJson(
            fg,
            name=f"{tr('ui.facilities', lang)}：{meta.label(lang)} ({len(sub)})",
            marker=folium.CircleMarker(radius=5, weight=1),
            style_function=lambda f, col=meta.color: {"radius": 5, "color": "#ffffff", "weight": 1.5, "fill": True, "fillColor": col, "fillOpacity": 1.0},
            tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
            show=cat in cats,
        ).add_to(fmap)
    return drawn


def _add_sites(fmap: folium.Map, sites: gpd.GeoDataFrame, taxonomy: Taxonomy, *, lang: str) -> None:
    """Suggested sites, ringed in black and filled with their category's colour, each explained in its popup."""
    sg = sites.to_crs(4326)
    site_layer = gpd.GeoDataFrame(
        {
            "name": [f"{r} {n}" for r, n in zip(sg["rank"], sg["name"], strict=True)],
            "popup": [
                f"<b>{tr('ui.site', lang)} {html.escape(str(t))} · {int(r)}</b><br>{html.escape(str(taxonomy[c].label(lang)))}"
                + (f" + {html.escape(str(taxonomy[p].label(lang)))}" if isinstance(p, str) and p in taxonomy else "")
                + f"<br>{html.escape(str(e))}"
                for t, r, c, p, e in zip(sg["task"], sg["rank"], sg["category"],
                                         sg["partner"] if "partner" in sg else [""] * len(sg), sg["explanation"], strict=True)
            ],
            "color": [taxonomy[c].color for c in sg["category"]],
        },
        geometry=sg.geometry.to_numpy(),
        crs=4326,
    )
    folium.GeoJson(
        site_layer,
        name=tr("ui.sites", lang),
        marker=folium.CircleMarker(radius=11, weight=4),
        style_function=lambda f: {"radius": 11, "color": "#000000", "weight": 4, "fill": True,
                                  "fillColor": f["properties"]["color"], "fillOpacity": 0.95},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
        popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=420),
    ).add_to(fmap)


def _add_controls(
    fmap: folium.Map, *, title: str, lang: str, sample_data: bool, speed: float, longest: str, legend_categories: list[Category]
) -> None:
    """The layer switcher, the title box, the legend and the page title."""
    folium.LayerControl(collapsed=False).add_to(fmap)
    root = fmap.get_root()
    root.html.add_child(folium.Element(_title_html(title, lang, sample_data, speed)))
    root.html.add_child(folium.Element(_legend_html(lang, longest, legend_categories)))
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="page_title")
    # a long layer list scrolls instead of covering the map
    root.header.add_child(
        folium.Element("<style>.leaflet-control-layers-expanded{max-height:60vh;overflow-y:auto;font-size:12px}</style>"),
        name="layer_control_css",
    )


# ------------------------------------------------------------------------------------------------ popups and boxes


def _compliance_popup(zid: str, name: str, rows: pd.DataFrame, lang: str) -> str:
    sub = rows[rows["subdistrict"] == zid]
    mark = {"pass": "✔", "fail": "✘", "not_evaluable": "？"}
    colour = {"pass": "#1a9850", "fail": "#d73027", "not_evaluable": "#777777"}
    body = "".join(
        f"<tr><td style='color:{colour[r.status]}'>{mark[r.status]}</td><td>{html.escape(r.rule)}</td>"
        f"<td>{'' if pd.isna(r.value) else f'{r.value:g}'}</td><td>{r.target:g} {html.escape(r.unit)}</td>"
        f"<td>{html.escape(r.shortfall_text or '')}</td></tr>"
        for r in sub.itertuples()
    )
    head = f"<b>{html.escape(name)}</b> — {tr('ui.compliance', lang)}<br>"
    cols = "".join(f"<th>{h}</th>" for h in ("", tr("ui.rule", lang), tr("ui.value", lang), tr("ui.target", lang), tr("ui.shortfall", lang)))
    return head + f"<table style='font-size:11px'><tr>{cols}</tr>{body}</table>"


def _fmt_m(dist: float, speed: float, lang: str) -> str:
    if not np.isfinite(dist):
        return tr("ui.none_reachable", lang)
    return f"{dist:,.0f} m（{dist / speed:.1f} {tr('ui.minutes', lang)}）"


def _compound_popup(row, cov_row, cats, taxonomy: Taxonomy, lang: str, coverage: Coverage, max_snap_m: float, reachable: bool) -> str:
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


def _facility_popup(row, label: str, lang: str) -> str:
    parts = [f"<b>{html.escape(str(row['name']))}</b>", html.escape(label)]
    if pd.notna(row.get("places")):
        parts.append(tr("ui.capacity", lang, p=float(row["places"])))
    if pd.notna(row.get("beds")):
        parts.append(tr("ui.beds", lang, b=float(row["beds"])))
    if row.get("public_benefit") is True:
        parts.append(tr("ui.puhui", lang))
    return "<br>".join(parts)


def _zone_popup(zid: str, table: pd.DataFrame, cats, taxonomy: Taxonomy, lang: str, longest: str) -> str:
    if zid not in table.index:
        return ""
    row = table.loc[zid]
    out = [f"<b>{html.escape(str(row['name']))}</b>"]
    if pd.notna(row["population"]):
        out.append(f"{tr('ui.population', lang)} {row['population']:,.0f}，{tr('ui.compound_count', lang)} {int(row['compounds'])}")
    out.append(tr("ui.share_within", lang, t=longest) + "：")
    items = []
    for cat in cats:
        share = row[schema.share(cat, longest)]
        txt = "—" if pd.isna(share) else f"{share * 100:.0f}%"
        items.append(f"<tr><td>{html.escape(taxonomy[cat].label(lang))}</td><td>{txt}</td></tr>")
    return "<br>".join(out) + "<table style='font-size:12px'>" + "".join(items) + "</table>"


def _title_html(title: str, lang: str, sample: bool, speed: float) -> str:
    badge = (
        f"<span style='background:#d73027;color:#fff;padding:1px 6px;border-radius:3px;margin-left:8px'>{tr('ui.sample', lang)}</span>"
        if sample
        else ""
    )
    date = _dt.date.today().isoformat()
    return (
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:15px sans-serif'>"
        f"<b>{html.escape(title)}</b>{badge}<br><span style='font-size:12px;color:#555'>{tr('ui.generated', lang)} {date} · "
        f"{tr('ui.speed', lang, v=speed)}</span></div>"
    )


def _legend_html(lang: str, longest: str, cats) -> str:
    ramp = "".join(
        f"<i style='background:{c};width:14px;height:10px;display:inline-block;margin-right:1px'></i>" for c in COMPLETENESS_RAMP
    )
    cat_rows = "".join(
        f"<div><i style='background:{c.color};width:10px;height:10px;border-radius:5px;display:inline-block;margin-right:4px'></i>{html.escape(c.label(lang))}</div>"
        for c in cats
    )
    return (
        "<div id='planner-legend' style='position:fixed;bottom:60px;left:10px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:12px sans-serif;max-height:45%;overflow:auto'>"
        f"<b>{tr('ui.legend', lang)}</b><br>{tr('ui.completeness', lang, t=longest)}<br>0% {ramp} 100%<br>"
        f"<div><i style='border:2px dashed #000;width:9px;height:9px;border-radius:6px;display:inline-block;margin-right:4px'></i>{tr('ui.unreachable', lang)}</div>"
        f"{cat_rows}</div>"
    )


def save_map(fmap: folium.Map, path: Path) -> Path:
    """Write the map as one self-contained UTF-8 HTML file."""
    fmap.save(str(path))
    return path
