"""Package-internal helpers shared by the engines (local, parallel and Spark).

Nothing here is part of the public API (``dedup`` does not re-export it), but
the names are public so that modules can share them without reaching into
each other's private (``_name``) helpers. What lives here:

- argument checks with one-line ``ValueError`` messages naming the argument;
- the batching rule for streams of texts (how many characters / documents are
  shingled together);
- shingle sets and their exact Jaccard similarity (the verification step of
  the document engines);
- the full-width shingles of a batch (the seeds of the passage engines);
- handing the heap's free pages back to the system between phases;
- the size parser (``"100MB"``, ``"2MiB"``) used by the CLI and :mod:`dedup.synth`.
"""

from __future__ import annotations

import ctypes
import itertools
import numbers
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .text import ShingleMode, shingle, tokenize

__all__ = [
    "BATCH_CHARS",
    "BATCH_DOCS",
    "batches",
    "check_keep",
    "check_params",
    "check_passage_params",
    "is_int",
    "jaccard_sorted",
    "one_line",
    "parse_size",
    "passage_shingles",
    "ranges",
    "shingle_sets",
    "text_lengths_reference",
    "trim_heap",
]

#: Characters per batch: large enough to amortise numpy calls, small enough for cache and RAM.
BATCH_CHARS = 1 << 20
#: Documents per batch at most (many tiny documents would otherwise make one huge batch).
BATCH_DOCS = 4096


# ---------------------------------------------------------------- argument checks


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer count (numpy integers included, ``bool`` excluded).

    Parameters
    ----------
    value : Any
        The value to test.

    Returns
    -------
    bool
        True for ``int`` and numpy integers, False for ``bool`` and everything else.

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    # numbers.Integral also admits numpy integers (a num_perm from a config array); bool is not a count.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_params(threshold: float | None, ngram: int, num_perm: int | None, jobs: int) -> None:
    """Raise a ``ValueError`` naming the first bad argument.

    Parameters
    ----------
    threshold : float or None
        Must be in (0, 1]; ``None`` skips the check.
    ngram : int
        Words per shingle, >= 1.
    num_perm : int or None
        Signature length, >= 2; ``None`` skips the check.
    jobs : int
        Worker processes, >= 1.

    Raises
    ------
    ValueError
        With a one-line message such as ``ngram must be an integer >= 1, got 0``.
    """
    if threshold is not None and not (
        isinstance(threshold, numbers.Real) and not isinstance(threshold, bool) and 0.0 < threshold <= 1.0
    ):
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if not is_int(ngram) or ngram < 1:
        raise ValueError(f"ngram must be an integer >= 1, got {ngram!r}")
    if num_perm is not None and (not is_int(num_perm) or num_perm < 2):
        raise ValueError(f"num_perm must be an integer >= 2, got {num_perm!r}")
    if not is_int(jobs) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")


def check_passage_params(threshold: float, min_words: int, ngram: int, jobs: int) -> None:
    """:func:`check_params` plus ``min_words`` (>= 1), for the passage engines.

    Parameters
    ----------
    threshold : float
        Must be in (0, 1].
    min_words : int
        Shortest passage reported, in words, >= 1.
    ngram : int
        Words per shingle, >= 1.
    jobs : int
        Worker processes, >= 1.

    Raises
    ------
    ValueError
        Naming the first bad argument.
    """
    check_params(threshold, ngram, None, jobs)
    if not is_int(min_words) or min_words < 1:
        raise ValueError(f"min_words must be an integer >= 1, got {min_words!r}")


def check_keep(keep: str) -> None:
    """Raise a ``ValueError`` unless ``keep`` is a :data:`dedup.clusters.KeepPolicy`.

    Parameters
    ----------
    keep : str
        ``"first"`` or ``"longest"``.

    Raises
    ------
    ValueError
        For any other value.
    """
    if keep not in ("first", "longest"):
        raise ValueError(f"keep must be 'first' or 'longest', got {keep!r}")


# ---------------------------------------------------------------- batching


def batches(texts: Iterable[str], start: int = 0) -> Iterator[list[str]]:
    """Consecutive batches of a stream of texts, cut at :data:`BATCH_CHARS` or :data:`BATCH_DOCS`.

    Parameters
    ----------
    texts : Iterable[str]
        The texts, read once.
    start : int
        Index of the first text (for error messages).

    Yields
    ------
    list of str
        The next batch.

    Raises
    ------
    TypeError
        When an item is not a ``str`` (naming its index).
    """
    batch: list[str] = []
    chars = 0
    for i, text in enumerate(texts, start):
        if not isinstance(text, str):
            raise TypeError(f"texts must contain str, got {type(text).__name__} at index {i}")
        batch.append(text)
        chars += len(text)
        if chars >= BATCH_CHARS or len(batch) >= BATCH_DOCS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def text_lengths_reference(texts: Sequence[str]) -> np.ndarray:
    """The length of every text, as int64, in one C-level pass (the reference and fallback of
    :func:`dedup.sketch.text_lengths`, which reads them with a compiled kernel).

    Parameters
    ----------
    texts : Sequence[str]
        The texts.

    Returns
    -------
    numpy.ndarray
        ``len(texts[i])`` for every ``i``.

    Raises
    ------
    TypeError
        When an item is not a ``str`` (naming its index).

    >>> text_lengths_reference(["ab", ""]).tolist()
    [2, 0]
    """
    try:
        # str.__len__ refuses anything but a str (and its subclasses).
        return np.fromiter(map(str.__len__, texts), dtype=np.int64, count=len(texts))
    except TypeError:
        for i, text in enumerate(texts):  # find the culprit
            if not isinstance(text, str):
                raise TypeError(f"texts must contain str, got {type(text).__name__} at index {i}") from None
        raise


def ranges(texts: Sequence[str], lengths: np.ndarray | None = None) -> Iterator[range]:
    """Index ranges of ``texts`` cut by the same rule as :func:`batches`.

    Parameters
    ----------
    texts : Sequence[str]
        The texts.
    lengths : numpy.ndarray, optional
        Their :func:`text_lengths_reference`, when the caller has them already.

    Yields
    ------
    range
        The indices of the next batch.

    Raises
    ------
    TypeError
        When an item is not a ``str`` (naming its index).

    >>> [list(r) for r in ranges(["a", "b"])]
    [[0, 1]]
    """
    n = len(texts)
    if lengths is None:
        lengths = text_lengths_reference(texts)
    # One bisection per batch, not a Python step per text (this runs before any worker starts).
    ends = np.cumsum(lengths)
    lo = 0
    while lo < n:
        before = int(ends[lo - 1]) if lo else 0
        full = int(np.searchsorted(ends, before + BATCH_CHARS, side="left"))  # first text reaching the budget
        hi = min(full + 1, lo + BATCH_DOCS, n)
        yield range(lo, hi)
        lo = hi


# ---------------------------------------------------------------- shingle sets and exact Jaccard


def shingle_sets(texts: Sequence[str], ngram: int, mode: ShingleMode) -> list[np.ndarray]:
    """Sorted unique 32-bit shingle hashes of each text (one sort for the whole batch).

    Parameters
    ----------
    texts : Sequence[str]
        The texts.
    ngram : int
        Words (or characters) per shingle.
    mode : ShingleMode
        ``"word"`` or ``"char"`` shingles, as :func:`dedup.text.tokenize`.

    Returns
    -------
    list of numpy.ndarray
        One sorted uint32 array per text (the hashes MinHash sees).
    """
    batch = shingle(tokenize(list(texts), mode=mode), ngram)
    doc = np.repeat(np.arange(len(texts), dtype=np.uint64), np.diff(batch.bounds))
    # Document index in the high 32 bits, the shingle's 32-bit hash in the low bits.
    keys = np.sort(doc << np.uint64(32) | (batch.hashes >> np.uint64(32)))
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = keys[1:] != keys[:-1]
    keys = keys[keep]
    cuts = np.searchsorted(keys >> np.uint64(32), np.arange(len(texts) + 1, dtype=np.uint64)).tolist()
    values = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    return [values[lo:hi] for lo, hi in itertools.pairwise(cuts)]  # np.split is ~20x slower per piece


def jaccard_sorted(sa: np.ndarray, sb: np.ndarray) -> float:
    """Jaccard similarity of two sorted sets of unique values (0.0 if either is empty).

    Parameters
    ----------
    sa, sb : numpy.ndarray
        Sorted arrays without repeats, as from :func:`shingle_sets`.

    Returns
    -------
    float
        ``|a & b| / |a | b|``.

    >>> jaccard_sorted(np.array([1, 2, 3]), np.array([2, 3, 4]))
    0.5
    """
    if len(sa) == 0 or len(sb) == 0:
        return 0.0
    inter = len(np.intersect1d(sa, sb, assume_unique=True))
    return inter / (len(sa) + len(sb) - inter)


# ---------------------------------------------------------------- passage seeds


def passage_shingles(batch: list[str], ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full-width word shingles of a batch, the input of passage seeding.

    Parameters
    ----------
    batch : list of str
        The texts of one batch.
    ngram : int
        Words per shingle.

    Returns
    -------
    hashes : numpy.ndarray
        uint64 hash of each full-width shingle, in document order.
    first_token : numpy.ndarray
        Index (into the batch's tokens) of each shingle's first word.
    counts : numpy.ndarray
        Number of tokens of each text.
    """
    tokens = tokenize(batch)
    sh = shingle(tokens, ngram)
    full = np.diff(sh.bounds) > 0
    # Only full-width shingles: a text shorter than ngram words cannot hold a passage.
    width_ok = np.ones(len(sh.hashes), dtype=bool)
    short_docs = np.flatnonzero(full & (tokens.counts() < ngram))
    width_ok[sh.bounds[short_docs]] = False
    return sh.hashes[width_ok], sh.first_token[width_ok], tokens.counts()


# ---------------------------------------------------------------- messages


def trim_heap() -> None:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim``; nothing where
    there is none): the arrays of a phase under glibc's mmap threshold, freed, would otherwise
    stay resident next to what the later phases allocate."""
    if not _LIBC:
        try:
            _LIBC.append(ctypes.CDLL("libc.so.6").malloc_trim)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is not None:
        _LIBC[0](0)


#: glibc's ``malloc_trim`` once looked up (``None`` where there is none).
_LIBC: list = []


def one_line(message: object) -> str:
    """The first line of an exception message (library messages can span lines).

    Parameters
    ----------
    message : object
        An exception or any object with a message.

    Returns
    -------
    str
        Its first non-empty line, or the type's name when the message is empty.

    >>> one_line(ValueError("bad\\nmore detail")), one_line(KeyError())
    ('bad', 'KeyError')
    """
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__


# ---------------------------------------------------------------- sizes

_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(size: str | int) -> int:
    """Bytes in a size such as ``"100MB"`` (decimal units), ``"64MiB"`` (binary) or ``12345``.

    Parameters
    ----------
    size : str or int
        A number of bytes, optionally with a unit ``k``, ``M``, ``G``, ``T``
        (powers of 1000) or ``Ki``, ``Mi``, ``Gi``, ``Ti`` (powers of 1024),
        optionally followed by ``B``; case does not matter.

    Returns
    -------
    int
        The size in bytes, at least 1.

    Raises
    ------
    ValueError
        When ``size`` is not a size, or is below one byte.

    >>> parse_size("100MB"), parse_size("1.5k"), parse_size("2MiB"), parse_size(512)
    (100000000, 1500, 2097152, 512)
    """
    if is_int(size):
        value = int(size)
    else:
        m = _SIZE.match(str(size))
        if not m:
            raise ValueError(f"size must look like 100MB, 2GiB or a number of bytes, got {size!r}")
        value = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if value < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return value
