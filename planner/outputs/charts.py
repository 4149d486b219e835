"""Static map and chart images for the printable report (matplotlib, Agg), drawn with a bundled Chinese font.

Chinese text needs a font with CJK glyphs, and a fresh machine may have none. planner depends on the PyPI
package ``noto-cjk-sans-otc`` (Noto Sans CJK, SIL OFL 1.1), registers its Simplified-Chinese face with
matplotlib's font manager at run time under a name of its own (:data:`FONT_FAMILY`, so that a system copy of
the same family is never picked instead), and draws every figure with it. Nothing is installed system-wide.

Maps are drawn in the run's metric CRS (metres), so the scale bar is exact. Every function returns PNG bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager, ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from planner import schema
from planner.errors import PlannerError
from planner.labels import tr
from planner.outputs.style import completeness_color

__all__ = [
    "FONT_FAMILY",
    "cjk_font_path",
    "register_cjk_font",
    "overview_map",
    "compliance_map",
    "gaps_map",
    "sites_map",
    "coverage_curve_chart",
]

log = logging.getLogger(__name__)

#: The family name the bundled Simplified-Chinese face is registered under (unique to planner).
FONT_FAMILY = "Planner Noto Sans CJK SC"
_FACE_NAME = "Noto Sans CJK SC"  # the SC face inside the Noto Sans CJK collection
_REDS = matplotlib.colormaps["Reds"]
_WIDTH_IN = 7.2  # fits the printable width of an A4 page at 15 mm margins
_DPI = 150


def cjk_font_path() -> Path:
    """Path of the bundled Noto Sans CJK collection (``NotoSansCJK-Regular.ttc``)."""
    try:
        import noto_cjk_sans_otc
    except ImportError as exc:  # a broken install: it is a dependency of planner
        raise PlannerError(
            "缺少中文字体包 noto-cjk-sans-otc，报告图片无法显示中文；请运行 pip install noto-cjk-sans-otc / "
            "the Chinese font package noto-cjk-sans-otc is missing: pip install noto-cjk-sans-otc"
        ) from exc
    path = Path(str(noto_cjk_sans_otc.FONT_PATH))
    if not path.is_file():
        raise PlannerError(f"字体文件不存在 {path} / font file missing: {path} (reinstall noto-cjk-sans-otc)")
    return path


@lru_cache(maxsize=1)
def register_cjk_font() -> str:
    """Register the bundled Simplified-Chinese face with matplotlib (once) and return its family name."""
    path = cjk_font_path()
    font_manager.fontManager.addfont(path)  # registers every face of the collection
    faces = [e for e in font_manager.fontManager.ttflist if Path(e.fname) == path and e.name == _FACE_NAME]
    if not faces:
        raise PlannerError(f"{path} 中没有 {_FACE_NAME} 字体 / no {_FACE_NAME} face in {path} (needs matplotlib >= 3.11)")
    # the same face under a name no system font has: findfont can only ever answer with this file
    font_manager.fontManager.ttflist.append(dataclasses.replace(faces[0], name=FONT_FAMILY))
    font_manager.fontManager._findfont_cached.cache_clear()
    log.debug("registered %s (face %d of %s)", FONT_FAMILY, faces[0].index, path)
    return FONT_FAMILY


@contextmanager
def _style() -> Iterator[None]:
    family = register_cjk_font()
    with matplotlib.rc_context(
        {
            "font.family": [family],
            "font.size": 8,
            "axes.unicode_minus": False,
            "axes.titlesize": 10,
            "legend.fontsize": 7,
            "legend.title_fontsize": 7.5,
            "legend.frameon": True,
            "legend.framealpha": 0.9,
        }
    ):
        yield


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _frame(*frames: gpd.GeoDataFrame | None) -> tuple[float, float, float, float]:
    """Bounds (minx, miny, maxx, maxy) of the non-empty frames, padded by 3 %."""
    boxes = [f.total_bounds for f in frames if f is not None and len(f)]
    if not boxes:
        return (0.0, 0.0, 1.0, 1.0)
    b = np.array(boxes)
    minx, miny, maxx, maxy = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    pad = 0.03 * max(maxx - minx, maxy - miny, 1.0)
    return (minx - pad, miny - pad, maxx + pad, maxy + pad)


def _map_figure(
    bounds: tuple[float, float, float, float], *, legend_width: float = 0.0, extra_height: float = 0.0
) -> tuple[Figure, object, object]:
    """A figure sized to the area's aspect ratio: an equal-aspect map axis and, when ``legend_width`` > 0, an
    axis on its right (that share of the width) that holds the legend; ``extra_height`` inches are added for a
    legend below the map."""
    minx, miny, maxx, maxy = bounds
    aspect = (maxy - miny) / max(maxx - minx, 1.0)
    map_w = _WIDTH_IN * (1 - legend_width)
    height = float(np.clip(map_w * aspect, 3.2, 8.5)) + extra_height
    fig = Figure(figsize=(_WIDTH_IN, height), layout="constrained")
    if legend_width > 0:
        ax, leg = fig.subplots(1, 2, width_ratios=[1 - legend_width, legend_width])
        leg.set_axis_off()
    else:
        ax, leg = fig.add_subplot(), None
    ax.set_xlim(minx, maxx)
    ax.set_ylim(miny, maxy)
    ax.set_aspect("equal", adjustable="box")
    ax.set_axis_off()
    return fig, ax, leg


def _legend(leg_ax, groups: Sequence[tuple[str, list]]) -> None:
    """One legend in the legend axis, its entries in titled groups (a heading is an entry without a symbol)."""
    handles: list = []
    for n, (title, items) in enumerate(groups):
        if not items:
            continue
        if n:
            handles.append(Line2D([], [], linestyle="", marker="", label=" "))
        handles.append(Line2D([], [], linestyle="", marker="", label=title))
        handles.extend(items)
    leg_ax.legend(handles=handles, loc="upper left", borderaxespad=0.0, handletextpad=0.5, handlelength=1.2, fontsize=7, frameon=False)


_MAJOR = ("primary", "secondary", "trunk", "tertiary")
_CITY_POINTS = 20_000  # above this many compounds a map draws them as plain dots of one size
_MAX_LABELS = 40  # 街道 named on the static maps up to this many (a city's hundreds would hide the map)
# a map is at city scale when its minor streets, end to end, would fill this share of the pixels of the network's
# bounding box (a grey haze on paper): then only the major roads are drawn. Real district extracts are at ~0.15, a
# generated 90 k-node city at ~0.7.
_HAZE = 0.4


def _memo(fn):
    """``fn(obj)`` computed once for the same object while it lives (the report's maps share a run's compounds and
    network; at city scale their points and road classes take a second each). A few entries, weakly held."""
    cache: dict[int, tuple[weakref.ref, object]] = {}

    @functools.wraps(fn)
    def wrapper(obj):
        hit = cache.get(id(obj))
        if hit is not None and hit[0]() is obj:
            return hit[1]
        value = fn(obj)
        for key in [k for k, (ref, _) in cache.items() if ref() is None] + list(cache)[: max(0, len(cache) - 3)]:
            cache.pop(key, None)
        try:
            cache[id(obj)] = (weakref.ref(obj), value)
        except TypeError:  # an object that takes no weak reference is not cached
            pass
        return value

    return wrapper


def _pixel_m(bounds: tuple[float, float, float, float], *, legend_width: float = 0.0) -> float:
    """Metres per pixel of a map drawn by :func:`_map_figure` over ``bounds`` (at :data:`_DPI`)."""
    minx, miny, maxx, maxy = bounds
    map_w = _WIDTH_IN * (1 - legend_width)
    height = float(np.clip(map_w * (maxy - miny) / max(maxx - minx, 1.0), 3.2, 8.5))
    return max((maxx - minx) / map_w, (maxy - miny) / height, 1e-6) / _DPI


def _print_scale(coords: np.ndarray, offsets: np.ndarray, px: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which vertices of the polylines ``coords[offsets[e]:offsets[e + 1]]`` a map at ``px`` metres a pixel needs:
    (vertex kept, edge drawn, edge of each vertex). A vertex in the same pixel cell as the one before it is dropped
    unless it ends its edge; an edge that never leaves the cell of its first vertex is not drawn."""
    edge_of = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    cell = np.floor(coords / px).astype(np.int64)
    moved = np.ones(len(coords), dtype=bool)
    moved[1:] = (cell[1:] != cell[:-1]).any(axis=1)
    ends = np.zeros(len(coords), dtype=bool)
    ends[offsets[:-1]] = True
    leaves = np.add.reduceat((moved & ~ends).astype(np.int64), offsets[:-1]) > 0
    ends[offsets[1:] - 1] = True
    return ends | moved, leaves, edge_of


def _street_polyline(streets, draw: np.ndarray, px: float) -> np.ndarray:
    """The edges where ``draw`` is set as one (m, 2) polyline with a NaN row between edges, simplified to print
    scale by :func:`_print_scale`."""
    edges = np.flatnonzero(draw)
    counts = streets.offsets[edges + 1] - streets.offsets[edges]
    offsets = np.r_[0, np.cumsum(counts)]
    take = np.repeat(streets.offsets[edges] - offsets[:-1], counts) + np.arange(offsets[-1])
    coords = streets.coords[take]
    keep, leaves, edge_of = _print_scale(coords, offsets, px)
    kept = np.flatnonzero(keep & leaves[edge_of])
    gaps = np.cumsum(leaves) - 1  # NaN rows before each drawn edge's vertices
    out = np.full((len(kept) + int(leaves.sum()), 2), np.nan)
    out[np.arange(len(kept)) + gaps[edge_of[kept]]] = coords[kept]
    return out[:-1]  # no NaN row after the last edge


@_memo
def _road_classes(network) -> tuple[np.ndarray, float, np.ndarray]:
    """(major road of each edge, metres of minor streets, width and height of the network's box in metres)."""
    streets = network.streets
    attrs = network.edge_attrs
    major = np.zeros(streets.n_edges, dtype=bool)
    if "highway" in attrs.columns:
        try:
            codes, kinds = pd.factorize(attrs["highway"], use_na_sentinel=False)
        except TypeError:  # lists of highway values (merged OSM ways)
            codes, kinds = pd.factorize(attrs["highway"].astype(str), use_na_sentinel=False)
        major = np.array([any(k in str(h) for k in _MAJOR) for h in kinds], dtype=bool)[codes]
    return major, float(np.sum(streets.length[~major])), np.ptp(streets.coords, axis=0)


def _network(ax, network, px: float) -> None:
    """The walk network as a light basemap (major roads a little darker and wider), drawn from its arrays: each
    class one polyline in one LineCollection, simplified to ``px`` metres a pixel. At city scale (:data:`_HAZE`)
    only the major roads are drawn, as printed maps generalise; a network without any draws its streets thinner."""
    if network is None or not network.n_edges:
        return
    streets = network.streets
    major, minor_m, box_m = _road_classes(network)
    minor = ~major
    box_px = np.prod(np.maximum(box_m / px, 1.0))
    city = minor_m / px >= _HAZE * box_px
    for cls, colour, width in ((minor & ~(city & major.any()), "#d0d0d0", 0.3 if city else 0.5), (major, "#a8a8a8", 1.1)):
        if cls.any() and len(line := _street_polyline(streets, cls, px)):
            ax.add_collection(LineCollection([line], colors=colour, linewidths=width, zorder=1))


def _zones_outline(ax, zones: gpd.GeoDataFrame | None, *, labels: bool = True) -> None:
    if zones is None or not len(zones):
        return
    zones.boundary.plot(ax=ax, color="#3f007d", linewidth=1.2, linestyle=(0, (5, 3)), zorder=3)
    if labels and len(zones) <= _MAX_LABELS:
        for name, pt in zip(zones["name"].astype(str), zones.geometry.representative_point(), strict=True):
            ax.annotate(name, (pt.x, pt.y), ha="center", va="center", fontsize=8, color="#3f007d", zorder=6,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.75})


def _scale_bar(ax, bounds: tuple[float, float, float, float], lang: str) -> None:
    """A scale bar in the lower right (the axes are in metres), with a north arrow above it."""
    minx, miny, maxx, maxy = bounds
    span = maxx - minx
    nice = [50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000]
    length = max([n for n in nice if n <= span / 5] or [nice[0]])
    x1 = maxx - 0.04 * span
    x0 = x1 - length
    y = miny + 0.04 * (maxy - miny)
    ax.plot([x0, x1], [y, y], color="black", linewidth=2.5, solid_capstyle="butt", zorder=8)
    label = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    ax.annotate(label, ((x0 + x1) / 2, y), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=7, zorder=8)
    ny = y + 0.09 * (maxy - miny)
    ax.annotate(tr("ui.north", lang), (x1, ny), xytext=(x1, ny - 0.05 * (maxy - miny)), ha="center", va="bottom",
                fontsize=8, zorder=8, arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.2})


@_memo
def _points(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    pts = frame.geometry.representative_point()
    return pts.x.to_numpy(), pts.y.to_numpy()


def _palette(values: np.ndarray, colour) -> tuple[list, np.ndarray]:
    """``colour(v)`` once per distinct value (NaN included): the colours in ascending value order and each value's
    position among them."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return [], np.zeros(0, dtype=np.intp)
    uniq, inverse = np.unique(values, return_inverse=True, equal_nan=True)
    return [colour(float(v)) for v in uniq], inverse.ravel()


def _dots(ax, x: np.ndarray, y: np.ndarray, colours: str | tuple[list, np.ndarray], *, worst_last: bool, dot_pt: float = 1.0,
          **scatter) -> None:
    """Points in one colour or coloured by a :func:`_palette`: up to :data:`_CITY_POINTS` a scatter (sizes and
    outlines in ``scatter``), beyond that — a city's compounds a pixel or two apart — dots of ``dot_pt`` points
    without outline, one marker line per colour (far faster to draw), drawn so that the last colour of the palette
    (``worst_last``) or the first ends on top."""
    table, codes = ([colours], np.zeros(len(x), dtype=np.intp)) if isinstance(colours, str) else colours
    if len(x) <= _CITY_POINTS:
        ax.scatter(x, y, c=colours if isinstance(colours, str) else [table[i] for i in codes.tolist()], **scatter)
        return
    order = range(len(table)) if worst_last else range(len(table) - 1, -1, -1)
    for i in order:
        pick = codes == i
        if pick.any():
            ax.plot(x[pick], y[pick], linestyle="", marker="o", markersize=dot_pt, markeredgewidth=0, color=table[i],
                    alpha=scatter.get("alpha"), zorder=scatter.get("zorder"))


def _size(population: pd.Series, lo: float = 8, hi: float = 60) -> np.ndarray:
    pop = population.fillna(0).to_numpy(dtype=float)
    top = max(float(np.nanmax(pop)) if len(pop) else 0.0, 1.0)
    return lo + (hi - lo) * np.sqrt(np.clip(pop, 0, None) / top)


def overview_map(result, *, lang: str = "zh") -> bytes:
    """Compounds coloured by completeness (share of categories within the longest threshold), facilities, 街道.

    ``result`` is a :class:`planner.pipeline.RunResult` (any object with its fields).
    """
    comp = result.compounds
    table = result.coverage.table
    longest = schema.minutes_text(max(result.coverage.thresholds_min))
    with _style():
        bounds = _frame(comp, result.facilities, result.zones)
        fig, ax, leg = _map_figure(bounds, legend_width=0.22, extra_height=0.9)
        _network(ax, result.network, _pixel_m(bounds, legend_width=0.22))
        _zones_outline(ax, result.zones)
        fac = result.facilities
        handles = []
        if len(fac):
            fx, fy = _points(fac)
            colors = [result.taxonomy[c].color if c in result.taxonomy else "#666666" for c in fac["category"]]
            ax.scatter(fx, fy, s=9, marker="s", c=colors, edgecolors="white", linewidths=0.3, zorder=4)
            counts = fac["category"].value_counts()
            for key in [k for k in result.taxonomy.keys if k in counts.index]:
                meta = result.taxonomy[key]
                handles.append(Line2D([], [], marker="s", linestyle="", color=meta.color, markersize=5,
                                      label=f"{meta.label(lang)} ({int(counts[key])})"))
        reach = comp["reachable"].to_numpy(dtype=bool)
        cx, cy = _points(comp)
        sizes = _size(comp["population"])
        share = table["completeness"].reindex(comp.index).to_numpy(dtype=float)
        _dots(ax, cx[reach], cy[reach], _palette(share[reach], completeness_color), worst_last=False, s=sizes[reach],
              edgecolors="#333333", linewidths=0.4, zorder=5)
        if (~reach).any():
            _dots(ax, cx[~reach], cy[~reach], "white", worst_last=True,
                  s=sizes[~reach], edgecolors="black", linewidths=0.9, linestyle="--", zorder=5)
        ramp = [Line2D([], [], marker="o", linestyle="", markerfacecolor=completeness_color(v), markeredgecolor="#333333",
                       markersize=6, label=f"{v * 100:.0f}%") for v in (0, 0.2, 0.4, 0.6, 0.8, 1.0)]
        ramp.append(Line2D([], [], marker="o", linestyle="", markerfacecolor="white", markeredgecolor="black", markersize=6,
                           label=tr("ui.unreachable", lang)))
        _legend(leg, [(tr("ui.legend_completeness", lang, t=longest), ramp)])
        if handles:  # below the map, in columns: a long list would squeeze the map
            fig.legend(handles=handles, title=tr("ui.legend_facilities", lang), loc="outside lower center", ncols=4, fontsize=7,
                       frameon=False, handletextpad=0.4, columnspacing=1.2)
        _scale_bar(ax, bounds, lang)
        return _png(fig)


def compliance_map(result, *, lang: str = "zh") -> bytes:
    """街道 filled by the number of failed rules, with name and count; compounds as small grey dots."""
    zones = result.zones
    table = result.compliance.table if result.compliance is not None else pd.DataFrame(columns=["subdistrict", "status"])
    with _style():
        bounds = _frame(zones if zones is not None and len(zones) else result.compounds)
        fig, ax, leg = _map_figure(bounds, legend_width=0.2)
        _network(ax, result.network, _pixel_m(bounds, legend_width=0.2))
        fails = table[table["status"] == "fail"].groupby("subdistrict").size()
        handles = []
        if zones is not None and len(zones):
            failed = np.array([int(fails.get(str(z), 0)) for z in zones.index.astype(str)])
            worst = max(1, int(failed.max()))
            colour = lambda n: _REDS(0.12 + 0.6 * n / worst) if n else "#f7fcf5"  # noqa: E731
            zones.plot(ax=ax, color=[colour(n) for n in failed], alpha=0.6, edgecolor="#67000d", linewidth=1.0, zorder=2)
            for name, n, pt in zip(zones["name"].astype(str), failed, zones.geometry.representative_point(), strict=True):
                if len(zones) > _MAX_LABELS:  # a city's hundreds of 街道: the colours and the legend say it
                    break
                ax.annotate(f"{name}\n{tr('ui.failed_rules', lang)} {n}", (pt.x, pt.y), ha="center", va="center", fontsize=8, zorder=6,
                            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#67000d", "lw": 0.5, "alpha": 0.85})
            for n in sorted(set(failed.tolist())):
                handles.append(Patch(facecolor=colour(n), edgecolor="#67000d", alpha=0.6, label=str(n)))
        cx, cy = _points(result.compounds)
        _dots(ax, cx, cy, "#555555", worst_last=True, dot_pt=0.4, s=4, zorder=4, linewidths=0)
        _legend(leg, [(tr("ui.failed_rules", lang), handles)])
        _scale_bar(ax, bounds, lang)
        return _png(fig)


def gaps_map(result, *, lang: str = "zh") -> bytes:
    """Compounds coloured by the number of requirements they are on the gap list for, sized by population."""
    comp = result.compounds
    gaps = result.gaps if result.gaps is not None else pd.DataFrame(columns=["compound_id", "requirement"])
    per = gaps.groupby("compound_id")["requirement"].nunique()
    n = per.reindex(comp.index.astype(str)).fillna(0).to_numpy(dtype=int)  # gap rows name compounds by index
    with _style():
        bounds = _frame(comp, result.zones)
        fig, ax, leg = _map_figure(bounds, legend_width=0.2)
        _network(ax, result.network, _pixel_m(bounds, legend_width=0.2))
        _zones_outline(ax, result.zones)
        cx, cy = _points(comp)
        top = max(1, int(n.max()) if len(n) else 1)
        colour = lambda k: "#1a9850" if k == 0 else _REDS(0.25 + 0.7 * (k - 1) / max(top - 1, 1))  # noqa: E731
        order = np.argsort(n)
        _dots(ax, cx[order], cy[order], _palette(n[order], colour), worst_last=True, s=_size(comp["population"])[order],
              edgecolors="#333333", linewidths=0.4, zorder=5)
        steps = sorted({0, *np.unique(np.linspace(1, top, num=min(top, 5)).round().astype(int)).tolist()})
        handles = [Patch(facecolor=colour(k), edgecolor="#333333", label=str(k)) for k in steps]
        _legend(leg, [(tr("ui.gap_count_legend", lang), handles)])
        _scale_bar(ax, bounds, lang)
        return _png(fig)


def sites_map(result, sites: gpd.GeoDataFrame, *, lang: str = "zh") -> bytes:
    """Suggested sites (stars numbered by rank, coloured by category) over the compounds coloured by completeness."""
    comp = result.compounds
    sites = sites.to_crs(result.crs) if sites.crs is not None else sites
    with _style():
        bounds = _frame(comp, sites, result.zones)
        fig, ax, leg = _map_figure(bounds, legend_width=0.26)
        _network(ax, result.network, _pixel_m(bounds, legend_width=0.26))
        _zones_outline(ax, result.zones)
        cx, cy = _points(comp)
        share = result.coverage.table["completeness"].reindex(comp.index).to_numpy(dtype=float)
        _dots(ax, cx, cy, _palette(share, completeness_color), worst_last=False, s=_size(comp["population"]) * 0.6, alpha=0.55,
              edgecolors="#555555", linewidths=0.3, zorder=4)
        tasks = sites["task"].astype(str) if "task" in sites.columns else pd.Series("", index=sites.index)
        handles = []
        for task in dict.fromkeys(tasks):
            sub = sites[(tasks == task).to_numpy()]
            cat = sub["category"].iloc[0] if "category" in sub.columns else None
            color = result.taxonomy[cat].color if cat in result.taxonomy else "#6a3d9a"
            sx, sy = _points(sub)
            ax.scatter(sx, sy, s=170, marker="*", c=color, edgecolors="black", linewidths=0.7, zorder=7)
            ranks = sub["rank"].to_numpy() if "rank" in sub.columns else np.arange(1, len(sub) + 1)
            for x, y, r in zip(sx, sy, ranks, strict=True):
                ax.annotate(str(r), (x, y), xytext=(6, 5), textcoords="offset points", fontsize=8, color="black", zorder=8,
                            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "lw": 0.8})
            handles.append(Line2D([], [], marker="*", linestyle="", markersize=11, markerfacecolor=color, markeredgecolor="black",
                                  label=task or tr("ui.sites", lang)))
        _legend(leg, [(tr("ui.sites", lang), handles)])
        _scale_bar(ax, bounds, lang)
        return _png(fig)


def coverage_curve_chart(curve: pd.DataFrame, *, lang: str = "zh", value_column: str | None = None,
                         group_column: str | None = None) -> bytes:
    """Demand covered against the number of new sites ``k``: one line per group (siting task) when given,
    and the greedy solution dashed when the curve has ``greedy_covered``."""
    frame = curve.reset_index() if "k" not in curve.columns else curve
    value = value_column or _value_column(frame)
    with _style():
        fig = Figure(figsize=(_WIDTH_IN, 3.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        groups: Sequence[tuple[object, pd.DataFrame]] = list(frame.groupby(group_column, sort=False)) if group_column else [(None, frame)]
        for key, sub in groups:
            sub = sub.sort_values("k")
            (line,) = ax.plot(sub["k"], sub[value], marker="o", markersize=3.5, linewidth=1.6,
                              label=tr("ui.curve_exact", lang) if key is None else f"{key}（{tr('ui.curve_exact', lang)}）")
            if "greedy_covered" in sub.columns and value != "greedy_covered":
                ax.plot(sub["k"], sub["greedy_covered"], linestyle="--", linewidth=1.0, color=line.get_color(), alpha=0.8,
                        label=tr("ui.curve_greedy", lang) if key is None else f"{key}（{tr('ui.curve_greedy', lang)}）")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(tr("ui.curve_k", lang))
        ax.set_ylabel(tr("ui.curve_value", lang))
        ax.grid(True, color="#e0e0e0", linewidth=0.6)
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _p: f"{v:,.0f}"))
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        ax.legend(loc="lower right")
        return _png(fig)


def _value_column(frame: pd.DataFrame) -> str:
    for name in ("covered", "newly_covered", "population"):
        if name in frame.columns:
            return name
    numeric = [c for c in frame.columns if c != "k" and pd.api.types.is_numeric_dtype(frame[c])]
    if not numeric:
        raise PlannerError("coverage_curve 没有数值列 / coverage_curve has no numeric column besides k")
    return numeric[0]
