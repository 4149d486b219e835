"""Putting the partitions' results back together into the single run's :class:`~planner.pipeline.RunResult`.

Every row comes from the partition that owns it, put back by id in the single run's order; then the stages that
need the whole city — standards (per 街道 and city-wide), capacity (E2SFCA needs every pair of a facility), gaps,
一刻钟 circles, the 养老–托育 pairing and the 街道 summary — run the single run's own code on the stitched tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from planner.analysis.coverage import Coverage
from planner.engine.streets import StreetArrays
from planner.network.build import WalkNetwork
from planner.partition.types import PartitionResult
from planner.siting.suggest import pairing_groups, pairs_from_distances

__all__ = ["stitch_snap", "stitch_coverage", "stitch_centre_distances", "stitch_pairs", "stitch_isochrones", "stitch_network"]


def _by_id(parts: list[pd.DataFrame], index: pd.Index, what: str) -> pd.DataFrame:
    """The rows of ``parts`` (each indexed by id) in the order of ``index``; every id exactly once."""
    parts = [p for p in parts if len(p)]
    frame = pd.concat(parts) if parts else None
    if frame is None or len(frame) != len(index) or not frame.index.is_unique:
        n = 0 if frame is None else len(frame)
        raise RuntimeError(f"partitions returned {n} {what} rows for {len(index)} ids")
    return frame.loc[index]


def stitch_snap(results: list[PartitionResult], comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame
                ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, np.ndarray, np.ndarray]:
    """The compounds and facilities with the columns snapping adds (as :func:`planner.pipeline.snap_to_network`), the
    isolated compounds and the facilities to reject as isolated (masks)."""
    c = _by_id([r.compounds for r in results], comp.index, "compound")
    f = _by_id([r.facilities for r in results], fac.index, "facility")
    comp = comp.assign(gates=c["gates"].to_numpy(dtype=np.int64), reachable=c["reachable"].to_numpy(dtype=bool),
                       snap_distance_m=c["snap_distance_m"].to_numpy(dtype=float))
    fac = fac.assign(reachable=f["reachable"].to_numpy(dtype=bool), snap_distance_m=f["snap_distance_m"].to_numpy(dtype=float))
    return comp, fac, c["isolated"].to_numpy(dtype=bool), f["isolated"].to_numpy(dtype=bool)


def stitch_coverage(results: list[PartitionResult], comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
                    categories: tuple[str, ...], thresholds_min: tuple[float, ...], speed: float, *,
                    speeds: Mapping[str, float] | None = None) -> Coverage:
    """The run's :class:`Coverage`: each compound's row from its partition; the catchment pairs in the single run's
    order (category, then facility and compound row). ``speed`` is the adults' (m/min), ``speeds`` each category's."""
    table = _by_id([r.coverage for r in results], comp.index, "coverage")
    catch = pd.concat([r.catchments for r in results if len(r.catchments)], ignore_index=True) if any(
        len(r.catchments) for r in results) else results[0].catchments.iloc[:0]
    rank = pd.Index(categories).get_indexer(catch["category"].to_numpy())
    f = pd.Index(fac["id"].to_numpy()).get_indexer(catch["facility_id"].to_numpy())
    c = pd.Index(comp.index).get_indexer(catch["compound_id"].to_numpy())
    if (rank < 0).any() or (f < 0).any() or (c < 0).any():
        raise RuntimeError("partitions returned catchment pairs of unknown rows")
    order = np.lexsort((c, f, rank))
    catch = catch.iloc[order].reset_index(drop=True)
    return Coverage(table=table, catchments=catch, categories=tuple(categories), thresholds_min=tuple(thresholds_min),
                    speed_m_per_min=speed, speeds={c: (speeds or {}).get(c, speed) for c in categories})


def stitch_centre_distances(results: list[PartitionResult], fac: gpd.GeoDataFrame, centre_category: str) -> pd.DataFrame:
    """Each centre's distances to the basic formats, in facility order."""
    ids = fac.loc[(fac["category"] == centre_category).to_numpy(), "id"].astype(str).to_numpy()
    parts = [r.centre_distances for r in results if len(r.centre_distances)]
    if not parts:
        return results[0].centre_distances.iloc[:0]
    return pd.concat(parts).loc[ids]


def stitch_pairs(results: list[PartitionResult], fac: gpd.GeoDataFrame) -> pd.DataFrame:
    """The 养老–托育 pairing of the whole run from the owned 养老 facilities' distances."""
    is_eld, is_cc = pairing_groups(fac)
    eld, cc = fac[is_eld], fac[is_cc]
    d = pd.concat([r.pairs for r in results], ignore_index=True)
    s = pd.Index(eld["id"].to_numpy()).get_indexer(d["elderly_id"].to_numpy())
    t = pd.Index(cc["id"].to_numpy()).get_indexer(d["childcare_id"].to_numpy())
    keep = (s >= 0) & (t >= 0)  # a facility rejected as isolated by the run is in no pair
    return pairs_from_distances(eld, cc, s[keep], t[keep], d["dist_m"].to_numpy()[keep])


def stitch_isochrones(results: list[PartitionResult], crs) -> dict:
    """The areas within each threshold of each group: the union of the partitions' areas (reached length summed);
    each facility's own area in facility order."""
    keys: list = []
    for r in results:
        keys += [k for k in r.isochrones if k not in keys]
    out = {}
    for key in keys:
        frames = [r.isochrones[key] for r in results if key in r.isochrones]
        if key[0] == "facilities":
            out[key] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
            continue
        area = _union(np.array([g for f in frames for g in f.geometry.to_numpy()], dtype=object))
        km = round(float(sum(f["reached_km"].sum() for f in frames)), 3)
        out[key] = gpd.GeoDataFrame({"group": [key[0]], "minutes": [key[1]], "reached_km": [km]}, geometry=[area], crs=crs)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][1], kv[0][0] == "facilities", keys.index(kv[0]))))


def _union(parts: np.ndarray):
    """The union of the partitions' areas: parts whose bounding boxes meet no other are taken as they are (they cannot
    overlap: no overlay of a whole province's raster outlines); those that meet are unioned group by group."""
    parts = parts[~shapely.is_empty(parts)]
    if len(parts) <= 1:
        return parts[0] if len(parts) else shapely.Polygon()
    boxes = shapely.box(*shapely.bounds(parts).T)
    a, b = shapely.STRtree(boxes).query(boxes, predicate="intersects")
    _, roots = connected_components(coo_array((np.ones(len(a)), (a, b)), shape=(len(parts), len(parts))), directed=False)
    pieces = []
    for r in np.unique(roots):
        members = parts[roots == r]
        pieces.append(members[0] if len(members) == 1 else shapely.union_all(members))
    polys = [p for piece in pieces for p in shapely.get_parts(piece) if shapely.get_type_id(p) == 3]
    return shapely.multipolygons(polys) if len(polys) > 1 else (polys[0] if polys else shapely.Polygon())


def stitch_network(results: list[PartitionResult], crs, source: dict) -> WalkNetwork:
    """The network the maps and the summary draw: every partition's own edges, their end nodes shared by coordinates."""
    parts = [r.streets for r in results if len(r.streets.get("length", ()))]
    if not parts:
        raise RuntimeError("partitions returned no streets")
    coords = np.concatenate([p["coords"] for p in parts])
    offsets = np.concatenate([[0]] + [p["offsets"][1:] + base for p, base in
                                      zip(parts, np.cumsum([0] + [len(p["coords"]) for p in parts[:-1]]), strict=True)])
    ends = np.r_[offsets[:-1], offsets[1:] - 1]
    xy = coords[ends]
    node, uniq = pd.factorize(xy[:, 0] + 1j * xy[:, 1])  # nodes by coordinates, in order of first appearance (hashed)
    keys = np.column_stack([uniq.real, uniq.imag])
    n_e = len(offsets) - 1
    streets = StreetArrays(node_x=keys[:, 0].copy(), node_y=keys[:, 1].copy(), u=node[:n_e], v=node[n_e:],
                           length=np.concatenate([p["length"] for p in parts]), coords=coords, offsets=offsets)
    return WalkNetwork(streets=streets, node_ids=np.arange(len(keys)), highway=np.concatenate([p["highway"] for p in parts]),
                       name=np.concatenate([p["name"] for p in parts]), crs=crs, source=source)

