"""The persistent index (dedup.Index) on a real DuckDB file.

What users rely on: building the index shard by shard finds the same
duplicates as ``find_duplicate_pairs`` on the concatenation (a later document
duplicates an earlier one); what was added survives closing, reopening and
``kill -9``; one writer at a time, readers alongside; a clear error for an
index from a newer dedup, for a file that is no index, and for bad arguments.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

import dedup
from dedup import Duplicate, Index, IndexBusyError, IndexVersionError, cli, find_duplicate_pairs, synth
from dedup.index import IndexError_
from dedup.sketch import shingle_hashes32

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A generated dump with many exact and near duplicates."""
    out = tmp_path_factory.mktemp("synth")
    synth.write_dump(out, size_bytes="400kB", seed=3, exact_rate=0.1, near_rate=0.3)
    return list(synth.iter_texts(out))


def expected_duplicates(texts: list[str], verify: str) -> dict[int, set[int]]:
    """For each later document of a verified pair, the earlier documents it duplicates."""
    found: dict[int, set[int]] = {}
    for i, j, _ in find_duplicate_pairs(texts, verify=verify):  # type: ignore[arg-type]
        found.setdefault(j, set()).add(i)
    return found


def build_by_shards(path: Path, texts: list[str], cuts: list[int], verify: str) -> list[Duplicate | None]:
    results: list[Duplicate | None] = []
    with Index(path, verify=verify) as index:  # type: ignore[arg-type]
        for lo, hi in zip([0, *cuts], [*cuts, len(texts)]):
            results += index.add(texts[lo:hi], ids=[str(k) for k in range(lo, hi)])
    return results


@pytest.mark.parametrize("verify", ["estimate", "exact"])
@pytest.mark.parametrize("step", [23, 200])
def test_shard_by_shard_equals_find_duplicate_pairs_on_the_concatenation(
    tmp_path: Path, corpus: list[str], verify: str, step: int
) -> None:
    """Every batch is a sorted run, merged with the newest runs as a binary counter: many or few runs."""
    expected = expected_duplicates(corpus, verify)
    assert len(expected) > 10  # the corpus really has duplicates
    cuts = sorted(random.Random(0).sample(range(1, len(corpus)), 6))
    cuts = sorted(set(cuts) | set(range(5, len(corpus), step)))
    results = build_by_shards(tmp_path / "idx", corpus, cuts, verify)
    got = {j for j, r in enumerate(results) if r is not None}
    assert got == set(expected)
    for j, r in enumerate(results):
        if r is not None:
            assert int(r.id) in expected[j]  # it names a real earlier duplicate
            assert int(r.id) < j


@pytest.mark.parametrize("verify", ["estimate", "exact"])
def test_all_matches_are_the_pairs_of_find_duplicate_pairs(tmp_path: Path, corpus: list[str], verify: str) -> None:
    expected = {(i, j): s for i, j, s in find_duplicate_pairs(corpus, verify=verify)}  # type: ignore[arg-type]
    got = {}
    with Index(tmp_path / "idx", verify=verify) as index:  # type: ignore[arg-type]
        third = len(corpus) // 3
        for lo, hi in ((0, third), (third, 2 * third), (2 * third, len(corpus))):
            found = index.add(corpus[lo:hi], ids=range(lo, hi), all_matches=True)
            for j, matches in enumerate(found, lo):
                assert [m.similarity for m in matches] == sorted((m.similarity for m in matches), reverse=True)
                got.update({(int(m.id), j): m.similarity for m in matches})
        for k, matches in enumerate(index.query(corpus[:5], all_matches=True)):
            assert Duplicate(str(k), 1.0) in matches  # a stored text finds itself
    assert set(got) == set(expected)
    for pair, s in got.items():
        assert s == pytest.approx(expected[pair])


def test_exact_similarities_are_the_exact_jaccard(tmp_path: Path, corpus: list[str]) -> None:
    results = build_by_shards(tmp_path / "idx", corpus, [len(corpus) // 3, len(corpus) * 2 // 3], "exact")
    for j, r in enumerate(results):
        if r is not None:
            assert r.similarity == pytest.approx(dedup.exact_jaccard(corpus[int(r.id)], corpus[j]))


def test_many_small_runs_give_the_same_matches_as_one_run(
    tmp_path: Path, corpus: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs merged a few rows at a time (chunk edges inside runs of equal keys) find what one run finds."""
    monkeypatch.setattr(dedup.index, "MERGE_CHUNK", 5)
    monkeypatch.setattr(dedup.index, "LOOKUP_SPAN", 64)  # searched a few probes at a time, pages released
    texts = corpus + corpus[:40]  # exact copies: many stored rows share each of their keys
    got = {}
    for step in (len(texts), 9):
        found = []
        with Index(tmp_path / f"idx{step}") as index:
            for lo in range(0, len(texts), step):
                chunk = texts[lo : lo + step]
                found += index.add(chunk, ids=range(lo, lo + len(chunk)), all_matches=True)
            stats = index.stats()
            got[step] = (found, index.query(texts[:60], all_matches=True))
        assert stats["band_rows"] == len(texts) * stats["bands"] - sum(not t.strip() for t in texts) * stats["bands"]
        if step == 9:
            assert 1 <= stats["runs"] < 10  # runs were made, and merged (binary counter)
            runs_dir = tmp_path / "idx9.runs"
            for keys in runs_dir.glob("*.keys"):
                values = np.fromfile(keys, dtype="<i8")
                assert (np.diff(values) >= 0).all()
            assert len(list(runs_dir.glob("[0-9]*.keys"))) == stats["runs"]  # merged runs' files are gone
            assert len(list(runs_dir.glob("i*.keys"))) == stats["id_runs"]  # the ids' runs, merged the same way
            assert index.known([5, 70, "nope"]) == ["5", "70"]
    assert got[9] == got[len(texts)]


def test_one_batch_equals_many_batches(tmp_path: Path, corpus: list[str]) -> None:
    one = build_by_shards(tmp_path / "one", corpus, [], "estimate")
    many = build_by_shards(tmp_path / "many", corpus, list(range(7, len(corpus), 7)), "estimate")
    assert [r is None for r in one] == [r is None for r in many]


def test_query_finds_stored_documents_and_adds_nothing(tmp_path: Path, corpus: list[str]) -> None:
    path = tmp_path / "idx"
    half = len(corpus) // 2
    build_by_shards(path, corpus[:half], [], "estimate")
    expected = expected_duplicates(corpus, "estimate")
    with Index(path, read_only=True) as index:
        found = index.query(corpus[half:])
        assert len(index) == half
    assert any(found)
    for k, r in enumerate(found, half):
        earlier_stored = {i for i in expected.get(k, set()) if i < half}
        assert (r is not None) == bool(earlier_stored)
        if r is not None:
            assert int(r.id) in earlier_stored


def test_reopened_index_remembers_and_keeps_parameters(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    text = "one two three four five six seven eight nine ten eleven twelve"
    with Index(path, threshold=0.7, num_perm=64) as index:
        assert index.add([text], ids=["x"]) == [None]
    with Index(path) as index:
        assert index.params["threshold"] == 0.7 and index.params["num_perm"] == 64
        assert index.add([text + "!"], ids=["y"]) == [Duplicate("x", 1.0)]
        assert "x" in index and "z" not in index
    with pytest.raises(IndexError_, match="num_perm=64, not 128"):
        Index(path, num_perm=128)


def test_remove_and_compact(tmp_path: Path, corpus: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "idx"
    texts = corpus[:60]
    ids = [f"d{k}" for k in range(60)]
    with Index(path, verify="exact") as index:
        index.add(texts[:30], ids=ids[:30])
        index.add(texts[30:], ids=ids[30:])
        assert index.remove(["d3", "d4", "d40", "nope"]) == 3
        assert len(index) == 57 and "d3" not in index
        # A removed document is no longer found.
        hit = index.query([texts[3]])[0]
        assert hit is None or hit.id not in ("d3", "d4", "d40")
        expected = index.query(corpus[:120], all_matches=True)
        # A compaction that fails midway changes nothing.
        with monkeypatch.context() as m:
            m.setattr(Index, "_copy_run_without", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
            with pytest.raises(OSError, match="disk full"):
                index.compact()
        assert len(index) == 57 and index.query(corpus[:120], all_matches=True) == expected
        runs_dir = Path(str(path) + ".runs")
        runs_bytes = sum(f.stat().st_size for f in runs_dir.iterdir())
        sizes = index.compact()
        assert set(sizes) == {"bytes_before", "bytes_after", "documents_removed"} and sizes["documents_removed"] == 3
        assert sum(f.stat().st_size for f in runs_dir.iterdir()) < runs_bytes * 0.97  # 3 of 60 documents fewer
        assert len(index) == 57 and index.known(ids) == [i for i in ids if i not in ("d3", "d4", "d40")]
        assert index.query(corpus[:120], all_matches=True) == expected  # the same answers, renumbered files
        assert index.query([texts[10]]) == [Duplicate("d10", 1.0)]
        stats = index.stats()
        # The removed documents' rows are gone from the runs and the files (of generation 1; the old ones deleted).
        assert stats["band_rows"] == 57 * stats["bands"] and index.compact()["documents_removed"] == 0
        assert (runs_dir / "signatures.g1.u32").stat().st_size == 57 * 4 * stats["num_perm"]
        assert not (runs_dir / "signatures.u32").exists() and not (runs_dir / "ids.bin").exists()
        assert index.add(["d3 comes back as a new text, long enough to shingle"], ids=["d3"]) == [None]
    with Index(path, read_only=True) as reader:
        assert len(reader) == 58 and reader.query([texts[45]]) == [Duplicate("d45", 1.0)] and "d3" in reader
    with Index(path) as index:
        assert index.known(["d3", "d4", "d59"]) == ["d3", "d59"]
    assert stats["documents"] == 57 and stats["format_version"] == dedup.index.FORMAT_VERSION


def test_empty_and_wordless_documents(tmp_path: Path) -> None:
    with Index(tmp_path / "idx") as index:
        assert index.add([], ids=[]) == []
        assert index.add(["", "!!!", ""], ids=["a", "b", "c"]) == [None, None, None]
        assert index.query([""]) == [None]
        assert len(index) == 3


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with Index(tmp_path / "idx") as index:
        with pytest.raises(ValueError, match="2 texts but 1 ids"):
            index.add(["a b c", "d e f"], ids=["x"])
        with pytest.raises(ValueError, match="distinct"):
            index.add(["a b c", "d e f"], ids=["x", "x"])
        index.add(["a b c"], ids=["x"])
        with pytest.raises(ValueError, match="'x' is already in the index"):
            index.add(["g h i"], ids=["x"])
        with pytest.raises(TypeError, match="single str"):
            index.add("a b c", ids=["y"])
        assert len(index) == 1  # nothing of a refused batch was stored
    with pytest.raises(ValueError, match="threshold"):
        Index(tmp_path / "other", threshold=1.5)
    with pytest.raises(IndexError_, match="no index here"):
        Index(tmp_path / "missing", read_only=True)
    with pytest.raises(IndexError_, match="read-only"):
        Index(tmp_path / "idx", read_only=True).add(["a"], ids=["z"])


def test_not_an_index_and_newer_version(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_text("this is not a database")
    with pytest.raises(IndexError_, match="not a dedup index"):
        Index(junk)
    other = tmp_path / "other.duckdb"
    duckdb.connect(str(other)).close()
    with pytest.raises(IndexError_, match="not a dedup index"):
        Index(other)
    path = tmp_path / "idx"
    Index(path).close()
    snapshot = Path(str(path) + ".runs") / "snapshot.json"
    body = json.loads(snapshot.read_text())
    snapshot.write_text(json.dumps({**body, "format_version": 99}))
    with pytest.raises(IndexVersionError, match="version 99 is newer"):
        Index(path, read_only=True)  # a reader reads the snapshot
    for version, message in ((99, "version 99 is newer"), (2, "version 2 was written by an older dedup")):
        con = duckdb.connect(str(path))
        con.execute(f"UPDATE meta SET value = '{version}' WHERE name = 'format_version'")
        con.close()
        with pytest.raises(IndexVersionError, match=message):
            Index(path)  # a writer reads the DuckDB file


def test_a_format_3_index_is_upgraded_in_place_by_its_first_writer(tmp_path: Path, corpus: list[str]) -> None:
    """Format 3 kept the ids in a DuckDB table: a writer hashes them into id runs; a reader says how to upgrade."""
    path = tmp_path / "idx"
    ids = [f"doc-{k}" for k in range(len(corpus))]
    with Index(path, verify="exact") as index:
        for lo in range(0, len(corpus), 50):
            index.add(corpus[lo : lo + 50], ids=ids[lo : lo + 50])
        index.remove(["doc-3"])
        expected = index.query(corpus[:80], all_matches=True)
    # Turn it back into what format 3 wrote: the ids in DuckDB's docs table, no id runs.
    runs_dir = Path(str(path) + ".runs")
    for f in [*runs_dir.glob("i*.keys"), *runs_dir.glob("i*.docs")]:
        f.unlink()
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE docs(doc BIGINT NOT NULL, id VARCHAR NOT NULL)")
        con.executemany("INSERT INTO docs VALUES (?, ?)", [(d, i) for d, i in enumerate(ids) if i != "doc-3"])
        con.execute("UPDATE meta SET value = '3' WHERE name = 'format_version'")
        con.execute("DELETE FROM meta WHERE name = 'id_runs'")
    snapshot = runs_dir / "snapshot.json"
    body = json.loads(snapshot.read_text())
    del body["id_runs"]
    snapshot.write_text(json.dumps({**body, "format_version": 3}))
    with pytest.raises(IndexVersionError, match="open it once for writing"):
        Index(path, read_only=True)
    with Index(path) as index:
        assert index.stats()["format_version"] == dedup.index.FORMAT_VERSION and index.stats()["id_runs"] >= 1
        assert index.known(ids) == [i for i in ids if i != "doc-3"]
        assert index.query(corpus[:80], all_matches=True) == expected
        with pytest.raises(ValueError, match="already in the index"):
            index.add(["any text at all"], ids=["doc-7"])
        assert index.add(["the removed id comes back with a new text"], ids=["doc-3"]) == [None]
    with duckdb.connect(str(path), read_only=True) as con:
        assert not con.execute("SELECT * FROM information_schema.tables WHERE table_name = 'docs'").fetchall()
    with Index(path, read_only=True) as reader:
        assert len(reader) == len(corpus) and "doc-3" in reader


WRITER = """
import sys, time
from dedup import Index
index = Index(sys.argv[1], timeout=0.1)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
index.close()
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def test_one_writer_at_a_time_and_readers_alongside(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    with Index(path) as index:
        index.add(["the quick brown fox jumps over the lazy dog again"], ids=["a"])
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "30"], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(IndexBusyError, match="another process is writing"):
            Index(path, timeout=0.2)
        with Index(path, read_only=True) as reader:  # a reader is not blocked by the writer's lock
            assert len(reader) == 1
            assert reader.query(["The quick brown fox jumps over the lazy dog again!"]) == [Duplicate("a", 1.0)]
    finally:
        proc.kill()
        proc.wait()
    with Index(path, timeout=5) as index:  # the lock of a killed writer is gone
        assert len(index) == 1


HOLDER = """
import sys
from dedup import Index
index = Index(sys.argv[1], keep_open=True)  # holds the DuckDB file open (and locked) until close()
for batch in (0, 1):
    words = " ".join(f"w{batch}x{m}" for m in range(15))  # no shingle shared between the batches
    index.add([f"{w} {words}" for w in "abc"], ids=[f"{batch}-{k}" for k in range(3)])
    print(f"added {batch}", flush=True)
    sys.stdin.readline()
index.close()
"""


def test_readers_in_another_process_query_while_a_writer_holds_the_index(tmp_path: Path, capsys) -> None:
    """A writer process keeps the index open; this process queries and reads stats meanwhile, without waiting."""
    path = tmp_path / "idx"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env()
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "added 0"
        with pytest.raises(duckdb.IOException):  # the writer really holds the DuckDB file
            duckdb.connect(str(path), read_only=True)
        later = "a " + " ".join(f"w1x{m}" for m in range(15))
        with Index(path, read_only=True, timeout=0) as reader:  # timeout=0: any wait would fail
            assert reader.query(["b " + " ".join(f"w0x{m}" for m in range(15))]) == [Duplicate("0-1", 1.0)]
            assert reader.query([later]) == [None] and len(reader) == 3
            # Ids are looked up in the id runs the snapshot names: no wait for the writer either.
            assert reader.known(["0-1", "1-0", "0-2"]) == ["0-1", "0-2"] and "0-0" in reader and "1-0" not in reader
            (sim,) = reader.similarity([("0-0", "0-1")])
            assert 0.5 < sim < 1.0
            proc.stdin.write("\n")
            proc.stdin.flush()
            assert proc.stdout.readline().strip() == "added 1"
            assert reader.query([later]) == [Duplicate("1-0", 1.0)]  # the next commit is seen
            assert len(reader) == 6 and reader.stats()["batches"] == 2
            assert reader.known(["1-0"]) == ["1-0"] and reader.similarity([("0-0", "0-0")]) == [1.0]
        assert cli.main(["index", "stats", str(path), "-f", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["documents"] == 6
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()


def test_a_second_writer_waits_for_the_first(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    Index(path).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), "1.0"], stdout=subprocess.PIPE, text=True, env=_env()
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with Index(path, timeout=60) as index:
            assert len(index) == 0
    finally:
        proc.kill()
        proc.wait()


KILLER = """
import os, random, signal, sys, time
from dedup import Index

path, kills = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
texts = [f"document {k} " + " ".join(f"w{k}x{m}" for m in range(12)) for k in range(4000)]


def add_batches(index, count):
    b = index.stats()["batches"]
    for _ in range(count):
        lo = (b * 25) % 4000
        index.add(texts[lo : lo + 25], ids=[f"b{b}-{k}" for k in range(25)])
        os.write(1, f"committed {b}\\n".encode())
        b += 1


def add_forever():
    add_batches(Index(path, num_perm=32, timeout=30, verify="exact"), 10**9)  # a run per batch, merged as a counter


with Index(path, num_perm=32, verify="exact") as index:  # create it and load the compiled kernels before forking
    add_batches(index, 9)  # runs exist (two, one of them merged) before the first kill, however slow the machine
for _ in range(kills):
    pid = os.fork()
    if pid == 0:
        try:
            add_forever()
        finally:
            os._exit(1)
    time.sleep(rng.uniform(0.05, 1.6))
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.write(1, b"killed\\n")
"""


TEXTS = [f"document {k} " + " ".join(f"w{k}x{m}" for m in range(12)) for k in range(4000)]


def test_kill_9_during_add_leaves_a_consistent_index(tmp_path: Path) -> None:
    """20 ``kill -9`` at random moments of ``add``: every reported batch is there, whole; nothing partial."""
    path = tmp_path / "idx"
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(path), "20"], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.split("\n")
    assert lines.count("killed") == 20
    committed = {int(line.split()[1]) for line in lines if line.startswith("committed")}
    assert committed, "no batch committed between the kills"
    runs_dir = Path(str(path) + ".runs")
    # What readers see after the kills, before any writer repaired anything: a snapshot whose runs all exist.
    snapshot = json.loads((runs_dir / "snapshot.json").read_text())
    for run in snapshot["runs"]:
        assert (runs_dir / (run["name"] + ".keys")).exists() and (runs_dir / (run["name"] + ".docs")).exists()
    with Index(path, read_only=True, timeout=0) as reader:
        assert len(reader) == snapshot["next_doc"]
        assert reader.query([TEXTS[0]]) == [Duplicate("b0-0", 1.0)]
    con = duckdb.connect(str(path), read_only=True)
    try:
        batches = {
            b: (first, n) for b, first, n in con.execute("SELECT batch, first_doc, n_docs FROM batches").fetchall()
        }
        meta = {k: json.loads(v) for k, v in con.execute("SELECT name, value FROM meta").fetchall()}
    finally:
        con.close()
    # The committed documents' ids, at their numbers in the ids column.
    id_ends = np.fromfile(runs_dir / "ids.end", dtype="<i8")[: meta["next_doc"]].tolist()
    id_bytes = (runs_dir / "ids.bin").read_bytes()
    docs = [(d, id_bytes[a:b].decode()) for d, (a, b) in enumerate(zip([0, *id_ends], id_ends))]
    id_docs = []
    for run in meta["id_runs"]:  # the id runs a commit refers to: whole, sorted, one row per document
        keys = np.fromfile(runs_dir / (run["name"] + ".keys"), dtype="<i8")
        assert len(keys) == run["rows"] and (np.diff(keys) >= 0).all()
        id_docs.append(np.fromfile(runs_dir / (run["name"] + ".docs"), dtype="<i8"))
    assert sorted(np.concatenate(id_docs).tolist()) == list(range(meta["next_doc"]))
    assert snapshot["next_doc"] <= meta["next_doc"]
    band_docs = []
    # The runs a commit names are the merge policy's for its batch count (equal batches; a new run merged with
    # the newest while that is at most twice its size): whatever the kills interrupted left no trace in them.
    # (Not "more than one run": after 8, 13, 21... batches the policy leaves exactly one, so that hung on timing.)
    sizes: list[int] = []
    for _ in batches:
        size = 1
        while sizes and sizes[-1] <= 2 * size:
            size += sizes.pop()
        sizes.append(size)
    assert [run["rows"] for run in meta["runs"]] == [size * 25 * meta["bands"] for size in sizes]
    for run in meta["runs"]:  # every run a commit refers to is whole and sorted
        keys = np.fromfile(runs_dir / (run["name"] + ".keys"), dtype="<i8")
        assert len(keys) == run["rows"] and (np.diff(keys) >= 0).all()
        band_docs.append(np.fromfile(runs_dir / (run["name"] + ".docs"), dtype="<i8"))
    docs_of_bands, per_doc = np.unique(np.concatenate(band_docs), return_counts=True)
    bands = dict(zip(docs_of_bands.tolist(), per_doc.tolist()))
    assert committed <= set(batches)  # every batch reported committed survived
    assert sorted(batches) == list(range(len(batches)))  # no gap, no partial batch
    assert [d for d, _ in docs] == list(range(len(docs))) == list(range(meta["next_doc"]))
    assert sum(n for _, n in batches.values()) == len(docs)
    texts = []
    for b, (first, n) in batches.items():
        assert [i for _, i in docs[first : first + n]] == [f"b{b}-{k}" for k in range(n)]
        lo = (b * 25) % 4000
        texts += TEXTS[lo : lo + n]
    assert set(bands) == set(range(len(docs))) and set(bands.values()) == {meta["bands"]}
    # Each committed document's signature and shingle hashes, at its number in the files, are its text's.
    sigs = np.fromfile(runs_dir / "signatures.u32", dtype="<u4")[: 32 * len(docs)].reshape(-1, 32)
    assert (sigs == dedup.signatures(texts, num_perm=32)).all()
    ends = np.fromfile(runs_dir / "shingles.end", dtype="<i8")[: len(docs)]
    stored = np.fromfile(runs_dir / "shingles.bin", dtype="<u4")
    for d in random.Random(1).sample(range(len(docs)), 50):
        start = ends[d - 1] // 4 if d else 0
        expected = set(shingle_hashes32([texts[d]])[0].tolist())
        assert set(stored[start : ends[d] // 4].tolist()) == expected
    with Index(path) as index:  # and it still works
        assert index.known([i for _, i in docs]) == [i for _, i in docs]
        with pytest.raises(ValueError, match="already in the index"):
            index.add(["a text with a used id"], ids=[docs[-1][1]])
        assert index.add(["a fresh text after all those crashes, long enough"], ids=["last"]) == [None]
    # Files of runs no commit refers to (a flush or merge cut short) are gone once a writer opened it.
    names = {f.name.split(".")[0] for pattern in ("*.keys", "*.docs") for f in runs_dir.glob(pattern)}
    with duckdb.connect(str(path), read_only=True) as con:
        (value,) = con.execute("SELECT value FROM meta WHERE name = 'runs'").fetchall()[0]
        (id_value,) = con.execute("SELECT value FROM meta WHERE name = 'id_runs'").fetchall()[0]
    listed = {r["name"] for r in json.loads(value) + json.loads(id_value)}
    assert names == listed
