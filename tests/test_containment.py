"""Containment in document mode: a document inside a longer one is found, with its direction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dedup
from dedup import cli
from dedup.containment import containment, find_contained_pairs

CLOUGH = Path(__file__).resolve().parents[1].parent / "shared" / "evalsets" / "clough-stevenson-2011"


def _reference(texts: list[str], threshold: float, ngram: int = 5) -> list[tuple[int, int, float]]:
    """Every ordered pair, by plain Python sets of word n-grams (the 32-bit hashes, as the library)."""
    from dedup.explain import shingle_table

    sets = [set(shingle_table(t, ngram)) for t in texts]
    out = []
    for a, sa in enumerate(sets):
        for b, sb in enumerate(sets):
            if a != b and sa and len(sa & sb) / len(sa) >= threshold:
                out.append((a, b, len(sa & sb) / len(sa)))
    return out


pieces = st.lists(st.sampled_from([f"w{k}" for k in range(12)]), min_size=0, max_size=30).map(" ".join)


@given(st.lists(pieces, min_size=0, max_size=8), st.sampled_from([0.3, 0.5, 0.8, 1.0]))
def test_equals_every_pair_when_the_sample_is_the_whole_set(texts: list[str], threshold: float) -> None:
    texts = [*texts, texts[0] + " tail words here" if texts else "x"]  # something contained, often
    got = find_contained_pairs(texts, threshold, ngram=2, sample=10**6, max_df=10**6)
    want = _reference(texts, threshold, ngram=2)
    assert [(a, b) for a, b, _ in got] == [(a, b) for a, b, _ in want]
    assert [c for *_, c in got] == pytest.approx([c for *_, c in want])


def test_a_short_page_inside_a_long_one_has_a_direction() -> None:
    rng = np.random.default_rng(5)
    words = [f"v{k}" for k in rng.integers(0, 20000, 3000)]
    long = " ".join(words)
    short = " ".join(words[1000:1200])
    others = [" ".join(f"u{k}" for k in rng.integers(0, 20000, 300)) for _ in range(20)]
    texts = [*others[:10], long, *others[10:], short]
    pairs = find_contained_pairs(texts, 0.8)
    assert pairs == [(21, 10, 1.0)]  # the short page (21) is inside the long one (10), not the reverse
    assert dedup.exact_jaccard(short, long) < 0.1  # which Jaccard could never find
    assert dedup.find_duplicate_pairs(texts, 0.8) == []
    assert dedup.find_duplicate_pairs(texts, 0.8, measure="containment") == pairs
    with pytest.raises(ValueError, match="measure"):
        dedup.find_duplicate_pairs(texts, measure="cosine")  # type: ignore[arg-type]


def test_hot_shingles_are_not_sampled_but_still_counted() -> None:
    footer = " ".join(f"footer{k}" for k in range(40))
    texts = [f"page {k} " + " ".join(f"p{k}x{j}" for j in range(40)) + " " + footer for k in range(30)]
    texts.append(texts[3] + " " + " ".join(f"extra{j}" for j in range(200)))
    # the footer is in 31 documents: with max_df=10 it is never sampled, so pages do not all pair up
    pairs = find_contained_pairs(texts, 0.9, max_df=10)
    assert pairs == [(3, 30, 1.0)]
    # with it sampled, every page is half inside every other: still below 0.9
    assert find_contained_pairs(texts, 0.9, max_df=1000) == pairs
    assert containment(np.array([], np.uint32), np.array([1], np.uint32)) == 0.0


@pytest.mark.skipif(not CLOUGH.exists(), reason="evalsets are read from ../shared")
def test_clough_stevenson_copied_answers_are_found_by_containment() -> None:
    rows = [json.loads(line) for line in (CLOUGH / "docs.jsonl").open(encoding="utf-8")]
    texts, ids = [r["text"] for r in rows], [r["id"] for r in rows]
    truth = json.loads((CLOUGH / "ground_truth.json").read_text(encoding="utf-8"))
    copied = {(r["doc"], r["source"]) for r in truth["relations_to_source"] if r["grade"] >= 2}
    independent = {(r["doc"], r["source"]) for r in truth["relations_to_source"] if r["grade"] == 0}
    pairs = find_contained_pairs(texts, 0.5)
    assert [p[:2] for p in pairs] == [p[:2] for p in _reference(texts, 0.5)]  # the sample missed nothing here
    found = {(ids[a], ids[b]) for a, b, _ in pairs}
    jaccard = {(ids[i], ids[j]) for i, j, _ in dedup.find_duplicate_pairs(texts, 0.5)}
    jaccard |= {(b, a) for a, b in jaccard}
    # the corpus README's reference: containment finds 17 of the copied answers, Jaccard 4
    assert len(found & copied) >= 15 and len(jaccard & copied) <= 6
    assert found & independent == set()


def test_cli_docs_containment(tmp_path, capsys) -> None:
    long = " ".join(f"word{k}" for k in range(400))
    (tmp_path / "long.txt").write_text(long, encoding="utf-8")
    (tmp_path / "short.txt").write_text(" ".join(f"word{k}" for k in range(100, 160)), encoding="utf-8")
    (tmp_path / "other.txt").write_text(" ".join(f"other{k}" for k in range(100)), encoding="utf-8")
    assert cli.main(["docs", str(tmp_path), "--containment", "-q"]) == 0
    out = capsys.readouterr().out
    assert "keep  " + str(tmp_path / "long.txt") in out and "drop  " + str(tmp_path / "short.txt") in out
    assert f"{tmp_path / 'short.txt'} is 100% contained in {tmp_path / 'long.txt'}" in out
    assert cli.main(["docs", str(tmp_path), "--containment", "-q", "--format", "json"]) == 0
    (cluster,) = json.loads(capsys.readouterr().out)["clusters"]
    (pair,) = cluster["contained"]
    assert pair["part"]["path"].endswith("short.txt") and pair["whole"]["path"].endswith("long.txt")
    assert pair["containment"] == 1.0
    assert cli.main(["docs", str(tmp_path), "-q", "--format", "json"]) == 0  # Jaccard: nothing, no new key
    assert json.loads(capsys.readouterr().out)["clusters"] == []
    assert cli.main(["docs", str(tmp_path), "--containment", "--engine", "spark"]) == 2
    assert "--containment needs the local engine" in capsys.readouterr().err
