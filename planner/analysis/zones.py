"""Per-街道 summary: who lives in each sub-district and what share of them reach each category in time."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import schema
from planner.analysis.coverage import Coverage
from planner.schema import ALL_ZONES, OUTSIDE_ZONE

__all__ = ["assign_zones", "summarise_zones"]

log = logging.getLogger(__name__)


def assign_zones(compounds: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None) -> pd.Series:
    """Zone id of each compound (by its representative point), ``OUTSIDE_ZONE`` when in none.

    A point on a shared boundary goes to the zone listed first.
    """
    if zones is None or len(zones) == 0:
        return pd.Series(ALL_ZONES, index=compounds.index, name="zone_id")
    pts = gpd.GeoDataFrame(geometry=compounds.geometry.representative_point(), crs=compounds.crs)
    pts["_row"] = np.arange(len(pts))
    z = zones[["geometry"]].copy()
    z["zone_id"] = zones.index.astype(str)
    z["_order"] = np.arange(len(z))
    hits = gpd.sjoin(pts, z, how="left", predicate="intersects").sort_values(["_row", "_order"], kind="stable")
    hits = hits.drop_duplicates("_row", keep="first")
    out = pd.Series(hits["zone_id"].to_numpy(), index=compounds.index, name="zone_id").fillna(OUTSIDE_ZONE)
    log.info("compounds outside every 街道: %d", int((out == OUTSIDE_ZONE).sum()))
    return out


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
