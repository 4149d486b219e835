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
# besides highway and name, what the walk rules read (planner's, and osmnx's walk filter: the sidewalk tags)
_RULE_TAGS = ("foot", "access", "service", "area", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")
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
    ways_read: int = 0  # highway ways in the file, before those left with fewer than two located nodes
    way_nodes: int = 0  # node references of those ways
    nodes_without_location: int = 0  # references to nodes missing from the file (a clipped extract)

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
    if skipped_nodes and skipped_nodes * 2 > ways.way_nodes:
        raise NetworkError(
            f"OSM 文件 {path} 的道路引用了 {ways.way_nodes} 个节点，其中 {skipped_nodes} 个不在文件中（裁剪时丢掉了道路的节点），"
            "路网不完整。请导出包含完整道路的文件（如 osmium extract --strategy complete_ways，或 Overpass 的 (._;>;); out;）/ "
            f"the highway ways of {path} refer to {ways.way_nodes} nodes, {skipped_nodes} of which are not in the file (the "
            "extract was clipped without the ways' nodes): the network would be incomplete. Export the file with complete "
            "ways (e.g. osmium extract --strategy complete_ways, or Overpass with (._;>;); out;)"
        )
    if skipped_nodes:
        log.warning(
            "%s：道路引用的 %d 个节点不在文件中，已跳过 / %d way nodes without a location in %s were skipped",
            path.name, skipped_nodes, skipped_nodes, path.name,
        )

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


_OPL_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")


def _highway_ways(path: Path, osmium) -> tuple[OsmWays, int]:
    """The highway ways of ``path`` with their node locations, without a Python call per way or node.

    osmium's own handlers do the work — node locations cached, ways with a ``highway`` tag kept, written as OPL
    text with each node's location — and the text is parsed in bulk by Arrow's CSV reader (:func:`_parse_opl`),
    the tags once per distinct tag text. Returns the ways (nodes without a location left out, then ways with fewer than two
    nodes) and the number of way nodes without a location.
    """

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
        data = out.read_bytes()
        steps.update(1)
    if not data.strip():  # no way with a highway tag (or not even a way): an empty extract, not a parse error
        empty = np.zeros(0, dtype=np.int64)
        return OsmWays(empty, np.zeros(1, dtype=np.int64), empty, np.zeros(0), np.zeros(0),
                       {k: np.zeros(0, dtype=object) for k in _WAY_TAGS}), 0
    ids, counts, refs, lon, lat, tag_codes, tag_texts = _parse_opl(data)
    del data
    valid = np.isfinite(lon) & np.isfinite(lat)
    way_of = np.repeat(np.arange(len(counts)), counts)
    n_valid = np.bincount(way_of[valid], minlength=len(counts))
    keep = n_valid >= 2
    vert = valid & keep[way_of]
    # the tags of each distinct tag text (few: a city's ways share their highway/name combinations), then per way
    parsed = [_opl_tags(text) for text in tag_texts]
    tags = {key: np.array([d.get(key, "") for d in parsed] or [""], dtype=object)[tag_codes][keep] for key in _WAY_TAGS}
    ways = OsmWays(
        osm_id=ids[keep],
        offsets=np.r_[0, np.cumsum(n_valid[keep])].astype(np.int64),
        refs=refs[vert],
        lon=lon[vert],
        lat=lat[vert],
        tags=tags,
        ways_read=len(counts),
        way_nodes=len(valid),
        nodes_without_location=int((~valid).sum()),
    )
    return ways, int((~valid).sum())


def _parse_opl(data: bytes):
    """Ways of an OPL text (``w<id> T<tags> N<n<ref>x<lon>y<lat>,…>`` per line; tags are %-escaped, so a line has
    exactly two spaces) → way ids, node counts, node refs, lon, lat (NaN without a location), each way's code into
    the distinct tag texts, and those texts. Parsed by Arrow's CSV reader (C++), not line by line in Python."""
    import io

    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv

    text = pa.string()
    table = csv.read_csv(
        io.BytesIO(data),
        read_options=csv.ReadOptions(column_names=["w", "t", "n"]),
        parse_options=csv.ParseOptions(delimiter=" ", quote_char=False, escape_char=False),
        convert_options=csv.ConvertOptions(column_types={"w": text, "t": text, "n": text}, strings_can_be_null=False),
    )
    ids = pc.cast(pc.utf8_slice_codeunits(table["w"], 1), pa.int64()).to_numpy()
    coded = pc.dictionary_encode(pc.utf8_slice_codeunits(table["t"], 1)).combine_chunks()
    tag_codes = coded.indices.to_numpy(zero_copy_only=False)
    tag_texts = coded.dictionary.to_pylist()
    nodes = table["n"].combine_chunks()
    counts = pc.count_substring(nodes, "n").to_numpy(zero_copy_only=False).astype(np.int64)
    del table
    # the node fields back to back ("Nn1x…y…,n2x…y…Nn7x…"), turned into CSV lines "ref,lon,lat"
    offsets = np.frombuffer(nodes.buffers()[1], dtype=np.int32, count=len(nodes) + 1, offset=nodes.offset * 4)
    raw = nodes.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]] if len(nodes) and nodes.buffers()[2] is not None else b""
    del nodes
    raw = raw.translate(None, b"N,").replace(b"n", b"\n").translate(bytes.maketrans(b"xy", b",,"))
    floats = pa.float64()
    points = csv.read_csv(
        io.BytesIO(raw),
        read_options=csv.ReadOptions(column_names=["ref", "lon", "lat"]),
        convert_options=csv.ConvertOptions(column_types={"ref": pa.int64(), "lon": floats, "lat": floats}),
    )
    del raw
    if points.num_rows != int(counts.sum()):
        raise NetworkError("OSM 道路节点解析不一致 / the OSM highway nodes could not be parsed consistently")
    refs = points["ref"].to_numpy()
    lon = pc.fill_null(points["lon"], np.nan).to_numpy()
    lat = pc.fill_null(points["lat"], np.nan).to_numpy()
    return ids, counts, refs, lon, lat, tag_codes, tag_texts


def _opl_tags(text: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` (OPL, %-escaped) → {k1: v1, …} for the keys routing needs."""
    out = {}
    for item in text.split(",") if text else ():
        key, _, value = item.partition("=")
        key = _unescape(key)
        if key in _WAY_TAGS:
            out[key] = _unescape(value)
    return out


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
