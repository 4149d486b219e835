"""Candidate dominance without a dense candidates × candidates matrix: the same candidates are dropped as by the
one-by-one sweep over a dense overlap matrix it replaced (the oracle below), on random cover problems."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from planner.siting.models import CoverProblem, reduce_problem


def _sweep(merged: sp.csr_matrix, zone: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The dense one-by-one sweep: candidate j goes when a still-kept bigger one of its zone covers all its rows."""
    keep = keep.copy()
    sizes = np.asarray(merged.sum(axis=0)).ravel()
    inter = (merged.T.astype(np.int32) @ merged.astype(np.int32)).toarray()
    for j in np.flatnonzero(keep):
        if sizes[j] == 0:
            continue
        contains = (inter[j] == sizes[j]) & (zone == zone[j])
        contains[j] = False
        bigger = contains & ((sizes > sizes[j]) | ((sizes == sizes[j]) & (np.arange(len(sizes)) < j)))
        if (bigger & keep).any():
            keep[j] = False
    return keep


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("required", [(), ("A",)])
def test_sparse_dominance_equals_the_dense_sweep(seed, required):
    rng = np.random.default_rng(seed)
    n_dem, n_cand = int(rng.integers(5, 60)), int(rng.integers(3, 40))
    dense = rng.random((n_dem, n_cand)) < rng.uniform(0.05, 0.4)
    dense[:, rng.integers(0, n_cand)] = dense[:, rng.integers(0, n_cand)]  # identical columns: ties by index
    weight = np.where(rng.random(n_dem) < 0.15, 0.0, rng.uniform(1, 100, n_dem))
    zone = rng.choice(["A", "B", "C"], n_cand)
    problem = CoverProblem(sp.csr_matrix(dense), weight, zone, required_zones=required)
    reduced, groups, kept = reduce_problem(problem)
    # rebuild the merged rows the reduction works on, and sweep them
    rows = sorted({tuple(np.flatnonzero(r)) for r, w in zip(dense, weight, strict=True) if w > 0 and r.any()})
    merged = sp.csr_matrix((len(rows), n_cand), dtype=bool)
    if rows:
        merged = sp.csr_matrix(np.array([[c in r for c in range(n_cand)] for r in rows]))
    sizes = np.asarray(merged.sum(axis=0)).ravel()
    keep0 = sizes > 0 if required == () else np.ones(n_cand, dtype=bool)
    want = np.flatnonzero(_sweep(merged, zone, keep0)) if rows else np.flatnonzero(keep0)
    np.testing.assert_array_equal(kept, want)
    assert reduced.n_candidates == len(want)
