"""Bad input for the extra formats and the Typst PDF engine."""

from __future__ import annotations

from table import Case

_SECTION = "content/02.introduction.md"

CASES = [
    Case(
        "formats-unknown-in-manuscript-toml",
        {"manuscript.toml": 'formats = ["docx", "odt"]\n'},
        "unknown format 'odt' (known: docx, jats, latex)",
        "manuscript.toml",
    ),
    Case(
        "pdf-engine-unknown-in-manuscript-toml",
        {"manuscript.toml": 'pdf-engine = "prince"\n'},
        "unknown pdf-engine 'prince' (known: weasyprint, typst)",
        "manuscript.toml",
    ),
    Case(
        "formats-not-a-list",
        {"manuscript.toml": 'formats = "docx"\n'},
        "option 'formats' must be a list",
        "manuscript.toml",
    ),
    Case(
        # An image path that leaves content/ is a warning (test_formats: not embedded).
        "image-outside-content-not-embedded",
        {"manuscript.toml": 'formats = ["docx"]\nstrict = true\n',
         _SECTION: "## Introduction\n\n![Secret](../manuscript.toml)\n"},
        "image not found in content/: ../manuscript.toml",
    ),
]
