"""``content/metadata.yaml``: syntax, duplicate keys, value types, required fields,
ORCID checksums, e-mail addresses, and unknown keys that look like typos."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from .. import yamlfile
from ..errors import ManuscriptError
from ..metadata import metadata_problems
from ..problems import Problem

# What Manubot, rootstock's template and this pipeline read. Any other key is a
# template variable and may hold anything; it is reported only when it is one
# letter or two away from one of these (``autors:``), which is almost always a typo.
KNOWN_KEYS = frozenset({
    "title", "subtitle", "date", "keywords", "lang", "authors", "author_info", "thumbnail",
    "html_url", "pandoc", "manubot", "manubot-randomize-author-order",
    "manubot-randomize-author-order-seed", "manuscript-hypothesis", "manuscript-analytics",
    "spelling", "abstract", "description",
})
AUTHOR_KEYS = frozenset({
    "name", "initials", "orcid", "github", "twitter", "mastodon", "mastodon-server",
    "mastodon_server", "correspondence",  # rootstock's own spelling; older templates' key
    "email", "affiliations", "funders", "corresponding", "symbol_str", "wikidata", "roles",
    "equal_contributor", "deceased", "google_scholar_id", "researchgate", "linkedin",
})
MANUBOT_PANDOC_KEYS = frozenset({
    "manubot-fail-on-errors", "manubot-infer-citekey-prefixes", "manubot-requests-cache-path",
    "manubot-clear-requests-cache", "manubot-bibliography-cache",
    "manubot-output-bibliography", "manubot-output-citekeys", "manubot-log-level",
})
_ORCID = re.compile(r"(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])")
_EMAIL = re.compile(r"[^@\s<>\"']+@[^@\s<>\"'.]+(?:\.[^@\s<>\"'.]+)+")


def check(path: Path) -> list[Problem]:
    if not path.is_file():
        return [Problem(path, None, None, "warning", "metadata-required",
                        "metadata.yaml is missing: the manuscript has no title or authors")]
    try:
        loaded = yamlfile.load(path, keep_duplicates=True)
    except ManuscriptError as error:
        return [Problem(path, error.line, None, "error", "metadata-syntax", error.message)]
    if loaded.data is None:
        loaded = yamlfile.Loaded({})
    if not isinstance(loaded.data, dict):
        return [Problem(path, 1, 1, "error", "metadata-type",
                        "metadata.yaml must be a mapping of keys to values")]
    problems = [Problem(path, line, col, "error", "metadata-duplicate-key",
                        f"duplicate key {key!r} (first given on line {first}); remove one")
                for key, line, col, first in loaded.duplicates]
    problems += metadata_problems(loaded, path)
    problems += _required(loaded, path)
    problems += _identifiers(loaded, path)
    problems += _typos(loaded, path)
    problems += _markup(loaded, path)
    return problems


def _required(loaded: yamlfile.Loaded, path: Path) -> list[Problem]:
    title = loaded.data.get("title")  # type: ignore[union-attr]
    if title is None or (isinstance(title, str) and not title.strip()):
        return [Problem(path, loaded.line("title") or 1, loaded.col("title") or 1, "warning",
                        "metadata-required", "no title: add `title:` to metadata.yaml")]
    return []


def _authors(loaded: yamlfile.Loaded) -> tuple[str, list]:
    data = loaded.data
    assert isinstance(data, dict)
    key = "authors" if data.get("authors") is not None else "author_info"
    authors = data.get(key)
    return key, authors if isinstance(authors, list) else []


def _identifiers(loaded: yamlfile.Loaded, path: Path) -> list[Problem]:
    problems = []
    key, authors = _authors(loaded)
    for index, author in enumerate(authors):
        if not isinstance(author, dict):
            continue
        where = (key, index)
        orcid = author.get("orcid")
        if isinstance(orcid, str) and orcid.strip():
            problem = orcid_problem(orcid.strip())
            if problem:
                problems.append(Problem(path, loaded.line(*where, "orcid"),
                                        loaded.col(*where, "orcid"), "warning", "metadata-orcid",
                                        f"author {index + 1}'s orcid {orcid!r} {problem}"))
        email = author.get("email")
        if isinstance(email, str) and email.strip() and not _EMAIL.fullmatch(email.strip()):
            problems.append(Problem(path, loaded.line(*where, "email"),
                                    loaded.col(*where, "email"), "warning", "metadata-email",
                                    f"author {index + 1}'s email {email!r} is not an e-mail "
                                    "address (name@example.org)"))
    return problems


def orcid_problem(orcid: str) -> str | None:
    """What is wrong with an ORCID iD, or None: the form, then the ISO 7064 11-2 check digit."""
    match = _ORCID.fullmatch(orcid)
    if not match:
        return "is not an ORCID iD (0000-0002-1825-0097)"
    digits = match.group(1).replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    expected = "X" if check == 10 else str(check)
    if digits[-1] != expected:
        return f"has a wrong check digit (it would end in {expected}): a typo?"
    return None


# An HTML tag or comment, or pandoc's raw attribute (`…`{=html}, {=openxml}…).
_MARKUP = re.compile(r"<[A-Za-z!/?][^<>]*>|\{=[A-Za-z0-9_+-]+\}")
# Values of pandoc: that are settings, or CSL items (whose titles may hold <i>), not text
# the page shows.
_PANDOC_NOT_TEXT = ("references", "citekey-aliases", "bibliography", "csl")


def _markup(loaded: yamlfile.Loaded, path: Path) -> list[Problem]:
    """Metadata the page, Word, JATS and Typst show, holding HTML or raw markup.

    The build shows such markup as the text it is (``metatext.py``): a title's
    ``<i>…</i>`` appears with its angle brackets, a ``<script>`` never runs. Said
    here, at its line, so the author writes Markdown (``*E. coli*``) instead.
    """
    data = loaded.data
    assert isinstance(data, dict)
    found: list[tuple[str, tuple]] = []

    def walk(value: object, where: tuple) -> None:
        if isinstance(value, str):
            match = _MARKUP.search(value)
            if match:
                found.append((match.group(0), where))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*where, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, (*where, index))

    for key in ("title", "subtitle", "keywords", "lang", "date"):
        walk(data.get(key), (key,))
    key, authors = _authors(loaded)
    walk(authors, (key,))
    pandoc = data.get("pandoc")
    if isinstance(pandoc, dict):
        for name, value in pandoc.items():
            if name not in _PANDOC_NOT_TEXT and not str(name).startswith("manubot"):
                walk(value, ("pandoc", name))
    problems = []
    for markup, where in found:
        shown = markup if len(markup) <= 40 else markup[:37] + "…"
        name = ".".join(str(part) for part in where if not isinstance(part, int))
        problems.append(Problem(
            path, loaded.line(*where), loaded.col(*where), "warning", "metadata-markup",
            f"{name} holds markup ({shown}): metadata is text, shown as written "
            "(nothing in it runs); write Markdown (*italic*) or plain text"))
    return problems


def _typos(loaded: yamlfile.Loaded, path: Path) -> list[Problem]:
    data = loaded.data
    assert isinstance(data, dict)
    problems = [_typo(loaded, path, key, KNOWN_KEYS, (key,)) for key in data]
    key, authors = _authors(loaded)
    for index, author in enumerate(authors):
        if isinstance(author, dict):
            problems += [_typo(loaded, path, name, AUTHOR_KEYS, (key, index, name),
                               f"author {index + 1}'s ") for name in author]
    pandoc = data.get("pandoc")
    if isinstance(pandoc, dict):
        problems += [_typo(loaded, path, name, MANUBOT_PANDOC_KEYS, ("pandoc", name), "pandoc.")
                     for name in pandoc if str(name).startswith("manubot")]
    return [problem for problem in problems if problem is not None]


def _typo(loaded: yamlfile.Loaded, path: Path, key: object, known: frozenset[str],
          where: tuple, prefix: str = "") -> Problem | None:
    if not isinstance(key, str) or key in known:
        return None
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.8)
    if not close:
        return None
    return Problem(path, loaded.line(*where), loaded.col(*where), "warning",
                   "metadata-unknown-key",
                   f"unknown key {prefix}{key}: did you mean {close[0]!r}?")
