"""Which implementation of the hot loops runs: the compiled (numba) kernels or numpy.

Both give identical results; the compiled kernels are faster on large
inputs, numpy starts faster. The choice is an explicit setting:

- ``auto`` (the default): the compiled kernels once the work asked of the
  process makes loading them worth it (about a second), numpy before that and
  whenever numba is not installed;
- ``numba``: always the compiled kernels (an error when numba is missing);
- ``numpy``: never the compiled kernels.

It is read from the environment variable ``DEDUP_BACKEND`` unless set with
:func:`set_backend` (or, for a block, :func:`use_backend`). The older
``DEDUP_NO_NUMBA=1`` still means ``numpy``.

>>> with use_backend("numpy"):
...     get_backend()
'numpy'
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Literal

from . import _kernels

__all__ = [
    "BACKENDS",
    "Backend",
    "get_backend",
    "kernels",
    "kernels_available",
    "preload",
    "set_backend",
    "use_backend",
]

Backend = Literal["auto", "numba", "numpy"]
BACKENDS: tuple[Backend, ...] = ("auto", "numba", "numpy")

#: Set by :func:`set_backend`; ``None`` follows the environment.
_chosen: Backend | None = None


def _check(name: str, where: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"{where} must be one of auto, numba, numpy; got {name!r}")
    return name


def get_backend() -> Backend:
    """The backend in force.

    Returns
    -------
    Backend
        The value given to :func:`set_backend`, else ``DEDUP_BACKEND``
        (``numpy`` when ``DEDUP_NO_NUMBA`` is set), else ``"auto"``.

    Raises
    ------
    ValueError
        When ``DEDUP_BACKEND`` holds something else than auto, numba or numpy.
    """
    if _chosen is not None:
        return _chosen
    value = os.environ.get("DEDUP_BACKEND", "").strip().lower()
    if value:
        return _check(value, "DEDUP_BACKEND")
    return "numpy" if os.environ.get("DEDUP_NO_NUMBA") else "auto"


def set_backend(name: Backend | None) -> None:
    """Choose the backend for this process (and the workers it forks from now on).

    Parameters
    ----------
    name : {"auto", "numba", "numpy"} or None
        The backend; ``None`` goes back to following ``DEDUP_BACKEND``.

    Raises
    ------
    ValueError
        For any other name.
    """
    global _chosen
    _chosen = None if name is None else _check(name, "backend")


@contextmanager
def use_backend(name: Backend | None) -> Iterator[None]:
    """Run a block with another backend, then restore the previous setting.

    Parameters
    ----------
    name : {"auto", "numba", "numpy"} or None
        The backend inside the block.

    Yields
    ------
    None
        Control to the block.
    """
    saved = _chosen
    set_backend(name)
    try:
        yield
    finally:
        set_backend(saved)


def kernels_available() -> bool:
    """Whether the ``numba`` backend can run (numba installed, ``DEDUP_NO_NUMBA`` not set).

    Returns
    -------
    bool
    """
    return _kernels.AVAILABLE


def kernels(work: int) -> SimpleNamespace | None:
    """The compiled kernels to use for ``work`` more elements, or ``None`` for the numpy path.

    Parameters
    ----------
    work : int
        Size of the job about to run (characters, tokens, ...): under
        ``auto`` the kernels are loaded once the work of the process adds up
        to enough to pay for loading them.

    Returns
    -------
    types.SimpleNamespace or None
        The kernels of :mod:`dedup._kernels`, or ``None``.

    Raises
    ------
    RuntimeError
        When the backend is ``numba`` but numba is not installed.
    """
    backend = get_backend()
    if backend == "numpy":
        return None
    if backend == "numba":
        if not kernels_available():
            raise RuntimeError("the numba backend needs numba: pip install numba (or set DEDUP_BACKEND=auto)")
        return _kernels.compiled(_kernels.MIN_WORK)
    return _kernels.compiled(work)


def preload() -> None:
    """Load the compiled kernels now if the backend may use them (before forking workers)."""
    if get_backend() != "numpy":
        kernels(_kernels.MIN_WORK)
