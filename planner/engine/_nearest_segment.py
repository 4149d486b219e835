"""Compiled nearest-segment search (numba) on a uniform grid of cells: exact, for snapping points to streets.

Segments are indexed by the midpoints of pieces no longer than the cell size. For each point the cells are
visited ring by ring around the point's cell; a ring at Chebyshev index r + 1 lies at least r cells away, so
no segment in it (every point of a segment is within ``half`` of one of its piece midpoints) can be nearer
than r · cell − half. The search stops when that exceeds the best distance found. Distances follow GEOS:
|cross product| / length inside a segment, the distance to the end point beyond it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["build_cells", "cell_segments", "nearest_segments"]


def build_cells(mx: np.ndarray, my: np.ndarray, cell: float) -> tuple:
    """Sort piece midpoints into square cells: (x0, y0, cell, width, height, starts, order); the pieces of cell
    ``cy · width + cx`` are ``order[starts[key]:starts[key + 1]]``. The cell side starts at ``cell`` and doubles
    until the table has at most max(4 × pieces, 2²⁰) cells, so a sparse network cannot make it huge (any side
    gives exact answers; it only changes how many cells a search visits)."""
    x0, y0 = float(mx.min()), float(my.min())
    span_x, span_y = float(mx.max()) - x0, float(my.max()) - y0
    while (np.floor(span_x / cell) + 1) * (np.floor(span_y / cell) + 1) > max(4 * len(mx), 1 << 20):
        cell *= 2.0
    cx = np.floor((mx - x0) / cell).astype(np.int64)
    cy = np.floor((my - y0) / cell).astype(np.int64)
    width, height = int(cx.max()) + 1, int(cy.max()) + 1
    key = cy * width + cx
    order = np.argsort(key, kind="stable").astype(np.int64)
    starts = np.r_[0, np.cumsum(np.bincount(key, minlength=width * height))].astype(np.int64)
    return x0, y0, cell, width, height, starts, order


@njit(cache=True, inline="always")
def _seg_dist(px, py, ax, ay, bx, by):
    dx = bx - ax
    dy = by - ay
    l2 = dx * dx + dy * dy
    dot = (px - ax) * dx + (py - ay) * dy
    t = dot / l2 if l2 > 0.0 else 0.0
    if t <= 0.0:
        return np.hypot(px - ax, py - ay)
    if t >= 1.0:
        return np.hypot(px - bx, py - by)
    return abs((px - ax) * dy - (py - ay) * dx) / np.sqrt(l2)


def cell_segments(order: np.ndarray, piece_seg: np.ndarray, seg_first: np.ndarray, coords: np.ndarray) -> tuple:
    """Segment number and end points of every piece in cell order (contiguous per cell, so a search reads memory
    in sequence): (seg, ax, ay, bx, by)."""
    s = piece_seg[order]
    v = seg_first[s]
    return s, coords[v, 0].copy(), coords[v, 1].copy(), coords[v + 1, 0].copy(), coords[v + 1, 1].copy()


@njit(cache=True)
def nearest_segments(px, py, x0, y0, cell, width, height, starts, cs, ax, ay, bx, by, half):
    """Per point: the nearest segment (lowest number among equally near ones) and its distance. ``cs, ax, ay, bx,
    by`` are the pieces' segments and end points in cell order (:func:`cell_segments`)."""
    n = px.shape[0]
    best_seg = np.full(n, -1, dtype=np.int64)
    best_d = np.full(n, np.inf)
    max_ring = max(width, height) + 1
    for i in range(n):
        x = px[i]
        y = py[i]
        cx = int(np.floor((x - x0) / cell))
        cy = int(np.floor((y - y0) / cell))
        bd = np.inf
        bs = -1
        r = 0
        # rings until no farther segment can be nearer (outside the grid the rings are still counted, so a point
        # far beyond the network walks in until it meets the cells)
        dist_to_grid = max(0, -cx, cx - (width - 1), -cy, cy - (height - 1))
        while True:
            if r >= dist_to_grid:
                for gy in range(cy - r, cy + r + 1):
                    if gy < 0 or gy >= height:
                        continue
                    step = 1 if (gy == cy - r or gy == cy + r) else 2 * r if r > 0 else 1
                    gx = cx - r
                    while gx <= cx + r:
                        if 0 <= gx < width:
                            key = gy * width + gx
                            for k in range(starts[key], starts[key + 1]):
                                s = cs[k]
                                d = _seg_dist(x, y, ax[k], ay[k], bx[k], by[k])
                                if d < bd or (d == bd and s < bs):
                                    bd = d
                                    bs = s
                        gx += step
            if bs >= 0 and r * cell - half > bd:
                break
            if r > max_ring + dist_to_grid:
                break
            r += 1
        best_seg[i] = bs
        best_d[i] = bd
    return best_seg, best_d
