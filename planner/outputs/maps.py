"""The interactive gap map (folium): 街道, compounds coloured by coverage, facilities by category; works offline."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement

from planner import schema
from planner.analysis.coverage import Coverage
from planner.analysis.standards import Rule, load_rules
from planner.io.categories import Taxonomy
from planner.labels import LABELS, tr, unit_label
from planner.network.build import WalkNetwork
from planner.outputs.basemaps import add_basemap, check_basemap, needs_gcj02, offline_map, to_display
from planner.outputs.fonts import embed_map_font
from planner.outputs.map_export import add_export
from planner.outputs.map_layers import (
    POINT_SCALE,
    STREET_SCALE,
    STREET_STYLES,
    DataLayer,
    DataTable,
    RawElement,
    add_map_script,
    display_lonlat,
    encode_points,
    escape_all,
    marker_points,
    one_plus_n_links,
    pack_column,
    polygon_table,
    street_groups,
    text_codes,
    to_json,
)
from planner.outputs.map_views import (
    NOT_CONNECTED_COLOUR,
    ZONE_RAMP,
    View,
    band_colours,
    compound_bands,
    rule_view,
    views_for,
    zone_class,
    zone_measures,
)
from planner.outputs.reproducible import shown_date, stable_ids
from planner.outputs.speeds import speeds_line
from planner.settings import WalkingSpeeds
from planner.siting.explain import site_numbers, site_title

__all__ = ["gap_map", "save_map", "render_map", "zone_config", "printed_ints", "printed_tenths"]

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
    isochrones: dict | None = None,
    compliance: pd.DataFrame | None = None,
    rules: Sequence[Rule] = (),
    tianditu_key: str | None = None,
    sites: gpd.GeoDataFrame | None = None,
    site_catchments: gpd.GeoDataFrame | None = None,
    report_link: str = "report.html#compliance-matrix",
    speeds: WalkingSpeeds | None = None,
    one_plus_n: pd.DataFrame | None = None,
) -> folium.Map:
    """Build the gap map. All frames may be in any CRS; they are drawn in WGS84.

    The map answers one question at a time (:mod:`planner.outputs.map_views`): 养老, 托育, the 一刻钟便民生活圈 and
    街道达标, switched in the side panel (``map_app.js``). Each view colours the compounds by their walking-time band
    (the scenario's thresholds), shows only its facilities (a click on one rings the compounds it is nearest to),
    its isochrones per band (``isochrones``: ``{(group, minutes): frame}``), the 街道 shaded by its measure with
    their names and a compact popup of its rules (and ``report_link`` to the full table), and its suggested sites
    (numbered, offset when they share a place; a click draws the site's catchment from ``site_catchments``). The 1+N
    托育 layer (``one_plus_n``: the 1+N table) draws a line from each community childcare point to its hub, the hubs
    marked and the points without a hub flagged (shown in the 托育 view).
    The panel beside the map holds a search box (小区, facilities, 街道, sites), the view buttons, the view's legend
    and the layers grouped and collapsible; it folds away for a full-width map. ``basemap`` is one of
    :data:`planner.outputs.basemaps.BASEMAPS` (天地图 needs ``tianditu_key``).

    It holds at city scale: streets are merged per class and name, simplified and rounded, minor streets drawn from
    zoom 14 at city scale (:func:`planner.outputs.map_layers.street_groups`); compounds and facilities are columns of
    packed integers drawn as canvas circle markers whose popups are built when clicked; polygons are simplified by
    :data:`POLYGON_TOLERANCE_M` and rounded. Element ids are numbered, so the same inputs give the same page.
    """
    # --- base map (planner.outputs.basemaps): on 高德's GCJ-02 tiles every geometry is drawn shifted to GCJ-02 ---
    check_basemap(basemap, tianditu_key)
    sites_metric = sites  # which sites share a place is decided in metres, before any shift for the base map
    if needs_gcj02(basemap):  # lines and polygons are shifted as they are packed (map_layers.display_lonlat)
        compounds, facilities = (to_display(f, basemap) for f in (compounds, facilities))
        sites = to_display(sites, basemap) if sites is not None and len(sites) else sites
    # --- end base map ---
    thresholds = sorted(coverage.thresholds_min)
    longest = schema.minutes_text(thresholds[-1])
    comp = compounds.to_crs(4326)
    bounds = comp.total_bounds if len(comp) else _network_bounds(network, basemap)
    center = [float((bounds[1] + bounds[3]) / 2), float((bounds[0] + bounds[2]) / 2)]
    fmap = offline_map(center, tiles=None)
    add_basemap(fmap, basemap, lang=lang, tianditu_key=tianditu_key)
    add_map_script(fmap)

    views = views_for(coverage, taxonomy, compounds)
    reachable = compounds["reachable"].to_numpy(dtype=bool)
    bands = {v.key: compound_bands(v, coverage, reachable) for v in views}
    tables: dict[str, object] = {}
    tables["streets"] = _add_network(fmap, network, basemap=basemap)
    zone_cfg = None
    if zones is not None and len(zones):
        zone_data = polygon_table(zones.geometry.to_numpy(), zones.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M)
        tables["zones"] = DataTable(zone_data).add_to(fmap)
        zone_cfg = _zone_config(zones, zone_table, compounds, compliance, views, bands, len(thresholds), taxonomy, own=rules, basemap=basemap,
                                lang=lang)
    tables["iso"] = _add_isochrones(fmap, isochrones or {}, views, thresholds, lang=lang, basemap=basemap)
    fac_layers, fac_cfg, fac_index = _add_facilities(fmap, facilities, coverage.categories, taxonomy, views, lang=lang)
    tables["facilities"] = fac_layers
    tables["compounds"] = DataTable(_compound_table(compounds, comp, coverage, taxonomy, lang=lang, max_snap_m=max_snap_m,
                                                    views=views, bands=bands, fac_index=fac_index)).add_to(fmap)
    facility_iso = _facility_isochrones((isochrones or {}).get(("facilities", thresholds[-1])), fac_index, basemap=basemap)
    site_cfg, catch_cfg = (_site_config(sites, sites_metric, site_catchments, taxonomy, views, lang=lang, basemap=basemap)
                           if sites is not None and len(sites) else (None, None))
    config = {
        "viewOrder": [v.key for v in views],
        "views": {v.key: _view_labels(v, lang, longest, thresholds[-1] * _view_speed(v, coverage), list(coverage.categories), fac_cfg)
                  for v in views},
        "thresholds": thresholds,
        "thresholdsM": [t * coverage.speed_m_per_min for t in thresholds],
        "catThresholdsM": [[t * coverage.speed(c) for t in thresholds] for c in coverage.categories],  # at each one's speed
        "bandColours": band_colours(len(thresholds)),
        "bandLabels": _band_labels(thresholds, lang),
        "neutralColour": "#9e9e9e",
        "notConnectedColour": NOT_CONNECTED_COLOUR,
        "zoneRamp": list(ZONE_RAMP),
        "zones": zone_cfg,
        "facilityOrder": list(fac_cfg),
        "facilityLayers": fac_cfg,
        "sites": site_cfg,
        "catchments": catch_cfg,
        # the facilities are already shifted for 高德 above: their coordinates are drawn as they are
        "oneN": one_plus_n_links(one_plus_n, facilities, basemap="offline" if needs_gcj02(basemap) else basemap, lang=lang),
        "facilityIso": facility_iso,
        # the compounds are framed by the panel's script once the map has its width beside the panel
        "bounds": [[float(bounds[1]), float(bounds[0])], [float(bounds[3]), float(bounds[2])]] if len(comp) else None,
        "streetsOn": basemap == "offline",
        "pointFullZoom": POINT_FULL_ZOOM if network.n_edges > MINOR_STREETS_ALWAYS else 0,  # it is the basemap offline; over tiles it is an optional layer
        "reportLink": report_link,
        "labels": _panel_labels(lang, longest),
    }
    _AppInit(config, tables).add_to(fmap)
    _add_page(fmap, title=title, lang=lang, sample_data=sample_data, speed=coverage.speed_m_per_min, speeds=speeds)
    add_export(fmap, lang=lang, title=title)
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

#: a network with more edges than this draws each street class of STREET_STYLES from its zoom in STREET_CLASS_ZOOM on
#: (main roads always, tertiary from 12, the rest from 14), and its points shrink below POINT_FULL_ZOOM
MINOR_STREETS_ALWAYS = 50_000
STREET_CLASS_ZOOM = (0, 12, 14)
POINT_FULL_ZOOM = 14
#: with more 街道 than this their names show from ZONE_LABEL_ZOOM on
ZONE_LABELS_ALWAYS = 60
ZONE_LABEL_ZOOM = 13


def _add_network(fmap: folium.Map, network: WalkNetwork, *, basemap: str) -> DataLayer:
    """The walk network: the basemap offline, an optional layer over tiles; main roads drawn wider.

    Drawn per street class and name (:func:`planner.outputs.map_layers.street_groups`); named streets show their
    name on hover; at city scale each class appears from its zoom in :data:`STREET_CLASS_ZOOM`.
    """
    groups = street_groups(network, basemap=basemap)
    styles = [{"color": colour, "weight": weight} for _, colour, weight in STREET_STYLES]
    class_zoom = list(STREET_CLASS_ZOOM) if network.n_edges > MINOR_STREETS_ALWAYS else [0] * len(STREET_STYLES)
    layer = DataLayer("streets", {"scale": STREET_SCALE, "styles": styles, "groups": groups, "classZoom": class_zoom},
                      name="streets", show=False, control=False)
    layer.add_to(fmap)
    log.debug("network layer: %d edges drawn as %d groups", network.n_edges, len(groups))
    return layer


def _zone_config(zones: gpd.GeoDataFrame, zone_table: pd.DataFrame, compounds: pd.DataFrame, compliance: pd.DataFrame | None,
                 views: list[View], bands: dict, n_thresholds: int, taxonomy: Taxonomy, *, basemap: str, lang: str,
                 own: Sequence[Rule] = ()) -> dict:
    """The 街道 of the panel's script: names, label points, population, per view the measure (‰) and its class,
    and the 街道's rules (status, view, text) as rows in zone order (``ruleStart``: each 街道's first row)."""
    zone_ids = zones.index.astype(str)
    table = zone_table[~zone_table.index.duplicated()]
    pops = pd.to_numeric(table["population"], errors="coerce").reindex(zone_ids).to_numpy(dtype=float) \
        if "population" in table.columns else np.full(len(zones), np.nan)
    label_pts = shapely.get_coordinates(shapely.point_on_surface(zones.geometry.to_numpy()))
    lon, lat = display_lonlat(label_pts[:, 0], label_pts[:, 1], zones.crs, basemap)
    status_code = {"pass": 0, "fail": 1, "not_evaluable": 2}
    start, rule_view_, rule_status, cells = [0], [], [], []
    rules = None
    if compliance is not None and len(compliance):
        info = rule_info(own)
        rule_cats = {r: v[0] for r, v in info.items()}
        rules = compliance[compliance["subdistrict"].astype(str) != schema.CITY]
        rules = rules.assign(view=[rule_view(str(r), rule_cats.get(str(r), ()), taxonomy) for r in rules["rule_id"]])
        by_zone = {z: g for z, g in rules.groupby(rules["subdistrict"].astype(str), sort=False)}
        for z in zone_ids:
            g = by_zone.get(z)
            if g is not None:
                for rid, view_key, rule, value, target, unit, status, short, short_text in zip(
                        g["rule_id"], g["view"], g["rule"], g["value"], g["target"], g["unit"], g["status"], g["shortfall"],
                        g["shortfall_text"], strict=True):
                    rule_view_.append(view_key)
                    rule_status.append(status_code.get(str(status), 2))
                    cells.append(_rule_text(str(rid), rule, value, target, unit, status, short, short_text, lang, info))
            start.append(len(cells))
    else:
        start = [0] * (len(zones) + 1)
    coverage, measure, cls, kind = {}, {}, {}, {}
    for v in views:
        cov, m, kind[v.key] = zone_measures(v, zone_ids, compounds, bands[v.key][0], n_thresholds, rules)
        coverage[v.key] = _rounded(cov * 1000).tolist()
        measure[v.key] = _rounded(m * 1000).tolist()
        cls[v.key] = zone_class(m).tolist()
    cell_codes, cell_texts = pd.factorize(pd.Series(cells, dtype=object), sort=True)
    return {
        "name": escape_all(zones["name"]),
        "pop": _rounded(pops).tolist(),
        "scale": POINT_SCALE,
        "lp": encode_points(lon, lat),
        "labelZoom": 0 if len(zones) <= ZONE_LABELS_ALWAYS else ZONE_LABEL_ZOOM,
        "coverage": coverage,
        "measure": measure,
        "kind": kind,
        "cls": cls,
        "ruleStart": start,
        "ruleView": rule_view_,
        "ruleStatus": rule_status,
        "ruleCell": cell_codes.tolist(),
        "ruleText": list(cell_texts),
    }


def zone_config(zones: gpd.GeoDataFrame, zone_table: pd.DataFrame, compounds: pd.DataFrame, compliance: pd.DataFrame | None,
                views: list[View], bands: dict, n_thresholds: int, taxonomy: Taxonomy, *, basemap: str, lang: str,
                rules: Sequence[Rule] = ()) -> dict:
    """The 街道 as the gap map's script reads them (measures, classes and popup rules per view), for ``bands``
    (:func:`planner.outputs.map_views.compound_bands` per view) and ``compliance`` (a rule × 街道 table): what
    :func:`gap_map` draws, for `planner serve` to redraw a plan's 街道 the same way."""
    return _zone_config(zones, zone_table, compounds, compliance, views, bands, n_thresholds, taxonomy, basemap=basemap, lang=lang,
                        own=rules)


def rule_cell(rule_id: str, rule: object, value: object, target: object, unit: object, status: object, shortfall: object,
              shortfall_text: object, lang: str, rules: Sequence[Rule] = ()) -> str:
    """A rule's row in a 街道 popup, as :func:`gap_map` writes it (HTML)."""
    return _rule_text(rule_id, rule, value, target, unit, status, shortfall, shortfall_text, lang, rule_info(rules))


def rule_categories(rules: Sequence[Rule] = ()) -> dict[str, tuple[str, ...]]:
    """Rule id → its facility categories (planner/data/rules.toml, and the scenario's own ``rules``)."""
    return {r: v[0] for r, v in rule_info(rules).items()}


def rule_info(rules: Sequence[Rule] = ()) -> dict[str, tuple[tuple[str, ...], str, str]]:
    """Rule id → (its facility categories, English name, kind): the shipped rules, then the run's ``rules`` (a
    scenario's own [[rules]] among them)."""
    info = dict(_shipped_rule_info())
    info.update({r.id: (tuple(r.categories), r.en, r.kind) for r in rules})
    return info


@functools.lru_cache(maxsize=1)
def _shipped_rule_info() -> dict[str, tuple[tuple[str, ...], str, str]]:
    return {str(r["id"]): (tuple(r.get("categories", ())), str(r.get("en", r["id"])), str(r.get("kind", ""))) for r in load_rules()}


def _number(v: object) -> str:
    """A value as a leader reads it: thousands separated, at most one decimal ("—" when missing)."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)) or pd.isna(v):
        return "—"
    f = float(v)
    return f"{f:,.0f}" if abs(f - round(f)) < 0.05 or abs(f) >= 1000 else f"{f:,.1f}"


def _colon(lang: str) -> str:
    return "：" if lang == "zh" else ": "


def _rule_text(rule_id: str, rule: object, value: object, target: object, unit: object, status: object, shortfall: object,
               shortfall_text: object, lang: str, info: Mapping[str, tuple[tuple[str, ...], str, str]] | None = None) -> str:
    """A rule's row in a 街道 popup: its name, the value against the target, the shortfall in words when it fails
    (in English the rule's English name, unit and "short by …")."""
    unit_text = unit_label(unit, lang)
    info = info if info is not None else _shipped_rule_info()
    name = info[rule_id][1] if lang == "en" and rule_id in info else str(rule)
    text = f"{html.escape(name)}{_colon(lang)}{_number(value)} / {_number(target)} {html.escape(unit_text)}".rstrip()
    if status == "fail":
        kind = info[rule_id][2] if rule_id in info else ""
        words = shortfall_text if lang == "zh" else (
            tr("map.short_by", lang, n=_number(shortfall), u=tr(f"map.short.{kind}", lang)) if pd.notna(shortfall)
            and f"map.short.{kind}" in LABELS else "")
        if isinstance(words, str) and words:
            text += f"<br><span style='color:#b2182b'>{html.escape(words)}</span>"
    return text


def _add_isochrones(fmap: folium.Map, isochrones: dict, views: list[View], thresholds: list, *, lang: str,
                    basemap: str) -> dict[str, list[dict]]:
    """Per view with a facility group: one polygons layer per threshold band (simplified by
    :data:`POLYGON_TOLERANCE_M`, holes under :data:`ISOCHRONE_MIN_HOLE_M2` filled, packed), coloured as its band;
    returns ``{view: [{"label", "layer"}, …]}`` for the panel (the script's layer variables)."""
    out: dict[str, list[dict]] = {}
    for v in views:
        drawn = []
        for b, t in enumerate(thresholds):
            iso = isochrones.get((v.group, t)) if v.group else None
            if iso is None or not len(iso):
                continue
            table = DataTable(polygon_table(iso.geometry.to_numpy(), iso.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M,
                                            min_hole_m2=ISOCHRONE_MIN_HOLE_M2)).add_to(fmap)
            colour = band_colours(len(thresholds))[b]
            layer = DataLayer("polygons", {"style": {"color": colour, "weight": 1, "fillColor": colour, "fillOpacity": 0.18,
                                                     "interactive": False}},
                              name=f"iso {v.key} {t}", args=(table,), show=False, control=False).add_to(fmap)
            label = f"{tr(f'map.view.{v.key}', lang)} · {tr('map.iso_layer', lang, t=schema.minutes_text(t))}"
            drawn.append({"label": label, "layer": layer})
        if drawn:
            out[v.key] = drawn
    return out


def _compound_table(
    compounds: gpd.GeoDataFrame, comp: gpd.GeoDataFrame, coverage: Coverage, taxonomy: Taxonomy, *, lang: str,
    max_snap_m: float, views: list[View], bands: dict, fac_index: dict[str, pd.Series]
) -> dict:
    """Every compound's popup facts as columns (read by ``map_app.js``); ``comp`` is ``compounds`` in WGS84 (as
    drawn).

    Numbers are sent as they are printed: facts, metres and percent rounded as Python's ``{:,.0f}`` rounds them
    (half to even), minutes in tenths as ``{:.1f}`` prints them; -1 stands for a missing value. Per view ``b_<view>``
    is the band and ``t_<view>`` the minutes (tenths) behind it; ``q<k>`` the position of the nearest facility of
    category ``k`` in its layer (for the categories of the 养老 and 托育 views).
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
    cols["r"] = pack_column(np.rint(np.clip(np.sqrt(comp["population"].fillna(0).to_numpy(dtype=float)) / 6.0, 4, 14) * 10))
    for v in views:
        band, minutes = bands[v.key]
        cols[f"b_{v.key}"] = pack_column(band)
        cols[f"t_{v.key}"] = pack_column(_tenths(minutes))
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
        cols[f"m{k}"] = pack_column(_tenths(dist / coverage.speed(cat)))  # minutes at the category's own speed
        offset, codes = per_cat[k]
        named = all_codes[offset + codes]
        cols[f"n{k}"] = pack_column(np.where(np.asarray(nearest_table, dtype=object)[named] == "", -1, named))
        within[k // 30] += table[schema.within(cat, longest)].to_numpy(dtype=bool).astype(np.int64) << (k % 30)
        if cat in fac_index and schema.nearest_id(cat) in table.columns:
            at = table[schema.nearest_id(cat)].map(fac_index[cat])
            cols[f"q{k}"] = pack_column(np.where(at.notna(), at.fillna(-1), -1).astype(np.int64))
    for w in range(len(within)):
        cols[f"w{w}"] = pack_column(within[w])
    zone_names = comp["zone_name"] if "zone_name" in comp.columns else None
    data: dict = {
        "scale": POINT_SCALE,
        "xy": encode_points(pts[:, 0], pts[:, 1]),
        "name": escape_all(comp["name"]),
        "facts": facts,
        "factLabels": [tr(f"ui.{key}", lang) for key in facts],
        "cats": escape_all(taxonomy[c].label(lang) for c in cats),
        "catIndex": {c: k for k, c in enumerate(cats)},
        "nearest": escape_all(nearest_table),
        "labels": {
            "notConnected": tr("ui.not_connected", lang, d=max_snap_m),
            "none": tr("ui.none_reachable", lang),
            "minutes": tr("ui.minutes", lang),
            "formats": tr("ui.formats", lang),
            "formatsMissing": tr("ui.formats_missing", lang),
            "population": tr("ui.population", lang),
            "sep": "，" if lang == "zh" else ", ",
            "colon": _colon(lang),
        },
        "nBasic": max(1, sum(1 for c in taxonomy.categories if c.basic)),
        "zone": zone_names is not None,
        "cols": cols,
    }
    if zone_names is not None:
        zone_codes, zone_texts = text_codes(zone_names.where(zone_names.notna(), tr("map.outside_zones", lang)), sort=True)
        cols["z"] = pack_column(zone_codes)
        data["zoneNames"] = escape_all(zone_texts)
    if "formats_present" in compounds.columns:
        present = compounds["formats_present"].to_numpy(dtype=float)
        missing_codes, missing = text_codes(compounds["formats_missing"], sort=True)
        cols["fp"] = pack_column(present)
        cols["fm"] = pack_column(missing_codes)
        data["missing"] = escape_all(_format_names(missing, taxonomy, lang))
    return data


def _format_names(texts: list[str], taxonomy: Taxonomy, lang: str) -> list[str]:
    """The missing formats of the run's table ("药店、菜市场", Chinese names joined by 、) in ``lang``."""
    if lang == "zh":
        return texts
    by_zh = {c.zh: c.label(lang) for c in taxonomy.categories}
    return [", ".join(by_zh.get(name, name) for name in t.split("、")) if t else t for t in texts]


def printed_ints(values: np.ndarray) -> np.ndarray:
    """``values`` as the map's columns hold them: integers as ``{:.0f}`` prints them, -1 where not finite."""
    return _rounded(values)


def printed_tenths(values: np.ndarray) -> np.ndarray:
    """``values`` in tenths as the map's columns hold them (``{:.1f}``), -1 where not finite."""
    return _tenths(values)


def _rounded(values: np.ndarray) -> np.ndarray:
    """``values`` rounded to integers as ``{:.0f}`` prints them (half to even); -1 where not finite."""
    values = np.asarray(values, dtype=float)
    return np.where(np.isfinite(values), np.rint(np.where(np.isfinite(values), values, 0)), -1).astype(np.int64)


def _tenths(values: np.ndarray) -> np.ndarray:
    """``values`` in tenths as ``{:.1f}`` prints them (exact decimal rounding, half to even); -1 where not finite."""
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values)
    v = np.where(ok, values, 0.0)
    scaled = v * 10
    out = np.rint(scaled).astype(np.int64)
    near_half = np.flatnonzero(ok & (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6))
    for i in near_half:  # where v * 10 may have rounded across a half: print it as Python does
        out[i] = int(f"{v[i]:.1f}".replace(".", ""))
    return np.where(ok, out, -1)


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
    fmap: folium.Map, facilities: gpd.GeoDataFrame, cats: Sequence[str], taxonomy: Taxonomy, views: list[View], *, lang: str
) -> tuple[dict, dict, dict[str, pd.Series]]:
    """One layer per facility category (analysed ones first). Returns the layers (script variables), their panel
    entries (label with count, colour, the views that show them) and, per category, facility id → position in
    its layer."""
    fac = facilities.to_crs(4326)
    shown = [c for c in cats] + sorted(set(fac["category"]) - set(cats))
    layers, entries, index = {}, {}, {}
    for cat in shown:
        sub = fac[fac["category"] == cat]
        if not len(sub):
            continue
        meta = taxonomy[cat]
        pts = shapely.get_coordinates(sub.geometry.to_numpy())
        detail_codes, details = pd.factorize(pd.Series(_facility_details(sub, meta.label(lang), lang), dtype=object))
        data = {"scale": POINT_SCALE, "xy": encode_points(pts[:, 0], pts[:, 1]), "name": escape_all(sub["name"]),
                "colour": meta.color, "details": list(details), "cols": {"x": pack_column(detail_codes)}}
        if "id" in sub.columns:  # what a plan's edits name them by (planner serve)
            data["ids"] = escape_all(sub["id"].astype(str))
        layers[cat] = DataTable(data).add_to(fmap)
        in_views = [v.key for v in views if cat in v.cats or (v.key == "compliance" and meta.group in ("elderly", "childcare")
                                                               and cat in ("elderly_centre", "childcare"))]
        entries[cat] = {"label": f"{html.escape(meta.label(lang))} ({len(sub)})", "colour": meta.color, "views": in_views}
        if "id" in sub.columns:
            ids = sub["id"].astype(str).to_numpy()
            first = ~pd.Series(ids).duplicated().to_numpy()
            index[cat] = pd.Series(np.arange(len(sub))[first], index=ids[first])
    return layers, entries, index


def _facility_isochrones(iso: gpd.GeoDataFrame | None, fac_index: dict[str, pd.Series], *, basemap: str) -> dict | None:
    """Each facility's own isochrone (when the run drew them) as a polygon table, with ``of``: per category, the
    polygon of each facility of its layer (-1 for none)."""
    if iso is None or not len(iso):
        return None
    table = polygon_table(iso.geometry.to_numpy(), iso.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M,
                          min_hole_m2=CATCHMENT_MIN_HOLE_M2)
    at = pd.Series(np.arange(len(iso)), index=iso["facility_id"].astype(str).to_numpy())
    at = at[~at.index.duplicated()]
    table["of"] = {}
    for cat, positions in fac_index.items():  # positions: facility id → its place in the category's layer
        if not positions.index.isin(at.index).any():
            continue
        of = np.full(int(positions.max()) + 1, -1, dtype=np.int64)
        of[positions.to_numpy()] = at.reindex(positions.index).fillna(-1).to_numpy(dtype=np.int64)
        table["of"][cat] = of.tolist()
    return table


#: colours of the siting tasks' symbols, in task order (ColorBrewer Dark2: unlike any facility colour's use here)
SITE_COLOURS = ("#7570b3", "#d95f02", "#1b9e77", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
#: a site's catchment is drawn without its holes smaller than this (m²): the blocks inside its walk
CATCHMENT_MIN_HOLE_M2 = 100_000.0
#: sites closer than this (metres) are drawn side by side
SITE_TOGETHER_M = 30.0


def _site_config(sites: gpd.GeoDataFrame, sites_metric: gpd.GeoDataFrame, catchments: gpd.GeoDataFrame | None,
                 taxonomy: Taxonomy, views: list[View], *, lang: str, basemap: str) -> tuple[dict, dict | None]:
    """The suggested sites for the script: number, symbol colour (per task), pixel offset where several share a
    place (within :data:`SITE_TOGETHER_M`, measured in ``sites_metric``, the sites before any shift for the base
    map), popup, the views that show them; and their catchments (by number) as a polygon table."""
    sg = sites.to_crs(4326)
    n = len(sg)
    numbers = sg["no"].astype(int).to_numpy() if "no" in sg.columns else np.arange(1, n + 1)
    tasks = list(dict.fromkeys(sg["task"].astype(str))) if "task" in sg.columns else [""]
    task_of = [tasks.index(str(t)) for t in sg["task"]] if "task" in sg.columns else [0] * n
    colours = [SITE_COLOURS[t % len(SITE_COLOURS)] for t in task_of]
    pts = shapely.get_coordinates(sg.geometry.to_numpy())
    metric = sites_metric if sites_metric.crs is not None and sites_metric.crs.is_projected else sites_metric.to_crs(
        sites_metric.estimate_utm_crs())
    xy = shapely.get_coordinates(metric.geometry.to_numpy())
    dx = np.zeros(n, dtype=np.int64)
    for i in range(n):  # side by side with the earlier sites at the same place
        dx[i] = 24 * int((np.hypot(*(xy[:i] - xy[i]).T) < SITE_TOGETHER_M).sum())
    view_of = {v.key: set(v.cats) for v in views}
    site_views = []
    for cat, partner in zip(sg["category"], sg["partner"] if "partner" in sg.columns else [""] * n, strict=True):
        keys = [v for v, cs in view_of.items() if cat in cs or (isinstance(partner, str) and partner in cs)]
        site_views.append(keys)
    titles = [html.escape(site_title(row, lang)) for row in sg.itertuples(index=False)]  # HTML, as all texts sent
    popups = [_site_popup(row, titles[i], taxonomy, lang) for i, row in enumerate(sg.itertuples(index=False))]
    site_cfg = {
        "scale": POINT_SCALE, "xy": encode_points(pts[:, 0], pts[:, 1]), "no": numbers.tolist(), "colour": colours,
        "dx": dx.tolist(), "dy": [0] * n, "title": titles, "popup": popups, "views": site_views, "task": task_of,
        "tasks": [{"name": html.escape(t), "colour": SITE_COLOURS[k % len(SITE_COLOURS)]} for k, t in enumerate(tasks)],
    }
    catch_cfg = None
    if catchments is not None and len(catchments) and "no" in catchments.columns:
        table = polygon_table(catchments.geometry.to_numpy(), catchments.crs, basemap=basemap, tolerance_m=POLYGON_TOLERANCE_M,
                              min_hole_m2=CATCHMENT_MIN_HOLE_M2)
        at = pd.Series(np.arange(len(catchments)), index=catchments["no"].astype(int).to_numpy())
        at = at[~at.index.duplicated()]
        table["of"] = [int(at.get(int(no), -1)) for no in numbers]
        catch_cfg = table
    return site_cfg, catch_cfg


def _site_popup(row, title: str, taxonomy: Taxonomy, lang: str) -> str:
    """A suggested site's popup: its title (number, nearest road, 街道), task, what it is, whom it newly serves
    within which walk (:func:`planner.siting.explain.site_numbers`, as every output states it), what it fixes."""
    get = row._asdict().get
    cat, partner = get("category"), get("partner")
    what = html.escape(taxonomy[cat].label(lang)) if cat in taxonomy else html.escape(str(cat))
    if isinstance(partner, str) and partner in taxonomy:
        what += " + " + html.escape(taxonomy[partner].label(lang))
    task = get("task")
    lines = [f"<b>{title}</b>", f"{html.escape(str(task))} · {what}" if isinstance(task, str) and task else what,
             html.escape(site_numbers(row, lang))]
    fixes = get("fixes_en") if lang == "en" else get("fixes")
    if isinstance(fixes, str) and fixes:
        lines.append(f"{tr('map.site_fixes', lang)}{_colon(lang)}{html.escape(fixes)}")
    return "<br>".join(lines)


def _view_labels(v: View, lang: str, longest: str, longest_m: float, cats: list[str], facility_layers: dict) -> dict:
    """A view's texts for the panel (button, question, what its bands measure, its 街道 measure), its categories
    (positions in the compound table's ``cats``) and the facility layers it shows."""
    return {
        "label": tr(f"map.view.{v.key}", lang),
        "question": tr(f"map.question.{v.key}", lang, t=longest),
        "answer": tr(f"map.answer.{v.key}", lang) if v.cats else "",
        "measure": tr(f"map.measure.{v.key}", lang, t=longest) + (f"（{longest_m:,.0f} 米）" if lang == "zh" else f" ({longest_m:,.0f} m)")
        if v.cats else tr(f"map.measure.{v.key}", lang, t=longest),
        "rulesMeasure": tr("map.measure.rules", lang, v=tr(f"map.view.{v.key}", lang)) if v.key != "compliance"
        else tr("map.measure.compliance", lang),
        "cats": [cats.index(c) for c in v.cats if c in cats],
        "facilities": [c for c, e in facility_layers.items() if v.key in e["views"]],
    }


def _view_speed(v: View, coverage: Coverage) -> float:
    """The walking speed (m/min) of a view's bands: its categories' (养老 the elderly's; the fastest if they differ)."""
    return max((coverage.speed(c) for c in v.cats), default=coverage.speed_m_per_min)


def _band_labels(thresholds: list, lang: str) -> list[str]:
    """The legend's texts of the bands: within the first threshold, between the next ones, beyond the longest."""
    texts = [tr("map.band.first", lang, t=schema.minutes_text(thresholds[0]))]
    for a, b in zip(thresholds, thresholds[1:], strict=False):
        texts.append(tr("map.band.next", lang, a=schema.minutes_text(a), b=schema.minutes_text(b)))
    texts.append(tr("map.band.beyond", lang, t=schema.minutes_text(thresholds[-1])))
    return texts


def _panel_labels(lang: str, longest: str) -> dict:
    keys = {
        "compound": "map.compound", "sizeNote": "map.size_note", "siteKey": "map.site_key", "zoneFill": "map.zone_fill",
        "allPass": "map.all_pass", "more": "map.more", "fullTable": "map.full_table", "searchHint": "map.search_hint",
        "noMatch": "map.no_match", "kindCompound": "map.kind.compound", "kindZone": "map.kind.zone",
        "kindSite": "map.kind.site", "togglePanel": "map.toggle_panel", "groupBase": "map.group.base",
        "groupZones": "map.group.zones", "groupIso": "map.group.iso", "groupCompounds": "map.group.compounds",
        "groupFacilities": "map.group.facilities", "groupOther": "map.group.other", "groupSites": "map.group.sites",
        "zoneLabels": "map.zone_labels", "streetsLayer": "ui.network", "zonesLayer": "ui.zones",
        "compoundsLayer": "ui.compounds", "sitesLayer": "ui.sites",
    }
    out = {k: tr(v, lang) for k, v in keys.items()}
    out["more"] = tr("map.more", lang, n="{n}")
    out["unknownMark"] = "？" if lang == "zh" else "?"
    out["serves"] = tr("map.serves", lang, n="{n}", t=longest)
    return out


def _js(obj: object) -> str:
    """``obj`` as JavaScript: JSON, with page elements written as their script variables (named when rendered)."""
    if isinstance(obj, Element):
        return obj.get_name()
    if isinstance(obj, dict):
        return "{" + ",".join(f"{to_json(str(k))}:{_js(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_js(v) for v in obj) + "]"
    return to_json(obj)


class _AppInit(MacroElement):
    """The call that starts the panel and the views (``plannerApp.init(map, config, tables)``), after every layer."""

    def __init__(self, config: dict, tables: dict) -> None:
        super().__init__()
        self._name = "AppInit"
        self.config = config
        self.tables = tables

    def render(self, **kwargs) -> None:
        root = self.get_root()
        root.script.add_child(RawElement(
            f"var planner_app = plannerApp.init({self._parent.get_name()}, {to_json(self.config)}, {_js(self.tables)});\n"),
            name=self.get_name())
        root.header.add_child(RawElement(f"<script>{_app_js()}</script>"), name="planner_app_js")
        root.header.add_child(RawElement(_PANEL_CSS), name="planner_panel_css")


@functools.lru_cache(maxsize=1)
def _app_js() -> str:
    return resources.files("planner.outputs").joinpath("map_app.js").read_text(encoding="utf-8")


#: the side panel beside the map (never over it), the view buttons, legend, grouped layers, search, site symbols
_PANEL_CSS = """<style>
body.planner-has-panel .folium-map{position:absolute!important;left:0;top:0;bottom:0;right:300px;width:auto!important;height:auto!important}
body.planner-panel-closed .folium-map{right:0!important}
#planner-panel{position:fixed;top:0;right:0;bottom:0;width:300px;box-sizing:border-box;overflow-y:auto;background:#fff;
 border-left:1px solid #ccc;padding:8px 10px;font:13px sans-serif;z-index:1001}
body.planner-panel-closed #planner-panel{display:none}
#planner-panel-toggle{position:fixed;top:10px;right:310px;z-index:1002;width:32px;height:32px;font-size:18px;background:#fff;
 border:1px solid #999;border-radius:4px;cursor:pointer}
body.planner-panel-closed #planner-panel-toggle{right:10px}
#planner-views{display:flex;flex-wrap:wrap;gap:4px;margin:8px 0}
#planner-views button{flex:1 1 45%;padding:6px 4px;border:1px solid #3f007d;background:#fff;color:#3f007d;border-radius:4px;
 cursor:pointer;font-size:13px}
#planner-views button.active{background:#3f007d;color:#fff;font-weight:bold}
.planner-search-box{position:relative}
#planner-search{width:100%;box-sizing:border-box;padding:6px;font-size:13px;border:1px solid #999;border-radius:4px}
#planner-search-results{list-style:none;margin:0;padding:0;position:absolute;left:0;right:0;background:#fff;z-index:5;
 box-shadow:0 2px 6px rgba(0,0,0,.3);max-height:300px;overflow-y:auto}
#planner-search-results li{padding:4px 6px;cursor:pointer;border-bottom:1px solid #eee}
#planner-search-results li:hover{background:#eef}
#planner-search-results small{color:#777;margin-left:4px}
.leaflet-popup-content{font-size:13px;line-height:1.45}
#planner-legend{border-top:1px solid #ddd;padding-top:6px}
.planner-legend-title{font-weight:bold;font-size:14px;margin-bottom:4px}
.planner-legend-sub{color:#555;margin:6px 0 2px}
.planner-dot{display:inline-block;width:12px;height:12px;border-radius:7px;margin-right:6px;vertical-align:middle;border:1px solid #333}
.planner-dot.planner-small{width:9px;height:9px;border:1px solid #fff;box-shadow:0 0 0 1px #999}
.planner-ramp{display:flex}.planner-ramp span{flex:1;font-size:10px;text-align:center;padding:2px 0}
#planner-layers details{margin-top:6px;border-top:1px solid #ddd}
#planner-layers summary{font-weight:bold;cursor:pointer;padding:4px 0}
#planner-layers label{display:block;padding:1px 0 1px 8px}
.planner-site div{width:24px;height:24px;line-height:20px;border:2px solid #000;border-radius:4px;color:#fff;font:bold 13px sans-serif;
 text-align:center;box-sizing:border-box;box-shadow:0 0 0 2px #fff}
.planner-site-key{display:inline-block;margin-right:6px;vertical-align:middle}
.planner-site-key div{width:18px;height:18px;line-height:16px;font-size:11px}
.leaflet-tooltip.planner-zone-label{background:rgba(255,255,255,.75);border:none;box-shadow:none;font:bold 13px sans-serif;
 color:#3f007d;padding:0 3px}
.leaflet-tooltip.planner-zone-label:before{display:none}
@media (max-width:900px){#planner-panel{width:260px}body.planner-has-panel .folium-map{right:260px}#planner-panel-toggle{right:270px}}
</style>"""


# ------------------------------------------------------------------------------------------------ boxes


def _add_page(fmap: folium.Map, *, title: str, lang: str, sample_data: bool, speed: float,
              speeds: WalkingSpeeds | None = None) -> None:
    """The title box and the page title."""
    root = fmap.get_root()
    root.html.add_child(folium.Element(_title_html(title, lang, sample_data, speed, speeds)))
    root.header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"), name="page_title")


def _title_html(title: str, lang: str, sample: bool, speed: float, speeds: WalkingSpeeds | None = None) -> str:
    badge = (
        f"<span style='background:#d73027;color:#fff;padding:1px 6px;border-radius:3px;margin-left:8px'>{tr('ui.sample', lang)}</span>"
        if sample
        else ""
    )
    date = shown_date()  # the date of SOURCE_DATE_EPOCH, else none: the same page every day
    date = f"{tr('ui.generated', lang)} {date} · " if date else ""
    return (
        "<div id='planner-title' style='position:fixed;top:10px;left:60px;z-index:1000;background:rgba(255,255,255,.92);"
        "padding:6px 12px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);font:15px sans-serif;max-width:calc(100% - 420px)'>"
        f"<b>{html.escape(title)}</b>{badge}<br><span style='font-size:12px;color:#555'>{date}"
        f"{html.escape(speeds_line(speeds, lang)) if speeds is not None else tr('ui.speed', lang, v=speed)}</span></div>"
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
    Path(path).write_bytes(render_map(fmap).encode("utf8"))
    return path


def render_map(fmap: folium.Map) -> str:
    """The page of ``fmap`` as :func:`save_map` writes it (numbered ids, fonts embedded), as text."""
    number_elements(fmap)
    with stable_ids():
        page = fmap.get_root().render()
    return embed_map_font(page)
