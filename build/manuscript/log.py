"""Logging for the CLI: short lines, a warning counter for --strict, GitHub annotations.

Modules log through ``logging.getLogger(__name__)``; a record may carry ``file`` and
``line`` extras (set by the stage that knows them), which become
``::warning file=…,line=…::`` annotations when running in GitHub Actions.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from .problems import Problem
from .progress import Progress


class CountingHandler(logging.Handler):
    """Counts warnings and errors, so --strict can fail at the end of a build."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class AnnotationHandler(logging.Handler):
    """Prints GitHub Actions workflow commands for records that have a place."""

    def __init__(self, root: Path, stream=None) -> None:
        super().__init__(level=logging.WARNING)
        self.root = root
        self.stream = stream or sys.stdout

    def emit(self, record: logging.LogRecord) -> None:
        annotations = getattr(record, "annotations", None)
        if annotations is None:  # [] is an error annotated already (check's summary)
            annotations = [(getattr(record, "file", None), getattr(record, "line", None),
                            record.getMessage())]
        kind = "error" if record.levelno >= logging.ERROR else "warning"
        for path, line, text in annotations:
            if path is None:
                continue
            try:
                rel = Path(path).resolve().relative_to(self.root).as_posix()
            except ValueError:
                rel = str(path)
            col = getattr(record, "col", None) if len(annotations) == 1 else None
            self.stream.write(annotation(kind, rel, line, col, text))


def annotation(kind: str, path: str, line: int | None, col: int | None, text: str) -> str:
    """One GitHub Actions workflow command (``::error file=…,line=…,col=…::message``).

    Escaped as GitHub's runner reads them: in the message ``%``, CR and LF; in a
    property also ``:`` and ``,``. A section named ``a,line=1.md`` or with a newline in
    its name would otherwise set other properties or print a ``::error`` line of its own.
    """
    where = f"file={_property(path)}" + (f",line={_property(str(line))}" if line else "") + (
        f",col={_property(str(col))}" if line and col else "")
    return f"::{kind} {where}::{_data(text)}\n"


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def annotate_problems(problems: list[Problem], root: Path, stream=None) -> None:
    """``manuscript check`` in GitHub Actions: one annotation per problem with a place."""
    stream = stream or sys.stdout
    for problem in problems:
        if problem.path is not None:
            rel = _relative(problem, root)
            stream.write(annotation(problem.severity, rel, problem.line, problem.col,
                                    f"{problem.message} [{problem.code}]"))


def _relative(problem: Problem, root: Path) -> str:
    """The problem's file as ``location`` names it, whole even if its name holds ':'."""
    line, col = problem.line, problem.col
    return Problem(problem.path, None, None, problem.severity, problem.code,
                   problem.message).location(root) if line or col else problem.location(root)


def format_problems(problems: list[Problem], root: Path, output_format: str = "text") -> str:
    """What ``manuscript check`` prints: one line per problem and a count, or JSON."""
    if output_format == "json":
        import json

        rows = [{"path": _relative(p, root) if p.path else None,
                 "line": p.line, "col": p.col, "severity": p.severity, "code": p.code,
                 "message": p.message} for p in problems]
        return json.dumps(rows, indent=2, ensure_ascii=False) + "\n"
    errors = sum(1 for p in problems if p.severity == "error")
    lines = [p.format(root) for p in problems]
    lines.append(f"{errors} error(s), {len(problems) - errors} warning(s)" if problems
                 else "no problems found")
    return "\n".join(lines) + "\n"


def annotate(path: Path | None, line: int | None) -> dict:
    """``extra=`` for a log call that has a place in the sources."""
    return {"file": path, "line": line}


def annotate_error(error: object) -> dict:
    """``extra=`` for an error: one annotation per place it names (``error.annotations``)."""
    return {"file": getattr(error, "path", None), "line": getattr(error, "line", None),
            "annotations": getattr(error, "annotations", None)}


def setup(verbose: bool, github_actions: bool, root: Path, *, quiet: bool = False,
          progress: Progress | None = None) -> CountingHandler:
    """Log to stderr: everything from INFO (DEBUG with ``verbose``), or with ``quiet``
    only warnings and errors. Lines make way for the ``progress`` status line."""
    progress = progress or Progress()
    logger = logging.getLogger("manuscript")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    console = ConsoleHandler(progress)
    console.setFormatter(_Formatter(verbose))
    if quiet:
        console.setLevel(logging.WARNING)
    counter = CountingHandler()
    logger.addHandler(console)
    logger.addHandler(counter)
    if github_actions:
        logger.addHandler(AnnotationHandler(root))
    # manubot logs through the root logger; show its warnings, not its chatter.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.ERROR, format="%(message)s",
                        handlers=[ConsoleHandler(progress)])
    return counter


class ConsoleHandler(logging.StreamHandler):
    """stderr, clearing the progress line before each record (and drawing it after)."""

    def __init__(self, progress: Progress) -> None:
        super().__init__(sys.stderr)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        with self.progress.suspended():
            super().emit(record)


class _Formatter(logging.Formatter):
    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            message = f"error: {message}"
        elif record.levelno >= logging.WARNING:
            message = f"warning: {message}"
        if self.verbose and record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message
