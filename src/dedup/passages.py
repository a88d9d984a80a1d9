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

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import overload

import numpy as np

from .internal import check_passage_params, passage_shingles, ranges
from .parallel import can_share, ordered_map, shared_texts
from .text import tokenize

__all__ = [
    "Match",
    "Removal",
    "Span",
    "apply_removals",
    "find_repeated_passages",
    "plan_removals",
    "remove_repeated_passages",
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


@dataclass(frozen=True, order=True)
class Span:
    """Characters ``start:end`` (end exclusive) of document ``doc``."""

    doc: int
    start: int
    end: int

    def text(self, texts: str | Sequence[str]) -> str:
        """The spanned text, from the same ``texts`` the span was found in."""
        source = texts if isinstance(texts, str) else texts[self.doc]
        return source[self.start : self.end]


@dataclass(frozen=True)
class Match:
    """``repeat`` repeats ``original`` (the earlier occurrence) with ``similarity``."""

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


def _shingle_range(indices: range, ngram: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return passage_shingles(list(shared_texts()[indices.start : indices.stop]), ngram)


def _seeds(texts: list[str], ngram: int, jobs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seed pairs (original token, repeat token) in global token positions, token bounds,
    and how often the shingle starting at each token occurs (0 where none starts)."""
    hashes, firsts, counts = [], [], []
    offset = 0
    if jobs > 1 and can_share():
        results = ordered_map(_shingle_range, list(ranges(texts)), jobs, ngram, shared=texts)
    else:
        results = ordered_map(passage_shingles, (texts[r.start : r.stop] for r in ranges(texts)), jobs, ngram)
    for h, first, cnt in results:
        hashes.append(h)
        firsts.append(first + offset)
        counts.append(cnt)
        offset += int(cnt.sum())
    token_bounds = np.zeros(len(texts) + 1, dtype=np.int64)
    if counts:
        np.cumsum(np.concatenate(counts), out=token_bounds[1:])
    multiplicity = np.zeros(int(token_bounds[-1]), dtype=np.int32)
    if not hashes or sum(len(h) for h in hashes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, token_bounds, multiplicity
    pos = np.concatenate(firsts).astype(np.uint64)
    # Pack (hash, position) into one uint64 and sort the values (much faster
    # than an argsort): the low bits hold the token position, so equal hashes
    # come out in text order; the high bits keep 64 - bits of the hash.
    bits = _U64(max(1, int(token_bounds[-1]).bit_length()))
    keys = np.concatenate(hashes) >> bits << bits | pos
    keys.sort()
    sorted_h = keys >> bits
    sorted_pos = (keys & ((_U64(1) << bits) - _U64(1))).astype(np.int64)
    new_group = np.ones(len(keys), dtype=bool)
    new_group[1:] = sorted_h[1:] != sorted_h[:-1]
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(len(keys)), 0))
    later = ~new_group
    original = sorted_pos[group_first[later]]
    repeat = sorted_pos[later]
    group_size = np.diff(np.append(np.flatnonzero(new_group), len(keys)))
    multiplicity[sorted_pos] = np.repeat(group_size, group_size)
    return original, repeat, token_bounds, multiplicity


@dataclass
class _Chain:
    doc_o: int
    doc_r: int
    o_lo: int
    o_hi: int  # last seed position (token), inclusive
    r_lo: int
    r_hi: int
    covered: int  # tokens of the repeat covered by seeds


def _chains(original: np.ndarray, repeat: np.ndarray, token_bounds: np.ndarray, ngram: int) -> list[_Chain]:
    if len(original) == 0:
        return []
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
    covered = np.add.reduceat(step, starts)
    o_lo = np.minimum.reduceat(o, starts)
    o_hi = np.maximum.reduceat(o, starts)
    r_lo = np.minimum.reduceat(r, starts)
    r_hi = np.maximum.reduceat(r, starts)
    keep = counts >= 2  # a lone seed is a common phrase, not a passage
    return [
        _Chain(*vals)
        for vals in zip(
            do[starts][keep].tolist(),
            dr[starts][keep].tolist(),
            o_lo[keep].tolist(),
            o_hi[keep].tolist(),
            r_lo[keep].tolist(),
            r_hi[keep].tolist(),
            covered[keep].tolist(),
        )
    ]


def _similarity(m: _Chain, ngram: int) -> float:
    len_o = m.o_hi - m.o_lo + ngram
    len_r = m.r_hi - m.r_lo + ngram
    return min(1.0, 2.0 * m.covered / (len_o + len_r))


def _merge(chains: list[_Chain], ngram: int, threshold: float) -> list[_Chain]:
    """Merge chains that continue each other into maximal matches."""
    chains.sort(key=lambda c: (c.doc_o, c.doc_r, c.r_lo, c.o_lo))
    done: list[_Chain] = []
    open_: list[_Chain] = []
    pair = None
    for c in chains:
        if (c.doc_o, c.doc_r) != pair:
            done.extend(open_)
            open_, pair = [], (c.doc_o, c.doc_r)
        # Matches that cannot be continued any more (the repeat moved on too far).
        still = []
        for m in open_:
            (still if c.r_lo - m.r_hi <= _MERGE_GAP else done).append(m)
        open_ = still
        best = best_src = None
        best_sim = -1.0
        for m in open_:
            gap_o, gap_r = c.o_lo - m.o_hi, c.r_lo - m.r_hi
            if gap_o < -ngram or gap_r < -ngram or max(gap_o, gap_r) > _MERGE_GAP:
                continue
            overlap = max(0, min(m.r_hi + ngram, c.r_hi + ngram) - c.r_lo)
            merged = _Chain(
                m.doc_o,
                m.doc_r,
                min(m.o_lo, c.o_lo),
                max(m.o_hi, c.o_hi),
                m.r_lo,
                max(m.r_hi, c.r_hi),
                m.covered + c.covered - min(overlap, c.covered),
            )
            sim = _similarity(merged, ngram)
            if sim >= threshold and sim > best_sim:
                best, best_sim = merged, sim
                best_src = m
        if best is None:
            open_.append(c)
        else:
            open_[open_.index(best_src)] = best  # type: ignore[arg-type]
    done.extend(open_)
    return done


def _boilerplate_edges(
    token_line: np.ndarray,
    base: int,
    lo: int,
    end: int,
    multiplicity: np.ndarray,
    ngram: int,
    min_words: int,
) -> tuple[int, int]:
    """Tokens to trim at each end of a repeat span ``[lo, end)`` (global token positions).

    A short line (fewer than ``min_words`` words) at the edge of a repeat is
    left out when it repeats *more often* than the passage itself: a byline,
    a date or a "Share this" line that happens to sit next to a copied
    article is boilerplate of its own, not part of the copy.
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


def find_repeated_passages(
    texts: str | Sequence[str],
    *,
    threshold: float = 0.8,
    min_words: int = DEFAULT_MIN_WORDS,
    ngram: int = DEFAULT_NGRAM,
    jobs: int = 1,
) -> list[Match]:
    """Passages that repeat, exactly or nearly, inside or across documents.

    Parameters
    ----------
    texts:
        One text, or a sequence of texts (documents).
    threshold:
        Least similarity of a reported match (share of words of both spans
        covered by shared ``ngram``-shingles), in (0, 1].
    min_words:
        Least length of a reported passage, in words (tokens). Shorter
        repeats (bylines, common phrases) are ignored.
    ngram:
        Words per shingle. Smaller finds shorter and more heavily edited
        repeats, and more coincidences.
    jobs:
        Processes used for shingling.

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
    docs = _as_list(texts)
    original, repeat, token_bounds, multiplicity = _seeds(docs, ngram, jobs)
    return matches_from_seeds(
        docs, original, repeat, token_bounds, multiplicity, threshold=threshold, min_words=min_words, ngram=ngram
    )


def matches_from_seeds(
    docs: Sequence[str],
    original: np.ndarray,
    repeat: np.ndarray,
    token_bounds: np.ndarray,
    multiplicity: np.ndarray,
    *,
    threshold: float,
    min_words: int,
    ngram: int,
) -> list[Match]:
    """Everything after the seeds: chains, merging, overlap resolution, trimming, offsets.

    Engines that compute the seeds elsewhere (e.g. :mod:`dedup.spark`) call
    this to get exactly the local results. ``original``/``repeat`` are global
    token positions (tokens of document ``d`` are
    ``token_bounds[d]:token_bounds[d + 1]``); ``multiplicity[t]`` is how often
    the shingle starting at token ``t`` occurs in the whole collection.
    """
    chains = _merge(_chains(original, repeat, token_bounds, ngram), ngram, threshold)

    candidates = []
    for m in chains:
        o_lo, o_end = m.o_lo, m.o_hi + ngram  # token range, end exclusive
        r_lo, r_end = m.r_lo, m.r_hi + ngram
        if m.doc_o == m.doc_r and o_end > r_lo:
            o_end = r_lo  # a passage overlapping its own repeat: keep the spans apart
        sim = _similarity(m, ngram)
        if min(o_end - o_lo, r_end - r_lo) >= min_words and sim >= threshold:
            candidates.append((m, o_lo, o_end, r_lo, r_end, sim))

    # Repeats that overlap: keep the most covered one.
    candidates.sort(key=lambda c: (-c[0].covered, c[0].doc_r, c[3]))
    taken: dict[int, list[tuple[int, int]]] = {}
    chosen = []
    for cand in candidates:
        m, _, _, r_lo, r_end, _ = cand
        spans = taken.setdefault(m.doc_r, [])
        if any(lo < r_end and r_lo < hi for lo, hi in spans):
            continue
        spans.append((r_lo, r_end))
        chosen.append(cand)

    # Token positions -> character offsets, tokenising only the documents involved.
    needed = sorted({c[0].doc_o for c in chosen} | {c[0].doc_r for c in chosen})
    offsets = {}
    for r in ranges([docs[d] for d in needed]):  # in batches, like the first pass
        batch = needed[r.start : r.stop]
        tb = tokenize([docs[d] for d in batch], offsets=True)
        for k, d in enumerate(batch):
            lo, hi = tb.bounds[k], tb.bounds[k + 1]
            offsets[d] = (tb.starts[lo:hi], tb.ends[lo:hi])

    def line_ids(doc: int) -> np.ndarray:
        starts = offsets[doc][0]
        newlines = np.frombuffer(docs[doc].encode("utf-32-le", "surrogatepass"), dtype=np.uint32) == 10
        return np.searchsorted(np.flatnonzero(newlines), starts)

    lines = {d: line_ids(d) for d in needed}
    trimmed = []
    for m, o_lo, o_end, r_lo, r_end, sim in chosen:
        cut_lo, cut_hi = _boilerplate_edges(
            lines[m.doc_r], token_bounds[m.doc_r], r_lo, r_end, multiplicity, ngram, min_words
        )
        o_lo, o_end = o_lo + cut_lo, o_end - cut_hi
        r_lo, r_end = r_lo + cut_lo, r_end - cut_hi
        if min(o_end - o_lo, r_end - r_lo) >= min_words:
            trimmed.append((m, o_lo, o_end, r_lo, r_end, sim))
    chosen = trimmed

    def span(doc: int, lo: int, end: int) -> Span:
        starts, ends = offsets[doc]
        base = token_bounds[doc]
        return Span(doc, int(starts[lo - base]), int(ends[end - 1 - base]))

    matches = [
        Match(span(m.doc_o, o_lo, o_end), span(m.doc_r, r_lo, r_end), round(sim, 4))
        for m, o_lo, o_end, r_lo, r_end, sim in chosen
    ]
    matches.sort(key=lambda x: (x.repeat.doc, x.repeat.start))
    return matches


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


def plan_removals(texts: str | Iterable[str], matches: Iterable[Match], *, threshold: float = 0.8) -> list[Removal]:
    """What to remove so that each repeat goes and its original stays.

    Repeats are taken in text order. A repeat is removed only if at least a
    ``threshold`` share of its original is still kept, so a chain of removals
    can never delete every copy of a passage. The cost is linear in the
    length of the texts with removals (plus ``log`` of the removals each).
    """
    docs = _as_list(texts)
    removed: dict[int, _Removed] = {}
    lines: dict[int, _Lines] = {}
    plan = []
    for m in sorted(matches, key=lambda x: (x.repeat.doc, x.repeat.start)):
        o = m.original
        if not (0 <= o.doc < len(docs) and 0 <= m.repeat.doc < len(docs)):
            raise ValueError(f"match {m} refers to a document that is not among the {len(docs)} texts")
        gone = removed[o.doc].removed_within(o.start, o.end) if o.doc in removed else 0
        if o.end - o.start <= 0 or (o.end - o.start - gone) / (o.end - o.start) < threshold:
            continue
        doc = m.repeat.doc
        if doc not in lines:
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
    out = []
    for d, text in enumerate(docs):
        pieces, pos = [], 0
        for s in sorted(by_doc.get(d, [])):
            pieces.append(text[pos : s.start])
            pos = max(pos, s.end)
        pieces.append(text[pos:])
        out.append("".join(pieces))
    return out


@overload
def remove_repeated_passages(texts: str, **kwargs) -> str: ...
@overload
def remove_repeated_passages(texts: Iterable[str], **kwargs) -> list[str]: ...


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

    >>> remove_repeated_passages("one two three four five six. one two three four five six.", min_words=6)
    'one two three four five six. .'
    """
    docs = _as_list(texts)  # once: an iterator could not be read again by the later steps
    matches = find_repeated_passages(docs, threshold=threshold, min_words=min_words, ngram=ngram, jobs=jobs)
    cleaned = apply_removals(docs, plan_removals(docs, matches, threshold=threshold))
    return cleaned[0] if isinstance(texts, str) else cleaned
