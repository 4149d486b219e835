"""Planning rules as data: load ``planner/data/rules.toml``, pick a preset, apply a scenario's overrides."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from planner.errors import ScenarioError

__all__ = ["Rule", "load_rules", "PRESETS", "rules_for"]

PRESETS = ("national", "nantong-2025")


@dataclass(frozen=True)
class Rule:
    """One requirement: what is measured, the target, its unit and where it comes from."""

    id: str
    kind: str
    value: float
    unit: str
    zh: str
    en: str
    source: str
    conf: str
    presets: tuple[str, ...]
    categories: tuple[str, ...] = ()
    capacity: str | None = None
    group: str | None = None
    radius_m: float | None = None
    public_benefit: bool = False
    strict: bool = False
    room: str | None = None
    built: str | None = None
    of_rule: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def city_level(self) -> bool:
        return self.kind.startswith("city_")

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    text = resources.files("planner").joinpath("data/rules.toml").read_text(encoding="utf-8")
    return tuple(tomllib.loads(text)["rule"])


def load_rules() -> tuple[dict, ...]:
    """The raw rule records shipped with planner."""
    return _records()


def rules_for(preset: str, overrides: Mapping[str, float] | None = None) -> tuple[Rule, ...]:
    """The rules of ``preset`` with the scenario's ``overrides`` (rule id → new target value) applied."""
    if preset not in PRESETS:
        raise ScenarioError(f"未知标准预设 {preset!r}，可选：{', '.join(PRESETS)} / unknown standards preset {preset!r}")
    overrides = dict(overrides or {})
    out = []
    known = set()
    for rec in _records():
        known.add(rec["id"])
        if preset not in rec["presets"]:
            continue
        value = rec["value"][preset] if isinstance(rec["value"], dict) else rec["value"]
        if rec["id"] in overrides:
            value = overrides[rec["id"]]
        out.append(
            Rule(
                id=rec["id"],
                kind=rec["kind"],
                value=float(value),
                unit=rec["unit"],
                zh=rec["zh"],
                en=rec["en"],
                source=rec["source"],
                conf=rec["conf"],
                presets=tuple(rec["presets"]),
                categories=tuple(rec.get("categories", ())),
                capacity=rec.get("capacity"),
                group=rec.get("group"),
                radius_m=float(rec["radius_m"]) if "radius_m" in rec else None,
                public_benefit=bool(rec.get("public_benefit", False)),
                strict=bool(rec.get("strict", False)),
                room=rec.get("room"),
                built=rec.get("built"),
                of_rule=rec.get("of_rule"),
            )
        )
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ScenarioError(f"[standards.overrides] 中有未知规则 {unknown} / unknown rule ids in overrides: {unknown}")
    return tuple(out)
