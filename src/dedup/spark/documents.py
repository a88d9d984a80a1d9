"""Near-duplicate documents on Spark: band keys, candidate pairs, verification, clusters.

Signatures, band keys and the exact Jaccard of candidate pairs are computed
by the library's own functions on Arrow batches (``mapInArrow``); Spark
shuffles band keys, pairs and edges. See ``docs/spark.md``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..clusters import KeepPolicy
from ..documents import signatures
from ..internal import check_keep, check_params, jaccard_sorted, shingle_sets
from ..lsh import DEFAULT_WINDOW, band_keys, resolve_bands
from ..minhash import EMPTY
from .components import DEFAULT_MAX_LOCAL_EDGES, connected_components
from .session import IDX, TEXT, indexed, timed

__all__ = ["drop_duplicates", "duplicate_decisions", "find_duplicates"]


def _band_keys_fn(ngram: int, num_perm: int, seed: int, bands: int, rows: int):
    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            idx = batch.column(0).to_numpy(zero_copy_only=False)
            texts = batch.column(1).to_pylist()
            sig = signatures(texts, ngram=ngram, num_perm=num_perm, seed=seed)
            # Documents without shingles are never candidates (as in LSHIndex).
            full = ~(sig == EMPTY).all(axis=1)
            keys = band_keys(sig[full], bands, rows)
            n = int(full.sum())
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(np.repeat(idx[full], bands), pa.int64()),
                    pa.array(np.tile(np.arange(bands, dtype=np.int32), n), pa.int32()),
                    pa.array(keys.reshape(-1).view(np.int64), pa.int64()),
                ],
                names=["idx", "band", "key"],
            )

    return fn


def _verify_fn(ngram: int):
    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            a, b = batch.column(2).to_pylist(), batch.column(3).to_pylist()
            sets = shingle_sets(a + b, ngram, "word")  # the local verification, batched
            n = len(a)
            sims = np.array([jaccard_sorted(sets[k], sets[n + k]) for k in range(n)], dtype=np.float64)
            yield pa.RecordBatch.from_arrays(
                [batch.column(0), batch.column(1), pa.array(sims, pa.float64())], names=["i", "j", "similarity"]
            )

    return fn


def _exact_groups(docs: DataFrame) -> DataFrame:
    """``(IDX, rep)`` for every document: ``rep`` is the first document (smallest ``IDX``) with the
    same text up to whitespace (runs of ASCII whitespace read as one space, ends trimmed).

    Equal texts up to whitespace have the same tokens, so they are near-duplicates of each other
    (Jaccard 1) whenever they have shingles: only the first of each group needs MinHash, LSH and
    verification. The groups are found by a shuffle on a SHA-256 of the text.
    """
    spaced = F.trim(F.regexp_replace(F.col(TEXT), r"[ \t\n\x0B\f\r]+", " "))
    content = docs.select(F.col(IDX), F.sha2(spaced, 256).alias("_content"))
    firsts = content.groupBy("_content").agg(F.min(IDX).alias("rep"))
    return content.join(firsts, "_content").select(IDX, "rep")


@dataclass(frozen=True)
class _Search:
    """The checked parameters of a document search (the three public functions share them)."""

    threshold: float
    ngram: int
    num_perm: int
    seed: int
    bands: int
    rows: int
    keep: str
    window: int
    max_local_edges: int
    checkpoint_dir: str | None

    @classmethod
    def checked(
        cls,
        threshold: float,
        ngram: int,
        num_perm: int,
        seed: int,
        bands: int | None,
        rows: int | None,
        keep: str,
        window: int,
        max_local_edges: int,
        checkpoint_dir: str | None,
    ) -> _Search:
        """Check the parameters as locally and resolve ``bands``/``rows`` (exactly the local rule)."""
        check_params(threshold, ngram, num_perm, 1)
        check_keep(keep)
        bands, rows = resolve_bands(threshold, num_perm, bands, rows)
        return cls(threshold, ngram, num_perm, seed, bands, rows, keep, window, max_local_edges, checkpoint_dir)


def _edges(docs: DataFrame, p: _Search, stats: dict | None) -> tuple[DataFrame, int]:
    """Near-duplicate edges ``(i, j, similarity)``, ``i < j``, persisted, and their number.

    Exact duplicates (up to whitespace) are collapsed first (:func:`_exact_groups`): each
    one is linked to its group's first document (similarity 1.0), so a bucket of many
    identical documents is a star, not a path, and only the first documents of the
    groups go through MinHash, LSH and verification.
    """
    t = time.perf_counter()
    groups = _exact_groups(docs).persist(StorageLevel.MEMORY_AND_DISK)
    firsts = docs.select(IDX, TEXT).join(groups.where(F.col(IDX) == F.col("rep")).select(IDX), IDX, "left_semi")
    keys = firsts.mapInArrow(
        _band_keys_fn(p.ngram, p.num_perm, p.seed, p.bands, p.rows), "idx long, band int, key long"
    )
    keys = keys.persist(StorageLevel.MEMORY_AND_DISK)  # read again for the exact duplicates' edges
    if stats is not None:  # materialise each stage only to time it
        stats["band_keys"] = keys.count()
        stats["exact_duplicates"] = groups.where(F.col(IDX) != F.col("rep")).count()
        t = timed(stats, "signatures", t)
    # The windowed pairing of dedup.lsh.candidate_pairs: in each (band, key)
    # bucket sorted by document order, each member is paired with the next
    # `window` members, so a bucket of m documents costs m * window pairs
    # (and one row of m longs, built by the shuffle on (band, key)).
    buckets = (
        keys.groupBy("band", "key")
        .agg(F.array_sort(F.collect_list("idx")).alias("members"))
        .where(F.size("members") > 1)
        .select("members", F.posexplode("members").alias("rank", "i"))
    )
    pairs = buckets.select("i", F.explode(F.slice("members", F.col("rank") + 2, p.window)).alias("j")).distinct()
    if stats is not None:
        pairs = pairs.persist(StorageLevel.MEMORY_AND_DISK)
        stats["candidates"] = pairs.count()
        t = timed(stats, "candidates", t)
    texts = docs.select(F.col(IDX), F.col(TEXT))
    joined = (
        pairs.join(texts.withColumnRenamed(IDX, "i").withColumnRenamed(TEXT, "text_i"), "i")
        .join(texts.withColumnRenamed(IDX, "j").withColumnRenamed(TEXT, "text_j"), "j")
        .select("i", "j", "text_i", "text_j")
    )
    verified = joined.mapInArrow(_verify_fn(p.ngram), "i long, j long, similarity double").where(
        F.col("similarity") >= p.threshold
    )
    # Exact duplicates join their group's first document, when it has shingles (a text without
    # any is never a near-duplicate, however many copies it has).
    with_shingles = keys.where(F.col("band") == 0).select(F.col("idx").alias("rep"))
    copies = (
        groups.where(F.col(IDX) != F.col("rep"))
        .join(with_shingles, "rep", "left_semi")
        .select(F.col("rep").alias("i"), F.col(IDX).alias("j"), F.lit(1.0).alias("similarity"))
    )
    if stats is not None:
        verified = verified.persist(StorageLevel.MEMORY_AND_DISK)
        stats["edges"] = verified.count()
    edges = verified.unionByName(copies).persist(StorageLevel.MEMORY_AND_DISK)
    n_edges = edges.count()
    verified.unpersist()
    pairs.unpersist()
    keys.unpersist()
    groups.unpersist()
    if stats is not None:
        timed(stats, "verify" if "candidates" in stats else "signatures+candidates+verify", t)
    return edges, n_edges


def _clusters(docs: DataFrame, id_col: str, p: _Search, stats: dict | None) -> tuple[DataFrame, DataFrame]:
    """``(label, node, id, cluster_id, kept)`` for clustered documents of an indexed DataFrame,
    and the persisted component labels it reads (to unpersist when done)."""
    edges, n_edges = _edges(docs, p, stats)
    t = time.perf_counter()
    labels = connected_components(
        edges, max_local_edges=p.max_local_edges, checkpoint_dir=p.checkpoint_dir, n_edges=n_edges, stats=stats
    ).persist(StorageLevel.MEMORY_AND_DISK)
    labels.count()
    edges.unpersist()
    timed(stats, "components", t)
    members = labels.join(
        docs.select(F.col(IDX).alias("node"), F.col(id_col).alias("_id"), F.length(TEXT).alias("_len")), "node"
    )
    if p.keep == "first":
        chosen, kept = members, F.col("node") == F.col("label")
    else:
        # The longest member, the first one on ties (dedup.choose_kept).
        best = members.groupBy("label").agg(
            F.min(F.struct((-F.col("_len")).alias("neg_len"), F.col("node"))).alias("_best")
        )
        chosen, kept = members.join(best, "label"), F.col("node") == F.col("_best").getField("node")
    cluster_ids = docs.select(F.col(IDX).alias("label"), F.col(id_col).alias("cluster_id"))
    found = chosen.join(cluster_ids, "label").select(
        "label", "node", F.col("_id").alias(id_col), "cluster_id", kept.alias("kept")
    )
    return found, labels


def _similarity_fn(ngram: int):
    """``(node, kept_node, text, kept_text)`` batches -> ``(node, similarity)``: the exact Jaccard of
    each member and its cluster's kept member, rounded to 4 digits as :func:`dedup.which_to_keep` does."""

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            a, b = batch.column(2).to_pylist(), batch.column(3).to_pylist()
            sets = shingle_sets(a + b, ngram, "word")
            n = len(a)
            sims = [round(jaccard_sorted(sets[k], sets[n + k]), 4) for k in range(n)]
            yield pa.RecordBatch.from_arrays(
                [batch.column(0), pa.array(sims, pa.float64())], names=["node", "similarity"]
            )

    return fn


def duplicate_decisions(
    docs: DataFrame,
    id_col: str,
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    keep: KeepPolicy = "first",
    window: int = DEFAULT_WINDOW,
    max_local_edges: int = DEFAULT_MAX_LOCAL_EDGES,
    checkpoint_dir: str | None = None,
    stats: dict | None = None,
) -> DataFrame:
    """The Spark :func:`dedup.which_to_keep` on an :func:`~dedup.spark.session.indexed` DataFrame.

    One row per document in a cluster: ``(IDX, label, kept, kept_idx,
    similarity)``: ``label`` is the ``IDX`` of the cluster's first document,
    ``kept_idx`` the ``IDX`` of its kept member, ``similarity`` the exact
    Jaccard of the document and the kept member (4 digits; 1.0 for the kept
    one), as the local ``which_to_keep`` gives it. Computed and cached.
    """
    search = _Search.checked(
        threshold, ngram, num_perm, seed, bands, rows, keep, window, max_local_edges, checkpoint_dir
    )
    found, labels = _clusters(docs, id_col, search, stats)
    t = time.perf_counter()
    kept = found.where(F.col("kept")).select("label", F.col("node").alias("kept_idx"))
    members = found.select("label", "node", "kept").join(kept, "label")
    texts = docs.select(F.col(IDX), F.col(TEXT))
    pairs = (
        members.where(~F.col("kept"))
        .join(texts.select(F.col(IDX).alias("node"), F.col(TEXT).alias("a")), "node")
        .join(texts.select(F.col(IDX).alias("kept_idx"), F.col(TEXT).alias("b")), "kept_idx")
        .select("node", "kept_idx", "a", "b")
    )
    sims = pairs.mapInArrow(_similarity_fn(search.ngram), "node long, similarity double")
    out = (
        members.join(sims, "node", "left")
        .select(
            F.col("node").alias(IDX),
            "label",
            "kept",
            "kept_idx",
            F.coalesce(F.col("similarity"), F.lit(1.0)).alias("similarity"),
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    out.count()
    labels.unpersist()
    timed(stats, "similarity", t)
    return out


def find_duplicates(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    keep: KeepPolicy = "first",
    order_by: str | Sequence[str] | None = None,
    window: int = DEFAULT_WINDOW,
    max_local_edges: int = DEFAULT_MAX_LOCAL_EDGES,
    checkpoint_dir: str | None = None,
    stats: dict | None = None,
) -> DataFrame:
    """Near-duplicate clusters as a DataFrame ``(id_col, cluster_id, kept)``.

    One row per document in a cluster of two or more, sorted by cluster then
    document order. ``cluster_id`` is the id of the cluster's first
    document (in document order, see the module docstring); ``kept`` marks
    the one member :func:`drop_duplicates` keeps: the first
    (``keep="first"``) or the longest in characters, the first on ties
    (``keep="longest"``). ``threshold``, ``ngram``, ``num_perm``, ``seed``,
    ``bands``/``rows`` mean what they mean for :func:`dedup.find_duplicates`
    (with exact verification): the same texts in the same order give the
    same clusters. ``window`` is the LSH bucket pairing window
    (:func:`dedup.lsh.candidate_pairs`), ``max_local_edges`` the most edges
    whose components are computed on the driver (see
    :func:`connected_components`).

    ``stats``, when given, is filled with counts (``documents``,
    ``band_keys``, ``candidates``, ``edges``, ``rounds``) and per-stage
    ``seconds``; to time them, each stage is then materialised (persisted
    and counted) before the next one starts. The verified edges, the
    component labels and the result are always materialised; the result is
    returned cached (``unpersist()`` it when done).

    >>> find_duplicates(spark.read.parquet("docs.parquet"), "id", "text").show()  # doctest: +SKIP
    """
    search = _Search.checked(
        threshold, ngram, num_perm, seed, bands, rows, keep, window, max_local_edges, checkpoint_dir
    )
    t0 = time.perf_counter()
    docs = indexed(df, id_col, text_col, order_by)
    n_docs = docs.count()
    timed(stats, "read", t0)
    if stats is not None:
        stats.update(documents=n_docs, bands=search.bands, rows=search.rows)
    found, labels = _clusters(docs, id_col, search, stats)
    t = time.perf_counter()
    out = found.orderBy("label", "node").drop("label", "node").persist(StorageLevel.MEMORY_AND_DISK)
    clustered = out.count()
    # The result is computed and cached: the corpus and the labels need not stay in memory.
    docs.unpersist()
    labels.unpersist()
    if stats is not None:
        stats["clustered"] = clustered
        timed(stats, "output", t)
        stats["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    return out


def drop_duplicates(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    threshold: float = 0.8,
    *,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    keep: KeepPolicy = "first",
    order_by: str | Sequence[str] | None = None,
    window: int = DEFAULT_WINDOW,
    max_local_edges: int = DEFAULT_MAX_LOCAL_EDGES,
    checkpoint_dir: str | None = None,
    stats: dict | None = None,
) -> DataFrame:
    """``df`` without the documents that :func:`find_duplicates` does not keep.

    Takes the same arguments. Columns are unchanged; row order is not
    preserved (sort afterwards if it matters). Documents with a null or
    empty text are always kept. The input is cached (memory and disk)
    while the result is in use, so that its document order is computed once.

    >>> drop_duplicates(spark.read.parquet("docs.parquet"), "id", "text").count()  # doctest: +SKIP
    """
    search = _Search.checked(
        threshold, ngram, num_perm, seed, bands, rows, keep, window, max_local_edges, checkpoint_dir
    )
    docs = indexed(df, id_col, text_col, order_by)
    found, labels = _clusters(docs, id_col, search, stats)
    dropped = found.where(~F.col("kept")).select(F.col("node").alias(IDX)).persist(StorageLevel.MEMORY_AND_DISK)
    dropped.count()
    labels.unpersist()
    # The result reads the persisted corpus (its document order must not be recomputed differently).
    return docs.join(dropped, IDX, "left_anti").select(*df.columns)
