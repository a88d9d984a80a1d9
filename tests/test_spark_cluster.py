"""The Spark engine on a real multi-process cluster: a standalone master and two 1-core workers.

The daemons are started with ``spark-class`` on 127.0.0.1 (:mod:`dedup.spark.standalone`), the
``dedup`` command runs against ``spark://127.0.0.1:PORT`` in its own process, as a user would,
and its reports are compared with the local engine's. Every process the fixture started is
stopped by PID, and the test checks that none is left.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
standalone = pytest.importorskip("dedup.spark.standalone")

import dedup  # noqa: E402
from dedup import synth  # noqa: E402

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = standalone.start_standalone(workers=2, cores=1, memory="1g", work_dir=tmp_path_factory.mktemp("standalone"))
    try:
        yield c
    finally:
        c.stop()
    assert not [pid for pid in c.pids if _alive(pid)], "a Spark daemon outlived the fixture"


def _dedup(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    # The driver binds to loopback like the daemons, so a host that cannot reach its own address still works.
    env = {**os.environ, "DEDUP_DEBUG": "1", "SPARK_LOCAL_IP": "127.0.0.1"}
    return subprocess.run(
        [sys.executable, "-m", "dedup", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


def _on(cluster) -> list[str]:
    # Executors must fit the 1 GB workers; 4 shuffle partitions for 2 cores.
    return [
        "--engine",
        "spark",
        "--spark-master",
        cluster.master,
        "--spark-partitions",
        "4",
        "--spark-conf",
        "spark.executor.memory=768m",
        "--spark-conf",
        "spark.driver.host=127.0.0.1",  # with SPARK_LOCAL_IP: the executors reach the driver on loopback
    ]


def _part_records(out: Path) -> list[dict]:
    return [json.loads(line) for part in sorted(out.glob("part-*")) for line in part.read_text().splitlines()]


def test_clean_on_a_cluster_writes_what_the_local_engine_writes(cluster, tmp_path):
    """``dedup clean --docs`` against the cluster: the duplicate decisions and the passage search run
    on the executors, which write the cleaned shard (gzip, as the input); the driver writes the
    manifest. The same bytes, manifest and removed records as the local engine. (The other
    formats, and the ``docs`` and ``passages`` reports, are compared with local in ``local[2]``.)"""
    data = tmp_path / "dump"
    synth.write_dump(data, size_bytes=300_000, seed=3)
    gz = tmp_path / "shard" / "docs.jsonl.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress((data / "docs.jsonl").read_bytes()))
    # Relative paths, as a user types them: the executors run in their own directories.
    args = ["clean", "shard", "--docs", "--id-field", "id", "-q"]
    local = _dedup(*args, "-o", "clean-local", cwd=tmp_path)
    remote = _dedup(*args, "-o", "clean-spark", *_on(cluster), cwd=tmp_path)
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr[-3000:]
    for name in ("docs.jsonl.gz", "manifest.jsonl", "removed.jsonl"):
        want_bytes = (tmp_path / "clean-local" / name).read_bytes().replace(b"clean-local", b"OUT")
        assert (tmp_path / "clean-spark" / name).read_bytes().replace(b"clean-spark", b"OUT") == want_bytes, name
    manifest = [json.loads(line) for line in (tmp_path / "clean-local" / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) >= 5 and "document" in {r["kind"] for r in manifest}
    removed = (tmp_path / "clean-local" / "removed.jsonl").read_text().splitlines()
    assert len(removed) >= 5  # near-duplicate documents dropped, with their similarity
    stats = json.loads((tmp_path / "clean-spark" / "stats.json").read_text())
    assert stats["engine"] == "spark" and stats["spark_master"] == cluster.master


def _repetitive_corpus(path: Path, docs: int = 2400, words: int = 330) -> list[str]:
    """Articles in three copies each (a few words edited), shuffled: most tokens are seeds."""
    rng = random.Random(9)
    vocab = sorted(
        {"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(6000)}
    )
    texts = []
    for _ in range(docs // 3):
        base = [rng.choice(vocab) for _ in range(words)]
        for _ in range(3):
            copy = list(base)
            for _ in range(3):
                copy[rng.randrange(words)] = rng.choice(vocab)
            texts.append(" ".join(copy))
    rng.shuffle(texts)
    path.write_text("".join(json.dumps({"id": k, "text": t}) + "\n" for k, t in enumerate(texts)), encoding="utf-8")
    return texts


def test_passages_with_a_small_driver(cluster, tmp_path):
    """``dedup passages`` with spark.driver.maxResultSize=16m and 512 MB of driver memory, on a
    corpus whose seeds (about 61 bytes each when they were collected) and texts holding them are
    far more: the executors find the matches and write them (``--spark-output``); only the summary
    comes back. The records equal the local report's, in order."""
    jsonl = tmp_path / "docs.jsonl"
    texts = _repetitive_corpus(jsonl)
    tokens = int(dedup.tokenize(texts).counts().sum())
    seeds_bytes = tokens * 2 // 3 * 61  # two of every three copies are seeds
    assert seeds_bytes + sum(map(len, texts)) > 2 * 16 * 2**20
    out = tmp_path / "matches"
    args = [jsonl, "--jsonl", "--id-field", "id"]
    remote = _dedup(
        "passages",
        *args,
        "--format",
        "json",
        *_on(cluster),
        "--spark-driver-memory",
        "512m",
        "--spark-conf",
        "spark.driver.maxResultSize=16m",
        "--spark-output",
        out,
        cwd=tmp_path,
    )
    assert remote.returncode == 0, remote.stderr[-3000:]
    local = _dedup("passages", *args, "--format", "jsonl", cwd=tmp_path)
    want = [json.loads(line) for line in local.stdout.splitlines()]
    assert len(want) >= len(texts) // 2
    assert _part_records(out) == want
    report = json.loads(remote.stdout)
    assert report["matches"] == []  # nothing collected on the driver
    assert (report["summary"]["matches"], report["summary"]["output"]) == (len(want), str(out))
    assert report["summary"]["spark_master"] == cluster.master
