"""Bad input that once reached the outputs live: script and raw markup in metadata
(the page, Word, JATS), and Word fields that read files (issue 18).

The harness checks stderr and the exit code; what must NOT be in an output is checked
by the row's ``teardown``, which runs on the manuscript after the command (an assertion
there fails the row).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import yaml
from table import Case

_METADATA = "content/metadata.yaml"
_SECTION = "content/02.introduction.md"


def _payload(n: int) -> str:
    """Live markup for each output: HTML script, a Word run, a JATS element, Typst code."""
    return (f'M{n} <b title="x"><script>window.P{n}=1</script> '
            f'`<w:r><w:t>OXML{n}</w:t></w:r>`{{=openxml}} '
            f'`<bold>JATS{n}</bold>`{{=jats}} `#text("TYP{n}")`{{=typst}}')


def _hostile_metadata(root: Path) -> None:
    path = root / _METADATA
    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    metadata["title"] = _payload(1)
    metadata["keywords"] = [_payload(2)]
    metadata["authors"][0]["name"] = _payload(3)
    metadata["authors"][0]["affiliations"] = [_payload(4)]
    metadata.setdefault("pandoc", {})["subtitle"] = _payload(5)
    path.write_text(yaml.safe_dump(metadata, allow_unicode=True), encoding="utf-8")


def _no_live_metadata_markup(root: Path) -> None:
    output = root / "output"
    # (The front matter's Jinja template puts author names into the body, the author's
    # content: a script there has no hash in the page's policy; tests/browser checks.)
    head = (output / "manuscript.html").read_text(encoding="utf-8").split("</head>")[0]
    assert not re.search(r"<script>window\.P\d", head), "a metadata script in <head>"
    assert "&lt;script&gt;window.P2=1" in head  # the keyword, as text
    with zipfile.ZipFile(output / "manuscript.docx") as docx:
        for name in docx.namelist():
            if name.endswith(".xml"):
                xml = docx.read(name).decode("utf-8")
                assert not re.search(r"<w:t>OXML\d", xml), f"a live Word run in {name}"
                assert "<script" not in xml, name
    jats = (output / "manuscript.jats.xml").read_text(encoding="utf-8")
    assert not re.search(r"<bold>JATS\d", jats), "a live JATS element"
    assert not re.search(r"<(b|script)\b", jats), "HTML in the JATS"
    assert "JATS1" in jats and "OXML2" in jats  # the text itself is there, as text


def _typst_shows_metadata_as_text(root: Path) -> None:
    from pypdf import PdfReader

    text = "".join(page.extract_text() for page in PdfReader(root / "output" / "manuscript.pdf")
                   .pages[:1])
    # Run as Typst code, `#text("TYP1")` would print TYP1 alone; as text it is all there.
    assert '#text("TYP1")' in text.replace("\u201c", '"').replace("\u201d", '"'), text[:500]


def _no_refused_field(root: Path) -> None:
    with zipfile.ZipFile(root / "output" / "manuscript.docx") as docx:
        xml = docx.read("word/document.xml").decode("utf-8")
    assert "INCLUDETEXT" not in xml.upper() and "DDE" not in xml and "CANARY-F" not in xml
    assert 'w:instr="PAGE"' in xml  # a harmless field stays


_FIELDS = """## Introduction

Before.

```{=openxml}
<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> \
INCLUDETEXT "/etc/passwd" </w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>\
<w:r><w:t>CANARY-F1</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>
```

A split field `<w:r><w:instrText>DD</w:instrText></w:r>`{=openxml}\
`<w:r><w:instrText>EAUTO calc</w:instrText></w:r>`{=openxml} and a page number \
`<w:fldSimple w:instr="PAGE"><w:r><w:t>1</w:t></w:r></w:fldSimple>`{=openxml}.
"""

CASES = [
    Case(
        # A keyword holding <script> ran on the published page; `check --strict` said
        # nothing. Now a warning at its line, and --strict fails on it.
        "metadata-markup-check-strict",
        {},
        "[metadata-markup]",
        args=("check", "--strict"),
        setup=_hostile_metadata,
    ),
    Case(
        # The same metadata built: the page, Word and JATS show it as text.
        "metadata-markup-no-live-markup-in-outputs",
        {},
        "keywords holds markup",
        exit=0,
        args=("build", "--no-pdf", "--format", "docx", "--format", "jats"),
        outputs_unchanged=False,
        setup=_hostile_metadata,
        teardown=_no_live_metadata_markup,
    ),
    Case(
        # Raw Typst in the title ran in the Typst PDF's title page.
        "metadata-markup-typst-title-is-text",
        {"manuscript.toml": 'pdf-engine = "typst"\n'},
        "title holds markup",
        exit=0,
        outputs_unchanged=False,
        setup=_hostile_metadata,
        teardown=_typst_shows_metadata_as_text,
    ),
    Case(
        # Raw Office XML with fields that read a file or start a program reached the DOCX.
        "openxml-field-reading-files",
        {_SECTION: _FIELDS},
        "content/02.introduction.md:6: the Word field INCLUDETEXT in raw OpenXML",
        exit=0,
        args=("build", "--no-pdf", "--format", "docx"),
        outputs_unchanged=False,
        teardown=_no_refused_field,
    ),
]
