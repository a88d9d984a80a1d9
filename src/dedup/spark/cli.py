"""``dedup docs|passages --engine spark``: the command line's adapter to the Spark engine.

Reads the named inputs with Spark, parses records with the local readers'
rules (:mod:`dedup.formats`), runs :mod:`dedup.spark.documents` or
:mod:`dedup.spark.passages`, and returns the local engine's report
(:mod:`dedup.report` records). The engine modules never import this one.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM
from .documents import find_duplicates
from .passages import passage_matches
from .session import IDX, TEXT, get_session, indexed, rank_column

__all__ = ["cli_docs", "cli_passages", "cli_session"]


def _arg(args: Any, name: str, default: Any = None) -> Any:
    value = args.get(name, default) if isinstance(args, Mapping) else getattr(args, name, default)
    return default if value is None else value


def _with_row_numbers(df: DataFrame, name: str) -> DataFrame:
    """``df`` plus ``name``: 1-based consecutive row numbers in the DataFrame's order."""
    mid = df.withColumn("_mid", F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    return mid.withColumn(name, rank_column(mid, "_mid") + 1).drop("_mid")


def _parse_fn(path: str, mode: str, text_field: str, id_field: str | None):
    """Records -> (record, id as JSON, text, error), read by the local readers (:mod:`dedup.formats`)."""
    from ..formats import InputError, iter_jsonl, row_document

    def parse(record: int, row: Any) -> Any:
        if mode == "rows":
            return row_document(row, path, record, text_field, id_field)
        # One line is a one-line JSONL text: the local reader's rules (blank lines skipped,
        # JSON errors, non-objects, missing or non-string fields), numbered as in the file.
        for item in iter_jsonl(row, path, text_field, id_field):
            if isinstance(item, InputError):
                item.line = record
            else:
                item.record = record
            return item
        return None

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
                doc = parse(record, row)
                if doc is None:
                    continue
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


def _is_url(path: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path))


def _remote_sources(spark: SparkSession, path: str, recursive: bool, glob: str | None) -> list[tuple[str, int]]:
    """``(path, bytes)`` of the files at a URL (``hdfs://``, ``s3a://``, ``file://``, ...), listed
    with Spark's own Hadoop file system (names only, sorted); a directory gives its files matching
    ``glob`` (default ``*``), with ``recursive`` its sub-directories' too, hidden names left out."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    root = jvm.org.apache.hadoop.fs.Path(path)
    fs = root.getFileSystem(conf)
    if not fs.exists(root):
        raise ValueError(f"{path}: no such file or directory")
    found: list[tuple[str, int]] = []
    pending = [fs.getFileStatus(root)]
    while pending:
        status = pending.pop()
        if status.isDirectory():
            for child in fs.listStatus(status.getPath()):
                name = child.getPath().getName()
                if name.startswith((".", "_")):
                    continue  # hidden files, and Spark's _SUCCESS markers
                if child.isDirectory():
                    if recursive:
                        pending.append(child)
                elif fnmatch.fnmatch(name, glob or "*"):
                    found.append((child.getPath().toString(), int(child.getLen())))
        else:
            found.append((status.getPath().toString(), int(status.getLen())))
    return sorted(found)


def _read_cli_documents(spark: SparkSession, args: Any) -> tuple[DataFrame, list[str], dict]:
    """The documents named on the command line as ``(_file, _path, _record, _id, _text, _error)``,
    the first problems (one-line messages) and the input part of the summary.

    Local paths are listed as the local engine lists them (:func:`dedup.formats.find_sources`);
    URLs with Spark's Hadoop file system. Every file is read by Spark's own readers, so the
    driver never opens an input.
    """
    from ..formats import STDIN, find_sources

    paths = list(_arg(args, "paths", []))
    recursive, glob = bool(_arg(args, "recursive", False)), _arg(args, "glob")
    local = [p for p in paths if not _is_url(p)]
    sources, problems = find_sources(local, recursive=recursive, glob=glob) if local else ([], [])
    messages = [str(p) for p in problems]
    if any(s.path == STDIN for s in sources):
        raise ValueError("--engine spark cannot read standard input; name files")
    files = [(s.path, os.path.getsize(s.path) if os.path.isfile(s.path) else 0) for s in sources]
    for p in paths:
        if _is_url(p):
            files += _remote_sources(spark, p, recursive, glob)
    if not files:
        raise ValueError("no input files" + (f" ({messages[0]})" if messages else ""))
    jsonl, parquet = bool(_arg(args, "jsonl", False)), bool(_arg(args, "parquet", False))
    text_field, id_field = _arg(args, "text_field", "text"), _arg(args, "id_field")
    parts = []
    for number, (path, _) in enumerate(files):
        if jsonl:
            lines = _with_row_numbers(spark.read.option("lineSep", "\n").text(path), "_record")
            docs = lines.select("_record", "value").mapInArrow(
                _parse_fn(path, "jsonl", text_field, id_field), _DOC_SCHEMA
            )
        elif parquet:
            table = spark.read.parquet(path)
            for name, flag in ((text_field, "--text-field"), (id_field, "--id-field")):
                if name is not None and name not in table.columns:
                    raise ValueError(f"{path}: no column {name!r} (columns: {', '.join(table.columns)}); use {flag}")
            kind = table.schema[text_field].dataType
            if not isinstance(kind, T.StringType):
                raise ValueError(f"{path}: column {text_field!r} is {kind.simpleString()}, not a string")
            cols = [text_field] + ([id_field] if id_field is not None and id_field != text_field else [])
            rows = _with_row_numbers(table.select(*cols), "_record")
            docs = rows.mapInArrow(_parse_fn(path, "rows", text_field, id_field), _DOC_SCHEMA)
        else:  # a whole file is one document
            whole = spark.read.text(path, wholetext=True)
            docs = whole.select(
                F.lit(None).cast("long").alias("_record"),
                F.lit("null").alias("_id"),
                F.col("value").alias("_text"),
                F.when(F.col("value") == "", F.lit(f"{path}: empty file")).alias("_error"),
            )
        parts.append(docs.withColumn("_file", F.lit(number)).withColumn("_path", F.lit(path)))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    union = union.persist(StorageLevel.MEMORY_AND_DISK)
    bad = union.where(F.col("_error").isNotNull())
    skipped_records = bad.count()
    summary = {
        "files": len(files),
        "bytes": sum(n for _, n in files),
        "skipped_files": len(messages),
        "skipped_records": skipped_records,
    }
    messages += [r[0] for r in bad.select("_error").limit(50).collect()]
    if skipped_records > 50:
        messages.append(f"... and {skipped_records - 50} more bad records")
    return union, messages, summary


def cli_session(args: Any) -> SparkSession:
    """The session for the command line's Spark options: ``spark_master`` (default ``local[*]``),
    ``spark_partitions`` (shuffle partitions), ``spark_driver_memory`` and ``spark_conf``
    (``KEY=VALUE`` strings, applied last)."""
    conf: dict[str, str] = {}
    memory = _arg(args, "spark_driver_memory")
    if memory is not None:
        conf["spark.driver.memory"] = str(memory)
    for item in _arg(args, "spark_conf", []):
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--spark-conf wants KEY=VALUE, got {item!r}")
        conf[key.strip()] = value.strip()
    partitions = _arg(args, "spark_partitions")
    return get_session(
        _arg(args, "spark_master", "local[*]"),
        shuffle_partitions=int(partitions) if partitions is not None else None,
        **conf,
    )


def _summary(inputs: dict, documents: int, spark: SparkSession, start: float, **counts: Any) -> dict[str, Any]:
    """The local summary (:meth:`dedup.formats.Corpus.summary`) plus ``engine`` and ``spark_master``."""
    from ..formats import Corpus

    read = Corpus(
        files=inputs["files"],
        nbytes=inputs["bytes"],
        skipped_files=inputs["skipped_files"],
        skipped_records=inputs["skipped_records"],
    )
    summary = read.summary(time.perf_counter() - start, **counts)
    summary["documents"] = documents  # the documents were counted by Spark, not held here
    summary.update(engine="spark", spark_master=spark.sparkContext.master)
    return summary


def _deliver(records: DataFrame, out_dir: str | None, extra: str | None = None) -> tuple[list[dict[str, Any]], list]:
    """Report records (one JSON text per row, column ``json``, in report order) and the column
    ``extra`` alongside: collected, or the records written by the executors as JSONL part files
    under ``out_dir`` (then nothing is collected)."""
    if out_dir is None:
        rows = records.select("json", *([extra] if extra else [])).collect()
        return [json.loads(r[0]) for r in rows], [r[1] for r in rows] if extra else []
    records.select("json").write.mode("errorifexists").text(out_dir)
    return [], []


_CLUSTER = "json string"


def _cluster_records(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Rows ``(members: [(file, path, record, id as JSON, kept)])`` -> the report's cluster records."""
    from ..report import member_record

    for batch in batches:
        out = []
        for members in batch.column("members").to_pylist():
            records = [(member_record(m["path"], m["record"], json.loads(m["id"])), m["kept"]) for m in members]
            kept = next(r for r, k in records if k)
            out.append(json.dumps({"members": [r for r, _ in records], "kept": kept}, ensure_ascii=False))
        yield pa.RecordBatch.from_arrays([pa.array(out, pa.string())], names=["json"])


def cli_docs(args: Any) -> dict[str, Any]:
    """``dedup docs --engine spark``: the clusters of the named files, as the local JSON report.

    ``args`` is an ``argparse.Namespace`` or a dict with ``paths``, ``jsonl``,
    ``parquet``, ``text_field``, ``id_field``, ``threshold``, ``ngram``,
    ``num_perm`` and optionally ``recursive``, ``glob``, ``keep`` and the
    Spark options of :func:`cli_session`. Returns ``{"clusters": [{"members":
    [member, ...], "kept": member}], "summary": {...}, "problems": [message,
    ...]}`` where a member is ``{"path", "record", "id"}``
    (:func:`dedup.report.member_record`) and ``problems`` are one-line
    messages about skipped inputs (not part of the JSON report). With
    ``spark_output`` (a directory), the cluster records are written there
    by the executors as JSONL part files and ``clusters`` is empty; the
    summary counts them. Raises ``ValueError`` with a one-line message when
    nothing can be read.
    """
    start = time.perf_counter()
    spark = cli_session(args)
    docs, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull()).withColumn("_member", F.struct("_file", "_record", "_path", "_id"))
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
    )
    # One row per cluster, members in document order ((file, record) leads the struct), clusters
    # in the order of their first member (cluster_id is the first member).
    member = F.struct(
        F.col("_member._file").alias("file"),
        F.col("_member._record").alias("order"),
        F.col("_member._path").alias("path"),
        F.col("_member._record").alias("record"),
        F.col("_member._id").alias("id"),
        F.col("kept"),
    )
    clusters = (
        found.groupBy("cluster_id")
        .agg(F.array_sort(F.collect_list(member)).alias("members"), F.count(F.lit(1)).alias("size"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    n_clusters, n_members = clusters.agg(F.count(F.lit(1)), F.sum("size")).first() or (0, 0)
    records = (
        clusters.orderBy(F.col("cluster_id._file"), F.col("cluster_id._record"))
        .select("members")
        .mapInArrow(_cluster_records, _CLUSTER)
    )
    out, _ = _deliver(records, _arg(args, "spark_output"))
    clusters.unpersist()
    found.unpersist()
    docs.unpersist()
    n_members = int(n_members or 0)
    summary = _summary(
        inputs,
        stats.get("documents", 0),
        spark,
        start,
        clusters=int(n_clusters),
        duplicates=n_members - int(n_clusters),
    )
    if _arg(args, "spark_output") is not None:
        summary["output"] = _arg(args, "spark_output")
    return {"clusters": out, "summary": summary, "problems": problems}


def _spans_fn(side: str):
    """Matches of one document (the repeat or the original side) + its text -> span records as
    JSON (:func:`dedup.report.span_record`, plus ``record`` and ``id`` for records), and for the
    repeat side the excerpt of the text report."""
    from ..report import LineIndex, excerpt, span_record

    lo, hi = ("r_start", "r_end") if side == "repeat" else ("o_start", "o_end")

    def fn(matches: pa.Table, docs: pa.Table) -> pa.Table:
        keys = {"ri": [], "r_start": [], "span": [], "excerpt": []}  # type: dict[str, list]
        if matches.num_rows and docs.num_rows:
            doc = docs.to_pylist()[0]
            index = LineIndex(doc["_text"])
            for m in matches.select(["ri", "r_start", lo, hi]).to_pylist():
                rec = span_record(doc["_path"], index, m[lo], m[hi])
                if doc["_record"] is not None:
                    rec.update(record=doc["_record"], id=json.loads(doc["_id"]))
                keys["ri"].append(m["ri"])
                keys["r_start"].append(m["r_start"])
                keys["span"].append(json.dumps(rec, ensure_ascii=False))
                keys["excerpt"].append(excerpt(doc["_text"], m[lo], m[hi]) if side == "repeat" else None)
        return pa.table(keys, schema=_SPANS)

    return fn


_SPANS = pa.schema([("ri", pa.int64()), ("r_start", pa.int64()), ("span", pa.string()), ("excerpt", pa.string())])
_SPANS_DDL = "ri long, r_start long, span string, excerpt string"


def _match_records(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        out = [
            json.dumps({"original": json.loads(o), "repeat": json.loads(r), "similarity": s}, ensure_ascii=False)
            for o, r, s in zip(
                batch.column("o_span").to_pylist(),
                batch.column("r_span").to_pylist(),
                batch.column("similarity").to_pylist(),
            )
        ]
        yield pa.RecordBatch.from_arrays(
            [pa.array(out, pa.string()), batch.column("excerpt")], names=["json", "excerpt"]
        )


def cli_passages(args: Any) -> dict[str, Any]:
    """``dedup passages --engine spark``: repeated passages of the named files, as the local JSON report.

    ``args`` as for :func:`cli_docs`, plus ``min_words``. Returns
    ``{"matches": [{"original": span, "repeat": span, "similarity"}],
    "excerpts": [...], "summary": {...}, "problems": [...]}`` where a span is
    ``{"path", "start_line", "end_line", "start", "end"}``
    (:func:`dedup.report.span_record`), plus ``"record"`` and ``"id"`` when
    documents are JSONL lines or Parquet rows. Span records and excerpts are
    made on the executors, one document per task; the driver only collects
    the records (or, with ``spark_output``, nothing: the executors write
    them as JSONL part files there).
    """
    start = time.perf_counter()
    spark = cli_session(args)
    docs, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull())
    ix = indexed(good, "_id", "_text", ["_file", "_record"])
    stats: dict = {"documents": ix.count()}
    matches = passage_matches(
        ix,
        threshold=float(_arg(args, "threshold", 0.8)),
        min_words=int(_arg(args, "min_words", DEFAULT_MIN_WORDS)),
        ngram=int(_arg(args, "ngram", DEFAULT_NGRAM)),
        stats=stats,
    ).persist(StorageLevel.MEMORY_AND_DISK)
    texts = ix.select(F.col(IDX), "_path", "_record", "_id", F.col(TEXT).alias("_text"))
    sides = []
    for side, key in (("repeat", "ri"), ("original", "oi")):
        holders = texts.join(matches.select(F.col(key).alias(IDX)).distinct(), IDX, "left_semi")
        sides.append(matches.groupBy(key).cogroup(holders.groupBy(IDX)).applyInArrow(_spans_fn(side), _SPANS_DDL))
    ranks = ix.select(F.col(IDX).alias("ri"), rank_column(ix).alias("r_rank"))
    records = (
        matches.select("ri", "r_start", "similarity")
        .join(sides[0].select("ri", "r_start", F.col("span").alias("r_span"), "excerpt"), ["ri", "r_start"])
        .join(sides[1].select("ri", "r_start", F.col("span").alias("o_span")), ["ri", "r_start"])
        .join(ranks, "ri")
        .orderBy("r_rank", "r_start")
        .select("o_span", "r_span", "similarity", "excerpt")
        .mapInArrow(_match_records, "json string, excerpt string")
    )
    n_matches = matches.count()
    out, excerpts = _deliver(records, _arg(args, "spark_output"), "excerpt")
    matches.unpersist()
    ix.unpersist()
    docs.unpersist()
    summary = _summary(inputs, stats["documents"], spark, start, matches=n_matches)
    if _arg(args, "spark_output") is not None:
        summary["output"] = _arg(args, "spark_output")
    return {"matches": out, "excerpts": excerpts, "summary": summary, "problems": problems}
