"""Memory: peak RSS of ``find_duplicates`` on the memory corpus (100 MB), in a fresh process.

Also on the smallest scaling corpus (10 MB): the growth of the peak between the
two sizes, per document, is what a run holds per document (batch buffers
are the same at both sizes and cancel out).

Two ways of feeding the texts (see ``memory_probe.py``):

* ``stream``: a generator reading ``docs.jsonl`` line by line (``verify="estimate"``):
  what is held per document is the signature and band keys;
* ``list``: all texts in a list first (``verify="exact"``): peak beyond the loaded texts.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import HERE, corpus_dir, memory_size, scaling_sizes
from dedup import synth


@pytest.mark.parametrize("size", sorted({scaling_sizes()[0], memory_size()}, key=synth.parse_size))
@pytest.mark.parametrize("mode", ["stream", "list"])
def test_memory(benchmark, mode, size):
    benchmark.group = "memory"
    path = corpus_dir(size)
    result = {}

    def probe():
        out = subprocess.run(
            [sys.executable, str(HERE / "memory_probe.py"), str(path), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        result.update(json.loads(out.stdout))

    benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info.update(result, size=size)
    assert result["docs"] > 0 and result["peak_rss_mb"] > 0
