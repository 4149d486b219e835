"""Shared fixtures: the repository root, the shared real data folder, and one demo run per session."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """The demo scenario in a folder of its own, its layers beside it (as a bureau keeps a project)."""
    import shutil

    folder = tmp_path / "project"
    folder.mkdir()
    for f in (ROOT / "layers" / "demo").glob("*.geojson"):
        shutil.copy(f, folder / f.name)
    text = (ROOT / "scenarios" / "demo.toml").read_text(encoding="utf-8").replace("../layers/demo/", "")
    (folder / "demo.toml").write_text(text, encoding="utf-8")
    return folder


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


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium (Selenium, the system chromedriver, offline, 1280×720) shared by the browser tests.

    Skipped, with the reason, where Chromium, chromedriver or Selenium is missing (``.ci/run`` installs them).
    """
    from _browser import browser_missing, start_browser

    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    chrome = start_browser(workdir=tmp_path_factory.mktemp("chromedriver"))
    yield chrome
    chrome.quit()
