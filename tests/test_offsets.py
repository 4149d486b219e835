"""The GCJ-02/BD-09 shift check: a facilities layer exported from Amap but declared WGS84 is flagged with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from planner.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from planner.outputs.write import write_outputs
from planner.pipeline import run
from planner.scenario import load_scenario


def _scenario_with_facilities(tmp_path: Path, repo_root: Path, facilities: Path) -> Path:
    text = (repo_root / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('path = "../layers/demo/', f'path = "{repo_root}/layers/demo/')
    text = text.replace(f'path = "{repo_root}/layers/demo/facilities.geojson"', f'path = "{facilities}"')
    path = tmp_path / "shifted.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("shift", "expected"), [(wgs84_to_gcj02, "GCJ02"), (wgs84_to_bd09, "BD09"), (None, None)])
def test_shifted_layer_is_flagged(tmp_path: Path, repo_root: Path, demo_run: Path, shift, expected):
    """Demo facilities moved to GCJ-02 (or BD-09) coordinates but read as WGS84 produce a warning naming the system;
    the true coordinates produce none."""
    if shift is None:
        summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
        assert summary["warnings"] == []
        return
    fac = gpd.read_file(repo_root / "layers" / "demo" / "facilities.geojson")
    ok = fac.geometry.notna()
    lon, lat = shift(fac.geometry[ok].x, fac.geometry[ok].y)
    fac.loc[ok, "geometry"] = shapely.points(lon, lat)
    path = tmp_path / "facilities_shifted.geojson"
    fac.to_file(path, engine="pyogrio")
    result = run(load_scenario(_scenario_with_facilities(tmp_path, repo_root, path)))
    assert len(result.warnings) == 1
    assert f'crs = "{expected}"' in result.warnings[0] and "facilities_shifted.geojson" in result.warnings[0]
    write_outputs(result, tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == result.warnings
