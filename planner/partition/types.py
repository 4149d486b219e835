"""What crosses between the client and the workers of a partitioned run: the job of one partition and its result.

Everything here is plain data (numpy arrays, small frames, WKB) so that Dask pickles it cheaply; rows are named by
their ids (compounds, facilities) and the client puts them back in the single run's order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from planner.network.build import Ways
from planner.settings import Scenario

__all__ = ["PartitionJob", "PartitionResult", "PartitionFailure", "Halo"]


@dataclass(frozen=True)
class Halo:
    """How far around its area a partition reads (metres); see :func:`planner.partition.plan.halo`.

    longest_m
        The longest walk any output or rule measures (search limit, longest threshold, siting radii).
    points_m
        Compounds and facilities within this of the area take part (``longest_m`` + the snap distance).
    network_m
        Streets within this of the area are read, whole, with the streets that meet them
        (``longest_m`` + twice the snap distance + the small-piece length).
    """

    longest_m: float
    points_m: float
    network_m: float


@dataclass(frozen=True)
class PartitionJob:
    """One partition's work: its area, the rows within its halo (owned or not) and its slice of the network."""

    id: str
    name: str
    scenario: Scenario
    crs: CRS
    area_wkb: bytes  # the area it owns (union of its polygons, its 街道 and its points), metric CRS
    cells_wkb: tuple[bytes, ...]  # every partition's own polygon, in partition order (streets drawn by the one they lie in)
    position: int  # this partition's place among cells_wkb (the pieces that run)
    part: int  # its place among all the partitions (the owner arrays of plan_jobs)
    compounds: gpd.GeoDataFrame  # kept compound rows within the halo, in the run's order
    compounds_owned: np.ndarray  # mask over compounds
    facilities: gpd.GeoDataFrame  # kept facility rows within the halo, in the run's order
    facilities_owned: np.ndarray  # mask over facilities
    ways: Ways  # the walkable ways within the network halo (whole, with the ways that meet them)
    categories: tuple[str, ...]  # the run's analysed categories (decided on all facilities)
    each_isochrone: bool  # whether the run draws each 养老/托育 facility's own area
    largest_piece_m: float  # the run's largest connected piece is at least this long (the small-piece rule)
    halo: Halo
    zones: gpd.GeoDataFrame | None = None  # the 街道 it owns (for siting's every_zone)
    isochrone_cell_m: float | None = None  # the grid cell the whole run's areas are drawn at (a piece draws at it too)
    version: str = ""  # planner's version on the client: a worker with another refuses the piece


@dataclass(frozen=True)
class PartitionResult:
    """What a worker found for the rows its partition owns (ids; metric CRS)."""

    id: str
    compounds: pd.DataFrame  # index: owned compound ids; gates, reachable, snap_distance_m, isolated
    facilities: pd.DataFrame  # index: owned facility ids; reachable, snap_distance_m, isolated
    coverage: pd.DataFrame  # the coverage table's rows of the owned compounds that are not rejected later
    catchments: pd.DataFrame  # catchment pairs of owned compounds
    centre_distances: pd.DataFrame  # owned 一刻钟 centres → nearest basic format (metres)
    pairs: pd.DataFrame  # owned 养老 facility id, 托育 facility id, metres (within the pairing limit)
    hub_pairs: pd.DataFrame | None = None  # 1+N 托育: owned point id, hub id, metres (within the 1+N walk limit)
    isochrones: dict = field(default_factory=dict)  # (group, minutes) → GeoDataFrame, from owned facilities
    streets: dict = field(default_factory=dict)  # the edges drawn by this partition: arrays (see task._owned_streets)
    stats: dict = field(default_factory=dict)  # ways, nodes and edges read, seconds by step, peak memory
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PartitionFailure:
    """A partition that could not run on its input: which, where and why (bilingual)."""

    id: str
    name: str
    kind: str  # the error's class (NetworkError, LayerError …)
    message: str


@dataclass(frozen=True)
class SitingJob:
    """One partition's siting: its piece again, with the run's final rows (compounds with their standards columns;
    the compounds it does not own carry no demand) and the compliance rows of the 街道 it owns."""

    piece: PartitionJob
    compounds: gpd.GeoDataFrame
    facilities: gpd.GeoDataFrame
    compliance: pd.DataFrame
    candidates: dict = field(default_factory=dict)  # task name → its own candidate layer, read by the client
