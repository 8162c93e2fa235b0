"""Small file helpers: every output is written to a temporary file, then renamed.

A failed or interrupted build therefore never leaves a half-written output behind:
readers of ``output/`` see either the last good file or the new one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are for everyone
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def digest(parts: Iterable[bytes | str]) -> str:
    """A stable hash of a sequence of byte or text chunks (for skipping unchanged stages)."""
    sha = hashlib.sha256()
    for part in parts:
        chunk = part.encode("utf-8") if isinstance(part, str) else part
        sha.update(len(chunk).to_bytes(8, "little"))
        sha.update(chunk)
    return sha.hexdigest()


def files_digest(paths: Iterable[Path], root: Path | None = None) -> str:
    """Hash file names and contents; a missing file hashes as its name alone.

    Names inside ``root`` hash relative to it, so a manuscript moved or copied elsewhere
    keeps its stage keys.
    """
    parts: list[bytes | str] = []
    for path in sorted(paths):
        parts.append(path.relative_to(root).as_posix() if root and path.is_relative_to(root)
                     else str(path))
        if path.is_file():
            parts.append(path.read_bytes())
    return digest(parts)
