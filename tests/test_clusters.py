"""Connected components, clusters and the kept member (dedup.clusters).

What users rely on: clusters are exactly the connected components of the
verified pairs (a simple BFS is the oracle), labelled and ordered
deterministically whatever the order of the edges; chains A~B~C become one
cluster while ``find_duplicate_pairs`` still shows the real edges; the kept
member follows the documented policy.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup import choose_kept, clusters_from_pairs, connected_components, find_duplicate_pairs, find_duplicates


def bfs_components(n: int, edges) -> list[list[int]]:
    """Reference: components by breadth-first search, as sorted lists, ordered by first member."""
    adjacency: list[list[int]] = [[] for _ in range(n)]
    for u, v in edges:
        adjacency[u].append(v)
        adjacency[v].append(u)
    seen = [False] * n
    components = []
    for start in range(n):
        if seen[start]:
            continue
        seen[start] = True
        queue, members = deque([start]), [start]
        while queue:
            for nxt in adjacency[queue.popleft()]:
                if not seen[nxt]:
                    seen[nxt] = True
                    members.append(nxt)
                    queue.append(nxt)
        components.append(sorted(members))
    return components


def check_against_bfs(n: int, edges: np.ndarray) -> None:
    reference = bfs_components(n, edges.tolist())
    labels = connected_components(n, edges)
    assert labels.shape == (n,)
    for component in reference:
        # Every member is labelled with the smallest index of its component.
        assert set(labels[component].tolist()) == {component[0]}
    assert clusters_from_pairs(n, edges) == [c for c in reference if len(c) > 1]


def test_long_chain_in_every_edge_order():
    n = 5000
    chain = np.stack([np.arange(n - 1), np.arange(1, n)], axis=1)
    rng = np.random.default_rng(0)
    for edges in (chain, chain[::-1], chain[:, ::-1], chain[rng.permutation(n - 1)]):
        labels = connected_components(n, edges)
        assert (labels == 0).all()
    assert clusters_from_pairs(n, chain[::-1]) == [list(range(n))]


def test_chain_with_shuffled_node_numbers():
    # A path visiting the nodes in random order: worst case for naive label propagation.
    n = 3000
    path = np.random.default_rng(1).permutation(n)
    edges = np.stack([path[:-1], path[1:]], axis=1)
    check_against_bfs(n, edges)


def test_star():
    n = 1000
    for centre in (0, 500, 999):
        leaves = np.array([v for v in range(n) if v != centre])
        edges = np.stack([np.full(n - 1, centre), leaves], axis=1)
        assert (connected_components(n, edges) == 0).all()
        assert (connected_components(n + 3, edges)[n:] == [n, n + 1, n + 2]).all()


def test_isolated_nodes_self_loops_and_repeated_edges():
    edges = np.array([[2, 2], [3, 4], [4, 3], [3, 4], [6, 6]])
    assert connected_components(7, edges).tolist() == [0, 1, 2, 3, 3, 5, 6]
    assert clusters_from_pairs(7, edges) == [[3, 4]]
    assert clusters_from_pairs(3, np.zeros((0, 2), np.int64)) == []
    assert connected_components(0, np.zeros((0, 2), np.int64)).tolist() == []


@given(st.integers(1, 60), st.data())
def test_random_graphs_against_bfs(n, data):
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    check_against_bfs(n, np.array(edges, dtype=np.int64).reshape(-1, 2))


def test_random_sparse_graph_against_bfs():
    rng = np.random.default_rng(5)
    n = 20000
    edges = rng.integers(0, n, (15000, 2))  # many small trees plus a few large components
    check_against_bfs(n, edges)


@given(st.integers(2, 40), st.data())
def test_clusters_do_not_depend_on_edge_order(n, data):
    edges = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    edges = np.array(edges, dtype=np.int64).reshape(-1, 2)
    shuffled = edges[np.random.default_rng(len(edges)).permutation(len(edges))][:, ::-1]
    assert clusters_from_pairs(n, edges) == clusters_from_pairs(n, shuffled)


# --------------------------------------------------------------------------- kept member


def test_choose_kept_first_is_the_smallest_index():
    assert choose_kept([[4, 7, 9], [1, 2]]) == [4, 1]
    assert choose_kept([[9, 4, 7]], "first") == [4]


def test_choose_kept_longest_with_earliest_on_ties():
    lengths = [10, 50, 50, 5, 70, 0]
    assert choose_kept([[0, 1, 2], [3, 4, 5]], "longest", lengths=lengths) == [1, 4]
    assert choose_kept([[2, 1]], "longest", lengths=lengths) == [1]
    assert choose_kept([[2, 1]], "longest", lengths=np.array(lengths)) == [1]


def test_choose_kept_errors():
    with pytest.raises(ValueError, match="lengths"):
        choose_kept([[0, 1]], "longest")
    with pytest.raises(ValueError, match="keep"):
        choose_kept([[0, 1]], "last")


def test_choose_kept_on_real_clusters():
    texts = [
        "short version of the announcement about the new library opening",
        "completely unrelated text on cooking pasta with garlic and oil tonight",
        "Short version of the announcement about the new library opening!",
        "short version of the announcement about the new library opening",
    ]
    clusters = find_duplicates(texts)
    assert clusters == [[0, 2, 3]]
    assert choose_kept(clusters) == [0]
    assert choose_kept(clusters, "longest", lengths=[len(t) for t in texts]) == [2]


# --------------------------------------------------------------------------- chains


def test_chain_is_one_cluster_but_pairs_show_the_real_edges():
    """A~B and B~C with A and C not similar: one cluster, two edges (docs/lsh.md)."""
    words = [f"word{i}" for i in range(140)]
    a, b, c = (" ".join(words[k : k + 100]) for k in (0, 10, 20))
    pairs = find_duplicate_pairs([a, b, c], threshold=0.8)
    # Exact Jaccard of word 5-gram sets: A,B share 86 of 96 -> 86/106; A,C 76/116.
    assert pairs == [(0, 1, pytest.approx(86 / 106)), (1, 2, pytest.approx(86 / 106))]
    assert find_duplicates([a, b, c], threshold=0.8) == [[0, 1, 2]]
    # At a threshold below J(A, C) the third edge appears.
    assert [p[:2] for p in find_duplicate_pairs([a, b, c], threshold=0.6)] == [(0, 1), (0, 2), (1, 2)]
