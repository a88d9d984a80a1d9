"""Replace some suites of a pytest-benchmark JSON with those of newer runs.

    python benchmarks/merge_results.py BASE.json NEW.json [NEW.json ...] -o OUT.json

Every benchmark group found in a NEW file replaces the group of the same
name in BASE (the other groups are kept), and the run's machine, commit and
date become those of the first NEW file: re-run the suites a change affects,
then fill the tables of ``docs/benchmarks.md`` with ``report.py --bench OUT.json``.
``merged_groups`` in the output lists which groups come from which run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base")
    ap.add_argument("new", nargs="+")
    ap.add_argument("-o", "--out", required=True)
    args = ap.parse_args()
    base = json.loads(Path(args.base).read_text())
    news = [json.loads(Path(p).read_text()) for p in args.new]
    replaced = {b["group"] for new in news for b in new["benchmarks"]}
    merged = dict(base)
    merged["benchmarks"] = [b for b in base["benchmarks"] if b["group"] not in replaced]
    for new in news:
        merged["benchmarks"] += new["benchmarks"]
    for key in ("machine_info", "commit_info", "datetime", "version"):
        merged[key] = news[0][key]
    previous = base.get("merged_groups", {})
    kept = {g: previous.get(g, base.get("datetime")) for g in {b["group"] for b in base["benchmarks"]} - replaced}
    for new in news:
        run = f"{new['datetime']} {new['commit_info'].get('id', '?')[:10]}"
        kept |= {b["group"]: run for b in new["benchmarks"]}
    merged["merged_groups"] = kept
    Path(args.out).write_text(json.dumps(merged, indent=1) + "\n")


if __name__ == "__main__":
    main()
