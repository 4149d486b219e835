"""Base maps of the interactive maps: offline (the walk network), OpenStreetMap, 天地图 and 高德 tiles.

``offline`` needs no internet: the map draws the walk network as its basemap. The tile base maps are loaded by
the browser from their providers, so they need internet where the map is opened:

* ``osm`` — OpenStreetMap's standard tiles (WGS84, no shift);
* ``tianditu`` — 天地图 vector map plus its annotation layer (Chinese, or English when the map is in English).
  天地图 serves tiles only with a key (``tk``) that each user applies for; the scenario gives it as
  ``tianditu_key``. 天地图's ``_w`` tiles are Web Mercator on CGCS2000, which equals WGS84 at map scale;
* ``amap`` — 高德 road map tiles, which are drawn in GCJ-02: every geometry of the map is shifted from WGS84 to
  GCJ-02 (:func:`planner.io.coords.wgs84_to_gcj02`) so that it lines up with the streets on the tiles. Popups and
  tables keep WGS84 values; only the drawing is shifted.

Every interactive map starts from :func:`offline_map`, which inlines Leaflet so that the page loads no script
from a CDN.
"""

from __future__ import annotations

from importlib import resources

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from folium.template import Template

from planner.io.coords import wgs84_to_gcj02
from planner.labels import tr
from planner.settings import BASEMAPS, Basemap, check_basemap

__all__ = ["BASEMAPS", "Basemap", "check_basemap", "needs_gcj02", "to_display", "offline_map", "add_basemap", "LEAFLET_VERSION"]

#: the Leaflet release inlined into every map (shipped by ``django-js-lib-leaflet``)
LEAFLET_VERSION = "1.9.4"


_TIANDITU = "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default" \
    "&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
_AMAP = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"


def needs_gcj02(basemap: str) -> bool:
    """Whether geometries must be shifted to GCJ-02 to line up with the base map's tiles (高德)."""
    return basemap == "amap"


def to_display(frame: gpd.GeoDataFrame | None, basemap: str) -> gpd.GeoDataFrame | None:
    """``frame`` in WGS84 as drawn on ``basemap``: shifted to GCJ-02 for 高德, unchanged otherwise.

    The result is labelled EPSG:4326 either way (Leaflet takes degrees); only the drawing uses it.
    """
    if frame is None:
        return None
    wgs = frame.to_crs(4326)
    if not needs_gcj02(basemap) or not len(wgs):
        return wgs

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = wgs.copy()
    out[out.geometry.name] = shapely.transform(wgs.geometry.to_numpy(), shift)
    return out


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS, shipped by the ``django-js-lib-leaflet`` package (BSD-2, no dependencies)."""
    base = resources.files("js_lib_leaflet").joinpath("static/js_lib_leaflet")
    return base.joinpath("leaflet.js").read_text(encoding="utf-8"), base.joinpath("leaflet.css").read_text(encoding="utf-8")


class _MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def offline_map(location: list[float], *, tiles: str | None) -> folium.Map:
    """A folium map centred on ``location`` (lat, lon) with Leaflet inlined: it loads nothing from a CDN.

    Parameters
    ----------
    location
        The centre, ``[lat, lon]`` in degrees.
    tiles
        folium's ``tiles`` argument; ``None`` for no tile layer (add one with :func:`add_basemap`).
    """
    fmap = folium.Map(location=location, tiles=tiles, zoom_start=14, control_scale=False, prefer_canvas=True)
    fmap.add_child(_MetricScale())  # folium's own scale bar shows feet and miles too
    # No CDN: Leaflet is inlined and folium's other default assets (jQuery, Bootstrap, icons) are not used.
    fmap.default_js = []
    fmap.default_css = []
    js, css = _leaflet_assets()
    header = fmap.get_root().header
    header.add_child(folium.Element(f"<style>{css}</style>"), name="leaflet_css_inline")
    header.add_child(folium.Element(f"<script>{js}</script>"), name="leaflet_js_inline")
    return fmap


def add_basemap(fmap: folium.Map, basemap: str, *, lang: str = "zh", tianditu_key: str | None = None) -> None:
    """Add the tile layers of ``basemap`` to ``fmap`` (nothing for ``offline``)."""
    check_basemap(basemap, tianditu_key)
    if basemap == "osm":
        folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=True).add_to(fmap)
    elif basemap == "tianditu":
        key = (tianditu_key or "").strip()
        attr = "© 天地图 / Tianditu (国家地理信息公共服务平台)"
        folium.TileLayer(
            tiles=_TIANDITU.format(layer="vec", key=key, s="{s}"), attr=attr, name=tr("ui.basemap_tianditu", lang),
            subdomains="01234567", max_zoom=18,
        ).add_to(fmap)
        note = "cva" if lang == "zh" else "eva"  # Chinese or English annotation
        folium.TileLayer(
            tiles=_TIANDITU.format(layer=note, key=key, s="{s}"), attr=attr, name=tr("ui.basemap_tianditu_labels", lang),
            subdomains="01234567", max_zoom=18, overlay=True, control=True,
        ).add_to(fmap)
    elif basemap == "amap":
        folium.TileLayer(
            tiles=_AMAP, attr="© 高德地图 / AutoNavi (GCJ-02)", name=tr("ui.basemap_amap", lang), subdomains="1234", max_zoom=18,
        ).add_to(fmap)
