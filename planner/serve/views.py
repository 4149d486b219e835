"""What the map app of `planner serve` redraws after an edit: per view, the compounds' bands and the 街道's
measures of a plan, computed with the gap map's own functions (:mod:`planner.outputs.map_views`,
:func:`planner.outputs.maps.zone_config`), so that the colours in the browser are those a fresh gap map of the plan
would draw.

The page holds the present (the run's gap map); an answer holds only what differs from it — the compounds whose
distances changed (their popup facts, and per view their band and minutes) and the 街道 rules whose status or
text changed — plus every 街道's measure and class per view (a city has a few hundred 街道 at most). Each answer
is the whole plan against the present, so the page restores the present where an undo took a change back.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from planner import schema
from planner.outputs.map_views import compound_bands, views_for
from planner.outputs.maps import printed_ints, printed_tenths, zone_config

__all__ = ["PlanViews"]


class PlanViews:
    """The map's per-view data of a run (:attr:`present`) and of its plans (:meth:`of`).

    Parameters
    ----------
    result
        The run (:class:`planner.pipeline.RunResult`) the page was drawn from.
    lang
        The language of the 街道 popups' rule texts (``zh`` or ``en``), as the page's.
    """

    def __init__(self, result, *, lang: str = "zh") -> None:
        self.result = result
        self.lang = lang
        self.compounds = result.compounds
        self.ids = result.compounds["id"].astype(str).to_numpy() if "id" in result.compounds.columns \
            else result.compounds.index.astype(str).to_numpy()
        self.reachable = result.compounds["reachable"].to_numpy(dtype=bool)
        self.views = views_for(result.coverage, result.taxonomy, result.compounds)
        self.categories = list(result.coverage.categories)
        self.n_thresholds = len(result.coverage.thresholds_min)
        self.longest = max(result.coverage.thresholds_min)
        self.speed = result.coverage.speed_m_per_min
        self.present = self._data(result.coverage, None if result.compliance is None else result.compliance.table)

    # ---- the per-view data of a coverage and compliance ---------------------------------------------------------------

    def _data(self, coverage, compliance: pd.DataFrame | None) -> dict[str, Any]:
        bands = {v.key: compound_bands(v, coverage, self.reachable) for v in self.views}
        table = coverage.table
        dist = np.column_stack([table[schema.dist_m(c)].to_numpy(dtype=float) for c in self.categories]) if self.categories \
            else np.zeros((len(table), 0))
        nearest = np.column_stack([table[schema.nearest_id(c)].astype(object).fillna("").astype(str).to_numpy()
                                   for c in self.categories]) if self.categories else np.zeros((len(table), 0), dtype=object)
        zones = None
        r = self.result
        if r.zones is not None and len(r.zones):
            zones = zone_config(r.zones, r.zone_table, self.compounds, compliance, self.views, bands, self.n_thresholds,
                                r.taxonomy, basemap="offline", lang=self.lang)
        return {"bands": bands, "dist": dist, "nearest": nearest, "table": table, "zones": zones}

    # ---- a plan against the present ------------------------------------------------------------------------------

    def of(self, state) -> dict[str, Any]:
        """The map's data of a plan's ``state`` (a :class:`planner.whatif.engine.PlanState`; None for no edit)
        that differs from the present, JSON-ready:

        ``compounds``: ``{compound id: {"row", "pct", "cats": {category: [metres, tenths of minutes, nearest id,
        nearest name, within the longest threshold]}}}`` (metres and minutes as the map prints them, -1 for none);
        ``views``: ``{view: {"compounds": {id: band}, "minutes": {id: tenths}, "kind", "zones": {"ids", "measure",
        "coverage", "class"}}}`` (every 街道, in the map's order; measures in ‰, -1 for none; class 0–4 of the ramp,
        -1 for none; ``kind``: what the fill shows, ``rules`` or ``coverage``);
        ``zone_rules``: ``{"rows": [...], "status": [...], "text": [...]}`` the 街道 popup rows that changed (status 0
        pass, 1 fail, 2 not evaluable; text as HTML), or ``{"all": true, …}`` with every row when the rows differ.
        """
        base = self.present
        if state is None:
            now = base
        else:
            now = self._data(state.coverage, state.compliance.table)
        changed = self._changed_compounds(base, now)
        out: dict[str, Any] = {"compounds": self._compound_facts(now, changed), "views": {}}
        for v in self.views:
            b0, t0 = base["bands"][v.key]
            b1, t1 = now["bands"][v.key]
            tt0, tt1 = printed_tenths(t0), printed_tenths(t1)
            rows = changed[(b0[changed] != b1[changed]) | (tt0[changed] != tt1[changed])]
            entry: dict[str, Any] = {
                "compounds": {str(self.ids[i]): int(b1[i]) for i in rows},
                "minutes": {str(self.ids[i]): int(tt1[i]) for i in rows},
            }
            if now["zones"] is not None:
                z = now["zones"]
                zone_ids = self.result.zones.index.astype(str)
                entry["kind"] = z["kind"][v.key]
                entry["zones"] = {"ids": list(zone_ids), "measure": z["measure"][v.key], "coverage": z["coverage"][v.key],
                                  "class": z["cls"][v.key]}
            out["views"][v.key] = entry
        out["zone_rules"] = self._zone_rules(base["zones"], now["zones"])
        return out

    def _changed_compounds(self, base: dict, now: dict) -> np.ndarray:
        """Rows whose distance or nearest facility differs in any category (distances within 1e-6 m are equal)."""
        d0, d1 = base["dist"], now["dist"]
        both = np.isfinite(d0) & np.isfinite(d1)
        same = (d0 == d1) | (both & (np.abs(np.where(both, d0, 0.0) - np.where(both, d1, 0.0)) <= 1e-6))
        differs = ~same | (base["nearest"] != now["nearest"])
        return np.flatnonzero(differs.any(axis=1)) if differs.size else np.zeros(0, dtype=np.int64)

    def _compound_facts(self, now: dict, rows: np.ndarray) -> dict[str, Any]:
        table = now["table"]
        if not len(rows):
            return {}
        pct = printed_ints(table["completeness"].to_numpy(dtype=float)[rows] * 100)
        per_cat = {}
        for k, cat in enumerate(self.categories):
            d = now["dist"][rows, k]
            names = table[schema.nearest_name(cat)].to_numpy(dtype=object)[rows]
            within = table[schema.within(cat, self.longest)].to_numpy(dtype=bool)[rows]
            per_cat[cat] = (printed_ints(d), printed_tenths(d / self.speed), now["nearest"][rows, k], names, within)
        out = {}
        for n, i in enumerate(rows.tolist()):
            cats = {}
            for cat, (d, t, nid, names, within) in per_cat.items():
                name = names[n]
                cats[cat] = [int(d[n]), int(t[n]), str(nid[n]), "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name),
                             bool(within[n])]
            out[str(self.ids[i])] = {"row": int(i), "pct": int(pct[n]), "cats": cats}
        return out

    @staticmethod
    def _zone_rules(base: dict | None, now: dict | None) -> dict[str, Any]:
        if base is None or now is None:
            return {"rows": [], "status": [], "text": []}
        t0 = [base["ruleText"][c] for c in base["ruleCell"]]
        t1 = [now["ruleText"][c] for c in now["ruleCell"]]
        if len(t0) != len(t1) or base["ruleStart"] != now["ruleStart"] or base["ruleView"] != now["ruleView"]:
            return {"all": True, "rows": list(range(len(t1))), "status": list(now["ruleStatus"]), "text": t1,
                    "start": list(now["ruleStart"]), "view": list(now["ruleView"])}
        rows = [r for r in range(len(t1)) if t1[r] != t0[r] or now["ruleStatus"][r] != base["ruleStatus"][r]]
        return {"rows": rows, "status": [now["ruleStatus"][r] for r in rows], "text": [t1[r] for r in rows]}


class LazyViews:
    """A :class:`PlanViews` built on first use (its present costs a pass over the run), shared by requests."""

    def __init__(self, result, *, lang: str = "zh") -> None:
        self._args = (result, lang)
        self._views: PlanViews | None = None
        self._lock = threading.Lock()

    def get(self) -> PlanViews:
        if self._views is None:
            with self._lock:
                if self._views is None:
                    self._views = PlanViews(self._args[0], lang=self._args[1])
        return self._views
