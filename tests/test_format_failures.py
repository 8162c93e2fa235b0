"""The Typst PDF and the format workers (Word, JATS, LaTeX) never crash on real Markdown.

Each failure found on real manuscripts (issue 20) is a small document here, built with
``--pdf-engine typst --format docx --format jats --format latex`` through the real CLI,
and each output read back (pdfplumber/pypdf, lxml, python-docx): a heading with
emphasis, TeX Typst's own math did not know (``\\S``, ``\\otimes``, ``\\big\\|``), a
reference to a figure that does not exist, raw Typst, JATS and OpenXML that Typst or
XML refuses. What one format cannot render is left out with a warning naming the
Markdown ``file:line``; the file is still written. An unexpected exception in a worker
is one typed line naming the format.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from test_corpus import _pdf_alt_texts

ALL = ("--format", "docx", "--format", "jats", "--format", "latex", "--pdf-engine", "typst")
SECTION = "content/02.trouble.md"

# Line numbers below are the lines of TROUBLE (1-based), asserted in the warnings.
TROUBLE = r"""## Trouble {#trouble}

#### *De novo* drug design with `code` and $x^2$

Inline $a \otimes b$, a section sign $\S 3$ and norms $\|\beta\|_2^2$, $\big\| x \big\|$.

$$ a = b \otimes c $$ {#eq:first}

See @eq:first, @fig:missing, [a dead link](#nowhere) and [the code](#listing).

[]{#anchor} An empty anchor right after a paragraph.

```{#listing}
print("code")
```

```{=typst}
#no-such-function()
```

Inline raw `#also-missing()`{=typst} here, and this sentence stays.

```{=jats}
<p>unclosed & broken
```

```{=openxml}
<w:p><w:r><w:t>Raw Word paragraph</w:t></w:r></w:p>
```

Word raw `<w:r><w:t>bad</w:r>`{=openxml} inline.

![R&D <b>icons</b> with $P<0.05$ and *emphasis*.](images/github.svg){#fig:icon}

See @fig:icon.

### A heading with an anchor right after it {#anchored}

[]{#right-after}Typst gave the anchor's label to the heading; see [the heading](#anchored)
and [the anchor](#right-after).
"""
RAW_TYPST_BLOCK_LINE = 18  # the raw's line with the error
RAW_TYPST_INLINE_LINE = 21
RAW_JATS_LINE = 24
RAW_OPENXML_INLINE_LINE = 31
FORMULAS = {"x^2", r"a \otimes b", r"\S 3", r"\|\beta\|_2^2", r"\big\| x \big\|",
            r"a = b \otimes c"}


def _trouble_manuscript(tmp_path: Path) -> Path:
    root = copy_manuscript(ROOT, tmp_path)
    for section in (root / "content").glob("[0-9]*.md"):
        if section.name not in ("00.front-matter.md", "01.abstract.md"):
            section.unlink()
    (root / SECTION).write_text(TROUBLE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def trouble(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = _trouble_manuscript(tmp_path_factory.mktemp("trouble"))
    completed = run_manuscript(root, "build", *ALL)
    return root, completed.stderr


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_builds_every_format_without_a_traceback_or_temporary_path(trouble) -> None:
    root, stderr = trouble
    assert "Traceback" not in stderr
    assert "manuscript-worker" not in stderr and ".typ:" not in stderr, stderr
    for name in ("manuscript.pdf", "manuscript.docx", "manuscript.jats.xml",
                 "manuscript.tex"):
        assert (root / "output" / name).stat().st_size > 0


def test_typst_pdf_has_the_heading_and_the_equation_number(trouble) -> None:
    import pdfplumber

    root, _ = trouble
    with pdfplumber.open(root / "output" / "manuscript.pdf") as pdf:
        text = " ".join((page.extract_text() or "") for page in pdf.pages)
    text = " ".join(text.split())
    assert "De novo drug design with code and" in text
    assert "(1)" in text  # the equation's number, beside its formula
    assert "??" in text  # the unknown figure, as the HTML prints it
    assert "a dead link" in text and "this sentence stays" in text
    assert "Typst gave the anchor\u2019s label to the heading" in text


def test_stringify_takes_every_inline_and_any_json() -> None:
    """Pandoc's stringify: what a heading's plain text (Typst's repeated ids, JATS's
    reference heading) is made of; emphasis made the old one raise TypeError."""
    from manuscript.formats.document import stringify

    space = {"t": "Space"}
    inlines = [
        {"t": "Emph", "c": [{"t": "Str", "c": "De"}, space, {"t": "Str", "c": "novo"}]}, space,
        {"t": "Code", "c": [["", [], []], "code"]}, space,
        {"t": "Math", "c": [{"t": "InlineMath"}, "x^2"]}, space,
        {"t": "Quoted", "c": [{"t": "DoubleQuote"}, [{"t": "Str", "c": "q"}]]}, space,
        {"t": "Link", "c": [["", [], []], [{"t": "Str", "c": "link"}], ["#x", ""]]}, space,
        {"t": "Cite", "c": [[], [{"t": "Str", "c": "[1]"}]]},
        {"t": "Note", "c": [{"t": "Para", "c": [{"t": "Str", "c": "note"}]}]},
        {"t": "RawInline", "c": ["html", "<b>"]}, {"t": "LineBreak"},
        {"t": "Span", "c": [["", [], []], [{"t": "Strong", "c": [{"t": "Str", "c": "s"}]}]]},
        {"t": "Unknown", "c": 3}, "not a dict", {"t": "Str"}, {"t": "Span", "c": "bad"},
    ]
    assert stringify(inlines) == "De novo code x^2 \u201cq\u201d link [1] s"


def test_typst_pdf_draws_every_formula_as_mathjax_svg(trouble) -> None:
    """Each formula is an image whose alt text is its TeX (as in the WeasyPrint PDF),
    and no font of Typst's own math is in the file: no formula went through it."""
    from pypdf import PdfReader

    root, _ = trouble
    pdf = root / "output" / "manuscript.pdf"
    assert {alt.strip() for alt in _pdf_alt_texts(pdf)} >= FORMULAS
    fonts = set()
    for page in PdfReader(pdf).pages:
        for font in ((page.get("/Resources") or {}).get("/Font") or {}).values():
            fonts.add(str(font.get_object().get("/BaseFont")))
    assert fonts and not [f for f in fonts if "Math" in f], fonts


def test_each_raw_element_that_fails_is_left_out_with_its_place(trouble) -> None:
    _, stderr = trouble
    warnings = _warnings(stderr)
    expected = {
        RAW_TYPST_BLOCK_LINE: "raw Typst left out of the PDF: unknown variable: no-such-function",
        RAW_TYPST_INLINE_LINE: "raw Typst left out of the PDF: unknown variable: also-missing",
        RAW_JATS_LINE: "raw JATS left out (not well-formed XML",
        RAW_OPENXML_INLINE_LINE: "raw OpenXML left out (not well-formed XML",
    }
    for line, message in expected.items():
        found = [w for w in warnings if message in w]
        assert len(found) == 1, (message, warnings)
        assert found[0].startswith(f"warning: {SECTION}:{line}: "), found[0]


def test_jats_and_docx_are_well_formed_and_keep_the_good_raw(trouble) -> None:
    """pandoc's JATS writer copies a figure's alt text unescaped ("R&D", "P<0.05" made
    the file malformed on ccc and mpmp): it reads back as written, with no repair."""
    import docx
    from lxml import etree

    root, stderr = trouble
    assert "repaired" not in stderr
    tree = etree.parse(str(root / "output" / "manuscript.jats.xml"))
    text = "".join(tree.getroot().itertext())
    assert "De novo drug design" in text and "unclosed" not in text
    alt = ["".join(e.itertext()) for e in tree.iter("alt-text")]
    assert alt == ["R&D icons with P<0.05 and emphasis."], alt
    document = docx.Document(str(root / "output" / "manuscript.docx"))
    paragraphs = [p.text for p in document.paragraphs]
    assert "Raw Word paragraph" in paragraphs
    assert not any("bad" in p for p in paragraphs)


def test_raw_typst_left_out_fails_a_strict_build_and_keeps_the_last_pdf(
        tmp_path: Path) -> None:
    """Left out with a warning, the raw Typst still fails ``--strict`` (exit 1), and
    the last PDF stays; Typst's very long messages are cut short."""
    root = _trouble_manuscript(tmp_path)
    (root / SECTION).write_text("## Fine\n\nText.\n", encoding="utf-8")
    run_manuscript(root, "build", "--pdf-engine", "typst")
    before = (root / "output" / "manuscript.pdf").read_bytes()
    (root / SECTION).write_text("## Fine\n\nText.\n\n```{=typst}\n#set page(paper: \"no-such\")"
                                "\n```\n", encoding="utf-8")
    completed = run_manuscript(root, "build", "--pdf-engine", "typst", "--strict", check=False)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr and ".typ:" not in completed.stderr
    warning = [line for line in completed.stderr.splitlines()
               if f"{SECTION}:6: raw Typst left out of the PDF" in line]
    assert len(warning) == 1 and len(warning[0]) < 400, completed.stderr
    assert (root / "output" / "manuscript.pdf").read_bytes() == before


def test_a_typst_error_in_no_element_is_a_render_error_naming_no_temporary_file(
        tmp_path: Path) -> None:
    """Outside every element (the template, say) there is nothing to leave out: a
    RenderError with Typst's message and the offending code, never the .typ's path."""
    from manuscript.errors import RenderError
    from manuscript.formats.typst_pdf import compile_pdf

    with pytest.raises(RenderError) as raised:
        compile_pdf(b"#let x = 1\n#no-such-function()\n", tmp_path, {})
    message = str(raised.value)
    assert message.startswith("Typst failed: unknown variable: no-such-function")
    assert "`#no-such-function()`" in message
    assert str(tmp_path) not in message and ".typ" not in message


def test_an_unexpected_exception_in_a_worker_is_one_typed_line(tmp_path: Path) -> None:
    """A bug of ours in a format (forced here by a ``sitecustomize`` that breaks the
    JATS post-processing in every interpreter, the worker's included) is one error line
    naming the format, exit 1, no traceback, and nothing already built is lost."""
    root = _trouble_manuscript(tmp_path / "m")
    (root / SECTION).write_text("## Fine\n\nText.\n", encoding="utf-8")
    run_manuscript(root, "build", "--format", "jats")
    before = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import manuscript.formats.jats as jats\n\n"
        "def broken(*args, **kwargs):\n"
        "    raise KeyError('forced by the test')\n\n"
        "jats.finish = broken\n", encoding="utf-8")
    (root / SECTION).write_text("## Fine\n\nText, changed.\n", encoding="utf-8")
    completed = run_manuscript(root, "build", "--format", "jats", check=False,
                               env=clean_env(PYTHONPATH=str(hook)))
    assert completed.returncode == 1, completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, completed.stderr
    assert re.search(r"JATS \(manuscript\.jats\.xml\) could not be made: unexpected KeyError: "
                     r"'forced by the test'", errors[0]), errors[0]
    assert "Traceback" not in completed.stderr
    after = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    assert after == before


def test_a_huge_svg_is_rasterised_for_word_at_most_a_page_large(tmp_path: Path) -> None:
    """ccc's figure says it is 330 cm square: at 200 ppi that was a 26000-pixel PNG and
    2.7 GB of memory in the format worker (killed at 15 GB in a full build)."""
    from PIL import Image

    from manuscript.formats import images

    (tmp_path / "huge.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="330cm" height="300cm" '
        'viewBox="0 0 330 300"><rect width="330" height="300" fill="#08f"/></svg>',
        encoding="utf-8")
    (tmp_path / "small.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="2cm" height="1cm" '
        'viewBox="0 0 2 1"><rect width="2" height="1"/></svg>', encoding="utf-8")
    huge = Image.open(tmp_path / images._raster(tmp_path, "huge.svg")).size
    small = Image.open(tmp_path / images._raster(tmp_path, "small.svg")).size
    px_per_cm = images.RASTER_PPI / 2.54
    assert huge[0] <= images.MAX_RASTER_CM[0] * px_per_cm + 2
    assert abs(huge[0] / huge[1] - 1.1) < 0.01  # the shape kept
    assert abs(small[0] - 2 * px_per_cm) <= 2  # a small one keeps its size


def test_an_unexpected_exception_names_the_section_of_the_element_it_met(
        tmp_path: Path) -> None:
    """The typed error of a bug names the Markdown place of the AST element the failing
    code was handling (here a heading pandoc would never make: no Attr)."""
    from manuscript.config import make_config
    from manuscript.errors import RenderError
    from manuscript.formats import render_formats
    from manuscript.render import find_theme

    root = _trouble_manuscript(tmp_path)
    (root / SECTION).write_text("## Intro\n\nText.\n\n## A heading nobody else has\n",
                                encoding="utf-8")
    config = make_config(root, env={"MANUSCRIPT_OFFLINE": "1"})
    words = [{"t": "Str", "c": "A"}, {"t": "Space"}, {"t": "Str", "c": "heading"},
             {"t": "Space"}, {"t": "Str", "c": "nobody"}, {"t": "Space"},
             {"t": "Str", "c": "else"}]
    ast = {"pandoc-api-version": [1, 23, 1], "meta": {},
           "blocks": [{"t": "Header", "c": [2, None, words]}]}
    with pytest.raises(RenderError) as raised:
        render_formats(config, ast, [], {}, find_theme(config), ["jats"])
    error = raised.value
    assert error.message.startswith("JATS (manuscript.jats.xml) could not be made: "
                                    "unexpected TypeError")
    assert (error.path, error.line) == (root / SECTION, 5)


def test_an_image_typst_cannot_decode_is_a_placeholder_with_its_place(tmp_path: Path) -> None:
    """A figure whose file Typst cannot read: the PDF is still written, with a marked
    placeholder where the figure was and the figure's number still linked; the warning
    names the Markdown line and no temporary folder."""
    import pdfplumber

    root = _trouble_manuscript(tmp_path)
    (root / "content" / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot a png")
    (root / SECTION).write_text("## Fine\n\nText.\n\n![A broken image](images/broken.png)"
                                "{#fig:broken}\n\nSee @fig:broken.\n", encoding="utf-8")
    completed = run_manuscript(root, "build", "--pdf-engine", "typst")
    warnings = [w for w in _warnings(completed.stderr) if "placeholder" in w]
    assert len(warnings) == 1, completed.stderr
    assert warnings[0].startswith(f"warning: {SECTION}:5: Typst cannot typeset this part")
    assert "failed to decode image" in warnings[0]
    assert "/tmp" not in warnings[0] and "manuscript-" not in warnings[0]
    with pdfplumber.open(root / "output" / "manuscript.pdf") as pdf:
        text = " ".join((page.extract_text() or "") for page in pdf.pages)
        links = [a for page in pdf.pages for a in page.annots]
    assert "This part could not be typeset" in " ".join(text.split())
    assert "See 1." in " ".join(text.split())  # crossref's number for it
    assert links  # the reference to the left-out figure still links to its place
