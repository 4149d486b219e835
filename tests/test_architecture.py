"""The import rules of the package (docs/architecture.md): data flows one way through the stage subpackages.

Every ``import`` statement of every module under ``planner/`` is read with :mod:`ast` (module level and inside
functions alike) and checked against the layer table below. A failure names the module, the line and the rule.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "planner"

# modules every stage may import: settings, names and labels, exceptions, progress bars (they import no stage)
BASE = {"planner", "planner.errors", "planner.schema", "planner.labels", "planner.settings", "planner.progress"}  # "planner": __version__ only
STAGES = ("engine", "io", "network", "analysis", "siting", "outputs", "whatif")
# what each part of the package may import from planner (besides itself)
ALLOWED: dict[str, set[str]] = {
    "engine": set(),  # the reach engine stands alone
    "io": BASE,
    "network": BASE | {"io", "engine"},
    "analysis": BASE | {"io", "engine", "network"},
    "siting": BASE | {"io", "engine", "network", "analysis"},
    "outputs": BASE | {"io", "engine", "network", "analysis", "siting", "pipeline"},  # reads the RunResult
    "errors": set(),
    "schema": set(),
    "labels": {"planner.schema"},
    "settings": {"planner.errors"},
    "progress": set(),
    "scenario": BASE | {"io", "analysis"},  # validates category keys and rule presets while parsing
    "pipeline": BASE | {"io", "engine", "network", "analysis", "siting", "scenario"},  # computes, never writes
    # what-if plans apply edits to a run: everything a run uses, and the run itself; only `serve` imports whatif
    "whatif": BASE | {"io", "engine", "network", "analysis", "pipeline"},
    "cli": BASE | set(STAGES) | {"scenario", "pipeline", "serve", "partition"},
    # a partitioned run plans, runs and stitches the pipeline's stages; nothing but cli imports it
    "partition": BASE | {"io", "engine", "network", "analysis", "siting", "pipeline", "partition"},
    # the what-if server may import everything (the what-if engine and outputs included); nothing but cli imports it
    "serve": BASE | set(STAGES) | {"scenario", "pipeline", "whatif", "serve"},
    "__init__": {"planner.errors"},
}
# the engine imports nothing but the numeric stack (and the standard library)
ENGINE_THIRD_PARTY = {"numpy", "scipy", "numba"}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(dotted: str) -> str:
    """The part of the package a module belongs to: a stage subpackage, or a top-level module's name."""
    bits = dotted.split(".")
    if len(bits) == 1:
        return "__init__"
    return bits[1]


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, imported module, names imported from it) for every import in ``path``."""
    return _imports_of(path.read_text(encoding="utf-8"), _dotted(path), is_package=path.name == "__init__.py")


def _imports_of(source: str, me: str, *, is_package: bool = False) -> list[tuple[int, str, list[str]]]:
    """Every way ``source`` (the module ``me``) reaches another module: import statements (module level, in functions,
    under TYPE_CHECKING), ``importlib.import_module("…")`` / ``__import__("…")`` with a literal name, and attribute
    chains on the package (``planner.outputs.maps`` after ``import planner``)."""
    package = me if is_package else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(node, package)
            names = [a.name for a in node.names]
            if module == "planner" or module in (f"planner.{s}" for s in STAGES):
                # `from planner.io import layers` / `from .. import outputs`: the names are modules
                out.extend((node.lineno, module if n == "__version__" else f"{module}.{n}", []) for n in names)
            else:
                out.append((node.lineno, module, names))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append((node.lineno, node.args[0].value, []))
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and isinstance(node.value.value, ast.Name):
            if node.value.value.id == "planner" and node.value.attr in STAGES:  # planner.<stage>.<module>
                out.append((node.lineno, f"planner.{node.value.attr}.{node.attr}", []))
    return out


def _resolve(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of a ``from … import`` statement."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _allowed(importer: str, imported: str) -> bool:
    part = _part(importer)
    if _part(imported) == part and part in STAGES:
        return True
    rules = ALLOWED[part]
    return imported in rules or _part(imported) in rules or any(imported.startswith(r + ".") for r in rules if "." in r)


MODULES = _modules()


def test_every_module_has_a_rule() -> None:
    parts = {_part(_dotted(p)) for p in MODULES}
    assert parts <= set(ALLOWED), f"modules outside the layer table: {sorted(parts - set(ALLOWED))}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_follow_the_layers(path: Path) -> None:
    me = _dotted(path)
    wrong = [
        f"{path.name}:{line} imports {module} — {_part(me)} may import only {sorted(ALLOWED[_part(me)]) or 'nothing of planner'}"
        for line, module, _ in _imports(path)
        if (module == "planner" or module.startswith("planner.")) and not _allowed(me, module)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_private_names_across_subpackages(path: Path) -> None:
    me = _dotted(path)
    wrong = []
    for line, module, names in _imports(path):
        if not module.startswith("planner.") or _part(module) == _part(me):
            continue
        private_module = any(b.startswith("_") and b != "__init__" for b in module.split(".")[1:])
        private_names = [n for n in names if n.startswith("_") and n != "__version__"]
        if private_module or private_names:
            wrong.append(f"{path.name}:{line} imports {module} {private_names or ''}".rstrip())
    assert not wrong, "private names of another part of the package:\n" + "\n".join(wrong)


@pytest.mark.parametrize("path", sorted(p for p in MODULES if _part(_dotted(p)) == "engine"), ids=lambda p: p.name)
def test_engine_imports_only_the_numeric_stack(path: Path) -> None:
    third = {m.split(".")[0] for _, m, _ in _imports(path) if m and not m.startswith("planner")}
    extra = third - ENGINE_THIRD_PARTY - set(sys.stdlib_module_names) - {"__future__"}
    assert not extra, f"{path.name} imports {sorted(extra)}; the engine uses numpy, scipy and numba only"


def test_the_rules_catch_a_wrong_import() -> None:
    """The checker itself says no to the imports the rules forbid."""
    assert _allowed("planner.analysis.coverage", "planner.engine.reach")
    assert _allowed("planner.outputs.maps", "planner.schema")
    assert not _allowed("planner.analysis.coverage", "planner.outputs.maps")
    assert not _allowed("planner.siting.suggest", "planner.outputs.report")
    assert not _allowed("planner.engine.reach", "planner.network.build")
    assert not _allowed("planner.engine.snap", "planner.errors")
    assert not _allowed("planner.io.layers", "planner.analysis.zones")
    assert not _allowed("planner.io.layers", "planner.scenario")
    assert not _allowed("planner.pipeline", "planner.outputs.write")
    assert _allowed("planner.cli", "planner.serve.app")
    assert _allowed("planner.serve.app", "planner.outputs.write")
    assert not _allowed("planner.outputs.maps", "planner.serve.app")
    assert not _allowed("planner.pipeline", "planner.serve.plans")


PLANTED = """
from __future__ import annotations
from typing import TYPE_CHECKING
import importlib
import planner
from .. import outputs
from ..outputs import maps
from planner.io.layers import _reject
if TYPE_CHECKING:
    from planner.outputs.report import build_report
def f():
    importlib.import_module("planner.outputs.excel")
    __import__("planner.outputs.charts")
    return planner.outputs.compare
"""


def test_the_parser_sees_every_way_in() -> None:
    """Planted into an analysis module, each of these reaches outputs (or a private name) and is reported."""
    found = _imports_of(PLANTED, "planner.analysis.coverage")
    reached = {module for _, module, _ in found}
    for module in ("planner.outputs", "planner.outputs.maps", "planner.outputs.report", "planner.outputs.excel",
                   "planner.outputs.charts", "planner.outputs.compare"):
        assert module in reached, module
        assert not _allowed("planner.analysis.coverage", module), module
    assert any(module == "planner.io.layers" and names == ["_reject"] for _, module, names in found)
    assert all(module != "planner" for _, module, _ in found if module.startswith("planner."))
