"""Cleaning a dump larger than memory: the same outputs as an in-memory ``dedup clean``, texts never held.

:func:`clean_on_disk` reads the inputs once, record by record (as
:func:`dedup.formats.load` reads them), and spools each text to a file in a
work directory together with a small JSON line of what the manifest will
need about it (file, record, id, length, last line); where each spooled item
ends goes to a file too. Then:

1. **Documents** (``docs=True``): the texts stream through
   :func:`dedup.stream.find_duplicates_on_disk` (an index on disk, resumable
   after a crash): a near-duplicate of an earlier kept document is dropped,
   the first copy stays (``keep="first"``, or the longest).
2. **Passages**: the documents not dropped, read back from the spool, go to
   :func:`dedup.passages.find_repeated_passages` with the seeds spilled to
   the work directory, and :func:`dedup.passages.plan_removals` reads back
   only the documents that hold repeats.
3. **Writing**: each input file is copied by :func:`dedup.formats.write_like`
   as a stream (JSON Lines line by line; a Parquet file, as in memory, whole),
   each changed record's new text cut from its spooled text when the writer
   reaches it. The manifest (every removal, in document order) and
   ``removed.jsonl`` (the dropped records) are written line by line as the
   files are; the manifest is put in place last.

Memory holds one batch of texts and what is found (the clusters' members,
the documents dropped, the passages removed), nothing per document read: the
spools' offsets are read back from their files. Every output
is written atomically, so a run killed at any point leaves each output file
complete or absent; run again with the same work directory it skips the
document batches already done and writes the same outputs as an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from . import formats as dio
from . import outputs
from .index import Index
from .passages import Removal, Span, find_repeated_passages, plan_removals, remove_spans
from .progress import Progress
from .report import LineIndex, manifest_record, member_record, span_record
from .stream import find_duplicates_on_disk
from .text_source import TextSource

__all__ = ["CleanError", "CleanRun", "clean_on_disk"]


class CleanError(Exception):
    """The run cannot go on (an input broke after its first records were used, an unreadable part)."""


@dataclass
class CleanRun:
    """What :func:`clean_on_disk` read, removed and wrote (the figures of ``stats.json``)."""

    #: The input files read (in order); those skipped are not here.
    sources: list[dio.Source] = field(default_factory=list)
    nbytes: int = 0
    documents: int = 0
    skipped_files: int = 0
    skipped_records: int = 0
    records_in: int = 0
    records_out: int = 0
    bytes_out: int = 0
    written: int = 0
    documents_dropped: int = 0
    passages_removed: int = 0
    chars_removed: int = 0
    #: Documents whose duplicate-document work was found done in the work directory (a resumed run).
    resumed_docs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def removals(self) -> int:
        """Manifest records: documents dropped plus passages removed."""
        return self.documents_dropped + self.passages_removed


class _Spool:
    """Byte strings appended to a file, read back by number; where each ends goes to a second file.

    Nothing per item stays in memory (the ends are written a block at a time and read back from their
    file), so a dump's millions of documents cost the process nothing here.
    """

    #: Ends buffered before they are written to their file.
    BLOCK = 1 << 16

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ends_path = path.with_name(path.name + ".ends")
        self._file = open(path, "w+b")  # noqa: SIM115  (closed by close())
        self._ends = open(self._ends_path, "w+b")  # noqa: SIM115  (closed by close())
        self._pending: list[int] = []
        self._size = 0
        self._n = 0

    def append(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)
        self._pending.append(self._size)
        self._n += 1
        if len(self._pending) >= self.BLOCK:
            self._write_ends()

    def _write_ends(self) -> None:
        self._ends.write(np.asarray(self._pending, dtype="<i8").tobytes())
        self._pending.clear()

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Bytes appended so far."""
        return self._size

    def _span(self, k: int) -> tuple[int, int]:
        if k == 0:
            return 0, int(np.frombuffer(os.pread(self._ends.fileno(), 8, 0), dtype="<i8")[0])
        start, end = np.frombuffer(os.pread(self._ends.fileno(), 16, 8 * (k - 1)), dtype="<i8").tolist()
        return start, end

    def __getitem__(self, k: int) -> bytes:
        start, end = self._span(k)
        return os.pread(self._file.fileno(), end - start, start)

    def __iter__(self) -> Iterator[bytes]:
        """Every item, in order (one sequential read of both files)."""
        with open(self.path, "rb", buffering=1 << 22) as data, open(self._ends_path, "rb") as ends:
            start = 0
            while block := ends.read(8 * self.BLOCK):
                for end in np.frombuffer(block, dtype="<i8").tolist():
                    yield data.read(end - start)
                    start = end

    def flush(self) -> None:
        self._write_ends()
        self._file.flush()
        self._ends.flush()

    def close(self) -> None:
        self._file.close()
        self._ends.close()
        for path in (self.path, self._ends_path):
            with contextlib.suppress(OSError):
                os.unlink(path)


class _Texts(TextSource):
    """The texts of the inputs, spooled (UTF-8, ``surrogatepass``) to a :class:`_Spool` as they are read first."""

    def __init__(self, texts: Iterator[str], path: Path) -> None:
        self._source: Iterator[str] | None = texts
        self._spool = _Spool(path)
        self._complete = False

    def __iter__(self) -> Iterator[str]:
        if self._source is None:
            if not self._complete:
                raise RuntimeError("the texts are still being read by an earlier iteration")
            for data in self._spool:
                yield data.decode("utf-8", "surrogatepass")
            return
        source, self._source = self._source, None
        for text in source:
            self._spool.append(text.encode("utf-8", "surrogatepass"))
            yield text
        self._spool.flush()
        self._complete = True

    def __len__(self) -> int:
        return len(self._spool)

    def __getitem__(self, index: int) -> str:
        return self._spool[int(index)].decode("utf-8", "surrogatepass")

    @property
    def nbytes(self) -> int:
        """UTF-8 bytes spooled so far."""
        return self._spool.nbytes

    def close(self) -> None:
        """Remove the spool's files."""
        self._spool.close()

    def __enter__(self) -> _Texts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Kept(TextSource):
    """The spooled texts of the documents not dropped, renumbered ``0..len-1`` (what the passage finder sees).

    Kept text ``i`` is document ``i + j``, ``j`` the number of dropped documents before it: found by a
    binary search of the dropped documents, so nothing per document is held.
    """

    def __init__(self, texts: _Texts, dropped: np.ndarray) -> None:
        self._texts = texts
        self._dropped = dropped
        # Dropped document k has dropped[k] - k kept documents before it.
        self._kept_before = dropped - np.arange(len(dropped), dtype=np.int64)
        self.size_hint = texts.nbytes

    def __iter__(self) -> Iterator[str]:
        skip = iter(self._dropped.tolist())
        next_skip = next(skip, -1)
        for d, text in enumerate(self._texts):
            if d == next_skip:
                next_skip = next(skip, -1)
                continue
            yield text

    def __len__(self) -> int:
        return len(self._texts) - len(self._dropped)

    def __getitem__(self, index: int) -> str:
        return self._texts[self.doc(index)]

    def doc(self, index: int) -> int:
        """The document number (among all documents) of kept text ``index``."""
        return int(index) + int(np.searchsorted(self._kept_before, index, side="right"))


class _Docs:
    """Per document: its manifest facts (path, record, id, length, last line), spooled; texts cached a little."""

    #: Texts (and line indexes) kept while the manifest of nearby documents is written.
    KEEP = 64

    def __init__(self, meta: _Spool, texts: _Texts, sources: Sequence[dio.Source]) -> None:
        self.meta, self.texts, self.sources = meta, texts, sources
        self._lines: dict[int, LineIndex] = {}

    def facts(self, d: int) -> tuple[int, int | None, Any, int, int]:
        """``(source number, record, id, characters, last line)`` of document ``d``."""
        src, record, ident, chars, last = json.loads(self.meta[d])
        return src, record, ident, chars, last

    def member(self, d: int) -> dict[str, Any]:
        """``{"path", "record", "id"}``, as the ``docs`` report and ``removed.jsonl`` name a document."""
        src, record, ident, _, _ = self.facts(d)
        return member_record(self.sources[src].path, record, ident)

    def whole(self, d: int) -> dict[str, Any]:
        """The span record of the whole of document ``d`` (no need to read its text: its facts say it)."""
        src, record, ident, chars, last = self.facts(d)
        rec = {"path": self.sources[src].path, "start_line": 1, "end_line": last, "start": 0, "end": chars}
        if record is not None:
            rec.update(record=record, id=ident)
        return rec

    def span(self, d: int, start: int, end: int) -> dict[str, Any]:
        """The span record of characters ``[start, end)`` of document ``d`` (its text read back)."""
        src, record, ident, _, _ = self.facts(d)
        if d not in self._lines:
            if len(self._lines) >= self.KEEP:
                self._lines.pop(next(iter(self._lines)))
            self._lines[d] = LineIndex(self.texts[d])
        rec = span_record(self.sources[src].path, self._lines[d], start, end)
        if record is not None:
            rec.update(record=record, id=ident)
        return rec


class _Changes(Mapping[Any, Any]):
    """What :func:`dedup.formats.write_like` changes in one file: record -> new text, ``None`` when dropped.

    New texts are cut from the spooled text when the writer asks for them,
    so only one is in memory at a time.
    """

    def __init__(
        self, docs: dict[Any, int], dropped: Mapping[int, Any], cuts: Mapping[int, list[Span]], texts: _Texts
    ) -> None:
        self._docs, self._dropped, self._cuts, self._texts = docs, dropped, cuts, texts

    def __getitem__(self, record: Any) -> str | None:
        d = self._docs[record]
        if d in self._dropped:
            return None
        return remove_spans(self._texts[d], self._cuts[d])

    def __contains__(self, record: object) -> bool:
        return record in self._docs

    def __iter__(self) -> Iterator[Any]:
        return iter(self._docs)

    def __len__(self) -> int:
        return len(self._docs)


class _Dropped(Mapping[int, tuple[int | None, Any, float]]):
    """The dropped documents: doc -> ``(kept doc or None, old document or None, similarity)``, in numpy arrays.

    24 bytes a dropped document (a dict of tuples would take about ten times that, and a dump's
    duplicates grow with it); a duplicate of a kept document is named by its number, one of an
    ``--against`` index by ``{"index": name, "id": old id}``.
    """

    def __init__(self, found: Any, index_name: str) -> None:
        keeper = np.repeat(found.kept_docs, np.diff(found.offsets))
        dup = found.members != keeper
        docs = [found.members[dup]]
        kept = [keeper[dup]]
        sims = [found.member_similarity[dup]]
        self._old: dict[int, Any] = {}
        if found.old:  # documents of an --against index: those not already dropped as a cluster member
            old_docs = np.fromiter((d for d, _, _ in found.old), dtype=np.int64, count=len(found.old))
            new = np.flatnonzero(~np.isin(old_docs, docs[0]))
            docs.append(old_docs[new])
            kept.append(np.full(len(new), -1, dtype=np.int64))
            sims.append(np.fromiter((found.old[k][2] for k in new.tolist()), dtype=np.float64, count=len(new)))
            self._old = {found.old[k][0]: {"index": index_name, "id": found.old[k][1]} for k in new.tolist()}
        all_docs = np.concatenate(docs).astype(np.int64)
        order = np.argsort(all_docs, kind="stable")
        self._docs = all_docs[order]
        self._kept = np.concatenate(kept).astype(np.int64)[order]
        self._sims = np.concatenate(sims).astype(np.float64)[order]

    @classmethod
    def none(cls) -> _Dropped:
        """No document dropped (``clean`` without ``--docs``)."""
        dropped = cls.__new__(cls)
        dropped._old = {}
        dropped._docs = dropped._kept = np.zeros(0, dtype=np.int64)
        dropped._sims = np.zeros(0, dtype=np.float64)
        return dropped

    @property
    def docs(self) -> np.ndarray:
        """The dropped documents, ascending."""
        return self._docs

    def _at(self, d: object) -> int:
        if not isinstance(d, (int, np.integer)) or not len(self._docs):
            return -1
        k = int(np.searchsorted(self._docs, d))
        return k if k < len(self._docs) and self._docs[k] == d else -1

    def __contains__(self, d: object) -> bool:
        return self._at(d) >= 0

    def __getitem__(self, d: int) -> tuple[int | None, Any, float]:
        k = self._at(d)
        if k < 0:
            raise KeyError(d)
        kept = int(self._kept[k])
        return (None, self._old[d], float(self._sims[k])) if kept < 0 else (kept, None, float(self._sims[k]))

    def __iter__(self) -> Iterator[int]:
        return iter(self._docs.tolist())

    def __len__(self) -> int:
        return len(self._docs)


#: Temporary files of :func:`dedup.outputs.open_atomic` left by a run killed with ``kill -9``.
_STALE_TEMP = re.compile(r"^\..+\.\d+\.[0-9a-f]{8}\.tmp$")


def _remove_stale_temps(out: Path) -> None:
    """Remove what killed runs left half-written in ``out`` (the caller holds its lock)."""
    if not out.is_dir():
        return
    for root, _, names in os.walk(out):
        for name in names:
            if _STALE_TEMP.match(name):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))


def _read(
    paths: Sequence[str],
    run: CleanRun,
    formats: dict[str, dio.Format],
    codecs: dict[str, str],
    meta: _Spool,
    on_problem: Callable[[dio.InputError], None],
    on_warning: Callable[[str], None],
    *,
    input_format: str | None,
    recursive: bool,
    glob: str | None,
    encoding: str,
    errors: str,
    text_field: str,
    id_field: str | None,
    consumed: Callable[[int], Any] | None,
) -> Iterator[str]:
    """The texts of the inputs, in order, read as :func:`dedup.formats.load` reads them; their facts to ``meta``.

    A file is skipped as ``load`` skips it when it breaks before its first
    record; one that breaks later (its first records already used) stops the
    run with :class:`CleanError`.
    """
    sources, problems = dio.find_sources(paths, recursive=recursive, glob=glob)
    for problem in problems:
        run.skipped_files += 1
        on_problem(problem)
    damaged: list[str] = []
    for src in sources:
        fmt = dio.detect_format(src.path, input_format)
        number = len(run.sources)
        given = 0
        skipped_before = run.skipped_records
        try:
            if fmt.kind == "text":
                data = dio.read_bytes(src, fmt.compression)
                codec = dio.exact_codec(data, encoding)
                text, nbytes = dio.decode(data, src.path, codec, errors), len(data)
                del data
                codecs[src.path] = codec
                run.sources.append(src)
                meta.append(_facts(number, None, None, text))
                given += 1
                yield text
                if consumed is not None:
                    consumed(dio.source_size(src))
            else:
                reader = dio.ShardReader(
                    src, fmt, encoding=encoding, errors=errors, text_field=text_field, id_field=id_field,
                    consumed=consumed,
                )  # fmt: skip
                bad = 0
                for item in reader:
                    if isinstance(item, dio.InputError):
                        if isinstance(item, dio.UnreadablePart) and src.path not in damaged:
                            damaged.append(src.path)
                        run.skipped_records += 1
                        bad += 1
                        if bad <= dio.MAX_RECORD_WARNINGS:
                            on_problem(item)
                        continue
                    if not given:
                        run.sources.append(src)
                    meta.append(_facts(number, item.record, item.id, item.text))
                    given += 1
                    yield item.text
                if bad > dio.MAX_RECORD_WARNINGS:
                    on_warning(f"{src.path}: {bad - dio.MAX_RECORD_WARNINGS} more bad records skipped")
                nbytes = reader.nbytes
                if not given:
                    run.sources.append(src)
        except dio.InputError as e:
            if given:
                raise CleanError(
                    f"{e}; --work-dir cannot skip a file whose first records were already used: "
                    "fix or leave out the file, or clean without --work-dir"
                ) from None
            run.skipped_records = skipped_before
            run.skipped_files += 1
            on_problem(e)
            continue
        formats[src.path] = fmt
        run.nbytes += nbytes
        run.documents += given
    for path in damaged:
        raise CleanError(
            f"{path}: cannot copy: part of the file is unreadable, its copy would lose rows; nothing written"
        )
    if not run.documents and not (run.sources and not run.skipped_records):
        if run.sources:
            n = run.skipped_records
            raise dio.NothingRead(f"no documents in the input ({n} bad record{'' if n == 1 else 's'} skipped)")
        n = run.skipped_files
        raise dio.NothingRead(f"nothing could be read ({n} input{'' if n == 1 else 's'} skipped)")


def _facts(source: int, record: int | None, ident: Any, text: str) -> bytes:
    """One document's manifest facts, as a spool line: source, record, id, characters, last line."""
    last = text.count("\n", 0, max(0, len(text) - 1)) + 1  # report.LineIndex's line of the last character
    return json.dumps([source, record, ident, len(text), last], default=str).encode("utf-8")


def clean_on_disk(
    paths: Sequence[str],
    out: str | os.PathLike[str],
    work_dir: str | os.PathLike[str],
    *,
    manifest: str | os.PathLike[str] | None = None,
    docs: bool = True,
    input_format: str | None = None,
    recursive: bool = False,
    glob: str | None = None,
    encoding: str = "utf-8",
    errors: str = "surrogateescape",
    text_field: str = "text",
    id_field: str | None = None,
    doc_threshold: float = 0.8,
    passage_threshold: float = 0.8,
    ngram: int = 5,
    num_perm: int = 128,
    min_words: int = 20,
    keep: str = "first",
    jobs: int = 1,
    against: Index | None = None,
    against_name: str | None = None,
    targets: Callable[[Sequence[dio.Source]], Mapping[str, Path]] | None = None,
    before_write: Callable[[], None] | None = None,
    before_manifest: Callable[[CleanRun], None] | None = None,
    on_problem: Callable[[dio.InputError], None] = lambda problem: None,
    on_warning: Callable[[str], None] = lambda message: None,
    progress: Progress | None = None,
    consumed: Callable[[int], Any] | None = None,
) -> CleanRun:
    """Clean ``paths`` into ``out`` with the texts spooled to ``work_dir``; byte for byte what ``clean`` writes.

    Parameters
    ----------
    paths:
        Files and directories, read as :func:`dedup.formats.load` reads them
        (``input_format``, ``recursive``, ``glob``, ``encoding``, ``errors``,
        ``text_field``, ``id_field`` alike). Standard input cannot be read twice:
        it is refused.
    out:
        Directory of the cleaned copies (same names, formats and compression),
        ``removed.jsonl`` (with ``docs``) and the manifest.
    work_dir:
        Where the spools, the document index and the spilled passage seeds go;
        created if missing. Keep it to resume a killed run: the document
        batches it holds are not done again.
    manifest:
        The manifest's path (default ``out/manifest.jsonl``).
    docs:
        Also drop near-duplicate documents (``clean --docs``).
    doc_threshold, passage_threshold, ngram, num_perm, min_words, keep, jobs:
        As ``dedup clean`` (``jobs`` is used by the passage search).
    against:
        An index of old documents: a document duplicating one of them is dropped too (the
        manifest names it ``{"index": against_name, "id": old id}``).
    targets:
        Where each source's cleaned copy goes (called once the inputs are read;
        may raise to refuse); default ``out / source.rel``.
    before_write:
        Called once everything is decided, before the first output is written.
    before_manifest:
        Called after every other output is written and before the manifest is
        put in place (``dedup clean`` writes ``stats.json`` there).
    on_problem, on_warning:
        Told about each skipped input or record, and one-line notes (as :func:`dedup.formats.load`).
    progress:
        ``progress(phase, done, total)`` of the passage search.
    consumed:
        Called with bytes of input read (for a progress bar), on the first read and the writing.

    Raises
    ------
    CleanError
        An input broke after its first records were used, or part of a file is unreadable.
    dedup.formats.NothingRead
        When no document could be read.
    """
    start, cpu_start = time.perf_counter(), time.process_time()
    run = CleanRun()
    out = Path(out)
    manifest_path = Path(manifest) if manifest is not None else out / "manifest.jsonl"
    if any(p == dio.STDIN for p in paths):
        raise CleanError("standard input cannot be cleaned with --work-dir (it is read more than once); name a file")
    work = Path(work_dir)
    texts_dir = work / "dedup-spool"
    shutil.rmtree(texts_dir, ignore_errors=True)  # a killed run's spools: they are made again
    texts_dir.mkdir(parents=True)
    _remove_stale_temps(out)
    formats: dict[str, dio.Format] = {}
    codecs: dict[str, str] = {}
    meta = _Spool(texts_dir / "facts.jsonl")
    read = _read(
        paths, run, formats, codecs, meta, on_problem, on_warning,
        input_format=input_format, recursive=recursive, glob=glob, encoding=encoding, errors=errors,
        text_field=text_field, id_field=id_field, consumed=consumed,
    )  # fmt: skip
    try:
        with _Texts(read, texts_dir / "texts.spool") as texts:
            # 1. Duplicate documents, through the index (resumable); the texts are spooled on the way.
            dropped = _Dropped.none()  # doc -> (kept doc | None, old id, similarity)
            if docs:
                run_key: dict[str, Any] = {"paths": [os.path.abspath(p) for p in paths], "kind": input_format}
                run_key.update(recursive=recursive, glob=glob, text_field=text_field, id_field=id_field)
                run_key.update(encoding=encoding, errors=errors)
                found = find_duplicates_on_disk(
                    ((0, text) for text in texts),
                    work / "documents",
                    threshold=doc_threshold,
                    ngram=ngram,
                    num_perm=num_perm,
                    keep=keep,  # type: ignore[arg-type]
                    run_key=run_key,
                    against=against,
                )
                run.resumed_docs = found.resumed_docs
                name = against_name if against_name is not None else str(getattr(against, "path", ""))
                dropped = _Dropped(found, name)
                del found  # the clusters and similarities: what the run needs is in ``dropped``
            else:
                for _ in texts:
                    pass
            meta.flush()
            run.seconds["documents"] = time.perf_counter() - start
            run.cpu["documents"] = time.process_time() - cpu_start

            # 2. Repeated passages among the documents kept, their seeds spilled to the work directory.
            t, c = time.perf_counter(), time.process_time()
            kept = _Kept(texts, dropped.docs)
            spill = texts_dir / "passages"
            spill.mkdir()
            matches = find_repeated_passages(
                kept,
                threshold=passage_threshold,
                min_words=min_words,
                ngram=ngram,
                jobs=jobs,
                spill=spill,
                progress=progress,
            )
            plan = plan_removals(kept, matches, threshold=passage_threshold)
            del matches
            shutil.rmtree(spill, ignore_errors=True)
            by_doc: dict[int, list[Removal]] = {}
            for r in plan:
                by_doc.setdefault(kept.doc(r.span.doc), []).append(r)
            del plan
            cuts = {d: [r.span for r in rs] for d, rs in by_doc.items()}
            run.documents_dropped = len(dropped)
            run.passages_removed = sum(len(rs) for rs in by_doc.values())
            run.chars_removed = sum(r.span.end - r.span.start for rs in by_doc.values() for r in rs)
            run.seconds["passages"] = time.perf_counter() - t
            run.cpu["passages"] = time.process_time() - c

            # 3. The outputs, as streams; the manifest last.
            where = dict(targets(run.sources)) if targets is not None else {s.path: out / s.rel for s in run.sources}
            if before_write is not None:
                before_write()
            info = _Docs(meta, texts, run.sources)
            _write(run, info, formats, codecs, dropped, by_doc, cuts, kept, where, out, manifest_path, docs,
                   text_field=text_field, encoding=encoding, errors=errors, consumed=consumed,
                   before_manifest=before_manifest, start=start, cpu_start=cpu_start)  # fmt: skip
    finally:
        meta.close()
        shutil.rmtree(texts_dir, ignore_errors=True)
    return run


def _write(
    run: CleanRun,
    info: _Docs,
    formats: Mapping[str, dio.Format],
    codecs: Mapping[str, str],
    dropped: _Dropped,
    by_doc: Mapping[int, list[Removal]],
    cuts: Mapping[int, list[Span]],
    kept: _Kept,
    where: Mapping[str, Path],
    out: Path,
    manifest_path: Path,
    docs: bool,
    *,
    text_field: str,
    encoding: str,
    errors: str,
    consumed: Callable[[int], Any] | None,
    before_manifest: Callable[[CleanRun], None] | None,
    start: float,
    cpu_start: float,
) -> None:
    """Step 3 of :func:`clean_on_disk`: every cleaned copy, ``removed.jsonl``, then the manifest, as streams."""
    # Documents with manifest lines, in order.
    listed = np.union1d(dropped.docs, np.fromiter(by_doc, dtype=np.int64, count=len(by_doc))).tolist()
    t, c = time.perf_counter(), time.process_time()
    with outputs.open_atomic(manifest_path) as manifest_file:
        with outputs.open_atomic(out / "removed.jsonl") if docs else contextlib.nullcontext() as removed_file:
            k = 0
            for number, src in enumerate(run.sources):
                fmt = formats[src.path]
                # This file's documents that change, by record; their manifest lines, in document order.
                records: dict[Any, int] = {}
                while k < len(listed) and info.facts(listed[k])[0] == number:
                    d = listed[k]
                    if d in dropped or any(s.end > s.start for s in cuts[d]):
                        records[info.facts(d)[1]] = d
                    _manifest_lines(manifest_file, info, d, dropped, by_doc, kept, str(where[src.path]))
                    k += 1
                on_dropped = functools.partial(_removed_line, removed_file, info, records, dropped)
                try:
                    w = dio.write_like(
                        src,
                        fmt,
                        where[src.path],
                        _Changes(records, dropped, cuts, info.texts),
                        text_field=text_field,
                        encoding=codecs.get(src.path, encoding),
                        errors=errors,
                        consumed=consumed if fmt.kind == "jsonl" else None,
                        on_dropped=on_dropped,
                    )
                except dio.InputError as e:
                    raise CleanError(str(e)) from None
                except UnicodeEncodeError as e:
                    raise CleanError(f"{src.path}: cannot write as {encoding} ({e.reason})") from None
                except OSError as e:
                    raise CleanError(f"{where[src.path]}: cannot write: {e.strerror or e}") from None
                if fmt.kind != "jsonl" and consumed is not None:
                    consumed(dio.source_size(src))
                run.records_in += w.records_in
                run.records_out += w.records_out
                run.bytes_out += w.bytes_out
                run.written += 1 if w.records_out or fmt.kind != "text" else 0
        run.seconds["write"] = time.perf_counter() - t
        run.cpu["write"] = time.process_time() - c
        run.seconds["total"] = time.perf_counter() - start
        run.cpu["total"] = time.process_time() - cpu_start
        if before_manifest is not None:
            before_manifest(run)  # removed.jsonl is in place; the manifest goes last


def _line(rec: dict[str, Any], **dumps: Any) -> bytes:
    return (json.dumps(rec, ensure_ascii=False, **dumps) + "\n").encode("utf-8", "backslashreplace")


def _manifest_lines(
    f: BinaryIO,
    info: _Docs,
    d: int,
    dropped: Mapping[int, tuple[int | None, Any, float]],
    by_doc: Mapping[int, list[Removal]],
    kept: _Kept,
    output: str,
) -> None:
    """The manifest records of document ``d`` (as ``dedup clean`` writes them): its drop, or its passages."""
    if d in dropped:
        k, old, sim = dropped[d]
        original = info.whole(k) if k is not None else old
        f.write(_line(manifest_record({"kind": "document", **info.whole(d), "output": None, "original": original,
                                       "similarity": sim})))  # fmt: skip
    for r in by_doc.get(d, []):
        o = r.match.original
        rec = {
            "kind": "passage",
            **info.span(d, r.span.start, r.span.end),
            "output": output,
            "original": info.span(kept.doc(o.doc), o.start, o.end),
            "similarity": r.match.similarity,
        }
        f.write(_line(manifest_record(rec)))


def _removed_line(
    f: BinaryIO | None,
    info: _Docs,
    records: Mapping[Any, int],
    dropped: Mapping[int, tuple[int | None, Any, float]],
    record: Any,
    data: Any,
) -> None:
    """The ``removed.jsonl`` line of a dropped record (its data, what it duplicates)."""
    d = records[record]
    k, old, sim = dropped[d]
    rec = {**info.member(d), "duplicate_of": info.member(k) if k is not None else old, "similarity": sim}
    if record is not None:
        rec["data"] = data
    if f is not None:
        f.write(_line(rec, default=str))
