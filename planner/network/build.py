"""Build the walk network from an OSM file or a roads line layer straight into arrays, in the metric CRS."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cached_property
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, QhullError

from planner.engine.pieces import Pieces, street_pieces
from planner.engine.streets import StreetArrays
from planner.engine.topology import polyline_lengths, simplify_segments
from planner.errors import NetworkError
from planner.io.osm import OsmExtract, read_osm
from planner.io.readers import LineArrays, layer_extent_wgs84, line_arrays, read_line_arrays
from planner.progress import bar
from planner.settings import NetworkSpec

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["WalkNetwork", "Ways", "build_network", "hull_corners", "network_bounds_wgs84", "network_from_lines", "read_ways"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class WalkNetwork:
    """An undirected walk network in a metric CRS, kept as arrays; frames for people are built on demand.

    streets
        The :class:`~planner.engine.streets.StreetArrays`: node coordinates, edge ends (node positions), lengths
        (metres, along the polyline) and each edge's polyline from ``u`` to ``v``.
    node_ids
        The id of the node at each position (ascending).
    highway, name
        Per edge (edge id order): the ``highway`` and ``name`` of the way it comes from.
    crs
        The metric CRS.
    pieces
        The connected pieces and which are too small to snap to (:func:`planner.engine.pieces.street_pieces`
        with the scenario's ``min_piece_m``); None: every edge may be snapped to.
    source
        What was read to build it (summary.json's ``network.input``): lines or ways read, used, not walkable,
        dropped by reason, node ids that could not be used, and the warnings given (:class:`Ways`).
    hull_xy
        Corners ((k, 2), metres) of the convex hull of the ways it was built from (:meth:`Ways.hull_xy`), which
        ``reject_beyond_network`` uses; None: not known (the hull of the nodes is used).

    :attr:`nodes` (indexed by node id; ``x``, ``y`` and point geometry) and :attr:`edges` (RangeIndex = edge id;
    ``u``, ``v`` node ids, ``length``, ``highway``, ``name`` and a LineString from ``u`` to ``v``) are
    GeoDataFrames built on first access — one shapely object per node and edge, so only for small networks,
    tests and people; everything else reads the arrays (:attr:`streets`, :attr:`edge_attrs`,
    :meth:`edge_geometries`).
    """

    streets: StreetArrays
    node_ids: np.ndarray
    highway: np.ndarray
    name: np.ndarray
    crs: CRS
    pieces: Pieces | None = None
    source: Mapping[str, object] = field(default_factory=dict)
    hull_xy: np.ndarray | None = None

    @property
    def snap_edges(self) -> np.ndarray | None:
        """Per edge: True when points may snap to it (None when every edge may: no small pieces)."""
        if self.pieces is None or not self.pieces.small.any():
            return None
        return self.pieces.edge_ok

    def with_pieces(self, min_piece_m: float, largest_m: float | None = None) -> WalkNetwork:
        """This network with its :attr:`pieces` found under the rule of ``min_piece_m`` (metres); ``largest_m``: the
        largest piece's street length (metres) of the whole network when this is a part of it."""
        return replace(self, pieces=street_pieces(self.streets, min_piece_m=min_piece_m, largest_m=largest_m))

    @property
    def n_nodes(self) -> int:
        return self.streets.n_nodes

    @property
    def n_edges(self) -> int:
        return self.streets.n_edges

    @property
    def total_length_km(self) -> float:
        return float(self.streets.length.sum() / 1000.0)

    @cached_property
    def nodes(self) -> gpd.GeoDataFrame:
        """Nodes indexed by node id (``node``): ``x``, ``y`` (metres) and point geometry; built once."""
        st = self.streets
        return gpd.GeoDataFrame(
            {"x": st.node_x, "y": st.node_y},
            geometry=shapely.points(st.node_x, st.node_y),
            crs=self.crs,
            index=pd.Index(self.node_ids, name="node"),
        )

    @cached_property
    def edges(self) -> gpd.GeoDataFrame:
        """One row per edge (RangeIndex = edge id): ``u``, ``v``, ``length``, ``highway``, ``name`` and the
        LineString from ``u`` to ``v``; built once."""
        return gpd.GeoDataFrame(self.edge_attrs, geometry=self.edge_geometries(), crs=self.crs)

    @property
    def edge_attrs(self) -> pd.DataFrame:
        """Per edge (edge id order): ``u``, ``v`` (node ids), ``length``, ``highway``, ``name`` — no geometry."""
        st = self.streets
        return pd.DataFrame(
            {
                "u": self.node_ids[st.u],
                "v": self.node_ids[st.v],
                "length": st.length,
                "highway": pd.array(self.highway, dtype="str"),
                "name": pd.array(self.name, dtype="str"),
            }
        )

    def edge_geometries(self, edges: np.ndarray | None = None) -> np.ndarray:
        """Shapely LineStrings (u → v) of ``edges`` (edge ids; all when None), built from :attr:`streets` on demand."""
        st = self.streets
        idx = np.arange(st.n_edges) if edges is None else np.asarray(edges, dtype=np.int64)
        counts = st.offsets[idx + 1] - st.offsets[idx]
        take = np.repeat(st.offsets[idx], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        return shapely.linestrings(st.coords[take], indices=np.repeat(np.arange(len(idx)), counts))

    def node_positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions (in :attr:`streets`) of the nodes with ``ids``; ids must exist."""
        return np.searchsorted(self.node_ids, np.asarray(ids, dtype=np.int64))

    def n_components(self) -> int:
        """Number of connected components (an isolated node is one)."""
        st = self.streets
        graph = coo_matrix((np.ones(st.n_edges), (st.u, st.v)), shape=(st.n_nodes, st.n_nodes))
        return int(connected_components(graph, directed=False)[0])

    def to_networkx(self) -> nx.MultiGraph:
        """The network as a networkx MultiGraph with ``length`` on each edge (for checks and oracles)."""
        import networkx as nx  # only for checks: a run never builds the graph

        st = self.streets
        graph = nx.MultiGraph(crs=self.crs)
        graph.add_nodes_from(self.node_ids.tolist())
        graph.add_weighted_edges_from(
            zip(self.node_ids[st.u].tolist(), self.node_ids[st.v].tolist(), st.length.tolist(), strict=True),
            weight="length",
        )
        return graph

    def summary(self) -> str:
        return (
            f"步行路网 {self.n_nodes} 个节点、{self.n_edges} 条边、{self.total_length_km:.1f} km / "
            f"walk graph with {self.n_nodes} nodes and {self.n_edges} edges, {self.total_length_km:.1f} km"
        )


# Ways.select looks for the 1-ring among the ways within this of the selected ways' box (metres)
RING_MARGIN_M = 1000.0


@dataclass(frozen=True)
class Ways:
    """Walkable ways as flat arrays: way ``w`` has vertices ``offsets[w] … offsets[w + 1] − 1`` with node keys
    ``key`` (an OSM node id, or a code of the millimetre-rounded coordinate, ordered by (x, y)) and metric
    coordinates ``x``, ``y``. Plain numpy arrays: picklable and cheap to send to a worker.

    A network built from a subset (:meth:`select`, :meth:`take`) numbers its nodes and orders its edges as the
    network of all the ways does (:func:`_network_from_ways` numbers nodes in key order)."""

    key: np.ndarray
    x: np.ndarray
    y: np.ndarray
    offsets: np.ndarray
    highway: np.ndarray  # per way (str)
    name: np.ndarray
    source: dict = field(default_factory=dict)  # counts and warnings for summary.json (WalkNetwork.source)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_vertices(self) -> int:
        return len(self.key)

    def take(self, which: np.ndarray) -> Ways:
        """The ways picked by ``which`` — a boolean mask over the ways, or way positions (taken in the order given);
        ``source`` is copied."""
        which = np.asarray(which)
        pos = np.flatnonzero(which) if which.dtype == bool else which.astype(np.int64)
        counts = self.offsets[pos + 1] - self.offsets[pos]  # only the ways taken (not a diff of all of them)
        at = _ranges(self.offsets[:-1][pos], counts)
        return Ways(
            key=self.key[at], x=self.x[at], y=self.y[at], offsets=np.r_[0, np.cumsum(counts)].astype(np.int64),
            highway=self.highway[pos], name=self.name[pos], source=dict(self.source),
        )

    def _segments(self) -> tuple[np.ndarray, np.ndarray]:
        """(first vertex of each segment, its way): consecutive vertices of one way."""
        n = self.n_vertices
        if n < 2:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        last = np.zeros(n, dtype=bool)
        last[self.offsets[1:] - 1] = True
        i = np.flatnonzero(~last[:-1])
        return i, np.searchsorted(self.offsets, i, side="right") - 1

    def select(self, region: shapely.Geometry) -> Ways:
        """The ways of ``region`` (a shapely geometry in the metric CRS) and their 1-ring, each whole, in their order.

        A way is in the region when one of its segments intersects it (a long segment crossing the region with no
        vertex inside counts); the 1-ring adds every other way that shares a node key with one of those. So every
        node of a way in the region keeps all its ways: its edges are the edges of the network of all the ways.
        Segments are picked by their bounding boxes (numpy), then tested by shapely: vertices inside first, the
        few remaining candidates as two-point lines.
        """
        if region is None or shapely.is_empty(region) or not len(self):
            return self.take(np.zeros(len(self), dtype=bool))
        minx, miny, maxx, maxy = shapely.bounds(region)
        wb = self.way_bounds
        near = (wb[:, 0] <= maxx) & (wb[:, 2] >= minx) & (wb[:, 1] <= maxy) & (wb[:, 3] >= miny)
        if near.all():
            return self._select(region)
        # only the ways whose boxes meet the region's, then their 1-ring among the ways whose boxes meet theirs
        pos = np.flatnonzero(near)
        hit = pos[self.take(pos)._select_hits(region)]
        if not len(hit):
            return self.take(np.zeros(len(self), dtype=bool))
        # (a margin: vertices that share an id key in a line layer may lie apart; planner warns beyond 1 m)
        hx0, hy0 = wb[hit, 0].min() - RING_MARGIN_M, wb[hit, 1].min() - RING_MARGIN_M
        hx1, hy1 = wb[hit, 2].max() + RING_MARGIN_M, wb[hit, 3].max() + RING_MARGIN_M
        ring = np.flatnonzero((wb[:, 0] <= hx1) & (wb[:, 2] >= hx0) & (wb[:, 1] <= hy1) & (wb[:, 3] >= hy0))
        sub = self.take(ring)
        keys = pd.unique(self.take(hit).key)
        shared = pd.Series(sub.key).isin(keys).to_numpy()
        picked = np.zeros(len(self), dtype=bool)
        picked[hit] = True
        picked[ring[np.repeat(np.arange(len(sub)), np.diff(sub.offsets))[shared]]] = True
        return self.take(picked)

    @cached_property
    def way_bounds(self) -> np.ndarray:
        """(n_ways, 4) bounding box of each way: minx, miny, maxx, maxy (NaN for a way without vertices)."""
        counts = np.diff(self.offsets)
        out = np.full((len(self), 4), np.nan)
        has = counts > 0
        if has.any():
            starts = self.offsets[:-1][has]
            out[has, 0] = np.minimum.reduceat(self.x, starts)
            out[has, 1] = np.minimum.reduceat(self.y, starts)
            out[has, 2] = np.maximum.reduceat(self.x, starts)
            out[has, 3] = np.maximum.reduceat(self.y, starts)
        return out

    def _select(self, region: shapely.Geometry) -> Ways:
        """:meth:`select` over every way (no box prefilter)."""
        hit_way = np.zeros(len(self), dtype=bool)
        hit_way[self._select_hits(region)] = True
        # the 1-ring: every way with a node key of a way in the region
        counts = np.diff(self.offsets)
        vert_in = np.repeat(hit_way, counts)
        ring_key = pd.unique(self.key[vert_in])
        shared = pd.Series(self.key).isin(ring_key).to_numpy()
        way_of = np.repeat(np.arange(len(self)), counts)
        hit_way[way_of[shared]] = True
        return self.take(hit_way)

    def _select_hits(self, region: shapely.Geometry) -> np.ndarray:
        """Positions of the ways with a segment intersecting ``region`` (no 1-ring)."""
        minx, miny, maxx, maxy = shapely.bounds(region)
        i, way = self._segments()
        x0, x1, y0, y1 = self.x[i], self.x[i + 1], self.y[i], self.y[i + 1]
        box = (np.minimum(x0, x1) <= maxx) & (np.maximum(x0, x1) >= minx) & (np.minimum(y0, y1) <= maxy) & (np.maximum(y0, y1) >= miny)
        del x0, x1, y0, y1
        cand = np.flatnonzero(box)
        i, way = i[cand], way[cand]
        shapely.prepare(region)
        hit_way = np.zeros(len(self), dtype=bool)
        # vertices of candidate segments inside the region (or on its border)
        mark = np.zeros(self.n_vertices, dtype=bool)  # a mask, not np.unique: no sort of millions of positions
        mark[i] = True
        mark[i + 1] = True
        verts = np.flatnonzero(mark)
        del mark
        inside = verts[shapely.intersects_xy(region, self.x[verts], self.y[verts])]
        hit_way[np.searchsorted(self.offsets, inside, side="right") - 1] = True
        # segments of ways not yet in, with no vertex inside: do they cross the region?
        rest = ~hit_way[way]
        i, way = i[rest], way[rest]
        if len(i):
            lines = shapely.linestrings(
                np.column_stack([self.x[i], self.y[i], self.x[i + 1], self.y[i + 1]]).reshape(-1, 2, 2)
            )
            hit_way[way[shapely.intersects(region, lines)]] = True
        return np.flatnonzero(hit_way)

    def hull_xy(self) -> np.ndarray:
        """Corners ((k, 2), metres) of the convex hull of the vertices of every way with at least one segment between
        distinct nodes (the ways that give the network edges); the two ends when they lie on one line, the one
        point when there is one; (0, 2) when no way has a segment."""
        i, way = self._segments()
        moving = np.zeros(len(self), dtype=bool)
        moving[way[self.key[i] != self.key[i + 1]]] = True
        vert = np.repeat(moving, np.diff(self.offsets))
        xy = np.column_stack([self.x[vert], self.y[vert]])
        return hull_corners(xy)


_Ways = Ways


def hull_corners(xy: np.ndarray) -> np.ndarray:
    """The corners ((k, 2)) of the convex hull of the points ``xy`` (qhull); of points on one line its two ends (in
    (x, y) order), of one point that point. GEOS builds the same hull from these corners as from all the points."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if len(xy) == 0:
        return xy

    def ends() -> np.ndarray:
        lo = np.lexsort((xy[:, 1], xy[:, 0]))
        return np.unique(xy[[lo[0], lo[-1]]], axis=0)

    if len(xy) < 3:
        return ends()
    try:
        if len(xy) > 1000:  # leave out the points well inside the hull of the extreme points (Akl–Toussaint)
            x, y = xy[:, 0], xy[:, 1]
            extreme = np.unique([np.argmin(x), np.argmax(x), np.argmin(y), np.argmax(y), np.argmin(x + y),
                                 np.argmax(x + y), np.argmin(x - y), np.argmax(x - y)])
            inner = ConvexHull(xy[extreme])
            margin = 1e-6 * max(float(np.ptp(x)), float(np.ptp(y)), 1.0)
            side = np.full(len(xy), -np.inf)
            for a, b, c in inner.equations:  # a x + b y + c < 0 inside each edge
                np.maximum(side, a * x + b * y + c, out=side)
            xy = xy[side > -margin]
        return xy[ConvexHull(xy).vertices]
    except QhullError:  # on one line (or one point): its two ends
        return ends()


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], starts[i] + counts[i])``."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))


def read_ways(spec: NetworkSpec, crs: CRS, *, osm: OsmExtract | None = None) -> Ways:
    """The walkable ways of ``spec`` in ``crs`` (metres), as :func:`build_network` reads them (``osm``: the extract of
    an OSM ``spec.path`` when already read). No walkable way at all is a :class:`NetworkError`."""
    if spec.kind == "osm":
        ways = _ways_from_osm(spec, crs, osm if osm is not None else read_osm(spec.path))
    else:
        ways = _ways_from_lines(spec, crs)
    if not len(ways):
        raise NetworkError(
            f"{spec.path} 中没有可步行的道路 / no walkable ways in {spec.path}; "
            "check [network].kind, the highway column, the walkable column and exclude_highway"
        )
    return ways


def build_network(spec: NetworkSpec, crs: CRS, *, osm: OsmExtract | None = None, ways: Ways | None = None,
                  largest_m: float | None = None) -> WalkNetwork:
    """Walk network for ``spec`` in ``crs`` (metres).

    OSM files keep OSM's topology: ways connect only where they share a node, so a bridge that
    crosses a road at the same coordinates stays unconnected. Line layers connect where lines
    share a vertex, or — when the layer carries node ids (``u``/``v`` columns, as osmnx exports edges, or a
    ``node_refs`` column) — only where they share a node id (:func:`_node_id_keys`).

    The network's connected pieces are found with the rule of ``spec.min_piece_m`` (:attr:`WalkNetwork.pieces`),
    and its hull from the ways (:attr:`WalkNetwork.hull_xy`).

    Parameters
    ----------
    spec
        The scenario's ``[network]``.
    crs
        Metric CRS of the network.
    osm
        The extract of ``spec.path`` when the caller has read it already (a run reads it once for the
        layers as well); without it an OSM file is read here.
    ways
        The ways to build from (:func:`read_ways`, or a part of them: :meth:`Ways.select`); then no file is read.
    largest_m
        The street length (metres) of the largest piece of the whole network when this is a part of it: the 1 %
        clause of the piece rule uses the larger of it and the largest piece here (:func:`street_pieces`).
    """
    if ways is None:
        ways = read_ways(spec, crs, osm=osm)
    elif not len(ways):
        raise NetworkError(
            f"{spec.path} 的这一部分中没有可步行的道路 / no walkable ways in this part of {spec.path}"
        )
    net = replace(_network_from_ways(ways, crs), source=ways.source, hull_xy=ways.hull_xy())
    net = net.with_pieces(spec.min_piece_m, largest_m=largest_m)
    log.info("%s", net.summary())
    return net


_FOOT_YES = ("yes", "designated", "permissive")
_NEVER = ("construction", "proposed", "planned", "abandoned", "razed")
# osmnx's network_type="walk" filter (osmnx 2.x, settings.default_access included) as (tag, alternatives): a way is
# left out when the tag's value *contains* one of them (Overpass `!~` is an unanchored regular expression, so
# "motor" drops motorway and motorway_link and foot=unknown contains "no"); a way without the tag stays
OSMNX_WALK_EXCLUDE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("area", ("yes",)),
    ("access", ("private",)),
    ("highway", ("abandoned", "bus_guideway", "construction", "cycleway", "motor", "no", "planned", "platform",
                 "proposed", "raceway", "razed", "rest_area", "services")),
    ("foot", ("no",)),
    ("service", ("private",)),
    ("sidewalk", ("separate",)),
    ("sidewalk:both", ("separate",)),
    ("sidewalk:left", ("separate",)),
    ("sidewalk:right", ("separate",)),
)
# the tags the walk rules read, besides highway and name
RULE_TAGS = ("foot", "access", "service", "area", "sidewalk", "sidewalk:both", "sidewalk:left", "sidewalk:right")


def _walkable(tags: Mapping[str, np.ndarray], exclude: Iterable[str], n: int, walk_filter: str = "planner") -> np.ndarray:
    """The walk rule on tag columns (str arrays, "" where a way has no such tag).

    ``"planner"``: ``area=yes`` and highway=construction/proposed/planned/abandoned/razed are never walkable; of
    the rest, ``foot=yes|designated|permissive`` walks; otherwise ``foot=no``, ``access=no|private``,
    ``service=private`` and the ``exclude`` highway values do not. ``"osmnx"``: exactly osmnx's walk filter
    (:data:`OSMNX_WALK_EXCLUDE`; ``exclude`` is not used). Each test runs once per distinct value of a column.
    """
    codes = {k: pd.factorize(tags[k], use_na_sentinel=False) for k in ("highway", *RULE_TAGS) if k in tags}

    def isin(key: str, choices: tuple[str, ...]) -> np.ndarray:
        """Rows whose ``key`` tag is one of ``choices``."""
        if key not in codes:
            return np.full(n, "" in choices)
        code, distinct = codes[key]
        return np.isin(np.asarray(distinct, dtype=object), np.asarray(choices, dtype=object))[code]

    def contains(key: str, parts: tuple[str, ...]) -> np.ndarray:
        """Rows whose ``key`` tag contains one of ``parts`` (as a substring)."""
        if key not in codes:
            return np.zeros(n, dtype=bool)
        code, distinct = codes[key]
        hit = np.array([any(p in str(v) for p in parts) for v in distinct], dtype=bool)
        return hit[code] if len(hit) else np.zeros(n, dtype=bool)

    if walk_filter == "osmnx":
        out = np.ones(n, dtype=bool)
        for key, parts in OSMNX_WALK_EXCLUDE:
            out &= ~contains(key, parts)
        return out
    never = isin("highway", _NEVER) | isin("area", ("yes",))
    foot_ok = isin("foot", _FOOT_YES)
    barred = isin("foot", ("no",)) | isin("access", ("no", "private")) | isin("service", ("private",)) | isin("highway", tuple(exclude))
    return ~never & (foot_ok | ~barred)


def _ways_from_osm(spec: NetworkSpec, crs: CRS, extract: OsmExtract) -> Ways:
    hw = extract.ways
    keep = _walkable(hw.tags, spec.exclude_highway, len(hw), spec.walk_filter)
    counts = np.diff(hw.offsets)
    vert = np.repeat(keep, counts)
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_metric.transform(hw.lon[vert], hw.lat[vert])
    log.info("OSM ways: %d walkable, %d not walkable (excluded by the walk rule)", int(keep.sum()), int((~keep).sum()))
    source = {
        "kind": "osm",
        "ways_read": int(hw.ways_read),
        "ways_used": int(keep.sum()),
        "ways_not_walkable": int((~keep).sum()),
        "ways_without_two_nodes": int(hw.ways_read - len(hw)),
        "way_nodes_without_location": int(hw.nodes_without_location),
        "warnings": [],
    }
    if hw.nodes_without_location:
        source["warnings"].append(
            f"道路引用的 {hw.nodes_without_location} 个节点不在 OSM 文件中，已跳过 / {hw.nodes_without_location} way nodes "
            "are not in the OSM file and were skipped"
        )
    return Ways(
        key=hw.refs[vert],
        x=np.asarray(x, dtype=np.float64),
        y=np.asarray(y, dtype=np.float64),
        offsets=np.r_[0, np.cumsum(counts[keep])].astype(np.int64),
        highway=hw.tags["highway"][keep],
        name=hw.tags.get("name", np.full(len(hw), "", dtype=object))[keep],
        source=source,
    )


def _ways_from_lines(spec: NetworkSpec, crs: CRS) -> Ways:
    cols = {"highway": "highway", "name": "name", "walkable": "walkable", **spec.columns}
    wanted = list(dict.fromkeys([*cols.values(), *RULE_TAGS, "node_refs", "u", "v"]))
    lines = read_line_arrays(spec.path, layer=spec.layer, crs=spec.crs, columns=wanted, what="[network]")
    x, y = Transformer.from_crs(lines.crs, crs, always_xy=True).transform(lines.x, lines.y)
    return _ways_from_line_arrays(
        lines, np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), spec.columns, spec.exclude_highway,
        spec.walk_filter, what=str(spec.path),
    )


def _tag_text(values: np.ndarray) -> np.ndarray:
    """A column as the text of each value ("" where missing), as ``str(value)`` gives it (once per distinct value)."""
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    text = np.array([v if isinstance(v, str) else str(v) for v in distinct] + [""], dtype=object)
    return text[codes]


_FALSE_TEXT = frozenset({"false", "f", "no", "n", "0", "0.0", "否", "不", "不可", "不可步行", "假", "×", "x"})
_TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1", "1.0", "是", "可", "可步行", "真", "√", "✓"})


def _walkable_flag(values: np.ndarray, column: str, what: str) -> np.ndarray:
    """Per row: False where the ``walkable`` column says no (False, 0, "false", "no", "否" …); True where it says yes
    or is blank. Text is read as yes/no words, not as ``bool(text)`` (which is True for "false"); a value that is
    neither stops the run naming it. Tested once per distinct value."""
    codes, distinct = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    ok = np.ones(len(distinct) + 1, dtype=bool)  # the last: missing → walkable
    for i, v in enumerate(distinct):
        if isinstance(v, bool | np.bool_):
            ok[i] = bool(v)
        elif isinstance(v, int | float | np.integer | np.floating):
            ok[i] = bool(v != 0)
        else:
            t = str(v).strip().lower()
            if t in _FALSE_TEXT:
                ok[i] = False
            elif t in _TRUE_TEXT or t == "":
                ok[i] = True
            else:
                raise NetworkError(
                    f"{what} 的 {column} 列有无法识别的值 {v!r}：应为 是/否、true/false 或 1/0 / column {column} of {what} holds "
                    f"{v!r}, which is neither yes nor no: write true/false, yes/no, 是/否 or 1/0"
                )
    return ok[codes]


def _check_columns(lines: LineArrays, columns: Mapping[str, str], what: str) -> None:
    """A column named under ``[network.columns]`` that the file does not have stops the run (the walk filter would
    silently not apply)."""
    absent = [f"{k} = \"{c}\"" for k, c in columns.items() if c not in lines.columns]
    if absent:
        have = ", ".join(lines.fields) if lines.fields else "—"
        raise NetworkError(
            f"[network.columns] 中的列 {'、'.join(absent)} 不在 {what} 中（文件的列：{have}）；请改成文件中的列名，或删去这一行 / "
            f"[network.columns] names {', '.join(absent)}, which {what} does not have (its columns: {have}); write the "
            "file's column name or remove the line"
        )


def _require_lines(lines: LineArrays, what: str) -> None:
    """A layer that holds no line at all (points, polygons, empty geometries) is the wrong layer."""
    if len(lines.row):
        return
    held = ", ".join(f"{k} {v}" for k, v in sorted(lines.dropped.items())) or "—"
    raise NetworkError(
        f"{what} 中没有线要素（{lines.n_rows} 行：{held}）：路网须为道路中心线（LineString/MultiLineString），不能是点或面 / "
        f"{what} holds no lines ({lines.n_rows} rows: {held}): the walk network must be a layer of street centre lines "
        "(LineString/MultiLineString), not points or polygons — check [network].path and layer"
    )


def _check_finite(lines: LineArrays, x: np.ndarray, y: np.ndarray, what: str) -> None:
    """A vertex with NaN or infinite coordinates stops the run naming its lines (rows counted from 1)."""
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if not bad.any():
        return
    part = np.searchsorted(lines.offsets, np.flatnonzero(bad), side="right") - 1
    rows = np.unique(lines.row[part])
    names = lines.columns.get("name")
    shown = ", ".join(
        f"{r + 1}" + (f" ({names[r]})" if names is not None and isinstance(names[r], str) and names[r] else "") for r in rows[:5]
    ) + (" …" if len(rows) > 5 else "")
    raise NetworkError(
        f"{what} 中有 {len(rows)} 条线的坐标无效（NaN 或无穷），第 {shown} 条：请修正或删除这些线 / {len(rows)} lines of {what} "
        f"have invalid (NaN or infinite) coordinates — line {shown}: fix or delete them"
    )


def _ways_from_line_arrays(lines: LineArrays, x: np.ndarray, y: np.ndarray, columns: Mapping[str, str], exclude: Iterable[str],
                           walk_filter: str = "planner", *, what: str = "the line layer") -> Ways:
    """Walkable parts of a line layer (vertices already in the metric CRS ``x``, ``y``)."""
    _check_columns(lines, columns, what)
    _require_lines(lines, what)
    _check_finite(lines, x, y, what)
    cols = {"highway": "highway", "name": "name", **columns}
    n_rows = lines.n_rows
    tags: dict[str, np.ndarray] = {}
    for extra in RULE_TAGS:
        if extra in lines.columns:
            tags[extra] = _tag_text(lines.columns[extra])
    for k, c in cols.items():
        if c in lines.columns and k != "walkable":
            tags[k] = _tag_text(lines.columns[c])
    row_ok = _walkable(tags, exclude, n_rows, walk_filter)
    walkable_col = cols.get("walkable", "walkable")
    if walkable_col in lines.columns:
        row_ok &= _walkable_flag(lines.columns[walkable_col], walkable_col, what)
    part_ok = row_ok[lines.row]
    n_parts = len(lines.row)
    log.info("line layer: %d walkable lines, %d not walkable", int(part_ok.sum()), int(n_parts - part_ok.sum()))
    counts = np.diff(lines.offsets)
    vert = np.repeat(part_ok, counts)
    has_line = np.zeros(n_rows, dtype=bool)
    has_line[lines.row] = True
    source: dict = {
        "kind": "lines",
        "lines_read": int(n_rows),
        "lines_used": int((has_line & row_ok).sum()),
        "lines_not_walkable": int((has_line & ~row_ok).sum()),
        "lines_dropped": dict(sorted(lines.dropped.items())),
        "warnings": [],
    }
    n_dropped = sum(lines.dropped.values())
    if n_dropped:
        held = ", ".join(f"{k} {v}" for k, v in sorted(lines.dropped.items()))
        source["warnings"].append(
            f"{what} 中有 {n_dropped} 行不是线，未用于路网（{held}）/ {n_dropped} rows of {what} are not lines and were left "
            f"out of the network ({held})"
        )
    key = _node_id_keys(lines, x, y, counts, what, source)
    for text in source["warnings"]:
        log.warning("%s", text)
    empty = np.full(n_rows, "", dtype=object)
    return Ways(
        key=key[vert],
        x=x[vert],
        y=y[vert],
        offsets=np.r_[0, np.cumsum(counts[part_ok])].astype(np.int64),
        highway=tags.get("highway", empty)[lines.row[part_ok]],
        name=tags.get("name", empty)[lines.row[part_ok]],
        source=source,
    )


def _node_id_keys(lines: LineArrays, x: np.ndarray, y: np.ndarray, counts: np.ndarray, what: str,
                  source: dict | None = None) -> np.ndarray:
    """The node key of every vertex: where the layer carries node ids, lines join only where their ids agree.

    * ``u`` and ``v`` columns (osmnx's edge export: the node id at each end of a line): a row's first vertex gets
      its ``u``, its last its ``v``, and every other vertex a key of its own (it joins nothing). A row without both
      ids keeps the coordinate keys of the rule below; ids and coordinate keys never meet.
    * a ``node_refs`` column (a JSON list of node ids, one per vertex): each vertex gets its id; a line whose list
      cannot be used (not JSON, cut short, not a list of ids, not one id per vertex) and a ``null`` entry join by
      coordinates — with the other such vertices and with a vertex of a line with ids at the same place.
    * otherwise vertices join where their coordinates agree to the millimetre (:func:`_coordinate_keys`).

    ``source`` (summary.json's ``network.input``) gets the counts and warnings.
    """
    source = {} if source is None else source
    source.setdefault("warnings", [])
    if "u" in lines.columns and "v" in lines.columns:
        return _end_id_keys(lines, x, y, counts, what, source)
    key = _coordinate_keys(x, y)
    if "node_refs" in lines.columns:
        key = _node_ref_keys(lines, key, counts, what, source)
    return key


_INT64 = (-(2**63), 2**63 - 1)


def _whole_number(v: object) -> int | None | str:
    """A node id as a Python int (exactly, also beyond 2**53 when written as text); "" when blank; None when it is no
    whole number."""
    if isinstance(v, bool | np.bool_):
        return None
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return int(v) if np.isfinite(v) and float(v).is_integer() else None
    t = str(v).strip()
    if t == "":
        return ""
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        return None
    return int(f) if np.isfinite(f) and f.is_integer() else None


def _integer_ids(values: np.ndarray, column: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, present) of a ``u``/``v`` column, ids read exactly (int64, or Python ints beyond its range); a value
    that is not a whole number is a NetworkError. Whole numbers within int64 (and floats below 2**53) are read
    vectorised; anything else once per distinct value."""
    series = pd.Series(values, dtype=object)
    num = pd.to_numeric(series, errors="coerce")
    if num.dtype == np.int64:
        return num.to_numpy(), np.ones(len(num), dtype=bool)
    if num.dtype == np.float64:
        f = num.to_numpy()
        present = ~np.isnan(f)
        exact = np.abs(f[present]) < 2.0**53
        if (present | series.isna().to_numpy()).all() and exact.all() and (f[present] == np.round(f[present])).all():
            return np.where(present, f, 0).astype(np.int64), present
    codes, distinct = pd.factorize(series, use_na_sentinel=True)
    parsed = [_whole_number(v) for v in distinct]
    bad = [i for i, p in enumerate(parsed) if p is None]
    if bad:
        row = int(np.flatnonzero(codes == bad[0])[0])
        raise NetworkError(
            f"{what} 的 {column} 列第 {row + 1} 条线不是整数节点编号（{values[row]!r}）；u/v 列应为每条线两端的节点编号 / "
            f"column {column} of {what}, line {row + 1}, is not a whole node id ({values[row]!r}); u and v must be the node "
            "ids at each end of a line (as osmnx exports them) — fix the value or rename the columns"
        )
    blank = np.array([p == "" for p in parsed] + [True], dtype=bool)
    ints = [0 if p == "" else p for p in parsed]
    fits = all(_INT64[0] <= p <= _INT64[1] for p in ints)
    table = np.array(ints + [0], dtype=np.int64 if fits else object)
    return table[codes], ~blank[codes]


def _end_id_keys(lines: LineArrays, x: np.ndarray, y: np.ndarray, counts: np.ndarray, what: str, source: dict) -> np.ndarray:
    """Keys from ``u``/``v`` columns: node ids at a row's two ends, a key of its own for every other vertex, and
    coordinate keys for rows without ids (see :func:`_node_id_keys`)."""
    u, has_u = _integer_ids(lines.columns["u"], "u", what)
    v, has_v = _integer_ids(lines.columns["v"], "v", what)
    with_ids = has_u & has_v
    n_vert = len(x)
    row_of_vertex = np.repeat(lines.row, counts)
    by_id = with_ids[row_of_vertex]
    # a row's first vertex (of its first part) and last vertex (of its last part); parts are in row order
    first_part = np.r_[True, lines.row[1:] != lines.row[:-1]] if len(lines.row) else np.zeros(0, dtype=bool)
    last_part = np.r_[lines.row[1:] != lines.row[:-1], True] if len(lines.row) else np.zeros(0, dtype=bool)
    starts = lines.offsets[:-1][first_part & with_ids[lines.row]]
    ends = lines.offsets[1:][last_part & with_ids[lines.row]] - 1
    ids = np.concatenate([u[lines.row[first_part & with_ids[lines.row]]], v[lines.row[last_part & with_ids[lines.row]]]])
    codes, uniques = pd.factorize(ids, sort=True)  # in the order of the ids
    n_ids = len(uniques)
    key = np.empty(n_vert, dtype=np.int64)
    # interior vertices of rows with ids: keys of their own, after the ids
    own = np.flatnonzero(by_id)
    key[own] = n_ids + np.arange(len(own))
    key[np.concatenate([starts, ends])] = codes
    rest = np.flatnonzero(~by_id)
    if len(rest):
        key[rest] = n_ids + len(own) + _coordinate_keys(x[rest], y[rest])
    has_line = np.zeros(lines.n_rows, dtype=bool)
    has_line[lines.row] = True
    source["uv_lines_without_ids"] = int((has_line & ~with_ids).sum())
    if source["uv_lines_without_ids"]:
        source["warnings"].append(
            f"{what}：{source['uv_lines_without_ids']} 条线没有完整的 u/v 节点编号，按坐标相连（不与有编号的线相连）/ "
            f"{source['uv_lines_without_ids']} lines of {what} lack u or v: they join each other by coordinates, never "
            "a line with ids"
        )
    _warn_if_ids_disagree(key[np.concatenate([starts, ends])], x[np.concatenate([starts, ends])],
                          y[np.concatenate([starts, ends])], what, source)
    return key


def _warn_if_ids_disagree(key: np.ndarray, x: np.ndarray, y: np.ndarray, what: str, source: dict,
                          tolerance_m: float = 1.0) -> None:
    """A warning when one node id sits at places more than ``tolerance_m`` apart (u/v swapped against the line's
    direction, or ids that are not node ids): the network takes each node's first position."""
    if not len(key):
        return
    frame = pd.DataFrame({"k": key, "x": x, "y": y}).groupby("k").agg(["min", "max"])
    spread = np.hypot(frame[("x", "max")] - frame[("x", "min")], frame[("y", "max")] - frame[("y", "min")])
    n_bad = int((spread > tolerance_m).sum())
    source["uv_ids_apart"] = n_bad
    if n_bad:
        source["warnings"].append(
            f"{what}：{n_bad} 个 u/v 节点编号出现在相距超过 {tolerance_m:.0f} 米的不同位置；请检查每条线是否从 u 画到 v / "
            f"{what}: {n_bad} node ids (u/v) sit at places more than {tolerance_m:.0f} m apart; check that each line runs "
            "from its u to its v"
        )


def _mm(v: np.ndarray) -> np.ndarray:
    """``round(v, 3)`` as an integer number of millimetres (Python's exact decimal rounding, half to even)."""
    t = v * 1000.0
    out = np.rint(t)
    frac = np.abs(t - np.floor(t) - 0.5)
    risky = np.flatnonzero(frac <= 8 * np.spacing(np.abs(t)))  # the float product may sit on the wrong side of .5
    for i in risky:
        out[i] = int(Decimal(float(v[i])).quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN) * 1000)
    return out.astype(np.int64)


def _coordinate_keys(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node keys of vertices that connect where their coordinates agree to the millimetre: codes ≥ 0 in the order of
    the millimetre coordinates (x, then y), so that any subset of the lines orders its nodes the same way."""
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise NetworkError("路网线中有无效坐标（NaN/无穷）/ the network lines have invalid (NaN or infinite) coordinates")
    kx = pd.factorize(_mm(x), sort=True)[0].astype(np.int64)
    ky = pd.factorize(_mm(y), sort=True)[0].astype(np.int64)
    return kx * (int(ky.max(initial=0)) + 1) + ky  # ordered by (x, y) in millimetres, whatever other lines there are


_REF_PROBLEMS = {
    "blank": ("为空", "blank"),
    "not_json": ("不是完整的 JSON（可能被截断，如 Shapefile 的 254 字符上限）", "not complete JSON (cut short, e.g. by a Shapefile's 254 characters)"),
    "not_a_list": ("不是列表", "not a list"),
    "not_ids": ("含有不是节点编号的项", "holds entries that are not node ids"),
    "length_mismatch": ("编号个数与线的顶点数不符", "not one id per vertex"),
}


def _parse_refs(value: object) -> tuple[list | None, str | None]:
    """(ids, problem) of one ``node_refs`` value: a list of ids (int, or None for a ``null`` entry), or a problem code
    of :data:`_REF_PROBLEMS`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None, "blank"
    if isinstance(value, list | tuple | np.ndarray):
        refs = list(value)
    else:
        text = str(value).strip()
        if not text:
            return None, "blank"
        try:
            refs = json.loads(text)
        except ValueError:
            return None, "not_json"
    if not isinstance(refs, list):
        return None, "not_a_list"
    out: list = []
    for r in refs:
        if r is None:
            out.append(None)
            continue
        n = _whole_number(r) if isinstance(r, int | float | str) else None
        if n is None or n == "":
            return None, "not_ids"
        out.append(n)
    return out, None


def _node_ref_keys(lines: LineArrays, key: np.ndarray, counts: np.ndarray, what: str, source: dict) -> np.ndarray:
    """Keys from a ``node_refs`` column (a JSON list of node ids per line, used when it has one id per vertex).

    Vertices with an id get the id's key; the others (lines whose list cannot be used, ``null`` entries) join by
    coordinates: the key of the lowest id at the same place (to the millimetre) when there is one, else a
    coordinate key after all node-id keys. Lines that fell back are counted by reason in ``source``."""
    refs_col = lines.columns["node_refs"]
    parsed: dict[int, tuple[list | None, str | None]] = {}
    problems: dict[str, int] = {}
    ref_vals: list[object] = []
    ref_at: list[np.ndarray] = []
    fallback_rows: set[int] = set()
    for p, r in enumerate(lines.row.tolist()):
        if r not in parsed:
            parsed[r] = _parse_refs(refs_col[r])
        refs, problem = parsed[r]
        if problem is None and len(refs) != counts[p]:
            problem = "length_mismatch"
        if problem is not None:
            if r not in fallback_rows:
                fallback_rows.add(r)
                problems[problem] = problems.get(problem, 0) + 1
            continue
        ref_vals.extend(refs)
        ref_at.append(np.arange(lines.offsets[p], lines.offsets[p + 1]))
    null_refs = sum(1 for v in ref_vals if v is None)
    source["node_refs_unusable"] = dict(sorted(problems.items()))
    source["node_refs_null_entries"] = null_refs
    if problems:
        n = sum(problems.values())
        zh = "、".join(f"{_REF_PROBLEMS[k][0]} {v}" for k, v in sorted(problems.items()))
        en = ", ".join(f"{_REF_PROBLEMS[k][1]} {v}" for k, v in sorted(problems.items()))
        source["warnings"].append(
            f"{what}：{n} 条线的 node_refs 无法使用（{zh}），这些线按坐标与路网相连 / the node_refs of {n} lines of {what} "
            f"could not be used ({en}): those lines join the network by coordinates"
        )
    if null_refs:
        source["warnings"].append(
            f"{what}：node_refs 中有 {null_refs} 个 null 编号，这些顶点按坐标相连 / {what}: {null_refs} node_refs entries "
            "are null: those vertices join by coordinates"
        )
    if not ref_vals:
        return key
    at = np.concatenate(ref_at)
    vals = pd.Series(ref_vals, dtype=object)
    has_id = vals.notna().to_numpy()
    id_at = at[has_id]
    if not len(id_at):
        return key
    codes, uniques = pd.factorize(vals[has_id], sort=True)  # in the order of the ids
    n_ids = len(uniques)
    coord_key = key
    out = coord_key + n_ids  # coordinate keys after all node-id keys
    out[id_at] = codes
    # vertices without an id take the id of an id vertex at the same place, if any
    by_id = np.zeros(len(key), dtype=bool)
    by_id[id_at] = True
    loose = np.flatnonzero(~by_id)
    if len(loose):
        first_id = pd.Series(codes).groupby(coord_key[id_at], sort=False).min()  # the lowest id at that place
        hit = pd.Index(first_id.index).get_indexer(coord_key[loose])
        found = hit >= 0
        out[loose[found]] = first_id.to_numpy()[hit[found]]
    return out


def network_from_lines(
    lines: gpd.GeoDataFrame, *, columns: dict[str, str] | None = None, exclude_highway: Iterable[str] = (),
    walk_filter: str = "planner", min_piece_m: float | None = None,
) -> WalkNetwork:
    """Walk network from a line GeoDataFrame already in a metric CRS.

    Lines connect where they share a vertex (coordinates equal to the millimetre), or only where they
    share a node id when the frame has ``u``/``v`` columns (osmnx's edge export) or a ``node_refs`` column (a
    JSON list per line, as in OSM exports); see :func:`_node_id_keys`. A ``highway`` column, when present, is
    filtered by the walk rule (``walk_filter``, ``exclude_highway``). Every edge may be snapped to unless
    ``min_piece_m`` is given (then :attr:`WalkNetwork.pieces` follows its rule).
    """
    if lines.crs is None or not CRS.from_user_input(lines.crs).is_projected:
        raise NetworkError("network_from_lines 需要以米为单位的投影坐标系 / needs lines in a projected (metre) CRS")
    arrays = line_arrays(lines)
    ways = _ways_from_line_arrays(arrays, arrays.x, arrays.y, columns or {}, exclude_highway, walk_filter)
    if not len(ways):
        raise NetworkError("没有可步行的线 / no walkable lines")
    net = replace(_network_from_ways(ways, CRS.from_user_input(lines.crs)), source=ways.source, hull_xy=ways.hull_xy())
    return net if min_piece_m is None else net.with_pieces(min_piece_m)


def _network_from_ways(ways: Ways, crs: CRS) -> WalkNetwork:
    """Nodes from the ways' keys (numbered in the order of the keys, so that a subset of the ways numbers its nodes
    in the same relative order), segments between consecutive distinct nodes, and the simplified topology
    (:func:`planner.engine.topology.simplify_segments`)."""
    with bar(desc="构建步行路网 / building the walk network", total=3) as b:
        node, uniq = pd.factorize(ways.key, sort=True)  # node numbers in the order of the keys
        node = node.astype(np.int64)
        n_nodes = len(uniq)
        del uniq
        first = np.unique(node, return_index=True)[1]  # each node's first vertex
        node_x = ways.x[first]
        node_y = ways.y[first]
        del first
        # segments: consecutive vertices of one way on different nodes
        last = np.zeros(len(node), dtype=bool)
        last[ways.offsets[1:] - 1] = True
        way_of = np.repeat(np.arange(len(ways)), np.diff(ways.offsets))
        i = np.flatnonzero(~last[:-1] & (node[:-1] != node[1:])) if len(node) > 1 else np.zeros(0, dtype=np.int64)
        if len(i) == 0:
            raise NetworkError(
                f"路网没有任何边：{len(ways)} 条可步行的线都只落在一个点上（长度为 0），或它们的节点编号首尾相同 / the network has no "
                f"edges: each of the {len(ways)} walkable lines lies on a single point (zero length) or starts and ends at "
                "one node id — check the geometries and the u/v or node_refs columns"
            )
        b.update(1)
        topo = simplify_segments(n_nodes, node[i], node[i + 1], way_of[i], node_x, node_y)
        b.update(1)
        kept = np.flatnonzero(topo.kept)
        pos = np.full(n_nodes, -1, dtype=np.int64)
        pos[kept] = np.arange(len(kept))
        coords = np.column_stack([node_x[topo.path_nodes], node_y[topo.path_nodes]])
        streets = StreetArrays(
            node_x=node_x[kept],
            node_y=node_y[kept],
            u=pos[topo.u],
            v=pos[topo.v],
            length=polyline_lengths(coords, topo.path_offsets),
            coords=coords,
            offsets=topo.path_offsets,
        )
        b.update(1)
    return WalkNetwork(streets=streets, node_ids=kept, highway=ways.highway[topo.way], name=ways.name[topo.way], crs=crs)


def network_bounds_wgs84(spec: NetworkSpec, *, osm: OsmExtract | None = None, exact: bool = True) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) in WGS84 of the network source, used to pick the metric CRS (``osm``: the extract
    of an OSM ``spec.path`` when already read; without it the file is read here).

    ``exact=False`` allows a line layer's bounds to come from the file's own extent (no read of the lines; off by
    at most a few metres where the extent is stored rounded or the layer is declared GCJ-02/BD-09). Bounds that
    are no longitudes/latitudes (a layer in metres declared WGS84) are a :class:`NetworkError`."""
    if spec.kind == "osm":
        extract = osm if osm is not None else read_osm(spec.path)
        if not len(extract.ways):
            raise NetworkError(
                f"OSM 文件 {spec.path} 中没有道路（带 highway 标签且有两个以上节点的 way）：请换一个包含道路网的 OSM 文件 / "
                f"no highway ways (ways with a highway tag and at least two nodes) in the OSM file {spec.path}: use an "
                "extract that holds the street network"
            )
        lon, lat = extract.ways.lon, extract.ways.lat
        return _lon_lat_bounds(spec, (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())))
    if not exact:
        extent = layer_extent_wgs84(spec.path, layer=spec.layer, crs=spec.crs, what="[network]")
        if extent is not None:
            return _lon_lat_bounds(spec, extent)
    lines = read_line_arrays(spec.path, layer=spec.layer, crs=spec.crs, columns=["name"], what="[network]")
    _require_lines(lines, str(spec.path))
    with np.errstate(invalid="ignore"):
        lon, lat = Transformer.from_crs(lines.crs, "EPSG:4326", always_xy=True).transform(lines.x, lines.y)
    _check_finite(lines, np.asarray(lon), np.asarray(lat), str(spec.path))
    return _lon_lat_bounds(spec, (float(np.min(lon)), float(np.min(lat)), float(np.max(lon)), float(np.max(lat))))


def _lon_lat_bounds(spec: NetworkSpec, bounds: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``bounds`` when they are longitudes and latitudes; else the network is in another system than declared."""
    minx, miny, maxx, maxy = bounds
    if np.all(np.isfinite(bounds)) and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
        return bounds
    declared = f"crs = {spec.crs!r}" if spec.crs else "文件自带的坐标系 / the file's own CRS"
    raise NetworkError(
        f"[network] {spec.path} 的坐标范围 {minx:.6g}, {miny:.6g} – {maxx:.6g}, {maxy:.6g} 不是经纬度，与 {declared} 不符："
        f"数据可能是投影坐标（米），请在情景文件 [network] 中声明其真实坐标系，例如 crs = \"EPSG:4549\" / the coordinates of "
        f"{spec.path} ({minx:.6g}, {miny:.6g} – {maxx:.6g}, {maxy:.6g}) are no longitudes/latitudes, which {declared} says they "
        "are: they look like projected metres; declare the real system under [network], e.g. crs = \"EPSG:4549\""
    )
