"""Provincial facility names in the taxonomy, and a blank category read from an unambiguous name (``category_from``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from planner.io.categories import load_taxonomy
from planner.io.layers import load_facilities
from planner.schema import CATEGORY_FROM
from planner.settings import LayerSpec

METRIC = CRS.from_epsg(4549)

# every name added for issue #13, as a user writes it in a 类别 column, and the category it is (meal points their own
# category since issue #17)
NEW_LABELS = [
    ("养老照料中心", "elderly_centre"), ("街道养老照料中心", "elderly_centre"), ("街乡镇养老照料中心", "elderly_centre"),
    ("街道区域养老服务中心", "elderly_centre"), ("区域性养老服务中心", "elderly_centre"), ("社区综合为老服务中心", "elderly_centre"),
    ("综合为老服务中心", "elderly_centre"), ("颐康中心", "elderly_centre"), ("镇街综合养老服务中心", "elderly_centre"),
    ("长者综合服务中心", "elderly_centre"),
    ("长者照护之家", "elderly_home"), ("照护之家", "elderly_home"),
    ("社区养老服务驿站", "elderly_station"), ("养老服务驿站", "elderly_station"), ("养老驿站", "elderly_station"),
    ("日间照护中心", "elderly_station"), ("社区长者食堂", "meal_point"), ("老年助餐点", "meal_point"),
    ("助餐服务点", "meal_point"), ("老年助餐服务点", "meal_point"), ("长者饭堂", "meal_point"),
    ("颐康服务站", "elderly_station"), ("社区居家养老服务站", "elderly_station"), ("社区居家养老服务中心", "elderly_station"),
    ("居家养老服务中心", "elderly_station"),
    ("托育园", "childcare"), ("普惠托育园", "childcare"), ("托育综合服务中心", "childcare"), ("社区托育点", "childcare"),
    ("社区托育服务点", "childcare"), ("嵌入式托育", "childcare"), ("社区嵌入式托育", "childcare"), ("家庭托育点", "childcare"),
    ("托班", "childcare"), ("幼儿园托班", "childcare"), ("宝宝屋", "childcare"),
]


@pytest.mark.parametrize(("label", "key"), NEW_LABELS)
def test_provincial_labels_resolve(label, key):
    """Beijing, Shanghai, Guangdong and Jiangsu names of elderly-care and childcare facilities are known labels."""
    assert load_taxonomy().resolve(label) == key


@pytest.mark.parametrize(
    ("name", "key", "candidates"),
    [
        ("鼓楼区华侨新村社区养老服务驿站", "elderly_station", ""),  # 驿站 alone is a parcel point; inside 养老服务驿站 it is not
        ("朝阳区六里屯养老驿站", "elderly_station", ""),
        ("XX普惠托育园", "childcare", ""),
        ("天河南街颐康中心", "elderly_centre", ""),
        ("良口镇村居颐康服务站", "elderly_station", ""),
        ("海淀区某街道养老照料中心", "elderly_centre", ""),
        ("嘉兴路街道综合为老服务中心", "elderly_centre", ""),
        ("徐汇区某长者照护之家", "elderly_home", ""),
        ("广和社区长者饭堂", "meal_point", ""),  # a meal point its own category since #17
        ("玄武区某社区居家养老服务中心", "elderly_station", ""),  # 养老服务中心 inside 居家养老服务中心 does not count
        ("某某街道养老服务中心", "elderly_centre", ""),
        ("阳光幼儿园托班", "childcare", ""),  # 幼儿园 inside 幼儿园托班 does not count
        ("实验幼儿园", "kindergarten", ""),
        ("顺丰快递驿站", "post_parcel", ""),
        ("阳光托育养老服务中心", None, "elderly_centre|childcare"),  # two categories' words
        ("XX幼儿园早教中心", None, "childcare|kindergarten"),
        ("某某街道办事处", None, ""),  # no word at all
        ("", None, ""),
    ],
)
def test_name_rule(name, key, candidates):
    """A name is categorised when its words are those of exactly one category; otherwise the candidates are named."""
    keys, cands = load_taxonomy().by_name(pd.Series([name]))
    assert keys.iloc[0] == key
    assert cands.iloc[0] == candidates


def test_osm_name_rules_know_the_new_names():
    """An OSM POI named like a Beijing station is a station, not a parcel point (its name holds 驿站)."""
    tax = load_taxonomy()
    assert tax.match_osm({"name": "华侨新村社区养老服务驿站"}) == "elderly_station"
    assert tax.match_osm({"name": "某某长者照护之家"}) == "elderly_home"
    assert tax.match_osm({"name": "菜鸟驿站"}) == "post_parcel"


def _oracle(name: str, words: dict[str, tuple[str, ...]]) -> set[str]:
    """Naive restatement: a category fits when one of its words occurs at a place not covered by a longer word of
    another category occurring around it."""
    fits = set()
    for key, own in words.items():
        for word in own:
            for at in (i for i in range(len(name)) if name.startswith(word, i)):
                covered = any(
                    len(big) > len(word) and any(
                        name.startswith(big, at - off) and at - off >= 0
                        for off in (j for j in range(len(big)) if big.startswith(word, j))
                    )
                    for other, bigs in words.items() if other != key for big in bigs
                )
                if not covered:
                    fits.add(key)
    return fits


FRAGMENTS = sorted({w for ws in load_taxonomy().name_words.values() for w in ws}) + ["社区", "街道", "阳光", "XX", "中心", "服务"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=4).map("".join), min_size=1, max_size=30))
def test_name_rule_matches_a_naive_oracle(names):
    """The vectorised rule (one regular expression per category) agrees with a per-row, per-word restatement."""
    tax = load_taxonomy()
    keys, cands = tax.by_name(pd.Series(names))
    for name, key, cand in zip(names, keys, cands, strict=True):
        fits = _oracle(name, tax.name_words)
        assert (key if key is not None else None) == (next(iter(fits)) if len(fits) == 1 else None)
        assert set(cand.split("|")) - {""} == (fits if len(fits) > 1 else set())


@pytest.fixture
def blank_categories(tmp_path: Path) -> Path:
    rows = [
        ("F1", "鼓楼区华侨新村社区养老服务驿站", "", "", 120.90, 32.00),
        ("F2", "XX普惠托育园", "", "", 120.91, 32.00),
        ("F3", "阳光托育养老服务中心", "", "", 120.92, 32.00),
        ("F4", "某某街道办事处", "", "", 120.93, 32.00),
        ("F5", "北京某养老照料中心", "养老照料中心", "", 120.94, 32.00),
        ("F6", "某某长者饭堂", "长者饭堂", "", 120.95, 32.00),
        ("F7", "某某养老驿站", "网吧", "", 120.96, 32.00),  # an unknown label: the name's words decide, flagged
        ("F8", "阳光园", "", "141204", 120.97, 32.00),  # an Amap type code is a label
        ("F9", "某某网咖", "网吧", "", 120.98, 32.00),  # an unknown label and no word: unknown_category
    ]
    path = tmp_path / "facilities.csv"
    pd.DataFrame(rows, columns=["编号", "名称", "类别", "typecode", "lon", "lat"]).to_csv(path, index=False)
    return path


def test_blank_category_read_from_the_name(blank_categories: Path, caplog):
    """Blank categories with an unambiguous name are kept as that category with category_from = name (and counted
    in the log); ambiguous or wordless names stay rejected (missing_category), the candidates in the reason."""
    with caplog.at_level(logging.WARNING, logger="planner.io.layers"):
        layer = load_facilities(LayerSpec(kind="facilities", path=blank_categories, crs="EPSG:4326"), METRIC)
    assert layer.rows_read == 9 and len(layer.data) + len(layer.rejected) == 9
    data = layer.data
    assert data.loc["F1", "category"] == "elderly_station" and data.loc["F1", CATEGORY_FROM] == "name"
    assert data.loc["F2", "category"] == "childcare" and data.loc["F2", CATEGORY_FROM] == "name"
    assert data.loc["F5", "category"] == "elderly_centre" and data.loc["F5", CATEGORY_FROM] == "label"
    assert data.loc["F6", "category"] == "meal_point" and data.loc["F6", CATEGORY_FROM] == "label"
    assert data.loc["F7", "category"] == "elderly_station" and data.loc["F7", CATEGORY_FROM] == "name"
    assert data.loc["F8", "category"] == "kindergarten" and data.loc["F8", CATEGORY_FROM] == "label"
    rej = layer.rejected.set_index("id")
    assert dict(rej["reason_code"]) == {"F3": "missing_category", "F4": "missing_category", "F9": "unknown_category"}
    assert "综合性养老服务中心、托育机构 (elderly_centre|childcare)" in rej.loc["F3", "reason"]
    assert rej.loc["F4", "reason"] == "缺少设施类别 / missing facility category"
    assert any("3 行按名称归类" in r.getMessage() and "3 rows categorised by their name" in r.getMessage() for r in caplog.records)


def test_scenario_rules_first_for_blank_categories(blank_categories: Path):
    """The scenario's own name rules decide a blank category before the taxonomy's words (still category_from = name)."""
    spec = LayerSpec(kind="facilities", path=blank_categories, crs="EPSG:4326",
                     rules=({"category": "elderly_centre", "keywords": ["托育养老"]},))
    data = load_facilities(spec, METRIC).data
    assert data.loc["F3", "category"] == "elderly_centre" and data.loc["F3", CATEGORY_FROM] == "name"


def test_many_rows(tmp_path: Path):
    """Thousands of rows: the same answer for every copy of a name (one expression per category, not per row)."""
    names = ["华侨新村社区养老服务驿站", "阳光托育养老服务中心", "XX普惠托育园", "某某街道办事处"] * 2500
    path = tmp_path / "many.csv"
    pd.DataFrame({"名称": names, "类别": "", "lon": 120.9, "lat": 32.0, "编号": range(len(names))}).to_csv(path, index=False)
    layer = load_facilities(LayerSpec(kind="facilities", path=path, crs="EPSG:4326"), METRIC)
    assert len(layer.data) == 5000 and len(layer.rejected) == 5000
    assert layer.data["category"].value_counts().to_dict() == {"elderly_station": 2500, "childcare": 2500}
    assert set(layer.data[CATEGORY_FROM]) == {"name"}


@pytest.mark.parametrize(("name", "code"), [("和平社区老年助餐点", "141300"), ("幸福食堂", "090000"), ("某长者食堂", "050100"),
                                            ("东门老年助餐点", "")])
def test_meal_points_by_name_whatever_the_amap_code(name, code):
    """Amap files meal points under 餐饮 (05), 生活服务 (07) or 政府机构 (13): the name decides (issue #17), and a plain
    restaurant code without such a name is no meal point."""
    tax = load_taxonomy()
    assert tax.match_poi(name=name, typecode=code) == "meal_point"
    assert tax.match_poi(name="某某面馆", typecode="050100") != "meal_point"
