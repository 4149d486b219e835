"""Read a layer file of any supported kind into a GeoDataFrame in a real CRS (GCJ-02/BD-09 converted to WGS84).

Supported: GeoPackage, GeoJSON, Shapefile (also zipped), GeoParquet, CSV/TSV/TXT and Excel (``.xlsx``) with
longitude/latitude columns, a combined ``"lon,lat"`` column (Amap's ``location``) or a WKT column. Text
encodings UTF-8, UTF-8 with BOM and GBK/GB18030 are detected, or declared. This is the only module that reads
layer files from disk.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from planner.errors import LayerError
from planner.io.coords import CHINESE_SYSTEMS, bd09_to_wgs84, gcj02_to_wgs84, normalise_system, to_wgs84
from planner.io.tables import SHEET_COLUMN, SOURCE_ROW, text_table, workbook_table
from planner.progress import bar

__all__ = [
    "read_layer",
    "read_line_arrays",
    "line_arrays",
    "layer_extent_wgs84",
    "LineArrays",
    "detect_encoding",
    "COORD_PROBLEM",
    "SOURCE_ROW",
    "SHEET_COLUMN",
    "VECTOR_SUFFIXES",
    "TABLE_SUFFIXES",
]

log = logging.getLogger(__name__)

VECTOR_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp", ".zip", ".fgb", ".kml", ".gml"}
PARQUET_SUFFIXES = {".parquet", ".geoparquet"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}
_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff]"  # zero-width characters pasted in from web pages
COORD_PROBLEM = "_coord_problem"  # column with a per-row coordinate problem ("" when fine)

_LON = ("lon", "lng", "longitude", "long", "x", "经度", "东经", "gcj_lng", "gcj_lon", "bd_lng", "bd_lon", "wgs_lng", "wgs_lon", "高德经度", "百度经度")
_LAT = ("lat", "latitude", "y", "纬度", "北纬", "gcj_lat", "bd_lat", "wgs_lat", "高德纬度", "百度纬度")
_LOCATION = ("location", "坐标", "经纬度", "lnglat", "lonlat", "位置坐标")
_WKT = ("wkt", "geometry", "geom", "shape", "几何", "the_geom")
# a column name that says which system its coordinates are in
_HINTS = {"gcj": "GCJ02", "高德": "GCJ02", "bd_": "BD09", "百度": "BD09", "wgs": "EPSG:4326"}


def _checked_system(crs: str | None, what: str) -> str | None:
    """The declared coordinate system normalised (``GCJ02``, ``BD09`` or a CRS pyproj knows); an unknown name is a
    :class:`LayerError` naming it, before any file is read."""
    if not crs:
        return None
    system = normalise_system(crs)
    if system not in CHINESE_SYSTEMS:
        try:
            CRS.from_user_input(system)
        except Exception as exc:  # pyproj's CRSError, or a TypeError for a value of the wrong kind
            raise LayerError(
                f"{what} crs = {crs!r} 无法识别：请写 \"WGS84\"、\"CGCS2000\"、\"GCJ02\"（高德、腾讯）、\"BD09\"（百度）或 "
                f"\"EPSG:4549\" 这样的代码 / crs = {crs!r} is not a coordinate system planner knows; write \"WGS84\", "
                f"\"CGCS2000\", \"GCJ02\", \"BD09\" or a code such as \"EPSG:4549\""
            ) from exc
    return system


def detect_encoding(raw: bytes) -> str:
    """``utf-8-sig``, ``utf-16``, ``utf-8`` or ``gb18030`` (a superset of GBK), whichever decodes ``raw``."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    for enc in ("utf-8", "gb18030"):
        try:
            raw.decode(enc)
            return enc
        except UnicodeDecodeError:
            continue
    raise LayerError("无法识别文本编码，请在情景文件中声明 encoding = \"gbk\" 或 \"utf-8\" / cannot detect the text encoding; declare it")


def read_layer(
    path: Path,
    *,
    layer: str | None = None,
    where: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
    what: str = "",
) -> gpd.GeoDataFrame:
    """Read ``path`` into a GeoDataFrame with a CRS; GCJ-02 and BD-09 coordinates come back as WGS84.

    Parameters
    ----------
    path
        The file.
    layer
        Layer name in a GeoPackage, or sheet name in an Excel workbook.
    where
        OGR SQL attribute filter (vector files only).
    crs
        The coordinate system of the data: ``"WGS84"``, ``"CGCS2000"``, ``"GCJ02"`` (Amap, Tencent),
        ``"BD09"`` (Baidu) or any CRS pyproj knows (``"EPSG:4549"``). Overrides the file's own CRS.
    encoding
        Text encoding (``"utf-8"``, ``"gbk"``, ``"gb18030"``); detected when not given.
    columns
        The scenario's column mapping; ``lon``, ``lat``, ``location`` and ``wkt`` name coordinate columns.

    Returns
    -------
    GeoDataFrame
        Tables get a ``_coord_problem`` column with the reason a row has no usable coordinates ("" if fine).
        Every row has its ``_source_row``: the Excel row or text-editor line it was read from, or the 1-based
        feature number of a vector file (of the features ``where`` kept). Rows of a workbook's several sheets
        have their ``_sheet``. What the reader skipped, flattened or merged is in ``attrs["read_notes"]``.
    """
    path = Path(path)
    if not path.exists():
        raise LayerError(f"{what} 找不到文件 {path} / file not found: {path}")
    suffix = path.suffix.lower()
    system = _checked_system(crs, what)
    if suffix in TABLE_SUFFIXES:
        if where:
            raise LayerError(f"{what} where 过滤只适用于 GeoPackage/Shapefile/GeoJSON；表格请先筛选 / `where` works for vector files only")
        frame = _read_table(path, layer=layer, encoding=encoding, columns=dict(columns or {}), what=what)
        notes = frame.attrs.get("read_notes", [])
        if len(frame) == 0:
            raise LayerError(
                f"{what} 表格为空（没有数据行）：{path}{' 工作表 ' + layer if layer else ''}{'（' + '；'.join(notes) + '）' if notes else ''} / "
                f"the table is empty (no data rows): {path}; check the file and `layer` in the scenario"
            )
        gdf = _table_geometry(frame, path, system, dict(columns or {}), what)
    elif suffix in PARQUET_SUFFIXES:
        try:
            gdf = gpd.read_parquet(path)
        except Exception as exc:
            raise LayerError(f"{what} 无法读取 GeoParquet {path}：{exc} / cannot read GeoParquet {path}: {exc}") from exc
    elif suffix in VECTOR_SUFFIXES:
        gdf = _read_vector(path, layer=layer, where=where, encoding=encoding, what=what)
    else:
        raise LayerError(
            f"{what} 不支持的文件类型 {path.suffix}：{path} / unsupported file type; use GeoPackage, GeoJSON, Shapefile (.shp/.zip), "
            "GeoParquet, CSV or XLSX"
        )
    if len(gdf) == 0:
        raise LayerError(
            f"{what} 图层为空：{path}{' 图层 ' + layer if layer else ''}{' 条件 ' + where if where else ''} / "
            f"the layer is empty: {path}; check the file, `layer` and `where` in the scenario"
        )
    if suffix not in TABLE_SUFFIXES:
        notes = []
        if SOURCE_ROW not in gdf.columns:
            gdf[SOURCE_ROW] = np.arange(1, len(gdf) + 1, dtype=np.int64)  # the 1-based feature number
    gdf = _apply_crs(gdf, path, system, what)
    gdf.attrs["read_notes"] = list(notes)
    return gdf


@dataclass(frozen=True)
class LineArrays:
    """A line layer as flat arrays: the LineString parts of its rows (multi-lines split, other shapes dropped).

    x, y
        Vertex coordinates in :attr:`crs`; part ``p`` is ``offsets[p] … offsets[p + 1] − 1``.
    row
        The source row of each part.
    columns
        The columns read, one value per source row (object arrays; None where missing).
    dropped
        Rows that gave no line, by reason: ``null_geometry``, ``empty_geometry`` or the geometry type they hold
        (``point``, ``polygon``, ``multipolygon`` …).
    fields
        Every column of the file (read or not), for messages that name a missing column.
    """

    x: np.ndarray
    y: np.ndarray
    offsets: np.ndarray
    row: np.ndarray
    n_rows: int
    crs: CRS
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    fields: tuple[str, ...] = ()


_TYPE_NAMES = np.array(["point", "linestring", "linearring", "polygon", "multipoint", "multilinestring",
                        "multipolygon", "geometrycollection"], dtype=object)


def _dropped_rows(geoms: np.ndarray, row_of_part: np.ndarray) -> dict[str, int]:
    """Why the rows of ``geoms`` that gave no LineString part (rows not in ``row_of_part``) gave none: counts by
    ``null_geometry``, ``empty_geometry`` or their geometry type."""
    missing = np.ones(len(geoms), dtype=bool)
    missing[row_of_part] = False
    if not missing.any():
        return {}
    g = geoms[missing]
    null = shapely.is_missing(g)
    empty = ~null & shapely.is_empty(g)
    type_id = shapely.get_type_id(g)
    named = _TYPE_NAMES[np.clip(type_id[~null & ~empty], 0, len(_TYPE_NAMES) - 1)]
    out = {"null_geometry": int(null.sum()), "empty_geometry": int(empty.sum())}
    out.update(pd.Series(named, dtype=object).value_counts().to_dict())
    return {str(k): int(v) for k, v in out.items() if v}


def _merge_counts(total: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        total[k] = total.get(k, 0) + v


def _line_parts(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """(coordinates (n, 2), vertex count per LineString part, source index of each part, rows that gave no part
    by reason — :func:`_dropped_rows`) of shapely geometries."""
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & ~shapely.is_empty(parts)
    parts, row = parts[keep], row[keep]
    coords = shapely.get_coordinates(parts)
    dropped = _dropped_rows(np.asarray(geoms, dtype=object), row)
    return coords, shapely.get_num_coordinates(parts).astype(np.int64), row.astype(np.int64), dropped


def _wkb_line_parts(col) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """:func:`_line_parts` of an Arrow array of WKB geometries, without shapely objects for plain 2D LineStrings
    (little-endian WKB type 2 with at least two points: their coordinates are read from the buffer directly);
    any other geometry goes through shapely."""
    import pyarrow as pa

    if isinstance(col.type, pa.ExtensionType):
        col = col.storage
    n = len(col)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), {}
    bufs = col.buffers()
    off_type = np.int64 if pa.types.is_large_binary(col.type) else np.int32
    offs = np.frombuffer(bufs[1], dtype=off_type)[col.offset : col.offset + n + 1].astype(np.int64)
    raw = bufs[2]
    data = np.frombuffer(raw, dtype=np.uint8) if raw is not None else np.zeros(0, dtype=np.uint8)
    start, length = offs[:-1], np.diff(offs)
    valid = col.is_valid().to_numpy(zero_copy_only=False) & (length >= 9)
    s0 = np.where(valid, start, 0)

    def u32(at: np.ndarray) -> np.ndarray:
        b = [data[np.minimum(at + i, len(data) - 1)].astype(np.uint32) for i in range(4)] if len(data) else [np.zeros(n, np.uint32)] * 4
        return b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)

    fast = valid.copy()
    if len(data):
        npts = u32(s0 + 5).astype(np.int64)
        fast &= (data[s0] == 1) & (u32(s0 + 1) == 2) & (npts >= 2) & (length == 9 + 16 * npts)
    rows_fast = np.flatnonzero(fast)
    cnt_fast = npts[rows_fast] if len(rows_fast) else np.zeros(0, dtype=np.int64)
    # the doubles of each fast row, read through the one of 8 float64 views of the buffer that is aligned with them
    first = s0[rows_fast] + 9
    n_dbl = 2 * cnt_fast
    pos = np.repeat(first, n_dbl) + 8 * (np.arange(int(n_dbl.sum())) - np.repeat(np.cumsum(n_dbl) - n_dbl, n_dbl))
    values = np.empty(len(pos))
    shift = pos % 8
    for k in np.unique(shift):
        view = np.frombuffer(raw, dtype="<f8", offset=int(k), count=(len(data) - int(k)) // 8)
        m = shift == k
        values[m] = view[(pos[m] - k) // 8]
    coords_fast = values.reshape(-1, 2)
    is_valid = col.is_valid().to_numpy(zero_copy_only=False)
    rows_slow = np.flatnonzero(~fast & is_valid)
    dropped = {"null_geometry": int((~is_valid).sum())} if not is_valid.all() else {}
    if len(rows_slow) == 0:
        return coords_fast, cnt_fast, rows_fast, dropped
    coords_slow, cnt_slow, which, dropped_slow = _line_parts(
        shapely.from_wkb(col.take(pa.array(rows_slow)).to_numpy(zero_copy_only=False), on_invalid="ignore")
    )
    _merge_counts(dropped, dropped_slow)
    row_slow = rows_slow[which]
    # merge, parts in row order (a row's parts keep theirs)
    rows = np.concatenate([rows_fast, row_slow])
    counts = np.concatenate([cnt_fast, cnt_slow])
    order = np.argsort(rows, kind="stable")
    coords = np.concatenate([coords_fast, coords_slow])
    offsets = np.r_[0, np.cumsum(counts)]
    take = np.repeat(offsets[:-1][order], counts[order]) + (
        np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts[order]) - counts[order], counts[order])
    )
    return coords[take], counts[order], rows[order], dropped


def _arrow_objects(col) -> np.ndarray:
    """An Arrow column as an object array (None where missing); text through its distinct values, so that a
    column of a few street classes costs one Python string per class, not per row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        coded = pc.dictionary_encode(col)
        distinct = np.append(coded.dictionary.to_numpy(zero_copy_only=False).astype(object), None)
        return distinct[coded.indices.fill_null(len(distinct) - 1).to_numpy(zero_copy_only=False)]
    return col.to_numpy(zero_copy_only=False).astype(object)


def line_arrays(lines: gpd.GeoDataFrame) -> LineArrays:
    """:class:`LineArrays` of a line GeoDataFrame (in its CRS), with all its columns."""
    coords, counts, row, dropped = _line_parts(lines.geometry.to_numpy())
    columns = {str(c): lines[c].to_numpy(dtype=object) for c in lines.columns if c != lines.geometry.name}
    return LineArrays(
        x=coords[:, 0].copy(), y=coords[:, 1].copy(), offsets=np.r_[0, np.cumsum(counts)].astype(np.int64), row=row,
        n_rows=len(lines), crs=CRS.from_user_input(lines.crs) if lines.crs is not None else None, columns=columns,
        dropped=dropped, fields=tuple(columns),
    )


def read_line_arrays(
    path: Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
    columns: Sequence[str] = (),
    encoding: str | None = None,
    what: str = "",
) -> LineArrays:
    """Read a line layer's geometry and the ``columns`` it has (others are skipped) as :class:`LineArrays`.

    Vector files are streamed with pyogrio's Arrow reader, batch by batch, without a GeoDataFrame; other kinds
    (GeoParquet, tables with a WKT column) go through :func:`read_layer`. The CRS is handled as there: ``crs``
    overrides the file's, and GCJ-02/BD-09 coordinates come back as WGS84.
    """
    path = Path(path)
    if not path.exists():
        raise LayerError(f"{what} 找不到文件 {path} / file not found: {path}")
    if path.suffix.lower() not in VECTOR_SUFFIXES:
        gdf = read_layer(path, layer=layer, crs=crs, encoding=encoding, what=what)
        arrays = line_arrays(gdf)
        keep = {c: v for c, v in arrays.columns.items() if c in set(columns)}
        return LineArrays(arrays.x, arrays.y, arrays.offsets, arrays.row, arrays.n_rows, arrays.crs, keep, arrays.dropped,
                          arrays.fields)
    import pyogrio
    from pyogrio.raw import open_arrow

    src = f"zip://{path}" if path.suffix.lower() == ".zip" else str(path)
    if layer is None:
        _one_layer(src, path, what)
    kwargs: dict[str, object] = {}
    enc = encoding or _vector_encoding(path)
    if enc:
        kwargs["encoding"] = enc
    try:
        info = pyogrio.read_info(src, layer=layer, **kwargs)
        fields = [str(f) for f in info["fields"]]
        wanted = [c for c in dict.fromkeys(columns) if c in fields]
        xs, ys, counts, rows, cols = [], [], [], [], {c: [] for c in wanted}
        dropped: dict[str, int] = {}
        n_rows = 0
        with (
            open_arrow(src, layer=layer, columns=wanted, use_pyarrow=True, **kwargs) as (meta, reader),
            bar(desc="读取路网 / reading the network", total=int(info["features"] or 0), unit="线") as progress_bar,
        ):
            geom_col = meta["geometry_name"] or "wkb_geometry"
            for batch in reader:
                coords, cnt, row, dropped_here = _wkb_line_parts(batch.column(geom_col))
                _merge_counts(dropped, dropped_here)
                xs.append(coords[:, 0].copy())
                ys.append(coords[:, 1].copy())
                counts.append(cnt)
                rows.append(row + n_rows)
                for c in wanted:
                    cols[c].append(_arrow_objects(batch.column(c)))
                n_rows += batch.num_rows
                progress_bar.update(batch.num_rows)
    except LayerError:
        raise
    except Exception as exc:  # pyogrio raises several error types; all mean "cannot read"
        hint = ""
        if isinstance(exc, UnicodeDecodeError) or "decode" in str(exc).lower() or "codec" in str(exc).lower():
            hint = ("。文字编码不对（.cpg 文件可能写错了）：请在情景文件中声明 encoding = \"gbk\"（或 \"utf-8\"） / the text encoding is "
                    "wrong (the .cpg file may say the wrong one): declare encoding = \"gbk\" (or \"utf-8\") in the scenario")
        raise LayerError(
            f"{what} 无法读取 {path}（图层 {layer or '默认'}）：{exc} / cannot read {path} (layer {layer or 'default'}): {exc}{hint}"
        ) from exc
    if n_rows == 0:
        raise LayerError(
            f"{what} 图层为空：{path}{' 图层 ' + layer if layer else ''} / the layer is empty: {path}; check the file and `layer` in the scenario"
        )
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    file_crs = CRS.from_user_input(meta["crs"]) if meta.get("crs") else None
    x, y, out_crs = _apply_crs_arrays(x, y, file_crs, path, _checked_system(crs, what), what)
    cnt_all = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
    return LineArrays(
        x=x, y=y, offsets=np.r_[0, np.cumsum(cnt_all)].astype(np.int64),
        row=np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64), n_rows=n_rows, crs=out_crs,
        columns={c: np.concatenate(v) if v else np.zeros(0, dtype=object) for c, v in cols.items()},
        dropped=dropped, fields=tuple(fields),
    )


def _apply_crs_arrays(x: np.ndarray, y: np.ndarray, file_crs: CRS | None, path: Path, system: str | None, what: str):
    """:func:`_apply_crs` for coordinate arrays: (x, y, crs)."""
    if system in CHINESE_SYSTEMS:
        convert = gcj02_to_wgs84 if system == "GCJ02" else bd09_to_wgs84
        lon, lat = convert(x, y)
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64), CRS.from_epsg(4326)
    if system:
        try:
            declared = CRS.from_user_input(system)
        except Exception as exc:
            raise LayerError(f"{what} crs = {system!r} 无法识别 / is not a coordinate system planner knows: {exc}") from exc
        if file_crs is not None and file_crs != declared:
            log.warning("%s: file CRS %s overridden by the declared %s", path.name, file_crs.to_string(), declared.to_string())
        return x, y, declared
    if file_crs is None:
        raise LayerError(
            f"{what} {path} 没有坐标系（CRS）。请在情景文件的 {what} 中声明，例如 crs = \"EPSG:4326\"（WGS84）、"
            f"\"GCJ02\"（高德）或 \"EPSG:4490\"（CGCS2000） / {path} has no CRS: declare it in the scenario's {what}, "
            'e.g. crs = "EPSG:4326"'
        )
    return x, y, file_crs


def layer_extent_wgs84(path: Path, *, layer: str | None = None, crs: str | None = None, what: str = "") -> tuple[float, float, float, float] | None:
    """The WGS84 extent of a vector layer from the file's own metadata (no features read), or None when that
    cannot be had cheaply (tables, GeoParquet, GCJ-02/BD-09 layers, no CRS). A projected layer's extent is
    the bounds of its transformed rectangle, which may be slightly larger than that of its vertices."""
    path = Path(path)
    system = _checked_system(crs, what)
    if path.suffix.lower() not in VECTOR_SUFFIXES or not path.exists() or system in CHINESE_SYSTEMS:
        return None
    import pyogrio

    src = f"zip://{path}" if path.suffix.lower() == ".zip" else str(path)
    try:
        info = pyogrio.read_info(src, layer=layer, force_total_bounds=True)
        src_crs = CRS.from_user_input(system) if system else (CRS.from_user_input(info["crs"]) if info.get("crs") else None)
    except Exception:  # let the full read report the problem
        return None
    bounds = info.get("total_bounds")
    if src_crs is None or bounds is None or not np.all(np.isfinite(bounds)):
        return None
    wgs = CRS.from_epsg(4326)
    if src_crs == wgs:
        return tuple(float(b) for b in bounds)  # type: ignore[return-value]
    from pyproj import Transformer

    out = Transformer.from_crs(src_crs, wgs, always_xy=True).transform_bounds(*bounds, densify_pts=21)
    return tuple(float(b) for b in out)  # type: ignore[return-value]


def _vector_encoding(path: Path) -> str | None:
    """The encoding to read a Shapefile's attributes with when it has no .cpg (detected from the .dbf)."""
    if path.suffix.lower() == ".shp" and not path.with_suffix(".cpg").exists() and path.with_suffix(".dbf").exists():
        enc = _dbf_encoding(path.with_suffix(".dbf"))
        if enc not in ("utf-8", "utf-8-sig"):
            return enc
    return None


def _read_vector(path: Path, *, layer: str | None, where: str | None, encoding: str | None, what: str) -> gpd.GeoDataFrame:
    src = f"zip://{path}" if path.suffix.lower() == ".zip" else str(path)
    kwargs: dict[str, object] = {}
    enc = encoding or _vector_encoding(path)
    if enc:
        kwargs["encoding"] = enc
    if layer is None:
        _one_layer(src, path, what)
    try:
        with warnings.catch_warnings():
            # geopandas warns when a text column is not JSON; that is expected for user tables
            warnings.filterwarnings("ignore", message="Could not parse column", category=UserWarning)
            return gpd.read_file(src, layer=layer, where=where, engine="pyogrio", **kwargs)
    except Exception as exc:  # pyogrio raises several error types; all mean "cannot read"
        hint = ""
        if isinstance(exc, UnicodeDecodeError) or "decode" in str(exc).lower() or "codec" in str(exc).lower():
            hint = ("。文字编码不对（.cpg 文件可能写错了）：请在情景文件中声明 encoding = \"gbk\"（或 \"utf-8\"） / the text encoding is "
                    "wrong (the .cpg file may say the wrong one): declare encoding = \"gbk\" (or \"utf-8\") in the scenario")
        raise LayerError(
            f"{what} 无法读取 {path}（图层 {layer or '默认'}）：{exc} / cannot read {path} (layer {layer or 'default'}): {exc}{hint}"
        ) from exc


def _one_layer(src: str, path: Path, what: str) -> None:
    """Every layer or none: a file of several layers with none named is refused, naming them (reading the first
    alone would silently leave the others out)."""
    import pyogrio

    try:
        layers = pyogrio.list_layers(src)
    except Exception:  # let the read report an unreadable file
        return
    spatial = [str(name) for name, geom in layers if geom is not None]
    if len(spatial) > 1:
        listed = "、".join(f"“{n}”" for n in spatial)
        raise LayerError(
            f"{what} {path} 有 {len(spatial)} 个图层（{listed}），只读第一个会漏掉其他图层。请在情景文件中写 layer = \"<图层名>\""
            f"（check-layer 用 --layer），或把要读的要素放进同一个图层 / {path} holds {len(spatial)} layers "
            f"({', '.join(spatial)}); reading the first alone would leave the others out: name one with layer = \"<name>\" "
            "in the scenario (--layer in check-layer), or put the features in one layer"
        )


def _dbf_encoding(dbf: Path) -> str:
    raw = dbf.read_bytes()
    header = int.from_bytes(raw[8:10], "little") if len(raw) >= 10 else 0
    try:
        return detect_encoding(raw[header:])
    except LayerError:
        return "latin-1"


def _read_table(path: Path, *, layer: str | None, encoding: str | None, columns: dict[str, str], what: str) -> pd.DataFrame:
    """A CSV/TSV/TXT file or an Excel workbook as a DataFrame of ``object`` columns, with each row's
    ``_source_row`` (and ``_sheet`` when several sheets are read); what was skipped, flattened or merged is
    logged and kept in ``frame.attrs["read_notes"]``."""

    def has_coordinates(names) -> bool:
        probe = pd.DataFrame(columns=list(dict.fromkeys(names)))
        found = {key: _find(probe, aliases, columns.get(key)) for key, aliases in (("lon", _LON), ("lat", _LAT), ("location", _LOCATION), ("wkt", _WKT))}
        return bool((found["lon"] and found["lat"]) or found["location"] or found["wkt"])

    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = workbook_table(path, sheet=layer, what=what, has_coordinates=has_coordinates)
        log.info("%s: %d rows", path.name, len(table.frame))
    else:
        raw = path.read_bytes()
        if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # a zip (xlsx) or an old .xls saved under a text name
            raise LayerError(
                f"{what} {path} 是 Excel 工作簿，无法按文本表格读取：请把文件另存为 .xlsx（或导出为 CSV UTF-8） / {path} is an Excel "
                "workbook and cannot be read as a text table: save it as .xlsx (or export it as CSV UTF-8)"
            )
        try:
            enc = encoding or detect_encoding(raw)
        except LayerError as exc:
            raise LayerError(f"{what} {path}：{exc}") from exc
        try:
            text = raw.decode(enc)
        except (UnicodeDecodeError, LookupError) as exc:
            raise LayerError(f"{what} 无法用 {enc} 解码 {path}：{exc} / cannot decode {path} as {enc}; declare encoding") from exc
        sep = "\t" if suffix == ".tsv" or (text.count("\t") > text.count(",") and suffix == ".txt") else ","
        table = text_table(text, sep, where=f"{what} {path.name}".strip(), has_coordinates=has_coordinates)
        log.info("%s: %d rows, encoding %s", path.name, len(table.frame), enc)
    for note in table.notes:
        log.info("%s", note)
    frame = table.frame
    frame.attrs["read_notes"] = list(table.notes)
    return frame


def _find(frame: pd.DataFrame, names: tuple[str, ...], mapped: str | None) -> str | None:
    if mapped:
        return mapped if mapped in frame.columns else None
    lower = {str(c).strip().lower(): c for c in frame.columns}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _table_geometry(frame: pd.DataFrame, path: Path, system: str | None, columns: dict[str, str], what: str) -> gpd.GeoDataFrame:
    """A table's rows as points (or WKT shapes), each row's coordinate problem in ``_coord_problem``."""
    _check_mapped_columns(frame, path, columns, what)
    lon_c = _find(frame, _LON, columns.get("lon"))
    lat_c = _find(frame, _LAT, columns.get("lat"))
    loc_c = _find(frame, _LOCATION, columns.get("location"))
    wkt_c = _find(frame, _WKT, columns.get("wkt"))
    if lon_c and lat_c:
        lon_raw, lat_raw = frame[lon_c], frame[lat_c]
        hint_source = f"{lon_c}{lat_c}".lower()
    elif loc_c:
        lon_raw, lat_raw = _split_location(frame, loc_c)
        lon_c = lat_c = loc_c
        hint_source = loc_c.lower()
    elif wkt_c:
        return _wkt_geometry(frame, wkt_c)
    else:
        raise LayerError(
            f"{what} {path} 没有坐标列：需要 经度/纬度（lon/lat）、“经度,纬度”组合列（location）或 WKT 列。现有列：{', '.join(map(str, frame.columns))} / "
            f"no coordinate columns in {path}; add lon/lat columns or map yours in the scenario, e.g. "
            '[layers.facilities.columns] lon = "X坐标", lat = "Y坐标"'
        )
    system = _coordinate_system(system, hint_source, path, lon_c, lat_c, what)
    lon, lat, problem = _parse_coordinates(lon_raw, lat_raw, lon_c, lat_c, system)
    return _points_frame(frame, lon, lat, problem, system)


def _check_mapped_columns(frame: pd.DataFrame, path: Path, columns: dict[str, str], what: str) -> None:
    """Raise when a coordinate column the scenario maps is not in the table."""
    for key in ("lon", "lat", "location", "wkt"):
        if key in columns and columns[key] not in frame.columns:
            raise LayerError(
                f"{what} {path} 中没有列 '{columns[key]}'（情景文件把它映射为 {key}）。现有列：{', '.join(map(str, frame.columns))} / "
                f"column '{columns[key]}' mapped to {key} is not in {path}"
            )


def _split_location(frame: pd.DataFrame, loc_c: str) -> tuple[pd.Series, pd.Series]:
    """Longitude and latitude text from a combined ``"lon,lat"`` column: separated by a comma (full-width too), a
    semicolon or spaces."""
    text = frame[loc_c].astype(str).str.strip().str.strip("()（）[] ")
    parts = text.str.split(r"\s*[,，;；]\s*|\s+", n=1, expand=True, regex=True)
    parts = parts.reindex(columns=[0, 1])
    return parts[0].where(frame[loc_c].notna()), parts[1].where(frame[loc_c].notna())


def _wkt_geometry(frame: pd.DataFrame, wkt_c: str) -> gpd.GeoDataFrame:
    """Shapes from a WKT column (kept as ``<column>_wkt``); a blank or unreadable row gets its problem."""
    present = frame[wkt_c].notna().to_numpy()
    text = np.full(len(frame), None, dtype=object)
    text[present] = frame[wkt_c][present].astype(str).str.strip().to_numpy(dtype=object)
    blank = ~present | (text == "")
    text[blank] = None
    geoms = shapely.from_wkt(text, on_invalid="ignore")
    problem = np.full(len(frame), "", dtype=object)
    problem[blank] = "missing_coordinates"
    bad = np.flatnonzero(~blank & pd.isna(geoms))
    problem[bad] = [f"invalid_coordinates:{wkt_c} = '{t[:40]}'" for t in text[bad]]
    gdf = gpd.GeoDataFrame(frame.rename(columns={wkt_c: f"{wkt_c}_wkt"}), geometry=list(geoms))
    gdf[COORD_PROBLEM] = problem
    return gdf


def _coordinate_system(system: str | None, hint_source: str, path: Path, lon_c: str, lat_c: str, what: str) -> str:
    """The declared system, else one the column names say (gcj_lng, 百度经度, …); raise when neither."""
    if system is None:
        for hint, sys_ in _HINTS.items():
            if hint in hint_source:
                system = sys_
                log.info("%s: coordinate columns %s/%s read as %s (from their names)", path.name, lon_c, lat_c, sys_)
                break
    if system is None:
        raise LayerError(
            f"{what} {path} 的坐标列 {lon_c}/{lat_c} 没有声明坐标系。经纬度可能是 WGS84（GPS、OSM）、GCJ02（高德、腾讯）、"
            f"BD09（百度）或 CGCS2000，相差可达数百米，必须写明：在情景文件中加 crs = \"GCJ02\"（或 \"WGS84\"、\"BD09\"、\"CGCS2000\"），"
            f"或在 check-layer 中用 --crs / the coordinates in {path} have no declared system; declare crs = \"GCJ02\", \"WGS84\", "
            "\"BD09\" or \"CGCS2000\" (a wrong guess shifts points by hundreds of metres)"
        )
    return system


def _parse_coordinates(
    lon_raw: pd.Series, lat_raw: pd.Series, lon_c: str, lat_c: str, system: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Longitudes, latitudes and each row's problem: missing, invalid, swapped, out of range or, for a row declared
    GCJ-02/BD-09, outside China ("" when fine). Vectorised: texts are built only for the rows with a problem."""
    n = len(lon_raw)
    lon_txt = lon_raw.astype(str).str.replace(_INVISIBLE, "", regex=True).str.strip()  # NBSP, 　 and the like: strip()
    lat_txt = lat_raw.astype(str).str.replace(_INVISIBLE, "", regex=True).str.strip()
    blank = (lon_raw.isna() | lat_raw.isna() | lon_txt.isin(["", "None", "nan"]) | lat_txt.isin(["", "None", "nan"])).to_numpy()
    lon = pd.to_numeric(lon_txt.where(~blank), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(lat_txt.where(~blank), errors="coerce").to_numpy(dtype=float)
    chinese = system in CHINESE_SYSTEMS
    geographic = chinese or CRS.from_user_input(system).is_geographic
    invalid = ~blank & (np.isnan(lon) | np.isnan(lat))
    zero = ~blank & ~invalid & (lon == 0) & (lat == 0)
    rest = ~blank & ~invalid & ~zero
    with np.errstate(invalid="ignore"):
        swapped = rest & geographic & (lat >= 73) & (lat <= 136) & (lon >= 3) & (lon <= 54)
        out_of_range = rest & ~swapped & geographic & ((np.abs(lat) > 90) | (np.abs(lon) > 180))
    outside = np.zeros(n, dtype=bool)
    if chinese:
        check = rest & ~swapped & ~out_of_range
        outside[check] = ~to_wgs84(system, lon[check], lat[check])[2]
    problem = np.full(n, "", dtype=object)
    problem[blank | zero] = "missing_coordinates"
    if invalid.any():
        problem[invalid] = [f"invalid_coordinates:{lon_c} = '{a}', {lat_c} = '{b}'" for a, b in zip(lon_txt[invalid], lat_txt[invalid], strict=True)]
    for mask, code in ((swapped, "swapped_coordinates"), (out_of_range, "out_of_range")):
        if mask.any():
            problem[mask] = [f"{code}:{lon_c} = {a}, {lat_c} = {b}" for a, b in zip(lon[mask], lat[mask], strict=True)]
    if outside.any():
        problem[outside] = [
            f"outside_china:{lon_c} = {a}, {lat_c} = {b} ({system})"
            for a, b in zip(lon[outside], lat[outside], strict=True)
        ]
    return lon, lat, problem


def _points_frame(frame: pd.DataFrame, lon: np.ndarray, lat: np.ndarray, problem: np.ndarray, system: str) -> gpd.GeoDataFrame:
    """Points for the rows without a problem, GCJ-02/BD-09 converted to WGS84; the table's columns kept."""
    n = len(frame)
    ok = problem == ""
    if system in CHINESE_SYSTEMS:
        lon_w, lat_w, _ = to_wgs84(system, lon[ok], lat[ok])  # rows outside China already have their problem
        lon = lon.copy()
        lat = lat.copy()
        lon[ok], lat[ok] = lon_w, lat_w
        crs_out = "EPSG:4326"
    else:
        crs_out = system
    geoms = np.empty(n, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    # the original coordinate columns stay, so a rejected row is reported as it was written
    gdf = gpd.GeoDataFrame(frame, geometry=list(geoms), crs=crs_out)
    gdf[COORD_PROBLEM] = problem
    gdf.attrs["converted_from"] = system if system in CHINESE_SYSTEMS else None
    return gdf


def _apply_crs(gdf: gpd.GeoDataFrame, path: Path, system: str | None, what: str) -> gpd.GeoDataFrame:
    if COORD_PROBLEM in gdf.columns and gdf.crs is not None:
        return gdf  # tables: coordinates already placed in their declared (or converted) CRS
    if system in CHINESE_SYSTEMS:
        return _vector_to_wgs84(gdf, system)
    if system:
        try:
            crs = CRS.from_user_input(system)
        except Exception as exc:
            raise LayerError(f"{what} crs = {system!r} 无法识别 / is not a coordinate system planner knows: {exc}") from exc
        if gdf.crs is not None and CRS.from_user_input(gdf.crs) != crs:
            log.warning("%s: file CRS %s overridden by the declared %s", path.name, gdf.crs.to_string(), crs.to_string())
        return gdf.set_crs(crs, allow_override=True)
    if gdf.crs is None:
        raise LayerError(
            f"{what} {path} 没有坐标系（CRS）。请在情景文件的 {what} 中声明，例如 crs = \"EPSG:4326\"（WGS84）、"
            f"\"GCJ02\"（高德）或 \"EPSG:4490\"（CGCS2000） / {path} has no CRS: declare it in the scenario's {what}, "
            'e.g. crs = "EPSG:4326"'
        )
    return gdf


def _vector_to_wgs84(gdf: gpd.GeoDataFrame, system: str) -> gpd.GeoDataFrame:
    """A vector layer declared GCJ-02/BD-09, every vertex converted to WGS84.

    A feature with any vertex outside China (the image of no point in China's box) gets the problem
    ``outside_china`` in ``_coord_problem`` and is rejected by the layer loader, whole: mixing a shifted and an
    unshifted reading in one shape is never right, and China lies ≥ 1.4° inside every edge of the box.
    """
    geoms = gdf.geometry.to_numpy()
    xy, index = shapely.get_coordinates(geoms, return_index=True)
    lon, lat, inside = to_wgs84(system, xy[:, 0], xy[:, 1])
    converted = np.column_stack([lon, lat])

    def replace(coords: np.ndarray) -> np.ndarray:  # shapely hands back every vertex in get_coordinates' order
        return converted

    out = gdf.set_geometry(shapely.transform(geoms, replace), crs="EPSG:4326")
    n = len(gdf)
    outside_n = np.bincount(index[~inside], minlength=n)
    problem = np.full(n, "", dtype=object)
    if COORD_PROBLEM in gdf.columns:  # a WKT table: rows without coordinates keep their problem
        problem = gdf[COORD_PROBLEM].to_numpy(dtype=object).copy()
    bad = np.flatnonzero((outside_n > 0) & (problem == ""))
    if len(bad):
        first = np.full(n, -1, dtype=np.int64)
        hits = np.flatnonzero(~inside)
        first[index[hits[::-1]]] = hits[::-1]  # the first vertex outside of each feature
        vertices = np.bincount(index, minlength=n)
        problem[bad] = [
            f"outside_china:{xy[first[i], 0]}, {xy[first[i], 1]} ({system}; {outside_n[i]}/{vertices[i]} 顶点 vertices)" for i in bad
        ]
        log.warning("%d features declared %s lie outside China: rejected (outside_china)", len(bad), system)
    out[COORD_PROBLEM] = problem
    out.attrs["converted_from"] = system
    return out
