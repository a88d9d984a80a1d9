"""The ``dedup`` command: argument parsing, reading inputs and printing results only.

Every decision about what is a duplicate is made by the library
(:func:`dedup.find_repeated_passages`, :func:`dedup.find_duplicate_pairs`,
:func:`dedup.clusters_from_pairs`, :func:`dedup.choose_kept`,
:func:`dedup.passages.plan_removals`, :func:`dedup.passages.apply_removals`);
this module turns files into texts (:mod:`dedup.formats`) and results into reports
(:mod:`dedup.report`). See ``docs/cli.md`` for usage and the output schemas.

Exit status: 0 ok, 1 duplicates found with ``--exit-code``, 2 usage errors,
bad input with ``--strict``, nothing readable, or any other error;
130 when interrupted.
"""

from __future__ import annotations

import argparse
import array
import codecs
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from . import __version__, backend, htmlreport, internal, outputs, report
from . import formats as dio
from .formats import STDIN, Corpus, Document, InputError

__all__ = ["build_parser", "main"]

PROG = "dedup"

EXAMPLES = """\
examples:
  dedup passages seeds/                        repeated passages in the files of a directory
  dedup passages a.txt b.txt --format json     the same as JSON (schema: docs/cli.md)
  cat page.txt | dedup passages -              read standard input
  dedup docs corpus/ --recursive --glob '*.txt'
                                               near-duplicate files under a directory tree
  dedup docs data.jsonl --jsonl --text-field content --id-field url
  dedup docs shards/ --parquet --keep longest --format csv
  dedup clean seeds/ -o cleaned/               cleaned copies + cleaned/manifest.jsonl
  dedup clean corpus/ -o out/ --docs --force   also drop duplicate documents
  dedup clean shards/ -o out/ --docs           JSONL/Parquet shards (.gz, .zst too) in, same format out
  dedup passages corpus/ --exit-code --quiet   exit 1 when anything repeats (CI)
  dedup synth --size 10MB --seed 1 synthetic/  write a synthetic dump with known duplicates

exit status: 0 ok, 1 duplicates found (with --exit-code), 2 error (usage,
--strict, nothing readable), 130 interrupted.
"""


class CliError(Exception):
    """A one-line error: printed as ``dedup: error: <message>``, exit status 2."""


# ---------------------------------------------------------------- messages


def _say(kind: str, message: str) -> None:
    print(f"{PROG}: {kind}{message}", file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    _say("warning: ", message)


def _error(message: str) -> None:
    _say("error: ", message)


def _plural(n: int, word: str) -> str:
    """``1 match``, ``2 matches``.

    >>> _plural(1, "match"), _plural(2, "match"), _plural(0, "file")
    ('1 match', '2 matches', '0 files')
    """
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}{'es' if word.endswith(('ch', 's')) else 's'}"


# ---------------------------------------------------------------- argument types


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _spill_dir(text: str) -> str:
    """A work directory for spilled seeds: an existing directory, or one that can be made."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"not a directory: {text!r}")
    if not path.exists() and not path.parent.resolve().is_dir():
        raise argparse.ArgumentTypeError(f"parent directory does not exist: {text!r}")
    return text


def _int_at_least(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _jobs(text: str) -> int:
    value = _int_at_least(0)(text)
    if value == 0:  # 0 = every usable core
        from .documents import default_jobs

        return default_jobs()
    return value


def _encoding(text: str) -> str:
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding: {text!r}") from None


def _errors(text: str) -> str:
    try:
        codecs.lookup_error(text)
    except LookupError:
        raise argparse.ArgumentTypeError(
            f"unknown error handler: {text!r} (strict, replace, ignore, surrogateescape, backslashreplace)"
        ) from None
    return text


def parse_size(text: str) -> int:
    """Bytes in a size such as ``100MB`` (decimal units), ``64MiB`` (binary) or ``12345``.

    The argparse face of :func:`dedup.internal.parse_size` (same rule everywhere).

    Parameters
    ----------
    text : str
        The command-line value.

    Returns
    -------
    int
        The size in bytes.

    Raises
    ------
    argparse.ArgumentTypeError
        When ``text`` is not a size (argparse turns it into a usage error).

    >>> parse_size("100MB"), parse_size("1.5k"), parse_size("2MiB"), parse_size("512")
    (100000000, 1500, 2097152, 512)
    """
    try:
        return internal.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# ---------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``dedup: error: ...`` for usage errors (exit 2).

    Descriptions are wrapped here, because the raw formatter that keeps the
    examples in the epilog aligned would leave them as one long line.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("description"):
            kwargs["description"] = textwrap.fill(kwargs["description"], width=79)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _parents() -> dict[str, _Parser]:
    """Option groups shared by several commands, as argparse parent parsers."""
    inputs = _Parser(add_help=False)
    g = inputs.add_argument_group("input")
    g.add_argument("paths", nargs="+", metavar="PATH", help="files, directories, or - for standard input")
    g.add_argument("-r", "--recursive", action="store_true", help="also read the sub-directories of directories")
    g.add_argument(
        "--glob",
        metavar="PATTERN",
        help="files of directories to read (default: * for text, *.jsonl with --jsonl, *.parquet with --parquet)",
    )
    g.add_argument("--encoding", type=_encoding, default="utf-8", help="text encoding of the inputs (default: utf-8)")
    g.add_argument(
        "--errors",
        type=_errors,
        default="strict",
        help="what to do with undecodable bytes, as in Python: strict (skip the file), replace, ignore, "
        "surrogateescape (keeps them byte for byte in clean output) (default: strict)",
    )
    g.add_argument("--strict", action="store_true", help="stop with exit status 2 at the first bad file or record")

    output = _Parser(add_help=False)
    g = output.add_argument_group("output")
    g.add_argument(
        "-f",
        "--format",
        choices=(*report.FORMATS, "html"),
        default="text",
        help="report format; html is one self-contained page to check matches by eye (default: text)",
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    g.add_argument("--exit-code", action="store_true", help="exit with status 1 when duplicates were found")

    common = _Parser(add_help=False)
    g = common.add_argument_group("matching")
    g.add_argument("-t", "--threshold", type=_fraction, default=0.8, help="least similarity, in (0, 1] (default: 0.8)")
    g.add_argument("--ngram", type=_int_at_least(1), default=5, help="words per shingle (default: 5)")
    g.add_argument("-j", "--jobs", type=_jobs, default=1, help="worker processes, 0 = all cores (default: 1)")

    passages = _Parser(add_help=False)
    g = passages.add_argument_group("passages")
    g.add_argument(
        "--min-words", type=_int_at_least(1), default=20, help="shortest passage reported, in words (default: 20)"
    )
    g.add_argument(
        "--spill",
        metavar="DIR",
        type=_spill_dir,
        default=None,
        help="keep the seeds in sorted files in DIR instead of memory (same results; default: only when "
        "the input would take more than half the available memory, in a temporary directory)",
    )

    docs = _Parser(add_help=False)
    g = docs.add_argument_group("documents")
    g.add_argument("--num-perm", type=_int_at_least(2), default=128, help="MinHash permutations (default: 128)")
    g.add_argument(
        "--keep",
        choices=("first", "longest"),
        default="first",
        help="which member of a cluster is kept: the first (in input order) or the longest (default: first)",
    )

    # explain and calibrate look at the MinHash/LSH stage itself, so they take its whole shape.
    banding = _Parser(add_help=False)
    g = banding.add_argument_group("MinHash and LSH")
    g.add_argument("-t", "--threshold", type=_fraction, default=0.8, help="least similarity, in (0, 1] (default: 0.8)")
    g.add_argument("--ngram", type=_int_at_least(1), default=5, help="words per shingle (default: 5)")
    g.add_argument("--num-perm", type=_int_at_least(2), default=128, help="MinHash permutations (default: 128)")
    g.add_argument("--bands", type=_int_at_least(1), help="LSH bands (default: those of dedup docs)")
    g.add_argument("--rows", type=_int_at_least(1), help="LSH rows per band (with --bands)")

    records = _Parser(add_help=False)
    g = records.add_argument_group("records")
    kind = g.add_mutually_exclusive_group()
    kind.add_argument(
        "--input-format",
        choices=("auto", *dio.KINDS),
        default="auto",
        help="how files are read: auto (default) goes by the name: *.jsonl, *.ndjson, *.json are JSON Lines "
        "(a document per line), *.parquet is Parquet (a document per row), anything else is one text; "
        ".gz, .zst, .bz2, .xz are decompressed whatever the format",
    )
    kind.add_argument("--jsonl", action="store_true", help="same as --input-format jsonl")
    kind.add_argument("--parquet", action="store_true", help="same as --input-format parquet (pyarrow)")
    g.add_argument("--text-field", default="text", metavar="NAME", help="field holding the text (default: text)")
    g.add_argument("--id-field", metavar="NAME", help="field identifying a record in the report")

    engine = _Parser(add_help=False)
    g = engine.add_argument_group("engine")
    g.add_argument("--engine", choices=("local", "spark"), default="local", help="run here, or on Spark (spark extra)")
    g.add_argument("--spark-master", metavar="URL", help="Spark master with --engine spark (default: local[*])")
    g.add_argument(
        "--spark-conf",
        action="append",
        metavar="KEY=VALUE",
        help="a Spark setting, e.g. spark.executor.memory=8g (repeatable; applied last)",
    )
    g.add_argument(
        "--spark-partitions",
        type=_int_at_least(1),
        metavar="N",
        help="shuffle partitions (spark.sql.shuffle.partitions; default 4 for local masters, Spark's otherwise)",
    )
    g.add_argument(
        "--spark-driver-memory", metavar="SIZE", help="spark.driver.memory, e.g. 2g (for a driver started here)"
    )
    g.add_argument(
        "--spark-output",
        metavar="DIR",
        help="with --engine spark: the executors write the report's records as JSONL part files to DIR "
        "(must not exist) instead of sending them here; only the summary is printed",
    )
    return {
        "inputs": inputs,
        "output": output,
        "common": common,
        "passages": passages,
        "docs": docs,
        "records": records,
        "banding": banding,
        "engine": engine,
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``dedup`` command (every sub-command and option)."""
    parser = _Parser(
        prog=PROG,
        description="Find and remove near-duplicate documents and repeated passages in text dumps.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = _parents()
    raw = argparse.RawDescriptionHelpFormatter

    cmd = sub.add_parser(
        "passages",
        parents=[p["inputs"], p["output"], p["common"], p["passages"], p["records"], p["engine"]],
        help="repeated passages inside and across files",
        description="Report passages that repeat, exactly or nearly, inside a file or across files: "
        "path:lines of the repeat and of its original, similarity, and an excerpt. "
        "With --jsonl / --parquet each record is a document.",
        epilog="examples:\n  dedup passages seeds/\n"
        "  dedup passages dump/ -r --glob '*.txt' --format json > matches.json\n"
        "  dedup passages page.txt --min-words 10 --threshold 0.9\n",
        formatter_class=raw,
    )
    cmd.set_defaults(func=cmd_passages)

    cmd = sub.add_parser(
        "docs",
        parents=[p["inputs"], p["output"], p["common"], p["docs"], p["records"], p["engine"]],
        help="near-duplicate documents (files, JSONL lines or Parquet rows)",
        description="Report clusters of near-duplicate documents and which member of each is kept. "
        "Each file is a document; with --jsonl each JSON line, with --parquet each row.",
        epilog="examples:\n  dedup docs corpus/ -r\n  dedup docs data.jsonl --jsonl --id-field url --format jsonl\n"
        "  dedup docs shards/ --parquet --text-field content --keep longest\n",
        formatter_class=raw,
    )
    cmd.add_argument(
        "--containment",
        action="store_true",
        help="find documents contained in others instead: --threshold is then the share of the shorter "
        "one's shingles found in the longer one; the longest member is kept (docs/containment.md)",
    )
    cmd.set_defaults(func=cmd_docs)

    cmd = sub.add_parser(
        "clean",
        parents=[p["inputs"], p["output"], p["common"], p["passages"], p["docs"], p["records"], p["engine"]],
        help="write cleaned copies and a manifest of every removal",
        description="Write a copy of every input with repeated passages removed (the first occurrence "
        "stays), and with --docs without duplicate documents, plus a JSONL manifest of every removal. "
        "Inputs are never modified; every file is written atomically.",
        epilog="examples:\n  dedup clean seeds/ -o cleaned/\n  dedup clean corpus/ -r -o out/ --docs --keep longest\n"
        "  dedup clean page.txt -o out/ --force --manifest removed.jsonl\n"
        "  dedup clean shards/ -o out/ --docs --id-field url     (*.jsonl.zst, *.parquet: same format out)\n"
        "  dedup clean dump.jsonl.gz -o out/ --docs --work-dir W   (larger than memory: streamed, resumable)\n"
        "  zcat page.txt.gz | dedup clean - -o - --manifest m.jsonl > page.clean.txt\n",
        formatter_class=raw,
    )
    cmd.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="directory for the cleaned copies (- : standard output)"
    )
    cmd.add_argument(
        "--docs", action="store_true", help="also drop near-duplicate documents (files, JSONL lines, Parquet rows)"
    )
    cmd.add_argument(
        "--doc-threshold", type=_fraction, metavar="T", help="least similarity of duplicate documents (default: -t)"
    )
    cmd.add_argument(
        "--passage-threshold", type=_fraction, metavar="T", help="least similarity of repeated passages (default: -t)"
    )
    cmd.add_argument("--manifest", metavar="FILE", help="where to write the manifest (default: OUT/manifest.jsonl)")
    cmd.add_argument("--force", action="store_true", help="overwrite existing output files")
    cmd.set_defaults(func=cmd_clean)

    cmd = sub.add_parser(
        "synth",
        help="write a synthetic dump with known duplicates (for tests and benchmarks)",
        description="Write a synthetic text dump with planted duplicate documents and passages.",
        epilog="examples:\n  dedup synth synthetic/\n  dedup synth --size 1GB --seed 7 big/\n",
        formatter_class=raw,
    )
    cmd.add_argument("out_dir", metavar="OUT_DIR", help="directory to write (must be new or empty)")
    cmd.add_argument("--size", type=parse_size, default=parse_size("100MB"), help="total size (default: 100MB)")
    cmd.add_argument("--seed", type=int, help="random seed; the same seed writes the same dump")
    cmd.add_argument("--force", action="store_true", help="write into a non-empty OUT_DIR")
    cmd.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    cmd.set_defaults(func=cmd_synth)

    cmd = sub.add_parser(
        "explain",
        parents=[p["records"], p["banding"]],
        help="why two documents are (or are not) near-duplicates",
        description="Show every number the pipelines compute for one pair of documents: exact Jaccard, "
        "the MinHash estimate, containment both ways, shared and differing shingles, which LSH bands "
        "collided, and the passages they share aligned word by word. A and B are files, or records "
        "of a dataset as PATH#N (N-th record, 1-based; with --id-field: the record whose id is N).",
        epilog="examples:\n  dedup explain a.txt b.txt\n  dedup explain data.jsonl#3 data.jsonl#17 --jsonl\n"
        "  dedup explain data.jsonl#url1 data.jsonl#url2 --jsonl --id-field url --format json\n",
        formatter_class=raw,
    )
    cmd.add_argument("a", metavar="A", help="first document: a file, or PATH#N for a record")
    cmd.add_argument("b", metavar="B", help="second document")
    cmd.add_argument("-f", "--format", choices=("text", "json"), default="text", help="report format (default: text)")
    cmd.add_argument(
        "--min-words", type=_int_at_least(1), default=20, help="shortest shared passage shown (default: 20)"
    )
    cmd.add_argument("--encoding", type=_encoding, default="utf-8", help="text encoding (default: utf-8)")
    cmd.add_argument("--errors", type=_errors, default="strict", help="undecodable bytes, as in Python")
    cmd.set_defaults(func=cmd_explain)

    cmd = sub.add_parser(
        "calibrate",
        parents=[p["inputs"], p["records"], p["banding"]],
        help="measured recall and precision of a threshold and LSH banding on your corpus",
        description="Sample pairs of documents across the whole similarity range, compute their exact "
        "Jaccard similarity, and report the candidate recall and precision of the threshold and "
        "bands/rows with 95% confidence intervals, the measured S-curve against the theoretical one, "
        "and (with --target-recall or --target-precision) the bands/rows/num_perm that reach the target.",
        epilog="examples:\n  dedup calibrate corpus/ -r\n"
        "  dedup calibrate data.jsonl --jsonl -t 0.7 --plot s.png --plot s.svg\n"
        "  dedup calibrate corpus/ --target-recall 0.95 --format json\n",
        formatter_class=raw,
    )
    cmd.add_argument("-f", "--format", choices=("text", "json"), default="text", help="report format (default: text)")
    cmd.add_argument(
        "--per-bin", type=_int_at_least(1), default=300, help="pairs drawn per similarity bin (default: 300)"
    )
    cmd.add_argument("--seed", type=int, default=0, help="seed of the draw (default: 0)")
    target = cmd.add_mutually_exclusive_group()
    target.add_argument("--target-recall", type=_fraction, help="suggest settings reaching this candidate recall")
    target.add_argument("--target-precision", type=_fraction, help="suggest settings reaching this candidate precision")
    cmd.add_argument(
        "--plot", action="append", default=[], metavar="FILE", help="write the S-curve plot (.png, .svg; repeatable)"
    )
    cmd.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    cmd.set_defaults(func=cmd_calibrate)

    _index_parsers(sub, p)
    sub.choices["docs"].add_argument(
        "--work-dir",
        metavar="DIR",
        help="stream the input through an index kept in DIR instead of holding every text in memory; "
        "a run killed at any point and started again with the same DIR resumes where it stopped",
    )
    sub.choices["clean"].add_argument(
        "--work-dir",
        metavar="DIR",
        help="stream instead of holding every text in memory (the same output, byte for byte): texts spooled "
        "to DIR, documents through an index there, passage seeds spilled there, cleaned copies written as "
        "streams. Memory stays bounded whatever the input size; DIR needs about the input's uncompressed "
        "size, plus about 4 KB a document (the index, kept) and 20 bytes a word while passages are "
        "searched. A run killed at any point, started again with the same DIR (and --force), skips the "
        "document batches done. Not with standard input, --format html or --engine spark",
    )
    for name in ("docs", "clean"):
        sub.choices[name].add_argument(
            "--against",
            metavar="IDX",
            help="also report (docs) or drop (clean --docs) documents that duplicate one stored in the "
            "index IDX (see 'dedup index'), naming the old id",
        )
    return parser


def _index_parsers(sub: Any, p: Mapping[str, argparse.ArgumentParser]) -> None:
    """``dedup index build|add|stats``: a persistent index of documents seen (:class:`dedup.Index`)."""
    raw = argparse.RawDescriptionHelpFormatter
    cmd = sub.add_parser(
        "index",
        help="build, grow and inspect a persistent index of documents seen",
        description="A persistent index (a DuckDB file and the directory IDX.runs beside it) remembers the "
        "documents given to it, so that later "
        "data can be deduplicated against them with 'dedup docs --against IDX' or 'dedup clean --docs "
        "--against IDX'. Texts are not stored: signatures (and with --verify exact shingle sets) are.",
        epilog="examples:\n  dedup index build crawl-2024-05/ -r -o seen.idx\n"
        "  dedup index add seen.idx crawl-2024-06.jsonl --jsonl --id-field url\n"
        "  dedup index stats seen.idx\n  dedup docs crawl-2024-07/ -r --against seen.idx\n",
        formatter_class=raw,
    )
    isub = cmd.add_subparsers(dest="index_command", metavar="ACTION", parser_class=_Parser, required=True)
    report_opts = _Parser(add_help=False)
    g = report_opts.add_argument_group("output")
    g.add_argument("-f", "--format", choices=("text", "json", "jsonl"), default="text", help="report format")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no summary line")
    shape = _Parser(add_help=False)
    g = shape.add_argument_group("index parameters (fixed when the index is made)")
    g.add_argument("-t", "--threshold", type=_fraction, default=0.8, help="least similarity, in (0, 1] (default: 0.8)")
    g.add_argument("--ngram", type=_int_at_least(1), default=5, help="words per shingle (default: 5)")
    g.add_argument("--num-perm", type=_int_at_least(2), default=128, help="MinHash permutations (default: 128)")
    g.add_argument(
        "--verify",
        choices=("estimate", "exact"),
        default="estimate",
        help="check candidates on stored signatures (estimate, 512 bytes a document) or on stored shingle "
        "sets (exact, about 4 bytes a word) (default: estimate)",
    )
    inputs = [p["inputs"], p["records"], report_opts]

    b = isub.add_parser(
        "build",
        parents=[*inputs, shape],
        help="make a new index from documents",
        description="Make a new index holding the documents of PATH...; report each one that duplicates an "
        "earlier one.",
        formatter_class=raw,
    )
    b.add_argument("-o", "--output", required=True, metavar="IDX", help="the index file to create")
    b.add_argument("--force", action="store_true", help="replace an existing IDX")
    b.set_defaults(func=cmd_index_build)

    target = _Parser(add_help=False)
    target.add_argument("index", metavar="IDX", help="an index made by 'dedup index build'")
    a = isub.add_parser(
        "add",
        parents=[target, *inputs],
        help="add documents to an index",
        description="Add the documents of PATH... to the index IDX; report each one that duplicates a stored "
        "or an earlier new one. Ids (the path, path:record, or --id-field) must be new to the index.",
        formatter_class=raw,
    )
    a.set_defaults(func=cmd_index_add)

    st = isub.add_parser("stats", parents=[report_opts], help="what an index holds", formatter_class=raw)
    st.add_argument("index", metavar="IDX", help="an index made by 'dedup index build'")
    st.set_defaults(func=cmd_index_stats)


# ---------------------------------------------------------------- reading


#: With --quiet, skipped inputs warned about one by one; the rest are counted in one line at the end.
QUIET_WARNINGS = 5


def _skip(args: argparse.Namespace, problem: InputError | str) -> None:
    """A bad input: a warning (it is skipped), or with --strict the end of the run."""
    if args.strict:
        raise CliError(f"{problem} (--strict)")
    args.skip_warnings = getattr(args, "skip_warnings", 0) + 1
    if getattr(args, "quiet", False) and args.skip_warnings > QUIET_WARNINGS:
        return
    _warn(f"{problem}; skipped")


def _more_skipped(args: argparse.Namespace) -> None:
    """The count of skip warnings --quiet held back, in one line."""
    hidden = getattr(args, "skip_warnings", 0) - QUIET_WARNINGS
    if getattr(args, "quiet", False) and hidden > 0:
        _warn(f"{hidden} more inputs or records skipped (not shown with --quiet)")


def _progress(args: argparse.Namespace, total: int, desc: str, unit: str = "B") -> Any:
    """A tqdm bar on stderr, only on a terminal and without --quiet."""
    if args.quiet or not sys.stderr.isatty():
        return _NoBar()  # not even a disabled tqdm: it would start a monitor thread
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=unit == "B", desc=desc, file=sys.stderr, leave=False)


class _NoBar:
    """The progress bar when none is shown."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: float = 1) -> None:
        pass


@contextlib.contextmanager
def _working(args: argparse.Namespace, what: str) -> Iterator[None]:
    """A status line on stderr while the library works (terminal only, not with --quiet); erased after."""
    show = not args.quiet and sys.stderr.isatty()
    if show:
        sys.stderr.write(f"{PROG}: {what}...")
        sys.stderr.flush()
    try:
        yield
    finally:
        if show:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


class _PhaseBars:
    """tqdm bars for the library's ``progress(phase, done, total)`` callback: one bar per phase, in turn."""

    UNITS: ClassVar[dict[str, str]] = {
        "signatures": "doc",
        "candidates": "step",
        "verification": "pair",
        "passages": "step",
    }

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase: str | None = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if phase != self._phase:
            self.close()
            self._phase = phase
            unit = self.UNITS.get(phase, "step")
            self._bar = tqdm(total=total or None, desc=phase, unit=unit, file=sys.stderr, leave=False)
        self._bar.total = total or None
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._phase = None, None

    def __enter__(self) -> _PhaseBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def _phases(args: argparse.Namespace) -> Iterator[_PhaseBars | None]:
    """The progress callback for a library call: bars on a terminal, ``None`` under --quiet or off a terminal."""
    if args.quiet or not sys.stderr.isatty():
        yield None
        return
    with _PhaseBars() as bars:
        yield bars


def _read_options(args: argparse.Namespace) -> dict[str, Any]:
    """How the inputs' texts are read (``encoding``, ``errors``, ``text_field``, ``id_field``), as keyword
    arguments for every reader (``formats.load``, ``stream.iter_documents``, ``clean_on_disk``)."""
    return {
        "encoding": args.encoding,
        "errors": args.errors,
        "text_field": getattr(args, "text_field", "text"),
        "id_field": getattr(args, "id_field", None),
    }


def load(args: argparse.Namespace, kind: str | None = None, plain_dir: str | None = None) -> Corpus:
    """Every input named on the command line (:func:`dedup.formats.load`); bad ones are warned about and skipped.

    Raises :class:`CliError` when nothing could be read.
    """

    def problem(p: InputError) -> None:
        _skip(args, p)

    warned = getattr(args, "skip_warnings", 0)
    try:
        corpus = dio.load(
            args.paths,
            input_format=kind,
            recursive=args.recursive,
            glob=args.glob,
            **_read_options(args),
            on_problem=problem,
            # -q: a file's "N more bad records" line too is left to the count at the end.
            on_warning=(lambda message: None) if getattr(args, "quiet", False) else _warn,
            progress=lambda total: _progress(args, total, "reading"),
            plain_dir=plain_dir,
        )
    except dio.NothingRead as e:
        raise CliError(str(e)) from None
    if getattr(args, "quiet", False):
        # What dio.load did not pass to problem() (bad records beyond a few per file) joins the count.
        told = getattr(args, "skip_warnings", 0) - warned
        args.skip_warnings = getattr(args, "skip_warnings", 0) + corpus.skipped_files + corpus.skipped_records - told
    args.records_read = any(f.kind != "text" for f in corpus.formats.values())
    return corpus


def _finish(args: argparse.Namespace, summary: dict[str, Any], found: str) -> None:
    """The one-line summary on stderr (unless --quiet): files, MB, what was found, time."""
    if args.quiet:
        return
    parts = [_plural(summary.get("files", 0), "file")]
    if "bytes" in summary:
        parts.append(f"{summary['bytes'] / 1e6:.2f} MB")
    if getattr(args, "records_read", False) or getattr(args, "jsonl", False) or getattr(args, "parquet", False):
        parts.append(_plural(summary.get("documents", 0), "document"))
    parts.append(found)
    skipped = summary.get("skipped_files", 0) + summary.get("skipped_records", 0) + summary.get("skipped", 0)
    if skipped:
        parts.append(f"{skipped} skipped")
    parts.append(f"{summary.get('seconds', 0):.2f} s")
    _say("", ", ".join(parts))


class _Lines:
    """Line indexes of the documents, built only for documents that appear in a report."""

    #: Documents whose line index is kept (a streamed input re-reads the others when asked again).
    KEEP = 256

    def __init__(self, docs: Sequence[Document]) -> None:
        self.docs = docs
        self._index: dict[int, tuple[Document, report.LineIndex]] = {}

    def _get(self, doc: int) -> tuple[Document, report.LineIndex]:
        if doc not in self._index:
            if len(self._index) >= self.KEEP and not isinstance(self.docs, list):
                self._index.pop(next(iter(self._index)))  # the oldest: memory stays bounded
            d = self.docs[doc]
            self._index[doc] = (d, report.LineIndex(d.text))
        return self._index[doc]

    def text(self, doc: int) -> str:
        """The text of document ``doc``."""
        return self._get(doc)[0].text

    def span(self, doc: int, start: int, end: int) -> dict[str, Any]:
        """The span record of characters ``[start, end)`` of document ``doc``.

        Spans in JSONL lines and Parquet rows also carry ``record`` and ``id``;
        their lines and offsets are those of the record's text.
        """
        d, index = self._get(doc)
        rec = report.span_record(d.path, index, start, end)
        if d.record is not None:
            rec.update(record=d.record, id=d.id)
        return rec


def _stdout_for(fmt: str) -> None:
    """Machine-readable reports are always UTF-8; nothing unencodable ever raises."""
    if hasattr(sys.stdout, "reconfigure"):
        if fmt == "text":
            sys.stdout.reconfigure(errors="backslashreplace")
        else:
            sys.stdout.reconfigure(encoding="utf-8", errors="backslashreplace")


# ---------------------------------------------------------------- commands


def _records_kind(args: argparse.Namespace) -> str | None:
    """The --input-format asked for (``None``: by file name); --jsonl and --parquet are its short forms."""
    kind = "jsonl" if args.jsonl else "parquet" if args.parquet else args.input_format
    kind = None if kind == "auto" else kind
    args.input_format = kind or "auto"
    if args.glob is None and kind in ("jsonl", "parquet"):
        args.glob = f"*.{kind}*"  # directories of records: only their record files (compressed too)
    if getattr(args, "engine", "local") == "spark" and kind is None:
        # The Spark engine takes --jsonl/--parquet: give it the kind the file names agree on.
        named = {dio.detect_format(p).kind for p in args.paths if os.path.isfile(p)}
        if len(named) == 1:
            kind = named.pop()
    if kind != "text":
        args.jsonl, args.parquet = kind == "jsonl", kind == "parquet"
    return kind


def _spark(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """The report of ``dedup.spark.<name>(args)``, the Spark engine's entry point.

    It returns the same ``{"matches"|"clusters", "summary"}`` report as the
    local engine, plus ``problems``: one-line messages about skipped inputs.
    """
    try:
        from . import spark
    except ImportError as e:
        why = internal.one_line(e.__cause__ or e)  # the module says what is missing (e.g. pyspark)
        raise CliError(f"--engine spark needs the spark extra: pip install 'dedup[spark]' ({why})") from None
    entry = getattr(spark, name, None)
    if entry is None:
        raise CliError(f"--engine spark: this version of dedup.spark has no {name}()")
    try:
        result = entry(args)
    except ValueError as e:  # the engine's one-line "nothing readable" and parameter errors
        raise CliError(f"--engine spark: {internal.one_line(e)}") from None
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:
        if os.environ.get("DEDUP_DEBUG"):
            raise
        raise CliError(f"--engine spark: {type(e).__name__}: {internal.one_line(e)}") from None
    for problem in result.pop("problems", []):
        _skip(args, problem)
    # Whether records (not whole text files) were read: the summary line then counts documents.
    args.records_read = bool(result.pop("records_read", False))
    return result


def cmd_passages(args: argparse.Namespace) -> int:
    """``dedup passages``: repeated passages inside and across files."""
    kind = _records_kind(args)
    if args.engine == "spark":
        _spark_html(args)
        result = _spark("cli_passages", args)
        records, summary, excerpts = result["matches"], result["summary"], result.get("excerpts", [])
        if args.format == "html":
            # Built here from what came back: the matches and the texts of the documents they show.
            texts, matches = result["texts"], result["found"]
    else:
        if args.spill is not None:
            return _passages_streaming(args, kind)
        from .passages import find_repeated_passages

        start = time.perf_counter()
        corpus = load(args, kind)
        texts = corpus.texts
        with _phases(args) as progress:
            matches = find_repeated_passages(
                texts,
                threshold=args.threshold,
                min_words=args.min_words,
                ngram=args.ngram,
                jobs=args.jobs,
                spill=args.spill,
                progress=progress,
            )
        records, excerpts = _match_records(matches, corpus.docs)
        summary = corpus.summary(time.perf_counter() - start, matches=len(matches))
    if args.format == "html":
        _stdout_for(args.format)
        names, links = _html_names(texts.documents if args.engine == "spark" else corpus.docs)
        sys.stdout.write(htmlreport.passages_html(texts, matches, names=names, links=links, summary=summary))
        _finish(args, summary, _plural(summary.get("matches", len(records)), "match"))
        return 1 if args.exit_code and summary.get("matches", len(records)) else 0
    return _passages_report(args, records, summary, excerpts)


def _match_records(matches: Sequence[Any], docs: Sequence[Document]) -> tuple[list[dict[str, Any]], list[str]]:
    """The report records of ``matches`` and an excerpt of each repeat (``docs[d]`` read as needed)."""
    lines = _Lines(docs)
    records = [
        {
            "original": lines.span(m.original.doc, m.original.start, m.original.end),
            "repeat": lines.span(m.repeat.doc, m.repeat.start, m.repeat.end),
            "similarity": m.similarity,
        }
        for m in matches
    ]
    excerpts = [report.excerpt(lines.text(m.repeat.doc), m.repeat.start, m.repeat.end) for m in matches]
    return records, excerpts


class _StreamedDocs(Sequence[Document]):
    """The documents of a streamed input: their text re-read from a spool, the rest kept small
    (about 20 bytes a document in flat arrays, not Python objects: 1.2M documents took 130 MB
    as lists of ints and id strings)."""

    def __init__(self) -> None:
        self.texts: Any = None  # the spool, once it exists
        self.paths: list[str] = []
        self._path_at: dict[str, int] = {}
        self._which = array.array("i")  # index into paths
        self._records = array.array("q")  # record number, -1 for a whole file
        self._ids = bytearray()  # each id tagged: b"s" + UTF-8 of a str id, b"j" + JSON of another, b"" for None
        self._id_ends = array.array("q")
        self._other: dict[int, Any] = {}

    def add(self, doc: Document) -> None:
        self._which.append(self._path_at.setdefault(doc.path, len(self._path_at)))
        if len(self._path_at) > len(self.paths):
            self.paths.append(doc.path)
        self._records.append(-1 if doc.record is None else doc.record)
        if isinstance(doc.id, str):
            self._ids += b"s" + doc.id.encode("utf-8", "surrogatepass")
        elif isinstance(doc.id, (int, float, bool, list, dict)):
            self._ids += b"j" + json.dumps(doc.id).encode()
        elif doc.id is not None:  # anything else (a Parquet value): kept as it is
            self._other[len(self._which) - 1] = doc.id
            self._ids += b"o"
        self._id_ends.append(len(self._ids))

    def __len__(self) -> int:
        return len(self._which)

    def __getitem__(self, d: Any) -> Any:
        return Document(self.paths[self._which[d]], self.texts[d], self._record(d), self._id(d))

    def header(self, d: int) -> Document:
        """Document ``d`` without its text (nothing read)."""
        return Document(self.paths[self._which[d]], "", self._record(d), self._id(d))

    def _record(self, d: int) -> int | None:
        record = self._records[d]
        return None if record < 0 else record

    def _id(self, d: int) -> Any:
        raw = bytes(self._ids[self._id_ends[d - 1] if d > 0 else 0 : self._id_ends[d]])
        if not raw:
            return None
        if raw == b"o":
            return self._other[d]
        return raw[1:].decode("utf-8", "surrogatepass") if raw[:1] == b"s" else json.loads(raw[1:])


def _streamed_documents(
    args: argparse.Namespace, kind: str | None, counts: dict[str, int], consumed: Callable[[int], Any] | None = None
) -> Iterator[Document]:
    """The inputs' documents one at a time (``stream.iter_documents``), bad inputs reported and counted in
    ``counts`` (files, bytes, skipped files and records) as the in-memory loader counts them."""
    from .stream import iter_documents

    seen: set[str] = set()
    items = iter_documents(
        args.paths,
        kind=kind,
        recursive=args.recursive,
        glob=args.glob,
        consumed=consumed,
        **_read_options(args),
    )
    for item in items:
        if isinstance(item, InputError):
            counts["skipped_records" if item.line is not None else "skipped_files"] += 1
            _skip(args, item)
            continue
        if item.path not in seen:
            seen.add(item.path)
            counts["files"] += 1
            counts["bytes"] += dio.source_size(item.source) if item.source else 0
        yield item


def _passages_streaming(args: argparse.Namespace, kind: str | None) -> int:
    """``dedup passages --spill DIR``: the input streamed through a spool in DIR, never held; the
    report (HTML too) re-reads only the documents it quotes."""
    from .passages import find_repeated_passages
    from .text_source import CachedTexts, SpooledTexts

    start = time.perf_counter()
    counts = {"files": 0, "bytes": 0, "skipped_files": 0, "skipped_records": 0}
    seen: set[str] = set()
    work = Path(args.spill)
    own = not work.exists()
    docs = _StreamedDocs()

    def texts() -> Iterator[str]:
        for item in _streamed_documents(args, kind, counts):
            if item.source is not None and item.path not in seen:
                seen.add(item.path)
                if dio.detect_format(item.path, kind).kind != "text":
                    args.records_read = True
            docs.add(item)
            yield item.text

    try:
        with SpooledTexts(texts(), work, size_hint=_input_chars(args, kind)) as source:
            docs.texts = source
            with _phases(args) as progress:
                matches = find_repeated_passages(
                    source,
                    threshold=args.threshold,
                    min_words=args.min_words,
                    ngram=args.ngram,
                    jobs=args.jobs,
                    spill=work,
                    progress=progress,
                )
            if not len(docs) and (counts["skipped_records"] or not counts["files"]):
                if counts["files"]:
                    n = counts["skipped_records"]
                    raise CliError(f"no documents in the input ({n} bad record{'' if n == 1 else 's'} skipped)")
                n = counts["skipped_files"]
                raise CliError(f"nothing could be read ({n} input{'' if n == 1 else 's'} skipped)")
            summary: dict[str, Any] = {
                "files": counts["files"],
                "bytes": counts["bytes"],
                "documents": len(docs),
                "matches": len(matches),
                "skipped_files": counts["skipped_files"],
                "skipped_records": counts["skipped_records"],
            }
            if args.format == "html":
                shown = sorted({d for m in matches for d in (m.original.doc, m.repeat.doc)})
                names, links = _html_names([docs.header(d) for d in shown])
                summary["seconds"] = round(time.perf_counter() - start, 3)
                page = htmlreport.passages_html(
                    CachedTexts(source),
                    matches,
                    names=dict(zip(shown, names)),
                    links=dict(zip(shown, links)),
                    summary=summary,
                )
            else:
                records, excerpts = _match_records(matches, docs)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    if args.format == "html":
        _stdout_for(args.format)
        sys.stdout.write(page)
        _finish(args, summary, _plural(len(matches), "match"))
        return 1 if args.exit_code and matches else 0
    summary["seconds"] = round(time.perf_counter() - start, 3)
    return _passages_report(args, records, summary, excerpts)


def _input_chars(args: argparse.Namespace, kind: str | None) -> int | None:
    """About how many characters the inputs hold (compressed files count 4 per byte), if known."""
    sources, _ = dio.find_sources(args.paths, recursive=args.recursive, glob=args.glob)
    if any(src.path == STDIN for src in sources):
        return None
    total = 0
    for src in sources:
        try:
            compressed = dio.detect_format(src.path, kind).compression is not None
        except InputError:
            continue
        total += dio.source_size(src) * (4 if compressed else 1)
    return total


def _passages_report(
    args: argparse.Namespace, records: list[dict[str, Any]], summary: dict[str, Any], excerpts: list[str]
) -> int:
    report.write_passages(sys.stdout, args.format, records, summary, excerpts)
    _finish(args, summary, _plural(summary.get("matches", len(records)), "match"))
    return 1 if args.exit_code and summary.get("matches", len(records)) else 0


def _member(doc: Document) -> dict[str, Any]:
    return report.member_record(doc.path, doc.record, doc.id)


def _contained_clusters(
    args: argparse.Namespace, texts: list[str]
) -> tuple[list[list[int]], list[int], Sequence[tuple[int, int, float]]]:
    """``--containment``: clusters of documents contained in others, the longest kept, and the pairs.

    The pairs are (part, whole, containment); the longest member is kept (it holds the others).
    """
    import numpy as np

    from .clusters import choose_kept, clusters_from_pairs
    from .documents import find_duplicate_pairs

    pairs = find_duplicate_pairs(texts, args.threshold, ngram=args.ngram, measure="containment")
    edges = np.array([(i, j) for i, j, _ in pairs], dtype=np.int64).reshape(-1, 2)
    clusters = clusters_from_pairs(len(texts), edges)
    kept = choose_kept(clusters, "longest", lengths=[len(t) for t in texts])
    return clusters, kept, pairs


def cmd_docs(args: argparse.Namespace) -> int:
    """``dedup docs``: clusters of near-duplicate documents and the member kept in each."""
    kind = _records_kind(args)
    old: list[dict[str, Any]] = []
    if args.engine == "spark" and args.against:
        raise CliError("--against works with the local engine only")
    if args.engine == "spark" and args.work_dir:
        raise CliError("--work-dir works with the local engine only")
    if args.engine == "spark":
        _spark_html(args)
        if args.containment:
            raise CliError("--containment needs the local engine")
        result = _spark("cli_docs", args)
        records, summary = result["clusters"], result["summary"]
        if args.format == "html":
            # Built here from what came back: the clusters and the texts of their members.
            shown = result["texts"]
            clusters, kept, docs = result["ranked_clusters"], result["kept"], shown.documents
    elif args.work_dir:
        if args.containment:
            raise CliError("--containment and --work-dir cannot be combined yet")
        if args.format == "html":
            raise CliError("--format html needs the texts in memory: run without --work-dir")
        if args.against and args.format == "csv":
            raise CliError("--against: the csv format cannot show old duplicates; use text, json or jsonl")
        records, summary, old = _docs_streaming(args, kind)
    else:
        start = time.perf_counter()
        if args.against and args.format == "csv":
            raise CliError("--against: the csv format cannot show old duplicates; use text, json or jsonl")
        corpus = load(args, kind)
        from .keep import which_to_keep

        if args.containment:
            with _working(args, f"comparing {_plural(len(corpus.docs), 'document')}"):
                clusters, kept, pairs = _contained_clusters(args, corpus.texts)
        else:
            with _phases(args) as progress:
                decision = which_to_keep(
                    corpus.texts,
                    args.threshold,
                    keep=args.keep,
                    ngram=args.ngram,
                    num_perm=args.num_perm,
                    jobs=args.jobs,
                    progress=progress,
                )
                clusters = decision.clusters
                kept = [next(i for i in c if decision.keep[i]) for c in clusters]
        records = []
        for c, k in zip(clusters, kept):
            if args.containment:
                members = [_member(corpus.docs[i]) for i in c]
            else:
                members = [{**_member(corpus.docs[i]), "similarity": float(decision.similarity[i])} for i in c]
            records.append({"members": members, "kept": _member(corpus.docs[k])})
        if args.containment:  # which member is inside which, per cluster
            where = {i: n for n, c in enumerate(clusters) for i in c}
            for rec in records:
                rec["contained"] = []
            for part, whole, share in pairs:
                records[where[part]]["contained"].append(
                    {"part": _member(corpus.docs[part]), "whole": _member(corpus.docs[whole]), "containment": share}
                )
        duplicates = sum(len(c) - 1 for c in clusters)
        counts = {"clusters": len(records), "duplicates": duplicates}
        if args.against:
            old += [
                {
                    "member": _member(doc),
                    "index": args.against,
                    "duplicate_of": hit.id,
                    "similarity": round(hit.similarity, 4),
                }
                for doc, hit in zip(corpus.docs, _against(args, corpus.texts))
                if hit is not None
            ]
            counts["old_duplicates"] = len(old)
        summary = corpus.summary(time.perf_counter() - start, **counts)
    _stdout_for(args.format)
    if args.format == "html":
        names, links = _html_names(docs if args.engine == "spark" else corpus.docs)
        page = htmlreport.docs_html(
            shown if args.engine == "spark" else corpus.texts,
            clusters,
            kept,
            ngram=args.ngram,
            names=names,
            links=links,
            summary=summary,
        )
        sys.stdout.write(page)
    else:
        scored = True if args.work_dir else None  # a streamed report's members all carry their similarity
        report.write_docs(sys.stdout, args.format, records, summary, old if args.against else None, scored=scored)
    if "clusters" not in summary or "duplicates" not in summary:  # records is a list but for --work-dir
        summary = {"clusters": len(records), "duplicates": sum(len(c["members"]) - 1 for c in records), **summary}
    found = f"{_plural(summary['clusters'], 'cluster')} ({_plural(summary['duplicates'], 'duplicate')})"
    if args.against:
        found += f", {len(old)} of {args.against}"
    _finish(args, summary, found)
    if args.against and old and args.exit_code:
        return 1
    return 1 if args.exit_code and summary["clusters"] else 0


def _docs_streaming(
    args: argparse.Namespace, kind: str | None
) -> tuple[Iterator[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """``dedup docs --work-dir DIR``: clusters (and ``--against`` hits) found by streaming through an index in DIR."""
    from .stream import find_duplicates_on_disk

    start = time.perf_counter()
    counts = {"files": 0, "bytes": 0, "skipped_files": 0, "skipped_records": 0}

    def documents(bar: Any) -> Iterator[tuple[dict[str, Any], str]]:
        for item in _streamed_documents(args, kind, counts, consumed=bar.update):
            yield _member(item), item.text

    run_key = {"paths": [os.path.abspath(p) for p in args.paths], "kind": kind, "recursive": args.recursive}
    run_key.update(glob=args.glob, text_field=args.text_field, id_field=args.id_field, encoding=args.encoding)
    against = _open_against(args) if args.against else None
    sizes = sum(_size(p) for p in args.paths if os.path.isfile(p))
    try:
        with _progress(args, sizes, "reading") as bar:
            run = find_duplicates_on_disk(
                documents(bar),
                args.work_dir,
                threshold=args.threshold,
                ngram=args.ngram,
                num_perm=args.num_perm,
                keep=args.keep,
                run_key=run_key,
                against=against,
            )
    except ValueError as e:
        raise CliError(str(e)) from None
    finally:
        if against is not None:
            against.close()
    if run.n_docs == 0:
        raise CliError("no documents in the input")
    # The members' records go to a file in DIR, read back cluster by cluster as the report is written:
    # nothing here holds a record per member (a dump's clusters grow with it).
    found = run.report_records()
    old = [
        {"member": found[d], "index": args.against, "duplicate_of": old_id, "similarity": sim}
        for d, old_id, sim in run.old
    ]

    def clusters() -> Iterator[dict[str, Any]]:
        with found:
            for members, kept, sims in run.iter_clusters():
                rows = [{**found[i], "similarity": sim} for i, sim in zip(members, sims)]
                yield {"members": rows, "kept": found[kept]}

    n_clusters = len(run.offsets) - 1
    summary = {
        "files": counts["files"],
        "bytes": counts["bytes"],
        "documents": run.n_docs,
        "clusters": n_clusters,
        "duplicates": len(run.members) - n_clusters,
        **({"old_duplicates": len(old)} if args.against else {}),
        "skipped_files": counts["skipped_files"],
        "skipped_records": counts["skipped_records"],
        "seconds": round(time.perf_counter() - start, 3),
    }
    return clusters(), summary, old


def _check_output_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    if out.is_dir() and any(p.name != outputs.LOCK_NAME for p in out.iterdir()) and not force:
        raise CliError(f"{out}: output directory exists and is not empty; use --force to overwrite")


def _targets(corpus: Corpus, out: Path, manifest: Path) -> dict[str, Path]:
    """Where the cleaned copy of each input file goes; refuses collisions and overwriting inputs."""
    targets = {src.path: out / src.rel for src in corpus.sources}
    inputs = {os.path.realpath(src.path): src.path for src in corpus.sources if src.path != STDIN}
    owner: dict[str, str] = {os.path.realpath(manifest): "the manifest"}
    if os.path.realpath(manifest) in inputs:
        raise CliError(f"{manifest}: the manifest would overwrite the input {inputs[os.path.realpath(manifest)]}")
    for path, target in targets.items():
        real = os.path.realpath(target)
        if real in inputs:
            raise CliError(f"{target}: writing here would overwrite the input {inputs[real]}; choose another --output")
        if real in owner:
            raise CliError(f"{target}: both {owner[real]} and {path} would be written here; clean them separately")
        owner[real] = path
    return targets


def cmd_clean(args: argparse.Namespace) -> int:
    """``dedup clean``: cleaned copies (same format and layout), a manifest of every removal, stats.json.

    One run at a time writes to an output directory (a second one gets a
    one-line error); the manifest is removed before the first file is
    written and written last, so a manifest always describes the files.
    """
    out = Path(args.output)
    if args.output == STDIN:
        return _clean(args)
    if out.exists() and not out.is_dir():
        raise CliError(f"{out}: exists and is not a directory")
    try:
        lock = outputs.OutputLock(out).acquire()
    except outputs.OutputBusy as e:
        raise CliError(str(e)) from None
    except OSError as e:
        raise CliError(f"{out}: cannot write: {e.strerror or e}") from None
    try:
        return _clean(args)
    finally:
        lock.release()


#: Hidden directory in OUT where clean keeps decompressed copies of compressed shards while it runs.
PLAIN_PREFIX = ".dedup-plain-"


def _clean(args: argparse.Namespace) -> int:
    kind = _records_kind(args)
    if getattr(args, "engine", "local") == "spark":
        return _clean_spark(args)
    if args.errors not in ("strict", "surrogateescape"):
        # Undecodable bytes are read so that they are written back as they were: clean changes
        # no byte outside what it removes (replace, ignore, backslashreplace would).
        args.errors = "surrogateescape"
    start = time.perf_counter()
    to_stdout = args.output == STDIN
    if to_stdout and not args.manifest:
        raise CliError("-o - writes the cleaned text to standard output; name the manifest with --manifest FILE")
    out = Path(args.output)
    manifest = Path(args.manifest) if args.manifest else out / "manifest.jsonl"
    if not to_stdout:
        # Decompressed copies left by a run that was killed (-9) before removing them: we hold the lock.
        for stale in out.glob(f"{PLAIN_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        _check_output_dir(out, args.force)
    if args.against and not args.docs:
        raise CliError("--against drops whole documents: it needs --docs")
    if args.manifest and manifest.exists() and not args.force:
        raise CliError(f"{manifest}: exists; use --force to overwrite")
    if getattr(args, "work_dir", None):
        return _clean_streaming(args, kind, start)
    # Compressed JSONL shards are decompressed once: load copies their plain bytes here for the writer.
    plain = contextlib.nullcontext(None) if to_stdout else tempfile.TemporaryDirectory(prefix=PLAIN_PREFIX, dir=out)
    with plain as plain_dir:
        return _clean_corpus(args, kind, plain_dir, start)


def _clean_corpus(args: argparse.Namespace, kind: str | None, plain_dir: str | None, start: float) -> int:
    from .keep import which_to_keep
    from .passages import apply_removals, find_repeated_passages, plan_removals

    seconds: dict[str, float] = {}
    # CPU seconds of this process per phase too: on a busy machine wall seconds say little.
    cpu: dict[str, float] = {}
    cpu_start = time.process_time()
    to_stdout = args.output == STDIN
    out = Path(args.output)
    manifest = Path(args.manifest) if args.manifest else out / "manifest.jsonl"
    doc_threshold = args.doc_threshold or args.threshold
    passage_threshold = args.passage_threshold or args.threshold
    corpus = load(args, kind, plain_dir)
    seconds["read"] = time.perf_counter() - start
    cpu["read"] = time.process_time() - cpu_start
    if to_stdout and (len(corpus.sources) != 1 or corpus.formats[corpus.sources[0].path].kind != "text"):
        raise CliError("-o - cleans one text (a file or standard input); name an output directory for more")
    targets = {} if to_stdout else _targets(corpus, out, manifest)
    docs, texts = corpus.docs, corpus.texts
    lines = _Lines(docs)

    def output_of(i: int) -> str:
        return "-" if to_stdout else str(targets[docs[i].path])

    # Duplicate documents first: a dropped document needs no passage cleaning,
    # and must not make its kept twin look like a repeated passage.
    dropped: dict[int, dict[str, Any]] = {}
    if args.docs:
        t, c = time.perf_counter(), time.process_time()
        with _phases(args) as progress:
            decision = which_to_keep(
                texts,
                doc_threshold,
                keep=args.keep,
                ngram=args.ngram,
                num_perm=args.num_perm,
                jobs=args.jobs,
                progress=progress,
            )
        for i in (~decision.keep).nonzero()[0].tolist():
            k = int(decision.duplicate_of[i])
            dropped[i] = {
                "kind": "document",
                **lines.span(i, 0, len(texts[i])),
                "output": None,
                "original": lines.span(k, 0, len(texts[k])),
                "similarity": float(decision.similarity[i]),
                "kept": k,
            }
        seconds["documents"] = time.perf_counter() - t
        cpu["documents"] = time.process_time() - c
    if args.against:
        # Documents that duplicate one stored in the index go too; the manifest names the old id.
        for i, hit in enumerate(_against(args, texts)):
            if hit is not None and i not in dropped:
                dropped[i] = {
                    "kind": "document",
                    **lines.span(i, 0, len(texts[i])),
                    "output": None,
                    "original": {"index": args.against, "id": hit.id},
                    "similarity": round(hit.similarity, 4),
                    "kept": None,
                }
    t, c = time.perf_counter(), time.process_time()
    remaining = [i for i in range(len(texts)) if i not in dropped]
    sub = [texts[i] for i in remaining]
    with _phases(args) as progress:
        matches = find_repeated_passages(
            sub,
            threshold=passage_threshold,
            min_words=args.min_words,
            ngram=args.ngram,
            jobs=args.jobs,
            spill=args.spill,
            progress=progress,
        )
    plan = plan_removals(sub, matches, threshold=passage_threshold)
    cleaned = apply_removals(sub, plan)
    seconds["passages"] = time.perf_counter() - t
    cpu["passages"] = time.process_time() - c
    by_doc: dict[int, list[dict[str, Any]]] = {}
    chars_removed = 0
    for r in plan:
        doc, orig = remaining[r.span.doc], r.match.original
        chars_removed += r.span.end - r.span.start
        by_doc.setdefault(doc, []).append(
            {
                "kind": "passage",
                **lines.span(doc, r.span.start, r.span.end),
                "output": output_of(doc),
                "original": lines.span(remaining[orig.doc], orig.start, orig.end),
                "similarity": r.match.similarity,
            }
        )
    removals: list[dict[str, Any]] = []
    for i in range(len(texts)):
        if i in dropped:
            removals.append(_manifest_order(dropped[i]))
        removals.extend(_manifest_order(r) for r in by_doc.get(i, []))

    # What changes in each file: record -> new text, or None when dropped.
    changes: dict[str, dict[int | None, str | None]] = {src.path: {} for src in corpus.sources}
    whole: dict[str, str] = {}
    for i in dropped:
        changes[docs[i].path][docs[i].record] = None
    for i, text in zip(remaining, cleaned):
        if docs[i].record is None:
            whole[docs[i].path] = text
        elif text != texts[i]:
            changes[docs[i].path][docs[i].record] = text

    # Everything is decided before the first byte is written. What an earlier run
    # left (with --force) goes first: an interrupted run must not leave a manifest
    # that describes other files.
    for path in corpus.damaged:
        raise CliError(
            f"{path}: cannot copy: part of the file is unreadable, its copy would lose rows; nothing written"
        )
    if not to_stdout:
        for old in (manifest, out / "stats.json", out / "removed.jsonl"):  # the manifest first
            try:
                old.unlink(missing_ok=True)
            except OSError as e:
                raise CliError(f"{old}: cannot remove the previous run's file: {e.strerror or e}") from None
    t, c = time.perf_counter(), time.process_time()
    records_out = bytes_out = written_files = records_in = 0
    removed_records: list[dict[str, Any]] = []
    if to_stdout:
        (text,) = cleaned or [""]
        try:
            data = dio.encode_text(text, corpus.codecs.get(docs[0].path, args.encoding), args.errors)
        except UnicodeEncodeError as e:
            raise CliError(f"{docs[0].path}: cannot write as {args.encoding} ({e.reason})") from None
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        records_in, records_out, bytes_out = 1, 1, len(data)
    else:
        first = {d.path: i for i, d in reversed(list(enumerate(docs)))}
        sizes = [_size(corpus.plain.get(src.path, src.path)) for src in corpus.sources]
        with _progress(args, sum(sizes), "writing") as bar:
            for src, size in zip(corpus.sources, sizes):
                fmt = corpus.formats[src.path]
                try:
                    w = dio.write_like(
                        src,
                        fmt,
                        targets[src.path],
                        changes[src.path],
                        text_field=args.text_field,
                        encoding=corpus.codecs.get(src.path, args.encoding),
                        errors=args.errors,
                        text=whole.get(src.path),
                        plain=corpus.plain.get(src.path),
                        consumed=bar.update if fmt.kind == "jsonl" else None,
                    )
                except dio.InputError as e:
                    raise CliError(str(e)) from None
                except UnicodeEncodeError as e:
                    raise CliError(f"{src.path}: cannot write as {args.encoding} ({e.reason})") from None
                except OSError as e:
                    raise CliError(f"{targets[src.path]}: cannot write: {e.strerror or e}") from None
                records_in += w.records_in
                records_out += w.records_out
                bytes_out += w.bytes_out
                written_files += 1 if w.records_out or fmt.kind != "text" else 0
                by_record = {d.record: i for i, d in enumerate(docs) if d.path == src.path} if w.dropped else {}
                for record, data in w.dropped:
                    i = by_record.get(record, first.get(src.path, 0))
                    rec = {
                        **_member(docs[i]),
                        "duplicate_of": (
                            _member(docs[dropped[i]["kept"]])
                            if dropped[i]["kept"] is not None
                            else dropped[i]["original"]  # a document stored in the --against index
                        ),
                        "similarity": dropped[i]["similarity"],
                    }
                    if record is not None:
                        rec["data"] = data
                    removed_records.append(rec)
                if fmt.kind != "jsonl":
                    bar.update(size)
    seconds["write"] = time.perf_counter() - t
    cpu["write"] = time.process_time() - c

    if args.docs and not to_stdout:
        body = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in removed_records)
        _write_file(out / "removed.jsonl", body)
    seconds["total"] = time.perf_counter() - start
    cpu["total"] = time.process_time() - cpu_start
    summary = corpus.summary(
        seconds["total"],
        removals=len(removals),
        documents_dropped=len(dropped),
        passages_removed=len(removals) - len(dropped),
        written=written_files,
    )
    if not to_stdout:
        stats = _stats(
            args, corpus, seconds, records_in, records_out, bytes_out, len(dropped), len(plan), chars_removed
        )
        stats["cpu_seconds"] = {k: round(v, 3) for k, v in cpu.items()}
        _write_file(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    # Last: a manifest is there only when everything it describes is.
    _write_file(manifest, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in removals))
    found = _clean_found(args, len(removals) - len(dropped), len(dropped))
    if to_stdout:
        _finish(args, summary, found)
        return 1 if args.exit_code and removals else 0
    _stdout_for(args.format)
    if args.format == "text":
        _print_cleaned(args, out, manifest, len(corpus.sources), records_in, records_out, found, chars_removed)
    elif args.format == "html":
        removed, kinds = _removed_matches(corpus.docs, removals)
        names, links = _html_names(corpus.docs)
        sys.stdout.write(htmlreport.clean_html(texts, removed, kinds, names=names, links=links, summary=summary))
    else:
        report.write_removals(sys.stdout, args.format, removals, summary)
    _finish(args, summary, f"{found}, {written_files} written to {out}")
    return 1 if args.exit_code and removals else 0


def _clean_found(args: argparse.Namespace, passages: int, dropped: int) -> str:
    """What a clean removed, in words (the last line's start)."""
    found = f"{_plural(passages, 'passage')} removed"
    return found + (f", {_plural(dropped, 'document')} dropped" if args.docs else "")


def _print_cleaned(
    args: argparse.Namespace,
    out: Path,
    manifest: Path,
    files: int,
    records_in: int,
    records_out: int,
    found: str,
    chars_removed: int,
) -> None:
    """The few lines a terminal gets after a clean; the removals themselves are in the manifest."""
    print(f"{_plural(files, 'file')}, {records_in} records in, {records_out} out")
    print(f"{found} ({chars_removed} characters of passages)")
    extra = f", removed records: {out / 'removed.jsonl'}" if args.docs else ""
    print(f"written to {out}/ (manifest: {manifest}{extra})")


def _read_manifest(manifest: Path) -> list[dict[str, Any]]:
    """The removals a clean found, read back from the manifest it has just written (not held meanwhile)."""
    with open(manifest, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _clean_streaming(args: argparse.Namespace, kind: str | None, start: float) -> int:
    """``dedup clean --work-dir DIR``: :func:`dedup.stream_clean.clean_on_disk` writes the same files as
    :func:`_clean_corpus`, with the texts spooled to DIR instead of held; here stats.json and the report."""
    from .stream_clean import CleanError, clean_on_disk

    if args.output == STDIN:
        raise CliError("--work-dir writes files: name an output directory, not -")
    _no_html(args)
    out = Path(args.output)
    manifest = Path(args.manifest) if args.manifest else out / "manifest.jsonl"
    corpus = dio.Corpus()

    def targets(sources: Sequence[dio.Source]) -> dict[str, Path]:
        corpus.sources = list(sources)
        return _targets(corpus, out, manifest)

    def before_write() -> None:
        for old in (manifest, out / "stats.json", out / "removed.jsonl"):  # the manifest first
            try:
                old.unlink(missing_ok=True)
            except OSError as e:
                raise CliError(f"{old}: cannot remove the previous run's file: {e.strerror or e}") from None

    def before_manifest(run: Any) -> None:
        corpus.nbytes, corpus.skipped_files, corpus.skipped_records = run.nbytes, run.skipped_files, run.skipped_records
        stats = _stats(
            args, corpus, run.seconds, run.records_in, run.records_out, run.bytes_out,
            run.documents_dropped, run.passages_removed, run.chars_removed,
        )  # fmt: skip
        stats.update(documents=run.documents, cpu_seconds={k: round(v, 3) for k, v in run.cpu.items()})
        stats["parameters"]["work_dir"] = args.work_dir
        _write_file(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")

    against = _open_against(args) if args.against else None
    sizes = sum(_size(p) for p in args.paths if os.path.isfile(p))
    try:
        with _phases(args) as progress, _progress(args, 2 * sizes, "reading, writing") as bar:
            run = clean_on_disk(
                args.paths,
                out,
                args.work_dir,
                manifest=manifest,
                docs=args.docs,
                input_format=kind,
                recursive=args.recursive,
                glob=args.glob,
                **_read_options(args),
                doc_threshold=args.doc_threshold or args.threshold,
                passage_threshold=args.passage_threshold or args.threshold,
                ngram=args.ngram,
                num_perm=args.num_perm,
                min_words=args.min_words,
                keep=args.keep,
                jobs=args.jobs,
                against=against,
                against_name=args.against,
                targets=targets,
                before_write=before_write,
                before_manifest=before_manifest,
                on_problem=lambda problem: _skip(args, problem),
                on_warning=(lambda message: None) if args.quiet else _warn,
                progress=progress,
                consumed=bar.update,
            )
    except (CleanError, ValueError) as e:
        raise CliError(str(e)) from None
    except dio.NothingRead as e:
        raise CliError(str(e)) from None
    finally:
        if against is not None:
            against.close()
    args.records_read = any(dio.detect_format(s.path, kind).kind != "text" for s in run.sources)
    summary = {
        "files": len(run.sources),
        "bytes": run.nbytes,
        "documents": run.documents,
        "removals": run.removals,
        "documents_dropped": run.documents_dropped,
        "passages_removed": run.passages_removed,
        "written": run.written,
        "skipped_files": run.skipped_files,
        "skipped_records": run.skipped_records,
        "seconds": round(time.perf_counter() - start, 3),
    }
    found = _clean_found(args, run.passages_removed, run.documents_dropped)
    _stdout_for(args.format)
    if args.format == "text":
        _print_cleaned(args, out, manifest, len(run.sources), run.records_in, run.records_out, found, run.chars_removed)
    else:
        report.write_removals(sys.stdout, args.format, _read_manifest(manifest), summary)
    _finish(args, summary, f"{found}, {run.written} written to {out}")
    return 1 if args.exit_code and run.removals else 0


def _clean_spark(args: argparse.Namespace) -> int:
    """``dedup clean --engine spark``: the executors write the cleaned copies (:func:`dedup.spark.cli_clean`);
    here only stats.json, then the manifest, are put in place."""
    if args.against:
        raise CliError(
            "--against needs the local engine: the index is a DuckDB file queried in one process, "
            "not by the executors (clean --docs --against IDX, with --work-dir for large inputs)"
        )
    for given, option in ((args.spark_output, "--spark-output"), (getattr(args, "work_dir", None), "--work-dir")):
        if given:
            raise CliError(f"{option} cannot be used with clean --engine spark")
    if args.output == STDIN:
        raise CliError(
            "-o - needs the local engine: on Spark the executors write the cleaned files into a directory "
            "(standard output would send the whole dataset through the driver); name an output directory"
        )
    out = Path(args.output)
    manifest = Path(args.manifest) if args.manifest else out / "manifest.jsonl"
    _check_output_dir(out, args.force)
    if args.manifest and manifest.exists() and not args.force:
        raise CliError(f"{manifest}: exists; use --force to overwrite")
    result = _spark("cli_clean", args)
    summary, seconds = result["summary"], result["seconds"]
    corpus = dio.Corpus(
        files=summary["files"],
        nbytes=summary["bytes"],
        skipped_files=summary["skipped_files"],
        skipped_records=summary["skipped_records"],
        sources=[dio.Source(p, os.path.basename(p)) for p in result["inputs"]],
    )
    dropped, passages = summary["documents_dropped"], summary["passages_removed"]
    stats = _stats(
        args,
        corpus,
        seconds,
        result["records_in"],
        result["records_out"],
        result["bytes_out"],
        dropped,
        passages,
        result["chars_removed"],
    )
    stats.update(documents=result["documents"], engine="spark", spark_master=summary.get("spark_master"))
    _write_file(out / "stats.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
    # Last: a manifest is there only when everything it describes is.
    os.replace(result["manifest_tmp"], manifest)
    found = _clean_found(args, passages, dropped)
    _stdout_for(args.format)
    if args.format == "text":
        records_in, records_out = result["records_in"], result["records_out"]
        _print_cleaned(args, out, manifest, summary["files"], records_in, records_out, found, result["chars_removed"])
    elif args.format == "html":
        # Only the documents on either side of a removal came back from the executors (by rank).
        shown = result["texts"]
        removed, kinds = _removed_matches(shown.documents, _read_manifest(manifest))
        names, links = _html_names(shown.documents)
        sys.stdout.write(htmlreport.clean_html(shown, removed, kinds, names=names, links=links, summary=summary))
    else:
        report.write_removals(sys.stdout, args.format, _read_manifest(manifest), summary)
    _finish(args, summary, f"{found}, {summary['written']} written to {out}")
    return 1 if args.exit_code and summary["removals"] else 0


def _size(path: str) -> int:
    """The size of a file on disk (0 for standard input or when it cannot be told)."""
    return dio.source_size(dio.Source(path, path))


def _write_file(path: Path, body: str) -> None:
    try:
        outputs.write_atomic(path, body.encode("utf-8", "backslashreplace"))
    except OSError as e:
        raise CliError(f"{path}: cannot write: {e.strerror or e}") from None


def _stats(
    args: argparse.Namespace,
    corpus: Corpus,
    seconds: dict[str, float],
    records_in: int,
    records_out: int,
    bytes_out: int,
    duplicates: int,
    passages: int,
    chars_removed: int,
) -> dict[str, Any]:
    """``stats.json``: what went in and out, what was removed, time per phase, and provenance."""
    names = ("threshold", "doc_threshold", "passage_threshold", "ngram", "num_perm", "min_words", "keep", "docs")
    params = {n: getattr(args, n, None) for n in names}
    params["doc_threshold"] = args.doc_threshold or args.threshold
    params["passage_threshold"] = args.passage_threshold or args.threshold
    for n in ("input_format", "text_field", "id_field", "encoding", "errors", "jobs"):
        params[n] = getattr(args, n, None)
    return {
        "dedup_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": ["dedup", *sys.argv[1:]] if sys.argv and sys.argv[0] else None,
        "inputs": [src.path for src in corpus.sources],
        "parameters": params,
        "files": len(corpus.sources),
        "records_in": records_in,
        "records_out": records_out,
        "bytes_in": corpus.nbytes,
        "bytes_out": bytes_out,
        "documents": len(corpus.docs),
        "duplicates": duplicates,
        "passages_removed": passages,
        "passage_chars_removed": chars_removed,
        "skipped_files": corpus.skipped_files,
        "skipped_records": corpus.skipped_records,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def _no_html(args: argparse.Namespace) -> None:
    if args.format == "html":
        raise CliError("--format html needs the texts: use it with --engine local")


def _spark_html(args: argparse.Namespace) -> None:
    """``--format html`` with ``--engine spark``: one page on standard output, built here from what
    was found, so not with ``--spark-output`` (which keeps the results off the driver)."""
    if args.format == "html" and args.spark_output:
        raise CliError("--format html builds one page here: it cannot be used with --spark-output")


def _html_names(docs: Sequence[Document] | Mapping[int, Document]) -> tuple[Any, Any]:
    """Labels (``path`` or ``path#record (id)``) and file links of the documents, for the HTML report
    (lists, or dicts by document number for a mapping of the shown documents only)."""

    def name(d: Document) -> str:
        return d.path if d.record is None else f"{d.path}#{d.record}" + (f" ({d.id})" if d.id else "")

    if isinstance(docs, Mapping):
        return {k: name(d) for k, d in docs.items()}, {k: htmlreport.file_link(d.path) for k, d in docs.items()}
    return [name(d) for d in docs], [htmlreport.file_link(d.path) for d in docs]


def _removed_matches(
    docs: Sequence[Document] | Mapping[int, Document], removals: list[dict[str, Any]]
) -> tuple[list[Any], list[str]]:
    """The manifest records of ``clean`` as (original, removed) span pairs, and their kinds
    (``docs``: all documents, or those the removals name by document number)."""
    from .passages import Match, Span

    where = {(d.path, d.record): i for i, d in (docs.items() if isinstance(docs, Mapping) else enumerate(docs))}

    def span(rec: dict[str, Any]) -> Span:
        return Span(where[rec["path"], rec.get("record")], rec["start"], rec["end"])

    return [Match(span(r["original"]), span(r), r["similarity"]) for r in removals], [r["kind"] for r in removals]


def _manifest_order(rec: dict[str, Any]) -> dict[str, Any]:
    """Manifest keys in their documented order (``record`` and ``id`` for JSONL lines and Parquet rows)."""
    return report.manifest_record(rec)


def _one_document(args: argparse.Namespace, spec: str, kind: str | None) -> Document:
    """The document named ``spec``: a file, or ``PATH#N`` / ``PATH#ID`` (a record of a dataset)."""
    path, key = spec, ""
    if not os.path.exists(spec) and "#" in spec:
        path, _, key = spec.rpartition("#")
    if os.path.isdir(path):
        raise CliError(f"{path}: is a directory; give one file")
    try:
        corpus = dio.load([path], input_format=kind, on_problem=_raise, **_read_options(args))
    except (InputError, dio.NothingRead) as e:
        raise CliError(str(e)) from None
    if corpus.docs[0].record is None:  # a text file: the whole file is the document
        if key:
            raise CliError(f"{path}: a text file has no records; give it without #{key}")
        return corpus.docs[0]
    if not key:
        raise CliError(
            f"{spec}: name a record as PATH#N (N-th record, 1-based)" + (" or PATH#ID" if args.id_field else "")
        )
    for d in corpus.docs:
        if (str(d.id) == key) if args.id_field else (str(d.record) == key):
            return d
    what = f"no record with {args.id_field} = {key!r}" if args.id_field else f"no record {key}"
    raise CliError(f"{path}: {what}")


def _raise(problem: InputError) -> None:
    raise problem


def cmd_explain(args: argparse.Namespace) -> int:
    """``dedup explain A B``: :func:`dedup.explain.explain_pair` on two documents."""
    from .explain import explain_pair, format_explanation

    if (args.bands is None) != (args.rows is None):
        raise CliError("give both --bands and --rows, or neither")
    kind = "jsonl" if args.jsonl else "parquet" if args.parquet else args.input_format
    kind = None if kind == "auto" else kind  # by file name
    a, b = _one_document(args, args.a, kind), _one_document(args, args.b, kind)
    try:
        e = explain_pair(
            a.text, b.text, threshold=args.threshold, ngram=args.ngram, num_perm=args.num_perm,
            bands=args.bands, rows=args.rows, min_words=args.min_words,
        )  # fmt: skip
    except ValueError as err:
        raise CliError(str(err)) from None
    _stdout_for(args.format)
    if args.format == "json":
        report.write_json(sys.stdout, {"a": args.a, "b": args.b, **e.to_dict()})
    else:
        sys.stdout.write(format_explanation(e, args.a, args.b))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``dedup calibrate``: :func:`dedup.calibrate.calibrate` on the documents read."""
    from .calibrate import calibrate, format_calibration, plot_s_curve

    if (args.bands is None) != (args.rows is None):
        raise CliError("give both --bands and --rows, or neither")
    for plot in args.plot:
        if Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
            raise CliError(f"{plot}: --plot writes .png, .svg or .pdf files")
    corpus = load(args, _records_kind(args))
    with _working(args, f"sampling pairs of {_plural(len(corpus.docs), 'document')}"):
        try:
            c = calibrate(
                corpus.texts, args.threshold, ngram=args.ngram, num_perm=args.num_perm, bands=args.bands,
                rows=args.rows, per_bin=args.per_bin, sample_seed=args.seed, target_recall=args.target_recall,
                target_precision=args.target_precision,
            )  # fmt: skip
        except ValueError as e:
            raise CliError(str(e)) from None
    for plot in args.plot:
        try:
            plot_s_curve(c, plot)
        except ImportError as e:
            raise CliError(str(e)) from None
        except OSError as e:
            raise CliError(f"{plot}: cannot write: {e.strerror or e}") from None
    _stdout_for(args.format)
    if args.format == "json":
        report.write_json(sys.stdout, c.to_dict())
    else:
        sys.stdout.write(format_calibration(c))
    return 0


# ---------------------------------------------------------------- the persistent index


def _doc_id(doc: Document) -> str:
    """A document's id in an index: its --id-field value, else ``path:record``, else its path."""
    if doc.id is not None:
        return str(doc.id)
    return doc.path if doc.record is None else f"{doc.path}:{doc.record}"


def _open_index(path: str, **kwargs: Any) -> Any:
    from .index import Index, IndexError_

    try:
        return Index(path, **kwargs)
    except IndexError_ as e:
        raise CliError(str(e)) from None


def _index_batches(corpus: Corpus) -> Iterator[range]:
    """Document ranges of at most ~64 MB of text or 16384 documents: one transaction each."""
    lo = chars = 0
    for i, doc in enumerate(corpus.docs):
        chars += len(doc.text)
        if chars >= 64 << 20 or i + 1 - lo >= 16384:
            yield range(lo, i + 1)
            lo, chars = i + 1, 0
    if lo < len(corpus.docs):
        yield range(lo, len(corpus.docs))


def _index_fill(args: argparse.Namespace, index: Any, corpus: Corpus) -> list[dict[str, Any]]:
    """Add every document of ``corpus``; the records of those that duplicate an earlier one."""
    ids = [_doc_id(d) for d in corpus.docs]
    seen: dict[str, int] = {}
    for k, i in enumerate(ids):
        if i in seen:
            raise CliError(f"two documents have the id {i!r} ({corpus.docs[seen[i]].path}, {corpus.docs[k].path})")
        seen[i] = k
    clash = index.known(ids)
    if clash:
        more = f" (and {len(clash) - 1} more)" if len(clash) > 1 else ""
        raise CliError(f"{index.path}: already holds the id {clash[0]!r}{more}; nothing was added")
    found = []
    with _working(args, f"indexing {_plural(len(ids), 'document')}"):
        for r in _index_batches(corpus):
            try:
                hits = index.add([corpus.docs[k].text for k in r], ids=ids[r.start : r.stop])
            except ValueError as e:
                raise CliError(f"{index.path}: {e}") from None
            for k, hit in zip(r, hits):
                if hit is not None:
                    found.append({**_member(corpus.docs[k]), "duplicate_of": hit.id, "similarity": hit.similarity})
    return found


def _index_report(args: argparse.Namespace, found: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    _stdout_for(args.format)
    if args.format == "json":
        report.write_json(sys.stdout, {"duplicates": found, "summary": summary})
    elif args.format == "jsonl":
        for rec in found:
            report.write_json(sys.stdout, rec, indent=None)
    else:
        for rec in found:
            print(f"{report.member_label(rec)} duplicates {rec['duplicate_of']} (similarity {rec['similarity']:.2f})")


def cmd_index_build(args: argparse.Namespace) -> int:
    """``dedup index build``: a new index from the documents of the inputs."""
    from .index import remove_index, replace_index

    start = time.perf_counter()
    out = Path(args.output)
    if out.is_dir():
        raise CliError(f"{out}: is a directory; name the index file to create")
    if out.exists() and not args.force:
        raise CliError(f"{out}: exists; use --force to replace it, or 'dedup index add' to grow it")
    corpus = load(args, _records_kind(args))
    tmp = out.with_name(out.name + ".building")
    remove_index(tmp)  # what a killed build left
    Path(str(tmp) + ".lock").unlink(missing_ok=True)
    params = {"threshold": args.threshold, "ngram": args.ngram, "num_perm": args.num_perm, "verify": args.verify}
    # Built beside and moved into place: IDX is the old index, absent or the new one, never half-built.
    with _open_index(str(tmp), keep_open=True, **params) as index:
        found = _index_fill(args, index, corpus)
    replace_index(tmp, out)
    Path(str(tmp) + ".lock").unlink(missing_ok=True)
    summary = corpus.summary(time.perf_counter() - start, duplicates=len(found))
    _index_report(args, found, {"index": str(out), **summary})
    _finish(args, summary, f"{_plural(len(found), 'duplicate')}, index {out} made")
    return 0


def cmd_index_add(args: argparse.Namespace) -> int:
    """``dedup index add``: add the documents of the inputs to an index."""
    start = time.perf_counter()
    if not Path(args.index).is_file():
        raise CliError(f"{args.index}: no index here (make one with 'dedup index build')")
    corpus = load(args, _records_kind(args))
    with _open_index(args.index, keep_open=True) as index:
        found = _index_fill(args, index, corpus)
    summary = corpus.summary(time.perf_counter() - start, duplicates=len(found))
    _index_report(args, found, {"index": args.index, **summary})
    _finish(args, summary, f"{_plural(len(found), 'duplicate')}, added to {args.index}")
    return 0


def cmd_index_stats(args: argparse.Namespace) -> int:
    """``dedup index stats``: what an index holds."""
    with _open_index(args.index, read_only=True) as index:
        stats = index.stats()
    _stdout_for(args.format)
    if args.format in ("json", "jsonl"):
        report.write_json(sys.stdout, stats, indent=2 if args.format == "json" else None)
    else:
        for key, value in stats.items():
            print(f"{key}: {value}")
    return 0


def _open_against(args: argparse.Namespace) -> Any:
    """The ``--against IDX`` index, read-only (a warning when it was made with other parameters)."""
    index = _open_index(args.against, read_only=True)
    if index.params["ngram"] != args.ngram or index.params["threshold"] != args.threshold:
        _warn(
            f"{args.against}: made with --threshold {index.params['threshold']} --ngram "
            f"{index.params['ngram']}; those are used against it"
        )
    return index


def _against(args: argparse.Namespace, texts: list[str]) -> list[Any]:
    """For each text, the document of ``--against IDX`` it duplicates, or None."""
    with _open_against(args) as index:
        found: list[Any] = []
        with _working(args, f"comparing {_plural(len(texts), 'document')} with {args.against}"):
            for lo in range(0, len(texts), 16384):
                found += index.query(texts[lo : lo + 16384])
    return found


def cmd_synth(args: argparse.Namespace) -> int:
    """``dedup synth``: a synthetic dump from :func:`dedup.synth.write_dump`."""
    try:
        from . import synth
    except ImportError as e:
        raise CliError(f"synth is not available in this installation ({e})") from None
    out = Path(args.out_dir)
    _check_output_dir(out, args.force)
    start = time.perf_counter()
    kwargs: dict[str, Any] = {"size_bytes": args.size}
    if args.seed is not None:
        kwargs["seed"] = args.seed
    synth.write_dump(out, **kwargs)
    if not args.quiet:
        files = [p for p in out.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files)
        seconds = time.perf_counter() - start
        _say("", f"wrote {_plural(len(files), 'file')}, {total / 1e6:.2f} MB to {out} in {seconds:.2f} s")
    return 0


# ---------------------------------------------------------------- entry point


def _show_warning(message: Warning | str, *_: Any, **__: Any) -> None:
    """Library warnings (e.g. ``jobs`` capped at the CPUs) as one-line ``dedup: warning:`` messages."""
    _warn(internal.one_line(message))


def main(argv: list[str] | None = None) -> int:
    """Run the ``dedup`` command; returns the exit status (never raises, never prints a traceback)."""
    with warnings.catch_warnings(), outputs.signals_as_interrupts(signal.SIGTERM, signal.SIGHUP):
        warnings.showwarning = _show_warning
        try:
            return _main(argv)
        finally:
            outputs.remove_temp_files()  # of writes cut short, whatever cut them


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        try:
            backend.get_backend()  # a bad DEDUP_BACKEND is a usage error, found before any work
        except ValueError as e:
            raise CliError(str(e)) from None
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        code = args.func(args)
        _more_skipped(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the handlers below
        return code
    except (CliError, dio.UsageError) as e:
        _error(str(e))
        return 2
    except KeyboardInterrupt as e:
        return _interrupted(e)
    except BrokenPipeError:
        # The reader went away (| head): stop quietly, and keep Python from
        # complaining again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except MemoryError:
        _error("out of memory; read fewer files at once, or use --engine spark")
        return 2
    except Exception as e:
        cause = _interrupt_behind(e)
        if cause is not None:  # an interrupt that compiled code wrapped (numba: SystemError)
            return _interrupted(cause)
        if os.environ.get("DEDUP_DEBUG"):
            raise
        _error(f"{type(e).__name__}: {internal.one_line(e)} (set DEDUP_DEBUG=1 for a traceback)")
        return 2


def _interrupted(e: KeyboardInterrupt) -> int:
    """Ctrl-C (exit 130) or a termination signal (128 + its number): temporary files go, one line says so."""
    outputs.remove_temp_files()
    signum = e.signum if isinstance(e, outputs.Interrupted) else signal.SIGINT
    _error("interrupted" if signum == signal.SIGINT else f"terminated ({signal.Signals(signum).name})")
    return 128 + signum


def _interrupt_behind(e: BaseException) -> KeyboardInterrupt | None:
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
