"""A hostile web host on 127.0.0.1 for the network door's tests (tests/test_network.py,
tests/bad_inputs/cases_network.py): slow, huge, redirecting and silent answers.

Routes (any query string is ignored unless said):

* ``/png`` — a small PNG image.
* ``/canary`` — text holding ``CANARY`` (what a redirect to an internal address reads).
* ``/redirect?to=URL`` — 302 to ``URL``.
* ``/trickle/NAME`` (or any path holding ``/trickle/``: a citation lookup's) — 200 with
  headers at once, then one byte a second, for ever.
* ``/trickle-headers`` — the status line and headers one byte a second.
* ``/huge`` — 300 MB of PNG-looking bytes without a Content-Length, written from one
  1 MB buffer (never allocated in full); ``/huge-declared`` says its length.
* anything else — accepted and never answered (the client's timeout is what ends it);
  ``silent`` counts such requests by the first path segment (the original host when the
  build sends citation lookups here through ``MANUSCRIPT_TEST_CITATION_SERVER``).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import Counter
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CANARY = b"CANARY-internal-4f1d9e"
_CHUNK = b"\0" * 2**20
HUGE = 300 * 2**20


def png() -> bytes:
    """A one-pixel PNG, made here (no file needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0\xff\0\0")) + chunk(b"IEND", b""))


class HostileServer:
    def __init__(self) -> None:
        self.silent: Counter[str] = Counter()
        self.requests: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with server._lock:
                    server.requests.append(self.path)
                with suppress(OSError):  # the client gave up: what it should do
                    self._route(parts.path, parse_qs(parts.query))

            def _route(self, path: str, query: dict[str, list[str]]) -> None:
                if path == "/png":
                    self._send(200, png(), "image/png")
                elif path == "/canary":
                    self._send(200, CANARY * 100, "image/png")
                elif path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.end_headers()
                elif "/trickle/" in path:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()
                    self.wfile.flush()
                    self._trickle(b"<" + b"x" * 10**6)
                elif path == "/trickle-headers":
                    self._trickle(b"HTTP/1.0 200 OK\r\nX-Slow: " + b"y" * 10**6)
                elif path in ("/huge", "/huge-declared"):
                    self.send_response(200)
                    self.send_header("Content-Type", "image/png")
                    if path == "/huge-declared":
                        self.send_header("Content-Length", str(HUGE))
                    self.end_headers()
                    self.wfile.write(png()[:16])
                    for _ in range(HUGE // len(_CHUNK)):
                        self.wfile.write(_CHUNK)
                else:
                    with server._lock:
                        server.silent[path.strip("/").split("/", 1)[0]] += 1
                    server.stop.wait(600)  # accepted, never answered

            def _trickle(self, data: bytes) -> None:
                for index in range(len(data)):
                    if server.stop.is_set():
                        return
                    self.wfile.write(data[index:index + 1])
                    self.wfile.flush()
                    time.sleep(1)

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


_shared: HostileServer | None = None


def shared() -> HostileServer:
    """One server for the process (the bad-input rows start it when they need it)."""
    global _shared
    if _shared is None:
        _shared = HostileServer().__enter__()
    return _shared
