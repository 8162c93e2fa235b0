"""Citation keys: found in the AST, dealiased, standardized — and written back.

Holds what the cite stage reads of the document (``collect_citekeys``: the cited ids in
order, and the ``[@tag]: doi:…`` alias paragraphs), how each key becomes the standard id
manubot's ``CiteKey`` gives it (prefix inference and short DOIs included), and how the
AST is pointed at the short ids afterwards (``rewrite_ids``, ``mark_unresolved``).
It may import ``cite.model`` and the package's core (config, network); not the sources,
the lookups or their orchestration.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from manubot.cite.citekey import CiteKey, shorten_citekey

from ..config import Config
from ..network import Door
from .model import Failure, error_text, places

# cross-references (pandoc-xnos, pandoc-secnos), handled by the crossref filter
XNOS = re.compile(r"^(fig|tbl|eq|sec):")
UNRESOLVED_CLASS = "citation-unresolved"


def collect_citekeys(ast: dict) -> tuple[list[str], dict[str, str]]:
    """Citation ids in document order, and aliases defined as ``[@tag]: doi:…`` paragraphs.

    Alias paragraphs are removed from ``ast`` in place (as manubot's filter does).
    """
    aliases: dict[str, str] = {}
    ast["blocks"] = [b for b in ast["blocks"] if not _take_alias_definitions(b, aliases)]
    ids = [citation["citationId"] for citation in _citations(ast["blocks"])]
    return list(dict.fromkeys(ids)), aliases


def _citations(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        if node.get("t") == "Cite":
            yield from node["c"][0]
        for value in node.values():
            yield from _citations(value)
    elif isinstance(node, list):
        for item in node:
            yield from _citations(item)


def _take_alias_definitions(block: dict, aliases: dict[str, str]) -> bool:
    """Consume leading ``[@key]: destination`` definitions; True when nothing is left."""
    if block.get("t") != "Para":
        return False
    inlines = block["c"]
    found = False
    while (
        len(inlines) >= 3
        and inlines[0]["t"] == "Cite"
        and len(inlines[0]["c"][0]) == 1
        and inlines[1] == {"t": "Str", "c": ":"}
    ):
        index = 3 if inlines[2]["t"] in ("Space", "SoftBreak") else 2
        if index >= len(inlines) or inlines[index]["t"] != "Str":
            break
        key = inlines[0]["c"][0][0]["citationId"]
        # A tag defined twice: the later wins; the checks report it with its place.
        aliases[key] = inlines[index]["c"]
        inlines = inlines[index + 1 :]
        if inlines and inlines[0]["t"] in ("SoftBreak", "LineBreak"):
            inlines = inlines[1:]
        found = True
    block["c"] = inlines
    return found and not inlines


def rewrite_ids(ast: dict, short_ids: dict[str, str]) -> None:
    """Point every resolved citation at its short id, as citeproc will see it, and show
    each unresolved one as its key in bold with a question mark (``mark_unresolved``)."""
    for citation in _citations(ast["blocks"]):
        citation["citationId"] = short_ids.get(citation["citationId"], citation["citationId"])
    mark_unresolved(ast["blocks"], set(short_ids.values()))


def mark_unresolved(node: object, known: set[str]) -> None:
    """Take each citation of no known reference out of its Cite: in its place, its key in
    bold with a question mark (**doi:10.1/x?**, as pandoc-citeproc showed it), in a Span
    of class ``citation-unresolved``. Left to citeproc, it would become a link to a
    bibliography entry that does not exist, which Typst refuses to compile."""
    if isinstance(node, list):
        if any(isinstance(item, dict) and item.get("t") == "Cite" for item in node):
            node[:] = [new for item in node for new in _shown(item, known)]
        for item in node:
            mark_unresolved(item, known)
    elif isinstance(node, dict):
        for value in node.values():
            mark_unresolved(value, known)


def _shown(inline: object, known: set[str]) -> list:
    """A Cite without its unresolved citations, and the Span that shows them."""
    if not isinstance(inline, dict) or inline.get("t") != "Cite":
        return [inline]
    citations = inline["c"][0]
    missing = [c for c in citations
               if c["citationId"] not in known and not XNOS.match(c["citationId"])]
    if not missing:
        return [inline]
    keys: list[dict] = []
    for citation in missing:
        if keys:
            keys += [{"t": "Str", "c": ";"}, {"t": "Space"}]
        keys.append({"t": "Strong", "c": [{"t": "Str", "c": f"{citation['citationId']}?"}]})
    bracketed = missing[0]["citationMode"]["t"] != "AuthorInText"
    if bracketed:
        keys = [{"t": "Str", "c": "["}, *keys, {"t": "Str", "c": "]"}]
    span = {"t": "Span", "c": [["", [UNRESOLVED_CLASS], []], keys]}
    kept = [c for c in citations if c not in missing]
    if not kept:
        return [span]
    inline["c"][0] = kept
    return [inline, {"t": "Space"}, span]


# ---------------------------------------------------------------- standardizing


@dataclass
class Keys:
    """The cited keys, standardized: what the lookups work on and citations.tsv records."""

    rows: list[dict[str, str]] = field(default_factory=list)  # citations.tsv
    groups: dict[str, list[str]] = field(default_factory=dict)  # standard_id → input_ids
    failures: list[Failure] = field(default_factory=list)


def standardize(config: Config, input_ids: list[str], aliases: dict[str, str],
                known: dict[str, str], items: list[dict], infer_prefixes: bool,
                door: Door) -> Keys:
    """Each key's standard id, as manubot's ``CiteKey`` gives it; cross-references skipped.

    A short DOI needs a lookup to standardize: an earlier build's citations.tsv
    (``known``: key → standard id), or a reference among ``items`` that records its
    shortDOI, already did it, so no request is made.
    """
    keys = Keys()
    short_dois = short_doi_index(items)
    for input_id in input_ids:
        if XNOS.match(input_id):
            continue
        dealiased = aliases.get(input_id, input_id)
        known_standard = (known.get(dealiased) or known.get(input_id)
                          or short_dois.get(dealiased.lower()))
        effective = {input_id: known_standard} if known_standard else aliases
        citekey = CiteKey(input_id, aliases=effective, infer_prefix=infer_prefixes)
        try:
            with door.tracking() as unreachable:
                standard_id = citekey.standard_id
        except Exception as error:  # manubot's standardizers raise anything, network included
            keys.failures.append(Failure(input_id, f"cannot be standardized: "
                                                   f"{error_text(error)}",
                                         places(config, input_id), tuple(unreachable)))
            continue
        keys.rows.append({"input_id": input_id, "dealiased_id": dealiased,
                          "standard_id": standard_id, "short_id": shorten_citekey(standard_id)})
        keys.groups.setdefault(standard_id, []).append(input_id)
    return keys


def short_doi_index(items: list[dict]) -> dict[str, str]:
    """``doi:10/abc`` → ``doi:10.…`` from items that record their shortDOI.

    Manubot sets a DOI item's URL to its shortDOI (``https://doi.org/abc``), so a
    references file from an earlier build is enough to expand short DOIs offline.
    """
    index: dict[str, str] = {}
    for item in items:
        doi, url = item.get("DOI"), item.get("URL") or ""
        match = re.fullmatch(r"https?://doi\.org/([a-z0-9]+)", str(url), re.I)
        if isinstance(doi, str) and match and not match.group(1).startswith("10"):
            index[f"doi:10/{match.group(1).lower()}"] = f"doi:{doi.lower()}"
    return index
