"""The run's decision tables as one Excel workbook (``report.xlsx``): Chinese headers, frozen header row, numbers as
numbers.

Each table is one sheet. Headers are labels in the report language (Chinese by default); planner's own column
keys — the names in the CSV files — are kept in the sheet 字段说明 (field list: sheet, key, Chinese, English),
so a formula or script can still refer to them. Workbooks are written by XlsxWriter in constant-memory mode (one
row in memory at a time), column by column converted to Python values beforehand.

A workbook is for reading and filtering, the CSV/Parquet files are the full record. No sheet ever comes near
Excel's limit of 1 048 576 rows: every table sheet holds at most :data:`MAX_ROWS` rows, the long lists (gap list,
rejected rows, pairs) their first :data:`LIST_ROWS` (the gap list its most severe rows), and the per-compound
sheet at most :data:`COMPOUND_CELLS` cells — all its columns when they fit, else its key columns (walking
distance per category, no minutes, nearest ids, within-flags or counts), else no rows. A sheet cut short ends
with a note row naming the file that holds the full table ("完整表格见 compounds.csv（N 行）"), and the 说明 sheet
lists those notes.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from planner import __version__, schema
from planner.io.categories import Taxonomy
from planner.labels import LABELS, column_label, tr
from planner.outputs.reproducible import file_time, shown_date
from planner.outputs.speeds import speed_uses, speeds_line
from planner.progress import bar

__all__ = ["Sheet", "write_workbook", "write_tables", "run_sheets", "compound_sheets", "MAX_ROWS", "LIST_ROWS", "COMPOUND_CELLS"]

log = logging.getLogger(__name__)

#: rows of any table sheet at most (Excel's own limit is 1 048 576)
MAX_ROWS = 50_000
#: rows of the long lists at most: gap list (most severe first), rejected rows, elderly–childcare pairs
LIST_ROWS = 5_000
#: cells (rows × columns) of the per-compound sheet at most
COMPOUND_CELLS = 200_000
#: per-category columns of compounds.csv left out of the 小区 sheet when all its columns do not fit
_COMPOUND_DETAIL_KINDS = {"minutes", "nearest_id", "nearest_name", "within", "count"}
_WIDTH_ROWS = 300  # column widths follow the header and the first rows

# number formats by column: shares as percentages, metres and people as whole numbers, minutes to one decimal
_PERCENT_KINDS = {"share", "share_a", "share_b"}
_PERCENT_COLUMNS = {"completeness", "covered_share"}
_COUNT_KINDS = {"newly_covered", "lost"}
_COUNT_COLUMNS = {
    "population", "households", "age_60_plus", "age_0_3", "unserved", "covered", "greedy_covered", "newly_covered",
    "newly_covered_total", "lost_total", "new_population", "new_age_60_plus", "new_age_0_3", "new_compounds",
    "served", "partner_served",
}  # fmt: skip
_METRE_COLUMNS = {"nearest_m", "snap_distance_m"}
_STATUS_COLUMNS = {"status", "status_a", "status_b"}
#: columns holding a category key, shown as the category's name in the Chinese workbook
_CATEGORY_COLUMNS = {"category", "partner"}
#: text columns that name categories by key ("300 m 内无elderly_station"), shown with the categories' names
_TEXT_WITH_CATEGORIES = {"detail"}
#: text columns written "中文 / English" (as the CLI's messages): the Chinese workbook shows the Chinese half
_BILINGUAL_TEXT = {"shortfall_text", "shortfall_text_a", "shortfall_text_b", "reason"}


@dataclass(frozen=True)
class Sheet:
    """One table sheet.

    key
        A sheet key (``sheet.<key>`` in :mod:`planner.labels`; replaced by its name in the workbook's language) or
        the sheet name itself.
    frame
        The rows and columns to show (at most :data:`MAX_ROWS` rows are written).
    file
        The file that holds the full table (named in the note row when the sheet is cut short).
    rows, columns
        Rows and columns of the full table when ``frame`` is a part of it (default: the frame's).
    fields
        The full table's column keys, for the 字段说明 sheet (default: the frame's columns).
    order
        A label key saying which rows are shown when they are the first of an ordered list (e.g. ``xl.by_severity``).
    """

    key: str
    frame: pd.DataFrame
    file: str | None = None
    rows: int | None = None
    columns: int | None = None
    fields: tuple[str, ...] | None = None
    order: str | None = None


def _display_width(text: str) -> int:
    """Approximate width in Excel character units: CJK and full-width characters count twice."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _cell_value(value: object) -> object:
    """A value a cell holds natively: numbers stay numbers, NaN/inf/NA become empty cells (None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, _dt.datetime | _dt.date | str | int):
        return value
    return str(value)


def _column_values(series: pd.Series, *, status_labels: dict[str, str] | None) -> list:
    """The cells of one column as Python values (None for empty cells), converted once for the whole column."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        if series.hasnans:
            return [None if pd.isna(v) else bool(v) for v in series.tolist()]
        return series.to_numpy(dtype=bool).tolist()
    if pd.api.types.is_float_dtype(dtype) or (pd.api.types.is_integer_dtype(dtype) and series.hasnans):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        out = values.tolist()
        if pd.api.types.is_integer_dtype(dtype):
            out = [int(v) if math.isfinite(v) else None for v in out]
        elif not np.isfinite(values).all():
            out = [v if math.isfinite(v) else None for v in out]
        return out
    if pd.api.types.is_integer_dtype(dtype):
        return series.to_numpy().tolist()
    raw = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):  # text only: no look at each value's type
        values = raw.tolist()
        for i in np.flatnonzero(pd.isna(raw)).tolist():
            values[i] = None
    else:
        values = list(map(_cell_value, raw.tolist()))
    if "" in values:
        values = [None if v == "" else v for v in values]  # "" is an empty cell, as before
    if status_labels:
        values = [status_labels.get(v, v) if isinstance(v, str) else v for v in values]
    return values


def _header(sheet_key: str, key: str, lang: str, taxonomy: Taxonomy | None) -> str:
    """The header of column ``key`` on sheet ``sheet_key``: ``xl.col.<sheet>.<column>`` where a column means something
    particular on that sheet (the source of a candidate site, the names of the compounds it covers), else its label."""
    special = f"xl.col.{sheet_key}.{key}"
    return tr(special, lang) if special in LABELS else column_label(key, lang, taxonomy)


def _value_labels(key: str, lang: str, taxonomy: Taxonomy | None) -> dict[str, str]:
    """Code → label for the values of column ``key``: rule results and solver statuses, groups of people, categories
    (Chinese workbook), and the ``val.<column>.<code>`` labels (population source, built type, candidate source…)."""
    i = 0 if lang == "zh" else 1
    column = key.removesuffix("_a").removesuffix("_b") if key in _STATUS_COLUMNS else key
    out = {k.removeprefix(f"val.{column}."): v[i] for k, v in LABELS.items() if k.startswith(f"val.{column}.")}
    if key in _STATUS_COLUMNS:
        out |= {s: LABELS[f"status.{s}"][i] for s in schema.STATUSES}
    if key == "group":
        out |= {k.removeprefix("group."): v[i] for k, v in LABELS.items() if k.startswith("group.")}
    if key in _CATEGORY_COLUMNS and taxonomy is not None and lang == "zh":
        out |= {c: taxonomy[c].label(lang) for c in taxonomy.keys}
    return out


def _shown_values(series: pd.Series, key: str, lang: str, taxonomy: Taxonomy | None) -> pd.Series:
    """The values of one column as the reader sees them: codes replaced by their labels (one ``map`` per column), yes/no
    for true/false and category keys inside the text of the gap list in Chinese; numbers untouched."""
    dtype = series.dtype
    if lang == "zh" and (pd.api.types.is_bool_dtype(dtype) or (pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) == "boolean")):
        yes, no = tr("val.yes", lang), tr("val.no", lang)
        if series.hasnans:
            return series.map({True: yes, False: no}).astype(object)
        return pd.Series(np.where(series.to_numpy(dtype=bool), yes, no).astype(object), index=series.index)
    if not (pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)):
        return series
    if key in _BILINGUAL_TEXT and lang == "zh":  # "无法评价：缺少床位 / not evaluable: missing beds": the Chinese half
        return series.astype(object).str.replace(r" / (?=[a-z0-9]).*$", "", regex=True)
    if key in _TEXT_WITH_CATEGORIES and lang == "zh" and taxonomy is not None and len(series):
        names = {c: taxonomy[c].label(lang) for c in taxonomy.keys}
        pattern = r"(?<![A-Za-z0-9_])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")(?![A-Za-z0-9_])"
        text = series.astype(object)
        hit = text.notna()
        return text.where(~hit, text[hit].astype(str).str.replace(pattern, lambda m: names[m.group(1)], regex=True))
    labels = _value_labels(key, lang, taxonomy)
    if not labels:
        return series
    values = series.astype(object)
    mapped = values.map(labels)
    return values.where(mapped.isna(), mapped)


def _shown(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def _number_format(key: str, series: pd.Series) -> str | None:
    kind = parsed.kind if (parsed := schema.parse_column(key)) is not None else None
    if (kind in _PERCENT_KINDS or key in _PERCENT_COLUMNS) and pd.api.types.is_float_dtype(series):
        return "0.0%"
    if kind == "dist_m" or key in _METRE_COLUMNS:
        return "#,##0"
    if kind == "minutes":
        return "0.0"
    if kind in _COUNT_KINDS or key in _COUNT_COLUMNS:
        return "#,##0"
    return None


class _Writer:
    """One XlsxWriter workbook in constant-memory mode with the few formats every sheet uses."""

    def __init__(self, path: Path) -> None:
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": True})
        # docProps/core.xml would carry the time of writing: the fixed time instead, so that two runs write the same
        # bytes (XlsxWriter dates the zip entries 1980-01-31 itself)
        self.book.set_properties({"created": file_time()})
        self.head = self.book.add_format({"bold": True, "bg_color": "#DDEBF7", "text_wrap": True, "valign": "vcenter"})
        self.bold = self.book.add_format({"bold": True})
        self.note = self.book.add_format({"italic": True, "font_color": "#7F0000"})
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._numbers: dict[str, object] = {}

    def number(self, fmt: str):
        if fmt not in self._numbers:
            self._numbers[fmt] = self.book.add_format({"num_format": fmt})
        return self._numbers[fmt]

    def cell_writer(self, ws) -> Callable[[int, int, object], None]:
        """Write one value of any type (``write_string`` for text: nothing is read as a formula or a link)."""

        def write(r: int, c: int, v: object) -> None:
            if v is None:
                return
            if isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, int | float):
                ws.write_number(r, c, v)
            elif isinstance(v, _dt.datetime | _dt.date):
                ws.write_datetime(r, c, v, self.date)
            else:
                ws.write_string(r, c, str(v))

        return write


def _column_writer(ws, values: list, cell: Callable[[int, int, object], None]) -> Callable[[int, int, object], object]:
    """The XlsxWriter method for a column whose values all have one type; ``cell`` for mixed columns."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {bool}:
        return ws.write_boolean
    if kinds and kinds <= {int, float}:
        return ws.write_number
    if kinds == {str}:
        return ws.write_string
    return cell


def _note(sheet: Sheet, shown_rows: int, shown_cols: int) -> str | None:
    """The note row of a sheet that shows only a part of its table (None when it shows all of it), in both languages
    like the CLI's messages: "本表列出 5,000 行（…）；完整表格见 gaps.csv（N 行）/ 5,000 rows shown (…); full table in …"."""
    rows = len(sheet.frame) if sheet.rows is None else sheet.rows
    cols = len(sheet.frame.columns) if sheet.columns is None else sheet.columns
    if shown_rows >= rows and shown_cols >= cols:
        return None
    halves = []
    for lang, sep in (("zh", "；"), ("en", "; ")):
        parts = []
        if shown_rows < rows:
            order = tr(sheet.order or "xl.first_rows", lang)
            parts.append(tr("xl.rows_shown", lang, shown=shown_rows, order=order) if shown_rows else tr("xl.rows_none", lang))
        if shown_cols < cols and shown_rows:
            parts.append(tr("xl.columns_shown", lang, shown=shown_cols, n=cols))
        parts.append(tr("xl.full_table", lang, file=sheet.file, n=rows) if sheet.file else tr("xl.all_rows", lang, n=rows))
        halves.append(sep.join(parts))
    return " / ".join(halves)


def _write_sheet(xw: _Writer, title: str, sheet: Sheet, *, lang: str, taxonomy: Taxonomy | None) -> str | None:
    """Write one table sheet; returns its note (None when the sheet holds the whole table)."""
    ws = xw.book.add_worksheet(title)
    frame = sheet.frame.iloc[:MAX_ROWS]
    keys = [str(c) for c in frame.columns]
    labels = [_header(sheet.key, k, lang, taxonomy) for k in keys]
    columns = [_column_values(_shown_values(frame.iloc[:, j], k, lang, taxonomy), status_labels=None) for j, k in enumerate(keys)]
    cell = xw.cell_writer(ws)
    writers = [_column_writer(ws, values, cell) for values in columns]
    for j, (key, lab, values) in enumerate(zip(keys, labels, columns, strict=True)):
        width = max([_display_width(lab)] + [min(_display_width(_shown(v)), 60) for v in values[:_WIDTH_ROWS] if v is not None])
        fmt = _number_format(key, frame.iloc[:, j])
        ws.set_column(j, j, float(np.clip(width + 2, 6, 50)), xw.number(fmt) if fmt else None)
    ws.freeze_panes(1, 0)
    n = len(frame)
    if keys:
        ws.autofilter(0, 0, n, len(keys) - 1)
    ws.write_row(0, 0, labels, xw.head)
    ncols = len(keys)
    with bar(desc=f"写出 / writing report.xlsx: {title}", total=n, unit="row") as pbar:
        for r, row in enumerate(zip(*columns, strict=True), start=1):
            for j in range(ncols):
                v = row[j]
                if v is not None:
                    writers[j](r, j, v)
            if not r % 10_000:
                pbar.update(10_000)
    note = _note(sheet, n, ncols)
    if note:
        ws.write_string(n + 1, 0, note, xw.note)
    return note


def write_tables(
    sheets: Sequence[Sheet | tuple[str, pd.DataFrame]],
    path: str | Path,
    *,
    lang: str = "zh",
    taxonomy: Taxonomy | None = None,
    about: Sequence[tuple[str, object]] = (),
) -> Path:
    """Write ``sheets`` to ``path``, plus the 说明 and 字段说明 sheets.

    A sheet is a :class:`Sheet` or a pair (sheet key or name, table). ``about`` rows (label, value) go to the first
    sheet, 说明, before the tables; the notes of sheets cut short follow them.
    """
    i = 0 if lang == "zh" else 1
    name = lambda key: LABELS[f"sheet.{key}"][i] if f"sheet.{key}" in LABELS else key  # noqa: E731
    sheets = [s if isinstance(s, Sheet) else Sheet(s[0], s[1]) for s in sheets]
    path = Path(path)
    xw = _Writer(path)
    ws = xw.book.add_worksheet(name("about"))
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 90)
    about_cell = xw.cell_writer(ws)
    notes: list[tuple[str, str]] = []
    fields: list[tuple[str, str, str, str]] = []
    # the 说明 sheet is written first and must be complete before the next sheet starts (constant-memory mode):
    # the notes of the tables are known before they are written
    titles = [name(s.key) for s in sheets]
    for sheet, title in zip(sheets, titles, strict=True):
        frame = sheet.frame.iloc[:MAX_ROWS]
        if note := _note(sheet, len(frame), len(frame.columns)):
            notes.append((title, note))
    for r, (label, value) in enumerate([*about, *notes]):
        ws.write_string(r, 0, str(label), xw.bold)
        about_cell(r, 1, _cell_value(value))
    for sheet, title in zip(sheets, titles, strict=True):
        _write_sheet(xw, title, sheet, lang=lang, taxonomy=taxonomy)
        for col in sheet.fields or [str(c) for c in sheet.frame.columns]:
            fields.append((title, col, _header(sheet.key, col, "zh", taxonomy), _header(sheet.key, col, "en", taxonomy)))
    table = pd.DataFrame(fields, columns=[tr("xl.sheet", lang), tr("xl.key", lang), tr("xl.label_zh", lang), tr("xl.label_en", lang)])
    _write_sheet(xw, name("fields"), Sheet("fields", table), lang=lang, taxonomy=None)
    xw.book.close()
    log.info("workbook written: %s (%d sheets)", path, len(sheets) + 2)
    return path


def _key_columns(columns) -> list:
    """The columns kept when a compound sheet does not fit: all but the per-threshold and detail columns."""
    return [c for c in columns if (k := schema.parse_column(str(c))) is None or k.kind not in _COMPOUND_DETAIL_KINDS]


def _compound_level(n_rows: int, columns) -> str:
    """``"all"`` columns while rows × columns fit :data:`COMPOUND_CELLS`, else ``"key"`` columns, else ``"none"``."""
    if n_rows * len(columns) <= COMPOUND_CELLS:
        return "all"
    return "key" if n_rows * len(_key_columns(columns)) <= COMPOUND_CELLS else "none"


def _compound_sheet(table: pd.DataFrame, key: str = "compounds", *, level: str | None = None) -> Sheet:
    """One compound sheet within :data:`COMPOUND_CELLS`: every column, else the key columns, else no rows (``level``
    decided for the whole per-compound table when it is split over several sheets)."""
    n_rows, n_cols = table.shape
    fields = tuple(str(c) for c in table.columns)
    level = level or _compound_level(n_rows, table.columns)
    if level == "all":
        return Sheet(key, table, file="compounds.csv", fields=fields)
    keep = _key_columns(table.columns)
    shown = table[keep] if level == "key" else table[keep].iloc[:0]
    return Sheet(key, shown, file="compounds.csv", rows=n_rows, columns=n_cols, fields=fields)


def _compound_groups(columns: Sequence[str], taxonomy: Taxonomy | None) -> tuple[list[str], dict[str, list[str]]]:
    """The columns of compounds.csv split for reading: the compound's own columns (no category in the name) for
    小区概况, and the per-category columns by the taxonomy group of their category (养老, 托育, 便民…), in table order."""
    main: list[str] = []
    groups: dict[str, list[str]] = {}
    for col in columns:
        parsed = schema.parse_column(col)
        if parsed is None or parsed.category is None:
            main.append(col)
            continue
        group = taxonomy[parsed.category].group if taxonomy is not None and parsed.category in taxonomy else "other"
        groups.setdefault(group, []).append(col)
    return main, groups


def compound_sheets(comp: pd.DataFrame, geometry, taxonomy: Taxonomy | None) -> list[Sheet]:
    """The per-compound table as readable sheets: 小区概况 (the compound's own columns with its WGS84 point), then one
    sheet per group of categories (walking distance, nearest facility, reach within each threshold), each starting
    with the compound's ID and name; every sheet holds the compounds in the same order, each within its cell budget."""
    main, groups = _compound_groups([str(c) for c in comp.columns], taxonomy)
    ident = [c for c in ("id", "name") if c in comp.columns]
    # one budget for all the compound sheets together (as for the one sheet before the split): the same columns are
    # shown at any size, and the cells written never exceed COMPOUND_CELLS (plus the ID and name on each sheet)
    level = _compound_level(len(comp), [*comp.columns, "lon", "lat"])
    head = comp[main].copy()
    at = min(len(ident), len(head.columns))
    head.insert(at, "lon", np.nan)
    head.insert(at + 1, "lat", np.nan)
    first = _compound_sheet(head, "compounds_main", level=level)
    if len(first.frame):  # the points only for the rows shown
        pts = geometry.iloc[: len(first.frame)].representative_point().to_crs(4326)
        first = dataclasses.replace(first, frame=first.frame.assign(lon=pts.x.round(7).to_numpy(), lat=pts.y.round(7).to_numpy()))
    sheets = [first]
    for group, cols in groups.items():
        key = f"compounds_{group}" if f"sheet.compounds_{group}" in LABELS else f"小区·{group}"[:31]
        sheets.append(_compound_sheet(comp[ident + cols], key, level=level))
    return sheets


def _top_rows(table: pd.DataFrame, n: int, rank: str | None = None) -> pd.DataFrame:
    """The first ``n`` rows of ``table``; by ``rank`` (the most severe of every group first) when given, in table order."""
    if len(table) <= n:
        return table
    if rank is None:
        return table.iloc[:n]
    order = np.argsort(table[rank].to_numpy(), kind="stable")[:n]
    return table.iloc[np.sort(order)]


#: the 选址建议 sheet's first columns (the rest follow in sites.csv's order); texts from planner.siting.explain
_SITE_FIRST = ("no", "task", "title", "numbers", "fixes", "explanation")
_SITE_TEXTS = ("title", "numbers", "fixes", "explanation")


def _sites_frame(sites, lang: str) -> pd.DataFrame:
    """The 选址建议 sheet: every column of sites.csv, the site's number, task, title and numbers first; the texts in the
    workbook's language (in English their ``_en`` twins fill them); WGS84 lon/lat last."""
    frame = pd.DataFrame(sites.drop(columns=sites.geometry.name)) if hasattr(sites, "geometry") else pd.DataFrame(sites)
    if lang != "zh":
        frame = frame.assign(**{c: frame[f"{c}_en"] for c in _SITE_TEXTS if f"{c}_en" in frame.columns})
    first = [c for c in _SITE_FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    if hasattr(sites, "geometry") and sites.crs is not None:
        wgs = sites.geometry.representative_point().to_crs(4326)
        frame["lon"] = wgs.x.round(7).to_numpy()
        frame["lat"] = wgs.y.round(7).to_numpy()
    return frame


def run_sheets(result, *, lang: str = "zh") -> list[Sheet]:
    """The tables of a run, in workbook order (the content of the CSV files; the siting tables when present)."""
    sheets: list[Sheet] = []
    if result.compliance is not None:
        sheets.append(Sheet("compliance", result.compliance.table, file="compliance.csv"))
    sheets.append(Sheet("subdistricts", result.zone_table.reset_index(), file="subdistricts.csv"))
    comp = result.compounds.drop(columns="geometry").join(result.coverage.table)
    comp = comp.drop(columns=schema.columns_of(comp.columns, "nearest_name"))
    sheets.extend(compound_sheets(comp.reset_index(drop="id" in comp.columns), result.compounds.geometry, result.taxonomy))
    fac = result.facilities.drop(columns="geometry").copy()
    fac_wgs = result.facilities.geometry.to_crs(4326)
    fac["lon"] = fac_wgs.x.round(7)
    fac["lat"] = fac_wgs.y.round(7)
    sheets.append(Sheet("facilities", fac.reset_index(drop="id" in fac.columns), file="facilities.csv"))
    for key, table, file, rank in (("gaps", result.gaps, "gaps.csv", "rank"), ("circles", result.circles, "circles.csv", None)):
        if table is None:
            continue
        cap = LIST_ROWS if key == "gaps" else MAX_ROWS
        shown = _top_rows(table, cap, rank)
        sheets.append(Sheet(key, shown, file=file, rows=len(table), order="xl.by_severity" if rank and len(shown) < len(table) else None))
    rejected = result.layers.rejected
    sheets.append(Sheet("rejected", _top_rows(rejected, LIST_ROWS), file="rejected.csv", rows=len(rejected)))
    sites = getattr(result, "sites", None)
    if sites is not None and len(sites):
        sheets.append(Sheet("sites", _sites_frame(sites, lang), file="sites.csv"))
    curve = getattr(result, "coverage_curve", None)
    if curve is not None and len(curve):
        sheets.append(Sheet("curve", curve, file="coverage_curve.csv"))
    pairs = getattr(result, "pairs", None)
    if pairs is not None and len(pairs):
        sheets.append(Sheet("pairs", _top_rows(pairs, LIST_ROWS), file="pairs.csv", rows=len(pairs)))
    one_plus_n = getattr(result, "one_plus_n", None)
    if one_plus_n is not None:  # 1+N 托育: the areas, then every childcare facility's role and hub
        sheets.append(Sheet("one_plus_n_areas", one_plus_n.areas, file="one_plus_n_areas.csv"))
        sheets.append(Sheet("one_plus_n", _top_rows(one_plus_n.table, LIST_ROWS), file="one_plus_n.csv", rows=len(one_plus_n.table)))
    return sheets


def write_workbook(result, path: str | Path, *, lang: str = "zh") -> Path:
    """Write ``report.xlsx`` of a run: one sheet per table, Chinese headers (English when ``lang="en"``)."""
    sc = result.scenario
    about: list[tuple[str, object]] = [
        (tr("xl.title", lang), sc.name),
        (tr("xl.version", lang), f"planner {__version__}"),
        (tr("xl.scenario", lang), str(sc.path)),
        (tr("ui.speed_label", lang), speeds_line(sc.speeds, lang)),
        *((tr("ui.speed_uses", lang), line) for line in speed_uses(sc, result.coverage.categories, result.taxonomy, lang)),
        (tr("ui.thresholds_label", lang), "、".join(schema.minutes_text(t) for t in sc.thresholds_min) + tr("ui.minutes_unit", lang)),
        (tr("xl.headers", lang), tr("xl.headers_note", lang)),
    ]
    sheets = run_sheets(result, lang=lang)
    i = 0 if lang == "zh" else 1
    split = [LABELS[f"sheet.{s.key}"][i] if f"sheet.{s.key}" in LABELS else s.key for s in sheets if s.key.startswith(("compounds_", "小区·"))]
    if split:
        sep = "、" if lang == "zh" else ", "
        about.append((tr("xl.compound_sheets", lang), tr("xl.compound_sheets_note", lang, main=split[0], groups=sep.join(split[1:]))))
    if (date := shown_date()) is not None:  # the date of SOURCE_DATE_EPOCH; the run's own time is in summary.json
        about.insert(1, (tr("xl.created", lang), date))
    if sc.sample_data:
        about.insert(1, (tr("ui.sample", lang), tr("ui.sample_note", lang)))
    return write_tables(sheets, path, lang=lang, taxonomy=result.taxonomy, about=about)
