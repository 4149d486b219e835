"""Compare two runs (``planner compare RUN_A RUN_B --out DIR``): what changed per 街道 and per compound.

Reads two output folders of ``planner run`` — ``summary.json``, ``subdistricts.csv``, ``compliance.csv``,
``compounds.gpkg`` (or ``compounds.csv``) and, when present, ``subdistricts.gpkg`` (the 街道 outlines) — and
writes ``compare.html`` (an offline map drawn by :mod:`planner.outputs.compare_map`: compounds coloured by
change or by their coverage before and after, 街道 shaded by rules improved or declined), ``compare.csv`` (one row
per 街道, plus 全市), ``compare_rules.csv`` (every rule × 街道: status and value before → after, target, the change
in words), ``compare_served.csv`` (people served before and after per 街道 × view or category × group) and
``compare.xlsx`` (those tables, the compounds and facilities that changed).

A compound is *newly covered* for a category when it is within the longest threshold of it in B but not in A, and
*lost* the other way round; the people counted are B's population for newly covered compounds and A's for lost
ones. A view (养老, 托育, 一刻钟便民生活圈; :data:`VIEWS`) serves a compound when any of its categories is within
reach (for 一刻钟便民生活圈: every basic format).

A rule *improves* when its value moves towards better — up for a rule passed at ``value >= target`` (every kind of
``planner/data/rules.toml``; :data:`OPERATORS`), down for one passed at ``value <= target`` — or, with the value
unchanged, when its shortfall shrinks; it *declines* the other way. A change of pass/fail is 新达标 / 新不达标.
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
from planner.analysis.standards import load_rules
from planner.errors import PlannerError
from planner.io.categories import Taxonomy, load_taxonomy
from planner.labels import tr, unit_label
from planner.outputs.basemaps import check_basemap
from planner.outputs.compare_map import CHANGES, VIEWS, comparison_map, view_categories
from planner.outputs.excel import write_tables
from planner.outputs.maps import save_map
from planner.outputs.reproducible import shown_date, stable_ids, write_gpkg
from planner.schema import ALL_ZONES, CITY, NOT_ZONES

__all__ = [
    "RunOutput",
    "Comparison",
    "read_run",
    "compare_runs",
    "compare_rules_and_served",
    "result_output",
    "write_comparison",
    "write_zone_outlines",
    "summary_lines",
    "rule_direction",
    "format_value",
    "view_categories",
    "CHANGES",
    "RULE_CHANGES",
    "OPERATORS",
    "VIEWS",
    "GROUPS",
]

log = logging.getLogger(__name__)

_REQUIRED = ("summary.json", "subdistricts.csv", "compliance.csv")

#: how each kind of rule (``kind`` in ``planner/data/rules.toml``) compares its value with the target to pass —
#: the evaluators of :mod:`planner.analysis.requirements`; ``zone_community`` with ``strict = true`` uses ``>``.
#: A kind not listed here (a run of another planner version) has its direction read from its own pass/fail rows.
OPERATORS = {
    "zone_count": ">=",
    "zone_per_1000": ">=",
    "zone_capacity_share": ">=",
    "zone_bed_share": ">=",
    "zone_coverage": ">=",
    "zone_community": ">=",
    "zone_room_area": ">=",
    "zone_formats": ">=",
    "city_zone_share": ">=",
    "city_per_1000_group": ">=",
    "city_circles": ">=",
    "city_count": ">=",
    "city_one_plus_n_hubs": ">=",
    "city_one_plus_n_coverage": ">=",
}
_SYMBOLS = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}

#: what happened to a rule from A to B, in the order the outputs list them
RULE_CHANGES = ("newly_passing", "improved", "declined", "newly_failing", "changed", "unchanged")

#: the groups of people counted as served
GROUPS = ("population", "age_60_plus", "age_0_3")
_TOL = 1e-9


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

    @property
    def own_categories(self) -> list[dict]:
        """The run's own [[categories]] as summary.json lists them (key, names, group, colour)."""
        return list(self.summary.get("own_categories") or [])

    @property
    def thresholds(self) -> list[float]:
        return sorted(float(t) for t in (self.summary.get("thresholds_min") or [15]))

    @property
    def language(self) -> str | None:
        """The run's language when its summary records one (``"zh"`` or ``"en"``)."""
        lang = self.summary.get("language") or (self.summary.get("scenario") or {}).get("language")
        return lang if lang in ("zh", "en") else None

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
    #: people served in A and B per 街道 (and 全市) × view or category × group (:func:`_served`)
    served: pd.DataFrame = field(default_factory=pd.DataFrame)


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


def result_output(result, *, name: str | None = None, coverage=None, compliance=None) -> RunOutput:
    """The :class:`RunOutput` that the output folder of ``result`` (a :class:`~planner.pipeline.RunResult`) would
    give :func:`read_run`, built in memory (nothing written or read): for comparing a run with plans of it
    (`planner serve`). ``coverage`` and ``compliance`` replace the run's (a plan's); ``name`` its scenario's name."""
    sc = result.scenario
    coverage = coverage if coverage is not None else result.coverage
    compliance = compliance if compliance is not None else result.compliance
    comp = result.compounds
    keep = [c for c in ("id", "name", "zone_id", *GROUPS) if c in comp.columns]
    longest = max(sc.thresholds_min)
    within = [schema.within(c, longest) for c in coverage.categories if schema.within(c, longest) in coverage.table.columns]
    compounds = pd.DataFrame(comp[keep]).join(coverage.table[within])
    compounds["id"] = compounds["id"].astype(str)
    compounds["zone_id"] = compounds["zone_id"].astype(str)
    zones = result.zone_table.copy()
    zones.index = zones.index.astype(str)
    table = compliance.table.copy() if compliance is not None else pd.DataFrame(columns=["subdistrict", "rule_id"])
    table["subdistrict"], table["rule_id"] = table["subdistrict"].astype(str), table["rule_id"].astype(str)
    summary = {"planner_version": "memory", "scenario": {"name": name or sc.name}, "thresholds_min": list(sc.thresholds_min),
               "categories": list(coverage.categories), "language": sc.language}
    return RunOutput(path=Path(sc.path) if sc.path else Path("."), summary=summary, zones=zones, compliance=table,
                     compounds=compounds.set_index("id", drop=False), outlines=None)


def _shared(a: RunOutput, b: RunOutput) -> tuple[list[str], pd.Index, list[str], list[str]]:
    """What two runs share: 街道, compound ids (in B's order) and categories, with notes on what is left out."""
    notes: list[str] = []
    zones_a = [z for z in a.zones.index.astype(str) if z not in NOT_ZONES]
    zones_b = [z for z in b.zones.index.astype(str) if z not in NOT_ZONES]
    if not zones_a and not zones_b:  # runs without a zones layer: compare the whole area
        zones_a = zones_b = [ALL_ZONES]
    in_a = set(zones_a)
    shared = [z for z in zones_b if z in in_a]
    if not shared:
        raise PlannerError(
            f"两次运行没有共同的街道，无法对比（A：{'、'.join(zones_a) or '无'}；B：{'、'.join(zones_b) or '无'}） / "
            f"the two runs share no 街道 (A: {', '.join(zones_a) or 'none'}; B: {', '.join(zones_b) or 'none'}): "
            "compare two runs of the same area"
        )
    only = sorted(set(zones_a) ^ set(zones_b))
    if only:
        notes.append(f"只在一次运行中出现的街道未参与对比：{'、'.join(only)} / 街道 in one run only are left out: {', '.join(only)}")
    if a.compounds.index.equals(b.compounds.index):  # a plan of the run: the same compounds (compared in C, not per id)
        ids, n_only = b.compounds.index, 0
    else:
        ids = b.compounds.index[b.compounds.index.isin(a.compounds.index)]  # (a set per row was quadratic)
        n_only = len(set(a.compounds.index) ^ set(b.compounds.index)) if len(ids) else 0
    if not len(ids):
        raise PlannerError(
            "两次运行没有共同的小区（按小区编号 id 匹配），无法对比 / the two runs share no compounds (matched by id): "
            "compare two runs of the same area"
        )
    if n_only:
        notes.append(f"{n_only} 个小区只在一次运行中出现，未参与对比 / {n_only} compounds in one run only are left out")
    cats_a = set(a.categories)
    cats = [c for c in b.categories if c in cats_a]
    dropped = sorted(set(a.categories) ^ set(b.categories))
    if dropped:
        notes.append(f"只在一次运行中分析的类别未参与对比：{', '.join(dropped)} / categories analysed in one run only: {', '.join(dropped)}")
    if a.longest != b.longest:
        notes.append(f"两次运行的最长步行时间不同（A {a.longest:g}，B {b.longest:g} 分钟）/ the runs' longest thresholds differ")
    return shared, ids, cats, notes


def compare_rules_and_served(a: RunOutput, b: RunOutput) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The rules × 街道 table and the people-served table of :func:`compare_runs` (``rules``, ``served``) and its
    notes, without the per-compound and per-街道 tables (a plan compared in `planner serve`)."""
    shared, ids, cats, notes = _shared(a, b)
    return _rule_changes(a, b, shared), _served(a, b, ids, cats, shared, notes), notes


def compare_runs(a: RunOutput, b: RunOutput) -> Comparison:
    """Tabulate what changed from run ``a`` to run ``b``.

    Raises :class:`PlannerError` when the runs share no 街道 or no compounds (then they are not two versions
    of one city). 街道, compounds or categories found in only one run are left out, with a note.
    """
    shared, ids, cats, notes = _shared(a, b)
    comp = _compound_changes(a, b, ids, cats)
    rules = _rule_changes(a, b, shared)
    zones = _zone_table(a, b, shared, comp, rules, cats)
    served = _served(a, b, ids, cats, shared, notes)
    return Comparison(a=a, b=b, zones=zones, rules=rules, compounds=comp, categories=cats, notes=notes,
                      facilities=_facility_changes(a, b), served=served)


def _facility_changes(a: RunOutput, b: RunOutput) -> pd.DataFrame | None:
    """Facilities (matched by id) present in B only (``added``) or in A only (``removed``)."""
    if a.facilities is None or b.facilities is None:
        return None
    cols = [c for c in ("id", "name", "category", "category_zh", "zone_id", "lon", "lat") if c in a.facilities.columns and c in b.facilities.columns]
    added = b.facilities.loc[~b.facilities.index.isin(a.facilities.index), cols].assign(change="added")
    removed = a.facilities.loc[~a.facilities.index.isin(b.facilities.index), cols].assign(change="removed")
    return pd.concat([added, removed], ignore_index=True)


def runs_taxonomy(*runs: RunOutput) -> Taxonomy:
    """The shipped taxonomy with the runs' own categories (the first run's wins for a key both define)."""
    own: dict[str, dict] = {}
    for run in runs:
        for rec in run.own_categories:
            own.setdefault(str(rec["key"]), rec)
    return load_taxonomy().with_categories(list(own.values()))


def _compound_changes(a: RunOutput, b: RunOutput, ids: pd.Index, cats: list[str]) -> pd.DataFrame:
    taxonomy = runs_taxonomy(a, b)
    ids = ids.tolist()
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


def rule_direction(rule_id: str, rows: pd.DataFrame | None = None) -> int:
    """+1 when a higher value of rule ``rule_id`` is better, -1 when a lower one is.

    Read from the rule's kind in ``planner/data/rules.toml`` (:data:`OPERATORS`); a rule planner does not know (a run
    of another version) is judged by its own ``rows`` (compliance rows with ``value``, ``target`` and ``status``):
    lower is better only when its passing and failing rows agree with ``value <= target`` better than with
    ``value >= target``.
    """
    op = _operator(rule_id)
    if op is not None:
        return 1 if op in (">=", ">") else -1
    if rows is None or not len(rows):
        return 1
    value = pd.to_numeric(rows["value"], errors="coerce")
    target = pd.to_numeric(rows["target"], errors="coerce")
    ok = rows["status"].isin(["pass", "fail"]) & value.notna() & target.notna()
    passed = rows.loc[ok, "status"] == "pass"
    higher = int(((value[ok] >= target[ok]) == passed).sum())
    lower = int(((value[ok] <= target[ok]) == passed).sum())
    return -1 if lower > higher else 1


def _records() -> dict[str, dict]:
    return {rec["id"]: rec for rec in load_rules()}


def _operator(rule_id: str) -> str | None:
    rec = _records().get(rule_id)
    if rec is None:
        return None
    op = OPERATORS.get(rec["kind"])
    return ">" if op == ">=" and rec.get("strict") else op


def _rule_changes(a: RunOutput, b: RunOutput, shared: list[str]) -> pd.DataFrame:
    """Every rule × 街道 (and 全市) of either run: status, value, target and shortfall in A and B, and the change.

    ``change`` is one of :data:`RULE_CHANGES`: ``newly_passing`` / ``newly_failing`` when the result turns to pass
    or away from it, ``changed`` between fail and not evaluable, else ``improved`` / ``declined`` by the value
    (towards better as :func:`rule_direction` says), or — the value unchanged — by the shortfall (smaller is better),
    else ``unchanged``. ``delta`` is ``value_b - value_a``.
    """
    keep = set(shared) | {CITY}
    cols = ["subdistrict", "subdistrict_name", "rule_id", "rule", "status", "value", "target", "shortfall", "unit", "shortfall_text"]
    frames = []
    for run in (a, b):
        c = run.compliance
        c = c.assign(**{k: np.nan for k in cols if k not in c.columns})[cols]
        frames.append(c[c["subdistrict"].isin(keep)])
    ra, rb = frames
    m = rb.merge(ra, on=["subdistrict", "rule_id"], how="outer", suffixes=("_b", "_a"))
    for col in ("subdistrict_name", "rule", "unit"):
        m[col] = m[f"{col}_b"].fillna(m[f"{col}_a"])
    records = _records()
    english = m["rule_id"].map({r: rec["en"] for r, rec in records.items()})
    m["rule_en"] = english.where(english.notna(), m["rule"])
    sa, sb = m["status_a"].fillna("not_evaluable"), m["status_b"].fillna("not_evaluable")
    m["status_a"], m["status_b"] = sa, sb
    for col in ("value", "target", "shortfall"):
        for side in ("a", "b"):
            m[f"{col}_{side}"] = pd.to_numeric(m[f"{col}_{side}"], errors="coerce")
    rule_ids = m["rule_id"].unique()
    operators = {r: _operator(r) for r in rule_ids}
    unknown = [r for r in rule_ids if operators[r] is None]  # judged by their own rows (a run of another version)
    both = pd.concat([ra, rb], ignore_index=True) if unknown else None
    directions = {r: rule_direction(r, None if operators[r] is not None else both[both["rule_id"] == r]) for r in rule_ids}
    direction = m["rule_id"].map(directions).to_numpy(dtype=np.float64)
    symbols = {r: _SYMBOLS.get(operators[r] or "", "≥" if directions[r] > 0 else "≤") for r in rule_ids}
    m["operator"] = m["rule_id"].map(symbols)
    m["delta"] = m["value_b"] - m["value_a"]
    towards = np.nan_to_num(direction * m["delta"].to_numpy(dtype=np.float64))
    shrink = np.nan_to_num((m["shortfall_a"] - m["shortfall_b"]).to_numpy(dtype=np.float64))
    score = np.where(np.abs(towards) > _TOL, np.sign(towards), np.where(np.abs(shrink) > _TOL, np.sign(shrink), 0.0))
    m["change"] = np.select(
        [(sb == "pass") & (sa != "pass"), (sa == "pass") & (sb != "pass"), sa != sb, score > 0, score < 0],
        ["newly_passing", "newly_failing", "changed", "improved", "declined"],
        "unchanged",
    )
    order = {z: i for i, z in enumerate([*shared, CITY])}
    rule_order = {r: i for i, r in enumerate(dict.fromkeys([*rb["rule_id"], *ra["rule_id"]]))}
    m = m.sort_values(["subdistrict", "rule_id"], key=lambda s: s.map(order if s.name == "subdistrict" else rule_order), kind="stable")
    return m[["subdistrict", "subdistrict_name", "rule_id", "rule", "rule_en", "status_a", "status_b", "change", "value_a",
              "value_b", "delta", "operator", "target_a", "target_b", "unit", "shortfall_a", "shortfall_b",
              "shortfall_text_a", "shortfall_text_b"]].reset_index(drop=True)


def _positions(run: RunOutput, ids: pd.Index) -> np.ndarray:
    """The row numbers in ``run.compounds`` of compounds ``ids`` (every row in order when ``ids`` is its index)."""
    index = run.compounds.index
    return np.arange(len(index)) if index.equals(ids) else index.get_indexer(ids)


def _served(a: RunOutput, b: RunOutput, ids: pd.Index, cats: list[str], shared: list[str], notes: list[str]) -> pd.DataFrame:
    """People of each group served in A and in B, newly served and no longer served, per 街道 and 全市, per view
    (:data:`VIEWS`) and per category: one row each. A compound counts in its 街道 of run B; served means within the
    longest threshold (for a view: of any of its categories; 一刻钟便民生活圈: of every basic format). The people are
    A's numbers in A (and for those no longer served) and B's in B (and for those newly served)."""
    measures: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    pa, pb = _positions(a, ids), _positions(b, ids)
    wa = {c: a.within(c).to_numpy()[pa] for c in cats}
    wb = {c: b.within(c).to_numpy()[pb] for c in cats}
    for view in VIEWS:
        vc = view_categories(view, cats, runs_taxonomy(a, b))
        if not vc:
            continue
        join = np.logical_and.reduce if view == "formats" else np.logical_or.reduce
        measures.append((view, "view", join([wa[c] for c in vc]), join([wb[c] for c in vc])))
    measures += [(c, "category", wa[c], wb[c]) for c in cats]
    groups = []
    for g in GROUPS:
        ga = pd.to_numeric(a.compounds[g], errors="coerce").to_numpy(dtype=np.float64)[pa] if g in a.compounds.columns else np.full(len(ids), np.nan)
        gb = pd.to_numeric(b.compounds[g], errors="coerce").to_numpy(dtype=np.float64)[pb] if g in b.compounds.columns else np.full(len(ids), np.nan)
        if np.isnan(ga).all() and np.isnan(gb).all():
            if g != "population":
                notes.append(f"两次运行都没有{tr('group.' + g, 'zh')}人口，未统计该人群 / neither run has {tr('group.' + g, 'en')} "
                             "numbers: that group is not counted")
            continue
        groups.append((g, np.nan_to_num(ga), np.nan_to_num(gb)))
    zones = [z for z in shared if z != ALL_ZONES]
    code = np.full(len(ids), -1)
    if zones:  # each compound's 街道 of B as a number (-1: none shared), factorised once rather than per id
        own, found = pd.factorize(b.compounds["zone_id"].astype(str))
        lookup = np.r_[pd.Index(zones).get_indexer(found.astype(str)), -1]  # the last: a missing zone_id (code -1)
        code = lookup[own[pb]]
    n_z = len(zones) + 1  # the last slot: 全市
    inside = code >= 0
    at = code[inside]
    # one row per measure × group × (街道…, 全市); per 街道 sums by bincount, 全市 the whole sum
    sums: list[list[np.ndarray]] = [[], [], [], []]
    for _, _, ma, mb in measures:
        for _, ga, gb in groups:
            for k, w in enumerate((ga * ma, gb * mb, gb * (mb & ~ma), ga * (ma & ~mb))):
                sums[k].append(np.r_[np.bincount(at, weights=w[inside], minlength=n_z - 1), w.sum()])
    n_mg = len(measures) * len(groups)
    columns = {
        "zone_id": np.tile(np.array([*zones, CITY], dtype=object), n_mg),
        "view": np.repeat(np.array([m[0] for m in measures], dtype=object), len(groups) * n_z),
        "view_kind": np.repeat(np.array([m[1] for m in measures], dtype=object), len(groups) * n_z),
        "group": np.tile(np.repeat(np.array([g[0] for g in groups], dtype=object), n_z), len(measures)),
    }
    for name, parts in zip(("served_a", "served_b", "newly_served", "no_longer_served"), sums, strict=True):
        columns[name] = np.concatenate(parts) if parts else np.zeros(0)
    out = pd.DataFrame({k: list(v) if v.dtype == object else v for k, v in columns.items()})
    names = {CITY: CITY}
    for run in (b, a):  # B's name first, A's for a 街道 B does not name
        have = run.zones.index.isin(zones)
        names.update((z, n) for z, n in zip(run.zones.index[have], run.zones["name"].to_numpy()[have].astype(str), strict=True)
                     if z not in names)
    out.insert(1, "name", out["zone_id"].map(names).fillna(out["zone_id"]))
    out["net_change"] = out["served_b"] - out["served_a"]
    order = {z: i for i, z in enumerate([*zones, CITY])}
    return out.sort_values("zone_id", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


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
            "n_improved": int((r["change"] == "improved").sum()),
            "n_declined": int((r["change"] == "declined").sum()),
            "newly_passing": "；".join(r.loc[r["change"] == "newly_passing", "rule_id"]),
            "newly_failing": "；".join(r.loc[r["change"] == "newly_failing", "rule_id"]),
            "improved": "；".join(r.loc[r["change"] == "improved", "rule_id"]),
            "declined": "；".join(r.loc[r["change"] == "declined", "rule_id"]),
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


# ------------------------------------------------------------------------------------------------ words


def _number(v: float) -> str:
    """1 decimal from 10 on, 2 below, trailing zeros dropped: 64.5, 5.62, 6.8, 1."""
    text = f"{v:,.1f}" if abs(v) >= 10 else f"{v:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def format_value(value: object, unit: object, lang: str = "zh") -> str:
    """A rule's value with its unit as a person reads it: ``64.5%``, ``1 所``, ``5.61 个托位/千人``; ``—`` when missing."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "—"
    if not np.isfinite(v):
        return "—"
    u = unit_label(unit, lang)
    return f"{_number(v)}{u}" if u == "%" else f"{_number(v)} {u}".rstrip()


def _delta_text(delta: float, unit: object, lang: str) -> str:
    if not np.isfinite(delta) or abs(delta) < _TOL:
        return ""
    sign = "+" if delta > 0 else "−"
    u = tr("cmp.points", lang) if str(unit) == "%" else ""  # the values beside it carry the unit
    return f"{sign}{_number(abs(delta))} {u}".rstrip()


def _rule_phrase(row, lang: str) -> str:
    """``64.5% → 69.4%（+5.0 个百分点；目标 ≥ 90%；仍未达标）`` in ``lang``."""
    va = format_value(row.value_a, row.unit, lang) if row.status_a != "not_evaluable" else tr("cmp.not_evaluable", lang)
    vb = format_value(row.value_b, row.unit, lang) if row.status_b != "not_evaluable" else tr("cmp.not_evaluable", lang)
    target = row.target_b if np.isfinite(row.target_b) else row.target_a
    parts = [p for p in (_delta_text(row.delta, row.unit, lang),
                         f"{tr('cmp.target', lang)} {row.operator} {format_value(target, row.unit, lang)}") if p]
    same_value = not np.isfinite(row.delta) or abs(row.delta) < _TOL
    if same_value and np.isfinite(row.shortfall_a) and np.isfinite(row.shortfall_b) and row.shortfall_a != row.shortfall_b:
        parts.insert(0, f"{tr('cmp.shortfall', lang)} {_number(row.shortfall_a)} → {_number(row.shortfall_b)}")
    if row.change in ("improved", "declined", "unchanged") and row.status_b in ("pass", "fail"):
        parts.append(tr("cmp.still_failing" if row.status_b == "fail" else "cmp.still_passing", lang))
    sep, op, cl = ("；", "（", "）") if lang == "zh" else ("; ", " (", ")")
    return f"{va} → {vb}{op}{sep.join(parts)}{cl}"


_MARKS = {"newly_passing": "✔", "improved": "↑", "declined": "↓", "newly_failing": "✘", "changed": "~", "unchanged": "·"}


def _both(key: str, **fmt: object) -> str:
    return f"{tr(key, 'zh', **fmt)} / {tr(key, 'en', **fmt)}"


def _measure_name(key: str, kind: str, lang: str, taxonomy: Taxonomy | None = None) -> str:
    if kind == "view":
        return tr(f"cmp.view.{key}", lang)
    taxonomy = taxonomy or load_taxonomy()
    return taxonomy[key].label(lang) if key in taxonomy else key


def _served_lines(served: pd.DataFrame, zone: str, indent: str, *, only_changed: bool) -> list[str]:
    """One line per view or category of ``zone``: per group the people newly served (and no longer served)."""
    sub = served[served["zone_id"] == zone]
    lines = []
    for (key, kind), rows in sub.groupby(["view", "view_kind"], sort=False):
        if only_changed and not ((rows["newly_served"] > 0) | (rows["no_longer_served"] > 0)).any():
            continue
        cells = []
        for r in rows.itertuples():
            cell = f"{tr('group.' + r.group, 'zh')} / {tr('group.' + r.group, 'en')} +{r.newly_served:,.0f}"
            if r.no_longer_served > 0:
                cell += f" −{r.no_longer_served:,.0f}"
            cells.append(cell)
        name = f"{_measure_name(key, kind, 'zh')} / {_measure_name(key, kind, 'en')}"
        lines.append(f"{indent}{name}：{'，'.join(cells)}")
    return lines


def summary_lines(cmp: Comparison, *, max_zones: int = 20, max_rules: int = 12) -> list[str]:
    """What ``planner compare`` prints: per 街道 (and 全市) the rules that changed, by name (中文 / English), value
    before → after against the target and the change in words, and the people newly served per view and group.

    At most ``max_zones`` 街道 and ``max_rules`` rules each are listed; a line says how many more compare.xlsx holds.
    """
    t = schema.minutes_text(cmp.b.longest)
    counts = cmp.compounds["change"].value_counts()
    g, lo, mx = (int(counts.get(k, 0)) for k in ("gained", "lost", "mixed"))
    lines = [f"对比 / comparing: {cmp.a.name} ({cmp.a.path}) → {cmp.b.name} ({cmp.b.path})"]
    lines += [f"  ⚠ {n}" for n in cmp.notes]
    lines.append(f"小区：新增覆盖 {g} 个，失去覆盖 {lo} 个，有增有减 {mx} 个 / compounds newly covered {g}, lost cover {lo}, mixed {mx}")
    if len(cmp.served):
        lines.append(f"新增服务人口（{t} 分钟内，全市；+ 新增，− 不再服务）/ people newly served within {t} min, whole area (+ newly, − no longer):")
        lines += _served_lines(cmp.served[cmp.served["view_kind"] == "view"], CITY, "  ", only_changed=False)
        lines += _served_lines(cmp.served[cmp.served["view_kind"] == "category"], CITY, "  ", only_changed=True)
    rules = cmp.rules
    changed = rules[rules["change"] != "unchanged"]
    lines.append(f"指标变化（{len(changed)} 项）/ rule changes ({len(changed)}):")
    if not len(changed):
        lines.append("  无 / none")
    zones = [z for z in dict.fromkeys(changed["subdistrict"])]
    shown = [z for z in zones if z != CITY][:max_zones] + ([CITY] if CITY in zones else [])
    for z in shown:
        r = changed[changed["subdistrict"] == z]
        n = {k: int((r["change"] == k).sum()) for k in RULE_CHANGES}
        name = "全市 / whole area" if z == CITY else str(r["subdistrict_name"].iloc[0])
        lines.append(f"  {name}：新达标 {n['newly_passing']} 项，改善 {n['improved']} 项，变差 {n['declined']} 项，新不达标 {n['newly_failing']} 项 / "
                     f"{n['newly_passing']} newly passing, {n['improved']} improved, {n['declined']} declined, {n['newly_failing']} newly failing")
        order = pd.Categorical(r["change"], categories=list(RULE_CHANGES)).codes
        r = r.iloc[np.argsort(order, kind="stable")]
        for row in r.iloc[:max_rules].itertuples():
            lines.append(f"    {_MARKS[row.change]} {tr('cmp.change.' + row.change, 'zh')} / {tr('cmp.change.' + row.change, 'en')}："
                         f"{row.rule} / {row.rule_en}")
            lines.append(f"        {_rule_phrase(row, 'zh')} / {_rule_phrase(row, 'en')}")
        if len(r) > max_rules:
            lines.append(f"    … {_both('cmp.more_rules', n=len(r) - max_rules)}")
        if z != CITY and len(cmp.served):
            lines += _served_lines(cmp.served[cmp.served["view_kind"] == "category"], z, "    + ", only_changed=True)
    if len(zones) - len(shown) > 0:
        lines.append(f"  … 另有 {len(zones) - len(shown)} 个街道有变化，见 compare.xlsx / {len(zones) - len(shown)} more 街道 in compare.xlsx")
    return lines


# ------------------------------------------------------------------------------------------------ writing


def _rule_names(cmp: Comparison, lang: str) -> dict[str, str]:
    col = "rule" if lang == "zh" else "rule_en"
    return dict(zip(cmp.rules["rule_id"], cmp.rules[col], strict=True))


def _sheets(cmp: Comparison, lang: str) -> list[tuple[str, pd.DataFrame]]:
    """The tables of compare.xlsx in ``lang``: rules named (not numbered), units and views labelled."""
    names = _rule_names(cmp, lang)
    sep = "；" if lang == "zh" else "; "
    zones = cmp.zones.copy()
    for col in ("newly_passing", "newly_failing", "improved", "declined"):
        zones[col] = [sep.join(names.get(r, r) for r in str(v).split("；") if r) for v in zones[col]]
    rules = cmp.rules.copy()
    if lang != "zh":
        rules["rule"] = rules["rule_en"]
    rules["unit"] = [unit_label(u, lang) for u in rules["unit"]]
    rules = rules.drop(columns="rule_en")
    served = cmp.served.copy()
    if len(served):
        taxonomy = runs_taxonomy(cmp.a, cmp.b)
        served["view"] = [_measure_name(k, kind, lang, taxonomy) for k, kind in zip(served["view"], served["view_kind"], strict=True)]
    compounds = pd.DataFrame(cmp.compounds.drop(columns="geometry", errors="ignore"))
    sheets = [("compare_zones", zones), ("compare_rules", rules), ("compare_served", served),
              ("compare_compounds", compounds[compounds["change"] != "unchanged"].reset_index(drop=True))]
    if cmp.facilities is not None:
        sheets.append(("compare_facilities", cmp.facilities))
    return sheets



def write_comparison(
    cmp: Comparison, out_dir: str | Path, *, lang: str = "zh", basemap: str = "offline", tianditu_key: str | None = None
) -> dict[str, Path]:
    """Write ``compare.html``, ``compare.csv``, ``compare_rules.csv``, ``compare_served.csv`` and ``compare.xlsx``
    into ``out_dir`` (created if needed)."""
    check_basemap(basemap, tianditu_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"map": out / "compare.html", "csv": out / "compare.csv", "rules_csv": out / "compare_rules.csv",
             "served_csv": out / "compare_served.csv", "xlsx": out / "compare.xlsx"}
    cmp.zones.to_csv(paths["csv"], index=False, encoding="utf-8-sig", float_format="%.6g")
    cmp.rules.to_csv(paths["rules_csv"], index=False, encoding="utf-8-sig", float_format="%.6g")
    cmp.served.to_csv(paths["served_csv"], index=False, encoding="utf-8-sig", float_format="%.6g")
    taxonomy = runs_taxonomy(cmp.a, cmp.b)
    about = [
        (tr("cmp.run_a", lang), f"{cmp.a.name} — {cmp.a.path.resolve()}"),
        (tr("cmp.run_b", lang), f"{cmp.b.name} — {cmp.b.path.resolve()}"),
        *(((tr("xl.created", lang), date),) if (date := shown_date()) is not None else ()),
        (tr("cmp.method", lang), tr("cmp.method_text", lang, t=schema.minutes_text(cmp.b.longest))),
        (tr("cmp.rule_changes", lang), tr("cmp.rule_method", lang)),
        *((tr("cmp.note", lang), n) for n in cmp.notes),
    ]
    write_tables(_sheets(cmp, lang), paths["xlsx"], lang=lang, taxonomy=taxonomy, about=about)
    with stable_ids():
        save_map(comparison_map(cmp, lang=lang, basemap=basemap, tianditu_key=tianditu_key), paths["map"])
    log.info("comparison written to %s", out)
    return paths
