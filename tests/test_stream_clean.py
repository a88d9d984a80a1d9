"""``dedup clean --work-dir``: byte for byte the in-memory clean's outputs, texts never held; kill -9 safe."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dedup import cli, synth

REPO = Path(__file__).resolve().parents[1]
#: stats.json entries that differ between two runs of the same clean (time, how it was run).
VARIABLE = ("created", "command", "seconds", "cpu_seconds")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("synth")
    synth.write_dump(out, size_bytes="120kB", seed=5, exact_rate=0.1, near_rate=0.2, passage_rate=0.4)
    return [json.loads(line) for line in (out / "docs.jsonl").read_text(encoding="utf-8").splitlines()]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _corpus(kind: str, rows: list[dict], where: Path) -> tuple[Path, list[str]]:
    """An input of ``kind`` holding ``rows``, and the options that read it."""
    where.mkdir(parents=True)
    if kind == "jsonl":
        (where / "docs.jsonl").write_text(_jsonl(rows), encoding="utf-8")
        return where / "docs.jsonl", ["--id-field", "id"]
    if kind == "shards.gz+bad":
        # Two gzip shards and a plain one, a bad record and a blank line inside: records are numbered by line.
        third = len(rows) // 3
        with gzip.open(where / "a.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(_jsonl(rows[:third]) + "not json\n\n")
        with gzip.open(where / "b.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(_jsonl(rows[third : 2 * third]))
        (where / "c.jsonl").write_text(_jsonl(rows[2 * third :]), encoding="utf-8")
        return where, ["--jsonl", "--id-field", "id"]
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        half = len(rows) // 2
        for name, part in (("a.parquet", rows[:half]), ("b.parquet", rows[half:])):
            pq.write_table(pa.Table.from_pylist(part), where / name, row_group_size=7)
        return where, ["--parquet"]
    if kind == "text":
        for k, r in enumerate(rows):
            (where / f"{k:03d}.txt").write_text(r["text"], encoding="utf-8")
        return where, []
    raise AssertionError(kind)


def _files(out: Path) -> dict[str, bytes]:
    """Every file of an output directory; stats.json without the entries that change from run to run."""
    found = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.name != ".dedup.lock":
            data = p.read_bytes()
            if p.name == "stats.json":
                stats = json.loads(data)
                for k in VARIABLE:
                    stats.pop(k, None)
                stats["parameters"].pop("work_dir", None)
                data = json.dumps(stats, sort_keys=True).encode()
            found[str(p.relative_to(out))] = data
    return found


def _both(tmp_path: Path, path: Path, options: list[str], capsys) -> tuple[dict, dict, str, str]:
    """The outputs (and stdout) of the in-memory clean and of the streamed one, into the same OUT."""
    out = tmp_path / "out"
    argv = ["clean", str(path), "-o", str(out), "-q", "--force", *options]
    assert cli.main(argv) == 0
    in_memory, said = _files(out), capsys.readouterr().out
    shutil.rmtree(out)
    assert cli.main([*argv, "--work-dir", str(tmp_path / "work")]) == 0
    return in_memory, _files(out), said, capsys.readouterr().out


@pytest.mark.parametrize("kind", ["jsonl", "shards.gz+bad", "parquet", "text"])
def test_streamed_clean_writes_what_the_in_memory_clean_writes(tmp_path: Path, rows, kind: str, capsys) -> None:
    path, options = _corpus(kind, rows, tmp_path / "in")
    in_memory, streamed, said, told = _both(tmp_path, path, [*options, "--docs", "-f", "json"], capsys)
    assert streamed == in_memory
    removals = json.loads(told)["removals"]
    assert {r["kind"] for r in removals} == {"document", "passage"}  # both kinds were exercised
    assert json.loads(told)["removals"] == json.loads(said)["removals"]
    summary = {k: v for k, v in json.loads(told)["summary"].items() if k != "seconds"}
    assert summary == {k: v for k, v in json.loads(said)["summary"].items() if k != "seconds"}
    assert not any((tmp_path / "work").rglob("*.spool"))  # the spools are gone, the document index stays


def test_streamed_clean_keep_longest_and_without_docs(tmp_path: Path, rows, capsys) -> None:
    path, options = _corpus("jsonl", rows, tmp_path / "in")
    for extra in (["--docs", "--keep", "longest", "--doc-threshold", "0.7"], ["--passage-threshold", "0.9"]):
        shutil.rmtree(tmp_path / "work", ignore_errors=True)
        in_memory, streamed, said, told = _both(tmp_path, path, [*options, *extra], capsys)
        assert streamed == in_memory
        assert told == said


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_streamed_clean_equals_in_memory_on_random_picks(tmp_path_factory, rows, data, capsys) -> None:
    """Random subsets, orders and copies of the rows (whole duplicates, passages pasted into others)."""
    picked = data.draw(st.lists(st.sampled_from(rows), min_size=1, max_size=25))
    extra = []
    for r in picked:
        text = r["text"]
        if data.draw(st.booleans()):  # paste a run of another row's words into this one
            donor = data.draw(st.sampled_from(rows))["text"].split()
            a = data.draw(st.integers(0, max(0, len(donor) - 30)))
            text = text + "\n" + " ".join(donor[a : a + 30])
        extra.append({"id": len(extra), "text": text, "n": data.draw(st.integers(0, 3))})
    tmp_path = tmp_path_factory.mktemp("pick")
    kind = data.draw(st.sampled_from(["jsonl", "text"]))
    path, options = _corpus(kind, extra, tmp_path / "in")
    in_memory, streamed, said, told = _both(tmp_path, path, [*options, "--docs", "--min-words", "10"], capsys)
    assert streamed == in_memory
    assert told == said


def test_streamed_clean_against_an_index(tmp_path: Path, rows, capsys) -> None:
    half = len(rows) // 2
    old, _ = _corpus("jsonl", rows[:half], tmp_path / "old")
    new, options = _corpus("jsonl", rows[half:] + rows[:5], tmp_path / "new")
    idx = tmp_path / "seen.idx"
    assert cli.main(["index", "build", str(old), "-o", str(idx), "-q", *options]) == 0
    capsys.readouterr()
    in_memory, streamed, said, told = _both(tmp_path, new, [*options, "--docs", "--against", str(idx)], capsys)
    assert streamed == in_memory
    assert told == said
    assert sum(1 for line in streamed["manifest.jsonl"].splitlines() if b'"index"' in line) >= 5


def test_streamed_clean_refuses_what_it_cannot_do(tmp_path: Path, rows, capsys) -> None:
    path, _ = _corpus("jsonl", rows, tmp_path / "in")
    work = ["--work-dir", str(tmp_path / "w")]
    assert cli.main(["clean", str(path), "-o", "-", "--manifest", str(tmp_path / "m"), *work]) == 2
    assert cli.main(["clean", str(path), "-o", str(tmp_path / "o1"), "-f", "html", *work]) == 2
    assert cli.main(["clean", "-", "-o", str(tmp_path / "o2"), *work]) == 2
    assert cli.main(["clean", str(path), "-o", str(tmp_path / "o3"), "--engine", "spark", *work]) == 2
    assert cli.main(["docs", str(path), "--engine", "spark", *work]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("dedup: error")]) == 5


def test_a_file_broken_after_its_first_records_stops_the_streamed_clean(tmp_path: Path, rows, capsys) -> None:
    (tmp_path / "in").mkdir()
    body = _jsonl(rows[:10]).encode() + b'{"text": "bad \xff byte"}\n'
    (tmp_path / "in" / "a.jsonl").write_bytes(body)
    out = tmp_path / "out"
    argv = ["clean", str(tmp_path / "in"), "-o", str(out), "--errors", "strict", "--work-dir", str(tmp_path / "w")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "--work-dir cannot skip a file" in err and "Traceback" not in err
    assert not out.exists() or not any(p.name != ".dedup.lock" for p in out.iterdir())


KILLS = 20

KILLER = """
import hashlib, json, os, random, signal, sys, time
from pathlib import Path
from dedup import cli

out, work, kills, argv = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]


def clean(out, work):
    pid = os.fork()
    if pid == 0:  # the child is `dedup clean ...`, started without paying Python's start-up again
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        code = 3
        try:
            code = cli.main([*argv, "-o", str(out), "--work-dir", str(work)])
        finally:
            os._exit(code)
    return pid


def files(out):
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and not p.name.startswith(".")}


assert os.waitpid(clean(out, work + "-reference"), 0)[1] == 0  # uninterrupted; warms the kernels up
reference = files(out)
os.rename(out, str(out) + "-reference")
rng = random.Random(7)
seen = []
last = None  # how long the last run that was not killed took: the next delays are drawn up to past that
for _ in range(kills + 1):
    t = time.perf_counter()
    pid = clean(out, work if last is not None else work + "-timing")
    if last is None:  # the first: a whole run, warm, that sets the scale
        os.waitpid(pid, 0)
        last = time.perf_counter() - t
        continue
    time.sleep(rng.uniform(0.0, 1.2 * last))
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status):
        last = time.perf_counter() - t
    seen.append({"finished": os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
                 "killed": os.WIFSIGNALED(status), "files": files(out) if out.exists() else {}})
assert os.waitpid(clean(out, work), 0)[1] == 0
print(json.dumps({"reference": reference, "seen": seen, "last": files(out)}))
"""


@pytest.mark.slow
def test_kill_9_during_clean_then_resume_gives_the_uninterrupted_output(tmp_path: Path, rows) -> None:
    """``kill -9`` after a random delay, 20 times: outputs whole or absent; a last run = an uninterrupted one."""
    path, options = _corpus("shards.gz+bad", rows * 3, tmp_path / "in")
    out = tmp_path / "out"
    argv = ["clean", str(path), "--docs", "-q", "--force", *options]
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(out), str(tmp_path / "work"), str(KILLS), *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout)
    reference = got["reference"]
    assert {"manifest.jsonl", "removed.jsonl", "stats.json", "a.jsonl.gz", "b.jsonl.gz", "c.jsonl"} <= set(reference)
    assert len(got["seen"]) == KILLS
    assert sum(s["killed"] for s in got["seen"]) >= KILLS // 4  # most runs were killed before their end
    for s in got["seen"]:
        assert s["killed"] or s["finished"]
        for name, digest in s["files"].items():
            # Whole files only: each is the complete output (stats.json holds its run's times).
            assert name in reference, name
            assert name == "stats.json" or digest == reference[name], name
        if "manifest.jsonl" in s["files"]:  # the manifest comes last: everything it describes is there
            assert set(s["files"]) == set(reference)
    assert {k: v for k, v in got["last"].items() if k != "stats.json"} == {
        k: v for k, v in reference.items() if k != "stats.json"
    }
    assert not list(out.rglob("*.tmp"))  # what killed writes left half-done is gone
