"""One timed run of each toolchain on a fresh copy of a workload."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pypandoc

from .workloads import Workload

BENCH_DIR = Path(__file__).resolve().parent
PANDOC = pypandoc.get_pandoc_path()
STAGE_LINE = re.compile(r"^(\w+)\s+(\d+(?:\.\d+)?) s\b", re.MULTILINE)
NETWORK_FAILURE = re.compile(r"Error in \w+ for (\S+) due to a ConnectionError")
CI_PREFIXES = ("GITHUB_", "TRAVIS", "APPVEYOR", "GITLAB_", "CIRCLE", "BUILDKITE")
XNOS = ("pandoc-fignos", "pandoc-eqnos", "pandoc-tablenos")

Timings = dict[str, float]


def tool(name: str) -> str:
    """A console script next to this Python, else on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: {name} not found")
    return found


def clean_env() -> dict[str, str]:
    """The environment without CI variables (in CI mode manubot sends a HEAD request),
    and without PYTHONDONTWRITEBYTECODE: installed packages come with their bytecode, and
    an editable install writes it on first use; with the variable set, every command
    would compile our package (~60 modules, 0.06 s) again, which no user's build does."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "CONTINUOUS_INTEGRATION", "PYTHONDONTWRITEBYTECODE")
           and not k.startswith(CI_PREFIXES)}
    env["TZ"] = "Etc/UTC"
    return env


@dataclass(frozen=True)
class Ran:
    seconds: float  # wall clock
    stderr: str
    peak_mb: float  # peak resident memory of the largest process in the command's tree


def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> Ran:
    """Run a command; its wall-clock seconds, stderr and peak memory. A failure stops the
    benchmark.

    The peak comes from ``os.wait4``: the kernel's ``ru_maxrss`` of the child and every
    descendant it waited for, i.e. the largest single process (our Python, pandoc,
    WeasyPrint…), not the sum of processes alive at once. ``getrusage(RUSAGE_CHILDREN)``
    cannot tell sequential commands apart (it keeps the maximum since the start).
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}) in {cwd}:\n{stderr[-3000:]}")
    return Ran(seconds, stderr, usage.ru_maxrss / 1024)  # Linux: kilobytes


# ── ours ──────────────────────────────────────────────────────────────────────────────

def ours(workload: Workload, tmp: Path) -> Timings:
    """`manuscript build --offline`: cold, then warm (nothing changed), then --no-pdf cold,
    then cold with the Typst PDF engine. Keys ``mem …`` are peak memory in MB."""
    env = clean_env()

    def build(name: str, folder: Path, *extra: str) -> Ran:
        ran = run([tool("manuscript"), "-C", str(folder), "build", "--offline",
                   *workload.process_args, *extra], folder, env)
        result[name], result[f"mem {name}"] = ran.seconds, ran.peak_mb
        return ran

    result: Timings = {}
    folder = workload.copy_to(tmp / "ours", reference=False)
    result |= {f"cold {k}": v for k, v in stages(build("cold", folder).stderr).items()}
    build("warm", folder)
    build("no-pdf", workload.copy_to(tmp / "ours-nopdf", reference=False), "--no-pdf")
    # The PDF typeset by Typst instead of WeasyPrint, cold.
    typst = workload.copy_to(tmp / "ours-typst", reference=False)
    try:
        ran = build("typst", typst, "--pdf-engine", "typst")
    except RuntimeError as error:  # a failure here should not hide the WeasyPrint timings
        print(f"bench: {workload.name}: the Typst build failed, its rows are left out:\n"
              f"{str(error)[-600:]}", file=sys.stderr)
        return result
    result |= {f"typst {k}": v for k, v in stages(ran.stderr).items()}
    return result


def stages(stderr: str) -> Timings:
    """Per-stage seconds from lines such as ``cite       0.35 s``."""
    return {name: float(seconds) for name, seconds in STAGE_LINE.findall(stderr)}


# ── the reference toolchain (rootstock's build.sh, offline) ───────────────────────────

def probe_xnos(xnos_bin: Path) -> tuple[list[str], str]:
    """The pandoc-xnos filters if they run on this pandoc, else none and the reason."""
    filters = [str(xnos_bin / name) for name in XNOS]
    if not all(Path(f).exists() for f in filters):
        return [], f"pandoc-xnos filters not installed in {xnos_bin}; measured without them"
    for name, path in zip(XNOS, filters, strict=True):
        proc = subprocess.run([PANDOC, "--from=markdown", "--to=html5", f"--filter={path}"],
                              input="Hello", capture_output=True, text=True)
        if proc.returncode != 0:
            errors = re.findall(r"^\w*Error: (.+)$", proc.stderr, re.MULTILINE)
            reason = errors[0] if errors else proc.stderr.strip()[-200:]
            return [], f"{name} fails on pandoc 3 ({reason}); measured without the xnos filters"
    return filters, "pandoc-fignos/eqnos/tablenos included"


def reference(workload: Workload, tmp: Path, schema: Path, xnos: list[str],
              csl: Path) -> tuple[Timings, set[str]]:
    """manubot process, pandoc → HTML, pandoc → print HTML + WeasyPrint; and the citation
    ids whose lookup tried the network (and failed)."""
    env = clean_env() | {"BENCH_CSL_SCHEMA": str(schema)}
    folder = workload.copy_to(tmp / "reference", reference=True)
    cite_filter = folder / "pandoc-manubot-cite-offline"
    cite_filter.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{BENCH_DIR / "cite_offline.py"}" "$@"\n')
    cite_filter.chmod(0o755)

    timings: Timings = {}
    timed(timings, "process", run(
        [tool("manubot"), "process", "--content-directory=content", "--output-directory=output",
         "--cache-directory=ci/cache", "--skip-citations", "--log-level=WARNING",
         *workload.process_args], folder, env))

    def pandoc(output: str) -> Ran:
        filters = [f"--filter={f}" for f in [*xnos, str(cite_filter)]]
        return run([PANDOC, "output/manuscript.md", "--from=markdown", "--to=html5",
                    "--standalone", "--wrap=preserve", *filters, "--citeproc", "--mathml",
                    f"--csl={csl}", "--metadata=link-citations:true", f"--output={output}"],
                   folder, env)

    html = timed(timings, "html", pandoc("output/manuscript.html"))
    print_html = pandoc("output/manuscript-print.html")
    weasy = run([tool("weasyprint"), "--presentational-hints", "--base-url", "content/",
                 "output/manuscript-print.html", "output/manuscript.pdf"], folder, env)
    timings["pdf"] = print_html.seconds + weasy.seconds
    timings["mem pdf"] = max(print_html.peak_mb, weasy.peak_mb)
    timings["total"] = timings["process"] + timings["html"] + timings["pdf"]
    return timings, set(NETWORK_FAILURE.findall(html.stderr))


def timed(timings: Timings, name: str, ran: Ran) -> Ran:
    """Record a command's seconds and peak memory (``mem NAME``, MB) under ``name``."""
    timings[name], timings[f"mem {name}"] = ran.seconds, ran.peak_mb
    return ran


# ── the pinned reference: what rootstock users run (pandoc 2.19.2, xnos, WeasyPrint 53.4) ──

PINNED = ("pypandoc_binary==1.10", "manubot==0.6.1", "pandoc-fignos==2.4.0",
          "pandoc-eqnos==2.5.0", "pandoc-tablenos==2.3.0", "pandoc-xnos==2.5.0",
          "panflute==2.2.3", "weasyprint==53.4", "pydyf==0.0.3")


def pinned_venv(venv: Path) -> Path:
    """The virtual environment holding rootstock's pinned toolchain, created on first use."""
    marker = venv / "bench-pinned.txt"
    if marker.is_file() and marker.read_text().split() == list(PINNED):
        return venv
    print(f"bench: installing the pinned reference toolchain into {venv}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *PINNED],
                   check=True)
    marker.write_text("\n".join(PINNED) + "\n")
    return venv


def pinned(workload: Workload, tmp: Path, venv: Path, rootstock_build: Path,
           schema: Path) -> tuple[Timings, set[str]]:
    """rootstock's build.sh as users run it: `manubot process`, then pandoc 2.19.2 with its
    defaults files (fignos, eqnos, tablenos, manubot cite, citeproc) to HTML, then again
    with pdf-weasyprint.yaml (pandoc calls WeasyPrint 53.4's CLI). Only the cite filter is
    wrapped, to read the CSL schema from disk instead of GitHub."""
    folder = workload.copy_to(tmp / "pinned", reference=True)
    shutil.copytree(rootstock_build, folder / "build")
    shims = folder / "bench-bin"
    shims.mkdir()
    python = venv / "bin" / "python"
    pandoc = next((venv / "lib").glob("python*/site-packages/pypandoc/files/pandoc"))
    (shims / "pandoc").symlink_to(pandoc)
    cite = shims / "pandoc-manubot-cite"
    cite.write_text(f'#!/bin/sh\nexec "{python}" "{BENCH_DIR / "cite_offline.py"}" "$@"\n')
    cite.chmod(0o755)
    env = clean_env() | {"BENCH_CSL_SCHEMA": str(schema),
                         "PATH": f"{shims}:{venv / 'bin'}:{os.environ['PATH']}"}

    timings: Timings = {}
    timed(timings, "process", run(
        [str(venv / "bin" / "manubot"), "process", "--content-directory=content",
         "--output-directory=output", "--cache-directory=ci/cache", "--skip-citations",
         "--log-level=INFO", *workload.process_args], folder, env))
    defaults = [str(shims / "pandoc"), "--data-dir=build/pandoc", "--defaults=common.yaml",
                "--defaults=html.yaml"]
    html = timed(timings, "html", run([*defaults[:1], "--verbose", *defaults[1:]], folder, env))
    (folder / "images").symlink_to("content/images")
    timed(timings, "pdf", run([*defaults, "--defaults=pdf-weasyprint.yaml"], folder, env))
    timings["total"] = timings["process"] + timings["html"] + timings["pdf"]
    return timings, set(NETWORK_FAILURE.findall(html.stderr))
