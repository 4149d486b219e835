#!/usr/bin/env python
"""A generated province for the partitioned runs of issue #16: several e2e cities with empty land between them.

``generate_province(folder, cities=4, side=300, gap_km=10.0, seed=…)`` lays ``cities`` grid cities out on a grid of
``ceil(√cities)`` columns, each one the city ``benchmarks/e2e.py`` generates for the same side (its streets from
``e2e.grid_streets``, compounds and facilities from ``e2e.points_beside`` at e2e's densities, e2e's ~3 km 街道
squares), moved so that ``gap_km`` of empty land lies between the 街道 squares of neighbouring cities. One
``secondary`` road (one LineString, from the middle node of one city's facing edge to the middle node of the
other's) links each pair of neighbours, so the province is one connected walk network. City 0 with the default seed
is e2e's own city, moved. Written into ``folder`` (WGS84 GeoPackages, city by city, so memory stays ∝ one city):

* ``roads.gpkg``       every city's block edges, then the linking roads (named 甲市—乙市连接线);
* ``compounds.gpkg``, ``facilities.gpkg``  ids prefixed by the city's code (``C01XQ0000000``, ``C01SS0000000``),
                       names by the city's name (甲市第1小区);
* ``zones.gpkg``       街道编码 (``C01J0001``), 街道名称 (甲市东和街道) and 区县 (the city's name: 甲市, 乙市 …);
* ``cities.gpkg``      one polygon per city (the union of its 街道, buffered 500 m) with 编码 and 名称;
* ``province.toml``    e2e's city.toml with ``district = "区县"`` among the zones' columns and
                       ``[partition] zones_column = "district"``;
* ``province_layer.toml``  the same with ``[partition] layer = "cities.gpkg"``, ``id = "编码"``, ``name = "名称"``.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/province.py /tmp/province --cities 6 --side 400   # prints the counts (JSON)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from e2e import (
    BLOCK_M,
    GK_CRS,
    NODES_PER_COMPOUND,
    SEED,
    ZONE_BLOCKS,
    ZONE_CHARS_A,
    ZONE_CHARS_B,
    facility_rows,
    grid_streets,
    points_beside,
    scenario_toml,
)

__all__ = ["city_code", "city_name", "generate_province", "province_toml"]

STEMS = "甲乙丙丁戊己庚辛壬癸"
CITY_BUFFER_M = 500.0  # cities.gpkg: a city's 街道, buffered
SEED_STEP = 100  # city k draws from seed + 100 k (+1 compounds, +2 facilities, as e2e)


def city_name(k: int) -> str:
    """甲市, 乙市 … 癸市, then 甲2市 …"""
    return f"{STEMS[k % len(STEMS)]}{'' if k < len(STEMS) else k // len(STEMS) + 1}市"


def city_code(k: int) -> str:
    """C01, C02 …: the prefix of every id of city k."""
    return f"C{k + 1:02d}"


def _layout(cities: int, side: int, gap_km: float) -> tuple[int, float, list[tuple[int, int]]]:
    """Grid columns, the pitch between city origins (metres) and each city's (row, column)."""
    cols = math.ceil(math.sqrt(cities))
    extent = math.ceil(side / ZONE_BLOCKS) * ZONE_BLOCKS * BLOCK_M  # the city's 街道 squares
    return cols, extent + gap_km * 1000.0, [divmod(k, cols) for k in range(cities)]


def _write(gdf, path: Path, layer: str, first: bool) -> None:
    gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", mode="w" if first else "a")


def _ends(ii: np.ndarray, jj: np.ndarray, side: int) -> dict[str, int]:
    """The node in the middle of each side of the grid (east, west, north, south): where linking roads start."""
    mid = side // 2
    out = {}
    for key, on_side, along in (("e", jj == side - 1, ii), ("w", jj == 0, ii), ("n", ii == side - 1, jj), ("s", ii == 0, jj)):
        cand = np.flatnonzero(on_side)
        out[key] = int(cand[np.argmin(np.abs(along[cand] - mid))])  # first of the nearest: lowest row/column
    return out


def _city(k: int, side: int, offset: tuple[float, float], seed: int, folder: Path, to_wgs, first: bool) -> dict:
    """Write city k's streets, compounds, facilities and 街道 (appended to the province's layers); its counts, its
    grid-edge middle nodes (rounded WGS84, as written) and its 街道 union in metres."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    code, cname = city_code(k), city_name(k)
    x, y, u, v, row, col, (x0, y0) = grid_streets(side, seed)
    x, y, x0, y0 = x + offset[0], y + offset[1], x0 + offset[0], y0 + offset[1]
    lon, lat = to_wgs.transform(x, y)
    lon, lat = np.round(lon, 7), np.round(lat, 7)  # shared vertices stay bit-identical

    coords = np.stack([np.column_stack([lon[u], lat[u]]), np.column_stack([lon[v], lat[v]])], axis=1)
    horizontal = row[u] == row[v]
    line_no = np.where(horizontal, row[u], col[u])
    number = pd.Series(line_no + 1).astype(str)
    name = np.where(horizontal, ("纬" + number + "路").to_numpy(), ("经" + number + "路").to_numpy())
    roads = gpd.GeoDataFrame({"highway": np.where(line_no % 10 == 0, "secondary", "residential"), "name": name},
                             geometry=shapely.linestrings(coords), crs=4326)
    _write(roads, folder / "roads.gpkg", "roads", first)
    del roads, coords

    rng = np.random.default_rng(seed + 1)
    n_comp = max(1, len(x) // NODES_PER_COMPOUND)
    cx, cy = points_beside(x, y, u, v, n_comp, rng)
    pop = rng.integers(300, 3001, n_comp)
    numbers = pd.Series(np.arange(n_comp))
    compounds = gpd.GeoDataFrame(
        {
            "小区编号": (code + "XQ" + numbers.map("{:07d}".format)).to_numpy(),
            "小区名称": (cname + "第" + (numbers + 1).astype(str) + "小区").to_numpy(),
            "户数": np.round(pop / 2.6).astype(np.int64),
            "人口": pop,
            "60岁及以上": rng.binomial(pop, 0.20),
            "0-3岁": rng.binomial(pop, 0.025),
        },
        geometry=gpd.points_from_xy(*to_wgs.transform(cx, cy)),
        crs=4326,
    )
    _write(compounds, folder / "compounds.gpkg", "compounds", first)

    fac = facility_rows(x, y, u, v, np.random.default_rng(seed + 2))
    numbers = pd.Series(np.arange(len(fac)))
    fac.insert(0, "设施编号", (code + "SS" + numbers.map("{:07d}".format)).to_numpy())
    fac.insert(1, "名称", (cname + fac["类别"] + (numbers + 1).astype(str)).to_numpy())
    facilities = gpd.GeoDataFrame(fac.drop(columns=["fx", "fy"]),
                                  geometry=gpd.points_from_xy(*to_wgs.transform(fac["fx"].to_numpy(), fac["fy"].to_numpy())),
                                  crs=4326)
    _write(facilities, folder / "facilities.gpkg", "facilities", first)

    # 街道: e2e's ~3 km squares (half a block of margin), named after the city
    n_z = math.ceil(side / ZONE_BLOCKS)
    zsize = ZONE_BLOCKS * BLOCK_M
    zi, zj = np.divmod(np.arange(n_z * n_z), n_z)
    boxes = shapely.box(x0 - 50 + zj * zsize, y0 - 50 + zi * zsize, x0 - 50 + (zj + 1) * zsize, y0 - 50 + (zi + 1) * zsize)
    kz = np.arange(n_z * n_z)
    a, b = np.divmod(kz, len(ZONE_CHARS_B))
    names = [f"{cname}{ZONE_CHARS_A[i % len(ZONE_CHARS_A)]}{ZONE_CHARS_B[j]}{'' if i < len(ZONE_CHARS_A) else i // len(ZONE_CHARS_A)}街道"
             for i, j in zip(a, b, strict=True)]
    zones = gpd.GeoDataFrame({"街道编码": [f"{code}J{i + 1:04d}" for i in kz], "街道名称": names, "区县": cname},
                             geometry=boxes, crs=GK_CRS)
    zones["geometry"] = zones.geometry.segmentize(500.0)  # keep the edges straight in GK after the round trip
    _write(zones.to_crs(4326), folder / "zones.gpkg", "zones", first)

    ends = {key: (float(lon[i]), float(lat[i]), float(x[i]), float(y[i])) for key, i in _ends(row, col, side).items()}
    area = shapely.union_all(boxes).buffer(CITY_BUFFER_M, join_style="mitre")
    return {"nodes": len(x), "edges": len(u), "compounds": n_comp, "facilities": len(fac), "zones": len(zones),
            "ends": ends, "area": area}


def _links(made: list[dict], places: list[tuple[int, int]], cols: int, to_wgs):
    """One secondary road per pair of neighbouring cities (left–right, and down–up), from the middle node of one
    city's facing grid edge to the other's; vertices every 500 m, its two ends exactly on the cities' nodes."""
    import geopandas as gpd
    import shapely

    at = {rc: k for k, rc in enumerate(places)}
    geoms, names = [], []
    for k, (r, c) in enumerate(places):
        for nb, (a_end, b_end) in (((r, c + 1), ("e", "w")), ((r + 1, c), ("n", "s"))):
            j = at.get(nb)
            if j is None:
                continue
            a, b = made[k]["ends"][a_end], made[j]["ends"][b_end]
            metric = shapely.segmentize(shapely.linestrings([[a[2], a[3]], [b[2], b[3]]]), 500.0)
            xy = shapely.get_coordinates(metric)
            lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
            lon, lat = np.round(lon, 7), np.round(lat, 7)
            lon[0], lat[0], lon[-1], lat[-1] = a[0], a[1], b[0], b[1]
            geoms.append(shapely.linestrings(np.column_stack([lon, lat])))
            names.append(f"{city_name(k)}—{city_name(j)}连接线")
    return gpd.GeoDataFrame({"highway": "secondary", "name": names}, geometry=geoms, crs=4326)


def province_toml(side: int, cities: int, partition: str) -> str:
    """e2e's city.toml for this province, with the 区县 column among the zones' and a ``[partition]`` table:
    ``partition="zones"`` (groups of 街道 by 区县) or ``"layer"`` (the polygons of cities.gpkg)."""
    text = scenario_toml(side, "roads.gpkg", "lines")
    lines = text.splitlines(keepends=True)
    assert lines[1].startswith("name = ") and lines[2].startswith("description = ")
    lines[0] = f"# generated by benchmarks/province.py: {cities} synthetic {side} × {side} street grids around Nantong (sample data)\n"
    lines[1] = f'name = "合成省 {cities}市×{side}×{side} 一刻钟生活圈"\n'
    lines[2] = 'description = "benchmarks/province.py 生成的合成省（示例数据）"\n'
    text = "".join(lines)
    zone_cols = '[layers.zones.columns]\nid = "街道编码"\nname = "街道名称"\n'
    assert text.count(zone_cols) == 1
    text = text.replace(zone_cols, zone_cols + 'district = "区县"\n')
    if partition == "zones":
        block = '[partition]\nzones_column = "district"   # partitions = groups of 街道 by this (canonical) zones column\n'
    else:
        block = '[partition]\nlayer = "cities.gpkg"   # partitions = the polygons of this layer\nid = "编码"\nname = "名称"\n'
    return text + "\n" + block


def generate_province(folder: Path, *, cities: int = 4, side: int = 300, gap_km: float = 10.0, seed: int = SEED) -> dict:
    """Write the province (see the module's docstring) into folder; return its counts and the seconds taken.

    Parameters
    ----------
    folder : the folder to write (created; the layers in it are overwritten)
    cities : number of cities (≥ 1), laid out on a grid of ``ceil(√cities)`` columns
    side : nodes per side of each city's street grid (100 m blocks; side 400 ≈ 160 k nodes)
    gap_km : kilometres of empty land between the 街道 squares of neighbouring cities
    seed : city k draws from ``seed + 100 k`` (city 0 with e2e's seed is e2e's city)
    """
    import geopandas as gpd
    import shapely
    from pyproj import Transformer

    if cities < 1 or side < 2 or gap_km < 0:
        raise ValueError(f"cities ≥ 1, side ≥ 2 and gap_km ≥ 0 expected, got {cities}, {side}, {gap_km}")
    t0 = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    to_wgs = Transformer.from_crs(GK_CRS, 4326, always_xy=True)
    cols, pitch, places = _layout(cities, side, gap_km)
    rows = places[-1][0] + 1
    made = []
    for k, (r, c) in enumerate(places):
        offset = ((c - (cols - 1) / 2) * pitch, (r - (rows - 1) / 2) * pitch)  # the province centred on e2e's city
        made.append(_city(k, side, offset, seed + SEED_STEP * k, folder, to_wgs, first=k == 0))
    links = _links(made, places, cols, to_wgs)
    if len(links):
        _write(links, folder / "roads.gpkg", "roads", first=False)
    areas = gpd.GeoDataFrame({"编码": [city_code(k) for k in range(cities)], "名称": [city_name(k) for k in range(cities)]},
                             geometry=[m["area"] for m in made], crs=GK_CRS)
    areas["geometry"] = shapely.segmentize(areas.geometry.to_numpy(), 500.0)
    _write(areas.to_crs(4326), folder / "cities.gpkg", "cities", first=True)
    (folder / "province.toml").write_text(province_toml(side, cities, "zones"), encoding="utf-8")
    (folder / "province_layer.toml").write_text(province_toml(side, cities, "layer"), encoding="utf-8")
    info = {"cities": cities, "side": side, "gap_km": gap_km, "seed": seed}
    for key in ("nodes", "edges", "compounds", "facilities", "zones"):
        info[key] = int(sum(m[key] for m in made))
    info["edges"] += len(links)
    info["links"] = len(links)
    info["generate_s"] = round(time.perf_counter() - t0, 2)
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--cities", type=int, default=4)
    ap.add_argument("--side", type=int, default=300)
    ap.add_argument("--gap-km", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args(argv)
    info = generate_province(args.folder, cities=args.cities, side=args.side, gap_km=args.gap_km, seed=args.seed)
    print(json.dumps(info, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
