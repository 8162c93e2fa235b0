"""``manuscript check``: every check, every problem in one run, nothing written.

The checks (``checks/``) read the raw sources and return Problems with line and
column; then the build's own process and cite stages run in memory, so a key that
resolves nowhere (offline: not in the manual references, an earlier output or the
cache) is reported too, and what those stages warn about becomes a problem as well.

The same source checks run in ``build`` (``log_for_build``): their problems are logged
as warnings, except those a build stage already reports where it meets them (a missing
image, an unknown cross-reference, an invalid manual reference: see ``REPORTED_BY_BUILD``),
so each problem is told once per build. ``serve`` shows what a build logged over the page.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import cite, pandoc, process, spelling, yamlfile
from .checks import citations, crossrefs, images, links, markdown, metadata, references
from .config import Config
from .errors import CitationError, ConfigError, ContentError, ManuscriptError
from .metadata import metadata_problems
from .problems import Problem
from .sources import Section, read_sections

logger = logging.getLogger(__name__)

# Reported in build by the stage that meets them (images.py, render.py, cite/,
# process.py, or an error that stops the build), so build's checks leave them out.
REPORTED_BY_BUILD = frozenset({
    "image-missing", "xref-undefined", "reference-invalid",
    "reference-duplicate-id", "reference-syntax", "citation-malformed", "citation-unresolved",
    "metadata-syntax", "metadata-duplicate-key", "metadata-type",
})
_ERROR_CODES = {ContentError: "content-error", ConfigError: "config-error",
                CitationError: "citation-error"}


@dataclass(frozen=True)
class Report:
    problems: list[Problem]  # sorted by file, line, column
    sections: int
    references: int | None  # None: the cite stage could not run

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]


def check(config: Config, *, external_links: bool = False) -> Report:
    """Every problem of the manuscript. Raises only what stops any reading of it
    (a link out of the manuscript, an unreadable section): nothing to check then."""
    process.check_sources(config)
    sections = read_sections(config.content_dir)
    scan = markdown.scan(sections)  # once: every check below reads the same sources
    problems = source_problems(config, scan)
    with _captured_warnings() as logged:
        csl_items, stage_problems = _run_stages(config, problems, scan)
    problems += stage_problems
    logged_problems = [_logged_problem(record, config.root) for record in logged]
    problems += [p for p in logged_problems if not _covered(p, problems)]
    problems += _spelling(config, sections, csl_items or [], problems)
    if external_links:
        problems += _external_links(config, scan)
    return Report(sorted(set(problems), key=_order), len(sections),
                  len(csl_items) if csl_items is not None else None)


def source_problems(config: Config, scan: markdown.Scan, *,
                    for_build: bool = False) -> list[Problem]:
    """The checks of the sources themselves: no processing, no lookups, no network.
    ``for_build``: without what the build's stages check themselves."""
    metadata_path = config.content_dir / "metadata.yaml"
    return [*metadata.check(metadata_path),
            *references.check(config.layout().manual_references, validate=not for_build),
            *citations.check(scan, _metadata_aliases(metadata_path),
                             _fail_on_errors(metadata_path)),
            *crossrefs.check(scan),
            *images.check(scan, config.content_dir),
            *links.check_internal(scan)]


def log_for_build(config: Config) -> None:
    """``build``: the source checks' problems as warnings (see ``REPORTED_BY_BUILD``)."""
    scan = markdown.scan(read_sections(config.content_dir))
    for problem in sorted(source_problems(config, scan, for_build=True), key=_order):
        if problem.code in REPORTED_BY_BUILD:
            continue
        logger.warning("%s: %s [%s]", problem.location(config.root), problem.message,
                       problem.code, extra={"file": problem.path, "line": problem.line,
                                            "col": problem.col})


# ------------------------------------------------------------------ the build's stages


def _run_stages(config: Config, found: list[Problem],
                scan: markdown.Scan) -> tuple[list[dict] | None, list[Problem]]:
    """process → parse → cite, in memory; their errors as problems (unless a check
    already reported the same place). The CSL items, or None if cite could not run."""
    try:
        processed = _process(config, found)
        ast = pandoc.markdown_to_ast(processed.markdown)
        keys, aliases = cite.collect_citekeys(ast)
        settings = processed.variables["pandoc"]
        bibliography = cite.cite(config, keys, aliases, settings, raise_unresolved=True)
    except cite.UnresolvedCitations as error:
        # An error only where the build stops on it (manubot-fail-on-errors): by
        # default a build publishes with a warning, as rootstock does.
        severity = "error" if cite.fail_on_errors(settings) else "warning"
        resolved = error.bibliography.csl_items if error.bibliography else None
        return resolved, _unresolved(error, scan, severity)
    except ManuscriptError as error:
        problem = Problem(error.path, error.line, None, "error",
                          _ERROR_CODES.get(type(error), "build-error"), error.message)
        return None, [] if _covered(problem, found) else [problem]
    return bibliography.csl_items, []


def _unresolved(error: cite.UnresolvedCitations, scan: markdown.Scan,
                severity: str = "error") -> list[Problem]:
    """One ``citation-unresolved`` problem per place a failed key is cited, with its column."""
    problems = []
    for text, group in error.unreachable:  # one line per unreachable service, not per key
        places = [c.place for c in scan.citations if c.key == group[0].key]
        path, line, col = ((places[0].path, places[0].line, places[0].col) if places else
                           (*(group[0].places or [(None, None)])[0], None))
        problems.append(Problem(path, line, col, "error", "citation-unresolved", text))
    for failure in error.failures:
        if failure.unreachable:
            continue  # in its service's line above
        if citations.malformed(failure.key):
            continue  # reported as citation-malformed, with what is wrong with it
        places = [c.place for c in scan.citations if c.key == failure.key]
        message = f"@{failure.key} {failure.problem}"
        problems += [Problem(p.path, p.line, p.col, severity, "citation-unresolved", message)  # type: ignore[arg-type]
                     for p in places] or [
            Problem(path, line, None, severity, "citation-unresolved", message)  # type: ignore[arg-type]
            for path, line in failure.places or [(None, None)]]
    return problems


def _process(config: Config, found: list[Problem]) -> process.Processed:
    """The process stage; past a metadata.yaml the checks found wrong, with only its
    ``pandoc:`` settings (if they are right), so the citations get checked too."""
    path = config.content_dir / "metadata.yaml"
    if not any(p.path == path and p.severity == "error" for p in found):
        return process.process(config)
    try:
        data = yamlfile.load(path, keep_duplicates=True).data
    except ManuscriptError:
        data = None
    settings = data.get("pandoc") if isinstance(data, dict) else None
    usable = isinstance(settings, dict) and not metadata_problems(
        yamlfile.Loaded({"pandoc": settings}), path)
    return process.process(config, metadata={"pandoc": settings} if usable else {})


@contextmanager
def _captured_warnings() -> Iterator[list[logging.LogRecord]]:
    """The stages' warnings, kept (to become problems) rather than printed; the rest
    of their logging goes to the usual handlers."""
    package = logging.getLogger("manuscript")
    saved = package.handlers[:]
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                records.append(record)
                return
            for handler in saved:
                if record.levelno >= handler.level:
                    handler.handle(record)

    package.handlers = [Capture()]
    try:
        yield records
    finally:
        package.handlers = saved


def _logged_problem(record: logging.LogRecord, root: Path) -> Problem:
    path = getattr(record, "file", None)
    line = getattr(record, "line", None)
    message = record.getMessage()
    if path is not None:  # stages that know the place often write it first, too
        for shown in {_relative(Path(path)), Problem(Path(path), None, None, "warning", "",
                                                     "").location(root), str(path)}:
            for prefix in (f"{shown}:{line}: ", f"{shown}: "):
                message = message.removeprefix(prefix)
    return Problem(Path(path) if path else None, line, None, "warning", "build-warning",
                   message)


def _covered(problem: Problem, found: list[Problem]) -> bool:
    """A check already reported this place (the stage's words for the same mistake)."""
    if problem.path is None:
        return False
    same_file = [p for p in found if p.path is not None
                 and p.path.resolve() == problem.path.resolve()]
    return any(problem.line is None or p.line == problem.line for p in same_file)


def _spelling(config: Config, sections: list[Section], csl_items: list[dict],
              found: list[Problem]) -> list[Problem]:
    """The spelling check; a metadata.yaml it cannot read (reported by the metadata
    check, or a malformed ``spelling:`` list) is a problem, not the end of the run."""
    try:
        return spelling.check_spelling(config, sections, csl_items)
    except ManuscriptError as error:
        problem = Problem(error.path, error.line, None, "error", "metadata-type", error.message)
        return [] if _covered(problem, found) else [problem]


def _external_links(config: Config, scan: markdown.Scan) -> list[Problem]:
    if config.offline:
        logger.info("links: offline, external links not checked")
        return []
    return links.check_external(links.external(scan), config.cache_dir, config.network)


def _fail_on_errors(path: Path) -> bool:
    """``pandoc: manubot-fail-on-errors: true`` of metadata.yaml (see cite.fail_on_errors)."""
    try:
        data = yamlfile.load(path, keep_duplicates=True).data
    except ManuscriptError:
        return False  # the metadata check reports it
    settings = data.get("pandoc") if isinstance(data, dict) else None
    return isinstance(settings, dict) and cite.fail_on_errors(settings)


def _metadata_aliases(path: Path) -> dict[str, markdown.Place | None]:
    """``pandoc: citekey-aliases:`` of metadata.yaml, each with its place."""
    try:
        loaded = yamlfile.load(path, keep_duplicates=True)
    except ManuscriptError:
        return {}  # the metadata check reports it
    pandoc_settings = loaded.data.get("pandoc") if isinstance(loaded.data, dict) else None
    aliases = pandoc_settings.get("citekey-aliases") if isinstance(pandoc_settings, dict) \
        else None
    if not isinstance(aliases, dict):
        return {}
    where = ("pandoc", "citekey-aliases")
    return {str(key): markdown.Place(path, loaded.line(*where, key) or 1,
                                     loaded.col(*where, key) or 1) for key in aliases}


def _relative(path: Path) -> str:
    import os

    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _order(problem: Problem) -> tuple:
    return (str(problem.path or ""), problem.line or 0, problem.col or 0, problem.code,
            problem.message)
