"""Formats rendered in a worker process while the build goes on with the HTML.

The Typst PDF and the other formats (Word, JATS, LaTeX) start from the cited document,
not from the page, so they need not wait for the html stage: started before it, in a
process of their own, they take the second core while the html stage has the first.
A process rather than a thread: their Python work (reshaping the AST, its JSON) would
otherwise hold the interpreter lock the html stage needs, and Typst compiles there,
not here. The worker is a fresh interpreter (``python -c``), not a fork: a parent
that has used Typst before (tests, ``serve``) has thread pools a forked child would
inherit locked.

The worker logs nothing itself: its records come back as data with the outputs and are
logged here when the result is taken, in the thread and stage that asked, so the stage
cache records (and, when the stage is skipped, replays) them as it does any stage's,
and the lines print in the same order as in a build that renders one thing at a time.
An error is raised here the same way, as the typed error the worker met.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from .. import errors

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

_JOB, _RESULT, _STDERR = "job.pickle", "result.pickle", "stderr.txt"


@dataclasses.dataclass(frozen=True)
class _Job:
    config: Config
    ast: dict
    csl_items: list[dict]
    variables: dict
    theme: Theme
    formats: tuple[str, ...]
    level: int  # the records the parent would log
    sent: float  # time.time() when the parent started the worker
    remote_images: dict[str, Path]  # URL → the image cache's copy: the worker never fetches


@dataclasses.dataclass(frozen=True)
class _Logged:
    """One record of the worker, as the parent logs it again."""

    name: str
    level: int
    message: str
    extra: dict  # file, line, once: what our handlers and the stage cache read


class Pending:
    """A worker rendering some formats; ``result()`` waits for it."""

    def __init__(self, process: subprocess.Popen, folder: tempfile.TemporaryDirectory,
                 formats: Sequence[str]) -> None:
        self._process = process
        self._folder = folder
        self.formats = tuple(formats)
        self.started = time.perf_counter()

    def result(self) -> dict[str, bytes]:
        """{output name: bytes}, after logging what the worker logged; its error raised."""
        folder = Path(self._folder.name)
        try:
            try:
                code = self._process.wait()
            except BaseException:  # interrupted while waiting: the worker goes too
                self._kill()
                raise
            try:
                outcome = pickle.loads((folder / _RESULT).read_bytes())
            except FileNotFoundError:
                stderr = (folder / _STDERR).read_text(encoding="utf-8", errors="replace")
                logger.debug("the worker for %s said:\n%s", ", ".join(self.formats), stderr)
                last = stderr.strip().splitlines()[-1:] or ["no message"]
                raise errors.RenderError(
                    f"rendering {', '.join(self.formats)} stopped (worker exit {code}): "
                    f"{last[0]}") from None
        finally:
            self._folder.cleanup()
        for logged in outcome["records"]:
            logging.getLogger(logged.name).log(logged.level, "%s", logged.message,
                                               extra=logged.extra)
        if outcome["error"] is not None:
            kind, message, path, line = outcome["error"]
            cls = getattr(errors, kind, None)
            if not (isinstance(cls, type) and issubclass(cls, errors.ManuscriptError)
                    and cls.__init__ is errors.ManuscriptError.__init__):
                cls = errors.RenderError
            raise cls(message, path, line)
        return outcome["outputs"]

    def cancel(self) -> None:
        """Stop the worker (the build failed elsewhere) and forget its files."""
        self._kill()
        self._folder.cleanup()

    def _kill(self) -> None:
        """The worker and its pandoc, at once: the worker's temporary files are in its
        folder (see _work), which goes with it."""
        if self._process.poll() is None:
            if hasattr(os, "killpg"):  # its own process group: see start()
                os.killpg(self._process.pid, signal.SIGKILL)
            else:
                self._process.kill()
            self._process.wait()


def start(config: Config, ast: dict, csl_items: list[dict], variables: dict, theme: Theme,
          formats: Sequence[str], remote_images: dict[str, Path] | None = None) -> Pending:
    """Start rendering ``formats`` (as ``render_formats``) in a worker process.

    ``ast`` is copied now (pickled): the caller may go on changing its own.
    ``remote_images`` (URL → cached file) are the only remote images it may use.
    """
    folder = tempfile.TemporaryDirectory(prefix="manuscript-worker-")
    path = Path(folder.name)
    job = _Job(config, ast, csl_items, variables, theme, tuple(formats),
               logging.getLogger("manuscript").getEffectiveLevel(), time.time(),
               dict(remote_images or {}))
    try:
        with open(path / _JOB, "wb") as file:
            _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(job)
    except OSError as error:  # a full temporary folder: the machine's problem, said plainly
        folder.cleanup()
        raise errors.OutputError(f"cannot write the format worker's job in the temporary "
                                 f"folder ({error.strerror}); free some space there or set "
                                 "TMPDIR", path.parent) from error
    # The parent's import path: the worker unpickles this very package's classes,
    # however the parent found it (an install, a checkout on sys.path).
    with open(path / _STDERR, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-c", _WORKER, str(path),
                                    json.dumps(sys.path)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True)
    return Pending(process, folder, formats)


class _Pickler(pickle.Pickler):
    """Read-only mappings (the Config's environment, CI parameters) as plain dicts:
    ``MappingProxyType`` cannot be pickled, and the worker only reads them."""

    def reducer_override(self, obj: object) -> object:
        if isinstance(obj, MappingProxyType):
            return dict, (dict(obj),)
        return NotImplemented


# ---------------------------------------------------------------------- the worker


class _Collect(logging.Handler):
    def __init__(self, records: list[_Logged]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        extra = {key: getattr(record, key) for key in ("file", "line", "once")
                 if hasattr(record, key)}
        self.records.append(_Logged(record.name, record.levelno, record.getMessage(), extra))


def _work(folder: Path) -> None:
    """In the worker: render the job, write outputs, records and error as one pickle."""
    from .. import network
    from . import images, render_formats

    job: _Job = pickle.loads((folder / _JOB).read_bytes())
    if job.config.offline:  # also when the parent's environment did not say so
        network.guard_offline()
    images.use_remote(job.remote_images)
    # Every temporary file of the worker and its pandoc runs goes in its own folder, so
    # that a worker stopped by its parent (SIGKILL: no clean-up of its own) leaves none.
    scratch = folder / "tmp"
    scratch.mkdir()
    tempfile.tempdir = os.environ["TMPDIR"] = str(scratch)
    records: list[_Logged] = []
    package = logging.getLogger("manuscript")
    package.handlers = [_Collect(records)]
    package.setLevel(job.level)
    package.propagate = False
    logger.debug("worker for %s: ready %.2f s after it was started (interpreter, "
                 "imports, job)", ", ".join(job.formats), time.time() - job.sent)
    outputs: dict[str, bytes] = {}
    error = None
    try:
        outputs = render_formats(job.config, job.ast, job.csl_items, job.variables, job.theme,
                                 job.formats)
    except errors.ManuscriptError as problem:  # the user's to fix: raised again there
        error = (type(problem).__name__, problem.message, problem.path, problem.line)
    used = os.times()  # children: its pandoc runs (0 where the OS does not count them)
    logger.debug("worker for %s: %.2f s of CPU, its pandoc runs included",
                 ", ".join(job.formats), sum(used[:4]))
    partial = folder / (_RESULT + ".part")  # all or nothing: the parent reads it whole
    partial.write_bytes(pickle.dumps({"outputs": outputs, "records": records, "error": error},
                                     protocol=pickle.HIGHEST_PROTOCOL))
    partial.rename(folder / _RESULT)


_WORKER = ("import json, pathlib, sys; sys.path[:] = json.loads(sys.argv[2]); "
           "from manuscript.formats.background import _work; _work(pathlib.Path(sys.argv[1]))")
