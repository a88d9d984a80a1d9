"""Which records to keep: one call that turns near-duplicate clusters into a keep/drop decision per record.

:func:`which_to_keep` answers, for every document of a dataset, whether to
keep it and, when not, which document it duplicates and how similar the two
are. Its ``keep`` array is a boolean mask, so each dataframe library filters
in one line:

>>> import dedup
>>> texts = ["the cat sat on the mat all day long", "The cat sat on the mat, all day long!", "dogs bark"]
>>> decision = dedup.which_to_keep(texts)
>>> decision.keep.tolist(), decision.duplicate_of.tolist(), decision.similarity.tolist()
([True, False, True], [-1, 0, -1], [1.0, 1.0, 1.0])
>>> [t for t, k in zip(texts, decision.keep) if k]
['the cat sat on the mat all day long', 'dogs bark']

(pandas: ``df[decision.keep]``; pyarrow: ``table.filter(decision.keep)``;
Hugging Face datasets: ``ds.select(np.flatnonzero(decision.keep))``; see
``docs/datasets.md``.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from .clusters import choose_kept, clusters_from_pairs
from .documents import exact_jaccard, find_duplicate_pairs
from .progress import Progress

__all__ = ["KeepDecision", "which_to_keep"]


class KeepDecision(NamedTuple):
    """One entry per document, in input order.

    Attributes
    ----------
    keep : numpy.ndarray of bool
        Whether the document stays (every document outside a cluster, and one per cluster).
    duplicate_of : numpy.ndarray of int64
        For a dropped document, the index of the kept document of its cluster; ``-1`` for kept ones.
    similarity : numpy.ndarray of float64
        For a dropped document, its exact Jaccard similarity to the kept one (word shingles);
        ``1.0`` for kept ones.
    clusters : list of list of int
        The clusters of near-duplicates (each sorted, at least two documents).
    """

    keep: np.ndarray
    duplicate_of: np.ndarray
    similarity: np.ndarray
    clusters: list[list[int]]


def which_to_keep(
    texts: Iterable[str],
    threshold: float = 0.8,
    *,
    keep: str = "first",
    ngram: int = 5,
    num_perm: int = 128,
    jobs: int = 1,
    progress: Progress | None = None,
) -> KeepDecision:
    """Decide, for every document, keep or drop (near-duplicate of a kept one).

    Parameters
    ----------
    texts : iterable of str
        The documents (a list, a pandas Series, a pyarrow string array's ``to_pylist()``...).
    threshold : float
        Least Jaccard similarity of two near-duplicates, in (0, 1].
    keep : {"first", "longest"}
        Which member of a cluster stays: the first in input order or the longest.
    ngram, num_perm, jobs : int
        As in :func:`dedup.find_duplicate_pairs`.
    progress : callable, optional
        ``progress(phase, done, total)`` (see :mod:`dedup.progress`).

    Returns
    -------
    KeepDecision
        ``keep`` mask, ``duplicate_of`` index, ``similarity`` to the kept document, and the clusters.
    """
    docs: Sequence[str] = texts if isinstance(texts, list) else list(texts)
    n = len(docs)
    pairs = find_duplicate_pairs(docs, threshold, ngram=ngram, num_perm=num_perm, jobs=jobs, progress=progress)
    edges = np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2)
    clusters = clusters_from_pairs(n, edges)
    kept = choose_kept(clusters, keep, lengths=[len(t) for t in docs])  # type: ignore[arg-type]
    direct = {(i, j): s for i, j, s in pairs}
    mask = np.ones(n, dtype=bool)
    duplicate_of = np.full(n, -1, dtype=np.int64)
    similarity = np.ones(n, dtype=np.float64)
    for cluster, k in zip(clusters, kept):
        for i in cluster:
            if i == k:
                continue
            mask[i] = False
            duplicate_of[i] = k
            # A verified pair already has its similarity; members joined through others are measured.
            s = direct.get((min(i, k), max(i, k)))
            similarity[i] = round(s if s is not None else exact_jaccard(docs[i], docs[k], ngram=ngram), 4)
    return KeepDecision(mask, duplicate_of, similarity, clusters)
