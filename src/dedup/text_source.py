"""Texts the caller need not hold: read once in order, then again only where needed.

The passage finder reads its texts twice: once in order to shingle them, then
by index, only the documents that hold matches, to turn token positions into
character offsets. A :class:`TextSource` gives exactly that, so a dump larger
than memory can be searched (with ``spill``) without holding its texts:

* :class:`SpooledTexts` wraps any iterable of ``str`` (a streaming reader):
  while the finder reads it, each text is appended as UTF-8 to a spool file
  in a work directory; ``texts[d]`` reads its bytes back by offset and
  decodes them. Memory: 8 bytes per document.
* :class:`FileTexts` are byte ranges of files already on disk (path, offset,
  length), decoded on demand: no copy at all.
* :class:`CachedTexts` keeps the texts read last by index (a report quoting
  the same documents again and again reads each from disk once, not each time).

>>> import tempfile
>>> with SpooledTexts(iter(["one text", "and another"]), tempfile.mkdtemp()) as texts:
...     print(list(texts), len(texts), texts[1])
['one text', 'and another'] 2 and another
"""

from __future__ import annotations

import abc
import contextlib
import os
import tempfile
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

__all__ = ["CachedTexts", "FileTexts", "SpooledTexts", "TextSource"]

#: Bytes read at a time when texts are read back in order.
_READ_BLOCK = 1 << 22


class TextSource(abc.ABC):
    """Texts read in order (``iter``), then by index (``texts[d]``, ``len``).

    ``len`` and indexing are valid once the texts have been iterated through
    at least once. ``size_hint`` is about how many characters the texts hold
    (``None`` when unknown); the passage finder uses it to choose between
    memory and spilling.
    """

    size_hint: int | None = None

    @abc.abstractmethod
    def __iter__(self) -> Iterator[str]:
        """Every text, in order."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of texts (after one full iteration)."""

    @abc.abstractmethod
    def __getitem__(self, index: int) -> str:
        """Text ``index``, read again (after one full iteration)."""


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _check_index(index: int, n: int) -> int:
    index = int(index)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise IndexError(f"text {index} out of range ({n} texts)")
    return index


class SpooledTexts(TextSource):
    """Texts of any iterable of ``str``, spooled to a file as they are read.

    Parameters
    ----------
    texts : Iterable[str]
        Read once, lazily, the first time this source is iterated.
    work_dir : str, os.PathLike or None
        Directory of the spool file (``None``: the system's temporary directory).
    size_hint : int or None
        About how many characters the texts hold, if known.

    Notes
    -----
    Texts are stored as UTF-8 with ``surrogatepass``, so lone surrogates (as
    ``surrogateescape`` decoding leaves for undecodable bytes) come back
    exactly. The spool file is removed by :meth:`close` (or when the object
    is collected).
    """

    def __init__(
        self, texts: Iterable[str], work_dir: str | os.PathLike | None = None, *, size_hint: int | None = None
    ) -> None:
        self._source: Iterator[str] | None = iter(texts)
        self.size_hint = size_hint
        if work_dir is not None:
            Path(work_dir).mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(prefix="dedup-texts-", suffix=".spool", dir=work_dir)
        self._file = os.fdopen(fd, "w+b")
        self.path = Path(path)
        self._finalizer = weakref.finalize(self, _remove, path)
        self._offsets = np.zeros(1 << 10, dtype=np.int64)
        self._n = 0
        self._complete = False

    def __iter__(self) -> Iterator[str]:
        if self._source is None:
            if not self._complete:
                raise RuntimeError("SpooledTexts: the texts are still being read by an earlier iteration")
            yield from self._read_back()
            return
        source, self._source = self._source, None
        for text in source:
            if not isinstance(text, str):
                raise TypeError(f"texts must contain str, got {type(text).__name__} at index {self._n}")
            data = text.encode("utf-8", "surrogatepass")
            self._file.write(data)
            if self._n + 1 >= len(self._offsets):
                grown = np.zeros(2 * len(self._offsets), dtype=np.int64)
                grown[: self._n + 1] = self._offsets[: self._n + 1]
                self._offsets = grown
            self._offsets[self._n + 1] = self._offsets[self._n] + len(data)
            self._n += 1
            yield text
        self._file.flush()
        self._offsets = self._offsets[: self._n + 1].copy()
        self._complete = True

    def _read_back(self) -> Iterator[str]:
        with open(self.path, "rb", buffering=_READ_BLOCK) as f:
            for k in range(self._n):
                size = int(self._offsets[k + 1] - self._offsets[k])
                yield f.read(size).decode("utf-8", "surrogatepass")

    def _check(self) -> None:
        if not self._complete:
            raise RuntimeError("SpooledTexts: read the texts through once before asking for len() or texts[d]")

    def __len__(self) -> int:
        if not self._complete:  # a TypeError, so that list(texts) reads them without a length hint
            raise TypeError("SpooledTexts: the number of texts is known once they have been read through")
        return self._n

    def __getitem__(self, index: int) -> str:
        self._check()
        index = _check_index(index, self._n)
        start = int(self._offsets[index])
        data = os.pread(self._file.fileno(), int(self._offsets[index + 1]) - start, start)
        return data.decode("utf-8", "surrogatepass")

    @property
    def nbytes(self) -> int:
        """UTF-8 bytes spooled so far."""
        return int(self._offsets[self._n])

    def close(self) -> None:
        """Remove the spool file."""
        self._file.close()
        self._finalizer()

    def __enter__(self) -> SpooledTexts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileTexts(TextSource):
    """Texts that are byte ranges of files on disk, decoded on demand.

    Parameters
    ----------
    locations : Iterable[tuple[str or os.PathLike, int, int]]
        ``(path, byte offset, byte length)`` of every text, in order.
    encoding, errors : str
        How the bytes are decoded (as :meth:`bytes.decode`).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "two.txt")
    >>> _ = open(path, "wb").write(b"first text|second")
    >>> texts = FileTexts([(path, 0, 10), (path, 11, 6)])
    >>> list(texts), texts[1]
    (['first text', 'second'], 'second')
    """

    def __init__(
        self,
        locations: Iterable[tuple[str | os.PathLike, int, int]],
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        paths: dict[str, int] = {}
        which, offsets, lengths = [], [], []
        for path, offset, length in locations:
            which.append(paths.setdefault(os.fspath(path), len(paths)))
            offsets.append(int(offset))
            lengths.append(int(length))
        self._paths = list(paths)
        self._which = np.array(which, dtype=np.int32)
        self._offsets = np.array(offsets, dtype=np.int64)
        self._lengths = np.array(lengths, dtype=np.int64)
        self.encoding, self.errors = encoding, errors
        self.size_hint = int(self._lengths.sum())

    @classmethod
    def from_files(
        cls, paths: Iterable[str | os.PathLike], encoding: str = "utf-8", errors: str = "strict"
    ) -> FileTexts:
        """One text per file, the whole file.

        Parameters
        ----------
        paths : Iterable[str or os.PathLike]
            The files, in order.
        encoding, errors : str
            How the bytes are decoded.

        Returns
        -------
        FileTexts
            The texts of the files.
        """
        return cls(((p, 0, os.path.getsize(p)) for p in paths), encoding, errors)

    def _read(self, index: int) -> bytes:
        with open(self._paths[int(self._which[index])], "rb") as f:
            f.seek(int(self._offsets[index]))
            return f.read(int(self._lengths[index]))

    def __iter__(self) -> Iterator[str]:
        current, f = -1, None  # one open file at a time: texts of one file are read in order
        try:
            for k in range(len(self._which)):
                w = int(self._which[k])
                if w != current:
                    if f is not None:
                        f.close()
                    current, f = w, open(self._paths[w], "rb")  # noqa: SIM115  (closed when the next file opens)
                assert f is not None
                f.seek(int(self._offsets[k]))
                yield f.read(int(self._lengths[k])).decode(self.encoding, self.errors)
        finally:
            if f is not None:
                f.close()

    def __len__(self) -> int:
        return len(self._which)

    def __getitem__(self, index: int) -> str:
        index = _check_index(index, len(self._which))
        return self._read(index).decode(self.encoding, self.errors)


class CachedTexts(TextSource):
    """The texts of ``source`` by index, the ones read last kept in memory.

    Parameters
    ----------
    source : TextSource or Sequence[str]
        The texts (already iterated through once, for a :class:`TextSource`).
    max_chars : int
        Characters kept at most (the text read last is always kept, whatever its length).

    >>> texts = CachedTexts(["a", "bb", "ccc"], max_chars=4)
    >>> texts[2], texts[1], texts[2], len(texts), texts.cached()
    ('ccc', 'bb', 'ccc', 3, [2])
    """

    def __init__(self, source: TextSource | Sequence[str], max_chars: int = 1 << 24) -> None:
        self._source = source
        self._max = max_chars
        self._kept: OrderedDict[int, str] = OrderedDict()
        self._chars = 0
        self.size_hint = getattr(source, "size_hint", None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: int) -> str:
        index = _check_index(index, len(self._source))
        text = self._kept.get(index)
        if text is not None:
            self._kept.move_to_end(index)
            return text
        text = self._source[index]
        self._kept[index] = text
        self._chars += len(text)
        while self._chars > self._max and len(self._kept) > 1:
            _, old = self._kept.popitem(last=False)  # the least recently read
            self._chars -= len(old)
        return text

    def cached(self) -> list[int]:
        """Indexes of the texts held, least recently read first."""
        return list(self._kept)
