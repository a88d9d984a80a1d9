"""Self-contained HTML reports a person can check: passages, document clusters, removals.

One file, with its CSS, its script and its data inline; it fetches nothing. It
shows the summary numbers, a histogram of similarities (inline SVG), and every
match side by side with its original, aligned word by word
(:func:`dedup.align.align_words`) with the differing words highlighted, the
file names and line numbers. Passages are grouped by their original and the
most repeated (boilerplate) come first; document clusters show every member's
exact similarity to the kept one and a diff against it.

The matches travel as JSON inside the page and are rendered a page of groups
at a time, so a report of 10,000 matches opens as fast as one of ten.

>>> import dedup
>>> page = "A title line here.\\n" + "one two three four five six seven eight nine ten. " * 3 + "\\nEnd."
>>> texts = [page, "one two three four five six seven eight nine ten. " * 3]
>>> html = passages_html(texts, dedup.find_repeated_passages(texts, min_words=10), names=["a.txt", "b.txt"])
>>> html.startswith("<!DOCTYPE html>"), "b.txt" in html, "http" in html.split("<script")[0]
(True, True, False)
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .align import AlignedRow, align_words, collapse_equal
from .passages import Match, Span, Texts
from .report import LineIndex, excerpt

__all__ = ["clean_html", "docs_html", "file_link", "histogram_svg", "passages_html"]

#: Groups (an original and its repeats, or a cluster) rendered per page of the report.
PAGE_GROUPS = 20
#: Identical words kept around each difference in a document diff; a passage keeps more.
DOC_CONTEXT = 30
PASSAGE_CONTEXT = 300
#: Equal words between two differences, at most, for both to be shown in one row.
SHORT_EQUAL = 6
#: Reports with more text than this carry it gzip-compressed (see :func:`_data_blocks`).
COMPRESS_ABOVE = 1 << 20
_TAGS = {"equal": "e", "replace": "r", "delete": "d", "insert": "i", "skip": "s"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def file_link(path: str | None) -> str | None:
    """A ``file://`` URI for a path on disk, or None (standard input, records without a file).

    >>> file_link("-") is None, file_link("/tmp/a b.txt")
    (True, 'file:///tmp/a%20b.txt')
    """
    if not path or path == "-":
        return None
    try:
        return Path(path).resolve().as_uri()
    except (OSError, ValueError):
        return None


def histogram_svg(values: Sequence[float], *, bins: int = 20, label: str = "similarity") -> str:
    """An inline SVG histogram of ``values`` in [0, 1], from the bin of the smallest value to 1.

    >>> svg = histogram_svg([0.8, 0.85, 1.0, 1.0])
    >>> svg.startswith("<svg") and svg.count("<rect") >= 2
    True
    """
    width, height, pad, bottom = 560, 170, 34, 28
    if not len(values):
        return f'<svg class="hist" width="{width}" height="40"><text x="4" y="24">no {label} values</text></svg>'
    lo_bin = min(bins // 2, int(min(values) * bins))  # at least 0.5 to 1: the shape shows
    counts = [0] * (bins - lo_bin)
    for v in values:
        counts[min(bins - 1, max(lo_bin, int(v * bins))) - lo_bin] += 1
    top = max(counts)
    bar_w = (width - 2 * pad) / len(counts)
    parts = [
        f'<svg class="hist" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="histogram of {label}">'
    ]
    for k, c in enumerate(counts):
        h = 0 if top == 0 else (height - bottom - 10) * c / top
        x = pad + k * bar_w
        lo, hi = (lo_bin + k) / bins, (lo_bin + k + 1) / bins
        parts.append(
            f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}">'
            f"<title>{lo:.2f}–{hi:.2f}: {c}</title></rect>"
        )
        if c:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom - h - 2:.1f}" class="c">{c}</text>')
    for k in range(0, len(counts) + 1, max(1, len(counts) // 5)):
        x = pad + k * bar_w
        parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" class="t">{(lo_bin + k) / bins:.2f}</text>')
    parts.append(f'<text x="{width / 2:.0f}" y="{height - 2}" class="t">{label}</text></svg>')
    return "".join(parts)


class _Lines:
    """Line indexes of the texts, built only for texts that appear in the report."""

    def __init__(self, texts: Texts) -> None:
        self.texts = texts
        self._index: dict[int, LineIndex] = {}

    def span(self, s: Span) -> list[int]:
        """``[doc, first_line, last_line, start, end]`` of a span."""
        if s.doc not in self._index:
            self._index[s.doc] = LineIndex(self.texts[s.doc])
        first, last = self._index[s.doc].lines(s.start, s.end)
        return [s.doc, first, last, s.start, s.end]


def _plain(r: AlignedRow) -> list[Any]:
    # 0 for a piece the same as the other side's: exact copies travel once.
    return [_TAGS[r.tag], r.a, 0 if r.b == r.a else r.b, r.a_line, r.b_line]


def _mixed(group: list[AlignedRow]) -> list[Any]:
    """Rows shown as one: each side a list of ``[class, text]`` segments."""
    a = [["r" if r.tag == "replace" else "d" if r.tag == "delete" else "", r.a] for r in group if r.a]
    b = [["r" if r.tag == "replace" else "i" if r.tag == "insert" else "", r.b] for r in group if r.b]
    return ["m", a, b, group[0].a_line, group[0].b_line]


def _rows(rows: list[AlignedRow]) -> list[list[Any]]:
    """The rows of the page: differences separated by a few equal words share one row.

    One row per difference would break the text at every edited word; the
    differences stay aligned row by row, and the text reads on.
    """
    out: list[list[Any]] = []
    group: list[AlignedRow] = []

    def flush() -> None:
        if len(group) == 1:
            out.append(_plain(group[0]))
        elif group:
            out.append(_mixed(group))
        group.clear()

    for k, r in enumerate(rows):
        inner = 0 < k < len(rows) - 1
        if r.tag == "skip" or (r.tag == "equal" and not (inner and len(r.a.split()) <= SHORT_EQUAL)):
            flush()
            out.append(_plain(r))
        else:
            group.append(r)
    flush()
    return out


def _item(texts: Texts, lines: _Lines, m: Match, context: int, kind: str | None = None) -> dict[str, Any]:
    a, b = lines.span(m.original), lines.span(m.repeat)
    rows = align_words(m.original.text(texts), m.repeat.text(texts), first_line=(a[1], b[1]))
    item: dict[str, Any] = {
        "a": a,
        "b": b,
        "s": round(float(m.similarity), 4),
        "rows": _rows(collapse_equal(rows, context)),
    }
    if kind is not None:
        item["k"] = kind
    return item


def _grouped(texts: Texts, matches: Sequence[Match], kinds: Sequence[str] | None) -> list[dict[str, Any]]:
    """Matches grouped by their original's start, the most repeated first."""
    lines = _Lines(texts)
    groups: dict[tuple[int, int], list[int]] = {}
    for k, m in enumerate(matches):
        groups.setdefault((m.original.doc, m.original.start), []).append(k)
    order = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = []
    for (doc, start), members in order:
        first = matches[members[0]].original
        out.append(
            {
                "t": excerpt(texts[doc], start, first.end),
                "h": lines.span(first),
                "items": [
                    _item(texts, lines, matches[k], PASSAGE_CONTEXT, kinds[k] if kinds is not None else None)
                    for k in members
                ],
            }
        )
    return out


def _encode(obj: Any, compress: bool) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    # Undecodable bytes kept by --errors surrogateescape: JSON escapes, shown as U+FFFD by the browser.
    text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
    if compress:
        return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)).decode("ascii")
    return _json_for_script(text)


def _data_blocks(data: dict[str, Any], compress: bool | None) -> str:
    """The report's data: one ``<script>`` element of metadata, and one per page of groups.

    A page's groups are parsed only when that page is shown, so opening a
    report costs the same whatever its size. Blocks are plain JSON, or
    (``compress=True``, or ``None`` and more than :data:`COMPRESS_ABOVE` of
    JSON) gzip-compressed JSON in base64, inflated by the browser's own
    DecompressionStream: a third of the bytes to read, nothing fetched.
    """
    groups = data["groups"]
    pages = [groups[k : k + PAGE_GROUPS] for k in range(0, len(groups), PAGE_GROUPS)]
    if compress is None:
        # the texts dominate: their length is a fair guess of the JSON's
        compress = (
            sum(len(r[1]) + len(r[2] or "") for g in groups for it in g["items"] for r in it["rows"]) > COMPRESS_ABOVE
        )
    kind = "application/gzip+base64" if compress else "application/json"
    meta = {k: v for k, v in data.items() if k != "groups"} | {"n": len(groups), "per": PAGE_GROUPS}
    out = [f'<script type="application/json" id="meta">{_encode(meta, False)}</script>']
    out.extend(f'<script type="{kind}" class="page">{_encode(page, compress)}</script>' for page in pages)
    return "\n".join(out)


def _json_for_script(text: str) -> str:
    """JSON text safe inside ``<script type="application/json">`` (no ``</script>``, no lone surrogates)."""
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _page(
    kind: str,
    title: str,
    data: dict[str, Any],
    summary: dict[str, Any] | None,
    values: list[float],
    compress: bool | None,
) -> str:
    e = html.escape
    summary = dict(summary or {})
    cells = "".join(f"<tr><th>{e(str(k))}</th><td>{e(_fmt(v))}</td></tr>" for k, v in summary.items())
    count = "{} documents" if kind == "docs" else "×{}"
    extra = 1 if kind == "docs" else 0  # a cluster counts its kept member too
    top = "".join(
        f'<li><a href="#g-{k}">{e(g["t"]) or "(no words)"}</a> '
        f'<span class="n">{count.format(len(g["items"]) + extra)}</span></li>'
        for k, g in enumerate(data["groups"][:10])
    )
    heading = {"passages": "Most repeated passages", "docs": "Largest clusters", "clean": "Most removed passages"}[kind]
    parts = {
        "TITLE": e(title),
        "CSS": _CSS,
        "SUMMARY": cells,
        "HIST": histogram_svg(values),
        "TOPHEAD": heading,
        "TOP": top or "<li>nothing found</li>",
        "DATA": _data_blocks(data, compress),
        "JS": _JS,
    }
    # One pass: what is substituted (texts of the inputs) is never scanned for placeholders again.
    return re.sub(r"@@([A-Z]+)@@", lambda m: parts[m.group(1)], _TEMPLATE)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".")
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _names(
    texts: Texts,
    names: Sequence[str] | Mapping[int, str] | None,
    links: Sequence[str | None] | Mapping[int, str | None] | None,
    shown: Iterable[int],
) -> dict[str, Any]:
    """File labels and links of the documents the report shows (``shown``), by document number:
    a report on a large input carries only its own documents' names."""
    docs = sorted(set(shown))
    if names is None:
        names = {d: f"document {d}" for d in docs}
    if links is None:
        links = {d: None for d in docs}
    for given in (names, links):
        if isinstance(given, Mapping):
            if any(d not in given for d in docs):
                raise ValueError("names and links must have an entry for every document with a match")
        elif len(given) != len(texts):
            raise ValueError("names and links must have one entry per text")
    return {"files": {d: names[d] for d in docs}, "links": {d: links[d] for d in docs}}


def _shown(matches: Iterable[Match]) -> Iterator[int]:
    for m in matches:
        yield m.original.doc
        yield m.repeat.doc


def passages_html(
    texts: str | Texts,
    matches: Sequence[Match],
    *,
    names: Sequence[str] | Mapping[int, str] | None = None,
    links: Sequence[str | None] | Mapping[int, str | None] | None = None,
    summary: dict[str, Any] | None = None,
    title: str = "dedup: repeated passages",
    compress: bool | None = None,
) -> str:
    """The HTML report of passage matches found in ``texts``.

    Parameters
    ----------
    texts:
        The texts the matches were found in (a single ``str`` is one document), or a
        :class:`dedup.text_source.TextSource`: only the documents with matches are read.
    matches:
        From :func:`dedup.find_repeated_passages` on the same texts.
    names, links:
        A label (file name) and an optional URL (see :func:`file_link`) per text, or a
        mapping with an entry for every document that has a match. The page carries only
        those documents' names.
    summary:
        Numbers shown at the top (e.g. the ``summary`` of the JSON report).
    compress:
        Carry the data gzip-compressed (None: when it is larger than :data:`COMPRESS_ABOVE`).
    """
    texts = [texts] if isinstance(texts, str) else texts
    shown = _shown(matches)
    data = {"kind": "passages", **_names(texts, names, links, shown), "groups": _grouped(texts, matches, None)}
    summary = {"matches": len(matches), "groups": len(data["groups"]), **(summary or {})}
    return _page("passages", title, data, summary, [m.similarity for m in matches], compress)


def docs_html(
    texts: Sequence[str],
    clusters: Sequence[Sequence[int]],
    kept: Sequence[int],
    *,
    ngram: int = 5,
    names: Sequence[str] | Mapping[int, str] | None = None,
    links: Sequence[str | None] | Mapping[int, str | None] | None = None,
    summary: dict[str, Any] | None = None,
    title: str = "dedup: near-duplicate documents",
    compress: bool | None = None,
) -> str:
    """The HTML report of document clusters: every member's exact similarity to the kept one, and a diff.

    ``clusters`` and ``kept`` are those of :func:`dedup.clusters_from_pairs`
    and :func:`dedup.choose_kept`; the similarity is
    :func:`dedup.exact_jaccard` with ``ngram``. Clusters are shown largest first.
    """
    from .documents import exact_jaccard

    lines = _Lines(texts)
    groups = []
    values = []
    order = sorted(range(len(clusters)), key=lambda c: (-len(clusters[c]), c))
    for c in order:
        k = kept[c]
        whole = Span(k, 0, len(texts[k]))
        items = []
        for i in clusters[c]:
            if i == k:
                continue
            sim = exact_jaccard(texts[k], texts[i], ngram=ngram)
            values.append(sim)
            items.append(_item(texts, lines, Match(whole, Span(i, 0, len(texts[i])), sim), DOC_CONTEXT))
        groups.append({"t": excerpt(texts[k], 0, len(texts[k])), "h": lines.span(whole), "items": items})
    data = {"kind": "docs", **_names(texts, names, links, (i for c in clusters for i in c)), "groups": groups}
    summary = {"clusters": len(clusters), "duplicates": len(values), **(summary or {})}
    return _page("docs", title, data, summary, values, compress)


def clean_html(
    texts: Sequence[str],
    removed: Sequence[Match],
    kinds: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    links: Sequence[str | None] | None = None,
    summary: dict[str, Any] | None = None,
    title: str = "dedup: removals",
    compress: bool | None = None,
) -> str:
    """The HTML report of ``clean``: each removed span (``repeat``) beside the original it repeats.

    ``kinds[k]`` is ``"passage"`` or ``"document"`` for ``removed[k]``.
    """
    if len(kinds) != len(removed):
        raise ValueError("kinds must have one entry per removal")
    data = {"kind": "clean", **_names(texts, names, links, _shown(removed)), "groups": _grouped(texts, removed, kinds)}
    summary = {"removals": len(removed), **(summary or {})}
    return _page("clean", title, data, summary, [m.similarity for m in removed], compress)


_CSS = """
:root{--fg:#1d1f23;--mute:#6a6f78;--line:#d9dce1;--rep:#ffe08a;--del:#ffc9c9;--ins:#c6f0cf;--bg2:#f5f6f8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;color:var(--fg);margin:0 auto;max-width:1400px;padding:16px}
h1{font-size:20px;margin:0 0 12px}h2{font-size:16px;margin:18px 0 8px}
.top{display:flex;gap:28px;flex-wrap:wrap;align-items:flex-start}
table.sum{border-collapse:collapse}
table.sum th{text-align:left;font-weight:500;color:var(--mute);padding:1px 12px 1px 0}
table.sum td{text-align:right;font-variant-numeric:tabular-nums}
svg.hist rect{fill:#4a78c2}svg.hist text{font-size:10px;fill:var(--mute)}svg.hist .t{text-anchor:middle}
svg.hist .c{text-anchor:middle;font-size:9px}
ol.best{margin:0;padding-left:22px;max-width:560px}ol.best li{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.n{color:var(--mute)}nav.pages{margin:12px 0;display:flex;gap:6px;flex-wrap:wrap;align-items:center}
nav.pages a{padding:2px 8px;border:1px solid var(--line);border-radius:4px;text-decoration:none}
nav.pages a.cur{background:#4a78c2;color:#fff}
.group{border:1px solid var(--line);border-radius:6px;margin:14px 0;padding:10px 12px}
.group>h3{font-size:14px;margin:0 0 6px}.item{margin:10px 0 0;border-top:1px dashed var(--line);padding-top:8px}
.where{display:grid;grid-template-columns:1fr 1fr;gap:12px;font-size:13px;margin-bottom:4px}
.where a{color:#2456a6}.sim{font-weight:600}
table.al{width:100%;border-collapse:collapse;table-layout:fixed;font:12.5px/1.5 ui-monospace,monospace}
table.al td{vertical-align:top;white-space:pre-wrap;overflow-wrap:anywhere;padding:2px 6px;width:50%;
  border-bottom:1px solid var(--bg2)}
table.al td.s{text-align:center;color:var(--mute);background:var(--bg2);font-style:italic}
.ln{display:inline-block;min-width:3.5em;color:var(--mute);user-select:none;font-size:11px}
mark{padding:0 1px;border-radius:2px}
mark.r{background:var(--rep)}mark.d{background:var(--del)}mark.i{background:var(--ins)}
button.more{margin-top:8px}.legend mark{margin-right:8px}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<link rel="icon" href="data:,"><title>@@TITLE@@</title><style>@@CSS@@</style></head>
<body><h1>@@TITLE@@</h1>
<div class="top"><section><h2>Summary</h2><table class="sum">@@SUMMARY@@</table></section>
<section><h2>Similarity</h2>@@HIST@@</section>
<section><h2>@@TOPHEAD@@</h2><ol class="best">@@TOP@@</ol></section></div>
<p class="legend"><mark class="r">replaced</mark><mark class="d">only in the original / kept</mark>
<mark class="i">only in the repeat / member</mark></p>
<nav class="pages" id="pages"></nav><main id="groups"><p>Loading…</p></main><nav class="pages" id="pages2"></nav>
@@DATA@@
<script>@@JS@@</script></body></html>
"""

# Renders one page of groups at a time; #g-N (group N) and #p-N (page N) are links.
_JS = r"""
(function(){
"use strict";
const PER=@@PER@@, SHOW=10;
const D=JSON.parse(document.getElementById("meta").textContent);
const blocks=document.querySelectorAll("script.page"), loaded=[];
const pages=Math.max(1,blocks.length);
let cur=-1;
async function load(p){
  // a page's groups are parsed the first time it is shown
  if(loaded[p]) return loaded[p];
  const el=blocks[p];
  if(!el) return [];
  if(el.type==="application/json") return loaded[p]=JSON.parse(el.textContent);
  // gzip in base64: inflated by the browser itself, nothing is fetched
  const bin=atob(el.textContent), bytes=new Uint8Array(bin.length);
  for(let k=0;k<bin.length;k++) bytes[k]=bin.charCodeAt(k);
  const stream=new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return loaded[p]=JSON.parse(await new Response(stream).text());
}
function esc(s){return s.replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"})[c]);}
function where(sp){
  const f=D.files[sp[0]], l=D.links[sp[0]];
  const lines=sp[1]===sp[2]?`${sp[1]}`:`${sp[1]}–${sp[2]}`;
  const name=l?`<a href="${esc(l)}">${esc(f)}</a>`:esc(f);
  return `${name}:${lines} <span class="n">[chars ${sp[3]}–${sp[4]}]</span>`;
}
function cell(text,line,show,cls){
  // line numbers where a line starts: at the piece's start when it is a new line, after each break
  if(!text) return "";
  const parts=text.split("\n");
  let out="";
  for(let k=0;k<parts.length;k++){
    if(k>0) out+="\n";
    if(k===parts.length-1&&k>0&&!parts[k]) break;  // a trailing break: the next row numbers that line
    if(k>0||show) out+=`<span class="ln">${line+k}</span>`;
    if(parts[k]) out+=cls?`<mark class="${cls}">${esc(parts[k])}</mark>`:esc(parts[k]);
  }
  return out;
}
function last(text,line){
  // the line the piece's last character is on (a trailing break belongs to that line)
  const n=text.split("\n").length-1;
  return text.endsWith("\n")?line+n-1:line+n;
}
function segs(parts,line,show){
  // a side of a mixed row: equal words plain, differing ones marked
  let out="", ln=line, first=show;
  for(const [c,x] of parts){
    out+=cell(x,ln,first,c);
    ln+=x.split("\n").length-1;
    first=x.endsWith("\n");  // the next segment starts a line: number it
  }
  return out;
}
function rows(item){
  let out="", la=-1, lb=-1;
  for(const [t,a,b0,na,nb] of item.rows){
    if(t==="m"){
      const ta=a.map(s=>s[1]).join(""), tb=b0.map(s=>s[1]).join("");
      out+=`<tr class="m"><td>${segs(a,na,na!==la)}</td><td>${segs(b0,nb,nb!==lb)}</td></tr>`;
      if(ta) la=last(ta,na);
      if(tb) lb=last(tb,nb);
      continue;
    }
    const b=b0===0?a:b0;
    if(t==="s"){
      out+=`<tr><td class="s" colspan="2">… ${Number(a).toLocaleString()} identical words …</td></tr>`;
      la=lb=-1; continue;
    }
    const ca=cell(a,na,na!==la,t==="r"?"r":t==="d"?"d":"");
    const cb=cell(b,nb,nb!==lb,t==="r"?"r":t==="i"?"i":"");
    if(a) la=last(a,na);
    if(b) lb=last(b,nb);
    out+=`<tr class="${t}"><td>${ca}</td><td>${cb}</td></tr>`;
  }
  return out;
}
function item(it,g){
  const left=D.kind==="docs"?"kept":"original";
  const right=D.kind==="docs"?"member":D.kind==="clean"?`removed ${it.k||""}`:"repeat";
  const sim=`similarity <span class="sim">${it.s.toFixed(3)}</span>`;
  return `<div class="item"><div class="where"><div>${left}: ${where(it.a)}</div>`+
    `<div>${right}: ${where(it.b)} · ${sim}</div></div>`+
    `<table class="al"><tbody>${rows(it)}</tbody></table></div>`;
}
function group(g,k){
  const n=g.items.length;
  const what=D.kind==="docs"?`cluster of ${n+1} documents, kept: ${where(g.h)}`
    :`${where(g.h)} repeated ${n} time${n===1?"":"s"}`;
  let out=`<section class="group" id="g-${k}"><h3>${k+1}. ${what}</h3><div class="n">${esc(g.t)}</div>`;
  for(let j=0;j<Math.min(n,SHOW);j++) out+=item(g.items[j],g);
  if(n>SHOW) out+=`<button class="more" data-g="${k}">show the other ${n-SHOW}</button>`;
  return out+"</section>";
}
function nav(){
  if(pages<2) return "";
  let out=`<span class="n">page</span>`;
  for(let p=0;p<pages;p++){
    if(pages>15&&p>1&&p<pages-2&&Math.abs(p-cur)>3){if(p===2||p===pages-3) out+="…";continue;}
    out+=`<a href="#p-${p+1}" class="${p===cur?"cur":""}">${p+1}</a>`;
  }
  if(cur<pages-1) out+=`<a href="#p-${cur+2}" class="next">next ›</a>`;
  return out;
}
async function show(p){
  p=Math.max(0,Math.min(pages-1,p));
  if(p===cur) return;
  const gs=await load(p);
  cur=p;
  const html=gs.map((g,j)=>group(g,p*PER+j)).join("");
  document.getElementById("groups").innerHTML=html||"<p>Nothing found.</p>";
  document.getElementById("pages").innerHTML=nav();
  document.getElementById("pages2").innerHTML=nav();
}
async function route(){
  const m=/^#([gp])-(\d+)$/.exec(location.hash);
  if(!m){await show(0);return;}
  const n=Number(m[2]);
  if(m[1]==="p"){await show(n-1);window.scrollTo(0,document.getElementById("pages").offsetTop);}
  else{await show(Math.floor(n/PER));const el=document.getElementById("g-"+n);if(el) el.scrollIntoView();}
}
document.getElementById("groups").addEventListener("click",ev=>{
  const b=ev.target.closest("button.more"); if(!b) return;
  const k=Number(b.dataset.g), g=loaded[Math.floor(k/PER)][k%PER];
  b.insertAdjacentHTML("beforebegin",g.items.slice(SHOW).map(it=>item(it,g)).join("")); b.remove();
});
window.addEventListener("hashchange",route);
route().then(()=>performance.mark("dedup-shown"));  // first page on screen: how long opening took
})();
""".replace("@@PER@@", str(PAGE_GROUPS))
