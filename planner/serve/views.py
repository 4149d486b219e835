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

from typing import Any

import numpy as np
import pandas as pd

from planner import schema
from planner.outputs.map_views import compound_bands, rule_view, views_for, zone_class, zone_measures_of
from planner.outputs.maps import printed_ints, printed_tenths, rule_categories, rule_cell, zone_config

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
        self.speed = result.coverage.speed_m_per_min  # the adults'; a category's minutes use coverage.speed(cat)
        self._cat_at = {c: k for k, c in enumerate(self.categories)}
        zones = result.zones
        self.zone_ids: list[str] = [] if zones is None else zones.index.astype(str).tolist()
        self._comp_at = pd.Index(self.zone_ids).get_indexer(self.compounds["zone_id"].astype(str).to_numpy()) \
            if "zone_id" in self.compounds.columns else np.full(len(self.compounds), -1)
        self._demand = {v.key: pd.to_numeric(self.compounds[v.demand], errors="coerce").fillna(0).to_numpy(dtype=float)
                        for v in self.views if v.cats}
        self._rules = None
        if zones is not None and len(zones) and result.compliance is not None and len(result.compliance.table):
            self._rules = _Rules(result.compliance.table, self.zone_ids, result.taxonomy, result.compliance.rules)
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
                                r.taxonomy, basemap="offline", lang=self.lang, rules=r.compliance.rules if r.compliance is not None else ())
        tenths = {k: printed_tenths(b[1]) for k, b in bands.items()}
        return {"bands": bands, "tenths": tenths, "dist": dist, "nearest": nearest, "table": table, "zones": zones}

    # ---- a plan against the present ------------------------------------------------------------------------------

    def of(self, state) -> dict[str, Any]:
        """The map's data of a plan's ``state`` (a :class:`planner.whatif.engine.PlanState`; None for no edit)
        that differs from the present, JSON-ready (plain Python values):

        ``compounds``: ``{compound id: {"row", "pct", "cats": {category: [metres, tenths of minutes, nearest id,
        nearest name, within the longest threshold]}}}`` for the categories the plan touches (metres and minutes as
        the map prints them, -1 for none);
        ``views``: ``{view: {"compounds": {id: band}, "minutes": {id: tenths}, "kind", "zones": {"ids", "measure",
        "coverage", "class"}}}`` (every 街道, in the map's order; measures in ‰, -1 for none; class 0–4 of the ramp,
        -1 for none; ``kind``: what the fill shows, ``rules`` or ``coverage``);
        ``zone_rules``: ``{"rows": [...], "status": [...], "text": [...]}`` the 街道 popup rows that changed (status 0
        pass, 1 fail, 2 not evaluable; text as HTML), or ``{"all": true, …}`` with every row when the rows differ.

        Only what a plan can change is recomputed: the columns of the categories it touches, the bands of the views
        that read them, the popup rows whose rule values changed (when the plan's rule table has the present's rows,
        as the what-if engine keeps it; else the whole 街道 configuration is drawn again).
        """
        base = self.present
        if state is None:
            now, cats = base, []
        else:
            cats = [c for c in getattr(state, "touched", self.categories) if c in self._cat_at]
            now = self._plan_data(state, cats)
            if "zone_rules" not in now:  # drawn whole: every category may differ
                cats = self.categories
        changed = self._changed_compounds(base, now, [self._cat_at[c] for c in cats])
        out: dict[str, Any] = {"compounds": self._compound_facts(now, changed, cats), "views": {}}
        for v in self.views:
            b0, t0 = base["bands"][v.key]
            b1, t1 = now["bands"][v.key]
            rows = changed[(b0[changed] != b1[changed]) | (base["tenths"][v.key][changed] != now["tenths"][v.key][changed])]
            entry: dict[str, Any] = {
                "compounds": dict(zip(self.ids[rows].tolist(), b1[rows].tolist(), strict=True)),
                "minutes": dict(zip(self.ids[rows].tolist(), now["tenths"][v.key][rows].tolist(), strict=True)),
            }
            if now["zones"] is not None:
                z = now["zones"]
                entry["kind"] = z["kind"][v.key]
                entry["zones"] = {"ids": self.zone_ids, "measure": z["measure"][v.key], "coverage": z["coverage"][v.key],
                                  "class": z["cls"][v.key]}
            out["views"][v.key] = entry
        out["zone_rules"] = now.get("zone_rules") if "zone_rules" in now else self._zone_rules(base["zones"], now["zones"])
        return out

    def _plan_data(self, state, cats: list[str]) -> dict[str, Any]:
        """The per-view data of a plan, recomputed only where the plan's ``cats`` reach; the whole
        (:meth:`_data`) when its rule table does not line up with the present's."""
        rules = self._rules
        compliance = state.compliance.table
        if rules is not None and not rules.lines_up(compliance):
            return self._data(state.coverage, compliance)
        base = self.present
        table = state.coverage.table
        dist, nearest = base["dist"].copy(), base["nearest"].copy()
        moved = getattr(state, "moved_rows", None) or {}
        candidates = [np.flatnonzero(moved[c]) for c in cats if c in moved]
        rows = np.unique(np.concatenate(candidates)) if len(candidates) == len(cats) and cats else None
        for c in cats:
            k = self._cat_at[c]
            dist[:, k] = table[schema.dist_m(c)].to_numpy(dtype=float)
            ids = table[schema.nearest_id(c)] if rows is None else table[schema.nearest_id(c)].iloc[rows]
            ids = ids.astype(object).fillna("").astype(str).to_numpy()
            if rows is None:
                nearest[:, k] = ids
            else:  # the engine says which compounds' nearest facility or distance changed: only they are read
                nearest[rows, k] = ids
        bands, tenths = {}, {}
        for v in self.views:
            if set(v.cats) & set(cats):
                bands[v.key] = compound_bands(v, state.coverage, self.reachable)
                tenths[v.key] = printed_tenths(bands[v.key][1])
            else:
                bands[v.key], tenths[v.key] = base["bands"][v.key], base["tenths"][v.key]
        now: dict[str, Any] = {"bands": bands, "tenths": tenths, "dist": dist, "nearest": nearest, "table": table, "zones": None,
                               "candidates": rows}
        if base["zones"] is not None:
            zones = dict(base["zones"])
            status = rules.status(compliance) if rules is not None else None
            for key in ("coverage", "measure", "cls", "kind"):
                zones[key] = dict(zones[key])
            for v in self.views:
                cov, m, kind = self._measures(v, bands[v.key][0], status)
                zones["coverage"][v.key], zones["measure"][v.key] = printed_ints(cov * 1000).tolist(), printed_ints(m * 1000).tolist()
                zones["cls"][v.key], zones["kind"][v.key] = zone_class(m).tolist(), kind
            now["zones"] = zones
            now["zone_rules"] = rules.changed(compliance, self.result.taxonomy, self.lang) if rules is not None \
                else {"rows": [], "status": [], "text": []}
        return now

    def _measures(self, view, band: np.ndarray, rule_status: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, str]:
        """:func:`zone_measures` of ``view`` from the arrays kept at start (no pandas on the request's path)."""
        r = self._rules
        return zone_measures_of(view.key, bool(view.cats), self._comp_at, self._demand.get(view.key), band, self.n_thresholds,
                                len(self.zone_ids), None if r is None else r.at, rule_status, None if r is None else r.view)

    def _changed_compounds(self, base: dict, now: dict, ks: list[int]) -> np.ndarray:
        """Rows whose distance or nearest facility differs in any of the category columns ``ks`` (distances within
        1e-6 m are equal)."""
        if not ks:
            return np.zeros(0, dtype=np.int64)
        rows = now.get("candidates")
        if rows is not None:  # only these can differ
            d0, d1 = base["dist"][np.ix_(rows, ks)], now["dist"][np.ix_(rows, ks)]
            both = np.isfinite(d0) & np.isfinite(d1)
            same = (d0 == d1) | (both & (np.abs(np.where(both, d0, 0.0) - np.where(both, d1, 0.0)) <= 1e-6))
            differs = ~same | (base["nearest"][np.ix_(rows, ks)] != now["nearest"][np.ix_(rows, ks)])
            return rows[differs.any(axis=1)] if differs.size else np.zeros(0, dtype=np.int64)
        d0, d1 = base["dist"][:, ks], now["dist"][:, ks]
        both = np.isfinite(d0) & np.isfinite(d1)
        same = (d0 == d1) | (both & (np.abs(np.where(both, d0, 0.0) - np.where(both, d1, 0.0)) <= 1e-6))
        differs = ~same | (base["nearest"][:, ks] != now["nearest"][:, ks])
        return np.flatnonzero(differs.any(axis=1)) if differs.size else np.zeros(0, dtype=np.int64)

    def _compound_facts(self, now: dict, rows: np.ndarray, cats: list[str]) -> dict[str, Any]:
        """Per changed compound (``rows``): its completeness and, per category of ``cats``, what its popup prints."""
        table = now["table"]
        if not len(rows):
            return {}
        pct = printed_ints(table["completeness"].to_numpy(dtype=float)[rows] * 100)
        per_cat = {}
        for cat in cats:
            k = self._cat_at[cat]
            d = now["dist"][rows, k]
            names = table[schema.nearest_name(cat)].iloc[rows].to_numpy(dtype=object)
            within = table[schema.within(cat, self.longest)].iloc[rows].to_numpy(dtype=bool)
            per_cat[cat] = (printed_ints(d), printed_tenths(d / self.result.coverage.speed(cat)), now["nearest"][rows, k], names, within)
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


class _Rules:
    """The present's 街道 rule rows as the map's popups list them, kept to redraw only the rows a plan changes.

    ``pos``: the rows of the compliance table that are not city-wide; ``at``: their 街道's position (-1 when the
    map has no such 街道); ``view``: their view; ``cell``: per popup row (in the map's order: 街道 by 街道, rules in
    table order) the position among ``pos``.
    """

    _COLUMNS = ("rule", "value", "target", "unit", "status", "shortfall", "shortfall_text")

    def __init__(self, table: pd.DataFrame, zone_ids: list[str], taxonomy, rules=()) -> None:
        self.rules = tuple(rules)
        sub = table["subdistrict"].astype(str).to_numpy()
        self.n = len(table)
        self.keys = (sub, table["rule_id"].astype(str).to_numpy())
        self.pos = np.flatnonzero(sub != schema.CITY)
        self.at = pd.Index(zone_ids).get_indexer(sub[self.pos])
        cats = rule_categories(self.rules)
        ids = table["rule_id"].astype(str).to_numpy()[self.pos]
        self.view = np.array([rule_view(r, cats.get(r, ()), taxonomy) for r in ids], dtype=object)
        inside = np.flatnonzero(self.at >= 0)
        self.cell = inside[np.argsort(self.at[inside], kind="stable")]  # popup row → position among pos
        self.row_of_cell = np.full(len(self.pos), -1)
        self.row_of_cell[self.cell] = np.arange(len(self.cell))
        self.present = {c: self._column(table, c) for c in self._COLUMNS}

    def _column(self, table: pd.DataFrame, name: str) -> np.ndarray:
        col = table[name].iloc[self.pos]
        if pd.api.types.is_numeric_dtype(col):
            return col.to_numpy(dtype=float)
        return col.astype(object).to_numpy(dtype=object)

    def lines_up(self, table: pd.DataFrame) -> bool:
        """Whether ``table`` holds the present's rows in the present's order (as the what-if engine keeps them)."""
        return len(table) == self.n and np.array_equal(table["subdistrict"].astype(str).to_numpy(), self.keys[0]) \
            and np.array_equal(table["rule_id"].astype(str).to_numpy(), self.keys[1])

    def status(self, table: pd.DataFrame) -> np.ndarray:
        return table["status"].iloc[self.pos].astype(object).to_numpy(dtype=object)

    def changed(self, table: pd.DataFrame, taxonomy, lang: str) -> dict[str, Any]:
        """The popup rows of ``table`` that differ from the present: their positions, status codes and texts."""
        differs = np.zeros(len(self.pos), dtype=bool)
        now = {}
        for c in self._COLUMNS:
            a, b = self.present[c], self._column(table, c)
            now[c] = b
            differs |= ~((a == b) | (pd.isna(a) & pd.isna(b)))
        ids = self.keys[1][self.pos]
        hit = np.flatnonzero(differs & (self.row_of_cell >= 0))
        hit = hit[np.argsort(self.row_of_cell[hit], kind="stable")]
        codes = {"pass": 0, "fail": 1, "not_evaluable": 2}
        return {
            "rows": self.row_of_cell[hit].tolist(),
            "status": [codes.get(str(now["status"][i]), 2) for i in hit],
            "text": [rule_cell(str(ids[i]), now["rule"][i], now["value"][i], now["target"][i], now["unit"][i], now["status"][i],
                               now["shortfall"][i], now["shortfall_text"][i], lang, self.rules) for i in hit],
        }
