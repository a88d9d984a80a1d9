"""Reading inputs and writing outputs for the command line.

Everything a user can point ``dedup`` at becomes a list of :class:`Document`:

* a text file (the whole file is one document), ``-`` for standard input;
* a directory: its files matching ``glob`` (default ``*``), with
  ``recursive=True`` in sub-directories too; hidden files and directories
  (names starting with ``.``) are left out of directory walks;
* a JSONL file: each line is a JSON object and one document (``text_field``,
  optionally ``id_field``);
* a Parquet file (needs ``pyarrow``, the ``parquet`` extra): each row is one.

Anything that cannot be used raises :class:`InputError`, whose ``str()`` is a
one-line message naming the file and, where it helps, the line:

>>> str(InputError("a.jsonl", "not valid JSON (Expecting value at column 1)", line=3))
'a.jsonl:3: not valid JSON (Expecting value at column 1)'

Texts are decoded from bytes without newline translation, so character
offsets reported by the library are offsets into the file as decoded, and a
cleaned copy written back with :func:`encode_text` keeps every untouched line
byte for byte. Files are written with :func:`write_atomic` (a temporary file
in the same directory, then ``os.replace``), so a crash never leaves a
half-written file under the final name.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .internal import one_line

__all__ = [
    "MAX_RECORD_WARNINGS",
    "STDIN",
    "Corpus",
    "Document",
    "InputError",
    "NothingRead",
    "Source",
    "UsageError",
    "decode",
    "encode_text",
    "find_sources",
    "iter_jsonl",
    "iter_parquet",
    "load",
    "read_bytes",
    "read_text",
    "row_document",
    "write_atomic",
]

#: The path that means standard input.
STDIN = "-"
#: Bytes looked at to tell binary files from text.
BINARY_SNIFF = 8192
#: Bad records of one file reported one by one; the rest are counted in one line.
MAX_RECORD_WARNINGS = 5


class InputError(Exception):
    """An input (a file, or one record of it) that cannot be used.

    ``str()`` is the one-line message ``path[:line]: why``.
    """

    def __init__(self, path: str, why: str, line: int | None = None) -> None:
        super().__init__(path, why, line)
        self.path, self.why, self.line = path, why, line

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.why}"


class UsageError(Exception):
    """A problem with the command itself (not with one input): nothing is read."""


class NothingRead(UsageError):
    """No document could be read from any input (every one was missing, bad or empty of records)."""


@dataclass(frozen=True)
class Source:
    """A file to read.

    ``path`` is the path as shown to the user (``-`` for standard input);
    ``rel`` is its name relative to the directory argument it was found
    under (its base name when it was named directly), used to name outputs.
    """

    path: str
    rel: str


@dataclass
class Document:
    """One document: a whole file, a JSONL line or a Parquet row.

    ``record`` is the 1-based line (JSONL) or row (Parquet) number, ``None``
    when the whole file is the document; ``id`` is the ``--id-field`` value.
    """

    path: str
    text: str
    record: int | None = None
    id: Any = None
    source: Source | None = None


def _os_why(err: OSError) -> str:
    return err.strerror or one_line(err)


def find_sources(
    paths: Sequence[str], *, recursive: bool = False, glob: str | None = None
) -> tuple[list[Source], list[InputError]]:
    """The files named by ``paths`` (files, directories, ``-``) and the paths that name none.

    Directories contribute their files matching ``glob`` (default ``*``),
    sorted by name; the same file named twice is read once.

    >>> find_sources(["-"])
    ([Source(path='-', rel='stdin')], [])
    """
    pattern = glob or "*"
    sources: list[Source] = []
    problems: list[InputError] = []
    seen: set[str] = set()

    def add(src: Source) -> None:
        key = src.path if src.path == STDIN else os.path.realpath(src.path)
        if key not in seen:
            seen.add(key)
            sources.append(src)

    for arg in paths:
        if arg == STDIN:
            add(Source(STDIN, "stdin"))
            continue
        p = Path(arg)
        if p.is_dir():
            walk = p.rglob(pattern) if recursive else p.glob(pattern)
            found = []
            for f in walk:
                rel = f.relative_to(p)
                # Hidden files and directories (.git, .cache, ...) are never corpus.
                if any(part.startswith(".") for part in rel.parts):
                    continue
                # Dangling symlinks are kept: reading them reports the problem.
                if f.is_file() or (f.is_symlink() and not f.exists()):
                    found.append((rel.as_posix(), f))
            if not found:
                hint = "" if recursive else " (--recursive also searches sub-directories)"
                problems.append(InputError(arg, f"directory has no files matching {pattern!r}{hint}"))
            for name, f in sorted(found):
                add(Source(str(f), name))
        elif p.exists() or p.is_symlink():
            add(Source(arg, p.name))
        else:
            problems.append(InputError(arg, "no such file or directory"))
    return sources, problems


def read_bytes(src: Source) -> bytes:
    """The raw bytes of a source (standard input is read once, to the end)."""
    if src.path == STDIN:
        return sys.stdin.buffer.read()
    try:
        with open(src.path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise InputError(src.path, "is a directory (name it as a directory argument)") from None
    except OSError as e:
        raise InputError(src.path, f"cannot read: {_os_why(e)}") from None


def _wide_unicode(encoding: str) -> bool:
    name = codecs.lookup(encoding).name
    return name.startswith(("utf-16", "utf-32"))


def decode(data: bytes, path: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Bytes to text, refusing empty and binary data with a clear reason.

    No newline translation: ``\\r\\n`` stays ``\\r\\n``, so offsets are exact.

    >>> decode(b"caf\\xc3\\xa9\\r\\n", "a.txt")
    'café\\r\\n'
    >>> decode(b"ok\\n\\xff", "a.txt")
    Traceback (most recent call last):
    ...
    dedup.formats.InputError: a.txt:2: not valid utf-8 (invalid start byte, byte 0xff at offset 3); use --encoding ...

    """
    if not data:
        raise InputError(path, "empty file")
    wide = _wide_unicode(encoding)
    if not wide and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(path, "looks like UTF-16 (byte order mark); use --encoding utf-16")
    if not wide and b"\x00" in data[:BINARY_SNIFF]:
        hint = "; use --parquet for Parquet files" if path.endswith(".parquet") else ""
        raise InputError(path, f"binary file (NUL bytes), not text{hint}")
    try:
        return data.decode(encoding, errors)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        name = codecs.lookup(encoding).name
        raise InputError(
            path,
            f"not valid {name} ({e.reason}, byte 0x{data[e.start]:02x} at offset {e.start});"
            " use --encoding ENC or --errors replace",
            line,
        ) from None


def read_text(src: Source, encoding: str = "utf-8", errors: str = "strict") -> tuple[str, int]:
    """The decoded text of a source and its size in bytes."""
    data = read_bytes(src)
    return decode(data, src.path, encoding, errors), len(data)


def iter_jsonl(
    text: str, path: str, text_field: str = "text", id_field: str | None = None
) -> Iterator[Document | InputError]:
    """One :class:`Document` per JSON line of ``text``, or an :class:`InputError` for a bad line.

    Blank lines are skipped silently. Lines are split on ``\\n`` only, since
    JSON strings cannot hold a raw newline (but may hold U+2028).

    >>> [d.text if isinstance(d, Document) else str(d) for d in iter_jsonl('{"text": "a"}\\n[1]\\n', "x.jsonl")]
    ['a', 'x.jsonl:2: not a JSON object']
    """
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            yield InputError(path, f"not valid JSON ({e.msg} at column {e.colno})", lineno)
            continue
        if not isinstance(row, dict):
            yield InputError(path, "not a JSON object", lineno)
            continue
        yield row_document(row, path, lineno, text_field, id_field)


def _fields(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:8])
    return shown + (", ..." if len(names) > 8 else "")


def row_document(row: dict, path: str, record: int, text_field: str, id_field: str | None) -> Document | InputError:
    if text_field not in row:
        return InputError(path, f"no field {text_field!r} (fields: {_fields(list(row))}); use --text-field", record)
    value = row[text_field]
    if not isinstance(value, str):
        why = "is null" if value is None else f"is {type(value).__name__}, not a string"
        return InputError(path, f"field {text_field!r} {why}", record)
    ident = None
    if id_field is not None:
        if row.get(id_field) is None:
            return InputError(path, f"no field {id_field!r} (the --id-field)", record)
        ident = row[id_field]
    return Document(path, value, record, ident)


def iter_parquet(path: str, text_field: str = "text", id_field: str | None = None) -> Iterator[Document | InputError]:
    """One :class:`Document` per row of a Parquet file (rows numbered from 1), streamed in batches.

    Raises :class:`UsageError` when pyarrow is not installed and
    :class:`InputError` when the file is not Parquet or lacks the column.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow: pip install 'dedup[parquet]'") from None
    try:
        pf = pq.ParquetFile(path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as e:
        raise InputError(path, f"cannot read: {_os_why(e)}") from None
    except (pa.ArrowException, ValueError) as e:
        raise InputError(path, f"not a Parquet file ({one_line(e)})") from None
    schema = pf.schema_arrow
    for name in (text_field, id_field):
        if name is not None and name not in schema.names:
            flag = "--text-field" if name == text_field else "--id-field"
            raise InputError(path, f"no column {name!r} (columns: {_fields(schema.names)}); use {flag}")
    kind = schema.field(text_field).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise InputError(path, f"column {text_field!r} is {kind}, not a string")
    columns = [text_field] + ([id_field] if id_field is not None and id_field != text_field else [])
    record = 0
    try:
        for batch in pf.iter_batches(columns=columns, batch_size=8192):
            for row in batch.to_pylist():
                record += 1
                yield row_document(row, path, record, text_field, id_field)
    except (pa.ArrowException, OSError) as e:
        yield InputError(path, f"cannot read row {record + 1} onwards ({one_line(e)})")


@dataclass
class Corpus:
    """The documents read, and what was read and skipped on the way."""

    docs: list[Document] = field(default_factory=list)
    files: int = 0
    nbytes: int = 0
    skipped_files: int = 0
    skipped_records: int = 0

    @property
    def texts(self) -> list[str]:
        """The documents' texts, in input order."""
        return [d.text for d in self.docs]

    def summary(self, seconds: float, **counts: int) -> dict[str, Any]:
        """The ``summary`` object of the JSON reports (see docs/cli.md)."""
        return {
            "files": self.files,
            "bytes": self.nbytes,
            "documents": len(self.docs),
            **counts,
            "skipped_files": self.skipped_files,
            "skipped_records": self.skipped_records,
            "seconds": round(seconds, 3),
        }


def source_size(src: Source) -> int:
    """The size in bytes of a source on disk (0 for standard input or when it cannot be told)."""
    try:
        return 0 if src.path == STDIN else os.path.getsize(src.path)
    except OSError:
        return 0


def iter_records(
    src: Source,
    kind: str,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    text_field: str = "text",
    id_field: str | None = None,
) -> tuple[Iterator[Document | InputError], int]:
    """The records of one JSONL or Parquet source and its size in bytes.

    Raises :class:`InputError` when the source as a whole cannot be read.
    """
    if kind == "parquet":
        if src.path == STDIN:
            raise InputError(STDIN, "Parquet cannot be read from standard input; name the file")
        return iter_parquet(src.path, text_field, id_field), source_size(src)
    text, nbytes = read_text(src, encoding, errors)
    return iter_jsonl(text, src.path, text_field, id_field), nbytes


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _ignore(problem: object) -> None:
    return None


def load(
    paths: Sequence[str],
    *,
    kind: str | None = None,
    recursive: bool = False,
    glob: str | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
    text_field: str = "text",
    id_field: str | None = None,
    on_problem: Callable[[InputError], None] = _ignore,
    on_warning: Callable[[str], None] = _ignore,
    progress: Callable[[int], Any] | None = None,
) -> Corpus:
    """Read every input in ``paths``; bad inputs and records are skipped and counted.

    Parameters
    ----------
    paths
        Files, directories (their files matching ``glob``) or ``-`` for standard input.
    kind
        ``None`` (each file is one document), ``"jsonl"`` or ``"parquet"`` (each record is one).
    on_problem
        Called with each skipped input or record (at most :data:`MAX_RECORD_WARNINGS`
        records per file); raise from it to stop at the first problem.
    on_warning
        Called with one-line notes, such as how many more bad records a file had.
    progress
        Called with the total bytes to read; returns a context manager with
        ``update(nbytes)`` (a tqdm bar fits).

    Raises
    ------
    NothingRead
        When no document could be read.

    >>> load(["no/such/file"])
    Traceback (most recent call last):
    ...
    dedup.formats.NothingRead: nothing could be read (1 input skipped)
    """
    sources, problems = find_sources(paths, recursive=recursive, glob=glob)
    corpus = Corpus()
    for problem in problems:
        corpus.skipped_files += 1
        on_problem(problem)
    bar = progress(sum(source_size(s) for s in sources)) if progress is not None else _NoBar()
    with bar:
        for src in sources:
            try:
                if kind is None:
                    text, nbytes = read_text(src, encoding, errors)
                    corpus.docs.append(Document(src.path, text, source=src))
                else:
                    items, nbytes = iter_records(
                        src, kind, encoding=encoding, errors=errors, text_field=text_field, id_field=id_field
                    )
                    bad = 0
                    for item in items:
                        if isinstance(item, InputError):
                            corpus.skipped_records += 1
                            bad += 1
                            if bad <= MAX_RECORD_WARNINGS:
                                on_problem(item)
                        else:
                            item.source = src
                            corpus.docs.append(item)
                    if bad > MAX_RECORD_WARNINGS:
                        on_warning(f"{src.path}: {bad - MAX_RECORD_WARNINGS} more bad records skipped")
            except InputError as e:
                corpus.skipped_files += 1
                on_problem(e)
                continue
            corpus.files += 1
            corpus.nbytes += nbytes
            bar.update(source_size(src))
    if not corpus.docs:
        if corpus.files:
            n = corpus.skipped_records
            raise NothingRead(f"no documents in the input ({n} bad record{'' if n == 1 else 's'} skipped)")
        n = corpus.skipped_files
        raise NothingRead(f"nothing could be read ({n} input{'' if n == 1 else 's'} skipped)")
    return corpus


def encode_text(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Text back to bytes with the encoding and error handler it was read with.

    With ``errors="surrogateescape"`` undecodable bytes round-trip exactly.

    >>> encode_text(decode(b"a\\xffb", "x", errors="surrogateescape"), errors="surrogateescape")
    b'a\\xffb'
    """
    return text.encode(encoding, errors)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    Readers see the old file or the complete new one, never a partial one;
    on any error the temporary file is removed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give it the permissions of a normal new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
