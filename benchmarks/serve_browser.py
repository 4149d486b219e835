"""Edit latency of `planner serve` as a planner sees it: in headless Chromium, from the request to the redrawn map.

    .venv/bin/python benchmarks/serve_browser.py                                   # the demo
    .venv/bin/python benchmarks/serve_browser.py --scenario /work/cities/1m/city.toml --edits 12
    .venv/bin/python benchmarks/serve_browser.py --run-pickle run.pkl              # a RunResult pickled earlier

The scenario is run once (or the pickle loaded), served by uvicorn on a free loopback port and opened in Chromium
(Debian's ``chromium`` + ``chromium-driver``). Then ``--edits`` edits (adds of the first three analysed categories at
seeded random points in the middle of the study area, every fourth a removal of a random facility) go through the
editor's own code (``plannerServe.edit``), twice: with the map at street zoom (``--zoom``, 15: where a planner
places a facility) and at the whole-city zoom the page opens with. The editor times each one with
``performance.now()``: the request (server work, transfer, JSON parsed), ``show`` (the answer applied to the map's
tables) and the frames drawn after it. One edit in a fresh plan and a plan's later edits differ (a plan re-applies
all its edits): both are in the table.

The peer is what a planner did before `planner serve`: a full ``planner.pipeline.run`` of the edited scenario (maps
and report not even written), timed once here. Ratios are that time ÷ the edit's p50.
"""

from __future__ import annotations

import argparse
import pickle
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_browser():
    """Headless Chromium as the tests start it (tests/_browser.py: offline, system chromedriver), the server's
    loopback address excepted from its dead resolver."""
    sys.path.insert(0, str(ROOT / "tests"))
    import _browser

    _browser._ARGS = tuple(a.replace("MAP * ~NOTFOUND", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1") for a in _browser._ARGS)
    browser = _browser.start_browser(workdir=Path(tempfile.mkdtemp(prefix="serve_browser_")))
    browser.driver.set_script_timeout(300)
    return browser


def serve(result, out: Path):
    import uvicorn

    from planner.serve.app import create_app

    t = time.perf_counter()
    app = create_app(result, out_dir=out)
    started = time.perf_counter() - t
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}/", started


def wait(driver, expression: str, timeout_s: float = 300.0):
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        value = driver.execute_script(f"return {expression};")
        if value:
            return value
        time.sleep(0.03)
    raise TimeoutError(expression)


def session(driver, url: str, result, *, edits: int, zoom: int | None, seed: int) -> list[dict]:
    """One plan of ``edits`` edits; per edit its kind, total and split (ms)."""
    driver.get(url)
    driver.execute_script("sessionStorage.clear();")
    driver.get(url)
    wait(driver, "typeof plannerServe !== 'undefined' && plannerServe.state !== null && plannerApp.map !== undefined")
    state = driver.execute_script("return plannerServe.state;")
    x0, y0, x1, y1 = state["bounds"]
    cats = [c["key"] for c in state["categories"] if c["analysed"]][:3]
    ids = result.facilities["id"].astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(edits):
        lon, lat = rng.uniform(x0 + 0.3 * (x1 - x0), x0 + 0.7 * (x1 - x0)), rng.uniform(y0 + 0.3 * (y1 - y0), y0 + 0.7 * (y1 - y0))
        body = {"remove": [str(ids[int(rng.integers(len(ids)))])]} if k % 4 == 3 else \
            {"add": [{"category": cats[k % len(cats)], "lon": float(lon), "lat": float(lat)}]}
        if zoom is not None:
            driver.execute_script("window.__framed = false; plannerApp.map.setView([arguments[0], arguments[1]], arguments[2], {animate: false});"
                                  "requestAnimationFrame(() => requestAnimationFrame(() => { window.__framed = true; }));", float(lat), float(lon), zoom)
            wait(driver, "window.__framed")
        before = driver.execute_script("return plannerServe.answers;")
        driver.execute_script("plannerServe.edit(arguments[0]);", body)
        wait(driver, f"plannerServe.answers > {before} && !plannerServe.busy")
        split = driver.execute_script("return plannerServe.lastSplit;")
        rows.append({"kind": "remove" if "remove" in body else "add", "ms": driver.execute_script("return plannerServe.lastMs;"), **split})
    return rows


def p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "demo.toml"))
    ap.add_argument("--run-pickle", default=None, help="a pickled RunResult of the scenario (skips the run)")
    ap.add_argument("--edits", type=int, default=12)
    ap.add_argument("--zoom", type=int, default=15)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)

    from planner.pipeline import run
    from planner.scenario import load_scenario

    t = time.perf_counter()
    if args.run_pickle:
        with open(args.run_pickle, "rb") as fh:
            result = pickle.load(fh)
        peer_s = None
    else:
        result = run(load_scenario(args.scenario), report=lambda m: None)
    run_s = time.perf_counter() - t
    peer_s = run_s if not args.run_pickle else None
    if peer_s is None:  # the peer: one full run of the scenario
        t = time.perf_counter()
        run(result.scenario, report=lambda m: None)
        peer_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        server, url, started = serve(result, Path(tmp))
        browser = start_browser()
        driver = browser.driver
        try:
            t = time.perf_counter()
            driver.get(url)
            wait(driver, "typeof plannerServe !== 'undefined' && plannerServe.state !== null")
            page_s = time.perf_counter() - t
            cases = {f"street zoom {args.zoom}": session(driver, url, result, edits=args.edits, zoom=args.zoom, seed=args.seed),
                     "whole city": session(driver, url, result, edits=args.edits, zoom=None, seed=args.seed + 1)}
        finally:
            browser.quit()
            server.should_exit = True
    n_comp = len(result.compounds)
    print(f"# planner serve in Chromium — {result.scenario.name}: {n_comp:,} compounds, {len(result.facilities):,} facilities, "
          f"{result.network.streets.n_edges:,} edges")
    print(f"server ready in {started:.1f} s (engine, map data, warm-up); page ready in {page_s:.1f} s; "
          f"peer: a full run of the scenario {peer_s:.1f} s")
    print()
    print("| map | edits | first edit ms | p50 ms | p95 ms | max ms | request p50 | show p50 | frames p50 | full run ÷ p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, rows in cases.items():
        ms = [r["ms"] for r in rows]
        med = statistics.median(ms)
        print(f"| {name} | {len(rows)} | {ms[0]:.0f} | {med:.0f} | {p(ms, 95):.0f} | {max(ms):.0f} | "
              f"{statistics.median(r['request'] for r in rows):.0f} | {statistics.median(r['show'] for r in rows):.0f} | "
              f"{statistics.median(r['frames'] for r in rows):.0f} | {peer_s * 1000 / med:,.0f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
