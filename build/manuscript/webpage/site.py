"""The versioned website in ``webpage/`` (what ``manubot webpage`` does).

Layout::

    webpage/
      .nojekyll                  GitHub Pages serves the files as they are
      index.html, manuscript.pdf, images/ ...   the newest version, at the site root
      v/<version>/               every build, kept (index.html = manuscript.html)
      v/latest/                  the newest version (real files, see Site.publish)
      v/freeze/index.html        redirect page to ../<version>/
      v/index.html               list of versions, newest first, with dates
      v/versions.json            {"latest": ..., "versions": [{"version", "date", "removed"}]}
      v/.store/<sha256>          content-addressed store; every published file is a hard link

A rootstock repository keeps ``webpage/images``, ``index.html`` and ``manuscript.pdf`` as
symbolic links to ``v/latest/…`` (in git; ``webpage/v`` is ignored). Those links are the
site's own layout: a link at the root to a name we publish is kept (or made) a link to
``v/latest/<name>``, which this build updates, so the repository's tracked files do not
change. Git's stand-in for a link (``core.symlinks=false``: a small file holding the
target) becomes that link. ``v/latest`` or any other folder we write that is a link (what
``manubot webpage`` leaves) is replaced by a real folder. A link that leaves ``webpage/``
is refused by :meth:`Site.open`, before any stage runs.

:meth:`Site.open` reads and checks what is there (before a build writes anything);
:meth:`Site.publish` adds the changes to a :class:`~manuscript.journal.Transaction`, which
writes them together with ``output/``: all or nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import WebpageError
from ..journal import JOURNAL, Transaction, exclusive, recover
from .pages import redirect_page, removed_page, versions_index
from .store import STORE, Store, collect_garbage
from .versions import (
    RESERVED_ROOT,
    VERSIONS_JSON,
    read_versions,
    sort_versions,
    validate_version,
    versions_json,
)

logger = logging.getLogger(__name__)

Content = bytes | Path  # a page made in memory, or a file (or folder) to publish


@dataclass
class Site:
    webpage_dir: Path
    versions: list[dict[str, Any]]
    latest_names: frozenset[str]  # top-level names of the current v/latest (= the root's)
    # Root names that are links into the site (rootstock's three), real or git's stand-ins.
    root_links: frozenset[str] = frozenset()

    @classmethod
    def open(cls, webpage_dir: Path) -> Site:
        """Read the site as it is; a broken one is an error before anything is written."""
        vdir = webpage_dir / "v"
        for folder in (webpage_dir, vdir, vdir / STORE):
            if folder.is_symlink() and folder != webpage_dir:
                raise WebpageError("is a symbolic link; the website is written only in real "
                                   "folders: make it one", folder)
            if folder.exists() and not folder.is_dir():
                raise WebpageError("is not a folder; the website cannot be written here",
                                   folder)
        root_links = check_links(webpage_dir)
        versions = read_versions(vdir / VERSIONS_JSON)["versions"]
        latest = vdir / "latest"
        names = {p.name for p in latest.iterdir()} if latest.is_dir() else set()
        return cls(webpage_dir, versions, frozenset(names), root_links)

    def publish(self, transaction: Transaction, version: str, sources: Mapping[str, Content],
                *, prune_keep: int | None = None, now: datetime | None = None) -> Path:
        """Add ``sources`` (top-level name → content) as ``v/<version>/``, made the newest."""
        validate_version(version)
        if prune_keep is not None and prune_keep < 1:
            raise WebpageError(f"prune_keep must be at least 1, got {prune_keep}")
        vdir = self.webpage_dir / "v"
        store = Store(vdir / STORE, transaction)
        linked = {rel: store.add(content) for rel, content in _expand(sources).items()}
        _mirror(transaction, vdir / version, linked)
        # latest is a folder of hard links, not a symlink: GitHub Pages does not follow
        # symlinks reliably, and redirect pages would change the URL readers bookmark.
        _mirror(transaction, vdir / "latest", linked)
        # The root shows the manuscript itself (not a redirect) with its assets beside it,
        # so the relative links in index.html (images/...) work there as in v/<version>/.
        managed = (self.latest_names | {rel.split("/")[0] for rel in linked}) - RESERVED_ROOT
        # rootstock's links stay links, to what v/latest now holds (see the module's doc).
        kept = managed & self.root_links
        at_root = {rel: stored for rel, stored in linked.items()
                   if rel.split("/")[0] not in kept}
        _mirror(transaction, self.webpage_dir, at_root, only=managed - kept)
        for name in sorted(kept):
            transaction.symlink(self.webpage_dir / name, f"v/latest/{name}")
        for name in sorted(self.root_links - kept):  # git's stand-ins become links too
            path = self.webpage_dir / name
            if not path.is_symlink():
                transaction.symlink(path, path.read_text(encoding="utf-8"))

        versions = self._add_version(version, now or datetime.now(UTC))
        if prune_keep is not None:
            _prune(transaction, vdir, versions, prune_keep, version)
        pages = {
            vdir / "freeze" / "index.html": redirect_page(f"../{version}/", version),
            vdir / "index.html": versions_index(version, versions),
            vdir / VERSIONS_JSON: versions_json(version, versions),
            self.webpage_dir / ".nojekyll": "",
        }
        for path, text in pages.items():
            top = self.webpage_dir
            for link in _links_in_the_way(top, {path.relative_to(top).as_posix(): path}):
                transaction.delete(link)  # v/freeze as a link: a real folder, as above
            transaction.write(path, text.encode("utf-8"))
        return vdir / version

    def _add_version(self, version: str, now: datetime) -> list[dict[str, Any]]:
        versions = [dict(item) for item in self.versions]
        known = {item["version"]: item for item in versions}
        if version in known:  # rebuilt: keep the date it was first added
            known[version]["removed"] = False
        else:
            date = now.astimezone(UTC).isoformat(timespec="seconds")
            versions.append({"version": version, "date": date, "removed": False})
        versions = sort_versions(versions)
        # The version just built is the newest, whatever the dates say (e.g. a rebuild).
        versions.sort(key=lambda item: item["version"] != version)
        return versions


def _expand(sources: Mapping[str, Content]) -> dict[str, Content]:
    """Top-level names → every file to publish, by its path relative to a version folder."""
    files: dict[str, Content] = {}
    for name, content in sources.items():
        if isinstance(content, bytes) or content.is_file():
            files[name] = content
            continue
        for path in sorted(p for p in content.rglob("*") if p.is_file()):
            files[f"{name}/{path.relative_to(content).as_posix()}"] = path
    return files


def _mirror(transaction: Transaction, folder: Path, linked: Mapping[str, Path],
            only: Iterable[str] | None = None) -> None:
    """Make ``folder`` hold exactly ``linked`` (within the top-level names ``only``)."""
    names = set(only) if only is not None else None
    # A link where a folder goes (v/latest -> <version>, as manubot webpage makes it)
    # goes first: what it points to is another version's, never written through.
    in_the_way = _links_in_the_way(folder, linked)
    for link in in_the_way:
        transaction.delete(link)
    for rel, stored in linked.items():
        transaction.link(folder / rel, stored)
    if folder in in_the_way:
        return
    for path in _existing_files(folder, names):
        if path not in in_the_way and path.relative_to(folder).as_posix() not in linked:
            transaction.delete(path)


def _links_in_the_way(folder: Path, linked: Mapping[str, Path]) -> list[Path]:
    """Symbolic links at ``folder`` or at a folder on the way to a file written in it."""
    found: list[Path] = []
    if folder.is_symlink():
        return [folder]
    folders = {folder / parent for rel in linked for parent in Path(rel).parents
               if parent != Path(".")}
    for path in sorted(folders, key=lambda p: len(p.parts)):
        if path.is_symlink() and not any(path.is_relative_to(f) for f in found):
            found.append(path)
    return found


def _existing_files(folder: Path, names: set[str] | None) -> list[Path]:
    """Files and links under ``folder`` (a link to a folder is listed, not followed)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    tops = [folder / name for name in sorted(names)] if names is not None else [folder]
    found: list[Path] = []
    for top in tops:
        if top.is_symlink() or top.is_file():
            found.append(top)
        elif top.is_dir():
            for dirpath, dirnames, filenames in os.walk(top):
                found.extend(Path(dirpath) / name for name in filenames)
                found.extend(Path(dirpath) / name for name in dirnames
                             if (Path(dirpath) / name).is_symlink())
    return found


# Git writes a link as a small file holding its target when it cannot make links
# (core.symlinks=false); a target is short, and rootstock's point into v/.
_PLACEHOLDER_MAX = 255


def check_links(webpage_dir: Path) -> frozenset[str]:
    """Refuse a link in the website that leads out of it; return the root's site links.

    Called before any stage runs, so a link the build would refuse to write through stops
    it at once, named, rather than after every stage. Links to inside the site are its
    own layout (rootstock's); the root's (and git's stand-ins for them) are returned.
    """
    if not webpage_dir.is_dir():
        return frozenset()
    top = webpage_dir.resolve()
    root_links: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(webpage_dir):
        here = Path(dirpath)
        if here == webpage_dir / "v":
            dirnames[:] = [d for d in dirnames if d != STORE]  # our own regular files
        for name in (*dirnames, *filenames):
            path = here / name
            if path.is_symlink():
                _check_link(path, os.readlink(path), top)
                if here == webpage_dir:
                    root_links.add(name)
            elif here == webpage_dir and name not in RESERVED_ROOT and _placeholder(path):
                root_links.add(name)
    return frozenset(root_links)


def _check_link(path: Path, target: str, top: Path) -> None:
    if os.path.isabs(target):
        raise WebpageError(f"is a symbolic link to an absolute path ({target}); links in the "
                           "website must stay inside it (like rootstock's v/latest/...)", path)
    lexical = Path(os.path.normpath(path.parent.resolve() / target))
    if not lexical.is_relative_to(top) or not Path(os.path.realpath(path)).is_relative_to(top):
        raise WebpageError(f"is a symbolic link to {target}, outside the website's folder; "
                           "the build writes only inside it", path)


def _placeholder(path: Path) -> bool:
    """Git's stand-in for a link into the site: a small file holding ``v/...``."""
    try:
        if not path.is_file() or path.stat().st_size > _PLACEHOLDER_MAX:
            return False
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if not text or any(c.isspace() for c in text) or os.path.isabs(text):
        return False
    target = os.path.normpath(text)
    return target.startswith("v/") and ".." not in Path(target).parts


def _prune(transaction: Transaction, vdir: Path, versions: list[dict[str, Any]], keep: int,
           current: str) -> None:
    """Keep the ``keep`` newest versions; leave a 'removed' page where the others were."""
    alive = [item for item in versions if not item["removed"]]
    for item in alive[keep:]:
        if item["version"] == current:  # never prune what we just published
            continue
        target = vdir / item["version"]
        for path in _existing_files(target, None):
            transaction.delete(path)
        transaction.write(target / "index.html", removed_page(item["version"]).encode("utf-8"))
        item["removed"] = True
        logger.info("website: pruned version %s", item["version"])


def finish(webpage_dir: Path) -> None:
    """After a commit: drop stored files no version uses any more."""
    collect_garbage(webpage_dir / "v" / STORE)


# ---------------------------------------------------------------------------------------
# ``manuscript webpage``: publish what output/ holds


def build_webpage(
    output_dir: Path,
    webpage_dir: Path,
    version: str,
    *,
    assets: Iterable[Path] = (),
    prune_keep: int | None = None,
    now: datetime | None = None,
) -> Path:
    """Add ``output_dir``'s build to the site as ``v/<version>/`` and make it the newest.

    Returns the version directory.
    """
    validate_version(version)
    if prune_keep is not None and prune_keep < 1:
        raise WebpageError(f"prune_keep must be at least 1, got {prune_keep}")
    output_dir, webpage_dir = Path(output_dir).resolve(), Path(webpage_dir).resolve()
    root = Path(os.path.commonpath([output_dir, webpage_dir]))
    tops, journal = (output_dir, webpage_dir), output_dir / JOURNAL
    with exclusive(output_dir):
        recover(root, tops, journal)
        sources = published_files(output_dir, assets)
        site = Site.open(webpage_dir)
        transaction = Transaction(root, tops, journal)
        target = site.publish(transaction, version, sources, prune_keep=prune_keep, now=now)
        transaction.commit()
        finish(webpage_dir)
    logger.debug("website: added version %s", version)
    return target


def published_files(output_dir: Path, assets: Iterable[Path]) -> dict[str, Content]:
    """Top-level names in a version directory → the file or folder published there."""
    html_file = output_dir / "manuscript.html"
    if not html_file.is_file():
        raise WebpageError("no manuscript.html to publish; build the manuscript first", html_file)
    sources: dict[str, Content] = {"index.html": html_file}
    pdf = output_dir / "manuscript.pdf"
    if pdf.is_file():
        sources["manuscript.pdf"] = pdf
    else:
        logger.warning("no manuscript.pdf in %s; the website will have no PDF", output_dir)
    return add_assets(sources, assets)


def add_assets(sources: dict[str, Content], assets: Iterable[Path]) -> dict[str, Content]:
    for asset in assets:
        asset = Path(asset)
        name = asset.name
        if not asset.exists():
            raise WebpageError("asset to publish does not exist", asset)
        if name in sources or name in RESERVED_ROOT or name.startswith("."):
            raise WebpageError(f"asset name {name!r} clashes with a website file", asset)
        sources[name] = asset
    return sources
