"""Browser-test fixtures: one built site (the bundled manuscript plus a test section) served
over HTTP on 127.0.0.1, and the system Chromium driven by Playwright's sync API.

Missing tools make the tests *fail* with the command that installs them, never skip: a
browser suite that silently skips in CI is a suite that never runs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# tests/conftest.py does this too, but only when pytest loads it first; be independent of that.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from manuscript.errors import RenderError
from manuscript.screenshot import find_chromium, launch_chromium, serve_directory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"

DESKTOP = {"width": 1280, "height": 800}  # the default viewport of ``new_page``

# Three manual references (CSL JSON); their titles are what the tooltip must show.
REFERENCES = [
    {
        "id": "raw:ref-a",
        "type": "article-journal",
        "title": "Alpha study of protein language models across species",
        "author": [{"family": "Arbor", "given": "Ada"}],
        "container-title": "Journal of Browser Tests",
        "issued": {"date-parts": [[2021]]},
    },
    {
        "id": "raw:ref-b",
        "type": "article-journal",
        "title": "Beta benchmark for clinical text foundation models",
        "author": [{"family": "Birch", "given": "Ben"}],
        "container-title": "Journal of Browser Tests",
        "issued": {"date-parts": [[2022]]},
    },
    {
        "id": "raw:ref-c",
        "type": "book",
        "title": "Gamma handbook of medical image analysis",
        "author": [{"family": "Cedar", "given": "Cy"}],
        "publisher": "Test Press",
        "issued": {"date-parts": [[2020]]},
    },
]
TITLES = {ref["id"]: ref["title"] for ref in REFERENCES}

# Appended to the introduction: citations (ref-a twice, so it gets two back-links), a
# figure with a local image, a table and an equation, each with a cross-reference id.
EXTRA_SECTION = """

## Browser test section

Protein models are widely studied [@raw:ref-a; @raw:ref-b].
Imaging has its own handbook [@raw:ref-c], and proteins come up again [@raw:ref-a].
See @fig:x, @tbl:t and @eq:e.

![The ORCID logo, a local SVG image.](images/orcid.svg){#fig:x width="15%"}

| Model | Score |
|-------|------:|
| A     | 0.91  |
| B     | 0.87  |

Table: A small table of scores. {#tbl:t}

$$a^2+b^2=c^2$$ {#eq:e}

A closing paragraph after the equation.
"""


@dataclass
class Site:
    root: Path  # the built copy of the manuscript
    url: str  # webpage/ served over HTTP; "/" is index.html, the newest version
    titles: dict[str, str]  # citation key -> title of the manual references cited


@dataclass
class PageLog:
    """What a page did while loading: every request URL, console errors, uncaught errors."""

    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        return find_chromium()
    except RenderError as error:
        pytest.fail(f"{error} (the browser tests need the system Chromium)", pytrace=False)


@pytest.fixture(scope="session")
def axe_js() -> Path:
    if not AXE_JS.is_file():
        pytest.fail(
            f"axe-core is missing ({AXE_JS}); install it with: npm ci --prefix tests/browser",
            pytrace=False,
        )
    return AXE_JS


@pytest.fixture(scope="session")
def built_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("browser-site"))
    content = root / "content"
    (content / "manual-references.json").write_text(
        json.dumps(REFERENCES, indent=2) + "\n", encoding="utf-8"
    )
    intro = content / "02.introduction.md"
    intro.write_text(intro.read_text(encoding="utf-8").rstrip("\n") + EXTRA_SECTION,
                     encoding="utf-8")
    run_manuscript(root, "build", env=clean_env())
    assert (root / "webpage" / "index.html").is_file(), "manuscript build wrote no webpage/"
    return root


@pytest.fixture(scope="session")
def site(built_root: Path) -> Iterator[Site]:
    with serve_directory(built_root / "webpage") as url:
        yield Site(built_root, url, dict(TITLES))


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing; install it with: pip install -e '.[test]'",
                    pytrace=False)
    with sync_playwright() as playwright:
        try:
            browser = launch_chromium(playwright)
        except RenderError as error:
            pytest.fail(str(error), pytrace=False)
        yield browser
        browser.close()


NewPage = Callable[..., tuple["Page", PageLog]]


@pytest.fixture
def new_page(browser: Browser, site: Site) -> Iterator[NewPage]:
    """``new_page(**context_options) -> (page, log)``: a fresh context, logging everything."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> tuple[Page, PageLog]:
        options.setdefault("viewport", DESKTOP)
        # axe-core is injected as an inline script, which the page's CSP refuses;
        # test_csp.py opens pages with bypass_csp=False to check the policy itself.
        options.setdefault("bypass_csp", True)
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        log = PageLog()
        page.on("request", lambda request: log.requests.append(request.url))
        page.on("console", lambda msg: msg.type == "error" and log.console_errors.append(
            f"{msg.text} ({msg.location.get('url')}:{msg.location.get('lineNumber')})"))
        page.on("pageerror", lambda error: log.page_errors.append(str(error)))
        return page, log

    yield make
    for context in contexts:
        context.close()
