"""Candidate pairs from shared keys, and connected components, with memory linear in the input.

A bucket is a set of documents sharing one key (an exact text key, or one MinHash band). Each member of
a bucket is paired with the bucket's `anchors` smallest ids: one anchor (a star) is enough when every
pair of a bucket counts; when pairs are verified afterwards, more anchors keep two similar members
linked even when the smallest member is a chance collision that fails verification with both. The pairs
do not depend on the order documents arrive in. Components come from scipy's connected components;
each is labelled with its smallest id: the kept document.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def bucket_edges(keys: np.ndarray, ids: np.ndarray, anchors: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(anchor id, member id) pairs: each member of a bucket with each of the bucket's `anchors` smallest
    ids below it. A bucket of k members gives about min(k, anchors) * k pairs."""
    empty = np.empty(0, dtype=np.int64)
    if len(keys) == 0:
        return empty, empty
    order = np.lexsort((ids, keys))
    sorted_keys, sorted_ids = keys[order], ids[order].astype(np.int64)
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.flatnonzero(starts)[np.cumsum(starts) - 1]
    rank = np.arange(len(keys)) - group_start  # position of each document within its bucket
    shared = np.flatnonzero(rank > 0)  # members that have a smaller id in their bucket
    firsts, members = [], []
    for anchor in range(anchors):
        these = shared[rank[shared] > anchor]
        if len(these) == 0:
            break
        firsts.append(sorted_ids[group_start[these] + anchor])
        members.append(sorted_ids[these])
    if not firsts:
        return empty, empty
    return np.concatenate(firsts), np.concatenate(members)


def unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated pairs (the same two documents found by several bands), smaller id first."""
    low, high = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
    order = np.lexsort((high, low))
    low, high = low[order], high[order]
    keep = np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])] if len(low) else np.empty(0, bool)
    return low[keep], high[keep]


def component_minimum(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every id that appears in an edge: (ids ascending, the smallest id of its component)."""
    if len(u) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    nodes, index = np.unique(np.concatenate([u, v]).astype(np.int64), return_inverse=True)
    count = len(nodes)
    graph = coo_matrix((np.ones(len(u), dtype=np.int8), (index[: len(u)], index[len(u) :])), shape=(count, count))
    _, component = connected_components(graph, directed=False)
    smallest = np.full(component.max() + 1, count, dtype=np.int64)
    np.minimum.at(smallest, component, np.arange(count))  # node indices keep id order
    return nodes, nodes[smallest[component]]


def cluster_sizes(kept_of: np.ndarray) -> dict[int, int]:
    """{cluster size: number of clusters} over the documents that are in a cluster of two or more."""
    _, members = np.unique(kept_of, return_counts=True)
    sizes, counts = np.unique(members, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, counts, strict=True)}
