"""A one-line status on a terminal while a long stage runs ("pdf  page 37").

Shown only when stderr is a terminal (not in a pipe, CI log or with ``-q``): a spinner,
the stage, what it is doing (``12/40 references``, ``page 37``) and the seconds so far,
redrawn in place on one line. Log lines go through :meth:`Progress.suspended`, which
clears the status line first and draws it again after, so they are never garbled.

Our own rather than rich or tqdm: importing ``rich.progress`` takes ~65 ms and ``tqdm``
~50 ms (``python -X importtime``, measured on the build machine) against ~1 ms here, for
a CLI that imports lazily to start fast; and neither fits better: the one line is
shared by stages of three kinds (a spinner, a count fed from lookup threads, pages of
unknown total), and must yield to our logging handler, not replace it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

_FRAMES_UTF8 = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_FRAMES_ASCII = "-\\|/"
TICK = 0.1  # seconds between spinner frames


class Progress:
    """The status line. A disabled one (the default) does nothing at all."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = False) -> None:
        self.stream = stream
        self.enabled = enabled and stream is not None
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self._frames = _FRAMES_UTF8 if encoding == "utf8" else _FRAMES_ASCII
        self._lock = threading.RLock()  # one writer at a time: the ticker, a log line
        self._label = ""
        self._detail = ""
        self._started = 0.0
        self._frame = 0
        self._shown = False  # is a status line on the screen now?
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @classmethod
    def for_terminal(cls, stream: TextIO, *, quiet: bool, github_actions: bool,
                     env: dict[str, str] | None = None) -> Progress:
        """Enabled only where someone watches: a terminal that can redraw a line."""
        env = os.environ if env is None else env
        interactive = _isatty(stream) and env.get("TERM", "") != "dumb"
        return cls(stream, enabled=interactive and not quiet and not github_actions)

    # --- what the stages call -----------------------------------------------------

    @contextmanager
    def task(self, label: str) -> Iterator[None]:
        """Show ``label`` with a spinner while the block runs; clear it after."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._label, self._detail = label, ""
            self._started = time.monotonic()
            self._draw()
        self._start_ticker()
        try:
            yield
        finally:
            self._stop_ticker()
            with self._lock:
                self._label = self._detail = ""
                self._erase()

    def update(self, detail: str) -> None:
        """What the current task is doing now (``page 37``)."""
        if not self.enabled:
            return
        with self._lock:
            self._detail = detail
            if self._label:
                self._draw()

    def count(self, done: int, total: int) -> None:
        """``done/total`` for lookups; safe to call from worker threads."""
        self.update(f"{done}/{total} references")

    def page(self, number: int) -> None:
        self.update(f"page {number}")

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Clear the status line for the block (a log line), then draw it again."""
        if not self.enabled:
            yield
            return
        with self._lock:
            self._erase()
            try:
                yield
            finally:
                if self._label:
                    self._draw()

    # --- drawing ------------------------------------------------------------------

    def _text(self) -> str:
        seconds = time.monotonic() - self._started
        parts = [self._frames[self._frame % len(self._frames)], self._label]
        if self._detail:
            parts.append(self._detail)
        parts.append(f"{seconds:.0f} s")
        # One character short of the width: a full line would wrap, and \r would then
        # redraw only its second half.
        return "  ".join(parts)[:max(self._columns() - 1, 1)]

    def _columns(self) -> int:
        try:  # asked each time: the window may be resized during a build
            return os.get_terminal_size(self.stream.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            return 80

    def _draw(self) -> None:
        assert self.stream is not None
        self.stream.write("\r\x1b[2K" + self._text())
        self.stream.flush()
        self._shown = True

    def _erase(self) -> None:
        if self._shown:
            assert self.stream is not None
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False

    def _start_ticker(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
        self._ticker.start()

    def _stop_ticker(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    def _tick(self) -> None:
        # A stage that blocks (pandoc, a layout) still shows that it is alive.
        while not self._stop.wait(TICK):
            with self._lock:
                self._frame += 1
                if self._label:
                    self._draw()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False
