"""Build the versioned website in ``webpage/`` (what ``manubot webpage`` does).

Layout::

    webpage/
      .nojekyll                  GitHub Pages serves the files as they are
      index.html, manuscript.pdf, images/ ...   the newest version, at the site root
      v/<version>/               every build, kept (index.html = manuscript.html)
      v/latest/                  the newest version (real files, see _publish_latest)
      v/freeze/index.html        redirect page to ../<version>/
      v/index.html               list of versions, newest first, with dates
      v/versions.json            {"latest": ..., "versions": [{"version", "date", "removed"}]}
      v/.store/<sha256>          content-addressed store; every published file is a hard link

Every file under ``v/`` and at the root is a hard link into ``v/.store``, so a file that is
identical across versions is stored once on disk and the site grows with the change only.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from manuscript.errors import WebpageError
from manuscript.fsutil import write_text_atomic

logger = logging.getLogger(__name__)

STORE = ".store"
VERSIONS_JSON = "versions.json"
# Names under v/ that a version may not take, and names at the site root we never overwrite.
RESERVED_VERSIONS = frozenset({"latest", "freeze", "index.html", VERSIONS_JSON})
RESERVED_ROOT = frozenset({"v", ".nojekyll", "README.md"})
_VERSION_RE = re.compile(r"[A-Za-z0-9._-]+")
_SHA_RE = re.compile(r"[0-9a-fA-F]{7,64}")


def validate_version(version: str) -> str:
    """Return ``version`` if it is a safe single path segment, else raise WebpageError."""
    # A leading dot would allow "." / ".." and hide the version next to .store.
    if (
        not _VERSION_RE.fullmatch(version)
        or version.startswith(".")
        or version in RESERVED_VERSIONS
    ):
        raise WebpageError(
            f"invalid version {version!r}: use letters, digits, '.', '_', '-' "
            f"(not starting with '.', not one of {sorted(RESERVED_VERSIONS)})"
        )
    return version


def resolve_version(root: Path, env: Mapping[str, str]) -> str:
    """The commit being built: from the CI environment, else git HEAD, else ``"local"``."""
    # Same order as manubot's ci.py; on a pull request GitHub's GITHUB_SHA is a synthetic
    # merge commit, so the workflow passes the PR head as GITHUB_PULL_REQUEST_SHA.
    candidates: list[str | None] = []
    if env.get("GITHUB_ACTIONS") == "true":
        candidates += [env.get("GITHUB_PULL_REQUEST_SHA"), env.get("GITHUB_SHA")]
    if env.get("TRAVIS") == "true":
        candidates.append(env.get("TRAVIS_COMMIT"))
    if env.get("APPVEYOR", "").lower() == "true":
        candidates.append(env.get("APPVEYOR_REPO_COMMIT"))
    for candidate in candidates:
        if candidate and _SHA_RE.fullmatch(candidate.strip()):
            return candidate.strip()
    try:
        result = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        logger.debug("git rev-parse failed: %s", error)
        return "local"
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and _SHA_RE.fullmatch(sha) else "local"


# ---------------------------------------------------------------------------------------
# versions.json


def read_versions(path: Path) -> dict[str, Any]:
    """Load versions.json; a missing file is an empty site."""
    if not path.exists():
        return {"latest": None, "versions": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        versions = [
            {
                "version": str(item["version"]),
                "date": str(item["date"]),
                "removed": bool(item.get("removed", False)),
            }
            for item in data["versions"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise WebpageError(f"cannot read version list: {error}", path) from error
    return {"latest": data.get("latest"), "versions": versions}


def sort_versions(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Newest first by date; ISO-8601 UTC strings sort as text."""
    return sorted(versions, key=lambda item: item["date"], reverse=True)


def merge_versions(*lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union of version lists (e.g. local and remote): earliest date wins, removed sticks."""
    merged: dict[str, dict[str, Any]] = {}
    for versions in lists:
        for item in versions:
            known = merged.get(item["version"])
            if known is None:
                merged[item["version"]] = dict(item)
            else:
                known["date"] = min(known["date"], item["date"])
                known["removed"] = known["removed"] or item["removed"]
    return sort_versions(list(merged.values()))


def versions_json(latest: str, versions: list[dict[str, Any]]) -> str:
    return json.dumps({"latest": latest, "versions": versions}, indent=2) + "\n"


# ---------------------------------------------------------------------------------------
# small HTML pages (no JavaScript, no external resources)


def _page(title: str, body: str, head: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n{head}</head>\n<body>\n{body}</body>\n</html>\n"
    )


def redirect_page(target: str, label: str) -> str:
    """A JS-free redirect: meta refresh for browsers, canonical link for crawlers."""
    url = html.escape(target, quote=True)
    head = f'<link rel="canonical" href="{url}">\n'
    head += f'<meta http-equiv="refresh" content="0; url={url}">\n'
    body = f'<p>Redirecting to <a href="{url}">{html.escape(label)}</a>.</p>\n'
    return _page(f"Redirecting to {label}", body, head)


def removed_page(version: str) -> str:
    """Stub left where a pruned version was, so its permalink still answers."""
    ver = html.escape(version)
    body = (
        f"<h1>Version {ver} was removed</h1>\n"
        "<p>Older versions of this manuscript are pruned to save space. "
        'Read the <a href="../latest/">latest version</a> or the '
        '<a href="../">list of versions</a>.</p>\n'
    )
    return _page(f"Version {version} removed", body)


def _display_date(iso: str) -> str:
    if not iso:
        return "date unknown"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def versions_index(latest: str, versions: list[dict[str, Any]]) -> str:
    """``v/index.html``: every version, newest first, with the date it was first added."""
    rows = []
    for item in sort_versions(versions):
        ver = html.escape(item["version"])
        href = html.escape(f"./{item['version']}/", quote=True)
        date = html.escape(_display_date(item["date"]))
        notes = []
        if item["version"] == latest:
            notes.append("latest")
        if item["removed"]:
            notes.append("removed")
        note = f" ({', '.join(notes)})" if notes else ""
        rows.append(
            f'<li><a href="{href}"><code>{ver}</code></a> '
            f'<time datetime="{html.escape(item["date"], quote=True)}">{date}</time>{note}</li>\n'
        )
    body = (
        "<h1>Manuscript versions</h1>\n"
        '<p><a href="./latest/">Latest version</a> · '
        '<a href="./freeze/">permanent link to the latest version</a></p>\n'
        f"<ol>\n{''.join(rows)}</ol>\n"
    )
    return _page("Manuscript versions", body)


# ---------------------------------------------------------------------------------------
# content-addressed store and hard links


def _sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _store_file(store: Path, source: Path) -> Path:
    """Put ``source`` into the store once; return the stored path."""
    stored = store / _sha256(source)
    if stored.exists():
        return stored
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=store)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        # Read-only: an in-place edit of one version would silently change all of them.
        os.chmod(tmp, 0o444)
        if stored.exists():  # another builder stored it meanwhile; keep its inode
            Path(tmp).unlink()
        else:
            os.replace(tmp, stored)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return stored


def _link(stored: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(stored, dest)
    except OSError as error:
        # A file system without hard links still gets a correct site, just a bigger one.
        logger.warning("hard link failed (%s); copying %s", error, dest)
        shutil.copyfile(stored, dest)


def _link_tree(src: Path, dest: Path) -> None:
    """Mirror an already-linked tree (``src`` files are store links) into ``dest``."""
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            _link(path, target)


def _swap_in(new: Path, final: Path) -> None:
    """Replace ``final`` (file or dir, may be absent) by ``new`` with renames only."""
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    if final.exists() or final.is_symlink():
        os.replace(final, old)
    os.replace(new, final)
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    elif old.exists() or old.is_symlink():
        old.unlink()


def _sources(output_dir: Path, assets: Iterable[Path]) -> dict[str, Path]:
    """Top-level names in a version directory → the file or directory to copy there."""
    html_file = output_dir / "manuscript.html"
    if not html_file.is_file():
        raise WebpageError("no manuscript.html to publish; build the manuscript first", html_file)
    sources = {"index.html": html_file}
    pdf = output_dir / "manuscript.pdf"
    if pdf.is_file():
        sources["manuscript.pdf"] = pdf
    else:
        logger.warning("no manuscript.pdf in %s; the website will have no PDF", output_dir)
    if (output_dir / "fonts").is_dir():  # the theme's fonts, linked as fonts/… by the page
        sources["fonts"] = output_dir / "fonts"
    for asset in assets:
        asset = Path(asset)
        name = asset.name
        if not asset.exists():
            raise WebpageError("asset to publish does not exist", asset)
        if name in sources or name in RESERVED_ROOT or name.startswith("."):
            raise WebpageError(f"asset name {name!r} clashes with a website file", asset)
        sources[name] = asset
    return sources


def _build_version_dir(store: Path, sources: Mapping[str, Path], dest: Path) -> None:
    dest.mkdir(parents=True)
    for name, source in sources.items():
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )
        for path in files:
            rel = Path(name) if source.is_file() else Path(name) / path.relative_to(source)
            _link(_store_file(store, path), dest / rel)


# ---------------------------------------------------------------------------------------
# the stage


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
    output_dir, webpage_dir = Path(output_dir), Path(webpage_dir)
    sources = _sources(output_dir, assets)
    now = (now or datetime.now(UTC)).astimezone(UTC)

    vdir = webpage_dir / "v"
    store = vdir / STORE
    store.mkdir(parents=True, exist_ok=True)
    info = read_versions(vdir / VERSIONS_JSON)
    versions: list[dict[str, Any]] = info["versions"]

    # Build beside the final place, then rename: a reader never sees a half-built version.
    staging = Path(tempfile.mkdtemp(prefix=f".build-{version}-", dir=vdir))
    try:
        _build_version_dir(store, sources, staging / version)
        _swap_in(staging / version, vdir / version)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.debug("website: added version %s", version)

    known = {item["version"]: item for item in versions}
    if version in known:  # rebuilt: keep the date it was first added
        known[version]["removed"] = False
    else:
        versions.append(
            {"version": version, "date": now.isoformat(timespec="seconds"), "removed": False}
        )
    versions = sort_versions(versions)
    # The version just built is the newest, whatever the dates say (e.g. a rebuild).
    versions.sort(key=lambda item: item["version"] != version)

    _publish_latest(webpage_dir, version)
    if prune_keep is not None:
        _prune(vdir, versions, prune_keep, version)
    write_text_atomic(vdir / "freeze" / "index.html", redirect_page(f"../{version}/", version))
    write_text_atomic(vdir / "index.html", versions_index(version, versions))
    write_text_atomic(vdir / VERSIONS_JSON, versions_json(version, versions))
    write_text_atomic(webpage_dir / ".nojekyll", "")
    _collect_garbage(store)
    return vdir / version


def _publish_latest(webpage_dir: Path, version: str) -> None:
    """Point ``v/latest/`` and the site root at ``v/<version>/``.

    ``latest`` is a directory of hard links, not a symlink: GitHub Pages does not follow
    symlinks reliably, and redirect pages would change the URL readers bookmark. Hard links
    to the store cost no disk space, and git stores each identical blob once on gh-pages.
    """
    vdir = webpage_dir / "v"
    latest = vdir / "latest"
    old_root_names = (
        {p.name for p in latest.iterdir()} if latest.is_dir() and not latest.is_symlink() else set()
    )
    staging = Path(tempfile.mkdtemp(prefix=".build-latest-", dir=vdir))
    try:
        _link_tree(vdir / version, staging / "latest")
        _swap_in(staging / "latest", latest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    # The root shows the manuscript itself (not a redirect) with its assets beside it, so
    # the relative links in index.html (images/...) work there as in v/<version>/.
    new_names = {p.name for p in latest.iterdir()}
    for name in sorted(old_root_names - new_names - RESERVED_ROOT):
        stale = webpage_dir / name
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale)
        else:
            stale.unlink(missing_ok=True)
    for name in sorted(new_names):
        staging = Path(tempfile.mkdtemp(prefix=".build-root-", dir=webpage_dir))
        try:
            source = latest / name
            if source.is_dir():
                _link_tree(source, staging / name)
            else:
                _link(source, staging / name)
            _swap_in(staging / name, webpage_dir / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _prune(vdir: Path, versions: list[dict[str, Any]], keep: int, current: str) -> None:
    """Keep the ``keep`` newest versions; leave a 'removed' page where the others were."""
    alive = [item for item in versions if not item["removed"]]
    for item in alive[keep:]:
        if item["version"] == current:  # never prune what we just published
            continue
        target = vdir / item["version"]
        staging = Path(tempfile.mkdtemp(prefix=".build-prune-", dir=vdir))
        try:
            write_text_atomic(staging / "stub" / "index.html", removed_page(item["version"]))
            _swap_in(staging / "stub", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        item["removed"] = True
        logger.info("website: pruned version %s", item["version"])


def _collect_garbage(store: Path) -> None:
    """Drop stored files that no version links to any more (link count 1 = the store's)."""
    for path in store.iterdir():
        if path.is_file() and path.stat().st_nlink == 1:
            path.unlink()
