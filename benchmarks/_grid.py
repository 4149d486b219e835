"""The perturbed street grid the benchmarks generate: one recipe, shared by reach.py and e2e.py."""

from __future__ import annotations

import numpy as np

__all__ = ["perturbed_grid"]


def perturbed_grid(side: int, rng: np.random.Generator, *, origin: tuple[float, float], spacing: float = 100.0,
                   jitter: float = 15.0, removed: float = 0.03):
    """A side × side grid of crossings ``spacing`` metres apart, each moved up to ±``jitter`` m, with a share
    ``removed`` of the block edges dropped and the nodes left without an edge removed.

    Returns node x, y (metres, from ``origin``), edge ends u, v (renumbered node positions) and the grid row and
    column of every kept node.
    """
    ii, jj = np.divmod(np.arange(side * side), side)
    x = origin[0] + jj * spacing + rng.uniform(-jitter, jitter, side * side)
    y = origin[1] + ii * spacing + rng.uniform(-jitter, jitter, side * side)
    idx = np.arange(side * side).reshape(side, side)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    keep = rng.random(len(u)) >= removed
    u, v = u[keep], v[keep]
    used = np.zeros(side * side, dtype=bool)
    used[u] = True
    used[v] = True
    new_id = np.cumsum(used) - 1
    return x[used], y[used], new_id[u], new_id[v], ii[used], jj[used]
