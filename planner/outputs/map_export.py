"""Print and PNG export of an interactive map's current view, and its north arrow (issue #14, deliverable 4).

:func:`add_export` adds two Leaflet controls to a folium map:

* top left, under the zoom buttons: **打印** (Print) and **导出PNG** (Export PNG, downloaded as ``地图.png``,
  ``map.png`` in English);
* bottom right: a north arrow (an inline SVG, always shown).

**Print** (A4 landscape, 8 mm margins). From ``beforeprint`` to ``afterprint`` (and around the 打印 button's
``window.print()``) the body has the class ``planner-printing``, which gives the map container the printed page's
size on screen as well, so that Leaflet draws exactly the area printed, centred where the view was: the page width
less a 250 px column where the side panel (``#planner-panel``) shows only the legend (``#planner-legend``, whose
first line is the current view's question), the whole page without a panel. The print style sheet keeps the map,
the title box (``#planner-title``), the legend, the scale bar, the north arrow and the attribution, and hides the
search box, the view buttons, the layer list, the panel toggle and every other control.

**PNG**, drawn offline on one 2D canvas by the page itself: the map container's area (the map's panes in their
stacking order: tile images, the canvas renderers of lines and polygons, the ``planner-points`` canvases of
compounds and facilities, SVG layers, markers, open popups and tooltips; then the title, the scale bar, the north
arrow and the attribution over it) and, right of it, a white column as wide as the panel's legend plus 10 px each
side holding that legend (laid out for the moment even when the panel is closed); the image is as tall as the map,
or the legend if that is taller. A legend that is not in a panel (the comparison map's) is drawn where it is over
the map. Each box is painted from its computed style (background, borders, rounded corners, shadow) with its text
drawn run by run at the positions the browser laid it out, in the page's own (embedded) fonts; the panel's search
box, view buttons and layer list are never drawn. Pending redraws of the point canvases are drawn first, so a view
switched just before is the one exported. Tile images from another site taint the canvas: the export then fails
with a message suggesting 打印 instead. Nothing is loaded from the network.

The page gets ``window.plannerExport = {png(): Promise<dataURL>, print(): Promise, download(), printing()}``.
Elements of other code can opt in to the print and the PNG with the class ``planner-print``, or out of the print
with ``planner-noprint``.
"""

from __future__ import annotations

import json
from typing import Any

import folium
from branca.element import Element, MacroElement
from folium.template import Template

__all__ = ["add_export", "EXPORT_JS", "EXPORT_CSS", "EXPORT_LABELS"]

#: the controls' texts (Chinese, English)
EXPORT_LABELS: dict[str, tuple[str, str]] = {
    "print": ("打印", "Print"),
    "print_title": ("打印当前视图（可另存为 PDF）", "Print the current view (or save it as PDF)"),
    "png": ("导出PNG", "Export PNG"),
    "png_title": ("把当前视图（含标题、图例、比例尺和指北针）导出为 PNG 图片", "Save the current view (with title, legend, scale and north arrow) as a PNG image"),
    "file": ("地图.png", "map.png"),
    "north": ("指北针", "North arrow"),
    "tainted": (
        "底图瓦片来自其他网站，浏览器不允许把它们导出为图片；请改用“打印”（可另存为 PDF）。",
        "The base-map tiles come from another site and the browser will not export them as an image; use Print "
        "(Save as PDF) instead.",
    ),
    "failed": ("导出图片失败：", "Export failed: "),
}


def _labels(lang: str) -> dict[str, str]:
    i = 1 if lang == "en" else 0
    return {key: pair[i] for key, pair in EXPORT_LABELS.items()}


class _Raw(Element):
    """Text put into the page as it is (not read as a Jinja template: the script holds braces)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "PlannerExportRaw"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class _Install(MacroElement):
    """Calls ``plannerExportInstall(map, options)`` in the map's script, after the map exists."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "plannerExportInstall({{ this._parent.get_name() }}, {{ this.options_json }});"
        "{% endmacro %}"
    )

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()
        self._name = "PlannerExport"
        # "</" cannot end the script early; non-ASCII as \u escapes (the font subsetter reads those too)
        self.options_json = json.dumps(options, sort_keys=True).replace("</", "<\\/")


def add_export(fmap: folium.Map, *, lang: str, title: str) -> None:
    """Add the 打印 / 导出PNG control and the north arrow to ``fmap``, and ``window.plannerExport`` to its page.

    Parameters
    ----------
    fmap
        A map made by :func:`planner.outputs.basemaps.offline_map` (Leaflet inlined).
    lang
        ``"zh"`` (Chinese labels) or ``"en"``.
    title
        The map's title: names the control group for screen readers (the download is ``地图.png`` / ``map.png``).
    """
    root = fmap.get_root()
    root.header.add_child(_Raw(f"<style>{EXPORT_CSS}</style>"), name="planner_export_css")
    root.header.add_child(_Raw(f"<script>{EXPORT_JS}</script>"), name="planner_export_js")
    fmap.add_child(_Install({"labels": _labels(lang), "title": title}), name="planner_export")


#: the printed page: A4 landscape inside 8 mm margins (281 mm × 194 mm less 1 mm against a second page); with the
#: side panel the map takes it less a column of this many CSS pixels for the legend
PRINT_PAGE_MM = (281, 193)
PRINT_LEGEND_PX = 250


def _export_css() -> str:
    w, h = PRINT_PAGE_MM
    map_w = f"calc({w}mm - {PRINT_LEGEND_PX}px)"
    printing = "html body.planner-printing "  # "html": wins over the panel's own rules, wherever they come
    return "".join([
        ".planner-export a{width:auto!important;min-width:30px;height:26px!important;line-height:26px!important;"
        "padding:0 5px;font-size:12px!important;white-space:nowrap;text-align:center;color:#222}",
        ".planner-north{background:rgba(255,255,255,.85);border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);"
        "padding:2px 4px;line-height:0}",
        ".planner-export-msg{position:fixed;top:10px;left:50%;transform:translateX(-50%);z-index:2000;max-width:480px;"
        "background:#fff8e1;border:1px solid #d9a300;border-radius:4px;padding:8px 12px;font-size:13px;"
        "box-shadow:0 1px 4px rgba(0,0,0,.3)}",
        # the PNG lays out the legend of a closed panel for the moment it measures it (never seen)
        "html body.planner-export-measure #planner-panel{display:block!important;visibility:hidden!important}",
        "html body.planner-export-measure #planner-legend{visibility:visible!important}",
        # the printed layout, on screen too while printing (Leaflet draws for the size printed): the map a page wide
        # (less the legend column beside it), the panel showing only the legend
        f"{printing}.folium-map{{position:absolute!important;left:0!important;top:0!important;right:auto!important;"
        f"bottom:auto!important;width:{w}mm!important;height:{h}mm!important}}",
        f"html body.planner-printing.planner-has-panel .folium-map{{width:{map_w}!important}}",
        f"{printing}#planner-panel{{display:block!important;position:absolute!important;top:0!important;"
        f"left:{map_w}!important;right:auto!important;bottom:auto!important;width:{PRINT_LEGEND_PX}px!important;"
        f"height:{h}mm!important;overflow:hidden!important;padding:8px 10px!important}}",
        f"{printing}#planner-legend{{border-top:none!important;padding-top:0!important}}",
        f"{printing}.planner-search-box,{printing}#planner-views,{printing}#planner-layers,"
        f"{printing}#planner-panel-toggle,{printing}.planner-export-msg{{display:none!important}}",
        "@media print{",
        "@page{size:A4 landscape;margin:8mm}",
        "html,body{-webkit-print-color-adjust:exact;print-color-adjust:exact;overflow:hidden!important}",
        ".leaflet-control-container .leaflet-control,.planner-noprint,.planner-export-msg,.leaflet-popup-close-button,"
        ".planner-search-box,#planner-views,#planner-layers,#planner-panel-toggle{display:none!important}",
        ".leaflet-control-container .leaflet-control.leaflet-control-scale,"
        ".leaflet-control-container .leaflet-control.leaflet-control-attribution,"
        ".leaflet-control-container .leaflet-control.planner-north,"
        ".leaflet-control-container .leaflet-control.planner-print,"
        "#planner-title,#planner-legend,#planner-panel,.planner-print{display:block!important}",
        "}",
    ])


#: controls, the legend's measuring, the printed layout and the print style sheet
EXPORT_CSS = _export_css()

#: the page script: the controls, the print, and the PNG composed on one canvas
EXPORT_JS = r"""
function plannerExportInstall(fallbackMap, options) {
  "use strict";
  var T = options.labels;
  var NS = "http://www.w3.org/2000/svg";
  function theMap() { return (window.plannerApp && window.plannerApp.map) || fallbackMap; }

  // ---- north arrow: an SVG drawn with paths only (no font needed)
  var NORTH_SVG =
    '<svg xmlns="' + NS + '" width="26" height="44" viewBox="0 0 26 44" role="img" aria-label="' + T.north + '">' +
    '<path d="M8 13V2l10 11V2" fill="none" stroke="#222" stroke-width="2.2" stroke-linejoin="round"/>' +
    '<path d="M13 16L22 42L13 36Z" fill="#222"/><path d="M13 16L4 42L13 36Z" fill="#fff" stroke="#222" stroke-width="1.2" stroke-linejoin="round"/>' +
    '</svg>';
  var North = L.Control.extend({
    options: {position: "bottomright"},
    onAdd: function () {
      var div = L.DomUtil.create("div", "leaflet-control planner-north");
      div.title = T.north;
      div.innerHTML = NORTH_SVG;
      return div;
    }
  });

  // ---- the 打印 / 导出PNG buttons
  function button(parent, cls, text, title, action) {
    var a = L.DomUtil.create("a", cls, parent);
    a.href = "#"; a.setAttribute("role", "button"); a.textContent = text; a.title = title;
    L.DomEvent.on(a, "click", function (e) { L.DomEvent.preventDefault(e); L.DomEvent.stopPropagation(e); action(); });
    return a;
  }
  var Export = L.Control.extend({
    options: {position: "topleft"},
    onAdd: function () {
      var div = L.DomUtil.create("div", "leaflet-bar leaflet-control planner-export planner-noprint");
      div.setAttribute("role", "group"); div.setAttribute("aria-label", options.title);
      button(div, "planner-export-print", T.print, T.print_title, function () { api.print(); });
      button(div, "planner-export-png", T.png, T.png_title, download);
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      return div;
    }
  });

  function message(text) {
    var old = document.querySelector(".planner-export-msg");
    if (old) old.remove();
    var div = document.createElement("div");
    div.className = "planner-export-msg";
    div.setAttribute("role", "alert");
    div.textContent = text;
    document.body.appendChild(div);
    setTimeout(function () { div.remove(); }, 8000);
  }

  function download() {
    return api.png().then(function (url) {
      var a = document.createElement("a");
      a.href = url; a.download = T.file; a.style.display = "none";
      document.body.appendChild(a); a.click(); a.remove();
      return url;
    }, function (err) {
      console.warn("planner export: " + err.message);
      message(err.tainted ? T.tainted : T.failed + err.message);
      return null;
    });
  }

  // ---- painting DOM boxes onto a canvas, from their computed style
  function transparent(c) { return !c || c === "transparent" || /rgba\(.*,\s*0\)$/.test(c); }

  function roundedPath(ctx, x, y, w, h, r) {
    ctx.beginPath();
    if (r > 0 && ctx.roundRect) ctx.roundRect(x, y, w, h, Math.min(r, w / 2, h / 2)); else ctx.rect(x, y, w, h);
  }

  function paintBorders(ctx, cs, x, y, w, h, radius) {
    var sides = ["Top", "Right", "Bottom", "Left"].map(function (s) {
      return {w: parseFloat(cs["border" + s + "Width"]) || 0, c: cs["border" + s + "Color"], s: cs["border" + s + "Style"]};
    });
    var same = sides.every(function (s) { return s.w === sides[0].w && s.c === sides[0].c && s.s === sides[0].s; });
    function dash(style, width) { return style === "dashed" ? [3 * width, 2 * width] : style === "dotted" ? [width, width] : []; }
    if (same) {
      var s = sides[0];
      if (!s.w || s.s === "none" || s.s === "hidden" || transparent(s.c)) return;
      ctx.save(); ctx.lineWidth = s.w; ctx.strokeStyle = s.c; ctx.setLineDash(dash(s.s, s.w));
      roundedPath(ctx, x + s.w / 2, y + s.w / 2, w - s.w, h - s.w, Math.max(radius - s.w / 2, 0)); ctx.stroke();
      ctx.restore();
      return;
    }
    var lines = [[x, y, x + w, y], [x + w, y, x + w, y + h], [x, y + h, x + w, y + h], [x, y, x, y + h]];
    sides.forEach(function (s, i) {
      if (!s.w || s.s === "none" || s.s === "hidden" || transparent(s.c)) return;
      var l = lines[i], inset = [[0, 1], [-1, 0], [0, -1], [1, 0]][i];
      ctx.save(); ctx.lineWidth = s.w; ctx.strokeStyle = s.c; ctx.setLineDash(dash(s.s, s.w));
      ctx.beginPath();
      ctx.moveTo(l[0] + inset[0] * s.w / 2, l[1] + inset[1] * s.w / 2);
      ctx.lineTo(l[2] + inset[0] * s.w / 2, l[3] + inset[1] * s.w / 2);
      ctx.stroke(); ctx.restore();
    });
  }

  function paintText(ctx, node, cs, origin) {
    var text = node.data;
    if (!text || !text.trim()) return;
    ctx.save();
    ctx.font = cs.fontStyle + " " + cs.fontWeight + " " + cs.fontSize + " " + cs.fontFamily;
    ctx.fillStyle = cs.color;
    ctx.textBaseline = "alphabetic";
    var ascent = ctx.measureText("国Ag").fontBoundingBoxAscent;
    var range = document.createRange();
    var run = "", first = null;
    function flush() {
      if (run && first) ctx.fillText(run, first.left - origin.left, first.top - origin.top + ascent);
      run = ""; first = null;
    }
    for (var i = 0; i < text.length; i++) {
      var n = (text.charCodeAt(i) & 0xfc00) === 0xd800 ? 2 : 1;
      range.setStart(node, i); range.setEnd(node, Math.min(i + n, text.length));
      var rects = range.getClientRects();
      if (rects.length && rects[0].width > 0) {
        var rc = rects[0];
        if (first && Math.abs(rc.top - first.top) > 1) flush();
        if (!first) first = rc;
        run += text.substr(i, n);
      }
      i += n - 1;
    }
    flush();
    ctx.restore();
  }

  function svgImage(svg) {
    return new Promise(function (resolve) {
      var copy = svg.cloneNode(true);
      var r = svg.getBoundingClientRect();
      copy.setAttribute("xmlns", NS);
      if (!copy.getAttribute("width")) copy.setAttribute("width", r.width);
      if (!copy.getAttribute("height")) copy.setAttribute("height", r.height);
      var img = new Image();
      img.onload = function () { resolve(img); };
      img.onerror = function () { resolve(null); };
      img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(copy));
    });
  }

  function paintElement(ctx, el, origin, svgs) {
    var cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || parseFloat(cs.opacity) === 0) return;
    var r = el.getBoundingClientRect();
    var x = r.left - origin.left, y = r.top - origin.top, w = r.width, h = r.height;
    var tag = el.tagName.toLowerCase();
    ctx.save();
    ctx.globalAlpha *= parseFloat(cs.opacity);
    if (tag === "canvas") {
      if (w && h && el.width && el.height) ctx.drawImage(el, x, y, w, h);
      ctx.restore(); return;
    }
    if (tag === "img") {
      if (w && h && el.complete && el.naturalWidth) ctx.drawImage(el, x, y, w, h);
      ctx.restore(); return;
    }
    if (tag === "svg") {
      var img = svgs.get(el);
      if (img && w && h) ctx.drawImage(img, x, y, w, h);
      ctx.restore(); return;
    }
    var radius = parseFloat(cs.borderTopLeftRadius) || 0;
    if (w && h && !transparent(cs.backgroundColor)) {
      ctx.save();
      if (cs.boxShadow && cs.boxShadow !== "none") {
        ctx.shadowColor = "rgba(0,0,0,0.3)"; ctx.shadowBlur = 4; ctx.shadowOffsetY = 1;
      }
      ctx.fillStyle = cs.backgroundColor;
      roundedPath(ctx, x, y, w, h, radius); ctx.fill();
      ctx.restore();
    }
    if (w && h) paintBorders(ctx, cs, x, y, w, h, radius);
    if (cs.overflow !== "visible" && w && h) { roundedPath(ctx, x, y, w, h, radius); ctx.clip(); }
    for (var child = el.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 3) paintText(ctx, child, cs, origin);
      else if (child.nodeType === 1) paintElement(ctx, child, origin, svgs);
    }
    ctx.restore();
  }

  // ---- the export
  // the legend of the side panel (#planner-panel) goes into a column right of the map; a legend over the map (the
  // comparison map's) is drawn where it is, with the title, the scale bar, the north arrow and the attribution
  function legendOf() {
    var legend = document.getElementById("planner-legend");
    return legend && legend.closest("#planner-panel") ? legend : null;
  }

  function overlays(column) {
    var boxes = [];
    ["#planner-title", "#planner-legend", ".planner-print", ".leaflet-control-scale", ".planner-north",
     ".leaflet-control-attribution"].forEach(function (sel) {
      document.querySelectorAll(sel).forEach(function (el) {
        if (el === column) return;
        if (boxes.indexOf(el) < 0 && !boxes.some(function (b) { return b.contains(el); })) boxes.push(el);
      });
    });
    return boxes;
  }

  // the map pane's children (tiles, the canvases of lines, polygons and points, markers, popups) in stacking order
  function panes(map) {
    var root = map.getPane("mapPane");
    var list = Array.prototype.slice.call(root.children);
    return list.map(function (p, i) { return {p: p, z: parseInt(getComputedStyle(p).zIndex, 10) || 0, i: i}; })
      .sort(function (a, b) { return a.z - b.z || a.i - b.i; }).map(function (o) { return o.p; });
  }

  function nextFrames() {
    return new Promise(function (resolve) { requestAnimationFrame(function () { requestAnimationFrame(resolve); }); });
  }

  // the canvas point layers redraw on the next animation frame: draw a pending frame now
  function flushPoints(map) {
    map.eachLayer(function (layer) {
      if (layer._frame && typeof layer._draw === "function") {
        L.Util.cancelAnimFrame(layer._frame); layer._frame = 0; layer._draw();
      }
    });
  }

  function svgsOf(elements) {
    var found = [];
    elements.forEach(function (el) {
      el.querySelectorAll("svg").forEach(function (s) { if (!s.parentNode.closest("svg")) found.push(s); });
    });
    return found;
  }

  var PAD = 10;  // the legend column's margin, CSS px

  function png() {
    var map = theMap();
    var body = document.body;
    var svgEls;
    var fonts = document.fonts ? document.fonts.ready : Promise.resolve();
    // after the pending redraws (a view switched just before is drawn) and the fonts
    return nextFrames().then(function () { return fonts; }).then(function () {
      svgEls = svgsOf(panes(map).concat(overlays(legendOf())));
      var legend = legendOf();
      if (legend) svgEls = svgEls.concat(svgsOf([legend]));
      return Promise.all(svgEls.map(svgImage));
    }).then(function (images) {
      var svgs = new Map();
      svgEls.forEach(function (s, i) { svgs.set(s, images[i]); });
      flushPoints(map);
      var container = map.getContainer();
      var origin = container.getBoundingClientRect();
      var legend = legendOf();
      // a closed panel's legend is laid out (invisibly) for the moment it is measured and drawn
      var measuring = Boolean(legend && legend.getClientRects().length === 0);
      if (measuring) body.classList.add("planner-export-measure");
      try {
        var lr = legend ? legend.getBoundingClientRect() : null;
        var hasLegend = lr && lr.width > 0 && lr.height > 0;
        var width = origin.width + (hasLegend ? lr.width + 2 * PAD : 0);
        var height = Math.max(origin.height, hasLegend ? lr.height + 2 * PAD : 0);
        var dpr = window.devicePixelRatio || 1;
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(width * dpr);
        canvas.height = Math.round(height * dpr);
        var ctx = canvas.getContext("2d");
        ctx.scale(dpr, dpr);
        ctx.fillStyle = "#ffffff";
        ctx.fillRect(0, 0, width, height);
        var bg = getComputedStyle(container).backgroundColor;
        if (!transparent(bg)) { ctx.fillStyle = bg; ctx.fillRect(0, 0, origin.width, origin.height); }
        ctx.save();
        ctx.beginPath(); ctx.rect(0, 0, origin.width, origin.height); ctx.clip();
        panes(map).forEach(function (pane) { paintElement(ctx, pane, origin, svgs); });
        overlays(legend).forEach(function (box) { paintElement(ctx, box, origin, svgs); });
        ctx.restore();
        if (hasLegend) {
          ctx.fillStyle = "#cccccc";
          ctx.fillRect(origin.width, 0, 1, height);
          paintElement(ctx, legend, {left: lr.left - origin.width - PAD, top: lr.top - PAD}, svgs);
        }
      } finally {
        if (measuring) body.classList.remove("planner-export-measure");
      }
      try {
        return canvas.toDataURL("image/png");
      } catch (e) {
        var err = new Error(T.tainted);
        err.tainted = true;
        throw err;
      }
    });
  }

  // ---- the print: the map gets the printed page's size (body.planner-printing) so that Leaflet draws what is printed
  var printing = false;
  function startPrint() {
    if (printing) return;
    printing = true;
    var map = theMap();
    document.body.classList.add("planner-printing");
    map.invalidateSize({pan: true, animate: false});
    flushPoints(map);
  }
  function endPrint() {
    if (!printing) return;
    printing = false;
    var map = theMap();
    document.body.classList.remove("planner-printing");
    map.invalidateSize({pan: true, animate: false});
    flushPoints(map);
  }
  window.addEventListener("beforeprint", startPrint);
  window.addEventListener("afterprint", endPrint);

  function print() {
    startPrint();
    return nextFrames().then(function () {
      try { window.print(); } finally { endPrint(); }
    });
  }

  var api = {
    png: png,
    print: print,
    download: download,
    printing: function () { return printing; }
  };
  window.plannerExport = api;
  new Export().addTo(fallbackMap);
  new North().addTo(fallbackMap);
}
"""
