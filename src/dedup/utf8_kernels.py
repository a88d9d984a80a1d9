"""Reading text one character at a time inside the compiled kernels.

:mod:`dedup._kernels` (documents) and :mod:`dedup._passage_kernels`
(passages) walk UTF-8 bytes the same way: decode a character from its lead
byte, then find its class and folded form (above U+10000 by a search of
the batch's astral characters, :class:`dedup.text.Utf8Batch`). The two steps live here once; each kernel module
compiles its kernels against :func:`jitted`'s versions (numba inlines them, so
the kernels run as if the code were written out in each).

These are plain Python functions until :func:`jitted` is called (that needs numba).
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

_jitted: SimpleNamespace | None = None


def decode_char(data, i, c):
    """The code point whose UTF-8 lead byte ``c`` (an int64) is ``data[i]``, and its width in bytes.

    The bytes are well-formed UTF-8 (the kernels read what Python encoded), so no check is made.
    """
    # One return: numba inlines a single exit into the caller's loop as if written there.
    if c < 0x80:
        cp = c
        width = 1
    elif c < 0xE0:
        cp = ((c & 0x1F) << 6) | (np.int64(data[i + 1]) & 0x3F)
        width = 2
    elif c < 0xF0:
        cp = ((c & 0x0F) << 12) | ((np.int64(data[i + 1]) & 0x3F) << 6) | (np.int64(data[i + 2]) & 0x3F)
        width = 3
    else:
        cp = (
            ((c & 0x07) << 18)
            | ((np.int64(data[i + 1]) & 0x3F) << 12)
            | ((np.int64(data[i + 2]) & 0x3F) << 6)
            | (np.int64(data[i + 3]) & 0x3F)
        )
        width = 4
    return cp, width


def astral_char(cp, astral_cps, astral_fold, astral_class):
    """The class and folded form of ``cp`` above U+10000: a search of the batch's few astral characters.

    Below U+10000 the callers index the tables themselves (``klass[cp]``, ``fold[cp]``):
    numba compiles a lookup returned through a helper as a slower loop body.
    """
    lo = 0
    hi = astral_cps.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if astral_cps[mid] < cp:
            lo = mid + 1
        else:
            hi = mid
    return astral_class[lo], astral_fold[lo]


def jitted() -> SimpleNamespace:
    """:func:`decode_char` and :func:`astral_char` compiled by numba, to be inlined into the kernels that call them."""
    global _jitted
    if _jitted is None:
        from .jitcache import njit

        _jitted = SimpleNamespace(
            decode_char=njit(decode_char, nogil=True, boundscheck=False, inline="always"),
            astral_char=njit(astral_char, nogil=True, boundscheck=False, inline="always"),
        )
    return _jitted
