"""Small file helpers: every output is written to a temporary file, then renamed.

A failed or interrupted build therefore never leaves a half-written output behind:
readers of ``output/`` see either the last good file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")


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


# What a state or cache file of ours can hold that is not what we wrote: bad JSON or
# bytes (ValueError, UnicodeDecodeError), the wrong shape (KeyError, TypeError,
# AttributeError, IndexError), and nesting deeper than the parser's recursion limit
# (RecursionError: json.loads is recursive, "[" * 100000 overflows it).
_SHAPE_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


def read_json_state(path: Path, what: str, shape: Callable[[Any], T | None] = lambda data: data,
                    ) -> T | None:
    """A JSON state or cache file of the build's own (``output/.build-state.json``,
    ``ci/cache/math.json`` …), or None when it is missing or unusable.

    These files are only shortcuts, and anyone can edit them (or a crash, a merge, a
    tool can damage them): whatever is in them — garbage, the wrong shape, nesting a
    hundred thousand deep, a folder in the file's place — must never stop the build.
    ``shape`` turns the parsed JSON into what the caller uses and raises one of the
    errors above when it does not fit (or returns None, quietly: a file of another
    format version is not damage). An unusable file is one warning, logged once
    (``extra={"once": True}``: an event, not a finding the stage cache replays), saying
    what happens instead (``what``: "every stage runs"); the caller rewrites the file.
    """
    return read_state(path, what, lambda data: shape(json.loads(data)))


def read_state(path: Path, what: str, parse: Callable[[bytes], T | None]) -> T | None:
    """``read_json_state`` for a file that is not one JSON document: ``parse`` gets its
    bytes (and may call json.loads on parts of them)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:  # a folder in its place, no permission
        _unreadable(path, what, error.strerror or str(error))
        return None
    try:
        return parse(data)
    except _SHAPE_ERRORS as error:
        reason = ("nested too deeply" if isinstance(error, RecursionError)
                  else str(error).split("\n")[0][:200] or type(error).__name__)
        _unreadable(path, what, reason)
        return None


def _unreadable(path: Path, what: str, reason: str) -> None:
    logger.warning("%s: unreadable (%s), not used: %s", path, reason, what,
                   extra={"once": True})
