"""Reliability: the findings of the bad-input and fault battery (issue 16), kept as tests.

Each test names the finding it keeps fixed. They run the real thing: the
``dedup`` command in a subprocess on real files, real signals sent to real
processes, real process limits. Nothing is mocked. A test that needs what
this machine cannot give (e.g. a non-root user) is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dedup
from dedup.passages import Match, Removal, Span, apply_removals, plan_removals

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"


class Run:
    """One finished ``dedup`` run, decoded."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8", "backslashreplace")
        self.err = proc.stderr.decode("utf-8", "backslashreplace")

    def json(self):
        return json.loads(self.out)


def env_with_src(**extra: str) -> dict[str, str]:
    """The environment for a child process that imports this checkout's ``dedup``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def dedup_run(*args: object, cwd: Path, timeout: float = 300, env: dict[str, str] | None = None) -> Run:
    """Run the real command; stderr must be one-line ``dedup:`` messages, never a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "dedup", *map(str, args)],
        cwd=cwd,
        input=b"",
        capture_output=True,
        timeout=timeout,
        env=env or env_with_src(),
    )
    run = Run(proc)
    assert "Traceback" not in run.err, run.err
    for line in run.err.splitlines():
        assert line.startswith("dedup: "), f"stray stderr line: {line!r}"
    return run


def python_run(code: str, *, timeout: float = 300, env: dict[str, str] | None = None) -> Run:
    """Run a Python snippet in a fresh interpreter (this checkout's ``dedup`` importable)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        timeout=timeout,
        env=env or env_with_src(),
    )
    return Run(proc)


def words(rng: random.Random, n: int) -> str:
    vocab = ["river", "stone", "market", "window", "garden", "letter", "yellow", "quiet", "ladder", "engine"]
    return " ".join(rng.choice(vocab) + str(rng.randrange(10_000)) for _ in range(n))


# ---------------------------------------------------------------- 1: clean is linear


def reference_plan(texts: list[str], matches: list[Match], threshold: float = 0.8) -> list[Removal]:
    """The plain (quadratic) definition of plan_removals, as first written: the reference."""
    removed: dict[int, list[tuple[int, int]]] = {}
    plan = []
    for m in sorted(matches, key=lambda x: (x.repeat.doc, x.repeat.start)):
        o = m.original
        gone = sum(max(0, min(hi, o.end) - max(lo, o.start)) for lo, hi in removed.get(o.doc, []))
        if o.end - o.start <= 0 or (o.end - o.start - gone) / (o.end - o.start) < threshold:
            continue
        text, start, end = texts[m.repeat.doc], m.repeat.start, m.repeat.end
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", end)
        line_end = len(text) if line_end < 0 else line_end
        if not any(c.isalnum() for c in text[line_start:start] + text[end:line_end]):
            start, end = line_start, min(line_end + 1, len(text))
        spans = removed.setdefault(m.repeat.doc, [])
        if any(lo < end and start < hi for lo, hi in spans):
            continue
        spans.append((start, end))
        plan.append(Removal(Span(m.repeat.doc, start, end), m))
    plan.sort(key=lambda r: (r.span.doc, r.span.start))
    return plan


# Pieces of text that make every widening case: lines of words, of punctuation only,
# blank lines, and alphanumerics outside ASCII (and "_", which is not alphanumeric).
_pieces = st.lists(
    st.sampled_from(["alpha", "beta 12", "—", "...", " ", "\n", "\n\n", "_", "Щука", "東京", "🙂", "²", "-- "]),
    min_size=1,
    max_size=40,
).map("".join)


@st.composite
def texts_and_matches(draw) -> tuple[list[str], list[Match]]:
    texts = draw(st.lists(_pieces, min_size=1, max_size=3))
    matches = []
    for _ in range(draw(st.integers(0, 12))):
        rd = draw(st.integers(0, len(texts) - 1))
        od = draw(st.integers(0, rd))
        n = len(texts[rd])
        rs = draw(st.integers(0, n))
        re_ = draw(st.integers(rs, n))
        os_ = draw(st.integers(0, len(texts[od])))
        oe = draw(st.integers(os_, len(texts[od])))
        matches.append(Match(Span(od, os_, oe), Span(rd, rs, re_), 1.0))
    return texts, matches


@given(texts_and_matches(), st.sampled_from([0.5, 0.8, 1.0]))
def test_1_plan_removals_equals_its_plain_definition(case: tuple[list[str], list[Match]], threshold: float) -> None:
    texts, matches = case
    assert plan_removals(texts, matches, threshold=threshold) == reference_plan(texts, matches, threshold)


def test_1_plan_removals_is_linear_on_one_long_line() -> None:
    """40,000 repeats on one 4 MB line: the quadratic version scans the line per repeat (hours).

    Not a timing assertion: the child gets ten minutes for what takes a
    fraction of a second; the quadratic code needs ~10^11 character steps.
    """
    run = python_run(
        """
        from dedup.passages import Match, Span, apply_removals, plan_removals
        text = "".join(f"w{i:06d} alpha beta gamma delta " for i in range(130_000))  # 4.2 MB, no newline
        original = Span(0, 0, 60)
        matches = [Match(original, Span(0, 100 * k, 100 * k + 50), 1.0) for k in range(1, 40_001)]
        plan = plan_removals(text, matches)
        out = apply_removals(text, plan)[0]
        print(len(plan), len(text) - len(out))
        """,
        timeout=600,
    )
    assert run.code == 0, run.err
    assert run.out.split() == ["40000", str(40_000 * 50)]


def test_1_clean_on_a_long_single_line_keeps_the_first_copy(tmp_path: Path) -> None:
    rng = random.Random(1)
    passage = words(rng, 60)
    parts = [words(rng, 200)]
    for _ in range(200):
        parts += [passage, words(rng, 50)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "line.txt").write_text(" ".join(parts), encoding="utf-8")  # one line, ~1 MB
    run = dedup_run("clean", "in", "-o", "out", "-q", "-f", "json", cwd=tmp_path, timeout=600)
    assert run.code == 0, run.err
    cleaned = (tmp_path / "out" / "line.txt").read_text(encoding="utf-8")
    assert cleaned.count(passage) == 1
    assert "\n" not in cleaned
    assert run.json()["summary"]["passages_removed"] == 199


# ---------------------------------------------------------------- 3: iterators


def test_3_remove_repeated_passages_accepts_an_iterator() -> None:
    rng = random.Random(3)
    passage = words(rng, 40)
    docs = [f"{words(rng, 30)}\n{passage}\n", f"{words(rng, 30)}\n{passage}\n{words(rng, 10)}\n"]
    expected = dedup.remove_repeated_passages(docs)
    assert expected[1].count(passage) == 0 and expected[0].count(passage) == 1
    assert dedup.remove_repeated_passages(iter(docs)) == expected
    assert dedup.remove_repeated_passages(d for d in docs) == expected
    assert dedup.remove_repeated_passages(tuple(docs)) == expected
    matches = dedup.find_repeated_passages(docs)
    assert plan_removals(iter(docs), iter(matches)) == plan_removals(docs, matches)
    assert apply_removals(iter(docs), iter(plan_removals(docs, matches))) == expected


def test_3_plan_removals_rejects_matches_of_other_texts() -> None:
    match = Match(Span(0, 0, 5), Span(3, 0, 5), 1.0)
    with pytest.raises(ValueError, match="not among the 1 texts"):
        plan_removals(["hello world"], [match])
