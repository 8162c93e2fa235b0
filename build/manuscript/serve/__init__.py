"""``manuscript serve``: build, serve ``output/``, rebuild on change, reload the browser.

In the spirit of mkdocs' livereload, standard library only, in three parts that
``Server`` puts together:

* ``watch``: a thread polls the sources the Config lists (``content/``,
  ``manuscript.toml``, ``build/theme``, ``build/pandoc/defaults``, ``build/assets``,
  template-variable files) and, once they stop changing, asks for a rebuild;
* ``builder``: builds one at a time and records each outcome (build number, attempts,
  the overlay); a read/write lock keeps requests from reading ``output/`` while a build
  writes it, so no page is ever half-built;
* ``web``: a ``ThreadingHTTPServer`` serves ``output/`` with the reload script and the
  problems overlay (``page``) added, and answers the live-reload long poll.

We serve ``output/`` rather than ``webpage/``: it holds exactly the page being edited
(``manuscript.html``, shown at ``/``), and its ``images`` symlink makes the page's relative
image paths work. ``webpage/`` adds versioned copies and a redirecting index, which only
adds a hop and a second copy that can lag behind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from ..config import Config, make_config
from ..errors import ManuscriptError
from .builder import BuildCounter, Builder, ReadWriteLock, Reconfigure
from .page import LIVERELOAD_PATH, Status
from .watch import DEBOUNCE_SECONDS, POLL_SECONDS, Snapshot, Watcher, snapshot
from .web import INDEX, Found, HTTPServer, resolve_url

__all__ = ["DEBOUNCE_SECONDS", "INDEX", "LIVERELOAD_PATH", "LONG_POLL_SECONDS",
           "POLL_SECONDS", "BuildCounter", "ReadWriteLock", "Server", "serve", "snapshot"]

logger = logging.getLogger(__name__)

LONG_POLL_SECONDS = 30.0  # a live-reload request returns 204 after this; the page re-polls


class Server:
    """The live-reload server. ``start()`` builds once and starts the threads;
    ``shutdown()`` stops them. The socket is bound in the constructor, so ``port`` is
    known (also when 0 asked for a free one) before anything else happens.

    ``reconfigure`` makes the Config again when manuscript.toml changes (default: from
    the manuscript's root, environment and verbosity, as the command line does).
    """

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 8000, *,
                 reconfigure: Reconfigure | None = None) -> None:
        self.builder = Builder(config, reconfigure or _reread(config))
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watcher = Watcher(self.watched, self.rebuild, self._stopping)
        try:
            self.httpd = HTTPServer((host, port), self)
        except OSError as error:
            raise ManuscriptError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        self.host = host
        self.port: int = self.httpd.server_address[1]

    # --- state, as the builder keeps it -------------------------------------------------

    @property
    def config(self) -> Config:
        return self.builder.config

    @property
    def builds(self) -> BuildCounter:
        return self.builder.status

    @property
    def last_error(self) -> BaseException | None:
        return self.builder.last_error

    @property
    def build_number(self) -> int:
        return self.builds.number

    @property
    def build_attempts(self) -> int:
        return self.builds.attempts

    def status(self) -> Status:
        return self.builds.current()

    def wait_for_build(self, after: int, timeout: float) -> int:
        """Block until the build number exceeds ``after`` (or timeout, or shutdown)."""
        return self.builds.wait_for_build(after, timeout)

    def wait_for_attempt(self, after: int, timeout: float) -> bool:
        """Block until more than ``after`` builds were tried, failed or not (for tests)."""
        return self.builds.wait_for_attempt(after, timeout)

    def wait_for_news(self, build: int, attempt: int | None) -> Status:
        """The long poll: block until the page that showed ``build`` (and ``attempt``)
        is out of date, for at most LONG_POLL_SECONDS."""
        return self.builds.wait_for_news(build, attempt, LONG_POLL_SECONDS)

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        # Snapshot before the first build: an edit made while it runs triggers a rebuild.
        first = self.snapshot()
        self.rebuild()
        self._start_thread("manuscript-http", self.httpd.serve_forever)
        self._start_thread("manuscript-watch", lambda: self._watcher.run(first))

    def _start_thread(self, name: str, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def shutdown(self) -> None:
        self._stopping.set()
        self.builds.stop()
        if self._threads:
            self.httpd.shutdown()  # only valid while serve_forever runs in another thread
        self.httpd.server_close()
        if self.builder.building.is_set():
            # The watcher ends the build it runs (which writes output/ last): say why we wait.
            logger.info("stopping once the build in progress ends "
                        "(Ctrl-C again to quit without waiting)")
        for thread in self._threads:
            thread.join()

    # --- building -----------------------------------------------------------------------

    def rebuild(self) -> bool:
        """One build; errors are logged and shown in the overlay, never raised."""
        ok = self.builder.rebuild()
        if ok:
            logger.info("build %d ready at http://%s:%d/", self.build_number,
                        self.host, self.port)
        return ok

    def watched(self) -> tuple[Path, ...]:
        return self.config.source_locations()

    def snapshot(self) -> Snapshot:
        return self._watcher.snapshot()

    # --- serving ------------------------------------------------------------------------

    def read(self, url_path: str) -> Found | None:
        """A file's bytes and the status of the build they belong to, read under the
        shared lock so that a page and its number always match (and no build is
        half-way through writing)."""
        with self.builder.lock.shared():
            try:
                path = resolve_url(self.config, url_path)
                if path is None:
                    return None
                return Found(path, path.read_bytes(), self.status())
            except (OSError, UnicodeDecodeError):
                return None


def _reread(config: Config) -> Reconfigure:
    """The Config as the command line makes it for serve (which takes no build options)."""
    return lambda: make_config(config.root, verbose=config.verbose, env=config.env)


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000, *,
          ready: threading.Event | None = None, stop: threading.Event | None = None) -> None:
    """Build, then serve and rebuild until ``stop`` is set (or Ctrl-C)."""
    server = Server(config, host, port)
    try:
        server.start()
        logger.info("serving %s at http://%s:%d/ (Ctrl-C to stop)",
                    server.config.output_dir.relative_to(server.config.root), host, server.port)
        if ready is not None:
            ready.set()
        # Event.wait without a timeout stays interruptible by Ctrl-C in the main thread.
        (stop or threading.Event()).wait()
    finally:
        server.shutdown()
