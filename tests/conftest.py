"""Shared fixtures: the repository root, the shared real data folder, and one demo run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Output folder of ``planner run scenarios/demo.toml`` (run once per test session, through the CLI)."""
    from planner.cli import main

    out = tmp_path_factory.mktemp("demo_run")
    assert main(["run", str(ROOT / "scenarios" / "demo.toml"), "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="session")
def demo_result():
    """The demo scenario's :class:`planner.pipeline.RunResult`, computed once (report, workbook and base-map tests)."""
    from planner.pipeline import run
    from planner.scenario import load_scenario

    return run(load_scenario(ROOT / "scenarios" / "demo.toml"))
