"""Population estimates: residential units from OSM land use and buildings (footprint × storeys)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from planner.settings import PopulationSpec

__all__ = ["residential_from_osm", "disaggregate_census", "RESIDENTIAL_BUILDINGS", "NON_RESIDENTIAL_BUILDINGS"]

log = logging.getLogger(__name__)

RESIDENTIAL_BUILDINGS = {"residential", "apartments", "house", "detached", "terrace", "dormitory", "semidetached_house"}
NON_RESIDENTIAL_BUILDINGS = {
    "commercial", "retail", "industrial", "warehouse", "school", "university", "college", "hospital",
    "office", "public", "government", "church", "temple", "garage", "garages", "kindergarten", "train_station",
    "transportation", "hotel", "civic", "supermarket", "construction", "roof", "shed", "service", "sports_hall",
}


def _levels(values: pd.Series, default: int) -> np.ndarray:
    lv = pd.to_numeric(values.astype(str).str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce")
    lv = lv.where((lv >= 1) & (lv <= 120))
    return lv.fillna(default).to_numpy(dtype=float)


def residential_from_osm(
    areas: gpd.GeoDataFrame | None, buildings: gpd.GeoDataFrame | None, crs: CRS, spec: PopulationSpec
) -> gpd.GeoDataFrame:
    """Residential units with an estimated population, in ``crs``.

    Assumptions (all from the scenario's ``[population]``):

    * each ``landuse=residential`` area is one compound (小区); its floor area is the sum over the
      buildings inside it of footprint × ``building:levels`` (``default_levels`` when missing),
      or, with no buildings mapped, land area × ``default_plot_ratio``;
    * a residential building (``building=residential/apartments/house/dormitory…``) outside any
      residential area is a unit of its own;
    * population = floor area / ``floor_area_per_person_m2``; households = population /
      ``persons_per_household``; 60+ and 0–3 from the scenario's shares.
    """
    empty = gpd.GeoDataFrame(
        {c: [] for c in ("id", "name", "households", "population", "age_60_plus", "age_0_3", "population_source", "floor_area_m2")},
        geometry=gpd.GeoSeries([], crs=crs),
        crs=crs,
    )
    areas = areas.to_crs(crs).reset_index(drop=True) if areas is not None and len(areas) else None
    blds = buildings.to_crs(crs).reset_index(drop=True) if buildings is not None and len(buildings) else None
    parts = []
    if blds is not None:
        blds = blds[~blds["building"].isin(NON_RESIDENTIAL_BUILDINGS)].copy()
        blds["floor_area"] = blds.area * _levels(blds["levels"], spec.default_levels)
    n_blds = len(blds) if blds is not None else 0
    used = np.zeros(n_blds, dtype=bool)
    if areas is not None:
        floor = np.zeros(len(areas))
        has_buildings = np.zeros(len(areas), dtype=bool)
        if n_blds:
            # every building (by its representative point) inside every area: one STRtree query, summed per area
            pts = blds.representative_point().to_numpy()
            a_i, b_i = shapely.STRtree(pts).query(areas.geometry.to_numpy(), predicate="contains_properly")
            order = np.lexsort((b_i, a_i))
            a_i, b_i = a_i[order], b_i[order]
            used[b_i] = True
            fa = blds["floor_area"].to_numpy(dtype=float)[b_i]
            starts = np.flatnonzero(np.r_[True, a_i[1:] != a_i[:-1]]) if len(a_i) else np.zeros(0, dtype=np.int64)
            ends = np.r_[starts[1:], len(a_i)] if len(a_i) else starts
            # per area the same sum over its buildings, in building order, as a frame's .sum() (identical floats)
            floor[a_i[starts]] = [fa[s:e].sum() for s, e in zip(starts, ends, strict=True)]
            has_buildings[a_i] = True
        floor = np.where(floor != 0.0, floor, areas.geometry.area.to_numpy() * spec.default_plot_ratio)
        key = areas["osm_type"].astype(str) + "/" + areas["osm_id"].astype(str)
        parts.append(pd.DataFrame({
            "id": key.to_numpy(),
            "name": [n or f"住宅区 {k}" for n, k in zip(areas["name"], key, strict=True)],
            "floor_area_m2": floor,
            "population_source": np.where(has_buildings, "osm_buildings", "osm_plot_ratio"),
            "geometry": areas.geometry.to_numpy(),
        }))
    if n_blds:
        alone = blds[~used & blds["building"].isin(RESIDENTIAL_BUILDINGS)]
        key = alone["osm_type"].astype(str) + "/" + alone["osm_id"].astype(str)
        parts.append(pd.DataFrame({
            "id": key.to_numpy(),
            "name": [n or f"住宅楼 {k}" for n, k in zip(alone["name"], key, strict=True)],
            "floor_area_m2": alone["floor_area"].to_numpy(dtype=float),
            "population_source": "osm_building",
            "geometry": alone.geometry.to_numpy(),
        }))
    rows = [p for p in parts if len(p)]
    if not rows:
        log.warning("OSM has no residential land or residential buildings: no demand to analyse")
        return empty
    frame = pd.concat(rows, ignore_index=True)
    pop = np.round(frame["floor_area_m2"] / spec.floor_area_per_person_m2)
    out = gpd.GeoDataFrame(
        {
            "id": frame["id"],
            "name": frame["name"],
            "households": np.round(pop / spec.persons_per_household),
            "population": pop,
            "age_60_plus": np.round(pop * spec.share_60_plus),
            "age_0_3": np.round(pop * spec.share_0_3),
            "population_source": frame["population_source"],
            "floor_area_m2": frame["floor_area_m2"].round(1),
        },
        geometry=frame["geometry"].to_list(),
        crs=crs,
    )
    log.info("OSM residential units: %d, estimated population %d", len(out), int(out["population"].sum()))
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _largest_remainder(total: float, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` that add up to round(``total``) exactly (ties: lower index first)."""
    target = int(round(total))
    if len(weights) == 0:
        return np.zeros(0)
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        w = np.ones_like(w)
    raw = target * w / w.sum()
    base = np.floor(raw).astype(np.int64)
    short = target - int(base.sum())
    order = np.lexsort((np.arange(len(w)), -(raw - base)))
    base[order[:short]] += 1
    return base.astype(float)


def disaggregate_census(
    compounds: gpd.GeoDataFrame, zone_of: pd.Series, zones: gpd.GeoDataFrame, spec: PopulationSpec
) -> tuple[gpd.GeoDataFrame, dict[str, dict[str, float]]]:
    """Spread each 街道's census totals over its compounds in proportion to residential floor area.

    Weights: ``floor_area_m2`` where known, else the compound's land area × ``default_plot_ratio``
    (polygons), else equal shares. Totals (``population``, ``age_60_plus``, ``age_0_3``) are
    preserved exactly per 街道 with largest-remainder rounding. Households follow population /
    ``persons_per_household`` unless given. Returns the updated compounds and, per 街道, totals that
    could not be placed because the 街道 holds no compound.
    """
    out = compounds.copy()
    floor = out["floor_area_m2"] if "floor_area_m2" in out.columns else pd.Series(np.nan, index=out.index)
    area = out.geometry.area.where(out.geom_type.isin(["Polygon", "MultiPolygon"]), np.nan) * spec.default_plot_ratio
    weight = floor.fillna(area).fillna(0.0)
    unplaced: dict[str, dict[str, float]] = {}
    for zid, zone in zones.iterrows():
        members = np.flatnonzero((zone_of == str(zid)).to_numpy())
        for col in ("population", "age_60_plus", "age_0_3"):
            total = zone.get(col)
            if total is None or pd.isna(total):
                continue
            if len(members) == 0:
                unplaced.setdefault(str(zid), {})[col] = float(total)
                continue
            idx = out.index[members]
            out.loc[idx, col] = _largest_remainder(float(total), weight.iloc[members].to_numpy())
            if col == "population":
                out.loc[idx, "population_source"] = "census_dasymetric"
                given_hh = out.loc[idx, "households"]
                out.loc[idx, "households"] = given_hh.fillna(np.round(out.loc[idx, "population"] / spec.persons_per_household))
    if unplaced:
        log.warning("census totals of %d 街道 could not be placed (no compounds inside): %s", len(unplaced), sorted(unplaced))
    return out, unplaced
