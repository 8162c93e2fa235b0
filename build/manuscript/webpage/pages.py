"""The website's small HTML pages: no JavaScript, no external resources."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any

from .versions import sort_versions


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
