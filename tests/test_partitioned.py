"""A partitioned run gives the single run's answer (issue #16).

A generated city of 16 街道 in two 区县 (east and west halves, 6 km wide) with a 1.5 km search limit: each partition
reads its half and a 2.6 km halo of the other, so the pieces really are cut; every table a planner reads must come out
byte for byte as the single run writes it — run piece by piece in this process and on a Dask LocalCluster of two
workers.
"""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from planner.cli import main
from tests._cities import generate_city

IDENTICAL = ("compounds.csv", "catchments.csv", "compliance.csv", "subdistricts.csv", "facilities.csv", "gaps.csv",
             "circles.csv", "rejected.csv", "one_plus_n.csv", "one_plus_n_areas.csv")


def two_districts(folder: Path, *, extra: str = "") -> Path:
    """The side-120 generated city with a 区县 column (west: the 街道 of grid columns 0–1, east: 2–3) and a scenario that
    partitions by it; ``extra`` is appended to the scenario."""
    generate_city(120, folder)
    zones = gpd.read_file(folder / "zones.gpkg")
    col = (zones["街道编码"].str[1:].astype(int) - 1) % 4
    zones["区县"] = ["西区" if c < 2 else "东区" for c in col]
    zones.to_file(folder / "zones.gpkg", layer="zones", driver="GPKG", engine="pyogrio")
    text = (folder / "city.toml").read_text(encoding="utf-8")
    text = text.replace("max_snap_m = 300", "max_snap_m = 300\nsearch_limit_m = 1500", 1)
    text = re.sub(r'(\[layers\.zones\.columns\]\n(?:.+\n)*?name = "街道名称")', r'\1\ndistrict = "区县"', text, count=1)
    assert 'district = "区县"' in text
    text += '\n[partition]\nzones_column = "district"\n' + extra
    path = folder / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    return two_districts(tmp_path_factory.mktemp("two_districts"))


@pytest.fixture(scope="module")
def single(city: Path) -> Path:
    out = city.parent / "single"
    assert main(["run", str(city), "--out", str(out), "-q"]) == 0
    return out


def _same(a: Path, b: Path) -> list[str]:
    """The IDENTICAL files that differ between the two output folders."""
    return [n for n in IDENTICAL if (a / n).exists() != (b / n).exists() or ((a / n).exists() and not filecmp.cmp(a / n, b / n, shallow=False))]


def test_pieces_run_here_equal_the_single_run(city: Path, single: Path) -> None:
    out = city.parent / "here"
    assert main(["run", str(city), "--out", str(out), "-q", "--partitioned"]) == 0
    assert _same(single, out) == []
    parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    assert list(parts["name"]) == ["西区", "东区"]
    comp = pd.read_csv(single / "compounds.csv", encoding="utf-8-sig")
    assert parts["compounds"].sum() == len(comp)  # each compound owned by exactly one partition
    assert (parts["compounds_read"] > parts["compounds"]).all()  # the halo reads the other half's rows too
    nodes = pd.read_json(single / "summary.json", typ="series")["network"]["nodes"]
    assert (parts["nodes_loaded"] < nodes).all()  # … but not the whole city: the pieces are cut


DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo.toml"


def demo_in_pieces(folder: Path, cuts: int) -> Path:
    """The demo scenario with a ``[partition]`` layer of ``cuts`` vertical strips (west to east) over its 街道."""
    import shapely

    zones = gpd.read_file(DEMO.parent / "../layers/demo/subdistricts.geojson").to_crs(4549)
    x0, y0, x1, y1 = zones.total_bounds
    edges = [x0 - 500 + (x1 - x0 + 1000) * i / cuts for i in range(cuts + 1)]
    strips = [shapely.box(a, y0 - 500, b, y1 + 500) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    names = ["西片", "东片"] if cuts == 2 else [f"第{i + 1}片" for i in range(cuts)]
    folder.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame({"编码": [f"S{i + 1}" for i in range(cuts)], "名称": names}, geometry=strips, crs=4549).to_crs(4326).to_file(
        folder / "strips.gpkg", layer="strips", driver="GPKG", engine="pyogrio")
    text = DEMO.read_text(encoding="utf-8").replace('"../layers/demo/', f'"{DEMO.parent.parent / "layers" / "demo"}/')
    text = text.replace('kind = "lines"', 'kind = "lines"\nmin_piece_m = 0', 1)  # the demo's streets are too few for the piece rule
    text += f'\n[partition]\nlayer = "{folder / "strips.gpkg"}"\nid = "编码"\nname = "名称"\n'
    path = folder / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_halves(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("demo_halves")
    scenario = demo_in_pieces(folder, 2)
    single, pieces = folder / "single", folder / "pieces"
    assert main(["run", str(scenario), "--out", str(single), "-q"]) == 0
    assert main(["run", str(scenario), "--out", str(pieces), "-q", "--partitioned"]) == 0
    return scenario, single, pieces


def test_demo_in_two_pieces_equals_the_single_run_circles_and_pairs_included(demo_halves) -> None:
    _, single, pieces = demo_halves
    assert _same(single, pieces) == []
    assert (single / "circles.csv").exists()  # the demo has 一刻钟 centres: circles are stitched too
    assert "assigned" in (single / "one_plus_n.csv").read_text(encoding="utf-8-sig")  # a 1+N hub guides points across the cut
    assert filecmp.cmp(single / "pairs.csv", pieces / "pairs.csv", shallow=False)


def test_siting_per_piece_is_as_stated(demo_halves) -> None:
    """Each piece sites for its own compounds with candidates inside its own area: every site lies in the strip of
    the piece that chose it, numbers run over the run (task, then piece, then rank), and no piece chooses more than
    the task's k plus one per 街道 of its own that must get one."""
    import shapely

    scenario, single, pieces = demo_halves
    sites = pd.read_csv(pieces / "sites.csv", encoding="utf-8-sig")
    strips = gpd.read_file(scenario.parent / "strips.gpkg").to_crs(4326)
    zones = gpd.read_file(DEMO.parent / "../layers/demo/subdistricts.geojson").to_crs(4326)
    by_name = dict(zip(strips["名称"], strips.geometry, strict=True))
    owned = {n: shapely.union_all([g] + [z for z in zones.geometry if g.contains(z.representative_point())]) for n, g in by_name.items()}
    assert set(sites["partition"]) <= set(by_name) and len(sites)
    for row in sites.itertuples():
        assert owned[row.partition].buffer(1e-4).contains(shapely.Point(row.lon, row.lat)), row
    assert list(sites["no"]) == list(range(1, len(sites) + 1))
    tasks = list(dict.fromkeys(pd.read_csv(single / "sites.csv", encoding="utf-8-sig")["task"]))
    order = [(tasks.index(t), ["西片", "东片"].index(p), r) for t, p, r in zip(sites["task"], sites["partition"], sites["rank"], strict=True)]
    assert order == sorted(order)
    n_zones = {n: sum(g.contains(z.representative_point()) for z in zones.geometry) for n, g in by_name.items()}
    k = {"新增综合性养老服务中心": 2, "新增普惠托育机构": 3, "老幼复合服务点": 2}
    for (task, part), group in sites.groupby(["task", "partition"]):
        assert len(group) <= k[task] + n_zones[part]


def test_one_piece_sites_as_the_single_run(tmp_path: Path) -> None:
    """With a single piece covering everything nothing is cut: the sites are the single run's."""
    scenario = demo_in_pieces(tmp_path, 1)
    single, pieces = tmp_path / "single", tmp_path / "pieces"
    assert main(["run", str(scenario), "--out", str(single), "-q"]) == 0
    assert main(["run", str(scenario), "--out", str(pieces), "-q", "--partitioned"]) == 0
    assert _same(single, pieces) == []
    a = pd.read_csv(single / "sites.csv", encoding="utf-8-sig")
    b = pd.read_csv(pieces / "sites.csv", encoding="utf-8-sig")
    pd.testing.assert_frame_equal(a, b.drop(columns="partition"))


@pytest.mark.cluster
def test_on_a_local_cluster_of_two_workers_equals_the_single_run(city: Path, single: Path) -> None:
    out = city.parent / "cluster"
    assert main(["run", str(city), "--out", str(out), "-q", "--workers", "2"]) == 0
    assert _same(single, out) == []
    parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    assert (parts["attempts"] == 1).all() and parts["worker"].str.startswith("tcp://").all()


def test_the_forked_writers_write_the_same_bytes(demo_result, tmp_path: Path) -> None:
    """A partitioned run writes its map and report in two forked processes: every file is the one written in order."""
    from planner.outputs.write import write_outputs

    a = write_outputs(demo_result, tmp_path / "in_order")
    b = write_outputs(demo_result, tmp_path / "forked", parallel=True)
    assert set(a) == set(b)
    differ = [k for k in a if k != "summary" and not filecmp.cmp(a[k], b[k], shallow=False)]
    assert differ == []
    assert {"index.html", "report.html", "report.xlsx"} <= {p.name for p in b.values()}


def test_bad_partition_settings_are_clear_errors(tmp_path: Path, capsys) -> None:
    """A partition layer without a CRS and a wrong crs, a zones column that is not mapped, --workers without
    [partition]: exit 2 with the reason, no traceback, nothing written."""
    scenario = demo_in_pieces(tmp_path / "a", 2)
    strips = gpd.read_file(scenario.parent / "strips.gpkg")
    with pytest.warns(UserWarning, match="crs"):  # a layer written without a CRS, as some exports are
        strips.set_crs(None, allow_override=True).to_file(scenario.parent / "strips.gpkg", layer="strips", driver="GPKG",
                                                          engine="pyogrio")
    text = scenario.read_text(encoding="utf-8")
    cases = {
        "no_crs": (text, "没有坐标系"),
        "bad_crs": (text + 'crs = "EPSG:999999"\n', "不是可用的坐标系"),  # [partition] is the last table
        "unmapped": (re.sub(r'\ndistrict = "区县".*', "", text.split("[partition]")[0]) + '[partition]\nzones_column = "district"\n',
                     "街道图层没有这一列"),
        "no_partition": (text.split("[partition]")[0], "需要情景文件中的 [partition]"),
    }
    for name, (body, words) in cases.items():
        path = tmp_path / "a" / f"{name}.toml"
        path.write_text(body, encoding="utf-8")
        out = tmp_path / f"out_{name}"
        assert main(["run", str(path), "--out", str(out), "-q", "--partitioned"]) == 2, name
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err, (name, err)
        assert not out.exists()


def test_a_worker_of_another_version_refuses_its_piece(city: Path) -> None:
    from dataclasses import replace

    from planner.partition.task import run_partition
    from planner.partition.types import PartitionFailure
    from tests.test_partitioned import _one_job

    failure = run_partition(replace(_one_job(city), version="0.0.0-other"))
    assert isinstance(failure, PartitionFailure) and "0.0.0-other" in failure.message


def _one_job(scenario_path: Path):
    """The first piece's job of a scenario, as the client plans it."""
    import planner.partition.run as run_module
    from planner.scenario import load_scenario

    taken = {}

    def keep(*args, **kwargs):
        taken["jobs"], _ = run_module.plan_jobs.__wrapped__(*args, **kwargs)
        raise _Planned

    class _Planned(Exception):
        pass

    original = run_module.plan_jobs
    keep.__wrapped__ = original
    run_module.plan_jobs = keep
    try:
        run_module.run_partitioned(load_scenario(scenario_path), report=lambda m: None)
    except _Planned:
        pass
    finally:
        run_module.plan_jobs = original
    return taken["jobs"][0]


def test_pieces_areas_are_joined_as_their_union() -> None:
    """Overlapping areas of two pieces are unioned; a third, apart, is kept as it is: the same area as one union."""
    import numpy as np
    import shapely

    from planner.partition.stitch import _union

    a, b, c = shapely.box(0, 0, 10, 10), shapely.box(5, 5, 15, 15), shapely.box(100, 0, 110, 10)
    joined = _union(np.array([a, b, c], dtype=object))
    assert joined.is_valid
    assert joined.area == pytest.approx(shapely.union_all([a, b, c]).area)  # 175 + 100, not 300
    assert len(shapely.get_parts(joined)) == 2


def test_a_polygon_that_owns_nothing_runs_no_piece_and_counts_stay_right(tmp_path: Path) -> None:
    """A partition polygon far from every row comes first in the layer: it runs no piece, and partitions.csv still
    counts each piece's own compounds and 街道 (the owner arrays are over all polygons, the pieces only those that run)."""
    import shapely

    scenario = demo_in_pieces(tmp_path, 2)
    strips = gpd.read_file(scenario.parent / "strips.gpkg").to_crs(4549)
    far = gpd.GeoDataFrame({"编码": ["S0"], "名称": ["远处"]}, geometry=[shapely.box(0, 0, 1000, 1000)], crs=4549)
    pd.concat([far, strips], ignore_index=True).pipe(gpd.GeoDataFrame, crs=4549).to_crs(4326).to_file(
        scenario.parent / "strips.gpkg", layer="strips", driver="GPKG", engine="pyogrio")
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "-q", "--partitioned"]) == 0
    parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig")
    comp = pd.read_csv(out / "compounds.csv", encoding="utf-8-sig")
    assert list(parts["name"]) == ["西片", "东片"]
    assert parts["compounds"].sum() == len(comp) and (parts["compounds"] > 0).all()
    assert parts["zones"].sum() == 4
