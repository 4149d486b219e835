"""Read the data back out of a rendered gap map (tests only): the packed columns of planner.outputs.map_layers.

Written independently of the encoder: a value is a run of characters ``c`` (63 ≤ c ≤ 126), each carrying the 5 bits
``(c - 63) & 31``, lowest first, with bit 32 set on every character but a value's last; the value is zig-zag coded
(0, -1, 1, -2 … ↦ 0, 1, 2, 3 …).
"""

from __future__ import annotations

import json
import re

__all__ = ["decode", "decode_points", "decode_rings", "page_calls", "column"]


def decode(text: str) -> list[int]:
    values, acc, bit = [], 0, 0
    for ch in text:
        c = ord(ch) - 63
        assert 0 <= c < 64, ch
        acc += (c % 32) * 2**bit
        if c >= 32:
            bit += 5
        else:
            values.append(-(acc + 1) // 2 if acc % 2 else acc // 2)
            acc, bit = 0, 0
    assert bit == 0, "text ends inside a value"
    return values


def decode_points(text: str, scale: int) -> list[tuple[float, float]]:
    """(lon, lat) of interleaved differences."""
    v = decode(text)
    out, x, y = [], 0, 0
    for k in range(0, len(v), 2):
        x += v[k]
        y += v[k + 1]
        out.append((x / scale, y / scale))
    return out


def decode_rings(sizes: str, xy: str, scale: int) -> list[list[tuple[float, float]]]:
    """Lines or rings: ``sizes`` vertices each, from one run of differences."""
    pts = decode_points(xy, scale)
    out, at = [], 0
    for n in decode(sizes):
        out.append(pts[at:at + n])
        at += n
    assert at == len(pts)
    return out


def column(data: dict, key: str, n: int) -> list[int]:
    """A table column: packed, or one number for all rows."""
    value = data["cols"][key]
    return [value] * n if isinstance(value, int) else decode(value)


_CALL = re.compile(r"var (\w+) = (?:plannerLayers\.lazy\(function \(\) \{ return )?plannerLayers\.(\w+)\((\{.*?\})(?:, (\w+))*\);"
                   r"(?: \}\);)?\n")


def page_calls(page: str) -> list[tuple[str, str, dict, str | None]]:
    """Every ``var name = plannerLayers.kind(data[, table])`` of a page (also when made lazily, when first shown:
    ``plannerLayers.lazy(function () { return plannerLayers.kind(...); })``): (name, kind, data, table name)."""
    out = []
    for m in _CALL.finditer(page):
        out.append((m.group(1), m.group(2), json.loads(m.group(3).replace("<\\/", "</")), m.group(4)))
    return out
