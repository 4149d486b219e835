"""A stand-in for planner.whatif (the engine a colleague builds), with the names and contract of its API, used only
by the serve tests until the real engine is on the branch: ``Edits.from_json(body, *, taxonomy, bounds)`` and
``WhatIf(result).apply(edits)`` → a state with ``facilities`` (an ``edit`` column), ``coverage``, ``compliance`` and
``changes()``. It computes no coverage: the present's is returned unchanged."""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd
import shapely

from planner.errors import PlannerError


def _number(value, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or not low <= value <= high:
        raise PlannerError(f"{where} 应为 {low}–{high} 之间的数 / {where} must be a number from {low} to {high}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Edits:
    add: tuple[dict, ...] = ()
    move: tuple[dict, ...] = ()
    remove: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body, *, taxonomy, bounds) -> Edits:
        if not isinstance(body, dict):
            raise PlannerError("修改应为 JSON 对象 / edits must be a JSON object")
        unknown = set(body) - {"add", "move", "remove"}
        if unknown:
            raise PlannerError(f"未知字段 {sorted(unknown)} / unknown fields {sorted(unknown)}")
        x0, y0, x1, y1 = bounds
        adds, moves = [], []
        for key in ("add", "move", "remove"):
            if not isinstance(body.get(key, []), list):
                raise PlannerError(f"{key} 应为列表 / {key} must be a list")
        for i, item in enumerate(body.get("add", [])):
            if not isinstance(item, dict):
                raise PlannerError(f"add[{i}] 应为对象 / add[{i}] must be an object")
            if item.get("category") not in taxonomy:
                raise PlannerError(f"add[{i}].category 未知类别 {item.get('category')!r} / unknown category")
            lon = _number(item.get("lon"), f"add[{i}].lon", x0, x1)
            lat = _number(item.get("lat"), f"add[{i}].lat", y0, y1)
            for k in ("places", "beds"):
                if item.get(k) is not None:
                    _number(item[k], f"add[{i}].{k}", 0, 10_000)
            adds.append({**item, "lon": lon, "lat": lat})
        for i, item in enumerate(body.get("move", [])):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                raise PlannerError(f"move[{i}].id 应为文字 / move[{i}].id must be a text")
            moves.append({"id": item["id"], "lon": _number(item.get("lon"), f"move[{i}].lon", x0, x1),
                          "lat": _number(item.get("lat"), f"move[{i}].lat", y0, y1)})
        remove = body.get("remove", [])
        if not all(isinstance(r, str) for r in remove):
            raise PlannerError("remove 应为设施编号列表 / remove must be a list of facility ids")
        return cls(tuple(adds), tuple(moves), tuple(remove))


@dataclass(frozen=True)
class PlanState:
    facilities: gpd.GeoDataFrame
    coverage: object
    compliance: object
    edits: Edits

    def changes(self) -> dict:
        counts = self.facilities["edit"].value_counts()
        return {"facilities": {k: int(counts.get(k, 0)) for k in ("add", "move", "remove")},
                "compounds": [], "zones": [], "served": {}}


class WhatIf:
    def __init__(self, result) -> None:
        self.result = result

    def apply(self, edits: Edits) -> PlanState:
        base = self.result.facilities
        fac = base.assign(edit=pd.Series(None, index=base.index, dtype=object))
        known = set(fac.index)
        for m in edits.move:
            if m["id"] not in known:
                raise PlannerError(f"move: 没有编号为 {m['id']!r} 的设施 / no facility {m['id']!r}")
        for r in edits.remove:
            if r not in known:
                raise PlannerError(f"remove: 没有编号为 {r!r} 的设施 / no facility {r!r}")
        if edits.move:
            pts = gpd.GeoSeries(shapely.points([m["lon"] for m in edits.move], [m["lat"] for m in edits.move]), crs=4326).to_crs(fac.crs)
            ids = [m["id"] for m in edits.move]
            fac.loc[ids, "geometry"] = pts.values
            fac.loc[ids, "edit"] = "move"
        if edits.remove:
            fac.loc[list(edits.remove), "edit"] = "remove"
        if edits.add:
            pts = gpd.GeoSeries(shapely.points([a["lon"] for a in edits.add], [a["lat"] for a in edits.add]), crs=4326).to_crs(fac.crs)
            new = gpd.GeoDataFrame({
                "id": [f"new-{i + 1}" for i in range(len(edits.add))],
                "name": [a.get("name", f"新增{i + 1}") for i, a in enumerate(edits.add)],
                "category": [a["category"] for a in edits.add],
                "places": [a.get("places") for a in edits.add], "beds": [a.get("beds") for a in edits.add],
                "edit": "add"}, geometry=pts.values, crs=fac.crs)
            new.index = new["id"]
            fac = pd.concat([fac, new])
        return PlanState(facilities=fac, coverage=self.result.coverage, compliance=self.result.compliance, edits=edits)
