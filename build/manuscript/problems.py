"""A problem found in a manuscript: where it is, how bad, what it is, and a stable code.

``manuscript check`` prints every problem as ``path:line:col: severity: message [code]``;
``build`` logs the same problems as warnings, and ``serve`` shows them over the page.
A check returns problems (data), never a formatted string to be parsed back.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    path: Path | None  # the source file (content/…), None for the manuscript as a whole
    line: int | None  # 1-based
    col: int | None  # 1-based, in characters
    severity: Severity
    code: str  # stable, kebab-case, e.g. "xref-undefined", "spelling"
    message: str

    def location(self, root: Path | None = None) -> str:
        """``path:line:col`` (shorter when line or column are unknown), ``path`` relative
        to ``root`` when it is inside it."""
        if self.path is None:
            return ""
        path = self.path
        if root is not None:
            with contextlib.suppress(ValueError):  # outside root: keep it absolute
                path = self.path.resolve().relative_to(root.resolve())
        parts = [path.as_posix()] + [str(n) for n in (self.line, self.col) if n is not None]
        if self.line is None:
            parts = parts[:1]
        return ":".join(parts)

    def format(self, root: Path | None = None) -> str:
        where = self.location(root)
        text = f"{self.severity}: {self.message} [{self.code}]"
        return f"{where}: {text}" if where else text
