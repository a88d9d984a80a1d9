"""Peak memory of ``dedup docs`` in memory and with ``--work-dir`` (streaming), on JSONL dumps.

    python benchmarks/stream_memory.py DUMP.jsonl [DUMP2.jsonl ...] [--in-memory] [--json OUT]

Each run is a fresh ``dedup docs DUMP --jsonl --format json`` process; its
peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for it. Printed per
dump: bytes, documents, peak RSS, CPU and wall seconds, clusters found.

:func:`widen` makes a larger dump from a generated one without generating
again: copy ``k`` appends ``z<k>`` to every word, so copies share no shingle
and each keeps the duplicate structure (and rate) of the original.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WORD = re.compile(r"(\w+)")


def widen(src: Path, dst: Path, copies: int) -> None:
    """``dst``: ``copies`` disjoint copies of the JSONL dump ``src`` (see the module docstring)."""
    with open(dst, "w", encoding="utf-8") as out:
        for k in range(copies):
            with open(src, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    if k:
                        row["text"] = _WORD.sub(rf"\1z{k}", row["text"])
                        row["id"] = f"{k}-{row.get('id')}"
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")


def measure(dump: Path, streaming: bool) -> dict:
    work = Path(tempfile.mkdtemp(prefix="dedup-work-"))
    cmd = [sys.executable, "-m", "dedup", "docs", str(dump), "--jsonl", "--format", "json", "-q"]
    if streaming:
        cmd += ["--work-dir", str(work / "w")]
    try:
        wall = time.perf_counter()
        with open(work / "out.json", "wb") as out:
            proc = subprocess.Popen(cmd, stdout=out)
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - wall
        report = json.loads((work / "out.json").read_bytes())
    finally:
        shutil.rmtree(work)
    return {
        "dump": str(dump),
        "mode": "--work-dir" if streaming else "in memory",
        "bytes": dump.stat().st_size,
        "documents": report["summary"]["documents"],
        "clusters": report["summary"]["clusters"],
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_s": round(wall, 1),
        "exit": os.waitstatus_to_exitcode(status),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="+", type=Path)
    parser.add_argument("--in-memory", action="store_true", help="also measure the in-memory path")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows = []
    for dump in args.dumps:
        for streaming in (True, False) if args.in_memory else (True,):
            row = measure(dump, streaming)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
