"""Cross-references (pandoc-xnos syntax, numbered by ``crossref.lua``): references to
labels that are not defined, labels defined twice or on the wrong kind of element, and
labels never referenced.

Sections (pandoc-secnos) are headings: ``@sec:x`` refers to the heading labelled
``{#sec:x}`` or to the heading whose own id is ``x``; a heading is a place to link to
as well, so one never referenced is no problem."""

from __future__ import annotations

from ..problems import Problem
from .citations import XREF_PREFIXES
from .markdown import Place, Scan

_KIND = {"figure": "fig", "table": "tbl", "equation": "eq"}
_ARTICLE = {"figure": "a figure", "table": "a table", "equation": "an equation"}


def check(scan: Scan) -> list[Problem]:
    problems: list[Problem] = []
    defined: dict[str, Place] = {}
    for label in scan.labels:
        if label.element and _KIND[label.element] != label.kind:
            problems.append(_at(label.place, "error", "xref-wrong-kind",
                                f"{label.label} is on {_ARTICLE[label.element]}, whose label "
                                f"starts with {_KIND[label.element]}: (as written, it is not "
                                "numbered and its references print ??)"))
            continue  # not a label the filter numbers: its references are undefined
        if label.label in defined:
            first = defined[label.label]
            problems.append(_at(label.place, "error", "xref-duplicate",
                                f"label {label.label} is defined twice (first at "
                                f"{first.path.name}:{first.line})"))
            continue
        defined[label.label] = label.place
    referenced = {c.key for c in scan.citations if c.key.startswith(XREF_PREFIXES)}
    for citation in scan.citations:
        if citation.key.startswith(XREF_PREFIXES) and not _defined(citation.key, defined, scan):
            what = ("numbered section" if citation.key.startswith("sec:")
                    else "figure, table or equation")
            problems.append(_at(citation.place, "error", "xref-undefined",
                                f"@{citation.key} refers to no {what} (it prints as ??)"))
    for label, place in defined.items():
        if label not in referenced and not label.startswith("sec:"):
            problems.append(_at(place, "warning", "xref-unused", f"{label} is never referenced"))
    return problems


def _defined(key: str, defined: dict[str, Place], scan: Scan) -> bool:
    """A label, or for a section also a heading's own id (``@sec:intro`` → ``intro``);
    never an unnumbered heading, which has no number to print."""
    if key.startswith("sec:") and {key, key.removeprefix("sec:")} & scan.unnumbered:
        return False
    if key in defined:
        return True
    return key.startswith("sec:") and key.removeprefix("sec:") in scan.anchors


def _at(place: Place, severity: str, code: str, message: str) -> Problem:
    return Problem(place.path, place.line, place.col, severity, code,  # type: ignore[arg-type]
                   message)
