"""Passages at scale: the compiled kernels give what their numpy / Python references give; the
spilled, pieced and in-memory seed paths give the same matches, from the library and the CLI."""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dedup
from dedup import _kernels, _passage_kernels, passage_seeds, passages
from dedup.text import tokenize

needs_numba = pytest.mark.skipif(not _kernels.AVAILABLE, reason="numba is not installed")


@pytest.fixture(scope="module")
def kernels():
    """The compiled kernels (small test inputs would stay on the reference path)."""
    if not _kernels.AVAILABLE:
        pytest.skip("numba is not installed")
    loaded = _passage_kernels.compiled(_kernels.MIN_WORK)
    assert loaded is not None
    return loaded


def rows(a: np.ndarray) -> list[tuple[int, ...]]:
    return sorted(map(tuple, np.asarray(a).tolist()))


@st.composite
def seeds(draw):
    """Token bounds of a few documents and seeds (one per repeat token, original earlier)."""
    sizes = draw(st.lists(st.integers(0, 60), min_size=1, max_size=5))
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    total = int(bounds[-1])
    if total < 2:
        return bounds, np.zeros(0, np.int64), np.zeros(0, np.int64)
    rng = random.Random(draw(st.integers(0, 2**32)))
    repeats, originals = [], []
    shift = rng.randint(1, total - 1)
    for r in range(1, total):
        if rng.random() < draw(st.sampled_from([0.3, 0.9])):
            continue
        # Mostly runs along one diagonal (copied passages), sometimes a jump.
        if rng.random() < 0.1:
            shift = rng.randint(1, r)
        originals.append(max(0, r - min(shift, r)))
        repeats.append(r)
    return bounds, np.array(originals, dtype=np.int64), np.array(repeats, dtype=np.int64)


@needs_numba
@settings(max_examples=150, deadline=None)
@given(seeds(), st.integers(1, 6))
def test_chains_kernel_equals_numpy_reference(kernels, data, ngram) -> None:
    bounds, original, repeat = data
    state, meta = _passage_kernels.new_chain_state()
    got, _ = kernels.chains_from_pairs(
        original, repeat, bounds, ngram, passages._DIAGONAL_BIN, passages._CHAIN_GAP, state, meta, True
    )
    expected = rows(passages.chains_reference(original, repeat, bounds, ngram))
    assert rows(got) == expected
    # In pieces, the open chains carried from one call to the next: the same chains.
    cuts = sorted(random.Random(len(repeat)).sample(range(len(repeat) + 1), min(3, len(repeat) + 1)))
    state, meta = _passage_kernels.new_chain_state()
    parts = []
    for lo, hi in zip([0, *cuts], [*cuts, len(repeat)]):
        part, state = kernels.chains_from_pairs(
            original[lo:hi],
            repeat[lo:hi],
            bounds,
            ngram,
            passages._DIAGONAL_BIN,
            passages._CHAIN_GAP,
            state,
            meta,
            False,
        )
        parts.append(part)
    last, _ = kernels.chains_from_pairs(
        original[:0], repeat[:0], bounds, ngram, passages._DIAGONAL_BIN, passages._CHAIN_GAP, state, meta, True
    )
    assert rows(np.concatenate([*parts, last])) == expected


@needs_numba
@settings(max_examples=150, deadline=None)
@given(seeds(), st.integers(1, 6), st.sampled_from([0.5, 0.8, 0.95]))
def test_merge_kernel_equals_python_reference(kernels, data, ngram, threshold) -> None:
    bounds, original, repeat = data
    chains = passages.chains_reference(original, repeat, bounds, ngram)
    order = np.lexsort((chains[:, 2], chains[:, 4], chains[:, 1], chains[:, 0]))
    got = kernels.merge_chains(chains, order, ngram, threshold, passages._MERGE_GAP)  # read through order
    assert rows(got) == rows(passages.merge_reference(np.ascontiguousarray(chains[order]), ngram, threshold))


@needs_numba
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 80), st.integers(1, 30), st.integers(1, 50)), max_size=40))
def test_overlap_choice_kernel_equals_python_reference(kernels, items) -> None:
    bounds = np.array([0, 120, 240, 360], dtype=np.int64)
    # Distinct repeat starts per document, as merged chains have.
    seen, kept = set(), []
    for doc, lo, length, covered in items:
        if (doc, lo) not in seen:
            seen.add((doc, lo))
            kept.append((doc, bounds[doc] + lo, bounds[doc] + lo + length, covered))
    arr = np.array(kept, dtype=np.int64).reshape(-1, 4)
    zero = np.zeros(len(arr), dtype=np.int64)
    c = passages.Candidates(zero, arr[:, 0], zero, zero, arr[:, 1], arr[:, 2], arr[:, 3], zero.astype(float))
    order = np.lexsort((c.r_lo, -c.covered, c.doc_r))
    got = kernels.choose_repeats(c.doc_r, c.r_lo, c.r_end, order, bounds[c.doc_r], bounds[c.doc_r + 1])
    assert got.tolist() == passages.choose_reference(c).tolist()


@needs_numba
@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 9), min_size=1, max_size=12),
    st.integers(0, 2**32),
    st.integers(2, 4),
    st.integers(5, 12),
)
def test_trim_kernel_equals_reference(kernels, line_lengths, seed, ngram, min_words) -> None:
    """Boilerplate edges from line breaks around the span equal the whole-document reference."""
    rng = random.Random(seed)
    token_line = np.repeat(np.arange(len(line_lengths)), line_lengths)
    n = len(token_line)
    base = rng.randint(0, 50)
    mult = np.zeros(base + n + 5, dtype=np.int64)
    mult[base : base + max(0, n - ngram + 1)] = [rng.choice([1, 2, 2, 3, 9]) for _ in range(max(0, n - ngram + 1))]
    lo = base + rng.randint(0, n - 1)
    end = rng.randint(lo + 1, base + n)
    expected = passages.boilerplate_edges_reference(token_line, base, lo, end, mult, ngram, min_words)

    def brk(t: int) -> bool:
        return t <= base or t >= base + n or token_line[t - base] != token_line[t - 1 - base]

    head = np.array([[brk(min(lo + j, end - 1)) for j in range(min_words)]])
    tail = np.array([[brk(max(end - min_words + j, lo) if j < min_words else end) for j in range(min_words + 1)]])
    for fn in (kernels.trim_edges, _passage_kernels.python().trim_edges):
        cut_lo, cut_hi = fn(
            mult[lo:end],
            np.array([0, end - lo]),
            np.array([lo]),
            np.array([end]),
            head,
            tail,
            np.array([base + n]),
            ngram,
            min_words,
        )
        assert (int(cut_lo[0]), int(cut_hi[0])) == expected


@needs_numba
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=1, max_size=6), st.integers(1, 5), st.integers(0, 2**32))
def test_links_kernel_equals_numpy_reference(kernels, sizes, ngram, seed) -> None:
    rng = np.random.default_rng(seed)
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    n_keys = int(np.maximum(np.diff(bounds) - ngram + 1, 0).sum())
    hashes = rng.integers(0, 6, size=n_keys).astype(np.uint64) << np.uint64(60)  # many equal shingles
    total = int(bounds[-1])
    bits = max(1, total.bit_length())
    packed = hashes.copy()
    kernels.pack_keys(packed, bounds, ngram, bits)
    reference = hashes >> np.uint64(bits) << np.uint64(bits) | passage_seeds._full_positions(bounds, ngram).astype(
        np.uint64
    )
    assert packed.tolist() == reference.tolist()
    packed.sort()
    links = np.full(total, passage_seeds.NO_SHINGLE, dtype=np.int64)
    kernels.links_from_sorted(packed, bits, links)
    expected = np.full(total, passage_seeds.NO_SHINGLE, dtype=np.int64)
    pos, link, count = passage_seeds._link_numpy(packed, bits)
    expected[pos] = link
    assert links.tolist() == expected.tolist()
    records = [np.zeros(len(packed), dtype=np.int64) for _ in range(3)]  # the spill mode's records
    kernels.link_records(packed, bits, *records)
    assert [r.tolist() for r in records] == [pos.tolist(), link.tolist(), count.tolist()]


@needs_numba
@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3000),
    st.sampled_from([2, 6, 40, 10**6]),
    st.sampled_from([1, 4, 64, 1 << 15]),
    st.sampled_from([1, 8, 1 << 17]),
    st.integers(0, 2),
    st.integers(0, 2**32),
)
def test_links_from_buckets_equal_the_sorted_reference(kernels, n, distinct, bucket, table_max, skip, seed) -> None:
    """Keys grouped in buckets, linked with a table per bucket (or sorted when a bucket is too
    big or has too many distinct hashes): the links and records of the sorted scan."""
    rng = np.random.default_rng(seed)
    shared = np.uint64(rng.integers(0, 1 << skip)) << np.uint64(64 - skip) if skip else np.uint64(0)
    pool = rng.integers(0, 2**63, size=distinct, dtype=np.uint64) * np.uint64(2) >> np.uint64(skip) | shared
    hashes = pool[rng.integers(0, distinct, size=n)]
    bits = max(1, n.bit_length())
    packed = hashes >> np.uint64(bits) << np.uint64(bits) | rng.permutation(n).astype(np.uint64)
    expected = np.full(n, passage_seeds.NO_SHINGLE, dtype=np.int64)
    pos, link, count = passage_seeds._link_numpy(np.sort(packed), bits)
    expected[pos] = link
    links = np.full(n, passage_seeds.NO_SHINGLE, dtype=np.int64)
    passage_seeds._link(kernels, packed.copy(), bits, links, skip, bucket=bucket, table_max=table_max)
    assert links.tolist() == expected.tolist()
    in_place = packed.copy()  # the records written over the keys: position high, link low
    passage_seeds._link(kernels, in_place, bits, in_place, skip, bucket=bucket, table_max=table_max)
    low = (in_place & np.uint64(0xFFFFFFFF)).astype(np.int64)
    over = np.full(n, passage_seeds.NO_SHINGLE, dtype=np.int64)
    over[(in_place >> np.uint64(32)).astype(np.int64)] = np.where(low >= 1 << 31, low - (1 << 32), low)
    assert over.tolist() == expected.tolist()
    records = tuple(np.zeros(n, dtype=np.int64) for _ in range(3))
    passage_seeds._link(kernels, packed.copy(), bits, records, skip, bucket=bucket, table_max=table_max)
    order = np.argsort(records[0])
    assert [r[order].tolist() for r in records] == [
        pos[np.argsort(pos)].tolist(),
        *(a[np.argsort(pos)].tolist() for a in (link, count)),
    ]


def corpus(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]

    def para(n: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(n))

    shared = [para(40) for _ in range(4)]
    docs = []
    for _ in range(12):
        parts = [para(rng.randint(5, 60)) for _ in range(3)] + rng.sample(shared, 2)
        rng.shuffle(parts)
        docs.append("\n".join(parts))
    docs.append("")
    docs.append("\n".join(shared * 3))
    return docs


def as_tuples(matches) -> list[tuple]:
    return [(m.original, m.repeat, m.similarity) for m in matches]


def test_spilled_seeds_give_the_same_matches(tmp_path, monkeypatch) -> None:
    docs = corpus()
    expected = as_tuples(dedup.find_repeated_passages(docs, spill=False))
    assert expected
    # Tiny runs and chunks: many bucket files and many chunks.
    monkeypatch.setattr(passage_seeds, "RUN_SHINGLES", 97)
    monkeypatch.setattr(passage_seeds, "CHUNK_TOKENS", 150)  # chunks end inside documents
    monkeypatch.setattr(passage_seeds, "BUCKET_SHINGLES", 40)  # many buckets
    monkeypatch.setattr(passage_seeds, "UNKNOWN_SIZE_BUCKETS", 16)
    monkeypatch.setattr(passage_seeds, "FILE_CHUNK_TOKENS", 1)  # chunk files of CHUNK_TOKENS
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("not ours")
    assert as_tuples(dedup.find_repeated_passages(docs, spill=work)) == expected
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]  # spill files removed, others kept
    assert as_tuples(dedup.find_repeated_passages(docs, spill=True)) == expected
    assert as_tuples(dedup.find_repeated_passages(docs, spill=tmp_path / "new")) == expected
    assert not (tmp_path / "new").exists()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 12), st.integers(1, 40), st.integers(0, 2**32), st.booleans())
def test_spill_run_records_rebuild_the_in_memory_keys(n, bucket_bits, spread, seed, compiled) -> None:
    """A run's 8-byte records (hash above the position relative to the run's first, grouped by
    bucket) give back exactly the in-memory keys (hash above ``bits`` position bits)."""
    if compiled and not _kernels.AVAILABLE:
        return
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    first = int(rng.integers(0, 1 << 40))
    p = first + np.sort(rng.integers(0, n * spread + 1, size=n)).astype(np.int64)
    total = int(p.max()) + 1 + int(rng.integers(0, 1000)) if n else first
    bits = max(1, total.bit_length())
    kernels = _passage_kernels.compiled(_kernels.MIN_WORK) if compiled else None
    records = h.copy()
    counts, base, rb = passage_seeds._pack_run(kernels, records, p, bucket_bits)
    assert counts.sum() == n and len(counts) == 1 << bucket_bits
    expected = h >> np.uint64(bits) << np.uint64(bits) | p.astype(np.uint64)
    bucket = (h >> np.uint64(64 - bucket_bits)).astype(np.int64) if bucket_bits else np.zeros(n, np.int64)
    at = 0
    for b, c in enumerate(counts.tolist()):
        seg = records[at : at + c].copy()
        at += c
        # Split into two "runs" with the same base/width: each part is rebuilt on its own.
        half = c // 2
        passage_seeds._unpack_runs(seg, np.array([half, c - half]), np.array([base, base]), np.array([rb, rb]), bits)
        assert sorted(seg.tolist()) == sorted(expected[bucket == b].tolist())


@needs_numba
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2000), st.integers(1, 300), st.integers(1, 2000), st.integers(0, 2**32), st.booleans())
def test_link_records_grouped_and_scattered_like_the_reference(kernels, n, per_group, total, seed, wide) -> None:
    rng = np.random.default_rng(seed)
    dtype = passage_seeds._link_record((1 << 31) if wide else total)
    records = np.empty(n, dtype=dtype)
    records["t"] = rng.permutation(total)[:n] if n <= total else rng.integers(0, total, n)
    records["v"] = rng.integers(-100, total, n)
    records["c"] = rng.integers(1, 50, n)
    n_groups = -(-total // per_group)
    got, got_counts = passage_seeds._grouped(kernels, records.copy(), per_group, n_groups)
    expected, counts = passage_seeds._grouped(None, records.copy(), per_group, n_groups)
    assert got.tobytes() == expected.tobytes() and got_counts.tolist() == counts.tolist()
    t = np.unique(records["t"], return_index=True)[1]  # one record per token, as the links have
    unique = records[t]
    lo = int(rng.integers(0, 5))
    links, mult = np.full(total + 5, -7, dtype=np.int64), np.zeros(total + 5, dtype=np.int32)
    kernels.scatter_records(unique["t"], unique["v"], unique["c"], -lo, links, mult)
    ref_links, ref_mult = np.full(total + 5, -7, dtype=np.int64), np.zeros(total + 5, dtype=np.int32)
    ref_links[unique["t"] + lo], ref_mult[unique["t"] + lo] = unique["v"], unique["c"]
    assert links.tolist() == ref_links.tolist() and mult.tolist() == ref_mult.tolist()


@needs_numba
def test_spilled_seeds_with_compiled_kernels_give_the_same_matches(tmp_path, monkeypatch) -> None:
    docs = corpus()
    expected = as_tuples(dedup.find_repeated_passages(docs, spill=False))
    monkeypatch.setattr(passage_seeds, "RUN_SHINGLES", 301)
    monkeypatch.setattr(passage_seeds, "CHUNK_TOKENS", 150)
    monkeypatch.setattr(passage_seeds, "BUCKET_SHINGLES", 40)
    monkeypatch.setattr(passage_seeds, "FILE_CHUNK_TOKENS", 1)
    with dedup.use_backend("numba"):
        assert as_tuples(dedup.find_repeated_passages(docs, spill=tmp_path)) == expected
    assert list(tmp_path.iterdir()) == []


def test_long_documents_read_in_pieces_give_the_same_matches(monkeypatch) -> None:
    docs = corpus(1)
    one = ["\n\n".join(docs)]
    expected = [as_tuples(dedup.find_repeated_passages(d)) for d in (docs, one)]
    monkeypatch.setattr(passage_seeds, "PIECE_CHARS", 50)
    assert [as_tuples(dedup.find_repeated_passages(d)) for d in (docs, one)] == expected
    spans = [m.repeat for m in dedup.find_repeated_passages(one)]
    assert spans and all(one[0][s.start].isalnum() and one[0][s.end - 1].isalnum() for s in spans)


def _stream(texts: list[str], kernels, piece_chars: int) -> tuple[np.ndarray, ...]:
    """Shingle hashes, their positions, token bounds and token places of a seed stream."""
    counts, places = passage_seeds._Counts(), passage_seeds._Growing()
    if kernels is None:
        stream = passage_seeds._shingle_stream(texts, 4, 1, counts, places)
    else:
        batches = passage_seeds.batches(texts, piece_chars)
        stream = passage_seeds._fused_stream(kernels, batches, 4, counts, places)
    hashes, positions = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    for h, first, per_doc in stream:
        hashes.append(h.copy())
        if per_doc is None:
            positions.append(np.arange(first, first + len(h)))
        else:
            bounds = np.concatenate(([0], np.cumsum(per_doc)))
            positions.append(passage_seeds._full_positions(bounds, 4) + first)
    return np.concatenate(hashes), np.concatenate(positions), counts.bounds(), places.array()


#: Characters of every kind the tokeniser treats apart: ASCII words and separators, "\0",
#: accented and folded letters, a combining mark, CJK, emoji, an astral letter, a zero-width
#: space, a lone surrogate, a token longer than the kernel's table of powers.
_KINDS = [*"ab cd\n.,-'\x00", "\u00e9", "\u00df", "\u0301", "\u4e2d", "\U0001f642", "\U0001d400", "\u200b"]
_KINDS += ["\u0130", "\u00a9", "\ud800", "x" * 300]


@needs_numba
@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_KINDS), max_size=120).map("".join), min_size=1, max_size=6),
    st.sampled_from([8, 30, 1 << 18]),
    st.sampled_from([3, 64]),
)
def test_one_pass_seed_hashes_equal_the_tokeniser_and_shingles(kernels, texts, piece_chars, every) -> None:
    # Hashes, positions, tokens per document and token places of the compiled one-pass reading
    # (whole documents and pieces carrying their last tokens) equal tokenize + shingle's.
    saved = passage_seeds.PLACE_EVERY
    passage_seeds.PLACE_EVERY = every
    try:
        with dedup.use_backend("numpy"):
            expected = _stream(texts, None, piece_chars)
        for got, want in zip(_stream(texts, kernels, piece_chars), expected, strict=True):
            assert np.array_equal(got, want)
    finally:
        passage_seeds.PLACE_EVERY = saved


def test_spill_files_shrink_as_their_groups_are_read(tmp_path) -> None:
    # A group read with punch=True gives its blocks back to the file system (where holes can
    # be punched); the other groups still read back intact, and so do the token places.
    grouped = passage_seeds._GroupedFile(tmp_path / "runs", np.dtype(np.uint64), 2)
    data = [np.arange(k * 100_000, (k + 1) * 100_000, dtype=np.uint64) for k in range(4)]
    for a, b in zip(data[::2], data[1::2]):
        grouped.append(np.concatenate((a, b)), np.array([len(a), len(b)]))
    grouped.finish()
    before = os.stat(grouped.path).st_blocks
    assert np.array_equal(grouped.read(0, punch=True), np.concatenate(data[::2]))
    if passage_seeds._FALLOCATE[0] is not None:  # supported here: about half the file is gone
        assert os.stat(grouped.path).st_blocks < 0.6 * before
    assert np.array_equal(grouped.read(1), np.concatenate(data[1::2]))
    places = passage_seeds._PlacesFile(tmp_path / "places")
    values = np.arange(0, 30_000, 3, dtype=np.int64)
    for part in np.array_split(values, 7):
        places.extend(part)
    starts = places.array()
    index = np.array([9_999, 0, 5, 5, 4_000, 1_234], dtype=np.int64)
    assert len(starts) == len(values) and np.array_equal(starts[index], values[index])
    with pytest.raises(IndexError):
        starts[np.array([len(values)])]


def test_streamed_documents_keep_their_paths_records_and_ids() -> None:
    # The CLI's --spill path keeps what it reports of each document in flat arrays: every
    # path, record number and id (str, number, JSON value, None, other) comes back as given.
    from dedup.cli import _StreamedDocs
    from dedup.formats import Document

    given = [
        Document("a.jsonl", "x", 1, "d1"),
        Document("a.jsonl", "y", 2, 7),
        Document("b.txt", "z", None, None),
        Document("c.jsonl", "w", 3, "\u00e9\ud800"),
        Document("c.jsonl", "v", 4, [1, "two"]),
        Document("d.parquet", "u", 5, np.int64(9)),
    ]
    docs = _StreamedDocs()
    for doc in given:
        docs.add(doc)
    docs.texts = [doc.text for doc in given]
    assert len(docs) == len(given)
    for d, doc in enumerate(given):
        assert docs[d] == doc
        assert docs.header(d) == Document(doc.path, "", doc.record, doc.id)


def test_pieces_cut_before_spaces() -> None:
    text = "alpha beta\ngamma delta epsilon " * 20
    units = [u for batch in passage_seeds.pieces([text], piece_chars=16) for u in batch]
    assert "".join(text[a:b] for _, a, b in units) == text
    assert all(text[a] in " \n" for _, a, _ in units[1:])


def test_spill_is_chosen_from_the_input_size() -> None:
    assert passage_seeds.spill_needed(["x" * 1000], available=100)
    assert not passage_seeds.spill_needed(["x" * 1000], available=1 << 30)


@needs_numba
def test_compiled_and_reference_paths_give_the_same_matches(kernels) -> None:
    docs = corpus(2)
    with dedup.use_backend("numba"):
        compiled = as_tuples(dedup.find_repeated_passages(docs))
    with dedup.use_backend("numpy"):
        assert _passage_kernels.compiled(1 << 40) is None
        assert as_tuples(dedup.find_repeated_passages(docs)) == compiled


def test_cli_spill_gives_the_same_report(tmp_path, seed_path) -> None:
    import shutil
    import subprocess
    import sys

    shutil.copyfile(seed_path, tmp_path / "page.txt")

    def run(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "dedup", "passages", "page.txt", "--format", "json", *extra]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)

    plain, spilled = run(), run("--spill", "work")
    assert plain.returncode == spilled.returncode == 0
    assert json.loads(spilled.stdout)["matches"] == json.loads(plain.stdout)["matches"] != []
    assert not (tmp_path / "work").exists()
    bad = run("--spill", "page.txt")
    assert bad.returncode == 2 and "not a directory" in bad.stderr and "Traceback" not in bad.stderr


@needs_numba
@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5000), st.integers(1, 12), st.integers(0, 2**32))
def test_radix_partition_then_bucket_sorts_sort(kernels, n, bucket_bits, seed) -> None:
    keys = np.random.default_rng(seed).integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2)
    got = keys.copy()
    bounds = kernels.partition_top_bits(got, bucket_bits)
    assert bounds[0] == 0 and bounds[-1] == n and len(bounds) == (1 << bucket_bits) + 1
    for lo, hi in itertools.pairwise(bounds):
        got[lo:hi].sort()
    assert got.tolist() == np.sort(keys).tolist()
    skip = bucket_bits % 5  # bits all keys share (a spill bucket's): grouped by the bits below them
    shared = keys >> np.uint64(skip) if skip else keys.copy()
    got = shared.copy()
    bounds = kernels.partition_top_bits(got, bucket_bits, skip)
    below = (got >> np.uint64(64 - skip - bucket_bits)) & np.uint64((1 << bucket_bits) - 1)
    assert np.array_equal(np.repeat(np.arange(1 << bucket_bits), np.diff(bounds)), below)
    assert sorted(got.tolist()) == sorted(shared.tolist())


#: A zero-width space, a lone surrogate, an astral letter, a symbol token.
_OTHER = "\u200b\ud800\U0001d400\u00a9"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from([*"ab c\n\n.,'-1é日本\u0301 \t😀\u00a0xyz", *_OTHER]), max_size=400),
        min_size=1,
        max_size=5,
    ),
    st.integers(0, 2**32),
    st.sampled_from([1, 2, 5]),
)
def test_token_places_from_windows_equal_whole_documents(texts, seed, every) -> None:
    with passage_seeds.find_seeds(texts, 5) as seeds:
        bounds = seeds.token_bounds
        assert seeds.places is not None
        starts_all = seeds.places.starts
    total = int(bounds[-1])
    if total == 0:
        return
    rng = np.random.default_rng(seed)
    wanted = np.unique(rng.integers(0, total, size=min(total, 40)))
    wanted = np.unique(np.concatenate([wanted, np.maximum(wanted - 1, 0)]))
    # Places every `every` tokens, taken from the full tokenisation (as the seed pass records them).
    tokens = [tokenize([t], offsets=True).starts for t in texts]
    places = passage_seeds.TokenPlaces.from_counts(
        np.concatenate([s[::every] for s in tokens]).astype(np.int64), bounds, every
    )
    assert len(starts_all) == len(
        passage_seeds.TokenPlaces.from_counts(starts_all, bounds, passage_seeds.PLACE_EVERY).starts
    )
    expected = passages._token_places(texts, wanted, bounds)
    backends = ["numpy", "numba"] if _kernels.AVAILABLE else ["numpy"]  # windows tokenised, or compiled
    for backend in backends:
        with dedup.use_backend(backend):
            got = passages._token_places_in_windows(texts, wanted, bounds, places)
        assert got is not None
        assert got[0].tolist() == expected[0].tolist() and got[1].tolist() == expected[1].tolist()
        # Lines tell whether a line break separates consecutive tokens of a document.
        doc = np.searchsorted(bounds, wanted, side="right") - 1
        pair = np.flatnonzero((wanted[1:] == wanted[:-1] + 1) & (doc[1:] == doc[:-1]))
        assert ((got[2][pair + 1] != got[2][pair]) == (expected[2][pair + 1] != expected[2][pair])).all()
        if backend == "numba":  # the same lines as the tokeniser's windows, not only the same breaks
            with dedup.use_backend("numpy"):
                reference = passages._token_places_in_windows(texts, wanted, bounds, places)
            assert reference is not None and got[2].tolist() == reference[2].tolist()


def test_keys_memory_past_the_links_is_handed_back() -> None:
    """The keys' memory after what the links keep goes back to the system (resident set
    shrinks), and what is kept is intact."""
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("no /proc/self/statm")

    def resident() -> int:
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    keys = passage_seeds._anonymous(8 << 20)  # 64 MB
    keys[:] = np.arange(len(keys), dtype=np.uint64)
    before = resident()
    passage_seeds._give_back(keys[: 1 << 20], 8 << 20)  # keep the first 8 MB
    assert before - resident() > 40 << 20
    assert keys[: 1 << 20].tolist() == list(range(1 << 20))


@needs_numba
@pytest.mark.parametrize("shape", ["documents", "tiny lines", "tiny lines in the middle"])
@pytest.mark.parametrize("width", [3, 15])
def test_links_laid_out_in_the_keys_memory_equal_the_reference(monkeypatch, shape, width) -> None:
    """The in-memory links built over the keys' own memory (or scattered to a new array when
    tiny documents would make a group's links overrun the next group's records) are the links
    of the numpy reference."""
    docs = corpus(3)
    tiny = [f"w{i % 7} x" for i in range(600)]
    texts = {
        "documents": docs,
        "tiny lines": tiny + docs[:1],
        "tiny lines in the middle": docs[:4] + tiny + docs[4:],
    }[shape]
    monkeypatch.setattr(passage_seeds, "PLACE_BUCKET_BITS", width)
    in_place: list[int] = []
    give_back = passage_seeds._give_back
    monkeypatch.setattr(passage_seeds, "_give_back", lambda a, n: (in_place.append(n), give_back(a, n)))
    with dedup.use_backend("numba"):
        got = passage_seeds.seed_arrays(texts, 5)
    with dedup.use_backend("numpy"):
        expected = passage_seeds.seed_arrays(texts, 5)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    if shape != "tiny lines in the middle":  # there: depends on where the groups' bounds fall
        assert bool(in_place) == (shape == "documents")
