"""What changed in the sources: polled snapshots, debounced.

Polling (path, mtime_ns, size) needs no platform-specific notification API and is
cheap for the few dozen files a manuscript has.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the watcher compares snapshots
DEBOUNCE_SECONDS = 0.2  # wait for the sources to settle: editors save in several writes

Snapshot = frozenset[tuple[str, int, int]]


def snapshot(locations: Iterable[Path]) -> Snapshot:
    """(path, mtime_ns, size) of every file under ``locations`` (files or folders)."""
    entries: set[tuple[str, int, int]] = set()
    for path in _files(locations):
        try:
            st = path.stat()
        except OSError:  # missing (optional folders) or deleted mid-walk
            continue
        entries.add((str(path), st.st_mtime_ns, st.st_size))
    return frozenset(entries)


def _files(locations: Iterable[Path]) -> Iterable[Path]:
    for top in locations:
        paths = [top]
        if top.is_dir():
            paths = [Path(d) / f for d, _, files in os.walk(top) for f in files]
        # Editor swap and backup files come and go while typing; ignore them.
        yield from (p for p in paths
                    if not (p.name.startswith((".", "#")) or p.name.endswith("~")))


class Watcher:
    """Calls ``on_change`` once the sources changed and then stopped changing.

    ``locations`` is asked anew on every poll: what a build reads can change with the
    configuration (a template-variables file named in manuscript.toml).
    """

    def __init__(self, locations: Callable[[], Iterable[Path]],
                 on_change: Callable[[], object], stopping: threading.Event) -> None:
        self._locations = locations
        self._on_change = on_change
        self._stopping = stopping

    def snapshot(self) -> Snapshot:
        return snapshot(self._locations())

    def run(self, previous: Snapshot) -> None:
        """Poll until ``stopping`` is set. ``previous`` is what the last build read."""
        while not self._stopping.wait(POLL_SECONDS):
            current = self.snapshot()
            if current == previous:
                continue
            current = self._settle(current)
            if self._stopping.is_set():
                return
            logger.info("change detected, rebuilding")
            # Compare the next poll with what this build read, so an edit made while it
            # runs is not lost; a failed build is retried on the next change.
            previous = current
            self._on_change()

    def _settle(self, current: Snapshot) -> Snapshot:
        """Debounce: wait until the sources stop changing, not rebuild on each write."""
        while not self._stopping.wait(DEBOUNCE_SECONDS):
            settled = self.snapshot()
            if settled == current:
                break
            current = settled
        return current
