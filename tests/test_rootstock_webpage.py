"""rootstock's ``webpage/`` as every rootstock repository keeps it.

``webpage/images``, ``index.html`` and ``manuscript.pdf`` are symbolic links to
``v/latest/…`` in git (or, checked out with core.symlinks=false, small files holding the
target); ``manubot webpage`` leaves ``v/latest`` as a link to the version. The build
keeps rootstock's links pointing at what it publishes, replaces a linked ``v/latest``
with a real folder (never writing through it), and refuses a link out of the site
before any stage runs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import clean_env, run_manuscript
from test_stages import tiny_manuscript

ENV = {"SOURCE_DATE_EPOCH": "1700000000"}
ROOTSTOCK_LINKS = {"images": "v/latest/images", "index.html": "v/latest/index.html",
                   "manuscript.pdf": "v/latest/manuscript.pdf"}
STAGES = ("process", "parse", "cite", "html", "pdf", "webpage", "write")


def rootstock_webpage(root: Path, placeholders: bool) -> Path:
    webpage = root / "webpage"
    webpage.mkdir(parents=True)
    (webpage / "README.md").write_text("# Output directory\n", encoding="utf-8")
    for name, target in ROOTSTOCK_LINKS.items():
        if placeholders:  # what git writes for a link with core.symlinks=false
            (webpage / name).write_text(target, encoding="utf-8")
        else:
            os.symlink(target, webpage / name)
    return webpage


def build(root: Path, *args: str) -> str:
    completed = run_manuscript(root, "build", "--no-pdf", *args, env=clean_env(**ENV),
                               check=False)
    assert completed.returncode == 0, completed.stderr
    return completed.stderr


def links(webpage: Path) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in webpage.iterdir() if p.is_symlink()}


@pytest.mark.parametrize("placeholders", [False, True], ids=["symlinks", "placeholders"])
def test_rootstock_links_stay_links_to_the_latest_version(tmp_path: Path,
                                                          placeholders: bool) -> None:
    root = tiny_manuscript(tmp_path / "ms", "First version.")
    webpage = rootstock_webpage(root, placeholders)
    build(root)
    # The repository's tracked files are links as in git (a stand-in becomes the link).
    assert links(webpage) == ROOTSTOCK_LINKS
    assert b"First version." in (webpage / "index.html").read_bytes()
    assert (webpage / "images" / "dot.svg").is_file()
    assert (webpage / "README.md").read_text(encoding="utf-8") == "# Output directory\n"
    assert not (webpage / "v" / "latest").is_symlink()

    # A second build over the first's result: the links now show the new version.
    (root / "content" / "01.one.md").write_text(
        "## One\n\nSecond version.\n\n![A square.](images/square.svg)\n", encoding="utf-8")
    (root / "content" / "images" / "square.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>', encoding="utf-8")
    build(root)
    assert links(webpage) == ROOTSTOCK_LINKS
    assert b"Second version." in (webpage / "index.html").read_bytes()
    assert (webpage / "images" / "square.svg").is_file()


def manubot_site(webpage: Path) -> None:
    """What ``manubot webpage`` leaves: v/<commit>/ and v/latest as a link to it."""
    old = webpage / "v" / "abc123"
    (old / "images").mkdir(parents=True)
    (old / "index.html").write_text("old version\n", encoding="utf-8")
    (old / "images" / "dot.svg").write_text("old image\n", encoding="utf-8")
    os.symlink("abc123", webpage / "v" / "latest", target_is_directory=True)
    # A freeze folder that is a link too: written through, it would change abc123's page.
    os.symlink("abc123", webpage / "v" / "freeze", target_is_directory=True)


def test_a_latest_link_is_replaced_by_a_folder_not_written_through(tmp_path: Path) -> None:
    root = tiny_manuscript(tmp_path / "ms", "New version.")
    webpage = rootstock_webpage(root, placeholders=False)
    manubot_site(webpage)
    build(root)
    latest = webpage / "v" / "latest"
    assert latest.is_dir() and not latest.is_symlink()
    assert b"New version." in (latest / "index.html").read_bytes()
    # The version the link pointed to is untouched.
    assert (webpage / "v" / "abc123" / "index.html").read_text(encoding="utf-8") == \
        "old version\n"
    assert (webpage / "v" / "abc123" / "images" / "dot.svg").read_text(
        encoding="utf-8") == "old image\n"
    assert b"New version." in (webpage / "index.html").read_bytes()
    freeze = webpage / "v" / "freeze"
    assert freeze.is_dir() and not freeze.is_symlink()
    assert b"../local/" in (freeze / "index.html").read_bytes()


def link_removal(tmp_path: Path) -> int:
    """The number of the rename that removes the v/latest link (from a probe's journal)."""
    import json

    root = tiny_manuscript(tmp_path / "probe", "New version.")
    manubot_site(rootstock_webpage(root, placeholders=False))
    run_manuscript(root, "build", "--no-pdf", check=False,
                   env=clean_env(**ENV, MANUSCRIPT_TEST_DIE_AFTER_RENAME="0"))
    entries = json.loads((root / "output" / ".build-journal.json").read_text())["entries"]
    (number,) = [n for n, e in enumerate(entries, 1)
                 if e["final"] == "webpage/v/latest" and e["new"] is None]
    assert entries[number]["final"].startswith("webpage/v/latest/")  # then its files
    return number


@pytest.mark.parametrize("after", [0, 1, 2], ids=["before", "removed", "one-file-in"])
def test_a_killed_build_replacing_the_latest_link_is_completed(tmp_path: Path,
                                                              after: int) -> None:
    """Killed just before the link's removal, right after it, and after the first file
    written in its place: the next build rolls the journal forward (the removed link is
    not a link to write through) and ends as a clean build does."""
    die_after = link_removal(tmp_path) - 1 + after
    root = tiny_manuscript(tmp_path / "ms", "New version.")
    webpage = rootstock_webpage(root, placeholders=False)
    manubot_site(webpage)
    killed = run_manuscript(root, "build", "--no-pdf", check=False,
                            env=clean_env(**ENV, MANUSCRIPT_TEST_DIE_AFTER_RENAME=str(die_after)))
    assert killed.returncode == 75, killed.stderr
    assert (root / "output" / ".build-journal.json").is_file()
    stderr = build(root)
    assert "not used" not in stderr, stderr
    latest = webpage / "v" / "latest"
    assert latest.is_dir() and not latest.is_symlink()
    assert b"New version." in (latest / "index.html").read_bytes()
    assert (webpage / "v" / "abc123" / "index.html").read_text(encoding="utf-8") == \
        "old version\n"
    assert links(webpage) == ROOTSTOCK_LINKS


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.is_symlink()}


def test_a_link_out_of_the_site_is_refused_before_any_stage(tmp_path: Path) -> None:
    """After a good build, each link out of the site stops the next build at once, named:
    no stage line, output/ and the site as they were."""
    root = tiny_manuscript(tmp_path / "ms")
    webpage = rootstock_webpage(root, placeholders=False)
    build(root)
    (root / "content" / "01.one.md").write_text("## One\n\nChanged.\n", encoding="utf-8")
    before = (_files(root / "output"), _files(webpage / "v"))
    for target in ("/etc", "../../outside", "v/../../content/images"):
        (webpage / "images").unlink()
        os.symlink(target, webpage / "images")
        completed = run_manuscript(root, "build", "--no-pdf", env=clean_env(**ENV),
                                   check=False)
        assert completed.returncode == 1, completed.stderr
        assert "Traceback" not in completed.stderr
        errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]
        assert errors and "webpage/images: is a symbolic link" in errors[0], completed.stderr
        ran = [line for line in completed.stderr.splitlines()
               if line.split()[:1] and line.split()[0] in STAGES]
        assert ran == [], completed.stderr  # refused before process, cite, html…
        assert (_files(root / "output"), _files(webpage / "v")) == before


def test_deploy_publishes_the_files_rootstock_links_point_to(tmp_path: Path) -> None:
    """gh-pages gets real files where the local site has rootstock's links (the
    ``images`` link to a folder would otherwise be left out by the walk)."""
    from manuscript.deploy import _files

    root = tiny_manuscript(tmp_path / "ms")
    webpage = rootstock_webpage(root, placeholders=True)
    build(root)
    files = _files(webpage, skip=("v/.store",), follow=True)
    assert not any(path.is_symlink() for path in files.values())
    assert files["index.html"].read_bytes() == (webpage / "v/latest/index.html").read_bytes()
    assert files["images/dot.svg"].is_file()
    assert "manuscript.pdf" not in files  # a link to nothing yet (no PDF built)
    shutil.rmtree(root / "output")


@pytest.mark.parametrize("failing", [2, 3])
def test_a_failed_write_puts_the_latest_link_back(tmp_path: Path, failing: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A rename failing after the link was replaced by a folder: the folder made for the
    new files goes, the link comes back, its version is untouched, no journal is left."""
    from manuscript import journal
    from manuscript.errors import OutputError

    web, out = tmp_path / "webpage", tmp_path / "output"
    (web / "v" / "abc").mkdir(parents=True)
    (web / "v" / "abc" / "index.html").write_text("old\n", encoding="utf-8")
    os.symlink("abc", web / "v" / "latest")
    out.mkdir()
    transaction = journal.Transaction(tmp_path, (out, web), out / journal.JOURNAL)
    transaction.delete(web / "v" / "latest")
    transaction.write(web / "v" / "latest" / "index.html", b"new\n")
    transaction.write(web / "v" / "latest" / "images" / "x.svg", b"<svg/>")

    def fail_after(number: int) -> None:  # the rename after `failing` cannot be made
        if number == failing:
            raise OSError(5, "Input/output error", str(web / "v" / "latest"))

    monkeypatch.setattr(journal, "_maybe_die", fail_after)
    with pytest.raises(OutputError, match="nothing was changed"):
        transaction.commit()
    assert os.readlink(web / "v" / "latest") == "abc"
    assert (web / "v" / "abc" / "index.html").read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in (web / "v" / "abc").iterdir()) == ["index.html"]
    assert not (out / journal.JOURNAL).exists()
    assert not (web / journal.STAGING).exists()
