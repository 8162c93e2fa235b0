"""``build()``: the ordered stages, reading at a glance.

process → cite → render (HTML) → pdf → commit outputs → webpage.

Everything is gathered in memory (or a temporary folder) first; outputs are written
only when every stage has succeeded, each by a temporary file and a rename, so a
failed build leaves the last good ``output/`` untouched. A stage whose inputs have
not changed since the last build reuses its output instead of running again.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from manubot import __version__ as manubot_version

from . import __version__, cite, pandoc, pdf, process, render
from .config import Config
from .errors import StrictError
from .fsutil import digest, files_digest, write_bytes_atomic
from .state import State
from .webpage import build_webpage, resolve_version

logger = logging.getLogger(__name__)

CI_VARIABLES = ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_RUN_ID",
                "GITHUB_PULL_REQUEST_SHA", "TRAVIS", "APPVEYOR", "SOURCE_DATE_EPOCH")


@dataclass
class BuildReport:
    timings: list[tuple[str, float, bool]] = field(default_factory=list)  # stage, s, skipped
    written: list[str] = field(default_factory=list)


def build(config: Config, warning_count: Callable[[], int] = lambda: 0) -> BuildReport:
    report = BuildReport()
    state = State.load(config.output_dir)
    outputs: dict[str, bytes] = {}
    version = resolve_version(config.root, config.env)

    with _stage(report, "process") as skip:
        key = _process_key(config)
        if state.fresh("process", key, ("manuscript.md", "variables.json")):
            skip()
            markdown = state.read("manuscript.md").decode("utf-8")
            variables = json.loads(state.read("variables.json"))
        else:
            processed = process.process(config)
            markdown, variables = processed.markdown, processed.variables
            outputs["manuscript.md"] = markdown.encode("utf-8")
            outputs["variables.json"] = _json(variables)
        state.record("process", key)

    parsed = _LazyAst(markdown)
    with _stage(report, "cite") as skip:
        settings = variables["pandoc"]
        bibliography_files = cite.bibliography_files(config, settings)
        key = digest([markdown, files_digest(bibliography_files), str(config.offline)])
        if state.fresh("cite", key, ("references.json", "citations.tsv")):
            skip()
            bibliography = cite.Bibliography(
                csl_items=json.loads(state.read("references.json")),
                rows=state.read_tsv("citations.tsv"),
            )
            bibliography.short_ids = {r["input_id"]: r["short_id"] for r in bibliography.rows}
        else:
            bibliography = cite.cite(config, *parsed.citekeys(), settings)
            outputs["references.json"] = bibliography.references_json.encode("utf-8")
            outputs["citations.tsv"] = bibliography.citations_tsv.encode("utf-8")
        state.record("cite", key)

    theme = render.find_theme(config)
    with _stage(report, "html") as skip:
        key = digest([markdown, json.dumps(variables, sort_keys=True),
                      bibliography.references_json, files_digest(theme.files()),
                      pandoc.pandoc_version(), version, _code_digest()])
        if state.fresh("html", key, ("manuscript.html",)):
            skip()
            html = state.read("manuscript.html").decode("utf-8")
        else:
            ast = parsed.with_short_ids(bibliography.short_ids)
            html = render.render_html(config, ast, bibliography.csl_items, theme, variables,
                                      version)
            outputs["manuscript.html"] = html.encode("utf-8")
        state.record("html", key)

    if config.pdf:
        with _stage(report, "pdf") as skip:
            key = digest([html, files_digest(_image_files(config)), str(config.offline),
                          _code_digest()])
            if state.fresh("pdf", key, ("manuscript.pdf",)):
                skip()
            else:
                outputs["manuscript.pdf"] = pdf.render_pdf(html, config.content_dir,
                                                           offline=config.offline)
            state.record("pdf", key)

    if config.strict and warning_count():
        raise StrictError(f"--strict: {warning_count()} warning(s); outputs left unchanged")

    with _stage(report, "write"):
        for name, data in outputs.items():
            write_bytes_atomic(config.output_dir / name, data)
            report.written.append(name)
        cite.write_bibliography_cache(config, settings, bibliography)
        _link_images(config)
        state.save()

    with _stage(report, "webpage"):
        images = config.content_dir / "images"
        build_webpage(config.output_dir, config.webpage_dir, version,
                      assets=[images] if images.is_dir() else [])
    return report


class _LazyAst:
    """Parse the Markdown at most once, and only if a stage needs the AST."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown
        self._ast: dict | None = None
        self._citekeys: tuple[list[str], dict[str, str]] | None = None

    def _parse(self) -> dict:
        if self._ast is None:
            self._ast = pandoc.markdown_to_ast(self.markdown)
            self._citekeys = cite.collect_citekeys(self._ast)  # also drops alias paragraphs
        return self._ast

    def citekeys(self) -> tuple[list[str], dict[str, str]]:
        self._parse()
        assert self._citekeys is not None
        return self._citekeys

    def with_short_ids(self, short_ids: dict[str, str]) -> dict:
        ast = self._parse()
        cite.rewrite_ids(ast, short_ids)
        return ast


@contextmanager
def _stage(report: BuildReport, name: str) -> Iterator[Callable[[], None]]:
    """Time a stage and report it in one line."""
    skipped = False

    def skip() -> None:
        nonlocal skipped
        skipped = True

    start = time.perf_counter()
    yield skip
    seconds = time.perf_counter() - start
    report.timings.append((name, seconds, skipped))
    logger.info("%-8s %6.2f s%s", name, seconds, "  (unchanged, skipped)" if skipped else "")


def _process_key(config: Config) -> str:
    """Everything manubot's process reads, plus the day (the front matter prints it)."""
    content = [p for p in config.content_dir.rglob("*") if p.is_file()]
    variables = [config.root / p.rpartition("=")[2] for p in config.template_variables_paths]
    env = [f"{k}={config.env.get(k, '')}" for k in CI_VARIABLES]
    today = time.strftime("%Y-%m-%d")
    return digest([files_digest(content + variables), *env, today, _code_digest(),
                   manubot_version, *config.template_variables_paths])


@functools.cache
def _code_digest() -> str:
    """Our own code is an input of every stage: a new version rebuilds everything."""
    package = Path(__file__).parent
    return digest([__version__, files_digest(package.glob("*.py"))])


def _image_files(config: Config) -> list[Path]:
    images = config.content_dir / "images"
    return [p for p in images.rglob("*") if p.is_file()] if images.is_dir() else []


def _link_images(config: Config) -> None:
    """``output/images`` → ``../content/images``, so the HTML shows its images locally."""
    link = config.output_dir / "images"
    if (config.content_dir / "images").is_dir() and not link.exists() and not link.is_symlink():
        os.symlink(os.path.relpath(config.content_dir / "images", config.output_dir), link)


def _json(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
