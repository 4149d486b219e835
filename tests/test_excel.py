"""report.xlsx: one sheet per table, Chinese headers with the English keys in 字段说明, frozen header row,
sensible widths, numbers stored as numbers; and the column labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from planner.io.categories import load_taxonomy
from planner.labels import column_label
from planner.outputs.excel import write_tables

COMPOUND_SHEETS = ["小区概况", "小区·养老", "小区·托育", "小区·教育", "小区·医疗卫生", "小区·便民商业", "小区·社区服务"]
SHEETS = ["说明", "街道达标", "街道汇总", *COMPOUND_SHEETS, "设施", "缺口清单", "生活圈", "拒收行", "选址建议", "覆盖曲线", "养老托育结对", "1+N托育汇总",
          "1+N托育", "字段说明"]
CSV_OF_SHEET = {
    "街道达标": "compliance.csv",
    "街道汇总": "subdistricts.csv",
    "设施": "facilities.csv",
    "缺口清单": "gaps.csv",
    "生活圈": "circles.csv",
    "拒收行": "rejected.csv",
    "选址建议": "sites.csv",
    "1+N托育汇总": "one_plus_n_areas.csv",
    "1+N托育": "one_plus_n.csv",
}


@pytest.fixture(scope="module")
def workbook(demo_run: Path):
    wb = load_workbook(demo_run / "report.xlsx")
    yield wb
    wb.close()


def _header(ws) -> list[str]:
    return [c.value for c in next(ws.iter_rows(min_row=1, max_row=1))]


def _fields(wb) -> pd.DataFrame:
    rows = list(wb["字段说明"].iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_sheets(workbook) -> None:
    assert workbook.sheetnames == SHEETS
    about = {r[0]: r[1] for r in workbook["说明"].iter_rows(values_only=True)}
    assert about["情景"] == "示例区 一刻钟生活圈缺口分析"
    assert "示例数据（虚构）" in about


@pytest.mark.parametrize("sheet", list(CSV_OF_SHEET))
def test_each_table_sheet_matches_its_csv(workbook, demo_run: Path, sheet: str) -> None:
    """Same rows as the CSV, Chinese headers in row 1, the CSV's column keys listed for the sheet in 字段说明."""
    csv = pd.read_csv(demo_run / CSV_OF_SHEET[sheet], encoding="utf-8-sig")
    ws = workbook[sheet]
    header = _header(ws)
    assert ws.max_row == len(csv) + 1
    fields = _fields(workbook)
    keys = fields.loc[fields["工作表"] == sheet, "字段（CSV 列名）"].tolist()
    assert set(csv.columns) <= set(keys) and len(keys) == len(header)
    assert header == fields.loc[fields["工作表"] == sheet, "中文"].tolist()
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref.startswith("A1:")


def test_chinese_headers_and_english_keys(workbook) -> None:
    header = _header(workbook["街道汇总"])
    assert header[:4] == ["街道编码", "名称", "小区数", "无法接入路网的小区数"]
    assert "15 分钟内人口占比：综合性养老服务中心" in header
    assert "设施数：便利店" in header
    comp = _header(workbook["小区概况"])
    assert {"编号", "人口", "60岁及以上人口", "经度（WGS84）"} <= set(comp)
    assert {"编号", "名称", "步行距离（米）：菜市场"} <= set(_header(workbook["小区·便民商业"]))
    assert "15 分钟内可达：托育机构" in _header(workbook["小区·托育"])
    fields = _fields(workbook)
    row = fields[(fields["工作表"] == "小区·便民商业") & (fields["字段（CSV 列名）"] == "dist_m__market")].iloc[0]
    assert (row["中文"], row["English"]) == ("步行距离（米）：菜市场", f"Walking distance (m): {load_taxonomy()['market'].en}")


def test_numbers_are_numbers_and_widths_are_set(workbook, demo_run: Path) -> None:
    ws = workbook["街道汇总"]
    header = _header(ws)
    share = header.index("15 分钟内人口占比：便利店") + 1
    pop = header.index("人口") + 1
    cell = ws.cell(row=2, column=share)
    assert cell.data_type == "n" and isinstance(cell.value, float) and 0 <= cell.value <= 1
    assert cell.number_format == "0.0%"
    assert ws.cell(row=2, column=pop).data_type == "n" and ws.cell(row=2, column=pop).number_format == "#,##0"
    zones = pd.read_csv(demo_run / "subdistricts.csv", encoding="utf-8-sig")
    assert [ws.cell(row=r, column=pop).value for r in range(2, ws.max_row + 1)] == pytest.approx(zones["population"].tolist())
    # yes/no are 是/否 in the Chinese workbook, text stays text, empty values are empty cells
    comp = workbook["小区概况"]
    ch = _header(comp)
    assert comp.cell(row=2, column=ch.index("接入路网") + 1).value in ("是", "否")
    assert isinstance(comp.cell(row=2, column=ch.index("名称") + 1).value, str)
    status = workbook["街道达标"]
    values = {c.value for c in status[f"{chr(ord('A') + _header(status).index('结果'))}"][1:]}
    assert values <= {"达标", "未达标", "无法评价"}
    for sheet in ("街道达标", *COMPOUND_SHEETS, "缺口清单"):
        # XlsxWriter stores the width Excel shows plus the cell padding (5 px at 7 px a character: +0.71)
        widths = [d.width for d in workbook[sheet].column_dimensions.values()]
        assert widths and all(6 <= w <= 50.72 for w in widths)


@pytest.mark.parametrize(
    ("key", "zh", "en"),
    [
        ("population", "人口", "Population"),
        ("share_15min__childcare", "15 分钟内人口占比：托育机构", "Population share within 15 min: Childcare"),
        ("within_7.5min__market", "7.5 分钟内可达：菜市场", "Within 7.5 min: Wet market"),
        ("newly_covered__elderly_centre", "新增覆盖人口：综合性养老服务中心", "People newly covered: Comprehensive elderly-care centre"),
        ("no_such_column", "no_such_column", "no_such_column"),
    ],
)
def test_column_label(key: str, zh: str, en: str) -> None:
    taxonomy = load_taxonomy()
    assert column_label(key, "zh", taxonomy) == zh
    expected_en = en.replace("Childcare", taxonomy["childcare"].en).replace("Wet market", taxonomy["market"].en)
    expected_en = expected_en.replace("Comprehensive elderly-care centre", taxonomy["elderly_centre"].en)
    assert column_label(key, "en", taxonomy) == expected_en


def test_english_workbook(tmp_path: Path) -> None:
    frame = pd.DataFrame({"zone_id": ["Z01"], "population": [1234.0], "share_15min__market": [0.5], "status": ["fail"]})
    path = write_tables([("subdistricts", frame)], tmp_path / "t.xlsx", lang="en", taxonomy=load_taxonomy(), about=[("Scenario", "x")])
    wb = load_workbook(path)
    assert wb.sheetnames == ["About", "Sub-districts", "Fields"]
    assert _header(wb["Sub-districts"]) == ["Sub-district ID", "Population", f"Population share within 15 min: {load_taxonomy()['market'].en}", "Status"]
    assert [c.value for c in wb["Sub-districts"][2]] == ["Z01", 1234.0, 0.5, "fail"]
    wb.close()


# ---- the workbook against the run's frames, and the row caps (XlsxWriter, constant-memory mode) ----------------------


def _cell(value: object) -> object:
    """What a sheet cell holds for a frame value: numbers as numbers, NA and "" as empty cells."""
    if value is None or value is pd.NA or (isinstance(value, float) and not np.isfinite(value)) or value == "":
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def test_workbook_holds_the_frames_of_the_run(demo_result, tmp_path: Path) -> None:
    """Every sheet read back with openpyxl holds the values of its frame (statuses as labels), types kept."""
    from planner.outputs.excel import _shown_values, run_sheets, write_workbook

    path = write_workbook(demo_result, tmp_path / "report.xlsx")
    wb = load_workbook(path, read_only=True)
    for sheet in run_sheets(demo_result):
        rows = list(wb[column_label_sheet(sheet.key)].iter_rows(values_only=True))
        frame = sheet.frame
        assert len(rows) == len(frame) + 1 and sheet.rows in (None, len(frame))  # the demo is never cut short
        for j, col in enumerate(frame.columns):
            got = [r[j] for r in rows[1:]]
            want = [_cell(v) for v in _shown_values(frame[col], col, "zh", demo_result.taxonomy).tolist()]
            if pd.api.types.is_float_dtype(frame[col]):
                assert got == pytest.approx(want, nan_ok=True), col
            else:
                assert got == want, col
                assert [type(v) for v in got] == [type(v) for v in want], col
    wb.close()


def column_label_sheet(key: str) -> str:
    from planner.labels import LABELS

    return LABELS[f"sheet.{key}"][0]


def test_long_tables_are_cut_with_a_note(tmp_path: Path, monkeypatch) -> None:
    """A sheet holds at most MAX_ROWS rows and says where the full table is; the 说明 sheet lists the note."""
    from planner.outputs import excel

    monkeypatch.setattr(excel, "MAX_ROWS", 7)
    frame = pd.DataFrame({"zone_id": [f"Z{i:02d}" for i in range(20)], "population": np.arange(20) * 100})
    path = excel.write_tables([excel.Sheet("subdistricts", frame, file="subdistricts.csv")], tmp_path / "t.xlsx")
    wb = load_workbook(path)
    rows = list(wb["街道汇总"].iter_rows(values_only=True))
    assert rows[1:8] == [(f"Z{i:02d}", i * 100) for i in range(7)]
    assert len(rows) == 9  # header, 7 rows, note
    note = rows[8][0]
    assert note == "本表列出 7 行（表中前若干行）；完整表格见 subdistricts.csv（20 行） / 7 rows shown (the first rows); full table in subdistricts.csv (20 rows)"
    assert wb["街道汇总"].auto_filter.ref == "A1:B8"  # the note row is outside the filter
    about = {r[0]: r[1] for r in wb["说明"].iter_rows(values_only=True)}
    assert about["街道汇总"] == note
    wb.close()


def test_gap_list_keeps_the_most_severe_rows_of_every_requirement(monkeypatch) -> None:
    from planner.outputs import excel

    gaps = pd.DataFrame({"requirement": ["a"] * 5 + ["b"] * 2, "rank": [1, 2, 3, 4, 5, 1, 2], "unserved": [9, 8, 7, 6, 5, 4, 3]})
    top = excel._top_rows(gaps, 4, "rank")
    assert top.index.tolist() == [0, 1, 5, 6]  # ranks 1–2 of a and of b, in table order
    assert excel._top_rows(gaps, 10, "rank") is gaps


@pytest.mark.parametrize(("n_rows", "shown_rows", "shown_cols"), [(3, 3, 12), (40, 40, 4), (400, 0, 4)])
def test_compound_sheet_within_its_cell_budget(monkeypatch, n_rows: int, shown_rows: int, shown_cols: int) -> None:
    """All columns while rows × columns fit COMPOUND_CELLS, else the key columns (no per-threshold detail), else none."""
    from planner.outputs import excel

    monkeypatch.setattr(excel, "COMPOUND_CELLS", 200)
    cols = {"id": "x", "name": "n", "population": 1.0, "dist_m__market": 1.0}
    cols |= {f"within_{t}min__market": True for t in (5, 10, 15)} | {f"count_{t}min__market": 1 for t in (5, 10, 15)}
    cols |= {"minutes__market": 1.0, "nearest_id__market": "F1"}
    table = pd.DataFrame({k: [v] * n_rows for k, v in cols.items()})
    sheet = excel._compound_sheet(table)
    assert sheet.frame.shape == (shown_rows, shown_cols)
    assert len(sheet.fields) == 12  # 字段说明 still lists every column of compounds.csv
    if shown_cols < 12:
        assert list(sheet.frame.columns) == ["id", "name", "population", "dist_m__market"]
        note = excel._note(sheet, shown_rows, shown_cols)
        assert "完整表格见 compounds.csv" in note and f"（{n_rows:,} 行）" in note
        assert ("只列主要的 4 列" in note) == bool(shown_rows)


def test_text_is_never_a_formula_or_a_link(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["=1+1", "http://example.com", "", None, "a"], "n": [1, 2, 3, 4, 5]})
    wb = load_workbook(write_tables([("x", frame)], tmp_path / "t.xlsx"))
    cells = [r[0] for r in wb["x"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == ["=1+1", "http://example.com", None, None, "a"]
    assert all(c.data_type in ("s", "n") and c.hyperlink is None for c in cells)
    wb.close()


def test_a_table_without_a_file_says_how_long_it_is(tmp_path: Path, monkeypatch) -> None:
    from planner.outputs import excel

    monkeypatch.setattr(excel, "MAX_ROWS", 2)
    wb = load_workbook(excel.write_tables([("compare_compounds", pd.DataFrame({"id": ["a", "b", "c"], "n": [1, 2, 3]}))], tmp_path / "c.xlsx"))
    rows = list(wb["小区变化"].iter_rows(values_only=True))
    assert rows[-1][0] == "本表列出 2 行（表中前若干行）；全表共 3 行 / 2 rows shown (the first rows); 3 rows in all"
    wb.close()


# ---- report.xlsx in Chinese: every header labelled, no English values, numbers as numbers, compounds split ----------

#: values a Chinese reader must never meet in the zh workbook (codes of planner's own; category keys are added)
ENGLISH_VALUES = {
    "True", "False", "given", "households", "osm_buildings", "osm_building", "osm_plot_ratio", "census_dasymetric",
    "existing", "new", "label", "name", "node", "zone", "compound", "optimal", "time_limit", "infeasible", "greedy",
    "pass", "fail", "not_evaluable", "not evaluable", "population", "age_60_plus", "age_0_3", "residential",
    "facilities", "zones", "unchanged", "gained", "lost", "mixed", "added", "removed", "newly_passing", "newly_failing",
    "changed",
}  # fmt: skip
#: columns that hold identifiers or codes by design (their Chinese meaning is the next column or the 字段说明 sheet)
CODE_HEADERS = {"编号", "小区编号", "候选点编号", "规则编号", "要求编号", "原因代码", "街道编码", "生活圈中心编号", "养老设施编号", "托育设施编号", "所属一刻钟生活圈", "来源文件"}
#: columns that hold numbers in the demo run, by sheet
NUMERIC = {
    "选址建议": ["排名", "新覆盖人口", "新覆盖60岁及以上", "新覆盖0–3岁", "新覆盖小区数", "边际增益（任务需求）", "最近现有同类设施（米）", "经度（WGS84）"],
    "覆盖曲线": ["新增设施数 k", "覆盖需求", "覆盖比例", "贪心算法覆盖需求"],
    "缺口清单": ["排名", "未满足人数"],
    "街道达标": ["现状值", "目标值", "缺口（数量）"],
    "街道汇总": ["小区数", "人口", "15 分钟内人口占比：便利店"],
    "生活圈": ["小区数", "人口", "一刻钟内基本业态数"],
    "养老托育结对": ["步行距离（米）"],
    "小区概况": ["人口", "户数", "60岁及以上人口", "经度（WGS84）"],
    "小区·托育": ["步行距离（米）：托育机构", "15 分钟内设施数：托育机构"],
}


def test_every_header_has_a_label(workbook) -> None:
    """No header is a bare column key: each is a label of planner.labels (Chinese), as listed in 字段说明."""
    import re

    from planner.labels import LABELS

    for ws in workbook.worksheets[1:]:
        for h in _header(ws):
            assert h and not re.fullmatch(r"[a-z][a-z0-9_.]*", str(h)), (ws.title, h)
    fields = _fields(workbook)
    unlabelled = fields[fields["中文"] == fields["字段（CSV 列名）"]]
    assert unlabelled.empty, unlabelled
    assert "partner" in LABELS and "value_a" in LABELS and "value_b" in LABELS


def test_no_english_values_in_the_chinese_workbook(workbook) -> None:
    taxonomy = load_taxonomy()
    codes = ENGLISH_VALUES | set(taxonomy.keys)
    for ws in workbook.worksheets[1:-1]:  # not 说明 (file paths, version) nor 字段说明 (the English keys by design)
        header = _header(ws)
        for row in ws.iter_rows(min_row=2):
            for h, c in zip(header, row, strict=False):
                assert c.data_type != "b", (ws.title, h, c.value)  # 是/否, not TRUE/FALSE
                if h in CODE_HEADERS or not isinstance(c.value, str):
                    continue
                assert c.value not in codes, (ws.title, h, c.value)
                assert " / not " not in c.value and " / unknown" not in c.value, (ws.title, h, c.value)
                if h in ("说明", "缺口说明"):
                    assert not any(k in c.value for k in taxonomy.keys if "_" in k), (ws.title, h, c.value)
    sites = workbook["选址建议"]
    header = _header(sites)
    source = [r[header.index("候选点来源")].value for r in sites.iter_rows(min_row=2)]
    assert source and set(source) <= {"路网节点", "未覆盖小区", "未达标街道内的路网节点"}
    assert "新覆盖的小区" in header and "结对类别（老幼复合）" in header


@pytest.mark.parametrize("sheet", list(NUMERIC))
def test_numeric_columns_are_number_cells(workbook, sheet: str) -> None:
    ws = workbook[sheet]
    header = _header(ws)
    for name in NUMERIC[sheet]:
        j = header.index(name)
        cells = [r[j] for r in ws.iter_rows(min_row=2) if r[j].value is not None]
        assert cells, (sheet, name)
        assert all(c.data_type == "n" and isinstance(c.value, int | float) for c in cells), (sheet, name)


def test_compound_sheets_hold_every_compound(workbook, demo_run: Path) -> None:
    """Each compound sheet lists every compound in compounds.csv's order; together they hold all its columns."""
    csv = pd.read_csv(demo_run / "compounds.csv", encoding="utf-8-sig", dtype={"id": str})
    fields = _fields(workbook)
    held: set[str] = set()
    for title in COMPOUND_SHEETS:
        ws = workbook[title]
        header = _header(ws)
        assert header[:2] == ["编号", "名称"], title
        assert [r[0].value for r in ws.iter_rows(min_row=2)] == csv["id"].tolist(), title
        assert len(header) <= 90, title
        held |= set(fields.loc[fields["工作表"] == title, "字段（CSV 列名）"])
    assert set(csv.columns) <= held
    about = {r[0]: r[1] for r in workbook["说明"].iter_rows(values_only=True)}
    assert "小区概况" in about["小区表"] and "compounds.csv" in about["小区表"]


def test_english_workbook_keeps_english_values(tmp_path: Path) -> None:
    frame = pd.DataFrame({"site_id": ["C1"], "category": ["childcare"], "source": ["node"], "reachable": [True], "rank": [1]})
    wb = load_workbook(write_tables([("sites", frame)], tmp_path / "en.xlsx", lang="en", taxonomy=load_taxonomy()))
    ws = wb["Suggested sites"]
    assert _header(ws) == ["Candidate ID", "Category", "Candidate from", "Connected to network", "Rank"]
    assert [c.value for c in ws[2]] == ["C1", "childcare", "network node", True, 1]
    wb.close()
    wb = load_workbook(write_tables([("sites", frame)], tmp_path / "zh.xlsx", taxonomy=load_taxonomy()))
    assert [c.value for c in wb["选址建议"][2]] == ["C1", load_taxonomy()["childcare"].zh, "路网节点", "是", 1]
    wb.close()


def test_compare_headers_and_values_in_chinese(tmp_path: Path) -> None:
    frame = pd.DataFrame({"rule_id": ["r1", "r2"], "status_a": ["fail", "fail"], "status_b": ["fail", "pass"],
                          "change": ["unchanged", "newly_passing"], "value_a": [0.645, 0.5], "value_b": [0.713, 0.9],
                          "shortfall_text_a": ["缺 3 所 / 3 short", None]})  # fmt: skip
    wb = load_workbook(write_tables([("compare_rules", frame)], tmp_path / "c.xlsx"))
    ws = wb["规则变化"]
    assert _header(ws) == ["规则编号", "方案 A 结果", "方案 B 结果", "变化", "方案 A 现状值", "方案 B 现状值", "方案 A 缺口说明"]
    assert [c.value for c in ws[2]] == ["r1", "未达标", "未达标", "不变", 0.645, 0.713, "缺 3 所"]
    assert [c.value for c in ws[3]][:4] == ["r2", "未达标", "达标", "新达标"]
    assert ws["E2"].data_type == "n"
    wb.close()


@pytest.mark.parametrize(("n_rows", "shown"), [(3, {"id", "name", "population", "lon", "lat", "dist_m__market", "within_15min__market"}),
                                               (30, {"id", "name", "population", "lon", "lat", "dist_m__market"}), (400, set())])  # fmt: skip
def test_split_compound_sheets_share_one_cell_budget(monkeypatch, n_rows: int, shown: set[str]) -> None:
    """The split sheets show the columns the single sheet would have shown at that size, every compound on each."""
    import geopandas as gpd
    from shapely.geometry import Point

    from planner.outputs import excel

    monkeypatch.setattr(excel, "COMPOUND_CELLS", 200)
    table = pd.DataFrame({"id": [f"X{i}" for i in range(n_rows)], "name": "n", "population": 1.0, "dist_m__market": 1.0,
                          "within_15min__market": True})  # fmt: skip
    geometry = gpd.GeoSeries([Point(500_000, 3_500_000)] * n_rows, crs=32651)
    sheets = excel.compound_sheets(table, geometry, load_taxonomy())
    assert [s.key for s in sheets] == ["compounds_main", "compounds_convenience"]
    got = set().union(*(s.frame.columns for s in sheets)) if n_rows < 400 else set()
    assert got == shown
    assert all(len(s.frame) == (n_rows if shown else 0) for s in sheets)
