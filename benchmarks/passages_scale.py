"""Passages at scale: the table and the plot of docs/passages.md.

    python benchmarks/passages_scale.py [SIZES] [ROUNDS] [--append | --tables]

Runs ``passages_probe.py`` in a fresh process for every generated corpus size (default
``10MB,100MB``, written with seed 0 into ``DEDUP_BENCH_DATA``), in memory and spilled, for
the records as documents and joined into one string; for debian-copyright (from
``../shared/evalsets``); and for one text of tiny lines. Writes
``benchmarks/results/passages-scale.json`` and ``docs/passages_memory.png`` (peak RSS
against input size, both modes). ``--append`` adds the rows of SIZES (records only, e.g. a
1 GB point) to the existing results; ``--tables`` only rewrites the tables and the plot.
``python benchmarks/passages_scale.py 5GB:MB:MATCHES:BASE_MB TIME_V_FILE --cli`` adds the row of
a ``dedup passages FILE --spill DIR`` run measured with ``/usr/bin/time -v`` (the 5 GB point).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import HERE, corpus_dir
from dedup import synth

ROOT = HERE.parent
DEBIAN = ROOT.parent / "shared" / "evalsets" / "debian-copyright" / "docs.jsonl.gz"


def probe(source: Path, shape: str, mode: str, n_rounds: int) -> dict:
    cmd = [sys.executable, str(HERE / "passages_probe.py"), str(source), shape, mode, str(n_rounds)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout)
    print(json.dumps(result), flush=True)
    return result


RESULTS = HERE / "results" / "passages-scale.json"


def cli_row(time_v: Path, size: str, mb: float, matches: int, base_mb: float) -> dict:
    """A row for ``dedup passages FILE --spill DIR`` run under ``/usr/bin/time -v`` (the CLI
    streams its input through a spool: the texts are not held). ``base_mb`` is the peak RSS of
    the same command on a tiny input (the interpreter, numpy and the kernels)."""
    fields = dict(line.strip().rsplit(": ", 1) for line in time_v.read_text().splitlines() if ": " in line)
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    peak = int(fields["Maximum resident set size (kbytes)"]) / 1024
    return {
        "source": "cli",
        "shape": "docs",
        "mode": "spill (CLI, streamed)",
        "mb": round(mb, 1),
        "texts": None,
        "matches": matches,
        "cpu_s": round(cpu, 1),
        "mb_per_s": round(mb / cpu, 1),
        "rss_base_mb": round(base_mb, 1),
        "rss_loaded_mb": round(base_mb, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_per_byte": round(peak / mb, 2),
        "peak_above_base_per_byte": round((peak - base_mb) / mb, 2),
        "added_per_byte": round((peak - base_mb) / mb, 2),
        "size": size,
    }


def main(sizes: list[str], n_rounds: int, flag: str = "") -> None:
    if flag == "--cli":  # passages_scale.py SIZE,MB,MATCHES,BASE_MB TIME_V_FILE --cli
        size, mb, matches, base = sizes[0].split(":")
        results = json.loads(RESULTS.read_text())
        results = [r for r in results if not (r["size"] == size and r["mode"].startswith("spill (CLI"))]
        results.append(cli_row(Path(sys.argv[2]), size, float(mb), int(matches), float(base)))
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        main(sizes, n_rounds, "--tables")
        return
    if flag == "--tables":
        results = json.loads(RESULTS.read_text())
        write_tables(results)
        plot(results, ROOT / "docs" / "passages_memory.png")
        return
    if flag == "--append":
        results = json.loads(RESULTS.read_text())
        for size in sizes:
            for mode in ("memory", "spill"):
                results.append(dict(probe(corpus_dir(size), "docs", mode, n_rounds), size=size))
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        main(sizes, n_rounds, "--tables")
        return
    results = []
    for size in sizes:
        rounds_here = n_rounds if synth.parse_size(size) <= 200_000_000 else 1
        for mode in ("memory", "spill"):
            for shape in ("docs", "one"):
                results.append(dict(probe(corpus_dir(size), shape, mode, rounds_here), size=size))
    results.append(dict(probe(corpus_dir(sizes[0]), "lines", "memory", n_rounds), size=sizes[0]))
    if DEBIAN.exists():
        for mode in ("memory", "spill"):
            results.append(dict(probe(DEBIAN, "docs", mode, n_rounds), size="debian-copyright"))
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    write_tables(results)
    plot(results, ROOT / "docs" / "passages_memory.png")


def table(results: list[dict]) -> str:
    shapes = {"docs": "records", "one": "one string", "lines": "one string of short lines"}
    rows = [
        "| input | shape | MB | mode | CPU s (best) | MB/s per core | peak RSS MB | RSS before loading MB "
        "| RSS with texts MB | (peak − before loading) / input byte | (peak − with texts) / input byte | matches |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r['size']} | {shapes[r['shape']]} | {r['mb']} | {r['mode']} | {r['cpu_s']} | {r['mb_per_s']} "
            f"| {r['peak_rss_mb']:.0f} | {r['rss_base_mb']:.0f} | {r['rss_loaded_mb']:.0f} "
            f"| {r['peak_above_base_per_byte']} | {r['added_per_byte']} | {r['matches']:,} |"
        )
    return "\n".join(rows)


def write_tables(results: list[dict]) -> None:
    """Replace the ``passages_scale`` block of docs/passages.md and docs/benchmarks.md."""
    begin, end = "<!-- BEGIN passages_scale -->", "<!-- END passages_scale -->"
    for page in (ROOT / "docs" / "passages.md", ROOT / "docs" / "benchmarks.md"):
        text = page.read_text(encoding="utf-8")
        if begin in text and end in text:
            head, rest = text.split(begin, 1)
            page.write_text(f"{head}{begin}\n{table(results)}\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    cli = sorted((r["mb"], r["peak_rss_mb"] - r["rss_base_mb"]) for r in results if r["mode"].startswith("spill (CLI"))
    if cli:
        ax.plot(*zip(*cli), "*", markersize=12, label="spill, CLI streamed (texts not held)")
    for mode, marker in (("memory", "o"), ("spill", "s")):
        for shape, style in (("docs", "-"), ("one", ":")):
            pts = sorted(
                (r["mb"], r["peak_rss_mb"] - r["rss_base_mb"])
                for r in results
                if r["mode"] == mode
                and r["shape"] == shape
                and r["size"] != "debian-copyright"
                and "(" not in r["size"]
            )
            if pts:
                ax.plot(
                    *zip(*pts), style, marker=marker, label=f"{mode}, {'records' if shape == 'docs' else 'one string'}"
                )
    top = max(r["mb"] for r in results)
    low = min(r["mb"] for r in results)
    ax.plot([low, top], [4 * low, 4 * top], "k--", linewidth=0.8, label="4 bytes per input byte")
    ax.set_xlabel("input (MB of UTF-8 text)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("peak RSS above the loaded interpreter (MB)")
    ax.set_title("find_repeated_passages: peak memory (generated corpus)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    main(
        (args[0] if args else "10MB,100MB").split(","),
        int(args[1]) if len(args) > 1 and args[1].isdigit() else 3,
        flags[0] if flags else "",
    )
