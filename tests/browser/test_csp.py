"""The page's Content-Security-Policy in Chromium: its own scripts run, a section's don't.

``securitypolicyviolation`` events are recorded by an init script (Playwright injects it
outside the page's policy) and read back after load.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript, serving
from manuscript.screenshot import serve_directory
from manuscript.serve import Server

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e =>
  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""

# Raw HTML a contributor could put in a section.
HOSTILE = """

## Hostile section

<script>window.__pwned = 'inline script';</script>
<img src="images/none.png" onerror="window.__pwned = 'event handler'" alt="x">
<style>body { display: none; }</style>

Read [the example](https://example.org/page) and [our own anchor](#hostile-section).
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__violations")


def open_page(new_page, url: str):
    page, log = new_page(bypass_csp=False)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(url)
    page.wait_for_load_state("load")
    return page, log


def test_the_built_page_runs_its_own_scripts_without_violations(new_page, site) -> None:
    page, log = open_page(new_page, site.url)
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "script-src 'sha256-" in policy and "'unsafe-inline'" not in policy.split(
        "style-src-attr")[0]
    assert "img-src 'self' data: https:" in policy
    assert violations(page) == [], violations(page)
    assert not [e for e in log.console_errors if "Content Security Policy" in e]
    # The theme's scripts ran (anchors.js adds a link to every heading), and its
    # styles applied.
    assert page.locator('a[aria-label^="Link to section"]').count() > 0
    assert page.evaluate("getComputedStyle(document.body).display") != "none"


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("csp-hostile"))
    intro = root / "content" / "02.introduction.md"
    intro.write_text(intro.read_text(encoding="utf-8") + HOSTILE, encoding="utf-8")
    metadata = root / "content" / "metadata.yaml"
    metadata.write_text(metadata.read_text(encoding="utf-8")
                        + "manuscript-hypothesis: true\n", encoding="utf-8")
    run_manuscript(root, "build", "--no-pdf", env=clean_env())
    with serve_directory(root / "webpage") as url:
        yield url


def test_scripts_from_a_section_are_blocked(new_page, hostile_site: str) -> None:
    page, _ = new_page(bypass_csp=False)
    page.add_init_script(RECORD_VIOLATIONS)
    # Hypothesis is opted into: its embed.js is allowed. Stand in for hypothes.is
    # (tests stay offline) with a script that marks that it ran.
    page.route("https://hypothes.is/embed.js", lambda route: route.fulfill(
        status=200, content_type="application/javascript",
        body="window.__hypothesis = typeof window.hypothesisConfig;"))
    page.goto(hostile_site)
    page.wait_for_load_state("load")
    page.wait_for_function("window.__hypothesis !== undefined")
    assert page.evaluate("window.__pwned") is None
    blocked = violations(page)
    assert any(v.startswith("script-src-elem inline") for v in blocked), blocked
    assert any(v.startswith("script-src-attr inline") for v in blocked), blocked
    assert any(v.startswith("style-src-elem inline") for v in blocked), blocked
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    # The opt-in's own inline config script ran too (it is hashed).
    assert page.evaluate("window.__hypothesis") == "function"


def test_external_links_open_no_opener_and_send_no_referrer(new_page, hostile_site: str) -> None:
    page, _ = new_page(bypass_csp=False)
    page.goto(hostile_site)
    assert page.locator('a[href="https://example.org/page"]').get_attribute("rel") == \
        "noopener noreferrer"
    assert page.get_by_role("link", name="our own anchor").get_attribute("rel") is None


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("csp-serve"))
    with serving(root) as server:
        yield server


def test_live_reload_script_is_allowed(new_page, live_server: Server) -> None:
    page, _ = new_page(bypass_csp=False)
    page.add_init_script(RECORD_VIOLATIONS)
    with page.expect_request(lambda request: "/__livereload?v=" in request.url):
        page.goto(f"http://127.0.0.1:{live_server.port}/")
    assert violations(page) == []


def test_policy_is_written_for_every_inline_block_of_the_head(site) -> None:
    """The file itself: one policy, first in <head>, before any script or style."""
    html = (site.root / "output" / "manuscript.html").read_text(encoding="utf-8")
    head = html.split("</head>", 1)[0]
    assert head.count('http-equiv="Content-Security-Policy"') == 1
    position = head.index('http-equiv="Content-Security-Policy"')
    assert position < head.index("<style") and position < head.index("<script")
    assert json.loads(head.split('<script type="application/ld+json">', 1)[1]
                      .split("</script>", 1)[0])["@type"] == "ScholarlyArticle"
