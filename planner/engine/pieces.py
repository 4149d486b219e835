"""Connected pieces of the walk network, and which of them are too small to snap points to.

A *piece* is a connected component of the network that has at least one edge. A point snapped onto a 2 m flight of
steps or a 9 m footway cut off from every street reaches nothing, so such pieces are left out of snapping: a piece
is **small** when its street length is under ``min_piece_m`` metres **and** under ``min_share`` (1 %) of the
largest piece's street length. The largest piece is never small, so a network always keeps a piece to snap to; a
small network of a few separate streets of similar length keeps them all (none is under 1 % of the largest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from planner.engine.streets import StreetArrays

__all__ = ["Pieces", "MIN_SHARE", "street_pieces"]

MIN_SHARE = 0.01  # a small piece is also under this share of the largest piece's street length


@dataclass(frozen=True)
class Pieces:
    """The network's pieces, numbered by decreasing street length (ties by their first edge).

    edge_piece
        The piece of each edge.
    length_m
        Street length (metres, along the edges) of each piece.
    small
        Per piece: True when it is too small to snap to.
    min_piece_m
        The rule's length limit (metres).
    """

    edge_piece: np.ndarray
    length_m: np.ndarray
    small: np.ndarray
    min_piece_m: float

    @property
    def n_pieces(self) -> int:
        return len(self.length_m)

    @property
    def n_small(self) -> int:
        return int(self.small.sum())

    @property
    def small_km(self) -> float:
        """Street length of the small pieces, in km."""
        return float(self.length_m[self.small].sum() / 1000.0)

    @property
    def edge_ok(self) -> np.ndarray:
        """Per edge: True when points may snap to it (its piece is not small)."""
        return ~self.small[self.edge_piece]


def street_pieces(streets: StreetArrays, *, min_piece_m: float, min_share: float = MIN_SHARE,
                  largest_m: float | None = None) -> Pieces:
    """The pieces of ``streets`` and which are small (under ``min_piece_m`` metres and under ``min_share`` of the
    largest piece's street length); ``min_piece_m = 0`` makes none small.

    ``largest_m`` (metres): the largest piece's street length of a whole network of which ``streets`` is a part;
    the ``min_share`` clause then uses the larger of it and the largest piece here (so even the largest piece
    here may be small).

    One connected-components labelling of the node graph (scipy), then sums per piece: O(nodes + edges).
    """
    n_edges = streets.n_edges
    if n_edges == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Pieces(empty, np.zeros(0), np.zeros(0, dtype=bool), float(min_piece_m))
    graph = coo_array((np.ones(n_edges, dtype=np.int8), (streets.u, streets.v)), shape=(streets.n_nodes, streets.n_nodes))
    _, labels = connected_components(graph, directed=False)
    # pieces with edges only (an isolated node has no street to snap to), numbered by first edge, then by length
    comp, first_edge, edge_comp = np.unique(labels[streets.u], return_index=True, return_inverse=True)
    length = np.bincount(edge_comp, weights=streets.length, minlength=len(comp))
    order = np.lexsort((first_edge, -length))  # longest first; equal lengths by their first edge
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    length = length[order]
    largest = length[0] if largest_m is None else max(float(length[0]), float(largest_m))
    small = (length < float(min_piece_m)) & (length < min_share * largest)
    return Pieces(rank[edge_comp], length, small, float(min_piece_m))
