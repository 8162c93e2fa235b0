"""Stage 4, pdf: WeasyPrint, in-process, from the HTML already made.

Math is already inline SVG in the HTML (math.py, MathJax), which WeasyPrint draws
as it is. Remote images share one short time budget and get a visible placeholder, so
an offline build never hangs on them. Only files inside the manuscript are read.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

from .errors import ContentError, RenderError
from .fonts import bundled_font
from .images import PLACEHOLDER_SVG as _PLACEHOLDER
from .limits import env_limit
from .math import print_formulas
from .network import Budget, Door, FetchError
from .sources import find_occurrences

logger = logging.getLogger(__name__)

REMOTE_TIMEOUT = 5  # seconds per remote request (MANUSCRIPT_REMOTE_TIMEOUT)
REMOTE_BUDGET = 15  # seconds for all remote resources of one PDF (MANUSCRIPT_REMOTE_BUDGET)
MAX_REMOTE_BYTES = 50_000_000
_REMOTE = "remote image not included in the PDF"
_MISSING = "no such file"


def render_pdf(html: str, base_dir: Path, offline: bool = False, *,
               readable: Sequence[Path], on_page: Callable[[int], None] | None = None,
               door: Door | None = None) -> bytes:
    """HTML text → PDF bytes; relative links resolve against ``base_dir``.
    ``on_page(n)`` is told each page WeasyPrint lays out (a progress display).

    Only files that resolve (links followed) into one of the ``readable`` folders (the
    manuscript, the image cache) are read, and nothing is attached to the PDF: see
    ``_fetcher`` and ``_no_attachments``. Remote files come through ``door`` (the
    run's, ``config.network``; a fresh one when not given).
    """
    from weasyprint import HTML

    base_url = f"{base_dir.resolve().as_uri()}/"
    origins = _Origins(html, base_url, base_dir)
    folders = tuple(folder.resolve() for folder in readable)
    document = HTML(string=html, base_url=base_url,
                    url_fetcher=_fetcher(door or Door(offline=offline), folders, origins))
    print_formulas(document.etree_element)  # images, alt text their TeX
    add_break_points(document.etree_element)
    keep_lead_ins(document.etree_element)
    keep_icons_with_labels(document.etree_element)
    _no_attachments(document, origins)
    try:
        # Tagged PDF: headings, lists and figures get structure, and every image (math
        # included, as its TeX) its alt text, for screen readers and text extraction.
        with _weasyprint_errors_as_warnings(), _pages_reported(on_page):
            return document.write_pdf(pdf_tags=True)
    except Exception as error:
        raise RenderError(f"WeasyPrint failed: {type(error).__name__}: {error}") from error


def _no_attachments(document: object, origins: _Origins) -> None:
    """Drop ``rel="attachment"`` from ``<a>`` and ``<link>``: WeasyPrint embeds the
    target of such a link as a file in the PDF. A manuscript has no use for it (rootstock
    makes no attachments), and the target can be any file the build can read — under
    the manuscript too (``.git/config``, the citation cache), so none is attached."""
    for element in document.etree_element.iter():  # type: ignore[attr-defined]
        if element.tag in ("a", "link") and "attachment" in element.get("rel", "").lower():
            rel = [r for r in element.get("rel", "").split() if r.lower() != "attachment"]
            element.set("rel", " ".join(rel))
            href = urljoin(origins.base_url, element.get("href", "").strip())
            logger.warning("%slink not attached to the PDF (the PDF embeds no files): %s",
                           origins.place(href), href)


def keep_lead_ins(root) -> None:
    """Mark each paragraph that ends with a colon ``lead-in``: it introduces what follows
    (a formula, a list, code), and the theme keeps it on that page (``break-after:
    avoid``), as a typesetter would; a page ended with "numbered:" and its formula
    began the next. CSS cannot see a paragraph's last character."""
    for paragraph in root.iter("p"):
        if "".join(paragraph.itertext()).rstrip().endswith(":"):
            classes = paragraph.get("class", "")
            paragraph.set("class", f"{classes} lead-in".strip())


def keep_icons_with_labels(root) -> None:
    """An author's icon (``img.inline_icon``: ORCID, GitHub, Twitter) and the link after
    it stay on one line: the space between them becomes a no-break space. A narrow
    author column put a Twitter bird at a line's end and its handle on the next."""
    for parent in root.iter():
        children = list(parent)
        for icon, label in itertools.pairwise(children):
            if ("inline_icon" in icon.get("class", "").split() and label.tag == "a"
                    and icon.tail is not None and icon.tail.strip() == ""):
                icon.tail = "\u00a0"


# Where a long URL, path or identifier may break on paper, as LaTeX's url package does:
# after a slash (not inside "//"), a dot, an underscore and the like. A hyphen is a
# break point for Pango already.
_BREAK_AFTER = frozenset("/._?&=#~:")
_LONG = 16  # characters: a shorter token is left as it is
# laid out as they are: preformatted code, formulas (their SVG), no text
_UNBROKEN = frozenset({"pre", "mjx-container", "script", "style", "svg", "math"})
_WHITESPACE = re.compile(r"(\s+)")
_ZWSP = "\u200b"
_SHORTEST = 4  # no piece shorter: a DOI breaks after "10.1109/", not after "10."
_CHUNK = 10  # a last resort in table cells, for a long token with no such point (digits)


def add_break_points(root) -> None:
    """Give long unbroken tokens break opportunities, for the PDF only.

    In link texts and inline code: after the characters of ``_BREAK_AFTER``. In table
    cells also: every ``_CHUNK`` characters of a token that is still longer than that
    (a 33-digit number). CSS has nothing better: ``overflow-wrap: anywhere`` lets the
    automatic table layout squeeze a column to one letter (a "Ref." column broke
    ``piday.org`` letter by letter), and ``break-word`` cannot stop a table wider than
    the page. The break is a zero-width space in the text, which the PDF's text layer
    leaves out (a URL copied from the PDF stays whole; links keep their ``href``); a
    ``<wbr>`` element would do the same at 1.4 ms each (meta-review's 430: +14 %
    of the PDF stage's CPU time).
    """
    _walk_breaks(root, in_link=False, in_cell=False)


def _walk_breaks(root, *, in_link: bool, in_cell: bool) -> None:
    # a stack, not recursion: a page nested deeper than Python's recursion limit is no error
    stack = [(root, in_link, in_cell)]
    while stack:
        element, link, cell = stack.pop()
        children = list(element)  # before the text adds its own: those are done
        _break_text(element, in_link=link, in_cell=cell)
        for child in children:
            tag = child.tag if isinstance(child.tag, str) else None  # None: a comment
            if tag is not None and tag not in _UNBROKEN and not tag.startswith("{"):
                stack.append((child, link or tag in ("a", "code"),
                              cell or tag in ("td", "th")))
            _break_tail(element, child, link, cell)


def _break_text(element, *, in_link: bool, in_cell: bool) -> None:
    lead, made = _elements(_runs(element.text or "", in_link, in_cell), element.makeelement)
    if made or lead != (element.text or ""):
        element.text = lead
        for index, new in enumerate(made):
            element.insert(index, new)


def _break_tail(parent, child, in_link: bool, in_cell: bool) -> None:
    lead, made = _elements(_runs(child.tail or "", in_link, in_cell), parent.makeelement)
    if made or lead != (child.tail or ""):
        child.tail = lead
        at = list(parent).index(child) + 1
        for offset, new in enumerate(made):
            parent.insert(at + offset, new)


@dataclass(frozen=True)
class _Whole:
    """A short hyphenated word in a table cell (``BioMed-S``), kept on one line: the
    table layout would rather break it at its hyphen than widen the column."""

    text: str


def _runs(text: str, in_link: bool, in_cell: bool) -> list:
    """``text`` as strings, with ``_ZWSP`` where a line may break, and ``_Whole`` words."""
    if not (in_link or in_cell):
        return [text]
    runs: list = []
    for token in _WHITESPACE.split(text):
        if len(token) >= _LONG:
            runs.append(_ZWSP.join(_segments(token, in_cell)))
        elif in_cell and "-" in token.strip("-"):
            runs.append(_Whole(token))
        else:
            runs.append(token)
    return runs


def _elements(runs: list, make) -> tuple[str, list]:
    """The text before the first new element, and the new elements (tails set)."""
    lead, made = "", []
    for run in runs:
        if isinstance(run, _Whole):
            made.append(make("span", {"class": "nowrap"}))
            made[-1].text = run.text
        elif made:
            made[-1].tail = (made[-1].tail or "") + run
        else:
            lead += run
    return lead, made


def _segments(token: str, in_cell: bool) -> list[str]:
    """A long token cut after each sensible point (never inside ``//``, no piece
    shorter than ``_SHORTEST``); in a table cell, a piece with a digit still
    ``_LONG`` long (a number, a hash) every ``_CHUNK`` characters."""
    # a URL or path breaks after its slashes, not inside its host name or at a DOI's dots
    points = _BREAK_AFTER - {"."} if "/" in token else _BREAK_AFTER
    segments, start = [], 0
    for index, char in enumerate(token[:-1]):
        if (char in points and token[index + 1] != "/"
                and index + 1 - start >= _SHORTEST):
            segments.append(token[start:index + 1])
            start = index + 1
    segments.append(token[start:])
    if not in_cell:
        return segments
    chunked = []
    for segment in segments:
        if len(segment) >= _LONG and any(char.isdigit() for char in segment):
            chunked.extend(segment[i:i + _CHUNK] for i in range(0, len(segment), _CHUNK))
        else:
            chunked.append(segment)
    return chunked


class _Origins(HTMLParser):
    """Absolute URL → the ``src``/``href`` written in the HTML, to find it in the Markdown."""

    _ATTRIBUTES = frozenset({"src", "href", "data", "poster", "xlink:href"})

    def __init__(self, html: str, base_url: str, content_dir: Path) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url, self.content_dir = base_url, content_dir
        self.written: dict[str, str] = {}
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in self._ATTRIBUTES and value and not value.startswith("data:"):
                self.written.setdefault(urljoin(self.base_url, value.strip()), value)

    def place(self, url: str) -> str:
        """``content/02.intro.md:7: `` where ``url`` is written, or ``""``."""
        for needle in dict.fromkeys((self.written.get(url), url, unquote(url))):
            if needle:
                for path, line in find_occurrences(self.content_dir, needle)[:1]:
                    # the base folder links to content/'s files: name the real one
                    return f"{ContentError('', path.resolve(), line).location}: "
        return ""


@contextmanager
def _weasyprint_errors_as_warnings() -> Iterator[None]:
    """Report what WeasyPrint could not do (a missing image…) as our warnings.

    Its WARNING records are mostly screen-only CSS it skips; those stay at debug level.
    """
    weasy = logging.getLogger("weasyprint")
    handler = _Forward()
    saved = weasy.handlers[:], weasy.propagate
    weasy.handlers, weasy.propagate = [handler], False
    try:
        yield
    finally:
        weasy.handlers, weasy.propagate = saved


@contextmanager
def _pages_reported(on_page: Callable[[int], None] | None) -> Iterator[None]:
    """Tell ``on_page`` each page laid out, from WeasyPrint's progress logger."""
    if on_page is None:
        yield
        return
    progress = logging.getLogger("weasyprint.progress")
    handler = _Pages(on_page)
    level = progress.level
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)  # its records are INFO; the root logger's level is higher
    try:
        yield
    finally:
        progress.removeHandler(handler)
        progress.setLevel(level)


class _Pages(logging.Handler):
    # weasyprint/layout/page.py: 'Step 5 - Creating layout - Page %d' (with
    # ' (up-to-date)' when repaginating); the number is the record's argument.
    _STEP = "Step 5 - Creating layout - Page %d"

    def __init__(self, on_page: Callable[[int], None]) -> None:
        super().__init__(level=logging.INFO)
        self.on_page = on_page

    def emit(self, record: logging.LogRecord) -> None:
        if str(record.msg).startswith(self._STEP) and isinstance(record.args, tuple):
            self.on_page(int(record.args[0]))


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = logging.WARNING if record.levelno >= logging.ERROR else logging.DEBUG
        message = record.getMessage().strip()
        if message.startswith("Failed to load image at 'file:"):
            level = logging.DEBUG  # the HTML stage reported it with its file:line (images.py)
        logger.log(level, "PDF: %s", message)


def _fetcher(door: Door, readable: tuple[Path, ...], origins: _Origins):
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    offline = door.offline
    budget = Budget(env_limit("MANUSCRIPT_REMOTE_BUDGET", REMOTE_BUDGET))
    per_request = env_limit("MANUSCRIPT_REMOTE_TIMEOUT", REMOTE_TIMEOUT)

    class Fetcher(URLFetcher):
        """Files under the manuscript, the theme's fonts, ``data:`` and (online)
        http(s); nothing else.

        WeasyPrint's own fetcher reads any ``file://`` URL the HTML names:
        ``<img src="file:///proc/self/environ">`` or a ``../../`` path out of the
        manuscript. Remote resources share one time budget and get a placeholder
        when they cannot be had in it. The theme's fonts (``fonts/…`` beside the page)
        come from the package.
        """

        def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
            font = bundled_font(url, origins.base_url)
            if font is not None:
                return _font_response(url, font)
            scheme = urlsplit(url).scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                refusal = _local_refusal(url, readable)
                if refusal:
                    return _placeholder(url, "file not read for the PDF", refusal)
                return super().fetch(url, headers)
            if scheme not in ("http", "https"):
                return _placeholder(url, "URL not read for the PDF",
                                    f"{scheme}: URLs are not fetched")
            if offline:
                return _placeholder(url, _REMOTE, "offline build")
            return self._remote(url, headers)

        def _remote(self, url: str, headers: dict | None) -> URLFetcherResponse:
            # Through the door: redirects checked hop by hop, a deadline on the whole
            # answer, a size limit, and a host that failed is not asked again.
            try:
                answer = door.fetch(url, max_bytes=MAX_REMOTE_BYTES, timeout=per_request,
                                    budget=budget)
            except FetchError as error:  # Unreachable included: "HOST could not be reached"
                return _placeholder(url, _REMOTE, error.message)
            return URLFetcherResponse(answer.url, answer.data,
                                      {"Content-Type": answer.content_type}, answer.status)

    def _placeholder(url: str, what: str, reason: str) -> URLFetcherResponse:
        where = origins.place(url)
        if urlsplit(url).path.endswith(".css"):  # e.g. an icon font's stylesheet
            logger.warning("%s%s (%s): %s", where, what.replace("image", "stylesheet"),
                           reason, url)
            return URLFetcherResponse(url, b"", {"Content-Type": "text/css"})
        # Offline, the HTML stage (images.py) has reported each remote image with its
        # file:line already; online, a failure here is news. A refusal always is.
        # A missing local image, likewise, is reported there with its place.
        level = (logging.DEBUG if (offline and what == _REMOTE) or reason == _MISSING
                 else logging.WARNING)
        logger.log(level, "%s%s (%s): %s", where, what, reason, url)
        return URLFetcherResponse(url, _PLACEHOLDER.encode("utf-8"),
                                  {"Content-Type": "image/svg+xml"})

    return Fetcher(timeout=per_request)


def _font_response(url: str, woff2: Path) -> object:
    """A bundled font as TrueType, from its gzipped copy in ``fonts/print/``.

    WeasyPrint would turn the WOFF2 file into the same TrueType bytes itself, in pure
    Python: 1.4 s for the theme's 18 files on every PDF (tools/make_print_fonts.py).
    """
    from weasyprint.urls import URLFetcherResponse

    packed = woff2.parent / "print" / f"{woff2.stem}.ttf.gz"
    try:
        data, kind = gzip.decompress(packed.read_bytes()), "font/ttf"
    except FileNotFoundError:  # a font added without its print copy: slower, same PDF
        logger.debug("no print copy of %s: WeasyPrint decompresses the WOFF2", woff2.name)
        data, kind = woff2.read_bytes(), "font/woff2"
    return URLFetcherResponse(url, data, {"Content-Type": kind})


def _local_refusal(url: str, readable: tuple[Path, ...]) -> str:
    """Why the ``file:`` URL may not be read, or ``""``: it must resolve (links and
    ``..`` followed) to a regular file under one of the ``readable`` folders."""
    path = Path(url2pathname(unquote(urlsplit(url).path)))
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return _MISSING
    if not any(real.is_relative_to(folder) for folder in readable):
        return "outside the manuscript folder"
    if not real.is_file():
        return "not a regular file"
    return ""
