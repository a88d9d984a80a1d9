"""Reading inputs (dedup.formats) and positions in reports (dedup.report), in process and on real files.

The command itself is tested end to end in test_cli.py; these tests pin the
rules it relies on, quickly and one at a time.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dedup.formats import (
    Document,
    InputError,
    Source,
    decode,
    encode_text,
    find_sources,
    iter_jsonl,
    iter_parquet,
    read_text,
    write_atomic,
)
from dedup.report import LineIndex, excerpt, span_record

# ---------------------------------------------------------------- finding files


def test_directories_are_sorted_hidden_left_out_and_files_read_once(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "notes.md").write_text("m")
    (tmp_path / ".hidden.txt").write_text("h")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.txt").write_text("g")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.txt").write_text("c")

    sources, problems = find_sources([str(tmp_path), str(tmp_path / "a.txt")], glob="*.txt")
    assert problems == []
    assert [s.rel for s in sources] == ["a.txt", "b.txt"]  # a.txt named twice, read once

    sources, _ = find_sources([str(tmp_path)], recursive=True, glob="*.txt")
    assert [s.rel for s in sources] == ["a.txt", "b.txt", "sub/c.txt"]


def test_missing_paths_and_directories_without_matches_are_problems(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    sources, problems = find_sources([str(tmp_path / "nope.txt"), str(tmp_path / "empty")])
    assert sources == []
    assert [p.why for p in problems] == [
        "no such file or directory",
        "directory has no files matching '*' (--recursive also searches sub-directories)",
    ]


# ---------------------------------------------------------------- decoding


def test_decoding_keeps_line_ends_and_refuses_what_is_not_text() -> None:
    assert decode(b"a\r\nb\n", "x") == "a\r\nb\n"
    assert decode("café".encode("latin-1"), "x", "latin-1") == "café"
    assert decode(b"ok \xff", "x", errors="replace") == "ok \ufffd"
    cases = {
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR": "x: binary file (NUL bytes), not text",
        "hi".encode("utf-16"): "x: looks like UTF-16 (byte order mark); use --encoding utf-16",
        b"line one\nline two\n\xc3\x28 three": (
            "x:3: not valid utf-8 (invalid continuation byte, byte 0xc3 at offset 18);"
            " use --encoding ENC or --errors replace"
        ),
    }
    for data, message in cases.items():
        with pytest.raises(InputError) as err:
            decode(data, "x")
        assert str(err.value) == message
    assert decode("hi".encode("utf-16"), "x", "utf-16") == "hi"  # NUL bytes are fine in UTF-16
    assert decode(b"", "x") == decode(b"", "x", "utf-16") == ""  # an empty file is an empty text


def test_surrogateescape_round_trips_any_bytes(tmp_path: Path) -> None:
    data = b"caf\xe9\r\n\xff\xfe not utf-8 \x80\n"
    path = tmp_path / "raw.txt"
    path.write_bytes(data)
    text, size = read_text(Source(str(path), "raw.txt"), errors="surrogateescape")
    assert size == len(data)
    assert encode_text(text, errors="surrogateescape") == data


def test_unreadable_sources_raise_input_error(tmp_path: Path) -> None:
    link = tmp_path / "dangling.txt"
    link.symlink_to(tmp_path / "gone.txt")
    with pytest.raises(InputError, match=r"dangling.txt: cannot read: No such file or directory"):
        read_text(Source(str(link), "dangling.txt"))
    with pytest.raises(InputError, match="is a directory"):
        read_text(Source(str(tmp_path), "x"))


# ---------------------------------------------------------------- records


def test_jsonl_records_and_their_errors() -> None:
    lines = [
        json.dumps({"text": "one\u2028still one", "id": 7}),  # U+2028 inside a string is not a line break
        "",
        "{broken",
        json.dumps({"body": "x"}),
        json.dumps({"text": 3}),
        json.dumps({"text": None}),
        json.dumps("a string"),
        json.dumps({"text": "no id"}),
    ]
    out = list(iter_jsonl("\n".join(lines) + "\r\n", "d.jsonl", "text", "id"))
    assert out[0] == Document("d.jsonl", "one\u2028still one", 1, 7)
    assert [str(e) for e in out[1:]] == [
        "d.jsonl:3: not valid JSON (Expecting property name enclosed in double quotes at column 2)",
        "d.jsonl:4: no field 'text' (fields: 'body'); use --text-field",
        "d.jsonl:5: field 'text' is int, not a string",
        "d.jsonl:6: field 'text' is null",
        "d.jsonl:7: not a JSON object",
        "d.jsonl:8: no field 'id' (the --id-field)",
    ]


def test_parquet_rows_and_their_errors(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"id": [1, 2, 3], "text": ["a", None, "c"], "n": [1, 2, 3]}), path)
    out = list(iter_parquet(str(path), "text", "id"))
    assert out[0] == Document(str(path), "a", 1, 1)
    assert str(out[1]) == f"{path}:2: field 'text' is null"
    assert out[2] == Document(str(path), "c", 3, 3)
    with pytest.raises(InputError, match=r"no column 'body' \(columns: 'id', 'text', 'n'\); use --text-field"):
        list(iter_parquet(str(path), "body"))
    with pytest.raises(InputError, match="column 'n' is int64, not a string"):
        list(iter_parquet(str(path), "n"))
    not_parquet = tmp_path / "x.parquet"
    not_parquet.write_text("just text")
    with pytest.raises(InputError, match="not a Parquet file"):
        list(iter_parquet(str(not_parquet)))


# ---------------------------------------------------------------- writing


def test_write_atomic_replaces_whole_files_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "out" / "a.txt"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    # A failing write leaves the old file as it was and no temporary file.
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"second"
    assert os.listdir(target.parent) == ["a.txt"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ---------------------------------------------------------------- positions


def test_span_lines_are_1_based_inclusive_and_offsets_end_exclusive() -> None:
    text = "first\r\nsecond line\n\nfourth"
    idx = LineIndex(text)
    start = text.index("second")
    end = text.index("fourth") + len("fourth")
    assert span_record("p", idx, start, end) == {
        "path": "p",
        "start_line": 2,
        "end_line": 4,
        "start": start,
        "end": end,
    }
    # A span ending with its newline ends on that line, not the next one.
    assert idx.lines(start, text.index("\n\n") + 1) == (2, 2)


@given(st.text(alphabet="ab\n\r é中", max_size=60), st.data())
def test_line_index_agrees_with_counting_newlines(text: str, data: st.DataObject) -> None:
    idx = LineIndex(text)
    offset = data.draw(st.integers(0, len(text)))
    assert idx.line(offset) == text.count("\n", 0, offset) + 1


def test_excerpt_is_short_even_for_a_huge_span() -> None:
    text = "word " * 2_000_000
    cut = excerpt(text, 0, len(text))
    assert len(cut) <= 72 and cut.endswith("…")
    assert excerpt("short  passage\nhere", 0, 19) == "short passage here"


def test_line_index_is_the_same_with_and_without_the_index() -> None:
    """Short texts count newlines, long ones bisect an index: the same line numbers either way."""
    rng = random.Random(5)
    for n in (0, 3, 500, LineIndex.INDEX_FROM + 777):
        text = "".join(rng.choice("ab\n") for _ in range(n))
        index = LineIndex(text)
        for offset in [0, 1, n, n + 1, *(rng.randrange(n + 1) for _ in range(50))]:
            assert index.line(offset) == text.count("\n", 0, offset) + 1
