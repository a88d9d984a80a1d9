"""Running batch work over ``jobs`` processes, in order, with bounded look-ahead.

Shingling and signing a megabyte of text takes about as long as sending it
through a pipe to a worker, so copying texts to workers would eat the gain of
a second core. When the texts are already in memory as a sequence, the work
runs in *forked* workers that inherit them: only index ranges travel, and each
worker reads its texts from its own (copy-on-write) view of the parent's list.
Streams (generators) are sent batch by batch instead.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from . import _kernels

__all__ = ["can_share", "ordered_map", "shared_texts"]

T = TypeVar("T")

#: The texts forked workers inherit; set only while an :func:`ordered_map` runs.
_SHARED: Sequence[str] | None = None


def can_share() -> bool:
    """Whether workers can inherit the parent's memory (the ``fork`` start method exists)."""
    return "fork" in multiprocessing.get_all_start_methods()


def shared_texts() -> Sequence[str]:
    """The texts given as ``shared`` to the running :func:`ordered_map` (in workers too)."""
    if _SHARED is None:
        raise RuntimeError("no shared texts: call this from a task of ordered_map(..., shared=texts)")
    return _SHARED


def _with_shared(shared: Sequence[str] | None, fn: Callable[..., T], task: Any, *args: Any) -> T:
    global _SHARED
    saved, _SHARED = _SHARED, shared
    try:
        return fn(task, *args)
    finally:
        _SHARED = saved


def ordered_map(
    fn: Callable[..., T],
    tasks: Iterable[Any],
    jobs: int,
    *args: Any,
    shared: Sequence[str] | None = None,
) -> Iterator[T]:
    """``fn(task, *args)`` for every task, results in task order.

    With ``jobs > 1`` the tasks run in that many worker processes, at most
    ``2 * jobs`` ahead of the consumer, so a stream is never read far ahead.
    ``shared`` texts are available to ``fn`` through :func:`shared_texts`
    (forked workers inherit them, so pass ``shared`` only when
    :func:`can_share`). The compiled kernels are loaded first, so that workers
    inherit them instead of each loading them again.
    """
    if jobs == 1:
        for task in tasks:
            yield _with_shared(shared, fn, task, *args)
        return
    _kernels.compiled(_kernels.MIN_WORK)
    global _SHARED
    saved, _SHARED = _SHARED, shared
    try:
        context = multiprocessing.get_context("fork" if can_share() else None)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            pending = []
            for task in tasks:
                pending.append(pool.submit(fn, task, *args))
                if len(pending) >= 2 * jobs:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
    finally:
        _SHARED = saved
