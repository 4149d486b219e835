"""GCJ-02 / BD-09: the vectorised transforms against a scalar restatement of the published formulas, and round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.io.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalise_system,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

M_PER_DEG = 111_320.0


def _ref_gcj(lon: float, lat: float) -> tuple[float, float]:
    """The published WGS84 → GCJ-02 formula, written out again with scalar `math` as an independent reference."""
    if not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lon, lat
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    t = (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
    d_lat = -100 + 2 * x + 3 * y + 0.2 * y**2 + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + t
    d_lat += (20 * math.sin(y * math.pi) + 40 * math.sin(y / 3 * math.pi)) * 2 / 3
    d_lat += (160 * math.sin(y / 12 * math.pi) + 320 * math.sin(y * math.pi / 30)) * 2 / 3
    d_lon = 300 + x + 2 * y + 0.1 * x**2 + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + t
    d_lon += (20 * math.sin(x * math.pi) + 40 * math.sin(x / 3 * math.pi)) * 2 / 3
    d_lon += (150 * math.sin(x / 12 * math.pi) + 300 * math.sin(x / 30 * math.pi)) * 2 / 3
    rad = lat / 180 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    d_lat = d_lat * 180 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    d_lon = d_lon * 180 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def _ref_bd(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 → BD-09 formula, scalar."""
    x_pi = math.pi * 3000 / 180
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


# places across China plus one outside (Paris), where GCJ-02 equals WGS84
PLACES = [(116.3912, 39.9073), (120.8944, 31.9802), (114.2085, 22.6873), (121.4737, 31.2304), (87.6168, 43.8256), (2.3522, 48.8566)]


@pytest.mark.parametrize(("lon", "lat"), PLACES)
def test_forward_matches_scalar_reference(lon, lat):
    """The vectorised forward transforms equal the scalar restatement to 1e-12 degrees."""
    g = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    assert (g[0][0], g[1][0]) == pytest.approx(_ref_gcj(lon, lat), abs=1e-12)
    b = gcj02_to_bd09(g[0], g[1])
    assert (b[0][0], b[1][0]) == pytest.approx(_ref_bd(*_ref_gcj(lon, lat)), abs=1e-12)


def test_offset_size_in_beijing_and_none_abroad():
    """Inside China GCJ-02 moves a point by a few hundred metres; outside it does not move it at all."""
    (glon,), (glat,) = wgs84_to_gcj02([116.3912], [39.9073])
    shift = math.hypot((glon - 116.3912) * M_PER_DEG * math.cos(math.radians(39.9)), (glat - 39.9073) * M_PER_DEG)
    assert 300 < shift < 700
    (plon,), (plat,) = wgs84_to_gcj02([2.3522], [48.8566])
    assert (plon, plat) == (2.3522, 48.8566)


@settings(max_examples=300, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_gcj_round_trip_within_a_centimetre(lon, lat):
    """gcj02_to_wgs84 inverts wgs84_to_gcj02 to < 0.01 m anywhere in China."""
    g = wgs84_to_gcj02([lon], [lat])
    w = gcj02_to_wgs84(*g)
    err_m = math.hypot((w[0][0] - lon) * M_PER_DEG * math.cos(math.radians(lat)), (w[1][0] - lat) * M_PER_DEG)
    assert err_m < 0.01


@settings(max_examples=300, deadline=None)
@given(st.floats(73.0, 135.0), st.floats(18.0, 53.0))
def test_bd_round_trip_within_a_centimetre(lon, lat):
    """bd09_to_wgs84 inverts wgs84_to_bd09, and bd09_to_gcj02 inverts gcj02_to_bd09, to < 0.01 m."""
    b = wgs84_to_bd09([lon], [lat])
    w = bd09_to_wgs84(*b)
    assert math.hypot((w[0][0] - lon) * M_PER_DEG, (w[1][0] - lat) * M_PER_DEG) < 0.01
    g = bd09_to_gcj02(*gcj02_to_bd09([lon], [lat]))
    assert math.hypot((g[0][0] - lon) * M_PER_DEG, (g[1][0] - lat) * M_PER_DEG) < 0.01


def test_vectorised_over_many_points():
    """One call converts many points, each exactly as a single-point call does."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(100, 125, 2000)
    lat = rng.uniform(20, 45, 2000)
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.max(np.hypot(wlon - lon, wlat - lat)) * M_PER_DEG < 0.01
    assert (glon[5], glat[5]) == pytest.approx(_ref_gcj(lon[5], lat[5]), abs=1e-12)


@pytest.mark.parametrize(("name", "norm"), [("gcj-02", "GCJ02"), ("高德", "GCJ02"), ("bd09", "BD09"), ("百度", "BD09"), ("WGS84", "EPSG:4326"), ("CGCS2000", "EPSG:4490"), ("EPSG:4549", "EPSG:4549")])
def test_system_names(name, norm):
    """Users' spellings of coordinate systems are understood."""
    assert normalise_system(name) == norm
