"""The run's tables as one Excel workbook (``report.xlsx``): Chinese headers, frozen header row, numbers as numbers.

Each table is one sheet. Headers are labels in the report language (Chinese by default); planner's own column
keys — the names in the CSV files — are kept in the sheet 字段说明 (field list: sheet, key, Chinese, English),
so a formula or script can still refer to them. Workbooks are written in openpyxl's write-only mode, which
keeps memory flat for large cities.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from planner import __version__, schema
from planner.io.categories import Taxonomy
from planner.labels import LABELS, column_label, tr

__all__ = ["write_workbook", "write_tables", "run_sheets"]

log = logging.getLogger(__name__)


# number formats by column: shares as percentages, metres and people as whole numbers, minutes to one decimal
_PERCENT_KINDS = {"share", "share_a", "share_b"}
_PERCENT_COLUMNS = {"completeness", "covered_share"}
_COUNT_KINDS = {"newly_covered", "lost"}
_COUNT_COLUMNS = {
    "population", "households", "age_60_plus", "age_0_3", "unserved", "covered", "greedy_covered", "newly_covered",
    "newly_covered_total", "lost_total", "new_population", "new_age_60_plus", "new_age_0_3", "new_compounds",
}  # fmt: skip
_METRE_COLUMNS = {"nearest_m", "snap_distance_m"}
def _display_width(text: str) -> int:
    """Approximate width in Excel character units: CJK and full-width characters count twice."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _cell_value(value: object) -> object:
    """A value openpyxl writes natively: numbers stay numbers, NaN/inf become empty cells."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, pd.Timestamp | _dt.datetime | _dt.date):
        return value
    if isinstance(value, str):
        return value
    return str(value)


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


def _write_sheet(wb: Workbook, title: str, frame: pd.DataFrame, *, lang: str, taxonomy: Taxonomy | None) -> list[tuple[str, str]]:
    """Append one table sheet; returns (key, label) for each column."""
    ws = wb.create_sheet(title)
    keys = [str(c) for c in frame.columns]
    labels = [column_label(k, lang, taxonomy) for k in keys]
    widths = [_display_width(lab) for lab in labels]
    formats = [_number_format(k, frame[c]) for k, c in zip(keys, frame.columns, strict=True)]
    translate_status = [k in ("status", "status_a", "status_b") for k in keys]
    i = 0 if lang == "zh" else 1
    rows = []
    for values in frame.itertuples(index=False, name=None):
        row = []
        for j, v in enumerate(values):
            cv = _cell_value(v)
            if translate_status[j] and cv in schema.STATUSES:
                cv = LABELS[f"status.{cv}"][i]
            if len(rows) < 300 and cv is not None:
                shown = f"{cv:,.2f}" if isinstance(cv, float) else str(cv)
                widths[j] = max(widths[j], min(_display_width(shown), 60))
            row.append(cv)
        rows.append(row)
    for j, w in enumerate(widths):
        ws.column_dimensions[get_column_letter(j + 1)].width = float(np.clip(w + 2, 6, 50))
    ws.freeze_panes = "A2"
    if len(keys):
        ws.auto_filter.ref = f"A1:{get_column_letter(len(keys))}{len(rows) + 1}"
    head_font = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDEBF7")
    head_align = Alignment(wrap_text=True, vertical="center")
    header = []
    for lab in labels:
        cell = WriteOnlyCell(ws, value=lab)
        cell.font, cell.fill, cell.alignment = head_font, head_fill, head_align
        header.append(cell)
    ws.append(header)
    fmt_cols = [j for j, f in enumerate(formats) if f]
    for row in rows:
        for j in fmt_cols:
            if isinstance(row[j], int | float) and not isinstance(row[j], bool):
                cell = WriteOnlyCell(ws, value=row[j])
                cell.number_format = formats[j]
                row[j] = cell
        ws.append(row)
    return list(zip(keys, labels, strict=True))


def write_tables(
    sheets: Sequence[tuple[str, pd.DataFrame]],
    path: str | Path,
    *,
    lang: str = "zh",
    taxonomy: Taxonomy | None = None,
    about: Sequence[tuple[str, object]] = (),
) -> Path:
    """Write ``sheets`` (sheet key or name, table) to ``path``, plus the 说明 and 字段说明 sheets.

    A sheet key (a ``sheet_<key>`` label of :mod:`planner.labels`) is replaced by its name in ``lang``. ``about`` rows (label, value) go to
    the first sheet, 说明, before the tables.
    """
    i = 0 if lang == "zh" else 1
    name = lambda key: LABELS[f"sheet.{key}"][i] if f"sheet.{key}" in LABELS else key  # noqa: E731
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(name("about"))
    ws.column_dimensions["A"].width = 24
    ws.column_dimensions["B"].width = 90
    for label, value in about:
        cell = WriteOnlyCell(ws, value=label)
        cell.font = Font(bold=True)
        ws.append([cell, _cell_value(value)])
    fields: list[tuple[str, str, str, str]] = []
    for key, frame in sheets:
        title = name(key)
        for col, _label in _write_sheet(wb, title, frame, lang=lang, taxonomy=taxonomy):
            fields.append((title, col, column_label(col, "zh", taxonomy), column_label(col, "en", taxonomy)))
    _write_sheet(wb, name("fields"), pd.DataFrame(fields, columns=["sheet", "key", "label_zh", "label_en"]).rename(
        columns={"sheet": tr("xl.sheet", lang), "key": tr("xl.key", lang), "label_zh": tr("xl.label_zh", lang), "label_en": tr("xl.label_en", lang)}
    ), lang=lang, taxonomy=None)
    path = Path(path)
    wb.save(path)
    log.info("workbook written: %s (%d sheets)", path, len(sheets) + 2)
    return path


def run_sheets(result) -> list[tuple[str, pd.DataFrame]]:
    """The tables of a run, in workbook order (the content of the CSV files; the siting tables when present)."""
    sheets: list[tuple[str, pd.DataFrame]] = []
    if result.compliance is not None:
        sheets.append(("compliance", result.compliance.table))
    sheets.append(("subdistricts", result.zone_table.reset_index()))
    comp = result.compounds.drop(columns="geometry").join(result.coverage.table)
    comp = comp.drop(columns=schema.columns_of(comp.columns, "nearest_name"))
    pts = result.compounds.geometry.representative_point().to_crs(4326)
    comp.insert(2, "lon", pts.x.round(7).to_numpy())
    comp.insert(3, "lat", pts.y.round(7).to_numpy())
    sheets.append(("compounds", comp.reset_index(drop="id" in comp.columns)))
    fac = result.facilities.drop(columns="geometry").copy()
    fac_wgs = result.facilities.geometry.to_crs(4326)
    fac["lon"] = fac_wgs.x.round(7)
    fac["lat"] = fac_wgs.y.round(7)
    sheets.append(("facilities", fac.reset_index(drop="id" in fac.columns)))
    if result.gaps is not None:
        sheets.append(("gaps", result.gaps))
    if result.circles is not None:
        sheets.append(("circles", result.circles))
    sheets.append(("rejected", result.layers.rejected))
    sites = getattr(result, "sites", None)
    if sites is not None and len(sites):
        frame = pd.DataFrame(sites.drop(columns=sites.geometry.name)) if hasattr(sites, "geometry") else pd.DataFrame(sites)
        if hasattr(sites, "geometry") and sites.crs is not None:
            wgs = sites.geometry.representative_point().to_crs(4326)
            frame["lon"] = wgs.x.round(7).to_numpy()
            frame["lat"] = wgs.y.round(7).to_numpy()
        sheets.append(("sites", frame))
    curve = getattr(result, "coverage_curve", None)
    if curve is not None and len(curve):
        sheets.append(("curve", curve))
    pairs = getattr(result, "pairs", None)
    if pairs is not None and len(pairs):
        sheets.append(("pairs", pairs))
    return sheets


def write_workbook(result, path: str | Path, *, lang: str = "zh") -> Path:
    """Write ``report.xlsx`` of a run: one sheet per table, Chinese headers (English when ``lang="en"``)."""
    sc = result.scenario
    about: list[tuple[str, object]] = [
        (tr("xl.title", lang), sc.name),
        (tr("xl.created", lang), _dt.datetime.now().astimezone().isoformat(timespec="seconds")),
        (tr("xl.version", lang), f"planner {__version__}"),
        (tr("xl.scenario", lang), str(sc.path)),
        (tr("ui.speed_label", lang), f"{sc.walking_speed_m_per_min:g} m/min"),
        (tr("ui.thresholds_label", lang), "、".join(schema.minutes_text(t) for t in sc.thresholds_min) + tr("ui.minutes_unit", lang)),
        (tr("xl.headers", lang), tr("xl.headers_note", lang)),
    ]
    if sc.sample_data:
        about.insert(1, (tr("ui.sample", lang), tr("ui.sample_note", lang)))
    return write_tables(run_sheets(result), path, lang=lang, taxonomy=result.taxonomy, about=about)
