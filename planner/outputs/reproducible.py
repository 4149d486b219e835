"""Reproducible output files: one fixed timestamp, GeoPackages stamped with it, stable element ids in the maps.

Two runs of one scenario write the same bytes (``summary.json`` aside, which records when and how fast a run was).
Every timestamp a file format asks for — ``gpkg_contents.last_change`` of a GeoPackage, ``docProps/core.xml`` of a
workbook — is :func:`file_time`: ``SOURCE_DATE_EPOCH`` when set (the reproducible-builds convention, seconds since
1970-01-01 UTC), else :data:`EPOCH`, 1980-01-01 00:00 UTC, the earliest time a zip entry can hold and the one
XlsxWriter already gives the entries of a workbook. The map, report and workbook print a generation date only when
``SOURCE_DATE_EPOCH`` is set (:func:`shown_date`).
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from planner.errors import PlannerError

__all__ = ["EPOCH", "source_date", "file_time", "shown_date", "stable_ids", "write_gpkg"]

#: the timestamp of every output file when ``SOURCE_DATE_EPOCH`` is not set
EPOCH = _dt.datetime(1980, 1, 1, tzinfo=_dt.UTC)

_GDAL_LOCK = threading.Lock()  # GDAL config options are process-wide: one GeoPackage write at a time sets its own
_IDS_LOCK = threading.RLock()


def source_date() -> _dt.datetime | None:
    """``SOURCE_DATE_EPOCH`` as a UTC time, or None when it is unset or empty.

    Raises
    ------
    PlannerError
        When it is set to anything but a whole number of seconds between 1980 and 9999.
    """
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return None
    try:
        seconds = int(raw)
        stamp = _dt.datetime.fromtimestamp(seconds, tz=_dt.UTC)
    except (ValueError, OverflowError, OSError):
        stamp = None
    if stamp is None or stamp < EPOCH:
        raise PlannerError(
            f"环境变量 SOURCE_DATE_EPOCH={raw!r} 不是 1980 年以后的秒数（自 1970-01-01 UTC 起的整数，如 $(date +%s)）；"
            f"请改正或删除它 / the environment variable SOURCE_DATE_EPOCH={raw!r} is not a whole number of seconds since "
            "1970-01-01 UTC from 1980 on (e.g. $(date +%s)); correct it or unset it"
        )
    return stamp


def file_time() -> _dt.datetime:
    """The timestamp written into output files: ``SOURCE_DATE_EPOCH`` when set, else :data:`EPOCH` (UTC)."""
    return source_date() or EPOCH


def shown_date() -> str | None:
    """The generation date printed on the map, report and workbook (``YYYY-MM-DD``, UTC): that of
    ``SOURCE_DATE_EPOCH``, or None (no date printed) when it is not set."""
    stamp = source_date()
    return None if stamp is None else stamp.date().isoformat()


def write_gpkg(frame, path: str | Path, *, layer: str, **kwargs) -> None:
    """Write a GeoDataFrame as a GeoPackage layer (pyogrio) whose ``last_change`` is :func:`file_time`.

    GDAL stamps ``gpkg_contents`` with the current time unless its config option ``OGR_CURRENT_DATE`` is set; it
    is set for this write only (and restored after it). Other keywords go to ``GeoDataFrame.to_file``.
    """
    import pyogrio

    stamp = file_time().astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    with _GDAL_LOCK:
        before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
        try:
            frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", index=False, **kwargs)
        finally:
            pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


@contextmanager
def stable_ids() -> Iterator[None]:
    """Within the block, every new folium/branca element gets a counted id (``r0000001``, ``r0000002`` …) instead
    of a random one — including the elements that plugins and templates create while the map is rendered.

    Build and save a map inside it; :func:`planner.outputs.maps.number_elements` then renumbers the elements of the
    map's tree in document order (hex digits only, so the two never collide).
    """
    from branca.element import Element

    counter = itertools.count(1)
    # branca ≥ 0.8 draws every id in the class method _generate_id; older releases in __init__, which is wrapped then
    hook = "_generate_id" if "_generate_id" in Element.__dict__ else "__init__"
    with _IDS_LOCK:
        original = Element.__dict__[hook]
        if hook == "_generate_id":
            Element._generate_id = classmethod(lambda cls: f"r{next(counter):07d}")
        else:
            def counted_init(self, *args, **kwargs) -> None:
                original(self, *args, **kwargs)
                self._id = f"r{next(counter):07d}"

            Element.__init__ = counted_init
        try:
            yield
        finally:
            setattr(Element, hook, original)
