"""report.xlsx: one sheet per table, Chinese headers with the English keys in 字段说明, frozen header row,
sensible widths, numbers stored as numbers; and the column labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from planner.io.categories import load_taxonomy
from planner.labels import column_label
from planner.outputs.excel import write_tables

SHEETS = ["说明", "街道达标", "街道汇总", "小区", "设施", "缺口清单", "生活圈", "拒收行", "选址建议", "覆盖曲线", "养老托育结对", "字段说明"]
CSV_OF_SHEET = {
    "街道达标": "compliance.csv",
    "街道汇总": "subdistricts.csv",
    "设施": "facilities.csv",
    "缺口清单": "gaps.csv",
    "生活圈": "circles.csv",
    "拒收行": "rejected.csv",
    "选址建议": "sites.csv",
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
    comp = _header(workbook["小区"])
    assert {"编号", "人口", "60岁及以上人口", "步行距离（米）：菜市场", "15 分钟内可达：托育机构", "经度（WGS84）"} <= set(comp)
    fields = _fields(workbook)
    row = fields[(fields["工作表"] == "小区") & (fields["字段（CSV 列名）"] == "dist_m__market")].iloc[0]
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
    # booleans stay booleans, text stays text, empty values are empty cells
    comp = workbook["小区"]
    ch = _header(comp)
    assert isinstance(comp.cell(row=2, column=ch.index("接入路网") + 1).value, bool)
    assert isinstance(comp.cell(row=2, column=ch.index("名称") + 1).value, str)
    status = workbook["街道达标"]
    values = {c.value for c in status[f"{chr(ord('A') + _header(status).index('结果'))}"][1:]}
    assert values <= {"达标", "未达标", "无法评价"}
    for sheet in ("街道达标", "小区", "缺口清单"):
        widths = [d.width for d in workbook[sheet].column_dimensions.values()]
        assert widths and all(6 <= w <= 50 for w in widths)


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
