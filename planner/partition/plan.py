"""Cutting a run into partitions: the halo rule, which partition owns each 街道, compound and facility, and the job
each partition's worker gets.

The halo (:func:`halo`): a partition reads every compound and facility within ``L + M`` of its area and every street
within ``L + 2M + P`` (whole, with the streets that meet them), where ``L`` is the longest walk any output or rule
measures (the search limit, the longest threshold, the 1+N walk limit, every siting radius — doubled for p-median,
which looks twice as far), ``M`` the snap distance and ``P`` the small-piece length. Every distance reported for a row it owns is then
the single run's, to the last bit: such a walk stays within ``L`` of the row, every point that splits a street on
it lies within ``L + M``, and every street within ``M`` of those points is read with all the streets that meet it.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import __version__
from planner.errors import LayerError
from planner.network.build import Ways
from planner.partition.types import Halo, PartitionJob
from planner.settings import Scenario

__all__ = ["halo", "Partitions", "partition_cells", "plan_jobs", "PIECE_FACTOR"]

# the small-piece rule is exact in a partition when the run's largest piece is at least this many min_piece_m long
PIECE_FACTOR = 100.0
# margin added to a buffered area: a polygon buffer's arcs are chords, up to ~0.5 % of the distance inside the circle
BUFFER_MARGIN = 0.01


def halo(scenario: Scenario) -> Halo:
    """The halo of :mod:`planner.partition.plan`'s rule for ``scenario`` (metres)."""
    longest = max(scenario.search_limit_m, scenario.coverage_minutes * scenario.speeds.fastest,  # any group's walk
                  scenario.one_plus_n_limit_m())
    for task in scenario.siting:
        radius = task.radius_m or scenario.coverage_minutes * scenario.speeds.fastest  # any category's default radius
        radius = max(radius, task.partner_radius_m or 0.0)
        longest = max(longest, radius * (2 if task.model == "pmedian" else 1))
    snap = scenario.max_snap_m
    return Halo(longest_m=float(longest), points_m=float(longest + snap),
                network_m=float(longest + 2 * snap + scenario.network.min_piece_m))


class Partitions:
    """The partitions of a run: id, name and own polygon of each (metric CRS), in order."""

    def __init__(self, ids: list[str], names: list[str], cells: list, zone_groups: dict[str, int] | None = None):
        self.ids, self.names, self.cells = ids, names, cells
        self.zone_groups = zone_groups  # 街道 id → partition (when the partitions are groups of 街道)

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, geoms: np.ndarray) -> np.ndarray:
        """The partition of each geometry: the first whose polygon holds its representative point, else the nearest."""
        pts = shapely.point_on_surface(geoms)
        out = np.full(len(pts), -1, dtype=np.int64)
        for i, cell in enumerate(self.cells):
            free = np.flatnonzero(out < 0)
            if not len(free):
                break
            hit = shapely.contains(cell, pts[free])
            out[free[hit]] = i
        loose = np.flatnonzero(out < 0)
        if len(loose):
            dist = np.stack([shapely.distance(cell, pts[loose]) for cell in self.cells])
            out[loose] = dist.argmin(axis=0)
        return out


def partition_cells(scenario: Scenario, zones: gpd.GeoDataFrame | None, crs) -> Partitions:
    """The partitions named by ``[partition]``: groups of 街道 by a zones column, or the polygons of a layer."""
    spec = scenario.partition
    if spec is None:
        raise LayerError("情景文件没有 [partition] / the scenario has no [partition]")
    if spec.zones_column is not None:
        column = spec.zones_column
        if zones is None or column not in zones.columns:
            raise LayerError(
                f"[partition] zones_column = \"{column}\"：街道图层没有这一列，请在 [layers.zones.columns] 中映射（如 {column} = \"区县\"）/ "
                f"the zones layer has no {column} column: map it in [layers.zones.columns] (e.g. {column} = \"区县\")"
            )
        values = zones[column].astype(str).where(zones[column].astype(str).str.len() > 0, "未填区县")
        names = list(pd.unique(values))
        group = {z: names.index(v) for z, v in zip(zones.index.astype(str), values, strict=True)}
        cells = [shapely.union_all(zones.geometry.to_numpy()[(values == n).to_numpy()]) for n in names]
        return Partitions([f"P{i + 1:03d}" for i in range(len(names))], names, cells, group)
    frame = _read_layer(spec, crs)
    return Partitions(frame["id"].tolist(), frame["name"].tolist(), list(frame.geometry.to_numpy()))


def _read_layer(spec, crs) -> gpd.GeoDataFrame:
    """The partition layer's polygons with ``id``, ``name``, in the metric CRS."""
    import pyogrio

    where = f"[partition] layer {spec.layer}"
    try:
        raw = gpd.read_file(spec.layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise LayerError(f"{where} 无法读取 / cannot be read: {exc}") from None
    if raw.crs is None:
        if spec.crs is None:
            raise LayerError(f"{where} 没有坐标系，请在 [partition] 写 crs = \"EPSG:4326\" 等 / has no CRS: set [partition] crs")
        try:
            raw = raw.set_crs(spec.crs)
        except Exception as exc:  # pyproj's CRSError: the text is not a coordinate system
            raise LayerError(f"[partition] crs = {spec.crs!r} 不是可用的坐标系 / is not a usable coordinate system: {exc}") from None
    poly = raw.geometry.notna() & raw.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    if not poly.any():
        raise LayerError(f"{where} 中没有面（Polygon/MultiPolygon）/ holds no polygons")
    for col in (spec.id, spec.name):
        if col is not None and col not in raw.columns:
            raise LayerError(f"{where} 中没有列 '{col}'。现有列：{', '.join(map(str, raw.columns))} / has no column '{col}'")
    raw = raw[poly.to_numpy()].to_crs(crs)
    ids = raw[spec.id].astype(str).str.strip() if spec.id else pd.Series([f"P{i + 1:03d}" for i in range(len(raw))], index=raw.index)
    if ids.duplicated().any():
        raise LayerError(f"{where} 的编号重复 / has duplicate ids: {sorted(set(ids[ids.duplicated()]))[:5]}")
    names = raw[spec.name].astype(str).str.strip() if spec.name else ids
    geoms = shapely.make_valid(raw.geometry.to_numpy())
    return gpd.GeoDataFrame({"id": ids.to_numpy(), "name": names.to_numpy()}, geometry=geoms, crs=crs)


def owners(parts: Partitions, comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The partition of each 街道, compound and facility: a 街道 by its group (or its representative point); a compound or
    facility by its 街道, or by its point when it lies in none."""
    zone_ids = zones.index.astype(str) if zones is not None else pd.Index([])
    if parts.zone_groups is not None:
        zone_part = np.array([parts.zone_groups[z] for z in zone_ids], dtype=np.int64)
    else:
        zone_part = parts.locate(zones.geometry.to_numpy()) if zones is not None and len(zones) else np.zeros(0, np.int64)
    by_zone = dict(zip(zone_ids, zone_part.tolist(), strict=True))

    def rows(frame: gpd.GeoDataFrame) -> np.ndarray:
        z = frame["zone_id"].astype(str).map(by_zone)
        out = np.asarray(z.fillna(-1).to_numpy(), dtype=np.int64)
        loose = np.flatnonzero(out < 0)
        if len(loose):
            out[loose] = parts.locate(frame.geometry.to_numpy()[loose])
        return out

    return zone_part, rows(comp), rows(fac)


def plan_jobs(scenario: Scenario, crs, parts: Partitions, comp: gpd.GeoDataFrame, fac: gpd.GeoDataFrame,
              zones: gpd.GeoDataFrame | None, ways: Ways, categories: tuple[str, ...], each_isochrone: bool
              ) -> tuple[list[PartitionJob], dict]:
    """One job per partition that owns a compound or a facility, and the owner arrays (``zones``, ``compounds``,
    ``facilities``: partition positions)."""
    h = halo(scenario)
    zone_part, comp_part, fac_part = owners(parts, comp, fac, zones)
    # the pieces that own a row run; the streets of a polygon that owns none are drawn by the nearest piece that runs
    running = [p for p in range(len(parts)) if (comp_part == p).any() or (fac_part == p).any()]
    cells_wkb = tuple(shapely.to_wkb(parts.cells[p]) for p in running)
    comp_geoms, fac_geoms = comp.geometry.to_numpy(), fac.geometry.to_numpy()
    jobs = []
    for p in range(len(parts)):
        own_c, own_f = comp_part == p, fac_part == p
        if not (own_c.any() or own_f.any()):
            continue
        pieces = [parts.cells[p]]
        if zones is not None and len(zones):
            pieces += list(zones.geometry.to_numpy()[zone_part == p])
        cell = shapely.union_all(pieces)
        shapely.prepare(cell)
        outside_c, outside_f = np.zeros(len(comp), dtype=bool), np.zeros(len(fac), dtype=bool)
        outside_c[own_c] = ~shapely.covers(cell, comp_geoms[own_c])  # every gate of a compound, not one
        outside_f[own_f] = ~shapely.contains(cell, fac_geoms[own_f])
        area = shapely.union_all([cell, *comp_geoms[outside_c], *fac_geoms[outside_f]])
        shapely.prepare(area)
        near_c = shapely.dwithin(comp_geoms, area, h.points_m) | own_c
        near_f = shapely.dwithin(fac_geoms, area, h.points_m) | own_f
        region = area.buffer(h.network_m * (1 + BUFFER_MARGIN))
        piece = ways.select(region)
        owned_zones = zones[zone_part == p] if zones is not None else None
        jobs.append(PartitionJob(
            version=__version__, id=parts.ids[p], name=parts.names[p], scenario=scenario, crs=crs, area_wkb=shapely.to_wkb(area),
            cells_wkb=cells_wkb, position=running.index(p), part=p, compounds=comp[near_c], compounds_owned=own_c[near_c],
            facilities=fac[near_f], facilities_owned=own_f[near_f], ways=piece, categories=categories,
            each_isochrone=each_isochrone, largest_piece_m=PIECE_FACTOR * scenario.network.min_piece_m, halo=h,
            zones=owned_zones,
        ))
    return jobs, {"zones": zone_part, "compounds": comp_part, "facilities": fac_part}
