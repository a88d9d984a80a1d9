"""Cost and accuracy of the index's two verification modes, on a generated dump.

    python benchmarks/index_verify.py [SIZE] [--shard DOCS] [--json OUT]

Builds ``dedup.Index`` shard by shard with ``verify="estimate"`` (stored
signatures) and ``verify="exact"`` (stored shingle sets), and scores the
documents flagged as duplicates of an earlier one against the generator's
ground truth (a document is a true duplicate when it has an earlier document
of Jaccard >= 0.8). Prints CPU seconds of all ``add`` calls, documents per
CPU second, bytes on disk per document, precision and recall.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import dedup
from dedup import synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", nargs="?", default="20MB")
    parser.add_argument("--shard", type=int, default=4096)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        synth.write_dump(corpus, size_bytes=args.size, seed=0)
        texts = list(synth.iter_texts(corpus))
        truth = synth.load_truth(corpus)
        true_dups = {int(j) for _, j in truth.duplicate_pairs(0.8)}
        results = []
        for verify in ("estimate", "exact"):
            path = Path(tmp) / f"{verify}.idx"
            cpu = time.process_time()
            flagged = set()
            with dedup.Index(path, verify=verify) as index:  # type: ignore[arg-type]
                for lo in range(0, len(texts), args.shard):
                    batch = texts[lo : lo + args.shard]
                    found = index.add(batch, ids=[str(k) for k in range(lo, lo + len(batch))])
                    flagged.update(lo + k for k, r in enumerate(found) if r is not None)
                cpu = time.process_time() - cpu
                stats = index.stats()
            hit = len(flagged & true_dups)
            row = {
                "verify": verify,
                "size": args.size,
                "documents": len(texts),
                "cpu_s": round(cpu, 2),
                "docs_per_cpu_s": round(len(texts) / cpu),
                "bytes_per_doc": stats["bytes_per_document"],
                "flagged": len(flagged),
                "true_duplicates": len(true_dups),
                "precision": round(hit / len(flagged), 4) if flagged else None,
                "recall": round(hit / len(true_dups), 4) if true_dups else None,
            }
            results.append(row)
            print(json.dumps(row), flush=True)
        text_bytes = sum(len(t.encode()) for t in texts) / len(texts)
        print(json.dumps({"mean_text_bytes_per_doc": round(text_bytes)}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
