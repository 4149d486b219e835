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
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from planner import __version__
from planner.io.categories import Taxonomy
from planner.labels import tr

__all__ = ["column_label", "write_workbook", "write_tables", "run_sheets", "SHEETS"]

log = logging.getLogger(__name__)

# sheet key -> (Chinese name, English name); Excel sheet names are at most 31 characters
SHEETS: dict[str, tuple[str, str]] = {
    "about": ("说明", "About"),
    "compliance": ("街道达标", "Compliance"),
    "subdistricts": ("街道汇总", "Sub-districts"),
    "compounds": ("小区", "Compounds"),
    "facilities": ("设施", "Facilities"),
    "gaps": ("缺口清单", "Gaps"),
    "circles": ("生活圈", "Circles"),
    "rejected": ("拒收行", "Rejected rows"),
    "sites": ("选址建议", "Suggested sites"),
    "curve": ("覆盖曲线", "Coverage curve"),
    "pairs": ("养老托育结对", "Elderly–childcare pairs"),
    "fields": ("字段说明", "Fields"),
    "compare_zones": ("街道变化", "Sub-district changes"),
    "compare_rules": ("规则变化", "Rule changes"),
    "compare_compounds": ("小区变化", "Compound changes"),
    "compare_facilities": ("设施变化", "Facility changes"),
}

# planner column key -> (中文, English)
_LABELS: dict[str, tuple[str, str]] = {
    "id": ("编号", "ID"),
    "name": ("名称", "Name"),
    "category": ("类别", "Category"),
    "category_zh": ("类别名称", "Category (Chinese)"),
    "zone_id": ("街道编码", "Sub-district ID"),
    "zone_name": ("街道", "Sub-district"),
    "subdistrict": ("街道编码", "Sub-district ID"),
    "subdistrict_name": ("街道", "Sub-district"),
    "rule_id": ("规则编号", "Rule ID"),
    "rule": ("指标", "Rule"),
    "value": ("现状值", "Value"),
    "target": ("目标值", "Target"),
    "status": ("结果", "Status"),
    "shortfall": ("缺口（数量）", "Shortfall"),
    "unit": ("单位", "Unit"),
    "shortfall_text": ("缺口说明", "Shortfall (text)"),
    "source": ("依据 / 来源", "Source"),
    "conf": ("可信度", "Confidence"),
    "compounds": ("小区数", "Compounds"),
    "unreachable_compounds": ("无法接入路网的小区数", "Compounds not connected"),
    "households": ("户数", "Households"),
    "population": ("人口", "Population"),
    "age_60_plus": ("60岁及以上人口", "Aged 60+"),
    "age_0_3": ("0–3岁人口", "Aged 0–3"),
    "population_source": ("人口来源", "Population source"),
    "floor_area_m2": ("住宅建筑面积（m²）", "Floor area (m²)"),
    "elderly_room_m2": ("养老服务用房面积（m²）", "Elderly-care rooms (m²)"),
    "childcare_room_m2": ("托育服务用房面积（m²）", "Childcare rooms (m²)"),
    "built_type": ("建成类型", "Built type"),
    "community": ("社区", "Community"),
    "gates": ("出入口数", "Gates"),
    "reachable": ("接入路网", "Connected to network"),
    "snap_distance_m": ("到路网距离（米）", "Distance to network (m)"),
    "circle": ("所属一刻钟生活圈", "15-min circle"),
    "access_childcare_places_per_1000": ("可达托位（每千人，E2SFCA）", "Accessible childcare places per 1000 (E2SFCA)"),
    "access_elderly_beds_per_1000": ("可达养老床位（每千名老人，E2SFCA）", "Accessible elderly beds per 1000 aged 60+ (E2SFCA)"),
    "formats_present": ("一刻钟内基本业态数", "Basic formats within reach"),
    "formats_missing": ("缺少的基本业态", "Basic formats missing"),
    "completeness": ("可达类别占比", "Share of categories within reach"),
    "places": ("托位", "Childcare places"),
    "beds": ("床位", "Beds"),
    "nursing_beds": ("护理型床位", "Nursing beds"),
    "public_benefit": ("普惠", "Public-benefit"),
    "lon": ("经度（WGS84）", "Longitude (WGS84)"),
    "lat": ("纬度（WGS84）", "Latitude (WGS84)"),
    "requirement": ("要求编号", "Requirement ID"),
    "requirement_zh": ("要求", "Requirement"),
    "rank": ("排名", "Rank"),
    "compound_id": ("小区编号", "Compound ID"),
    "group": ("人群", "Group"),
    "unserved": ("未满足人数", "People unserved"),
    "nearest_m": ("最近设施步行距离（米）", "Nearest walking distance (m)"),
    "detail": ("说明", "Detail"),
    "centre_id": ("生活圈中心编号", "Centre ID"),
    "complete": ("业态齐全", "Complete"),
    "lacks": ("缺少的业态", "Formats lacking"),
    "layer": ("图层", "Layer"),
    "row": ("行号", "Row"),
    "reason_code": ("原因代码", "Reason code"),
    "reason": ("原因", "Reason"),
    "attributes": ("原始属性", "Original attributes"),
    "explanation": ("理由", "Explanation"),
    "newly_covered": ("新增覆盖人口", "People newly covered"),
    # siting (sites.csv, coverage_curve.csv, pairs.csv)
    "task": ("选址任务", "Siting task"),
    "site_id": ("候选点编号", "Candidate ID"),
    "new_population": ("新覆盖人口", "Residents newly covered"),
    "new_age_60_plus": ("新覆盖60岁及以上", "Aged 60+ newly covered"),
    "new_age_0_3": ("新覆盖0–3岁", "Aged 0–3 newly covered"),
    "new_compounds": ("新覆盖小区数", "Compounds newly covered"),
    "marginal_gain": ("边际增益（任务需求）", "Marginal gain (task demand)"),
    "nearest_existing_m": ("最近现有同类设施（米）", "Nearest existing of the category (m)"),
    "fixes": ("改善的街道指标", "街道 rules fixed or improved"),
    "capacity": ("容量", "Capacity"),
    "k": ("新增设施数 k", "New sites k"),
    "covered": ("覆盖需求", "Demand covered"),
    "covered_share": ("覆盖比例", "Share covered"),
    "greedy_covered": ("贪心算法覆盖需求", "Demand covered (greedy)"),
    "elderly_id": ("养老设施编号", "Elderly-care facility ID"),
    "elderly_name": ("养老设施", "Elderly-care facility"),
    "childcare_id": ("托育设施编号", "Childcare facility ID"),
    "childcare_name": ("托育设施", "Childcare facility"),
    "dist_m": ("步行距离（米）", "Walking distance (m)"),
    # planner compare
    "change": ("变化", "Change"),
    "status_a": ("方案 A 结果", "Status in A"),
    "status_b": ("方案 B 结果", "Status in B"),
    "rules_pass_a": ("方案 A 达标项数", "Rules passing in A"),
    "rules_pass_b": ("方案 B 达标项数", "Rules passing in B"),
    "rules_fail_a": ("方案 A 未达标项数", "Rules failing in A"),
    "rules_fail_b": ("方案 B 未达标项数", "Rules failing in B"),
    "n_newly_passing": ("新达标项数", "Rules newly passing"),
    "n_newly_failing": ("新不达标项数", "Rules newly failing"),
    "newly_passing": ("新达标规则", "Newly passing rules"),
    "newly_failing": ("新不达标规则", "Newly failing rules"),
    "compliant_a": ("方案 A 全部达标", "All rules pass in A"),
    "compliant_b": ("方案 B 全部达标", "All rules pass in B"),
    "newly_covered_total": ("新增覆盖人口（各类别合计）", "People newly covered (sum over categories)"),
    "lost_total": ("失去覆盖人口（各类别合计）", "People no longer covered (sum over categories)"),
    "categories_gained": ("新增可达类别", "Categories gained"),
    "categories_lost": ("失去可达类别", "Categories lost"),
    "population_a": ("方案 A 人口", "Population in A"),
    "population_b": ("方案 B 人口", "Population in B"),
}

# per-category columns: pattern -> (中文, English), formatted with t (minutes) and c (category label)
_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (re.compile(r"^dist_m__(?P<c>.+)$"), ("步行距离（米）：{c}", "Walking distance (m): {c}")),
    (re.compile(r"^minutes__(?P<c>.+)$"), ("步行时间（分钟）：{c}", "Walking time (min): {c}")),
    (re.compile(r"^nearest_id__(?P<c>.+)$"), ("最近设施编号：{c}", "Nearest facility ID: {c}")),
    (re.compile(r"^nearest_name__(?P<c>.+)$"), ("最近设施：{c}", "Nearest facility: {c}")),
    (re.compile(r"^within_(?P<t>[\d.]+)min__(?P<c>.+)$"), ("{t} 分钟内可达：{c}", "Within {t} min: {c}")),
    (re.compile(r"^count_(?P<t>[\d.]+)min__(?P<c>.+)$"), ("{t} 分钟内设施数：{c}", "Facilities within {t} min: {c}")),
    (re.compile(r"^facilities__(?P<c>.+)$"), ("设施数：{c}", "Facilities: {c}")),
    (re.compile(r"^share_(?P<t>[\d.]+)min__(?P<c>.+)$"), ("{t} 分钟内人口占比：{c}", "Population share within {t} min: {c}")),
    (re.compile(r"^share_a__(?P<c>.+)$"), ("方案 A 人口占比：{c}", "Population share in A: {c}")),
    (re.compile(r"^share_b__(?P<c>.+)$"), ("方案 B 人口占比：{c}", "Population share in B: {c}")),
    (re.compile(r"^covered_(?P<t>[\d.]+)min$"), ("{t} 分钟内可达类别数", "Categories within {t} min")),
    (re.compile(r"^newly_covered__(?P<c>.+)$"), ("新增覆盖人口：{c}", "People newly covered: {c}")),
    (re.compile(r"^lost__(?P<c>.+)$"), ("失去覆盖人口：{c}", "People no longer covered: {c}")),
]

_PERCENT = re.compile(r"^(share_|completeness$|covered_share$)")
_STATUS = {"pass": ("达标", "pass"), "fail": ("未达标", "fail"), "not_evaluable": ("无法评价", "not evaluable")}


def column_label(key: str, lang: str = "zh", taxonomy: Taxonomy | None = None) -> str:
    """Display label of a planner column ``key`` in ``lang``; unknown keys are returned unchanged."""
    i = 0 if lang == "zh" else 1
    if key in _LABELS:
        return _LABELS[key][i]
    for pattern, labels in _PATTERNS:
        m = pattern.match(key)
        if m:
            parts = m.groupdict()
            cat = parts.get("c")
            if cat is not None and taxonomy is not None and cat in taxonomy:
                cat = taxonomy[cat].label(lang)
            t = parts.get("t")
            return labels[i].format(c=cat, t=f"{float(t):g}" if t else "")
    return key


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
    if _PERCENT.match(key) and pd.api.types.is_float_dtype(series):
        return "0.0%"
    if key.startswith(("dist_m__", "nearest_m", "snap_distance_m")):
        return "#,##0"
    if key.startswith("minutes__"):
        return "0.0"
    if key in ("population", "households", "age_60_plus", "age_0_3", "unserved", "covered", "greedy_covered") or key.startswith(
        ("newly_covered", "lost_", "new_")
    ):
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
            if translate_status[j] and cv in _STATUS:
                cv = _STATUS[cv][i]
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

    A sheet key of :data:`SHEETS` is replaced by its name in ``lang``. ``about`` rows (label, value) go to
    the first sheet, 说明, before the tables.
    """
    i = 0 if lang == "zh" else 1
    name = lambda key: SHEETS[key][i] if key in SHEETS else key  # noqa: E731
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
        columns={"sheet": tr("xl_sheet", lang), "key": tr("xl_key", lang), "label_zh": "中文", "label_en": "English"}
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
    comp = comp.drop(columns=[c for c in comp.columns if c.startswith("nearest_name__")])
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
        (tr("xl_title", lang), sc.name),
        (tr("xl_created", lang), _dt.datetime.now().astimezone().isoformat(timespec="seconds")),
        (tr("xl_version", lang), f"planner {__version__}"),
        (tr("xl_scenario", lang), str(sc.path)),
        (tr("speed_label", lang), f"{sc.walking_speed_m_per_min:g} m/min"),
        (tr("thresholds_label", lang), "、".join(f"{t:g}" for t in sc.thresholds_min) + (" 分钟" if lang == "zh" else " min")),
        (tr("xl_headers", lang), tr("xl_headers_note", lang)),
    ]
    if sc.sample_data:
        about.insert(1, (tr("sample", lang), tr("sample_note", lang)))
    return write_tables(run_sheets(result), path, lang=lang, taxonomy=result.taxonomy, about=about)
