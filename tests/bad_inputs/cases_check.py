"""Bad input for ``manuscript check``: each problem exits 1 naming its file and line
(the first error's place starts the error line), with no traceback and nothing
written; a problem that is only a warning passes unless --strict."""

from __future__ import annotations

from table import Case

SECTION = "content/09.checked.md"
METADATA = "content/metadata.yaml"
STOCK_METADATA = (
    "title: A checked manuscript\nlang: en-US\nauthors:\n  - name: Jane Roe\n"
    "    orcid: {orcid}\n    email: {email}\n")

CASES = [
    Case("check-orcid-check-digit",
         {METADATA: STOCK_METADATA.format(orcid="0000-0002-1825-0098", email="jr@example.org")},
         "has a wrong check digit (it would end in 7)", "content/metadata.yaml:5",
         args=("check", "--strict")),  # a warning: manubot publishes it
    Case("check-email-without-at",
         {METADATA: STOCK_METADATA.format(orcid="0000-0002-1825-0097", email="jr.example.org")},
         "is not an e-mail address (name@example.org) [metadata-email]", "content/metadata.yaml:6",
         args=("check", "--strict")),
    Case("check-duplicate-key-and-more",
         {METADATA: "title: One\ntitle: Two\n",
          SECTION: "## Checked\n\nAs @fig:nowhere shows.\n"},
         # every problem is reported; the error line names the first and counts them
         "@fig:nowhere refers to no figure, table or equation (it prints as ??) "
         "[xref-undefined]; 2 error(s), 0 warning(s)", "content/09.checked.md:3",
         args=("check",)),
    Case("check-anchor-missing",
         {SECTION: "## Checked\n\nRead [the methods](#methods-that-are-not-here).\n"},
         "link to #methods-that-are-not-here", "content/09.checked.md:3", args=("check",)),
    Case("check-unresolved-citation-offline",
         {SECTION: "## Checked\n\nAs shown [@doi:10.5555/not-in-any-cache].\n"},
         # a warning, as the build publishes it (rootstock's policy): --strict fails
         "@doi:10.5555/not-in-any-cache", "content/09.checked.md:3", args=("check", "--strict")),
    Case("check-warning-only-strict",
         {SECTION: "## Checked\n\n![A chart of the results.](images/github.svg){#fig:chart}\n"},
         "fig:chart is never referenced [xref-unused]", "content/09.checked.md:3",
         args=("check", "--strict")),
]
