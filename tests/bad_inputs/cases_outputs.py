"""Broken places to write to: output/, webpage/ or ci/cache in the way, a full disk, a bad
SOURCE_DATE_EPOCH, a corrupt version list, nothing to build.

Rows whose setup breaks output/ or webpage/ themselves cannot be byte-identical to the
snapshot taken before; ``tests/test_outputs.py`` runs those again and checks that the
build changed nothing after the breakage.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from table import Case, Folder, Remove

FSIZE_LIMIT_PATH = str(Path(__file__).parent / "fsize_limit")
# An edit, so that the html and pdf stages run and have something to write.
EDIT = {"content/02.introduction.md": "## Introduction\n\nA new first paragraph.\n"}


def _replace_by_file(rel: str):
    def setup(root: Path) -> None:
        shutil.rmtree(root / rel, ignore_errors=True)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("not a folder\n", encoding="utf-8")

    return setup


def _chattr(flag: str, rel: str):
    """``chattr +i``: a folder even root cannot write to (ext4 and the like). Where the file
    system or the privileges do not allow it, the row is skipped, saying why."""

    def run(root: Path) -> None:
        done = subprocess.run(["chattr", flag, str(root / rel)], capture_output=True,
                              text=True, check=False)
        if done.returncode and flag == "+i":
            pytest.skip(f"cannot make a read-only folder here: {done.stderr.strip()}")

    return run


def _remove_sections(root: Path) -> None:
    for path in (root / "content").glob("[0-9]*.md"):
        path.unlink()


def _remove_citation_cache(root: Path) -> None:
    shutil.rmtree(root / "ci" / "cache", ignore_errors=True)


CASES = [
    Case("output-is-a-file", {}, "is not a folder", "output",
         setup=_replace_by_file("output"), outputs_unchanged=False),
    Case("webpage-v-is-a-file", dict(EDIT), "is not a folder", "webpage/v",
         setup=_replace_by_file("webpage/v"), outputs_unchanged=False),
    Case("ci-cache-is-a-file", dict(EDIT), "is not a folder", "ci/cache",
         setup=_replace_by_file("ci/cache")),
    # Running as root, a read-only mode stops no write; a folder where the page goes does.
    Case("output-html-is-a-folder", {"output/manuscript.html": Folder(), **EDIT},
         "a folder is in the way", "output/manuscript.html", outputs_unchanged=False),
    Case("output-read-only", dict(EDIT), "Operation not permitted", "output/manuscript.md",
         setup=_chattr("+i", "output"), teardown=_chattr("-i", "output")),
    # --no-pdf: WeasyPrint unpacks the bundled fonts into temporary files, which the
    # limit would stop before the build reaches its own writes.
    # The limit sits between pandoc's largest input (the theme's CSS in the page head,
    # ~45 KB) and the page (~70 KB), so the page is the first write to fail.
    Case("disk-full", dict(EDIT), "File too large", "output/manuscript.html",
         args=("build", "--no-pdf"),
         env={"PYTHONPATH": FSIZE_LIMIT_PATH, "MANUSCRIPT_TEST_FSIZE_LIMIT": "60000"}),
    # A new citation cache needs SQLite's 32 KB shared-memory file: on a full disk,
    # requests-cache alone would retry its write lock for ever (the build hung).
    Case("disk-full-citation-cache", {"content/manual-references.json": "[ ]\n"},  # cite runs
         "cannot use the citation cache (disk I/O error); is the disk full?",
         "ci/cache/requests-cache.sqlite", args=("build", "--no-pdf"),
         env={"PYTHONPATH": FSIZE_LIMIT_PATH, "MANUSCRIPT_TEST_FSIZE_LIMIT": "20000"},
         setup=_remove_citation_cache),
    # The format worker's job (the cited document) is the first temporary file written.
    Case("disk-full-format-worker", dict(EDIT), "cannot write the format worker's job in "
         "the temporary folder (File too large)", args=("build", "--no-pdf", "--format", "docx"),
         env={"PYTHONPATH": FSIZE_LIMIT_PATH, "MANUSCRIPT_TEST_FSIZE_LIMIT": "25000"}),
    # Below the page head's size: writing pandoc's inputs in TMPDIR fails first.
    Case("disk-full-temporary-folder", dict(EDIT), "cannot write pandoc's input in the "
         "temporary folder (File too large)", args=("build", "--no-pdf"),
         env={"PYTHONPATH": FSIZE_LIMIT_PATH, "MANUSCRIPT_TEST_FSIZE_LIMIT": "30000"}),
    Case("source-date-epoch-not-a-number", dict(EDIT), "SOURCE_DATE_EPOCH",
         env={"SOURCE_DATE_EPOCH": "yesterday"}),
    Case("versions-json-corrupt", {"webpage/v/versions.json": '{"latest": "x", "versi', **EDIT},
         "cannot read the website's version list", "webpage/v/versions.json",
         outputs_unchanged=False),
    Case("versions-json-wrong-shape", {"webpage/v/versions.json": '{"versions": [1, 2]}'},
         "cannot read the website's version list", "webpage/v/versions.json",
         outputs_unchanged=False),
    Case("no-numbered-sections", {"content/manual-references.json": "[]\n"},
         "no numbered sections", "content", setup=_remove_sections),
    Case("metadata-only", {f"content/{name}": Remove() for name in (
        "00.front-matter.md", "01.abstract.md", "02.introduction.md",
        "03.domain-specific-models.md", "04.adapting-general-models.md", "05.data-systems.md",
        "06.evaluation-deployment.md", "07.open-problems.md", "08.conclusion.md",
        "90.back-matter.md")}, "no numbered sections", "content"),
]
