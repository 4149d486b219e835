"""The present against plans, side by side (``GET /api/compare``): one column for the present, one per plan.

Each plan is compared with the present by `planner compare`'s own tables
(:func:`planner.outputs.compare.compare_rules_and_served` on in-memory runs, :func:`~planner.outputs.compare.result_output`),
so the app and `planner compare <present run> plans/<name>/run` say the same: people within the longest threshold
per group and per view or analysed category (whole area), every rule × 街道 with its status and value per column
and its change against the present (newly passing, improved, declined …), rules passing per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from planner.labels import tr
from planner.outputs.compare import compare_rules_and_served, result_output
from planner.schema import CITY

__all__ = ["Column", "compare_table", "parse_columns", "MAX_COLUMNS"]

MAX_COLUMNS = 6  # plans compared at once (each is re-evaluated or read from memory)
LIVE = "live:"


@dataclass(frozen=True)
class Column:
    """One plan of the comparison: its key as asked (a saved name or ``live:<id>``), kind, name, edit counts and
    state (None: no edit, the present)."""

    key: str
    kind: str  # "saved" or "live"
    name: str
    edits: dict[str, int]
    state: Any


def parse_columns(text: object) -> list[str]:
    """The plans of ``?plans=A,B``: names split at commas, blanks dropped, duplicates once; at least one, at most
    :data:`MAX_COLUMNS` (a :class:`ValueError` with a bilingual message otherwise)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("请用 ?plans=方案A,方案B 指定要对比的方案（已保存方案的名称，或 live:<方案编号>） / name the plans to compare: "
                         "?plans=A,B (saved plan names, or live:<plan id>)")
    keys = list(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if not keys:
        raise ValueError("plans 中没有方案名称 / plans names no plan")
    if len(keys) > MAX_COLUMNS:
        raise ValueError(f"一次最多对比 {MAX_COLUMNS} 个方案，得到 {len(keys)} 个 / at most {MAX_COLUMNS} plans at once, got {len(keys)}")
    return keys


def _number(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(f, 6) if np.isfinite(f) else None


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def compare_table(result, columns: Sequence[Column], *, lang: str = "zh") -> dict[str, Any]:
    """The comparison of the present (``result``) and ``columns``, JSON-ready (see docs/serve.md)."""
    present = result_output(result)
    compared = []
    for col in columns:
        state = col.state
        plan = result_output(result, name=col.name, coverage=state.coverage if state else None,
                             compliance=state.compliance if state else None)
        rules, served, notes = compare_rules_and_served(present, plan)
        compared.append((rules, served, notes))
    heads = [{"key": "present", "kind": "present", "name": tr("serve.present", "zh"), "name_en": tr("serve.present", "en"),
              "edits": None}]
    heads += [{"key": c.key, "kind": c.kind, "name": c.name, "edits": c.edits} for c in columns]

    # people served, whole area: per view or category × group, present then each plan
    first = compared[0][1]
    city = first[first["zone_id"] == CITY]
    served_rows = []
    for r in city.itertuples():
        values = [_number(r.served_a)]
        newly = [None]
        for _, served, _ in compared:
            m = served[(served["zone_id"] == CITY) & (served["view"] == r.view) & (served["group"] == r.group)]
            values.append(_number(m["served_b"].iloc[0]) if len(m) else None)
            newly.append(_number(m["newly_served"].iloc[0]) if len(m) else None)
        label = (tr(f"cmp.view.{r.view}", "zh"), tr(f"cmp.view.{r.view}", "en")) if r.view_kind == "view" else (
            (result.taxonomy[r.view].zh, result.taxonomy[r.view].en) if r.view in result.taxonomy else (r.view, r.view))
        served_rows.append({"key": r.view, "kind": r.view_kind, "label": label[0], "label_en": label[1], "group": r.group,
                            "group_label": tr(f"group.{r.group}", "zh"), "group_label_en": tr(f"group.{r.group}", "en"),
                            "values": values, "newly_served": newly})

    # every rule × 街道: status and value per column, the change of each plan against the present (one merge each)
    key = ["subdistrict", "rule_id"]
    table = compared[0][0][[*key, "subdistrict_name", "rule", "rule_en", "operator", "target_a", "target_b", "unit",
                            "status_a", "value_a"]].copy()
    for i, (rules, _, _) in enumerate(compared):
        table = table.merge(rules[[*key, "status_b", "value_b", "change"]].drop_duplicates(key).rename(
            columns={"status_b": f"status_{i}", "value_b": f"value_{i}", "change": f"change_{i}"}), on=key, how="left")
    n = len(columns)
    target = table["target_b"].where(table["target_b"].notna(), table["target_a"])
    statuses = [table["status_a"]] + [table[f"status_{i}"] for i in range(n)]
    values = [table["value_a"]] + [table[f"value_{i}"] for i in range(n)]
    kinds = [table[f"change_{i}"] for i in range(n)]
    rule_rows = [
        {"subdistrict": str(z), "subdistrict_name": _text(zn), "rule_id": str(rid), "rule": _text(rule), "rule_en": _text(en),
         "operator": _text(op), "target": _number(t), "unit": _text(unit), "status": [_text(v) for v in st],
         "value": [_number(v) for v in val], "change": [None, *(_text(v) for v in ch)]}
        for z, zn, rid, rule, en, op, t, unit, st, val, ch in zip(
            table["subdistrict"], table["subdistrict_name"], table["rule_id"], table["rule"], table["rule_en"], table["operator"],
            target, table["unit"], zip(*statuses, strict=True), zip(*values, strict=True), zip(*kinds, strict=True) if n else [()] * len(table),
            strict=True)
    ]
    passing = [sum(1 for row in rule_rows if row["status"][i] == "pass") for i in range(len(heads))]
    failing = [sum(1 for row in rule_rows if row["status"][i] == "fail") for i in range(len(heads))]
    changes: dict[str, list[int | None]] = {}
    for name in ("newly_passing", "newly_failing", "improved", "declined"):
        changes[name] = [None] + [sum(1 for row in rule_rows if row["change"][i] == name) for i in range(1, len(heads))]
    notes = list(dict.fromkeys(n for _, _, ns in compared for n in ns))
    return {
        "columns": heads,
        "minutes": float(max(result.scenario.thresholds_min)),
        "served": served_rows,
        "rules_passing": passing,
        "rules_failing": failing,
        "rule_changes": changes,
        "rules": rule_rows,
        "notes": notes,
    }

