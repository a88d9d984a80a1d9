"""Datasets in, datasets out (issue 9) and the reader findings of issue 16 (4, 5 and 14).

Real files in real formats: JSON Lines (plain, .gz, .zst, .bz2, .xz), Parquet
written by pyarrow, run through the real command (a subprocess) or, for the
hypothesis round trip, through :func:`dedup.cli.main` in process.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

import dedup
from dedup import cli
from dedup.formats import detect_format, replace_json_field

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


class Run:
    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8")
        self.err = proc.stderr.decode("utf-8")

    def json(self):
        return json.loads(self.out)


def dedup_run(*args: object, cwd: Path, stdin: bytes = b"") -> Run:
    """The real command; stderr must be one-line ``dedup:`` messages, never a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "dedup", *map(str, args)], cwd=cwd, input=stdin, capture_output=True, timeout=300
    )
    run = Run(proc)
    assert "Traceback" not in run.err, run.err
    for line in run.err.splitlines():
        assert line.startswith("dedup: "), f"stray stderr line: {line!r}"
    return run


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text("utf-8").splitlines()]


WORDS = [
    "river",
    "stone",
    "market",
    "window",
    "harbour",
    "garden",
    "lantern",
    "meadow",
    "copper",
    "signal",
    "orchard",
    "thunder",
]


def filler(seed: int, words: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(words))


# ---------------------------------------------------------------- formats by name, compression


def test_format_is_detected_from_the_name() -> None:
    assert detect_format("a/b.jsonl.gz") == dedup.formats.Format("jsonl", "gzip")
    assert detect_format("x.ndjson").kind == detect_format("x.json.xz").kind == "jsonl"
    assert detect_format("x.PARQUET").kind == "parquet"
    assert detect_format("x.txt.bz2") == dedup.formats.Format("text", "bz2")
    assert detect_format("x.jsonl", "text") == dedup.formats.Format("text", None, forced=True)


def test_dataset_files_are_never_read_as_one_text(tmp_path: Path) -> None:
    """`dedup docs docs.jsonl` without --jsonl reads records (it used to report 0 clusters)."""
    text = filler(1, 60)
    rows = [{"id": "a", "text": text}, {"id": "b", "text": "other " + filler(2, 60)}, {"id": "c", "text": text}]
    (tmp_path / "docs.jsonl").write_bytes(jsonl(rows))
    (tmp_path / "docs.jsonl.gz").write_bytes(gzip.compress(jsonl(rows)))
    (tmp_path / "docs.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(jsonl(rows)))
    (tmp_path / "docs.ndjson.bz2").write_bytes(bz2.compress(jsonl(rows)))
    (tmp_path / "docs.jsonl.xz").write_bytes(lzma.compress(jsonl(rows)))
    for name in ("docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst", "docs.ndjson.bz2", "docs.jsonl.xz"):
        run = dedup_run("docs", name, "--id-field", "id", "-f", "json", cwd=tmp_path)
        assert run.code == 0, run.err
        (cluster,) = run.json()["clusters"]
        assert [m["id"] for m in cluster["members"]] == ["a", "c"], name
    # The override reads a JSONL file as one text, when that is really wanted.
    run = dedup_run("docs", "docs.jsonl", "--input-format", "text", "-f", "json", cwd=tmp_path)
    assert run.code == 0 and run.json()["summary"]["documents"] == 1


def test_bad_compressed_and_mismatched_files_are_one_line_errors(tmp_path: Path) -> None:
    data = jsonl([{"text": filler(i, 30)} for i in range(50)])
    (tmp_path / "cut.jsonl.gz").write_bytes(gzip.compress(data)[:-20])
    (tmp_path / "cut.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(data)[:-9])
    (tmp_path / "secret.txt").write_bytes(gzip.compress(b"hello"))
    (tmp_path / "array.json").write_text('[{"text": "a"}]')
    (tmp_path / "fake.parquet").write_text("not parquet at all")
    expected = {
        "cut.jsonl.gz": "truncated or corrupt gzip data",
        "cut.jsonl.zst": "truncated or corrupt zstd data",
        "secret.txt": "gzip-compressed data; name the file with its extension (.gz)",
        "array.json": "a JSON array, not JSON Lines; use --input-format text",
        "fake.parquet": "use --input-format",
    }
    for name, why in expected.items():
        run = dedup_run("docs", name, cwd=tmp_path)
        assert run.code == 2, name
        assert why in run.err and name in run.err, run.err
        assert len(run.err.splitlines()) == 2  # the skip warning, then "nothing could be read"
        out = tmp_path / f"out-{name}"
        run = dedup_run("clean", name, "-o", out, cwd=tmp_path)
        assert run.code == 2 and not any(p.name == name for p in out.glob("*"))  # never a partial output


def test_a_truncated_shard_names_the_file_and_the_record(tmp_path: Path) -> None:
    """Shards are read as a stream: where compressed data breaks off, the error names the record it broke in."""
    data = jsonl([{"id": i, "text": filler(i, 30)} for i in range(2000)])
    shards = {
        "cut.jsonl.gz": gzip.compress(data),
        "cut.jsonl.zst": zstandard.ZstdCompressor().compress(data),
        "cut.jsonl.bz2": bz2.compress(data),
    }
    for name, packed in shards.items():
        (tmp_path / name).write_bytes(packed[: len(packed) // 2])
        # The lines that the first half of the data holds whole, decompressed as far as it goes.
        if name.endswith(".gz"):
            whole = zlib.decompressobj(31).decompress(packed[: len(packed) // 2]).count(b"\n")
        elif name.endswith(".zst"):
            whole = zstandard.ZstdDecompressor().decompressobj().decompress(packed[: len(packed) // 2]).count(b"\n")
        else:
            whole = bz2.BZ2Decompressor().decompress(packed[: len(packed) // 2]).count(b"\n")
        run = dedup_run("docs", name, "-f", "json", cwd=tmp_path)
        assert run.code == 2 and len(run.err.splitlines()) == 2, run.err
        codec = {"gz": "gzip", "zst": "zstd", "bz2": "bz2"}[name.rsplit(".", 1)[1]]
        assert f"dedup: warning: {name}:{whole + 1}: truncated or corrupt {codec} data (" in run.err, (whole, run.err)
        run = dedup_run("clean", name, "-o", "out", "-q", cwd=tmp_path)
        assert run.code == 2 and f"{name}:{whole + 1}: truncated" in run.err
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing, not even temp


def test_shards_with_different_schemas_keep_their_own(tmp_path: Path) -> None:
    """A directory of Parquet shards with different columns and types, and a JSONL shard, cleaned together:
    duplicates are found across shards and every output shard keeps its own schema."""
    text = filler(21, 80)
    (tmp_path / "in").mkdir()
    a = pa.table({"text": [text, filler(22, 60)], "id": pa.array([1, 2], pa.int64()), "tags": [["x"], []]})
    b = pa.table(
        {
            "doc_id": ["b1", "b2", "b3"],
            "text": pa.array([filler(23, 60), text + " again", filler(24, 60)], pa.large_string()),
            "score": [0.1, 0.2, None],
        }
    ).replace_schema_metadata({"source": "shard-b"})
    pq.write_table(a, tmp_path / "in" / "a.parquet", compression="snappy")
    pq.write_table(b, tmp_path / "in" / "b.parquet", compression="zstd")
    rows = [{"text": filler(25, 60), "lang": "en"}, {"meta": {"n": 1}, "text": text}]
    (tmp_path / "in" / "c.jsonl").write_bytes(jsonl(rows))
    run = dedup_run("clean", "in", "-o", "out", "--docs", "-q", cwd=tmp_path)
    assert run.code == 0, run.err
    out = tmp_path / "out"
    for name in ("a.parquet", "b.parquet"):
        assert pq.read_schema(out / name).equals(pq.read_schema(tmp_path / "in" / name), check_metadata=True), name
    assert pq.read_schema(out / "b.parquet").metadata[b"source"] == b"shard-b"
    assert pq.read_table(out / "a.parquet").equals(pq.read_table(tmp_path / "in" / "a.parquet"))
    assert pq.read_table(out / "b.parquet").column("doc_id").to_pylist() == ["b1", "b3"]
    assert (out / "c.jsonl").read_bytes() == jsonl(rows[:1])
    removed = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    assert [(r["path"], r["record"]) for r in removed] == [("in/b.parquet", 2), ("in/c.jsonl", 2)]
    assert [r["data"] for r in removed][1] == rows[1]


@pytest.mark.slow
def test_a_200_mb_record(tmp_path: Path) -> None:
    """One JSONL record with a 200 MB text field, among small ones, in a .jsonl.zst shard: it is read (its
    line is joined once from the stream, never the whole shard held as well), compared, and copied by clean's
    writer byte for byte."""
    block = filler(31, 20_000) + "\n"  # about 200 kB
    big = block * (200_000_000 // len(block) + 1)
    assert len(big) >= 200_000_000
    text = filler(32, 80)
    lines = [
        json.dumps({"id": "s1", "text": text}).encode(),
        b'{"id": "big", "text": "' + big.replace("\n", "\\n").encode() + b'"}',
        json.dumps({"id": "s2", "text": text + " copy"}).encode(),
        json.dumps({"id": "s3", "text": filler(33, 80)}).encode(),
        b"",
    ]
    path = tmp_path / "big.jsonl.zst"
    with open(path, "wb") as f, zstandard.ZstdCompressor(level=1).stream_writer(f) as w:
        for line in lines[:-1]:
            w.write(line + b"\n")
    with open(tmp_path / "report.json", "wb") as out, open(tmp_path / "err.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dedup", "docs", str(path), "--id-field", "id", "-f", "json", "-q"],
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and not (tmp_path / "err.txt").read_bytes()
    # Memory: the record's line, its text and the library's work on it; never the shard and its copies too.
    print(f"peak RSS {usage.ru_maxrss / 1024:.0f} MB for a 200 MB record")
    assert usage.ru_maxrss * 1024 < 8 * 200_000_000
    report = json.loads((tmp_path / "report.json").read_bytes())
    assert report["summary"]["documents"] == 4 and report["summary"]["bytes"] >= 200_000_000
    assert [[m["id"] for m in c["members"]] for c in report["clusters"]] == [["s1", "s2"]]
    # clean's writer streams the shard: the big line is copied byte for byte, the changed record rewritten.
    src = dedup.formats.Source(str(path), path.name)
    fmt = detect_format(str(path))
    docs = [d for d in dedup.formats.iter_records(src, fmt, id_field="id")]
    assert [len(d.text) for d in docs][1] == len(big) and docs[1].text == big
    del docs
    written = dedup.formats.write_like(src, fmt, tmp_path / "out.jsonl.zst", {3: None, 4: "new"})
    assert (written.records_in, written.records_out) == (4, 3)
    with open(tmp_path / "out.jsonl.zst", "rb") as f:
        copy = zstandard.ZstdDecompressor().stream_reader(f).read()
    assert copy == b"\n".join([lines[0], lines[1], json.dumps({"id": "s3", "text": "new"}).encode(), b""])


# ---------------------------------------------------------------- issue 16, findings 4, 5, 14


def test_a_bad_jsonl_line_is_skipped_not_fatal(tmp_path: Path) -> None:
    """Finding 4: a 5,000-digit integer and a line nested 100,000 deep are bad records, not the end."""
    text = filler(3, 40)
    lines = [
        json.dumps({"id": 1, "text": text}),
        '{"id": 2, "text": "x", "n": ' + "7" * 5000 + "}",
        "[" * 100_000,
        json.dumps({"id": 4, "text": text}),
    ]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    run = dedup_run("docs", "bad.jsonl", "--id-field", "id", "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.err
    assert "dedup: warning: bad.jsonl:2: not valid JSON (" in run.err
    assert "dedup: warning: bad.jsonl:3: not valid JSON (nested too deeply); skipped" in run.err
    report = run.json()
    assert report["summary"]["documents"] == 2 and report["summary"]["skipped_records"] == 2
    assert [m["id"] for m in report["clusters"][0]["members"]] == [1, 4]
    # clean keeps the bad lines as they are: nothing unique is lost.
    run = dedup_run("clean", "bad.jsonl", "-o", "out", "--docs", "-q", cwd=tmp_path)
    assert run.code == 0, run.err
    out_lines = (tmp_path / "out" / "bad.jsonl").read_text().split("\n")
    assert out_lines == [lines[0], lines[1], lines[2], ""]


def _corrupt_group_parquet(path: Path, groups: int = 10, rows: int = 500, bad: int = 4) -> None:
    texts = [f"row {i} " + filler(i, 12) for i in range(groups * rows)]
    table = pa.table({"text": texts, "n": list(range(groups * rows))})
    pq.write_table(table, path, row_group_size=rows, compression="snappy")
    meta = pq.ParquetFile(path).metadata
    column = meta.row_group(bad).column(0)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start : start + 48] = b"\xff" * 48  # the page header of one group's text column
    path.write_bytes(bytes(data))


def test_a_corrupt_parquet_row_group_loses_only_its_rows(tmp_path: Path) -> None:
    """Finding 5: 9 intact groups of 500 rows are read; the bad group's 500 rows are counted as skipped."""
    _corrupt_group_parquet(tmp_path / "shard.parquet")
    run = dedup_run("docs", "shard.parquet", "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.err
    summary = run.json()["summary"]
    assert summary["documents"] == 4500 and summary["skipped_records"] == 500
    assert "shard.parquet:2001: row group 5 cannot be read" in run.err
    docs = list(dedup.formats.iter_parquet(str(tmp_path / "shard.parquet")))
    good = [d for d in docs if isinstance(d, dedup.formats.Document)]
    assert [d.record for d in good] == [r for r in range(1, 5001) if not 2001 <= r <= 2500]
    assert all(d.text.startswith(f"row {d.record - 1} ") for d in good)
    # clean cannot copy the lost rows, so it refuses, before writing anything, rather than drop them.
    pq.write_table(pa.table({"text": ["fine " + filler(1, 30)]}), tmp_path / "a-first.parquet")
    run = dedup_run("clean", "a-first.parquet", "shard.parquet", "-o", "out", "-q", cwd=tmp_path)
    assert run.code == 2 and "shard.parquet: cannot copy: part of the file is unreadable" in run.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert len(run.err.splitlines()) <= 5 + 2  # five records, the count of the others, the error


def test_quiet_counts_warnings_beyond_a_few(tmp_path: Path) -> None:
    """-q: the first five skipped inputs are named, the others counted in one line."""
    (tmp_path / "in").mkdir()
    for k in range(8):
        (tmp_path / "in" / f"bad{k}.jsonl.gz").write_bytes(gzip.compress(b'{"text": "x"}\n')[:-6])
    (tmp_path / "in" / "good.jsonl").write_bytes(jsonl([{"text": filler(1, 30)}]))
    run = dedup_run("docs", "in", "-q", cwd=tmp_path)
    assert run.code == 0
    lines = run.err.splitlines()
    assert len(lines) == 6 and all("truncated or corrupt gzip data" in line for line in lines[:5])
    assert lines[5] == "dedup: warning: 3 more inputs or records skipped (not shown with --quiet)"
    assert len(dedup_run("docs", "in", cwd=tmp_path).err.splitlines()) == 8 + 1  # and the summary line


def test_quiet_also_counts_a_files_bad_records_beyond_a_few(tmp_path: Path) -> None:
    """-q: a file's bad records beyond the first five are only counted at the end, not in a line of their own."""
    rows = [json.dumps({"text": filler(1, 30)})] + ["{bad"] * 8
    (tmp_path / "f.jsonl").write_text("\n".join(rows) + "\n")
    loud = dedup_run("docs", "f.jsonl", cwd=tmp_path).err.splitlines()
    assert len(loud) == 5 + 2 and loud[5] == "dedup: warning: f.jsonl: 3 more bad records skipped"
    quiet = dedup_run("docs", "f.jsonl", "-q", cwd=tmp_path).err.splitlines()
    assert quiet[:5] == loud[:5] and len(quiet) == 6
    assert quiet[5] == "dedup: warning: 3 more inputs or records skipped (not shown with --quiet)"


def _stderr_on_a_terminal(args: list[str], cwd: Path) -> str:
    """What the command writes to its standard error when that is a terminal (a pseudo-terminal)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    # A terminal 120 columns wide (a new pseudo-terminal has 0, and tqdm would draw bars 0 wide).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "dedup", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    got = []
    with contextlib.suppress(OSError):  # EIO once the command has closed its end
        while data := os.read(master, 1 << 16):
            got.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    return b"".join(got).decode("utf-8", "replace")


def test_progress_bars_over_every_long_phase_on_a_terminal_only(tmp_path: Path) -> None:
    """clean --docs on a terminal shows a bar for reading, each phase the library reports, and writing;
    -q shows nothing, and off a terminal no bar is drawn (dedup_run checks every stderr line is a message)."""
    text = filler(41, 200)
    rows = [{"text": text}, {"text": text + " end"}] + [{"text": filler(42 + i, 200)} for i in range(20)]
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(jsonl(rows)))
    err = _stderr_on_a_terminal(["clean", "d.jsonl.gz", "-o", "out", "--docs"], tmp_path)
    for phase in ("reading", "signatures", "candidates", "verification", "passages", "writing"):
        assert f"{phase}:" in err, (phase, err)
    assert _stderr_on_a_terminal(["clean", "d.jsonl.gz", "-o", "out2", "--docs", "-q"], tmp_path) == ""
    run = dedup_run("clean", "d.jsonl.gz", "-o", "out3", "--docs", cwd=tmp_path)
    assert run.code == 0 and len(run.err.splitlines()) == 1  # the summary line only


def test_dictionary_encoded_and_empty_parquet(tmp_path: Path) -> None:
    """Finding 14: a dictionary-encoded string column is text; a 0-row file is 0 documents, exit 0."""
    text = filler(5, 50)
    table = pa.table({"text": pa.array([text, "other " + filler(6, 50), text]).dictionary_encode()})
    pq.write_table(table, tmp_path / "dict.parquet", use_dictionary=True)
    assert pa.types.is_dictionary(pq.read_schema(tmp_path / "dict.parquet").field("text").type)
    run = dedup_run("docs", "dict.parquet", "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.err
    assert [m["record"] for m in run.json()["clusters"][0]["members"]] == [1, 3]
    run = dedup_run("clean", "dict.parquet", "-o", "out", "--docs", "-q", cwd=tmp_path)
    assert run.code == 0, run.err
    cleaned = pq.read_table(tmp_path / "out" / "dict.parquet")
    assert cleaned.schema.equals(table.schema) and cleaned.column("text").to_pylist() == [
        text,
        "other " + filler(6, 50),
    ]

    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "empty.parquet")
    run = dedup_run("docs", "empty.parquet", "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.err
    assert run.json()["clusters"] == [] and run.json()["summary"]["documents"] == 0
    run = dedup_run("clean", "empty.parquet", "-o", "out2", cwd=tmp_path)
    assert run.code == 0, run.err
    assert pq.read_table(tmp_path / "out2" / "empty.parquet").num_rows == 0


def test_a_newline_in_a_path_stays_on_its_report_line(tmp_path: Path) -> None:
    """Finding 14: the text report names a file with a newline in one line (escaped)."""
    text = filler(7, 60)
    odd = tmp_path / "in" / "odd\nname.txt"
    odd.parent.mkdir()
    odd.write_text(text)
    (tmp_path / "in" / "plain.txt").write_text(text)
    run = dedup_run("docs", "in", cwd=tmp_path)
    assert run.code == 0, run.err
    assert run.out.splitlines() == ["cluster 1: 2 documents", "  keep  in/odd\\nname.txt", "  drop  in/plain.txt"]


# ---------------------------------------------------------------- clean on datasets


def _seed_rows(seed_text: str) -> list[dict]:
    return [
        {"id": "intro", "text": filler(8, 80), "meta": {"lang": "en"}},
        {"id": "seed", "text": seed_text, "meta": {"lang": "en", "tags": ["a", "é"]}},
    ]


def _seed_removals(records: list[dict]) -> list[tuple]:
    return [(r["start_line"], r["end_line"], r["start"], r["end"]) for r in records]


def test_the_seed_in_a_record_is_cleaned_like_the_seed_file(tmp_path: Path, seed_path: Path, seed_text: str) -> None:
    """A JSONL record, a .jsonl.zst shard and a Parquet row holding the seed lose lines 9 and 160-206,
    exactly as the seed text file does."""
    (tmp_path / "seed.txt").write_bytes(seed_path.read_bytes())
    rows = _seed_rows(seed_text)
    (tmp_path / "a.jsonl").write_bytes(jsonl(rows))
    (tmp_path / "b.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(jsonl(rows)))
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "c.parquet")
    results = {}
    for name in ("seed.txt", "a.jsonl", "b.jsonl.zst", "c.parquet"):
        out = tmp_path / f"out-{name}"
        ids = [] if name == "seed.txt" else ["--id-field", "id"]
        run = dedup_run("clean", name, "-o", out, "-q", *ids, cwd=tmp_path)
        assert run.code == 0, run.err
        records = manifest(out)
        assert all(r["kind"] == "passage" for r in records)
        results[name] = _seed_removals(records)
        if name != "seed.txt":
            assert {(r["record"], r["id"]) for r in records} == {(2, "seed")}
    assert results["seed.txt"][0][:2] == (9, 9) and results["seed.txt"][1][:2] == (160, 206)
    assert results["a.jsonl"] == results["b.jsonl.zst"] == results["c.parquet"] == results["seed.txt"]

    cleaned_file = (tmp_path / "out-seed.txt" / "seed.txt").read_text("utf-8")
    out_jsonl = (tmp_path / "out-a.jsonl" / "a.jsonl").read_bytes().split(b"\n")
    assert out_jsonl[0] == jsonl(rows).split(b"\n")[0]  # the untouched record, byte for byte
    assert json.loads(out_jsonl[1]) == {**rows[1], "text": cleaned_file}
    zst = (
        zstandard.ZstdDecompressor()
        .stream_reader(io.BytesIO((tmp_path / "out-b.jsonl.zst" / "b.jsonl.zst").read_bytes()))
        .read()
    )
    assert zst == (tmp_path / "out-a.jsonl" / "a.jsonl").read_bytes()
    as_read = pq.read_table(tmp_path / "c.parquet").to_pylist()  # structs gain the keys of every row
    assert pq.read_table(tmp_path / "out-c.parquet" / "c.parquet").to_pylist() == [
        as_read[0],
        {**as_read[1], "text": cleaned_file},
    ]


def test_clean_docs_on_jsonl_writes_removed_records_and_stats(tmp_path: Path) -> None:
    text = filler(9, 80)
    rows = [
        {"id": "a", "text": text, "n": 1},
        {"id": "b", "text": "different " + filler(10, 80), "n": 2},
        {"id": "c", "text": text + " extra", "n": 3, "note": "near copy"},
        {"id": "d", "text": None},
    ]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "part-0.jsonl.gz").write_bytes(gzip.compress(jsonl(rows)))
    # The decompressed copy a killed run left behind (clean keeps one per compressed shard while it runs).
    (tmp_path / "out" / ".dedup-plain-killed").mkdir(parents=True)
    (tmp_path / "out" / ".dedup-plain-killed" / "0.jsonl").write_bytes(jsonl(rows))
    run = dedup_run("clean", "in", "-o", "out", "--docs", "--id-field", "id", cwd=tmp_path)
    assert run.code == 0, run.err
    out = tmp_path / "out"
    # Nothing else is left in OUT: neither the stale copy nor this run's.
    assert sorted(p.name for p in out.iterdir()) == ["manifest.jsonl", "part-0.jsonl.gz", "removed.jsonl", "stats.json"]
    kept = gzip.decompress((out / "part-0.jsonl.gz").read_bytes()).split(b"\n")
    original = jsonl(rows).split(b"\n")
    assert kept == [original[0], original[1], original[3], b""]  # the null-text record is kept as it was
    (removed,) = [json.loads(line) for line in (out / "removed.jsonl").read_text().splitlines()]
    assert removed["record"] == 3 and removed["id"] == "c" and removed["data"] == rows[2]
    assert removed["duplicate_of"] == {"path": "in/part-0.jsonl.gz", "record": 1, "id": "a"}
    assert 0.8 <= removed["similarity"] < 1
    stats = json.loads((out / "stats.json").read_text())
    assert stats["records_in"] == 4 and stats["records_out"] == 3 and stats["duplicates"] == 1
    assert stats["dedup_version"] == dedup.__version__ and stats["parameters"]["doc_threshold"] == 0.8
    assert set(stats["seconds"]) == set(stats["cpu_seconds"]) == {"read", "documents", "passages", "write", "total"}
    # The text report is a summary, not a list of removals.
    assert len(run.out.splitlines()) == 3 and "1 document dropped" in run.out


def test_separate_document_and_passage_thresholds(tmp_path: Path) -> None:
    text = filler(11, 100)
    near = text + " " + filler(12, 15)  # Jaccard about 0.83
    (tmp_path / "d.jsonl").write_bytes(jsonl([{"text": text}, {"text": near}]))
    run = dedup_run("clean", "d.jsonl", "-o", "o1", "--docs", "--doc-threshold", "0.95", "-q", cwd=tmp_path)
    assert run.code == 0 and not any(r["kind"] == "document" for r in manifest(tmp_path / "o1"))
    run = dedup_run("clean", "d.jsonl", "-o", "o2", "--docs", "--doc-threshold", "0.7", "-q", cwd=tmp_path)
    assert run.code == 0 and [r["kind"] for r in manifest(tmp_path / "o2")] == ["document"]


def test_parquet_keeps_schema_metadata_and_codec(tmp_path: Path) -> None:
    text = filler(12, 80)
    para = filler(13, 40)
    texts = [text, f"{filler(14, 30)}\n{para}\n{filler(15, 30)}\n{para}\n", text, "short one", filler(16, 50)]
    table = pa.table(
        {
            "id": pa.array([10, 11, 12, 13, 14], pa.int32()),
            "text": pa.array(texts, pa.large_string()),
            "tags": [["x"], [], ["y", "z"], None, ["é"]],
            "score": [0.5, 1.5, None, 2.0, 3.0],
        }
    ).replace_schema_metadata({"origin": "crawl-7", "license": "cc-by"})
    pq.write_table(table, tmp_path / "s.parquet", compression="zstd", row_group_size=2)
    run = dedup_run("clean", "s.parquet", "-o", "out", "--docs", "--id-field", "id", "-q", cwd=tmp_path)
    assert run.code == 0, run.err
    out = pq.ParquetFile(tmp_path / "out" / "s.parquet")
    assert out.schema_arrow.equals(pq.read_schema(tmp_path / "s.parquet"), check_metadata=True)
    assert out.metadata.row_group(0).column(1).compression == "ZSTD"
    got = out.read()
    expected = table.filter(pa.array([True, True, False, True, True]))
    for name in ("id", "tags", "score"):
        assert got.column(name).equals(expected.column(name)), name  # only the text column differs
    assert got.column("text")[1].as_py() == f"{filler(14, 30)}\n{para}\n{filler(15, 30)}\n"
    removed = [json.loads(line) for line in (tmp_path / "out" / "removed.jsonl").read_text().splitlines()]
    assert [(r["record"], r["id"], r["data"]["tags"]) for r in removed] == [(3, 12, ["y", "z"])]


def test_clean_as_a_unix_filter(tmp_path: Path, seed_path: Path) -> None:
    run = dedup_run("clean", "-", "-o", "-", "--manifest", "m.jsonl", cwd=tmp_path, stdin=seed_path.read_bytes())
    assert run.code == 0, run.err
    original = seed_path.read_bytes().split(b"\n")
    expected = [line for k, line in enumerate(original, 1) if k != 9 and not 160 <= k <= 206]
    assert run.out.encode("utf-8").split(b"\n") == expected
    assert [(r["start_line"], r["end_line"], r["output"]) for r in manifest_file(tmp_path / "m.jsonl")] == [
        (9, 9, "-"),
        (160, 206, "-"),
    ]
    run = dedup_run("clean", "-", "-o", "-", cwd=tmp_path, stdin=b"x")
    assert run.code == 2 and "--manifest" in run.err
    # JSON Lines on standard input: read once (its copy is kept for the writer), cleaned into OUT/stdin.
    text = filler(51, 60)
    rows = [{"id": 1, "text": text}, {"id": 2, "text": text + " x"}, {"id": 3, "text": filler(52, 60)}]
    run = dedup_run("clean", "-", "-o", "out", "--input-format", "jsonl", "--docs", cwd=tmp_path, stdin=jsonl(rows))
    assert run.code == 0, run.err
    assert (tmp_path / "out" / "stdin").read_bytes() == jsonl([rows[0], rows[2]])


def manifest_file(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# ---------------------------------------------------------------- hypothesis round trip

_PARAS = [filler(100 + k, 25) for k in range(4)]
_extra = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
_text = st.one_of(
    st.none(),
    st.just(""),
    st.lists(st.sampled_from([*_PARAS, 'é\u2028 tab\tquote" back\\slash', "ok"]), max_size=4).map("\n".join),
)
_record = st.fixed_dictionaries({"text": _text}, optional={"meta": _extra, "z": st.text(max_size=6)})


@settings(max_examples=25)
@given(
    records=st.lists(_record, min_size=1, max_size=6),
    ascii_only=st.booleans(),
    crlf=st.booleans(),
    bom=st.booleans(),
    docs=st.booleans(),
)
def test_jsonl_round_trip(
    tmp_path_factory: pytest.TempPathFactory, records: list, ascii_only: bool, crlf: bool, bom: bool, docs: bool
) -> None:
    """Every output line parses; untouched lines are byte-identical; records out + removed == records in;
    each cleaned text plus its removed spans is the original text."""
    root = tmp_path_factory.mktemp("rt")
    rows = [{"n": k, **r} for k, r in enumerate([*records, {"text": "ok"}])]  # at least one document
    end = "\r\n" if crlf else "\n"
    lines = [json.dumps(r, ensure_ascii=ascii_only) for r in rows]
    data = ("\ufeff" if bom else "") + end.join(lines) + end
    (root / "in.jsonl").write_bytes(data.encode("utf-8"))
    args = ["clean", str(root / "in.jsonl"), "-o", str(root / "out"), "-q", "--min-words", "5", "-f", "json"]
    with contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(args + (["--docs"] if docs else []))
    assert code == 0
    out_lines = (root / "out" / "in.jsonl").read_bytes().decode("utf-8").split("\n")
    removals = manifest(root / "out")
    touched = {r["record"] for r in removals}
    dropped = {r["record"] for r in removals if r["kind"] == "document"}
    by_n = {}
    for line in out_lines:
        if line.strip():
            row = json.loads(line.lstrip("\ufeff"))  # every output line parses
            by_n[row["n"]] = line
    assert len(by_n) + len(dropped) == len(rows)  # records out + removed == records in
    in_lines = data.split("\n")
    for k, row in enumerate(rows):
        record = k + 1
        if record in dropped:
            assert k not in by_n
            continue
        if record not in touched:
            assert by_n[k] == in_lines[k]  # untouched: byte for byte (BOM and \r included)
            continue
        got = json.loads(by_n[k].lstrip("\ufeff"))
        assert {**got, "text": None} == {**row, "text": None}  # only the text changed
        rebuilt, at = [], 0
        for r in sorted((r for r in removals if r["record"] == record), key=lambda r: r["start"]):
            rebuilt.append(row["text"][at : r["start"]])
            at = r["end"]
        assert "".join(rebuilt) + row["text"][at:] == got["text"]


def test_replace_json_field_keeps_every_other_byte() -> None:
    line = '{ "a" :1,"text":"old \\u00e9","b":{"text":"inner"} ,"text" : "last"}'
    assert (
        replace_json_field(line, "text", "new") == '{ "a" :1,"text":"old \\u00e9","b":{"text":"inner"} ,"text" : "new"}'
    )
    assert json.loads(replace_json_field(line, "text", "\ud800 lone")) == {**json.loads(line), "text": "\ud800 lone"}


# ---------------------------------------------------------------- which records to keep


def _texts() -> list[str]:
    base = filler(20, 60)
    return [base, "unrelated " + filler(21, 60), base + " tail", filler(22, 60), base.upper()]


def test_which_to_keep_filters_pandas_pyarrow_and_hf_datasets() -> None:
    pd = pytest.importorskip("pandas")
    datasets = pytest.importorskip("datasets")
    texts = _texts()
    decision = dedup.which_to_keep(texts)
    assert decision.keep.tolist() == [True, True, False, True, False]
    assert decision.duplicate_of.tolist() == [-1, -1, 0, -1, 0]
    assert 0.8 <= decision.similarity[2] < 1 and decision.similarity[4] == 1.0
    assert decision.clusters == [[0, 2, 4]]

    df = pd.DataFrame({"id": range(5), "text": texts})
    assert df[dedup.which_to_keep(df["text"]).keep]["id"].tolist() == [0, 1, 3]
    table = pa.table({"id": list(range(5)), "text": texts})
    assert table.filter(dedup.which_to_keep(table["text"].to_pylist()).keep)["id"].to_pylist() == [0, 1, 3]
    ds = datasets.Dataset.from_dict({"id": list(range(5)), "text": texts})
    kept = ds.select(np.flatnonzero(dedup.which_to_keep(ds["text"]).keep))
    assert kept["id"] == [0, 1, 3]
    longest = dedup.which_to_keep(texts, keep="longest")
    assert longest.keep.tolist() == [False, True, True, True, False]
