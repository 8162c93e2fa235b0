"""CRediT contributor roles: ``roles:`` per author in metadata.yaml → the 14 NISO terms.

Accepted spellings: a list of role names (``- Software``), or the
``- Conceptualization: true`` mappings some Manubot manuscripts use (false ones are
dropped). Case, dashes (``Writing - original draft``, with an en dash or a hyphen)
and ``and``/``&`` do not matter. An unknown role is a warning naming metadata.yaml:line
and is left out; the roles are normalised in place to the official term names, in
CRediT's order, so Jinja2 (``author.roles``), JSON-LD, JATS and DOCX all see the same.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

EN_DASH = "\u2013"  # the official names have an en dash after "Writing"


@dataclass(frozen=True)
class Role:
    name: str  # the official term, as JATS' vocab-term wants it
    slug: str  # as in https://credit.niso.org/contributor-roles/<slug>/


TERMS = tuple(Role(name, slug) for name, slug in (
    ("Conceptualization", "conceptualization"),
    ("Data curation", "data-curation"),
    ("Formal analysis", "formal-analysis"),
    ("Funding acquisition", "funding-acquisition"),
    ("Investigation", "investigation"),
    ("Methodology", "methodology"),
    ("Project administration", "project-administration"),
    ("Resources", "resources"),
    ("Software", "software"),
    ("Supervision", "supervision"),
    ("Validation", "validation"),
    ("Visualization", "visualization"),
    (f"Writing {EN_DASH} original draft", "writing-original-draft"),
    (f"Writing {EN_DASH} review & editing", "writing-review-editing"),
))


def _key(text: str) -> str:
    """``Writing - Review and Editing`` and ``writing (en dash) review & editing`` alike."""
    text = text.lower().replace("&", " and ").replace("visualisation", "visualization")
    text = text.replace("conceptualisation", "conceptualization")
    return re.sub(r"[^a-z]+", "", text.replace(" and ", " "))


_BY_KEY = {_key(role.name): role for role in TERMS} | {_key(r.slug): r for r in TERMS}


def lookup(name: str) -> Role | None:
    return _BY_KEY.get(_key(name))


def normalize_authors(authors: list[dict], metadata_path: Path | None = None) -> None:
    """Replace each author's ``roles`` by the official CRediT names it lists."""
    for author in authors:
        if not isinstance(author, dict) or author.get("roles") is None:
            continue
        found: set[Role] = set()
        for name in role_names(author["roles"]):
            role = lookup(name)
            if role is None:
                _warn_unknown(name, author.get("name", "?"), metadata_path)
            else:
                found.add(role)
        author["roles"] = [role.name for role in TERMS if role in found]


def role_names(value: object) -> list[str]:
    """Names from ``[Software, …]``, ``[{Software: true}, …]`` or ``{Software: true}``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [str(k) for k, v in value.items() if v]
    names: list[str] = []
    for item in value if isinstance(value, list) else []:
        names.extend(role_names(item))
    return names


def _warn_unknown(name: str, author: str, metadata_path: Path | None) -> None:
    line = _line_of(metadata_path, author, name)
    where = f"content/{metadata_path.name if metadata_path else 'metadata.yaml'}"
    where += f":{line}" if line else ""
    known = ", ".join(role.name for role in TERMS)
    logger.warning("%s: %s has the role %r, which is not a CRediT role (known: %s)",
                   where, author, name, known, extra={"file": metadata_path, "line": line})


def _line_of(path: Path | None, author: str, role: str) -> int | None:
    """The line naming ``role`` after the line naming ``author`` (YAML keeps no lines)."""
    if path is None or not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    start = next((n for n, line in enumerate(lines) if author in line), 0)
    for number in range(start, len(lines)):
        if role in lines[number]:
            return number + 1
    return None


def jsonld_roles(authors: list[dict]) -> list[dict]:
    """schema.org has no CRediT field: each author's roles as ``Role`` objects.

    schema.org's Role pattern wraps the person (``contributor`` → Role → ``contributor``)
    and names the role by ``roleName``: here the official CRediT terms.
    """
    roles = []
    for author in authors:
        names = author.get("roles") or [] if isinstance(author, dict) else []
        if not names or not author.get("name"):
            continue
        roles.append({
            "@type": "Role",
            "contributor": {"@type": "Person", "name": author["name"]},
            "roleName": [role.name for name in names if (role := lookup(str(name)))],
        })
    return roles
