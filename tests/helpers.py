"""Shared test helpers: run the real CLI, parse HTML, query it with CSS selectors."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cssselect2
import pytest
import tinyhtml5

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed" / "000_797255c06d94719c.txt"
CORPUS = SHARED / "corpus"
# The corpus manuscripts that are whole rootstock repositories (built in their root), then
# meta-review, which is content/ (+ analyses/) only. Every corpus test covers all six.
CORPUS_REPOSITORIES = ("rootstock-tour", "ccc", "mpmp", "xswap", "iscb-diversity")
CORPUS_MANUSCRIPTS = (*CORPUS_REPOSITORIES, "meta-review")
# rootstock's webpage/ links into the newest version: the site's own layout.
WEBPAGE_LINKS = ("images", "index.html", "manuscript.pdf")

# The CI environment the seed was produced in (GitHub Actions on AdaptInfer/fm-survey).
SEED_ENV = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "AdaptInfer/fm-survey",
    "GITHUB_SHA": "fe04c15aecc5f96a5bcd07614a5066897b404875",
    "GITHUB_RUN_ID": "1",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without CI variables, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GITHUB_", "TRAVIS", "APPVEYOR")) and k != "CI"
    }
    env["MANUSCRIPT_OFFLINE"] = "1"  # tests never touch the network
    env.update(extra)
    return env


def run_manuscript(
    root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True,
    cwd: Path | None = None, timeout: float | None = None, memory: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``manuscript -C root ARGS`` as a user would (a separate process); past
    ``timeout`` seconds it is killed and subprocess.TimeoutExpired raised; ``memory``
    (bytes) bounds what it and its children allocate (RLIMIT_DATA, set by util-linux's
    prlimit: a preexec_fn is not safe in pytest-xdist's threaded workers)."""
    limit = ["prlimit", f"--data={memory}:"] if memory and shutil.which("prlimit") else []
    completed = subprocess.run(
        [*limit, sys.executable, "-m", "manuscript", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        check=False,
        cwd=cwd,
        timeout=timeout,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"manuscript {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed


def run_cli(root: Path, *args: str, env: dict[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """:func:`run_manuscript` in this process (:func:`run_in_process`), for tests of what
    a command does rather than of its command line; the working folder is a new empty one."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="manuscript-cwd-") as cwd:
        completed = run_in_process(root, *args, env=env or clean_env(), cwd=Path(cwd))
    if check and completed.returncode != 0:
        raise AssertionError(
            f"manuscript {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed


def run_in_process(root: Path, *args: str, env: dict[str, str],
                   cwd: Path) -> subprocess.CompletedProcess[str]:
    """``manuscript -C root ARGS`` run by this interpreter, as :func:`run_manuscript` would
    run it in a new one: the same exit code and the same stderr and stdout, without the
    0.6 s of starting Python and importing the package.

    For tests where the command line is not what is tested. Faithful in what a command
    can see of its process: ``os.environ`` is exactly ``env`` (the build reads it, and
    passes it to pandoc and its workers), the working folder is ``cwd``, file descriptors
    1 and 2 go to files (so that what child processes write is captured too), logging
    starts with no handlers (``log.setup`` installs its own on the root logger only when
    it has none), and an uncaught exception prints its traceback and exits 1, as Python
    does. Everything is put back afterwards. Not for a case that needs a fresh
    interpreter (``PYTHONPATH``, a resource limit, ``os._exit``): use run_manuscript.
    """
    import io
    import logging
    import tempfile
    import traceback

    from manuscript import network
    from manuscript.cli import main

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdout, sys.stderr
    root_logger = logging.getLogger()
    saved_handlers, saved_level = root_logger.handlers[:], root_logger.level
    package = logging.getLogger("manuscript")
    saved_package = package.handlers[:], package.level, package.propagate
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        for stream in saved_streams:
            stream.flush()
        saved_fds = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8",
                                      line_buffering=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(2), "wb"), encoding="utf-8",
                                      errors="backslashreplace", line_buffering=True)
        root_logger.handlers = []
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        try:
            returncode = main(["-C", str(root), *args])
        except SystemExit as exit_:
            code = exit_.code
            if code is None or isinstance(code, int):
                returncode = code or 0
            else:
                print(code, file=sys.stderr)
                returncode = 1
        except BaseException:  # what Python prints for an uncaught exception
            traceback.print_exc(file=sys.stderr)
            returncode = 1
        finally:
            sys.stdout.close()
            sys.stderr.close()
            sys.stdout, sys.stderr = saved_streams
            os.dup2(saved_fds[0], 1)
            os.dup2(saved_fds[1], 2)
            for fd in saved_fds:
                os.close(fd)
            os.chdir(saved_cwd)
            os.environ.clear()
            os.environ.update(saved_env)
            root_logger.handlers, root_logger.level = saved_handlers, saved_level
            package.handlers, package.level, package.propagate = saved_package
            # An offline command guards the whole process (network.guard_offline): the
            # next command run here starts unguarded, as a new process would.
            network.lift_guard()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    command = [sys.executable, "-m", "manuscript", "-C", str(root), *args]
    return subprocess.CompletedProcess(command, returncode, stdout, stderr)


def copy_manuscript(source: Path, dest: Path, *extra: str) -> Path:
    """Copy a manuscript's content/ (and extra folders) to a writable place."""
    for name in ("content", *extra):
        if (source / name).exists():
            shutil.copytree(source / name, dest / name, symlinks=True)
    make_writable(dest)
    return dest


def make_writable(root: Path) -> None:
    """Give the owner write permission on everything under ``root`` (the shared corpus is
    read-only), never through a symbolic link: a link is left as it is, dangling or not."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)
    root.chmod(root.stat().st_mode | 0o200)


def copy_corpus(name: str, dest: Path, *, references: str = "output",
                links: str = "symlinks") -> Path:
    """A writable copy of corpus manuscript ``name`` in ``dest``, as its author has it.

    A repository is copied whole (but for the corpus's own ``upstream/``), links as links;
    meta-review as its ``content/`` and ``analyses/``. The upstream references make the
    citations resolvable offline: ``references="output"`` puts ``references.json`` and
    ``citations.tsv`` in ``output/`` as a previous build's, ``"manual"`` drops the CSL JSON
    into ``content/`` as a manual-references file. ``links`` is the form of rootstock's
    ``webpage/`` links: ``"symlinks"`` (a checkout on Linux or macOS, as on GitHub) or
    ``"files"`` (git's core.symlinks=false form: a small file holding the target, as
    on Windows and in ../shared).
    """
    source = CORPUS / name
    if name in CORPUS_REPOSITORIES:
        shutil.copytree(source, dest, symlinks=True,
                        ignore=lambda folder, _names: ["upstream"] if Path(folder) == source
                        else [])
        make_writable(dest)
        set_webpage_links(dest, links)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        copy_manuscript(source, dest, "analyses")
    upstream = source / "upstream"
    if references == "manual":
        shutil.copy(upstream / "references.json",
                    dest / "content" / "manual-references-upstream.json")
    else:
        (dest / "output").mkdir(exist_ok=True)
        for file in ("references.json", "citations.tsv"):
            shutil.copy(upstream / file, dest / "output" / file)
    return dest


@dataclass(frozen=True)
class SharedBuild:
    """A manuscript built once per test session, and how that build ended."""

    root: Path
    returncode: int
    stderr: str


def shared_build(key: str, tmp_path_factory: pytest.TempPathFactory,
                 make: Callable[[Path], subprocess.CompletedProcess[str]]) -> SharedBuild:
    """``make(root)`` run once per test session for ``key``, whichever xdist worker asks
    first: the others wait for it (a file lock) and get the same folder and result.

    The built folder is shared between tests and workers: tests only read it.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    folder = base / "shared-builds"
    folder.mkdir(exist_ok=True)
    result = folder / f"{key}.json"
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not result.is_file():
            # A worker stopped half-way through the build leaves its folder, not the result.
            shutil.rmtree(folder / key, ignore_errors=True)
            completed = make(folder / key)
            result.write_text(json.dumps({"returncode": completed.returncode,
                                          "stderr": completed.stderr}), encoding="utf-8")
    done = json.loads(result.read_text(encoding="utf-8"))
    return SharedBuild(folder / key, done["returncode"], done["stderr"])


def corpus_build(name: str, tmp_path_factory: pytest.TempPathFactory, *args: str,
                 references: str = "output") -> SharedBuild:
    """Corpus manuscript ``name`` copied as its author has it and built offline with
    ``args``, once per session: shared by every test file that reads a corpus build."""

    def make(root: Path) -> subprocess.CompletedProcess[str]:
        copy_corpus(name, root, references=references)
        return run_manuscript(root, "build", "--offline", *corpus_process_args(name), *args,
                              check=False)

    key = "-".join([name, references, *(a.lstrip("-") for a in args)])
    return shared_build(key, tmp_path_factory, make)


def set_webpage_links(root: Path, form: str) -> None:
    """Write rootstock's three ``webpage/`` links as real symbolic links or as git's
    core.symlinks=false files (the target as the file's content), whichever the corpus has."""
    assert form in ("symlinks", "files"), form
    for name in WEBPAGE_LINKS:
        path = root / "webpage" / name
        if path.is_symlink():
            target = os.readlink(path)
        elif path.is_file() and path.stat().st_size < 200:
            target = path.read_text(encoding="utf-8").strip()
        else:
            continue
        path.unlink()
        if form == "symlinks":
            path.symlink_to(target)
        else:
            path.write_text(target, encoding="utf-8")


def corpus_process_args(name: str) -> list[str]:
    """The options the manuscript's own build script passes to ``manubot process``."""
    args_file = CORPUS / name / "process-args.txt"
    return args_file.read_text(encoding="utf-8").split() if args_file.is_file() else []


def parse_html(text: str) -> cssselect2.ElementWrapper:
    return cssselect2.ElementWrapper.from_html_root(tinyhtml5.parse(text))


def select(root: cssselect2.ElementWrapper, css: str) -> list[cssselect2.ElementWrapper]:
    return list(root.query_all(css))


def text_of(element: cssselect2.ElementWrapper) -> str:
    return re.sub(r"\s+", " ", "".join(element.etree_element.itertext())).strip()


def mask_dates(text: str) -> str:
    """Dates and times differ between builds; everything else must not."""
    text = re.sub(r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})?", "<DATE>", text)
    return re.sub(
        r"(January|February|March|April|May|June|July|August|September|October|"
        r"November|December) \d{1,2}, \d{4}",
        "<LONG DATE>",
        text,
    )


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def pdf_words(path: Path) -> str:
    """The PDF's text with every run of white space as one space: justified print breaks
    lines anywhere, and a phrase must still be found across a line break."""
    return " ".join(pdf_text(path).split())


@contextmanager
def serving(root: Path) -> Iterator[object]:
    """A started ``manuscript serve`` of ``root`` (offline, no PDF) on a free port,
    shut down afterwards."""
    from manuscript.config import make_config
    from manuscript.serve import Server

    server = Server(make_config(root, env={"MANUSCRIPT_OFFLINE": "1"}, pdf=False), port=0)
    server.start()
    try:
        yield server
    finally:
        server.shutdown()
