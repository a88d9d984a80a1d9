"""PNG figures for ``docs/benchmarks.md`` (matplotlib, Agg backend).

    python benchmarks/plots.py [--bench benchmarks/results/bench.json] [--out docs]

* ``bench_throughput.png``: MB/s per tool on the documents benchmark (wall
  and CPU time), and dedup's passages;
* ``bench_scaling.png``: seconds per MB against corpus size;
* ``bench_scurve.png``: probability of becoming a candidate pair against
  Jaccard similarity for the banding used in the benchmarks, dedup's default
  for threshold 0.8, and datasketch's default for threshold 0.8.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dedup import collision_probability, optimal_bands
from dedup.documents import RECALL_MARGIN

HERE = Path(__file__).resolve().parent


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text())["benchmarks"]


def throughput(benches: list[dict], out: Path) -> None:
    docs = [b for b in benches if b["group"].startswith("documents")]
    passages = [b for b in benches if b["group"].startswith("passages")]
    names = [b["extra_info"]["tool"] for b in docs] + ["dedup passages"] * bool(passages)
    rows = [b["extra_info"] for b in docs + passages]
    wall = [r["mb_per_s"] for r in rows]
    cpu = [r["mb_per_cpu_s"] for r in rows]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(names) + 1.5))
    ax.barh(y - 0.2, cpu, 0.4, label="MB per CPU second", color="#1f77b4")
    ax.barh(y + 0.2, wall, 0.4, label="MB per wall second", color="#aec7e8")
    for yi, c in zip(y, cpu):
        ax.text(c, yi - 0.2, f" {c:.1f}", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("MB/s, one core (higher is better)")
    mb = rows[0]["mb"] if rows else 0
    ax.set_title(f"Throughput on a {mb:.1f} MB generated corpus (word 5-grams, 128 perms)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "bench_throughput.png", dpi=110)
    plt.close(fig)


def scaling(benches: list[dict], out: Path) -> None:
    rows = sorted((b["extra_info"] for b in benches if b["group"] == "scaling"), key=lambda r: r["mb"])
    if not rows:
        return
    mb = [r["mb"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.plot(mb, [r["s_per_mb"] for r in rows], "o-", label="wall s/MB")
    ax.plot(mb, [r["cpu_s_per_mb"] for r in rows], "s--", label="CPU s/MB")
    ax.set_xscale("log")
    ax.set_ylim(0, max(r["s_per_mb"] for r in rows) * 1.3)
    ax.set_xlabel("corpus size (MB of text)")
    ax.set_ylabel("seconds per MB (lower is better)")
    ax.set_title("find_duplicates, one core: time per MB vs corpus size")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bench_scaling.png", dpi=110)
    plt.close(fig)


def scurve(out: Path, threshold: float = 0.8, num_perm: int = 128) -> None:
    import peers

    s = np.linspace(0, 1, 501)
    curves = {
        f"benchmarks, all tools: b={peers.BANDS}, r={peers.ROWS}": (peers.BANDS, peers.ROWS),
        "dedup default for 0.8: b={}, r={} (tuned for 0.8 - {})".format(
            *optimal_bands(threshold - RECALL_MARGIN, num_perm), RECALL_MARGIN
        ): optimal_bands(threshold - RECALL_MARGIN, num_perm),
        "datasketch default for 0.8: b={}, r={}".format(*optimal_bands(threshold, num_perm)): optimal_bands(
            threshold, num_perm
        ),
    }
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (label, (b, r)), style in zip(curves.items(), ("-", "--", ":")):
        ax.plot(s, collision_probability(s, b, r), style, label=label, lw=2)
    ax.axvline(threshold, color="grey", lw=1)
    ax.text(threshold, 0.03, f" threshold {threshold}", color="grey")
    ax.set_xlabel("Jaccard similarity of the two shingle sets")
    ax.set_ylabel("P(candidate pair)")
    ax.set_title(f"LSH S-curves, {num_perm} permutations")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(out / "bench_scurve.png", dpi=110)
    plt.close(fig)


def main() -> None:
    import sys

    sys.path.insert(0, str(HERE))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(HERE / "results" / "bench.json"))
    ap.add_argument("--out", default=str(HERE.parent / "docs"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    benches = load(Path(a.bench))
    throughput(benches, out)
    scaling(benches, out)
    scurve(out)
    print(f"wrote PNGs to {out}")


if __name__ == "__main__":
    main()
