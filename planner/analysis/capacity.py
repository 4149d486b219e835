"""Capacity supply and demand with the (enhanced) two-step floating catchment area method on walking distances.

Step 1: each facility j's ratio R_j = S_j / Σ_k W(d_kj) · D_k over the compounds k within the catchment;
step 2: each compound i's accessibility A_i = Σ_j W(d_ij) · R_j over the facilities within reach. With W ≡ 1
this is 2SFCA (Luo & Wang 2003); with stepwise weights per distance band it is E2SFCA (Luo & Qi 2009, whose
weights for three bands are 1.00, 0.68 and 0.22). Supply that no demand can reach stays unused; demand that no
supply reaches gets 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["two_step_fca", "E2SFCA_WEIGHTS"]

E2SFCA_WEIGHTS = (1.0, 0.68, 0.22)


def two_step_fca(
    pairs: pd.DataFrame,
    supply: pd.Series,
    demand: pd.Series,
    *,
    bands_m: Sequence[float],
    weights: Sequence[float] | None = None,
) -> pd.Series:
    """Accessibility of every demand unit (supply per unit of demand within reach).

    Parameters
    ----------
    pairs
        Catchment pairs with columns ``facility_id``, ``compound_id``, ``dist_m`` (metres).
    supply
        Capacity per facility id (e.g. 托位); facilities absent or NaN supply nothing.
    demand
        Demand per compound id (e.g. population or 0–3-year-olds).
    bands_m
        Upper edges of the distance bands in metres (ascending); pairs beyond the last are ignored.
    weights
        Weight per band; ``None`` = all 1 (plain 2SFCA).

    Returns
    -------
    Series on ``demand``'s index: supply units per unit of demand (multiply by 1000 for "per 1000").
    """
    bands = np.asarray(bands_m, dtype=float)
    w = np.ones(len(bands)) if weights is None else np.asarray(weights, dtype=float)
    if len(w) != len(bands):
        raise ValueError("one weight per band")
    p = pairs[pairs["dist_m"] <= bands[-1]].copy()
    p["w"] = w[np.searchsorted(bands, p["dist_m"].to_numpy(), side="left")]
    p["S"] = supply.reindex(p["facility_id"]).fillna(0).to_numpy(dtype=float)
    p["D"] = demand.reindex(p["compound_id"]).fillna(0).to_numpy(dtype=float)
    weighted_demand = (p["w"] * p["D"]).groupby(p["facility_id"]).sum()
    ratio = supply.reindex(weighted_demand.index).fillna(0) / weighted_demand.replace(0, np.nan)
    p["R"] = ratio.reindex(p["facility_id"]).fillna(0).to_numpy()
    access = (p["w"] * p["R"]).groupby(p["compound_id"]).sum()
    return access.reindex(demand.index).fillna(0.0)
