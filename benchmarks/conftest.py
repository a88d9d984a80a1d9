"""Shared fixtures of the benchmark suites: generated corpora and timing.

"One core" means one process with ``jobs=1``: no pipeline here starts threads,
which ``cpu_s`` (``time.process_time``, all threads of the process) would show
as CPU time above wall time. The process is not pinned to a CPU, so that other
load on the machine does not queue it behind one busy core.

Corpora are written once by :func:`dedup.synth.write_dump` (seed 0) into a
cache directory and reused by later runs. Sizes come from environment
variables so that CI can run every benchmark on a tiny corpus:

==========================  =====================  =====================================
variable                    default                meaning
==========================  =====================  =====================================
``DEDUP_BENCH_SIZE``        ``full``               ``tiny`` sets every corpus to 0.3 MB
``DEDUP_BENCH_MAIN``        ``20MB``               corpus of the tool comparison and passages
``DEDUP_BENCH_PARALLEL``    ``100MB``              corpus of ``jobs=1`` vs ``jobs=2``
``DEDUP_BENCH_SCALING``     ``10MB,100MB``         sizes of the scaling benchmark
``DEDUP_BENCH_1GB``         unset                  ``1`` adds a 1 GB point to the scaling benchmark
``DEDUP_BENCH_MEMORY``      ``100MB``              corpus of the memory benchmark
``DEDUP_BENCH_ROUNDS``      ``3``                  rounds per benchmark (best is reported)
``DEDUP_BENCH_DATA``        ``benchmarks/data``    cache directory for the corpora
==========================  =====================  =====================================
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from dedup import synth

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # `import peers` from the benchmark modules

TINY = os.environ.get("DEDUP_BENCH_SIZE", "full").lower() == "tiny"
TINY_SIZE = "300kB"


def size_of(var: str, default: str) -> str:
    """A corpus size from the environment (``tiny`` overrides everything)."""
    return TINY_SIZE if TINY else os.environ.get(var, default)


def main_size() -> str:
    return size_of("DEDUP_BENCH_MAIN", "20MB")


def scaling_sizes() -> list[str]:
    if TINY:
        return ["150kB", TINY_SIZE]
    sizes = [s for s in os.environ.get("DEDUP_BENCH_SCALING", "10MB,100MB").split(",") if s]
    if os.environ.get("DEDUP_BENCH_1GB") == "1":
        sizes.append("1GB")
    return sizes


def parallel_size() -> str:
    return size_of("DEDUP_BENCH_PARALLEL", "100MB")


def memory_size() -> str:
    return size_of("DEDUP_BENCH_MEMORY", "100MB")


def rounds(default: int = 3) -> int:
    return 1 if TINY else int(os.environ.get("DEDUP_BENCH_ROUNDS", default))


def data_dir() -> Path:
    return Path(os.environ.get("DEDUP_BENCH_DATA", HERE / "data"))


def corpus_dir(size: str, seed: int = 0) -> Path:
    """Directory of the corpus of ``size`` (written on first use, then reused)."""
    nbytes = synth.parse_size(size)
    out = data_dir() / f"seed{seed}-{nbytes}"
    summary = out / "summary.json"
    if not summary.exists() or json.loads(summary.read_text()).get("generator_version") != synth.GENERATOR_VERSION:
        synth.write_dump(out, size_bytes=nbytes, seed=seed)
    return out


class Corpus:
    """Texts, truth and sizes of a generated corpus."""

    def __init__(self, size: str, seed: int = 0) -> None:
        self.path = corpus_dir(size, seed)
        self.texts = list(synth.iter_texts(self.path))
        self.truth = synth.load_truth(self.path)
        self.mb = sum(len(t.encode("utf-8")) for t in self.texts) / 1e6  # text bytes, not JSON
        self.docs = len(self.texts)
        self.label = size


_CORPORA: dict[str, Corpus] = {}

#: Big enough for dedup to load its compiled kernels (it does so only once a
#: process has done about 2M characters of work), so that no timed round pays
#: the one-off import and load (about a second).
WARM_UP_TEXT = "warm up the compiled kernels of dedup once per process " * 50_000


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Load dedup's compiled kernels before anything is timed."""
    import dedup

    dedup.find_duplicates([WARM_UP_TEXT, WARM_UP_TEXT])
    dedup.find_repeated_passages(WARM_UP_TEXT[:100_000])


def get_corpus(size: str) -> Corpus:
    if size not in _CORPORA:
        _CORPORA[size] = Corpus(size)
    return _CORPORA[size]


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    """The main corpus (``DEDUP_BENCH_MAIN``, 20 MB by default)."""
    return get_corpus(main_size())


def measure(benchmark, fn, *, mb: float, docs: int, n_rounds: int | None = None, **info):
    """Run ``fn`` ``n_rounds`` times under pytest-benchmark; record the best round.

    ``benchmark.extra_info`` gets wall and CPU seconds of the best round
    (``time.process_time`` of this process, children excluded) and the
    throughput derived from each: with other jobs on the machine, CPU time
    is the steadier measure of the work done.
    """
    walls: list[float] = []
    cpus: list[float] = []
    child_cpus: list[float] = []
    result: list = []

    def children() -> float:
        t = os.times()  # CPU of child processes that have been waited for (a closed pool's workers)
        return t.children_user + t.children_system

    def timed():
        k0, c0, t0 = children(), time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        child_cpus.append(children() - k0)
        result[:] = [out]
        return out

    n = n_rounds or rounds()
    benchmark.pedantic(timed, rounds=n, iterations=1, warmup_rounds=0)
    wall, cpu = min(walls), min(cpus)
    best = walls.index(wall)
    benchmark.extra_info.update(
        {
            "mb": round(mb, 3),
            "docs": docs,
            "rounds": len(walls),
            "best_round": best,
            "wall_s": round(wall, 4),
            "cpu_s": round(cpu, 4),
            "children_cpu_s": round(child_cpus[best], 4),
            "cpu_s_of_best_wall_round": round(cpus[best], 4),
            "mb_per_s": round(mb / wall, 3),
            "docs_per_s": round(docs / wall, 1),
            "mb_per_cpu_s": round(mb / cpu, 3) if cpu > 0 else None,
            "docs_per_cpu_s": round(docs / cpu, 1) if cpu > 0 else None,
            "s_per_mb": round(wall / mb, 5),
            "cpu_s_per_mb": round(cpu / mb, 5),
            **info,
        }
    )
    return result[0]
