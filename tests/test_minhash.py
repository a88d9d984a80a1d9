"""MinHash signatures (dedup.minhash, dedup.signatures) and datasketch interop.

What users rely on: a signature row is bit-identical to the ``datasketch.MinHash``
they would have built from the same 32-bit shingle hashes (so the two can be
mixed in one ``MinHashLSH``), Jaccard estimates are as accurate as MinHash
promises, and signatures never change between processes or machines.
"""

from __future__ import annotations

import os
import subprocess
import sys

import datasketch
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dedup
from dedup import EMPTY, from_datasketch, jaccard_estimate, shingle, signatures, to_datasketch, tokenize
from dedup.backend import use_backend
from dedup.minhash import minhash, permutations

U32 = st.integers(0, 2**32 - 1)


def identity(x):
    """datasketch hashfunc that feeds an already-computed 32-bit hash unchanged."""
    return x


def datasketch_minhash(hashes32, num_perm: int = 128, seed: int = 1) -> datasketch.MinHash:
    """datasketch's own MinHash of a set of 32-bit hashes (default scheme, affine32)."""
    m = datasketch.MinHash(num_perm=num_perm, seed=seed, hashfunc=identity)
    values = [int(h) for h in hashes32]
    if values:
        m.update_batch(values)
    return m


def shingle_hashes32(text: str, ngram: int = 5) -> np.ndarray:
    """The 32-bit shingle hashes dedup feeds to MinHash for one text."""
    return shingle(tokenize([text]), ngram=ngram).hashes32()


def minhash_every_path(hashes, bounds, **kwargs) -> list[np.ndarray]:
    """``minhash`` through each implementation the library has (compiled kernel, numpy)."""
    results = []
    for name in ("numba", "numpy"):
        with use_backend(name):
            results.append(minhash(hashes, bounds, **kwargs))
    return results


def pack(docs: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated uint32 hashes and int64 bounds, the input layout of ``minhash``."""
    bounds = np.zeros(len(docs) + 1, dtype=np.int64)
    bounds[1:] = np.cumsum([len(d) for d in docs])
    flat = np.array([h for d in docs for h in d], dtype=np.uint32)
    return flat, bounds


# --------------------------------------------------------------------------- datasketch equality


def test_permutations_are_datasketchs():
    for num_perm, seed in [(1, 1), (128, 1), (256, 42), (64, 0)]:
        a, b = permutations(num_perm, seed)
        ref = datasketch.MinHash(num_perm=num_perm, seed=seed).permutations
        assert np.array_equal(a, ref[0]) and np.array_equal(b, ref[1])


@given(
    st.lists(st.lists(U32, max_size=40), min_size=1, max_size=6),
    st.sampled_from([1, 16, 128, 256]),
    st.integers(0, 2**31 - 1),
)
def test_signatures_bit_identical_to_datasketch(docs, num_perm, seed):
    flat, bounds = pack(docs)
    expected = [datasketch_minhash(hashes, num_perm, seed).hashvalues for hashes in docs]
    for sigs in minhash_every_path(flat, bounds, num_perm=num_perm, seed=seed):
        assert sigs.shape == (len(docs), num_perm) and sigs.dtype == np.uint32
        for row, exp in zip(sigs, expected):
            assert np.array_equal(row, exp)


def test_large_batch_crossing_internal_blocks_matches_datasketch(backend):
    """Many documents of very different sizes, some empty, >20k shingles in total (each backend)."""
    rng = np.random.default_rng(7)
    sizes = [0, 1, 9000, 0, 3, 12000, 0, 0, 50, 1, *rng.integers(0, 300, 40).tolist(), 0]
    docs = [rng.integers(0, 2**32, s, dtype=np.uint64).tolist() for s in sizes]
    flat, bounds = pack(docs)
    expected = [datasketch_minhash(hashes, 64, 3).hashvalues for hashes in docs]
    sigs = minhash(flat, bounds, num_perm=64, seed=3)
    for d, hashes in enumerate(docs):
        assert np.array_equal(sigs[d], expected[d]), f"document {d} ({len(hashes)} shingles)"


def test_text_signatures_equal_datasketch_fed_dedups_shingle_hashes():
    texts = [
        "The quick brown fox jumps over the lazy dog near the river bank.",
        "Съешь же ещё этих мягких французских булок, да выпей чаю.",
        "東京は晴れ、今日はとても暑い一日でした。",
        "short",
        "",
    ]
    sigs = signatures(texts, num_perm=128, seed=5)
    for text, row in zip(texts, sigs):
        assert np.array_equal(row, datasketch_minhash(shingle_hashes32(text), 128, 5).hashvalues)


def test_a_signature_does_not_depend_on_its_batch():
    texts = [f"document number {i} says " + "word " * (i % 7) + str(i) for i in range(30)]
    together = signatures(texts, num_perm=32)
    for i in (0, 13, 29):
        assert np.array_equal(signatures([texts[i]], num_perm=32)[0], together[i])
    assert np.array_equal(np.concatenate(list(dedup.iter_signatures(iter(texts), num_perm=32))), together)


def test_empty_documents_have_the_empty_signature():
    sigs = signatures(["", "   ", "!!! ... ---", "word"], num_perm=16)
    assert (sigs[:3] == EMPTY).all()
    assert not (sigs[3] == EMPTY).all()
    # datasketch's empty MinHash has the same value in every slot.
    assert np.array_equal(sigs[0], datasketch.MinHash(num_perm=16).hashvalues)


def test_signatures_of_no_texts():
    assert signatures([], num_perm=8).shape == (0, 8)


def test_seed_changes_signatures():
    a = signatures(["one two three four five six"], seed=1)
    b = signatures(["one two three four five six"], seed=2)
    assert not np.array_equal(a, b)


# --------------------------------------------------------------------------- estimates

NUM_PERM = 256
# The estimate is the mean of num_perm Bernoulli(J) slot agreements: standard
# error sqrt(J (1 - J) / num_perm) <= 0.5 / 16 = 0.03125 at 256 permutations.
# 0.15 is 4.8 standard errors at the worst case J = 0.5 (two-sided tail < 2e-6
# per pair), so the test fails only when the estimator is biased or broken.
BOUND = 0.15


@given(
    st.integers(50, 400),  # |A|
    st.integers(50, 400),  # |B|
    st.floats(0.0, 1.0),  # fraction of the smaller set shared
    st.integers(0, 2**32 - 1),
    st.booleans(),  # consecutive integers (structured input) or random 32-bit hashes
)
def test_jaccard_estimate_within_bound(size_a, size_b, shared_frac, rng_seed, consecutive):
    shared = int(shared_frac * min(size_a, size_b))
    total = size_a + size_b - shared
    if consecutive:
        universe = np.arange(rng_seed % 1000, rng_seed % 1000 + total, dtype=np.uint32)
    else:
        universe = np.unique(np.random.default_rng(rng_seed).integers(0, 2**32, total + 50, dtype=np.uint64))
        universe = np.random.default_rng(rng_seed + 1).permutation(universe)[:total].astype(np.uint32)
    a = universe[:size_a]
    b = universe[size_a - shared : size_a - shared + size_b]
    exact = len(np.intersect1d(a, b)) / len(np.union1d(a, b))
    flat = np.concatenate([a, b])
    sigs = minhash(flat, np.array([0, len(a), len(flat)]), num_perm=NUM_PERM)
    estimate = jaccard_estimate(sigs[0], sigs[1])
    assert abs(estimate - exact) <= BOUND, (estimate, exact)


def test_jaccard_estimate_on_texts_tracks_exact_jaccard():
    rng = np.random.default_rng(11)
    vocab = [f"w{i}" for i in range(5000)]
    base = rng.choice(vocab, 300).tolist()
    for changed in (0, 10, 30, 60, 150, 300):
        other = list(base)
        for k in rng.choice(300, changed, replace=False):
            other[k] = "zz" + vocab[rng.integers(5000)]
        exact = dedup.exact_jaccard(" ".join(base), " ".join(other))
        sigs = signatures([" ".join(base), " ".join(other)], num_perm=NUM_PERM)
        assert abs(jaccard_estimate(sigs[0], sigs[1]) - exact) <= BOUND


def test_jaccard_estimate_rowwise_and_empty():
    sigs = signatures(["a b c d e f", "a b c d e f", "x y z w v u", ""], num_perm=64)
    assert jaccard_estimate(sigs[0], sigs[1]) == 1.0
    # Row-wise on two (n, num_perm) arrays.
    est = jaccard_estimate(sigs[[0, 0, 2]], sigs[[1, 2, 3]])
    assert est.shape == (3,) and est[0] == 1.0 and est[1] < 0.2 and est[2] == 0.0
    # Two empty documents are not "identical": estimate 0, not 1.
    assert jaccard_estimate(sigs[3], sigs[3]) == 0.0


# --------------------------------------------------------------------------- interop


def test_to_datasketch_and_back_round_trips():
    sigs = signatures(["the quick brown fox jumps over the lazy dog", "nothing"], num_perm=64, seed=9)
    for lean in (False, True):
        m = to_datasketch(sigs[0], seed=9, lean=lean)
        assert isinstance(m, datasketch.LeanMinHash if lean else datasketch.MinHash)
        assert m.scheme == "affine32" and len(m) == 64 and m.seed == 9
        assert np.array_equal(from_datasketch(m), sigs[0])
    # datasketch's Jaccard on converted sketches is dedup's estimate.
    m0, m1 = to_datasketch(sigs[0], seed=9), to_datasketch(sigs[1], seed=9)
    assert m0.jaccard(m1) == pytest.approx(jaccard_estimate(sigs[0], sigs[1]))


def test_converted_minhash_keeps_accepting_updates_like_datasketch():
    """A converted sketch carries the right permutations: updating it equals datasketch."""
    first, more = shingle_hashes32("alpha beta gamma delta epsilon zeta"), [123, 456789, 2**32 - 1]
    m = to_datasketch(minhash(first, np.array([0, len(first)]), num_perm=32, seed=4)[0], seed=4)
    m.hashfunc = identity
    m.update_batch(more)
    assert np.array_equal(m.hashvalues, datasketch_minhash(list(first) + more, 32, 4).hashvalues)


def test_from_datasketch_refuses_the_legacy_scheme():
    legacy = datasketch.MinHash(num_perm=16, scheme="legacy")
    with pytest.raises(ValueError, match="affine32"):
        from_datasketch(legacy)


def test_from_datasketch_of_a_datasketch_built_sketch():
    hashes = shingle_hashes32("one two three four five six seven eight")
    m = datasketch.LeanMinHash(datasketch_minhash(hashes, 128, 1))
    assert np.array_equal(from_datasketch(m), signatures(["one two three four five six seven eight"])[0])


ARTICLE = (
    "The committee met on Tuesday to discuss the new budget for the regional "
    "railway network, which has suffered from years of underinvestment and "
    "frequent delays on its busiest commuter lines during the winter months. "
    "Members agreed that the timetable must be simplified before any new "
    "rolling stock is ordered from the manufacturers next spring."
)


@pytest.mark.parametrize("lean", [False, True])
def test_dedup_signature_is_found_by_datasketch_lsh(lean):
    """Insert dedup's signature into a datasketch MinHashLSH; query with datasketch's
    own MinHash of a near-duplicate built from the same 32-bit shingle hashes."""
    near = ARTICLE.replace("Tuesday", "Wednesday").replace("next spring", "next spring.")
    unrelated = "A recipe for lemon cake: mix flour, sugar, butter and three eggs, bake for forty minutes."
    lsh = datasketch.MinHashLSH(threshold=0.5, num_perm=128)
    sigs = signatures([ARTICLE, unrelated], num_perm=128)
    lsh.insert("article", to_datasketch(sigs[0], lean=lean))
    lsh.insert("cake", to_datasketch(sigs[1], lean=lean))
    query = datasketch_minhash(shingle_hashes32(near))
    assert dedup.exact_jaccard(ARTICLE, near) > 0.7
    assert lsh.query(query) == ["article"]
    # And the other way round: a datasketch sketch in the index, dedup's signature as the query.
    lsh2 = datasketch.MinHashLSH(threshold=0.5, num_perm=128)
    lsh2.insert("near", query)
    assert lsh2.query(to_datasketch(signatures([ARTICLE])[0], lean=lean)) == ["near"]


# --------------------------------------------------------------------------- process independence

_SIGNATURE_SCRIPT = """
import hashlib, dedup
texts = ["Hello, world! This is a test of hashing.", "Привет мир, это тест", "東京は晴れ 🍕", "a"]
sig = dedup.signatures(texts, num_perm=64, seed=3)
tok = dedup.tokenize(texts).hashes
print(hashlib.sha256(sig.tobytes() + tok.tobytes()).hexdigest())
"""


def test_signatures_do_not_depend_on_pythonhashseed():
    """This process (random or inherited hash seed) and a child with another fixed seed agree."""
    here: dict = {}
    exec(_SIGNATURE_SCRIPT.replace("print(", "result = ("), here)
    other_seed = "12345" if os.environ.get("PYTHONHASHSEED") != "12345" else "54321"
    env = dict(os.environ, PYTHONHASHSEED=other_seed)
    out = subprocess.run([sys.executable, "-c", _SIGNATURE_SCRIPT], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == here["result"]
    # The child really does hash str differently from this process.
    child_hash = subprocess.run(
        [sys.executable, "-c", "print(hash('dedup'))"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert int(child_hash) != hash("dedup")


def test_minhash_rejects_bad_num_perm():
    with pytest.raises(ValueError, match="num_perm"):
        permutations(0, 1)
    with pytest.raises(ValueError, match="num_perm"):
        signatures(["a b c"], num_perm=1)
