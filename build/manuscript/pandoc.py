"""Running pandoc 3, the binary shipped by ``pypandoc-binary`` (no system pandoc needed)."""

from __future__ import annotations

import functools
import json
import logging
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import RenderError
from .limits import env_limit

logger = logging.getLogger(__name__)

# Markdown as rootstock's pandoc defaults read it.
MARKDOWN = "markdown"
# How the Markdown is read, wherever it is (the whole, or a stretch of it): rawmath.lua
# makes a LaTeX math environment written without $$ a formula (see the filter).
READ_MARKDOWN = ("--from", MARKDOWN, "--to", "json",
                 f"--lua-filter={Path(__file__).parent / 'data' / 'filters' / 'rawmath.lua'}")
TIMEOUT = 120  # seconds for one pandoc run; the 100-reference meta-review needs ~5
MEMORY_MB = 4096  # pandoc's heap
# JSON levels of the AST: a block quote adds 2, a list item 3. Manuscripts stay under
# 60; Python's own recursion limit (1000) is what this keeps every walker away from.
MAX_AST_DEPTH = 400


@functools.cache
def pandoc_path() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


@functools.cache
def pandoc_version() -> str:
    out = subprocess.run([pandoc_path(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[1]


@dataclass(frozen=True)
class PandocResult:
    output: bytes
    warnings: tuple[str, ...]


# GHC's allocation area (nursery) for a run that writes a whole document with citeproc
# and filters: measured on a 286 KB manuscript's page (bench/README.md), the default
# (1 MB, pandoc's -H64m hint) spends 1.0 of 2.6 CPU seconds collecting garbage; 256 MB:
# 0.58 of 2.3 s, at 530 MB resident instead of 240 (a small document touches only what
# it allocates); wall time ~0.15 s less, as the kernel zeroes the larger area's pages.
# The Markdown parse gains nothing from it.
LARGE_NURSERY_MB = 256


def run(args: Sequence[str], stdin: bytes | None = None,
        nursery_mb: int = 0) -> PandocResult:
    """Run pandoc; a non-zero exit is a RenderError carrying pandoc's own message.

    Bounded: a time limit (``MANUSCRIPT_PANDOC_TIMEOUT`` seconds) and a heap limit
    (GHC's ``-M``, ``MANUSCRIPT_PANDOC_MEMORY_MB``), since some inputs (lists nested
    thousands deep) keep pandoc's parser busy for many minutes. ``nursery_mb``: GHC's
    allocation area (``LARGE_NURSERY_MB``), left at its default under a heap limit
    less than 4 times as large (GHC would warn, and the limit is what was asked for).
    """
    timeout = env_limit("MANUSCRIPT_PANDOC_TIMEOUT", TIMEOUT)
    memory = int(env_limit("MANUSCRIPT_PANDOC_MEMORY_MB", MEMORY_MB))
    nursery = [f"-A{nursery_mb}m"] if nursery_mb and 4 * nursery_mb <= memory else []
    command = [pandoc_path(), "+RTS", f"-M{memory}m", *nursery, "-RTS", *args]
    logger.debug("running %s", " ".join(command))
    try:
        completed = subprocess.run(command, input=stdin, capture_output=True, check=False,
                                   timeout=timeout)
    except subprocess.TimeoutExpired:  # run() has killed pandoc
        raise RenderError(
            f"pandoc did not finish within {timeout:g} s and was stopped; is something "
            "nested very deeply (lists, quotes, emphasis)? Set MANUSCRIPT_PANDOC_TIMEOUT "
            "to allow more time") from None
    stderr = completed.stderr.decode("utf-8", errors="replace")
    if completed.returncode != 0:
        if "Heap exhausted" in stderr or "heap overflow" in stderr:
            raise RenderError(f"pandoc ran out of memory (limit {memory} MB, set "
                              "MANUSCRIPT_PANDOC_MEMORY_MB to change it)")
        if any(sign in stderr for sign in _SYSTEM_OUT_OF_MEMORY):
            # The machine's (or the process's) limit came before GHC's -M: a 2 MB section
            # of a million one-letter lines needs more than 2 GB. Say so, not "malloc".
            raise RenderError("pandoc ran out of memory: the machine or the process "
                              f"allows less than its limit of {memory} MB; is a section "
                              "very large (millions of lines, a data: URL of megabytes)? Set "
                              "MANUSCRIPT_PANDOC_MEMORY_MB "
                              "lower to fail sooner, or give the build more memory")
        raise RenderError(f"pandoc failed (exit {completed.returncode}):\n{stderr.strip()}")
    return PandocResult(completed.stdout, tuple(_split_warnings(stderr)))


# A figure's caption that runs over a blank line before its "](": pandoc 2, which rootstock
# used, read it as one image; pandoc 3 ends the paragraph at the blank line and prints the
# Markdown as text. The blank lines become empty HTML comments: one image again, with the
# same line numbers (every later place is counted from them).
_CLOSING = re.compile(r"[ \t]*\]\(")
_BLANK = re.compile(r"[ \t]*")


def read_as_rootstock(markdown: str) -> str:
    """``markdown`` with blank lines inside an image's caption (just before its ``](``)
    made non-blank, as pandoc 2 read them."""
    if "\n](" not in markdown and not re.search(r"\n[ \t]+\]\(", markdown):
        return markdown  # the usual case, at the cost of one search
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if not _CLOSING.match(line):
            continue
        blank = i
        while blank > 0 and _BLANK.fullmatch(lines[blank - 1]):
            blank -= 1
        start = blank
        while start > 0 and not _BLANK.fullmatch(lines[start - 1]):
            start -= 1
        paragraph = "\n".join(lines[start:blank])
        if blank < i and paragraph.rfind("![") > paragraph.rfind("]("):
            lines[blank:i] = ["<!-- -->"] * (i - blank)
    return "\n".join(lines)


# What GHC's runtime prints when an allocation from the system fails.
_SYSTEM_OUT_OF_MEMORY = ("malloc: failed", "Unable to commit", "out of memory",
                         "Cannot allocate memory")


def markdown_to_ast(markdown: str) -> dict:
    """Parse Markdown once; later stages work on the JSON AST.

    The AST's depth is checked here, once: every later walk (our Python generators,
    ``json.dumps``, the Lua filters) recurses per level and would overflow otherwise.
    """
    return markdown_to_json(markdown)[0]


def markdown_to_json(markdown: str) -> tuple[dict, bytes]:
    """``markdown_to_ast``, and pandoc's JSON as it printed it (kept for the next build)."""
    result = run(READ_MARKDOWN, read_as_rootstock(markdown).encode("utf-8"))
    for warning in result.warnings:
        logger.warning("pandoc: %s", warning)
    try:
        ast = json.loads(result.output)
    except RecursionError:
        ast = None
    if ast is None or _depth(ast) > MAX_AST_DEPTH:
        raise RenderError(f"the document is nested too deeply (more than {MAX_AST_DEPTH} "
                          "levels of lists, quotes, divs or emphasis)")
    return ast, result.output


def _depth(tree: object) -> int:
    """Nesting depth of lists and objects, without recursion: one level at a time (a
    list per level, not a tuple per node: 0.2 → 0.09 s on a 400,000-node AST)."""
    level, depth = [tree], 0
    while level:
        depth += 1
        below: list = []
        for node in level:
            below.extend([value for value in (node.values() if isinstance(node, dict) else node)
                          if isinstance(value, dict | list)])
        level = below
    return depth


def _split_warnings(stderr: str) -> list[str]:
    """pandoc prints ``[WARNING] text`` records, continued on indented lines."""
    records: list[str] = []
    for line in stderr.splitlines():
        if re.match(r"^\[(WARNING|INFO|ERROR)\]\s*", line) or not records:
            records.append(re.sub(r"^\[(WARNING|INFO|ERROR)\]\s*", "", line))
        elif line.strip():
            records[-1] += " " + line.strip()
    return [record for record in records if record.strip()]
