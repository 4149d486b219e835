"""Texts of the walking speeds per group (issue #17): which speed each output's minutes were measured at.

A category is walked to at the speed of its taxonomy group (:meth:`planner.settings.WalkingSpeeds.walker`): 养老 at the
elderly's, 托育 at carers', the rest at adults'. The report, the workbook, the map's title and summary.json say so with
these helpers, from the run's own :class:`~planner.analysis.coverage.Coverage` and scenario.
"""

from __future__ import annotations

from planner.labels import tr
from planner.schema import minutes_text
from planner.settings import WalkingSpeeds

__all__ = ["speed_text", "speeds_line", "speed_uses", "walkers_of", "metres_text", "speeds_summary"]

WALKERS = ("adults", "elderly", "carers")


def speed_text(v: float) -> str:
    """A speed as printed: m/min to one decimal, no trailing zero (53.333… → "53.3", 67 → "67")."""
    return f"{round(float(v), 1):g}"


def speeds_line(speeds: WalkingSpeeds, lang: str) -> str:
    """"步行速度（米/分钟）：成人 67，老年人 53.3，携婴幼儿的看护人 67" (English likewise)."""
    sep = "，" if lang == "zh" else ", "
    return tr("ui.speeds", lang, v=sep.join(f"{tr(f'speed.{w}', lang)} {speed_text(getattr(speeds, w))}" for w in WALKERS))


def walkers_of(categories, taxonomy) -> dict[str, list[str]]:
    """Walker ("adults", "elderly", "carers") → the categories (in run order) walked to at that walker's speed."""
    out: dict[str, list[str]] = {w: [] for w in WALKERS}
    for c in categories:
        out[WalkingSpeeds.walker(taxonomy[c].group if c in taxonomy else None)].append(c)
    return out


def speed_uses(scenario, categories, taxonomy, lang: str) -> list[str]:
    """One line per walker: its speed, the metres of the longest threshold at it and the categories that use it."""
    longest = max(scenario.thresholds_min)
    sep = "、" if lang == "zh" else ", "
    lines = []
    for w, cats in walkers_of(categories, taxonomy).items():
        names = sep.join(taxonomy[c].label(lang) if c in taxonomy else c for c in cats) or tr("ui.speed_unused", lang)
        v = getattr(scenario.speeds, w)
        lines.append(tr("ui.speed_use", lang, w=tr(f"speed.{w}", lang), v=speed_text(v), t=minutes_text(longest),
                        m=f"{longest * v:,.0f}", cats=names))
    return lines


def metres_text(coverage, minutes: float, lang: str, taxonomy) -> str:
    """The metres of ``minutes`` for the run's categories, one per distinct speed: "约 1,005 米" when all walk at one
    speed, else e.g. "约 1,005 米；养老院、社区养老服务站 约 800 米" (the categories at other than the adults' speed named)."""
    groups: dict[float, list[str]] = {}
    for c in coverage.categories:
        groups.setdefault(round(minutes * coverage.speed(c), 6), []).append(c)
    adults = round(minutes * coverage.speed_m_per_min, 6)
    if len(groups) <= 1:
        m = next(iter(groups), adults)
        return f"约 {m:,.0f} 米" if lang == "zh" else f"about {m:,.0f} m"
    sep = "、" if lang == "zh" else ", "
    parts = []
    for m, cats in sorted(groups.items(), key=lambda kv: (kv[0] != adults, -kv[0])):  # the adults' first, unnamed
        names = "" if m == adults else sep.join(taxonomy[c].label(lang) if c in taxonomy else c for c in cats) + " "
        parts.append(f"{names}约 {m:,.0f} 米" if lang == "zh" else f"{names}about {m:,.0f} m")
    return ("；" if lang == "zh" else "; ").join(parts)


def speeds_summary(scenario, coverage, taxonomy) -> dict[str, object]:
    """summary.json's speeds: per walker its speed (m/min), the metres of each threshold and its categories; and
    each category's speed, as the run's coverage measured it."""
    categories = coverage.categories
    by_walker = walkers_of(categories, taxonomy)
    return {
        "walking_speeds": {w: getattr(scenario.speeds, w) for w in WALKERS},
        "thresholds_m_by_group": {w: [round(t * getattr(scenario.speeds, w), 1) for t in scenario.thresholds_min] for w in WALKERS},
        "categories_by_group": by_walker,
        "category_speeds": {c: coverage.speed(c) for c in categories},
    }
