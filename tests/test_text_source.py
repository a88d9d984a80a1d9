"""Texts the caller does not hold (dedup.text_source): same matches and removals as a list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import passage_seeds
from dedup.passages import apply_removals, find_repeated_passages, plan_removals, remove_spans
from dedup.text_source import FileTexts, SpooledTexts

PARA = "the committee met again on tuesday to discuss the budget for the coming year and agreed on nothing"
OTHER = "a completely different paragraph about rivers and mountains and the weather in the valley today"


def _corpus() -> list[str]:
    return [
        f"intro one\n{PARA}\nmiddle words here\n{OTHER}",
        "nothing repeats in this one at all, it is short",
        f"{OTHER} and then\n{PARA} again\nfinally\u00e9 \udc80 odd bytes",
        "",
        (f"{PARA} " * 3) + "tail",
    ]


def _key(matches: list) -> list:
    return [(m.original, m.repeat, m.similarity) for m in matches]


@pytest.mark.parametrize("spill", [False, True])
def test_spooled_texts_give_the_matches_of_a_list(tmp_path: Path, spill: bool) -> None:
    texts = _corpus()
    expected = find_repeated_passages(texts, min_words=8)
    assert expected
    with SpooledTexts(iter(texts), tmp_path / "work") as source:
        got = find_repeated_passages(source, min_words=8, spill=spill)
        assert _key(got) == _key(expected)
        assert len(source) == len(texts)
        assert [source[d] for d in range(len(texts))] == texts  # lone surrogates come back
        assert list(source) == texts  # a second pass reads the spool back
        plan = plan_removals(source, got)
        assert plan == plan_removals(texts, expected)
        cleaned = [remove_spans(t, [r.span for r in plan if r.span.doc == d]) for d, t in enumerate(texts)]
        assert cleaned == apply_removals(texts, plan)
        spool = source.path
        assert spool.exists()
    assert not spool.exists()  # closed: the spool file is gone
    assert not list((tmp_path / "work").glob("dedup-seeds-*"))


def test_spilled_source_in_small_buckets_and_chunks_and_pieces(tmp_path: Path, monkeypatch) -> None:
    # Many documents, long ones cut in pieces, tiny spill runs and chunks: still the list's matches.
    texts = [f"doc {k} " + (PARA if k % 3 == 0 else OTHER) + f" end {k} " + "filler word " * (k % 7) for k in range(60)]
    texts.append((f"{PARA}\n" * 40) + "x")
    expected = _key(find_repeated_passages(texts, min_words=8))
    monkeypatch.setattr(passage_seeds, "PIECE_CHARS", 300)
    monkeypatch.setattr(passage_seeds, "RUN_SHINGLES", 64)
    monkeypatch.setattr(passage_seeds, "CHUNK_TOKENS", 50)
    monkeypatch.setattr(passage_seeds, "BUCKET_SHINGLES", 40)  # many buckets
    monkeypatch.setattr(passage_seeds, "UNKNOWN_SIZE_BUCKETS", 16)
    monkeypatch.setattr(passage_seeds, "FILE_CHUNK_TOKENS", 120)  # each file handed on in chunks
    with SpooledTexts(iter(texts), tmp_path) as source:
        assert _key(find_repeated_passages(source, min_words=8, spill=tmp_path)) == expected


def test_file_texts_read_byte_ranges(tmp_path: Path) -> None:
    texts = [*_corpus()[:3], _corpus()[4]]
    data = [t.encode("utf-8", "surrogateescape") for t in texts]
    one = tmp_path / "all.bin"
    one.write_bytes(b"|".join(data))
    locations, at = [], 0
    for d in data:
        locations.append((one, at, len(d)))
        at += len(d) + 1
    source = FileTexts(locations, errors="surrogateescape")
    assert list(source) == texts and source[2] == texts[2] and source[-1] == texts[-1]
    assert _key(find_repeated_passages(source, min_words=8, spill=tmp_path / "w")) == _key(
        find_repeated_passages(texts, min_words=8)
    )
    files = []
    for k, t in enumerate(texts):
        (tmp_path / f"{k}.txt").write_bytes(t.encode("utf-8", "surrogateescape"))
        files.append(tmp_path / f"{k}.txt")
    whole = FileTexts.from_files(files, errors="surrogateescape")
    assert list(whole) == texts and whole.size_hint == sum(len(d) for d in data)
    assert _key(find_repeated_passages(whole, min_words=8, spill=False)) == _key(
        find_repeated_passages(texts, min_words=8)
    )
    with pytest.raises(IndexError):
        whole[len(texts)]


def test_spooled_texts_must_be_read_first(tmp_path: Path) -> None:
    with SpooledTexts(iter(["a b c"]), tmp_path) as source:
        with pytest.raises(TypeError):
            len(source)
        with pytest.raises(RuntimeError):
            source[0]
    with SpooledTexts(iter([b"bytes"]), tmp_path) as bad, pytest.raises(TypeError):  # type: ignore[list-item]
        find_repeated_passages(bad)


def test_a_source_with_jobs_gives_the_same_matches(tmp_path: Path) -> None:
    texts = _corpus() * 3
    with SpooledTexts(iter(texts), tmp_path) as source:
        got = find_repeated_passages(source, min_words=8, jobs=2, spill=False)
    assert _key(got) == _key(find_repeated_passages(texts, min_words=8))


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from([PARA, OTHER, "short words", "x\ny", PARA + "\n" + OTHER]), max_size=8))
def test_any_corpus_same_matches_through_a_spool(texts: list[str]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d, SpooledTexts(iter(texts), d) as source:
        got = find_repeated_passages(source, min_words=8, spill=Path(d) / "s")
        assert _key(got) == _key(find_repeated_passages(texts, min_words=8))


def test_remove_spans_cuts_overlapping_spans_once() -> None:
    from dedup.passages import Span

    assert remove_spans("0123456789", [Span(0, 5, 8), Span(0, 2, 6)]) == "0189"
    assert remove_spans("abc", []) == "abc"


def test_cli_passages_spill_streams_the_same_report(tmp_path: Path) -> None:
    from dedup.cli import main

    texts = _corpus()[:3]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8", errors="surrogatepass")
    import contextlib
    import io

    def run(*extra: str) -> dict:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["passages", str(src), "--min-words", "8", "--format", "json", "-q", *extra]) == 0
        return json.loads(out.getvalue())

    plain = run()
    made = tmp_path / "made"  # made by the run: removed after it
    assert plain["matches"] and plain["matches"] == run("--spill", str(made))["matches"]
    assert not made.exists()
    kept = tmp_path / "kept"  # the user's: kept, emptied of the run's files
    kept.mkdir()
    spilled = run("--spill", str(kept))
    assert plain["matches"] == spilled["matches"]
    assert {k: v for k, v in plain["summary"].items() if k != "seconds"} == {
        k: v for k, v in spilled["summary"].items() if k != "seconds"
    }
    assert kept.exists() and not list(kept.iterdir())


def test_cli_passages_spill_html_reads_only_documents_with_matches(tmp_path: Path, monkeypatch) -> None:
    import contextlib
    import io
    import re

    from dedup.cli import main

    texts = _corpus()[:3]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8", errors="surrogatepass")

    def run(*extra: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["passages", str(src), "--min-words", "8", "--format", "html", "-q", *extra]) == 0
        return re.sub(r"<tr><th>seconds</th><td>[^<]*</td></tr>", "", out.getvalue())

    plain = run()
    read: list[int] = []
    getitem = SpooledTexts.__getitem__

    def spy(self: SpooledTexts, index: int) -> str:
        read.append(index)
        return getitem(self, index)

    monkeypatch.setattr(SpooledTexts, "__getitem__", spy)
    streamed = run("--spill", str(tmp_path / "work"))
    assert streamed == plain  # the same page, byte for byte
    assert set(read) == {0, 2}  # document 1 has no match: never read back
    assert "in.jsonl#1" in plain and "in.jsonl#2" not in plain  # names of the documents shown only


def test_cached_texts_keep_the_last_read_within_their_budget() -> None:
    from dedup.text_source import CachedTexts

    reads: list[int] = []

    class Counted(list):
        def __getitem__(self, i):  # type: ignore[override]
            reads.append(i)
            return super().__getitem__(i)

    texts = CachedTexts(Counted(["aaaa", "bb", "c" * 10]), max_chars=6)
    assert [texts[0], texts[1], texts[0], texts[1]] == ["aaaa", "bb", "aaaa", "bb"]
    assert reads == [0, 1]  # read once each: both fit
    assert texts[2] == "c" * 10 and texts.cached() == [2]  # longer than the budget: kept alone
    assert texts[0] == "aaaa" and reads == [0, 1, 2, 0]
    with pytest.raises(IndexError):
        texts[3]
