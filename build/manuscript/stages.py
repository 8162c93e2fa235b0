"""The stage cache: a stage whose inputs are unchanged reuses its outputs and warnings.

A stage has a key (a hash of everything it reads), outputs (file names in ``output/`` and
their bytes) and the warnings it logged. ``output/.build-state.json`` records, per stage,
the key, the sha256 of each output and the warnings. A skipped stage

* reads its outputs back and checks each against the recorded digest — a file that is
  missing, unreadable, edited or malformed counts as absent and the stage runs again;
* logs its recorded warnings again, exactly as when it ran, so ``--strict`` gives the same
  verdict on the first build and the tenth.

A warning about an event rather than about the sources (a corrupt cache moved aside) is
logged with ``extra=ONCE``: it is not recorded, since the next build has nothing to repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

STATE_FILE = ".build-state.json"
STATE_FORMAT = 2
T = TypeVar("T")


ONCE = {"once": True}  # ``logger.warning(..., extra=ONCE)``: an event, never replayed


@dataclass(frozen=True)
class Logged:
    """One warning a stage logged: enough to log it again the same way."""

    logger: str
    level: int
    message: str
    file: str | None = None
    line: int | None = None

    @classmethod
    def from_json(cls, data: dict) -> Logged:
        """Only what a stage of ours could have logged (the file is input like any other)."""
        logged = cls(**data)
        if (not logged.logger.startswith("manuscript.") or not isinstance(logged.message, str)
                or logged.level not in (logging.WARNING, logging.ERROR)
                or not isinstance(logged.line, int | None)
                or not isinstance(logged.file, str | None)):
            raise ValueError(f"not a warning of this build: {data!r}")
        return logged

    def replay(self) -> None:
        extra = {"file": Path(self.file) if self.file else None, "line": self.line,
                 "replayed": True}
        logging.getLogger(self.logger).log(self.level, "%s", self.message, extra=extra)


@dataclass
class Record:
    key: str
    outputs: dict[str, str] = field(default_factory=dict)  # name → sha256
    warnings: list[Logged] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict) -> Record:
        return cls(key=str(data["key"]),
                   outputs={str(k): str(v) for k, v in data["outputs"].items()},
                   warnings=[Logged.from_json(item) for item in data["warnings"]])


@dataclass
class Stage(Generic[T]):
    """One step of the build. ``dump``/``load`` turn its result into output files and back."""

    name: str
    key: str
    run: Callable[[], T]
    dump: Callable[[T], dict[str, bytes]]
    load: Callable[[dict[str, bytes]], T]


@dataclass
class Timing:
    name: str
    seconds: float
    skipped: bool


class StageCache:
    def __init__(self, output_dir: Path, previous: dict[str, Record]) -> None:
        self.output_dir = output_dir
        self.previous = previous
        self.current: dict[str, Record] = {}
        self.outputs: dict[str, bytes] = {}  # what this build made, to be written
        self.timings: list[Timing] = []
        self._recording: list[Record] = []
        self._thread = threading.get_ident()

    @classmethod
    def load(cls, output_dir: Path) -> StageCache:
        """The last build's records; an unreadable or malformed state file is no state
        (a warning), one of another format quietly none."""
        from .fsutil import read_json_state

        def shape(data: dict) -> dict[str, Record] | None:
            if data.get("format") != STATE_FORMAT:
                return None  # written by another version: not damage, nothing to say
            return {name: Record.from_json(item) for name, item in data["stages"].items()}

        records = read_json_state(output_dir / STATE_FILE, "every stage runs", shape)
        return cls(output_dir, records or {})

    # --- running ------------------------------------------------------------------

    def run(self, stage: Stage[T], since: float | None = None) -> T:
        """``since``: when the stage's work began, if before this call (a worker
        process started earlier); its time is counted from then, so it may overlap
        the stages that ran meanwhile."""
        start = time.perf_counter() if since is None else since
        reused = self._reuse(stage)
        skipped = reused is not None
        if reused is not None:
            value = reused[0]
        else:
            with self.recording(stage.name, stage.key) as record:
                value = stage.run()
                outputs = stage.dump(value)
            record.outputs = {name: _sha256(data) for name, data in outputs.items()}
            self.outputs.update(outputs)
        seconds = time.perf_counter() - start
        self.timings.append(Timing(stage.name, seconds, skipped))
        logger.info("%-8s %6.2f s%s", stage.name, seconds,
                    "  (unchanged, skipped)" if skipped else "")
        return value

    def reusable(self, stage: Stage) -> bool:
        """Whether ``run`` will most likely reuse the recorded outputs (it also checks
        that they load): a stage worth starting early must run."""
        record = self.previous.get(stage.name)
        return (record is not None and record.key == stage.key
                and self.verified_outputs(stage.name) is not None)

    def note(self, name: str, seconds: float, how: str = "") -> None:
        """Time a step that is not a stage (the Markdown parse), as stages are timed."""
        self.timings.append(Timing(name, seconds, bool(how)))
        logger.info("%-8s %6.2f s%s", name, seconds, f"  ({how})" if how else "")

    def _reuse(self, stage: Stage[T]) -> tuple[T] | None:
        """``(result,)`` rebuilt from the recorded outputs, or None if the stage must run."""
        record = self.previous.get(stage.name)
        if record is None or record.key != stage.key:
            return None
        outputs = self.verified_outputs(stage.name)
        if outputs is None:
            return None
        try:
            value = stage.load(outputs)
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            logger.debug("%s: recorded outputs unusable (%s); running it", stage.name, error)
            return None
        self.replay(stage.name, stage.key)
        return (value,)

    def verified_outputs(self, name: str) -> dict[str, bytes] | None:
        """A previous stage's output files, if each still has its recorded digest."""
        record = self.previous.get(name)
        if record is None:
            return None
        outputs: dict[str, bytes] = {}
        for file, sha in record.outputs.items():
            path = self.output_dir / file
            try:
                data = path.read_bytes()
            except OSError as error:
                logger.debug("%s: cannot read %s (%s); running it", name, path, error.strerror)
                return None
            if _sha256(data) != sha:
                logger.debug("%s: %s changed since it was built; running it", name, path)
                return None
            outputs[file] = data
        return outputs

    # --- warnings -----------------------------------------------------------------

    @contextmanager
    def recording(self, name: str, key: str) -> Iterator[Record]:
        """Collect the warnings logged (by this thread) while the block runs."""
        record = Record(key)
        self._recording.append(record)
        try:
            yield record
        finally:
            self._recording.pop()
        self.current[name] = record

    def replay(self, name: str, key: str) -> bool:
        """Log a previous run's warnings again and carry its record forward."""
        record = self.previous.get(name)
        if record is None or record.key != key:
            return False
        for logged in record.warnings:
            logged.replay()
        self.current[name] = record
        return True

    def carry_warnings(self, name: str, source: str | None = None) -> None:
        """Inside ``recording``: log the previous record's warnings (those of logger
        ``source``, or all) again and keep them, for a result made by patching the
        previous one (which warned about the rest)."""
        record = self.previous.get(name)
        for logged in record.warnings if record else ():
            if source is not None and logged.logger != source:
                continue
            logged.replay()
            self._recording[-1].warnings.append(logged)

    @contextmanager
    def capturing(self) -> Iterator[None]:
        handler = _Capture(self)
        package = logging.getLogger("manuscript")
        package.addHandler(handler)
        try:
            yield
        finally:
            package.removeHandler(handler)

    def _capture(self, record: logging.LogRecord) -> None:
        if not self._recording or threading.get_ident() != self._thread:
            return
        if getattr(record, "replayed", False) or getattr(record, "once", False):
            return
        file = getattr(record, "file", None)
        self._recording[-1].warnings.append(Logged(
            record.name, record.levelno, record.getMessage(),
            str(file) if file is not None else None, getattr(record, "line", None)))

    # --- saving -------------------------------------------------------------------

    def state_bytes(self) -> bytes:
        """The new state: this build's records, plus earlier ones it did not touch
        (a ``--no-pdf`` build keeps the PDF's record, for the next build with the PDF)."""
        records = {**self.previous, **self.current}
        data = {"format": STATE_FORMAT,
                "stages": {name: asdict(record) for name, record in sorted(records.items())}}
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


class _Capture(logging.Handler):
    def __init__(self, cache: StageCache) -> None:
        super().__init__(level=logging.WARNING)
        self.cache = cache

    def emit(self, record: logging.LogRecord) -> None:
        self.cache._capture(record)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
