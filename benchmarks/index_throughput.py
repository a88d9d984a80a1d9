"""Add and query throughput of the whole ``dedup.Index`` at 100k and 1M generated documents.

    python benchmarks/index_throughput.py [N_DOCS ...] [--batch 8192] [--queries 8] [--json OUT]

Documents come from ``gen_jsonl.iter_texts`` (Zipf words, ~2.9 KB each, a
tenth planted near-copies of recent ones). The index (default
``verify="estimate"``) is filled with ``Index.add`` in batches of
``--batch``; then ``--queries`` batches of the next documents of the same
stream are looked up with ``Index.query``. Printed per size: CPU and wall
seconds of all adds, documents per CPU second, the CPU seconds of one add in
the first and the last tenth of the batches (how the cost of a batch grows
with the index), query documents per CPU second, matches found and bytes on
disk per document. The signatures (text to MinHash) are part of every add and
query; ``sig_cpu_s`` says how much of the add CPU they are.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dedup
from dedup.documents import signatures
from gen_jsonl import iter_texts


def chunks(texts, size):
    batch = []
    for t in texts:
        batch.append(t)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run(n_docs: int, batch: int, queries: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="idx-throughput-"))
    try:
        stream = iter_texts(n_docs + queries * batch, seed=1)
        per_batch: list[float] = []
        add_cpu = add_wall = sig_cpu = 0.0
        found = added = 0
        with dedup.Index(tmp / "index.duckdb") as index:
            for k, texts in enumerate(chunks(stream, batch)):
                if k * batch >= n_docs:
                    break
                c = time.process_time()
                signatures(texts)  # the text-to-signature share of the add, measured alone
                sig_cpu += time.process_time() - c
                c, w = time.process_time(), time.perf_counter()
                out = index.add(texts, ids=range(k * batch, k * batch + len(texts)))
                per_batch.append(time.process_time() - c)
                add_wall += time.perf_counter() - w
                found += sum(m is not None for m in out)
                added += len(texts)
            add_cpu = sum(per_batch)
            query_cpu = query_wall = 0.0
            asked = hits = 0
            for asked_texts in [texts, *chunks(stream, batch)]:
                c, w = time.process_time(), time.perf_counter()
                got = index.query(asked_texts)
                query_cpu += time.process_time() - c
                query_wall += time.perf_counter() - w
                asked += len(asked_texts)
                hits += sum(m is not None for m in got)
            size = index.stats()["bytes"]
        tenth = max(1, len(per_batch) // 10)
        return {
            "docs": added,
            "batch": batch,
            "add_cpu_s": round(add_cpu, 1),
            "add_wall_s": round(add_wall, 1),
            "add_docs_per_cpu_s": round(added / add_cpu),
            "sig_cpu_s": round(sig_cpu, 1),
            "batch_cpu_first_tenth_s": round(sum(per_batch[:tenth]) / tenth, 3),
            "batch_cpu_last_tenth_s": round(sum(per_batch[-tenth:]) / tenth, 3),
            "duplicates_found": found,
            "query_docs": asked,
            "query_cpu_s": round(query_cpu, 1),
            "query_wall_s": round(query_wall, 1),
            "query_docs_per_cpu_s": round(asked / query_cpu),
            "query_hits": hits,
            "bytes_per_doc": round(size / added, 1),
        }
    finally:
        shutil.rmtree(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        row = run(n, args.batch, args.queries)
        results.append(row)
        print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
