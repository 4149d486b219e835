"""Plans of `planner serve`: each a list of edits on the present with undo/redo, held in memory, one lock each, and
saved as a named variant (a facilities layer and a scenario file that `planner run` reproduces).

A plan's state is always the what-if engine applied to *all* its edits, from the present (the baseline run is never
mutated): an edit, an undo and a redo each re-apply the plan's combined edits (:func:`combine`). Several clients edit
separate plans at once; two requests on one plan take turns (:attr:`Plan.lock`).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.serve.saved import EDITS, write_summary
from planner.serve.security import MAX_EDITS_PER_PLAN, MAX_EDITS_PER_REQUEST, MAX_PLANS, ApiError, safe_plan_name

__all__ = [
    "EDIT_KEYS",
    "REMOVED",
    "Plan",
    "PlanStore",
    "combine",
    "count_edits",
    "dump_toml",
    "plan_scenario_name",
    "save_plan",
]

EDIT_KEYS = ("add", "move", "remove")
# values of the engine's ``edit`` column that mark a removed facility: kept in the saved layer (the record of the
# plan) and left out by the saved scenario's ``where``
REMOVED = ("remove", "removed")
# the columns of a saved facilities layer (planner's own names, so the saved scenario needs no column mapping)
SAVED_COLUMNS = ("id", "name", "category", "places", "beds", "nursing_beds", "public_benefit", "edit")
IDLE_S = 30 * 60  # a plan idle this long may be forgotten when the server holds MAX_PLANS
_PLAN_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def count_edits(body: object) -> int:
    """Adds + moves + removals in an edits body (0 for anything that is not one)."""
    if not isinstance(body, Mapping):
        return 0
    return sum(len(body[k]) for k in EDIT_KEYS if isinstance(body.get(k), list))


def combine(bodies: list[Mapping[str, Any]]) -> dict[str, list]:
    """One edits body equal to ``bodies`` applied in turn.

    Each added facility gets a stable id, ``NEW-<n>`` by the order of all additions in ``bodies`` (so undo, redo
    and later edits never renumber it; the API returns it); an id given with an addition (a reopened plan's) is kept
    and never given to another. A move of an added facility moves its addition, a
    removal cancels it. Of the run's facilities: a facility moved several times keeps its last position; a removed
    one is removed once and its moves dropped (a later move of a removed facility is dropped too).
    """
    adds: dict[str, dict] = {}
    moves: dict[str, dict] = {}
    removed: dict[str, object] = {}
    n_added = 0
    given: set[str] = set()  # ids a client gave (a reopened plan's NEW-1, NEW-3 …), in this body and earlier ones
    for body in bodies:
        given |= {str(item["id"]) for item in body.get("add") or [] if isinstance(item, Mapping) and "id" in item}
        for item in body.get("add") or []:
            n_added += 1
            new = dict(item) if isinstance(item, Mapping) else item
            if isinstance(new, dict):
                if "id" not in new:
                    while f"NEW-{n_added}" in given:  # a reopened plan's ids (NEW-1, NEW-3 …) are kept, never reused
                        n_added += 1
                    new["id"] = f"NEW-{n_added}"
                adds[str(new["id"])] = new
            else:  # left for the engine's validation to refuse
                adds[f"?{n_added}"] = new
        for rid in body.get("remove") or []:
            if str(rid) in adds:  # an addition of this plan taken back
                adds.pop(str(rid))
                continue
            removed.setdefault(str(rid), rid)
            moves.pop(str(rid), None)
        for move in body.get("move") or []:
            key = str(move.get("id")) if isinstance(move, Mapping) else str(move)
            if key in adds and isinstance(move, Mapping):  # an addition of this plan placed elsewhere
                adds[key] = {**adds[key], **{k: move[k] for k in ("lon", "lat") if k in move}}
            elif key not in removed:
                moves.pop(key, None)  # re-inserted: the order is that of each facility's last move
                moves[key] = move
    return {"add": list(adds.values()), "move": list(moves.values()), "remove": list(removed.values())}


def _without_refs(body: Mapping[str, Any], ids: set[str]) -> dict:
    """``body`` without its moves and removals of ``ids`` (a plan's own additions)."""
    out = dict(body)
    if ids and isinstance(out.get("remove"), list):
        out["remove"] = [r for r in out["remove"] if not (isinstance(r, str) and r in ids)]
    if ids and isinstance(out.get("move"), list):
        out["move"] = [m for m in out["move"] if not (isinstance(m, Mapping) and isinstance(m.get("id"), str) and m["id"] in ids)]
    return out


@dataclass
class Plan:
    """One plan: the edit bodies applied (``done``) and undone (``undone``, for redo), and the state they give."""

    id: str
    created: float
    done: list[dict] = field(default_factory=list)
    undone: list[dict] = field(default_factory=list)
    state: Any = None  # the engine's PlanState of ``combine(done)``; None while the plan holds no edit
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    used: float = field(default_factory=time.time)  # last asked for: a full server forgets the plan idle longest

    @property
    def edits(self) -> dict[str, list]:
        return combine(self.done)

    def summary(self) -> dict[str, Any]:
        edits = self.edits
        return {
            "id": self.id,
            "steps": len(self.done),
            "can_undo": bool(self.done),
            "can_redo": bool(self.undone),
            "edits": edits,
            "n_edits": count_edits(edits),
        }


class PlanStore:
    """The plans of one server, each with its lock.

    Parameters
    ----------
    engine
        The what-if engine (``planner.whatif.engine.WhatIf``): ``apply(edits)`` → a state with ``changes()``.
    parse
        Validates an edits body (``Edits.from_json`` bound to the run's taxonomy and bounds); raises
        :class:`~planner.errors.PlannerError` naming the field.
    """

    def __init__(self, engine: Any, parse: Callable[[dict], Any], *, max_plans: int = MAX_PLANS,
                 max_edits_per_request: int = MAX_EDITS_PER_REQUEST, max_edits_per_plan: int = MAX_EDITS_PER_PLAN) -> None:
        self.engine = engine
        self.parse = parse
        self.max_plans = max_plans
        self.max_edits_per_request = max_edits_per_request
        self.max_edits_per_plan = max_edits_per_plan
        self._plans: dict[str, Plan] = {}
        self._lock = threading.Lock()  # guards the dict only; each plan's work runs under its own lock
        self._empty_changes: dict | None = None

    def __len__(self) -> int:
        return len(self._plans)

    def create(self) -> Plan:
        with self._lock:
            if len(self._plans) >= self.max_plans:
                self._forget_idle()
            if len(self._plans) >= self.max_plans:
                raise ApiError(429, "too_many_plans",
                               f"服务器已有 {len(self._plans)} 个方案（上限 {self.max_plans}）；请删除不用的方案 / the server holds "
                               f"{len(self._plans)} plans (at most {self.max_plans}); delete plans no longer needed")
            plan = Plan(id=secrets.token_urlsafe(12), created=time.time())
            self._plans[plan.id] = plan
            return plan

    def _forget_idle(self) -> None:
        """With the store full: forget the plan idle longest, if it has been idle :data:`IDLE_S` or more (every browser
        tab's first edit makes a plan, and the page never deletes one — a reload takes it back)."""
        now = time.time()
        idle = [p for p in self._plans.values() if now - p.used >= IDLE_S and not p.lock.locked()]
        if idle:
            oldest = min(idle, key=lambda p: p.used)
            self._plans.pop(oldest.id, None)

    def get(self, plan_id: str) -> Plan:
        plan = self._plans.get(plan_id) if _PLAN_ID.match(plan_id or "") else None
        if plan is None:
            raise ApiError(404, "no_such_plan", f"没有编号为 {plan_id[:80]!r} 的方案（服务器重启后方案会清空，或它闲置最久而被清除） / no plan "
                           f"{plan_id[:80]!r} (plans are cleared when the server restarts, or when it was the one idle longest on a full server)")
        plan.used = time.time()
        return plan

    def delete(self, plan_id: str) -> None:
        plan = self.get(plan_id)
        with plan.lock, self._lock:
            self._plans.pop(plan.id, None)

    def changes(self, plan: Plan) -> dict:
        """The plan's changes against the present (the engine's ``changes()``; those of no edit for an empty plan)."""
        if plan.state is not None:
            return plan.state.changes()
        if self._empty_changes is None:
            self._empty_changes = self.engine.apply(self.parse({})).changes()
        return self._empty_changes

    def edit(self, plan_id: str, body: object) -> Plan:
        """Apply the edits ``body`` to the plan; a body the engine refuses leaves the plan as it was. An unknown plan
        is answered first (404), before anything about the body."""
        plan = self.get(plan_id)
        if not isinstance(body, Mapping):
            raise ApiError(422, "invalid_body", f"请求体应为 JSON 对象，如 {{\"add\": [...]}}，得到 {type(body).__name__} / the body must be a "
                           f"JSON object such as {{\"add\": [...]}}, got {type(body).__name__}")
        n = count_edits(body)
        if n > self.max_edits_per_request:
            raise ApiError(413, "too_many_edits", f"一次最多 {self.max_edits_per_request} 处修改，得到 {n} 处 / at most "
                           f"{self.max_edits_per_request} edits per request, got {n}")
        with plan.lock:
            own = {str(a.get("id")) for a in plan.edits["add"] if isinstance(a, Mapping)}
        # refused here, with the field named, before the plan is touched; a move or removal of one of the plan's own
        # additions (NEW-<n>, unknown to the run) is checked when the plan's edits are applied together
        self.parse(_without_refs(body, own))
        if n == 0:
            raise ApiError(422, "empty_edit", "请求中没有修改（add、move、remove 都为空） / the request holds no edit (add, move and remove are empty)")
        with plan.lock:
            if plan_id not in self._plans:  # deleted while this request waited
                raise self._gone(plan_id)
            done = [*plan.done, dict(body)]
            self._apply(plan, done)
            plan.undone.clear()
        return plan

    def open(self, body: Mapping[str, Any]) -> Plan:
        """A new plan holding ``body`` (a saved plan's combined edits, its additions with their ids) as its one step;
        a body the engine refuses makes no plan."""
        if not isinstance(body, Mapping) or count_edits(body) == 0:
            raise ApiError(422, "invalid_saved_plan", "已保存的方案中没有修改，无法打开 / the saved plan holds no edit to open")
        plan = self.create()
        try:
            with plan.lock:
                self._apply(plan, [dict(body)])
        except BaseException:
            with self._lock:
                self._plans.pop(plan.id, None)
            raise
        return plan

    def evaluate(self, body: object, *, limit: int | None = None) -> tuple[dict[str, list], Any]:
        """``body`` applied to the present without keeping a plan (``POST /api/plan``): its combined edits (added
        facilities numbered NEW-1 …) and the engine's state (None when it holds no edit). Checked as an edit is, with
        at most ``limit`` edits (default: the limit of one request; a saved plan's edits may hold a plan's)."""
        if not isinstance(body, Mapping):
            raise ApiError(422, "invalid_body", f"请求体应为 JSON 对象，如 {{\"add\": [...]}}，得到 {type(body).__name__} / the body must be a "
                           f"JSON object such as {{\"add\": [...]}}, got {type(body).__name__}")
        n = count_edits(body)
        most = self.max_edits_per_request if limit is None else limit
        if n > most:
            raise ApiError(413, "too_many_edits", f"一次最多 {most} 处修改，得到 {n} 处 / at most {most} edits at once, got {n}")
        self.parse(dict(body))  # the field named, as for an edit
        edits = combine([dict(body)])
        return edits, (self.engine.apply(self.parse(edits)) if count_edits(edits) else None)

    def empty_changes(self) -> dict:
        """The changes of no edit (the present against itself)."""
        return self.changes(Plan(id="-", created=0.0))

    def undo(self, plan_id: str) -> Plan:
        plan = self.get(plan_id)
        with plan.lock:
            if not plan.done:
                raise ApiError(409, "nothing_to_undo", "没有可撤销的修改 / nothing to undo")
            self._apply(plan, plan.done[:-1])  # the undone body waits in plan.undone for redo
        return plan

    def redo(self, plan_id: str) -> Plan:
        plan = self.get(plan_id)
        with plan.lock:
            if not plan.undone:
                raise ApiError(409, "nothing_to_redo", "没有可重做的修改 / nothing to redo")
            self._apply(plan, [*plan.done, plan.undone[-1]])
            plan.undone.pop()
        return plan

    def _apply(self, plan: Plan, done: list[dict]) -> None:
        """Make ``done`` the plan's edits: the state first (a refusal changes nothing), then the lists."""
        edits = combine(done)
        total = count_edits(edits)
        if total > self.max_edits_per_plan:
            raise ApiError(413, "plan_too_large", f"一个方案最多 {self.max_edits_per_plan} 处修改，此次将有 {total} 处；请另建方案 / a plan "
                           f"holds at most {self.max_edits_per_plan} edits, this would make {total}; start another plan")
        state = self.engine.apply(self.parse(edits)) if done else None
        if len(done) < len(plan.done):  # an undo: the undone bodies wait for redo, latest last
            plan.undone.extend(reversed(plan.done[len(done):]))
        plan.done, plan.state = done, state

    @staticmethod
    def _gone(plan_id: str) -> ApiError:
        return ApiError(404, "no_such_plan", f"方案 {plan_id!r} 已被删除 / the plan {plan_id!r} was deleted")


# ---- saving ---------------------------------------------------------------------------------------------------------

# saves (and exports, which hold it from saving to the last file written) write one after the other: a save of one
# name never lands between an export's save and its reading of what it saved
SAVE_LOCK = threading.RLock()


def save_plan(plan: Plan, name: object, *, out_dir: Path, scenario_path: Path, scenario, crs_wgs84: str = "EPSG:4326",
              saved_state: dict | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Write the plan as a named variant under ``out_dir/plans/<safe name>/``: ``facilities.geojson`` (WGS84, the
    plan's facilities with the ``edit`` column, removed ones included), ``scenario.toml`` (the original scenario
    with its paths made absolute, the facilities layer replaced by the saved one, removed facilities left out by
    ``where``), ``edits.json`` (the combined edits, what reopening applies) and, last, ``summary.json`` (when, edit
    counts and the headline changes: what the list of saved plans shows). The folder name comes from
    :func:`~planner.serve.security.safe_plan_name`, never from a path. A saved plan of that folder name is replaced
    only with ``overwrite`` (409 ``plan_exists`` otherwise — two names such as "方案?" and "方案" share a folder), and
    then whole: its exported report goes too."""
    folder_name = safe_plan_name(name)
    root = (Path(out_dir) / "plans").resolve()
    folder = (root / folder_name).resolve()
    if folder.parent != root:  # cannot happen after safe_plan_name; kept as the last guard
        raise ApiError(422, "invalid_name", "方案名称不能是路径 / the plan name cannot be a path")
    with plan.lock:
        if plan.state is None:
            raise ApiError(409, "empty_plan", "方案中还没有修改，无需保存 / the plan holds no edit yet; nothing to save")
        facilities = plan.state.facilities
        edits = plan.edits
        changes = plan.state.changes()
        if saved_state is not None:  # the state written (the export builds its report from this one, not a later edit's)
            saved_state["state"] = plan.state
    layer = facilities[[c for c in SAVED_COLUMNS if c in facilities.columns] + [facilities.geometry.name]].to_crs(crs_wgs84)
    layer = layer.reset_index(drop=True)
    layer["edit"] = layer["edit"].astype(object).where(layer["edit"].notna() & (layer["edit"].astype(str) != ""), None)
    text = scenario_toml(scenario_path, scenario, plan_name=str(name).strip(), layer_file="facilities.geojson")
    with SAVE_LOCK:
        if folder.exists() and any(folder.iterdir()):
            if not overwrite:
                raise ApiError(409, "plan_exists", f"已有保存的方案“{folder_name}”；要替换它，请再次保存并确认覆盖（\"overwrite\": true） / a plan "
                               f"is already saved as {folder_name!r}; to replace it, save again confirming the overwrite (\"overwrite\": true)")
            shutil.rmtree(folder / "run", ignore_errors=True)  # the old plan's report must not stay with the new plan
        folder.mkdir(parents=True, exist_ok=True)
        tmp_layer = folder / f".facilities.{secrets.token_hex(4)}.geojson"
        try:
            layer.to_file(tmp_layer, driver="GeoJSON", engine="pyogrio")
            os.replace(tmp_layer, folder / "facilities.geojson")
        finally:
            tmp_layer.unlink(missing_ok=True)
        tmp_toml = folder / f".scenario.{secrets.token_hex(4)}.toml"
        tmp_toml.write_text(text, encoding="utf-8")
        os.replace(tmp_toml, folder / "scenario.toml")
        (folder / EDITS).write_text(json.dumps(edits, ensure_ascii=False, indent=1), encoding="utf-8")
        summary = write_summary(folder, name=str(name).strip(), folder_name=folder_name, scenario_name=scenario.name,
                                plan_scenario=plan_scenario_name(scenario, str(name).strip()), edits=edits, changes=changes)
    return {"name": folder_name, "folder": str(folder), "scenario": str(folder / "scenario.toml"),
            "facilities": str(folder / "facilities.geojson"), "edits": summary["edits"], "saved_at": summary["saved_at"],
            "summary": summary["summary"], "run": f"planner run {folder / 'scenario.toml'} --out {folder / 'run'}"}


def plan_scenario_name(scenario, plan_name: str) -> str:
    """The name of a saved plan's scenario: the present's with the plan's name."""
    return f"{scenario.name}（方案：{plan_name}）"


def scenario_toml(scenario_path: Path, scenario, *, plan_name: str, layer_file: str) -> str:
    """The text of a saved plan's scenario: the original file's settings, every path absolute, the facilities layer
    replaced by ``layer_file`` (beside the scenario, WGS84, planner's column names) without its removed rows."""
    raw = tomllib.loads(Path(scenario_path).read_text(encoding="utf-8"))
    raw["name"] = plan_scenario_name(scenario, plan_name)
    raw["network"]["path"] = str(scenario.network.path)
    layers = raw.setdefault("layers", {})
    for kind in ("residential", "zones"):
        spec = getattr(scenario, kind)
        if spec is not None and spec.path is not None and kind in layers:
            layers[kind]["path"] = str(spec.path)
    removed = ", ".join(f"'{v}'" for v in REMOVED)
    layers["facilities"] = {"path": layer_file, "crs": "WGS84", "where": f"edit IS NULL OR edit NOT IN ({removed})"}
    for task, spec in zip(raw.get("siting", []), scenario.siting, strict=False):
        if spec.candidates is not None:
            task["candidates"] = str(spec.candidates)
    head = (f"# 方案“{plan_name}”：由 planner serve 保存，情景 {scenario_path} 的副本，设施图层换为本方案的图层\n"
            f"# Plan {plan_name!r}: saved by planner serve, a copy of {scenario_path} with the facilities layer of the plan\n\n")
    return head + dump_toml(raw)


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")) if not math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    """TOML text of ``data`` (what :func:`tomllib.loads` gives back): scalars first, then tables and arrays of tables."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping]] = []
    arrays: list[tuple[str, list]] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            arrays.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, table in tables:
        name = f"{prefix}{_key(key)}"
        out += f"\n[{name}]\n" + dump_toml(table, name + ".")
    for key, items in arrays:
        name = f"{prefix}{_key(key)}"
        for item in items:
            out += f"\n[[{name}]]\n" + dump_toml(item, name + ".")
    return out
