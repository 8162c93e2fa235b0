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

    @classmethod
    def open(cls, webpage_dir: Path) -> Site:
        """Read the site as it is; a broken one is an error before anything is written."""
        vdir = webpage_dir / "v"
        for folder in (webpage_dir, vdir, vdir / STORE):
            if folder.exists() and not folder.is_dir():
                raise WebpageError("is not a folder; the website cannot be written here",
                                   folder)
        versions = read_versions(vdir / VERSIONS_JSON)["versions"]
        latest = vdir / "latest"
        names = {p.name for p in latest.iterdir()} if latest.is_dir() else set()
        return cls(webpage_dir, versions, frozenset(names))

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
        _mirror(transaction, self.webpage_dir, linked, only=managed)

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
    for rel, stored in linked.items():
        transaction.link(folder / rel, stored)
    for path in _existing_files(folder, names):
        if path.relative_to(folder).as_posix() not in linked:
            transaction.delete(path)


def _existing_files(folder: Path, names: set[str] | None) -> list[Path]:
    if not folder.is_dir():
        return []
    tops = [folder / name for name in sorted(names)] if names is not None else [folder]
    found: list[Path] = []
    for top in tops:
        if top.is_symlink() or top.is_file():
            found.append(top)
        elif top.is_dir():
            for dirpath, _, filenames in os.walk(top):
                found.extend(Path(dirpath) / name for name in filenames)
    return found


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
