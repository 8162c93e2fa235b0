"""Bad input in what a rootstock repository brings along: pandoc defaults, a CSL style
by URL, template variables by URL, and images the Markdown names."""

from __future__ import annotations

from table import Case

CASES = [
    Case(
        "missing-local-image-strict",
        {"content/99.extra.md": "## Extra\n\n![A plot.](images/no-such-plot.png){#fig:plot}\n"},
        "image not found: images/no-such-plot.png",
        "content/99.extra.md:3",
        args=("build", "--no-pdf", "--strict"),
    ),
    Case(
        "csl-url-offline-not-cached",
        {"build/pandoc/defaults/common.yaml":
         "from: markdown\nmetadata:\n  csl: https://example.org/styles/peerj.csl\n"},
        "is not in ci/cache and the build is offline",
        "build/pandoc/defaults/common.yaml:3",
    ),
    Case(
        "csl-path-missing",
        {"build/pandoc/defaults/html.yaml": "metadata:\n  csl: build/assets/peerj.csl\n"},
        "CSL style not found: build/assets/peerj.csl",
        "build/pandoc/defaults/html.yaml:2",
    ),
    Case(
        "pandoc-defaults-not-a-mapping",
        {"build/pandoc/defaults/common.yaml": "- pandoc-fignos\n- citeproc\n"},
        "pandoc defaults must be a mapping",
        "build/pandoc/defaults/common.yaml:1",
    ),
    Case(
        "template-variables-url-offline-not-cached",
        {},
        "template variables https://example.org/stats.json are not in ci/cache",
        args=("build", "--template-variables-path=https://example.org/stats.json"),
    ),
]
