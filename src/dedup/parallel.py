"""Running batch work over ``jobs`` processes, in order, with bounded look-ahead.

Shingling and signing a megabyte of text takes about as long as sending it
through a pipe to a worker, so copying texts to workers would eat the gain of
a second core. When the texts are already in memory as a sequence, the work
runs in *forked* workers that inherit them: only index ranges travel, and each
worker reads its texts from its own (copy-on-write) view of the parent's list.
Streams (generators) are sent batch by batch instead.

Workers are plain forked processes, each talking to the parent over its own
pipe, with one task in flight at a time (see :class:`_Workers`). That keeps
every failure visible: a worker that dies shows up as end-of-file on its pipe,
a parent that dies shows up as end-of-file in every worker (which then exit),
and a fork the system refuses is an ``OSError`` at a known place. In each case
the remaining work runs in the parent, with one ``RuntimeWarning``; nothing
waits forever and no worker outlives the parent.

Work that spends its time in code that releases the GIL (the compiled
kernels, numpy's sorts) runs better on threads: :func:`thread_map` forks
nothing, copies and pickles nothing, and its workers write their results
straight into the caller's arrays. The document pipeline on a list of texts
runs that way.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from . import backend

__all__ = ["Threads", "can_share", "ordered_map", "shared_texts", "thread_map", "usable_cpus", "worker_count"]

T = TypeVar("T")

#: The texts forked workers inherit; set only while an :func:`ordered_map` runs.
_SHARED: Sequence[str] | None = None
#: Requests for more workers than CPUs are reported once per process.
_WARNED_CAP = False
#: After the system refused to start workers: how many it did start (later calls use no more).
_WORKER_LIMIT: int | None = None


def can_share() -> bool:
    """Whether workers can inherit the parent's memory (the ``fork`` start method exists)."""
    return "fork" in multiprocessing.get_all_start_methods()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _warn(message: str) -> None:
    """A ``RuntimeWarning`` attributed to the caller's code, outside this package."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    warnings.warn(message, RuntimeWarning, stacklevel=level)


def worker_count(jobs: int, tasks: int | None = None) -> int:
    """Worker processes worth starting for ``jobs``: at most the usable CPUs and ``tasks``.

    More workers than CPUs only add processes (and memory) without adding
    speed, and a huge ``jobs`` would fork until the machine runs out of
    processes; asking for more than the CPUs emits one ``RuntimeWarning``
    per process. Fewer tasks than workers is not worth a warning.

    >>> worker_count(1), worker_count(4, tasks=1)
    (1, 1)
    """
    global _WARNED_CAP
    cpus = usable_cpus()
    if jobs > cpus:
        if not _WARNED_CAP:
            _WARNED_CAP = True
            _warn(f"jobs={jobs} is more than the {cpus} CPUs available; using {cpus}")
        jobs = cpus
    if tasks is not None:
        jobs = min(jobs, max(1, tasks))
    return max(1, jobs)


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

    With ``jobs > 1`` the tasks run in worker processes (at most
    :func:`worker_count`), one task in flight per worker, so a stream is never
    read far ahead. ``shared`` texts are available to ``fn`` through
    :func:`shared_texts` (forked workers inherit them, so pass ``shared``
    only when :func:`can_share`). The compiled kernels are loaded first, so
    that workers inherit them instead of each loading them again.

    Workers never outlive the parent. When the system refuses to start
    workers, or a worker dies, a ``RuntimeWarning`` says so and the tasks
    left run in this process: the results are the same.
    """
    jobs = worker_count(jobs, len(tasks) if isinstance(tasks, Sized) else None)
    if _WORKER_LIMIT is not None:
        jobs = min(jobs, _WORKER_LIMIT)
    if jobs <= 1:
        for task in tasks:
            yield _with_shared(shared, fn, task, *args)
        return
    backend.preload()
    if not can_share():  # no fork (Windows): the standard pool, which spawns workers and pickles tasks
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            yield from pool.map(fn, tasks, *[itertools.repeat(a) for a in args])
        return
    global _SHARED
    saved, _SHARED = _SHARED, shared  # while workers are forked (they inherit it)
    try:
        yield from _forked(fn, iter(tasks), jobs, args, shared)
    finally:
        _SHARED = saved


_END = object()


def _wait_gone(tid: int | None) -> None:
    """Wait (a millisecond or so) until the system has removed an ended thread.

    ``join`` returns when the thread's code is done, slightly before the
    system removes it; until then it still counts against a process limit,
    and a fork or thread started at once could be refused for nothing.
    """
    path = f"/proc/self/task/{tid}"
    for _ in range(1000):
        if tid is None or not os.path.exists(path):
            return
        time.sleep(0.001)


def thread_map(fn: Callable[[Any], T], tasks: Sequence[Any], jobs: int) -> list[T]:
    """``[fn(task) for task in tasks]`` on up to ``jobs`` threads (a :class:`Threads` for one map).

    >>> thread_map(abs, [-1, 2, -3], 2)
    [1, 2, 3]
    """
    with Threads(jobs, tasks=len(tasks)) as threads:
        return threads.map(fn, tasks)


class Threads:
    """Up to ``jobs`` threads of this process (:func:`worker_count`) for several maps in a row.

    For tasks that spend their time where the GIL is released (the compiled
    kernels are built with ``nogil``; numpy sorts and ufuncs release it):
    no process is forked, nothing is copied or pickled, and the tasks may
    write into arrays of the caller. The calling thread is one of the
    ``jobs``; in each map every thread takes the next task until none is
    left. The compiled kernels are loaded first, once, by this thread.

    When the system refuses a thread (a process or thread limit), one
    ``RuntimeWarning`` says so and the threads that did start do the work
    (later pools start no more). An exception in a task (or Ctrl-C) is
    raised by :meth:`map` once the running tasks end; tasks not started are
    dropped. Use it as a context manager: leaving it ends the threads.

    Parameters
    ----------
    jobs : int
        Threads wanted, the calling one included.
    tasks : int, optional
        How many tasks the largest map has (no more threads than that).
    """

    def __init__(self, jobs: int, *, tasks: int | None = None) -> None:
        global _WORKER_LIMIT
        count = worker_count(jobs, tasks)
        if _WORKER_LIMIT is not None:
            count = min(count, max(1, _WORKER_LIMIT))
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        if count <= 1:
            return
        backend.preload()
        try:
            for _ in range(count - 1):
                thread = threading.Thread(target=self._serve, name="dedup-worker", daemon=True)
                thread.start()
                self._threads.append(thread)
        except RuntimeError as e:  # "can't start new thread": a process or thread limit
            _WORKER_LIMIT = len(self._threads) + 1
            plural = "s" if count > 2 else ""
            _warn(f"cannot start {count - 1} worker thread{plural} ({e}); using {len(self._threads)}")

    def __enter__(self) -> Threads:
        return self

    @property
    def size(self) -> int:
        """Threads the maps run on, this one included."""
        return len(self._threads) + 1

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the threads (after the map they are in, if any)."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
            _wait_gone(thread.native_id)
        self._threads = []

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            finally:
                self._done.put(None)

    def map(
        self,
        fn: Callable[[Any], T],
        tasks: Sequence[Any],
        *,
        sizes: Sequence[int] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[T]:
        """``[fn(task) for task in tasks]``, the tasks shared out over the threads.

        ``progress(done)`` is called from this thread only, after each task it
        runs and once all are done, with the sum of the ``sizes`` of the tasks
        done so far (by any thread; each task counts 1 without ``sizes``).
        """
        units = list(sizes) if sizes is not None else [1] * len(tasks)
        total = sum(units)
        results: list[Any] = [None] * len(tasks)
        failures: list[tuple[int, BaseException]] = []
        numbers = itertools.count()  # next() on it is atomic under the GIL: each task is taken once
        finished = [0, 0]  # units done, units last told
        lock = threading.Lock()
        caller = threading.get_ident()

        def work() -> None:
            while not failures:
                k = next(numbers)
                if k >= len(tasks):
                    return
                try:
                    results[k] = fn(tasks[k])
                except BaseException as e:  # raised again by the caller
                    failures.append((k, e))
                    return
                with lock:
                    finished[0] += units[k]
                    done = finished[0]
                if progress is not None and threading.get_ident() == caller:
                    finished[1] = done
                    progress(done)

        for _ in self._threads:
            self._jobs.put(work)
        try:
            work()
        except BaseException as e:  # Ctrl-C in this thread: the others stop after their task
            failures.append((-1, e))
            raise
        finally:
            try:
                for _ in self._threads:
                    self._done.get()
            except BaseException as e:  # Ctrl-C while waiting: the others stop after their task
                failures.append((-1, e))
                raise
        if failures:
            raise min(failures, key=lambda f: f[0])[1]
        if progress is not None and finished[1] != total:
            progress(total)
        return results


def _forked(
    fn: Callable[..., T], tasks: Iterator[Any], jobs: int, args: tuple[Any, ...], shared: Sequence[str] | None
) -> Iterator[T]:
    """:func:`ordered_map` over forked workers; the tasks of workers that cannot run run here."""
    global _WORKER_LIMIT
    workers = _Workers(fn, args)
    try:
        try:
            workers.start(jobs)
        except OSError as e:  # the system refuses more processes (a process limit, no memory)
            _WORKER_LIMIT = len(workers.pids)
            _warn(f"cannot start {jobs} worker processes ({e.strerror or e}); using {len(workers.pids)}")
        pending: deque[tuple[int, Any]] = deque()  # tasks read and not yet returned, in order
        results: dict[int, Any] = {}
        count = 0
        exhausted = False
        while True:
            # Keep every live worker busy, reading at most 2 * jobs tasks ahead.
            while workers.idle():
                unsent = next((nt for nt in pending if nt[0] not in results and not workers.has(nt[0])), None)
                if unsent is None:
                    if exhausted or len(pending) >= 2 * jobs:
                        break
                    task = next(tasks, _END)
                    if task is _END:
                        exhausted = True
                        break
                    unsent = (count, task)
                    pending.append(unsent)
                    count += 1
                workers.send(*unsent)
            if not pending:
                task = _END if exhausted else next(tasks, _END)
                if task is _END:
                    return
                pending.append((count, task))  # no worker left to take it: it runs here
                count += 1
            first, task = pending[0]
            if first not in results:
                if workers.busy:
                    results.update(workers.receive())
                    continue
                results[first] = _with_shared(shared, fn, task, *args)  # no worker left
            pending.popleft()
            yield _unwrap(results.pop(first))
    finally:
        workers.stop()


class _Failure:
    """An exception raised by a task in a worker, to be raised again in the parent."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.trace = "".join(traceback.format_exception(error))


def _unwrap(result: Any) -> Any:
    if isinstance(result, _Failure):
        result.error.add_note(f"raised in a worker process:\n{result.trace}")
        raise result.error
    return result


class _Workers:
    """Forked worker processes, each with its own pipe to the parent and at most one task in flight.

    The parent holds the only copy of its end of each pipe (a worker closes
    the copies of its siblings' ends it inherits), so a worker sees
    end-of-file when the parent exits or dies, and exits.
    """

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.pids: list[int] = []
        self.conns: list[Connection | None] = []
        self.busy: dict[int, int] = {}  # worker -> number of its task in flight

    def start(self, jobs: int) -> None:
        """Fork ``jobs`` workers; an ``OSError`` leaves those already started running.

        SIGINT is held while a worker is forked and registered: Python runs
        the at-fork hooks of other modules (``logging``'s, for one) in the
        parent right after ``fork``, and an exception raised inside them is
        printed and ignored, so a Ctrl-C landing there was lost and the run
        went on. Held, it arrives once the worker is in :attr:`pids`.
        Blocking the signal in this thread is not enough: the kernel then
        hands it to another thread (numpy's BLAS threads), Python runs the
        handler in the hooks all the same, and the Ctrl-C was lost under
        load. So in the main thread a handler that only notes the signal
        stands in while forking, and the signal is raised again afterwards.
        """
        for _ in range(jobs):
            parent, child = multiprocessing.Pipe()
            with _sigint_deferred() as caller_handler:
                try:
                    pid = os.fork()
                except BaseException:
                    parent.close()
                    child.close()
                    raise
                if pid == 0:  # the worker: never returns into the caller's code
                    code = 1
                    try:
                        parent.close()
                        for other in self.conns:
                            if other is not None:
                                other.close()
                        if caller_handler is signal.default_int_handler:
                            signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends a worker at once
                        elif caller_handler is not None:
                            signal.signal(signal.SIGINT, caller_handler)
                        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
                        self._serve(child)
                        code = 0
                    finally:
                        os._exit(code)
                child.close()
                self.pids.append(pid)
                self.conns.append(parent)

    def _serve(self, conn: Connection) -> None:
        while True:
            try:
                number, task = conn.recv()
            except (EOFError, OSError):  # the parent is done, or gone
                return
            try:
                result: Any = self.fn(task, *self.args)
            except Exception as e:
                result = _Failure(e)
            try:
                conn.send((number, result))
            except OSError:  # the parent is gone
                return
            except Exception as e:  # the result (or the exception) cannot be pickled
                conn.send((number, _Failure(RuntimeError(f"a worker's result cannot be sent back: {e}"))))

    def idle(self) -> bool:
        return any(c is not None and w not in self.busy for w, c in enumerate(self.conns))

    def has(self, number: int) -> bool:
        return number in self.busy.values()

    def send(self, number: int, task: Any) -> None:
        """Give task ``number`` to an idle worker (if the worker turns out dead, to the next)."""
        for w, conn in enumerate(self.conns):
            if conn is not None and w not in self.busy:
                try:
                    conn.send((number, task))
                except OSError as e:
                    self._lose(w, e)
                    continue
                self.busy[w] = number
                return

    def receive(self) -> dict[int, Any]:
        """Results of the tasks done, waiting for at least one (or for a worker's death)."""
        live: dict[Any, int] = {self.conns[w]: w for w in self.busy}
        out = {}
        for conn in wait(list(live)):
            w = live[conn]
            try:
                number, result = self.conns[w].recv()  # type: ignore[union-attr]
            except (EOFError, OSError) as e:
                self._lose(w, e)
                continue
            del self.busy[w]
            out[number] = result
        return out

    def _lose(self, w: int, error: BaseException) -> None:
        """Worker ``w`` is gone: its task in flight goes back to be sent again."""
        conn = self.conns[w]
        if conn is not None:
            conn.close()
        self.conns[w] = None
        self.busy.pop(w, None)
        why = _reaped(self.pids[w]) or type(error).__name__
        left = sum(c is not None for c in self.conns)
        _warn(f"a worker process stopped ({why}); {left} left" + ("" if left else ", working in this process"))

    def stop(self) -> None:
        """End every worker: idle ones exit on end-of-file, busy ones are killed; all are reaped."""
        for w, conn in enumerate(self.conns):
            if conn is None:
                continue
            if w in self.busy:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pids[w], signal.SIGKILL)
            conn.close()
            self.conns[w] = None
            _reaped(self.pids[w])
        self.busy.clear()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[Any]:
    """Hold SIGINT for the block; a Ctrl-C that came meanwhile is raised again at its end.

    Yields the SIGINT handler the caller had (``None`` outside the main
    thread, where handlers cannot be changed and only the mask holds it).
    """
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    in_main = threading.current_thread() is threading.main_thread()
    caught: list[int] = []
    caller_handler = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum)) if in_main else None
    try:
        yield caller_handler
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a pending SIGINT is noted here, in this thread
        if in_main:
            signal.signal(signal.SIGINT, caller_handler)
            if caught:
                signal.raise_signal(signal.SIGINT)  # now it reaches the caller's handler, outside any hook


def _reaped(pid: int) -> str:
    """Wait for a worker to end; how it ended (empty if it was already reaped)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return ""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
