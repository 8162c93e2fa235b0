"""The built website in a real browser (system Chromium via Playwright): what a reader gets.

Every test asserts content or state, never how fast something happened; the one timing
(domInteractive) is only recorded in output/browser-metrics.json.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from helpers import run_manuscript

if TYPE_CHECKING:
    # only types: importing conftest at runtime would depend on which conftest pytest
    # registered as the module "conftest" (tests/ has one too)
    from playwright.sync_api import Page

    from conftest import NewPage, PageLog, Site

PAGE_WEIGHT_BUDGET = 150 * 1024  # bytes of HTML + CSS + JS (images excluded)
TEST_SECTION = "browser-test-section"
PHONE = {"width": 375, "height": 667}


def open_site(new_page: NewPage, site: Site, **options: object) -> tuple[Page, PageLog]:
    page, log = new_page(**options)
    page.goto(site.url, wait_until="load")
    return page, log


def test_loads_without_errors_or_foreign_requests(new_page: NewPage, site: Site) -> None:
    page, log = open_site(new_page, site)
    # Scroll through the whole page so lazily loaded images are requested too.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_load_state("networkidle")
    assert page.title(), "the page has no <title>"
    assert not log.page_errors, f"uncaught JavaScript errors: {log.page_errors}"
    assert not log.console_errors, f"console errors: {log.console_errors}"
    assert log.requests, "no request was recorded"
    foreign = [
        url for url in log.requests
        if urlsplit(url).scheme != "data" and urlsplit(url).hostname != "127.0.0.1"
    ]
    assert not foreign, f"requests to other hosts: {foreign}"
    # the local figure image was actually fetched (and from this server)
    assert any(url.endswith("/images/orcid.svg") for url in log.requests), log.requests


def test_toc_click_scrolls_and_marks_current(new_page: NewPage, site: Site) -> None:
    page, _ = open_site(new_page, site)
    link = page.locator(f'nav#TOC a[href="#{TEST_SECTION}"]')
    link.click()
    heading = page.locator(f"#{TEST_SECTION} > h2")
    page.wait_for_function(
        "id => { const r = document.querySelector('#' + id + ' > h2').getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight; }",
        arg=TEST_SECTION,
    )
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] <= page.viewport_size["height"], box
    assert page.evaluate("location.hash") == f"#{TEST_SECTION}"
    # toc.js updates on the next animation frame after scrolling
    page.wait_for_function(
        "href => document.querySelector('nav#TOC a[href=\"' + href + '\"]')"
        ".classList.contains('active')",
        arg=f"#{TEST_SECTION}",
    )
    assert link.get_attribute("aria-current") == "true"
    current = page.locator("nav#TOC a.active, nav#TOC a[aria-current]")
    assert current.count() == 1, current.all_inner_texts()



def test_citation_focus_shows_tooltip_and_escape_hides_it(
    new_page: NewPage, site: Site
) -> None:
    page, _ = open_site(new_page, site)
    citation = page.locator('.citation a[href^="#ref-"]').first
    tooltip = page.locator('[role="tooltip"]')
    citation.focus()
    tooltip.wait_for(state="visible")
    # the first citation in the document is raw:ref-a; the preview shows the whole entry
    assert site.titles["raw:ref-a"] in tooltip.inner_text()
    assert citation.get_attribute("aria-describedby") == tooltip.get_attribute("id")
    page.keyboard.press("Escape")
    tooltip.wait_for(state="hidden")
    assert not tooltip.is_visible()


def test_references_link_back_to_citations(new_page: NewPage, site: Site) -> None:
    page, _ = open_site(new_page, site)
    entries = page.locator("#refs .csl-entry")
    assert entries.count() == len(site.titles)
    counts = {}
    for i in range(entries.count()):
        entry = entries.nth(i)
        entry_id = entry.get_attribute("id")
        backlinks = entry.locator(".cite-backlinks a")
        assert backlinks.count() >= 1, f"{entry_id} has no back-link"
        for j in range(backlinks.count()):
            target = backlinks.nth(j).get_attribute("href")
            assert target and target.startswith("#cite-ref-"), target
            # the back-link's target is a citation that points at this very entry
            cited = page.locator(f'[id="{target[1:]}"]')
            assert cited.count() == 1, f"{entry_id}: back-link {target} has no target"
            assert cited.get_attribute("href") == f"#{entry_id}"
        text = entry.inner_text()
        title = next(t for t in site.titles.values() if t in text)
        counts[title] = backlinks.count()
    # raw:ref-a is cited twice, so it has two back-links
    titles = site.titles
    assert counts == {titles["raw:ref-a"]: 2, titles["raw:ref-b"]: 1, titles["raw:ref-c"]: 1}
    # following a back-link lands on the citation
    page.locator("#refs .cite-backlinks a").first.click()
    assert page.evaluate("location.hash").startswith("#cite-ref-")


def test_phone_width_no_horizontal_scroll_and_toc_toggle(
    new_page: NewPage, site: Site
) -> None:
    page, _ = open_site(new_page, site, viewport=PHONE, is_mobile=True, has_touch=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], (
        f"horizontal scroll at {PHONE['width']} px: scrollWidth = {scroll_width}; widest: "
        + str(page.evaluate(_WIDEST_ELEMENTS, PHONE["width"]))
    )
    toggle = page.locator("nav#TOC button.toc-toggle")
    assert toggle.is_visible(), "no TOC toggle button at phone width"
    toc_list = page.locator("nav#TOC > ul")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not toc_list.is_visible()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert toc_list.is_visible()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not toc_list.is_visible()


# For a useful failure message: the elements that stick out to the right.
_WIDEST_ELEMENTS = """width => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > width + 0.5)
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : '')
    + ' right=' + Math.round(e.getBoundingClientRect().right))"""


def test_dark_mode_changes_background(new_page: NewPage, site: Site) -> None:
    page, _ = open_site(new_page, site)
    background = "getComputedStyle(document.body).backgroundColor"
    page.emulate_media(color_scheme="light")
    light = page.evaluate(background)
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(background)
    assert light != dark, f"body background is {light} in both light and dark mode"


def test_readable_without_javascript(new_page: NewPage, site: Site) -> None:
    page, _ = open_site(new_page, site, java_script_enabled=False)
    assert page.locator("h1.title").is_visible()
    assert "Biomedical Foundation Models" in page.locator("h1.title").inner_text()
    headings = page.locator("main h2")
    assert headings.count() >= 8
    for i in range(headings.count()):
        assert headings.nth(i).is_visible(), headings.nth(i).inner_text()
    assert page.locator(f"#{TEST_SECTION} > h2").is_visible()
    assert page.locator("nav#TOC > ul").is_visible(), "the TOC list is hidden without JS"
    refs = page.locator("#refs .csl-entry")
    assert refs.count() == len(site.titles)
    text = page.locator("#refs").inner_text()
    for title in site.titles.values():
        assert title in text
    # every in-page link has a target (evaluate works with page scripts disabled)
    broken = page.evaluate(
        """() => Array.from(document.querySelectorAll('a[href^="#"]'))
             .map(a => a.getAttribute('href'))
             .filter(h => h.length > 1
               && !document.getElementById(decodeURIComponent(h.slice(1))))"""
    )
    links = page.locator('a[href^="#"]').count()
    assert links > 10
    assert not broken, f"in-page links without a matching id: {broken}"


_AXE_RUN = """() => axe.run(document).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 160),
                            summary: (n.failureSummary || '').replace(/\\s+/g, ' ')}))})))"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_no_serious_violations(
    new_page: NewPage, site: Site, axe_js: Path, scheme: str
) -> None:
    page, _ = open_site(new_page, site, color_scheme=scheme)
    page.add_script_tag(path=str(axe_js))
    violations = page.evaluate(_AXE_RUN)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    report = "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}\n"
        + "\n".join(f"    {n['target']}: {n['html']}\n      {n['summary']}" for n in v["nodes"])
        for v in bad
    )
    assert not bad, f"axe-core found serious/critical violations ({scheme} mode):\n{report}"


def test_page_weight_and_metrics(new_page: NewPage, site: Site) -> None:
    page, _ = new_page()
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(site.url, wait_until="load")
    page.wait_for_load_state("networkidle")
    weight = 0
    counted = []
    for response in responses:
        if response.request.resource_type in ("document", "stylesheet", "script"):
            size = len(response.body())
            weight += size
            counted.append((response.url, size))
    nav = page.evaluate(
        """() => { const n = performance.getEntriesByType('navigation')[0];
                   return {domInteractive: n.domInteractive, transferSize: n.transferSize,
                           encodedBodySize: n.encodedBodySize}; }"""
    )
    metrics = {
        "page_weight_bytes": weight,
        "page_weight_budget_bytes": PAGE_WEIGHT_BUDGET,
        "counted": [{"url": url, "bytes": size} for url, size in counted],
        "dom_interactive_ms": round(nav["domInteractive"], 1),
        "navigation_transfer_size": nav["transferSize"],
    }
    out = site.root / "output" / "browser-metrics.json"
    out.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"\npage weight (HTML+CSS+JS, no images): {weight} bytes "
          f"({weight / 1024:.1f} KiB, budget {PAGE_WEIGHT_BUDGET // 1024} KiB); "
          f"domInteractive: {nav['domInteractive']:.1f} ms; written to {out}")
    assert counted and counted[0][1] > 0, "the HTML document was not counted"
    assert weight < PAGE_WEIGHT_BUDGET, f"page weight {weight} bytes over budget: {counted}"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR", f"{path.name}: first chunk is not IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_command_writes_pngs(built_root: Path, chromium: Path) -> None:
    completed = run_manuscript(built_root, "screenshot")
    shots = built_root / "output" / "screenshots"
    expected = {
        f"{device}-{scheme}.png": width
        for device, width in (("desktop-1280", 1280), ("phone-375", 375))
        for scheme in ("light", "dark")
    }
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(expected), completed.stderr
    for name, width in expected.items():
        w, h = _png_size(shots / name)
        assert w == width, f"{name}: width {w}, expected {width}"
        assert h > 0
        assert name in completed.stderr  # the command says what it wrote
