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

import bz2
import codecs
import contextlib
import gzip
import io
import json
import lzma
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import outputs
from .internal import one_line
from .outputs import write_atomic

__all__ = [
    "MAX_RECORD_WARNINGS",
    "STDIN",
    "Corpus",
    "Document",
    "InputError",
    "NothingRead",
    "Source",
    "UnreadablePart",
    "UsageError",
    "decode",
    "decode_line",
    "encode_text",
    "exact_codec",
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


class UnreadablePart(InputError):
    """Records lost because part of a file (a Parquet row group) cannot be read: the file cannot be copied whole."""


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


#: File name endings that mean a compressed file, and the compression.
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".xz": "xz"}
#: The first bytes of each compression's data (a check on the extension).
_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}
#: The kinds of input: a whole file is one document, or each JSON line / Parquet row is one.
KINDS = ("text", "jsonl", "parquet")
_JSONL_ENDINGS = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True)
class Format:
    """How a file is read: its ``kind`` (one of :data:`KINDS`) and ``compression`` (or ``None``).

    ``forced`` is true when the kind was given by the user rather than the file name.
    """

    kind: str
    compression: str | None = None
    forced: bool = False


def detect_format(path: str, kind: str | None = None) -> Format:
    """The format of ``path`` from its name; ``kind`` overrides the kind (``--input-format``).

    >>> detect_format("shards/part-0.jsonl.zst")
    Format(kind='jsonl', compression='zstd', forced=False)
    >>> detect_format("a.parquet"), detect_format("notes.txt.gz").compression
    (Format(kind='parquet', compression=None, forced=False), 'gzip')
    >>> detect_format("dump.txt", "jsonl").kind
    'jsonl'
    """
    name = _base_name(path)
    ending = os.path.basename(path).lower()[len(name) :]
    compression = COMPRESSIONS.get(ending)
    if kind is not None and kind != "auto":
        if kind not in KINDS:
            raise UsageError(f"unknown input format {kind!r} (one of: auto, {', '.join(KINDS)})")
        return Format(kind, compression, forced=True)
    if name.endswith(".parquet"):
        return Format("parquet", compression)
    if name.endswith(_JSONL_ENDINGS):
        return Format("jsonl", compression)
    return Format("text", compression)


def _base_name(path: str) -> str:
    """The file name without its compression ending, lower-cased."""
    name = os.path.basename(path).lower()
    for ending in COMPRESSIONS:
        if name.endswith(ending):
            return name[: -len(ending)]
    return name


def _os_why(err: OSError) -> str:
    return err.strerror or one_line(err)


def _unreadable_dirs(root: Path, recursive: bool) -> list[tuple[Path, str]]:
    """Directories under ``root`` (``root`` first, sub-directories with ``recursive``) that cannot be listed."""
    found: list[tuple[Path, str]] = []

    def failed(e: OSError) -> None:
        found.append((Path(e.filename) if e.filename else root, _os_why(e)))

    for _, dirs, _ in os.walk(root, onerror=failed):
        if not recursive:
            break
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # hidden directories are never walked
    return found


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
            unreadable = _unreadable_dirs(p, recursive)
            if unreadable and unreadable[0][0] == p:  # the directory named itself
                problems.append(InputError(arg, f"cannot read directory: {unreadable[0][1]}"))
                continue
            # A sub-directory that cannot be read is skipped and said, never silently left out.
            problems += [InputError(str(d), f"cannot read directory: {why}") for d, why in unreadable]
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


def iter_lines(path: str, compression: str | None, *, consumed: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The lines of a file (or standard input) as bytes, decompressed on the fly.

    Unlike :func:`read_bytes`, the whole file is never held at once: the
    streaming readers (:mod:`dedup.stream`) use it for JSON Lines.
    ``consumed`` is told the bytes read from the file (compressed bytes for
    a compressed one) every 1024 lines and at the end, for a progress bar.
    """
    with contextlib.ExitStack() as stack:
        raw: Any = sys.stdin.buffer if path == STDIN else stack.enter_context(open(path, "rb"))
        if compression == "gzip":
            f: Any = stack.enter_context(gzip.GzipFile(fileobj=raw))
        elif compression == "bz2":
            f = stack.enter_context(bz2.BZ2File(raw))
        elif compression == "xz":
            f = stack.enter_context(lzma.LZMAFile(raw))
        elif compression == "zstd":
            import zstandard

            f = stack.enter_context(io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw)))
        else:
            f = raw
        if consumed is None or path == STDIN:
            yield from f
            return
        told = 0
        for k, line in enumerate(f, 1):
            yield line
            if not k & 1023:
                now = raw.tell()
                consumed(now - told)
                told = now
        consumed(raw.tell() - told)


#: Bytes read, and decompressed, at a time from a shard by :func:`iter_chunks`.
CHUNK_BYTES = 1 << 20


def _decoding_errors() -> tuple[type[BaseException], ...]:
    """What the decompressors raise on truncated or corrupt data."""
    import zlib

    errors: list[type[BaseException]] = [OSError, EOFError, ValueError, lzma.LZMAError, zlib.error]
    with contextlib.suppress(ImportError):
        from isal import isal_zlib

        errors.append(isal_zlib.error)  # type: ignore[arg-type]  # an exception class, typed loosely by isal
    with contextlib.suppress(ImportError):
        import zstandard

        errors.append(zstandard.ZstdError)
    return tuple(errors)


class _Prefixed(io.RawIOBase):
    """A binary file whose first bytes (already read, to check them) are given back first."""

    def __init__(self, head: bytes, rest: Any) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if len(self._head):
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        return int(self._rest.readinto(b) or 0)


def _read_head(f: Any, n: int) -> bytes:
    """The first ``n`` bytes of ``f`` (fewer only at its end; a pipe may give them in pieces)."""
    head = b""
    while len(head) < n:
        more = f.read(n - len(head))
        if not more:
            break
        head += more
    return head


def _refuse_compressed(head: bytes, path: str) -> None:
    for name, magic in _MAGIC.items():
        if head.startswith(magic):
            endings = ", ".join(e for e, c in COMPRESSIONS.items() if c == name)
            raise InputError(path, f"{name}-compressed data; name the file with its extension ({endings})")


def _zstd_chunks(f: Any, size: int) -> Iterator[bytes]:
    """Decompressed zstd data, frame after frame; a frame that does not end is an error."""
    import zstandard

    dctx = zstandard.ZstdDecompressor()
    obj, fed = dctx.decompressobj(), False
    while True:
        data = f.read(size)
        if not data:
            break
        while data:
            fed = True
            out = obj.decompress(data)
            if out:
                yield out
            if not obj.eof:
                break
            data, obj, fed = obj.unused_data, dctx.decompressobj(), False
    if fed:
        raise ValueError("data ends inside a frame")


def _gzip_chunks(f: Any, size: int) -> Iterator[bytes]:
    """Decompressed gzip data, member after member, at most ``size`` bytes a piece; a member must end.

    Everything up to where the data breaks off is given before the error, so
    that the error can name the record it broke in.
    """
    z: Any
    try:  # ISA-L's inflate: the same format, 2-3x faster than zlib's
        from isal import isal_zlib as z
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        import zlib as z
    d, fed = z.decompressobj(31), False
    while data := f.read(size):
        while data:
            if not fed and not data.startswith(_MAGIC["gzip"]) and not data.strip(b"\0"):
                data = b""  # zero padding after the last member, as gzip allows
                break
            fed = True
            out = d.decompress(data, size)
            if out:
                yield out
            if d.eof:
                data, d, fed = d.unused_data, z.decompressobj(31), False
            else:
                data = d.unconsumed_tail
    if fed:
        raise EOFError("the data ends inside a gzip member")


def iter_chunks(
    src: Source, compression: str | None, *, size: int = CHUNK_BYTES, consumed: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """The bytes of a source, decompressed, about ``size`` at a time: the whole file is never held.

    The data must start like ``compression`` says (plain data must not start
    like a compressed one); truncated or corrupt data is an :class:`InputError`
    when it is met. ``consumed`` is called with the bytes read from the file
    since its last call (for progress over the file's size on disk).

    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.gz")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(gzip.compress(b"x" * 10))
    >>> chunks = list(iter_chunks(Source(path, "a.gz"), "gzip", size=4))
    >>> b"".join(chunks), max(len(c) for c in chunks)
    (b'xxxxxxxxxx', 4)
    """
    with contextlib.ExitStack() as stack:
        try:
            raw: Any = sys.stdin.buffer if src.path == STDIN else stack.enter_context(open(src.path, "rb"))
            head = _read_head(raw, 8)
        except IsADirectoryError:
            raise InputError(src.path, "is a directory (name it as a directory argument)") from None
        except OSError as e:
            raise InputError(src.path, f"cannot read: {_os_why(e)}") from None
        told = 0

        def tell() -> None:
            nonlocal told
            if consumed is not None and src.path != STDIN:
                now = raw.tell()
                consumed(now - told)
                told = now

        if compression is None:
            _refuse_compressed(head, src.path)
            if head:
                yield head
            while more := raw.read(size):
                yield more
                tell()
            return
        if not head:
            return  # an empty file is an empty text, compressed or not
        if not head.startswith(_MAGIC[compression]):
            raise InputError(src.path, f"not {compression} data although the name says so; rename the file")
        f = io.BufferedReader(_Prefixed(head, raw), size)
        try:
            if compression in ("zstd", "gzip"):
                for chunk in (_zstd_chunks if compression == "zstd" else _gzip_chunks)(f, size):
                    yield chunk
                    tell()
                return
            reader = bz2.BZ2File(f) if compression == "bz2" else lzma.LZMAFile(f)  # noqa: SIM115 - f is closed
            while chunk := reader.read(size):
                yield chunk
                tell()
        except _decoding_errors() as e:
            raise InputError(src.path, f"truncated or corrupt {compression} data ({one_line(e)})") from None


def iter_raw_lines(
    src: Source,
    compression: str | None,
    *,
    on_chunk: Callable[[bytes], None] | None = None,
    consumed: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The lines of a source as ``data.split(b"\\n")`` gives them, read and decompressed incrementally.

    Only one chunk (and the line being read) is held at a time, so a shard
    larger than memory can be read; ``b"\\n".join`` of the lines is the data.
    ``on_chunk`` sees every decompressed chunk (to count or copy them). An
    :class:`InputError` raised on the way (truncated data) names the line
    that was being read.
    """
    pending: list[bytes] = []
    lineno = 0
    try:
        for chunk in iter_chunks(src, compression, consumed=consumed):
            if on_chunk is not None:
                on_chunk(chunk)
            if b"\n" not in chunk:
                pending.append(chunk)  # a long line: its pieces are joined once, at its end
                continue
            lines = chunk.split(b"\n")
            if pending:
                pending.append(lines[0])
                lines[0] = b"".join(pending)
            pending = [lines.pop()]
            lineno += len(lines)
            yield from lines
    except InputError as e:
        if e.line is not None:
            raise
        raise InputError(e.path, e.why, lineno + 1) from None
    yield b"".join(pending)


def read_bytes(src: Source, compression: str | None = None) -> bytes:
    """The bytes of a source (standard input is read once, to the end), decompressed.

    ``compression`` (``gzip``, ``zstd``, ``bz2``, ``xz``) comes from the file
    name (:func:`detect_format`); the data must start like it, and truncated
    or corrupt data is an :class:`InputError`, never a partial text.
    """
    if src.path == STDIN:
        raw = sys.stdin.buffer.read()
    else:
        try:
            with open(src.path, "rb") as f:
                raw = f.read()
        except IsADirectoryError:
            raise InputError(src.path, "is a directory (name it as a directory argument)") from None
        except OSError as e:
            raise InputError(src.path, f"cannot read: {_os_why(e)}") from None
    if compression is None:
        for name, magic in _MAGIC.items():
            if raw.startswith(magic):
                endings = ", ".join(e for e, c in COMPRESSIONS.items() if c == name)
                raise InputError(src.path, f"{name}-compressed data; name the file with its extension ({endings})")
        return raw
    return decompress(raw, compression, src.path)


def decompress(raw: bytes, compression: str, path: str) -> bytes:
    """``raw`` decompressed; :class:`InputError` when it is not whole ``compression`` data.

    >>> decompress(gzip.compress(b"hi"), "gzip", "a.gz")
    b'hi'
    >>> decompress(gzip.compress(b"hi")[:-4], "gzip", "a.gz")
    Traceback (most recent call last):
    ...
    dedup.formats.InputError: a.gz: truncated or corrupt gzip data (...)
    """
    if not raw:
        return raw  # an empty file is an empty text, compressed or not
    if not raw.startswith(_MAGIC[compression]):
        raise InputError(path, f"not {compression} data although the name says so; rename the file")
    try:
        if compression == "gzip":
            return gzip.decompress(raw)
        if compression == "bz2":
            return bz2.decompress(raw)
        if compression == "xz":
            return lzma.decompress(raw)
        return _zstd_decompress(raw)
    except (OSError, EOFError, ValueError, lzma.LZMAError) as e:
        raise InputError(path, f"truncated or corrupt {compression} data ({one_line(e)})") from None


def _zstd_decompress(raw: bytes) -> bytes:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - a runtime dependency
        raise UsageError("reading .zst files needs zstandard: pip install zstandard") from None
    try:
        out = bytearray()
        dctx = zstandard.ZstdDecompressor()
        pos = 0
        # Frame by frame (concatenated shards are common); each frame must end.
        while pos < len(raw):
            obj = dctx.decompressobj()
            out += obj.decompress(raw[pos:])
            if not obj.eof:
                raise ValueError("data ends inside a frame")
            pos = len(raw) - len(obj.unused_data)
        return bytes(out)
    except zstandard.ZstdError as e:
        raise ValueError(str(e)) from None


#: ISA-L gzip level of written shards: on text 3% larger than zlib's level 3, and 6x faster.
GZIP_LEVEL = 2


@contextlib.contextmanager
def compressing(f: Any, compression: str | None) -> Iterator[Any]:
    """A binary file that writes to ``f`` compressed like an input was (``None``: as is).

    Written as a stream: the output is never held whole. Closing the block
    ends the compressed data (``f`` itself stays open).
    """
    if compression is None:
        yield f
        return
    if compression == "gzip":
        try:
            from isal import igzip

            out: Any = igzip.GzipFile(filename="", fileobj=f, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
        except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
            out = gzip.GzipFile(filename="", fileobj=f, mode="wb", compresslevel=3, mtime=0)
    elif compression == "bz2":
        out = bz2.BZ2File(f, "wb")
    elif compression == "xz":
        out = lzma.LZMAFile(f, "wb")  # noqa: SIM115 - closed by the with below
    else:
        import zstandard

        out = zstandard.ZstdCompressor(level=3).stream_writer(f, closefd=False)
    with out:
        yield out


def compress(data: bytes, compression: str | None) -> bytes:
    """``data`` compressed like an input was (``None``: as is).

    >>> decompress(compress(b"abc", "zstd"), "zstd", "x.zst")
    b'abc'
    """
    if compression is None:
        return data
    if compression == "gzip":
        try:
            from isal import igzip
        except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
            # Level 3: 2% larger than gzip's default 6 on text, and 2.7x faster.
            return gzip.compress(data, compresslevel=3, mtime=0)
        return bytes(igzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))
    if compression == "bz2":
        return bz2.compress(data)
    if compression == "xz":
        return lzma.compress(data)
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def _wide_unicode(encoding: str) -> bool:
    name = codecs.lookup(encoding).name
    return name.startswith(("utf-16", "utf-32"))


def decode(data: bytes, path: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Bytes to text, refusing binary data with a clear reason (empty data is an empty text).

    No newline translation: ``\\r\\n`` stays ``\\r\\n``, so offsets are exact.

    >>> decode(b"caf\\xc3\\xa9\\r\\n", "a.txt")
    'café\\r\\n'
    >>> decode(b"ok\\n\\xff", "a.txt")
    Traceback (most recent call last):
    ...
    dedup.formats.InputError: a.txt:2: not valid utf-8 (invalid start byte, byte 0xff at offset 3); use --encoding ...

    """
    if not data:
        return ""  # an empty file is valid input, with nothing in it
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


def exact_codec(data: bytes, encoding: str) -> str:
    """The codec that reads ``data`` as ``encoding`` does and writes the text back to the same bytes.

    ``utf-16`` and ``utf-32`` decide the byte order from the byte order mark
    (and drop it), and always write a little-endian one: the exact codec is
    the one with the input's byte order fixed (``utf-16-be``...), which keeps
    the mark in the text as U+FEFF (as ``utf-8`` does) and writes it back.
    Without a mark the order is the one the generic codec assumed (this
    machine's). ``utf-8-sig`` would add a mark the input may not have.

    >>> exact_codec(codecs.BOM_UTF16_BE + "hi".encode("utf-16-be"), "utf-16")
    'utf-16-be'
    >>> exact_codec(b"", "utf-8-sig"), exact_codec(b"abc", "latin-1")
    ('utf-8', 'latin-1')
    """
    name = codecs.lookup(encoding).name
    if name in ("utf-16", "utf-32"):
        le, be = (
            (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
            if name == "utf-16"
            else (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
        )
        if data.startswith(be):
            return f"{name}-be"
        if data.startswith(le):
            return f"{name}-le"
        return f"{name}-{'le' if sys.byteorder == 'little' else 'be'}"
    if name == "utf-8-sig":
        return "utf-8"
    return encoding


def read_text(
    src: Source, encoding: str = "utf-8", errors: str = "strict", compression: str | None = None
) -> tuple[str, int]:
    """The decoded text of a source and its size in bytes (decompressed).

    Decoded with :func:`exact_codec`, so that :func:`encode_text` with that
    codec gives back the same bytes (a byte order mark stays as U+FEFF).
    """
    data = read_bytes(src, compression)
    return decode(data, src.path, exact_codec(data, encoding), errors), len(data)


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
        if lineno == 1 and line.startswith("\ufeff"):
            line = line[1:]  # a UTF-8 byte order mark is not part of the first record
        if not line.strip():
            continue
        row = parse_json_line(line, path, lineno)
        if isinstance(row, InputError):
            yield row
            continue
        if not isinstance(row, dict):
            yield InputError(path, "not a JSON object", lineno)
            continue
        yield row_document(row, path, lineno, text_field, id_field)


def decode_line(raw: bytes, path: str, lineno: int, encoding: str = "utf-8", errors: str = "strict") -> str:
    """One line's bytes (of a JSON Lines file) as text; raises the reader's :class:`InputError`.

    >>> decode_line(b"caf\\xc3\\xa9", "a.jsonl", 1)
    'café'
    >>> decode_line(b"ok \\xff", "a.jsonl", 3)
    Traceback (most recent call last):
    ...
    dedup.formats.InputError: a.jsonl:3: not valid utf-8 (invalid start byte, byte 0xff at column 4 of the line); ...
    """
    try:
        return raw.decode(encoding, errors)
    except UnicodeDecodeError as e:
        name = codecs.lookup(encoding).name
        raise InputError(
            path,
            f"not valid {name} ({e.reason}, byte 0x{raw[e.start]:02x} at column {e.start + 1} of the line);"
            " use --encoding ENC or --errors replace",
            lineno,
        ) from None


def parse_json_line(line: str, path: str, lineno: int) -> Any:
    """The JSON value of one line, or the :class:`InputError` saying why it has none.

    Numbers too long for Python and nesting too deep are bad records like any
    other, not a reason to stop (issue 16, finding 4).

    >>> str(parse_json_line("[" * 100000, "a.jsonl", 7))
    'a.jsonl:7: not valid JSON (nested too deeply)'
    """
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        return InputError(path, f"not valid JSON ({e.msg} at column {e.colno})", lineno)
    except RecursionError:
        return InputError(path, "not valid JSON (nested too deeply)", lineno)
    except ValueError as e:  # e.g. an integer longer than sys.get_int_max_str_digits()
        return InputError(path, f"not valid JSON ({one_line(e)})", lineno)


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


def is_string_type(kind: Any) -> bool:
    """Whether an Arrow type holds strings (plain, large, view, or dictionary-encoded strings)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind))


def open_parquet(path: str, data: bytes | None = None) -> Any:
    """A ``pyarrow.parquet.ParquetFile`` for ``path`` (or for ``data``, its decompressed bytes)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading Parquet needs pyarrow: pip install 'dedup[parquet]'") from None
    try:
        return pq.ParquetFile(pa.BufferReader(data) if data is not None else path)
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as e:
        if e.strerror:
            raise InputError(path, f"cannot read: {e.strerror}") from None
        raise InputError(path, f"not a Parquet file ({one_line(e)}); use --input-format to say what it is") from None
    except (pa.ArrowException, ValueError) as e:
        raise InputError(path, f"not a Parquet file ({one_line(e)}); use --input-format to say what it is") from None


def iter_parquet(
    path: str, text_field: str = "text", id_field: str | None = None, *, data: bytes | None = None
) -> Iterator[Document | InputError]:
    """One :class:`Document` per row of a Parquet file (rows numbered from 1), row group by row group.

    A row group that cannot be read is skipped: one :class:`InputError` per
    lost row (their numbers stay those of the file), and the other groups are
    still read (issue 16, finding 5). Raises :class:`UsageError` when pyarrow
    is not installed and :class:`InputError` when the file is not Parquet or
    lacks the column.
    """
    import pyarrow as pa

    pf = open_parquet(path, data)
    schema = pf.schema_arrow
    for name in (text_field, id_field):
        if name is not None and name not in schema.names:
            flag = "--text-field" if name == text_field else "--id-field"
            raise InputError(path, f"no column {name!r} (columns: {_fields(schema.names)}); use {flag}")
    kind = schema.field(text_field).type
    if not is_string_type(kind):
        raise InputError(path, f"column {text_field!r} is {kind}, not a string")
    columns = [text_field] + ([id_field] if id_field is not None and id_field != text_field else [])
    record = 0
    for group in range(pf.num_row_groups):
        rows = pf.metadata.row_group(group).num_rows
        try:
            table = pf.read_row_group(group, columns=columns)
            if table.num_rows != rows:
                raise ValueError(f"{table.num_rows} rows read of {rows}")
            values = table.to_pylist()
        except (pa.ArrowException, OSError, ValueError) as e:
            why = f"row group {group + 1} cannot be read ({one_line(e)}); its {rows} rows skipped"
            yield UnreadablePart(path, why, record + 1)
            for lost in range(record + 2, record + rows + 1):
                yield UnreadablePart(path, f"in unreadable row group {group + 1}", lost)
            record += rows
            continue
        for row in values:
            record += 1
            yield row_document(row, path, record, text_field, id_field)


@dataclass
class Corpus:
    """The documents read, and what was read and skipped on the way."""

    docs: list[Document] = field(default_factory=list)
    files: int = 0
    nbytes: int = 0
    skipped_files: int = 0
    skipped_records: int = 0
    #: Files with unreadable parts (their lost records are counted in ``skipped_records``).
    damaged: set[str] = field(default_factory=set)
    #: The files read (in order) and the format each was read in (by path as shown).
    sources: list[Source] = field(default_factory=list)
    formats: dict[str, Format] = field(default_factory=dict)
    #: The codec each whole-file text was decoded with (:func:`exact_codec`), to write it back alike.
    codecs: dict[str, str] = field(default_factory=dict)
    #: Decompressed copies of compressed (or standard input) JSONL shards, by path, when ``load`` made them.
    plain: dict[str, str] = field(default_factory=dict)

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


class ShardReader:
    """The records of one JSONL or Parquet source, read as they are iterated.

    JSON Lines are read line by line from the (decompressed) stream of
    :func:`iter_raw_lines`: the reader never holds the shard, only the line
    being parsed. Parquet is read row group by row group. ``nbytes`` is the
    decompressed size read so far (the whole size once iterated). Iterating
    raises :class:`InputError` when the source as a whole cannot be read
    (truncated data naming the record it broke in, text that is not
    ``encoding``, a Parquet file named as JSON Lines...).

    ``plain`` (a binary file) receives a copy of the decompressed bytes, so
    that a cleaned copy can be written without decompressing the shard again.
    ``consumed`` is called with bytes read from disk, for progress bars.
    """

    def __init__(
        self,
        src: Source,
        fmt: Format,
        *,
        encoding: str = "utf-8",
        errors: str = "strict",
        text_field: str = "text",
        id_field: str | None = None,
        plain: Any = None,
        consumed: Callable[[int], None] | None = None,
    ) -> None:
        self.src, self.fmt = src, fmt
        self.encoding, self.errors = encoding, errors
        self.text_field, self.id_field = text_field, id_field
        self.plain, self.consumed = plain, consumed
        self.nbytes = 0

    def __iter__(self) -> Iterator[Document | InputError]:
        src, fmt = self.src, self.fmt
        if fmt.kind == "parquet":
            if src.path == STDIN:
                raise InputError(STDIN, "Parquet cannot be read from standard input; name the file")
            if fmt.compression is None:
                self.nbytes = source_size(src)
                yield from iter_parquet(src.path, self.text_field, self.id_field)
            else:
                data = read_bytes(src, fmt.compression)
                self.nbytes = len(data)
                yield from iter_parquet(src.path, self.text_field, self.id_field, data=data)
            if self.consumed is not None:
                self.consumed(source_size(src))
            return
        if _wide_unicode(self.encoding):
            raise InputError(src.path, f"JSON Lines are read as UTF-8, not {self.encoding}; drop --encoding")
        yield from self._jsonl()

    def _count(self, chunk: bytes) -> None:
        self.nbytes += len(chunk)
        if self.plain is not None:
            self.plain.write(chunk)

    def _jsonl(self) -> Iterator[Document | InputError]:
        path, encoding, errors = self.src.path, self.encoding, self.errors
        may_be_array = not self.fmt.forced and _base_name(path).endswith(".json")
        lines = iter_raw_lines(self.src, self.fmt.compression, on_chunk=self._count, consumed=self.consumed)
        offset = 0  # of the line in the data, while its start is looked at for binary data
        for lineno, raw in enumerate(lines, 1):
            if lineno == 1:
                if raw[:4] == b"PAR1":
                    raise InputError(path, "a Parquet file, not JSON Lines; use --input-format parquet")
                if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
                    raise InputError(path, "looks like UTF-16 (byte order mark); use --encoding utf-16")
                if raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # a UTF-8 byte order mark is not part of the first record
                if may_be_array and raw.lstrip(b" \t\r")[:1] == b"[":
                    raise InputError(
                        path, "a JSON array, not JSON Lines; use --input-format text to read it as one text"
                    )
            if offset < BINARY_SNIFF:
                if b"\x00" in raw[: BINARY_SNIFF - offset]:
                    raise InputError(path, "binary file (NUL bytes), not text")
                offset += len(raw) + 1
            line = decode_line(raw, path, lineno, encoding, errors)
            if not line.strip():
                continue
            row = parse_json_line(line, path, lineno)
            del line
            if isinstance(row, InputError):
                yield row
            elif not isinstance(row, dict):
                yield InputError(path, "not a JSON object", lineno)
            else:
                yield row_document(row, path, lineno, self.text_field, self.id_field)


def iter_records(
    src: Source,
    fmt: Format,
    *,
    encoding: str = "utf-8",
    errors: str = "strict",
    text_field: str = "text",
    id_field: str | None = None,
) -> Iterator[Document | InputError]:
    """The records of one JSONL or Parquet source, read incrementally (see :class:`ShardReader`)."""
    return iter(ShardReader(src, fmt, encoding=encoding, errors=errors, text_field=text_field, id_field=id_field))


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _ignore(problem: object) -> None:
    return None


def _read_records(
    corpus: Corpus,
    src: Source,
    fmt: Format,
    bar: Any,
    plain_dir: str | os.PathLike | None,
    on_problem: Callable[[InputError], None],
    on_warning: Callable[[str], None],
    **options: Any,
) -> int:
    """Add the records of one JSONL or Parquet source to ``corpus``; its size in bytes (decompressed)."""
    with contextlib.ExitStack() as stack:
        plain = None
        if plain_dir is not None and fmt.kind == "jsonl" and (fmt.compression or src.path == STDIN):
            corpus.plain[src.path] = os.path.join(plain_dir, f"{len(corpus.plain)}.jsonl")
            plain = stack.enter_context(open(corpus.plain[src.path], "wb"))
        reader = ShardReader(src, fmt, plain=plain, consumed=bar.update, **options)
        bad = 0
        for item in reader:
            if isinstance(item, InputError):
                if isinstance(item, UnreadablePart):
                    corpus.damaged.add(src.path)
                corpus.skipped_records += 1
                bad += 1
                if bad <= MAX_RECORD_WARNINGS:
                    on_problem(item)
            else:
                item.source = src
                corpus.docs.append(item)
        if bad > MAX_RECORD_WARNINGS:
            on_warning(f"{src.path}: {bad - MAX_RECORD_WARNINGS} more bad records skipped")
        return reader.nbytes


def load(
    paths: Sequence[str],
    *,
    input_format: str | None = None,
    recursive: bool = False,
    glob: str | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
    text_field: str = "text",
    id_field: str | None = None,
    on_problem: Callable[[InputError], None] = _ignore,
    on_warning: Callable[[str], None] = _ignore,
    progress: Callable[[int], Any] | None = None,
    plain_dir: str | os.PathLike | None = None,
) -> Corpus:
    """Read every input in ``paths``; bad inputs and records are skipped and counted.

    Parameters
    ----------
    paths
        Files, directories (their files matching ``glob``) or ``-`` for standard input.
    input_format
        ``None`` or ``"auto"``: each file's format from its name (:func:`detect_format`);
        ``"text"`` (each file is one document), ``"jsonl"`` or ``"parquet"`` (each record is one)
        for every file. Compression always follows the name.
    on_problem
        Called with each skipped input or record (at most :data:`MAX_RECORD_WARNINGS`
        records per file); raise from it to stop at the first problem.
    on_warning
        Called with one-line notes, such as how many more bad records a file had.
    progress
        Called with the total bytes to read; returns a context manager with
        ``update(nbytes)`` (a tqdm bar fits).
    plain_dir
        A directory where the decompressed bytes of each compressed (or
        standard input) JSONL shard are copied as it is read
        (:attr:`Corpus.plain`), so that :func:`write_like` can copy its
        untouched lines without decompressing it again.

    JSON Lines and Parquet are read record by record (:class:`ShardReader`):
    memory holds the documents' texts, not the shards they came from.

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
            fmt = detect_format(src.path, input_format)
            corpus.formats[src.path] = fmt
            docs_before, skipped_before = len(corpus.docs), corpus.skipped_records
            try:
                if fmt.kind == "text":
                    data = read_bytes(src, fmt.compression)
                    corpus.codecs[src.path] = exact_codec(data, encoding)
                    text, nbytes = decode(data, src.path, corpus.codecs[src.path], errors), len(data)
                    del data
                    corpus.docs.append(Document(src.path, text, source=src))
                    bar.update(source_size(src))
                else:
                    nbytes = _read_records(
                        corpus, src, fmt, bar, plain_dir, on_problem, on_warning,
                        encoding=encoding, errors=errors, text_field=text_field, id_field=id_field,
                    )  # fmt: skip
            except InputError as e:
                # The file is skipped whole: forget what was read of it before it broke.
                del corpus.docs[docs_before:]
                corpus.skipped_records = skipped_before
                corpus.damaged.discard(src.path)
                if src.path in corpus.plain:
                    with contextlib.suppress(OSError):
                        os.unlink(corpus.plain.pop(src.path))
                corpus.skipped_files += 1
                on_problem(e)
                continue
            corpus.files += 1
            corpus.sources.append(src)
            corpus.nbytes += nbytes
    if not corpus.docs and not (corpus.files and not corpus.skipped_records):
        # Files whose records were all bad are a problem; files with no records (a 0-row
        # Parquet file, issue 16 finding 14) are valid input with nothing in them.
        if corpus.files:
            n = corpus.skipped_records
            raise NothingRead(f"no documents in the input ({n} bad record{'' if n == 1 else 's'} skipped)")
        n = corpus.skipped_files
        raise NothingRead(f"nothing could be read ({n} input{'' if n == 1 else 's'} skipped)")
    return corpus


# ---------------------------------------------------------------- writing datasets back

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def json_field_span(line: str, name: str) -> tuple[int, int] | None:
    """Where the value of top-level field ``name`` is in a JSON object ``line`` (the last one, as json.loads).

    Lets a record be rewritten with only that value changed, every other byte kept.

    >>> line = '{"id": 1, "text": "a b",  "x": [1]}'
    >>> start, end = json_field_span(line, "text")
    >>> line[start:end]
    '"a b"'
    """
    i = _WS.match(line, 0).end()  # type: ignore[union-attr]
    if line[i : i + 1] != "{":
        raise ValueError("not a JSON object")
    i = _WS.match(line, i + 1).end()  # type: ignore[union-attr]
    span = None
    if line[i : i + 1] == "}":
        return None
    while True:
        if line[i : i + 1] != '"':
            raise ValueError(f"expected a key at column {i + 1}")
        key, i = json.decoder.scanstring(line, i + 1)  # type: ignore[attr-defined]
        i = _WS.match(line, i).end()  # type: ignore[union-attr]
        if line[i : i + 1] != ":":
            raise ValueError(f"expected ':' at column {i + 1}")
        i = _WS.match(line, i + 1).end()  # type: ignore[union-attr]
        _, end = _DECODER.raw_decode(line, i)
        if key == name:
            span = (i, end)
        i = _WS.match(line, end).end()  # type: ignore[union-attr]
        if line[i : i + 1] == ",":
            i = _WS.match(line, i + 1).end()  # type: ignore[union-attr]
            continue
        if line[i : i + 1] == "}":
            return span
        raise ValueError(f"expected ',' or '}}' at column {i + 1}")


def replace_json_field(line: str, name: str, value: str) -> str:
    """``line`` (a JSON object) with the string value of field ``name`` replaced, nothing else changed.

    >>> replace_json_field('{"b": 2, "text": "old",\t"a": null}', "text", "new é")
    '{"b": 2, "text": "new é",\t"a": null}'
    """
    span = json_field_span(line, name)
    if span is None:
        raise ValueError(f"no field {name!r}")
    try:
        encoded = json.dumps(value, ensure_ascii=False)
        encoded.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (from \ud800 escapes) stay escapes
        encoded = json.dumps(value)
    return line[: span[0]] + encoded + line[span[1] :]


@dataclass
class Written:
    """What :func:`write_like` wrote: records in and out, bytes out, and the records it dropped."""

    records_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    #: ``(record, data)`` of each dropped record: the parsed JSON object or the Parquet row.
    dropped: list[tuple[int | None, Any]] = field(default_factory=list)


def write_like(
    src: Source,
    fmt: Format,
    target: Path,
    changes: Mapping[int | None, str | None],
    *,
    text_field: str = "text",
    encoding: str = "utf-8",
    errors: str = "strict",
    text: str | None = None,
    plain: str | None = None,
    consumed: Callable[[int], None] | None = None,
    on_dropped: Callable[[int | None, Any], None] | None = None,
) -> Written:
    """Write the cleaned copy of ``src`` to ``target``, in its own format and compression.

    ``changes`` maps a record number (``None`` for a whole-file text) to its
    new text, or to ``None`` when the record is dropped; records not in it
    are copied unchanged. JSON Lines: untouched lines byte for byte, changed
    ones with only the text value rewritten (other fields, their order and
    spacing kept). Parquet: the same schema and metadata, the same codec,
    only the text column changed. ``text`` is the decoded text of a
    whole-file source (saves reading it again); ``plain`` the decompressed
    copy of a JSONL shard that :func:`load` made (saves decompressing it
    again). JSON Lines are read and written as a stream (one chunk at a time),
    ``consumed`` is told the bytes read as it goes (for a progress bar),
    and every output is written atomically. ``on_dropped(record, data)``,
    when given, receives each dropped record instead of
    :attr:`Written.dropped` (which then stays empty: a stream of drops is not
    held), and ``changes`` may be any mapping (a cleaner streaming a dump
    computes each new text when asked for it).
    """
    written = Written()

    def drop(record: int | None, data: Any) -> None:
        written.dropped.append((record, data))

    dropped = on_dropped if on_dropped is not None else drop
    if fmt.kind == "parquet":
        return _write_parquet_like(src, fmt, target, changes, text_field, written, dropped)
    if fmt.kind == "text":
        written.records_in = 1
        if None in changes and changes[None] is None:
            dropped(None, None)
            return written
        new = changes.get(None, text)
        if new is None:
            new = decode(read_bytes(src, fmt.compression), src.path, encoding, errors)
        data = compress(encode_text(new, encoding, errors), fmt.compression)
        write_atomic(target, data)
        written.records_out, written.bytes_out = 1, len(data)
        return written
    if plain is not None:
        src, compression = Source(plain, src.rel), None  # the copy load made: not decompressed again
    else:
        compression = fmt.compression
    with outputs.open_atomic(target) as f:
        with compressing(f, fmt.compression) as w:
            batch: list[bytes] = []
            held = 0
            for number, line in enumerate(iter_raw_lines(src, compression, consumed=consumed), 1):
                if line.strip():
                    written.records_in += 1
                if number in changes:
                    new = changes[number]
                    decoded = line.decode(encoding, errors)
                    bom = "\ufeff" if number == 1 and decoded.startswith("\ufeff") else ""
                    decoded = decoded[len(bom) :]
                    if new is None:
                        dropped(number, json.loads(decoded))
                        continue
                    line = (bom + replace_json_field(decoded, text_field, new)).encode(encoding, errors)
                if line.strip():
                    written.records_out += 1
                batch.append(line)
                held += len(line)
                if held >= CHUNK_BYTES:
                    # The last line waits: what follows it (a newline, or nothing) depends on the lines after.
                    w.write(b"\n".join(batch[:-1]) + b"\n")
                    batch, held = batch[-1:], len(line)
            w.write(b"\n".join(batch))
        written.bytes_out = f.tell()
    return written


def _write_parquet_like(
    src: Source,
    fmt: Format,
    target: Path,
    changes: Mapping[int | None, str | None],
    text_field: str,
    written: Written,
    dropped: Callable[[int | None, Any], None],
) -> Written:
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = read_bytes(src, fmt.compression) if fmt.compression else None
    pf = open_parquet(src.path, data)
    try:
        table = pf.read()
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InputError(src.path, f"cannot copy: part of the file is unreadable ({one_line(e)})") from None
    written.records_in = table.num_rows
    index = table.schema.get_field_index(text_field)
    column = table.column(index)
    if any(v is not None for v in changes.values()):
        values = column.to_pylist()
        for record, new in changes.items():
            if new is not None and record is not None:
                values[record - 1] = new
        kind = column.type
        if pa.types.is_dictionary(kind):
            array = pa.array(values, type=kind.value_type).dictionary_encode().cast(kind)
        else:
            array = pa.array(values, type=kind)
        table = table.set_column(index, table.schema.field(index), array)
    drop = sorted(r for r, new in changes.items() if new is None and r is not None)
    if drop:
        mask = pa.array(_keep_mask(table.num_rows, [r - 1 for r in drop]))
        for r in drop:
            dropped(r, _jsonable(table.slice(r - 1, 1).to_pylist()[0]))
        table = table.filter(mask)
    meta = pf.metadata
    codec = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups else "snappy"
    group_rows = max(1, meta.row_group(0).num_rows) if meta.num_row_groups else None
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="none" if codec == "uncompressed" else codec,
        row_group_size=group_rows,
        version=meta.format_version if meta.format_version in ("1.0", "2.4", "2.6") else "2.6",
    )
    out = compress(sink.getvalue().to_pybytes(), fmt.compression)
    write_atomic(target, out)
    written.records_out, written.bytes_out = table.num_rows, len(out)
    return written


def _keep_mask(n: int, dropped: Sequence[int]) -> Any:
    """A boolean keep-mask of ``n`` entries, false at ``dropped``."""
    import numpy as np

    mask = np.ones(n, dtype=bool)
    mask[list(dropped)] = False
    return mask


def _jsonable(value: Any) -> Any:
    """A Parquet row as JSON can hold it (bytes, dates and decimals as strings)."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def encode_text(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """Text back to bytes with the encoding and error handler it was read with.

    With ``errors="surrogateescape"`` undecodable bytes round-trip exactly.

    >>> encode_text(decode(b"a\\xffb", "x", errors="surrogateescape"), errors="surrogateescape")
    b'a\\xffb'
    """
    return text.encode(encoding, errors)
