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
             "circles.csv", "rejected.csv")


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
