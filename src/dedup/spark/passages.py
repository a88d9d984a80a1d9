"""Repeated passages on Spark, with nothing on the driver that grows with the corpus.

The stages (see ``docs/spark.md`` for what each costs):

1. **shingles** (``mapInArrow``): the local seed shingling of each batch of
   documents: one row ``(idx, pos, h, n)`` per full-width shingle (its
   document, first token, full 64-bit hash, and the document's token count).
2. **seeds** (shuffle on ``h``): shingles grouped on their full 64-bit hash;
   every occurrence of a repeated shingle gets the group's size and first
   occurrence (smallest document, then position), as locally. A shingle
   with more than ``hot_shingles`` occurrences (boilerplate) is *salted*:
   its occurrences are spread over ``HOT_SALT`` tasks and its group row is
   copied to each, so no task holds all of them. Results do not change.
   Before the join, shingles that occur once (most of them) are dropped
   with a Bloom filter of the repeated hashes built on the executors
   (:func:`singleton_filter`), so the join shuffles the repeated
   occurrences only, not every token of the corpus.
3. **repeats** (``cogroup`` by repeat document, ``applyInArrow``): each
   document with seeds, its text and its seeds meet on one executor, which
   runs :func:`dedup.passages.matches_from_seeds` (chains, merging, overlap
   resolution, boilerplate trimming, offsets) on that document alone.
   Originals in other documents are read through placeholder texts with the
   same number of tokens, so their spans come back as token positions.
4. **originals** (``cogroup`` by original document): those token positions
   become character offsets with :func:`dedup.tokenize` on the original's
   text.

Every match needs only its repeat document's seeds (chains are per document
pair, overlaps are resolved per repeat document), so step 3 gives exactly
the matches :func:`dedup.find_repeated_passages` gives on the same texts in
document order; the tests check it, also with salting forced on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ..internal import check_passage_params, is_int, passage_shingles
from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Match, Span, matches_from_seeds
from ..text import tokenize
from .session import IDX, TEXT, indexed, rank_column, timed, to_arrow

__all__ = [
    "BLOOM_BITS_PER_KEY",
    "DEFAULT_HOT_SHINGLES",
    "HOT_SALT",
    "MATCH_SCHEMA",
    "MAX_BLOOM_BITS",
    "MAX_HOT_KEYS",
    "Multiplicity",
    "find_repeated_passages",
    "passage_matches",
    "repeated_passages",
    "seed_occurrences",
    "singleton_filter",
]

#: A shingle occurring more often than this is salted (boilerplate: "Share this article").
DEFAULT_HOT_SHINGLES = 100_000
#: Tasks the occurrences of one hot shingle are spread over.
HOT_SALT = 64
#: At most this many hot shingles are salted (the hottest); their hashes are the only
#: list the driver holds, so it stays bounded whatever the corpus.
MAX_HOT_KEYS = 10_000

#: Bits of the singleton filter per repeated shingle (7 probes: about 1% false positives).
BLOOM_BITS_PER_KEY = 10
#: The singleton filter's largest size in bits (32 MB): the driver merges and broadcasts it, so
#: its size is capped; past 27 M repeated shingles it lets more singletons through (never fewer
#: repeated ones), and the join drops those.
MAX_BLOOM_BITS = 1 << 28

#: Columns of the matches of :func:`passage_matches` (``oi``/``ri``: ``IDX`` of the documents).
MATCH_SCHEMA = "oi long, o_start long, o_end long, ri long, r_start long, r_end long, similarity double"
_LOCATED = "oi long, o_start long, o_end long, located boolean, ri long, r_start long, r_end long, similarity double"


def _shingles_fn(ngram: int):
    """Per batch: one ``(idx, pos, h, n)`` row per full-width shingle: its document, first token
    in the document, 64-bit hash (as a signed long), and the document's token count."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            idx = batch.column(0).to_numpy(zero_copy_only=False).astype(np.int64)
            texts = batch.column(1).to_pylist()
            # The local seed shingling (full-width shingles only), one call per batch.
            hashes, first, counts = passage_shingles(texts, ngram)
            token_bounds = np.zeros(len(texts) + 1, dtype=np.int64)
            np.cumsum(counts, out=token_bounds[1:])
            doc = np.searchsorted(token_bounds, first, side="right") - 1
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(idx[doc], pa.int64()),
                    pa.array((first - token_bounds[doc]).astype(np.int32), pa.int32()),
                    pa.array(hashes.view(np.int64), pa.int64()),
                    pa.array(counts[doc].astype(np.int32), pa.int32()),
                ],
                names=["idx", "pos", "h", "n"],
            )

    return fn


class Multiplicity:
    """``multiplicity[a:b]`` of :func:`dedup.passages.matches_from_seeds` without a dense array.

    Locally, ``multiplicity`` has one int32 per token of the whole corpus: the
    number of occurrences of the shingle starting there (0 where none
    starts). Here only the positions of repeated shingles are stored; a
    slice is rebuilt from them and the token counts (``token_bounds``), so
    memory follows the repeated text of the documents at hand.
    """

    def __init__(self, token_bounds: np.ndarray, ngram: int, positions: np.ndarray, counts: np.ndarray) -> None:
        order = np.argsort(positions, kind="stable")
        self._bounds, self._ngram = token_bounds, ngram
        self._pos, self._cnt = positions[order], counts[order].astype(np.int32)

    def __len__(self) -> int:
        return int(self._bounds[-1])

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("only slices of the multiplicity are supported")
        start, stop, step = key.indices(len(self))
        if step != 1:
            raise TypeError("only contiguous slices of the multiplicity are supported")
        t = np.arange(start, max(start, stop), dtype=np.int64)
        doc = np.searchsorted(self._bounds, t, side="right") - 1
        n_tokens = self._bounds[doc + 1] - self._bounds[doc]
        # A full-width shingle starts at t (multiplicity >= 1) when ngram tokens follow in its document.
        out = (t - self._bounds[doc] <= n_tokens - self._ngram).astype(np.int32)
        lo, hi = np.searchsorted(self._pos, [start, max(start, stop)])
        out[self._pos[lo:hi] - start] = self._cnt[lo:hi]
        return out


#: One-letter words: token ``k`` of a placeholder text is characters ``[2k, 2k + 1)``.
_PLACEHOLDER_WORD = "w "


class _RepeatTexts(Sequence):
    """The texts of one repeat document's task: its own text, and for the originals in other
    documents a placeholder with their token count (see :func:`_repeats_fn`)."""

    def __init__(self, counts: np.ndarray, repeat: int, text: str) -> None:
        self._counts, self._repeat, self._text = counts, repeat, text

    def __len__(self) -> int:
        return len(self._counts)

    def __getitem__(self, d):
        return self._text if d == self._repeat else _PLACEHOLDER_WORD * int(self._counts[d])


_EMPTY_LOCATED = pa.schema(
    [
        ("oi", pa.int64()),
        ("o_start", pa.int64()),
        ("o_end", pa.int64()),
        ("located", pa.bool_()),
        ("ri", pa.int64()),
        ("r_start", pa.int64()),
        ("r_end", pa.int64()),
        ("similarity", pa.float64()),
    ]
)


def _repeats_fn(threshold: float, min_words: int, ngram: int):
    """Seeds of one repeat document + its text -> its matches (``_LOCATED`` rows).

    Originals in the same document get character offsets (``located``);
    originals in other documents get token positions ``[first, last + 1)``,
    located by :func:`_originals_fn`.
    """

    def fn(seeds: pa.Table, texts: pa.Table) -> pa.Table:
        if seeds.num_rows == 0 or texts.num_rows == 0:
            return _EMPTY_LOCATED.empty_table()

        def col(name: str) -> np.ndarray:
            return seeds.column(name).to_numpy().astype(np.int64)

        r = int(texts.column(0)[0].as_py())
        text = texts.column(1)[0].as_py()
        rp, rn, oi, op, on, cnt = col("rp"), col("rn"), col("oi"), col("op"), col("on"), col("cnt")
        later = (oi != r) | (op != rp)  # the first occurrence itself only counts for the multiplicity
        if not later.any():
            return _EMPTY_LOCATED.empty_table()
        # The documents of this task, numbered in document order.
        docs = np.unique(np.append(oi[later], r))
        counts = np.zeros(len(docs), dtype=np.int64)
        counts[np.searchsorted(docs, oi)] = on
        here = int(np.searchsorted(docs, r))
        counts[here] = rn[0]
        bounds = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        glob_r = bounds[here] + rp
        glob_o = bounds[np.searchsorted(docs, oi)] + op
        matches = matches_from_seeds(
            _RepeatTexts(counts, here, text),
            glob_o[later],
            glob_r[later],
            bounds,
            Multiplicity(bounds, ngram, glob_r, cnt),
            threshold=threshold,
            min_words=min_words,
            ngram=ngram,
        )
        same = np.array([m.original.doc == here for m in matches], dtype=bool)
        o_start = np.array([m.original.start for m in matches], dtype=np.int64)
        o_end = np.array([m.original.end for m in matches], dtype=np.int64)
        # Placeholder offsets back to token positions: [2 * first, 2 * last + 1) -> [first, last + 1).
        o_start = np.where(same, o_start, o_start // 2)
        o_end = np.where(same, o_end, (o_end - 1) // 2 + 1)
        return pa.table(
            {
                "oi": pa.array(docs[[m.original.doc for m in matches]].astype(np.int64), pa.int64()),
                "o_start": pa.array(o_start, pa.int64()),
                "o_end": pa.array(o_end, pa.int64()),
                "located": pa.array(same, pa.bool_()),
                "ri": pa.array(np.full(len(matches), r, dtype=np.int64), pa.int64()),
                "r_start": pa.array([m.repeat.start for m in matches], pa.int64()),
                "r_end": pa.array([m.repeat.end for m in matches], pa.int64()),
                "similarity": pa.array([float(m.similarity) for m in matches], pa.float64()),
            },
            schema=_EMPTY_LOCATED,
        )

    return fn


def _originals_fn(matches: pa.Table, texts: pa.Table) -> pa.Table:
    """Matches of one original document + its text: token positions -> character offsets."""
    if matches.num_rows == 0 or texts.num_rows == 0:
        return _EMPTY_LOCATED.empty_table()
    tokens = tokenize([texts.column(1)[0].as_py()], offsets=True)
    assert tokens.starts is not None and tokens.ends is not None
    first = matches.column("o_start").to_numpy().astype(np.int64)
    end = matches.column("o_end").to_numpy().astype(np.int64)
    return matches.set_column(1, "o_start", pa.array(tokens.starts[first], pa.int64())).set_column(
        2, "o_end", pa.array(tokens.ends[end - 1], pa.int64())
    )


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _bloom_probes(h: np.ndarray, bits: int, probes: int) -> np.ndarray:
    """``(len(h), probes)`` bit positions in a filter of ``bits`` bits (a power of two) for the
    64-bit hashes ``h``: double hashing ``a + i * b`` on two halves of a remixed hash."""
    x = h.view(np.uint64) * _MIX  # wraps: a multiplicative remix, so both halves are uniform
    x ^= x >> np.uint64(31)
    a, b = x & np.uint64(0xFFFFFFFF), (x >> np.uint64(32)) | np.uint64(1)
    steps = np.arange(probes, dtype=np.uint64)
    return ((a[:, None] + steps[None, :] * b[:, None]) & np.uint64(bits - 1)).astype(np.int64)


def _bloom_words_fn(bits: int, probes: int):
    """Per batch of repeated hashes: the filter's non-zero 64-bit words ``(word, mask)``."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pos = _bloom_probes(batch.column(0).to_numpy().astype(np.int64), bits, probes).reshape(-1)
            word = pos >> 6
            order = np.argsort(word, kind="stable")
            word, mask = word[order], np.left_shift(np.uint64(1), (pos[order] & 63).astype(np.uint64))
            starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(word[starts], pa.int64()),
                    pa.array(np.bitwise_or.reduceat(mask, starts).view(np.int64), pa.int64()),
                ],
                names=["word", "mask"],
            )

    return fn


def _bloom_keep_fn(words: Any, bits: int, probes: int):
    """Per batch of shingles: only the rows whose hash may be in the filter (``words``: a broadcast)."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = words.value
        for batch in batches:
            if batch.num_rows == 0:
                continue
            pos = _bloom_probes(batch.column("h").to_numpy().astype(np.int64), bits, probes)
            hit = (table[pos >> 6] >> (pos & 63).astype(np.uint64)) & np.uint64(1)
            keep = hit.all(axis=1)
            if keep.any():
                yield batch.filter(pa.array(keep))

    return fn


def singleton_filter(shingles: DataFrame, repeated: DataFrame, n_repeated: int) -> DataFrame:
    """``shingles`` without (almost all) the rows whose hash ``h`` is not in ``repeated``.

    A Bloom filter of the ``n_repeated`` hashes of ``repeated`` (column ``h``)
    is built on the executors (each task sets the bits of its hashes; the
    words are OR-ed by a shuffle of non-zero words), merged on the driver
    (:data:`BLOOM_BITS_PER_KEY` bits per hash, at most :data:`MAX_BLOOM_BITS`)
    and broadcast; every shingle row whose hash misses it is dropped before
    the join. A Bloom filter has no false negatives, so every occurrence of
    a repeated shingle stays (results do not change); about 1% of the
    singletons get through and are dropped by the join.
    """
    if n_repeated == 0:
        return shingles.limit(0)
    bits = 1 << max(6, int(n_repeated * BLOOM_BITS_PER_KEY - 1).bit_length())
    bits = min(bits, MAX_BLOOM_BITS)
    probes = int(np.clip(round(bits / n_repeated * np.log(2)), 1, 8))
    parts = (
        repeated.select("h")
        .mapInArrow(_bloom_words_fn(bits, probes), "word long, mask long")
        .groupBy("word")
        .agg(F.bit_or("mask").alias("mask"))
    )
    table = np.zeros(bits >> 6, dtype=np.uint64)
    got = to_arrow(parts)
    if got.num_rows:
        table[got.column("word").to_numpy()] = got.column("mask").to_numpy().view(np.uint64)
    words = shingles.sparkSession.sparkContext.broadcast(table)
    return shingles.mapInArrow(_bloom_keep_fn(words, bits, probes), shingles.schema)


def seed_occurrences(
    docs: DataFrame,
    ngram: int,
    *,
    hot_shingles: int = DEFAULT_HOT_SHINGLES,
    drop_singletons: bool = True,
    stats: dict | None = None,
) -> DataFrame:
    """Every occurrence of a repeated shingle with its group: ``(ri, rp, rn, oi, op, on, cnt)``.

    ``docs`` is an :func:`~dedup.spark.session.indexed` DataFrame. ``ri``/``rp``
    are the occurrence's document (``IDX``) and first token, ``rn`` its
    document's token count; ``oi``/``op``/``on`` the same for the shingle's
    first occurrence; ``cnt`` how often the shingle occurs. Shingles are
    grouped on their full 64-bit hash. Shingles occurring more than
    ``hot_shingles`` times are salted over :data:`HOT_SALT` tasks. With
    ``drop_singletons`` (the default) shingles that occur once are dropped
    before the join (:func:`singleton_filter`); the result is the same
    without it, the join only shuffles every shingle instead of the
    repeated ones.
    """
    t = time.perf_counter()
    shingles = (
        docs.select(IDX, TEXT)
        .mapInArrow(_shingles_fn(ngram), "idx long, pos int, h long, n int")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # count and min are computed partially before the shuffle: a hot shingle is one row per task here.
    groups = (
        shingles.groupBy("h")
        .agg(F.count(F.lit(1)).alias("cnt"), F.min(F.struct("idx", "pos", "n")).alias("f"))
        .where(F.col("cnt") > 1)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    hot = [
        r[0]
        for r in groups.where(F.col("cnt") > hot_shingles)
        .orderBy(F.desc("cnt"))
        .select("h")
        .limit(MAX_HOT_KEYS)
        .collect()
    ]
    n_repeated = groups.count()
    if stats is not None:
        stats.update(repeated_shingles=n_repeated, hot_shingles=len(hot))
    spark = docs.sparkSession
    if drop_singletons:
        shingles = singleton_filter(shingles, groups, n_repeated)
    if hot:
        marks = F.broadcast(spark.createDataFrame([(h, True) for h in hot], "h long, hot boolean"))
        salt: Column = F.when(F.col("hot"), F.pmod(F.xxhash64("idx", "pos"), F.lit(HOT_SALT))).otherwise(F.lit(0))
        occ = shingles.join(marks, "h", "left").withColumn("salt", salt).drop("hot")
        copies = F.when(F.col("hot"), F.sequence(F.lit(0), F.lit(HOT_SALT - 1))).otherwise(F.array(F.lit(0)))
        grp = groups.join(marks, "h", "left").withColumn("salt", F.explode(copies)).drop("hot")
        joined = occ.join(grp, ["h", "salt"])
    else:
        joined = shingles.join(groups, "h")
    out = joined.select(
        F.col("idx").alias("ri"),
        F.col("pos").alias("rp"),
        F.col("n").alias("rn"),
        F.col("f.idx").alias("oi"),
        F.col("f.pos").alias("op"),
        F.col("f.n").alias("on"),
        "cnt",
    )
    timed(stats, "shingles+groups", t)
    return out


def passage_matches(
    docs: DataFrame,
    *,
    threshold: float,
    min_words: int,
    ngram: int,
    hot_shingles: int = DEFAULT_HOT_SHINGLES,
    drop_singletons: bool = True,
    stats: dict | None = None,
) -> DataFrame:
    """The matches of an :func:`~dedup.spark.session.indexed` DataFrame, as a DataFrame.

    Columns :data:`MATCH_SCHEMA`: ``oi``/``ri`` are the ``IDX`` of the
    original and repeat documents, offsets are characters (end exclusive).
    Not sorted; nothing is collected. ``drop_singletons``: see
    :func:`seed_occurrences` (the same matches either way).
    """
    check_passage_params(threshold, min_words, ngram, 1)
    occ = seed_occurrences(docs, ngram, hot_shingles=hot_shingles, drop_singletons=drop_singletons, stats=stats)
    texts = docs.select(IDX, TEXT)
    # Only documents with a later occurrence of some shingle can hold a repeat.
    holders = occ.where((F.col("oi") != F.col("ri")) | (F.col("op") != F.col("rp"))).select(F.col("ri").alias(IDX))
    repeat_texts = texts.join(holders.distinct(), IDX, "left_semi")
    found = (
        occ.groupBy("ri")
        .cogroup(repeat_texts.groupBy(IDX))
        .applyInArrow(_repeats_fn(threshold, min_words, ngram), _LOCATED)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    away = found.where(~F.col("located"))
    original_texts = texts.join(away.select(F.col("oi").alias(IDX)).distinct(), IDX, "left_semi")
    located = away.groupBy("oi").cogroup(original_texts.groupBy(IDX)).applyInArrow(_originals_fn, _LOCATED)
    return found.where(F.col("located")).unionByName(located).drop("located")


def _check_hot(hot_shingles: int) -> None:
    if not is_int(hot_shingles) or hot_shingles < 1:
        raise ValueError(f"hot_shingles must be an integer >= 1, got {hot_shingles!r}")


def _matches_frame(
    df: DataFrame,
    id_col: str,
    text_col: str,
    threshold: float,
    min_words: int,
    ngram: int,
    order_by: str | Sequence[str] | None,
    hot_shingles: int,
    stats: dict | None,
) -> tuple[DataFrame, DataFrame, float]:
    """Matches with ids and document ranks (``o_rank``, ``r_rank``), sorted like the local result
    (not yet computed); the persisted indexed input (to unpersist when done); the start time."""
    check_passage_params(threshold, min_words, ngram, 1)
    _check_hot(hot_shingles)
    t0 = time.perf_counter()
    docs = indexed(df, id_col, text_col, order_by)
    n_docs = docs.count()
    timed(stats, "read", t0)
    if stats is not None:
        stats["documents"] = n_docs
    matches = passage_matches(
        docs, threshold=threshold, min_words=min_words, ngram=ngram, hot_shingles=hot_shingles, stats=stats
    )
    ids = docs.select(F.col(IDX), F.col(id_col).alias("_id"), rank_column(docs).alias("_rank"))
    originals = ids.select(F.col(IDX).alias("oi"), F.col("_id").alias("original_id"), F.col("_rank").alias("o_rank"))
    repeats = ids.select(F.col(IDX).alias("ri"), F.col("_id").alias("repeat_id"), F.col("_rank").alias("r_rank"))
    out = matches.join(originals, "oi").join(repeats, "ri").orderBy("r_rank", "r_start")
    return out, docs, t0


def _finish(stats: dict | None, t0: float, n_matches: int) -> None:
    if stats is not None:
        stats["matches"] = n_matches
        timed(stats, "matches", t0 + sum(v for k, v in stats.get("seconds", {}).items() if k != "total"))
        stats["seconds"]["total"] = round(time.perf_counter() - t0, 3)


def repeated_passages(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    order_by: str | Sequence[str] | None = None,
    hot_shingles: int = DEFAULT_HOT_SHINGLES,
    stats: dict | None = None,
) -> list[tuple[Any, Any, Match]]:
    """Repeated passages collected as Python objects: ``(original_id, repeat_id, Match)``.

    ``Match.original.doc`` / ``Match.repeat.doc`` are ranks in document
    order, so the list equals :func:`dedup.find_repeated_passages` on the
    texts in that order. This collects the matches on the driver (not the
    texts); for large results use :func:`find_repeated_passages`.
    """
    out, docs, t0 = _matches_frame(df, id_col, text_col, threshold, min_words, ngram, order_by, hot_shingles, stats)
    found = [
        (
            r["original_id"],
            r["repeat_id"],
            Match(
                Span(r["o_rank"], r["o_start"], r["o_end"]),
                Span(r["r_rank"], r["r_start"], r["r_end"]),
                r["similarity"],
            ),
        )
        for r in out.collect()
    ]
    docs.unpersist()
    _finish(stats, t0, len(found))
    return found


def find_repeated_passages(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    order_by: str | Sequence[str] | None = None,
    hot_shingles: int = DEFAULT_HOT_SHINGLES,
    stats: dict | None = None,
) -> DataFrame:
    """Repeated passages across the documents of a DataFrame.

    Returns a DataFrame ``(original_id, original_start, original_end,
    repeat_id, repeat_start, repeat_end, similarity)``: character offsets
    (end exclusive) into the texts, the same matches, in the same order, as
    :func:`dedup.find_repeated_passages` on the texts in document order
    (the original is the earlier occurrence). The result is computed and
    cached (``unpersist()`` it when done); nothing but counts reaches the
    driver.

    Seeds are found with a shuffle on the full 64-bit shingle hash, and
    matched on the executors, one repeat document per task, with the
    library's own code (see the module docstring). ``hot_shingles``: a
    shingle occurring more often than this is spread over several tasks.

    >>> find_repeated_passages(spark.read.parquet("docs.parquet"), "id", "text").show()  # doctest: +SKIP
    """
    out, docs, t0 = _matches_frame(df, id_col, text_col, threshold, min_words, ngram, order_by, hot_shingles, stats)
    result = out.select(
        "original_id",
        F.col("o_start").alias("original_start"),
        F.col("o_end").alias("original_end"),
        "repeat_id",
        F.col("r_start").alias("repeat_start"),
        F.col("r_end").alias("repeat_end"),
        "similarity",
    ).persist(StorageLevel.MEMORY_AND_DISK)
    n_matches = result.count()
    docs.unpersist()
    _finish(stats, t0, n_matches)
    return result
