"""The bad-input catalogue (issue #13, deliverable 11): what a bureau feeds planner, and what planner must do with it.

Each case is one row of the table below: the class of input, how its files are built (tests/_catalogue.py, a tiny
world in tmp_path), the CLI call, and what must come out. Every case asserts

* the exit code (0 run ok, 2 bad input — never 1, the internal-error code),
* no traceback and no "internal error" in anything printed or logged,
* the message's key words (Chinese and English, the file, the column or row) or the reason codes of the rejected rows,
* every input row accounted for: rows read = rows written by the case = kept + rejected (``check-layer``: the
  "read N" line, layer.gpkg and rejected.csv; ``run``: summary.json's "layers" block),
* the inputs unchanged (SHA-256 before and after).

A case that planner handled wrongly before issue #13 names, in ``part``, the part of #13 that made it right.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import shapely
from _catalogue import (
    COMP_COLUMNS,
    FAC_COLUMNS,
    LAT0,
    LON0,
    STEP,
    N,
    Outcome,
    Setup,
    World,
    base_compounds,
    base_facilities,
    block,
    comp,
    digests,
    fac,
    has_all,
    near_street,
    write_csv,
    write_xlsx,
    zone_polygons,
)

from planner.cli import main


@dataclass(frozen=True)
class Case:
    id: str
    cls: str  # files, columns, coordinates, values, labels, layers, zones, scenario, output, network
    build: Callable[[World], Setup]
    exit: int | tuple[int, ...] = 0
    words: tuple[str, ...] = ()  # each must appear in the output ("a|b": either); case-insensitive
    reasons: dict[str, int | None] = field(default_factory=dict)  # reason code -> rows (None: at least one)
    kept: int | None = None  # check-layer: rows kept
    check: Callable[[Outcome], bool | None] | None = None  # asserts, or returns False when the case fails
    part: str | None = None  # the part of issue #13 that made this case right


# ---- builders shared by several cases -----------------------------------------------------------------------------------


def facs_plus(*extra: dict) -> list[dict]:
    return base_facilities() + list(extra)


def comps_plus(*extra: dict) -> list[dict]:
    return base_compounds() + list(extra)


ON_GRID = near_street(2, 2)  # a valid facility position
IN_BLOCK = block(2, 2)  # a valid compound position


def bad_fac(**fields) -> dict:
    row = fac("F9", "测试设施", "便利店", ON_GRID)
    row.update(fields)
    return row


def bad_comp(**fields) -> dict:
    row = comp("R99", "测试小区", 800, IN_BLOCK)
    row.update(fields)
    return row


def raw_file(name: str, data: bytes | str, kind: str = "facilities", rows: int = 0, *args: str) -> Callable[[World], Setup]:
    def build(w: World) -> Setup:
        p = w.path(name)
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        return w.check(p, kind, rows, "--crs", "WGS84", *args)

    return build


def csv_text(rows: list[dict], columns=FAC_COLUMNS) -> str:
    lines = [",".join(columns)] + [",".join("" if r.get(c) is None else str(r.get(c)) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def xlsx_bytes(tmp: Path, sheets, above=()) -> bytes:
    p = write_xlsx(tmp / "_tmp.xlsx", sheets, above=above)
    data = p.read_bytes()
    p.unlink()
    return data


def check_xlsx(sheets: dict, rows: int, *args: str, above=(), name: str = "facilities.xlsx") -> Callable[[World], Setup]:
    def build(w: World) -> Setup:
        p = write_xlsx(w.path(name), sheets, above=above)
        return w.check(p, "facilities", rows, "--crs", "WGS84", *args)

    return build


def merged_header_xlsx(w: World) -> Setup:
    """Two-row header as bureaus make them: 坐标 merged over 经度/纬度, the other titles merged down over two rows."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "设施"
    ws.append(["设施编号", "名称", "类别", "床位", "托位", "坐标", None])
    ws.append([None, None, None, None, None, "经度", "纬度"])
    for col in "ABCDE":
        ws.merge_cells(f"{col}1:{col}2")
    ws.merge_cells("F1:G1")
    rows = base_facilities()
    for r in rows:
        ws.append([r[c] for c in FAC_COLUMNS])
    p = w.path("facilities.xlsx")
    wb.save(p)
    return w.check(p, "facilities", len(rows), "--crs", "WGS84")


def value_of(column: str, fid: str, expected: float | None) -> Callable[[Outcome], None]:
    """check-layer: the kept row ``fid`` has ``column`` == expected (None: blank, or the column left out as empty)."""

    def check(o: Outcome) -> None:
        kept = o.kept().set_index("id")
        assert fid in kept.index, f"{fid} not kept: {list(kept.index)}"
        if expected is None:
            assert column not in kept.columns or pd.isna(kept.loc[fid, column])
        else:
            assert float(kept.loc[fid, column]) == pytest.approx(expected)

    return check


def category_of(fid: str, allowed: set[str]) -> Callable[[Outcome], None]:
    def check(o: Outcome) -> None:
        kept = o.kept().set_index("id")
        assert fid in kept.index, f"{fid} not kept; rejected: {o.rejected()[['id', 'reason_code', 'reason']].to_dict('records')}"
        assert kept.loc[fid, "category"] in allowed, kept.loc[fid, "category"]

    return check


def rejected_row(fid: str, row: int) -> Callable[[Outcome], None]:
    """rejected.csv gives ``fid`` the row number a person sees (a text editor's line; Excel's row)."""

    def check(o: Outcome) -> None:
        rej = o.rejected().set_index("id")
        assert str(rej.loc[fid, "row"]) == str(row), rej[["row", "reason_code"]].to_dict("index")

    return check


def kept_ids(*ids: str) -> Callable[[Outcome], None]:
    def check(o: Outcome) -> None:
        assert set(ids) <= set(o.kept()["id"]), list(o.kept()["id"])

    return check


def summary_has(*words: str) -> Callable[[Outcome], None]:
    def check(o: Outcome) -> None:
        text = json.dumps(o.summary(), ensure_ascii=False)
        assert not has_all(text, words), f"summary.json lacks {has_all(text, words)}"

    return check


def read_or_refused(words: tuple[str, ...], kept: int = 6) -> Callable[[Outcome], None]:
    """Either read whole (every row kept: the coordinates were found) or refused with a message of ``words``."""

    def check(o: Outcome) -> None:
        if o.code == 0:
            assert o.n_kept() == kept, o.reason_counts()
        else:
            assert not has_all(o.text, words), f"missing {has_all(o.text, words)} in {o.text}"

    return check


def all_of(*checks: Callable[[Outcome], None]) -> Callable[[Outcome], None]:
    def check(o: Outcome) -> None:
        for c in checks:
            c(o)

    return check


# ---- zones ---------------------------------------------------------------------------------------------------------------


def zones_points(w: World) -> Setup:
    pts = [("Z1", "西街道", shapely.Point(block(1, 3))), ("Z2", "东街道", shapely.Point(block(4, 3)))]
    return w.scenario(zones=pts)


def zones_overlapping(w: World) -> Setup:
    (i1, n1, g1), (i2, n2, g2) = zone_polygons()
    return w.scenario(zones=[(i1, n1, g1.buffer(STEP * 0.8, join_style="mitre")), (i2, n2, g2)])


def every_compound_in_one_zone(o: Outcome) -> None:
    compounds = pd.read_csv(o.setup.out / "compounds.csv", dtype={"zone_id": str})
    assert compounds["zone_id"].isin(["Z1", "Z2"]).all(), compounds["zone_id"].value_counts().to_dict()
    zones = pd.read_csv(o.setup.out / "subdistricts.csv", dtype={"subdistrict": str})
    body = zones[zones.iloc[:, 0].astype(str).isin(["Z1", "Z2"])]
    assert body["compounds"].sum() == 12 and body["population"].notna().all()


def zones_bowtie(w: World) -> Setup:
    (i1, n1, g1), z2 = zone_polygons()
    x0, y0, x1, y1 = g1.bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # self-crossing: two triangles meeting in the middle
    return w.scenario(zones=[(i1, n1, bowtie), z2])


def zones_west_only(w: World) -> Setup:
    return w.scenario(zones=[zone_polygons()[0]])


def outside_zones_counted(o: Outcome) -> None:
    assert o.summary()["compounds"]["outside_zones"] == 6


def zones_no_name(w: World) -> Setup:
    (i1, n1, g1), (i2, _, g2) = zone_polygons()
    return w.scenario(zones=[(i1, n1, g1), (i2, None, g2)])


def zone_named_by_id(o: Outcome) -> None:
    zones = pd.read_csv(o.setup.out / "subdistricts.csv", dtype=str)
    assert "Z2" in set(zones["name"]), zones["name"].tolist()


# ---- scenarios and output folders ------------------------------------------------------------------------------------------


def scenario_with(**kw) -> Callable[[World], Setup]:
    return lambda w: w.scenario(**kw)


def scenario_text(mutate: Callable[[str], str], encoding: str = "utf-8") -> Callable[[World], Setup]:
    def build(w: World) -> Setup:
        s = w.scenario()
        toml = Path(s.argv[1])
        toml.write_bytes(mutate(toml.read_text(encoding="utf-8")).encode(encoding))
        return s

    return build


def missing_scenario(w: World) -> Setup:
    s = w.scenario()
    s.argv[1] = str(w.path("没有这个情景.toml"))
    return s


def out_is_layers_folder(w: World) -> Setup:
    return w.scenario(out=w.root / "data")


def out_is_a_file(w: World) -> Setup:
    f = w.root / "结果.txt"
    f.write_text("上次的结论", encoding="utf-8")
    s = w.scenario(out=f)
    s.inputs.append(f)
    return s


def out_read_only(w: World) -> Setup:
    # a folder nobody (not even root) can create: under /proc
    return w.scenario(out=Path("/proc/planner-catalogue-out"))


def out_foreign(force: bool) -> Callable[[World], Setup]:
    def build(w: World) -> Setup:
        out = w.root / "out"
        out.mkdir()
        (out / "会议纪要.docx").write_bytes(b"minutes")
        s = w.scenario(out=out, flags=("-q", "--force") if force else ("-q",))
        if not force:
            s.inputs.append(out / "会议纪要.docx")
        return s

    return build


def out_too_long(w: World) -> Setup:
    return w.scenario(out=w.root / ("输出" * 50))  # 300 bytes of UTF-8 in one folder name


def failed_run_keeps_previous(w: World) -> Setup:
    s = w.scenario()
    assert main(s.argv) == 0
    # the next run has no walkable street: it must fail and leave the earlier outputs as they were
    previous = s.out
    snapshot = w.root / "previous"
    shutil.copytree(previous, snapshot)
    s2 = w.scenario(network='exclude_highway = ["residential"]')  # no walkable street left
    s2.inputs += [p for p in previous.iterdir()]
    return s2


def previous_intact(o: Outcome) -> None:
    a = digests([o.setup.out])
    b = digests([o.setup.out.parent / "previous"])
    assert sorted(Path(k).name for k in a) == sorted(Path(k).name for k in b)
    assert sorted(a.values()) == sorted(b.values())


# ---- the walk network -----------------------------------------------------------------------------------------------------


def isolated_footway(w: World) -> Setup:
    """A compound 15 m from a 9 m footway that touches nothing, and 120 m from the grid's nearest street."""
    x, y = LON0 + (N - 1) * STEP + 0.00127, LAT0 + 2.5 * STEP  # 120 m east of the last vertical street
    stub = shapely.LineString([(x + 0.00015, y - 0.00004), (x + 0.00015, y + 0.00004)])  # ~9 m long, ~14 m east
    compounds = base_compounds() + [comp("R13", "孤岛小区", 900, (round(x, 7), round(y, 7)), age_60=100, age_0_3=10)]
    return w.scenario(compounds=compounds, roads_extra=[(stub, {"highway": "footway"})])


def isolated_compound_reaches(o: Outcome) -> None:
    compounds = pd.read_csv(o.setup.out / "compounds.csv", dtype={"id": str}).set_index("id")
    row = compounds.loc["R13"]
    dist = [c for c in compounds.columns if c.startswith("dist_m__")]
    reached = any(math.isfinite(float(row[c])) for c in dist if pd.notna(row[c]))
    # on the grid (it is 120 m away) and reaching facilities, or reported unreachable for that reason
    assert reached or not bool(row["reachable"])
    text = json.dumps(o.summary(), ensure_ascii=False)
    assert not has_all(text, ("isolated_network|孤立|piece",))


def uv_tunnel(w: World) -> Setup:
    """Streets with osmnx's u/v node ids, plus a tunnel whose middle vertex lies exactly on a street crossing (no
    junction there: its ids differ). Joined by ids the tunnel is a network of its own (2 pieces); by coordinates, 1."""
    node = {(i, j): 1 + i * N + j for i in range(N) for j in range(N)}
    xy = {(i, j): (LON0 + i * STEP, LAT0 + j * STEP) for i in range(N) for j in range(N)}
    rows = []
    for i in range(N):
        for j in range(N):
            for di, dj in ((1, 0), (0, 1)):
                a, b = (i, j), (i + di, j + dj)
                if b in node:
                    rows.append({"u": node[a], "v": node[b], "highway": "residential", "name": "", "geometry": shapely.LineString([xy[a], xy[b]])})
    cx, cy = xy[(3, 3)]
    tunnel = shapely.LineString([(cx - 0.0021, cy - 0.0013), (cx, cy), (cx + 0.0021, cy + 0.0013)])
    rows.append({"u": 9001, "v": 9002, "highway": "primary", "name": "隧道", "geometry": tunnel})
    import geopandas as gpd

    roads = w.path("roads_uv.gpkg")
    gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326").to_file(roads, driver="GPKG", engine="pyogrio")
    s = w.scenario()
    toml = Path(s.argv[1])
    toml.write_text(toml.read_text(encoding="utf-8").replace('path = "roads.gpkg"', 'path = "roads_uv.gpkg"'), encoding="utf-8")
    s.inputs.append(roads)
    return s


def two_pieces(o: Outcome) -> None:
    assert o.summary()["network"]["components"] == 2


def unwalkable_network(w: World) -> Setup:
    return w.scenario(network='exclude_highway = ["residential"]')


# ---- layers as a whole ------------------------------------------------------------------------------------------------------


def more_than_half_lost(w: World) -> Setup:
    rows = base_facilities() + [fac(f"F{k}", f"棋牌室{k}", "棋牌室", ON_GRID) for k in range(10, 17)]  # 7 of 13 unknown
    return w.scenario(facilities=rows)


def warned_more_than_half(o: Outcome) -> None:
    warnings = json.dumps(o.summary()["warnings"], ensure_ascii=False)
    assert not has_all(warnings, ("超过一半", "more than half")), warnings


def outside_study_area(w: World) -> Setup:
    return w.scenario(facilities=facs_plus(fac("F9", "远方便利店", "便利店", (121.5, 31.2))))


def outside_study_row(o: Outcome) -> None:
    rej = pd.read_csv(o.setup.out / "rejected.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    row = rej[rej["reason_code"] == "outside_study_area"].iloc[0]
    assert row["row"] == "8"  # header on line 1, F9 is the 7th data row: line 8
    attrs = json.loads(row["attributes"])
    assert attrs.get("经度") in ("121.5", 121.5) and attrs.get("类别") == "便利店"  # as written, not normalised
    assert row["reason"].count("在研究范围之外") == 1


# ---- the table ----------------------------------------------------------------------------------------------------------------

PART3 = "#13 (3): whole-layer checks, implausible values and numbers with units"
PART4 = "#13 (4): Excel sheets, multi-row headers and user-visible row numbers"
PART5 = "#13 (5): zones (overlaps, repairs, compounds outside every 街道)"
PART8 = "#13 (8): walk network pieces and node ids"
PART9 = "#13 (9): points outside China declared GCJ-02/BD-09"
PART10 = "#13 (10): provincial facility names and categories by name"
BUG_ENCODING = "#13 (2): the 'cannot detect the text encoding' message named no file; an xlsx named .csv is said to be one"
BUG_CRS = "#13 (2): an unknown crs string on a table layer was an internal error (CRSError); now checked before reading"
BUG_LONG = "#13 (1): an output path over 255 bytes was an internal error (OSError ENAMETOOLONG)"
PART1 = "#13 (1): check-layer's output folder overwrote its input"

GBK_ROWS = facs_plus()
PROJECTED = [fac(f"P{k}", f"设施{k}", "便利店", (40_500_000 + 300 * k, 3_540_000 + 200 * k)) for k in range(6)]
SWAPPED_ALL = [dict(r, 经度=r["纬度"], 纬度=r["经度"]) for r in base_facilities()]

CASES: list[Case] = [
    # --- files ---
    Case("file_missing", "files", lambda w: w.check(w.path("没有这个文件.csv"), "facilities", 0, "--crs", "WGS84"), 2,
         ("找不到文件", "file not found", "没有这个文件.csv")),
    Case("file_zero_byte", "files", raw_file("facilities.csv", b""), 2, ("facilities.csv", "无法解析|为空|空", "cannot parse|empty")),
    Case("file_header_only", "files", raw_file("facilities.csv", ",".join(FAC_COLUMNS) + "\n"), 2,
         ("图层为空|为空", "empty", "facilities.csv")),
    Case("file_blank_lines_only", "files", raw_file("facilities.csv", ",".join(FAC_COLUMNS) + "\n\n\n\n"), 2, ("为空", "empty")),
    Case("file_wrong_suffix_docx", "files", raw_file("设施.docx", b"PK\x03\x04 not a table"), 2,
         ("不支持的文件类型", "unsupported file type", "设施.docx")),
    Case("file_old_excel_xls", "files", raw_file("设施.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504), 2,
         ("不支持|无法读取", "unsupported|cannot read", "设施.xls")),
    Case("file_corrupt_xlsx", "files", raw_file("facilities.xlsx", b"PK\x03\x04" + b"\x00garbage" * 40), 2,
         ("无法读取 Excel", "cannot read", "facilities.xlsx")),
    Case("file_csv_that_is_xlsx", "files",
         lambda w: raw_file("facilities.csv", xlsx_bytes(w.root, {"设施": (FAC_COLUMNS, base_facilities())}), "facilities", 6)(w), 2,
         ("facilities.csv", "坐标|编码|无法", "coordinate|encoding|cannot"), part=BUG_ENCODING),
    Case("file_corrupt_geojson", "files", raw_file("facilities.geojson", '{"type": "FeatureCollection", "features": [ {'), 2,
         ("无法读取", "cannot read", "facilities.geojson")),
    Case("file_gbk_without_declaration", "files", lambda w: w.check_facilities(GBK_ROWS, encoding="gbk"), 0, kept=6,
         check=category_of("F1", {"elderly_centre"})),
    Case("file_gb18030_rare_characters", "files",
         lambda w: w.check_facilities(facs_plus(fac("F7", "䶮堃便利店", "便利店", ON_GRID)), encoding="gb18030"), 0, kept=7,
         check=lambda o: o.kept().set_index("id").loc["F7", "name"] == "䶮堃便利店"),
    Case("file_utf16", "files", lambda w: w.check_facilities(GBK_ROWS, encoding="utf-16"), 0, kept=6, check=kept_ids("F1", "F6")),
    Case("file_utf8_bom", "files", lambda w: w.check_facilities(GBK_ROWS, encoding="utf-8-sig"), 0, kept=6, check=kept_ids("F1", "F6")),
    Case("file_gbk_declared_utf8", "files", lambda w: w.check_facilities(GBK_ROWS, "--encoding", "utf-8", encoding="gbk"), 2,
         ("无法用 utf-8 解码", "cannot decode", "encoding", "facilities.csv")),
    Case("file_tab_separated_txt", "files",
         raw_file("facilities.txt", csv_text(base_facilities()).replace(",", "\t"), "facilities", 6), 0, kept=6),
    Case("file_crlf_and_trailing_blank_lines", "files",
         raw_file("facilities.csv", csv_text(base_facilities()).replace("\n", "\r\n") + "\r\n\r\n", "facilities", 6), 0, kept=6),
    Case("file_xlsx_header_only", "files", check_xlsx({"设施": (FAC_COLUMNS, [])}, 0), 2, ("为空", "empty", "facilities.xlsx")),
    # --- columns ---
    Case("columns_no_coordinates", "columns",
         lambda w: w.check_facilities(base_facilities(), columns=FAC_COLUMNS[:5]), 2,
         ("没有坐标列", "no coordinate columns", "facilities.csv", "设施编号")),
    Case("columns_mapped_column_absent", "columns",
         lambda w: w.check_facilities(base_facilities(), "--column", "category=设施类型"), 2,
         ("没有列 '设施类型'", "is not in", "facilities.csv", "类别")),
    Case("columns_mapped_lon_absent", "columns",
         lambda w: w.check_facilities(base_facilities(), "--column", "lon=X坐标", "--column", "lat=Y坐标"), 2,
         ("X坐标", "is not in", "facilities.csv")),
    Case("columns_no_category", "columns",
         lambda w: w.check_facilities(base_facilities(), columns=[c for c in FAC_COLUMNS if c != "类别"]), 2,
         ("缺少设施类别列", "no category column", "facilities.csv")),
    Case("columns_no_population", "columns",
         lambda w: w.check_compounds(base_compounds(), columns=["小区编号", "小区名称", "经度", "纬度"]), 2,
         ("既没有人口列也没有户数列", "neither a population nor a households column", "compounds.csv")),
    Case("columns_duplicate_headers", "columns",
         raw_file("facilities.csv", csv_text(base_facilities(), FAC_COLUMNS + ["名称"]), "facilities", 6), 0, kept=6,
         check=lambda o: o.kept().set_index("id").loc["F1", "name"] == "城南综合养老服务中心"),
    Case("columns_chinese_aliases", "columns",
         raw_file("facilities.csv", csv_text(base_facilities()).replace("设施编号,名称,类别,床位,托位,经度,纬度",
                                                                        "机构编号,机构名称,设施类别,床位数,托位数,东经,北纬"), "facilities", 6),
         0, kept=6, check=value_of("beds", "F1", 60)),
    Case("columns_english_headers_mixed_case", "columns",
         raw_file("facilities.csv", csv_text(base_facilities()).replace("设施编号,名称,类别,床位,托位,经度,纬度",
                                                                        " ID ,Name,Category,Beds,Places, LNG ,Lat"), "facilities", 6),
         0, kept=6, check=value_of("places", "F3", 40)),
    Case("columns_combined_location_fullwidth_comma", "columns",
         raw_file("facilities.csv", "编号,名称,类别,坐标\n" + "".join(
             f'{r["设施编号"]},{r["名称"]},{r["类别"]},"{r["经度"]}，{r["纬度"]}"\n' for r in base_facilities()), "facilities", 6),
         0, kept=6),
    Case("columns_wkt_one_unreadable", "columns",
         raw_file("facilities.csv", "编号,名称,类别,wkt\n" + "".join(
             f'{r["设施编号"]},{r["名称"]},{r["类别"]},POINT ({r["经度"]} {r["纬度"]})\n' for r in base_facilities())
             + "F7,坏几何,便利店,POINT (120.87\n", "facilities", 7), 0, reasons={"invalid_coordinates": 1}, kept=6),
    Case("columns_title_row_above_header", "columns",
         check_xlsx({"设施": (FAC_COLUMNS, base_facilities())}, 6, above=[["某某街道养老托育设施统计表（2024年）"]]), (0, 2),
         check=read_or_refused(("facilities.xlsx", "表头|标题|坐标列", "header|title|coordinate"))),
    Case("columns_two_row_merged_header", "columns", merged_header_xlsx, (0, 2), part=PART4,
         check=read_or_refused(("facilities.xlsx", "表头", "header"))),
    Case("columns_several_sheets_same_columns", "columns",
         check_xlsx({"一季度": (FAC_COLUMNS, base_facilities()[:3]), "二季度": (FAC_COLUMNS, base_facilities()[3:])}, 6), 0,
         kept=6, part=PART4),
    Case("columns_several_sheets_different_columns", "columns",
         check_xlsx({"设施": (FAC_COLUMNS, base_facilities()), "说明": (["备注"], [{"备注": "数据来源：民政局"}])}, 6), 2,
         ("设施", "说明", "layer"), part=PART4),
    Case("columns_sheet_named", "columns",
         check_xlsx({"封面": (["备注"], [{"备注": "封面"}]), "设施": (FAC_COLUMNS, base_facilities())}, 6, "--layer", "设施"), 0, kept=6),
    Case("columns_sheet_absent", "columns",
         check_xlsx({"设施": (FAC_COLUMNS, base_facilities())}, 6, "--layer", "Sheet9"), 2,
         ("没有工作表", "no sheet", "Sheet9", "facilities.xlsx")),
    # --- coordinates ---
    Case("coords_blank", "coordinates", lambda w: w.check_facilities(facs_plus(bad_fac(经度=None, 纬度=None))), 0,
         reasons={"missing_coordinates": 1}, kept=6),
    Case("coords_zero_zero", "coordinates", lambda w: w.check_facilities(facs_plus(bad_fac(经度=0, 纬度=0))), 0,
         reasons={"missing_coordinates": 1}, kept=6),
    Case("coords_swapped_one_row", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度=ON_GRID[1], 纬度=ON_GRID[0]))), 0, reasons={"swapped_coordinates": 1}, kept=6),
    Case("coords_out_of_range", "coordinates", lambda w: w.check_facilities(facs_plus(bad_fac(经度=200.5, 纬度=32.0))), 0,
         reasons={"out_of_range": 1}, kept=6),
    Case("coords_text", "coordinates", lambda w: w.check_facilities(facs_plus(bad_fac(经度="不详", 纬度="不详"))), 0,
         reasons={"invalid_coordinates": 1}, kept=6, check=lambda o: "不详" in o.rejected()["reason"].iloc[0]),
    Case("coords_fullwidth_digits", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度="１２０．８６７", 纬度="３２．００７"))), 0,
         reasons={"invalid_coordinates": 1}, kept=6),
    Case("coords_degrees_minutes_seconds", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度="120°52′1″", 纬度="32°0′25″"))), 0,
         reasons={"invalid_coordinates": 1}, kept=6, check=lambda o: "120°52′1″" in o.rejected()["attributes"].iloc[0]),
    Case("coords_projected_declared_wgs84_one_row", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度=40_500_123, 纬度=3_541_456))), 0, reasons={"out_of_range": 1}, kept=6),
    Case("coords_undeclared_crs", "coordinates", lambda w: w.check_facilities(base_facilities(), crs=None), 2,
         ("没有声明坐标系", "no declared system", "facilities.csv", "经度")),
    Case("coords_crs_unknown_string", "coordinates", lambda w: w.check_facilities(base_facilities(), crs="高德坐标系"), 2,
         ("高德坐标系", "无法识别", "not a coordinate system"), part=BUG_CRS),
    Case("coords_gcj02_in_china", "coordinates", lambda w: w.check_facilities(base_facilities(), crs="GCJ02"), 0, ("GCJ02",),
         kept=6),
    Case("coords_bd09_by_column_name", "coordinates",
         lambda w: _bd09_columns(w), 0, ("BD09",), kept=6),
    Case("coords_outside_china_declared_gcj02", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度=2.3522, 纬度=48.8566)), crs="GCJ02"), 0, reasons={"outside_china": 1},
         kept=6, part=PART9),
    Case("coords_outside_china_declared_bd09", "coordinates",
         lambda w: w.check_facilities(facs_plus(bad_fac(经度=151.2093, 纬度=-33.8688)), crs="BD09"), 0, reasons={"outside_china": 1},
         kept=6, part=PART9),
    Case("coords_far_outside_study_area", "coordinates", outside_study_area, 0, reasons={"outside_study_area": 1}),
    Case("coords_outside_study_area_row_as_written", "coordinates", outside_study_area, 0, reasons={"outside_study_area": 1},
         check=outside_study_row, part=PART4),
    # --- values ---
    Case("values_negative_beds", "values", lambda w: w.check_facilities(facs_plus(bad_fac(床位=-5))), 0,
         reasons={"negative_value": 1}, kept=6),
    Case("values_negative_population", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口=-300))), 0,
         reasons={"negative_value": 1}, kept=12),
    Case("values_inf_population", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="inf"))), 0,
         reasons={"implausible_value": 1}, kept=12, part=PART3),
    Case("values_population_1e15", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="1e15"))), 0,
         reasons={"implausible_value": 1}, kept=12, part=PART3),
    Case("values_population_over_100000", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口=250_000))), 0,
         reasons={"implausible_value": 1}, kept=12, part=PART3),
    Case("values_age_60_over_population", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口=800, **{"60岁及以上": 1500}))),
         0, reasons={"implausible_value": 1}, kept=12, part=PART3),
    Case("values_beds_with_unit", "values", lambda w: w.check_facilities(facs_plus(bad_fac(类别="综合性养老服务中心", 床位="50张"))), 0,
         kept=7, check=value_of("beds", "F9", 50), part=PART3),
    Case("values_population_with_unit", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="300人"))), 0,
         kept=13, check=value_of("population", "R99", 300), part=PART3),
    Case("values_population_approximately", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="约1200"))), 0,
         kept=13, check=value_of("population", "R99", 1200), part=PART3),
    Case("values_population_thousands_separator", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="1,200"))), 0,
         kept=13, check=value_of("population", "R99", 1200)),
    Case("values_population_wan", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口="3.5万"))), 0,
         kept=13, check=value_of("population", "R99", 35000), part=PART3),
    Case("values_beds_in_people", "values", lambda w: w.check_facilities(facs_plus(bad_fac(类别="养老院", 床位="50人"))), 0,
         reasons={"unit_mismatch": 1}, kept=6, part=PART3),
    Case("values_beds_ruogan", "values", lambda w: w.check_facilities(facs_plus(bad_fac(类别="养老院", 床位="若干"))), 0,
         reasons={"non_numeric": 1}, kept=6, check=lambda o: "若干" in o.rejected()["reason"].iloc[0]),
    Case("values_population_inf_text_in_run", "values",
         scenario_with(compounds=comps_plus(bad_comp(人口="inf"))), 0, reasons={"implausible_value": 1}, part=PART3),
    Case("values_no_population_no_households", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口=None, 户数=None))), 0,
         reasons={"no_population": 1}, kept=12),
    Case("values_households_only", "values", lambda w: w.check_compounds(comps_plus(bad_comp(人口=None, 户数=100))), 0,
         kept=13, check=value_of("population", "R99", 260)),
    Case("values_duplicate_id", "values", lambda w: w.check_facilities(facs_plus(bad_fac(设施编号="F1"))), 0,
         reasons={"duplicate_id": 1}, kept=6, check=value_of("beds", "F1", 60)),
    Case("values_duplicate_of_rejected_row", "values",
         lambda w: w.check_facilities(facs_plus(bad_fac(设施编号="F9", 经度=None, 纬度=None), bad_fac(设施编号="F9"))), 0,
         reasons={"missing_coordinates": 1}, kept=7, check=kept_ids("F9"), part="#13 (6): the duplicate of a rejected row is kept"),
    Case("values_rejected_row_is_the_line_number", "values",
         lambda w: w.check_facilities([*base_facilities()[:2], bad_fac(床位="若干"), *base_facilities()[2:]]), 0,
         reasons={"non_numeric": 1}, kept=6, check=rejected_row("F9", 4), part=PART4),
    Case("values_rejected_row_is_the_excel_row", "values",
         check_xlsx({"设施": (FAC_COLUMNS, [bad_fac(床位="若干"), *base_facilities()])}, 7), 0,
         reasons={"non_numeric": 1}, kept=6, check=rejected_row("F9", 2), part=PART4),
    Case("values_beds_placeholder_slash", "values",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="综合性养老服务中心", 床位="/"))), 0,
         kept=7, check=value_of("beds", "F9", None), part="#13 (3): placeholders (/, —, 无, N/A) read as blank, not a rejected row"),
    Case("values_places_placeholder_wu", "values",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="托育机构", 托位="无"))), 0,
         kept=7, check=value_of("places", "F9", None), part="#13 (3): placeholders (/, —, 无, N/A) read as blank, not a rejected row"),
    Case("values_beds_nbsp_unit", "values",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="养老院", 床位="60\u00a0张"))), 0,
         kept=7, check=value_of("beds", "F9", 60), part=PART3),
    Case("values_unknown_built_type", "values",
         lambda w: w.check_compounds(comps_plus(dict(bad_comp(), 建成类型="老小区")), columns=COMP_COLUMNS + ["建成类型"]), 0,
         reasons={"unknown_built_type": 1}, kept=12),
    # --- labels ---
    Case("labels_blank_category", "labels", lambda w: w.check_facilities(facs_plus(bad_fac(类别=None, 名称="某某公司"))), 0,
         reasons={"missing_category": 1}, kept=6),
    Case("labels_unknown_category", "labels", lambda w: w.check_facilities(facs_plus(bad_fac(类别="棋牌室", 名称="老年棋牌室"))), 0,
         reasons={"unknown_category": 1}, kept=6, check=lambda o: "棋牌室" in o.rejected()["reason"].iloc[0]),
    Case("labels_blank_category_unambiguous_name", "labels",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别=None, 名称="XX社区养老服务驿站"))), 0, kept=7,
         check=category_of("F9", {"elderly_station"}), part=PART10),
    Case("labels_yanglao_zhaoliao_zhongxin", "labels",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="养老照料中心", 名称="某街道养老照料中心"))), 0, kept=7,
         check=category_of("F9", {"elderly_centre", "elderly_station"}), part=PART10),
    Case("labels_shequ_yanglao_yizhan", "labels",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="社区养老服务驿站", 名称="某驿站"))), 0, kept=7,
         check=category_of("F9", {"elderly_station"}), part=PART10),
    Case("labels_zhangzhe_shitang", "labels",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="长者食堂", 名称="某长者食堂"))), 0, kept=7,
         check=category_of("F9", {"meal_point"})),
    Case("labels_zhucan_dian", "labels", lambda w: w.check_facilities(facs_plus(bad_fac(类别="助餐点", 名称="某助餐点"))), 0, kept=7,
         check=category_of("F9", {"meal_point"})),
    Case("labels_qianrushi_tuoyu", "labels",
         lambda w: w.check_facilities(facs_plus(bad_fac(类别="嵌入式托育", 名称="某小区托育点"))), 0, kept=7,
         check=category_of("F9", {"childcare"})),
    # --- layers as a whole (run) ---
    Case("layers_every_category_unknown", "layers",
         # generic names too: a name that says what the place is would categorise the row by its name
         scenario_with(facilities=[dict(r, 类别="棋牌室", 名称=f"活动室{i}") for i, r in enumerate(base_facilities())]), 2,
         ("没有", "no row", "unknown_category", "facilities.csv"), part=PART3),
    Case("layers_projected_xy_declared_wgs84", "layers", scenario_with(facilities=PROJECTED), 2,
         ("没有", "no row", "out_of_range", "facilities.csv"), part=PART3),
    Case("layers_every_row_swapped", "layers", scenario_with(facilities=SWAPPED_ALL), 2,
         ("没有", "no row", "swapped_coordinates"), part=PART3),
    Case("layers_every_compound_rejected", "layers",
         scenario_with(compounds=[dict(r, 人口=None, 户数=None) for r in base_compounds()]), 2,
         ("没有", "no row", "no_population", "compounds.csv"), part=PART3),
    Case("layers_more_than_half_rejected", "layers", more_than_half_lost, 0, ("超过一半", "more than half"),
         reasons={"unknown_category": 7}, check=warned_more_than_half, part=PART3),
    Case("layers_one_bad_row_runs", "layers", scenario_with(facilities=facs_plus(bad_fac(床位="若干"))), 0,
         reasons={"non_numeric": 1}),
    # --- zones ---
    Case("zones_points", "zones", zones_points, 2, ("Polygon|面", "subdistricts.geojson"), part=PART5),
    Case("zones_overlapping", "zones", zones_overlapping, 0, check=all_of(summary_has("overlap|重叠"), every_compound_in_one_zone),
         part=PART5),
    Case("zones_bowtie", "zones", zones_bowtie, 0, ("修复|repair",), check=summary_has("修复|repair"), part=PART5),
    Case("zones_compounds_outside_counted", "zones", zones_west_only, 0, check=outside_zones_counted),
    Case("zones_compounds_outside_warned", "zones", zones_west_only, 0, ("未划入街道|outside every", ),
         check=all_of(outside_zones_counted, summary_has("未划入街道|outside")), part=PART5),
    Case("zones_no_name", "zones", zones_no_name, 0, check=zone_named_by_id),
    Case("zones_duplicate_id", "zones", lambda w: w.scenario(zones=[(z[0] if k == 0 else "Z1", z[1], z[2]) for k, z in
                                                                     enumerate(zone_polygons())]), 0, reasons={"duplicate_id": 1}),
    # --- scenario ---
    Case("scenario_unknown_key", "scenario", scenario_with(top="colour = \"red\""), 2, ("未知字段 'colour'", "unknown field", "scenario.toml")),
    Case("scenario_walking_speed_zero", "scenario", scenario_with(top="walking_speed_m_per_min = 0"), 2,
         ("walking_speed_m_per_min", "必须是", "must be")),
    Case("scenario_walking_speed_text", "scenario", scenario_with(top='walking_speed_m_per_min = "fast"'), 2,
         ("walking_speed_m_per_min", "'fast'")),
    Case("scenario_threshold_zero", "scenario", scenario_text(lambda t: t.replace("thresholds_min = [5, 10, 15]", "thresholds_min = [0, 15]")), 2,
         ("thresholds_min", "必须", "must be")),
    Case("scenario_missing_layer_file", "scenario",
         scenario_text(lambda t: t.replace('path = "facilities.csv"', 'path = "设施（最终版）.csv"')), 2,
         ("文件不存在", "file not found", "设施（最终版）.csv", "[layers.facilities]")),
    Case("scenario_bad_crs_string", "scenario", scenario_text(lambda t: t.replace('crs = "WGS84"', 'crs = "高德坐标系"', 1)), 2,
         ("高德坐标系", "无法识别", "not a coordinate system"), part=BUG_CRS),
    Case("scenario_bad_walk_filter", "scenario", scenario_with(network='walk_filter = "everything"'), 2, ("walk_filter",)),
    Case("scenario_search_limit_below_threshold", "scenario", scenario_with(top="search_limit_m = 100"), 2,
         ("search_limit_m", "longest threshold"), part="#13 (2): a search limit shorter than the longest threshold cut coverage silently"),
    Case("scenario_sample_data_quoted_false", "scenario", scenario_with(top='sample_data = "false"'), 2,
         ("sample_data", "true or false"), part="#13 (2): quoted \"false\" read as true"),
    Case("scenario_web_mercator", "scenario", scenario_with(top='crs = "EPSG:3857"'), 2,
         ("Web Mercator",), part="#13 (2): Web Mercator stretched every distance by ~18 %"),
    Case("scenario_scenario_with_bom", "scenario", scenario_text(lambda t: "\ufeff" + t), 0,
         part="#13 (2): a scenario saved with a BOM was refused as not UTF-8"),
    Case("scenario_not_toml", "scenario", scenario_text(lambda t: t + "\n[layers.facilities\n"), 2, ("TOML", "scenario.toml")),
    Case("scenario_gbk_encoded", "scenario", scenario_text(lambda t: t, encoding="gbk"), 2, ("UTF-8", "scenario.toml")),
    Case("scenario_missing", "scenario", missing_scenario, 2, ("找不到情景文件", "scenario file not found", "没有这个情景.toml")),
    Case("scenario_unknown_layer_key", "scenario", scenario_with(fac_extra='coordinate_system = "GCJ02"'), 2,
         ("coordinate_system", "unknown field", "[layers.facilities]")),
    Case("scenario_unknown_category_mapping", "scenario",
         scenario_with(fac_extra='[layers.facilities.categories]\n"棋牌室" = "chess_room"'), 2, ("chess_room", "unknown category")),
    # --- output folder ---
    Case("output_is_the_layers_folder", "output", out_is_layers_folder, 2, ("含有输入文件", "holds the input")),
    Case("output_is_an_existing_file", "output", out_is_a_file, 2, ("是一个文件", "is a file")),
    Case("output_read_only", "output", out_read_only, 2, ("无法在", "cannot write")),
    Case("output_foreign_folder", "output", out_foreign(False), 2, ("会议纪要.docx", "--force")),
    Case("output_foreign_folder_forced", "output", out_foreign(True), 0),
    Case("output_path_over_255_bytes", "output", out_too_long, 2, ("无法使用输出文件夹|太长", "cannot use the output folder|too long"), part=BUG_LONG),
    Case("output_failed_run_keeps_previous", "output", failed_run_keeps_previous, 2, ("路网|walk", ), check=previous_intact),
    Case("output_check_layer_over_its_input", "output", lambda w: _check_over_input(w), 2, ("layer.gpkg",), part=PART1),
    # --- walk network ---
    Case("network_nothing_walkable", "network", unwalkable_network, 2, ("roads.gpkg",)),
    Case("network_isolated_footway", "network", isolated_footway, 0, check=isolated_compound_reaches, part=PART8),
    Case("network_uv_crossing_without_junction", "network", uv_tunnel, 0, check=two_pieces, part=PART8),
]


def _bd09_columns(w: World) -> Setup:
    rows = [dict(r, 百度经度=r["经度"], 百度纬度=r["纬度"]) for r in base_facilities()]
    path = write_csv(w.path("facilities.csv"), rows, FAC_COLUMNS[:5] + ["百度经度", "百度纬度"])
    return w.check(path, "facilities", len(rows))


def _check_over_input(w: World) -> Setup:
    """check-layer of a GeoPackage called layer.gpkg, --out its own folder: the output must not replace the input."""
    import geopandas as gpd

    rows = base_facilities()
    frame = gpd.GeoDataFrame(pd.DataFrame(rows).drop(columns=["经度", "纬度"]),
                             geometry=[shapely.Point(r["经度"], r["纬度"]) for r in rows], crs="EPSG:4326")
    path = w.path("layer.gpkg")
    frame.to_file(path, driver="GPKG", engine="pyogrio")
    return Setup(["check-layer", str(path), "--kind", "facilities", "--out", str(path.parent)], [path], {"facilities": 6},
                 path.parent, "check-layer", "facilities")


def _param(case: Case):
    return pytest.param(case, id=f"{case.cls}-{case.id}")


def test_catalogue_is_big_enough_and_unique():
    assert len(CASES) >= 70
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys, caplog):
    world = World(tmp_path)
    setup = case.build(world)
    capsys.readouterr()  # what building printed is not the case's output
    before = digests(setup.inputs)
    caplog.clear()
    code = main(setup.argv)
    captured = capsys.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text])
    outcome = Outcome(code, text, setup)

    expected = case.exit if isinstance(case.exit, tuple) else (case.exit,)
    assert code in expected, f"exit {code}, expected {case.exit}:\n{text[-3000:]}"
    assert "Traceback" not in text and "内部错误" not in text and "internal error" not in text, text[-3000:]
    missing = has_all(text, case.words)
    assert not missing, f"missing {missing} in:\n{text[-3000:]}"
    assert digests(setup.inputs) == before, "an input file was changed"

    if code == 0:
        _accounted(outcome, case)
        for code_, n in case.reasons.items():
            counts = outcome.reason_counts()
            assert code_ in counts, f"no {code_} among {counts}"
            if n is not None:
                assert counts[code_] == n, counts
    if case.check is not None:
        assert case.check(outcome) is not False  # a check either asserts or returns whether it holds


def _accounted(o: Outcome, case: Case) -> None:
    """Every input row is kept or rejected, and the rows read are the rows the case wrote."""
    s = o.setup
    if s.command == "check-layer":
        read = o.read_count()
        rejected = len(o.rejected())
        assert read == s.rows[s.kind], f"read {read} rows, the file has {s.rows[s.kind]}"
        assert o.n_kept() + rejected == read, f"kept {o.n_kept()} + rejected {rejected} != read {read}"
        if case.kept is not None:
            assert o.n_kept() == case.kept
        return
    layers = o.summary()["layers"]
    for kind, lyr in layers.items():
        assert lyr["kept"] + lyr["rejected"] == lyr["rows_read"], (kind, lyr)
        assert sum(lyr["rejected_by_reason"].values()) == lyr["rejected"], (kind, lyr)
        if s.rows.get(kind, -1) >= 0:
            assert lyr["rows_read"] == s.rows[kind], (kind, lyr, s.rows[kind])
    rej = pd.read_csv(s.out / "rejected.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert len(rej) == sum(lyr["rejected"] for lyr in layers.values())
