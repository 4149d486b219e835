"""Evaluate planning rules per 街道 (and city-wide): value, target, pass/fail, and the shortfall in natural units.

Where the data a rule needs is missing the status is ``not_evaluable`` with what is missing — never a false
pass. Each rule counts only the categories it names (GB 50180 levels do not nest).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.analysis.coverage import dist_column
from planner.analysis.standards import Rule, load_rules, rules_for
from planner.io.categories import Taxonomy

__all__ = ["Compliance", "evaluate", "gap_list", "COMPLIANCE_COLUMNS", "GAP_COLUMNS", "CITY", "nearest_of"]

log = logging.getLogger(__name__)

CITY = "全市"
COMPLIANCE_COLUMNS = [
    "subdistrict", "subdistrict_name", "rule_id", "rule", "value", "target", "status", "shortfall", "unit",
    "shortfall_text", "source", "conf",
]
GROUP_ZH = {"population": "居民", "age_60_plus": "60岁及以上老人", "age_0_3": "0–3岁婴幼儿"}
DATA_ZH = {
    "places": "托位", "beds": "床位", "nursing_beds": "护理型床位", "age_60_plus": "60岁及以上人口", "age_0_3": "0–3岁人口",
    "population": "人口", "households": "户数", "elderly_room_m2": "养老服务用房面积", "childcare_room_m2": "托育服务用房面积",
    "built_type": "建成类型（新建/已建成）", "community": "社区",
}


@dataclass(frozen=True)
class Compliance:
    """Rule results: ``table`` (one row per 街道 × rule and per city-level rule, COMPLIANCE_COLUMNS) and the
    per-compound ``formats`` table (MOFCOM basic formats within reach: ``n_present``, ``completeness``, ``missing``)."""

    table: pd.DataFrame
    formats: pd.DataFrame
    preset: str


def nearest_of(coverage_table: pd.DataFrame, categories: Sequence[str]) -> pd.Series:
    """Distance from each compound to the nearest facility of any of ``categories`` (inf when none)."""
    cols = [dist_column(c) for c in categories if dist_column(c) in coverage_table.columns]
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
    }


def _missing(zone: str, name: str, rule: Rule, what: str) -> dict:
    return _row(zone, name, rule, None, "not_evaluable", None, f"无法评价：缺少{DATA_ZH.get(what, what)} / not evaluable: missing {what}")


def _all_missing(series: pd.Series) -> bool:
    return len(series) == 0 or series.isna().all()


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
            rows.append(_evaluate_city(rule, compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy))
    table = pd.DataFrame(rows, columns=COMPLIANCE_COLUMNS)
    failing = table[table["status"] == "fail"]
    log.info("standards %s: %d results, %d fail, %d not evaluable", preset, len(table), len(failing), int((table["status"] == "not_evaluable").sum()))
    return Compliance(table=table, formats=formats, preset=preset)


def _formats(coverage_table: pd.DataFrame, basic: list[str], taxonomy: Taxonomy, radius_m: float = 1000.0) -> pd.DataFrame:
    present = pd.DataFrame(
        {c: coverage_table[dist_column(c)] <= radius_m if dist_column(c) in coverage_table.columns else False for c in basic},
        index=coverage_table.index,
    )
    missing = present.apply(lambda r: "、".join(taxonomy[c].zh for c in basic if not r[c]), axis=1) if len(present) else pd.Series(dtype=str)
    return pd.DataFrame(
        {"n_present": present.sum(axis=1).astype(int), "completeness": present.mean(axis=1) if basic else 0.0, "missing": missing},
        index=coverage_table.index,
    )


def _cat_names(rule: Rule, taxonomy: Taxonomy) -> str:
    return "或".join(taxonomy[c].zh for c in rule.categories)


def _evaluate_zone(rule, zid, zname, compounds, cov, facilities, formats, taxonomy) -> dict:
    comp = compounds[compounds["zone_id"] == zid]
    fac = facilities[(facilities["zone_id"] == zid) & facilities["category"].isin(rule.categories)]
    t = rule.value
    if rule.kind == "zone_count":
        if rule.public_benefit:
            fac = fac[fac["public_benefit"].fillna(False).astype(bool)]
        n = len(fac)
        short = max(0, int(math.ceil(t - n)))
        label = ("普惠" if rule.public_benefit and "普惠" not in _cat_names(rule, taxonomy) else "") + _cat_names(rule, taxonomy)
        return _row(zid, zname, rule, n, "pass" if n >= t else "fail", short, f"缺 {short} 所{label}" if short else "")
    if rule.kind == "zone_per_1000":
        pop = comp["population"].sum(min_count=1)
        if pd.isna(pop) or pop <= 0:
            return _missing(zid, zname, rule, "population")
        if len(fac) and _all_missing(fac[rule.capacity]):
            return _missing(zid, zname, rule, rule.capacity)
        cap = float(fac[rule.capacity].fillna(0).sum())
        value = cap / pop * 1000
        short = max(0, int(math.ceil(t * pop / 1000 - cap - 1e-9)))
        return _row(zid, zname, rule, value, "pass" if value >= t else "fail", short, f"缺 {short} 个{DATA_ZH[rule.capacity]}" if short else "")
    if rule.kind == "zone_capacity_share":
        if len(fac) == 0:
            return _missing(zid, zname, rule, rule.capacity)
        if _all_missing(fac[rule.capacity]) or fac["public_benefit"].isna().all():
            return _missing(zid, zname, rule, rule.capacity if _all_missing(fac[rule.capacity]) else "public_benefit")
        total = float(fac[rule.capacity].fillna(0).sum())
        if total <= 0:
            return _missing(zid, zname, rule, rule.capacity)
        pb = float(fac.loc[fac["public_benefit"].fillna(False).astype(bool), rule.capacity].fillna(0).sum())
        value = pb / total * 100
        short = max(0, int(math.ceil(t / 100 * total - pb - 1e-9)))
        return _row(zid, zname, rule, value, "pass" if value >= t else "fail", short, f"缺 {short} 个普惠{DATA_ZH[rule.capacity]}" if short else "")
    if rule.kind == "zone_bed_share":
        beds = fac["beds"].sum(min_count=1)
        if pd.isna(beds) or beds <= 0:
            return _missing(zid, zname, rule, "beds")
        if _all_missing(fac["nursing_beds"]):
            return _missing(zid, zname, rule, "nursing_beds")
        nursing = float(fac["nursing_beds"].fillna(0).sum())
        value = nursing / beds * 100
        short = max(0, int(math.ceil(t / 100 * beds - nursing - 1e-9)))
        return _row(zid, zname, rule, value, "pass" if value >= t else "fail", short, f"缺 {short} 张护理型床位" if short else "")
    if rule.kind == "zone_coverage":
        group = comp[rule.group]
        if _all_missing(group) or group.isna().any():
            return _missing(zid, zname, rule, rule.group)
        total = float(group.sum())
        if total <= 0:
            return _missing(zid, zname, rule, rule.group)
        near = nearest_of(cov.loc[comp.index], rule.categories)
        covered = float(group[near <= rule.radius_m].sum())
        value = covered / total * 100
        short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
        return _row(zid, zname, rule, value, "pass" if value >= t else "fail", short,
                    f"缺覆盖 {short:,} 名{GROUP_ZH.get(rule.group, rule.group)}" if short else "")
    if rule.kind == "zone_community":
        if len(comp) == 0:
            return _missing(zid, zname, rule, "population")
        community = comp["community"].astype("string").fillna(pd.Series(comp.index.astype(str), index=comp.index))
        near = nearest_of(cov.loc[comp.index], rule.categories)
        has = (near <= rule.radius_m).groupby(community.to_numpy()).any()
        n, k = len(has), int(has.sum())
        value = k / n * 100
        ok = value > t if rule.strict else value >= t
        need = (math.floor(t / 100 * n) + 1) if rule.strict else math.ceil(t / 100 * n)
        short = max(0, need - k)
        return _row(zid, zname, rule, value, "pass" if ok else "fail", short, f"还需 {short} 个社区有{_cat_names(rule, taxonomy)}" if short else "")
    if rule.kind == "zone_room_area":
        if "built_type" not in comp or _all_missing(comp["built_type"]):
            return _missing(zid, zname, rule, "built_type")
        sub = comp[comp["built_type"] == rule.built]
        if len(sub) == 0:
            return _row(zid, zname, rule, None, "not_evaluable", None, "无此类小区 / no compounds of this kind")
        if rule.room not in sub or sub[rule.room].isna().any() or sub["households"].isna().any():
            return _missing(zid, zname, rule, rule.room if rule.room not in sub or sub[rule.room].isna().any() else "households")
        need = t * sub["households"] / 100
        gap = (need - sub[rule.room]).clip(lower=0)
        value = float(sub[rule.room].sum() / sub["households"].sum() * 100)
        short = int(math.ceil(gap.sum() - 1e-9))
        failing = int((gap > 1e-9).sum())
        room = "养老服务用房" if rule.room == "elderly_room_m2" else "托育服务用房"
        return _row(zid, zname, rule, value, "pass" if failing == 0 else "fail", short,
                    f"{failing} 个小区共缺 {short} m² {room}" if failing else "")
    if rule.kind == "zone_formats":
        pop = comp["population"]
        if _all_missing(pop) or pop.sum() <= 0:
            return _missing(zid, zname, rule, "population")
        n_basic = len([c for c in taxonomy.categories if c.basic])
        complete = formats.loc[comp.index, "n_present"] == n_basic
        covered = float(pop[complete].sum())
        total = float(pop.sum())
        value = covered / total * 100
        short = max(0, int(math.ceil(t / 100 * total - covered - 1e-9)))
        return _row(zid, zname, rule, value, "pass" if value >= t else "fail", short, f"{short:,} 名居民一刻钟内业态不全" if short else "")
    raise ValueError(f"unknown rule kind {rule.kind}")


def _evaluate_city(rule, compounds, facilities, zone_names, zone_rows, complete_circles, taxonomy) -> dict:
    t = rule.value
    if rule.kind == "city_zone_share":
        base = next(r for r in load_rules() if r["id"] == rule.of_rule)
        sub_rule = Rule(id=base["id"], kind=base["kind"], value=float(base["value"]), unit=base["unit"], zh=base["zh"], en=base["en"],
                        source=base["source"], conf=base["conf"], presets=(), categories=tuple(base.get("categories", ())))
        results = zone_rows.get(rule.of_rule) or [
            _evaluate_zone(sub_rule, zid, zn, compounds, pd.DataFrame(index=compounds.index), facilities, pd.DataFrame(), taxonomy)
            for zid, zn in zone_names.items()
        ]
        results = [r for r in results if r["subdistrict"] in zone_names]
        if not results:
            return _missing(CITY, CITY, rule, "街道")
        n_pass = sum(r["status"] == "pass" for r in results)
        value = n_pass / len(results) * 100
        short = max(0, int(math.ceil(t / 100 * len(results) - n_pass - 1e-9)))
        return _row(CITY, CITY, rule, value, "pass" if value >= t else "fail", short, f"还需 {short} 个街道达标" if short else "")
    if rule.kind == "city_per_1000_group":
        group = compounds[rule.group]
        if _all_missing(group) or group.sum() <= 0:
            return _missing(CITY, CITY, rule, rule.group)
        fac = facilities[facilities["category"].isin(rule.categories)]
        if len(fac) and _all_missing(fac[rule.capacity]):
            return _missing(CITY, CITY, rule, rule.capacity)
        cap = float(fac[rule.capacity].fillna(0).sum())
        value = cap / float(group.sum()) * 1000
        short = max(0, int(math.ceil(t * float(group.sum()) / 1000 - cap - 1e-9)))
        return _row(CITY, CITY, rule, value, "pass" if value >= t else "fail", short, f"缺 {short} 张{DATA_ZH[rule.capacity]}" if short else "")
    if rule.kind == "city_circles":
        if complete_circles is None:
            return _row(CITY, CITY, rule, None, "not_evaluable", None, "无法评价：缺少社区综合服务站（生活圈中心）/ not evaluable: no community centres")
        short = max(0, int(t - complete_circles))
        return _row(CITY, CITY, rule, complete_circles, "pass" if complete_circles >= t else "fail", short,
                    f"还需 {short} 个业态齐全的一刻钟便民生活圈" if short else "")
    raise ValueError(f"unknown rule kind {rule.kind}")


CAPACITY_ZH = {
    "childcare_places": "托位容量可达性（E2SFCA，每千人托位）",
    "elderly_beds": "养老床位容量可达性（E2SFCA，每千名老人床位）",
}
GAP_COLUMNS = ["requirement", "requirement_zh", "rank", "compound_id", "name", "zone_id", "group", "unserved", "nearest_m", "detail"]


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
    rules = {r.id: r for r in rules_for(compliance.preset)}
    parts = []
    for rid in compliance.table["rule_id"].unique():
        rule = rules.get(rid)
        if rule is None or rule.kind not in ("zone_coverage", "zone_formats"):
            continue
        if rule.kind == "zone_coverage":
            near = nearest_of(coverage_table, rule.categories)
            group = compounds[rule.group]
            mask = (near > rule.radius_m) & group.notna() & (group > 0)
            detail = pd.Series(f"{rule.radius_m:.0f} m 内无{'或'.join(rule.categories)}", index=compounds.index)
            part = pd.DataFrame({"unserved": group[mask], "nearest_m": near[mask], "detail": detail[mask], "group": rule.group})
        else:
            fm = compliance.formats
            mask = (fm["missing"] != "") & compounds["population"].notna()
            part = pd.DataFrame({"unserved": compounds.loc[mask, "population"], "nearest_m": np.nan, "detail": "缺：" + fm.loc[mask, "missing"], "group": "population"})
        parts.append(part.assign(requirement=rid, requirement_zh=rule.zh))
    for name, (acc, target, demand_col) in (access or {}).items():
        demand = compounds[demand_col]
        short = (1 - acc * 1000 / target).clip(lower=0)
        mask = (short > 0) & demand.notna() & (demand > 0)
        unserved = np.round(demand[mask] * short[mask])
        part = pd.DataFrame({"unserved": unserved, "nearest_m": np.nan, "detail": (acc[mask] * 1000).round(2).map(lambda a: f"可达供给 {a}/千人，目标 {target:g}"), "group": demand_col})
        parts.append(part.assign(requirement=name, requirement_zh=CAPACITY_ZH.get(name, name)))
    if not parts:
        return pd.DataFrame(columns=GAP_COLUMNS)
    out = pd.concat(parts)
    out["compound_id"] = out.index.astype(str)
    out["name"] = compounds.loc[out.index, "name"].to_numpy()
    out["zone_id"] = compounds.loc[out.index, "zone_id"].to_numpy()
    out = out[out["unserved"] > 0].sort_values(["requirement", "unserved", "compound_id"], ascending=[True, False, True], kind="stable")
    out["rank"] = out.groupby("requirement").cumcount() + 1
    return out[GAP_COLUMNS].reset_index(drop=True)
