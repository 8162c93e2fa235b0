"""The closing summary of a build: words, figures, tables, equations, citations, pages.

Counted from what every build has, whether its stages ran or were skipped: the HTML page
(output/manuscript.html), the bibliography and the PDF's bytes — never by parsing the
Markdown again, which a warm build does not do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# Not prose: left out of the word count (the reference list, citation markers, math
# and a formula MathJax could not read, code, tables, the page's own scripts).
_NOT_WORDS = " | ".join([
    ".//*[@id='refs']", ".//span[contains(concat(' ', @class, ' '), ' citation ')]",
    ".//mjx-container", ".//code[contains(@class, 'math-error')]", ".//pre", ".//table",
    ".//script", ".//style"])


@dataclass(frozen=True)
class Summary:
    words: int
    figures: int
    tables: int
    equations: int  # display equations, numbered or not
    citations: int  # distinct references
    pdf_pages: int | None = None  # None: no PDF this build

    def counts(self) -> str:
        """``640 words, 4 figures, 2 tables, 9 equations, 60 citations, 8 PDF pages``"""
        parts = [_plural(self.words, "word"), _plural(self.figures, "figure"),
                 _plural(self.tables, "table"), _plural(self.equations, "equation"),
                 _plural(self.citations, "citation")]
        if self.pdf_pages is not None:
            parts.append(_plural(self.pdf_pages, "PDF page"))
        return ", ".join(parts)


def summarize(html: str, references: list[dict], pdf: bytes | None) -> Summary:
    """The counts of one build's page, bibliography and (if built) PDF."""
    import lxml.html

    page = lxml.html.document_fromstring(html)
    articles = page.xpath("//article[@id='content']")
    article = articles[0] if articles else page.body  # a theme template may lack it
    figures = len(article.xpath(".//figure"))
    tables = len(article.xpath(".//table"))
    equations = len(article.xpath(".//mjx-container[@display='true']"
                                  " | .//code[contains(@class, 'math-error')"
                                  " and contains(@class, 'display')]"))
    for element in article.xpath(_NOT_WORDS):
        element.drop_tree()
    words = sum(1 for token in article.text_content().split() if _is_word(token))
    return Summary(words, figures, tables, equations, len(references),
                   pdf_pages(pdf) if pdf is not None else None)


def pdf_pages(pdf: bytes) -> int:
    """The page count, from the PDF's own page tree (PDFium: ~1 ms, even for 100 pages)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        return len(document)
    finally:
        document.close()


def _is_word(token: str) -> bool:
    return any(character.isalnum() for character in token)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
