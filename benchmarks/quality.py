"""Detection quality: precision/recall against known truth, for dedup and its peers.

    python benchmarks/quality.py [--size 20MB] [--out benchmarks/results/quality.json]

1. On a generated corpus (:mod:`dedup.synth`, seed 0, cached like the
   benchmarks' corpora): pair precision/recall at Jaccard 0.8 of dedup,
   datasketch (sha1, xxhash) and rensa with the same shingles and banding
   (``peers.py``), and dedup with its own banding; character precision/recall
   of ``find_repeated_passages`` (the later copies), overall and per kind.
2. On Clough & Stevenson (2011), read in place from ``<repo>/../shared/evalsets``
   (skipped when absent), scored by the set's own tool ``tools/nd_eval.py``
   (``--drop-flagged --same-task-only``): document pairs from
   ``find_duplicate_pairs`` at several thresholds, and containment pairs
   derived from ``find_repeated_passages`` (share of the shorter document
   covered by passages shared with the other).

Prints the tables and writes them as JSON; ``report.py`` puts them in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import dedup
import peers
from conftest import Corpus, main_size
from dedup import synth

EVALSETS = Path(__file__).resolve().parents[2] / "shared" / "evalsets"
CS_DIR = EVALSETS / "clough-stevenson-2011"
ND_EVAL = EVALSETS / "tools" / "nd_eval.py"


def generated(size: str) -> dict:
    corpus = Corpus(size)
    truth = corpus.truth
    rows = []
    tools = {
        **peers.PIPELINES,
        "dedup (own bands)": lambda t: peers.run_dedup(t, bands=None, rows=None),
        # What a user streaming a dump gets: texts cannot be read twice, so candidates
        # are verified on the signatures (kept down to 2 standard errors below 0.8).
        "dedup (own bands, one-shot iterator)": lambda t: dedup.find_duplicate_pairs(iter(t), 0.8),
    }
    hard = {tuple(p) for p, j in zip(truth.pairs.tolist(), truth.jaccard) if 0.8 <= j < 0.85}
    for name, run in tools.items():
        t0 = time.perf_counter()
        pairs = run(corpus.texts)
        wall = time.perf_counter() - t0
        s = synth.score_pairs(truth, pairs, threshold=0.8)
        found = {(a, b) for a, b, *_ in pairs}
        rows.append(
            {
                "tool": name,
                "precision": round(s["precision"], 4),
                "recall": round(s["recall"], 4),
                "f1": round(s["f1"], 4),
                "tp": s["tp"],
                "fp": s["fp"],
                "fn": s["fn"],
                "recall_0.80_0.85": round(len(hard & found) / len(hard), 4) if hard else None,
                "wall_s": round(wall, 2),
            }
        )
        print(f"{name:28s} P={s['precision']:.4f} R={s['recall']:.4f} fp={s['fp']} fn={s['fn']}", flush=True)
    t0 = time.perf_counter()
    matches = dedup.find_repeated_passages(corpus.texts)
    wall = time.perf_counter() - t0
    overall = synth.score_spans(truth, matches)
    by_kind = {}
    for kind in ("exact", "near", "cross", "inner"):
        sub = synth.Truth(
            truth.pairs, truth.jaccard, truth.pair_kind, [p for p in truth.passages if p["kind"] == kind], {}
        )
        by_kind[kind] = {
            "passages": len(sub.passages),
            "recall": round(synth.score_spans(sub, matches)["recall"], 4),
        }
    edited = defaultdict(list)
    for p in truth.passages:
        if p["kind"] in ("cross", "inner"):
            edited[p["edit_rate"]].append(p)
    by_rate = {
        str(rate): round(synth.score_spans(synth.Truth(truth.pairs, truth.jaccard, [], ps, {}), matches)["recall"], 4)
        for rate, ps in sorted(edited.items())
    }
    passages = {
        "precision": round(overall["precision"], 4),
        "recall": round(overall["recall"], 4),
        "f1": round(overall["f1"], 4),
        "truth_chars": overall["truth_chars"],
        "predicted_chars": overall["predicted_chars"],
        "matches": len(matches),
        "by_kind": by_kind,
        "pasted_recall_by_edit_rate": by_rate,
        "wall_s": round(wall, 2),
    }
    print(f"passages P={overall['precision']:.4f} R={overall['recall']:.4f} {by_kind}", flush=True)
    return {
        "corpus": {
            "size": size,
            "docs": corpus.docs,
            "mb": round(corpus.mb, 2),
            "truth_pairs_at_0.8": len(truth.duplicate_pairs(0.8)),
        },
        "documents": rows,
        "passages": passages,
    }


def _nd_eval(pairs: list, args: list[str]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"pairs": pairs}, f)
    try:
        out = subprocess.run(
            [sys.executable, str(ND_EVAL), "score", str(CS_DIR), f.name, *args],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(f.name)
    return json.loads(out.stdout)


def _summarise(res: dict) -> dict:
    out = {k: res[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn")}
    if "curve" in res:
        out["average_precision"] = res["curve"]["average_precision"]
        out["best_f1"] = res["curve"]["best_f1"]
        out["best_f1_threshold"] = res["curve"]["best_f1_threshold"]
    return out


def clough_stevenson() -> dict | None:
    if not (CS_DIR.is_dir() and ND_EVAL.is_file()):
        print(f"skipping Clough-Stevenson: {CS_DIR} not found", flush=True)
        return None
    records = [json.loads(line) for line in (CS_DIR / "docs.jsonl").read_text(encoding="utf-8").splitlines()]
    # Sources first: a passage is reported against its earliest occurrence, and here the
    # Wikipedia source is the original that the answers copied (the ids sort it last).
    records.sort(key=lambda r: not r["id"].startswith("orig_"))
    ids = [r["id"] for r in records]
    texts = [r["text"] for r in records]
    args = ["--drop-flagged", "--same-task-only"]
    rows = []
    for threshold in (0.8, 0.5, 0.3, 0.1):
        pairs = dedup.find_duplicate_pairs(texts, threshold)
        pred = [[ids[i], ids[j], s] for i, j, s in pairs]
        rows.append({"method": f"find_duplicate_pairs(threshold={threshold})", **_summarise(_nd_eval(pred, args))})
    for min_words, threshold in ((20, 0.8), (10, 0.8), (10, 0.5)):
        matches = dedup.find_repeated_passages(texts, min_words=min_words, threshold=threshold)
        covered: dict[tuple[int, int], dict[int, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        for m in matches:
            a, b = m.original.doc, m.repeat.doc
            if a == b:
                continue
            key = (min(a, b), max(a, b))
            covered[key][a].append((m.original.start, m.original.end))
            covered[key][b].append((m.repeat.start, m.repeat.end))
        pred = []
        for (a, b), spans in covered.items():
            # Containment: the share of the shorter document inside passages shared with the other.
            short = a if len(texts[a]) <= len(texts[b]) else b
            merged = synth._merged((short, s, e) for s, e in spans.get(short, []))
            score = synth._length(merged) / max(len(texts[short]), 1)
            pred.append([ids[a], ids[b], round(score, 4)])
        rows.append(
            {
                "method": f"find_repeated_passages(min_words={min_words}, threshold={threshold}) containment",
                **_summarise(_nd_eval(pred, args)),
            }
        )
    for r in rows:
        print(
            f"{r['method']:55s} P={r['precision']:.3f} R={r['recall']:.3f} AP={r.get('average_precision')}", flush=True
        )
    return {"set": "clough-stevenson-2011", "nd_eval_args": args, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default=main_size(), help="generated corpus size (default: DEDUP_BENCH_MAIN or 20MB)")
    ap.add_argument("--out", default=str(HERE / "results" / "quality.json"))
    ap.add_argument(
        "--parts", default="generated,cs", help="what to run: generated, cs or both (others are kept from --out)"
    )
    a = ap.parse_args()
    out = Path(a.out)
    result = json.loads(out.read_text()) if out.exists() else {}
    result["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    result["versions"] = _versions()
    parts = a.parts.split(",")
    if "generated" in parts:
        result["generated"] = generated(a.size)
    if "cs" in parts:
        result["clough_stevenson"] = clough_stevenson()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")


def _versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("dedup", "datasketch", "rensa", "gaoya", "numpy")}


if __name__ == "__main__":
    main()
