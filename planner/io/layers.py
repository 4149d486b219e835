"""Load and validate the input layers: every row is kept (normalised, in the metric CRS) or rejected with a reason."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from planner.errors import LayerError
from planner.io.categories import Taxonomy, load_taxonomy
from planner.io.readers import COORD_PROBLEM, read_layer
from planner.labels import LABELS
from planner.schema import REJECTED_COLUMNS
from planner.settings import LayerSpec, PopulationSpec

__all__ = [
    "LayerSet",
    "LoadedLayer",
    "load_facilities",
    "load_residential",
    "load_zones",
    "reject_outside",
    "reject_kept",
]

log = logging.getLogger(__name__)

# canonical column -> aliases recognised in the source (first match wins; the scenario's
# [layers.X.columns] mapping overrides them)
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "编号", "编码", "代码", "序号", "小区编号", "设施编号", "机构编号", "街道编码", "街道代码", "fid", "code"),
    "name": ("name", "名称", "小区名称", "设施名称", "街道名称", "机构名称", "名字"),
    "category": ("category", "类别", "类型", "设施类型", "设施类别", "type", "大类"),
    "typecode": ("typecode", "type_code", "类型编码", "poi类型编码", "分类编码"),
    "population": ("population", "人口", "常住人口", "人口数", "pop"),
    "households": ("households", "户数", "住户数", "总户数", "hh"),
    "age_60_plus": ("age_60_plus", "60岁及以上", "60岁以上", "60岁及以上人口", "老年人口", "elderly"),
    "age_0_3": ("age_0_3", "0-3岁", "0～3岁", "0至3岁", "0-3岁人口", "婴幼儿", "infants"),
    "places": ("places", "托位", "托位数", "childcare_places"),
    "beds": ("beds", "床位", "床位数"),
    "public_benefit": ("public_benefit", "普惠", "是否普惠", "普惠性"),
    "floor_area_m2": ("floor_area_m2", "floor_area", "建筑面积", "总建筑面积", "住宅建筑面积"),
    "nursing_beds": ("nursing_beds", "护理型床位", "护理型床位数", "护理床位"),
    "elderly_room_m2": ("elderly_room_m2", "养老服务用房面积", "养老用房面积", "养老服务用房"),
    "childcare_room_m2": ("childcare_room_m2", "托育服务用房面积", "托育用房面积", "托育服务用房"),
    "built_type": ("built_type", "建成类型", "新建/已建成", "建设类型", "新旧"),
    "community": ("community", "社区", "所属社区", "居委会", "社区名称"),
}
NUMERIC = (
    "population", "households", "age_60_plus", "age_0_3", "places", "beds", "floor_area_m2", "nursing_beds",
    "elderly_room_m2", "childcare_room_m2",
)
BUILT_TYPES = {"新建": "new", "new": "new", "新": "new", "已建成": "existing", "既有": "existing", "老旧": "existing",
               "existing": "existing", "旧": "existing", "老旧小区": "existing", "新建小区": "new"}



@dataclass(frozen=True)
class LoadedLayer:
    """A validated layer in the metric CRS plus its rejected rows."""

    kind: str
    source: str
    data: gpd.GeoDataFrame
    rejected: pd.DataFrame
    rows_read: int
    converted_from: str | None = None  # "GCJ02"/"BD09" when coordinates were converted to WGS84 on reading


@dataclass(frozen=True)
class LayerSet:
    facilities: LoadedLayer
    residential: LoadedLayer
    zones: LoadedLayer | None

    @property
    def rejected(self) -> pd.DataFrame:
        parts = [lyr.rejected for lyr in (self.facilities, self.residential, self.zones) if lyr is not None]
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame(columns=REJECTED_COLUMNS)
        return pd.concat(parts, ignore_index=True)[REJECTED_COLUMNS]


def _read(spec: LayerSpec, what: str) -> gpd.GeoDataFrame:
    return read_layer(
        spec.path, layer=spec.layer, where=spec.where, crs=spec.crs, encoding=spec.encoding, columns=spec.columns, what=what
    )


def _column_map(gdf: pd.DataFrame, spec_columns: Mapping[str, str], path: Path, what: str) -> dict[str, str]:
    """canonical -> source column, from the scenario's mapping first and the aliases second."""
    found: dict[str, str] = {}
    for canonical, source in spec_columns.items():
        if source not in gdf.columns:
            raise LayerError(
                f"{what} {path} 中没有列 '{source}'（情景文件把它映射为 {canonical}）。现有列：{', '.join(map(str, gdf.columns))} / "
                f"column '{source}' (mapped to {canonical} in the scenario) is not in {path}; "
                f"fix [layers.*.columns] {canonical} = \"<one of the columns above>\""
            )
        found[canonical] = source
    lower = {str(c).strip().lower(): c for c in gdf.columns}
    for canonical, aliases in ALIASES.items():
        if canonical in found:
            continue
        for alias in aliases:
            if alias.lower() in lower:
                found[canonical] = lower[alias.lower()]
                break
    return found


def _reason_text(code: str, detail: str) -> str:
    """The bilingual reason of rejected.csv: 中文：detail / English: detail."""
    zh, en = LABELS[f"reason.{code}"]
    return f"{zh}{'：' + detail if detail else ''} / {en}{': ' + detail if detail else ''}"


def _reject(layer: str, source: str, rows: pd.DataFrame, code: str, detail: str = "", ids=None, names=None) -> pd.DataFrame:
    """Every row of ``rows`` rejected with one ``code`` and ``detail``."""
    n = len(rows)
    return _reject_rows(layer, source, rows, np.full(n, code, dtype=object), np.full(n, detail, dtype=object),
                        ids=ids if ids is not None else "", names=names if names is not None else "")


def _reject_rows(layer: str, source: str, rows: pd.DataFrame, codes: np.ndarray, details: np.ndarray, *, ids, names) -> pd.DataFrame:
    """rejected.csv rows for ``rows``, each with its own code and detail; the original attributes as JSON."""
    reasons = [_reason_text(c, d) for c, d in zip(codes, details, strict=True)]
    attrs = [
        json.dumps({str(k): _jsonable(v) for k, v in rec.items() if k not in ("geometry", COORD_PROBLEM)}, ensure_ascii=False)
        for rec in rows.to_dict("records")
    ]
    return pd.DataFrame(
        {
            "layer": layer,
            "source": source,
            "row": rows.index.to_numpy() + 1 if rows.index.dtype.kind in "iu" else rows.index.astype(str),
            "id": ids,
            "name": names,
            "reason_code": codes,
            "reason": reasons,
            "attributes": attrs,
        }
    )


def _jsonable(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _Validator:
    """Collects per-row rejections for one layer; each row is rejected at most once (first reason).

    Rejections are kept as arrays (positions, codes, details), so a layer whose rows are mostly rejected — as most
    OSM POIs are — costs in proportion to its size, not one frame per row.
    """

    def __init__(self, kind: str, source: str, raw: gpd.GeoDataFrame):
        self.kind = kind
        self.source = source
        self.raw = raw
        self._taken = np.zeros(len(raw), dtype=bool)
        self._positions: list[np.ndarray] = []
        self._codes: list[str] = []
        self._details: list[list[str]] = []

    def reject(self, mask: np.ndarray | pd.Series, code: str, detail: str | pd.Series = "") -> None:
        """Reject the rows of ``mask`` not rejected before, with ``code`` and ``detail`` (one text, or one per row)."""
        new = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self._taken)
        if not len(new):
            return
        self._taken[new] = True
        details = detail.to_numpy(dtype=object)[new] if isinstance(detail, pd.Series) else [detail] * len(new)
        self._positions.append(new)
        self._codes.append(code)
        self._details.append([str(d) for d in details])

    @property
    def ok(self) -> np.ndarray:
        return ~self._taken

    def rejected(self, ids: pd.Series, names: pd.Series) -> pd.DataFrame:
        """One row per rejected input row, in input order: the rejected.csv columns."""
        if not self._positions:
            return pd.DataFrame(columns=REJECTED_COLUMNS)
        pos = np.concatenate(self._positions)
        codes = np.concatenate([np.full(len(p), c, dtype=object) for p, c in zip(self._positions, self._codes, strict=True)])
        details = np.concatenate([np.asarray(d, dtype=object) for d in self._details])
        order = np.argsort(pos, kind="stable")
        pos, codes, details = pos[order], codes[order], details[order]
        return _reject_rows(self.kind, self.source, self.raw.iloc[pos], codes, details,
                            ids=ids.iloc[pos].tolist(), names=names.iloc[pos].tolist())


def _geometry_checks(v: _Validator, gdf: gpd.GeoDataFrame, allowed: tuple[str, ...]) -> gpd.GeoSeries:
    if COORD_PROBLEM in gdf.columns:
        for code in ("missing_coordinates", "invalid_coordinates", "out_of_range", "swapped_coordinates"):
            hit = gdf[COORD_PROBLEM].astype(str).str.startswith(code)
            v.reject(hit, code, gdf[COORD_PROBLEM].astype(str).str.partition(":")[2])
    geom = gdf.geometry
    v.reject(geom.isna() | geom.is_empty, "missing_geometry")
    valid = geom.copy()
    bad = ~(geom.isna() | geom.is_empty) & ~geom.is_valid
    if bad.any():
        valid[bad] = shapely.make_valid(geom[bad].to_numpy())
        still = bad & (valid.isna() | valid.is_empty | ~valid.is_valid)
        reasons = pd.Series(shapely.is_valid_reason(geom.to_numpy()), index=geom.index).astype(str)
        v.reject(still, "invalid_geometry", reasons)
    types = valid.geom_type.fillna("")
    wrong = ~types.isin(allowed) & ~(valid.isna() | valid.is_empty)
    v.reject(wrong, "wrong_geometry_type", types.map(lambda t: f"{t}（需要 {'/'.join(allowed)}）"))
    return valid


def _numeric(v: _Validator, gdf: pd.DataFrame, cmap: dict[str, str]) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    for canonical in NUMERIC:
        if canonical not in cmap:
            continue
        raw = gdf[cmap[canonical]]
        text = raw.astype(str).str.strip().str.replace(",", "", regex=False)
        blank = raw.isna() | text.isin(["", "nan", "None", "NaN"])
        values = pd.to_numeric(text.where(~blank), errors="coerce")
        bad = (~blank & values.isna()).to_numpy()
        v.reject(bad, "non_numeric", _details(bad, raw, lambda s, c=cmap[canonical]: f"{c} = '{s}'", as_text=True))
        negative = (values < 0).to_numpy()
        v.reject(negative, "negative_value", _details(negative, values, lambda x, c=cmap[canonical]: f"{c} = {x}"))
        out[canonical] = values.astype(float)
    return out


def _details(mask: np.ndarray, values: pd.Series, fmt, *, as_text: bool = False) -> pd.Series:
    """Reason details for the rows of ``mask`` only (other rows get ""): most rows pass, so most texts are never built."""
    out = pd.Series("", index=values.index, dtype=object)
    if mask.any():
        picked = values[mask].astype(str) if as_text else values[mask]
        out[mask] = picked.map(fmt).to_numpy(dtype=object)
    return out


def _ids(gdf: pd.DataFrame, cmap: dict[str, str], prefix: str) -> pd.Series:
    if "id" in cmap:
        ids = gdf[cmap["id"]].astype(str).str.strip()
        missing = gdf[cmap["id"]].isna() | ids.eq("")
        return ids.where(~missing, [f"{prefix}{i + 1:05d}" for i in range(len(gdf))])
    return pd.Series([f"{prefix}{i + 1:05d}" for i in range(len(gdf))], index=gdf.index)


def _names(gdf: pd.DataFrame, cmap: dict[str, str]) -> pd.Series:
    if "name" in cmap:
        return gdf[cmap["name"]].fillna("").astype(str).str.strip()
    return pd.Series([""] * len(gdf), index=gdf.index)


def _finish(v: _Validator, frame: gpd.GeoDataFrame, crs: CRS, ids: pd.Series, names: pd.Series, rows_read: int) -> LoadedLayer:
    dup = ids.duplicated(keep="first").to_numpy()
    v.reject(dup, "duplicate_id", ids.map(lambda i: f"id = {i}"))
    keep = v.ok
    data = frame[keep].to_crs(crs)
    data.index = pd.Index(data["id"].to_numpy())
    rejected = v.rejected(ids, names)
    log.info("%s %s: %d read, %d kept, %d rejected", v.kind, v.source, rows_read, int(keep.sum()), len(rejected))
    return LoadedLayer(
        kind=v.kind, source=v.source, data=data, rejected=rejected, rows_read=rows_read, converted_from=v.raw.attrs.get("converted_from")
    )


def reject_outside(layer: LoadedLayer, frame: gpd.GeoDataFrame, area, detail: str) -> tuple[LoadedLayer, gpd.GeoDataFrame]:
    """Move the rows of ``frame`` (kept rows of ``layer``) that do not intersect ``area`` to the rejected table."""
    outside = ~frame.geometry.intersects(area).to_numpy()
    if not outside.any():
        return layer, frame
    gone = frame[outside]
    rows = _reject(layer.kind, layer.source, gone.drop(columns="geometry").reset_index(drop=True), "outside_study_area", detail,
                   ids=gone["id"].to_numpy(), names=gone["name"].to_numpy())
    rows["row"] = ""
    log.warning("%s: %d rows outside the study area rejected", layer.kind, int(outside.sum()))
    rejected = pd.concat([layer.rejected, rows], ignore_index=True) if len(layer.rejected) else rows
    new = LoadedLayer(
        kind=layer.kind, source=layer.source, data=layer.data[~outside], rejected=rejected, rows_read=layer.rows_read,
        converted_from=layer.converted_from,
    )
    return new, frame[~outside]


def reject_kept(layer: LoadedLayer, frame: gpd.GeoDataFrame, mask: np.ndarray, code: str, detail: str) -> tuple[LoadedLayer, gpd.GeoDataFrame]:
    """Move the rows of ``frame`` (kept rows of ``layer``) where ``mask`` is True to the rejected table with ``code``
    (a rejection decided after loading, e.g. ``isolated_network`` when the walk network is known)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return layer, frame
    gone = frame[mask]
    rows = _reject(layer.kind, layer.source, gone.drop(columns="geometry").reset_index(drop=True), code, detail,
                   ids=gone["id"].to_numpy(), names=gone["name"].to_numpy())
    rows["row"] = ""
    log.warning("%s: %d rows rejected (%s)", layer.kind, int(mask.sum()), code)
    rejected = pd.concat([layer.rejected, rows], ignore_index=True) if len(layer.rejected) else rows
    new = LoadedLayer(
        kind=layer.kind, source=layer.source, data=layer.data[~layer.data.index.isin(gone.index)], rejected=rejected,
        rows_read=layer.rows_read, converted_from=layer.converted_from,
    )
    return new, frame[~mask]


def load_facilities(
    spec: LayerSpec, crs: CRS, *, taxonomy: Taxonomy | None = None, osm_pois: gpd.GeoDataFrame | None = None
) -> LoadedLayer:
    """Facilities with columns ``id, name, category, category_zh, places, beds, public_benefit`` (points)."""
    taxonomy = taxonomy or load_taxonomy()
    if spec.source == "osm":
        return _facilities_from_osm(osm_pois, crs, taxonomy)
    raw = _read(spec, "[layers.facilities]")
    cmap = _column_map(raw, spec.columns, spec.path, "[layers.facilities]")
    osm_tags = raw["tags"] if "tags" in raw.columns else None  # OSM exports: a JSON object of tags per row
    if "category" not in cmap and "typecode" not in cmap and osm_tags is None:
        raise LayerError(
            f"[layers.facilities] {spec.path} 缺少设施类别列（如 类别、类型、category，或高德 typecode）。现有列：{', '.join(map(str, raw.columns))} / "
            f"{spec.path} has no category column; add one, or map yours in the scenario: "
            '[layers.facilities.columns] category = "<your column>"'
        )
    v = _Validator("facilities", str(spec.path.name), raw)
    geom = _geometry_checks(v, raw, ("Point", "MultiPoint", "Polygon", "MultiPolygon"))
    if spec.rules:
        taxonomy = taxonomy.with_rules(spec.rules)
    labels = raw[cmap["category"]] if "category" in cmap else pd.Series(None, index=raw.index, dtype=object)
    codes = raw[cmap["typecode"]] if "typecode" in cmap else pd.Series(None, index=raw.index, dtype=object)
    names_raw = raw[cmap["name"]] if "name" in cmap else pd.Series("", index=raw.index, dtype=object)
    tag_dicts = osm_tags.map(_parse_tags) if osm_tags is not None else pd.Series([{}] * len(raw), index=raw.index)
    keys = pd.Series(
        [
            taxonomy.resolve(lab, spec.category_map)
            or taxonomy.match_poi(name=nm, typecode=code, type_text=lab)
            or (taxonomy.match_osm(tg) if tg else None)
            for lab, code, nm, tg in zip(labels, codes, names_raw, tag_dicts, strict=True)
        ],
        index=raw.index,
        dtype=object,
    )
    blank = (
        (labels.isna() | labels.astype(str).str.strip().isin(["", "nan", "None"]))
        & (codes.isna() | codes.astype(str).str.strip().isin(["", "nan", "None"]))
        & tag_dicts.map(lambda t: not t)
    )
    v.reject(blank & keys.isna(), "missing_category")
    shown = (
        labels.astype(str).where(~labels.isna(), "")
        + codes.astype(str).where(~codes.isna(), "").map(lambda c: f" [{c}]" if c else "")
        + tag_dicts.map(lambda t: f" {_main_tag(t)}" if t else "")
    )
    v.reject(~blank & keys.isna(), "unknown_category", shown.map(lambda t: f"'{t.strip()}'"))
    nums = _numeric(v, raw, cmap)
    ids = _ids(raw, cmap, "F")
    names = _names(raw, cmap)
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": names,
            "category": keys,
            "category_zh": keys.map(lambda k: taxonomy[k].zh if isinstance(k, str) else ""),
            "places": nums.get("places", pd.Series(np.nan, index=raw.index)),
            "beds": nums.get("beds", pd.Series(np.nan, index=raw.index)),
            "nursing_beds": nums.get("nursing_beds", pd.Series(np.nan, index=raw.index)),
            "public_benefit": _flag(raw[cmap["public_benefit"]]) if "public_benefit" in cmap else pd.Series(pd.NA, index=raw.index, dtype="boolean"),
        },
        geometry=_as_points(geom),
        crs=raw.crs,
    )
    return _finish(v, frame, crs, ids, names, len(raw))


def _flag(series: pd.Series) -> pd.Series:
    yes = {"是", "1", "true", "yes", "y", "普惠", "t"}
    no = {"否", "0", "false", "no", "n", "非普惠", "f"}

    def conv(val: object) -> object:
        if val is None or (isinstance(val, float) and np.isnan(val)):
            return pd.NA
        text = str(val).strip().lower()
        return True if text in yes else False if text in no else pd.NA

    return series.map(conv).astype("boolean")


def _as_points(geom: gpd.GeoSeries) -> gpd.GeoSeries:
    pts = geom.copy()
    non_point = ~geom.isna() & ~geom.is_empty & ~geom.geom_type.eq("Point")
    if non_point.any():
        pts[non_point] = geom[non_point].representative_point()
    return pts


def _facilities_from_osm(pois: gpd.GeoDataFrame | None, crs: CRS, taxonomy: Taxonomy) -> LoadedLayer:
    if pois is None:
        raise LayerError("[layers.facilities] source = \"osm\" 需要 [network] 是 OSM 文件 / needs an OSM network file")
    source = "OSM"
    raw = pois.reset_index(drop=True)
    v = _Validator("facilities", source, raw)
    tags = raw["tags"].map(json.loads) if len(raw) else pd.Series([], dtype=object)
    keys = tags.map(taxonomy.match_osm) if len(raw) else pd.Series([], dtype=object)
    v.reject(keys.isna().to_numpy(), "unmatched_poi", tags.map(_main_tag) if len(raw) else "")
    ids = (raw["osm_type"].astype(str) + "/" + raw["osm_id"].astype(str)) if len(raw) else pd.Series([], dtype=str)
    names = raw["name"].fillna("").astype(str) if len(raw) else pd.Series([], dtype=str)
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": names,
            "category": keys,
            "category_zh": keys.map(lambda k: taxonomy[k].zh if isinstance(k, str) else ""),
            "places": np.nan,
            "beds": tags.map(lambda t: pd.to_numeric(t.get("beds", t.get("capacity")), errors="coerce")) if len(raw) else np.nan,
            "public_benefit": pd.Series(pd.NA, index=raw.index, dtype="boolean"),
        },
        geometry=raw.geometry,
        crs=raw.crs,
    )
    return _finish(v, frame, crs, ids, names, len(raw))


def _parse_tags(value: object) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if value is None or (isinstance(value, float) and np.isnan(value)) or not str(value).strip():
        return {}
    try:
        parsed = json.loads(str(value))
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}


def _main_tag(tags: Mapping[str, str]) -> str:
    from planner.io.osm import POI_KEYS

    for key in POI_KEYS:
        if key in tags:
            return f"{key}={tags[key]}"
    return ""


def load_residential(
    spec: LayerSpec,
    crs: CRS,
    population: PopulationSpec,
    *,
    osm_residential: gpd.GeoDataFrame | None = None,
    osm_buildings: gpd.GeoDataFrame | None = None,
) -> LoadedLayer:
    """Residential compounds with ``id, name, households, population, age_60_plus, age_0_3, population_source``.

    Geometry is kept as given (point or polygon) in the metric CRS; distance work uses
    ``representative_point()``.
    """
    if spec.source == "osm":
        from planner.io.population import residential_from_osm

        frame = residential_from_osm(osm_residential, osm_buildings, crs, population)
        v = _Validator("residential", "OSM", frame)
        return _finish(v, frame, crs, frame["id"], frame["name"], len(frame))
    raw = _read(spec, "[layers.residential]")
    cmap = _column_map(raw, spec.columns, spec.path, "[layers.residential]")
    if "population" not in cmap and "households" not in cmap and not (population.census_from_zones and "floor_area_m2" in cmap):
        raise LayerError(
            f"[layers.residential] {spec.path} 既没有人口列也没有户数列（如 人口、户数）。现有列：{', '.join(map(str, raw.columns))} / "
            f"{spec.path} has neither a population nor a households column; map one in the scenario: "
            '[layers.residential.columns] population = "<your column>"'
        )
    v = _Validator("residential", str(spec.path.name), raw)
    geom = _geometry_checks(v, raw, ("Point", "MultiPoint", "Polygon", "MultiPolygon"))
    nums = _numeric(v, raw, cmap)
    pop = nums.get("population", pd.Series(np.nan, index=raw.index))
    hh = nums.get("households", pd.Series(np.nan, index=raw.index))
    if not population.census_from_zones:
        v.reject(pop.isna() & hh.isna(), "no_population")
    source = np.where(pop.notna(), "given", "households")
    built = pd.Series(pd.NA, index=raw.index, dtype="string")
    if "built_type" in cmap:
        text = raw[cmap["built_type"]].astype("string").str.strip()
        built = text.map(lambda t: BUILT_TYPES.get(str(t).lower(), BUILT_TYPES.get(str(t))) if pd.notna(t) and str(t) else pd.NA).astype("string")
        v.reject(text.notna() & text.ne("") & built.isna(), "unknown_built_type", text.map(lambda t: f"'{t}'"))
    pop = pop.fillna(hh * population.persons_per_household)
    ids = _ids(raw, cmap, "R")
    names = _names(raw, cmap)
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": names,
            "households": hh,
            "population": pop,
            "age_60_plus": nums.get("age_60_plus", pd.Series(np.nan, index=raw.index)),
            "age_0_3": nums.get("age_0_3", pd.Series(np.nan, index=raw.index)),
            "population_source": source,
            "floor_area_m2": nums.get("floor_area_m2", pd.Series(np.nan, index=raw.index)),
            "elderly_room_m2": nums.get("elderly_room_m2", pd.Series(np.nan, index=raw.index)),
            "childcare_room_m2": nums.get("childcare_room_m2", pd.Series(np.nan, index=raw.index)),
            "built_type": built,
            "community": raw[cmap["community"]].astype("string").str.strip() if "community" in cmap else pd.Series(pd.NA, index=raw.index, dtype="string"),
        },
        geometry=geom,
        crs=raw.crs,
    )
    return _finish(v, frame, crs, ids, names, len(raw))


def load_zones(spec: LayerSpec, crs: CRS) -> LoadedLayer:
    """街道/乡镇 polygons with ``id, name`` and, where given, census totals ``population, age_60_plus, age_0_3``."""
    raw = _read(spec, "[layers.zones]")
    cmap = _column_map(raw, spec.columns, spec.path, "[layers.zones]")
    v = _Validator("zones", str(spec.path.name), raw)
    geom = _geometry_checks(v, raw, ("Polygon", "MultiPolygon"))
    nums = _numeric(v, raw, {k: c for k, c in cmap.items() if k in ("population", "households", "age_60_plus", "age_0_3")})
    ids = _ids(raw, cmap, "Z")
    names = _names(raw, cmap)
    names = names.where(names.ne(""), ids)
    frame = gpd.GeoDataFrame({"id": ids, "name": names, **nums}, geometry=geom, crs=raw.crs)
    return _finish(v, frame, crs, ids, names, len(raw))
