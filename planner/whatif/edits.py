"""A plan's facility edits (add, move, remove) as validated records, read from the JSON a client sends.

Every field is checked before any work: known categories, finite numbers in range, WGS84 coordinates inside the
study area, ids that exist and are edited once. All problems are collected and raised together as one bilingual
:class:`EditError` naming each field (``add[2].lon``), so a client can show them next to the inputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass

from planner.errors import PlannerError
from planner.io.categories import Taxonomy

__all__ = ["AddFacility", "MoveFacility", "Edits", "EditError", "MAX_EDITS", "MAX_CAPACITY", "MAX_NAME"]

MAX_EDITS = 1000  # per list (add, move, remove) of one plan
MAX_CAPACITY = 100_000  # 托位 / 床位 of one facility
MAX_NAME = 200  # characters of a facility's name
PROBLEMS_SHOWN = 20  # problems listed in one error message


class EditError(PlannerError):
    """A plan's edits cannot be applied; ``problems`` holds (field, Chinese, English) for each."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        shown = problems[:PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        zh = "；".join(f"{f}：{z}" for f, z, _ in shown) + (f"；另有 {more} 处" if more else "")
        en = "; ".join(f"{f}: {e}" for f, _, e in shown) + (f"; {more} more" if more else "")
        super().__init__(f"编辑无效：{zh} / invalid edits: {en}")


#: the ids a caller may give added facilities (``NEW-1``, ``NEW-2`` …)
_NEW_ID = re.compile(r"NEW-[1-9][0-9]{0,8}")


@dataclass(frozen=True)
class AddFacility:
    """A new facility at ``lon``, ``lat`` (WGS84 degrees)."""

    category: str
    lon: float
    lat: float
    name: str = ""
    places: float | None = None  # 托位
    beds: float | None = None  # 床位
    public_benefit: bool | None = None  # 普惠
    id: str | None = None  # NEW-<n>, given by a caller that keeps added facilities' ids stable; else assigned in order


@dataclass(frozen=True)
class MoveFacility:
    """An existing facility (``id``) moved to ``lon``, ``lat`` (WGS84 degrees)."""

    id: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Edits:
    """The edits of one plan against the present (the run): facilities added, moved and removed."""

    add: tuple[AddFacility, ...] = ()
    move: tuple[MoveFacility, ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.add or self.move or self.remove)

    def to_json(self) -> dict:
        """The JSON form :meth:`from_json` reads."""
        return {"add": [asdict(a) for a in self.add], "move": [asdict(m) for m in self.move], "remove": list(self.remove)}

    @classmethod
    def from_json(
        cls,
        data: object,
        *,
        taxonomy: Taxonomy,
        bounds: tuple[float, float, float, float],
        ids: Collection[str] | None = None,
        categories: Collection[str] | None = None,
    ) -> Edits:
        """Validate a client's ``{"add": [...], "move": [...], "remove": [...]}``.

        Parameters
        ----------
        taxonomy
            Known facility categories.
        bounds
            The study area (min lon, min lat, max lon, max lat), WGS84 degrees; every coordinate must lie inside.
        ids
            Ids of the existing facilities (moves and removals must name one); None: not checked.
        categories
            Categories the run analyses (an added facility must be one of them); None: any of ``taxonomy``.

        Raises
        ------
        EditError
            Listing every problem, each with the field it concerns.
        """
        problems: list[tuple[str, str, str]] = []
        if not isinstance(data, Mapping):
            raise EditError([("body", "应为对象 {\"add\", \"move\", \"remove\"}", "must be an object {\"add\", \"move\", \"remove\"}")])
        for key in data:
            if key not in ("add", "move", "remove"):
                problems.append((str(key)[:40], "未知字段（只接受 add、move、remove）", "unknown field (add, move and remove only)"))
        lists = {}
        for key in ("add", "move", "remove"):
            value = data.get(key, [])
            if value is None:
                value = []
            if not isinstance(value, list):
                problems.append((key, "应为列表", "must be a list"))
                value = []
            elif len(value) > MAX_EDITS:
                problems.append((key, f"最多 {MAX_EDITS} 项，收到 {len(value)} 项", f"at most {MAX_EDITS} items, got {len(value)}"))
                value = []
            lists[key] = value
        check = _Checker(problems, bounds)
        add = []
        seen_new: set[str] = set()
        for i, item in enumerate(lists["add"]):
            where = f"add[{i}]"
            if not check.fields(item, where, required=("category", "lon", "lat"),
                                optional=("name", "places", "beds", "public_benefit", "id")):
                continue
            new_id = item.get("id")
            if new_id is not None and not (isinstance(new_id, str) and _NEW_ID.fullmatch(new_id) and new_id not in seen_new):
                problems.append((f"{where}.id", "应为未用过的 NEW-<数字>", "must be an unused NEW-<number>"))
                continue
            if new_id is not None:
                seen_new.add(new_id)
            cat = item["category"]
            if not isinstance(cat, str) or cat not in taxonomy:
                known = "、".join(taxonomy.keys[:8])
                problems.append((f"{where}.category", f"未知类别 {str(cat)[:40]!r}（如 {known}）", f"unknown category {str(cat)[:40]!r} (e.g. {known})"))
                continue
            if categories is not None and cat not in categories:
                problems.append((f"{where}.category", f"本次分析不含类别 {cat}", f"category {cat} is not analysed in this run"))
                continue
            lon, lat = check.point(item, where)
            name = item.get("name") or ""
            if not isinstance(name, str) or len(name) > MAX_NAME:
                problems.append((f"{where}.name", f"应为不超过 {MAX_NAME} 字的文字", f"must be text of at most {MAX_NAME} characters"))
                name = ""
            places = check.capacity(item, "places", where)
            beds = check.capacity(item, "beds", where)
            benefit = item.get("public_benefit")
            if benefit is not None and not isinstance(benefit, bool):
                problems.append((f"{where}.public_benefit", "应为 true、false 或 null", "must be true, false or null"))
                benefit = None
            if lon is not None and lat is not None:
                add.append(AddFacility(cat, lon, lat, name.strip(), places, beds, benefit, new_id))
        move = []
        seen: dict[str, str] = {}
        for i, item in enumerate(lists["move"]):
            where = f"move[{i}]"
            if not check.fields(item, where, required=("id", "lon", "lat"), optional=()):
                continue
            fid = check.existing(item["id"], f"{where}.id", ids, seen, "move")
            lon, lat = check.point(item, where)
            if fid is not None and lon is not None and lat is not None:
                move.append(MoveFacility(fid, lon, lat))
        remove = []
        for i, item in enumerate(lists["remove"]):
            fid = check.existing(item, f"remove[{i}]", ids, seen, "remove")
            if fid is not None:
                remove.append(fid)
        if problems:
            raise EditError(problems)
        return cls(tuple(add), tuple(move), tuple(remove))


class _Checker:
    """Field checks that append (field, Chinese, English) to ``problems``."""

    def __init__(self, problems: list[tuple[str, str, str]], bounds: tuple[float, float, float, float]):
        self.problems = problems
        self.bounds = bounds

    def fields(self, item: object, where: str, *, required: tuple[str, ...], optional: tuple[str, ...]) -> bool:
        if not isinstance(item, Mapping):
            self.problems.append((where, "应为对象", "must be an object"))
            return False
        ok = True
        for key in required:
            if key not in item:
                self.problems.append((f"{where}.{key}", "缺少此字段", "missing"))
                ok = False
        for key in item:
            if key not in required and key not in optional:
                self.problems.append((f"{where}.{str(key)[:40]}", "未知字段", "unknown field"))
                ok = False
        return ok

    def number(self, value: object, field: str, low: float, high: float) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.problems.append((field, f"应为有限数字，收到 {str(value)[:40]!r}", f"must be a finite number, got {str(value)[:40]!r}"))
            return None
        if not low <= value <= high:
            self.problems.append((field, f"{value:g} 不在 {low:g}–{high:g} 之间", f"{value:g} is outside {low:g}–{high:g}"))
            return None
        return float(value)

    def point(self, item: Mapping, where: str) -> tuple[float | None, float | None]:
        """(lon, lat) inside the study area, or None for the ones that are not."""
        x0, y0, x1, y1 = self.bounds
        lon = self.number(item["lon"], f"{where}.lon", -180.0, 180.0)
        lat = self.number(item["lat"], f"{where}.lat", -90.0, 90.0)
        if lon is None or lat is None:
            return None, None
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            self.problems.append((
                where, f"({lon:.6f}, {lat:.6f}) 在研究区（经度 {x0:.4f}–{x1:.4f}，纬度 {y0:.4f}–{y1:.4f}，WGS84）之外",
                f"({lon:.6f}, {lat:.6f}) lies outside the study area (lon {x0:.4f}–{x1:.4f}, lat {y0:.4f}–{y1:.4f}, WGS84)",
            ))
            return None, None
        return lon, lat

    def capacity(self, item: Mapping, key: str, where: str) -> float | None:
        value = item.get(key)
        return None if value is None else self.number(value, f"{where}.{key}", 0.0, MAX_CAPACITY)

    def existing(self, value: object, field: str, ids: Collection[str] | None, seen: dict[str, str], verb: str) -> str | None:
        """A facility id that exists and is not edited twice."""
        if not isinstance(value, str) or not value or len(value) > MAX_NAME:
            self.problems.append((field, "应为现有设施的编号（文字）", "must be the id (text) of an existing facility"))
            return None
        if ids is not None and value not in ids:
            self.problems.append((field, f"没有编号为 {value!r} 的设施", f"no facility has the id {value!r}"))
            return None
        if value in seen:
            self.problems.append((field, f"设施 {value!r} 已在本方案中{'移动' if seen[value] == 'move' else '删除'}",
                                  f"facility {value!r} is already {'moved' if seen[value] == 'move' else 'removed'} in this plan"))
            return None
        seen[value] = verb
        return value
