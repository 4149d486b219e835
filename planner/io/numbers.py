"""Numbers as people write them in spreadsheets: 50张, 300人, 约1200, 1,200, １２００, 3.5万, 120㎡ — read, with the unit checked.

:func:`read_numbers` reads a whole column at once (one regular expression over the column, no Python loop per
row). A plain number (``12``, ``1.5``, ``1e3``, ``inf``) is read as pandas reads it. Otherwise the text may carry,
around one number: an "about" word (约, 大约, 约为, ≈, ~, or 左右 after it), thousand separators (``1,200``,
``1，200``, ``1 200``), full-width digits, a multiplier (万 = 10 000, 千 = 1 000) and a unit that must fit the
column (:data:`UNITS`). A unit of another column (``50人`` for beds) is a *unit mismatch*; ranges (``50-60``),
several numbers and words (若干, 待定) are *not numeric*.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["UNITS", "KNOWN_UNITS", "BLANK_TEXTS", "ReadNumbers", "read_numbers"]

_BEDS = ("张", "床", "张床", "床位", "张床位")
_PLACES = ("个", "位", "托位", "个托位", "个位")
_PEOPLE = ("人", "口", "名", "人口")
_AREA = ("㎡", "m2", "平方米", "平米", "m²", "平方", "sqm")
# the units each numeric column of planner accepts, the usual first (column names as in io.layers.NUMERIC)
UNITS: dict[str, tuple[str, ...]] = {
    "beds": _BEDS,
    "nursing_beds": _BEDS,
    "places": _PLACES,
    "population": _PEOPLE,
    "age_60_plus": _PEOPLE,
    "age_0_3": _PEOPLE,
    "households": ("户",),
    "floor_area_m2": _AREA,
    "elderly_room_m2": _AREA,
    "childcare_room_m2": _AREA,
}
# words that are units of something: in a column they do not fit, a unit mismatch (other words: not numeric)
KNOWN_UNITS = frozenset(u for units in UNITS.values() for u in units) | {
    "元", "万元", "米", "m", "km", "公里", "千米", "平方公里", "km2", "公顷", "亩", "岁", "间", "套", "栋", "幢", "处", "家", "所",
    "个月", "月", "年", "天", "日", "小时", "h", "%", "kg", "公斤", "人次", "次", "层", "座",
}
# read as a blank cell: empty, and the placeholders sheets use for "none / not filled in" (a dash, a slash, 无, N/A)
BLANK_TEXTS = ("", "nan", "None", "NaN", "none", "null", "NULL", "N/A", "n/a", "NA", "-", "--", "—", "——", "－",
               "/", "／", "\\", "无", "暂无", "空")

_INVISIBLE = "[\u200b\u200c\u200d\u2060\ufeff]"  # zero-width characters pasted in from web pages: dropped
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．，－＋～　ｍＭ", "0123456789.,-+~ mm")  # code point -> text
_PATTERN = (
    r"^(?P<about>约为|约合|大约|约|≈|~)?\s*"
    r"(?P<num>[+-]?(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?: \d{3})+|\d+)(?:\.\d+)?|[+-]?\.\d+)"
    r"\s*(?P<scale>万|千)?\s*(?P<unit>[^\d\s.,+\-~]*?2?)\s*(?P<after>左右)?$"
)


@dataclass(frozen=True)
class ReadNumbers:
    """A column read as numbers, on the column's index.

    values
        The numbers (float; NaN where blank or unreadable; ``inf`` where written so).
    non_numeric, unit_mismatch
        Rows whose text is no single number, and rows with a number in a unit the column does not take.
    from_text
        Rows read from text with a unit, an "about" word, a multiplier, separators or full-width digits.
    """

    values: pd.Series
    non_numeric: np.ndarray
    unit_mismatch: np.ndarray
    from_text: np.ndarray

    def example(self, raw: pd.Series) -> tuple[str, float] | None:
        """The first value read from text: (the text as written, the number)."""
        hit = np.flatnonzero(self.from_text)
        return (str(raw.iloc[hit[0]]), float(self.values.iloc[hit[0]])) if len(hit) else None


def read_numbers(raw: pd.Series, units: Collection[str] = ()) -> ReadNumbers:
    """Read the column ``raw`` (numbers or text) as numbers, a unit accepted when it is in ``units``.

    Text that is not a plain number goes through one regular expression over the column (Arrow's RE2), so a
    column of 100 000 values written with units costs a fraction of a second."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(raw)
    values = pd.Series(np.nan, index=raw.index, dtype=float)
    non_numeric = np.zeros(n, dtype=bool)
    mismatch = np.zeros(n, dtype=bool)
    from_text = np.zeros(n, dtype=bool)
    present = raw.notna().to_numpy()
    if not present.any():
        return ReadNumbers(values, non_numeric, mismatch, from_text)
    text = raw[present].astype(str).str.replace(_INVISIBLE, "", regex=True).str.replace("\u00a0", " ", regex=False).str.strip()
    filled = ~text.isin(BLANK_TEXTS)
    text = text[filled]
    where = np.flatnonzero(present)[filled.to_numpy()]
    plain = pd.to_numeric(text, errors="coerce").astype(float)
    values.iloc[where] = plain.to_numpy()
    rest = plain.isna().to_numpy()
    if rest.any():
        at = where[rest]
        arr = pa.array(text[rest].to_numpy(dtype=object), type=pa.string())
        for wide, narrow in _FULL_WIDTH.items():
            arr = pc.replace_substring(arr, chr(wide), chr(narrow))
        arr = pc.utf8_lower(pc.utf8_trim_whitespace(arr))
        parts = pc.extract_regex(arr, _PATTERN)
        valid = parts.is_valid()
        matched = valid.to_numpy(zero_copy_only=False)
        number = pc.cast(pc.if_else(valid, pc.replace_substring_regex(parts.field("num"), r"[, ]", ""), pa.scalar(None, pa.string())), pa.float64())
        scale = pc.if_else(pc.equal(parts.field("scale"), "万"), 10_000.0, pc.if_else(pc.equal(parts.field("scale"), "千"), 1_000.0, 1.0))
        unit = parts.field("unit")
        fits = pc.or_(pc.equal(unit, ""), pc.is_in(unit, value_set=pa.array(list(units), type=pa.string())))
        fits = fits.to_numpy(zero_copy_only=False) & matched
        known = pc.is_in(unit, value_set=pa.array(sorted(KNOWN_UNITS), type=pa.string())).to_numpy(zero_copy_only=False)
        read = pc.multiply(number, pc.fill_null(scale, 1.0)).to_numpy(zero_copy_only=False)
        values.iloc[at[fits]] = read[fits]
        from_text[at[fits]] = True
        mismatch[at[matched & ~fits & known]] = True
        non_numeric[at[~fits & ~(matched & known)]] = True
    return ReadNumbers(values, non_numeric, mismatch, from_text)
