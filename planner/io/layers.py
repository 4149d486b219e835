"""Load and validate the input layers: every row is kept (normalised, in the metric CRS) or rejected with a reason."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from planner.errors import LayerError
from planner.io.categories import Taxonomy, load_taxonomy
from planner.io.numbers import UNITS, read_numbers
from planner.io.readers import COORD_PROBLEM, SHEET_COLUMN, SOURCE_ROW, read_layer
from planner.labels import LABELS
from planner.schema import CATEGORY_FROM, REJECTED_COLUMNS
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
    "hub": ("hub", "枢纽", "是否枢纽", "托育枢纽", "示范中心", "是否示范中心"),
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
    warnings: tuple[str, ...] = ()  # what changed in the layer without rejecting a row (repaired geometries), bilingual
    # the rows as read, and the position in them of each kept row: a row rejected later (outside the study area)
    # is reported with its row number and attributes as written
    raw: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    kept_positions: np.ndarray | None = field(default=None, repr=False, compare=False)
    units_read: dict[str, int] = field(default_factory=dict)  # column -> values read from text (50张, 约1200, 1,200)
    notes: tuple[str, ...] = ()  # what the reader did for the user: sheets merged, title rows skipped, headers flattened


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
    """rejected.csv rows for ``rows``, each with its own code and detail; the original attributes as JSON.

    ``row`` is the row a user sees (``_source_row``: the Excel row, the text-editor line, the feature number);
    rows without it are numbered by their position (index + 1). A row's sheet (``_sheet``) goes into its
    attributes as ``工作表``."""
    reasons = [_reason_text(c, d) for c, d in zip(codes, details, strict=True)]
    hidden = {"geometry", COORD_PROBLEM, SOURCE_ROW}
    attrs = [
        json.dumps({(_SHEET_KEY if k == SHEET_COLUMN else str(k)): _jsonable(val) for k, val in rec.items() if k not in hidden},
                   ensure_ascii=False)
        for rec in rows.to_dict("records")
    ]
    if SOURCE_ROW in rows.columns:
        row = rows[SOURCE_ROW].to_numpy()
    elif rows.index.dtype.kind in "iu":
        row = rows.index.to_numpy() + 1
    else:
        row = rows.index.astype(str)
    return pd.DataFrame(
        {
            "layer": layer,
            "source": source,
            "row": row,
            "id": ids,
            "name": names,
            "reason_code": codes,
            "reason": reasons,
            "attributes": attrs,
        }
    )


_SHEET_KEY = "工作表"  # the key of a row's sheet in rejected.csv's attributes


def _jsonable(value: object) -> object:
    """A cell as JSON: None for blanks, text for infinities and other types (dates, …), so the JSON stays valid."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if np.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, str | int | bool):
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
        self.warnings: list[str] = []  # warnings about the layer as a whole (bilingual)

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
        for code in ("missing_coordinates", "invalid_coordinates", "out_of_range", "swapped_coordinates", "outside_china"):
            hit = gdf[COORD_PROBLEM].astype(str).str.startswith(code)
            v.reject(hit, code, gdf[COORD_PROBLEM].astype(str).str.partition(":")[2])
    geom = gdf.geometry
    v.reject(geom.isna() | geom.is_empty, "missing_geometry")
    if gdf.crs is not None and CRS.from_user_input(gdf.crs).is_geographic and len(gdf):
        # a file in metres declared (or labelled) as longitude/latitude: each shape beyond ±180/±90 says so
        b = shapely.bounds(geom.to_numpy())
        with np.errstate(invalid="ignore"):
            far = (np.abs(b[:, [0, 2]]) > 180).any(axis=1) | (np.abs(b[:, [1, 3]]) > 90).any(axis=1)
        v.reject(far, "out_of_range", _details(far, pd.Series(list(map(tuple, b[:, :2])), index=geom.index),
                                              lambda xy: f"x = {xy[0]:.6g}, y = {xy[1]:.6g}"))
    valid = geom.copy()
    bad = ~(geom.isna() | geom.is_empty) & ~geom.is_valid
    if bad.any():
        valid[bad] = _repair(geom[bad].to_numpy(), polygonal="Polygon" in allowed)
        still = bad & (valid.isna() | valid.is_empty | ~valid.is_valid)
        reasons = pd.Series(shapely.is_valid_reason(geom.to_numpy()), index=geom.index).astype(str)
        v.reject(still, "invalid_geometry", reasons)
        _note_repairs(v, geom, valid, (bad & ~still).to_numpy(), reasons)
    types = valid.geom_type.fillna("")
    wrong = ~types.isin(allowed) & ~(valid.isna() | valid.is_empty)
    shape = "面" if "Polygon" in allowed else "点或面"
    v.reject(wrong, "wrong_geometry_type", types.map(lambda t: f"{t}（需要{shape} {'/'.join(allowed)}）"))
    return valid


def _repair(geoms: np.ndarray, *, polygonal: bool) -> np.ndarray:
    """Valid versions of ``geoms``. Polygons are rebuilt from their rings with every covered area kept (GEOS's
    "structure" method: a ring that crosses or overlaps itself keeps the area it encloses, where the default
    method would cut doubly covered parts out), and only the polygonal parts of the result are kept."""
    fixed = shapely.make_valid(geoms, method="structure", keep_collapsed=False) if polygonal else shapely.make_valid(geoms)
    if polygonal:
        mixed = shapely.get_type_id(fixed) == 7  # a GeometryCollection: keep its polygons
        for i in np.flatnonzero(mixed):
            parts = shapely.get_parts(fixed[i])
            polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
            fixed[i] = shapely.union_all(polys) if len(polys) else None
    return fixed


def _note_repairs(v: _Validator, before: gpd.GeoSeries, after: gpd.GeoSeries, repaired: np.ndarray, reasons: pd.Series) -> None:
    """A warning naming the repaired rows: why each was invalid and what the repair made of it."""
    at = np.flatnonzero(repaired)
    if not len(at):
        return
    items, rows = [], []
    for i in at[:5]:
        old, new = before.iloc[i], after.iloc[i]
        parts = len(shapely.get_parts(new))
        change = ""
        if new.geom_type.endswith("Polygon") and old.geom_type.endswith("Polygon"):
            ring_area = abs(shapely.area(shapely.polygons(shapely.get_exterior_ring(shapely.get_parts(old))))).sum()
            change = f"，面积 {ring_area:.6g} → {new.area:.6g}（图层单位）" if ring_area else ""
        rows.append(_row_label(v.raw, i))
        items.append(f"第 {rows[-1]} 行 {reasons.iloc[i]} → {new.geom_type}，{parts} 个部分{change}")
    more_zh = f" 等 {len(at)} 行" if len(at) > 5 else ""
    more_en = ", …" if len(at) > 5 else ""
    kind_zh = {"facilities": "设施图层", "residential": "小区图层", "zones": "街道图层"}.get(v.kind, v.kind)
    v.warnings.append(
        f"{kind_zh} {v.source}：{len(at)} 个无效几何已自动修复（{'；'.join(items)}{more_zh}）。请核对这些边界 / "
        f"{v.kind} layer {v.source}: {len(at)} invalid geometries were repaired (rows {', '.join(rows)}{more_en}; every "
        "area a ring encloses is kept); check these outlines"
    )


def _row_label(raw: pd.DataFrame, position: int) -> str:
    """The row number a user sees for the row at ``position`` (as rejected.csv gives it)."""
    if "_source_row" in raw.columns:
        return str(raw["_source_row"].iloc[position])
    return str(position + 1)


def _numeric(v: _Validator, gdf: pd.DataFrame, cmap: dict[str, str]) -> dict[str, pd.Series]:
    """The numeric columns read (with units as written: 50张, 约1200, 1,200, 3.5万; see :mod:`planner.io.numbers`);
    rows whose value is not one number, is in a unit the column does not take, or is negative are rejected. How
    many values each column read from text is logged and kept in ``v.raw.attrs["units_read"]``."""
    out: dict[str, pd.Series] = {}
    units_read: dict[str, int] = dict(v.raw.attrs.get("units_read", {}))
    for canonical in NUMERIC:
        if canonical not in cmap:
            continue
        c = cmap[canonical]
        raw = gdf[c]
        units = UNITS.get(canonical, ())
        got = read_numbers(raw, units)
        v.reject(got.non_numeric, "non_numeric", _details(got.non_numeric, raw, lambda s, c=c: f"{c} = '{s}'", as_text=True))
        shown = "/".join(units[:3]) or "—"
        v.reject(got.unit_mismatch, "unit_mismatch",
                 _details(got.unit_mismatch, raw, lambda s, c=c, u=shown: f"{c} = '{s}' ({u})", as_text=True))
        values = got.values
        negative = (values < 0).to_numpy()
        v.reject(negative, "negative_value", _details(negative, values, lambda x, c=c: f"{c} = {x}"))
        n_text = int(got.from_text.sum())
        if n_text:
            units_read[str(c)] = n_text
            text, number = got.example(raw)
            log.info("%s：%d 个值带单位或分隔符读取，如 '%s' → %s / %s: %d values read from text (units, 约, 万, separators), e.g. '%s' → %s",
                     c, n_text, text, f"{number:g}", c, n_text, text, f"{number:g}")
        out[canonical] = values.astype(float)
    v.raw.attrs["units_read"] = units_read
    return out


# the most a single row can plausibly hold; a larger value is a typing or unit error (e.g. 1e15 residents, a 万-unit
# total written into a per-compound column), rejected as ``implausible_value``
LIMITS: dict[str, dict[str, float]] = {
    "residential": {"population": 100_000, "households": 50_000, "age_60_plus": 100_000, "age_0_3": 100_000,
                    "floor_area_m2": 10_000_000, "elderly_room_m2": 100_000, "childcare_room_m2": 100_000},
    "facilities": {"beds": 10_000, "nursing_beds": 10_000, "places": 5_000},
    "zones": {"population": 5_000_000, "households": 2_500_000, "age_60_plus": 5_000_000, "age_0_3": 5_000_000},
}
# parts that cannot exceed their whole when both are given in a row
PARTS = (("age_60_plus", "population"), ("age_0_3", "population"), ("households", "population"), ("nursing_beds", "beds"))


def _plausible(v: _Validator, nums: dict[str, pd.Series], cmap: dict[str, str]) -> None:
    """Reject rows with an infinite value, a value beyond :data:`LIMITS` or a part larger than its whole."""
    limits = LIMITS.get(v.kind, {})
    for canonical, values in nums.items():
        col = cmap[canonical]
        inf = np.isinf(values.to_numpy(dtype=float))
        v.reject(inf, "implausible_value", _details(inf, values, lambda x, c=col: f"{c} = {x}"))
        cap = limits.get(canonical)
        if cap is not None:
            over = (values > cap).to_numpy()
            v.reject(over, "implausible_value", _details(over, values, lambda x, c=col, m=cap: f"{c} = {x:,.15g} > {m:,.0f}"))
    for part, whole in PARTS:
        if part in nums and whole in nums:
            larger = (nums[part] > nums[whole]).to_numpy()
            if larger.any():  # the texts only for the rows concerned
                detail = pd.Series("", index=nums[part].index, dtype=object)
                detail[larger] = [f"{cmap[part]} = {a} > {cmap[whole]} = {b}"
                                  for a, b in zip(nums[part][larger], nums[whole][larger], strict=True)]
                v.reject(larger, "implausible_value", detail)


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
    """The kept rows in ``crs`` (indexed by id) and the rejected ones. An id is a duplicate only among rows kept so
    far: the first valid row with an id is kept, even when an earlier row with that id was rejected."""
    ok = v.ok
    dup = np.zeros(len(ids), dtype=bool)
    dup[ok] = ids[ok].duplicated(keep="first").to_numpy()
    v.reject(dup, "duplicate_id", _details(dup, ids, lambda i: f"id = {i}"))
    keep = v.ok
    data = frame[keep].to_crs(crs)
    data.index = pd.Index(data["id"].to_numpy())
    rejected = v.rejected(ids, names)
    log.info("%s %s: %d read, %d kept, %d rejected", v.kind, v.source, rows_read, int(keep.sum()), len(rejected))
    return LoadedLayer(
        kind=v.kind, source=v.source, data=data, rejected=rejected, rows_read=rows_read, converted_from=v.raw.attrs.get("converted_from"),
        warnings=tuple(v.warnings), raw=v.raw, kept_positions=np.flatnonzero(keep),
        units_read=dict(v.raw.attrs.get("units_read", {})), notes=tuple(v.raw.attrs.get("read_notes", ())),
    )


def reject_outside(layer: LoadedLayer, frame: gpd.GeoDataFrame, area, detail: str) -> tuple[LoadedLayer, gpd.GeoDataFrame]:
    """Move the rows of ``frame`` (kept rows of ``layer``, indexed by id) that do not intersect ``area`` to the
    rejected table as ``outside_study_area``."""
    return reject_kept(layer, frame, ~frame.geometry.intersects(area).to_numpy(), "outside_study_area", detail)


def reject_kept(layer: LoadedLayer, frame: gpd.GeoDataFrame, mask: np.ndarray, code: str, detail: str) -> tuple[LoadedLayer, gpd.GeoDataFrame]:
    """Move the rows of ``frame`` (kept rows of ``layer``, indexed by id) where ``mask`` is True to the rejected
    table with ``code`` — a rejection decided after loading (``outside_study_area``, ``isolated_network``) — with
    their row numbers and attributes as read."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return layer, frame
    gone = frame[mask]
    if layer.raw is not None and layer.kept_positions is not None:
        pos = layer.kept_positions[layer.data.index.get_indexer(gone.index)]
        rows = _reject(layer.kind, layer.source, layer.raw.iloc[pos], code, detail,
                       ids=gone["id"].to_numpy(), names=gone["name"].to_numpy())
    else:
        rows = _reject(layer.kind, layer.source, gone.drop(columns="geometry").reset_index(drop=True), code, detail,
                       ids=gone["id"].to_numpy(), names=gone["name"].to_numpy())
        rows["row"] = ""
    log.warning("%s: %d rows rejected (%s)", layer.kind, int(mask.sum()), code)
    rejected = pd.concat([layer.rejected, rows], ignore_index=True) if len(layer.rejected) else rows
    kept = ~layer.data.index.isin(gone.index)
    new = LoadedLayer(
        kind=layer.kind, source=layer.source, data=layer.data[kept], rejected=rejected, rows_read=layer.rows_read,
        converted_from=layer.converted_from, warnings=layer.warnings, raw=layer.raw,
        kept_positions=layer.kept_positions[kept] if layer.kept_positions is not None else None,
        units_read=layer.units_read, notes=layer.notes,
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
    keys, category_from = _categorise(taxonomy, labels, codes, names_raw, tag_dicts, spec.category_map, v, str(spec.path.name))
    nums = _numeric(v, raw, cmap)
    _plausible(v, nums, cmap)
    ids = _ids(raw, cmap, "F")
    names = _names(raw, cmap)
    frame = gpd.GeoDataFrame(
        {
            "id": ids,
            "name": names,
            "category": keys,
            "category_zh": keys.map(lambda k: taxonomy[k].zh if isinstance(k, str) else ""),
            CATEGORY_FROM: category_from,
            "places": nums.get("places", pd.Series(np.nan, index=raw.index)),
            "beds": nums.get("beds", pd.Series(np.nan, index=raw.index)),
            "nursing_beds": nums.get("nursing_beds", pd.Series(np.nan, index=raw.index)),
            "public_benefit": _flag(raw[cmap["public_benefit"]], v, cmap["public_benefit"]) if "public_benefit" in cmap else pd.Series(pd.NA, index=raw.index, dtype="boolean"),
            "hub": _hubs(v, raw[cmap["hub"]] if "hub" in cmap else None, cmap.get("hub", ""), keys, names),
        },
        geometry=_as_points(geom),
        crs=raw.crs,
    )
    return _finish(v, frame, crs, ids, names, len(raw))


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | values.astype(str).str.strip().isin(["", "nan", "None"])


def _categorise(
    taxonomy: Taxonomy, labels: pd.Series, codes: pd.Series, names: pd.Series, tags: pd.Series,
    category_map: Mapping[str, str] | None, v: _Validator, source: str,
) -> tuple[pd.Series, pd.Series]:
    """Each facility row's category key and where it came from (``"label"`` or ``"name"``); rows with none rejected.

    A row with a category label, an Amap type code or OSM tags is categorised by them (``"label"``): the label
    resolved once per distinct value, then the POI rules (type code, type text, name keywords) and OSM rules for
    the rest — ``"name"`` when the POI rules decided only because of the name. A row with none of them is categorised by its name (``"name"``): the scenario's own rules first,
    then the taxonomy's name words, when they are those of exactly one category (:meth:`Taxonomy.by_name`);
    a name that fits several categories, or none, is rejected (``missing_category``) with the candidates.
    """
    blank = (_blank(labels) & _blank(codes) & tags.map(lambda t: not t)).to_numpy()
    keys = pd.Series(None, index=labels.index, dtype=object)
    needed_name = np.zeros(len(labels), dtype=bool)  # rows with a label whose category only their name decided
    has = ~blank
    if has.any():
        distinct = labels[has].dropna().unique()
        resolved = {lab: taxonomy.resolve(lab, category_map) for lab in distinct}
        keys[has] = labels[has].map(resolved).astype(object)
        rest = np.flatnonzero(has & keys.isna().to_numpy())
        if len(rest):
            found, by_name_too = [], []
            for lab, code, nm, tg in zip(labels.iloc[rest], codes.iloc[rest], names.iloc[rest], tags.iloc[rest], strict=True):
                with_name = taxonomy.match_poi(name=nm, typecode=code, type_text=lab)
                without = taxonomy.match_poi(name="", typecode=code, type_text=lab) if with_name else None
                found.append(with_name or (taxonomy.match_osm(tg) if tg else None))
                by_name_too.append(with_name is not None and with_name != without)
            keys.iloc[rest] = found
            needed_name[rest] = by_name_too
    by_name = pd.Series(None, index=labels.index, dtype=object)
    candidates = pd.Series("", index=labels.index, dtype=object)
    if blank.any():
        named = names[blank]
        ruled = named.map(lambda nm: taxonomy.match_rules(name=nm)) if taxonomy.extra_rules else pd.Series(None, index=named.index, dtype=object)
        words, several = taxonomy.by_name(named)
        by_name[blank] = ruled.where(ruled.notna(), words).astype(object)
        candidates[blank] = several.where(ruled.isna(), "")
        keys[blank] = by_name[blank]
    from_name = blank | needed_name
    category_from = pd.Series(np.where(keys.isna(), "", np.where(from_name, "name", "label")), index=labels.index, dtype=object)
    n_named = int((from_name & keys.notna().to_numpy()).sum())
    if n_named:
        log.warning(
            "设施 %s：%d 行按名称归类（类别为空或无法识别；%s = name），请核对 / facilities %s: %d rows categorised by "
            "their name (no category, or one not recognised; %s = name); please check them", source, n_named, CATEGORY_FROM, source, n_named, CATEGORY_FROM,
        )
    ambiguous = blank & candidates.ne("").to_numpy()
    detail = pd.Series("", index=labels.index, dtype=object)
    if ambiguous.any():
        detail[ambiguous] = [f"{'、'.join(taxonomy[k].zh for k in cand.split('|'))} ({cand})" for cand in candidates[ambiguous]]
    v.reject(blank & keys.isna().to_numpy(), "missing_category", detail)
    shown = (
        labels.astype(str).where(~labels.isna(), "")
        + codes.astype(str).where(~codes.isna(), "").map(lambda c: f" [{c}]" if c else "")
        + tags.map(lambda t: f" {_main_tag(t)}" if t else "")
    )
    v.reject(~blank & keys.isna().to_numpy(), "unknown_category", shown.map(lambda t: f"'{t.strip()}'"))
    return keys, category_from


_YES = {"是", "1", "1.0", "true", "yes", "y", "普惠", "普惠性", "t", "√", "✓", "✔", "☑", "有", "对"}
_NO = {"否", "0", "0.0", "false", "no", "n", "非普惠", "非普惠性", "f", "×", "✗", "✘", "x", "☐", "无", "不是"}


def _flag(series: pd.Series, v: _Validator | None = None, column: str = "") -> pd.Series:
    """A yes/no column (是/否, √/×, 1/0, yes/no …) as booleans, unknown where blank; a value that is neither is
    unknown too, and named in a warning of the layer (``v``)."""
    def conv(val: object) -> object:
        if val is None or (isinstance(val, float) and np.isnan(val)):
            return pd.NA
        text = str(val).strip().lower()
        return True if text in _YES else False if text in _NO else pd.NA

    out = series.map(conv).astype("boolean")
    if v is not None:
        written = series.notna() & series.astype(str).str.strip().ne("")
        odd = written & out.isna()
        if odd.any():
            shown = "、".join(f"'{t}'" for t in series[odd].astype(str).str.strip().unique()[:5])
            kind = {"facilities": "设施图层"}.get(v.kind, v.kind)
            v.warnings.append(
                f"{kind} {v.source}：{column} 列有 {int(odd.sum())} 个值既不是“是”也不是“否”（{shown}），按未知处理 / "
                f"{int(odd.sum())} values of {column} are neither yes nor no ({shown}); read as unknown"
            )
    return out


# 1+N 托育: a childcare facility whose name holds one of these is a hub (综合托育服务中心) when the layer has no hub column
HUB_NAME_WORDS = ("托育综合服务中心", "综合托育服务中心", "托育服务指导中心", "示范性托育")
HUB_CATEGORY = "childcare"
_HUB_YES = {"是", "1", "1.0", "true", "yes", "y", "t", "√", "✓"}
_HUB_NO = {"否", "0", "0.0", "false", "no", "n", "f", "×", "✗", ""}


def _hubs(v: _Validator, column: pd.Series | None, column_name: str, keys: pd.Series, names: pd.Series) -> pd.Series:
    """Which facilities are 1+N hubs (综合托育服务中心): only ``childcare`` ones. With a hub column, its 是/否 (1/0,
    true/false, yes/no; blank = 否) decides, and a childcare row with any other value is rejected (``bad_hub``: other
    categories' cells are not read, "无" beside a supermarket is no error); without one, a
    childcare facility whose name holds a word of :data:`HUB_NAME_WORDS` is a hub."""
    childcare = (keys == HUB_CATEGORY).to_numpy(dtype=bool)
    if column is None:
        named = names.astype(str).str.contains("|".join(HUB_NAME_WORDS), regex=True).to_numpy(dtype=bool)
        return pd.Series(named & childcare, index=keys.index, dtype=bool)
    text = column.map(lambda x: "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x).strip().lower())
    yes, no = text.isin(_HUB_YES).to_numpy(), text.isin(_HUB_NO).to_numpy()
    bad = ~yes & ~no & childcare
    v.reject(bad, "bad_hub", _details(bad, column, lambda s, c=column_name: f"{c} = '{s}'", as_text=True))
    return pd.Series(yes & childcare, index=keys.index, dtype=bool)


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
            CATEGORY_FROM: "label",  # the POI's OSM tags
            "places": np.nan,
            "beds": tags.map(lambda t: pd.to_numeric(t.get("beds", t.get("capacity")), errors="coerce")) if len(raw) else np.nan,
            "public_benefit": pd.Series(pd.NA, index=raw.index, dtype="boolean"),
            "hub": _hubs(v, None, "", keys, names) if len(raw) else pd.Series([], dtype=bool),
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
    _plausible(v, nums, cmap)
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
    """街道/乡镇 polygons with ``id, name`` and, where given, census totals ``population, age_60_plus, age_0_3`` and the
    ``district`` (区县) each belongs to (only when ``[layers.zones.columns]`` maps it)."""
    raw = _read(spec, "[layers.zones]")
    cmap = _column_map(raw, spec.columns, spec.path, "[layers.zones]")
    v = _Validator("zones", str(spec.path.name), raw)
    geom = _geometry_checks(v, raw, ("Polygon", "MultiPolygon"))
    zone_cmap = {k: c for k, c in cmap.items() if k in ("population", "households", "age_60_plus", "age_0_3")}
    nums = _numeric(v, raw, zone_cmap)
    _plausible(v, nums, zone_cmap)
    ids = _ids(raw, cmap, "Z")
    names = _names(raw, cmap)
    names = names.where(names.ne(""), ids)
    frame = gpd.GeoDataFrame({"id": ids, "name": names, **nums}, geometry=geom, crs=raw.crs)
    if "district" in cmap:  # the 区县 (or city) a 街道 belongs to: what [partition] zones_column = "district" groups by
        frame["district"] = raw[cmap["district"]].fillna("").astype(str).str.strip().to_numpy()
    return _finish(v, frame, crs, ids, names, len(raw))
