"""Stage 2, cite: citation keys in the AST → CSL JSON references and short ids.

The orchestration, so that a build needs the network only for a key found nowhere
locally: standardize the keys (``cite.keys``); take what the local sources hold, in
their order (``cite.sources.SOURCES``: manual references, then an earlier build's
output); look the rest up (``cite.fetch``: the requests cache, then the network — in
offline mode the cache alone answers); collect the keys that failed; and apply the
publishing policy: a key found nowhere is a warning at each place it is cited
(``warn_unresolved``), unless ``manubot-fail-on-errors: true`` (``fail_on_errors``).

With ``manubot-clear-requests-cache: true`` the earlier build's sources are skipped for
identifiers and the cache is treated as stale: every key is looked up again, and the
earlier copy (stale cache entry, or the earlier ``output/references.json``) is used only
when the service fails, with a warning naming the key.

Every item, wherever it comes from, is made valid CSL JSON by ``csl.normalize`` (as
manubot's ``CSL_Item.clean(prune=True)``), so pandoc always gets a bibliography it reads.

It may import every module of ``cite`` and the package's core; ``cite.fetch`` only
inside the functions that look keys up (requests and requests-cache: 0.3 s, paid only
when citing).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from manubot.cite.csl_item import CSL_Item

from ..config import Config
from ..network import Door
from . import keys as citekeys
from .model import Bibliography, Failure, UnresolvedCitations, places, rel
from .sources import SOURCES, Held, Source

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # names only: cite.fetch costs 0.3 s to import
    from .fetch import Lookup, OnLookup


@dataclass(frozen=True)
class CiteSettings:
    """The manubot options of metadata.yaml's ``pandoc:`` block that steer this stage."""

    clear_cache: bool  # manubot-clear-requests-cache
    bibliography_cache: Path | None  # manubot-bibliography-cache
    infer_prefixes: bool  # manubot-infer-citekey-prefixes

    @classmethod
    def from_metadata(cls, config: Config, settings: dict) -> CiteSettings:
        bib_cache = settings.get("manubot-bibliography-cache")
        if bib_cache is not None and not isinstance(bib_cache, str):
            logger.warning("metadata.yaml: manubot-bibliography-cache should be a path, "
                           "not a %s; ignored", type(bib_cache).__name__)
            bib_cache = None
        return cls(
            clear_cache=bool(settings.get("manubot-clear-requests-cache", False)),
            bibliography_cache=config.root / bib_cache if bib_cache else None,
            infer_prefixes=bool(settings.get("manubot-infer-citekey-prefixes", True)),
        )


def cite(config: Config, input_ids: list[str], aliases: dict[str, str],
         settings: dict, *, sources: Sequence[Source] = SOURCES,
         on_lookup: OnLookup | None = None, raise_unresolved: bool = False) -> Bibliography:
    """The cite stage: the keys a manuscript uses → its bibliography.

    A key that resolves nowhere is a warning at each place it is cited (rootstock's
    policy), unless ``manubot-fail-on-errors: true`` or ``raise_unresolved`` (callers
    that report it themselves): then UnresolvedCitations is raised.

    ``settings`` is the pandoc metadata manubot's process wrote (``bibliography``,
    ``references``, ``citekey-aliases``, and the ``manubot-*`` options). ``sources``
    replaces the local sources (``manuscript cite`` outside a manuscript: no earlier
    build). ``on_lookup(done, total)`` is told how far the lookups are (a progress display).
    """
    from . import fetch  # requests + requests-cache: 0.3 s, only when citing

    options = CiteSettings.from_metadata(config, settings)
    aliases = {**(settings.get("citekey-aliases") or {}), **aliases}
    held = [(source, source.load(config, settings)) for source in sources]
    cache_path = next((path for source in sources
                       if (path := source.cache_path(config, settings))), None)
    policy = fetch.HttpPolicy.from_env(config.env)
    # Standardizing a short DOI may need a lookup too, so the cache wraps all of it.
    with fetch.manubot_quiet(config.verbose), fetch.installed(
            cache_path, offline=config.offline, clear=options.clear_cache,
            policy=policy, door=config.network):
        try:
            bibliography = resolve(config, input_ids, aliases, held,
                                   infer_prefixes=options.infer_prefixes,
                                   refresh=options.clear_cache, on_lookup=on_lookup)
        except UnresolvedCitations as error:
            if raise_unresolved or fail_on_errors(settings) or error.bibliography is None:
                raise
            warn_unresolved(config, error)
            bibliography = error.bibliography
    earlier = Held.merged(found for source, found in held if source.earlier)
    bibliography.cited_earlier = earlier.not_in(bibliography)
    return bibliography


def resolve(
    config: Config,
    input_ids: list[str],
    aliases: dict[str, str],
    held: list[tuple[Source, Held]],
    infer_prefixes: bool = True,
    refresh: bool = False,
    on_lookup: OnLookup | None = None,
    door: Door | None = None,
) -> Bibliography:
    """Resolve every key, or raise UnresolvedCitations naming each failure and its places.

    ``held``: each local source with what it holds, in the order they answer. In stages
    (the module's docstring says why in this order): standardize the keys; take what the
    sources hold; look the rest up (the requests cache, then the network); fall back to
    an earlier build's copy when a lookup fails. Lookups that reach manubot's resolvers
    go through ``requests``: call this inside ``fetch.installed`` (as ``cite()`` does) so
    they use the cache.
    """
    from . import fetch  # requests + requests-cache: 0.3 s, only when citing

    door = door or config.network
    merged = Held.merged(found for _, found in held)
    items = [item for _, found in held for item in found.references.values()]
    keys = citekeys.standardize(config, input_ids, aliases, merged.standard_ids, items,
                                infer_prefixes, door)
    found, to_fetch = _found_locally(keys.groups, held, refresh)
    fetched = fetch.fetch_all([(sid, keys.groups[sid][0]) for sid in to_fetch],
                              infer_prefixes, on_lookup or fetch.no_progress, door)
    earlier = Held.merged(found for source, found in held if source.earlier)
    for standard_id in to_fetch:
        item = _fetched_or_earlier(config, keys, standard_id, fetched[standard_id], earlier)
        if item is not None:
            found[standard_id] = item
    if keys.failures:
        hosts = [host for failure in keys.failures for host in failure.unreachable]
        door.mark_reported(hosts)  # named in the error, with the hint: not again
        raise UnresolvedCitations(keys.failures, config.root, door.unreachable(),
                                  _bibliography(found, keys))
    return _bibliography(found, keys)


def _found_locally(groups: dict[str, list[str]], held: list[tuple[Source, Held]],
                   refresh: bool) -> tuple[dict[str, dict], list[str]]:
    """The items the sources hold, the first holding one answering (an earlier build's
    not when ``refresh``: the author asked for fresh metadata); and the ids left to fetch."""
    answering = [found for source, found in held if not (refresh and source.earlier)]
    found: dict[str, dict] = {}
    to_fetch: list[str] = []
    for standard_id in sorted(groups):
        item = next((f.references[standard_id] for f in answering
                     if standard_id in f.references), None)
        if item is None:
            to_fetch.append(standard_id)
        else:
            found[standard_id] = item
    return found, to_fetch


def _fetched_or_earlier(config: Config, keys: citekeys.Keys, standard_id: str,
                        lookup: Lookup, earlier_build: Held) -> dict | None:
    """A looked-up item (from the service, or a stale cached answer when the service
    failed), else the earlier output's copy, else None with a Failure recorded."""
    first = keys.groups[standard_id][0]
    where = places(config, first)
    extra = {"file": where[0][0], "line": where[0][1]} if where else {}
    earlier = earlier_build.references.get(standard_id)
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
        keys.failures.append(Failure(first, problem, where, lookup.unreachable))
    return lookup.item


def _bibliography(found: dict[str, dict], keys: citekeys.Keys) -> Bibliography:
    """The items in standard-id order, and the short id each cited key now points at."""
    csl_items = [found[standard_id] for standard_id in sorted(found)]
    short_ids = {input_id: item["id"]
                 for item, standard_id in zip(csl_items, sorted(found), strict=True)
                 for input_id in keys.groups[standard_id]}
    return Bibliography(csl_items=csl_items, rows=keys.rows, short_ids=short_ids)


def _offline_problem(problem: str) -> str:
    """Offline, the cache's refusal surfaces as whatever manubot's parser made of an
    empty answer (a JSONDecodeError…): say what it means and what to do instead."""
    if not problem.startswith("lookup failed"):
        return problem  # not an identifier, not valid: true online as well
    return ("is not known offline: not in the manual references, the earlier "
            "output/references.json or ci/cache/ (build once online, or add it to "
            "content/manual-references.json)")


# ---------------------------------------------------------------- publishing policy


def warn_unresolved(config: Config, error: UnresolvedCitations) -> None:
    """Rootstock's policy (``manubot-fail-on-errors`` off, its default): the build goes on,
    each place an unresolved key is cited gets a warning, and the text shows the key in
    bold with a question mark where the citation would be (``mark_unresolved``)."""
    for text, _ in error.unreachable:  # one line per unreachable service, not per place
        logger.warning("%s", text)
    for failure in error.failures:
        if failure.unreachable:
            continue
        for path, line in failure.places or ((None, None),):
            where = f"{rel(config.root, path)}:{line}: " if path else ""
            logger.warning("%s@%s %s; the text shows it as **%s?**", where,
                           failure.key, failure.problem, failure.key,
                           extra={"file": path, "line": line})


def fail_on_errors(settings: dict) -> bool:
    """manubot's ``pandoc: manubot-fail-on-errors: true``: an unresolved citation stops
    the build (off by default, as in manubot: the build publishes with a warning)."""
    return settings.get("manubot-fail-on-errors") is True


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
