"""Bad input to ``manuscript init``: it writes nothing and says why."""

from __future__ import annotations

from table import Case

CASES = [
    Case(
        "init-over-an-existing-manuscript",
        {},
        "already holds a manuscript: `manuscript init --adopt`",
        "content",
        args=("init",),
    ),
    Case(
        "adopt-with-broken-pandoc-defaults",
        {"build/pandoc/defaults/common.yaml": "metadata:\n  csl: [build/assets/style.csl\n"},
        "invalid YAML",
        "build/pandoc/defaults/common.yaml:3",
        args=("init", "--adopt"),
    ),
    Case(
        "init-package-spec-with-a-second-line",
        {},
        "--package-spec must be one requirement",
        args=("init", "new", "--package-spec", "fm-survey-manuscript\n--index-url=http://x"),
    ),
]
