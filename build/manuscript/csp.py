"""The web page's Content-Security-Policy: only its own scripts and styles run.

A section may hold raw HTML, so a contributor can put ``<script>`` (or an
``onerror=`` attribute) into the page. The policy, in a ``<meta http-equiv>`` that the
theme's template carries, allows scripts and style blocks by the SHA-256 hash of their
text, and hashes only the ones the build itself put there:

* scripts: only those the theme ships, hashed from their sources and never from the
  page: the theme's JS files (one block, as ``render`` inserts it), the template's own
  blocks without ``$variables$`` (Hypothesis' config), and the ``manuscript-analytics``
  snippet the manuscript opted into. Whatever else stands in a ``<script>`` — in a
  section, or in ``<head>`` through metadata or an author's ``header-includes`` — has no
  hash, so it does not run. (Once every block in ``<head>`` was hashed: a keyword
  holding ``<script>`` ran, since pandoc reads metadata as Markdown.)
* style blocks: every block in ``<head>`` (the theme's CSS, pandoc's highlighting CSS,
  the page size), and blocks after ``<body>`` whose text is a trusted fragment's. A
  style cannot run code.

Inline ``style="…"`` attributes stay allowed (``style-src-attr``): pandoc writes them
for image widths and table columns, and they cannot run code. Images may come from
the site itself, ``data:`` and any https host, as figures in manuscripts do.

WeasyPrint ignores the policy; the PDF is protected by its URL fetcher (``pdf.py``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

# The template writes content="$manuscript-csp$"; render passes this, and
# add_policy() replaces it once the page, and so its blocks, are known.
PLACEHOLDER = "manuscript-csp-placeholder"
_META = '<meta http-equiv="Content-Security-Policy" content="'
_SCRIPT_SRC = "default-src 'none'; script-src "
SELF = "'self'"
_JAVASCRIPT = frozenset({"", "text/javascript", "application/javascript", "module"})

HYPOTHESIS = {
    "script-src": ("https://hypothes.is", "https://cdn.hypothes.is"),
    "style-src": ("https://cdn.hypothes.is",),
    "font-src": ("https://cdn.hypothes.is",),
    "frame-src": ("https://hypothes.is",),
    "connect-src": ("https://hypothes.is", "https://api.hypothes.is"),
}


class _Blocks(HTMLParser):
    """Inline ``<script>`` and ``<style>`` texts, and whether each is in ``<head>``;
    the origins of ``<script src>``."""

    def __init__(self, html: str, *, complete: bool = True) -> None:
        super().__init__(convert_charrefs=False)
        self.blocks: list[tuple[str, str, bool]] = []  # tag, text, in head
        self.sources: list[str] = []
        self._open: str | None = None
        self._text: list[str] = []
        self._body = False
        self.feed(html)
        if complete:
            self.close()

    def ends_between_tags(self) -> bool:
        """Whether everything fed was parsed and nothing is left open: not inside a
        tag, a comment, or a script or style text (``feed`` keeps an unfinished one)."""
        return not self.rawdata and self.cdata_elem is None and self._open is None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._body = True
        if tag in ("script", "style"):
            attributes = dict(attrs)
            src = attributes.get("src")
            if tag == "script" and src:
                self.sources.append(src)
            elif tag == "style" or (attributes.get("type") or "").lower() in _JAVASCRIPT:
                self._open, self._text = tag, []
            # else a data block (JSON-LD): never run, so no policy applies, and its
            # text changes with every build (dateModified)

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open == tag:
            self.blocks.append((tag, "".join(self._text), not self._body))
            self._open = None


_BODY_TAG = re.compile(r"<body[\t\n\r\f />]", re.IGNORECASE)


def _split_at_body(html: str) -> tuple[_Blocks, str]:
    """The parse of ``<head>`` (whose style blocks are the build's), and the rest.

    Only the head is parsed: the body (2.4 MB on a large manuscript, 0.5 s through
    ``HTMLParser``) matters only for the trusted blocks, whose texts are known, so it
    is searched for them instead (and so is the head, for trusted scripts). ``<body``
    is where the parser sees the body's start tag: a candidate inside a style, script,
    comment or attribute leaves the parse of what precedes it unfinished, and the next
    one is tried.
    """
    for match in _BODY_TAG.finditer(html):
        head = _Blocks(html[:match.start()], complete=False)
        if head.ends_between_tags():
            return head, html[match.start():]
    return _Blocks(html), ""  # no body tag: all of it is head, as a full parse has it


def digest(text: str) -> str:
    """The CSP hash source of a block's text, as a browser computes it (CR LF → LF)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    value = base64.b64encode(hashlib.sha256(normalized.encode("utf-8")).digest()).decode()
    return f"'sha256-{value}'"


def add_policy(html: str, trusted: Iterable[str], template: str, variables: dict) -> str:
    """Fill in the template's policy; a page whose template has none is left as it is.

    ``trusted``: HTML the build inserted as it is (the theme's ``<script>``);
    ``template``: the pandoc template, whose blocks without ``$variables$`` are trusted.
    """
    if PLACEHOLDER not in html:
        logger.debug("the template has no Content-Security-Policy placeholder")
        return html
    return html.replace(PLACEHOLDER, policy(html, trusted, template, variables), 1)


def policy(html: str, trusted: Iterable[str], template: str, variables: dict) -> str:
    allowed: dict[str, set[str]] = {"script": set(), "style": set()}
    analytics = str(variables.get("manuscript-analytics") or "")
    trusted_texts = {(tag, text) for fragment in [*trusted, analytics]
                     for tag, text, _ in _Blocks(fragment).blocks}
    trusted_texts.update((tag, text) for tag, text, _ in _Blocks(template).blocks
                         if "$" not in text)
    head, body = _split_at_body(html)
    for tag, text, _ in head.blocks:
        if tag == "style":
            allowed[tag].add(digest(text))
    for tag, text in trusted_texts:
        if f">{text}</{tag}>" in (html if tag == "script" else body):
            allowed[tag].add(digest(text))

    extra: dict[str, set[str]] = {}
    if variables.get("manuscript-hypothesis") is True:
        for directive, origins in HYPOTHESIS.items():
            extra.setdefault(directive, set()).update(origins)
    if analytics:
        for src in _Blocks(analytics).sources:
            parts = urlsplit(src)
            if parts.scheme == "https" and parts.netloc:
                extra.setdefault("script-src", set()).add(f"https://{parts.netloc}")
        extra.setdefault("connect-src", set()).add("https:")  # where trackers report

    def sources(directive: str, *base: str) -> str:
        values = [*base, *sorted(extra.get(directive, ()))]
        return " ".join(values) if values else "'none'"

    directives = [
        "default-src 'none'",
        f"script-src {sources('script-src', *sorted(allowed['script']))}",
        f"style-src {sources('style-src', *sorted(allowed['style']))}",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: https:",
        "media-src 'self' data: https:",
        f"font-src {sources('font-src', SELF, 'data:')}",
        f"connect-src {sources('connect-src', SELF)}",
        f"frame-src {sources('frame-src')}",
        "base-uri 'none'",
        "form-action 'none'",
    ]
    return "; ".join(directives)


def allow_inline_script(html: str, script: str) -> str:
    """The page with one more inline script allowed (the live-reload one ``serve`` adds).

    ``script`` is the text between ``<script>`` and ``</script>``.
    """
    marker = _META + _SCRIPT_SRC
    return html.replace(marker, f"{marker}{digest(script)} ", 1)
