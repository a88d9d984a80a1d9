"""Shared fixtures: the bundled seed dump, the shared reference data, hypothesis profiles.

Helpers that several test files need (a reference shingler, corpus builders)
live in the test files themselves on purpose: each file is readable alone,
and the reference code stays deliberately simple and independent of dedup.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from dedup import backend as dedup_backend

REPO = Path(__file__).resolve().parents[1]
SEED_PATH = REPO / "seeds" / "000_928f36d820405ba3.txt"
# Read-only reference material next to the repository (seed dumps, eval sets).
SHARED = REPO.parent / "shared"

# Modest example counts keep the whole core suite well under a minute on a
# shared 2-core machine; no deadline, because worker start-up and the first
# call (which builds the Unicode tables) are slow on a loaded machine.
settings.register_profile(
    "dedup",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("dedup")

# A suite started in the background by a non-interactive shell (`cmd &`, as some CI runners and
# nohup wrappers do) inherits SIGINT ignored, and so would every dedup process it starts: the
# Ctrl-C tests would then time out or skip. They test what a user at a terminal gets.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _backend_from_environment() -> Iterator[None]:
    """Every test starts on the backend ``DEDUP_BACKEND`` names; none leaks its choice to the next."""
    dedup_backend.set_backend(None)
    yield
    dedup_backend.set_backend(None)


@pytest.fixture(params=["numba", "numpy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Run the test once on the compiled kernels and once on the numpy reference."""
    dedup_backend.set_backend(request.param)
    return request.param


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the directory holding ``pyproject.toml``)."""
    return REPO


@pytest.fixture(scope="session")
def seed_path() -> Path:
    """The bundled sample dump ``seeds/000_928f36d820405ba3.txt``."""
    assert SEED_PATH.is_file(), f"bundled seed dump missing: {SEED_PATH}"
    return SEED_PATH


@pytest.fixture(scope="session")
def seed_text(seed_path: Path) -> str:
    """The seed dump as one string (UTF-8)."""
    return seed_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def seed_lines(seed_text: str) -> list[str]:
    """The seed dump split into lines (0-based: line ``k`` of an editor is ``seed_lines[k - 1]``)."""
    return seed_text.split("\n")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``<repo>/../shared`` (seed dumps, DESIGN.md, evalsets); the test is skipped when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"shared reference data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def evalsets_dir(shared_dir: Path) -> Path:
    """``<repo>/../shared/evalsets``; the test is skipped when absent."""
    path = shared_dir / "evalsets"
    if not path.is_dir():
        pytest.skip(f"shared eval sets not found at {path}")
    return path
