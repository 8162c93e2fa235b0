"""A rootstock repository switching to this pipeline: what it customised is honoured,
or reported once; what it left stock stays quiet.

A real HTTP server on 127.0.0.1 stands in for the hosts of a CSL style and template
variables; real git repositories seed the author order.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from manubot.process.util import randomize_authors

from helpers import (
    CORPUS,
    ROOT,
    clean_env,
    copy_corpus,
    copy_manuscript,
    parse_html,
    run_manuscript,
    select,
    text_of,
)
from localserver import serve_folder

TOUR = CORPUS / "rootstock-tour"
BUNDLED_CSL = ROOT / "build" / "manuscript" / "data" / "csl" / "manuscript.csl"


@pytest.fixture
def manuscript(tmp_path: Path) -> Path:
    return copy_manuscript(ROOT, tmp_path / "ms")


def _online() -> dict[str, str]:
    env = clean_env()
    env.pop("MANUSCRIPT_OFFLINE")  # the only URLs in these manuscripts are our 127.0.0.1 server
    return env


def _append(root: Path, name: str, text: str) -> None:
    path = root / "content" / name
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def _cite_one(root: Path) -> None:
    (root / "content" / "manual-references.json").write_text(
        '[{"id": "raw:x", "type": "book", "title": "Some Book"}]', encoding="utf-8")
    _append(root, "02.introduction.md", "\nA claim [@raw:x].\n")


def _intro(root: Path) -> str:
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    return text_of(select(page, "section#introduction")[0])


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def test_csl_url_fetched_cached_and_used_offline(manuscript: Path, tmp_path: Path) -> None:
    served = tmp_path / "styles"
    served.mkdir()
    (served / "braces.csl").write_text(BUNDLED_CSL.read_text(encoding="utf-8").replace(
        'prefix="[" suffix="]"', 'prefix="{" suffix="}"'), encoding="utf-8")
    _cite_one(manuscript)
    defaults = manuscript / "build" / "pandoc" / "defaults"
    defaults.mkdir(parents=True)
    with serve_folder(served) as base_url:
        (defaults / "common.yaml").write_text(
            f"from: markdown\nmetadata:\n  link-citations: true\n  csl: {base_url}/braces.csl\n",
            encoding="utf-8")
        run_manuscript(manuscript, "build", "--no-pdf", env=_online())
    assert "A claim {1}" in _intro(manuscript)

    # The server is gone; offline, the cached style gives the same page.
    (manuscript / "output" / ".build-state.json").unlink()
    run_manuscript(manuscript, "build", "--no-pdf")
    assert "A claim {1}" in _intro(manuscript)

    # Neither cache nor network: an error naming the defaults file and line.
    shutil.rmtree(manuscript / "ci" / "cache")
    (manuscript / "output" / ".build-state.json").unlink()
    before = (manuscript / "output" / "manuscript.html").read_bytes()
    failed = run_manuscript(manuscript, "build", "--no-pdf", check=False)
    assert failed.returncode == 1
    assert re.search(r"^error: (.*/)?build/pandoc/defaults/common.yaml:4: CSL style "
                     r"http://127\.0\.0\.1:\d+/braces\.csl is not in ci/cache and the build is "
                     "offline", failed.stderr, re.M), failed.stderr
    assert "Traceback" not in failed.stderr
    assert (manuscript / "output" / "manuscript.html").read_bytes() == before


def test_csl_path_named_but_missing_is_an_error(manuscript: Path) -> None:
    defaults = manuscript / "build" / "pandoc" / "defaults"
    defaults.mkdir(parents=True)
    (defaults / "common.yaml").write_text("metadata:\n  csl: build/assets/gone.csl\n",
                                          encoding="utf-8")
    failed = run_manuscript(manuscript, "build", "--no-pdf", check=False)
    assert failed.returncode == 1
    assert re.search(r"^error: (.*/)?build/pandoc/defaults/common.yaml:2: CSL style not found",
                     failed.stderr, re.M), failed.stderr


@pytest.mark.usefixtures("needs_shared")
def test_stock_rootstock_build_folder_is_quiet_and_changes_are_reported_once(
        manuscript: Path) -> None:
    clean = _warnings(run_manuscript(manuscript, "build", "--no-pdf").stderr)
    shutil.copytree(TOUR / "build", manuscript / "build")
    for path in (manuscript / "build").rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    theme = manuscript / "build" / "themes" / "default.html"
    # A checkout with CRLF line endings is still stock.
    theme.write_bytes(theme.read_bytes().replace(b"\n", b"\r\n"))
    stock = run_manuscript(manuscript, "build", "--no-pdf")
    assert _warnings(stock.stderr) == clean

    theme.write_text(theme.read_text(encoding="utf-8") + "<style>body { font-size: 20px; }"
                     "</style>\n", encoding="utf-8")
    tooltips = manuscript / "build" / "plugins" / "tooltips.html"
    tooltips.write_text(tooltips.read_text(encoding="utf-8").replace("tooltip", "tip"),
                        encoding="utf-8")
    analytics = manuscript / "build" / "plugins" / "analytics.html"
    analytics.write_text(analytics.read_text(encoding="utf-8") + "<script>track()</script>\n",
                         encoding="utf-8")
    changed = _warnings(run_manuscript(manuscript, "build", "--no-pdf").stderr)
    new = [w for w in changed if w not in clean]
    assert len(new) == 1, changed
    assert ("build/themes/default.html, build/plugins/analytics.html, "
            "build/plugins/tooltips.html differ from rootstock's") in new[0]
    assert "build/theme/css/*.css" in new[0] and "build/theme/js/*.js" in new[0]
    assert "manuscript-analytics: |" in new[0]


@pytest.mark.usefixtures("needs_shared")
def test_changed_pandoc_defaults_keys_reported_with_place(manuscript: Path) -> None:
    shutil.copytree(TOUR / "build" / "pandoc", manuscript / "build" / "pandoc")
    defaults = manuscript / "build" / "pandoc" / "defaults"
    for path in defaults.iterdir():
        path.chmod(0o644)
    html = defaults / "html.yaml"
    html.write_text(html.read_text(encoding="utf-8").replace("method: mathjax", "method: katex"),
                    encoding="utf-8")
    common = defaults / "common.yaml"
    # Filters we honour (secnos, spellcheck.lua by path) stay quiet; others are named once,
    # at the line that lists them, even when another defaults file lists them again.
    common.write_text(common.read_text(encoding="utf-8").replace(
        "- citeproc", "- citeproc\n- pandoc-secnos\n- pandoc-crossref\n"
        "- {type: lua, path: build/pandoc/filters/spellcheck.lua}\n"
        "- {type: lua, path: include-files.lua}"), encoding="utf-8")
    html.write_text(html.read_text(encoding="utf-8") + "filters:\n- pandoc-crossref\n",
                    encoding="utf-8")
    html_line = html.read_text(encoding="utf-8").splitlines().index("html-math-method:") + 1
    lines = common.read_text(encoding="utf-8").splitlines()
    crossref_line = lines.index("- pandoc-crossref") + 1
    include_line = lines.index("- {type: lua, path: include-files.lua}") + 1
    warnings = _warnings(run_manuscript(manuscript, "build", "--no-pdf").stderr)
    assert any(w.startswith(f"warning: build/pandoc/defaults/html.yaml:{html_line}: "
                            "'html-math-method' differs from rootstock's stock defaults")
               and "MathML" in w for w in warnings), warnings
    filters = [w for w in warnings if "pandoc filter" in w]
    assert filters == [
        f"warning: build/pandoc/defaults/common.yaml:{crossref_line}: pandoc filter "
        "'pandoc-crossref' is not supported and is not run (README: Coming from rootstock "
        "lists the filters this pipeline honours)",
        f"warning: build/pandoc/defaults/common.yaml:{include_line}: pandoc filter "
        "'include-files.lua' is not supported and is not run (README: Coming from "
        "rootstock lists the filters this pipeline honours)"], warnings
    # Stock keys of the same files (include-after-body, pdf-engine, …) stay quiet.
    assert len([w for w in warnings if "stock defaults" in w]) == 1, warnings


@pytest.mark.usefixtures("needs_shared")
def test_rootstock_tour_repository_builds_without_customisation_warnings(
        tmp_path: Path) -> None:
    root = copy_corpus("rootstock-tour", tmp_path / "tour", references="manual")
    completed = run_manuscript(root, "build", "--no-pdf")
    # Only its four remote images, which an offline build without a cache cannot have,
    # and --no-pdf's website without a PDF.
    warnings = [w for w in _warnings(completed.stderr) if "will have no PDF" not in w]
    # The tour's own slips, which `manuscript check` reports too: a table it never
    # refers to and the template's placeholder ORCIDs (XXXX-XXXX-XXXX-XXXX).
    found = [w for w in warnings if w.endswith(("[xref-unused]", "[metadata-orcid]"))]
    assert len(found) == 3, warnings
    warnings = [w for w in warnings if w not in found]
    assert len(warnings) == 4, warnings
    assert all("remote image is not in ci/cache" in w for w in warnings), warnings


def test_rootstock_environment_switches(manuscript: Path) -> None:
    env = clean_env(BUILD_PDF="false", BUILD_DOCX="true", BUILD_LATEX="true",
                    SPELLCHECK="true", BUILD_HTML="false")
    completed = run_manuscript(manuscript, "build", env=env)
    assert (manuscript / "output" / "manuscript.html").is_file()
    assert not (manuscript / "output" / "manuscript.pdf").exists()  # BUILD_PDF=false ≡ --no-pdf
    warnings = "\n".join(_warnings(completed.stderr))
    # BUILD_DOCX=true and BUILD_LATEX=true build those formats (tests/test_formats.py).
    for name in ("manuscript.docx", "manuscript.tex", "references.bib"):
        assert (manuscript / "output" / name).is_file()
    assert "BUILD_DOCX" not in warnings and "BUILD_LATEX" not in warnings
    # SPELLCHECK=true writes rootstock's spelling files; the bundled manuscript has no
    # unknown word, so no spelling warning (tests/test_spelling.py checks the rest).
    assert (manuscript / "output" / "spelling-errors.txt").read_text() == ""
    assert "spelling" not in warnings and "SPELLCHECK" not in warnings
    assert "BUILD_HTML=false is ignored" in warnings

    # rootstock's defaults (BUILD_PDF unset or "true", the others "false") are quiet.
    quiet = run_manuscript(manuscript, "build", env=clean_env(
        BUILD_PDF="true", BUILD_DOCX="false", BUILD_LATEX="false", SPELLCHECK="false"))
    assert not _warnings(quiet.stderr)
    assert (manuscript / "output" / "manuscript.pdf").is_file()


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=T", "-c", "user.email=t@example.org",
         "-c", "commit.gpgsign=false", *args],
        capture_output=True, text=True, check=True).stdout.strip()


def test_randomized_author_order_matches_manubot(manuscript: Path) -> None:
    import yaml

    metadata_path = manuscript / "content" / "metadata.yaml"
    metadata = yaml.safe_load(metadata_path.read_text(encoding="utf-8"))
    authors = [{"name": f"Author {letter}"} for letter in "ABCDEFGH"]
    metadata.update(authors=authors, **{"manubot-randomize-author-order": True})
    metadata_path.write_text(yaml.safe_dump(metadata), encoding="utf-8")
    _git(manuscript, "init", "-q")
    _git(manuscript, "add", "content")
    _git(manuscript, "commit", "-q", "-m", "first")
    head = _git(manuscript, "rev-parse", "HEAD")

    run_manuscript(manuscript, "build", "--no-pdf")
    variables = json.loads((manuscript / "output" / "variables.json").read_text())
    expected = [a["name"] for a in randomize_authors(authors, seed=head)]
    assert expected != [a["name"] for a in authors]  # eight authors: a real shuffle
    assert [a["name"] for a in variables["manubot"]["authors"]] == expected
    assert variables["pandoc"]["author-meta"] == expected
    assert variables["manubot"]["randomize_author_order"] is True
    assert variables["manubot"]["randomize_author_order_seed"] == head

    # Another commit, another order (the process stage is not skipped).
    _git(manuscript, "commit", "-q", "--allow-empty", "-m", "second")
    head2 = _git(manuscript, "rev-parse", "HEAD")
    run_manuscript(manuscript, "build", "--no-pdf")
    variables = json.loads((manuscript / "output" / "variables.json").read_text())
    assert [a["name"] for a in variables["manubot"]["authors"]] == [
        a["name"] for a in randomize_authors(authors, seed=head2)]


def test_template_variables_by_url_cached_for_offline(manuscript: Path, tmp_path: Path) -> None:
    served = tmp_path / "host"
    served.mkdir()
    (served / "stats.json").write_text('{"model_count": 42}', encoding="utf-8")
    (served / "more.yaml").write_text("reviewed: 17\n", encoding="utf-8")
    _append(manuscript, "02.introduction.md",
            "\nWe reviewed {{ model_count }} models in {{ extra.reviewed }} papers.\n")
    with serve_folder(served) as base_url:
        args = ("build", "--no-pdf", f"--template-variables-path={base_url}/stats.json",
                f"--template-variables-path=extra={base_url}/more.yaml")
        run_manuscript(manuscript, *args, env=_online())
    assert "We reviewed 42 models in 17 papers." in _intro(manuscript)

    (manuscript / "output" / ".build-state.json").unlink()
    (manuscript / "output" / "manuscript.md").unlink()
    run_manuscript(manuscript, *args)  # offline: from ci/cache
    assert "We reviewed 42 models in 17 papers." in _intro(manuscript)

    shutil.rmtree(manuscript / "ci" / "cache")
    (manuscript / "output" / ".build-state.json").unlink()
    failed = run_manuscript(manuscript, *args, check=False)
    assert failed.returncode == 1
    assert "stats.json are not in ci/cache and the build is offline" in failed.stderr


def test_changed_build_sh_reported_until_manuscript_toml_exists(manuscript: Path) -> None:
    (manuscript / "build").mkdir()
    (manuscript / "build" / "build.sh").write_text(
        "#!/usr/bin/env bash\nmanubot process --content-directory=content\n"
        "pandoc --defaults=common.yaml --defaults=html.yaml\n", encoding="utf-8")
    warned = _warnings(run_manuscript(manuscript, "build", "--no-pdf").stderr)
    assert any("build/build.sh differs from rootstock's and is not run" in w and
               "manuscript init --adopt" in w for w in warned), warned
    (manuscript / "manuscript.toml").write_text("pdf = false\n", encoding="utf-8")
    quiet = run_manuscript(manuscript, "build").stderr
    assert "build.sh" not in quiet
