"""Cleaning on Spark: duplicate documents dropped, repeated passages cut out, on the executors.

The Spark counterpart of ``dedup clean`` and :func:`dedup.remove_repeated_passages`:

1. with ``docs=True``, :func:`~dedup.spark.documents.duplicate_decisions`
   (the Spark :func:`dedup.which_to_keep`) drops every clustered document
   but the kept one;
2. :func:`~dedup.spark.passages.passage_matches` finds the repeated
   passages of the documents left;
3. :func:`removal_plan` decides what to cut, one repeat document per task,
   with the library's :func:`dedup.passages.plan_removals` and
   :func:`dedup.passages.apply_removals`.

**Why levels.** A repeat is cut only if enough of its original is still
kept, and the original may itself lose parts to earlier cuts: a document's
plan depends on the final plans of the earlier documents holding its
originals (nothing else: :func:`~dedup.passages.plan_removals` takes them as
``removed_before``). Documents are planned in *levels*: level 0 holds the
documents whose originals lie in documents without repeats (or in
themselves), level *k* those whose originals' documents are at levels below
*k*. Each level is one ``cogroup`` job; copied text mostly points at the
first occurrence of each passage, so there are few levels (the number is in
``stats["plan_levels"]``). The result equals the local plan of all
documents at once (the tests check it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ..clusters import KeepPolicy
from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Match, Removal, Span, apply_removals, plan_removals
from .documents import duplicate_decisions
from .passages import passage_matches
from .session import IDX, TEXT, indexed, timed

__all__ = ["REMOVAL_SCHEMA", "CleanParts", "clean", "clean_indexed", "removal_plan"]

#: Rows of :func:`removal_plan`: a cut ``[start, end)`` of document ``ri`` (characters, widened to
#: whole lines where the repeat covers them) and the match behind it.
REMOVAL_SCHEMA = "ri long, start long, end long, oi long, o_start long, o_end long, similarity double"
_PLANNED = pa.schema(
    [
        ("ri", pa.int64()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("oi", pa.int64()),
        ("o_start", pa.int64()),
        ("o_end", pa.int64()),
        ("similarity", pa.float64()),
        ("cleaned", pa.string()),
    ]
)
_PLANNED_DDL = REMOVAL_SCHEMA + ", cleaned string"
#: The rows of one level's task: a match of the document (``prior`` false) or a span already
#: removed from the document ``oi`` holding one of its originals (``prior`` true).
_TASK_COLUMNS = ["ri", "prior", "oi", "o_start", "o_end", "r_start", "r_end", "similarity"]


def _plan_fn(threshold: float):
    """One repeat document: its matches, the final cuts of the earlier documents holding their
    originals, and its text -> its cuts (one row each) and its cleaned text (a row without a cut)."""

    def fn(rows: pa.Table, texts: pa.Table) -> pa.Table:
        if rows.num_rows == 0 or texts.num_rows == 0:
            return _PLANNED.empty_table()
        here, text = int(texts.column(0)[0].as_py()), texts.column(1)[0].as_py()
        items = rows.select(_TASK_COLUMNS).to_pylist()
        others = sorted({r["oi"] for r in items if r["oi"] != here})
        number = {o: k for k, o in enumerate(others)}
        number[here] = len(others)
        me = number[here]
        before: dict[int, list[tuple[int, int]]] = {}
        matches = []
        for r in items:
            if r["prior"]:
                before.setdefault(number[r["oi"]], []).append((r["o_start"], r["o_end"]))
        for r in sorted(items, key=lambda r: (r["r_start"] or 0, r["r_end"] or 0, r["oi"], r["o_start"], r["o_end"])):
            if not r["prior"]:
                matches.append(
                    Match(
                        Span(number[r["oi"]], r["o_start"], r["o_end"]),
                        Span(me, r["r_start"], r["r_end"]),
                        r["similarity"],
                    )
                )
        # Only this document's text is read; the others are there for their numbers.
        texts_here = [""] * len(others) + [text]
        plan = plan_removals(texts_here, matches, threshold=threshold, removed_before=before)
        (cleaned,) = apply_removals([text], [Removal(Span(0, r.span.start, r.span.end), r.match) for r in plan])
        out: dict[str, list] = {name: [] for name in _PLANNED.names}
        back = {k: o for o, k in number.items()}
        for r in plan:
            for name, value in zip(
                _PLANNED.names,
                (
                    here,
                    r.span.start,
                    r.span.end,
                    back[r.match.original.doc],
                    r.match.original.start,
                    r.match.original.end,
                    float(r.match.similarity),
                    None,
                ),
            ):
                out[name].append(value)
        for name in _PLANNED.names:
            out[name].append(None)
        out["ri"][-1], out["cleaned"][-1] = here, cleaned
        return pa.table(out, schema=_PLANNED)

    return fn


def _levels(matches: DataFrame, holders: DataFrame, max_levels: int) -> tuple[DataFrame, DataFrame, int]:
    """``(d, level)`` of every document holding a repeat, the dependencies ``(d, o)`` and the number
    of levels: ``level(d) = 1 + max(level(o))`` over the other repeat-holding documents ``o`` that
    hold originals of ``d``'s matches (0 when there are none)."""
    deps = (
        matches.where(F.col("oi") != F.col("ri"))
        .select(F.col("ri").alias("d"), F.col("oi").alias("o"))
        .distinct()
        .join(holders.select(F.col("d").alias("o")), "o", "left_semi")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    level = holders.select("d", F.lit(0).alias("level")).localCheckpoint()
    for _ in range(max_levels):
        up = (
            deps.join(level.select(F.col("d").alias("o"), F.col("level").alias("ol")), "o")
            .groupBy("d")
            .agg((F.max("ol") + 1).alias("nl"))
        )
        new = (
            level.join(up, "d", "left")
            .select("d", F.greatest("level", F.coalesce("nl", F.lit(0))).alias("level"))
            .localCheckpoint()
        )
        changed = new.join(level, ["d", "level"], "left_anti").count()
        level = new
        if changed == 0:
            break
    else:
        raise RuntimeError(f"the removal plan needs more than {max_levels} levels")
    top = level.agg(F.max("level")).first()
    return level, deps, (int(top[0]) + 1) if top and top[0] is not None else 0


def removal_plan(
    docs: DataFrame,
    matches: DataFrame,
    *,
    threshold: float = 0.8,
    max_levels: int = 1000,
    stats: dict | None = None,
) -> tuple[DataFrame, DataFrame]:
    """What to cut from an :func:`~dedup.spark.session.indexed` DataFrame, given its matches.

    ``matches`` has the columns of :data:`~dedup.spark.passages.MATCH_SCHEMA`.
    Returns ``(removals, cleaned)``: the cuts (:data:`REMOVAL_SCHEMA`,
    :func:`dedup.passages.plan_removals` of all documents at once) and
    ``(IDX, cleaned)``, the new text of every document holding a repeat
    (others are unchanged); both computed and cached. ``stats`` gets
    ``plan_levels`` (see the module docstring).
    """
    t = time.perf_counter()
    matches = matches.localCheckpoint()  # every level reads it: cut its query plan once
    holders = matches.select(F.col("ri").alias("d")).distinct().persist(StorageLevel.MEMORY_AND_DISK)
    level, deps, n_levels = _levels(matches, holders, max_levels)
    texts = docs.select(F.col(IDX), F.col(TEXT))
    done: DataFrame | None = None
    parts: list[DataFrame] = []
    for k in range(n_levels):
        these = level.where(F.col("level") == k).select("d")
        rows = matches.join(these.select(F.col("d").alias("ri")), "ri", "left_semi").select(
            "ri",
            F.lit(False).alias("prior"),
            "oi",
            "o_start",
            "o_end",
            "r_start",
            "r_end",
            "similarity",
        )
        if done is not None:
            # The final cuts of the earlier documents holding this level's originals.
            prior = (
                deps.join(these, "d", "left_semi")
                .join(done.select(F.col("ri").alias("o"), "start", "end"), "o")
                .select(
                    F.col("d").alias("ri"),
                    F.lit(True).alias("prior"),
                    F.col("o").alias("oi"),
                    F.col("start").alias("o_start"),
                    F.col("end").alias("o_end"),
                    F.lit(None).cast("long").alias("r_start"),
                    F.lit(None).cast("long").alias("r_end"),
                    F.lit(None).cast("double").alias("similarity"),
                )
            )
            rows = rows.unionByName(prior)
        planned = (
            rows.groupBy("ri")
            .cogroup(texts.join(these.select(F.col("d").alias(IDX)), IDX, "left_semi").groupBy(IDX))
            .applyInArrow(_plan_fn(threshold), _PLANNED_DDL)
            .localCheckpoint()  # computed now; later levels read it without its query plan
        )
        parts.append(planned)
        cuts = planned.where(F.col("cleaned").isNull()).drop("cleaned")
        done = (cuts if done is None else done.unionByName(cuts)).localCheckpoint()
    spark = docs.sparkSession
    if parts:
        everything = parts[0]
        for part in parts[1:]:
            everything = everything.unionByName(part)
    else:
        everything = spark.createDataFrame([], _PLANNED_DDL)
    removals = everything.where(F.col("cleaned").isNull()).drop("cleaned").persist(StorageLevel.MEMORY_AND_DISK)
    cleaned = (
        everything.where(F.col("cleaned").isNotNull())
        .select(F.col("ri").alias(IDX), "cleaned")
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    n_removals = removals.count()
    cleaned.count()
    holders.unpersist()
    deps.unpersist()
    if stats is not None:
        stats.update(plan_levels=n_levels, passages_removed=n_removals)
    timed(stats, "plan", t)
    return removals, cleaned


def clean(
    df: DataFrame,
    id_col: str = "id",
    text_col: str = "text",
    *,
    docs: bool = True,
    threshold: float = 0.8,
    doc_threshold: float | None = None,
    passage_threshold: float | None = None,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    num_perm: int = 128,
    keep: KeepPolicy = "first",
    order_by: str | Sequence[str] | None = None,
    stats: dict | None = None,
) -> tuple[DataFrame, DataFrame]:
    """``df`` cleaned: without its duplicate documents (``docs=True``) and repeated passages.

    The Spark ``dedup clean``: the same documents dropped and the same text
    cut as :func:`dedup.which_to_keep` then :func:`dedup.find_repeated_passages`,
    :func:`dedup.passages.plan_removals` and :func:`dedup.passages.apply_removals`
    on the texts in document order (``order_by``, see :mod:`dedup.spark`).
    Returns ``(cleaned, removals)``: ``cleaned`` has the columns of ``df``,
    the kept rows with ``text_col`` cleaned; ``removals`` has one row per
    removal, in document order: ``(kind, id, start, end, original_id,
    original_start, original_end, similarity)`` with ``kind`` ``document``
    (the whole text; ``original_id`` the kept duplicate) or ``passage``
    (character offsets in the original texts). Both are computed and cached.

    >>> cleaned, removals = clean(spark.read.parquet("docs.parquet"), "id", "text")  # doctest: +SKIP
    >>> cleaned.write.parquet("clean.parquet")                                       # doctest: +SKIP
    """
    t0 = time.perf_counter()
    ix = indexed(df, id_col, text_col, order_by)
    n_docs = ix.count()
    timed(stats, "read", t0)
    if stats is not None:
        stats["documents"] = n_docs
    parts = clean_indexed(
        ix,
        id_col,
        docs=docs,
        doc_threshold=doc_threshold or threshold,
        passage_threshold=passage_threshold or threshold,
        min_words=min_words,
        ngram=ngram,
        num_perm=num_perm,
        keep=keep,
        stats=stats,
    )
    ids = ix.select(F.col(IDX), F.col(id_col).alias("_id"))
    removals = (
        parts.removals.join(ids.withColumnRenamed(IDX, "ri"), "ri")
        .join(ids.select(F.col(IDX).alias("oi"), F.col("_id").alias("original_id")), "oi")
        .orderBy("ri", F.col("kind") != "document", "start")
        .select(
            "kind",
            F.col("_id").alias(id_col),
            "start",
            "end",
            "original_id",
            F.col("o_start").alias("original_start"),
            F.col("o_end").alias("original_end"),
            "similarity",
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    kept = ix.join(parts.dropped.select(IDX), IDX, "left_anti")
    cleaned = (
        kept.join(parts.cleaned, IDX, "left")
        .withColumn(text_col, F.coalesce(F.col("cleaned"), F.col(text_col)))
        .select(*df.columns)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    removals.count()
    cleaned.count()
    parts.unpersist()
    ix.unpersist()
    if stats is not None:
        stats.setdefault("seconds", {})["total"] = round(time.perf_counter() - t0, 3)
    return cleaned, removals


class CleanParts:
    """What :func:`clean_indexed` decided, by ``IDX``: the dropped documents ``(IDX, kept_idx,
    similarity)``, the cuts (:data:`REMOVAL_SCHEMA`), the cleaned texts ``(IDX, cleaned)`` and every
    removal (``kind`` plus :data:`REMOVAL_SCHEMA`; a dropped document is ``[0, len)`` of itself
    with ``[0, len)`` of its kept duplicate as the original). All cached."""

    def __init__(self, dropped: DataFrame, cuts: DataFrame, cleaned: DataFrame, removals: DataFrame) -> None:
        self.dropped, self.cuts, self.cleaned, self.removals = dropped, cuts, cleaned, removals

    def unpersist(self) -> None:
        """Release the cached frames."""
        for frame in (self.dropped, self.cuts, self.cleaned, self.removals):
            frame.unpersist()


def clean_indexed(
    ix: DataFrame,
    id_col: str,
    *,
    docs: bool,
    doc_threshold: float,
    passage_threshold: float,
    min_words: int,
    ngram: int,
    num_perm: int,
    keep: KeepPolicy,
    stats: dict | None = None,
) -> CleanParts:
    """The decisions of :func:`clean` on an :func:`~dedup.spark.session.indexed` DataFrame."""
    spark = ix.sparkSession
    if docs:
        decisions = duplicate_decisions(
            ix, id_col, doc_threshold, ngram=ngram, num_perm=num_perm, keep=keep, stats=stats
        )
        # Checkpointed: the plans below read the documents left several times, and each copy of
        # the decisions' plan (edges, components, similarities) inside them made the query plans
        # grow until the driver ran out of heap (a 14-document clean failed with 1 GB).
        dropped = decisions.where(~F.col("kept")).select(IDX, "kept_idx", "similarity").localCheckpoint()
        decisions.unpersist()
    else:
        dropped = spark.createDataFrame([], f"{IDX} long, kept_idx long, similarity double")
    remaining = ix.join(dropped.select(IDX), IDX, "left_anti").persist(StorageLevel.MEMORY_AND_DISK)
    t = time.perf_counter()
    matches = passage_matches(
        remaining, threshold=passage_threshold, min_words=min_words, ngram=ngram, stats=stats
    ).persist(StorageLevel.MEMORY_AND_DISK)
    n_matches = matches.count()
    timed(stats, "passages", t)
    if stats is not None:
        stats["matches"] = n_matches
    cuts, cleaned = removal_plan(remaining, matches, threshold=passage_threshold, stats=stats)
    matches.unpersist()
    lengths = ix.select(F.col(IDX), F.length(TEXT).cast("long").alias("_len"))
    whole = dropped.join(lengths, IDX).join(
        lengths.select(F.col(IDX).alias("kept_idx"), F.col("_len").alias("_klen")), "kept_idx"
    )
    removals = (
        whole.select(
            F.lit("document").alias("kind"),
            F.col(IDX).alias("ri"),
            F.lit(0).cast("long").alias("start"),
            F.col("_len").alias("end"),
            F.col("kept_idx").alias("oi"),
            F.lit(0).cast("long").alias("o_start"),
            F.col("_klen").alias("o_end"),
            "similarity",
        )
        .unionByName(cuts.select(F.lit("passage").alias("kind"), *cuts.columns))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    removals.count()
    remaining.unpersist()
    return CleanParts(dropped, cuts, cleaned, removals)
