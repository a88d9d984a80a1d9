"""Rendering results for people (``text``) and programs (``json``, ``jsonl``, ``csv``).

The machine-readable shapes are a stable schema, documented in
``docs/cli.md``. Positions are given both ways: 1-based inclusive line
numbers (what an editor shows) and 0-based character offsets into the
decoded text, end exclusive (what ``text[start:end]`` needs).

>>> idx = LineIndex("one\\ntwo\\nthree\\n")
>>> idx.line(0), idx.line(4), idx.line(8)
(1, 2, 3)
>>> span_record("a.txt", idx, 4, 14)
{'path': 'a.txt', 'start_line': 2, 'end_line': 3, 'start': 4, 'end': 14}
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

import numpy as np

__all__ = [
    "FORMATS",
    "MANIFEST_KEYS",
    "LineIndex",
    "excerpt",
    "manifest_record",
    "member_label",
    "member_record",
    "span_record",
    "write_docs",
    "write_json",
    "write_json_streamed",
    "write_passages",
    "write_removals",
]

FORMATS = ("text", "json", "jsonl", "csv")
#: Characters of a passage shown in the text report.
EXCERPT_CHARS = 72
_SPACES = re.compile(r"\s+")


class LineIndex:
    """Line numbers of character offsets in one text (lines end at ``\\n``)."""

    #: Texts shorter than this are not indexed: counting newlines in C is cheaper than building the index.
    INDEX_FROM = 1 << 16

    def __init__(self, text: str) -> None:
        self._text = text
        self._newlines = _newlines(text) if len(text) >= self.INDEX_FROM else None

    def line(self, offset: int) -> int:
        """1-based line holding character ``offset``."""
        if offset <= 0:
            return 1
        if self._newlines is None:
            return self._text.count("\n", 0, offset) + 1
        return int(np.searchsorted(self._newlines, offset - 1, side="right")) + 1

    def lines(self, start: int, end: int) -> tuple[int, int]:
        """1-based first and last line (inclusive) of ``[start, end)``."""
        return self.line(start), self.line(max(start, end - 1))


def _newlines(text: str) -> np.ndarray:
    """Character offsets of the newlines of ``text``, found by numpy (one code unit per character)."""
    if text.isascii():
        units = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    else:
        units = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.flatnonzero(units == 10)


def span_record(path: str, index: LineIndex, start: int, end: int) -> dict[str, Any]:
    """``{"path", "start_line", "end_line", "start", "end"}`` for characters ``[start, end)``."""
    first, last = index.lines(start, end)
    return {"path": path, "start_line": first, "end_line": last, "start": start, "end": end}


def excerpt(text: str, start: int, end: int, width: int = EXCERPT_CHARS) -> str:
    """The beginning of ``text[start:end]`` on one line, at most ``width`` characters.

    >>> excerpt("a\\n  long   passage here", 0, 23, width=12)
    'a long pass…'
    """
    # Only look at a bounded slice: a passage can be a 100 MB line.
    piece = _SPACES.sub(" ", text[start : min(end, start + 4 * width)]).strip()
    if len(piece) > width or end - start > 4 * width:
        piece = piece[: width - 1].rstrip() + "…"
    return piece


def member_record(path: str, record: int | None, ident: Any) -> dict[str, Any]:
    """A document in the ``docs`` report: ``{"path", "record", "id"}``."""
    return {"path": path, "record": record, "id": ident}


#: The keys of a ``clean`` manifest record, in their documented order (``record`` and ``id``
#: only for JSONL lines and Parquet rows).
MANIFEST_KEYS = (
    "kind",
    "path",
    "record",
    "id",
    "output",
    "start_line",
    "end_line",
    "start",
    "end",
    "original",
    "similarity",
)


def manifest_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A ``clean`` manifest record with its keys in the documented order (:data:`MANIFEST_KEYS`)."""
    return {k: rec[k] for k in MANIFEST_KEYS if k in rec}


_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 127: "\\x7f"}


def shown_path(path: str) -> str:
    """A path as one line of the text report: control characters (a newline in a file name) escaped.

    >>> print(shown_path("odd" + chr(10) + "name.txt"))
    odd\\nname.txt
    """
    return path.translate(_CONTROL)


def member_label(member: dict[str, Any]) -> str:
    """How a document is named in the text report: ``path``, ``path:record``, plus ``id=...``.

    >>> member_label({"path": "a.jsonl", "record": 3, "id": "x"})
    'a.jsonl:3 id=x'
    """
    path = shown_path(member["path"])
    label = path if member["record"] is None else f"{path}:{member['record']}"
    return label if member["id"] is None else f"{label} id={shown_path(str(member['id']))}"


def write_json(out: TextIO, obj: Any, *, indent: int | None = 2) -> None:
    """One JSON document (UTF-8, non-ASCII kept as is) and a newline."""
    json.dump(obj, out, ensure_ascii=False, indent=indent)
    out.write("\n")


def write_json_streamed(out: TextIO, body: dict[str, Any]) -> None:
    """``write_json(out, body)``, byte for byte, with each list value written an item at a time.

    A value may be any iterable (a generator of clusters read back from
    disk): its items are rendered one by one and never held together.

    >>> import io
    >>> f = io.StringIO()
    >>> write_json_streamed(f, {"a": (x for x in [1, {"b": 2}]), "c": []})
    >>> f.getvalue() == json.dumps({"a": [1, {"b": 2}], "c": []}, indent=2) + "\\n"
    True
    """
    out.write("{")
    for k, (key, value) in enumerate(body.items()):
        out.write(",\n  " if k else "\n  ")
        out.write(json.dumps(key, ensure_ascii=False) + ": ")
        if isinstance(value, (dict, str, int, float, bool)) or value is None:
            out.write(json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n  "))
            continue
        items = 0
        for item in value:
            out.write(",\n    " if items else "[\n    ")
            out.write(json.dumps(item, ensure_ascii=False, indent=2).replace("\n", "\n    "))
            items += 1
        out.write("\n  ]" if items else "[]")
    out.write("\n}\n" if body else "}\n")


def _lines(span: dict[str, Any]) -> str:
    """``path:first-last``; ``path#record:first-last`` for a span in a JSONL line or Parquet row."""
    if "index" in span:  # a document stored in a persistent index (clean --against)
        return f"{span['id']} of {span['index']}"
    first, last = span["start_line"], span["end_line"]
    path = shown_path(span["path"])
    where = path if span.get("record") is None else f"{path}#{span['record']}"
    return f"{where}:{first}" if first == last else f"{where}:{first}-{last}"


def _flat(span: dict[str, Any]) -> list[Any]:
    if "index" in span:  # the index's path and the old id, in the path and start_line columns
        return [span["index"], span["id"], None, None, None]
    return [span["path"], span["start_line"], span["end_line"], span["start"], span["end"]]


_SPAN_COLUMNS = ["path", "start_line", "end_line", "start", "end"]


def _csv_writer(out: TextIO) -> Any:
    return csv.writer(out, lineterminator="\n")


def write_passages(
    out: TextIO,
    fmt: str,
    matches: Sequence[dict[str, Any]],
    summary: dict[str, Any],
    excerpts: Sequence[str] = (),
) -> None:
    """Render passage matches (``{"original", "repeat", "similarity"}`` records).

    ``text`` prints ``repeat  repeats  original  (similarity)`` and an
    excerpt per match; ``json`` one object with ``matches`` and ``summary``;
    ``jsonl`` one match per line; ``csv`` a header and one row per match.
    """
    if fmt == "json":
        write_json(out, {"matches": list(matches), "summary": summary})
    elif fmt == "jsonl":
        for m in matches:
            write_json(out, m, indent=None)
    elif fmt == "csv":
        w = _csv_writer(out)
        w.writerow([f"original_{c}" for c in _SPAN_COLUMNS] + [f"repeat_{c}" for c in _SPAN_COLUMNS] + ["similarity"])
        for m in matches:
            w.writerow(_flat(m["original"]) + _flat(m["repeat"]) + [m["similarity"]])
    else:
        for k, m in enumerate(matches):
            repeat, original = _lines(m["repeat"]), _lines(m["original"])
            if repeat == original:  # both on one line (a long single-line file): tell them apart
                repeat += f" [chars {m['repeat']['start']}-{m['repeat']['end']}]"
                original += f" [chars {m['original']['start']}-{m['original']['end']}]"
            out.write(f"{repeat} repeats {original} (similarity {m['similarity']:.2f})\n")
            if k < len(excerpts):
                out.write(f"    {excerpts[k]}\n")


def write_docs(
    out: TextIO,
    fmt: str,
    clusters: Iterable[dict[str, Any]],
    summary: dict[str, Any],
    against: Iterable[dict[str, Any]] | None = None,
    *,
    scored: bool | None = None,
) -> None:
    """Render document clusters (``{"members": [...], "kept": member}`` records).

    ``csv`` has one row per member: ``cluster, path, record, id, kept`` (and
    ``similarity`` to the kept member when the members carry it; ``scored``
    says so beforehand, else the clusters are looked through first).
    ``against`` (with ``--against IDX``): documents that duplicate one stored
    in an index, ``{"member", "index", "duplicate_of", "similarity"}``
    records; ``json`` puts them under ``"against"``, ``jsonl`` after the
    clusters, one a line; ``csv`` cannot show them. ``clusters`` and
    ``against`` may be generators: they are written as they come (``json``
    too), never held.
    """

    def is_kept(m: dict[str, Any], c: dict[str, Any]) -> bool:
        return all(m.get(k) == v for k, v in c["kept"].items())

    if fmt == "json":
        body: dict[str, Any] = {"clusters": clusters}
        if against is not None:
            body["against"] = against
        write_json_streamed(out, {**body, "summary": summary})
    elif fmt == "jsonl":
        for c in clusters:
            write_json(out, c, indent=None)
        for a in against or ():
            write_json(out, a, indent=None)
    elif fmt == "csv":
        w = _csv_writer(out)
        if scored is None:
            clusters = list(clusters)
            scored = any("similarity" in m for c in clusters for m in c["members"])
        w.writerow(["cluster", "path", "record", "id", "kept"] + (["similarity"] if scored else []))
        for k, c in enumerate(clusters, 1):
            for m in c["members"]:
                row = [k, m["path"], m["record"], m["id"], "true" if is_kept(m, c) else "false"]
                w.writerow(row + ([m.get("similarity")] if scored else []))
    else:
        for k, c in enumerate(clusters, 1):
            out.write(f"cluster {k}: {len(c['members'])} documents\n")
            for m in c["members"]:
                out.write(f"  {'keep' if is_kept(m, c) else 'drop'}  {member_label(m)}\n")
            for p in c.get("contained", ()):  # dedup docs --containment: which is inside which
                out.write(
                    f"    {member_label(p['part'])} is {100 * p['containment']:.0f}% contained in "
                    f"{member_label(p['whole'])}\n"
                )
        for a in against or ():
            out.write(
                f"{member_label(a['member'])} duplicates {a['duplicate_of']} of {a['index']}"
                f" (similarity {a['similarity']:.2f})\n"
            )


_REMOVAL_COLUMNS = ["kind", "path", "output", "start_line", "end_line", "start", "end"]


def write_removals(out: TextIO, fmt: str, removals: Sequence[dict[str, Any]], summary: dict[str, Any]) -> None:
    """Render the removals of ``clean`` (the manifest records, see ``docs/cli.md``)."""
    if fmt == "json":
        write_json(out, {"removals": list(removals), "summary": summary})
    elif fmt == "jsonl":
        for r in removals:
            write_json(out, r, indent=None)
    elif fmt == "csv":
        w = _csv_writer(out)
        w.writerow(_REMOVAL_COLUMNS + [f"original_{c}" for c in _SPAN_COLUMNS] + ["similarity"])
        for r in removals:
            w.writerow([r[c] for c in _REMOVAL_COLUMNS] + _flat(r["original"]) + [r["similarity"]])
    else:
        for r in removals:
            what = "document" if r["kind"] == "document" else "passage"
            out.write(
                f"{_lines(r)} removed: {what} repeats {_lines(r['original'])} (similarity {r['similarity']:.2f})\n"
            )
