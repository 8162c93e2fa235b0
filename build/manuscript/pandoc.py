"""Running pandoc 3, the binary shipped by ``pypandoc-binary`` (no system pandoc needed)."""

from __future__ import annotations

import functools
import json
import logging
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import RenderError

logger = logging.getLogger(__name__)

# Markdown as rootstock's pandoc defaults read it.
MARKDOWN = "markdown"


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


def run(args: Sequence[str], stdin: bytes | None = None) -> PandocResult:
    """Run pandoc; a non-zero exit is a RenderError carrying pandoc's own message."""
    command = [pandoc_path(), *args]
    logger.debug("running %s", " ".join(command))
    completed = subprocess.run(command, input=stdin, capture_output=True, check=False)
    stderr = completed.stderr.decode("utf-8", errors="replace")
    if completed.returncode != 0:
        raise RenderError(f"pandoc failed (exit {completed.returncode}):\n{stderr.strip()}")
    return PandocResult(completed.stdout, tuple(_split_warnings(stderr)))


def markdown_to_ast(markdown: str) -> dict:
    """Parse Markdown once; later stages work on the JSON AST."""
    result = run(["--from", MARKDOWN, "--to", "json"], markdown.encode("utf-8"))
    for warning in result.warnings:
        logger.warning("pandoc: %s", warning)
    return json.loads(result.output)


def _split_warnings(stderr: str) -> list[str]:
    """pandoc prints ``[WARNING] text`` records, continued on indented lines."""
    records: list[str] = []
    for line in stderr.splitlines():
        if re.match(r"^\[(WARNING|INFO|ERROR)\]\s*", line) or not records:
            records.append(re.sub(r"^\[(WARNING|INFO|ERROR)\]\s*", "", line))
        elif line.strip():
            records[-1] += " " + line.strip()
    return [record for record in records if record.strip()]
