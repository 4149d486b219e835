"""Planning rules as data: load ``planner/data/rules.toml``, pick a preset, apply a scenario's overrides and add the
scenario's own ``[[rules]]``.

Every rule states its **scale** — the level its source sets the target for (:data:`SCALES`) — and its **kind**, the
evaluator in :mod:`planner.analysis.requirements` (:data:`KINDS` lists each kind's fields). A rule may give its
distance in minutes (``minutes``) instead of metres: the metres are then those minutes at the walking speed of the
people the rule's categories serve (the elderly's for elderly-care facilities), so the rule, the map's bands and the
tables agree.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from planner.errors import ScenarioError
from planner.io.categories import load_taxonomy, taxonomy_for
from planner.settings import Scenario, WalkingSpeeds

__all__ = ["KINDS", "PRESETS", "SCALES", "CITY_TARGETS", "Rule", "builtin_rule", "check_rule_records", "load_rules", "rules_for", "scenario_rules"]

PRESETS = ("national", "jiangsu", "nantong-2025")
# the level a target is set for: the whole city (or the study area), a 县（市、区）, a 街道/乡镇, a 社区 (居委会), a 小区
SCALES = ("city", "district", "street", "community", "compound")
# how a city-wide count target ("建成 100 个生活圈") is read on a study area: honest default not_evaluable; "prorate"
# scales it by the study area's share of the city's residents; "whole" says the study area is the whole city
CITY_TARGETS = ("not_evaluable", "prorate", "whole")
# demand groups a rule may count (columns of the compounds)
GROUPS = ("population", "age_60_plus", "age_0_3")


@dataclass(frozen=True)
class KindSpec:
    """What a kind of rule needs: its required and optional fields, and the scales it may state."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    city: bool = False  # evaluated once for the study area (else per 街道)
    scales: tuple[str, ...] = ()  # the scales a rule of this kind may state (empty: any; a city kind: city)

    def allows(self, scale: str) -> bool:
        return scale in (self.scales or (("city",) if self.city else SCALES))


# the kinds of rules and the fields each reads (``radius`` = radius_m or minutes); see rules.toml's header
# A 街道 kind states the scales it evaluates: per 街道, the facilities in it (count, capacity); per compound, the people
# within a walk (coverage, formats) or the rooms of each compound; per community, the communities within a walk; and
# "city" adds the whole study area's row. A target set for a 县区 or a 社区 that the kind cannot evaluate at that level
# is refused rather than evaluated per 街道 under another name.
KINDS: dict[str, KindSpec] = {
    "zone_count": KindSpec(("categories",), ("public_benefit",), scales=("street", "city")),
    "zone_per_1000": KindSpec(("categories", "capacity"), scales=("street", "city")),
    "zone_capacity_share": KindSpec(("categories", "capacity"), scales=("street", "city")),
    "zone_bed_share": KindSpec(("categories",), scales=("street", "city")),
    "zone_coverage": KindSpec(("categories", "group", "radius"), scales=("compound", "street", "city")),
    "zone_community": KindSpec(("categories", "radius"), ("strict",), scales=("community", "city")),
    "zone_room_area": KindSpec(("room", "built"), scales=("compound",)),
    "zone_formats": KindSpec(("radius",), scales=("compound", "street", "city")),
    "city_zone_share": KindSpec(("of_rule",), city=True),
    "city_per_1000_group": KindSpec(("categories", "capacity", "group"), city=True),
    "city_circles": KindSpec((), city=True),
    "city_count": KindSpec(("categories",), ("public_benefit",), city=True),
    # from the run's 1+N 托育 model (planner.analysis.one_plus_n): the fewest hubs of any 县区, the share of points guided
    "city_one_plus_n_hubs": KindSpec(("categories",), city=True, scales=("district",)),
    "city_one_plus_n_coverage": KindSpec(("categories",), city=True, scales=("city", "district")),
}
# the kinds whose target is a number of things built: a city's count cannot be asked of part of a city
COUNT_KINDS = ("city_circles", "city_count")
_CAPACITIES = ("places", "beds")
_ROOMS = ("elderly_room_m2", "childcare_room_m2")
_BUILT = ("new", "existing")
_TEXT_FIELDS = ("id", "kind", "unit", "zh", "en", "source", "conf", "scale")
_FIELDS = {*_TEXT_FIELDS, "value", "presets", "categories", "capacity", "group", "radius_m", "minutes",
           "public_benefit", "strict", "room", "built", "of_rule"}
_ID = re.compile(r"^[a-z][a-z0-9_.-]*$")


@dataclass(frozen=True)
class Rule:
    """One requirement: what is measured, the target, its unit and scale, and where it comes from."""

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
    scale: str = "street"
    minutes: float | None = None  # the radius given as minutes of walking (radius_m = minutes × the group's speed)
    origin: str = "planner"  # "planner" (rules.toml) or "scenario" (the scenario's own [[rules]])
    extra: Mapping[str, object] = field(default_factory=dict)

    @property
    def city_level(self) -> bool:
        """Evaluated once for the whole study area (``city_*`` kinds)."""
        return self.kind.startswith("city_")

    @property
    def city_row(self) -> bool:
        """Has a row for the whole study area: a city-level kind, or a 街道 rule whose target is set for the city
        (then the 街道 rows show where it falls short and the city row is the verdict)."""
        return self.city_level or self.scale == "city"

    @property
    def count_target(self) -> bool:
        """A city-wide number of things to build (e.g. 100 生活圈): depends on how much of the city is studied."""
        return self.kind in COUNT_KINDS and self.scale == "city"

    def label(self, lang: str = "zh") -> str:
        return self.zh if lang == "zh" else self.en


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    text = resources.files("planner").joinpath("data/rules.toml").read_text(encoding="utf-8")
    return tuple(tomllib.loads(text)["rule"])


def load_rules() -> tuple[dict, ...]:
    """The raw rule records shipped with planner."""
    return _records()


def builtin_rule(rule_id: str) -> Rule:
    """A rule of rules.toml whatever the preset (its first value when the presets disagree), e.g. the 街道 rule a
    city-wide share counts when the preset does not evaluate it per 街道."""
    rec = next(r for r in _records() if r["id"] == rule_id)
    rec = {**rec, **{k: next(iter(rec[k].values())) for k in ("conf", "source") if isinstance(rec.get(k), dict)}}
    value = rec["value"]
    return _rule(rec, float(next(iter(value.values())) if isinstance(value, dict) else value), "planner", None)


def rules_for(
    preset: str,
    overrides: Mapping[str, float] | None = None,
    extra: Sequence[Mapping[str, object]] = (),
    *,
    speed: Callable[[tuple[str, ...]], float] | None = None,
) -> tuple[Rule, ...]:
    """The rules of ``preset`` with the scenario's ``overrides`` (rule id → new target value) applied, then the
    scenario's own rule records ``extra`` (checked by :func:`check_rule_records`).

    ``speed(categories)`` is the walking speed (m/min) of the people a rule's categories serve; a rule given in
    ``minutes`` is that many minutes at it (by default the default speed of the first category's group: 800 m in 15
    minutes for elderly care)."""
    speed = speed or _default_speed
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
        # a rule's source and confidence may differ by preset (the same 4.5 places: national V2, Nantong L, Jiangsu M)
        rec = {**rec, **{k: rec[k][preset] for k in ("conf", "source") if isinstance(rec.get(k), dict)}}
        out.append(_rule(rec, float(value), "planner", speed))
    for rec in extra:
        known.add(str(rec["id"]))
        value = overrides.get(str(rec["id"]), rec["value"])
        out.append(_rule(rec, float(value), "scenario", speed))  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ScenarioError(f"[standards.overrides] 中有未知规则 {unknown} / unknown rule ids in overrides: {unknown}")
    return tuple(out)


def _default_speed(categories: tuple[str, ...]) -> float:
    """The default walking speed of the group the first of ``categories`` serves (shipped taxonomy)."""
    taxonomy = load_taxonomy()
    group = taxonomy[categories[0]].group if categories and categories[0] in taxonomy else None
    return WalkingSpeeds().for_group(group)


def _rule(rec: Mapping[str, object], value: float, origin: str, speed: Callable[[tuple[str, ...]], float] | None) -> Rule:
    categories = tuple(str(c) for c in rec.get("categories", ()))  # type: ignore[union-attr]
    minutes = float(rec["minutes"]) if "minutes" in rec else None  # type: ignore[arg-type]
    if minutes is not None:
        radius = minutes * (speed or _default_speed)(categories)
    else:
        radius = float(rec["radius_m"]) if "radius_m" in rec else None  # type: ignore[arg-type]
    return Rule(
        id=str(rec["id"]),
        kind=str(rec["kind"]),
        value=value,
        unit=str(rec.get("unit", "")),
        zh=str(rec["zh"]),
        en=str(rec.get("en", rec["zh"])),
        source=str(rec.get("source", "")),
        conf=str(rec.get("conf", "U")),
        presets=tuple(str(p) for p in rec.get("presets", ())),  # type: ignore[union-attr]
        categories=categories,
        capacity=rec.get("capacity"),  # type: ignore[arg-type]
        group=rec.get("group"),  # type: ignore[arg-type]
        radius_m=None if radius is None else round(radius, 6),
        public_benefit=bool(rec.get("public_benefit", False)),
        strict=bool(rec.get("strict", False)),
        room=rec.get("room"),  # type: ignore[arg-type]
        built=rec.get("built"),  # type: ignore[arg-type]
        of_rule=rec.get("of_rule"),  # type: ignore[arg-type]
        scale=str(rec.get("scale", "street")),
        minutes=minutes,
        origin=origin,
    )


def scenario_rules(scenario: Scenario) -> tuple[Rule, ...]:
    """The rules a run evaluates: its preset's, with its overrides, then its own ``[[rules]]``; a rule in minutes is
    walked at the speed of the group its first category serves (:meth:`Scenario.speed_for`)."""
    taxonomy = taxonomy_for(scenario)

    def speed(categories: tuple[str, ...]) -> float:
        group = taxonomy[categories[0]].group if categories and categories[0] in taxonomy else ""
        return scenario.speed_for(group)

    return rules_for(scenario.standards.preset, scenario.standards.overrides, scenario.own_rules, speed=speed)


def check_rule_records(records: object, categories: Sequence[str], problems: list[str], *, where: str = "[[rules]]") -> list[dict]:
    """The scenario's own rules, each checked like a rules.toml record: a known kind with its fields, a target, a
    unit, a scale, Chinese and English names and a source; ids unique and not those of planner's rules. Every
    mistake is appended to ``problems``; the good records are returned (with ``conf`` "U", user-set, by default)."""
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        problems.append(f"{where} 必须是表的数组（[[rules]]） / {where} must be an array of tables")
        return []
    builtin = {str(r["id"]) for r in _records()}
    seen: set[str] = set()
    good: list[dict] = []
    for i, rec in enumerate(records, start=1):
        before = len(problems)
        rid = rec.get("id")
        at = f"{where} #{i}" + (f" ({rid})" if isinstance(rid, str) else "")
        for key in sorted(set(rec) - _FIELDS):
            problems.append(f"{at}：未知字段 '{key}' / unknown field '{key}'")
        for key in ("id", "kind", "unit", "zh", "en", "source", "scale"):
            if not isinstance(rec.get(key), str) or not rec[key].strip():
                problems.append(f"{at}：缺少 {key}（文字） / {key} is required (text)")
        if isinstance(rid, str):
            if not _ID.match(rid):
                problems.append(f"{at}：id 只能用小写字母、数字和 . _ - / id may use lower-case letters, digits, '.', '_', '-'")
            elif rid in builtin:
                problems.append(f"{at}：id 与 planner 自带规则重名；改目标值请用 [standards.overrides] / id is a built-in rule's; "
                                "change its target with [standards.overrides]")
            elif rid in seen:
                problems.append(f"{at}：id 重复 / duplicate id")
            seen.add(rid)
        kind = rec.get("kind")
        spec = KINDS.get(kind) if isinstance(kind, str) else None
        if isinstance(kind, str) and spec is None:
            problems.append(f"{at}：未知 kind '{kind}'，可选 {', '.join(KINDS)} / unknown kind")
        scale = rec.get("scale")
        if isinstance(scale, str) and scale not in SCALES:
            problems.append(f"{at}：scale 只能是 {', '.join(SCALES)} / scale must be one of {', '.join(SCALES)}")
        elif spec is not None and isinstance(scale, str) and not spec.allows(scale):
            allowed = spec.scales or ("city",)
            problems.append(f"{at}：{kind} 只能评价 scale = {' / '.join(allowed)}（其他层级的目标请换用能在该层级评价的 kind，如每个社区用 "
                            f"zone_community） / a {kind} rule evaluates scale {' or '.join(allowed)} only (a target of another level needs a kind "
                            "that evaluates it there, e.g. zone_community per community)")
        value = rec.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            problems.append(f"{at}：value（目标值）必须是非负的有限数 / value (the target) must be a finite number ≥ 0")
        if spec is not None:
            _check_kind_fields(rec, spec, categories, at, problems)
        if "presets" in rec:
            problems.append(f"{at}：presets 只用于 rules.toml；情景中的规则对本情景总是生效 / presets belongs to rules.toml: a "
                            "scenario's own rule always applies to it")
        if "conf" in rec and not isinstance(rec["conf"], str):
            problems.append(f"{at}：conf 必须是文字 / conf must be text")
        if len(problems) == before:
            good.append({**rec, "conf": rec.get("conf", "U")})
    kinds = {str(r["id"]): str(r["kind"]) for r in _records()} | {str(r["id"]): str(r["kind"]) for r in good}
    for rec in good:
        of = rec.get("of_rule")
        if of is not None and not kinds.get(of, "").startswith("zone_"):
            problems.append(f"{where} ({rec['id']})：of_rule '{of}' 必须是一条按街道评价的规则（zone_* kind） / of_rule must be a 街道 "
                            "rule (a zone_* kind)")
    return good


def _check_kind_fields(rec: Mapping[str, object], spec: KindSpec, categories: Sequence[str], at: str, problems: list[str]) -> None:
    """The fields the kind needs are there and valid; fields it does not read are refused."""
    wanted = set(spec.required) | set(spec.optional)
    reads = {"radius_m", "minutes"} if "radius" in wanted else set()
    reads |= wanted - {"radius"}
    for key in sorted({"categories", "capacity", "group", "radius_m", "minutes", "public_benefit", "strict", "room", "built",
                       "of_rule"} & set(rec) - reads):
        problems.append(f"{at}：{rec.get('kind')} 不读 {key} / a {rec.get('kind')} rule does not use {key}")
    if "categories" in spec.required:
        cats = rec.get("categories")
        if not isinstance(cats, list) or not cats or not all(isinstance(c, str) for c in cats):
            problems.append(f"{at}：categories 必须是设施类别键的非空列表 / categories must be a non-empty list of category keys")
        else:
            for c in cats:
                if c not in categories:
                    problems.append(f"{at}：未知设施类别 '{c}' / unknown category '{c}'")
    if "capacity" in spec.required and rec.get("capacity") not in _CAPACITIES:
        problems.append(f"{at}：capacity 只能是 {' / '.join(_CAPACITIES)} / capacity must be one of {', '.join(_CAPACITIES)}")
    if "group" in spec.required and rec.get("group") not in GROUPS:
        problems.append(f"{at}：group 只能是 {' / '.join(GROUPS)} / group must be one of {', '.join(GROUPS)}")
    if "radius" in spec.required:
        given = [k for k in ("radius_m", "minutes") if k in rec]
        if len(given) != 1:
            problems.append(f"{at}：radius_m（米）与 minutes（分钟）须给且只给一个 / give exactly one of radius_m (metres) or minutes")
        else:
            v = rec[given[0]]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 10_000:
                problems.append(f"{at}：{given[0]} 必须是 0–10000 之间的数 / {given[0]} must be a number in (0, 10000]")
    if "room" in spec.required and rec.get("room") not in _ROOMS:
        problems.append(f"{at}：room 只能是 {' / '.join(_ROOMS)} / room must be one of {', '.join(_ROOMS)}")
    if "built" in spec.required and rec.get("built") not in _BUILT:
        problems.append(f"{at}：built 只能是 new / existing / built must be new or existing")
    for flag in ("public_benefit", "strict"):
        if flag in rec and not isinstance(rec[flag], bool):
            problems.append(f"{at}：{flag} 必须是 true/false / {flag} must be true or false")
    if "of_rule" in spec.required and not isinstance(rec.get("of_rule"), str):
        problems.append(f"{at}：of_rule 必须是一条街道规则的 id / of_rule must be the id of a 街道 rule")
