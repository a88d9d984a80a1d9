"""Compiled kernels for the hot loops numpy cannot express without per-token work.

* :func:`tokenize_codepoints` — one pass over the code points of a batch:
  fold, classify, find token boundaries and hash each token. The numpy
  reference in :mod:`dedup.text` needs a dozen full-size temporaries for the
  same job.
* :func:`minhash_block` — for each document, for each shingle, for each
  permutation: ``min(a * h + b mod 2**32)``, fused so nothing is materialised.

* :func:`shingle_tokens` — the n-gram hashes of every document.
* :func:`pair_jaccard` — exact Jaccard of pairs of shingle-hash sets
  (:func:`pair_jaccard_into` compiled, into an array of the caller).
* :func:`band_keys` — LSH band keys of signatures, written where the caller wants them.
* :func:`sketch_utf8` — the document pipeline in one pass over UTF-8 bytes:
  decode, fold, tokenise, roll the n-gram hash and update the MinHash
  signature (or emit the 32-bit shingle hashes), with nothing materialised
  in between. Same results as tokenize -> shingle -> minhash.
* :func:`locate_texts` — where each text's UTF-8 bytes are, without the GIL:
  an ASCII ``str`` is its own UTF-8, read where CPython keeps it; other
  texts are encoded into a scratch buffer (:func:`str_layout` says where
  the fields of a ``str`` are, checked on sample strings first).

They are compiled by numba when first needed (:func:`compiled`; cached on
disk when the package directory is writable) and are checked against the
numpy reference implementations in the tests. Without numba, or for small
inputs, callers use the numpy code: results are identical, only slower.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from types import SimpleNamespace

import numpy as np

from . import utf8_kernels
from .utf8_kernels import astral_char, decode_char

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

# numba's ``carray`` and the intrinsics that turn an address into a typed pointer or read
# what is stored there: set by :func:`_compile` (they need numba) before the kernels using them
# are compiled.
_carray = None
_ptr_u8 = None
_peek_u8 = None
_peek_u16 = None
_peek_u32 = None
_peek_i64 = None


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

    from .jitcache import njit  # a private cache, or none, where numba has no place for one

    module = globals()
    module["_carray"] = numba.carray
    module["_ptr_u8"] = _pointer_intrinsic(numba.types.uint8)
    for suffix, dtype in {"u8": "uint8", "u16": "uint16", "u32": "uint32", "i64": "int64"}.items():
        module[f"_peek_{suffix}"] = _peek_intrinsic(getattr(numba.types, dtype))
    # Helpers first: the kernels that call them are compiled against the jitted versions.
    shared = utf8_kernels.jitted()
    module["decode_char"], module["astral_char"] = shared.decode_char, shared.astral_char
    for name in (
        "_mix64",
        "_fmix32",
        "_flush_minhash",
        "_emit_shingles",
        "tokenize_codepoints",
        "minhash_block",
        "shingle_tokens",
        "sketch_utf8",
        "pair_jaccard_into",
        "band_keys",
        "_utf8_units",
        "locate_texts",
    ):
        # The per-chunk helpers are inlined by numba itself: compiled on their own, LLVM would
        # optimise their code twice (alone, then inside sketch_utf8), a second of the one-off compile.
        inline = "always" if name in ("_emit_shingles", "_flush_minhash", "_utf8_units") else "never"
        module[name] = njit(module[name], nogil=True, boundscheck=False, inline=inline)
    return SimpleNamespace(
        tokenize_codepoints=module["tokenize_codepoints"],
        minhash_block=module["minhash_block"],
        shingle_tokens=module["shingle_tokens"],
        sketch_utf8=module["sketch_utf8"],
        pair_jaccard=pair_jaccard,
        band_keys=module["band_keys"],
        locate_texts=module["locate_texts"],
        str_layout=str_layout(),
        item_addresses=item_addresses,
    )


def _peek_intrinsic(dtype):
    """A numba intrinsic: the ``dtype`` value stored at an integer address, as an int64."""
    from llvmlite import ir
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def peek(typingctx, address):
        def codegen(context, builder, signature, args):
            stored = context.get_value_type(dtype)
            value = builder.load(builder.inttoptr(args[0], stored.as_pointer()))
            return builder.zext(value, ir.IntType(64)) if stored.width < 64 else value

        return types.int64(types.int64), codegen

    return peek


def _pointer_intrinsic(dtype):
    """A numba intrinsic: an integer address as a pointer to ``dtype`` (for ``numba.carray``)."""
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def as_pointer(typingctx, address):
        pointer = types.CPointer(dtype)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(pointer))

        return pointer(types.int64), codegen

    return as_pointer


def item_addresses(items: list) -> np.ndarray | None:
    """``id(x)`` of every item of ``items``, copied from the list's own array of pointers; ``None`` if unsure.

    Asking each item for its ``id`` costs a Python step per text, under the
    GIL; the list (``PyListObject``) keeps the addresses side by side. The
    layout is checked once on a sample list (:func:`_list_layout_ok`).
    """
    n = len(items)
    if not n or not _list_layout_ok():
        return None if n else np.zeros(0, dtype=np.int64)
    first = ctypes.c_void_p.from_address(id(items) + object.__basicsize__ + 8).value or 0
    return np.ctypeslib.as_array(ctypes.cast(first, ctypes.POINTER(ctypes.c_int64)), (n,)).copy()


_list_checked: bool | None = None


def _list_layout_ok() -> bool:
    """Whether a list's length and item pointers are where :func:`item_addresses` reads them (checked once)."""
    global _list_checked
    if _list_checked is None:
        sample = ["a", 2, None, "d" * 40]
        head = object.__basicsize__
        try:
            _list_checked = (
                sys.implementation.name == "cpython"
                and ctypes.sizeof(ctypes.c_void_p) == 8
                and _read(id(sample) + head, 8) == len(sample)
                and all(_read(_read(id(sample) + head + 8, 8) + 8 * k, 8) == id(item) for k, item in enumerate(sample))
            )
        except (OSError, ValueError, OverflowError):
            _list_checked = False
    return _list_checked


def _read(address: int, size: int) -> int:
    return int.from_bytes(ctypes.string_at(address, size), sys.byteorder)


def str_layout() -> np.ndarray | None:
    """Where CPython keeps the fields of a ``str``, for :func:`locate_texts`; ``None`` if unsure.

    ``[id(str), offset of the type, of the length, of the state bits, start
    of an ASCII string's characters, start of another compact string's]``.
    The offsets follow CPython's ``PyASCIIObject`` / ``PyCompactUnicodeObject``
    and are checked here on strings of every kind (ASCII, Latin-1, UCS-2,
    UCS-4, and a ``str`` subclass, which is not compact): anything unexpected
    (another Python, another layout) gives ``None`` and the texts are then
    encoded by Python instead.
    """
    if sys.implementation.name != "cpython" or sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return None
    head = object.__basicsize__  # PyObject_HEAD: the type pointer is its last word
    off_type, off_len, off_state = head - 8, head, head + 16
    # Sizes of strings made here: a shared one (such as the cached "\xe9") may carry a UTF-8 copy,
    # made by any PyUnicode_AsUTF8 call, which getsizeof counts too.
    hdr_ascii = sys.getsizeof(chr(0x61) * 2) - 3  # sizeof(PyASCIIObject) + 2 characters + the terminating NUL
    hdr_compact = sys.getsizeof(chr(0xE9) * 2) - 3  # sizeof(PyCompactUnicodeObject) + 2 one-byte characters + NUL

    class _Sub(str):
        pass

    samples = [
        ("abc", "ascii"),
        ("d\xe9j\xe0", "latin-1"),
        ("\u0416x\u6771", "utf-16-le"),
        ("a\U0001f642", "utf-32-le"),
    ]
    try:
        for text, codec in samples:
            kind = {"ascii": 1, "latin-1": 1, "utf-16-le": 2, "utf-32-le": 4}[codec]
            address = id(text)
            state = _read(address + off_state, 4)
            is_ascii = codec == "ascii"
            start = hdr_ascii if is_ascii else hdr_compact
            if (
                _read(address + off_type, 8) != id(str)
                or _read(address + off_len, 8) != len(text)
                or (state >> 2) & 7 != kind
                or (state >> 5) & 1 != 1
                or (state >> 6) & 1 != int(is_ascii)
                or ctypes.string_at(address + start, len(text) * kind) != text.encode(codec)
            ):
                return None
        sub = _Sub("abc")
        if _read(id(sub) + off_type, 8) == id(str) or (_read(id(sub) + off_state, 4) >> 5) & 1:
            return None
    except (OSError, ValueError, OverflowError):
        return None
    return np.array([id(str), off_type, off_len, off_state, hdr_ascii, hdr_compact], dtype=np.int64)


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


def _fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = np.uint32(h * np.uint32(0x85EBCA6B))
    h = h ^ (h >> np.uint32(13))
    h = np.uint32(h * np.uint32(0xC2B2AE35))
    return h ^ (h >> np.uint32(16))


def _flush_minhash(buf, count, a, b, row):
    """``row[k] = min(row[k], a[k] * buf[s] + b[k] mod 2**32)`` over ``buf[:count]``.

    Permutations outside, shingles inside: the inner loop is a min-reduction
    over contiguous uint32 values, which LLVM turns into 16-lane SIMD.
    """
    for k in range(a.shape[0]):
        ak = a[k]
        bk = b[k]
        m = row[k]
        for s in range(count):
            v = np.uint32(ak * buf[s] + bk)
            m = min(m, v)
        row[k] = m


#: Tokens buffered per document before their shingles are hashed and signed.
_TOKEN_CHUNK = 4096
#: Powers of the token hash's base kept in a table: tokens up to this length need no multiply chain.
_PMAX = 256


def _emit_shingles(raw, nt, ngram, width, powers, tok, h32, a, b, row, hashes, out, want_hashes):
    """Hash the shingles of the tokens ``raw[:nt]`` and sign them (or write them to ``hashes[out:]``).

    ``width == ngram``: every full window; ``width < ngram``: the one shingle
    of a document shorter than an n-gram. Each step is a loop over all
    tokens of the chunk, which LLVM vectorises. Returns the new ``out``.
    """
    for t in range(nt):
        tok[t] = _mix64(raw[t])
    if width == ngram:
        count = nt - ngram + 1
        for t in range(count):
            raw[t] = np.uint64(0)
        for j in range(ngram):
            pj = powers[j]
            for t in range(count):
                raw[t] += tok[t + j] * pj
        key = np.uint64(ngram)
    else:
        count = 1
        acc0 = np.uint64(0)
        for t in range(nt):
            acc0 = acc0 * np.uint64(0xC2B2AE3D27D4EB4F) + tok[t]
        raw[0] = acc0
        key = np.uint64(nt)
    for t in range(count):
        h32[t] = np.uint32(_mix64(raw[t] ^ key) >> np.uint64(32))
    if want_hashes:
        for t in range(count):
            hashes[out + t] = h32[t]
        return out + count
    for t in range(count):
        h32[t] = _fmix32(h32[t])
    _flush_minhash(h32, count, a, b, row)
    return out


def sketch_utf8(
    addrs, sizes, fold, klass, astral_cps, astral_fold, astral_class, char_mode, ngram, a, b, sigs, hashes, bounds
):
    """One pass over a batch of UTF-8 texts: signatures or 32-bit shingle hashes.

    Document ``d`` is the ``sizes[d]`` bytes of UTF-8 at address ``addrs[d]``
    (from :func:`locate_texts`, or inside a :class:`dedup.text.Utf8Batch`;
    the caller keeps them alive); ``fold`` and ``klass`` are the BMP tables
    and ``astral_*`` those of the batch's astral characters, as in
    :class:`dedup.text.Utf8Batch`. Tokens, n-gram hashes and their upper 32
    bits are those of :func:`dedup.text.tokenize`, :func:`dedup.text.shingle`
    and :meth:`dedup.text.ShingleBatch.hashes32`.

    With ``sigs`` of shape ``(n_docs, num_perm)`` (filled with ``0xFFFFFFFF``
    by the caller), row ``d`` gets the MinHash signature of document ``d``
    (:func:`dedup.minhash.minhash` with permutations ``a``, ``b``). With
    ``hashes`` of at least one slot per character, the 32-bit shingle hashes
    of document ``d`` are written to ``hashes[bounds[d]:bounds[d + 1]]``
    instead; pass an empty array for the output not wanted.

    Characters are read in a first loop that only finds tokens and their raw
    polynomial sums; tokens are then hashed, shingled and signed a chunk at
    a time. Runs of ASCII bytes take a loop without a branch on the class
    (the word/separator pattern of text defeats branch prediction): table
    lookups and masks, the power of the base from a table by the token's
    length; tokens longer than ``_PMAX`` characters, non-ASCII characters
    and character mode take the general loop.
    """
    n_docs = sizes.shape[0]
    want_sigs = sigs.shape[0] > 0
    want_hashes = hashes.shape[0] > 0
    base = np.uint64(0x9E3779B97F4A7C15)
    mult = np.uint64(0xC2B2AE3D27D4EB4F)
    zero = np.uint64(0)
    one = np.uint64(1)
    # powers[j] = mult ** (ngram - 1 - j): a shingle's hash is sum(token[j] * powers[j]).
    powers = np.empty(ngram, dtype=np.uint64)
    p = one
    for j in range(ngram - 1, -1, -1):
        powers[j] = p
        p *= mult
    pw = np.empty(_PMAX, dtype=np.uint64)
    p = one
    for j in range(_PMAX):
        pw[j] = p
        p *= base
    wmask = np.empty(128, dtype=np.uint64)  # np.empty and a loop: one array constructor less to compile
    f1 = np.empty(128, dtype=np.uint64)
    for j in range(128):
        word = klass[j] == _WORD
        wmask[j] = ~zero if word else zero
        f1[j] = np.uint64(fold[j]) + one if word else zero
    cap = _TOKEN_CHUNK + ngram
    raw = np.empty(cap + 1, dtype=np.uint64)
    tok = np.empty(cap + 1, dtype=np.uint64)
    h32 = np.empty(cap + 1, dtype=np.uint32)
    row = np.empty(a.shape[0], dtype=np.uint32)
    out = 0  # next slot of hashes
    bounds[0] = 0
    for d in range(n_docs):
        end = sizes[d]
        buf = _carray(_ptr_u8(addrs[d]), end)  # type: ignore[misc]
        i = 0
        for q in range(row.shape[0]):
            row[q] = np.uint32(0xFFFFFFFF)
        nt = 0  # tokens in raw
        total = 0  # tokens of the document that have left raw
        acc = zero
        power = one
        length = zero
        while True:
            # Read characters until the document ends or the token buffer is full.
            while i < end and nt < cap - 1:
                c = buf[i]
                if c < 0x80 and not char_mode and length < _PMAX:
                    # A run of ASCII bytes without a branch on the class: every byte stores the
                    # token so far, and the count moves on only at a token's end. Unsigned indices:
                    # numba emits no negative-index fix-up for them (a third of this loop otherwise).
                    u = np.uint64(i)
                    last = np.uint64(min(end, i + (cap - 1 - nt)))
                    at = np.uint64(nt)
                    while u < last:
                        c = buf[u]
                        if c >= np.uint8(0x80) or length >= np.uint64(_PMAX):
                            break
                        w = wmask[c]
                        acc += f1[c] * pw[length]
                        raw[at] = acc + length
                        grown = (length + one) & w  # 0 after a separator
                        at += np.uint64(length > grown)  # a token ended here (one compare, not two)
                        acc &= w
                        length = grown
                        u += one
                    i = np.int64(u)  # type: ignore[assignment]  # numba: the int64 it was
                    nt = np.int64(at)  # type: ignore[assignment]
                    continue
                c = np.int64(c)
                cp, width = decode_char(buf, i, c)
                i += width
                if cp < 0x10000:
                    k = klass[cp]
                    f = fold[cp]
                else:
                    k, f = astral_char(cp, astral_cps, astral_fold, astral_class)
                if char_mode and k == _WORD:
                    k = _SINGLE
                if k == _IGNORE:
                    continue
                if k == _WORD:
                    if length < _PMAX:
                        power = pw[length]
                    elif length == _PMAX:
                        power = pw[_PMAX - 1] * base
                    acc += (np.uint64(f) + one) * power
                    power *= base
                    length += one
                    continue
                if length > zero:
                    raw[nt] = acc + length
                    nt += 1
                    acc = zero
                    power = one
                    length = zero
                if k == _SINGLE:
                    raw[nt] = np.uint64(f) + one + one
                    nt += 1
            done = i >= end
            if done and length > zero:
                raw[nt] = acc + length
                nt += 1
            if not done:
                # Hash the full windows so far; the last ngram - 1 tokens start the next ones.
                span = ngram
            elif total + nt >= ngram:
                span = ngram if nt >= ngram else 0
            else:
                # A document shorter than one n-gram is one shingle of all its tokens.
                span = nt
            if span > 0:
                out = _emit_shingles(raw, nt, ngram, span, powers, tok, h32, a, b, row, hashes, out, want_hashes)
            if done:
                total += nt
                break
            total += nt - (ngram - 1)
            for q in range(ngram - 1):
                raw[q] = raw[nt - ngram + 1 + q]
            nt = ngram - 1
        if want_hashes:
            bounds[d + 1] = out
        if want_sigs and total:
            for q in range(row.shape[0]):
                sigs[d, q] = row[q]
    return out


def _utf8_units(data, kind, n, out, pos):
    """UTF-8 of the ``n`` code units of ``kind`` bytes at address ``data`` into ``out[pos:]``.

    Lone surrogates are encoded as by ``surrogatepass``. One compiled loop
    for the three kinds of ``str`` (a loop per kind costs as much compile
    time again each).
    Returns the position after them and how many characters were above the BMP.
    """
    astral = 0
    for x in range(n):
        at = data + x * kind
        c = _peek_u8(at) if kind == 1 else _peek_u16(at) if kind == 2 else _peek_u32(at)  # type: ignore[misc]
        if c < 0x80:
            out[pos] = c
            pos += 1
            continue
        # 2, 3 or 4 bytes: continuation bytes from the end, 6 bits each, then the lead byte.
        more = 1 + (c >= 0x800) + (c >= 0x10000)
        if c >= 0x10000:
            astral += 1
        for j in range(more, 0, -1):
            out[pos + j] = 0x80 | (c & 0x3F)
            c >>= 6
        out[pos] = ((0xFF00 >> (more + 1)) & 0xFF) | c  # 110xxxxx, 1110xxxx or 11110xxx
        pos += more + 1
    return pos, astral


def locate_texts(ids, layout, scratch, addrs, sizes):
    """``addrs[d]``, ``sizes[d]``: where the UTF-8 bytes of the ``str`` at address ``ids[d]`` are, and how many.

    ``layout`` is :func:`str_layout`. An ASCII string is its own UTF-8: its
    characters are used where CPython keeps them, with no copy. Other
    strings are encoded into ``scratch`` (the texts and ``scratch`` must
    outlive the use of the addresses). Runs without the GIL, so threads
    signing batches do not queue for it as they do behind ``str.encode``.

    Returns ``(need, astral)``: ``need`` bytes of ``scratch`` are needed (when
    ``scratch`` is smaller, only ``sizes`` is written, with each text's length
    in characters: call again with a larger one, or keep the lengths) and
    ``astral`` characters above the BMP were met; ``(-1, 0)`` when an
    object is not an exact, compact ``str`` (then encode in Python instead).
    """
    str_type = layout[0]
    off_type = layout[1]
    off_len = layout[2]
    off_state = layout[3]
    hdr_ascii = layout[4]
    hdr_compact = layout[5]
    need = 0
    for d in range(ids.shape[0]):
        address = ids[d]
        if _peek_i64(address + off_type) != str_type:  # type: ignore[misc]
            return -1, 0
        state = _peek_u32(address + off_state)  # type: ignore[misc]
        if (state >> 5) & 1 == 0:  # not compact (never for an exact str made by Python code)
            return -1, 0
        n = _peek_i64(address + off_len)  # type: ignore[misc]
        sizes[d] = n  # characters, for callers that only want the lengths
        if (state >> 6) & 1 == 0:  # not ASCII: room for its UTF-8
            kind = (state >> 2) & 7
            need += n * (2 if kind == 1 else 3 if kind == 2 else 4)
    if need > scratch.shape[0]:
        return need, 0
    base = scratch.ctypes.data
    pos = 0
    astral = 0
    for d in range(ids.shape[0]):
        address = ids[d]
        n = sizes[d]
        state = _peek_u32(address + off_state)  # type: ignore[misc]
        if (state >> 6) & 1:
            addrs[d] = address + hdr_ascii
            continue
        start = pos
        pos, k = _utf8_units(address + hdr_compact, (state >> 2) & 7, n, scratch, pos)
        astral += k
        addrs[d] = base + start
        sizes[d] = pos - start
    return need, astral


def pair_jaccard_into(hashes, bounds, left, right, out):
    """``out[p]``: Jaccard similarity of the sets of hashes of documents ``left[p]`` and ``right[p]``.

    The hashes of document ``d`` are ``hashes[bounds[d]:bounds[d + 1]]`` (repeats
    allowed: they count once). A pair with an empty side has similarity 0.0.
    Each pair is counted with two open-addressing hash sets (the values are
    hashes already, so their low bits are the slot), in time linear in the
    two documents' lengths; slots are marked with a per-pair stamp, so the
    tables are never cleared. ``out`` (float64) comes from the caller and the
    tables are uint32, like the hashes: fewer array constructors to compile
    on the first run.
    """
    longest = 1
    for d in range(bounds.shape[0] - 1):
        longest = max(longest, bounds[d + 1] - bounds[d])
    size = 2
    while size < 2 * longest:
        size *= 2
    keys_a = np.empty(size, dtype=np.uint32)
    keys_b = np.empty(size, dtype=np.uint32)
    stamp_a = np.empty(size, dtype=np.uint32)
    stamp_b = np.empty(size, dtype=np.uint32)
    for x in range(size):
        stamp_a[x] = 0
        stamp_b[x] = 0
    for p in range(left.shape[0]):
        i = left[p]
        j = right[p]
        ni = bounds[i + 1] - bounds[i]
        nj = bounds[j + 1] - bounds[j]
        out[p] = 0.0
        if ni == 0 or nj == 0:
            continue
        mask = 1
        while mask < 2 * max(ni, nj):
            mask *= 2
        mask -= 1
        mark = np.uint32(p + 1)  # fewer than 2**32 - 1 pairs per call: their index arrays alone would be 64 GB
        # The set of document i, and its size.
        size_i = 0
        for x in range(bounds[i], bounds[i + 1]):
            v = hashes[x]
            slot = np.int64(v) & mask
            while stamp_a[slot] == mark and keys_a[slot] != v:
                slot = (slot + 1) & mask
            if stamp_a[slot] != mark:
                stamp_a[slot] = mark
                keys_a[slot] = v
                size_i += 1
        # Distinct values of document j, and how many of them are in i's set.
        size_j = 0
        inter = 0
        for x in range(bounds[j], bounds[j + 1]):
            v = hashes[x]
            slot = np.int64(v) & mask
            while stamp_b[slot] == mark and keys_b[slot] != v:
                slot = (slot + 1) & mask
            if stamp_b[slot] == mark:
                continue
            stamp_b[slot] = mark
            keys_b[slot] = v
            size_j += 1
            slot = np.int64(v) & mask
            while stamp_a[slot] == mark:
                if keys_a[slot] == v:
                    inter += 1
                    break
                slot = (slot + 1) & mask
        out[p] = inter / (size_i + size_j - inter)


def pair_jaccard(hashes, bounds, left, right):
    """Jaccard similarity of the sets of hashes of documents ``left[p]`` and ``right[p]`` (float64 array).

    Plain Python around the compiled :func:`pair_jaccard_into`: the output
    array is made here, so the kernel compiles no float64 array constructor.
    """
    out = np.zeros(left.shape[0], dtype=np.float64)
    pair_jaccard_into(hashes, bounds, left, right, out)
    return out


def band_keys(sigs, bands, rows, keys, start, empty):
    """``keys[band, start + d]``: the key of :func:`dedup.lsh.band_keys` of row ``d`` of ``sigs``.

    ``keys`` is ``(bands, n)`` (one band's keys contiguous, as they are
    sorted); ``empty[start + d]`` is set when row ``d`` is all
    ``0xFFFFFFFF`` (a document without shingles). No temporaries, no GIL.
    """
    mult = np.uint64(0x9E3779B97F4A7C15)
    shift = np.uint64(29)
    for d in range(sigs.shape[0]):
        for band in range(bands):
            key = np.uint64(0)
            for j in range(rows):
                key = key * mult + np.uint64(sigs[d, band * rows + j])
                key ^= key >> shift
            keys[band, start + d] = key
        blank = True
        for q in range(sigs.shape[1]):
            if sigs[d, q] != np.uint32(0xFFFFFFFF):
                blank = False
                break
        empty[start + d] = blank
