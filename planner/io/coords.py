"""Chinese map coordinate systems: GCJ-02 (Amap/Tencent) and BD-09 (Baidu) to and from WGS84, vectorised.

GCJ-02 is WGS84 plus a published, deterministic offset of a few hundred metres inside China; BD-09 is a further
shift and rotation of GCJ-02. Amap and Baidu apply the offset only inside the rough box of China the published
algorithm uses (:func:`in_china`); outside it both are plain WGS84 (Baidu's own documentation: overseas its maps
use WGS84). So the forward transforms are the identity outside the box, and jump by a few hundred metres at its
edge.

The inverses are defined by that rule and exact wherever they are applied:

* the WGS84 point of a GCJ-02/BD-09 point ``q`` is the point ``p`` *inside the box* whose forward image is ``q``;
  it is solved by fixed-point iteration on the offset formula without the box (a contraction: its Jacobian is
  below 0.01), to the last bits of a double, so ``forward(inverse(q)) == q`` and ``inverse(forward(p)) == p``
  to well under 1 mm for every ``p`` in the box, including its edges;
* ``q`` is *in China* when that ``p`` exists (:func:`gcj02_in_china`, :func:`bd09_in_china`, or the mask of
  :func:`to_wgs84`). Otherwise ``q`` is returned unchanged (outside the box GCJ-02 = BD-09 = WGS84), and a reader
  rejects the row (``outside_china``): a point declared GCJ-02/BD-09 outside China is a mistake in the data.
* Near the box's edges the offset makes two thin bands (as wide as the offset there, a few hundred metres, all
  at sea or outside China — China itself lies ≥ 1.4° inside every edge): just outside an edge that the offset
  pushes points across, a point has two WGS84 readings (itself, unshifted, and a shifted point inside); it is read
  as the point inside, since data declared GCJ-02/BD-09 comes from a Chinese map. Just inside an edge that the
  offset pushes points away from, a point is the image of no point at all; it is not in China.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "in_china",
    "gcj02_in_china",
    "bd09_in_china",
    "to_wgs84",
    "CHINESE_SYSTEMS",
    "normalise_system",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0

CHINESE_SYSTEMS = {"GCJ02", "BD09"}
_ALIASES = {
    "GCJ02": "GCJ02", "GCJ-02": "GCJ02", "GCJ": "GCJ02", "AMAP": "GCJ02", "高德": "GCJ02", "火星坐标": "GCJ02", "腾讯": "GCJ02",
    "BD09": "BD09", "BD-09": "BD09", "BD09LL": "BD09", "BAIDU": "BD09", "百度": "BD09",
    "WGS84": "EPSG:4326", "WGS-84": "EPSG:4326", "GPS": "EPSG:4326",
    "CGCS2000": "EPSG:4490", "国家2000": "EPSG:4490",
}


def normalise_system(name: str) -> str:
    """``"GCJ02"``, ``"BD09"`` or a CRS string pyproj understands, from a user's spelling of a coordinate system."""
    key = str(name).strip()
    return _ALIASES.get(key.upper(), _ALIASES.get(key, key))


# the rough box of China the published algorithm (and so Amap and Baidu) offsets: west, east, south, north (degrees).
# It is crude (Seoul, Osaka, Hanoi and Singapore are inside it), but it is the box the offset follows, so "in
# China" for a GCJ-02/BD-09 point follows it too: a finer outline would make conversion and rejection disagree.
_BOX = (72.004, 137.8347, 0.8293, 55.8271)


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a WGS84 point gets the GCJ-02 offset (the rough box of China the published algorithm uses)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= _BOX[0]) & (lon <= _BOX[1]) & (lat >= _BOX[2]) & (lat <= _BOX[3])


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    smagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * smagic) * np.pi)
    dlon = dlon * 180.0 / (_A / smagic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02 (degrees). Points outside China (:func:`in_china`) are returned unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    glon, glat = _gcj_unboxed(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, glon, lon), np.where(inside, glat, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (degrees): the published shift and rotation, applied to any point."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09 (degrees). Points outside China (:func:`in_china`) are returned unchanged (Baidu uses WGS84 there)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    blon, blat = _bd_unboxed(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, blon, lon), np.where(inside, blat, lat)


def _gcj_unboxed(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset formula applied everywhere (no box): smooth, so its inverse is well defined."""
    dlon, dlat = _offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_unboxed(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*_gcj_unboxed(lon, lat))


# a solution this close outside the box (degrees, ~0.1 mm) still counts as inside: a point on the edge itself
# must survive the rounding of its round trip
_EDGE_TOL_DEG = 1e-9
_STEP_TOL_DEG = 1e-11  # a point is solved when its last step is below this (~1 µm; the error left is 100× smaller)
_MAX_ITER = 60


def _solve(forward, tlon: np.ndarray, tlat: np.ndarray, slon: np.ndarray, slat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Solve ``forward(x) = target`` by the fixed-point iteration ``x ← x − (forward(x) − target)``, and say where it converged.

    ``forward`` is a smooth near-identity (the formulas without the box) whose Jacobian is below 0.01 off the
    meridian 105° E, so each step shrinks the error a hundredfold: once a step is below :data:`_STEP_TOL_DEG` the
    error left is below 1e-13° (~0.01 µm). Points still moving are iterated alone. Points with no finite solution
    (NaN input, or far from China where the formula means nothing) are reported as not converged.
    """
    xlon, xlat = slon.astype(float), slat.astype(float)
    converged = np.zeros(len(tlon), dtype=bool)
    active = np.flatnonzero(np.isfinite(tlon) & np.isfinite(tlat))
    with np.errstate(all="ignore"):
        for _ in range(_MAX_ITER):
            if not len(active):
                break
            flon, flat = forward(xlon[active], xlat[active])
            dlon, dlat = flon - tlon[active], flat - tlat[active]
            xlon[active] -= dlon
            xlat[active] -= dlat
            step = np.abs(dlon) + np.abs(dlat)
            done = step <= _STEP_TOL_DEG
            converged[active[done]] = True
            active = active[~done & np.isfinite(step)]
    return xlon, xlat, converged


def _to_wgs84(forward, lon: ArrayLike, lat: ArrayLike, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    shape = np.broadcast(tlon, tlat).shape
    tlon, tlat = np.broadcast_to(tlon, shape).ravel(), np.broadcast_to(tlat, shape).ravel()
    plon, plat, converged = _solve(forward, tlon, tlat, tlon - shift[0], tlat - shift[1])
    with np.errstate(all="ignore"):
        inside = (
            converged
            & (plon >= _BOX[0] - _EDGE_TOL_DEG) & (plon <= _BOX[1] + _EDGE_TOL_DEG)
            & (plat >= _BOX[2] - _EDGE_TOL_DEG) & (plat <= _BOX[3] + _EDGE_TOL_DEG)
        )
    out_lon = np.where(inside, plon, tlon).reshape(shape)
    out_lat = np.where(inside, plat, tlat).reshape(shape)
    return out_lon, out_lat, inside.reshape(shape)


def to_wgs84(system: str, lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GCJ-02 or BD-09 (``system`` = ``"GCJ02"``/``"BD09"``) → WGS84, with the mask of the points in China.

    Where the mask is True the result is the WGS84 point inside China's box whose forward image is the given
    point (exact to the last bits of a double); where it is False the point is the image of no point in China
    and is returned unchanged (outside China, GCJ-02 and BD-09 are WGS84).
    """
    if system == "GCJ02":
        return _to_wgs84(_gcj_unboxed, lon, lat, (0.0, 0.0))
    if system == "BD09":
        return _to_wgs84(_bd_unboxed, lon, lat, (0.0065, 0.006))
    raise ValueError(f"not a Chinese map coordinate system: {system!r} (use 'GCJ02' or 'BD09')")


def gcj02_in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a GCJ-02 point is the image of a WGS84 point in China (so the offset applies to it)."""
    return to_wgs84("GCJ02", lon, lat)[2]


def bd09_in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where a BD-09 point is the image of a WGS84 point in China."""
    return to_wgs84("BD09", lon, lat)[2]


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 (degrees): exact inverse of :func:`wgs84_to_gcj02` in China; unchanged outside (see :func:`to_wgs84`)."""
    out_lon, out_lat, _ = to_wgs84("GCJ02", lon, lat)
    return out_lon, out_lat


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS84 (degrees): exact inverse of :func:`wgs84_to_bd09` in China; unchanged outside (see :func:`to_wgs84`)."""
    out_lon, out_lat, _ = to_wgs84("BD09", lon, lat)
    return out_lon, out_lat


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02 (degrees): the exact inverse of :func:`gcj02_to_bd09` (a smooth map, defined everywhere)."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    shape = np.broadcast(tlon, tlat).shape
    tlon, tlat = np.broadcast_to(tlon, shape).ravel(), np.broadcast_to(tlat, shape).ravel()
    glon, glat, _ = _solve(gcj02_to_bd09, tlon, tlat, tlon - 0.0065, tlat - 0.006)
    return glon.reshape(shape), glat.reshape(shape)
