"""Detect point layers whose coordinates look GCJ-02/BD-09-shifted against the walk network."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from planner.io.coords import bd09_to_wgs84, gcj02_to_wgs84, in_china
from planner.network.build import WalkNetwork
from planner.network.points import snap_geometries

__all__ = ["ShiftCheck", "check_shift"]

log = logging.getLogger(__name__)

MIN_POINTS = 8
SAMPLE = 2000  # points snapped per reading at most (evenly spaced over the layer)


@dataclass(frozen=True)
class ShiftCheck:
    """Mean distance (each capped at 500 m) from the points to the walk network: as declared, and as if
    the coordinates were GCJ-02 or BD-09."""

    layer: str
    n_points: int
    mean_as_declared_m: float
    mean_if_gcj02_m: float
    mean_if_bd09_m: float
    suggestion: str | None  # "GCJ02" / "BD09" when that reading fits the network clearly better

    def message(self) -> str:
        if not self.suggestion:
            return ""
        best = self.mean_if_gcj02_m if self.suggestion == "GCJ02" else self.mean_if_bd09_m
        return (
            f"图层 {self.layer} 按 WGS84 读取，但看起来是 {self.suggestion} 坐标：到路网的平均距离 {self.mean_as_declared_m:.0f} 米，"
            f"按 {self.suggestion} 读取则为 {best:.0f} 米。请在情景文件中为该图层写 crs = \"{self.suggestion}\" / "
            f"layer {self.layer} is read as WGS84 but looks {self.suggestion}-shifted: mean distance to the network "
            f"{self.mean_as_declared_m:.0f} m, {best:.0f} m if read as {self.suggestion}; declare crs = \"{self.suggestion}\""
        )


def check_shift(layer: str, points: gpd.GeoSeries, network: WalkNetwork) -> ShiftCheck | None:
    """Compare snapping residuals of ``points`` (a layer taken as WGS84) with their GCJ-02/BD-09 readings.

    A layer whose points sit far off the streets, but close to them once read as GCJ-02 (or BD-09),
    was almost certainly exported from Amap (or Baidu) and declared wrongly. The test is a suggestion
    when the mean residual (each capped at 500 m) drops below 0.7× and by more than 15 m.

    Limits: in a dense network (blocks well under the 300–600 m shift) a shifted point is usually near
    *some* street, so the residuals differ little and the check can stay silent; it is a safety net,
    not a replacement for declaring the layer's coordinate system. Returns None with fewer than 8
    points or outside China. A layer of more than :data:`SAMPLE` points is tested on an evenly spaced sample.
    """
    pts = points[points.notna() & ~points.is_empty]
    n_points = len(pts)
    if n_points < MIN_POINTS:
        return None
    if len(pts) > SAMPLE:  # a city's facilities: an even sample tells the shift as well, at a fixed cost
        pts = pts.iloc[np.linspace(0, len(pts) - 1, SAMPLE).round().astype(np.int64)]
    wgs = pts.to_crs(4326)
    lon, lat = shapely.get_x(wgs.to_numpy()), shapely.get_y(wgs.to_numpy())
    if not in_china(lon, lat).mean() > 0.5:
        return None

    # the three readings snapped in one call (the network's snapping index is built once)
    readings = [(lon, lat), gcj02_to_wgs84(lon, lat), bd09_to_wgs84(lon, lat)]
    g = gpd.GeoSeries(shapely.points(np.concatenate([r[0] for r in readings]), np.concatenate([r[1] for r in readings])), crs=4326)
    snapped = snap_geometries(network, g.to_crs(network.crs).to_numpy(), max_snap_m=np.inf)
    as_is, gcj, bd = (float(m) for m in np.minimum(snapped.access, 500.0).reshape(3, -1).mean(axis=1))
    suggestion = None
    best_sys, best = ("GCJ02", gcj) if gcj <= bd else ("BD09", bd)
    if best < 0.7 * as_is and as_is - best > 15.0:
        suggestion = best_sys
    check = ShiftCheck(layer, n_points, round(as_is, 1), round(gcj, 1), round(bd, 1), suggestion)
    log.info("shift check %s: %s", layer, check)
    return check
