"""The local citation sources, in the order they answer: ``SOURCES``.

A key is looked up on the network only when no source here holds it:

1. ``ManualReferences``: the ``bibliography`` files manubot's process lists
   (``content/manual-references*.json|yaml|bib``), ``manubot-bibliography-cache`` when
   it exists, and ``references`` metadata;
2. ``EarlierOutput``: an earlier build's ``output/references.json`` and
   ``output/citations.tsv`` (which also records how short DOIs and tags expanded, so no
   lookup is needed for them);
3. ``CitedEarlier``: ``output/.cited-earlier.json``, what builds before that one cited;
4. ``RequestsCache``: ``ci/cache/`` (or ``manubot-requests-cache-path``), the requests
   cache below the lookups (``cite.fetch``): it holds answers, not items.

Each source gives the cite stage's key its digest (``digest``): what of it, changed,
must resolve the keys again. A source marked ``earlier`` is an earlier build's answer:
with ``manubot-clear-requests-cache: true`` it is used only when a lookup fails.
Adding a source is adding it to ``SOURCES``.

It may import ``cite.model`` and the package's core (config, csl, yamlfile, metadata,
pandoc, fsutil, stages); not the keys, the lookups or their orchestration.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from manubot.cite.citekey import shorten_citekey
from manubot.cite.csl_item import CSL_Item

from .. import csl, yamlfile
from ..config import Config
from ..errors import CitationError
from ..fsutil import digest, files_digest, write_text_atomic
from ..metadata import warn_duplicate_references
from ..sources import parse_json, read_text_file
from ..stages import ONCE
from .model import TSV_FIELDS, Bibliography, first_line, rel

logger = logging.getLogger(__name__)

DEFAULT_REQUESTS_CACHE = "ci/cache/requests-cache"
# In output/, beside references.json: what earlier builds cited and this one does not. Offline,
# a citation cut (or half-saved) and pasted back is then still known: the earlier output
# alone would have forgotten it with the build in between.
EARLIER_FILE = ".cited-earlier.json"


@dataclass(frozen=True)
class Held:
    """What a source holds: items by standard id, and the standard ids keys expand to."""

    references: dict[str, dict] = field(default_factory=dict)  # standard_id → CSL item
    standard_ids: dict[str, str] = field(default_factory=dict)  # input/dealiased id → standard_id

    @classmethod
    def merged(cls, helds: Iterable[Held]) -> Held:
        """One Held of several, the first holding a key winning."""
        references: dict[str, dict] = {}
        standard_ids: dict[str, str] = {}
        for held in reversed(list(helds)):
            references.update(held.references)
            standard_ids.update(held.standard_ids)
        return cls(references, standard_ids)

    def not_in(self, bibliography: Bibliography) -> str:
        """EARLIER_FILE's text: what this earlier build knew that ``bibliography`` dropped."""
        standard = {row["standard_id"] for row in bibliography.rows}
        cited = {row[column] for row in bibliography.rows
                 for column in ("input_id", "dealiased_id")}
        kept = {"references": {sid: item for sid, item in sorted(self.references.items())
                               if sid not in standard},
                "standard_ids": {key: sid for key, sid in sorted(self.standard_ids.items())
                                 if key not in cited}}
        return json.dumps(kept, indent=1, ensure_ascii=False) + "\n"


class Source:
    """One place citations are found without the network; see the module docstring."""

    name = ""
    earlier = False  # an earlier build's answer: skipped when fresh metadata is asked for

    def digest(self, config: Config, settings: dict) -> str:
        """What of this source, changed, makes the cite stage run again ("": nothing)."""
        return ""

    def load(self, config: Config, settings: dict) -> Held:
        """What it holds (read once per run of the cite stage)."""
        return Held()

    def cache_path(self, config: Config, settings: dict) -> Path | None:
        """The requests cache it is, if it is one (``cite.fetch`` installs it)."""
        return None


class ManualReferences(Source):
    name = "manual references"

    def digest(self, config: Config, settings: dict) -> str:
        return files_digest(bibliography_files(config, settings), config.root)

    def load(self, config: Config, settings: dict) -> Held:
        # Here, so the build's cite stage, `check` and `manuscript cite` all warn. A build
        # replays it when the stage is skipped, so a text edit reads no references again.
        warn_duplicate_references([config.root / path for path in
                                   as_list(settings.get("bibliography"))
                                   if isinstance(path, str)])
        return Held(dict(load_manual_references(bibliography_files(config, settings),
                                                as_list(settings.get("references")),
                                                config.root)))


class EarlierOutput(Source):
    """An earlier build's outputs (or a copy of a repository's ``output`` branch).

    Only a shortcut: anything unreadable or of the wrong shape is ignored with a
    warning, and the keys are looked up again. Not in the stage's key: they are the
    stage's own outputs (every build would otherwise run the stage twice).
    """

    name = "output/references.json"
    earlier = True

    def load(self, config: Config, settings: dict) -> Held:
        output_dir = config.output_dir
        return Held(_prior_references(output_dir / "references.json"),
                    _prior_standard_ids(output_dir / "citations.tsv"))


class CitedEarlier(Source):
    """EARLIER_FILE: what builds before the last one cited. Our own bookkeeping, so a
    damaged one is quietly nothing. Not in the key: the stage writes it."""

    name = EARLIER_FILE
    earlier = True

    def load(self, config: Config, settings: dict) -> Held:
        path = config.output_dir / EARLIER_FILE
        try:
            data = json.loads(path.read_bytes())
            references, standard_ids = data["references"], data["standard_ids"]
            if not (isinstance(references, dict) and isinstance(standard_ids, dict)
                    and all(isinstance(item, dict) for item in references.values())
                    and all(isinstance(sid, str) for sid in standard_ids.values())):
                raise TypeError("not the shape this build writes")
        except FileNotFoundError:
            return Held()
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            # RecursionError: json.loads of a file nested 100,000 deep
            logger.debug("%s not used: %s", path, type(error).__name__)
            return Held()
        return Held(references, standard_ids)


class RequestsCache(Source):
    """The requests cache the lookups go through (``manubot-requests-cache-path``; set
    empty: none). Not in the key: it only ever answers what the service would."""

    name = "requests cache"

    def cache_path(self, config: Config, settings: dict) -> Path | None:
        cache = settings.get("manubot-requests-cache-path", DEFAULT_REQUESTS_CACHE)
        return config.root / str(cache) if cache else None


SOURCES: tuple[Source, ...] = (ManualReferences(), EarlierOutput(), CitedEarlier(),
                               RequestsCache())


def sources_digest(config: Config, settings: dict,
                   sources: Sequence[Source] = SOURCES) -> str:
    """The sources' part of the cite stage's key."""
    return digest([f"{source.name}:{source.digest(config, settings)}" for source in sources])


def bibliography_files(config: Config, settings: dict) -> list[Path]:
    """The bibliography files, plus manubot-bibliography-cache when it exists (as manubot)."""
    paths = [config.root / path for path in as_list(settings.get("bibliography"))]
    cache = settings.get("manubot-bibliography-cache")
    if isinstance(cache, str) and cache and (config.root / cache).is_file():
        paths.append(config.root / cache)
    return list(dict.fromkeys(paths))


def write_bibliography_cache(config: Config, settings: dict, bibliography: Bibliography) -> None:
    """manubot-bibliography-cache: the resolved items, as CSL JSON or (.yaml/.yml) YAML."""
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


def as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- manual references


# What pandoc reads of the bibliography formats manubot read through pandoc-citeproc.
_PANDOC_BIBLIOGRAPHIES = {".bib": "biblatex", ".bibtex": "bibtex", ".ris": "ris",
                          ".xml": "endnotexml"}


def load_bibliography_file(path: Path) -> list:
    """A CSL JSON/YAML or BibTeX/BibLaTeX file as a list; syntax errors name file:line."""
    if path.suffix == ".json":
        items = parse_json(read_text_file(path), path, CitationError)
    elif path.suffix in (".yaml", ".yml"):
        items = yamlfile.load(path, CitationError).data  # bounded; duplicate keys refused
    elif path.suffix in _PANDOC_BIBLIOGRAPHIES:
        from .. import pandoc

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
            where = f"{rel(root or Path.cwd(), path)}: " if path else ""
            logger.warning("%smanual reference %s has no usable id (%s): skipped",
                           where, origin, first_line(error), extra={"file": path, "line": None})
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
    where = f"{rel(root, path)} {origin}" if path else origin
    try:
        result = csl.normalize(item, where)
    except csl.InvalidItem as error:
        raise CitationError(f"manual reference {origin} {error}", path) from None
    if result.lost:
        logger.warning("%s: this reference lost %s, which were not valid CSL JSON (-v "
                       "shows each field dropped)", where, ", ".join(result.lost),
                       extra={"file": path, "line": None})
    return CSL_Item(result.item)


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


