"""Progress of the library's long calls, for callers that show it (the command line's bars).

A progress callback is any callable ``progress(phase, done, total)``:

``phase``
    What is being done, one of :data:`PHASES`: ``"signatures"`` (documents
    shingled and signed), ``"candidates"`` (LSH candidate pairs gathered),
    ``"verification"`` (candidate pairs checked), ``"passages"`` (steps of
    the repeated-passage search: seeds, chains, matches).
``done``, ``total``
    Units of the phase done so far and in all (documents, pairs or steps);
    ``total`` is 0 when it is not known (a stream of texts).

It is called from the calling thread, between batches (never per document),
so it may be slow-ish (a progress bar) without slowing the work down; each
phase starts with ``done == 0`` and ends with ``done == total``.

>>> seen = []
>>> import dedup
>>> dedup.find_duplicates(["a b c d e f", "a b c d e f"], progress=lambda *p: seen.append(p))
[[0, 1]]
>>> [p for p in seen if p[1] == p[2]]
[('signatures', 2, 2), ('candidates', 1, 1), ('verification', 1, 1)]
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["PHASES", "Progress", "report"]

#: The phases a progress callback is told about, in the order they happen.
PHASES = ("signatures", "candidates", "verification", "passages")

#: ``progress(phase, done, total)``: see the module docstring.
Progress = Callable[[str, int, int], None]


def report(progress: Progress | None, phase: str, done: int, total: int) -> None:
    """Tell ``progress`` (if any) that ``done`` of ``total`` units of ``phase`` are done."""
    if progress is not None:
        progress(phase, done, total)
