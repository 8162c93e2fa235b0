"""Bad input that stops the build only where rootstock's stops, or with --strict.

A citation no source resolves, and a manual reference without an id, are published
with a warning by default (rootstock's policy); ``--strict``, ``strict = true`` in
manuscript.toml, and manubot's own ``manubot-fail-on-errors: true`` make them errors.
"""

from __future__ import annotations

from table import Case

SECTION = "content/09.citations.md"
NOWHERE = "## Citations\n\nKnown nowhere [@doi:10.5555/nowhere].\n"
FAIL_ON_ERRORS = "title: A title\npandoc:\n  manubot-fail-on-errors: true\n"

CASES = [
    Case(
        "unresolved-citation-strict",
        {SECTION: NOWHERE},
        "@doi:10.5555/nowhere",
        args=("build", "--strict"),
    ),
    Case(
        "unresolved-citation-strict-in-manuscript-toml",
        {SECTION: NOWHERE, "manuscript.toml": "strict = true\n"},
        "--strict: ",
    ),
    Case(
        "unresolved-citation-manubot-fail-on-errors",
        {SECTION: NOWHERE, "content/metadata.yaml": FAIL_ON_ERRORS},
        "@doi:10.5555/nowhere",
        "content/09.citations.md:3",
    ),
    Case(
        # A filter we do not run is named (once, at its line) and the build goes on,
        # whatever shape the entry has.
        "defaults-filters-not-supported",
        {"build/pandoc/defaults/common.yaml":
             "filters:\n- pandoc-fignos\n- pandoc-crossref\n- {type: lua}\n- 42\n- null\n"
             "- pandoc-crossref\n"},
        "build/pandoc/defaults/common.yaml:3: pandoc filter 'pandoc-crossref' is not supported",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "defaults-filters-not-supported-strict",
        {"build/pandoc/defaults/common.yaml": "filters: [pandoc-include]\n"},
        "--strict: ",
        args=("build", "--strict"),
    ),
    Case(
        "manual-reference-without-id-strict",
        {SECTION: "## Citations\n\nKnown [@raw:demo].\n",
         "content/manual-references.json":
             '[\n  {"id": "raw:demo", "title": "A", "type": "book"},\n'
             '  {"type": "book", "title": "No id"}\n]\n'},
        "manual reference item 1 has no usable id",
        args=("build", "--strict"),
    ),
]
