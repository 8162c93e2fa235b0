"""Bad input in the manuscript's own sources: sections, metadata, manual references.

Also hostile input: template payloads, links out of the manuscript, resource bombs.
Rows whose payload would run a command write a marker file if it ran; their
``teardown`` fails the row when the marker exists.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from table import Case, Folder, Link

MARKER = Path(tempfile.gettempdir()) / f"manuscript-bad-input-pwned-{os.getpid()}"
RUN = f"touch {MARKER}"


def _no_marker_before(root: Path) -> None:
    MARKER.unlink(missing_ok=True)


def _nothing_executed(root: Path) -> None:
    ran = MARKER.exists()
    MARKER.unlink(missing_ok=True)
    assert not ran, "the payload ran a command"


def _fifo(root: Path) -> None:
    os.mkfifo(root / "content" / "images" / "pipe.png")


def payload(name: str, files: dict, message: str, where: str | None, **options) -> Case:
    """A row whose input would run ``RUN`` if it were executed."""
    return Case(name, files, message, where, setup=_no_marker_before,
                teardown=_nothing_executed, **options)


def section(text: str) -> dict[str, str]:
    """A new section whose third line is ``text``."""
    return {"content/05.hostile.md": f"## Hostile\n\n{text}\n\nAfter.\n"}


HOSTILE = "content/05.hostile.md:3"
META = "content/metadata.yaml"
REFS = "content/manual-references.json"

BILLION_LAUGHS = (
    'title: Laughs\nlol: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"l{n}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n"
              for n, (p, c) in enumerate(zip("abcdefgh", "bcdefghi", strict=True)))
)


def metadata(body: str) -> dict[str, str]:
    return {META: body}


CASES = [
    Case(
        "metadata-yaml-syntax",
        {"content/metadata.yaml": "title: T\nlang: [en-US\nauthors: []\n"},
        "YAML syntax error",
        "content/metadata.yaml:3",
    ),
    Case(
        "manual-references-invalid-json",
        {"content/manual-references.json":
         '[\n  {"id": "raw:a", "title": "A"},\n  {"id": "raw:b" "title": "B"}\n]\n'},
        "invalid JSON",
        "content/manual-references.json:3",
    ),
    Case(
        "section-not-utf8",
        {"content/02.introduction.md":
         "## Introduction\n\nFine line.\nCaf\u00e9 in Latin-1\n".encode("latin-1")},
        "not valid UTF-8",
        "content/02.introduction.md:4",
    ),
    # ------------------------------------------------ templates execute nothing
    payload("jinja-popen-build",
            section(f"{{{{ cycler.__init__.__globals__.os.popen('{RUN}').read() }}}}"),
            "Jinja2 template refused", HOSTILE),
    payload("jinja-popen-check",
            section(f"{{{{ cycler.__init__.__globals__.os.popen('{RUN}').read() }}}}"),
            "Jinja2 template refused", HOSTILE, args=("check",)),
    payload("jinja-class-mro",
            section("{{ ''.__class__.__mro__[1].__subclasses__() }}"),
            "Jinja2 template refused", HOSTILE),
    payload("jinja-attr-filter",
            section(f"{{{{ (cycler|attr('__init__')).__globals__.os.popen('{RUN}') }}}}"),
            "Jinja2 template refused", HOSTILE),
    payload("jinja-format-string",
            section("{{ '{0.__class__.__init__.__globals__}'.format(cycler) }}"),
            "Jinja2 template refused", HOSTILE),
    payload("jinja-unsafe-attribute-alone", section("{{ lipsum.__globals__ }}"),
            "Jinja2 template refused", HOSTILE),
    Case("jinja-string-bomb", section("{{ 'x' * 10000000000 }}"),
         "'*' would build 10,000,000,000", HOSTILE),
    Case("jinja-power-bomb", section("{{ 2 ** 100000000 }}"),
         "'**' would build a number too large", HOSTILE),
    Case("jinja-format-width-bomb", section("{{ '%0999999999d' % 1 }}"),
         "'%' would build", HOSTILE),
    Case("jinja-center-bomb", section("{{ 'x'|center(1000000000) }}"),
         "filter center would build", HOSTILE),
    Case("jinja-range-bomb", section("{% for i in range(10**9) %}{% endfor %}"),
         "Range too big", HOSTILE),
    Case("jinja-include-file", section("{% include '/etc/passwd' %}"),
         "cannot include, import or extend other templates", HOSTILE),
    Case("jinja-nested-loops", section("{% for i in range(100000) %}{% for j in range(100000)"
                                       " %}{% endfor %}{% endfor %}"),
         "the template ran longer than 1 s", HOSTILE,
         env={"MANUSCRIPT_TEMPLATE_TIMEOUT": "1"}),
    Case("jinja-division-by-zero", section("{{ 1 / 0 }}"), "ZeroDivisionError", HOSTILE),
    Case("jinja-syntax-error", section("{{ unclosed"), "Jinja2 template error",
         "content/05.hostile.md:5"),  # Jinja2 notices at the next token, "After."
    # ------------------------------------------------ the PDF reads only the manuscript
    # Warnings (the PDF is still made, with a placeholder), so --strict; the message
    # carries the place: the error line is --strict's summary.
    Case("pdf-attachment-environ",
         section('<a rel="attachment" href="file:///proc/self/environ">env</a>'),
         "05.hostile.md:3: link not attached to the PDF", None, args=("build", "--strict")),
    Case("pdf-link-attachment-passwd",
         section('<link rel="attachment" href="file:///etc/passwd">'),
         "05.hostile.md:3: link not attached to the PDF", None, args=("build", "--strict")),
    Case("pdf-image-file-url-outside",
         section('<img src="file:///etc/passwd" alt="p">'),
         "05.hostile.md:3: file not read for the PDF (outside the manuscript folder)", None,
         args=("build", "--strict")),
    Case("pdf-image-dotdot-outside",
         section("![p](../../../../../../../../../../etc/passwd)"),
         "05.hostile.md:3: file not read for the PDF (outside the manuscript folder)", None,
         args=("build", "--strict")),
    Case("pdf-stylesheet-file-url",
         section('<style>@import url("file:///etc/passwd");</style>'),
         "05.hostile.md:3: file not read for the PDF", None, args=("build", "--strict")),
    Case("pdf-image-ftp-url", section("![p](ftp://127.0.0.1/x.png)"),
         "05.hostile.md:3: URL not read for the PDF (ftp: URLs are not fetched)", None,
         args=("build", "--strict")),
    Case("pdf-image-proc-self", section('<img src="/proc/self/environ" alt="e">'),
         "05.hostile.md:3: file not read for the PDF", None, args=("build", "--strict")),
    # ------------------------------------------------ links stay inside the manuscript
    Case("image-link-to-environ", {"content/images/x.txt": Link("/proc/self/environ")},
         "outside the manuscript folder: refused", "content/images/x.txt"),
    Case("image-folder-link-to-etc", {"content/images/etc": Link("/etc")},
         "outside the manuscript folder: refused", "content/images/etc"),
    Case("image-link-relative-escape",
         {"content/images/up.svg": Link("../" * 30 + "etc/passwd")},
         "outside the manuscript folder: refused", "content/images/up.svg"),
    Case("section-link-to-passwd", {"content/05.passwd.md": Link("/etc/passwd")},
         "outside the manuscript folder: refused", "content/05.passwd.md"),
    Case("metadata-link-outside", {META: Link("/etc/passwd")},
         "outside the manuscript folder: refused", META),
    Case("manual-references-link-outside", {REFS: Link("/etc/passwd")},
         "outside the manuscript folder: refused", REFS),
    Case("theme-css-link-outside", {"build/theme/css/50-x.css": Link("/proc/self/environ")},
         "outside the manuscript folder: refused", "build/theme/css/50-x.css"),
    Case("section-broken-link", {"content/05.gone.md": Link("/nonexistent/gone.md")},
         "broken symbolic link", "content/05.gone.md"),
    Case("section-link-loop", {"content/05.loop.md": Link("05.loop.md")},
         "cannot be resolved", "content/05.loop.md"),
    Case("section-is-a-folder", {"content/05.folder.md": Folder()},
         "is a folder, not a file", "content/05.folder.md"),
    Case("image-is-a-fifo", {}, "not a regular file", "content/images/pipe.png",
         setup=_fifo),
    Case("template-variables-outside",
         {"manuscript.toml": 'template-variables-path = ["../../../../../../etc/passwd"]\n'},
         "outside the manuscript folder: refused", None),
    Case("bibliography-outside",
         metadata("title: T\npandoc:\n  bibliography: /etc/passwd\n"),
         "outside the manuscript folder: refused", "/etc/passwd"),
    Case("template-variables-deep-json",
         {"manuscript.toml": 'template-variables-path = ["vars.json"]\n',
          "vars.json": "[" * 100000},
         "invalid JSON: nested too deeply", "vars.json"),
    Case("template-variables-bad-toml",
         {"manuscript.toml": 'template-variables-path = ["vars.toml"]\n',
          "vars.toml": "a = [1,\n"},
         "invalid TOML", "vars.toml"),
    # ------------------------------------------------ YAML: bounded, strict
    Case("metadata-billion-laughs", metadata(BILLION_LAUGHS),
         "too large once its aliases are expanded", None),
    Case("metadata-recursive-alias", metadata("title: T\nloop: &a [1, *a]\n"),
         "alias refers to itself", "content/metadata.yaml:2"),
    Case("metadata-duplicate-key", metadata("title: A\nlang: en\ntitle: B\n"),
         "duplicate key 'title' (first given on line 1)", "content/metadata.yaml:3"),
    Case("metadata-deep-nesting", metadata("title: T\nx: " + "[" * 5000 + "\n"),
         "nested", "content/metadata.yaml:2"),
    payload("metadata-python-tag",
            metadata(f'title: T\nx: !!python/object/apply:os.system ["{RUN}"]\n'),
            "could not determine a constructor", "content/metadata.yaml:2"),
    Case("metadata-huge-integer", metadata("title: T\nn: " + "9" * 5000 + "\n"),
         "invalid value", "content/metadata.yaml:2"),
    Case("metadata-control-character", metadata("title: T\nlang: en\x01\n"),
         "is not allowed", "content/metadata.yaml:2"),
    Case("manual-references-yaml-duplicate-key",
         {"content/manual-references.yaml": "- id: raw:a\n  title: A\n  title: B\n"},
         "duplicate key 'title'", "content/manual-references.yaml:3"),
    # ------------------------------------------------ metadata values of the wrong kind
    Case("authors-as-a-string", metadata("title: T\nauthors: Jane Roe\n"),
         "authors must be a list of authors", "content/metadata.yaml:2"),
    Case("author-without-name",
         metadata("title: T\nauthors:\n  - name: A\n  - orcid: 0000-0001-8690-9554\n"),
         "author 2 has no name", "content/metadata.yaml:4"),
    Case("author-not-a-mapping", metadata("title: T\nauthors:\n  - Jane Roe\n"),
         "author 1 must be a mapping", "content/metadata.yaml:3"),
    Case("author-affiliation-mapping",
         metadata("title: T\nauthors:\n  - name: A\n    affiliations:\n      - {x: 1}\n"),
         "author 1's affiliations must be text", "content/metadata.yaml:5"),
    Case("author-name-list", metadata("title: T\nauthors:\n  - name: [A, B]\n"),
         "author 1 has no name", "content/metadata.yaml:3"),
    Case("date-not-a-date", metadata("title: T\nlang: en\ndate: 31 Feb 2024\n"),
         "date must be a date as YYYY-MM-DD", "content/metadata.yaml:3"),
    Case("date-impossible-day", metadata("title: T\ndate: 2024-02-31\n"),
         "day is out of range for month", "content/metadata.yaml:2"),
    Case("title-as-a-list", metadata("lang: en\ntitle:\n  - A\n  - B\n"),
         "title must be text, not a list", "content/metadata.yaml:2"),
    Case("keywords-as-a-mapping", metadata("title: T\nkeywords: {a: 1}\n"),
         "keywords must be text", "content/metadata.yaml:2"),
    Case("lang-as-a-list", metadata("title: T\nlang: [en, de]\n"),
         "lang must be text", "content/metadata.yaml:2"),
    Case("lang-attribute-injection", metadata("title: T\nlang: '\" onload=\"x'\n"),
         "lang must be a language tag", "content/metadata.yaml:2"),
    Case("pandoc-not-a-mapping", metadata("title: T\npandoc: 3\n"),
         "pandoc must be a mapping", "content/metadata.yaml:2"),
    Case("citekey-aliases-as-a-list",
         metadata("title: T\npandoc:\n  citekey-aliases: [a, b]\n"),
         "citekey-aliases must be a mapping", "content/metadata.yaml:3"),
    # ------------------------------------------------ sections pandoc cannot take
    Case("section-nul-byte", section("Hello\x00world"), "NUL byte", HOSTILE),
    Case("nested-quotes-10000", section(">" * 10000 + " deep"),
         "nested 10000 levels deep", HOSTILE),
    Case("nested-lists-10000", section("- " * 10000 + "deep"),
         "nested 10000 levels deep", HOSTILE),
    Case("nested-brackets", section("[" * 12 + "x" + "]" * 12),
         "'[' open at once", HOSTILE),
    Case("half-open-intervals", section("in [0, 1) " * 30),
         "'[' open at once", HOSTILE),
    Case("nested-divs", section("<div>" * 400 + "x" + "</div>" * 400),
         "nested too deeply", None),
    Case("pandoc-time-limit", section("{{ '[' * 40 }}x"),
         "pandoc did not finish within 2 s", None,
         env={"MANUSCRIPT_PANDOC_TIMEOUT": "2"}),
    # ------------------------------------------------ manual references
    # (cite/sources.py checks each item; these rows check the loading before it)
    Case("manual-references-yaml-item-not-mapping",
         {"content/manual-references.yaml": "- id: raw:a\n- just text\n"},
         "manual reference item 1 is a string, not a CSL item",
         "content/manual-references.yaml"),
    Case("manual-references-deep-json", {REFS: "[" * 100000},
         "nested too deeply", "content/manual-references.json"),
    Case("manual-references-duplicate-id",
         {REFS: '[\n  {"id": "raw:a", "title": "A"},\n  {"id": "raw:a", "title": "B"}\n]\n'},
         "also defined at", None, args=("build", "--strict")),
]
