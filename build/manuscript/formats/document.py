"""What every extra format starts from: the cited AST, reshaped for a title page.

The HTML shows the manuscript's own front matter (``00.front-matter.md``: an
``## Authors`` list made by Jinja2, and ``## Abstract``). Word, JATS, LaTeX and Typst
have their own title blocks, filled from metadata, so here the abstract moves into
the ``abstract`` metadata and the rendered author list (the ``authors`` section and the
``#correspondence`` note) leaves the body; everything else stays as the HTML has it.
"""

from __future__ import annotations

import logging
import marshal
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .. import credit, metatext

logger = logging.getLogger(__name__)

# Sections of the front matter that the formats' title blocks replace.
_TITLE_BLOCK_SECTIONS = ("authors",)
_TITLE_BLOCK_DIVS = ("correspondence",)


@dataclass(frozen=True)
class Author:
    name: str
    orcid: str | None = None
    email: str | None = None
    corresponding: bool = False
    affiliations: tuple[str, ...] = ()
    roles: tuple[credit.Role, ...] = ()
    given: str | None = None
    family: str | None = None


@dataclass
class Document:
    ast: dict  # the body without title-block sections; meta without bibliography keys
    abstract: list[dict] = field(default_factory=list)  # pandoc blocks, no heading
    abstract_heading: dict | None = None
    # The abstract's counted-only heading left in the body (see counted_only): a format
    # that puts the abstract's own heading back into the body removes it.
    abstract_stand_in: dict | None = None
    authors: list[Author] = field(default_factory=list)
    affiliations: list[str] = field(default_factory=list)  # in order of first mention
    title: str = ""
    keywords: list[str] = field(default_factory=list)
    lang: str = "en"
    date: str = ""

    def affiliation_numbers(self, author: Author) -> list[int]:
        return [self.affiliations.index(a) + 1 for a in author.affiliations]


def prepare(ast: dict, variables: dict) -> Document:
    """A deep copy of ``ast``, reshaped; ``variables`` is output/variables.json."""
    # The AST is JSON (dicts, lists, strings, numbers): marshal copies it 3x faster than
    # copy.deepcopy, which checks every node for shared references (0.16 s on `large`).
    ast = marshal.loads(marshal.dumps(ast))
    ast["meta"] = {k: v for k, v in ast["meta"].items()
                   if k not in ("bibliography", "references", "header-includes",
                               "manuscript-downloads")}
    # Metadata is text (the build did this already; any other caller too), before the
    # abstract, a section of the author's, moves into it.
    metatext.as_text(ast["meta"])
    blocks, abstract = _take_section(ast["blocks"], ("abstract",))
    if not abstract:
        blocks, abstract = _take_summary(blocks)
    stand_in = next((b for b in blocks if is_counted_only(b)), None) if abstract else None
    blocks, _ = _take_section(blocks, _TITLE_BLOCK_SECTIONS)
    ast["blocks"] = [b for b in blocks if _div_id(b) not in _TITLE_BLOCK_DIVS]
    _anchor_raw_html_ids(ast["blocks"])
    _unlink_dangling(ast["blocks"])
    pandoc_vars, manubot = variables.get("pandoc", {}), variables.get("manubot", {})
    authors = [_author(a) for a in manubot.get("authors", []) if isinstance(a, dict)]
    affiliations: list[str] = []
    for author in authors:
        affiliations.extend(a for a in author.affiliations if a not in affiliations)
    keywords = pandoc_vars.get("keywords") or []
    return Document(
        ast=ast, abstract=abstract[1:], abstract_heading=abstract[0] if abstract else None,
        abstract_stand_in=stand_in,
        authors=authors,
        affiliations=affiliations, title=str(pandoc_vars.get("title") or ""),
        keywords=[str(k) for k in (keywords if isinstance(keywords, list) else [keywords])],
        lang=str(pandoc_vars.get("lang") or "en"), date=str(manubot.get("date") or ""),
    )


def _author(data: dict) -> Author:
    affiliations = data.get("affiliations") or []
    if isinstance(affiliations, str):
        affiliations = [part.strip() for part in affiliations.split(";")]
    roles = tuple(r for name in credit.role_names(data.get("roles")) if (r := credit.lookup(name)))
    return Author(
        name=str(data.get("name", "")), orcid=data.get("orcid") or None,
        email=data.get("email") or None,
        corresponding=bool(data.get("corresponding") or data.get("correspondence")),
        affiliations=tuple(str(a) for a in affiliations), roles=roles,
        given=data.get("given-names") or data.get("given"),
        family=data.get("surname") or data.get("family"),
    )


def _take_section(blocks: list[dict], ids: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """Remove the first top-level section whose heading has one of ``ids``.

    A section runs to the next heading of the same or a higher level. Its heading's
    :func:`counted_only` stand-in stays, so the sections after it keep their numbers.
    """
    for start, block in enumerate(blocks):
        if block["t"] == "Header" and block["c"][1][0] in ids:
            level = block["c"][0]
            end = start + 1
            while end < len(blocks) and not (blocks[end]["t"] == "Header"
                                             and blocks[end]["c"][0] <= level):
                end += 1
            return ([*blocks[:start], counted_only(block), *blocks[end:]],
                    blocks[start:end])
    return blocks, []


# The crossref filter counts a heading of this class for section numbers, then drops it.
COUNTED_ONLY = "crossref-counted-only"


def counted_only(header: dict) -> dict:
    """An empty heading at ``header``'s level, numbered as it was but never shown: the
    HTML numbers its sections counting the Authors and Abstract (pandoc-secnos did too:
    ccc's "7 STAR★Methods"), which the formats move into their title blocks."""
    classes = [c for c in header["c"][1][1] if c == "unnumbered"] + [COUNTED_ONLY]
    return {"t": "Header", "c": [header["c"][0], ["", classes, []], []]}


def is_counted_only(block: dict) -> bool:
    return block.get("t") == "Header" and COUNTED_ONLY in block["c"][1][1]


def _take_summary(blocks: list[dict]) -> tuple[list[dict], list[dict]]:
    """A ``## Summary`` before the introduction is the abstract (Cell Press's STAR
    layout: Highlights, Summary, Introduction); one elsewhere is the author's closing
    summary and stays where it is."""
    ids = [b["c"][1][0] for b in blocks if b["t"] == "Header"]
    if "summary" in ids and "introduction" in ids \
            and ids.index("summary") < ids.index("introduction"):
        return _take_section(blocks, ("summary",))
    return blocks, []


# Targets made later, inside pandoc: by the crossref filter and by citeproc.
_MADE_LATER = ("#fig:", "#tbl:", "#eq:", "#ref-", "#refs")
# Elements whose first content item is an Attr ([id, classes, attributes]).
_WITH_ATTR = ("Header", "Div", "Span", "CodeBlock", "Code", "Figure", "Table", "Image", "Link")


# The id of a raw HTML element's opening tag (``<table id="tbl:networks" …>``).
_RAW_HTML_ID = re.compile(r"""\A\s*<[A-Za-z][\w-]*\b[^>]*?\sid\s*=\s*["']([^"']+)["']""")


def _anchor_raw_html_ids(blocks: list[dict]) -> None:
    """An id written in raw HTML is a link target in every format, not only the HTML.

    The other formats leave raw HTML out (its text, read as Markdown between the tags,
    stays): xswap's ``<table id="tbl:networks">`` is linked as "Table S2"; Word, JATS,
    LaTeX and Typst had no target for those links. An empty Div with the id stands
    right before the raw block (pandoc writes it as a bookmark, a label, an anchor).
    """
    def walk(items: list[dict]) -> None:
        index = 0
        while index < len(items):
            block = items[index]
            if isinstance(block, dict) and block.get("t") == "RawBlock" \
                    and block["c"][0] == "html" \
                    and (match := _RAW_HTML_ID.match(block["c"][1])):
                items.insert(index, {"t": "Div", "c": [[match[1], [], []], []]})
                index += 1
            elif isinstance(block, dict) and block.get("t") in ("Div", "BlockQuote"):
                walk(block["c"][1] if block["t"] == "Div" else block["c"])
            index += 1

    walk(blocks)


def _unlink_dangling(blocks: list[dict]) -> None:
    """A link to an id nowhere in the document keeps its text, loses the link.

    HTML shrugs at such links; Typst refuses to compile and JATS is invalid with them.
    """
    ids: set[str] = set()
    links: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            kind, content = node.get("t"), node.get("c")
            if kind in _WITH_ATTR and isinstance(content, list) and content:
                attr = content[1] if kind == "Header" else content[0]
                if isinstance(attr, list) and attr and isinstance(attr[0], str) and attr[0]:
                    ids.add(attr[0])
            if kind == "Link":
                links.append(node)
            walk(content)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    for node in links:
        target = node["c"][2][0]
        if target.startswith("#") and not target.startswith(_MADE_LATER) \
                and target[1:] not in ids:
            node["t"], node["c"] = "Span", [["", [], []], node["c"][1]]


def _div_id(block: dict) -> str | None:
    return block["c"][0][0] if block["t"] == "Div" else None


# ---------------------------------------------------------------- pandoc AST builders


def text_inlines(text: str) -> list[dict]:
    """Plain text as pandoc inlines (words and spaces)."""
    inlines: list[dict] = []
    for n, word in enumerate(text.split()):
        if n:
            inlines.append({"t": "Space"})
        inlines.append({"t": "Str", "c": word})
    return inlines


def meta_inlines(text: str) -> dict:
    return {"t": "MetaInlines", "c": text_inlines(text)}


def meta_string(text: str) -> dict:
    return {"t": "MetaString", "c": text}


def meta_map(values: dict[str, dict]) -> dict:
    return {"t": "MetaMap", "c": values}


def meta_list(values: list[dict]) -> dict:
    return {"t": "MetaList", "c": values}


def link(inlines: list[dict], url: str) -> dict:
    return {"t": "Link", "c": [["", [], []], inlines, [url, ""]]}


def para(inlines: list[dict]) -> dict:
    return {"t": "Para", "c": inlines}


# ---------------------------------------------------------------- text and places

QUOTES = {"SingleQuote": ("\u2018", "\u2019"), "DoubleQuote": ("\u201c", "\u201d")}
# Where each inline keeps its child inlines in pandoc's JSON ("c" itself, or an index).
_CHILDREN = {"Emph": None, "Strong": None, "Underline": None, "Strikeout": None,
             "Superscript": None, "Subscript": None, "SmallCaps": None,
             "Span": 1, "Link": 1, "Image": 1, "Cite": 1, "Quoted": 1}


def stringify(inlines: object) -> str:
    """Plain text of pandoc inlines, as ``pandoc.utils.stringify`` gives it: code and
    math as their text, quotes as curly quotes, a link or image as its text, notes and
    raw output left out. Any JSON the AST may hold is taken, never an exception."""
    if not isinstance(inlines, list):
        return ""
    parts: list[str] = []
    for inline in inlines:
        if not isinstance(inline, dict):
            continue
        kind, content = inline.get("t"), inline.get("c")
        if kind == "Str" and isinstance(content, str):
            parts.append(content)
        elif kind in ("Space", "SoftBreak", "LineBreak"):
            parts.append(" ")
        elif kind in ("Code", "Math") and isinstance(content, list) and len(content) == 2:
            parts.append(content[1] if isinstance(content[1], str) else "")
        elif kind in _CHILDREN:
            index = _CHILDREN[kind]
            children = content if index is None else (
                content[index] if isinstance(content, list) and len(content) > index else [])
            text = stringify(children)
            if kind == "Quoted" and isinstance(content, list) and content \
                    and isinstance(content[0], dict):
                open_, close = QUOTES.get(content[0].get("t", ""), ("", ""))
                text = open_ + text + close
            parts.append(text)
    return "".join(parts)


class Places:
    """Where in the manuscript's sources an element of the AST was written.

    The AST keeps no source positions (pandoc's Markdown reader has none), so an
    element is found by its text: a raw block's or code's first line, or a run of
    three words of its prose, searched in the sections and metadata.yaml.
    """

    def __init__(self, content_dir: Path) -> None:
        self.content_dir = content_dir
        self._lines: list[tuple[Path, int, str]] | None = None

    def _all_lines(self) -> list[tuple[Path, int, str]]:
        if self._lines is None:
            self._lines = []
            paths = [*sorted(self.content_dir.glob("[0-9]*.md")),
                     self.content_dir / "metadata.yaml"]
            for path in paths:
                if path.is_file():
                    text = path.read_text(encoding="utf-8-sig", errors="replace")
                    self._lines += [(path, n, line)
                                    for n, line in enumerate(text.splitlines(), 1)]
        return self._lines

    def find(self, needle: str) -> tuple[Path, int] | None:
        needle = needle.strip()
        if not needle:
            return None
        for path, number, line in self._all_lines():
            if needle in line:
                return path, number
        return None

    def of(self, element: dict) -> tuple[Path, int] | None:
        """The first place that holds the element's text, or None."""
        for needle in _needles(element):
            place = self.find(needle)
            if place is not None:
                return place
        return None

    def where(self, element: dict) -> str:
        """``file:line: `` (relative to the manuscript's root), or "" if unknown."""
        place = self.of(element)
        if place is None:
            return ""
        path, line = place
        return f"{path.relative_to(self.content_dir.parent).as_posix()}:{line}: "


def _needles(element: dict) -> Iterator[str]:
    """Text of the element to search its source by: most distinctive first."""
    kind, content = element.get("t"), element.get("c")
    if kind in ("RawBlock", "RawInline", "CodeBlock", "Code") and isinstance(content, list):
        text = content[1] if isinstance(content[1], str) else ""
        for line in text.splitlines():
            if line.strip():
                yield line.strip()
        return
    runs: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            run: list[str] = []
            for item in node:
                if isinstance(item, dict) and item.get("t") == "Str":
                    run.append(item["c"])
                elif isinstance(item, dict) and item.get("t") == "Space":
                    continue
                else:
                    if run:
                        runs.append(run)
                    run = []
                    walk(item)
            if run:
                runs.append(run)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk([element])
    for run in runs:
        for start in range(max(len(run) - 2, 1)):
            yield " ".join(run[start:start + 3])
    for run in runs:
        yield from sorted((word for word in run if len(word) >= 6), key=len, reverse=True)
