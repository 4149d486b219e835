"""Read a local OSM file (.osm XML or .osm.pbf) in one pass: highway ways, POIs, residential land, buildings."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from planner.errors import NetworkError
from planner.progress import bar, progress

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


_OPL_LINE = re.compile(r"^w(-?\d+) T(\S*) N(\S*)$", re.MULTILINE)
_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _highway_ways(path: Path, osmium) -> tuple[OsmWays, int]:
    """The highway ways of ``path`` with their node locations, without a Python call per way or node.

    osmium's own handlers do the work — node locations cached, ways with a ``highway`` tag kept, written as OPL
    text with each node's location — and the text is parsed in bulk (numbers with numpy, tags with Arrow's
    regular expressions). Returns the ways (nodes without a location left out, then ways with fewer than two
    nodes) and the number of way nodes without a location.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    with (
        tempfile.TemporaryDirectory(prefix="planner-osm-") as tmp,
        bar(desc="读取 OSM 道路 / reading OSM highways", total=2, unit="步") as steps,
    ):
        out = Path(tmp) / "highways.opl"
        locations = osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
        locations.ignore_errors()  # a way node missing from the file gets no location (dropped below)
        writer = osmium.SimpleWriter(osmium.io.File(str(out), "opl,locations_on_ways=true,add_metadata=false"))
        try:
            osmium.apply(
                str(path), locations, osmium.filter.KeyFilter("highway"), osmium.filter.EntityFilter(osmium.osm.WAY), writer
            )
        finally:
            writer.close()
        steps.update(1)
        text = out.read_text(encoding="utf-8")
        steps.update(1)
    lines = _OPL_LINE.findall(text)
    del text
    ids = np.fromiter((int(w) for w, _, _ in lines), dtype=np.int64, count=len(lines))
    node_fields = [n for _, _, n in lines]
    tag_fields = pa.array([t for _, t, _ in lines], type=pa.string())
    del lines
    counts = np.fromiter((f.count(",") + 1 if f else 0 for f in node_fields), dtype=np.int64, count=len(node_fields))
    joined = ",".join(node_fields)
    del node_fields
    numbers = np.fromstring(joined.replace("n", " ").replace("x", " ").replace("y", " ").replace(",", " "), sep=" ")
    if len(numbers) == 3 * int(counts.sum()):
        refs = numbers[0::3].astype(np.int64)
        lon, lat = numbers[1::3], numbers[2::3]
        if np.abs(numbers[0::3]).max(initial=0) >= 2**53:  # ids beyond float precision: read them as integers
            refs = np.asarray([int(t[1 : t.index("x")]) for t in joined.split(",") if t], dtype=np.int64)
    else:  # some nodes have no location ("n42xy"): token by token
        refs_l, lon_l, lat_l = [], [], []
        for tok in joined.split(","):
            if not tok:
                continue
            ref, rest = tok[1:].split("x", 1)
            lo, la = rest.split("y", 1)
            refs_l.append(int(ref))
            lon_l.append(float(lo) if lo else np.nan)
            lat_l.append(float(la) if la else np.nan)
        refs, lon, lat = np.asarray(refs_l, dtype=np.int64), np.asarray(lon_l), np.asarray(lat_l)
    del joined, numbers
    valid = np.isfinite(lon) & np.isfinite(lat)
    way_of = np.repeat(np.arange(len(counts)), counts)
    n_valid = np.bincount(way_of[valid], minlength=len(counts))
    keep = n_valid >= 2
    vert = valid & keep[way_of]
    tags = {}
    for key in _WAY_TAGS:
        found = pc.extract_regex(tag_fields, rf"(?:^|,){re.escape(key)}=(?P<v>[^,]*)")
        coded = pc.dictionary_encode(pc.if_else(pc.is_valid(found), pc.struct_field(found, [0]), ""))
        distinct = np.array([_unescape(v) for v in coded.dictionary.to_pylist()] or [""], dtype=object)
        tags[key] = distinct[coded.indices.to_numpy(zero_copy_only=False)][keep]
    ways = OsmWays(
        osm_id=ids[keep],
        offsets=np.r_[0, np.cumsum(n_valid[keep])].astype(np.int64),
        refs=refs[vert],
        lon=lon[vert],
        lat=lat[vert],
        tags=tags,
    )
    return ways, int((~valid).sum())


def _unescape(text: str) -> str:
    """OPL tag text → the tag value (``%4eac%`` is the character U+4EAC)."""
    return _OPL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "%" in text else text


def _scan(path: Path, osmium, *, use_areas: bool):
    ways, skipped_nodes = _highway_ways(path, osmium)
    poi_rows: list[dict] = []
    res_rows: list[dict] = []
    bld_rows: list[dict] = []
    wkb = osmium.geom.WKBFactory()
    # POIs, residential land and buildings: only objects with one of their keys reach Python (node locations are
    # still all cached, and every way is seen by the area assembler)
    keys = (*POI_KEYS, "landuse", "building")
    processor = osmium.FileProcessor(str(path)).with_locations().with_filter(osmium.filter.KeyFilter(*keys))
    if use_areas:
        processor = processor.with_areas()
    for obj in progress(processor, desc="读取 OSM / scanning OSM", unit="obj"):
        tags = obj.tags
        if obj.is_node():
            if any(k in tags for k in POI_KEYS) and obj.location.valid():
                poi_rows.append(_poi_row("node", obj.id, dict(tags), shapely.Point(obj.location.lon, obj.location.lat)))
        elif obj.is_way():
            if "highway" not in tags and not use_areas:
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
