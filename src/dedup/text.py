"""Text normalisation, tokenisation with character offsets, and shingle hashing.

Everything here works on a *batch* of documents at once: the texts are joined,
turned into one array of code points, and every later step is a numpy
operation over that array. There is no Python loop per token or per shingle.

Normalisation is done character by character through a lookup table so that
every token keeps its exact character offsets in the caller's original text:

* NFKC compatibility folding (full-width Latin, ligature-free forms, ...) and
  case folding, when they map one character to one character;
* accents and other combining marks are ignored (``é`` == ``e`` == ``e`` +
  U+0301), so are zero-width joiners, soft hyphens and other format characters;
* punctuation, quotes, dashes, whitespace and control characters separate
  tokens and are otherwise ignored, so curly and straight quotes, different
  dashes, re-wrapped lines and other spacing never change a hash.

Tokens are words (runs of letters and digits) in scripts written with spaces
(Latin, Cyrillic, Greek, Arabic, Hangul, ...), and single characters in
scripts written without them (Han, Kana, Thai, Lao, Khmer, Myanmar, Tibetan)
and for emoji and other symbols. Word n-grams over that token stream are
therefore character n-grams inside CJK or Thai text, chosen automatically.

Hashes are computed with fixed 64-bit arithmetic, so they are identical on
every machine and process and never depend on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import inspect
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import xxhash

from . import backend

__all__ = [
    "ShingleBatch",
    "ShingleMode",
    "TokenBatch",
    "Utf8Batch",
    "encode_utf8",
    "normalize",
    "shingle",
    "tokenize",
    "utf8_tables",
]

ShingleMode = Literal["word", "char"]

# Character classes.
_SEP = 0  # separates tokens: spaces, punctuation, controls
_WORD = 1  # part of a word in a script written with spaces
_SINGLE = 2  # a token on its own: CJK / Thai characters, emoji, symbols
_IGNORE = 3  # invisible inside a word: combining marks, format characters

# Scripts written without spaces between words: every character is a token.
_UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x19E0, 0x19FF),  # Khmer symbols
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31FF),  # Bopomofo ext., Katakana ext.
    (0x3400, 0x4DBF),  # CJK ext. A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
)

_U64 = np.uint64
_MASK64 = (1 << 64) - 1
# Odd 64-bit multipliers (from splitmix64 / xxhash); any odd constant works.
_TOKEN_BASE = _U64(0x9E3779B97F4A7C15)
_NGRAM_MULT = _U64(0xC2B2AE3D27D4EB4F)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """Avalanching bijection on uint64 (splitmix64 finaliser), element-wise."""
    x = x ^ (x >> _U64(30))
    x = x * _U64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> _U64(27))
    x = x * _U64(0x94D049BB133111EB)
    return x ^ (x >> _U64(31))


def _classify(ch: str) -> tuple[int, int]:
    """(folded code point, class) of one character; used to build the tables."""
    cp = ord(ch)
    if ch == "\u200b":  # zero-width space separates words (Thai, Khmer)
        return cp, _SEP
    category = unicodedata.category(ch)
    if category in ("Mn", "Me", "Cf"):
        return cp, _IGNORE
    folded = unicodedata.normalize("NFKC", ch).casefold()
    if len(folded) != 1:
        folded = ch.lower() if len(ch.lower()) == 1 else ch
    # Strip accents: a letter whose decomposition is base + combining marks.
    decomposed = unicodedata.normalize("NFD", folded)
    if len(decomposed) > 1 and all(unicodedata.category(c) == "Mn" for c in decomposed[1:]):
        folded = decomposed[0]
    fcp = ord(folded)
    fcat = unicodedata.category(folded)
    if any(lo <= fcp <= hi for lo, hi in _UNSPACED_RANGES) and fcat[0] in "LNM":
        return fcp, _SINGLE
    if fcat[0] in "LN" or fcat == "Mc":
        # Astral letters stay single tokens (CJK ext. B...) unless NFKC folds them
        # into the BMP, like mathematical bold/italic "fancy text" -> ASCII words.
        return fcp, (_SINGLE if fcp > 0xFFFF else _WORD)
    if fcat == "So":
        return fcp, _SINGLE
    return fcp, _SEP


def _build_bmp_tables() -> tuple[np.ndarray, np.ndarray]:
    fold = np.arange(0x10000, dtype=np.uint32)
    klass = np.zeros(0x10000, dtype=np.uint8)
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:  # lone surrogates (from surrogateescape decoding)
            continue
        fold[cp], klass[cp] = _classify(chr(cp))
    return fold, klass


@lru_cache(maxsize=1)
def _bmp_tables() -> tuple[np.ndarray, np.ndarray]:
    """Fold and class tables for the Basic Multilingual Plane.

    Building them takes ~0.3 s, so they are cached on disk (``DEDUP_CACHE_DIR``,
    default ``~/.cache/dedup``), keyed by the Unicode version and the code that
    builds them; any problem with the cache just means building them again.
    """
    key = xxhash.xxh64_hexdigest(
        (unicodedata.unidata_version + inspect.getsource(_classify) + repr(_UNSPACED_RANGES)).encode()
    )
    cache_dir = Path(os.environ.get("DEDUP_CACHE_DIR") or Path.home() / ".cache" / "dedup")
    path = cache_dir / f"unicode-tables-{key}.npz"
    try:
        with np.load(path) as cached:
            return cached["fold"], cached["klass"]
    except (OSError, KeyError, ValueError):
        pass
    fold, klass = _build_bmp_tables()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, fold=fold, klass=klass)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    except OSError:
        pass
    return fold, klass


def _astral_tables(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted distinct code points above the BMP in ``cps``, with their fold and class.

    Astral characters (emoji, rare ideographs) are few distinct values, so
    each is classified once in Python instead of through a 1.1M-entry table.
    """
    uniq = np.unique(cps[cps > 0xFFFF])
    pairs = np.array([_classify(chr(int(c))) for c in uniq], dtype=np.uint32).reshape(-1, 2)
    return uniq, pairs[:, 0].copy(), pairs[:, 1].astype(np.uint8)


_NO_ASTRAL = (np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.uint8))


def _fold_and_classify(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fold_table, class_table = _bmp_tables()
    astral = cps > 0xFFFF
    if not astral.any():
        return fold_table[cps], class_table[cps]
    folded = fold_table[np.where(astral, 0, cps)]
    klass = class_table[np.where(astral, 0, cps)]
    uniq, a_fold, a_class = _astral_tables(cps)
    where = np.searchsorted(uniq, cps[astral])
    folded[astral] = a_fold[where]
    klass[astral] = a_class[where]
    return folded, klass


@dataclass(frozen=True)
class Utf8Batch:
    """A batch of texts as UTF-8 bytes, with what a byte-level kernel needs to tokenise them.

    ``data`` holds the texts encoded as UTF-8 (lone surrogates kept with
    ``surrogatepass``), each followed by a ``"\\0"`` byte; text ``d`` is
    ``data[ends[d - 1] + 1 : ends[d]]`` (from 0 for the first). ``fold`` and
    ``klass`` are the BMP fold and class tables of the tokenizer; ``astral_*``
    classify the distinct characters above the BMP present in the batch.
    """

    data: np.ndarray  # uint8
    ends: np.ndarray  # int64, one per document
    fold: np.ndarray
    klass: np.ndarray
    astral_cps: np.ndarray
    astral_fold: np.ndarray
    astral_class: np.ndarray


def encode_utf8(texts: Sequence[str]) -> Utf8Batch:
    """The :class:`Utf8Batch` of ``texts`` (ASCII texts are copied once, without decoding).

    >>> batch = encode_utf8(["héllo", "", "🙂 x"])
    >>> batch.ends.tolist(), len(batch.data), batch.astral_cps.tolist()
    ([6, 7, 14], 15, [128578])
    """
    if all(map(str.isascii, texts)):  # O(1) per text in CPython: the string's own flag
        data = np.frombuffer(("\x00".join(texts) + "\x00").encode("ascii"), dtype=np.uint8)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        tables = utf8_tables(data[:0])
    else:
        parts = [t.encode("utf-8", "surrogatepass") for t in texts]
        parts.append(b"")
        data = np.frombuffer(b"\x00".join(parts), dtype=np.uint8)
        lengths = np.fromiter(map(len, parts[:-1]), dtype=np.int64, count=len(texts))
        tables = utf8_tables(data)
    ends = np.cumsum(lengths + 1) - 1
    return Utf8Batch(data, ends, *tables)


def utf8_tables(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tables a byte-level kernel needs for UTF-8 ``data``: as the fields of :class:`Utf8Batch` after ``ends``.

    The BMP fold and class tables, and the distinct characters above the
    BMP found in ``data`` with their fold and class.

    >>> [len(t) for t in utf8_tables(np.frombuffer("a 🙂 🙂".encode(), dtype=np.uint8))]
    [65536, 65536, 1, 1, 1]
    """
    fold, klass = _bmp_tables()
    lead = np.flatnonzero(data >= 0xF0) if len(data) else data  # first bytes of 4-byte sequences: astral characters
    if not len(lead):
        return (fold, klass, *_NO_ASTRAL)  # the common case, built once: every batch of every thread asks
    seq = data[lead[:, None] + np.arange(4)].astype(np.uint32)
    astral = ((seq[:, 0] & 7) << 18) | ((seq[:, 1] & 63) << 12) | ((seq[:, 2] & 63) << 6) | (seq[:, 3] & 63)
    return (fold, klass, *_astral_tables(astral))


@dataclass(frozen=True)
class TokenBatch:
    """The tokens of a batch of documents, as flat arrays.

    Tokens of document ``d`` are ``hashes[bounds[d]:bounds[d + 1]]``; their
    character offsets in the original text are ``starts`` (inclusive) and
    ``ends`` (exclusive), present only when asked for.
    """

    hashes: np.ndarray  # uint64, one per token
    bounds: np.ndarray  # int64, len = n_docs + 1
    starts: np.ndarray | None = None  # int64 character offsets, relative to the document
    ends: np.ndarray | None = None

    @property
    def n_docs(self) -> int:
        return len(self.bounds) - 1

    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)


@dataclass(frozen=True)
class ShingleBatch:
    """Shingle hashes of a batch of documents, as flat arrays.

    Shingles of document ``d`` are ``hashes[bounds[d]:bounds[d + 1]]``; shingle
    ``k`` covers tokens ``first_token[k]`` up to ``first_token[k] + ngram - 1``
    (fewer for a document shorter than ``ngram`` tokens). Token indices are
    into the :class:`TokenBatch` the shingles came from.
    """

    hashes: np.ndarray  # uint64
    bounds: np.ndarray  # int64, len = n_docs + 1
    first_token: np.ndarray  # int64 index into the token batch
    ngram: int

    def hashes32(self) -> np.ndarray:
        """The upper 32 bits of each hash, the input of 32-bit MinHash."""
        return (self.hashes >> _U64(32)).astype(np.uint32)


def tokenize(texts: Sequence[str], *, mode: ShingleMode = "word", offsets: bool = False) -> TokenBatch:
    """Tokenise a batch of texts into hashed tokens, optionally with offsets.

    ``mode="word"`` gives word tokens (single characters in CJK/Thai text);
    ``mode="char"`` makes every letter or digit its own token, so that
    n-grams are character n-grams that ignore spaces and punctuation.

    Parameters
    ----------
    texts : Sequence[str]
        The documents of the batch.
    mode : {"word", "char"}
        Word tokens, or one token per letter or digit.
    offsets : bool
        Also compute each token's character offsets (``starts``, ``ends``).

    Returns
    -------
    TokenBatch
        Token hashes and per-document bounds (and offsets when asked for).

    >>> batch = tokenize(["Hello, World!", "hello world"], offsets=True)
    >>> batch.counts().tolist()
    [2, 2]
    >>> bool((batch.hashes[:2] == batch.hashes[2:]).all())
    True
    >>> batch.starts.tolist(), batch.ends.tolist()
    ([0, 7, 0, 6], [5, 12, 5, 11])
    """
    if mode not in ("word", "char"):
        raise ValueError(f"mode must be 'word' or 'char', got {mode!r}")
    n_docs = len(texts)
    if n_docs == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TokenBatch(
            np.zeros(0, dtype=np.uint64),
            np.zeros(1, dtype=np.int64),
            empty if offsets else None,
            empty if offsets else None,
        )
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n_docs)
    # "\0" is a separator, so no token spans two documents.
    joined = "\x00".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    doc_starts = np.zeros(n_docs, dtype=np.int64)
    np.cumsum(lengths[:-1] + 1, out=doc_starts[1:])

    kernels = backend.kernels(len(cps))
    if kernels is not None:
        hashes, first_pos, end_pos = _tokenize_compiled(kernels, cps, mode)
    else:
        hashes, first_pos, end_pos = _tokenize_numpy(cps, mode)

    # Tokens come in text order: each document's first token is found by bisection.
    bounds = np.empty(n_docs + 1, dtype=np.int64)
    bounds[:-1] = np.searchsorted(first_pos, doc_starts)
    bounds[-1] = len(first_pos)
    starts = ends = None
    if offsets:
        token_doc = np.repeat(np.arange(n_docs), np.diff(bounds))
        doc_offset = doc_starts[token_doc]
        starts = first_pos - doc_offset
        ends = np.minimum(end_pos - doc_offset, lengths[token_doc])
    return TokenBatch(hashes, bounds, starts, ends)


def _tokenize_compiled(kernels, cps: np.ndarray, mode: ShingleMode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fold_table, class_table = _bmp_tables()
    uniq, a_fold, a_class = _astral_tables(cps)
    return kernels.tokenize_codepoints(cps, fold_table, class_table, uniq, a_fold, a_class, mode == "char")


def _tokenize_numpy(cps: np.ndarray, mode: ShingleMode) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference implementation: token hashes, first positions, end positions (exclusive)."""
    folded, klass = _fold_and_classify(cps)
    positions: np.ndarray | None = None
    ignorable = klass == _IGNORE
    if ignorable.any():
        positions = np.flatnonzero(~ignorable)
        folded, klass = folded[positions], klass[positions]

    is_word = klass == _WORD
    is_single = klass == _SINGLE
    if mode == "char":
        is_single |= is_word
        is_word = np.zeros_like(is_word)
    is_token_char = is_word | is_single
    prev_word = np.zeros_like(is_word)
    prev_word[1:] = is_word[:-1]
    next_word = np.zeros_like(is_word)
    next_word[:-1] = is_word[1:]
    starts_mask = (is_word & ~prev_word) | is_single
    token_first = np.flatnonzero(starts_mask)  # index into the (compressed) char array

    # Polynomial hash of each token's characters: sum((c_i + 1) * B^i) mod 2^64,
    # summed per token with reduceat over the token characters only.
    token_chars = np.flatnonzero(is_token_char)
    if len(token_first):
        segment_first = np.flatnonzero(starts_mask[token_chars])
        seg_len = np.diff(np.append(segment_first, len(token_chars)))
        exponent = np.arange(len(token_chars), dtype=np.int64) - np.repeat(segment_first, seg_len)
        powers = np.ones(int(exponent.max()) + 1, dtype=np.uint64)
        powers[1:] = np.cumprod(np.full(len(powers) - 1, _TOKEN_BASE, dtype=np.uint64))
        values = (folded[token_chars].astype(np.uint64) + _U64(1)) * powers[exponent]
        raw = np.add.reduceat(values, segment_first)
        hashes = _splitmix64(raw + seg_len.astype(np.uint64))
    else:
        hashes = np.zeros(0, dtype=np.uint64)

    token_last = np.flatnonzero((is_word & ~next_word) | is_single)
    if positions is None:
        return hashes, token_first.astype(np.int64), token_last.astype(np.int64) + 1
    # A token ends where the next visible character begins (trailing marks included).
    after = np.append(positions, len(cps))
    return hashes, positions[token_first], after[token_last + 1]


def shingle(tokens: TokenBatch, ngram: int = 5) -> ShingleBatch:
    """Hash every run of ``ngram`` consecutive tokens of each document.

    A document with fewer than ``ngram`` tokens (but at least one) gets one
    shingle made of all its tokens, so short texts still have a signature;
    a document without tokens gets no shingle.

    Parameters
    ----------
    tokens : TokenBatch
        The tokens of a batch, from :func:`tokenize`.
    ngram : int
        Tokens per shingle.

    Returns
    -------
    ShingleBatch
        Shingle hashes, per-document bounds and each shingle's first token.

    >>> s = shingle(tokenize(["a b c d", "a b", ""]), ngram=3)
    >>> s.bounds.tolist()
    [0, 2, 3, 3]
    """
    if isinstance(ngram, bool) or not isinstance(ngram, (int, np.integer)) or ngram < 1:
        raise ValueError(f"ngram must be an integer >= 1, got {ngram!r}")
    ngram = int(ngram)
    kernels = backend.kernels(len(tokens.hashes) * ngram)
    if kernels is not None:
        hashes, first, bounds = kernels.shingle_tokens(tokens.hashes, tokens.bounds, ngram)
        return ShingleBatch(hashes, bounds, first, ngram)
    counts = tokens.counts()
    n_tokens = len(tokens.hashes)
    if n_tokens == 0:
        zero = np.zeros(0, dtype=np.int64)
        return ShingleBatch(np.zeros(0, dtype=np.uint64), np.zeros(tokens.n_docs + 1, dtype=np.int64), zero, ngram)
    token_doc = np.repeat(np.arange(tokens.n_docs), counts)
    doc_end = tokens.bounds[1:][token_doc]
    index = np.arange(n_tokens, dtype=np.int64)
    width = np.minimum(doc_end - index, ngram)  # tokens available from here
    is_doc_first = index == tokens.bounds[:-1][token_doc]
    valid = (width == ngram) | (is_doc_first & (counts[token_doc] < ngram))

    first = index[valid]
    width = width[valid]
    acc = np.zeros(len(first), dtype=np.uint64)
    for j in range(ngram):  # ngram passes over the whole batch, not a loop per shingle
        take = j < width
        nxt = tokens.hashes[np.minimum(first + j, n_tokens - 1)]
        acc = np.where(take, acc * _NGRAM_MULT + nxt, acc)
    hashes = _splitmix64(acc ^ width.astype(np.uint64))
    per_doc = np.bincount(token_doc[valid], minlength=tokens.n_docs)
    bounds = np.zeros(tokens.n_docs + 1, dtype=np.int64)
    np.cumsum(per_doc, out=bounds[1:])
    return ShingleBatch(hashes, bounds, first, ngram)


def normalize(text: str) -> str:
    """The text as the hashing sees it: folded tokens joined by single spaces.

    Useful to understand why two texts match.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        Its tokens, folded (case, accents, width, ...), joined by single spaces.

    >>> normalize("“Déjà vu” — ＦＵＬＬ-width, CAPS!")
    'deja vu full width caps'
    >>> normalize("東京は晴れ")
    '東 京 は 晴 れ'
    """
    batch = tokenize([text], offsets=True)
    assert batch.starts is not None and batch.ends is not None  # offsets=True
    cps = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded, klass = _fold_and_classify(cps) if len(cps) else (cps, cps)
    words = []
    for start, end in zip(batch.starts.tolist(), batch.ends.tolist()):
        keep = klass[start:end] != _IGNORE
        words.append("".join(chr(c) for c in folded[start:end][keep]))
    return " ".join(words)
