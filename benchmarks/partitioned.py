#!/usr/bin/env python
"""A province run in one process and partitioned on Dask (issue #16): wall time, memory, halo, identical tables.

The province is written by ``benchmarks/province.py`` (``--cities`` e2e cities of ``--side`` × ``--side`` nodes with
``--gap-km`` of empty land between them, one road linking neighbours; in a child process of its own, as e2e writes
its cities). Then, each in a subprocess timed with e2e's ``run_measured`` (wall clock, ``--cap`` seconds at most):

* ``python -m planner.cli run province.toml --out out_single -q``                     (one process)
* ``python -m planner.cli run province.toml --workers N --out out_partitioned -q``    (a Dask LocalCluster of N)

While each runs, every process below this script (the run, and the LocalCluster's worker processes it starts) is
sampled every 0.2 s (psutil): the client's peak RSS, each worker process's and the sum of all at any moment. The
workers' own peaks come from ``out_partitioned/partitions.csv`` (``peak_rss_mib`` per partition, measured inside the
worker); the halo overhead is Σ ``nodes_loaded`` over the partitions / the single run's network nodes − 1. Then
compounds.csv, catchments.csv, compliance.csv and subdistricts.csv of the two runs are compared byte for byte.

One markdown table is printed (and written to ``DIR/partitioned.md`` with ``--keep DIR``); its last line reads
``partitioned: … N× faster with 2 workers …``. Targets of issue #16: ≥ 1.7× with 2 workers on 2 cores, ≤ 2 GiB per
worker whatever the province's size.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/partitioned.py --quick                     # 3 cities × side 150 (~68 k nodes)
    PYTHONPATH=. .venv/bin/python benchmarks/partitioned.py                             # 6 × side 400 (~0.96 M nodes)
    PYTHONPATH=. .venv/bin/python benchmarks/partitioned.py --side 600 --keep /tmp/province --reuse   # ~2.2 M nodes, kept
    PYTHONPATH=. .venv/bin/python benchmarks/partitioned.py --partition layer          # partitions from cities.gpkg

Nothing is written into the repository; the province goes to a temp folder (or ``--keep DIR``; ``--reuse`` runs on
the province already there when it was generated with the same options).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from e2e import REPO, SEED, fmt_s, run_measured

BENCHMARKS = Path(__file__).resolve().parent
COMPARED = ("compounds.csv", "catchments.csv", "compliance.csv", "subdistricts.csv")
SCENARIOS = {"zones": "province.toml", "layer": "province_layer.toml"}
TARGET_SPEEDUP = 1.7
TARGET_WORKER_MIB = 2048.0
POLL_S = 0.2


class TreeMemory:
    """Peak RSS (MiB) of the processes below this one, sampled every ``POLL_S`` s while a run goes on: the direct
    child (the planner client), each deeper process (Dask's workers) and the sum of all at one moment."""

    def __init__(self) -> None:
        self.client = 0.0
        self.deeper: dict[int, float] = {}
        self.total = 0.0
        self.available = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        try:
            import psutil
        except ImportError:  # the bench extra: pip install -e '.[bench]'
            self.available = False
            return
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0.0
            try:
                direct = {p.pid for p in me.children(recursive=False)}
                procs = me.children(recursive=True)
            except psutil.Error:
                procs, direct = [], set()
            for p in procs:
                try:
                    mib = p.memory_info().rss / 2**20
                except psutil.Error:
                    continue
                total += mib
                if p.pid in direct:
                    self.client = max(self.client, mib)
                else:
                    self.deeper[p.pid] = max(self.deeper.get(p.pid, 0.0), mib)
            self.total = max(self.total, total)
            self._stop.wait(POLL_S)

    @property
    def worker(self) -> float:
        return max(self.deeper.values(), default=0.0)


def generate(folder: Path, args: argparse.Namespace) -> dict:
    """The province in folder: reused (``--reuse``, same options) or written by province.py in a child process (a
    child inherits its parent's peak RSS, so this process stays small)."""
    want = {"cities": args.cities, "side": args.side, "gap_km": args.gap_km, "seed": args.seed}
    info_file = folder / "province.json"
    if args.reuse and info_file.exists():
        info = json.loads(info_file.read_text(encoding="utf-8"))
        if {k: info.get(k) for k in want} == want:
            print(f"reusing the province in {folder}", flush=True)
            return info
        print(f"the province in {folder} was generated with other options ({ {k: info.get(k) for k in want} }): writing it again", flush=True)
    cmd = [sys.executable, str(BENCHMARKS / "province.py"), str(folder), "--cities", str(args.cities), "--side", str(args.side),
           "--gap-km", str(args.gap_km), "--seed", str(args.seed)]
    gen = subprocess.run(cmd, check=True, capture_output=True, text=True)
    info = json.loads(gen.stdout.strip().splitlines()[-1])
    info_file.write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
    print(f"generated {json.dumps(info, ensure_ascii=False)} in {folder}", flush=True)
    return info


def run(folder: Path, scenario: str, out_name: str, cap: float, workers: int | None) -> dict:
    """One ``planner run`` of the province, measured; its summary.json and (partitioned) partitions.csv read back."""
    out = folder / out_name
    if out.exists():
        shutil.rmtree(out)  # never compare against an earlier run's files
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "planner.cli", "run", str(folder / scenario), "--out", str(out), "-q"]
    if workers:
        cmd += ["--workers", str(workers)]
    with TreeMemory() as tree:
        res = run_measured(cmd, cap, folder / f"planner_{out_name}.log", env)
    res["out"] = out
    res["tree"] = tree
    summary = out / "summary.json"
    res["summary"] = json.loads(summary.read_text(encoding="utf-8")) if summary.exists() and not res["capped"] else {}
    res["partitions"] = read_partitions(out / "partitions.csv")
    return res


def read_partitions(path: Path):
    """partitions.csv (the contract: partition, name, compounds, facilities, zones, ways_loaded, nodes_loaded,
    edges_loaded, edges_owned, seconds, peak_rss_mib, worker, attempts, status) or None."""
    if not path.exists():
        return None
    import pandas as pd

    return pd.read_csv(path, encoding="utf-8-sig")


def identical(a: Path, b: Path) -> dict[str, str]:
    """Per compared table: "same", "DIFFERENT" or "missing" (in either folder)."""
    out = {}
    for name in COMPARED:
        if not (a / name).exists() or not (b / name).exists():
            out[name] = "missing"
        else:
            out[name] = "same" if filecmp.cmp(a / name, b / name, shallow=False) else "DIFFERENT"
    return out


def machine() -> str:
    import platform

    line = f"machine: {os.cpu_count()} logical CPUs"
    try:
        import psutil

        line += f", {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"
    except ImportError:
        pass
    return line + ", load avg {:.2f} {:.2f} {:.2f}; ".format(*os.getloadavg()) + f"{platform.system()} {platform.release()}"


def _mib(v: float | None) -> str:
    return "—" if v is None or v != v or v <= 0 else f"{v:,.0f}"


def report(info: dict, args: argparse.Namespace, single: dict, part: dict) -> str:
    """The comparison table (markdown) with a header and a last line stating the ratios against the targets."""
    scenario = SCENARIOS[args.partition]
    net_nodes = single["summary"].get("network", {}).get("nodes")
    nodes = net_nodes or info["nodes"]
    parts = part["partitions"]
    n_parts = "?" if parts is None else len(parts)
    statuses = "" if parts is None else ", ".join(f"{k} {v}" for k, v in parts["status"].value_counts().sort_index().items())
    head = [
        f"## partitioned: {info['cities']} cities × {info['side']}² = {info['nodes']:,} nodes, {info['edges']:,} edges, "
        f"{info['compounds']:,} compounds, {info['facilities']:,} facilities, {info['zones']:,} 街道 "
        f"(generated in {info['generate_s']} s); {scenario}: {n_parts} partitions{f' ({statuses})' if statuses else ''}, "
        f"--workers {args.workers}",
        "",
        machine(),
        "",
        "| run | wall s | speed-up | client peak MiB | per-worker peak MiB | all processes MiB | halo overhead | identical to single |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    # single: the process's own peak (wait4 rusage) and the polled one agree; take the larger
    s_peak = max(single["peak_mib"], single["tree"].client)
    s_status = "" if single["rc"] == 0 or single["capped"] else f" (exit {single['rc']}, see {single['log']})"
    ok_single = single["rc"] == 0 and not single["capped"]
    rows = [f"| single process{s_status} | {fmt_s(single, single['wall_s'])} | {'1.00×' if ok_single else '—'} | {_mib(s_peak)} | — | "
            f"{_mib(max(single['tree'].total, s_peak))} | — | — |"]

    ok_part = part["rc"] == 0 and not part["capped"]
    if ok_single and ok_part:
        k = single["wall_s"] / part["wall_s"]
        speed = f"{k:.2f}×"
    elif part["capped"] and ok_single:
        k, speed = None, f"< {single['wall_s'] / args.cap:.2f}×"
    elif single["capped"] and ok_part:
        k, speed = None, f"> {args.cap / part['wall_s']:.2f}×"
    else:
        k, speed = None, "—"
    worker_csv = float(parts["peak_rss_mib"].max()) if parts is not None and len(parts) else None
    polled = part["tree"].worker
    worker = (f"{_mib(worker_csv)} (polled {_mib(polled)})" if worker_csv else
              (f"polled {_mib(polled)}" if polled else "—"))
    halo, overhead = "—", None
    if parts is not None and len(parts):
        loaded = int(parts["nodes_loaded"].sum())
        overhead = loaded / nodes - 1
        halo = f"{overhead:+.1%} ({loaded:,} / {nodes:,} nodes)"
    same = identical(single["out"], part["out"]) if ok_single and ok_part else {}
    n_same = sum(v == "same" for v in same.values())
    same_txt = (f"{n_same}/{len(COMPARED)}: " + ", ".join(f"{n} {'✓' if v == 'same' else v}" for n, v in same.items())) if same else "—"
    p_status = "" if part["rc"] == 0 or part["capped"] else f" (exit {part['rc']}, see {part['log']})"
    rows.append(f"| --workers {args.workers}{p_status} | {fmt_s(part, part['wall_s'])} | {speed} | {_mib(part['tree'].client)} | "
                f"{worker} | {_mib(part['tree'].total)} | {halo} | {same_txt} |")

    notes = ["", f"nodes: the single run's walk network ({nodes:,})" if net_nodes else
             f"nodes: the generator's count ({nodes:,}; the single run wrote no summary.json)"]
    stages = part["summary"].get("run_time_s", {})
    if stages:
        notes.append("partitioned run, seconds per stage (summary.json): " + ", ".join(f"{n} {s:.1f}" for n, s in stages.items()))
    if parts is not None and "attempts" in parts and (parts["attempts"] > 1).any():
        notes.append(f"retried partitions: {', '.join(str(p) for p in parts.loc[parts['attempts'] > 1, 'partition'])}")

    if k is None:
        last = f"partitioned: no ratio (single {fmt_s(single, single['wall_s'])} s rc {single['rc']}, " \
               f"partitioned {fmt_s(part, part['wall_s'])} s rc {part['rc']})"
    else:
        verdict = "faster" if k >= 1 else "— SLOWER than the single run"
        last = (f"partitioned: {k:.2f}× {verdict} with {args.workers} workers "
                f"({'meets' if k >= TARGET_SPEEDUP else 'BELOW'} the target ≥ {TARGET_SPEEDUP}×)")
    top = worker_csv or polled or None
    if top:
        last += f", worker peak {top:,.0f} MiB ({'within' if top <= TARGET_WORKER_MIB else 'ABOVE'} the target ≤ 2 GiB)"
    if overhead is not None:
        last += f", halo {overhead:+.1%} nodes"
    if same:
        last += f", {n_same}/{len(COMPARED)} tables byte-identical" + ("" if n_same == len(COMPARED) else " — NOT IDENTICAL")
    return "\n".join(head + rows + notes + ["", last])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cities", type=int, default=6, help="cities in the province (default 6)")
    ap.add_argument("--side", type=int, default=400, help="nodes per side of each city's grid (default 400: ~160 k nodes a city)")
    ap.add_argument("--gap-km", type=float, default=10.0, help="empty land between neighbouring cities' 街道, km (default 10)")
    ap.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes of the partitioned run (default 2)")
    ap.add_argument("--partition", choices=sorted(SCENARIOS), default="zones",
                    help="zones: 街道 grouped by 区县 (province.toml, default); layer: the polygons of cities.gpkg (province_layer.toml)")
    ap.add_argument("--quick", action="store_true", help="3 cities × side 150 (~68 k nodes)")
    ap.add_argument("--cap", type=float, default=900.0, help="time cap per run, seconds (default 900)")
    ap.add_argument("--keep", metavar="DIR", help="write the province, both runs' outputs and partitioned.md into DIR and keep them")
    ap.add_argument("--reuse", action="store_true", help="with --keep: run on the province already in DIR (when generated with the same options)")
    args = ap.parse_args(argv)
    if args.quick:
        args.cities, args.side = 3, 150
    if args.reuse and not args.keep:
        ap.error("--reuse needs --keep DIR")
    if args.cities < 2 or args.workers < 1:
        ap.error("--cities ≥ 2 and --workers ≥ 1 expected")

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="partitioned_")
    folder = Path(args.keep or tmp.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        info = generate(folder, args)
        scenario = SCENARIOS[args.partition]
        single = run(folder, scenario, "out_single", args.cap, None)
        print(f"single process: {fmt_s(single, single['wall_s'])} s, rc {single['rc']}", flush=True)
        part = run(folder, scenario, "out_partitioned", args.cap, args.workers)
        print(f"--workers {args.workers}: {fmt_s(part, part['wall_s'])} s, rc {part['rc']}", flush=True)
        table = report(info, args, single, part)
        print(table, flush=True)
        if args.keep:
            (folder / "partitioned.md").write_text(table + "\n", encoding="utf-8")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
