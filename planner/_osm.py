"""Read a local OSM file (.osm XML or .osm.pbf) in one pass: highway ways, POIs, residential land, buildings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely

from ._errors import NetworkError

__all__ = ["OsmExtract", "read_osm", "POI_KEYS"]

log = logging.getLogger(__name__)

POI_KEYS = ("amenity", "shop", "healthcare", "social_facility", "leisure", "office", "craft")
_WAY_TAGS = ("highway", "name", "foot", "access", "service", "area", "sidewalk", "bridge", "tunnel")


@dataclass(frozen=True)
class OsmWay:
    """A highway way: its OSM node ids, their WGS84 coordinates and the tags routing needs."""

    osm_id: int
    refs: tuple[int, ...]
    lon: tuple[float, ...]
    lat: tuple[float, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class OsmExtract:
    """What planner uses from an OSM file, in WGS84 (EPSG:4326)."""

    path: Path
    ways: list[OsmWay]
    pois: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame


_CACHE: dict[Path, OsmExtract] = {}


def read_osm(path: str | Path) -> OsmExtract:
    """Parse ``path`` once (cached per process); raise NetworkError if it cannot be read."""
    path = Path(path).resolve()
    if path in _CACHE:
        return _CACHE[path]
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise NetworkError("读取 OSM 文件需要 osmium (pip install osmium) / reading OSM files needs osmium") from exc

    ways: list[OsmWay] = []
    poi_rows: list[dict] = []
    res_rows: list[dict] = []
    bld_rows: list[dict] = []
    wkb = osmium.geom.WKBFactory()
    skipped_nodes = 0
    try:
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas()
        for obj in processor:
            tags = obj.tags
            if obj.is_node():
                if any(k in tags for k in POI_KEYS) and obj.location.valid():
                    poi_rows.append(_poi_row("node", obj.id, dict(tags), shapely.Point(obj.location.lon, obj.location.lat)))
            elif obj.is_way():
                if "highway" not in tags:
                    continue
                refs, lons, lats = [], [], []
                for nd in obj.nodes:
                    if not nd.location.valid():
                        skipped_nodes += 1
                        continue
                    refs.append(nd.ref)
                    lons.append(nd.location.lon)
                    lats.append(nd.location.lat)
                if len(refs) >= 2:
                    ways.append(OsmWay(obj.id, tuple(refs), tuple(lons), tuple(lats), {k: tags[k] for k in _WAY_TAGS if k in tags}))
            elif obj.is_area():
                is_poi = any(k in tags for k in POI_KEYS)
                is_res = tags.get("landuse") == "residential"
                is_bld = "building" in tags and tags.get("building") != "no"
                if not (is_poi or is_res or is_bld):
                    continue
                try:
                    geom = shapely.from_wkb(wkb.create_multipolygon(obj))
                except Exception:  # an area osmium could not assemble: report and go on
                    log.warning("OSM area %s could not be assembled; skipped", obj.orig_id())
                    continue
                osm_type = "way" if obj.from_way() else "relation"
                if is_poi:
                    poi_rows.append(_poi_row(osm_type, obj.orig_id(), dict(tags), geom.representative_point()))
                if is_res:
                    res_rows.append({"osm_type": osm_type, "osm_id": obj.orig_id(), "name": tags.get("name", ""), "geometry": geom})
                if is_bld:
                    bld_rows.append({
                        "osm_type": osm_type,
                        "osm_id": obj.orig_id(),
                        "building": tags.get("building"),
                        "levels": tags.get("building:levels"),
                        "name": tags.get("name", ""),
                        "geometry": geom,
                    })
    except RuntimeError as exc:
        raise NetworkError(f"无法读取 OSM 文件 {path}：{exc} / cannot read OSM file {path}: {exc}") from exc
    if skipped_nodes:
        log.warning("%d way nodes without a location in %s were skipped", skipped_nodes, path.name)

    def frame(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
        if rows:
            return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")

    extract = OsmExtract(
        path=path,
        ways=ways,
        pois=frame(poi_rows, ["osm_type", "osm_id", "name", "tags"]),
        residential=frame(res_rows, ["osm_type", "osm_id", "name"]),
        buildings=frame(bld_rows, ["osm_type", "osm_id", "building", "levels", "name"]),
    )
    log.info(
        "OSM %s: %d highway ways, %d POIs, %d residential areas, %d buildings",
        path.name, len(ways), len(extract.pois), len(extract.residential), len(extract.buildings),
    )
    _CACHE[path] = extract
    return extract


def _poi_row(osm_type: str, osm_id: int, tags: dict[str, str], point: shapely.Point) -> dict:
    return {
        "osm_type": osm_type,
        "osm_id": osm_id,
        "name": tags.get("name", ""),
        "tags": json.dumps(tags, ensure_ascii=False, sort_keys=True),
        "geometry": point,
    }
