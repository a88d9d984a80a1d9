"""``dedup docs|passages --engine spark``: the command line's adapter to the Spark engine.

Reads the named inputs with Spark, parses records with the local readers'
rules (:mod:`dedup.formats`), runs :mod:`dedup.spark.documents` or
:mod:`dedup.spark.passages`, and returns the local engine's report
(:mod:`dedup.report` records). The engine modules never import this one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Span
from .documents import find_duplicates
from .passages import passage_matches
from .session import get_session

__all__ = ["cli_docs", "cli_passages"]


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
    """Records -> (record, id as JSON, text, error): the local CLI's rules (:mod:`dedup.formats`)."""
    from ..formats import InputError, row_document

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
                doc = row if isinstance(row, InputError) else row_document(row, path, record, text_field, id_field)
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
    from ..formats import STDIN, find_sources

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
    from ..report import member_record

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
    from ..report import LineIndex, span_record

    start = time.perf_counter()
    spark = _cli_session(args)
    docs, paths, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull()).withColumn("_member", F.struct("_file", "_record", "_id"))
    stats: dict = {}
    matches, info = passage_matches(
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
