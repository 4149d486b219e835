"""Chinese map coordinate systems: GCJ-02 (Amap/Tencent) and BD-09 (Baidu) to and from WGS84, vectorised.

GCJ-02 is WGS84 plus a published, deterministic offset of a few hundred metres inside China; BD-09 is a further
shift and rotation of GCJ-02. The forward transforms follow the published formulas; the inverses are solved
iteratively against the forward transforms until a point round-trips to within ``tol_m`` (default 1 mm), so
``forward(inverse(p)) == p`` to that tolerance everywhere the offset applies. Outside China (the usual rough
bounding box) GCJ-02 equals WGS84, as the algorithm defines.
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
    "CHINESE_SYSTEMS",
    "normalise_system",
]

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_M_PER_DEG = 111_320.0

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


def in_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True where the GCJ-02 offset applies (the rough box the published algorithm uses)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


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
    """WGS84 → GCJ-02 (degrees). Points outside China are returned unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09 (degrees)."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon: ArrayLike, lat: ArrayLike, start, tol_m: float, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(x) = target by fixed-point iteration x ← x − (forward(x) − target)."""
    tlon = np.asarray(lon, dtype=float)
    tlat = np.asarray(lat, dtype=float)
    xlon, xlat = start(tlon, tlat)
    tol_deg = tol_m / _M_PER_DEG
    for _ in range(max_iter):
        flon, flat = forward(xlon, xlat)
        elon, elat = flon - tlon, flat - tlat
        if np.all(np.nan_to_num(np.maximum(np.abs(elon), np.abs(elat)), nan=0.0) < tol_deg * 0.5):
            break
        xlon = xlon - elon
        xlat = xlat - elat
    return xlon, xlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84 (degrees), exact to ``tol_m`` metres against :func:`wgs84_to_gcj02`."""
    return _invert(wgs84_to_gcj02, lon, lat, lambda a, b: (a.copy(), b.copy()), tol_m)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02 (degrees), exact to ``tol_m`` metres against :func:`gcj02_to_bd09`."""
    return _invert(gcj02_to_bd09, lon, lat, lambda a, b: (a - 0.0065, b - 0.006), tol_m)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → BD-09 (degrees)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol_m: float = 0.001) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → WGS84 (degrees), exact to ``tol_m`` metres against :func:`wgs84_to_bd09`."""
    return _invert(wgs84_to_bd09, lon, lat, lambda a, b: (a - 0.0065, b - 0.006), tol_m)
