"""All or nothing for ``output/`` and ``webpage/``: stage, write a journal, rename.

A :class:`Transaction` collects the files a build changes. ``commit()``

1. checks every target (a folder where a file goes, a file where a folder goes) and
   writes each new file completely *beside* its final place, in ``<top>/.build-staging/``
   (same file system, so a rename moves it) — nothing visible has changed yet, and any
   error here (a full disk…) removes the staging folders and changes nothing;
2. writes the journal (``output/.build-journal.json``): the list of renames to make;
3. renames each staged file over its final path (``os.replace``: atomic per file), after
   hard-linking the old file into the staging folder, and moves deleted files there too;
4. removes the journal, then the staging folders.

A reader therefore sees, for every file, either the complete old or the complete new
version. If the process dies during step 3, the next build finds the journal and rolls
it forward (every staged file was complete before the journal was written); if a rename
fails, the renames already made are rolled back from the hard-linked old files. A
staging folder without a journal is an interrupted step 1: deleted.

The environment variable ``MANUSCRIPT_TEST_DIE_AFTER_RENAME=N`` (for tests only) makes
the writer ``os._exit`` after its Nth rename (0: right after writing the journal), to
prove the above by killing a real build at every step.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import OutputError

logger = logging.getLogger(__name__)

JOURNAL = ".build-journal.json"
STAGING = ".build-staging"
DIE_AFTER_RENAME = "MANUSCRIPT_TEST_DIE_AFTER_RENAME"
DIE_EXIT_CODE = 75
# Scratch names an interrupted build of this or an earlier version may leave behind.
_LEFTOVER_PREFIXES = (".build-", ".old-", ".tmp-")
_KEEP = frozenset({".build-state.json", JOURNAL})


@dataclass(frozen=True)
class _Change:
    path: Path  # final place
    data: bytes | None = None  # new bytes…
    link: Path | None = None  # …or a hard link to this file…
    symlink: str | None = None  # …or a symbolic link…
    delete: bool = False  # …or nothing
    mode: int | None = None


@dataclass(frozen=True)
class _Entry:
    """One journal line: ``new`` (staged, None to delete) → ``final``; ``old`` = backup."""

    final: str
    old: str
    new: str | None


class Transaction:
    def __init__(self, root: Path, tops: tuple[Path, ...], journal: Path) -> None:
        """``tops``: the folders written (each gets its own staging folder inside)."""
        self.root = root
        self.tops = tops
        self.journal = journal
        self._changes: dict[Path, _Change] = {}
        self._removed: set[Path] = set()

    # --- collecting ---------------------------------------------------------------

    def write(self, path: Path, data: bytes, mode: int | None = None) -> None:
        self._add(_Change(path, data=data, mode=mode))

    def link(self, path: Path, source: Path) -> None:
        """``path`` becomes a hard link to ``source`` (an existing file or one written here)."""
        self._add(_Change(path, link=source))

    def symlink(self, path: Path, target: str) -> None:
        self._add(_Change(path, symlink=target))

    def delete(self, path: Path) -> None:
        self._add(_Change(path, delete=True))

    def pending(self, path: Path) -> bool:
        return path in self._changes

    def _add(self, change: _Change) -> None:
        self._changes.pop(change.path, None)  # the last word wins, at the end of the order
        self._changes[change.path] = change

    # --- committing ---------------------------------------------------------------

    def commit(self) -> int:
        """Apply every change, or none; returns how many files changed."""
        # Links deleted before files are written in their place (a site's v/latest link
        # replaced by a real folder): what lies "under" them now is not there.
        self._removed = {c.path for c in self._changes.values() if c.delete
                         and c.path.is_symlink()}
        changes = [c for c in self._changes.values() if self._needed(c)]
        if not changes:
            return 0
        for change in changes:
            try:
                _check_target(change.path, self._removed)
            except OSError as error:  # a name too long…
                raise OutputError(f"cannot write this file ({error.strerror}); "
                                  "nothing was changed", change.path) from error
        entries = self._stage(changes)
        try:
            _write_journal(self.journal, self.root, entries)
        except OutputError:
            self._clean_staging()
            raise
        _maybe_die(0)
        try:
            for number, entry in enumerate(entries, start=1):
                _forward(self.root, entry)
                _maybe_die(number)
        except OSError as error:
            self._roll_back(entries)
            raise OutputError(f"cannot write ({error.strerror}); nothing was changed",
                              error.filename) from error
        self.journal.unlink()
        _remove_empty_parents(self.root, entries, self.tops)
        self._clean_staging()
        return len(entries)

    def _needed(self, change: _Change) -> bool:
        path = change.path
        if any(parent in self._removed for parent in path.parents):
            return not change.delete  # the old file is the link's target's, not ours
        try:
            if change.delete:
                return path.exists() or path.is_symlink()
            if change.symlink is not None:
                return not path.is_symlink() or os.readlink(path) != change.symlink
            if path.is_symlink() or not path.is_file():
                return True
            if change.link is not None:
                if change.link in self._changes:  # linking a file written here
                    return True
                return not (change.link.exists() and path.samefile(change.link))
            data = change.data or b""
            return path.stat().st_size != len(data) or path.read_bytes() != data
        except OSError:
            return True  # unreadable: replace it (the check before staging names problems)

    def _staging(self, path: Path) -> Path:
        for top in self.tops:
            if path.is_relative_to(top):
                return top / STAGING
        raise ValueError(f"{path} is outside {self.tops}")

    def _stage(self, changes: list[_Change]) -> list[_Entry]:
        """Write every new file beside its place; nothing visible changes."""
        staged: dict[Path, Path] = {}
        entries: list[_Entry] = []
        try:
            for number, change in enumerate(changes):
                staging = self._staging(change.path)
                new = staging / "new" / str(number)
                old = staging / "old" / str(number)
                if not change.delete:
                    new.parent.mkdir(parents=True, exist_ok=True)
                    old.parent.mkdir(parents=True, exist_ok=True)
                    self._write_staged(change, new, staged)
                    staged[change.path] = new
                else:
                    old.parent.mkdir(parents=True, exist_ok=True)
                entries.append(_Entry(self._rel(change.path), self._rel(old),
                                      None if change.delete else self._rel(new)))
        except OSError as error:
            self._clean_staging()
            raise OutputError(f"cannot write this file ({error.strerror}); nothing was changed",
                              change.path) from error
        return entries

    def _write_staged(self, change: _Change, new: Path, staged: dict[Path, Path]) -> None:
        if change.symlink is not None:
            os.symlink(change.symlink, new)
        elif change.link is not None:
            source = staged.get(change.link, change.link)
            try:
                os.link(source, new)
            except OSError as error:  # no hard links here: a copy is still correct
                logger.debug("hard link failed (%s); copying %s", error, change.path)
                shutil.copyfile(source, new)
        else:
            with open(new, "wb") as handle:
                handle.write(change.data or b"")
                handle.flush()
                os.fsync(handle.fileno())  # complete on disk before the journal says so
            mode = change.mode if change.mode is not None else 0o666 & ~_umask()
            os.chmod(new, mode)

    def _roll_back(self, entries: list[_Entry]) -> None:
        try:
            for entry in reversed(entries):
                _backward(self.root, entry)
        except OSError as error:
            # Leave the journal: the next build rolls the whole change forward.
            logger.error("could not undo a partial write (%s); the next build completes it",
                         error)
            return
        self.journal.unlink(missing_ok=True)
        self._clean_staging()

    def _clean_staging(self) -> None:
        for top in self.tops:
            shutil.rmtree(top / STAGING, ignore_errors=True)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()


# --- steps (each idempotent, so a roll forward can repeat a half-done one) -----------


def _forward(root: Path, entry: _Entry) -> None:
    final, old = root / entry.final, root / entry.old
    if entry.new is None:
        if (final.exists() or final.is_symlink()) and not (old.exists() or old.is_symlink()):
            os.replace(final, old)  # (a kept old file: done before, and maybe written over)
        return
    new = root / entry.new
    if not (new.exists() or new.is_symlink()):
        return  # done before
    if (final.exists() or final.is_symlink()) and not (old.exists() or old.is_symlink()):
        try:
            os.link(final, old, follow_symlinks=False)  # keep the old file, to undo
        except OSError:  # a file system without hard links
            shutil.copy2(final, old, follow_symlinks=False)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(new, final)


def _backward(root: Path, entry: _Entry) -> None:
    final, old = root / entry.final, root / entry.old
    if entry.new is not None and ((root / entry.new).exists() or (root / entry.new).is_symlink()):
        return  # never applied
    if old.exists() or old.is_symlink():
        if final.is_dir() and not final.is_symlink() and not old.is_dir():
            _remove_empty_tree(final)  # made for files in a deleted link's place, now undone
        os.replace(old, final)
    elif entry.new is not None:
        final.unlink(missing_ok=True)  # it did not exist before


def _remove_empty_tree(folder: Path) -> None:
    for dirpath, _, _ in sorted(os.walk(folder), key=lambda item: -len(item[0])):
        os.rmdir(dirpath)  # an error if a file is left: then the undo stops, and says so


def _maybe_die(number: int) -> None:
    """The test switch: die like a killed process right after rename ``number``."""
    wanted = os.environ.get(DIE_AFTER_RENAME)
    if wanted is not None and wanted.strip() == str(number):
        os._exit(DIE_EXIT_CODE)


def _write_journal(path: Path, root: Path, entries: list[_Entry]) -> None:
    data = json.dumps({"root": str(root), "entries": [e.__dict__ for e in entries]}, indent=1)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the build journal: {error.strerror}", path) from error


# --- recovery -----------------------------------------------------------------------


def recover(root: Path, tops: tuple[Path, ...], journal: Path) -> None:
    """Finish an interrupted commit (journal present) and remove every leftover."""
    if journal.is_file():
        try:
            data = json.loads(journal.read_text(encoding="utf-8"))
            entries = [_Entry(**item) for item in data["entries"]]
            deleted: set[Path] = set()  # removed by an earlier entry: nothing under it yet
            for entry in entries:
                _check_entry(root, tops, entry, deleted)
                if entry.new is None:
                    deleted.add(root / entry.final)
        except (OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("%s: not used (%s)", journal, error)
            entries = []
        if entries:
            logger.info("completing an interrupted build's %d file changes", len(entries))
        try:
            for entry in entries:
                _forward(root, entry)
            journal.unlink()
        except OSError as error:
            raise OutputError(f"cannot complete an interrupted build's changes "
                              f"({error.strerror}); the journal is kept", journal) from error
        _remove_empty_parents(root, entries, tops)
    for top in tops:
        remove_leftovers(top)


def _check_entry(root: Path, tops: tuple[Path, ...], entry: _Entry,
                 deleted: Collection[Path] = ()) -> None:
    """A journal is a file in the manuscript's folder, so it is input like any other: it may
    only move files inside output/ and webpage/, and only from their staging folders."""
    for rel, staged in ((entry.final, False), (entry.old, True), (entry.new, True)):
        if rel is None:
            continue
        if not isinstance(rel, str) or Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise ValueError(f"path {rel!r} leaves the manuscript")
        path = root / rel
        top = next((t for t in tops if path.is_relative_to(t) and path != t), None)
        if top is None or (top / STAGING in path.parents) != staged:
            raise ValueError(f"path {rel!r} is not where a build writes")
        if any(parent in deleted for parent in path.parents):
            continue  # a link the journal itself removes first (v/latest → a folder)
        if path.parent.resolve() != path.parent:  # a symlink on the way leads elsewhere
            raise ValueError(f"path {rel!r} goes through a symbolic link")


@contextmanager
def exclusive(top: Path) -> Iterator[None]:
    """One build at a time per folder (``serve`` and a ``build`` in another terminal)."""
    try:
        top.mkdir(parents=True, exist_ok=True)
        fd = os.open(top, os.O_RDONLY)
    except OSError as error:
        raise OutputError(f"cannot create or open this folder ({error.strerror})", top) from error
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for another build of this manuscript to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def remove_leftovers(top: Path) -> None:
    """Scratch files and folders of interrupted builds (this version's staging folder, and
    the temporary names earlier versions wrote beside their targets)."""
    folders = [top, top / "v", top / "v" / "freeze", top / "v" / ".store"]
    for folder in folders:
        if not folder.is_dir() or folder.is_symlink():
            continue
        for path in folder.iterdir():
            name = path.name
            if name in _KEEP or not (name.startswith(_LEFTOVER_PREFIXES) or name.endswith(".tmp")):
                continue
            logger.debug("removing leftover %s", path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _remove_empty_parents(root: Path, entries: list[_Entry], tops: tuple[Path, ...]) -> None:
    """Folders emptied by deletions (a pruned version's images/…) go too."""
    for entry in entries:
        if entry.new is not None:
            continue
        parent = (root / entry.final).parent
        while parent not in tops and any(parent.is_relative_to(t) for t in tops):
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _check_target(path: Path, removed: Collection[Path] = ()) -> None:
    """A folder where a file goes, or a file where a folder goes: an error, before staging.

    ``removed``: links this transaction deletes first; below one, nothing is in the way
    yet, and the check starts above it."""
    gone = [parent for parent in path.parents if parent in removed]
    if gone:
        path = gone[-1]  # the topmost removed link: its folder must be real
    elif path.is_dir() and not path.is_symlink():
        raise OutputError("a folder is in the way of this output file; nothing was changed",
                          path)
    if path.parent.resolve() != path.parent:  # a symlink on the way would lead elsewhere
        raise OutputError("goes through a symbolic link; the build writes only real folders",
                          path)
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"is not a folder, so {_shown(path)} cannot be written; "
                              "nothing was changed", parent)
        if parent.is_dir():
            break


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
