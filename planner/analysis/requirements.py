"""Evaluate planning rules per 街道 (and city-wide): value, target, pass/fail, and the shortfall in natural units.

Where the data a rule needs is missing the status is ``not_evaluable`` with what is missing — never a false
pass. Each rule counts only the categories it names (GB 50180 levels do not nest).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from planner import schema
from planner.analysis.one_plus_n import OnePlusN
from planner.analysis.standards import Rule, builtin_rule, rules_for
from planner.io.categories import Taxonomy
from planner.labels import zh
from planner.progress import progress
from planner.schema import CITY, COMPLIANCE_COLUMNS, GAP_COLUMNS

__all__ = ["CityTargets", "Compliance", "ZoneUpdate", "evaluate", "gap_list", "nearest_of"]

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Compliance:
    """Rule results: ``table`` (one row per 街道 × rule and per city-level rule, COMPLIANCE_COLUMNS) and the
    per-compound ``formats`` table (MOFCOM basic formats within reach: ``n_present``, ``completeness``, ``missing``)."""

    table: pd.DataFrame
    formats: pd.DataFrame
    preset: str
    rules: tuple[Rule, ...] = ()


def nearest_of(coverage_table: pd.DataFrame, categories: Sequence[str]) -> pd.Series:
    """Distance from each compound to the nearest facility of any of ``categories`` (inf when none)."""
    cols = [schema.dist_m(c) for c in categories if schema.dist_m(c) in coverage_table.columns]
    if not cols:
        return pd.Series(np.inf, index=coverage_table.index)
    return coverage_table[cols].min(axis=1)


def _row(zone: str, zone_name: str, rule: Rule, value, status: str, shortfall=None, text: str = "") -> dict:
    return {
        "subdistrict": zone,
        "subdistrict_name": zone_name,
        "rule_id": rule.id,
        "rule": rule.zh,
        "value": None if value is None or (isinstance(value, float) and not math.isfinite(value)) else round(float(value), 4),
        "target": rule.value,
        "status": status,
        "shortfall": shortfall,
        "unit": rule.unit,
        "shortfall_text": text,
        "source": rule.source,
        "conf": rule.conf,
        "scale": rule.scale,
    }


def _missing(zone: str, name: str, rule: Rule, what: str) -> dict:
    return _row(zone, name, rule, None, "not_evaluable", None, f"无法评价：缺少{zh(f'data.{what}', what)} / not evaluable: missing {what}")


def _all_missing(series: pd.Series) -> bool:
    return len(series) == 0 or series.isna().all()


def evaluate(
    *,
    preset: str,
    rules: Sequence[Rule] | None = None,
    overrides: Mapping[str, float] | None = None,
    compounds: pd.DataFrame,
    coverage_table: pd.DataFrame,
    facilities: pd.DataFrame,
    zone_names: dict[str, str],
    taxonomy: Taxonomy,
    complete_circles: int | None,
    city_targets: CityTargets | None = None,
    one_plus_n: OnePlusN | None = None,
) -> Compliance:
    """Evaluate every rule of ``rules`` (the scenario's: :func:`planner.analysis.standards.scenario_rules`) for each
    街道 in ``zone_names``, and once for the whole study area each city-level rule and each 街道 rule whose target is
    set for the city (``scale = "city"``).

    Each 街道 rule is one pass of group-bys over the 街道 (never one frame filter per rule × 街道), so the stage costs
    in proportion to compounds + facilities + rules × 街道.

    Parameters
    ----------
    compounds
        Kept compounds with ``zone_id``, ``population``, ``households``, ``age_60_plus``, ``age_0_3`` and, where
        known, ``built_type`` (new/existing), ``elderly_room_m2``, ``childcare_room_m2``, ``community``.
    coverage_table
        :attr:`planner.analysis.coverage.Coverage.table` on the compounds' index (``dist_m__<category>``).
    facilities
        Kept facilities with ``category``, ``zone_id``, ``places``, ``beds``, ``nursing_beds``, ``public_benefit``.
    zone_names
        街道 id → name, in report order.
    complete_circles
        Number of complete 一刻钟便民生活圈 (None when circles could not be delineated).
    rules, overrides
        The rules to evaluate; without them, the rules of ``preset`` with ``overrides`` (rule id → target).
    city_targets
        How a city-wide count target is read on the study area (``[standards] city_targets``; default: not evaluable).
    one_plus_n
        The run's 1+N 托育 model (:func:`planner.analysis.one_plus_n.guide_points`; None without childcare).
    """
    rules = tuple(rules) if rules is not None else rules_for(preset, overrides)
    city_targets = city_targets or CityTargets()
    basic = [c.key for c in taxonomy.categories if c.basic]
    formats = _formats(coverage_table, basic, taxonomy)
    zones = _Zones.of(compounds, coverage_table, facilities, formats, zone_names, taxonomy)
    rows: list[dict] = []
    zone_rows: dict[str, list[dict]] = {}
    zone_rules = [r for r in rules if not r.city_level]
    for rule in progress(zone_rules, desc="达标评价 / standards", unit="rule"):
        zone_rows[rule.id] = _evaluate_zones(rule, zones)
        rows.extend(zone_rows[rule.id])
    city = _City(compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy, coverage_table, formats, city_targets,
                 {r.id: r for r in rules}, one_plus_n)
    for rule in rules:
        if rule.city_row:
            rows.append(_evaluate_city(rule, city))
    table = pd.DataFrame(rows, columns=COMPLIANCE_COLUMNS)
    failing = table[table["status"] == "fail"]
    log.info("standards %s: %d results, %d fail, %d not evaluable", preset, len(table), len(failing), int((table["status"] == "not_evaluable").sum()))
    return Compliance(table=table, formats=formats, preset=preset, rules=rules)


@dataclass(frozen=True)
class CityTargets:
    """How a city-wide count target (e.g. 建成 100 个一刻钟便民生活圈, ``Rule.count_target``) is read on a study area
    that may be only part of the city: ``mode`` "not_evaluable" (the default: the run cannot tell), "prorate" (the
    target × the study area's residents / ``city_population``) or "whole" (the study area is the whole city)."""

    mode: str = "not_evaluable"
    city_population: float | None = None


class ZoneUpdate:
    """The standards of a run kept to re-evaluate only the 街道 an edit touches (what-if plans, issue #15).

    Every 街道 rule reads only the compounds and facilities of its own 街道, so the rows of the other 街道 stay as
    the run gave them; the rows of the touched 街道 are evaluated by the same functions as :func:`evaluate` on
    those 街道 alone and spliced into the run's table (same row order, same dtypes, the same values to the last bit:
    sums run over the same rows in the same order). The city-wide rules read every 街道 (``city_zone_share``), all
    facilities (``city_per_1000_group``, ``city_count``) or the circles (``city_circles``); each costs one pass over the
    facilities at most and they are always re-evaluated, as are the city rows of 街道 rules set for the city (one pass
    of their evaluator over the whole study area). The MOFCOM formats of the compounds whose distances changed are
    computed again and spliced into the run's ``formats``.

    Parameters
    ----------
    base
        The run's :class:`Compliance` (from :func:`evaluate`: its rules are re-evaluated).
    compounds, zone_names, taxonomy, city_targets
        As given to :func:`evaluate` for the run.
    """

    def __init__(self, base: Compliance, *, compounds: pd.DataFrame, zone_names: dict[str, str], taxonomy: Taxonomy,
                 city_targets: CityTargets | None = None):
        self.base = base
        self.preset = base.preset
        self.rules = base.rules
        self.city_targets = city_targets or CityTargets()
        self.zone_rules = [r for r in self.rules if not r.city_level]
        self.city_rules = [r for r in self.rules if r.city_row]
        self.zone_names = dict(zone_names)
        self.zone_ids = list(zone_names)
        self.taxonomy = taxonomy
        self.basic = [c.key for c in taxonomy.categories if c.basic]
        n_zones = len(self.zone_ids)
        if len(base.table) != n_zones * len(self.zone_rules) + len(self.city_rules):
            raise ValueError("ZoneUpdate: the compliance table was not evaluated with these rules and 街道")
        self.compounds = compounds  # the full frame, for the city-wide rules
        # the compounds' columns the 街道 rules read (no geometry), and their rows grouped by 街道
        self._comp = pd.DataFrame({c: compounds[c] for c in compounds.columns if str(compounds[c].dtype) != "geometry"}, index=compounds.index)
        codes = pd.Index(self.zone_ids, dtype=object).get_indexer(pd.Index(compounds["zone_id"], dtype=object)) if len(compounds) else np.zeros(0, np.int64)
        self.compound_zone = np.asarray(codes, dtype=np.int64)  # code of each compound's 街道 (−1: none listed)
        self._comp_groups = _Groups.of(self.compound_zone, n_zones)
        # the run's table column by column as Python objects (missing values None, as evaluate builds them)
        table = base.table
        self._columns = {c: _as_objects(table[c]) for c in table.columns}
        self._dtypes = table.dtypes
        self._fm = {c: base.formats[c].to_numpy() for c in base.formats.columns}

    def rule_zones(self, changed: Mapping[str, np.ndarray], edited: Mapping[str, Collection[str]]) -> dict[str, np.ndarray]:
        """Per 街道 rule, the codes of the 街道 whose result an edit may change.

        ``changed``: per category, the row positions of the compounds whose distance to it changed; ``edited``: per
        category, the ids of the 街道 where a facility of it was added, removed or moved from or to. A coverage rule
        reads the distances to its categories, the formats rule those to the basic formats, a facility rule the
        facilities of its categories; the room-area rules read only compounds, which no edit changes."""
        by_comp = {c: np.unique(self.compound_zone[np.asarray(p, dtype=np.int64)]) for c, p in changed.items()}
        index = pd.Index(self.zone_ids, dtype=object)
        by_fac = {c: index.get_indexer(pd.Index(list(z), dtype=object)) for c, z in edited.items() if len(z)}
        everything = list(by_comp.values()) + list(by_fac.values())
        out = {}
        for rule in self.zone_rules:
            reads = _READS.get(rule.kind)
            if reads == "coverage":
                parts = [by_comp[c] for c in rule.categories if c in by_comp]
            elif reads == "formats":
                parts = [by_comp[c] for c in self.basic if c in by_comp]
            elif reads == "facilities":
                parts = [by_fac[c] for c in rule.categories if c in by_fac]
            elif reads == "compounds":
                parts = []
            else:  # a kind not listed: every 街道 touched in any way
                parts = everything
            codes = np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, np.int64)
            out[rule.id] = codes[codes >= 0]
        return out

    def formats(self, coverage_table: pd.DataFrame, changed: np.ndarray) -> pd.DataFrame:
        """The per-compound formats table with the rows at positions ``changed`` computed again."""
        changed = np.asarray(changed, dtype=np.int64)
        if len(changed) == 0 or not self.basic:
            return self.base.formats
        cols = [schema.dist_m(c) for c in self.basic if schema.dist_m(c) in coverage_table.columns]
        sub = _formats(coverage_table[cols].iloc[changed], self.basic, self.taxonomy)
        cols = {}
        for c, arr in self._fm.items():
            new = arr.copy()
            new[changed] = sub[c].to_numpy(dtype=arr.dtype)
            cols[c] = new
        return pd.DataFrame(cols, index=self.base.formats.index)

    def evaluate(self, zones: Mapping[str, np.ndarray], *, coverage_table: pd.DataFrame, facilities: pd.DataFrame,
                 formats: pd.DataFrame, complete_circles: int | None, one_plus_n: OnePlusN | None = None) -> Compliance:
        """The run's compliance with each 街道 rule evaluated again for the 街道 ``zones[rule id]`` (codes, e.g. from
        :meth:`rule_zones`; a rule not listed keeps its rows) and every city-wide rule evaluated again.

        ``coverage_table``, ``facilities`` and ``formats`` are the edited ones (all rows; facilities not removed);
        ``formats`` from :meth:`formats`; ``one_plus_n`` the plan's 1+N model when it edits childcare (else the run's 1+N
        rows are kept)."""
        n_zones = len(self.zone_ids)
        cols = {c: v.copy() for c, v in self._columns.items()}
        dist_cols = [c for c in coverage_table.columns if c.startswith(schema.dist_m(""))]
        views: dict[bytes, _Zones] = {}  # the 街道 subsets, one per distinct set of codes
        for k, rule in enumerate(self.zone_rules):
            codes = np.unique(np.asarray(zones.get(rule.id, ()), dtype=np.int64))
            if len(codes) == 0:
                continue
            key = codes.tobytes()
            if key not in views:
                g = self._comp_groups
                rows = np.sort(np.concatenate([g.order[g.bounds[z]:g.bounds[z + 1]] for z in codes]))
                ids = [self.zone_ids[z] for z in codes]
                fac = facilities[facilities["zone_id"].isin(ids).to_numpy(dtype=bool)] if len(facilities) else facilities
                views[key] = _Zones.of(self._comp.iloc[rows], coverage_table[dist_cols].iloc[rows], fac, formats.iloc[rows],
                                       {z: self.zone_names[z] for z in ids}, self.taxonomy)
            for r, p in zip(_evaluate_zones(rule, views[key]), (k * n_zones + codes).tolist(), strict=True):
                for c, v in r.items():
                    cols[c][p] = v
        zone_rows = {}
        wanted = {r.of_rule for r in self.city_rules if r.of_rule}
        for k, rule in enumerate(self.zone_rules):
            if rule.id not in wanted:
                continue
            sl = slice(k * n_zones, (k + 1) * n_zones)
            zone_rows[rule.id] = [{"subdistrict": z, "status": st} for z, st in zip(cols["subdistrict"][sl], cols["status"][sl], strict=True)]
        first = len(self.zone_rules) * n_zones
        city = _City(self.compounds, facilities, self.zone_names, zone_rows, complete_circles, self.taxonomy, coverage_table, formats,
                     self.city_targets, {r.id: r for r in self.rules}, one_plus_n)
        for i, rule in enumerate(self.city_rules):
            if rule.kind in ONE_PLUS_N_KINDS and one_plus_n is None:  # no childcare edited: the run's 1+N rows stand
                continue
            for c, v in _evaluate_city(rule, city).items():
                cols[c][first + i] = v
        table = pd.DataFrame({c: cols[c] for c in COMPLIANCE_COLUMNS}, index=self.base.table.index, copy=False).infer_objects()
        return Compliance(table=table, formats=formats, preset=self.preset, rules=self.rules)


# what each kind of 街道 rule reads that an edit can change (ZoneUpdate.rule_zones)
_READS = {
    "zone_count": "facilities",
    "zone_per_1000": "facilities",
    "zone_capacity_share": "facilities",
    "zone_bed_share": "facilities",
    "zone_coverage": "coverage",
    "zone_community": "coverage",
    "zone_formats": "formats",
    "zone_room_area": "compounds",
}


def _as_objects(column: pd.Series) -> np.ndarray:
    """A column as an object array of Python values, missing ones None (as :func:`evaluate`'s rows hold them)."""
    arr = column.to_numpy(dtype=object, copy=True)
    arr[column.isna().to_numpy()] = None
    return arr


def _formats(coverage_table: pd.DataFrame, basic: list[str], taxonomy: Taxonomy, radius_m: float = 1000.0) -> pd.DataFrame:
    present = pd.DataFrame(
        {c: coverage_table[schema.dist_m(c)] <= radius_m if schema.dist_m(c) in coverage_table.columns else False for c in basic},
        index=coverage_table.index,
    )
    if len(present):
        # one text per pattern of missing formats (at most 2^len(basic), in practice a handful), not one per compound
        flags = present.to_numpy(dtype=bool)
        pattern = (flags.astype(np.int64) << np.arange(len(basic), dtype=np.int64)).sum(axis=1) if basic else np.zeros(len(present), np.int64)
        codes, inverse = np.unique(pattern, return_inverse=True)
        texts = np.array(["、".join(taxonomy[c].zh for i, c in enumerate(basic) if not (p >> i) & 1) for p in codes], dtype=object)
        missing = pd.Series(texts[inverse.ravel()].tolist(), index=present.index)
    else:
        missing = pd.Series(dtype=str)
    return pd.DataFrame(
        {"n_present": present.sum(axis=1).astype(int), "completeness": present.mean(axis=1) if basic else 0.0, "missing": missing},
        index=coverage_table.index,
    )


def _cat_names(rule: Rule, taxonomy: Taxonomy) -> str:
    return "或".join(taxonomy[c].zh for c in rule.categories)


@dataclass(frozen=True)
class _Groups:
    """Rows grouped by 街道: group ``k`` is ``order[bounds[k]:bounds[k + 1]]`` (row positions in input order); rows of
    no listed 街道 (code −1) belong to no group.

    Sums are taken group by group over the same values in the same order as a per-街道 frame's ``Series.sum`` (NaN
    skipped), so results are identical to the last bit; the Python loop is over 街道, never over rows.
    """

    codes: np.ndarray
    order: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, n_groups: int) -> _Groups:
        codes = np.asarray(codes, dtype=np.int64)
        order = np.argsort(codes, kind="stable")
        return cls(codes, order, np.searchsorted(codes[order], np.arange(n_groups + 1)))

    @property
    def n(self) -> int:
        return len(self.bounds) - 1

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Rows per group (where ``mask``)."""
        keep = self.codes >= 0 if mask is None else (self.codes >= 0) & np.asarray(mask, dtype=bool)
        return np.bincount(self.codes[keep], minlength=self.n)

    def sum(self, values, mask: np.ndarray | None = None) -> np.ndarray:
        """Sum of ``values`` (NaN as 0) per group, over the rows where ``mask``."""
        v = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0)[self.order]
        m = None if mask is None else np.asarray(mask, dtype=bool)[self.order]
        b = self.bounds
        if m is None:
            return np.array([v[b[k]:b[k + 1]].sum() for k in range(self.n)], dtype=np.float64)
        return np.array([v[b[k]:b[k + 1]][m[b[k]:b[k + 1]]].sum() for k in range(self.n)], dtype=np.float64)


def _known(series: pd.Series) -> np.ndarray:
    return series.notna().to_numpy(dtype=bool)


def _flags(series: pd.Series) -> np.ndarray:
    """A boolean column with missing values as False."""
    return series.fillna(False).astype(bool).to_numpy()


@dataclass(frozen=True)
class _Zones:
    """What the 街道 rules see: the 街道 (ids and names in report order), the compounds and facilities grouped by
    街道, coverage (on the compounds' rows) and the MOFCOM formats."""

    ids: list[str]
    names: list[str]
    compounds: pd.DataFrame
    comp: _Groups
    facilities: pd.DataFrame
    fac: _Groups
    coverage: pd.DataFrame
    formats: pd.DataFrame
    taxonomy: Taxonomy

    @classmethod
    def of(cls, compounds, coverage, facilities, formats, zone_names: dict[str, str], taxonomy: Taxonomy) -> _Zones:
        ids = list(zone_names)
        index = pd.Index(ids, dtype=object)
        comp_codes = index.get_indexer(pd.Index(compounds["zone_id"], dtype=object)) if len(compounds) else np.zeros(0, np.int64)
        fac_codes = index.get_indexer(pd.Index(facilities["zone_id"], dtype=object)) if len(facilities) else np.zeros(0, np.int64)
        return cls(ids, [zone_names[z] for z in ids], compounds, _Groups.of(comp_codes, len(ids)), facilities,
                   _Groups.of(fac_codes, len(ids)), coverage, formats, taxonomy)

    def rows(self, rule: Rule, results) -> list[dict]:
        """One compliance row per 街道 from ``results``: per 街道 a (value, status, shortfall, text) tuple, or the
        name of the missing data (str)."""
        out = []
        for zid, name, res in zip(self.ids, self.names, results, strict=True):
            out.append(_missing(zid, name, rule, res) if isinstance(res, str) else _row(zid, name, rule, *res))
        return out

    def column(self, name: str) -> pd.Series:
        """A facility column, all missing when the layer has none (OSM facilities have no nursing beds)."""
        return self.facilities[name] if name in self.facilities else pd.Series(np.nan, index=self.facilities.index)

    def in_categories(self, rule: Rule) -> np.ndarray:
        """Facilities of the rule's categories."""
        return self.facilities["category"].isin(rule.categories).to_numpy(dtype=bool)

    def nearest(self, rule: Rule) -> np.ndarray:
        """Distance from each compound (rows of ``compounds``) to the nearest facility of the rule's categories."""
        # only the rule's distance columns are lined up with the compounds (not the table's names and ids: at a city's
        # size that take of every text column cost most of the stage)
        cols = [schema.dist_m(c) for c in rule.categories if schema.dist_m(c) in self.coverage.columns]
        table = self.coverage[cols]
        if not table.index.equals(self.compounds.index):
            table = table.loc[self.compounds.index]
        return nearest_of(table, rule.categories).to_numpy(dtype=np.float64)


def _evaluate_zones(rule: Rule, zones: _Zones) -> list[dict]:
    """One rule for every 街道, by the evaluator of the rule's kind (:data:`_ZONE_EVALUATORS`)."""
    evaluator = _ZONE_EVALUATORS.get(rule.kind)
    if evaluator is None:
        raise ValueError(f"unknown rule kind {rule.kind}")
    return zones.rows(rule, evaluator(rule, zones))


def _pass_or_fail(value: float, target: float) -> str:
    return "pass" if value >= target else "fail"


def _zone_count(rule: Rule, z: _Zones) -> list:
    """At least ``value`` facilities of the categories in the 街道 (only 普惠 ones when the rule says so)."""
    mask = z.in_categories(rule)
    if rule.public_benefit:
        mask = mask & _flags(z.facilities["public_benefit"])
    label = ("普惠" if rule.public_benefit and "普惠" not in _cat_names(rule, z.taxonomy) else "") + _cat_names(rule, z.taxonomy)
    out = []
    for n in z.fac.count(mask).tolist():
        t = rule.value
        short = max(0, int(math.ceil(t - n)))
        out.append((n, _pass_or_fail(n, t), short, f"缺 {short} {rule.unit}{label}" if short else ""))
    return out


def _zone_per_1000(rule: Rule, z: _Zones) -> list:
    """Capacity (places, beds) per 1000 residents of the 街道."""
    pop_col = z.compounds["population"]
    pop_n, pop_sum = z.comp.count(_known(pop_col)), z.comp.sum(pop_col)
    mask = z.in_categories(rule)
    cap_col = z.facilities[rule.capacity]
    n_fac, cap_n, cap_sum = z.fac.count(mask), z.fac.count(mask & _known(cap_col)), z.fac.sum(cap_col, mask)
    out: list = []
    for k in range(z.comp.n):
        pop = pop_sum[k] if pop_n[k] else np.nan
        if pd.isna(pop) or pop <= 0:
            out.append("population")
            continue
        if n_fac[k] and not cap_n[k]:
            out.append(rule.capacity)
            continue
        cap = float(cap_sum[k])
        value, t = cap / pop * 1000, rule.value
        short = max(0, int(math.ceil(t * pop / 1000 - cap - 1e-9)))
        out.append((value, _pass_or_fail(value, t), short, f"缺 {short} 个{zh(f'data.{rule.capacity}')}" if short else ""))
    return out


def _zone_capacity_share(rule: Rule, z: _Zones) -> list:
    """Share (%) of the capacity that is 普惠."""
    mask = z.in_categories(rule)
    cap_col, pb_col = z.facilities[rule.capacity], z.facilities["public_benefit"]
    n_fac, cap_n, pb_n = z.fac.count(mask), z.fac.count(mask & _known(cap_col)), z.fac.count(mask & _known(pb_col))
    total_sum = z.fac.sum(cap_col, mask)
    pb_sum = z.fac.sum(cap_col, mask & _flags(pb_col))
    out: list = []
    for k in range(z.fac.n):
        if n_fac[k] == 0:
            out.append(rule.capacity)
            continue
        if not cap_n[k] or not pb_n[k]:
            out.append(rule.capacity if not cap_n[k] else "public_benefit")
            continue
        total = float(total_sum[k])
        if total <= 0:
            out.append(rule.capacity)
            continue
        pb = float(pb_sum[k])
        value, t = pb / total * 100, rule.value
        short = max(0, int(math.ceil(t / 100 * total - pb - 1e-9)))
        out.append((value, _pass_or_fail(value, t), short, f"缺 {short} 个普惠{zh(f'data.{rule.capacity}')}" if short else ""))
    return out


def _zone_bed_share(rule: Rule, z: _Zones) -> list:
    """Share (%) of the beds that are nursing beds."""
    mask = z.in_categories(rule)
    beds_col, nursing_col = z.column("beds"), z.column("nursing_beds")
    beds_n, beds_sum = z.fac.count(mask & _known(beds_col)), z.fac.sum(beds_col, mask)
    nursing_n, nursing_sum = z.fac.count(mask & _known(nursing_col)), z.fac.sum(nursing_col, mask)
    out: list = []
    for k in range(z.fac.n):
        beds = beds_sum[k] if beds_n[k] else np.nan
        if pd.isna(beds) or beds <= 0:
            out.append("beds")
            continue
        if not nursing_n[k]:
            out.append("nursing_beds")
            continue
        nursing = float(nursing_sum[k])
        value, t = nursing / beds * 100, rule.value
        short = max(0, int(math.ceil(t / 100 * beds - nursing - 1e-9)))
        out.append((value, _pass_or_fail(value, t), short, f"缺 {short} 张护理型床位" if short else ""))
    return out


def _zone_coverage(rule: Rule, z: _Zones) -> list:
    """Share (%) of a group of people within the rule's radius of its categories."""
    group = z.compounds[rule.group]
    size, known = z.comp.count(), z.comp.count(_known(group))
    total_sum = z.comp.sum(group)
    covered_sum = z.comp.sum(group, z.nearest(rule) <= rule.radius_m)
    out: list = []
    for k in range(z.comp.n):
        if size[k] == 0 or known[k] < size[k]:
            out.append(rule.group)
            continue
        total = float(total_sum[k])
        if total <= 0:
            out.append(rule.group)
            continue
        covered = float(covered_sum[k])
        value, t = covered / total * 100, rule.value
        short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
        out.append((value, _pass_or_fail(value, t), short, f"缺覆盖 {short:,} 名{zh(f'people.{rule.group}', rule.group)}" if short else ""))
    return out


def _zone_community(rule: Rule, z: _Zones) -> list:
    """Share (%) of the 街道's communities (社区) with a facility of the categories within the radius."""
    comp = z.compounds
    community = comp["community"].astype("string").fillna(pd.Series(comp.index.astype(str), index=comp.index))
    codes = z.comp.codes
    inside = codes >= 0
    hit = pd.Series(z.nearest(rule) <= rule.radius_m)[inside]
    has = hit.groupby([codes[inside], community.to_numpy()[inside]]).any()  # per (街道, community)
    zone_of = has.index.get_level_values(0).to_numpy()
    n_comm = np.bincount(zone_of, minlength=z.comp.n)
    n_has = np.bincount(zone_of, weights=has.to_numpy(dtype=float), minlength=z.comp.n).astype(np.int64)
    size = z.comp.count()
    out: list = []
    for k in range(z.comp.n):
        if size[k] == 0:
            out.append("population")
            continue
        n, kk, t = int(n_comm[k]), int(n_has[k]), rule.value
        value = kk / n * 100
        ok = value > t if rule.strict else value >= t
        need = (math.floor(t / 100 * n) + 1) if rule.strict else math.ceil(t / 100 * n)
        short = max(0, need - kk)
        out.append((value, "pass" if ok else "fail", short, f"还需 {short} 个社区有{_cat_names(rule, z.taxonomy)}" if short else ""))
    return out


def _zone_room_area(rule: Rule, z: _Zones) -> list:
    """Service-room area per 100 households, compound by compound, for new or existing compounds."""
    comp = z.compounds
    if "built_type" not in comp:
        return ["built_type"] * z.comp.n
    built = comp["built_type"]
    bt_known = z.comp.count(_known(built))
    sub = _flags(built == rule.built)
    n_sub = z.comp.count(sub)
    has_room = rule.room in comp
    room = comp[rule.room] if has_room else pd.Series(np.nan, index=comp.index)
    hh = comp["households"]
    room_missing = z.comp.count(sub & ~_known(room))
    hh_missing = z.comp.count(sub & ~_known(hh))
    gap = (rule.value * hh / 100 - room).clip(lower=0).to_numpy(dtype=np.float64)
    room_sum, hh_sum, gap_sum = z.comp.sum(room, sub), z.comp.sum(hh, sub), z.comp.sum(gap, sub)
    failing_n = z.comp.count(sub & (gap > 1e-9))
    label = "养老服务用房" if rule.room == "elderly_room_m2" else "托育服务用房"
    out: list = []
    for k in range(z.comp.n):
        if not bt_known[k]:
            out.append("built_type")
            continue
        if n_sub[k] == 0:
            out.append((None, "not_evaluable", None, "无此类小区 / no compounds of this kind"))
            continue
        if not has_room or room_missing[k] or hh_missing[k]:
            out.append(rule.room if not has_room or room_missing[k] else "households")
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            value = float(room_sum[k] / hh_sum[k] * 100)
        short = int(math.ceil(gap_sum[k] - 1e-9))
        failing = int(failing_n[k])
        out.append((value, "pass" if failing == 0 else "fail", short, f"{failing} 个小区共缺 {short} m² {label}" if failing else ""))
    return out


def _zone_formats(rule: Rule, z: _Zones) -> list:
    """Share (%) of residents with every MOFCOM basic format within reach."""
    pop = z.compounds["population"]
    pop_n, pop_sum = z.comp.count(_known(pop)), z.comp.sum(pop)
    n_basic = len([c for c in z.taxonomy.categories if c.basic])
    complete = (z.formats.loc[z.compounds.index, "n_present"] == n_basic).to_numpy(dtype=bool)
    covered_sum = z.comp.sum(pop, complete)
    out: list = []
    for k in range(z.comp.n):
        if not pop_n[k] or pop_sum[k] <= 0:
            out.append("population")
            continue
        covered, total, t = float(covered_sum[k]), float(pop_sum[k]), rule.value
        value = covered / total * 100
        short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
        out.append((value, _pass_or_fail(value, t), short, f"{short:,} 名居民一刻钟内业态不全" if short else ""))
    return out


_ZONE_EVALUATORS = {
    "zone_count": _zone_count,
    "zone_per_1000": _zone_per_1000,
    "zone_capacity_share": _zone_capacity_share,
    "zone_bed_share": _zone_bed_share,
    "zone_coverage": _zone_coverage,
    "zone_community": _zone_community,
    "zone_room_area": _zone_room_area,
    "zone_formats": _zone_formats,
}


@dataclass(frozen=True)
class _City:
    """What a city-wide rule sees: every compound and facility, the 街道 and their results so far, the circles,
    coverage and formats (for a 街道 rule's city row) and how city count targets are read."""

    compounds: pd.DataFrame
    facilities: pd.DataFrame
    zone_names: dict[str, str]
    zone_rows: dict[str, list[dict]]
    complete_circles: int | None
    taxonomy: Taxonomy
    coverage: pd.DataFrame
    formats: pd.DataFrame
    targets: CityTargets
    rules: Mapping[str, Rule] = field(default_factory=dict)
    one_plus_n: OnePlusN | None = None


def _evaluate_city(rule: Rule, c: _City) -> dict:
    """The study-area row of one rule: a city-level kind by its evaluator (:data:`_CITY_EVALUATORS`); a 街道 rule set
    for the city by its 街道 evaluator over the whole study area taken as one 街道."""
    if not rule.city_level:
        one = {CITY: CITY}
        comp = _as_one_zone(c.compounds)
        fac = c.facilities.assign(zone_id=CITY) if len(c.facilities) else c.facilities
        cov = c.coverage[[k for k in c.coverage.columns if k.startswith(schema.dist_m(""))]]
        cov = cov if cov.index.equals(c.compounds.index) else cov.reindex(c.compounds.index)
        return _evaluate_zones(rule, _Zones.of(comp, cov, fac, c.formats, one, c.taxonomy))[0]
    evaluator = _CITY_EVALUATORS.get(rule.kind)
    if evaluator is None:
        raise ValueError(f"unknown rule kind {rule.kind}")
    if rule.count_target and c.targets.mode != "whole":
        return _count_target(rule, c, evaluator)
    return evaluator(rule, c)


def _as_one_zone(compounds: pd.DataFrame) -> pd.DataFrame:
    """The compounds as one 街道 (全市); a 社区 keeps its 街道 in its name, since two 街道 may each have a 长乐社区."""
    if not len(compounds):
        return compounds
    out = compounds.assign(zone_id=CITY)
    if "community" in compounds:
        named = compounds["community"].notna().to_numpy()
        key = compounds["zone_id"].astype(str) + "\x1f" + compounds["community"].astype(str)
        out["community"] = key.where(named, compounds["community"])
    return out


def _count_target(rule: Rule, c: _City, evaluator) -> dict:
    """A city's count target on a study area that may be part of the city: not evaluable (the default, with the
    reason), or pro-rated by the study area's share of the city's residents (the key stated in the row)."""
    if c.targets.mode != "prorate" or not c.targets.city_population:
        return _row(CITY, CITY, rule, None, "not_evaluable", None,
                    f"无法评价：{rule.value:g} {rule.unit}是全市目标，研究区可能只是城市的一部分；在 [standards] 中设 city_targets = "
                    "\"whole\"（研究区即全市）或 \"prorate\" 并给出 city_population（按常住人口占比折算） / not evaluable: a "
                    "city-wide target and the study area may be part of the city; set [standards] city_targets = \"whole\" "
                    "or \"prorate\" with city_population")
    pop = c.compounds["population"]
    if _all_missing(pop) or float(pop.sum()) <= 0:
        return _missing(CITY, CITY, rule, "population")
    share = min(1.0, float(pop.sum()) / float(c.targets.city_population))
    target = rule.value * share
    row = evaluator(replace(rule, value=target), c)
    if row["status"] == "not_evaluable":
        return row
    key = (f"按人口占比折算：研究区 {float(pop.sum()):,.0f} 人 / 全市 {c.targets.city_population:,.0f} 人 = {share:.1%}，"
           f"目标 {rule.value:g} × {share:.1%} = {target:.2f} {rule.unit} / pro-rated by population share")
    row["target"] = round(target, 4)
    value = row["value"] or 0
    short = max(0, int(math.ceil(target - value - 1e-9)))
    row["shortfall"] = short
    row["status"] = _pass_or_fail(value, target)
    row["shortfall_text"] = key + (f"；还需 {short} {rule.unit}" if short else "")
    return row


def _city_zone_share(rule: Rule, c: _City) -> dict:
    """Share (%) of 街道 that pass another rule (evaluated here when the preset does not evaluate it per 街道)."""
    sub_rule = c.rules.get(rule.of_rule) or builtin_rule(str(rule.of_rule))
    results = c.zone_rows.get(rule.of_rule) or _evaluate_zones(
        sub_rule, _Zones.of(c.compounds, c.coverage.reindex(c.compounds.index), c.facilities, c.formats, c.zone_names, c.taxonomy)
    )
    results = [r for r in results if r["subdistrict"] in c.zone_names]
    if not results:
        return _missing(CITY, CITY, rule, "街道")
    n_pass = sum(r["status"] == "pass" for r in results)
    value, t = n_pass / len(results) * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * len(results) - n_pass - 1e-9)))
    return _row(CITY, CITY, rule, value, _pass_or_fail(value, t), short, f"还需 {short} 个街道达标" if short else "")


def _city_per_1000_group(rule: Rule, c: _City) -> dict:
    """Capacity per 1000 people of a group, city-wide (e.g. elderly beds per 1000 aged 60+)."""
    group = c.compounds[rule.group]
    if _all_missing(group) or group.sum() <= 0:
        return _missing(CITY, CITY, rule, rule.group)
    fac = c.facilities[c.facilities["category"].isin(rule.categories)]
    if len(fac) and _all_missing(fac[rule.capacity]):
        return _missing(CITY, CITY, rule, rule.capacity)
    cap = float(fac[rule.capacity].fillna(0).sum())
    value, t = cap / float(group.sum()) * 1000, rule.value
    short = max(0, int(math.ceil(t * float(group.sum()) / 1000 - cap - 1e-9)))
    return _row(CITY, CITY, rule, value, _pass_or_fail(value, t), short, f"缺 {short} 张{zh(f'data.{rule.capacity}')}" if short else "")


def _city_circles(rule: Rule, c: _City) -> dict:
    """Number of complete 一刻钟便民生活圈."""
    if c.complete_circles is None:
        return _row(CITY, CITY, rule, None, "not_evaluable", None, "无法评价：缺少社区综合服务站（生活圈中心）/ not evaluable: no community centres")
    short = max(0, int(math.ceil(rule.value - c.complete_circles - 1e-9)))
    return _row(CITY, CITY, rule, c.complete_circles, _pass_or_fail(c.complete_circles, rule.value), short,
                f"还需 {short} 个业态齐全的一刻钟便民生活圈" if short else "")


def _city_count(rule: Rule, c: _City) -> dict:
    """Number of facilities of the categories (only 普惠 ones when the rule says so) in the study area."""
    fac = c.facilities
    mask = fac["category"].isin(rule.categories).to_numpy(dtype=bool) if len(fac) else np.zeros(0, dtype=bool)
    if rule.public_benefit and len(fac):
        mask = mask & _flags(fac["public_benefit"])
    n = int(mask.sum())
    short = max(0, int(math.ceil(rule.value - n - 1e-9)))
    return _row(CITY, CITY, rule, n, _pass_or_fail(n, rule.value), short,
                f"还需 {short} {rule.unit}{_cat_names(rule, c.taxonomy)}" if short else "")


def _no_one_plus_n(rule: Rule) -> dict:
    return _row(CITY, CITY, rule, None, "not_evaluable", None, "无法评价：没有托育机构 / not evaluable: no childcare facilities")


def _city_one_plus_n_hubs(rule: Rule, c: _City) -> dict:
    """Each 县区 has at least ``value`` 1+N hubs: the value is the fewest hubs of any 县区, the shortfall the hubs
    missing over all 县区 (named in the text)."""
    m = c.one_plus_n
    if m is None:
        return _no_one_plus_n(rule)
    if not m.has_district:
        return _row(CITY, CITY, rule, None, "not_evaluable", None,
                    "无法评价：街道图层没有县区列（在 [layers.zones.columns] 中映射 district）/ not evaluable: the zones layer gives no "
                    "县区 (map district in [layers.zones.columns])")
    d = m.districts
    hubs = d["hubs"].to_numpy(dtype=float)
    if not len(hubs):
        return _missing(CITY, CITY, rule, "县区")
    missing = np.clip(rule.value - hubs, 0, None)
    short = int(math.ceil(missing.sum() - 1e-9))
    lacking = "、".join(d.loc[missing > 0, "area_name"].astype(str))
    value = float(hubs.min())
    return _row(CITY, CITY, rule, value, _pass_or_fail(value, rule.value), short,
                f"缺 {short} 所托育综合服务中心（{lacking}）" if short else "")


def _city_one_plus_n_coverage(rule: Rule, c: _City) -> dict:
    """Share (%) of the community childcare points assigned to a hub."""
    m = c.one_plus_n
    if m is None:
        return _no_one_plus_n(rule)
    city = m.city
    points, assigned = int(city["points"]), int(city["assigned"])
    if points == 0:
        return _row(CITY, CITY, rule, None, "not_evaluable", None, "无法评价：没有社区托育点 / not evaluable: no community childcare points")
    value, t = assigned / points * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * points - assigned - 1e-9)))
    return _row(CITY, CITY, rule, value, _pass_or_fail(value, t), short, f"还有 {short} 个社区托育点未分配到枢纽" if short else "")


_CITY_EVALUATORS = {
    "city_zone_share": _city_zone_share,
    "city_per_1000_group": _city_per_1000_group,
    "city_circles": _city_circles,
    "city_count": _city_count,
    "city_one_plus_n_hubs": _city_one_plus_n_hubs,
    "city_one_plus_n_coverage": _city_one_plus_n_coverage,
}
# kinds evaluated from the run's 1+N model, which a what-if edit does not recompute (ZoneUpdate keeps their rows)
ONE_PLUS_N_KINDS = frozenset({"city_one_plus_n_hubs", "city_one_plus_n_coverage"})


def gap_list(
    compliance: Compliance,
    compounds: pd.DataFrame,
    coverage_table: pd.DataFrame,
    access: dict[str, tuple[pd.Series, float, str]] | None = None,
) -> pd.DataFrame:
    """Compounds ranked by unserved people, per requirement — the input of siting.

    * coverage rules: compounds farther than the rule's radius from its categories; unserved = the rule's group;
    * the MOFCOM formats rule: compounds lacking a basic format within 1000 m; unserved = residents;
    * capacity (``access``: name → (accessibility per person, target per 1000, demand column)): compounds whose
      E2SFCA accessibility is below target; unserved = demand × (1 − accessibility / target).
    """
    rules = {r.id: r for r in compliance.rules}
    # parts as row positions in ``compounds`` plus columns; the texts of a part are codes into a few distinct texts
    # (``detail`` codes into ``texts``), labels are looked up once at the end, by position
    parts: list[dict[str, object]] = []
    if not coverage_table.index.equals(compounds.index):
        coverage_table = coverage_table.reindex(compounds.index)
    for rid in compliance.table["rule_id"].unique():
        rule = rules.get(rid)
        if rule is None or rule.kind not in ("zone_coverage", "zone_formats"):
            continue
        if rule.kind == "zone_coverage":
            near = nearest_of(coverage_table, rule.categories).to_numpy(dtype=np.float64)
            group = compounds[rule.group].to_numpy(dtype=np.float64)
            with np.errstate(invalid="ignore"):
                pos = np.flatnonzero((near > rule.radius_m) & ~np.isnan(group) & (group > 0))
            parts.append(dict(pos=pos, unserved=group[pos], nearest_m=near[pos], detail=np.zeros(len(pos), dtype=np.int32),
                              texts=[f"{rule.radius_m:.0f} m 内无{'或'.join(rule.categories)}"], group=rule.group))
        else:
            fm = compliance.formats
            pos = np.flatnonzero((fm["missing"] != "").to_numpy(dtype=bool) & compounds["population"].notna().to_numpy())
            codes, missing = pd.factorize(fm["missing"].iloc[pos])  # a few combinations of lacking formats
            parts.append(dict(pos=pos, unserved=compounds["population"].to_numpy(dtype=np.float64)[pos], nearest_m=np.full(len(pos), np.nan),
                              detail=codes, texts=[f"缺：{m}" for m in np.asarray(missing, dtype=object).tolist()], group="population"))
        parts[-1].update(requirement=rid, requirement_zh=rule.zh)
    for name, (acc, target, demand_col) in (access or {}).items():
        demand = compounds[demand_col].to_numpy(dtype=np.float64)
        a = acc.reindex(compounds.index).to_numpy(dtype=np.float64) if not acc.index.equals(compounds.index) else acc.to_numpy(dtype=np.float64)
        short = np.clip(1 - a * 1000 / target, 0, None)
        with np.errstate(invalid="ignore"):
            pos = np.flatnonzero((short > 0) & ~np.isnan(demand) & (demand > 0))
        # one text per distinct accessibility value (most compounds below target share a few)
        per_1000 = pd.Series(a[pos] * 1000).round(2)
        values, inverse = np.unique(per_1000.to_numpy(), return_inverse=True)
        parts.append(dict(pos=pos, unserved=np.round(demand[pos] * short[pos]), nearest_m=np.full(len(pos), np.nan),
                          detail=inverse.ravel(), texts=[f"可达供给 {v}/千人，目标 {target:g}" for v in pd.Series(values).tolist()],
                          group=demand_col, requirement=name, requirement_zh=zh(f"capacity.{name}", name)))
    if not parts:
        return pd.DataFrame(columns=GAP_COLUMNS)
    sizes = [len(p["pos"]) for p in parts]
    part_of = np.repeat(np.arange(len(parts)), sizes)
    pos = np.concatenate([p["pos"] for p in parts]).astype(np.int64)
    unserved = np.concatenate([p["unserved"] for p in parts]).astype(np.float64)
    nearest = np.concatenate([p["nearest_m"] for p in parts]).astype(np.float64)
    text_offset = np.cumsum([0] + [len(p["texts"]) for p in parts])
    detail = np.concatenate([np.asarray(p["detail"], dtype=np.int64) + text_offset[i] for i, p in enumerate(parts)])
    keep = unserved > 0
    part_of, pos, unserved, nearest, detail = part_of[keep], pos[keep], unserved[keep], nearest[keep], detail[keep]
    ids = np.asarray(compounds.index.astype(str), dtype=object)
    requirement = np.array([p["requirement"] for p in parts], dtype=object)
    # sorted by requirement, most unserved first, then compound id (texts compared through their sorted ranks)
    _, req_rank = np.unique(requirement.astype(str), return_inverse=True)
    _, id_rank = np.unique(ids.astype(str), return_inverse=True)
    req_code = req_rank.ravel()[part_of]
    order = np.lexsort((id_rank.ravel()[pos], -unserved, req_code))
    part_of, pos, unserved, nearest, detail, req_code = (x[order] for x in (part_of, pos, unserved, nearest, detail, req_code))
    first = np.r_[True, req_code[1:] != req_code[:-1]] if len(req_code) else np.zeros(0, dtype=bool)
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(req_code)), 0)) if len(req_code) else req_code
    # text columns as categoricals: a million rows name a few requirements and at most every compound once each, so
    # codes (int32) into their distinct texts instead of a string per row (a few hundred MB at a million rows)
    out = pd.DataFrame(
        {
            "requirement": _categorical(requirement, part_of),
            "requirement_zh": _categorical(np.array([p["requirement_zh"] for p in parts], dtype=object), part_of),
            "rank": (np.arange(len(pos)) - run_start + 1).astype(np.int64),
            "compound_id": _categorical(ids, pos),
            "name": _categorical(compounds["name"].to_numpy(dtype=object), pos),
            "zone_id": _categorical(compounds["zone_id"].to_numpy(dtype=object), pos),
            "group": _categorical(np.array([p["group"] for p in parts], dtype=object), part_of),
            "unserved": unserved,
            "nearest_m": nearest,
            "detail": _categorical(np.array([t for p in parts for t in p["texts"]], dtype=object), detail),
        }
    )
    return out[GAP_COLUMNS]


def _categorical(values: np.ndarray, take: np.ndarray) -> pd.Categorical:
    """``values[take]`` as a categorical of the distinct texts of ``values`` (NA stays NA): codes, no text per row."""
    codes, uniq = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    return pd.Categorical.from_codes(codes.astype(np.int32)[take], categories=pd.Index(uniq.tolist()))
