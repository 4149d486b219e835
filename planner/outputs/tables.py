"""Table files of a run at city scale: CSV written column by column, byte for byte what pandas writes.

``DataFrame.to_csv`` formats every float through a Python call and checks every value for NA one at a time, which
costs about a microsecond a cell — half a minute for the tables of a million-node city. Arrow's CSV writer is
fast but writes other bytes (every string quoted, shortest float repr, ``true``/``false``), and the files must not
change. :func:`write_csv` therefore builds each column's text with C-level string operations (``map``,
``str.join``) in the exact format pandas uses — ``float_format % value`` for floats, ``str`` for integers and
booleans, the ``csv`` module's minimal quoting for text, ``""`` for NA and ±inf — a block of rows at a time.
A categorical column of text is written through its categories: each distinct text formatted once, then looked up
by code. Tables with column types it does not know (dates, nullable numbers, categoricals of other values) go through
pandas unchanged.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from planner.progress import bar

__all__ = ["write_csv"]

log = logging.getLogger(__name__)

_BLOCK_CELLS = 400_000  # cells formatted at a time: the text of one block stays a few tens of MB
_SPECIAL = (",", "\"", *os.linesep)  # a text field holding one of these is quoted (csv.QUOTE_MINIMAL, as pandas calls it)


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = False, float_format: str = "%.6g") -> None:
    """Write ``frame`` to ``path`` as UTF-8 CSV with a byte-order mark (Excel on Chinese Windows reads it right).

    The bytes are those of ``frame.replace([inf, -inf], nan).to_csv(path, index=index, encoding="utf-8-sig",
    float_format=float_format)``: empty fields for NA and ±inf, ``float_format`` for floats.
    """
    path = Path(path)
    columns = _columns(frame, index=index)
    if columns is None or len(columns) < 2:  # one column: csv writes a lone empty field as "" — leave it to pandas
        frame.replace([np.inf, -np.inf], np.nan).to_csv(path, index=index, encoding="utf-8-sig", float_format=float_format)
        return
    eol = os.linesep
    n = len(frame)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh, bar(desc=f"写出 / writing {path.name}", total=n, unit="row") as pbar:
        fh.write(",".join(_quoted([str(label) for label, _ in columns])) + eol)
        block = max(1, _BLOCK_CELLS // len(columns))
        for start in range(0, n, block):
            stop = min(start + block, n)
            texts = [_text(_block(values, start, stop), float_format) for _, values in columns]
            fh.write(eol.join(map(",".join, zip(*texts, strict=True))) + eol)
            pbar.update(stop - start)


def _columns(frame: pd.DataFrame, *, index: bool) -> list[tuple[object, np.ndarray | pd.Series]] | None:
    """(header, values) of each column to write — the index first when ``index`` — or None when a column's type
    is one this writer does not format like pandas. Values stay in pandas until a block of them is formatted: text
    held by Arrow becomes Python strings a block at a time."""
    out: list[tuple[object, pd.Series | pd.Index]] = []
    if isinstance(frame.columns, pd.MultiIndex):
        return None
    if index:
        if isinstance(frame.index, pd.MultiIndex):
            return None
        out.append(("" if frame.index.name is None else frame.index.name, frame.index))
    out.extend((label, frame.iloc[:, j]) for j, label in enumerate(frame.columns))
    columns: list[tuple[object, np.ndarray | pd.Series]] = []
    for label, col in out:
        dtype = col.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "fiubO":
            columns.append((label, col.to_numpy()))  # numpy-backed: a view, no copy
        elif isinstance(dtype, pd.StringDtype):
            columns.append((label, pd.Series(col, copy=False).reset_index(drop=True)))
        elif isinstance(dtype, pd.CategoricalDtype) and pd.api.types.infer_dtype(dtype.categories, skipna=True) in ("string", "empty"):
            codes = np.asarray(pd.Categorical(col).codes)  # NA → -1: the empty field appended last
            columns.append((label, _Coded(codes, np.array([*_quoted([str(c) for c in dtype.categories]), ""], dtype=object))))
        else:
            return None
    return columns


class _Coded:
    """A categorical column: codes (−1 for NA) into the CSV fields of its categories (the empty field last)."""

    def __init__(self, codes: np.ndarray, fields: np.ndarray) -> None:
        self.codes, self.fields = codes, fields


def _block(values, start: int, stop: int):
    if isinstance(values, _Coded):
        return _Coded(values.codes[start:stop], values.fields)
    return values[start:stop] if isinstance(values, np.ndarray) else values.iloc[start:stop]


def _strings(values: np.ndarray | pd.Series) -> list[str]:
    """Fields of text values (NA empty): each distinct text quoted once, then looked up (Arrow text stays in Arrow)."""
    codes, uniq = pd.factorize(values)  # NA → -1, the empty field appended last
    fields = np.array([*_quoted(np.asarray(uniq, dtype=object).tolist()), ""], dtype=object)
    return fields[codes].tolist()


def _text(values: np.ndarray | pd.Series, float_format: str) -> list[str]:
    """The CSV fields of one column (a block of rows), as pandas formats them."""
    if isinstance(values, _Coded):
        return values.fields[values.codes].tolist()
    if isinstance(values, pd.Series):  # text held by Arrow
        return _strings(values)
    kind = values.dtype.kind
    if kind == "f":
        finite = np.isfinite(values)
        uniq, inverse = np.unique(values[finite], return_inverse=True)  # format each distinct value once
        text = np.full(len(values), "", dtype=object)
        text[finite] = np.array(list(map(float_format.__mod__, uniq.tolist())) or [""], dtype=object)[inverse]
        return text.tolist()
    if kind in "iu":
        if len(values) and int(values.max()) - int(values.min()) <= max(len(values), 1024):  # counts, small codes
            lo = int(values.min())
            table = np.array([str(v) for v in range(lo, int(values.max()) + 1)], dtype=object)
            return table[values - lo].tolist()
        return list(map(str, values.tolist()))
    if kind == "b":
        return np.array(["False", "True"], dtype=object)[values.astype(np.intp)].tolist()
    # text and objects: NA (None, NaN, NaT, pd.NA) and ±inf are empty, anything but text is written by str (the
    # csv module); a column of text only (the common case) needs no look at each value
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return _strings(values)
    text = [v if type(v) is str else "" if isinstance(v, float) and not math.isfinite(v) else str(v) for v in values.tolist()]
    for i in np.flatnonzero(pd.isna(values)).tolist():
        text[i] = ""
    return _quoted(text)


def _quoted(text: list[str]) -> list[str]:
    """Fields quoted as ``csv.QUOTE_MINIMAL`` does: only those holding a comma, quote or line break."""
    joined = "".join(text)
    if not any(ch in joined for ch in _SPECIAL):
        return text
    return ['"' + t.replace('"', '""') + '"' if any(ch in t for ch in _SPECIAL) else t for t in text]
