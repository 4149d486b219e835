"""Settings of a run: the frozen dataclasses a scenario file is parsed into, passed down every stage.

Each field says its meaning, default and unit. :func:`planner.scenario.load_scenario` builds them from a TOML
file and reports every mistake at once; the stages only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from planner.errors import ScenarioError

__all__ = [
    "BASEMAPS",
    "Basemap",
    "LayerKind",
    "LayerSpec",
    "NetworkSpec",
    "OnePlusNSpec",
    "PopulationSpec",
    "Scenario",
    "SitingSpec",
    "StandardsSpec",
    "WalkingSpeeds",
    "check_basemap",
]

Basemap = Literal["offline", "osm", "tianditu", "amap"]
BASEMAPS: tuple[str, ...] = ("offline", "osm", "tianditu", "amap")

LayerKind = Literal["facilities", "residential", "zones"]


@dataclass(frozen=True)
class PopulationSpec:
    """Assumptions that turn OSM residential land and buildings into people.

    Used only when residential units come from OSM (``source = "osm"``) or when a compound
    lacks population but has households.
    """

    persons_per_household: float = 2.6  # 七普 national mean household size ≈ 2.62
    floor_area_per_person_m2: float = 40.0  # urban housing floor area per person
    default_levels: int = 6  # storeys assumed when building:levels is missing
    default_plot_ratio: float = 1.5  # 容积率 used for residential land without buildings
    share_60_plus: float = 0.20  # share of residents aged 60+
    share_0_3: float = 0.025  # share of residents aged 0-3
    census_from_zones: bool = False  # disaggregate the zones layer's census totals to compounds by floor area


@dataclass(frozen=True)
class SitingSpec:
    """One siting task: where to put new facilities of ``category`` and by which model."""

    name: str
    category: str
    model: Literal["mclp", "lscp", "capacitated", "pmedian", "combined", "hubs"] = "mclp"  # hubs: 1+N 托育 hubs
    k: int = 3
    demand: Literal["population", "age_60_plus", "age_0_3"] = "population"
    radius_m: float | None = None  # default: the longest threshold in metres
    every_zone: bool = True  # each 街道 without the category gets one new site inside it
    coverage_target_pct: float = 90.0  # lscp
    capacity_per_site: float = 100.0  # capacitated: places/beds per new site when candidates give none
    need_per_1000: float = 4.5  # capacitated: places needed per 1000 of the demand group's base (population)
    candidates: Path | None = None  # a layer of candidate sites; None = generated in gap areas
    candidates_crs: str | None = None  # the candidate layer's coordinate system (a table's lon/lat: required)
    candidate_spacing_m: float = 250.0
    time_limit_s: float = 60.0
    curve_k: int = 0  # also solve k = 1..curve_k for the coverage curve
    # combined (老幼复合): each new site hosts ``category`` and ``partner`` together; the objective adds the
    # ``demand`` newly within ``radius_m`` of the first and the ``partner_demand`` newly within ``partner_radius_m``
    partner: str | None = None
    partner_demand: Literal["population", "age_60_plus", "age_0_3"] = "age_0_3"
    partner_radius_m: float | None = None  # default: radius_m


@dataclass(frozen=True)
class OnePlusNSpec:
    """``[one_plus_n]``: the 1+N 托育 model (通政发〔2022〕40号 §三(二)3): each community childcare point (点) guided by one
    hub (综合托育服务中心), assigned by walking distance (:mod:`planner.analysis.one_plus_n`).

    n
        Points one hub guides at most. No source gives N, so the default is ``None``: unlimited (every point goes
        to its nearest hub, and "hubs over N" is not evaluable).
    max_distance_m
        Walking metres a hub guides a point within; ``None``: up to the scenario's ``search_limit_m``.
    same_district
        A hub guides only points of its own 县区 (the zones layer's ``district`` column). ``None`` (default): on when
        the zones layer maps a ``district`` column, off otherwise.
    """

    n: int | None = None
    max_distance_m: float | None = None
    same_district: bool | None = None


@dataclass(frozen=True)
class StandardsSpec:
    """Which rule preset to evaluate and the targets the scenario changes."""

    preset: str = "national"
    overrides: Mapping[str, float] = field(default_factory=dict)
    # a city-wide count target (e.g. 建成 100 个生活圈) on the study area: "not_evaluable" (default: the run cannot tell
    # whether it is the whole city), "prorate" (× the study area's residents / city_population) or "whole"
    city_targets: Literal["not_evaluable", "prorate", "whole"] = "not_evaluable"
    city_population: float | None = None  # the whole city's residents, the key of "prorate"


@dataclass(frozen=True)
class LayerSpec:
    """Where one input layer comes from and how its columns map to planner's names."""

    kind: LayerKind
    source: Literal["file", "osm"] = "file"
    path: Path | None = None
    layer: str | None = None
    where: str | None = None
    crs: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    category_map: Mapping[str, str] = field(default_factory=dict)
    encoding: str | None = None
    rules: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class NetworkSpec:
    """The walk network source: an OSM file (``.osm``/``.osm.pbf``) or a roads line layer."""

    path: Path
    kind: Literal["osm", "lines"]
    layer: str | None = None
    crs: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    exclude_highway: tuple[str, ...] = (
        "motorway",
        "motorway_link",
        "trunk",
        "trunk_link",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "raceway",
        "bus_guideway",
        "platform",
        "services",
        "rest_area",
        "escape",
        "busway",
    )
    # which ways are walkable: "planner" (the rule of planner.network.build, with exclude_highway) or "osmnx" (exactly
    # the ways of osmnx's network_type="walk" filter; exclude_highway does not apply)
    walk_filter: Literal["planner", "osmnx"] = "planner"
    # a connected piece of network under this many metres of street (and under 1 % of the largest piece) is not
    # snapped to: points near only such a piece are unreachable (isolated_network); 0 snaps to every piece
    min_piece_m: float = 500.0


# walking speeds, m/min (STANDARDS.md §6): adults' default; the elderly's so that 15 minutes are the 800 m of
# walk.elderly.15min (800 / 15 = 53.33…, inside the sourced 48–60)
ADULT_SPEED = 67.0
ELDERLY_SPEED = 800.0 / 15.0


@dataclass(frozen=True)
class WalkingSpeeds:
    """``[walking_speed]``: how fast each group of residents walks, in metres per minute (STANDARDS.md §6).

    A facility category is walked to at the speed of its taxonomy ``group``: ``elderly`` (养老) at ``elderly``,
    ``childcare`` (托育: carers with infants) at ``carers``, every other category at ``adults``. ``carers`` defaults to
    the adults' speed: no sourced value for carers walking with infants was found.
    """

    adults: float = ADULT_SPEED  # STANDARDS.md §6 adult_default: 15 min ≈ 1005 m
    elderly: float = ELDERLY_SPEED  # STANDARDS.md walk.elderly.15min: 15 min = 800 m
    carers: float = ADULT_SPEED  # carers walking with infants: no sourced value, the adults' speed

    @staticmethod
    def walker(group: str | None) -> Literal["adults", "elderly", "carers"]:
        """Who walks to a facility of taxonomy ``group``: "elderly" → elderly, "childcare" → carers, else adults."""
        return {"elderly": "elderly", "childcare": "carers"}.get(group or "", "adults")  # type: ignore[return-value]

    def for_group(self, group: str | None) -> float:
        """The speed (m/min) of a taxonomy group (see :meth:`walker`)."""
        return float(getattr(self, self.walker(group)))

    def as_dict(self) -> dict[str, float]:
        """{"adults": …, "elderly": …, "carers": …} in m/min."""
        return {"adults": self.adults, "elderly": self.elderly, "carers": self.carers}

    @property
    def fastest(self) -> float:
        """The fastest of the three speeds (m/min): what the search limit must cover."""
        return max(self.adults, self.elderly, self.carers)


@dataclass(frozen=True)
class PartitionSpec:
    """``[partition]``: how a run is split into pieces that run on a Dask cluster (``planner run --workers N`` or
    ``--scheduler``); see docs/scaling.md. Exactly one of ``zones_column`` (the 街道 grouped by a column of the zones
    layer, e.g. ``district`` = 区县) or ``layer`` (polygons, e.g. 区县 or cities, with ``id`` and ``name`` columns)."""

    zones_column: str | None = None
    layer: Path | None = None
    id: str | None = None
    name: str | None = None
    crs: str | None = None  # the partition layer's CRS when its file does not say
    worker_memory: str = "2GiB"  # memory limit of each worker of a LocalCluster (Dask's syntax)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: everything a run needs, and nothing else."""

    path: Path
    name: str
    network: NetworkSpec
    facilities: LayerSpec
    residential: LayerSpec
    zones: LayerSpec | None = None
    description: str = ""
    sample_data: bool = False
    language: Literal["zh", "en"] = "zh"
    crs: str = "auto"
    speeds: WalkingSpeeds = field(default_factory=WalkingSpeeds)
    thresholds_min: tuple[float, ...] = (5.0, 10.0, 15.0)
    max_snap_m: float = 300.0
    study_area_buffer_m: float = 2000.0
    search_limit_m: float = 5000.0
    categories: tuple[str, ...] | None = None
    basemap: Literal["offline", "osm", "tianditu", "amap"] = "offline"
    tianditu_key: str | None = None  # 天地图 browser key (tk), needed for basemap = "tianditu"
    population: PopulationSpec = field(default_factory=PopulationSpec)
    standards: StandardsSpec = field(default_factory=StandardsSpec)
    siting: tuple[SitingSpec, ...] = ()
    partition: PartitionSpec | None = None
    # the scenario's own facility categories ([[categories]]) and rules ([[rules]]), as checked records; see
    # planner.io.categories.taxonomy_for and planner.analysis.standards.scenario_rules
    own_categories: tuple[Mapping[str, object], ...] = ()
    own_rules: tuple[Mapping[str, object], ...] = ()
    one_plus_n: OnePlusNSpec = field(default_factory=OnePlusNSpec)

    def one_plus_n_limit_m(self) -> float:
        """The walk within which a 1+N hub may guide a point: ``[one_plus_n] max_distance_m``, else the search limit."""
        spec = self.one_plus_n
        return float(spec.max_distance_m) if spec.max_distance_m is not None else float(self.search_limit_m)

    @property
    def walking_speed_m_per_min(self) -> float:
        """The adults' walking speed (m/min): the one speed of scenarios before ``[walking_speed]``."""
        return self.speeds.adults

    def speed_for(self, group: str | None) -> float:
        """Walking speed (m/min) to a facility of taxonomy ``group`` (see :class:`WalkingSpeeds`)."""
        return self.speeds.for_group(group)

    def threshold_m(self, minutes: float, group: str | None = None) -> float:
        """Walking distance in metres reached in ``minutes`` at the speed of ``group`` (None: adults)."""
        return minutes * self.speed_for(group)

    @property
    def coverage_minutes(self) -> float:
        """The longest threshold: the circle the per-街道 shares are reported for."""
        return max(self.thresholds_min)

    def input_paths(self) -> tuple[Path, ...]:
        """Every file the run reads: the scenario, the network, the layers and the siting candidates (sorted, once
        each) — what an output folder must never hold and what summary.json lists with its SHA-256."""
        layers = (self.facilities, self.residential, self.zones)
        paths = {self.path, self.network.path, *(s.path for s in layers if s is not None and s.path),
                 *(t.candidates for t in self.siting if t.candidates is not None),
                 *((self.partition.layer,) if self.partition is not None and self.partition.layer is not None else ())}
        return tuple(sorted(paths))


def check_basemap(basemap: str, tianditu_key: str | None = None) -> None:
    """Raise :class:`ScenarioError` when ``basemap`` is unknown, or is 天地图 without a key."""
    if basemap not in BASEMAPS:
        raise ScenarioError(f"basemap 只能是 {'、'.join(BASEMAPS)} / basemap must be one of {', '.join(BASEMAPS)}, got {basemap!r}")
    if basemap == "tianditu" and not (tianditu_key or "").strip():
        raise ScenarioError(
            "basemap = \"tianditu\" 需要天地图密钥：在情景文件中写 tianditu_key = \"你的 tk\"（planner compare 用 --tianditu-key；"
            "在天地图官网申请“浏览器端”密钥），或改用 basemap = \"offline\" / basemap = \"tianditu\" needs a 天地图 key: set "
            "tianditu_key = \"<your tk>\" in the scenario (--tianditu-key for planner compare; apply for a browser key on the "
            "天地图 website), or use basemap = \"offline\""
        )
