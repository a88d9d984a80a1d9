"""The HTML report: word alignment, a self-contained page, and what a real browser shows.

The browser tests drive Debian's ``chromium`` (installed by ``.ci/run``) with
playwright's Python API; playwright's own browser downloads are never used.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dedup
from dedup import cli
from dedup.align import align_words, collapse_equal
from dedup.htmlreport import clean_html, docs_html, histogram_svg, passages_html

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTICLE = "As the war in Gaza continues to unfold, essential questions about Russian"

words = st.lists(st.sampled_from(["a", "b", "The", "the,", "cat", "x\ny", "  ", "\n", "é", "Ω"]), max_size=40)


# ---------------------------------------------------------------- alignment


@given(words, words)
def test_alignment_pieces_give_both_texts_back(wa: list[str], wb: list[str]) -> None:
    a, b = " ".join(wa), " ".join(wb)
    rows = align_words(a, b)
    assert "".join(r.a for r in rows) == a
    assert "".join(r.b for r in rows) == b
    pa = pb = 0
    for r in rows:  # the line of each piece is the line its first character is on
        assert (r.a_line, r.b_line) == (1 + a[:pa].count("\n"), 1 + b[:pb].count("\n"))
        pa, pb = pa + len(r.a), pb + len(r.b)


@given(words, words, st.integers(1, 5))
def test_collapsing_keeps_every_difference(wa: list[str], wb: list[str], context: int) -> None:
    a, b = " ".join(wa), " ".join(wb)
    rows = align_words(a, b)
    collapsed = collapse_equal(rows, context)
    assert [r for r in rows if r.tag not in ("equal",)] == [r for r in collapsed if r.tag not in ("equal", "skip")]
    skipped = sum(int(r.a) for r in collapsed if r.tag == "skip")
    kept = sum(len(r.a.split()) for r in collapsed if r.tag == "equal")
    assert skipped + kept == sum(len(r.a.split()) for r in rows if r.tag == "equal")


def test_alignment_folds_case_and_punctuation_and_counts_lines() -> None:
    rows = align_words("line one\nThe cat, sat\nend", "line one\nthe cat sat down\nend", first_line=(10, 20))
    assert [(r.tag, r.a, r.b) for r in rows] == [
        ("equal", "line one\nThe cat, sat\n", "line one\nthe cat sat "),
        ("insert", "", "down\n"),
        ("equal", "end", "end"),
    ]
    assert (rows[1].a_line, rows[1].b_line) == (12, 21)
    assert (rows[2].a_line, rows[2].b_line) == (12, 22)


# ---------------------------------------------------------------- the page itself


def _external_references(page: str) -> list[str]:
    """References to anything outside the page, in its markup (the inline data is text, not markup)."""
    page = re.sub(r'<script type="application/[^"]+"[^>]*>.*?</script>', "", page, flags=re.S)
    return re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'\s>]+""", page) + re.findall(r"@import", page)


def test_page_is_self_contained_and_escapes_the_texts() -> None:
    evil = "</script><script>alert(1)</script> <img src=http://example.invalid/x.png> \u2028 \udcff"
    text = ("one two three four five six seven eight nine ten eleven twelve " + evil + " ") * 2
    matches = dedup.find_repeated_passages(text, min_words=8)
    assert matches
    page = passages_html(text, matches, names=["<b>name</b>.txt"])
    assert _external_references(page) == []
    assert page.count("</script>") == page.count("<script") == 3  # metadata, one page of data, code
    assert "<b>name</b>" not in page and "\udcff" not in page
    page.encode("utf-8")  # lone surrogates were escaped


def test_histogram_counts_every_value() -> None:
    svg = histogram_svg([0.81, 0.82, 0.99, 1.0, 1.0])
    counts = [int(c) for c in re.findall(r'class="c">(\d+)<', svg)]
    assert sum(counts) == 5 and max(counts) == 3


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    assert Path(CHROMIUM).exists() or shutil.which("chromium"), "Debian chromium is needed: apt-get install chromium"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """Open an HTML file from disk; yields (page, console errors)."""
    pages = []

    def _open(path: Path):
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request", lambda r: errors.append(f"fetched {r.url}") if not r.url.startswith(("file:", "data:")) else None
        )
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("#groups .group, #groups p:not(:empty)")
        pages.append(page)
        return page, errors

    yield _open
    for page in pages:
        page.close()


def _cli_html(tmp_path: Path, capsys, *argv: str) -> Path:
    assert cli.main([*argv, "--format", "html", "--quiet"]) == 0
    out = tmp_path / f"{argv[0]}.html"
    out.write_text(capsys.readouterr().out, encoding="utf-8")
    return out


def test_browser_shows_the_seed_article_side_by_side_with_highlights(tmp_path, capsys, seed_path, open_page) -> None:
    page, errors = open_page(_cli_html(tmp_path, capsys, "passages", str(seed_path)))
    groups = page.locator("#groups .group")
    assert groups.count() == 1
    text = groups.first.inner_text()
    assert ARTICLE in text and seed_path.name in text
    assert "repeated 2 times" in text
    # the doubled article: its copy at lines 160-206 beside the original at 8-55, similarity 0.989
    assert ":160–206" in text and ":8–55" in text and "0.989" in text
    # the words that differ are highlighted: here the doubled title line only the original has
    deleted = page.locator("#groups mark.d")
    assert deleted.count() >= 1 and ARTICLE in deleted.first.inner_text()
    # line numbers in the gutter
    numbers = page.locator(".ln").all_inner_texts()
    assert {"8", "9", "160"} <= set(numbers)
    # the file name links to the file on disk, and the link works
    link = page.locator(".where a").first
    assert link.get_attribute("href") == seed_path.resolve().as_uri()
    # follow a link: the most repeated passage's entry jumps to its group
    page.locator("ol.best a").first.click()
    assert page.evaluate("location.hash") == "#g-0"
    assert page.locator("#g-0").is_visible()
    link.click()
    page.wait_for_load_state()
    assert ARTICLE in page.inner_text("body")  # the seed text file itself
    assert errors == []


def test_browser_pages_a_large_report_and_follows_page_links(tmp_path, open_page) -> None:
    # 45 groups of passages (more than two pages), each repeated once with one word changed
    paras = [" ".join(f"w{g}x{k}" for k in range(25)) for g in range(45)]
    texts = paras + [p.replace("x12 ", "x12 changed ") for p in paras]
    matches = dedup.find_repeated_passages(texts, min_words=10)
    path = tmp_path / "many.html"
    # compressed data blocks, inflated by the browser, as for any large report
    page_html = passages_html(texts, matches, names=[f"{k}.txt" for k in range(90)], compress=True)
    assert 'type="application/gzip+base64"' in page_html and "w44x24" not in page_html
    path.write_text(page_html, encoding="utf-8")
    page, errors = open_page(path)
    assert page.locator("#groups .group").count() == 20  # one page at a time
    assert page.locator("#groups mark.i").first.inner_text().strip() == "changed"
    page.locator("#pages a.next").click()
    page.wait_for_function("location.hash === '#p-2'")
    assert page.locator("#groups .group").first.get_attribute("id") == "g-20"
    page.locator("#pages a", has_text="3").first.click()
    page.wait_for_function("location.hash === '#p-3'")
    assert page.locator("#groups .group").count() == len({(m.original.doc, m.original.start) for m in matches}) - 40
    assert errors == []


def test_browser_keeps_nearby_differences_in_one_row(tmp_path, open_page) -> None:
    words = [f"w{k}" for k in range(60)]
    edited = [*words]
    edited[20], edited[23] = "EDIT1", "EDIT2"  # two edits, two equal words apart
    texts = [" ".join(words), " ".join(edited)]
    m = dedup.Match(dedup.Span(0, 0, len(texts[0])), dedup.Span(1, 0, len(texts[1])), 0.9)
    path = tmp_path / "near.html"
    path.write_text(passages_html(texts, [m], names=["a", "b"]), encoding="utf-8")
    page, errors = open_page(path)
    row = page.locator("#groups tr.m")
    assert row.count() == 1  # both edits and the words between them: one row, read as text
    left, right = row.locator("td").all()
    assert [t.strip() for t in left.locator("mark.r").all_inner_texts()] == ["w20", "w23"]
    assert [t.strip() for t in right.locator("mark.r").all_inner_texts()] == ["EDIT1", "EDIT2"]
    assert " ".join(right.inner_text().split()) == "EDIT1 w21 w22 EDIT2"
    assert page.locator("#groups tr").count() == 3  # equal, mixed, equal
    assert errors == []


def test_browser_shows_document_clusters_and_removals(tmp_path, open_page) -> None:
    base = " ".join(f"word{k}" for k in range(200))
    texts = [base, base.replace("word50 ", "other "), "something else entirely here", base, *[base] * 12]
    clusters, kept = [[0, 1, 3], list(range(4, 16))], [0, 4]
    path = tmp_path / "docs.html"
    names = ["k.txt", "m.txt", "x.txt", "same.txt"] + [f"copy{k}.txt" for k in range(12)]
    path.write_text(docs_html(texts, clusters, kept, names=names), encoding="utf-8")
    page, errors = open_page(path)
    first, second = page.locator("#groups .group").all()[:2]
    assert "cluster of 12 documents" in first.inner_text()  # the largest first
    assert first.locator(".item").count() == 10  # the rest on demand
    first.locator("button.more").click()
    assert first.locator(".item").count() == 11 and "copy11.txt" in first.inner_text()
    text = second.inner_text()
    assert "cluster of 3 documents" in text and "k.txt" in text and "same.txt" in text
    sims = second.locator(".sim").all_inner_texts()
    assert sims == [f"{dedup.exact_jaccard(base, texts[1]):.3f}", "1.000"]
    assert [t.strip() for t in second.locator("mark.r").all_inner_texts()] == ["word50", "other"]
    assert "identical words" in text  # long equal stretches are folded
    assert errors == []

    removed = [dedup.Match(dedup.Span(0, 0, len(base)), dedup.Span(3, 0, len(base)), 1.0)]
    path = tmp_path / "clean.html"
    path.write_text(clean_html(texts, removed, ["document"], names=names), encoding="utf-8")
    page, errors = open_page(path)
    assert "removed document" in page.inner_text("#groups")
    assert errors == []


def test_cli_html_for_docs_and_clean(tmp_path, capsys, seed_path, open_page) -> None:
    corpus = tmp_path / "in"
    corpus.mkdir()
    text = seed_path.read_text(encoding="utf-8")
    (corpus / "a.txt").write_text(text, encoding="utf-8")
    (corpus / "b.txt").write_text(text.replace("Gaza", "Gaza Strip", 1), encoding="utf-8")
    page, errors = open_page(_cli_html(tmp_path, capsys, "docs", str(corpus)))
    assert "cluster of 2 documents" in page.inner_text("#groups")
    assert page.locator("#groups mark.i").first.inner_text().startswith("Strip")
    assert errors == []
    page, errors = open_page(_cli_html(tmp_path, capsys, "clean", str(corpus), "-o", str(tmp_path / "out"), "--docs"))
    body = page.inner_text("#groups")
    assert "removed document" in body and "removed passage" in body
    assert errors == []


def test_cli_html_with_spark_output_is_a_one_line_error(capsys, seed_path, tmp_path) -> None:
    """``--format html`` works with ``--engine spark`` (tests/test_spark.py) but builds one page on the
    driver, so not with ``--spark-output`` (results kept off the driver): refused before Spark starts."""
    argv = ["passages", str(seed_path), "--format", "html", "--engine", "spark", "--spark-output", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "--format html builds one page here" in capsys.readouterr().err
