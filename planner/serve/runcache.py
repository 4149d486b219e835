"""The saved run of `planner serve`: a scenario's :class:`~planner.pipeline.RunResult` kept on disk so that a
restarted server loads it in seconds instead of running the scenario again (a minute or more at a city's size).

The run is stored as a pickle in the server's own output folder (``<out>/.run/run.pickle``), written by this module
and read only when its fingerprint matches: the SHA-256 of the scenario file and of every input file it reads
(:meth:`Scenario.input_paths`), of planner's own code, the planner and Python versions. Any change to any of them
runs the scenario again.
Nothing a client sends ever reaches this module; a pickle is never read from anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from planner import __version__
from planner.outputs.write import file_sha256

__all__ = ["fingerprint", "load_or_run", "CACHE_DIR"]

CACHE_DIR = ".run"  # under the server's output folder


def code_digest() -> str:
    """SHA-256 of planner's own code and data files (``.py``, ``.js``, ``.toml``, ``.json``, ``.csv`` under the
    package, by relative path): a checkout of other code with the same version number is another planner."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in {".py", ".js", ".toml", ".json", ".csv"} and p.is_file()):
        h.update(path.relative_to(root).as_posix().encode("utf-8"))
        h.update(b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(scenario) -> dict:
    """What a saved run must match: planner's version and code, the Python version, each input file's path and
    SHA-256."""
    return {
        "planner": __version__,
        "code": code_digest(),
        "python": sys.version.split()[0],
        "inputs": [[str(p), file_sha256(p)] for p in scenario.input_paths()],
    }


def load_or_run(scenario, out_dir: Path, *, fresh: bool = False, report: Callable[[str], None] = lambda m: None):
    """The run of ``scenario``: loaded from ``out_dir/.run/`` when its fingerprint matches (and ``fresh`` is not
    set), else computed by :func:`planner.pipeline.run` and saved there. Returns ``(result, loaded)``.

    A saved run that cannot be read (a damaged file, an older format) is run again, with a message; saving is
    best-effort too — a full disk costs the next start's time, not this one.
    """
    from planner.pipeline import run

    folder = Path(out_dir) / CACHE_DIR
    data, meta = folder / "run.pickle", folder / "fingerprint.json"
    want = fingerprint(scenario)
    if not fresh and data.is_file() and meta.is_file():
        try:
            have = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            have = None
        if have == want:
            report(f"[运行 / run] 载入已保存的运行结果 / loading the saved run: {data.resolve()}")
            try:
                with open(data, "rb") as fh:
                    return pickle.load(fh), True
            except Exception as exc:  # noqa: BLE001 — any failure to read our own file means: run again
                report(f"[运行 / run] 已保存的运行结果无法读取（{type(exc).__name__}），重新运行 / the saved run cannot be read "
                       f"({type(exc).__name__}); running again")
        else:
            report("[运行 / run] 输入或版本已变，重新运行 / the inputs or the version changed; running again")
    result = run(scenario, report=report)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        meta.unlink(missing_ok=True)  # the old fingerprint never stands beside a new run
        tmp = folder / f".run.{secrets.token_hex(4)}.pickle"
        try:
            with open(tmp, "wb") as fh:
                pickle.dump(result, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, data)
        finally:
            tmp.unlink(missing_ok=True)
        meta.write_text(json.dumps(want, ensure_ascii=False, indent=1), encoding="utf-8")
        report(f"[运行 / run] 运行结果已保存，下次启动直接载入 / the run was saved for the next start: {data.resolve()}")
    except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
        report(f"[运行 / run] 未能保存运行结果（{exc}），下次启动将重新运行 / could not save the run ({exc}); the next start runs again")
    return result, False
