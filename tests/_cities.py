"""The generated cities of benchmarks/e2e.py for tests: ``generate_city(side, folder, **options)`` writes a
``side × side`` grid city (network, compounds, facilities, 街道, ``city.toml``) into ``folder``."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def generate_city(side: int, folder: Path, **options) -> dict:
    """:func:`e2e.generate_city` (imported from benchmarks/ without leaving it on ``sys.path``); its summary."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import e2e
    finally:
        sys.path.remove(str(BENCHMARKS))
    return e2e.generate_city(side, folder, **options)
