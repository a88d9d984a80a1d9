"""Documents contained in other documents: a short page inside a long one, a license inside a README.

Jaccard similarity cannot find them: a page of 100 shingles inside one of
1,000 has Jaccard 0.1 with it, whatever the threshold. What is asked instead
is the *containment* of ``a`` in ``b``, ``|A ∩ B| / |A|`` (A, B the shingle
sets), which has a direction. MinHash signatures cannot estimate it for sets
of very different sizes either, so this module samples shingles instead:

1. **Shingle sets.** Every document's set of 32-bit shingle hashes, as the
   exact verification of the document pipeline computes it, streamed in
   batches; all of them are kept (this is the cost, below).
2. **Index.** One sort of every (hash, document) pair of the corpus gives,
   for each hash, the documents holding it and how many they are.
3. **Sample.** Each document's ``sample`` smallest hashes (a uniform random
   sample of its set, since hashes are random), leaving out *hot* hashes held
   by more than ``max_df`` documents (boilerplate, which would pair
   everything with everything).
4. **Join.** Every sampled hash is looked up in the index; a pair ``(a, b)``
   whose share of ``a``'s sample found in ``b`` is at least the threshold
   minus two standard errors is a candidate.
5. **Verify.** Exact containment from the shingle sets; pairs at or above
   the threshold are reported, with their direction.

Cost, against :func:`dedup.find_duplicate_pairs` on the same texts: the same
shingling, plus one sort of all shingle hashes (``S log S`` for ``S``
shingles in the corpus) and about 12 bytes of memory per shingle (the sets
and the index), instead of ``4 * num_perm`` bytes per document; the join
produces at most ``documents * sample * max_df`` pairs. ``docs/containment.md``
has measured figures. A document whose every shingle is hot has no sample and
is never reported as contained.

>>> page = "the quick brown fox jumps over the lazy dog near the river bank today"
>>> find_contained_pairs([page, "Intro text here. " + page + " And a long ending follows it here.", "other"])
[Contained(part=0, whole=1, containment=1.0)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from .internal import batches, check_params, shingle_sets
from .text import ShingleMode

__all__ = ["Contained", "containment", "expected_recall", "find_contained_pairs"]

#: Hashes sampled per document.
DEFAULT_SAMPLE = 64
#: Hashes held by more documents than this are not sampled (boilerplate).
DEFAULT_MAX_DF = 200


class Contained(NamedTuple):
    """At least the threshold of document ``part``'s shingles are in document ``whole``."""

    part: int
    whole: int
    containment: float


def containment(part: np.ndarray, whole: np.ndarray) -> float:
    """``|part ∩ whole| / |part|`` of two sorted sets of unique hashes (0.0 when ``part`` is empty).

    >>> containment(np.array([1, 2, 3, 4]), np.array([2, 3, 4, 5, 6, 7]))
    0.75
    """
    if len(part) == 0:
        return 0.0
    return len(np.intersect1d(part, whole, assume_unique=True)) / len(part)


def _sets(texts: Iterable[str], ngram: int, mode: ShingleMode) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for batch in batches(texts):
        out.extend(shingle_sets(batch, ngram, mode))
    return out


def _candidates(sets: list[np.ndarray], threshold: float, sample: int, max_df: int) -> np.ndarray:
    """Pairs ``(part, whole)`` whose sampled containment is near or above ``threshold``."""
    n = len(sets)
    sizes = np.array([len(s) for s in sets], dtype=np.int64)
    if n < 2 or sizes.sum() == 0:
        return np.zeros((0, 2), np.int64)
    flat = np.concatenate(sets)  # per document sorted: the smallest hashes come first
    doc = np.repeat(np.arange(n, dtype=np.int64), sizes)
    order = np.argsort(flat, kind="stable")
    h_sorted, d_sorted = flat[order], doc[order]
    # Runs of equal hashes in sorted order: where each starts and how long it is, scattered
    # back to document order (searchsorted with unsorted queries is ~50x slower here).
    new_run = np.ones(len(h_sorted), dtype=bool)
    new_run[1:] = h_sorted[1:] != h_sorted[:-1]
    run_starts = np.flatnonzero(new_run)
    run_sizes = np.diff(np.append(run_starts, len(h_sorted)))
    lo = np.empty(len(flat), dtype=np.int64)
    df = np.empty(len(flat), dtype=np.int64)
    lo[order] = np.repeat(run_starts, run_sizes)
    df[order] = np.repeat(run_sizes, run_sizes)
    # The first `sample` non-hot hashes of each document: rank within the document's cold hashes.
    cold = df <= max_df
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(sizes, out=starts[1:])
    cold_before = np.concatenate([[0], np.cumsum(cold)])
    rank = cold_before[:-1] - cold_before[starts[doc]]
    take = cold & (rank < sample)
    k = np.bincount(doc[take], minlength=n)  # sample size of each document
    s_doc, s_lo, s_df = doc[take], lo[take], df[take]
    # Expand each sampled hash to every document holding it (vectorised ragged ranges).
    total = int(s_df.sum())
    src = np.repeat(s_doc, s_df)
    offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(s_df) - s_df, s_df)
    dst = d_sorted[np.repeat(s_lo, s_df) + offs]
    keep = src != dst
    codes, counts = np.unique(src[keep] * n + dst[keep], return_counts=True)
    part, whole = np.divmod(codes, n)
    kk = k[part].astype(float)
    # Two standard errors of a share estimated from kk draws: pairs at the threshold are kept.
    margin = 2.0 * np.sqrt(threshold * (1.0 - threshold) / np.maximum(kk, 1.0))
    ok = counts / np.maximum(kk, 1.0) >= threshold - margin
    return np.stack([part[ok], whole[ok]], axis=1)


def find_contained_pairs(
    texts: Iterable[str],
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    shingle_mode: ShingleMode = "word",
    sample: int = DEFAULT_SAMPLE,
    max_df: int = DEFAULT_MAX_DF,
) -> list[Contained]:
    """Pairs :class:`Contained` ``(part, whole, containment)``: ``threshold`` of ``part``'s shingles are in ``whole``.

    Parameters
    ----------
    texts:
        Any iterable of ``str``, read once.
    threshold:
        Least containment ``|A ∩ B| / |A|`` reported, in (0, 1].
    ngram, shingle_mode:
        Shingles, as for :func:`dedup.find_duplicate_pairs`.
    sample:
        Shingle hashes sampled per document (more: better recall near the
        threshold, a larger join).
    max_df:
        Hashes held by more documents than this are not sampled.

    Returns
    -------
    list of Contained
        Sorted by ``(part, whole)``; the containment is exact. Two near-copies
        contain each other, so both directions are listed.
    """
    check_params(threshold, ngram, None, 1)
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of str, not a single str")
    for name, value in (("sample", sample), ("max_df", max_df)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    sets = _sets(texts, ngram, shingle_mode)
    out: list[Contained] = []
    for a, b in _candidates(sets, threshold, sample, max_df).tolist():
        c = containment(sets[a], sets[b])
        if c >= threshold - 1e-12:
            out.append(Contained(a, b, c))
    return out


def expected_recall(containment: float, threshold: float, sample: int = DEFAULT_SAMPLE) -> float:
    """Chance that a pair of exact ``containment`` becomes a candidate (binomial draw of ``sample`` hashes).

    >>> round(expected_recall(0.8, 0.8), 4), round(expected_recall(0.9, 0.8), 4)
    (0.9778, 1.0)
    """
    need = math.ceil(sample * (threshold - 2.0 * math.sqrt(threshold * (1.0 - threshold) / sample)) - 1e-9)
    return sum(
        math.comb(sample, j) * containment**j * (1 - containment) ** (sample - j)
        for j in range(max(need, 0), sample + 1)
    )
