"""Bad input for the spelling check (rootstock's SPELLCHECK=true): a misspelt word is a
warning that --strict fails on; a malformed ``spelling:`` list is an error with its line."""

from __future__ import annotations

from pathlib import Path

from table import Case

METADATA = (Path(__file__).resolve().parents[2] / "content" / "metadata.yaml").read_text()
SPELLCHECK = {"SPELLCHECK": "true"}

CASES = [
    Case(
        "spelling-list-not-a-list",
        {"content/metadata.yaml": METADATA + "spelling: 42\n"},
        "spelling: must be a list of words",
        f"content/metadata.yaml:{len(METADATA.splitlines()) + 1}",
        env=SPELLCHECK,
    ),
    Case(
        "spelling-unknown-word-strict",
        {"content/05.typo.md": "## Typo\n\nWe recieve it.\n"},
        "spelling: 1 unknown word: recieve",
        args=("build", "--strict"),
        env=SPELLCHECK,
    ),
]
