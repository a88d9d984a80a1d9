"""The Spark session dedup runs in, and the indexed view of the input every stage reads.

The engine's own plumbing, shared by :mod:`dedup.spark.documents` and
:mod:`dedup.spark.passages`: a configured session, the document order
(:func:`indexed`), checkpoints, stage timings and Arrow collection.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

__all__ = [
    "IDX",
    "JAVA_17",
    "TEXT",
    "ensure_checkpoint_dir",
    "get_session",
    "indexed",
    "rank_column",
    "timed",
    "to_arrow",
]

#: The JDK this project is tested with; used when ``JAVA_HOME`` is not set.
JAVA_17 = "/usr/lib/jvm/java-17-openjdk-amd64"
#: Columns added to the input: the document order and the text (null -> "").
IDX = "__dedup_idx"
TEXT = "__dedup_text"


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


def ensure_checkpoint_dir(spark: SparkSession, checkpoint_dir: str | None) -> None:
    """Set ``checkpoint_dir`` as the checkpoint directory, or a temporary one when none is set yet."""
    sc = spark.sparkContext
    if checkpoint_dir is not None:
        sc.setCheckpointDir(checkpoint_dir)
    elif sc.getCheckpointDir() is None:
        # Fine for local masters; on a cluster pass a shared directory (HDFS, S3, ...).
        sc.setCheckpointDir(tempfile.mkdtemp(prefix="dedup-spark-checkpoints-"))


# --------------------------------------------------------------------------- input


def indexed(df: DataFrame, id_col: str, text_col: str, order_by: str | Sequence[str] | None) -> DataFrame:
    """``df`` plus ``IDX`` (document order) and ``TEXT`` (the text, null -> ""), persisted.

    Raises ``ValueError`` for a missing column and ``TypeError`` for a text
    column that is not of string type.
    """
    for col in (id_col, text_col):
        if col not in df.columns:
            raise ValueError(f"no column {col!r} in the DataFrame (columns: {', '.join(df.columns)})")
    kind = df.schema[text_col].dataType
    if not isinstance(kind, (T.StringType, T.NullType)):
        raise TypeError(f"column {text_col!r} is {kind.simpleString()}, not a string; cast it first")
    if order_by is not None:
        # A global sort range-partitions the rows in order, so the ids below follow it.
        df = df.sort(*([order_by] if isinstance(order_by, str) else list(order_by)))
    out = df.withColumn(IDX, F.monotonically_increasing_id()).withColumn(
        TEXT, F.coalesce(F.col(text_col).cast("string"), F.lit(""))
    )
    return out.persist(StorageLevel.MEMORY_AND_DISK)


def timed(stats: dict | None, name: str, start: float) -> float:
    """Record ``stats["seconds"][name]`` (when ``stats`` is given) and return the time now."""
    now = time.perf_counter()
    if stats is not None:
        stats.setdefault("seconds", {})[name] = round(now - start, 3)
    return now


def to_arrow(df: DataFrame) -> pa.Table:
    """The rows of ``df`` on the driver, as an Arrow table."""
    if hasattr(df, "toArrow"):
        return df.toArrow()
    return pa.Table.from_pandas(df.toPandas(), preserve_index=False)  # pragma: no cover - pyspark < 4


def rank_column(df: DataFrame, mid: str = IDX) -> Column:
    """0-based rank in ``df``'s order of each row, from its ``monotonically_increasing_id`` column ``mid``.

    Like ``zipWithIndex`` but without leaving the JVM: one small job counts
    the rows of each partition (the partition is the id's top bits), and the
    offsets become a literal map; the driver holds one number per partition.
    """
    part = F.shiftright(F.col(mid), 33)
    counts = sorted((r[0], r[1]) for r in df.groupBy(part.alias("p")).count().collect())
    offsets: list[Column] = []
    total = 0
    for p, n in counts:
        offsets += [F.lit(p), F.lit(total)]
        total += n
    if not offsets:
        return F.lit(None).cast("long")
    return (F.element_at(F.create_map(*offsets), part) + (F.col(mid) - F.shiftleft(part, 33))).cast("long")
