"""Repeated passages on Spark: shingles and seeds by shuffle, then the library's chain code.

The shingling of each document is :func:`dedup.passages` code run on Arrow
batches; seeds come from a shuffle on the shingle hash. See ``docs/spark.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..internal import check_passage_params, passage_shingles
from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Match, matches_from_seeds
from .session import IDX, TEXT, indexed, timed, to_arrow

__all__ = ["Multiplicity", "find_repeated_passages", "passage_matches", "repeated_passages", "spark_seeds"]


def _shingles_fn(ngram: int):
    """Per batch: one ``(idx, pos, h)`` row per full-width shingle (``pos`` its first token in the
    document, ``h`` its hash) and one ``(idx, -1, token count)`` row per document."""

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
                    pa.array(np.concatenate([idx[doc], idx]), pa.int64()),
                    pa.array(np.concatenate([first - token_bounds[doc], np.full(len(idx), -1)]).astype(np.int32)),
                    pa.array(np.concatenate([hashes.view(np.int64), counts.astype(np.int64)]), pa.int64()),
                ],
                names=["idx", "pos", "h"],
            )

    return fn


class Multiplicity:
    """``multiplicity[a:b]`` of :func:`dedup.passages.matches_from_seeds` without a dense array.

    Locally, ``multiplicity`` has one int32 per token of the whole corpus: the
    number of occurrences of the shingle starting there (0 where none
    starts). Here only the positions of repeated shingles (the seeds) are
    stored; a slice is rebuilt from them and the token counts, so driver
    memory follows the repeated text, not the corpus.
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


class _SomeDocs(Sequence):
    """The texts of the documents that hold seeds; the others are never read."""

    def __init__(self, n: int, texts: Mapping[int, str]) -> None:
        self._n, self._texts = n, texts

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, d):
        return self._texts[d]


def spark_seeds(
    docs: DataFrame, ngram: int, stats: dict | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Multiplicity, np.ndarray]:
    """The seeds of :func:`dedup.passages._seeds`, computed with a shuffle on the shingle hash.

    Returns the document ids ``IDX`` in document order, the token bounds,
    the seeds ``original``/``repeat`` (global token positions), the
    multiplicity, and the documents that hold seeds (ranks in document order).
    """
    t = time.perf_counter()
    rows = (
        docs.select(IDX, TEXT)
        .mapInArrow(_shingles_fn(ngram), "idx long, pos int, h long")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = to_arrow(rows.where(F.col("pos") < 0).select("idx", F.col("h").alias("tokens")))
    t = timed(stats, "shingles", t)
    idx = counts.column("idx").to_numpy(zero_copy_only=False)
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    token_bounds = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(counts.column("tokens").to_numpy(zero_copy_only=False)[order], out=token_bounds[1:])

    # Shingles are grouped on the top 64 - bits bits of their hash, where bits
    # holds a token position: exactly the key the local seed sort uses
    # (dedup.passages._seeds), so the same (rare) truncated-hash collisions
    # give the same seeds.
    bits = max(1, int(token_bounds[-1]).bit_length())
    shingles = rows.where(F.col("pos") >= 0).select("idx", "pos", F.shiftrightunsigned("h", bits).alias("k"))
    # Every occurrence of a repeated shingle, with its first occurrence (min of (doc, position)).
    groups = (
        shingles.groupBy("k")
        .agg(F.count(F.lit(1)).alias("cnt"), F.min(F.struct("idx", "pos")).alias("f"))
        .where(F.col("cnt") > 1)
    )
    occurrences = to_arrow(
        shingles.join(groups, "k").select(
            F.col("f.idx").alias("oi"),
            F.col("f.pos").alias("op"),
            F.col("idx").alias("ri"),
            F.col("pos").alias("rp"),
            "cnt",
        )
    )
    rows.unpersist()
    timed(stats, "seeds", t)

    def col(name: str) -> np.ndarray:
        return occurrences.column(name).to_numpy(zero_copy_only=False).astype(np.int64)

    doc_o = np.searchsorted(idx, col("oi"))
    doc_r = np.searchsorted(idx, col("ri"))
    glob_o = token_bounds[doc_o] + col("op")
    glob_r = token_bounds[doc_r] + col("rp")
    later = glob_o != glob_r  # the first occurrence itself only counts for the multiplicity
    multiplicity = Multiplicity(token_bounds, ngram, glob_r, col("cnt"))
    holders = np.unique(np.concatenate([doc_o[later], doc_r[later]]))
    return idx, token_bounds, glob_o[later], glob_r[later], multiplicity, holders


def passage_matches(
    df: DataFrame,
    id_col: str,
    text_col: str,
    *,
    threshold: float,
    min_words: int,
    ngram: int,
    order_by: str | Sequence[str] | None,
    stats: dict | None,
) -> tuple[list[Match], dict[int, tuple[Any, str]]]:
    """Matches (``doc`` = rank in document order) and ``{doc: (id, text)}`` of the documents involved."""
    check_passage_params(threshold, min_words, ngram, 1)
    spark = df.sparkSession
    t0 = time.perf_counter()
    docs = indexed(df, id_col, text_col, order_by)
    idx, token_bounds, original, repeat, multiplicity, needed = spark_seeds(docs, ngram, stats)
    t = time.perf_counter()
    info: dict[int, tuple[Any, str]] = {}
    if len(needed):
        wanted = spark.createDataFrame(pa.table({IDX: pa.array(idx[needed], pa.int64())}).to_pandas())
        rows = (
            docs.join(F.broadcast(wanted) if len(needed) < 100_000 else wanted, IDX, "left_semi")
            .select(IDX, id_col, TEXT)
            .collect()
        )
        for r in rows:
            info[int(np.searchsorted(idx, r[0]))] = (r[1], r[2])
    if stats is not None:
        stats.update(documents=len(idx), tokens=int(token_bounds[-1]), seeds=len(original), seed_documents=len(info))
    matches = matches_from_seeds(
        _SomeDocs(len(idx), {d: text for d, (_, text) in info.items()}),
        original,
        repeat,
        token_bounds,
        multiplicity,  # type: ignore[arg-type]
        threshold=threshold,
        min_words=min_words,
        ngram=ngram,
    )
    docs.unpersist()
    timed(stats, "matches", t)
    if stats is not None:
        stats["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    return matches, info


def repeated_passages(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    order_by: str | Sequence[str] | None = None,
    stats: dict | None = None,
) -> list[tuple[Any, Any, Match]]:
    """Repeated passages as Python objects: ``(original_id, repeat_id, Match)``.

    ``Match.original.doc`` / ``Match.repeat.doc`` are ranks in document
    order, so the list equals :func:`dedup.find_repeated_passages` on the
    texts in that order. See :func:`find_repeated_passages`.
    """
    matches, info = passage_matches(
        df, id_col, text_col, threshold=threshold, min_words=min_words, ngram=ngram, order_by=order_by, stats=stats
    )
    return [(info[m.original.doc][0], info[m.repeat.doc][0], m) for m in matches]


def find_repeated_passages(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    order_by: str | Sequence[str] | None = None,
    stats: dict | None = None,
) -> DataFrame:
    """Repeated passages across the documents of a DataFrame.

    Returns a DataFrame ``(original_id, original_start, original_end,
    repeat_id, repeat_start, repeat_end, similarity)``: character offsets
    (end exclusive) into the texts, the same matches, in the same order, as
    :func:`dedup.find_repeated_passages` on the texts in document order
    (the original is the earlier occurrence).

    The seeds (pairs of occurrences of the same shingle) are found with a
    shuffle on the shingle hash; chaining and merging them into matches
    runs on the driver with the library's own code, in memory proportional
    to the *repeated* text (the seeds), plus 8 bytes per document, and the
    texts of the documents that hold seeds.

    >>> find_repeated_passages(spark.read.parquet("docs.parquet"), "id", "text").show()  # doctest: +SKIP
    """
    found = repeated_passages(
        df, id_col, text_col, threshold=threshold, min_words=min_words, ngram=ngram, order_by=order_by, stats=stats
    )
    schema = T.StructType(
        [
            T.StructField("original_id", df.schema[id_col].dataType),
            T.StructField("original_start", T.LongType()),
            T.StructField("original_end", T.LongType()),
            T.StructField("repeat_id", df.schema[id_col].dataType),
            T.StructField("repeat_start", T.LongType()),
            T.StructField("repeat_end", T.LongType()),
            T.StructField("similarity", T.DoubleType()),
        ]
    )
    rows = [
        (oid, m.original.start, m.original.end, rid, m.repeat.start, m.repeat.end, float(m.similarity))
        for oid, rid, m in found
    ]
    return df.sparkSession.createDataFrame(rows, schema)
