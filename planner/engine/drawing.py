"""Array kernels for drawing maps: edges merged into chains per group, Douglas–Peucker simplification, the
rings of polygons found in their coordinates, and integers packed as encoded-polyline characters.

:func:`merge_chains` joins the edges of each group (e.g. a street class and name) into as few lines as
``shapely.line_merge`` would: two edges of a group are joined at a node where exactly two of the group's edges
meet; chains end at every other node (dead ends, junctions of three or more of the group's edges, nodes where
the group meets only other groups), and a closed run of edges whose every node joins two of them becomes one
ring. No geometry object is built: the result says which edges, in which direction, make each line, and
:func:`chain_coords` gathers their vertices.

:func:`simplify_keep` is the Douglas–Peucker simplifier of GEOS (``shapely.simplify(line, tolerance,
preserve_topology=False)``, endpoints kept) on many lines packed as one coordinate array, computing the same
distances in the same floating-point order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["merge_chains", "chain_coords", "simplify_keep", "ring_sizes", "encode_varints"]


@njit(cache=True)
def _merge(group: np.ndarray, u: np.ndarray, v: np.ndarray, n_groups: int, n_nodes: int):
    n = len(group)
    # edges by group (counting sort, stable: by edge id within a group)
    start = np.zeros(n_groups + 1, dtype=np.int64)
    for e in range(n):
        start[group[e] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for e in range(n):
        order[fill[group[e]]] = e
        fill[group[e]] += 1

    degree = np.zeros(n_nodes, dtype=np.int64)
    first_two = np.full((n_nodes, 2), -1, dtype=np.int64)  # the first two edge ends (2 * edge + end) at a node
    partner = np.full(2 * n, -1, dtype=np.int64)  # the edge end joined to an edge end, or -1
    visited = np.zeros(n, dtype=np.bool_)
    out_edge = np.empty(n, dtype=np.int64)
    out_flip = np.zeros(n, dtype=np.bool_)
    line_start = np.empty(n + 1, dtype=np.int64)
    line_group = np.empty(n, dtype=np.int64)
    pos = 0
    n_lines = 0
    for g in range(n_groups):
        a, b = start[g], start[g + 1]
        for k in range(a, b):
            e = order[k]
            for end in range(2):
                node = u[e] if end == 0 else v[e]
                if degree[node] < 2:
                    first_two[node, degree[node]] = 2 * e + end
                degree[node] += 1
        for k in range(a, b):
            e = order[k]
            for end in range(2):
                node = u[e] if end == 0 else v[e]
                if degree[node] == 2:
                    p, q = first_two[node, 0], first_two[node, 1]
                    partner[2 * e + end] = q if p == 2 * e + end else p
        # open chains first (from an edge end that joins nothing), then the rings that are left
        for sweep in range(2):
            for k in range(a, b):
                e = order[k]
                if visited[e]:
                    continue
                if sweep == 0:
                    if partner[2 * e] < 0:
                        enter = 0
                    elif partner[2 * e + 1] < 0:
                        enter = 1
                    else:
                        continue
                else:
                    enter = 0
                line_start[n_lines] = pos
                line_group[n_lines] = g
                n_lines += 1
                while True:
                    visited[e] = True
                    out_edge[pos] = e
                    out_flip[pos] = enter == 1
                    pos += 1
                    nxt = partner[2 * e + 1 - enter]
                    if nxt < 0 or visited[nxt // 2]:
                        break
                    e = nxt // 2
                    enter = nxt % 2
        for k in range(a, b):
            e = order[k]
            degree[u[e]] = 0
            degree[v[e]] = 0
            first_two[u[e], 0] = first_two[u[e], 1] = -1
            first_two[v[e], 0] = first_two[v[e], 1] = -1
    line_start[n_lines] = pos
    return out_edge, out_flip, line_start[: n_lines + 1].copy(), line_group[:n_lines].copy()


def merge_chains(
    group: np.ndarray, u: np.ndarray, v: np.ndarray, n_groups: int, n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join the edges of each group into lines through the nodes where exactly two of the group's edges meet.

    Parameters
    ----------
    group
        Per edge: its group, ``0 … n_groups − 1``.
    u, v
        Per edge: its end nodes, ``0 … n_nodes − 1`` (``u == v`` for a self-loop).

    Returns
    -------
    edges, flipped, line_start, line_group
        Line ``i`` is ``edges[line_start[i]:line_start[i + 1]]`` in order, each edge walked from ``v`` to ``u``
        where ``flipped``; lines come by group (``line_group``, non-decreasing), within a group open chains
        first, then rings, each from its lowest edge id.
    """
    group = np.asarray(group, dtype=np.int64)
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if not len(group):
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=bool), np.zeros(1, dtype=np.int64), empty
    return _merge(group, u, v, int(n_groups), int(n_nodes))


@njit(cache=True)
def _gather(edges, flipped, line_start, offsets, coords):
    n_lines = len(line_start) - 1
    total = 0
    for k in range(len(edges)):
        total += offsets[edges[k] + 1] - offsets[edges[k]]
    total -= len(edges) - n_lines  # each join shares a vertex
    out = np.empty((total, 2), dtype=np.float64)
    sizes = np.zeros(n_lines, dtype=np.int64)
    at = 0
    for i in range(n_lines):
        for k in range(line_start[i], line_start[i + 1]):
            e = edges[k]
            a, b = offsets[e], offsets[e + 1]
            skip = 0 if k == line_start[i] else 1
            for j in range(skip, b - a):
                src = b - 1 - j if flipped[k] else a + j
                out[at, 0] = coords[src, 0]
                out[at, 1] = coords[src, 1]
                at += 1
                sizes[i] += 1
    return out, sizes


def chain_coords(
    edges: np.ndarray, flipped: np.ndarray, line_start: np.ndarray, offsets: np.ndarray, coords: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of the lines of :func:`merge_chains`: ``(xy, sizes)``, line after line, each edge's polyline
    (``coords[offsets[e]:offsets[e + 1]]``, reversed where flipped) joined to the previous one at their shared
    vertex (written once)."""
    return _gather(np.asarray(edges, dtype=np.int64), np.asarray(flipped, dtype=np.bool_),
                   np.asarray(line_start, dtype=np.int64), np.asarray(offsets, dtype=np.int64),
                   np.ascontiguousarray(coords, dtype=np.float64))


@njit(cache=True)
def _segment_distance(px, py, ax, ay, bx, by):
    # GEOS Distance::pointToSegment, the same operations in the same order
    if ax == bx and ay == by:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * np.sqrt(len2)


@njit(cache=True)
def _simplify(xy, sizes, tolerance):
    n = len(xy)
    keep = np.ones(n, dtype=np.bool_)
    stack = np.empty((max(n, 1), 2), dtype=np.int64)
    at = 0
    for size in sizes:
        if size > 2:
            stack[0, 0], stack[0, 1] = at, at + size - 1
            top = 1
            while top > 0:
                top -= 1
                i, j = stack[top, 0], stack[top, 1]
                if i + 1 >= j:
                    continue
                ax, ay, bx, by = xy[i, 0], xy[i, 1], xy[j, 0], xy[j, 1]
                worst = -1.0
                worst_at = i
                for k in range(i + 1, j):
                    d = _segment_distance(xy[k, 0], xy[k, 1], ax, ay, bx, by)
                    if d > worst:
                        worst = d
                        worst_at = k
                if worst <= tolerance:
                    for k in range(i + 1, j):
                        keep[k] = False
                else:
                    stack[top, 0], stack[top, 1] = worst_at, j
                    stack[top + 1, 0], stack[top + 1, 1] = i, worst_at
                    top += 2
        at += size
    return keep


def simplify_keep(xy: np.ndarray, sizes: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas–Peucker on lines packed one after another (``sizes`` vertices each): which vertices stay.

    The vertices GEOS keeps for ``shapely.simplify(line, tolerance, preserve_topology=False)`` of each line (both
    endpoints always; an interior vertex when it lies more than ``tolerance`` from the chord of its section);
    GEOS further drops a kept vertex equal to the one before it.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    return _simplify(np.ascontiguousarray(xy, dtype=np.float64), sizes, float(tolerance))


@njit(cache=True)
def _varints(values):
    n = len(values)
    count = np.empty(n, dtype=np.int64)
    total = 0
    for i in range(n):
        z = np.uint64((values[i] << 1) ^ (values[i] >> 63))
        c = 1
        z >>= np.uint64(5)
        while z:
            c += 1
            z >>= np.uint64(5)
        count[i] = c
        total += c
    out = np.empty(total, dtype=np.uint8)
    at = 0
    for i in range(n):
        z = np.uint64((values[i] << 1) ^ (values[i] >> 63))
        for j in range(count[i]):
            bits = np.uint8(z & np.uint64(31)) + np.uint8(63)
            if j < count[i] - 1:
                bits += np.uint8(32)
            out[at] = bits
            at += 1
            z >>= np.uint64(5)
    return out, count


def encode_varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integers in the code of encoded polylines: per value, its zig-zag form (0, −1, 1, −2 … ↦ 0, 1, 2, 3 …) in
    5-bit groups, lowest first, each group plus 63 and plus 32 when another group follows. Returns the characters
    (``uint8``, one array for all values) and how many each value takes."""
    return _varints(np.ascontiguousarray(values, dtype=np.int64))


@njit(cache=True)
def _rings(xy, part_sizes, part_rings):
    sizes = np.empty(part_rings.sum(), dtype=np.int64)
    r = 0
    at = 0
    for p in range(len(part_sizes)):
        end = at + part_sizes[p]
        for _ in range(part_rings[p]):
            if at >= end:
                return sizes, False
            k = at + 1
            while k < end and not (xy[k, 0] == xy[at, 0] and xy[k, 1] == xy[at, 1]):
                k += 1
            if k >= end:
                return sizes, False
            sizes[r] = k + 1 - at
            r += 1
            at = k + 1
        if at != end:
            return sizes, False
    return sizes, True


def ring_sizes(xy: np.ndarray, part_sizes: np.ndarray, part_rings: np.ndarray) -> np.ndarray | None:
    """The size of every ring of polygons given only as their coordinates, or None where it is not clear.

    Polygon ``p`` has ``part_sizes[p]`` vertices (``xy``, polygon after polygon) in ``part_rings[p]`` closed rings,
    one after another. A ring of a valid polygon is simple: it ends at the first vertex after its start equal to
    its start. The rings found so must be as many as ``part_rings`` says and fill each polygon exactly; when they
    do not (a ring touching itself at its start: an invalid polygon), the answer is None.
    """
    sizes, ok = _rings(np.ascontiguousarray(xy, dtype=np.float64), np.asarray(part_sizes, dtype=np.int64),
                       np.asarray(part_rings, dtype=np.int64))
    return sizes if ok else None
