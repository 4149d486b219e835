"""A plan exported as the report: the output folder `planner run` writes for the plan's scenario, written by
planner's own writers from the plan's state, so that `planner compare <present run> plans/<name>/run` works.

What comes from where
---------------------
The plan's coverage, standards (Compliance) and 一刻钟 circles are the what-if engine's (what the app showed; equal
to a full run, tests/test_whatif_oracle.py). Every table derived from them is made by the run's own stage functions:
E2SFCA access (:func:`~planner.pipeline.capacity_access`), the gap list, the 街道 summary. The isochrones and the
suggested sites need a reach graph holding the plan's facilities: it is built once here (the run's snapping and
:meth:`Reach.build`, seconds even for a city) and the run's isochrone and siting stages are *run again* on it, so
the sites are those a `planner run` of the plan would suggest (the siting tasks of the demo take well under a
second; the generated cities have none).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from planner import schema
from planner.analysis.circles import CENTRE_CATEGORY
from planner.analysis.requirements import gap_list
from planner.analysis.standards import scenario_rules
from planner.analysis.zones import summarise_zones
from planner.io.layers import LayerSet, load_facilities
from planner.network.points import Reach, snap_geometries
from planner.outputs.folder import stage_output
from planner.outputs.write import write_outputs
from planner.pipeline import (
    RunResult,
    capacity_access,
    category_radii,
    compound_gates,
    draw_isochrones,
    group_limits,
    suggest_new_sites,
)
from planner.scenario import load_scenario
from planner.serve.plans import SAVE_LOCK
from planner.serve.saved import RUN, file_links
from planner.siting.suggest import SitingInputs, pair_elderly_childcare

__all__ = ["plan_result", "export_report"]

log = logging.getLogger(__name__)

# the writers use process-wide state (folium's element ids, matplotlib): one export at a time
_EXPORT_LOCK = threading.Lock()


def plan_result(result: RunResult, state: Any, scenario_path: Path) -> RunResult:
    """The :class:`RunResult` of the plan ``state`` (a :class:`~planner.whatif.engine.PlanState` of ``result``), as
    a run of its saved scenario (``scenario_path``) would give it."""
    t0 = time.perf_counter()
    scenario = load_scenario(scenario_path)
    sc = result.scenario
    taxonomy = result.taxonomy
    coverage, compliance = state.coverage, state.compliance
    fac = state.active.copy()
    fac["edit"] = fac["edit"].where(fac["edit"] != "", None)
    # the saved layer as `planner run` reads it: its rows read, kept and rejected
    layer = load_facilities(scenario.facilities, result.crs, taxonomy=taxonomy)
    layers = LayerSet(layer, result.layers.residential, result.layers.zones)

    comp = result.compounds
    longest_m = sc.threshold_m(sc.coverage_minutes)
    table = coverage.table
    if schema.nearest_id(CENTRE_CATEGORY) in table.columns:  # each compound's circle, as delineate_circles assigns it
        near = table[schema.nearest_id(CENTRE_CATEGORY)].astype(str)
        inside = (table[schema.dist_m(CENTRE_CATEGORY)] <= longest_m) & near.ne("")
        comp = comp.assign(circle=near.where(inside, "").to_numpy())
    rules = scenario_rules(sc)
    access = capacity_access(sc, rules, comp, fac, coverage)
    comp = comp.assign(**{schema.access(name): (acc * 1000).round(3) for name, (acc, _, _) in access.items()})
    gaps = gap_list(compliance, comp, table, access)
    comp = comp.assign(formats_present=compliance.formats["n_present"], formats_missing=compliance.formats["missing"])

    # the plan's reach graph: the run's snapping of the compounds' gates and the plan's facilities
    gates, owner = compound_gates(comp.geometry)
    snapped = snap_geometries(result.network, np.concatenate([gates, fac.geometry.to_numpy()]), max_snap_m=sc.max_snap_m)
    reach = Reach.build(result.network, snapped, n_gates=len(owner), max_snap_m=sc.max_snap_m)
    isochrones = draw_isochrones(reach, fac, coverage.categories, taxonomy, group_limits(sc))
    siting, pairs = [], None
    if sc.siting:
        inputs = SitingInputs(reach=reach, compounds=comp, gate_owner=owner, facilities=fac, zones=result.zones,
                              compliance=compliance.table, rules=rules, radius_default_m=longest_m, taxonomy=taxonomy,
                              radius_by_category=category_radii(sc, taxonomy))
        siting = suggest_new_sites(sc, inputs, lambda msg: log.info("%s", msg))
        pairs = pair_elderly_childcare(fac, reach, longest_m)
    zone_table = summarise_zones(comp, comp["zone_id"], coverage, result.zones, fac, fac["zone_id"])
    comp = comp.assign(zone_name=comp["zone_id"].map(zone_table["name"]))
    seconds = round(time.perf_counter() - t0, 3)
    return replace(result, scenario=scenario, layers=layers, compounds=comp, facilities=fac, coverage=coverage,
                   zone_table=zone_table, timings={"方案导出 / plan export": seconds, "total": seconds}, isochrones=isochrones,
                   compliance=compliance, gaps=gaps, circles=state.circles, siting=siting, pairs=pairs)


def export_report(result: RunResult, save: Callable[[], tuple[dict[str, Any], Any]]) -> dict[str, Any]:
    """Save a plan (``save()`` → the save's answer and the state saved) and write its run output folder into
    ``<saved folder>/run/``: staged and moved into place only when whole, an earlier export replaced. Saving and
    writing hold one lock, so two exports of one name never mix. Returns the folder, the files written, the download
    links of the whitelisted ones and the save's answer (``saved``)."""
    with _EXPORT_LOCK, SAVE_LOCK:
        saved, state = save()
        t0 = time.perf_counter()
        folder = Path(saved["folder"])
        plan = plan_result(result, state, folder / "scenario.toml")
        t1 = time.perf_counter()
        staged = stage_output(folder / RUN, plan.scenario.input_paths())
        try:
            written = write_outputs(plan, staged.path, lang=plan.scenario.language, report=lambda msg: log.info("%s", msg))
            out = staged.commit()
        except BaseException:
            staged.discard()
            raise
    files = sorted(p.relative_to(staged.path).as_posix() for p in written.values())
    log.info("plan %s exported to %s: %.1f s to build, %.1f s to write", folder.name, out, t1 - t0, time.perf_counter() - t1)
    return {"name": folder.name, "folder": str(out), "files": files, "links": file_links(folder.name, folder),
            "siting": "rerun" if plan.siting else "none", "seconds": {"build": round(t1 - t0, 3), "write": round(time.perf_counter() - t1, 3)},
            "saved": saved}
