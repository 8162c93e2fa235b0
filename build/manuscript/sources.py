"""Reading the manuscript's source files, with errors that name file and line.

Everything the build reads or publishes from the manuscript stays inside its root
folder: a symbolic link that leads outside (``images/x -> /proc/self/environ``, a
section linked to ``/etc/passwd``) is refused, wherever it is, before anything is
read or written (``check_tree``, ``check_inside``).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import ContentError, ManuscriptError

# Deeper block nesting (quotes, list items) than any prose needs; pandoc's parser and
# every recursive walker of its AST slow down or overflow far above it.
MAX_BLOCK_NESTING = 64
_NESTING = re.compile(r"[ \t]*(?:>|[-*+][ \t]|\d{1,9}[.)][ \t])")
_INDENTED_ITEM = re.compile(r"([ \t]*)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_THEMATIC_BREAK = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
# "[" open at once in one paragraph. Prose and citations use 2 ("[see [@a]]"); text with
# half-open intervals ("[0, 1)") leaves one open per interval. Measured with pandoc 3.9:
# 10 nested take 5.8 s, 15 unclosed intervals 5.4 s, 20 never finish; 9 is a fraction
# of a second to 2 s, and a paragraph with nine intervals still builds.
MAX_BRACKET_NESTING = 9
_FENCE = re.compile(r"[ \t]{0,3}(```|~~~)")
_CODE_OR_MATH = re.compile(r"(`+).*?\1|\$\$.*?\$\$|\$[^$\s][^$]*\$")


@dataclass(frozen=True)
class Section:
    path: Path
    text: str


def parse_json(text: str, path: Path, error: type[ManuscriptError] = ContentError) -> object:
    """``text`` (the content of ``path``, a file the author wrote) parsed as JSON; what
    json refuses is ``error`` naming the file and, where json knows it, the line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as problem:
        raise error(f"invalid JSON: {problem.msg}", path, problem.lineno) from None
    except RecursionError:
        raise error("invalid JSON: nested too deeply", path) from None
    except ValueError as problem:  # an integer of more than 4,300 digits
        raise error(f"invalid JSON: {problem}", path) from None


def read_text_file(path: Path) -> str:
    """Read UTF-8 (a BOM is allowed, as manubot allows it); a bad byte names its line."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ContentError("is a folder, not a file", path) from None
    except FileNotFoundError:
        if path.is_symlink():
            raise ContentError(f"broken symbolic link (to {os.readlink(path)})", path) from None
        raise ContentError("file not found", path) from None
    except OSError as error:
        raise ContentError(f"cannot be read: {error.strerror}", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ContentError(
            f"not valid UTF-8 (byte 0x{data[error.start]:02x}); save the file as UTF-8",
            path,
            line,
        ) from None
    # A NUL byte is never text: pandoc would copy it into the HTML, where it is invalid.
    nul = text.find("\0")
    if nul >= 0:
        raise ContentError("contains a NUL byte (binary data?)", path, text.count("\n", 0, nul) + 1)
    return text


def read_sections(content_dir: Path) -> list[Section]:
    """The numbered sections (``01.abstract.md`` …) in name order, as manubot reads them."""
    root = content_dir.parent
    paths = sorted(content_dir.glob("[0-9]*.md"))
    sections = []
    for path in paths:
        check_inside(root, path)
        text = read_text_file(path)
        check_nesting(path, text)
        sections.append(Section(path, text))
    return sections


def check_inside(root: Path, path: Path) -> Path:
    """``path`` resolved; a ContentError naming ``path`` if it leads outside ``root``.

    Symbolic links inside the manuscript are fine (rootstock itself links images);
    one that points outside would publish or read whatever it points at.
    """
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        if path.is_symlink():
            raise ContentError(f"broken symbolic link (to {os.readlink(path)})", path) from None
        raise ContentError("file not found", path) from None
    except (OSError, RuntimeError) as error:  # a loop of links
        raise ContentError(f"cannot be resolved: {error}", path) from None
    if not target.is_relative_to(root.resolve()):
        written = Path(os.path.normpath(path.absolute()))
        if not written.is_relative_to(Path(os.path.normpath(root.absolute()))):
            # No link: the path itself leaves (PANDOC_DATA_DIR=/etc, metadata.csl: ../x)
            raise ContentError("is outside the manuscript folder: refused", path)
        raise ContentError(
            f"symbolic link to {target}, outside the manuscript folder: refused", path
        )
    return target


def check_tree(root: Path, folder: Path) -> None:
    """Every entry under ``folder``: links stay inside ``root``, no pipes or devices.

    Run before a build reads or writes anything: ``content/images`` is copied into
    ``webpage/`` as it is, so one bad link there would publish a file from the machine.
    """
    if not folder.exists() and not folder.is_symlink():
        return
    seen: set[Path] = set()
    pending = [folder]
    while pending:
        current = pending.pop()
        real = check_inside(root, current)
        if real in seen:  # a link back to a folder already checked
            continue
        seen.add(real)
        if not real.is_dir():
            _check_regular(current, real)
            continue
        with os.scandir(current) as entries:
            pending.extend(Path(entry.path) for entry in entries)


def _check_regular(path: Path, real: Path) -> None:
    mode = real.stat().st_mode
    if not stat.S_ISREG(mode):
        # Reading a FIFO blocks forever; a device has no end.
        raise ContentError("is not a regular file (a pipe, socket or device): refused", path)


def check_nesting(path: Path, text: str) -> None:
    """Refuse nesting that pandoc's Markdown reader cannot handle in reasonable time.

    ``>>>>…`` or ``- - - …`` ten thousand deep keeps pandoc busy for minutes and
    overflows any recursive walk of its AST; brackets are far worse: pandoc 3's link
    parser backtracks exponentially, ``[[[[[[[[[[x]]]]]]]]]]`` (ten deep) takes more
    than ten seconds and fifty never finish. Found here, the error has a line.
    """
    brackets, fenced = 0, False
    # List items nested by indentation, one per line ("- x", "  - x", "    - x", …):
    # the columns of the items open above, innermost last. 1,500 of them kept pandoc
    # busy until its 120 s limit, and that error has no line.
    items: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
        if fenced or _FENCE.match(line):
            continue
        if item := _INDENTED_ITEM.match(line):
            column = len(item.group(1).expandtabs(4))
            while items and items[-1] >= column:
                items.pop()
            items.append(column)
            if len(items) > MAX_BLOCK_NESTING:
                raise ContentError(
                    f"lists nested {len(items)} levels deep (at most "
                    f"{MAX_BLOCK_NESTING} are supported)", path, number)
        elif line.strip() and not line[:1].isspace():
            items = []  # text at the margin: a new paragraph, the lists above are closed
        if not line.strip():
            brackets = 0  # a paragraph ends: pandoc never looks past it for a ']'
        for char in _CODE_OR_MATH.sub("", line.replace("\\[", "").replace("\\]", "")):
            if char == "[":
                brackets += 1
                if brackets > MAX_BRACKET_NESTING:
                    raise ContentError(
                        f"more than {MAX_BRACKET_NESTING} '[' open at once in one paragraph:"
                        " pandoc needs exponential time to read that; escape a '[' that "
                        "starts no link as '\\['", path, number)
            elif char == "]":
                brackets = max(0, brackets - 1)
        if len(line) < MAX_BLOCK_NESTING or _THEMATIC_BREAK.match(line):
            continue
        depth, position = 0, 0
        while match := _NESTING.match(line, position):
            depth, position = depth + 1, match.end()
        if depth > MAX_BLOCK_NESTING:
            raise ContentError(
                f"block quotes or lists nested {depth} levels deep (at most "
                f"{MAX_BLOCK_NESTING} are supported)", path, number)


# A code span: a run of backticks up to the same run, within one paragraph
# ("``a ` b``" is one span; a lone "`" before a blank line is no code).
INLINE_CODE = re.compile(r"(?<!`)(?P<ticks>`+)(?:(?!\n[ \t]*\n).)+?(?P=ticks)(?!`)", re.S)
# TeX math as pandoc reads it: $$display$$, \begin{env}…\end{env}, and $inline$ where
# the "$" touch the formula ("$5 and $10" is no math; "$x$5" neither).
MATH = re.compile(r"\$\$.+?\$\$|\\begin\{(?P<env>[A-Za-z]+\*?)\}.*?\\end\{(?P=env)\}|"
                  r"\$(?![\s$])(?:\\.|(?!\n[ \t]*\n)[^$\\])*?(?<![\s\\])\$(?!\d)", re.S)
_QUOTE = re.compile(r"[ ]{0,3}>[ ]?")
_LIST_ITEM = re.compile(r"[ ]{0,3}(?:[-*+]|\d{1,9}[.)]|#[.)]|[a-zA-Z][.)])(?=[ ]|$)")
_OPENING_FENCE = re.compile(r"[ ]*(`{3,}|~{3,})(.*)$")


def code_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the code blocks of a section as pandoc reads them: fenced
    (``` or ~~~, any info string or ``{.attributes}``, an unclosed fence running to the
    end) and indented by four spaces or a tab.

    Line by line, not one regular expression: four spaces are code only where no
    paragraph goes on (after a blank line, a heading or a fence) and no list item
    holds them (there they continue the item, and code needs four more than the
    item's text). Block quote markers are read past (``>     code``).
    """
    spans: list[tuple[int, int]] = []
    fence: tuple[str, int, int] | None = None  # fence character, length, start
    indented: list[int] | None = None  # [start, end] of the open indented block
    item_indent: int | None = None  # the open list item's text column
    after_blank, in_paragraph, offset = False, False, 0
    for raw in text.splitlines(keepends=True):
        start, offset = offset, offset + len(raw)
        line = raw.rstrip("\r\n")
        end = start + len(line)
        while quote := _QUOTE.match(line):
            line = line[quote.end():]
        expanded = line.expandtabs(4)
        indent = len(expanded) - len(expanded.lstrip(" "))
        blank = not expanded.strip()
        base = item_indent or 0
        if fence:
            stripped = expanded.strip()
            if stripped.startswith(fence[0] * fence[1]) and not stripped.strip(fence[0]):
                spans.append((fence[2], end))
                fence, in_paragraph = None, False
            continue
        if indented:
            if blank:
                continue
            if indent >= base + 4:
                indented[1] = end
                continue
            spans.append((indented[0], indented[1]))
            indented, in_paragraph = None, False
        if blank:
            after_blank, in_paragraph = True, False
            continue
        opening = _OPENING_FENCE.match(expanded)
        if opening and indent < base + 4 and not (opening.group(1)[0] == "`"
                                                   and "`" in opening.group(2)):
            fence = (opening.group(1)[0], len(opening.group(1)), start)
            continue
        if indent >= base + 4 and not in_paragraph:
            indented = [start, end]
            continue
        item = _LIST_ITEM.match(expanded)
        if item and not _THEMATIC_BREAK.match(expanded):
            rest = expanded[item.end():]
            spaces = len(rest) - len(rest.lstrip(" "))
            # pandoc: the text starts after the marker and its spaces, unless five or
            # more follow (then the item starts with indented code, one space counts)
            item_indent = item.end() + (spaces if 1 <= spaces <= 4 and rest.strip() else 1)
            in_paragraph = bool(rest.strip())
            if spaces > 4 and rest.strip() and "\t" not in line:  # "-     code"
                indented = [end - len(line) + item.end() + 1, end]
                in_paragraph = False
        else:
            if after_blank and item_indent is not None and indent < item_indent:
                item_indent = None  # a line less indented than the item's text ends the list
            in_paragraph = not expanded.lstrip().startswith("#")  # a heading is one line
        after_blank = False
    if fence:
        spans.append((fence[2], len(text)))
    if indented:
        spans.append((indented[0], indented[1]))
    return spans


def blank_code(text: str, fill: str = " ") -> str:
    """``text`` with its code blocks and code spans replaced by ``fill`` (newlines kept),
    so every other character keeps its offset, line and column."""
    parts, done = [], 0
    for start, end in code_blocks(text):
        parts += [text[done:start], _fill(text[start:end], fill)]
        done = end
    text = "".join([*parts, text[done:]])
    return INLINE_CODE.sub(lambda match: _fill(match.group(), fill), text)


def _fill(text: str, fill: str) -> str:
    return re.sub(r"[^\r\n]", fill, text)


def find_occurrences(content_dir: Path, needle: str) -> list[tuple[Path, int]]:
    """Every ``file:line`` in the sections and metadata where ``needle`` appears."""
    places: list[tuple[Path, int]] = []
    paths = [*sorted(content_dir.glob("[0-9]*.md")), content_dir / "metadata.yaml"]
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                places.append((path, number))
    return places


# ---------------------------------------------------------------- CSL reference files


def json_item_lines(text: str) -> list[int | None]:
    """The line each element of a top-level JSON array starts on (for error messages)."""
    return [line for line, _ in json_item_positions(text)]


def json_item_positions(text: str) -> list[tuple[int, int]]:
    """(line, column) where each element of a top-level JSON array starts.

    ``json`` keeps no positions, so decode the array element by element with
    ``raw_decode``, which reports where each one ends.
    """
    decoder = json.JSONDecoder()
    start = text.find("[")
    if start < 0:
        return []
    positions: list[tuple[int, int]] = []
    position = start + 1
    line, counted = 1, 0  # newlines counted up to ``counted``: linear, not quadratic
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return positions
        line += text.count("\n", counted, position)
        counted = position
        positions.append((line, position - text.rfind("\n", 0, position)))
        try:
            _, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            return positions
