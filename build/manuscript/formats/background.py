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

The worker is bounded and tied to the build (issue #18: a raw Typst loop grew one to
23 GB; a build killed with SIGKILL left its worker running):

- a time limit (``MANUSCRIPT_WORKER_TIMEOUT`` s, from its start) that the parent
  enforces, and a memory limit (``MANUSCRIPT_WORKER_MEMORY_MB``, RLIMIT_DATA) that the
  worker sets on itself first thing: either is a clear error naming the formats.
  RLIMIT_DATA (Linux 4.7+: heap and private writable mappings) rather than RLIMIT_AS:
  address space merely reserved (GHC's heap, thread stacks' guard areas) is not
  memory used, and under RLIMIT_AS such reservations fail long before memory is short;
- its stdin is a pipe from the parent that nobody writes: when the parent dies, however
  (SIGKILL included), the kernel closes it, the worker reads end-of-file and kills its
  own process group (itself and its pandoc). A process group alone is not enough (a
  SIGKILL of the parent signals nobody), and PR_SET_PDEATHSIG follows the parent
  *thread*, which may end before the build does;
- its job file holds only what the job needs: the configuration's environment is cut to
  ``_WORKER_ENV`` (never tokens), and the worker runs with that environment too.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pickle
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from .. import errors
from ..limits import env_limit

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

_JOB, _RESULT, _STDERR = "job.pickle", "result.pickle", "stderr.txt"

# Seconds from its start for a worker's formats (Typst's compile included), and its
# memory (RLIMIT_DATA): the large benchmark manuscript's Typst build peaks at 480 MB
# (bench/README.md); raw Typst's ``range(2000000000)`` grew a worker to 23 GB.
TIMEOUT = 300.0  # several formats one after the other, each pandoc run up to 120 s
MEMORY_MB = 2048

# What of the environment the worker and its job may see: the locale, paths, the
# build's own settings and limits, proxies for the network it may use. Nothing else
# (GITHUB_TOKEN, cloud keys …) is written to its job file or reaches its process.
_WORKER_ENV = re.compile(
    r"PATH|HOME|USER|LANG|LANGUAGE|LC_\w+|TZ|TMPDIR|PYTHONPATH|SOURCE_DATE_EPOCH|"
    r"PANDOC_DATA_DIR|MANUSCRIPT_\w+|GITHUB_ACTIONS|CI|XDG_\w+|"
    r"(?i:https?_proxy|no_proxy|all_proxy)|SSL_CERT_\w+|REQUESTS_CA_BUNDLE")


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ``env`` a worker needs (see ``_WORKER_ENV``)."""
    return {key: value for key, value in env.items() if _WORKER_ENV.fullmatch(key)}


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
    """A worker rendering some formats; ``result()`` waits for it (until its deadline)."""

    def __init__(self, process: subprocess.Popen, folder: tempfile.TemporaryDirectory,
                 formats: Sequence[str], timeout: float, memory_mb: int,
                 content_dir: Path) -> None:
        self._process = process
        self._content_dir = content_dir
        self._folder = folder
        self.formats = tuple(formats)
        self.started = time.perf_counter()
        self._timeout, self._memory_mb = timeout, memory_mb

    def result(self) -> dict[str, bytes]:
        """{output name: bytes}, after logging what the worker logged; its error raised."""
        folder = Path(self._folder.name)
        try:
            try:
                remaining = self.started + self._timeout - time.perf_counter()
                code = self._process.wait(timeout=max(remaining, 0))
            except subprocess.TimeoutExpired:
                self._kill()
                raise self._limit_error(
                    f"did not finish within {self._timeout:g} s and was stopped",
                    "MANUSCRIPT_WORKER_TIMEOUT to allow more time") from None
            except BaseException:  # interrupted while waiting: the worker goes too
                self._kill()
                raise
            finally:
                self._close_pipe()
            try:
                outcome = pickle.loads((folder / _RESULT).read_bytes())
            except FileNotFoundError:
                stderr = (folder / _STDERR).read_text(encoding="utf-8", errors="replace")
                logger.debug("the worker for %s said:\n%s", ", ".join(self.formats), stderr)
                if _out_of_memory(code, stderr):
                    raise self._limit_error(
                        f"ran out of memory (limit {self._memory_mb} MB) and was stopped",
                        "MANUSCRIPT_WORKER_MEMORY_MB to allow more") from None
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

    def _limit_error(self, what: str, setting: str) -> errors.RenderError:
        """A limit met: the formats named, and the raw Typst blocks, the only code a
        worker runs that the manuscript wrote (pandoc has limits of its own). One block
        is the place of the error; of several, the first is named in the message."""
        from ..sources import find_occurrences

        named = ", ".join("the Typst PDF" if name == "typst" else name
                          for name in self.formats)
        places = find_occurrences(self._content_dir, "{=typst}") \
            if "typst" in self.formats else []
        message = f"rendering {named} {what}"
        if len(places) == 1:
            message += " (does this raw Typst code loop, or build something huge?)"
        elif places:
            path, line = places[0]
            message += (f" ({len(places)} raw Typst blocks, the first at "
                        f"{path.relative_to(self._content_dir.parent).as_posix()}:{line})")
        place = places[0] if len(places) == 1 else (None, None)
        return errors.RenderError(f"{message}; set {setting}", *place)

    def cancel(self) -> None:
        """Stop the worker (the build failed elsewhere) and forget its files."""
        self._kill()
        self._close_pipe()
        self._folder.cleanup()

    def _close_pipe(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()

    def _kill(self) -> None:
        """The worker and its pandoc, at once: the worker's temporary files are in its
        folder (see _work), which goes with it."""
        if self._process.poll() is None:
            if hasattr(os, "killpg"):  # its own process group: see start()
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.killpg(self._process.pid, signal.SIGKILL)
            else:
                self._process.kill()
            self._process.wait()


def _out_of_memory(code: int, stderr: str) -> bool:
    """Typst (Rust) aborts when an allocation fails; Python raises MemoryError."""
    return ("memory allocation of" in stderr or "MemoryError" in stderr
            or "out of memory" in stderr.lower() or "std::bad_alloc" in stderr)


def start(config: Config, ast: dict, csl_items: list[dict], variables: dict, theme: Theme,
          formats: Sequence[str], remote_images: dict[str, Path] | None = None) -> Pending:
    """Start rendering ``formats`` (as ``render_formats``) in a worker process.

    ``ast`` is copied now (pickled): the caller may go on changing its own.
    ``remote_images`` (URL → cached file) are the only remote images it may use.
    """
    timeout = env_limit("MANUSCRIPT_WORKER_TIMEOUT", TIMEOUT)
    memory_mb = int(env_limit("MANUSCRIPT_WORKER_MEMORY_MB", MEMORY_MB))
    env = worker_env(config.env)
    folder = tempfile.TemporaryDirectory(prefix="manuscript-worker-")
    path = Path(folder.name)
    job = _Job(dataclasses.replace(config, env=env), ast, csl_items, variables, theme,
               tuple(formats), logging.getLogger("manuscript").getEffectiveLevel(),
               time.time(), dict(remote_images or {}))
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
                                    json.dumps(sys.path), str(memory_mb)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=stderr, start_new_session=True,
                                   env=worker_env(os.environ))
    return Pending(process, folder, formats, timeout, memory_mb, config.content_dir)


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


def _bound(folder: Path, memory_mb: int) -> None:
    """In the worker, before anything else: its memory limit, and its end with the
    parent's (see the module's docstring), when it also removes its folder (the parent
    that would have is gone)."""
    import resource
    import shutil

    limit = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))

    def watch() -> None:
        try:
            while os.read(0, 4096):  # nobody writes: this returns b"" when the parent dies
                pass
        except OSError:
            pass
        shutil.rmtree(folder, ignore_errors=True)
        os.killpg(0, signal.SIGKILL)  # the worker and the pandoc it may be running

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _work(folder: Path, memory_mb: int = MEMORY_MB) -> None:
    """In the worker: render the job, write outputs, records and error as one pickle."""
    _bound(folder, memory_mb)
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
    logger.debug("worker for %s: %.2f s of CPU, its pandoc runs included; %s",
                 ", ".join(job.formats), sum(used[:4]), _memory_used())
    partial = folder / (_RESULT + ".part")  # all or nothing: the parent reads it whole
    partial.write_bytes(pickle.dumps({"outputs": outputs, "records": records, "error": error},
                                     protocol=pickle.HIGHEST_PROTOCOL))
    partial.rename(folder / _RESULT)


def _memory_used() -> str:
    """The worker's data size (what RLIMIT_DATA bounds) and peak resident size."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:  # not Linux
        return "memory not measured"
    sizes = dict(re.findall(r"^(VmData|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
    return (f"data {int(sizes.get('VmData', 0)) // 1024} MB at the end, peak resident "
            f"{int(sizes.get('VmHWM', 0)) // 1024} MB")


_WORKER = ("import json, pathlib, sys; sys.path[:] = json.loads(sys.argv[2]); "
           "from manuscript.formats.background import _work; "
           "_work(pathlib.Path(sys.argv[1]), int(sys.argv[3]))")
