"""A large generated JSONL dump with planted repeated passages, written fast (numpy).

    python benchmarks/big_dump.py OUT.jsonl SIZE [SEED]

``SIZE`` is e.g. ``5GB`` (text bytes, about). Each record is ``{"id": N, "text": ...}``:
paragraphs of Zipf-distributed words from a random vocabulary; about a third of the
documents hold a passage (30–300 words) copied from a shared pool with about 2% of its
words edited, and a fifth end with one of a few boilerplate lines. Much faster than
:mod:`dedup.synth` (no truth file), for the passage finder's spill figures at 5 GB.
"""

from __future__ import annotations

import sys

import numpy as np

from dedup.internal import parse_size


def main(out: str, size: str, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    lengths = rng.integers(2, 11, size=60_000)
    vocab = np.array([letters[rng.integers(0, 26, size=n)].tobytes().decode() for n in lengths.tolist()], dtype=object)
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    cdf = np.cumsum(weights / weights.sum())

    def draw(n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, rng.random(n)), len(vocab) - 1)

    pool = [draw(int(n)) for n in rng.integers(30, 300, size=50_000)]
    boiler = [" ".join(vocab[draw(12)]) + "." for _ in range(40)]
    target = parse_size(size)
    written = 0
    doc = 0
    with open(out, "w", encoding="utf-8") as f:
        while written < target:
            n_docs = 2000
            sizes = np.clip(rng.lognormal(6.3, 0.8, size=n_docs), 40, 20_000).astype(np.int64)
            words = vocab[draw(int(sizes.sum()))]
            ends = np.cumsum(sizes)
            lines = []
            for k in range(n_docs):
                w = list(words[ends[k] - sizes[k] : ends[k]])
                for p in range(60, len(w), 60 + (k % 50)):  # paragraphs
                    w[p] = w[p] + ".\n"
                if rng.random() < 0.33:
                    copied = vocab[pool[int(rng.integers(0, len(pool)))]].copy()
                    edits = rng.random(len(copied)) < 0.02
                    copied[edits] = vocab[rng.integers(0, len(vocab), size=int(edits.sum()))]
                    at = int(rng.integers(0, len(w) + 1))
                    w[at:at] = ["\n", *copied.tolist(), ".\n"]
                if rng.random() < 0.2:
                    w.append("\n" + boiler[int(rng.integers(0, len(boiler)))])
                text = " ".join(w)
                written += len(text)
                escaped = text.replace("\n", "\\n")
                lines.append(f'{{"id": {doc}, "text": "{escaped}"}}\n')
                doc += 1
            f.write("".join(lines))
            print(f"{written / 1e9:.2f} GB", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
