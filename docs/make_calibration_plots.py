"""The calibration figures of docs/choosing-a-threshold.md.

Run from the repository root, in the environment of the second quick-start command:

    python docs/make_calibration_plots.py

It writes docs/calibrate-synth.{png,svg} (a 20 MB generated corpus, threshold 0.8,
the default banding and a narrower one) and docs/calibrate-clough.{png,svg} (the
Clough & Stevenson corpus from ../shared/evalsets, threshold 0.5), and prints the
text reports quoted in the page.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from dedup import synth
from dedup.calibrate import calibrate, format_calibration, plot_s_curve

CLOUGH = Path(__file__).resolve().parents[1].parent / "shared" / "evalsets" / "clough-stevenson-2011" / "docs.jsonl"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        synth.write_dump(tmp, size_bytes="20MB", seed=0)
        texts = list(synth.iter_texts(tmp))
    for name, bands, rows in (("synth", None, None), ("synth-9x13", 9, 13)):
        c = calibrate(texts, 0.8, bands=bands, rows=rows, target_recall=0.95)
        print(f"== {name}\n{format_calibration(c)}")
        for ext in ("png", "svg"):
            plot_s_curve(c, f"docs/calibrate-{name}.{ext}")
    if CLOUGH.exists():
        docs = [json.loads(line)["text"] for line in CLOUGH.open(encoding="utf-8")]
        c = calibrate(docs, 0.5, target_recall=0.95)
        print(f"== clough-stevenson\n{format_calibration(c)}")
        for ext in ("png", "svg"):
            plot_s_curve(c, f"docs/calibrate-clough.{ext}")


if __name__ == "__main__":
    main()
