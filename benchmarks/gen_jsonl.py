"""A fast generator of large JSONL dumps (plain or ``.jsonl.gz``) with planted near-duplicates.

    python benchmarks/gen_jsonl.py OUT.jsonl.gz --size 5GB [--seed 0] [--dup-rate 0.1] [--level 1]

Much faster than ``dedup synth`` (which builds realistic text and a full
truth of passages): each document is a run of words drawn with Zipf
frequencies from a generated vocabulary of 60,000 lowercase words, built a
whole batch at a time with numpy (one gather from a byte table, no Python
loop per word). A fraction ``--dup-rate`` of the documents are near-copies
of a recent document (from a pool of the last 50,000): every word
substituted with probability 0-3%, so most copies have a word 5-gram
Jaccard above 0.8. The planted pairs ``(source, copy, rate)`` go to
``OUT.truth.tsv``.

Output is compressed by a ``gzip -LEVEL`` child process (another core) when
the name ends in ``.gz``. Lines are ``{"id": "d<n>", "text": "..."}``. The
stream depends on the seed only, so the dump of a smaller ``--size`` is a
prefix of a larger one. Speed on this machine: see ``docs/index.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

import numpy as np

from dedup.internal import parse_size

VOCAB = 60_000
POOL = 50_000
BATCH = 5_000
WIDTH = 11  # longest word and its space


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The words as rows of a byte table (each followed by a space, zero-padded), and their lengths."""
    lengths = rng.integers(2, 11, size=VOCAB)
    table = rng.integers(ord("a"), ord("z") + 1, size=(VOCAB, WIDTH), dtype=np.uint8)
    cols = np.arange(WIDTH)[None, :]
    table[cols == lengths[:, None]] = ord(" ")
    table[cols > lengths[:, None]] = 0
    return table, lengths + 1


def render(words: np.ndarray, table: np.ndarray, wlen: np.ndarray) -> np.ndarray:
    """The bytes of a word-id sequence (words separated by spaces, one trailing space)."""
    rows = table[words]
    return rows[rows != 0]


def iter_batches(seed: int = 0, dup_rate: float = 0.1, truth: TextIO | None = None) -> Iterator[list[bytes]]:
    """Endless batches of ``BATCH`` documents (UTF-8 bytes); planted pairs are written to ``truth``."""
    rng = np.random.default_rng(seed)
    table, wlen = vocabulary(rng)
    cdf = np.cumsum(1.0 / np.arange(1, VOCAB + 1) ** 1.05)
    cdf /= cdf[-1]
    pool: list[np.ndarray] = []
    n = 0
    while True:
        n_words = np.clip(rng.lognormal(5.8, 0.6, size=BATCH).astype(np.int64), 20, 5000)
        is_dup = rng.random(BATCH) < dup_rate
        docs: list[np.ndarray] = []
        fresh = np.searchsorted(cdf, rng.random(int(n_words.sum())))
        offsets = np.concatenate([[0], np.cumsum(n_words)])
        for k in range(BATCH):
            if is_dup[k] and pool:
                src = int(rng.integers(0, len(pool)))
                words = pool[src].copy()
                rate = float(rng.uniform(0.0, 0.03))
                hit = rng.random(len(words)) < rate
                words[hit] = np.searchsorted(cdf, rng.random(int(hit.sum())))
                if truth is not None:
                    truth.write(f"{n - len(pool) + src}\t{n + k}\t{rate:.4f}\n")
            else:
                words = fresh[offsets[k] : offsets[k + 1]]
            docs.append(words)
        pool.extend(docs)
        del pool[:-POOL]
        lens = np.array([len(d) for d in docs])
        all_words = np.concatenate(docs)
        raw = render(all_words, table, wlen).tobytes()
        ends = np.cumsum(wlen[all_words])[np.cumsum(lens) - 1]
        starts = np.concatenate([[0], ends[:-1]])
        yield [raw[s : e - 1] for s, e in zip(starts.tolist(), ends.tolist())]
        n += BATCH


def iter_texts(n_docs: int, seed: int = 0, dup_rate: float = 0.1) -> Iterator[str]:
    """The first ``n_docs`` documents of the stream, as str."""
    done = 0
    for batch in iter_batches(seed, dup_rate):
        for text in batch[: n_docs - done]:
            yield text.decode("ascii")
        done += len(batch)
        if done >= n_docs:
            return


def generate(out: IO[bytes], size: int, seed: int, dup_rate: float, truth: TextIO) -> tuple[int, int]:
    """Write documents to ``out`` until ``size`` bytes; returns (documents, bytes)."""
    n = written = 0
    for batch in iter_batches(seed, dup_rate, truth):
        chunk = b"".join(b'{"id":"d%d","text":"%s"}\n' % (n + k, text) for k, text in enumerate(batch))
        out.write(chunk)
        written += len(chunk)
        n += len(batch)
        if written >= size:
            break
    return n, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", default="500MB", help="uncompressed JSONL bytes (at least)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dup-rate", type=float, default=0.1)
    parser.add_argument("--level", type=int, default=1, help="gzip level for a .gz output")
    args = parser.parse_args()
    size = parse_size(args.size)
    t0, c0 = time.perf_counter(), time.process_time()
    tmp = args.out.with_name(args.out.name + ".part")
    with open(tmp, "wb") as raw, open(str(args.out) + ".truth.tsv", "w") as truth:
        if args.out.name.endswith(".gz"):
            gz = subprocess.Popen(["gzip", f"-{args.level}", "-c"], stdin=subprocess.PIPE, stdout=raw)
            assert gz.stdin is not None
            docs, written = generate(gz.stdin, size, args.seed, args.dup_rate, truth)
            gz.stdin.close()
            if gz.wait():
                sys.exit("gzip failed")
        else:
            docs, written = generate(raw, size, args.seed, args.dup_rate, truth)
    tmp.replace(args.out)
    print(
        f"{args.out}: {docs} documents, {written} bytes of JSONL, {args.out.stat().st_size} on disk; "
        f"wall {time.perf_counter() - t0:.1f} s, CPU {time.process_time() - c0:.1f} s (this process)"
    )


if __name__ == "__main__":
    main()
