"""Reading the page: references, phones, dark mode, the table dialog — on the showcase
fixture and the six shared corpus manuscripts (skipped without ../shared).

Fonts are reported beside the page-weight budget (they do not count against it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from manuscript.screenshot import serve_directory
from reading import MANUSCRIPTS, build_reading

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE = {"width": 375, "height": 667}
# bytes of web fonts a page may fetch: reported, and capped against regressions. An English
# page fetches the "latin" parts (~200 KB); a back-link arrow, ✉ or superscripts add the
# "ext" parts and symbol fonts the browser must open to find the glyph.
FONT_BUDGET = 450 * 1024


@pytest.fixture(scope="module", params=MANUSCRIPTS)
def reading_url(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_reading(request.param, tmp_path_factory)
    with serve_directory(root / "webpage") as url:
        yield url


@pytest.fixture
def open_page(browser: Browser, reading_url: str) -> Iterator[Any]:
    contexts = []

    def make(**options: Any) -> Page:
        options.setdefault("viewport", {"width": 1280, "height": 800})
        options.setdefault("reduced_motion", "reduce")  # no transitions: read end states
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.goto(reading_url, wait_until="load")
        page.evaluate("document.fonts.ready.then(() => true)")
        return page

    yield make
    for context in contexts:
        context.close()


_OVERLAPS = """() => {
  const bad = [];
  for (const entry of document.querySelectorAll('#refs .csl-entry')) {
    const num = entry.querySelector('.csl-left-margin');
    const body = entry.querySelector('.csl-right-inline');
    if (!num || !body) continue;
    const n = num.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(body);
    for (const r of range.getClientRects()) {
      if (r.width === 0 || r.height === 0) continue;
      const x = Math.min(n.right, r.right) - Math.max(n.left, r.left);
      const y = Math.min(n.bottom, r.bottom) - Math.max(n.top, r.top);
      if (x > 0.5 && y > 0.5) { bad.push(entry.id + ': ' + num.textContent.trim()); break; }
    }
  }
  return {bad, count: document.querySelectorAll('#refs .csl-entry').length};
}"""


@pytest.mark.parametrize("width", [1280, 375])
def test_reference_numbers_do_not_overprint_their_entries(open_page: Any, width: int) -> None:
    page = open_page(viewport={"width": width, "height": 800})
    result = page.evaluate(_OVERLAPS)
    assert result["count"] > 0, "no reference entries"
    assert not result["bad"], f"numbers overlapping their entry's text: {result['bad'][:5]}"


_SIDEWAYS = """() => Array.from(document.querySelectorAll('main *'))
  .filter(e => e.scrollWidth > e.clientWidth + 1
    && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)
    && !e.closest('math, .math, .eqnos'))  /* math scrolling is the math styles' own */
  .map(e => {
    const s = getComputedStyle(e);
    return {el: e.tagName.toLowerCase() + '.' + (e.className || ''),
            cue: s.backgroundImage.includes('gradient')
              && s.backgroundAttachment.includes('local')};
  })"""


def test_phone_no_page_scroll_and_a_cue_on_whatever_scrolls_sideways(open_page: Any) -> None:
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    scrollers = page.evaluate(_SIDEWAYS)
    missing = [s["el"] for s in scrollers if not s["cue"]]
    assert not missing, f"scrolls sideways without a visible cue: {missing}"


def test_phone_heading_anchors_hidden_until_focus(open_page: Any) -> None:
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    anchors = page.locator("main .anchor")
    if not anchors.count():
        pytest.skip("no heading anchors")
    assert anchors.first.evaluate("a => getComputedStyle(a).opacity") == "0"
    anchors.first.focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")
    assert anchors.first.evaluate("a => getComputedStyle(a).opacity") == "1"


def test_figures_dimmed_in_dark_mode_and_preview_on_its_own_surface(open_page: Any) -> None:
    page = open_page(color_scheme="dark")
    images = page.locator("figure img:not(.white):not(.no-dim)")
    if images.count():
        assert "brightness" in images.first.evaluate("i => getComputedStyle(i).filter")
        page.emulate_media(color_scheme="light")
        assert images.first.evaluate("i => getComputedStyle(i).filter") == "none"
        page.emulate_media(color_scheme="dark")
    citation = page.locator('.citation a[href^="#ref-"]').first
    citation.focus()
    tip = page.locator('[role="tooltip"]')
    tip.wait_for(state="visible")
    body = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert tip.evaluate("t => getComputedStyle(t).backgroundColor") != body


def test_table_dialog_opens_at_the_first_column(open_page: Any) -> None:
    page = open_page(viewport=PHONE, is_mobile=True, has_touch=True)
    button = page.locator(".zoom-table-btn:visible").first
    if not button.count():
        pytest.skip("no table wider than a phone")
    button.click()
    dialog = page.locator("dialog.zoom-dialog[open]")
    dialog.wait_for()
    state = page.evaluate("""() => {
      const body = document.querySelector('dialog[open] .zoom-body');
      const cell = body.querySelector('tr > *');
      return {scrollLeft: body.scrollLeft, overflow: body.scrollWidth > body.clientWidth,
              cellLeft: cell.getBoundingClientRect().left,
              bodyLeft: body.getBoundingClientRect().left};
    }""")
    assert state["overflow"], "the enlarged table fits a phone; nothing to check"
    assert state["scrollLeft"] == 0
    assert state["cellLeft"] >= state["bodyLeft"] - 0.5, state


def test_fonts_reported_beside_the_page_weight(
    browser: Browser, reading_url: str, tmp_path: Path
) -> None:
    context = browser.new_context()
    page = context.new_page()
    fonts: list[tuple[str, int]] = []
    page.on("response", lambda r: r.request.resource_type == "font"
            and fonts.append((r.url.rsplit("/", 1)[-1], len(r.body()))))
    page.goto(reading_url, wait_until="load")
    page.evaluate("document.fonts.ready.then(() => true)")
    page.wait_for_load_state("networkidle")
    context.close()
    total = sum(size for _, size in fonts)
    print(f"\nweb fonts fetched: {total} bytes ({total / 1024:.1f} KiB): "
          + json.dumps(dict(fonts)))
    assert fonts, "the page fetched none of its bundled fonts"
    assert all(name.endswith(".woff2") for name, _ in fonts)
    assert total < FONT_BUDGET, f"fonts {total} bytes over {FONT_BUDGET}: {fonts}"
