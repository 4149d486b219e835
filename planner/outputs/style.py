"""Colour scales shared by the interactive maps (:mod:`planner.outputs.maps`), the static charts
(:mod:`planner.outputs.charts`) and the report (:mod:`planner.outputs.report`)."""

from __future__ import annotations

import numpy as np

__all__ = ["COMPLETENESS_RAMP", "FAIL_RAMP", "completeness_color", "completeness_index", "fail_color"]

#: completeness from nothing in reach (red) to everything in reach (green)
COMPLETENESS_RAMP = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"]
#: failed-rule counts of a 街道, from few (light) to the most of any 街道 (dark red)
FAIL_RAMP = ["#fff5f0", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"]


def completeness_color(share: float) -> str:
    """Colour for a completeness share in [0, 1] (red = nothing in reach, green = everything)."""
    if share is None or not np.isfinite(share):
        return "#777777"
    return COMPLETENESS_RAMP[min(int(share * (len(COMPLETENESS_RAMP) - 1) + 1e-9), len(COMPLETENESS_RAMP) - 1)]


def completeness_index(share: np.ndarray) -> np.ndarray:
    """:func:`completeness_color` for many shares at once, as positions in :data:`COMPLETENESS_RAMP` (-1: grey)."""
    share = np.asarray(share, dtype=np.float64)
    ok = np.isfinite(share)
    top = len(COMPLETENESS_RAMP) - 1
    idx = np.minimum(np.trunc(np.where(ok, share, 0.0) * top + 1e-9), top).astype(np.int64)
    return np.where(ok, idx, -1)


def fail_color(share: float) -> str:
    """Colour for the share of the worst 街道's failed-rule count (white = none failed)."""
    if share <= 0:
        return "#f7fcf5"
    return FAIL_RAMP[min(int(share * (len(FAIL_RAMP) - 1) + 0.999), len(FAIL_RAMP) - 1)]
