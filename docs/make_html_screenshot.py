"""Screenshot of the HTML report of the bundled seed for README and docs/html-report.md.

Run from the repository root, in the environment of the second quick-start command
(it needs Debian's chromium: ``apt-get install chromium``):

    python docs/make_html_screenshot.py
"""

from __future__ import annotations

import tempfile
from contextlib import redirect_stdout
from pathlib import Path

from playwright.sync_api import sync_playwright

from dedup import cli

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        page_path = Path(tmp) / "seed.html"
        with open(page_path, "w", encoding="utf-8") as out, redirect_stdout(out):
            cli.main(["passages", "seeds/", "--format", "html", "--quiet"])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(page_path.resolve().as_uri())
            page.wait_for_selector("#groups .group")
            # the histogram, then the doubled article aligned with its copy
            page.evaluate("window.scrollTo(0, document.querySelector('.top').offsetTop + 40)")
            page.screenshot(path="docs/html-report.png")
            browser.close()


if __name__ == "__main__":
    main()
