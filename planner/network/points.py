"""Point layers for the engine: shapely geometries → coordinate arrays, snapped onto the walk network.

The reach engine takes plain coordinates; this is the one adapter from geometries (GeoSeries, arrays of shapely
Points) to them, so that the engine itself needs no geometry library.
"""

from __future__ import annotations

import numpy as np
import shapely

from planner.engine.snap import Snapped, snap_points
from planner.engine.streets import HasStreets, StreetArrays

__all__ = ["point_xy", "snap_geometries"]


def point_xy(points) -> np.ndarray:
    """An (n, 2) float array of the x, y of ``points`` (shapely Points); NaN for missing or empty points.

    An (n, 2) numeric array is returned as float64 unchanged.
    """
    arr = np.asarray(points)
    if arr.dtype != object:
        return arr.reshape(-1, 2).astype(np.float64)
    return np.column_stack([shapely.get_x(arr), shapely.get_y(arr)]).astype(np.float64).reshape(-1, 2)


def snap_geometries(network: HasStreets | StreetArrays, points, *, max_snap_m: float) -> Snapped:
    """:func:`planner.engine.snap.snap_points` for shapely Points (or coordinates), in the network CRS (metres)."""
    return snap_points(network, point_xy(points), max_snap_m=max_snap_m)
