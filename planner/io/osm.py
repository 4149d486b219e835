"""Read a local OSM file (.osm XML or .osm.pbf) in one pass: highway ways, POIs, residential land, buildings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from planner.errors import NetworkError
from planner.progress import progress

__all__ = ["OsmExtract", "OsmWays", "read_osm", "POI_KEYS"]

log = logging.getLogger(__name__)

POI_KEYS = ("amenity", "shop", "healthcare", "social_facility", "leisure", "office", "craft")
_RULE_TAGS = ("foot", "access", "service", "area")  # besides highway and name, what the walk rule reads
_WAY_TAGS = ("highway", "name", *_RULE_TAGS)


@dataclass(frozen=True)
class OsmWays:
    """Highway ways as flat arrays: way ``w`` (OSM id ``osm_id[w]``) runs through OSM nodes
    ``refs[offsets[w]:offsets[w + 1]]`` at WGS84 ``lon``, ``lat`` (nodes without a location left out; at least two
    nodes per way); ``tags[key][w]`` is its tag value for the keys routing needs ("" when it has none)."""

    osm_id: np.ndarray
    offsets: np.ndarray
    refs: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    tags: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.osm_id)


@dataclass(frozen=True)
class OsmExtract:
    """What planner uses from an OSM file, in WGS84 (EPSG:4326)."""

    path: Path
    ways: OsmWays
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


_UNDEFINED = 2147483647  # osmium's coordinate of a node without a location


class _WayCollector:
    """Highway ways gathered into flat lists while the file is scanned (per way: one pass over its nodes and as
    few tag look-ups as its tags allow — at a million nodes the scan is bound by these Python calls)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.counts: list[int] = []
        self.nodes: list[tuple[int, int, int]] = []  # (ref, x, y) in osmium's fixed-point 1e-7 degrees
        self.tags: dict[str, list[str]] = {k: [] for k in _WAY_TAGS}

    def add(self, way, tags, highway: str) -> None:
        nodes = [(n.ref, n.x, n.y) for n in way.nodes]
        self.ids.append(way.id)
        self.counts.append(len(nodes))
        self.nodes.extend(nodes)
        name = tags.get("name", "")
        self.tags["highway"].append(highway)
        self.tags["name"].append(name)
        if len(tags) > (2 if name else 1):
            for k in _RULE_TAGS:
                self.tags[k].append(tags.get(k, ""))
        else:  # highway (and name) only
            for k in _RULE_TAGS:
                self.tags[k].append("")

    def arrays(self) -> tuple[OsmWays, int]:
        """The ways (nodes without a location dropped, then ways with fewer than two nodes) and the number of
        nodes dropped."""
        flat = np.asarray(self.nodes, dtype=np.int64).reshape(-1, 3)
        refs, x, y = flat[:, 0], flat[:, 1], flat[:, 2]
        counts = np.asarray(self.counts, dtype=np.int64)
        # osmium's Location.valid(): within ±180°, ±90° (in units of 1e-7 degree)
        valid = (np.abs(x) <= 1_800_000_000) & (np.abs(y) <= 900_000_000) & (x != _UNDEFINED) & (y != _UNDEFINED)
        way_of = np.repeat(np.arange(len(counts)), counts)
        n_valid = np.bincount(way_of[valid], minlength=len(counts))
        keep_way = n_valid >= 2
        vert = valid & keep_way[way_of]
        ways = OsmWays(
            osm_id=np.asarray(self.ids, dtype=np.int64)[keep_way],
            offsets=np.r_[0, np.cumsum(n_valid[keep_way])].astype(np.int64),
            refs=refs[vert],
            lon=x[vert] / 10_000_000,
            lat=y[vert] / 10_000_000,
            tags={k: np.asarray(v, dtype=object)[keep_way] for k, v in self.tags.items()},
        )
        return ways, int((~valid).sum())


def _scan(path: Path, osmium, *, use_areas: bool):
    collector = _WayCollector()
    poi_rows: list[dict] = []
    res_rows: list[dict] = []
    bld_rows: list[dict] = []
    wkb = osmium.geom.WKBFactory()
    # only objects with a key planner reads reach Python (node locations are still all cached)
    keys = (*POI_KEYS, "highway", "landuse", "building")
    processor = osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter(*keys))
    if use_areas:
        processor = processor.with_areas()
    for obj in progress(processor, desc="读取 OSM / scanning OSM", unit="obj"):
        tags = obj.tags
        if obj.is_node():
            if any(k in tags for k in POI_KEYS) and obj.location.valid():
                poi_rows.append(_poi_row("node", obj.id, dict(tags), shapely.Point(obj.location.lon, obj.location.lat)))
        elif obj.is_way():
            highway = tags.get("highway")
            if highway is not None:
                collector.add(obj, tags, highway)
            elif not use_areas:
                locs = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
                refs = [n.ref for n in obj.nodes if n.location.valid()]
                if len(refs) >= 4 and refs[0] == refs[-1]:
                    geom = shapely.make_valid(shapely.Polygon(locs))
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
    ways, skipped_nodes = collector.arrays()
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
