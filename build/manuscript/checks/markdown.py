"""What the checks need from the raw sections, with positions: citations, labels,
images, links and anchors.

pandoc's Markdown reader keeps no source positions, so the sections are scanned as
written. What pandoc would not read as Markdown is blanked out first (code, HTML
comments, Jinja2 tags and comments), keeping every other character where it was, so
an offset still maps to the line and column an editor shows.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..sources import MATH, Section, blank_code

# pandoc's citation key: starts with a letter, digit or _, may hold internal
# punctuation (:.#$%&-+?<>~/) followed by more of the key; or any text in braces.
# "_@fig:x_" (emphasis): the "_" before the "@" opens emphasis, so it is a citation
# there too, and the closing "_" is part of the key, as pandoc reads it.
_CITATION = re.compile(r"(?:(?<![\w@\\])|(?<=(?<!\w)_))"
                       r"@(?:\{([^{}\n]+)\}|(\w(?:\w|[:.#$%&\-+?<>~/]+(?=\w))*))")
# Where an "@" is no citation though pandoc reads the text around it (blanked for the
# citation scan only; the anchors, images and links are found in these places):
_NOT_CITATIONS = re.compile("|".join([
    # raw HTML elements whose text pandoc keeps raw, and every tag's attributes
    r"<(?P<raw>pre|script|style|textarea)\b.*?</(?P=raw)\s*>",
    r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>",
    # autolinks <https://…/@x>, <mailto:…>
    r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>",
    # attributes {title="@fig:x"} (not the key of a citation "@{…}", nor pandoc-xnos'
    # protected reference "{@fig:x}", "{+@fig:x}", which is a reference)
    r"(?<!@)\{(?![+*!]?@)[^{}\n]*\}",
    # reference-link definitions "[ref]: https://…/@x 'Title'" (not "[@tag]:", "[^note]:")
    r"^[ ]{0,3}\[[^\]@^\n][^\]\n]*\]:[ \t]*\S[^\n]*",
]), re.S | re.I | re.M)
_TAG_DEFINITION = re.compile(r"^\[@(\{[^{}\n]+\}|[^\]\s]+)\]:[ \t]*(\S+)", re.M)
_ATTRIBUTES = re.compile(r"\{([^{}\n]*)\}")
_ID = re.compile(r"(?:^|\s)#([^\s}]+)")
_XREF_LABEL = re.compile(r"^(fig|tbl|eq|sec):(.+)$")
_RAW_ID = re.compile(r"<[A-Za-z][^<>]*?\sid\s*=\s*[\"']([^\"']+)[\"']")
_RAW_IMG = re.compile(r"<img\b([^<>]*)>", re.I)
_RAW_ATTR = re.compile(r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_ATX = re.compile(r"^#{1,6}[ \t]+(.*?)[ \t#]*$", re.M)
_SETEXT = re.compile(r"^([^\n]+)\n[ \t]{0,3}(?:=+|-+)[ \t]*$", re.M)
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
# Blanked before scanning (positions kept): code blocks (fenced and indented) and code
# spans (sources.blank_code), HTML comments, and Jinja2 as manubot configures it
# ({{ }}, {% %}, {## ##}). Jinja2 becomes TEMPLATED characters rather than spaces, so a
# link target made by a template is recognised (and not checked: its value is known
# only once rendered).
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_JINJA = re.compile(r"\{##.*?##\}|\{\{.*?\}\}|\{%.*?%\}", re.S)
TEMPLATED = "\x1a"


@dataclass(frozen=True)
class Place:
    path: Path
    line: int
    col: int


@dataclass(frozen=True)
class Citation:
    key: str  # as written, without the @ (and without braces)
    place: Place


@dataclass(frozen=True)
class TagDefinition:
    key: str  # "tag:review"
    target: str
    place: Place


@dataclass(frozen=True)
class Label:
    kind: str  # fig, tbl, eq, sec
    label: str  # "fig:plot"
    place: Place
    element: str | None = None  # "figure", "table", "equation": what it is written on


# What a label's {…} is written on, from its paragraph up to it: the crossref filter
# numbers a fig: label only on a figure, tbl: on a table, eq: on $$…$$.
_ON_EQUATION = re.compile(r"\$\$[ \t]*$")
_ON_IMAGE = re.compile(r"!\[[^\]]*(?:\][^\]]*)*\]\([^\n]*\)$")  # caption may span lines
_TABLE_CAPTION = re.compile(r"^[ ]{0,3}(?:Table)?:[ \t]")
_PARAGRAPH_START = re.compile(r"\n[ \t]*\n")


def _element_before(paragraph: str) -> str | None:
    """"equation", "table" or "figure" for the text a label's {…} follows, else None."""
    if _ON_EQUATION.search(paragraph):
        return "equation"
    if _TABLE_CAPTION.match(paragraph):
        return "table"
    if _ON_IMAGE.match(paragraph.lstrip()):
        return "figure"
    return None


@dataclass(frozen=True)
class Image:
    target: str
    alt: str | None  # None: raw <img> without alt
    attributes: str  # the {…} after it, or the raw tag's attributes
    place: Place


@dataclass(frozen=True)
class Link:
    target: str
    place: Place


@dataclass
class Scan:
    citations: list[Citation] = field(default_factory=list)
    tags: list[TagDefinition] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    anchors: set[str] = field(default_factory=set)
    unnumbered: set[str] = field(default_factory=set)  # ids of {.unnumbered} / {-} headings


def scan(sections: Sequence[Section]) -> Scan:
    found = Scan()
    for section in sections:
        _scan_one(section, found)
    return found


def _scan_one(section: Section, found: Scan) -> None:
    # CRLF: the "\r" as a space keeps every column and lets "$" end a line
    text = blank(section.text.replace("\r", " "))
    where = _Positions(section.path, section.text)
    definitions: set[int] = set()
    for match in _TAG_DEFINITION.finditer(text):
        key = match.group(1).strip("{}")
        found.tags.append(TagDefinition(key, match.group(2), where(match.start())))
        definitions.add(match.start() + 1)  # the @ of the definition is no use of the key
    for match in _CITATION.finditer(_citable(text)):
        if match.start() in definitions:
            continue
        key = match.group(1) or match.group(2)
        found.citations.append(Citation(key, where(match.start())))
    paragraphs: list[int] | None = None  # where each paragraph starts, once a label needs it
    for match in _ATTRIBUTES.finditer(text):
        for id_match in _ID.finditer(match.group(1)):
            identifier = id_match.group(1)
            found.anchors.add(identifier)
            xref = _XREF_LABEL.match(identifier)
            if xref:
                if paragraphs is None:
                    paragraphs = [0, *(m.end() for m in _PARAGRAPH_START.finditer(text))]
                start = paragraphs[bisect.bisect_right(paragraphs, match.start()) - 1]
                paragraph = text[start:match.start()]
                found.labels.append(Label(xref.group(1), identifier, where(match.start()),
                                          _element_before(paragraph)))
    found.anchors.update(m.group(1) for m in _RAW_ID.finditer(text))
    for heading in _headings(text):
        found.anchors.add(heading)
    found.unnumbered.update(_unnumbered(text))
    for start, alt, target, attributes in _bracketed(text, image=True):
        found.images.append(Image(target, alt, attributes, where(start)))
    for match in _RAW_IMG.finditer(text):
        attrs = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
                 for m in _RAW_ATTR.finditer(match.group(1))}
        if attrs.get("src"):
            found.images.append(Image(attrs["src"], attrs.get("alt"), match.group(1),
                                      where(match.start())))
    for start, _text, target, _attributes in _bracketed(text, image=False):
        found.links.append(Link(target, where(start)))
    for match in _AUTOLINK.finditer(text):
        found.links.append(Link(match.group(1), where(match.start())))


def blank(text: str) -> str:
    """``text`` with code, comments and Jinja2 replaced by spaces (newlines kept)."""
    def spaces(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    def templated(match: re.Match) -> str:
        return re.sub(r"[^\n]", TEMPLATED, match.group(0))

    return _COMMENT.sub(spaces, _JINJA.sub(templated, blank_code(text)))


def _citable(text: str) -> str:
    """``text`` with math and what pandoc reads no citation in blanked (positions kept)."""
    def spaces(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    return _NOT_CITATIONS.sub(spaces, MATH.sub(spaces, text))


def _bracketed(text: str, image: bool) -> Iterator[tuple[int, str, str, str]]:
    """``![alt](target){attrs}`` (image) or ``[text](target)`` (link): start, text,
    target, attributes. Brackets nest ("![A [@cite] plot.](a.png)"), so they are
    counted rather than matched by one regular expression."""
    opener = "![" if image else "["
    position = 0
    while (start := text.find(opener, position)) >= 0:
        position = start + len(opener)
        if not image and start > 0 and text[start - 1] in "!\\":
            continue
        end = _closing(text, position)
        if end is None or text[end + 1: end + 2] != "(":
            continue
        close = text.find(")", end + 2)
        if close < 0:
            continue
        destination = text[end + 2: close].strip()
        if destination.startswith("<") and ">" in destination:  # (<a target with spaces>)
            target = destination[1:destination.index(">")]
        else:
            target = destination.split()[0] if destination else ""
        if TEMPLATED in target:
            position = close + 1
            continue
        attributes = ""
        after = _ATTRIBUTES.match(text, close + 1)
        if after:
            attributes = after.group(1)
        yield start, text[position:end], target, attributes
        position = close + 1


def _closing(text: str, position: int) -> int | None:
    depth = 1
    for index in range(position, len(text)):
        char = text[index]
        if char == "\\":
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return index
        elif char == "\n" and text[index + 1: index + 2] == "\n":
            return None  # a paragraph ends
    return None


def _headings(text: str) -> Iterator[str]:
    """The identifiers pandoc gives headings without an explicit ``{#id}``."""
    titles = [m.group(1) for m in _ATX.finditer(text)]
    titles += [m.group(1) for m in _SETEXT.finditer(text) if m.group(1).strip()
               and not m.group(1).lstrip().startswith(("-", "*", "+", "|", ">", "#"))]
    seen: dict[str, int] = {}
    for title in titles:
        if _ATTRIBUTES.search(title) and _ID.search(title.split("{", 1)[1]):
            continue  # an explicit id, found with the other attributes
        identifier = auto_identifier(title)
        count = seen.get(identifier, 0)
        seen[identifier] = count + 1
        yield identifier if not count else f"{identifier}-{count}"


_UNNUMBERED = re.compile(r"(?:^|\s)(?:\.unnumbered|-)(?=\s|$)")


def _unnumbered(text: str) -> Iterator[str]:
    """The ids of ATX headings marked ``{.unnumbered}`` or ``{-}``: pandoc does not number
    them, so pandoc-secnos (and crossref.lua) cannot reference them."""
    for match in _ATX.finditer(text):
        title = match.group(1)
        attributes = _ATTRIBUTES.search(title)
        if not attributes or not _UNNUMBERED.search(attributes.group(1)):
            continue
        explicit = _ID.search(attributes.group(1))
        yield explicit.group(1) if explicit else auto_identifier(title)


def auto_identifier(title: str) -> str:
    """pandoc's ``auto_identifiers``: formatting and links gone, only alphanumerics,
    ``_-.`` kept, spaces to hyphens, lowercase, everything up to the first letter removed."""
    title = _ATTRIBUTES.sub("", title)
    title = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", title)  # links keep their text
    title = re.sub(r"[*`~]|(?<!\w)_+|_+(?!\w)", "", title)  # emphasis, not snake_case
    title = "".join(c for c in title if c.isalnum() or c in "_-. \t\n")
    title = re.sub(r"\s+", "-", title.strip()).lower()
    while title and not title[0].isalpha():
        title = title[1:]
    return title or "section"


class _Positions:
    """offset → (line, column), both 1-based, the column in characters."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def __call__(self, offset: int) -> Place:
        line = bisect.bisect_right(self.starts, offset)
        return Place(self.path, line, offset - self.starts[line - 1] + 1)
