"""Checks of ``content/metadata.yaml`` and the manual references, with their lines.

Manubot reads these with no checks: an author given as a string, an author without a
name, ``date: 31 Feb 2024`` end in a Python traceback, and a title given as a list
comes out as ``<title>-</title>``. Here each gets one error naming its key and line.
Only keys Manubot or our theme interpret are checked; any other key is a template
variable and may hold anything.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from manubot.cite.csl_item import CSL_Item

from . import yamlfile
from .errors import CitationError, ConfigError
from .problems import Problem
from .sources import json_item_lines, parse_json, read_text_file

logger = logging.getLogger(__name__)

_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")  # BCP 47, loosely
_TEXT = (str, int, float)  # YAML reads `title: 2024` or `orcid: 0000` as numbers
_AUTHOR_TEXT = ("name", "initials", "orcid", "github", "twitter", "mastodon",
                "mastodon_server", "email", "symbol_str", "wikidata")


def check_metadata(loaded: yamlfile.Loaded, path: Path) -> None:
    """Raise ConfigError at the first value of the wrong kind (the build stops there)."""
    for problem in metadata_problems(loaded, path):
        raise ConfigError(problem.message, path, problem.line)


def metadata_problems(loaded: yamlfile.Loaded, path: Path) -> list[Problem]:
    """Every value of the wrong kind, as ``metadata-type`` / ``metadata-required`` errors.

    A value found wrong is not looked into further (an author that is not a mapping has
    no fields to check), so each mistake is reported once.
    """
    metadata = loaded.data
    assert isinstance(metadata, dict)
    problems: list[Problem] = []

    def fail(message: str, *where: object, code: str = "metadata-type") -> bool:
        problems.append(Problem(path, loaded.line(*where), loaded.col(*where), "error",
                                code, message))
        return False

    def text(key: str, value: object, *where: object) -> bool:
        if value is not None and (isinstance(value, bool) or not isinstance(value, _TEXT)):
            return fail(f"{key} must be text, not {_kind(value)}", *where)
        return True

    for key in ("title", "subtitle", "lang", "html_url", "thumbnail"):
        text(key, metadata.get(key), key)
    lang = metadata.get("lang")
    if isinstance(lang, str) and not _LANGUAGE_TAG.fullmatch(lang):
        # It becomes <html lang="…">, where pandoc does not escape a quote.
        fail(f"lang must be a language tag such as en-US, not {lang!r}", "lang")
    if "keywords" in metadata:
        keywords = metadata["keywords"]
        if isinstance(keywords, list):
            for index, keyword in enumerate(keywords):
                text("each keyword", keyword, "keywords", index)
        else:
            text("keywords", keywords, "keywords")
    _check_date(metadata.get("date"), fail)
    for key in ("pandoc", "manubot"):
        if metadata.get(key) is not None and not isinstance(metadata[key], dict):
            fail(f"{key} must be a mapping of settings, not {_kind(metadata[key])}", key)
    manubot = metadata.get("manubot")
    if isinstance(manubot, dict):
        # ci_source is what a CI build sets; written by hand it must have its shape
        # (ci_source: 5 was an AttributeError traceback where the page reads it).
        for setting in ("ci_source",):
            value = manubot.get(setting)
            if value is not None and not isinstance(value, dict):
                fail(f"manubot.{setting} must be a mapping of settings, not "
                     f"{_kind(value)}", "manubot", setting)
    key = "authors" if metadata.get("authors") is not None else "author_info"
    _check_authors(key, metadata.get(key), fail, text)
    pandoc = metadata.get("pandoc")
    if isinstance(pandoc, dict):
        _check_pandoc(pandoc, fail)
    return problems


def _check_pandoc(pandoc: dict, fail: Callable[..., bool]) -> None:
    bibliography = pandoc.get("bibliography")
    if bibliography is not None and not (
            isinstance(bibliography, str)
            or (isinstance(bibliography, list) and all(isinstance(b, str) for b in bibliography))):
        fail("pandoc.bibliography must be a file name or a list of them", "pandoc",
             "bibliography")
    aliases = pandoc.get("citekey-aliases")
    if aliases is not None and not isinstance(aliases, dict):
        fail(f"pandoc.citekey-aliases must be a mapping of tag to citation, "
             f"not {_kind(aliases)}", "pandoc", "citekey-aliases")
    if isinstance(aliases, dict):
        for tag, target in aliases.items():
            if not isinstance(target, str):
                fail(f"citekey alias {tag!r} must map to a citation key, not {_kind(target)}",
                     "pandoc", "citekey-aliases", tag)
    references = pandoc.get("references")
    if references is not None:
        if not isinstance(references, list):
            fail(f"pandoc.references must be a list of CSL items, not {_kind(references)}",
                 "pandoc", "references")
            return
        for index, item in enumerate(references):
            if not isinstance(item, dict):
                fail(f"pandoc.references item {index + 1} is {_kind(item)}, not a CSL item",
                     "pandoc", "references", index)


def _check_date(value: object, fail: Callable[..., bool]) -> None:
    if value is None or isinstance(value, date | datetime):
        return
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
            return
        except ValueError:
            pass
    fail(f"date must be a date as YYYY-MM-DD (e.g. 2024-02-29), not {value!r}", "date")


def _check_authors(key: str, authors: object, fail: Callable[..., bool],
                   text: Callable[..., bool]) -> None:
    if authors is None:
        return
    if not isinstance(authors, list):
        fail(f"{key} must be a list of authors, each with a name (`- name: Jane Roe`), "
             f"not {_kind(authors)}", key)
        return
    for index, author in enumerate(authors):
        number = f"author {index + 1}"
        if not isinstance(author, dict):
            fail(f"{number} must be a mapping with a name (`- name: Jane Roe`), "
                 f"not {_kind(author)}", key, index)
            continue
        if not isinstance(author.get("name"), str) or not author["name"].strip():
            fail(f"{number} has no name (each author needs `name:`)", key, index,
                 code="metadata-required")
        for field in _AUTHOR_TEXT:
            text(f"{number}'s {field}", author.get(field), key, index, field)
        for field in ("affiliations", "funders"):
            value = author.get(field)
            if isinstance(value, list):
                for item_index, item in enumerate(value):
                    if not isinstance(item, str):
                        fail(f"{number}'s {field} must be text, not {_kind(item)}",
                             key, index, field, item_index)
            elif value is not None and not isinstance(value, str):
                fail(f"{number}'s {field} must be a list of text, not {_kind(value)}",
                     key, index, field)


def warn_duplicate_references(paths: list[Path]) -> None:
    """Warn when two manual references have the same id: Manubot keeps the last one."""
    seen: dict[str, str] = {}
    for path in paths:
        if not path.is_file() or path.suffix not in (".json", ".yaml", ".yml"):
            continue  # BibTeX needs pandoc to read; cite reports its problems
        for item, line in _items_with_lines(path):
            try:
                standard_id = CSL_Item(dict(item)).standardize_id()["id"]
            except (ValueError, TypeError):  # no usable id (or id: 5): cite reports it
                continue
            place = str(CitationError("", path, line)).removesuffix(": ")
            if standard_id in seen:
                problem = CitationError(f"manual reference {standard_id} is also defined at "
                                        f"{seen[standard_id]}; the later one is used", path, line)
                logger.warning("%s", problem, extra={"file": path, "line": line})
            seen[standard_id] = place


def _items_with_lines(path: Path) -> list[tuple[dict, int | None]]:
    """The file's objects and their lines; what is not a list of objects cite reports."""
    if path.suffix == ".json":
        text = read_text_file(path)
        items = parse_json(text, path, CitationError)
        lines = json_item_lines(text)
    else:
        loaded = yamlfile.load(path, CitationError)
        items = loaded.data
        lines = [loaded.line(index) for index in range(len(items))] \
            if isinstance(items, list) else []
    if not isinstance(items, list):
        return []
    return [(item, lines[i] if i < len(lines) else None)
            for i, item in enumerate(items) if isinstance(item, dict)]


def _kind(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false",
             int: "a number", float: "a number", type(None): "empty"}
    return names.get(type(value), type(value).__name__)
