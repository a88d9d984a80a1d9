"""Passages: ``find_repeated_passages`` on the main corpus (copied passages, inner
repeats, duplicate documents), one core; MB/s and span precision/recall."""

from __future__ import annotations

import dedup
from conftest import measure
from dedup import synth


def test_passages(benchmark, corpus):
    benchmark.group = f"passages {corpus.label}"
    dedup.find_repeated_passages(corpus.texts[:50])  # warm-up
    matches = measure(benchmark, lambda: dedup.find_repeated_passages(corpus.texts), mb=corpus.mb, docs=corpus.docs)
    scores = synth.score_spans(corpus.truth, matches)
    benchmark.extra_info.update(
        span_precision=round(scores["precision"], 4), span_recall=round(scores["recall"], 4), matches=len(matches)
    )
    assert scores["recall"] > 0.5 and scores["precision"] > 0.5, scores
