"""The examples in the package's docstrings are what users read first: they must keep working."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dedup

MODULES = sorted(
    name
    for _, name, _ in pkgutil.iter_modules(dedup.__path__, "dedup.")
    if name not in ("dedup.spark", "dedup.__main__")  # spark needs a session; __main__ runs the CLI
)


@pytest.mark.parametrize("name", ["dedup", *MODULES])
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
