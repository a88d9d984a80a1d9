"""Parallel: ``find_duplicates(jobs=1)`` vs ``jobs=2`` on the main corpus (wall time)."""

from __future__ import annotations

import pytest
from conftest import measure

import dedup


@pytest.mark.parametrize("jobs", [1, 2])
def test_parallel(benchmark, corpus, jobs):
    benchmark.group = f"parallel {corpus.label}"
    dedup.find_duplicates(corpus.texts[:50], jobs=jobs)  # warm-up (and a first pool start)
    clusters = measure(
        benchmark, lambda: dedup.find_duplicates(corpus.texts, jobs=jobs), mb=corpus.mb, docs=corpus.docs, jobs=jobs
    )
    assert clusters, "the corpus has duplicates: an empty result means a broken pipeline"
