"""Property tests of the table readers (issue #13, deliverable 11): random headers (CJK, blanks, duplicates,
whitespace), encodings, title rows, blank cells and lines, numbers with and without units, written to CSV or XLSX
and read through ``load_facilities``. Whatever is written: no exception but LayerError, every row accounted for
(kept + rejected = rows written), a number read equals the number written, a rejected row's ``row`` is the line
(CSV) or Excel row it was written on."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import CRS

from planner.io.layers import ALIASES, LIMITS, load_facilities
from planner.io.numbers import UNITS, read_numbers
from planner.settings import LayerSpec

WGS84 = CRS.from_epsg(4326)
RESERVED = {a.lower() for aliases in ALIASES.values() for a in aliases} | {
    "lon", "lng", "longitude", "long", "x", "lat", "latitude", "y", "location", "wkt", "geometry", "geom", "shape", "the_geom",
    "经度", "纬度", "坐标", "经纬度", "几何", "东经", "北纬", "lnglat", "lonlat", "位置坐标",
}
FULL = str.maketrans("0123456789,", "０１２３４５６７８９，")


@st.composite
def beds_cell(draw) -> tuple[object, object]:
    """(the cell as written, the number meant — or the reason its row is rejected — or None for a blank)."""
    v = draw(st.integers(0, 99_999))
    kind = draw(st.sampled_from(["int", "text", "unit", "unit_space", "about", "thousands", "full", "wan", "blank", "bad", "wrong_unit"]))
    if kind == "int":
        return v, float(v)
    if kind == "text":
        return str(v), float(v)
    if kind == "unit":
        return f"{v}{draw(st.sampled_from(UNITS['beds']))}", float(v)
    if kind == "unit_space":
        return f"{v} 张", float(v)
    if kind == "about":
        return f"约{v}", float(v)
    if kind == "thousands":
        return f"{v:,}", float(v)
    if kind == "full":
        return f"{v:,}".translate(FULL), float(v)
    if kind == "wan":
        w, d = divmod(v, 10)
        return f"{w}.{d}万", float(w * 10_000 + d * 1_000)
    if kind == "blank":
        return draw(st.sampled_from([None, "", "  "])), None
    if kind == "bad":
        return draw(st.sampled_from(["若干", "待定", f"{v}-{v + 10}", f"{v}张,{v}张"])), "non_numeric"
    return f"{v}{draw(st.sampled_from(['人', '户', '㎡']))}", "unit_mismatch"


extra_names = st.one_of(
    st.none(),
    st.text(alphabet="备注说明其他甲乙丙丁电话地址联系人 abc\u3000", min_size=1, max_size=6).filter(
        lambda s: s.strip().lower() not in RESERVED and not s.strip().startswith("_") and s.strip() != ""
    ),
)


@st.composite
def tables(draw):
    n = draw(st.integers(1, 8))
    rows = []
    for i in range(n):
        cell, meant = draw(beds_cell())
        missing = draw(st.booleans()) and draw(st.booleans())  # a quarter of the rows without coordinates
        rows.append({"id": f"R{i}", "name": draw(st.text(alphabet="阳光福寿康宁养老院中心", min_size=1, max_size=6)),
                     "lon": None if missing else round(120.9 + 0.001 * i, 4), "lat": None if missing else 32.0,
                     "beds": cell, "meant": meant})
    extras = draw(st.lists(extra_names, max_size=3))
    extras += [extras[0]] if extras and extras[0] is not None and draw(st.booleans()) else []  # a duplicate name
    pad = lambda s: draw(st.sampled_from(["", " ", "\u3000"])) + s + draw(st.sampled_from(["", " "]))  # noqa: E731
    columns = [("编号", "id"), (pad("名称"), "name"), ("类别", None), ("经度", "lon"), ("纬度", "lat"), (pad("床位"), "beds")]
    columns += [(e, f"extra{j}") for j, e in enumerate(extras)]
    order = draw(st.permutations(range(len(columns))))
    columns = [columns[j] for j in order]
    blank_after = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    title = draw(st.sampled_from([None, "2024年养老机构名单", "附件1：名单"]))
    extra_values = st.one_of(st.none(), st.text(alphabet="好差无有甲乙12", max_size=4))
    body = []
    for r, blank in zip(rows, blank_after, strict=True):
        cells = []
        for _, key in columns:
            if key is None:
                cells.append("养老院")
            elif key.startswith("extra"):
                cells.append(draw(extra_values))
            else:
                cells.append(r[key])
        body.append((r, cells))
        if blank:
            body.append((None, [None] * len(columns)))
    return title, [name for name, _ in columns], body


def _expected(body, first_row: int):
    """id -> (the row number it is written on, what its 床位 means)."""
    return {r["id"]: (first_row + k, r["meant"], r["lon"] is None) for k, (r, _) in enumerate(body) if r is not None}


def _check(path: Path, expected: dict) -> None:
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs="WGS84"), WGS84)
    assert layer.rows_read == len(expected)
    assert len(layer.data) + len(layer.rejected) == len(expected)
    rejected = layer.rejected.set_index("id")
    limit = LIMITS["facilities"]["beds"]
    for rid, (row, meant, no_coords) in expected.items():
        if isinstance(meant, float) and meant > limit:
            meant = "implausible_value"  # read right, then rejected as more beds than one facility can have
        if rid in rejected.index:
            assert rejected.loc[rid, "row"] == row
            assert no_coords or meant in ("non_numeric", "unit_mismatch", "implausible_value")
            if not no_coords:
                assert rejected.loc[rid, "reason_code"] == meant
        else:
            assert not no_coords and meant not in ("non_numeric", "unit_mismatch", "implausible_value")
            got = layer.data.loc[rid, "beds"]
            assert (np.isnan(got) if meant is None else got == meant), (rid, got, meant)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]), sep_blank=st.booleans())
def test_random_csv_tables(table, encoding: str, sep_blank: bool):
    title, header, body = table
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if title:
        w.writerow([title] + [""] * (len(header) - 1))
    w.writerow(["" if h is None else h for h in header])
    for _, cells in body:
        w.writerow([] if sep_blank and all(c is None for c in cells) else ["" if c is None else c for c in cells])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.csv"
        path.write_bytes(buf.getvalue().encode(encoding))
        _check(path, _expected(body, 3 if title else 2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables())
def test_random_xlsx_tables(table):
    openpyxl = pytest.importorskip("openpyxl")
    title, header, body = table
    wb = openpyxl.Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    ws.append(header)
    for _, cells in body:
        ws.append([None if isinstance(c, str) and not c.strip() else c for c in cells])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "t.xlsx"
        wb.save(path)
        _check(path, _expected(body, 3 if title else 2))


@settings(max_examples=200, deadline=None)
@given(cell=beds_cell())
def test_a_number_read_is_the_number_written(cell):
    written, meant = cell
    got = read_numbers(pd.Series([written], dtype=object), UNITS["beds"])
    if meant is None:
        assert np.isnan(got.values.iloc[0]) and not got.non_numeric[0]
    elif isinstance(meant, float):
        assert got.values.iloc[0] == meant
    else:
        assert (got.non_numeric[0], got.unit_mismatch[0]) == (meant == "non_numeric", meant == "unit_mismatch")
