"""Per-街道 summary: who lives in each sub-district and what share of them reach each category in time."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema
from planner.analysis.coverage import Coverage
from planner.schema import ALL_ZONES, OUTSIDE_ZONE

__all__ = ["MIN_OVERLAP_M2", "ZONE_RULE", "ZonePlacement", "assign_zones", "place_in_zones", "summarise_zones", "zone_overlaps"]

log = logging.getLogger(__name__)


MIN_OVERLAP_M2 = 1.0  # overlaps of two 街道 smaller than this are digitising noise, not reported
ZONE_RULE = (
    "小区按其代表点归入所在街道；点落在几个街道的重叠处时，归入街道图层中排在最前的那个 / "
    "a compound goes to the 街道 holding its representative point; where 街道 overlap, to the one listed first in the layer"
)


@dataclass(frozen=True)
class ZonePlacement:
    """The 街道 of each point and how many sat where 街道 overlap (placed by :data:`ZONE_RULE`)."""

    zone_id: pd.Series
    several: pd.Series  # bool per point: it lies in more than one zone

    @property
    def in_several(self) -> int:
        return int(self.several.sum())


def place_in_zones(points: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None) -> ZonePlacement:
    """Zone id of each compound or facility (by its representative point), ``OUTSIDE_ZONE`` when in none; a point in
    several zones goes to the zone listed first (:data:`ZONE_RULE`)."""
    if zones is None or len(zones) == 0:
        return ZonePlacement(pd.Series(ALL_ZONES, index=points.index, name="zone_id"), pd.Series(False, index=points.index))
    pts = gpd.GeoDataFrame(geometry=points.geometry.representative_point(), crs=points.crs)
    pts["_row"] = np.arange(len(pts))
    z = zones[["geometry"]].copy()
    z["zone_id"] = zones.index.astype(str)
    z["_order"] = np.arange(len(z))
    hits = gpd.sjoin(pts, z, how="left", predicate="intersects").sort_values(["_row", "_order"], kind="stable")
    several = np.bincount(hits["_row"].to_numpy()[hits["zone_id"].notna().to_numpy()], minlength=len(pts)) > 1
    hits = hits.drop_duplicates("_row", keep="first")
    out = pd.Series(hits["zone_id"].to_numpy(), index=points.index, name="zone_id").fillna(OUTSIDE_ZONE)
    return ZonePlacement(out, pd.Series(several, index=points.index))


def assign_zones(compounds: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None) -> pd.Series:
    """Zone id of each compound (by its representative point), ``OUTSIDE_ZONE`` when in none.

    A point on a shared boundary, or where zones overlap, goes to the zone listed first.
    """
    out = place_in_zones(compounds, zones).zone_id
    log.info("compounds outside every 街道: %d", int((out == OUTSIDE_ZONE).sum()))
    return out


def zone_overlaps(zones: gpd.GeoDataFrame | None) -> pd.DataFrame:
    """Pairs of 街道 whose areas overlap by more than :data:`MIN_OVERLAP_M2` (metric CRS): ``zone_a, name_a,
    zone_b, name_b, overlap_m2``, largest first. Shared boundaries are not overlaps."""
    cols = ["zone_a", "name_a", "zone_b", "name_b", "overlap_m2"]
    if zones is None or len(zones) < 2:
        return pd.DataFrame(columns=cols)
    geoms = zones.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    inner = shapely.relate_pattern(geoms[left], geoms[right], "2********")  # interiors meet in an area
    left, right = left[inner], right[inner]
    area = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    big = area > MIN_OVERLAP_M2
    ids = zones.index.astype(str).to_numpy()
    names = zones["name"].astype(str).to_numpy() if "name" in zones.columns else ids
    out = pd.DataFrame({"zone_a": ids[left[big]], "name_a": names[left[big]], "zone_b": ids[right[big]],
                        "name_b": names[right[big]], "overlap_m2": np.round(area[big], 1)})
    return out.sort_values(["overlap_m2", "zone_a", "zone_b"], ascending=[False, True, True], kind="stable").reset_index(drop=True)


def summarise_zones(
    compounds: pd.DataFrame,
    zone_of: pd.Series,
    coverage: Coverage,
    zones: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame,
    facility_zone: pd.Series,
) -> pd.DataFrame:
    """One row per 街道 (indexed by its id), plus rows for compounds outside every 街道 and the total.

    Columns: ``name``, ``compounds``, ``unreachable_compounds``, ``households``, ``population``,
    ``age_60_plus``, ``age_0_3``; for each category ``c``: ``facilities__c`` (count located in the
    街道) and ``share_<T>min__c`` (share of the population within the longest threshold T, 0–1).
    """
    longest = max(coverage.thresholds_min)
    frame = compounds[["households", "population", "age_60_plus", "age_0_3"]].copy()
    frame["_unreachable"] = (~compounds["reachable"].astype(bool)).astype(int)
    frame["zone_id"] = zone_of
    for cat in coverage.categories:
        frame[f"_cov__{cat}"] = coverage.table[schema.within(cat, longest)].to_numpy() * frame["population"].fillna(0).to_numpy()
    groups = frame.groupby("zone_id", sort=False)
    agg = pd.DataFrame(
        {
            "compounds": groups.size(),
            "unreachable_compounds": groups["_unreachable"].sum(),
            "households": groups["households"].sum(min_count=1),
            "population": groups["population"].sum(min_count=1),
            "age_60_plus": groups["age_60_plus"].sum(min_count=1),
            "age_0_3": groups["age_0_3"].sum(min_count=1),
        }
    )
    for cat in coverage.categories:
        agg[f"_cov__{cat}"] = groups[f"_cov__{cat}"].sum()
    order = list(zones.index.astype(str)) if zones is not None and len(zones) else []
    if (zone_of == OUTSIDE_ZONE).any():
        order.append(OUTSIDE_ZONE)
    if not order:
        order = [ALL_ZONES]
    agg = agg.reindex(order)
    agg["compounds"] = agg["compounds"].fillna(0).astype(int)
    empty = agg["compounds"].eq(0)  # a 街道 without compounds has no residents (not unknown ones)
    for col in ("households", "population", "age_60_plus", "age_0_3"):
        if agg.loc[~empty, col].notna().any():  # a column given for none of the compounds stays unknown
            agg.loc[empty, col] = 0.0
    agg["unreachable_compounds"] = agg["unreachable_compounds"].fillna(0).astype(int)
    names = {}
    if zones is not None and len(zones):
        names = dict(zip(zones.index.astype(str), zones["name"], strict=True))
    agg.insert(0, "name", [names.get(z, z) for z in agg.index])
    if ALL_ZONES not in agg.index:
        total = agg.drop(columns="name").sum(min_count=1)
        total["compounds"] = int(agg["compounds"].sum())
        agg.loc[ALL_ZONES] = pd.Series({"name": ALL_ZONES, **total.to_dict()})
    fz = facility_zone.reindex(facilities.index)
    # facilities per (街道, category) in one count; the 全市 row counts every facility of the category
    counts = pd.crosstab(fz, facilities["category"]) if len(facilities) else pd.DataFrame()
    totals = facilities["category"].value_counts()
    is_all = agg.index == ALL_ZONES
    for cat in coverage.categories:
        per_zone = counts[cat].reindex(agg.index, fill_value=0) if cat in counts.columns else pd.Series(0, index=agg.index)
        agg[schema.facilities(cat)] = np.where(is_all, int(totals.get(cat, 0)), per_zone.to_numpy()).astype(int).tolist()
        with np.errstate(invalid="ignore", divide="ignore"):
            agg[schema.share(cat, longest)] = np.where(
                agg["population"].fillna(0) > 0, agg[f"_cov__{cat}"] / agg["population"], np.nan
            )
        agg = agg.drop(columns=f"_cov__{cat}")
    agg.index.name = "zone_id"
    return agg
