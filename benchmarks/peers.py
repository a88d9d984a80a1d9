"""The pipelines compared in the benchmarks: dedup and what a user would otherwise write.

Every pipeline takes a list of texts and returns near-duplicate pairs
``(i, j, similarity)`` with ``i < j`` at a Jaccard ``threshold``, using word
5-gram shingles and the same LSH banding ``bands x rows``:

* ``dedup``: :func:`dedup.find_duplicate_pairs` (candidates verified on exact Jaccard);
* ``datasketch``: a plain Python shingler, ``MinHash.update_batch`` (default
  scheme and sha1 hash, or an xxhash hashfunc), ``MinHashLSH(params=(b, r))``,
  a query per document, candidates kept when ``MinHash.jaccard >= threshold``
  (as the datasketch docs suggest);
* ``rensa``: the same shingler, ``RMinHash.update``, ``RMinHashLSH(num_bands=b)``
  (rows = num_perm / bands, so ``b x r`` must equal ``num_perm``), a query per
  document, candidates kept when ``RMinHash.jaccard >= threshold``.

The plain shingler tokenises like dedup does on this corpus (case folded,
words of letters/digits, one token per CJK/kana character), so all three
see the same shingle sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import dedup

NUM_PERM = 128
SEED = 1
NGRAM = 5
#: Same banding for every tool. rensa needs bands * rows == num_perm; (16, 8)
#: puts the S-curve's midpoint near 0.7, below the threshold 0.8, as dedup's
#: default does (it tunes the banding for ``threshold - RECALL_MARGIN``).
BANDS, ROWS = 16, 8

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")


def shingles(text: str, ngram: int = NGRAM) -> list[str]:
    """Word ``ngram``-shingles of a text, as a typical user writes them in Python.

    >>> shingles("The cat sat on the mat today", 5)
    ['the cat sat on the', 'cat sat on the mat', 'sat on the mat today']
    """
    words = _TOKEN.findall(text.casefold())
    if len(words) < ngram:
        return [" ".join(words)] if words else []
    return [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]


def run_dedup(
    texts: Sequence[str], threshold: float = 0.8, *, bands: int | None = BANDS, rows: int | None = ROWS, jobs: int = 1
):
    """dedup's pipeline, with the shared banding (or its own default with ``bands=rows=None``)."""
    return dedup.find_duplicate_pairs(texts, threshold, num_perm=NUM_PERM, seed=SEED, bands=bands, rows=rows, jobs=jobs)


def _xxhash32(data: bytes) -> int:
    import xxhash

    return xxhash.xxh32_intdigest(data)


def run_datasketch(texts: Sequence[str], threshold: float = 0.8, *, hashfunc: str = "sha1"):
    """datasketch MinHash + MinHashLSH; ``hashfunc`` is ``"sha1"`` (its default) or ``"xxhash"``."""
    from datasketch import MinHash, MinHashLSH

    kwargs: dict = {} if hashfunc == "sha1" else {"hashfunc": _xxhash32}
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, params=(BANDS, ROWS))
    sketches = []
    for i, text in enumerate(texts):
        m = MinHash(num_perm=NUM_PERM, seed=SEED, **kwargs)
        m.update_batch([s.encode("utf-8") for s in shingles(text)])
        lsh.insert(i, m, check_duplication=False)
        sketches.append(m)
    return _query_all(sketches, lsh.query)


def run_rensa(texts: Sequence[str], threshold: float = 0.8):
    """rensa RMinHash + RMinHashLSH with the shared banding."""
    from rensa import RMinHash, RMinHashLSH

    lsh = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=BANDS)
    sketches = []
    for i, text in enumerate(texts):
        m = RMinHash(num_perm=NUM_PERM, seed=SEED)
        m.update(shingles(text))
        lsh.insert(i, m)
        sketches.append(m)
    return _query_all(sketches, lsh.query, threshold)


def _query_all(sketches: list, query: Callable, threshold: float = 0.8) -> list[tuple[int, int, float]]:
    pairs = []
    for i, m in enumerate(sketches):
        for j in query(m):
            if j > i:
                sim = m.jaccard(sketches[j])
                if sim >= threshold:
                    pairs.append((i, int(j), float(sim)))
    pairs.sort()
    return pairs


#: name -> callable(texts) -> pairs, in the order of the tables.
PIPELINES: dict[str, Callable] = {
    "dedup": run_dedup,
    "datasketch (sha1, default)": lambda texts: run_datasketch(texts, hashfunc="sha1"),
    "datasketch (xxhash)": lambda texts: run_datasketch(texts, hashfunc="xxhash"),
    "rensa": run_rensa,
}
