"""Files a manuscript names by URL outside its citations, kept once fetched in ``ci/cache/``.

A CSL style, template variables and images are fetched (through the door, network.py)
on the first online build and read from the cache afterwards, so a build works offline
once it has run online (as the citation cache does). ``ci/cache/`` is what rootstock's
workflow already keeps between CI runs.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from .fsutil import write_bytes_atomic

logger = logging.getLogger(__name__)


def url_digest(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def cache_by_url(cache_dir: Path, url: str, suffix: str) -> Path:
    """Where a file fetched from ``url`` is kept: ``ci/cache/urls/<digest><suffix>``."""
    return cache_dir / "urls" / f"{url_digest(url)}{suffix}"


def store(path: Path, data: bytes) -> Path:
    write_bytes_atomic(path, data)
    logger.debug("cached %s", path)
    return path
