"""Compiling numba kernels so that a missing cache directory is never an error.

numba caches compiled kernels next to the package (``__pycache__``) or, when
that is read-only, in the user's cache directory. A system-wide or container
install run by a user without a writable home has neither, and
``numba.njit(cache=True)`` then fails with "cannot cache function ...: no
locator available". :func:`njit` falls back to a private cache directory
under the system's temporary directory, and failing that compiles without a
cache (slower start, same results).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from typing import Any

__all__ = ["njit", "private_cache_dir"]


def private_cache_dir() -> str | None:
    """A cache directory only this user can write (created if needed), or ``None``."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tempfile.gettempdir(), f"dedup-numba-cache-{uid}")
    with contextlib.suppress(OSError):
        os.makedirs(path, mode=0o700, exist_ok=True)
    try:
        info = os.lstat(path)
    except OSError:
        return None
    # Cached kernels are code: never use a directory someone else owns or may write.
    mine = not hasattr(os, "getuid") or info.st_uid == uid
    if not stat.S_ISDIR(info.st_mode) or not mine or info.st_mode & 0o022 or not os.access(path, os.W_OK):
        return None
    return path


def njit(fn: Callable[..., Any], **options: Any) -> Any:
    """``numba.njit(cache=True, **options)(fn)``, with a private cache or none when numba has no place for one."""
    import numba
    from numba.core import config

    try:
        return numba.njit(cache=True, **options)(fn)
    except RuntimeError as e:  # "cannot cache function ...: no locator available"
        if "cache" not in str(e):
            raise
    if not getattr(config, "CACHE_DIR", None):
        path = private_cache_dir()
        if path is not None:
            config.CACHE_DIR = path  # type: ignore[attr-defined]  # read when a function is compiled
            with contextlib.suppress(RuntimeError):
                return numba.njit(cache=True, **options)(fn)
    return numba.njit(cache=False, **options)(fn)
