"""Typed errors. The library raises these; only the CLI turns them into exit codes.

``str(error)`` is the message a user sees: it starts with ``file:line:`` when the
problem has a place in the manuscript's sources.
"""

from __future__ import annotations

import os
from pathlib import Path

from .problems import Problem


class ManuscriptError(Exception):
    """Base class: a problem the user can fix, reported without a traceback."""

    def __init__(self, message: str, path: Path | str | None = None, line: int | None = None):
        self.message = message
        self.path = Path(path) if path is not None else None
        self.line = line
        super().__init__(self.__str__())

    @property
    def annotations(self) -> list[tuple[Path, int | None, str]]:
        """(file, line, message) for each place the problem shows; most errors have one."""
        return [(self.path, self.line, str(self))] if self.path is not None else []

    @property
    def location(self) -> str:
        if self.path is None:
            return ""
        path = _display(self.path)
        return f"{path}:{self.line}" if self.line else path

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message


class ConfigError(ManuscriptError):
    """Bad options, or a malformed configuration or metadata file."""


class ContentError(ManuscriptError):
    """A content file cannot be read or templated."""


class CitationError(ManuscriptError):
    """A citation key cannot be resolved, or a bibliography file is malformed."""


class RenderError(ManuscriptError):
    """pandoc or WeasyPrint failed."""


class WebpageError(ManuscriptError):
    """The website folder cannot be written."""


class OutputError(ManuscriptError):
    """output/, webpage/ or ci/cache cannot be written (a file in the way, a full disk…)."""


class DeployError(ManuscriptError):
    """Publishing to the remote failed."""


class StrictError(ManuscriptError):
    """--strict: the build logged warnings."""


def _display(path: Path) -> str:
    """A path as the user typed it: relative to the working folder when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return str(path) if relative.startswith("..") else relative


class InitError(ManuscriptError):
    """``manuscript init`` cannot write a manuscript (or adopt one) in this folder."""


class CheckFailed(ManuscriptError):
    """``manuscript check`` found errors (or, with --strict, warnings). Each problem was
    printed already; this names the first and the count, at the first one's place."""

    def __init__(self, problems: list[Problem], first: Problem, strict: bool) -> None:
        errors = sum(1 for p in problems if p.severity == "error")
        counted = f"{errors} error(s), {len(problems) - errors} warning(s)"
        self.first = first
        super().__init__(f"{first.message} [{first.code}]; {counted}"
                         + (" (--strict)" if strict else ""), first.path, first.line)

    @property
    def annotations(self) -> list[tuple[Path, int | None, str]]:
        return []  # each problem was annotated where it is
