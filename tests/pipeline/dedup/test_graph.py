"""Star edges per bucket and connected components labelled by their smallest id, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.dedup.graph import bucket_edges, cluster_sizes, component_minimum, unique_edges


def test_each_bucket_member_links_to_the_bucket_minimum():
    keys = np.array([5, 3, 5, 3, 9, 5], dtype=np.uint64)
    ids = np.array([10, 2, 4, 7, 1, 6])
    first, member = bucket_edges(keys, ids)
    assert sorted(zip(first.tolist(), member.tolist(), strict=True)) == [(2, 7), (4, 6), (4, 10)]


def test_no_keys_no_edges():
    first, member = bucket_edges(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert len(first) == len(member) == 0


def test_unique_edges_orders_and_drops_repeats():
    low, high = unique_edges(np.array([4, 7, 4, 2]), np.array([7, 4, 7, 9]))
    assert list(zip(low.tolist(), high.tolist(), strict=True)) == [(2, 9), (4, 7)]


def brute_force_components(pairs: list[tuple[int, int]]) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


@pytest.mark.parametrize("seed", range(5))
def test_components_match_brute_force_and_do_not_depend_on_edge_order(seed: int):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 300, 250)
    v = rng.integers(0, 300, 250)
    nodes, smallest = component_minimum(u, v)
    expected = brute_force_components(list(zip(u.tolist(), v.tolist(), strict=True)))
    assert dict(zip(nodes.tolist(), smallest.tolist(), strict=True)) == expected
    order = rng.permutation(len(u))
    again_nodes, again = component_minimum(v[order], u[order])
    assert np.array_equal(again_nodes, nodes) and np.array_equal(again, smallest)


def test_a_long_chain_is_one_component():
    ids = np.arange(1000)
    nodes, smallest = component_minimum(ids[1:][::-1], ids[:-1][::-1])
    assert len(nodes) == 1000 and (smallest == 0).all()


def test_cluster_sizes_count_clusters_by_size():
    assert cluster_sizes(np.array([0, 0, 3, 3, 3, 9, 9])) == {2: 2, 3: 1}
