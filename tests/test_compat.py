"""Manubot manuscripts' conventions: strictness, citation errors, overrides, remote images."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import (
    CORPUS,
    ROOT,
    SEED_ENV,
    clean_env,
    copy_manuscript,
    parse_html,
    run_cli,
    select,
    text_of,
)


@pytest.fixture
def manuscript(tmp_path: Path) -> Path:
    return copy_manuscript(ROOT, tmp_path / "ms")


def _append(root: Path, name: str, text: str) -> None:
    path = root / "content" / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _html(root: Path):
    return parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))


def test_unknown_cross_reference_warns_with_place_and_strict_fails(manuscript: Path) -> None:
    _append(manuscript, "02.introduction.md", "\nAs @fig:missing shows.\n")
    completed = run_cli(manuscript, "build", "--no-pdf")
    assert "content/02.introduction.md:3: unknown cross-reference @fig:missing" in (
        completed.stderr)
    links = [text_of(a) for a in select(_html(manuscript), "a[href='#fig:missing']")]
    assert links == ["??"]

    _append(manuscript, "02.introduction.md", "\nAnd @tbl:gone too.\n")
    before = (manuscript / "output" / "manuscript.html").read_bytes()
    strict = run_cli(manuscript, "build", "--no-pdf", "--strict", check=False)
    assert strict.returncode == 1
    assert "content/02.introduction.md:5: unknown cross-reference @tbl:gone" in strict.stderr
    assert "--strict" in strict.stderr
    assert (manuscript / "output" / "manuscript.html").read_bytes() == before


@pytest.mark.parametrize(("citation", "reason"), [
    ("doi:not-a-doi", "is not valid"),
    ("tag:never-defined", "is not a known identifier"),
])
def test_unresolvable_citation_names_key_and_place(manuscript: Path, citation: str,
                                                   reason: str) -> None:
    run_cli(manuscript, "build", "--no-pdf")
    before = {p.name: p.read_bytes() for p in (manuscript / "output").iterdir() if p.is_file()}
    _append(manuscript, "03.domain-specific-models.md", f"\nAs shown [@{citation}].\n")
    # Rootstock's policy: published with a warning; --strict stops it, outputs unchanged.
    completed = run_cli(manuscript, "build", "--no-pdf", "--strict", check=False)
    assert completed.returncode == 1
    assert f"@{citation} {reason}" in completed.stderr
    assert "content/03.domain-specific-models.md:5" in completed.stderr
    after = {p.name: p.read_bytes() for p in (manuscript / "output").iterdir() if p.is_file()}
    assert after == before


def test_manual_reference_resolves_and_renders(manuscript: Path) -> None:
    (manuscript / "content" / "manual-references.json").write_text(json.dumps([{
        "id": "raw:bommasani2021", "type": "report", "title": "On the Opportunities and "
        "Risks of Foundation Models", "author": [{"family": "Bommasani", "given": "Rishi"}],
        "issued": {"date-parts": [[2021]]},
    }]), encoding="utf-8")
    _append(manuscript, "02.introduction.md", "\nFoundation models [@raw:bommasani2021].\n")
    run_cli(manuscript, "build", "--no-pdf")
    page = _html(manuscript)
    entries = [text_of(e) for e in select(page, "#refs .csl-entry")]
    assert len(entries) == 1 and "On the Opportunities and Risks" in entries[0]
    citations = select(page, "span.citation a[href^='#ref-']")
    assert [text_of(a) for a in citations] == ["1"]
    tsv = (manuscript / "output" / "citations.tsv").read_text(encoding="utf-8").splitlines()
    assert tsv[1].startswith("raw:bommasani2021\traw:bommasani2021\traw:bommasani2021\t")


def test_manuscript_toml_and_local_csl_override(manuscript: Path) -> None:
    (manuscript / "vars.json").write_text('{"model_count": 42}', encoding="utf-8")
    (manuscript / "manuscript.toml").write_text(
        'template-variables-path = ["vars.json"]\npdf = false\n', encoding="utf-8")
    _append(manuscript, "02.introduction.md",
            "\nWe reviewed {{ model_count }} models [@raw:x].\n")
    (manuscript / "content" / "manual-references.json").write_text(
        '[{"id": "raw:x", "type": "book", "title": "Some Book"}]', encoding="utf-8")
    bundled = ROOT / "build" / "manuscript" / "data" / "csl" / "manuscript.csl"
    style = bundled.read_text(encoding="utf-8").replace(
        '<layout prefix="[" suffix="]" delimiter=",">', '<layout prefix="{" suffix="}">')
    (manuscript / "build" / "assets").mkdir(parents=True)
    (manuscript / "build" / "assets" / "style.csl").write_text(style, encoding="utf-8")
    run_cli(manuscript, "build")
    page = _html(manuscript)
    intro = text_of(select(page, "section#introduction")[0])
    assert "We reviewed 42 models {1}" in intro
    assert not (manuscript / "output" / "manuscript.pdf").exists()  # pdf = false


def test_rootstock_attributes_survive(manuscript: Path) -> None:
    _append(manuscript, "02.introduction.md",
            '\n![An icon.](images/orcid.svg){#fig:icon width="40%" .white}\n\n'
            "[Important]{.semibold} text.\n\n"
            "::: {.banner .center}\nCentered banner.\n:::\n")
    run_cli(manuscript, "build", "--no-pdf")
    page = _html(manuscript)
    image = select(page, "#fig\\:icon img.white")[0].etree_element
    assert re.search(r"width:\s*40(\.0)?%", image.get("style"))
    assert select(page, "span.semibold")
    assert select(page, "div.banner.center")
    assert select(page, "html[lang='en-US']")


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_uncached_remote_images_offline_keep_url_and_say_where(tmp_path: Path) -> None:
    """Offline with an empty ci/cache: the page links to the image, the build says where
    it is used (once: the PDF's placeholder is not reported again)."""
    source = CORPUS / "rootstock-tour"
    root = copy_manuscript(source, tmp_path / "tour")
    shutil.copy(source / "upstream" / "references.json",
                root / "content" / "manual-references-upstream.json")
    completed = run_cli(root, "build", "--offline")
    url = ("https://github.com/manubot/resources/raw/"
           "15493970f8882fce22bef829619d3fb37a613ba5/test/square.png")
    assert select(_html(root), f"img[src='{url}']")
    assert completed.stderr.count(url) == 1
    assert (f"content/02.delete-me.md:173: remote image is not in ci/cache and the build is "
            f"offline; the page links to it and the PDF shows a placeholder: {url}"
            in completed.stderr)


def test_hypothesis_is_opt_in(manuscript: Path) -> None:
    _append(manuscript, "metadata.yaml", "manuscript-hypothesis: true\n")
    run_cli(manuscript, "build", "--no-pdf")
    sources = [e.etree_element.get("src") for e in select(_html(manuscript), "script[src]")]
    assert sources == ["https://hypothes.is/embed.js"]


def test_check_reports_problems_and_writes_nothing(manuscript: Path) -> None:
    ok = run_cli(manuscript, "check")
    assert "10 sections, 0 references" in ok.stderr
    assert not (manuscript / "output").exists()
    _append(manuscript, "02.introduction.md", "\nSee [@tag:nowhere].\n")
    bad = run_cli(manuscript, "check", "--strict", check=False)  # a warning
    assert bad.returncode == 1
    assert "@tag:nowhere is not a known identifier" in bad.stderr
    assert not (manuscript / "output").exists()


def test_github_annotations_for_warnings_and_errors(manuscript: Path) -> None:
    env = clean_env(**SEED_ENV)
    _append(manuscript, "02.introduction.md", "\nAs @fig:missing shows.\n")
    completed = run_cli(manuscript, "build", "--no-pdf", env=env)
    assert ("::warning file=content/02.introduction.md,line=3::"
            "content/02.introduction.md:3: unknown cross-reference @fig:missing"
            in completed.stdout)
    (manuscript / "content" / "metadata.yaml").write_text("title: [oops\n", encoding="utf-8")
    failed = run_cli(manuscript, "build", "--no-pdf", env=env, check=False)
    assert failed.returncode == 1
    assert "::error file=content/metadata.yaml,line=" in failed.stdout


def test_thumbnail_becomes_open_graph_image(manuscript: Path) -> None:
    (manuscript / "thumbnail.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    run_cli(manuscript, "build", "--no-pdf", env=clean_env(**SEED_ENV))
    images = [e.etree_element.get("content")
              for e in select(_html(manuscript), "meta[property='og:image']")]
    sha = SEED_ENV["GITHUB_SHA"]
    assert images == [f"https://github.com/AdaptInfer/fm-survey/raw/{sha}/thumbnail.png"]


def test_rootstock_pandoc_defaults_are_honoured(manuscript: Path) -> None:
    """Metadata, variables and the CSL path of build/pandoc/defaults apply; the xnos
    filters and rootstock theme those files name are what this pipeline replaces."""
    defaults = manuscript / "build" / "pandoc" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "common.yaml").write_text(
        "from: markdown\nfilters:\n- pandoc-fignos\n- pandoc-manubot-cite\n- citeproc\n"
        "metadata:\n  csl: build/assets/braces.csl\n  link-citations: true\n",
        encoding="utf-8")
    (defaults / "html.yaml").write_text(
        "to: html5\ninclude-after-body:\n- build/themes/default.html\n"
        "variables:\n  manuscript-page-size: letter\n", encoding="utf-8")
    bundled = ROOT / "build" / "manuscript" / "data" / "csl" / "manuscript.csl"
    (manuscript / "build" / "assets").mkdir(parents=True)
    (manuscript / "build" / "assets" / "braces.csl").write_text(bundled.read_text(
        encoding="utf-8").replace('prefix="[" suffix="]"', 'prefix="{" suffix="}"'),
        encoding="utf-8")
    (manuscript / "content" / "manual-references.json").write_text(
        '[{"id": "raw:x", "type": "book", "title": "Some Book"}]', encoding="utf-8")
    _append(manuscript, "02.introduction.md", "\nA claim [@raw:x].\n")
    run_cli(manuscript, "build", "--no-pdf")
    html = (manuscript / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "@page { size: letter; }" in html
    assert "A claim {1}" in text_of(select(parse_html(html), "section#introduction")[0])


def test_caption_over_a_blank_line_is_one_figure_as_in_rootstock() -> None:
    """iscb-diversity's Figure 3: its caption ends with a blank line before "](…)".
    Rootstock's pandoc 2 read one figure; pandoc 3 alone prints the Markdown as text."""
    from manuscript import pandoc

    text = ("Before.\n\n![(A) A caption\n  over lines.\n\n](x.png){#fig:a}\n\n"
            "See {@fig:a}.\n\n[a link's text\n\n](y)\n")
    blocks = pandoc.markdown_to_ast(text)["blocks"]
    assert [block["t"] for block in blocks] == ["Para", "Figure", "Para", "Para", "Para"]
    assert blocks[1]["c"][0][0] == "fig:a"
    # Every line keeps its number (places are counted from them); links are left alone.
    rewritten = pandoc.read_as_rootstock(text)
    assert rewritten.count("\n") == text.count("\n")
    assert "[a link's text\n\n](y)" in rewritten


def test_citations_link_to_references_with_rootstocks_defaults(manuscript: Path) -> None:
    """rootstock's common.yaml sets link-citations, as the page's own run does: pandoc
    made a list of the two, and no citation linked to its reference."""
    (manuscript / "content" / "manual-references.json").write_text(json.dumps(
        [{"id": "raw:doe", "type": "article", "title": "A title", "issued":
          {"date-parts": [[2020]]}}]), encoding="utf-8")
    _append(manuscript, "02.introduction.md", "\nAs shown before [@raw:doe].\n")
    defaults = manuscript / "build" / "pandoc" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "common.yaml").write_text("metadata:\n  link-citations: true\n",
                                          encoding="utf-8")
    run_cli(manuscript, "build", "--no-pdf")
    links = select(_html(manuscript), ".citation a[href^='#ref-']")
    assert len(links) == 1
