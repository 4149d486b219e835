"""The present against plans, side by side (``GET /api/compare``): one column for the present, one per plan.

Each plan is compared with the present by `planner compare`'s own tables
(:func:`planner.outputs.compare.compare_rules_and_served` on in-memory runs, :func:`~planner.outputs.compare.result_output`),
so the app and `planner compare <present run> plans/<name>/run` say the same: people within the longest threshold
per group and per view or analysed category (whole area), every rule × 街道 with its status and value per column
and its change against the present (newly passing, improved, declined …), rules passing per column.

At city size (1 M people, some 20 000 rule × 街道 rows) the answer lists only the rows that differ between columns
(``rules="changed"``, the default; ``"all"`` lists every row) while its counts are over all rows, and the present's
side (:func:`present_output`) is built once per server and passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from planner.labels import tr
from planner.outputs.compare import RunOutput, compare_rules_and_served, result_output
from planner.schema import CITY

__all__ = ["Column", "compare_table", "parse_columns", "parse_rules", "present_output", "MAX_COLUMNS", "RULES_LISTED"]

MAX_COLUMNS = 6  # plans compared at once (each is re-evaluated or read from memory)
LIVE = "live:"
RULES_LISTED = ("changed", "all")  # ?rules=: the rows that differ between columns (default), or every row


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


def parse_rules(text: object) -> str:
    """``?rules=``: ``changed`` (the default when empty) or ``all``; a :class:`ValueError` with a bilingual message
    otherwise."""
    value = (text or "changed").strip().lower() if isinstance(text, str) or text is None else text
    if value not in RULES_LISTED:
        raise ValueError(f"rules 只能是 changed（只列有差别的指标，默认）或 all（全部指标），得到 {text!r} / "
                         f"rules is changed (only the rules that differ, the default) or all (every rule), got {text!r}")
    return str(value)


def present_output(result) -> RunOutput:
    """The present's side of every comparison (:func:`~planner.outputs.compare.result_output` of ``result``):
    built once per server and passed to :func:`compare_table`."""
    return result_output(result)


def _number(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return round(f, 6) if np.isfinite(f) else None


def _text(v: object) -> str | None:
    return None if v is None or (isinstance(v, float) and v != v) else str(v)


def _numbers(column: pd.Series) -> list[float | None]:
    """:func:`_number` of each value (rounded to 6 places, None when not finite)."""
    x = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    return [round(f, 6) if f == f and f not in (np.inf, -np.inf) else None for f in x.tolist()]


def _texts(column: pd.Series) -> list[str | None]:
    return [_text(v) for v in column.tolist()]


def _differ(columns: list[np.ndarray]) -> np.ndarray:
    """Per row, whether the columns (texts as object arrays with None, or numbers as floats with NaN for None) do not
    all hold the same value (None equals None, NaN equals NaN)."""
    first = columns[0]
    out = np.zeros(len(first), dtype=bool)
    for other in columns[1:]:
        same = np.asarray(first == other, dtype=bool)
        if first.dtype != object:
            same |= np.isnan(first) & np.isnan(other)
        out |= ~same
    return out


def compare_table(result, columns: Sequence[Column], *, lang: str = "zh", rules: str = "changed",
                  present: RunOutput | None = None) -> dict[str, Any]:
    """The comparison of the present (``result``) and ``columns``, JSON-ready (see docs/serve.md).

    ``rules``: ``"changed"`` lists the rule × 街道 rows whose status, value (as shown, to 6 places) or change differs
    between any two columns, ``"all"`` every row; the counts are over every row either way. ``present``: the
    present's :func:`present_output`, when the caller keeps it (built here otherwise).
    """
    rules = parse_rules(rules)
    present = present if present is not None else present_output(result)
    compared = []
    for col in columns:
        state = col.state
        plan = result_output(result, name=col.name, coverage=state.coverage if state else None,
                             compliance=state.compliance if state else None)
        compared.append(compare_rules_and_served(present, plan))
    heads = [{"key": "present", "kind": "present", "name": tr("serve.present", "zh"), "name_en": tr("serve.present", "en"),
              "edits": None}]
    heads += [{"key": c.key, "kind": c.kind, "name": c.name, "edits": c.edits} for c in columns]

    # people served, whole area: per view or category × group, present then each plan
    cities = [served[served["zone_id"] == CITY] for _, served, _ in compared]
    by_measure = [{(v, g): (b, nw) for v, g, b, nw in zip(c["view"], c["group"], c["served_b"], c["newly_served"], strict=True)}
                  for c in cities]
    served_rows = []
    for r in cities[0].itertuples():
        values, newly = [_number(r.served_a)], [None]
        for found in by_measure:
            b, nw = found.get((r.view, r.group), (None, None))
            values.append(_number(b))
            newly.append(_number(nw))
        label = (tr(f"cmp.view.{r.view}", "zh"), tr(f"cmp.view.{r.view}", "en")) if r.view_kind == "view" else (
            (result.taxonomy[r.view].zh, result.taxonomy[r.view].en) if r.view in result.taxonomy else (r.view, r.view))
        served_rows.append({"key": r.view, "kind": r.view_kind, "label": label[0], "label_en": label[1], "group": r.group,
                            "group_label": tr(f"group.{r.group}", "zh"), "group_label_en": tr(f"group.{r.group}", "en"),
                            "values": values, "newly_served": newly})

    # every rule × 街道: status and value per column, the change of each plan against the present (one merge each)
    key = ["subdistrict", "rule_id"]
    table = compared[0][0][[*key, "subdistrict_name", "rule", "rule_en", "operator", "target_a", "target_b", "unit",
                            "status_a", "value_a"]].copy()
    for i, (plan_rules, _, _) in enumerate(compared):
        table = table.merge(plan_rules[[*key, "status_b", "value_b", "change"]].drop_duplicates(key).rename(
            columns={"status_b": f"status_{i}", "value_b": f"value_{i}", "change": f"change_{i}"}), on=key, how="left")
    n = len(columns)
    statuses = [np.array(_texts(table[c]), dtype=object) for c in ["status_a", *(f"status_{i}" for i in range(n))]]
    values = [_numbers(table[c]) for c in ["value_a", *(f"value_{i}" for i in range(n))]]
    kinds = [np.array(_texts(table[f"change_{i}"]), dtype=object) for i in range(n)]
    passing = [int((st == "pass").sum()) for st in statuses]
    failing = [int((st == "fail").sum()) for st in statuses]
    changes: dict[str, list[int | None]] = {
        name: [None] + [int((k == name).sum()) for k in kinds] for name in ("newly_passing", "newly_failing", "improved", "declined")}
    if rules == "all":
        listed = np.arange(len(table))
    else:
        moved = np.zeros(len(table), dtype=bool)
        for k in kinds:
            moved |= (k != "unchanged") & (k != None)  # noqa: E711 (elementwise on an object array)
        moved |= _differ(statuses) | _differ([np.array(v, dtype=np.float64) for v in values])
        listed = np.flatnonzero(moved)
    rows = table.iloc[listed]
    target = rows["target_b"].where(rows["target_b"].notna(), rows["target_a"])
    pick = listed.tolist()
    rule_rows = [
        {"subdistrict": str(z), "subdistrict_name": zn, "rule_id": str(rid), "rule": rule, "rule_en": en,
         "operator": op, "target": t, "unit": unit, "status": [st[j] for st in statuses],
         "value": [v[j] for v in values], "change": [None, *(k[j] for k in kinds)]}
        for j, z, zn, rid, rule, en, op, t, unit in zip(
            pick, rows["subdistrict"].tolist(), _texts(rows["subdistrict_name"]), rows["rule_id"].tolist(), _texts(rows["rule"]),
            _texts(rows["rule_en"]), _texts(rows["operator"]), _numbers(target), _texts(rows["unit"]), strict=True)
    ]
    notes = list(dict.fromkeys(note for _, _, ns in compared for note in ns))
    return {
        "columns": heads,
        "minutes": float(max(result.scenario.thresholds_min)),
        "served": served_rows,
        "rules_passing": passing,
        "rules_failing": failing,
        "rule_changes": changes,
        "rules_listed": rules,
        "rules_total": int(len(table)),
        "rules": rule_rows,
        "notes": notes,
    }
