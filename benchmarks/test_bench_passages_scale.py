"""Passages at scale: MB/s per core and peak RSS per input byte, in memory and spilled, in a
fresh process each (``passages_probe.py``). The full table and the plot of peak RSS against
input size come from ``python benchmarks/passages_scale.py`` (docs/passages.md)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import HERE, corpus_dir, rounds, scaling_sizes


def probe(source: str, shape: str, mode: str, n_rounds: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "passages_probe.py"), source, shape, mode, str(n_rounds)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


@pytest.mark.parametrize("mode", ["memory", "spill"])
@pytest.mark.parametrize("shape", ["docs", "one"])
def test_passages_scale(benchmark, shape, mode):
    size = scaling_sizes()[0]
    benchmark.group = f"passages scale {size}"
    result: dict = {}
    benchmark.pedantic(
        lambda: result.update(probe(str(corpus_dir(size)), shape, mode, rounds())), rounds=1, iterations=1
    )
    benchmark.extra_info.update(result, size=size)
    assert result["matches"] > 0 and result["peak_rss_mb"] > 0
