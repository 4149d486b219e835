"""Fonts embedded in the report (``report.html``) and the maps (``index.html``, ``compare.html``): the characters
the page uses, cut into small WOFF fonts.

The Chinese text comes from the bundled Noto Sans CJK SC (:func:`planner.outputs.charts.cjk_font_path`), ✔/✘ from
matplotlib's DejaVu Sans, so the page looks the same on a machine with no Chinese font.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
from pathlib import Path

from planner.outputs import charts

__all__ = ["FONT_STACK", "embed_map_font", "font_faces", "font_faces_of", "page_characters"]

#: the families of the embedded subsets first, then fonts a Chinese system usually has
FONT_STACK = ('"PlannerSymbols","PlannerCJK","Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",'
              '"WenQuanYi Micro Hei","Helvetica Neue",Arial,sans-serif')

#: every text of a map page: the page, Leaflet's container (and so its controls, popups and tooltips, which live in it),
#: the title box and the side panel with its buttons and search box (fixed to the page, outside the container); ``!important`` wins over inline ``font:``
_MAP_FONT_CSS = (
    "body,.leaflet-container,.leaflet-container .leaflet-control,.leaflet-control-layers,.leaflet-popup-content,"
    ".leaflet-tooltip,.foliumpopup,.foliumtooltip,#planner-title,#planner-legend,#planner-panel,#planner-panel button,"
    "#planner-panel input,#planner-panel-toggle"
    f"{{font-family:{FONT_STACK} !important}}"
)

log = logging.getLogger(__name__)


def font_faces(text: str) -> str:
    """CSS ``@font-face`` rules with the characters of ``text`` cut from the bundled fonts.

    Parameters
    ----------
    text
        The page's HTML; tags are ignored and entities decoded. Digits and common punctuation are always kept.

    Returns
    -------
    str
        Rules for the families ``PlannerCJK`` and (when ``text`` has ✓…✘) ``PlannerSymbols``; empty when fontTools
        is missing or a font cannot be read (a warning is logged and the browser's own fonts are used).
    """
    return font_faces_of(html.unescape(re.sub(r"<[^>]+>", " ", text)))


def font_faces_of(characters: str) -> str:
    """:func:`font_faces` for a given set of characters (digits and common punctuation are always added)."""
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
    except ImportError:  # fontTools comes with matplotlib; without it the browser's own fonts are used
        return ""
    chars = set(characters) | set("0123456789%,.·—–（）：；、")
    symbols = {c for c in chars if 0x2713 <= ord(c) <= 0x2718}
    rules = []
    try:
        import matplotlib

        # head.modified stays the font's own date (fontTools would stamp the time of saving: a new report every run);
        # the bounding boxes of head/hhea/vhea/CFF stay those of the whole font (they enclose the subset's): recomputing
        # them draws every kept glyph, half the time of a subset, and no browser lays text out by them
        with TTFont(str(charts.cjk_font_path()), fontNumber=_sc_face_index(), lazy=True, recalcBBoxes=False,
                    recalcTimestamp=False) as cjk:
            rules.append(_subset_face("PlannerCJK", cjk, "".join(sorted(chars - symbols)), subset))
        if symbols:
            with TTFont(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), lazy=True, recalcBBoxes=False,
                        recalcTimestamp=False) as dejavu:
                rules.append(_subset_face("PlannerSymbols", dejavu, "".join(sorted(symbols)), subset, unicode_range="U+2713-2718"))
    except Exception as exc:  # noqa: BLE001 - a font problem must not cost the user the report
        log.warning("could not embed fonts in the page (%s); installed fonts will be used", exc)
        return ""
    return "".join(rules)


def page_characters(page: str) -> str:
    """Every character a page can show, sorted: its literal characters, those of its HTML entities
    (``&amp;``, ``&#24191;``) and of the JSON/JavaScript escapes in its scripts (``\\u5e7f``, surrogate pairs joined).

    The whole page is read, scripts included, so texts that JavaScript assembles on click (popups from packed
    columns and label tables) are covered; the extra characters of code and markup are Latin ones the font holds
    anyway. Control characters are left out.
    """
    chars = set(page)
    for entity in set(re.findall(r"&#?[0-9A-Za-z]+;", page)):
        chars.update(html.unescape(entity))
    escapes = set(re.findall(r"(?<!\\)((?:\\u[0-9a-fA-F]{4})+)", page))
    for run in escapes:
        units = run.encode("ascii").decode("unicode_escape")
        chars.update(units.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))
    return "".join(sorted(c for c in chars if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF))


def embed_map_font(page: str) -> str:
    """``page`` (a rendered folium map) with the subset fonts of its characters and the rule that applies them to
    every text of the map (:data:`_MAP_FONT_CSS`) in its head; ``page`` unchanged when no font could be cut."""
    faces = font_faces_of(page_characters(page))
    if not faces:
        return page
    style = f"<style id=\"planner-font\">{faces}{_MAP_FONT_CSS}</style>"
    at = page.find("</head>")
    return page[:at] + style + page[at:] if at >= 0 else style + page


def _sc_face_index() -> int:
    """Index of the Simplified-Chinese face in the bundled collection."""
    from fontTools.ttLib import TTCollection

    with TTCollection(str(charts.cjk_font_path()), lazy=True) as coll:
        for i, font in enumerate(coll.fonts):
            if font["name"].getDebugName(1) == "Noto Sans CJK SC":
                return i
    return 0


def _subset_face(family: str, font, text: str, subset, unicode_range: str | None = None) -> str:
    """One ``@font-face`` rule: ``font`` cut down to the glyphs of ``text``, as a base64 WOFF."""
    opts = subset.Options()
    opts.layout_features = []
    opts.hinting = True  # keeping hints is faster than stripping them from every charstring
    opts.name_IDs = [0, 1, 2, 13, 14]  # keep the copyright and licence records (SIL OFL / Bitstream Vera)
    opts.flavor = "woff"
    opts.drop_tables += ["FFTM"]  # FontForge's timestamp table (DejaVu): nothing to keep
    # no layout features are kept, so the layout tables would be read only to be emptied (the slowest part to read)
    opts.drop_tables += ["GSUB", "GPOS", "GDEF", "BASE", "JSTF", "MATH"]
    sub = subset.Subsetter(opts)
    sub.populate(text=text)
    sub.subset(font)
    buf = io.BytesIO()
    font.flavor = "woff"
    font.save(buf)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    rng = f"unicode-range:{unicode_range};" if unicode_range else ""
    return f"@font-face{{font-family:\"{family}\";src:url(data:font/woff;base64,{data}) format(\"woff\");{rng}font-display:block}}"
