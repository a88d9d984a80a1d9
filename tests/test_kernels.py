"""The compiled kernels give exactly what the numpy reference implementations give."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dedup
from dedup import _kernels, backend, sketch
from dedup import minhash as minhash_module
from dedup import text as text_module
from dedup.internal import text_lengths_reference

pytestmark = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")


def test_numba_backend_loads_the_kernels_for_any_input():
    with backend.use_backend("numba"):
        assert backend.kernels(1) is not None
    with backend.use_backend("numpy"):
        assert backend.kernels(1 << 40) is None


# Characters from every class the tokenizer knows: ASCII, Latin-1 accents, combining marks,
# Cyrillic, CJK, Thai, zero-width and format characters, punctuation, emoji (astral), controls.
alphabet = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E),
    st.sampled_from("éÉßﬁＡＢ\u0301\u0308\u200b\u200d\u00adЖжЁё東京は晴れภาษาไทย،؟—–“”’\n\t\x00\x0b"),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1F6FF),
    st.characters(codec="utf-8"),
)


def numpy_reference(fn, *args, **kwargs):
    """Call ``fn`` with the compiled kernels switched off."""
    with backend.use_backend("numpy"):
        return fn(*args, **kwargs)


def compiled(fn, *args, **kwargs):
    """Call ``fn`` on the compiled kernels, however small the input."""
    with backend.use_backend("numba"):
        return fn(*args, **kwargs)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(alphabet, max_size=60), max_size=6), st.sampled_from(["word", "char"]))
def test_tokenize_kernel_matches_numpy(texts: list[str], mode: str) -> None:
    expected = numpy_reference(text_module.tokenize, texts, mode=mode, offsets=True)
    got = compiled(text_module.tokenize, texts, mode=mode, offsets=True)
    for field in ("hashes", "bounds", "starts", "ends"):
        assert np.array_equal(getattr(got, field), getattr(expected, field)), field


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 2**32 - 1), max_size=40), max_size=12),
    st.sampled_from([2, 16, 128]),
    st.integers(0, 2**31),
)
def test_minhash_kernel_matches_numpy(docs: list[list[int]], num_perm: int, seed: int) -> None:
    hashes = np.array([h for d in docs for h in d], dtype=np.uint32)
    bounds = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    expected = numpy_reference(minhash_module.minhash, hashes, bounds, num_perm=num_perm, seed=seed)
    got = compiled(minhash_module.minhash, hashes, bounds, num_perm=num_perm, seed=seed)
    assert np.array_equal(got, expected)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(alphabet, max_size=80), max_size=6), st.integers(1, 7))
def test_shingle_kernel_matches_numpy(texts: list[str], ngram: int) -> None:
    tokens = text_module.tokenize(texts)
    expected = numpy_reference(text_module.shingle, tokens, ngram)
    got = compiled(text_module.shingle, tokens, ngram)
    for field in ("hashes", "bounds", "first_token"):
        assert np.array_equal(getattr(got, field), getattr(expected, field)), field


def test_tokenize_kernel_with_one_token_per_character() -> None:
    # Every CJK character is a token: as many tokens as characters.
    texts = ["東京は晴れ" * 2000, "🙂" * 500 + " word " * 100]
    expected = numpy_reference(text_module.tokenize, texts, offsets=True)
    got = compiled(text_module.tokenize, texts, offsets=True)
    assert got.counts().tolist() == [10000, 600]
    for field in ("hashes", "bounds", "starts", "ends"):
        assert np.array_equal(getattr(got, field), getattr(expected, field)), field


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(alphabet, max_size=80), max_size=6),
    st.integers(1, 6),
    st.sampled_from(["word", "char"]),
    st.sampled_from([2, 16, 128]),
)
def test_one_pass_sketch_matches_the_stages(texts: list[str], ngram: int, mode: str, num_perm: int) -> None:
    # sign_texts and shingle_hashes32 go through one kernel over UTF-8 bytes; the
    # reference chains tokenize -> shingle -> minhash on numpy.
    expected = numpy_reference(sketch.sign_texts, texts, ngram=ngram, num_perm=num_perm, mode=mode)
    assert np.array_equal(compiled(sketch.sign_texts, texts, ngram=ngram, num_perm=num_perm, mode=mode), expected)
    ref_hashes, ref_bounds = numpy_reference(sketch.shingle_hashes32, texts, ngram=ngram, mode=mode)
    hashes, bounds = compiled(sketch.shingle_hashes32, texts, ngram=ngram, mode=mode)
    assert np.array_equal(hashes, ref_hashes)
    assert np.array_equal(bounds, ref_bounds)


def test_one_pass_sketch_on_long_documents() -> None:
    # More tokens than the kernel buffers at once (its windows are carried over),
    # documents of exactly ngram - 1 and ngram tokens, ASCII next to other scripts.
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)] + ["Déjà", "東京", "Жж", "🙂", "a\u0301b"]
    texts = [" ".join(rng.choice(words, n)) for n in (20_000, 4, 5, 4_101, 1)] + ["", "a b c d e " * 900]
    for mode in ("word", "char"):
        expected = numpy_reference(sketch.sign_texts, texts, mode=mode)
        assert np.array_equal(compiled(sketch.sign_texts, texts, mode=mode), expected)
        ref_hashes, ref_bounds = numpy_reference(sketch.shingle_hashes32, texts, mode=mode)
        hashes, bounds = compiled(sketch.shingle_hashes32, texts, mode=mode)
        assert np.array_equal(hashes, ref_hashes)
        assert np.array_equal(bounds, ref_bounds)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(_kernels._PMAX - 3, _kernels._PMAX + 3), st.sampled_from(["x", "é", "東", "Ж"])),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 2),
)
def test_one_pass_sketch_on_tokens_around_the_power_table(words: list[tuple[int, str]], cut: int) -> None:
    # ASCII words of about _PMAX letters leave the branch-free loop for the general one
    # (powers of the base from the multiply chain): a non-ASCII letter at, before or after
    # the table's end must give the same hash as the stages.
    texts = [
        " ".join(("a" * n)[: n - cut] + odd + "b" * cut + " q r s" for n, odd in words),
        " ".join("z" * n for n, _ in words),
    ]
    expected = numpy_reference(sketch.sign_texts, texts, ngram=2, num_perm=16)
    assert np.array_equal(compiled(sketch.sign_texts, texts, ngram=2, num_perm=16), expected)
    ref_hashes, ref_bounds = numpy_reference(sketch.shingle_hashes32, texts, ngram=2)
    hashes, bounds = compiled(sketch.shingle_hashes32, texts, ngram=2)
    assert np.array_equal(hashes, ref_hashes)
    assert np.array_equal(bounds, ref_bounds)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab c\u00e9\u6771 "), max_size=40), min_size=1, max_size=6), st.data())
def test_pair_jaccard_kernel_matches_numpy(texts: list[str], data) -> None:
    n = len(texts)
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=10))
    left = np.array([p[0] for p in pairs], dtype=np.int64)
    right = np.array([p[1] for p in pairs], dtype=np.int64)
    expected = numpy_reference(sketch.pair_similarities, texts, left, right, ngram=2)
    got = compiled(sketch.pair_similarities, texts, left, right, ngram=2)
    assert np.array_equal(got, expected)
    for p, (i, j) in enumerate(pairs):
        assert got[p] == dedup.exact_jaccard(texts[i], texts[j], ngram=2)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 5),
    st.integers(0, 8),
    st.integers(0, 3),
    st.data(),
)
def test_band_key_kernel_matches_numpy(bands: int, rows: int, m: int, start: int, data) -> None:
    num_perm = bands * rows + data.draw(st.integers(0, 3))
    cells = st.sampled_from([0, 1, 7, 2**31, 2**32 - 2, 2**32 - 1])  # 2**32 - 1 is EMPTY
    sig = np.array(
        data.draw(st.lists(st.lists(cells, min_size=num_perm, max_size=num_perm), min_size=m, max_size=m)),
        dtype=np.uint32,
    ).reshape(m, num_perm)
    n = start + m + 2
    outputs = []
    for run in (numpy_reference, compiled):
        keys = np.full((bands, n), 5, dtype=np.uint64)
        empty = np.zeros(n, dtype=bool)
        empty[-1] = True
        run(dedup.lsh.write_band_keys, sig, bands, rows, keys, start, empty)
        outputs.append((keys, empty))
    (ref_keys, ref_empty), (keys, empty) = outputs
    assert np.array_equal(keys, ref_keys) and np.array_equal(empty, ref_empty)
    assert np.array_equal(ref_keys[:, start : start + m], dedup.lsh.band_keys(sig, bands, rows).T)
    assert ref_empty[start : start + m].tolist() == [bool((row == 2**32 - 1).all()) for row in sig]
    assert (ref_keys[:, :start] == 5).all() and (ref_keys[:, start + m :] == 5).all() and ref_empty[-1]


# Every kind of str CPython keeps: ASCII, Latin-1, UCS-2 (with lone surrogates, which
# "surrogatepass" encodes), UCS-4 (astral characters).
any_code_point = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.characters(min_codepoint=0x80, max_codepoint=0xFF),
    st.characters(min_codepoint=0x100, max_codepoint=0xFFFF),  # surrogates included
    st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
)


def test_str_layout_is_known_on_cpython() -> None:
    # Otherwise every batch would silently take the slower path through str.encode.
    import sys

    if sys.implementation.name == "cpython":
        assert _kernels.str_layout() is not None


def test_str_layout_is_found_after_a_shared_string_got_its_utf8_copy() -> None:
    # Any C call of PyUnicode_AsUTF8 (a library reading a path, a JSON key...) gives a string a cached
    # UTF-8 copy that sys.getsizeof counts: the layout must not be measured on such a shared string.
    import ctypes
    import sys

    if sys.implementation.name != "cpython":
        pytest.skip("CPython's str layout")
    as_utf8 = ctypes.pythonapi.PyUnicode_AsUTF8
    as_utf8.restype, as_utf8.argtypes = ctypes.c_char_p, [ctypes.py_object]
    for shared in ("\xe9", "", "a"):  # one-character and empty strings are cached singletons
        assert as_utf8(shared) == shared.encode()
    assert _kernels.str_layout() is not None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(any_code_point, max_size=30), max_size=8), st.integers(0, 64))
def test_texts_are_located_as_their_utf8_bytes(texts: list[str], room: int) -> None:
    import ctypes

    kernels = compiled(backend.kernels, 1)
    layout = kernels.str_layout
    ids = np.array([id(t) for t in texts], dtype=np.int64)
    addrs = np.zeros(len(texts), dtype=np.int64)
    sizes = np.zeros(len(texts), dtype=np.int64)
    scratch = np.zeros(room, dtype=np.uint8)
    need, astral = kernels.locate_texts(ids, layout, scratch, addrs, sizes)
    assert need >= sum(len(t.encode("utf-8", "surrogatepass")) for t in texts if not t.isascii())
    if need > room:  # too small: only the lengths written, the caller retries with `need` bytes
        assert not addrs.any() and sizes.tolist() == [len(t) for t in texts]
        scratch = np.zeros(need, dtype=np.uint8)
        need, astral = kernels.locate_texts(ids, layout, scratch, addrs, sizes)
    for t, address, size in zip(texts, addrs.tolist(), sizes.tolist()):
        assert ctypes.string_at(address, size) == t.encode("utf-8", "surrogatepass")
    assert np.array_equal(kernels.item_addresses(list(texts)), ids)
    # Lengths alone: any scratch too small leaves each text's length in characters.
    lengths = np.zeros(len(texts), dtype=np.int64)
    assert kernels.locate_texts(ids, layout, scratch[:0], addrs, lengths)[0] >= 0
    assert lengths.tolist() == [len(t) for t in texts]
    assert compiled(sketch.text_lengths, texts).tolist() == [len(t) for t in texts]
    assert np.array_equal(compiled(sketch.text_lengths, texts), text_lengths_reference(texts))
    assert astral == sum(ord(c) > 0xFFFF for t in texts for c in t)
    # Anything but an exact str is left to Python (which raises what it always raised).
    for other in (type("S", (str,), {})("abc"), b"abc", 3):
        assert kernels.locate_texts(np.array([id(other)], dtype=np.int64), layout, scratch, addrs, sizes)[0] == -1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(any_code_point, max_size=40), max_size=6), st.sampled_from(["word", "char"]))
def test_one_pass_sketch_reads_every_kind_of_str(texts: list[str], mode: str) -> None:
    # In place (plain str) and through str.encode (a str subclass) give the numpy reference's results.
    subclass = type("S", (str,), {})
    expected = numpy_reference(sketch.sign_texts, texts, ngram=2, num_perm=16, mode=mode)
    assert np.array_equal(compiled(sketch.sign_texts, texts, ngram=2, num_perm=16, mode=mode), expected)
    as_subclass = [subclass(t) for t in texts]
    assert np.array_equal(compiled(sketch.sign_texts, as_subclass, ngram=2, num_perm=16, mode=mode), expected)
    ref_hashes, ref_bounds = numpy_reference(sketch.shingle_hashes32, texts, ngram=2, mode=mode)
    hashes, bounds = compiled(sketch.shingle_hashes32, texts, ngram=2, mode=mode)
    assert np.array_equal(hashes, ref_hashes) and np.array_equal(bounds, ref_bounds)


def test_text_lengths_of_anything_a_list_can_hold() -> None:
    subclass = type("S", (str,), {})
    texts = ["ab", "", "h\u00e9", subclass("xyz"), "\U0001f642"]
    for container in (list, tuple):
        assert compiled(sketch.text_lengths, container(texts)).tolist() == [2, 0, 2, 3, 1]
    with pytest.raises(TypeError, match="got int at index 1"):
        compiled(sketch.text_lengths, ["ab", 3])
