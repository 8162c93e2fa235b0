"""Links: internal ones (``[text](#anchor)``) must name an anchor the page has;
external ones are checked only when asked (``manuscript check --links``), since
that takes the network: through the door (network.py: redirects checked hop by hop, a
host that cannot be reached asked once), HEAD (GET where HEAD is refused), a short
timeout, a few at a time, good answers remembered for a week in ``ci/cache/links.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

from ..fsutil import read_json_state, write_text_atomic
from ..problems import Problem
from .markdown import Link, Scan

if TYPE_CHECKING:
    from ..network import Door

logger = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds per request
CONCURRENCY = 4  # requests in flight: polite to the hosts a manuscript names
CACHE_DAYS = 7  # a link that worked is not asked again for a week
CACHE_FILE = "links.json"
# Ids the page has that no section writes: pandoc's reference list, the theme's parts.
PAGE_ANCHORS = frozenset({"refs", "title-block-header", "abstract", "references"})


def check_internal(scan: Scan) -> list[Problem]:
    known = scan.anchors | PAGE_ANCHORS
    problems = []
    for link in scan.links:
        if link.target.startswith("#") and len(link.target) > 1:
            anchor = unquote(link.target[1:])
            if anchor not in known:
                problems.append(_at(link, "error", "link-anchor-missing",
                                    f"link to #{anchor}, which no heading, label or id in "
                                    "the manuscript defines"))
    return problems


def external(scan: Scan) -> list[Link]:
    return [link for link in scan.links if link.target.startswith(("http://", "https://"))]


def check_external(links: Iterable[Link], cache_dir: Path, door: Door,
                   today: date | None = None) -> list[Problem]:
    """One ``link-broken`` error per place whose URL does not answer 2xx/3xx."""
    links = list(links)
    today = today or date.today()
    cache = _Cache.load(cache_dir / CACHE_FILE, today)
    urls = [url for url in dict.fromkeys(link.target for link in links) if not cache.fresh(url)]
    with ThreadPoolExecutor(max_workers=CONCURRENCY, thread_name_prefix="links") as pool:
        results = dict(zip(urls, pool.map(lambda url: door.probe(url, timeout=TIMEOUT), urls),
                           strict=True))
    for url, problem in results.items():
        if problem is None:
            cache.good(url)
    cache.save()
    cached = len({link.target for link in links}) - len(urls)
    logger.info("links: %d checked, %d answered recently (%s)", len(urls), cached,
                cache.path.name)
    return [_at(link, "error", "link-broken", f"{link.target}: {results[link.target]}")
            for link in links if results.get(link.target)]


class _Cache:
    """``{"url": "YYYY-MM-DD"}``: when each URL last answered."""

    def __init__(self, path: Path, entries: dict[str, str], today: date) -> None:
        self.path, self.entries, self.today = path, entries, today
        self.changed = False

    @classmethod
    def load(cls, path: Path, today: date) -> _Cache:
        data = read_json_state(path, "links are checked again")
        entries = {k: v for k, v in data.items() if isinstance(v, str)} \
            if isinstance(data, dict) else {}
        return cls(path, entries, today)

    def fresh(self, url: str) -> bool:
        try:
            checked = date.fromisoformat(self.entries.get(url, ""))
        except ValueError:
            return False
        return self.today - checked < timedelta(days=CACHE_DAYS)

    def good(self, url: str) -> None:
        self.entries[url] = self.today.isoformat()
        self.changed = True

    def save(self) -> None:
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.entries, indent=1, sort_keys=True)
                              + "\n")


def _at(link: Link, severity: str, code: str, message: str) -> Problem:
    place = link.place
    return Problem(place.path, place.line, place.col, severity, code,  # type: ignore[arg-type]
                   message)
