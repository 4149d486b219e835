"""Scenario values that used to run with a wrong answer or end in an internal error are refused by name (#13)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from planner.cli import main
from planner.errors import ScenarioError
from planner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _scenario(tmp_path: Path, edit) -> Path:
    text = (ROOT / "scenarios" / "demo.toml").read_text(encoding="utf-8").replace("../layers/demo/", str(ROOT / "layers" / "demo") + "/")
    path = tmp_path / "s.toml"
    path.write_text(edit(text), encoding="utf-8")
    return path


def _set(text: str, key: str, value: str) -> str:
    """``key = value`` in [population], replacing the demo's own line when it has one."""
    import re

    if re.search(rf"^{key}\s*=", text, flags=re.M):
        return re.sub(rf"^{key}\s*=.*$", f"{key} = {value}", text, count=1, flags=re.M)
    return text.replace("[population]", f"[population]\n{key} = {value}", 1)


def _top(line: str):
    return lambda text: text.replace('sample_data = true', f'sample_data = true\n{line}', 1) if not line.startswith("sample_data") \
        else text.replace("sample_data = true", line, 1)


@pytest.mark.parametrize(("edit", "words"), [
    (_top('search_limit_m = 100'), "search_limit_m = 100 米短于最长阈值"),  # coverage would be cut at 100 m
    (lambda t: t.replace('crs = "auto"', 'crs = "EPSG:99999"'), "无法识别"),
    (lambda t: t.replace('crs = "auto"', 'crs = "EPSG:3857"'), "Web Mercator"),
    (lambda t: t.replace('crs = "auto"', 'crs = "EPSG:4326"'), "不是以米为单位的投影坐标系"),
    (_top('sample_data = "false"'), "sample_data must be true or false"),
    (lambda t: _set(t, "persons_per_household", "0"), "persons_per_household 必须大于 0"),
    (lambda t: _set(t, "share_60_plus", "nan"), "share_60_plus 必须是非负的有限数"),
    (lambda t: _set(t, "floor_area_per_person_m2", "inf"), "floor_area_per_person_m2"),
    (lambda t: t.replace('every_zone = true ', 'every_zone = "false" ', 1), "every_zone must be true or false"),
])
def test_bad_values_are_refused_by_name(tmp_path: Path, edit, words):
    path = _scenario(tmp_path, edit)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert words in str(err.value)


def test_rule_keywords_must_be_a_list_and_overrides_finite(tmp_path: Path):
    def edit(text: str) -> str:
        text = text.replace("[layers.facilities.columns]", '[[layers.facilities.rules]]\ncategory = "post_parcel"\nkeywords = "菜鸟驿站"\n\n'
                            "[layers.facilities.columns]", 1)
        return text + '\n[standards.overrides]\n"childcare.places_per_1000" = -5\n'
    with pytest.raises(ScenarioError) as err:
        load_scenario(_scenario(tmp_path, edit))
    text = str(err.value)
    assert "keywords must be a list of texts" in text and "the target must be a finite number ≥ 0, got -5" in text


def test_a_crs_far_from_the_study_area_is_refused(tmp_path: Path, capsys):
    path = _scenario(tmp_path, lambda t: t.replace('crs = "auto"', 'crs = "EPSG:32601"'))  # UTM zone 1, for 120° E data
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "distorts distances by about" in err and "auto" in err


def test_compare_of_a_damaged_run_names_the_file(tmp_path: Path, demo_run: Path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(demo_run, broken)
    (broken / "compliance.csv").write_text("x\n1\n", encoding="utf-8")
    assert main(["compare", str(broken), str(demo_run), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "compliance.csv" in err and "damaged" in err and "Traceback" not in err


def test_demo_data_never_overwrites_other_files(tmp_path: Path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["demo-data", "--out", str(mine)]) == 2
    assert "notes.txt" in capsys.readouterr().err and not (mine / "roads.geojson").exists()
    assert main(["demo-data", "--out", str(tmp_path / "afile.txt")]) == 0  # a new folder (even with a dot in its name)
    (tmp_path / "f").write_text("x", encoding="utf-8")
    assert main(["demo-data", "--out", str(tmp_path / "f")]) == 2
    assert main(["demo-data", "--out", ""]) == 2
