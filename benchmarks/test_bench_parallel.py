"""Parallel: ``find_duplicates(jobs=1)`` vs ``jobs=2`` (wall time) on the 100 MB corpus.

Large enough for the start of the threads and the serial steps to be
amortised; ``DEDUP_BENCH_PARALLEL`` sets another size. Wall time is what
this measures, so run it on otherwise idle cores: ``extra_info`` records the
load average before and after. It also holds the CPU split: the CPU time of
the calling thread (the serial steps plus its share of the tasks) and of the
whole process (every thread), per round.
"""

from __future__ import annotations

import os
import time

import pytest

import dedup
from conftest import get_corpus, measure, parallel_size, rounds


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel(benchmark, jobs):
    corpus = get_corpus(parallel_size())
    benchmark.group = f"parallel {corpus.label}"
    dedup.find_duplicates(corpus.texts[:50], jobs=jobs)  # warm-up
    main_thread: list[float] = []

    def run():
        t0 = time.thread_time()
        clusters = dedup.find_duplicates(corpus.texts, jobs=jobs)
        main_thread.append(time.thread_time() - t0)
        return clusters

    load_before = os.getloadavg()
    clusters = measure(
        benchmark,
        run,
        mb=corpus.mb,
        docs=corpus.docs,
        n_rounds=rounds(),
        jobs=jobs,
        size=parallel_size(),
    )
    best = benchmark.extra_info["best_round"]
    benchmark.extra_info.update(
        main_thread_cpu_s=round(main_thread[best], 4),
        main_thread_cpu_s_rounds=[round(c, 4) for c in main_thread],
        load_before=[round(x, 2) for x in load_before],
        load_after=[round(x, 2) for x in os.getloadavg()],
    )
    assert clusters, "the corpus has duplicates: an empty result means a broken pipeline"
