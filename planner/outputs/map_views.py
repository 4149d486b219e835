"""The gap map's thematic views: one question each, answered per compound in walking-time bands and per 街道.

A view (:class:`View`) is a leader's question: where do 60+ residents lack 养老 within 5/10/15 minutes
(``elderly``), where do 0–3-year-olds lack 托育 (``childcare``), which compounds have every basic format of the
一刻钟便民生活圈 (``circle``), and which 街道 meet their rules (``compliance``). For each view this module computes,
from the run's tables only:

* per compound, its **band**: the index of the first threshold (of the scenario's ``thresholds_min``) within which
  the view is answered (for 养老/托育 the nearest facility of the view's categories, for the 一刻钟 circle the
  farthest of the nearest basic formats: the walk after which all of them are reached), ``len(thresholds)`` beyond
  the longest, and :data:`NOT_CONNECTED` for a compound off the network; the minutes behind it;
* per 街道, the share of the view's demand within the longest threshold, and the measure its fill shows: the share
  of the 街道's rules of the view (:func:`rule_view`) that pass (:func:`zone_measures`).

Only the drawing (planner.outputs.maps) and its script use these; nothing here changes a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner import schema
from planner.analysis.coverage import Coverage
from planner.io.categories import Taxonomy

__all__ = ["View", "views_for", "compound_bands", "zone_measures", "rule_view", "band_colours", "NOT_CONNECTED",
           "ZONE_RAMP", "zone_class"]

#: band of a compound that is not connected to the walk network
NOT_CONNECTED = -1
#: colours of the bands within reach, from the nearest (ColorBrewer RdYlGn's green-to-yellow half); a run's
#: thresholds take as many of them, spread from first to last (:func:`band_colours`)
WITHIN_COLOURS = ("#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b")
#: the colour of the band beyond the longest threshold (or nothing within reach)
BEYOND_COLOUR = "#d73027"
NOT_CONNECTED_COLOUR = "#ffffff"
#: 街道 choropleth: five classes of the measure (0–20 %, …, 80–100 %), ColorBrewer YlGnBu
ZONE_RAMP = ("#d7301f", "#fc8d59", "#fdcc8a", "#a1d99b", "#31a354")


@dataclass(frozen=True)
class View:
    """One question of the map.

    ``cats``: the analysed categories it answers with (for ``circle`` the basic formats); ``demand``: the compound
    column it counts (``age_60_plus``, ``age_0_3``, ``population``); ``group``: the taxonomy group of its facilities
    and isochrones ("" for none).
    """

    key: str
    cats: tuple[str, ...]
    demand: str
    group: str


def band_colours(n_thresholds: int) -> list[str]:
    """The colours of a run's bands: one per threshold (green for the first, yellow for the longest, evenly between
    them) and red for beyond the longest. Three thresholds give green, light green, yellow, red."""
    if n_thresholds <= 1:
        return [WITHIN_COLOURS[0], BEYOND_COLOUR][: n_thresholds + 1] if n_thresholds else [BEYOND_COLOUR]
    at = np.rint(np.linspace(0, len(WITHIN_COLOURS) - 1, n_thresholds)).astype(int)
    return [WITHIN_COLOURS[i] for i in at] + [BEYOND_COLOUR]


def views_for(coverage: Coverage, taxonomy: Taxonomy, compounds: pd.DataFrame) -> list[View]:
    """The views this run can answer, in the order they are offered (a view needs its categories analysed)."""
    analysed = list(coverage.categories)

    def of_group(group: str) -> tuple[str, ...]:
        return tuple(c for c in analysed if taxonomy[c].group == group)

    def demand(col: str) -> str:
        return col if col in compounds.columns and pd.to_numeric(compounds[col], errors="coerce").notna().any() else "population"

    out = []
    if of_group("elderly"):
        out.append(View("elderly", of_group("elderly"), demand("age_60_plus"), "elderly"))
    if of_group("childcare"):
        out.append(View("childcare", of_group("childcare"), demand("age_0_3"), "childcare"))
    basic = tuple(c for c in analysed if taxonomy[c].basic)
    if basic:
        out.append(View("circle", basic, "population", ""))
    out.append(View("compliance", (), "population", ""))
    return out


def compound_bands(view: View, coverage: Coverage, reachable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per compound: its band in ``view`` (see the module) and the minutes behind it (NaN where none).

    The 达标 view asks nothing of a compound: every connected compound gets band ``len(thresholds) + 1`` (drawn
    neutral) and no minutes."""
    thresholds = np.asarray(sorted(coverage.thresholds_min), dtype=float)
    n = len(coverage.table)
    if not view.cats:
        return np.where(reachable, len(thresholds) + 1, NOT_CONNECTED).astype(np.int64), np.full(n, np.nan)
    dist = np.column_stack([coverage.table[schema.dist_m(c)].to_numpy(dtype=float) for c in view.cats])
    dist = np.where(np.isfinite(dist), dist, np.inf)
    # each category at its own speed (养老 the elderly's): its minutes, and its band from its metres as the within
    # columns compare them (≤ the first threshold → 0, …, beyond the longest → len)
    speeds = np.array([coverage.speed(c) for c in view.cats], dtype=float)
    per_minutes = dist / speeds
    per_band = np.column_stack([np.searchsorted(thresholds * v, dist[:, k], side="left") for k, v in enumerate(speeds)])
    # the nearest of the view's facilities; for the circle, the farthest of the nearest basic formats
    if view.key == "circle":
        minutes, band = per_minutes.max(axis=1), per_band.max(axis=1)
    else:
        minutes, band = per_minutes.min(axis=1), per_band.min(axis=1)
    band = np.where(reachable, band, NOT_CONNECTED).astype(np.int64)
    return band, np.where(np.isfinite(minutes) & reachable, minutes, np.nan)


def zone_measures(view: View, zone_ids: Sequence[str], compounds: pd.DataFrame, band: np.ndarray, n_thresholds: int,
                  rules: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Per 街道 (``zone_ids``): the view's coverage share and the measure its fill shows (both 0–1, NaN where there
    is nothing to measure), and what that measure is: ``"rules"`` or ``"coverage"``.

    The coverage share is the share of the view's demand living in compounds within the longest threshold (band
    below ``n_thresholds``). The fill shows the share of the 街道's evaluated rules (pass or fail) of the view that
    pass (``rules``: compliance rows with a ``view`` column, :func:`rule_view`; for 达标 all of them) — the targets
    tell apart 街道 whose coverage looks alike — unless the coverage share falls into more of the five classes (then
    it tells them apart better: e.g. no 街道 meets a rule of the 一刻钟 view, but their coverage differs); a view
    without rules is filled by its coverage share."""
    ids = pd.Index([str(z) for z in zone_ids])
    demand = comp_at = None
    if view.cats:
        demand = pd.to_numeric(compounds[view.demand], errors="coerce").fillna(0).to_numpy(dtype=float)
        comp_at = ids.get_indexer(compounds["zone_id"].astype(str).to_numpy())
    rule_at = rule_status = rule_views = None
    if rules is not None and len(rules):
        rule_at = ids.get_indexer(rules["subdistrict"].astype(str).to_numpy())
        rule_status = rules["status"].to_numpy(dtype=object)
        rule_views = rules["view"].to_numpy(dtype=object)
    return zone_measures_of(view.key, bool(view.cats), comp_at, demand, band, n_thresholds, len(ids), rule_at, rule_status,
                            rule_views)


def zone_measures_of(view_key: str, has_cats: bool, comp_at: np.ndarray | None, demand: np.ndarray | None, band: np.ndarray,
                     n_thresholds: int, n_zones: int, rule_at: np.ndarray | None, rule_status: np.ndarray | None,
                     rule_views: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
    """:func:`zone_measures` on arrays: per compound its 街道's position (``comp_at``, -1 for none) and demand; per
    rule row its 街道's position, status and view (None without rules). `planner serve` keeps the arrays and calls
    this on every edit."""
    coverage = np.full(n_zones, np.nan)
    # sums per 街道 with bincount (in row order, as a group-by sums)
    if has_cats:
        at = comp_at
        ok = at >= 0
        within = (band >= 0) & (band < n_thresholds)
        total = np.bincount(at[ok], weights=demand[ok], minlength=n_zones)
        inside = np.bincount(at[ok], weights=np.where(within, demand, 0.0)[ok], minlength=n_zones)
        has = np.bincount(at[ok], minlength=n_zones) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            coverage = np.where(has & (total > 0), inside / np.where(total > 0, total, 1.0), np.nan)
    if rule_status is not None and len(rule_status):
        status = rule_status
        keep = (status == "pass") | (status == "fail")
        if view_key != "compliance":
            keep &= rule_views == view_key
        if keep.any():
            at = rule_at[keep]
            ok = at >= 0
            count = np.bincount(at[ok], minlength=n_zones).astype(float)
            passed = np.bincount(at[ok], weights=(status[keep] == "pass")[ok].astype(float), minlength=n_zones)
            with np.errstate(invalid="ignore", divide="ignore"):
                met = np.where(count > 0, passed / np.where(count > 0, count, 1.0), np.nan)
            # the fill that tells the 街道 apart: the rules met, unless the coverage share spreads over more classes
            if view_key == "compliance" or _classes(met) >= _classes(coverage):
                return coverage, met, "rules"
    return coverage, coverage, "coverage"


def _classes(measure: np.ndarray) -> int:
    """How many choropleth classes the 街道 fall into."""
    cls = zone_class(measure)
    return len(set(cls[cls >= 0].tolist()))


def zone_class(measure: np.ndarray) -> np.ndarray:
    """The choropleth class (0–4 of :data:`ZONE_RAMP`) of each measure; -1 where NaN."""
    m = np.asarray(measure, dtype=float)
    cls = np.clip(np.floor(np.where(np.isfinite(m), m, 0) * 5 + 1e-9), 0, 4).astype(np.int64)
    return np.where(np.isfinite(m), cls, -1)


def rule_view(rule_id: str, categories: Sequence[str], taxonomy: Taxonomy) -> str:
    """The view a 街道 rule belongs to: ``elderly``, ``childcare``, ``circle`` or "" (shown under 达标 only)."""
    groups = {taxonomy[c].group for c in categories if c in taxonomy}
    if rule_id.startswith("elderly.") or groups == {"elderly"}:
        return "elderly"
    if rule_id.startswith("childcare.") or groups == {"childcare"}:
        return "childcare"
    if rule_id.startswith(("mofcom.", "local.nantong.circles")) or (categories and all(
            c in taxonomy and taxonomy[c].basic for c in categories)):
        return "circle"
    return ""
