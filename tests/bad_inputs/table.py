"""The shape of a bad-input case: one row of the table each ``cases_*.py`` module holds.

A row is data: files to write (or links, folders, permissions to set) in a copy of a
manuscript that built cleanly, the command to run, and what must come out — the exit
code, a fragment of the message and the ``file:line`` it names. The harness in
``test_bad_inputs.py`` also checks that ``output/`` and ``webpage/`` are byte-identical
afterwards (unless the row says the build is allowed to succeed and rewrite them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Link:
    """A symbolic link to ``target`` (taken literally: absolute, or relative to the link)."""

    target: str


@dataclass(frozen=True)
class Folder:
    """A directory where a file is expected."""


@dataclass(frozen=True)
class Remove:
    """Delete the file or folder (recursively)."""


Content = str | bytes | Link | Folder | Remove


@dataclass(frozen=True)
class Case:
    name: str
    files: Mapping[str, Content]  # path relative to the manuscript root → new content
    message: str  # a fragment that must appear in stderr
    where: str | None = None  # "content/metadata.yaml:3": must start the error line
    exit: int = 1
    args: tuple[str, ...] = ("build",)
    env: Mapping[str, str] = field(default_factory=dict)
    outputs_unchanged: bool = True  # output/ and webpage/ byte-identical afterwards
    # For the rare input that files can't express (permissions, a resource limit):
    # called on the manuscript root after ``files`` are written.
    setup: Callable[[Path], None] | None = None
    # Undo what ``setup`` did that would stop the snapshot or the clean-up (chmod back).
    teardown: Callable[[Path], None] | None = None
