"""Reading the walk network's sources straight into arrays: line layers (pyogrio Arrow) and OSM files (osmium).

Each reader is compared with a plain reference read of the same file: geopandas for line layers, pyosmium object
by object for OSM highway ways.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner.errors import LayerError
from planner.io.coords import gcj02_to_wgs84
from planner.io.osm import read_osm
from planner.io.readers import layer_extent_wgs84, line_arrays, read_line_arrays
from planner.network.build import build_network, network_bounds_wgs84, network_from_lines
from planner.settings import NetworkSpec

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PBF = {
    "longgang": DATA / "shenzhen_longgang_osm2019" / "longgang_osm_2019.osm.pbf",
    "haidian": DATA / "beijing_haidian_cau_osm2026" / "haidian_cau_osm_2026.osm.pbf",
    "nantong": DATA / "nantong_chongchuan_osm" / "nantong_south.osm.pbf",
}


def _mixed_lines() -> gpd.GeoDataFrame:
    """Lines, a multi-line, a 3D line, an empty and a missing geometry, a polygon; text and number columns."""
    geoms = [
        shapely.LineString([(120.80, 32.00), (120.801, 32.00), (120.801, 32.001)]),
        shapely.MultiLineString([[(120.801, 32.001), (120.802, 32.001)], [(120.80, 32.00), (120.80, 32.002)]]),
        shapely.LineString([(120.802, 32.001, 5.0), (120.803, 32.002, 6.0)]),
        shapely.LineString(),
        None,
        shapely.Polygon([(120.81, 32.01), (120.811, 32.01), (120.811, 32.011)]),
    ]
    return gpd.GeoDataFrame(
        {
            "highway": ["residential", "footway", None, "path", "path", "service"],
            "name": ["甲路", None, "丙路", "", "戊", "己"],
            "lanes": [2, 1, 3, 1, 1, 1],
            "foot": [None, "yes", None, None, None, "no"],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def _reference_parts(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    parts = gdf.explode(index_parts=False)
    parts = parts[~parts.geometry.isna()]
    parts = parts[~parts.geometry.is_empty & (parts.geom_type == "LineString")]
    return shapely.get_coordinates(parts.geometry.to_numpy()), parts.index.to_numpy()


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_read_line_arrays_matches_geopandas(tmp_path, suffix):
    gdf = _mixed_lines()
    path = tmp_path / f"roads{suffix}"
    gdf.to_file(path)
    arrays = read_line_arrays(path, columns=["highway", "name", "missing_column"])
    ref = gpd.read_file(path)
    coords, rows = _reference_parts(ref)
    np.testing.assert_array_equal(np.column_stack([arrays.x, arrays.y]), coords)
    np.testing.assert_array_equal(arrays.row, rows)
    assert arrays.n_rows == len(ref) and arrays.crs.to_epsg() == 4326
    assert set(arrays.columns) == {"highway", "name"}  # a missing column is skipped, unasked ones not read
    for col in ("highway", "name"):
        got = pd.Series(arrays.columns[col], dtype=object)
        want = ref[col].astype(object)
        assert got.isna().tolist() == want.isna().tolist()
        assert got.dropna().tolist() == want.dropna().tolist()
    # the in-memory frame gives the same arrays
    mem = line_arrays(ref)
    np.testing.assert_array_equal(mem.x, arrays.x)
    np.testing.assert_array_equal(mem.offsets, arrays.offsets)


def test_read_line_arrays_converts_declared_gcj02(tmp_path):
    gdf = _mixed_lines()
    path = tmp_path / "roads.gpkg"
    gdf.to_file(path)
    arrays = read_line_arrays(path, crs="GCJ02")
    coords, _ = _reference_parts(gdf)
    lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
    np.testing.assert_array_equal(arrays.x, lon)
    np.testing.assert_array_equal(arrays.y, lat)
    assert arrays.crs.to_epsg() == 4326


def test_read_line_arrays_errors_are_clear(tmp_path):
    with pytest.raises(LayerError, match="file not found"):
        read_line_arrays(tmp_path / "nothing.gpkg")
    bad = tmp_path / "bad.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(LayerError, match="cannot read"):
        read_line_arrays(bad)
    shp = tmp_path / "nocrs.shp"
    _mixed_lines().iloc[[0, 2]].to_file(shp)
    shp.with_suffix(".prj").unlink()  # a shapefile without its .prj has no CRS
    with pytest.raises(LayerError, match="has no CRS"):
        read_line_arrays(shp)
    assert read_line_arrays(shp, crs="EPSG:4326").crs.to_epsg() == 4326


def test_lines_network_from_file_equals_network_from_frame(tmp_path):
    """build_network on a file (Arrow reader, arrays) = network_from_lines on the frame read by geopandas."""
    gdf = _mixed_lines()
    path = tmp_path / "roads.gpkg"
    gdf.to_file(path)
    crs = "EPSG:4549"
    net = build_network(NetworkSpec(path=path, kind="lines"), crs)
    ref = network_from_lines(gpd.read_file(path).to_crs(crs))
    pd.testing.assert_frame_equal(net.nodes, ref.nodes)
    pd.testing.assert_frame_equal(net.edges, ref.edges)
    # foot=yes lets the footway in, the line without a highway tag is walkable (no excluded value), foot=no is not
    assert set(net.edges["name"]) == {"甲路", "", "丙路"}


def test_extent_from_metadata_matches_the_coordinates(tmp_path):
    gdf = _mixed_lines()
    path = tmp_path / "roads.gpkg"
    gdf.to_file(path)
    spec = NetworkSpec(path=path, kind="lines")
    exact = network_bounds_wgs84(spec)  # of the lines (the polygon is no part of a network)
    coords, _ = _reference_parts(gdf)
    np.testing.assert_array_equal(exact, [*coords.min(axis=0), *coords.max(axis=0)])
    cheap = network_bounds_wgs84(spec, exact=False)  # the file's extent: every shape
    np.testing.assert_allclose(cheap, gdf.total_bounds, atol=1e-6)
    assert layer_extent_wgs84(path, crs="GCJ02") is None  # declared Chinese systems take the exact path
    projected = tmp_path / "projected.gpkg"
    gdf.to_crs("EPSG:4549").to_file(projected)
    box = layer_extent_wgs84(projected)
    assert box[0] <= cheap[0] + 1e-9 and box[2] >= cheap[2] - 1e-9 and np.allclose(box, cheap, atol=1e-3)


# ---- OSM ----------------------------------------------------------------------------------------------------------


def _pyosmium_highways(path: Path) -> dict[int, tuple[list[int], list[float], list[float], dict[str, str]]]:
    import osmium

    out = {}
    for obj in osmium.FileProcessor(str(path)).with_locations():
        if obj.is_way() and "highway" in obj.tags:
            nodes = [n for n in obj.nodes if n.location.valid()]
            if len(nodes) >= 2:
                out[obj.id] = (
                    [n.ref for n in nodes],
                    [n.location.lon for n in nodes],
                    [n.location.lat for n in nodes],
                    {k: v for k, v in obj.tags},
                )
    return out


@pytest.mark.parametrize("name", sorted(PBF))
def test_osm_highways_as_arrays(name):
    path = PBF[name]
    if not path.exists():
        pytest.skip(f"{path} not found")
    ways = read_osm(path).ways
    ref = _pyosmium_highways(path)
    assert ways.osm_id.tolist() == list(ref)
    for w, (refs, lon, lat, tags) in enumerate(ref.values()):
        s = slice(ways.offsets[w], ways.offsets[w + 1])
        assert ways.refs[s].tolist() == refs
        assert ways.lon[s].tolist() == lon and ways.lat[s].tolist() == lat
        for key, values in ways.tags.items():
            assert values[w] == tags.get(key, ""), (ways.osm_id[w], key)
