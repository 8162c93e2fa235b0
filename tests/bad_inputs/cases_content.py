"""Bad input in the manuscript's own sources: sections, metadata, manual references."""

from __future__ import annotations

from table import Case

CASES = [
    Case(
        "metadata-yaml-syntax",
        {"content/metadata.yaml": "title: T\nlang: [en-US\nauthors: []\n"},
        "YAML syntax error",
        "content/metadata.yaml:3",
    ),
    Case(
        "manual-references-invalid-json",
        {"content/manual-references.json":
         '[\n  {"id": "raw:a", "title": "A"},\n  {"id": "raw:b" "title": "B"}\n]\n'},
        "invalid JSON",
        "content/manual-references.json:3",
    ),
    Case(
        "section-not-utf8",
        {"content/02.introduction.md":
         "## Introduction\n\nFine line.\nCaf\u00e9 in Latin-1\n".encode("latin-1")},
        "not valid UTF-8",
        "content/02.introduction.md:4",
    ),
]
