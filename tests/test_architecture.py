"""The package's shape: no module reaches into another's private names; one rule per concept."""

from __future__ import annotations

import ast
import pathlib

import pytest

import dedup
from dedup import cli, internal, synth
from dedup.lsh import RECALL_MARGIN, LSHIndex, default_bands, optimal_bands

SRC = pathlib.Path(dedup.__file__).parent


def _label(path: pathlib.Path) -> str:
    return str(path.relative_to(SRC)) if path.is_relative_to(SRC) else path.name


def _private_imports(path: pathlib.Path) -> list[str]:
    """``module: name`` for every private (``_x``) name imported from another dedup module.

    Modules whose own name starts with an underscore (``_kernels``) are package-internal
    modules: importing the module is fine, importing its private names is not.
    """
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("dedup")):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    # `from . import _kernels` imports a module, not a private name.
                    if node.module is None or (node.level == 0 and node.module == "dedup"):
                        continue
                    found.append(f"{_label(path)}: from {'.' * node.level}{node.module} import {alias.name}")
    return found


def _private_attribute_uses(path: pathlib.Path) -> list[str]:
    """``module: alias._name`` where ``alias`` is another dedup module imported by this one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            for alias in node.names:
                if node.module is None or alias.name[:1].islower():
                    modules.add(alias.asname or alias.name)
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{_label(path)}: {node.value.id}.{node.attr}")
    return found


def _modules() -> list[pathlib.Path]:
    return sorted(SRC.rglob("*.py"))


def test_no_module_imports_another_modules_private_name() -> None:
    found = [hit for path in _modules() for hit in _private_imports(path) + _private_attribute_uses(path)]
    assert found == []


def test_the_private_import_check_can_fail(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text("from .documents import _find\nfrom . import io as dio\nx = dio._one_line\n", encoding="utf-8")
    assert _private_imports(bad) == ["probe.py: from .documents import _find"]
    assert _private_attribute_uses(bad) == ["probe.py: dio._one_line"]


def _dedup_imports(path: pathlib.Path) -> set[str]:
    """Dotted names (``dedup.x``) of the dedup modules a module imports, anywhere in it."""
    package = ["dedup", *path.relative_to(SRC).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - node.level + 1]
            if node.module:
                found.add(".".join([*base, node.module]))
            else:  # from . import x: x is a module of the package
                found.update(".".join([*base, alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dedup."):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dedup."))
    return found


#: The layers above the engines: reading and writing, rendering, the command line, Spark.
_OUTER = ("dedup.cli", "dedup.report", "dedup.formats", "dedup.spark", "dedup.synth")


@pytest.mark.parametrize("module", ["text", "minhash", "lsh", "clusters", "documents", "passages", "internal"])
def test_the_core_never_imports_the_outer_layers(module: str) -> None:
    """Text -> signatures -> LSH -> pairs/passages -> clusters is a library on its own: no I/O, no CLI."""
    imports = _dedup_imports(SRC / f"{module}.py")
    assert sorted(i for i in imports if i.startswith(_OUTER)) == []


def test_spark_engine_modules_import_neither_cli_nor_report() -> None:
    """Only the CLI adapter (spark/cli.py) and the package's re-exports may reach the command line's layers."""
    engines = [p for p in sorted((SRC / "spark").glob("*.py")) if p.name not in ("cli.py", "__init__.py")]
    assert len(engines) >= 2
    found = {
        p.name: sorted(i for i in _dedup_imports(p) if i.startswith(("dedup.cli", "dedup.report", "dedup.spark.cli")))
        for p in engines
    }
    assert found == {p.name: [] for p in engines}


def test_import_check_resolves_relative_imports(tmp_path: pathlib.Path) -> None:
    assert "dedup.report" in _dedup_imports(SRC / "spark" / "cli.py")
    assert "dedup.internal" in _dedup_imports(SRC / "documents.py")


@pytest.mark.parametrize(
    ("text", "size"),
    [("2MiB", 2_097_152), ("2MB", 2_000_000), ("1.5GB", 1_500_000_000), ("64kB", 64_000), ("1KiB", 1024), ("512", 512)],
)
def test_one_size_rule_for_cli_and_synth(text: str, size: int) -> None:
    assert internal.parse_size(text) == synth.parse_size(text) == cli.parse_size(text) == size


def test_find_duplicates_and_the_index_band_alike() -> None:
    for threshold in (0.5, 0.8, 0.95):
        index = LSHIndex(threshold=threshold, num_perm=128)
        assert (index.bands, index.rows) == default_bands(threshold, 128)
        assert default_bands(threshold, 128) == optimal_bands(threshold - RECALL_MARGIN, 128)
