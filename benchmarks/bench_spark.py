"""Spark ``local[2]`` vs the local engine with ``jobs=2`` on a generated corpus, with per-stage times.

Opt-in (it starts a JVM and takes minutes)::

    DEDUP_BENCH_SPARK=1 python benchmarks/bench_spark.py --size 20MB

The corpus comes from :func:`dedup.synth.write_dump` (cached under
``benchmarks/data/``), is written as Parquet to a temporary directory, and both engines get the
same texts in the same order; the script checks that they return the same
clusters and the same passages, then prints a table and writes
``benchmarks/results/spark-<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    if not os.environ.get("DEDUP_BENCH_SPARK"):
        print("opt-in benchmark: set DEDUP_BENCH_SPARK=1 to run it", file=sys.stderr)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="20MB", help="corpus size for dedup.synth (default 20MB)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-passages", action="store_true", help="documents only")
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    import dedup
    from dedup import spark as ds
    from dedup import synth

    size = synth.parse_size(args.size)
    data = HERE / "data" / f"seed{args.seed}-{size}"
    if not (data / "docs.jsonl").exists():
        synth.write_dump(data, size_bytes=size, seed=args.seed)
    texts = list(synth.iter_texts(data))
    tmp = tempfile.TemporaryDirectory(prefix="dedup-bench-spark-")
    parquet = Path(tmp.name) / "docs.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), parquet, row_group_size=2048)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    result: dict = {"size": args.size, "documents": len(texts), "mb": round(mb, 1)}

    t = time.perf_counter()
    local = dedup.find_duplicates(texts, 0.8, jobs=2)
    result["local_docs_s"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    # Local mode runs everything in the driver JVM: its default 1 GB heap is too small past ~50 MB.
    spark = ds.get_session("local[2]", shuffle_partitions=4, **{"spark.driver.memory": "4g"})
    result["spark_startup_s"] = round(time.perf_counter() - t, 2)
    stats: dict = {}
    found = ds.find_duplicates(spark.read.parquet(str(parquet)), "id", "text", 0.8, stats=stats).collect()
    result["spark_docs_s"] = stats["seconds"]["total"]
    result["spark_docs_stages"] = stats
    groups: dict = {}
    for row in found:
        groups.setdefault(row["cluster_id"], []).append(row["id"])
        # ids are positions: the kept member (keep="first") is the cluster's first document.
        assert row["kept"] == (row["id"] == row["cluster_id"] == min(groups[row["cluster_id"]]))
    assert sorted(sorted(g) for g in groups.values()) == sorted(local), "Spark and local clusters differ"
    print(json.dumps(result), flush=True)

    if not args.no_passages:
        t = time.perf_counter()
        local_p = dedup.find_repeated_passages(texts, jobs=2)
        result["local_passages_s"] = round(time.perf_counter() - t, 2)
        pstats: dict = {}
        found_p = ds.repeated_passages(spark.read.parquet(str(parquet)), "id", "text", stats=pstats)
        result["spark_passages_s"] = pstats["seconds"]["total"]
        result["spark_passages_stages"] = pstats
        assert [m for _, _, m in found_p] == local_p, "Spark and local passages differ"
    spark.stop()
    tmp.cleanup()

    print(json.dumps(result, indent=2))
    out = HERE / "results" / f"spark-{args.size}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
