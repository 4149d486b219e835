"""The interactive gap map (folium): 街道, compounds coloured by coverage, facilities by category; works offline."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.analysis.coverage import Coverage
from planner.io.categories import Category, Taxonomy
from planner.labels import tr
from planner.network.build import WalkNetwork
from planner.outputs.basemaps import add_basemap, check_basemap, needs_gcj02, offline_map, to_display
from planner.outputs.fonts import embed_map_font
from planner.outputs.map_layers import (
    POINT_SCALE,
    STREET_SCALE,
    STREET_STYLES,
    DataLayer,
    DataTable,
    add_map_script,
    display_lonlat,
    encode_ints,
    encode_points,
    escape_all,
    marker_points,
    pack_column,
    polygon_table,
    street_groups,
    text_codes,
)
from planner.outputs.reproducible import shown_date, stable_ids
from planner.outputs.style import COMPLETENESS_RAMP, completeness_index, fail_color

__all__ = ["gap_map", "save_map"]

log = logging.getLogger(__name__)


def gap_map(
    *,
    title: str,
    lang: str,
    sample_data: bool,
    basemap: str,
    network: WalkNetwork,
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
    site_catchments: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the gap map. All frames may be in any CRS; they are drawn in WGS84.

    Layers: walk network (the offline basemap), 街道 outlines with their summary, compounds
    coloured by the share of categories within the longest threshold, unreachable compounds,
    and one layer per facility category. A legend, a layer switcher and a scale bar are added.
    ``basemap`` is one of :data:`planner.outputs.basemaps.BASEMAPS` (天地图 needs ``tianditu_key``).

    It holds at city scale: streets are merged per class and name, simplified and rounded
    (:func:`planner.outputs.map_layers.street_groups`; the network's edge frame is never built), compounds
    and facilities are columns of packed integers drawn as canvas circle markers whose popups are built
    when clicked, and polygons are simplified by :data:`POLYGON_TOLERANCE_M` and rounded. Element ids are
    numbered, so the same inputs give the same page.
    """
    # --- base map (planner.outputs.basemaps): on 高德's GCJ-02 tiles every geometry is drawn shifted to GCJ-02 ---
    check_basemap(basemap, tianditu_key)
    if needs_gcj02(basemap):  # lines and polygons are shifted as they are packed (map_layers.display_lonlat)
        compounds, facilities = (to_display(f, basemap) for f in (compounds, facilities))
        sites = to_display(sites, basemap) if sites is not None and len(sites) else sites
    # --- end base map ---
    longest = schema.minutes_text(max(coverage.thresholds_min))
    comp = compounds.to_crs(4326)
    bounds = comp.total_bounds if len(comp) else _network_bounds(network, basemap)
    center = [float((bounds[1] + bounds[3]) / 2), float((bounds[0] + bounds[2]) / 2)]
    fmap = offline_map(center, tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key=tianditu_key)
    add_map_script(fmap)

    _add_network(fmap, network, lang=lang, basemap=basemap)
    if zones is not None and len(zones):
        table = _zone_table(zones, zone_table, coverage.categories, taxonomy, lang=lang, longest=longest, basemap=basemap)
        table.add_to(fmap)
        if compliance is not None and len(compliance):
            _add_compliance(fmap, zones, table, compliance, lang=lang)
        _add_zones(fmap, zones, table, lang=lang)
    _add_isochrones(fmap, isochrones or {}, taxonomy, lang=lang, longest=longest, basemap=basemap)
    _add_compounds(fmap, compounds, comp, coverage, taxonomy, lang=lang, max_snap_m=max_snap_m)
    drawn = _add_facilities(fmap, facilities, coverage.categories, taxonomy, lang=lang)
    if sites is not None and len(sites):
        _add_sites(fmap, sites, taxonomy, lang=lang)

    _add_controls(fmap, title=title, lang=lang, sample_data=sample_data, speed=coverage.speed_m_per_min, longest=longest,
                  legend_categories=[taxonomy[c] for c in drawn])
    if len(comp):
        fmap.fit_bounds([[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]])
    number_elements(fmap)
    return fmap


#: 街道 outlines and isochrones are simplified by this many metres (in the metric CRS) before they are drawn
POLYGON_TOLERANCE_M = 5.0
#: holes of an isochrone smaller than this (m²) are filled on the map: the gaps its street buffers leave inside a
#: block (a 100 m block walked round on all sides leaves a hole of about 20 m × 20 m) are noise at city scale
ISOCHRONE_MIN_HOLE_M2 = 2_000.0


def _network_bounds(network: WalkNetwork, basemap: str) -> np.ndarray:
    """(minx, miny, maxx, maxy) in display degrees of the network's nodes."""
    st = network.streets
    lon, lat = display_lonlat(st.node_x, st.node_y, network.crs, basemap)
    return np.array([lon.min(), lat.min(), lon.max(), lat.max()]) if len(lon) else np.zeros(4)


def number_elements(fmap: folium.Map) -> None:
    """Replace folium's random element ids by numbers in document order, so that a page is the same every time."""
    root = fmap.get_root()
    seen: set[int] = set()
    todo = [root]
    count = 0
    while todo:
        element = todo.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        count += 1
        element._id = f"{count:08x}"
        todo.extend(reversed(list(element._children.values())))
        for part in ("header", "html", "script"):
            child = getattr(element, part, None)
            if child is not None and hasattr(child, "_children"):
                todo.append(child)


# ------------------------------------------------------------------------------------------------ layers


def _add_network(fmap: folium.Map, network: WalkNetwork, *, lang: str, basemap: str) -> None:
    """The walk network: the basemap offline, an optional layer over tiles; main roads drawn wider.

    Drawn per street class and name (:func:`planner.outputs.map_layers.street_groups`); named streets show their
    name on hover.
    """
    groups = street_groups(network, basemap=basemap)
    styles = [{"color": colour, "weight": weight} for _, colour, weight in STREET_STYLES]
    DataLayer(
        "streets", {"scale": STREET_SCALE, "styles": styles, "groups": groups},
        name=tr("ui.network", lang),
        show=basemap == "offline",  # it is the basemap offline; over tiles it is an optional layer
    ).add_to(fmap)
    log.debug("network layer: %d edges drawn as %d groups", network.n_edges, len(groups))


def _zone_table(zones: gpd.GeoDataFrame, zone_table: pd.DataFrame, cats: Sequence[str], taxonomy: Taxonomy, *, lang: str,
                longest: str, basemap: str) -> DataTable:
    """The 街道 outlines (simplified, packed), names and popups, shared by the 街道 and compliance layers."""
    data = polygon_table(zones.geometry.to_numpy(), zones.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M)
    data["name"] = escape_all(zones["name"])
    data["popup"] = _zone_popups(zones.index.astype(str), zone_table, cats, taxonomy, lang, longest)
    return DataTable(data)


def _add_compliance(fmap: folium.Map, zones: gpd.GeoDataFrame, table: DataTable, compliance: pd.DataFrame, *, lang: str) -> None:
    """街道 shaded by their number of failed rules, with the rule-by-rule result in the popup (hidden at first).

    The popup is built on click from three tables of cells (status and rule; value; target, unit and shortfall)
    and, per 街道, its rows' positions in them.
    """
    zone_ids = zones.index.astype(str)
    zone_rows = compliance[compliance["subdistrict"] != schema.CITY]
    pos = pd.Series(np.arange(len(zones)), index=zone_ids)
    pos = pos[~pos.index.duplicated()]
    at = zone_rows["subdistrict"].astype(str).map(pos)
    rows = zone_rows[at.notna().to_numpy()].assign(_at=at.dropna().astype(int).to_numpy()).sort_values("_at", kind="stable")
    failed = np.bincount(rows.loc[rows["status"] == "fail", "_at"].to_numpy(), minlength=len(zones))[
        np.asarray(pos.reindex(zone_ids).to_numpy(), dtype=np.int64)
    ]
    worst = max(1, int(failed.max())) if len(failed) else 1
    mark = {"pass": "✔", "fail": "✘", "not_evaluable": "？"}
    colour = {"pass": "#1a9850", "fail": "#d73027", "not_evaluable": "#777777"}
    a_cells = [f"<td style='color:{colour[s]}'>{mark[s]}</td><td>{html.escape(r)}</td>" for s, r in zip(rows["status"], rows["rule"], strict=True)]
    b_cells = [f"<td>{'' if pd.isna(v) else f'{v:g}'}</td>" for v in rows["value"]]
    c_cells = [f"<td>{t:g} {html.escape(u)}</td><td>{html.escape(f or '')}</td>"
               for t, u, f in zip(rows["target"], rows["unit"], rows["shortfall_text"], strict=True)]
    cells = {}
    for key, values in (("a", a_cells), ("b", b_cells), ("c", c_cells)):
        codes, uniques = pd.factorize(pd.Series(values, dtype=object), sort=True)
        cells[key], cells[key.upper()] = encode_ints(codes), list(uniques)
    head = "".join(f"<th>{h}</th>" for h in ("", tr("ui.rule", lang), tr("ui.value", lang), tr("ui.target", lang), tr("ui.shortfall", lang)))
    label = tr("ui.failed_rules", lang)
    names = escape_all(zones["name"])
    DataLayer(
        "polygons",
        {
            "style": {"color": "#67000d", "weight": 1, "fillOpacity": 0.45},
            "fill": [fail_color(n / worst) for n in failed.tolist()],
            "tooltip": [f"<table><tr><th></th><td>{z}</td></tr><tr><th>{label}</th><td>{n}</td></tr></table>"
                        for z, n in zip(names, failed.tolist(), strict=True)],
            "popup": "compliance",
            "title": tr("ui.compliance", lang),
            "head": head,
            "n": encode_ints(np.bincount(rows["_at"].to_numpy(), minlength=len(zones))),
            **cells,
        },
        name=tr("ui.compliance", lang), args=(table,), show=False,
    ).add_to(fmap)


def _add_zones(fmap: folium.Map, zones: gpd.GeoDataFrame, table: DataTable, *, lang: str) -> None:
    """街道 outlines with their population and shares within the longest threshold in the popup."""
    DataLayer(
        "polygons",
        {
            "style": {"color": "#3f007d", "weight": 3, "fill": True, "fillOpacity": 0.03, "dashArray": "6 4"},
            "tooltip": [f"<table><tr><td>{n}</td></tr></table>" for n in escape_all(zones["name"])],
            "popup": "zone",
        },
        name=tr("ui.zones", lang), args=(table,),
    ).add_to(fmap)


def _add_isochrones(
    fmap: folium.Map, isochrones: dict[str, gpd.GeoDataFrame], taxonomy: Taxonomy, *, lang: str, longest: str, basemap: str
) -> None:
    """One hidden layer per category: the area within the longest threshold of its facilities (simplified by
    :data:`POLYGON_TOLERANCE_M`, holes under :data:`ISOCHRONE_MIN_HOLE_M2` filled, packed)."""
    for cat, iso in isochrones.items():
        meta = taxonomy[cat]
        table = DataTable(polygon_table(iso.geometry.to_numpy(), iso.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M,
                                        min_hole_m2=ISOCHRONE_MIN_HOLE_M2))
        table.add_to(fmap)
        DataLayer(
            "polygons", {"style": {"color": meta.color, "weight": 1, "fillColor": meta.color, "fillOpacity": 0.15}},
            name=tr("ui.isochrone", lang, t=longest, c=meta.label(lang)), args=(table,), show=False,
        ).add_to(fmap)


def _compound_table(
    compounds: gpd.GeoDataFrame, comp: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy, *, lang: str,
    max_snap_m: float, n_basic: int
) -> dict:
    """Every compound's popup facts as columns (see :data:`planner.outputs.map_layers.MAP_JS`, ``compoundPopup``);
    ``comp`` is ``compounds`` in WGS84 (as drawn).

    Numbers are sent as they are printed: facts, metres and percent rounded as Python's ``{:,.0f}`` rounds them
    (half to even), minutes in tenths as ``{:.1f}`` prints them; -1 stands for a missing value.
    """
    cats = list(coverage.categories)
    table = coverage.table
    longest = max(coverage.thresholds_min)
    pts = marker_points(comp.geometry.to_numpy())
    cols: dict[str, str | int] = {}
    facts = [key for key in ("population", "households", "age_60_plus", "age_0_3") if key in comp.columns]
    for f, key in enumerate(facts):
        cols[f"f{f}"] = pack_column(_rounded(pd.to_numeric(comp[key], errors="coerce").to_numpy(dtype=float)))
    completeness = table["completeness"].to_numpy(dtype=float)
    cols["pct"] = pack_column(_rounded(completeness * 100))
    cols["c"] = pack_column(completeness_index(completeness))
    cols["r"] = pack_column(np.rint(np.clip(np.sqrt(comp["population"].fillna(0).to_numpy(dtype=float)) / 6.0, 4, 14) * 10))
    # nearest names as indices into one table of their texts (``str(v or "")``, as the popup printed them)
    texts, per_cat = [], []
    for cat in cats:
        values = table[schema.nearest_name(cat)].to_numpy(dtype=object).copy()
        missing = pd.isna(values)
        values[missing] = [str(v or "") for v in values[missing]]  # None → "", NaN → "nan", as printed before
        codes, uniques = pd.factorize(values)
        per_cat.append((len(texts), codes))
        texts += [str(v or "") for v in uniques]
    all_codes, nearest_table = pd.factorize(pd.Series(texts, dtype=object), sort=True)
    within = np.zeros((max(1, (len(cats) + 29) // 30), len(comp)), dtype=np.int64)
    for k, cat in enumerate(cats):
        dist = table[schema.dist_m(cat)].to_numpy(dtype=float)
        cols[f"d{k}"] = pack_column(_rounded(dist))
        cols[f"m{k}"] = pack_column(_tenths(dist / coverage.speed_m_per_min))
        offset, codes = per_cat[k]
        named = all_codes[offset + codes]
        cols[f"n{k}"] = pack_column(np.where(np.asarray(nearest_table, dtype=object)[named] == "", -1, named))
        within[k // 30] += table[schema.within(cat, longest)].to_numpy(dtype=bool).astype(np.int64) << (k % 30)
    for w in range(len(within)):
        cols[f"w{w}"] = pack_column(within[w])
    data: dict = {
        "scale": POINT_SCALE,
        "xy": encode_points(pts[:, 0], pts[:, 1]),
        "name": escape_all(comp["name"]),
        "facts": facts,
        "factLabels": [tr(f"ui.{key}", lang) for key in facts],
        "cats": escape_all(taxonomy[c].label(lang) for c in cats),
        "nearest": escape_all(nearest_table),
        "ramp": COMPLETENESS_RAMP,
        "labels": {
            "notConnected": tr("ui.not_connected", lang, d=max_snap_m),
            "completeness": tr("ui.completeness", lang, t=schema.minutes_text(longest)),
            "noneReachable": tr("ui.none_reachable", lang),
            "minutes": tr("ui.minutes", lang),
            "formats": tr("ui.formats", lang),
            "formatsMissing": tr("ui.formats_missing", lang),
        },
        "nBasic": n_basic,
        "cols": cols,
    }
    if "formats_present" in compounds.columns:
        present = compounds["formats_present"].to_numpy(dtype=float)
        missing_codes, missing = text_codes(compounds["formats_missing"], sort=True)
        cols["fp"] = pack_column(present)
        cols["fc"] = pack_column(completeness_index(present / n_basic))
        cols["fm"] = pack_column(missing_codes)
        data["missing"] = escape_all(missing)
    return data


def _rounded(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to integers as ``{:.0f}`` prints them (half to even); -1 where not finite."""
    return np.where(np.isfinite(values), np.rint(np.where(np.isfinite(values), values, 0)), -1).astype(np.int64)


def _tenths(values: np.ndarray) -> np.ndarray:
    """``values`` in tenths as ``{:.1f}`` prints them (exact decimal rounding, half to even); -1 where not finite."""
    ok = np.isfinite(values)
    v = np.where(ok, values, 0.0)
    scaled = v * 10
    out = np.rint(scaled).astype(np.int64)
    near_half = np.flatnonzero(ok & (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6))
    for i in near_half:  # where v * 10 may have rounded across a half: print it as Python does
        out[i] = int(f"{v[i]:.1f}".replace(".", ""))
    return np.where(ok, out, -1)


def _rows(mask: np.ndarray) -> str:
    """Positions of ``mask`` packed as differences."""
    return encode_ints(np.diff(np.flatnonzero(mask), prepend=0))


def _add_compounds(
    fmap: folium.Map, compounds: gpd.GeoDataFrame, comp: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy, *,
    lang: str, max_snap_m: float
) -> None:
    """Compounds coloured by completeness and sized by population; unreachable ones in a layer of their own;
    and, when the run counted service formats, the formats layer (hidden at first). One table feeds all three."""
    n_basic = max(1, sum(1 for c in taxonomy.categories if c.basic))
    table = DataTable(_compound_table(compounds, comp, coverage, taxonomy, lang=lang, max_snap_m=max_snap_m, n_basic=n_basic))
    table.add_to(fmap)
    reach = compounds["reachable"].to_numpy(dtype=bool)
    for layer_key, mask in (("compounds", reach), ("unreachable", ~reach)):
        if mask.any():
            DataLayer("compounds", {"rows": _rows(mask), "reachable": layer_key == "compounds"}, name=tr(f"ui.{layer_key}", lang),
                      args=(table,)).add_to(fmap)
    if "formats_present" in compounds.columns:
        DataLayer("formats", {"rows": _rows(reach)}, name=tr("ui.formats", lang), args=(table,), show=False).add_to(fmap)


def _facility_details(sub: pd.DataFrame, label: str, lang: str) -> list[str]:
    """What a facility's popup says below its name: category, places, beds, 普惠 (``<br>``-joined)."""
    n = len(sub)
    places = sub["places"].to_numpy(dtype=object) if "places" in sub.columns else np.full(n, None)
    beds = sub["beds"].to_numpy(dtype=object) if "beds" in sub.columns else np.full(n, None)
    puhui = sub["public_benefit"].astype(object).to_numpy() if "public_benefit" in sub.columns else np.full(n, None)
    out = []
    for p, b, pb in zip(places, beds, puhui, strict=True):
        parts = [html.escape(label)]
        if pd.notna(p):
            parts.append(tr("ui.capacity", lang, p=float(p)))
        if pd.notna(b):
            parts.append(tr("ui.beds", lang, b=float(b)))
        if pb is True:
            parts.append(tr("ui.puhui", lang))
        out.append("<br>".join(parts))
    return out


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
        pts = shapely.get_coordinates(sub.geometry.to_numpy())
        detail_codes, details = pd.factorize(pd.Series(_facility_details(sub, meta.label(lang), lang), dtype=object))
        data = {"scale": POINT_SCALE, "xy": encode_points(pts[:, 0], pts[:, 1]), "name": escape_all(sub["name"]),
                "colour": meta.color, "details": list(details), "cols": {"x": pack_column(detail_codes)}}
        DataLayer("facilities", data, name=f"{tr('ui.facilities', lang)}：{meta.label(lang)} ({len(sub)})", show=cat in cats).add_to(fmap)
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


def _zone_popups(zone_ids: pd.Index, table: pd.DataFrame, cats, taxonomy: Taxonomy, lang: str, longest: str) -> list[str]:
    """Each 街道's popup: name, population and compounds, the share of each category within ``longest`` ("" for a
    街道 not in ``table``)."""
    table = table[~table.index.duplicated()]
    at = table.index.get_indexer(pd.Index(zone_ids))
    names, pops, counts = (table[c].to_numpy(dtype=object) for c in ("name", "population", "compounds"))
    shares = [table[schema.share(cat, longest)].to_numpy(dtype=object) for cat in cats]
    labels = [html.escape(taxonomy[cat].label(lang)) for cat in cats]
    population, compound_count = tr("ui.population", lang), tr("ui.compound_count", lang)
    within = tr("ui.share_within", lang, t=longest) + "："
    out = []
    for i in at.tolist():
        if i < 0:
            out.append("")
            continue
        head = [f"<b>{html.escape(str(names[i]))}</b>"]
        if pd.notna(pops[i]):
            head.append(f"{population} {pops[i]:,.0f}，{compound_count} {int(counts[i])}")
        head.append(within)
        items = "".join(f"<tr><td>{label}</td><td>{'—' if pd.isna(col[i]) else f'{col[i] * 100:.0f}%'}</td></tr>"
                        for label, col in zip(labels, shares, strict=True))
        out.append("<br>".join(head) + "<table style='font-size:12px'>" + items + "</table>")
    return out


def _title_html(title: str, lang: str, sample: bool, speed: float) -> str:
    badge = (
        f"<span style='background:#d73027;color:#fff;padding:1px 6px;border-radius:3px;margin-left:8px'>{tr('ui.sample', lang)}</span>"
        if sample
        else ""
    )
    date = shown_date()  # the date of SOURCE_DATE_EPOCH, else none: the same page every day
    date = f"{tr('ui.generated', lang)} {date} · " if date else ""
    return (
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:15px sans-serif'>"
        f"<b>{html.escape(title)}</b>{badge}<br><span style='font-size:12px;color:#555'>{date}"
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
    """Write the map as one self-contained UTF-8 HTML file, the same bytes every time.

    The elements of the map get numbered ids (:func:`number_elements`), and those made while it is rendered
    counted ones (:func:`planner.outputs.reproducible.stable_ids`; build the map inside that block as well, so that
    any element made while building and not kept in the map's tree is counted too).
    The subset fonts of every character the page holds are embedded in its head and applied to all of its text
    (:func:`planner.outputs.fonts.embed_map_font`), so Chinese shows on a machine without a Chinese font, with
    ``--lang en`` too (the names stay Chinese).
    """
    number_elements(fmap)
    with stable_ids():
        page = fmap.get_root().render()
    Path(path).write_bytes(embed_map_font(page).encode("utf8"))
    return path
