"""Edits on long manuscripts: a rebuild after an edit gives the page a cold build gives.

Each test builds a manuscript, edits it, rebuilds in the same folder (the incremental
path: the last parse and page are patched when only prose changed), builds the same
sources afresh in another folder, and compares ``output/manuscript.html`` byte for byte.
Edits that hit a hazard (a reference link or footnote defined in another section,
headings with the same text, citations) must give the cold page too: by taking the
whole-document path. ``-v`` shows which path a rebuild took, so each test also checks
that the path it is about was taken.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from manuscript.config import make_config
from manuscript.serve import Server

SHOWCASE = ROOT / "tests" / "fixtures" / "showcase"
EPOCH = "1700000000"  # the page prints the build time: pin it, for both builds
ENV = clean_env(SOURCE_DATE_EPOCH=EPOCH)
PATCHED = "html: patched the last page"
BUILD_TIMEOUT = 60.0  # a safety net against hangs, not a speed assertion

SECTIONS = {
    "01.intro.md": """## Introduction

Plain prose that an author edits, with *emphasis* and a [link](https://example.org/a).
It spans two lines.

A paragraph citing a work [@raw:work-1], which numbers the reference list.

The project site is described [on its page][site], defined in another section.

A claim with a footnote defined in another section.[^far]

## Methods

Methods of the first part: the same heading text comes again later.
""",
    "02.middle.md": """## Results

Results are shown in a plain paragraph here.

Another plain paragraph, the same words as one further down.

## Methods

Methods of the second part, under a heading whose text repeats.

[site]: https://example.org/site

[^far]: The footnote's text, defined far from its use.
""",
    "03.end.md": """## Discussion

Another plain paragraph, the same words as one further down.

See <https://example.org/auto> for an autolink, which opens no HTML element.

- a list item
- another item

A paragraph between two lists.

- the second list

<div class="box">

Markdown inside an HTML block.

</div>

<video
  controls width="10">
</video>

The end.
""",
}
METADATA = "title: Incremental test\nauthors:\n  - name: Ann Author\n"
REFERENCES = """[{"id": "raw:work-1", "type": "article-journal", "title": "A work",
 "author": [{"family": "Writer", "given": "Wu"}], "issued": {"date-parts": [[2020]]}}]
"""


def _build(root: Path) -> str:
    return run_manuscript(root, "-v", "build", "--no-pdf", env=ENV).stderr


def _cold_page(root: Path, tmp: Path) -> bytes:
    """The same sources built afresh in a new folder."""
    fresh = copy_manuscript(root, tmp / "cold")
    _build(fresh)
    return (fresh / "output" / "manuscript.html").read_bytes()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.fixture(scope="module")
def built_sections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated manuscript with several sections, built once."""
    root = tmp_path_factory.mktemp("sections")
    content = root / "content"
    content.mkdir()
    (content / "metadata.yaml").write_text(METADATA, encoding="utf-8")
    (content / "manual-references.json").write_text(REFERENCES, encoding="utf-8")
    for name, text in SECTIONS.items():
        (content / name).write_text(text, encoding="utf-8")
    _build(root)
    return root


@pytest.fixture(scope="module")
def built_showcase(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("showcase"))
    _build(root)
    return root


def _copy_built(root: Path, tmp: Path) -> Path:
    """A copy of a built manuscript, its outputs and caches included."""
    dest = tmp / "edited"
    shutil.copytree(root, dest, symlinks=True)
    return dest


# (file, old text, new text, whether the page can be patched)
EDITS = {
    "prose": ("01.intro.md", "Plain prose that an author", "Plain prose that a careful author",
              True),
    "prose, a line added": ("01.intro.md", "It spans two lines.",
                            "It spans two lines.\nNow three.", True),
    "paragraph repeated word for word, the second copy":
        ("03.end.md", "Another plain paragraph, the same words as one further down.",
         "Another plain paragraph, now different.", True),
    "reference link defined in another section":
        ("01.intro.md", "described [on its page][site]", "described in detail [on its page][site]",
         False),
    "the reference link's definition": ("02.middle.md", "https://example.org/site",
                                        "https://example.org/elsewhere", False),
    "footnote defined in another section": ("01.intro.md", "A claim with a footnote",
                                            "A bolder claim with a footnote", False),
    "heading text made a duplicate": ("02.middle.md", "## Results", "## Introduction", False),
    "paragraph with a citation": ("01.intro.md", "A paragraph citing a work",
                                  "A paragraph still citing a work", False),
    "a citation added": ("02.middle.md", "shown in a plain paragraph here.",
                         "shown in a plain paragraph here [@raw:work-1].", False),
    "prose after an autolink and an HTML tag over two lines":
        ("03.end.md", "The end.", "The very end.", True),
    "an HTML comment opened, swallowing what follows":
        ("02.middle.md", "Results are shown", "<!-- Results are shown", False),
    "a paragraph made a list item beside a list":
        ("03.end.md", "A paragraph between two lists.", "- a paragraph between two lists", False),
    "prose inside an HTML block": ("03.end.md", "Markdown inside an HTML block.",
                                   "Markdown inside an HTML block, edited.", False),
}


@pytest.mark.parametrize("case", EDITS, ids=list(EDITS))
def test_rebuild_after_an_edit_equals_a_cold_build(built_sections: Path, tmp_path: Path,
                                                    case: str) -> None:
    name, old, new, patched = EDITS[case]
    root = _copy_built(built_sections, tmp_path)
    _edit(root / "content" / name, old, new)
    stderr = _build(root)
    assert (PATCHED in stderr) == patched, stderr
    page = (root / "output" / "manuscript.html").read_bytes()
    assert new.split("\n")[-1].split("](")[0].encode() in page or not patched
    assert page == _cold_page(root, tmp_path)


def test_edits_in_a_row_keep_patching_and_stay_exact(built_sections: Path,
                                                     tmp_path: Path) -> None:
    """The snapshot a patched build leaves is the next build's starting point."""
    root = _copy_built(built_sections, tmp_path)
    intro = root / "content" / "01.intro.md"
    for n in range(3):
        _edit(intro, f"two lines{'.' if n == 0 else f' (edit {n}).'}",
              f"two lines (edit {n + 1}).")
        assert PATCHED in _build(root)
    assert (root / "output" / "manuscript.html").read_bytes() == _cold_page(root, tmp_path)


def test_nothing_changed_skips_every_stage(built_sections: Path, tmp_path: Path) -> None:
    root = _copy_built(built_sections, tmp_path)
    stderr = _build(root)
    for stage in ("process", "cite", "html"):
        assert re.search(rf"^{stage} +[\d.]+ s  \(unchanged, skipped\)$", stderr, re.M), stderr
    assert "--to json" not in stderr and "--to=html5" not in stderr  # pandoc never ran


def test_showcase_prose_edit_equals_a_cold_build(built_showcase: Path, tmp_path: Path) -> None:
    """Math, figures, tables and sixty references around the edited paragraph."""
    root = _copy_built(built_showcase, tmp_path)
    _edit(root / "content" / "01.abstract.md", "This fixture holds, in a few pages,",
          "This fixture holds, in a handful of pages,")
    assert PATCHED in _build(root)
    assert (root / "output" / "manuscript.html").read_bytes() == _cold_page(root, tmp_path)


def test_showcase_citation_edit_equals_a_cold_build(built_showcase: Path,
                                                    tmp_path: Path) -> None:
    root = _copy_built(built_showcase, tmp_path)
    _edit(root / "content" / "30.references.md", "Benchmarks saturate quickly [@raw:ref-39].",
          "Benchmarks saturate quickly [@raw:ref-40; @raw:ref-39].")
    assert PATCHED not in _build(root)
    assert (root / "output" / "manuscript.html").read_bytes() == _cold_page(root, tmp_path)


def test_serve_rebuild_after_an_edit_equals_a_cold_build(built_showcase: Path,
                                                         tmp_path: Path) -> None:
    """serve keeps the last parse in memory; its rebuilt page is the cold one too."""
    root = _copy_built(built_showcase, tmp_path)
    config = make_config(root, env=ENV, pdf=False)
    server = Server(config, port=0)
    server.start()
    try:
        first = server.build_number  # start() has built once
        for n, (old, new) in enumerate([("in a few pages,", "in some pages,"),
                                        ("in some pages,", "in very few pages,")]):
            _edit(root / "content" / "01.abstract.md", old, new)
            assert server.wait_for_build(first + n, BUILD_TIMEOUT) > first + n
        page = (root / "output" / "manuscript.html").read_bytes()
    finally:
        server.shutdown()
    assert b"in very few pages," in page
    assert page == _cold_page(root, tmp_path)
