"""Compact layers of the interactive maps: streets merged per class and name, points as columns of integers.

A city has millions of street edges and a hundred thousand compounds; one GeoJSON feature (and one popup string)
each would make a map no browser opens. Here a layer is one JSON object of columns instead:

* integers (quantised coordinates, metres, tenths of minutes, indices into string tables) are packed into strings
  with the 5-bit variable-length code of Google's encoded polylines (:func:`encode_ints`; zig-zag signs, characters
  ``?`` to ``~``), coordinates as differences from the previous vertex;
* names are lists of (HTML-escaped) strings, or indices into a string table when they repeat;
* a small script (:data:`MAP_JS`, inlined once per page) decodes the columns, draws circle markers and polylines on
  Leaflet's canvas renderer and builds a popup's HTML from the columns when it is clicked.

Streets are drawn per highway class and name (:func:`street_groups`): each group's edges merged into as few lines
as ``shapely.line_merge`` would make, simplified by :data:`STREET_TOLERANCE_M` metres (Douglas–Peucker) and rounded
to :data:`STREET_SCALE` — on the network's arrays (:mod:`planner.engine.drawing`), without a geometry object per edge.
Polygons (街道, isochrones) are packed the same way (:func:`polygon_table`).
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from pyproj import CRS, Transformer

from planner.engine.drawing import chain_coords, encode_varints, merge_chains, ring_sizes, simplify_keep
from planner.io.coords import wgs84_to_gcj02
from planner.outputs.basemaps import needs_gcj02
from planner.progress import bar

__all__ = [
    "one_plus_n_links",
    "MAP_JS",
    "POINT_SCALE",
    "STREET_SCALE",
    "STREET_STYLES",
    "STREET_TOLERANCE_M",
    "DataLayer",
    "DataTable",
    "RawElement",
    "add_map_script",
    "encode_ints",
    "pack_column",
    "encode_points",
    "escape_all",
    "marker_points",
    "display_lonlat",
    "street_groups",
    "text_codes",
    "polygon_table",
    "ints_of",
    "to_json",
]

#: streets are simplified by this many metres (Douglas–Peucker) before they are drawn
STREET_TOLERANCE_M = 3.0
#: street vertices are rounded to 1 / STREET_SCALE degree (1e-5° ≈ 1 m)
STREET_SCALE = 100_000
#: points (compounds, facilities) are rounded to 1 / POINT_SCALE degree (1e-6° ≈ 0.1 m)
POINT_SCALE = 1_000_000
#: street edges merged and packed at a time, in whole groups (bounds the memory of the street layer)
STREET_BATCH = 250_000
#: street classes, in drawing order: (highway words, colour, weight); the last class takes every other street
STREET_STYLES: tuple[tuple[tuple[str, ...], str, float], ...] = (
    (("primary", "secondary", "trunk"), "#9a9a9a", 3.0),
    (("tertiary",), "#9a9a9a", 1.5),
    ((), "#c8c8c8", 1.5),
)


# ------------------------------------------------------------------------------------------------ packing integers


def _chunks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The characters (uint8) of ``values`` in the encoded-polyline code, and how many each value takes."""
    return encode_varints(np.asarray(values, dtype=np.int64))


def encode_ints(values: np.ndarray) -> str:
    """Integers as one ASCII string: per value, its zig-zag form in 5-bit groups, lowest first, each group plus 63
    and plus 32 when another group follows (the code of Google's encoded polylines, without the coordinate rules)."""
    chars, _ = _chunks(values)
    return chars.tobytes().decode("ascii")


def pack_column(values: np.ndarray) -> str | int:
    """A column of integers for a table: :func:`encode_ints`, or the one value when all are equal (or none)."""
    v = np.asarray(values, dtype=np.int64)
    if len(v) == 0:
        return 0
    return int(v[0]) if (v == v[0]).all() else encode_ints(v)


def _encode_split(values: np.ndarray, sizes: np.ndarray) -> list[str]:
    """:func:`encode_ints` of consecutive runs of ``values`` (run lengths ``sizes``), one string per run."""
    chars, count = _chunks(values)
    char_end = np.r_[0, np.cumsum(count)]
    value_end = np.cumsum(np.asarray(sizes, dtype=np.int64))
    starts, ends = char_end[value_end - sizes], char_end[value_end]
    text = chars.tobytes().decode("ascii")
    return [text[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _deltas(q: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Differences from the previous value, restarting (from 0) at the start of every run of ``sizes``."""
    d = np.diff(q, prepend=0)
    firsts = (np.cumsum(sizes) - sizes)[np.asarray(sizes) > 0]
    d[firsts] = q[firsts]
    return d


def encode_points(lon: np.ndarray, lat: np.ndarray, scale: int = POINT_SCALE) -> str:
    """Points as one string: lon and lat rounded to ``1/scale`` degree, interleaved, as differences from the
    previous point (the first from 0)."""
    q = np.empty(2 * len(lon), dtype=np.int64)
    q[0::2] = np.rint(np.asarray(lon, dtype=np.float64) * scale)
    q[1::2] = np.rint(np.asarray(lat, dtype=np.float64) * scale)
    pairs = q.reshape(-1, 2)
    d = np.diff(pairs, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).reshape(-1)
    return encode_ints(d)


def marker_points(geoms: np.ndarray) -> np.ndarray:
    """(n, 2) coordinates where each geometry's marker stands: its representative point (a point is its own)."""
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) and (shapely.get_type_id(geoms) == 0).all() and not shapely.is_empty(geoms).any():
        return shapely.get_coordinates(geoms)
    return shapely.get_coordinates(shapely.point_on_surface(geoms))


def escape_all(values: Any) -> list[str]:
    """``html.escape(str(v))`` of each value."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy(dtype=object)
    texts = [v if type(v) is str else str(v) for v in values]
    joined = "\x00".join(texts)  # escaped at once (five replacements on one string), then split again
    if not texts or joined.count("\x00") != len(texts) - 1:
        return [html.escape(t) for t in texts]
    return html.escape(joined).split("\x00")


def to_json(obj: object) -> str:
    """Compact JSON safe inside a ``<script>`` element (UTF-8 kept, ``</`` broken up)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


# ------------------------------------------------------------------------------------------------ streets


@functools.lru_cache(maxsize=8)
def _to_wgs84(crs: CRS) -> Transformer:
    """The transformer from ``crs`` to WGS84 lon/lat (made once per CRS: making one takes a tenth of a second)."""
    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def display_lonlat(x: np.ndarray, y: np.ndarray, crs: CRS, basemap: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``crs`` as drawn on ``basemap``: WGS84 degrees, shifted to GCJ-02 for 高德."""
    lon, lat = _to_wgs84(CRS.from_user_input(crs)).transform(x, y)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    if needs_gcj02(basemap) and len(lon):
        lon, lat = wgs84_to_gcj02(lon, lat)
    return lon, lat


def street_groups(network: Any, *, basemap: str, tolerance_m: float = STREET_TOLERANCE_M) -> list[dict]:
    """The walk network as a few drawing groups: one per street class (:data:`STREET_STYLES`) and name.

    ``network`` is a :class:`planner.network.build.WalkNetwork` (only ``streets``, ``highway``, ``name`` and
    ``crs`` are used). Each group is ``{"s": class, "n": escaped name or "", "p": part sizes, "xy": vertices}``
    (``p`` and ``xy`` packed by :func:`encode_ints`; ``xy`` as lon/lat differences in 1/:data:`STREET_SCALE`
    degree, from 0 at the group's first vertex). The edges of a group are merged into lines where exactly two of
    them meet (as ``shapely.line_merge`` merges them; :func:`planner.engine.drawing.merge_chains`, on the arrays:
    no geometry object is built), simplified by ``tolerance_m`` metres (Douglas–Peucker, in the network's metric
    CRS) and rounded; repeated vertices are dropped. Edges of zero length draw nothing and join nothing.
    """
    st = network.streets
    if not st.n_edges:
        return []
    highway_code, highways = text_codes(network.highway, sort=False)
    class_of = np.full(len(highways), len(STREET_STYLES) - 1, dtype=np.int64)
    for k in range(len(STREET_STYLES) - 2, -1, -1):  # the first class whose word a highway value contains
        class_of[[any(w in h for w in STREET_STYLES[k][0]) for h in highways]] = k
    cls = class_of[highway_code]
    name_code, name_table = text_codes(network.name, sort=True)
    group_code, group_key = pd.factorize(cls * len(name_table) + name_code, sort=True)
    del highway_code, cls, name_code

    # in batches of whole groups, so that the merged lines of only a few hundred thousand edges exist at a time
    drawn = np.flatnonzero(st.length > 0)  # a zero-length edge (all its vertices on one point) draws nothing
    drawn = drawn[np.argsort(group_code[drawn], kind="stable")]
    group_end = np.cumsum(np.bincount(group_code[drawn], minlength=len(group_key)))
    packed: list[tuple[str, str]] = []
    first = 0
    with bar(desc="绘制路网 / drawing streets", total=len(drawn), unit="edge") as shown:
        while first < len(group_key):
            start = group_end[first - 1] if first else 0
            last = max(first, int(np.searchsorted(group_end, start + STREET_BATCH, side="right")) - 1)
            end = group_end[last]
            batch = drawn[start:end]
            edges, flipped, line_start, line_group = merge_chains(group_code[batch] - first, st.u[batch], st.v[batch],
                                                                  last + 1 - first, st.n_nodes)
            xy, sizes = chain_coords(batch[edges], flipped, line_start, st.offsets, st.coords)
            if tolerance_m > 0:
                keep = simplify_keep(xy, sizes, tolerance_m)
                sizes = np.bincount(np.repeat(np.arange(len(sizes)), sizes)[keep], minlength=len(sizes))
                xy = xy[keep]
            packed += _pack_lines(xy, sizes, line_group, last + 1 - first, network.crs, basemap, STREET_SCALE)
            shown.update(int(end - start))
            first = last + 1
    names_html = escape_all(name_table)
    return [
        {"s": int(key // len(name_table)), "n": names_html[key % len(name_table)], "p": p, "xy": xy_text}
        for key, (p, xy_text) in zip(group_key.tolist(), packed, strict=True)
        if xy_text
    ]


def text_codes(values: Any, *, sort: bool) -> tuple[np.ndarray, list[str]]:
    """Codes of ``values`` as texts (a missing value is "", anything else ``str(value)``) and the texts."""
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))  # missing values: code -1, the last text
    texts = np.array([str(v) for v in uniques] + ([""] if (codes < 0).any() else []), dtype=object)
    text_codes, table = pd.factorize(texts, sort=sort)
    return text_codes[codes], [str(t) for t in table]


def _pack_lines(
    xy: np.ndarray, sizes: np.ndarray, line_group: np.ndarray, n_groups: int, crs: CRS, basemap: str, scale: int,
    min_size: int = 2,
) -> list[tuple[str, str]]:
    """Lines (vertices ``xy`` in ``crs``, ``sizes`` per line; ``line_group``: the group of each, non-decreasing)
    packed per group as (part sizes, lon/lat differences in 1/``scale`` degree from 0 at the group's first vertex).
    Vertices equal to the previous one after rounding are dropped, then lines left with fewer than ``min_size``."""
    sizes = np.asarray(sizes, dtype=np.int64)
    part_of = np.repeat(np.arange(len(sizes)), sizes)
    lon, lat = display_lonlat(xy[:, 0], xy[:, 1], crs, basemap)
    qx = np.rint(lon * scale).astype(np.int64)
    qy = np.rint(lat * scale).astype(np.int64)
    same = np.r_[np.zeros(min(len(qx), 1), dtype=bool), (np.diff(qx) == 0) & (np.diff(qy) == 0) & (np.diff(part_of) == 0)]
    qx, qy, part_of = qx[~same], qy[~same], part_of[~same]
    part_size = np.bincount(part_of, minlength=len(sizes))
    keep_part = part_size >= min_size
    keep_vertex = keep_part[part_of]
    qx, qy = qx[keep_vertex], qy[keep_vertex]
    part_size, part_group = part_size[keep_part], np.asarray(line_group, dtype=np.int64)[keep_part]
    group_vertices = np.bincount(part_group, weights=part_size, minlength=n_groups).astype(np.int64)
    group_parts = np.bincount(part_group, minlength=n_groups)
    q = np.empty(2 * len(qx), dtype=np.int64)
    q[0::2] = _deltas(qx, group_vertices)
    q[1::2] = _deltas(qy, group_vertices)
    return list(zip(_encode_split(part_size, group_parts), _encode_split(q, 2 * group_vertices), strict=True))


def _polygon_rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rings of (multi)polygons as arrays: ``(xy, ring sizes, polygon of each ring, first ring of its part)``,
    rings in the order of ``shapely.get_rings(shapely.get_parts(geoms))`` (each part's exterior first).

    A city's isochrones have hundreds of thousands of rings (mostly small holes): rather than one shapely object
    per ring, the rings are found in the parts' coordinates (:func:`planner.engine.drawing.ring_sizes`); only
    where that is not clear (an invalid polygon) are they taken one by one.
    """
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    xy = shapely.get_coordinates(parts)
    polygon = shapely.get_type_id(parts) == 3
    sizes = None
    if polygon.all():
        n_rings = np.where(shapely.is_empty(parts), 0, shapely.get_num_interior_rings(parts) + 1)
        sizes = ring_sizes(xy, shapely.get_num_coordinates(parts), n_rings)
    if sizes is None:
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        sizes = shapely.get_num_coordinates(rings)
    else:
        ring_part = np.repeat(np.arange(len(parts)), n_rings)
    exterior = np.r_[True, ring_part[1:] != ring_part[:-1]] if len(sizes) else np.zeros(0, dtype=bool)
    return xy, np.asarray(sizes, dtype=np.int64), part_of[ring_part], exterior


def polygon_table(
    geoms: Any, crs: CRS, *, basemap: str, tolerance_m: float, min_hole_m2: float = 0.0, scale: int = STREET_SCALE
) -> dict:
    """Polygons as a table for the page script's ``polygons`` layers: per polygon ``pp`` (ring sizes) and ``pxy``
    (its rings' vertices), packed as in :func:`street_groups`.

    Each ring is simplified on its own by ``tolerance_m`` metres when ``crs`` is projected (Douglas–Peucker as
    on a line: fast, and a display needs no topology), then rounded to 1/``scale`` degree; rings left with fewer
    than four vertices are dropped, and so are holes smaller than ``min_hole_m2`` square metres (in a projected
    ``crs``). Drawn with the even-odd rule, holes stay holes.
    """
    geoms = np.asarray(geoms, dtype=object)
    xy, sizes, ring_of, exterior = _polygon_rings(geoms)
    projected = CRS.from_user_input(crs).is_projected
    if min_hole_m2 > 0 and projected and len(sizes):
        starts = np.cumsum(sizes) - sizes
        which = np.repeat(np.arange(len(sizes)), sizes)
        cross = xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1]  # shoelace terms (the last of each ring is unused)
        twice_area = np.add.reduceat(np.r_[cross, 0.0], starts) - np.r_[cross, 0.0][np.r_[starts[1:], len(xy)] - 1]
        small = ~exterior & (np.abs(twice_area) / 2 < min_hole_m2)
        xy, sizes, ring_of = xy[~small[which]], sizes[~small], ring_of[~small]
    if projected and tolerance_m > 0 and len(sizes):
        keep = simplify_keep(xy, sizes, tolerance_m)
        sizes = np.bincount(np.repeat(np.arange(len(sizes)), sizes)[keep], minlength=len(sizes))
        xy = xy[keep]
    packed = _pack_lines(xy, sizes, ring_of, len(geoms), crs, basemap, scale, min_size=4)
    return {"scale": scale, "pp": [p for p, _ in packed], "pxy": [q for _, q in packed]}


def ints_of(text: str) -> list[int]:
    """The integers of :func:`encode_ints` (the inverse)."""
    out, value, shift = [], 0, 0
    for ch in text.encode("ascii"):
        b = ch - 63
        value |= (b & 31) << shift
        if b & 32:
            shift += 5
            continue
        out.append(-((value + 1) >> 1) if value & 1 else value >> 1)
        value, shift = 0, 0
    return out


# ------------------------------------------------------------------------------------------------ folium elements


class RawElement(Element):
    """Text put into the page as it is (branca would read an ``Element``'s text as a Jinja template: slow for
    megabytes of data, and wrong when the data holds ``{{``)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawElement"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class DataLayer(folium.map.Layer):
    """A map layer made by one call of the page's :data:`MAP_JS` (``plannerLayers.<kind>(data, ...)``).

    ``args`` follow the data object: elements (e.g. a :class:`DataTable`, passed by their name) or JavaScript text.
    """

    def __init__(self, kind: str, data: object, *, name: str, args: tuple[Element | str, ...] = (), show: bool = True,
                 control: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=control, show=show)
        self._name = "DataLayer"
        self.kind = kind
        self.data = to_json(data)
        self.args = args

    def render(self, **kwargs: Any) -> None:
        script = self.get_root().script
        call = ", ".join((self.data, *(a.get_name() if isinstance(a, Element) else a for a in self.args)))
        made = f"plannerLayers.{self.kind}({call})"
        if not self.show:  # made when first shown
            made = f"plannerLayers.lazy(function () {{ return {made}; }})"
        script.add_child(RawElement(f"var {self.get_name()} = {made};\n"), name=self.get_name())
        if self.show:
            script.add_child(RawElement(f"{self.get_name()}.addTo({self._parent.get_name()});\n"), name=self.get_name() + "_add")


class DataTable(MacroElement):
    """A JSON object shared by several layers (``var <name> = plannerLayers.table(data)``)."""

    def __init__(self, data: object) -> None:
        super().__init__()
        self._name = "DataTable"
        self.data = to_json(data)

    def render(self, **kwargs: Any) -> None:
        self.get_root().script.add_child(
            RawElement(f"var {self.get_name()} = plannerLayers.table({self.data});\n"), name=self.get_name()
        )


def add_map_script(fmap: folium.Map) -> None:
    """Inline :data:`MAP_JS` (and the popup table style) in the page's head, once."""
    header = fmap.get_root().header
    header.add_child(RawElement(f"<script>{MAP_JS}</script>"), name="planner_layers_js")
    header.add_child(RawElement(_POPUP_CSS), name="planner_layers_css")


_POPUP_CSS = (
    "<style>.foliumpopup{margin:auto}.foliumpopup table{margin:auto}.foliumpopup tr{text-align:left}"
    ".foliumtooltip table{margin:auto}.foliumtooltip tr{text-align:left}</style>"
)

#: the page script: decodes packed columns, draws streets and circle markers, builds popups on click
MAP_JS = r"""
var plannerLayers = (function () {
  "use strict";
  // integers packed by planner.outputs.map_layers.encode_ints
  function ints(s) {
    var out = [], r = 0, m = 1, b;
    for (var i = 0; i < s.length; i++) {
      b = s.charCodeAt(i) - 63;
      r += (b & 31) * m;
      if (b & 32) { m *= 32; } else { out.push(r % 2 ? -(r + 1) / 2 : r / 2); r = 0; m = 1; }
    }
    return out;
  }
  // interleaved lon/lat differences -> [[lat, lon], ...]
  function coords(s, scale) {
    var v = ints(s), out = new Array(v.length / 2), x = 0, y = 0;
    for (var k = 0; k < v.length; k += 2) { x += v[k]; y += v[k + 1]; out[k / 2] = [y / scale, x / scale]; }
    return out;
  }
  // the box folium's GeoJsonPopup / GeoJsonTooltip draw around a text
  function box(text) {
    var div = document.createElement("div");
    div.innerHTML = "<table><tr><td>" + text + "</td></tr></table>";
    return div;
  }
  function thousands(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function tenths(t) { var s = String(Math.abs(t)); if (s.length < 2) s = "0" + s; return (t < 0 ? "-" : "") + s.slice(0, -1) + "." + s.slice(-1); }
  // a table of columns: packed strings are decoded when first read (then kept), "xy" into [lat, lon] pairs
  function lazyProperty(obj, key, make) {
    Object.defineProperty(obj, key, {configurable: true, enumerable: true, get: function () {
      var v = make();
      Object.defineProperty(obj, key, {value: v, enumerable: true, writable: true});
      return v;
    }});
  }
  function table(d) {
    var t = {};
    for (var k in d) {
      if (k === "xy") lazyProperty(t, "ll", function () { return coords(d.xy, d.scale); });
      else if (k === "cols") {
        t.cols = {};
        Object.keys(d.cols).forEach(function (c) {
          lazyProperty(t.cols, c, function () {
            return typeof d.cols[c] === "number" ? new Array(d.name.length).fill(d.cols[c]) : ints(d.cols[c]);
          });
        });
      }
      else t[k] = d[k];
    }
    return t;
  }

  // Points drawn by one canvas of their own: no Leaflet object per point. ``ll``: [lat, lon] per row; ``style(i)``
  // → {radius, fillColor, fillOpacity, color, weight, dash}; only rows ``rows`` (all when null). Redrawn after every
  // move and zoom (the points in view, projected from Web Mercator coordinates computed once); a grid of the drawn
  // points answers which point is under the mouse (see pointHits).
  var PointCanvas = L.Layer.extend({
    initialize: function (ll, style, rows, interactive) {
      this._ll = ll; this._style = style; this._rows = rows; this._mx = null; this._interactive = interactive !== false;
    },
    onAdd: function (map) {
      if (!map.getPane("plannerPoints")) { map.createPane("plannerPoints").style.zIndex = 450; map.getPane("plannerPoints").style.pointerEvents = "none"; }
      this._canvas = L.DomUtil.create("canvas", "planner-points");
      this._canvas.style.pointerEvents = "none";
      map.getPane("plannerPoints").appendChild(this._canvas);
      map.on("moveend zoomend resize viewreset", this.redraw, this);
      map.on("zoomstart", this._hide, this);
      if (this._interactive) registry.push(this);
      this.redraw();
    },
    onRemove: function (map) {
      L.DomUtil.remove(this._canvas);
      map.off("moveend zoomend resize viewreset", this.redraw, this);
      map.off("zoomstart", this._hide, this);
      if (registry.indexOf(this) >= 0) registry.splice(registry.indexOf(this), 1);
      this._grid = null;
    },
    setStyle: function (style) { this._style = style; if (this._map) this.redraw(); },
    setRows: function (rows) { this._rows = rows; if (this._map) this.redraw(); },
    _hide: function () { if (this._canvas) this._canvas.style.visibility = "hidden"; },
    _mercator: function () {
      var n = this._ll.length, mx = new Float64Array(n), my = new Float64Array(n);
      for (var i = 0; i < n; i++) {
        var lat = Math.max(Math.min(this._ll[i][0], 85.0511287798), -85.0511287798) * Math.PI / 180;
        mx[i] = (this._ll[i][1] + 180) / 360;
        my[i] = 0.5 - Math.log(Math.tan(Math.PI / 4 + lat / 2)) / (2 * Math.PI);
      }
      this._mx = mx; this._my = my;
    },
    // redraws are gathered into one per animation frame
    redraw: function () {
      if (this._frame || !this._map) return;
      var self = this;
      this._frame = L.Util.requestAnimFrame(function () { self._frame = 0; self._draw(); });
    },
    // the points in view, one canvas path per style (a style is drawn with one fill and one stroke call)
    _draw: function () {
      var map = this._map;
      if (!map) return;
      if (!this._mx) this._mercator();
      var size = map.getSize(), ratio = window.devicePixelRatio || 1, c = this._canvas;
      var topLeft = map.containerPointToLayerPoint([0, 0]);
      L.DomUtil.setPosition(c, topLeft);
      c.width = size.x * ratio; c.height = size.y * ratio;
      c.style.width = size.x + "px"; c.style.height = size.y + "px";
      c.style.visibility = "visible";
      var ctx = c.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      var scale = 256 * Math.pow(2, map.getZoom()), origin = map.getPixelOrigin();
      var ox = origin.x + topLeft.x, oy = origin.y + topLeft.y, cell = 24, n_all = this._ll.length;
      // below zoom fullZoom the points shrink (by √2 a zoom level, to a third at most) so that a city stays readable
      var shrink = this.fullZoom ? Math.max(1 / 3, Math.min(1, Math.pow(2, (map.getZoom() - this.fullZoom) / 2))) : 1;
      var grid = {}, rad = new Float32Array(n_all), rows = this._rows, n = rows ? rows.length : n_all;
      var px = new Float32Array(n_all), py = new Float32Array(n_all), styles = {}, order = [];
      for (var k = 0; k < n; k++) {
        var i = rows ? rows[k] : k, x = this._mx[i] * scale - ox, y = this._my[i] * scale - oy;
        if (x < -20 || y < -20 || x > size.x + 20 || y > size.y + 20) continue;
        var st = this._style(i);
        if (!st) continue;
        px[i] = x; py[i] = y; rad[i] = Math.max(1.5, st.radius * shrink);
        var key = st.fillColor + "|" + st.fillOpacity + "|" + st.color + "|" + st.weight + "|" + (st.dash || "");
        if (!styles[key]) { styles[key] = {st: st, rows: []}; order.push(key); }
        styles[key].rows.push(i);
        var cellKey = Math.floor(x / cell) + "," + Math.floor(y / cell);
        (grid[cellKey] || (grid[cellKey] = [])).push(i);
      }
      for (var s = 0; s < order.length; s++) {
        var group = styles[order[s]], g = group.st, members = group.rows;
        ctx.beginPath();
        for (var m = 0; m < members.length; m++) {
          var j = members[m];
          ctx.moveTo(px[j] + rad[j], py[j]);
          ctx.arc(px[j], py[j], rad[j], 0, 2 * Math.PI);
        }
        if (g.fillColor) { ctx.globalAlpha = g.fillOpacity === undefined ? 1 : g.fillOpacity; ctx.fillStyle = g.fillColor; ctx.fill(); }
        // outlines only where the points are drawn full size (shrunk, they would darken a whole city), dashed ones always
        if (g.weight && (shrink > 0.7 || g.dash)) {
          ctx.globalAlpha = 1; ctx.lineWidth = g.weight; ctx.strokeStyle = g.color; ctx.setLineDash(g.dash || []); ctx.stroke();
        }
      }
      this._grid = grid; this._px = px; this._py = py; this._r = rad; this._cell = cell;
      this.drawn = 0;
      for (var o = 0; o < order.length; o++) this.drawn += styles[order[o]].rows.length;
      this.fire("drawn");
    },
    // the row drawn at container point p (the topmost, within its radius + 3 px), or -1
    hit: function (p) {
      if (!this._grid) return -1;
      var cx = Math.floor(p.x / this._cell), cy = Math.floor(p.y / this._cell), best = -1, bestD = Infinity;
      for (var dx = -1; dx <= 1; dx++) for (var dy = -1; dy <= 1; dy++) {
        var list = this._grid[(cx + dx) + "," + (cy + dy)];
        if (!list) continue;
        for (var k = 0; k < list.length; k++) {
          var i = list[k], d = Math.hypot(this._px[i] - p.x, this._py[i] - p.y);
          if (d <= this._r[i] + 3 && d <= bestD) { best = i; bestD = d; }
        }
      }
      return best;
    }
  });
  // every PointCanvas on a map, in the order added (the last drawn on top)
  var registry = [];
  // the topmost point under container point p: {layer, i} or null
  function pointHits(p) {
    for (var k = registry.length - 1; k >= 0; k--) {
      var i = registry[k].hit(p);
      if (i >= 0) return {layer: registry[k], i: i};
    }
    return null;
  }
  // clicks and hovers on canvas points, caught before Leaflet's own vector layers see them: a click on a point fires
  // "pointclick" ({i, latlng}) on its layer (and stops there); hovering shows the layer's tooltip(i) text
  function watchPoints(map) {
    var box_ = map.getContainer(), down = null, tip = L.tooltip({className: "foliumtooltip", direction: "top", offset: [0, -6]}), frame = 0;
    box_.addEventListener("mousedown", function (e) { down = [e.clientX, e.clientY]; }, true);
    box_.addEventListener("click", function (e) {
      if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;  // the end of a drag
      if (e.target.closest && e.target.closest(".leaflet-popup, .leaflet-control, .leaflet-marker-icon")) return;
      var hit = pointHits(map.mouseEventToContainerPoint(e));
      if (!hit) return;
      e.stopPropagation();
      hit.layer.fire("pointclick", {i: hit.i, latlng: L.latLng(hit.layer._ll[hit.i])});
    }, true);
    box_.addEventListener("mousemove", function (e) {
      if (frame) return;
      frame = requestAnimationFrame(function () {
        frame = 0;
        if (e.target.closest && e.target.closest(".leaflet-popup, .leaflet-control")) return;
        var hit = pointHits(map.mouseEventToContainerPoint(e));
        box_.style.cursor = hit ? "pointer" : "";
        if (hit && hit.layer.tooltip) tip.setLatLng(hit.layer._ll[hit.i]).setContent(box(hit.layer.tooltip(hit.i))).addTo(map);
        else if (map.hasLayer(tip)) map.removeLayer(tip);
      });
    });
  }
  // a layer made only when first shown (hidden layers cost nothing until asked for)
  var Lazy = L.Layer.extend({
    initialize: function (make) { this._make = make; this._inner = null; },
    onAdd: function (map) { if (!this._inner) this._inner = this._make(); map.addLayer(this._inner); },
    onRemove: function (map) { if (this._inner) map.removeLayer(this._inner); }
  });
  function points(t, rows, style, popup, tooltip, popupOptions) {
    var g = L.featureGroup();
    for (var k = 0; k < rows.length; k++) {
      var o = style(rows[k]); o.i = rows[k];
      g.addLayer(L.circleMarker(t.ll[rows[k]], o));
    }
    g.bindPopup(function (layer) { return box(popup(layer.options.i)); }, Object.assign({className: "foliumpopup"}, popupOptions || {}));
    g.bindTooltip(function (layer) { return box(tooltip(layer.options.i)); }, {className: "foliumtooltip", sticky: true});
    return g;
  }
  function rowsOf(d) { var r = ints(d), a = 0; for (var k = 0; k < r.length; k++) { a += r[k]; r[k] = a; } return r; }

  var name = function (t) { return function (i) { return t.name[i]; }; };

  // the rings of every polygon of a polygon table, decoded once
  function rings(t) {
    if (!t._rings) {
      t._rings = [];
      for (var i = 0; i < t.pxy.length; i++) {
        var ll = coords(t.pxy[i], t.scale), sizes = ints(t.pp[i]), parts = [], at = 0;
        for (var p = 0; p < sizes.length; p++) { parts.push(ll.slice(at, at + sizes[p])); at += sizes[p]; }
        t._rings.push(parts);
      }
    }
    return t._rings;
  }
  return {
    table: table,
    PointCanvas: PointCanvas,
    watchPoints: watchPoints,
    pointHits: pointHits,
    lazy: function (make) { return new Lazy(make); },
    rings: rings,
    box: box,
    thousands: thousands,
    tenths: tenths,
    coords: coords,
    rowsOf: rowsOf,
    points: points,
    polygons: function (d, t) {
      var g = L.featureGroup(), r = rings(t);
      for (var i = 0; i < r.length; i++) {
        if (!r[i].length) continue;
        var o = Object.assign({}, d.style); o.i = i;
        if (d.fill) o.fillColor = d.fill[i];
        g.addLayer(L.polygon(r[i], o));
      }
      if (d.tooltip) g.bindTooltip(function (layer) { var div = document.createElement("div"); div.innerHTML = d.tooltip[layer.options.i]; return div; },
        {className: "foliumtooltip", sticky: true});
      return g;
    },
    ints: ints,
    // streets generalised by zoom: Leaflet simplifies each line to the pixel at every zoom (smoothFactor), and each
    // street class c is drawn (and its lines made) only from zoom d.classZoom[c] on, where its streets can be told apart
    streets: function (d) {
      var g = L.featureGroup(), map = null, classZoom = d.classZoom || [], byClass = [], later = [];
      function line(grp) {
        var ll = coords(grp.xy, d.scale), sizes = ints(grp.p), parts = [], at = 0;
        for (var p = 0; p < sizes.length; p++) { parts.push(ll.slice(at, at + sizes[p])); at += sizes[p]; }
        var l = L.polyline(parts, Object.assign({interactive: grp.n !== "", opacity: 0.9, smoothFactor: 1.5}, d.styles[grp.s]));
        if (grp.n !== "") l.bindTooltip(box(grp.n), {className: "foliumtooltip", sticky: true});
        return l;
      }
      for (var c = 0; c < d.styles.length; c++) { byClass.push(L.featureGroup()); later.push([]); }
      for (var k = 0; k < d.groups.length; k++) later[d.groups[k].s].push(d.groups[k]);  // lines made when first drawn
      function byZoom() {
        if (!map) return;
        for (var c = 0; c < byClass.length; c++) {
          var want = map.getZoom() >= (classZoom[c] || 0);
          if (want && later[c].length) { for (var k = 0; k < later[c].length; k++) byClass[c].addLayer(line(later[c][k])); later[c] = []; }
          if (want && !g.hasLayer(byClass[c])) g.addLayer(byClass[c]);
          if (!want && g.hasLayer(byClass[c])) g.removeLayer(byClass[c]);
        }
      }
      g.on("add", function (e) { map = e.target._map; map.on("zoomend", byZoom); byZoom(); });
      g.on("remove", function () { if (map) map.off("zoomend", byZoom); map = null; });
      return g;
    },
    // compounds of a comparison (planner.outputs.compare_map): change class, categories gained and lost
    changes: function (d, t) {
      return points(t, rowsOf(d.rows), function () {
        return {radius: d.radius, color: "#333333", weight: 1, fill: true, fillColor: d.colour, fillOpacity: 0.9};
      }, function (i) {
        var c = t.cols, out = "<b>" + t.name[i] + "</b><br>" + t.changes[c.k[i]], g = t.gained[c.g[i]], l = t.lost[c.l[i]];
        if (g) out += "<br>+ " + g;
        if (l) out += "<br>− " + l;
        return out;
      }, name(t));
    }
  };
})();
"""


def one_plus_n_links(table: Any, facilities: Any, *, basemap: str, lang: str) -> dict | None:
    """The 1+N 托育 layer's data for the page (``map_app.js``): each hub (``hubs``: lat, lon, popup text), each point
    (``points``: lat, lon, text, 1 when it has no hub) and a line from each assigned point to its hub (``links``: the
    point's and the hub's row in ``hubs``/``points``); None without hubs or points. ``table``: the 1+N table
    (:attr:`planner.analysis.one_plus_n.OnePlusN.table`), ``facilities`` the run's (metric CRS, ``id``)."""
    from planner.labels import tr

    if table is None or not len(table):
        return None
    fac = facilities.set_index(facilities["id"].astype(str))
    pts = fac.geometry.loc[table["id"].astype(str).to_numpy()]
    lon, lat = display_lonlat(pts.x.to_numpy(), pts.y.to_numpy(), facilities.crs, basemap)
    is_hub = (table["role"] == "枢纽").to_numpy()
    row = {i: k for k, i in enumerate(table["id"].astype(str))}
    names = table["name"].astype(str).to_numpy()
    hubs, points, links = [], [], []
    for k in np.flatnonzero(is_hub):
        text = f"<b>{html.escape(names[k])}</b><br>{tr('ui.one_plus_n_hub', lang)}<br>" + tr(
            "ui.one_plus_n_guides", lang, n=int(table["guided"].iloc[k]))
        hubs.append([round(float(lat[k]), 6), round(float(lon[k]), 6), text])
    hub_pos = {int(k): i for i, k in enumerate(np.flatnonzero(is_hub))}
    for k in np.flatnonzero(~is_hub):
        hub_id = str(table["hub_id"].iloc[k])
        if hub_id:
            text = tr("ui.one_plus_n_hub_of", lang, hub=html.escape(str(table["hub_name"].iloc[k])), d=f"{table['dist_m'].iloc[k]:,.0f}")
            links.append([len(points), hub_pos[row[hub_id]]])
        else:
            reason = str(table["reason"].iloc[k]).split(" / ")
            text = tr("ui.one_plus_n_unassigned", lang) + "：" + html.escape(reason[0] if lang == "zh" else reason[-1])
        points.append([round(float(lat[k]), 6), round(float(lon[k]), 6), f"<b>{html.escape(names[k])}</b><br>{text}", int(not hub_id)])
    return {"label": tr("ui.one_plus_n", lang), "hubLabel": tr("ui.one_plus_n_hub", lang),
            "unassignedLabel": tr("ui.one_plus_n_unassigned", lang), "hubs": hubs, "points": points, "links": links}
