"""The pipelines compared in the benchmarks: dedup and what a user would otherwise write.

Every pipeline takes a list of texts and returns near-duplicate pairs
``(i, j, similarity)`` with ``i < j`` at a Jaccard ``threshold``, using word
5-gram shingles and the same LSH banding ``bands x rows``:

* ``dedup``: :func:`dedup.find_duplicate_pairs` (candidates verified on exact Jaccard);
* ``datasketch``: a plain Python shingler, ``MinHash.update_batch`` (default
  scheme and sha1 hash, or an xxhash hashfunc), ``MinHashLSH(params=(b, r))``,
  a query per document, candidates kept when ``MinHash.jaccard >= threshold``
  (as the datasketch docs suggest);
* ``rensa``: the same shingler, its batch API ``RMinHash.from_token_sets``
  (1,024 documents at a time), ``RMinHashLSH(num_bands=b)`` filled with
  ``insert_many`` and queried with ``query_all`` (rows = num_perm / bands, so
  ``b x r`` must equal ``num_perm``), candidates kept when
  ``RMinHash.jaccard >= threshold``;
* ``gaoya``: ``MinHashStringIndex`` with its own (Rust) word shingler,
  lower-casing and 32-bit hashes, ``par_bulk_insert_docs`` then
  ``par_bulk_query(return_similarity=True)``, on one thread
  (``RAYON_NUM_THREADS=1``, set here before gaoya starts its thread pool).

The Python shingler is what a careful user writes: one compiled regular
expression (words first, the common case), ``zip`` over the word list and
``" ".join``. It tokenises like dedup does on this corpus (case folded, words
of letters/digits, one token per CJK/kana character), so datasketch, rensa
and dedup see the same shingle sets; gaoya splits words its own way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

import dedup

# One thread for gaoya, like every other pipeline here; rayon reads this once, at its first parallel call.
os.environ["RAYON_NUM_THREADS"] = "1"

NUM_PERM = 128
SEED = 1
NGRAM = 5
#: Same banding for every tool. rensa needs bands * rows == num_perm; (16, 8)
#: puts the S-curve's midpoint near 0.7, below the threshold 0.8, as dedup's
#: default does (it tunes the banding for ``threshold - RECALL_MARGIN``).
BANDS, ROWS = 16, 8

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Words first: most matches are words, and re tries the alternatives in order (15% faster).
_TOKEN = re.compile(f"[^\\W_{_CJK}]+|[{_CJK}]")
#: Documents sketched per call of rensa's batch API (bounded memory for the shingle lists).
RENSA_CHUNK = 1024


def shingles(text: str, ngram: int = NGRAM) -> list[str]:
    """Word ``ngram``-shingles of a text, as a typical user writes them in Python.

    >>> shingles("The cat sat on the mat today", 5)
    ['the cat sat on the', 'cat sat on the mat', 'sat on the mat today']
    """
    words = _TOKEN.findall(text.casefold())
    if len(words) < ngram:
        return [" ".join(words)] if words else []
    return list(map(" ".join, zip(*(words[i:] for i in range(ngram)))))


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
    """rensa's batch API (``from_token_sets``, ``insert_many``, ``query_all``) with the shared banding."""
    from rensa import RMinHash, RMinHashLSH

    sketches: list = []
    for lo in range(0, len(texts), RENSA_CHUNK):
        batch = [shingles(text) for text in texts[lo : lo + RENSA_CHUNK]]
        sketches.extend(RMinHash.from_token_sets(batch, NUM_PERM, SEED))
    lsh = RMinHashLSH(threshold=threshold, num_perm=NUM_PERM, num_bands=BANDS)
    lsh.insert_many(sketches)
    found = lsh.query_all(sketches)
    pairs = []
    for i, hits in enumerate(found):
        for j in hits:
            if j > i:
                sim = sketches[i].jaccard(sketches[j])
                if sim >= threshold:
                    pairs.append((i, int(j), float(sim)))
    pairs.sort()
    return pairs


def run_gaoya(texts: Sequence[str], threshold: float = 0.8):
    """gaoya ``MinHashStringIndex`` (its own word 5-gram shingler, lower-cased), bulk insert and query."""
    from gaoya.minhash import MinHashStringIndex

    index = MinHashStringIndex(
        hash_size=32,
        jaccard_threshold=threshold,
        num_bands=BANDS,
        band_size=ROWS,
        analyzer="word",
        lowercase=True,
        ngram_range=(NGRAM, NGRAM),
        id_container="smallvec",
    )
    texts = list(texts)
    index.par_bulk_insert_docs(list(range(len(texts))), texts)
    found = index.par_bulk_query(texts, return_similarity=True)
    # gaoya returns the documents whose estimated similarity reaches its threshold.
    return sorted((i, int(j), float(s)) for i, hits in enumerate(found) for j, s in hits if j > i)


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
    "gaoya": run_gaoya,
}
