"""Outputs never touch inputs, and a run replaces its output folder whole or not at all (issue #13, deliverable 1)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from planner.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_output_folder_holding_the_inputs_is_refused_before_anything_is_written(project: Path, capsys):
    before = _digests(project)
    assert main(["run", str(project / "demo.toml"), "--out", str(project), "-q"]) == 2
    err = capsys.readouterr().err
    assert "含有输入文件" in err and "holds the input" in err and "Traceback" not in err
    assert _digests(project) == before  # nothing replaced, nothing added
    # an ancestor of the inputs is refused too
    assert main(["run", str(project / "demo.toml"), "--out", str(project.parent), "-q"]) == 2
    assert not [p for p in project.parent.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_folder_with_other_files_is_refused_unless_forced(project: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "会议纪要.docx").write_bytes(b"not planner's")
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 2
    assert "会议纪要.docx" in capsys.readouterr().err
    assert (out / "会议纪要.docx").exists()
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q", "--force"]) == 0
    assert not (out / "会议纪要.docx").exists() and (out / "summary.json").exists()


def test_rerun_replaces_an_earlier_run_as_a_whole(project: Path, tmp_path: Path):
    out = tmp_path / "out"
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 0
    # an earlier run that wrote one more file (e.g. sites.csv of a task since removed from the scenario)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["outputs"]["old_task"] = "sites_old.csv"
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False), encoding="utf-8")
    (out / "sites_old.csv").write_text("stale", encoding="utf-8")
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 0
    assert not (out / "sites_old.csv").exists()  # no stale file beside the new run
    listed = set(json.loads((out / "summary.json").read_text(encoding="utf-8"))["outputs"].values())
    assert {p.name for p in out.iterdir()} == listed | {"summary.json"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # staging and old folders removed


def test_failed_run_leaves_the_previous_outputs_as_they_were(project: Path, tmp_path: Path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 0
    before = _digests(out)
    (project / "roads.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 2  # no walkable road: fails mid-run
    assert "Traceback" not in capsys.readouterr().err
    assert _digests(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_output_path_that_is_a_file_or_under_a_file_is_refused(project: Path, tmp_path: Path, capsys):
    a_file = tmp_path / "report.txt"
    a_file.write_text("x", encoding="utf-8")
    assert main(["run", str(project / "demo.toml"), "--out", str(a_file), "-q"]) == 2
    assert "是一个文件" in capsys.readouterr().err
    assert main(["run", str(project / "demo.toml"), "--out", str(a_file / "out"), "-q"]) == 2
    assert "无法在" in capsys.readouterr().err  # cannot write there: said before any analysis
    assert a_file.read_text(encoding="utf-8") == "x"


def test_internal_fault_exits_1_without_a_traceback_unless_verbose(project: Path, tmp_path: Path, capsys, monkeypatch):
    """Bad input exits 2 with a PlannerError message; a fault of planner itself exits 1 with a short bilingual
    message, the traceback only under -v — and the output folder is left as it was."""
    import planner.pipeline

    def broken(*args, **kwargs):
        raise RuntimeError("模拟的故障 / a simulated fault")

    monkeypatch.setattr(planner.pipeline, "run", broken)
    out = tmp_path / "out"
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "内部错误" in err and "internal error" in err and "simulated fault" in err and "Traceback" not in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert main(["-v", "run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_an_output_name_too_long_for_the_file_system_is_a_clear_error(project: Path, tmp_path: Path, capsys):
    out = tmp_path / ("输出" * 50)  # 300 bytes in UTF-8: over the 255-byte limit of a file name
    assert main(["run", str(project / "demo.toml"), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "无法使用输出文件夹" in err and "choose a shorter" in err and "Traceback" not in err


def test_siting_candidates_are_inputs_too(project: Path, capsys):
    import geopandas as gpd
    from shapely.geometry import Point

    cands = project / "cands"
    cands.mkdir()
    gpd.GeoDataFrame({"name": ["候选一"]}, geometry=[Point(120.9, 32.0)], crs=4326).to_file(cands / "c.gpkg", driver="GPKG")
    text = (project / "demo.toml").read_text(encoding="utf-8").replace(
        'name = "新增综合性养老服务中心"', 'name = "新增综合性养老服务中心"\ncandidates = "cands/c.gpkg"')
    (project / "demo.toml").write_text(text, encoding="utf-8")
    before = _digests(cands)
    assert main(["run", str(project / "demo.toml"), "--out", str(cands), "-q", "--force"]) == 2
    assert "含有输入文件" in capsys.readouterr().err and _digests(cands) == before


def test_a_failed_final_move_keeps_the_finished_outputs_and_says_where(tmp_path: Path, monkeypatch):
    from planner.outputs import folder

    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"outputs": {}}', encoding="utf-8")  # an earlier run's folder
    staged = folder.stage_output(out, [])
    (staged.path / "index.html").write_text("新结果", encoding="utf-8")
    real = folder.os.replace

    def refuse_staging(src, dst):
        if Path(src) == staged.path:
            raise PermissionError(13, "Permission denied")
        return real(src, dst)

    monkeypatch.setattr(folder.os, "replace", refuse_staging)
    with pytest.raises(folder.OutputFolderError) as err:
        staged.commit()
    staged.discard()  # what the CLI does after any failure
    assert str(staged.path) in str(err.value) and "another program" in str(err.value)
    assert (staged.path / "index.html").exists()  # the finished outputs are kept
    assert (out / "summary.json").exists()  # and the earlier run is back in place


def test_the_output_folder_keeps_ordinary_permissions(tmp_path: Path):
    from planner.outputs.folder import stage_output

    staged = stage_output(tmp_path / "new", [])
    old = os.umask(0)
    os.umask(old)
    assert staged.path.stat().st_mode & 0o777 == 0o777 & ~old  # not mkdtemp's private 0700
    out = tmp_path / "shared"
    out.mkdir()
    out.chmod(0o775)
    (out / "summary.json").write_text('{"outputs": {}}', encoding="utf-8")
    assert stage_output(out, []).commit().stat().st_mode & 0o777 == 0o775
