"""The page `planner serve` answers at ``/``: the run's gap map (the map app of ``index.html``) with the editor.

The page is the run's gap map (:func:`planner.outputs.maps.gap_map`, on the offline base map: nothing is loaded
from outside the server) with the 规划推演 block of ``serve_app.js`` added to its side panel; the editor reads and
changes the map app's data through its hooks (``plannerApp.config()``, ``redraw()``, ``hidden``,
``facilityExtra``, ``siteExtra``) and talks to the JSON API only. Built once, on the first request, and kept.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
from importlib import resources

from branca.element import Element

from planner.labels import LABELS, tr
from planner.outputs.map_layers import RawElement, to_json
from planner.outputs.maps import gap_map, number_elements, render_map
from planner.outputs.reproducible import stable_ids
from planner.schema import minutes_text

__all__ = ["ServedPage", "editor_config"]

log = logging.getLogger(__name__)


class ServedPage:
    """The served page of ``result`` (a :class:`planner.pipeline.RunResult`), built on first use and cached."""

    def __init__(self, result, *, lang: str | None = None) -> None:
        self.result = result
        self.lang = lang or result.scenario.language or "zh"
        self._html: str | None = None
        self._lock = threading.Lock()

    def html(self) -> str:
        if self._html is None:
            with self._lock:
                if self._html is None:
                    self._html = build_page(self.result, lang=self.lang)
        return self._html


def build_page(result, *, lang: str) -> str:
    """The gap map of ``result`` with the editor, as one HTML text (fonts embedded, no outside address)."""
    sc = result.scenario
    with stable_ids():
        fmap = gap_map(
            title=sc.name, lang=lang, sample_data=sc.sample_data, basemap="offline", network=result.network,
            zones=result.zones, zone_table=result.zone_table, compounds=result.compounds, coverage=result.coverage,
            facilities=result.facilities, taxonomy=result.taxonomy, max_snap_m=sc.max_snap_m, isochrones=result.isochrones,
            compliance=result.compliance.table if result.compliance is not None else None,
            rules=result.compliance.rules if result.compliance is not None else (), sites=result.sites,
            site_catchments=result.site_catchments, report_link="#", speeds=sc.speeds,
        )
        root = fmap.get_root()
        root.header.add_child(RawElement(f"<script>{_serve_js()}</script>"), name="planner_serve_js")
        root.header.add_child(RawElement(_SERVE_CSS), name="planner_serve_css")
        # the page's font holds the characters on it when built; names a planner types (a new facility, a plan) may
        # use others: the 3 755 common characters (GB 2312 level 1) go into the font too, so they show on a machine
        # without Chinese fonts
        root.header.add_child(RawElement(f"<script type=\"text/plain\" id=\"planner-typed-chars\">{common_characters()}</script>"),
                              name="planner_typed_chars")
        root.header.add_child(Element(f"<title>{html.escape(tr('serve.page_title', lang))} · {html.escape(sc.name)}</title>"),
                              name="page_title")
        # after the map app has started (its init call is written into the page's script when the page renders)
        root.script.add_child(RawElement("document.addEventListener('DOMContentLoaded', function () { plannerServe.init(planner_app, "
                                         f"{to_json(editor_config(result, lang))}); }});\n"), name="planner_serve_init")
        number_elements(fmap)
        page = render_map(fmap)
    return no_outside_addresses(page)


def common_characters() -> str:
    """The 3 755 characters of GB 2312 level 1 (汉字 in common use), in code order."""
    raw = bytes(b for hi in range(0xB0, 0xD8) for lo in range(0xA1, 0xFF) for b in (hi, lo))
    return "".join(c for c in raw.decode("gb2312", errors="ignore") if "\u4e00" <= c <= "\u9fff")


def no_outside_addresses(page: str) -> str:
    """``page`` without the text ``http://`` or ``https://``: the only ones a gap map holds are inside Leaflet's
    script and style (the SVG name space, a link to leafletjs.com, comments), where ``:\\/\\/`` reads the same in
    a script string and is inert in a comment. Nothing on the page can then point outside the server."""
    return page.replace("http://", "http:\\/\\/").replace("https://", "https:\\/\\/")


def editor_config(result, lang: str) -> dict:
    """What ``serve_app.js`` needs besides the API: its texts, the categories that can be added (with what a
    facility of each holds), the suggested sites' categories and WGS84 positions, the thresholds."""
    tax = result.taxonomy
    analysed = list(result.coverage.categories)
    cats = []
    for key in analysed:
        c = tax[key]
        cats.append({"key": key, "label": c.label(lang), "colour": c.color, "group": c.group,
                     "places": c.group == "childcare", "beds": c.group == "elderly"})
    sites = []
    if result.sites is not None and len(result.sites):
        wgs = result.sites.to_crs(4326)
        for row, geom in zip(wgs.itertuples(index=False), wgs.geometry, strict=True):
            want = [row.category] + ([row.partner] if isinstance(getattr(row, "partner", None), str) and row.partner else [])
            sites.append({"no": int(row.no), "cats": [c for c in want if c in analysed], "lon": round(float(geom.x), 7),
                          "lat": round(float(geom.y), 7), "name": str(getattr(row, "name", "") or "")})
    labels = {k[len("serve."):]: tr(k, lang) for k in LABELS if k.startswith("serve.")}
    labels.update({f"edit.{k}": tr(f"whatif.edit.{k}", lang) for k in ("add", "move", "remove")})
    labels.update({f"group.{g}": tr(f"whatif.group.{g}", lang) for g in ("population", "age_60_plus", "age_0_3")})
    return {"lang": lang, "labels": labels, "categories": cats, "sites": sites,
            "longest": minutes_text(max(result.coverage.thresholds_min)) + ("分钟" if lang == "zh" else " min")}


@functools.lru_cache(maxsize=1)
def _serve_js() -> str:
    return resources.files("planner.serve").joinpath("serve_app.js").read_text(encoding="utf-8")


#: the 规划推演 block of the side panel, the edited facilities' symbols and the isochrone of a new facility
_SERVE_CSS = """<link rel="icon" href="data:,"><style>
#planner-edit{border-top:1px solid #ddd;border-bottom:1px solid #ddd;padding:6px 0;margin:6px 0}
#planner-edit h3{font-size:14px;margin:0 0 4px;color:#3f007d}
#planner-edit select,#planner-edit option,#planner-edit input,#planner-edit button{font-family:inherit}
#planner-edit .modes{display:flex;gap:3px;margin-bottom:4px}
#planner-edit .modes button{flex:1;padding:4px 2px;border:1px solid #3f007d;background:#fff;color:#3f007d;border-radius:4px;cursor:pointer;font-size:12px}
#planner-edit .modes button.active{background:#3f007d;color:#fff}
#planner-edit .form{display:grid;grid-template-columns:auto 1fr;gap:2px 6px;align-items:center;font-size:12px;margin:4px 0}
#planner-edit .form input[type=text],#planner-edit .form input[type=number],#planner-edit .form select{width:100%;box-sizing:border-box;font-size:12px;padding:2px}
#planner-edit .actions{display:flex;gap:3px;margin:4px 0}
#planner-edit .actions button{flex:1;padding:4px 2px;font-size:12px;cursor:pointer;border:1px solid #999;background:#f7f7f7;border-radius:4px}
#planner-edit .actions button:disabled{color:#aaa;cursor:default}
#planner-edit .hint{color:#555;font-size:12px}
#planner-edit-status{font-size:12px;color:#555;min-height:1.2em}
#planner-edit-error{font-size:12px;color:#b2182b;white-space:pre-wrap}
#planner-edit-saved{font-size:12px;color:#1a9850;word-break:break-all}
#planner-vs{font-size:12px;margin-top:4px}
#planner-vs h4{font-size:13px;margin:6px 0 2px}
#planner-vs table{border-collapse:collapse;width:100%}
#planner-vs td,#planner-vs th{border-bottom:1px solid #eee;padding:1px 2px;text-align:left;vertical-align:top}
#planner-saved{font-size:12px;margin-top:6px}#planner-saved table{border-collapse:collapse;width:100%}#planner-saved td,#planner-saved th{border-bottom:1px solid #eee;padding:1px 2px;text-align:left;vertical-align:top}#planner-saved .up{color:#1a9850}#planner-saved .down{color:#b2182b}#planner-saved td.nowrap{white-space:nowrap}#planner-saved tr.zone th{background:#f4f1f8}#planner-saved .saved-row{margin:3px 0}#planner-saved h4{font-size:13px;margin:6px 0 2px}#planner-vs tr.zone th{background:#f4f1f8;padding-top:3px}#planner-vs td.nowrap{white-space:nowrap}#planner-vs .up{color:#1a9850}#planner-vs .down{color:#b2182b}
#planner-sites label{display:block;font-size:12px}
.planner-edit-mark div{width:20px;height:20px;line-height:16px;border:2px solid #000;border-radius:50%;color:#fff;font:bold 13px sans-serif;
 text-align:center;box-sizing:border-box;box-shadow:0 0 0 2px #fff;cursor:move}
.planner-edit-mark.removed div{background:#bdbdbd!important;color:#b2182b;cursor:default;border-color:#b2182b}
body.planner-mode-add .leaflet-container{cursor:crosshair}
body.planner-mode-remove .leaflet-container{cursor:not-allowed}
</style>"""
