"""Compiled kernels of the passage finder (:mod:`dedup.passages`, :mod:`dedup.passage_seeds`).

Every function here is plain Python over numpy arrays; :func:`compiled`
jits them with numba once the work of the process makes that worth it (the
same rule as :mod:`dedup._kernels`). The tests check each kernel against the
numpy / Python reference it replaces (``tests/test_passage_kernels.py``).

* :func:`shingle_utf8` — one pass over a batch of UTF-8 texts: the full-width
  shingle hashes of :func:`dedup.text.tokenize` + :func:`dedup.text.shingle`,
  the tokens per document and where every ``every``-th token starts, without
  the tokeniser's per-token arrays (a long text's pieces carry their last tokens
  from one call to the next).
* :func:`window_tokens` — the tokens of short windows of text (where each starts and
  ends, in characters, and the newlines before it): what locating a match's edges needs of
  :func:`dedup.text.tokenize`, without its per-token Python-side arrays.
* :func:`pack_keys` — write the token position into the low bits of each
  shingle hash, in place (the sort key of the seeds).
* :func:`links_from_sorted` — one pass over the sorted keys: every later
  occurrence of a shingle gets the position of its first occurrence, every
  first occurrence gets ``-count``.
* :func:`link_records` — the same as ``(position, link, count)`` records, for
  the spill mode's bucket files (both scan the groups of equal hashes with
  one helper, ``_group_end``).
* :func:`links_from_buckets`, :func:`records_from_buckets` — the same from keys
  only grouped in cache-sized buckets (:func:`partition_top_bits`), not sorted:
  each bucket's groups are found with one table (``_fill_groups``, shared).
* :func:`records_in_place`, :func:`place_records` — the same links written over
  the keys, then laid out by token in the keys' own memory (8 bytes per shingle
  at the peak instead of 12).
* :func:`group_records`, :func:`scatter_records` — the spill mode's link records
  grouped by chunk of tokens (a stable counting sort) and laid out by token.
* :func:`chains_from_pairs` — seeds (``original``, ``repeat``) sorted by
  ``repeat`` chained along diagonals in one streaming pass: at most
  ``gap + 1`` chains are open at any time, because each repeat token holds
  one seed.
* :func:`merge_chains` — chains that continue each other merged into
  maximal matches (per pair of documents, a short list of open matches).
* :func:`choose_repeats` — overlapping repeats: keep the most covered.
* :func:`trim_edges` — short boilerplate lines at the edges of a repeat.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from . import backend, utf8_kernels
from .utf8_kernels import astral_char, decode_char

#: ``links`` value of a token where no full-width shingle starts.
NO_SHINGLE = -(1 << 31)

_loaded: SimpleNamespace | None = None

_NAMES = (
    "_mix",
    "_flush_tokens",
    "shingle_utf8",
    "window_tokens",
    "_group_end",
    "_similarity",
    "_flush_chain",
    "pack_keys",
    "partition_top_bits",
    "links_from_sorted",
    "link_records",
    "_fill_groups",
    "links_from_buckets",
    "records_from_buckets",
    "_record",
    "records_in_place",
    "place_records",
    "group_records",
    "scatter_records",
    "chains_from_pairs",
    "merge_chains",
    "choose_repeats",
    "trim_edges",
)


def compiled(work: int) -> SimpleNamespace | None:
    """The compiled kernels when the backend (:mod:`dedup.backend`) runs numba for ``work``, else ``None``."""
    global _loaded
    if backend.kernels(work) is None:
        return None
    if _loaded is None:
        from .jitcache import njit

        module = globals()
        shared = utf8_kernels.jitted()
        module["decode_char"], module["astral_char"] = shared.decode_char, shared.astral_char
        for name in _NAMES:  # helpers first: callers are compiled against the jitted versions
            module[name] = njit(module[name], nogil=True, boundscheck=False)
        _loaded = SimpleNamespace(**{name: module[name] for name in _NAMES if not name.startswith("_")})
    return _loaded


def python() -> SimpleNamespace:
    """The same functions, not compiled (the reference the tests compare against)."""
    return SimpleNamespace(
        **{name: getattr(globals()[name], "py_func", globals()[name]) for name in _NAMES if not name.startswith("_")}
    )


#: Tokens :func:`shingle_utf8` buffers before hashing their shingles.
TOKEN_CHUNK = 4096
#: Powers of the token hash's base kept in a table: tokens up to this long take the loop without a branch.
_PMAX = 256
_WORD = 1  # dedup.text's classes
_SINGLE = 2
_IGNORE = 3


def _mix(x):
    """splitmix64's finaliser (the token and shingle hashes of :mod:`dedup.text`)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _flush_tokens(raw, st, nt, carried, ngram, powers, tok, token_no, every, char_base, keys, nk, places, n_places):
    """Hash the tokens ``raw[carried:nt]`` (their raw sums), record the places among them
    (token ``token_no`` is the first), then hash every full window of ``ngram`` tokens of
    ``raw[:nt]`` that ends at one of them into ``keys[nk:]``. Returns ``(nk, n_places)``."""
    for t in range(carried, nt):
        tok[t] = _mix(raw[t])
    for t in range(carried + (-token_no) % every, nt, every):  # one modulo per chunk, not per token
        places[n_places] = st[t] + char_base
        n_places += 1
    count = nt - ngram + 1
    for t in range(count):
        acc = np.uint64(0)
        for j in range(ngram):
            acc += tok[t + j] * powers[j]
        keys[nk + t] = _mix(acc ^ np.uint64(ngram))
    return nk + max(count, 0), n_places


def shingle_utf8(
    data, ends, fold, klass, astral_cps, astral_fold, astral_class, ngram, every, tail, n_tail, before, char_base,
    keys, places, counts,
):  # fmt: skip
    """Full-width shingle hashes, token counts and token places of a batch of UTF-8 texts.

    Text ``d`` is ``data[ends[d - 1] + 1 : ends[d]]`` (from 0 for the first), the
    tables those of :class:`dedup.text.Utf8Batch`. Writes to ``keys`` the hashes of
    :func:`dedup.text.shingle` (``ngram`` tokens wide only) of the tokens of
    :func:`dedup.text.tokenize` in text order, to ``counts[d]`` the tokens of text
    ``d`` and to ``places`` the character offset where every ``every``-th token
    starts. The first text may continue a longer one: ``tail[:n_tail]`` are the
    hashes of its last tokens before (their windows are completed), ``before`` its
    tokens before (which tokens are places) and ``char_base`` where this piece
    starts in it. ``keys`` needs a slot per byte, ``places`` one per
    ``every`` bytes plus one per text. Returns ``(keys written, places written,
    n)``, the last ``n <= ngram - 1`` token hashes of the last text left in ``tail``.

    The characters are read as in :func:`dedup._kernels.sketch_utf8`: runs of
    ASCII bytes in a loop without a branch on the class, the rest decoded.
    """
    base = np.uint64(0x9E3779B97F4A7C15)
    mult = np.uint64(0xC2B2AE3D27D4EB4F)
    zero = np.uint64(0)
    one = np.uint64(1)
    powers = np.empty(ngram, dtype=np.uint64)  # powers[j] = mult ** (ngram - 1 - j)
    p = one
    for j in range(ngram - 1, -1, -1):
        powers[j] = p
        p *= mult
    pw = np.empty(_PMAX, dtype=np.uint64)
    p = one
    for j in range(_PMAX):
        pw[j] = p
        p *= base
    wmask = np.empty(128, dtype=np.uint64)
    f1 = np.empty(128, dtype=np.uint64)
    for j in range(128):
        word = klass[j] == _WORD
        wmask[j] = ~zero if word else zero
        f1[j] = np.uint64(fold[j]) + one if word else zero
    cap = TOKEN_CHUNK + ngram
    raw = np.empty(cap + 1, dtype=np.uint64)
    st = np.empty(cap + 1, dtype=np.int64)
    tok = np.empty(cap + 1, dtype=np.uint64)
    nk = 0
    n_places = 0
    n_docs = ends.shape[0]
    for d in range(n_docs):
        i = ends[d - 1] + 1 if d > 0 else 0
        end = ends[d]
        start_byte = i
        extra = 0  # bytes of the text so far beyond one per character
        nt = 0
        carried = 0
        token_no = 0  # the text's tokens before raw[carried]
        cb = 0
        if d == 0:
            for q in range(n_tail):
                tok[q] = tail[q]
            nt = n_tail
            carried = n_tail
            token_no = before
            cb = char_base
        acc = zero
        power = one
        length = zero
        tstart = np.int64(0)  # character where the current token starts
        while True:
            while i < end and nt < cap - 1:
                c = data[i]
                if c < 0x80 and length < _PMAX:
                    u = np.uint64(i)
                    last = np.uint64(min(end, i + (cap - 1 - nt)))
                    at = np.uint64(nt)
                    shift = np.uint64(start_byte + extra)
                    while u < last:
                        c = data[u]
                        if c >= np.uint8(0x80) or length >= np.uint64(_PMAX):
                            break
                        w = wmask[c]
                        tstart = np.int64(u - shift) if length == zero else tstart
                        acc += f1[c] * pw[length]
                        raw[at] = acc + length
                        st[at] = tstart
                        grown = (length + one) & w
                        at += np.uint64(length > grown)
                        acc &= w
                        length = grown
                        u += one
                    i = np.int64(u)  # numba: the int64 it was
                    nt = np.int64(at)  # type: ignore[assignment]
                    continue
                char = i - start_byte - extra
                cp, width = decode_char(data, i, np.int64(c))
                i += width
                extra += width - 1
                if cp < 0x10000:
                    k = klass[cp]
                    f = fold[cp]
                else:
                    k, f = astral_char(cp, astral_cps, astral_fold, astral_class)
                if k == _IGNORE:
                    continue
                if k == _WORD:
                    if length == zero:
                        tstart = char  # type: ignore[assignment]
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
                    st[nt] = tstart
                    nt += 1
                    acc = zero
                    power = one
                    length = zero
                if k == _SINGLE:
                    raw[nt] = np.uint64(f) + one + one
                    st[nt] = char
                    nt += 1
            done = i >= end
            if done and length > zero:
                raw[nt] = acc + length
                st[nt] = tstart
                nt += 1
            nk, n_places = _flush_tokens(
                raw, st, nt, carried, ngram, powers, tok, token_no, every, cb, keys, nk, places, n_places
            )
            token_no += nt - carried
            keep = min(nt, ngram - 1)
            for q in range(keep):
                tok[q] = tok[nt - keep + q]
                raw[q] = zero
            if done:
                counts[d] = token_no - (before if d == 0 else 0)
                if d == n_docs - 1:
                    for q in range(keep):
                        tail[q] = tok[q]
                    return nk, n_places, keep
                break
            nt = keep
            carried = keep
    return nk, n_places, 0


def window_tokens(data, ends, fold, klass, astral_cps, astral_fold, astral_class, starts, stops, lines, counts):
    """Tokens of a batch of UTF-8 windows, as :func:`dedup.text.tokenize` cuts them.

    Window ``d`` is ``data[ends[d - 1] + 1 : ends[d]]`` (from 0 for the first), the tables
    those of :class:`dedup.text.Utf8Batch`. Token ``t`` (in window order) starts at character
    ``starts[t]`` of its window and ends at ``stops[t]`` (exclusive: where the next visible
    character is), with ``lines[t]`` newlines of the batch before it; ``counts[d]`` tokens
    are window ``d``'s. The outputs need a slot per byte. Returns ``(tokens, newlines)``.
    """
    nt = 0
    nl = 0
    for d in range(ends.shape[0]):
        i = ends[d - 1] + 1 if d > 0 else 0
        end = ends[d]
        char = 0
        first = nt
        in_word = False
        pending = -1
        while i < end:
            cp, width = decode_char(data, i, np.int64(data[i]))
            i += width
            if cp < 0x10000:
                k = klass[cp]
            else:
                k, _ = astral_char(cp, astral_cps, astral_fold, astral_class)
            if k != _IGNORE:
                if in_word and k != _WORD:
                    stops[nt - 1] = char
                    in_word = False
                if pending >= 0:
                    stops[pending] = char
                    pending = -1
                if k == _WORD:
                    if not in_word:
                        starts[nt] = char
                        lines[nt] = nl
                        nt += 1
                        in_word = True
                elif k == _SINGLE:
                    starts[nt] = char
                    lines[nt] = nl
                    pending = nt
                    nt += 1
            if cp == 10:
                nl += 1
            char += 1
        if in_word:
            stops[nt - 1] = char
        if pending >= 0:
            stops[pending] = char
        counts[d] = nt - first
    return nt, nl


def pack_keys(keys, token_bounds, ngram, bits):
    """``keys[k] = keys[k] >> bits << bits | position`` for the full-width shingles in document order."""
    b = np.uint64(bits)
    k = 0
    for d in range(token_bounds.shape[0] - 1):
        lo = token_bounds[d]
        count = token_bounds[d + 1] - lo - ngram + 1
        for j in range(count):
            keys[k] = (keys[k] >> b << b) | np.uint64(lo + j)
            k += 1
    return k


def partition_top_bits(keys, bucket_bits, skip=0):
    """Reorder ``keys`` in place so that they are grouped by their top ``bucket_bits`` bits
    below the ``skip`` highest (an in-place MSD radix pass); returns the bucket bounds. Sorting
    (or linking) each bucket then works on the whole array in cache-sized pieces."""
    shift = np.uint64(64 - skip - bucket_bits)
    n_buckets = 1 << bucket_bits
    low = np.uint64(n_buckets - 1)
    counts = np.zeros(n_buckets + 1, dtype=np.int64)
    for i in range(keys.shape[0]):
        counts[np.int64((keys[i] >> shift) & low) + 1] += 1
    bounds = np.cumsum(counts)
    heads = bounds[:-1].copy()
    for b in range(n_buckets):
        end = bounds[b + 1]
        while heads[b] < end:
            v = keys[heads[b]]
            d = np.int64((v >> shift) & low)
            while d != b:  # follow the cycle: put v in its bucket, pick up what was there
                w = keys[heads[d]]
                keys[heads[d]] = v
                heads[d] += 1
                v = w
                d = np.int64((v >> shift) & low)
            keys[heads[b]] = v
            heads[b] += 1
    return bounds


def _group_end(keys, i, b):
    """End of the group of sorted ``keys`` starting at ``i``: the first key after it whose hash
    (the bits above the low ``b`` position bits) differs."""
    h = keys[i] >> b
    j = i + 1
    n = keys.shape[0]
    while j < n and (keys[j] >> b) == h:
        j += 1
    return j


def links_from_sorted(keys, bits, links):
    """Fill ``links`` (token-indexed) from sorted keys: a later occurrence gets its first occurrence's
    position, a first occurrence gets ``-count``; other entries are left as they are."""
    b = np.uint64(bits)
    mask = (np.uint64(1) << b) - np.uint64(1)
    n = keys.shape[0]
    i = 0
    while i < n:
        j = _group_end(keys, i, b)
        first = np.int64(keys[i] & mask)
        links[first] = -(j - i)
        for k in range(i + 1, j):
            links[np.int64(keys[k] & mask)] = first
        i = j


def link_records(keys, bits, pos, link, count):
    """The same links as records, in key order (spill mode): ``pos[k]`` the token of sorted key
    ``k``, ``link[k]`` its first occurrence's position (``-count`` for the first itself) and
    ``count[k]`` how often its shingle occurs."""
    b = np.uint64(bits)
    mask = (np.uint64(1) << b) - np.uint64(1)
    n = keys.shape[0]
    i = 0
    while i < n:
        j = _group_end(keys, i, b)
        first = np.int64(keys[i] & mask)
        for k in range(i, j):
            pos[k] = np.int64(keys[k] & mask)
            link[k] = first
            count[k] = j - i
        link[i] = -(j - i)
        i = j


def _fill_groups(keys, lo, hi, b, mask, t_hash, t_first, t_count, slot):
    """The groups of equal hashes of ``keys[lo:hi]`` in an open-addressing table (hash, first
    position, count; ``slot[i - lo]`` is key ``i``'s entry), the bucket held in cache instead of
    sorted. Returns False, the table left unfinished, when the bucket has more keys than
    ``slot`` or too many distinct hashes for the table (then the bucket is sorted instead)."""
    if hi - lo > slot.shape[0]:
        return False
    size = 16
    while size < 2 * (hi - lo) and size < t_hash.shape[0]:
        size *= 2
    full = size - size // 4
    t_count[:size] = 0
    distinct = 0
    for i in range(lo, hi):
        h = keys[i] >> b
        p = np.int64(keys[i] & mask)
        s = np.int64(h & np.uint64(size - 1))  # hashes are uniform: their low bits are a slot
        while t_count[s] != 0 and t_hash[s] != h:
            s = (s + 1) & (size - 1)
        if t_count[s] == 0:
            distinct += 1
            if distinct > full:
                return False
            t_hash[s] = h
            t_first[s] = p
            t_count[s] = 1
        else:
            t_count[s] += 1
            if p < t_first[s]:
                t_first[s] = p
        slot[i - lo] = s
    return True


def links_from_buckets(keys, bounds, bits, links, t_hash, t_first, t_count, slot):
    """What :func:`links_from_sorted` gives, from keys grouped in buckets (``bounds``; all keys
    of one hash in one bucket, e.g. by :func:`partition_top_bits`) in any order within each:
    each bucket's groups are found with a table held in cache; a bucket with more distinct
    hashes than the table holds is sorted and scanned instead."""
    b = np.uint64(bits)
    mask = (np.uint64(1) << b) - np.uint64(1)
    for g in range(bounds.shape[0] - 1):
        lo = bounds[g]
        hi = bounds[g + 1]
        if hi - lo < 2 or not _fill_groups(keys, lo, hi, b, mask, t_hash, t_first, t_count, slot):
            keys[lo:hi].sort()
            links_from_sorted(keys[lo:hi], bits, links)
            continue
        for i in range(lo, hi):
            s = slot[i - lo]
            p = np.int64(keys[i] & mask)
            first = t_first[s]
            links[p] = -t_count[s] if p == first else first


def records_from_buckets(keys, bounds, bits, pos, link, count, t_hash, t_first, t_count, slot):
    """What :func:`link_records` gives, from keys grouped in buckets as for
    :func:`links_from_buckets` (records in the order of ``keys``)."""
    b = np.uint64(bits)
    mask = (np.uint64(1) << b) - np.uint64(1)
    for g in range(bounds.shape[0] - 1):
        lo = bounds[g]
        hi = bounds[g + 1]
        if hi - lo < 2 or not _fill_groups(keys, lo, hi, b, mask, t_hash, t_first, t_count, slot):
            keys[lo:hi].sort()
            link_records(keys[lo:hi], bits, pos[lo:hi], link[lo:hi], count[lo:hi])
            continue
        for i in range(lo, hi):
            s = slot[i - lo]
            p = np.int64(keys[i] & mask)
            first = t_first[s]
            pos[i] = p
            link[i] = -t_count[s] if p == first else first
            count[i] = t_count[s]


def _record(p, v):
    """A token's link as one ``uint64``: its position in the high half, the link in the low."""
    return (np.uint64(p) << np.uint64(32)) | np.uint64(v & 0xFFFFFFFF)


def records_in_place(keys, bounds, bits, t_hash, t_first, t_count, slot):
    """What :func:`links_from_buckets` writes to ``links``, written over the keys themselves:
    ``keys[i]`` becomes the record (:func:`_record`) of its token, so no token-indexed array
    is needed while the keys are alive (links below 2**31 only)."""
    b = np.uint64(bits)
    mask = (np.uint64(1) << b) - np.uint64(1)
    for g in range(bounds.shape[0] - 1):
        lo = bounds[g]
        hi = bounds[g + 1]
        if hi - lo < 2 or not _fill_groups(keys, lo, hi, b, mask, t_hash, t_first, t_count, slot):
            keys[lo:hi].sort()
            i = lo
            while i < hi:
                j = lo + _group_end(keys[lo:hi], i - lo, b)
                first = np.int64(keys[i] & mask)
                for k in range(i, j):
                    keys[k] = _record(np.int64(keys[k] & mask), -(j - i) if k == i else first)
                i = j
            continue
        for i in range(lo, hi):
            s = slot[i - lo]
            p = np.int64(keys[i] & mask)
            first = t_first[s]
            keys[i] = _record(p, -t_count[s] if p == first else first)


def place_records(records, bounds, width, total, out, temp, empty):
    """Records grouped by position (bucket ``g`` holds tokens ``[g << width, (g + 1) << width)``)
    written as the token-indexed ``links`` to ``out``, which may be the records' own memory
    seen as ``int32``: each bucket is copied to ``temp`` first, and the caller checks that no
    bucket's links reach the records of a later bucket. Tokens without a record get ``empty``."""
    for g in range(bounds.shape[0] - 1):
        lo = bounds[g]
        hi = bounds[g + 1]
        for k in range(lo, hi):
            temp[k - lo] = records[k]
        a = g << width
        for t in range(a, min(total, (g + 1) << width)):
            out[t] = empty
        for k in range(hi - lo):
            r = temp[k]
            v = np.int64(r & np.uint64(0xFFFFFFFF))
            out[np.int64(r >> np.uint64(32))] = v - (1 << 32) if v >= (1 << 31) else v


def group_records(t, v, c, per_group, out_t, out_v, out_c, counts):
    """Records ``(t, v, c)`` copied to ``out_*`` grouped by ``t // per_group`` (stable: a
    counting sort), adding the number of records of each group to ``counts``."""
    n_groups = counts.shape[0]
    mine = np.zeros(n_groups, dtype=np.int64)
    for i in range(t.shape[0]):
        mine[t[i] // per_group] += 1
    heads = np.zeros(n_groups, dtype=np.int64)
    at = 0
    for g in range(n_groups):
        heads[g] = at
        at += mine[g]
        counts[g] += mine[g]
    for i in range(t.shape[0]):
        g = t[i] // per_group
        h = heads[g]
        out_t[h] = t[i]
        out_v[h] = v[i]
        out_c[h] = c[i]
        heads[g] = h + 1


def scatter_records(t, v, c, lo, links, mult):
    """``links[t - lo] = v`` and ``mult[t - lo] = c`` for every record."""
    for i in range(t.shape[0]):
        k = t[i] - lo
        links[k] = v[i]
        mult[k] = c[i]


def _similarity(covered, o_lo, o_hi, r_lo, r_hi, ngram):
    len_o = o_hi - o_lo + ngram
    len_r = r_hi - r_lo + ngram
    return min(1.0, 2.0 * covered / (len_o + len_r))


def _flush_chain(op, i, doc_r, out, n_out):
    """Write open chain ``op[i]`` of repeat document ``doc_r`` to ``out[n_out]`` if it has two
    seeds or more (a lone seed is a common phrase); returns the new ``n_out``."""
    if op[i, 7] < 2:
        return n_out
    out[n_out, 0] = op[i, 0]
    out[n_out, 1] = doc_r
    out[n_out, 2] = op[i, 3]
    out[n_out, 3] = op[i, 4]
    out[n_out, 4] = op[i, 5]
    out[n_out, 5] = op[i, 2]
    out[n_out, 6] = op[i, 6]
    return n_out + 1


def chains_from_pairs(original, repeat, token_bounds, ngram, diagonal_bin, gap, op, meta, final):
    """Chains of seeds, ``repeat`` ascending (each repeat token at most once).

    Returns an ``(n, 7)`` int64 array of ``doc_o, doc_r, o_lo, o_hi, r_lo,
    r_hi, covered``: the chains of at least two seeds that lie in the same
    diagonal bin ``(repeat - original) // diagonal_bin`` of the same pair of
    documents with at most ``gap`` tokens between consecutive repeats, as
    the numpy reference :func:`dedup.passages.chains_reference` finds them;
    and the array of open chains.

    Seeds may come in consecutive pieces (``repeat`` ascending across them):
    ``op`` (open chains: doc_o, bin, last repeat, o_lo, o_hi, r_lo, covered,
    seeds; start with :func:`new_chain_state`) and ``meta`` (``n_open, doc_r,
    doc_o``, updated in place) carry the state from one call to the next, and
    the chains still open are returned only when ``final``.
    """
    n = original.shape[0]
    n_open = meta[0]
    out = np.empty((max(16, n // 2 + 1 + n_open), 7), dtype=np.int64)
    n_out = 0
    n_docs = token_bounds.shape[0] - 1
    doc_r = meta[1]
    doc_o = meta[2]
    for s in range(n):
        o = original[s]
        r = repeat[s]
        if doc_r < 0 or r >= token_bounds[doc_r + 1]:
            # A new repeat document: every open chain is finished.
            for i in range(n_open):
                n_out = _flush_chain(op, i, doc_r, out, n_out)
            n_open = 0
            doc_r = np.searchsorted(token_bounds, r, side="right") - 1
        if not (token_bounds[doc_o] <= o < token_bounds[min(doc_o + 1, n_docs)]):
            doc_o = np.searchsorted(token_bounds, o, side="right") - 1
        bin_ = (r - o) // diagonal_bin
        found = -1
        k = 0
        for i in range(n_open):
            if r - op[i, 2] > gap:  # can never be continued: finished
                n_out = _flush_chain(op, i, doc_r, out, n_out)
                continue
            if k != i:
                op[k, :] = op[i, :]
            if op[k, 0] == doc_o and op[k, 1] == bin_:
                found = k
            k += 1
        n_open = k
        if found >= 0:
            op[found, 6] += min(r - op[found, 2], ngram)
            op[found, 2] = r
            op[found, 3] = min(op[found, 3], o)
            op[found, 4] = max(op[found, 4], o)
            op[found, 7] += 1
        else:
            if n_open == op.shape[0]:
                grown = np.zeros((2 * op.shape[0], 8), dtype=np.int64)
                grown[:n_open] = op[:n_open]
                op = grown
            op[n_open, 0] = doc_o
            op[n_open, 1] = bin_
            op[n_open, 2] = r
            op[n_open, 3] = o
            op[n_open, 4] = o
            op[n_open, 5] = r
            op[n_open, 6] = ngram
            op[n_open, 7] = 1
            n_open += 1
    if final:
        for i in range(n_open):
            n_out = _flush_chain(op, i, doc_r, out, n_out)
        n_open = 0
    meta[0] = n_open
    meta[1] = doc_r
    meta[2] = doc_o
    return out[:n_out].copy(), op


def new_chain_state() -> tuple[np.ndarray, np.ndarray]:
    """Empty state for :func:`chains_from_pairs`: open chains and ``n_open, doc_r, doc_o``."""
    return np.zeros((64, 8), dtype=np.int64), np.array([0, -1, 0], dtype=np.int64)


def merge_chains(chains, order, ngram, threshold, merge_gap):
    """Maximal matches from chains taken in ``order``, which sorts them by ``doc_o, doc_r,
    r_lo, o_lo`` (same columns as :func:`chains_from_pairs`; read through ``order``, so no
    sorted copy is made), as the Python reference :func:`dedup.passages.merge_reference`."""
    n = order.shape[0]
    out = np.empty((max(n, 1), 7), dtype=np.int64)
    n_out = 0
    op = np.zeros((64, 7), dtype=np.int64)
    n_open = 0
    for s in range(n):
        c = chains[order[s]]
        if s == 0 or c[0] != chains[order[s - 1], 0] or c[1] != chains[order[s - 1], 1]:
            for i in range(n_open):
                out[n_out, :] = op[i, :]
                n_out += 1
            n_open = 0
        k = 0
        for i in range(n_open):
            if c[4] - op[i, 5] <= merge_gap:
                if k != i:
                    op[k, :] = op[i, :]
                k += 1
            else:
                out[n_out, :] = op[i, :]
                n_out += 1
        n_open = k
        best = -1
        best_sim = -1.0
        b_olo = b_ohi = b_rhi = b_cov = 0
        for i in range(n_open):
            gap_o = c[2] - op[i, 3]
            gap_r = c[4] - op[i, 5]
            if gap_o < -ngram or gap_r < -ngram or max(gap_o, gap_r) > merge_gap:
                continue
            overlap = max(0, min(op[i, 5] + ngram, c[5] + ngram) - c[4])
            o_lo = min(op[i, 2], c[2])
            o_hi = max(op[i, 3], c[3])
            r_hi = max(op[i, 5], c[5])
            cov = op[i, 6] + c[6] - min(overlap, c[6])
            sim = _similarity(cov, o_lo, o_hi, op[i, 4], r_hi, ngram)
            if sim >= threshold and sim > best_sim:
                best, best_sim = i, sim
                b_olo, b_ohi, b_rhi, b_cov = o_lo, o_hi, r_hi, cov
        if best < 0:
            if n_open == op.shape[0]:
                grown = np.zeros((2 * op.shape[0], 7), dtype=np.int64)
                grown[:n_open] = op[:n_open]
                op = grown
            op[n_open, :] = c
            n_open += 1
        else:
            op[best, 2] = b_olo
            op[best, 3] = b_ohi
            op[best, 5] = b_rhi
            op[best, 6] = b_cov
    for i in range(n_open):
        out[n_out, :] = op[i, :]
        n_out += 1
    return out[:n_out]


def choose_repeats(doc_r, r_lo, r_end, order, doc_lo, doc_hi):
    """Greedy choice in ``order`` (grouped by ``doc_r``): a repeat is kept unless it overlaps one
    kept before it in the same document. ``doc_lo``/``doc_hi`` are token bounds of each candidate's
    repeat document. Returns a boolean mask."""
    n = order.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    taken = np.zeros(0, dtype=np.bool_)
    base = 0
    i = 0
    while i < n:
        d = doc_r[order[i]]
        j = i
        while j < n and doc_r[order[j]] == d:
            j += 1
        base = doc_lo[order[i]]
        taken = np.zeros(doc_hi[order[i]] - base, dtype=np.bool_)
        for k in range(i, j):
            c = order[k]
            lo = r_lo[c] - base
            hi = r_end[c] - base
            free = True
            for t in range(lo, hi):
                if taken[t]:
                    free = False
                    break
            if free:
                keep[c] = True
                for t in range(lo, hi):
                    taken[t] = True
        i = j
    return keep


def trim_edges(mult, mult_bounds, lo, end, head_break, tail_break, doc_end, ngram, min_words):
    """Tokens to trim at each end of each repeat ``[lo, end)``: a short whole line at an edge that
    repeats more often than the passage (see :func:`dedup.passages.boilerplate_edges_reference`).

    ``mult[mult_bounds[k]:mult_bounds[k + 1]]`` is the multiplicity of tokens ``lo[k]:end[k]``;
    ``head_break[k, j]`` is whether a new line starts at token ``lo[k] + j`` (``j < min_words``),
    ``tail_break[k, j]`` whether one starts at token ``end[k] - min_words + j`` (``j <= min_words``).
    """
    n = lo.shape[0]
    cut_lo = np.zeros(n, dtype=np.int64)
    cut_hi = np.zeros(n, dtype=np.int64)
    for k in range(n):
        m = mult[mult_bounds[k] : mult_bounds[k + 1]]
        length = end[k] - lo[k]
        span = m[: max(1, length - ngram + 1)]
        positive = span[span > 0]
        if positive.shape[0] == 0:
            continue
        core = np.median(positive.astype(np.float64))
        # First line: starts at lo, ends at the next break (at most min_words - 1 tokens later).
        head = 0
        if head_break[k, 0]:
            for j in range(1, min_words):
                if j > length:
                    break
                if j == length:
                    if lo[k] + j == doc_end[k] or tail_break[k, min_words]:
                        head = j
                    break
                if head_break[k, j]:
                    head = j
                    break
        # Last line: ends at end (a break there), starts after the previous break.
        tail = 0
        if tail_break[k, min_words]:
            for j in range(1, min_words):
                if j >= length:
                    break
                if tail_break[k, min_words - j]:
                    tail = j
                    break
        if head > 0 and ngram <= head and m[: head - ngram + 1].min() > core:
            cut_lo[k] = head
        # The last line counts only when it is not the first line (a break lies inside the span).
        if tail > 0 and ngram <= tail and tail < length and m[length - tail : length - ngram + 1].min() > core:
            cut_hi[k] = tail
    return cut_lo, cut_hi
