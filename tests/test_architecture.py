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

# modules every stage may import: settings, names and labels, exceptions (they import no stage)
BASE = {"planner", "planner.errors", "planner.schema", "planner.labels", "planner.settings"}
STAGES = ("engine", "io", "network", "analysis", "siting", "outputs")
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
    "scenario": BASE | {"io", "analysis"},  # validates category keys and rule presets while parsing
    "pipeline": BASE | {"io", "engine", "network", "analysis", "siting", "scenario"},  # computes, never writes
    "cli": BASE | set(STAGES) | {"scenario", "pipeline"},
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
    """(line, imported module, names imported from it) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _dotted(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [a.name for a in node.names]
            if module in ("planner", *[f"planner.{s}" for s in STAGES]) and not node.level:
                # `from planner.io import layers`: the names are modules of that package
                out.extend((node.lineno, f"{module}.{n}" if module != "planner" or n != "__version__" else module, []) for n in names)
            else:
                out.append((node.lineno, module, names))
    return out


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
