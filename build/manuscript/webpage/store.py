"""``v/.store/<sha256>``: every published file is a hard link to one stored copy.

A file identical across versions is stored once on disk, so the site grows with the
change only. Stored files are read-only: an in-place edit of one version would silently
change all of them.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..journal import Transaction

logger = logging.getLogger(__name__)

STORE = ".store"


class Store:
    def __init__(self, folder: Path, transaction: Transaction) -> None:
        self.folder = folder
        self.transaction = transaction

    def add(self, content: bytes | Path) -> Path:
        """The stored path for ``content`` (written by the transaction if new)."""
        data = content if isinstance(content, bytes) else content.read_bytes()
        stored = self.folder / hashlib.sha256(data).hexdigest()
        if not stored.is_file() and not self.transaction.pending(stored):
            self.transaction.write(stored, data, mode=0o444)
        return stored


def collect_garbage(folder: Path) -> None:
    """Drop stored files that no version links to any more (link count 1 = the store's)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and path.stat().st_nlink == 1:
            logger.debug("store: dropping unused %s", path.name)
            path.unlink()
