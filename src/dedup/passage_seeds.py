"""Seeds of the passage finder, in memory or spilled to a work directory.

A *seed* pairs a later occurrence of a word ``ngram``-shingle with its first
occurrence: ``(original, repeat)`` in global token positions (tokens of
document ``d`` are ``token_bounds[d]:token_bounds[d + 1]``). Pairing every
occurrence with the first one keeps the work linear however often a shingle
repeats. Seeds come out in ``repeat`` order, in chunks of a bounded number of
tokens, so that the chaining downstream is one streaming pass.

Reading (with ``jobs=1`` and the compiled kernels): one compiled pass over each
batch's UTF-8 (:func:`dedup._passage_kernels.shingle_utf8`) gives the hashes of
:func:`dedup.text.tokenize` + :func:`dedup.text.shingle` straight into the keys,
with the tokens per document and the token places; no per-token arrays of
offsets. Other paths (several jobs, no numba) tokenise and shingle batch by batch.

**In memory** (:func:`find_seeds` without ``spill``): one ``uint64`` per
shingle packs the top bits of its hash above its token position. One radix
pass groups the keys by the top bits of their hash into buckets of about 32k
keys, and each bucket's groups of equal hashes are found in a table held in
cache (no sort): that gives ``links``, one integer per token: the first
occurrence of the shingle starting there (a later occurrence), ``-count`` (a
first occurrence) or :data:`NO_SHINGLE`. The links are written over the keys
as (position, link) records, grouped by position with a second radix pass and
laid out by token in the keys' own memory, whose rest is handed back. Peak:
8 bytes per shingle (about 1.8 bytes per byte of English text), then 4 per
token.

**Spilled** (``spill=DIR``): the same keys are an external distribution sort.
Shingles are held in runs; each run is grouped by the top bits of the hashes
(the bucket: every shingle of a group lands in the same one) and appended to
one run file, 8 bytes a shingle (the hash above the position relative to the
run's first). Each bucket, gathered from every run, is linked in memory on its
own (the same cache-sized buckets and tables) and its links are appended to one
links file grouped by chunk of token positions; each chunk, gathered from every
bucket, is then read back in position order. Each group's blocks are punched out of
its file once read, so the run file shrinks as the links file grows, and the links
file as the multiplicities are written. The token places go to a file too, read
back by index. Memory follows the size of one bucket and one chunk (at most a
:data:`SMALL_PARTS`-th of a small input), not the input; the links, hence the
seeds and the matches, are exactly those of the in-memory path.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import mmap
import os
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import BinaryIO, NamedTuple

import numpy as np

from . import _passage_kernels
from .internal import BATCH_DOCS, trim_heap
from .parallel import can_share, ordered_map, shared_texts
from .text import TokenBatch, encode_utf8, shingle, tokenize

__all__ = [
    "NO_SHINGLE",
    "PLACE_EVERY",
    "Batch",
    "SeedStream",
    "TokenPlaces",
    "batches",
    "find_seeds",
    "pieces",
    "range_index",
    "seed_arrays",
    "spill_needed",
    "unit_text",
]

NO_SHINGLE = _passage_kernels.NO_SHINGLE

#: Characters per batch of work: short documents are tokenised together up to
#: this many, a longer one in pieces of about this size (cut before a space or
#: newline), so one huge line costs what many short ones do. The tokenizer holds
#: about 30 bytes per character of a batch, so batches stay small.
PIECE_CHARS = 1 << 18

#: Smaller inputs get batches down to this many characters (an input's size over 128): the
#: tokeniser's working set (about 40 bytes per character of a batch) stays a small share of
#: what the seeds take, however small the input.
MIN_PIECE_CHARS = 1 << 16

#: Every this many tokens of a document, where the token starts is kept (8 bytes), so that
#: locating a match tokenises a window of about this many tokens, not its whole document.
PLACE_EVERY = 64

#: Seeds are handed on in chunks of whole documents of about this many tokens.
CHUNK_TOKENS = 1 << 18

#: Spill mode: shingles held in memory (16 bytes each) before they go, grouped by bucket, to
#: the run file (8 bytes each).
RUN_SHINGLES = 1 << 21

#: Spill mode: shingles per bucket (a bucket is linked alone, in memory).
BUCKET_SHINGLES = 1 << 22

#: Spill mode: buckets when the input's size is not known beforehand (a stream).
UNKNOWN_SIZE_BUCKETS = 1 << 8

#: Spill mode: tokens per chunk of links (read back whole, 12 bytes a token in memory).
FILE_CHUNK_TOKENS = 1 << 22

#: Spill mode: a smaller input is held at most a this-th at a time (runs, buckets, chunks)...
SMALL_PARTS = 16

#: ... but in parts of at least this many shingles or tokens.
MIN_PART_SHINGLES = 1 << 16

_U64 = np.uint64


def _link_record(total: int) -> np.dtype:
    """Records of the chunk files: token, link, count; 12 bytes while positions fit 32 bits."""
    wide = "<i4" if _links_dtype(total) is np.int32 else "<i8"
    return np.dtype([("t", wide), ("v", wide), ("c", "<i4")])


#: (document, start, end) character ranges: whole documents, or the pieces of a long one.
Unit = tuple[int, int, int]


def _cut(text: str, start: int, limit: int) -> int:
    """End of the piece of ``text`` starting at ``start``: just before a space or newline
    near ``start + limit`` (no token spans either), or the end of the text."""
    if len(text) - start <= limit:
        return len(text)
    stop = start + limit
    best = max(text.rfind(" ", start + limit // 2, stop), text.rfind("\n", start + limit // 2, stop))
    if best > start:
        return best
    after = [p for p in (text.find(" ", stop), text.find("\n", stop)) if p >= 0]
    return min(after) if after else len(text)


class Batch(NamedTuple):
    """A batch of work: its units, their texts, and for one piece of a long document
    whether it is a piece (``piece``) and its document's last one (``last``)."""

    units: list[Unit]
    texts: list[str]
    piece: bool
    last: bool


def batches(texts: Iterable[str], piece_chars: int | None = None) -> Iterator[Batch]:
    """Batches of work, reading ``texts`` once, lazily: several whole short documents, or
    one piece of a long one (only the current batch's texts are held)."""
    piece_chars = piece_chars or PIECE_CHARS
    units: list[Unit] = []
    strs: list[str] = []
    chars = 0
    for d, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts must contain str, got {type(text).__name__} at index {d}")
        if len(text) > piece_chars:
            if units:
                yield Batch(units, strs, False, False)
                units, strs, chars = [], [], 0
            start = 0
            while start < len(text):
                end = _cut(text, start, piece_chars)
                whole = start == 0 and end == len(text)
                yield Batch([(d, start, end)], [text if whole else text[start:end]], not whole, end == len(text))
                start = end
            continue
        units.append((d, 0, len(text)))
        strs.append(text)
        chars += len(text)
        if chars >= piece_chars or len(units) >= BATCH_DOCS:
            yield Batch(units, strs, False, False)
            units, strs, chars = [], [], 0
    if units:
        yield Batch(units, strs, False, False)


def pieces(texts: Iterable[str], piece_chars: int | None = None) -> Iterator[list[Unit]]:
    """The units of :func:`batches`: several whole short documents, or one piece of a long one.

    >>> list(pieces(["a b", "c", "d e f g"], piece_chars=4))
    [[(0, 0, 3), (1, 0, 1)], [(2, 0, 3)], [(2, 3, 7)]]
    """
    return (b.units for b in batches(texts, piece_chars))


def unit_text(texts: Sequence[str], unit: Unit) -> str:
    """The characters of ``unit`` (a whole document, or a piece of one)."""
    d, start, end = unit
    text = texts[d]
    return text if start == 0 and end == len(text) else text[start:end]


#: A batch of work: its units, their texts (``None``: read from the shared texts), whether it is a piece.
Task = tuple[list[Unit], "list[str] | None", bool]


def _tokens(task: Task, ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-width shingle hashes, token counts and the start of every :data:`PLACE_EVERY`-th
    token of each document of a batch of whole documents; or the token hashes of one piece
    (its shingles need the last tokens of the piece before) and the start of every token."""
    units, given, is_piece = task
    texts = given if given is not None else [unit_text(shared_texts(), u) for u in units]
    tokens = tokenize(texts, offsets=True)
    assert tokens.starts is not None
    counts = tokens.counts()
    if is_piece:
        return tokens.hashes, counts, tokens.starts
    # Token j * PLACE_EVERY of every document, indexed without a pass over every token.
    places = tokens.starts[range_index(tokens.bounds[:-1], tokens.bounds[1:], PLACE_EVERY)]
    sh = shingle(tokens, ngram)
    short = np.flatnonzero((counts > 0) & (counts < ngram))  # their one shingle is not full width
    if not len(short):
        return sh.hashes, counts, places
    width_ok = np.ones(len(sh.hashes), dtype=bool)
    width_ok[sh.bounds[short]] = False
    return sh.hashes[width_ok], counts, places


class _Growing:
    """An int64 array appended to in pieces."""

    def __init__(self) -> None:
        self.data = np.zeros(1 << 10, dtype=np.int64)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        end = self.n + len(values)
        if end > len(self.data):
            grown = np.zeros(max(2 * len(self.data), end), dtype=np.int64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : end] = values
        self.n = end

    def array(self) -> np.ndarray:
        return self.data[: self.n].copy()


class _PlacesFile:
    """Token places appended to a file (spill mode: they grow with the input, 8 bytes per
    :data:`PLACE_EVERY` tokens), read back by index with :class:`FileArray`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n = 0
        self._out: BinaryIO | None = open(path, "wb")  # noqa: SIM115 (closed by array)

    def extend(self, values: np.ndarray) -> None:
        assert self._out is not None
        self._out.write(np.ascontiguousarray(values, dtype=np.int64).data)
        self.n += len(values)

    def array(self) -> FileArray:
        if self._out is not None:
            self._out.close()
            self._out = None
        return FileArray(self.path, np.dtype(np.int64), self.n)


class FileArray:
    """A read-only array in a file, read only where indexed (``a[index]`` for an integer array;
    indexes close together are read in one piece)."""

    #: Indexes closer than this share one read.
    GAP = 512

    def __init__(self, path: Path, dtype: np.dtype, n: int) -> None:
        self.path, self.dtype, self._n = path, np.dtype(dtype), n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        out = np.empty(len(index), dtype=self.dtype)
        if not len(index):
            return out
        order = np.argsort(index, kind="stable")
        wanted = index[order]
        if wanted[0] < 0 or wanted[-1] >= self._n:
            raise IndexError(f"index out of range for a file array of {self._n}")
        cuts = np.flatnonzero(np.diff(wanted) > self.GAP) + 1
        size = self.dtype.itemsize
        with open(self.path, "rb") as f:
            for a, b in itertools.pairwise([0, *cuts.tolist(), len(wanted)]):
                lo, hi = int(wanted[a]), int(wanted[b - 1]) + 1
                block = np.frombuffer(os.pread(f.fileno(), (hi - lo) * size, lo * size), dtype=self.dtype)
                if len(block) != hi - lo:
                    raise OSError(f"{self.path}: spill file shorter than written")
                out[order[a:b]] = block[wanted[a:b] - lo]
        return out


@dataclass(frozen=True)
class TokenPlaces:
    """Where every :data:`PLACE_EVERY`-th token of each document starts (a character offset),
    recorded while the seeds are found: the offsets of any token are then found by tokenising
    only the window of text from the place before it to the place after it.

    ``starts[first[d] + j]`` is where token ``j * every`` of document ``d`` starts (in
    memory, or a :class:`FileArray` in spill mode).
    """

    starts: np.ndarray | FileArray
    first: np.ndarray
    every: int

    @staticmethod
    def from_counts(starts: np.ndarray | FileArray, token_bounds: np.ndarray, every: int) -> TokenPlaces:
        per_doc = -(-np.diff(token_bounds) // every)  # ceil
        first = np.zeros(len(per_doc) + 1, dtype=np.int64)
        np.cumsum(per_doc, out=first[1:])
        if first[-1] != len(starts):
            raise AssertionError(f"token places: {len(starts)} recorded, {int(first[-1])} expected")
        return TokenPlaces(starts, first, every)


class _Counts:
    """A growing int64 array: tokens per document, for inputs whose length is not known yet."""

    def __init__(self) -> None:
        self.data = np.zeros(1 << 10, dtype=np.int64)
        self.n = 0

    def add(self, first: int, counts: np.ndarray | int) -> None:
        """``counts`` of documents ``first, first + 1, ...`` (added to what they hold)."""
        counts = np.atleast_1d(np.asarray(counts, dtype=np.int64))
        end = first + len(counts)
        if end > len(self.data):
            grown = np.zeros(max(2 * len(self.data), end), dtype=np.int64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[first:end] += counts
        self.n = max(self.n, end)

    def bounds(self) -> np.ndarray:
        """Token bounds: ``bounds[d]:bounds[d + 1]`` are the tokens of document ``d``."""
        out = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(self.data[: self.n], out=out[1:])
        return out


def _shingle_stream(
    texts: Iterable[str],
    ngram: int,
    jobs: int,
    doc_tokens: _Counts,
    places: _Growing | _PlacesFile,
    room: Callable[[int], np.ndarray | None] | None = None,
) -> Iterator[tuple[np.ndarray, int, np.ndarray | None]]:
    """Full-width shingle hashes in document order, batch by batch, with the global token
    position of the batch's first token and the token counts of its documents (``None`` for
    the piece of a long document: its shingles start at consecutive tokens); fills
    ``doc_tokens`` (tokens per document) and ``places`` (see :class:`TokenPlaces`).
    ``texts`` is read once, in order. ``room(n)``, if given, may return an array of at least
    ``n`` slots where a batch's hashes can be written (then they are yielded as a view of it)."""
    shared = isinstance(texts, (list, tuple)) and jobs > 1 and can_share()
    # Of the batches handed out and not yet consumed (ordered_map keeps task order): units,
    # whether a piece, whether its document's last piece.
    pending: deque[tuple[list[Unit], bool, bool]] = deque()

    size = _chars(texts)
    piece_chars = PIECE_CHARS if size is None else max(MIN_PIECE_CHARS, min(PIECE_CHARS, size >> 7))
    # One process and a known size (a stream of unknown size may be tiny: its first batches do
    # not load the kernels then).
    kernels = _passage_kernels.compiled(size) if jobs == 1 and size is not None else None
    if kernels is not None:
        yield from _fused_stream(kernels, batches(texts, piece_chars), ngram, doc_tokens, places, room)
        return

    def tasks() -> Iterator[Task]:
        for b in batches(texts, piece_chars):
            pending.append((b.units, b.piece, b.last))
            yield (b.units, None if shared else b.texts, b.piece)

    if shared:
        results = ordered_map(_tokens, tasks(), jobs, ngram, shared=texts)  # type: ignore[arg-type]
    else:
        results = ordered_map(_tokens, tasks(), jobs, ngram)
    offset = 0  # global position of the next token
    tail = np.zeros(0, dtype=np.uint64)  # last ngram - 1 tokens of the long document being read
    for hashes, counts, starts in results:
        units, is_piece, last = pending.popleft()
        if not is_piece:
            doc_tokens.add(units[0][0], counts)
            places.extend(starts)
            yield hashes, offset, counts
            offset += int(counts.sum())
            continue
        d, start, _ = units[0]
        before = int(doc_tokens.data[d]) if d < doc_tokens.n else 0  # tokens of the pieces before
        places.extend(starts[(-before) % PLACE_EVERY :: PLACE_EVERY] + start)
        doc_tokens.add(units[0][0], counts[:1])
        window = np.concatenate((tail, hashes))
        n = len(window)
        if n >= ngram:
            yield shingle(TokenBatch(window, np.array([0, n], dtype=np.int64)), ngram).hashes, offset - len(tail), None
        offset += int(counts[0])
        tail = window[:0] if last else window[max(0, n - ngram + 1) :]


def _fused_stream(
    kernels: SimpleNamespace,
    work: Iterator[Batch],
    ngram: int,
    doc_tokens: _Counts,
    places: _Growing | _PlacesFile,
    room: Callable[[int], np.ndarray | None] | None = None,
) -> Iterator[tuple[np.ndarray, int, np.ndarray | None]]:
    """What :func:`_shingle_stream` yields, from one compiled pass per batch over its UTF-8
    (:func:`dedup._passage_kernels.shingle_utf8`): no per-token arrays of offsets, hashes and
    shingles, so the batch's working set is its bytes and its shingles. The pieces of a long
    document are read in order, each carrying the last tokens of the one before. The hashes
    yielded are a view of ``room``'s array or of a buffer the next batch overwrites."""
    scratch = np.empty(0, dtype=np.uint64)
    found = np.empty(0, dtype=np.int64)
    tail = np.zeros(max(1, ngram - 1), dtype=np.uint64)
    n_tail = before = 0  # tokens carried from the pieces before / in them
    offset = 0  # global position of the next token
    for batch in work:
        utf8 = encode_utf8(batch.texts)
        keys = room(len(utf8.data)) if room is not None else None  # a slot per byte: tokens are fewer
        if keys is None:
            if len(scratch) < len(utf8.data):
                scratch = np.empty(len(utf8.data), dtype=np.uint64)
            keys = scratch
        if len(found) < len(utf8.data) // PLACE_EVERY + 1 + len(batch.units):
            found = np.empty(len(utf8.data) // PLACE_EVERY + 1 + len(batch.units), dtype=np.int64)
        counts = np.zeros(len(batch.units), dtype=np.int64)
        if not batch.piece or batch.units[0][1] == 0:  # a document's start
            n_tail = before = 0
        carried = n_tail
        n_keys, n_places, n_tail = kernels.shingle_utf8(
            utf8.data, utf8.ends, utf8.fold, utf8.klass, utf8.astral_cps, utf8.astral_fold, utf8.astral_class,
            ngram, PLACE_EVERY, tail, carried, before, batch.units[0][1], keys, found, counts,
        )  # fmt: skip
        del utf8
        places.extend(found[:n_places])
        doc_tokens.add(batch.units[0][0], counts)
        if batch.piece:
            yield keys[:n_keys], offset - carried, None
            before += int(counts[0])
        else:
            yield keys[:n_keys], offset, counts
        offset += int(counts.sum())


@dataclass
class SeedStream:
    """Seeds of a collection: token bounds, the multiplicity of each token's shingle, and the
    seeds themselves in ``repeat`` order (:meth:`chunks`, to be read once)."""

    token_bounds: np.ndarray
    multiplicity: LinkMultiplicity | FileMultiplicity
    _chunks: Iterator[tuple[np.ndarray, np.ndarray]]
    _work_dir: Path | None = None
    _own_dir: bool = False
    places: TokenPlaces | None = None

    def chunks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(original, repeat)`` int64 arrays, ``repeat`` ascending across all chunks."""
        return self._chunks

    def close(self) -> None:
        """Remove the spill files (a work directory made for this run goes too)."""
        if self._work_dir is not None:
            if self._own_dir:
                shutil.rmtree(self._work_dir, ignore_errors=True)
            else:
                for f in self._work_dir.glob("dedup-seeds-*"):
                    f.unlink(missing_ok=True)

    def __enter__(self) -> SeedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LinkMultiplicity:
    """How often the shingle starting at each token occurs, read from the in-memory links."""

    def __init__(self, links: np.ndarray) -> None:
        self._links = links

    def __len__(self) -> int:
        return len(self._links)

    def __getitem__(self, key: slice) -> np.ndarray:
        return self._counts(self._links[key].astype(np.int64))

    def ranges(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``self[lo[k]:hi[k]]`` for every ``k``, concatenated (one gather for them all)."""
        return self._counts(self._links[range_index(lo, hi)].astype(np.int64))

    def _counts(self, v: np.ndarray) -> np.ndarray:
        later = v >= 0
        out = np.where(v == NO_SHINGLE, 0, -v)
        out[later] = -self._links[v[later]]
        return out


def range_index(lo: np.ndarray, hi: np.ndarray, step: int = 1) -> np.ndarray:
    """The indexes ``lo[k], lo[k] + step, ...`` below ``hi[k]`` for every ``k``, concatenated.

    >>> range_index(np.array([3, 10]), np.array([5, 13])).tolist()
    [3, 4, 10, 11, 12]
    >>> range_index(np.array([0, 5]), np.array([5, 7]), 2).tolist()
    [0, 2, 4, 5]
    """
    lo = np.asarray(lo, dtype=np.int64)
    lengths = -(-np.maximum(np.asarray(hi, dtype=np.int64) - lo, 0) // step)  # ceil
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    index = np.arange(int(lengths.sum()), dtype=np.int64)
    if step != 1:
        index *= step
    index += np.repeat(lo - step * starts, lengths)
    return index


class FileMultiplicity:
    """The same, read by slices from a file of one int32 per token (spill mode)."""

    def __init__(self, path: Path, n: int) -> None:
        self._path, self._n = path, n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, _ = key.indices(self._n)
        count = max(0, stop - start)
        return np.fromfile(self._path, dtype=np.int32, count=count, offset=4 * start).astype(np.int64)

    def ranges(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``self[lo[k]:hi[k]]`` for every ``k``, concatenated; ranges close together (sorted,
        as the located candidates are) are read in one piece."""
        if not len(lo):
            return np.zeros(0, dtype=np.int64)
        first, last = int(np.min(lo)), int(np.max(hi))
        if last - first <= 4 * int(np.sum(hi - lo)) + (1 << 16):
            return self[first:last][range_index(np.asarray(lo) - first, np.asarray(hi) - first)]
        return np.concatenate([self[int(a) : int(b)] for a, b in zip(lo, hi)])


def _chunks(total: int, chunk_tokens: int) -> np.ndarray:
    """Token bounds of consecutive chunks of ``chunk_tokens`` tokens (a long document spans
    several: the chaining downstream carries its open chains from one chunk to the next)."""
    return np.append(np.arange(0, total, chunk_tokens, dtype=np.int64), np.int64(total))


def _links_dtype(total: int) -> type:
    return np.int32 if total < (1 << 31) - 1 else np.int64


def _link_numpy(keys: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference of :func:`dedup._passage_kernels.links_from_sorted` as (position, link, count)."""
    sorted_h = keys >> _U64(bits)
    pos = (keys & ((_U64(1) << _U64(bits)) - _U64(1))).astype(np.int64)
    new_group = np.ones(len(keys), dtype=bool)
    new_group[1:] = sorted_h[1:] != sorted_h[:-1]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, len(keys)))
    first = np.repeat(pos[starts], sizes)
    count = np.repeat(sizes, sizes)
    return pos, np.where(new_group, -count, first), count


def find_seeds(
    texts: Iterable[str],
    ngram: int,
    jobs: int = 1,
    spill: str | os.PathLike | None = None,
    *,
    run_shingles: int | None = None,
    chunk_tokens: int | None = None,
) -> SeedStream:
    """The seeds of ``texts`` (see the module docstring); ``spill`` is a work directory.

    ``texts`` is read once, in order (a list, or any iterable such as a
    :class:`dedup.text_source.TextSource`).

    ``run_shingles`` (spill mode: shingles held before writing) and
    ``chunk_tokens`` (tokens per chunk of seeds) default to :data:`RUN_SHINGLES`
    and :data:`CHUNK_TOKENS`.
    """
    run_shingles = run_shingles or RUN_SHINGLES
    chunk_tokens = chunk_tokens or CHUNK_TOKENS
    if spill is None:
        return _in_memory(texts, ngram, jobs, chunk_tokens)
    return _spilled(texts, ngram, jobs, Path(spill), run_shingles, chunk_tokens)


def _pairs(links: np.ndarray, cuts: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for lo, hi in zip(cuts[:-1].tolist(), cuts[1:].tolist()):
        v = links[lo:hi]
        rel = np.flatnonzero(v >= 0)
        yield v[rel].astype(np.int64), rel + lo


def _full_positions(token_bounds: np.ndarray, ngram: int) -> np.ndarray:
    """Global first token of every full-width shingle, in document order (numpy reference of
    the positions :func:`dedup._passage_kernels.pack_keys` writes)."""
    full = np.maximum(np.diff(token_bounds) - ngram + 1, 0)
    before = np.zeros(len(full), dtype=np.int64)
    np.cumsum(full[:-1], out=before[1:])
    return np.repeat(token_bounds[:-1] - before, full) + np.arange(int(full.sum()), dtype=np.int64)


def _pack(keys: np.ndarray, token_bounds: np.ndarray, ngram: int, bits: int) -> None:
    kernels = _passage_kernels.compiled(len(keys))
    if kernels is not None:
        kernels.pack_keys(keys, token_bounds, ngram, bits)
        return
    keys >>= _U64(bits)
    keys <<= _U64(bits)
    keys |= _full_positions(token_bounds, ngram).astype(np.uint64)


def _chars(texts: Iterable[str]) -> int | None:
    """Characters in ``texts`` if known without reading them (a list, or a source's ``size_hint``)."""
    if isinstance(texts, (list, tuple)):
        return sum(len(t) for t in texts)
    hint = getattr(texts, "size_hint", None)
    return int(hint) if hint is not None else None


#: Keys from which their map asks for huge pages (64 MB).
HUGE_PAGE_KEYS = 1 << 23


def _anonymous(n: int) -> np.ndarray:
    """``n`` uint64 in an anonymous memory map: pages are committed when first written, and
    the tail can be given back to the system (:func:`_give_back`) while the head is in use."""
    private, anonymous = getattr(mmap, "MAP_PRIVATE", None), getattr(mmap, "MAP_ANONYMOUS", None)
    if private is None or anonymous is None:
        return np.empty(n, dtype=np.uint64)  # no private anonymous maps here: nothing handed back
    # Private, not mmap's default shared map of /dev/zero: only private anonymous memory gets
    # huge pages (a shared map faults in 4 KB pages, and random access at 1 GB misses the TLB).
    mm = mmap.mmap(-1, max(8, 8 * n), flags=private | anonymous)
    if n >= HUGE_PAGE_KEYS:  # a smaller map would carry up to a 2 MB page of slack for little gain
        with contextlib.suppress(AttributeError, OSError):
            mm.madvise(mmap.MADV_HUGEPAGE)  # as numpy does for its own large arrays
    return np.frombuffer(mm, dtype=np.uint64)


def _give_back(array: np.ndarray, keep_bytes: int) -> None:
    """Hand the pages of ``array``'s memory map after its first ``keep_bytes`` back to the system."""
    mm = array.base
    while isinstance(mm, np.ndarray):
        mm = mm.base
    if isinstance(mm, memoryview):  # np.frombuffer's base: the buffer it was given holds the map
        mm = mm.obj
    if not isinstance(mm, mmap.mmap):
        return
    map_start = np.frombuffer(mm, dtype=np.uint8).__array_interface__["data"][0]
    at = array.__array_interface__["data"][0] - map_start + keep_bytes
    start = -(-at // mmap.PAGESIZE) * mmap.PAGESIZE
    if start < len(mm):
        with contextlib.suppress(AttributeError, OSError):
            mm.madvise(mmap.MADV_DONTNEED, start, len(mm) - start)


def _read_all(texts: Iterable[str], ngram: int, jobs: int, places: _Growing) -> tuple[np.ndarray, np.ndarray]:
    """Full-width shingle hashes of every document (in one array) and the token bounds."""
    doc_tokens = _Counts()
    # One slot per 3 characters is more than any text in a spaced script needs; untouched
    # pages of the allocation are never committed, and CJK-heavy input grows it.
    keys = _anonymous((_chars(texts) or 1 << 22) // 3 + 1024)
    n_keys = 0

    def room(n: int) -> np.ndarray | None:  # the shingles written straight into the keys if they fit
        return keys[n_keys:] if n_keys + n <= len(keys) else None

    for hashes, _, _ in _shingle_stream(texts, ngram, jobs, doc_tokens, places, room):
        if len(hashes) and np.may_share_memory(hashes, keys):
            n_keys += len(hashes)  # written in place
            continue
        if n_keys + len(hashes) > len(keys):
            grown = _anonymous(max(2 * len(keys), n_keys + len(hashes)))
            grown[:n_keys] = keys[:n_keys]
            keys = grown
        keys[n_keys : n_keys + len(hashes)] = hashes
        n_keys += len(hashes)
    trim_heap()  # the reading's freed buffers are not kept resident under the linking
    return keys[:n_keys], doc_tokens.bounds()


#: Keys per bucket when the keys are grouped before linking: a bucket's table (24 bytes per
#: slot, two slots per key) stays in the core's cache.
LINK_BUCKET = 1 << 15

#: Keys in one bucket at most for its table; a larger bucket (one shingle repeated that often)
#: is sorted instead, so the table never grows with the input.
LINK_TABLE_MAX = 1 << 17


def _link(
    kernels: SimpleNamespace,
    keys: np.ndarray,
    bits: int,
    out: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray],
    skip: int = 0,
    *,
    bucket: int = LINK_BUCKET,
    table_max: int = LINK_TABLE_MAX,
) -> None:
    """Links of ``keys`` (packed, any order; reordered in place) into ``out``: the token-indexed
    ``links`` array (:func:`dedup._passage_kernels.links_from_sorted`'s result), the
    ``(position, link, count)`` records of the spill mode, or ``keys`` itself (each key
    replaced by its token's (position, link) record). Radix passes group the keys by the top
    bits of their hash (below the ``skip`` highest, which all keys share) into buckets of about
    :data:`LINK_BUCKET` keys; each bucket's groups are then found in a table held in cache,
    never sorted: sort and links took 1.84 CPU-s at 100 MB, this 0.82, still in place."""
    n = len(keys)
    bucket_bits = min(16, max(0, (n // bucket).bit_length()), max(0, 64 - bits - skip))
    bounds = _partition(kernels, keys, bucket_bits, skip)
    largest = int(np.diff(bounds).max()) if n else 0
    size = 16
    while size < 2 * largest and size < 2 * table_max:
        size *= 2
    # First positions and counts in 32 bits while positions fit: 12 bytes a slot, not 24.
    wide = np.int32 if bits < 31 else np.int64
    table = (np.empty(size, np.uint64), np.empty(size, wide), np.empty(size, wide))
    slot = np.empty(min(largest, table_max), wide)
    if isinstance(out, tuple):
        kernels.records_from_buckets(keys, bounds, bits, *out, *table, slot)
    elif out is keys:
        kernels.records_in_place(keys, bounds, bits, *table, slot)
    else:
        kernels.links_from_buckets(keys, bounds, bits, out, *table, slot)


#: Bits a radix pass splits on at most: 256 buckets keep the pass's write heads in cache
#: (at 300 MB, one pass on 11 bits took 3.2 CPU-s for both groupings, two passes 2.4; the
#: gap grows with the number of buckets).
RADIX_BITS = 8


def _partition(kernels: SimpleNamespace, keys: np.ndarray, bucket_bits: int, skip: int) -> np.ndarray:
    """Bounds of ``keys`` reordered in place into ``2**bucket_bits`` buckets by the top bits
    below the ``skip`` highest, in passes of at most :data:`RADIX_BITS` bits (MSD)."""
    if bucket_bits <= 0:
        return np.array([0, len(keys)], dtype=np.int64)
    if bucket_bits <= RADIX_BITS:
        return np.asarray(kernels.partition_top_bits(keys, bucket_bits, skip), dtype=np.int64)
    top = kernels.partition_top_bits(keys, RADIX_BITS, skip).tolist()
    parts = [np.zeros(1, dtype=np.int64)]
    for lo, hi in itertools.pairwise(top):
        parts.append(_partition(kernels, keys[lo:hi], bucket_bits - RADIX_BITS, skip + RADIX_BITS)[1:] + lo)
    return np.concatenate(parts)


#: Tokens per bucket when the links are laid out by token in the keys' memory.
PLACE_BUCKET_BITS = 15


def _links_in_place(kernels: SimpleNamespace, keys: np.ndarray, bits: int, total: int) -> np.ndarray:
    """The int32 ``links`` of packed ``keys``, built in the keys' own memory: the links are
    written over the keys as (position, link) records, the records grouped by position (one
    radix pass), then each group laid out by token from the start of the same memory, the
    rest of which is handed back. Peak: 8 bytes per shingle, not 8 + 4 per token. When a
    group's links would reach records not yet laid out (an input of mostly tiny documents,
    fewer shingles than half its tokens), the records are scattered to a new array instead."""
    _link(kernels, keys, bits, keys)
    width = min(PLACE_BUCKET_BITS, bits)
    bounds = _partition(kernels, keys, bits - width, 32 - bits)
    ends = np.minimum(np.arange(1, len(bounds), dtype=np.int64) << width, total)
    temp = np.empty(max(1, int(np.diff(bounds).max())), dtype=np.uint64)
    if np.all(ends <= 2 * bounds[1:]):  # a group's links end before the next group's records
        links = keys.view(np.int32)[:total]
        kernels.place_records(keys, bounds, width, total, links, temp, NO_SHINGLE)
        _give_back(keys, 4 * total)
        return links
    links = np.empty(total, dtype=np.int32)
    kernels.place_records(keys, bounds, width, total, links, temp, NO_SHINGLE)
    return links


def _in_memory(texts: Iterable[str], ngram: int, jobs: int, chunk_tokens: int) -> SeedStream:
    places = _Growing()
    keys, token_bounds = _read_all(texts, ngram, jobs, places)
    total = int(token_bounds[-1])
    bits = max(1, total.bit_length())
    kernels = _passage_kernels.compiled(len(keys))
    links: np.ndarray
    if len(keys) and kernels is not None and _links_dtype(total) is np.int32:
        _pack(keys, token_bounds, ngram, bits)
        links = _links_in_place(kernels, keys, bits, total)
    else:
        links = np.full(total, NO_SHINGLE, dtype=_links_dtype(total))
        if len(keys):
            _pack(keys, token_bounds, ngram, bits)
            if kernels is not None:
                _link(kernels, keys, bits, links)
            else:
                keys.sort()
                pos, link, _ = _link_numpy(keys, bits)
                links[pos] = link
    del keys
    trim_heap()
    seeds = SeedStream(token_bounds, LinkMultiplicity(links), _pairs(links, _chunks(total, chunk_tokens)))
    seeds.places = TokenPlaces.from_counts(places.array(), token_bounds, PLACE_EVERY)
    return seeds


def _spilled(
    texts: Iterable[str], ngram: int, jobs: int, work: Path, run_shingles: int, chunk_tokens: int
) -> SeedStream:
    own = not work.exists()
    work.mkdir(parents=True, exist_ok=True)
    prefix = work / f"dedup-seeds-{os.getpid()}-{id(texts):x}"
    stream = SeedStream(np.zeros(1, dtype=np.int64), LinkMultiplicity(np.zeros(0, np.int32)), iter(()), work, own)
    try:
        return _spill_into(stream, prefix, texts, ngram, jobs, run_shingles, chunk_tokens)
    except BaseException:
        stream.close()
        raise


def _pack_run(
    kernels: SimpleNamespace | None, h: np.ndarray, p: np.ndarray, bucket_bits: int
) -> tuple[np.ndarray, int, int]:
    """The run's records (8 bytes each, in ``h``'s memory), grouped by bucket, their counts per
    bucket, and the run's base position and position width ``rb``: each record keeps its hash
    above its position relative to the run's first (``rb`` low bits). The in-memory keys keep
    the hash above ``bits = total.bit_length() >= rb`` bits, so the hash bits a record keeps are
    all the key needs (a key is rebuilt exactly, see :func:`_unpack_runs`) though the number of
    tokens is not known while the input streams."""
    base = int(p.min()) if len(p) else 0
    rb = (int(p.max()) - base).bit_length() if len(p) else 0
    h >>= _U64(rb)
    h <<= _U64(rb)
    h |= (p - base).astype(np.uint64)
    n_buckets = 1 << bucket_bits
    if kernels is not None:
        bounds = _partition(kernels, h, bucket_bits, 0)
    else:
        top = (h >> _U64(64 - bucket_bits)).astype(np.uint16) if bucket_bits else np.zeros(len(h), np.uint16)
        order = np.argsort(top, kind="stable")  # a stable sort of 16-bit keys is a radix sort
        h[:] = h[order]
        bounds = np.searchsorted(top[order], np.arange(n_buckets + 1))
    return np.diff(bounds), base, rb


def _unpack_runs(keys: np.ndarray, counts: np.ndarray, bases: np.ndarray, widths: np.ndarray, bits: int) -> None:
    """Rebuild in place the packed keys (hash above ``bits`` position bits) of a bucket's
    records, read run after run (``counts[r]`` records of run ``r``, whose positions are
    relative to ``bases[r]`` in ``widths[r]`` bits)."""
    start = 0
    b = _U64(bits)
    for r in np.flatnonzero(counts).tolist():
        seg = keys[start : start + int(counts[r])]
        start += int(counts[r])
        pos = seg & _U64((1 << int(widths[r])) - 1)
        pos += _U64(int(bases[r]))
        seg >>= b
        seg <<= b
        seg |= pos


class _GroupedFile:
    """Records appended to one file in writes, each write grouped (``counts[g]`` records of
    group ``g``, in group order); :meth:`read` gathers one group's records from every write.
    One file, opened once, instead of one file per group appended to at every write."""

    def __init__(self, path: Path, dtype: np.dtype, n_groups: int) -> None:
        self.path, self.dtype, self.n_groups = path, np.dtype(dtype), n_groups
        self._out: BinaryIO | None = open(path, "wb")  # noqa: SIM115 (closed by finish)
        self._counts: list[np.ndarray] = []
        self._starts: list[int] = []
        self._end = 0
        self._offsets = np.zeros((0, n_groups), dtype=np.int64)
        self.counts = np.zeros((0, n_groups), dtype=np.int64)

    def append(self, records: np.ndarray, counts: np.ndarray) -> None:
        """Write ``records``, grouped: ``counts[g]`` records of group ``g`` in group order."""
        assert self._out is not None
        if not len(records):
            return
        self._out.write(np.ascontiguousarray(records).view(np.uint8).data)
        self._counts.append(np.asarray(counts, dtype=np.int64))
        self._starts.append(self._end)
        self._end += len(records) * self.dtype.itemsize

    def finish(self) -> None:
        """End the writes; :meth:`read` may be called from then on."""
        if self._out is not None:
            self._out.close()
            self._out = None
        if self._counts:
            self.counts = np.stack(self._counts)
            before = np.cumsum(self.counts, axis=1) - self.counts
            self._offsets = np.asarray(self._starts, dtype=np.int64)[:, None] + before * self.dtype.itemsize
        self._counts, self._starts = [], []

    def read(self, g: int, punch: bool = False) -> np.ndarray:
        """The records of group ``g``, write after write; with ``punch``, their blocks of the
        file are handed back to the file system (each group is read once: the file shrinks
        as the next one grows)."""
        counts = self.counts[:, g] if len(self.counts) else np.zeros(0, dtype=np.int64)
        out = np.empty(int(counts.sum()), dtype=self.dtype)
        if not len(out):
            return out
        view = out.view(np.uint8).data
        size = self.dtype.itemsize
        at = 0
        fd = os.open(self.path, os.O_RDWR if punch else os.O_RDONLY)
        try:
            for w in np.flatnonzero(counts).tolist():
                want = int(counts[w]) * size
                offset = int(self._offsets[w, g])
                start = offset
                while want:
                    got = os.preadv(fd, [view[at : at + want]], offset)
                    if got <= 0:
                        raise OSError(f"{self.path}: spill file shorter than written")
                    at, want, offset = at + got, want - got, offset + got
                if punch:
                    _punch_hole(fd, start, offset - start)
        finally:
            os.close(fd)
        return out


def _punch_hole(fd: int, offset: int, length: int) -> None:
    """Hand the whole blocks of ``fd``'s bytes ``offset:offset + length`` back to the file system
    (Linux ``fallocate(PUNCH_HOLE | KEEP_SIZE)``; nothing where it is not supported)."""
    lo = -(-offset // _BLOCK) * _BLOCK
    hi = (offset + length) // _BLOCK * _BLOCK
    if hi <= lo or _FALLOCATE[0] is None:
        return
    if _FALLOCATE[0] is False:
        try:
            fallocate = ctypes.CDLL(None, use_errno=True).fallocate
            fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            _FALLOCATE[0] = fallocate
        except (OSError, AttributeError):
            _FALLOCATE[0] = None
            return
    if _FALLOCATE[0](fd, _PUNCH_HOLE | _KEEP_SIZE, lo, hi - lo) != 0:
        _FALLOCATE[0] = None  # not supported by this file system: the file keeps its blocks


#: libc's ``fallocate`` once looked up (``False``: not yet, ``None``: none or unsupported).
_FALLOCATE: list = [False]
_PUNCH_HOLE, _KEEP_SIZE = 0x02, 0x01
#: File system block: only whole blocks are punched out.
_BLOCK = 4096


def _grouped(
    kernels: SimpleNamespace | None, records: np.ndarray, per_group: int, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Link ``records`` (fields ``t``, ``v``, ``c``) reordered by chunk ``t // per_group``
    (stable) and the number of records per chunk."""
    counts = np.zeros(n_groups, dtype=np.int64)
    if kernels is not None:
        out = np.empty_like(records)
        kernels.group_records(records["t"], records["v"], records["c"], per_group, out["t"], out["v"], out["c"], counts)
        return out, counts
    group = records["t"] // per_group
    if n_groups <= 1 << 16:
        group = group.astype(np.uint16)  # a stable sort of 16-bit keys is a radix sort
    order = np.argsort(group, kind="stable")
    # Taken as opaque bytes: fancy indexing of a structured array goes field by field (8x slower).
    records = np.take(records.view(f"V{records.dtype.itemsize}"), order).view(records.dtype)
    counts += np.bincount(group, minlength=n_groups)
    return records, counts


def _spill_into(
    stream: SeedStream,
    prefix: Path,
    texts: Iterable[str],
    ngram: int,
    jobs: int,
    run_shingles: int,
    chunk_tokens: int,
) -> SeedStream:
    total_chars = _chars(texts)
    # Buckets of about BUCKET_SHINGLES shingles each (about one shingle per 5 characters), at
    # least SMALL_PARTS of a smaller input, and runs of at most a SMALL_PARTS-th of it too: what
    # is held at a time follows the input's size below that, not a fixed 100 MB. Input of
    # unknown size gets UNKNOWN_SIZE_BUCKETS.
    if total_chars is not None:
        shingles = max(1, total_chars // 5)
        per_bucket = min(BUCKET_SHINGLES, max(MIN_PART_SHINGLES, shingles // SMALL_PARTS))
        want = max(1, shingles // per_bucket)
        run_shingles = min(run_shingles, max(MIN_PART_SHINGLES, shingles // SMALL_PARTS))
    else:
        want = UNKNOWN_SIZE_BUCKETS
    bucket_bits = min(12, max(0, (want - 1).bit_length()))
    n_buckets = 1 << bucket_bits

    doc_tokens = _Counts()
    places = _PlacesFile(Path(f"{prefix}.places"))
    # Every run is written to one file, grouped by bucket: 8 bytes per shingle (see _pack_run);
    # each bucket's part is punched out of the file once read.
    runs = _GroupedFile(Path(f"{prefix}.runs"), np.dtype(np.uint64), n_buckets)
    bases: list[int] = []
    widths: list[int] = []
    run_h = np.empty(run_shingles, dtype=np.uint64)
    run_p = np.empty(run_shingles, dtype=np.int64)
    filled = 0

    def flush(h: np.ndarray, p: np.ndarray) -> None:
        # The kernels for the run's actual size: a small input does not load them.
        counts, base, rb = _pack_run(_passage_kernels.compiled(len(h)), h, p, bucket_bits)
        runs.append(h, counts)
        if len(h):
            bases.append(base)
            widths.append(rb)

    for hashes, first, counts in _shingle_stream(texts, ngram, jobs, doc_tokens, places):
        if counts is None:
            positions = np.arange(first, first + len(hashes), dtype=np.int64)
        else:
            local = np.zeros(len(counts) + 1, dtype=np.int64)
            np.cumsum(counts, out=local[1:])
            positions = _full_positions(local, ngram) + first
        done = 0
        while done < len(hashes):
            take = min(len(hashes) - done, run_shingles - filled)
            run_h[filled : filled + take] = hashes[done : done + take]
            run_p[filled : filled + take] = positions[done : done + take]
            filled += take
            done += take
            if filled == run_shingles:
                flush(run_h, run_p)
                filled = 0
    flush(run_h[:filled], run_p[:filled])
    runs.finish()
    del run_h, run_p
    token_bounds = doc_tokens.bounds()
    total = int(token_bounds[-1])
    bits = max(1, total.bit_length())
    file_chunk = max(chunk_tokens, min(FILE_CHUNK_TOKENS, total // SMALL_PARTS))
    link_record = _link_record(total)
    cuts = _chunks(total, file_chunk)
    n_chunks = len(cuts) - 1
    # Links of every bucket to one file, grouped by chunk of tokens.
    linked = _GroupedFile(Path(f"{prefix}.links"), link_record, n_chunks)
    run_bases, run_widths = np.asarray(bases, dtype=np.int64), np.asarray(widths, dtype=np.int64)

    # Every shingle of a group shares the top bits of its hash, so it is in one bucket.
    for b in range(n_buckets):
        keys = runs.read(b, punch=True)
        if not len(keys):
            continue
        _unpack_runs(keys, runs.counts[:, b], run_bases, run_widths, bits)
        out = np.empty(len(keys), dtype=link_record)
        kernels = _passage_kernels.compiled(len(keys))
        if kernels is not None:
            _link(kernels, keys, bits, (out["t"], out["v"], out["c"]), skip=bucket_bits)
        else:
            keys.sort()
            out["t"], out["v"], out["c"] = _link_numpy(keys, bits)
        del keys
        linked.append(*_grouped(kernels, out, file_chunk, n_chunks))
        del out
    linked.finish()
    runs.path.unlink()

    mult_path = Path(f"{prefix}.mult")
    mult_path.write_bytes(b"")

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for c, (lo, hi) in enumerate(zip(cuts[:-1].tolist(), cuts[1:].tolist())):
            links: np.ndarray = np.full(hi - lo, NO_SHINGLE, dtype=np.int64)
            mult = np.zeros(hi - lo, dtype=np.int32)
            rec = linked.read(c, punch=True)
            kernels = _passage_kernels.compiled(len(rec))
            if kernels is not None:
                kernels.scatter_records(rec["t"], rec["v"], rec["c"], lo, links, mult)
            elif len(rec):
                links[rec["t"] - lo] = rec["v"]
                mult[rec["t"] - lo] = rec["c"]
            del rec
            with open(mult_path, "ab") as f:
                mult.tofile(f)
            del mult
            for a in range(0, hi - lo, chunk_tokens):  # handed on in chunks of chunk_tokens
                v = links[a : a + chunk_tokens]
                rel = np.flatnonzero(v >= 0)
                yield v[rel], rel + (lo + a)
        linked.path.unlink(missing_ok=True)

    stream.token_bounds = token_bounds
    stream.places = TokenPlaces.from_counts(places.array(), token_bounds, PLACE_EVERY)
    del places
    stream.multiplicity = FileMultiplicity(mult_path, total)
    stream._chunks = chunks()
    return stream


def spill_needed(texts: Iterable[str], available: int | None = None) -> bool:
    """Whether the in-memory seeds of ``texts`` would take more than half the available memory.

    In memory, seeds take about 12 bytes per token, and a token takes at
    least 3 characters in spaced scripts; ``available`` defaults to the
    system's MemAvailable.
    """
    chars = _chars(texts)
    if chars is None:
        return True  # a stream of unknown size: texts the caller does not hold are big
    if available is None:
        available = _mem_available()
    return 4 * chars > available // 2


def _mem_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def seed_arrays(texts: Sequence[str], ngram: int, jobs: int = 1) -> tuple[np.ndarray, ...]:
    """All seeds as flat arrays ``(original, repeat, token_bounds, multiplicity)`` (in memory;
    for comparing engines: ``multiplicity`` is dense, one int per token)."""
    with find_seeds(texts, ngram, jobs) as seeds:
        pairs = list(seeds.chunks())
        original = np.concatenate([p[0] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
        repeat = np.concatenate([p[1] for p in pairs]) if pairs else np.zeros(0, dtype=np.int64)
        multiplicity = seeds.multiplicity[0 : int(seeds.token_bounds[-1])]
        return original, repeat, seeds.token_bounds, multiplicity
