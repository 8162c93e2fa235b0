"""-q prints only problems: a problem is still reported in full, and -q -v is refused."""

from __future__ import annotations

from table import Case

CASES = [
    Case("quiet-still-names-the-error", {"content/metadata.yaml": "title: [unclosed\n"},
         "YAML syntax error", where="content/metadata.yaml:2", args=("-q", "build")),
    Case("quiet-strict-still-warns-and-fails",
         {"content/05.extra.md": "## Extra\n\n![A plot.](images/no-such-plot.png)\n"},
         "image not found: images/no-such-plot.png", where="content/05.extra.md:3",
         args=("-q", "build", "--strict")),
    Case("quiet-and-verbose-together", {}, "not allowed with argument", exit=2,
         args=("-q", "-v", "build")),
]
