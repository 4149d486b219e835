#!/usr/bin/env python
"""Server-side latency of one what-if edit (issue #15 item 3): what ``POST /api/plans/{id}/edit`` computes.

A plan re-applies ALL its combined edits on every edit, so one request costs ``WhatIf.parse`` + ``WhatIf.apply`` +
``PlanState.changes()`` of the whole plan. Cases (deterministic, from the run's own data):

* ``add``      one 综合性养老服务中心 added at the compound farthest from one (the worst gap);
* ``remove``   the 社区养老服务站 that is the nearest of the most compounds removed;
* ``move``     the busiest 托育 moved to the compound farthest from one;
* ``plan10``   a plan of 10 accumulated edits (adds in gaps across categories, removals and moves);
* ``plan50``   a plan of 50 accumulated edits.

Each case is repeated (``--repeat``, default 5, after one warm-up) and its p50 / p95 printed. Peers on the same
machine: (a) ``full run`` — ``planner.pipeline.run`` of the scenario whose facilities layer is the edited one (the
only way before #15; compute only, no output written, one repetition, ``add`` case); (b) ``--before PATH`` — the same
cases on the what-if engine of another checkout of planner (e.g. main before this change), in a subprocess.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/serve_latency.py                                   # the demo
    PYTHONPATH=. .venv/bin/python benchmarks/serve_latency.py --sizes 1m                        # /work/cities/1m
    PYTHONPATH=. .venv/bin/python benchmarks/serve_latency.py --scenario /work/cities/1m/city.toml \\
        --run-cache /tmp/run1m.pkl --before /path/to/old/checkout --profile add

``--run-cache FILE`` pickles the run the first time and loads it afterwards (a 1 M run takes ~40 s to compute).
Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pickle
import pstats
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CITIES = Path("/work/cities")
CASES = ("add", "remove", "move", "plan10", "plan50")


def load_run(scenario_path: Path, cache: Path | None):
    """The run of the scenario (siting left out: the engine never uses it), from ``cache`` when it exists."""
    if cache is not None and cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    from planner.pipeline import run
    from planner.scenario import load_scenario

    result = run(replace(load_scenario(scenario_path), siting=()), report=lambda m: None)
    if cache is not None:
        with open(cache, "wb") as f:
            pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
    return result


def _lonlat(w, x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(w.crs, "EPSG:4326", always_xy=True).transform(np.asarray(x, float), np.asarray(y, float))
    return [(float(a), float(b)) for a, b in zip(np.atleast_1d(lon), np.atleast_1d(lat), strict=True)]


def _gaps(w, cat: str, n: int) -> list[tuple[float, float]]:
    """(lon, lat) of the ``n`` reachable compounds farthest from ``cat`` (none within the search limit first), each
    at least 1.5 km from the ones before (so that they are separate gaps)."""
    from planner import schema

    d = w.coverage.table[schema.dist_m(cat)].to_numpy(float)
    d = np.where(w.compounds["reachable"].to_numpy(bool), np.where(np.isinf(d), 1e12, d), -1.0)
    pts = w.compounds.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    chosen: list[int] = []
    for i in np.argsort(-d, kind="stable"):
        if all(np.hypot(x[i] - x[j], y[i] - y[j]) >= 1500.0 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == n:
            break
    return _lonlat(w, x[chosen], y[chosen])


def _busiest(w, cat: str, n: int = 1) -> list[str]:
    """The ``n`` facilities of ``cat`` that are the nearest of the most compounds."""
    from planner import schema

    counts = w.coverage.table[schema.nearest_id(cat)].astype(str)
    counts = counts[counts != ""].value_counts()
    return [str(i) for i in counts.index[:n]]


def edit_bodies(w) -> dict[str, list[dict]]:
    """Per case, the edit bodies the plan received (one request each); the last one is the request timed."""
    cats = list(w.coverage.categories)
    pick = [c for c in ("elderly_centre", "elderly_station", "childcare", "convenience", "pharmacy", "market") if c in cats] or cats
    one = pick[0]
    out: dict[str, list[dict]] = {}
    (lon, lat), = _gaps(w, one, 1)
    out["add"] = [{"add": [{"category": one, "lon": lon, "lat": lat, "name": "新中心", "beds": 60}]}]
    station = pick[1] if len(pick) > 1 else one
    out["remove"] = [{"remove": _busiest(w, station)}]
    child = pick[2] if len(pick) > 2 else one
    (lon, lat), = _gaps(w, child, 1)
    out["move"] = [{"move": [{"id": _busiest(w, child)[0], "lon": lon, "lat": lat}]}]
    for n in (10, 50):
        bodies = []
        n_add, n_remove = n // 2, n // 4
        n_move = n - n_add - n_remove
        per_cat = -(-n_add // len(pick))
        adds = [(c, ll) for c in pick for ll in _gaps(w, c, per_cat)][:n_add]
        bodies += [{"add": [{"category": c, "lon": lo, "lat": la}]} for c, (lo, la) in adds]
        removes = [fid for c in pick for fid in _busiest(w, c, -(-n_remove // len(pick)) + 1)]
        removed = removes[:n_remove]
        bodies += [{"remove": [fid]} for fid in removed]
        movable = [fid for fid in removes[n_remove:] if fid not in removed]
        movable += [fid for c in pick for fid in _busiest(w, c, 2 * n_move) if fid not in removed and fid not in movable]
        targets = [ll for c in pick for ll in _gaps(w, c, per_cat + n_move)][-n_move:]
        bodies += [{"move": [{"id": fid, "lon": lo, "lat": la}]} for fid, (lo, la) in zip(movable[:n_move], targets, strict=False)]
        out[f"plan{n}"] = bodies
    return out


def combined(bodies: list[dict]) -> dict:
    """The plan's combined edits, as the server combines them (``planner.serve.plans.combine``)."""
    from planner.serve.plans import combine

    return combine(bodies)


def time_cases(w, cases: dict[str, list[dict]], repeat: int, profile: str | None = None) -> dict[str, list[float]]:
    """Seconds of parse + apply + changes() of each case's combined plan, ``repeat`` times after a warm-up."""
    out = {}
    for name, bodies in cases.items():
        body = combined(bodies)
        w.apply(w.parse(body)).changes()  # warm-up
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            w.apply(w.parse(body)).changes()
            times.append(time.perf_counter() - t)
        out[name] = times
        if profile == name:
            prof = cProfile.Profile()
            prof.enable()
            w.apply(w.parse(body)).changes()
            prof.disable()
            print(f"\n-- profile of {name} (cumulative, top 30) --", file=sys.stderr)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    return out


def full_run_seconds(w, bodies: list[dict]) -> float:
    """A full ``planner.pipeline.run`` of the scenario whose facilities layer is the plan's (written first, untimed)."""
    import geopandas as gpd
    import pandas as pd

    from planner.pipeline import run

    state = w.apply(w.parse(combined(bodies)))
    cols = w.scenario.facilities.columns
    fac = state.active
    data = {cols["id"]: fac["id"].astype(str), cols["name"]: fac["name"], cols["category"]: fac["category_zh"]}
    for key in ("places", "beds", "nursing_beds"):
        if key in cols:
            data[cols[key]] = fac[key].astype(float)
    if "public_benefit" in cols:
        data[cols["public_benefit"]] = fac["public_benefit"].map(lambda v: None if pd.isna(v) else ("是" if v else "否")).astype(object)
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp) / "facilities.gpkg"
        gpd.GeoDataFrame(data, geometry=fac.geometry.to_numpy(), crs=w.crs).to_file(layer, driver="GPKG")
        scenario = replace(w.scenario, facilities=replace(w.scenario.facilities, path=layer), siting=())
        t = time.perf_counter()
        run(scenario, report=lambda m: None)
        return time.perf_counter() - t


def _pct(times: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(times) * 1000.0, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", type=Path, default=REPO / "scenarios" / "demo.toml")
    ap.add_argument("--sizes", help="a generated city instead: 10k, 90k or 1m (/work/cities/<size>/city.toml)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--run-cache", type=Path, help="pickle of the run: written the first time, read afterwards")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-full-run", action="store_true", help="skip peer (a), the full run of the edited scenario")
    ap.add_argument("--before", type=Path, help="a checkout of planner whose what-if engine is timed as peer (b)")
    ap.add_argument("--profile", choices=CASES, help="print a cProfile of one request of this case (to stderr)")
    ap.add_argument("--json", action="store_true", help="(internal) print only the timings as JSON")
    args = ap.parse_args()
    scenario = CITIES / args.sizes / "city.toml" if args.sizes else args.scenario

    from planner.whatif import WhatIf

    t = time.perf_counter()
    result = load_run(scenario, args.run_cache)
    t_run = time.perf_counter() - t
    t = time.perf_counter()
    w = WhatIf(result)
    t_whatif = time.perf_counter() - t
    names = [c for c in args.cases.split(",") if c]
    cases = {k: v for k, v in edit_bodies(w).items() if k in names}
    timings = time_cases(w, cases, args.repeat, args.profile)
    if args.json:
        print(json.dumps(timings))
        return
    before = None
    if args.before is not None:
        env = {**os.environ, "PYTHONPATH": str(args.before)}
        cmd = [sys.executable, str(Path(__file__).resolve()), "--scenario", str(scenario), "--repeat", str(args.repeat), "--cases",
               ",".join(names), "--json"] + (["--run-cache", str(args.run_cache)] if args.run_cache else [])
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        before = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
        if before is None:
            print(f"peer (b) failed: {done.stderr[-2000:]}", file=sys.stderr)
    full = None if args.no_full_run else full_run_seconds(w, cases.get("add") or next(iter(cases.values())))

    print(f"scenario {scenario}: {len(w.compounds):,} compounds, {len(w.facilities):,} facilities, "
          f"graph of {w.reach.graph.n_nodes:,} nodes; run {'loaded' if args.run_cache and t_run < 30 else 'computed'} in {t_run:.1f} s, "
          f"WhatIf() {t_whatif:.2f} s")
    print(f"server-side latency of one edit (parse + apply + changes() of the whole plan), {args.repeat} repeats, ms")
    head = f"{'case':<8} {'edits':>5} {'p50':>8} {'p95':>8}"
    if before:
        head += f" {'before p50':>11} {'before/now':>11}"
    if full is not None:
        head += f" {'full run':>9} {'run/now':>8}"
    print(head)
    for name, times in timings.items():
        from planner.serve.plans import count_edits

        p50 = _pct(times, 50)
        line = f"{name:<8} {count_edits(combined(cases[name])):>5} {p50:>8.1f} {_pct(times, 95):>8.1f}"
        if before:
            b = _pct(before.get(name, [np.nan]), 50)
            line += f" {b:>11.1f} {b / p50:>10.1f}×"
        if full is not None:
            line += f" {full:>8.1f}s {full * 1000 / p50:>7.0f}×"
        print(line)
    if full is not None:
        print("full run: planner.pipeline.run of the edited scenario (the add case), compute only, no outputs written")


if __name__ == "__main__":
    main()
