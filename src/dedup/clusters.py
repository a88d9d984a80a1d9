"""Connected components over similarity edges, and which member to keep.

Near-duplicate similarity is not transitive: if A ~ B and B ~ C, A and C may
be far apart. Connected components put A, B and C in one cluster anyway (a
*chain*). That is what a de-duplicator wants (keep one of them), but users who
need the actual edges should look at :func:`dedup.find_duplicate_pairs`.

Components are computed with min-label propagation and pointer jumping, a
handful of vectorised passes over the edge array. Every document ends up
labelled with the smallest index of its component, so the result does not
depend on the order of the edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["KeepPolicy", "choose_kept", "clusters_from_pairs", "connected_components"]

KeepPolicy = Literal["first", "longest"]


def connected_components(n: int, edges: np.ndarray) -> np.ndarray:
    """Label of every node ``0..n-1``: the smallest node index of its component.

    Parameters
    ----------
    n : int
        Number of nodes.
    edges : numpy.ndarray
        ``(m, 2)`` integer pairs of nodes; order and repeats do not matter.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64 labels, independent of the order of the edges.

    >>> connected_components(5, np.array([[3, 4], [1, 3]])).tolist()
    [0, 1, 2, 1, 1]
    """
    labels = np.arange(n, dtype=np.int64)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if len(edges) == 0:
        return labels
    u, v = edges[:, 0], edges[:, 1]
    while True:
        lu, lv = labels[u], labels[v]
        low = np.minimum(lu, lv)
        # Hook the roots of both endpoints to the smaller label.
        np.minimum.at(labels, lu, low)
        np.minimum.at(labels, lv, low)
        # Pointer jumping until every node points at a root.
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels[u], labels[v]):
            return labels


def clusters_from_pairs(n: int, pairs: np.ndarray) -> list[list[int]]:
    """Clusters of size >= 2 as sorted lists of indices, ordered by first index.

    Parameters
    ----------
    n : int
        Number of documents.
    pairs : numpy.ndarray
        ``(m, 2)`` integer pairs of documents (the edges).

    Returns
    -------
    list of list of int
        The connected components with two or more members.

    >>> clusters_from_pairs(6, np.array([[4, 5], [0, 2]]))
    [[0, 2], [4, 5]]
    """
    labels = connected_components(n, pairs)
    in_cluster = np.flatnonzero(np.bincount(labels, minlength=n)[labels] > 1)  # skip singletons
    order = in_cluster[np.argsort(labels[in_cluster], kind="stable")]
    cuts = (np.flatnonzero(np.diff(labels[order])) + 1).tolist()
    members = order.tolist()
    return [members[lo:hi] for lo, hi in zip([0, *cuts], [*cuts, len(members)]) if hi > lo]


def choose_kept(
    clusters: Sequence[Sequence[int]],
    keep: KeepPolicy = "first",
    lengths: Sequence[int] | np.ndarray | None = None,
) -> list[int]:
    """The member to keep in each cluster.

    ``keep="first"`` keeps the smallest index (the earliest document);
    ``keep="longest"`` keeps the member with the largest ``lengths`` value,
    the earliest one on ties. Every other member is a duplicate to drop.

    Parameters
    ----------
    clusters : Sequence[Sequence[int]]
        Clusters of document indices, as from :func:`clusters_from_pairs`.
    keep : {"first", "longest"}
        The policy.
    lengths : Sequence[int] or numpy.ndarray, optional
        Length of every document, indexed like the clusters; needed for ``"longest"``.

    Returns
    -------
    list of int
        One kept index per cluster, in the clusters' order.

    Raises
    ------
    ValueError
        For another policy, or ``"longest"`` without ``lengths``.

    >>> choose_kept([[0, 2, 5]], "longest", lengths=[10, 0, 30, 0, 0, 30])
    [2]
    """
    if keep == "first":
        return [min(c) for c in clusters]
    if keep == "longest":
        if lengths is None:
            raise ValueError("keep='longest' needs the document lengths")
        lengths = np.asarray(lengths)
        return [min(c, key=lambda i: (-lengths[i], i)) for c in clusters]
    raise ValueError(f"keep must be 'first' or 'longest', got {keep!r}")
