"""Work over threads (:class:`dedup.parallel.Threads`): results in order, errors raised, fallback."""

from __future__ import annotations

import threading

import pytest

from dedup import parallel
from dedup.parallel import Threads, thread_map


def _name(_task: int) -> str:
    return threading.current_thread().name


def test_threads_keep_task_order_and_share_the_work() -> None:
    with Threads(2, tasks=200) as threads:
        assert threads.map(lambda x: x * x, list(range(200))) == [x * x for x in range(200)]
        assert threads.map(abs, []) == []
        if parallel.usable_cpus() >= 2:
            # Two tasks that wait for each other: done only if two threads take them.
            meet = threading.Barrier(2, timeout=60)
            names = threads.map(lambda _: (meet.wait(), _name(0))[1], [0, 1])
            assert set(names) == {threading.current_thread().name, "dedup-worker"}
        # Later maps run on the same threads, each after the previous one has finished.
        assert threads.map(_name, [0])[0] in {threading.current_thread().name, "dedup-worker"}
    assert not [t for t in threading.enumerate() if t.name == "dedup-worker"]  # ended on exit


def test_the_first_failing_task_raises() -> None:
    def inverse(x: int) -> float:
        return 1 / x

    with pytest.raises(ZeroDivisionError):
        thread_map(inverse, [3, 2, 1, 0, 5, 0], 2)
    assert not [t for t in threading.enumerate() if t.name == "dedup-worker"]


def test_one_job_runs_here() -> None:
    assert thread_map(_name, [1, 2, 3], 1) == [threading.current_thread().name] * 3
