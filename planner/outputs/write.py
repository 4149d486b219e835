"""Write a run's results: gap map, per-街道 and per-compound tables, rejected rows, summary.json."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__, schema
from planner.outputs.compare import write_zone_outlines
from planner.outputs.excel import write_workbook
from planner.outputs.maps import gap_map, save_map
from planner.outputs.report import write_report
from planner.pipeline import RunResult
from planner.schema import ALL_ZONES, OUTSIDE_ZONE

__all__ = ["write_outputs", "OUTPUT_FILES"]

log = logging.getLogger(__name__)

OUTPUT_FILES = {
    "map": "index.html",
    "subdistricts_csv": "subdistricts.csv",
    "compounds_csv": "compounds.csv",
    "compounds_gpkg": "compounds.gpkg",
    "facilities_csv": "facilities.csv",
    "catchments_csv": "catchments.csv",
    "compliance_csv": "compliance.csv",
    "gaps_csv": "gaps.csv",
    "circles_csv": "circles.csv",
    "rejected_csv": "rejected.csv",
    "summary": "summary.json",
    # printable report, workbook, 街道 outlines for `planner compare` (planner.outputs.report, planner.outputs.excel, planner.outputs.compare)
    "report_html": "report.html",
    "report_xlsx": "report.xlsx",
    "subdistricts_gpkg": "subdistricts.gpkg",
}


def _csv(frame: pd.DataFrame, path: Path, *, index: bool) -> None:
    # UTF-8 with BOM so that Excel on Chinese Windows opens it without mojibake
    frame.replace([np.inf, -np.inf], np.nan).to_csv(path, index=index, encoding="utf-8-sig", float_format="%.6g")


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_outputs(result: RunResult, out_dir: str | Path, *, lang: str | None = None) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir`` (created if needed) and return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lang = lang or result.scenario.language
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}

    _write_tables(result, paths)
    _write_map(result, paths["map"], lang=lang)
    paths.update(_write_siting(result, out))
    # --- 街道 outlines (compare), then after summary.json the report and workbook (planner.outputs.report, planner.outputs.excel) ---
    if result.zones is not None and len(result.zones):
        write_zone_outlines(result.zones, paths["subdistricts_gpkg"])
    else:
        paths.pop("subdistricts_gpkg")

    summary = _summary(result, paths)
    paths["summary"].write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    write_report(result, paths["report_html"], lang=lang, summary=summary)
    write_workbook(result, paths["report_xlsx"], lang=lang)
    # --- end report and workbook ---
    log.info("outputs written to %s", out)
    return paths


def _write_tables(result: RunResult, paths: dict[str, Path]) -> None:
    """The compound, facility, 街道, catchment, compliance, gap, circle and rejected-row tables.

    Tables the run does not have (compliance, gaps, circles) are written nowhere and dropped from ``paths``.
    """
    comp = result.compounds.drop(columns="geometry").join(result.coverage.table)
    comp_out = gpd.GeoDataFrame(comp, geometry=result.compounds.geometry, crs=result.crs).to_crs(4326)
    _csv(comp.drop(columns=schema.columns_of(comp.columns, "nearest_name")), paths["compounds_csv"], index=False)
    gpkg = comp_out.replace([np.inf, -np.inf], np.nan)
    gpkg.to_file(paths["compounds_gpkg"], layer="compounds", driver="GPKG", engine="pyogrio", index=False)
    fac = result.facilities.drop(columns="geometry").copy()
    fac_wgs = result.facilities.geometry.to_crs(4326)
    fac["lon"] = fac_wgs.x.round(7)
    fac["lat"] = fac_wgs.y.round(7)
    _csv(fac, paths["facilities_csv"], index=False)
    _csv(result.zone_table, paths["subdistricts_csv"], index=True)
    _csv(result.coverage.catchments, paths["catchments_csv"], index=False)
    if result.compliance is not None:
        _csv(result.compliance.table, paths["compliance_csv"], index=False)
    if result.gaps is not None:
        _csv(result.gaps, paths["gaps_csv"], index=False)
    if result.circles is not None:
        _csv(result.circles, paths["circles_csv"], index=False)
    for key in ("compliance_csv", "gaps_csv", "circles_csv"):
        if not paths[key].exists():
            paths.pop(key)
    _csv(result.layers.rejected, paths["rejected_csv"], index=False)


def _write_map(result: RunResult, path: Path, *, lang: str) -> None:
    """The interactive gap map (``index.html``)."""
    sc = result.scenario
    fmap = gap_map(
        title=sc.name,
        lang=lang,
        sample_data=sc.sample_data,
        basemap=sc.basemap,
        network=result.network,
        zones=result.zones,
        zone_table=result.zone_table,
        compounds=result.compounds,
        coverage=result.coverage,
        facilities=result.facilities,
        taxonomy=result.taxonomy,
        max_snap_m=sc.max_snap_m,
        isochrones=result.isochrones,
        compliance=result.compliance.table if result.compliance is not None else None,
        tianditu_key=getattr(sc, "tianditu_key", None),
        sites=result.sites,
    )
    save_map(fmap, path)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _summary(result: RunResult, paths: dict[str, Path]) -> dict:
    sc = result.scenario
    layers = {}
    for lyr in (result.layers.facilities, result.layers.residential, result.layers.zones):
        if lyr is None:
            continue
        by_reason = lyr.rejected["reason_code"].value_counts().sort_index().to_dict() if len(lyr.rejected) else {}
        layers[lyr.kind] = {
            "source": lyr.source,
            "rows_read": lyr.rows_read,
            "kept": len(lyr.data),
            "rejected": len(lyr.rejected),
            "rejected_by_reason": by_reason,
        }
    inputs = []
    for p in sorted({sc.path, sc.network.path, *(s.path for s in (sc.facilities, sc.residential, sc.zones) if s and s.path)}):
        inputs.append({"path": str(p), "bytes": p.stat().st_size, "sha256": _digest(p)})
    comp = result.compounds
    longest = max(sc.thresholds_min)
    cats = result.coverage.categories
    total_row = result.zone_table.loc[ALL_ZONES] if ALL_ZONES in result.zone_table.index else result.zone_table.iloc[-1]
    return {
        "planner_version": __version__,
        "scenario": {"name": sc.name, "path": str(sc.path), "sample_data": sc.sample_data},
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "crs": {"metric": result.crs.to_string(), "name": result.crs.name, "outputs": "EPSG:4326"},
        "walking_speed_m_per_min": sc.walking_speed_m_per_min,
        "thresholds_min": list(sc.thresholds_min),
        "thresholds_m": [round(sc.threshold_m(t), 1) for t in sc.thresholds_min],
        "max_snap_m": sc.max_snap_m,
        "categories": list(cats),
        "network": {
            "nodes": len(result.network.nodes),
            "edges": len(result.network.edges),
            "length_km": round(result.network.total_length_km, 3),
            "components": result.network.n_components(),
        },
        "layers": layers,
        "compounds": {
            "count": len(comp),
            "unreachable": int((~comp["reachable"].astype(bool)).sum()),
            "population": float(comp["population"].sum()),
            "outside_zones": int((comp["zone_id"] == OUTSIDE_ZONE).sum()),
        },
        "facilities": {
            "count": len(result.facilities),
            "unreachable": int((~result.facilities["reachable"].astype(bool)).sum()),
            "by_category": result.facilities["category"].value_counts().sort_index().to_dict(),
        },
        f"population_share_within_{schema.minutes_text(longest)}min": {
            c: (None if pd.isna(total_row[schema.share(c, longest)]) else round(float(total_row[schema.share(c, longest)]), 4))
            for c in cats
        },
        "census_unplaced": result.census_unplaced,
        "warnings": result.warnings,
        "standards": _standards_summary(result),
        "siting": [r.summary for r in result.siting],
        "run_time_s": result.timings,
        "inputs": inputs,
        "outputs": {k: p.name for k, p in paths.items()},
    }


def _write_siting(result: RunResult, out: Path) -> dict[str, Path]:
    """sites.csv / sites.gpkg (WGS84), coverage_curve.csv and pairs.csv, when the scenario asked for siting."""
    written: dict[str, Path] = {}
    sites = result.sites
    if sites is None:
        return written
    wgs = sites.to_crs(4326)
    table = wgs.drop(columns="geometry").assign(lon=wgs.geometry.x.round(7), lat=wgs.geometry.y.round(7))
    written["sites_csv"] = out / "sites.csv"
    _csv(table, written["sites_csv"], index=False)
    written["sites_gpkg"] = out / "sites.gpkg"
    if written["sites_gpkg"].exists():
        written["sites_gpkg"].unlink()
    if len(wgs):
        wgs.to_file(written["sites_gpkg"], layer="sites", driver="GPKG", engine="pyogrio", index=False)
    else:
        written.pop("sites_gpkg")
    curve = result.coverage_curve
    if curve is not None and len(curve):
        written["coverage_curve_csv"] = out / "coverage_curve.csv"
        _csv(curve, written["coverage_curve_csv"], index=False)
    if result.pairs is not None:
        written["pairs_csv"] = out / "pairs.csv"
        _csv(result.pairs, written["pairs_csv"], index=False)
    return written


def _standards_summary(result: RunResult) -> dict:
    if result.compliance is None:
        return {}
    t = result.compliance.table
    return {
        "preset": result.compliance.preset,
        "results": len(t),
        "by_status": t["status"].value_counts().sort_index().to_dict(),
        "failing_by_subdistrict": t[t["status"] == "fail"].groupby("subdistrict")["rule_id"].apply(list).to_dict(),
        "circles": None if result.circles is None else {"count": len(result.circles), "complete": int(result.circles["complete"].sum())},
    }


def write_layer_check(layer, out_dir: str | Path) -> dict[str, Path]:
    """Write ``planner check-layer`` results: ``layer.gpkg`` (WGS84, normalised columns) and ``rejected.csv``.

    ``layer`` is a :class:`planner.io.layers.LoadedLayer`. Numeric columns that are empty in every row are left out.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = layer.data.to_crs(4326).copy()
    for col in ("places", "beds", "households", "population", "age_60_plus", "age_0_3", "public_benefit", "floor_area_m2"):
        if col in data.columns and data[col].isna().all():
            data = data.drop(columns=col)
    if "public_benefit" in data.columns:
        data["public_benefit"] = data["public_benefit"].astype("object").where(data["public_benefit"].notna(), None)
    paths = {"layer": out / "layer.gpkg", "rejected": out / "rejected.csv"}
    if paths["layer"].exists():
        paths["layer"].unlink()
    data.to_file(paths["layer"], layer=layer.kind, driver="GPKG", engine="pyogrio", index=False)
    _csv(layer.rejected, paths["rejected"], index=False)
    return paths
