"""Peak memory of one ``find_duplicates`` run, measured in this (fresh) process.

    python benchmarks/memory_probe.py CORPUS_DIR stream|list

Prints JSON: peak RSS (VmHWM), the RSS before the run, what
the run added per document, and the size of the per-document arrays dedup
holds (signatures and LSH band keys).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import dedup
from dedup import synth
from dedup.documents import RECALL_MARGIN


def rss_mb() -> float:
    """Current resident set size."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_mb() -> float:
    """Peak RSS of this process image.

    VmHWM, not ``getrusage().ru_maxrss``: the latter survives ``fork``/``exec``, so
    a child of a big process (pytest holding corpora) would report its parent's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6  # kiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # kiB on Linux


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: "5" to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main(path: str, mode: str) -> None:
    imported = rss_mb()
    # Load the compiled kernels first (a one-off per process), so the run is measured alone.
    warm = "warm up the compiled kernels of dedup once per process " * 50_000
    dedup.find_duplicates([warm, warm])
    del warm
    texts = synth.iter_texts(path) if mode == "stream" else list(synth.iter_texts(path))
    reset_peak()  # loading the list has its own transient peak; measure the run alone
    before = rss_mb()
    t0 = time.perf_counter()
    clusters = dedup.find_duplicates(texts)
    wall = time.perf_counter() - t0
    summary = json.loads((Path(path) / "summary.json").read_text())
    docs = summary["documents"]
    bands, _rows = dedup.optimal_bands(0.8 - RECALL_MARGIN, 128)
    # Band keys and an empty flag per document; with a list (threads, exact verification) each
    # text's length too (to cut verification into even shares); with a stream the signatures.
    held = bands * 8 + 1 + (128 * 4 if mode == "stream" else 8)
    print(
        json.dumps(
            {
                "mode": mode,
                "docs": docs,
                "corpus_mb": round(summary["bytes"] / 1e6, 1),
                "rss_after_import_mb": round(imported, 1),
                "rss_before_run_mb": round(before, 1),
                "peak_rss_mb": round(peak_mb(), 1),
                "added_by_run_mb": round(peak_mb() - before, 1),
                "added_bytes_per_doc": round((peak_mb() - before) * 1e6 / docs),
                "held_arrays_bytes_per_doc": held,
                "clusters": len(clusters),
                "wall_s": round(wall, 2),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
