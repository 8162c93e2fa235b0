"""A hostile probe of every entry point (issue #18, "Nothing gets in, round two"): the
failures it found that no other table held, one row each, each failing without its fix.
"""

from __future__ import annotations

from table import Case

SECTION = "content/02.introduction.md"

CASES = [
    # A missing image named by raw HTML was placed at every line holding its text: for
    # src="a", the first line of the manuscript with the letter "a" (00.front-matter.md:2)
    # and some 90 more. Only the line naming it as an image is its place.
    Case("image-missing-short-name-placed-at-its-line",
         {SECTION: "## Introduction\n\nA cat sat on a mat.\n\n<img src=\"a\" alt=\"A\">\n"},
         "image not found: a", f"{SECTION}:5", args=("build", "--strict", "--no-pdf")),
]
