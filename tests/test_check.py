"""``manuscript check``: every problem in one run, at its file:line:col, with its code.

The fixture ``tests/fixtures/mistakes`` has one mistake of each kind; ``EXPECTED`` lists
where each one is (found by reading the fixture, not by running the check). The check
must report exactly those. The same source checks run in ``build`` (as warnings) and
``serve`` (over the page).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import pytest
from PIL import Image

from helpers import (
    ROOT,
    SEED_ENV,
    clean_env,
    copy_manuscript,
    parse_html,
    pdf_text,
    run_cli,
    run_manuscript,
    select,
    serving,
    text_of,
)
from localserver import serve_folder

FIXTURE = Path(__file__).parent / "fixtures" / "mistakes"
METHODS = "content/02.methods.md"
REFS = "content/manual-references.json"
META = "content/metadata.yaml"

# (code, file, line, column): one mistake of each kind in the fixture.
EXPECTED = {
    ("metadata-type", META, 7, 1),  # html_url: a list
    ("metadata-unknown-key", META, 8, 1),  # keywrods
    ("metadata-orcid", META, 12, 5),  # wrong check digit
    ("metadata-email", META, 13, 5),  # no @
    ("metadata-required", META, 16, 5),  # an author without a name
    ("metadata-duplicate-key", META, 19, 1),  # lang twice
    ("reference-invalid", REFS, 9, 3),  # "issued": "last spring"
    ("reference-no-type", REFS, 15, 3),
    ("reference-no-title", REFS, 19, 3),
    ("reference-duplicate-id", REFS, 23, 3),  # raw:roe-2020 again
    ("citation-malformed", METHODS, 3, 85),  # @doi:not-a-doi
    ("citation-unresolved", METHODS, 4, 37),  # a DOI in no cache, offline
    ("citation-tag-duplicate", METHODS, 7, 1),
    ("citation-tag-unused", METHODS, 8, 1),
    ("image-missing", METHODS, 12, 1),
    ("image-no-alt", METHODS, 14, 1),
    ("image-large", METHODS, 16, 1),
    ("xref-undefined", METHODS, 19, 51),  # @fig:results
    ("xref-duplicate", METHODS, 31, 22),  # tbl:timings twice
    ("link-anchor-missing", METHODS, 33, 42),  # (#discussion)
    ("xref-unused", "content/03.results.md", 5, 17),  # eq:energy
    ("spelling", "content/03.results.md", 7, 16),  # recieve
    ("xref-wrong-kind", "content/03.results.md", 13, 58),  # a fig: label on a table
    ("xref-undefined", "content/03.results.md", 13, 41),  # so @fig:second-run prints ??
}
_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<severity>error|warning): "
                   r"(?P<message>.*) \[(?P<code>[a-z-]+)\]$")

# A stage's warning knows its line, not its column.
_NO_COLUMN = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): (?P<severity>error|warning): "
                        r"(?P<message>.*) \[(?P<code>[a-z-]+)\]$")


def mistakes(tmp_path: Path) -> Path:
    """A copy of the fixture, with its image over 5 MB (random pixels: incompressible)."""
    root = copy_manuscript(FIXTURE, tmp_path / "mistakes")
    pixels = Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    pixels.save(root / "content" / "images" / "large.png")
    assert (root / "content" / "images" / "large.png").stat().st_size > 5 * 2**20
    return root


def reported(stdout: str) -> list[re.Match]:
    """The problem lines of ``check``'s text output; every other line is the count."""
    lines = stdout.splitlines()
    assert lines, "no output"
    matches = [_LINE.match(line) or _NO_COLUMN.match(line) for line in lines[:-1]]
    assert all(matches), stdout
    assert re.fullmatch(r"\d+ error\(s\), \d+ warning\(s\)|no problems found", lines[-1]), stdout
    return matches  # type: ignore[return-value]


def test_check_reports_each_mistake_where_it_is_and_nothing_else(tmp_path: Path) -> None:
    root = mistakes(tmp_path)
    completed = run_cli(root, "check", check=False)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    found = [(m["code"], m["path"], int(m["line"]), int(m["col"]))
             for m in reported(completed.stdout)]
    assert len(found) == len(set(found)), completed.stdout  # each problem once
    assert set(found) == EXPECTED, completed.stdout
    errors = sum(1 for m in reported(completed.stdout) if m["severity"] == "error")
    assert completed.stdout.splitlines()[-1] == (
        f"{errors} error(s), {len(EXPECTED) - errors} warning(s)")
    # The failure names the first error at its place, and check wrote nothing.
    assert re.search(r"^error: .*content/02\.methods\.md:12: image not found",
                     completed.stderr, re.M), completed.stderr
    # A malformed or unresolved key is a warning: the build publishes it, as rootstock.
    citing = [m for m in reported(completed.stdout) if m["code"].startswith("citation-")]
    assert citing and all(m["severity"] == "warning" for m in citing)
    assert not (root / "output").exists() and not (root / "webpage").exists()
    # Offline, an unknown key says where it was looked for, not what the parser made of
    # the cache's refusal.
    unresolved = next(m for m in reported(completed.stdout) if m["code"] == "citation-unresolved")
    assert "is not known offline" in unresolved["message"], unresolved["message"]
    assert "JSONDecodeError" not in completed.stdout


def test_json_output_for_editors(tmp_path: Path) -> None:
    root = mistakes(tmp_path)
    completed = run_cli(root, "check", "--format", "json", check=False)
    assert completed.returncode == 1
    rows = json.loads(completed.stdout)
    assert {(r["code"], r["path"], r["line"], r["col"]) for r in rows} == EXPECTED
    assert all(set(r) == {"path", "line", "col", "severity", "code", "message"} for r in rows)
    orcid = next(r for r in rows if r["code"] == "metadata-orcid")
    # A warning: manubot publishes it (rootstock's template ships XXXX-XXXX-XXXX-XXXX).
    assert orcid["severity"] == "warning" and "check digit" in orcid["message"]


def test_github_actions_annotations_carry_the_column(tmp_path: Path) -> None:
    root = mistakes(tmp_path)
    completed = run_cli(root, "check", env=clean_env(**SEED_ENV),
                               check=False)
    assert ("::warning file=content/metadata.yaml,line=12,col=5::author 1's orcid"
            in completed.stdout), completed.stdout
    assert ("::warning file=content/03.results.md,line=5,col=17::eq:energy is never "
            "referenced [xref-unused]") in completed.stdout
    assert completed.stdout.count("::error ") + completed.stdout.count("::warning ") \
        == len(EXPECTED)


def test_bundled_manuscript_checks_clean(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    completed = run_cli(root, "check")
    assert completed.stdout == "no problems found\n"
    assert "warning" not in completed.stderr


def test_warnings_alone_pass_unless_strict(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    section = root / "content" / "08.conclusion.md"
    figure = "![A diagram of the review.](images/github.svg)"
    section.write_text(section.read_text(encoding="utf-8") + f"\n{figure}{{#fig:diagram}}\n",
                       encoding="utf-8")
    line = section.read_text(encoding="utf-8").count("\n")
    completed = run_cli(root, "check")
    assert completed.stdout.splitlines() == [  # the label's place: its "{"
        f"content/08.conclusion.md:{line}:{len(figure) + 1}: warning: fig:diagram is never "
        "referenced [xref-unused]", "0 error(s), 1 warning(s)"]
    strict = run_cli(root, "check", "--strict", check=False)
    assert strict.returncode == 1
    assert "fig:diagram is never referenced [xref-unused]; 0 error(s), 1 warning(s) (--strict)" \
        in strict.stderr


def _buildable(root: Path) -> None:
    """Take out the mistakes that stop a build (they are errors there), keep the rest."""
    meta = root / "content" / "metadata.yaml"
    text = meta.read_text(encoding="utf-8")
    text = text.replace("html_url: [https://example.org/one, https://example.org/two]\n", "")
    text = text.replace("  - initials: NN\n", "  - name: Noor Nasser\n    initials: NN\n")
    meta.write_text(text.replace("lang: en-GB\n", ""), encoding="utf-8")
    methods = root / METHODS
    text = methods.read_text(encoding="utf-8")
    text = text.replace(" and a paper whose identifier is wrong [@doi:not-a-doi]", "")
    methods.write_text(text.replace("Another paper was never downloaded "
                                    "[@doi:10.5555/never-fetched].\n", ""), encoding="utf-8")


def test_build_logs_the_same_problems_as_warnings(tmp_path: Path) -> None:
    root = mistakes(tmp_path)
    _buildable(root)
    checked = run_cli(root, "check", "--format", "json", check=False)
    problems = json.loads(checked.stdout)
    assert {p["code"] for p in problems} == {code for code, *_ in EXPECTED} - {
        "metadata-type", "metadata-required", "metadata-duplicate-key", "citation-malformed",
        "citation-unresolved"}
    # Spelling runs in build only with rootstock's SPELLCHECK=true, and then as one summary
    # warning with its two files (tests/test_spelling.py); every other problem is shared.
    problems = [p for p in problems if p["code"] != "spelling"]
    for attempt in ("first", "unchanged"):  # the second build skips stages: replays
        built = run_cli(root, "build", "--no-pdf")
        warnings = [line for line in built.stderr.splitlines() if line.startswith("warning: ")]
        for p in problems:
            # Stages that meet a problem report it themselves (image-missing by the HTML
            # stage, xref-undefined by the cross-reference filter, a reference's invalid
            # field by cite): with the file, and the line where the stage knows it.
            own = f"warning: {p['path']}:{p['line']}:{p['col']}: {p['message']} [{p['code']}]"
            by_stage = {"image-missing": f"{p['path']}:{p['line']}: image not found",
                        "xref-undefined": f"{p['path']}:{p['line']}: unknown cross-reference",
                        "reference-invalid": f"{p['path']} item 1 (id 'raw:doe-2021'): this "
                                             "reference lost issued",
                        "reference-duplicate-id": f"{p['path']}:{p['line']}: manual reference "
                                                  "raw:roe-2020 is also defined at"}
            expected = by_stage.get(p["code"], own)
            matching = [w for w in warnings if expected in w]
            assert len(matching) == 1, (attempt, expected, built.stderr)
        assert len(warnings) == len(problems), (attempt, built.stderr)
    strict = run_cli(root, "build", "--pdf-engine", "typst", "--strict", check=False)
    assert strict.returncode == 1


def test_external_links_checked_against_a_local_server(tmp_path: Path) -> None:
    # A manuscript of its own: every external link it has is on the local server.
    root = tmp_path / "manuscript"
    (root / "content").mkdir(parents=True)
    (root / "content" / "metadata.yaml").write_text("title: Links\n", encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    (site / "ok.html").write_text("<p>here</p>", encoding="utf-8")
    online = clean_env(MANUSCRIPT_OFFLINE="0")
    with serve_folder(site) as base:
        sentence = f"See [the data]({base}/ok.html) and "
        (root / "content" / "01.text.md").write_text(
            f"## Text\n\n{sentence}[the code]({base}/gone.html) or <{base}/ok.html>.\n",
            encoding="utf-8")
        without = run_cli(root, "check", env=online)
        assert without.stdout == "no problems found\n"  # external links only with --links
        first = run_cli(root, "check", "--links", env=online, check=False)
    assert first.returncode == 1
    assert [m.group(0) for m in reported(first.stdout)] == [
        f"content/01.text.md:3:{len(sentence) + 1}: error: {base}/gone.html: HTTP 404 File not "
        "found [link-broken]"]
    cache = json.loads((root / "ci" / "cache" / "links.json").read_text(encoding="utf-8"))
    assert cache == {f"{base}/ok.html": date.today().isoformat()}  # good answers only
    # The server is gone: the link that answered is not asked again this week.
    second = run_cli(root, "check", "--links", env=online, check=False)
    assert [m["message"] for m in reported(second.stdout)] == [
        f"{base}/gone.html: {base.removeprefix('http://')} could not be reached "
        "(connection refused)"]
    offline = run_cli(root, "check", "--links")
    assert "external links not checked" in offline.stderr


@pytest.fixture
def server_for(tmp_path: Path):
    with ExitStack() as servers:
        yield lambda root: servers.enter_context(serving(root))


def test_serve_shows_the_last_builds_problems_over_the_page(tmp_path: Path,
                                                            server_for) -> None:
    from test_serve import get

    root = copy_manuscript(ROOT, tmp_path)
    section = root / "content" / "08.conclusion.md"
    original = section.read_text(encoding="utf-8")
    section.write_text(original + "\n[The start](#no-such-part) of the review.\n",
                       encoding="utf-8")
    line = section.read_text(encoding="utf-8").count("\n")
    server = server_for(root)
    status, body = get(server.port, "/")
    assert status == 200
    where = f"content/08.conclusion.md:{line}:1: link to #no-such-part"
    overlay = re.search(r"<script>\n\(function \(\) \{\n  var report = (.*);\n", body)
    assert overlay, body[-2000:]
    report = json.loads(overlay.group(1))
    assert report["title"] == "The last build warned (1):"
    assert report["problems"][0].startswith(where)
    # Allowed by the page's CSP (its hash), and only in what serve sends.
    script = body[overlay.start() + len("<script>"): body.index("</script>", overlay.start())]
    from manuscript.csp import digest

    assert digest(script) in re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)',
                                       body).group(1)
    on_disk = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "manuscript-problems" not in on_disk
    # A failed build: the previous page, with the error over it.
    shutil.copy(root / "content" / "metadata.yaml", tmp_path / "metadata.yaml")
    (root / "content" / "metadata.yaml").write_text("title: [broken\n", encoding="utf-8")
    attempts = server.build_attempts
    server.rebuild()
    assert server.build_attempts == attempts + 1 and server.last_error is not None
    body = get(server.port, "/")[1]
    report = json.loads(re.search(r"var report = (.*);\n", body).group(1))
    assert report["title"] == "The last build failed; this is the previous build."
    assert "content/metadata.yaml:2: YAML syntax error" in report["problems"][0]
    # Fixed: no overlay at all.
    shutil.copy(tmp_path / "metadata.yaml", root / "content" / "metadata.yaml")
    section.write_text(original, encoding="utf-8")
    assert server.rebuild()
    assert "manuscript-problems" not in get(server.port, "/")[1]


def test_what_the_stages_warn_about_is_a_problem_too(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    metadata = root / "content" / "metadata.yaml"
    text = metadata.read_text(encoding="utf-8")
    metadata.write_text(text.replace("    initials: JJ\n",
                                     "    initials: JJ\n    roles: [Software, Dancing]\n"),
                        encoding="utf-8")
    line = text.split("\n").index("    initials: JJ") + 2
    completed = run_cli(root, "check")  # a warning: exit 0
    (problem,) = reported(completed.stdout)
    assert problem.group(0).startswith(
        f"content/metadata.yaml:{line}: warning: Jingyun Jia has the role 'Dancing', which is "
        "not a CRediT role")
    assert problem["code"] == "build-warning"


# Markdown where a raw-text scan can get the place wrong, or see a citation pandoc does
# not read (an "@" in an attribute, math, raw HTML, an autolink, a link definition, code).
POSITIONS = {
    "01.tables.md": "## Tables\n\n| a | b |\n|---|---|\n| x | see @fig:in-table |\n\n"
                    "+---+---+\n| a | b  [@tbl:in-grid] |\n+===+===+\n| x | y |\n+---+---+\n",
    "02.notes.md": "## Notes\n\nText.[^n] More.^[An inline note, @fig:in-inline-note.]\n\n"
                   "[^n]: A note, with @tbl:in-note.\n",
    "03.captions.md": "## Captions\n\n![A caption citing @fig:in-caption.](images/a.png)"
                      "{#fig:captioned}\n",
    "04.html.md": "## HTML\n\n<div class=\"box\">\nIn a div, @fig:in-div.\n</div>\n\n"
                  "<a title=\"@fig:in-attribute\">x</a> <pre>@fig:in-pre</pre>\n"
                  "Math $x @fig:in-math$, <https://x.org/@fig:in-autolink>, "
                  "[y]{title=\"@fig:in-attrs\"} and [z][ref].\n\n"
                  "[ref]: https://x.org/@fig:in-definition \"@fig:in-title\"\n\n"
                  "After the definition, @fig:after-definition.\n",
    "05.crlf.md": "## Line ends\r\n\r\nWindows\tline ends,\ttabs and\r\n\t@fig:after-tab "
                  "@fig:after-crlf, [the next heading](#next-heading).\r\n\r\n"
                  "Next heading\r\n---\r\n",
    "06.links.md": "## Links\n\n[A link text that\ngoes on @fig:in-link-text](#nowhere) and "
                   "_@tbl:emphasised_.\n\n    @fig:in-indented-code\n\n- An item\n\n"
                   "    continued by @fig:in-item.\n",
    "07.front.md": "---\ncontact: someone@fig.org\n---\n\n## After front matter\n\n"
                   "{{ 'Templated' }} and @fig:after-template.\n",
}


def test_check_places_in_tricky_markdown(tmp_path: Path) -> None:
    root = tmp_path / "positions"
    (root / "content" / "images").mkdir(parents=True)
    (root / "content" / "metadata.yaml").write_text("title: Positions\n", encoding="utf-8")
    Image.new("RGB", (4, 4)).save(root / "content" / "images" / "a.png")
    for name, text in POSITIONS.items():
        (root / "content" / name).write_bytes(text.encode("utf-8"))  # CRLF kept
    completed = run_cli(root, "check", "--format", "json", check=False)
    found = {(p["path"].removeprefix("content/"), p["line"], p["col"], p["code"],
              p["message"].split()[0]) for p in json.loads(completed.stdout)}
    undefined = "xref-undefined"
    # (file, line, column, code, first word): each found by reading POSITIONS above.
    assert found == {
        ("01.tables.md", 5, 11, undefined, "@fig:in-table"),
        ("01.tables.md", 8, 11, undefined, "@tbl:in-grid"),
        ("02.notes.md", 3, 34, undefined, "@fig:in-inline-note"),
        ("02.notes.md", 5, 20, undefined, "@tbl:in-note"),
        ("03.captions.md", 3, 20, undefined, "@fig:in-caption"),
        ("03.captions.md", 3, 51, "xref-unused", "fig:captioned"),
        ("04.html.md", 4, 11, undefined, "@fig:in-div"),
        ("04.html.md", 12, 23, undefined, "@fig:after-definition"),
        ("05.crlf.md", 4, 2, undefined, "@fig:after-tab"),
        ("05.crlf.md", 4, 17, undefined, "@fig:after-crlf"),
        ("06.links.md", 3, 1, "link-anchor-missing", "link"),
        ("06.links.md", 4, 9, undefined, "@fig:in-link-text"),
        ("06.links.md", 4, 43, undefined, "@tbl:emphasised_"),  # as pandoc reads it
        ("06.links.md", 10, 18, undefined, "@fig:in-item"),
        ("07.front.md", 7, 23, undefined, "@fig:after-template"),
    }, completed.stdout


# Manubot's own input, each form in one manuscript: what manubot accepts, `check` and the
# build accept alike (issue 17). A citation no source resolves is rootstock's warning.
MANUBOT_SECTION = """\
## Introduction

![A.](images/a.png){#fig:a}

![B.](images/b.png){#fig:b}

![C.](images/c.png){#fig:c}

![D.](images/d.png){#fig:d}

See {@fig:a}, [-@fig:b], {+@fig:c} and [@fig:d]; +@sec:methods and @sec:introduction.
Cited [@doi:10.1000/json-standard-citation; @doi:10.1000/yaml-note; @doi:10.1000/bib;
@doi:10.1000/ris; @raw:plain-id; @raw:yml-id].

## Methods {#sec:methods}

Nothing more.
"""
MANUBOT_REFERENCES = {
    "manual-references.json": json.dumps([
        {"standard_citation": "doi:10.1000/json-standard-citation", "type": "article-journal",
         "title": "By standard_citation"},
        {"id": "raw:plain-id", "type": "book", "title": "By id"},
        {"type": "book", "title": "No id at all: manubot skips it"},
    ], indent=2),
    "manual-references-note.yaml": "- type: article-journal\n  title: By a note\n"
                                   "  note: 'standard_id: doi:10.1000/yaml-note'\n",
    "manual-references-more.yml": "- id: raw:yml-id\n  type: book\n  title: From .yml\n",
    "manual-references-bib.bib": "@article{doi:10.1000/bib,\n  title = {From BibTeX},\n"
                                 "  author = {Doe, Jane},\n  year = {2020},\n"
                                 "  journal = {J}\n}\n",
    "manual-references-ris.ris": "TY  - JOUR\nID  - doi:10.1000/ris\nTI  - From RIS\n"
                                 "AU  - Doe, Jane\nPY  - 2020\nER  - \n",
}
UNRESOLVED = "\nAnd one found nowhere [@doi:10.5555/nowhere].\n"


def manubot_input(root: Path, unresolved: bool) -> Path:
    (root / "content" / "images").mkdir(parents=True)
    (root / "content" / "metadata.yaml").write_text("title: Manubot input\n", encoding="utf-8")
    for name in "abcd":
        Image.new("RGB", (4, 4)).save(root / "content" / "images" / f"{name}.png")
    text = MANUBOT_SECTION + (UNRESOLVED if unresolved else "")
    (root / "content" / "01.main.md").write_text(text, encoding="utf-8")
    for name, data in MANUBOT_REFERENCES.items():
        (root / "content" / name).write_text(data, encoding="utf-8")
    return root


def test_manubot_input_is_valid_in_check_and_build_alike(tmp_path: Path) -> None:
    root = manubot_input(tmp_path / "ok", unresolved=False)
    checked = run_manuscript(root, "check", "--format", "json", check=False)
    problems = json.loads(checked.stdout)
    # The item without any id: skipped with a warning, as manubot skips it; nothing else.
    assert [(p["path"], p["severity"], p["code"]) for p in problems] == [
        ("content/manual-references.json", "warning", "reference-invalid")], checked.stdout
    assert checked.returncode == 0
    built = run_manuscript(root, "build", "--no-pdf", check=False)
    assert built.returncode == 0, built.stderr
    warnings = [line for line in built.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "item 2 has no usable id" in warnings[0], built.stderr
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    assert len(select(page, "#refs .csl-entry")) == 6  # every manual reference form
    xrefs = [(e.etree_element.get("href"), text_of(e)) for e in select(page, "a[href^='#']")
             if e.etree_element.get("href", "").startswith(("#fig:", "#sec:", "#intro"))]
    assert ("#fig:a", "1") in xrefs and ("#fig:c", "3") in xrefs and ("#fig:b", "2") in xrefs
    assert ("#sec:methods", "2") in xrefs and ("#introduction", "1") in xrefs
    assert any(re.search(r"See 1, 2, fig\.\s3 and 4; section\s2 and 1\.", text_of(p))
               for p in select(page, "p"))


def test_unresolved_citation_publishes_with_a_warning_unless_strict(tmp_path: Path) -> None:
    root = manubot_input(tmp_path / "nowhere", unresolved=True)
    line = (MANUBOT_SECTION + UNRESOLVED).splitlines().index(UNRESOLVED.strip()) + 1
    # Typst too: it refuses a link to a bibliography entry that does not exist.
    built = run_manuscript(root, "build", "--pdf-engine", "typst", check=False)
    assert built.returncode == 0, built.stderr
    assert "doi:10.5555/nowhere?" in pdf_text(root / "output" / "manuscript.pdf")
    assert re.search(rf"^warning: content/01\.main\.md:{line}: @doi:10\.5555/nowhere ",
                     built.stderr, re.M), built.stderr
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    shown = [text_of(e) for e in select(parse_html(html), ".citation-unresolved strong")]
    assert shown == ["doi:10.5555/nowhere?"], shown  # visible where it is cited
    assert "#ref-doi:10.5555/nowhere" not in html  # no link to an entry that is not there
    assert "Citeproc" not in built.stderr  # said once, by the cite stage, with its place
    # Again, with the cite stage's outputs reused (its citations.tsv lists the key too).
    (root / "content" / "01.main.md").write_text(MANUBOT_SECTION + UNRESOLVED + "\nMore.\n",
                                                encoding="utf-8")
    again = run_manuscript(root, "build", "--pdf-engine", "typst", check=False)
    assert again.returncode == 0, again.stderr
    assert re.search(r"^cite .*\(unchanged, skipped\)$", again.stderr, re.M), again.stderr
    assert re.search(rf"^warning: content/01\.main\.md:{line}: @doi:10\.5555/nowhere ",
                     again.stderr, re.M), again.stderr
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    before = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    strict = run_manuscript(root, "build", "--pdf-engine", "typst", "--strict", check=False)
    assert strict.returncode == 1 and "--strict" in strict.stderr, strict.stderr
    (root / "manuscript.toml").write_text("strict = true\n", encoding="utf-8")
    configured = run_manuscript(root, "build", "--pdf-engine", "typst", check=False)
    assert configured.returncode == 1 and "--strict" in configured.stderr
    after = {p: p.read_bytes() for p in (root / "output").rglob("*") if p.is_file()}
    assert after == before  # a strict failure leaves the published output as it was
    checked = run_manuscript(root, "check", "--format", "json", check=False)
    unresolved = [p for p in json.loads(checked.stdout) if p["code"] == "citation-unresolved"]
    assert [(p["line"], p["severity"]) for p in unresolved] == [(line, "warning")]
    assert checked.returncode == 1  # strict = true: check fails on warnings too


def test_section_references_checked_as_the_build_resolves_them(tmp_path: Path) -> None:
    """pandoc-secnos' references: a `sec:` label or any numbered heading's own id; an
    unnumbered heading has no number. `check` and the build's filter agree on which."""
    root = tmp_path / "sections"
    (root / "content").mkdir(parents=True)
    (root / "content" / "metadata.yaml").write_text("title: Sections\n", encoding="utf-8")
    (root / "content" / "01.main.md").write_text(
        "## Intro\n\nSee @sec:methods, {+@sec:intro}, [@sec:un], @sec:dash and @sec:nope.\n\n"
        "## Methods {#sec:methods}\n\n## Unnumbered {.unnumbered #sec:un}\n\n## Dash {-}\n",
        encoding="utf-8")
    checked = run_manuscript(root, "check", "--format", "json", check=False)
    undefined = sorted(p["message"].split()[0] for p in json.loads(checked.stdout)
                       if p["code"] == "xref-undefined")
    assert undefined == ["@sec:dash", "@sec:nope", "@sec:un"], checked.stdout
    built = run_manuscript(root, "build", "--no-pdf")
    unknown = sorted(line.rsplit(" ", 1)[1] for line in built.stderr.splitlines()
                     if "unknown cross-reference" in line)
    assert unknown == undefined, built.stderr
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert re.search(r'See <a href="#sec:methods">2</a>, section\s<a\s+href="#intro">1</a>',
                     html), html
