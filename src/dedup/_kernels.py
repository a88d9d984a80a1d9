"""Compiled kernels for the hot loops numpy cannot express without per-token work.

* :func:`tokenize_codepoints` — one pass over the code points of a batch:
  fold, classify, find token boundaries and hash each token. The numpy
  reference in :mod:`dedup.text` needs a dozen full-size temporaries for the
  same job.
* :func:`minhash_block` — for each document, for each shingle, for each
  permutation: ``min(a * h + b mod 2**32)``, fused so nothing is materialised.

* :func:`shingle_tokens` — the n-gram hashes of every document.

They are compiled by numba when first needed (:func:`compiled`; cached on
disk when the package directory is writable) and are checked against the
numpy reference implementations in the tests. Without numba, or for small
inputs, callers use the numpy code: results are identical, only slower.
"""

from __future__ import annotations

import importlib.util
import os
from types import SimpleNamespace

import numpy as np

#: numba is installed and not switched off with ``DEDUP_NO_NUMBA=1``.
AVAILABLE = importlib.util.find_spec("numba") is not None and not os.environ.get("DEDUP_NO_NUMBA")

#: Importing numba and loading the cached kernels costs about a second per
#: process, so they are loaded once the work asked of this process reaches
#: this many elements (characters, tokens, or shingles x permutations / 16);
#: small inputs are faster on the numpy path. Once loaded, they serve everything.
MIN_WORK = 1 << 21

_WORD = 1
_SINGLE = 2
_IGNORE = 3

_loaded: SimpleNamespace | None = None
_work_seen = 0


def compiled(work: int) -> SimpleNamespace | None:
    """The compiled kernels, once numba is available and the work so far makes them worth loading."""
    global _loaded, _work_seen
    if _loaded is None and AVAILABLE:
        _work_seen += work
        if _work_seen >= MIN_WORK:
            _loaded = _compile()
    return _loaded


def _compile() -> SimpleNamespace:
    import numba

    module = globals()
    # Helpers first: the kernels that call them are compiled against the jitted versions.
    for name in ("_mix64", "tokenize_codepoints", "minhash_block", "shingle_tokens"):
        module[name] = numba.njit(cache=True, nogil=True, boundscheck=False)(module[name])
    return SimpleNamespace(
        tokenize_codepoints=module["tokenize_codepoints"],
        minhash_block=module["minhash_block"],
        shingle_tokens=module["shingle_tokens"],
    )


def _mix64(x):
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def tokenize_codepoints(cps, fold, klass, astral_cps, astral_fold, astral_class, char_mode):
    """Token hashes, start positions and end positions (exclusive) of a code point array.

    Same semantics as the numpy path of :func:`dedup.text.tokenize`: ignorable
    characters are skipped, a token's end is the position of the next visible
    character, and hashes are ``splitmix64(sum((c_i + 1) * B**i) + length)``.
    """
    n = cps.shape[0]
    # Room for one token per character. Only the pages actually written are
    # backed by memory (large allocations are mapped lazily), and growing the
    # arrays inside the loop instead makes the loop twice as slow.
    hashes = np.empty(n, dtype=np.uint64)
    starts = np.empty(n, dtype=np.int64)
    ends = np.empty(n, dtype=np.int64)
    base = np.uint64(0x9E3779B97F4A7C15)
    one = np.uint64(1)
    ntok = 0
    in_word = False
    pending_single = -1
    acc = np.uint64(0)
    power = one
    length = 0
    for i in range(n):
        cp = cps[i]
        if cp < 0x10000:
            k = klass[cp]
            f = fold[cp]
        else:
            j = np.searchsorted(astral_cps, cp)
            k = astral_class[j]
            f = astral_fold[j]
        if k == _IGNORE:
            continue
        if char_mode and k == _WORD:
            k = _SINGLE
        if in_word and k != _WORD:
            hashes[ntok] = _mix64(acc + np.uint64(length))
            ends[ntok] = i
            ntok += 1
            in_word = False
        if pending_single >= 0:
            ends[pending_single] = i
            pending_single = -1
        if k == _WORD:
            if not in_word:
                starts[ntok] = i
                acc = np.uint64(0)
                power = one
                length = 0
                in_word = True
            acc += (np.uint64(f) + one) * power
            power *= base
            length += 1
        elif k == _SINGLE:
            starts[ntok] = i
            hashes[ntok] = _mix64(np.uint64(f) + one + one)
            pending_single = ntok
            ntok += 1
    if in_word:
        hashes[ntok] = _mix64(acc + np.uint64(length))
        ends[ntok] = n
        ntok += 1
    if pending_single >= 0:
        ends[pending_single] = n
    return hashes[:ntok], starts[:ntok], ends[:ntok]


def minhash_block(mixed, bounds, a, b, out):
    """``out[d, k] = min(a[k] * h + b[k] mod 2**32)`` over the shingles ``h`` of document ``d``.

    Documents without shingles are left untouched. The uint32 -> uint64
    widening before the multiply lets LLVM use 32x32->64-bit SIMD multiplies.
    """
    num_perm = a.shape[0]
    mask = np.uint64(0xFFFFFFFF)
    row = np.empty(num_perm, dtype=np.uint32)
    for d in range(bounds.shape[0] - 1):
        lo = bounds[d]
        hi = bounds[d + 1]
        if hi <= lo:
            continue
        row[:] = np.uint32(0xFFFFFFFF)
        for s in range(lo, hi):
            h = np.uint64(mixed[s])
            for k in range(num_perm):
                v = np.uint32((np.uint64(a[k]) * h + np.uint64(b[k])) & mask)
                row[k] = min(row[k], v)
        out[d, :] = row


def shingle_tokens(token_hashes, bounds, ngram):
    """Hashes and first token of every ``ngram``-shingle, per document (see :func:`dedup.text.shingle`)."""
    n_docs = bounds.shape[0] - 1
    total = 0
    for d in range(n_docs):
        k = bounds[d + 1] - bounds[d]
        total += k - ngram + 1 if k >= ngram else (1 if k > 0 else 0)
    hashes = np.empty(total, dtype=np.uint64)
    first = np.empty(total, dtype=np.int64)
    out_bounds = np.zeros(n_docs + 1, dtype=np.int64)
    mult = np.uint64(0xC2B2AE3D27D4EB4F)
    pos = 0
    for d in range(n_docs):
        lo = bounds[d]
        k = bounds[d + 1] - lo
        width = ngram if k >= ngram else k
        count = k - ngram + 1 if k >= ngram else (1 if k > 0 else 0)
        for i in range(lo, lo + count):
            acc = np.uint64(0)
            for j in range(width):
                acc = acc * mult + token_hashes[i + j]
            hashes[pos] = _mix64(acc ^ np.uint64(width))
            first[pos] = i
            pos += 1
        out_bounds[d + 1] = pos
    return hashes, first, out_bounds
