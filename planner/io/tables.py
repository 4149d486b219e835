"""Tables as users write them: every sheet of a workbook, title rows, two-row headers, and the row numbers they see.

A CSV/TXT file or an Excel sheet is read as records (lists of cells) with the number of the row (Excel) or line
(text editor) each starts on; the header is found among the first records (title rows above it skipped, a two-row
group header flattened) and the records below it become the rows of a DataFrame of ``object`` columns, each with
its ``_source_row``. Notes for the user (what was skipped, flattened, renamed or merged) are returned with it.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import LayerError

__all__ = ["SOURCE_ROW", "SHEET_COLUMN", "Table", "text_table", "workbook_table"]

log = logging.getLogger(__name__)

SOURCE_ROW = "_source_row"  # the row number a user sees: Excel row, text-editor line, 1-based feature number
SHEET_COLUMN = "_sheet"  # the sheet a row comes from, when a workbook's sheets are read together

_PROBE = 12  # records looked at to find the header
# a cell that is a number, a "lon,lat" pair or a date as text: data, never a column name
_NUMBERISH = re.compile(r"^[\s+\-]*[\d.,，:/\-\s]+$")

HasCoordinates = Callable[[Sequence[str]], bool]


@dataclass
class Table:
    """A table read from a file: the rows below the header (``_source_row`` set), and notes for the user."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _cell(value: object) -> object:
    """A cell as read: text stripped (blank text is None), whole floats as ints, NaN as None."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, float):
        if np.isnan(value):
            return None
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
    return value


def _column_letter(i: int) -> str:
    """Excel's name of the 0-based column ``i`` (A, B, …, Z, AA, …)."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _filled(row: Sequence[object]) -> int:
    return sum(c is not None for c in row)


def _name_like(row: Sequence[object]) -> bool:
    """At least two cells, all text that is not a number, a coordinate pair or a date: a row of column names."""
    cells = [c for c in row if c is not None]
    return len(cells) >= 2 and all(isinstance(c, str) and not _NUMBERISH.match(c) for c in cells)


def _header_name(value: object) -> str | None:
    if value is None:
        return None
    text = re.sub(r"\s*\n\s*", "", str(value)).strip().lstrip("\ufeff")
    return text or None


def _pad(row: Sequence[object], width: int) -> list[object]:
    row = list(row[:width])
    return row + [None] * (width - len(row))


def _group_spans(upper: list[object]) -> tuple[list[tuple[int, int]], list[int]]:
    """The spans (first, last column) of the named cells of a group-header row that are followed by blank cells
    (a merged group such as 位置 over 经度/纬度), and the blank columns before the first named cell."""
    spans, leading, start = [], [], None
    for j, c in enumerate(upper):
        if c is not None:
            if start is not None and j - 1 > start:
                spans.append((start, j - 1))
            start = j
        elif start is None:
            leading.append(j)
    if start is not None and len(upper) - 1 > start:
        spans.append((start, len(upper) - 1))
    return spans, leading


def _two_row_header(upper: list[object], lower: list[object]) -> tuple[bool, bool]:
    """Whether ``upper`` can be a group row over the column names of ``lower`` — it has merged-looking groups (a
    name followed by blank cells), every column under a group or before the first group is named in ``lower``, and
    both rows are names, not data — and whether it is *pure*: ``lower`` names nothing else (the other columns
    merged down from ``upper``), which a row of data almost never is."""
    spans, leading = _group_spans(upper)
    if not spans or not _name_like(lower):
        return False, False
    if any(c is not None and not (isinstance(c, str) and not _NUMBERISH.match(c)) for c in upper):
        return False, False
    under = {j for a, b in spans for j in range(a, b + 1)} | set(leading)
    if not all(lower[j] is not None for j in under):
        return False, False
    return True, all(lower[j] is None for j in range(len(lower)) if j not in under)


def _flatten(upper: list[object], lower: list[object]) -> list[str | None]:
    """Column names of a two-row header: the lower row's, or 上级_下级 where a lower name repeats, or the upper
    row's where the lower is blank (a cell merged down)."""
    group: list[object] = []
    current = None
    for c in upper:
        current = c if c is not None else current
        group.append(current)
    low = [_header_name(c) for c in lower]
    counts = Counter(n for n in low if n)
    names: list[str | None] = []
    for g, lo in zip(group, low, strict=True):
        if lo is None:
            names.append(_header_name(g))
        elif counts[lo] > 1 and g is not None:
            names.append(f"{_header_name(g)}_{lo}")
        else:
            names.append(lo)
    return names


@dataclass
class _Header:
    names: list[str | None]
    first_data: int  # index of the first record below the header
    notes: list[str]


def _find_header(rows: list[list[object]], lines: np.ndarray, where: str, has_coordinates: HasCoordinates, unit: str) -> _Header:
    """The header of a table among its first records: title rows (one filled cell above a row of names) skipped,
    a two-row group header flattened; raise when a header of more rows cannot be read unambiguously."""
    nonblank = [k for k in range(min(len(rows), 4 * _PROBE)) if _filled(rows[k])]
    if not nonblank:
        return _Header([], len(rows), [])
    notes: list[str] = []
    pos = 0
    while pos + 1 < len(nonblank) and _filled(rows[nonblank[pos]]) == 1 and _name_like(rows[nonblank[pos + 1]]):  # a title above a header
        k = nonblank[pos]
        title = next(c for c in rows[k] if c is not None)
        notes.append(f"{where} 第 {lines[k]} 行是标题“{title}”，已跳过 / {unit} {lines[k]} of {where} is a title ('{title}'), skipped")
        pos += 1
    k = nonblank[pos]
    probe = rows[k : k + _PROBE]
    width = max(max((j + 1 for j, c in enumerate(r) if c is not None), default=0) for r in probe)
    upper = _pad(rows[k], width)
    single = [_header_name(c) for c in upper]
    lower = _pad(rows[k + 1], width) if k + 1 < len(rows) else []
    possible, pure = _two_row_header(upper, lower) if lower else (False, False)
    if possible:
        flat = _flatten(upper, lower)
        single_ok, flat_ok = has_coordinates([n for n in single if n]), has_coordinates([n for n in flat if n])
        # two rows when only they name the coordinates, or when the lower row names nothing but the groups' columns
        if not ((flat_ok and not single_ok) or (pure and flat_ok == single_ok)):
            return _Header(single, k + 1, notes)  # the row below is data that looks like names
        span = f"{lines[k]}–{lines[k + 1]}"
        if k + 2 < len(rows) and _two_row_header(lower, _pad(rows[k + 2], width))[1]:
            raise LayerError(
                f"{where} 的表头似乎有三行以上（第 {lines[k]}–{lines[k + 2]} 行），无法确定列名：请把表头改成一行（每列一个名称）后重试 / "
                f"the header of {where} seems to span three or more {unit}s ({lines[k]}–{lines[k + 2]}); "
                "make it a single row of column names"
            )
        repeated = sorted(n for n, c in Counter(n for n in flat if n).items() if c > 1)
        if repeated:
            raise LayerError(
                f"{where} 的两行表头（第 {span} 行）无法合并成唯一的列名"
                f"（重复：{'、'.join(repeated)}）：请把表头改成一行、每列一个不同的名称 / "
                f"the two-row header of {where} ({unit}s {span}) does not give one distinct name per column"
                f" (repeated: {', '.join(repeated)}); make it a single row of distinct names"
            )
        notes.append(
            f"{where} 的表头为两行（第 {span} 行，上一行为分组），已合并为：{'、'.join(n for n in flat if n)} / "
            f"the header of {where} spans two {unit}s ({span}); read as: {', '.join(n for n in flat if n)}"
        )
        return _Header(flat, k + 2, notes)
    if lower and _group_spans(upper)[0] and _name_like(lower) and not has_coordinates([n for n in single if n]):
        raise LayerError(
            f"{where} 的表头似乎不止一行（从第 {lines[k]} 行起，下一行也是列名），无法确定列名，也找不到坐标列：请把表头改成一行（每列一个名称）后重试 / "
            f"the header of {where} seems to span several {unit}s (from {unit} {lines[k]}) and no coordinate column is found; "
            "make it a single row of column names"
        )
    return _Header(single, k + 1, notes)


def _frame(rows: list[list[object]], lines: np.ndarray, where: str, has_coordinates: HasCoordinates, unit: str,
           fill_down: Sequence[tuple[tuple[int, int], tuple[int, int]]] = ()) -> Table:
    """The records below the header as a DataFrame (blank records dropped, their numbers kept in ``_source_row``);
    ``fill_down``: merged ranges of one column ((first row, col), (last row, col), 0-based), whose value is given to
    every row of the range below the header."""
    head = _find_header(rows, lines, where, has_coordinates, unit)
    filled = 0
    for (r0, c), (r1, _) in fill_down:
        if r0 < head.first_data or r0 >= len(rows) or c >= len(rows[r0]):
            continue
        for r in range(r0 + 1, min(r1, len(rows) - 1) + 1):
            rows[r] += [None] * (c + 1 - len(rows[r]))
            rows[r][c] = rows[r0][c]
            filled += 1
    if filled:
        head.notes.append(f"{where} 有合并单元格，已把值填入合并范围的每一行（{filled} 格） / merged cells in {where}: their value was "
                          f"given to every row of the range ({filled} cells)")
    body = rows[head.first_data :]
    numbers = lines[head.first_data :]
    keep = np.fromiter((any(c is not None for c in r) for r in body), dtype=bool, count=len(body))
    body = [r for r, k in zip(body, keep, strict=True) if k]
    width = max([len(head.names), *(len(r) for r in body)]) if body else len(head.names)
    body = [r if len(r) == width else r + [None] * (width - len(r)) for r in body]
    frame = pd.DataFrame(body, columns=range(width), dtype=object) if body else pd.DataFrame(columns=range(width), dtype=object)
    names = head.names + [None] * (width - len(head.names))
    used = [j for j in range(width) if names[j] is not None or frame[j].notna().any()]
    frame = frame[used]
    final = [names[j] if names[j] is not None else f"未命名_{_column_letter(j)}" for j in used]
    notes = head.notes
    unnamed = [f for j, f in zip(used, final, strict=True) if names[j] is None]
    if unnamed:
        notes.append(f"{where} 有 {len(unnamed)} 列没有列名，命名为 {'、'.join(unnamed)} / {len(unnamed)} column(s) of {where} "
                     f"have no name; called {', '.join(unnamed)}")
    seen: Counter[str] = Counter()
    renamed = []
    for i, name in enumerate(final):
        if seen[name]:
            new = f"{name}.{seen[name]}"
            while new in final:
                new += "_"
            renamed.append(f"'{name}' → '{new}'")
            final[i] = new
        seen[name] += 1
    if renamed:
        notes.append(f"{where} 有重复的列名，后出现的已改名（读取的是第一个）：{'、'.join(renamed)} / duplicate column names in {where}; "
                     f"the later ones renamed (the first is the one read): {', '.join(renamed)}")
    frame.columns = final
    frame = frame.reset_index(drop=True)
    frame[SOURCE_ROW] = numbers[keep].astype(np.int64)
    return Table(frame, notes)


def text_table(text: str, sep: str, *, where: str, has_coordinates: HasCoordinates) -> Table:
    """A CSV/TSV text as a table; ``_source_row`` is the line a record starts on in a text editor (blank lines
    and lines inside quoted multi-line fields counted)."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    rows: list[list[object]] = []
    starts: list[int] = []
    prev = 0
    try:
        for rec in reader:
            rows.append([c.strip() or None for c in rec])
            starts.append(prev + 1)
            prev = reader.line_num
    except csv.Error as exc:
        raise LayerError(f"{where} 第 {prev + 1} 行无法解析：{exc} / cannot parse line {prev + 1} of {where}: {exc}") from exc
    return _frame(rows, np.asarray(starts, dtype=np.int64), where, has_coordinates, "line")


_ERROR_CELL = re.compile(r'<c r="([A-Z]+)(\d+)"[^>]*?t="e"[^>]*>(?:<f[^>]*>.*?</f>|<f[^>]*/>)?<v>([^<]*)</v>', re.S)


def _error_cells(path: Path) -> dict[str, dict[tuple[int, int], str]]:
    """Excel's error values (#N/A, #DIV/0!, #REF! …) per sheet name and (row, column), 0-based: calamine reads them
    as empty cells, so they are found in the sheets' XML (only sheets whose XML holds an error cell are scanned)."""
    import zipfile

    out: dict[str, dict[tuple[int, int], str]] = {}
    try:
        with zipfile.ZipFile(path) as z:
            book = z.read("xl/workbook.xml").decode("utf-8", "replace")
            rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
            target = {m.group(1): m.group(2) for m in re.finditer(r'<Relationship[^>]*?Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)}
            target |= {m.group(2): m.group(1) for m in re.finditer(r'<Relationship[^>]*?Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)}
            for m in re.finditer(r'<sheet [^>]*?name="([^"]*)"[^>]*?r:id="([^"]+)"', book):
                name, rid = _xml_text(m.group(1)), m.group(2)
                member = target.get(rid, "").lstrip("/")
                member = member if member.startswith("xl/") else f"xl/{member}"
                if member not in z.namelist():
                    continue
                xml = z.read(member).decode("utf-8", "replace")
                if 't="e"' not in xml:
                    continue
                out[name] = {(int(row) - 1, _column_index(col)): _xml_text(text) for col, row, text in _ERROR_CELL.findall(xml)}
    except (KeyError, OSError, zipfile.BadZipFile):
        return {}
    return out


def _xml_text(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&apos;", "'").replace("&amp;", "&")


def _column_index(letters: str) -> int:
    """0-based column of Excel column letters (A → 0, AA → 26)."""
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def workbook_table(path: Path, *, sheet: str | None, what: str, has_coordinates: HasCoordinates) -> Table:
    """An Excel workbook as one table: the named sheet; or, with none named, its one non-empty sheet, or all its
    non-empty sheets when they have the same columns (each row's sheet in ``_sheet``). Raise when they differ."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

    try:
        book = CalamineWorkbook.from_path(str(path))
        sheets = [m for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    except Exception as exc:  # calamine's errors for a corrupt or encrypted file
        raise LayerError(f"{what} 无法读取 Excel 文件 {path}：{exc} / cannot read {path}: {exc}") from exc
    names = [m.name for m in sheets]
    hidden = [m.name for m in sheets if m.visible != SheetVisibleEnum.Visible]
    skipped_hidden: list[str] = []
    if sheet is None and len(hidden) < len(names):  # hidden sheets (lookup tables, old data) are not data to read
        skipped_hidden = hidden
        names = [n for n in names if n not in hidden]
    if sheet is not None:
        chosen = [n for n in names if n == sheet] or [n for n in names if n.strip() == str(sheet).strip()]
        if not chosen:
            listed = "、".join(f"“{n}”" for n in names)
            raise LayerError(
                f"{what} {path} 中没有工作表“{sheet}”；现有工作表：{listed}。请在情景文件中写 layer = \"<工作表名>\"（check-layer 用 --layer） / "
                f"no sheet '{sheet}' in {path}; its sheets are: {', '.join(names)}"
            )
        names = chosen[:1]
    try:
        errors = _error_cells(path)
        tables = []
        for name in names:
            ws = book.get_sheet_by_name(name)
            cells = ws.to_python(skip_empty_area=False)
            tables.append((name, _sheet_table(name, cells, errors.get(name, {}), ws.merged_cell_ranges or [], path, has_coordinates)))
    except LayerError:
        raise
    except Exception as exc:
        raise LayerError(f"{what} 无法读取 Excel 文件 {path}：{exc} / cannot read {path}: {exc}") from exc
    notes: list[str] = [
        f"{path.name} 的隐藏工作表“{n}”未读取（要读取请用 layer 指定） / hidden sheet '{n}' of {path.name} not read (name it with `layer` to read it)"
        for n in skipped_hidden
    ]
    full = []
    for title, table in tables:
        notes.extend(table.notes)
        if len(table.frame):
            full.append((title, table))
        else:
            notes.append(f"{path.name} 的工作表“{title}”没有数据行，已忽略 / sheet '{title}' of {path.name} has no data rows; ignored")
    if len(full) <= 1:
        frame = full[0][1].frame if full else pd.DataFrame(columns=[SOURCE_ROW])
        return Table(frame, notes)
    columns = [[c for c in t.frame.columns if c != SOURCE_ROW] for _, t in full]
    if any(set(c) != set(columns[0]) for c in columns[1:]):
        listed = "；".join(f"“{name}”：{'、'.join(c)}" for (name, _), c in zip(full, columns, strict=True))
        raise LayerError(
            f"{what} {path} 有 {len(full)} 个有数据的工作表，但列不相同，无法合并读取。{listed}。"
            f"请在情景文件中写 layer = \"<工作表名>\" 选定一个（check-layer 用 --layer），或把各表改成相同的列 / "
            f"{path} has {len(full)} sheets with data but different columns ({listed}); choose one with "
            f'layer = "<sheet>" in the scenario (--layer in check-layer), or give them the same columns'
        )
    frames = [t.frame[[*columns[0], SOURCE_ROW]].assign(**{SHEET_COLUMN: name}) for name, t in full]
    counts = "、".join(f"“{name}” {len(t.frame)} 行" for name, t in full)
    notes.append(
        f"{path.name} 的 {len(full)} 个工作表列相同，已全部读取（{counts}），每行的工作表记在“工作表”中 / "
        f"the {len(full)} sheets of {path.name} have the same columns and were all read "
        f"({', '.join(f'{name}: {len(t.frame)} rows' for name, t in full)}); each row's sheet is recorded"
    )
    return Table(pd.concat(frames, ignore_index=True), notes)


def _sheet_table(title: str, cells: list[list[object]], errors: dict[tuple[int, int], str], merged: list,
                 path: Path, has_coordinates: HasCoordinates) -> Table:
    """One worksheet's cells (from A1, empty cells "") as a table; ``_source_row`` is the Excel row number.

    Error cells (#N/A, #DIV/0! …) keep their text, so a row is rejected showing it rather than read as blank; a cell
    merged down several data rows gives its value to each of them."""
    rows = [[_cell(c) for c in r] for r in cells]
    for (r, c), text in errors.items():
        if r < len(rows):
            rows[r] += [None] * (c + 1 - len(rows[r]))
            rows[r][c] = text
    where = f"{path.name} 工作表/sheet “{title}”"
    fill = [((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in merged if c0 == c1 and r1 > r0]
    return _frame(rows, np.arange(1, len(rows) + 1, dtype=np.int64), where, has_coordinates, "row", fill_down=fill)
