#!/usr/bin/env python
"""End-to-end benchmark of ``planner run`` on generated cities (issue #12), against the script a Python user would write.

A deterministic city generator (fixed seeds) writes, into a folder:

* ``roads.gpkg``      a perturbed street grid with 100 m blocks (±15 m jitter at the crossings, 3 % of the block
                      edges removed), one LineString per block edge, WGS84 around Nantong (120.9E 32.0N); columns
                      ``highway`` (every 10th street ``secondary``, else ``residential``) and ``name``;
* ``compounds.gpkg``  one compound per ~10 network nodes, points 5–40 m beside a random street, 人口 300–3000,
                      户数 = 人口 / 2.6, 60岁及以上 ~20 %, 0-3岁 ~2.5 % (binomial draws);
* ``facilities.gpkg`` 7 categories with Chinese labels, 1.35 per 100 nodes in all (综合性养老服务中心 with 床位,
                      社区养老服务站, 普惠托育 with 托位, 便利店, 菜市场, 超市, 药店);
* ``zones.gpkg``      街道 polygons, ~3 km squares (30 × 30 blocks) with 街道编码 and 街道名称;
* ``city.toml``       a scenario running them (default outputs, no siting);
* with ``--pbf``: ``roads.osm.pbf`` (the same streets and facilities as OSM nodes/ways, written with
  ``osmium.SimpleWriter``) and ``city_osm.toml`` (network from the .pbf, the same layers).

Then ``python -m planner.cli run city.toml --out …`` runs in a subprocess, timed (wall) with its peak RSS (``os.wait4``
rusage of that child: ru_maxrss), per-stage times read from ``summary.json`` (``run_time_s``) and the sizes of the
main outputs. The reference — what a Python user would write: geopandas read → networkx graph from the line endpoints
→ nearest-node snapping (scipy cKDTree) → networkx multi-source Dijkstra per category → per-街道 share of the
population within 1005 m per category (pandas) → one folium map of the compounds — runs in its own subprocess on the
same city, with the same cap. Note that ``planner run`` does more than the reference (rejected rows, standards,
the Excel and HTML reports, gates, the nearest distance up to 5000 m …): the comparison is of a whole job each.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/e2e.py --quick                 # the ~90 k-node city (several minutes)
    PYTHONPATH=. .venv/bin/python benchmarks/e2e.py --sizes 90k,250k,1m --cap 1800
    PYTHONPATH=. .venv/bin/python benchmarks/e2e.py --sizes 1m --pbf --keep /tmp/cities --reuse   # cities kept, reused next time
    PYTHONPATH=. .venv/bin/python benchmarks/e2e.py --generate 300 --keep /tmp/city --pbf   # only write a city

Nothing is written into the repository; cities go to a temp folder (or ``--keep DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _grid import perturbed_grid

REPO = Path(__file__).resolve().parents[1]
SIZES = {"10k": 100, "90k": 300, "250k": 500, "1m": 1000}  # grid side (10k: a smoke test) (nodes ≈ side² × ~0.99)
SEED = 20250112
BLOCK_M = 100.0
JITTER_M = 15.0
REMOVED = 0.03
ZONE_BLOCKS = 30  # 街道 squares of 30 × 30 blocks (~3 km)
NODES_PER_COMPOUND = 10
GK_CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E (the city is generated in metres, written as WGS84)
CENTRE_LONLAT = (120.9, 32.0)  # Nantong
REACH_M = 1005.0  # 15 min × 67 m/min
# label, facilities per 100 network nodes (sum 1.35), OSM tags for the .pbf
CATEGORIES = [
    ("综合性养老服务中心", 0.05, {"amenity": "social_facility", "social_facility": "community_centre", "social_facility:for": "senior"}),
    ("社区养老服务站", 0.20, {"amenity": "social_facility", "social_facility": "day_care", "social_facility:for": "senior"}),
    ("普惠托育", 0.15, {"amenity": "childcare"}),
    ("便利店", 0.50, {"shop": "convenience"}),
    ("菜市场", 0.10, {"amenity": "marketplace"}),
    ("超市", 0.15, {"shop": "supermarket"}),
    ("药店", 0.20, {"amenity": "pharmacy"}),
]
ZONE_CHARS_A = "东西南北中新老城港江河湖山桥园"
ZONE_CHARS_B = "和平兴安华盛福康宁泰丰裕昌隆瑞祥"


# --------------------------------------------------------------------------------------------------------------
# city generator
# --------------------------------------------------------------------------------------------------------------


def grid_streets(side: int, seed: int):
    """Node x, y (metres, GK_CRS), edge ends u, v and the grid row/column of every node; deterministic."""
    from pyproj import Transformer

    rng = np.random.default_rng(seed)
    x0, y0 = Transformer.from_crs(4326, GK_CRS, always_xy=True).transform(*CENTRE_LONLAT)
    x0 -= side * BLOCK_M / 2
    y0 -= side * BLOCK_M / 2
    x, y, u, v, ii, jj = perturbed_grid(side, rng, origin=(x0, y0), spacing=BLOCK_M, jitter=JITTER_M, removed=REMOVED)
    return x, y, u, v, ii, jj, (x0, y0)


def points_beside(x, y, u, v, n: int, rng: np.random.Generator):
    """n points 5–40 m to either side of random block edges (uniform along the edge)."""
    e = rng.integers(0, len(u), n)
    t = rng.random(n)
    ax, ay, bx, by = x[u[e]], y[u[e]], x[v[e]], y[v[e]]
    dx, dy = bx - ax, by - ay
    norm = np.hypot(dx, dy)
    off = rng.uniform(5.0, 40.0, n) * rng.choice([-1.0, 1.0], n)
    return ax + t * dx - dy / norm * off, ay + t * dy + dx / norm * off


def facility_rows(x, y, u, v, rng: np.random.Generator):
    """The facilities of a grid city (metres ``fx``, ``fy``; 类别, 托位, 床位, 护理型床位, 普惠): :data:`CATEGORIES` per
    100 nodes, beside random block edges."""
    import pandas as pd

    parts = []
    for label, per100, _tags in CATEGORIES:
        n = max(1, int(round(len(x) * per100 / 100)))
        fx, fy = points_beside(x, y, u, v, n, rng)
        part = pd.DataFrame({"类别": label, "fx": fx, "fy": fy})
        part["托位"] = rng.integers(40, 151, n) if label == "普惠托育" else np.nan
        part["床位"] = rng.integers(50, 151, n) if label == "综合性养老服务中心" else np.nan
        part["护理型床位"] = (part["床位"] * 0.6).round() if label == "综合性养老服务中心" else np.nan
        part["普惠"] = "是" if label == "普惠托育" else None
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def generate_city(side: int, folder: Path, *, pbf: bool = False, seed: int = SEED) -> dict:
    """Write the city (roads, compounds, facilities, zones, scenario) into folder; return counts and timings."""
    import geopandas as gpd
    import pandas as pd
    import shapely
    from pyproj import Transformer

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    x, y, u, v, row, col, (x0, y0) = grid_streets(side, seed)
    n_nodes, n_edges = len(x), len(u)
    to_wgs = Transformer.from_crs(GK_CRS, 4326, always_xy=True)
    lon, lat = to_wgs.transform(x, y)
    lon, lat = np.round(lon, 7), np.round(lat, 7)  # shared vertices stay bit-identical

    # roads: one LineString per block edge
    coords = np.stack([np.column_stack([lon[u], lat[u]]), np.column_stack([lon[v], lat[v]])], axis=1)
    horizontal = row[u] == row[v]
    line_no = np.where(horizontal, row[u], col[u])
    highway = np.where(line_no % 10 == 0, "secondary", "residential")
    name = np.where(horizontal, pd.Series(row[u]).map(lambda i: f"纬{i + 1}路").to_numpy(), pd.Series(col[u]).map(lambda j: f"经{j + 1}路").to_numpy())
    roads = gpd.GeoDataFrame({"highway": highway, "name": name}, geometry=shapely.linestrings(coords), crs=4326)
    roads.to_file(folder / "roads.gpkg", layer="roads", driver="GPKG", engine="pyogrio")

    # compounds
    rng = np.random.default_rng(seed + 1)
    n_comp = max(1, n_nodes // NODES_PER_COMPOUND)
    cx, cy = points_beside(x, y, u, v, n_comp, rng)
    pop = rng.integers(300, 3001, n_comp)
    comp_lon, comp_lat = to_wgs.transform(cx, cy)
    compounds = gpd.GeoDataFrame(
        {
            "小区编号": [f"XQ{i:07d}" for i in range(n_comp)],
            "小区名称": [f"第{i + 1}小区" for i in range(n_comp)],
            "户数": np.round(pop / 2.6).astype(np.int64),
            "人口": pop,
            "60岁及以上": rng.binomial(pop, 0.20),
            "0-3岁": rng.binomial(pop, 0.025),
        },
        geometry=gpd.points_from_xy(comp_lon, comp_lat),
        crs=4326,
    )
    compounds.to_file(folder / "compounds.gpkg", layer="compounds", driver="GPKG", engine="pyogrio")

    # facilities
    fac = facility_rows(x, y, u, v, np.random.default_rng(seed + 2))
    fac.insert(0, "设施编号", [f"SS{i:07d}" for i in range(len(fac))])
    fac.insert(1, "名称", [f"{lab}{i + 1}" for i, lab in enumerate(fac["类别"])])
    f_lon, f_lat = to_wgs.transform(fac["fx"].to_numpy(), fac["fy"].to_numpy())
    facilities = gpd.GeoDataFrame(fac.drop(columns=["fx", "fy"]), geometry=gpd.points_from_xy(f_lon, f_lat), crs=4326)
    facilities.to_file(folder / "facilities.gpkg", layer="facilities", driver="GPKG", engine="pyogrio")

    # 街道: ~3 km squares covering the grid (with half a block of margin)
    n_z = int(np.ceil(side / ZONE_BLOCKS))
    zsize = ZONE_BLOCKS * BLOCK_M
    boxes, ids, names = [], [], []
    for zi in range(n_z):
        for zj in range(n_z):
            k = zi * n_z + zj
            boxes.append(shapely.box(x0 - 50 + zj * zsize, y0 - 50 + zi * zsize, x0 - 50 + (zj + 1) * zsize, y0 - 50 + (zi + 1) * zsize))
            ids.append(f"J{k + 1:04d}")
            a, b = divmod(k, len(ZONE_CHARS_B))
            names.append(f"{ZONE_CHARS_A[a % len(ZONE_CHARS_A)]}{ZONE_CHARS_B[b]}{'' if a < len(ZONE_CHARS_A) else a // len(ZONE_CHARS_A)}街道")
    zones = gpd.GeoDataFrame({"街道编码": ids, "街道名称": names}, geometry=boxes, crs=GK_CRS)
    zones["geometry"] = zones.geometry.segmentize(500.0)  # keep the edges straight in GK after the round trip
    zones.to_crs(4326).to_file(folder / "zones.gpkg", layer="zones", driver="GPKG", engine="pyogrio")

    (folder / "city.toml").write_text(scenario_toml(side, "roads.gpkg", "lines"), encoding="utf-8")
    info = {"side": side, "nodes": n_nodes, "edges": n_edges, "compounds": n_comp, "facilities": len(fac), "zones": len(zones)}
    if pbf:
        write_pbf(folder / "roads.osm.pbf", lon, lat, u, v, highway, name, fac["类别"].to_numpy(), f_lon, f_lat)
        (folder / "city_osm.toml").write_text(scenario_toml(side, "roads.osm.pbf", "osm"), encoding="utf-8")
    info["generate_s"] = round(time.perf_counter() - t0, 2)
    return info


def scenario_toml(side: int, network: str, kind: str) -> str:
    return f'''# generated by benchmarks/e2e.py: a synthetic {side} × {side} street grid around Nantong (sample data)
name = "合成城市 {side}×{side} 一刻钟生活圈"
description = "benchmarks/e2e.py 生成的合成城市（示例数据）"
sample_data = true
language = "zh"
crs = "auto"
walking_speed_m_per_min = 67
thresholds_min = [5, 10, 15]
max_snap_m = 300
basemap = "offline"

[network]
path = "{network}"
kind = "{kind}"

[layers.facilities]
path = "facilities.gpkg"
[layers.facilities.columns]
id = "设施编号"
name = "名称"
category = "类别"
places = "托位"
beds = "床位"
nursing_beds = "护理型床位"
public_benefit = "普惠"

[layers.residential]
path = "compounds.gpkg"
[layers.residential.columns]
id = "小区编号"
name = "小区名称"
households = "户数"
population = "人口"
age_60_plus = "60岁及以上"
age_0_3 = "0-3岁"

[layers.zones]
path = "zones.gpkg"
[layers.zones.columns]
id = "街道编码"
name = "街道名称"

[population]
persons_per_household = 2.6

[standards]
preset = "nantong-2025"
'''


def write_pbf(path: Path, lon, lat, u, v, highway, name, fac_label, f_lon, f_lat) -> None:
    """The same streets as OSM nodes and ways (one way per block edge) plus the facilities as tagged nodes."""
    import osmium
    from osmium.osm.mutable import Node, Way

    if path.exists():
        path.unlink()
    tags_of = {label: dict(tags, name=label) for label, _, tags in CATEGORIES}
    writer = osmium.SimpleWriter(str(path))
    try:
        for i in range(len(lon)):
            writer.add_node(Node(id=i + 1, location=(float(lon[i]), float(lat[i])), version=1))
        base = len(lon) + 1
        for k in range(len(fac_label)):
            tags = dict(tags_of[fac_label[k]], name=f"{fac_label[k]}{k + 1}")
            writer.add_node(Node(id=base + k, location=(float(f_lon[k]), float(f_lat[k])), tags=tags, version=1))
        for e in range(len(u)):
            writer.add_way(Way(id=e + 1, nodes=[int(u[e]) + 1, int(v[e]) + 1], tags={"highway": str(highway[e]), "name": str(name[e])}, version=1))
    finally:
        writer.close()


# --------------------------------------------------------------------------------------------------------------
# measured child processes
# --------------------------------------------------------------------------------------------------------------


def run_measured(cmd: list[str], cap: float, log: Path, env: dict | None = None) -> dict:
    """Run cmd in its own session; wall time, peak RSS of the child (wait4 rusage), whether the cap was hit."""
    t0 = time.perf_counter()
    with open(log, "wb") as fh:
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO, env=env)
        capped = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > cap:
                capped = True
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.1)
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall_s": time.perf_counter() - t0, "peak_mib": ru.ru_maxrss / 1024, "rc": p.returncode, "capped": capped, "log": str(log)}


def run_planner(folder: Path, cap: float, scenario: str = "city.toml") -> dict:
    out = folder / ("out_" + Path(scenario).stem)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "planner.cli", "run", str(folder / scenario), "--out", str(out), "-q"]
    res = run_measured(cmd, cap, folder / f"planner_{Path(scenario).stem}.log", env)
    summary = out / "summary.json"
    data = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() and not res["capped"] else {}
    res["stages"] = data.get("run_time_s", {})
    res["stage_mib"] = data.get("stage_peak_rss_mib", {})
    res["outputs"] = {n: (out / n).stat().st_size for n in ("index.html", "report.html", "report.xlsx", "compounds.csv") if (out / n).exists()}
    return res


def run_reference_child(folder: Path, cap: float) -> dict:
    res_file = folder / "reference.json"
    if res_file.exists():
        res_file.unlink()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_reference", str(folder)]
    res = run_measured(cmd, cap, folder / "reference.log")
    res["stages"] = json.loads(res_file.read_text()) if res_file.exists() else {}
    map_file = folder / "reference_map.html"
    res["outputs"] = {"reference_map.html": map_file.stat().st_size} if map_file.exists() and not res["capped"] else {}
    return res


# --------------------------------------------------------------------------------------------------------------
# the reference: what a Python user would write (runs inside the child started by run_reference_child)
# --------------------------------------------------------------------------------------------------------------


def reference(folder: Path) -> None:
    stages: dict[str, list[float]] = {}
    t = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages[name] = [round(now - t, 3), round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)]
        t = now
        (folder / "reference.json").write_text(json.dumps(stages))

    import folium
    import geopandas as gpd
    import networkx as nx
    import pandas as pd
    from scipy.spatial import cKDTree

    stage("import")
    roads = gpd.read_file(folder / "roads.gpkg")
    compounds = gpd.read_file(folder / "compounds.gpkg")
    facilities = gpd.read_file(folder / "facilities.gpkg")
    zones = gpd.read_file(folder / "zones.gpkg")
    crs = roads.estimate_utm_crs()
    roads, compounds, facilities, zones = (g.to_crs(crs) for g in (roads, compounds, facilities, zones))
    stage("read + project")

    graph = nx.Graph()
    for geom in roads.geometry:
        a, b = geom.coords[0], geom.coords[-1]
        a, b = (round(a[0], 2), round(a[1], 2)), (round(b[0], 2), round(b[1], 2))
        graph.add_edge(a, b, length=geom.length)
    nodes = list(graph.nodes)
    stage("networkx graph")

    tree = cKDTree(np.array(nodes))
    c_dist, c_idx = tree.query(np.column_stack([compounds.geometry.x, compounds.geometry.y]))
    f_dist, f_idx = tree.query(np.column_stack([facilities.geometry.x, facilities.geometry.y]))
    compounds["node"] = c_idx
    compounds["snap_m"] = c_dist
    facilities["node"] = f_idx
    stage("snap (cKDTree)")

    for label, group in facilities.groupby("类别"):
        sources = {nodes[i] for i in group["node"]}
        dist = nx.multi_source_dijkstra_path_length(graph, sources, cutoff=REACH_M, weight="length")
        d = np.array([dist.get(nodes[i], np.inf) for i in compounds["node"]]) + compounds["snap_m"].to_numpy()
        compounds[f"d_{label}"] = d
    stage("dijkstra per category")

    joined = gpd.sjoin(compounds, zones[["街道编码", "街道名称", "geometry"]], how="left", predicate="within")
    rows = []
    for label in facilities["类别"].unique():
        covered = (joined[f"d_{label}"] <= REACH_M) * joined["人口"]
        share = covered.groupby(joined["街道名称"]).sum() / joined.groupby("街道名称")["人口"].sum()
        rows.append(share.rename(label))
    table = pd.concat(rows, axis=1)
    table.to_csv(folder / "reference_shares.csv")
    stage("per-街道 shares")

    wgs = compounds[["小区名称", "人口", "geometry"]].to_crs(4326)
    m = folium.Map(location=[wgs.geometry.y.mean(), wgs.geometry.x.mean()], zoom_start=12, tiles=None)
    folium.GeoJson(wgs, marker=folium.CircleMarker(radius=3), tooltip=folium.GeoJsonTooltip(["小区名称", "人口"])).add_to(m)
    m.save(str(folder / "reference_map.html"))
    stage("folium map")


# --------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------


def fmt_s(res: dict, s: float | None = None) -> str:
    if res.get("capped"):
        return "> cap"
    return "—" if s is None else f"{s:.1f}"


LABEL = {"10k": "10k-node", "90k": "90k-node", "250k": "250k-node", "1m": "1M-node"}


def report(size: str, info: dict, plan: dict, ref: dict | None, cap: float, osm: dict | None = None) -> str:
    lines = [
        f"\n== {size} city: {info['nodes']:,} nodes, {info['edges']:,} edges, {info['compounds']:,} compounds, "
        f"{info['facilities']:,} facilities, {info['zones']} 街道 (generated in {info['generate_s']} s) ==",
        f"{'stage':<34}{'seconds':>10}{'peak MiB':>10}",
    ]
    for name, s in plan["stages"].items():
        mib = plan.get("stage_mib", {}).get(name)
        lines.append(f"{'planner: ' + name.split(' / ')[-1]:<34}{s:>10.1f}{'' if mib is None else f'{mib:.0f}':>10}")
    if "total" in plan["stages"] and not plan["capped"]:
        rest = plan["wall_s"] - plan["stages"]["total"]
        lines.append(f"{'planner: imports + writing outputs':<34}{rest:>10.1f}{'':>10}")
    status = "" if plan["rc"] == 0 or plan["capped"] else f"  (exit {plan['rc']}, see {plan['log']})"
    lines.append(f"{'planner run (wall, whole CLI)':<34}{fmt_s(plan, plan['wall_s']):>10}{plan['peak_mib']:>10.0f}{status}")
    if osm is not None:
        status = "" if osm["rc"] == 0 or osm["capped"] else f"  (exit {osm['rc']}, see {osm['log']})"
        lines.append(f"{'planner run from roads.osm.pbf':<34}{fmt_s(osm, osm['wall_s']):>10}{osm['peak_mib']:>10.0f}{status}")
    if ref is not None:
        for name, (s, mib) in ref["stages"].items():
            lines.append(f"{'reference: ' + name.replace('街道', 'zone'):<34}{s:>10.1f}{mib:>10.0f}")
        status = "" if ref["rc"] == 0 or ref["capped"] else f"  (exit {ref['rc']}, see {ref['log']})"
        lines.append(f"{'reference (wall, whole script)':<34}{fmt_s(ref, ref['wall_s']):>10}{ref['peak_mib']:>10.0f}{status}")
    lines.append("outputs: " + ", ".join(f"{n} {b / 1e6:.1f} MB" for n, b in {**plan["outputs"], **(ref or {}).get("outputs", {})}.items()))
    n = f"> {cap:.0f}" if plan["capped"] else f"{plan['wall_s']:.0f}"
    last = f"e2e: {LABEL.get(size, size)} city {n} s, peak {plan['peak_mib']:.0f} MiB, map {plan['outputs'].get('index.html', 0) / 1e6:.1f} MB"
    if ref is None:
        last += "; reference not run"
    elif plan["capped"] or plan["rc"] != 0:
        last += "; no comparison (planner did not finish)"
    elif ref["capped"]:
        last += f"; > {cap / plan['wall_s']:.1f}× faster than the reference (reference hit the cap)"
    elif ref["rc"] != 0:
        last += "; reference failed"
    else:
        k = ref["wall_s"] / plan["wall_s"]
        last += f"; {k:.2f}× faster than the reference" + (" (K < 1: planner is SLOWER than the reference)" if k < 1 else "")
    lines.append(last)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the ~90 k-node city (same as --sizes 90k)")
    ap.add_argument("--sizes", default="90k", help=f"comma-separated, of {','.join(SIZES)} (default 90k)")
    ap.add_argument("--cap", type=float, default=900.0, help="time cap per run, seconds (default 900)")
    ap.add_argument("--no-reference", action="store_true", help="run planner only")
    ap.add_argument("--pbf", action="store_true", help="also write roads.osm.pbf + city_osm.toml (and run planner on it)")
    ap.add_argument("--keep", metavar="DIR", help="write the cities into DIR/<size> and keep them (default: a temp folder)")
    ap.add_argument("--reuse", action="store_true", help="with --keep: run on the cities already in DIR/<size> instead of writing them again")
    ap.add_argument("--generate", type=int, metavar="SIDE", help="only write a city of SIDE × SIDE nodes into --keep DIR")
    ap.add_argument("--_reference", metavar="DIR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args._reference:
        reference(Path(args._reference))
        return 0
    if args.generate:
        if not args.keep:
            ap.error("--generate needs --keep DIR")
        print(json.dumps(generate_city(args.generate, Path(args.keep), pbf=args.pbf)))
        return 0
    sizes = ["90k"] if args.quick else [s.strip().lower() for s in args.sizes.split(",")]
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        ap.error(f"unknown size {bad}; choose from {list(SIZES)}")
    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="e2e_")
    base = Path(args.keep or tmp.name)
    try:
        for size in sizes:
            folder = base / size
            info_file = folder / "city.json"
            if args.reuse and info_file.exists() and (not args.pbf or (folder / "roads.osm.pbf").exists()):
                info = json.loads(info_file.read_text(encoding="utf-8"))
                print(f"[{size}] reusing the city in {folder}", flush=True)
            else:
                # in a child process: a child inherits its parent's peak RSS (ru_maxrss), so the parent stays small
                cmd = [sys.executable, str(Path(__file__).resolve()), "--generate", str(SIZES[size]), "--keep", str(folder)]
                gen = subprocess.run(cmd + (["--pbf"] if args.pbf else []), check=True, capture_output=True, text=True)
                info = json.loads(gen.stdout.strip().splitlines()[-1])
                info_file.write_text(json.dumps(info), encoding="utf-8")
                print(f"[{size}] generated {json.dumps(info, ensure_ascii=False)} in {folder}", flush=True)
            plan = run_planner(folder, args.cap)
            print(f"[{size}] planner run: {plan['wall_s']:.1f} s, rc {plan['rc']}", flush=True)
            osm = None
            if args.pbf:
                osm = run_planner(folder, args.cap, "city_osm.toml")
                print(f"[{size}] planner run on roads.osm.pbf: {fmt_s(osm, osm['wall_s'])} s, peak {osm['peak_mib']:.0f} MiB, rc {osm['rc']}", flush=True)
            ref = None if args.no_reference else run_reference_child(folder, args.cap)
            print(report(size, info, plan, ref, args.cap, osm), flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
