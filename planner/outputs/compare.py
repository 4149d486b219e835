"""Compare two runs (``planner compare RUN_A RUN_B --out DIR``): what changed per 街道 and per compound.

Reads two output folders of ``planner run`` — ``summary.json``, ``subdistricts.csv``, ``compliance.csv``,
``compounds.gpkg`` (or ``compounds.csv``) and, when present, ``subdistricts.gpkg`` (the 街道 outlines) — and
writes ``compare.html`` (an offline map drawn by :mod:`planner.outputs.compare_map`: compounds coloured by
change, 街道 that gain or lose rules), ``compare.csv`` (one row per 街道, plus 全市) and ``compare.xlsx`` (that
table, the rule changes and the compounds that changed). A compound is *newly covered* for a category when it is within the longest threshold of it in B
but not in A, and *lost* the other way round; the people counted are B's population for newly covered compounds
and A's for lost ones.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.errors import PlannerError
from planner.io.categories import load_taxonomy
from planner.labels import tr
from planner.outputs.basemaps import check_basemap
from planner.outputs.compare_map import CHANGES, comparison_map
from planner.outputs.excel import write_tables
from planner.outputs.maps import save_map
from planner.outputs.reproducible import shown_date, stable_ids, write_gpkg
from planner.schema import ALL_ZONES, CITY, NOT_ZONES

__all__ = ["RunOutput", "Comparison", "read_run", "compare_runs", "write_comparison", "write_zone_outlines", "CHANGES"]

log = logging.getLogger(__name__)

_REQUIRED = ("summary.json", "subdistricts.csv", "compliance.csv")


@dataclass(frozen=True)
class RunOutput:
    """The tables of one run output folder."""

    path: Path
    summary: dict
    zones: pd.DataFrame  # subdistricts.csv, indexed by zone_id (str)
    compliance: pd.DataFrame
    compounds: pd.DataFrame  # by compound id (str); a GeoDataFrame (WGS84) when compounds.gpkg was there
    outlines: gpd.GeoDataFrame | None  # 街道 polygons (WGS84) from subdistricts.gpkg
    facilities: pd.DataFrame | None = None  # facilities.csv (id, name, category, lon, lat …), indexed by id

    @property
    def name(self) -> str:
        return str(self.summary.get("scenario", {}).get("name", self.path.name))

    @property
    def longest(self) -> float:
        return float(max(self.summary.get("thresholds_min") or [15]))

    @property
    def categories(self) -> list[str]:
        return list(self.summary.get("categories") or [])

    def within(self, category: str) -> pd.Series:
        """Whether each compound is within the longest threshold of ``category`` (False when not computed)."""
        col = schema.within(category, self.longest)
        if col not in self.compounds.columns:
            return pd.Series(False, index=self.compounds.index)
        return _as_bool(self.compounds[col])


@dataclass(frozen=True)
class Comparison:
    """Run A against run B: per 街道 (``zones``), per 街道 × rule (``rules``) and per compound (``compounds``)."""

    a: RunOutput
    b: RunOutput
    zones: pd.DataFrame
    rules: pd.DataFrame
    compounds: gpd.GeoDataFrame | pd.DataFrame
    categories: list[str]
    notes: list[str] = field(default_factory=list)
    facilities: pd.DataFrame | None = None  # facilities added in B or removed from A (``change``: added / removed)


def _as_bool(series: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(series):
        return series.fillna(False).astype(bool)
    return series.astype(str).str.strip().str.lower().isin(["true", "1", "1.0", "yes"])


def write_zone_outlines(zones: gpd.GeoDataFrame, path: str | Path) -> Path:
    """Write the 街道 polygons (``zone_id``, ``name``; WGS84) that ``planner compare`` draws: ``subdistricts.gpkg``."""
    path = Path(path)
    if path.exists():
        path.unlink()
    out = gpd.GeoDataFrame({"zone_id": zones.index.astype(str), "name": zones["name"].astype(str).to_numpy()},
                           geometry=zones.geometry.to_crs(4326).to_numpy(), crs=4326)
    write_gpkg(out, path, layer="subdistricts")
    return path


def read_run(folder: str | Path) -> RunOutput:
    """Read the output folder of ``planner run``; a :class:`PlannerError` names what is missing."""
    path = Path(folder)
    if not path.is_dir():
        raise PlannerError(f"找不到运行输出文件夹 {path} / run output folder not found: {path}")
    missing = [n for n in _REQUIRED if not (path / n).is_file()]
    if not (path / "compounds.gpkg").is_file() and not (path / "compounds.csv").is_file():
        missing.append("compounds.gpkg / compounds.csv")
    if missing:
        raise PlannerError(
            f"{path} 不是 planner 的运行输出文件夹：缺少 {'、'.join(missing)}（先运行 planner run 情景.toml --out {path}） / "
            f"{path} is not a planner run output folder: missing {', '.join(missing)} (run `planner run SCENARIO --out {path}` first)"
        )
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlannerError(f"{path / 'summary.json'} 无法读取：{exc} / cannot read summary.json: {exc}") from exc
    if not isinstance(summary, dict) or "planner_version" not in summary:
        raise PlannerError(f"{path / 'summary.json'} 不是 planner 的运行摘要 / is not a planner run summary")
    try:
        return _read_tables(path, summary)
    except (KeyError, ValueError, OSError, UnicodeDecodeError, RuntimeError) as exc:  # a damaged or hand-edited file (pyogrio errors are RuntimeErrors)
        raise PlannerError(
            f"{path} 中的输出文件已损坏或被改动，无法读取（{type(exc).__name__}: {exc}）；请重新运行 planner run / an output file in "
            f"{path} is damaged or was edited and cannot be read ({type(exc).__name__}: {exc}); run `planner run` again"
        ) from exc


_COLUMNS = {"subdistricts.csv": ("zone_id", "name"), "compliance.csv": ("subdistrict", "rule_id")}


def _read_tables(path: Path, summary: dict) -> RunOutput:
    """The run's tables (their required columns checked)."""
    for name, cols in _COLUMNS.items():
        header = pd.read_csv(path / name, encoding="utf-8-sig", nrows=0).columns
        missing = [c for c in cols if c not in header]
        if missing:
            raise KeyError(f"{name} 缺少列 / has no column {', '.join(missing)}")
    zones = pd.read_csv(path / "subdistricts.csv", encoding="utf-8-sig", dtype={"zone_id": str}).set_index("zone_id")
    compliance = pd.read_csv(path / "compliance.csv", encoding="utf-8-sig", dtype={"subdistrict": str, "rule_id": str})
    if (path / "compounds.gpkg").is_file():
        compounds = gpd.read_file(path / "compounds.gpkg", engine="pyogrio")
    else:
        compounds = pd.read_csv(path / "compounds.csv", encoding="utf-8-sig", dtype={"id": str, "zone_id": str})
    compounds["id"] = compounds["id"].astype(str)
    compounds["zone_id"] = compounds["zone_id"].astype(str)
    compounds = compounds.set_index("id", drop=False)
    outlines = None
    if (path / "subdistricts.gpkg").is_file():
        outlines = gpd.read_file(path / "subdistricts.gpkg", engine="pyogrio")
        outlines["zone_id"] = outlines["zone_id"].astype(str)
        outlines = outlines.set_index("zone_id")
    facilities = None
    if (path / "facilities.csv").is_file():
        facilities = pd.read_csv(path / "facilities.csv", encoding="utf-8-sig", dtype={"id": str, "zone_id": str})
        facilities = facilities.set_index("id", drop=False)
    return RunOutput(path=path, summary=summary, zones=zones, compliance=compliance, compounds=compounds, outlines=outlines,
                     facilities=facilities)


def compare_runs(a: RunOutput, b: RunOutput) -> Comparison:
    """Tabulate what changed from run ``a`` to run ``b``.

    Raises :class:`PlannerError` when the runs share no 街道 or no compounds (then they are not two versions
    of one city). 街道, compounds or categories found in only one run are left out, with a note.
    """
    notes: list[str] = []
    zones_a = [z for z in a.zones.index.astype(str) if z not in NOT_ZONES]
    zones_b = [z for z in b.zones.index.astype(str) if z not in NOT_ZONES]
    if not zones_a and not zones_b:  # runs without a zones layer: compare the whole area
        zones_a = zones_b = [ALL_ZONES]
    shared = [z for z in zones_b if z in set(zones_a)]
    if not shared:
        raise PlannerError(
            f"两次运行没有共同的街道，无法对比（A：{'、'.join(zones_a) or '无'}；B：{'、'.join(zones_b) or '无'}） / "
            f"the two runs share no 街道 (A: {', '.join(zones_a) or 'none'}; B: {', '.join(zones_b) or 'none'}): "
            "compare two runs of the same area"
        )
    only = sorted(set(zones_a) ^ set(zones_b))
    if only:
        notes.append(f"只在一次运行中出现的街道未参与对比：{'、'.join(only)} / 街道 in one run only are left out: {', '.join(only)}")
    ids = [i for i in b.compounds.index if i in set(a.compounds.index)]
    if not ids:
        raise PlannerError(
            "两次运行没有共同的小区（按小区编号 id 匹配），无法对比 / the two runs share no compounds (matched by id): "
            "compare two runs of the same area"
        )
    n_only = len(set(a.compounds.index) ^ set(b.compounds.index))
    if n_only:
        notes.append(f"{n_only} 个小区只在一次运行中出现，未参与对比 / {n_only} compounds in one run only are left out")
    cats = [c for c in b.categories if c in set(a.categories)]
    dropped = sorted(set(a.categories) ^ set(b.categories))
    if dropped:
        notes.append(f"只在一次运行中分析的类别未参与对比：{', '.join(dropped)} / categories analysed in one run only: {', '.join(dropped)}")
    if a.longest != b.longest:
        notes.append(f"两次运行的最长步行时间不同（A {a.longest:g}，B {b.longest:g} 分钟）/ the runs' longest thresholds differ")

    comp = _compound_changes(a, b, ids, cats)
    rules = _rule_changes(a, b, shared)
    zones = _zone_table(a, b, shared, comp, rules, cats)
    return Comparison(a=a, b=b, zones=zones, rules=rules, compounds=comp, categories=cats, notes=notes,
                      facilities=_facility_changes(a, b))


def _facility_changes(a: RunOutput, b: RunOutput) -> pd.DataFrame | None:
    """Facilities (matched by id) present in B only (``added``) or in A only (``removed``)."""
    if a.facilities is None or b.facilities is None:
        return None
    cols = [c for c in ("id", "name", "category", "category_zh", "zone_id", "lon", "lat") if c in a.facilities.columns and c in b.facilities.columns]
    added = b.facilities.loc[~b.facilities.index.isin(a.facilities.index), cols].assign(change="added")
    removed = a.facilities.loc[~a.facilities.index.isin(b.facilities.index), cols].assign(change="removed")
    return pd.concat([added, removed], ignore_index=True)


def _compound_changes(a: RunOutput, b: RunOutput, ids: list[str], cats: list[str]) -> pd.DataFrame:
    taxonomy = load_taxonomy()
    ca, cb = a.compounds.loc[ids], b.compounds.loc[ids]
    gained = pd.DataFrame({c: (~a.within(c).loc[ids].to_numpy()) & b.within(c).loc[ids].to_numpy() for c in cats}, index=ids)
    lost = pd.DataFrame({c: a.within(c).loc[ids].to_numpy() & ~b.within(c).loc[ids].to_numpy() for c in cats}, index=ids)
    any_g, any_l = gained.any(axis=1), lost.any(axis=1)
    change = np.select([any_g & ~any_l, any_l & ~any_g, any_g & any_l], ["gained", "lost", "mixed"], "unchanged")
    names = lambda frame: ["、".join(taxonomy[c].zh if c in taxonomy else c for c in frame.columns[row]) for row in frame.to_numpy()]  # noqa: E731
    out = pd.DataFrame(
        {
            "compound_id": ids,
            "name": cb["name"].astype(str).to_numpy(),
            "zone_id": cb["zone_id"].astype(str).to_numpy(),
            "change": change,
            "categories_gained": names(gained) if cats else "",
            "categories_lost": names(lost) if cats else "",
            "population_a": pd.to_numeric(ca["population"], errors="coerce").to_numpy(),
            "population_b": pd.to_numeric(cb["population"], errors="coerce").to_numpy(),
        },
        index=pd.Index(ids, name="id"),
    )
    for c in cats:
        out[schema.newly_covered(c)] = np.where(gained[c], out["population_b"].fillna(0), 0.0)
        out[schema.lost(c)] = np.where(lost[c], out["population_a"].fillna(0), 0.0)
    if isinstance(b.compounds, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(out, geometry=b.compounds.loc[ids].geometry.to_numpy(), crs=b.compounds.crs)
    return out


def _rule_changes(a: RunOutput, b: RunOutput, shared: list[str]) -> pd.DataFrame:
    keep = set(shared) | {CITY}
    cols = ["subdistrict", "subdistrict_name", "rule_id", "rule", "status", "value", "shortfall_text"]
    ra = a.compliance[a.compliance["subdistrict"].isin(keep)][cols]
    rb = b.compliance[b.compliance["subdistrict"].isin(keep)][cols]
    m = rb.merge(ra, on=["subdistrict", "rule_id"], how="outer", suffixes=("_b", "_a"))
    m["subdistrict_name"] = m["subdistrict_name_b"].fillna(m["subdistrict_name_a"])
    m["rule"] = m["rule_b"].fillna(m["rule_a"])
    sa, sb = m["status_a"].fillna("not_evaluable"), m["status_b"].fillna("not_evaluable")
    m["change"] = np.select(
        [(sb == "pass") & (sa != "pass"), (sa == "pass") & (sb != "pass"), sa != sb],
        ["newly_passing", "newly_failing", "changed"],
        "unchanged",
    )
    order = {z: i for i, z in enumerate([*shared, CITY])}
    m = m.sort_values(["subdistrict", "rule_id"], key=lambda s: s.map(order) if s.name == "subdistrict" else s, kind="stable")
    return m[["subdistrict", "subdistrict_name", "rule_id", "rule", "status_a", "status_b", "change", "value_a", "value_b",
              "shortfall_text_a", "shortfall_text_b"]].reset_index(drop=True)


def _zone_table(a: RunOutput, b: RunOutput, shared: list[str], comp: pd.DataFrame, rules: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    rows = []
    for z in [*shared, CITY]:
        r = rules[rules["subdistrict"] == z]
        if z == CITY:
            sub = comp
            name = CITY
        else:
            sub = comp[comp["zone_id"] == z]
            name = str(b.zones.loc[z, "name"]) if z in b.zones.index else str(a.zones.loc[z, "name"])
        row = {
            "zone_id": z,
            "name": name,
            "rules_pass_a": int((r["status_a"] == "pass").sum()),
            "rules_pass_b": int((r["status_b"] == "pass").sum()),
            "rules_fail_a": int((r["status_a"] == "fail").sum()),
            "rules_fail_b": int((r["status_b"] == "fail").sum()),
            "n_newly_passing": int((r["change"] == "newly_passing").sum()),
            "n_newly_failing": int((r["change"] == "newly_failing").sum()),
            "newly_passing": "；".join(r.loc[r["change"] == "newly_passing", "rule_id"]),
            "newly_failing": "；".join(r.loc[r["change"] == "newly_failing", "rule_id"]),
            "compliant_a": bool(len(r)) and bool((r["status_a"] == "pass").all()),
            "compliant_b": bool(len(r)) and bool((r["status_b"] == "pass").all()),
            "population_a": float(sub["population_a"].sum()),
            "population_b": float(sub["population_b"].sum()),
            "newly_covered_total": float(sum(sub[schema.newly_covered(c)].sum() for c in cats)),
            "lost_total": float(sum(sub[schema.lost(c)].sum() for c in cats)),
        }
        for c in cats:
            row[schema.newly_covered(c)] = float(sub[schema.newly_covered(c)].sum())
        for c in cats:
            row[schema.lost(c)] = float(sub[schema.lost(c)].sum())
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ writing


def write_comparison(
    cmp: Comparison, out_dir: str | Path, *, lang: str = "zh", basemap: str = "offline", tianditu_key: str | None = None
) -> dict[str, Path]:
    """Write ``compare.html``, ``compare.csv`` and ``compare.xlsx`` into ``out_dir`` (created if needed)."""
    check_basemap(basemap, tianditu_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"map": out / "compare.html", "csv": out / "compare.csv", "xlsx": out / "compare.xlsx"}
    cmp.zones.to_csv(paths["csv"], index=False, encoding="utf-8-sig", float_format="%.6g")
    taxonomy = load_taxonomy()
    compounds = pd.DataFrame(cmp.compounds.drop(columns="geometry", errors="ignore"))
    about = [
        (tr("cmp.run_a", lang), f"{cmp.a.name} — {cmp.a.path.resolve()}"),
        (tr("cmp.run_b", lang), f"{cmp.b.name} — {cmp.b.path.resolve()}"),
        *(((tr("xl.created", lang), date),) if (date := shown_date()) is not None else ()),
        (tr("cmp.method", lang), tr("cmp.method_text", lang, t=schema.minutes_text(cmp.b.longest))),
        *((tr("cmp.note", lang), n) for n in cmp.notes),
    ]
    sheets = [("compare_zones", cmp.zones), ("compare_rules", cmp.rules),
              ("compare_compounds", compounds[compounds["change"] != "unchanged"].reset_index(drop=True))]
    if cmp.facilities is not None:
        sheets.append(("compare_facilities", cmp.facilities))
    write_tables(
        sheets,
        paths["xlsx"], lang=lang, taxonomy=taxonomy, about=about,
    )
    with stable_ids():
        save_map(comparison_map(cmp, lang=lang, basemap=basemap, tianditu_key=tianditu_key), paths["map"])
    log.info("comparison written to %s", out)
    return paths
