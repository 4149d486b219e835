"""The completeness colour scale shared by the static charts (:mod:`planner.outputs.charts`) and the report
(:mod:`planner.outputs.report`); the gap map's band and 街道 colours are in :mod:`planner.outputs.map_views`."""

from __future__ import annotations

import numpy as np

__all__ = ["COMPLETENESS_RAMP", "completeness_color"]

#: completeness from nothing in reach (red) to everything in reach (green)
COMPLETENESS_RAMP = ["#d73027", "#fc8d59", "#fee08b", "#d9ef8b", "#91cf60", "#1a9850"]


def completeness_color(share: float) -> str:
    """Colour for a completeness share in [0, 1] (red = nothing in reach, green = everything)."""
    if share is None or not np.isfinite(share):
        return "#777777"
    return COMPLETENESS_RAMP[min(int(share * (len(COMPLETENESS_RAMP) - 1) + 1e-9), len(COMPLETENESS_RAMP) - 1)]
