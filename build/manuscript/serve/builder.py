"""The rebuild side of serve: one build at a time, its outcome recorded for the pages.

"Live reload that never serves a half-built page": the build takes the lock's
exclusive side only while it writes ``output/`` (its stages run beside the requests),
and requests read under the shared side. A failed build writes nothing, so the last
good page stays; its error goes into the overlay instead.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .. import log
from ..config import CONFIG_FILE, Config
from ..errors import ManuscriptError
from .page import Overlay, Status

logger = logging.getLogger(__name__)

Reconfigure = Callable[[], Config]  # the configuration as manuscript.toml now says


class ReadWriteLock:
    """Many readers or one writer. Writers go first, so a rebuild is not starved by
    a steady stream of requests (each of which holds the lock only to read a file)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class BuildCounter:
    """Successful builds, attempts and the overlay, changed together under one
    condition, so a page, its numbers and its overlay always agree. Long polls and
    tests wait on it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._status = Status()
        self.stopping = False

    @property
    def number(self) -> int:
        return self.current().number

    @property
    def attempts(self) -> int:
        return self.current().attempts

    def current(self) -> Status:
        with self._changed:
            return self._status

    def record(self, ok: bool, overlay: Overlay | None = None) -> None:
        with self._changed:
            old = self._status
            self._status = Status(old.number + ok, old.attempts + 1, overlay)
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopping = True
            self._changed.notify_all()  # long polls return now instead of after 30 s

    def wait_for_build(self, after: int, timeout: float) -> int:
        return self.wait_for_news(after, None, timeout).number

    def wait_for_attempt(self, after: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._status.attempts > after, timeout)

    def wait_for_news(self, build: int, attempt: int | None, timeout: float) -> Status:
        """The status once a build newer than ``build`` succeeded or (when ``attempt`` is
        given) a newer attempt ended, or after ``timeout``, or at shutdown."""
        def news() -> bool:
            status = self._status
            return (status.number > build or self.stopping
                    or (attempt is not None and status.attempts > attempt))

        with self._changed:
            self._changed.wait_for(news, timeout)
            return self._status


class Builder:
    """Builds the manuscript for serve and keeps what the pages must say about it."""

    def __init__(self, config: Config, reconfigure: Reconfigure) -> None:
        self.config = _live(config)
        self._reconfigure = reconfigure
        self._config_file = _config_file_bytes(config)
        self.lock = ReadWriteLock()
        self.status = BuildCounter()
        self.last_error: BaseException | None = None
        self.problems: list[str] = []  # what the last build warned about, as logged
        self.building = threading.Event()  # set while a build runs (shutdown waits for it)

    def rebuild(self) -> bool:
        """One build. Errors are logged, never raised: the last good outputs stay in
        place (the build writes only when all stages pass)."""
        kept = _WarningsKept()
        self.building.set()
        try:
            self._refresh_config()
            self._build(kept)
        except ManuscriptError as error:
            self.last_error = error
            logger.error("%s", error, exc_info=self.config.verbose,
                         extra=log.annotate(error.path, error.line))
        except Exception as error:  # a bug must not kill the watcher; the next edit retries
            self.last_error = error
            logger.error("build failed: %s", error, exc_info=True)
        else:
            self.last_error = None
        finally:
            self.building.clear()
        # Replayed warnings too: a skipped stage still warns.
        self.problems = kept.messages
        ok = self.last_error is None
        self.status.record(ok, self.overlay())
        return ok

    def overlay(self) -> Overlay | None:
        """The overlay's title and lines, or None when the last build was clean."""
        if self.last_error is not None:
            lines = str(self.last_error).splitlines() + self.problems
            return "The last build failed; this is the previous build.", lines
        if self.problems:
            return f"The last build warned ({len(self.problems)}):", self.problems
        return None

    def _refresh_config(self) -> None:
        """Read manuscript.toml again when it changed, as a new ``manuscript serve``
        would; an invalid one fails this build (and the next edit retries)."""
        current = _config_file_bytes(self.config)
        if current == self._config_file:
            return
        self.config = _live(self._reconfigure())
        self._config_file = current
        logger.info("%s changed: configuration read again", CONFIG_FILE)

    def _build(self, kept: _WarningsKept) -> None:
        from ..build import build

        # Count this build's warnings only (for --strict), not the whole session's.
        package_logger = logging.getLogger("manuscript")
        package_logger.addHandler(kept)
        try:
            # Requests wait only while build() writes, not while its stages run.
            # A fresh copy per build: a fresh door to the network (config.network), so a
            # host that failed is asked again by the next build, not never in the session.
            config = dataclasses.replace(self.config)
            try:
                build(config, warning_count=lambda: kept.count, writing=self.lock.exclusive)
            finally:
                config.network.report()
        finally:
            package_logger.removeHandler(kept)


def _live(config: Config) -> Config:
    """Live rebuilds skip the PDF: it is the slow stage and the browser shows the HTML."""
    return dataclasses.replace(config, pdf=False)


def _config_file_bytes(config: Config) -> bytes | None:
    try:
        return (config.root / CONFIG_FILE).read_bytes()
    except FileNotFoundError:
        return None
    except OSError:  # unreadable: let make_config say why, in the build's error
        return b""


class _WarningsKept(log.CountingHandler):
    """Counts this build's warnings (for --strict) and keeps their text (for the overlay)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self.messages.append(record.getMessage())
