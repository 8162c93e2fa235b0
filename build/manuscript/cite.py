"""Stage 2, cite: citation keys in the AST → CSL JSON references and short ids.

Resolution order, so that a build needs the network only for a key found nowhere
locally:

1. manual references: the ``bibliography`` files manubot's process lists
   (``content/manual-references*.json|yaml|bib``), ``manubot-bibliography-cache`` when
   it exists, and ``references`` metadata;
2. an earlier build's ``output/references.json`` and ``output/citations.tsv`` (which
   also records how short DOIs and tags expanded, so no lookup is needed for them);
3. manubot's resolvers, concurrently, through the requests cache of
   ``cite_transport`` (``ci/cache/`` unless ``manubot-requests-cache-path`` says
   otherwise) — in offline mode the cache alone answers.

With ``manubot-clear-requests-cache: true`` step 2 is skipped for identifiers and the
cache is treated as stale: every key is looked up again, and the earlier copy (stale
cache entry, or the earlier ``output/references.json``) is used only when the service
fails, with a warning naming the key.

Every item, wherever it comes from, is made valid CSL JSON by ``csl.normalize`` (as
manubot's ``CSL_Item.clean(prune=True)``), so pandoc always gets a bibliography it reads.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from manubot.cite.citekey import CiteKey, shorten_citekey
from manubot.cite.csl_item import CSL_Item

from . import csl, yamlfile
from .config import Config
from .errors import CitationError
from .metadata import warn_duplicate_references
from .network import HINT, Door, unreachable_reason
from .sources import find_occurrences, read_text_file
from .stages import ONCE

logger = logging.getLogger(__name__)

TSV_FIELDS = ("input_id", "dealiased_id", "standard_id", "short_id")
DEFAULT_REQUESTS_CACHE = "ci/cache/requests-cache"
# In output/, beside references.json: what earlier builds cited and this one does not. Offline,
# a citation cut (or half-saved) and pasted back is then still known: the earlier output
# alone would have forgotten it with the build in between.
EARLIER_FILE = ".cited-earlier.json"
_MAX_WORKERS = 16  # lookups in flight overall; cite_transport bounds them per host
# cross-references (pandoc-xnos, pandoc-secnos), handled by the crossref filter
_XNOS = re.compile(r"^(fig|tbl|eq|sec):")
OnLookup = Callable[[int, int], None]  # (lookups done, lookups in all)


@dataclass
class Bibliography:
    csl_items: list[dict]
    rows: list[dict[str, str]]  # citations.tsv
    short_ids: dict[str, str] = field(default_factory=dict)  # input_id → short_id
    cited_earlier: str = "{}\n"  # EARLIER_FILE's text

    @functools.cached_property  # written to output/ and handed to pandoc: encode once
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


UNRESOLVED_CLASS = "citation-unresolved"


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
               if c["citationId"] not in known and not _XNOS.match(c["citationId"])]
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


# ---------------------------------------------------------------- failures


@dataclass(frozen=True)
class Failure:
    """A key that could not be resolved, and every place the content cites it."""

    key: str
    problem: str
    places: tuple[tuple[Path, int], ...]
    # The services that could not be reached for this key (network.py): keys failed
    # for the same hosts are reported together, in one line.
    unreachable: tuple[str, ...] = ()


class UnresolvedCitations(CitationError):
    """Keys found nowhere: one line per key — or, for keys whose services could not be
    reached, one line per host with the hint ``--offline`` — and one annotation per place.
    ``bibliography`` holds what did resolve (rootstock publishes with the rest unresolved)."""

    def __init__(self, failures: list[Failure], root: Path,
                 reasons: dict[str, str] | None = None,
                 bibliography: Bibliography | None = None) -> None:
        self.failures = failures
        self.bibliography = bibliography
        lines = [f"  @{f.key} {f.problem} (cited at {_where(root, f.places)})"
                 for f in failures if not f.unreachable]
        self.unreachable = _by_hosts(failures, reasons or {})
        lines += [f"  {text}" for text, _ in self.unreachable]
        first = next((place for f in failures for place in f.places), (None, None))
        super().__init__(f"{len(failures)} citation(s) could not be resolved:\n"
                         + "\n".join(lines), *first)

    @property
    def annotations(self) -> list[tuple[Path, int | None, str]]:
        """One per place a failed key is cited, saying what failed for that key."""
        return [(path, line, f"@{f.key} {f.problem}")
                for f in self.failures for path, line in f.places] or super().annotations


def _by_hosts(failures: list[Failure], reasons: dict[str, str]
              ) -> list[tuple[str, list[Failure]]]:
    """The failures whose services could not be reached, one line per set of hosts."""
    groups: dict[tuple[str, ...], list[Failure]] = {}
    for failure in failures:
        if failure.unreachable:
            groups.setdefault(failure.unreachable, []).append(failure)
    lines = []
    for hosts, group in groups.items():
        which = " and ".join(f"{host} ({reasons.get(host, 'no answer')})" for host in hosts)
        keys = ", ".join(f"@{f.key}" for f in group[:3])
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        lines.append((f"{len(group)} citation(s) ({keys}{more}) not looked up: {which} "
                      f"could not be reached; {HINT}", group))
    return lines


def warn_unresolved(config: Config, error: UnresolvedCitations) -> None:
    """Rootstock's policy (``manubot-fail-on-errors`` off, its default): the build goes on,
    each place an unresolved key is cited gets a warning, and citeproc prints the key
    in bold with a question mark where the citation would be."""
    for text, _ in error.unreachable:  # one line per unreachable service, not per place
        logger.warning("%s", text)
    for failure in error.failures:
        if failure.unreachable:
            continue
        for path, line in failure.places or ((None, None),):
            where = f"{_rel(config.root, path)}:{line}: " if path else ""
            logger.warning("%s@%s %s; the text shows it as **%s?**", where,
                           failure.key, failure.problem, failure.key,
                           extra={"file": path, "line": line})


def fail_on_errors(settings: dict) -> bool:
    """manubot's ``pandoc: manubot-fail-on-errors: true``: an unresolved citation stops
    the build (off by default, as in manubot: the build publishes with a warning)."""
    return settings.get("manubot-fail-on-errors") is True


def _places(config: Config, input_id: str) -> tuple[tuple[Path, int], ...]:
    places = find_occurrences(config.content_dir, f"@{input_id}")
    places += find_occurrences(config.content_dir, f"@{{{input_id}}}")
    return tuple(dict.fromkeys(places))


def _where(root: Path, places: tuple[tuple[Path, int], ...]) -> str:
    return ", ".join(f"{_rel(root, p)}:{n}" for p, n in places) or "an unknown place"


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- local sources


# What pandoc reads of the bibliography formats manubot read through pandoc-citeproc.
_PANDOC_BIBLIOGRAPHIES = {".bib": "biblatex", ".bibtex": "bibtex", ".ris": "ris",
                          ".xml": "endnotexml"}


def load_bibliography_file(path: Path) -> list:
    """A CSL JSON/YAML or BibTeX/BibLaTeX file as a list; syntax errors name file:line."""
    if path.suffix == ".json":
        try:
            items = json.loads(read_text_file(path))
        except json.JSONDecodeError as error:
            raise CitationError(f"invalid JSON: {error.msg}", path, error.lineno) from None
        except RecursionError:
            raise CitationError("invalid JSON: nested too deeply", path) from None
        except ValueError as error:  # an integer of more than 4,300 digits
            raise CitationError(f"invalid JSON: {error}", path) from None
    elif path.suffix in (".yaml", ".yml"):
        items = yamlfile.load(path, CitationError).data  # bounded; duplicate keys refused
    elif path.suffix in _PANDOC_BIBLIOGRAPHIES:
        from . import pandoc

        result = pandoc.run([str(path), "--from", _PANDOC_BIBLIOGRAPHIES[path.suffix],
                             "--to", "csljson"])
        items = json.loads(result.output)
    else:  # manubot hands it to pandoc-citeproc, logs its failure and builds on
        logger.warning("%s: not a bibliography format this build reads (%s): skipped",
                       path.name, ", ".join([".json", ".yaml", ".yml",
                                             *_PANDOC_BIBLIOGRAPHIES]),
                       extra={"file": path, "line": None})
        return []
    if items is None:
        return []
    if not isinstance(items, list):
        raise CitationError("a bibliography must be a list of CSL items, not "
                            f"{json_kind(items)}", path, 1)
    return items


def load_manual_references(paths: list[Path], extra: list,
                           root: Path | None = None) -> dict[str, CSL_Item]:
    """standard_id → valid CSL item, later files winning, as manubot's load_manual_references.

    An item that is not an object stops the build naming its file and index (manubot
    fails on it too); one without an id manubot skips, and so does this, with a warning.
    """
    loaded: list[tuple[CSL_Item, Path | None, str]] = []
    for path in dict.fromkeys(paths):
        for index, item in enumerate(load_bibliography_file(path)):
            origin = f"item {index}" + (f" (id {item['id']!r})" if _has_id(item) else "")
            csl_item = _manual_item(item, path, origin)
            csl_item.note_append_text("Loaded from an external bibliography file by Manubot.")
            csl_item.note_append_dict({"source_bibliography": path.name})
            loaded.append((csl_item, path, origin))
    for index, item in enumerate(extra):
        origin = f"metadata references item {index}"
        loaded.append((_manual_item(item, None, origin), None, origin))

    references: dict[str, CSL_Item] = {}
    for csl_item, path, origin in loaded:
        try:
            csl_item.standardize_id()  # manubot's: standard_citation, note standard_id, id
        except Exception as error:  # manubot raises bare ValueErrors and worse for odd ids
            # manubot skips such an item and builds on: so does the build, saying so.
            where = f"{_rel(root or Path.cwd(), path)}: " if path else ""
            logger.warning("%smanual reference %s has no usable id (%s): skipped",
                           where, origin, _first_line(error), extra={"file": path, "line": None})
            continue
        standard_id = csl_item["id"]
        csl_item.set_id(shorten_citekey(standard_id))
        references[standard_id] = _valid(csl_item, path, origin, root or Path.cwd())
    return references


def json_kind(value: object) -> str:
    """What a JSON/YAML value is, in the words of JSON: "a string", "an object"…"""
    kinds = [(bool, "a boolean"), (int | float, "a number"), (str, "a string"),
             (list, "an array"), (dict, "an object")]
    return next((name for kind, name in kinds if isinstance(value, kind)), "null")


def _has_id(item: object) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), str | int)


def _manual_item(item: object, path: Path | None, origin: str) -> CSL_Item:
    if not isinstance(item, dict):
        raise CitationError(f"manual reference {origin} is {json_kind(item)}, not a CSL "
                            "item (an object with an id)", path)
    if isinstance(item.get("note"), list) and len(item["note"]) == 1:
        item = {**item, "note": item["note"][0]}  # note_append_text needs a string
    if not isinstance(item.get("note", ""), str):
        item = {k: v for k, v in item.items() if k != "note"}
    return CSL_Item(item)


def _valid(item: dict, path: Path | None, origin: str, root: Path) -> CSL_Item:
    """``csl.normalize`` with the logging a reader of the build output needs."""
    where = f"{_rel(root, path)} {origin}" if path else origin
    try:
        result = csl.normalize(item, where)
    except csl.InvalidItem as error:
        raise CitationError(f"manual reference {origin} {error}", path) from None
    if result.lost:
        logger.warning("%s: this reference lost %s, which were not valid CSL JSON (-v "
                       "shows each field dropped)", where, ", ".join(result.lost),
                       extra={"file": path, "line": None})
    return CSL_Item(result.item)


@dataclass(frozen=True)
class PriorBuild:
    references: dict[str, dict]  # standard_id → CSL item
    standard_ids: dict[str, str]  # input_id and dealiased_id → standard_id

    def not_in(self, bibliography: Bibliography) -> str:
        """EARLIER_FILE's text: what this prior build knew that ``bibliography`` dropped."""
        standard = {row["standard_id"] for row in bibliography.rows}
        cited = {row[column] for row in bibliography.rows
                 for column in ("input_id", "dealiased_id")}
        kept = {"references": {sid: item for sid, item in sorted(self.references.items())
                               if sid not in standard},
                "standard_ids": {key: sid for key, sid in sorted(self.standard_ids.items())
                                 if key not in cited}}
        return json.dumps(kept, indent=1, ensure_ascii=False) + "\n"


def load_prior_build(output_dir: Path) -> PriorBuild:
    """An earlier build's outputs (or a copy of a repository's ``output`` branch), and what
    builds before it cited (EARLIER_FILE).

    They are only a shortcut: anything unreadable or of the wrong shape is ignored
    with a warning, and the keys are looked up again.
    """
    refs_path, tsv_path = output_dir / "references.json", output_dir / "citations.tsv"
    earlier = _cited_earlier(output_dir / EARLIER_FILE)
    return PriorBuild({**earlier.references, **_prior_references(refs_path)},
                      {**earlier.standard_ids, **_prior_standard_ids(tsv_path)})


def _cited_earlier(path: Path) -> PriorBuild:
    """EARLIER_FILE; our own bookkeeping, so a damaged one is quietly nothing."""
    try:
        data = json.loads(path.read_bytes())
        references, standard_ids = data["references"], data["standard_ids"]
        if not (isinstance(references, dict) and isinstance(standard_ids, dict)
                and all(isinstance(item, dict) for item in references.values())
                and all(isinstance(sid, str) for sid in standard_ids.values())):
            raise TypeError("not the shape this build writes")
    except FileNotFoundError:
        return PriorBuild({}, {})
    except (OSError, ValueError, KeyError, TypeError) as error:
        logger.debug("%s not used: %s", path, error)
        return PriorBuild({}, {})
    return PriorBuild(references, standard_ids)


def _prior_references(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        items = json.loads(read_text_file(path))
    except (ValueError, RecursionError, CitationError) as error:  # a 5,000-digit number too
        line = getattr(error, "lineno", None) or getattr(error, "line", None)
        logger.warning("%s:%s: ignoring an unreadable earlier output (%s)", path, line or 1,
                       getattr(error, "msg", error), extra=ONCE)
        return {}
    if not isinstance(items, list):
        logger.warning("%s: ignoring an earlier output that is not a list of CSL items", path,
                       extra=ONCE)
        return {}
    references: dict[str, dict] = {}
    for index, item in enumerate(items):
        try:
            valid = csl.normalize(item, f"{path.name} item {index}").item
        except csl.InvalidItem as error:
            logger.warning("%s: ignoring item %d of an earlier output: %s", path, index, error,
                           extra=ONCE)
            continue
        standard_id = CSL_Item(valid).note_dict.get("standard_id")
        if standard_id:
            references[standard_id] = valid
    return references


def _prior_standard_ids(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        reader = csv.DictReader(io.StringIO(read_text_file(path)), delimiter="\t")
        rows = list(reader)
    except (CitationError, csv.Error) as error:
        logger.warning("%s: ignoring an unreadable earlier output (%s)", path, error, extra=ONCE)
        return {}
    if not set(TSV_FIELDS) <= set(reader.fieldnames or ()):
        logger.warning("%s: ignoring an earlier output without the columns %s", path,
                       ", ".join(TSV_FIELDS), extra=ONCE)
        return {}
    standard_ids: dict[str, str] = {}
    for row in rows:
        if row.get("standard_id"):
            standard_ids[row["input_id"]] = row["standard_id"]
            standard_ids[row["dealiased_id"]] = row["standard_id"]
    return standard_ids


# ---------------------------------------------------------------- resolving


@dataclass(frozen=True)
class CiteSettings:
    """The manubot options of metadata.yaml's ``pandoc:`` block that steer this stage."""

    requests_cache: Path | None  # manubot-requests-cache-path (None: no on-disk cache)
    clear_cache: bool  # manubot-clear-requests-cache
    bibliography_cache: Path | None  # manubot-bibliography-cache
    infer_prefixes: bool  # manubot-infer-citekey-prefixes

    @classmethod
    def from_metadata(cls, config: Config, settings: dict) -> CiteSettings:
        cache = settings.get("manubot-requests-cache-path", DEFAULT_REQUESTS_CACHE)
        bib_cache = settings.get("manubot-bibliography-cache")
        if bib_cache is not None and not isinstance(bib_cache, str):
            logger.warning("metadata.yaml: manubot-bibliography-cache should be a path, "
                           "not a %s; ignored", type(bib_cache).__name__)
            bib_cache = None
        return cls(
            requests_cache=config.root / str(cache) if cache else None,
            clear_cache=bool(settings.get("manubot-clear-requests-cache", False)),
            bibliography_cache=config.root / bib_cache if bib_cache else None,
            infer_prefixes=bool(settings.get("manubot-infer-citekey-prefixes", True)),
        )


def cite(config: Config, input_ids: list[str], aliases: dict[str, str],
         settings: dict, *, prior: PriorBuild | None = None,
         on_lookup: OnLookup | None = None, raise_unresolved: bool = False) -> Bibliography:
    """The cite stage: the keys a manuscript uses → its bibliography.

    A key that resolves nowhere is a warning at each place it is cited (rootstock's
    policy), unless ``manubot-fail-on-errors: true`` or ``raise_unresolved`` (callers
    that report it themselves): then UnresolvedCitations is raised.

    ``settings`` is the pandoc metadata manubot's process wrote (``bibliography``,
    ``references``, ``citekey-aliases``, and the ``manubot-*`` options). ``prior``
    replaces the earlier build's outputs (``manuscript cite`` outside a manuscript).
    ``on_lookup(done, total)`` is told how far the lookups are (a progress display).
    """
    options = CiteSettings.from_metadata(config, settings)
    aliases = {**(settings.get("citekey-aliases") or {}), **aliases}
    # Here, so the build's cite stage, `check` and `manuscript cite` all warn. A build
    # replays it when the stage is skipped, so a text edit reads no references again.
    warn_duplicate_references([config.root / path for path in
                               _as_list(settings.get("bibliography")) if isinstance(path, str)])
    manual = load_manual_references(bibliography_files(config, settings),
                                    _as_list(settings.get("references")), config.root)
    if prior is None:
        prior = load_prior_build(config.output_dir)
    from . import cite_transport  # requests + requests-cache: 0.3 s, only when citing

    policy = cite_transport.HttpPolicy.from_env(config.env)
    # Standardizing a short DOI may need a lookup too, so the cache wraps all of it.
    with _manubot_quiet(config.verbose), cite_transport.installed(
            options.requests_cache, offline=config.offline, clear=options.clear_cache,
            policy=policy, door=config.network):
        try:
            bibliography = resolve(config, input_ids, aliases, manual, prior,
                                   infer_prefixes=options.infer_prefixes,
                                   refresh=options.clear_cache, on_lookup=on_lookup)
        except UnresolvedCitations as error:
            if raise_unresolved or fail_on_errors(settings) or error.bibliography is None:
                raise
            warn_unresolved(config, error)
            bibliography = error.bibliography
    bibliography.cited_earlier = prior.not_in(bibliography)
    return bibliography


@contextmanager
def _manubot_quiet(verbose: bool) -> Iterator[None]:
    """Manubot logs each failed lookup with the whole answer (an HTML page) on the root
    logger; we report every failure ourselves, with its places, so hide that unless -v."""
    root = logging.getLogger()
    level = root.level
    if not verbose:
        root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)


def bibliography_files(config: Config, settings: dict) -> list[Path]:
    """The bibliography files, plus manubot-bibliography-cache when it exists (as manubot)."""
    paths = [config.root / path for path in _as_list(settings.get("bibliography"))]
    cache = settings.get("manubot-bibliography-cache")
    if isinstance(cache, str) and cache and (config.root / cache).is_file():
        paths.append(config.root / cache)
    return list(dict.fromkeys(paths))


def write_bibliography_cache(config: Config, settings: dict, bibliography: Bibliography) -> None:
    """manubot-bibliography-cache: the resolved items, as CSL JSON or (.yaml/.yml) YAML."""
    from .fsutil import write_text_atomic

    cache = settings.get("manubot-bibliography-cache")
    if not isinstance(cache, str) or not cache:
        return
    path = config.root / cache
    if path.suffix in (".yaml", ".yml"):
        from manubot.util import get_configured_yaml

        text = get_configured_yaml().dump(bibliography.csl_items, default_flow_style=False,
                                          width=float("inf"), allow_unicode=True,
                                          sort_keys=False)
    else:
        text = bibliography.references_json
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)


def _as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class _Lookup:
    item: dict | None
    problem: str = ""
    stale_urls: list[str] = field(default_factory=list)
    unreachable: tuple[str, ...] = ()  # hosts that could not be reached (network.py)


def resolve(
    config: Config,
    input_ids: list[str],
    aliases: dict[str, str],
    manual: dict[str, CSL_Item],
    prior: PriorBuild,
    infer_prefixes: bool = True,
    refresh: bool = False,
    on_lookup: OnLookup | None = None,
    door: Door | None = None,
) -> Bibliography:
    """Resolve every key, or raise UnresolvedCitations naming each failure and its places.

    In stages (the module's docstring says why in this order): standardize the keys;
    take what the manual references and then the earlier output hold; look the rest up
    (the requests cache, then the network); fall back to the earlier output's copy when
    a lookup fails. Lookups that reach manubot's resolvers go through ``requests``: call
    this inside ``cite_transport.installed`` (as ``cite()`` does) so they use the cache.
    """
    door = door or config.network
    keys = _standardize(config, input_ids, aliases, manual, prior, infer_prefixes, door)
    found, to_fetch = _found_locally(keys.groups, manual, prior, refresh)
    fetched = _fetch_all([(sid, keys.groups[sid][0]) for sid in to_fetch], infer_prefixes,
                         on_lookup or _no_progress, door)
    for standard_id in to_fetch:
        item = _fetched_or_earlier(config, keys, standard_id, fetched[standard_id], prior)
        if item is not None:
            found[standard_id] = item
    if keys.failures:
        hosts = [host for failure in keys.failures for host in failure.unreachable]
        door.mark_reported(hosts)  # named in the error, with the hint: not again
        raise UnresolvedCitations(keys.failures, config.root, door.unreachable(),
                                  _bibliography(found, keys))
    return _bibliography(found, keys)


@dataclass
class _Keys:
    """The cited keys, standardized: what the lookups work on and citations.tsv records."""

    rows: list[dict[str, str]] = field(default_factory=list)  # citations.tsv
    groups: dict[str, list[str]] = field(default_factory=dict)  # standard_id → input_ids
    failures: list[Failure] = field(default_factory=list)


def _standardize(config: Config, input_ids: list[str], aliases: dict[str, str],
                 manual: dict[str, CSL_Item], prior: PriorBuild,
                 infer_prefixes: bool, door: Door) -> _Keys:
    """Each key's standard id, as manubot's ``CiteKey`` gives it; cross-references skipped.

    A short DOI needs a lookup to standardize: the earlier build's citations.tsv, or
    a reference that records its shortDOI, already did it, so no request is made.
    """
    keys = _Keys()
    short_dois = short_doi_index([*manual.values(), *prior.references.values()])
    for input_id in input_ids:
        if _XNOS.match(input_id):
            continue
        dealiased = aliases.get(input_id, input_id)
        known_standard = (prior.standard_ids.get(dealiased) or prior.standard_ids.get(input_id)
                          or short_dois.get(dealiased.lower()))
        effective = {input_id: known_standard} if known_standard else aliases
        citekey = CiteKey(input_id, aliases=effective, infer_prefix=infer_prefixes)
        try:
            with door.tracking() as unreachable:
                standard_id = citekey.standard_id
        except Exception as error:  # manubot's standardizers raise anything, network included
            keys.failures.append(Failure(input_id, f"cannot be standardized: "
                                                   f"{_error_text(error)}",
                                         _places(config, input_id), tuple(unreachable)))
            continue
        keys.rows.append({"input_id": input_id, "dealiased_id": dealiased,
                          "standard_id": standard_id, "short_id": shorten_citekey(standard_id)})
        keys.groups.setdefault(standard_id, []).append(input_id)
    return keys


def _found_locally(groups: dict[str, list[str]], manual: dict[str, CSL_Item],
                   prior: PriorBuild, refresh: bool) -> tuple[dict[str, dict], list[str]]:
    """The items the manual references, then the earlier output, hold (the latter not
    when ``refresh``: the author asked for fresh metadata); and the ids left to fetch."""
    found: dict[str, dict] = {}
    to_fetch: list[str] = []
    for standard_id in sorted(groups):
        item = manual.get(standard_id)
        if item is None and not refresh:
            item = prior.references.get(standard_id)
        if item is None:
            to_fetch.append(standard_id)
        else:
            found[standard_id] = item
    return found, to_fetch


def _fetched_or_earlier(config: Config, keys: _Keys, standard_id: str, lookup: _Lookup,
                        prior: PriorBuild) -> dict | None:
    """A looked-up item (from the service, or a stale cached answer when the service
    failed), else the earlier output's copy, else None with a Failure recorded."""
    first = keys.groups[standard_id][0]
    places = _places(config, first)
    extra = {"file": places[0][0], "line": places[0][1]} if places else {}
    earlier = prior.references.get(standard_id)
    if lookup.item is None and earlier is not None:
        logger.warning("@%s: %s; using the earlier build's output/references.json",
                       first, lookup.problem, extra=extra)
        return earlier
    if lookup.item is not None and lookup.stale_urls:
        logger.warning("@%s: the citation service failed; using the cached answer of an "
                       "earlier lookup", first, extra=extra)
        logger.debug("@%s: stale cached answers used: %s", first, ", ".join(lookup.stale_urls))
    if lookup.item is None:
        problem = _offline_problem(lookup.problem) if config.offline else lookup.problem
        keys.failures.append(Failure(first, problem, places, lookup.unreachable))
    return lookup.item


def _bibliography(found: dict[str, dict], keys: _Keys) -> Bibliography:
    """The items in standard-id order, and the short id each cited key now points at."""
    csl_items = [found[standard_id] for standard_id in sorted(found)]
    short_ids = {input_id: item["id"]
                 for item, standard_id in zip(csl_items, sorted(found), strict=True)
                 for input_id in keys.groups[standard_id]}
    return Bibliography(csl_items=csl_items, rows=keys.rows, short_ids=short_ids)


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


def _offline_problem(problem: str) -> str:
    """Offline, the cache's refusal surfaces as whatever manubot's parser made of an
    empty answer (a JSONDecodeError…): say what it means and what to do instead."""
    if not problem.startswith("lookup failed"):
        return problem  # not an identifier, not valid: true online as well
    return ("is not known offline: not in the manual references, the earlier "
            "output/references.json or ci/cache/ (build once online, or add it to "
            "content/manual-references.json)")


def _fetch_all(keys: list[tuple[str, str]], infer_prefixes: bool,
               on_lookup: OnLookup, door: Door) -> dict[str, _Lookup]:
    """Look keys up concurrently; the per-host bound lives in cite_transport.

    PubMed ids are fetched together first (``_pubmed_batch``); what that misses is looked
    up one by one like any other key. The rest is interleaved by service, so the workers
    spread over the hosts rather than all waiting on the first one's bound (the keys come
    sorted, hence grouped by prefix).
    """
    from . import cite_transport

    lock, done = threading.Lock(), [0]  # the workers count together
    if keys:
        on_lookup(0, len(keys))

    def one(key: tuple[str, str], prefetched: dict | None = None) -> _Lookup:
        standard_id, input_id = key
        citekey = CiteKey(input_id, aliases={input_id: standard_id}, infer_prefix=infer_prefixes)
        with cite_transport.tracking(standard_id) as stale, door.tracking() as unreachable:
            lookup = _fetch(citekey, standard_id, input_id, prefetched)
        lookup.stale_urls = stale
        if lookup.item is None and unreachable:
            lookup.unreachable = tuple(unreachable)
        with lock:
            done[0] += 1
            on_lookup(done[0], len(keys))
        return lookup

    with cite_transport.tracking("pubmed batch") as stale:
        pubmed = _pubmed_batch([sid.split(":", 1)[1] for sid, _ in keys
                                if sid.startswith("pubmed:")])
    lookups = {sid: one((sid, input_id), pubmed[sid])
               for sid, input_id in keys if pubmed.get(sid) is not None}
    for lookup in lookups.values():  # answered by a stale cached batch: warn per key
        lookup.stale_urls += stale
    rest = _interleave([key for key in keys if key[0] not in lookups])
    if len(rest) <= 1:
        return lookups | {key[0]: one(key) for key in rest}
    with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(rest)),
                            thread_name_prefix="cite") as pool:
        return lookups | dict(zip([key[0] for key in rest], pool.map(one, rest), strict=True))


def _interleave(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Round-robin over the prefixes (doi, pubmed, arxiv…): one key of each in turn."""
    by_prefix: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        by_prefix.setdefault(key[0].split(":", 1)[0], []).append(key)
    queues = list(by_prefix.values())
    return [queue[i] for i in range(max(map(len, queues), default=0))
            for queue in queues if i < len(queue)]


_EFETCH = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi"
_PUBMED_BATCH = 200  # ids per efetch request: NCBI's advice for GET requests


def _pubmed_batch(pmids: list[str]) -> dict[str, dict | None]:
    """``pubmed:ID`` → manubot's CSL item for it, from one efetch request per 200 ids.

    NCBI allows 3 E-utilities requests a second without an API key (manubot's limiter
    keeps it to 2, in every thread), so one request per id is what made a cold build
    with a hundred PubMed ids take a minute. Ids missing from the answer, or a request
    that fails, are left to the one-by-one lookup, which reports each failure.
    """
    if len(pmids) <= 1:
        return {}
    # requests.get: requests-cache's session while cite_transport.installed is active,
    # whose transport asks the door (network.py) first, like manubot's own calls.
    import requests
    from manubot.cite.pubmed import _get_eutils_rate_limiter, csl_item_from_pubmed_article
    from manubot.util import get_manubot_user_agent

    found: dict[str, dict | None] = {}
    for start in range(0, len(pmids), _PUBMED_BATCH):
        chunk = pmids[start:start + _PUBMED_BATCH]
        params = {"db": "pubmed", "id": ",".join(chunk), "retmode": "xml"}
        try:
            with _get_eutils_rate_limiter():
                response = requests.get(_EFETCH, params,
                                        headers={"User-Agent": get_manubot_user_agent()})
            response.raise_for_status()
            articles = ElementTree.fromstring(response.content)
        except (requests.RequestException, ElementTree.ParseError) as error:
            logger.debug("PubMed batch of %d ids failed (%s); looking them up one by one",
                         len(chunk), error)
            continue
        for article in articles:
            try:
                item = csl_item_from_pubmed_article(article)
            except Exception as error:  # manubot's parser raises whatever the XML makes it
                logger.debug("PubMed batch: an article could not be read (%s)", error)
                continue
            if str(item.get("PMID")) in chunk:
                found[f"pubmed:{item['PMID']}"] = item
    return found


def _fetch(citekey: CiteKey, standard_id: str, input_id: str,
           prefetched: dict | None = None) -> _Lookup:
    """Look a key up through manubot's resolvers (unless ``prefetched`` already holds what
    they return); a _Lookup without item when that fails."""
    from manubot import __version__ as manubot_version

    if not citekey.is_handled_prefix:
        return _Lookup(None, "is not a known identifier (doi:, pmid:, arxiv:, url:, …), "
                             "alias or manual reference")
    problem = citekey.inspect()
    if problem:
        return _Lookup(None, f"is not valid: {problem}")
    try:
        # Not ``citekey.csl_item``: a cached_property, which before Python 3.12 holds one
        # lock for all instances of the class and so would run every lookup one by one.
        csl_item = prefetched if prefetched is not None else \
            citekey.handler.get_csl_item(citekey)
    except Exception as error:  # manubot's resolvers raise whatever their parsers raise
        return _Lookup(None, f"lookup failed ({_error_text(error)})")
    if not isinstance(csl_item, dict):
        return _Lookup(None, f"lookup returned a {type(csl_item).__name__}, not a CSL item")
    csl_item = CSL_Item(csl_item)
    csl_item.note_append_text(
        f"This CSL Item was generated by Manubot v{manubot_version} from its persistent "
        "identifier (standard_id)."
    )
    csl_item.note_append_dict({"standard_id": standard_id})
    csl_item.set_id(citekey.short_id)
    try:
        result = csl.normalize(csl_item, f"@{input_id}")
    except csl.InvalidItem as error:
        return _Lookup(None, f"lookup returned an unusable item: it {error}")
    if result.lost:
        logger.warning("@%s: the looked-up reference lost %s: not valid CSL JSON",
                       input_id, ", ".join(result.lost))
    return _Lookup(result.item)


def _no_progress(done: int, total: int) -> None:
    pass


def _error_text(error: BaseException) -> str:
    """What a failed lookup says: a network failure in a few words (requests' own text
    nests the whole chain, ``HTTPSConnectionPool(…NameResolutionError…)``), else the
    error's type and first line."""
    import requests

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}".rstrip()
    if isinstance(error, requests.RequestException):
        return unreachable_reason(error) or type(error).__name__
    return f"{type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "the answer could not be understood"


def explain_bibliography_error(message: str, refs_path: Path, items: list[dict]) -> str | None:
    """pandoc's complaint about the temporary references file, told about our items.

    ``Error in $[408]`` becomes the item's id and its source (a manual reference file or
    a lookup), so the message never names a deleted temporary file. None: not about it.
    """
    if str(refs_path) not in message:
        return None
    detail = message.split(str(refs_path), 1)[1].lstrip(": ").strip()
    match = re.search(r"\$\[(\d+)\]", detail)
    if match and int(match.group(1)) < len(items):
        item = items[int(match.group(1))]
        note = CSL_Item(item).note_dict
        source = note.get("source_bibliography") or "a lookup"
        return (f"pandoc cannot read reference {item.get('id')!r} "
                f"(standard id {note.get('standard_id', '?')}, from {source}): {detail}")
    return f"pandoc cannot read the references (output/references.json): {detail}"
