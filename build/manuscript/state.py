"""What the last build produced, so unchanged stages are skipped.

``output/.build-state.json`` maps each stage to a hash of its inputs. A stage is
fresh when its hash is unchanged and its outputs still exist.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .fsutil import write_text_atomic

STATE_FILE = ".build-state.json"


@dataclass
class State:
    output_dir: Path
    previous: dict[str, str]
    current: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, output_dir: Path) -> State:
        path = output_dir / STATE_FILE
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = {}
        return cls(output_dir, previous if isinstance(previous, dict) else {})

    def fresh(self, stage: str, key: str, outputs: Iterable[str]) -> bool:
        return self.previous.get(stage) == key and all(
            (self.output_dir / name).is_file() for name in outputs
        )

    def record(self, stage: str, key: str) -> None:
        self.current[stage] = key

    def read(self, name: str) -> bytes:
        return (self.output_dir / name).read_bytes()

    def read_tsv(self, name: str) -> list[dict[str, str]]:
        text = self.read(name).decode("utf-8")
        return list(csv.DictReader(io.StringIO(text), delimiter="\t"))

    def save(self) -> None:
        if self.current != self.previous:
            text = json.dumps(self.current, indent=2, sort_keys=True) + "\n"
            write_text_atomic(self.output_dir / STATE_FILE, text)
