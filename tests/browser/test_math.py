"""Math in Chromium: the showcase fixture's 10.math.md, as readers see it.

Display equations centred in their column, numbers at the right, inline math at the
size of the text, no horizontal page scroll on a phone and a visible cue (a shadow at
the edge) on every equation that scrolls sideways, and no serious axe violation in the
math section.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from helpers import ROOT, copy_manuscript, run_manuscript
from manuscript.screenshot import serve_directory

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 800}
SECTION = "section:has(> h2[data-bookmark])"  # the fixture's math section


@pytest.fixture(scope="module")
def showcase_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = copy_manuscript(ROOT / "tests" / "fixtures" / "showcase",
                           tmp_path_factory.mktemp("showcase-browser"))
    run_manuscript(root, "build", "--offline", "--no-pdf")
    with serve_directory(root / "output") as url:
        yield url + "manuscript.html"


@pytest.fixture
def open_page(browser: Browser, showcase_url: str) -> Iterator:
    contexts = []

    def make(viewport: dict, scheme: str = "light") -> Page:
        # bypass_csp: axe-core is injected inline, which the page's CSP refuses
        context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(showcase_url)
        page.wait_for_load_state("load")
        return page

    yield make
    for context in contexts:
        context.close()


_GEOMETRY = """(sel) => [...document.querySelectorAll(sel + ' mjx-container[display="true"]')]
  .map(c => {
    const svg = c.querySelector(':scope > svg').getBoundingClientRect();
    const box = c.getBoundingClientRect();
    const eq = c.closest('.eqnos');
    const column = (eq || c).parentElement.getBoundingClientRect();
    const number = eq && eq.querySelector('.eqnos-number').getBoundingClientRect();
    return {tex: c.dataset.tex, numbered: !!eq, scrolls: c.scrollWidth > c.clientWidth + 1,
            svgCenter: (svg.left + svg.right) / 2, boxLeft: box.left, boxRight: box.right,
            columnCenter: (column.left + column.right) / 2, columnRight: column.right,
            numberLeft: number && number.left, numberRight: number && number.right};
  })"""


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_unnumbered_display_equations_are_centred(open_page, viewport: dict) -> None:
    page = open_page(viewport)
    equations = [e for e in page.evaluate(_GEOMETRY, SECTION) if not e["numbered"]]
    assert len(equations) >= 4
    for eq in equations:
        if eq["scrolls"]:
            continue  # wider than the column: it starts at the left edge and scrolls
        assert abs(eq["svgCenter"] - eq["columnCenter"]) <= 4, eq


def test_numbered_equations_centred_with_the_number_at_the_right(open_page) -> None:
    page = open_page(DESKTOP)
    equations = [e for e in page.evaluate(_GEOMETRY, SECTION) if e["numbered"]]
    assert len(equations) == 4
    for eq in equations:
        assert abs(eq["numberRight"] - eq["columnRight"]) <= 2, eq
        assert eq["numberLeft"] >= eq["boxRight"] - 1, eq  # number never over the formula
        if not eq["scrolls"]:
            assert abs(eq["svgCenter"] - eq["columnCenter"]) <= 4, eq


def test_inline_math_is_text_sized(open_page) -> None:
    page = open_page(DESKTOP)
    ratios = page.evaluate("""(sel) => [...document.querySelectorAll(
        sel + ' p > mjx-container:not([display]), ' + sel + ' figcaption mjx-container')]
      .map(c => c.querySelector('svg').getBoundingClientRect().height
                / parseFloat(getComputedStyle(c.parentElement).fontSize))""", SECTION)
    assert len(ratios) == 7  # four in the first paragraph, three in the caption
    # One line of text is ~1.2 em; a formula with a sum's limits or a hat reaches ~2 em.
    assert all(0.5 < ratio < 2.2 for ratio in ratios), ratios


def _background_rgb(page: Page) -> tuple[int, int, int]:
    color = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return tuple(int(v) for v in color[color.index("(") + 1:-1].split(",")[:3])


def _edge_contrast(png: bytes, background: tuple[int, int, int]) -> tuple[float, float]:
    """Largest colour distance from the background in the left and right 6 px strips."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size

    def strip(x0: int, x1: int) -> float:
        return max(sum(abs(a - b) for a, b in zip(image.getpixel((x, y)), background,
                                                  strict=True))
                   for x in range(x0, x1) for y in range(height))

    return strip(0, 6), strip(width - 6, width)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_no_page_scroll_and_a_cue_on_each_scrolling_equation(
        open_page, scheme: str) -> None:
    page = open_page(PHONE, scheme)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    background = _background_rgb(page)
    containers = page.locator(f'{SECTION} mjx-container[display="true"]')
    scrolling = 0
    for i in range(containers.count()):
        container = containers.nth(i)
        if not container.evaluate("c => c.scrollWidth > c.clientWidth + 1"):
            continue
        scrolling += 1
        # The formula itself hidden, what is left at the edges is the cue alone.
        container.evaluate("c => { c.scrollLeft = 0; c.querySelector('svg').style.visibility = "
                           "'hidden'; }")
        left, right = _edge_contrast(container.screenshot(), background)
        assert right > 60 and left < 20, (container.get_attribute("data-tex"), left, right)
        container.evaluate("c => { c.scrollLeft = c.scrollWidth; }")
        left, right = _edge_contrast(container.screenshot(), background)
        assert left > 60 and right < 20, (container.get_attribute("data-tex"), left, right)
    assert scrolling >= 2, "the fixture has equations wider than a phone"


_AXE_RUN = """(sel) => axe.run(document.querySelector(sel)).then(r => r.violations
  .filter(v => v.impact === 'serious' || v.impact === 'critical')
  .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))"""


def test_axe_math_section(open_page, axe_js: Path) -> None:
    page = open_page(DESKTOP)
    page.add_script_tag(path=str(axe_js))
    assert page.evaluate(_AXE_RUN, SECTION) == []
    # Screen readers get MathML for every formula; the SVG is hidden from them.
    counts = page.evaluate("""(sel) => {
      const all = [...document.querySelectorAll(sel + ' mjx-container')];
      return [all.length, all.filter(c => c.querySelector(
        ':scope > mjx-assistive-mml > math') && c.querySelector(
        ':scope > svg[aria-hidden="true"]')).length]; }""", SECTION)
    assert counts[0] > 15 and counts[0] == counts[1]
