"""Scenario files: parse and validate a TOML scenario into frozen settings passed down the pipeline.

The format is documented in ``docs/scenario.md``. Every field has a default except the layers;
paths are relative to the scenario file.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from planner.analysis.standards import CITY_TARGETS, check_rule_records
from planner.errors import ScenarioError
from planner.io.categories import Taxonomy, check_category_records, load_taxonomy
from planner.settings import (
    LayerKind,
    LayerSpec,
    NetworkSpec,
    OnePlusNSpec,
    PartitionSpec,
    PopulationSpec,
    Scenario,
    SitingSpec,
    StandardsSpec,
    WalkingSpeeds,
    check_basemap,
)

__all__ = ["Scenario", "load_scenario"]

_TOP_KEYS = {
    "name", "description", "sample_data", "language", "crs", "walking_speed_m_per_min", "walking_speed",
    "thresholds_min", "max_snap_m", "study_area_buffer_m", "search_limit_m", "categories", "basemap", "tianditu_key", "network", "layers", "population", "standards", "siting", "partition",
    "rules", "analyse", "one_plus_n",
}
_LAYER_KEYS = {"source", "path", "layer", "where", "crs", "columns", "categories", "encoding", "rules"}
_NETWORK_KEYS = {"path", "kind", "layer", "crs", "columns", "exclude_highway", "walk_filter", "min_piece_m"}
# [network.columns]: planner's name = the file's column (the walk rule's tags, and a walkable yes/no column)
_NETWORK_COLUMNS = ("highway", "name", "walkable", "foot", "access", "service", "area", "sidewalk", "sidewalk:both",
                    "sidewalk:left", "sidewalk:right")
_WALK_FILTERS = ("planner", "osmnx")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Parameters
    ----------
    path
        The ``.toml`` scenario file. Relative paths inside it are resolved against its folder.

    Returns
    -------
    Scenario
        Frozen settings. All problems found are reported together in one ScenarioError.
    """
    path = Path(path)
    raw = _read_toml(path)
    problems: list[str] = []
    base = path.parent
    _check_top_keys(raw, problems)
    network = _parse_network(raw.get("network"), base, problems)
    own_categories, selection = _split_categories(raw, problems)
    taxonomy = load_taxonomy().with_categories(own_categories)
    facilities, residential, zones = _parse_layers(raw.get("layers", {}), base, taxonomy, problems)
    numbers = _parse_numbers(raw, problems)
    categories = _parse_categories(selection, taxonomy, problems)
    language = _parse_language(raw, problems)
    basemap, tianditu_key = _parse_basemap(raw, problems)
    population = _parse_population(raw.get("population", {}), problems)
    standards = _parse_standards(raw.get("standards", {}), problems)
    own_rules = check_rule_records(raw.get("rules", []), taxonomy.keys, problems)
    siting = _parse_siting(raw.get("siting", []), base, taxonomy, problems)
    partition = _parse_partition(raw.get("partition"), base, zones, problems)
    one_plus_n = _parse_one_plus_n(raw.get("one_plus_n"), zones, problems)
    name = _parse_name(raw, path, problems)
    sample_data = _flag(raw, "sample_data", False, "", problems)
    crs = _parse_crs(raw, problems)

    if problems or network is None or facilities is None or residential is None:
        raise ScenarioError(
            f"情景文件 {path} 有 {len(problems)} 处问题 / scenario {path} has {len(problems)} problem(s):\n  - "
            + "\n  - ".join(problems)
        )
    return Scenario(
        path=path.resolve(),
        name=name,
        description=str(raw.get("description", "")),
        sample_data=sample_data,
        language=language,
        crs=crs,
        **numbers,
        categories=categories,
        basemap=basemap,
        tianditu_key=tianditu_key,
        network=network,
        facilities=facilities,
        residential=residential,
        zones=zones,
        population=population,
        standards=standards,
        siting=siting,
        partition=partition,
        own_categories=tuple(own_categories),
        own_rules=tuple(own_rules),
        one_plus_n=one_plus_n,
    )


_ONE_PLUS_N_KEYS = {"n", "max_distance_m", "same_district"}


def _parse_one_plus_n(raw: object, zones: LayerSpec | None, problems: list[str]) -> OnePlusNSpec:
    """``[one_plus_n]``: N per hub (unset: unlimited), the longest walk a hub guides a point over (unset: the search
    limit) and whether hubs guide only their own 县区 (unset: when the zones layer maps ``district``)."""
    if raw is None:
        return OnePlusNSpec()
    if not isinstance(raw, dict):
        problems.append("[one_plus_n] 必须是表 / [one_plus_n] must be a table")
        return OnePlusNSpec()
    for key in sorted(set(raw) - _ONE_PLUS_N_KEYS):
        problems.append(f"[one_plus_n] 未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(sorted(_ONE_PLUS_N_KEYS))})")
    n = raw.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000):
        problems.append(f"[one_plus_n].n（每个枢纽指导的托育点数）必须是 1–10000 的整数，不限则不写 / n (points per hub) must be a whole "
                        f"number 1–10000, or left out for no limit; got {n!r}")
        n = None
    dist = raw.get("max_distance_m")
    if dist is not None and (isinstance(dist, bool) or not isinstance(dist, int | float) or not 10 <= dist <= 100_000):
        problems.append(f"[one_plus_n].max_distance_m 必须是 10–100000 米之间的数，不限则不写 / max_distance_m must be metres in "
                        f"[10, 100000], or left out; got {dist!r}")
        dist = None
    same = raw.get("same_district")
    if same is not None and not isinstance(same, bool):
        problems.append(f"[one_plus_n].same_district 必须是 true 或 false（不带引号）/ same_district must be true or false (no quotes), "
                        f"got {same!r}")
        same = None
    if same and (zones is None or "district" not in zones.columns):
        problems.append("[one_plus_n] same_district = true 需要街道图层的县区列：在 [layers.zones.columns] 写 district = \"区县\" 等 / "
                        "same_district = true needs the 县区 of each 街道: map it in [layers.zones.columns], e.g. district = \"区县\"")
        same = None
    return OnePlusNSpec(n=n, max_distance_m=float(dist) if dist is not None else None, same_district=same)


_PARTITION_KEYS = {"zones_column", "layer", "id", "name", "crs", "worker_memory"}
# zones-layer columns a partition may group the 街道 by (mapped in [layers.zones.columns])
PARTITION_ZONE_COLUMNS = ("district",)


def _parse_partition(raw: object, base: Path, zones: LayerSpec | None, problems: list[str]) -> PartitionSpec | None:
    """``[partition]``: the 街道 grouped by a zones column, or a polygon layer; None when the scenario has none."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append("[partition] 必须是表 / [partition] must be a table")
        return None
    for key in sorted(set(raw) - _PARTITION_KEYS):
        problems.append(f"[partition] 未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(sorted(_PARTITION_KEYS))})")
    texts = {k: raw[k] for k in ("zones_column", "id", "name", "crs", "worker_memory") if k in raw}
    for key, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            problems.append(f"[partition].{key} 必须是非空文字 / must be a non-empty string, got {value!r}")
            return None
    column, layer = texts.get("zones_column"), raw.get("layer")
    if (column is None) == (layer is None):
        problems.append("[partition] 需要且只能有 zones_column（按街道图层的一列分组）或 layer（分区面图层）之一 / needs exactly one of "
                        "zones_column (the 街道 grouped by a column) or layer (a polygon layer)")
        return None
    if column is not None:
        if column not in PARTITION_ZONE_COLUMNS:
            problems.append(f"[partition].zones_column 只能是 {'、'.join(PARTITION_ZONE_COLUMNS)}（在 [layers.zones.columns] 中映射，如 "
                            f"district = \"区县\"）/ must be one of {', '.join(PARTITION_ZONE_COLUMNS)} (mapped in "
                            f"[layers.zones.columns], e.g. district = \"区县\"), got {column!r}")
            return None
        if zones is None:
            problems.append("[partition].zones_column 需要街道图层 [layers.zones] / needs a zones layer [layers.zones]")
            return None
        path = None
    else:
        path = _resolve(base, layer, "[partition]", problems)
        if path is None:
            return None
    memory = texts.get("worker_memory", PartitionSpec.worker_memory)
    if not _memory_text(memory):
        problems.append(f"[partition].worker_memory 应写成 \"2GiB\"、\"1500MB\" 这样的内存大小 / must be a size such as \"2GiB\" or "
                        f"\"1500MB\", got {memory!r}")
        return None
    return PartitionSpec(zones_column=column, layer=path, id=texts.get("id"), name=texts.get("name"), crs=texts.get("crs"),
                         worker_memory=memory)


def _memory_text(text: str) -> bool:
    """True for a memory size as Dask writes it: a number and a unit (B, kB, MB, GB, KiB, MiB, GiB, TiB)."""
    import re

    return re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|[kKMGT]i?B)\s*", text) is not None


def _read_toml(path: Path) -> dict[str, Any]:
    """The scenario file's TOML as a dict; a missing or unreadable file is a ScenarioError."""
    if not path.is_file():
        raise ScenarioError(f"找不到情景文件 {path} / scenario file not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (older Windows Notepad) is not part of the TOML
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScenarioError(
            f"情景文件 {path} 不是有效的 UTF-8 TOML：{exc} / scenario {path} is not valid UTF-8 TOML: {exc}"
        ) from exc


def _check_top_keys(raw: Mapping[str, Any], problems: list[str]) -> None:
    """Report top-level fields the format does not know."""
    for key in sorted(set(raw) - _TOP_KEYS):
        problems.append(f"未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(sorted(_TOP_KEYS))})")


def _parse_layers(
    layers: object, base: Path, taxonomy: Taxonomy, problems: list[str]
) -> tuple[LayerSpec | None, LayerSpec | None, LayerSpec | None]:
    """The ``[layers]`` table: facilities, residential (both required) and zones."""
    if not isinstance(layers, dict):
        problems.append("[layers] 必须是表 / [layers] must be a table")
        layers = {}
    facilities = _parse_layer("facilities", layers.get("facilities"), base, taxonomy, problems, required=True)
    residential = _parse_layer("residential", layers.get("residential"), base, taxonomy, problems, required=True)
    zones = _parse_layer("zones", layers.get("zones"), base, taxonomy, problems, required=False)
    for key in sorted(set(layers) - {"facilities", "residential", "zones"}):
        problems.append(f"未知图层 [layers.{key}] / unknown layer [layers.{key}] (use facilities, residential, zones)")
    return facilities, residential, zones


def _parse_numbers(raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    """Walking speed, snapping and search distances and the thresholds, as Scenario keyword arguments."""
    numbers: dict[str, Any] = {
        "speeds": _parse_speeds(raw, problems),
        "max_snap_m": _number(raw, "max_snap_m", 300.0, problems, low=1, high=5000),
        "study_area_buffer_m": _number(raw, "study_area_buffer_m", 2000.0, problems, low=0, high=100_000),
        "search_limit_m": _number(raw, "search_limit_m", 5000.0, problems, low=100, high=100_000),
    }
    thresholds = raw.get("thresholds_min", [5, 10, 15])
    if (
        not isinstance(thresholds, list)
        or not thresholds
        or not all(isinstance(t, int | float) and not isinstance(t, bool) and 0 < t <= 120 for t in thresholds)
    ):
        problems.append("thresholds_min 必须是 0–120 之间的分钟数列表，如 [5, 10, 15] / must be a list of minutes in (0, 120]")
        thresholds = [5, 10, 15]
    numbers["thresholds_min"] = tuple(sorted(float(t) for t in thresholds))
    longest_m = max(numbers["thresholds_min"]) * numbers["speeds"].fastest  # the farthest walk any group is measured to
    if numbers["search_limit_m"] < longest_m:
        problems.append(
            f"search_limit_m = {numbers['search_limit_m']:g} 米短于最长阈值的步行距离 {longest_m:g} 米，覆盖会被截断 / search_limit_m is "
            f"shorter than the walk of the longest threshold ({longest_m:g} m): coverage would be cut; use at least {longest_m:g}"
        )
    return numbers


_SPEED_KEYS = ("adults", "elderly", "carers")


def _parse_speeds(raw: Mapping[str, Any], problems: list[str]) -> WalkingSpeeds:
    """``[walking_speed]`` (adults, elderly, carers in m/min, each 20–200), or the older top-level
    ``walking_speed_m_per_min`` (the adults' speed); both at once are refused."""
    defaults = WalkingSpeeds()
    table = raw.get("walking_speed")
    if table is None:
        adults = _number(raw, "walking_speed_m_per_min", defaults.adults, problems, low=20, high=200)
        return WalkingSpeeds(adults=adults, elderly=defaults.elderly, carers=adults)
    if "walking_speed_m_per_min" in raw:
        problems.append(
            "walking_speed_m_per_min 与 [walking_speed] 只能写一个：请把步速写进 [walking_speed] 的 adults = … / give either "
            "walking_speed_m_per_min or [walking_speed], not both: move the speed to [walking_speed] adults = …"
        )
    if not isinstance(table, dict):
        problems.append("[walking_speed] 必须是表，如 [walking_speed] adults = 67 / [walking_speed] must be a table, e.g. adults = 67")
        return defaults
    for key in sorted(set(table) - set(_SPEED_KEYS)):
        problems.append(f"[walking_speed] 未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(_SPEED_KEYS)})")
    adults = _number(table, "adults", defaults.adults, problems, low=20, high=200, where="[walking_speed] ")
    elderly = _number(table, "elderly", defaults.elderly, problems, low=20, high=200, where="[walking_speed] ")
    carers = _number(table, "carers", adults, problems, low=20, high=200, where="[walking_speed] ")  # unsourced: as adults
    return WalkingSpeeds(adults=adults, elderly=elderly, carers=carers)


def _flag(raw: Mapping[str, Any], key: str, default: bool, where: str, problems: list[str]) -> bool:
    """A true/false setting; text such as "false" is refused (it would read as true)."""
    value = raw.get(key, default)
    if not isinstance(value, bool):
        problems.append(f"{where}{key} 必须是 true 或 false（不带引号）/ {key} must be true or false (no quotes), got {value!r}")
        return default
    return value


def _parse_crs(raw: Mapping[str, Any], problems: list[str]) -> str:
    """``"auto"`` or a projected CRS in metres pyproj knows (Web Mercator refused: it stretches distances)."""
    value = raw.get("crs", "auto")
    if value == "auto":
        return "auto"
    from pyproj import CRS

    try:
        crs = CRS.from_user_input(str(value))
    except Exception:  # pyproj's CRSError
        problems.append(f"crs = {value!r} 无法识别 / is not a coordinate system pyproj knows; use \"auto\" or e.g. \"EPSG:4549\"")
        return "auto"
    if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
        problems.append(f"crs = {value!r} 不是以米为单位的投影坐标系 / is not a projected CRS in metres; use \"auto\" or e.g. \"EPSG:4549\"")
        return "auto"
    if "mercator" in crs.name.lower() and crs.to_epsg() in (3857, 900913, 3785, 102100):
        problems.append(f"crs = {value!r}（Web 墨卡托）会把距离拉长约 1/cos(纬度)（北纬 32° 约 18%）；请用 \"auto\" / Web Mercator "
                        "stretches distances by 1/cos(latitude) (18 % at 32° N); use \"auto\"")
        return "auto"
    return str(value)


def _split_categories(raw: Mapping[str, Any], problems: list[str]) -> tuple[list[dict], object]:
    """The scenario's own categories (the tables of ``[[categories]]``, checked) and the selection of categories to
    analyse: ``analyse = [...]``, or the older ``categories = ["key", ...]`` list (strings and tables may share it)."""
    given = raw.get("categories")
    tables = [c for c in given if isinstance(c, dict)] if isinstance(given, list) else []
    keys = [c for c in given if not isinstance(c, dict)] if isinstance(given, list) else given
    own = check_category_records(tables, problems) if tables else []
    selection = raw.get("analyse")
    if selection is not None and keys:
        problems.append("analyse 与 categories = [\"键\", ...] 不能同时给出 / give the selection once: analyse or categories = [\"key\", ...]")
    return own, selection if selection is not None else (keys if keys != [] or not tables else None)


def _parse_categories(categories: object, taxonomy: Taxonomy, problems: list[str]) -> tuple[str, ...] | None:
    """The selection of categories to analyse (None: all of the taxonomy); every key must be a known category."""
    if categories is not None:
        if not isinstance(categories, list) or not categories:
            problems.append("categories 必须是类别键列表 / categories must be a list of category keys")
            categories = None
        else:
            unknown = [c for c in categories if c not in taxonomy]
            if unknown:
                problems.append(
                    f"未知类别 {unknown} / unknown categories {unknown}; known: {', '.join(taxonomy.keys)}"
                )
    return tuple(categories) if categories else None


def _parse_language(raw: Mapping[str, Any], problems: list[str]) -> str:
    """``language``: "zh" or "en"."""
    language = raw.get("language", "zh")
    if language not in ("zh", "en"):
        problems.append("language 只能是 'zh' 或 'en' / language must be 'zh' or 'en'")
        language = "zh"
    return language


def _parse_basemap(raw: Mapping[str, Any], problems: list[str]) -> tuple[str, str | None]:
    """``basemap`` and the ``tianditu_key`` it may need (stripped; None when not given)."""
    basemap = raw.get("basemap", "offline")
    tianditu_key = raw.get("tianditu_key")
    if tianditu_key is not None and not isinstance(tianditu_key, str):
        problems.append("tianditu_key 必须是字符串 / tianditu_key must be a string")
        tianditu_key = None
    try:  # offline | osm | tianditu (needs tianditu_key) | amap
        check_basemap(basemap, tianditu_key)
    except ScenarioError as exc:
        problems.append(str(exc))
        basemap = "offline"
    return basemap, tianditu_key.strip() if tianditu_key else None


def _parse_name(raw: Mapping[str, Any], path: Path, problems: list[str]) -> str:
    """The scenario's title, stripped (the file's stem when missing, which is also reported)."""
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("缺少 name（情景名称）/ missing name (the scenario's title)")
        name = path.stem
    return name.strip()


_SITING_KEYS = {
    "name", "category", "model", "k", "demand", "radius_m", "every_zone", "coverage_target_pct", "capacity_per_site",
    "need_per_1000", "candidates", "candidates_crs", "candidate_spacing_m", "time_limit_s", "curve_k", "partner", "partner_demand",
    "partner_radius_m",
}
# optional numeric fields of a siting task: key, default (unused: SitingSpec has them), low, high
# numeric siting options: (key, lowest, highest); their defaults are SitingSpec's
_SITING_NUMBERS = (
    ("radius_m", 10, 20000), ("coverage_target_pct", 0, 100), ("capacity_per_site", 0, 1e6), ("need_per_1000", 0, 1000),
    ("candidate_spacing_m", 1, 10000), ("time_limit_s", 1, 36000), ("partner_radius_m", 10, 20000),
)


def _parse_siting(raw: object, base: Path, taxonomy: Taxonomy, problems: list[str]) -> tuple[SitingSpec, ...]:
    """The ``[[siting]]`` tasks; a task with a problem that makes it unusable is left out (and reported)."""
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        problems.append("[[siting]] 必须是表的数组 / [[siting]] must be an array of tables")
        return ()
    out = []
    for n, task in enumerate(raw, start=1):
        spec = _parse_siting_task(task, f"[[siting]] #{n}", base, taxonomy, problems)
        if spec is not None:
            out.append(spec)
    return tuple(out)


def _parse_siting_task(task: object, where: str, base: Path, taxonomy: Taxonomy, problems: list[str]) -> SitingSpec | None:
    """One ``[[siting]]`` table as a SitingSpec, or None when it cannot be used."""
    if not isinstance(task, dict):
        problems.append(f"{where} 必须是表 / must be a table")
        return None
    for key in sorted(set(task) - _SITING_KEYS):
        problems.append(f"{where} 未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(sorted(_SITING_KEYS))})")
    choices = _siting_choices(task, where, taxonomy, problems)
    if choices is None:
        return None
    cand = task.get("candidates")
    cand_path = None
    if cand is not None:
        cand_path = _resolve(base, cand, where + ".candidates", problems)
        if cand_path is None:
            return None
    nums = _siting_numbers(task, where, problems)
    curve_k = task.get("curve_k", 0)
    if isinstance(curve_k, bool) or not isinstance(curve_k, int) or not 0 <= curve_k <= 100:
        problems.append(f"{where}.curve_k 必须是 0–100 的整数 / curve_k must be a whole number 0–100")
        curve_k = 0
    return SitingSpec(
        name=str(task.get("name", f"新增{taxonomy[choices['category']].zh}")),
        every_zone=_flag(task, "every_zone", True, f"{where}.", problems),
        candidates=cand_path,
        candidates_crs=str(task["candidates_crs"]) if task.get("candidates_crs") is not None else None,
        curve_k=curve_k,
        **choices,
        **nums,
    )


def _siting_choices(task: dict, where: str, taxonomy: Taxonomy, problems: list[str]) -> dict[str, Any] | None:
    """A task's category, model, partner, demand groups and k as SitingSpec keyword arguments; None at the first bad one."""
    cat = task.get("category")
    if cat not in taxonomy:
        problems.append(f"{where}.category 未知类别 {cat!r} / unknown category; known: {', '.join(taxonomy.keys)}")
        return None
    model = task.get("model", "mclp")
    if model not in ("mclp", "lscp", "capacitated", "pmedian", "combined", "hubs"):
        problems.append(f"{where}.model 只能是 mclp、lscp、capacitated、pmedian、combined、hubs / "
                        "model must be mclp, lscp, capacitated, pmedian, combined or hubs")
        return None
    if model == "hubs" and cat != "childcare":
        problems.append(f"{where}: model = \"hubs\"（1+N 托育枢纽）只用于 category = \"childcare\" / model = \"hubs\" (1+N childcare "
                        f"hubs) is only for category = \"childcare\", got {cat!r}")
        return None
    partner = task.get("partner")
    if model == "combined" and partner is None:
        partner = "childcare" if cat != "childcare" else "elderly_centre"
    if partner is not None and (partner not in taxonomy or partner == cat):
        problems.append(f"{where}.partner 须是另一个已知类别 / partner must be another known category, got {partner!r}")
        return None
    if partner is not None and model != "combined":
        problems.append(f"{where}.partner 仅用于 model = \"combined\" / partner is only for model = \"combined\"")
        return None
    partner_demand = task.get("partner_demand", "age_0_3")
    if partner_demand not in ("population", "age_60_plus", "age_0_3"):
        problems.append(f"{where}.partner_demand 只能是 population、age_60_plus、age_0_3 / unknown demand group")
        return None
    demand = task.get("demand", "population")
    if demand not in ("population", "age_60_plus", "age_0_3"):
        problems.append(f"{where}.demand 只能是 population、age_60_plus、age_0_3 / unknown demand group")
        return None
    k = task.get("k", 3)
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= 500:
        problems.append(f"{where}.k 必须是 0–500 的整数 / k must be a whole number 0–500")
        return None
    return {"category": cat, "model": model, "k": k, "demand": demand, "partner": partner, "partner_demand": partner_demand}


def _siting_numbers(task: dict, where: str, problems: list[str]) -> dict[str, float]:
    """The numeric fields a task gives (radius, targets, capacities, spacing, time limit); a bad one is reported and left out."""
    nums = {}
    for key, low, high in _SITING_NUMBERS:
        if key in task:
            val = task[key]
            if isinstance(val, bool) or not isinstance(val, int | float) or not low <= val <= high:
                problems.append(f"{where}.{key} 必须是 {low}–{high} 之间的数 / must be a number in [{low}, {high}]")
                continue
            nums[key] = float(val)
    return nums


def _parse_standards(raw: object, problems: list[str]) -> StandardsSpec:
    from planner.analysis.standards import PRESETS, load_rules

    if not isinstance(raw, dict):
        problems.append("[standards] 必须是表 / [standards] must be a table")
        return StandardsSpec()
    for key in sorted(set(raw) - {"preset", "overrides", "city_targets", "city_population"}):
        problems.append(f"[standards] 未知字段 '{key}' / unknown field '{key}' (allowed: preset, overrides, city_targets, city_population)")
    city_targets = raw.get("city_targets", "not_evaluable")
    if city_targets not in CITY_TARGETS:
        problems.append(f"[standards].city_targets 只能是 {', '.join(CITY_TARGETS)} / city_targets must be one of {', '.join(CITY_TARGETS)}")
        city_targets = "not_evaluable"
    city_population = raw.get("city_population")
    if city_population is not None and (isinstance(city_population, bool) or not isinstance(city_population, int | float)
                                        or not math.isfinite(city_population) or city_population <= 0):
        problems.append(f"[standards].city_population（全市常住人口）必须是正数 / must be a positive number, got {city_population!r}")
        city_population = None
    if city_targets == "prorate" and city_population is None:
        problems.append("[standards].city_targets = \"prorate\" 需要 city_population（全市常住人口，折算的依据） / city_targets = "
                        "\"prorate\" needs city_population (the whole city's residents, the key of the pro-rating)")
    preset = raw.get("preset", "national")
    if preset not in PRESETS:
        problems.append(f"[standards].preset 只能是 {', '.join(PRESETS)} / preset must be one of {', '.join(PRESETS)}")
        preset = "national"
    overrides = raw.get("overrides", {})
    known = {r["id"] for r in load_rules()}
    clean: dict[str, float] = {}
    if not isinstance(overrides, dict):
        problems.append("[standards.overrides] 必须是表：规则编号 = 目标值 / must be a table: rule id = target")
    else:
        for rid, val in overrides.items():
            if rid not in known:
                problems.append(f"[standards.overrides] 未知规则 '{rid}' / unknown rule id '{rid}'")
            elif isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val) or val < 0:
                problems.append(f"[standards.overrides] '{rid}' 的目标值必须是非负的有限数 / the target must be a finite number ≥ 0, got {val!r}")
            else:
                clean[rid] = float(val)
    return StandardsSpec(preset=preset, overrides=clean, city_targets=city_targets,
                         city_population=None if city_population is None else float(city_population))


def _number(raw: Mapping[str, Any], key: str, default: float, problems: list[str], *, low: float, high: float,
            where: str = "") -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        problems.append(f"{where}{key} 必须是 {low}–{high} 之间的数 / {key} must be a number in [{low}, {high}], got {value!r}")
        return default
    return float(value)


def _resolve(base: Path, value: object, where: str, problems: list[str]) -> Path | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{where}.path 缺失 / {where}.path is missing")
        return None
    p = (base / value).resolve()
    if not p.exists():
        problems.append(f"{where}.path 指向的文件不存在：{p} / file not found: {p}")
        return None
    return p


def _parse_network(raw: object, base: Path, problems: list[str]) -> NetworkSpec | None:
    if not isinstance(raw, dict):
        problems.append("缺少 [network] 表（路网来源）/ missing [network] table (the walk network source)")
        return None
    problems_before = len(problems)
    for key in sorted(set(raw) - _NETWORK_KEYS):
        problems.append(f"[network] 未知字段 '{key}' / unknown field '{key}'")
    path = _resolve(base, raw.get("path"), "[network]", problems)
    kind = raw.get("kind")
    if kind is None and path is not None:
        kind = "osm" if path.name.endswith((".osm", ".osm.pbf", ".pbf", ".osm.bz2")) else "lines"
    if kind not in ("osm", "lines"):
        problems.append("[network].kind 只能是 'osm' 或 'lines' / [network].kind must be 'osm' or 'lines'")
        return None
    walk_filter = raw.get("walk_filter", "planner")
    if walk_filter not in _WALK_FILTERS:
        problems.append(
            f"[network].walk_filter 只能是 \"planner\" 或 \"osmnx\"，而不是 {walk_filter!r} / "
            f"[network].walk_filter must be \"planner\" or \"osmnx\", not {walk_filter!r}"
        )
    elif walk_filter == "osmnx" and "exclude_highway" in raw:
        problems.append(
            "[network] walk_filter = \"osmnx\" 使用 osmnx 自己的道路类型清单，不能同时设置 exclude_highway（删去其中之一）/ "
            "walk_filter = \"osmnx\" uses osmnx's own list of highway values: remove exclude_highway or walk_filter"
        )
    min_piece_m = raw.get("min_piece_m", 500.0)
    if isinstance(min_piece_m, bool) or not isinstance(min_piece_m, int | float) or not 0 <= min_piece_m < float("inf"):
        problems.append(
            f"[network].min_piece_m 须为不小于 0 的有限米数（如 500；0 表示任何路网碎片都可接入），而不是 {min_piece_m!r} / "
            f"[network].min_piece_m must be a finite number of metres ≥ 0 (e.g. 500; 0 snaps to every piece), not {min_piece_m!r}"
        )
    columns = raw.get("columns", {})
    if not isinstance(columns, dict):
        problems.append(
            f"[network].columns 必须是表，如 [network.columns] highway = \"道路等级\"，而不是 {columns!r} / [network].columns must "
            f"be a table, e.g. [network.columns] with highway = \"class\", not {columns!r}"
        )
    else:
        for key, value in columns.items():
            if key not in _NETWORK_COLUMNS:
                problems.append(
                    f"[network.columns] 未知字段 '{key}'（可用：{', '.join(_NETWORK_COLUMNS)}）/ unknown field '{key}' "
                    f"(known: {', '.join(_NETWORK_COLUMNS)})"
                )
            elif not isinstance(value, str) or not value.strip():
                problems.append(
                    f"[network.columns].{key} 须为文件中的列名（文字），而不是 {value!r} / [network.columns].{key} must be "
                    f"a column name of the file (text), not {value!r}"
                )
    exclude = raw.get("exclude_highway")
    if "exclude_highway" in raw and (not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude)):
        problems.append(
            f"[network].exclude_highway 须为道路类型的列表，如 [\"motorway\", \"trunk\"]，而不是 {exclude!r} / "
            f"[network].exclude_highway must be a list of highway values, e.g. [\"motorway\", \"trunk\"], not {exclude!r}"
        )
    if path is None or problems_before != len(problems):
        return None
    spec = NetworkSpec(
        path=path,
        kind=kind,
        layer=raw.get("layer"),
        crs=raw.get("crs"),
        columns=dict(columns),
        walk_filter=walk_filter,
        min_piece_m=float(min_piece_m),
    )
    if "exclude_highway" in raw:
        spec = NetworkSpec(**{**spec.__dict__, "exclude_highway": tuple(exclude)})
    return spec


def _parse_layer(kind: LayerKind, raw: object, base: Path, taxonomy: Taxonomy, problems: list[str], *,
                 required: bool) -> LayerSpec | None:
    where = f"[layers.{kind}]"
    if raw is None:
        if required:
            problems.append(f"缺少 {where} 表 / missing {where} table")
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where} 必须是表 / {where} must be a table")
        return None
    for key in sorted(set(raw) - _LAYER_KEYS):
        problems.append(f"{where} 未知字段 '{key}' / unknown field '{key}' (allowed: {', '.join(sorted(_LAYER_KEYS))})")
    source = raw.get("source", "file")
    if source not in ("file", "osm"):
        problems.append(f"{where}.source 只能是 'file' 或 'osm' / {where}.source must be 'file' or 'osm'")
        return None
    path = _resolve(base, raw.get("path"), where, problems) if source == "file" else None
    if source == "file" and path is None:
        return None
    if source == "osm" and kind == "zones":
        problems.append(f"{where}: OSM 不提供可用的街道边界，请提供文件 / OSM has no usable 街道 boundaries; give a file")
        return None
    columns = raw.get("columns", {})
    cats = raw.get("categories", {})
    if not isinstance(columns, dict) or not isinstance(cats, dict):
        problems.append(f"{where}.columns 和 .categories 必须是表 / must be tables")
        return None
    for label, key in cats.items():
        if key not in taxonomy:
            problems.append(f"{where}.categories: '{label}' → 未知类别 '{key}' / unknown category key '{key}'")
    rules = raw.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        problems.append(f"{where}.rules 必须是表的列表 [[...rules]] / must be an array of tables")
        rules = []
    for r in rules:
        if r.get("category") not in taxonomy:
            problems.append(f"{where}.rules: 未知类别 {r.get('category')!r} / unknown category in a rule")
        if not set(r) & {"keywords", "amap_codes", "types"} or set(r) - {"category", "keywords", "amap_codes", "types"}:
            problems.append(f"{where}.rules: 每条规则需要 category 和 keywords/amap_codes/types 之一 / a rule needs category and keywords, amap_codes or types")
        for key in ("keywords", "amap_codes", "types"):
            if key in r and not (isinstance(r[key], list) and all(isinstance(w, str) for w in r[key])):
                problems.append(f"{where}.rules: {key} 必须是文字列表，如 {key} = [\"菜鸟驿站\"] / {key} must be a list of texts, "
                                f"e.g. {key} = [\"菜鸟驿站\"], got {r[key]!r}")
    encoding = raw.get("encoding")
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(str(encoding))
        except LookupError:
            problems.append(f"{where}.encoding 未知编码 {encoding!r} / unknown encoding (use utf-8, gbk, gb18030)")
            encoding = None
    return LayerSpec(
        kind=kind,
        source=source,
        path=path,
        layer=raw.get("layer"),
        where=raw.get("where"),
        crs=raw.get("crs"),
        columns={str(k): str(v) for k, v in columns.items()},
        category_map={str(k): str(v) for k, v in cats.items()},
        encoding=encoding,
        rules=tuple(rules),
    )


_POSITIVE_POPULATION = ("persons_per_household", "floor_area_per_person_m2", "default_levels", "default_plot_ratio")


def _parse_population(raw: object, problems: list[str]) -> PopulationSpec:
    if not isinstance(raw, dict):
        problems.append("[population] 必须是表 / [population] must be a table")
        return PopulationSpec()
    defaults = PopulationSpec()
    values: dict[str, float] = {}
    for key, value in raw.items():
        if not hasattr(defaults, key):
            problems.append(f"[population] 未知字段 '{key}' / unknown field '{key}'")
        elif key == "census_from_zones":
            if not isinstance(value, bool):
                problems.append("[population].census_from_zones 必须是 true/false / must be true or false")
            else:
                values[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            problems.append(f"[population].{key} 必须是非负的有限数 / must be a finite non-negative number, got {value!r}")
        elif key in _POSITIVE_POPULATION and value <= 0:
            problems.append(f"[population].{key} 必须大于 0（为 0 时全部人口为 0）/ must be greater than 0 (0 would make everyone vanish)")
        else:
            values[key] = value
    for share in ("share_60_plus", "share_0_3"):
        if values.get(share, 0) > 1:
            problems.append(f"[population].{share} 是比例（0–1）/ is a share between 0 and 1")
    return PopulationSpec(**{**defaults.__dict__, **values})
