"""Saved plans of `planner serve` on disk: each plan's ``summary.json`` (written when it is saved, read to list the
plans without re-running anything), its ``edits.json`` (read to reopen it) and the files a client may download.

Every path is made here from the server's own output folder, a name passed through
:func:`~planner.serve.security.safe_plan_name` and a file name from the fixed list :data:`FILES`; nothing a client
sends is ever used as a path.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from planner import __version__
from planner.serve.security import ApiError, safe_plan_name

__all__ = [
    "EDITS",
    "FILES",
    "RUN",
    "SUMMARY",
    "edit_counts",
    "file_links",
    "headline",
    "list_saved",
    "read_edits",
    "saved_file",
    "saved_folder",
    "write_summary",
]

SUMMARY = "summary.json"  # beside scenario.toml: what the list shows
EDITS = "edits.json"  # the plan's combined edits: what reopening applies
RUN = "run"  # the exported report: the output folder `planner run` writes for the plan's scenario

_HTML = "text/html; charset=utf-8"
_CSV = "text/csv; charset=utf-8"
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: the files of a saved plan a client may download: name → (folder inside the plan's folder, content type)
FILES: dict[str, tuple[str, str]] = {
    "scenario.toml": ("", "application/toml; charset=utf-8"),
    "facilities.geojson": ("", "application/geo+json"),
    EDITS: ("", "application/json"),
    "report.html": (RUN, _HTML),
    "report.xlsx": (RUN, _XLSX),
    "index.html": (RUN, _HTML),
    **{f"{n}.csv": (RUN, _CSV) for n in ("subdistricts", "compounds", "facilities", "catchments", "compliance", "gaps",
                                         "circles", "rejected", "sites", "coverage_curve", "pairs")},
}
_LINK_ORDER = ("report.html", "report.xlsx", "index.html", "scenario.toml", "facilities.geojson")


def edit_counts(edits: Mapping[str, Any]) -> dict[str, int]:
    """Adds, moves and removals of a combined edits body."""
    return {k: len(edits.get(k) or []) for k in ("add", "move", "remove")}


def headline(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's headline against the present, from the engine's ``changes()``: per analysed category the people
    newly within (and no longer within) the longest threshold per group, and the rules newly passing and failing."""
    def rule(r: Mapping[str, Any]) -> dict[str, Any]:
        return {k: r.get(k) for k in ("subdistrict", "subdistrict_name", "rule_id", "rule", "value_before", "value_after")}

    rules = list(changes.get("rules") or [])
    passing = [rule(r) for r in rules if r.get("status_after") == "pass" and r.get("status_before") != "pass"]
    failing = [rule(r) for r in rules if r.get("status_after") == "fail" and r.get("status_before") != "fail"]
    return {
        "served": dict(changes.get("served") or {}),
        "newly_passing": len(passing),
        "newly_failing": len(failing),
        "rules_changed": len(rules),
        "compounds_changed": len(changes.get("compounds") or []),
        "rules_newly_passing": passing,
        "rules_newly_failing": failing,
    }


def write_summary(folder: Path, *, name: str, folder_name: str, scenario_name: str, plan_scenario: str,
                  edits: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """Write the plan's ``summary.json`` (last, and atomically: a plan is listed only once it is whole)."""
    summary = {
        "planner_version": __version__,
        "name": folder_name,
        "title": name,
        "saved_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "scenario": scenario_name,
        "plan_scenario": plan_scenario,
        "edits": edit_counts(edits),
        "summary": headline(changes),
    }
    tmp = folder / f".{SUMMARY}.{secrets.token_hex(4)}"
    tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, folder / SUMMARY)
    return summary


def _root(out_dir: Path | str) -> Path:
    return (Path(out_dir) / "plans").resolve()


def saved_folder(out_dir: Path | str, name: object) -> Path:
    """The folder of the saved plan ``name`` (through :func:`safe_plan_name`); 404 when there is none."""
    folder_name = safe_plan_name(name)
    root = _root(out_dir)
    folder = (root / folder_name).resolve()
    if folder.parent != root or not folder.is_dir():
        raise ApiError(404, "no_such_saved_plan", f"没有名为 {folder_name!r} 的已保存方案（见 GET /api/saved） / no saved plan "
                       f"named {folder_name!r} (see GET /api/saved)")
    return folder


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def file_links(name: str, folder: Path) -> list[dict[str, str]]:
    """The downloadable files of a saved plan that exist: ``{"file", "url"}``, the report first."""
    present = [f for f, (sub, _) in FILES.items() if (folder / sub / f).is_file()]
    present.sort(key=lambda f: (_LINK_ORDER.index(f) if f in _LINK_ORDER else len(_LINK_ORDER), f))
    return [{"file": f, "url": f"/api/saved/{quote(name, safe='')}/files/{f}"} for f in present]


def list_saved(out_dir: Path | str) -> list[dict[str, Any]]:
    """Every folder under ``out_dir/plans/`` sorted by name: its summary (``name``, ``title``, ``saved_at``,
    ``edits``, ``summary``, ``report`` and ``links``), or ``{"name", "error"}`` when its summary.json is missing or
    not one."""
    root = _root(out_dir)
    if not root.is_dir():
        return []
    out = []
    for folder in sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name):
        name = folder.name
        try:
            data = _read_json(folder / SUMMARY)
            ok = (isinstance(data, dict) and isinstance(data.get("saved_at"), str) and isinstance(data.get("edits"), dict)
                  and isinstance(data.get("summary"), dict))
        except FileNotFoundError:
            out.append({"name": name, "error": f"没有 {SUMMARY}（不是由 planner serve 保存的方案） / no {SUMMARY} (not a plan saved "
                        "by planner serve)"})
            continue
        except (OSError, ValueError):
            ok = False
        if not ok:
            out.append({"name": name, "error": f"{SUMMARY} 无法读取或不是方案摘要 / {SUMMARY} cannot be read or is not a plan summary"})
            continue
        out.append({"name": name, "title": data.get("title", name), "saved_at": data["saved_at"], "scenario": data.get("scenario"),
                    "edits": data["edits"], "summary": data["summary"], "report": (folder / RUN / "report.html").is_file(),
                    "links": file_links(name, folder)})
    return out


def read_edits(out_dir: Path | str, name: object) -> tuple[str, dict[str, Any]]:
    """The folder name and combined edits of the saved plan ``name`` (404 when unknown, 422 when unreadable)."""
    folder = saved_folder(out_dir, name)
    try:
        edits = _read_json(folder / EDITS)
    except FileNotFoundError:
        raise ApiError(404, "no_such_saved_plan", f"方案 {folder.name!r} 没有 {EDITS}，无法重新打开 / the plan {folder.name!r} has no "
                       f"{EDITS} and cannot be reopened") from None
    except (OSError, ValueError) as exc:
        raise ApiError(422, "invalid_saved_plan", f"方案 {folder.name!r} 的 {EDITS} 无法读取：{exc} / the {EDITS} of {folder.name!r} "
                       f"cannot be read: {exc}") from None
    if not isinstance(edits, dict):
        raise ApiError(422, "invalid_saved_plan", f"方案 {folder.name!r} 的 {EDITS} 不是修改对象 / the {EDITS} of {folder.name!r} "
                       "is not an edits object")
    return folder.name, edits


def saved_file(out_dir: Path | str, name: object, file: str) -> tuple[Path, str]:
    """The path and content type of ``file`` of the saved plan ``name``: only a name of :data:`FILES`, in its own
    folder; 404 for any other name and for a file not written (yet)."""
    where = FILES.get(file)
    if where is None:
        raise ApiError(404, "no_such_file", f"不提供文件 {file[:80]!r}；可下载：{'、'.join(FILES)} / {file[:80]!r} is not served; "
                       f"files served: {', '.join(FILES)}")
    folder = saved_folder(out_dir, name)
    sub, media = where
    path = folder / sub / file
    if not path.is_file():
        hint = "（先导出报告：POST /api/plans/{id}/report）" if sub == RUN else ""
        hint_en = " (export the report first: POST /api/plans/{id}/report)" if sub == RUN else ""
        raise ApiError(404, "no_such_file", f"方案 {folder.name!r} 还没有 {file}{hint} / the plan {folder.name!r} has no {file} yet{hint_en}")
    return path, media
