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


def test_more_anchors_pair_members_with_several_small_ids():
    keys = np.array([5, 5, 5, 5, 3], dtype=np.uint64)
    ids = np.array([40, 10, 30, 20, 1])
    first, member = bucket_edges(keys, ids, anchors=2)
    assert sorted(zip(first.tolist(), member.tolist(), strict=True)) == [
        (10, 20),
        (10, 30),
        (10, 40),
        (20, 30),
        (20, 40),
    ]
    first, member = bucket_edges(keys, ids, anchors=10)
    assert len(first) == 6  # every pair of the 4 members


def test_no_keys_no_edges():
    first, member = bucket_edges(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert len(first) == len(member) == 0


def test_unique_edges_orders_and_drops_repeats():
    low, high = unique_edges(np.array([4, 7, 4, 2]), np.array([7, 4, 7, 9]))
    assert list(zip(low.tolist(), high.tolist(), strict=True)) == [(2, 9), (4, 7)]


def test_ids_past_32_bits_survive():
    low, high = unique_edges(np.array([2**31 + 5, 3]), np.array([2**31 + 9, 2**32 + 7]))
    assert list(zip(low.tolist(), high.tolist(), strict=True)) == [(3, 2**32 + 7), (2**31 + 5, 2**31 + 9)]


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


def test_a_long_chain_in_random_order_is_one_component():
    """Chains (page versions crawled in any order) are the hard case for label propagation."""
    ids = np.random.default_rng(0).permutation(100_000)
    nodes, smallest = component_minimum(ids[1:], ids[:-1])
    assert len(nodes) == 100_000 and (smallest == 0).all()


def test_cluster_sizes_count_clusters_by_size():
    assert cluster_sizes(np.array([0, 0, 3, 3, 3, 9, 9])) == {2: 2, 3: 1}
