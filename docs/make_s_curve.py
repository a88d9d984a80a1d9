"""Draw docs/s_curve.png: P(candidate pair) against Jaccard similarity for a few LSH settings.

Run from the repository root: ``python docs/make_s_curve.py`` (needs matplotlib,
part of the ``dev`` extra). The curves are ``1 - (1 - s**rows) ** bands``.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np

from dedup import collision_probability, optimal_bands
from dedup.lsh import default_bands

NUM_PERM = 128
THRESHOLD = 0.8
OUT = Path(__file__).resolve().parent / "s_curve.png"


def main(out: Path = OUT) -> None:
    s = np.linspace(0.0, 1.0, 501)
    curves = [
        ("dedup find_duplicates(threshold=0.8)", default_bands(THRESHOLD, NUM_PERM), "C0", "-"),
        ("datasketch MinHashLSH(threshold=0.8)", optimal_bands(THRESHOLD, NUM_PERM), "C1", "--"),
        ("datasketch MinHashLSH() (threshold=0.9)", optimal_bands(0.9, NUM_PERM), "C2", ":"),
    ]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, (bands, rows), color, style in curves:
        ax.plot(
            s, collision_probability(s, bands, rows), style, color=color, lw=2, label=f"{label}: b={bands}, r={rows}"
        )
    ax.axvline(THRESHOLD, color="grey", lw=1)
    ax.text(THRESHOLD - 0.01, 0.5, "threshold 0.8", color="grey", ha="right")
    ax.set_xlabel("Jaccard similarity s of the shingle sets")
    ax.set_ylabel("P(candidate pair) = 1 - (1 - s^r)^b")
    ax.set_title(f"LSH S-curves, num_perm={NUM_PERM}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
