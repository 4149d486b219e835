"""Packaging: pyproject.toml and environment.yml list the same dependencies; the README gives exactly two set-up commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

# pip name -> conda-forge name where they differ
CONDA_NAME = {"osmium": "pyosmium"}
# not on conda-forge: installed through the pip: section of environment.yml
PIP_ONLY = {"django-js-lib-leaflet", "noto-cjk-sans-otc"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _env_lists(repo_root: Path) -> tuple[set[str], set[str]]:
    conda, pip, in_pip = set(), set(), False
    text = (repo_root / "environment.yml").read_text(encoding="utf-8")
    for raw in text.split("\ndependencies:", 1)[1].splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip().startswith("- "):
            in_pip = in_pip and raw.startswith("      ")
            continue
        item = line.strip()[2:].strip()
        if item == "pip:":
            in_pip = True
            continue
        (pip if in_pip and raw.startswith("      ") else conda).add(_name(item))
    return conda, pip


def test_environment_matches_pyproject(repo_root: Path):
    """Every runtime and test dependency of pyproject.toml is in environment.yml, and nothing else is."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    conda, pip = _env_lists(repo_root)
    expected_conda = {CONDA_NAME.get(n, n) for n in wanted - PIP_ONLY} | {"python", "pip"}
    assert conda == expected_conda
    assert pip == wanted & PIP_ONLY


def test_console_script_and_extras(repo_root: Path):
    """The `planner` console script points at the CLI and a `test` extra exists."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["planner"] == "planner.cli:main"
    assert any(_name(r) == "pytest" for r in project["optional-dependencies"]["test"])


def test_readme_quick_start_has_two_commands(repo_root: Path):
    """The README's Quick start block holds exactly `make demo` and `make test`; CI calls `make test`."""
    readme = (repo_root / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Quick start.*?```(?:sh|bash)?\n(.*?)```", readme, flags=re.S)
    assert match, "README has no Quick start code block"
    commands = [ln.strip() for ln in match.group(1).splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert commands == ["make demo", "make test"]
    assert "make test" in (repo_root / ".ci" / "run").read_text(encoding="utf-8")


@pytest.mark.parametrize("folder", ["planner", "layers", "scenarios", "maps", "tests"])
def test_top_level_layout(repo_root: Path, folder: str):
    """The design card's top-level folders exist."""
    assert (repo_root / folder).is_dir()


def test_agpl_peers_are_never_imported_by_planner(repo_root: Path):
    """pandana and cityseer (AGPL) and the benchmark-only spopt/PuLP stay out of the library's imports."""
    pattern = re.compile(r"^\s*(from|import)\s+(pandana|cityseer|spopt|pulp)\b", re.M)
    offenders = [p.name for p in (repo_root / "planner").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
