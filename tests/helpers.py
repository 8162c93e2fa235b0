"""Shared test helpers: run the real CLI, parse HTML, query it with CSS selectors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cssselect2
import tinyhtml5

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed" / "000_797255c06d94719c.txt"
CORPUS = SHARED / "corpus"

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
    root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``manuscript -C root ARGS`` as a user would (a separate process)."""
    completed = subprocess.run(
        [sys.executable, "-m", "manuscript", "-C", str(root), *args],
        capture_output=True,
        text=True,
        env=env or clean_env(),
        check=False,
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"manuscript {' '.join(args)} exited {completed.returncode}:\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed


def copy_manuscript(source: Path, dest: Path, *extra: str) -> Path:
    """Copy a manuscript's content/ (and extra folders) to a writable place."""
    for name in ("content", *extra):
        if (source / name).exists():
            shutil.copytree(source / name, dest / name)
    for path in dest.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    return dest


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
