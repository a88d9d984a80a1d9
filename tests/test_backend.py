"""The backend setting: DEDUP_BACKEND or set_backend choose compiled kernels or numpy; results never differ."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dedup


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("DEDUP_BACKEND", "DEDUP_NO_NUMBA")}
    return subprocess.run([sys.executable, "-c", code], env={**full, **env}, capture_output=True, text=True)


@pytest.mark.parametrize(("value", "expected"), [("numpy", "numpy None"), ("NumBa", "numba True"), ("", "auto None")])
def test_environment_variable_chooses_the_backend(value: str, expected: str) -> None:
    # Under auto a tiny job stays on numpy (loading the kernels would cost more than it saves).
    code = "from dedup import backend; k = backend.kernels(10); print(backend.get_backend(), k if k is None else True)"
    run = _run(code, DEDUP_BACKEND=value)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == expected


def test_old_no_numba_switch_still_means_numpy() -> None:
    run = _run("from dedup import backend; print(backend.get_backend())", DEDUP_NO_NUMBA="1")
    assert run.stdout.strip() == "numpy"


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="auto, numba, numpy"):
        dedup.set_backend("fast")  # type: ignore[arg-type]
    run = _run("from dedup import backend; backend.get_backend()", DEDUP_BACKEND="fast")
    assert "DEDUP_BACKEND must be one of auto, numba, numpy; got 'fast'" in run.stderr


def test_cli_reports_a_bad_backend_in_one_line(tmp_path) -> None:
    (tmp_path / "a.txt").write_text("one two three\n", encoding="utf-8")
    run = _run(f"from dedup.cli import main; raise SystemExit(main(['docs', {str(tmp_path)!r}]))", DEDUP_BACKEND="gpu")
    assert run.returncode == 2
    assert run.stderr == "dedup: error: DEDUP_BACKEND must be one of auto, numba, numpy; got 'gpu'\n"


def test_set_backend_and_use_backend_restore(backend: str) -> None:
    # The `backend` fixture (conftest.py) set the backend for this test.
    assert dedup.get_backend() == backend
    with dedup.use_backend("numpy"):
        assert dedup.get_backend() == "numpy"
    assert dedup.get_backend() == backend


def test_every_backend_gives_the_same_clusters_and_pairs(backend: str) -> None:
    texts = ["the cat sat on the mat and slept all day", "The cat sat on the mat, and slept all day!", "dogs"] * 3
    assert dedup.find_duplicates(texts) == [[0, 1, 3, 4, 6, 7], [2, 5, 8]]
    sig = dedup.signatures(texts, num_perm=64)
    with dedup.use_backend("numpy"):
        assert np.array_equal(sig, dedup.signatures(texts, num_perm=64))
