"""Compiled shortest-path kernels (numba): bounded searches that cost in proportion to the area they reach.

All kernels work on a CSR adjacency (``indptr``, ``indices``, ``weights`` in metres, float64) of an undirected
graph stored in both directions. Distances are float64 throughout, and a node counts as reached when its
distance is ``<= limit`` (inclusive), so a facility exactly at the threshold is within it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["bounded_from_each"]


@njit(cache=True, inline="always")
def _push(heap_d, heap_v, size, d, v):
    i = size
    heap_d[i] = d
    heap_v[i] = v
    while i > 0:
        parent = (i - 1) >> 1
        if heap_d[parent] <= heap_d[i]:
            break
        heap_d[parent], heap_d[i] = heap_d[i], heap_d[parent]
        heap_v[parent], heap_v[i] = heap_v[i], heap_v[parent]
        i = parent
    return size + 1


@njit(cache=True, inline="always")
def _pop(heap_d, heap_v, size):
    d = heap_d[0]
    v = heap_v[0]
    size -= 1
    heap_d[0] = heap_d[size]
    heap_v[0] = heap_v[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        right = left + 1
        if right < size and heap_d[right] < heap_d[left]:
            child = right
        if heap_d[i] <= heap_d[child]:
            break
        heap_d[child], heap_d[i] = heap_d[i], heap_d[child]
        heap_v[child], heap_v[i] = heap_v[i], heap_v[child]
        i = child
    return d, v, size


@njit(cache=True)
def _grow(arr, need):
    if need <= arr.shape[0]:
        return arr
    out = np.empty(max(need, 2 * arr.shape[0]), dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


@njit(cache=True)
def bounded_from_each(indptr, indices, weights, sources, limit, target_id):
    """From each source separately, every target reached within ``limit``.

    Parameters
    ----------
    sources
        Start nodes (int64), one search each.
    limit
        Search radius in metres (inclusive).
    target_id
        Per node: the target number to report (>= 0), or -1 for nodes that are not targets.

    Returns
    -------
    src, tgt, dist
        One row per (source position, target number) reached, with the distance in metres. Work per
        source is proportional to the nodes it reaches: only touched entries are reset between searches.
    """
    n = indptr.shape[0] - 1
    dist = np.full(n, np.inf)
    touched = np.empty(1024, dtype=np.int64)
    heap_d = np.empty(1024, dtype=np.float64)
    heap_v = np.empty(1024, dtype=np.int64)
    out_s = np.empty(1024, dtype=np.int64)
    out_t = np.empty(1024, dtype=np.int64)
    out_d = np.empty(1024, dtype=np.float64)
    n_out = 0
    for si in range(sources.shape[0]):
        s = sources[si]
        n_touched = 0
        size = 0
        dist[s] = 0.0
        touched = _grow(touched, n_touched + 1)
        touched[n_touched] = s
        n_touched += 1
        heap_d = _grow(heap_d, size + 1)
        heap_v = _grow(heap_v, size + 1)
        size = _push(heap_d, heap_v, size, 0.0, s)
        while size > 0:
            d, v, size = _pop(heap_d, heap_v, size)
            if d > dist[v]:
                continue
            t = target_id[v]
            if t >= 0:
                if n_out >= out_s.shape[0]:
                    out_s = _grow(out_s, n_out + 1)
                    out_t = _grow(out_t, n_out + 1)
                    out_d = _grow(out_d, n_out + 1)
                out_s[n_out] = si
                out_t[n_out] = t
                out_d[n_out] = d
                n_out += 1
            for e in range(indptr[v], indptr[v + 1]):
                w = indices[e]
                nd = d + weights[e]
                if indptr[w + 1] - indptr[w] == 1 and w != s:
                    # a leaf (a point on its access leg) is reached only through v and leads nowhere: report it
                    # now instead of queueing it (v is settled once, so this happens once per search)
                    if nd <= limit and target_id[w] >= 0:
                        if n_out >= out_s.shape[0]:
                            out_s = _grow(out_s, n_out + 1)
                            out_t = _grow(out_t, n_out + 1)
                            out_d = _grow(out_d, n_out + 1)
                        out_s[n_out] = si
                        out_t[n_out] = target_id[w]
                        out_d[n_out] = nd
                        n_out += 1
                    continue
                if nd <= limit and nd < dist[w]:
                    if dist[w] == np.inf:
                        if n_touched >= touched.shape[0]:
                            touched = _grow(touched, n_touched + 1)
                        touched[n_touched] = w
                        n_touched += 1
                    dist[w] = nd
                    if size >= heap_d.shape[0]:
                        heap_d = _grow(heap_d, size + 1)
                        heap_v = _grow(heap_v, size + 1)
                    size = _push(heap_d, heap_v, size, nd, w)
        for k in range(n_touched):
            dist[touched[k]] = np.inf
    return out_s[:n_out].copy(), out_t[:n_out].copy(), out_d[:n_out].copy()
