"""Read a local OSM file (.osm XML or .osm.pbf) in one pass: highway ways, POIs, residential land, buildings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import shapely

from planner.errors import NetworkError

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


def read_osm(path: str | Path) -> OsmExtract:
    """Parse ``path`` (every call reads the file: a run reads it once and passes the extract on); raise
    NetworkError if it cannot be read."""
    path = Path(path).resolve()
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise NetworkError("读取 OSM 文件需要 osmium (pip install osmium) / reading OSM files needs osmium") from exc

    try:
        scan = _scan(path, osmium, use_areas=True)
    except RuntimeError as exc:
        if "out of order" not in str(exc):
            raise NetworkError(f"无法读取 OSM 文件 {path}：{exc} / cannot read OSM file {path}: {exc}") from exc
        # osmium's area assembler needs a sorted file; build polygons from closed ways instead
        log.warning("%s is not sorted by id (%s): areas are built from closed ways only, multipolygon relations skipped", path.name, exc)
        try:
            scan = _scan(path, osmium, use_areas=False)
        except RuntimeError as exc2:
            raise NetworkError(f"无法读取 OSM 文件 {path}：{exc2} / cannot read OSM file {path}: {exc2}") from exc2
    ways, poi_rows, res_rows, bld_rows, skipped_nodes = scan
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
    return extract


def _scan(path: Path, osmium, *, use_areas: bool):
    ways: list[OsmWay] = []
    poi_rows: list[dict] = []
    res_rows: list[dict] = []
    bld_rows: list[dict] = []
    wkb = osmium.geom.WKBFactory()
    skipped_nodes = 0
    processor = osmium.FileProcessor(str(path)).with_locations()
    if use_areas:
        processor = processor.with_areas()
    for obj in processor:
        tags = obj.tags
        if obj.is_node():
            if any(k in tags for k in POI_KEYS) and obj.location.valid():
                poi_rows.append(_poi_row("node", obj.id, dict(tags), shapely.Point(obj.location.lon, obj.location.lat)))
        elif obj.is_way():
            refs, lons, lats = [], [], []
            for nd in obj.nodes:
                if not nd.location.valid():
                    skipped_nodes += 1
                    continue
                refs.append(nd.ref)
                lons.append(nd.location.lon)
                lats.append(nd.location.lat)
            if "highway" in tags and len(refs) >= 2:
                ways.append(OsmWay(obj.id, tuple(refs), tuple(lons), tuple(lats), {k: tags[k] for k in _WAY_TAGS if k in tags}))
            if not use_areas and len(refs) >= 4 and refs[0] == refs[-1] and "highway" not in tags:
                geom = shapely.make_valid(shapely.Polygon(list(zip(lons, lats, strict=True))))
                _area_rows(dict(tags), "way", obj.id, geom, poi_rows, res_rows, bld_rows)
        elif obj.is_area():
            tags_d = dict(tags)
            if not _is_area_of_interest(tags_d):
                continue
            try:
                geom = shapely.from_wkb(wkb.create_multipolygon(obj))
            except Exception:  # an area osmium could not assemble: report and go on
                log.warning("OSM area %s could not be assembled; skipped", obj.orig_id())
                continue
            _area_rows(tags_d, "way" if obj.from_way() else "relation", obj.orig_id(), geom, poi_rows, res_rows, bld_rows)
    return ways, poi_rows, res_rows, bld_rows, skipped_nodes


def _is_area_of_interest(tags: dict[str, str]) -> bool:
    return (
        any(k in tags for k in POI_KEYS)
        or tags.get("landuse") == "residential"
        or ("building" in tags and tags.get("building") != "no")
    )


def _area_rows(tags: dict[str, str], osm_type: str, osm_id: int, geom, poi_rows, res_rows, bld_rows) -> None:
    if geom.is_empty or not _is_area_of_interest(tags):
        return
    if any(k in tags for k in POI_KEYS):
        poi_rows.append(_poi_row(osm_type, osm_id, tags, geom.representative_point()))
    if tags.get("landuse") == "residential":
        res_rows.append({"osm_type": osm_type, "osm_id": osm_id, "name": tags.get("name", ""), "geometry": geom})
    if "building" in tags and tags.get("building") != "no":
        bld_rows.append({
            "osm_type": osm_type,
            "osm_id": osm_id,
            "building": tags.get("building"),
            "levels": tags.get("building:levels"),
            "name": tags.get("name", ""),
            "geometry": geom,
        })


def _poi_row(osm_type: str, osm_id: int, tags: dict[str, str], point: shapely.Point) -> dict:
    return {
        "osm_type": osm_type,
        "osm_id": osm_id,
        "name": tags.get("name", ""),
        "tags": json.dumps(tags, ensure_ascii=False, sort_keys=True),
        "geometry": point,
    }
