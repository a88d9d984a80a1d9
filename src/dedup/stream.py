"""Near-duplicate documents of a dump larger than memory, resumable after a crash.

:func:`find_duplicates_on_disk` streams documents in batches through a
persistent :class:`dedup.Index` kept in a work directory. Memory holds one
batch of texts, the batch being verified, and 16 bytes per document (its
length and its cluster label); the band keys, signatures and shingle sets of
everything seen are on disk. What each batch found (its verified pairs, the
documents' lengths and caller's records) is written to the work directory
inside the index's transaction for that batch, so after a crash the work
directory and the index agree on which batches are done, and a second run
skips them and produces the same result as an uninterrupted one.

:func:`iter_documents` reads inputs one record at a time (JSONL line by line,
plain or gzip-compressed; Parquet by row batches; a text file as one
document), so the reader does not hold a whole file either (compressed
JSONL included: gzip, bz2, xz and zstd are decompressed as a stream).

>>> import tempfile
>>> texts = ["the cat sat on the mat and then it slept", "the cat sat on the mat and then it slept!", "dogs"]
>>> run = find_duplicates_on_disk(((str(k), t) for k, t in enumerate(texts)), tempfile.mkdtemp())
>>> run.clusters, run.kept, run.records([0, 1])
([[0, 1]], [0], ['0', '1'])
"""

from __future__ import annotations

import functools
import itertools
import json
import lzma
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .clusters import KeepPolicy, connected_components
from .formats import (
    STDIN,
    Document,
    InputError,
    decode,
    detect_format,
    find_sources,
    iter_lines,
    iter_parquet,
    parse_json_line,
    read_bytes,
    read_text,
    row_document,
    source_size,
)
from .index import Index
from .internal import one_line

__all__ = ["DiskRun", "RecordFile", "find_duplicates_on_disk", "iter_documents"]

#: A batch of the stream: at most this many characters of text, or ``BATCH_DOCS`` documents.
BATCH_CHARS = 16 << 20
BATCH_DOCS = 8192


# ---------------------------------------------------------------- reading one record at a time


def iter_documents(
    paths: Sequence[str],
    *,
    kind: str | None = None,
    recursive: bool = False,
    glob: str | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
    text_field: str = "text",
    id_field: str | None = None,
    consumed: Callable[[int], None] | None = None,
) -> Iterator[Document | InputError]:
    """The documents of ``paths``, one at a time, and an :class:`InputError` for each bad input or record.

    ``kind`` is ``None`` (each file's format from its name, as
    :func:`dedup.formats.detect_format`), ``"text"`` (each file is a
    document), ``"jsonl"`` (each line, read line by line and decompressed on
    the fly) or ``"parquet"`` (each row, by row groups). ``consumed`` is
    told the bytes of input read as they are (for a progress bar).
    """
    sources, problems = find_sources(paths, recursive=recursive, glob=glob)
    yield from problems
    for src in sources:
        try:
            fmt = detect_format(src.path, kind)
            if fmt.kind == "text":
                text, _ = read_text(src, encoding, errors, fmt.compression)
                yield Document(src.path, text, source=src)
                if consumed is not None:
                    consumed(source_size(src))
            elif fmt.kind == "parquet":
                data = read_bytes(src, fmt.compression) if fmt.compression or src.path == STDIN else None
                for item in iter_parquet(src.path, text_field, id_field, data=data):
                    if isinstance(item, Document):
                        item.source = src
                    yield item
                if consumed is not None:
                    consumed(source_size(src))
            else:
                for lineno, raw in enumerate(iter_lines(src.path, fmt.compression, consumed=consumed), 1):
                    if not raw.strip():
                        continue
                    try:
                        line = decode(raw, src.path, encoding, errors)
                    except InputError as e:
                        yield InputError(src.path, e.why, lineno)
                        continue
                    if lineno == 1 and line.startswith("\ufeff"):
                        line = line[1:]  # a UTF-8 byte order mark is not part of the first record
                    row = parse_json_line(line, src.path, lineno)
                    if isinstance(row, InputError):
                        yield row
                        continue
                    if not isinstance(row, dict):
                        yield InputError(src.path, "not a JSON object", lineno)
                        continue
                    item = row_document(row, src.path, lineno, text_field, id_field)
                    if isinstance(item, Document):
                        item.source = src
                    yield item
        except InputError as e:
            yield e
        except (OSError, EOFError, lzma.LZMAError) as e:
            yield InputError(src.path, f"cannot read: {one_line(e)}")
        except Exception as e:  # zstandard's errors have no common public base with the others
            if type(e).__module__.startswith("zstandard"):
                yield InputError(src.path, f"cannot read: {one_line(e)}")
            else:
                raise


# ---------------------------------------------------------------- the work directory


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class DiskRun:
    """The result of :func:`find_duplicates_on_disk`, held in numpy arrays (about 32 bytes per cluster member).

    Cluster ``c`` is ``members[offsets[c]:offsets[c + 1]]`` (document numbers in
    stream order, sorted; clusters ordered by their first member, as
    :func:`dedup.find_duplicates` gives them), its kept member is
    ``kept_docs[c]`` and each member's similarity to it is
    ``member_similarity`` (1.0 for the kept one). :attr:`clusters`,
    :attr:`kept` and :attr:`similarity` give the same as Python lists and a
    dict; :meth:`record_file` reads back the caller's records of chosen
    documents into a file, so that a report can be written cluster by
    cluster without holding them.
    """

    work_dir: Path
    n_docs: int
    members: np.ndarray
    offsets: np.ndarray
    kept_docs: np.ndarray
    member_similarity: np.ndarray
    resumed_docs: int
    #: With ``against``: ``(doc, old id, similarity)`` of each document that duplicates one of that index.
    old: list[tuple[int, str, float]] = field(default_factory=list)

    @property
    def clusters(self) -> list[list[int]]:
        """The clusters as lists of document numbers (as :func:`dedup.find_duplicates`)."""
        m = self.members.tolist()
        return [m[a:b] for a, b in itertools.pairwise(self.offsets.tolist())]

    @property
    def kept(self) -> list[int]:
        """The kept member of each cluster (as :func:`dedup.choose_kept`)."""
        return [int(k) for k in self.kept_docs.tolist()]

    @property
    def similarity(self) -> dict[int, float]:
        """Each cluster member's similarity to its cluster's kept member (1.0 for the kept one)."""
        return dict(zip(self.members.tolist(), self.member_similarity.tolist()))

    def records(self, docs: Iterable[int]) -> list[Any]:
        """The records given with documents ``docs`` (in that order), read back from the work directory."""
        wanted = np.asarray(list(docs), dtype=np.int64)
        with self.record_file(wanted) as found:
            return [found[int(d)] for d in wanted.tolist()]

    def iter_clusters(self) -> Iterator[tuple[list[int], int, list[float]]]:
        """``(members, kept member, members' similarities)`` of each cluster, in order."""
        for c, (a, b) in enumerate(itertools.pairwise(self.offsets.tolist())):
            yield self.members[a:b].tolist(), int(self.kept_docs[c]), self.member_similarity[a:b].tolist()

    def report_records(self) -> RecordFile:
        """The records of every document a report names (cluster members, and :attr:`old`'s documents)."""
        old = np.fromiter((d for d, _, _ in self.old), dtype=np.int64, count=len(self.old))
        return self.record_file(np.concatenate([self.members, old]))

    def record_file(self, docs: np.ndarray) -> RecordFile:
        """The records of documents ``docs``, read back from the work directory into a file (see :class:`RecordFile`).

        One pass over the batches' files, each read once; memory holds one
        batch and 16 bytes per document asked for.
        """
        wanted = np.unique(np.asarray(docs, dtype=np.int64))
        return RecordFile(wanted, _batch_values(self.work_dir, wanted, "records"), self.work_dir)


class RecordFile:
    """Records of chosen documents, one JSON line each in a temporary file, read back by document number.

    Parameters
    ----------
    docs : numpy.ndarray
        The documents, sorted and distinct.
    records : Iterable
        Their records, in the same order.
    work_dir : pathlib.Path
        Where the temporary file goes (it is removed when closed).
    """

    def __init__(self, docs: np.ndarray, records: Iterable[Any], work_dir: Path) -> None:
        self._docs = docs
        self._file = tempfile.TemporaryFile(dir=work_dir)  # noqa: SIM115  (closed by close())
        ends = np.zeros(len(docs) + 1, dtype=np.int64)
        at = 0
        with open(self._file.fileno(), "wb", buffering=1 << 20, closefd=False) as out:
            for k, rec in enumerate(records):
                line = json.dumps(rec, ensure_ascii=False).encode("utf-8", "surrogatepass")
                out.write(line)
                at += len(line)
                ends[k + 1] = at
        self._ends = ends

    def __getitem__(self, doc: int) -> Any:
        k = int(np.searchsorted(self._docs, doc))
        if k >= len(self._docs) or self._docs[k] != doc:
            raise KeyError(doc)
        start = int(self._ends[k])
        data = os.pread(self._file.fileno(), int(self._ends[k + 1]) - start, start)
        return json.loads(data.decode("utf-8", "surrogatepass"))

    def close(self) -> None:
        """Remove the file."""
        self._file.close()

    def __enter__(self) -> RecordFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _batch_values(work: Path, docs: np.ndarray, key: str) -> Iterator[Any]:
    """``batch[key][d - first]`` of every document ``d`` of ``docs`` (sorted), reading the batches' files in order."""
    if not len(docs):
        return
    for path in sorted((work / "batches").glob("*.json")):
        batch = json.loads(path.read_text(encoding="utf-8"))
        first = batch["first"]
        values = batch[key]
        lo, hi = np.searchsorted(docs, [first, first + len(values)]).tolist()
        for d in docs[lo:hi].tolist():
            yield values[d - first]
        del batch, values


def _clusters(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(members, offsets)`` of the clusters of ``edges``, as :func:`dedup.clusters_from_pairs` orders them.

    The components are found among the documents the edges name only, so
    nothing here grows with ``n`` (the documents of the stream).
    """
    nodes, inverse = np.unique(edges, return_inverse=True)
    labels = connected_components(len(nodes), inverse.reshape(-1, 2))
    # Labels are each component's smallest node, and nodes ascend: a stable sort by label gives the
    # clusters by first member, members ascending, as clusters_from_pairs.
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    offsets = np.concatenate([[0], cuts, [len(nodes)]]).astype(np.int64) if len(nodes) else np.zeros(1, np.int64)
    return nodes[order].astype(np.int64), offsets


def find_duplicates_on_disk(
    records: Iterable[tuple[Any, str]],
    work_dir: str | os.PathLike[str],
    *,
    threshold: float = 0.8,
    ngram: int = 5,
    num_perm: int = 128,
    keep: KeepPolicy = "first",
    run_key: Any = None,
    batch_chars: int = BATCH_CHARS,
    batch_docs: int = BATCH_DOCS,
    progress: Callable[[int], None] | None = None,
    against: Index | None = None,
) -> DiskRun:
    """Clusters of near-duplicate documents of a stream, through an index in ``work_dir``.

    Parameters
    ----------
    records:
        ``(record, text)`` pairs; ``record`` is anything JSON can hold (what
        the caller needs to report a document) and is kept on disk only.
    work_dir:
        Directory for the index and the per-batch results; created if
        missing. A run killed at any point and started again with the same
        ``records`` and parameters resumes after the last finished batch.
    threshold, ngram, num_perm:
        As :func:`dedup.find_duplicates`; candidates are verified on exact
        Jaccard (the index keeps each document's shingle set), so the
        clusters are those of ``find_duplicates(texts, verify="exact")``.
    keep:
        ``"first"`` or ``"longest"``, as :func:`dedup.choose_kept`.
    run_key:
        JSON-able description of the input (paths, options): a work
        directory made for another key is refused rather than mixed.
    progress:
        Called with the number of documents done after each batch.
    against:
        An index of *old* documents (opened read-only): each batch is also
        looked up in it (:meth:`dedup.Index.query`), and
        :attr:`DiskRun.old` names the old document each new one duplicates.
        Its path is part of the run's key.
    """
    work = Path(work_dir)
    (work / "batches").mkdir(parents=True, exist_ok=True)
    key_path = work / "run.json"
    key = json.dumps(
        {
            "run_key": run_key,
            "threshold": threshold,
            "ngram": ngram,
            "num_perm": num_perm,
            "keep": keep,
            **({"against": str(Path(against.path).resolve())} if against is not None else {}),
        },
        sort_keys=True,
    )
    if key_path.exists():
        if key_path.read_text(encoding="utf-8") != key:
            raise ValueError(f"{work}: this work directory belongs to another run (other inputs or options)")
    else:
        _write_atomic(key_path, key.encode("utf-8"))
    # One connection for the whole run: the work directory's index has no other reader.
    with Index(
        work / "index.duckdb", threshold=threshold, ngram=ngram, num_perm=num_perm, verify="exact", keep_open=True
    ) as index:
        done_batches = index.stats()["batches"]
        done_docs = len(index)
        # Results of a batch whose transaction did not commit are not results.
        for path in (work / "batches").glob("*.json*"):
            if not path.name.endswith(".json") or int(path.name.split(".")[0]) >= done_batches:
                path.unlink()
        # Memory holds what is found (24 bytes a verified pair), nothing per document of the stream:
        # the documents' lengths and records stay in the batches' files until the end asks for members'.
        pairs: list[np.ndarray] = []
        old: list[tuple[int, str, float]] = []
        for b in range(done_batches):
            batch = json.loads((work / "batches" / f"{b:08d}.json").read_text(encoding="utf-8"))
            pairs.append(np.asarray(batch["pairs"], dtype=np.float64).reshape(-1, 3))
            old += [(int(d), str(i), float(s)) for d, i, s in batch.get("old", [])]
            del batch
        n = done_docs
        number = done_batches
        for batch_records, texts in _stream_batches(records, done_docs, batch_chars, batch_docs):
            first = n
            ids = [str(d) for d in range(first, first + len(texts))]
            batch_lengths = [len(t) for t in texts]

            batch_old = []
            if against is not None:
                hits = against.query(texts)
                batch_old = [(first + k, hit.id, round(hit.similarity, 4)) for k, hit in enumerate(hits) if hit]
            path = work / "batches" / f"{number:08d}.json"
            record = functools.partial(_record_batch, path, first, batch_lengths, batch_records, batch_old)
            found = index.add(texts, ids, all_matches=True, before_commit=record)
            found_pairs = [[int(m.id), first + k, m.similarity] for k, row in enumerate(found) for m in row]
            pairs.append(np.array(found_pairs, dtype=np.float64).reshape(-1, 3))
            old += batch_old
            n += len(texts)
            number += 1
            del texts, batch_records, found
            if progress is not None:
                progress(n)
        all_pairs = np.concatenate(pairs) if pairs else np.zeros((0, 3))
        del pairs
        edges = all_pairs[:, :2].astype(np.int64)
        members, offsets = _clusters(n, edges)
        sizes = np.diff(offsets)
        firsts = offsets[:-1]
        if keep == "first":
            kept = members[firsts]
        elif keep == "longest":
            ascending = np.sort(members)
            lengths = np.fromiter(_batch_values(work, ascending, "lengths"), dtype=np.int64, count=len(members))
            lengths = lengths[np.searchsorted(ascending, members)]
            cluster = np.repeat(np.arange(len(sizes)), sizes)
            # Per cluster: the longest member, the earliest on ties (members are sorted: doc order).
            kept = members[np.lexsort((members, -lengths, cluster))[firsts]]
        else:
            raise ValueError(f"keep must be 'first' or 'longest', got {keep!r}")
        # Each member's similarity to the kept one, as dedup.which_to_keep gives it: the verified
        # pair's when there is one, else measured on the stored shingle sets (members joined by a chain).
        # Looked up in numpy (a sorted array of pair codes): a dict of every pair would cost ~200 B a pair.
        keeper = np.repeat(kept, sizes)
        codes = edges[:, 0] * n + edges[:, 1]
        by_code = np.argsort(codes, kind="stable")
        codes = codes[by_code]
        wanted = np.minimum(members, keeper) * n + np.maximum(members, keeper)
        at = np.minimum(np.searchsorted(codes, wanted), max(len(codes) - 1, 0))
        hit = (codes[at] == wanted) if len(codes) else np.zeros(len(wanted), dtype=bool)
        sims = np.where(members == keeper, 1.0, all_pairs[by_code[at], 2] if len(codes) else 0.0)
        missing = np.flatnonzero(~hit & (members != keeper))
        asked = [(str(members[m]), str(keeper[m])) for m in missing.tolist()]
        sims[missing] = index.similarity(asked)
        del all_pairs, edges, codes, by_code, wanted, at, hit, keeper
    # Rounded as round() rounds (numpy's round differs on ties of the binary value).
    rounded = np.fromiter((round(s, 4) for s in sims.tolist()), dtype=np.float64, count=len(sims))
    return DiskRun(work, n, members, offsets, kept.astype(np.int64), rounded, done_docs, old)


def _record_batch(
    path: Path, first: int, lengths: list[int], records: list[Any], old: list[Any], found: list[Any]
) -> None:
    """What a batch found, written before its transaction commits (see :meth:`dedup.Index.add`)."""
    edges = [[int(m.id), first + k, m.similarity] for k, row in enumerate(found) for m in row]
    body = {"first": first, "lengths": lengths, "pairs": edges, "records": records, "old": old}
    _write_atomic(path, json.dumps(body).encode("utf-8"))


def _stream_batches(
    records: Iterable[tuple[Any, str]], skip: int, batch_chars: int, batch_docs: int
) -> Iterator[tuple[list[Any], list[str]]]:
    """Batches of ``(records, texts)``, after skipping the first ``skip`` documents (done before a crash).

    Batches are cut by the same rule from the start of the stream, so a
    resumed run cuts the rest exactly as an uninterrupted one.
    """
    recs: list[Any] = []
    texts: list[str] = []
    chars = 0
    for k, (rec, text) in enumerate(records):
        if not isinstance(text, str):
            raise TypeError(f"texts must be str, got {type(text).__name__} at document {k}")
        if k < skip:
            continue
        recs.append(rec)
        texts.append(text)
        chars += len(text)
        if chars >= batch_chars or len(texts) >= batch_docs:
            yield recs, texts
            recs, texts, chars = [], [], 0
    if texts:
        yield recs, texts
