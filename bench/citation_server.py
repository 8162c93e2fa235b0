"""A local stand-in for the citation services (doi.org, NCBI, arXiv) on 127.0.0.1.

The build reaches it through ``MANUSCRIPT_TEST_CITATION_SERVER``: every request
``https://HOST/PATH?Q`` arrives here as ``/HOST/PATH?Q``. A test scripts replies per
route, a substring of ``/HOST/PATH?Q`` (start it with ``/`` to anchor the host:
``/doi.org/…`` is not ``/shortdoi.org/…``); replies are served in order, the last repeating.
A route not scripted goes to ``fallback`` (the benchmark's whole simulated service), else 404.
``Faults`` makes some answers fail, decided by a seed, the request and its attempt number,
so a run is reproducible however the client orders its requests.
The server records every request and the most requests in flight per host at once.

Used by the tests (``tests/citation_server.py`` re-exports it) and by ``python -m bench``.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

__all__ = ["CitationServer", "Faults", "Reply", "arxiv_atom", "doi_csl", "json_reply",
           "pubmed_article", "pubmed_set", "pubmed_xml", "script_side_services"]


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


@dataclass(frozen=True)
class Faults:
    """Injected failures: a share of answers are 500s, another share 429s with Retry-After."""

    seed: int = 13
    server_error: float = 0.05
    too_many: float = 0.01
    retry_after: int = 1  # seconds

    def reply(self, target: str, attempt: int) -> Reply | None:
        draw = random.Random(f"{self.seed}|{target}|{attempt}").random()
        if draw < self.server_error:
            return Reply(status=500, body=b"internal error", content_type="text/plain")
        if draw < self.server_error + self.too_many:
            return Reply(status=429, body=b"slow down", content_type="text/plain",
                         headers={"Retry-After": str(self.retry_after)})
        return None


class CitationServer:
    def __init__(self, latency: float = 0.0, *, faults: Faults | None = None,
                 fallback: Callable[[str], Reply | None] | None = None) -> None:
        self.latency = latency  # added to every reply (for concurrency tests)
        self.faults = faults
        self.fallback = fallback
        self.attempts: Counter[str] = Counter()  # per target: how often it was asked
        self.faults_served: Counter[int] = Counter()  # status → count
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[str] = []
        self.arrivals: list[tuple[float, str]] = []  # (time.monotonic(), target)
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
            self.attempts[target] += 1
            attempt = self.attempts[target]
            fault = self.faults.reply(target, attempt) if self.faults else None
            if fault is not None:
                self.faults_served[fault.status] += 1
                return fault
            matches = [route for route in self.routes if route in "/" + target]
            if matches:
                replies = self.routes[max(matches, key=len)]
                return replies.pop(0) if len(replies) > 1 else replies[0]
        reply = self.fallback(target) if self.fallback else None
        return reply or Reply(status=404, body=b"not found", content_type="text/plain")

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
                    server.arrivals.append((time.monotonic(), target))
                    server.in_flight[host] += 1
                    server.max_in_flight[host] = max(server.max_in_flight[host],
                                                     server.in_flight[host])
                answered = False

                def leave() -> None:
                    # Before the reply is sent: the client may send its next request as
                    # soon as it has this answer, before this thread runs again.
                    nonlocal answered
                    if not answered:
                        answered = True
                        with server._lock:
                            server.in_flight[host] -= 1

                try:
                    self._answer(server._next_reply(target), leave)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                finally:
                    leave()

            do_POST = do_GET

            def _answer(self, reply: Reply, leave: Callable[[], None]) -> None:
                time.sleep(reply.delay + server.latency)
                leave()
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


# ---------------------------------------------------------------- what the services answer


def doi_csl(doi: str, title: str, family: str) -> dict:
    """doi.org content negotiation's CSL JSON (with the Crossref extras manubot drops)."""
    return {"type": "journal-article", "title": title, "DOI": doi, "container-title": "Journal",
            "author": [{"family": family, "given": "A."}], "issued": {"date-parts": [[2020]]},
            "subject": ["Crossref extra"], "short-title": []}


def pubmed_article(pmid: str, title: str, family: str) -> str:
    return f"""<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>
<Journal><JournalIssue><Volume>3</Volume><PubDate><Year>2018</Year><Month>Feb</Month></PubDate>
</JournalIssue><Title>Journal of Tests</Title></Journal><ArticleTitle>{escape(title)}</ArticleTitle>
<AuthorList><Author><LastName>{escape(family)}</LastName><ForeName>Pat</ForeName></Author></AuthorList>
</Article></MedlineCitation><PubmedData><ArticleIdList>
<ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData></PubmedArticle>"""


def pubmed_xml(pmid: str, title: str, family: str) -> bytes:
    """NCBI E-utilities efetch's answer for one PubMed id."""
    return pubmed_set([pubmed_article(pmid, title, family)])


def pubmed_set(articles: list[str]) -> bytes:
    return ('<?xml version="1.0"?>\n<PubmedArticleSet>' + "".join(articles)
            + "</PubmedArticleSet>").encode()


def arxiv_atom(arxiv_id: str, title: str, name: str) -> bytes:
    """The arXiv export API's Atom feed for one id."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><entry>
<id>http://arxiv.org/abs/{arxiv_id}</id><published>2021-06-01T00:00:00Z</published>
<title>{escape(title)}</title><summary>An abstract.</summary>
<author><name>{escape(name)}</name></author></entry></feed>""".encode()
