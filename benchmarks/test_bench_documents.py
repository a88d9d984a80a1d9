"""Documents: dedup vs datasketch (sha1 default, xxhash) vs rensa on the same corpus, one core.

Same word 5-gram shingles, same ``bands x rows`` (``peers.BANDS x peers.ROWS``),
same threshold (0.8). ``extra_info`` holds documents/s and MB/s (wall and
CPU), and the pair precision/recall of each tool against the generator's truth.
"""

from __future__ import annotations

import pytest

import dedup
import peers
from conftest import measure, rounds
from dedup import synth
from dedup.documents import RECALL_MARGIN

OWN_BANDS = dedup.optimal_bands(0.8 - RECALL_MARGIN, peers.NUM_PERM)

TOOLS = {**peers.PIPELINES, "dedup (own bands)": lambda texts: peers.run_dedup(texts, bands=None, rows=None)}


@pytest.mark.parametrize("tool", list(TOOLS))
def test_documents(benchmark, corpus, tool):
    benchmark.group = f"documents {corpus.label}"
    run = TOOLS[tool]
    run(corpus.texts[:50])  # warm-up: imports, lookup tables, permutations
    # datasketch is slow: two rounds are enough to take the best of.
    n_rounds = min(rounds(), 2) if tool.startswith("datasketch") else rounds()
    pairs = measure(benchmark, lambda: run(corpus.texts), mb=corpus.mb, docs=corpus.docs, n_rounds=n_rounds, tool=tool)
    scores = synth.score_pairs(corpus.truth, pairs, threshold=0.8)
    benchmark.extra_info.update(
        precision=round(scores["precision"], 4),
        recall=round(scores["recall"], 4),
        positives=scores["positives"],
        bands=peers.BANDS if tool != "dedup (own bands)" else OWN_BANDS[0],
        rows=peers.ROWS if tool != "dedup (own bands)" else OWN_BANDS[1],
    )
    # A broken pipeline must fail the benchmark run, not just look slow.
    assert scores["positives"] == 0 or scores["recall"] > 0.5, scores
