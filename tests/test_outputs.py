"""output/ and webpage/ change together or not at all — even when the build is killed.

A real build is killed (``os._exit``, through the test switch of :mod:`manuscript.journal`)
after each rename of its commit in turn; every file must then be wholly old or wholly new,
and the next build must complete the change and leave no scratch behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from test_stages import tiny_manuscript

sys.path.insert(0, str(Path(__file__).parent / "bad_inputs"))
from cases_outputs import CASES
from test_bad_inputs import apply, snapshot

DIE = "MANUSCRIPT_TEST_DIE_AFTER_RENAME"
DIED = 75  # journal.DIE_EXIT_CODE
ENV = {"SOURCE_DATE_EPOCH": "1700000000"}
SCRATCH = (".build-staging", ".build-journal.json", ".old-", ".tmp-")


def cp(source: Path, dest: Path) -> Path:
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True)  # keeps hard links
    return dest


def edit(root: Path) -> None:
    """A second commit: new text, one image replaced, one added, one removed."""
    (root / "content" / "01.one.md").write_text(
        "## One\n\nSecond version.\n\n![A square.](images/square.svg)\n", encoding="utf-8")
    images = root / "content" / "images"
    (images / "dot.svg").unlink()
    (images / "square.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>', encoding="utf-8")
    (images / "extra.txt").write_text("an extra asset\n", encoding="utf-8")


def scratch(root: Path) -> list[str]:
    return [rel for rel in snapshot(root) if any(part.startswith(SCRATCH) or
            part.endswith(".tmp") for part in rel.split("/"))]


def test_killed_after_every_rename_each_file_is_old_or_new(tmp_path: Path) -> None:
    first = tiny_manuscript(tmp_path / "first")
    run_manuscript(first, "build", env=clean_env(**ENV))
    old = snapshot(first)
    reference = cp(first, tmp_path / "reference")
    edit(reference)
    run_manuscript(reference, "build", env=clean_env(**ENV))
    new = snapshot(reference)
    assert old != new

    renames = 0
    while True:
        root = cp(first, tmp_path / f"kill-{renames}")
        edit(root)
        completed = run_manuscript(root, "build", check=False,
                                   env=clean_env(**ENV, **{DIE: str(renames)}))
        if completed.returncode == 0:  # fewer renames than that: the build completed
            break
        assert completed.returncode == DIED, completed.stderr
        now = snapshot(root)
        for rel in set(old) | set(new) | set(now):
            if rel in scratch(root):
                continue
            assert now.get(rel) in (old.get(rel), new.get(rel)), (renames, rel)
        run_manuscript(root, "build", env=clean_env(**ENV))
        assert snapshot(root) == new, renames
        assert scratch(root) == [], renames
        shutil.rmtree(root)
        renames += 1
    assert snapshot(root) == new
    assert renames >= 10  # pages, PDF, images, store, version list: a real commit


def test_leftovers_of_older_builds_are_cleaned(tmp_path: Path) -> None:
    root = tiny_manuscript(tmp_path)
    run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV))
    good = snapshot(root)
    leftovers = ["output/.manuscript.html.x1y2.tmp", "webpage/.old-index.html-123",
                 "webpage/v/.build-local-abc/local/index.html", "webpage/v/.store/.tmp-9",
                 "webpage/v/freeze/.index.html.q.tmp", "webpage/.build-root-z/images/a.svg",
                 "output/.build-staging/new/0"]
    for rel in leftovers:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("half", encoding="utf-8")
    run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV))
    assert snapshot(root) == good
    assert scratch(root) == []


# --- broken places to write to: the build changes nothing after the breakage ---------


@pytest.fixture(scope="module")
def good_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("good"))
    run_manuscript(root, "build")
    return root


BROKEN = [case for case in CASES if not case.outputs_unchanged]


@pytest.mark.parametrize("case", BROKEN, ids=[case.name for case in BROKEN])
def test_a_broken_output_place_changes_nothing(case, good_build: Path, tmp_path: Path) -> None:
    root = cp(good_build, tmp_path / "ms")
    apply(root, dict(case.files))
    if case.setup:
        case.setup(root)
    before = snapshot(root)
    before_place = _describe(root / case.where)
    completed = run_manuscript(root, *case.args, env=clean_env(**case.env), check=False)
    assert completed.returncode == 1 and case.message in completed.stderr
    assert snapshot(root) == before
    assert _describe(root / case.where) == before_place


def _describe(path: Path) -> tuple[str, bytes | list[str]]:
    if path.is_dir():
        return "dir", sorted(os.listdir(path))
    return "file", path.read_bytes() if path.exists() else b""


@pytest.mark.parametrize("entries", [
    [{"final": "content/metadata.yaml", "old": "output/.build-staging/old/0", "new": None}],
    [{"final": "output/manuscript.md", "old": "../victim", "new": None}],
    [{"final": "output/manuscript.md", "old": "output/.build-staging/old/0",
      "new": "content/metadata.yaml"}],
    [{"final": "webpage/extra/x", "old": "output/.build-staging/old/0", "new": None}],
    # A link the journal removes makes the path under it safe only for later entries.
    [{"final": "webpage/extra/x", "old": "output/.build-staging/old/0", "new": None},
     {"final": "webpage/extra", "old": "output/.build-staging/old/1", "new": None}],
], ids=["delete-a-source", "move-outside", "publish-a-source", "through-a-symlink",
        "through-a-symlink-removed-later"])
def test_a_hostile_journal_moves_nothing(tmp_path: Path, entries: list[dict]) -> None:
    """A journal is a file in the manuscript's folder: it may only finish our own renames."""
    root = tiny_manuscript(tmp_path / "ms")
    run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV))
    (tmp_path / "victim").write_text("kept\n", encoding="utf-8")
    (root / "secret").mkdir()
    (root / "secret" / "x").write_text("secret\n", encoding="utf-8")
    os.symlink(root / "secret", root / "webpage" / "extra")
    sources = {p: p.read_bytes() for p in (root / "content").rglob("*") if p.is_file()}
    import json

    (root / "output" / ".build-journal.json").write_text(
        json.dumps({"entries": entries}), encoding="utf-8")
    # The build then stops at the link out of the website (refused before any stage).
    completed = run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV), check=False)
    assert "not used" in completed.stderr
    assert "webpage/extra: is a symbolic link to an absolute path" in completed.stderr
    assert {p: p.read_bytes() for p in (root / "content").rglob("*") if p.is_file()} == sources
    assert (tmp_path / "victim").read_text(encoding="utf-8") == "kept\n"
    assert (root / "secret" / "x").read_text(encoding="utf-8") == "secret\n"
    assert not (root / "output" / ".build-journal.json").exists()


def test_a_symlink_in_the_website_is_not_followed(tmp_path: Path) -> None:
    root = tiny_manuscript(tmp_path / "ms")
    run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "dot.svg").write_text("not ours\n", encoding="utf-8")
    shutil.rmtree(root / "webpage" / "images")
    os.symlink(elsewhere, root / "webpage" / "images")
    (root / "content" / "01.one.md").write_text("## One\n\nChanged.\n", encoding="utf-8")
    completed = run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV), check=False)
    assert completed.returncode == 1 and "symbolic link" in completed.stderr
    assert (elsewhere / "dot.svg").read_text(encoding="utf-8") == "not ours\n"


def test_a_rename_that_fails_half_way_is_undone(tmp_path: Path) -> None:
    """The website's version folder is read-only (``chattr +i``, which binds root too):
    output/ is renamed in first, then the website fails — output/ must be rolled back."""
    root = tiny_manuscript(tmp_path / "ms")
    run_manuscript(root, "build", env=clean_env(**ENV))
    before = snapshot(root)
    locked = root / "webpage" / "v" / "local"
    done = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot make a read-only folder here: {done.stderr.strip()}")
    try:
        edit(root)
        completed = run_manuscript(root, "build", env=clean_env(**ENV), check=False)
        assert completed.returncode == 1, completed.stderr
        assert "Operation not permitted" in completed.stderr
        assert "Traceback" not in completed.stderr
        assert snapshot(root) == before
        assert scratch(root) == []
    finally:
        subprocess.run(["chattr", "-i", str(locked)], check=True)
    run_manuscript(root, "build", env=clean_env(**ENV))
    assert b"Second version." in (root / "webpage" / "index.html").read_bytes()
