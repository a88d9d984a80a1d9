"""Fill the tables of ``docs/benchmarks.md`` from one benchmark run and one quality run.

    python benchmarks/report.py [--bench benchmarks/results/bench.json]
                                [--quality benchmarks/results/quality.json] [--doc docs/benchmarks.md]

Each table lives between ``<!-- BEGIN name -->`` and ``<!-- END name -->`` in
the page; the prose around them is left alone. Ratios are computed here from
the same run, so they always match the tables.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent


def table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.1f}"
        return f"{v:,}" if isinstance(v, int) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def sections(bench: dict, quality: dict | None) -> dict[str, str]:
    benches = bench["benchmarks"]
    by_group: dict[str, list[dict]] = {}
    for b in benches:
        key = "passages_scale" if b["group"].startswith("passages scale") else b["group"].split(" ")[0]
        by_group.setdefault(key, []).append(b["extra_info"] | {"_name": b["name"]})
    out = {}
    mi = bench.get("machine_info", {})
    cpu = mi.get("cpu", {})
    out["machine"] = (
        f"- CPU: {cpu.get('brand_raw', '?')}, **{cpu.get('count', '?')} cores**"
        " (shared with other jobs during the run)\n"
        f"- Python {mi.get('python_version', '?')}, {mi.get('system', '')} {mi.get('release', '')}\n"
        f"- run started {bench.get('datetime', '?')}, dedup commit `{bench.get('commit_info', {}).get('id', '?')[:10]}`"
    )
    if quality:
        out["machine"] += "\n- versions: " + ", ".join(f"{k} {v}" for k, v in quality["versions"].items())

    docs = by_group.get("documents", [])
    ref = {r["tool"]: r for r in docs}
    base = ref.get("datasketch (sha1, default)")
    rows = []
    for r in docs:
        rows.append(
            [
                r["tool"] + (f" (b={r['bands']}, r={r['rows']})" if r["tool"] == "dedup (own bands)" else ""),
                r["docs"],
                r["mb"],
                r["docs_per_s"],
                r["mb_per_s"],
                r["docs_per_cpu_s"],
                r["mb_per_cpu_s"],
                r["cpu_s"],
                r["precision"],
                r["recall"],
                f"{r['docs_per_cpu_s'] / base['docs_per_cpu_s']:.1f}×" if base else None,
            ]
        )
    out["documents"] = table(
        [
            "tool",
            "docs",
            "MB",
            "docs/s (wall)",
            "MB/s (wall)",
            "docs/CPU-s",
            "MB/CPU-s",
            "CPU s (best)",
            "precision",
            "recall",
            "× datasketch default (CPU)",
        ],
        rows,
    )
    pas = by_group.get("passages", [])
    out["passages"] = table(
        ["corpus MB", "docs", "wall s", "CPU s", "MB/s (wall)", "MB/CPU-s", "matches", "span precision", "span recall"],
        [
            [
                r["mb"],
                r["docs"],
                r["wall_s"],
                r["cpu_s"],
                r["mb_per_s"],
                r["mb_per_cpu_s"],
                r["matches"],
                r["span_precision"],
                r["span_recall"],
            ]
            for r in pas
        ],
    )
    sc = sorted(by_group.get("scaling", []), key=lambda r: r["mb"])
    out["scaling"] = table(
        ["size", "MB of text", "docs", "rounds", "wall s", "CPU s", "s/MB (wall)", "CPU s/MB", "CPU s/MB ÷ smallest"],
        [
            [
                r["size"],
                r["mb"],
                r["docs"],
                r["rounds"],
                r["wall_s"],
                r["cpu_s"],
                r["s_per_mb"],
                r["cpu_s_per_mb"],
                f"{r['cpu_s_per_mb'] / sc[0]['cpu_s_per_mb']:.2f}",
            ]
            for r in sc
        ],
    )
    par = sorted(by_group.get("parallel", []), key=lambda r: r["jobs"])
    out["parallel"] = table(
        [
            "jobs",
            "wall s (best)",
            "MB/s (wall)",
            "speed-up",
            "CPU s, whole process",
            "CPU s, calling thread",
            "CPU s, other threads or workers",
            "load average before / after",
        ],
        [
            [
                r["jobs"],
                r["wall_s"],
                r["mb_per_s"],
                f"{par[0]['wall_s'] / r['wall_s']:.2f}×",
                r.get("cpu_s_of_best_wall_round", r["cpu_s"]),
                r.get("main_thread_cpu_s"),
                round(
                    r.get("cpu_s_of_best_wall_round", r["cpu_s"])
                    - r.get("main_thread_cpu_s", r.get("cpu_s_of_best_wall_round", r["cpu_s"]))
                    + (r.get("children_cpu_s") or 0.0),
                    3,
                ),
                " / ".join(f"{x[0]:.2f}" for x in (r["load_before"], r["load_after"])) if "load_before" in r else None,
            ]
            for r in par
        ],
    )
    mem = sorted(by_group.get("memory", []), key=lambda r: (r["mode"], r["docs"]))
    out["memory"] = table(
        [
            "texts fed as",
            "corpus MB",
            "docs",
            "RSS after import MB",
            "RSS before run MB",
            "peak RSS MB",
            "added by run MB",
            "added bytes/doc",
            "arrays held bytes/doc",
        ],
        [
            [
                r["mode"],
                r["corpus_mb"],
                r["docs"],
                r.get("rss_after_import_mb"),
                r["rss_before_run_mb"],
                r["peak_rss_mb"],
                r["added_by_run_mb"],
                r["added_bytes_per_doc"],
                r["held_arrays_bytes_per_doc"],
            ]
            for r in mem
        ],
    )
    slopes = {}
    for mode in ("stream", "list"):
        pts = [r for r in mem if r["mode"] == mode]
        if len(pts) >= 2 and pts[-1]["docs"] > pts[0]["docs"]:
            slopes[mode] = (
                (pts[-1]["added_by_run_mb"] - pts[0]["added_by_run_mb"]) * 1e6 / (pts[-1]["docs"] - pts[0]["docs"])
            )
    if slopes:
        out["memory"] += (
            "\n\nGrowth of the memory added by a run, per extra document, between the two sizes: "
            + ", ".join(f"{mode}: **{v:,.0f} bytes/doc**" for mode, v in slopes.items())
            + "."
        )

    # The bars of issue 5, from this run.
    bars = []
    d = ref.get("dedup")
    if d and base:
        x = d["docs_per_cpu_s"] / base["docs_per_cpu_s"]
        xw = d["docs_per_s"] / base["docs_per_s"]
        bars.append(
            [
                "documents ≥ 10× datasketch default (docs/s, one core)",
                f"{x:.1f}× CPU, {xw:.1f}× wall",
                "met" if min(x, xw) >= 10 else "missed",
            ]
        )
    rn = ref.get("rensa")
    if d and rn:
        x = d["docs_per_cpu_s"] / rn["docs_per_cpu_s"]
        xw = d["docs_per_s"] / rn["docs_per_s"]
        bars.append(
            [
                "documents ≥ 2.5× rensa (docs/s, one core)",
                f"{x:.2f}× CPU, {xw:.2f}× wall",
                "met" if min(x, xw) >= 2.5 else "missed",
            ]
        )
    if d:
        others = [r for r in docs if r["tool"] not in ("dedup", "dedup (own bands)")]
        ok = all(d["recall"] >= r["recall"] and d["precision"] >= r["precision"] for r in others)
        bars.append(
            [
                "equal or better recall at equal precision",
                f"dedup P {d['precision']:.3f} R {d['recall']:.3f}; best peer R "
                f"{max((r['recall'] for r in others), default=0):.3f}",
                "met" if ok else "missed",
            ]
        )
    if len(sc) >= 2:
        big = next((r for r in sc if r["mb"] >= 80), sc[-1])
        small = next((r for r in sc if r["mb"] >= 8), sc[0])
        x = big["cpu_s_per_mb"] / small["cpu_s_per_mb"]
        xw = big["s_per_mb"] / small["s_per_mb"]
        bars.append(
            [
                f"time/MB at {big['size']} within 1.2× of {small['size']}",
                f"{x:.2f}× CPU, {xw:.2f}× wall",
                "met" if x <= 1.2 else "missed",
            ]
        )
    if len(par) >= 2:
        x = par[0]["wall_s"] / par[1]["wall_s"]
        bars.append(["jobs=2 ≥ 1.7× jobs=1", f"{x:.2f}×", "met" if x >= 1.7 else "missed"])
    stream = [r for r in mem if r["mode"] == "stream"]
    if stream:
        held = stream[-1]["held_arrays_bytes_per_doc"]
        grow = slopes.get("stream")
        ok = held <= 1024 and (grow is None or grow <= 1024)
        ok_list = slopes.get("list", 0) <= 1024
        bars.append(
            [
                "≤ 1 KB per document held beyond the input",
                f"{held} B/doc in arrays"
                + (f"; peak RSS grows {grow:,.0f} B per extra doc (streamed input)" if grow is not None else "")
                + (f", {slopes['list']:,.0f} B (texts in a list, exact verification)" if "list" in slopes else ""),
                ("met" if ok else "missed") + ("" if ok_list else " for streamed input; missed for a list of texts"),
            ]
        )
    for r in pas:
        bars.append(
            [
                "passages ≥ 10 MB/s per core",
                f"{r['mb_per_cpu_s']:.1f} MB/CPU-s, {r['mb_per_s']:.1f} MB/s wall",
                "met" if r["mb_per_cpu_s"] >= 10 else "missed",
            ]
        )
    out["bars"] = table(["bar (issue 5)", "measured", "status"], bars)

    comp = by_group.get("compile", [])
    if comp:
        c = comp[0]
        first, later = c["first run"], c["later runs"]
        out["compile"] = table(
            [
                "process",
                "import dedup CPU s",
                "3 small texts CPU s",
                "numba imported",
                "first 1,500 docs CPU s (wall)",
                "same call again CPU s",
                "one-off CPU s",
            ],
            [
                [
                    label,
                    r["import_cpu_s"],
                    r["small_cpu_s"],
                    "yes" if r["numba_imported_by_small_call"] else "no",
                    f"{r['first_cpu_s']:.2f} ({r['first_wall_s']:.2f})",
                    r["second_cpu_s"],
                    r["one_off_cpu_s"],
                ]
                for label, r in (
                    ("first run after install (empty kernel cache)", first),
                    ("later runs (cached kernels)", later),
                )
            ],
        )

    # The bars of issue 13, from this run.
    bars13 = []
    if d:
        bars13.append(
            [
                "documents ≥ 125 MB/s per core (find_duplicate_pairs, list of texts)",
                f"{d['mb_per_cpu_s']:.1f} MB/CPU-s, {d['mb_per_s']:.1f} MB/s wall",
                "met" if d["mb_per_cpu_s"] >= 125 else "missed",
            ]
        )
    for name, goal in (("rensa", 8.0), ("gaoya", 6.0)):
        peer = ref.get(name)
        if d and peer:
            x = d["mb_per_cpu_s"] / peer["mb_per_cpu_s"]
            xw = d["mb_per_s"] / peer["mb_per_s"]
            bars13.append(
                [
                    f"≥ {goal:.0f}× {name} (same run, one core)",
                    f"{x:.2f}× CPU, {xw:.2f}× wall",
                    "met" if x >= goal else "missed",
                ]
            )
    if d:
        bars13.append(
            [
                "precision / recall unchanged (truth, J ≥ 0.8; before: P 1.000 R 0.998)",
                f"P {d['precision']:.3f} R {d['recall']:.3f}",
                "met" if d["precision"] >= 0.999 and d["recall"] >= 0.997 else "check",
            ]
        )
    if len(par) >= 2:
        x = par[0]["wall_s"] / par[1]["wall_s"]
        bars13.append(["jobs=2 ≥ 1.8× jobs=1 (wall, 100 MB)", f"{x:.2f}×", "met" if x >= 1.8 else "missed"])
    if "list" in slopes:
        bars13.append(
            [
                "list of texts: ≤ 500 bytes per document at peak",
                f"{slopes['list']:,.0f} B per extra doc",
                "met" if slopes["list"] <= 500 else "missed",
            ]
        )
    if comp:
        one_off = comp[0]["first run"]["one_off_cpu_s"]
        bars13.append(
            [
                "one-off kernel compile < 5 s; small inputs start fast",
                f"{one_off:.2f} CPU-s once; 3 texts in {comp[0]['later runs']['small_cpu_s']:.3f} CPU-s without numba",
                "met" if one_off < 5 else "missed",
            ]
        )
    out["bars13"] = table(["bar (issue 13)", "measured", "status"], bars13)

    if quality:
        g = quality["generated"]
        out["quality_documents"] = (
            f"Corpus: {g['corpus']['size']} generated (seed 0), {g['corpus']['docs']:,} documents, "
            f"{g['corpus']['truth_pairs_at_0.8']} true pairs at Jaccard ≥ 0.8.\n\n"
            + table(
                ["tool", "precision", "recall", "F1", "TP", "FP", "FN", "recall on J in [0.80, 0.85)"],
                [
                    [r["tool"], r["precision"], r["recall"], r["f1"], r["tp"], r["fp"], r["fn"], r["recall_0.80_0.85"]]
                    for r in g["documents"]
                ],
            )
        )
        p = g["passages"]
        out["quality_passages"] = table(
            ["measure", "value"],
            [
                ["span precision (characters of reported repeats that are true copies)", p["precision"]],
                ["span recall (characters of true copies reported)", p["recall"]],
                ["matches reported", p["matches"]],
            ]
            + [[f"recall on {k} ({v['passages']} records)", v["recall"]] for k, v in p["by_kind"].items()]
            + [
                [f"recall on pasted passages with {float(k):.0%} words substituted", v]
                for k, v in p["pasted_recall_by_edit_rate"].items()
            ],
        )
        cs = quality.get("clough_stevenson")
        out["quality_cs"] = (
            "Clough–Stevenson set not found: skipped."
            if not cs
            else f"`nd_eval.py score {' '.join(cs['nd_eval_args'])}` (positives: cut + light answers vs their source; "
            "negatives: independent answers; heavy revisions ignored).\n\n"
            + table(
                ["method", "precision", "recall", "F1", "TP", "FP", "FN", "average precision"],
                [
                    [
                        r["method"],
                        r["precision"],
                        r["recall"],
                        r["f1"],
                        r["tp"],
                        r["fp"],
                        r["fn"],
                        r.get("average_precision"),
                    ]
                    for r in cs["rows"]
                ],
            )
        )
    return out


def fill(doc: str, parts: dict[str, str]) -> str:
    for name, body in parts.items():
        pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
        if not pattern.search(doc):
            raise SystemExit(f"docs page has no <!-- BEGIN {name} --> ... <!-- END {name} --> block")
        doc = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), doc)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=str(HERE / "results" / "bench.json"))
    ap.add_argument("--quality", default=str(HERE / "results" / "quality.json"))
    ap.add_argument("--doc", default=str(HERE.parent / "docs" / "benchmarks.md"))
    a = ap.parse_args()
    bench = json.loads(Path(a.bench).read_text())
    qpath = Path(a.quality)
    quality = json.loads(qpath.read_text()) if qpath.exists() else None
    doc = Path(a.doc)
    doc.write_text(fill(doc.read_text(encoding="utf-8"), sections(bench, quality)), encoding="utf-8")
    print(f"updated {doc}")


if __name__ == "__main__":
    main()
