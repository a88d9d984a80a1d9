"""Connected components of an edge DataFrame: on the driver when small, large-star/small-star otherwise."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ..clusters import connected_components as local_components
from .session import ensure_checkpoint_dir, to_arrow

__all__ = ["DEFAULT_MAX_LOCAL_EDGES", "MAX_ROUNDS", "connected_components"]

#: Below this many verified edges, connected components run on the driver
#: (16 bytes per edge: 5 million edges is 80 MB); above it, distributed.
DEFAULT_MAX_LOCAL_EDGES = 5_000_000
#: Large-star/small-star rounds before giving up (the number needed grows
#: like log(n)^2 at worst; real graphs converge in a handful).
MAX_ROUNDS = 100


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
        table = to_arrow(e)
        pairs = (
            np.stack(
                [table.column("a").to_numpy(zero_copy_only=False), table.column("b").to_numpy(zero_copy_only=False)],
                axis=1,
            )
            .astype(np.int64)
            .reshape(-1, 2)
        )
        nodes, dense = np.unique(pairs, return_inverse=True)
        labels = local_components(len(nodes), dense.reshape(-1, 2))
        if stats is not None:
            stats.update(components="driver", rounds=0)
        out = pa.table({"node": pa.array(nodes, pa.int64()), "label": pa.array(nodes[labels], pa.int64())})
        return spark.createDataFrame(out.to_pandas(), "node long, label long")
    ensure_checkpoint_dir(spark, checkpoint_dir)
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
