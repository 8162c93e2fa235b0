"""Metadata is text in Chromium: a script in any field the page shows never runs.

Every field holds a payload that would run if written as HTML anywhere: a ``<script>``
(which ran from ``<head>``, whose blocks the policy once hashed all of), an ``onerror``
handler, and a quote that would end an attribute. Each sets its own ``window.P<n>``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from manuscript.screenshot import serve_directory


def payload(n: int) -> str:
    return (f'F{n} "><b title="x"><script>window.P{n}=1</script>'
            f'<img src=x onerror="window.P{n}=2">')


FIELDS = {
    1: ("title",), 2: ("keywords", 0), 3: ("authors", 0, "name"),
    4: ("authors", 0, "affiliations", 0), 5: ("authors", 0, "orcid"),
    6: ("authors", 0, "email"), 7: ("authors", 1, "name"),
    8: ("pandoc", "description-meta"), 9: ("pandoc", "subtitle"),
    10: ("pandoc", "title-prefix"), 11: ("html_url",),
    12: ("manubot", "ci_source", "repo_slug"), 13: ("manubot", "ci_source", "commit"),
    14: ("keywords", 1),
}


def plain(text: str | None) -> str:
    """Text as compared: pandoc reads metadata as Markdown, so a straight quote may come
    out curly (smart quotes), and a line break or space be added between tags; so
    without quotes' curls and without white space."""
    return "".join(str(text).replace("\u201c", '"').replace("\u201d", '"').split())


def _set(data: dict, where: tuple, value: str) -> None:
    for key in where[:-1]:
        data = data.setdefault(key, {}) if isinstance(data, dict) else data[key]
    if isinstance(data, list) and where[-1] >= len(data):
        data.append(value)
    else:
        data[where[-1]] = value


@pytest.fixture(scope="module")
def hostile_metadata_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path,
                                                                                      str]]:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("metadata-script"))
    path = root / "content" / "metadata.yaml"
    metadata = yaml.safe_load(path.read_text(encoding="utf-8"))
    metadata["manubot"] = {"ci_source": {"repo_name": "r", "repo_owner": "o"}}
    for n, where in FIELDS.items():
        _set(metadata, where, payload(n))
    path.write_text(yaml.safe_dump(metadata, allow_unicode=True), encoding="utf-8")
    run_manuscript(root, "build", "--no-pdf", env=clean_env())
    with serve_directory(root / "webpage") as url:
        yield root, url


def test_no_metadata_script_runs_and_the_text_is_shown_as_text(
        browser, hostile_metadata_site: tuple[Path, str]) -> None:
    root, url = hostile_metadata_site
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert html.count("window.P") >= len(FIELDS)  # every payload reached the page
    context = browser.new_context(bypass_csp=False)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)  # an image's onerror fires after load
        ran = page.evaluate(f"[...Array({len(FIELDS) + 1}).keys()].slice(1)"
                            ".filter(n => window['P' + n] !== undefined)")
        assert ran == [], f"metadata scripts ran: {ran}"
        # The theme's own scripts still run (anchors.js links every heading).
        assert page.locator('a[aria-label^="Link to section"]').count() > 0
        # <head> holds no script but the JSON-LD data, and every value is whole text.
        assert page.evaluate("document.head.querySelectorAll("
                             "'script:not([type=\"application/ld+json\"])').length") == 0
        assert page.evaluate("document.head.querySelectorAll('img, b').length") == 0
        assert plain(page.locator("h1.title").inner_text()) == plain(payload(1))
        assert plain(page.title()) == plain(f"{payload(10)} \u2013 {payload(1)}")
        assert plain(page.locator("p.subtitle").inner_text()) == plain(payload(9))
        content = {name: plain(page.locator(f'meta[name="{name}"]')
                               .get_attribute("content"))
                   for name in ("keywords", "description")}
        assert content == {"keywords": plain(f"{payload(2)}, {payload(14)}, manubot"),
                           "description": plain(payload(8))}
        authors = page.eval_on_selector_all('meta[name="author"]',
                                            "els => els.map(e => e.content)")
        assert [plain(a) for a in authors][:2] == [plain(payload(3)), plain(payload(7))]
        assert plain(payload(12)) in plain(page.locator(".doc-version a").get_attribute("href"))
        jsonld = json.loads(page.locator('script[type="application/ld+json"]').text_content())
        assert jsonld["headline"] == payload(1)
        assert jsonld["author"][0]["affiliation"][0]["name"] == payload(4)
        assert jsonld["url"] == payload(11)
        assert errors == []
    finally:
        context.close()
