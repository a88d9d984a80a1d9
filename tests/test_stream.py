"""Streaming deduplication through an on-disk index: same clusters as in memory, resumable after kill -9."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup import choose_kept, cli, find_duplicates, report, synth
from dedup.formats import Document, InputError
from dedup.stream import find_duplicates_on_disk, iter_documents

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("dump")
    synth.write_dump(out, size_bytes="250kB", seed=11, exact_rate=0.1, near_rate=0.3)
    return out / "docs.jsonl", list(synth.iter_texts(out))


def test_on_disk_equals_find_duplicates_in_memory(tmp_path: Path, dump) -> None:
    _, texts = dump
    for keep in ("first", "longest"):
        run = find_duplicates_on_disk(((k, t) for k, t in enumerate(texts)), tmp_path / keep, keep=keep, batch_docs=17)
        expected = find_duplicates(texts)
        assert len(expected) >= 3
        assert run.clusters == expected
        assert run.kept == choose_kept(expected, keep, lengths=[len(t) for t in texts])
        assert run.records([c[0] for c in expected]) == [c[0] for c in expected]


def test_a_work_dir_of_another_run_is_refused(tmp_path: Path) -> None:
    find_duplicates_on_disk([("a", "one two three four five six")], tmp_path, run_key="first")
    with pytest.raises(ValueError, match="another run"):
        find_duplicates_on_disk([("a", "one two three four five six")], tmp_path, run_key="second")


KILLER = """
import json, os, random, signal, sys, time
from dedup import synth
from dedup.stream import find_duplicates_on_disk

texts, work, kills = list(synth.iter_texts(sys.argv[1])), sys.argv[2], int(sys.argv[3])
rng = random.Random(3)
find_duplicates_on_disk([("w", "warm up the kernels")], work + "-warm")
for _ in range(kills):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            records = ((k, t) for k, t in enumerate(texts))
            find_duplicates_on_disk(records, work, batch_docs=9, progress=lambda n: os.write(w, b"."))
        finally:
            os._exit(0)
    os.close(w)
    # Let the child finish 0 to 2 batches (so the work moves on), then kill it at a random moment.
    for _ in range(rng.randint(0, 2)):
        os.read(r, 1)
    time.sleep(rng.uniform(0.0, 0.5))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(r)
run = find_duplicates_on_disk(((k, t) for k, t in enumerate(texts)), work, batch_docs=9)
print(json.dumps({"clusters": run.clusters, "kept": run.kept, "resumed": run.resumed_docs}))
"""


def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path: Path, dump) -> None:
    """``kill -9`` at random moments, then a last run: the same clusters as without any crash."""
    path, texts = dump
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(path.parent), str(tmp_path / "work"), "8"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    expected = find_duplicates(texts)
    assert got["clusters"] == expected
    assert got["kept"] == [c[0] for c in expected]
    assert got["resumed"] > 0  # the kills left finished batches that were not redone


def test_iter_documents_streams_plain_and_gzip_jsonl(tmp_path: Path) -> None:
    rows = [{"text": "first document", "id": 1}, {"text": "second one", "id": 2}]
    body = "".join(json.dumps(r) + "\n" for r in rows) + "\n[1]\n"
    (tmp_path / "a.jsonl").write_text(body, encoding="utf-8")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(body)
    items = list(iter_documents([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl.gz")], kind="jsonl"))
    docs = [d for d in items if isinstance(d, Document)]
    bad = [str(e) for e in items if isinstance(e, InputError)]
    assert [(d.text, d.record, d.id) for d in docs] == [("first document", 1, None), ("second one", 2, None)] * 2
    assert bad == [f"{tmp_path / 'a.jsonl'}:4: not a JSON object", f"{tmp_path / 'b.jsonl.gz'}:4: not a JSON object"]


def test_cli_docs_work_dir_equals_docs_in_memory(tmp_path: Path, dump, capsys) -> None:
    path, _ = dump
    assert cli.main(["docs", str(path), "--jsonl", "--id-field", "id", "-f", "json", "-q"]) == 0
    in_memory = json.loads(capsys.readouterr().out)
    work = tmp_path / "work"
    argv = ["docs", str(path), "--jsonl", "--id-field", "id", "-f", "json", "-q", "--work-dir", str(work)]
    assert cli.main(argv) == 0
    streamed = json.loads(capsys.readouterr().out)
    assert streamed["clusters"] == in_memory["clusters"]
    assert {k: v for k, v in streamed["summary"].items() if k != "seconds"} == {
        k: v for k, v in in_memory["summary"].items() if k != "seconds"
    }
    assert cli.main(argv) == 0  # a finished work directory answers again, the same
    assert json.loads(capsys.readouterr().out)["clusters"] == in_memory["clusters"]


def _stderr_on_a_terminal(args: list[str], cwd: Path) -> str:
    """What ``dedup ARGS`` writes to its standard error when that is a (pseudo-)terminal 120 columns wide."""
    import contextlib
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dedup", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    got = []
    with contextlib.suppress(OSError):  # EIO once the command has closed its end
        while data := os.read(master, 1 << 16):
            got.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    return b"".join(got).decode("utf-8", "replace")


def test_docs_work_dir_shows_a_progress_bar_on_a_terminal_only(tmp_path: Path, dump) -> None:
    """``docs --work-dir`` draws a bar of the input read on a terminal; none with -q or off a terminal."""
    path, _ = dump
    (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(path.read_bytes()))
    err = _stderr_on_a_terminal(["docs", "d.jsonl.gz", "--work-dir", "w1"], tmp_path)
    assert "reading:" in err, err
    assert _stderr_on_a_terminal(["docs", "d.jsonl.gz", "--work-dir", "w2", "-q"], tmp_path) == ""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    run = subprocess.run(
        [sys.executable, "-m", "dedup", "docs", "d.jsonl.gz", "--work-dir", "w3"],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0 and len(run.stderr.splitlines()) == 1, run.stderr  # the summary line only


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.one_of(_JSON, st.lists(_JSON, max_size=4)), max_size=4))
def test_the_streamed_json_report_is_byte_for_byte_json_dump(body: dict) -> None:
    """``write_json_streamed`` (lists written an item at a time, from generators) == ``json.dump(indent=2)``."""
    expected = io.StringIO()
    report.write_json(expected, body)
    got = io.StringIO()
    report.write_json_streamed(got, {k: (x for x in v) if isinstance(v, list) else v for k, v in body.items()})
    assert got.getvalue() == expected.getvalue()
