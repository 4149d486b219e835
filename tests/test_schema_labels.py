"""One owner for the names that cross stages: planner.schema builds and parses every output column, planner.labels
labels them (and every other text a person reads) from one table."""

from __future__ import annotations

import ast
import doctest
from pathlib import Path

import pandas as pd
import pytest

from planner import labels, schema
from planner.io.categories import load_taxonomy
from planner.labels import LABELS, column_label, tr

PACKAGE = Path(__file__).resolve().parents[1] / "planner"

# output columns that have no label (none since issue #14); the test below fails when this list is stale
UNLABELLED: set[str] = set()


@pytest.mark.parametrize(
    ("column", "kind", "category", "minutes"),
    [
        (schema.dist_m("elderly_centre"), "dist_m", "elderly_centre", None),
        (schema.minutes("market"), "minutes", "market", None),
        (schema.nearest_id("childcare"), "nearest_id", "childcare", None),
        (schema.nearest_name("childcare"), "nearest_name", "childcare", None),
        (schema.within("elderly_station", 15.0), "within", "elderly_station", "15"),
        (schema.within("market", 7.5), "within", "market", "7.5"),
        (schema.count("convenience", 5), "count", "convenience", "5"),
        (schema.facilities("pharmacy"), "facilities", "pharmacy", None),
        (schema.share("market", "15"), "share", "market", "15"),
        (schema.share_a("market"), "share_a", "market", None),
        (schema.share_b("market"), "share_b", "market", None),
        (schema.covered(10), "covered", None, "10"),
        (schema.newly_covered("childcare"), "newly_covered", "childcare", None),
        (schema.lost("childcare"), "lost", "childcare", None),
    ],
)
def test_columns_round_trip(column: str, kind: str, category: str | None, minutes: str | None) -> None:
    assert schema.parse_column(column) == schema.ColumnKey(kind, category, minutes)


def test_exact_spellings_outputs_depend_on() -> None:
    """The spellings written in every run's CSV files: changing one breaks users' sheets and planner compare."""
    assert schema.dist_m("market") == "dist_m__market"
    assert schema.within("market", 15.0) == "within_15min__market"
    assert schema.share("market", 7.5) == "share_7.5min__market"
    assert schema.covered(15) == "covered_15min"
    assert schema.CHILDCARE_ACCESS == "access_childcare_places_per_1000"
    assert (schema.ALL_ZONES, schema.CITY, schema.OUTSIDE_ZONE) == ("合计", "全市", "未划入街道")
    assert schema.parse_column("population") is None and schema.parse_column("dist_m__") is None


def test_columns_of_picks_one_kind() -> None:
    cols = [schema.nearest_name("a"), "name", schema.nearest_id("a"), schema.nearest_name("b")]
    assert schema.columns_of(cols, "nearest_name") == [schema.nearest_name("a"), schema.nearest_name("b")]


def test_schema_docstring_examples_run() -> None:
    failed, attempted = doctest.testmod(schema)
    assert attempted > 0 and failed == 0


def _literal_tr_keys() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                found.append((path.name, node.lineno, node.args[0].value))
    return found


def test_every_label_key_used_exists() -> None:
    keys = _literal_tr_keys()
    assert len(keys) > 100  # the scan sees the calls
    missing = [f"{name}:{line} {key}" for name, line, key in keys if key not in LABELS]
    assert not missing, missing


def test_labels_are_bilingual_and_formats_agree() -> None:
    """Every label has Chinese and English text, and both take the same {placeholders}."""
    import string

    for key, (zh, en) in LABELS.items():
        assert zh and en, key
        fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
        assert fields(zh) == fields(en), key


def test_namespaces_keep_meanings_apart() -> None:
    """The same word labels a column, a map layer and a group of people differently, without colliding."""
    assert tr("compounds") == "小区数"  # a column: how many compounds
    assert tr("ui.compounds") == "小区覆盖情况"  # the map layer
    assert tr("age_60_plus") == "60岁及以上人口"  # a column
    assert tr("group.age_60_plus") == "60岁及以上"  # a group (report headings)
    assert tr("people.age_60_plus") == "60岁及以上老人"  # as counted in a shortfall
    assert labels.zh("data.elderly_room_m2") == "养老服务用房面积" and labels.zh("unknown_key") == "unknown_key"


def test_per_category_headers_use_the_taxonomy() -> None:
    tax = load_taxonomy()
    assert column_label(schema.share("market", 15), "zh", tax) == f"15 分钟内人口占比：{tax['market'].zh}"
    assert column_label(schema.within("market", 7.5), "en", tax) == f"Within 7.5 min: {tax['market'].label('en')}"
    assert column_label("no_such_column") == "no_such_column"


def test_every_output_column_has_a_label(demo_run: Path) -> None:
    """Each column of the run's tables is labelled from the one table (directly, or as a schema-built column)."""
    tax = load_taxonomy()
    unlabelled = set()
    for csv in sorted(demo_run.glob("*.csv")):
        for col in pd.read_csv(csv, nrows=1, encoding="utf-8-sig").columns:
            if column_label(col, "zh", tax) == col:
                unlabelled.add(col)
    assert unlabelled == UNLABELLED


def test_every_rule_source_mark_is_labelled() -> None:
    """The confidence legend of report.html lists a label for every ``conf`` mark rules.toml uses."""
    from planner.analysis.standards import load_rules

    confs = [c for r in load_rules() for c in (r["conf"].values() if isinstance(r["conf"], dict) else [r["conf"]])]  # per preset
    marks = {part for c in confs for part in str(c).split("/")}  # "V/L": verified, and a local target
    assert marks and all(f"conf.{m}" in LABELS for m in marks), marks - {k.removeprefix("conf.") for k in LABELS}


def test_columns_named_like_a_namespace_keep_their_own_label() -> None:
    """``status_a`` and ``reason_code`` are columns; the ``status.``/``reason.`` namespaces do not swallow them, and a
    namespaced key is never taken for a column."""
    assert column_label("status_a") == "方案 A 结果" and column_label("reason_code", "en") == "Reason code"
    assert tr("status.pass") == "达标" and tr("reason.duplicate_id", "en") == "duplicate id"
    assert column_label("ui.compounds") == "ui.compounds"
