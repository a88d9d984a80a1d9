"""A persistent near-duplicate index: deduplicate new documents against everything seen before.

:class:`Index` keeps, beside an embedded DuckDB file, the LSH band keys of
every document added (one row per document and band, in immutable sorted
runs searched by binary search) and what verification needs: the MinHash
signature of each document (fixed-size rows of a file addressed by document
number), and with ``verify="exact"`` also its shingle hashes. The texts
themselves are never stored. The DuckDB file holds the ids, the batches and
the commit record (which documents and runs exist); DuckDB won the
measurement of ``docs/index.md`` against SQLite.

Each :meth:`Index.add` is one transaction: the batch's files are written and
synced first, then one DuckDB commit makes them part of the index; a crash
(even ``kill -9``) leaves the index as it was before or after the whole
batch. One process writes at a time (a second writer waits up to
``timeout`` seconds, then gets :class:`IndexBusyError`). Readers
(``read_only=True``) never open the writer's DuckDB file for
:meth:`~Index.query` and :meth:`~Index.stats`: they read a small snapshot
manifest, replaced by an atomic rename after each commit, and the immutable
files it names, so they run while a writer holds the index.

>>> import tempfile, os, dedup
>>> tmp = tempfile.mkdtemp()
>>> old = ["the cat sat on the mat and then it slept all afternoon long",
...        "a completely different text about dogs barking in the yard at night"]
>>> with dedup.Index(os.path.join(tmp, "idx.duckdb")) as index:
...     index.add(old, ids=["a", "b"])
...     index.add(["The cat sat on the mat, and then it slept all afternoon long!",
...                "something new that nobody has written before in this index"], ids=["c", "d"])
[None, None]
[Duplicate(id='a', similarity=1.0), None]
>>> with dedup.Index(os.path.join(tmp, "idx.duckdb"), read_only=True) as index:
...     index.query(["the dogs barking in the yard at night: a completely different text"])
...     len(index), index.stats()["documents"]
[None]
(4, 4)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import math
import mmap
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from . import backend
from .documents import signatures
from .internal import batches, check_params, jaccard_sorted, one_line
from .lsh import band_keys, candidate_pairs, resolve_bands
from .minhash import EMPTY
from .sketch import shingle_hashes32
from .text import ShingleMode

__all__ = [
    "FORMAT_VERSION",
    "Duplicate",
    "Index",
    "IndexBusyError",
    "IndexError_",
    "IndexVersionError",
    "remove_index",
    "replace_index",
    "runs_dir",
]

#: On-disk format written by this version; an index with a larger number is refused, one of version 3 is
#: upgraded in place by the first writer that opens it, older ones are refused (with a clear error: see
#: :class:`IndexVersionError`). Version 2 added the sorted runs of band keys; version 3 moved the band rows
#: of every batch to runs, the signatures, shingle hashes and ids to files addressed by document number,
#: and added the readers' snapshot; version 4 replaced DuckDB's table of ids by sorted runs of id hashes.
FORMAT_VERSION = 4
#: The oldest format a writer upgrades in place (see :meth:`Index._upgrade`).
UPGRADABLE_VERSION = 3
#: Rows of a run read at a time when two runs are merged.
MERGE_CHUNK = 1 << 18
#: Bytes of a run's keys read into memory at a time by a lookup (see :func:`_lookup_run`), and of a mapped file
#: read between two releases of its pages (see :func:`_gather`).
LOOKUP_SPAN = 2 << 20
#: Candidates per new document and band: the most recent ones, as :func:`dedup.lsh.candidate_pairs`' window.
WINDOW = 32
IndexVerify = Literal["estimate", "exact"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class IndexError_(Exception):  # IndexError is a builtin with another meaning
    """The index cannot be used: not an index, wrong parameters, missing file."""


class IndexVersionError(IndexError_):
    """The index was written by a newer dedup (a larger format version).

    Parameters
    ----------
    *args : object
        The one-line message.
    **kwargs : object
        None are used (as for any exception).
    """


class IndexBusyError(IndexError_):
    """Another process holds the index for writing and did not release it within the timeout.

    Parameters
    ----------
    *args : object
        The one-line message.
    **kwargs : object
        None are used (as for any exception).
    """


class Duplicate(NamedTuple):
    """The earlier document a new one duplicates.

    Attributes
    ----------
    id : str
        The earlier document's id, as given to :meth:`Index.add`.
    similarity : float
        Exact Jaccard similarity (``verify="exact"``) or the MinHash estimate.
    """

    id: str
    similarity: float


class _Inside(NamedTuple):
    """A match with an earlier row of the same batch (its id is known to the caller only)."""

    row: int
    similarity: float


def _mixed_keys(keys: np.ndarray) -> np.ndarray:
    """One int64 per document and band, the band number mixed in (equal rows of two bands differ)."""
    band = np.arange(keys.shape[1], dtype=np.uint64)[None, :] + np.uint64(1)
    with np.errstate(over="ignore"):
        k = (keys ^ (band * _GOLDEN)) * np.uint64(0xBF58476D1CE4E5B9)
    k ^= k >> np.uint64(31)
    return k.view(np.int64)


class _Sets(NamedTuple):
    """Shingle hashes of a batch's documents: document ``d``'s are ``values[bounds[d]:bounds[d + 1]]``.

    As the shingler gives them: in text order, a repeated shingle repeated
    (set semantics come from :func:`_pair_jaccard`; sorting would cost more
    than the few repeats take on disk).
    """

    values: np.ndarray
    bounds: np.ndarray

    def blobs(self) -> list[bytes]:
        """One little-endian uint32 blob per document (the stored form)."""
        raw = self.values.astype("<u4", copy=False).tobytes()
        b = (self.bounds * 4).tolist()
        return [raw[lo:hi] for lo, hi in itertools.pairwise(b)]


def _shingle_sets(texts: list[str], ngram: int, mode: ShingleMode) -> _Sets:
    """Each text's 32-bit shingle hashes, from the compiled one-pass shingler."""
    values: list[np.ndarray] = []
    bounds: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    done = 0
    for chunk in batches(texts):  # about 1M characters: the shingler's buffers stay small
        hashes, chunk_bounds = shingle_hashes32(chunk, ngram=ngram, mode=mode)
        values.append(hashes)
        bounds.append(chunk_bounds[1:] + done)
        done += len(hashes)
    flat = np.concatenate(values) if values else np.zeros(0, np.uint32)
    return _Sets(flat.astype(np.uint32, copy=False), np.concatenate(bounds).astype(np.int64))


def _set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two arrays taken as sets (0.0 if either is empty)."""
    return jaccard_sorted(np.unique(a), np.unique(b))


def _pair_jaccard(values: np.ndarray, bounds: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the sets ``left[p]`` and ``right[p]`` of a flat batch of sets (compiled when available)."""
    if not len(left):
        return np.zeros(0)
    kernels = backend.kernels(len(values))
    if kernels is not None:
        return np.asarray(kernels.pair_jaccard(values, bounds, left, right))
    b = bounds.tolist()
    pairs = zip(left.tolist(), right.tolist())
    return np.array([_set_jaccard(values[b[i] : b[i + 1]], values[b[j] : b[j + 1]]) for i, j in pairs], dtype=float)


def _read_rows(path: Path, start: int, count: int) -> np.ndarray:
    """``count`` int64 values of a run file from row ``start`` (a plain read: nothing stays mapped)."""
    return np.fromfile(path, dtype="<i8", count=count, offset=8 * start)


def _write_run(directory: Path, name: str, keys: np.ndarray, docs: np.ndarray) -> None:
    """A run's two files, synced (they are referenced only by a later commit)."""
    for suffix, values in ((".keys", keys), (".docs", docs)):
        with open(directory / (name + suffix), "wb") as f:
            f.write(np.ascontiguousarray(values, dtype="<i8").tobytes())
            f.flush()
            os.fsync(f.fileno())


def _merge_runs(directory: Path, runs: list[dict[str, Any]], name: str) -> None:
    """Merge sorted runs into run ``name``, a chunk at a time (memory bounded by the chunk, not the runs).

    ``runs`` are given oldest first: every document of a run is later than those of the runs before it.

    Each step reads the next chunk of every run and writes the rows up to the smallest key that ends
    the chunk of a run not yet exhausted: every later row of any run has a larger key (rows equal to
    that key beyond a chunk's end are read too).
    """
    paths = [(directory / (r["name"] + ".keys"), directory / (r["name"] + ".docs")) for r in runs]
    sizes = [int(r["rows"]) for r in runs]
    at = [0] * len(runs)
    with open(directory / (name + ".keys"), "wb") as out_keys, open(directory / (name + ".docs"), "wb") as out_docs:
        while any(p < n for p, n in zip(at, sizes)):
            heads = [_read_rows(paths[r][0], at[r], min(MERGE_CHUNK, sizes[r] - at[r])) for r in range(len(runs))]
            ends = [int(h[-1]) for r, h in enumerate(heads) if len(h) and at[r] + len(h) < sizes[r]]
            bound = min(ends) if ends else None
            keys, docs = [], []
            for r, h in enumerate(heads):
                take = len(h) if bound is None else int(np.searchsorted(h, bound, side="right"))
                while bound is not None and take == len(h) and at[r] + take < sizes[r]:
                    more = _read_rows(paths[r][0], at[r] + take, min(MERGE_CHUNK, sizes[r] - at[r] - take))
                    equal = int(np.searchsorted(more, bound, side="right"))
                    h = np.concatenate([h, more[:equal]])
                    take = len(h)
                    if equal < len(more):
                        break
                keys.append(h[:take])
                docs.append(_read_rows(paths[r][1], at[r], take))
                at[r] += take
            k, d = np.concatenate(keys), np.concatenate(docs)
            # Runs come oldest first and hold later documents each, so a stable sort on the key
            # alone gives (key, doc) order; timsort merges the sorted pieces in linear time.
            order = np.argsort(k, kind="stable")
            out_keys.write(k[order].astype("<i8").tobytes())
            out_docs.write(d[order].astype("<i8").tobytes())
        for f in (out_keys, out_docs):
            f.flush()
            os.fsync(f.fileno())


def _lookup_run(directory: Path, run: dict[str, Any], keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(row, key, doc)`` of the stored rows of ``run`` with a probe's key: the ``WINDOW`` latest docs per probe.

    ``keys`` are sorted: each slice of them is searched in the region of the run its keys span, read into
    memory (about ``LOOKUP_SPAN`` bytes at a time); a region no probe falls in is never read.
    """
    path = directory / (run["name"] + ".keys")
    lo = np.empty(len(keys), dtype=np.int64)
    hi = np.empty(len(keys), dtype=np.int64)
    with open(path, "rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        # Probes are sorted, so a slice of them falls in one region of the run: the region's bounds are
        # found by a binary search of the file (a few 8-byte reads), the region (about LOOKUP_SPAN) is
        # read into memory and searched there. Nothing is mapped: a mapped run's pages come in whole
        # large folios (2 MB), and the bisection of numpy over a mapped run (whose range for sorted
        # needles is [previous result, end)) put tens of MB of a large run into the process.
        cuts = np.linspace(0, len(keys), max(1, size // LOOKUP_SPAN) + 1).astype(np.int64).tolist()
        for a, b in itertools.pairwise(cuts):
            if b <= a:
                continue
            r0 = _bisect_file(fd, size // 8, int(keys[a]), right=False)
            r1 = _bisect_file(fd, size // 8, int(keys[b - 1]), right=True)
            region = np.frombuffer(os.pread(fd, 8 * (r1 - r0), 8 * r0), dtype="<i8")
            lo[a:b] = r0 + np.searchsorted(region, keys[a:b], side="left")
            hi[a:b] = r0 + np.searchsorted(region, keys[a:b], side="right")
    lo = np.maximum(lo, hi - WINDOW)  # stored rows of one key are in doc order: the latest are last
    count = hi - lo
    hit = count > 0
    lo, count = lo[hit], count[hit]
    total = int(count.sum())
    if not total:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    starts = np.cumsum(count) - count
    at = np.repeat(lo - starts, count) + np.arange(total)
    with open(directory / (run["name"] + ".docs"), "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        stored_docs = np.frombuffer(mm, dtype="<i8")
        docs = _gather(mm, stored_docs, at, 8).astype(np.int64)
        del stored_docs
    return np.repeat(rows[hit], count), np.repeat(keys[hit], count), docs


def _bisect_file(fd: int, n: int, key: int, *, right: bool) -> int:
    """Where ``key`` goes in the ``n`` sorted int64 values of file ``fd`` (``numpy.searchsorted`` sides)."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        value = int.from_bytes(os.pread(fd, 8, 8 * mid), "little", signed=True)
        if value < key or (right and value == key):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked)."""
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _gather(mm: mmap.mmap, stored: np.ndarray, rows: np.ndarray, row_bytes: int) -> np.ndarray:
    """``stored[rows]`` of a mapped file, read in file order, releasing the pages after every ``LOOKUP_SPAN``.

    A read fault maps the pages around the one read too (the kernel's fault-around), so indexing rows
    spread over a large file would put most of the file in the process's resident memory until the
    mapping is closed; reading a window of the file at a time and releasing its pages bounds that.
    """
    out = np.empty((len(rows), *stored.shape[1:]), dtype=stored.dtype)
    if not len(rows):
        return out
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    step = max(1, LOOKUP_SPAN // row_bytes)
    cuts = np.searchsorted(ordered, np.arange(0, int(ordered[-1]) + step + 1, step)).tolist()
    for a, b in itertools.pairwise(cuts):
        if b > a:
            out[order[a:b]] = stored[ordered[a:b]]
            mm.madvise(mmap.MADV_DONTNEED)
    return out


def _read_at(path: Path, rows: np.ndarray, width: int, dtype: str) -> np.ndarray:
    """Rows ``rows`` (each ``width`` values of ``dtype``) of a file of fixed-size rows."""
    if not len(rows):
        return np.empty((0, width), dtype=dtype)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        stored = np.frombuffer(mm, dtype=dtype).reshape(-1, width)
        out = _gather(mm, stored, rows, stored.itemsize * width)
        del stored
    return out


class _Column:
    """Variable-size rows addressed by document number: bytes in ``NAME.bin``, row ``d`` ending at ``NAME.end[d]``.

    A batch's rows are written at the positions their document numbers give (never appended blindly), so
    rows written by a batch that did not commit are overwritten by the next one and never read.
    """

    def __init__(self, directory: Path, name: str) -> None:
        self.data = directory / (name + ".bin")
        self.ends = directory / (name + ".end")

    def end_of(self, n: int) -> int:
        """Byte size of the first ``n`` rows."""
        if n == 0:
            return 0
        return int(np.fromfile(self.ends, dtype="<i8", count=1, offset=8 * (n - 1))[0])

    def write(self, first: int, rows: Sequence[bytes]) -> list[int]:
        """Rows of documents ``first, first + 1, ...``; returns the file descriptors to sync (caller closes)."""
        start = self.end_of(first)
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        ends = (start + np.cumsum(sizes)).astype("<i8")
        fds = []
        for path, data, at in ((self.data, b"".join(rows), start), (self.ends, ends.tobytes(), 8 * first)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            fds.append(fd)
            _pwrite_all(fd, data, at)
        return fds

    def read(self, docs: np.ndarray) -> list[bytes]:
        """The rows of documents ``docs`` (committed ones)."""
        if not len(docs):
            return []
        ends = _read_at(self.ends, docs, 1, "<i8")[:, 0]
        before = _read_at(self.ends, np.maximum(docs - 1, 0), 1, "<i8")[:, 0]
        before[docs == 0] = 0
        with open(self.data, "rb") as f:
            fd = f.fileno()
            return [os.pread(fd, int(e - b), int(b)) for b, e in zip(before.tolist(), ends.tolist())]

    def read_range(self, first: int, count: int) -> list[bytes]:
        """The rows of documents ``first .. first + count - 1`` (committed ones), in one read."""
        if count <= 0:
            return []
        start = self.end_of(first)
        ends = np.fromfile(self.ends, dtype="<i8", count=count, offset=8 * first) - start
        with open(self.data, "rb") as f:
            data = os.pread(f.fileno(), int(ends[-1]), start)
        cuts = [0, *ends.tolist()]
        return [data[a:b] for a, b in itertools.pairwise(cuts)]

    def truncate(self, n: int) -> None:
        """Drop what lies beyond the first ``n`` rows (left by a batch that did not commit)."""
        if self.ends.exists():
            size = self.end_of(n) if n else 0
            os.truncate(self.ends, 8 * n)
            if self.data.exists():
                os.truncate(self.data, size)


def _id_keys(ids: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each id (BLAKE2b of its UTF-8 bytes): the key of the id runs (equal hashes are told
    apart by the stored ids)."""
    blake = hashlib.blake2b
    digests = b"".join(blake(i.encode("utf-8", "surrogatepass"), digest_size=8).digest() for i in ids)
    return np.frombuffer(digests, dtype="<i8").astype(np.int64)


class _View(NamedTuple):
    """What a commit made visible: documents ``0..next_doc-1`` (but ``removed``), the runs, the batch count."""

    next_doc: int
    next_batch: int
    runs: list[dict[str, Any]]
    removed: np.ndarray
    #: Sorted runs of (id hash, document): which document holds an id, found without DuckDB.
    id_runs: list[dict[str, Any]]


_SCHEMA = """
CREATE TABLE meta(name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE batches(batch BIGINT NOT NULL, first_doc BIGINT NOT NULL, n_docs BIGINT NOT NULL, added DOUBLE NOT NULL);
"""
#: Names of the files of sorted runs (``NNNNNNNN.keys``/``.docs``, ``iNNNNNNNN.*`` for ids); the other files of
#: ``<path>.runs/`` are not runs.
_RUN_FILE = re.compile(r"^i?\d{8}\.(keys|docs)$")
#: Files addressed by document number, of generation ``gN`` (none: generation 0; see :meth:`Index.compact`).
_DOC_FILE = re.compile(r"^(signatures|ids|shingles|removed)(?:\.g(\d+))?\.(u32|bin|end|i64)$")


class Index:
    """A near-duplicate index on disk (a DuckDB file and the directory ``<path>.runs/`` beside it).

    Parameters
    ----------
    path : str or os.PathLike
        The index file; created by the first writer when it does not exist.
    threshold, ngram, num_perm, seed, bands, rows, shingle_mode : optional
        As for :func:`dedup.find_duplicates` (defaults 0.8, 5, 128, 1, the
        default banding, ``"word"``); fixed when the index is created and
        read back when it is opened (giving other values is an error).
    verify : {"estimate", "exact"}, optional
        How candidates are checked when the old texts are gone: ``"estimate"``
        (default) compares stored MinHash signatures (``4 * num_perm`` bytes a
        document) and keeps pairs down to two standard errors below the
        threshold, as :func:`dedup.find_duplicate_pairs` does with
        ``verify="estimate"``; ``"exact"`` also stores each document's
        shingle hashes (4 bytes per shingle) and computes exact
        Jaccard, as ``verify="exact"``. See ``docs/index.md`` for the costs.
    read_only : bool
        Open for :meth:`query` and :meth:`stats` only; takes no writer lock.
        :meth:`query`, :meth:`stats` and ``len()`` read the snapshot the last
        commit published and never wait for a writer; :meth:`known`,
        :meth:`similarity` and ``in`` look ids up in the DuckDB file, so they
        wait (up to ``timeout``) while a writer has it open.
    timeout : float
        Seconds to wait for another process's writer lock (or, for one
        operation, its open file) before :class:`IndexBusyError`.
    keep_open : bool
        A writer keeps one DuckDB connection until :meth:`close` (the
        default) instead of opening and closing (checkpointing) the file for
        every operation. Readers' :meth:`query` and :meth:`stats` do not need
        the file, so they are not held up by it; their :meth:`known`,
        :meth:`similarity` and ``in`` wait for :meth:`close` (give
        ``keep_open=False`` to let them in between the writer's operations).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threshold: float | None = None,
        ngram: int | None = None,
        num_perm: int | None = None,
        seed: int | None = None,
        bands: int | None = None,
        rows: int | None = None,
        shingle_mode: ShingleMode | None = None,
        verify: IndexVerify | None = None,
        read_only: bool = False,
        timeout: float = 10.0,
        keep_open: bool = True,
    ) -> None:
        try:
            import duckdb
        except ImportError as e:  # pragma: no cover - duckdb is a dependency
            raise IndexError_(f"the persistent index needs duckdb: pip install duckdb ({e})") from None
        self._duckdb = duckdb
        self.path = Path(path)
        self.read_only = read_only
        self.timeout = float(timeout)
        self._lock_fd: int | None = None
        self.keep_open = keep_open and not read_only
        self._con: Any = None
        self._runs_dir = runs_dir(self.path)
        self._snapshot = self._runs_dir / "snapshot.json"
        self._use_generation(0)
        given = {
            "threshold": threshold,
            "ngram": ngram,
            "num_perm": num_perm,
            "seed": seed,
            "bands": bands,
            "rows": rows,
            "shingle_mode": shingle_mode,
            "verify": verify,
        }
        if self.path.is_dir():
            raise IndexError_(f"{self.path}: is a directory, not an index file")
        if read_only:
            if not self.path.exists():
                raise IndexError_(f"{self.path}: no index here")
        else:
            self._lock()
        try:
            if not self.path.exists():
                self._create(given)
            snap = self._read_snapshot() if read_only else None
            if snap is not None:
                self.params = {k: snap["params"][k] for k in _PARAMS}
            else:
                with self._connect() as con:
                    meta = self._meta(con, upgradable=not read_only)
                    self.params = {k: meta[k] for k in _PARAMS}
            for name, value in given.items():
                if value is not None and value != self.params[name]:
                    raise IndexError_(
                        f"{self.path}: the index was made with {name}={self.params[name]!r}, not {value!r}"
                    )
            if not read_only:
                if snap is None and meta["format_version"] < FORMAT_VERSION:
                    self._upgrade()
                self._recover()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ opening

    def _use_generation(self, generation: int) -> None:
        """Name the files addressed by document number of ``generation`` (each :meth:`compact` starts one)."""
        self._generation = generation
        tag = f".g{generation}" if generation else ""
        self._sigs = self._runs_dir / f"signatures{tag}.u32"
        self._ids = _Column(self._runs_dir, f"ids{tag}")
        self._shingles = _Column(self._runs_dir, f"shingles{tag}")
        self._removed_file = self._runs_dir / f"removed{tag}.i64"

    def _lock(self) -> None:
        """The writer lock: an exclusive flock on ``<path>.lock`` (released by the OS if we die)."""
        lock_path = str(self.path) + ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise IndexBusyError(
                        f"{self.path}: another process is writing this index (waited {self.timeout:g} s)"
                    ) from None
                time.sleep(0.05)
        self._lock_fd = fd

    @contextmanager
    def _connect(self, write: bool = False) -> Iterator[Any]:
        """A connection for one operation, retried while another process has the file open."""
        if write and self.read_only:
            raise IndexError_(f"{self.path}: opened read-only")
        if self._con is not None:
            yield self._con
            return
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                con = self._open(self.path, read_only=not (write or self.keep_open))
                break
            except self._duckdb.IOException as e:
                if "lock" not in str(e).lower():
                    raise IndexError_(f"{self.path}: not a dedup index ({one_line(e)})") from None
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"{self.path}: in use by another process (waited {self.timeout:g} s)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
            except self._duckdb.Error as e:
                raise IndexError_(f"{self.path}: not a dedup index ({one_line(e)})") from None
        if self.keep_open:
            self._con = con
            yield con
            return
        try:
            yield con
        finally:
            con.close()

    def _open(self, path: Path, read_only: bool) -> Any:
        # A bounded buffer pool: joins larger than this spill to disk instead of growing the process.
        con = self._duckdb.connect(str(path), read_only=read_only, config={"threads": 1, "memory_limit": "256MB"})
        con.execute("SET enable_progress_bar = false")
        return con

    def _create(self, given: dict[str, Any]) -> None:
        p = {k: v for k, v in given.items()}
        p["threshold"] = 0.8 if p["threshold"] is None else float(p["threshold"])
        p["ngram"] = 5 if p["ngram"] is None else p["ngram"]
        p["num_perm"] = 128 if p["num_perm"] is None else p["num_perm"]
        p["seed"] = 1 if p["seed"] is None else p["seed"]
        p["shingle_mode"] = p["shingle_mode"] or "word"
        p["verify"] = p["verify"] or "estimate"
        check_params(p["threshold"], p["ngram"], p["num_perm"], 1)
        if p["verify"] not in ("estimate", "exact"):
            raise ValueError(f"verify must be 'estimate' or 'exact', got {p['verify']!r}")
        if p["shingle_mode"] not in ("word", "char"):
            raise ValueError(f"shingle_mode must be 'word' or 'char', got {p['shingle_mode']!r}")
        p["bands"], p["rows"] = resolve_bands(p["threshold"], p["num_perm"], p["bands"], p["rows"])
        # A directory of files from an earlier index of this name (replaced with --force): not ours.
        shutil.rmtree(self._runs_dir, ignore_errors=True)
        # Written to a temporary file and renamed: a crash never leaves a half-made index.
        tmp = self.path.with_name(self.path.name + ".creating")
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            leftover.unlink(missing_ok=True)
        con = self._open(tmp, read_only=False)
        try:
            con.execute(_SCHEMA)
            meta = {"format_version": FORMAT_VERSION, "next_doc": 0, "next_batch": 0, "removed": 0, **p}
            con.executemany("INSERT INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in meta.items()])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        _fsync(tmp)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)

    def _upgrade(self) -> None:
        """Upgrade a format-3 index in place: its ids (``ids.bin``) hashed into sorted id runs, one commit.

        The runs are written first; the commit that names them also drops DuckDB's table of ids and sets
        the format version, so a crash leaves a format-3 index (its stray runs deleted by the next writer,
        which upgrades it again) or a format-4 one.
        """
        self._runs_dir.mkdir(exist_ok=True)
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            made: list[str] = []
            try:
                meta = self._meta(con, upgradable=True)
                view = self._view(con, upgradable=True)
                id_runs: list[dict[str, Any]] = []
                seq = int(meta.get("next_run", 0))
                step = MERGE_CHUNK
                for first in range(0, view.next_doc, step):
                    count = min(step, view.next_doc - first)
                    ids = [b.decode("utf-8", "surrogatepass") for b in self._ids.read_range(first, count)]
                    docs = np.arange(first, first + count, dtype=np.int64)
                    id_runs, new, gone, seq = self._add_run(id_runs, seq, _id_keys(ids), docs, prefix="i")
                    made += new
                    for r in gone:
                        for suffix in (".keys", ".docs"):
                            (self._runs_dir / (r["name"] + suffix)).unlink(missing_ok=True)
                con.execute("DROP TABLE IF EXISTS docs")
                updates = {"format_version": FORMAT_VERSION, "id_runs": id_runs, "next_run": seq}
                con.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in updates.items()]
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                for name in made:
                    for suffix in (".keys", ".docs"):
                        (self._runs_dir / (name + suffix)).unlink(missing_ok=True)
                raise

    def _recover(self) -> None:
        """A writer's first act: drop what no commit refers to (a crash's leftovers), publish the snapshot."""
        self._runs_dir.mkdir(exist_ok=True)
        with self._connect() as con:
            view = self._view(con)
        for column in (self._ids, self._shingles):
            column.truncate(view.next_doc)
        if self._sigs.exists():
            os.truncate(self._sigs, 4 * self.params["num_perm"] * view.next_doc)
        if self._removed_file.exists():
            os.truncate(self._removed_file, 8 * len(view.removed))
        self._publish(view)  # before the strays go: an older snapshot may still name some of them
        keep = {r["name"] for r in [*view.runs, *view.id_runs]}
        for f in self._runs_dir.iterdir():
            by_number = _DOC_FILE.match(f.name)
            if by_number and int(by_number.group(2) or 0) != self._generation:  # a compaction's other side
                f.unlink(missing_ok=True)
                continue
            stray_run = _RUN_FILE.match(f.name) and f.name.split(".")[0] not in keep
            if stray_run or (f.name.endswith(".tmp") and f.name.startswith("snapshot.")):
                f.unlink(missing_ok=True)

    def _publish(self, view: _View) -> None:
        """Write the readers' snapshot of ``view`` (after its commit): a new file renamed over the old one."""
        body = {
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "next_doc": view.next_doc,
            "next_batch": view.next_batch,
            "runs": view.runs,
            "id_runs": view.id_runs,
            "removed": len(view.removed),
            "generation": self._generation,
        }
        tmp = self._snapshot.with_name(f"snapshot.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(body), encoding="utf-8")
        os.replace(tmp, self._snapshot)

    def _read_snapshot(self) -> dict[str, Any] | None:
        """The last snapshot a writer published, or ``None`` (none yet: the DuckDB file answers)."""
        try:
            snap = json.loads(self._snapshot.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise IndexError_(f"{self._snapshot}: unreadable snapshot ({one_line(e)})") from None
        _check_version(self.path, snap.get("format_version"))
        return snap

    def _view(self, con: Any = None, *, upgradable: bool = False) -> _View:
        """The committed state: from the DuckDB meta (``con``), else from the readers' snapshot."""
        if con is not None:
            meta = self._meta(con, upgradable=upgradable)
        else:
            snap = self._read_snapshot()
            if snap is None:
                with self._connect() as c:
                    return self._view(c)
            meta = snap
        self._use_generation(int(meta.get("generation", 0)))
        count = int(meta.get("removed", 0))
        removed = np.fromfile(self._removed_file, dtype="<i8", count=count) if count else np.zeros(0, np.int64)
        runs, id_runs = list(meta.get("runs", [])), list(meta.get("id_runs", []))
        return _View(int(meta["next_doc"]), int(meta["next_batch"]), runs, removed, id_runs)

    def _meta(self, con: Any, *, upgradable: bool = False) -> dict[str, Any]:
        try:
            rows = con.execute("SELECT name, value FROM meta").fetchall()
        except self._duckdb.Error:
            raise IndexError_(f"{self.path}: not a dedup index (no meta table)") from None
        meta = {name: json.loads(value) for name, value in rows}
        _check_version(self.path, meta.get("format_version"), upgradable=upgradable)
        return meta

    def close(self) -> None:
        """Release the writer lock and, with ``keep_open``, the connection (every other resource is per operation)."""
        if getattr(self, "_con", None) is not None:
            self._con.close()
            self._con = None
        if getattr(self, "_lock_fd", None) is not None:
            os.close(self._lock_fd)  # type: ignore[arg-type]
            self._lock_fd = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # ------------------------------------------------------------ reading

    def __len__(self) -> int:
        view = self._reader_view()
        return view.next_doc - len(view.removed)

    def __contains__(self, doc_id: object) -> bool:
        return bool(self.known([doc_id]))

    def _find_ids(self, view: _View, ids: list[str]) -> np.ndarray:
        """The document holding each id in ``view`` (``-1`` for none): a binary search of the id runs.

        A hash found is confirmed on the stored id (``ids.bin``), so equal hashes never mix two ids; a
        removed document holds no id (its id may be added again, to a new document).
        """
        out = np.full(len(ids), -1, dtype=np.int64)
        if not ids or not view.id_runs:
            return out
        keys = _id_keys(ids)
        order = np.argsort(keys, kind="stable")
        empty = np.zeros(0, dtype=np.int64)
        parts: list[tuple[np.ndarray, ...]] = [(empty, empty, empty)]
        parts += [_lookup_run(self._runs_dir, run, keys[order], order.astype(np.int64)) for run in view.id_runs]
        rows = np.concatenate([part[0] for part in parts])
        docs = np.concatenate([part[2] for part in parts])
        if len(view.removed) and len(docs):
            alive = ~np.isin(docs, view.removed)
            rows, docs = rows[alive], docs[alive]
        if not len(docs):
            return out
        stored = self._ids.read(docs)
        same = np.fromiter(
            (s == ids[r].encode("utf-8", "surrogatepass") for s, r in zip(stored, rows.tolist())),
            dtype=bool,
            count=len(docs),
        )
        np.maximum.at(out, rows[same], docs[same])
        return out

    def _read(self, find: Callable[[_View], Any]) -> Any:
        """``find(view)`` on the committed state; a reader retries on the next snapshot when a run it read
        was merged away meanwhile (by a writer in another process)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return find(self._reader_view())
            except FileNotFoundError:
                if not self.read_only or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _reader_view(self) -> _View:
        """The state an operation reads: a writer's from its DuckDB file, a reader's from the snapshot."""
        if self.read_only:
            return self._view()
        with self._connect() as con:
            return self._view(con)

    def similarity(self, pairs: Sequence[tuple[object, object]]) -> list[float]:
        """Similarity of stored documents, by id pairs: exact Jaccard with ``verify="exact"``, else the estimate.

        Parameters
        ----------
        pairs : sequence of (id, id)
            Ids of stored documents; a missing one raises ``KeyError``.

        Returns
        -------
        list of float
            One similarity per pair.
        """
        wanted = sorted({str(i) for pair in pairs for i in pair})
        if not wanted:
            return []
        exact = self.params["verify"] == "exact"

        def find(view: _View) -> tuple[np.ndarray, list[bytes], dict[str, int]]:
            found = self._find_ids(view, wanted)
            doc_of = {i: int(d) for i, d in zip(wanted, found.tolist()) if d >= 0}
            docs = np.array(sorted(doc_of.values()), dtype=np.int64)
            return (
                _read_at(self._sigs, docs, self.params["num_perm"], "<u4"),
                self._shingles.read(docs) if exact else [],
                doc_of,
            )

        sigs, sets, doc_of = self._read(find)
        where = {d: k for k, d in enumerate(sorted(doc_of.values()))}
        out = []
        for a, b in pairs:
            ka, kb = where[doc_of[str(a)]], where[doc_of[str(b)]]
            if exact:
                out.append(_set_jaccard(np.frombuffer(sets[ka], "<u4"), np.frombuffer(sets[kb], "<u4")))
            else:
                sa, sb = sigs[ka], sigs[kb]
                out.append(float(((sa == sb) & (sa != EMPTY)).mean()))
        return out

    def known(self, ids: Sequence[object]) -> list[str]:
        """The ids of ``ids`` already in the index (one join), in the order given.

        Parameters
        ----------
        ids : sequence
            Ids to look up (``str()`` of each).

        Returns
        -------
        list of str
            Those already stored.
        """
        id_list = [str(i) for i in ids]
        if not id_list:
            return []
        found = self._read(lambda view: self._find_ids(view, id_list))
        return [i for i, d in zip(id_list, found.tolist()) if d >= 0]

    def stats(self) -> dict[str, Any]:
        """What the index holds.

        Returns
        -------
        dict
            ``documents``, ``band_rows``, ``runs`` (and ``id_runs``), ``batches``, ``bytes`` on disk,
            ``bytes_per_document``, ``format_version``, ``path`` and the
            parameters.
        """
        view = self._reader_view()
        docs = view.next_doc - len(view.removed)
        files = [self.path, Path(str(self.path) + ".wal")]
        if self._runs_dir.is_dir():
            files += [f for f in self._runs_dir.iterdir() if not f.name.endswith(".tmp")]
        size = 0
        for f in files:
            with contextlib.suppress(FileNotFoundError):  # a run merged away meanwhile
                size += f.stat().st_size
        return {
            "path": str(self.path),
            "format_version": FORMAT_VERSION,
            "documents": docs,
            "band_rows": sum(int(r["rows"]) for r in view.runs),
            "runs": len(view.runs),
            "id_runs": len(view.id_runs),
            "batches": view.next_batch,
            "bytes": size,
            "bytes_per_document": round(size / docs, 1) if docs else None,
            **self.params,
        }

    # ------------------------------------------------------------ the pipeline

    def _prepare(self, texts: Sequence[str]) -> tuple[np.ndarray, _Sets | None]:
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a sequence of str, not a single str")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts must contain str, got {type(t).__name__} at index {i}")
        p = self.params
        sig = signatures(
            texts, ngram=p["ngram"], num_perm=p["num_perm"], seed=p["seed"], shingle_mode=p["shingle_mode"]
        )
        sets = None
        if p["verify"] == "exact":
            sets = _shingle_sets(texts, p["ngram"], p["shingle_mode"])
        return sig, sets

    def _similar(
        self, view: _View, sig: np.ndarray, sets: _Sets | None, keys: np.ndarray, live: np.ndarray, inside: bool
    ) -> list[list[Duplicate | _Inside]]:
        """For each row of the batch, its verified earlier documents (stored, or earlier in the batch), best first."""
        n = len(sig)
        p = self.params
        rows = np.flatnonzero(live)
        # Stored candidates: a binary search of the batch's keys in each sorted run, then the WINDOW
        # latest documents per probe over all runs, as one table of every band row would give them.
        probe_keys = keys[rows].ravel()
        probe_rows = np.repeat(rows.astype(np.int64), keys.shape[1])
        order = np.argsort(probe_keys, kind="stable")
        sorted_keys, sorted_rows = probe_keys[order], probe_rows[order]
        empty = np.zeros(0, dtype=np.int64)
        parts: list[tuple[np.ndarray, ...]] = [(empty, empty, empty)]
        parts += [_lookup_run(self._runs_dir, run, sorted_keys, sorted_rows) for run in view.runs]
        c_rows, c_keys, c_docs = (np.concatenate([part[k] for part in parts]) for k in range(3))
        if len(view.runs) > 1:
            # The WINDOW latest per (row, key) over all runs: sort by row, key, then newest first.
            order = np.lexsort((-c_docs, c_keys, c_rows))
            c_rows, c_keys, c_docs = c_rows[order], c_keys[order], c_docs[order]
            new_group = np.ones(len(c_rows), dtype=bool)
            new_group[1:] = (c_rows[1:] != c_rows[:-1]) | (c_keys[1:] != c_keys[:-1])
            starts = np.flatnonzero(new_group)
            rank = np.arange(len(c_rows)) - np.repeat(starts, np.diff(np.append(starts, len(c_rows))))
            c_rows, c_docs = c_rows[rank < WINDOW], c_docs[rank < WINDOW]
        if len(view.removed) and len(c_docs):  # removed documents keep their band rows: drop them here
            alive = ~np.isin(c_docs, view.removed)
            c_rows, c_docs = c_rows[alive], c_docs[alive]
        pairs_found = np.unique(np.stack([c_rows, c_docs], axis=1), axis=0) if len(c_rows) else np.zeros((0, 2))
        old_rows = np.asarray(pairs_found[:, 0], dtype=np.int64)
        old_docs = np.asarray(pairs_found[:, 1], dtype=np.int64)
        # The candidates' signatures (and shingle hashes), read by document number from their files.
        wanted = np.unique(old_docs)
        at = np.searchsorted(wanted, old_docs)
        old_pair_sig = _read_at(self._sigs, wanted, p["num_perm"], "<u4")[at]
        # Candidates inside the batch: a later row duplicates an earlier one.
        if inside and len(rows) > 1:
            pairs = candidate_pairs(keys[rows], window=WINDOW)
            in_first, in_second = rows[pairs[:, 0]], rows[pairs[:, 1]]
        else:
            in_first = in_second = np.zeros(0, dtype=np.int64)
        # Similarities: stored pairs then batch pairs, verified the same way.
        new_rows = np.concatenate([old_rows, in_second])
        if sets is None:
            a = np.concatenate([old_pair_sig, sig[in_first]])
            b = sig[new_rows]
            sims = ((a == b) & (a != EMPTY)).mean(axis=1) if len(new_rows) else np.zeros(0)
            margin = 2.0 * math.sqrt(p["threshold"] * (1.0 - p["threshold"]) / p["num_perm"])
            keep = sims >= p["threshold"] - margin
        else:
            # One flat batch of sets: the batch's, then the stored candidates' (set n + k is stored row k).
            old_blobs = self._shingles.read(wanted)
            stored = np.frombuffer(b"".join(old_blobs), dtype="<u4")
            sizes = np.fromiter((len(b) // 4 for b in old_blobs), dtype=np.int64, count=len(old_blobs))
            values = np.concatenate([sets.values, stored]).astype(np.uint32, copy=False)
            bounds = np.concatenate([sets.bounds, sets.bounds[-1] + np.cumsum(sizes)])
            left = np.concatenate([n + at, in_first])
            sims = _pair_jaccard(values, bounds, left.astype(np.int64), new_rows.astype(np.int64))
            keep = sims >= p["threshold"]
        # Matches of each row, best first: highest similarity, then the earliest document.
        # Stored documents are earlier than every batch row: order them before it by a negative rank.
        earlier = np.concatenate([old_docs - (1 << 62), in_first])
        cand = np.flatnonzero(keep)
        n_old = len(old_rows)
        matched = np.unique(old_docs[cand[cand < n_old]])
        old_ids = dict(zip(matched.tolist(), (b.decode("utf-8", "surrogatepass") for b in self._ids.read(matched))))
        result: list[list[Duplicate | _Inside]] = [[] for _ in range(n)]
        order = np.lexsort((earlier[cand], -sims[cand], new_rows[cand]))
        for k in cand[order].tolist():
            row = int(new_rows[k])
            if k < n_old:
                result[row].append(Duplicate(old_ids[int(old_docs[k])], float(sims[k])))
            else:
                result[row].append(_Inside(int(in_first[k - n_old]), float(sims[k])))  # its id: the caller's
        return result

    def query(self, texts: Sequence[str], *, all_matches: bool = False) -> list[Any]:
        """For each text, the stored document it duplicates (most similar, then earliest), or ``None``.

        Nothing is added, and texts of the same call are not compared with
        each other. A reader (``read_only=True``) answers from the last
        snapshot a writer published, without waiting for the writer.

        Parameters
        ----------
        texts : sequence of str
            The documents to look up.
        all_matches : bool
            Give each text the list of every stored document it duplicates,
            best first (empty for none), instead of the best one.

        Returns
        -------
        list
            One :class:`Duplicate` or ``None`` per text (lists with ``all_matches``).
        """
        sig, sets = self._prepare(texts)
        if not len(sig):
            return []
        keys = _mixed_keys(band_keys(sig, self.params["bands"], self.params["rows"]))
        live = ~(sig == EMPTY).all(axis=1)
        found = self._read(lambda view: self._similar(view, sig, sets, keys, live, inside=False))
        matches = [[m for m in row if isinstance(m, Duplicate)] for row in found]
        return matches if all_matches else [row[0] if row else None for row in matches]

    def add(
        self,
        texts: Sequence[str],
        ids: Sequence[object],
        *,
        all_matches: bool = False,
        before_commit: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        """Add a batch; for each new document, the earlier one it duplicates, or ``None``.

        "Earlier" means stored before this call, or earlier in ``texts``; of
        several, the most similar is named (the earliest on ties). Every
        document is stored, duplicates included, so later batches find them
        too. ``ids`` (strings, or anything ``str()`` turns into one) must be
        new to the index and distinct. The batch is one transaction: when
        ``add`` returns it is on disk; a crash before leaves no part of it.

        Parameters
        ----------
        texts : sequence of str
            The new documents.
        ids : sequence
            One id per text, new to the index and distinct (``str()`` of each).
        all_matches : bool
            Give each new document the list of every earlier document it
            duplicates, best first (empty for none): the edges
            :func:`dedup.find_duplicate_pairs` would report.
        before_commit : callable, optional
            Called with the result inside the transaction: if it raises,
            nothing is stored (a resumable job writes its own record of the
            batch there, so the two never disagree).

        Returns
        -------
        list
            One :class:`Duplicate` or ``None`` per text (lists with ``all_matches``).
        """
        if self.read_only:
            raise IndexError_(f"{self.path}: opened read-only")
        id_list = [str(i) for i in ids]
        sig, sets = self._prepare(texts)
        if len(id_list) != len(sig):
            raise ValueError(f"got {len(sig)} texts but {len(id_list)} ids")
        if len(set(id_list)) != len(id_list):
            raise ValueError("ids must be distinct")
        if not id_list:
            return []
        p = self.params
        keys = _mixed_keys(band_keys(sig, p["bands"], p["rows"]))
        live = ~(sig == EMPTY).all(axis=1)
        made: list[str] = []
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                meta = self._meta(con)
                view = self._view(con)
                clash = np.flatnonzero(self._find_ids(view, id_list) >= 0)
                if len(clash):
                    raise ValueError(f"id {id_list[int(clash[0])]!r} is already in the index")
                result = self._similar(view, sig, sets, keys, live, inside=True)
                first_doc = view.next_doc
                docs = np.arange(first_doc, first_doc + len(sig), dtype=np.int64)
                # The batch's files first, synced: the commit below is what makes them part of the index.
                self._write_docs(first_doc, sig, sets, id_list)
                rows = np.flatnonzero(live)
                runs, made, gone, next_run = self._add_run(
                    view.runs, int(meta.get("next_run", 0)), keys[rows].ravel(), np.repeat(docs[rows], keys.shape[1])
                )
                id_runs, made_ids, gone_ids, next_run = self._add_run(
                    view.id_runs, next_run, _id_keys(id_list), docs, prefix="i"
                )
                made += made_ids
                gone += gone_ids
                batch = view.next_batch
                con.execute("INSERT INTO batches VALUES (?, ?, ?, ?)", [batch, first_doc, len(sig), time.time()])
                updates = {
                    "next_doc": first_doc + len(sig),
                    "next_batch": batch + 1,
                    "runs": runs,
                    "id_runs": id_runs,
                    "next_run": next_run,
                }
                con.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in updates.items()]
                )
                matches = [
                    [Duplicate(id_list[m.row], m.similarity) if isinstance(m, _Inside) else m for m in row]
                    for row in result
                ]
                out = matches if all_matches else [row[0] if row else None for row in matches]
                if before_commit is not None:
                    before_commit(out)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                for name in made:  # runs no commit refers to
                    for suffix in (".keys", ".docs"):
                        (self._runs_dir / (name + suffix)).unlink(missing_ok=True)
                raise
        # Readers learn of the commit first; then the runs merged into a new one (no commit refers to them
        # any more) go. A crash between the two leaves them for the next writer to delete.
        self._publish(_View(first_doc + len(sig), batch + 1, runs, view.removed, id_runs))
        for r in gone:
            for suffix in (".keys", ".docs"):
                (self._runs_dir / (r["name"] + suffix)).unlink(missing_ok=True)
        return out

    def _write_docs(self, first: int, sig: np.ndarray, sets: _Sets | None, ids: list[str]) -> None:
        """The batch's signatures, ids (and shingle hashes) at the places of their document numbers, synced."""
        self._runs_dir.mkdir(exist_ok=True)
        fds = [os.open(self._sigs, os.O_WRONLY | os.O_CREAT, 0o644)]
        try:
            row_bytes = 4 * self.params["num_perm"]
            _pwrite_all(fds[0], np.ascontiguousarray(sig, dtype="<u4").tobytes(), row_bytes * first)
            fds += self._ids.write(first, [i.encode("utf-8", "surrogatepass") for i in ids])
            if sets is not None:
                fds += self._shingles.write(first, sets.blobs())
            for fd in fds:
                os.fsync(fd)
        finally:
            for fd in fds:
                os.close(fd)

    def _add_run(
        self, runs: list[dict[str, Any]], seq: int, keys: np.ndarray, docs: np.ndarray, prefix: str = ""
    ) -> tuple[list[dict[str, Any]], list[str], list[dict[str, Any]], int]:
        """The batch's band rows as a new sorted run, merged with the newest runs while at most twice its size.

        A binary counter: the runs stay few (about log2 of all rows over a batch's rows) and each row is
        rewritten about that many times. Returns the runs after, the names of the runs made (to delete if
        the transaction fails), the runs merged away (to delete once it committed) and the next run number.
        """
        runs = list(runs)
        if not len(keys):
            return runs, [], [], seq
        directory = self._runs_dir
        order = np.argsort(keys, kind="stable")  # docs ascend within the batch: (key, doc) order
        new: dict[str, Any] = {"name": f"{prefix}{seq:08d}", "rows": len(keys)}
        made = [new["name"]]
        seq += 1
        _write_run(directory, new["name"], keys[order], docs[order])
        gone: list[dict[str, Any]] = []
        while runs and runs[-1]["rows"] <= 2 * new["rows"]:
            old = runs.pop()
            merged = {"name": f"{prefix}{seq:08d}", "rows": old["rows"] + new["rows"]}
            seq += 1
            made.append(merged["name"])
            _merge_runs(directory, [old, new], merged["name"])
            gone += [old, new]
            new = merged
        runs.append(new)
        _fsync_dir(directory)
        return runs, made, gone, seq

    def remove(self, ids: Sequence[object]) -> int:
        """Remove documents by id (one transaction).

        Their band rows stay in the runs and their signatures in the file
        (addressed by document number); they are dropped when found as
        candidates.

        Parameters
        ----------
        ids : sequence
            Ids to remove; unknown ones are ignored.

        Returns
        -------
        int
            How many documents were found and removed.
        """
        if self.read_only:
            raise IndexError_(f"{self.path}: opened read-only")
        id_list = sorted({str(i) for i in ids})
        if not id_list:
            return 0
        with self._connect(write=True) as con:
            con.execute("BEGIN TRANSACTION")
            try:
                view = self._view(con)
                found = self._find_ids(view, id_list)
                docs = np.sort(found[found >= 0])
                removed = np.concatenate([view.removed, docs])
                if len(docs):
                    self._runs_dir.mkdir(exist_ok=True)
                    fd = os.open(self._removed_file, os.O_WRONLY | os.O_CREAT, 0o644)
                    try:
                        _pwrite_all(fd, docs.astype("<i8").tobytes(), 8 * len(view.removed))
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    con.execute("INSERT OR REPLACE INTO meta VALUES ('removed', ?)", [json.dumps(len(removed))])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        self._publish(view._replace(removed=removed))
        return len(docs)

    def compact(self) -> dict[str, int]:
        """Rewrite the index without its removed documents (one transaction).

        The documents left are numbered again, in order: their signatures,
        ids and shingle hashes are copied to files of a new generation
        (``signatures.gN.u32``...), and every run to a new run without the
        rows of removed documents (a chunk at a time: memory stays bounded).
        One commit switches to them; the old files are deleted after it, so
        a crash leaves the index as it was before or after. The DuckDB file
        is then rewritten beside the old one and renamed over it. Readers
        that were reading the old files retry on the new snapshot.

        Returns
        -------
        dict
            ``bytes_before``, ``bytes_after`` and ``documents_removed``
            (removed documents whose rows were dropped).
        """
        if self.read_only:
            raise IndexError_(f"{self.path}: opened read-only")
        before = self.stats()["bytes"]
        dropped = 0
        with self._connect(write=True) as con:
            view = self._view(con)
            if len(view.removed):
                dropped = self._drop_removed(con, view)
        tmp = self.path.with_name(self.path.name + ".compacting")
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            leftover.unlink(missing_ok=True)
        with self._connect(write=True) as con:
            con.execute(f"ATTACH '{_sql_str(tmp)}' AS fresh")
            con.execute(_SCHEMA.replace("CREATE TABLE ", "CREATE TABLE fresh."))
            for table, order in (("meta", "name"), ("batches", "batch")):
                con.execute(f"INSERT INTO fresh.{table} SELECT * FROM {table} ORDER BY {order}")
            con.execute("DETACH fresh")
        if self._con is not None:  # the kept connection is to the file being replaced
            self._con.close()
            self._con = None
        _fsync(tmp)
        os.replace(tmp, self.path)
        Path(str(self.path) + ".wal").unlink(missing_ok=True)
        _fsync_dir(self.path.parent)
        return {"bytes_before": before, "bytes_after": self.stats()["bytes"], "documents_removed": dropped}

    def _drop_removed(self, con: Any, view: _View) -> int:
        """Copy the live documents' files and runs to a new generation, renumbered; commit; delete the old."""
        removed = np.unique(view.removed)
        old_files = [self._sigs, self._ids.data, self._ids.ends, self._shingles.data, self._shingles.ends]
        old_files.append(self._removed_file)
        generation = self._generation + 1
        step = MERGE_CHUNK
        row_bytes = 4 * self.params["num_perm"]

        def renumber(docs: np.ndarray) -> np.ndarray:  # a document's new number: the live ones before it
            return docs - np.searchsorted(removed, docs, side="left")

        con.execute("BEGIN TRANSACTION")
        made: list[str] = []
        try:
            meta = self._meta(con)
            old_sigs, old_ids, old_shingles = self._sigs, self._ids, self._shingles
            self._use_generation(generation)
            new_sigs, new_ids, new_shingles = self._sigs, self._ids, self._shingles
            for f in (new_sigs, new_ids.data, new_ids.ends, new_shingles.data, new_shingles.ends):
                f.unlink(missing_ok=True)  # a crashed compaction's leftovers
            live_total = 0
            fds: list[int] = [os.open(new_sigs, os.O_WRONLY | os.O_CREAT, 0o644)]
            try:
                for first in range(0, view.next_doc, step):
                    count = min(step, view.next_doc - first)
                    docs = np.arange(first, first + count, dtype=np.int64)
                    live = ~np.isin(docs, removed)
                    keep = np.flatnonzero(live).tolist()
                    sigs = np.fromfile(old_sigs, dtype="<u4", count=count * row_bytes // 4, offset=first * row_bytes)
                    _pwrite_all(fds[0], sigs.reshape(count, -1)[live].tobytes(), live_total * row_bytes)
                    for old_col, new_col in ((old_ids, new_ids), (old_shingles, new_shingles)):
                        if old_col.ends.exists():
                            rows = old_col.read_range(first, count)
                            for fd in new_col.write(live_total, [rows[k] for k in keep]):
                                os.fsync(fd)
                                os.close(fd)
                    live_total += len(keep)
                os.fsync(fds[0])
            finally:
                for fd in fds:
                    os.close(fd)
            seq = int(meta.get("next_run", 0))
            new_runs: dict[str, list[dict[str, Any]]] = {"runs": [], "id_runs": []}
            for kind, runs in (("runs", view.runs), ("id_runs", view.id_runs)):
                for run in runs:
                    name = f"{'i' if kind == 'id_runs' else ''}{seq:08d}"
                    seq += 1
                    made.append(name)
                    copied = self._copy_run_without(run, name, removed, renumber)
                    if copied:
                        new_runs[kind].append({"name": name, "rows": copied})
            _fsync_dir(self._runs_dir)
            batches = con.execute("SELECT batch, first_doc, n_docs FROM batches").fetchall()
            moved = [
                (int(renumber(np.array([f]))[0]), int(n - np.isin(np.arange(f, f + n), removed).sum()), b)
                for b, f, n in batches
            ]
            con.executemany("UPDATE batches SET first_doc = ?, n_docs = ? WHERE batch = ?", moved)
            updates = {
                "next_doc": live_total,
                "removed": 0,
                "generation": generation,
                "next_run": seq,
                **new_runs,
            }
            con.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, json.dumps(v)) for k, v in updates.items()]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            for path in (self._sigs, self._ids.data, self._ids.ends, self._shingles.data, self._shingles.ends):
                path.unlink(missing_ok=True)  # the new generation's files: no commit names them
            self._use_generation(generation - 1)
            for name in made:
                for suffix in (".keys", ".docs"):
                    (self._runs_dir / (name + suffix)).unlink(missing_ok=True)
            raise
        empty = np.zeros(0, dtype=np.int64)
        self._publish(_View(live_total, view.next_batch, new_runs["runs"], empty, new_runs["id_runs"]))
        for old in (*view.runs, *view.id_runs):
            for suffix in (".keys", ".docs"):
                (self._runs_dir / (old["name"] + suffix)).unlink(missing_ok=True)
        for path in old_files:
            path.unlink(missing_ok=True)
        return len(removed)

    def _copy_run_without(
        self, run: dict[str, Any], name: str, removed: np.ndarray, renumber: Callable[[np.ndarray], np.ndarray]
    ) -> int:
        """Run ``run`` copied to run ``name`` without removed documents' rows, renumbered (order kept); its rows."""
        source = self._runs_dir / run["name"]
        total = 0
        with (
            open(self._runs_dir / (name + ".keys"), "wb") as out_keys,
            open(self._runs_dir / (name + ".docs"), "wb") as out_docs,
        ):
            for start in range(0, int(run["rows"]), MERGE_CHUNK):
                count = min(MERGE_CHUNK, int(run["rows"]) - start)
                keys = _read_rows(Path(str(source) + ".keys"), start, count)
                docs = _read_rows(Path(str(source) + ".docs"), start, count)
                live = ~np.isin(docs, removed)
                # Renumbering keeps the documents' order, so (key, doc) order holds.
                out_keys.write(keys[live].astype("<i8").tobytes())
                out_docs.write(renumber(docs[live]).astype("<i8").tobytes())
                total += int(live.sum())
            for f in (out_keys, out_docs):
                f.flush()
                os.fsync(f.fileno())
        if not total:
            for suffix in (".keys", ".docs"):
                (self._runs_dir / (name + suffix)).unlink(missing_ok=True)
        return total


_PARAMS = ("threshold", "ngram", "num_perm", "seed", "bands", "rows", "shingle_mode", "verify")


def runs_dir(path: str | os.PathLike[str]) -> Path:
    """The directory ``<path>.runs`` that holds an index's runs, signatures and snapshot beside its DuckDB file.

    >>> runs_dir("seen.idx").name
    'seen.idx.runs'
    """
    path = Path(path)
    return path.with_name(path.name + ".runs")


def remove_index(path: str | os.PathLike[str]) -> None:
    """Delete the index at ``path``: its DuckDB file (and write-ahead log) and :func:`runs_dir`.

    The DuckDB file goes first: it names everything else, so a run killed midway leaves no file
    that names what is gone. The lock file is left alone (another process may hold it).
    """
    path = Path(path)
    path.unlink(missing_ok=True)
    Path(str(path) + ".wal").unlink(missing_ok=True)
    shutil.rmtree(runs_dir(path), ignore_errors=True)


def replace_index(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the closed index at ``source`` to ``target``, replacing any index there.

    The old index is removed first (:func:`remove_index`) and the DuckDB file is moved last, so that
    ``target`` is the old index, no index, or the new one whole, never an old file naming new runs.
    """
    remove_index(target)
    os.replace(runs_dir(source), runs_dir(target))
    os.replace(source, target)


def _check_version(path: Path, version: object, *, upgradable: bool = False) -> None:
    """Refuse an index of another format version, with what to do about it (``upgradable``: a writer opening it)."""
    if not isinstance(version, int):
        raise IndexError_(f"{path}: not a dedup index (no format version)")
    if version > FORMAT_VERSION:
        raise IndexVersionError(
            f"{path}: index format version {version} is newer than this dedup supports "
            f"({FORMAT_VERSION}); upgrade dedup to read it"
        )
    if UPGRADABLE_VERSION <= version < FORMAT_VERSION:
        if upgradable:
            return
        raise IndexVersionError(
            f"{path}: index format version {version} was written by an older dedup; open it once for writing "
            f"(dedup index add, or dedup.Index(path)) to upgrade it in place to version {FORMAT_VERSION}"
        )
    if version < FORMAT_VERSION:
        raise IndexVersionError(
            f"{path}: index format version {version} was written by an older dedup; this one reads version "
            f"{UPGRADABLE_VERSION} and {FORMAT_VERSION} only: build the index again (dedup index build) "
            "from its sources"
        )


def _count(con: Any, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse directory fsync
        pass
    finally:
        os.close(fd)
