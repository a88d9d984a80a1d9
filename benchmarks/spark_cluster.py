"""The Spark engine on a standalone cluster (a master and two 1-core workers on this machine).

Opt-in (it starts four JVMs and takes minutes)::

    DEDUP_BENCH_SPARK=1 python benchmarks/spark_cluster.py --sizes 20MB,100MB --identical 100000

For each size, a corpus from :func:`dedup.synth.write_dump` (cached under ``benchmarks/data/``)
is written as Parquet, and a fresh driver process (so its peak memory is its own) runs the
document and the passage search against ``spark://127.0.0.1:PORT`` with per-stage ``stats``.
The driver's peak memory is read from ``/proc`` (``VmHWM`` of its JVM and of its
Python). ``--identical N`` also times N identical documents (connected components forced to
run distributed). ``--hot N`` also runs the passage search on the 20 MB corpus
with a boilerplate line added ``N`` times (:func:`spark_hot.hot_texts`: half
inside 10 documents, half 10 times in each of ``N / 20`` others), so its
shingles are hot (salted). Results go to ``benchmarks/results/spark-cluster.json``.
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


def _jvm_peak_mb() -> float:
    """Peak resident memory (VmHWM) of the JVM(s) this process started, in MB."""
    peak = 0
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if int(stat[1]) == me and b"java" in cmd:
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return round(peak / 1024, 1)


def _own_peak_mb() -> float:
    """Peak resident memory (VmHWM) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def driver(master: str, parquet: str, what: str) -> dict:
    """One driver run (in its own process): stats, and the driver's peak memory."""
    from dedup import spark as ds

    spark = ds.get_session(
        master,
        shuffle_partitions=8,
        **{
            "spark.executor.memory": "768m",
            "spark.driver.memory": "1g",
            "spark.driver.host": "127.0.0.1",
            "spark.sql.adaptive.enabled": "false",
        },
    )
    df = spark.read.parquet(parquet)
    stats: dict = {}
    t = time.perf_counter()
    if what == "docs":
        out = ds.find_duplicates(df, "id", "text", 0.8, stats=stats)
        stats["clustered"] = out.count()
    elif what == "identical":
        out = ds.find_duplicates(df, "id", "text", 0.8, max_local_edges=0, stats=stats)
        stats["clustered"] = out.count()
    else:
        out = ds.find_repeated_passages(df, "id", "text", stats=stats)
        stats["matches"] = out.count()
    stats["wall_s"] = round(time.perf_counter() - t, 2)
    stats["driver_jvm_peak_mb"] = _jvm_peak_mb()
    # VmHWM, not ru_maxrss: after exec, ru_maxrss keeps the parent's image (here, the corpus's texts).
    stats["driver_python_peak_mb"] = _own_peak_mb()
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
    parser.add_argument("--sizes", default="20MB", help="comma-separated corpus sizes (default 20MB)")
    parser.add_argument("--what", default="docs,passages", help="docs and/or passages")
    parser.add_argument("--identical", type=int, default=0, help="also N identical documents")
    parser.add_argument("--hot", type=int, default=0, help="also passages with a boilerplate line N times")
    parser.add_argument("--out", default=str(HERE / "results" / "spark-cluster.json"))
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from conftest import corpus_dir  # the benchmark suites' cached corpora
    from dedup import synth
    from dedup.spark.standalone import start_standalone

    tmp = tempfile.TemporaryDirectory(prefix="dedup-bench-cluster-")
    inputs = {}
    for size in filter(None, args.sizes.split(",")):  # --sizes "" with --identical N: only those
        texts = list(synth.iter_texts(corpus_dir(size)))
        path = Path(tmp.name) / f"{size}.parquet"
        pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path, row_group_size=2048)
        inputs[size] = (str(path), len(texts), round(sum(len(t.encode()) for t in texts) / 1e6, 1))
    if args.hot:
        from spark_hot import hot_texts

        texts = hot_texts(list(synth.iter_texts(corpus_dir("20MB"))), args.hot)
        path = Path(tmp.name) / f"hot-{args.hot}.parquet"
        pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path, row_group_size=2048)
        inputs[f"hot-{args.hot}"] = (str(path), len(texts), round(sum(len(t.encode()) for t in texts) / 1e6, 1))
    if args.identical:
        path = Path(tmp.name) / "identical.parquet"
        same = "the same short document, copied many many times over by a careless crawler"
        pq.write_table(pa.table({"id": list(range(args.identical)), "text": [same] * args.identical}), path)
        inputs[f"identical-{args.identical}"] = (str(path), args.identical, 0.0)

    results = []
    with start_standalone(workers=2, cores=1, memory="1g", work_dir=Path(tmp.name) / "cluster") as cluster:
        for name, (path, docs, mb) in inputs.items():
            kinds = ["identical"] if name.startswith("identical") else args.what.split(",")
            kinds = ["passages"] if name.startswith("hot") else kinds
            for what in kinds:
                run = subprocess.run(
                    [sys.executable, __file__, "--driver", cluster.master, path, what],
                    capture_output=True,
                    text=True,
                    check=False,
                    env={**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"},  # the driver on loopback, like the daemons
                )
                if run.returncode != 0:
                    print(run.stderr[-3000:], file=sys.stderr)
                    return 1
                stats = json.loads(run.stdout.strip().splitlines()[-1])
                row = {"corpus": name, "documents": docs, "mb": mb, "what": what, **stats}
                results.append(row)
                print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(previous + results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
