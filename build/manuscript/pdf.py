"""Stage 4, pdf: WeasyPrint, in-process, from the HTML already made.

Math is already inline SVG in the HTML (math.py, MathJax), which WeasyPrint draws
as it is. Remote images get a short timeout and a visible placeholder, so an offline
build never hangs on them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from .errors import RenderError
from .math import title_formulas

logger = logging.getLogger(__name__)

REMOTE_TIMEOUT = 5  # seconds per remote image
_PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="60">'
    '<rect width="100%" height="100%" fill="#eee" stroke="#999"/>'
    '<text x="10" y="35" font-family="sans-serif" font-size="14">'
    "Image not available offline</text></svg>"
)


def render_pdf(html: str, base_dir: Path, offline: bool = False) -> bytes:
    """HTML text → PDF bytes; relative links resolve against ``base_dir``."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=f"{base_dir.resolve().as_uri()}/",
                    url_fetcher=_fetcher(offline))
    title_formulas(document.etree_element)  # alt text of each formula: its TeX
    try:
        # Tagged PDF: headings, lists and figures get structure, and every image (math
        # included, as its TeX) its alt text, for screen readers and text extraction.
        with _weasyprint_errors_as_warnings():
            return document.write_pdf(pdf_tags=True)
    except Exception as error:
        raise RenderError(f"WeasyPrint failed: {type(error).__name__}: {error}") from error


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


class _Forward(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        level = logging.WARNING if record.levelno >= logging.ERROR else logging.DEBUG
        message = record.getMessage().strip()
        if message.startswith("Failed to load image at 'file:"):
            level = logging.DEBUG  # the HTML stage reported it with its file:line (images.py)
        logger.log(level, "PDF: %s", message)


def _fetcher(offline: bool):
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class Fetcher(URLFetcher):
        """WeasyPrint's fetcher, with a placeholder for remote images it cannot get."""

        def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
            if not url.startswith(("http://", "https://")):
                return super().fetch(url, headers)
            if offline:
                return _placeholder(url, "offline build")
            try:
                return super().fetch(url, headers)
            except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
                return _placeholder(url, type(error).__name__)

    def _placeholder(url: str, reason: str) -> URLFetcherResponse:
        if urlsplit(url).path.endswith(".css"):  # e.g. an icon font's stylesheet
            logger.warning("remote stylesheet not used in the PDF (%s): %s", reason, url)
            return URLFetcherResponse(url, b"", {"Content-Type": "text/css"})
        # Offline, the HTML stage (images.py) has reported each remote image with its
        # file:line already; online, a failure here is news.
        logger.log(logging.DEBUG if offline else logging.WARNING,
                   "remote image not included in the PDF (%s): %s", reason, url)
        return URLFetcherResponse(url, _PLACEHOLDER.encode("utf-8"),
                                  {"Content-Type": "image/svg+xml"})

    return Fetcher(timeout=REMOTE_TIMEOUT)
