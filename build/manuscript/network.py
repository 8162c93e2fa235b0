"""The one door to the network: every fetch of every process goes through here.

Before, five ways reached the network, each with its own rules (or none): a format
worker followed a redirect to an internal address and published what it got; a 300 MB
body went past a 20 MB limit; a server sending one byte a second held a build for
ever; ``--offline`` still asked googleapis.com for an ISBN. One ``Door`` per run (the
Config's ``network``) now holds the rules:

* **offline**: nothing is fetched (``Offline``), and ``guard_offline`` makes any other
  connection attempt of the process (a library's own, past the door) a loud bug: an
  ``OfflineViolation`` naming the host, recorded in ``violations()`` even when a library
  swallows the exception, so the command fails. ``MANUSCRIPT_OFFLINE=1`` in the
  environment installs the guard when the package is imported, so every process we
  start (the format worker too) has it.
* **one attempt per unreachable host**: the first request to a host goes alone; while it
  is in flight, other requests to that host wait for its outcome. A host that could not
  be reached (refused, unknown, no answer in time) is not asked again in the run:
  ``Unreachable`` at once, and ``report()`` says so in one line per host, with the hint
  ``--offline``. No raw exception text (``HTTPSConnectionPool(…)``) reaches the user.
* **redirects** are followed here, hop by hop: http and https only, at most 5, and a
  public host may not send us to an internal address (loopback, private, link-local):
  that is how a page-able image URL would read a service behind the firewall. A URL the
  author wrote naming an internal host is the author's choice and is fetched (tests use
  127.0.0.1 servers; an intranet image is legitimate).
* **a deadline on the whole response**: a socket timeout on each receive, the remaining
  time checked between receives of whatever arrived (``read1``, not a 64 KB read that a
  one-byte-a-second server feeds for hours), and a watchdog that shuts the socket at the
  deadline, so even headers sent one byte a second cannot outlive it.
* **sizes** checked against the declared length and against what arrives, decoded.

A leaf module: it imports only errors, limits and the standard library (requests when
fetching). Citations keep their requests-cache session (cite/fetch.py): its
transport asks ``Door.attempt`` before each request, so the rules of hosts hold there
too; isbnlib's urllib calls are routed through ``Door.urlopen``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from ._version import __version__
from .errors import ManuscriptError

logger = logging.getLogger(__name__)

USER_AGENT = f"manuscript/{__version__} (a Manubot-compatible manuscript build)"
OFFLINE_ENV = "MANUSCRIPT_OFFLINE"
MAX_REDIRECTS = 5
HINT = "no network here? build with --offline (ci/cache and the earlier output answer)"


class FetchError(ManuscriptError):
    """A URL could not be fetched (HTTP status, size, time, a refused redirect…)."""


class Unreachable(FetchError):
    """The host could not be reached, now or earlier in this run."""

    def __init__(self, host: str, reason: str) -> None:
        self.host, self.reason = host, reason
        super().__init__(f"{host} could not be reached ({reason})")


class Offline(FetchError):
    """Not fetched: the run is offline."""


class OfflineViolation(ManuscriptError):
    """A connection attempted under --offline past the door: a bug of ours (or of a
    library we call), never the user's; the command fails naming the host."""


@dataclass(frozen=True)
class Response:
    data: bytes
    url: str  # after redirects
    content_type: str  # without parameters ("image/png")
    status: int


class Budget:
    """One time allowance shared by several fetches (e.g. every image of a build)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


@dataclass
class _Host:
    """What this run knows of a host: reachable, unreachable (why), or being probed."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    ok: bool = False
    probing: bool = False
    failed: str | None = None
    reported: bool = False


class Door:
    """Every fetch of a run: see the module's docstring for the rules it keeps."""

    def __init__(self, *, offline: bool, user_agent: str = USER_AGENT) -> None:
        self.offline = offline
        self.user_agent = user_agent
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()
        self._local = threading.local()  # .touched: unreachable hosts a lookup met
        # What callers keep for the run beside the door (the images' shared budget and
        # the image URLs that failed), so the run's state lives in one object.
        self.shared: dict[str, object] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, offline: bool) -> Door:
        return cls(offline=offline or env.get(OFFLINE_ENV) == "1")

    def __reduce__(self) -> tuple:
        # A Config travels to the format worker pickled: its door starts afresh there
        # (no locks, no memory of hosts; the worker never fetches anyway).
        return (_new_door, (self.offline, self.user_agent))

    # ------------------------------------------------------------ hosts

    @contextmanager
    def attempt(self, host: str) -> Iterator[None]:
        """Around one request to ``host``: ``Unreachable`` at once if it failed earlier
        in the run; the first request alone until the host has answered once; a
        connection failure inside marks the host unreachable for the rest of the run."""
        host = host.lower()
        with self._lock:
            state = self._hosts.setdefault(host, _Host())
        prober = False
        with state.cond:
            while True:
                if state.failed is not None:
                    self._touched(host)
                    raise Unreachable(host, state.failed)
                if state.ok:
                    break
                if not state.probing:
                    state.probing = prober = True
                    break
                state.cond.wait()
        try:
            yield
        except BaseException as error:
            reason = unreachable_reason(error)
            with state.cond:
                if reason is not None and state.failed is None:
                    state.failed = reason
                    logger.debug("network: %s unreachable: %r", host, error)
                elif prober and reason is None and not isinstance(error, OfflineViolation):
                    state.ok = True  # it answered (an HTTP error is an answer)
                if prober:
                    state.probing = False
                state.cond.notify_all()
            if reason is not None:
                self._touched(host)
            raise
        with state.cond:
            state.ok = True
            if prober:
                state.probing = False
            state.cond.notify_all()

    def _touched(self, host: str) -> None:
        touched = getattr(self._local, "touched", None)
        if touched is not None and host not in touched:
            touched.append(host)

    @contextmanager
    def tracking(self) -> Iterator[list[str]]:
        """The unreachable hosts met by this thread inside (a citation's lookup)."""
        self._local.touched = touched = []
        try:
            yield touched
        finally:
            self._local.touched = None

    def unreachable(self) -> dict[str, str]:
        """host → why, for every host that could not be reached in this run."""
        with self._lock:
            return {host: state.failed for host, state in sorted(self._hosts.items())
                    if state.failed is not None}

    def mark_reported(self, hosts: list[str] | tuple[str, ...]) -> None:
        with self._lock:
            for host in hosts:
                if host in self._hosts:
                    self._hosts[host].reported = True

    def report(self) -> None:
        """One warning per unreachable host not reported yet (another report — the
        citations' error — may have named it already)."""
        with self._lock:
            fresh = [(host, state) for host, state in sorted(self._hosts.items())
                     if state.failed is not None and not state.reported]
            for _, state in fresh:
                state.reported = True
        for host, state in fresh:
            logger.warning("network: %s could not be reached (%s); nothing more was asked "
                           "of it in this run. %s", host, state.failed, HINT)

    # ------------------------------------------------------------ fetching

    def fetch(self, url: str, *, max_bytes: int, timeout: float, budget: Budget | None = None,
              method: str = "GET", headers: Mapping[str, str] | None = None,
              data: bytes | None = None, read: bool = True) -> Response:
        """``url``'s body, following redirects hop by hop, within ``max_bytes`` and a
        deadline of ``timeout`` seconds (or what is left of ``budget``) for the whole of
        it; every failure is a FetchError whose message is fit for the user."""
        if self.offline:
            raise Offline(f"not fetched, the build is offline: {url}")
        deadline = time.monotonic() + timeout
        if budget is not None:
            if budget.remaining() <= 0:
                raise FetchError(f"the {budget.seconds:g} s allowed for downloads in this "
                                 "run are used up")
            deadline = min(deadline, budget.deadline)
        current = url
        origin = _checked_url(url).hostname or ""
        for hop in range(MAX_REDIRECTS + 1):
            parts = _checked_url(current)
            # Only a redirect is checked (a name lookup each): the URL the author wrote
            # is the author's choice, an internal one included.
            if hop and _is_internal(parts.hostname or "") and not _is_internal(origin):
                raise FetchError(f"refused a redirect from a public host to an internal "
                                 f"address ({parts.hostname})")
            answer = self._one(current, parts.netloc, method, headers, data,
                               max_bytes if read and method != "HEAD" else None,
                               deadline, timeout)
            if isinstance(answer, Response):
                return answer
            location, status = answer
            current = urljoin(current, location)
            if status in (301, 302, 303) and method not in ("GET", "HEAD"):
                method, data = "GET", None  # as browsers do; 307 and 308 keep the method
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _one(self, url: str, host: str, method: str, headers: Mapping[str, str] | None,
             data: bytes | None, max_bytes: int | None, deadline: float,
             timeout: float) -> Response | tuple[str, int]:
        """One request: the Response, or a redirect's (location, status) (``max_bytes``
        None: the body is not read)."""
        import requests

        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"took longer than {timeout:g} s")
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        with self.attempt(host), _watchdog(deadline) as watch:
            session = _plain_session()
            try:
                try:
                    response = session.request(method, url, headers=sent, data=data,
                                               stream=True, allow_redirects=False,
                                               timeout=left)
                except requests.RequestException as error:
                    reason = "no answer in time" if watch.fired else _reason(error)
                    if unreachable_reason(error) is not None or watch.fired:
                        raise Unreachable(host.lower(), reason) from None
                    raise FetchError(reason) from None
                with response:
                    if response.is_redirect:
                        return response.headers["Location"], response.status_code
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code} {response.reason}"
                                         .rstrip())
                    body = b"" if max_bytes is None else _read(response, max_bytes,
                                                               deadline, timeout, watch)
                    kind = response.headers.get("Content-Type", "").split(";")[0].strip()
                    return Response(body, url, kind, response.status_code)
            finally:
                session.close()

    def probe(self, url: str, *, timeout: float) -> str | None:
        """None when ``url`` answers (2xx/3xx after redirects), else what went wrong —
        for the link check: HEAD, and GET (no body read) where HEAD is refused."""
        try:
            self.fetch(url, max_bytes=0, timeout=timeout, method="HEAD")
            return None
        except Unreachable as error:
            return error.message
        except FetchError as error:
            if not error.message.startswith("HTTP "):
                return error.message
        try:
            self.fetch(url, max_bytes=0, timeout=timeout, read=False)
        except FetchError as error:
            return error.message
        return None

    def urlopen(self, request: object, timeout: float | None = None, **_: object) -> object:
        """``urllib.request.urlopen`` for libraries that call it (isbnlib): through the
        door; a refusal is a ``URLError`` as urllib's own, which they handle."""
        import io
        import urllib.error
        from email.message import Message

        url = getattr(request, "full_url", request)
        headers = dict(getattr(request, "header_items", lambda: [])())
        headers.pop("Accept-encoding", None)  # requests decodes; the caller must not again
        data = getattr(request, "data", None)
        try:
            answer = self.fetch(str(url), max_bytes=LIBRARY_MAX_BYTES,
                                timeout=timeout or LIBRARY_TIMEOUT,
                                method="POST" if data else "GET", headers=headers, data=data)
        except FetchError as error:
            raise urllib.error.URLError(error.message) from None
        info = Message()
        info["Content-Type"] = answer.content_type or "application/octet-stream"

        class _Answer(io.BytesIO):
            def info(self) -> Message:
                return info

            def geturl(self) -> str:
                return answer.url

        return _Answer(answer.data)


LIBRARY_MAX_BYTES = 10 * 2**20  # what a library's lookup (isbnlib) may read
LIBRARY_TIMEOUT = 20.0


def _new_door(offline: bool, user_agent: str) -> Door:
    return Door(offline=offline, user_agent=user_agent)


def _plain_session() -> object:
    """A requests session of our own, never requests-cache's patched class (installed
    while citations are resolved): the door's fetches are not citation answers."""
    import requests

    patcher = sys.modules.get("requests_cache.patcher")
    cls = getattr(patcher, "OriginalSession", None) or requests.Session
    return cls()


def _checked_url(url: str) -> object:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"only http and https URLs are fetched, not {url}")
    if not parts.hostname:
        raise FetchError(f"no host in {url}")
    return parts


def _is_internal(host: str) -> bool:
    """Whether ``host`` names (or resolves to) an address that is not public."""
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        pass
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False  # the request will fail and say so
    return any(not ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_global
               for info in infos)


def _read(response: object, max_bytes: int, deadline: float, timeout: float,
          watch: _Watch) -> bytes:
    """The body, decoded, within ``max_bytes`` and the deadline: ``read1`` returns what
    has arrived, so the deadline is checked as bytes come, however slowly."""
    import requests

    declared = response.headers.get("Content-Length")  # type: ignore[attr-defined]
    try:
        if declared is not None and int(declared) > max_bytes:
            raise FetchError(f"larger than the {_size(max_bytes)} limit ({_size(int(declared))})")
    except ValueError:
        raise FetchError(f"a malformed Content-Length ({declared!r})") from None
    raw = response.raw  # type: ignore[attr-defined]
    body = bytearray()
    try:
        while True:
            if time.monotonic() >= deadline or watch.fired:
                raise FetchError(f"took longer than {timeout:g} s")
            chunk = raw.read1(1 << 16, decode_content=True)
            if not chunk:
                if watch.fired:
                    raise FetchError(f"took longer than {timeout:g} s")
                break
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"larger than the {_size(max_bytes)} limit")
    except (OSError, requests.RequestException, _urllib3_errors()) as error:
        if watch.fired:
            raise FetchError(f"took longer than {timeout:g} s") from None
        raise FetchError(f"the answer was cut short ({type(error).__name__})") from None
    return bytes(body)


def _urllib3_errors() -> type[BaseException]:
    from urllib3.exceptions import HTTPError

    return HTTPError


class _Watch:
    fired = False

    def restart(self, seconds: float) -> None:
        """A new deadline, ``seconds`` from now, unless the old one has passed: for a
        client that waits between its own attempts (a Retry-After honoured), where each
        attempt gets the whole time again."""
        self._restart(seconds)

    def _restart(self, seconds: float) -> None:  # replaced by _watchdog
        pass


def deadline(seconds: float) -> AbstractContextManager[_Watch]:
    """A wall-clock deadline on what this thread does with sockets inside (``.fired``
    says it passed): for requests made past ``Door.fetch`` (the citations' transport)."""
    return _watchdog(time.monotonic() + seconds)


@contextmanager
def _watchdog(deadline: float) -> Iterator[_Watch]:
    """Shut the sockets this thread connects or sends on inside at ``deadline``: a
    receive blocked on a server that trickles bytes (headers included) ends then, not a
    byte later. Sending counts, so a kept-alive connection from a pool is watched too."""
    watch = _Watch()
    sockets: list[socket.socket] = []

    def fire() -> None:
        watch.fired = True
        for sock in sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def start(seconds: float) -> threading.Timer:
        timer = threading.Timer(max(0.0, seconds), fire)
        timer.daemon = True
        timer.start()
        return timer

    timers = [start(deadline - time.monotonic())]

    def restart(seconds: float) -> None:
        if not watch.fired:
            timers[0].cancel()
            timers[0] = start(seconds)

    _install_hooks()
    watch._restart = restart  # type: ignore[method-assign]
    previous = getattr(_hooked, "sockets", None)
    _hooked.sockets = sockets
    try:
        yield watch
    finally:
        timers[0].cancel()
        _hooked.sockets = previous


def unreachable_reason(error: BaseException) -> str | None:
    """Why ``error`` means its host cannot be reached now, or None (the host answered,
    or the failure is ours)."""
    if isinstance(error, Unreachable):
        return error.reason
    requests = sys.modules.get("requests")
    if requests is not None:
        if isinstance(error, requests.Timeout):
            return "no answer in time"
        if isinstance(error, requests.ConnectionError) and not isinstance(
                error, requests.exceptions.ChunkedEncodingError):
            return _reason(error)
    if isinstance(error, TimeoutError | ConnectionError | socket.gaierror):
        return _reason(error)
    return None


def _reason(error: BaseException) -> str:
    """A short cause for the user: requests' messages nest the whole exception chain
    (``HTTPSConnectionPool(host=…): Max retries exceeded… NameResolutionError…``)."""
    text = (repr(error) + repr(getattr(error, "__context__", None))).lower()
    requests = sys.modules.get("requests")
    if requests is not None and isinstance(error, requests.HTTPError) \
            and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}".rstrip()
    if "nameresolution" in text or "gaierror" in text or "name or service" in text:
        return "its name cannot be resolved"
    if "timeout" in text or "timed out" in text:
        return "no answer in time"
    if "refused" in text:
        return "connection refused"
    if "ssl" in text:
        return "TLS failed"
    return "cannot connect"


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


# ---------------------------------------------------------------- process-wide hooks

_hooked = threading.local()  # .sockets: where the watchdog collects this thread's sockets
_hooks_lock = threading.Lock()
_hooks_installed = False
_guard = False
_violations: list[str] = []


def _install_hooks() -> None:
    """Wrap ``socket.socket.connect`` (and ``connect_ex``, ``create_connection``,
    ``getaddrinfo``, and ``sendall``) once per process: for the watchdog (which sockets
    this thread uses) and for the offline guard."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        original_connect = socket.socket.connect
        original_connect_ex = socket.socket.connect_ex
        original_getaddrinfo = socket.getaddrinfo
        original_create = socket.create_connection

        def connect(self: socket.socket, address: object) -> None:
            _seen(self, address)
            return original_connect(self, address)

        def connect_ex(self: socket.socket, address: object) -> int:
            _seen(self, address)
            return original_connect_ex(self, address)

        def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
            if _guard and not _local_name(host):
                _violation(f"a name lookup of {host!r}")
            return original_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

        def create_connection(address: tuple, *args: object, **kwargs: object) -> socket.socket:
            if _guard:
                _violation(f"a connection to {address[0]}:{address[1]}")
            return original_create(address, *args, **kwargs)  # type: ignore[arg-type]

        def sending(original: object) -> object:
            def sendall(self: socket.socket, *args: object, **kwargs: object) -> None:
                _watched(self)
                return original(self, *args, **kwargs)  # type: ignore[operator]
            return sendall

        import ssl

        socket.socket.sendall = sending(socket.socket.sendall)  # type: ignore[method-assign]
        ssl.SSLSocket.sendall = sending(ssl.SSLSocket.sendall)  # type: ignore[method-assign]
        socket.socket.connect = connect  # type: ignore[method-assign]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
        socket.create_connection = create_connection  # type: ignore[assignment]
        _hooks_installed = True


def _seen(sock: socket.socket, address: object) -> None:
    if _guard and sock.family in (socket.AF_INET, socket.AF_INET6):
        where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
        _violation(f"a connection to {where}")
    _watched(sock)


def _watched(sock: socket.socket) -> None:
    sockets = getattr(_hooked, "sockets", None)
    if sockets is not None and not any(known is sock for known in sockets):
        sockets.append(sock)


def _local_name(host: object) -> bool:
    """Names whose lookup asks no server: none, a numeric address, localhost."""
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name.lower() in ("localhost", ""):
        return True
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        return False


def _violation(what: str) -> None:
    message = (f"bug: {what} was attempted although the run is offline (--offline, "
               f"{OFFLINE_ENV}=1); nothing may reach the network past the door "
               "(manuscript/network.py)")
    _violations.append(message)
    logger.error("%s", message)
    raise OfflineViolation(message)


def guard_offline() -> None:
    """From now on, in this process and the processes it starts, any connection attempt
    (past the door, which refuses first) is an ``OfflineViolation``."""
    global _guard
    _install_hooks()
    _guard = True
    os.environ[OFFLINE_ENV] = "1"


def lift_guard() -> None:
    """Undo :func:`guard_offline` in this process: for a process that runs commands one
    after another in itself (the tests' in-process CLI), where an offline command must not
    leave the next, online one guarded. The hooks stay; they check the flag."""
    global _guard
    _guard = False
    _violations.clear()


def guard_from_env() -> None:
    """The guard, when ``MANUSCRIPT_OFFLINE=1`` (how a parent passes it to its children)."""
    if os.environ.get(OFFLINE_ENV) == "1":
        guard_offline()


def guarded() -> bool:
    return _guard


def violations() -> list[str]:
    """Every connection the guard refused in this process (a library may have swallowed
    the exception: the command still fails)."""
    return list(_violations)
