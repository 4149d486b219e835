"""The per-街道 rule evaluation as it was before #12 (one frame filter per rule × 街道): the oracle of
tests/test_standards_groupby.py. Evaluate planning rules per 街道 (and city-wide): value, target, pass/fail, and the shortfall in natural units.

Where the data a rule needs is missing the status is ``not_evaluable`` with what is missing — never a false
pass. Each rule counts only the categories it names (GB 50180 levels do not nest).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pandas as pd

from planner import schema
from planner.analysis.requirements import (  # unchanged by #12: shared, not copied
    _CITY_EVALUATORS as _PLANNER_CITY_EVALUATORS,
)
from planner.analysis.requirements import (
    CityTargets,
    Compliance,
    _all_missing,
    _cat_names,
    _City,
    _city_circles,
    _city_per_1000_group,
    _count_target,
    _missing,
    _pass_or_fail,
    _row,
    nearest_of,
)
from planner.analysis.standards import Rule, load_rules, rules_for
from planner.io.categories import Taxonomy
from planner.labels import zh
from planner.schema import CITY, COMPLIANCE_COLUMNS

__all__ = ["evaluate"]

log = logging.getLogger(__name__)

def evaluate(
    *,
    preset: str,
    overrides: dict[str, float] | None,
    compounds: pd.DataFrame,
    coverage_table: pd.DataFrame,
    facilities: pd.DataFrame,
    zone_names: dict[str, str],
    taxonomy: Taxonomy,
    complete_circles: int | None,
) -> Compliance:
    """Evaluate every rule of ``preset`` for each 街道 in ``zone_names`` (and city-wide rules once).

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
    """
    rules = rules_for(preset, overrides)
    basic = [c.key for c in taxonomy.categories if c.basic]
    formats = _formats(coverage_table, basic, taxonomy)
    rows: list[dict] = []
    zone_rows: dict[str, list[dict]] = {}
    for rule in rules:
        if rule.city_level:
            continue
        for zid, zname in zone_names.items():
            row = _evaluate_zone(rule, zid, zname, compounds, coverage_table, facilities, formats, taxonomy)
            rows.append(row)
            zone_rows.setdefault(rule.id, []).append(row)
    for rule in rules:
        if rule.city_level:
            rows.append(_evaluate_city(rule, compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy,
                                       coverage_table, formats))
        elif rule.scale == "city":  # a 街道 rule set for the city: its row for the whole study area, taken as one 街道
            whole = compounds.assign(zone_id=CITY)
            if "community" in compounds:  # a 社区 is a community of its own 街道
                whole["community"] = [f"{z}/{c}" if pd.notna(c) else c for z, c in zip(compounds["zone_id"], compounds["community"], strict=True)]
            rows.append(_evaluate_zone(rule, CITY, CITY, whole, coverage_table, facilities.assign(zone_id=CITY), formats, taxonomy))
    table = pd.DataFrame(rows, columns=COMPLIANCE_COLUMNS)
    failing = table[table["status"] == "fail"]
    log.info("standards %s: %d results, %d fail, %d not evaluable", preset, len(table), len(failing), int((table["status"] == "not_evaluable").sum()))
    return Compliance(table=table, formats=formats, preset=preset, rules=rules)


def _formats(coverage_table: pd.DataFrame, basic: list[str], taxonomy: Taxonomy, radius_m: float = 1000.0) -> pd.DataFrame:
    present = pd.DataFrame(
        {c: coverage_table[schema.dist_m(c)] <= radius_m if schema.dist_m(c) in coverage_table.columns else False for c in basic},
        index=coverage_table.index,
    )
    missing = present.apply(lambda r: "、".join(taxonomy[c].zh for c in basic if not r[c]), axis=1) if len(present) else pd.Series(dtype=str)
    return pd.DataFrame(
        {"n_present": present.sum(axis=1).astype(int), "completeness": present.mean(axis=1) if basic else 0.0, "missing": missing},
        index=coverage_table.index,
    )


@dataclass(frozen=True)
class _Zone:
    """What a 街道 rule sees: the 街道's compounds, its facilities of the rule's categories, coverage and formats."""

    id: str
    name: str
    compounds: pd.DataFrame
    facilities: pd.DataFrame
    coverage: pd.DataFrame
    formats: pd.DataFrame
    taxonomy: Taxonomy

    def row(self, rule: Rule, value, status: str, shortfall=None, text: str = "") -> dict:
        return _row(self.id, self.name, rule, value, status, shortfall, text)

    def missing(self, rule: Rule, what: str) -> dict:
        return _missing(self.id, self.name, rule, what)

    def nearest(self, rule: Rule) -> pd.Series:
        """Distance from each of the 街道's compounds to the nearest facility of the rule's categories."""
        return nearest_of(self.coverage.loc[self.compounds.index], rule.categories)


def _evaluate_zone(rule, zid, zname, compounds, cov, facilities, formats, taxonomy) -> dict:
    """One rule for one 街道, by the evaluator of the rule's kind (:data:`_ZONE_EVALUATORS`)."""
    evaluator = _ZONE_EVALUATORS.get(rule.kind)
    if evaluator is None:
        raise ValueError(f"unknown rule kind {rule.kind}")
    zone = _Zone(
        zid,
        zname,
        compounds[compounds["zone_id"] == zid],
        facilities[(facilities["zone_id"] == zid) & facilities["category"].isin(rule.categories)],
        cov,
        formats,
        taxonomy,
    )
    return evaluator(rule, zone)


def _zone_count(rule: Rule, z: _Zone) -> dict:
    """At least ``value`` facilities of the categories in the 街道 (only 普惠 ones when the rule says so)."""
    fac = z.facilities
    if rule.public_benefit:
        fac = fac[fac["public_benefit"].fillna(False).astype(bool)]
    n, t = len(fac), rule.value
    short = max(0, int(math.ceil(t - n)))
    label = ("普惠" if rule.public_benefit and "普惠" not in _cat_names(rule, z.taxonomy) else "") + _cat_names(rule, z.taxonomy)
    return z.row(rule, n, _pass_or_fail(n, t), short, f"缺 {short} 所{label}" if short else "")


def _zone_per_1000(rule: Rule, z: _Zone) -> dict:
    """Capacity (places, beds) per 1000 residents of the 街道."""
    pop = z.compounds["population"].sum(min_count=1)
    if pd.isna(pop) or pop <= 0:
        return z.missing(rule, "population")
    if len(z.facilities) and _all_missing(z.facilities[rule.capacity]):
        return z.missing(rule, rule.capacity)
    cap = float(z.facilities[rule.capacity].fillna(0).sum())
    value, t = cap / pop * 1000, rule.value
    short = max(0, int(math.ceil(t * pop / 1000 - cap - 1e-9)))
    return z.row(rule, value, _pass_or_fail(value, t), short, f"缺 {short} 个{zh(f'data.{rule.capacity}')}" if short else "")


def _zone_capacity_share(rule: Rule, z: _Zone) -> dict:
    """Share (%) of the capacity that is 普惠."""
    fac = z.facilities
    if len(fac) == 0:
        return z.missing(rule, rule.capacity)
    if _all_missing(fac[rule.capacity]) or fac["public_benefit"].isna().all():
        return z.missing(rule, rule.capacity if _all_missing(fac[rule.capacity]) else "public_benefit")
    total = float(fac[rule.capacity].fillna(0).sum())
    if total <= 0:
        return z.missing(rule, rule.capacity)
    pb = float(fac.loc[fac["public_benefit"].fillna(False).astype(bool), rule.capacity].fillna(0).sum())
    value, t = pb / total * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * total - pb - 1e-9)))
    return z.row(rule, value, _pass_or_fail(value, t), short, f"缺 {short} 个普惠{zh(f'data.{rule.capacity}')}" if short else "")


def _zone_bed_share(rule: Rule, z: _Zone) -> dict:
    """Share (%) of the beds that are nursing beds."""
    fac = z.facilities
    beds = fac["beds"].sum(min_count=1)
    if pd.isna(beds) or beds <= 0:
        return z.missing(rule, "beds")
    if _all_missing(fac["nursing_beds"]):
        return z.missing(rule, "nursing_beds")
    nursing = float(fac["nursing_beds"].fillna(0).sum())
    value, t = nursing / beds * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * beds - nursing - 1e-9)))
    return z.row(rule, value, _pass_or_fail(value, t), short, f"缺 {short} 张护理型床位" if short else "")


def _zone_coverage(rule: Rule, z: _Zone) -> dict:
    """Share (%) of a group of people within the rule's radius of its categories."""
    group = z.compounds[rule.group]
    if _all_missing(group) or group.isna().any():
        return z.missing(rule, rule.group)
    total = float(group.sum())
    if total <= 0:
        return z.missing(rule, rule.group)
    covered = float(group[z.nearest(rule) <= rule.radius_m].sum())
    value, t = covered / total * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
    return z.row(rule, value, _pass_or_fail(value, t), short, f"缺覆盖 {short:,} 名{zh(f'people.{rule.group}', rule.group)}" if short else "")


def _zone_community(rule: Rule, z: _Zone) -> dict:
    """Share (%) of the 街道's communities (社区) with a facility of the categories within the radius."""
    comp = z.compounds
    if len(comp) == 0:
        return z.missing(rule, "population")
    community = comp["community"].astype("string").fillna(pd.Series(comp.index.astype(str), index=comp.index))
    has = (z.nearest(rule) <= rule.radius_m).groupby(community.to_numpy()).any()
    n, k, t = len(has), int(has.sum()), rule.value
    value = k / n * 100
    ok = value > t if rule.strict else value >= t
    need = (math.floor(t / 100 * n) + 1) if rule.strict else math.ceil(t / 100 * n)
    short = max(0, need - k)
    return z.row(rule, value, "pass" if ok else "fail", short, f"还需 {short} 个社区有{_cat_names(rule, z.taxonomy)}" if short else "")


def _zone_room_area(rule: Rule, z: _Zone) -> dict:
    """Service-room area per 100 households, compound by compound, for new or existing compounds."""
    comp = z.compounds
    if "built_type" not in comp or _all_missing(comp["built_type"]):
        return z.missing(rule, "built_type")
    sub = comp[comp["built_type"] == rule.built]
    if len(sub) == 0:
        return z.row(rule, None, "not_evaluable", None, "无此类小区 / no compounds of this kind")
    if rule.room not in sub or sub[rule.room].isna().any() or sub["households"].isna().any():
        return z.missing(rule, rule.room if rule.room not in sub or sub[rule.room].isna().any() else "households")
    gap = (rule.value * sub["households"] / 100 - sub[rule.room]).clip(lower=0)
    value = float(sub[rule.room].sum() / sub["households"].sum() * 100)
    short = int(math.ceil(gap.sum() - 1e-9))
    failing = int((gap > 1e-9).sum())
    room = "养老服务用房" if rule.room == "elderly_room_m2" else "托育服务用房"
    return z.row(rule, value, "pass" if failing == 0 else "fail", short, f"{failing} 个小区共缺 {short} m² {room}" if failing else "")


def _zone_formats(rule: Rule, z: _Zone) -> dict:
    """Share (%) of residents with every MOFCOM basic format within reach."""
    pop = z.compounds["population"]
    if _all_missing(pop) or pop.sum() <= 0:
        return z.missing(rule, "population")
    n_basic = len([c for c in z.taxonomy.categories if c.basic])
    complete = z.formats.loc[z.compounds.index, "n_present"] == n_basic
    covered, total, t = float(pop[complete].sum()), float(pop.sum()), rule.value
    value = covered / total * 100
    short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
    return z.row(rule, value, _pass_or_fail(value, t), short, f"{short:,} 名居民一刻钟内业态不全" if short else "")


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


def _evaluate_city(rule, compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy, coverage, formats) -> dict:
    """One city-wide rule, by the evaluator of the rule's kind (:data:`_CITY_EVALUATORS`); a city's count target is
    not evaluable on a study area (the default reading, shared with planner)."""
    # the kinds #12 did not change (city counts, the 1+N model's rows) are planner's own: shared, not copied
    evaluator = _CITY_EVALUATORS.get(rule.kind) or _PLANNER_CITY_EVALUATORS.get(rule.kind)
    if evaluator is None:
        raise ValueError(f"unknown rule kind {rule.kind}")
    city = _City(compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy, coverage, formats, CityTargets())
    return _count_target(rule, city, evaluator) if rule.count_target else evaluator(rule, city)


def _city_zone_share(rule: Rule, c: _City) -> dict:
    """Share (%) of 街道 that pass another rule (evaluated here when the preset does not evaluate it per 街道)."""
    base = next(r for r in load_rules() if r["id"] == rule.of_rule)
    sub_rule = Rule(id=base["id"], kind=base["kind"], value=float(base["value"]), unit=base["unit"], zh=base["zh"], en=base["en"],
                    source=base["source"], conf=base["conf"], presets=(), categories=tuple(base.get("categories", ())))
    results = c.zone_rows.get(rule.of_rule) or [
        _evaluate_zone(sub_rule, zid, zn, c.compounds, pd.DataFrame(index=c.compounds.index), c.facilities, pd.DataFrame(), c.taxonomy)
        for zid, zn in c.zone_names.items()
    ]
    results = [r for r in results if r["subdistrict"] in c.zone_names]
    if not results:
        return _missing(CITY, CITY, rule, "街道")
    n_pass = sum(r["status"] == "pass" for r in results)
    value, t = n_pass / len(results) * 100, rule.value
    short = max(0, int(math.ceil(t / 100 * len(results) - n_pass - 1e-9)))
    return _row(CITY, CITY, rule, value, _pass_or_fail(value, t), short, f"还需 {short} 个街道达标" if short else "")


_CITY_EVALUATORS = {
    "city_zone_share": _city_zone_share,
    "city_per_1000_group": _city_per_1000_group,
    "city_circles": _city_circles,
}
