"""Progress bars for long steps (tqdm), shown only when stderr is a terminal, so logs and CI output stay clean.

Every stage that can take more than a few seconds at city scale wraps its loop in :func:`progress` or updates a
:func:`bar`; the bar text is bilingual like the CLI's messages (``中文 / English``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

__all__ = ["progress", "bar", "enabled"]

T = TypeVar("T")


def enabled() -> bool:
    """True when bars are drawn: stderr is a terminal and ``PLANNER_PROGRESS`` is not ``0`` (``1`` forces them on)."""
    flag = os.environ.get("PLANNER_PROGRESS", "")
    if flag in ("0", "1"):
        return flag == "1"
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``iterable`` with a progress bar labelled ``desc`` (quiet when :func:`enabled` is false)."""
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=not enabled(), leave=False, dynamic_ncols=True))


def bar(*, desc: str, total: int, unit: str = "it") -> tqdm:
    """A bar to ``update(n)`` by hand (use as a context manager); quiet when :func:`enabled` is false."""
    return tqdm(desc=desc, total=total, unit=unit, disable=not enabled(), leave=False, dynamic_ncols=True)
