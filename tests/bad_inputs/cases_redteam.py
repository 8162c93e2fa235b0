"""A hostile probe of every entry point (issue #18, "Nothing gets in, round two"): the
failures it found that no other table held, one row each, each failing without its fix.
"""

from __future__ import annotations

from pathlib import Path

from table import Case, Link

SECTION = "content/02.introduction.md"
# A fresh process under 2 GB (as cases_bounds.py): a row whose fix breaks must fail,
# not take the test machine's memory.
MEMORY_2GB = {"PYTHONPATH": str(Path(__file__).parent / "memory_limit"),
              "MANUSCRIPT_TEST_MEMORY_LIMIT": str(2**31)}

CASES = [
    # A missing image named by raw HTML was placed at every line holding its text: for
    # src="a", the first line of the manuscript with the letter "a" (00.front-matter.md:2)
    # and some 90 more. Only the line naming it as an image is its place.
    Case("image-missing-short-name-placed-at-its-line",
         {SECTION: "## Introduction\n\nA cat sat on a mat.\n\n<img src=\"a\" alt=\"A\">\n"},
         "image not found: a", f"{SECTION}:5", args=("build", "--strict", "--no-pdf")),
]

CASES += [
    # manubot splits the slug on "/" into two names; a third part gave "CI environment:
    # too many values to unpack (expected 2)", naming neither variable nor value.
    Case("ci-repository-slug-not-owner-name", {},
         "CI environment variable GITHUB_REPOSITORY is not owner/name: 'o/r/x'",
         args=("build", "--no-pdf"),
         env={"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "o/r/x", "GITHUB_SHA": "a" * 40}),
]

CASES += [
    # Digits, but past datetime's year 9999: an OverflowError traceback from the process
    # stage; "²" is a digit to str.isdigit() and a ValueError to int().
    Case("source-date-epoch-past-year-9999", {}, "SOURCE_DATE_EPOCH must be a number of seconds",
         args=("build", "--no-pdf"), env={"SOURCE_DATE_EPOCH": "99999999999999999999"}),
    Case("source-date-epoch-superscript-digit", {}, "SOURCE_DATE_EPOCH must be a number of seconds",
         args=("build", "--no-pdf"), env={"SOURCE_DATE_EPOCH": "\u00b2"}),
]

CASES += [
    # Lists nested by indentation, one item a line: the nesting check counted only
    # markers on one line ("- - - x"), so 1,500 levels reached pandoc, which worked
    # until its 120 s limit and then failed with no line.
    Case("lists-nested-by-indentation",
         {SECTION: "## Introduction\n\n" + "".join("  " * i + "- x\n" for i in range(1500))},
         "lists nested 65 levels deep", f"{SECTION}:67", args=("build", "--no-pdf")),
    # A file name that is not UTF-8 (byte 0xff, which Python reads as "\udcff"): a
    # UnicodeEncodeError traceback from the digest of the first stage, in build and check.
    Case("section-file-name-not-utf8", {"content/02\udcff.md": "## X\n\nText.\n"},
         "file name is not valid UTF-8", args=("build", "--no-pdf")),
    Case("image-file-name-not-utf8-check", {"content/images/a\udcff.png": b"\x89PNG"},
         "file name is not valid UTF-8", args=("check",)),
]


def _html_beside_the_manuscript(root: Path) -> None:
    (root.parent / "outside.html").write_text("<p>SECRET from outside</p>\n", encoding="utf-8")


CASES += [
    # pandoc reads a template's partial from the template's folder, "../" included, and
    # writes it into the page: any .html on the machine was published.
    Case("theme-template-partial-leads-out",
         {"build/theme/template.html": "<html><body>${ ../../../outside() }$body$</body></html>\n"},
         "the template's partial ../../../outside() leads outside the manuscript folder",
         "build/theme/template.html:1", args=("build", "--no-pdf"),
         setup=_html_beside_the_manuscript),
]

DEFAULTS = "build/pandoc/defaults/common.yaml"
_LAUGHS = "".join(f"{a}: &{a} [{', '.join([f'*{b}'] * 10)}]\n"
                  for b, a in zip("abcdef", "bcdefg", strict=True))

CASES += [
    # rootstock's pandoc defaults were read with plain yaml.safe_load and open(): not
    # UTF-8 and nesting were tracebacks, aliases went on to pandoc (out of memory), and a
    # "variables" that is no mapping was pandoc's "Aeson exception" about a temp file.
    Case("pandoc-defaults-not-utf8", {DEFAULTS: b"variables:\n  x: \xff\n"},
         "not valid UTF-8", f"{DEFAULTS}:2", args=("build", "--no-pdf")),
    Case("pandoc-defaults-nested-deep",
         {DEFAULTS: "variables: " + "[" * 50_000 + "]" * 50_000 + "\n"},
         "invalid YAML: nested too deeply", f"{DEFAULTS}:1", args=("build", "--no-pdf")),
    Case("pandoc-defaults-alias-bomb",
         {DEFAULTS: "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + _LAUGHS
          + "variables: {h: [" + ", ".join(["*g"] * 10) + "]}\n"},
         "an alias bomb?", f"{DEFAULTS}:1", args=("build", "--no-pdf")),
    Case("pandoc-defaults-variables-not-a-mapping", {DEFAULTS: "variables: 5\n"},
         "'variables' must be a mapping of names to values", f"{DEFAULTS}:1",
         args=("build", "--no-pdf")),
]

CASES += [
    # `manuscript webpage` publishes output/ as it finds it (rootstock runs it as its own
    # step): a manuscript.pdf or .html linking out put that file on the site. (The row
    # itself changes output/, so output/ is not compared.)
    Case("webpage-output-pdf-links-out", {"output/manuscript.pdf": Link("/etc/passwd")},
         "symbolic link to /etc/passwd, outside the manuscript folder: refused",
         "output/manuscript.pdf", args=("webpage",), outputs_unchanged=False),
    Case("webpage-output-html-links-out", {"output/manuscript.html": Link("/etc/hostname")},
         "outside the manuscript folder: refused", "output/manuscript.html",
         args=("webpage",), outputs_unchanged=False),
]

CASES += [
    # tojson's indent is written once per depth on every line: unbounded, it was a
    # MemoryError traceback (the other size-setting filters were bounded).
    Case("jinja-tojson-indent-bomb",
         {SECTION: "## Introduction\n\n{{ [[[[1]]]]|tojson(indent=300000000) }}\n"},
         "Jinja2 template refused: filter tojson would build", f"{SECTION}:3",
         args=("build", "--no-pdf"), env=MEMORY_2GB),
]

CASES += [
    # A 600 KB section of one-letter lines takes pandoc past a 600 MB process limit
    # before its own -M limit: the message was "pandoc failed (exit 254): malloc: failed
    # on request for 33554432 bytes; message: enlargeStablePtrTable".
    Case("pandoc-out-of-the-machine-s-memory",
         {SECTION: "## Introduction\n\n" + "a\n" * 300_000},
         "pandoc ran out of memory: the machine or the process allows less",
         args=("build", "--no-pdf"),
         env={**MEMORY_2GB, "MANUSCRIPT_TEST_MEMORY_LIMIT": str(600 * 2**20)}),
]

CASES += [
    # manubot.ci_source set by hand to a number: an AttributeError traceback where the
    # page's commit link is made.
    Case("metadata-ci-source-not-a-mapping",
         {"content/metadata.yaml": "title: T\nlang: en-US\nmanubot:\n  ci_source: 5\n"},
         "manubot.ci_source must be a mapping of settings, not a number",
         "content/metadata.yaml:4", args=("build", "--no-pdf")),
]

# Found in the format workers, which other work is changing as this is written: not
# fixed here, so not in CASES (each fails today). Move a row into CASES with its fix.
# Raw blocks an output cannot take: left out of that output with a warning at the
# block's line (it was a worker crash naming the generated XML's line, or Typst's
# temporary copy); the build goes on, as the page's does with raw HTML it keeps.
CASES += [
    Case("raw-jats-malformed", {SECTION: "## Introduction\n\n```{=jats}\n<p>&e; <x:y></p>\n```\n"},
         f"{SECTION}:4: raw JATS left out", exit=0, outputs_unchanged=False,
         args=("build", "--no-pdf", "--format", "jats")),
    Case("raw-openxml-malformed", {SECTION: "## Introduction\n\n```{=openxml}\n<w:p><w:r>\n```\n"},
         f"{SECTION}:4: raw OpenXML left out", exit=0, outputs_unchanged=False,
         args=("build", "--no-pdf", "--format", "docx")),
    Case("typst-raw-error-names-the-section",
         {SECTION: "## Introduction\n\n```{=typst}\n#read(\"/etc/passwd\")\n```\n"},
         f"{SECTION}:4: raw Typst left out of the PDF", exit=0, outputs_unchanged=False,
         args=("build", "--pdf-engine", "typst")),
]

REFS = "content/manual-references.json"
_CITE_X = {SECTION: "## Introduction\n\nText [@raw:x].\n"}

CASES += [
    # CSL JSON allows a number as id; manubot's CiteKey takes only text: a TypeError
    # traceback. A type that is a mapping: "unhashable type: 'dict'". Both build now.
    Case("manual-reference-id-a-number",
         {**_CITE_X, REFS: '[{"id": 5, "type": "book", "title": "T"}]'}, "built output",
         exit=0, args=("build", "--no-pdf"), outputs_unchanged=False),
    Case("manual-reference-type-a-mapping",
         {**_CITE_X, REFS: '[{"id": "raw:x", "type": {"a": 1}, "title": "T"}]'},
         "built output", exit=0, args=("build", "--no-pdf"), outputs_unchanged=False),
    # json.loads refuses an integer of more than 4,300 digits with a plain ValueError,
    # which no reader caught: tracebacks from template variables and manual references.
    Case("template-variables-json-huge-integer",
         {"analyses/v.json": '{"a": ' + "9" * 5000 + "}",
          "manuscript.toml": 'template-variables-path = ["analyses/v.json"]\n'},
         "invalid JSON: Exceeds the limit (4300 digits)", "analyses/v.json",
         args=("build", "--no-pdf")),
    Case("manual-references-json-huge-integer",
         {**_CITE_X, REFS: '[{"id": "raw:x", "type": "book", "volume": ' + "9" * 5000 + "}]"},
         "invalid JSON: Exceeds the limit (4300 digits)", REFS, args=("build", "--no-pdf")),
]

CASES += [
    # ci/cache linked out of the manuscript: the build wrote requests-cache.sqlite (and
    # would write image and math caches) into the folder the link names.
    Case("ci-cache-links-out", {"ci/cache": Link("../../cwd")},
         "outside the manuscript folder: refused", "ci/cache", args=("build", "--no-pdf")),
]

CASES += [
    # (webpage/ itself is replaced by a link, so webpage/ is not compared.)
    # webpage/ linked out of the manuscript: build and `manuscript webpage` wrote the
    # whole site into the folder the link names (deploy would push it).
    Case("webpage-links-out-build", {"webpage": Link("../cwd")},
         "outside the manuscript folder: refused", "webpage", args=("build", "--no-pdf"),
         outputs_unchanged=False),
    Case("webpage-links-out-webpage-command", {"webpage": Link("../cwd")},
         "outside the manuscript folder: refused", "webpage", args=("webpage",),
         outputs_unchanged=False),
]
