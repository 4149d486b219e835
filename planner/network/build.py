"""Build the walk network (with osmnx) from an OSM file or a roads line layer, in the metric CRS."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from planner.engine.streets import StreetArrays
from planner.errors import NetworkError
from planner.io.osm import OsmExtract, read_osm
from planner.settings import NetworkSpec

__all__ = ["WalkNetwork", "build_network", "network_from_lines", "network_from_ways", "network_bounds_wgs84"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalkNetwork:
    """An undirected walk network in a metric CRS.

    nodes
        Indexed by node id; columns ``x``, ``y`` (metres) and point geometry.
    edges
        One row per undirected edge (RangeIndex = edge id); columns ``u``, ``v`` (node ids),
        ``length`` (metres, the length of the geometry), ``highway``, ``name`` and a LineString
        geometry that runs from node ``u`` to node ``v``.
    """

    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    crs: CRS

    @property
    def total_length_km(self) -> float:
        return float(self.edges["length"].sum() / 1000.0)

    def n_components(self) -> int:
        """Number of connected components."""
        return nx.number_connected_components(self.to_networkx())

    def to_networkx(self) -> nx.MultiGraph:
        """The network as a networkx MultiGraph with ``length`` on each edge (for checks and oracles)."""
        graph = nx.MultiGraph(crs=self.crs)
        graph.add_nodes_from(self.nodes.index)
        graph.add_weighted_edges_from(
            zip(self.edges["u"].to_numpy(), self.edges["v"].to_numpy(), self.edges["length"].to_numpy(), strict=True),
            weight="length",
        )
        return graph

    @property
    def streets(self) -> StreetArrays:
        """The network as coordinate arrays (node positions, not ids), for the reach engine; built once."""
        cached = self.__dict__.get("_streets")
        if cached is None:
            node_pos = pd.Series(np.arange(len(self.nodes)), index=self.nodes.index)
            coords, which = shapely.get_coordinates(self.edges.geometry.to_numpy(), return_index=True)
            offsets = np.r_[0, np.cumsum(np.bincount(which, minlength=len(self.edges)))].astype(np.int64)
            cached = StreetArrays(
                node_x=self.nodes["x"].to_numpy(dtype=np.float64),
                node_y=self.nodes["y"].to_numpy(dtype=np.float64),
                u=node_pos.loc[self.edges["u"].to_numpy()].to_numpy(dtype=np.int64),
                v=node_pos.loc[self.edges["v"].to_numpy()].to_numpy(dtype=np.int64),
                length=self.edges["length"].to_numpy(dtype=np.float64),
                coords=coords,
                offsets=offsets,
            )
            object.__setattr__(self, "_streets", cached)
        return cached

    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def edge_attrs(self) -> pd.DataFrame:
        """Per edge (edge id order): ``u``, ``v`` (node ids), ``length``, ``highway``, ``name`` — no geometry."""
        return pd.DataFrame(self.edges[["u", "v", "length", "highway", "name"]])

    def edge_geometries(self, edges: np.ndarray | None = None) -> np.ndarray:
        """Shapely LineStrings (u → v) of ``edges`` (edge ids; all when None), built from :attr:`streets` on demand."""
        st = self.streets
        idx = np.arange(st.n_edges) if edges is None else np.asarray(edges, dtype=np.int64)
        counts = st.offsets[idx + 1] - st.offsets[idx]
        take = np.repeat(st.offsets[idx], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        return shapely.linestrings(st.coords[take], indices=np.repeat(np.arange(len(idx)), counts))

    def summary(self) -> str:
        return (
            f"步行路网 {len(self.nodes)} 个节点、{len(self.edges)} 条边、{self.total_length_km:.1f} km / "
            f"walk graph with {len(self.nodes)} nodes and {len(self.edges)} edges, {self.total_length_km:.1f} km"
        )


@dataclass(frozen=True)
class _Way:
    keys: Sequence[object]  # node keys (OSM node id, or a rounded coordinate for plain lines)
    x: Sequence[float]  # metric coordinates
    y: Sequence[float]
    highway: str
    name: str


def build_network(spec: NetworkSpec, crs: CRS, *, osm: OsmExtract | None = None) -> WalkNetwork:
    """Walk network for ``spec`` in ``crs`` (metres).

    OSM files keep OSM's topology: ways connect only where they share a node, so a bridge that
    crosses a road at the same coordinates stays unconnected. Line layers connect where lines
    share a vertex (or, when the layer has a ``node_refs`` column, where they share a node id).

    Parameters
    ----------
    spec
        The scenario's ``[network]``.
    crs
        Metric CRS of the network.
    osm
        The extract of ``spec.path`` when the caller has read it already (a run reads it once for the
        layers as well); without it an OSM file is read here.
    """
    if spec.kind == "osm":
        ways = _ways_from_osm(spec, crs, osm if osm is not None else read_osm(spec.path))
    else:
        ways = _ways_from_lines(spec, crs)
    if not ways:
        raise NetworkError(
            f"{spec.path} 中没有可步行的道路 / no walkable ways in {spec.path}; "
            "check [network].kind, the highway column and exclude_highway"
        )
    net = network_from_ways(ways, crs)
    log.info("%s", net.summary())
    return net


def _walkable(tags: dict[str, str], exclude: Iterable[str]) -> bool:
    highway = tags.get("highway", "")
    foot = tags.get("foot", "")
    if foot in ("yes", "designated", "permissive"):
        return highway not in ("construction", "proposed", "planned", "abandoned", "razed")
    if foot == "no" or tags.get("access") in ("no", "private") or tags.get("area") == "yes":
        return False
    if tags.get("service") == "private":
        return False
    return highway not in set(exclude)


def _ways_from_osm(spec: NetworkSpec, crs: CRS, extract: OsmExtract) -> list[_Way]:
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    ways = []
    dropped = 0
    for way in extract.ways:
        if not _walkable(way.tags, spec.exclude_highway):
            dropped += 1
            continue
        x, y = to_metric.transform(np.asarray(way.lon), np.asarray(way.lat))
        ways.append(_Way(way.refs, x, y, way.tags.get("highway", ""), way.tags.get("name", "")))
    log.info("OSM ways: %d walkable, %d not walkable (excluded by the walk rule)", len(ways), dropped)
    return ways


def _ways_from_lines(spec: NetworkSpec, crs: CRS) -> list[_Way]:
    from planner.io.readers import read_layer  # the only module that reads layer files

    gdf = read_layer(spec.path, layer=spec.layer, crs=spec.crs, what="[network]")
    return _ways_from_frame(gdf.to_crs(crs), spec.columns, spec.exclude_highway)


def _ways_from_frame(lines: gpd.GeoDataFrame, columns: dict[str, str], exclude: Iterable[str]) -> list[_Way]:
    cols = {"highway": "highway", "name": "name", **columns}
    lines = lines.explode(index_parts=False, ignore_index=True)
    lines = lines[lines.geometry.notna() & ~lines.geometry.is_empty & (lines.geom_type == "LineString")]
    ways: list[_Way] = []
    dropped = 0
    has_refs = "node_refs" in lines.columns
    for row in lines.itertuples(index=False):
        rec = row._asdict()
        tags = {k: str(rec[c]) for k, c in cols.items() if c in rec and pd.notna(rec[c])}
        for extra in ("foot", "access", "service", "area"):
            if extra in rec and pd.notna(rec[extra]):
                tags[extra] = str(rec[extra])
        if "walkable" in rec and pd.notna(rec["walkable"]) and not bool(rec["walkable"]):
            dropped += 1
            continue
        if not _walkable(tags, exclude):
            dropped += 1
            continue
        coords = np.asarray(row.geometry.coords)[:, :2]
        keys: list = [(round(px, 3), round(py, 3)) for px, py in coords]
        if has_refs and isinstance(rec["node_refs"], str):
            refs = json.loads(rec["node_refs"])
            if len(refs) == len(coords):
                keys = refs
        ways.append(_Way(keys, coords[:, 0], coords[:, 1], tags.get("highway", ""), tags.get("name", "")))
    log.info("line layer: %d walkable lines, %d not walkable", len(ways), dropped)
    return ways


def network_from_lines(
    lines: gpd.GeoDataFrame, *, columns: dict[str, str] | None = None, exclude_highway: Iterable[str] = ()
) -> WalkNetwork:
    """Walk network from a line GeoDataFrame already in a metric CRS.

    Lines connect where they share a vertex (coordinates equal to the millimetre), or where they
    share a node id when the frame has a ``node_refs`` column (a JSON list per line, as in OSM
    exports). A ``highway`` column, when present, is filtered by ``exclude_highway``.
    """
    if lines.crs is None or not CRS.from_user_input(lines.crs).is_projected:
        raise NetworkError("network_from_lines 需要以米为单位的投影坐标系 / needs lines in a projected (metre) CRS")
    ways = _ways_from_frame(lines, columns or {}, exclude_highway)
    if not ways:
        raise NetworkError("没有可步行的线 / no walkable lines")
    return network_from_ways(ways, CRS.from_user_input(lines.crs))


def network_from_ways(ways: Sequence[_Way], crs: CRS) -> WalkNetwork:
    """Turn ways into an osmnx graph, let osmnx simplify its topology, and return it as frames."""
    key_to_id: dict[object, int] = {}
    node_x: list[float] = []
    node_y: list[float] = []
    seg_u: list[int] = []
    seg_v: list[int] = []
    seg_way: list[int] = []
    for w_i, way in enumerate(ways):
        ids = []
        for key, px, py in zip(way.keys, way.x, way.y, strict=True):
            nid = key_to_id.get(key)
            if nid is None:
                nid = len(node_x)
                key_to_id[key] = nid
                node_x.append(float(px))
                node_y.append(float(py))
            ids.append(nid)
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            if a != b:
                seg_u.append(a)
                seg_v.append(b)
                seg_way.append(w_i)
    if not seg_u:
        raise NetworkError("路网没有任何边 / the network has no edges")
    nx_ = np.asarray(node_x)
    ny_ = np.asarray(node_y)
    u = np.asarray(seg_u)
    v = np.asarray(seg_v)
    lengths = np.hypot(nx_[u] - nx_[v], ny_[u] - ny_[v])
    highway = [ways[i].highway for i in seg_way]
    name = [ways[i].name for i in seg_way]
    # Both directions, as osmnx does for walking (bidirectional); to_undirected merges them again.
    uu = np.concatenate([u, v])
    vv = np.concatenate([v, u])
    edges = pd.DataFrame(
        {
            "u": uu,
            "v": vv,
            "length": np.concatenate([lengths, lengths]),
            "highway": highway + highway,
            "name": name + name,
            "osmid": np.concatenate([np.asarray(seg_way), np.asarray(seg_way)]),
        }
    )
    edges["key"] = edges.groupby(["u", "v"]).cumcount()
    edges = edges.set_index(["u", "v", "key"])
    edge_geoms = shapely.linestrings(
        np.stack([nx_[uu], ny_[uu], nx_[vv], ny_[vv]], axis=1).reshape(-1, 2, 2)
    )
    gdf_edges = gpd.GeoDataFrame(edges, geometry=edge_geoms, crs=crs)
    gdf_nodes = gpd.GeoDataFrame(
        {"x": nx_, "y": ny_}, geometry=shapely.points(nx_, ny_), crs=crs, index=pd.RangeIndex(len(nx_), name="osmid")
    )
    graph = ox.graph_from_gdfs(gdf_nodes, gdf_edges)
    graph = ox.simplify_graph(graph, remove_rings=False, edge_attrs_differ=["osmid"])
    graph = ox.convert.to_undirected(graph)
    nodes, edges_out = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    edges_out = edges_out.reset_index()[["u", "v", "highway", "name", "geometry"]]
    for col in ("highway", "name"):
        edges_out[col] = edges_out[col].map(lambda val: "；".join(sorted(set(map(str, val)))) if isinstance(val, list) else val)
    # orient every geometry from u to v
    first = shapely.get_point(edges_out.geometry.array, 0)
    ux = nodes.loc[edges_out["u"], "x"].to_numpy()
    uy = nodes.loc[edges_out["u"], "y"].to_numpy()
    vx = nodes.loc[edges_out["v"], "x"].to_numpy()
    vy = nodes.loc[edges_out["v"], "y"].to_numpy()
    fx, fy = shapely.get_x(first), shapely.get_y(first)
    flip = np.hypot(fx - vx, fy - vy) < np.hypot(fx - ux, fy - uy)
    geoms = edges_out.geometry.to_numpy()
    geoms[flip] = shapely.reverse(geoms[flip])
    edges_out = gpd.GeoDataFrame(edges_out.drop(columns="geometry"), geometry=list(geoms), crs=crs)
    edges_out["length"] = edges_out.length
    edges_out = edges_out.sort_values(["u", "v"], kind="stable").reset_index(drop=True)
    nodes = nodes[["x", "y", "geometry"]].sort_index()
    nodes.index.name = "node"
    return WalkNetwork(nodes=nodes, edges=edges_out[["u", "v", "length", "highway", "name", "geometry"]], crs=crs)


def network_bounds_wgs84(spec: NetworkSpec, *, osm: OsmExtract | None = None) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in WGS84 of the network source, used to pick the metric CRS (``osm``: the extract
    of an OSM ``spec.path`` when already read; without it the file is read here)."""
    if spec.kind == "osm":
        extract = osm if osm is not None else read_osm(spec.path)
        if not extract.ways:
            raise NetworkError(f"{spec.path} 中没有道路 / no highway ways in {spec.path}")
        lons = np.concatenate([np.asarray(w.lon) for w in extract.ways])
        lats = np.concatenate([np.asarray(w.lat) for w in extract.ways])
        return float(lons.min()), float(lats.min()), float(lons.max()), float(lats.max())
    from planner.io.readers import read_layer

    gdf = read_layer(spec.path, layer=spec.layer, crs=spec.crs, what="[network]")
    return tuple(gdf.to_crs("EPSG:4326").total_bounds)  # type: ignore[return-value]
