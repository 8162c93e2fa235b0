"""Edits on long manuscripts: a changed paragraph without re-running pandoc on everything.

A rebuild after an edit differs from the last build, most of the time, in one stretch
of prose. This module finds that stretch (the lines between the first and the last
changed line, widened to the blank lines around them), parses only it — old and new
text, each in a small pandoc run — and patches the previous build's AST and page:

* the AST: the old stretch's blocks are found, once, among the previous AST's top-level
  blocks and replaced by the new stretch's blocks;
* the page: the old blocks' HTML (rendered alone, with the same writer settings) is
  found, once, in the previous ``manuscript.html`` and replaced by the new blocks' HTML.

That is only the page a cold build makes when nothing outside the stretch can see the
change, so every step checks and otherwise says "no" (``None``), and the caller parses
or renders the whole document as before (correct first). The checks, i.e. the hazards:

* where the stretch sits: not inside a fenced code block, fenced div, HTML comment or
  HTML block, not the front matter, not indented (a list item's continuation), not a
  table's caption or a definition's term;
* what the stretch defines for the rest of the document: reference-link and footnote
  definitions, example lists;
* what the rest of the document gives the stretch: reference links, implicit header
  references and footnotes defined elsewhere (their unresolved ``[text]`` shows in the
  stretch's own parse), headings' automatic ids (deduplicated across the document);
* what whole-document passes number or collect, in the old or the new blocks: headings
  (ids, table of contents), citations and cross-references (citeproc's and crossref's
  numbering, the bibliography), notes, figures and images, tables, math, raw HTML (the
  page's Content-Security-Policy hashes inline scripts and styles), identifiers,
  highlighted code (its CSS goes into the head), spans and divs.

Why our own: pandoc has no incremental mode and no source positions for Markdown's
top-level blocks; the page is checked against a cold build by tests/test_incremental.py.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import pandoc
from .errors import RenderError
from .fsutil import digest, read_state

logger = logging.getLogger(__name__)

STATE_FILE = ".incremental.json"  # in output/, beside the stage cache's state
STATE_FORMAT = 1

# Top-level blocks and inlines whose HTML depends on nothing but themselves.
_LOCAL_BLOCKS = {"Para", "Plain", "BulletList", "OrderedList", "BlockQuote", "LineBlock",
                 "HorizontalRule", "CodeBlock"}
_LOCAL_INLINES = {"Str", "Emph", "Strong", "Underline", "Strikeout", "Superscript",
                  "Subscript", "SmallCaps", "Quoted", "Code", "Space", "SoftBreak",
                  "LineBreak", "Link"}
# Markdown that defines something for the whole document.
_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:|\(@|^\s*(?:[:~]\s|Table:|: )", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_DIV_FENCE = re.compile(r"^\s*:::")
# An HTML start tag (not an autolink such as <https://…>, whose name is followed by ":"),
# an end tag, and the elements that have no end tag.
_HTML_OPEN = re.compile(r"<([A-Za-z][\w-]*)(?=[\s/>])[^>]*(?<!/)>")
_HTML_CLOSE = re.compile(r"</([A-Za-z][\w-]*)\s*>")
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}
# Blocks that merge with a neighbour of their kind across a blank line (lists, quotes).
_MERGING = re.compile(r"^(?:[-*+]\s|\d+[.)]\s|#[.)]\s|\(?[A-Za-z\d]+\)\s|>)")


class Snapshot:
    """What the last build parsed and rendered, to patch instead of redoing.

    The AST is kept as pandoc's JSON (before citation aliases were taken out): stored
    after a one-line header, it is decoded only when a build patches it.
    """

    def __init__(self, markdown: str, citekeys: list[str], aliases: dict[str, str], *,
                 ast: dict | None = None, ast_json: bytes | None = None,
                 context: str = "", html_sha: str = "") -> None:
        self.markdown, self.citekeys, self.aliases = markdown, citekeys, aliases
        self._ast, self._ast_json = ast, ast_json  # one of them; the dict is never changed
        self.context = context  # digest of the page's inputs other than the blocks
        self.html_sha = html_sha  # the manuscript.html made from them

    @property
    def ast_json(self) -> bytes:
        if self._ast_json is None:
            self._ast_json = json.dumps(self._ast).encode("utf-8")
        return self._ast_json

    def shared_ast(self) -> dict:
        """The AST, decoded once and kept (serve patches it again without decoding):
        nobody may change it; ``patch_ast`` copies its block list only."""
        if self._ast is None:
            self._ast = json.loads(self.ast_json)
        return self._ast

    def fresh_ast(self) -> dict:
        """A deep copy of the AST the caller may change."""
        return json.loads(self.ast_json)

    def to_bytes(self) -> bytes:
        header = {"format": STATE_FORMAT, "markdown": self.markdown,
                  "citekeys": self.citekeys, "aliases": self.aliases,
                  "context": self.context, "html_sha": self.html_sha,
                  "ast_sha": digest([self.ast_json])}
        return json.dumps(header, ensure_ascii=False).encode("utf-8") + b"\n" + self.ast_json

    @classmethod
    def load(cls, output_dir: Path) -> Snapshot | None:
        """The last build's snapshot: from memory (serve), else from ``output/``."""
        key = str(output_dir.resolve())
        if key in _MEMORY:
            return _MEMORY[key]
        def parse(data: bytes) -> Snapshot | None:
            head, _, ast_json = data.partition(b"\n")
            header = json.loads(head)
            if header.get("format") != STATE_FORMAT:
                return None  # another version's: not damage
            if header.get("ast_sha") != digest([ast_json]):
                raise ValueError("the AST is not the one written")
            snapshot = cls(header["markdown"], header["citekeys"], header["aliases"],
                           ast_json=ast_json, context=header["context"],
                           html_sha=header["html_sha"])
            if not (isinstance(snapshot.markdown, str) and isinstance(snapshot.citekeys, list)
                    and isinstance(snapshot.aliases, dict)
                    and isinstance(snapshot.context, str)
                    and isinstance(snapshot.html_sha, str)):
                raise TypeError("not the shape written")
            return snapshot

        return read_state(output_dir / STATE_FILE, "the whole document is parsed", parse)

    def remember(self, output_dir: Path) -> None:
        """Keep it in memory too: ``serve`` rebuilds in this process."""
        _MEMORY.clear()  # one manuscript per process, in practice
        _MEMORY[str(output_dir.resolve())] = self


_MEMORY: dict[str, Snapshot] = {}


# ------------------------------------------------------------------ the changed stretch


@dataclass(frozen=True)
class Stretch:
    old: str  # the old text of the changed lines, widened to whole paragraphs
    new: str
    start: int  # its first line (0-based), the same in both texts
    line_shift: int  # new line count - old line count


def changed_stretch(old: str, new: str) -> Stretch | None:
    """The one stretch of whole paragraphs that differs, if it sits at the top level."""
    a, b = old.split("\n"), new.split("\n")
    if a == b:
        return None
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    start = prefix
    while start > 0 and a[start - 1].strip():
        start -= 1
    while suffix > 0 and a[len(a) - suffix].strip():
        suffix -= 1
    old_lines, new_lines = a[start:len(a) - suffix], b[start:len(b) - suffix]
    if not _at_top_level(a[:start], a[len(a) - suffix:]) or not old_lines or not new_lines:
        return None
    if old_lines[0][:1].isspace() or new_lines[0][:1].isspace():
        return None  # an indented paragraph continues a list item
    old_text, new_text = "\n".join(old_lines), "\n".join(new_lines)
    if _DEFINITION.search(old_text) or _DEFINITION.search(new_text):
        return None
    if not _closed(old_lines) or not _closed(new_lines):
        return None  # the stretch opens something that swallows what follows
    neighbours = [next((x for x in reversed(a[:start]) if x.strip()), ""),
                  next((x for x in a[len(a) - suffix:] if x.strip()), "")]
    if any(_MERGING.match(x) for x in old_lines + new_lines) and any(
            _MERGING.match(x) or x[:1].isspace() for x in neighbours):
        return None  # a list or quote beside another one may join it
    return Stretch(old_text, new_text, start, len(new_lines) - len(old_lines))


def _at_top_level(before: list[str], after: list[str]) -> bool:
    """Nothing opened before the stretch is still open; nothing after attaches to it."""
    if not before or before[0] != "---":
        return False  # the processed Markdown starts with its YAML front matter
    try:
        end = before.index("...", 1)
    except ValueError:
        return False  # the front matter is not over yet
    following = next((line for line in after if line.strip()), "")
    attaches = following[:1].isspace() or following.startswith(
        (":", "~", "Table:", "|", "+-", "---", "==="))
    return _closed(before[end + 1:]) and not attaches


def _closed(lines: list[str]) -> bool:
    """Whether every code fence, fenced div, HTML comment and HTML element these lines
    open, they also close (a rough count: when unsure, it says no)."""
    fences, divs, outside = 0, 0, []
    for line in lines:
        if _FENCE.match(line):
            fences += 1
        elif fences % 2 == 0:
            divs += bool(_DIV_FENCE.match(line))
            outside.append(line)
    text = "\n".join(outside)  # a start tag may span lines (<video\n  controls>)
    opened = sum(name.lower() not in _VOID for name in _HTML_OPEN.findall(text))
    return (fences % 2 == 0 and divs % 2 == 0 and text.count("<!--") == text.count("-->")
            and opened == len(_HTML_CLOSE.findall(text)))


# ------------------------------------------------------------------ blocks


def parse_blocks(text: str) -> list[dict] | None:
    """The stretch's blocks, parsed alone; None when pandoc warned (the whole parse
    would warn too, at another line) or found metadata."""
    result = pandoc.run(pandoc.READ_MARKDOWN, pandoc.read_as_rootstock(text).encode("utf-8"))
    if result.warnings:
        return None
    ast = json.loads(result.output)
    if ast.get("meta"):
        return None
    return ast["blocks"]


def local(blocks: list[dict]) -> bool:
    """Whether these blocks' HTML depends on nothing else in the document (see above)."""
    for node in _nodes(blocks):
        kind = node.get("t")
        if kind in _LOCAL_BLOCKS or kind in _LOCAL_INLINES:
            if not _plain(node):
                return False
        elif kind not in ("ListAttributes", None):
            return False
    return True


def _plain(node: dict) -> bool:
    kind, content = node["t"], node.get("c")
    if kind == "Str":
        return not any(c in content for c in "[]{}@^")  # unresolved references, labels
    if kind in ("Code", "CodeBlock"):
        identifier, classes, attributes = content[0]
        return not identifier and not classes and not attributes
    if kind == "Link":
        identifier, classes, attributes = content[0]
        target = content[2][0]
        return not identifier and not target.startswith("#")
    if kind == "OrderedList":
        return content[0][1]["t"] != "Example"
    return True


def _nodes(value: object) -> Iterator[dict]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "t" in item:
                yield item
            stack.extend(v for v in item.values() if isinstance(v, dict | list))
        elif isinstance(item, list):
            stack.extend(v for v in item if isinstance(v, dict | list))


def occurrences(blocks: list[dict], run: list[dict]) -> list[int]:
    """Where ``run`` occurs among ``blocks``."""
    first = run[0]
    return [i for i in range(len(blocks) - len(run) + 1)
            if blocks[i] == first and blocks[i:i + len(run)] == run]


def paragraphs_like(lines: list[str], stretch: list[str]) -> list[int]:
    """The first lines of the blank-line-bounded copies of ``stretch`` in ``lines``."""
    n = len(stretch)
    return [k for k in range(len(lines) - n + 1)
            if lines[k] == stretch[0] and lines[k:k + n] == stretch
            and (k == 0 or not lines[k - 1].strip())
            and (k + n == len(lines) or not lines[k + n].strip())]


def locate(blocks: list[dict], run: list[dict], markdown: str, stretch: Stretch) -> int | None:
    """The index of the stretch's old blocks among the document's blocks.

    One occurrence: that one. A paragraph repeated word for word (a template's
    boilerplate) is taken as the n-th copy when the text has exactly as many
    paragraph-bounded copies as the AST has copies of its blocks; otherwise unknown.
    """
    found = occurrences(blocks, run)
    if len(found) == 1:
        return found[0]
    copies = paragraphs_like(markdown.split("\n"), stretch.old.split("\n"))
    if not found or len(copies) != len(found) or stretch.start not in copies:
        return None
    return found[copies.index(stretch.start)]


@dataclass(frozen=True)
class Patch:
    ast: dict  # the whole new AST, as the whole parse would give it
    old_blocks: list[dict]
    new_blocks: list[dict]
    stretch: Stretch
    index: int  # where the old blocks were
    copies: list[int]  # every place the old blocks occurred (index is one of them)


def patch_ast(snapshot: Snapshot, markdown: str) -> Patch | None:
    """The new document's AST from the last one, when only a local stretch changed."""
    stretch = changed_stretch(snapshot.markdown, markdown)
    if stretch is None:
        return None
    try:
        old_blocks, new_blocks = parse_blocks(stretch.old), parse_blocks(stretch.new)
    except RenderError as error:  # the whole parse reports it properly
        logger.debug("incremental parse not used: %s", error)
        return None
    if not old_blocks or not new_blocks or not local(old_blocks) or not local(new_blocks):
        return None
    try:
        base = snapshot.shared_ast()
        ast = dict(base, blocks=list(base["blocks"]))  # blocks are replaced, never changed
    except (ValueError, RecursionError, TypeError, KeyError) as error:
        # An edited snapshot file (its digest rewritten too): parse afresh.
        logger.debug("incremental parse not used: %s", error)
        return None
    where = locate(ast["blocks"], old_blocks, snapshot.markdown, stretch)
    if where is None:
        return None
    copies = occurrences(ast["blocks"], old_blocks)
    ast["blocks"][where:where + len(old_blocks)] = new_blocks
    logger.debug("parsed %d changed line(s) only", stretch.new.count("\n") + 1)
    return Patch(ast, old_blocks, new_blocks, stretch, where, copies)


# ------------------------------------------------------------------ the page


def patch_html(page: str, patch: Patch, render: Callable[[list[dict]], str]) -> str | None:
    """The new page from the last one: the old blocks' HTML replaced by the new blocks'.

    ``render`` writes blocks alone with the page's writer settings. The old HTML must
    occur in the page as often as the old blocks in the AST (the n-th copy is replaced),
    or the page is made afresh.
    """
    old_html, new_html = render(patch.old_blocks), render(patch.new_blocks)
    if not old_html or not new_html:
        return None
    starts = _find_all(page, old_html)
    if len(starts) != len(patch.copies):
        return None
    at = starts[patch.copies.index(patch.index)]
    return page[:at] + new_html + page[at + len(old_html):]


def _find_all(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at != -1:
        found.append(at)
        at = text.find(part, at + 1)
    return found


def context_digest(*parts: str) -> str:
    return digest(list(parts))
