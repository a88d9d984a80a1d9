"""Hot shingles on Spark ``local[2]``: exact detection and the spread of the shingles' shuffle.

Opt-in (it starts a JVM and takes minutes)::

    DEDUP_BENCH_SPARK=1 python benchmarks/spark_hot.py --occurrences 100000,1000000

For each size, a corpus holds one boilerplate line ``N`` times: half in 10
documents (``N / 20`` copies each: a shingle repeated many times inside a few
documents, which a sample of documents misjudges) and half 10 times in each of
``N / 20`` other documents, copies separated by a few random words. The
script checks that :func:`dedup.spark.passages.hot_hashes` finds exactly the
shingles occurring more than ``hot_shingles`` times (counted with numpy on the
driver of this benchmark), measures how the shingles' one shuffle spreads the
rows over the partitions with salting (the default) and without it
(``hot_shingles`` above any count), and (unless ``--spread-only``) times the whole
passage search both ways (``min_words=10``: every copy of the line is a match),
and checks that both give the local engine's matches.
Results go to ``benchmarks/results/spark-hot.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BOILERPLATE = "all rights reserved no part of this page may be copied without written permission"
#: Passages of at least this many words are reported: each copy of the boilerplate (14 words) is one.
MIN_WORDS = 10


def hot_texts(base: list[str], occurrences: int, seed: int = 0) -> list[str]:
    """``base`` with :data:`BOILERPLATE` added ``occurrences`` times: half in its first 10 texts
    (``occurrences / 20`` copies each), half 10 times in each of the next ``occurrences / 20``
    (cycling over ``base`` when it is shorter); copies are separated by 6 random words."""
    rng = np.random.default_rng(seed)
    vocab = sorted({w for t in base[:200] for w in t.split()}) or ["word"]
    out = list(base)

    def copies(k: int) -> str:
        fill = rng.integers(0, len(vocab), size=(k, 6))
        return " ".join(f"{' '.join(vocab[i] for i in row)}. {BOILERPLATE}." for row in fill)

    few = occurrences // 2 // 10
    for d in range(10):
        out[d % len(out)] += " " + copies(few)
    for d in range((occurrences - 10 * few) // 10):
        out[(10 + d) % len(out)] += " " + copies(10)
    return out


def random_texts(n: int, words: int = 40, seed: int = 1) -> list[str]:
    """``n`` texts of ``words`` words drawn from a 5,000-word vocabulary."""
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(5_000)]
    draws = rng.integers(0, len(vocab), size=(n, words))
    return [" ".join(vocab[i] for i in row) for row in draws]


def _spread(spark, parted, hot: np.ndarray) -> dict:
    """Rows per partition of the shuffled shingles, and the largest share of a hot shingle in one."""
    from pyspark.sql import functions as F

    pid = F.spark_partition_id().alias("p")
    rows = sorted(r["count"] for r in parted.groupBy(pid).count().collect())
    out: dict = {"partition_rows_min": rows[0], "partition_rows_max": rows[-1]}
    out["max_over_mean"] = round(rows[-1] / (sum(rows) / len(rows)), 3)
    if len(hot):
        per = parted.where(F.col("h").isin([int(h) for h in hot[:50]])).groupBy("h", pid).count().collect()
        worst: dict[int, int] = {}
        for r in per:
            worst[r["h"]] = max(worst.get(r["h"], 0), r["count"])
        out["hot_max_rows_in_one_partition"] = max(worst.values())
    return out


def run(spark, occurrences: int, hot_shingles: int, tmp: Path, compare: bool, spread_only: bool = False) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    import dedup
    from dedup import spark as ds
    from dedup.internal import passage_shingles
    from dedup.spark import passages as sp
    from dedup.spark import session as ss

    texts = hot_texts(random_texts(10 + occurrences // 20), occurrences)
    path = tmp / f"hot-{occurrences}.parquet"
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), path, row_group_size=1024)
    values, counts = np.unique(passage_shingles(texts, 5)[0].view(np.int64), return_counts=True)
    want = np.sort(values[counts > hot_shingles])
    base = {"occurrences": occurrences, "documents": len(texts), "mb": round(sum(map(len, texts)) / 1e6, 1)}
    base["tokens"] = int(counts.sum())
    base["hottest"] = int(counts.max())
    local = None
    if compare and not spread_only:
        t = time.perf_counter()
        local = dedup.find_repeated_passages(texts, min_words=MIN_WORDS)
        base["local_s"] = round(time.perf_counter() - t, 2)
    rows = []
    for salted in (True, False):
        at = hot_shingles if salted else 1 << 62
        ix = ss.indexed(spark.read.parquet(str(path)), "id", "text", None)
        ix.count()
        t = time.perf_counter()
        hot = sp.hot_hashes(ix, 5, at)
        detect_s = time.perf_counter() - t
        row = {**base, "salted": salted, "hot_shingles": len(hot), "detect_s": round(detect_s, 2)}
        if salted:
            row["detection_exact"] = bool(np.array_equal(hot, want))
        parted, _ = sp._partitioned_shingles(ix, 5, at)
        row.update(_spread(spark, parted, want))
        parted.unpersist()
        ix.unpersist()
        if spread_only:
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        stats: dict = {}
        t = time.perf_counter()
        found = ds.find_repeated_passages(
            spark.read.parquet(str(path)), "id", "text", min_words=MIN_WORDS, hot_shingles=at, stats=stats
        )
        row["passages_s"] = round(time.perf_counter() - t, 2)
        row["seconds"] = stats["seconds"]
        row["matches"] = stats["matches"]
        if local is not None:
            got = found.orderBy("repeat_id", "repeat_start").toPandas()
            row["equal_local"] = len(got) == len(local) and all(
                (int(r.original_id), r.original_start, r.original_end, int(r.repeat_id), r.repeat_start, r.repeat_end)
                == (m.original.doc, m.original.start, m.original.end, m.repeat.doc, m.repeat.start, m.repeat.end)
                for r, m in zip(got.itertuples(), local)
            )
        found.unpersist()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> int:
    if not os.environ.get("DEDUP_BENCH_SPARK"):
        print("opt-in benchmark: set DEDUP_BENCH_SPARK=1 to run it", file=sys.stderr)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occurrences", default="100000", help="comma-separated boilerplate counts")
    parser.add_argument("--hot-shingles", type=int, default=None, help="threshold (default: the library's)")
    parser.add_argument("--partitions", type=int, default=8, help="shuffle partitions (default 8)")
    parser.add_argument("--no-compare", action="store_true", help="skip the local engine's run")
    parser.add_argument("--spread-only", action="store_true", help="detection and shuffle spread only")
    parser.add_argument("--out", default=str(HERE / "results" / "spark-hot.json"))
    args = parser.parse_args()

    from dedup import spark as ds
    from dedup.spark.passages import DEFAULT_HOT_SHINGLES

    spark = ds.get_session(
        "local[2]",
        shuffle_partitions=args.partitions,
        **{"spark.driver.memory": "4g", "spark.sql.adaptive.enabled": "false"},
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="dedup-bench-hot-") as tmp:
        for n in map(int, args.occurrences.split(",")):
            hot_at = args.hot_shingles or min(DEFAULT_HOT_SHINGLES, n // 4)
            results += run(spark, n, hot_at, Path(tmp), not args.no_compare, args.spread_only)
    spark.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps(previous + results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
