"""Looking citation keys up: manubot's resolvers, through the requests cache and the door.

Holds the lookups (``fetch_all``: concurrently, PubMed ids in batches, each key through
manubot's ``CiteKey`` handler; a ``Lookup`` without item when that fails) and how
manubot's resolvers reach the citation services: cache, timeouts, retries.

Manubot's resolvers call ``requests.get`` directly, so everything here is installed
around them with ``requests_cache.install_cache`` and a session class of ours:

* a requests-cache SQLite cache (``ci/cache/requests-cache.sqlite`` by default, or
  ``manubot-requests-cache-path``) that keeps only 200 responses whose body parses —
  an error page or a truncated answer is never replayed from the cache; an unreadable
  cache file is moved aside (``.corrupt-<timestamp>``) rather than failing every build;
* ``manubot-clear-requests-cache: true`` marks every cached response stale: each is
  fetched again, and a stale copy answers only when the service fails (with a warning);
* a transport adapter with a per-request timeout, bounded retries with exponential
  backoff for 429 and 5xx (honouring ``Retry-After``, capped), a retry for bodies cut
  short, and at most ``per_host`` requests in flight per host;
* the run's door (network.py) around every request: a host that cannot be reached
  (refused, unknown, no answer in time) is asked once — not retried, not asked by the
  other lookups, which wait for the first request to a host to be answered — and
  isbnlib's own ``urlopen`` goes through the door too (refused offline).

Test-only: ``MANUSCRIPT_TEST_CITATION_SERVER=http://127.0.0.1:PORT`` sends every request
to that local server instead, as ``http://127.0.0.1:PORT/<original host><path>``; while it
is set, a request to any other host is refused. ``MANUSCRIPT_CITATION_TIMEOUT``,
``…_RETRIES``, ``…_BACKOFF`` and ``…_RETRY_AFTER_MAX`` (seconds / counts) keep tests fast.

It imports requests and requests-cache (0.3 s), so ``cite.resolve`` imports it only when
citing. It may import ``cite.model`` and the package's core (csl, errors, network,
stages); not the keys, the sources or the orchestration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

import requests
import requests_cache
from manubot.cite.citekey import CiteKey
from manubot.cite.csl_item import CSL_Item
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .. import csl
from ..errors import ConfigError, OutputError
from ..network import Door, deadline
from ..stages import ONCE
from .model import error_text

logger = logging.getLogger(__name__)

TEST_SERVER_ENV = "MANUSCRIPT_TEST_CITATION_SERVER"
_RETRY_STATUSES = (429, 500, 502, 503, 504)
_MAX_WORKERS = 16  # lookups in flight overall; the transport bounds them per host
OnLookup = Callable[[int, int], None]  # (lookups done, lookups in all)


@dataclass(frozen=True)
class HttpPolicy:
    timeout: float = 20.0  # seconds per request (connect and each read)
    retries: int = 3  # after the first attempt
    backoff: float = 1.0  # seconds before the first retry, doubling after
    retry_after_max: float = 60.0  # a longer Retry-After is cut to this
    per_host: int = 4  # requests in flight to one host
    test_server: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpPolicy:
        def number(name: str, default: float) -> float:
            value = env.get(f"MANUSCRIPT_CITATION_{name}")
            if value is None:
                return default
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"MANUSCRIPT_CITATION_{name} must be a number, "
                                  f"not {value!r}") from None

        server = env.get(TEST_SERVER_ENV) or None
        if server:
            _check_loopback(server)
        return cls(timeout=number("TIMEOUT", cls.timeout),
                   retries=int(number("RETRIES", cls.retries)),
                   backoff=number("BACKOFF", cls.backoff),
                   retry_after_max=number("RETRY_AFTER_MAX", cls.retry_after_max),
                   per_host=max(1, int(number("PER_HOST", cls.per_host))),
                   test_server=server.rstrip("/") if server else None)


def _check_loopback(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme != "http" or not loopback:
        raise ConfigError(f"{TEST_SERVER_ENV} must be an http:// URL on this machine "
                          f"(127.0.0.1), not {url!r}")


# ---------------------------------------------------------------- which key used a stale copy

_current = threading.local()


@contextmanager
def tracking(key: str) -> Iterator[list[str]]:
    """Collect, for one citation key, the URLs answered by a stale cached copy."""
    _current.stale = stale = []
    try:
        yield stale
    finally:
        _current.stale = None


# ---------------------------------------------------------------- per-host concurrency

class _HostLimiter:
    def __init__(self, bound: int) -> None:
        self.bound = bound
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        with self._lock:
            semaphore = self._semaphores.setdefault(host, threading.BoundedSemaphore(self.bound))
        with semaphore:
            yield


# ---------------------------------------------------------------- the adapter


# The deadline of the request this thread is making (_Transport.send), for _Retry.
_attempt = threading.local()
_PAUSED = 24 * 3600.0  # a deadline that does not come while urllib3 waits


class _Retry(Retry):
    """urllib3's retries, where the wait before an attempt (a Retry-After honoured, the
    backoff) does not count against that attempt's deadline."""

    def sleep(self, response: object = None) -> None:
        watch = getattr(_attempt, "watch", None)
        if watch is not None:
            watch.restart(_PAUSED)  # the wait is bounded by retry_after_max, not this
        super().sleep(response)  # type: ignore[arg-type]
        if watch is not None:
            watch.restart(_attempt.seconds)


class _Transport(HTTPAdapter):
    """Timeout, retries and the per-host bound for every request the resolvers make."""

    def __init__(self, policy: HttpPolicy, limiter: _HostLimiter, door: Door) -> None:
        # No retry of a connection that failed or timed out: the door remembers the
        # host as unreachable for the run (a second try costs another timeout per key).
        retry = _Retry(
            total=policy.retries, connect=0, read=0,
            status=policy.retries, other=0, redirect=5,
            status_forcelist=_RETRY_STATUSES, backoff_factor=policy.backoff / 2,
            backoff_max=policy.retry_after_max, respect_retry_after_header=True,
            retry_after_max=int(policy.retry_after_max), raise_on_status=True,
        )
        super().__init__(max_retries=retry)
        self.policy = policy
        self.limiter = limiter
        self.door = door

    def send(self, request: requests.PreparedRequest, stream: bool = False,  # type: ignore[override]
             timeout: object = None, **kwargs: object) -> requests.Response:
        host = urlsplit(request.url).netloc  # the service's own host, even under test
        if self.policy.test_server:
            request.url = _rewrite(request.url or "", self.policy.test_server)
        timeout = timeout if timeout is not None else self.policy.timeout
        with self.limiter.slot(host), self.door.attempt(host):
            # urllib3 retries what fails before the body; requests reads the body after
            # the adapter returns, outside those retries. Read it here so that a body
            # cut short (IncompleteRead) is retried like a dropped connection.
            for attempt in range(self.policy.retries + 1):
                try:
                    # The timeout bounds each receive; this, the whole answer (twice it:
                    # connecting, then answering), so a service trickling bytes ends.
                    # Each of urllib3's attempts gets it anew after its wait (_Retry).
                    seconds = 2 * _longest(timeout)
                    with deadline(seconds) as watch:
                        _attempt.watch, _attempt.seconds = watch, seconds
                        try:
                            response = super().send(request, stream=stream, timeout=timeout,
                                                    **kwargs)
                            if not stream:
                                response.content  # noqa: B018 -- read now, inside the retries
                        except requests.RequestException:
                            _attempt.watch = None
                            if watch.fired:
                                raise requests.exceptions.ReadTimeout(
                                    "no answer in time", request=request) from None
                            raise
                    _attempt.watch = None
                    if watch.fired:
                        raise requests.exceptions.ReadTimeout("no answer in time",
                                                              request=request)
                    return response
                except (requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError) as error:
                    if attempt == self.policy.retries:
                        raise
                    logger.debug("%s: body cut short (%s); retrying", request.url, error)
                    time.sleep(min(self.policy.backoff * 2 ** attempt,
                                   self.policy.retry_after_max))
        raise AssertionError("unreachable")


def _longest(timeout: object) -> float:
    """A requests timeout (seconds, or a (connect, read) pair) as one number."""
    if isinstance(timeout, tuple):
        return float(max(t for t in timeout if t is not None) if any(timeout) else 60.0)
    return float(timeout) if timeout is not None else 60.0


def _rewrite(url: str, server: str) -> str:
    """Test-only: ``https://doi.org/10.1/x?y`` → ``http://127.0.0.1:P/doi.org/10.1/x?y``."""
    parts = urlsplit(url)
    base = urlsplit(server)
    if parts.netloc == base.netloc:  # already rewritten (a redirect on the test server)
        return url
    if not parts.hostname:
        raise requests.exceptions.InvalidURL(f"refusing {url!r} under {TEST_SERVER_ENV}")
    path = f"{base.path.rstrip('/')}/{parts.hostname}{parts.path or '/'}"
    rewritten = urlunsplit((base.scheme, base.netloc, path, parts.query, ""))
    _check_loopback(rewritten)
    return rewritten


# ---------------------------------------------------------------- the cache


def _cacheable(response: requests.Response) -> bool:
    """Only a body that parses is worth keeping: never replay an error page or a stub."""
    if response.status_code != 200:
        return False
    kind = response.headers.get("Content-Type", "")
    try:
        if "json" in kind:
            json.loads(response.content)
        elif "xml" in kind:
            ElementTree.fromstring(response.content)
    except (ValueError, ElementTree.ParseError):
        return False
    return True


_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26  # SQLite's primary result codes for a bad file
_DAMAGED = {_SQLITE_CORRUPT, _SQLITE_NOTADB}


def open_cache(cache_path: Path) -> requests_cache.SQLiteCache:
    """The SQLite cache at ``cache_path`` (+ ``.sqlite``); a corrupt file is moved aside."""
    db_file = cache_path.with_name(cache_path.name + ".sqlite")
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _try_writing(db_file)
        # WAL (and synchronous=NORMAL): a commit per cached answer no longer waits for the
        # disk, which cost a third of a cold 600-lookup resolution; the file stays
        # consistent after a crash, only the last answers may be lost (and fetched again).
        cache = requests_cache.SQLiteCache(str(cache_path), wal=True)
        len(cache.responses)  # reads the file: an unreadable one fails here, not mid-build
        return cache
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorcode", _SQLITE_CORRUPT) & 0xFF not in _DAMAGED:
            # A full disk or an I/O error is not a damaged cache: keep it where it is.
            raise OutputError(f"cannot use the citation cache ({error}); is the disk "
                              "full?", db_file) from error
        aside = db_file.with_name(f"{db_file.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        db_file.replace(aside)
        logger.warning("%s: the citation cache is unreadable (%s); moved it to %s and "
                       "starting an empty one", db_file, error, aside.name, extra=ONCE)
        return requests_cache.SQLiteCache(str(cache_path), wal=True)


def _try_writing(db_file: Path) -> None:
    """Begin (and roll back) a write, once. requests-cache retries ``BEGIN IMMEDIATE``
    for as long as it fails, whatever the reason: on a full disk ("disk I/O error") the
    build would spin for ever instead of saying so. Another build holding the file gets
    the 5 s SQLite waits, then an error too."""
    with contextlib.closing(sqlite3.connect(db_file, timeout=5)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")
        db.rollback()


def _mark_stale(backend: requests_cache.BaseCache) -> None:
    """BaseCache.reset_expiration(0), without its write-while-reading (it hangs on SQLite)."""
    responses = list(backend.responses.values())
    for response in responses:
        response.reset_expiration(requests_cache.EXPIRE_IMMEDIATELY)
        backend.responses[response.cache_key] = response


@contextmanager
def installed(cache_path: Path | None, *, offline: bool, clear: bool,
              policy: HttpPolicy, door: Door | None = None) -> Iterator[None]:
    """Route every ``requests`` call (manubot's resolvers) through our session, and
    isbnlib's ``urlopen`` through ``door``, while inside.

    ``cache_path`` None: no on-disk cache (``manubot-requests-cache-path`` set empty).
    Offline, the cache alone answers: an uncached request gets a 504 at once, and the
    door refuses isbnlib's without a connection.
    """
    door = door or Door(offline=offline)
    backend: requests_cache.BaseCache = (open_cache(cache_path) if cache_path
                                         else requests_cache.BaseCache())
    if clear and not offline:
        # Manubot deletes the cache; we mark it stale, so everything is fetched again
        # but a service that fails can still be answered by the old copy.
        _mark_stale(backend)
    limiter = _HostLimiter(policy.per_host)

    class Session(requests_cache.CachedSession):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            transport = _Transport(policy, limiter, door)
            self.mount("https://", transport)
            self.mount("http://", transport)

        def send(self, request: requests.PreparedRequest, **kwargs: object):  # type: ignore[override]
            response = super().send(request, **kwargs)
            if getattr(response, "from_cache", False) and getattr(response, "is_expired", False):
                stale = getattr(_current, "stale", None)
                if stale is not None:
                    stale.append(str(response.url))
            return response

    requests_cache.install_cache(
        backend=backend,
        session_factory=Session,
        include_get_headers=True,
        only_if_cached=offline,
        allowable_codes=(200,),
        filter_fn=_cacheable,
        stale_if_error=True,
    )
    try:
        with _isbnlib_through(door):
            yield
    finally:
        requests_cache.uninstall_cache()


@contextmanager
def _isbnlib_through(door: Door) -> Iterator[None]:
    """isbnlib (manubot's last resort for an ISBN: Google Books…) opens its own
    connections with ``urllib.request.urlopen``, past requests and its cache: routed
    through the door, a URL it asks for is refused offline and bounded online."""
    try:
        from isbnlib.dev import webservice
    except ImportError:  # manubot without isbnlib: nothing to route
        yield
        return
    original = webservice.urlopen
    webservice.urlopen = door.urlopen
    # isbnlib logs each refusal at CRITICAL with the whole URL; the lookup's failure is
    # reported by us, once, with its places.
    quiet = logging.getLogger("isbnlib")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        webservice.urlopen = original
        quiet.setLevel(level)


# ---------------------------------------------------------------- the lookups


@dataclass
class Lookup:
    item: dict | None
    problem: str = ""
    stale_urls: list[str] = field(default_factory=list)
    unreachable: tuple[str, ...] = ()  # hosts that could not be reached (network.py)


def fetch_all(keys: list[tuple[str, str]], infer_prefixes: bool,
              on_lookup: OnLookup, door: Door) -> dict[str, Lookup]:
    """Look keys up concurrently; the per-host bound is the transport's (above).

    PubMed ids are fetched together first (``_pubmed_batch``); what that misses is looked
    up one by one like any other key. The rest is interleaved by service, so the workers
    spread over the hosts rather than all waiting on the first one's bound (the keys come
    sorted, hence grouped by prefix).
    """
    lock, done = threading.Lock(), [0]  # the workers count together
    if keys:
        on_lookup(0, len(keys))

    def one(key: tuple[str, str], prefetched: dict | None = None) -> Lookup:
        standard_id, input_id = key
        citekey = CiteKey(input_id, aliases={input_id: standard_id}, infer_prefix=infer_prefixes)
        with tracking(standard_id) as stale, door.tracking() as unreachable:
            lookup = _fetch(citekey, standard_id, input_id, prefetched)
        lookup.stale_urls = stale
        if lookup.item is None and unreachable:
            lookup.unreachable = tuple(unreachable)
        with lock:
            done[0] += 1
            on_lookup(done[0], len(keys))
        return lookup

    with tracking("pubmed batch") as stale:
        pubmed = _pubmed_batch([sid.split(":", 1)[1] for sid, _ in keys
                                if sid.startswith("pubmed:")])
    lookups = {sid: one((sid, input_id), pubmed[sid])
               for sid, input_id in keys if pubmed.get(sid) is not None}
    for lookup in lookups.values():  # answered by a stale cached batch: warn per key
        lookup.stale_urls += stale
    rest = _interleave([key for key in keys if key[0] not in lookups])
    if len(rest) <= 1:
        return lookups | {key[0]: one(key) for key in rest}
    with ThreadPoolExecutor(max_workers=min(_MAX_WORKERS, len(rest)),
                            thread_name_prefix="cite") as pool:
        return lookups | dict(zip([key[0] for key in rest], pool.map(one, rest), strict=True))


def _interleave(keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Round-robin over the prefixes (doi, pubmed, arxiv…): one key of each in turn."""
    by_prefix: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        by_prefix.setdefault(key[0].split(":", 1)[0], []).append(key)
    queues = list(by_prefix.values())
    return [queue[i] for i in range(max(map(len, queues), default=0))
            for queue in queues if i < len(queue)]


_EFETCH = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi"
_PUBMED_BATCH = 200  # ids per efetch request: NCBI's advice for GET requests


def _pubmed_batch(pmids: list[str]) -> dict[str, dict | None]:
    """``pubmed:ID`` → manubot's CSL item for it, from one efetch request per 200 ids.

    NCBI allows 3 E-utilities requests a second without an API key (manubot's limiter
    keeps it to 2, in every thread), so one request per id is what made a cold build
    with a hundred PubMed ids take a minute. Ids missing from the answer, or a request
    that fails, are left to the one-by-one lookup, which reports each failure.
    """
    if len(pmids) <= 1:
        return {}
    # requests.get: requests-cache's session while ``installed`` is active,
    # whose transport asks the door (network.py) first, like manubot's own calls.
    from manubot.cite.pubmed import _get_eutils_rate_limiter, csl_item_from_pubmed_article
    from manubot.util import get_manubot_user_agent

    found: dict[str, dict | None] = {}
    for start in range(0, len(pmids), _PUBMED_BATCH):
        chunk = pmids[start:start + _PUBMED_BATCH]
        params = {"db": "pubmed", "id": ",".join(chunk), "retmode": "xml"}
        try:
            with _get_eutils_rate_limiter():
                response = requests.get(_EFETCH, params,
                                        headers={"User-Agent": get_manubot_user_agent()})
            response.raise_for_status()
            articles = ElementTree.fromstring(response.content)
        except (requests.RequestException, ElementTree.ParseError) as error:
            logger.debug("PubMed batch of %d ids failed (%s); looking them up one by one",
                         len(chunk), error)
            continue
        for article in articles:
            try:
                item = csl_item_from_pubmed_article(article)
            except Exception as error:  # manubot's parser raises whatever the XML makes it
                logger.debug("PubMed batch: an article could not be read (%s)", error)
                continue
            if str(item.get("PMID")) in chunk:
                found[f"pubmed:{item['PMID']}"] = item
    return found


def _fetch(citekey: CiteKey, standard_id: str, input_id: str,
           prefetched: dict | None = None) -> Lookup:
    """Look a key up through manubot's resolvers (unless ``prefetched`` already holds what
    they return); a Lookup without item when that fails."""
    from manubot import __version__ as manubot_version

    if not citekey.is_handled_prefix:
        return Lookup(None, "is not a known identifier (doi:, pmid:, arxiv:, url:, …), "
                             "alias or manual reference")
    problem = citekey.inspect()
    if problem:
        return Lookup(None, f"is not valid: {problem}")
    try:
        # Not ``citekey.csl_item``: a cached_property, which before Python 3.12 holds one
        # lock for all instances of the class and so would run every lookup one by one.
        csl_item = prefetched if prefetched is not None else \
            citekey.handler.get_csl_item(citekey)
    except Exception as error:  # manubot's resolvers raise whatever their parsers raise
        return Lookup(None, f"lookup failed ({error_text(error)})")
    if not isinstance(csl_item, dict):
        return Lookup(None, f"lookup returned a {type(csl_item).__name__}, not a CSL item")
    csl_item = CSL_Item(csl_item)
    csl_item.note_append_text(
        f"This CSL Item was generated by Manubot v{manubot_version} from its persistent "
        "identifier (standard_id)."
    )
    csl_item.note_append_dict({"standard_id": standard_id})
    csl_item.set_id(citekey.short_id)
    try:
        result = csl.normalize(csl_item, f"@{input_id}")
    except csl.InvalidItem as error:
        return Lookup(None, f"lookup returned an unusable item: it {error}")
    if result.lost:
        logger.warning("@%s: the looked-up reference lost %s: not valid CSL JSON",
                       input_id, ", ".join(result.lost))
    return Lookup(result.item)


def no_progress(done: int, total: int) -> None:
    pass



@contextmanager
def manubot_quiet(verbose: bool) -> Iterator[None]:
    """Manubot logs each failed lookup with the whole answer (an HTML page) on the root
    logger; we report every failure ourselves, with its places, so hide that unless -v."""
    root = logging.getLogger()
    level = root.level
    if not verbose:
        root.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(level)

