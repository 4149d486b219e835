"""summary.json of a run: network size from its arrays, the seconds spent on each output file, peak memory."""

from __future__ import annotations

import json
from pathlib import Path


def test_summary_has_write_times_and_peak_memory(demo_run: Path, demo_result) -> None:
    summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
    times = summary["write_time_s"]
    written = {p.name for p in demo_run.iterdir()} - {"summary.json"}
    assert set(times) - {"total"} == written  # every file but summary.json itself
    assert all(t >= 0 for t in times.values()) and times["total"] >= max(v for k, v in times.items() if k != "total")
    assert summary["peak_rss_mib"] > 50
    net = demo_result.network
    assert summary["network"]["nodes"] == len(net.nodes) and summary["network"]["edges"] == len(net.edges)
    assert summary["network"]["components"] == net.n_components()  # networkx as the oracle
    assert summary["network"]["length_km"] == round(float(net.edges["length"].sum()) / 1000, 3)
    assert summary["outputs"]["compounds_parquet"] == "compounds.parquet"


def test_compounds_parquet_is_the_geopackage_table(demo_run: Path) -> None:
    import geopandas as gpd

    parquet = gpd.read_parquet(demo_run / "compounds.parquet")
    gpkg = gpd.read_file(demo_run / "compounds.gpkg", engine="pyogrio")
    assert parquet.crs.to_epsg() == 4326 and list(parquet.columns) == list(gpkg.columns)
    assert parquet.geometry.geom_equals_exact(gpkg.geometry, tolerance=1e-9).all()
    assert parquet["id"].tolist() == gpkg["id"].tolist()


def test_peak_memory_is_read_or_nan_without_the_posix_module(monkeypatch):
    """``resource`` is POSIX only: without it (Windows) the peak comes from the Win32 counters, NaN where those are
    missing too — never an ImportError that would stop every run."""
    import math
    import sys

    from planner.pipeline import peak_rss_mib

    assert peak_rss_mib() > 10  # this interpreter alone holds more than 10 MiB
    monkeypatch.setitem(sys.modules, "resource", None)  # `import resource` now raises ImportError
    value = peak_rss_mib()
    assert (value > 10) if sys.platform == "win32" else math.isnan(value)
