"""Compiled geometry kernels for display geometry at city scale (numba): polyline lengths and distance fields.

* :func:`polyline_lengths` — the length of each polyline of a flat vertex array, summed segment after segment
  exactly as GEOS does (``sqrt(dx * dx + dy * dy)`` added in vertex order from 0), so a total built from it
  equals one built from ``shapely.length`` of the same LineStrings, bit for bit.
* :func:`segment_distance_field` — the distance from the corners of a regular grid to the nearest of many
  segments, each segment setting only the corners within ``reach`` of its bounding box: the work grows with the
  segments, not with the grid. The arithmetic is that of the former numpy version (float64, rounded to float32
  once), so the field — and any contour of it — is the same.

Both release the GIL.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["polyline_lengths", "segment_distance_field"]


@njit(cache=True, nogil=True)
def _polyline_lengths(coords, starts, ends):
    out = np.zeros(starts.shape[0])
    for i in range(starts.shape[0]):
        total = 0.0
        for k in range(starts[i] + 1, ends[i]):
            dx = coords[k, 0] - coords[k - 1, 0]
            dy = coords[k, 1] - coords[k - 1, 1]
            total += math.sqrt(dx * dx + dy * dy)
        out[i] = total
    return out


def polyline_lengths(coords: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Length of each polyline ``coords[starts[i]:ends[i]]`` (float64, GEOS summation order)."""
    coords = np.ascontiguousarray(coords, dtype=np.float64)
    return _polyline_lengths(coords, np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64))


@njit(cache=True, nogil=True, inline="always")
def _stamp(field, sax, say, sbx, sby, x0, y0, cell, nx, ny, reach):
    i0 = max(int(math.floor((min(sax, sbx) - reach - x0) / cell)), 0)
    i1 = min(int(math.ceil((max(sax, sbx) + reach - x0) / cell)), nx - 1)
    j0 = max(int(math.floor((min(say, sby) - reach - y0) / cell)), 0)
    j1 = min(int(math.ceil((max(say, sby) + reach - y0) / cell)), ny - 1)
    dx, dy = sbx - sax, sby - say
    l2 = dx * dx + dy * dy
    for jj in range(j0, j1 + 1):
        py = y0 + jj * cell - say
        row = jj * nx
        for ii in range(i0, i1 + 1):
            px = x0 + ii * cell - sax
            t = 0.0
            if l2 > 0:
                t = min(max((px * dx + py * dy) / l2, 0.0), 1.0)
            qx, qy = px - t * dx, py - t * dy
            cur = np.float64(field[row + ii])
            if qx * qx + qy * qy > cur * cur * (1.0 + 1e-6):
                continue  # clearly farther than the distance already there: skip the (slow) hypot, same result
            d = np.float32(math.hypot(qx, qy))
            if d < field[row + ii]:
                field[row + ii] = d


@njit(cache=True, nogil=True)
def _segment_field(coords, offsets, x0, y0, cell, nx, ny, reach, fill):
    field = np.full(nx * ny, fill, dtype=np.float32)
    for p in range(offsets.shape[0] - 1):
        a, b = offsets[p], offsets[p + 1]
        if b - a == 1:
            _stamp(field, coords[a, 0], coords[a, 1], coords[a, 0], coords[a, 1], x0, y0, cell, nx, ny, reach)
        for k in range(a, b - 1):
            _stamp(field, coords[k, 0], coords[k, 1], coords[k + 1, 0], coords[k + 1, 1], x0, y0, cell, nx, ny, reach)
    return field


def segment_distance_field(coords: np.ndarray, offsets: np.ndarray, origin, cell: float, shape: tuple[int, int], *,
                           reach: float, fill: float) -> np.ndarray:
    """Distance (float32, ``shape`` = ``(ny, nx)``) from each corner of a grid to the nearest polyline.

    Polyline ``p`` is ``coords[offsets[p]:offsets[p + 1]]`` (one vertex: a point). Corner ``(j, i)`` lies at
    ``origin + (i, j) * cell``. Each segment sets the corners of its bounding box widened by ``reach``; corners
    no segment sets keep ``fill``.
    """
    ny, nx = (int(n) for n in shape)
    field = _segment_field(np.ascontiguousarray(coords, dtype=np.float64), np.asarray(offsets, dtype=np.int64),
                           float(origin[0]), float(origin[1]), float(cell), nx, ny, float(reach), np.float32(fill))
    return field.reshape(ny, nx)
