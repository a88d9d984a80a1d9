"""Embedded storage engines on the persistent index's access pattern.

    python benchmarks/index_engines.py [N_DOCS ...] [--json OUT]

The index stores one row ``(key, doc)`` per document and LSH band. Each
batch of new documents is processed in two bulk steps, as ``dedup.Index``
does: look up the batch's band keys in the stored table (a join against a
temporary table holding the batch, never a query per key), then insert them.
Keys are random 64-bit integers; a tenth of the documents copy every band
key of an earlier document, so the join has real matches. Printed: CPU and
wall seconds for all batches, documents per second, and bytes on disk per
document, for SQLite (B-tree, WAL) and DuckDB (columnar, hash join).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BANDS = 18  # optimal_bands(0.6, 128): the default banding of dedup at threshold 0.8
BATCH = 4096
DUP_RATE = 0.1


def batches(n_docs: int, seed: int = 0):
    """``(first_id, keys)`` batches: ``keys`` is ``(n, BANDS)`` int64."""
    rng = np.random.default_rng(seed)
    history = np.zeros((n_docs, BANDS), dtype=np.int64)
    for lo in range(0, n_docs, BATCH):
        hi = min(lo + BATCH, n_docs)
        keys = rng.integers(-(2**63), 2**63 - 1, size=(hi - lo, BANDS), dtype=np.int64)
        if lo:
            dup = rng.random(hi - lo) < DUP_RATE
            keys[dup] = history[rng.integers(0, lo, size=int(dup.sum()))]
        history[lo:hi] = keys
        yield lo, keys


def flat(lo: int, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    docs = np.repeat(np.arange(lo, lo + len(keys), dtype=np.int64), BANDS)
    return keys.ravel(), docs


def run_sqlite(path: Path, n_docs: int) -> int:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA cache_size=-65536")  # 64 MiB
    con.execute("CREATE TABLE band(key INTEGER NOT NULL, doc INTEGER NOT NULL, PRIMARY KEY(key, doc)) WITHOUT ROWID")
    con.execute("CREATE TEMP TABLE probe(key INTEGER NOT NULL, doc INTEGER NOT NULL)")
    found = 0
    for lo, keys in batches(n_docs):
        k, d = flat(lo, keys)
        order = np.argsort(k, kind="stable")  # B-tree inserts and seeks in key order touch fewer pages
        rows = list(zip(k[order].tolist(), d[order].tolist()))
        con.execute("BEGIN")
        con.execute("DELETE FROM probe")
        con.executemany("INSERT INTO probe VALUES (?, ?)", rows)
        found += len(con.execute("SELECT p.doc, b.doc FROM probe p JOIN band b ON b.key = p.key").fetchall())
        con.executemany("INSERT OR IGNORE INTO band VALUES (?, ?)", rows)
        con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return found


def run_duckdb(path: Path, n_docs: int) -> int:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE band(key BIGINT NOT NULL, doc BIGINT NOT NULL)")
    found = 0
    for lo, keys in batches(n_docs):
        k, d = flat(lo, keys)
        probe = {"key": k, "doc": d}
        con.register("probe", probe)
        con.execute("BEGIN")
        res = con.execute("SELECT p.doc, b.doc FROM probe p JOIN band b ON b.key = p.key").fetchnumpy()
        found += len(res["doc"])
        con.execute("INSERT INTO band SELECT key, doc FROM probe")
        con.execute("COMMIT")
        con.unregister("probe")
    con.execute("CHECKPOINT")
    con.close()
    return found


ENGINES: dict[str, Callable[[Path, int], int]] = {"sqlite": run_sqlite, "duckdb": run_duckdb}


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = []
    for n in args.sizes:
        for name, fn in ENGINES.items():
            tmp = Path(tempfile.mkdtemp(prefix=f"idx-{name}-"))
            try:
                path = tmp / f"index.{name}"
                wall, cpu = time.perf_counter(), time.process_time()
                found = fn(path, n)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                row = {
                    "engine": name,
                    "docs": n,
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(wall, 2),
                    "docs_per_s": round(n / wall),
                    "bytes_per_doc": round(disk_bytes(path) / n, 1),
                    "matches": found,
                }
            finally:
                shutil.rmtree(tmp)
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
