"""Citations as written: malformed keys, and tags (``[@tag:x]: doi:…``) defined twice
or never used. Whether a key resolves is the cite stage's answer (``check.py`` asks it)."""

from __future__ import annotations

from collections.abc import Mapping

from manubot.cite.citekey import CiteKey

from ..problems import Problem
from .markdown import Place, Scan

# Cross-references, not citations: pandoc-fignos, -tablenos, -eqnos and -secnos labels.
XREF_PREFIXES = ("fig:", "tbl:", "eq:", "sec:")


def check(scan: Scan, metadata_aliases: Mapping[str, Place | None],
          fail_on_errors: bool = False) -> list[Problem]:
    """``metadata_aliases``: ``pandoc: citekey-aliases:`` of metadata.yaml, with places.
    A malformed key is an error only with ``manubot-fail-on-errors: true``
    (``fail_on_errors``): otherwise the build publishes it with a warning, as manubot."""
    problems: list[Problem] = []
    aliases: dict[str, str] = {}
    defined: dict[str, Place] = {}
    for tag in scan.tags:
        if tag.key in defined:
            first = defined[tag.key]
            where = f"line {first.line}" if first.path == tag.place.path \
                else f"{first.path.name}:{first.line}"
            problems.append(_at(tag.place, "warning", "citation-tag-duplicate",
                                f"@{tag.key} is defined twice (first on {where}); the later "
                                "definition is used"))
        defined[tag.key] = tag.place
        aliases[tag.key] = tag.target
    used = {citation.key for citation in scan.citations}
    for tag in scan.tags:
        if tag.key not in used and defined[tag.key] == tag.place:
            problems.append(_at(tag.place, "warning", "citation-tag-unused",
                                f"@{tag.key} is defined but never cited"))
    for key, place in metadata_aliases.items():
        if key not in used and key not in defined and place is not None:
            problems.append(_at(place, "warning", "citation-tag-unused",
                                f"citekey alias @{key} is defined but never cited"))
    for citation in scan.citations:
        if citation.key.startswith(XREF_PREFIXES):
            continue
        problem = malformed(aliases.get(citation.key, citation.key))
        if problem:
            severity = "error" if fail_on_errors else "warning"
            problems.append(_at(citation.place, severity, "citation-malformed",
                                f"@{citation.key} is not a valid citation key: {problem}"))
    return problems


def malformed(key: str) -> str | None:
    """manubot's own syntax check of a prefixed identifier (no lookup), or None."""
    citekey = CiteKey(key, infer_prefix=True)
    try:
        return citekey.inspect() if citekey.is_handled_prefix else None
    except Exception as error:  # manubot's inspectors raise what their parsers raise
        return str(error) or type(error).__name__


def _at(place: Place, severity: str, code: str, message: str) -> Problem:
    return Problem(place.path, place.line, place.col, severity, code,  # type: ignore[arg-type]
                   message)
