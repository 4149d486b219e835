"""Names that cross stages: every output column built from a category or a threshold, the table sentinels, and the
fixed column lists of the tables that several stages write or read.

One module owns them so that coverage, the 街道 summary, the standards, siting, the map, the report, the workbook and
``planner compare`` agree on one spelling. Build a column with the helpers below, never with an f-string of your
own; read one back with :func:`parse_column`. Labels for people (Chinese and English) are in
:mod:`planner.labels`, keyed by the same names.

Minutes are written with ``:g`` (``15`` not ``15.0``; ``7.5`` stays ``7.5``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ALL_ZONES",
    "CITY",
    "OUTSIDE_ZONE",
    "NOT_ZONES",
    "STATUSES",
    "COMPLIANCE_COLUMNS",
    "GAP_COLUMNS",
    "REJECTED_COLUMNS",
    "CATEGORY_FROM",
    "CHILDCARE_ACCESS",
    "ColumnKey",
    "minutes_text",
    "dist_m",
    "minutes",
    "nearest_id",
    "nearest_name",
    "within",
    "count",
    "covered",
    "facilities",
    "share",
    "share_a",
    "share_b",
    "newly_covered",
    "lost",
    "newly_served",
    "access",
    "parse_column",
    "columns_of",
]

# --- sentinels: rows of the tables that are not a 街道 ---
OUTSIDE_ZONE = "未划入街道"  # compounds/facilities that lie in no 街道 of the zones layer
ALL_ZONES = "合计"  # the total row of the 街道 summary; also the single zone of a run without a zones layer
CITY = "全市"  # the subdistrict of city-wide rules in compliance.csv
NOT_ZONES = frozenset({OUTSIDE_ZONE, ALL_ZONES, CITY})
STATUSES = ("pass", "fail", "not_evaluable")  # the ``status`` of a rule in compliance.csv

# --- fixed column lists ---
COMPLIANCE_COLUMNS = [
    "subdistrict", "subdistrict_name", "rule_id", "rule", "value", "target", "status", "shortfall", "unit",
    "shortfall_text", "source", "conf", "scale",
]  # fmt: skip
GAP_COLUMNS = ["requirement", "requirement_zh", "rank", "compound_id", "name", "zone_id", "group", "unserved", "nearest_m", "detail"]
REJECTED_COLUMNS = ["layer", "source", "row", "id", "name", "reason_code", "reason", "attributes"]
# facilities: where a kept row's category came from — "label" (its category/type column, Amap type code or OSM tags)
# or "name" (a blank category, read from a name that fits exactly one category)
CATEGORY_FROM = "category_from"


def minutes_text(t: float | str) -> str:
    """A threshold in minutes as it appears in column names and labels: ``15``, ``7.5``."""
    return f"{float(t):g}"


# --- per-category columns (compounds.csv, subdistricts.csv, compare.csv) ---
def dist_m(category: str) -> str:
    """Walking distance in metres to the nearest facility of ``category`` (inf when none within the search limit)."""
    return f"dist_m__{category}"


def minutes(category: str) -> str:
    """Walking time in minutes to the nearest facility of ``category``."""
    return f"minutes__{category}"


def nearest_id(category: str) -> str:
    """Id of the nearest facility of ``category``."""
    return f"nearest_id__{category}"


def nearest_name(category: str) -> str:
    """Name of the nearest facility of ``category`` (map popups only; not written to compounds.csv)."""
    return f"nearest_name__{category}"


def within(category: str, t: float | str) -> str:
    """Whether the compound reaches ``category`` within ``t`` minutes (bool)."""
    return f"within_{minutes_text(t)}min__{category}"


def count(category: str, t: float | str) -> str:
    """How many facilities of ``category`` the compound reaches within ``t`` minutes."""
    return f"count_{minutes_text(t)}min__{category}"


def covered(t: float | str) -> str:
    """How many categories the compound reaches within ``t`` minutes."""
    return f"covered_{minutes_text(t)}min"


def facilities(category: str) -> str:
    """Facilities of ``category`` located in the 街道 (subdistricts.csv)."""
    return f"facilities__{category}"


def share(category: str, t: float | str) -> str:
    """Share (0–1) of the 街道's population within ``t`` minutes of ``category``."""
    return f"share_{minutes_text(t)}min__{category}"


def share_a(category: str) -> str:
    """``planner compare``: the population share of run A within the longest threshold."""
    return f"share_a__{category}"


def share_b(category: str) -> str:
    """``planner compare``: the population share of run B within the longest threshold."""
    return f"share_b__{category}"


def newly_covered(category: str) -> str:
    """``planner compare``: people within reach of ``category`` in B but not in A."""
    return f"newly_covered__{category}"


def lost(category: str) -> str:
    """``planner compare``: people within reach of ``category`` in A but not in B."""
    return f"lost__{category}"


def newly_served(group: str) -> str:
    """sites.csv: people of ``group`` (``population``, ``age_60_plus``, ``age_0_3``) a suggested site newly serves."""
    return f"new_{group}"


def access(name: str) -> str:
    """E2SFCA capacity accessibility per 1000 of the demand group, e.g. ``access_childcare_places_per_1000``."""
    return f"access_{name}_per_1000"


CHILDCARE_ACCESS = access("childcare_places")


@dataclass(frozen=True)
class ColumnKey:
    """A parsed per-category or per-threshold column: its ``kind`` (the helper that builds it), category, minutes."""

    kind: str
    category: str | None = None
    minutes: str | None = None


_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dist_m", re.compile(r"^dist_m__(?P<c>.+)$")),
    ("minutes", re.compile(r"^minutes__(?P<c>.+)$")),
    ("nearest_id", re.compile(r"^nearest_id__(?P<c>.+)$")),
    ("nearest_name", re.compile(r"^nearest_name__(?P<c>.+)$")),
    ("within", re.compile(r"^within_(?P<t>[\d.]+)min__(?P<c>.+)$")),
    ("count", re.compile(r"^count_(?P<t>[\d.]+)min__(?P<c>.+)$")),
    ("facilities", re.compile(r"^facilities__(?P<c>.+)$")),
    ("share", re.compile(r"^share_(?P<t>[\d.]+)min__(?P<c>.+)$")),
    ("share_a", re.compile(r"^share_a__(?P<c>.+)$")),
    ("share_b", re.compile(r"^share_b__(?P<c>.+)$")),
    ("covered", re.compile(r"^covered_(?P<t>[\d.]+)min$")),
    ("newly_covered", re.compile(r"^newly_covered__(?P<c>.+)$")),
    ("lost", re.compile(r"^lost__(?P<c>.+)$")),
)


def parse_column(column: str) -> ColumnKey | None:
    """The :class:`ColumnKey` of a column built by one of the helpers above; None for any other column.

    >>> parse_column(within("childcare", 15))
    ColumnKey(kind='within', category='childcare', minutes='15')
    >>> parse_column("population") is None
    True
    """
    for kind, pattern in _PATTERNS:
        m = pattern.match(column)
        if m:
            parts = m.groupdict()
            return ColumnKey(kind, parts.get("c"), minutes_text(parts["t"]) if parts.get("t") else None)
    return None


def columns_of(columns, kind: str) -> list[str]:
    """The columns among ``columns`` built by the helper named ``kind`` (e.g. ``"nearest_name"``), in order."""
    return [c for c in columns if (key := parse_column(str(c))) is not None and key.kind == kind]
