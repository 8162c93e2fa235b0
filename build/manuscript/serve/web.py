"""The HTTP side of serve: files from ``output/``, the reload long poll, the overlay.

A ``ThreadingHTTPServer`` from the standard library: one thread per request, so a
browser's pending long poll never holds up the page's other requests.
"""

from __future__ import annotations

import ipaddress
import logging
import mimetypes
import socket
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from ..config import Config
from .page import LIVERELOAD_PATH, Status, inject, no_page

logger = logging.getLogger(__name__)

INDEX = "manuscript.html"
_TEXT = "text/plain; charset=utf-8"
_HTML = "text/html; charset=utf-8"


class Found(NamedTuple):
    """A served file's bytes, and the status of the build they belong to."""

    path: Path
    data: bytes
    status: Status


class App(Protocol):
    """What the handler needs of the server (serve.Server)."""

    def read(self, url_path: str) -> Found | None: ...

    def status(self) -> Status: ...

    def wait_for_news(self, build: int, attempt: int | None) -> Status: ...


def resolve_url(config: Config, url_path: str) -> Path | None:
    """The file a URL path names inside ``output/``, or None (→ 404)."""
    # Decode first, then judge the segments, so %2e%2e and %2f cannot sneak past.
    parts = [p for p in unquote(url_path, errors="strict").split("/") if p]
    if any(p in (".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        return None  # also hides .build-state.json and the build's scratch files
    root = config.output_dir
    path = root.joinpath(*parts)
    if path.is_dir():
        path = path / (INDEX if path == root else "index.html")
    if not path.is_file():
        return None
    # Symlinks may leave output/ only for the images folder that build links there.
    real = path.resolve()
    allowed = (root.resolve(), (config.content_dir / "images").resolve())
    if not any(real.is_relative_to(a) for a in allowed):
        return None
    return path


LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")


def allowed_host(host: str | None, address: tuple, listen_name: str = "") -> bool:
    """``Host`` is ``localhost`` or an IP address (``127.0.0.1``, ``[::1]``, the bound
    address, this machine's address on the network when bound to 0.0.0.0), with the
    server's port (or none, for port 80).

    DNS rebinding needs a *name* (the attacker's, made to resolve here): a browser that
    sends an IP address as Host connected to that address itself, and the page it shows
    comes from here. Any other name is a page elsewhere that had its name point here,
    except the name serve was told to listen on (``--host my-laptop.local``).
    """
    if not host:
        return False
    port = int(address[1])
    host = host.strip().lower()
    name, separator, given_port = host.rpartition(":")
    if not separator or name.endswith(("[", ":")):
        name, given_port = host, ""  # no port (an IPv6 literal has ':' inside [ ])
    if given_port != (str(port) if given_port or port != 80 else ""):
        return False
    if name in LOCAL_NAMES or (listen_name and name == listen_name.strip().lower()):
        return True
    literal = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    if ":" in literal and not name.startswith("["):
        return False  # an IPv6 address in Host is always in brackets
    try:
        ipaddress.ip_address(literal)
    except ValueError:
        return False
    return True


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # a browser's pending long poll must not hold up shutdown

    def __init__(self, address: tuple[str, int], app: App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.listen_name = address[0]  # as given: server_address holds the address
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: HTTPServer

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        if not self._host_allowed():
            # DNS rebinding: a web page on attacker.example whose name now resolves to
            # 127.0.0.1 reaches this server as its own origin, and could read the draft.
            # Its requests carry its own name in Host; only ours are served.
            self._send(HTTPStatus.FORBIDDEN, b"unknown Host\n", _TEXT, send_body)
            return
        url = urlsplit(self.path)
        if url.path == LIVERELOAD_PATH:
            self._livereload(url.query, send_body)
            return
        found = self.server.app.read(url.path)
        if found is None:
            self._not_found(url.path, send_body)
            return
        ctype = mimetypes.guess_type(found.path.name)[0] or "application/octet-stream"
        if ctype == "text/html":
            self._send(HTTPStatus.OK, inject(found.data, found.status), _HTML, send_body)
        else:
            self._send(HTTPStatus.OK, found.data, ctype, send_body)

    def _host_allowed(self) -> bool:
        """Whether Host is a local name or the bound address, with the bound port."""
        return allowed_host(self.headers.get("Host"), self.server.server_address,
                            self.server.listen_name)

    def _not_found(self, url_path: str, send_body: bool) -> None:
        if url_path in ("/", f"/{INDEX}"):
            # No page yet (the first build failed): say why, and reload when one is made.
            status = self.server.app.status()
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, no_page(status), _HTML, send_body)
            return
        self._send(HTTPStatus.NOT_FOUND, b"not found\n", _TEXT, send_body)

    def _livereload(self, query: str, send_body: bool) -> None:
        """Answer when the page asking is out of date (200), or after a while (204)."""
        asked = parse_qs(query)
        try:
            build = int(asked.get("v", [""])[0])
            attempt = int(asked["a"][0]) if "a" in asked else None
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, b"v=<build number> required\n", _TEXT,
                       send_body)
            return
        # Waits on a Condition (no lock on output/ held), so builds proceed meanwhile.
        status = self.server.app.wait_for_news(build, attempt)
        if status.number > build or (attempt is not None and status.attempts > attempt):
            self._send(HTTPStatus.OK, f"{status.number}\n".encode(), _TEXT, send_body)
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
