"""``manuscript.tex`` + ``references.bib``: a LaTeX article for journals.

pandoc's LaTeX writer with ``--natbib`` and citeproc off: every citation is
``\\citep{key}`` with the manuscript's short citation ids as keys, and
``references.bib`` (pandoc's BibTeX writer, from the same CSL items) has one entry per
key. The crossref filter, run with FORMAT=latex, gives figures, tables and equations
``\\label``s and references ``\\ref``s, printing the same numbers as the HTML.

Images keep their relative paths (``images/…``, beside the .tex in ``output/``). LaTeX
cannot include SVG, so an SVG with a ``.pdf`` or ``.png`` twin beside it is swapped for
the twin; a remote image becomes a link (LaTeX cannot fetch it).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import pandoc
from . import document as d
from . import images, run

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

TEX, BIB = "manuscript.tex", "references.bib"
# pandoc's template already sets \bibliographystyle{plainnat} for --natbib.
BIBLIOGRAPHY = ("\\renewcommand{\\bibsection}{}\n"  # the manuscript has its own heading
                "\\bibliography{references}")


def render(config: Config, ast: dict, csl_items: list[dict], variables: dict,
           theme: Theme) -> dict[str, bytes]:
    doc = d.prepare(ast, variables)
    doc.ast["meta"].update(front_matter(doc))
    doc.ast["blocks"] = _place_bibliography(doc.ast["blocks"])
    _images_for_latex(doc.ast, config.content_dir)
    with tempfile.TemporaryDirectory(prefix="manuscript-latex-") as tmp:
        tex = run.run(doc.ast, to="latex", filters=theme.filters, workdir=Path(tmp),
                      args=["--natbib", "--metadata=colorlinks:true",
                            # numbered [1], as the bundled CSL style cites
                            "--metadata=natbiboptions:numbers,square"])
    return {TEX: tex, BIB: bibtex(csl_items)}


def bibtex(csl_items: list[dict]) -> bytes:
    """One BibTeX entry per CSL item, keyed by its id (the short citation id).

    Manubot's ``note`` (where an item came from) is provenance, not bibliography: BibTeX
    styles would print it, so it is left out.
    """
    items = [{k: v for k, v in item.items() if k != "note"} for item in csl_items]
    result = pandoc.run(["--from=csljson", "--to=bibtex"],
                        json.dumps(items, ensure_ascii=False).encode("utf-8"))
    for warning in result.warnings:
        logger.warning("references.bib: %s", warning)
    return result.output


def front_matter(doc: d.Document) -> dict[str, dict]:
    """``\\author{Name\\thanks{affiliation, ORCID, e-mail}}``, abstract and keywords."""
    authors = []
    for author in doc.authors:
        notes = [*author.affiliations]
        if author.orcid:
            notes.append(f"ORCID {author.orcid}")
        if author.email and author.corresponding:
            notes.append(f"Correspondence: {author.email}")
        if author.roles:
            notes.append("Roles: " + ", ".join(role.name for role in author.roles))
        inlines = d.text_inlines(author.name)
        if notes:
            thanks = f"\\thanks{{{_escape('. '.join(notes))}}}"
            inlines.append({"t": "RawInline", "c": ["latex", thanks]})
        authors.append({"t": "MetaInlines", "c": inlines})
    meta: dict[str, dict] = {"author": d.meta_list(authors)}
    if doc.abstract:
        meta["abstract"] = {"t": "MetaBlocks", "c": doc.abstract}
    if doc.keywords:
        meta["keywords"] = d.meta_list([d.meta_inlines(k) for k in doc.keywords])
    if doc.date:
        meta["date"] = d.meta_string(doc.date)
    return meta


def _escape(text: str) -> str:
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "%": r"\%", "#": r"\#",
               "&": r"\&", "_": r"\_", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}
    return "".join(special.get(char, char) for char in text)


def _place_bibliography(blocks: list[dict]) -> list[dict]:
    """``\\bibliography`` where citeproc would put the list (the ``#refs`` Div)."""
    raw = {"t": "RawBlock", "c": ["latex", BIBLIOGRAPHY]}
    placed = False

    def walk(items: list[dict]) -> list[dict]:
        nonlocal placed
        out = []
        for block in items:
            if block["t"] == "Div" and block["c"][0][0] == "refs":
                out.append(raw)
                placed = True
            elif block["t"] == "Div":
                block["c"][1] = walk(block["c"][1])
                out.append(block)
            else:
                out.append(block)
        return out

    blocks = walk(blocks)
    if not placed:  # no #refs Div: at the end, with natbib's own heading
        blocks.append({"t": "RawBlock", "c": ["latex", BIBLIOGRAPHY.split("\n", 1)[1]]})
    return blocks


def _images_for_latex(ast: dict, content_dir: Path) -> None:
    _tags_on_figures(ast["blocks"])
    for image in images.images(ast["blocks"]):
        target = image["c"][2][0]
        if images.is_remote(target):
            logger.debug("LaTeX: remote image becomes a link: %s", target)
            # The link shows the address, not the image's alt text: that is the caption
            # again (pandoc makes it so), and a reference in it would be a second \ref.
            image["t"] = "Link"
            image["c"][0] = ["", [], []]
            image["c"][1] = [{"t": "Str", "c": target}]
        elif target.lower().endswith(".svg"):
            for suffix in (".pdf", ".png"):
                twin = Path(target).with_suffix(suffix)
                if (content_dir / twin).is_file():
                    image["c"][2][0] = twin.as_posix()
                    break
            else:
                logger.warning("LaTeX cannot include SVG; add a .pdf or .png beside %s", target)


def _tags_on_figures(blocks: list[dict]) -> None:
    """A figure's ``tag="S1"`` moves from its image (where pandoc 3 leaves it) onto the
    figure: the crossref filter looks for it on the image, which a remote one no longer
    is here (it becomes a link), and would number the figure on from the main figures."""
    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if node.get("t") == "Figure":
                attributes = node["c"][0][2]
                tags = [value for image in images.images(node["c"][2])
                        for key, value in image["c"][0][2] if key == "tag"]
                if tags and not any(key == "tag" for key, _ in attributes):
                    attributes.append(["tag", tags[0]])
            walk(node.get("c"))

    walk(blocks)
