"""Texts straight to MinHash signatures or shingle-hash sets, in one compiled pass.

The stages of :mod:`dedup.text` and :mod:`dedup.minhash` (tokenise, hash
n-grams, sign) materialise an array per stage. For the document pipeline only
the end result matters, so when the backend setting (:mod:`dedup.backend`) gives the compiled kernels, a
batch goes through
:func:`dedup._kernels.sketch_utf8`: one pass over its UTF-8 bytes, nothing in
between. Below that size, or without numba, the same results come from the
stages themselves, which stay the reference the kernel is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import backend
from .internal import text_lengths_reference
from .minhash import EMPTY, minhash, permutations
from .text import ShingleMode, encode_utf8, shingle, tokenize, utf8_tables

__all__ = ["pair_similarities", "shingle_hashes32", "sign_texts", "text_lengths"]


def _kernels_for(texts: Sequence[str], work_per_char: int = 1):
    """The kernels for ``texts``, or ``None`` for the numpy path.

    Once the kernels are loaded the texts are not measured (a pass over
    them under the GIL, in every batch of every thread).
    """
    if not len(texts):
        return None
    return backend.kernels(0) or backend.kernels(sum(map(len, texts)) * work_per_char)


def _sketch(
    kernels, texts: Sequence[str], ngram: int, mode: ShingleMode, a: np.ndarray, b: np.ndarray, sigs: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """One :func:`dedup._kernels.sketch_utf8` pass over ``texts``.

    With ``sigs`` (``(len(texts), num_perm)``, all ``EMPTY``) it gets the
    signatures; without, the 32-bit shingle hashes and their bounds are
    returned (``a`` and ``b`` are then unused, but read-only arrays like the
    signing call's, so one compiled version serves both).
    """
    held = list(texts)  # references: the texts stay alive while the kernels read them in place
    located = _locate(kernels, held)
    if located is None:
        enc = encode_utf8(held)
        starts = np.concatenate(([0], enc.ends[:-1] + 1)) if len(held) else enc.ends
        addrs, sizes, keep = enc.data.ctypes.data + starts, enc.ends - starts, enc.data
        tables: tuple[np.ndarray, ...] = (enc.fold, enc.klass, enc.astral_cps, enc.astral_fold, enc.astral_class)
    else:
        addrs, sizes, keep, tables = located
    if sigs is None:
        sigs = np.zeros((0, 1), dtype=np.uint32)
        hashes = np.empty(int(sizes.sum()) + 1, dtype=np.uint32)  # at most one shingle per byte
        bounds = np.zeros(len(held) + 1, dtype=np.int64)
    else:
        hashes = np.zeros(0, dtype=np.uint32)
        bounds = np.zeros(1, dtype=np.int64)
    total = kernels.sketch_utf8(
        addrs.astype(np.int64, copy=False), sizes, *tables, mode == "char", int(ngram), a, b, sigs, hashes, bounds
    )
    del keep, held  # only now: the kernel read the bytes where they are
    return hashes[:total], bounds


def _locate(kernels, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]] | None:
    """Addresses and sizes of the UTF-8 bytes of ``texts`` (:func:`dedup._kernels.locate_texts`), found without the GIL.

    Returns ``(addrs, sizes, scratch, tables)`` (``scratch`` holds the
    non-ASCII texts' bytes and must outlive the addresses; ``tables`` as
    :func:`dedup.text.utf8_tables`), or ``None`` when the texts must be
    encoded by Python: an unknown ``str`` layout, or an item that is not
    an exact ``str`` (a subclass, or no ``str`` at all: the encoding then
    raises what it always raised).
    """
    layout = kernels.str_layout
    if layout is None:
        return None
    ids = kernels.item_addresses(texts)
    if ids is None:
        ids = np.fromiter(map(id, texts), dtype=np.int64, count=len(texts))
    addrs = np.empty(len(texts), dtype=np.int64)
    sizes = np.empty(len(texts), dtype=np.int64)
    scratch = _NO_BYTES
    need, astral = kernels.locate_texts(ids, layout, scratch, addrs, sizes)
    if need < 0:
        return None
    if need > len(scratch):
        scratch = np.zeros(need, dtype=np.uint8)  # zeros: the unused end reads as no astral character
        need, astral = kernels.locate_texts(ids, layout, scratch, addrs, sizes)
    return addrs, sizes, scratch, utf8_tables(scratch if astral else _NO_BYTES)


_NO_BYTES = np.zeros(0, dtype=np.uint8)


def text_lengths(texts: Sequence[str]) -> np.ndarray:
    """``len(texts[i])`` for every text, as int64, like :func:`dedup.internal.text_lengths_reference`.

    For a list or tuple of ``str`` once the compiled kernels are loaded, the
    lengths are read from the strings by :func:`dedup._kernels.locate_texts`
    in one compiled loop (a Python step per text otherwise: the serial part
    of a run on threads); anything else goes through
    :func:`dedup.internal.text_lengths_reference`, which also names a non-``str`` item.

    >>> text_lengths(["ab", "", "hé"]).tolist()
    [2, 0, 2]
    """
    kernels = backend.kernels(0) if isinstance(texts, (list, tuple)) and len(texts) else None
    if kernels is not None and kernels.str_layout is not None:
        held = list(texts)  # references, while the kernel reads the strings
        ids = kernels.item_addresses(held)
        if ids is not None:
            sizes = np.empty(len(held), dtype=np.int64)
            if kernels.locate_texts(ids, kernels.str_layout, _NO_BYTES, np.empty_like(sizes), sizes)[0] >= 0:
                return sizes
    return text_lengths_reference(texts)


def sign_texts(
    texts: Sequence[str], *, ngram: int = 5, num_perm: int = 128, seed: int = 1, mode: ShingleMode = "word"
) -> np.ndarray:
    """``(len(texts), num_perm)`` uint32 MinHash signatures of the word ``ngram``-shingles of texts.

    Equal to ``minhash(shingle(tokenize(texts, mode=mode), ngram).hashes32(), ...)``.

    >>> sig = sign_texts(["a b c d e f", "a b c d e f!", ""], num_perm=4)
    >>> bool((sig[0] == sig[1]).all()), sig[2].tolist()
    (True, [4294967295, 4294967295, 4294967295, 4294967295])
    """
    kernels = _kernels_for(texts, 4)
    if kernels is None:
        batch = shingle(tokenize(list(texts), mode=mode), ngram)
        return minhash(batch.hashes32(), batch.bounds, num_perm=num_perm, seed=seed)
    a, b = permutations(num_perm, seed)
    sigs = np.full((len(texts), num_perm), EMPTY, dtype=np.uint32)
    _sketch(kernels, texts, ngram, mode, a, b, sigs)
    return sigs


def shingle_hashes32(
    texts: Sequence[str], *, ngram: int = 5, mode: ShingleMode = "word"
) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes of texts, flat, and the ``len(texts) + 1`` bounds of each text's run.

    Equal to ``(batch.hashes32(), batch.bounds)`` of ``shingle(tokenize(texts, mode=mode), ngram)``.

    >>> hashes, bounds = shingle_hashes32(["a b c", "", "a b c"], ngram=2)
    >>> bounds.tolist(), bool((hashes[:2] == hashes[2:]).all())
    ([0, 2, 2, 4], True)
    """
    kernels = _kernels_for(texts)
    if kernels is None:
        batch = shingle(tokenize(list(texts), mode=mode), ngram)
        return batch.hashes32(), batch.bounds
    a, b = permutations(1)
    hashes, bounds = _sketch(kernels, texts, ngram, mode, a, b, None)
    return hashes.copy(), bounds


def pair_similarities(
    texts: Sequence[str], left: np.ndarray, right: np.ndarray, *, ngram: int = 5, mode: ShingleMode = "word"
) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of ``texts[left[p]]`` and ``texts[right[p]]``.

    Sets hold the 32-bit shingle hashes (the values MinHash sees). ``left``
    and ``right`` index ``texts``; each text is shingled once, whatever the
    number of pairs it is in.

    >>> pair_similarities(["a b c d e f", "a b c d e f g", "x"], np.array([0, 0]), np.array([1, 2]), ngram=3)
    array([0.8, 0. ])
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    kernels = _kernels_for(texts)
    if kernels is not None:
        hashes, bounds = _sketch(kernels, texts, ngram, mode, *permutations(1), None)  # no copy: used at once
        return kernels.pair_jaccard(hashes, bounds, left, right)
    hashes, bounds = shingle_hashes32(texts, ngram=ngram, mode=mode)
    sets = [np.unique(hashes[lo:hi]) for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    out = np.zeros(len(left))
    for p, (i, j) in enumerate(zip(left.tolist(), right.tolist())):
        if len(sets[i]) and len(sets[j]):
            inter = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
            out[p] = inter / (len(sets[i]) + len(sets[j]) - inter)
    return out
