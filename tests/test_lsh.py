"""LSH banding (dedup.lsh): parameter choice, band keys, candidate pairs.

What users rely on: ``(bands, rows)`` are chosen exactly as datasketch chooses
them; with the same ``(bands, rows)`` dedup's index finds the same candidate
pairs as ``datasketch.MinHashLSH``; large buckets never blow up quadratically
yet stay connected; empty documents are never candidates.
"""

from __future__ import annotations

import itertools

import datasketch
import numpy as np
import pytest
from datasketch.lsh import _optimal_param
from hypothesis import given
from hypothesis import strategies as st

from dedup import (
    EMPTY,
    LSHIndex,
    clusters_from_pairs,
    collision_probability,
    optimal_bands,
    shingle,
    signatures,
    to_datasketch,
    tokenize,
)
from dedup.lsh import RECALL_MARGIN, band_keys, candidate_pairs
from dedup.minhash import minhash


def identity(x):
    return x


def make_corpus(seed: int, n_families: int = 60) -> list[str]:
    """Families of near-duplicates: a base text and copies with 2-40% of words replaced."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(3000)]
    texts = []
    for _ in range(n_families):
        base = rng.choice(vocab, int(rng.integers(30, 120))).tolist()
        texts.append(" ".join(base))
        for rate in rng.choice([0.0, 0.02, 0.05, 0.1, 0.2, 0.4], int(rng.integers(0, 5))):
            copy = list(base)
            for k in np.flatnonzero(rng.random(len(copy)) < rate):
                copy[k] = vocab[int(rng.integers(len(vocab)))]
            texts.append(" ".join(copy))
    order = rng.permutation(len(texts))  # families scattered through the corpus
    return [texts[i] for i in order]


def datasketch_pairs(sketches, bands: int, rows: int, num_perm: int) -> set[tuple[int, int]]:
    """All candidate pairs of a datasketch MinHashLSH with params (bands, rows)."""
    lsh = datasketch.MinHashLSH(num_perm=num_perm, params=(bands, rows))
    for i, m in enumerate(sketches):
        lsh.insert(i, m)
    pairs = set()
    for i, m in enumerate(sketches):
        pairs.update((min(i, j), max(i, j)) for j in lsh.query(m) if j != i)
    return pairs


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("num_perm", [16, 64, 128])
def test_optimal_bands_equals_datasketch(num_perm):
    for threshold in (0.1, 0.25, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        assert optimal_bands(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5), threshold


@pytest.mark.parametrize("weights", [(0.3, 0.7), (0.8, 0.2)])
def test_optimal_bands_with_weights_equals_datasketch(weights):
    for threshold in (0.5, 0.7, 0.9):
        assert optimal_bands(threshold, 128, *weights) == _optimal_param(threshold, 128, *weights)


def test_optimal_bands_equals_datasketch_at_256():
    for threshold in (0.5, 0.8):
        assert optimal_bands(threshold, 256) == _optimal_param(threshold, 256, 0.5, 0.5)


def test_documented_defaults():
    # docs/lsh.md quotes these numbers.
    assert optimal_bands(0.8, 128) == (9, 13)  # datasketch's choice for threshold 0.8
    assert optimal_bands(0.7, 128) == (14, 9)  # dedup's default for threshold 0.8 (tuned at 0.7)


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.01, float("nan")])
def test_optimal_bands_rejects_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        optimal_bands(threshold, 128)


def test_optimal_bands_rejects_tiny_num_perm():
    with pytest.raises(ValueError, match="num_perm"):
        optimal_bands(0.5, 1)


def test_collision_probability_is_the_s_curve():
    s = np.array([0.0, 0.3, 0.5, 0.8, 1.0])
    assert np.allclose(collision_probability(s, 14, 9), 1 - (1 - s**9) ** 14)
    assert collision_probability(1.0, 14, 9) == 1.0 and collision_probability(0.0, 14, 9) == 0.0


def test_empirical_candidate_rate_follows_the_s_curve():
    """Across many random pairs of known Jaccard, the candidate rate matches 1-(1-s^r)^b."""
    bands, rows, n_pairs = 8, 4, 400
    rng = np.random.default_rng(3)
    sigs = []
    for _ in range(n_pairs):  # each pair: |A| = |B| = 60 random hashes, 40 shared -> J = 0.5
        pool = rng.integers(0, 2**32, 80, dtype=np.uint64).astype(np.uint32)
        sigs.append(pool[:60])
        sigs.append(pool[20:])
    flat = np.concatenate(sigs)
    sig = minhash(flat, np.arange(0, len(flat) + 1, 60), num_perm=bands * rows)
    keys = band_keys(sig, bands, rows)
    hit = (keys[0::2] == keys[1::2]).any(axis=1).mean()
    expected = float(collision_probability(0.5, bands, rows))  # 0.40
    # Binomial standard error over 400 pairs is 0.025; allow 4 of them.
    assert abs(hit - expected) < 0.1, (hit, expected)


# --------------------------------------------------------------------------- datasketch differential


@pytest.mark.parametrize("bands,rows", [(16, 8), (32, 4), (9, 13), (14, 9), (20, 5)])
def test_same_candidate_pairs_as_datasketch(bands, rows):
    num_perm = 128
    texts = make_corpus(seed=bands * 100 + rows)
    sig = signatures(texts, num_perm=num_perm)
    index = LSHIndex(num_perm=num_perm, bands=bands, rows=rows)
    index.add(sig)
    ours = {tuple(p) for p in index.candidate_pairs().tolist()}

    # Same buckets as datasketch fed dedup's signatures...
    assert ours == datasketch_pairs([to_datasketch(row) for row in sig], bands, rows, num_perm)
    # ...and as datasketch fed its own MinHash of the same 32-bit shingle hashes.
    own = []
    for text in texts:
        m = datasketch.MinHash(num_perm=num_perm, hashfunc=identity)
        m.update_batch(shingle(tokenize([text]), 5).hashes32().tolist())
        own.append(m)
    assert ours == datasketch_pairs(own, bands, rows, num_perm)
    # The corpus is not trivial: it has candidates, and not everything is one.
    assert 10 < len(ours) < len(texts) * 5


def test_query_matches_datasketch_query():
    texts = make_corpus(seed=5, n_families=30)
    sig = signatures(texts, num_perm=64)
    index = LSHIndex(num_perm=64, bands=16, rows=4)
    index.add(sig)
    lsh = datasketch.MinHashLSH(num_perm=64, params=(16, 4))
    for i, row in enumerate(sig):
        lsh.insert(i, to_datasketch(row))
    for i in range(0, len(texts), 3):
        assert index.query(sig[i]) == sorted(lsh.query(to_datasketch(sig[i])))


# --------------------------------------------------------------------------- keys and buckets


def test_band_keys_equal_exactly_when_band_rows_equal():
    rng = np.random.default_rng(0)
    sig = rng.integers(0, 2**32, (50, 24), dtype=np.uint64).astype(np.uint32)
    sig[1] = sig[0]
    sig[2, :4] = sig[0, :4]  # band 0 equal only
    sig[3, 20:] = sig[0, 20:]  # slots past bands * rows are ignored
    keys = band_keys(sig, 5, 4)
    assert keys.shape == (50, 5) and keys.dtype == np.uint64
    assert (keys[1] == keys[0]).all()
    assert (keys[2] == keys[0]).tolist() == [True, False, False, False, False]
    assert not (keys[3] == keys[0]).any()
    # No accidental equality between different random rows.
    for band in range(5):
        assert len(np.unique(keys[3:, band])) == 47


def test_band_keys_reject_too_many_bands():
    with pytest.raises(ValueError, match="num_perm"):
        band_keys(np.zeros((2, 16), np.uint32), 5, 4)


@given(
    st.lists(st.lists(st.integers(0, 3), min_size=3, max_size=3), min_size=0, max_size=25),
    st.integers(1, 30),
)
def test_candidate_pairs_against_brute_force(key_rows, window):
    """Every pair shares a bucket; with a window covering the buckets, all such pairs appear;
    with any window, each bucket stays connected."""
    keys = np.array(key_rows, dtype=np.uint64).reshape(-1, 3)
    n = len(keys)
    truth = {(i, j) for i, j in itertools.combinations(range(n), 2) if (keys[i] == keys[j]).any()}
    pairs = candidate_pairs(keys, window=window)
    got = {tuple(p) for p in pairs.tolist()}
    assert got <= truth
    assert all(i < j for i, j in got)
    assert pairs.tolist() == sorted(pairs.tolist())  # sorted and unique
    assert len(set(map(tuple, pairs.tolist()))) == len(pairs)
    largest_bucket = (
        max((int(np.unique(keys[:, b], return_counts=True)[1].max()) for b in range(3)), default=0) if n else 0
    )
    if window >= largest_bucket - 1:
        assert got == truth
    assert clusters_from_pairs(n, pairs) == clusters_from_pairs(n, np.array(sorted(truth)).reshape(-1, 2))


def _candidate_pairs_by_stable_sort(keys: np.ndarray, window: int) -> np.ndarray:
    """The reference: each band stably sorted, each member paired with the next ``window``."""
    n, bands = keys.shape
    found = set()
    for band in range(bands):
        order = np.argsort(keys[:, band], kind="stable").tolist()
        column = keys[order, band].tolist()
        for a in range(n):
            for b in range(a + 1, min(a + window, n - 1) + 1):
                if column[a] == column[b]:
                    found.add((min(order[a], order[b]), max(order[a], order[b])))
    return np.array(sorted(found), dtype=np.int64).reshape(-1, 2)


@given(
    st.lists(st.lists(st.integers(0, 2), min_size=2, max_size=2), min_size=0, max_size=60),
    st.integers(1, 6),
)
def test_candidate_pairs_equal_the_stable_sort_reference(key_rows, window):
    """Buckets larger than the window: which pairs come out depends on the order of the ids."""
    keys = np.array(key_rows, dtype=np.uint64).reshape(-1, 2) * np.uint64(0x9E3779B97F4A7C15)
    assert np.array_equal(candidate_pairs(keys, window=window), _candidate_pairs_by_stable_sort(keys, window))


def test_large_bucket_is_linear_and_connected():
    n, window = 2000, 8
    keys = np.zeros((n, 2), dtype=np.uint64)  # one bucket of 2000 documents in both bands
    pairs = candidate_pairs(keys, window=window)
    assert len(pairs) <= n * window  # not n * (n - 1) / 2 = 1999000
    assert clusters_from_pairs(n, pairs) == [list(range(n))]


def test_index_ignores_empty_signatures():
    sig = signatures(["", "   ", "!!!", "a b c d e f", "a b c d e f"], num_perm=32)
    index = LSHIndex(num_perm=32, bands=8, rows=4)
    index.add(sig)
    assert index.candidate_pairs().tolist() == [[3, 4]]
    assert index.query(np.full(32, EMPTY, dtype=np.uint32)) == []
    assert index.query(sig[3]) == [3, 4]


def test_index_batches_get_consecutive_ids():
    texts = make_corpus(seed=9, n_families=20)
    sig = signatures(texts, num_perm=64)
    whole = LSHIndex(threshold=0.5, num_perm=64)
    whole.add(sig)
    parts = LSHIndex(threshold=0.5, num_perm=64)
    for lo in range(0, len(sig), 7):
        parts.add(sig[lo : lo + 7])
        parts.candidate_pairs()  # interleaved reads must not lose later batches
    assert len(parts) == len(whole) == len(texts)
    assert np.array_equal(parts.candidate_pairs(), whole.candidate_pairs())


def test_index_parameter_errors():
    with pytest.raises(ValueError, match="bands"):
        LSHIndex(num_perm=128, bands=8)
    with pytest.raises(ValueError, match="num_perm"):
        LSHIndex(num_perm=16, bands=5, rows=4)
    with pytest.raises(ValueError, match="threshold"):
        LSHIndex(threshold=1.5)
    index = LSHIndex(num_perm=32)
    with pytest.raises(ValueError, match="32"):
        index.add(np.zeros((3, 64), np.uint32))


def test_index_bands_like_find_duplicates_by_default():
    # One banding rule for every engine: tuned RECALL_MARGIN below the threshold.
    index = LSHIndex(threshold=0.8, num_perm=128)
    assert (index.bands, index.rows) == optimal_bands(0.8 - RECALL_MARGIN, 128) == (18, 7)
    # datasketch's banding for the threshold itself stays one argument away.
    exact = LSHIndex(threshold=0.8, num_perm=128, recall_margin=0.0)
    assert (exact.bands, exact.rows) == optimal_bands(0.8, 128) == (9, 13)


def test_empty_index_answers_nothing():
    index = LSHIndex(num_perm=32)
    probe = signatures(["a b c d e f g"], num_perm=32)[0]
    assert index.query(probe) == []
    assert index.candidate_pairs().shape == (0, 2)
    index.add(np.zeros((0, 32), np.uint32))
    assert index.query(probe) == []


@given(
    st.lists(st.lists(st.integers(0, 2), min_size=8, max_size=8), min_size=1, max_size=30),
    st.lists(st.integers(0, 2), min_size=8, max_size=8),
    st.integers(1, 4),
)
def test_query_equals_a_scan_of_every_band(rows_, probe_row, batch):
    """Bisection in the sorted band keys finds exactly the ids a full scan finds, across added batches."""
    sig = np.array(rows_, dtype=np.uint32)
    probe = np.array(probe_row, dtype=np.uint32)
    index = LSHIndex(num_perm=8, bands=4, rows=2)
    for lo in range(0, len(sig), batch):
        index.add(sig[lo : lo + batch])
        index.query(probe)  # a query between adds must not hide later batches
    keys = band_keys(sig, 4, 2)
    want = np.flatnonzero((keys == band_keys(probe[None, :], 4, 2)).any(axis=1)).tolist()
    assert index.query(probe) == want


def test_query_rejects_a_signature_of_another_length():
    index = LSHIndex(num_perm=32)
    index.add(signatures(["a b c d e f g"], num_perm=32))
    with pytest.raises(ValueError, match="32"):
        index.query(np.zeros(16, np.uint32))
