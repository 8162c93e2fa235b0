"""Reading the manuscript's source files, with errors that name file and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ContentError


@dataclass(frozen=True)
class Section:
    path: Path
    text: str


def read_text_file(path: Path) -> str:
    """Read UTF-8 (a BOM is allowed, as manubot allows it); a bad byte names its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ContentError(
            f"not valid UTF-8 (byte 0x{data[error.start]:02x}); save the file as UTF-8",
            path,
            line,
        ) from None


def read_sections(content_dir: Path) -> list[Section]:
    """The numbered sections (``01.abstract.md`` …) in name order, as manubot reads them."""
    paths = sorted(content_dir.glob("[0-9]*.md"))
    return [Section(path, read_text_file(path)) for path in paths]


def find_occurrences(content_dir: Path, needle: str) -> list[tuple[Path, int]]:
    """Every ``file:line`` in the sections and metadata where ``needle`` appears."""
    places: list[tuple[Path, int]] = []
    paths = [*sorted(content_dir.glob("[0-9]*.md")), content_dir / "metadata.yaml"]
    for path in paths:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                places.append((path, number))
    return places
