"""Two runs of one scenario give the same files, byte for byte (issue #13, deliverable 7).

The same commands — ``planner run`` (the demo, and a variant of it), ``planner compare`` of the two runs and
``planner check-layer`` — are run in two separate processes with different ``PYTHONHASHSEED``, into the same
folders (the first process's folder is moved aside before the second starts, so that paths written into the outputs
are the same). Every file is compared byte for byte; ``summary.json`` only after its timings, creation time and peak
memory are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# the commands of one "run": each is planner.cli.main(argv) in the same process, as `planner ...` would run them
_DRIVER = """
import sys
from planner.cli import main
root, scenario, variant, layers = sys.argv[1:5]
commands = [
    ["run", scenario, "--out", f"{root}/run", "-q"],
    ["run", variant, "--out", f"{root}/variant", "-q"],
    ["compare", f"{root}/run", f"{root}/variant", "--out", f"{root}/compare"],
    ["check-layer", f"{layers}/facilities.geojson", "--kind", "facilities", "--crs", "WGS84", "--out", f"{root}/check-facilities"],
    ["check-layer", f"{layers}/subdistricts.geojson", "--kind", "zones", "--crs", "WGS84", "--out", f"{root}/check-zones"],
]
for argv in commands:
    code = main(argv)
    if code:
        sys.exit(f"{argv}: exit {code}")
"""

#: keys of summary.json allowed to differ between two runs: when and how fast the run was, and its memory
_VOLATILE = {"created", "run_time_s", "write_time_s", "peak_rss_mib", "stage_peak_rss_mib"}


def _variant(demo: Path, folder: Path) -> Path:
    """The demo scenario walked at 60 m/min, without siting (a second run for ``planner compare``)."""
    text = demo.read_text(encoding="utf-8").replace("../layers/demo/", (ROOT / "layers" / "demo").as_posix() + "/")
    text = text.split("[[siting]]")[0].replace("walking_speed_m_per_min = 67", "walking_speed_m_per_min = 60")
    text = text.replace('name = "示例区 一刻钟生活圈缺口分析"', 'name = "示例区 慢行方案"')
    assert "= 60" in text and "示例区 慢行方案" in text and "[[siting]]" not in text
    path = folder / "variant.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _run(root: Path, variant: Path, seed: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    env.update(PYTHONHASHSEED=seed, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(root), str(ROOT / "scenarios" / "demo.toml"), str(variant), str(ROOT / "layers" / "demo")],
        env=env, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", errors="replace", check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr


def _stable_summary(path: Path) -> dict:
    summary = json.loads(path.read_text(encoding="utf-8"))
    for key in _VOLATILE:
        summary.pop(key, None)
    for siting in summary.get("siting", []):
        siting.pop("seconds", None)  # the solver's time
    return summary


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("determinism")
    (base / "scenario").mkdir()
    variant = _variant(ROOT / "scenarios" / "demo.toml", base / "scenario")
    work = base / "work"
    _run(work, variant, seed="1")
    first = base / "first"
    shutil.move(work, first)
    _run(work, variant, seed="2")
    return first, work


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_two_processes_write_the_same_files(two_runs: tuple[Path, Path]) -> None:
    first, second = two_runs
    names = _files(first)
    assert names == _files(second)
    for expected in ("run/index.html", "run/report.html", "run/report.xlsx", "run/compounds.gpkg", "run/sites.gpkg",
                     "run/subdistricts.gpkg", "run/compounds.parquet", "compare/compare.html", "compare/compare.xlsx",
                     "compare/compare.csv", "check-facilities/layer.gpkg", "check-zones/layer.gpkg"):
        assert expected in names
    differ = [n for n in names if not n.endswith("summary.json") and (first / n).read_bytes() != (second / n).read_bytes()]
    assert differ == []
    for name in (n for n in names if n.endswith("summary.json")):
        assert _stable_summary(first / name) == _stable_summary(second / name), name


def test_timestamps_are_the_fixed_epoch(two_runs: tuple[Path, Path]) -> None:
    """Without SOURCE_DATE_EPOCH every embedded timestamp is 1980-01-01 00:00 UTC (documented in the README)."""
    first, _ = two_runs
    for gpkg in ("run/compounds.gpkg", "run/sites.gpkg", "run/subdistricts.gpkg", "check-zones/layer.gpkg"):
        with sqlite3.connect(first / gpkg) as con:
            stamps = {row[0] for row in con.execute("SELECT last_change FROM gpkg_contents")}
        assert stamps == {"1980-01-01T00:00:00.000Z"}, gpkg
    for book in ("run/report.xlsx", "compare/compare.xlsx"):
        with zipfile.ZipFile(first / book) as zf:
            core = zf.read("docProps/core.xml").decode("utf-8")
            assert {info.date_time[:3] for info in zf.infolist()} == {(1980, 1, 31)}  # XlsxWriter's own
        assert '<dcterms:created xsi:type="dcterms:W3CDTF">1980-01-01T00:00:00Z</dcterms:created>' in core
        assert '<dcterms:modified xsi:type="dcterms:W3CDTF">1980-01-01T00:00:00Z</dcterms:modified>' in core
    summary = json.loads((first / "run" / "summary.json").read_text(encoding="utf-8"))
    assert not summary["created"].startswith("1980")  # the real time of the run stays in summary.json
