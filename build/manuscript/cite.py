"""Stage 2, cite: citation keys in the AST → CSL JSON references and short ids.

Resolution order, so that a build needs the network only for a key found nowhere
locally:

1. manual references: the ``bibliography`` files manubot's process lists
   (``content/manual-references*.json|yaml|bib``) and ``references`` metadata;
2. an earlier build's ``output/references.json`` and ``output/citations.tsv`` (which
   also records how short DOIs and tags expanded, so no lookup is needed for them);
3. manubot's resolvers through a requests-cache cache in ``ci/cache/`` — in offline
   mode the cache alone answers.

Manubot's own loader validates manual references against a CSL schema it downloads
at run time; ours loads them without that (they are the author's own data).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from manubot.cite.citekey import CiteKey, shorten_citekey
from manubot.cite.csl_item import CSL_Item

from .config import Config
from .errors import CitationError
from .metadata import load_csl_file
from .sources import find_occurrences, read_text_file

logger = logging.getLogger(__name__)

TSV_FIELDS = ("input_id", "dealiased_id", "standard_id", "short_id")
_XNOS = re.compile(r"^(fig|tbl|eq):")  # cross-references, handled by the crossref filter


@dataclass
class Bibliography:
    csl_items: list[dict]
    rows: list[dict[str, str]]  # citations.tsv
    short_ids: dict[str, str] = field(default_factory=dict)  # input_id → short_id

    @property
    def references_json(self) -> str:
        return json.dumps(self.csl_items, indent=2, ensure_ascii=False) + "\n"

    @property
    def citations_tsv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TSV_FIELDS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


# ---------------------------------------------------------------- collecting keys


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
        destination = inlines[index]["c"]
        if aliases.get(key, destination) != destination:
            logger.warning("citation alias @%s is defined twice", key)
        aliases[key] = destination
        inlines = inlines[index + 1 :]
        if inlines and inlines[0]["t"] in ("SoftBreak", "LineBreak"):
            inlines = inlines[1:]
        found = True
    block["c"] = inlines
    return found and not inlines


def rewrite_ids(ast: dict, short_ids: dict[str, str]) -> None:
    """Point every resolved citation at its short id, as citeproc will see it."""
    for citation in _citations(ast["blocks"]):
        citation["citationId"] = short_ids.get(citation["citationId"], citation["citationId"])


# ---------------------------------------------------------------- local sources


def load_bibliography_file(path: Path) -> list[dict]:
    """A CSL JSON/YAML or BibTeX/BibLaTeX file as CSL items; syntax errors name file:line."""
    if path.suffix in (".json", ".yaml", ".yml"):
        return load_csl_file(path)  # a list of objects, bounded; problems name file:line
    else:
        from . import pandoc

        result = pandoc.run([str(path), "--to", "csljson"])
        items = json.loads(result.output)
    if items is None:
        return []
    if not isinstance(items, list):
        raise CitationError("a bibliography must be a list of CSL items", path, 1)
    return items


def load_manual_references(paths: list[Path], extra: list[dict]) -> dict[str, CSL_Item]:
    """standard_id → CSL item, later files winning, as manubot's load_manual_references."""
    references: dict[str, CSL_Item] = {}
    loaded: list[CSL_Item] = []
    for path in dict.fromkeys(paths):
        for item in load_bibliography_file(path):
            csl_item = CSL_Item(item)
            csl_item.note_append_text("Loaded from an external bibliography file by Manubot.")
            csl_item.note_append_dict({"source_bibliography": path.name})
            loaded.append(csl_item)
    loaded.extend(CSL_Item(item) for item in extra)
    for csl_item in loaded:
        try:
            csl_item.standardize_id()
        except ValueError as error:
            logger.warning("skipping a manual reference without a usable id: %s", error)
            continue
        standard_id = csl_item["id"]
        csl_item.set_id(shorten_citekey(standard_id))
        csl_item.clean(prune=False)
        references[standard_id] = csl_item
    return references


@dataclass(frozen=True)
class PriorBuild:
    references: dict[str, dict]  # standard_id → CSL item
    standard_ids: dict[str, str]  # input_id and dealiased_id → standard_id


def load_prior_build(output_dir: Path) -> PriorBuild:
    """An earlier build's outputs (or a copy of a repository's ``output`` branch)."""
    references: dict[str, dict] = {}
    standard_ids: dict[str, str] = {}
    refs_path, tsv_path = output_dir / "references.json", output_dir / "citations.tsv"
    if refs_path.is_file():
        try:
            items = json.loads(read_text_file(refs_path))
        except json.JSONDecodeError as error:
            logger.warning("%s:%s: ignoring an unreadable earlier output (%s)",
                           refs_path, error.lineno, error.msg)
            items = []
        for item in items if isinstance(items, list) else []:
            standard_id = CSL_Item(item).note_dict.get("standard_id")
            if standard_id:
                references[standard_id] = item
    if tsv_path.is_file():
        for row in csv.DictReader(io.StringIO(read_text_file(tsv_path)), delimiter="\t"):
            if row.get("standard_id"):
                standard_ids[row["input_id"]] = row["standard_id"]
                standard_ids[row["dealiased_id"]] = row["standard_id"]
    return PriorBuild(references, standard_ids)


# ---------------------------------------------------------------- resolving


def cite(config: Config, input_ids: list[str], aliases: dict[str, str],
         settings: dict) -> Bibliography:
    """The cite stage: the keys a manuscript uses → its bibliography.

    ``settings`` is the pandoc metadata manubot's process wrote (``bibliography``,
    ``references``, ``citekey-aliases``, ``manubot-infer-citekey-prefixes``).
    """
    aliases = {**(settings.get("citekey-aliases") or {}), **aliases}
    manual = load_manual_references(bibliography_files(config, settings),
                                    _as_list(settings.get("references")))
    prior = load_prior_build(config.output_dir)
    infer = settings.get("manubot-infer-citekey-prefixes", True)
    # Standardizing a short DOI may need a lookup too, so the cache wraps all of it.
    with _requests_cache(config):
        return resolve(config, input_ids, aliases, manual, prior, infer_prefixes=infer)


def bibliography_files(config: Config, settings: dict) -> list[Path]:
    return [config.root / path for path in _as_list(settings.get("bibliography"))]


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def resolve(
    config: Config,
    input_ids: list[str],
    aliases: dict[str, str],
    manual: dict[str, CSL_Item],
    prior: PriorBuild,
    infer_prefixes: bool = True,
) -> Bibliography:
    """Resolve every key, or raise one CitationError naming each failure and its places.

    Lookups that reach manubot's resolvers go through ``requests``: call this inside
    ``_requests_cache`` (as ``cite()`` does) so they use the cache.
    """
    rows: list[dict[str, str]] = []
    groups: dict[str, list[str]] = {}
    short_dois = short_doi_index([*manual.values(), *prior.references.values()])
    failures: list[str] = []
    for input_id in input_ids:
        if _XNOS.match(input_id):
            continue
        dealiased = aliases.get(input_id, input_id)
        # A short DOI needs a lookup to standardize; an earlier build already did it.
        known_standard = (prior.standard_ids.get(dealiased) or prior.standard_ids.get(input_id)
                          or short_dois.get(dealiased.lower()))
        effective = {input_id: known_standard} if known_standard else aliases
        citekey = CiteKey(input_id, aliases=effective, infer_prefix=infer_prefixes)
        try:
            standard_id = citekey.standard_id
        except Exception as error:
            failures.append(_failure(config, input_id, f"cannot be standardized: {error}"))
            continue
        rows.append({"input_id": input_id, "dealiased_id": dealiased,
                     "standard_id": standard_id, "short_id": shorten_citekey(standard_id)})
        groups.setdefault(standard_id, []).append(input_id)

    csl_items: list[dict] = []
    short_ids: dict[str, str] = {}
    for standard_id in sorted(groups):
        first = groups[standard_id][0]
        item = manual.get(standard_id) or prior.references.get(standard_id)
        if item is None:
            citekey = CiteKey(first, aliases={first: standard_id}, infer_prefix=infer_prefixes)
            item, problem = _fetch(citekey, standard_id)
            if item is None:
                failures.append(_failure(config, first, problem))
                continue
        csl_items.append(item)
        for input_id in groups[standard_id]:
            short_ids[input_id] = item["id"]
    if failures:
        first_place = _first_place(failures)
        raise CitationError(
            f"{len(failures)} citation(s) could not be resolved:\n" + "\n".join(failures),
            *first_place,
        )
    return Bibliography(csl_items=csl_items, rows=rows, short_ids=short_ids)


def short_doi_index(items: list[dict]) -> dict[str, str]:
    """``doi:10/abc`` → ``doi:10.…`` from items that record their shortDOI.

    Manubot sets a DOI item's URL to its shortDOI (``https://doi.org/abc``), so a
    references file from an earlier build is enough to expand short DOIs offline.
    """
    index: dict[str, str] = {}
    for item in items:
        doi, url = item.get("DOI"), item.get("URL") or ""
        match = re.fullmatch(r"https?://doi\.org/([a-z0-9]+)", url, re.I)
        if doi and match and not match.group(1).startswith("10"):
            index[f"doi:10/{match.group(1).lower()}"] = f"doi:{doi.lower()}"
    return index


def _fetch(citekey: CiteKey, standard_id: str) -> tuple[CSL_Item | None, str]:
    """Look a key up through manubot's resolvers; (None, reason) when that fails."""
    from manubot import __version__ as manubot_version

    if not citekey.is_handled_prefix:
        return None, ("is not a known identifier (doi:, pmid:, arxiv:, url:, …), "
                      "alias or manual reference")
    problem = citekey.inspect()
    if problem:
        return None, f"is not valid: {problem}"
    try:
        csl_item = citekey.csl_item
    except Exception as error:
        return None, f"lookup failed ({type(error).__name__}: {error})"
    csl_item.note_append_text(
        f"This CSL Item was generated by Manubot v{manubot_version} from its persistent "
        "identifier (standard_id)."
    )
    csl_item.note_append_dict({"standard_id": standard_id})
    csl_item.set_id(citekey.short_id)
    csl_item.clean(prune=False)
    return csl_item, ""


def _failure(config: Config, input_id: str, problem: str) -> str:
    places = find_occurrences(config.content_dir, f"@{input_id}")
    places += find_occurrences(config.content_dir, f"@{{{input_id}}}")
    where = ", ".join(f"{_rel(config.root, p)}:{n}" for p, n in dict.fromkeys(places))
    return f"  @{input_id} {problem} (cited at {where or 'an unknown place'})"


def _first_place(failures: list[str]) -> tuple[Path | None, int | None]:
    match = re.search(r"cited at ([^,)]+):(\d+)", failures[0])
    return (Path(match.group(1)), int(match.group(2))) if match else (None, None)


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


@contextmanager
def _requests_cache(config: Config) -> Iterator[None]:
    """Route manubot's ``requests`` calls through the on-disk cache while resolving.

    Offline, the cache alone answers (an uncached request gets a 504 and fails fast).
    """
    import requests_cache

    config.cache_dir.mkdir(parents=True, exist_ok=True)
    requests_cache.install_cache(
        str(config.cache_dir / "requests-cache"),
        include_get_headers=True,
        only_if_cached=config.offline,
    )
    try:
        yield
    finally:
        requests_cache.uninstall_cache()
