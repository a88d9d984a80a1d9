"""Parallel: ``find_duplicates(jobs=1)`` vs ``jobs=2`` (wall time) on the 100 MB corpus.

Large enough for the workers' start and the hand-over of batches to be
amortised; ``DEDUP_BENCH_PARALLEL`` sets another size.
"""

from __future__ import annotations

import pytest

import dedup
from conftest import get_corpus, measure, parallel_size, rounds


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel(benchmark, jobs):
    corpus = get_corpus(parallel_size())
    benchmark.group = f"parallel {corpus.label}"
    dedup.find_duplicates(corpus.texts[:50], jobs=jobs)  # warm-up (and a first pool start)
    clusters = measure(
        benchmark,
        lambda: dedup.find_duplicates(corpus.texts, jobs=jobs),
        mb=corpus.mb,
        docs=corpus.docs,
        n_rounds=min(rounds(), 2),
        jobs=jobs,
        size=parallel_size(),
    )
    assert clusters, "the corpus has duplicates: an empty result means a broken pipeline"
