"""Shuffle bytes of the Spark passage search with and without the co-partitioned seed join.

Opt-in (it starts a JVM per variant and takes minutes)::

    DEDUP_BENCH_SPARK=1 python benchmarks/spark_shuffle.py --size 20MB

A :func:`dedup.synth.write_dump` corpus (cached under ``benchmarks/data/``) is
written as Parquet; each variant runs in a fresh ``local[2]`` driver process
with Spark's event log on, and the shuffle bytes written and read by its
tasks are summed from that log (``Shuffle Write Metrics``, ``Shuffle Read
Metrics``). Both variants must return the same matches. Results go to
``benchmarks/results/spark-shuffle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _shuffle_bytes(event_dir: Path) -> dict[str, int]:
    """Shuffle bytes written and read by all tasks of the application logged in ``event_dir``."""
    written = read = records = 0
    for log in event_dir.rglob("*"):
        if not log.is_file():
            continue
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if '"SparkListenerTaskEnd"' not in line:
                continue
            metrics = json.loads(line).get("Task Metrics") or {}
            w = metrics.get("Shuffle Write Metrics") or {}
            r = metrics.get("Shuffle Read Metrics") or {}
            written += int(w.get("Shuffle Bytes Written", 0))
            records += int(w.get("Shuffle Records Written", 0))
            read += int(r.get("Remote Bytes Read", 0)) + int(r.get("Local Bytes Read", 0))
    return {"shuffle_written": written, "shuffle_read": read, "shuffle_records": records}


def driver(parquet: str, copartition: str, event_dir: str) -> dict:
    """One run of the passage search (in its own process)."""
    from pyspark.sql import functions as F

    from dedup import spark as ds
    from dedup.spark.passages import passage_matches
    from dedup.spark.session import indexed

    spark = ds.get_session(
        "local[2]",
        shuffle_partitions=4,
        **{
            "spark.driver.memory": "3g",
            "spark.sql.adaptive.enabled": "false",
            "spark.eventLog.enabled": "true",
            "spark.eventLog.compress": "false",
            "spark.eventLog.dir": Path(event_dir).as_uri(),
        },
    )
    docs = indexed(spark.read.parquet(parquet), "id", "text", "id")
    stats: dict = {"documents": docs.count()}
    t = time.perf_counter()
    matches = passage_matches(docs, threshold=0.8, min_words=20, ngram=5, copartition=copartition == "1", stats=stats)
    rows = matches.select(F.sum(F.hash("oi", "o_start", "o_end", "ri", "r_start", "r_end")), F.count("*")).first()
    stats.update(wall_s=round(time.perf_counter() - t, 2), matches=rows[1], checksum=rows[0])
    spark.stop()
    return stats


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--driver":
        print(json.dumps(driver(*sys.argv[2:5])))
        return 0
    if not os.environ.get("DEDUP_BENCH_SPARK"):
        print("opt-in benchmark: set DEDUP_BENCH_SPARK=1 to run it", file=sys.stderr)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20MB", help="corpus size (default 20MB)")
    parser.add_argument("--out", default=str(HERE / "results" / "spark-shuffle.json"))
    parser.add_argument("--variants", default="0,1", help="copartitioned: 0 (two shuffles) and/or 1 (default both)")
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from conftest import corpus_dir  # the benchmark suites' cached corpora
    from dedup import synth

    tmp = tempfile.TemporaryDirectory(prefix="dedup-bench-shuffle-")
    texts = list(synth.iter_texts(corpus_dir(args.size)))
    path = Path(tmp.name) / "corpus.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path, row_group_size=2048)
    results = []
    for copartition in args.variants.split(","):
        events = Path(tmp.name) / f"events-{copartition}"
        events.mkdir()
        run = subprocess.run(
            [sys.executable, __file__, "--driver", str(path), copartition, str(events)],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            print(run.stderr[-3000:], file=sys.stderr)
            return 1
        stats = json.loads(run.stdout.strip().splitlines()[-1])
        row = {"size": args.size, "copartitioned": copartition == "1", **stats, **_shuffle_bytes(events)}
        results.append(row)
        print(json.dumps(row), flush=True)
    if len({(r["checksum"], r["matches"]) for r in results}) > 1:
        print("the two variants found different matches", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(previous + results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
