"""Synthetic dumps with known duplicates: a ground-truth generator for benchmarks.

:func:`write_dump` writes, deterministically for a seed and streaming to disk,
a corpus of realistic-looking text and the truth about every duplicate in it:

* ``docs.jsonl`` -- one ``{"id": i, "text": ...}`` per line, ``id`` = line number;
* ``truth.jsonl`` -- one record per line (see below);
* ``summary.json`` -- the parameters and the counts (also returned).

The text is built from generated vocabularies (Latin-script words, Cyrillic
words and single CJK characters) drawn with Zipf frequencies, in sentences of
6-26 words, paragraphs of a few sentences separated by newlines, some
documents wrapped at 60-80 columns. About 88% of the documents are Latin, 6%
Cyrillic, 6% CJK. Into that stream the generator puts:

* **exact duplicates** of earlier documents;
* **near-duplicates**: a copy with 0-2 paragraphs dropped, 0-2 new
  paragraphs added, words substituted/deleted/inserted at a chosen rate
  (0-10%), sometimes re-wrapped at another width;
* **copied passages**: a run of sentences of an earlier document pasted into
  a new document as a paragraph of its own, re-wrapped at another width and
  with light word substitutions (0-5%);
* **inner repeats**: a run of sentences repeated later in the same document.

Truth records (``truth.jsonl``)::

    {"type": "pair", "a": i, "b": j, "kind": "exact"|"near"|"sibling",
     "jaccard": J, ...}          # every pair of one family (a source and its copies), a < j,
                                 # J = exact Jaccard of the word 5-gram sets (CJK: character 5-grams)
    {"type": "passage", "kind": "exact"|"near"|"cross"|"inner",
     "source": [doc, start, end], "target": [doc, start, end], "words": n, "edit_rate": e}
                                 # characters start:end (end exclusive) of the texts; the target
                                 # is the later copy; near-duplicates give one record per run of
                                 # paragraphs taken from the source

Documents that are not in any pair record are unrelated to each other (their
Jaccard similarity is close to 0). :func:`load_truth`, :func:`score_pairs` and
:func:`score_spans` score a detector against the truth.

Everything is produced in batches of documents from arrays of word ids, so
100 MB take a few seconds; memory holds one batch and a bounded pool of recent
documents (the sources of later copies), whatever the size of the dump. The
first documents of a dump do not depend on its size: a 10 MB dump is a prefix
of the 100 MB dump of the same seed.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as out:
...     summary = write_dump(out, size_bytes=200_000, seed=7)
...     truth = load_truth(out)
...     texts = list(iter_texts(out))
>>> summary["documents"] == len(texts) and summary["bytes"] >= 200_000
True
>>> score_pairs(truth, truth.duplicate_pairs(0.8), threshold=0.8)["recall"]
1.0
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .internal import parse_size

__all__ = [
    "GENERATOR_VERSION",
    "Truth",
    "iter_texts",
    "load_truth",
    "parse_size",
    "score_pairs",
    "score_spans",
    "write_dump",
]

LATIN, CYRILLIC, CJK = 0, 1, 2
_LANG_NAMES = ("latin", "cyrillic", "cjk")
_LANG_P = (0.88, 0.06, 0.06)
_VOCAB_SIZES = (40_000, 15_000, 3_000)

# Per-token flag bits.
_SENT_END = 1
_PARA_END = 2
_COMMA = 4
_BREAK = 8  # a line break follows the token (wrapped text)

# Separators written after a token; index = separator code.
_SEPS = (" ", ", ", ". ", "\n", ",\n", ".\n", ".\n\n", ".", "\n", "。", "。\n", "，", "，\n", "")
_SEP_OBJ = np.array(_SEPS, dtype=object)
_SEP_LEN = np.array([len(s) for s in _SEPS], dtype=np.int64)


def _sep_table() -> np.ndarray:
    """Separator code for each combination of flags (4 bits), wrapped (bit 4) and CJK (bit 5)."""
    table = np.zeros(64, dtype=np.int64)
    for key in range(64):
        para, sent, comma, brk = key & _PARA_END, key & _SENT_END, key & _COMMA, key & _BREAK
        wrapped, cjk = key & 16, key & 32
        if cjk:
            code = (
                10
                if para or (sent and brk)
                else 9
                if sent
                else 12
                if comma and brk
                else 11
                if comma
                else 8
                if brk
                else 13
            )
        else:
            code = (
                (6 if wrapped else 5)
                if para
                else (5 if brk else 2)
                if sent
                else (4 if brk else 1)
                if comma
                else 3
                if brk
                else 0
            )
        table[key] = code
    return table


_SEP_TABLE = _sep_table()

_WIDTHS = (0, 0, 60, 72, 80)  # 0 = one paragraph per line
_REWRAP_WIDTHS = (0, 50, 66, 90)
_NEAR_EDIT_RATES = (0.0, 0.01, 0.02, 0.03, 0.05, 0.1)
_PASSAGE_EDIT_RATES = (0.0, 0.0, 0.02, 0.05)
_MIN_PASSAGE_WORDS = 20
_NGRAM = 5
_TABLE = 1 << 20
#: Bumped whenever the same seed and size would give other bytes (caches key on it).
GENERATOR_VERSION = 1


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class _Vocab:
    strings: np.ndarray  # object, 2 * V: lower-case forms, then capitalised forms
    lengths: np.ndarray  # int64, 2 * V
    size: int  # V
    lang_range: tuple[tuple[int, int], ...]  # [start, end) of each language's ids
    table: tuple[np.ndarray, ...]  # per language: rank of each of 2**20 equal quantiles of the Zipf CDF


def _syllable_words(rng: np.random.Generator, n: int, consonants: str, vowels: str) -> list[str]:
    """``n`` distinct pronounceable words, shortest first (short words are frequent)."""
    cons = np.array(list(consonants), dtype=object)
    vows = np.array(list(vowels), dtype=object)
    words: dict[str, None] = {}
    while len(words) < n:
        m = 2 * n
        syll = rng.choice([1, 2, 3, 4], size=m, p=[0.22, 0.42, 0.26, 0.10])
        parts = cons[rng.integers(0, len(cons), (m, 4))] + vows[rng.integers(0, len(vows), (m, 4))]
        tail = np.where(rng.random(m) < 0.35, cons[rng.integers(0, len(cons), m)], "")
        for k in range(m):
            words.setdefault("".join(parts[k, : syll[k]]) + tail[k], None)
            if len(words) >= n:
                break
    out = list(words)
    # Rank by length with noise: frequent words are short, as in real languages.
    key = np.array([len(w) for w in out]) + rng.random(len(out)) * 3.0
    return [out[i] for i in np.argsort(key, kind="stable")]


@lru_cache(maxsize=8)
def _vocab(seed: int) -> _Vocab:
    rng = np.random.default_rng([seed, 0x5EED])
    latin = _syllable_words(rng, _VOCAB_SIZES[LATIN], "bcdfghklmnprstvwz", "aeiou")
    # No й/ё: accent folding would merge them with и/е and break the truth's word identity.
    cyrillic = _syllable_words(rng, _VOCAB_SIZES[CYRILLIC], "бвгджзклмнпрстфхцчшщ", "аеиоуыэюя")
    cjk_codes = rng.choice(np.arange(0x4E00, 0x9FA6), size=_VOCAB_SIZES[CJK], replace=False)
    cjk = [chr(c) for c in cjk_codes]
    lower = latin + cyrillic + cjk
    caps = [w[:1].upper() + w[1:] for w in lower]
    strings = np.array(lower + caps, dtype=object)
    lengths = np.array([len(w) for w in lower] * 2, dtype=np.int64)
    ranges, tables, start = [], [], 0
    for size in _VOCAB_SIZES:
        ranges.append((start, start + size))
        p = 1.0 / (np.arange(1, size + 1) + 2.7) ** 1.07  # Zipf-Mandelbrot
        cdf = np.cumsum(p)
        # Inverse-CDF table: one lookup per word instead of a binary search (the rarest
        # word has probability > 2**-20, so every word keeps at least one slot).
        q = (np.arange(_TABLE) + 0.5) / _TABLE
        tables.append(np.minimum(np.searchsorted(cdf / cdf[-1], q), size - 1).astype(np.int32) + start)
        start += size
    return _Vocab(strings, lengths, len(lower), tuple(ranges), tuple(tables))


def _draw_words(rng: np.random.Generator, vocab: _Vocab, lang: np.ndarray) -> np.ndarray:
    """One Zipf-distributed word id per entry of ``lang`` (the language of each token)."""
    u = rng.integers(0, _TABLE, len(lang))
    if len(lang) and (lang == lang[0]).all():
        return vocab.table[int(lang[0])][u]
    out = np.empty(len(lang), dtype=np.int32)
    for code in range(len(vocab.lang_range)):
        mask = lang == code
        if mask.any():
            out[mask] = vocab.table[code][u[mask]]
    return out


# --------------------------------------------------------------------------- documents as arrays


@dataclass
class _Doc:
    """A document as arrays of word ids and flags; rendered to text once per batch."""

    idx: int
    lang: int
    width: int
    words: np.ndarray  # int32 lower-case word ids
    flags: np.ndarray  # uint8 _SENT_END | _PARA_END | _COMMA | _BREAK
    family: int = -1
    starts: np.ndarray | None = None  # int32 character offsets of the tokens, after rendering
    ends: np.ndarray | None = None

    def span(self, t0: int, t1: int) -> list[int]:
        """Characters covered by tokens ``t0:t1`` (from the first word's start to the last word's end)."""
        assert self.starts is not None and self.ends is not None
        return [self.idx, int(self.starts[t0]), int(self.ends[t1 - 1])]


def _wrap(vocab: _Vocab, words: np.ndarray, flags: np.ndarray, width, lang) -> np.ndarray:
    """``flags`` with line-break bits for wrapping each paragraph at ``width`` characters.

    ``width`` and ``lang`` are scalars or one value per token (a batch of
    documents, each ending a paragraph); width 0 means no wrapping.
    """
    flags = flags & np.uint8(0xFF ^ _BREAK)
    if len(words) < 2:
        return flags
    cjk = np.asarray(lang) == CJK
    width = np.asarray(width, dtype=np.int64)
    # Greedy-like wrap: a token goes to line (its start column // width) of its paragraph.
    step = vocab.lengths[words] + np.where(cjk, 0, 1)
    pos = np.cumsum(step) - step
    para_end = (flags & _PARA_END) != 0
    para_start = np.concatenate([[True], para_end[:-1]])
    base = np.maximum.accumulate(np.where(para_start, pos, 0))
    cols = np.where(width <= 0, 1 << 40, np.where(cjk, np.maximum(width // 2, 10), width))
    line = (pos - base) // cols
    brk = (line[1:] != line[:-1]) & ~para_end[:-1]
    flags[:-1][brk] |= _BREAK
    return flags


def _base_docs(rng: np.random.Generator, vocab: _Vocab, n: int, first_idx: int) -> list[_Doc]:
    """``n`` fresh documents, generated together with a few numpy calls."""
    lang = rng.choice(3, size=n, p=_LANG_P)
    n_words = np.clip(rng.lognormal(np.log(420.0), 0.75, n), 40, 6000)
    mean_sent = np.where(lang == CJK, 25.0, 16.0)
    n_sent = np.maximum(2, np.round(n_words / mean_sent)).astype(np.int64)
    sent_lang = np.repeat(lang, n_sent)
    lo = np.where(sent_lang == CJK, 10, 6)
    hi = np.where(sent_lang == CJK, 40, 27)
    sent_len = rng.integers(lo, hi)
    tok_lang = np.repeat(sent_lang, sent_len)
    words = _draw_words(rng, vocab, tok_lang)
    flags = np.zeros(len(words), dtype=np.uint8)
    flags[rng.random(len(words)) < 0.05] |= _COMMA
    sent_end = np.cumsum(sent_len) - 1
    flags[sent_end] = _SENT_END  # no comma before a full stop
    doc_last_sent = np.cumsum(n_sent) - 1
    para = rng.random(len(sent_len)) < 0.28
    para[doc_last_sent] = True
    flags[sent_end[para]] |= _PARA_END
    tok_bounds = np.concatenate([[0], sent_end[doc_last_sent] + 1])
    widths = rng.choice(_WIDTHS, size=n)
    flags = _wrap(vocab, words, flags, np.repeat(widths, np.diff(tok_bounds)), tok_lang)
    return [
        _Doc(
            first_idx + d,
            int(lang[d]),
            int(widths[d]),
            words[tok_bounds[d] : tok_bounds[d + 1]].copy(),
            flags[tok_bounds[d] : tok_bounds[d + 1]].copy(),
        )
        for d in range(n)
    ]


def _render(vocab: _Vocab, docs: list[_Doc]) -> list[str]:
    """Texts of ``docs``; sets each document's token character offsets."""
    counts = np.array([len(d.words) for d in docs], dtype=np.int64)
    words = np.concatenate([d.words for d in docs])
    flags = np.concatenate([d.flags for d in docs])
    doc_of = np.repeat(np.arange(len(docs)), counts)
    cjk = np.repeat(np.array([d.lang == CJK for d in docs]), counts)
    wrapped = np.repeat(np.array([d.width > 0 for d in docs]), counts)
    last = np.cumsum(counts) - 1
    first = last - counts + 1
    sent_start = np.concatenate([[True], (flags[:-1] & _SENT_END) != 0])
    sent_start[first] = True
    idx = words.astype(np.int64) + np.where(sent_start, vocab.size, 0)
    # Separator code from a table indexed by the flag bits, the wrapped bit and the CJK bit.
    key = flags.astype(np.int64) & 0xF | (wrapped.astype(np.int64) << 4) | (cjk.astype(np.int64) << 5)
    code = _SEP_TABLE[key]
    code[last] = np.where(cjk[last], 9, 7)  # a document ends with a full stop, no newline
    parts = np.empty(2 * len(words), dtype=object)
    parts[0::2] = vocab.strings[idx]
    parts[1::2] = _SEP_OBJ[code]
    big = "".join(parts.tolist())
    word_len = vocab.lengths[idx]
    tok_len = word_len + _SEP_LEN[code]
    ends_all = np.cumsum(tok_len)
    starts_all = ends_all - tok_len
    doc_start = starts_all[first]
    rel = starts_all - doc_start[doc_of]
    texts = []
    for d, doc in enumerate(docs):
        a, b = first[d], last[d] + 1
        doc.starts = rel[a:b].astype(np.int32)
        doc.ends = (rel[a:b] + word_len[a:b]).astype(np.int32)
        texts.append(big[doc_start[d] : doc_start[d] + ends_all[last[d]] - starts_all[first[d]]])
    return texts


# --------------------------------------------------------------------------- edits


def _shingle_set(words: np.ndarray) -> np.ndarray:
    """Sorted unique hashes of the word 5-grams (the whole text if shorter)."""
    w = words.astype(np.uint64) + np.uint64(1)
    n = max(len(w) - _NGRAM + 1, 1)
    h = np.zeros(n, dtype=np.uint64)
    for k in range(min(_NGRAM, len(w))):
        h = (h ^ w[k : k + n]) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
    return np.unique(h)


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)


def _sentence_starts(flags: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.flatnonzero(flags[:-1] & _SENT_END) + 1])


def _para_bounds(flags: np.ndarray) -> np.ndarray:
    """Token index where each paragraph starts, plus the end."""
    return np.concatenate([[0], np.flatnonzero(flags & _PARA_END) + 1])


def _substitute(rng: np.random.Generator, vocab: _Vocab, words: np.ndarray, rate: float, lang: int) -> np.ndarray:
    words = words.copy()
    if rate > 0:
        hit = np.flatnonzero(rng.random(len(words)) < rate)
        words[hit] = _draw_words(rng, vocab, np.full(len(hit), lang))
    return words


def _edit(
    rng: np.random.Generator,
    vocab: _Vocab,
    words: np.ndarray,
    flags: np.ndarray,
    origin: np.ndarray,
    rate: float,
    lang: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Word edits at ``rate``: 60% substitutions, 20% deletions, 20% insertions."""
    if rate <= 0:
        return words, flags, origin
    u = rng.random(len(words))
    kind = rng.random(len(words))
    words = words.copy()
    sub = (u < rate) & (kind < 0.6)
    words[sub] = _draw_words(rng, vocab, np.full(int(sub.sum()), lang))
    delete = (u < rate) & (kind >= 0.6) & (kind < 0.8) & (flags == 0)
    ins_at = np.flatnonzero((u < rate) & (kind >= 0.8))
    new = _draw_words(rng, vocab, np.full(len(ins_at), lang))
    words = np.insert(words, ins_at, new)
    flags = np.insert(flags, ins_at, np.zeros(len(ins_at), np.uint8))
    origin = np.insert(origin, ins_at, np.full(len(ins_at), -2))
    keep = ~np.insert(delete, ins_at, np.zeros(len(ins_at), bool))
    return words[keep], flags[keep], origin[keep]


def _new_paragraph(rng: np.random.Generator, vocab: _Vocab, lang: int) -> tuple[np.ndarray, np.ndarray]:
    sent_len = (
        rng.integers(10, 40, size=int(rng.integers(2, 6)))
        if lang == CJK
        else rng.integers(6, 27, size=int(rng.integers(2, 6)))
    )
    words = _draw_words(rng, vocab, np.full(int(sent_len.sum()), lang))
    flags = np.zeros(len(words), dtype=np.uint8)
    flags[np.cumsum(sent_len) - 1] = _SENT_END
    flags[-1] |= _PARA_END
    return words, flags


def _segments(origin: np.ndarray, min_words: int) -> list[tuple[int, int, int, int]]:
    """Runs of target tokens copied from the source: ``(t0, t1, s0, s1)``, half-open.

    ``origin`` is the source token of each target token, ``-2`` for an inserted
    word (inside a run) and ``-1`` for a token of an added paragraph (between runs).
    A run also ends where the source position jumps (a dropped paragraph).
    """
    valid = origin != -1
    known = origin >= 0
    last_known = np.where(known, np.arange(len(origin)), -1)
    np.maximum.accumulate(last_known, out=last_known)
    ff = np.where(last_known >= 0, origin[np.maximum(last_known, 0)], -1)
    brk = np.ones(len(origin), dtype=bool)
    brk[1:] = ~valid[:-1] | (ff[1:] - ff[:-1] > 8) | (ff[1:] < ff[:-1])
    brk &= valid
    out = []
    starts = np.flatnonzero(brk)
    for k, t0 in enumerate(starts):
        t1 = starts[k + 1] if k + 1 < len(starts) else len(origin)
        run = valid[t0:t1]
        t1 = t0 + (len(run) if run.all() else int(np.argmin(run)))
        o = origin[t0:t1]
        o = o[o >= 0]
        if t1 - t0 >= min_words and len(o):
            out.append((int(t0), int(t1), int(o.min()), int(o.max()) + 1))
    return out


# --------------------------------------------------------------------------- the writer


@dataclass
class _Family:
    root: _Doc
    members: list[tuple[int, np.ndarray | None]] = field(default_factory=list)  # (doc idx, shingle set)


@dataclass
class _PendingPassage:
    kind: str
    src: _Doc
    s: tuple[int, int]
    tgt: _Doc
    t: tuple[int, int]
    edit_rate: float


def write_dump(
    out_dir: str | os.PathLike,
    *,
    size_bytes: int | str,
    seed: int = 0,
    exact_rate: float = 0.03,
    near_rate: float = 0.07,
    passage_rate: float = 0.15,
    inner_rate: float = 0.05,
    batch_docs: int = 128,
    pool_size: int = 2000,
) -> dict[str, Any]:
    """Write a synthetic dump of about ``size_bytes`` bytes and its ground truth to ``out_dir``.

    Parameters
    ----------
    out_dir:
        Directory to create (or reuse); ``docs.jsonl``, ``truth.jsonl`` and
        ``summary.json`` in it are overwritten.
    size_bytes:
        Size of ``docs.jsonl`` to reach (it stops after the document that
        crosses it); an int or a string such as ``"100MB"``.
    seed:
        The same seed and size give byte-identical files.
    exact_rate, near_rate:
        Share of documents that are exact / near-duplicates of an earlier one.
    passage_rate, inner_rate:
        Share of new documents that receive a passage copied from an earlier
        document / repeat one of their own passages.
    batch_docs, pool_size:
        Documents rendered together; recent originals kept as possible sources.

    Returns
    -------
    dict
        The summary also written to ``summary.json``: ``documents``,
        ``bytes``, ``chars``, counts of each kind of duplicate, parameters.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     s = write_dump(out, size_bytes="100kB", seed=1)
    >>> s["documents"] > 10, s["seed"]
    (True, 1)
    """
    size = parse_size(size_bytes)
    for name, rate in (
        ("exact_rate", exact_rate),
        ("near_rate", near_rate),
        ("passage_rate", passage_rate),
        ("inner_rate", inner_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {rate!r}")
    if exact_rate + near_rate > 1.0:
        raise ValueError("exact_rate + near_rate must be at most 1")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vocab = _vocab(seed)
    rng = np.random.default_rng(seed)
    families: dict[int, _Family] = {}
    pool: list[list[int]] = [[], [], []]  # family ids of recent originals, per language
    counts = {"exact": 0, "near": 0, "cross": 0, "inner": 0, "pairs": 0, "passages": 0}
    written_docs = written_bytes = written_chars = 0
    next_idx = 0
    with open(out / "docs.jsonl", "wb") as docs_f, open(out / "truth.jsonl", "w", encoding="utf-8") as truth_f:
        while written_bytes < size:
            base = _base_docs(rng, vocab, batch_docs, next_idx)
            batch: list[_Doc] = []
            pairs: list[dict] = []
            passages: list[_PendingPassage] = []
            kinds: list[str] = []
            for slot in range(batch_docs):
                idx = next_idx + slot
                r = rng.random()
                fam_ids = pool[base[slot].lang]
                if fam_ids and r < exact_rate + near_rate:
                    fam = families[fam_ids[int(rng.integers(len(fam_ids)))]]
                    doc = _derive(rng, vocab, fam, idx, exact=r < exact_rate, pairs=pairs, passages=passages)
                    kinds.append("exact" if r < exact_rate else "near")
                else:
                    doc = base[slot]
                    if fam_ids and rng.random() < passage_rate:
                        donors = [
                            families[fam_ids[int(rng.integers(len(fam_ids)))]].root
                            for _ in range(int(rng.integers(1, 3)))
                        ]
                        doc = _paste(rng, vocab, doc, donors, inner=False, passages=passages)
                    if rng.random() < inner_rate:
                        doc = _paste(rng, vocab, doc, [doc], inner=True, passages=passages)
                    kinds.append("original")
                    doc.family = idx
                    families[idx] = _Family(doc, [(idx, None)])  # shingled when first copied
                    fam_ids.append(idx)
                    if len(fam_ids) > pool_size:
                        del families[fam_ids.pop(0)]
                batch.append(doc)
            texts = _render(vocab, batch)
            lines = [
                (json.dumps({"id": d.idx, "text": t}, ensure_ascii=False) + "\n").encode("utf-8")
                for d, t in zip(batch, texts)
            ]
            n_keep = 0
            for line, text in zip(lines, texts):
                if written_bytes >= size:
                    break
                docs_f.write(line)
                written_bytes += len(line)
                written_chars += len(text)
                n_keep += 1
            written_docs += n_keep
            limit = next_idx + n_keep
            for kind in kinds[:n_keep]:
                counts[kind] = counts.get(kind, 0) + 1
            for rec in pairs:
                if rec["b"] < limit:
                    truth_f.write(json.dumps(rec) + "\n")
                    counts["pairs"] += 1
            for p in passages:
                if p.tgt.idx < limit and p.src.idx < limit:
                    rec = {
                        "type": "passage",
                        "kind": p.kind,
                        "source": p.src.span(*p.s),
                        "target": p.tgt.span(*p.t),
                        "words": p.t[1] - p.t[0],
                        "edit_rate": p.edit_rate,
                    }
                    truth_f.write(json.dumps(rec) + "\n")
                    counts["passages"] += 1
                    counts[p.kind] += p.kind in ("cross", "inner")
            next_idx += batch_docs
    # Documents past the size limit were generated but not written; count only written ones.
    summary = {
        "documents": written_docs,
        "bytes": written_bytes,
        "chars": written_chars,
        "seed": seed,
        "size_requested": size,
        "generator_version": GENERATOR_VERSION,
        "exact_duplicates": counts["exact"],
        "near_duplicates": counts["near"],
        "truth_pairs": counts["pairs"],
        "truth_passages": counts["passages"],
        "cross_passages": counts["cross"],
        "inner_repeats": counts["inner"],
        "params": {
            "exact_rate": exact_rate,
            "near_rate": near_rate,
            "passage_rate": passage_rate,
            "inner_rate": inner_rate,
            "batch_docs": batch_docs,
            "pool_size": pool_size,
            "ngram": _NGRAM,
        },
        "files": {"docs": "docs.jsonl", "truth": "truth.jsonl"},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def _derive(
    rng: np.random.Generator,
    vocab: _Vocab,
    fam: _Family,
    idx: int,
    *,
    exact: bool,
    pairs: list[dict],
    passages: list[_PendingPassage],
) -> _Doc:
    """An exact or near-duplicate of ``fam.root``, with its truth records."""
    src = fam.root
    meta: dict[str, Any] = {}
    if exact:
        doc = _Doc(idx, src.lang, src.width, src.words, src.flags, src.family)
        passages.append(_PendingPassage("exact", src, (0, len(src.words)), doc, (0, len(src.words)), 0.0))
        kind = "exact"
    else:
        bounds = _para_bounds(src.flags)
        n_para = len(bounds) - 1
        keep = np.ones(n_para, dtype=bool)
        dropped = 0
        if n_para >= 4 and rng.random() < 0.3:
            dropped = int(rng.integers(1, 3))
            keep[rng.choice(n_para, size=dropped, replace=False)] = False
        added = int(rng.integers(1, 3)) if rng.random() < 0.3 else 0
        add_at = sorted(rng.integers(0, n_para + 1, size=added).tolist())
        w_parts, f_parts, o_parts = [], [], []
        origin_all = np.arange(len(src.words), dtype=np.int64)
        for p in range(n_para + 1):
            while add_at and add_at[0] == p:
                add_at.pop(0)
                w, f = _new_paragraph(rng, vocab, src.lang)
                w_parts.append(w)
                f_parts.append(f)
                o_parts.append(np.full(len(w), -1))
            if p < n_para and keep[p]:
                a, b = bounds[p], bounds[p + 1]
                w_parts.append(src.words[a:b])
                f_parts.append(src.flags[a:b])
                o_parts.append(origin_all[a:b])
        words, flags, origin = np.concatenate(w_parts), np.concatenate(f_parts), np.concatenate(o_parts)
        rate = float(rng.choice(_NEAR_EDIT_RATES))
        words, flags, origin = _edit(rng, vocab, words, flags, origin, rate, src.lang)
        width = src.width
        if rng.random() < 0.3:
            width = int(rng.choice(_REWRAP_WIDTHS))
            flags = _wrap(vocab, words, flags, width, src.lang)
        flags[-1] |= _PARA_END | _SENT_END
        doc = _Doc(idx, src.lang, width, words, flags, src.family)
        for t0, t1, s0, s1 in _segments(origin, _MIN_PASSAGE_WORDS):
            passages.append(_PendingPassage("near", src, (s0, s1), doc, (t0, t1), rate))
        kind = "near"
        meta = {"edit_rate": rate, "dropped_paragraphs": dropped, "added_paragraphs": added}
    sh = _shingle_set(doc.words)
    if fam.members[0][1] is None:
        fam.members[0] = (src.idx, _shingle_set(src.words))
    for member_idx, member_sh in fam.members:
        assert member_sh is not None  # only the root's set is computed lazily, just above
        rel = kind if member_idx == src.idx else "sibling"
        rec = {"type": "pair", "a": member_idx, "b": idx, "kind": rel, "jaccard": round(_jaccard(member_sh, sh), 6)}
        if rel != "sibling":
            rec.update(meta)
        pairs.append(rec)
    fam.members.append((idx, sh))
    return doc


def _paste(
    rng: np.random.Generator,
    vocab: _Vocab,
    host: _Doc,
    donors: list[_Doc],
    *,
    inner: bool,
    passages: list[_PendingPassage],
) -> _Doc:
    """``host`` with a run of sentences of each donor pasted in as a new paragraph.

    With ``inner=True`` the donor is the host itself and the run comes from a
    paragraph before the insertion point (an inner repeat).
    """
    bounds = _para_bounds(host.flags)
    n_para = len(bounds) - 1
    inserts = []  # (insert before host token, words, flags, donor, (s0, s1), rate)
    for donor in donors:
        if inner:
            if n_para < 2:
                continue
            p = int(rng.integers(0, n_para - 1))
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            # Never paste inside a passage pasted before (its truth span must stay one piece).
            taken = [q.t for q in passages if q.tgt is host]
            spots = [int(b) for b in bounds[p + 1 :] if not any(t0 < b < t1 for t0, t1 in taken)]
            at = spots[int(rng.integers(len(spots)))]
        else:
            lo, hi = 0, len(donor.words)
            at = int(bounds[int(rng.integers(0, n_para + 1))])
        sents = _sentence_starts(donor.flags[lo:hi]) + lo
        sents = np.append(sents, hi)
        n_s = len(sents) - 1
        k = int(rng.integers(2, 5 if inner else 9))
        if n_s < 2:
            continue
        k = min(k, n_s if inner else max(2, n_s // 3))
        first = int(rng.integers(0, n_s - k + 1))
        s0, s1 = int(sents[first]), int(sents[first + k])
        if s1 - s0 < _MIN_PASSAGE_WORDS + _NGRAM:
            continue
        rate = float(rng.choice(_PASSAGE_EDIT_RATES))
        words = _substitute(rng, vocab, donor.words[s0:s1], rate, donor.lang)
        flags = donor.flags[s0:s1].copy()
        flags[-1] |= _PARA_END
        width = int(rng.choice([w for w in _REWRAP_WIDTHS if w != host.width]))
        flags = _wrap(vocab, words, flags, width, donor.lang)
        inserts.append((at, words, flags, donor, (s0, s1), rate))
    if not inserts:
        return host
    inserts.sort(key=lambda x: x[0])
    w_parts, f_parts = [], []
    prev = shift = 0
    placed = []
    for at, words, flags, donor, (s0, s1), rate in inserts:
        w_parts += [host.words[prev:at], words]
        f_parts += [host.flags[prev:at], flags]
        t0 = at + shift
        placed.append((donor, (s0, s1), (t0, t0 + len(words)), rate, at))
        shift += len(words)
        prev = at
    w_parts.append(host.words[prev:])
    f_parts.append(host.flags[prev:])
    offsets = np.array([i[0] for i in inserts])
    lengths = np.cumsum([len(i[1]) for i in inserts])

    def moved(pos: int) -> int:
        """Where host token ``pos`` is after the insertions (those at ``at <= pos`` push it)."""
        k = int(np.searchsorted(offsets, pos, side="right"))
        return pos + (int(lengths[k - 1]) if k else 0)

    # Records made earlier for this host (a pasted passage, then an inner repeat) follow its tokens.
    for pending in passages:
        if pending.tgt is host:
            pending.t = (moved(pending.t[0]), moved(pending.t[1] - 1) + 1)
        if pending.src is host:
            pending.s = (moved(pending.s[0]), moved(pending.s[1] - 1) + 1)
    host.words, host.flags = np.concatenate(w_parts), np.concatenate(f_parts)
    for donor, (s0, s1), t, rate, _at in placed:
        s = (moved(s0), moved(s1 - 1) + 1) if inner else (s0, s1)
        passages.append(_PendingPassage("inner" if inner else "cross", donor, s, host, t, rate))
    return host


# --------------------------------------------------------------------------- reading and scoring


def iter_texts(out_dir: str | os.PathLike) -> Iterator[str]:
    """Stream the texts of ``out_dir/docs.jsonl`` in order (``id`` = position)."""
    with open(Path(out_dir) / "docs.jsonl", encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)["text"]


@dataclass
class Truth:
    """The ground truth of a dump, from :func:`load_truth`."""

    pairs: np.ndarray  # (m, 2) int64, a < b: every pair of a family
    jaccard: np.ndarray  # (m,) exact word 5-gram Jaccard of each pair
    pair_kind: list[str]
    passages: list[dict]
    summary: dict

    def duplicate_pairs(self, threshold: float = 0.8) -> np.ndarray:
        """Pairs whose Jaccard similarity is at least ``threshold``: what a detector should find."""
        return self.pairs[self.jaccard >= threshold - 1e-9]


def load_truth(out_dir: str | os.PathLike) -> Truth:
    """Read ``truth.jsonl`` and ``summary.json`` written by :func:`write_dump`."""
    out = Path(out_dir)
    pairs, jac, kinds, passages = [], [], [], []
    with open(out / "truth.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            if rec["type"] == "pair":
                pairs.append((rec["a"], rec["b"]))
                jac.append(rec["jaccard"])
                kinds.append(rec["kind"])
            else:
                passages.append(rec)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return Truth(np.array(pairs, dtype=np.int64).reshape(-1, 2), np.array(jac, dtype=float), kinds, passages, summary)


def score_pairs(truth: Truth, predicted: Iterable, threshold: float = 0.8) -> dict[str, Any]:
    """Pair precision and recall of ``predicted`` pairs ``(i, j[, ...])`` against the truth.

    A predicted pair is a true positive when the truth has it with Jaccard
    at least ``threshold``; every other predicted pair is a false positive.

    >>> t = Truth(np.array([[0, 1], [2, 3]]), np.array([0.9, 0.5]), ["near", "near"], [], {})
    >>> score_pairs(t, [(1, 0, 0.93), (2, 3)])["precision"], score_pairs(t, [(0, 1)])["recall"]
    (0.5, 1.0)
    """
    gold = {(int(a), int(b)) for a, b in truth.duplicate_pairs(threshold)}
    pred = {(min(int(p[0]), int(p[1])), max(int(p[0]), int(p[1]))) for p in predicted}
    tp = len(gold & pred)
    fp, fn = len(pred) - tp, len(gold) - tp
    precision = tp / len(pred) if pred else 1.0
    recall = tp / len(gold) if gold else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1, "positives": len(gold)}


def _merged(spans: Iterable[tuple[int, int, int]]) -> dict[int, list[tuple[int, int]]]:
    by_doc: dict[int, list[tuple[int, int]]] = {}
    for doc, start, end in sorted(spans):
        if end <= start:
            continue
        runs = by_doc.setdefault(doc, [])
        if runs and start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    return by_doc


def _overlap(a: dict[int, list[tuple[int, int]]], b: dict[int, list[tuple[int, int]]]) -> int:
    total = 0
    for doc, runs_a in a.items():
        runs_b = b.get(doc)
        if not runs_b:
            continue
        i = j = 0
        while i < len(runs_a) and j < len(runs_b):
            lo = max(runs_a[i][0], runs_b[j][0])
            hi = min(runs_a[i][1], runs_b[j][1])
            total += max(0, hi - lo)
            if runs_a[i][1] < runs_b[j][1]:
                i += 1
            else:
                j += 1
    return total


def _length(runs: dict[int, list[tuple[int, int]]]) -> int:
    return sum(e - s for r in runs.values() for s, e in r)


def score_spans(truth: Truth, predicted: Iterable) -> dict[str, Any]:
    """Character precision and recall of predicted repeated passages (the *later* copies).

    ``predicted`` holds :class:`dedup.Match` objects (their ``repeat`` span
    is scored) or ``(doc, start, end)`` triples. Truth characters are those of
    every passage record's ``target`` (copied passages, inner repeats, and
    the parts of exact and near-duplicate documents taken from their source).
    Precision = predicted characters that are truth characters / predicted
    characters; recall = truth characters predicted / truth characters.

    >>> t = Truth(np.zeros((0, 2), np.int64), np.zeros(0), [], [{"target": [3, 10, 20]}], {})
    >>> r = score_spans(t, [(3, 15, 30)])
    >>> r["precision"], r["recall"]
    (0.3333333333333333, 0.5)
    """
    spans: list[tuple[int, int, int]] = []
    for p in predicted:
        rep = getattr(p, "repeat", None)
        if rep is not None:
            spans.append((rep.doc, rep.start, rep.end))
        else:
            doc, start, end = (int(x) for x in p[:3])
            spans.append((doc, start, end))
    gold = _merged(tuple(p["target"]) for p in truth.passages)
    pred = _merged(spans)
    inter = _overlap(gold, pred)
    g, pr = _length(gold), _length(pred)
    precision = inter / pr if pr else 1.0
    recall = inter / g if g else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "truth_chars": g,
        "predicted_chars": pr,
        "overlap_chars": inter,
    }
