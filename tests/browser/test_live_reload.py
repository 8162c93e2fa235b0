"""``serve`` in Chromium: the open page follows the sources by itself, under its CSP.

A failed build reloads the page with the error over the previous build; the fix
reloads it clean; before any build succeeded, / says why and comes up once one does.
The waits are safety nets against a hang, not speed assertions.
"""

from __future__ import annotations

from pathlib import Path

from helpers import ROOT, copy_manuscript, serving

from .test_csp import RECORD_VIOLATIONS, violations

TITLE = "Do Biomedical Tasks Require Biomedical Foundation Models?"
WAIT_MS = 60_000
BROKEN_YAML = "title: [unclosed\n"


def _open(new_page, port: int):
    page, log = new_page(bypass_csp=False)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"http://127.0.0.1:{port}/")
    return page, log


def test_a_failed_build_shows_over_the_page_and_the_fix_clears_it(new_page,
                                                                   tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    metadata = root / "content" / "metadata.yaml"
    good = metadata.read_text(encoding="utf-8")
    with serving(root) as server:
        page, log = _open(new_page, server.port)
        assert page.locator("#manuscript-problems").count() == 0
        metadata.write_text(BROKEN_YAML, encoding="utf-8")
        box = page.locator("#manuscript-problems")
        box.wait_for(state="visible", timeout=WAIT_MS)  # no reload by hand
        assert "The last build failed" in box.inner_text()
        assert "metadata.yaml" in box.inner_text()
        assert page.locator("h1").first.inner_text() == TITLE  # the previous build

        metadata.write_text(good, encoding="utf-8")
        box.wait_for(state="detached", timeout=WAIT_MS)
        assert page.locator("h1").first.inner_text() == TITLE
        assert violations(page) == [] and log.page_errors == []


def test_the_page_comes_up_once_the_first_good_build_is_made(new_page,
                                                              tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    metadata = root / "content" / "metadata.yaml"
    good = metadata.read_text(encoding="utf-8")
    metadata.write_text(BROKEN_YAML, encoding="utf-8")
    with serving(root) as server:
        page, log = _open(new_page, server.port)
        assert page.locator("h1").inner_text() == "No page yet"
        assert "metadata.yaml" in page.locator("#manuscript-problems").inner_text()

        metadata.write_text(good, encoding="utf-8")
        page.get_by_role("heading", name=TITLE).wait_for(timeout=WAIT_MS)
        assert page.locator("#manuscript-problems").count() == 0
        assert violations(page) == [] and log.page_errors == []
