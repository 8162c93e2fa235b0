"""Math in both outputs: the showcase fixture's 10.math.md and the corpus manuscripts.

The HTML must carry one typeset formula (SVG + assistive MathML) per formula of the
source, numbered equations must keep their ids, numbers and links, and math in captions
and headings must stay inline. The PDF must draw nothing beyond its pages, hold no TeX
in its text layer, print the equation numbers and name headings with math in its
bookmarks. Bad TeX warns with its file:line and shows its source in both outputs.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from helpers import (
    CORPUS,
    CORPUS_MANUSCRIPTS,
    ROOT,
    copy_manuscript,
    corpus_build,
    parse_html,
    run_manuscript,
    select,
    text_of,
)
from manuscript import pandoc

SHOWCASE = ROOT / "tests" / "fixtures" / "showcase"
# TeX command names that must never reach a PDF's text layer: their presence means a
# formula was set as text (the former "\big\langle" → "\ langle" bug, or a fallback).
TEX_NAMES = ("\\left", "\\right", "\\langle", "langle", "rangle", "\\frac", "\\sum",
             "\\prod", "\\widehat", "\\underbrace", "\\boxed", "\\begin", "\\end{",
             "\\mathbb", "\\text", "\\int", "\\partial", "pmatrix", "bmatrix")
_SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("showcase"))
    completed = run_manuscript(root, "build", "--offline")
    assert "math could not be typeset" not in completed.stderr, completed.stderr
    return root


@pytest.fixture(scope="module", params=CORPUS_MANUSCRIPTS)
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus manuscript as tests/test_corpus.py builds it (the same build, once)."""
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    build = corpus_build(request.param, tmp_path_factory)
    assert build.returncode == 0, build.stderr
    return build.root


def _source_formulas(root: Path) -> list[tuple[bool, str]]:
    """(display?, TeX) of every Math element pandoc reads in the processed Markdown,
    but for an image's alt text (a figure's caption repeated, as plain text)."""
    ast = pandoc.markdown_to_ast((root / "output" / "manuscript.md").read_text("utf-8"))
    found, stack = [], [ast["blocks"]]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and item.get("t") == "Math":
            found.append((item["c"][0]["t"] == "DisplayMath", item["c"][1]))
        elif isinstance(item, dict) and item.get("t") != "Image":
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _article(root: Path):
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    return next(iter(select(page, "article#content")))


# ---- HTML -------------------------------------------------------------------------------

def test_every_formula_is_typeset_once_in_place(showcase: Path) -> None:
    article = _article(showcase)
    formulas = _source_formulas(showcase)
    containers = select(article, "mjx-container")
    assert len(containers) == len(formulas) > 15
    assert sorted((c.etree_element.get("display") == "true", c.etree_element.get("data-tex"))
                  for c in containers) == sorted(formulas)
    assert not select(article, ".math-error")
    # No pandoc MathML is left over: every <math> is assistive MathML beside an SVG.
    for container in containers:
        svg = container.etree_element.find(f"{_SVG}svg")
        assert svg is not None and svg.get("aria-hidden") == "true"
        assert select(container, "mjx-assistive-mml > math")
    assert len(select(article, "math")) == len(containers)


def test_numbered_equations_keep_ids_numbers_and_links(showcase: Path) -> None:
    article = _article(showcase)
    numbered = select(article, "span.eqnos[id^='eq:']")
    labels = [n.etree_element.get("id") for n in numbered]
    assert labels == ["eq:norm", "eq:likelihood", "eq:abs", "eq:long"]
    for n, element in enumerate(numbered, start=1):
        assert select(element, "mjx-container[display='true']")
        assert text_of(select(element, ".eqnos-number")[0]) == f"({n})"
    links = {a.etree_element.get("href"): text_of(a) for a in select(article, "a[href^='#eq:']")}
    assert links == {f"#{label}": str(n) for n, label in enumerate(labels, start=1)}


def test_math_in_captions_and_headings_stays_inline(showcase: Path) -> None:
    article = _article(showcase)
    caption_math = select(article, "figcaption mjx-container")
    assert len(caption_math) == 3
    assert all(m.etree_element.get("display") is None for m in caption_math)
    heading = select(article, "h2[data-bookmark]")
    assert len(heading) == 1
    assert select(heading[0], "mjx-container:not([display])")
    assert heading[0].etree_element.get("data-bookmark") == \
        "Mathematics with $\\widehat{\\theta}$ in the heading"


def test_display_math_inside_a_paragraph_stays_in_it(showcase: Path) -> None:
    article = _article(showcase)
    for paragraph in select(article, "p"):
        element = paragraph.etree_element
        holds_display = any(child.tag.endswith("mjx-container")
                            and child.get("display") == "true" for child in element)
        if holds_display and (element.text or "").strip() \
                and text_of(paragraph).endswith("same paragraph."):
            return
    pytest.fail("no paragraph holds text, a display formula and more text")


# ---- PDF --------------------------------------------------------------------------------

ALL_KINDS = ("images", "curves", "rects", "lines", "chars")


def _pdf_problems(path: Path, kinds: tuple[str, ...] = ALL_KINDS) -> list[str]:
    """Drawings, images or characters reaching beyond their page's box."""
    import pdfplumber

    problems = []
    with pdfplumber.open(path) as pdf:
        for page in pdf.pages:
            x0, top, x1, bottom = page.bbox
            for kind in kinds:
                for obj in getattr(page, kind):
                    if _invisible(obj):
                        continue
                    if (obj["x0"] < x0 - 1 or obj["x1"] > x1 + 1
                            or obj["top"] < top - 1 or obj["bottom"] > bottom + 1):
                        problems.append(f"page {page.page_number}: {kind[:-1]} at "
                                        f"({obj['x0']:.0f}, {obj['top']:.0f})-"
                                        f"({obj['x1']:.0f}, {obj['bottom']:.0f})")
    return problems


def _invisible(obj: dict) -> bool:
    """A white area with no outline: a figure's own background (ccc's SVG figures draw
    one wider than the part they show, clipped), which no reader can see on paper."""
    return (obj.get("object_type") == "rect" and obj.get("fill")
            and not obj.get("stroke") and obj.get("non_stroking_color") in ((1.0, 1.0, 1.0),
                                                                           (1,), [1.0, 1.0, 1.0]))


def _pdf_text(path: Path) -> str:
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return "\n".join(page.extract_text() or "" for page in pdf.pages)


def _pdf_alt_texts(path: Path) -> set[str]:
    from pypdf import PdfReader

    texts, stack = set(), [PdfReader(path).trailer["/Root"]["/StructTreeRoot"]]
    while stack:
        node = stack.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if isinstance(node, dict):
            if "/Alt" in node:
                texts.add(str(node["/Alt"]))
            kids = node.get("/K")
            stack.extend(kids if isinstance(kids, list) else [kids] if kids else [])
    return texts


def test_pdf_draws_math_within_pages_without_tex_text(showcase: Path) -> None:
    pdf = showcase / "output" / "manuscript.pdf"
    assert _pdf_problems(pdf) == []
    text = _pdf_text(pdf)
    assert [name for name in TEX_NAMES if name in text] == []
    for n in range(1, 5):
        assert f"({n})" in text
    # Each formula is a drawing whose alt text (tagged PDF) is its TeX.
    assert {tex for _, tex in _source_formulas(showcase)} <= _pdf_alt_texts(pdf)


def test_pdf_bookmark_names_math_in_headings(showcase: Path) -> None:
    from pypdf import PdfReader

    def titles(outline) -> list[str]:
        return [t for item in outline
                for t in (titles(item) if isinstance(item, list) else [item.title])]

    names = titles(PdfReader(showcase / "output" / "manuscript.pdf").outline)
    assert "Mathematics with $\\widehat{\\theta}$ in the heading" in names


def test_pdf_math_letters_are_text_sized(showcase: Path) -> None:
    """Inline math on a text line spans about the height of that line's letters."""
    import pdfplumber

    with pdfplumber.open(showcase / "output" / "manuscript.pdf") as pdf:
        page = next(p for p in pdf.pages if "Inline math sits" in (p.extract_text() or ""))
        word = next(w for w in page.extract_words() if w["text"] == "uses")
        size = word["bottom"] - word["top"]  # the font size of the running text
        # Drawings on the text line of "uses", after \widehat{xyz} := \big\langle u, v \big\rangle
        glyphs = [c for c in page.curves
                  if c["bottom"] > word["top"] and c["top"] < word["bottom"]]
    assert glyphs, "no math drawn on the line"
    extent = max(c["bottom"] for c in glyphs) - min(c["top"] for c in glyphs)
    assert 0.9 * size < extent < 2 * size


def test_corpus_math_in_both_outputs(corpus: Path) -> None:
    formulas = _source_formulas(corpus)
    article = _article(corpus)
    assert len(select(article, "mjx-container")) == len(formulas)
    pdf = corpus / "output" / "manuscript.pdf"
    assert _pdf_problems(pdf) == []  # math, tables, placeholders: nothing leaves the page
    text = _pdf_text(pdf)
    assert [name for name in TEX_NAMES if name in text] == []
    numbers = [text_of(n) for n in select(article, ".eqnos-number")]
    assert all(number in text for number in numbers)


# ---- bad and hostile TeX -------------------------------------------------------------

BAD = """## Bad math

Fine $x^2$ and broken $\\notamacro{y}$ inline.

$$\\frac{a}{b$$ {#eq:broken}

A link in math $\\href{javascript:alert(1)}{z}$ stays inert.
"""


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("bad-math"))
    (root / "content" / "10.math.md").write_text(BAD, encoding="utf-8")
    return root, run_manuscript(root, "build", "--offline")


def test_bad_tex_warns_with_file_and_line(bad) -> None:
    _, completed = bad
    warnings = [line for line in completed.stderr.splitlines() if "could not be typeset" in line]
    assert len(warnings) == 2, completed.stderr
    assert re.search(r"content/10\.math\.md:3: math could not be typeset "
                     r"\(Undefined control sequence \\notamacro\)", warnings[0] + warnings[1])
    assert any("content/10.math.md:5:" in w for w in warnings)


def test_bad_tex_shows_its_source_in_both_outputs(bad) -> None:
    root, _ = bad
    article = _article(root)
    errors = [text_of(e) for e in select(article, "code.math-error")]
    assert sorted(errors) == ["\\frac{a}{b", "\\notamacro{y}"]
    assert select(article, "span#eq\\:broken code.math-error.display")
    text = _pdf_text(root / "output" / "manuscript.pdf")
    assert "\\notamacro{y}" in text and "\\frac{a}{b" in text


def test_links_in_math_cannot_run_script(bad) -> None:
    root, _ = bad
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert 'data-tex="\\href{javascript:alert(1)}{z}"' in html  # typeset, not refused
    assert not re.search(r"href=[\"']?\s*javascript:", html, re.IGNORECASE)


def test_formulas_are_cached_between_builds(tmp_path: Path) -> None:
    root = copy_manuscript(SHOWCASE, tmp_path)
    run_manuscript(root, "build", "--offline", "--no-pdf")
    cache = root / "ci" / "cache" / "math.json"
    entries = json.loads(cache.read_text(encoding="utf-8"))
    assert len(entries) == len(set(_source_formulas(root)))
    # A text edit rebuilds the page; the formulas come from the cache, not MathJax.
    first = next(iter(entries))
    entries[first]["html"] = '<span class="from-the-cache"></span>'
    cache.write_text(json.dumps(entries), encoding="utf-8")
    abstract = root / "content" / "01.abstract.md"
    abstract.write_text(abstract.read_text(encoding="utf-8") + "\nOne more line.\n", "utf-8")
    run_manuscript(root, "build", "--offline", "--no-pdf")
    html = root / "output" / "manuscript.html"
    assert 'class="from-the-cache"' in html.read_text(encoding="utf-8")
    # A damaged cache is ignored and rewritten.
    cache.write_text("{not json", encoding="utf-8")
    abstract.write_text(abstract.read_text(encoding="utf-8") + "\nAnd another.\n", "utf-8")
    run_manuscript(root, "build", "--offline", "--no-pdf")
    assert 'class="from-the-cache"' not in html.read_text(encoding="utf-8")
    assert len(json.loads(cache.read_text(encoding="utf-8"))) == len(entries)


def test_typesets_where_an_asyncio_loop_runs() -> None:
    """A process that also drives a browser (Playwright's sync API keeps an asyncio loop
    running in its thread) still typesets: mini-racer adopted that loop and then refused
    every call with a time limit (the in-process builds after the browser tests)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from manuscript.math import Engine, Formula

    async def typeset() -> str | None:
        with Engine() as engine:
            return engine.typeset(Formula("x^2", False)).error

    # In a thread of its own: this test's worker may drive Chromium, whose loop runs here.
    with ThreadPoolExecutor(1) as thread:
        assert thread.submit(asyncio.run, typeset()).result() is None
