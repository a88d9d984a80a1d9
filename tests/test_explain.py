"""dedup explain: the numbers of one pair agree with the pipelines that compute them for a corpus."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import dedup
from dedup import cli
from dedup.explain import explain_pair, shingle_table
from dedup.lsh import LSHIndex, default_bands

VOCAB = [f"w{k}" for k in range(30)]
texts = st.lists(st.sampled_from(VOCAB), min_size=0, max_size=80).map(" ".join)


@given(texts, texts)
def test_numbers_agree_with_the_document_pipeline(a: str, b: str) -> None:
    e = explain_pair(a, b, ngram=3, num_perm=64)
    assert e.jaccard == dedup.exact_jaccard(a, b, ngram=3)
    sig = dedup.signatures([a, b], ngram=3, num_perm=64)
    if (sig != dedup.EMPTY).any(axis=1).all():
        assert e.estimate == dedup.jaccard_estimate(sig[0], sig[1])
    # a candidate exactly when the LSH index of the documents pipeline pairs them
    index = LSHIndex(num_perm=64, bands=e.bands, rows=e.rows)
    index.add(sig)
    assert e.candidate == (index.candidate_pairs().tolist() == [[0, 1]])
    assert (e.bands, e.rows) == default_bands(0.8, 64)
    sa, sb = set(shingle_table(a, 3)), set(shingle_table(b, 3))
    assert (e.shingles_a, e.shingles_b, e.shared) == (len(sa), len(sb), len(sa & sb))
    if sa:
        assert e.containment_a_in_b == len(sa & sb) / len(sa)
    assert e.duplicate == (bool(sa and sb) and e.jaccard >= 0.8)


def test_a_page_inside_a_longer_one_is_contained_one_way() -> None:
    rng = np.random.default_rng(3)
    words = [f"v{k}" for k in rng.integers(0, 5000, 600)]
    short = " ".join(words[200:300])
    long = " ".join(words)
    e = explain_pair(short, long)
    assert e.containment_a_in_b == 1.0 and e.containment_b_in_a < 0.2
    assert e.jaccard < 0.2 and not e.duplicate
    assert e.only_a_examples == [] and len(e.only_b_examples) == 10
    (p,) = e.passages  # the shared passage, aligned
    assert (p.a_start, p.a_end) == (0, len(short)) and long[p.b_start : p.b_end] == short
    assert [r.tag for r in p.rows if r.tag not in ("equal", "skip")] == []


def test_identical_and_unrelated_texts() -> None:
    text = " ".join(f"word{k}" for k in range(50))
    same = explain_pair(text, text)
    assert same.jaccard == same.estimate == 1.0 and same.candidate
    assert same.colliding_bands == list(range(same.bands))
    other = explain_pair(text, " ".join(f"other{k}" for k in range(50)))
    assert other.jaccard == 0.0 and other.colliding_bands == [] and other.shared_examples == []
    empty = explain_pair("", text)
    assert empty.jaccard == 0.0 and not empty.candidate and empty.shingles_a == 0


def test_cli_explains_two_files(tmp_path, capsys) -> None:
    base = " ".join(f"word{k}" for k in range(100))
    (tmp_path / "a.txt").write_text(base, encoding="utf-8")
    (tmp_path / "b.txt").write_text(base.replace("word50", "changed"), encoding="utf-8")
    assert cli.main(["explain", str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]) == 0
    out = capsys.readouterr().out
    j = dedup.exact_jaccard(base, base.replace("word50", "changed"))
    assert f"exact Jaccard       {j:.4f}" in out and "≥ threshold 0.8: near-duplicates" in out
    assert "- word50" in out and "+ changed" in out  # the aligned passage
    assert "changed word51 word52 word53 word54" in out  # a shingle only B has


def test_cli_explains_two_records_as_json(tmp_path, capsys) -> None:
    rows = [{"url": "u1", "text": "alpha beta gamma delta epsilon zeta eta theta"}, {"url": "u2", "text": "x"}]
    rows.append({"url": "u3", "text": rows[0]["text"] + " iota"})
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert cli.main(["explain", f"{data}#1", f"{data}#3", "--jsonl", "--format", "json", "--ngram", "3"]) == 0
    by_number = json.loads(capsys.readouterr().out)
    assert by_number["jaccard"] == dedup.exact_jaccard(rows[0]["text"], rows[2]["text"], ngram=3)
    assert by_number["containment_a_in_b"] == 1.0 and by_number["a"] == f"{data}#1"
    # JSON Lines are recognised by the file name too
    assert cli.main(["explain", f"{data}#1", f"{data}#3", "--format", "json", "--ngram", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["jaccard"] == by_number["jaccard"]
    assert (
        cli.main(["explain", f"{data}#u1", f"{data}#u3", "--jsonl", "--id-field", "url", "-f", "json", "--ngram", "3"])
        == 0
    )
    by_id = json.loads(capsys.readouterr().out)
    assert {k: v for k, v in by_id.items() if k not in "ab"} == {k: v for k, v in by_number.items() if k not in "ab"}


def test_cli_explain_errors_are_one_line(tmp_path, capsys) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "one two"}\n', encoding="utf-8")
    (tmp_path / "a.txt").write_text("one two", encoding="utf-8")
    cases = [
        (["explain", f"{data}#7", f"{data}#1", "--jsonl"], "no record 7"),
        (["explain", str(data), f"{data}#1", "--jsonl"], "name a record as PATH#N"),
        (["explain", str(tmp_path), str(data)], "is a directory"),
        (["explain", str(tmp_path / "missing.txt"), str(data)], "missing.txt"),
        (["explain", f"{data}#1", f"{data}#1", "--bands", "4"], "give both --bands and --rows"),
        (["explain", f"{data}#1", f"{data}#1", "--bands", "40", "--rows", "40"], "do not fit num_perm"),
        (["explain", f"{tmp_path / 'a.txt'}#2", f"{data}#1"], "a text file has no records"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err
