"""The bundled manuscript builds from its sources, as readers will get it."""

from __future__ import annotations

import re
from pathlib import Path

from helpers import (
    SEED,
    SEED_ENV,
    clean_env,
    mask_dates,
    parse_html,
    pdf_text,
    run_manuscript,
    select,
    text_of,
)

TITLE = "Do Biomedical Tasks Require Biomedical Foundation Models?"
AUTHORS = ("Jingyun Jia", "Zhiyuan Li", "Ben Lengerich")
SECTIONS = (
    "Abstract",
    "Introduction",
    "The Current State of Domain-Specific Biomedical Foundation Models",
    "Adapting General Foundation Models to Biomedical Tasks",
    "Integrating Foundation Models with Biomedical Data Systems",
    "Evaluation, Reliability, and Deployment of Biomedical Foundation Models",
    "Open Problems and Future Directions",
    "Conclusions",
    "References",
)


def test_html_reads_like_the_article(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    assert [text_of(h) for h in select(page, "h1.title")] == [TITLE]
    assert select(page, "html[lang='en-US']")
    author_names = [text_of(s) for s in select(page, "#authors li > p > strong:first-child")]
    assert author_names == list(AUTHORS)
    headings = [text_of(h) for h in select(page, "main h2, main h3")]
    for section in SECTIONS:
        assert section in headings, f"missing section heading {section!r}"
    abstract = text_of(select(page, "section#abstract")[0])
    assert "do biomedical applications require domain-specific foundation models" in abstract
    assert "University of Wisconsin-Madison" in text_of(select(page, "#authors")[0])


def test_html_serves_its_own_icons(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "manubot.org/favicon" not in html
    assert "manubot.org/safari-pinned-tab" not in html
    # ...while the Markdown keeps Manubot's header-includes as the seed has them.
    assert "https://manubot.org/favicon-192x192.png" in (
        root / "output" / "manuscript.md").read_text(encoding="utf-8")


def test_pdf_has_the_whole_document(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    text = re.sub(r"\s+", " ", pdf_text(root / "output" / "manuscript.pdf"))
    assert TITLE in text
    for author in AUTHORS:
        assert author in text
    # The last sections made it: nothing was clipped after the first pages.
    assert "Open Problems and Future Directions" in text
    assert "Conclusions" in text


def test_markdown_matches_the_seed(bundled_build: tuple[Path, str], needs_shared: Path) -> None:
    root, _ = bundled_build
    ours = (root / "output" / "manuscript.md").read_text(encoding="utf-8")
    seed = SEED.read_text(encoding="utf-8")
    assert mask_dates(ours).splitlines() == mask_dates(seed).splitlines()


def test_each_stage_reports_one_timed_line(bundled_build: tuple[Path, str]) -> None:
    _, stderr = bundled_build
    for stage in ("process", "cite", "html", "pdf", "webpage"):
        lines = [line for line in stderr.splitlines() if line.split()[:1] == [stage]]
        assert len(lines) == 1, stderr
        assert re.fullmatch(rf"{stage}\s+\d+\.\d\d s.*", lines[0])


def test_website_has_page_pdf_and_images(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    webpage = root / "webpage"
    html = (root / "output" / "manuscript.html").read_bytes()
    assert (webpage / "index.html").read_bytes() == html
    assert (webpage / "manuscript.pdf").read_bytes()[:5] == b"%PDF-"
    assert (webpage / "images" / "orcid.svg").is_file()
    version = SEED_ENV["GITHUB_SHA"]
    assert (webpage / "v" / version / "index.html").is_file()


def test_second_build_changes_nothing(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    output = root / "output"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.iterdir() if p.is_file()}
    completed = run_manuscript(root, "build", env=clean_env(**SEED_ENV))
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.iterdir() if p.is_file()}
    assert after == before
    assert "unchanged, skipped" in completed.stderr


def test_head_has_scholarly_metadata(bundled_build: tuple[Path, str]) -> None:
    import json

    root, _ = bundled_build
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))

    def meta(selector: str) -> list[str]:
        return [e.etree_element.get("content") for e in select(page, selector)]

    assert meta("meta[name='citation_title']") == [TITLE]
    assert meta("meta[name='dc.title']") == [TITLE]
    assert meta("meta[property='og:title']") == [TITLE]
    assert meta("meta[name='citation_author']") == list(AUTHORS)
    canonical = select(page, "link[rel='canonical']")[0].etree_element.get("href")
    assert canonical == "https://AdaptInfer.github.io/fm-survey/"
    scripts = select(page, "script[type='application/ld+json']")
    article = json.loads(scripts[0].etree_element.text)
    assert article["@type"] == "ScholarlyArticle"
    assert article["headline"] == TITLE
    assert [a["name"] for a in article["author"]] == list(AUTHORS)
    assert article["url"] == canonical
    assert article["version"] == SEED_ENV["GITHUB_SHA"]


def test_no_third_party_scripts_unless_opted_in(bundled_build: tuple[Path, str]) -> None:
    root, _ = bundled_build
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    external = [e.etree_element.get("src") for e in select(page, "script[src]")]
    external += [e.etree_element.get("href") for e in select(page, "link[rel='stylesheet']")]
    assert external == []
    assert not select(page, "link[rel~='icon'][href^='http']")
    assert select(page, "link[rel~='icon'][href^='data:']")
