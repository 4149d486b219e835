"""CSV files written column by column (planner.outputs.tables) are byte for byte what pandas writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planner.outputs import tables
from planner.outputs.tables import write_csv


def _pandas_bytes(frame: pd.DataFrame, path: Path, *, index: bool) -> bytes:
    frame.replace([np.inf, -np.inf], np.nan).to_csv(path, index=index, encoding="utf-8-sig", float_format="%.6g")
    return path.read_bytes()


def _frame(n: int = 64) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    text = [None, np.nan, "a,b", 'say "hi"', "two\nlines", "cr\r", "普惠托育", "", " lead", "plain"]
    mixed = [None, np.nan, 1.5, np.float64(2.25), 3, np.int64(4), True, np.bool_(False), np.inf, pd.NA, "x", pd.NaT]
    return pd.DataFrame({
        "float": np.r_[rng.normal(0, 1e6, n - 9), [np.nan, np.inf, -np.inf, -0.0, 1e-5, 123456789.0, 0.1, 5e-324, 1e300]],
        "float32": rng.random(n).astype(np.float32),
        "int": rng.integers(-10**12, 10**12, n),
        "count": rng.integers(0, 5, n),
        "uint8": rng.integers(0, 255, n).astype(np.uint8),
        "bool": rng.random(n) > 0.5,
        "text": pd.Series((text * n)[:n], dtype=object),
        "mixed": pd.Series((mixed * n)[:n], dtype=object),
        "str": pd.Series((["x", None, "y,z", "街道"] * n)[:n], dtype="str"),
        "a,b": 1.0,
    })


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("block", [400_000, 50])
def test_bytes_equal_pandas(tmp_path: Path, monkeypatch, index: bool, block: int) -> None:
    monkeypatch.setattr(tables, "_BLOCK_CELLS", block)
    frame = _frame()
    write_csv(frame, tmp_path / "fast.csv", index=index)
    assert (tmp_path / "fast.csv").read_bytes() == _pandas_bytes(frame, tmp_path / "pandas.csv", index=index)


@pytest.mark.parametrize("block", [400_000, 7])
def test_categorical_text_columns_bytes_equal_pandas(tmp_path: Path, monkeypatch, block: int) -> None:
    """Categoricals of text (the gap list's columns) are written by code; NA, quoting and unused categories as pandas."""
    monkeypatch.setattr(tables, "_BLOCK_CELLS", block)
    texts = ["a,b", 'say "hi"', "普惠托育", "", "plain", "unused"]
    codes = np.array([0, 1, -1, 2, 3, 4, 2, 2, 0, -1, 4, 1] * 3, dtype=np.int32)
    frame = pd.DataFrame({
        "requirement": pd.Categorical.from_codes(codes, categories=pd.Index(texts)),
        "rank": np.arange(len(codes)),
        "object_categories": pd.Categorical.from_codes(codes[::-1].copy(), categories=pd.Index(texts, dtype=object)),
        "unserved": np.linspace(0, 1, len(codes)),
    })
    assert tables._columns(frame, index=False) is not None  # by code, not through pandas
    write_csv(frame, tmp_path / "fast.csv")
    assert (tmp_path / "fast.csv").read_bytes() == _pandas_bytes(frame, tmp_path / "pandas.csv", index=False)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"a": [1.5, np.nan]}),  # one column: pandas writes a lone empty field as ""
        pd.DataFrame({"a": pd.Series([1, None], dtype="Int64"), "b": ["x", "y"]}),  # nullable ints: through pandas
        pd.DataFrame({"when": pd.to_datetime(["2024-01-01", None]), "b": [1.0, 2.0]}),  # dates: through pandas
        pd.DataFrame({"a": pd.Categorical(["p", "q"]), "b": [True, False]}),
        pd.DataFrame({"a": pd.Categorical([1.5, np.nan, 2.0]), "b": [True, False, True]}),  # numbers: through pandas
        pd.DataFrame(columns=["x", "y"]),
        pd.DataFrame({"zone": ["Z1", "Z2"], "v": [0.5, 1 / 3]}).set_index("zone"),
    ],
    ids=["one-column", "Int64", "datetime", "categorical", "categorical-numbers", "empty", "named-index"],
)
def test_other_tables_are_written_as_pandas_writes_them(tmp_path: Path, frame: pd.DataFrame) -> None:
    index = frame.index.name is not None
    write_csv(frame, tmp_path / "fast.csv", index=index)
    assert (tmp_path / "fast.csv").read_bytes() == _pandas_bytes(frame, tmp_path / "pandas.csv", index=index)


@pytest.mark.parametrize("name", ["compounds.csv", "gaps.csv", "catchments.csv", "rejected.csv", "facilities.csv"])
def test_demo_tables_read_back_and_written_again(demo_run: Path, tmp_path: Path, name: str) -> None:
    frame = pd.read_csv(demo_run / name, encoding="utf-8-sig")
    write_csv(frame, tmp_path / name)
    assert (tmp_path / name).read_bytes() == _pandas_bytes(frame, tmp_path / f"pandas_{name}", index=False)
