"""Real Manubot manuscripts build unchanged, offline, numbered as the reference toolchain did.

All six corpus manuscripts. The five rootstock repositories are copied whole (``build/``,
``ci/``, ``webpage/`` with rootstock's links, ``.github/``) and built in their root,
untouched, with the upstream ``references.json`` and ``citations.tsv`` in ``output/`` as
the previous build's outputs (how a repository switching from rootstock has them on its
``output`` branch). meta-review is ``content/`` only; it is also built with the upstream
references as a manual-references file, the other way a build gets them offline.

rootstock's ``webpage/`` links come in both forms a checkout has: real symbolic links for
the builds here, git's core.symlinks=false files for the adopted repositories.

Each repository is also adopted (``init --adopt``) and built with the command its new
workflow runs, and ``check`` reports no error on any of the six.
Skipped when ../shared is absent.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from helpers import (
    CORPUS,
    CORPUS_MANUSCRIPTS,
    CORPUS_REPOSITORIES,
    WEBPAGE_LINKS,
    copy_corpus,
    corpus_build,
    corpus_process_args,
    parse_html,
    run_manuscript,
    select,
    text_of,
)

# (manuscript, where its references come from): every manuscript with the previous
# build's outputs; the manual-references setup once, on the manuscript that has no
# repository around it.
BUILDS = [*((name, "output") for name in CORPUS_MANUSCRIPTS), ("meta-review", "manual")]
_UNNAMED = re.compile(r"^(tbl|fig|eq):(__unnamed-\d+|[0-9a-f]{8}-[0-9a-f-]{27})$")

pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


@pytest.mark.parametrize("form", ["symlinks", "files"])
def test_repository_copied_whole_with_webpage_links_in_either_form(
        form: str, tmp_path: Path) -> None:
    """The harness itself: every file of the repository (but the corpus's upstream/),
    writable, and rootstock's links as links (dangling) or as git's link files."""
    for name in CORPUS_REPOSITORIES:
        root = copy_corpus(name, tmp_path / name, links=form)
        source = CORPUS / name
        files = {p.relative_to(source) for p in source.rglob("*")
                 if p.relative_to(source).parts[0] != "upstream"}
        copied = {p.relative_to(root) for p in root.rglob("*")}
        assert copied == files | {Path("output/references.json"), Path("output/citations.tsv")}
        for link in WEBPAGE_LINKS:
            path = root / "webpage" / link
            if form == "symlinks":
                assert path.is_symlink() and not path.exists()
                assert str(path.readlink()) == f"v/latest/{link}"
            else:
                assert not path.is_symlink()
                assert path.read_text(encoding="utf-8") == f"v/latest/{link}"
        (root / "content" / "metadata.yaml").write_text("title: writable\n", encoding="utf-8")


@pytest.fixture(scope="module", params=BUILDS, ids=lambda p: f"{p[0]}-{p[1]}")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(name, build): the build shared with test_math and the reading tests."""
    name, references = request.param
    return name, corpus_build(name, tmp_path_factory, references=references)


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


def _built(built) -> tuple[str, Path]:
    name, build = built
    assert build.returncode == 0, build.stderr
    return name, build.root


def test_builds_offline(built) -> None:
    _, root = _built(built)
    for output in ("manuscript.md", "manuscript.html", "manuscript.pdf", "references.json"):
        assert (root / "output" / output).stat().st_size > 0


def test_pdf_links_all_land(built) -> None:
    """Every internal link of the page has its target in the PDF: WeasyPrint names each
    one it cannot place (``No anchor #fig:x for internal URI reference``)."""
    _, build = built
    assert "No anchor" not in build.stderr, build.stderr


def test_webpage_links_lead_somewhere(built) -> None:
    """rootstock's three links, dangling in a fresh clone, reach the newest version's
    files once the site is built."""
    name, root = _built(built)
    if name not in CORPUS_REPOSITORIES:
        pytest.skip("meta-review has no webpage/ of its own")
    for link in WEBPAGE_LINKS:
        assert (root / "webpage" / link).exists(), link
    assert (root / "webpage" / "v" / "latest" / "index.html").is_file()


def test_bibliography_has_every_upstream_reference(built) -> None:
    name, root = _built(built)
    upstream = json.loads((CORPUS / name / "upstream" / "references.json").read_text())
    ours, _ = _pages(name, root)
    assert len(select(ours, "#refs .csl-entry")) == len(upstream)


def test_figures_tables_equations_numbered_as_upstream(built) -> None:
    name, root = _built(built)
    ours, upstream = _pages(name, root)
    expected = [(label, number.replace("\u00a0", " ")) for label, number in _numbers(upstream)]
    got = [(label, number.replace("\u00a0", " ")) for label, number in _numbers(ours)]
    assert expected, "upstream has numbered elements"
    assert got == expected


def test_cross_references_have_upstream_text_and_target(built) -> None:
    name, root = _built(built)
    ours, upstream = _pages(name, root)
    if not _xrefs(upstream):
        pytest.skip(f"{name} has no figure, table or equation reference")
    assert _xrefs(ours) == _xrefs(upstream)


def test_math_in_html_and_pdf(built) -> None:
    name, root = _built(built)
    ours, upstream = _pages(name, root)
    upstream_math = select(upstream, "span.math")
    assert len(select(ours, "math")) == len(upstream_math)
    tex = {_squash(text_of(m)) for m in upstream_math}
    assert _squash_all(_pdf_alt_texts(root / "output" / "manuscript.pdf")) >= tex


# ------------------------------------------------------------- adopted, and checked


@pytest.fixture(scope="module", params=CORPUS_REPOSITORIES)
def adopted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The repository (links as core.symlinks=false files) after ``init --adopt``, built
    with each ``manuscript`` command its new workflow's build job runs."""
    name = request.param
    root = copy_corpus(name, tmp_path_factory.mktemp(name) / name, links="files")
    run_manuscript(root, "init", "--adopt")
    commands = workflow_commands(root / ".github" / "workflows" / "manuscript.yaml")
    assert any(command[0] == "build" for command in commands), commands
    # MANUSCRIPT_OFFLINE (clean_env) keeps CI's command off the network.
    runs = [(command, run_manuscript(root, *command, check=False)) for command in commands]
    return name, root, runs


def workflow_commands(path: Path) -> list[list[str]]:
    """The arguments of every ``manuscript`` command the workflow's build job runs."""
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    commands = []
    for step in workflow["jobs"]["build"]["steps"]:
        for line in step.get("run", "").splitlines():
            words = shlex.split(line)
            if words[:1] == ["manuscript"]:
                commands.append(words[1:])
    return commands


def test_adopted_repository_builds_with_its_workflow_command(adopted) -> None:
    name, root, runs = adopted
    for command, completed in runs:
        assert completed.returncode == 0, f"manuscript {shlex.join(command)}:\n{completed.stderr}"
    ours, _ = _pages(name, root)
    upstream = json.loads((CORPUS / name / "upstream" / "references.json").read_text())
    assert len(select(ours, "#refs .csl-entry")) == len(upstream)


@pytest.mark.parametrize("name", CORPUS_MANUSCRIPTS)
def test_check_reports_no_error(name: str, tmp_path: Path) -> None:
    root = copy_corpus(name, tmp_path / name)
    completed = run_manuscript(root, "check", "--offline", "--format", "json",
                               *corpus_process_args(name), check=False)
    assert "Traceback" not in completed.stderr, completed.stderr
    problems = json.loads(completed.stdout) if completed.stdout.strip() else []
    errors = [p for p in problems if p["severity"] == "error"]
    assert not errors, json.dumps(errors, indent=1)
    assert completed.returncode == 0, completed.stderr


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
