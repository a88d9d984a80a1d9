"""Scaling: time per MB of ``find_duplicates`` (one core) at growing corpus sizes.

10 MB and 100 MB by default, 1 GB with ``DEDUP_BENCH_1GB=1``
(``DEDUP_BENCH_SCALING`` lists other sizes). Corpora of 100 MB and more run
one round each.
"""

from __future__ import annotations

import pytest

import dedup
from conftest import get_corpus, measure, rounds, scaling_sizes
from dedup import synth


@pytest.mark.parametrize("size", scaling_sizes())
def test_scaling(benchmark, size):
    benchmark.group = "scaling"
    corpus = get_corpus(size)
    dedup.find_duplicates(corpus.texts[:50])  # warm-up
    n_rounds = 1 if synth.parse_size(size) >= 100_000_000 else rounds()
    measure(
        benchmark,
        lambda: dedup.find_duplicates(corpus.texts),
        mb=corpus.mb,
        docs=corpus.docs,
        n_rounds=n_rounds,
        size=size,
    )
