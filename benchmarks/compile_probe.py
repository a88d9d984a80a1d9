"""Start-up costs of dedup in a fresh process: the one-off kernel compile, and small inputs.

    python benchmarks/compile_probe.py CORPUS_DIR

Run it with ``NUMBA_CACHE_DIR`` pointing at an empty directory to see the first
run after install (the kernels are compiled and cached), and again with the
same directory for every later run (the kernels are loaded from the cache).
Prints JSON: CPU and wall seconds of importing dedup, of a small call (3
texts, on the numpy path: numba is not even imported), of the first
``find_duplicates`` on about 1,500 documents (which loads or compiles the
kernels) and of the same call again.
"""

from __future__ import annotations

import json
import sys
import time


def timed(fn) -> tuple[float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def main(path: str) -> None:
    out: dict = {}
    out["import_cpu_s"], out["import_wall_s"] = timed(lambda: __import__("dedup"))
    import dedup
    from dedup import synth

    small = ["the cat sat on the mat today", "the cat sat on the mat today!", "dogs bark"]
    out["small_cpu_s"], out["small_wall_s"] = timed(lambda: dedup.find_duplicates(small))
    out["numba_imported_by_small_call"] = "numba" in sys.modules
    texts = list(synth.iter_texts(path))[:1500]
    out["docs"] = len(texts)
    out["first_cpu_s"], out["first_wall_s"] = timed(lambda: dedup.find_duplicates(texts))
    out["second_cpu_s"], out["second_wall_s"] = timed(lambda: dedup.find_duplicates(texts))
    out["one_off_cpu_s"] = out["first_cpu_s"] - out["second_cpu_s"]
    out["one_off_wall_s"] = out["first_wall_s"] - out["second_wall_s"]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
