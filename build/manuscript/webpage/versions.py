"""``v/versions.json``: which versions the website has, when each was added, which were pruned."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import WebpageError

VERSIONS_JSON = "versions.json"
# Names under v/ that a version may not take, and names at the site root we never overwrite.
RESERVED_VERSIONS = frozenset({"latest", "freeze", "index.html", VERSIONS_JSON})
RESERVED_ROOT = frozenset({"v", ".nojekyll", "README.md"})
_VERSION_RE = re.compile(r"[A-Za-z0-9._-]+")


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


def read_versions(path: Path) -> dict[str, Any]:
    """Load versions.json; a missing file is an empty site."""
    if not path.exists() and not path.is_symlink():
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
        latest = data.get("latest")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise WebpageError(f"cannot read the website's version list: {error}", path) from error
    return {"latest": latest, "versions": versions}


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
