"""Connected components of a graph given as index pairs (union-find; no graph library in the base
install)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def component_labels(count: int, pairs: Iterable[tuple[int, int]]) -> np.ndarray:
    """Per node ``0 .. count-1``, the smallest node of its connected component (``int64 [count]``);
    ``pairs`` are the edges, in any order, self-loops allowed."""
    parent = np.arange(count)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        # Joining the larger root under the smaller keeps every root its component's smallest node.
        parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(count)], dtype=np.int64)
