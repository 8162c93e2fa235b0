"""``manuscript.docx``: Word, for co-authors.

pandoc's docx writer does the hard parts: citations by the CSL style, equations as
native Word math (OMML), images scaled to the text width. Around it: the title block
(authors with numbered affiliations, ORCIDs, correspondence, CRediT roles) replaces
the HTML's icon-laden author list, SVGs become PNGs (see images.py), and python-docx
sets the document properties (title, authors, keywords) Word shows in File → Info.

Styles come from ``data/formats/reference.docx`` (pandoc's own, restyled by
``make_reference_docx`` below: ``python -m manuscript.formats.docx OUT.docx``), or from
the manuscript's ``build/themes/default.docx`` (rootstock's place for it) or
``build/assets/reference.docx``. Raw ``{=openxml}`` fields that read files or run code
(``INCLUDETEXT``, ``DDE``…) are removed with a warning (``fields.py``).
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ContentError
from . import document as d
from . import fields, images, raw, run

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

OUTPUT = "manuscript.docx"
_LOCAL_REFERENCE_DOCS = ("build/themes/default.docx", "build/assets/reference.docx")


def reference_docx(root: Path) -> Path:
    from ..sources import check_inside

    for name in _LOCAL_REFERENCE_DOCS:
        path = root / name
        if path.exists() or path.is_symlink():
            # Its styles, text and media are copied into the published DOCX: a link
            # out of the manuscript is refused (a broken one too, or a folder).
            if not check_inside(root, path).is_file():
                raise ContentError("is not a file: a reference DOCX is expected", path)
            return path
    from ..render import data_dir

    return data_dir() / "formats" / "reference.docx"


def render(config: Config, ast: dict, csl_items: list[dict], variables: dict,
           theme: Theme) -> dict[str, bytes]:
    doc = d.prepare(ast, variables)
    raw.drop_malformed(doc.ast, ("openxml",), raw.OPENXML_NAMESPACES, "OpenXML",
                       d.Places(config.content_dir))
    # The abstract's heading goes back, before the body: its stand-in leaves.
    body = [b for b in doc.ast["blocks"] if b is not doc.abstract_stand_in]
    abstract = [doc.abstract_heading, *doc.abstract] if doc.abstract_heading else []
    doc.ast["blocks"] = [*title_block(doc), *abstract, *body]
    fields.drop_refused_fields(doc.ast, config)  # INCLUDETEXT, DDE…: see fields.py
    with tempfile.TemporaryDirectory(prefix="manuscript-docx-") as tmp:
        workdir = Path(tmp)
        images.localize(doc.ast, config, workdir, raster=True)
        data = run.run(doc.ast, to="docx", filters=theme.filters, workdir=workdir,
                       csl=theme.csl, csl_items=csl_items,
                       args=[f"--reference-doc={reference_docx(config.root)}"],
                       output=workdir / OUTPUT)
    return {OUTPUT: set_properties(data, doc)}


def title_block(doc: d.Document) -> list[dict]:
    """Authors with numbered affiliations, correspondence, ORCIDs and roles."""
    if not doc.authors:
        return []
    names: list[dict] = []
    for n, author in enumerate(doc.authors):
        if n:
            names += [{"t": "Str", "c": ","}, {"t": "Space"}]
        names += d.text_inlines(author.name)
        marks = ",".join(str(i) for i in doc.affiliation_numbers(author))
        marks += "*" if author.corresponding else ""
        if marks:
            names.append({"t": "Superscript", "c": [{"t": "Str", "c": marks}]})
    blocks = [d.para(names)]
    for number, affiliation in enumerate(doc.affiliations, 1):
        blocks.append(d.para([{"t": "Superscript", "c": [{"t": "Str", "c": str(number)}]},
                              *d.text_inlines(affiliation)]))
    corresponding = [a for a in doc.authors if a.corresponding and a.email]
    if corresponding:
        inlines = [{"t": "Str", "c": "*"}, *d.text_inlines("Correspondence:")]
        for n, author in enumerate(corresponding):
            inlines += [{"t": "Str", "c": ","}] if n else []
            inlines += [{"t": "Space"}, *d.text_inlines(author.name), {"t": "Space"},
                        d.link([{"t": "Str", "c": author.email}], f"mailto:{author.email}")]
        blocks.append(d.para(inlines))
    with_orcid = [a for a in doc.authors if a.orcid]
    if with_orcid:
        inlines = d.text_inlines("ORCID iDs:")
        for n, author in enumerate(with_orcid):
            inlines += [{"t": "Str", "c": ";"}] if n else []
            inlines += [{"t": "Space"}, *d.text_inlines(author.name), {"t": "Space"},
                        d.link([{"t": "Str", "c": author.orcid}],
                               f"https://orcid.org/{author.orcid}")]
        blocks.append(d.para(inlines))
    with_roles = [a for a in doc.authors if a.roles]
    if with_roles:
        inlines = [{"t": "Strong", "c": d.text_inlines("Author contributions (CRediT):")}]
        for n, author in enumerate(with_roles):
            inlines += [{"t": "Str", "c": ";"}] if n else []
            roles = ", ".join(role.name for role in author.roles)
            inlines += [{"t": "Space"}, *d.text_inlines(f"{author.name}: {roles}")]
        blocks.append(d.para(inlines))
    # "Author" is the paragraph style pandoc's reference document gives author lines.
    return [{"t": "Div", "c": [["", [], [["custom-style", "Author"]]], blocks]}]


def set_properties(data: bytes, doc: d.Document) -> bytes:
    """Title, authors, keywords and language in the file's core properties."""
    import docx

    document = docx.Document(io.BytesIO(data))
    props = document.core_properties
    props.title = doc.title
    props.author = "; ".join(a.name for a in doc.authors)
    props.keywords = ", ".join(doc.keywords)
    props.language = doc.lang
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_reference_docx(path: Path) -> None:
    """pandoc's reference.docx with our fonts and caption styles (run once, committed)."""
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt, RGBColor

    from .. import pandoc

    raw = pandoc.run(["--print-default-data-file", "reference.docx"]).output
    document = docx.Document(io.BytesIO(raw))
    styles = document.styles
    for name in ("Normal", "Body Text", "First Paragraph", "Compact"):
        font = styles[name].font
        font.name, font.size = "Calibri", Pt(11)
    for level, size in ((1, 16), (2, 13), (3, 12), (4, 11)):
        style = styles[f"Heading {level}"]
        style.font.name, style.font.size, style.font.bold = "Calibri", Pt(size), True
        style.font.color.rgb = RGBColor(0x1F, 0x4E, 0x79)
    styles["Title"].font.name = "Calibri"
    styles["Title"].font.color.rgb = RGBColor(0, 0, 0)
    for name in ("Caption", "Image Caption", "Table Caption"):
        if name in styles:
            font = styles[name].font
            font.name, font.size, font.italic = "Calibri", Pt(9.5), False
    styles["Author"].paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    styles["Author"].font.size = Pt(10)
    document.save(path)


if __name__ == "__main__":
    make_reference_docx(Path(sys.argv[1]))
