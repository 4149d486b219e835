"""``planner fetch PLACE``: download a place's walk network, POIs, residential land and boundary through osmnx.

Writes planner's own input layers and a scenario that runs them, so a user with internet access gets a
working study area in one command. The downloads go through three small functions (``_graph``,
``_features``, ``_boundary``) so that tests can feed recorded data instead of the network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pandas as pd

from planner.errors import PlannerError
from planner.io.osm import POI_KEYS
from planner.io.population import residential_from_osm
from planner.io.projection import choose_metric_crs
from planner.settings import PopulationSpec

__all__ = ["fetch_place", "POI_TAGS", "LAND_TAGS"]

log = logging.getLogger(__name__)

POI_TAGS: dict[str, bool | str | list[str]] = {key: True for key in POI_KEYS}
LAND_TAGS: dict[str, bool | str | list[str]] = {"landuse": "residential", "building": True}


def _graph(place: str) -> nx.MultiDiGraph:  # pragma: no cover - needs the internet; tests replace it
    import osmnx as ox

    return ox.graph_from_place(place, network_type="walk", simplify=True, retain_all=True)


def _features(place: str, tags: dict) -> gpd.GeoDataFrame:  # pragma: no cover - needs the internet
    import osmnx as ox

    try:
        return ox.features_from_place(place, tags=tags)
    except ox._errors.InsufficientResponseError:
        return gpd.GeoDataFrame(geometry=[], crs="EPSG:4326")


def _boundary(place: str) -> gpd.GeoDataFrame:  # pragma: no cover - needs the internet
    import osmnx as ox

    return ox.geocode_to_gdf(place)


def _as_text(value: object) -> str:
    if isinstance(value, list):
        return ";".join(sorted({str(v) for v in value}))
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _split_index(frame: gpd.GeoDataFrame) -> tuple[pd.Series, pd.Series]:
    if isinstance(frame.index, pd.MultiIndex):
        return (
            pd.Series(frame.index.get_level_values(0).astype(str), index=frame.index),
            pd.Series(frame.index.get_level_values(1).astype(str), index=frame.index),
        )
    return pd.Series("feature", index=frame.index), pd.Series(frame.index.astype(str), index=frame.index)


def _tag_columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("geometry", "nodes", "ways", "members")]


def fetch_place(place: str, out_dir: str | Path, *, report: Callable[[str], None] | None = None) -> dict[str, Path]:
    """Download ``place`` (a name Nominatim knows, e.g. ``"崇川区, 南通市, 江苏省"``) into ``out_dir``.

    Writes ``network.gpkg`` (walkable street lines), ``pois.gpkg`` (points with OSM ``tags``),
    ``compounds.gpkg`` (residential land and buildings with estimated population, see
    :func:`planner.io.population.residential_from_osm`), ``boundary.gpkg`` (the place outline as the zone)
    and ``scenario.toml`` that runs them. Returns the paths written.
    """
    say = report or (lambda msg: log.info("%s", msg))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"{k}.gpkg" for k in ("network", "pois", "compounds", "boundary")}

    say(f"[1/4] 下载步行路网 / walk network: {place}")
    lines = _write_network(place, paths["network"])
    say("[2/4] 下载设施 POI / POIs")
    pois = _write_pois(place, paths["pois"])
    say("[3/4] 下载居住用地与建筑 / residential land and buildings")
    compounds = _write_compounds(place, lines, paths["compounds"])
    say("[4/4] 下载边界 / boundary")
    _write_boundary(place, paths["boundary"])

    paths["scenario"] = out / "scenario.toml"
    paths["scenario"].write_text(_scenario_text(place, has_pois=len(pois) > 0, has_compounds=len(compounds) > 0), encoding="utf-8")
    for key in ("pois", "compounds"):
        if not paths[key].exists():
            paths.pop(key)
    return paths


def _download_graph(place: str) -> nx.MultiDiGraph:
    """The place's walk graph; a failed download or one without streets is a PlannerError."""
    try:
        graph = _graph(place)
    except PlannerError:
        raise
    except Exception as exc:  # osmnx raises network, geocoding and HTTP errors of several types
        raise PlannerError(
            f"下载 {place} 失败（需要能访问 OpenStreetMap/Overpass 的网络，或地名无法识别）：{exc} / "
            f"download of {place} failed (needs internet access to Nominatim/Overpass, or the place is unknown): {exc}"
        ) from exc
    if graph.number_of_edges() == 0:
        raise PlannerError(f"{place} 没有下载到道路 / no streets downloaded for {place}")
    return graph


def _write_network(place: str, path: Path) -> gpd.GeoDataFrame:
    """Download the walk network and write its street lines (highway, name) to ``path``; returns the lines."""
    graph = _download_graph(place)
    import osmnx as ox

    edges = ox.graph_to_gdfs(graph, nodes=False, fill_edge_geometry=True).reset_index()
    lines = gpd.GeoDataFrame(
        {"highway": edges["highway"].map(_as_text), "name": edges["name"].map(_as_text) if "name" in edges else ""},
        geometry=edges.geometry.to_numpy(),
        crs=edges.crs,
    ).to_crs(4326)
    lines.to_file(path, layer="edges", driver="GPKG", engine="pyogrio")
    return lines


def _write_pois(place: str, path: Path) -> gpd.GeoDataFrame:
    """Download the POIs and write them as points with their OSM tags (JSON) to ``path`` when there are any."""
    feats = _features(place, POI_TAGS)
    kinds, ids = _split_index(feats)
    cols = _tag_columns(feats)
    tags = [json.dumps({c: _as_text(v) for c, v in row.items() if _as_text(v)}, ensure_ascii=False, sort_keys=True) for row in feats[cols].to_dict("records")] if len(feats) else []
    pois = gpd.GeoDataFrame(
        {
            "osm_type": kinds.to_numpy(),
            "osm_id": ids.to_numpy(),
            "name": feats["name"].map(_as_text).to_numpy() if "name" in feats else "",
            "tags": tags,
        },
        geometry=feats.geometry.representative_point().to_numpy() if len(feats) else [],
        crs="EPSG:4326",
    )
    if len(pois):
        pois.to_file(path, layer="pois", driver="GPKG", engine="pyogrio")
    return pois


def _residential_land(land: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The residential landuse polygons and the building polygons (with ``building`` and ``levels``) of ``land``."""
    kinds, ids = _split_index(land)
    poly = land.geom_type.isin(["Polygon", "MultiPolygon"]) if len(land) else pd.Series([], dtype=bool)
    base = pd.DataFrame({"osm_type": kinds, "osm_id": ids, "name": land["name"].map(_as_text) if "name" in land else ""})
    is_res = (land["landuse"] == "residential") if "landuse" in land else pd.Series(False, index=land.index)
    is_bld = land["building"].notna() & (land["building"] != "no") if "building" in land else pd.Series(False, index=land.index)
    areas = gpd.GeoDataFrame(base[poly & is_res], geometry=land.geometry[poly & is_res], crs=land.crs)
    blds = gpd.GeoDataFrame(
        base[poly & is_bld].assign(
            building=land.loc[poly & is_bld, "building"].map(_as_text),
            levels=land.loc[poly & is_bld, "building:levels"].map(_as_text) if "building:levels" in land else None,
        ),
        geometry=land.geometry[poly & is_bld],
        crs=land.crs,
    )
    return areas, blds


def _write_compounds(place: str, lines: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Download residential land and buildings, estimate compounds with population and write them to ``path``."""
    areas, blds = _residential_land(_features(place, LAND_TAGS))
    centre = lines.union_all().centroid
    metric = choose_metric_crs(centre.x, centre.y)
    compounds = residential_from_osm(areas, blds, metric, PopulationSpec())
    if len(compounds):
        compounds.to_crs(4326).to_file(path, layer="compounds", driver="GPKG", engine="pyogrio")
    return compounds


def _write_boundary(place: str, path: Path) -> None:
    """Download the place's outline and write it as one zone to ``path``."""
    boundary = _boundary(place)
    gpd.GeoDataFrame({"name": [place]}, geometry=[boundary.to_crs(4326).union_all()], crs=4326).to_file(
        path, layer="boundary", driver="GPKG", engine="pyogrio"
    )


def _scenario_text(place: str, *, has_pois: bool, has_compounds: bool) -> str:
    lines = [
        f"# 由 planner fetch 生成 / written by planner fetch for {place!r} (OpenStreetMap data, ODbL)",
        "# 人口按建筑面积估算，见 [population]；请用实际的小区、设施与街道数据替换 / population is estimated; replace with real layers",
        f'name = {json.dumps(place + " 步行可达性", ensure_ascii=False)}',
        "walking_speed_m_per_min = 67",
        "thresholds_min = [5, 10, 15]",
        "",
        "[network]",
        'path = "network.gpkg"',
        'kind = "lines"',
        "",
        "[layers.facilities]",
    ]
    if not has_pois:
        raise PlannerError(f"{place} 没有下载到任何 POI / no POIs downloaded for {place}; the scenario needs a facilities layer")
    lines += ['path = "pois.gpkg"', ""]
    if not has_compounds:
        raise PlannerError(f"{place} 没有居住用地或住宅建筑 / no residential land or buildings for {place}")
    lines += ["[layers.residential]", 'path = "compounds.gpkg"', "", "[layers.zones]", 'path = "boundary.gpkg"', ""]
    return "\n".join(lines)
