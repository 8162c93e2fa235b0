"""``manuscript.jats.xml``: JATS Publishing 1.2, for PMC and preprint servers.

pandoc's ``jats_publishing`` writer with its ``element_citations`` extension writes the
front matter from metadata (title, contributors with ORCIDs and CRediT roles,
affiliations, abstract, keywords) and the ``ref-list`` as structured
``element-citation``s built from the CSL items (DOI and PMID as ``pub-id``), while
citeproc formats the in-text citations by the manuscript's CSL style. lxml then does
what the writer leaves out: ``label``s for figures, tables, equations and references
(numbered as in the HTML), references in the CSL style's order, and the
"References" heading moved into the ``ref-list``. Images keep their relative paths
(``images/…``), beside the XML in ``output/``.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from . import document as d
from . import raw, run

if TYPE_CHECKING:
    from lxml import etree

    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

OUTPUT = "manuscript.jats.xml"
WRITER = "jats_publishing+element_citations"
# Raw formats pandoc's JATS writers copy into the file.
RAW_FORMATS = ("jats", "jats_publishing", "jats_archiving", "jats_articleauthoring")
_CAPTION_LABEL = re.compile(r"^\s*(?P<label>[^:]{1,40}?):\s*")
_XLINK = "{http://www.w3.org/1999/xlink}"


def render(config: Config, ast: dict, csl_items: list[dict], variables: dict,
           theme: Theme) -> dict[str, bytes]:
    doc = d.prepare(ast, variables)
    raw.drop_malformed(doc.ast, RAW_FORMATS, raw.JATS_NAMESPACES, "JATS",
                       d.Places(config.content_dir))
    doc.ast["meta"].update(front_matter(doc))
    heading = _take_references_heading(doc.ast["blocks"])  # it titles the ref-list
    with tempfile.TemporaryDirectory(prefix="manuscript-jats-") as tmp:
        workdir = Path(tmp)
        order = _reference_order(doc.ast, csl_items, theme, workdir)
        xml = run.run(doc.ast, to=WRITER, filters=theme.filters, workdir=workdir,
                      csl=theme.csl, csl_items=csl_items, after=[alt_text_filter()])
    title = _plain(heading["c"][2]) if heading else ""
    return {OUTPUT: finish(xml, order, title)}


def alt_text_filter() -> Path:
    from ..render import data_dir

    return data_dir() / "formats" / "jats" / "alt-text.lua"


def _take_references_heading(blocks: list[dict]) -> dict | None:
    """Remove the heading right above the ``#refs`` Div (comments aside) and return it.

    The writer moves the references into ``<back>``; their heading would stay behind
    as an empty section.
    """
    for index, block in enumerate(blocks):
        if block["t"] == "Div" and block["c"][0][0] == "refs":
            before = index - 1
            while before >= 0 and blocks[before]["t"] == "RawBlock":
                before -= 1
            if before >= 0 and blocks[before]["t"] == "Header":
                heading = blocks[before]
                # The sections after the references keep the HTML's numbers.
                blocks[before] = d.counted_only(heading)
                return heading
            return None
    return None


def front_matter(doc: d.Document) -> dict[str, dict]:
    """Metadata in the shape pandoc's JATS template reads.

    ``journal`` and ``article`` (type, doi, …) may come from metadata.yaml's ``pandoc:``
    mapping, which pandoc's template reads as they are.
    """
    affiliation_ids = {a: f"{n}" for n, a in enumerate(doc.affiliations, 1)}
    authors = []
    for n, author in enumerate(doc.authors, 1):
        fields: dict[str, dict] = {"name": d.meta_inlines(author.name)}
        if author.family:
            fields["surname"] = d.meta_inlines(author.family)
            fields["given-names"] = d.meta_inlines(author.given or "")
        if author.orcid:
            fields["orcid"] = d.meta_string(f"https://orcid.org/{author.orcid}")
        if author.email:
            fields["email"] = d.meta_string(author.email)
        if author.corresponding and author.email:
            fields["cor-id"] = d.meta_string(str(n))
        fields["affiliation"] = d.meta_list(
            [d.meta_string(affiliation_ids[a]) for a in author.affiliations])
        fields["roles"] = d.meta_list([
            d.meta_map({"credit": d.meta_string(role.slug),
                        "credit-name": d.meta_inlines(role.name)})
            for role in author.roles])
        authors.append(d.meta_map(fields))
    meta: dict[str, dict] = {
        "author": d.meta_list(authors),
        "affiliation": d.meta_list([
            d.meta_map({"id": d.meta_string(i), "name": d.meta_inlines(a)})
            for a, i in affiliation_ids.items()]),
        "tags": d.meta_list([d.meta_inlines(k) for k in doc.keywords]),
    }
    corresp = [d.meta_map({"id": d.meta_string(str(n)), "email": d.meta_string(a.email)})
               for n, a in enumerate(doc.authors, 1) if a.corresponding and a.email]
    if corresp:  # into the manuscript's own article metadata (type, doi, …), if any
        article = doc.ast["meta"].get("article")
        fields = dict(article["c"]) if article and article["t"] == "MetaMap" else {}
        fields["author-notes"] = d.meta_map({"corresp": d.meta_list(corresp)})
        meta["article"] = d.meta_map(fields)
    if doc.abstract:
        meta["abstract"] = {"t": "MetaBlocks", "c": doc.abstract}
    if doc.date:
        meta["date"] = d.meta_string(doc.date)
    return meta


def _reference_order(ast: dict, csl_items: list[dict], theme: Theme,
                     workdir: Path) -> list[tuple[str, str]]:
    """(id, label) of each entry, as citeproc lists them in the CSL style's order.

    The element-citation writer lists references in metadata order, without labels.
    """
    result = json.loads(run.run(ast, to="json", filters=theme.filters, workdir=workdir,
                                csl=theme.csl, csl_items=csl_items, quiet=True))
    order: list[tuple[str, str]] = []
    for block in _refs_entries(result["blocks"]):
        identifier = block["c"][0][0]
        label = ""
        first = block["c"][1][0] if block["c"][1] else None
        if first and first["t"] in ("Plain", "Para") and first["c"] \
                and first["c"][0]["t"] == "Span" and "csl-left-margin" in first["c"][0]["c"][0][1]:
            label = _stringify(first["c"][0]["c"][1]).strip().rstrip(".")
        order.append((identifier, label))
    return order


def _refs_entries(blocks: list[dict]) -> list[dict]:
    for block in blocks:
        if block["t"] == "Div":
            if block["c"][0][0] == "refs":
                return [b for b in block["c"][1] if b["t"] == "Div"]
            found = _refs_entries(block["c"][1])
            if found:
                return found
    return []


def _plain(inlines: list[dict]) -> str:
    return d.stringify(inlines).strip()


def _stringify(inlines: list[dict]) -> str:
    return d.stringify(inlines)


def finish(xml: bytes, order: list[tuple[str, str]], refs_title: str = "") -> bytes:
    """Labels, reference order and the ref-list title, which the writer leaves out."""
    from lxml import etree

    parser = etree.XMLParser(remove_blank_text=False, resolve_entities=False,
                             load_dtd=False, no_network=True)
    try:
        tree = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as error:
        # Something the checks before pandoc did not catch (raw XML is checked in
        # raw.py): said with the line pandoc wrote, and repaired as libxml2 can (a bare
        # "&" becomes "&amp;"), so the file is still well-formed and written.
        line = xml.decode("utf-8", "replace").splitlines()[max(error.lineno - 1, 0):][:1]
        logger.warning("JATS: pandoc's XML was not well-formed (%s) near %r; repaired",
                       str(error.msg or error).split(" (line", 1)[0],
                       (line[0].strip() if line else "")[:120])
        xml = _escape_bare_ampersands(xml)
        tree = etree.fromstring(xml, etree.XMLParser(
            remove_blank_text=False, resolve_entities=False, load_dtd=False,
            no_network=True, recover=True))
    for wrap in tree.iter("table-wrap"):  # the writer puts a table's id on <table>
        table = wrap.find("table")
        if table is not None and table.get("id") and not wrap.get("id"):
            wrap.set("id", table.attrib.pop("id"))
    for element in tree.iter("fig", "table-wrap"):
        _caption_label(element)
    for element in list(tree.iter("named-content")):
        _equation_label(element)
    _order_references(tree, order)
    title = tree.find(".//back/ref-list/title")
    if title is not None and refs_title:
        title.text = refs_title
    _unlink_dangling_xrefs(tree)
    return etree.tostring(tree.getroottree(), xml_declaration=True, encoding="utf-8",
                          doctype=tree.getroottree().docinfo.doctype)


_BARE_AMPERSAND = re.compile(rb"&(?!(?:[A-Za-z][A-Za-z0-9._-]*|#[0-9]+|#x[0-9A-Fa-f]+);)")


def _escape_bare_ampersands(xml: bytes) -> bytes:
    """``&`` that starts no entity or character reference, as ``&amp;`` (libxml2's
    recovery would drop it, and the text would lose a character)."""
    return _BARE_AMPERSAND.sub(b"&amp;", xml)


def _caption_label(element: etree._Element) -> None:
    """``<caption><p>Figure 1: …`` → ``<label>Figure 1</label><caption><p>…``."""
    from lxml import etree

    caption = element.find("caption")
    p = caption.find("p") if caption is not None else None
    if p is None or not p.text or element.get("id") is None:
        return
    match = _CAPTION_LABEL.match(p.text)
    if not match:
        return
    label = etree.Element("label")
    label.text = match.group("label").replace("\u00a0", " ")
    p.text = p.text[match.end():]
    element.insert(list(element).index(caption), label)


def _equation_label(element: etree._Element) -> None:
    """The crossref span around a numbered equation → ``<disp-formula id><label>``."""
    from lxml import etree

    formula = element.find("disp-formula")
    number = element.find("named-content[@content-type='eqnos-number']")
    if formula is None or number is None or not element.get("id"):
        return
    formula.set("id", element.get("id"))
    label = etree.Element("label")
    label.text = "".join(number.itertext()).strip()
    formula.insert(0, label)
    formula.tail = element.tail
    element.getparent().replace(element, formula)


def _order_references(tree: etree._Element, order: list[tuple[str, str]]) -> None:
    from lxml import etree

    ref_list = tree.find(".//ref-list")
    if ref_list is None:
        return
    refs = {ref.get("id"): ref for ref in ref_list.findall("ref")}
    for ref in refs.values():
        ref_list.remove(ref)
    for identifier, label in order:
        ref = refs.pop(identifier, None)
        if ref is None:
            continue
        if label:
            element = etree.Element("label")
            element.text = label
            ref.insert(0, element)
        ref_list.append(ref)
    for ref in refs.values():  # any the style did not list (there should be none)
        ref_list.append(ref)


def _unlink_dangling_xrefs(tree: etree._Element) -> None:
    """A link to an id the article lacks (the HTML tolerates it) keeps only its text."""
    ids = {element.get("id") for element in tree.iter() if element.get("id")}
    for xref in list(tree.iter("xref")):
        if xref.get("rid") not in ids:
            _unwrap(xref)


def _unwrap(element: etree._Element) -> None:
    parent = element.getparent()
    index = list(parent).index(element)
    text = (element.text or "")
    children = list(element)
    tail = element.tail or ""
    if children:
        children[-1].tail = (children[-1].tail or "") + tail
    else:
        text += tail
    if index == 0:
        parent.text = (parent.text or "") + text
    else:
        previous = parent[index - 1]
        previous.tail = (previous.tail or "") + text
    parent.remove(element)
    for offset, child in enumerate(children):
        parent.insert(index + offset, child)
