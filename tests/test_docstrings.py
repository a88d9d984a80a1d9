"""The examples in the package's docstrings are what users read first: they must keep working."""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import inspect
import pkgutil
import re

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


# ---------------------------------------------------------------- numpy-style docstrings of the public API

_SECTION = re.compile(r"^(?P<title>[A-Z][a-z]+)\n-{3,}\n(?P<body>.*?)(?=^[A-Z][a-z]+\n-{3,}\n|^>>> |\Z)", re.M | re.S)
_ENTRY = re.compile(r"^(?P<names>\*{0,2}\w+(?:, \*{0,2}\w+)*) : \S", re.M)


def _sections(doc: str) -> dict[str, str]:
    return {m["title"]: m["body"] for m in _SECTION.finditer(doc)}


def _documented(body: str) -> set[str]:
    return {name.lstrip("*") for m in _ENTRY.finditer(body) for name in m["names"].split(", ")}


def _parameters(fn: object) -> list[str]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    return [p.name for p in params if p.name not in ("self", "cls")]


def _problems(label: str, obj: object, fields: list[str], needs_returns: bool) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    if not doc.strip():
        return [f"{label}: no docstring"]
    sections = _sections(doc)
    problems = []
    documented = _documented(sections.get("Parameters", "")) | _documented(sections.get("Attributes", ""))
    missing = [f for f in fields if f not in documented]
    if missing:
        problems.append(f"{label}: 'name : type' entries missing under Parameters/Attributes for {missing}")
    if needs_returns and not ({"Returns", "Yields"} & set(sections)):
        problems.append(f"{label}: no Returns/Yields section")
    return problems


def _api() -> list[tuple[str, object]]:
    out = []
    for name in dedup.__all__:
        obj = getattr(dedup, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            out.append((f"dedup.{name}", obj))
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) and not attr.startswith("_"):
                        out.append((f"dedup.{name}.{attr}", member))
    return out


def _returns_something(fn: object) -> bool:
    annotation = inspect.signature(fn).return_annotation  # type: ignore[arg-type]
    return annotation not in (None, "None", inspect.Signature.empty)


@pytest.mark.parametrize(("label", "obj"), _api(), ids=[label for label, _ in _api()])
def test_public_api_has_numpy_style_docstrings(label: str, obj: object) -> None:
    """Every parameter documented as ``name : type`` under Parameters; a Returns (or Yields) section."""
    if inspect.isclass(obj):
        if dataclasses.is_dataclass(obj):
            fields = [f.name for f in dataclasses.fields(obj)]
        elif hasattr(obj, "_fields"):  # NamedTuple
            fields = list(obj._fields)
        else:
            fields = _parameters(obj.__init__)
        problems = _problems(label, obj, fields, needs_returns=False)
    else:
        problems = _problems(label, obj, _parameters(obj), needs_returns=_returns_something(obj))
    assert problems == []


def test_docstring_check_can_fail() -> None:
    def undocumented(a: int, b: int) -> int:
        """Add.

        Parameters
        ----------
        a: int
            Missing the space before the colon.
        """
        return a + b

    assert _problems("f", undocumented, ["a", "b"], needs_returns=True) == [
        "f: 'name : type' entries missing under Parameters/Attributes for ['a', 'b']",
        "f: no Returns/Yields section",
    ]
