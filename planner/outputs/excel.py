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
from planner.progress import bar

__all__ = ["Sheet", "write_workbook", "write_tables", "run_sheets", "MAX_ROWS", "LIST_ROWS", "COMPOUND_CELLS"]

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
}  # fmt: skip
_METRE_COLUMNS = {"nearest_m", "snap_distance_m"}
_STATUS_COLUMNS = {"status", "status_a", "status_b"}


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
    labels = [column_label(k, lang, taxonomy) for k in keys]
    i = 0 if lang == "zh" else 1
    status = {s: LABELS[f"status.{s}"][i] for s in schema.STATUSES}
    columns = [_column_values(frame.iloc[:, j], status_labels=status if k in _STATUS_COLUMNS else None) for j, k in enumerate(keys)]
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
            fields.append((title, col, column_label(col, "zh", taxonomy), column_label(col, "en", taxonomy)))
    table = pd.DataFrame(fields, columns=[tr("xl.sheet", lang), tr("xl.key", lang), tr("xl.label_zh", lang), tr("xl.label_en", lang)])
    _write_sheet(xw, name("fields"), Sheet("fields", table), lang=lang, taxonomy=None)
    xw.book.close()
    log.info("workbook written: %s (%d sheets)", path, len(sheets) + 2)
    return path


def _compound_sheet(table: pd.DataFrame) -> Sheet:
    """The 小区 sheet within :data:`COMPOUND_CELLS`: every column, else the key columns, else no rows."""
    n_rows, n_cols = table.shape
    fields = tuple(str(c) for c in table.columns)
    if n_rows * n_cols <= COMPOUND_CELLS:
        return Sheet("compounds", table, file="compounds.csv", fields=fields)
    keep = [c for c in table.columns if (k := schema.parse_column(str(c))) is None or k.kind not in _COMPOUND_DETAIL_KINDS]
    shown = table[keep] if n_rows * len(keep) <= COMPOUND_CELLS else table[keep].iloc[:0]
    return Sheet("compounds", shown, file="compounds.csv", rows=n_rows, columns=n_cols, fields=fields)


def _top_rows(table: pd.DataFrame, n: int, rank: str | None = None) -> pd.DataFrame:
    """The first ``n`` rows of ``table``; by ``rank`` (the most severe of every group first) when given, in table order."""
    if len(table) <= n:
        return table
    if rank is None:
        return table.iloc[:n]
    order = np.argsort(table[rank].to_numpy(), kind="stable")[:n]
    return table.iloc[np.sort(order)]


def run_sheets(result) -> list[Sheet]:
    """The tables of a run, in workbook order (the content of the CSV files; the siting tables when present)."""
    sheets: list[Sheet] = []
    if result.compliance is not None:
        sheets.append(Sheet("compliance", result.compliance.table, file="compliance.csv"))
    sheets.append(Sheet("subdistricts", result.zone_table.reset_index(), file="subdistricts.csv"))
    comp = result.compounds.drop(columns="geometry").join(result.coverage.table)
    comp = comp.drop(columns=schema.columns_of(comp.columns, "nearest_name"))
    comp.insert(2, "lon", np.nan)
    comp.insert(3, "lat", np.nan)
    sheet = _compound_sheet(comp.reset_index(drop="id" in comp.columns))
    if len(sheet.frame):  # the points only for the rows shown
        pts = result.compounds.geometry.iloc[: len(sheet.frame)].representative_point().to_crs(4326)
        sheet = dataclasses.replace(sheet, frame=sheet.frame.assign(lon=pts.x.round(7).to_numpy(), lat=pts.y.round(7).to_numpy()))
    sheets.append(sheet)
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
        frame = pd.DataFrame(sites.drop(columns=sites.geometry.name)) if hasattr(sites, "geometry") else pd.DataFrame(sites)
        if hasattr(sites, "geometry") and sites.crs is not None:
            wgs = sites.geometry.representative_point().to_crs(4326)
            frame["lon"] = wgs.x.round(7).to_numpy()
            frame["lat"] = wgs.y.round(7).to_numpy()
        sheets.append(Sheet("sites", frame, file="sites.csv"))
    curve = getattr(result, "coverage_curve", None)
    if curve is not None and len(curve):
        sheets.append(Sheet("curve", curve, file="coverage_curve.csv"))
    pairs = getattr(result, "pairs", None)
    if pairs is not None and len(pairs):
        sheets.append(Sheet("pairs", _top_rows(pairs, LIST_ROWS), file="pairs.csv", rows=len(pairs)))
    return sheets


def write_workbook(result, path: str | Path, *, lang: str = "zh") -> Path:
    """Write ``report.xlsx`` of a run: one sheet per table, Chinese headers (English when ``lang="en"``)."""
    sc = result.scenario
    about: list[tuple[str, object]] = [
        (tr("xl.title", lang), sc.name),
        (tr("xl.version", lang), f"planner {__version__}"),
        (tr("xl.scenario", lang), str(sc.path)),
        (tr("ui.speed_label", lang), f"{sc.walking_speed_m_per_min:g} m/min"),
        (tr("ui.thresholds_label", lang), "、".join(schema.minutes_text(t) for t in sc.thresholds_min) + tr("ui.minutes_unit", lang)),
        (tr("xl.headers", lang), tr("xl.headers_note", lang)),
    ]
    if (date := shown_date()) is not None:  # the date of SOURCE_DATE_EPOCH; the run's own time is in summary.json
        about.insert(1, (tr("xl.created", lang), date))
    if sc.sample_data:
        about.insert(1, (tr("ui.sample", lang), tr("ui.sample_note", lang)))
    return write_tables(run_sheets(result), path, lang=lang, taxonomy=result.taxonomy, about=about)
