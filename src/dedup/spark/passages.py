"""Repeated passages on Spark, with nothing on the driver that grows with the corpus.

The stages (see ``docs/spark.md`` for what each costs):

1. **shingles** (``mapInArrow``): the local seed shingling of each batch of
   documents: one row ``(idx, pos, h, n)`` per full-width shingle (its
   document, first token, full 64-bit hash, and the document's token count).
2. **seeds** (one shuffle on ``h``): the shingles are hash-partitioned on
   their full 64-bit hash once; each partition then groups its own hashes
   (count, first occurrence: smallest document, then position, as locally)
   and joins its repeated ones with their groups, with no second shuffle
   and nothing on the driver (*co-partitioned*). A shingle occurring more
   than ``hot_shingles`` times (boilerplate; counted exactly by a partially
   aggregated count before the shuffle) is *salted in that shuffle*: its
   occurrences are spread over ``HOT_SALT`` tasks, each aggregates its part,
   the small per-salt parts are combined and the group row is joined back
   with each part. Results do not change.
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
from pyspark.broadcast import Broadcast
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..internal import check_passage_params, is_int, passage_shingles
from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Match, Span, matches_from_seeds
from ..text import tokenize
from .session import IDX, TEXT, indexed, rank_column, timed

__all__ = [
    "DEFAULT_HOT_SHINGLES",
    "HOT_SALT",
    "MATCH_SCHEMA",
    "Multiplicity",
    "find_repeated_passages",
    "hot_hashes",
    "passage_matches",
    "repeated_passages",
    "seed_occurrences",
]

#: A shingle occurring more often than this is salted (boilerplate: "Share this article").
DEFAULT_HOT_SHINGLES = 100_000
#: Tasks the occurrences of one hot shingle are spread over.
HOT_SALT = 64
_SHINGLES = "idx long, pos int, h long, n int"
_SALTED = _SHINGLES + ", s int"

#: Columns of the matches of :func:`passage_matches` (``oi``/``ri``: ``IDX`` of the documents).
MATCH_SCHEMA = "oi long, o_start long, o_end long, ri long, r_start long, r_end long, similarity double"
_LOCATED = "oi long, o_start long, o_end long, located boolean, ri long, r_start long, r_end long, similarity double"


def _shingles_fn(ngram: int, hot: Broadcast | None = None):
    """Per batch: one ``(idx, pos, h, n)`` row per full-width shingle: its document, first token
    in the document, 64-bit hash (as a signed long), and the document's token count. With
    ``hot`` (the broadcast sorted hashes of the hot shingles), also ``s``: a salt in
    ``[0, HOT_SALT)`` for an occurrence of a hot shingle, -1 for the others."""

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
            pos = (first - token_bounds[doc]).astype(np.int32)
            h = hashes.view(np.int64)
            columns = [
                pa.array(idx[doc], pa.int64()),
                pa.array(pos, pa.int32()),
                pa.array(h, pa.int64()),
                pa.array(counts[doc].astype(np.int32), pa.int32()),
            ]
            names = ["idx", "pos", "h", "n"]
            if hot is not None:
                table = hot.value
                at = np.minimum(np.searchsorted(table, h), max(len(table) - 1, 0))
                is_hot = table[at] == h if len(table) else np.zeros(len(h), dtype=bool)
                columns.append(pa.array(np.where(is_hot, _salt(idx[doc], pos), -1).astype(np.int32), pa.int32()))
                names.append("s")
            yield pa.RecordBatch.from_arrays(columns, names=names)

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


def _counts_fn(ngram: int):
    """Per batch: one ``(h, c)`` row per distinct full-width shingle hash and its count in the
    batch (a numpy pre-aggregation before Spark's own partial aggregation)."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            hashes, _, _ = passage_shingles(batch.column(1).to_pylist(), ngram)
            h, c = np.unique(hashes.view(np.int64), return_counts=True)
            yield pa.RecordBatch.from_arrays([pa.array(h, pa.int64()), pa.array(c, pa.int64())], names=["h", "c"])

    return fn


def hot_hashes(docs: DataFrame, ngram: int, hot_shingles: int) -> np.ndarray:
    """The hashes of the shingles occurring more than ``hot_shingles`` times, exactly, as a sorted
    ``int64`` array (the shingle hash as a signed long).

    A distributed count before the shingles are shuffled: each batch of
    documents counts its own hashes (``np.unique``), Spark combines them in
    each task (a partial aggregate: one ``(hash, count)`` row per distinct
    hash and task), shuffles the counts on the hash and keeps those above
    ``hot_shingles``. Only those reach the driver: at most ``T / (hot_shingles
    + 1)`` hashes for ``T`` shingles in all (8 bytes each), so the driver's
    memory does not follow the corpus but the corpus divided by the
    threshold. Exact, so no hot shingle is missed whatever its spread over
    documents (a sample of documents misjudges a shingle repeated many times
    in a few of them). ``docs`` is an :func:`~dedup.spark.session.indexed` DataFrame.
    """
    per_batch = docs.select(IDX, TEXT).mapInArrow(_counts_fn(ngram), "h long, c long")
    counts = per_batch.groupBy("h").agg(F.sum("c").alias("c"))
    hot = [r[0] for r in counts.where(F.col("c") > hot_shingles).select("h").collect()]
    return np.sort(np.array(hot, dtype=np.int64))


def _salt(idx: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """A salt in ``[0, HOT_SALT)`` per occurrence, from its document and position (a
    multiplicative hash: deterministic, so a recomputed task salts the same way)."""
    with np.errstate(over="ignore"):
        mixed = idx.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + pos.astype(np.uint64) * np.uint64(
            0xC2B2AE3D27D4EB4F
        )
        mixed ^= mixed >> np.uint64(29)
        mixed *= np.uint64(0xBF58476D1CE4E5B9)
    return ((mixed >> np.uint64(32)) % np.uint64(HOT_SALT)).astype(np.int32)


def _partitioned_shingles(docs: DataFrame, ngram: int, hot_shingles: int | None) -> tuple[DataFrame, np.ndarray]:
    """The one shuffle of the shingles: hash-partitioned on ``h`` (and persisted); with hot
    shingles (:func:`hot_hashes`), on ``(h, s)``, ``s`` a salt in ``[0, HOT_SALT)`` for the hot
    ones and -1 for the others (the hot hashes are broadcast to the shingling tasks, which
    salt their occurrences). Also returns the hot hashes."""
    hot = np.empty(0, dtype=np.int64) if hot_shingles is None else hot_hashes(docs, ngram, hot_shingles)
    source = docs.select(IDX, TEXT)
    if len(hot):
        shingles = source.mapInArrow(_shingles_fn(ngram, docs.sparkSession.sparkContext.broadcast(hot)), _SALTED)
        keys = ["h", "s"]
    else:
        shingles = source.mapInArrow(_shingles_fn(ngram), _SHINGLES)
        keys = ["h"]
    n_parts = int(docs.sparkSession.conf.get("spark.sql.shuffle.partitions") or 200)
    return shingles.repartition(n_parts, *keys).persist(StorageLevel.MEMORY_AND_DISK), hot


def seed_occurrences(
    docs: DataFrame,
    ngram: int,
    *,
    hot_shingles: int | None = DEFAULT_HOT_SHINGLES,
    copartition: bool = True,
    stats: dict | None = None,
) -> DataFrame:
    """Every occurrence of a repeated shingle with its group: ``(ri, rp, rn, oi, op, on, cnt)``.

    ``docs`` is an :func:`~dedup.spark.session.indexed` DataFrame. ``ri``/``rp``
    are the occurrence's document (``IDX``) and first token, ``rn`` its
    document's token count; ``oi``/``op``/``on`` the same for the shingle's
    first occurrence; ``cnt`` how often the shingle occurs. Shingles are
    grouped on their full 64-bit hash.

    With ``copartition`` (the default) the shingles are shuffled once, on
    their hash; the grouping and the join of each shingle with its group then
    run in the same partitions (no second shuffle of the shingles, nothing
    on the driver but the hot hashes). Shingles occurring more than
    ``hot_shingles`` times (counted exactly before the shuffle,
    :func:`hot_hashes`) are *salted in that shuffle*: their occurrences
    are partitioned on (hash, salt) over :data:`HOT_SALT` salts, each salt's
    part is aggregated where it lands, the per-salt counts and first
    occurrences (at most ``HOT_SALT`` small rows per hot shingle) are combined
    by a small shuffle, and the combined group row is joined back with each
    salt's part. So no task receives all occurrences of one shingle.
    ``hot_shingles=None`` counts nothing and salts nothing.

    Without ``copartition``, the grouping and the join each shuffle the
    shingles (the same result; kept to measure the difference); the grouping
    is partially aggregated before its shuffle and the hot shingles (exact
    counts) are salted for the join.
    """
    t = time.perf_counter()
    first = F.min(F.struct("idx", "pos", "n")).alias("f")
    if not copartition:
        shingles = docs.select(IDX, TEXT).mapInArrow(_shingles_fn(ngram), _SHINGLES)
        return _seeds_two_shuffles(shingles.persist(StorageLevel.MEMORY_AND_DISK), hot_shingles, stats, t)
    shingles, hot = _partitioned_shingles(docs, ngram, hot_shingles)
    is_hot = F.col("s") >= 0
    keys = ["h", "s"] if len(hot) else ["h"]
    # Each partition aggregates its own keys (no shuffle): whole groups for the cold shingles,
    # one part per salt for the hot ones.
    parts = shingles.groupBy(*keys).agg(F.count(F.lit(1)).alias("cnt"), first)
    if len(hot):
        groups = parts.where(~is_hot & (F.col("cnt") > 1)).persist(StorageLevel.MEMORY_AND_DISK)
        # The hot shingles' per-salt parts (<= HOT_SALT rows each) combined by a small shuffle.
        combined = (
            parts.where(is_hot)
            .groupBy("h")
            .agg(F.sum("cnt").alias("cnt"), F.min("f").alias("f"))
            .where(F.col("cnt") > 1)
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        n_repeated = groups.count() + combined.count() if stats is not None else 0
        each_salt = combined.select("*", F.explode(F.sequence(F.lit(0), F.lit(HOT_SALT - 1))).alias("s"))
        # Filters keep the partitioning: neither join shuffles the shingles again.
        cold = shingles.where(~is_hot).join(groups, keys)
        joined = cold.unionByName(shingles.where(is_hot).join(each_salt, keys))
    else:
        groups = parts.where(F.col("cnt") > 1).persist(StorageLevel.MEMORY_AND_DISK)
        n_repeated = groups.count() if stats is not None else 0
        joined = shingles.join(groups, "h")
    if stats is not None:
        stats.update(repeated_shingles=n_repeated, hot_shingles=len(hot))
    timed(stats, "shingles+groups", t)
    return _occurrences(joined)


def _seeds_two_shuffles(shingles: DataFrame, hot_shingles: int | None, stats: dict | None, t: float) -> DataFrame:
    """:func:`seed_occurrences` without co-partitioning: the grouping (partially aggregated) and
    the join each shuffle the shingles; shingles with more than ``hot_shingles`` occurrences are
    salted for the join."""
    groups = (
        shingles.groupBy("h")
        .agg(F.count(F.lit(1)).alias("cnt"), F.min(F.struct("idx", "pos", "n")).alias("f"))
        .where(F.col("cnt") > 1)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    # Exact counts: at most T / (hot_shingles + 1) hashes for T shingles.
    hot = (
        [] if hot_shingles is None else [r[0] for r in groups.where(F.col("cnt") > hot_shingles).select("h").collect()]
    )
    n_repeated = groups.count()
    if stats is not None:
        stats.update(repeated_shingles=n_repeated, hot_shingles=len(hot))
    if hot:
        is_hot = F.col("h").isin(hot)
        cold = shingles.where(~is_hot).join(groups.where(~is_hot), "h")
        salt = F.pmod(F.xxhash64("idx", "pos"), F.lit(HOT_SALT)).alias("s")
        occ = shingles.where(is_hot).select("*", salt)
        grp = groups.where(is_hot).select("*", F.explode(F.sequence(F.lit(0), F.lit(HOT_SALT - 1))).alias("s"))
        joined = cold.unionByName(occ.join(grp, ["h", "s"]).drop("s"))
    else:
        joined = shingles.join(groups, "h")
    timed(stats, "shingles+groups", t)
    return _occurrences(joined)


def _occurrences(joined: DataFrame) -> DataFrame:
    """Shingles joined with their groups -> the columns of :func:`seed_occurrences`."""
    return joined.select(
        F.col("idx").alias("ri"),
        F.col("pos").alias("rp"),
        F.col("n").alias("rn"),
        F.col("f.idx").alias("oi"),
        F.col("f.pos").alias("op"),
        F.col("f.n").alias("on"),
        "cnt",
    )


def passage_matches(
    docs: DataFrame,
    *,
    threshold: float,
    min_words: int,
    ngram: int,
    hot_shingles: int | None = DEFAULT_HOT_SHINGLES,
    copartition: bool = True,
    stats: dict | None = None,
) -> DataFrame:
    """The matches of an :func:`~dedup.spark.session.indexed` DataFrame, as a DataFrame.

    Columns :data:`MATCH_SCHEMA`: ``oi``/``ri`` are the ``IDX`` of the
    original and repeat documents, offsets are characters (end exclusive).
    Not sorted; nothing is collected. ``copartition``: see
    :func:`seed_occurrences` (the same matches either way).
    """
    check_passage_params(threshold, min_words, ngram, 1)
    occ = seed_occurrences(docs, ngram, hot_shingles=hot_shingles, copartition=copartition, stats=stats)
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


def _check_hot(hot_shingles: int | None) -> None:
    if hot_shingles is not None and (not is_int(hot_shingles) or hot_shingles < 1):
        raise ValueError(f"hot_shingles must be an integer >= 1 or None, got {hot_shingles!r}")


def _matches_frame(
    df: DataFrame,
    id_col: str,
    text_col: str,
    threshold: float,
    min_words: int,
    ngram: int,
    order_by: str | Sequence[str] | None,
    hot_shingles: int | None,
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
    hot_shingles: int | None = DEFAULT_HOT_SHINGLES,
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
    hot_shingles: int | None = DEFAULT_HOT_SHINGLES,
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
    shingle occurring more often than this is spread over several tasks
    (counted exactly first: a second shingling pass and a shuffle of the
    partially aggregated counts); ``None`` skips that count and salts
    nothing (for corpora known to hold no boilerplate: the same results).

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
