"""Real Manubot manuscripts build unchanged, offline, numbered as the reference toolchain did.

Both corpus manuscripts are built from their ``content/`` alone, with the upstream
references either dropped into ``content/`` as a manual-references file or left in
``output/`` as a previous build's outputs. Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from helpers import CORPUS, copy_manuscript, parse_html, run_manuscript, select, text_of

MANUSCRIPTS = ("rootstock-tour", "meta-review")
SETUPS = ("manual-references", "previous-output")
_UNNAMED = re.compile(r"^(tbl|fig|eq):(__unnamed-\d+|[0-9a-f]{8}-[0-9a-f-]{27})$")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


@pytest.fixture(scope="module", params=[(m, s) for m in MANUSCRIPTS for s in SETUPS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def corpus_build(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    name, setup = request.param
    source = CORPUS / name
    root = copy_manuscript(source, tmp_path_factory.mktemp(name), "analyses")
    upstream = source / "upstream"
    if setup == "manual-references":
        shutil.copy(upstream / "references.json",
                    root / "content" / "manual-references-upstream.json")
    else:
        (root / "output").mkdir()
        for file in ("references.json", "citations.tsv"):
            shutil.copy(upstream / file, root / "output" / file)
    args_file = source / "process-args.txt"
    args = args_file.read_text(encoding="utf-8").split() if args_file.is_file() else []
    completed = run_manuscript(root, "build", "--offline", *args)
    return name, root, completed


def _numbers(page) -> list[tuple[str, str]]:
    """(label, number) of every numbered figure, table and equation, in order."""
    found = []
    for element in select(page, "div.fignos[id], div.tablenos[id], span.eqnos[id]"):
        label = element.etree_element.get("id")
        if "eqnos" in element.etree_element.get("class"):
            number = text_of(next(iter(select(element, ".eqnos-number"))))
        else:
            caption = select(element, "figcaption span, caption span")
            number = text_of(caption[0]).rstrip(":")
        found.append(("<unnamed>" if _UNNAMED.match(label) else label, number))
    return found


def _xrefs(page) -> list[tuple[str, str]]:
    links = select(page, "a[href^='#fig:'], a[href^='#tbl:'], a[href^='#eq:']")
    return [(a.etree_element.get("href"), text_of(a)) for a in links]


def _pages(name: str, root: Path):
    ours = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    upstream_html = (CORPUS / name / "upstream" / "manuscript.html").read_text(encoding="utf-8")
    return ours, parse_html(upstream_html)


def test_builds_offline(corpus_build) -> None:
    _, root, completed = corpus_build
    assert completed.returncode == 0
    for output in ("manuscript.md", "manuscript.html", "manuscript.pdf", "references.json"):
        assert (root / "output" / output).stat().st_size > 0


def test_bibliography_has_every_upstream_reference(corpus_build) -> None:
    name, root, _ = corpus_build
    upstream = json.loads((CORPUS / name / "upstream" / "references.json").read_text())
    ours, _ = _pages(name, root)
    assert len(select(ours, "#refs .csl-entry")) == len(upstream)


def test_figures_tables_equations_numbered_as_upstream(corpus_build) -> None:
    name, root, _ = corpus_build
    ours, upstream = _pages(name, root)
    expected = [(label, number.replace("\u00a0", " ")) for label, number in _numbers(upstream)]
    got = [(label, number.replace("\u00a0", " ")) for label, number in _numbers(ours)]
    assert expected, "upstream has numbered elements"
    assert got == expected


def test_cross_references_have_upstream_text_and_target(corpus_build) -> None:
    name, root, _ = corpus_build
    ours, upstream = _pages(name, root)
    assert _xrefs(upstream)
    assert _xrefs(ours) == _xrefs(upstream)


def test_math_in_html_and_pdf(corpus_build) -> None:
    name, root, _ = corpus_build
    ours, upstream = _pages(name, root)
    upstream_math = select(upstream, "span.math")
    assert len(select(ours, "math")) == len(upstream_math)
    tex = {_squash(text_of(m)) for m in upstream_math}
    assert _squash_all(_pdf_alt_texts(root / "output" / "manuscript.pdf")) >= tex


def _pdf_alt_texts(path: Path) -> list[str]:
    """Alt texts in the tagged PDF's structure tree (math carries its TeX there)."""
    from pypdf import PdfReader

    texts: list[str] = []
    stack = [PdfReader(path).trailer["/Root"]["/StructTreeRoot"]]
    while stack:
        node = stack.pop()
        node = node.get_object() if hasattr(node, "get_object") else node
        if not isinstance(node, dict):
            continue
        if "/Alt" in node:
            texts.append(str(node["/Alt"]))
        kids = node.get("/K")
        stack.extend(kids if isinstance(kids, list) else [kids] if kids is not None else [])
    return texts


def _squash(tex: str) -> str:
    return re.sub(r"\s+|^\\\[|\\\]$|^\\\(|\\\)$", "", tex)


def _squash_all(texts: list[str]) -> set[str]:
    return {_squash(t) for t in texts}
