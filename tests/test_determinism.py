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
import re
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
    """The demo scenario, adults walking at 60 m/min, without siting (a second run for ``planner compare``)."""
    text = demo.read_text(encoding="utf-8").replace("../layers/demo/", (ROOT / "layers" / "demo").as_posix() + "/")
    text = text.split("[[siting]]")[0].replace("adults = 67", "adults = 60")
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


# ---- the pieces, one at a time ------------------------------------------------------------------------------------

_DEC_2025 = "1764547200"  # 2025-12-01T00:00:00Z: (55 × 365 + 14 leap days + 334 days of 2025) × 86 400 s


def test_source_date_epoch_sets_every_timestamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    from shapely.geometry import Point

    from planner.outputs.excel import write_tables
    from planner.outputs.reproducible import file_time, shown_date, write_gpkg

    assert (55 * 365 + 14 + 334) * 86_400 == int(_DEC_2025)
    frame = gpd.GeoDataFrame({"name": ["养老驿站"]}, geometry=[Point(120.9, 32.0)], crs=4326)
    table = pd.DataFrame({"a": [1, 2]})
    for epoch, gpkg_stamp, xlsx_stamp, date in (
        (None, "1980-01-01T00:00:00.000Z", "1980-01-01T00:00:00Z", None),
        (_DEC_2025, "2025-12-01T00:00:00.000Z", "2025-12-01T00:00:00Z", "2025-12-01"),
    ):
        if epoch is None:
            monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
        else:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        assert shown_date() == date and file_time().isoformat().startswith(gpkg_stamp[:19])
        folder = tmp_path / (epoch or "unset")
        folder.mkdir()
        for i in (1, 2):
            write_gpkg(frame, folder / f"{i}.gpkg", layer="facilities")
            write_tables([("x", table)], folder / f"{i}.xlsx")
        assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # set for those writes only
        with sqlite3.connect(folder / "1.gpkg") as con:
            assert con.execute("SELECT last_change FROM gpkg_contents").fetchall() == [(gpkg_stamp,)]
        with zipfile.ZipFile(folder / "1.xlsx") as zf:
            assert f">{xlsx_stamp}</dcterms:created>" in zf.read("docProps/core.xml").decode("utf-8")
        for ext in ("gpkg", "xlsx"):
            assert (folder / f"1.{ext}").read_bytes() == (folder / f"2.{ext}").read_bytes()


@pytest.mark.parametrize("value", ["abc", "-5", "1.5e9", "100", "99999999999999"])
def test_a_malformed_source_date_epoch_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.errors import PlannerError
    from planner.outputs.reproducible import source_date

    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(PlannerError, match="SOURCE_DATE_EPOCH") as err:
        source_date()
    assert " / " in str(err.value) and "环境变量" in str(err.value)


def test_the_generation_date_is_printed_only_from_source_date_epoch(demo_result, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner.outputs.report import build_report

    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    page = build_report(demo_result, embed_font=False)
    assert "生成于" not in page and "分析用时" not in page  # no date, no seconds: the same page every run
    monkeypatch.setenv("SOURCE_DATE_EPOCH", _DEC_2025)
    assert "生成于 2025-12-01 · planner" in build_report(demo_result, embed_font=False)


def _plain_map():
    import folium
    from folium.plugins import Fullscreen, MiniMap

    fmap = folium.Map(location=[32.0, 120.9], zoom_start=14, tiles=None)
    folium.CircleMarker([32.0, 120.9], radius=4, tooltip="养老驿站").add_to(fmap)
    folium.GeoJson({"type": "Point", "coordinates": [120.91, 32.01]}, name="points").add_to(fmap)
    MiniMap().add_to(fmap)
    Fullscreen().add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def test_map_element_ids_are_counted_not_random(tmp_path: Path) -> None:
    from planner.outputs.maps import save_map
    from planner.outputs.reproducible import stable_ids

    _plain_map().save(str(tmp_path / "r1.html"))
    _plain_map().save(str(tmp_path / "r2.html"))
    assert (tmp_path / "r1.html").read_bytes() != (tmp_path / "r2.html").read_bytes()  # folium's own ids are random
    for name in ("a.html", "b.html"):
        with stable_ids():
            save_map(_plain_map(), tmp_path / name)
    page = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert page == (tmp_path / "b.html").read_text(encoding="utf-8")
    assert re.search(r"\bmap_[0-9a-f]{8}\b", page) and re.search(r"\bmini_map_[0-9a-f]{8}\b", page)
    assert not re.search(r"_[0-9a-f]{32}\b", page)  # no random id is left
    from branca.element import Element

    assert len(Element()._id) == 32  # the library's own ids are back outside the block


def test_embedded_fonts_keep_their_own_date() -> None:
    import base64
    import io

    from fontTools.ttLib import TTCollection, TTFont

    from planner.outputs import charts
    from planner.outputs.fonts import font_faces

    rules = font_faces("<p>养老服务 ✔ ✘</p>")
    fonts = [TTFont(io.BytesIO(base64.b64decode(b))) for b in re.findall(r"base64,([A-Za-z0-9+/=]+)", rules)]
    assert len(fonts) == 2
    import matplotlib

    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    with TTCollection(str(charts.cjk_font_path()), lazy=True) as faces, TTFont(str(dejavu), lazy=True) as symbols:
        sc = [f for f in faces.fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC"]
        assert len(sc) == 1 and fonts[0]["head"].modified == sc[0]["head"].modified
        assert fonts[1]["head"].modified == symbols["head"].modified
    assert font_faces("<p>服务养老 ✘ ✔</p>") == rules  # the same characters in another order: the same bytes
