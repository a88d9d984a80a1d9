"""Start-up: the one-off compile of dedup's kernels after install, and how fast small inputs start.

Each probe is a fresh process (``compile_probe.py``) with its own numba cache
directory: "first run" starts from an empty cache (what a user's first large
call pays once), "later runs" reuse the cache that the first run wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import HERE, corpus_dir, scaling_sizes


def test_compile(benchmark, tmp_path):
    benchmark.group = "compile"
    path = corpus_dir(scaling_sizes()[0])
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    results: dict[str, dict] = {}

    def probe():
        for label in ("first run", "later runs"):
            out = subprocess.run(
                [sys.executable, str(HERE / "compile_probe.py"), str(path)],
                check=True,
                capture_output=True,
                text=True,
                env=env,
            )
            results[label] = json.loads(out.stdout)

    benchmark.pedantic(probe, rounds=1, iterations=1)
    benchmark.extra_info.update(
        {label: {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for label, r in results.items()}
    )
    # Small inputs stay on the numpy path: numba is not imported for them.
    assert not results["first run"]["numba_imported_by_small_call"]
