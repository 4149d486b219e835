"""GCJ-02 / BD-09: the vectorised transforms against a scalar restatement of the published formulas, round trips exact
to < 1 mm over the whole China box and at its edges (geodesic distance), the bands at the edges, and the readers
rejecting rows outside China (``outside_china``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Geod

from planner.cli import main
from planner.io.coords import (
    bd09_in_china,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_in_china,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china,
    normalise_system,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from planner.io.layers import load_facilities, load_zones
from planner.settings import LayerSpec

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


# --- exact everywhere the conversion applies: the whole box, its edges, and the bands the offset makes there ---

GEOD = Geod(ellps="WGS84")
WEST, EAST, SOUTH, NORTH = 72.004, 137.8347, 0.8293, 55.8271  # the box of the published algorithm
FORWARD = {"GCJ02": wgs84_to_gcj02, "BD09": wgs84_to_bd09}


def _geodesic_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def _edge_point(edge: str, along: float, depth: float) -> tuple[float, float]:
    """A point ``depth`` degrees inside the box from ``edge``, ``along`` (0–1) of the way along it."""
    if edge in ("west", "east"):
        lat = SOUTH + along * (NORTH - SOUTH)
        return (WEST + depth if edge == "west" else EAST - depth), lat
    lon = WEST + along * (EAST - WEST)
    return lon, (SOUTH + depth if edge == "south" else NORTH - depth)


box_points = st.tuples(st.floats(WEST, EAST), st.floats(SOUTH, NORTH))
# a thin band along each edge, the edge itself included (depth 0), as wide as the offset and more
edge_points = st.builds(
    _edge_point, st.sampled_from(["west", "east", "south", "north"]), st.floats(0.0, 1.0), st.floats(0.0, 0.02)
)


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
@settings(max_examples=400, deadline=None)
@given(point=st.one_of(box_points, edge_points))
def test_round_trip_exact_over_the_box_and_its_edges(system, point):
    """WGS84 → GCJ-02/BD-09 → WGS84 comes back within 1 mm (geodesic) for every point of the box, its edges too,
    and the point is read as in China."""
    lon, lat = point
    q = FORWARD[system]([lon], [lat])
    wlon, wlat, inside = to_wgs84(system, *q)
    assert inside[0]
    assert _geodesic_m(lon, lat, wlon[0], wlat[0]) < 0.001


near_box = st.tuples(st.floats(WEST - 0.05, EAST + 0.05), st.floats(SOUTH - 0.05, NORTH + 0.05))
near_edges = st.builds(
    _edge_point, st.sampled_from(["west", "east", "south", "north"]), st.floats(0.0, 1.0), st.floats(-0.02, 0.02)
)


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
@settings(max_examples=400, deadline=None)
@given(point=st.one_of(near_box, near_edges))
def test_inverse_is_exact_where_applied_and_identity_elsewhere(system, point):
    """For any GCJ-02/BD-09 point: where it is read as in China, its WGS84 point lies in the box and maps back onto it
    within 1 mm; where not, it is returned unchanged, and a point outside the box is indeed its own image."""
    lon, lat = point
    wlon, wlat, inside = to_wgs84(system, [lon], [lat])
    if inside[0]:
        assert in_china(wlon, wlat)[0] or _geodesic_m(wlon[0], wlat[0], np.clip(wlon[0], WEST, EAST), np.clip(wlat[0], SOUTH, NORTH)) < 1e-3
        flon, flat = FORWARD[system](np.clip(wlon, WEST, EAST), np.clip(wlat, SOUTH, NORTH))
        assert _geodesic_m(lon, lat, flon[0], flat[0]) < 0.001
    else:
        assert (wlon[0], wlat[0]) == (lon, lat)
        if not in_china([lon], [lat])[0]:
            assert tuple(v[0] for v in FORWARD[system]([lon], [lat])) == (lon, lat)


def test_the_reported_edge_failures_are_gone():
    """The issue's figures: 514 m off at 137.83° E and 207 m at 55.83° N before; now < 1 mm on the edge itself."""
    lon = np.array([137.83, 137.8347, 120.0, 120.0, 72.004, 110.0])
    lat = np.array([35.0, 35.0, 55.82, 55.8271, 40.0, 0.8293])
    for system, forward in FORWARD.items():
        wlon, wlat, inside = to_wgs84(system, *forward(lon, lat))
        assert inside.all()
        assert _geodesic_m(lon, lat, wlon, wlat).max() < 0.001


def test_the_bands_at_the_edges():
    """East of the east edge the offset pushes images out of the box: a point there is read as the shifted point
    inside (data declared GCJ-02 comes from a Chinese map). Just inside the west edge the offset pushes points away:
    a point there is the image of no point in China, and is not in China (returned unchanged)."""
    (glon,), (glat,) = wgs84_to_gcj02([EAST - 1e-6], [35.0])
    assert glon > EAST  # the image of a point inside lies outside the box
    (wlon,), (wlat,), (inside,) = to_wgs84("GCJ02", [glon], [glat])
    assert inside and wlon <= EAST and _geodesic_m(EAST - 1e-6, 35.0, wlon, wlat) < 0.001
    # 72.005° E is inside the box, but every point of the box near it maps ~470 m east of it
    assert in_china([72.005], [40.0])[0]
    (wlon,), (wlat,), (inside,) = to_wgs84("GCJ02", [72.005], [40.0])
    assert not inside and (wlon, wlat) == (72.005, 40.0)
    assert not gcj02_in_china([72.005], [40.0])[0]


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [(2.3522, 48.8566, False), (-74.006, 40.7128, False), (151.2093, -33.8688, False), (139.6917, 35.6895, False),
     (126.978, 37.5665, True), (116.3912, 39.9073, True)],  # Seoul is inside the box Amap and Baidu use: documented
)
def test_in_china_follows_the_box_the_offset_uses(lon, lat, inside):
    """Paris, New York, Sydney and Tokyo are outside; Seoul is inside the (crude) box the offset itself follows."""
    for system, forward in FORWARD.items():
        q = forward([lon], [lat])
        assert to_wgs84(system, *q)[2][0] == inside
    if not inside:  # outside, a WGS84 point is its own GCJ-02/BD-09 point, and that point is not in China
        assert not gcj02_in_china([lon], [lat])[0] and not bd09_in_china([lon], [lat])[0]
    assert bd09_in_china(*wgs84_to_bd09([lon], [lat]))[0] == inside


def test_bd09_outside_china_is_wgs84():
    """Baidu's maps use WGS84 outside China: the forward transform is the identity there, like GCJ-02's."""
    assert tuple(v[0] for v in wgs84_to_bd09([2.3522], [48.8566])) == (2.3522, 48.8566)
    assert tuple(v[0] for v in bd09_to_wgs84([2.3522], [48.8566])) == (2.3522, 48.8566)


def test_missing_values_stay_missing():
    """NaN in, NaN out, never in China; other points of the same call unaffected; shapes kept."""
    lon, lat, inside = to_wgs84("GCJ02", np.array([[np.nan, 116.4]]), np.array([[39.9, np.nan]]))
    assert lon.shape == (1, 2) and np.isnan(lon[0, 0]) and not inside.any()
    assert gcj02_to_wgs84(np.array([np.inf]), np.array([39.9]))[0][0] == np.inf
    with pytest.raises(ValueError, match="GCJ02"):
        to_wgs84("EPSG:4326", [1.0], [2.0])


# --- the readers: rows and features outside China declared GCJ-02/BD-09 are rejected, with that reason ---

BEIJING = (116.3912, 39.9073)


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
def test_table_rows_outside_china_rejected(system, tmp_path: Path):
    """A CSV declared GCJ-02/BD-09: the row in Beijing is kept at its exact WGS84 point; Paris, a point just inside
    the box's west edge that no point of China maps to, and Seoul-in-the-box are told apart; other problems keep
    their own reason."""
    glon, glat = FORWARD[system]([BEIJING[0]], [BEIJING[1]])
    rows = [
        ("F1", "北京便利店", "便利店", f"{glon[0]:.10f}", f"{glat[0]:.10f}"),
        ("F2", "巴黎药店", "药店", "2.3522", "48.8566"),
        ("F3", "边缘超市", "超市", "72.005", "40.0"),
        ("F4", "首尔便利店", "便利店", "126.978", "37.5665"),
        ("F5", "填反药店", "药店", "39.9", "116.39"),
        ("F6", "超范围药店", "药店", "200.0", "39.9"),
    ]
    path = tmp_path / "f.csv"
    pd.DataFrame(rows, columns=["编号", "名称", "类别", "经度", "纬度"]).to_csv(path, index=False)
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs=system), CRS.from_epsg(4548))
    assert layer.rows_read == 6 and len(layer.data) + len(layer.rejected) == 6
    reasons = dict(zip(layer.rejected["id"], layer.rejected["reason_code"], strict=True))
    assert reasons == {"F2": "outside_china", "F3": "outside_china", "F5": "swapped_coordinates", "F6": "out_of_range"}
    assert sorted(layer.data.index) == ["F1", "F4"]
    kept = layer.data.to_crs(4326)
    assert _geodesic_m(kept.loc["F1"].geometry.x, kept.loc["F1"].geometry.y, *BEIJING) < 0.001
    paris = layer.rejected.set_index("id").loc["F2"]
    assert "经度 = 2.3522" in paris["reason"] and system in paris["reason"] and paris["row"] == 3  # the line in a text editor: header on line 1, F1 on 2
    assert json.loads(paris["attributes"])["经度"] == "2.3522"  # as written


@pytest.mark.parametrize("system", ["GCJ02", "BD09"])
def test_vector_features_outside_china_rejected(system, tmp_path: Path):
    """A GeoJSON of 街道 declared GCJ-02/BD-09: a polygon in Beijing is converted vertex by vertex (each within 1 mm);
    one in Paris, and one with a single vertex outside China, are rejected whole (outside_china) with the count."""
    square = np.array([[0, 0], [0.01, 0], [0.01, 0.01], [0, 0.01], [0, 0]])
    truth = square + BEIJING
    shifted = np.column_stack(FORWARD[system](truth[:, 0], truth[:, 1]))
    paris = square + (2.35, 48.85)
    straddling = np.column_stack(FORWARD[system](truth[:, 0], truth[:, 1]))
    straddling[2] = (2.35, 48.85)
    gdf = gpd.GeoDataFrame(
        {"编号": ["Z1", "Z2", "Z3"], "名称": ["北京街道", "巴黎", "跨界"]},
        geometry=[shapely.Polygon(shifted), shapely.Polygon(paris), shapely.Polygon(straddling)],
        crs="EPSG:4326",  # what a GeoJSON always says, though its numbers are GCJ-02: the declared crs wins
    )
    path = tmp_path / "zones.geojson"
    gdf.to_file(path, driver="GeoJSON")
    layer = load_zones(LayerSpec(kind="zones", path=path, crs=system), CRS.from_epsg(4548))
    assert list(layer.data.index) == ["Z1"]
    rej = layer.rejected.set_index("id")
    assert set(rej["reason_code"]) == {"outside_china"}
    assert "5/5" in rej.loc["Z2", "reason"] and "1/5" in rej.loc["Z3", "reason"]
    got = shapely.get_coordinates(layer.data.to_crs(4326).geometry.iloc[0])
    assert _geodesic_m(got[:, 0], got[:, 1], truth[:, 0], truth[:, 1]).max() < 0.001


def test_wkt_table_outside_china(tmp_path: Path):
    """A table of WKT shapes declared GCJ-02: a blank row keeps its own reason, a shape in Paris is outside China."""
    g = wgs84_to_gcj02([BEIJING[0]], [BEIJING[1]])
    path = tmp_path / "f.csv"
    pd.DataFrame(
        {"编号": ["A", "B", "C"], "类别": ["药店"] * 3, "wkt": [f"POINT ({g[0][0]} {g[1][0]})", "", "POINT (2.35 48.85)"]}
    ).to_csv(path, index=False)
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs="GCJ02"), CRS.from_epsg(4548))
    assert dict(zip(layer.rejected["id"], layer.rejected["reason_code"], strict=True)) == {"B": "missing_coordinates", "C": "outside_china"}
    assert list(layer.data.index) == ["A"]


def test_check_layer_shows_the_rejection(tmp_path: Path, capsys):
    """`planner check-layer` on a small GCJ-02 CSV with a row in Paris: the row is counted under outside_china
    and written to rejected.csv with the bilingual reason."""
    g = wgs84_to_gcj02([BEIJING[0]], [BEIJING[1]])
    path = tmp_path / "设施.csv"
    path.write_text(f"名称,类别,经度,纬度\n北京便利店,便利店,{g[0][0]:.8f},{g[1][0]:.8f}\n巴黎药店,药店,2.3522,48.8566\n", encoding="utf-8")
    out = tmp_path / "checked"
    assert main(["check-layer", str(path), "--kind", "facilities", "--crs", "GCJ02", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "读取 2 行，保留 1 行，拒收 1 行" in printed and "outside_china: 1" in printed
    rejected = pd.read_csv(out / "rejected.csv", encoding="utf-8-sig")
    assert list(rejected["reason_code"]) == ["outside_china"] and list(rejected["name"]) == ["巴黎药店"]
    assert "不在中国境内" in rejected["reason"][0] and "outside China" in rejected["reason"][0]
