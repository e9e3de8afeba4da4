"""Candidate pairs from shared keys, and connected components, in numpy with memory linear in the input.

A bucket is a set of documents sharing one key (an exact text key, or one MinHash band). Each document
of a bucket is linked to the bucket's smallest document id: a star, n - 1 edges for n members, the same
edges whatever order the documents arrive in. Components are found by min-label propagation with pointer
jumping, so every document ends labelled with the smallest id of its component: the kept document.
"""

from __future__ import annotations

import numpy as np


def bucket_edges(keys: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(smallest id of the bucket, id) for every document that shares its key with a smaller id."""
    if len(keys) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    order = np.lexsort((ids, keys))
    sorted_keys, sorted_ids = keys[order], ids[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    first = sorted_ids[starts][np.cumsum(starts) - 1]
    members = ~starts
    return first[members].astype(np.int64), sorted_ids[members].astype(np.int64)


def unique_edges(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop repeated pairs (the same two documents found by several bands), smaller id first."""
    low, high = np.minimum(u, v), np.maximum(u, v)
    packed = np.unique((low.astype(np.int64) << 32) | high.astype(np.int64))
    return packed >> 32, packed & 0xFFFFFFFF


def component_minimum(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every id that appears in an edge: (ids ascending, the smallest id of its component)."""
    if len(u) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    nodes, index = np.unique(np.concatenate([u, v]), return_inverse=True)
    a, b = index[: len(u)], index[len(u) :]
    label = np.arange(len(nodes))  # node indices keep id order, so the smallest index is the smallest id
    while True:
        lower = np.minimum(label[a], label[b])
        updated = label.copy()
        np.minimum.at(updated, a, lower)
        np.minimum.at(updated, b, lower)
        while True:  # pointer jumping: follow labels to their own labels until nothing moves
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, label):
            return nodes, nodes[label]
        label = updated


def cluster_sizes(kept_of: np.ndarray) -> dict[int, int]:
    """{cluster size: number of clusters} over the documents that are in a cluster of two or more."""
    _, members = np.unique(kept_of, return_counts=True)
    sizes, counts = np.unique(members, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, counts, strict=True)}
