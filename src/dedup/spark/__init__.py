"""Near-duplicate documents and repeated passages on Apache Spark.

The same results as the local functions (:func:`dedup.find_duplicates`,
:func:`dedup.find_repeated_passages`), computed on a Spark DataFrame with an
id and a text column. Install with ``pip install "dedup[spark]"``.

Every step that touches text calls the library's own code on Arrow batches
(``mapInArrow``), so there is one implementation of shingling, hashing and
MinHash; Spark only moves the compact results (band keys, pairs, seeds)
between machines. See ``docs/spark.md`` for the stages, what each one costs
and how to run on a cluster.

The package: :mod:`~dedup.spark.session` (the session, the document order),
:mod:`~dedup.spark.documents` (near-duplicate documents),
:mod:`~dedup.spark.components` (connected components),
:mod:`~dedup.spark.passages` (repeated passages),
:mod:`~dedup.spark.clean` (cleaning: documents dropped, passages cut) and
:mod:`~dedup.spark.cli` (the command line's adapter; the engine modules do
not import it, nor :mod:`dedup.cli` or :mod:`dedup.report`).

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

try:
    import pyarrow  # noqa: F401
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError("dedup.spark needs the spark extra: pip install 'dedup[spark]'") from exc

from .clean import clean, removal_plan
from .cli import cli_clean, cli_docs, cli_passages
from .components import DEFAULT_MAX_LOCAL_EDGES, MAX_ROUNDS, connected_components
from .documents import drop_duplicates, duplicate_decisions, find_duplicates
from .passages import find_repeated_passages, repeated_passages
from .session import JAVA_17, get_session

__all__ = [
    "DEFAULT_MAX_LOCAL_EDGES",
    "JAVA_17",
    "MAX_ROUNDS",
    "clean",
    "cli_clean",
    "cli_docs",
    "cli_passages",
    "connected_components",
    "drop_duplicates",
    "duplicate_decisions",
    "find_duplicates",
    "find_repeated_passages",
    "get_session",
    "removal_plan",
    "repeated_passages",
]
