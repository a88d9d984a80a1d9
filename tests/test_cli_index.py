"""``dedup index build|add|stats`` and ``--against IDX`` of ``docs`` and ``clean``, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dedup import cli, find_duplicate_pairs, synth
from dedup.index import FORMAT_VERSION


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[str]]:
    """Two JSONL shards of one generated dump with many duplicates, and all its texts in order."""
    root = tmp_path_factory.mktemp("shards")
    synth.write_dump(root / "dump", size_bytes="300kB", seed=5, exact_rate=0.1, near_rate=0.3)
    lines = (root / "dump" / "docs.jsonl").read_text(encoding="utf-8").splitlines()
    half = len(lines) // 2
    (root / "a.jsonl").write_text("\n".join(lines[:half]) + "\n", encoding="utf-8")
    (root / "b.jsonl").write_text("\n".join(lines[half:]) + "\n", encoding="utf-8")
    return root / "a.jsonl", root / "b.jsonl", [json.loads(line)["text"] for line in lines]


def test_build_stats_add(tmp_path: Path, shards, capsys) -> None:
    a, b, texts = shards
    idx = tmp_path / "seen.idx"
    code, out, err = run(capsys, "index", "build", str(a), "--jsonl", "--id-field", "id", "-o", str(idx), "-f", "json")
    assert code == 0, err
    built = json.loads(out)
    assert built["summary"]["documents"] == len(texts) // 2
    code, out, _ = run(capsys, "index", "stats", str(idx), "-f", "json")
    stats = json.loads(out)
    assert code == 0 and stats["documents"] == len(texts) // 2 and stats["format_version"] == FORMAT_VERSION
    code, out, err = run(capsys, "index", "add", str(idx), str(b), "--jsonl", "--id-field", "id", "-f", "jsonl")
    assert code == 0, err
    added = [json.loads(line) for line in out.splitlines()]
    # Each reported duplicate names an earlier document (ids are positions in the dump).
    assert added and all(int(r["duplicate_of"]) < int(r["id"]) for r in added)
    code, out, _ = run(capsys, "index", "stats", str(idx))
    assert f"documents: {len(texts)}" in out.splitlines()


def test_against_equals_find_duplicate_pairs_on_the_concatenation(tmp_path: Path, shards, capsys) -> None:
    a, b, texts = shards
    idx = tmp_path / "seen.idx"
    assert (
        run(capsys, "index", "build", str(a), "--jsonl", "--id-field", "id", "-o", str(idx), "--verify", "exact")[0]
        == 0
    )
    code, out, err = run(capsys, "docs", str(b), "--jsonl", "--id-field", "id", "--against", str(idx), "-f", "json")
    assert code == 0, err
    report = json.loads(out)
    half = len(texts) // 2
    expected: dict[int, set[int]] = {}
    for i, j, _ in find_duplicate_pairs(texts):
        if i < half <= j:
            expected.setdefault(j, set()).add(i)
    got = {int(r["member"]["id"]): int(r["duplicate_of"]) for r in report["against"]}
    assert len(expected) >= 3
    assert set(got) == set(expected)
    assert all(old in expected[new] for new, old in got.items())
    assert report["summary"]["old_duplicates"] == len(got)


def test_clean_docs_against_drops_old_duplicates_and_names_them(tmp_path: Path, capsys) -> None:
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    old_dir.mkdir()
    new_dir.mkdir()
    page = "This page about the harbour lights was published last month and copied again. " * 3
    (old_dir / "page.txt").write_text(page, encoding="utf-8")
    (new_dir / "copy.txt").write_text(page.upper(), encoding="utf-8")
    (new_dir / "fresh.txt").write_text("Something that nobody had written before, in a new text.", encoding="utf-8")
    idx = tmp_path / "seen.idx"
    assert run(capsys, "index", "build", str(old_dir), "-o", str(idx), "-q")[0] == 0
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "clean", str(new_dir), "-o", str(out_dir), "--docs", "--against", str(idx), "-q")
    assert code == 0, err
    written = {p.name for p in out_dir.iterdir()}
    assert "fresh.txt" in written and "copy.txt" not in written
    (rec,) = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    assert rec["kind"] == "document" and rec["path"].endswith("copy.txt")
    assert rec["original"] == {"index": str(idx), "id": str(old_dir / "page.txt")}
    (removed,) = [json.loads(line) for line in (out_dir / "removed.jsonl").read_text().splitlines()]
    assert removed["duplicate_of"] == {"index": str(idx), "id": str(old_dir / "page.txt")}
    assert (new_dir / "copy.txt").exists()  # inputs are never modified


def test_index_errors_are_one_line(tmp_path: Path, shards, capsys) -> None:
    a, _, _ = shards
    idx = tmp_path / "seen.idx"
    assert run(capsys, "index", "build", str(a), "--jsonl", "-o", str(idx), "-q")[0] == 0
    code, _, err = run(capsys, "index", "build", str(a), "--jsonl", "-o", str(idx))
    assert code == 2 and "exists; use --force" in err and err.count("\n") == 1
    code, out, err = run(capsys, "index", "add", str(idx), str(a), "--jsonl")
    assert code == 2 and "already holds the id" in err and "nothing was added" in err
    code, out, _ = run(capsys, "index", "stats", str(idx), "-f", "json")
    assert json.loads(out)["batches"] == 1
    code, _, err = run(capsys, "index", "add", str(tmp_path / "missing.idx"), str(a), "--jsonl")
    assert code == 2 and "no index here" in err
    junk = tmp_path / "junk.idx"
    junk.write_text("not an index")
    code, _, err = run(capsys, "index", "stats", str(junk))
    assert code == 2 and "not a dedup index" in err and "Traceback" not in err
    code, _, err = run(capsys, "docs", str(a), "--jsonl", "--against", str(idx), "-f", "csv")
    assert code == 2 and "csv" in err
    code, _, err = run(capsys, "clean", str(a), "-o", str(tmp_path / "o"), "--against", str(idx))
    assert code == 2 and "needs --docs" in err


def test_against_with_work_dir_equals_against_in_memory(tmp_path: Path, shards, capsys) -> None:
    a, b, _ = shards
    idx = tmp_path / "seen.idx"
    assert run(capsys, "index", "build", str(a), "--jsonl", "--id-field", "id", "-o", str(idx))[0] == 0
    argv = ["docs", str(b), "--jsonl", "--id-field", "id", "--against", str(idx), "-f", "json"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    in_memory = json.loads(out)
    code, out, err = run(capsys, *argv, "--work-dir", str(tmp_path / "work"))
    assert code == 0, err
    streamed = json.loads(out)
    assert streamed["against"] == in_memory["against"] and len(in_memory["against"]) >= 3
    assert streamed["clusters"] == in_memory["clusters"]
    assert {k: v for k, v in streamed["summary"].items() if k != "seconds"} == {
        k: v for k, v in in_memory["summary"].items() if k != "seconds"
    }


def test_build_force_replaces_the_old_index_whole_despite_a_killed_build(tmp_path: Path, shards, capsys) -> None:
    a, b, texts = shards
    idx = tmp_path / "seen.idx"
    assert run(capsys, "index", "build", str(a), "--jsonl", "--id-field", "id", "-o", str(idx), "-q")[0] == 0
    # What a build killed midway leaves beside IDX: its DuckDB file and a runs directory with a stray run.
    stale = tmp_path / "seen.idx.building"
    stale.write_bytes(b"half a build")
    (tmp_path / "seen.idx.building.runs").mkdir()
    (tmp_path / "seen.idx.building.runs" / "00000000.keys").write_bytes(b"\0" * 64)
    code, _, err = run(capsys, "index", "build", str(b), "--jsonl", "--id-field", "id", "-o", str(idx), "--force", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "index", "stats", str(idx), "-f", "json")
    assert code == 0 and json.loads(out)["documents"] == len(texts) - len(texts) // 2  # b only: a's index is gone
    assert not stale.exists() and not (tmp_path / "seen.idx.building.runs").exists()
    # The new index answers for b's documents and knows nothing of a's.
    code, out, err = run(capsys, "index", "add", str(idx), str(a), "--jsonl", "--id-field", "id", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "index", "stats", str(idx), "-f", "json")
    assert json.loads(out)["documents"] == len(texts)
