"""The ground-truth generator: deterministic, sized as asked, and its truth is true."""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata

import pytest

import dedup
from dedup import synth

SIZE = 1_500_000


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    out = tmp_path_factory.mktemp("dump")
    summary = synth.write_dump(out, size_bytes=SIZE, seed=11)
    return out, summary, list(synth.iter_texts(out)), synth.load_truth(out)


def _words(text: str) -> list[str]:
    """Words as a reader sees them: runs of letters, single CJK characters, case ignored."""
    return [w.casefold() for w in re.findall(r"[\u4e00-\u9fff]|[^\W\d_\u4e00-\u9fff]+", text)]


def test_same_seed_same_bytes_other_seed_other_text(tmp_path, dump):
    out, _, _, _ = dump
    again = tmp_path / "again"
    synth.write_dump(again, size_bytes=SIZE, seed=11)
    for name in ("docs.jsonl", "truth.jsonl", "summary.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    other = tmp_path / "other"
    synth.write_dump(other, size_bytes=200_000, seed=12)
    assert (other / "docs.jsonl").read_bytes()[:1000] != (out / "docs.jsonl").read_bytes()[:1000]


def test_smaller_dump_is_a_prefix_of_a_larger_one(tmp_path, dump):
    out, _, _, _ = dump
    small = tmp_path / "small"
    s = synth.write_dump(small, size_bytes=400_000, seed=11)
    big_docs = (out / "docs.jsonl").read_bytes()
    assert big_docs.startswith((small / "docs.jsonl").read_bytes())
    # Every truth record of the small dump is in the big one.
    big_truth = set((out / "truth.jsonl").read_text().splitlines())
    assert set((small / "truth.jsonl").read_text().splitlines()) <= big_truth
    assert s["documents"] < len(big_docs.splitlines())


def test_size_is_about_what_was_asked(dump):
    out, summary, texts, _ = dump
    size = (out / "docs.jsonl").stat().st_size
    assert summary["bytes"] == size
    longest = max(len(json.dumps({"id": 0, "text": t}, ensure_ascii=False).encode()) for t in texts) + 20
    assert SIZE <= size < SIZE + longest
    assert summary["documents"] == len(texts)
    ids = [json.loads(line)["id"] for line in (out / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == list(range(len(texts)))


def test_text_looks_like_text_in_three_scripts(dump):
    _, _, texts, _ = dump
    scripts = {"latin": 0, "cyrillic": 0, "cjk": 0}
    for t in texts:
        name = unicodedata.name(t[0], "")
        key = "cjk" if "CJK" in name else "cyrillic" if "CYRILLIC" in name else "latin"
        scripts[key] += 1
    assert scripts["latin"] > 0.7 * len(texts)
    assert scripts["cyrillic"] >= 5 and scripts["cjk"] >= 5
    latin = [t for t in texts if t[0].isascii()]
    assert all(t[0].isupper() and t.endswith(".") for t in latin)
    assert sum("\n" in t for t in texts) > 0.9 * len(texts)  # paragraphs or wrapped lines
    # Zipf: the most frequent word is far more frequent than the 100th.
    counts: dict[str, int] = {}
    for t in latin[:200]:
        for w in _words(t):
            counts[w] = counts.get(w, 0) + 1
    freq = sorted(counts.values(), reverse=True)
    assert freq[0] > 20 * freq[100]


def test_every_kind_of_duplicate_is_present(dump):
    _, summary, _, truth = dump
    kinds = {p["kind"] for p in truth.passages}
    assert kinds == {"exact", "near", "cross", "inner"}
    assert set(truth.pair_kind) >= {"exact", "near"}
    assert summary["exact_duplicates"] > 5 and summary["near_duplicates"] > 10
    assert len(truth.duplicate_pairs(0.8)) > 10
    assert (truth.jaccard < 0.8).any()  # harder near-duplicates too


def test_truth_spans_point_at_copies_up_to_the_declared_edits(dump):
    _, _, texts, truth = dump
    for p in truth.passages:
        (sd, ss, se), (td, ts, te) = p["source"], p["target"]
        assert sd <= td and (sd, ss) < (td, ts), p  # the target is the later copy
        for doc, start, end in (p["source"], p["target"]):
            text = texts[doc]
            assert 0 <= start < end <= len(text)
            # Spans start and end on word boundaries.
            assert start == 0 or not text[start - 1].isalpha() or "CJK" in unicodedata.name(text[start]), p
            assert end == len(text) or not text[end].isalpha() or "CJK" in unicodedata.name(text[end - 1]), p
        a, b = _words(texts[sd][ss:se]), _words(texts[td][ts:te])
        assert len(b) == p["words"]
        rate = p["edit_rate"]
        if rate == 0:
            assert a == b, p
            continue
        same = sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())
        changed = max(len(a), len(b)) - same
        n = len(a)
        # A binomial number of edits: mean rate * n, four standard deviations of slack.
        assert changed <= rate * n + 4 * math.sqrt(rate * n) + 2, (p, changed)


def test_rewrapped_passages_have_other_line_breaks(dump):
    _, _, texts, truth = dump
    differ = 0
    cross = [p for p in truth.passages if p["kind"] == "cross" and p["edit_rate"] == 0]
    for p in cross:
        (sd, ss, se), (td, ts, te) = p["source"], p["target"]
        differ += texts[sd][ss:se] != texts[td][ts:te]
    assert cross and differ > 0.5 * len(cross)


def test_truth_jaccard_is_dedups_exact_jaccard(dump):
    _, _, texts, truth = dump
    for (a, b), j in list(zip(truth.pairs.tolist(), truth.jaccard))[:150]:
        assert dedup.exact_jaccard(texts[a], texts[b]) == pytest.approx(j, abs=1e-6)


def test_dedup_finds_the_exact_duplicates(dump):
    _, _, texts, truth = dump
    clusters = dedup.find_duplicates(texts)
    label = {i: k for k, c in enumerate(clusters) for i in c}
    exact = [tuple(ab) for ab, kind in zip(truth.pairs.tolist(), truth.pair_kind) if kind == "exact"]
    assert exact
    for a, b in exact:
        assert texts[a] == texts[b]
        assert a in label and label[a] == label.get(b), (a, b)
    scores = synth.score_pairs(truth, dedup.find_duplicate_pairs(texts), threshold=0.8)
    assert scores["recall"] >= 0.95 and scores["precision"] >= 0.95, scores


def test_scoring_helpers_score_the_truth_perfectly_and_noise_poorly(dump):
    _, _, texts, truth = dump
    assert synth.score_pairs(truth, truth.duplicate_pairs(0.8))["f1"] == 1.0
    assert synth.score_pairs(truth, [(0, 1), (2, 3)])["recall"] == 0.0
    perfect = synth.score_spans(truth, [p["target"] for p in truth.passages])
    assert perfect["precision"] == perfect["recall"] == 1.0
    whole = synth.score_spans(truth, [(d, 0, len(t)) for d, t in enumerate(texts)])
    assert whole["recall"] == 1.0 and whole["precision"] < 0.5


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size_bytes": "lots"}, "size must look like"),
        ({"size_bytes": 0}, "size must be positive"),
        ({"size_bytes": 1000, "seed": -1}, "seed must be"),
        ({"size_bytes": 1000, "near_rate": 1.5}, "near_rate"),
    ],
)
def test_bad_arguments_say_which(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synth.write_dump(tmp_path / "x", **kwargs)


def test_parse_size_units():
    assert synth.parse_size("100MB") == 100_000_000
    assert synth.parse_size("1.5GB") == 1_500_000_000
    assert synth.parse_size("64kB") == 64_000
    assert synth.parse_size(12345) == 12345
