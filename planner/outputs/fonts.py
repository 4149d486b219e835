"""Fonts embedded in the report (``report.html``): the characters the page uses, cut into small WOFF fonts.

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

__all__ = ["font_faces"]

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
    try:
        from fontTools import subset
        from fontTools.ttLib import TTFont
    except ImportError:  # fontTools comes with matplotlib; without it the browser's own fonts are used
        return ""
    chars = set(html.unescape(re.sub(r"<[^>]+>", " ", text))) | set("0123456789%,.·—–（）：；、")
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
        log.warning("could not embed fonts in the report (%s); installed fonts will be used", exc)
        return ""
    return "".join(rules)


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
