"""Writing outputs safely: whole files only, one writer per output directory, nothing left behind.

* :func:`write_atomic` writes through a temporary file in the same directory
  and ``os.replace``: readers see the old file or the complete new one.
  Every temporary file is registered *before* it is created, so whatever
  interrupts a write (an exception, Ctrl-C, ``SIGTERM`` turned into an
  exception by :func:`signals_as_interrupts`), :func:`remove_temp_files`
  can remove it; the command line calls it on its way out.
* :class:`OutputLock` makes one process at a time the writer of an output
  directory (an exclusive ``flock`` on ``OUT/.dedup.lock``); a second one
  gets :class:`OutputBusy` at once instead of mixing its files with the
  first's. The lock goes with the process, however it ends.

>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "out"
>>> with OutputLock(out):
...     write_atomic(out / "a.txt", b"hello")
...     OutputLock(out).acquire()
Traceback (most recent call last):
...
dedup.outputs.OutputBusy: ...: another dedup run (pid ...) is writing to this directory; ...
>>> sorted(p.name for p in out.iterdir())
['a.txt']
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_NAME",
    "Interrupted",
    "OutputBusy",
    "OutputLock",
    "open_atomic",
    "remove_temp_files",
    "signals_as_interrupts",
    "write_atomic",
]

#: The lock file in a locked output directory (hidden: directory walks leave it out).
LOCK_NAME = ".dedup.lock"

#: Temporary files of writes in progress (absolute paths), removed if the write does not finish.
_TEMPS: set[str] = set()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    Readers see the old file or the complete new one, never a partial one;
    on any error or interrupt the temporary file is removed. New files get
    the permissions of any new file (``0o666`` less the umask).
    """
    with open_atomic(path) as f:
        f.write(data)


@contextlib.contextmanager
def open_atomic(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write ``path`` piece by piece, in place only once the block ends without error.

    Like :func:`write_atomic`, for outputs written as a stream (a cleaned
    shard larger than memory): the data goes to a registered temporary file
    in the same directory, which is synced and renamed to ``path`` at the
    end of the block, or removed when the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = os.path.abspath(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    _TEMPS.add(tmp)  # before it exists: an interrupt at any point leaves it known
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        remove_temp_files()
        raise
    _TEMPS.discard(tmp)


def remove_temp_files() -> None:
    """Remove the temporary files of unfinished writes (safe to call again if interrupted)."""
    for tmp in sorted(_TEMPS):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        _TEMPS.discard(tmp)


class OutputBusy(Exception):
    """Another process is writing to the output directory."""


class OutputLock:
    """An exclusive lock on an output directory (created if missing), for ``with`` blocks.

    The lock is an ``flock`` on ``directory/.dedup.lock``, held until
    :meth:`release` or the end of the process (the system drops it then,
    even after ``kill -9``). A directory created here is removed again on
    release if nothing was written to it.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None
        self._created = False

    def acquire(self) -> OutputLock:
        """Take the lock, or raise :class:`OutputBusy` naming the process that holds it."""
        self._created = not self.directory.exists()
        self.directory.mkdir(parents=True, exist_ok=True)
        if fcntl is None:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise OutputBusy(
                    f"{self.directory}: another dedup run (pid {holder}) is writing to this directory; "
                    "wait for it to finish or choose another output directory"
                ) from None
            # The holder before us may have removed the file between our open and our lock:
            # then we hold a lock nobody else can see; take the lock on the current file instead.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock and its file (and the directory, if created here and left empty)."""
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)  # before unlocking: a waiter then sees the file changed
            os.close(self._fd)
            self._fd = None
        if self._created:
            with contextlib.suppress(OSError):
                self.directory.rmdir()  # only if empty

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Interrupted(KeyboardInterrupt):
    """A termination signal (``SIGTERM``, ``SIGHUP``) raised as an exception, so that cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_as_interrupts(*signums: int) -> Iterator[None]:
    """Within the block, the given signals raise :class:`Interrupted` instead of killing the process.

    Signals whose disposition is *ignore* stay ignored (``nohup``); outside
    the main thread nothing changes (only it may set handlers).
    """

    def handler(signum: int, frame: FrameType | None) -> Any:
        raise Interrupted(signum)

    saved = {}
    with contextlib.suppress(ValueError):  # not the main thread
        for signum in signums:
            if signal.getsignal(signum) is not signal.SIG_IGN:
                saved[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, previous in saved.items():
            signal.signal(signum, previous)
