"""A local stand-in for the citation services (doi.org, NCBI, arXiv) on 127.0.0.1.

The build reaches it through ``MANUSCRIPT_TEST_CITATION_SERVER``: every request
``https://HOST/PATH?Q`` arrives here as ``/HOST/PATH?Q``. A test scripts replies per
route, a substring of ``/HOST/PATH?Q`` (start it with ``/`` to anchor the host:
``/doi.org/…`` is not ``/shortdoi.org/…``); replies are served in order, the last repeating.
The server records every request and the most requests in flight per host at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the client's timeout: slow)
    truncate: bool = False  # promise more bytes than are sent, then close


def json_reply(data: object, **kwargs: object) -> Reply:
    return Reply(body=json.dumps(data).encode("utf-8"), **kwargs)  # type: ignore[arg-type]


class CitationServer:
    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency  # added to every reply (for concurrency tests)
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[str] = []
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, route: str, *replies: Reply) -> None:
        self.routes[route] = list(replies)

    def count(self, route: str) -> int:
        return sum(route in "/" + request for request in self.requests)

    def __enter__(self) -> CitationServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, target: str) -> Reply:
        with self._lock:
            matches = [route for route in self.routes if route in "/" + target]
            if not matches:
                return Reply(status=404, body=b"not found", content_type="text/plain")
            replies = self.routes[max(matches, key=len)]
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))  # a POST's body
                target = self.path.lstrip("/")
                host = target.split("/", 1)[0]
                with server._lock:
                    server.requests.append(target)
                    server.in_flight[host] += 1
                    server.max_in_flight[host] = max(server.max_in_flight[host],
                                                     server.in_flight[host])
                try:
                    self._answer(server._next_reply(target))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    with server._lock:
                        server.in_flight[host] -= 1

            do_POST = do_GET

            def _answer(self, reply: Reply) -> None:
                time.sleep(reply.delay + server.latency)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                length = len(reply.body) + (100 if reply.truncate else 0)
                self.send_header("Content-Length", str(length))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.truncate:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                self.wfile.write(reply.body)
                self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


def script_side_services(server: CitationServer) -> None:
    """What manubot also asks for a DOI: shortDOI and PubMed ids (answered quickly)."""
    server.script("www.ncbi.nlm.nih.gov/pmc/utils/idconv",
                  Reply(body=b'<pmcids><record status="error"/></pmcids>',
                        content_type="text/xml"))
    server.script("eutils.ncbi.nlm.nih.gov/entrez/eutils/esearch.fcgi",
                  Reply(body=b"<eSearchResult><IdList/></eSearchResult>",
                        content_type="text/xml"))
