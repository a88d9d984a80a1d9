"""Repeated and near-repeated passages, inside documents and across them.

The way of the data (every step a numpy pass over all documents at once):

1. **Seeds.** Word ``ngram``-shingles of every document are hashed (see
   :mod:`dedup.text`). Shingles are sorted by hash; every later occurrence of
   a shingle is paired with its *first* occurrence. A seed is that pair of
   token positions ``(original, repeat)``. Pairing with the first occurrence
   keeps the work linear however often a shingle repeats, and makes every
   copy point at the earliest one.
2. **Chains.** Seeds of the same pair of documents that lie on (nearly) the
   same diagonal ``repeat - original`` and follow each other closely are
   chained, as aligners chain seeds: an edited word leaves a small gap, an
   inserted or deleted word shifts the diagonal by one.
3. **Matches.** Chains that continue each other (both sides move forward,
   as when a paragraph was dropped or added in the copy) are merged while the
   merged pair stays at least ``threshold`` similar. What is left are maximal
   matches: a copied article is one match, not one per line.
4. **Spans.** Token positions become character offsets into the caller's
   original text, on word boundaries. Repeats that overlap keep the best match.

``similarity`` of a match is the share of the words of both spans that are
covered by matching shingles: 1.0 for an exact copy, about ``1 - e`` for a
copy with a fraction ``e`` of its words edited, lower when paragraphs were
dropped or added.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from itertools import accumulate
from types import SimpleNamespace
from typing import NamedTuple, Protocol, overload

import numpy as np

from . import _passage_kernels
from .internal import check_passage_params, trim_heap
from .passage_seeds import TokenPlaces, batches, find_seeds, range_index, seed_arrays, spill_needed
from .progress import Progress, report
from .text import encode_utf8, tokenize
from .text_source import TextSource

__all__ = [
    "Match",
    "Removal",
    "Span",
    "apply_removals",
    "find_repeated_passages",
    "plan_removals",
    "remove_repeated_passages",
    "remove_spans",
]

_U64 = np.uint64

#: Defaults, chosen for web text: see ``docs/passages.md`` for what they trade off.
DEFAULT_MIN_WORDS = 20
DEFAULT_NGRAM = 5
#: Diagonal bin width (tokens): chained seeds drift at most this much before a new chain starts.
_DIAGONAL_BIN = 8
#: Largest gap (tokens) between consecutive seeds of one chain: a few edited words.
_CHAIN_GAP = 12
#: Largest gap (tokens) bridged when merging chains into one match: a dropped paragraph or two.
_MERGE_GAP = 400
#: Candidates located (trimmed, turned into character offsets) at a time: about 10 KB each
#: while they are worked on, so a group stays small next to the seeds of a 10 MB input.
_LOCATE_GROUP = 1 << 8
#: Characters of text windows tokenised at a time when locating (the tokeniser holds about
#: 40 bytes per character).
_WINDOW_CHARS = 1 << 16


@dataclass(frozen=True, order=True)
class Span:
    """Characters ``start:end`` (end exclusive) of document ``doc``.

    Attributes
    ----------
    doc : int
        Index of the document (0 for a single text).
    start, end : int
        Character offsets into that document's original text, ``end`` exclusive.
    """

    doc: int
    start: int
    end: int

    def text(self, texts: str | Texts) -> str:
        """The spanned text, from the same ``texts`` the span was found in.

        Parameters
        ----------
        texts : str, Sequence[str] or TextSource
            The text(s) the span was found in.

        Returns
        -------
        str
            ``texts[doc][start:end]`` (``texts[start:end]`` for a single text).
        """
        source = texts if isinstance(texts, str) else texts[self.doc]
        return source[self.start : self.end]


@dataclass(frozen=True)
class Match:
    """``repeat`` repeats ``original`` (the earlier occurrence) with ``similarity``.

    Attributes
    ----------
    original : Span
        The earlier occurrence.
    repeat : Span
        The later occurrence, the one a cleaner removes.
    similarity : float
        Share of the words of both spans covered by shared shingles (1.0 for an exact copy).
    """

    original: Span
    repeat: Span
    similarity: float


@dataclass(frozen=True)
class Removal:
    """``span`` is removed because it repeats ``match.original``.

    ``span`` is ``match.repeat``, widened to whole lines when the repeat
    covers whole lines (so no blank line is left behind).
    """

    span: Span
    match: Match


def _as_list(texts: str | Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)):
        raise TypeError("texts must be a str or a sequence of str, not bytes")
    items = list(texts)
    for i, t in enumerate(items):
        if not isinstance(t, str):
            raise TypeError(f"texts must contain str, got {type(t).__name__} at index {i}")
    return items


def _seeds(texts: Sequence[str], ngram: int, jobs: int) -> tuple[np.ndarray, ...]:
    """``(original, repeat, token_bounds, multiplicity)``: see :func:`dedup.passage_seeds.seed_arrays`."""
    return seed_arrays(texts, ngram, jobs)


class Texts(Protocol):
    """What the passage steps read the texts through: ``texts[d]`` for the documents that hold
    matches (an engine may hold only those), and ``len(texts)``."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> str: ...


class Multiplicity(Protocol):
    """How often the shingle starting at each token occurs in the whole collection (0 where no
    full-width shingle starts), read by contiguous slices: ``multiplicity[a:b]`` is an int array."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> np.ndarray: ...


# Columns of a chain / match array (one int64 row each), the layout the kernels share.
DOC_O, DOC_R, O_LO, O_HI, R_LO, R_HI, COVERED = range(7)


class Candidates(NamedTuple):
    """Matches as token ranges (end exclusive), one array entry per candidate."""

    doc_o: np.ndarray
    doc_r: np.ndarray
    o_lo: np.ndarray
    o_end: np.ndarray
    r_lo: np.ndarray
    r_end: np.ndarray
    covered: np.ndarray
    similarity: np.ndarray

    def take(self, index: np.ndarray | slice) -> Candidates:
        """The candidates at ``index`` (an index array, a boolean mask or a slice)."""
        return Candidates(*(a[index] for a in self))


def chains_reference(original: np.ndarray, repeat: np.ndarray, token_bounds: np.ndarray, ngram: int) -> np.ndarray:
    """Chains of seeds (numpy): an ``(n, 7)`` int64 array, columns ``DOC_O ... COVERED``.

    Seeds of the same pair of documents in the same diagonal bin, sorted by
    repeat, are chained while consecutive repeats are at most ``_CHAIN_GAP``
    apart; a chain needs two seeds.
    """
    if len(original) == 0:
        return np.zeros((0, 7), dtype=np.int64)
    doc_o = np.searchsorted(token_bounds, original, side="right") - 1
    doc_r = np.searchsorted(token_bounds, repeat, side="right") - 1
    diag = repeat - original
    order = np.lexsort((repeat, diag // _DIAGONAL_BIN, doc_r, doc_o))
    o, r, d = original[order], repeat[order], diag[order]
    do, dr = doc_o[order], doc_r[order]
    linked = np.zeros(len(order), dtype=bool)
    linked[1:] = (
        (do[1:] == do[:-1])
        & (dr[1:] == dr[:-1])
        & (d[1:] // _DIAGONAL_BIN == d[:-1] // _DIAGONAL_BIN)
        & (r[1:] - r[:-1] <= _CHAIN_GAP)
    )
    starts = np.flatnonzero(~linked)
    counts = np.diff(np.append(starts, len(order)))
    # Tokens of the repeat covered by the seeds of each chain: each seed covers
    # ngram tokens; consecutive seeds overlap when closer than ngram.
    step = np.zeros(len(order), dtype=np.int64)
    step[1:] = np.minimum(r[1:] - r[:-1], ngram)
    step[starts] = ngram
    keep = counts >= 2  # a lone seed is a common phrase, not a passage
    columns = (
        do[starts],
        dr[starts],
        np.minimum.reduceat(o, starts),
        np.maximum.reduceat(o, starts),
        np.minimum.reduceat(r, starts),
        np.maximum.reduceat(r, starts),
        np.add.reduceat(step, starts),
    )
    return np.stack([c[keep] for c in columns], axis=1).astype(np.int64)


def _chain(pairs: Iterable[tuple[np.ndarray, np.ndarray]], token_bounds: np.ndarray, ngram: int) -> list[np.ndarray]:
    """Chains of seeds given in consecutive pieces, ``repeat`` ascending across them."""
    kernels = _passage_kernels.compiled(int(token_bounds[-1]))
    if kernels is None:
        got = list(pairs)
        original = np.concatenate([p[0] for p in got]) if got else np.zeros(0, dtype=np.int64)
        repeat = np.concatenate([p[1] for p in got]) if got else np.zeros(0, dtype=np.int64)
        return [chains_reference(original, repeat, token_bounds, ngram)]
    state, meta = _passage_kernels.new_chain_state()
    out = []
    empty = np.zeros(0, dtype=np.int64)
    # Chains are held until the merge: in 4-byte columns while positions and documents fit
    # (boilerplate makes many chains: debian-copyright has one per 80 tokens).
    narrow = max(int(token_bounds[-1]), len(token_bounds)) < (1 << 31) - 1
    for original, repeat in pairs:
        chains, state = kernels.chains_from_pairs(
            original, repeat, token_bounds, ngram, _DIAGONAL_BIN, _CHAIN_GAP, state, meta, False
        )
        out.append(chains.astype(np.int32) if narrow else chains)
    last, _ = kernels.chains_from_pairs(empty, empty, token_bounds, ngram, _DIAGONAL_BIN, _CHAIN_GAP, state, meta, True)
    return [*out, last.astype(np.int32) if narrow else last]


def merge_reference(chains: np.ndarray, ngram: int, threshold: float) -> np.ndarray:
    """Chains that continue each other merged into maximal matches (plain Python, the
    reference of the compiled kernel); input sorted by ``DOC_O, DOC_R, R_LO, O_LO``."""

    def similarity(m: list[int]) -> float:
        return min(1.0, 2.0 * m[COVERED] / (m[O_HI] - m[O_LO] + m[R_HI] - m[R_LO] + 2 * ngram))

    done: list[list[int]] = []
    open_: list[list[int]] = []
    pair = None
    for c in chains.tolist():
        if (c[DOC_O], c[DOC_R]) != pair:
            done.extend(open_)
            open_, pair = [], (c[DOC_O], c[DOC_R])
        # Matches that cannot be continued any more (the repeat moved on too far).
        still: list[list[int]] = []
        for m in open_:
            (still if c[R_LO] - m[R_HI] <= _MERGE_GAP else done).append(m)
        open_ = still
        best, best_at, best_sim = None, -1, -1.0
        for i, m in enumerate(open_):
            gap_o, gap_r = c[O_LO] - m[O_HI], c[R_LO] - m[R_HI]
            if gap_o < -ngram or gap_r < -ngram or max(gap_o, gap_r) > _MERGE_GAP:
                continue
            overlap = max(0, min(m[R_HI] + ngram, c[R_HI] + ngram) - c[R_LO])
            merged = [
                m[DOC_O],
                m[DOC_R],
                min(m[O_LO], c[O_LO]),
                max(m[O_HI], c[O_HI]),
                m[R_LO],
                max(m[R_HI], c[R_HI]),
                m[COVERED] + c[COVERED] - min(overlap, c[COVERED]),
            ]
            sim = similarity(merged)
            if sim >= threshold and sim > best_sim:
                best, best_at, best_sim = merged, i, sim
        if best is None:
            open_.append(c)
        else:
            open_[best_at] = best
    done.extend(open_)
    return np.array(done, dtype=np.int64).reshape(-1, 7)


def _merge(pieces: list[np.ndarray], ngram: int, threshold: float) -> np.ndarray:
    """Merge the chains (given in pieces; the list is emptied so that they are freed early)."""
    chains = np.concatenate(pieces) if pieces else np.zeros((0, 7), dtype=np.int64)
    pieces.clear()
    order = np.lexsort((chains[:, O_LO], chains[:, R_LO], chains[:, DOC_R], chains[:, DOC_O]))
    kernels = _passage_kernels.compiled(len(chains) * 64)
    if kernels is None:
        return merge_reference(np.take(chains, order, axis=0), ngram, threshold)
    return kernels.merge_chains(chains, order, ngram, float(threshold), _MERGE_GAP)  # in order: no sorted copy


def _candidates(matches: np.ndarray, ngram: int, min_words: int, threshold: float) -> Candidates:
    """Token ranges of the merged matches that are long and similar enough."""
    o_lo, r_lo = matches[:, O_LO], matches[:, R_LO]
    o_end, r_end = matches[:, O_HI] + ngram, matches[:, R_HI] + ngram
    # A passage overlapping its own repeat: keep the spans apart.
    o_end = np.where((matches[:, DOC_O] == matches[:, DOC_R]) & (o_end > r_lo), r_lo, o_end)
    covered = matches[:, COVERED]
    sim = np.minimum(1.0, 2.0 * covered / (matches[:, O_HI] - o_lo + matches[:, R_HI] - r_lo + 2 * ngram))
    c = Candidates(matches[:, DOC_O], matches[:, DOC_R], o_lo, o_end, r_lo, r_end, covered, sim)
    return c.take((np.minimum(o_end - o_lo, r_end - r_lo) >= min_words) & (sim >= threshold))


def choose_reference(c: Candidates) -> np.ndarray:
    """Of repeats that overlap, the most covered (ties: earlier) is kept: a boolean mask."""
    order = sorted(range(len(c.doc_r)), key=lambda k: (-int(c.covered[k]), int(c.doc_r[k]), int(c.r_lo[k])))
    taken: dict[int, list[tuple[int, int]]] = {}
    keep = np.zeros(len(c.doc_r), dtype=bool)
    for k in order:
        lo, hi = int(c.r_lo[k]), int(c.r_end[k])
        spans = taken.setdefault(int(c.doc_r[k]), [])
        if not any(a < hi and lo < b for a, b in spans):
            spans.append((lo, hi))
            keep[k] = True
    return keep


def _choose(c: Candidates, token_bounds: np.ndarray) -> Candidates:
    kernels = _passage_kernels.compiled(len(c.doc_r) * 64)
    if kernels is None:
        return c.take(choose_reference(c))
    order = np.lexsort((c.r_lo, -c.covered, c.doc_r))
    keep = kernels.choose_repeats(c.doc_r, c.r_lo, c.r_end, order, token_bounds[c.doc_r], token_bounds[c.doc_r + 1])
    return c.take(keep)


def boilerplate_edges_reference(
    token_line: np.ndarray,
    base: int,
    lo: int,
    end: int,
    multiplicity: np.ndarray | Multiplicity,
    ngram: int,
    min_words: int,
) -> tuple[int, int]:
    """Tokens to trim at each end of a repeat span ``[lo, end)`` (global token positions).

    A short line (fewer than ``min_words`` words) at the edge of a repeat is
    left out when it repeats *more often* than the passage itself: a byline,
    a date or a "Share this" line that happens to sit next to a copied
    article is boilerplate of its own, not part of the copy. ``token_line``
    is the line of each token of the document starting at token ``base``.
    """
    span_mult = multiplicity[lo : max(lo + 1, end - ngram + 1)]
    span_mult = span_mult[span_mult > 0]
    if len(span_mult) == 0:
        return 0, 0
    core = float(np.median(span_mult))
    local = token_line[lo - base : end - base]  # line of each token of the span

    def is_boilerplate(line: int) -> bool:
        # token_line is sorted: the line's tokens are one run, found by bisection.
        first = int(np.searchsorted(token_line, line, side="left")) + base
        last = int(np.searchsorted(token_line, line, side="right")) + base  # exclusive
        count = last - first
        # Only a whole line, shorter than a passage, long enough to hold a shingle.
        if first < lo or last > end or not ngram <= count < min_words:
            return False
        shingles = multiplicity[first : last - ngram + 1]
        return bool((shingles > core).all())

    first_line, last_line = local[0], local[-1]
    cut_lo = int((local == first_line).sum()) if is_boilerplate(first_line) else 0
    cut_hi = 0
    if last_line != first_line and is_boilerplate(last_line):
        cut_hi = int((local == last_line).sum())
    return cut_lo, cut_hi


def _token_places(docs: Texts, wanted: np.ndarray, token_bounds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Start and end character offsets and a line number of the tokens at the sorted global
    positions ``wanted``; only the documents holding them are tokenised, long ones in pieces."""
    starts = np.zeros(len(wanted), dtype=np.int64)
    ends = np.zeros(len(wanted), dtype=np.int64)
    lines = np.zeros(len(wanted), dtype=np.int64)
    needed = np.unique(np.searchsorted(token_bounds, wanted, side="right") - 1)
    sub = (docs[int(d)] for d in needed)  # read lazily: only the current batch's texts are held
    next_token = 0  # token (in its document) where the next piece of a long document starts
    line_base = 0  # newlines before that piece
    for batch in batches(sub):
        texts = batch.texts
        tokens = tokenize(texts, offsets=True)
        assert tokens.starts is not None and tokens.ends is not None
        joined = "\x00".join(texts)
        newlines = np.flatnonzero(np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) == 10)
        del joined
        unit_at = 0  # offset of the unit in the joined string
        for k, (i, start, _) in enumerate(batch.units):
            t_lo, t_hi = int(tokens.bounds[k]), int(tokens.bounds[k + 1])
            if start == 0:
                next_token, line_base = 0, 0
            first = int(token_bounds[needed[i]]) + next_token
            a, b = np.searchsorted(wanted, [first, first + t_hi - t_lo])
            local = wanted[a:b] - first + t_lo
            char = tokens.starts[local]
            starts[a:b] = char + start
            ends[a:b] = tokens.ends[local] + start
            lines[a:b] = line_base + np.searchsorted(newlines, char + unit_at)
            next_token += t_hi - t_lo
            line_base += texts[k].count("\n") if batch.piece and not batch.last else 0
            unit_at += len(texts[k]) + 1
    return starts, ends, lines


def _token_places_in_windows(
    docs: Texts, wanted: np.ndarray, token_bounds: np.ndarray, places: TokenPlaces
) -> tuple[np.ndarray, ...] | None:
    """What :func:`_token_places` gives, from windows of text: only the ``places.every`` tokens
    from the recorded place before each wanted token are tokenised. The "line" of a token is
    then the number of newlines in the windows before it, which tells, as line numbers do,
    whether a line break separates two consecutive tokens. ``None`` if a window does not hold
    the tokens it should (then the whole documents are tokenised)."""
    every = places.every
    doc = np.searchsorted(token_bounds, wanted, side="right") - 1
    local = wanted - token_bounds[doc]
    window = places.first[doc] + local // every  # index of the place starting each token's window
    new = np.ones(len(window), dtype=bool)
    new[1:] = window[1:] != window[:-1]
    w_index, w_doc = window[new], doc[new]
    w_first = np.flatnonzero(new)  # first wanted token of each window
    w_lo = places.starts[w_index]
    w_last = w_index + 1 == places.first[w_doc + 1]  # the document's last window
    w_hi = np.where(w_last, -1, places.starts[np.minimum(w_index + 1, len(places.starts) - 1)])
    w_tokens = np.where(
        w_last, token_bounds[w_doc + 1] - token_bounds[w_doc] - (w_index - places.first[w_doc]) * every, every
    )
    starts = np.zeros(len(wanted), dtype=np.int64)
    ends = np.zeros(len(wanted), dtype=np.int64)
    lines = np.zeros(len(wanted), dtype=np.int64)
    newlines_before = 0
    text, text_doc = "", -1
    k = 0
    n = len(w_index)
    doc_of, lo_of, hi_of = w_doc.tolist(), w_lo.tolist(), w_hi.tolist()  # Python ints: no numpy scalar per window
    kernels = _passage_kernels.compiled(len(wanted) * every)
    while k < n:
        strs: list[str] = []
        size = 0
        first_k = k
        while k < n and (size < _WINDOW_CHARS or not strs):
            d = doc_of[k]
            if d != text_doc:
                text, text_doc = docs[d], d  # one document held at a time
            hi = hi_of[k]
            window = text[lo_of[k] : hi if hi >= 0 else len(text)]
            strs.append(window)
            size += len(window)
            k += 1
        t_starts, t_ends, t_lines, t_bounds, n_newlines = _window_tokens(strs, kernels)
        if not np.array_equal(np.diff(t_bounds), w_tokens[first_k:k]):
            return None  # a tokeniser that does not cut the same tokens from a window
        a, b = int(w_first[first_k]), int(w_first[k]) if k < n else len(wanted)
        win = np.repeat(np.arange(k - first_k), np.diff(np.append(w_first[first_k:k], b)))  # window of each wanted
        token = t_bounds[win] + local[a:b] % every
        starts[a:b] = w_lo[first_k:k][win] + t_starts[token]
        ends[a:b] = w_lo[first_k:k][win] + t_ends[token]
        lines[a:b] = newlines_before + t_lines[token]
        newlines_before += n_newlines
    return starts, ends, lines


def _window_tokens(
    strs: list[str], kernels: SimpleNamespace | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Where each token of the windows ``strs`` starts and ends (characters, in its window),
    the newlines of the windows before it, the token bounds of each window and the newlines
    in all: one compiled pass (:func:`dedup._passage_kernels.window_tokens`), or the
    tokeniser with offsets."""
    if kernels is not None:
        utf8 = encode_utf8(strs)
        size = len(utf8.data)
        t_starts, t_ends, t_lines = (np.empty(size, np.int64) for _ in range(3))
        counts = np.empty(len(strs), np.int64)
        n_tokens, n_newlines = kernels.window_tokens(
            utf8.data, utf8.ends, utf8.fold, utf8.klass, utf8.astral_cps, utf8.astral_fold, utf8.astral_class,
            t_starts, t_ends, t_lines, counts,
        )  # fmt: skip
        bounds = np.zeros(len(strs) + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        return t_starts[:n_tokens], t_ends[:n_tokens], t_lines[:n_tokens], bounds, int(n_newlines)
    tokens = tokenize(strs, offsets=True)
    assert tokens.starts is not None and tokens.ends is not None
    joined = "\x00".join(strs)
    newlines = np.flatnonzero(np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32) == 10)
    del joined
    at = np.zeros(len(strs), dtype=np.int64)  # where each window starts in the joined text
    np.cumsum(np.fromiter(map(len, strs[:-1]), dtype=np.int64, count=len(strs) - 1) + 1, out=at[1:])
    token_window = np.repeat(np.arange(len(strs)), np.diff(tokens.bounds))
    lines = np.searchsorted(newlines, at[token_window] + tokens.starts)
    return tokens.starts, tokens.ends, lines, tokens.bounds, len(newlines)


def _locate(
    docs: Texts,
    c: Candidates,
    token_bounds: np.ndarray,
    multiplicity: np.ndarray | Multiplicity,
    ngram: int,
    min_words: int,
    places: TokenPlaces | None = None,
) -> list[Match]:
    """Boilerplate edges trimmed, token ranges turned into character offsets."""
    if len(c.doc_r) == 0:
        return []
    w = min_words
    col = np.arange(w)
    o_first = np.minimum(c.o_lo[:, None] + col, c.o_end[:, None] - 1)  # may begin the original
    o_last = np.maximum(c.o_end[:, None] - 1 - col, c.o_lo[:, None])  # may end it
    r_first = np.minimum(c.r_lo[:, None] + col, c.r_end[:, None] - 1)
    r_last = np.maximum(c.r_end[:, None] - 1 - col, c.r_lo[:, None])
    doc_lo, doc_hi = token_bounds[c.doc_r][:, None], token_bounds[c.doc_r + 1][:, None]
    tail_at = c.r_end[:, None] - w + np.arange(w + 1)  # lines around the end of the repeat
    tail = np.clip(tail_at, c.r_lo[:, None], doc_hi - 1)
    wanted = np.concatenate(
        [a.ravel() for a in (o_first, o_last, r_first, r_last, np.maximum(r_first - 1, doc_lo), tail)]
        + [np.maximum(tail - 1, doc_lo).ravel()]
    )
    wanted.sort()
    wanted = wanted[np.append(True, wanted[1:] != wanted[:-1])]  # np.unique hashes: 10x slower here
    found = _token_places_in_windows(docs, wanted, token_bounds, places) if places is not None else None
    starts, ends, lines = found if found is not None else _token_places(docs, wanted, token_bounds)

    def line(t: np.ndarray) -> np.ndarray:
        return lines[np.searchsorted(wanted, t)]

    head_break = (r_first == doc_lo) | (line(r_first) != line(np.maximum(r_first - 1, doc_lo)))
    tail_break = (tail_at <= doc_lo) | (tail_at >= doc_hi) | (line(tail) != line(np.maximum(tail - 1, doc_lo)))
    cut_lo, cut_hi = _trim(c, multiplicity, head_break, tail_break, token_bounds, ngram, min_words)
    keep = np.minimum(c.o_end - c.o_lo, c.r_end - c.r_lo) - cut_lo - cut_hi >= min_words
    rows = np.flatnonzero(keep)

    def offsets(first: np.ndarray, last: np.ndarray) -> tuple[list[int], list[int]]:
        a = starts[np.searchsorted(wanted, first[rows, cut_lo[rows]])]
        b = ends[np.searchsorted(wanted, last[rows, cut_hi[rows]])]
        return a.tolist(), b.tolist()

    o_a, o_b = offsets(o_first, o_last)
    r_a, r_b = offsets(r_first, r_last)
    matches = [
        Match(Span(do, oa, ob), Span(dr, ra, rb), round(sim, 4))
        for do, dr, oa, ob, ra, rb, sim in zip(
            c.doc_o[rows].tolist(), c.doc_r[rows].tolist(), o_a, o_b, r_a, r_b, c.similarity[rows].tolist()
        )
    ]
    matches.sort(key=lambda x: (x.repeat.doc, x.repeat.start))
    return matches


def _trim(
    c: Candidates,
    multiplicity: np.ndarray | Multiplicity,
    head_break: np.ndarray,
    tail_break: np.ndarray,
    token_bounds: np.ndarray,
    ngram: int,
    min_words: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Boilerplate edges of every candidate's repeat, in groups of bounded memory."""
    n = len(c.doc_r)
    cut_lo = np.zeros(n, dtype=np.int64)
    cut_hi = np.zeros(n, dtype=np.int64)
    kernels = _passage_kernels.compiled(n * 64)
    trim = kernels.trim_edges if kernels is not None else _passage_kernels.python().trim_edges
    doc_end = token_bounds[c.doc_r + 1]
    sizes = c.r_end - c.r_lo
    before = np.cumsum(sizes) - sizes
    cuts = np.flatnonzero(np.diff(before >> 16)) + 1  # groups of about 64k tokens (50 bytes each): bounded memory
    for a, b in itertools.pairwise([0, *cuts.tolist(), n]):
        lo_g, hi_g = c.r_lo[a:b], c.r_end[a:b]
        ranges = getattr(multiplicity, "ranges", None)
        if ranges is not None:
            mult = ranges(lo_g, hi_g)  # one gather for the whole group
        elif isinstance(multiplicity, np.ndarray):
            mult = multiplicity[range_index(lo_g, hi_g)]
        else:
            mult = np.concatenate([np.asarray(multiplicity[int(x) : int(y)]) for x, y in zip(lo_g, hi_g)])
        bounds = np.zeros(b - a + 1, dtype=np.int64)
        np.cumsum(hi_g - lo_g, out=bounds[1:])
        cut_lo[a:b], cut_hi[a:b] = trim(
            np.asarray(mult, dtype=np.int64),
            bounds,
            lo_g,
            hi_g,
            head_break[a:b],
            tail_break[a:b],
            doc_end[a:b],
            ngram,
            min_words,
        )
    return cut_lo, cut_hi


def find_repeated_passages(
    texts: str | Sequence[str] | TextSource,
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    jobs: int = 1,
    spill: str | os.PathLike | bool | None = None,
    progress: Progress | None = None,
) -> list[Match]:
    """Passages that repeat, exactly or nearly, inside or across documents.

    Parameters
    ----------
    texts : str, Sequence[str] or TextSource
        One text, or a sequence of texts (documents), or texts the caller
        does not hold (:class:`dedup.text_source.TextSource`, e.g. spooled
        from a stream): read once in order, then only the documents with
        matches again.
    threshold : float
        Least similarity of a reported match (share of words of both spans
        covered by shared ``ngram``-shingles), in (0, 1].
    min_words : int
        Least length of a reported passage, in words (tokens). Shorter
        repeats (bylines, common phrases) are ignored.
    ngram : int
        Words per shingle. Smaller finds shorter and more heavily edited
        repeats, and more coincidences.
    jobs : int
        Processes used for shingling.
    spill : str, os.PathLike, bool or None
        Where the seeds go: ``None`` (default) keeps them in memory unless
        they would take more than half the available memory (a
        ``TextSource`` whose ``size_hint`` is unknown is spilled), ``False``
        always in memory, ``True`` a temporary work directory, or a work
        directory (see :mod:`dedup.passage_seeds`). Results are the same.
    progress : callable, optional
        ``progress("passages", done, 3)`` after each step: seeds found (the
        shingling and sorting, most of the time), chains built, matches
        located (see :mod:`dedup.progress`).

    Returns
    -------
    list of Match
        Sorted by the repeat's position. ``original`` is the earlier
        occurrence (earlier document, or earlier in the same document); spans
        are character offsets into the given texts, on word boundaries.

    >>> text = "alpha beta gamma delta epsilon zeta eta theta. " * 2
    >>> [(m.original, m.repeat) for m in find_repeated_passages(text, min_words=8)]
    [(Span(doc=0, start=0, end=45), Span(doc=0, start=47, end=92))]
    """
    check_passage_params(threshold, min_words, ngram, jobs)
    docs: list[str] | TextSource = texts if isinstance(texts, TextSource) else _as_list(texts)
    if spill is None:
        spill = spill_needed(docs)
    work = tempfile.TemporaryDirectory(prefix="dedup-spill-") if spill is True else nullcontext(spill)
    report(progress, "passages", 0, 3)
    with work as where, find_seeds(docs, ngram, jobs, None if where is False else where) as seeds:
        report(progress, "passages", 1, 3)
        chains = _chain(seeds.chunks(), seeds.token_bounds, ngram)
        report(progress, "passages", 2, 3)
        found = _matches_from_chains(
            docs, chains, seeds.token_bounds, seeds.multiplicity, threshold, min_words, ngram, seeds.places
        )
    report(progress, "passages", 3, 3)
    return found


def _matches_from_chains(
    docs: Texts,
    chains: list[np.ndarray],
    token_bounds: np.ndarray,
    multiplicity: np.ndarray | Multiplicity,
    threshold: float,
    min_words: int,
    ngram: int,
    places: TokenPlaces | None = None,
) -> list[Match]:
    """Merge the chains, keep the best of overlapping repeats, trim and locate them."""
    if not sum(len(c) for c in chains):
        return []
    candidates = _candidates(_merge(chains, ngram, threshold), ngram, min_words, threshold)
    chosen = _choose(candidates, token_bounds)
    chosen = chosen.take(np.lexsort((chosen.r_lo, chosen.doc_r)))
    trim_heap()  # what chaining and merging freed is not kept resident under the locating
    # In groups: the located edges take about 1 KB per candidate while they are worked on.
    found: list[Match] = []
    for at in range(0, len(chosen.doc_r), _LOCATE_GROUP):
        group = chosen.take(slice(at, at + _LOCATE_GROUP))
        found.extend(_locate(docs, group, token_bounds, multiplicity, ngram, min_words, places))
    found.sort(key=lambda x: (x.repeat.doc, x.repeat.start))
    return found


def matches_from_seeds(
    docs: Texts,
    original: np.ndarray,
    repeat: np.ndarray,
    token_bounds: np.ndarray,
    multiplicity: np.ndarray | Multiplicity,
    *,
    threshold: float,
    min_words: int,
    ngram: int,
) -> list[Match]:
    """Everything after the seeds: chains, merging, overlap resolution, trimming, offsets.

    Engines that compute the seeds elsewhere (e.g. :mod:`dedup.spark`) call
    this to get exactly the local results. ``original``/``repeat`` are global
    token positions (tokens of document ``d`` are
    ``token_bounds[d]:token_bounds[d + 1]``), one seed per repeat token;
    ``multiplicity[a:b]`` is how often the shingle starting at each token
    occurs in the whole collection. Only the documents that hold matches are
    read from ``docs``.
    """
    original = np.asarray(original, dtype=np.int64)
    repeat = np.asarray(repeat, dtype=np.int64)
    order = np.argsort(repeat, kind="stable")
    chains = _chain([(original[order], repeat[order])], np.asarray(token_bounds, dtype=np.int64), ngram)
    return _matches_from_chains(docs, chains, token_bounds, multiplicity, threshold, min_words, ngram)


#: One alphanumeric character, exactly as ``str.isalnum`` (``\\w`` is alnum or ``_``).
_ALNUM = re.compile(r"[^\W_]")
#: Characters looked at per step when searching a line backwards for its last alphanumeric.
_BACK_STEP = 1 << 16


class _Lines:
    """Line bounds of one text and where each line's alphanumerics start and end.

    Built once per document that has a removal, so widening every removal to
    whole lines is linear in the text however long its lines are: newline
    positions are found in one pass, and each line is searched for its first
    and last alphanumeric character at most once.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = np.fromiter((m.start() for m in re.finditer("\n", text)), dtype=np.int64)
        self._alnum: dict[int, tuple[int, int]] = {}

    def line(self, offset: int) -> tuple[int, int]:
        """``[start, end)`` of the line holding ``offset`` (``end`` is its newline or the text's end)."""
        k = int(np.searchsorted(self.newlines, offset, side="left"))
        start = int(self.newlines[k - 1]) + 1 if k > 0 else 0
        end = int(self.newlines[k]) if k < len(self.newlines) else len(self.text)
        return start, end

    def alnum_range(self, start: int, end: int) -> tuple[int, int]:
        """First and last (inclusive) alphanumeric of line ``[start, end)``; ``(end, start - 1)`` if none."""
        if start not in self._alnum:
            first = _ALNUM.search(self.text, start, end)
            if first is None:
                self._alnum[start] = (end, start - 1)
            else:
                last, hi = first.start(), end
                while hi > last + 1:  # backwards in steps: only the line's tail is read
                    lo = max(last + 1, hi - _BACK_STEP)
                    tail = [m.start() for m in _ALNUM.finditer(self.text, lo, hi)]
                    if tail:
                        last = tail[-1]
                        break
                    hi = lo
                self._alnum[start] = (first.start(), last)
        return self._alnum[start]


def _widen_to_lines(lines: _Lines, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` to whole lines if nothing but punctuation and spaces is left out."""
    line_start = lines.line(start)[0]
    line_end = lines.line(end)[1]
    first, _ = lines.alnum_range(*lines.line(start))
    _, last = lines.alnum_range(*lines.line(end))
    if first < start or last >= end:
        return start, end
    return line_start, min(line_end + 1, len(lines.text))


class _Removed:
    """Disjoint removed spans of one document, sorted, with running totals of their lengths."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.total = [0]  # total[i]: characters removed by the first i spans

    def _overlapping(self, start: int, end: int) -> tuple[int, int]:
        return bisect_right(self.ends, start), bisect_left(self.starts, end)

    def overlaps(self, start: int, end: int) -> bool:
        i, j = self._overlapping(start, end)
        return i < j

    def removed_within(self, start: int, end: int) -> int:
        """Characters of ``[start, end)`` already removed."""
        i, j = self._overlapping(start, end)
        if i >= j:
            return 0
        inside = self.total[j] - self.total[i]
        return inside - max(0, start - self.starts[i]) - max(0, self.ends[j - 1] - end)

    def add(self, start: int, end: int) -> None:
        """Add a span that overlaps none (the usual case, in text order, is an append)."""
        if not self.starts or start >= self.ends[-1]:
            self.starts.append(start)
            self.ends.append(end)
            self.total.append(self.total[-1] + end - start)
            return
        k = bisect_left(self.starts, start)
        self.starts.insert(k, start)
        self.ends.insert(k, end)
        self.total = [0, *accumulate(e - s for s, e in zip(self.starts, self.ends))]


def plan_removals(
    texts: str | Iterable[str] | TextSource,
    matches: Iterable[Match],
    *,
    threshold: float = 0.8,
    removed_before: Mapping[int, Iterable[tuple[int, int]]] | None = None,
) -> list[Removal]:
    """What to remove so that each repeat goes and its original stays.

    Repeats are taken in text order. A repeat is removed only if at least a
    ``threshold`` share of its original is still kept, so a chain of removals
    can never delete every copy of a passage. The cost is linear in the
    length of the texts with removals (plus ``log`` of the removals each);
    only those texts are read (one at a time from a :class:`TextSource`).

    ``removed_before`` maps a document to the ``(start, end)`` spans (disjoint)
    already removed from it by an earlier plan. A document's removals depend
    only on its own matches and on the final removals of the earlier
    documents holding their originals, so the plan can be made document by
    document (the Spark engine does): plan one document's matches with the
    removals of those earlier documents given here, and the result is its
    part of the plan of all documents at once.
    """
    docs: list[str] | TextSource = texts if isinstance(texts, TextSource) else _as_list(texts)
    removed: dict[int, _Removed] = {}
    for doc, cut in (removed_before or {}).items():
        before = removed.setdefault(doc, _Removed())
        for start, end in sorted(cut):
            before.add(start, end)
    lines: dict[int, _Lines] = {}
    plan = []
    n_docs = len(docs)
    for m in sorted(matches, key=lambda x: (x.repeat.doc, x.repeat.start)):
        o = m.original
        if not (0 <= o.doc < n_docs and 0 <= m.repeat.doc < n_docs):
            raise ValueError(f"match {m} refers to a document that is not among the {n_docs} texts")
        gone = removed[o.doc].removed_within(o.start, o.end) if o.doc in removed else 0
        if o.end - o.start <= 0 or (o.end - o.start - gone) / (o.end - o.start) < threshold:
            continue
        doc = m.repeat.doc
        if doc not in lines:
            if isinstance(docs, TextSource):
                lines.clear()  # repeats come in document order: hold one re-read text at a time
            lines[doc] = _Lines(docs[doc])
        start, end = _widen_to_lines(lines[doc], m.repeat.start, m.repeat.end)
        spans = removed.setdefault(doc, _Removed())
        if spans.overlaps(start, end):
            continue
        spans.add(start, end)
        plan.append(Removal(Span(doc, start, end), m))
    plan.sort(key=lambda r: (r.span.doc, r.span.start))
    return plan


def apply_removals(texts: str | Iterable[str], removals: Iterable[Removal]) -> list[str]:
    """The texts with every removal's span cut out (inputs are not modified)."""
    docs = _as_list(texts)
    by_doc: dict[int, list[Span]] = {}
    for r in removals:
        by_doc.setdefault(r.span.doc, []).append(r.span)
    return [remove_spans(text, by_doc.get(d, [])) for d, text in enumerate(docs)]


def remove_spans(text: str, spans: Iterable[Span]) -> str:
    """``text`` with the characters of every span cut out (their ``doc`` is not looked at).

    For cleaning one document at a time, e.g. while streaming: the spans of a
    document's removals (:func:`plan_removals`) applied to its text.

    Parameters
    ----------
    text : str
        The document's text.
    spans : Iterable[Span]
        Spans into ``text``; they may overlap.

    Returns
    -------
    str
        What is left, in order.

    >>> remove_spans("keep cut keep", [Span(0, 4, 8)])
    'keep keep'
    """
    parts, pos = [], 0
    for s in sorted(spans):
        parts.append(text[pos : s.start])
        pos = max(pos, s.end)
    parts.append(text[pos:])
    return "".join(parts)


@overload
def remove_repeated_passages(  # type: ignore[overload-overlap]  # a str is also a Sequence[str]
    texts: str, *, threshold: float = ..., min_words: int = ..., ngram: int = ..., jobs: int = ...
) -> str: ...
@overload
def remove_repeated_passages(
    texts: Iterable[str], *, threshold: float = ..., min_words: int = ..., ngram: int = ..., jobs: int = ...
) -> list[str]: ...


def remove_repeated_passages(
    texts: str | Iterable[str],
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    jobs: int = 1,
) -> str | list[str]:
    """The text(s) with every repeated passage removed and its first occurrence kept.

    Where a repeat covers whole lines, the whole lines go, so no blank line
    is left behind. Text that does not repeat is never removed: what is kept
    plus what :func:`plan_removals` removes is exactly the input.

    Parameters
    ----------
    texts : str or Iterable[str]
        One text, or the texts of several documents (read once).
    threshold : float
        Least similarity of a removed repeat, in (0, 1].
    min_words : int
        Least length of a removed passage, in words.
    ngram : int
        Words per shingle.
    jobs : int
        Processes used for shingling.

    Returns
    -------
    str or list of str
        The cleaned text for a single ``str``, else one cleaned text per document.

    >>> remove_repeated_passages("one two three four five six. one two three four five six.", min_words=6)
    'one two three four five six. .'
    """
    docs = _as_list(texts)  # once: an iterator could not be read again by the later steps
    matches = find_repeated_passages(docs, threshold=threshold, min_words=min_words, ngram=ngram, jobs=jobs)
    cleaned = apply_removals(docs, plan_removals(docs, matches, threshold=threshold))
    return cleaned[0] if isinstance(texts, str) else cleaned
