"""Speed and peak memory of one ``find_repeated_passages`` run, in this (fresh) process.

    python benchmarks/passages_probe.py SOURCE SHAPE MODE [ROUNDS]

``SOURCE`` is a generated corpus directory (``docs.jsonl``) or a ``.jsonl.gz`` file of
``{"text": ...}`` records (debian-copyright); ``SHAPE`` is ``docs`` (one text per record),
``one`` (all records joined into one string) or ``lines`` (one text, one record per line);
``MODE`` is ``memory`` or ``spill`` (seeds in a temporary work directory).

Prints JSON: input megabytes (UTF-8), the best CPU time of ``ROUNDS`` rounds and MB/s per
core, the RSS before loading the texts, with the texts loaded, and the peak during the
first round (VmHWM reset after loading; the loader's freed heap handed back to the system
first), so ``peak_rss_mb / mb`` is what a user sees per
input byte with the texts held, and ``(peak - loaded) / mb`` what the run adds.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

import dedup
from dedup import synth
from memory_probe import peak_mb, reset_peak, rss_mb


def records(source: str) -> Iterator[str]:
    path = Path(source)
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)["text"]
    else:
        yield from synth.iter_texts(path)


def load(source: str, shape: str) -> list[str]:
    if shape == "docs":
        return list(records(source))
    # One string, built without holding the records too (as a user reading one big file would).
    out = io.StringIO()
    for k, text in enumerate(records(source)):
        if shape == "one":
            out.write("\n\n" if k else "")
            out.write(text)
        else:
            for line in text.splitlines():
                out.write(line)
                out.write("\n")
    return [out.getvalue()]


def _release_garbage() -> None:
    """Collect, then hand freed heap pages back to the system (glibc ``malloc_trim``)."""
    import contextlib
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def warm_up() -> None:
    """Load every compiled kernel a run uses before measuring (numba loads each one on its
    first call, a few MB of code each): one long text, then documents with shared paragraphs
    and boilerplate lines, in memory and spilled, so that every kernel runs."""
    warm = "warm up the compiled kernels of dedup once per process " * 50_000
    dedup.find_repeated_passages(warm[:2_000_000])
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    paragraphs = [" ".join(rng.choice(words, 60)) for _ in range(200)]
    texts = ["a site's header line\n" + "\n".join(paragraphs[p] for p in rng.integers(0, 200, 12)) for _ in range(400)]
    dedup.find_repeated_passages(texts)
    dedup.find_repeated_passages(texts, spill=True)


def main(source: str, shape: str, mode: str, rounds: int = 1) -> None:
    warm_up()  # compiled kernels loaded before measuring
    _release_garbage()  # the warm-up's garbage is not the run's either
    base = rss_mb()
    texts = load(source, shape)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    _release_garbage()  # what the loader freed is not the run's: give it back to the system
    loaded = rss_mb()
    reset_peak()
    best = float("inf")
    peak = 0.0
    matches = 0
    for r in range(rounds):
        t0 = time.process_time()
        found = dedup.find_repeated_passages(texts, spill=(mode == "spill") or False)
        best = min(best, time.process_time() - t0)
        if r == 0:
            peak = peak_mb()
        matches = len(found)
        del found
    print(
        json.dumps(
            {
                "source": Path(source).name,
                "shape": shape,
                "mode": mode,
                "mb": round(mb, 1),
                "texts": len(texts),
                "matches": matches,
                "cpu_s": round(best, 3),
                "mb_per_s": round(mb / best, 1) if best > 0 else None,
                "rss_base_mb": round(base, 1),
                "rss_loaded_mb": round(loaded, 1),
                "peak_rss_mb": round(peak, 1),
                "peak_per_byte": round(peak / mb, 2) if mb else None,
                "peak_above_base_per_byte": round((peak - base) / mb, 2) if mb else None,
                "added_per_byte": round((peak - loaded) / mb, 2) if mb else None,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 1)
