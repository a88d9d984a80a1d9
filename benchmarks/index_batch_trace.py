"""Per-batch CPU of ``Index.add`` on a growing index, and what each batch did to the sorted runs.

    python benchmarks/index_batch_trace.py N_DOCS [--reopen] [--batch 8192] [--dir DIR]

Prints one JSON line per batch: its CPU seconds (``time.process_time``),
the runs after it, how many runs it created and merged away, and the rows
in runs. Flushes and merges show as the batches that create runs; the
batches between them show what the rest of an ``add`` costs as the index
grows (docs/index.md, "Where the growth goes").
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import dedup
from gen_jsonl import iter_texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_docs", type=int)
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument(
        "--reopen", action="store_true", help="open and close the DuckDB file for every add (keep_open=False)"
    )
    parser.add_argument("--dir", type=Path, help="where the index goes (default: a temporary directory)")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="idx-trace-"))
    runs_dir = work / "index.duckdb.runs"
    try:
        with dedup.Index(work / "index.duckdb", keep_open=not args.reopen) as index:
            texts: list[str] = []
            k = 0
            for text in iter_texts(args.n_docs, seed=1):
                texts.append(text)
                if len(texts) < args.batch:
                    continue
                before = {p.name for p in runs_dir.glob("*.keys")} if runs_dir.exists() else set()
                c = time.process_time()
                index.add(texts, [str(k * args.batch + i) for i in range(len(texts))])
                cpu = time.process_time() - c
                after = {p.name for p in runs_dir.glob("*.keys")} if runs_dir.exists() else set()
                row = {
                    "batch": k,
                    "cpu": round(cpu, 3),
                    "runs": len(after),
                    "new_runs": len(after - before),
                    "merged_away": len(before - after),
                    "run_rows": sum((runs_dir / n).stat().st_size // 8 for n in after),
                }
                print(json.dumps(row), flush=True)
                texts, k = [], k + 1
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
