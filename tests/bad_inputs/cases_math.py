"""Bad input in math: TeX that MathJax cannot typeset."""

from __future__ import annotations

from table import Case

CASES = [
    Case(
        # A warning that names its place; --strict turns it into a failed build.
        "math-undefined-macro-strict",
        {"content/05.bad-math.md":
         "## Bad math\n\nFine $x^2$ here.\nBroken $\\notamacro{x} + 1$ here.\n"},
        "content/05.bad-math.md:4: math could not be typeset (Undefined control sequence",
        args=("build", "--strict"),
    ),
]
