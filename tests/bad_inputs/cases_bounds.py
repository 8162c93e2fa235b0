"""Unbounded engines, paths out, and damaged state (issue #18, "Nothing gets in, round
two"): raw Typst that loops or grows, Typst packages offline, MathJax's budget per
build, reference files and init writes that lead out of the manuscript, state and cache
files in any shape, ``manuscript.toml`` and ``MANUSCRIPT_*`` variables that are not
what they should be.

Every row runs under a memory limit of 2 GB for the whole build (``MEMORY_2GB``, which
the worker and pandoc inherit), and the engine rows under a time limit of their own:
none may be killed, each must end in its clear error.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from table import Case, Folder, Link

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
BUNDLED = ROOT / "build" / "manuscript" / "data"

SECTION = "content/05.bounds.md"
MEMORY_2GB = {"PYTHONPATH": str(HERE / "memory_limit"),
              "MANUSCRIPT_TEST_MEMORY_LIMIT": str(2**31)}
TYPST = ("build", "--pdf-engine", "typst")
# JSON nested 100,000 deep: json.loads recursed past Python's limit (RecursionError).
DEEP = "[" * 100_000 + "]" * 100_000


def section(*lines: str) -> dict[str, str]:
    return {SECTION: "## Bounds\n\n" + "\n".join(lines) + "\n"}


def raw_typst(*lines: str) -> dict[str, str]:
    """A raw Typst block: its fence is SECTION:3, its first line SECTION:4."""
    return section("```{=typst}", *lines, "```")


def matrix(n: int) -> str:
    """An n x n matrix in TeX: 10 x 10 is 736 bytes of TeX and ~200 KB typeset."""
    rows = ["&".join(f"x_{{{i}{j}}}" for j in range(n)) for i in range(n)]
    return "$$\\begin{pmatrix}" + "\\\\".join(rows) + "\\end{pmatrix}$$"


# --------------------------------------------------------------- Typst in the worker

_TYPST = [
    # range() makes the array first: 2e9 items grew the worker to 23 GB.
    Case("typst-raw-grows-without-bound", raw_typst("#for i in range(2000000000) {}"),
         "rendering the Typst PDF ran out of memory (limit 2048 MB)", f"{SECTION}:3",
         args=TYPST, env=MEMORY_2GB),
    Case("typst-raw-loops", raw_typst("#for i in range(100000) { for j in range(100000) {} }"),
         "rendering the Typst PDF did not finish within 3 s and was stopped",
         f"{SECTION}:3", args=TYPST, env={**MEMORY_2GB, "MANUSCRIPT_WORKER_TIMEOUT": "3"}),
    # Offline, no request may leave for packages.typst.org.
    Case("typst-package-offline", raw_typst('#import "@preview/cetz:0.2.2": canvas'),
         "imports the package @preview/cetz:0.2.2, and packages are not fetched offline",
         f"{SECTION}:4", args=TYPST),
    # A name built at run time escapes the scan: the download meets a refusing proxy.
    Case("typst-package-offline-built-at-run-time",
         raw_typst('#let p = "@pre" + "view/cetz:0.2.2"', "#import p: canvas"),
         "raw Typst uses a package, and packages are not fetched offline", args=TYPST),
]

# --------------------------------------------------------------- MathJax's budget

_MATH = [
    Case("math-formula-too-large", section("Text.", "", matrix(10)),
         "math: this formula typesets to", f"{SECTION}:5",
         env={"MANUSCRIPT_MATH_FORMULA_KB": "100"}),
    Case("math-output-too-large-in-all", section("Text.", "", matrix(10), "", matrix(9)),
         "math: the formulas typeset to more than", f"{SECTION}:7",
         env={"MANUSCRIPT_MATH_TOTAL_MB": "0.3"}),
    Case("math-tex-too-large-in-all", section("Text.", "", "$x^2$", "", matrix(10)),
         "math: the formulas' TeX exceeds 512 bytes in all", f"{SECTION}:7",
         env={"MANUSCRIPT_MATH_TEX_KB": "0.5"}),
    Case("math-time-budget", section("Text.", "", matrix(12)),
         "math: typesetting the formulas took more than 0.01 s", f"{SECTION}:5",
         env={"MANUSCRIPT_MATH_TIMEOUT": "0.01"}),
]

# --------------------------------------------------------------- no path out

_OUTSIDE = [
    # Its styles, text and media would be copied into the published DOCX.
    Case("reference-docx-links-out",
         {"build/themes/default.docx": Link(str(BUNDLED / "formats" / "reference.docx"))},
         "symbolic link to", "build/themes/default.docx", args=("build", "--format", "docx")),
    Case("csl-outside-the-manuscript",
         {"build/pandoc/defaults/common.yaml":
          f"metadata:\n  csl: {BUNDLED / 'csl' / 'manuscript.csl'}\n"},
         "is outside the manuscript folder: refused", "build/pandoc/defaults/common.yaml:2"),
    Case("csl-up-and-out", {"build/pandoc/defaults/common.yaml":
                            "metadata:\n  csl: ../outside.csl\n"},
         "is outside the manuscript folder: refused", "build/pandoc/defaults/common.yaml:2",
         setup=lambda root: (root.parent / "outside.csl").write_bytes(
             (BUNDLED / "csl" / "manuscript.csl").read_bytes())),
    # Pandoc defaults of its own beside the manuscript (../shared need not be there).
    Case("pandoc-data-dir-outside", {}, "is outside the manuscript folder: refused",
         env={"PANDOC_DATA_DIR": "../outside-pandoc"},
         setup=lambda root: (root.parent / "outside-pandoc" / "defaults").mkdir(parents=True)
         or (root.parent / "outside-pandoc" / "defaults" / "common.yaml").write_text(
             "metadata:\n  link-citations: true\n", encoding="utf-8")),
    # init wrote workflows through the link, and appended to a .gitignore out there.
    Case("adopt-github-links-out", {".github": Link("../outside-github")},
         "symbolic link to", ".github", args=("init", "--adopt")),
    Case("adopt-gitignore-links-out", {".gitignore": Link("../outside-gitignore")},
         "symbolic link to", ".gitignore", args=("init", "--adopt")),
    Case("init-github-links-out", {"new/.github": Link("../../outside-github")},
         "symbolic link to", "new/.github", args=("init", "new")),
]

# --------------------------------------------------------------- state and cache files

_STATE_REBUILT = "unreadable (nested too deeply), not used"

_STATE = [
    Case("build-state-nested-deep", {"output/.build-state.json": DEEP},
         f".build-state.json: {_STATE_REBUILT}: every stage runs", exit=0,
         outputs_unchanged=False),
    Case("build-state-garbage", {"output/.build-state.json": b"\xff\xfe{garbage"},
         ".build-state.json: unreadable", exit=0, outputs_unchanged=False),
    Case("build-state-wrong-shape", {"output/.build-state.json":
                                     '{"format": 2, "stages": [1, 2]}'},
         ".build-state.json: unreadable", exit=0, outputs_unchanged=False),
    # Read: a warning; written: the clear error of any output a folder is in the way of.
    Case("build-state-is-a-folder", {"output/.build-state.json": Folder()},
         ".build-state.json: unreadable (Is a directory), not used: every stage runs",
         "output/.build-state.json", outputs_unchanged=False),
    Case("incremental-state-nested-deep",
         {"output/.incremental.json": DEEP, "content/02.introduction.md":
          "## Introduction\n\nAn edit, so that the snapshot is read.\n"},
         f".incremental.json: {_STATE_REBUILT}: the whole document is parsed", exit=0,
         outputs_unchanged=False),
    # Read by the cite stage when it runs: a citation of a manual reference makes it run.
    Case("cited-earlier-nested-deep",
         {"output/.cited-earlier.json": DEEP, "content/manual-references.json":
          '[{"id": "raw:doe", "type": "book", "title": "A book"}]',
          **section("As written [@raw:doe].")},
         "built output in", exit=0, outputs_unchanged=False),
    Case("math-cache-nested-deep", {"ci/cache/math.json": DEEP, **section("$x^2$")},
         f"math.json: {_STATE_REBUILT}: formulas are typeset again", exit=0,
         outputs_unchanged=False),
    Case("image-index-nested-deep",
         {"ci/cache/images/index.json": DEEP, **section("![a](https://example.org/a.png)")},
         f"index.json: {_STATE_REBUILT}: remote images are fetched again", exit=0,
         outputs_unchanged=False),
]

# --------------------------------------------------------------- settings

_SETTINGS = [
    Case("manuscript-toml-nested-deep", {"manuscript.toml": "a = " + DEEP + "\n"},
         "invalid TOML: nested too deeply", "manuscript.toml"),
    Case("manuscript-toml-not-utf8", {"manuscript.toml": b'formats = ["docx"]\nx = "\xff"\n'},
         "not valid UTF-8", "manuscript.toml:2"),
    Case("manuscript-toml-is-a-folder", {"manuscript.toml": Folder()},
         "is a folder, not a file", "manuscript.toml"),
    Case("manuscript-toml-links-out", {"manuscript.toml": Link("/etc/hostname")},
         "symbolic link to", "manuscript.toml"),
    *[Case(f"limit-{name.lower().replace('_', '-')}-{label}", {}, f"{name}={value!r} is not a "
           "usable limit: give a positive number", env={name: value})
      for name, label, value in [
          ("MANUSCRIPT_PANDOC_TIMEOUT", "infinite", "1e999"),
          ("MANUSCRIPT_PANDOC_TIMEOUT", "nan", "nan"),
          ("MANUSCRIPT_PANDOC_TIMEOUT", "negative", "-5"),
          ("MANUSCRIPT_PANDOC_MEMORY_MB", "garbage", "lots"),
          ("MANUSCRIPT_TEMPLATE_TIMEOUT", "zero", "0"),
          ("MANUSCRIPT_WORKER_TIMEOUT", "infinite", "inf"),
          ("MANUSCRIPT_MATH_TIMEOUT", "nan", "NaN")]],
    Case("cite-output-is-a-folder", {}, "is a folder: give -o a file name",
         args=("cite", "-o", str(HERE), "doi:10.1234/x")),
]

def _limited(case: Case) -> Case:
    """The case under MEMORY_2GB (the PYTHONPATH it sets holds only sitecustomize)."""
    return dataclasses.replace(case, env={**MEMORY_2GB, **case.env})


CASES = [_limited(case) for case in (*_TYPST, *_MATH, *_OUTSIDE, *_STATE, *_SETTINGS)]
