"""The document pipeline: texts -> signatures -> LSH candidates -> verified pairs -> clusters.

Texts are consumed in batches; per document only compact arrays are kept (the
band keys, ``8 * bands`` bytes, and the signature, ``num_perm * 4`` bytes, when
verifying on estimates), so memory does not grow with the total size of the
text. A sequence of texts with exact verification runs on ``jobs`` threads
(the work is in code that releases the GIL); a stream is signed in ``jobs``
worker processes. Results are identical for every ``jobs``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from .clusters import clusters_from_pairs
from .internal import BATCH_CHARS, batches, check_params, jaccard_sorted, ranges, shingle_sets
from .lsh import DEFAULT_WINDOW, LSHIndex, band_pair_codes, pairs_from_codes, resolve_bands, write_band_keys
from .lsh import RECALL_MARGIN as RECALL_MARGIN  # re-exported: it used to live here
from .minhash import jaccard_estimate
from .parallel import Threads, can_share, ordered_map, shared_texts
from .progress import Progress, report
from .sketch import pair_similarities, sign_texts, text_lengths
from .text import ShingleMode

__all__ = [
    "Pair",
    "Verify",
    "exact_jaccard",
    "find_duplicate_pairs",
    "find_duplicates",
    "iter_signatures",
    "signatures",
]

Verify = Literal["auto", "exact", "estimate"]


class Pair(NamedTuple):
    """A verified near-duplicate pair: documents ``i < j`` and their ``similarity``.

    A tuple, so ``i, j, s = pair`` and comparisons with plain tuples keep working.

    Attributes
    ----------
    i, j : int
        Indices of the two documents, ``i < j``.
    similarity : float
        Exact Jaccard similarity of their shingle sets, or the MinHash estimate
        with ``verify="estimate"``.

    >>> p = Pair(0, 3, 0.9)
    >>> p.j, p == (0, 3, 0.9)
    (3, True)
    """

    i: int
    j: int
    similarity: float


def _sign_batch(batch: list[str], ngram: int, num_perm: int, seed: int, mode: ShingleMode) -> np.ndarray:
    return sign_texts(batch, ngram=ngram, num_perm=num_perm, seed=seed, mode=mode)


def _sign_range(indices: range, *args) -> np.ndarray:
    return _sign_batch(list(shared_texts()[indices.start : indices.stop]), *args)


def iter_signatures(
    texts: Iterable[str],
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    shingle_mode: ShingleMode = "word",
    jobs: int = 1,
) -> Iterator[np.ndarray]:
    """Signatures of a stream of texts, one ``(batch, num_perm)`` array per batch.

    Parameters
    ----------
    texts : Iterable[str]
        The texts, read once, batch by batch.
    ngram : int
        Words per shingle.
    num_perm, seed : int
        Signature length and seed.
    shingle_mode : {"word", "char"}
        Word or character shingles.
    jobs : int
        Processes used for shingling and signatures.

    Yields
    ------
    numpy.ndarray
        ``(batch, num_perm)`` uint32 signatures, in input order.
    """
    check_params(None, ngram, num_perm, jobs)
    args = (ngram, num_perm, seed, shingle_mode)
    if jobs > 1:
        _sign_batch(["warm up"], *args)  # tables and kernels, inherited by the workers
    if isinstance(texts, Sequence) and (jobs == 1 or can_share()):
        # Ranges are listed before forking: walking the texts afterwards would touch
        # (and so copy) every page holding a text's reference count. With one job,
        # slicing by ranges also spares a Python step per text.
        yield from ordered_map(_sign_range, list(ranges(texts)), jobs, *args, shared=texts)
    else:
        yield from ordered_map(_sign_batch, batches(texts), jobs, *args)


def signatures(
    texts: Iterable[str],
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    shingle_mode: ShingleMode = "word",
    jobs: int = 1,
) -> np.ndarray:
    """MinHash signatures of texts as one ``(n_docs, num_perm)`` uint32 array.

    Row ``i`` equals a ``datasketch.MinHash(num_perm, seed)`` fed with the
    32-bit hashes of the word ``ngram``-shingles of text ``i`` (see
    :mod:`dedup.minhash`). A text without any letter or digit gets an all-
    :data:`dedup.minhash.EMPTY` row.

    Parameters
    ----------
    texts : Iterable[str]
        The texts.
    ngram : int
        Words per shingle.
    num_perm, seed : int
        Signature length and seed.
    shingle_mode : {"word", "char"}
        Word or character shingles.
    jobs : int
        Processes used for shingling and signatures.

    Returns
    -------
    numpy.ndarray
        ``(n_docs, num_perm)`` uint32.

    >>> sig = signatures(["one two three four five six", "one two three four five six!"], num_perm=32)
    >>> sig.shape, bool((sig[0] == sig[1]).all())
    ((2, 32), True)
    """
    parts = list(
        iter_signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed, shingle_mode=shingle_mode, jobs=jobs)
    )
    if not parts:
        return np.zeros((0, num_perm), dtype=np.uint32)
    return np.concatenate(parts)


def exact_jaccard(a: str, b: str, *, ngram: int = 5, shingle_mode: ShingleMode = "word") -> float:
    """Exact Jaccard similarity of the shingle sets of two texts (0.0 if either is empty).

    Shingles are compared by their 32-bit hashes, the values MinHash sees; a
    collision inside a pair of documents is vanishingly rare (~n**2 / 2**33).

    Parameters
    ----------
    a, b : str
        The two texts.
    ngram : int
        Words per shingle.
    shingle_mode : {"word", "char"}
        Word or character shingles.

    Returns
    -------
    float
        ``|A & B| / |A | B|`` of the two shingle sets.

    >>> exact_jaccard("a b c d e f", "a b c d e f g", ngram=3)
    0.8
    """
    check_params(None, ngram, None, 1)
    sa, sb = shingle_sets([a, b], ngram, shingle_mode)
    return jaccard_sorted(sa, sb)


def _verify_exact(
    texts: Sequence[str],
    pairs: np.ndarray,
    ngram: int,
    mode: ShingleMode,
    group_chars: int = BATCH_CHARS,
    progress: Progress | None = None,
) -> np.ndarray:
    """Exact Jaccard of each candidate pair, re-shingling only the documents involved.

    Equal texts have equal shingle sets, so a pair of equal texts has
    similarity 1.0 exactly, found by one string comparison (exact copies
    are most of the pairs of a typical dump). Candidates never hold a
    document without shingles, whose similarity would be 0.0. The other
    pairs are shingled and counted by :func:`_verify_shingled`.
    """
    sims = np.ones(len(pairs))
    if not len(pairs):
        return sims
    equal = np.fromiter((texts[i] == texts[j] for i, j in pairs.tolist()), dtype=bool, count=len(pairs))
    rest = np.flatnonzero(~equal)
    report(progress, "verification", len(pairs) - len(rest), len(pairs))
    if len(rest):
        sims[rest] = _verify_shingled(texts, pairs[rest], ngram, mode, group_chars, progress, len(pairs))
    return sims


def _verify_shingled(
    texts: Sequence[str],
    pairs: np.ndarray,
    ngram: int,
    mode: ShingleMode,
    group_chars: int,
    progress: Progress | None = None,
    total: int = 0,
) -> np.ndarray:
    """Exact Jaccard of each pair from the shingle hashes of its two documents.

    Pairs are checked in groups (in order of their second document) whose
    documents add up to about ``group_chars`` characters: the documents of a
    group are shingled together and dropped afterwards, so memory stays
    bounded however far apart the copies are, and the same for every corpus
    size. A document in pairs of several groups is shingled once per group.
    ``progress`` hears of each group, counted among ``total`` pairs whose
    last ``len(pairs)`` these are.
    """
    sims = np.zeros(len(pairs))
    order = np.argsort(pairs[:, 1], kind="stable")
    involved, where = np.unique(pairs, return_inverse=True)
    length = np.fromiter((len(texts[d]) for d in involved.tolist()), dtype=np.int64, count=len(involved))
    # An upper bound of each group's characters (a document in several pairs counts each time).
    cost = np.cumsum(length[where.reshape(-1, 2)[order]].sum(axis=1))
    cuts = np.flatnonzero(np.diff(cost // max(group_chars, 1))) + 1
    done = total - len(pairs)
    for chunk in np.split(order, cuts):
        docs, local = np.unique(pairs[chunk], return_inverse=True)
        local = local.reshape(-1, 2)
        group_texts = [texts[d] for d in docs.tolist()]
        sims[chunk] = pair_similarities(group_texts, local[:, 0], local[:, 1], ngram=ngram, mode=mode)
        done += len(chunk)
        report(progress, "verification", done, total)
    return sims


def _rows(parts: list[np.ndarray], ids: np.ndarray) -> np.ndarray:
    """Rows ``ids`` of the concatenation of ``parts``, without concatenating them (no second copy)."""
    starts = np.cumsum([0] + [len(p) for p in parts])
    part = np.searchsorted(starts, ids, side="right") - 1
    out = np.empty((len(ids), parts[0].shape[1]), dtype=parts[0].dtype)
    for k in np.unique(part).tolist():
        hit = part == k
        out[hit] = parts[k][ids[hit] - starts[k]]
    return out


@dataclass
class _Run:
    n_docs: int
    pairs: np.ndarray  # (m, 2) int64, i < j
    similarity: np.ndarray  # (m,) float


def _find(
    texts: Iterable[str],
    threshold: float,
    ngram: int,
    num_perm: int,
    seed: int,
    bands: int | None,
    rows: int | None,
    verify: Verify,
    shingle_mode: ShingleMode,
    jobs: int,
    progress: Progress | None = None,
) -> _Run:
    check_params(threshold, ngram, num_perm, jobs)
    if verify not in ("auto", "exact", "estimate"):
        raise ValueError(f"verify must be 'auto', 'exact' or 'estimate', got {verify!r}")
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of str, not a single str")
    is_sequence = isinstance(texts, Sequence)
    if verify == "exact" and not is_sequence:
        raise ValueError("verify='exact' needs texts as a sequence (list, tuple, ...), not a one-shot iterator")
    exact = verify == "exact" or (verify == "auto" and is_sequence)
    if exact:
        return _find_in_memory(texts, threshold, ngram, num_perm, seed, bands, rows, shingle_mode, jobs, progress)  # type: ignore[arg-type]
    index = LSHIndex(threshold, num_perm, bands=bands, rows=rows)
    kept_sigs = []
    total = len(texts) if is_sequence else 0  # type: ignore[arg-type]
    report(progress, "signatures", 0, total)
    for sig in iter_signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed, shingle_mode=shingle_mode, jobs=jobs):
        index.add(sig)
        kept_sigs.append(sig)
        report(progress, "signatures", len(index), total)
    report(progress, "candidates", 0, 1)
    pairs = index.candidate_pairs()
    report(progress, "candidates", 1, 1)
    sims = np.asarray(
        jaccard_estimate(_rows(kept_sigs, pairs[:, 0]), _rows(kept_sigs, pairs[:, 1])) if len(pairs) else np.zeros(0)
    )
    # Two standard errors of the estimate at the threshold: pairs at the threshold are kept.
    margin = 2.0 * math.sqrt(threshold * (1.0 - threshold) / num_perm)
    keep = sims >= threshold - margin
    return _Run(len(index), pairs[keep], sims[keep])


def _find_in_memory(
    texts: Sequence[str],
    threshold: float,
    ngram: int,
    num_perm: int,
    seed: int,
    bands: int | None,
    rows: int | None,
    shingle_mode: ShingleMode,
    jobs: int,
    progress: Progress | None = None,
) -> _Run:
    """The pipeline on a sequence of texts, exact verification, on ``jobs`` threads.

    Three steps, each split into tasks that spend their time in the compiled
    kernels or numpy's sorts, which release the GIL, so ``jobs`` threads
    share them (:class:`dedup.parallel.Threads`) with no process forked and
    nothing copied: ranges of texts are signed and their band keys written
    into one ``(bands, n)`` array; each band's buckets are paired
    (:func:`dedup.lsh.band_pair_codes`); chunks of candidate pairs are
    verified. Only merging the candidate codes and the clusters are serial.
    With several threads the last ranges are cut finer and the pairs are
    verified in runs of equal cost, costliest first, so the threads end each
    step together; each document's keys and each pair's similarity do not
    depend on how the work is cut, so the results are the same for every ``jobs``.
    ``progress`` is called from this thread, between tasks.
    """
    bands, rows = resolve_bands(threshold, num_perm, bands, rows)
    lengths = text_lengths(texts)  # kept: the cost of verifying a pair is shared out by it
    tasks = list(ranges(texts, lengths))
    n = len(texts)
    keys = np.empty((bands, n), dtype=np.uint64)  # one band's keys contiguous: sorted as they are
    empty = np.zeros(n, dtype=bool)

    def sign(indices: range) -> None:
        part = texts[indices.start : indices.stop]
        sig = sign_texts(part, ngram=ngram, num_perm=num_perm, seed=seed, mode=shingle_mode)
        write_band_keys(sig, bands, rows, keys, indices.start, empty)

    def told(phase: str, total: int):
        return None if progress is None else lambda done: report(progress, phase, done, total)

    with Threads(jobs, tasks=len(tasks)) as threads:
        if threads.size > 1:
            tasks = _finer_tail(tasks, 2 * threads.size)
        report(progress, "signatures", 0, n)
        threads.map(sign, tasks, sizes=[len(r) for r in tasks], progress=told("signatures", n))
        report(progress, "candidates", 0, 1)
        keep = ~empty if empty.any() else None
        codes = threads.map(lambda band: band_pair_codes(keys[band], DEFAULT_WINDOW, keep), range(bands))
        pairs = pairs_from_codes(codes, n)
        report(progress, "candidates", 1, 1)
        report(progress, "verification", 0, len(pairs))
        if threads.size == 1:
            sims = _verify_exact(texts, pairs, ngram, shingle_mode, progress=progress)
        else:
            parts = _costliest_first(lengths[pairs].sum(axis=1), 6 * threads.size)
            verified = threads.map(
                lambda part: _verify_exact(texts, pairs[part], ngram, shingle_mode),
                parts,
                sizes=[len(part) for part in parts],
                progress=told("verification", len(pairs)),
            )
            sims = np.zeros(len(pairs))
            for part, part_sims in zip(parts, verified):
                sims[part] = part_sims
    keep_pairs = sims >= threshold
    return _Run(n, pairs[keep_pairs], sims[keep_pairs])


def _finer_tail(tasks: list[range], count: int) -> list[range]:
    """``tasks`` with the last ``count`` ranges cut in four.

    Threads take the next task as they finish one, so a phase ends when the
    last task does: small last tasks leave the threads idle for less time.
    """
    head, tail = tasks[: max(len(tasks) - count, 0)], tasks[max(len(tasks) - count, 0) :]
    finer = [piece for r in tail for piece in (r[k * len(r) // 4 : (k + 1) * len(r) // 4] for k in range(4))]
    return head + [piece for piece in finer if len(piece)]


def _costliest_first(cost: np.ndarray, count: int) -> list[np.ndarray]:
    """Indices ``0..len(cost)-1`` cut into about ``count`` runs of equal total ``cost``, costliest run first.

    For threads verifying candidate pairs: even runs, and the big ones taken
    first, so no thread is left with a long last run while the other waits.
    """
    if len(cost) == 0:
        return [np.zeros(0, dtype=np.int64)]
    total = np.cumsum(cost)
    step = max(int(total[-1]) // max(count, 1), 1)
    cuts = np.flatnonzero(np.diff(total // step)) + 1
    runs = [run for run in np.split(np.arange(len(cost)), cuts) if len(run)]
    return sorted(runs, key=lambda run: -int(cost[run].sum()))


def find_duplicate_pairs(
    texts: Iterable[str],
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    verify: Verify = "auto",
    shingle_mode: ShingleMode = "word",
    jobs: int = 1,
    measure: Literal["jaccard", "containment"] = "jaccard",
    progress: Progress | None = None,
) -> list[Pair]:
    """Verified near-duplicate pairs :class:`Pair` ``(i, j, similarity)`` with ``i < j``, sorted.

    With ``measure="containment"`` each pair says instead that at least
    ``threshold`` of document ``i``'s shingles are in document ``j`` (a short
    page inside a long one; ``i`` may be larger than ``j``), and
    ``similarity`` is that containment, exact.
    They come from :func:`dedup.containment.find_contained_pairs` (a sampled
    shingle index, not the signatures: about 6x the time of the Jaccard
    pipeline, see ``docs/containment.md``); ``num_perm``, ``seed``, ``bands``,
    ``rows``, ``verify`` and ``jobs`` do not apply.

    These are the edges behind :func:`find_duplicates`. ``similarity`` is the
    exact Jaccard similarity of the two shingle sets when ``verify`` is
    ``"exact"`` (the default for sequences), or the MinHash estimate when it
    is ``"estimate"`` (the default for one-shot iterators, whose texts cannot
    be read twice); estimated pairs are kept down to two standard errors
    below the threshold, so pairs at the threshold are not lost.

    Pairs come from LSH buckets. Inside a bucket of more than 33 documents
    each member is paired with the next 32 only (see
    :class:`dedup.lsh.LSHIndex`), so a pair that shares nothing but very large
    buckets may be missing; its documents still usually end up in one cluster
    through the neighbours they share.

    Parameters
    ----------
    texts : Iterable[str]
        Any iterable of ``str``.
    threshold : float
        Least Jaccard similarity of a reported pair, in (0, 1].
    ngram : int
        Words per shingle.
    num_perm, seed : int
        MinHash signature length and seed.
    bands, rows : int, optional
        LSH banding, both or neither (default :func:`dedup.lsh.default_bands`).
    verify : {"auto", "exact", "estimate"}
        How candidates are checked, as for :func:`find_duplicates`.
    shingle_mode : {"word", "char"}
        Word or character shingles.
    jobs : int
        Cores used: threads for a sequence verified exactly (signatures,
        candidate pairs, verification), processes for a stream.
    measure : {"jaccard", "containment"}
        What ``threshold`` bounds: Jaccard similarity, or containment of ``i`` in ``j``.
    progress : callable, optional
        ``progress(phase, done, total)``, called between batches of the
        signatures, candidates and verification phases (see :mod:`dedup.progress`).

    Returns
    -------
    list of Pair
        Sorted by ``(i, j)``.

    >>> find_duplicate_pairs(["the cat sat on the mat today", "the cat sat on the mat today!", "dogs bark"])
    [Pair(i=0, j=1, similarity=1.0)]
    """
    if measure == "containment":
        from .containment import find_contained_pairs

        return [Pair(*c) for c in find_contained_pairs(texts, threshold, ngram=ngram, shingle_mode=shingle_mode)]
    if measure != "jaccard":
        raise ValueError(f"measure must be 'jaccard' or 'containment', got {measure!r}")
    run = _find(texts, threshold, ngram, num_perm, seed, bands, rows, verify, shingle_mode, jobs, progress)
    return [Pair(int(i), int(j), float(s)) for (i, j), s in zip(run.pairs.tolist(), run.similarity.tolist())]


def find_duplicates(
    texts: Iterable[str],
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    verify: Verify = "auto",
    shingle_mode: ShingleMode = "word",
    jobs: int = 1,
    progress: Progress | None = None,
) -> list[list[int]]:
    """Clusters of near-duplicate documents.

    Parameters
    ----------
    texts : Iterable[str]
        Any iterable of ``str`` (a list, or a generator streaming a large dump).
    threshold : float
        Jaccard similarity of word ``ngram``-shingle sets above which two
        documents are near-duplicates, in (0, 1].
    ngram : int
        Words per shingle (characters inside CJK/Thai text, or everywhere
        with ``shingle_mode="char"``).
    num_perm, seed : int
        MinHash signature length and seed; the same seed gives the same result.
    bands, rows : int, optional
        LSH banding, both or neither; by default :func:`dedup.lsh.default_bands`,
        tuned for ``threshold - 0.2`` so that pairs at the threshold are found
        (see ``docs/lsh.md``).
    verify : {"auto", "exact", "estimate"}
        ``"exact"`` checks candidates on exact Jaccard (texts must be a
        sequence), ``"estimate"`` on the signatures, ``"auto"`` picks exact
        when it can.
    shingle_mode : {"word", "char"}
        Word shingles, or character shingles that ignore spaces and punctuation.
    jobs : int
        Cores used: threads for a sequence verified exactly (signatures,
        candidate pairs, verification), processes for a stream.
    progress : callable, optional
        ``progress(phase, done, total)``, called between batches of the
        signatures, candidates and verification phases (see :mod:`dedup.progress`).

    Returns
    -------
    list of list of int
        Clusters of two or more documents, each a sorted list of indices,
        ordered by their first index. Clusters are connected components of
        the pairs of :func:`find_duplicate_pairs`: chains A~B~C are one
        cluster even when A and C are not similar.

    >>> docs = ["the quick brown fox jumps over the lazy dog",
    ...         "The quick brown fox jumps over the lazy dog!",
    ...         "an entirely different sentence about something else"]
    >>> find_duplicates(docs)
    [[0, 1]]
    """
    run = _find(texts, threshold, ngram, num_perm, seed, bands, rows, verify, shingle_mode, jobs, progress)
    return clusters_from_pairs(run.n_docs, run.pairs)


def default_jobs() -> int:
    """Number of usable cores (``jobs=-1`` is not supported; pass this instead)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
