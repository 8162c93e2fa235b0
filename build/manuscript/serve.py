"""``manuscript serve``: build, serve ``output/``, rebuild on change, reload the browser.

A small, separate piece in the spirit of mkdocs' livereload, standard library only:

* one watcher thread polls the sources the Config lists (``content/``, ``manuscript.toml``,
  ``build/theme``, ``build/pandoc/defaults``, ``build/assets``, template-variable files)
  by (path, mtime_ns, size) snapshots — polling
  needs no platform-specific notification API and is cheap for a few dozen files;
* a ``ThreadingHTTPServer`` serves ``output/`` and answers the live-reload long poll;
* a read/write lock keeps requests from reading ``output/`` while a build writes it.

We serve ``output/`` rather than ``webpage/``: it holds exactly the page being edited
(``manuscript.html``, shown at ``/``), and its ``images`` symlink makes the page's relative
image paths work. ``webpage/`` adds versioned copies and a redirecting index, which only
adds a hop and a second copy that can lag behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import mimetypes
import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import csp, log
from .config import Config
from .errors import ManuscriptError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often the watcher compares snapshots
DEBOUNCE_SECONDS = 0.2  # wait for the sources to settle: editors save in several writes
LONG_POLL_SECONDS = 30.0  # a live-reload request returns 204 after this; the page re-polls
LIVERELOAD_PATH = "/__livereload"
INDEX = "manuscript.html"

# Added to HTML responses only (never written to disk). A 200 means a newer build exists;
# a 204 means nothing changed yet; a network error means the server is restarting.
_SCRIPT = """<script>
(function () {
  var v = %d;
  function poll() {
    fetch("%s?v=" + v, {cache: "no-store"}).then(function (r) {
      if (r.status === 200) { location.reload(); } else { poll(); }
    }, function () { setTimeout(poll, 2000); });
  }
  poll();
})();
</script>
"""

# The last build's problems over the page (never in output/): a fixed, dismissible box.
# Built with DOM calls and CSSOM styles, which the page's CSP (script hashes, no inline
# styles) allows; the problems are JSON data, shown as text, never parsed as HTML.
_OVERLAY = """<script>
(function () {
  var report = %s;
  var box = document.createElement("section");
  box.id = "manuscript-problems";
  box.setAttribute("role", "alert");
  var s = box.style;
  s.position = "fixed"; s.right = "1rem"; s.bottom = "1rem"; s.zIndex = "2147483647";
  s.maxWidth = "min(48rem, calc(100vw - 2rem))"; s.maxHeight = "50vh"; s.overflow = "auto";
  s.background = "#fff8e1"; s.color = "#1a1a1a"; s.border = "2px solid #b71c1c";
  s.borderRadius = "6px"; s.padding = "0.75rem 1rem"; s.boxShadow = "0 4px 16px #0004";
  s.font = "13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
  var close = document.createElement("button");
  close.type = "button"; close.textContent = "\u00d7"; close.title = "Dismiss";
  close.setAttribute("aria-label", "Dismiss");
  close.style.float = "right"; close.style.font = "inherit"; close.style.cursor = "pointer";
  close.addEventListener("click", function () { box.remove(); });
  var title = document.createElement("strong");
  title.textContent = report.title;
  var list = document.createElement("ul");
  list.style.margin = "0.5rem 0 0"; list.style.paddingLeft = "1.25rem";
  report.problems.forEach(function (text) {
    var item = document.createElement("li");
    item.textContent = text;
    item.style.whiteSpace = "pre-wrap";
    list.appendChild(item);
  });
  box.append(close, title, list);
  document.body.appendChild(box);
})();
</script>
"""


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


Snapshot = frozenset[tuple[str, int, int]]


def snapshot(locations: Iterable[Path]) -> Snapshot:
    """(path, mtime_ns, size) of every file under ``locations`` (files or folders)."""
    entries: set[tuple[str, int, int]] = set()
    for top in locations:
        paths = [top]
        if top.is_dir():
            paths = [Path(d) / f for d, _, files in os.walk(top) for f in files]
        for path in paths:
            # Editor swap and backup files come and go while typing; ignore them.
            if path.name.startswith((".", "#")) or path.name.endswith("~"):
                continue
            try:
                st = path.stat()
            except OSError:  # missing (optional folders) or deleted mid-walk
                continue
            entries.add((str(path), st.st_mtime_ns, st.st_size))
    return frozenset(entries)


class BuildCounter:
    """Successful builds and attempts; long polls and tests wait on it."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._number = 0  # successful builds; pages embed it, long polls compare it
        self._attempts = 0
        self.stopping = False

    @property
    def number(self) -> int:
        with self._changed:
            return self._number

    @property
    def attempts(self) -> int:
        with self._changed:
            return self._attempts

    def record(self, ok: bool) -> None:
        with self._changed:
            self._number += ok
            self._attempts += 1
            self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopping = True
            self._changed.notify_all()  # long polls return now instead of after 30 s

    def wait_for_build(self, after: int, timeout: float) -> int:
        with self._changed:
            self._changed.wait_for(lambda: self._number > after or self.stopping, timeout)
            return self._number

    def wait_for_attempt(self, after: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._attempts > after, timeout)


class Server:
    """The live-reload server. ``start()`` builds once and starts the threads;
    ``shutdown()`` stops them. The socket is bound in the constructor, so ``port`` is
    known (also when 0 asked for a free one) before anything else happens."""

    def __init__(self, config: Config, host: str = "127.0.0.1", port: int = 8000) -> None:
        # Live rebuilds skip the PDF: it is the slow stage and the browser shows the HTML.
        self.config = dataclasses.replace(config, pdf=False)
        self.lock = ReadWriteLock()
        self.builds = BuildCounter()
        self.last_error: BaseException | None = None
        self.problems: list[str] = []  # what the last build warned about, as logged
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        try:
            self.httpd = _HTTPServer((host, port), _Handler, self)
        except OSError as error:
            raise ManuscriptError(f"cannot listen on {host}:{port}: {error.strerror}") from None
        self.host = host
        self.port: int = self.httpd.server_address[1]

    @property
    def build_number(self) -> int:
        return self.builds.number

    @property
    def build_attempts(self) -> int:
        return self.builds.attempts

    def wait_for_build(self, after: int, timeout: float) -> int:
        """Block until the build number exceeds ``after`` (or timeout, or shutdown)."""
        return self.builds.wait_for_build(after, timeout)

    def wait_for_attempt(self, after: int, timeout: float) -> bool:
        """Block until more than ``after`` builds were tried, failed or not (for tests)."""
        return self.builds.wait_for_attempt(after, timeout)

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        # Snapshot before the first build: an edit made while it runs triggers a rebuild.
        first = self.snapshot()
        self.rebuild()
        self._start_thread("manuscript-http", self.httpd.serve_forever)
        self._start_thread("manuscript-watch", lambda: self._watch(first))

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
        for thread in self._threads:
            thread.join()  # the watcher may wait for a build in progress to finish

    # --- building ---------------------------------------------------------------------

    def rebuild(self) -> bool:
        """One build. Errors are logged, never raised: the last good outputs stay in
        place (the build writes only when all stages pass)."""
        ok = False
        try:
            self._build()
            ok = True
        except ManuscriptError as error:
            self.last_error = error
            logger.error("%s", error, exc_info=self.config.verbose,
                         extra=log.annotate(error.path, error.line))
        except Exception as error:  # a bug must not kill the watcher; the next edit retries
            self.last_error = error
            logger.error("build failed: %s", error, exc_info=True)
        self.builds.record(ok)
        if ok:
            self.last_error = None
            logger.info("build %d ready at http://%s:%d/", self.build_number,
                        self.host, self.port)
        return ok

    def _build(self) -> None:
        from .build import build

        # Count this build's warnings only (for --strict), not the whole session's; keep
        # their text for the overlay (replayed ones too: a skipped stage still warns).
        counter = _WarningsKept()
        package_logger = logging.getLogger("manuscript")
        package_logger.addHandler(counter)
        try:
            # Requests wait only while build() writes, not while its stages run.
            build(self.config, warning_count=lambda: counter.count,
                  writing=self.lock.exclusive)
        finally:
            package_logger.removeHandler(counter)
            self.problems = counter.messages

    def overlay(self) -> tuple[str, list[str]] | None:
        """The overlay's title and lines, or None when the last build was clean."""
        if self.last_error is not None:
            lines = str(self.last_error).splitlines() + self.problems
            return "The last build failed; this is the previous build.", lines
        if self.problems:
            return f"The last build warned ({len(self.problems)}):", self.problems
        return None

    def watched(self) -> tuple[Path, ...]:
        return self.config.source_locations()

    def snapshot(self) -> Snapshot:
        return snapshot(self.watched())

    def _watch(self, previous: Snapshot) -> None:
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
            self.rebuild()

    def _settle(self, current: Snapshot) -> Snapshot:
        """Debounce: wait until the sources stop changing, not rebuild on each write."""
        while not self._stopping.wait(DEBOUNCE_SECONDS):
            settled = self.snapshot()
            if settled == current:
                break
            current = settled
        return current

    # --- serving ----------------------------------------------------------------------

    def resolve(self, url_path: str) -> Path | None:
        """The file a URL path names inside the served folder, or None (→ 404)."""
        # Decode first, then judge the segments, so %2e%2e and %2f cannot sneak past.
        parts = [p for p in unquote(url_path, errors="strict").split("/") if p]
        if any(p in (".", "..") or p.startswith(".") or "\\" in p or "\0" in p
               for p in parts):
            return None  # also hides .build-state.json and the build's scratch files
        root = self.config.output_dir
        path = root.joinpath(*parts)
        if path.is_dir():
            path = path / (INDEX if path == root else "index.html")
        if not path.is_file():
            return None
        # Symlinks may leave output/ only for the images folder that build links there.
        real = path.resolve()
        allowed = (root.resolve(), (self.config.content_dir / "images").resolve())
        if not any(real.is_relative_to(a) for a in allowed):
            return None
        return path

    def read(self, url_path: str) -> tuple[Path, bytes, int] | None:
        """A file's bytes and the build number they belong to, read under the shared lock
        so that a page and its number always match (and no build is half-way through)."""
        with self.lock.shared():
            try:
                path = self.resolve(url_path)
                if path is None:
                    return None
                return path, path.read_bytes(), self.build_number
            except (OSError, UnicodeDecodeError):
                return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a browser's pending long poll must not hold up shutdown

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 app: Server) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        if url.path == LIVERELOAD_PATH:
            self._livereload(app, url.query, send_body)
            return
        found = app.read(url.path)
        if found is None:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8",
                       send_body)
            return
        path, data, number = found
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if ctype == "text/html":
            ctype = "text/html; charset=utf-8"
            data = _inject(data, number, app.overlay())
        self._send(HTTPStatus.OK, data, ctype, send_body)

    def _livereload(self, app: Server, query: str, send_body: bool) -> None:
        try:
            seen = int(parse_qs(query).get("v", [""])[0])
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, b"v=<build number> required\n",
                       "text/plain; charset=utf-8", send_body)
            return
        # Waits on a Condition (no lock on output/ held), so builds proceed meanwhile.
        number = app.wait_for_build(seen, LONG_POLL_SECONDS)
        if number > seen:
            self._send(HTTPStatus.OK, f"{number}\n".encode(), "text/plain; charset=utf-8",
                       send_body)
        else:
            self._send(HTTPStatus.NO_CONTENT, b"", None, send_body)

    def _send(self, status: HTTPStatus, data: bytes, ctype: str | None,
              send_body: bool) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Length", str(len(data)))
        # Every reload must show the latest build, never a cached copy.
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body and data:
            # The browser may have gone away (e.g. it reloaded); nothing to do then.
            with suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)


def _inject(html: bytes, number: int, overlay: tuple[str, list[str]] | None = None) -> bytes:
    scripts = [_SCRIPT % (number, LIVERELOAD_PATH)]
    if overlay is not None:
        title, problems = overlay
        # JSON in a script: "<" escaped so no text can close the element early.
        data = json.dumps({"title": title, "problems": problems}).replace("<", "\\u003c")
        scripts.append(_OVERLAY % data)
    text = html.decode("utf-8")
    for script in scripts:
        text = csp.allow_inline_script(text, script.split(">", 1)[1].rsplit("</script>", 1)[0])
    added = "".join(scripts).encode("utf-8")
    page = text.encode("utf-8")
    at = page.lower().rfind(b"</body>")
    if at < 0:
        return page + added
    return page[:at] + added + page[at:]


class _WarningsKept(log.CountingHandler):
    """Counts this build's warnings (for --strict) and keeps their text (for the overlay)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        super().emit(record)
        self.messages.append(record.getMessage())


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

