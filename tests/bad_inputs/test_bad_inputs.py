"""Every row of the bad-input tables: a clear message, the right exit code, nothing lost.

Each ``cases_*.py`` beside this file holds ``CASES``, a list of :class:`table.Case`.
A case breaks a copy of a manuscript that built cleanly, runs the real CLI, and
checks: the exit code, no traceback, the message fragment, the ``file:line`` at the
start of the error line, and ``output/`` and ``webpage/`` byte for byte as before.

The command line is not what most rows test, so most run the CLI in this process
(``helpers.run_in_process``: same environment, exit code and stderr, without starting
Python and importing the package each time). A new process runs the first row of each
command and exit code, and every row that needs a fresh interpreter (``PYTHON*`` or
``MANUSCRIPT_TEST_*`` variables: an import hook, a resource limit).

Every row runs bounded, as issue #18 asks: its process and every process it starts may
allocate at most MEMORY_LIMIT (RLIMIT_DATA, which V8 and GHC can live with, unlike
RLIMIT_AS: they reserve far more address space than they use) and may take at most
TIME_LIMIT seconds. A row past either fails: a runaway engine is a MemoryError
(a traceback) or a timeout here, never the kernel's OOM killer taking the machine.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, copy_manuscript, run_in_process, run_manuscript

sys.path.insert(0, str(Path(__file__).parent))
from table import Case, Folder, Link, Remove


def _load_cases() -> list[Case]:
    cases: list[Case] = []
    for path in sorted(Path(__file__).parent.glob("cases_*.py")):
        spec = importlib.util.spec_from_file_location(f"bad_inputs_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        cases.extend(module.CASES)
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


CASES = _load_cases()

MEMORY_LIMIT = 2 * 1024**3  # bytes
TIME_LIMIT = 300  # seconds a row may take (the slowest takes about 30 on two cores)


class RowTimeout(Exception):
    pass


def _data_in_use() -> int:
    """What this process has allocated now (VmData), which RLIMIT_DATA counts too."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def in_process_bounds() -> Iterator[None]:
    """For a row run in this (pytest's) process: MEMORY_LIMIT more than it holds now,
    for it and the processes it starts, and TIME_LIMIT."""
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = _data_in_use() + MEMORY_LIMIT
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)

    def expire(_signum: int, _frame: object) -> None:
        raise RowTimeout(f"the row ran past {TIME_LIMIT} s")

    previous = signal.signal(signal.SIGALRM, expire)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    signal.alarm(TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _in_new_process(cases: list[Case]) -> set[str]:
    """The rows run as a separate process: one per command and exit code, and the ones
    whose environment must be there when the interpreter starts."""
    chosen: dict[tuple[str, int], str] = {}
    fresh = set()
    for case in cases:
        chosen.setdefault((case.args[0], case.exit), case.name)
        if any(key.startswith(("PYTHON", "MANUSCRIPT_TEST_")) for key in case.env):
            fresh.add(case.name)
    return fresh | set(chosen.values())


IN_NEW_PROCESS = _in_new_process(CASES)


@pytest.fixture(scope="module")
def good_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("good"))
    run_manuscript(root, "build")
    return root


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file and link under output/ and webpage/: bytes, or a link's target."""
    files: dict[str, bytes | str] = {}
    for top in ("output", "webpage"):
        base = root / top
        if not base.exists() and not base.is_symlink():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                key = path.relative_to(root).as_posix()
                if path.is_symlink():
                    files[key] = "-> " + os.readlink(path)
                elif path.is_file():
                    files[key] = path.read_bytes()
    return files


def apply(root: Path, files: dict) -> None:
    for rel, content in files.items():
        path = root / rel
        if isinstance(content, Remove) or path.is_symlink():
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            if isinstance(content, Remove):
                continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Link):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            os.symlink(content.target, path)
        elif isinstance(content, Folder):
            path.unlink(missing_ok=True)
            path.mkdir(exist_ok=True)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, good_build: Path, tmp_path: Path) -> None:
    root = tmp_path / "ms"
    shutil.copytree(good_build, root, symlinks=True)
    before = snapshot(root)
    apply(root, dict(case.files))
    if case.setup:
        case.setup(root)
    # A fresh working folder: nothing a command might write beside it is left for the next.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = clean_env(**case.env)
    try:
        if case.name in IN_NEW_PROCESS:
            completed = run_manuscript(root, *case.args, env=env, check=False, cwd=cwd,
                                       timeout=TIME_LIMIT, memory=MEMORY_LIMIT)
        else:
            with in_process_bounds():
                completed = run_in_process(root, *case.args, env=env, cwd=cwd)
    finally:
        if case.teardown:
            case.teardown(root)
    stderr = completed.stderr
    assert completed.returncode == case.exit, stderr
    assert "Traceback" not in stderr, stderr
    assert case.message in stderr, stderr
    if case.where:
        # The first error line starts with its place; paths print relative to the working
        # folder, which here is not the manuscript's root.
        errors = [line.removeprefix("error: ") for line in stderr.splitlines()
                  if line.startswith("error: ")]
        assert errors, stderr
        location = errors[0].split(": ", 1)[0]
        assert location == case.where or location.endswith("/" + case.where), stderr
    if case.outputs_unchanged:
        assert snapshot(root) == before
