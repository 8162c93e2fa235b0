"""Word, JATS, LaTeX and the Typst PDF carry what the HTML carries.

All six corpus manuscripts are built once in every format (``--format docx --format jats
--format latex --pdf-engine typst``), offline, and each output is read back with the
library made for it (python-docx, lxml against the JATS Publishing DTD, bibtexparser,
pypdf) and compared with the HTML of the same build: the numbers of figures, tables
and equations, the cross-reference texts, the reference list. Skipped when ../shared
is absent; the bundled manuscript and the showcase fixture are built regardless.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from helpers import (
    CORPUS,
    CORPUS_MANUSCRIPTS,
    ROOT,
    SEED_ENV,
    clean_env,
    copy_manuscript,
    corpus_build,
    parse_html,
    pdf_text,
    run_manuscript,
    select,
    text_of,
)

ALL_FORMATS = ("--format", "docx", "--format", "jats", "--format", "latex",
               "--pdf-engine", "typst")
JATS_DTD = (ROOT / "tests" / "browser" / "node_modules" / "@jats4r" / "dtds" / "schema"
            / "1.2" / "JATS-journalpublishing1-mathml3.dtd")
_UNNAMED = re.compile(r"__unnamed-\d+$")
NBSP = "\u00a0"


@dataclass(frozen=True)
class Built:
    name: str
    root: Path

    @property
    def output(self) -> Path:
        return self.root / "output"

    def page(self):
        return parse_html((self.output / "manuscript.html").read_text(encoding="utf-8"))

    def references(self) -> list[dict]:
        return json.loads((self.output / "references.json").read_text(encoding="utf-8"))

    def metadata(self) -> dict:
        return yaml.safe_load((self.root / "content" / "metadata.yaml").read_text("utf-8"))


@pytest.fixture(scope="module", params=CORPUS_MANUSCRIPTS)
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is not present")
    build = corpus_build(request.param, tmp_path_factory, *ALL_FORMATS)
    assert build.returncode == 0, build.stderr
    return Built(request.param, build.root)


# ---------------------------------------------------------------- what the HTML shows


def numbered(page) -> list[tuple[str, str, str]]:
    """(kind, id, label) of each numbered figure, table and equation, in order."""
    found = []
    for element in select(page, "div.fignos[id], div.tablenos[id], span.eqnos[id]"):
        identifier = element.etree_element.get("id")
        classes = element.etree_element.get("class")
        if "eqnos" in classes:
            label = text_of(next(iter(select(element, ".eqnos-number"))))
            found.append(("eq", identifier, label))
        else:
            caption = select(element, "figcaption span, caption span")[0]
            kind = "fig" if "fignos" in classes else "tbl"
            found.append((kind, identifier, text_of(caption).rstrip(":").replace(NBSP, " ")))
    return found


def xrefs(page) -> list[tuple[str, str]]:
    links = select(page, "a[href^='#fig:'], a[href^='#tbl:'], a[href^='#eq:']")
    return [(a.etree_element.get("href")[1:], text_of(a)) for a in links]


def reference_entries(page) -> list[tuple[str, str]]:
    """(id, label) of each bibliography entry, in the order the HTML lists them."""
    entries = []
    for entry in select(page, "#refs .csl-entry"):
        margin = select(entry, ".csl-left-margin")
        label = text_of(margin[0]).rstrip(".") if margin else ""
        entries.append((entry.etree_element.get("id"), label))
    return entries


def squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.lower())


# ---------------------------------------------------------------- Word


def test_docx_captions_numbered_as_html(corpus: Built) -> None:
    import docx

    document = docx.Document(corpus.output / "manuscript.docx")
    captions = [p.text.split(":")[0].replace(NBSP, " ") for p in document.paragraphs
                if p.style.name in ("Image Caption", "Table Caption")]
    expected = [label for kind, _, label in numbered(corpus.page()) if kind != "eq"]
    assert expected
    assert captions == expected


def test_docx_cross_references_have_html_text_and_target(corpus: Built) -> None:
    import docx

    document = docx.Document(corpus.output / "manuscript.docx")
    links = [(link.fragment, link.text) for p in _all_paragraphs(document)
             for link in p.hyperlinks if re.match(r"(fig|tbl|eq):", link.fragment or "")]
    expected = [(target, text.replace(NBSP, " ")) for target, text in xrefs(corpus.page())]
    assert expected
    assert [(t, x.replace(NBSP, " ")) for t, x in links] == expected
    bookmarks = {b.get(_w("name")) for b in document.element.body.iter(_w("bookmarkStart"))}
    assert {target for target, _ in expected} <= bookmarks


def test_docx_references_math_images_and_properties(corpus: Built) -> None:
    import docx

    document = docx.Document(corpus.output / "manuscript.docx")
    entries = [p for p in document.paragraphs if p.style.name == "Bibliography"]
    assert len(entries) == len(reference_entries(corpus.page())) == len(corpus.references())
    page = corpus.page()
    omml = list(document.element.body.iter("{http://schemas.openxmlformats.org/"
                                           "officeDocument/2006/math}oMath"))
    assert len(omml) == len(select(page, "math"))
    figures = [k for k, _, _ in numbered(page) if k == "fig"]
    assert len(document.inline_shapes) >= len(figures)
    text_width = _text_width_emu(document)
    assert all(shape.width <= text_width for shape in document.inline_shapes)
    metadata = corpus.metadata()
    props = document.core_properties
    assert props.title == metadata["title"]
    assert all(a["name"] in props.author for a in metadata["authors"])


def test_docx_carries_no_path_of_this_machine(corpus: Built) -> None:
    """pandoc copies metadata into Word's custom properties: the references file and
    style citeproc read (a temporary folder, the manuscript's own) must not go along."""
    with zipfile.ZipFile(corpus.output / "manuscript.docx") as docx_file:
        for name in docx_file.namelist():
            text = docx_file.read(name).decode("utf-8", "replace")
            assert str(corpus.root) not in text and tempfile.gettempdir() not in text, name
            assert "manubot-" not in text or not name.startswith("docProps"), name


def _all_paragraphs(document):
    yield from document.paragraphs
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                yield from cell.paragraphs


def _w(name: str) -> str:
    return f"{{http://schemas.openxmlformats.org/wordprocessingml/2006/main}}{name}"


def _text_width_emu(document) -> int:
    """Page width minus margins (twips → EMU); Word's Letter, 1-inch margins by default."""
    sect = list(document.element.body.iter(_w("sectPr")))[-1]
    size, margins = sect.find(_w("pgSz")), sect.find(_w("pgMar"))
    width = int(size.get(_w("w"))) if size is not None else 12240
    if margins is not None:
        width -= int(margins.get(_w("left"))) + int(margins.get(_w("right")))
    else:
        width -= 2 * 1440
    return width * 635


# ---------------------------------------------------------------- JATS


def _jats(built: Built):
    from lxml import etree

    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    return etree.parse(str(built.output / "manuscript.jats.xml"), parser)


def test_jats_is_valid_against_the_publishing_dtd(corpus: Built) -> None:
    validate_jats(corpus.output / "manuscript.jats.xml")


def validate_jats(path: Path) -> None:
    from lxml import etree

    if not JATS_DTD.is_file():
        pytest.skip("JATS DTDs not installed: npm ci --prefix tests/browser")
    dtd = etree.DTD(str(JATS_DTD))
    tree = etree.parse(str(path), etree.XMLParser(load_dtd=False, no_network=True))
    assert tree.docinfo.public_id.startswith("-//NLM//DTD JATS (Z39.96) Journal Publishing")
    valid = dtd.validate(tree)
    assert valid, [f"{e.line}: {e.message}" for e in dtd.error_log.filter_from_errors()][:10]


def test_jats_references_are_element_citations_in_html_order(corpus: Built) -> None:
    tree = _jats(corpus)
    refs = tree.findall(".//back/ref-list/ref")
    expected = reference_entries(corpus.page())
    assert len(refs) == len(corpus.references()) == len(expected)
    assert [(r.get("id"), r.findtext("label") or "") for r in refs] == expected
    assert all(r.find("element-citation") is not None for r in refs)
    dois = {i["DOI"].lower() for i in corpus.references() if i.get("DOI")}
    pub_ids = {p.text.lower() for p in tree.iterfind(".//ref//pub-id[@pub-id-type='doi']")}
    assert dois and pub_ids == dois
    cited = {x.get("rid") for x in tree.iterfind(".//body//xref[@ref-type='bibr']")}
    assert cited <= {r.get("id") for r in refs}
    # The heading above the HTML's list titles the ref-list, and leaves the body.
    assert tree.findtext(".//back/ref-list/title") == "References"
    assert "References" not in [sec.findtext("title") for sec in tree.iterfind(".//body//sec")]


def test_jats_labels_and_front_matter(corpus: Built) -> None:
    tree = _jats(corpus)
    labels = []
    for element in tree.iterfind(".//body//*[@id]"):
        if element.tag in ("fig", "table-wrap", "disp-formula"):
            kind = {"fig": "fig", "table-wrap": "tbl", "disp-formula": "eq"}[element.tag]
            labels.append((kind, element.findtext("label")))
    expected = [(kind, label) for kind, _, label in numbered(corpus.page())]
    assert labels == expected
    metadata = corpus.metadata()
    orcids = [f"https://orcid.org/{a['orcid']}" for a in metadata["authors"] if a.get("orcid")]
    assert [c.text for c in tree.iterfind(".//contrib-id[@contrib-id-type='orcid']")] == orcids
    # Pandoc wraps long lines of JATS: white space in XML text is one space.
    assert " ".join(tree.findtext(".//article-title").split()) == metadata["title"]
    # A structured abstract (mpmp: Background, Results, Conclusions) is sections.
    assert tree.find(".//article-meta/abstract/p") is not None \
        or tree.find(".//article-meta/abstract/sec/p") is not None
    assert [k.text for k in tree.iterfind(".//kwd")] == metadata["keywords"]


# ---------------------------------------------------------------- LaTeX


def test_latex_labels_refs_and_numbers(corpus: Built) -> None:
    tex = (corpus.output / "manuscript.tex").read_text(encoding="utf-8")
    page = corpus.page()
    for kind, identifier, label in numbered(page):
        if _UNNAMED.search(identifier):
            continue
        position = tex.index(f"\\label{{{identifier}}}")
        number = label.split()[-1].strip("()")
        if kind == "eq":  # \tag{number} right before the label
            assert tex[:position].endswith(f"\\tag{{{number}}}"), identifier
        else:  # the counter shows our number: \renewcommand{\thefigure}{number}
            counter = {"fig": "figure", "tbl": "table"}[kind]
            last = tex[:position].rindex(f"\\renewcommand{{\\the{counter}}}")
            assert tex[last:].startswith(f"\\renewcommand{{\\the{counter}}}{{{number}}}")
    # A cross-reference written as a Markdown link ("[S2](#tbl:networks)") is a \hyperref.
    refs = [ref or link for ref, link in re.findall(
        r"\\(?:eq)?ref\{([^}]+)\}|\\hyperref\[((?:fig|tbl|eq):[^\]]+)\]", tex)]
    assert refs == [target for target, _ in xrefs(page)]
    assert all(f"\\label{{{target}}}" in tex for target in refs)
    assert "\\bibliography{references}" in tex


def test_bibtex_has_one_entry_per_reference_and_every_cite_key(corpus: Built) -> None:
    import bibtexparser

    library = bibtexparser.parse_string(
        (corpus.output / "references.bib").read_text(encoding="utf-8"))
    assert not library.failed_blocks
    keys = [entry.key for entry in library.entries]
    assert sorted(keys) == sorted(item["id"] for item in corpus.references())
    tex = (corpus.output / "manuscript.tex").read_text(encoding="utf-8")
    cited = {key.strip() for group in re.findall(r"\\cite[pt]?\{([^}]+)\}", tex)
             for key in group.split(",")}
    assert cited and cited <= set(keys)


# ---------------------------------------------------------------- Typst PDF


def test_typst_pdf_captions_and_references_in_order(corpus: Built) -> None:
    text = squash(pdf_text(corpus.output / "manuscript.pdf"))
    labels = [label for kind, _, label in numbered(corpus.page()) if kind != "eq"]
    assert labels and all(squash(label) in text for label in labels)
    entries = reference_entries(corpus.page())
    # The list starts after its heading, with the first entry's label ("1.").
    position = text.rfind(squash("References") + squash(entries[0][1]))
    assert position > 0
    # CSL titles may hold rich-text markup ("<i>IDH1</i>and…"), printed as italics.
    titles = {item["id"]: squash(re.sub(r"<[^>]+>", "", item.get("title", "")))[:24]
              for item in corpus.references()}
    found = 0
    for identifier, _ in entries:  # each title after the one before: the same order
        title = titles[identifier.removeprefix("ref-")]
        if len(title) < 12:
            continue
        position = text.find(title, position)
        assert position > 0, identifier
        found += 1
    assert found > len(entries) // 2


def test_typst_pdf_metadata_outline_and_links(corpus: Built) -> None:
    from pypdf import PdfReader

    reader = PdfReader(corpus.output / "manuscript.pdf")
    metadata = corpus.metadata()
    assert reader.metadata.title == metadata["title"]
    assert metadata["authors"][0]["name"] in reader.metadata.author
    headings = [text_of(h) for h in select(corpus.page(), "article h2")]
    outline = [item.title for item in _flatten(reader.outline)]
    # The title block replaces the Authors and Abstract sections of the HTML (a Summary
    # before the Introduction is the abstract: iscb-diversity's Cell Press layout).
    title_block = {"Authors", "Abstract"}
    if "Summary" in headings and "Introduction" in headings \
            and headings.index("Summary") < headings.index("Introduction"):
        title_block.add("Summary")
    assert [h for h in headings if h in outline] == [
        h for h in headings if h not in title_block]
    uris, internal = 0, 0
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            action = annotation.get_object().get("/A") or {}
            uris += "/URI" in action
            internal += "/Dest" in annotation.get_object() or action.get("/S") == "/GoTo"
    assert uris and internal >= len(xrefs(corpus.page()))


def _flatten(outline) -> list:
    items = []
    for item in outline:
        items.extend(_flatten(item) if isinstance(item, list) else [item])
    return items


# ---------------------------------------------------------------- every manuscript


@pytest.mark.parametrize("source", [ROOT, ROOT / "tests" / "fixtures" / "showcase"],
                         ids=["bundled", "showcase"])
def test_manuscript_builds_in_every_format(source: Path, tmp_path: Path) -> None:
    import bibtexparser
    import docx
    from pypdf import PdfReader

    root = copy_manuscript(source, tmp_path)
    completed = run_manuscript(root, "build", *ALL_FORMATS)
    output = root / "output"
    for line in ("formats", "pdf"):
        assert re.search(rf"^{line}\s", completed.stderr, re.M)
    docx.Document(output / "manuscript.docx")
    validate_jats(output / "manuscript.jats.xml")
    assert "\\begin{document}" in (output / "manuscript.tex").read_text(encoding="utf-8")
    bib = bibtexparser.parse_string((output / "references.bib").read_text(encoding="utf-8"))
    references = json.loads((output / "references.json").read_text(encoding="utf-8"))
    assert len(bib.entries) == len(references)
    assert PdfReader(output / "manuscript.pdf").metadata.title
    page = parse_html((output / "manuscript.html").read_text(encoding="utf-8"))
    downloads = [a.etree_element.get("href") for a in select(page, "a.doc-download")]
    assert downloads == ["manuscript.docx", "manuscript.jats.xml", "manuscript.tex",
                         "references.bib"]
    version = root / "webpage" / "v" / "latest"
    assert all((version / name).is_file() for name in downloads)


def test_formats_from_manuscript_toml_and_unchanged_skip(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    (root / "manuscript.toml").write_text('formats = ["docx"]\npdf = false\n', "utf-8")
    first = run_manuscript(root, "build")
    assert (root / "output" / "manuscript.docx").is_file()
    assert not (root / "output" / "manuscript.jats.xml").exists()
    assert re.search(r"^formats\s.*\d s$", first.stderr, re.M)
    second = run_manuscript(root, "build")
    assert re.search(r"^formats\s.*unchanged, skipped", second.stderr, re.M)


# ---------------------------------------------------------------- CRediT roles

ROLES_METADATA = """\
title: Roles
authors:
  - name: Ada Lovelace
    corresponding: true
    email: ada@example.org
    orcid: 0000-0002-1825-0097
    affiliations: [Analytical Engine Society]
    roles:
      - conceptualisation
      - Writing - Review & Editing
      - software
  - name: Charles Babbage
    roles:
      - Investigation: true
      - Funding acquisition: false
      - Tea making: true
pandoc:
  article:
    type: review-article
    doi: 10.5555/roles
"""


def test_credit_roles_everywhere(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    (root / "content" / "metadata.yaml").write_text(ROLES_METADATA, encoding="utf-8")
    completed = run_manuscript(root, "build", "--no-pdf", "--format", "jats",
                               "--format", "docx", env=clean_env())
    assert re.search(r"warning: content/metadata\.yaml:16: Charles Babbage has the role "
                     r"'Tea making', which is not a CRediT role", completed.stderr)
    variables = json.loads((root / "output" / "variables.json").read_text(encoding="utf-8"))
    assert [a["roles"] for a in variables["manubot"]["authors"]] == [
        ["Conceptualization", "Software", "Writing \u2013 review & editing"], ["Investigation"]]
    tree = _jats(Built("roles", root))
    roles = [(r.getparent().findtext("string-name"), r.get("vocab-term"),
              r.get("vocab-term-identifier")) for r in tree.iterfind(".//contrib/role")]
    assert ("Ada Lovelace", "Software",
            "https://credit.niso.org/contributor-roles/software/") in roles
    assert len(roles) == 4 and all(r[2].startswith("https://credit.niso.org/") for r in roles)
    # The manuscript's own article metadata is kept beside the correspondence note.
    assert tree.getroot().get("article-type") == "review-article"
    assert tree.findtext(".//article-id[@pub-id-type='doi']") == "10.5555/roles"
    assert tree.findtext(".//author-notes/corresp/email") == "ada@example.org"
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    authors = text_of(select(page, "section#authors ul")[0])  # 00.front-matter.md shows them
    assert "Roles (CRediT): Conceptualization, Software, Writing \u2013 review" in authors
    jsonld = json.loads(text_of(select(page, "script[type='application/ld+json']")[0]))
    assert {"@type": "Role", "contributor": {"@type": "Person", "name": "Charles Babbage"},
            "roleName": ["Investigation"]} in jsonld["contributor"]
    import docx

    text = "\n".join(p.text for p in docx.Document(root / "output" / "manuscript.docx")
                     .paragraphs)
    assert "Ada Lovelace: Conceptualization, Software, Writing \u2013 review & editing" in text


def test_images_outside_content_are_not_embedded(tmp_path: Path) -> None:


    from PIL import Image

    root = copy_manuscript(ROOT, tmp_path)
    Image.new("RGB", (7, 5), "red").save(root / "outside.png")
    secret = (root / "outside.png").read_bytes()
    (root / "content" / "02.introduction.md").write_text(
        "## Introduction\n\n![Outside](../outside.png)\n", encoding="utf-8")
    completed = run_manuscript(root, "build", "--format", "docx", "--pdf-engine", "typst")
    assert "image not found in content/: ../outside.png" in completed.stderr
    with zipfile.ZipFile(root / "output" / "manuscript.docx") as archive:
        media = [archive.read(n) for n in archive.namelist() if n.startswith("word/media/")]
    assert media and secret not in media  # the placeholder, not the file


def test_docx_styles_from_the_manuscripts_reference_document(tmp_path: Path) -> None:
    """rootstock's build/themes/default.docx (or build/assets/reference.docx) wins."""
    import docx

    from manuscript.formats.docx import make_reference_docx

    root = copy_manuscript(ROOT, tmp_path)
    reference = root / "build" / "themes" / "default.docx"
    reference.parent.mkdir(parents=True)
    make_reference_docx(reference)
    styled = docx.Document(reference)
    styled.styles["Body Text"].font.name = "Georgia"
    styled.save(reference)
    run_manuscript(root, "build", "--no-pdf", "--format", "docx")
    built = docx.Document(root / "output" / "manuscript.docx")
    assert built.styles["Body Text"].font.name == "Georgia"
    assert docx.Document(ROOT / "build" / "manuscript" / "data" / "formats" / "reference.docx"
                         ).styles["Body Text"].font.name != "Georgia"


@pytest.mark.parametrize(("spelling", "term"), [
    ("Writing - original draft", "Writing \u2013 original draft"),
    ("writing \u2014 Review and Editing", "Writing \u2013 review & editing"),
    ("DATA CURATION", "Data curation"),
    ("visualisation", "Visualization"),
    ("project-administration", "Project administration"),
    ("Tea making", None),
])
def test_credit_spellings(spelling: str, term: str | None) -> None:
    from manuscript import credit

    role = credit.lookup(spelling)
    assert (role.name if role else None) == term


def test_rootstock_switches_select_formats() -> None:
    """BUILD_DOCX=true / BUILD_LATEX=true, as rootstock's build.sh reads them."""
    from manuscript.config import formats_from_env

    assert formats_from_env({"BUILD_DOCX": "true", "BUILD_LATEX": "false"}) == ["docx"]
    assert formats_from_env({"BUILD_DOCX": "true", "BUILD_LATEX": "true"}) == ["docx", "latex"]
    assert formats_from_env({"BUILD_DOCX": "TRUE"}) == []  # build.sh compares exactly
    assert formats_from_env({}) == []


def test_remote_images_are_fetched_when_online(tmp_path: Path) -> None:
    """A local HTTP server stands in for the web: Word and Typst embed what it serves."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from PIL import Image

    served = tmp_path / "served"
    served.mkdir()
    Image.new("RGB", (9, 4), "blue").save(served / "remote.png")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = copy_manuscript(ROOT, tmp_path / "manuscript")
        url = f"http://127.0.0.1:{server.server_port}/remote.png"
        (root / "content" / "02.introduction.md").write_text(
            f"## Introduction\n\n![Remote]({url}){{#fig:remote}}\n", encoding="utf-8")
        completed = run_manuscript(root, "build", "--format", "docx", "--pdf-engine", "typst",
                                   env=clean_env(MANUSCRIPT_OFFLINE="0"))
    finally:
        server.shutdown()
        server.server_close()
    assert "remote image" not in completed.stderr
    with zipfile.ZipFile(root / "output" / "manuscript.docx") as archive:
        media = [archive.read(n) for n in archive.namelist() if n.startswith("word/media/")]
    assert (served / "remote.png").read_bytes() in media
    from pypdf import PdfReader

    images = [image for page in PdfReader(root / "output" / "manuscript.pdf").pages
              for image in page.images]
    assert any(image.image.size == (9, 4) for image in images)

    # Offline, the server gone: the formats take the image from ci/cache, as the page
    # does (their worker starts before the html stage points the image at the cache).
    (root / "content" / "02.introduction.md").write_text(
        f"## Introduction\n\nAgain.\n\n![Remote]({url}){{#fig:remote}}\n", encoding="utf-8")
    offline = run_manuscript(root, "build", "--format", "docx", "--pdf-engine", "typst")
    assert "remote image" not in offline.stderr, offline.stderr
    with zipfile.ZipFile(root / "output" / "manuscript.docx") as archive:
        media = [archive.read(n) for n in archive.namelist() if n.startswith("word/media/")]
    assert (served / "remote.png").read_bytes() in media
    images = [image for page in PdfReader(root / "output" / "manuscript.pdf").pages
              for image in page.images]
    assert any(image.image.size == (9, 4) for image in images)


def _plan_twice(tmp_path: Path) -> Path:
    """The bundled manuscript with one section: two headings with the id ``plan``."""
    root = copy_manuscript(ROOT, tmp_path)
    for section in (root / "content").glob("[0-9]*.md"):
        if section.name not in ("00.front-matter.md", "01.abstract.md"):
            section.unlink()
    filler = "\n\n".join(f"Filler paragraph {n} " + "words " * 60 for n in range(40))
    (root / "content" / "02.plan.md").write_text(
        f"## The plan {{#plan}}\n\nFirst plan.\n\n{filler}\n\n## The plan {{#plan}}\n\n"
        "Second plan, see [the plan](#plan).\n", encoding="utf-8")
    return root


def test_typst_pdf_keeps_a_repeated_id_on_its_first_element(tmp_path: Path) -> None:
    """Pandoc only warns about a repeated id (a section copied twice); Typst would stop
    ("label occurs multiple times"). The PDF links to the first, as a browser does."""
    from pypdf import PdfReader

    root = _plan_twice(tmp_path)
    completed = run_manuscript(root, "build", "--pdf-engine", "typst")
    warnings = [line for line in completed.stderr.splitlines() if "Typst PDF keeps" in line]
    assert len(warnings) == 1 and "content/02.plan.md:1:" in warnings[0], completed.stderr

    reader = PdfReader(root / "output" / "manuscript.pdf")
    pages = [page.extract_text() for page in reader.pages]
    first = next(n for n, text in enumerate(pages) if "First plan" in text)
    second = next(n for n, text in enumerate(pages) if "Second plan" in text)
    assert first < second
    targets = []
    for page in reader.pages[second:]:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            destination = annotation.get("/Dest") or (annotation.get("/A") or {}).get("/D")
            if isinstance(destination, str):  # a named destination
                targets.append(reader.get_destination_page_number(
                    reader.named_destinations[destination]))
            elif destination is not None:
                targets.append(reader.get_page_number(destination[0].get_object()))
    assert first in targets


def test_worker_warnings_come_back_in_order_with_their_place_and_are_replayed(
        tmp_path: Path) -> None:
    """The Typst PDF and the other formats are made by a worker process while the html
    stage runs. What the worker warns is logged when its result is taken (after the
    page's lines, before the stage's own), keeps its file and line (a GitHub annotation),
    is recorded by the stage cache (replayed when the stage is skipped) and counts for
    --strict, exactly as in a build that renders one thing at a time."""
    root = _plan_twice(tmp_path)
    env = clean_env(**SEED_ENV)  # in GitHub Actions: warnings are annotations too
    args = ("build", "--pdf-engine", "typst", "--format", "docx")
    annotation = "::warning file=content/02.plan.md,line=1::"
    runs = [run_manuscript(root, *args, env=env) for _ in range(2)]
    for n, completed in enumerate(runs):
        lines = completed.stderr.splitlines()
        order = [next(i for i, line in enumerate(lines) if re.match(pattern, line))
                 for pattern in (r"html\s", r".*Typst PDF keeps", r"pdf\s", r"formats\s")]
        assert order == sorted(order), completed.stderr
        assert completed.stdout.count(annotation) == 1, completed.stdout
        skipped = [re.search(rf"^{stage}\s.*unchanged, skipped", completed.stderr, re.M)
                   for stage in ("pdf", "formats")]
        assert all(skipped) if n else not any(skipped), completed.stderr
    built = {name: (root / "output" / name).read_bytes()
             for name in ("manuscript.pdf", "manuscript.docx")}
    strict = run_manuscript(root, *args, "--strict", check=False)
    assert strict.returncode == 1 and "Typst PDF keeps" in strict.stderr, strict.stderr
    assert "Traceback" not in strict.stderr
    assert built == {name: (root / "output" / name).read_bytes() for name in built}


def test_worker_error_is_the_typed_error_and_nothing_is_written(tmp_path: Path) -> None:
    """A Typst error in the worker is reported like any build error: one line with
    Typst's message, exit 1, no traceback; the other worker is stopped and the last
    good outputs stay (the bad-input table checks byte-identity for the Typst case).
    (One bad raw Typst block is left out with a warning; more than MAX_REPAIRS of them
    stop the build.)"""
    from manuscript.formats.typst_pdf import MAX_REPAIRS

    root = copy_manuscript(ROOT, tmp_path)
    run_manuscript(root, "build", "--pdf-engine", "typst", "--format", "latex")
    before = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    section = sorted((root / "content").glob("0[2-9]*.md"))[0]
    bad = "".join(f"\n```{{=typst}}\n#no-such-function-{n}()\n```\n"
                  for n in range(MAX_REPAIRS + 1))
    section.write_text(section.read_text(encoding="utf-8") + bad, encoding="utf-8")
    scratch = tmp_path / "tmp"  # the build's temporary folders, the workers' among them
    scratch.mkdir()
    failed = run_manuscript(root, "build", "--pdf-engine", "typst", "--format", "latex",
                            env=clean_env(TMPDIR=str(scratch)), check=False)
    assert failed.returncode == 1, failed.stderr
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Typst failed" in errors[0] and "no-such-function" in errors[0]
    assert "Traceback" not in failed.stderr
    after = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    assert after == before
    assert not list(scratch.iterdir())


def _journal_layout(tmp_path: Path) -> Path:
    """The bundled front matter, then what the corpus's rootstock manuscripts write: a
    Cell Press layout (Highlights, Summary before the Introduction), a section numbered
    by its ``sec:`` id, a supplementary figure tagged S1 on a remote image, a cross-
    reference in a caption, an id in raw HTML, quotes in a heading."""
    root = copy_manuscript(ROOT, tmp_path)
    for section in (root / "content").glob("[0-9]*.md"):
        if section.name != "00.front-matter.md":
            section.unlink()
    (root / "content" / "01.body.md").write_text(
        "## Highlights\n\n- A first point\n\n"
        "## Summary\n\nThe summary of this study in a few words.\n\n"
        "## Introduction\n\nSee the methods (@sec:methods), the networks "
        "([S2](#tbl:nets)) and @fig:supp.\n\n"
        "## Methods {#sec:methods}\n\nThe methods.\n\n"
        "![Supplementary image, see @tbl:plain.](https://example.org/supp.png)"
        "{#fig:supp tag=\"S1\"}\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\nTable: Plain table. {#tbl:plain}\n\n"
        '<table id="tbl:nets"><caption>Table S2: Nets.</caption>'
        "<tr><td>1</td></tr></table>\n\n"
        '## Supplementary material for "The study"\n\nMore.\n', encoding="utf-8")
    return root


def test_formats_number_link_and_title_as_the_html(tmp_path: Path) -> None:
    """Each case broke a format on a corpus manuscript (mpmp, ccc, xswap, iscb-diversity)."""
    import docx
    from pypdf import PdfReader

    root = _journal_layout(tmp_path)
    run_manuscript(root, "build", *ALL_FORMATS)
    output = root / "output"
    page = parse_html((output / "manuscript.html").read_text(encoding="utf-8"))
    # The HTML numbers sections counting Authors (and the rest of the front matter).
    methods = next(text for text in map(text_of, select(page, "article h2"))
                   if text.endswith("Methods"))
    assert re.fullmatch(r"\d+ Methods", methods) and methods != "2 Methods", methods
    outline = [item.title for item in _flatten(PdfReader(output / "manuscript.pdf").outline)]
    assert methods in outline
    assert "Supplementary material for \u201cThe study\u201d" in outline
    assert "Summary" not in outline and "Highlights" in outline
    # JATS: the Summary before the Introduction is the abstract.
    tree = _jats(Built("journal", root))
    assert "summary of this study" in " ".join(
        tree.findtext(".//article-meta/abstract/p").split())
    assert "Summary" not in [sec.findtext("title") for sec in tree.iterfind(".//body//sec")]
    # LaTeX: the tag on the remote image numbers the figure; its caption's reference
    # is written once (not again as the link text the image becomes).
    tex = (output / "manuscript.tex").read_text(encoding="utf-8")
    position = tex.index("\\label{fig:supp}")
    last = tex[:position].rindex("\\renewcommand{\\thefigure}")
    assert tex[last:].startswith("\\renewcommand{\\thefigure}{S1}")
    assert tex.count("\\ref{tbl:plain}") == 1
    # Word: the id written in raw HTML is a bookmark the link goes to.
    document = docx.Document(output / "manuscript.docx")
    bookmarks = {b.get(_w("name")) for b in document.element.body.iter(_w("bookmarkStart"))}
    links = [link.fragment for p in document.paragraphs for link in p.hyperlinks]
    assert "tbl:nets" in bookmarks and "tbl:nets" in links


def test_a_closing_summary_stays_in_the_body() -> None:
    from manuscript.formats import document

    def header(identifier: str) -> dict:
        return {"t": "Header", "c": [2, [identifier, [], []], [{"t": "Str", "c": identifier}]]}

    blocks = [header("introduction"), header("summary"),
              {"t": "Para", "c": [{"t": "Str", "c": "closing"}]}]
    doc = document.prepare({"blocks": blocks, "meta": {}}, {})
    assert not doc.abstract and doc.abstract_heading is None
    assert [b["c"][1][0] for b in doc.ast["blocks"] if b["t"] == "Header"] == [
        "introduction", "summary"]
