"""The walking isochrone of a facility a plan adds or moves, drawn as a run draws each facility's own isochrone.

A run draws a facility's area within the longest threshold with :func:`planner.analysis.isochrones.isochrones_by`
(:func:`~planner.analysis.isochrones.reached_pieces` on the run's reach graph, then
:func:`~planner.analysis.isochrones.isochrone`). A new point is not in that graph; it is reached as the what-if
engine reaches it (:mod:`planner.whatif.engine`): from the foot on edge ``e`` through the graph nodes ``L`` and ``R``
on either side of it, ``access + to_left`` and ``access + to_right`` metres away. Here the graph gets one more node,
the new point, joined to ``L`` and ``R`` by those two legs (a row appended to the CSR; the searches only leave the
source, so no other row needs the way back), and the run's own functions draw the area from it: the same pieces
and the same polygon a full run with the point inserted would draw (the graph a run builds only splits ``L — R``
at the foot, which changes no distance from the point).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import mapping

from planner.analysis.isochrones import isochrone, reached_pieces
from planner.engine.snap import Snapped

__all__ = ["new_point_isochrone", "isochrone_geojson", "ISOCHRONE_BUFFER_M"]

#: the buffer of the reached streets, in metres, as a run draws its isochrones
ISOCHRONE_BUFFER_M = 40.0


@dataclass(frozen=True)
class _OneMore:
    """The engine's node graph with one node more (the new point, last), as the reach functions read a graph."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    base_node: np.ndarray

    @property
    def point_node(self) -> np.ndarray:
        return np.array([len(self.indptr) - 2], dtype=np.int64)

    @property
    def n_nodes(self) -> int:
        return len(self.indptr) - 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.indptr, self.indices, self.weights


def category_speed(engine, category: str) -> float:
    """The walking speed (m/min) of ``category`` in the run: the speed of its taxonomy group (养老 the elderly's)."""
    if category in engine.coverage.speeds:
        return engine.coverage.speed(category)
    return engine.scenario.speed_for(engine.taxonomy[category].group if category in engine.taxonomy else None)


def new_point_isochrone(engine, lon: float, lat: float, *, category: str, minutes: float | None = None,
                        buffer_m: float = ISOCHRONE_BUFFER_M) -> tuple[shapely.Geometry, float]:
    """The area within ``minutes`` of walking (default: the run's longest threshold) of a facility placed at
    ``lon``, ``lat`` (WGS84), in the run's metric CRS, and the street length reached (metres).

    ``engine`` is a :class:`planner.whatif.engine.WhatIf`; the point is snapped and anchored by its ``_place``
    (a point too far from the streets is refused there, with the reason).
    """
    minutes = float(max(engine.thresholds)) if minutes is None else float(minutes)
    limit = minutes * category_speed(engine, category)
    (point,), _ = engine._place([("NEW-0", category, float(lon), float(lat))])
    indptr, indices, weights = engine._nodes.arrays()
    legs = [(point.left, point.access + point.to_left)]
    if point.right != point.left:
        legs.append((point.right, point.access + point.to_right))
    graph = _OneMore(
        indptr=np.r_[indptr, indptr[-1] + len(legs)].astype(np.int64),
        indices=np.r_[indices, [node for node, _ in legs]].astype(np.int64),
        weights=np.r_[weights, [w for _, w in legs]].astype(np.float64),
        base_node=engine._nodes.base_node,
    )
    snapped = Snapped(edge=np.array([point.edge], dtype=np.int64), offset=np.array([point.offset]),
                      access=np.array([point.access]), reachable=np.array([True]))
    pieces = reached_pieces(engine.network, graph, snapped, np.array([0]), limit=limit)
    return isochrone(pieces, buffer_m=buffer_m), pieces.length_m


def isochrone_geojson(engine, lon: float, lat: float, *, category: str, facility_id: str, tolerance_m: float = 2.0) -> dict:
    """:func:`new_point_isochrone` as a GeoJSON FeatureCollection in WGS84 (simplified by ``tolerance_m`` metres,
    coordinates to 1e-6°), with the facility id, category, minutes and street length reached."""
    area, length_m = new_point_isochrone(engine, lon, lat, category=category)
    if tolerance_m > 0:
        area = shapely.simplify(area, tolerance_m, preserve_topology=True)
    to_wgs = Transformer.from_crs(engine.crs, "EPSG:4326", always_xy=True)
    wgs = shapely.transform(area, lambda xy: np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1])))
    wgs = shapely.set_precision(wgs, 1e-6) if not wgs.is_empty else wgs
    minutes = float(max(engine.thresholds))
    return {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {"facility_id": facility_id, "category": category, "minutes": minutes,
                           "metres": round(minutes * category_speed(engine, category), 1), "reached_km": round(length_m / 1000, 3)},
            "geometry": mapping(wgs) if not wgs.is_empty else None,
        }],
    }
