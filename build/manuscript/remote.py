"""Files a manuscript names by URL outside its citations, fetched once into ``ci/cache/``.

A CSL style, template variables and images are fetched on the first online build
and read from the cache afterwards, so a build works offline once it has run online
(as the citation cache does). ``ci/cache/`` is what rootstock's workflow already keeps
between CI runs.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from . import __version__
from .errors import ManuscriptError
from .fsutil import write_bytes_atomic

logger = logging.getLogger(__name__)

USER_AGENT = f"manuscript/{__version__} (a Manubot-compatible manuscript build)"


class FetchError(ManuscriptError):
    """A URL could not be fetched (network, HTTP status, size or time limit)."""


@dataclass(frozen=True)
class Download:
    data: bytes
    url: str  # after redirects
    content_type: str


class Budget:
    """One time allowance shared by several downloads (e.g. every image of a build).

    A host that could not be reached (refused, timed out) is not asked again within
    the budget: ten images on a host that accepts and never answers cost one timeout.
    """

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.failed_hosts: set[str] = set()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def download(url: str, *, max_bytes: int, timeout: float,
             budget: Budget | None = None) -> Download:
    """GET ``url`` with a size limit and a time limit; every failure is a FetchError."""
    import requests

    host = urlsplit(url).netloc.lower()
    if budget is not None:
        if host in budget.failed_hosts:
            raise FetchError(f"{host} could not be reached earlier in this build")
        timeout = min(timeout, budget.remaining())
        if timeout <= 0:
            raise FetchError("the time allowed for downloads in this build is used up")
    deadline = time.monotonic() + timeout
    try:
        with requests.get(url, stream=True, timeout=timeout,
                          headers={"User-Agent": USER_AGENT}) as response:
            response.raise_for_status()
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise FetchError(f"larger than the {_size(max_bytes)} limit ({_size(declared)})")
            body = bytearray()
            for chunk in response.iter_content(1 << 16):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"larger than the {_size(max_bytes)} limit")
                if time.monotonic() > deadline:
                    raise FetchError(f"took longer than {timeout:.0f} s")
            return Download(bytes(body), response.url,
                            response.headers.get("Content-Type", "").split(";")[0].strip())
    except requests.RequestException as error:
        if budget is not None and isinstance(error, requests.ConnectionError | requests.Timeout):
            budget.failed_hosts.add(host)
        raise FetchError(_reason(error)) from None
    except ValueError as error:  # a malformed Content-Length
        raise FetchError(str(error)) from None


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def cache_by_url(cache_dir: Path, url: str, suffix: str) -> Path:
    """Where a file fetched from ``url`` is kept: ``ci/cache/urls/<digest><suffix>``."""
    return cache_dir / "urls" / f"{url_digest(url)}{suffix}"


def store(path: Path, data: bytes) -> Path:
    write_bytes_atomic(path, data)
    logger.debug("cached %s", path)
    return path


def _reason(error: Exception) -> str:
    """requests' messages nest the whole exception chain; the first line is the cause."""
    import requests

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "cannot connect"
    return f"{type(error).__name__}: {error}"


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"
