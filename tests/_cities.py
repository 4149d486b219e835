"""The generated cities of benchmarks/e2e.py for tests: ``generate_city(side, folder, **options)`` writes a
``side × side`` grid city (network, compounds, facilities, 街道, ``city.toml``) into ``folder``;
``generate_province(folder, **options)`` writes several such cities as one province (benchmarks/province.py)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _benchmark(name: str):
    """A module of benchmarks/ (imported without leaving benchmarks/ on ``sys.path``)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def generate_city(side: int, folder: Path, **options) -> dict:
    """:func:`e2e.generate_city`; its summary."""
    return _benchmark("e2e").generate_city(side, folder, **options)


def generate_province(folder: Path, **options) -> dict:
    """:func:`province.generate_province` (cities, side, gap_km, seed); its summary."""
    return _benchmark("province").generate_province(folder, **options)
