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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..formats import Document
from ..passages import DEFAULT_MIN_WORDS, DEFAULT_NGRAM, Match, Span
from .documents import duplicate_decisions
from .passages import passage_matches
from .session import IDX, TEXT, get_session, indexed, rank_column

__all__ = ["InputFile", "cli_clean", "cli_docs", "cli_passages", "cli_session"]


def _arg(args: Any, name: str, default: Any = None) -> Any:
    value = args.get(name, default) if isinstance(args, Mapping) else getattr(args, name, default)
    return default if value is None else value


def _with_row_numbers(df: DataFrame, name: str) -> DataFrame:
    """``df`` plus ``name``: 1-based consecutive row numbers in the DataFrame's order."""
    mid = df.withColumn("_mid", F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    return mid.withColumn(name, rank_column(mid, "_mid") + 1).drop("_mid")


#: Undecodable bytes read with ``--errors surrogateescape`` (and lone surrogates from JSON
#: ``\\udXXX`` escapes) cannot travel in Spark's strings, which are UTF-8: U+D800..U+DFFF
#: travel as U+10F800..U+10FFFF (the end of plane 16, private use), one character for one, so
#: tokens and offsets are the local engine's (both are separators); the writer turns them back.
_SURROGATES = re.compile("[\ud800-\udfff]")
_CARRIERS = re.compile("[\U0010f800-\U0010ffff]")
_SHIFT = 0x10F800 - 0xD800


def _escaped(text: str, path: str, record: int | None) -> str:
    """``text`` ready for a Spark string (see ``_SURROGATES``); raises ``InputError`` for a text
    already holding the characters that carry surrogates."""
    from ..formats import InputError

    if _CARRIERS.search(text):
        raise InputError(
            path, "holds characters U+10F800..U+10FFFF, which --engine spark cannot read; use --engine local", record
        )
    return _carried(text)


def _carried(text: str) -> str:
    """``text`` with its lone surrogates as the characters that carry them (see ``_SURROGATES``)."""
    if not _SURROGATES.search(text):
        return text
    return _SURROGATES.sub(lambda m: chr(ord(m.group()) + _SHIFT), text)


def _unescaped(text: str) -> str:
    """The inverse of :func:`_escaped`: the text as the local engine holds it."""
    if not _CARRIERS.search(text):
        return text
    return _CARRIERS.sub(lambda m: chr(ord(m.group()) - _SHIFT), text)


def _jsonl_record(raw: bytes, record: int, path: str, text_field: str, id_field: str | None, errors: str) -> Any:
    """One JSON Lines line as the local reader reads it: a ``Document``, an ``InputError`` (a bad
    record), or None (a blank line); raises ``InputError`` when the line cannot be decoded with
    ``errors`` (the local reader then skips the whole file)."""
    from ..formats import InputError, decode_line, parse_json_line, row_document

    if record == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a UTF-8 byte order mark is not part of the first record
    line = decode_line(raw, path, record, "utf-8", errors)
    if not line.strip():
        return None
    row = parse_json_line(line, path, record)
    if isinstance(row, InputError):
        return row
    if not isinstance(row, dict):
        return InputError(path, "not a JSON object", record)
    doc = row_document(row, path, record, text_field, id_field)
    if not isinstance(doc, InputError):
        try:
            doc.text = _escaped(doc.text, path, record)
        except InputError as e:
            return e
    return doc


def _parse_fn(path: str, mode: str, text_field: str, id_field: str | None, errors: str = "strict"):
    """Records -> (record, id as JSON, text, error), read by the local readers (:mod:`dedup.formats`):
    Parquet rows (``mode="rows"``) or the raw bytes of JSON Lines lines (``mode="jsonl"``). A line
    that cannot be decoded gives a row without ``_record``: the file is skipped, as locally."""
    from ..formats import InputError, row_document

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            out: dict[str, list] = {name: [] for name in _DOC_FIELDS}
            records = batch.column("_record").to_pylist()
            if mode == "jsonl":
                rows: list = batch.column("value").to_pylist()
            else:
                rows = batch.drop_columns(["_record"]).to_pylist()
            for record, row in zip(records, rows):
                if mode == "rows":
                    doc = row_document(row, path, record, text_field, id_field)
                else:
                    try:
                        doc = _jsonl_record(row, record, path, text_field, id_field, errors)
                    except InputError as e:  # the file is unreadable: its line number travels in _size
                        doc, record = e, None
                if doc is None:
                    continue
                if isinstance(doc, InputError):
                    values: tuple = (record, None, None, str(doc), None, None if record is not None else doc.line)
                else:
                    values = (record, json.dumps(doc.id, ensure_ascii=False, default=str), doc.text, None, None, None)
                for name, value in zip(_DOC_FIELDS, values):
                    out[name].append(value)
            yield pa.RecordBatch.from_pydict(out, schema=_DOC_ARROW)

    return fn


_DOC_SCHEMA = "_record long, _id string, _text string, _error string, _codec string, _size long"


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


def _file_docs_fn(path: str, fmt: Any, encoding: str, errors: str, text_field: str, id_field: str | None):
    """A whole file's bytes (``content``, Spark's ``binaryFile``) -> its documents, read on the
    executor with the local readers (:mod:`dedup.formats`): decompressed by its name's
    compression; a text file is one document (an empty file an empty one), decoded as the
    local engine decodes it; a JSON Lines file gives one document per line."""
    from ..formats import BINARY_SNIFF, InputError, decode, decompress, exact_codec

    def fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows: list[tuple] = []
            add = rows.append  # (record, id as JSON, text, error, codec, decompressed size)
            for raw in batch.column("content").to_pylist():
                try:
                    data = decompress(raw, fmt.compression, path) if fmt.compression else raw
                    if fmt.kind == "text":
                        codec = exact_codec(data, encoding)
                        text = _escaped(decode(data, path, codec, errors), path, None) if data else ""
                        add((None, "null", text, None, codec, len(data)))
                        continue
                    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
                        raise InputError(path, "looks like UTF-16 (byte order mark); use --encoding utf-16")
                    if b"\x00" in data[:BINARY_SNIFF]:
                        raise InputError(path, "binary file (NUL bytes), not text")
                    found = []
                    for record, line in enumerate(data.split(b"\n"), 1):
                        item = _jsonl_record(line, record, path, text_field, id_field, errors)
                        if item is not None:
                            found.append((record, item))
                except InputError as e:
                    add((None, None, None, str(e), None, None))
                    continue
                size = len(data)
                for record, item in found:
                    if isinstance(item, InputError):
                        add((record, None, None, str(item), None, size))
                    else:
                        ident = json.dumps(item.id, ensure_ascii=False, default=str)
                        add((record, ident, item.text, None, None, size))
            if rows:
                columns = list(zip(*rows))
                yield pa.RecordBatch.from_pydict(dict(zip(_DOC_FIELDS, columns)), schema=_DOC_ARROW)

    return fn


_DOC_FIELDS = ("_record", "_id", "_text", "_error", "_codec", "_size")
_DOC_ARROW = pa.schema(
    [
        ("_record", pa.int64()),
        ("_id", pa.string()),
        ("_text", pa.string()),
        ("_error", pa.string()),
        ("_codec", pa.string()),
        ("_size", pa.int64()),
    ]
)


class InputFile:
    """One input file of the command line: its number (input order), path, name relative to the
    directory named (:class:`dedup.formats.Source`), size on disk and format by name."""

    def __init__(self, number: int, path: str, rel: str, size: int, fmt: Any) -> None:
        self.number, self.path, self.rel, self.size, self.fmt = number, path, rel, size, fmt


def _input_files(spark: SparkSession, args: Any) -> tuple[list[InputFile], list[str]]:
    """The files named on the command line, each with its format by name
    (:func:`dedup.formats.detect_format`, ``--input-format``/``--jsonl``/``--parquet`` forcing
    the kind), and one-line messages about paths naming none."""
    from ..formats import STDIN, detect_format, find_sources

    paths = list(_arg(args, "paths", []))
    recursive, glob = bool(_arg(args, "recursive", False)), _arg(args, "glob")
    local = [p for p in paths if not _is_url(p)]
    sources, problems = find_sources(local, recursive=recursive, glob=glob) if local else ([], [])
    messages = [str(p) for p in problems]
    if any(s.path == STDIN for s in sources):
        raise ValueError("--engine spark cannot read standard input; name files")
    found = [(s.path, s.rel, os.path.getsize(s.path) if os.path.isfile(s.path) else 0) for s in sources]
    for p in paths:
        if _is_url(p):
            found += [(url, url.rsplit("/", 1)[-1], n) for url, n in _remote_sources(spark, p, recursive, glob)]
    if not found:
        raise ValueError("no input files" + (f" ({messages[0]})" if messages else ""))
    forced = "jsonl" if _arg(args, "jsonl", False) else "parquet" if _arg(args, "parquet", False) else None
    forced = forced or (None if _arg(args, "input_format", "auto") == "auto" else _arg(args, "input_format"))
    files = [InputFile(k, path, rel, size, detect_format(path, forced)) for k, (path, rel, size) in enumerate(found)]
    return files, messages


def _read_cli_documents(
    spark: SparkSession, args: Any, files: list[InputFile] | None = None, errors: str | None = None
) -> tuple[DataFrame, list[str], dict]:
    """The documents named on the command line as ``(_file, _path, _record, _id, _text, _error,
    _codec)``, the first problems (one-line messages) and the input part of the summary.

    Local paths are listed as the local engine lists them (:func:`dedup.formats.find_sources`);
    URLs with Spark's Hadoop file system. Each file's format goes by its name as locally
    (:func:`dedup.formats.detect_format`). Every file is read by Spark's own readers, so the
    driver never opens an input: uncompressed JSON Lines line by line (splittable); text files
    and compressed JSON Lines (``.gz``, ``.zst``, ``.bz2``, ``.xz``) as whole files
    (``binaryFile``), decompressed and parsed on the executors by :mod:`dedup.formats`. A
    document whose ``_record`` is null and ``_error`` set is a file that could not be read.
    """
    from ..formats import exact_codec

    messages: list[str] = []
    if files is None:
        files, messages = _input_files(spark, args)
    text_field, id_field = _arg(args, "text_field", "text"), _arg(args, "id_field")
    encoding, errors = _arg(args, "encoding", "utf-8"), errors or _arg(args, "errors", "strict")
    parts = []
    for f in files:
        path, fmt = f.path, f.fmt
        if fmt.kind == "jsonl" and fmt.compression is None:
            lines = _with_row_numbers(spark.read.option("lineSep", "\n").text(path), "_record")
            # The raw bytes of each line (Spark does not check them), decoded on the executor as locally.
            docs = lines.select("_record", F.col("value").cast("binary").alias("value")).mapInArrow(
                _parse_fn(path, "jsonl", text_field, id_field, errors), _DOC_SCHEMA
            )
        elif fmt.kind == "parquet":
            if fmt.compression is not None:
                raise ValueError(f"{path}: {fmt.compression}-compressed Parquet is read by the local engine only")
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
        elif f.size == 0:  # Spark's file readers skip empty files: an empty text, or no records
            empty = [(None, "null", "", None, exact_codec(b"", encoding), 0)] if fmt.kind == "text" else []
            docs = spark.createDataFrame(empty, _DOC_SCHEMA)
        else:  # a text file (one document) or compressed JSON Lines: the whole file on one executor
            whole = spark.read.format("binaryFile").load(path).select("content")
            docs = whole.mapInArrow(_file_docs_fn(path, fmt, encoding, errors, text_field, id_field), _DOC_SCHEMA)
        parts.append(docs.withColumn("_file", F.lit(f.number)).withColumn("_path", F.lit(path)))
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    union = union.persist(StorageLevel.MEMORY_AND_DISK)
    bad = union.where(F.col("_error").isNotNull())
    # A file that cannot be read is skipped whole, as locally: one message (its first bad line,
    # whose number travels in _size), and none of its records.
    first = F.min(F.struct(F.coalesce(F.col("_size"), F.lit(0)), F.col("_error")))
    unread_rows = bad.where(F.col("_record").isNull()).groupBy("_file").agg(first.alias("_e")).orderBy("_file")
    file_errors = {r[0]: r[1][1] for r in unread_rows.collect()}
    unread = set(file_errors)
    bad_records = bad.where(F.col("_record").isNotNull() & ~F.col("_file").isin(sorted(unread))).count()
    # Bytes read as the local engine counts them: decompressed (one number per file here).
    sizes = {r[0]: r[1] for r in union.groupBy("_file").agg(F.max("_size")).collect() if r[1] is not None}
    summary = {
        "files": len(files) - len(unread),
        "bytes": sum(sizes.get(f.number, f.size) for f in files if f.number not in unread),
        "skipped_files": len(messages) + len(unread),
        "skipped_records": bad_records,
        "unread": unread,
        # As the local loader tells it: the summary line counts documents when records were read.
        "records_read": any(f.fmt.kind != "text" for f in files if f.number not in unread),
    }
    messages += list(file_errors.values())[:50]
    if unread:
        union = union.where(~F.col("_file").isin(sorted(unread)))
        bad = union.where(F.col("_error").isNotNull())
    messages += [r[0] for r in bad.orderBy("_file", "_record").select("_error").limit(50).collect()]
    if len(unread) + bad_records > 50:
        messages.append(f"... and {len(unread) + bad_records - 50} more bad inputs")
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
            records = [(member_record(m["path"], m["record"], json.loads(m["id"])), m) for m in members]
            kept = next(r for r, m in records if m["kept"])
            # Each member with its similarity to the kept one, as in the local report.
            shown = [{**r, "similarity": m["similarity"]} for r, m in records]
            out.append(json.dumps({"members": shown, "kept": kept}, ensure_ascii=False))
        yield pa.RecordBatch.from_arrays([pa.array(out, pa.string())], names=["json"])


def cli_docs(args: Any) -> dict[str, Any]:
    """``dedup docs --engine spark``: the clusters of the named files, as the local JSON report.

    ``args`` is an ``argparse.Namespace`` or a dict with ``paths``, ``jsonl``,
    ``parquet``, ``text_field``, ``id_field``, ``threshold``, ``ngram``,
    ``num_perm`` and optionally ``recursive``, ``glob``, ``keep`` and the
    Spark options of :func:`cli_session`. Returns ``{"clusters": [{"members":
    [member, ...], "kept": member}], "summary": {...}, "problems": [message,
    ...], "records_read": bool}`` where a member is ``{"path", "record", "id"}``
    (:func:`dedup.report.member_record`) and ``problems`` are one-line
    messages about skipped inputs (not part of the JSON report);
    ``records_read`` tells whether any file read holds records (JSON Lines,
    Parquet) rather than one text, as the local summary line needs. With
    ``spark_output`` (a directory), the cluster records are written there
    by the executors as JSONL part files and ``clusters`` is empty; the
    summary counts them. With ``format="html"``, ``clusters`` is empty and
    the result also holds what the local HTML page needs: ``ranked_clusters``
    (lists of ranks in document order), ``kept`` (one rank per cluster) and
    ``texts`` (a :class:`ShownTexts` with the clustered documents only).
    Raises ``ValueError`` with a one-line message when nothing can be read.
    """
    start = time.perf_counter()
    spark = cli_session(args)
    docs, problems, inputs = _read_cli_documents(spark, args)
    good = docs.where(F.col("_error").isNull())
    ix = indexed(good, "_id", "_text", ["_file", "_record"])
    stats: dict = {"documents": ix.count()}
    found = duplicate_decisions(
        ix,
        "_id",
        float(_arg(args, "threshold", 0.8)),
        ngram=int(_arg(args, "ngram", 5)),
        num_perm=int(_arg(args, "num_perm", 128)),
        keep=_arg(args, "keep", "first"),
        stats=stats,
    )
    # One row per cluster, members in document order (IDX leads the struct), clusters in the
    # order of their first member (label is the first member's IDX).
    member = F.struct(
        F.col(IDX).alias("order"),
        F.col("_path").alias("path"),
        F.col("_record").alias("record"),
        F.col("_id").alias("id"),
        F.col("kept"),
        F.col("similarity"),
    )
    clusters = (
        found.join(ix.select(IDX, "_path", "_record", "_id"), IDX)
        .groupBy("label")
        .agg(F.array_sort(F.collect_list(member)).alias("members"), F.count(F.lit(1)).alias("size"))
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    n_clusters, n_members = clusters.agg(F.count(F.lit(1)), F.sum("size")).first() or (0, 0)
    out: list[dict[str, Any]] = []
    html: dict[str, Any] = {}
    if _arg(args, "format", "text") == "html":
        html = _html_clusters(ix, found, stats["documents"])
    else:
        records = clusters.orderBy("label").select("members").mapInArrow(_cluster_records, _CLUSTER)
        out, _ = _deliver(records, _arg(args, "spark_output"))
    clusters.unpersist()
    found.unpersist()
    ix.unpersist()
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
    return {
        "clusters": out,
        "summary": summary,
        "problems": problems,
        "records_read": inputs["records_read"],
        **html,
    }


def _html_clusters(ix: DataFrame, found: DataFrame, n_docs: int) -> dict[str, Any]:
    """For the HTML report of ``docs``: the clusters as lists of ranks in document order (ordered
    by first member, as locally), the kept rank of each, and the clustered documents' texts
    (:class:`ShownTexts`), collected one partition at a time. Memory follows what was found."""
    ranked = found.join(ix.select(IDX, rank_column(ix).alias("_rank")), IDX)
    rows = (
        ranked.groupBy("label")
        .agg(
            F.array_sort(F.collect_list("_rank")).alias("members"),
            F.min(F.when(F.col("kept"), F.col("_rank"))).alias("kept"),
        )
        .orderBy(F.element_at("members", 1))
        .toLocalIterator()
    )
    clusters, kept = [], []
    for r in rows:
        clusters.append([int(m) for m in r["members"]])
        kept.append(int(r["kept"]))
    shown = _shown_documents(ix, found.select(F.col(IDX).alias("ri"), F.col(IDX).alias("oi")))
    return {"ranked_clusters": clusters, "kept": kept, "texts": ShownTexts(n_docs, shown)}


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
                keys["excerpt"].append(excerpt(_unescaped(doc["_text"]), m[lo], m[hi]) if side == "repeat" else None)
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
    "excerpts": [...], "summary": {...}, "problems": [...], "records_read"}`` where a span is
    ``{"path", "start_line", "end_line", "start", "end"}``
    (:func:`dedup.report.span_record`), plus ``"record"`` and ``"id"`` when
    documents are JSONL lines or Parquet rows. Span records and excerpts are
    made on the executors, one document per task; the driver only collects
    the records (or, with ``spark_output``, nothing: the executors write
    them as JSONL part files there). With ``format="html"``, ``matches`` is
    empty and the result also holds ``found`` (:class:`dedup.passages.Match`
    objects with documents by rank, in the local order) and ``texts`` (a
    :class:`ShownTexts` with the documents on either side of a match), which
    the local HTML page is built from.
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
    out: list[dict[str, Any]] = []
    excerpts: list = []
    html: dict[str, Any] = {}
    if _arg(args, "format", "text") == "html":
        html = {
            "found": _ranked_matches(ix, matches),
            "texts": ShownTexts(stats["documents"], _shown_documents(ix, matches)),
        }
    else:
        out, excerpts = _deliver(records, _arg(args, "spark_output"), "excerpt")
    matches.unpersist()
    ix.unpersist()
    docs.unpersist()
    summary = _summary(inputs, stats["documents"], spark, start, matches=n_matches)
    if _arg(args, "spark_output") is not None:
        summary["output"] = _arg(args, "spark_output")
    return {
        "matches": out,
        "excerpts": excerpts,
        "summary": summary,
        "problems": problems,
        "records_read": inputs["records_read"],
        **html,
    }


def _ranked_matches(ix: DataFrame, matches: DataFrame) -> list[Match]:
    """The matches as :class:`dedup.passages.Match` with documents by rank in document order and
    in the local order (for the HTML report), collected one partition at a time."""
    ranks = ix.select(F.col(IDX), rank_column(ix).alias("_rank"))
    ranked = (
        matches.join(ranks.select(F.col(IDX).alias("ri"), F.col("_rank").alias("r_rank")), "ri")
        .join(ranks.select(F.col(IDX).alias("oi"), F.col("_rank").alias("o_rank")), "oi")
        .orderBy("r_rank", "r_start")
    )
    return [
        Match(Span(r["o_rank"], r["o_start"], r["o_end"]), Span(r["r_rank"], r["r_start"], r["r_end"]), r["similarity"])
        for r in ranked.toLocalIterator()
    ]


# --------------------------------------------------------------------------- clean


def _side_spans_fn(batches_key: str = "rid"):
    """Spans ``(rid, doc, start, end)`` of one document + its text row -> ``(rid, span)``: the span
    record (:func:`dedup.report.span_record`, plus ``record`` and ``id`` for records) as JSON."""
    from ..report import LineIndex, span_record

    def fn(spans: pa.Table, docs: pa.Table) -> pa.Table:
        out: dict[str, list] = {batches_key: [], "span": []}
        if spans.num_rows and docs.num_rows:
            doc = docs.to_pylist()[0]
            index = LineIndex(doc["_text"])
            for s in spans.select([batches_key, "start", "end"]).to_pylist():
                rec = span_record(doc["_path"], index, s["start"], s["end"])
                if doc["_record"] is not None:
                    rec.update(record=doc["_record"], id=json.loads(doc["_id"]))
                out[batches_key].append(s[batches_key])
                out["span"].append(json.dumps(rec, ensure_ascii=False))
        return pa.table(out, schema=pa.schema([(batches_key, pa.int64()), ("span", pa.string())]))

    return fn


def _manifest_fn(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``(kind, r_span, output, o_span, similarity)`` -> manifest lines (:func:`dedup.report.manifest_record`)."""
    from ..report import manifest_record

    for batch in batches:
        lines = [
            json.dumps(
                manifest_record(
                    {
                        "kind": kind,
                        **json.loads(r_span),
                        "output": output,
                        "original": json.loads(o_span),
                        "similarity": sim,
                    }
                ),
                ensure_ascii=False,
            )
            for kind, r_span, output, o_span, sim in zip(
                *(batch.column(c).to_pylist() for c in ("kind", "r_span", "output", "o_span", "similarity"))
            )
        ]
        yield pa.RecordBatch.from_arrays([pa.array(lines, pa.string())], names=["json"])


_WRITTEN = pa.schema(
    [
        ("_file", pa.int64()),
        ("_order", pa.int64()),
        ("json", pa.string()),
        ("records_in", pa.int64()),
        ("records_out", pa.int64()),
        ("bytes_out", pa.int64()),
        ("written", pa.bool_()),
        ("error", pa.string()),
    ]
)


def _write_fn(
    files: dict[int, tuple[str, str, str, str, str | None, str]], text_field: str, encoding: str, errors: str
):
    """One input file's changes -> its cleaned copy, written by this executor with
    :func:`dedup.formats.write_like` (same format, compression and layout as the local ``clean``),
    then a row of counts and the ``removed.jsonl`` records of its dropped records."""
    from ..formats import Format, InputError, Source, write_like
    from ..report import member_record

    def fn(table: pa.Table) -> pa.Table:
        rows = table.to_pylist()
        number = rows[0]["_file"]
        # path: as named (reports); source and target: absolute, since an executor runs in its own directory
        path, source, rel, kind, compression, target = files[number]
        changes: dict[int | None, str | None] = {}
        dropped: dict[int | None, dict] = {}
        codec = None
        for r in rows:
            if r["kind"] == "file":
                codec = r["_codec"]
            elif r["kind"] == "dropped":
                changes[r["_record"]] = None
                dropped[r["_record"]] = r
            else:  # Parquet strings are read as they are; decoded texts carry their surrogates escaped
                changes[r["_record"]] = r["new"] if kind == "parquet" else _unescaped(r["new"])
        out: dict[str, list] = {name: [] for name in _WRITTEN.names}

        def row(order: int, text: str | None, counts: tuple, written: bool, error: str | None) -> None:
            for name, value in zip(_WRITTEN.names, (number, order, text, *counts, written, error)):
                out[name].append(value)

        try:
            w = write_like(
                Source(source, rel),
                Format(kind, compression),
                Path(target),
                changes,
                text_field=text_field,
                encoding=codec or encoding,
                errors=errors,
            )
        except InputError as e:
            row(-1, None, (0, 0, 0), False, str(e))
            return pa.table(out, schema=_WRITTEN)
        except UnicodeEncodeError as e:
            row(-1, None, (0, 0, 0), False, f"{path}: cannot write as {codec or encoding} ({e.reason})")
            return pa.table(out, schema=_WRITTEN)
        except OSError as e:
            row(-1, None, (0, 0, 0), False, f"{target}: cannot write: {e.strerror or e}")
            return pa.table(out, schema=_WRITTEN)
        row(-1, None, (w.records_in, w.records_out, w.bytes_out), bool(w.records_out or kind != "text"), None)
        for record, data in w.dropped:
            r = dropped[record]
            rec = {
                **member_record(path, record, json.loads(r["_id"])),
                "duplicate_of": member_record(r["k_path"], r["k_record"], json.loads(r["k_id"])),
                "similarity": r["similarity"],
            }
            if record is not None:
                rec["data"] = data
            # A dropped record's data may hold undecodable bytes (lone surrogates): carried, see _SURROGATES.
            row(record or 0, _carried(json.dumps(rec, ensure_ascii=False, default=str)), (0, 0, 0), False, None)
        return pa.table(out, schema=_WRITTEN)

    return fn


def _lines_to_temp(path: Path, lines: Iterator[str]) -> Path:
    """Write ``lines`` (one JSON text each) to a temporary file beside ``path``, streamed (one
    partition at a time reaches the driver); the caller renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.spark.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", errors="backslashreplace") as f:
            for line in lines:
                f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


class ShownTexts(Sequence):
    """The texts of the documents in document order, of which only those a report shows are held.

    ``len()`` is the number of documents; ``texts[k]`` is the text of the
    document of rank ``k`` when it is shown, the empty string otherwise;
    ``documents`` maps each shown rank to its :class:`dedup.formats.Document`
    (path, text, record, id). Memory grows with what is shown, not with the input.
    """

    def __init__(self, n: int, documents: Mapping[int, Document]) -> None:
        self._n, self.documents = n, dict(documents)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: Any) -> str:
        if not isinstance(k, int) or not 0 <= k < self._n:
            raise IndexError(k)
        d = self.documents.get(k)
        return d.text if d is not None else ""


def _shown_documents(ix: DataFrame, removals: DataFrame) -> dict[int, Document]:
    """The documents on either side of a removal, by rank in document order, collected one
    partition at a time (the HTML report of ``clean`` shows them)."""
    sides = removals.select(F.col("ri").alias(IDX)).unionByName(removals.select(F.col("oi").alias(IDX))).distinct()
    ranked = ix.select(IDX, rank_column(ix).alias("_rank"), "_path", "_record", "_id", F.col(TEXT).alias("_text"))
    shown = {}
    for r in ranked.join(sides, IDX, "left_semi").toLocalIterator():
        doc_id = json.loads(r["_id"]) if r["_id"] is not None else None
        shown[int(r["_rank"])] = Document(r["_path"], _unescaped(r["_text"] or ""), r["_record"], doc_id)
    return shown


def cli_clean(args: Any) -> dict[str, Any]:
    """``dedup clean --engine spark``: the cleaned dataset written by the executors.

    ``args`` as for :func:`cli_docs` and :func:`cli_passages`, plus
    ``output`` (the directory), ``manifest`` (default ``OUTPUT/manifest.jsonl``),
    ``docs``, ``doc_threshold``, ``passage_threshold`` and ``min_words``.
    Every input file gets its cleaned copy at ``OUTPUT/<name>``, in its own
    format and compression, written by an executor with
    :func:`dedup.formats.write_like` (so it must be a local path there: a
    shared file system on a cluster); with ``docs``, ``OUTPUT/removed.jsonl``
    gets the dropped records. The decisions are :func:`dedup.spark.clean.clean_indexed`'s,
    the same as the local ``clean``'s. The manifest lines are streamed to a
    temporary file beside the manifest (one partition at a time on the
    driver); the caller renames it into place last (``manifest_tmp``).

    Returns ``{"summary", "problems", "manifest_tmp", "records_in",
    "records_out", "bytes_out", "chars_removed", "inputs", "documents",
    "seconds", "records_read", "texts"}``; ``texts`` (a :class:`ShownTexts`)
    holds, with ``format="html"``, the documents on either side of a removal
    (the only texts that reach the driver, for the HTML report). Raises
    ``ValueError`` with a one-line message for what it cannot do (URLs, a
    cleaned copy that would overwrite an input). As locally, ``errors``
    other than ``strict`` read undecodable bytes with ``surrogateescape``,
    so that they are written back as they were.
    """
    from .clean import clean_indexed

    start = time.perf_counter()
    seconds: dict[str, float] = {}
    out = Path(str(_arg(args, "output")))
    manifest = Path(str(_arg(args, "manifest"))) if _arg(args, "manifest") else out / "manifest.jsonl"
    errors = _arg(args, "errors", "strict")
    if errors != "strict":
        # As locally: undecodable bytes are read so that they are written back as they were
        # (replace, ignore, backslashreplace would change bytes outside what clean removes).
        errors = "surrogateescape"
    spark = cli_session(args)
    files, messages = _input_files(spark, args)
    for f in files:
        if _is_url(f.path):
            raise ValueError(f"{f.path}: clean --engine spark reads and writes local or shared paths only")
    docs, problems, inputs = _read_cli_documents(spark, args, files, errors)
    problems = messages + problems
    readable = [f for f in files if f.number not in inputs["unread"]]
    targets = {f.number: out / f.rel for f in readable}
    real_inputs = {os.path.realpath(f.path): f.path for f in files}
    owner: dict[str, str] = {os.path.realpath(manifest): "the manifest"}
    if os.path.realpath(manifest) in real_inputs:
        raise ValueError(
            f"{manifest}: the manifest would overwrite the input {real_inputs[os.path.realpath(manifest)]}"
        )
    for f in readable:
        real = os.path.realpath(targets[f.number])
        if real in real_inputs:
            raise ValueError(f"{targets[f.number]}: writing here would overwrite the input {real_inputs[real]}")
        if real in owner:
            raise ValueError(f"{targets[f.number]}: both {owner[real]} and {f.path} would be written here")
        owner[real] = f.path
    seconds["read"] = time.perf_counter() - start

    good = docs.where(F.col("_error").isNull())
    ix = indexed(good, "_id", "_text", ["_file", "_record"])
    stats: dict = {"documents": ix.count()}
    threshold = float(_arg(args, "threshold", 0.8))
    parts = clean_indexed(
        ix,
        "_id",
        docs=bool(_arg(args, "docs", False)),
        doc_threshold=float(_arg(args, "doc_threshold", threshold)),
        passage_threshold=float(_arg(args, "passage_threshold", threshold)),
        min_words=int(_arg(args, "min_words", DEFAULT_MIN_WORDS)),
        ngram=int(_arg(args, "ngram", DEFAULT_NGRAM)),
        num_perm=int(_arg(args, "num_perm", 128)),
        keep=_arg(args, "keep", "first"),
        stats=stats,
    )
    for name in ("documents", "passages", "plan"):
        seconds[name] = stats.get("seconds", {}).get(name, 0.0)

    # The manifest: span records of both sides made per document with its text, in document order.
    info = ix.select(IDX, "_file", "_path", "_record", "_id", F.col(TEXT).alias("_text"))
    removals = parts.removals.withColumn("rid", F.monotonically_increasing_id()).persist(StorageLevel.MEMORY_AND_DISK)
    n_removals, n_dropped, chars = removals.agg(
        F.count(F.lit(1)),
        F.count(F.when(F.col("kind") == "document", 1)),
        F.sum(F.when(F.col("kind") == "passage", F.col("end") - F.col("start"))),
    ).first() or (0, 0, 0)
    sides = []
    for doc, lo, hi in (("ri", "start", "end"), ("oi", "o_start", "o_end")):
        spans = removals.select("rid", F.col(doc).alias(IDX), F.col(lo).alias("start"), F.col(hi).alias("end"))
        holders = info.join(spans.select(IDX).distinct(), IDX, "left_semi")
        sides.append(
            spans.groupBy(IDX).cogroup(holders.groupBy(IDX)).applyInArrow(_side_spans_fn(), "rid long, span string")
        )
    target_of = F.create_map(*[x for n, t in targets.items() for x in (F.lit(n), F.lit(str(t)))])
    outputs = ix.select(F.col(IDX).alias("ri"), F.col("_file"))
    lines = (
        removals.join(sides[0].withColumnRenamed("span", "r_span"), "rid")
        .join(sides[1].withColumnRenamed("span", "o_span"), "rid")
        .join(outputs, "ri")
        .withColumn("output", F.when(F.col("kind") == "passage", target_of[F.col("_file")]).otherwise(F.lit(None)))
        .orderBy("ri", F.col("kind") != "document", "start")
        .select("kind", "r_span", "output", "o_span", "similarity")
        .mapInArrow(_manifest_fn, "json string")
    )

    # The cleaned copies: one task per input file, with that file's changes.
    t = time.perf_counter()
    for old in (out / "removed.jsonl", out / "stats.json", manifest):  # the manifest last
        try:
            old.unlink(missing_ok=True)
        except OSError as e:
            raise ValueError(f"{old}: cannot remove the previous run's file: {e.strerror or e}") from None
    member = ix.select(IDX, "_file", "_record", "_id", "_path", "_codec", F.col(TEXT).alias("_text"))
    kept_info = member.select(
        F.col(IDX).alias("kept_idx"),
        F.col("_path").alias("k_path"),
        F.col("_record").alias("k_record"),
        F.col("_id").alias("k_id"),
    )
    change_cols = ["_file", "kind", "_record", "_id", "_codec", "new", "similarity", "k_path", "k_record", "k_id"]
    dropped = (
        parts.dropped.join(member, IDX)
        .join(kept_info, "kept_idx")
        .select(
            "_file",
            F.lit("dropped").alias("kind"),
            "_record",
            "_id",
            F.lit(None).cast("string").alias("_codec"),
            F.lit(None).cast("string").alias("new"),
            "similarity",
            "k_path",
            "k_record",
            "k_id",
        )
    )
    changed = (
        parts.cleaned.join(member, IDX)
        .where(F.col("cleaned") != F.col("_text"))
        .select(
            "_file",
            F.lit("changed").alias("kind"),
            "_record",
            "_id",
            F.lit(None).cast("string").alias("_codec"),
            F.col("cleaned").alias("new"),
            F.lit(None).cast("double").alias("similarity"),
            F.lit(None).cast("string").alias("k_path"),
            F.lit(None).cast("long").alias("k_record"),
            F.lit(None).cast("string").alias("k_id"),
        )
    )
    codecs = member.where(F.col("_record").isNull()).select("_file", "_codec")
    marks = (
        spark.createDataFrame([(f.number,) for f in readable], "_file long")
        .join(codecs, "_file", "left")
        .select(
            "_file",
            F.lit("file").alias("kind"),
            F.lit(None).cast("long").alias("_record"),
            F.lit(None).cast("string").alias("_id"),
            "_codec",
            F.lit(None).cast("string").alias("new"),
            F.lit(None).cast("double").alias("similarity"),
            F.lit(None).cast("string").alias("k_path"),
            F.lit(None).cast("long").alias("k_record"),
            F.lit(None).cast("string").alias("k_id"),
        )
    )
    plan = {
        f.number: (
            f.path,
            os.path.abspath(f.path),
            f.rel,
            f.fmt.kind,
            f.fmt.compression,
            os.path.abspath(targets[f.number]),
        )
        for f in readable
    }
    text_field = _arg(args, "text_field", "text")
    written = (
        marks.select(*change_cols)
        .unionByName(dropped.select(*change_cols))
        .unionByName(changed.select(*change_cols))
        .repartition(max(1, min(len(readable), 10_000)), "_file")
        .groupBy("_file")
        .applyInArrow(
            _write_fn(plan, text_field, _arg(args, "encoding", "utf-8"), errors),
            "_file long, _order long, json string, records_in long, records_out long, bytes_out long, "
            "written boolean, error string",
        )
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    counts = written.where(F.col("_order") == -1)
    failed = counts.where(F.col("error").isNotNull()).select("error").limit(1).collect()
    if failed:
        raise ValueError(failed[0][0])
    totals = counts.agg(
        F.sum("records_in"), F.sum("records_out"), F.sum("bytes_out"), F.count(F.when(F.col("written"), 1))
    ).first()
    records_in, records_out, bytes_out, n_written = (int(v or 0) for v in (totals or (0, 0, 0, 0)))
    if _arg(args, "docs", False):
        removed = written.where(F.col("_order") >= 0).orderBy("_file", "_order").select("json")
        tmp = _lines_to_temp(out / "removed.jsonl", (_unescaped(r[0]) for r in removed.toLocalIterator()))
        os.replace(tmp, out / "removed.jsonl")
    seconds["write"] = time.perf_counter() - t
    manifest_tmp = _lines_to_temp(manifest, (r[0] for r in lines.toLocalIterator()))
    shown = _shown_documents(ix, removals) if _arg(args, "format", "text") == "html" else {}
    written.unpersist()
    removals.unpersist()
    parts.unpersist()
    ix.unpersist()
    docs.unpersist()
    seconds["total"] = time.perf_counter() - start
    n_removals, n_dropped = int(n_removals or 0), int(n_dropped or 0)
    summary = _summary(
        inputs,
        stats["documents"],
        spark,
        start,
        removals=n_removals,
        documents_dropped=n_dropped,
        passages_removed=n_removals - n_dropped,
        written=n_written,
    )
    return {
        "summary": summary,
        "problems": problems,
        "manifest_tmp": str(manifest_tmp),
        "records_in": records_in,
        "records_out": records_out,
        "bytes_out": bytes_out,
        "chars_removed": int(chars or 0),
        "inputs": [f.path for f in readable],
        "documents": stats["documents"],
        "seconds": seconds,
        "records_read": inputs["records_read"],
        "texts": ShownTexts(stats["documents"], shown),
    }
