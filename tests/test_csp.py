"""The policy hashes what a parse of the whole page would: every style block of ``<head>``,
and the trusted blocks anywhere — though only the head is parsed (csp._split_at_body).
Scripts are allowed only when they are the theme's, whatever ``<head>`` holds.
"""

from __future__ import annotations

import re

import pytest

from manuscript import csp, render
from manuscript.config import Config

THEME_JS = "<script>\ndocument.title += '';\n</script>\n"
TEMPLATE = "<html><head><style>p { color: red }</style></head><body>$body$</body></html>"

HEADS = {
    "plain": "<meta charset='utf-8'><style>p { margin: 0 }</style><script>var a = 1;</script>",
    "body in a style": "<style>/* <body> */ b { x: 1 }</style><script>var s = '<body>';</script>",
    "body in a comment": "<!-- <body> --><style>i { y: 2 }</style>",
    "body in an attribute": "<meta name='x' content='<body>'><style>u { z: 3 }</style>",
    "body in a JSON-LD block": "<script type='application/ld+json'>{\"a\": \"<body>\"}</script>",
}
BODIES = {
    "prose": "<p>Text</p>",
    "a section's scripts": "<p>x</p><script>alert(1)</script><style>*{}</style>"
                           "<img src=x onerror='alert(2)'>",
    "a section imitating the head": "<!-- <script>alert(3)</script> --><body><style>q{}</style>",
    "a trusted block in a comment": "<!-- <script>\ndocument.title += '';\n</script> -->",
}


def page(head: str, body: str, *, body_tag: str = "<body class='x'>") -> str:
    return (f'<!DOCTYPE html><html><head>{csp._META}{csp.PLACEHOLDER}">{head}</head>'
            f"{body_tag}<main>{body}</main>{THEME_JS}</body></html>")


def hashes(policy: str) -> dict[str, set[str]]:
    found = {}
    for directive in ("script-src", "style-src"):
        values = re.search(rf"(?:^|; ){directive} ([^;]*)", policy).group(1).split()
        found[directive] = {v for v in values if v.startswith("'sha256-")}
    return found


def whole_page_parse(html: str) -> dict[str, set[str]]:
    """The hashes from HTMLParser over the whole page (what csp did before)."""
    trusted = {(tag, text) for fragment in (THEME_JS, TEMPLATE)
               for tag, text, _ in csp._Blocks(fragment).blocks if "$" not in text}
    found: dict[str, set[str]] = {"script-src": set(), "style-src": set()}
    for tag, text, in_head in csp._Blocks(html).blocks:
        if (in_head and tag == "style") or (tag, text) in trusted:
            found[f"{tag}-src"].add(csp.digest(text))
    return found


@pytest.mark.parametrize("head", HEADS.values(), ids=HEADS.keys())
@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_same_hashes_as_a_whole_page_parse(head: str, body: str) -> None:
    html = page(head, body)
    result = csp.policy(html, [THEME_JS], TEMPLATE, {})
    assert hashes(result) == whole_page_parse(html)
    # The theme's script after <body> is allowed; a section's script never is.
    assert csp.digest("\ndocument.title += '';\n") in hashes(result)["script-src"]
    assert csp.digest("alert(1)") not in hashes(result)["script-src"]


@pytest.mark.parametrize("body_tag", ["<BODY>", "<body\n  class='x'>", ""])
def test_body_tag_spelled_otherwise_or_missing(body_tag: str) -> None:
    html = page(HEADS["body in a style"], BODIES["a section's scripts"], body_tag=body_tag)
    assert hashes(csp.policy(html, [THEME_JS], TEMPLATE, {})) == whole_page_parse(html)


def test_script_hashes_are_the_theme_scripts_whatever_the_head_holds(tmp_path) -> None:
    """The hashes come from the theme's own files, never from the page: a script that
    metadata put into <head> (it once ran: every head block was hashed) has none."""
    (tmp_path / "content").mkdir()
    theme = render.find_theme(Config(root=tmp_path))
    theme_block = render._wrap("script", theme.js)
    theme_texts = {text for _, text, _ in csp._Blocks(theme_block).blocks}
    template = theme.template.read_text(encoding="utf-8")
    hostile = ('<meta name="keywords" content="k"><script>window.P1=1</script>'
               '<style>p{}</style>')
    html = page(hostile, "<script>window.P2=1</script>").replace(THEME_JS, theme_block)
    found = hashes(csp.policy(html, [theme_block], template, {}))
    assert found["script-src"] == {csp.digest(text) for text in theme_texts}
    assert len(theme_texts) == 1 and len(theme.js) >= 5  # every JS file, as one block
    # Opted into Hypothesis: its config block in the template is the theme's too.
    config_block = "<script>window.hypothesisConfig = function () { return { showHighlights: " \
                   "true }; };</script>"
    assert config_block in template
    found = hashes(csp.policy(html.replace("</main>", "</main>" + config_block),
                              [theme_block], template, {}))
    assert found["script-src"] == {csp.digest(text) for text in theme_texts} | {
        csp.digest(config_block[8:-9])}
