"""The saved run of `planner serve` (planner.serve.runcache): loaded only when every input and the version match."""

from __future__ import annotations

from pathlib import Path

import pytest

import planner.pipeline
from planner.serve.runcache import CACHE_DIR, load_or_run


class _Scenario:
    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def input_paths(self) -> tuple[Path, ...]:
        return tuple(sorted(self.paths))


@pytest.fixture
def runs(monkeypatch):
    """planner.pipeline.run replaced by a counter whose results are small dicts (picklable, told apart by number)."""
    calls = []

    def fake(scenario, report=None):
        calls.append(scenario)
        return {"run": len(calls)}

    monkeypatch.setattr(planner.pipeline, "run", fake)
    return calls


def test_second_start_loads_the_saved_run(tmp_path, runs):
    a = tmp_path / "a.toml"
    a.write_text("name = 'x'\n", encoding="utf-8")
    said = []
    first, loaded1 = load_or_run(_Scenario([a]), tmp_path / "out", report=said.append)
    second, loaded2 = load_or_run(_Scenario([a]), tmp_path / "out", report=said.append)
    assert (first, loaded1) == ({"run": 1}, False)
    assert (second, loaded2) == ({"run": 1}, True) and len(runs) == 1
    assert any("载入已保存的运行结果" in m for m in said)
    assert (tmp_path / "out" / CACHE_DIR / "run.pickle").is_file()


def test_a_changed_input_runs_again(tmp_path, runs):
    a, b = tmp_path / "a.toml", tmp_path / "roads.geojson"
    a.write_text("name = 'x'\n", encoding="utf-8")
    b.write_text("{}", encoding="utf-8")
    load_or_run(_Scenario([a, b]), tmp_path / "out")
    b.write_text("{ }", encoding="utf-8")  # same name, other bytes
    result, loaded = load_or_run(_Scenario([a, b]), tmp_path / "out")
    assert (result, loaded) == ({"run": 2}, False)
    assert load_or_run(_Scenario([a]), tmp_path / "out") == ({"run": 3}, False)  # one input fewer


def test_fresh_and_damaged_runs_again(tmp_path, runs):
    a = tmp_path / "a.toml"
    a.write_text("name = 'x'\n", encoding="utf-8")
    load_or_run(_Scenario([a]), tmp_path / "out")
    assert load_or_run(_Scenario([a]), tmp_path / "out", fresh=True) == ({"run": 2}, False)
    (tmp_path / "out" / CACHE_DIR / "run.pickle").write_bytes(b"not a pickle")
    said = []
    assert load_or_run(_Scenario([a]), tmp_path / "out", report=said.append) == ({"run": 3}, False)
    assert any("无法读取" in m for m in said)
    assert load_or_run(_Scenario([a]), tmp_path / "out") == ({"run": 3}, True)
