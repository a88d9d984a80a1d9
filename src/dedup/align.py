"""Word-by-word alignment of two texts, for people checking a match.

:func:`align_words` cuts two texts into rows of the same shape a side-by-side
view needs: words that are equal on both sides, words replaced, deleted or
inserted. Each row holds the exact substrings of the inputs (whitespace and
line breaks included), so joining a side's pieces gives that text back
unchanged, and the 1-based line each piece starts on.

Words are compared folded (case-folded, punctuation at their edges ignored),
much as the shingle hashing sees them, so ``"The"`` and ``"the,"`` align as
equal and only differences that matter to the matching are highlighted.

>>> rows = align_words("the cat sat on the mat", "The cat sat on a mat")
>>> [(r.tag, r.a, r.b) for r in rows]
[('equal', 'the cat sat on ', 'The cat sat on '), ('replace', 'the ', 'a '), ('equal', 'mat', 'mat')]
"""

from __future__ import annotations

import difflib
import re
from typing import NamedTuple

__all__ = ["AlignedRow", "align_words", "collapse_equal"]

_WORD = re.compile(r"\S+")
# Punctuation stripped at the edges of words before comparing (ASCII and common typographic marks).
_EDGE = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()) + "«»‘’‚‛“”„‟‹›–—―…·•§¶"
#: Words compared at most, per side: difflib is quadratic at worst, and a reader will not read further.
MAX_WORDS = 20_000


class AlignedRow(NamedTuple):
    """One row of an alignment: ``a`` and ``b`` are exact pieces of the two texts.

    ``tag`` is ``"equal"``, ``"replace"``, ``"delete"`` (``b`` empty),
    ``"insert"`` (``a`` empty) or ``"skip"`` (identical words left out by
    :func:`collapse_equal`; ``a``/``b`` then say how many). ``a_line`` and
    ``b_line`` are the 1-based lines (counted from ``first_line``) the pieces
    start on.
    """

    tag: str
    a: str
    b: str
    a_line: int
    b_line: int


def _words(text: str) -> tuple[list[int], list[str]]:
    """Start offset of every word of ``text`` and its folded form."""
    starts = [m.start() for m in _WORD.finditer(text)]
    # casefold never turns a character into whitespace, so the word counts agree.
    keys = [w.strip(_EDGE) or w for w in text.casefold().split()]
    return starts, keys


def _opcodes(ka: list[str], kb: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes, with the common head and tail matched first (near-copies: most of both)."""
    n = min(len(ka), len(kb))
    head = 0
    while head < n and ka[head] == kb[head]:
        head += 1
    tail = 0
    while tail < n - head and ka[len(ka) - 1 - tail] == kb[len(kb) - 1 - tail]:
        tail += 1
    ops: list[tuple[str, int, int, int, int]] = []
    if head:
        ops.append(("equal", 0, head, 0, head))
    mid = difflib.SequenceMatcher(None, ka[head : len(ka) - tail], kb[head : len(kb) - tail], autojunk=False)
    for tag, i1, i2, j1, j2 in mid.get_opcodes():
        ops.append((tag, i1 + head, i2 + head, j1 + head, j2 + head))
    if tail:
        ops.append(("equal", len(ka) - tail, len(ka), len(kb) - tail, len(kb)))
    return ops


def align_words(
    a: str, b: str, *, first_line: tuple[int, int] = (1, 1), max_words: int = MAX_WORDS
) -> list[AlignedRow]:
    """Rows aligning the words of ``a`` and ``b`` (see the module docstring).

    Parameters
    ----------
    a, b:
        The two texts (e.g. an original passage and its repeat).
    first_line:
        Line numbers of the first characters of ``a`` and ``b`` in their files.
    max_words:
        Only the first ``max_words`` words of each side are aligned; the rest
        of both sides is one final ``"replace"`` row (or ``"equal"`` when it is
        identical).

    >>> [r.tag for r in align_words("a b c", "a x c d")]
    ['equal', 'replace', 'equal', 'insert']
    >>> "".join(r.a for r in align_words("one\\ntwo  three", "two three")), align_words("x\\ny", "x\\ny")[0].tag
    ('one\\ntwo  three', 'equal')
    """
    if a == b:
        return [AlignedRow("equal", a, b, *first_line)] if a else []
    sa, ka = _words(a)
    sb, kb = _words(b)
    tail_a = tail_b = ""
    if len(ka) > max_words or len(kb) > max_words:
        cut_a = sa[max_words] if len(sa) > max_words else len(a)
        cut_b = sb[max_words] if len(sb) > max_words else len(b)
        a, tail_a, b, tail_b = a[:cut_a], a[cut_a:], b[:cut_b], b[cut_b:]
        sa, ka, sb, kb = sa[:max_words], ka[:max_words], sb[:max_words], kb[:max_words]
    # Piece k of a side runs from the start of word k to the start of word k+1 (its
    # trailing whitespace included); leading whitespace goes with the first piece.
    ea = [0, *sa[1:], len(a)]
    eb = [0, *sb[1:], len(b)]
    rows: list[AlignedRow] = []
    la, lb = first_line
    ops = _opcodes(ka, kb)
    for tag, i1, i2, j1, j2 in ops:
        pa, pb = a[ea[i1] : ea[i2]], b[eb[j1] : eb[j2]]
        rows.append(AlignedRow(tag, pa, pb, la, lb))
        la += pa.count("\n")
        lb += pb.count("\n")
    # A side without words has no pieces: its whitespace goes with the first row.
    if rows and not ka and a:
        rows[0] = rows[0]._replace(a=a)
        la += a.count("\n")
    if rows and not kb and b:
        rows[0] = rows[0]._replace(b=b)
        lb += b.count("\n")
    if not ops and (a or b):  # no words on either side: only whitespace
        rows.append(AlignedRow("equal" if a == b else "replace", a, b, la, lb))
        la += a.count("\n")
        lb += b.count("\n")
    if tail_a or tail_b:
        rows.append(AlignedRow("equal" if tail_a == tail_b else "replace", tail_a, tail_b, la, lb))
    return rows


def collapse_equal(rows: list[AlignedRow], context: int = 40) -> list[AlignedRow]:
    """``rows`` with long equal stretches cut to ``context`` words on each side of a difference.

    What is left out becomes a ``"skip"`` row whose ``a`` and ``b`` give the
    number of words left out. A text with no difference keeps its first and
    last ``context`` words.

    >>> rows = align_words(" ".join(map(str, range(100))), " ".join(map(str, range(99))) + " x")
    >>> [(r.tag, r.a if r.tag == "skip" else len(r.a.split())) for r in collapse_equal(rows, context=5)]
    [('skip', '94'), ('equal', 5), ('replace', 1)]
    """
    out: list[AlignedRow] = []
    for k, row in enumerate(rows):
        if row.tag != "equal":
            out.append(row)
            continue
        starts_a = [m.start() for m in _WORD.finditer(row.a)]
        starts_b = [m.start() for m in _WORD.finditer(row.b)]
        head = context if k > 0 else 0  # words kept after a preceding difference
        tail = context if k < len(rows) - 1 else 0  # words kept before a following difference
        if len(rows) == 1:
            head = tail = context
        n = min(len(starts_a), len(starts_b))
        if n <= head + tail + 10:  # not worth a skip row
            out.append(row)
            continue
        ha, hb = starts_a[head], starts_b[head]
        ta, tb = (starts_a[n - tail], starts_b[n - tail]) if tail else (len(row.a), len(row.b))
        if head:
            out.append(AlignedRow("equal", row.a[:ha], row.b[:hb], row.a_line, row.b_line))
        skipped = n - head - tail
        a_line = row.a_line + row.a[:ha].count("\n")
        b_line = row.b_line + row.b[:hb].count("\n")
        out.append(AlignedRow("skip", str(skipped), str(skipped), a_line, b_line))
        a_line += row.a[ha:ta].count("\n")
        b_line += row.b[hb:tb].count("\n")
        if tail:
            out.append(AlignedRow("equal", row.a[ta:], row.b[tb:], a_line, b_line))
    return out
