"""``serve``'s problem overlay in Chromium, under the page's own CSP: it shows the last
build's warnings as text (never as HTML), raises no policy violation, and can be
dismissed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers import ROOT, copy_manuscript, serving
from manuscript.serve import Server

from .test_csp import RECORD_VIOLATIONS, violations

# A link to an anchor that does not exist, whose name looks like markup.
BROKEN = "\nSee [the missing part](#part<b>two</b>) of the review.\n"


@pytest.fixture(scope="module")
def warned_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("overlay"))
    section = root / "content" / "08.conclusion.md"
    section.write_text(section.read_text(encoding="utf-8") + BROKEN, encoding="utf-8")
    with serving(root) as server:
        yield server


def test_overlay_lists_the_problems_and_can_be_dismissed(new_page,
                                                         warned_server: Server) -> None:
    page, _ = new_page(bypass_csp=False)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"http://127.0.0.1:{warned_server.port}/")
    box = page.locator("#manuscript-problems")
    box.wait_for(state="visible")
    assert box.get_attribute("role") == "alert"
    text = box.inner_text()
    assert "The last build warned (1):" in text
    assert "content/08.conclusion.md:" in text and "link to #part<b>two</b>" in text
    assert box.locator("b").count() == 0  # shown as text, not parsed
    assert page.evaluate("getComputedStyle(document.getElementById('manuscript-problems'))"
                         ".position") == "fixed"
    assert violations(page) == []
    page.get_by_role("button", name="Dismiss").click()
    assert box.count() == 0
