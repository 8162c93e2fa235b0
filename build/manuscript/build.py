"""``build()``: the ordered stages, reading at a glance (as mkdocs' build does).

    check locations → finish an interrupted write → open the website (reads versions.json)
    → process → cite → html → (spelling) → pdf → (--strict verdict) → plan the website
    → write all

Each stage is a :class:`~manuscript.stages.Stage`: a key over everything it reads, a
function that runs it, and the conversion of its result to output files and back. The
stage cache skips a stage whose key is unchanged, verifying its recorded outputs and
logging its recorded warnings again. Nothing is written until every stage has passed;
then ``output/`` and ``webpage/`` change together, in one journaled transaction
(:mod:`manuscript.journal`), so a failed or killed build leaves the last good ones.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from manubot import __version__ as manubot_version

from . import (
    __version__,
    cite,
    formats,
    images,
    incremental,
    metatext,
    pandoc,
    pdf,
    process,
    render,
    spelling,
)
from .config import Config, Layout, check_source_date_epoch
from .errors import ContentError, OutputError, StrictError
from .fonts import FOLDER as FONTS
from .fonts import font_files
from .formats import background
from .formats.background import Pending
from .fsutil import digest, files_digest
from .journal import JOURNAL, Transaction, exclusive, recover
from .math import CACHE_FILE as MATH_CACHE
from .progress import Progress
from .stages import STATE_FILE, Stage, StageCache, T
from .summary import Summary, summarize
from .webpage import Site, finish, validate_version

logger = logging.getLogger(__name__)


@dataclass
class BuildReport:
    timings: list[tuple[str, float, bool]] = field(default_factory=list)  # stage, s, skipped
    written: int = 0  # files changed in output/ and webpage/
    summary: Summary | None = None  # what the manuscript holds, for the last line


def build(config: Config, warning_count: Callable[[], int] = lambda: 0, *,
          writing: Callable[[], AbstractContextManager[object]] = nullcontext,
          progress: Progress | None = None) -> BuildReport:
    """Build ``output/`` and ``webpage/``. ``writing`` wraps the moments files change
    (serve holds its lock there, so readers never see a half-written folder);
    ``progress`` shows each stage running on a terminal."""
    progress = progress or Progress()
    layout = check_inputs(config)
    process.check_sources(config)  # no link out of the manuscript, even if nothing changed
    with exclusive(config.output_dir):  # one build at a time
        tops = (config.output_dir, config.webpage_dir)
        with writing():
            recover(config.root, tops, config.output_dir / JOURNAL)
        site = Site.open(config.webpage_dir)  # a broken version list fails before any stage
        cache = StageCache.load(config.output_dir)

        def run(stage: Stage[T]) -> T:
            with progress.task(stage.name):
                return cache.run(stage)

        with cache.capturing():
            processed = run(process_stage(config, layout))
            parsed = ParsedMarkdown(processed.markdown, cache, config.output_dir)
            start = time.perf_counter()
            with progress.task("parse"):
                parsed.citekeys()  # the cite stage's key: its citations
            cache.note("parse", time.perf_counter() - start, parsed.how())
            bibliography = run(cite_stage(config, processed, parsed, progress))
            checks_replayed_or_run(config, layout, cache)
            page = html_stage(config, layout, processed, bibliography, parsed)
            workers = Workers(config, cache, parsed, bibliography, processed)
            try:
                beside = document_stages(config, layout, page.key, workers)  # started now
                html = run(page)
                if config.spellcheck:  # rootstock's SPELLCHECK=true
                    run(spelling_stage(config, layout, bibliography))
                pdf_bytes = (workers.run(beside["pdf"], progress) if "pdf" in beside
                             else run(pdf_stage(config, layout, html, progress))
                             ) if config.pdf else None
                extra = workers.run(beside["formats"], progress) if config.formats else {}
            finally:
                workers.cancel()  # after a failure: no worker is left running
            parsed.replay_if_unparsed()

        if config.strict and warning_count():
            raise StrictError(f"--strict: {warning_count()} warning(s); outputs left unchanged")

        transaction = Transaction(config.root, tops, config.output_dir / JOURNAL)
        remote_images = images.remote_files(config, html)
        _write_outputs(transaction, config, layout, cache, remote_images)
        if parsed.changed:  # what the next build patches instead of parsing and rendering
            transaction.write(config.output_dir / incremental.STATE_FILE,
                              parsed.snapshot.to_bytes())
        report = BuildReport([(t.name, t.seconds, t.skipped) for t in cache.timings],
                             summary=summarize(html, bibliography.csl_items, pdf_bytes))
        with _timed(report, "webpage"), progress.task("webpage"):
            site.publish(transaction, config.version,
                         _published(layout, html, pdf_bytes, cache, remote_images) | extra,
                         now=_now(config))
        with _timed(report, "write"), progress.task("write"), writing():
            report.written = transaction.commit()
            finish(config.webpage_dir)
        parsed.snapshot.remember(config.output_dir)
        # manubot-bibliography-cache: a cache beside the sources, like ci/cache/
        cite.write_bibliography_cache(config, processed.variables["pandoc"], bibliography)
        return report


def check_inputs(config: Config) -> Layout:
    """What would fail late, checked before any work: broken output places, no sections."""
    for folder in (config.output_dir, config.webpage_dir, config.webpage_dir / "v",
                   config.cache_dir.parent, config.cache_dir):
        if (folder.exists() or folder.is_symlink()) and not folder.is_dir():
            raise OutputError("is not a folder, so the build cannot write there; "
                              "move it away", folder)
    for folder in (config.cache_dir.parent, config.cache_dir, config.webpage_dir,
                   config.output_dir):
        # The caches (citations' requests-cache, images, math) are written through
        # ci/cache, the site through webpage/: a link out of the manuscript had the
        # build write outside it.
        if folder.is_symlink():
            from .sources import check_inside

            check_inside(config.root, folder)
    validate_version(config.version)
    layout = config.layout()
    if not layout.sections:
        raise ContentError("no numbered sections (content/NN.name.md, e.g. 01.abstract.md): "
                           "nothing to build", config.content_dir)
    return layout


# ------------------------------------------------------------------------------ stages


def process_stage(config: Config, layout: Layout) -> Stage[process.Processed]:
    """Everything manubot's process reads, plus the day (the front matter prints it)."""
    key = digest([files_digest(layout.content_files + layout.variables_files, config.root),
                  json.dumps(dict(config.ci.params or {}), sort_keys=True),
                  config.env.get("SOURCE_DATE_EPOCH", ""), time.strftime("%Y-%m-%d"),
                  _code_digest(), manubot_version, *config.template_variables_paths,
                  config.ci.head or ""])  # seeds a random author order

    def dump(processed: process.Processed) -> dict[str, bytes]:
        return {"manuscript.md": processed.markdown.encode("utf-8"),
                "variables.json": _json(processed.variables)}

    def load(outputs: dict[str, bytes]) -> process.Processed:
        variables = json.loads(outputs["variables.json"])
        if not isinstance(variables, dict) or not isinstance(variables["pandoc"], dict):
            raise TypeError("variables.json is not the shape process writes")
        return process.Processed(outputs["manuscript.md"].decode("utf-8"), variables, ())

    return Stage("process", key, lambda: process.process(config), dump, load)


def cite_stage(config: Config, processed: process.Processed, parsed: ParsedMarkdown,
               progress: Progress | None = None) -> Stage[cite.Bibliography]:
    settings = processed.variables["pandoc"]
    # What cite reads of the Markdown: its citations (an edit of prose cites nothing new).
    # With manubot-clear-requests-cache, a changed manuscript looks them up afresh, as
    # each manubot run does: the author asked for fresh metadata.
    refresh = processed.markdown if settings.get("manubot-clear-requests-cache") else ""
    # header-includes is the page's <meta> block, stamped to the second (dc.modified): a
    # prose edit would otherwise look every citation up again.
    cited_settings = {k: v for k, v in settings.items() if k != "header-includes"}
    key = digest([json.dumps(parsed.citekeys()), json.dumps(cited_settings, sort_keys=True),
                  cite.sources_digest(config, settings), str(config.offline),
                  _code_digest(), refresh])

    def dump(bibliography: cite.Bibliography) -> dict[str, bytes]:
        return {"references.json": bibliography.references_json.encode("utf-8"),
                "citations.tsv": bibliography.citations_tsv.encode("utf-8"),
                cite.EARLIER_FILE: bibliography.cited_earlier.encode("utf-8")}

    def load(outputs: dict[str, bytes]) -> cite.Bibliography:
        items = json.loads(outputs["references.json"])
        text = outputs["citations.tsv"].decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TypeError("references.json is not a list of CSL items")
        # citations.tsv lists unresolved keys too (as manubot's does): only a key with a
        # reference gets its short id, so the others are still shown as unresolved.
        ids = {item.get("id") for item in items}
        short_ids = {row["input_id"]: row["short_id"] for row in rows if row["short_id"] in ids}
        return cite.Bibliography(csl_items=items, rows=rows, short_ids=short_ids,
                                 cited_earlier=outputs[cite.EARLIER_FILE].decode("utf-8"))

    on_lookup = progress.count if progress else None

    def run() -> cite.Bibliography:
        # cite.cite warns about duplicate manual references, as in `manuscript cite`.
        return cite.cite(config, *parsed.citekeys(), settings, on_lookup=on_lookup)

    return Stage("cite", key, run, dump, load)


def html_stage(config: Config, layout: Layout, processed: process.Processed,
               bibliography: cite.Bibliography, parsed: ParsedMarkdown) -> Stage[str]:
    theme = render.find_theme(config)
    # references.json, by the digest the cite stage recorded (not dumped again: 0.3 s)
    references = json.dumps(parsed.cache.current["cite"].outputs, sort_keys=True)

    inputs = digest([_variables_but_stats(processed.variables), references,
                     files_digest({*theme.files(), *layout.render_inputs()}, config.root),
                     pandoc.pandoc_version(), config.version, _code_digest(),
                     images.stage_key(config), *config.formats])
    key = digest([processed.markdown, json.dumps(processed.variables, sort_keys=True), inputs])

    def page_context() -> str:
        """Everything but the text: what a patched page must share with the last one,
        the formulas it was typeset from included (not in the key: rendering rewrites
        that cache, and the page would be made twice)."""
        return digest([inputs, files_digest([config.cache_dir / MATH_CACHE],
                                            config.root)])

    def run() -> str:
        page = _patched_page(config, theme, parsed, page_context())
        if page is None:
            ast = parsed.with_short_ids(bibliography.short_ids)
            formats.add_downloads(ast, formats.downloads(config.formats))  # the buttons
            page = render.render_html(config, ast, bibliography.csl_items, theme,
                                      processed.variables, config.version)
        # As the next build will find it: rendering may have rewritten the caches.
        parsed.snapshot.context, parsed.snapshot.html_sha = page_context(), _sha(page)
        parsed.changed = True
        return page

    return Stage("html", key, run, lambda html: {"manuscript.html": html.encode("utf-8")},
                 lambda outputs: outputs["manuscript.html"].decode("utf-8"))


def spelling_stage(config: Config, layout: Layout,
                   bibliography: cite.Bibliography) -> Stage[dict[str, bytes]]:
    """output/spelling-errors.txt and spelling-error-locations.txt, as rootstock's."""
    words = config.root / spelling.CUSTOM_DICTIONARY
    key = digest([files_digest(layout.content_files, config.root), bibliography.references_json,
                  files_digest([words] if words.is_file() else [], config.root),
                  _code_digest()])
    return Stage("spelling", key, lambda: spelling.build_outputs(config, bibliography.csl_items),
                 dict, dict)


def pdf_stage(config: Config, layout: Layout, html: str,
              progress: Progress | None = None) -> Stage[bytes]:
    """The page printed by WeasyPrint (the Typst PDF is one of the document_stages)."""
    # The page's own files (images…) are inputs; its text is already in the HTML.
    files = [p for p in layout.content_files if p.suffix != ".md"]
    key = digest([html, files_digest(files, config.root), str(config.offline), _code_digest(),
                  config.pdf_engine, formats.inputs_digest(config.root)])

    def run() -> bytes:
        with images.pdf_base(config) as base:  # images/ and remote-images/, as the page has
            return pdf.render_pdf(html, base, offline=config.offline,
                                  readable=(config.root, config.cache_dir),
                                  door=config.network,
                                  on_page=progress.page if progress else None)

    return Stage("pdf", key, run, lambda data: {"manuscript.pdf": data}, _load_pdf)


def _load_pdf(outputs: dict[str, bytes]) -> bytes:
    if not outputs["manuscript.pdf"].startswith(b"%PDF-"):
        raise ValueError("manuscript.pdf is not a PDF")
    return outputs["manuscript.pdf"]


def document_stages(config: Config, layout: Layout, page_key: str,
                    workers: Workers) -> dict[str, Stage]:
    """The outputs made from the cited document rather than the page, started in worker
    processes before the html stage runs: the Typst PDF ("pdf", with ``--pdf-engine
    typst``) and Word, JATS, LaTeX ("formats", ``config.formats``).

    Their key is the page's key (the same Markdown, variables, references, theme and
    code; the page's text is made from nothing else), plus what they read besides.
    """
    files = [p for p in layout.content_files if p.suffix != ".md"]
    common = [page_key, files_digest(files, config.root), str(config.offline),
              _code_digest(), formats.inputs_digest(config.root)]
    stages: dict[str, Stage] = {}
    if config.pdf and config.pdf_engine == "typst":
        stages["pdf"] = Stage(
            "pdf", digest([*common, config.pdf_engine]),
            lambda: workers.result("pdf")["manuscript.pdf"],
            lambda data: {"manuscript.pdf": data}, _load_pdf)
    if config.formats:
        names = formats.output_names(config.formats)

        def load(outputs: dict[str, bytes]) -> dict[str, bytes]:
            if sorted(outputs) != sorted(names):
                raise ValueError("recorded outputs are not the formats asked for")
            return outputs

        stages["formats"] = Stage("formats", digest([*common, *config.formats]),
                                  lambda: workers.result("formats"), dict, load)
    for stage in stages.values():
        workers.start_unless_skipped(stage)
    return stages


class Workers:
    """Document stages rendered by worker processes (``formats.background.start``) while
    this process makes the page: with two free cores, their time overlaps the html
    stage's instead of adding to it (bench/README.md, "Typst: shared document")."""

    FORMATS: ClassVar[dict[str, tuple[str, ...]]] = {"pdf": ("typst",)}  # "formats": config's

    def __init__(self, config: Config, cache: StageCache, parsed: ParsedMarkdown,
                 bibliography: cite.Bibliography, processed: process.Processed) -> None:
        self.config, self.cache, self.parsed = config, cache, parsed
        self.bibliography, self.processed = bibliography, processed
        self.pending: dict[str, Pending] = {}
        self._theme: render.Theme | None = None

    def start_unless_skipped(self, stage: Stage) -> None:
        """Start the stage's worker, unless the stage cache will reuse its outputs."""
        if not self.cache.reusable(stage):
            self.pending[stage.name] = self._start(stage.name)

    def _start(self, name: str) -> Pending:
        if self._theme is None:
            with _dropped("manuscript.rootstock"):  # said when the html stage found it
                self._theme = render.find_theme(self.config)
        names = self.FORMATS.get(name, self.config.formats)
        ast = self.parsed.with_short_ids(self.bibliography.short_ids)
        # The worker never fetches: its remote images come from the image cache, filled
        # here through the door (the html stage then finds them there).
        remote_images = images.cache_remote(self.config, ast)
        return background.start(
            self.config, ast, self.bibliography.csl_items, self.processed.variables,
            self._theme, names, remote_images)

    def result(self, name: str) -> dict[str, bytes]:
        """The stage's outputs (its worker started now if it was not)."""
        pending = self.pending.pop(name, None) or self._start(name)
        return pending.result()

    def run(self, stage: Stage[T], progress: Progress | None) -> T:
        """``StageCache.run``, timed from the worker's start: its time beside the html."""
        pending = self.pending.get(stage.name)
        with (progress or Progress()).task(stage.name):
            return self.cache.run(stage, since=pending.started if pending else None)

    def cancel(self) -> None:
        for pending in self.pending.values():
            pending.cancel()
        self.pending.clear()


def _patched_page(config: Config, theme: render.Theme, parsed: ParsedMarkdown,
                  context: str) -> str | None:
    """The last page with the changed paragraphs replaced, when that is the page a
    cold build makes (see incremental.py); None: render the whole document."""
    parsed.citekeys()  # parses (patches) the Markdown if no stage did yet
    previous, patch = parsed.previous, parsed.patch
    if previous is None or patch is None or previous.context != context:
        return None
    record = parsed.cache.previous.get("html")
    page = (parsed.cache.verified_outputs("html") or {}).get("manuscript.html")
    if record is None or page is None or _sha(page.decode("utf-8")) != previous.html_sha:
        return None
    if record.warnings and patch.stretch.line_shift:
        return None  # they may name lines below the edit, which moved
    api, meta = patch.ast["pandoc-api-version"], patch.ast["meta"]
    patched = incremental.patch_html(
        page.decode("utf-8"), patch,
        lambda blocks: render.render_blocks(config, blocks, theme, api, meta))
    if patched is not None:
        parsed.cache.carry_warnings("html")  # the page's other warnings stand as they were
        logger.debug("html: patched the last page (%d block(s) changed)",
                     len(patch.new_blocks))
    return patched


def checks_replayed_or_run(config: Config, layout: Layout, cache: StageCache) -> None:
    """``manuscript check``'s source checks, logged as warnings: run when the sources
    changed, else their recorded warnings replayed (as a skipped stage's are)."""
    from . import check

    key = digest([files_digest(layout.content_files, config.root), _code_digest()])
    if not cache.replay("checks", key):
        with cache.recording("checks", key):
            check.log_for_build(config)


class ParsedMarkdown:
    """Parse the Markdown at most once, and only if a stage needs the AST.

    Parsing may warn (pandoc, duplicate citation aliases). Those warnings belong to the
    Markdown, not to whichever stage parsed it first, so they are recorded under their own
    name ("parse") and logged again when no stage needs to parse.

    The last build's parse is kept (``incremental.Snapshot``, in ``output/`` and in
    memory): unchanged Markdown is not parsed again, and Markdown changed in one stretch
    of prose is patched (``incremental.patch_ast``) rather than parsed whole.
    """

    def __init__(self, markdown: str, cache: StageCache, output_dir: Path) -> None:
        self.markdown = markdown
        self.cache = cache
        self.key = _parse_key(markdown)
        self._ast: dict | None = None  # with alias paragraphs taken out
        self._parsed = False
        self.previous = incremental.Snapshot.load(output_dir)
        record = cache.previous.get("parse")
        if self.previous is not None and (
                record is None or record.key != _parse_key(self.previous.markdown)):
            self.previous = None  # not the parse whose warnings were recorded
        self.patch: incremental.Patch | None = None
        self.snapshot = self.previous or incremental.Snapshot(markdown, [], {}, ast_json=b"")
        self.changed = False  # the snapshot is to be written

    def _parse(self) -> None:
        """The citations (and, unless the last build's AST serves, the AST)."""
        if self._parsed:
            return
        with self.cache.recording("parse", self.key):
            if not self._reuse():
                ast, raw = pandoc.markdown_to_json(self.markdown)
                citekeys = cite.collect_citekeys(ast)  # also drops alias paragraphs
                self._ast = ast
                self.snapshot = incremental.Snapshot(self.markdown, *citekeys, ast_json=raw)
                self.changed = True
        self._parsed = True

    def _reuse(self) -> bool:
        """The last build's parse, as it is (same Markdown) or patched, with its warnings."""
        previous = self.previous
        if previous is None:
            return False
        if previous.markdown != self.markdown:
            self.patch = incremental.patch_ast(previous, self.markdown)
            if self.patch is None:
                return False
            if self.patch.stretch.line_shift and self.cache.previous["parse"].warnings:
                self.patch = None  # pandoc's warnings name lines, some of which moved
                return False
            # The changed blocks hold no citation: the citations are the last build's.
            self.snapshot = incremental.Snapshot(self.markdown, previous.citekeys,
                                                 previous.aliases, ast=self.patch.ast)
            self.changed = True
        self.cache.carry_warnings("parse")
        return True

    def how(self) -> str:
        """How the Markdown was parsed, if not by pandoc on the whole text."""
        if not self._parsed:
            return "unchanged"  # not "skipped": it is no stage
        if self.patch is not None:
            return f"changed lines only: {self.patch.stretch.new.count(chr(10)) + 1}"
        return "unchanged, reused" if self._ast is None else ""

    def citekeys(self) -> tuple[list[str], dict[str, str]]:
        if self.previous is not None and self.previous.markdown == self.markdown:
            return self.previous.citekeys, self.previous.aliases  # no parse needed
        self._parse()
        return self.snapshot.citekeys, self.snapshot.aliases

    def with_short_ids(self, short_ids: dict[str, str]) -> dict:
        """The AST for the renderers: alias paragraphs out, citations by short id."""
        self._parse()
        if self._ast is None:  # the last build's (patched) AST: its aliases again
            ast = self.snapshot.fresh_ast()
            with _dropped("manuscript.cite.keys"):  # its warnings were carried
                cite.collect_citekeys(ast)
            self._ast = ast
        cite.rewrite_ids(self._ast, short_ids)
        # Here, where every renderer (the page, each format) takes the AST: the
        # metadata's raw markup becomes text for all of them (see metatext.py).
        metatext.as_text(self._ast["meta"])
        return self._ast

    def replay_if_unparsed(self) -> None:
        if not self._parsed:
            self.cache.replay("parse", self.key)


@contextmanager
def _dropped(name: str) -> Iterator[None]:
    """Drop what logger ``name`` logs in the block (said already, by a replay)."""
    def drop(_record: logging.LogRecord) -> bool:
        return False

    target = logging.getLogger(name)
    target.addFilter(drop)
    try:
        yield
    finally:
        target.removeFilter(drop)


# ------------------------------------------------------------------------------ writing


def _published(layout: Layout, html: str, pdf_bytes: bytes | None, cache: StageCache,
               remote_images: dict[str, Path]) -> dict[str, bytes | Path]:
    """What the website publishes: this build's page, its PDF (or the last verified one
    when the PDF is skipped), and the images beside them."""
    sources: dict[str, bytes | Path] = {"index.html": html.encode("utf-8")}
    if pdf_bytes is None:
        pdf_bytes = (cache.verified_outputs("pdf") or {}).get("manuscript.pdf")
    if pdf_bytes is not None:
        sources["manuscript.pdf"] = pdf_bytes
    else:
        logger.info("no PDF built yet; the website will have none")
    if layout.images_dir is not None:
        sources["images"] = layout.images_dir
    for name, path in remote_images.items():
        sources[f"{images.REMOTE_DIR}/{name}"] = path
    for path in font_files():  # the page links them as fonts/<file>
        sources[f"{FONTS}/{path.name}"] = path
    return sources


def _write_outputs(transaction: Transaction, config: Config, layout: Layout,
                   cache: StageCache, remote_images: dict[str, Path]) -> None:
    for name, data in cache.outputs.items():
        transaction.write(config.output_dir / name, data)
    # output/fonts: the theme's bundled fonts, beside the page that links them.
    fonts_dir = config.output_dir / FONTS
    wanted = {path.name: path for path in font_files()}
    for name, path in wanted.items():
        target = fonts_dir / name
        if not target.is_file() or target.read_bytes() != path.read_bytes():
            transaction.write(target, path.read_bytes())
    if fonts_dir.is_dir():
        for stale in fonts_dir.iterdir():
            if stale.name not in wanted:
                transaction.delete(stale)
    # output/remote-images: exactly the cached remote images the page refers to.
    remote_dir = config.output_dir / images.REMOTE_DIR
    for name, path in remote_images.items():
        if not (remote_dir / name).is_file():  # named by content: an existing one is the same
            transaction.write(remote_dir / name, path.read_bytes())
    if remote_dir.is_dir():
        for stale in remote_dir.iterdir():
            if stale.name not in remote_images:
                transaction.delete(stale)
    # output/images → ../content/images, so the HTML shows its images locally.
    link = config.output_dir / "images"
    if layout.images_dir is not None and not link.exists() and not link.is_symlink():
        transaction.symlink(link, os.path.relpath(layout.images_dir, config.output_dir))
    transaction.write(config.output_dir / STATE_FILE, cache.state_bytes())


def _now(config: Config) -> datetime | None:
    """SOURCE_DATE_EPOCH pins the date a version is listed with, too (reproducible site)."""
    epoch = check_source_date_epoch(config.env)
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


@contextmanager
def _timed(report: BuildReport, name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    report.timings.append((name, seconds, False))
    logger.info("%-8s %6.2f s", name, seconds)


@functools.cache
def _code_digest() -> str:
    """Our own code and data are inputs of every stage: a new version rebuilds everything."""
    package = Path(__file__).parent
    files = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return digest([__version__, files_digest(files, package)])


def _parse_key(markdown: str) -> str:
    return digest([markdown, pandoc.pandoc_version(), _code_digest()])


def _variables_but_stats(variables: dict) -> str:
    """The variables the page is made with; the word counts change with every edit and
    show only where the text prints them, and then the text changes too."""
    manubot = {k: v for k, v in variables.get("manubot", {}).items() if k != "manuscript_stats"}
    return json.dumps(dict(variables, manubot=manubot), sort_keys=True)


def _sha(text: str) -> str:
    return digest([text])


def _json(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
