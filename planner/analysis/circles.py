"""Delineate 一刻钟便民生活圈: group compounds around community centres and list what each circle lacks."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["delineate_circles", "CENTRE_CATEGORY"]

log = logging.getLogger(__name__)

CENTRE_CATEGORY = "community_service"


def delineate_circles(
    compounds: pd.DataFrame,
    nearest_centre: pd.Series,
    centre_dist: pd.Series,
    centres: pd.DataFrame,
    centre_format_dist: pd.DataFrame,
    basic: Sequence[str],
    labels: dict[str, str],
    *,
    radius_m: float,
) -> tuple[pd.DataFrame, pd.Series]:
    """One circle per community centre (社区综合服务站) with the compounds whose nearest centre it is.

    Parameters
    ----------
    nearest_centre, centre_dist
        Per compound: id of the nearest centre and the walking distance to it (inf when none).
    centres
        Centre facilities (``id``, ``name``, ``zone_id``) indexed by id.
    centre_format_dist
        Per centre (rows) and basic format (columns): walking distance from the centre to the nearest
        facility of that format.
    radius_m
        The circle's reach (15-minute walk): compounds farther from every centre belong to no circle, and a
        format is present in a circle when it is within this distance of the centre.

    Returns
    -------
    circles, circle_of
        The circles table (``centre_id``, ``name``, ``zone_id``, ``compounds``, ``population``, ``households``,
        ``formats_present``, ``complete``, ``lacks``) and each compound's circle (centre id or "").
    """
    inside = (centre_dist <= radius_m) & nearest_centre.astype(str).ne("")
    circle_of = nearest_centre.where(inside, "").astype(str)
    members = compounds.assign(circle=circle_of)[inside]
    agg = members.groupby("circle").agg(
        compounds=("population", "size"), population=("population", "sum"), households=("households", "sum")
    )
    rows = []
    for cid in sorted(centres.index.astype(str)):
        present = [c for c in basic if centre_format_dist.loc[cid, c] <= radius_m] if cid in centre_format_dist.index else []
        lacks = [labels[c] for c in basic if c not in present]
        rows.append(
            {
                "centre_id": cid,
                "name": str(centres.loc[cid, "name"]),
                "zone_id": str(centres.loc[cid, "zone_id"]),
                "compounds": int(agg["compounds"].get(cid, 0)),
                "population": float(agg["population"].get(cid, 0.0)),
                "households": float(agg["households"].get(cid, np.nan)) if cid in agg.index else 0.0,
                "formats_present": len(present),
                "complete": not lacks,
                "lacks": "、".join(lacks),
            }
        )
    table = pd.DataFrame(rows, columns=["centre_id", "name", "zone_id", "compounds", "population", "households", "formats_present", "complete", "lacks"])
    log.info("circles: %d, complete %d, compounds outside every circle %d", len(table), int(table["complete"].sum()), int((~inside).sum()))
    return table, circle_of
