"""Write a run's results: gap map, per-街道 and per-compound tables, rejected rows, summary.json."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__, schema
from planner.outputs.reproducible import source_date, stable_ids, write_gpkg
from planner.outputs.speeds import speeds_summary
from planner.outputs.tables import write_csv
from planner.pipeline import RunResult, peak_rss_mib
from planner.schema import ALL_ZONES, OUTSIDE_ZONE

__all__ = ["write_outputs", "OUTPUT_FILES", "file_sha256"]

log = logging.getLogger(__name__)

OUTPUT_FILES = {
    "map": "index.html",
    "subdistricts_csv": "subdistricts.csv",
    "compounds_csv": "compounds.csv",
    "compounds_gpkg": "compounds.gpkg",
    "compounds_parquet": "compounds.parquet",
    "facilities_csv": "facilities.csv",
    "catchments_csv": "catchments.csv",
    "compliance_csv": "compliance.csv",
    "gaps_csv": "gaps.csv",
    "circles_csv": "circles.csv",
    "rejected_csv": "rejected.csv",
    "partitions_csv": "partitions.csv",
    "one_plus_n_csv": "one_plus_n.csv",  # 1+N 托育: each childcare facility's role and hub (analysis.one_plus_n)
    "one_plus_n_areas_csv": "one_plus_n_areas.csv",
    "summary": "summary.json",
    # printable report, workbook, 街道 outlines for `planner compare` (planner.outputs.report, planner.outputs.excel, planner.outputs.compare)
    "report_html": "report.html",
    "report_xlsx": "report.xlsx",
    "subdistricts_gpkg": "subdistricts.gpkg",
}


def _csv(frame: pd.DataFrame, path: Path, *, index: bool) -> None:
    # UTF-8 with BOM so that Excel on Chinese Windows opens it without mojibake; ±inf written as empty fields
    write_csv(frame, path, index=index, float_format="%.6g")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Clock:
    """Seconds spent writing each output file (``summary.json``'s ``write_time_s``)."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(self.times.get(name, 0.0) + time.perf_counter() - t, 3)


def write_outputs(
    result: RunResult, out_dir: str | Path, *, lang: str | None = None, report: Callable[[str], None] | None = None,
    parallel: bool = False,
) -> dict[str, Path]:
    """Write every output of ``result`` into ``out_dir`` (created if needed) and return their paths.

    ``summary.json`` is written last, with the seconds spent on each file (``write_time_s``) and the peak memory of
    the run (``peak_rss_mib``). ``report`` is called with a one-line message as each group of files is written.

    ``parallel``: the map, and the report with the workbook, are written by two forked processes while this one writes
    the tables (where the system can fork; the same bytes either way). A partitioned run asks for it: its cluster's
    cores are free by then.
    """
    if parallel and sys.platform.startswith("linux"):  # fork is safe there (not on macOS: CPython spawns)
        return _write_forked(result, Path(out_dir), lang=lang or result.scenario.language,
                             say=report or (lambda msg: log.info("%s", msg)))
    # the writers of the map (folium), report (matplotlib, fontTools) and workbook (XlsxWriter) are imported when
    # their file is written: the command line starts, and the run computes, without them in memory
    from planner.outputs.excel import write_workbook
    from planner.outputs.report import write_report

    source_date()  # a malformed SOURCE_DATE_EPOCH stops here, before any file is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lang = lang or result.scenario.language
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    clock = _Clock()
    t0 = time.perf_counter()
    say = report or (lambda msg: log.info("%s", msg))

    def done(what: str, *names: str) -> None:
        seconds = sum(clock.times.get(n, 0.0) for n in names)
        say(f"    {what}：{seconds:.1f} 秒 / {seconds:.1f} s")

    _write_tables(result, paths, clock)
    done("表格 / tables (CSV, GeoPackage, GeoParquet)", *(p.name for p in paths.values()))
    with clock(paths["map"].name):
        _write_map(result, paths["map"], lang=lang)
    done(f"地图 / map {paths['map'].name}", paths["map"].name)
    paths.update(_write_siting(result, out, clock))
    # --- 街道 outlines (compare), then the report and workbook (planner.outputs.report, planner.outputs.excel) ---
    _write_zone_outlines(result, paths, clock)

    summary = _summary(result, paths)
    with clock(paths["report_html"].name):
        write_report(result, paths["report_html"], lang=lang, summary=summary)
    done(f"报告 / report {paths['report_html'].name}", paths["report_html"].name)
    with clock(paths["report_xlsx"].name):
        write_workbook(result, paths["report_xlsx"], lang=lang)
    done(f"工作簿 / workbook {paths['report_xlsx'].name}", paths["report_xlsx"].name)
    # --- end report and workbook ---
    return _finish(result, summary, paths, clock, t0, out)


def _finish(result: RunResult, summary: dict, paths: dict[str, Path], clock: _Clock, t0: float, out: Path) -> dict[str, Path]:
    """summary.json, last: the writing times, the run's peak memory and each stage's."""
    summary["write_time_s"] = {**dict(sorted(clock.times.items())), "total": round(time.perf_counter() - t0, 3)}
    peak = peak_rss_mib()
    summary["peak_rss_mib"] = peak if peak == peak else None  # NaN (unreadable) as null: summary.json stays strict JSON
    summary["stage_peak_rss_mib"] = {k: (v if v == v else None) for k, v in result.peak_rss_mib.items()}  # per stage
    paths["summary"].write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=_json_default), encoding="utf-8")
    log.info("outputs written to %s", out)
    return paths


# the result a forked writer reads (set in the parent just before the fork: a child shares it, nothing is pickled)
_FORKED: RunResult | None = None


def _forked_map(path: str, lang: str) -> float:
    """In a forked process: the gap map of :data:`_FORKED`; its seconds."""
    t = time.perf_counter()
    _write_map(_FORKED, Path(path), lang=lang)
    return round(time.perf_counter() - t, 3)


def _forked_report(html: str, xlsx: str, lang: str, summary: dict) -> dict[str, float]:
    """In a forked process: the report and the workbook of :data:`_FORKED`; their seconds."""
    from planner.outputs.excel import write_workbook
    from planner.outputs.report import write_report

    times = {}
    t = time.perf_counter()
    write_report(_FORKED, Path(html), lang=lang, summary=summary)
    times[Path(html).name] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    write_workbook(_FORKED, Path(xlsx), lang=lang)
    times[Path(xlsx).name] = round(time.perf_counter() - t, 3)
    return times


def _write_forked(result: RunResult, out: Path, *, lang: str, say: Callable[[str], None]) -> dict[str, Path]:
    """:func:`write_outputs` with the map and the report written by two forked processes beside the tables here."""
    global _FORKED
    from concurrent.futures import ProcessPoolExecutor

    source_date()
    out.mkdir(parents=True, exist_ok=True)
    paths = {key: out / name for key, name in OUTPUT_FILES.items()}
    clock = _Clock()
    t0 = time.perf_counter()
    summary = _summary(result, paths)  # the report reads the inputs' part; "outputs" is set again at the end
    _FORKED = result
    try:
        with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("fork")) as pool:
            drawn = pool.submit(_forked_map, str(paths["map"]), lang)
            written = pool.submit(_forked_report, str(paths["report_html"]), str(paths["report_xlsx"]), lang, summary)
            _write_tables(result, paths, clock)
            say(f"    表格 / tables (CSV, GeoPackage, GeoParquet)：{time.perf_counter() - t0:.1f} 秒 / s")
            paths.update(_write_siting(result, out, clock))
            _write_zone_outlines(result, paths, clock)
            clock.times[paths["map"].name] = drawn.result()
            say(f"    地图 / map {paths['map'].name}：{clock.times[paths['map'].name]:.1f} 秒 / s（另一进程 / in a second process）")
            clock.times.update(written.result())
            say(f"    报告与工作簿 / report and workbook：{clock.times[paths['report_html'].name] + clock.times[paths['report_xlsx'].name]:.1f} "
                "秒 / s（另一进程 / in a second process）")
    finally:
        _FORKED = None
    summary["outputs"] = {k: p.name for k, p in paths.items()}
    return _finish(result, summary, paths, clock, t0, out)


def _write_zone_outlines(result: RunResult, paths: dict[str, Path], clock: _Clock) -> None:
    """subdistricts.gpkg, the 街道 outlines `planner compare` reads (dropped from ``paths`` without 街道)."""
    from planner.outputs.compare import write_zone_outlines

    if result.zones is not None and len(result.zones):
        with clock(paths["subdistricts_gpkg"].name):
            write_zone_outlines(result.zones, paths["subdistricts_gpkg"])
    else:
        paths.pop("subdistricts_gpkg")


def _write_tables(result: RunResult, paths: dict[str, Path], clock: _Clock) -> None:
    """The compound, facility, 街道, catchment, compliance, gap, circle and rejected-row tables; the compounds also
    as GeoPackage and GeoParquet (WGS84, with the nearest facilities' names).

    Tables the run does not have (compliance, gaps, circles) are written nowhere and dropped from ``paths``.
    """
    comp = result.compounds.drop(columns="geometry").join(result.coverage.table)
    geo = gpd.GeoDataFrame(comp, geometry=result.compounds.geometry.to_crs(4326), crs=4326)
    infinite = [c for c in comp.columns if comp[c].dtype.kind in "fO" and comp[c].isin([np.inf, -np.inf]).any()]
    if infinite:  # ±inf (no facility within the search limit) as NULL; only these columns are copied
        geo[infinite] = geo[infinite].replace([np.inf, -np.inf], np.nan)

    def write_geo() -> None:
        with clock(paths["compounds_gpkg"].name):
            write_gpkg(geo, paths["compounds_gpkg"], layer="compounds", use_arrow=True)
        with clock(paths["compounds_parquet"].name):
            geo.to_parquet(paths["compounds_parquet"], index=False)

    # GDAL and Arrow write the GeoPackage and GeoParquet mostly outside the GIL: on a second core, while the CSV
    # text is formatted here (each file is written by one thread only, so the bytes do not depend on the overlap)
    with ThreadPoolExecutor(max_workers=1) as pool:
        geo_done = pool.submit(write_geo)
        with clock(paths["compounds_csv"].name):
            _csv(comp.drop(columns=schema.columns_of(comp.columns, "nearest_name")), paths["compounds_csv"], index=False)
        _write_other_tables(result, paths, clock)
        geo_done.result()


def _write_other_tables(result: RunResult, paths: dict[str, Path], clock: _Clock) -> None:
    """Facilities, 街道, catchments, compliance, gaps, circles and rejected rows as CSV."""
    fac = result.facilities.drop(columns="geometry").copy()
    fac_wgs = result.facilities.geometry.to_crs(4326)
    fac["lon"] = _coordinate_text(fac_wgs.x)
    fac["lat"] = _coordinate_text(fac_wgs.y)
    tables = {
        "facilities_csv": fac,
        "subdistricts_csv": result.zone_table,
        "catchments_csv": result.coverage.catchments,
        "compliance_csv": result.compliance.table if result.compliance is not None else None,
        "gaps_csv": result.gaps,
        "circles_csv": result.circles,
        "rejected_csv": result.layers.rejected,
        "partitions_csv": result.partitions,  # a partitioned run only (planner.partition)
        "one_plus_n_csv": result.one_plus_n.table if result.one_plus_n is not None else None,
        "one_plus_n_areas_csv": result.one_plus_n.areas if result.one_plus_n is not None else None,
    }
    for key, table in tables.items():
        if table is None:
            paths.pop(key)
            continue
        with clock(paths[key].name):
            _csv(table, paths[key], index=key == "subdistricts_csv")


def _coordinate_text(degrees: pd.Series) -> pd.Series:
    """WGS84 degrees as text with 7 decimals (about 1 cm): the tables' 6 significant digits would move a point by up
    to ~40 m; empty where unknown."""
    text = degrees.map("{:.7f}".format)
    return text.where(degrees.notna(), "")


def _write_map(result: RunResult, path: Path, *, lang: str) -> None:
    """The interactive gap map (``index.html``)."""
    from planner.outputs.maps import gap_map, save_map

    sc = result.scenario
    with stable_ids():
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
            rules=result.compliance.rules if result.compliance is not None else (),
            tianditu_key=getattr(sc, "tianditu_key", None),
            sites=result.sites,
            site_catchments=result.site_catchments,
            speeds=getattr(sc, "speeds", None),
            one_plus_n=result.one_plus_n.table if getattr(result, "one_plus_n", None) is not None else None,
        )
        save_map(fmap, path)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value))


def _components(network) -> int:
    """Connected components of the walk network (isolated nodes count), from its arrays."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    st = network.streets
    graph = coo_array((np.ones(st.n_edges, dtype=np.int8), (st.u, st.v)), shape=(st.n_nodes, st.n_nodes))
    return int(connected_components(graph, directed=False, return_labels=False))


def _partitions_summary(table: pd.DataFrame) -> dict:
    """summary.json's account of a partitioned run: how many partitions, the rows they read against those they own
    (the halo's cost), their slowest and their peak memory, the attempts Dask made."""
    return {
        "count": len(table),
        "workers": sorted(set(table["worker"].astype(str))),
        "compounds_read_per_owned": round(float(table["compounds_read"].sum() / max(table["compounds"].sum(), 1)), 3),
        "nodes_loaded": int(table["nodes_loaded"].sum()),
        "edges_loaded_per_owned": round(float(table["edges_loaded"].sum() / max(table["edges_owned"].sum(), 1)), 3),
        "slowest_s": float(table["seconds"].max()),
        "peak_rss_mib_max": float(table["peak_rss_mib"].max()),
        "attempts": int(table["attempts"].sum()),
        "file": "partitions.csv",
    }


def _overlaps(overlaps: pd.DataFrame | None) -> dict:
    """summary.json's account of overlapping 街道: the rule and every pair (largest first)."""
    from planner.analysis.zones import ZONE_RULE

    pairs = [] if overlaps is None else [
        {k: (float(v) if k == "overlap_m2" else str(v)) for k, v in row.items()} for row in overlaps.to_dict("records")
    ]
    return {"pairs": len(pairs), "rule": ZONE_RULE, "overlaps": pairs}


def _network_summary(result: RunResult, length_km: float) -> dict:
    """summary.json's "network" block: size, connected pieces, the small ones points are not snapped to, and the
    points near only such pieces (isolated_network)."""
    net, spec = result.network, result.scenario.network
    block = {
        "nodes": net.n_nodes,
        "edges": net.n_edges,
        "length_km": round(length_km, 3),
        "components": _components(net),
        "walk_filter": spec.walk_filter,
    }
    if net.pieces is not None:
        p = net.pieces
        block.update({
            "pieces": p.n_pieces,
            "min_piece_m": p.min_piece_m,
            "small_pieces": p.n_small,
            "small_pieces_km": round(p.small_km, 3),
        })
    block["isolated_points"] = {"compounds": 0, "facilities": 0, **result.isolated_points}
    # what was read: lines/ways read, used, not walkable, dropped by reason; node ids not used; the warnings given
    block["input"] = {k: v for k, v in getattr(net, "source", {}).items() if k != "warnings"}
    block["warnings"] = list(getattr(net, "source", {}).get("warnings", []))
    return block


def _summary(result: RunResult, paths: dict[str, Path]) -> dict:
    from planner.outputs.report import network_length_km

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
            "units_read": dict(sorted(lyr.units_read.items())),  # column -> values read from text with a unit (50张)
            "notes": list(lyr.notes),  # what the reader did: sheets joined, title rows skipped, headers flattened
        }
    inputs = []
    for p in sc.input_paths():
        inputs.append({"path": str(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)})
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
        "thresholds_m": [round(sc.threshold_m(t), 1) for t in sc.thresholds_min],  # the adults'
        **speeds_summary(sc, result.coverage, result.taxonomy),  # per group: speeds, metres of each threshold, categories
        "max_snap_m": sc.max_snap_m,
        "categories": list(cats),
        # the scenario's own [[categories]] (names, group, colour): what `planner compare` labels them by
        "own_categories": [{k: c[k] for k in ("key", "zh", "en", "group", "color")} for c in sc.own_categories],
        "network": _network_summary(result, network_length_km(result.network)),
        "layers": layers,
        "zone_overlaps": _overlaps(result.zone_overlaps),
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
        **({"partitions": _partitions_summary(result.partitions)} if result.partitions is not None else {}),
        "standards": _standards_summary(result),
        "one_plus_n": result.one_plus_n.summary() if result.one_plus_n is not None else None,
        "siting": [r.summary for r in result.siting],
        "run_time_s": result.timings,
        "inputs": inputs,
        "outputs": {k: p.name for k, p in paths.items()},
    }


def _write_siting(result: RunResult, out: Path, clock: _Clock) -> dict[str, Path]:
    """sites.csv / sites.gpkg (WGS84; layers ``sites`` and ``catchments``), coverage_curve.csv and pairs.csv, when the
    scenario asked for siting."""
    written: dict[str, Path] = {}
    sites = result.sites
    if sites is None:
        return written
    wgs = sites.to_crs(4326)
    table = wgs.drop(columns="geometry").assign(lon=_coordinate_text(wgs.geometry.x), lat=_coordinate_text(wgs.geometry.y))
    written["sites_csv"] = out / "sites.csv"
    with clock("sites.csv"):
        _csv(table, written["sites_csv"], index=False)
    written["sites_gpkg"] = out / "sites.gpkg"
    if written["sites_gpkg"].exists():
        written["sites_gpkg"].unlink()
    if len(wgs):
        with clock("sites.gpkg"):
            write_gpkg(wgs, written["sites_gpkg"], layer="sites")
            catchments = result.site_catchments
            if catchments is not None and len(catchments):  # each site's walking catchment, a second layer
                write_gpkg(catchments.to_crs(4326), written["sites_gpkg"], layer="catchments")
    else:
        written.pop("sites_gpkg")
    curve = result.coverage_curve
    if curve is not None and len(curve):
        written["coverage_curve_csv"] = out / "coverage_curve.csv"
        with clock("coverage_curve.csv"):
            _csv(curve, written["coverage_curve_csv"], index=False)
    if result.pairs is not None:
        written["pairs_csv"] = out / "pairs.csv"
        with clock("pairs.csv"):
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
    write_gpkg(data, paths["layer"], layer=layer.kind)
    _csv(layer.rejected, paths["rejected"], index=False)
    return paths
