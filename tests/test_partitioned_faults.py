"""Faults of a partitioned run on Dask (issue #16): a worker killed mid-run, a partition whose input is bad.

The killed worker runs against a real ``dask scheduler`` and two ``dask worker`` processes on localhost
(tests/_dask_cluster.py); the answer must still be the single run's, byte for byte.
"""

from __future__ import annotations

import threading
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from planner.cli import main
from tests._dask_cluster import dask_processes, kill_worker_running
from tests.test_partitioned import _same, two_districts

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    return two_districts(tmp_path_factory.mktemp("faults"))


def test_a_killed_worker_is_retried_and_the_answer_is_the_same(city: Path) -> None:
    single = city.parent / "single"
    assert main(["run", str(city), "--out", str(single), "-q"]) == 0
    out = city.parent / "killed"
    with dask_processes(2, env={"PLANNER_TASK_DELAY_S": "4"}) as (address, pids):
        codes: list[int] = []
        runner = threading.Thread(target=lambda: codes.append(main(["run", str(city), "--scheduler", address, "--out", str(out), "-q"])),
                                  daemon=True)
        runner.start()
        try:
            killed = kill_worker_running(address, "partition-P001", pids, timeout=120)
        finally:
            runner.join(timeout=300)
    assert killed in pids
    assert codes == [0]
    assert _same(single, out) == []
    parts = pd.read_csv(out / "partitions.csv", encoding="utf-8-sig").set_index("partition")
    assert parts.loc["P001", "attempts"] == 2  # started on the killed worker, then again elsewhere
    assert parts.loc["P002", "attempts"] == 1
    assert parts.loc["P001", "worker"] != killed


def test_a_partition_without_streets_is_named_and_nothing_is_written(tmp_path: Path, capsys) -> None:
    """A third 区县 (新区) 30 km away whose streets are missing from the roads file: its partition fails with the
    reason; the other two finish; the output folder is not created."""
    scenario = two_districts(tmp_path / "city")
    zones = gpd.read_file(scenario.parent / "zones.gpkg")
    metric = zones.estimate_utm_crs()
    far = shapely.affinity.translate(zones.to_crs(metric).geometry.iloc[0], xoff=30_000)
    new = gpd.GeoDataFrame({"街道编码": ["J9999"], "街道名称": ["飞地街道"], "区县": ["新区"]}, geometry=[far], crs=metric).to_crs(zones.crs)
    pd.concat([zones, new], ignore_index=True).pipe(gpd.GeoDataFrame, crs=zones.crs).to_file(
        scenario.parent / "zones.gpkg", layer="zones", driver="GPKG", engine="pyogrio")
    comp = gpd.read_file(scenario.parent / "compounds.gpkg")
    moved = comp.head(20).to_crs(metric)
    moved["geometry"] = [shapely.Point(far.centroid.x + 50 * i, far.centroid.y) for i in range(20)]
    moved["小区编号"] = [f"XQ9{i:06d}" for i in range(20)]
    pd.concat([comp, moved.to_crs(comp.crs)], ignore_index=True).pipe(gpd.GeoDataFrame, crs=comp.crs).to_file(
        scenario.parent / "compounds.gpkg", layer="compounds", driver="GPKG", engine="pyogrio")
    text = scenario.read_text(encoding="utf-8").replace("search_limit_m = 1500", "search_limit_m = 1500\nstudy_area_buffer_m = 40000", 1)
    scenario.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(scenario), "--workers", "2", "--out", str(out), "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert "新区" in err and "no walkable" in err.lower()
    assert "1 个分区未能完成（其余 2 个已完成）" in err
    assert "Traceback" not in err
    assert not out.exists()
