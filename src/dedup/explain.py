"""Why two texts are (or are not) near-duplicates: every number the pipeline looks at.

:func:`explain_pair` recomputes, for one pair of texts, what the document and
passage pipelines compute for a whole corpus: the shingle sets and their exact
Jaccard similarity, the MinHash estimate, containment both ways, which LSH
bands collided (and so whether the pair would have been a candidate at all),
and the passages the two texts share, aligned word by word.

>>> a, b = "the cat sat on the mat and then it slept all day", "the cat sat on the mat and then it left"
>>> e = explain_pair(a, b, ngram=3)
>>> e.shingles_a, e.shingles_b, e.shared, round(e.jaccard, 3), round(e.containment_b_in_a, 3)
(10, 8, 7, 0.636, 0.875)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .align import AlignedRow, align_words, collapse_equal
from .internal import check_params
from .lsh import band_keys, collision_probability, resolve_bands
from .minhash import EMPTY, jaccard_estimate, minhash
from .text import ShingleMode, shingle, tokenize

__all__ = ["Explanation", "SharedPassage", "explain_pair", "shingle_table"]


@dataclass
class SharedPassage:
    """A passage of ``b`` repeating one of ``a`` (character offsets), with its word alignment."""

    a_start: int
    a_end: int
    b_start: int
    b_end: int
    similarity: float
    rows: list[AlignedRow] = field(default_factory=list)


@dataclass
class Explanation:
    """What :func:`explain_pair` found; ``to_dict()`` is its JSON form."""

    ngram: int
    num_perm: int
    threshold: float
    shingles_a: int  # distinct shingles (32-bit hashes, as MinHash sees them)
    shingles_b: int
    shared: int
    jaccard: float  # exact: shared / (shingles_a + shingles_b - shared)
    estimate: float  # share of equal MinHash slots
    containment_a_in_b: float  # shared / shingles_a: how much of a is in b
    containment_b_in_a: float
    bands: int
    rows: int
    colliding_bands: list[int]  # 0-based bands whose rows are all equal
    candidate: bool  # at least one band collided: LSH hands the pair to verification
    collision_probability: float  # of a pair with this exact Jaccard, for these bands and rows
    duplicate: bool  # jaccard >= threshold: what the document pipeline reports
    shared_examples: list[str]
    only_a_examples: list[str]
    only_b_examples: list[str]
    passages: list[SharedPassage]

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (the rows of an alignment as ``[tag, a, b, a_line, b_line]``)."""
        d = asdict(self)
        for p in d["passages"]:
            p["rows"] = [list(r) for r in p["rows"]]
        return d


def shingle_table(text: str, ngram: int = 5, shingle_mode: ShingleMode = "word") -> dict[int, str]:
    """Each distinct 32-bit shingle hash of ``text`` and the text of its first occurrence.

    >>> sorted(shingle_table("a b c a b c", ngram=2).values())
    ['a b', 'b c', 'c a']
    """
    tokens = tokenize([text], mode=shingle_mode, offsets=True)
    sh = shingle(tokens, ngram)
    assert tokens.starts is not None and tokens.ends is not None
    n_tok = len(tokens.hashes)
    last = np.minimum(sh.first_token + ngram - 1, n_tok - 1)
    starts, ends = tokens.starts[sh.first_token].tolist(), tokens.ends[last].tolist()
    table: dict[int, str] = {}
    for h, s, e in zip(sh.hashes32().tolist(), starts, ends):
        if h not in table:
            table[h] = " ".join(text[s:e].split())
        # later occurrences of a shingle add nothing: sets, not bags
    return table


def explain_pair(
    a: str,
    b: str,
    *,
    threshold: float = 0.8,
    ngram: int = 5,
    num_perm: int = 128,
    seed: int = 1,
    bands: int | None = None,
    rows: int | None = None,
    shingle_mode: ShingleMode = "word",
    min_words: int = 20,
    examples: int = 10,
    context: int = 40,
) -> Explanation:
    """Explain how the pipelines see the pair ``(a, b)``.

    Parameters
    ----------
    a, b:
        The two texts.
    threshold, ngram, num_perm, seed, bands, rows, shingle_mode:
        As for :func:`dedup.find_duplicate_pairs` (bands and rows default to
        the banding it would use).
    min_words:
        Shortest shared passage reported (as :func:`dedup.find_repeated_passages`).
    examples:
        Shared / differing shingles listed, at most, each (in text order).
    context:
        Identical words kept around each difference in the alignments.
    """
    check_params(threshold, ngram, num_perm, 1)
    bands, rows = resolve_bands(threshold, num_perm, bands, rows)
    ta, tb = shingle_table(a, ngram, shingle_mode), shingle_table(b, ngram, shingle_mode)
    sa, sb = set(ta), set(tb)
    shared = sa & sb
    union = len(sa) + len(sb) - len(shared)
    jac = len(shared) / union if sa and sb else 0.0

    batch = shingle(tokenize([a, b], mode=shingle_mode), ngram)
    sig = minhash(batch.hashes32(), batch.bounds, num_perm=num_perm, seed=seed)
    empty = bool((sig == EMPTY).all(axis=1).any())
    estimate = 0.0 if empty else float(jaccard_estimate(sig[0], sig[1]))
    keys = band_keys(sig, bands, rows)
    colliding = [] if empty else np.flatnonzero(keys[0] == keys[1]).tolist()

    from .passages import find_repeated_passages  # the passage layer only for this one pair

    passages = []
    for m in find_repeated_passages([a, b], threshold=threshold, min_words=min_words, ngram=ngram):
        if m.original.doc == 0 and m.repeat.doc == 1:
            first = (a.count("\n", 0, m.original.start) + 1, b.count("\n", 0, m.repeat.start) + 1)
            aligned = align_words(m.original.text(a), m.repeat.text([a, b]), first_line=first)
            passages.append(
                SharedPassage(
                    m.original.start,
                    m.original.end,
                    m.repeat.start,
                    m.repeat.end,
                    m.similarity,
                    collapse_equal(aligned, context),
                )
            )
    return Explanation(
        ngram=ngram,
        num_perm=num_perm,
        threshold=threshold,
        shingles_a=len(sa),
        shingles_b=len(sb),
        shared=len(shared),
        jaccard=jac,
        estimate=estimate,
        containment_a_in_b=len(shared) / len(sa) if sa else 0.0,
        containment_b_in_a=len(shared) / len(sb) if sb else 0.0,
        bands=bands,
        rows=rows,
        colliding_bands=colliding,
        candidate=bool(colliding),
        collision_probability=float(collision_probability(jac, bands, rows)),
        duplicate=bool(sa and sb) and jac >= threshold,
        shared_examples=[t for h, t in ta.items() if h in shared][:examples],
        only_a_examples=[t for h, t in ta.items() if h not in sb][:examples],
        only_b_examples=[t for h, t in tb.items() if h not in sa][:examples],
        passages=passages,
    )


def format_explanation(e: Explanation, name_a: str = "A", name_b: str = "B") -> str:
    """The human-readable report of ``dedup explain``."""
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    lines = [
        f"A: {name_a}",
        f"B: {name_b}",
        f"shingles ({e.ngram}-word): A {e.shingles_a}, B {e.shingles_b}, shared {e.shared}",
        f"exact Jaccard       {e.jaccard:.4f}   ({'≥' if e.duplicate else '<'} threshold {e.threshold}: "
        f"{'near-duplicates' if e.duplicate else 'not near-duplicates'})",
        f"MinHash estimate    {e.estimate:.4f}   ({e.num_perm} permutations, standard error "
        f"{(max(e.jaccard * (1 - e.jaccard), 1e-12) / e.num_perm) ** 0.5:.3f})",
        f"containment         {pct(e.containment_a_in_b)} of A is in B, {pct(e.containment_b_in_a)} of B is in A",
        f"LSH                 {e.bands} bands x {e.rows} rows: {len(e.colliding_bands)} collided"
        + (
            f" ({', '.join(map(str, e.colliding_bands[:20]))}{', …' if len(e.colliding_bands) > 20 else ''})"
            if e.colliding_bands
            else ""
        )
        + f"; {'a candidate pair' if e.candidate else 'NOT a candidate: never verified'}"
        f" (probability {e.collision_probability:.3f} at this Jaccard)",
    ]
    for title, items in (
        ("shared shingles", e.shared_examples),
        ("only in A", e.only_a_examples),
        ("only in B", e.only_b_examples),
    ):
        lines.append(f"{title}:" + ("" if items else " none"))
        lines.extend(f"    {t}" for t in items)
    lines.append(f"shared passages: {len(e.passages) or 'none'}")
    for k, p in enumerate(e.passages, 1):
        lines.append(
            f"  {k}. A chars {p.a_start}-{p.a_end} ~ B chars {p.b_start}-{p.b_end} (similarity {p.similarity:.2f})"
        )
        for r in p.rows:
            lines.extend(_row_lines(r))
    return "\n".join(lines) + "\n"


def _row_lines(r: AlignedRow) -> list[str]:
    one = lambda s: " ".join(s.split())  # noqa: E731
    if r.tag == "skip":
        return [f"      … {r.a} identical words …"]
    if r.tag == "equal":
        return [f"      = {one(r.a)}"]
    out = []
    if r.a:
        out.append(f"    A-{r.a_line:<4} - {one(r.a)}")
    if r.b:
        out.append(f"    B-{r.b_line:<4} + {one(r.b)}")
    return out
