"""Near-duplicate documents and repeated passages on Apache Spark.

The same results as the local functions (:func:`dedup.find_duplicates`,
:func:`dedup.find_repeated_passages`), computed on a Spark DataFrame with an
id and a text column. Install with ``pip install "dedup[spark]"``.

Every step that touches text calls the library's own code on Arrow batches
(``mapInArrow``), so there is one implementation of shingling, hashing and
MinHash; Spark only moves the compact results (band keys, pairs, seeds)
between machines. See ``docs/spark.md`` for the stages, what each one costs
and how to run on a cluster.

**Document order.** Results that depend on order ("the first member of a
cluster", "the earlier occurrence of a passage") use the *document order* of
the DataFrame: the order of ``order_by`` when it is given, otherwise the
order ``df.collect()`` returns (partition by partition). Each document gets a
``monotonically_increasing_id`` in that order (increasing, not consecutive),
and the local functions given the texts in that order return the same
clusters and matches.

**Bad rows.** A null text is treated as the empty text: it has no shingles,
so it is never a near-duplicate and never holds a passage (it is kept by
:func:`drop_duplicates`). A text column that is not of string type is refused
with a ``TypeError`` (cast it first).

>>> spark = get_session("local[2]")                                   # doctest: +SKIP
>>> df = spark.read.parquet("corpus.parquet")                         # doctest: +SKIP
>>> find_duplicates(df, "id", "text", threshold=0.8).show()            # doctest: +SKIP
>>> drop_duplicates(df, "id", "text").write.parquet("deduped.parquet") # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

try:
    import pyarrow as pa
    from pyspark import StorageLevel
    from pyspark.sql import DataFrame, SparkSession, Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("dedup.spark needs the spark extra: pip install 'dedup[spark]'") from exc

from .clusters import KeepPolicy
from .clusters import connected_components as _local_components
from .documents import (
    RECALL_MARGIN,
    _check_params,
    _jaccard_sorted,
    _shingle_sets,
    signatures,
)
from .lsh import DEFAULT_WINDOW, band_keys, optimal_bands
from .minhash import EMPTY
from .passages import (
    DEFAULT_MIN_WORDS,
    DEFAULT_NGRAM,
    Match,
    Span,
    _check,
    _shingle_batch,
    matches_from_seeds,
)

__all__ = [
    "DEFAULT_MAX_LOCAL_EDGES",
    "cli_docs",
    "cli_passages",
    "connected_components",
    "drop_duplicates",
    "find_duplicates",
    "find_repeated_passages",
    "get_session",
    "repeated_passages",
]

#: The JDK this project is tested with; used when ``JAVA_HOME`` is not set.
JAVA_17 = "/usr/lib/jvm/java-17-openjdk-amd64"
#: Below this many verified edges, connected components run on the driver
#: (16 bytes per edge: 5 million edges is 80 MB); above it, distributed.
DEFAULT_MAX_LOCAL_EDGES = 5_000_000
#: Large-star/small-star rounds before giving up (the number needed grows
#: like log(n)^2 at worst; real graphs converge in a handful).
MAX_ROUNDS = 100

_IDX = "__dedup_idx"
_TEXT = "__dedup_text"


# --------------------------------------------------------------------------- session


def get_session(
    master: str = "local[2]", *, app_name: str = "dedup", shuffle_partitions: int | None = None, **conf: Any
) -> SparkSession:
    """A SparkSession set up for dedup (or the already running one, reconfigured).

    Sets, unless already set in the environment: ``JAVA_HOME`` (JDK 17 when
    present), ``PYSPARK_PYTHON`` (this interpreter, so executors run the same
    dedup) and, for ``local`` masters, ``SPARK_LOCAL_IP=127.0.0.1``. Turns the
    UI off, enables Arrow, and sets ``shuffle_partitions`` (default: 4 for
    ``local`` masters, Spark's own setting otherwise; on a cluster use about
    2-3 per core). Extra Spark
    settings go in ``conf``: ``get_session("yarn", **{"spark.executor.memory": "8g"})``.

    >>> spark = get_session("local[2]")  # doctest: +SKIP
    """
    if "JAVA_HOME" not in os.environ and os.path.isdir(JAVA_17):
        os.environ["JAVA_HOME"] = JAVA_17
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if shuffle_partitions is None and master.startswith("local"):
        shuffle_partitions = 4  # Spark's 200 are 200 tiny tasks on one machine
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.session.timeZone": "UTC",
    }
    if shuffle_partitions is not None:
        settings["spark.sql.shuffle.partitions"] = str(shuffle_partitions)
    settings.update({k: str(v) for k, v in conf.items()})
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    for key, value in settings.items():  # getOrCreate() ignores the settings of a running session
        if key.startswith("spark.sql."):
            spark.conf.set(key, value)
    return spark


def _ensure_checkpoint_dir(spark: SparkSession, checkpoint_dir: str | None) -> None:
    sc = spark.sparkContext
    if checkpoint_dir is not None:
        sc.setCheckpointDir(checkpoint_dir)
    elif sc.getCheckpointDir() is None:
        # Fine for local masters; on a cluster pass a shared directory (HDFS, S3, ...).
        sc.setCheckpointDir(tempfile.mkdtemp(prefix="dedup-spark-checkpoints-"))


# --------------------------------------------------------------------------- input


def _indexed(df: DataFrame, id_col: str, text_col: str, order_by: str | Sequence[str] | None) -> DataFrame:
    """``df`` plus ``_IDX`` (document order) and ``_TEXT`` (the text, null -> "")."""
    for col in (id_col, text_col):
        if col not in df.columns:
            raise ValueError(f"no column {col!r} in the DataFrame (columns: {', '.join(df.columns)})")
    kind = df.schema[text_col].dataType
    if not isinstance(kind, (T.StringType, T.NullType)):
        raise TypeError(f"column {text_col!r} is {kind.simpleString()}, not a string; cast it first")
    if order_by is not None:
        # A global sort range-partitions the rows in order, so the ids below follow it.
        df = df.sort(*([order_by] if isinstance(order_by, str) else list(order_by)))
    out = df.withColumn(_IDX, F.monotonically_increasing_id()).withColumn(
        _TEXT, F.coalesce(F.col(text_col).cast("string"), F.lit(""))
    )
    return out.persist(StorageLevel.MEMORY_AND_DISK)


# --------------------------------------------------------------------------- documents


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
            sets = _shingle_sets(a + b, ngram, "word")  # the local verification, batched
            n = len(a)
            sims = np.array([_jaccard_sorted(sets[k], sets[n + k]) for k in range(n)], dtype=np.float64)
            yield pa.RecordBatch.from_arrays(
                [batch.column(0), batch.column(1), pa.array(sims, pa.float64())], names=["i", "j", "similarity"]
            )

    return fn


def _timed(stats: dict | None, name: str, start: float) -> float:
    now = time.perf_counter()
    if stats is not None:
        stats.setdefault("seconds", {})[name] = round(now - start, 3)
    return now


def _edges(
    docs: DataFrame,
    threshold: float,
    ngram: int,
    num_perm: int,
    seed: int,
    bands: int,
    rows: int,
    window: int,
    stats: dict | None,
) -> tuple[DataFrame, int]:
    """Verified near-duplicate edges ``(i, j, similarity)``, ``i < j``, persisted, and their number."""
    t = time.perf_counter()
    keys = docs.select(_IDX, _TEXT).mapInArrow(
        _band_keys_fn(ngram, num_perm, seed, bands, rows), "idx long, band int, key long"
    )
    if stats is not None:  # materialise each stage only to time it
        keys = keys.persist(StorageLevel.MEMORY_AND_DISK)
        stats["band_keys"] = keys.count()
        t = _timed(stats, "signatures", t)
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
    pairs = buckets.select("i", F.explode(F.slice("members", F.col("rank") + 2, window)).alias("j")).distinct()
    if stats is not None:
        pairs = pairs.persist(StorageLevel.MEMORY_AND_DISK)
        stats["candidates"] = pairs.count()
        keys.unpersist()
        t = _timed(stats, "candidates", t)
    texts = docs.select(F.col(_IDX), F.col(_TEXT))
    joined = (
        pairs.join(texts.withColumnRenamed(_IDX, "i").withColumnRenamed(_TEXT, "text_i"), "i")
        .join(texts.withColumnRenamed(_IDX, "j").withColumnRenamed(_TEXT, "text_j"), "j")
        .select("i", "j", "text_i", "text_j")
    )
    edges = (
        joined.mapInArrow(_verify_fn(ngram), "i long, j long, similarity double")
        .where(F.col("similarity") >= threshold)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    n_edges = edges.count()
    pairs.unpersist()
    keys.unpersist()
    if stats is not None:
        stats["edges"] = n_edges
        _timed(stats, "verify" if "candidates" in stats else "signatures+candidates+verify", t)
    return edges, n_edges


def _large_star(e: DataFrame) -> DataFrame:
    """Each node links its larger neighbours to the smallest node of its neighbourhood."""
    both = e.select("a", "b").union(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    # A window rather than groupBy + join: one shuffle instead of two.
    low = F.least(F.min("b").over(Window.partitionBy("a")), F.col("a"))
    return (
        both.withColumn("m", low)
        .where(F.col("b") > F.col("a"))
        .select(F.col("b").alias("a"), F.col("m").alias("b"))
        .distinct()
    )


def _small_star(e: DataFrame) -> DataFrame:
    """Each node links itself and its smaller neighbours to the smallest of them."""
    down = e.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b"))
    x = down.withColumn("m", F.min("b").over(Window.partitionBy("a")))
    moved = x.where(F.col("b") != F.col("m")).select(F.col("b").alias("a"), F.col("m").alias("b"))
    return moved.union(x.select("a", F.col("m").alias("b"))).distinct()


def _is_star_forest(e: DataFrame) -> bool:
    """True when every edge is (child, root): one root per child, no root is a child."""
    roles = e.select(F.col("a").alias("n"), F.lit(1).alias("child"), F.lit(0).alias("root")).union(
        e.select(F.col("b").alias("n"), F.lit(0).alias("child"), F.lit(1).alias("root"))
    )
    bad = (
        roles.groupBy("n")
        .agg(F.sum("child").alias("child"), F.max("root").alias("root"))
        .where((F.col("child") > 1) | ((F.col("child") == 1) & (F.col("root") == 1)))
    )
    return bad.limit(1).count() == 0


def connected_components(
    edges: DataFrame,
    *,
    src: str = "i",
    dst: str = "j",
    max_local_edges: int = DEFAULT_MAX_LOCAL_EDGES,
    checkpoint_dir: str | None = None,
    n_edges: int | None = None,
    stats: dict | None = None,
) -> DataFrame:
    """Component labels ``(node, label)`` of the nodes of an edge DataFrame.

    ``label`` is the smallest node of the component, as
    :func:`dedup.connected_components` gives locally. Nodes are ``long``
    values; isolated nodes do not appear. With at most ``max_local_edges``
    edges, the edges are collected and labelled on the driver; otherwise
    large-star/small-star rounds (Kiveris et al., "Connected Components in
    MapReduce and Beyond", 2014) run on DataFrames, each round checkpointed
    (to ``checkpoint_dir``, a temporary directory by default) so the query
    plan does not grow with the rounds. ``n_edges`` saves a count when the caller
    knows it; ``stats["rounds"]`` gets the number of rounds.
    """
    spark = edges.sparkSession
    e = edges.select(F.col(src).cast("long").alias("a"), F.col(dst).cast("long").alias("b")).where(
        F.col("a") != F.col("b")
    )
    if n_edges is None:
        n_edges = e.count()
    if n_edges <= max_local_edges:
        table = e.toArrow() if hasattr(e, "toArrow") else pa.Table.from_pandas(e.toPandas())
        pairs = (
            np.stack(
                [table.column("a").to_numpy(zero_copy_only=False), table.column("b").to_numpy(zero_copy_only=False)],
                axis=1,
            )
            .astype(np.int64)
            .reshape(-1, 2)
        )
        nodes, dense = np.unique(pairs, return_inverse=True)
        labels = _local_components(len(nodes), dense.reshape(-1, 2))
        if stats is not None:
            stats.update(components="driver", rounds=0)
        out = pa.table({"node": pa.array(nodes, pa.int64()), "label": pa.array(nodes[labels], pa.int64())})
        return spark.createDataFrame(out.to_pandas(), "node long, label long")
    _ensure_checkpoint_dir(spark, checkpoint_dir)
    rounds = 0
    previous: DataFrame | None = None
    while True:
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
        # Persisted: the convergence check computes the round once, and the
        # checkpoint of the previous round (written after the first job that
        # reads it, i.e. this check) comes from the cache.
        nxt = _small_star(_large_star(e)).persist(StorageLevel.MEMORY_AND_DISK)
        done = _is_star_forest(nxt)
        if previous is not None:
            previous.unpersist()
        previous = nxt
        if done:
            e = nxt
            break
        # A round reads its input several times, so without cutting the lineage
        # here the query plan would double in size with every round.
        e = nxt.checkpoint(eager=False)
    if stats is not None:
        stats.update(components="distributed", rounds=rounds)
    roots = e.select(F.col("b").alias("node"), F.col("b").alias("label")).distinct()
    return e.select(F.col("a").alias("node"), F.col("b").alias("label")).union(roots)


def _params(
    threshold: float, ngram: int, num_perm: int, bands: int | None, rows: int | None, keep: str
) -> tuple[int, int]:
    _check_params(threshold, ngram, num_perm, 1)
    if keep not in ("first", "longest"):
        raise ValueError(f"keep must be 'first' or 'longest', got {keep!r}")
    if (bands is None) != (rows is None):
        raise ValueError("give both bands and rows, or neither")
    if bands is None or rows is None:
        # Exactly the local choice (dedup.documents._find).
        return optimal_bands(max(threshold - RECALL_MARGIN, 0.05), num_perm)
    if bands < 1 or rows < 1 or bands * rows > num_perm:
        raise ValueError(f"bands={bands}, rows={rows} do not fit num_perm={num_perm}")
    return bands, rows


def _clusters(
    docs: DataFrame,
    id_col: str,
    threshold: float,
    ngram: int,
    num_perm: int,
    seed: int,
    bands: int,
    rows: int,
    keep: str,
    window: int,
    max_local_edges: int,
    checkpoint_dir: str | None,
    stats: dict | None,
) -> tuple[DataFrame, DataFrame]:
    """``(label, node, id, cluster_id, kept)`` for clustered documents of an indexed DataFrame,
    and the persisted component labels it reads (to unpersist when done)."""
    edges, n_edges = _edges(docs, threshold, ngram, num_perm, seed, bands, rows, window, stats)
    t = time.perf_counter()
    labels = connected_components(
        edges, max_local_edges=max_local_edges, checkpoint_dir=checkpoint_dir, n_edges=n_edges, stats=stats
    ).persist(StorageLevel.MEMORY_AND_DISK)
    labels.count()
    edges.unpersist()
    _timed(stats, "components", t)
    members = labels.join(
        docs.select(F.col(_IDX).alias("node"), F.col(id_col).alias("_id"), F.length(_TEXT).alias("_len")), "node"
    )
    if keep == "first":
        chosen, kept = members, F.col("node") == F.col("label")
    else:
        # The longest member, the first one on ties (dedup.choose_kept).
        best = members.groupBy("label").agg(
            F.min(F.struct((-F.col("_len")).alias("neg_len"), F.col("node"))).alias("_best")
        )
        chosen, kept = members.join(best, "label"), F.col("node") == F.col("_best").getField("node")
    cluster_ids = docs.select(F.col(_IDX).alias("label"), F.col(id_col).alias("cluster_id"))
    found = chosen.join(cluster_ids, "label").select(
        "label", "node", F.col("_id").alias(id_col), "cluster_id", kept.alias("kept")
    )
    return found, labels


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
    bands, rows = _params(threshold, ngram, num_perm, bands, rows, keep)
    t0 = time.perf_counter()
    docs = _indexed(df, id_col, text_col, order_by)
    n_docs = docs.count()
    _timed(stats, "read", t0)
    if stats is not None:
        stats.update(documents=n_docs, bands=bands, rows=rows)
    found, labels = _clusters(
        docs,
        id_col,
        threshold,
        ngram,
        num_perm,
        seed,
        bands,
        rows,
        keep,
        window,
        max_local_edges,
        checkpoint_dir,
        stats,
    )
    t = time.perf_counter()
    out = found.orderBy("label", "node").drop("label", "node").persist(StorageLevel.MEMORY_AND_DISK)
    clustered = out.count()
    # The result is computed and cached: the corpus and the labels need not stay in memory.
    docs.unpersist()
    labels.unpersist()
    if stats is not None:
        stats["clustered"] = clustered
        _timed(stats, "output", t)
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
    bands, rows = _params(threshold, ngram, num_perm, bands, rows, keep)
    docs = _indexed(df, id_col, text_col, order_by)
    found, labels = _clusters(
        docs,
        id_col,
        threshold,
        ngram,
        num_perm,
        seed,
        bands,
        rows,
        keep,
        window,
        max_local_edges,
        checkpoint_dir,
        stats,
    )
    dropped = found.where(~F.col("kept")).select(F.col("node").alias(_IDX)).persist(StorageLevel.MEMORY_AND_DISK)
    dropped.count()
    labels.unpersist()
    # The result reads the persisted corpus (its document order must not be recomputed differently).
    return docs.join(dropped, _IDX, "left_anti").select(*df.columns)


# --------------------------------------------------------------------------- passages


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
            hashes, first, counts = _shingle_batch(texts, ngram)
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


class _Multiplicity:
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

    def __getitem__(self, d):  # type: ignore[override]
        return self._texts[d]


def _spark_seeds(
    docs: DataFrame, ngram: int, stats: dict | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Multiplicity, np.ndarray]:
    """The seeds of :func:`dedup.passages._seeds`, computed with a shuffle on the shingle hash.

    Returns the document ids ``_IDX`` in document order, the token bounds,
    the seeds ``original``/``repeat`` (global token positions), the
    multiplicity, and the documents that hold seeds (ranks in document order).
    """
    t = time.perf_counter()
    rows = (
        docs.select(_IDX, _TEXT)
        .mapInArrow(_shingles_fn(ngram), "idx long, pos int, h long")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = _to_arrow(rows.where(F.col("pos") < 0).select("idx", F.col("h").alias("tokens")))
    t = _timed(stats, "shingles", t)
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
    occurrences = _to_arrow(
        shingles.join(groups, "k").select(
            F.col("f.idx").alias("oi"),
            F.col("f.pos").alias("op"),
            F.col("idx").alias("ri"),
            F.col("pos").alias("rp"),
            "cnt",
        )
    )
    rows.unpersist()
    _timed(stats, "seeds", t)

    def col(name: str) -> np.ndarray:
        return occurrences.column(name).to_numpy(zero_copy_only=False).astype(np.int64)

    doc_o = np.searchsorted(idx, col("oi"))
    doc_r = np.searchsorted(idx, col("ri"))
    glob_o = token_bounds[doc_o] + col("op")
    glob_r = token_bounds[doc_r] + col("rp")
    later = glob_o != glob_r  # the first occurrence itself only counts for the multiplicity
    multiplicity = _Multiplicity(token_bounds, ngram, glob_r, col("cnt"))
    holders = np.unique(np.concatenate([doc_o[later], doc_r[later]]))
    return idx, token_bounds, glob_o[later], glob_r[later], multiplicity, holders


def _passage_matches(
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
    _check(threshold, min_words, ngram, 1)
    spark = df.sparkSession
    t0 = time.perf_counter()
    docs = _indexed(df, id_col, text_col, order_by)
    idx, token_bounds, original, repeat, multiplicity, needed = _spark_seeds(docs, ngram, stats)
    t = time.perf_counter()
    info: dict[int, tuple[Any, str]] = {}
    if len(needed):
        wanted = spark.createDataFrame(pa.table({_IDX: pa.array(idx[needed], pa.int64())}).to_pandas())
        rows = (
            docs.join(F.broadcast(wanted) if len(needed) < 100_000 else wanted, _IDX, "left_semi")
            .select(_IDX, id_col, _TEXT)
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
    _timed(stats, "matches", t)
    if stats is not None:
        stats["seconds"]["total"] = round(time.perf_counter() - t0, 3)
    return matches, info


def _to_arrow(df: DataFrame) -> pa.Table:
    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)  # pragma: no cover - pyspark < 4


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
    matches, info = _passage_matches(
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


# --------------------------------------------------------------------------- command line


def _arg(args: Any, name: str, default: Any = None) -> Any:
    value = args.get(name, default) if isinstance(args, Mapping) else getattr(args, name, default)
    return default if value is None else value


def _with_row_numbers(df: DataFrame, name: str) -> DataFrame:
    """``df`` plus ``name``: 1-based consecutive row numbers in the DataFrame's order.

    Like ``zipWithIndex`` but without leaving the JVM: one job counts the rows
    of each partition (the partition is the top bits of
    ``monotonically_increasing_id``), the offsets go back as a literal map.
    """
    mid = df.withColumn("_mid", F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    counts = sorted((r[0], r[1]) for r in mid.groupBy(F.shiftright("_mid", 33).alias("p")).count().collect())
    offsets, total = [], 0
    for part, n in counts:
        offsets += [F.lit(part), F.lit(total)]
        total += n
    if not offsets:
        return mid.withColumn(name, F.lit(None).cast("long")).drop("_mid")
    part = F.shiftright("_mid", 33)
    number = F.element_at(F.create_map(*offsets), part) + (F.col("_mid") - F.shiftleft(part, 33)) + 1
    return mid.withColumn(name, number.cast("long")).drop("_mid")


def _parse_fn(path: str, mode: str, text_field: str, id_field: str | None):
    """Records -> (record, id as JSON, text, error): the local CLI's rules (:mod:`dedup.io`)."""
    from .io import InputError, _row_document

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            out: dict[str, list] = {"_record": [], "_id": [], "_text": [], "_error": []}
            records = batch.column("_record").to_pylist()
            if mode == "jsonl":
                rows: list = batch.column("value").to_pylist()
            else:
                rows = batch.drop_columns(["_record"]).to_pylist()
            for record, row in zip(records, rows):
                if mode == "jsonl":
                    if not row.strip():
                        continue  # blank lines are skipped silently, as locally
                    try:
                        row = json.loads(row)
                    except json.JSONDecodeError as e:
                        row = InputError(path, f"not valid JSON ({e.msg} at column {e.colno})", record)
                    if not isinstance(row, (dict, InputError)):
                        row = InputError(path, "not a JSON object", record)
                doc = row if isinstance(row, InputError) else _row_document(row, path, record, text_field, id_field)
                out["_record"].append(record)
                if isinstance(doc, InputError):
                    out["_id"].append(None)
                    out["_text"].append(None)
                    out["_error"].append(str(doc))
                else:
                    out["_id"].append(json.dumps(doc.id, ensure_ascii=False, default=str))
                    out["_text"].append(doc.text)
                    out["_error"].append(None)
            yield pa.RecordBatch.from_pydict(
                out,
                schema=pa.schema(
                    [("_record", pa.int64()), ("_id", pa.string()), ("_text", pa.string()), ("_error", pa.string())]
                ),
            )

    return fn


_DOC_SCHEMA = "_record long, _id string, _text string, _error string"


def _read_cli_documents(spark: SparkSession, args: Any) -> tuple[DataFrame, list[str], list[str], dict]:
    """The documents named on the command line as ``(_file, _record, _id, _text, _error)``, the paths,
    the first problems (one-line messages) and the input part of the summary."""
    from .io import STDIN, find_sources

    paths = list(_arg(args, "paths", []))
    sources, problems = find_sources(paths, recursive=bool(_arg(args, "recursive", False)), glob=_arg(args, "glob"))
    messages = [str(p) for p in problems]
    if any(s.path == STDIN for s in sources):
        raise ValueError("--engine spark cannot read standard input; name files")
    if not sources:
        raise ValueError("no input files" + (f" ({messages[0]})" if messages else ""))
    jsonl, parquet = bool(_arg(args, "jsonl", False)), bool(_arg(args, "parquet", False))
    text_field, id_field = _arg(args, "text_field", "text"), _arg(args, "id_field")
    parts = []
    for number, src in enumerate(sources):
        if jsonl:
            lines = _with_row_numbers(spark.read.option("lineSep", "\n").text(src.path), "_record")
            docs = lines.select("_record", "value").mapInArrow(
                _parse_fn(src.path, "jsonl", text_field, id_field), _DOC_SCHEMA
            )
        elif parquet:
            table = spark.read.parquet(src.path)
            for name, flag in ((text_field, "--text-field"), (id_field, "--id-field")):
                if name is not None and name not in table.columns:
                    raise ValueError(
                        f"{src.path}: no column {name!r} (columns: {', '.join(table.columns)}); use {flag}"
                    )
            kind = table.schema[text_field].dataType
            if not isinstance(kind, T.StringType):
                raise ValueError(f"{src.path}: column {text_field!r} is {kind.simpleString()}, not a string")
            cols = [text_field] + ([id_field] if id_field is not None and id_field != text_field else [])
            rows = _with_row_numbers(table.select(*cols), "_record")
            docs = rows.mapInArrow(_parse_fn(src.path, "rows", text_field, id_field), _DOC_SCHEMA)
        else:  # a whole file is one document
            whole = spark.read.text(src.path, wholetext=True)
            docs = whole.select(
                F.lit(None).cast("long").alias("_record"),
                F.lit("null").alias("_id"),
                F.col("value").alias("_text"),
                F.when(F.col("value") == "", F.lit(f"{src.path}: empty file")).alias("_error"),
            )
        parts.append(docs.withColumn("_file", F.lit(number)))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    union = union.persist(StorageLevel.MEMORY_AND_DISK)
    bad = union.where(F.col("_error").isNotNull())
    skipped_records = bad.count()
    summary = {
        "files": len(sources),
        "bytes": sum(os.path.getsize(s.path) for s in sources if os.path.isfile(s.path)),
        "skipped_files": len(messages),
        "skipped_records": skipped_records,
    }
    messages += [r[0] for r in bad.select("_error").limit(50).collect()]
    if skipped_records > 50:
        messages.append(f"... and {skipped_records - 50} more bad records")
    return union, [s.path for s in sources], messages, summary


def _cli_session(args: Any) -> SparkSession:
    return get_session(_arg(args, "spark_master", "local[*]"))


def _member(paths: list[str], key: Any) -> dict[str, Any]:
    from .report import member_record

    return member_record(paths[key["_file"]], key["_record"], json.loads(key["_id"]))


def _summary(inputs: dict, stats: dict, spark: SparkSession, start: float, **counts: int) -> dict[str, Any]:
    """The local CLI's summary keys (``files``, ``bytes``, ``documents``, counts, ``skipped_*``,
    ``seconds``), plus ``engine`` and ``spark_master``."""
    return {
        "files": inputs["files"],
        "bytes": inputs["bytes"],
        "documents": stats.get("documents", 0),
        **counts,
        "skipped_files": inputs["skipped_files"],
        "skipped_records": inputs["skipped_records"],
        "seconds": round(time.perf_counter() - start, 3),
        "engine": "spark",
        "spark_master": spark.sparkContext.master,
    }


def cli_docs(args: Any) -> dict[str, Any]:
    """``dedup docs --engine spark``: the clusters of the named files, as the local JSON report.

    ``args`` is an ``argparse.Namespace`` or a dict with ``paths``, ``jsonl``,
    ``parquet``, ``text_field``, ``id_field``, ``threshold``, ``ngram``,
    ``num_perm``, ``spark_master`` (and optionally ``recursive``, ``glob``,
    ``keep``). Returns ``{"clusters": [{"members": [member, ...], "kept":
    member}], "summary": {...}, "problems": [message, ...]}`` where a member
    is ``{"path", "record", "id"}`` (:func:`dedup.report.member_record`) and
    ``problems`` are one-line messages about skipped inputs (not part of the
    JSON report). Raises ``ValueError`` with a one-line message when nothing
    can be read.
    """
    start = time.perf_counter()
    spark = _cli_session(args)
    docs, paths, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull()).withColumn("_member", F.struct("_file", "_record", "_id"))
    stats: dict = {}
    found = find_duplicates(
        good,
        "_member",
        "_text",
        float(_arg(args, "threshold", 0.8)),
        ngram=int(_arg(args, "ngram", 5)),
        num_perm=int(_arg(args, "num_perm", 128)),
        keep=_arg(args, "keep", "first"),
        order_by=["_file", "_record"],
        stats=stats,
    ).collect()
    clusters: list[dict[str, Any]] = []
    current = None
    for row in found:
        if row["cluster_id"] != current:
            current = row["cluster_id"]
            clusters.append({"members": [], "kept": None})
        member = _member(paths, row["_member"])
        clusters[-1]["members"].append(member)
        if row["kept"]:
            clusters[-1]["kept"] = member
    docs.unpersist()
    summary = _summary(
        inputs, stats, spark, start, clusters=len(clusters), duplicates=sum(len(c["members"]) - 1 for c in clusters)
    )
    return {"clusters": clusters, "summary": summary, "problems": problems}


def cli_passages(args: Any) -> dict[str, Any]:
    """``dedup passages --engine spark``: repeated passages of the named files, as the local JSON report.

    ``args`` as for :func:`cli_docs`, plus ``min_words``. Returns
    ``{"matches": [{"original": span, "repeat": span, "similarity"}],
    "summary": {...}, "problems": [...]}`` where a span is ``{"path",
    "start_line", "end_line", "start", "end"}`` (lines of the document's
    text, 1-based inclusive; characters 0-based, end exclusive), plus
    ``"record"`` and ``"id"`` when documents are JSONL lines or Parquet rows.
    """
    from .report import LineIndex, span_record

    start = time.perf_counter()
    spark = _cli_session(args)
    docs, paths, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull()).withColumn("_member", F.struct("_file", "_record", "_id"))
    stats: dict = {}
    matches, info = _passage_matches(
        good,
        "_member",
        "_text",
        threshold=float(_arg(args, "threshold", 0.8)),
        min_words=int(_arg(args, "min_words", DEFAULT_MIN_WORDS)),
        ngram=int(_arg(args, "ngram", DEFAULT_NGRAM)),
        order_by=["_file", "_record"],
        stats=stats,
    )
    index: dict[int, LineIndex] = {}

    def span(s: Span) -> dict[str, Any]:
        key, text = info[s.doc]
        if s.doc not in index:
            index[s.doc] = LineIndex(text)
        record = span_record(paths[key["_file"]], index[s.doc], s.start, s.end)
        if key["_record"] is not None:
            record.update(record=key["_record"], id=json.loads(key["_id"]))
        return record

    out = [{"original": span(m.original), "repeat": span(m.repeat), "similarity": m.similarity} for m in matches]
    docs.unpersist()
    summary = _summary(inputs, stats, spark, start, matches=len(out))
    return {"matches": out, "summary": summary, "problems": problems}
