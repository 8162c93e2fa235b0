"""Every formula of every corpus manuscript: the same MathJax SVG in both PDFs.

The WeasyPrint PDF draws each formula as an image of MathJax's SVG (math.py,
``print_formulas``); the Typst PDF draws the very same SVG (formats/typst_math.py).
For each corpus manuscript, every formula of the upstream ``manuscript.md`` is typeset
once and checked two ways: the SVG file Typst is given is the SVG WeasyPrint is given,
element for element; and a Typst PDF of all of them, made by the real Typst path
(pandoc, crossref.lua, finish.lua, the template), compiles without an error or a
warning, holds each formula as an image whose alt text is its TeX, and embeds no math
font (nothing went through Typst's own math). Skipped when ../shared is absent.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from xml.etree import ElementTree

import pytest

from helpers import CORPUS, ROOT, copy_manuscript
from test_corpus import _pdf_alt_texts

NAMES = ("rootstock-tour", "ccc", "mpmp", "xswap", "iscb-diversity", "meta-review")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


def _formulas(name: str):
    from manuscript import math, pandoc

    markdown = (CORPUS / name / "upstream" / "manuscript.md").read_text(encoding="utf-8")
    ast, _ = pandoc.markdown_to_json(markdown)
    return math.collect(ast)


def _canonical(svg: str) -> str:
    """The SVG as XML with attributes in one order and no namespace spelling."""
    root = ElementTree.fromstring(svg)
    for element in root.iter():
        element.tag = element.tag.split("}")[-1]
        for name in list(element.attrib):
            local = name.split("}")[-1]
            if local != name:
                element.attrib[local] = element.attrib.pop(name)
    return ElementTree.canonicalize(ElementTree.tostring(root, encoding="unicode"))


def _weasyprint_svg(html: str) -> str:
    """The SVG print_formulas gives WeasyPrint for one formula's HTML (as the PDF
    stage does on the parsed page)."""
    from weasyprint import HTML

    from manuscript.math import print_formulas

    root = HTML(string=f"<!DOCTYPE html><html><body><p>{html}</p></body></html>").etree_element
    print_formulas(root)
    images = [e for e in root.iter() if e.tag.split("}")[-1] == "img"]
    assert len(images) == 1
    data = images[0].get("src").split(",", 1)[1]
    return base64.b64decode(data).decode("utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_every_corpus_formula_is_the_same_svg_in_both_pdfs(
        name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from manuscript import math
    from manuscript.config import make_config
    from manuscript.formats import typst_math, typst_pdf
    from manuscript.render import find_theme

    formulas = _formulas(name)
    if not formulas:
        pytest.skip(f"{name} has no math")
    typeset = math.typeset_all(formulas)
    good = [f for f in formulas if typeset[f].error is None]
    for formula in good:
        entry = typst_math.svg_entry(typeset[formula].html)
        assert entry is not None, formula
        assert _canonical(entry[0]) == _canonical(_weasyprint_svg(typeset[formula].html)), \
            formula

    root = copy_manuscript(ROOT, tmp_path)
    config = make_config(root, env={"MANUSCRIPT_OFFLINE": "1"})
    # The formulas typeset above, where the html stage leaves them for the worker.
    config.cache_dir.mkdir(parents=True, exist_ok=True)
    math.typeset_all(formulas, config.cache_dir / math.CACHE_FILE)
    blocks = [{"t": "Para", "c": [{"t": "Str", "c": f"F{n}:"}, {"t": "Space"},
                                  {"t": "Math", "c": [{"t": "DisplayMath" if f.display
                                                       else "InlineMath"}, f.tex]}]}
              for n, f in enumerate(formulas)]
    ast = {"pandoc-api-version": [1, 23, 1], "meta": {}, "blocks": blocks}
    with caplog.at_level(logging.WARNING, logger="manuscript"):
        pdf = typst_pdf.render(config, ast, [], {}, find_theme(config))["manuscript.pdf"]
    assert not [r.getMessage() for r in caplog.records if "Typst" in r.getMessage()]
    out = tmp_path / "typst.pdf"
    out.write_bytes(pdf)
    alts = {alt.strip() for alt in _pdf_alt_texts(out)}
    missing = [f.tex for f in good if f.tex.strip() not in alts]
    assert not missing, missing[:5]
    from pypdf import PdfReader

    fonts = {str(font.get_object().get("/BaseFont"))
             for page in PdfReader(out).pages
             for font in ((page.get("/Resources") or {}).get("/Font") or {}).values()}
    assert not [f for f in fonts if "Math" in f], fonts
