"""Choose the one metric CRS used for all distance work (layers are projected into it where they are read)."""

from __future__ import annotations

from pyproj import CRS

__all__ = ["choose_metric_crs"]


def choose_metric_crs(lon: float, lat: float, requested: str = "auto") -> CRS:
    """The projected CRS (units: metres) for an area centred at ``lon``, ``lat`` (WGS84 degrees).

    ``requested = "auto"`` picks, inside China, the CGCS2000 3-degree Gauss-Krüger zone whose
    central meridian is nearest (EPSG:4534–4554, the projection Chinese planning data uses);
    elsewhere the WGS84 UTM zone. Any other value is taken as a CRS and must be projected in metres.
    """
    if requested != "auto":
        crs = CRS.from_user_input(requested)
        if not crs.is_projected or crs.axis_info[0].unit_name not in ("metre", "meter"):
            from planner.errors import ScenarioError

            raise ScenarioError(
                f"crs = {requested!r} 不是以米为单位的投影坐标系 / is not a projected CRS in metres; "
                "use \"auto\" or e.g. \"EPSG:4549\""
            )
        return crs
    if 73.5 <= lon <= 136.5 and 3.0 <= lat <= 54.0:
        central = int(round(lon / 3.0)) * 3
        central = min(max(central, 75), 135)
        return CRS.from_epsg(4534 + (central - 75) // 3)
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)
