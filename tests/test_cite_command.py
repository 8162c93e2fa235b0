"""``manuscript cite KEY…``: keys resolved offline through the cite stage, then printed.

Every run is offline (clean_env sets MANUSCRIPT_OFFLINE=1): the manual references, an
earlier output/ and the cache answer, never the network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from citation_server import CitationServer, json_reply, script_side_services
from helpers import ROOT, clean_env, copy_manuscript, run_manuscript

TITLE = "Checking identifiers before citing them"
RAW_REF = {
    "id": "raw:cite-command-ref",
    "type": "article-journal",
    "title": TITLE,
    "author": [{"family": "Okafor", "given": "Ada"}],
    "container-title": "Journal of Citation Tests",
    "issued": {"date-parts": [[2021]]},
}
DOI = "doi:10.1371/journal.pcbi.1007128"
PRIOR_TITLE = "Open collaborative writing with Manubot"


@pytest.fixture
def manuscript(tmp_path: Path) -> Path:
    root = copy_manuscript(ROOT, tmp_path / "ms")
    refs = root / "content" / "manual-references.json"
    items = json.loads(refs.read_text(encoding="utf-8"))
    refs.write_text(json.dumps([*items, RAW_REF]), encoding="utf-8")
    return root


def _cite(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_manuscript(root, "cite", *args, check=check)


def test_raw_key_gives_its_csl_item(manuscript: Path) -> None:
    items = json.loads(_cite(manuscript, "@raw:cite-command-ref").stdout)
    assert len(items) == 1
    assert items[0]["title"] == TITLE
    assert items[0]["author"] == RAW_REF["author"]
    assert "standard_id: raw:cite-command-ref" in items[0]["note"]


@pytest.mark.parametrize("output_format", ["plain", "markdown"])
def test_styled_text_has_the_formatted_entry(manuscript: Path, output_format: str) -> None:
    text = _cite(manuscript, "raw:cite-command-ref", "--format", output_format).stdout
    assert TITLE in text
    assert "Okafor A" in text  # the manuscript's style: family name, initials
    assert "csl-entry" not in text and ":::" not in text  # no citeproc wrappers
    journal = "*Journal of Citation Tests*" if output_format == "markdown" else \
        "Journal of Citation Tests."
    assert journal in text


@pytest.mark.parametrize("output_format", ["bibtex", "biblatex"])
def test_bibtex_is_an_entry_with_the_title(manuscript: Path, output_format: str) -> None:
    text = _cite(manuscript, "raw:cite-command-ref", "--format", output_format).stdout
    match = re.fullmatch(r"@article\{(\w+),\n(.*)\}\n", text, re.S)
    assert match, text
    fields = dict(re.findall(r"^  (\w+) = \{(.*)\},?$", match.group(2), re.M))
    assert fields["title"].lower() == TITLE.lower()  # BibTeX title case
    assert fields["author"] == "Okafor, Ada"
    assert "note" not in fields  # manubot's provenance note stays in the CSL JSON


def test_key_of_an_earlier_build_resolves_offline(manuscript: Path, tmp_path: Path) -> None:
    earlier = {"id": "abc123", "type": "article-journal", "title": PRIOR_TITLE,
               "DOI": "10.1371/journal.pcbi.1007128",
               "note": f"standard_id: {DOI}"}
    (manuscript / "output").mkdir()
    (manuscript / "output" / "references.json").write_text(json.dumps([earlier]),
                                                           encoding="utf-8")
    out = tmp_path / "refs.json"
    _cite(manuscript, DOI, "raw:cite-command-ref", "-o", str(out))
    items = json.loads(out.read_text(encoding="utf-8"))
    assert [item["title"] for item in items] == [PRIOR_TITLE, TITLE]  # the order asked


def test_unknown_doi_offline_fails_naming_it(manuscript: Path) -> None:
    result = _cite(manuscript, "raw:cite-command-ref", "doi:10.9999/nope", check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "@doi:10.9999/nope" in result.stderr
    assert "offline" in result.stderr
    assert "raw:cite-command-ref" not in result.stderr  # only the failing key


def test_outside_a_manuscript_only_cache_and_network_answer(tmp_path: Path) -> None:
    # An output/references.json here is no manuscript's: it must not answer.
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "references.json").write_text(json.dumps(
        [{"id": "x", "type": "article", "title": PRIOR_TITLE, "note": f"standard_id: {DOI}"}]),
        encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "manuscript", "cite", DOI],
                            cwd=tmp_path, capture_output=True, text=True, env=clean_env(),
                            check=False)
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    assert f"@{DOI}" in result.stderr
    assert "not a manuscript" in result.stderr and "no ci/cache" in result.stderr
    assert not (tmp_path / "ci").exists()  # no cache created where no manuscript lives


def _cite_here(folder: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "manuscript", "cite", *args], cwd=folder,
                          capture_output=True, text=True, env=env, check=False)


def test_outside_a_manuscript_the_service_answers_then_the_folder_cache(tmp_path: Path) -> None:
    """The "network" is a real HTTP server on 127.0.0.1 standing in for doi.org."""
    (tmp_path / "ci" / "cache").mkdir(parents=True)
    doi = "10.5555/cite-command"
    with CitationServer() as server:
        script_side_services(server)
        server.script(f"/doi.org/{doi}", json_reply(
            {"type": "journal-article", "title": "Served by the stand-in", "DOI": doi,
             "author": [{"family": "Server", "given": "Lo"}],
             "issued": {"date-parts": [[2022]]}},
            content_type="application/vnd.citationstyles.csl+json"))
        online = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_TEST_CITATION_SERVER=server.url,
                           MANUSCRIPT_CITATION_TIMEOUT="2", MANUSCRIPT_CITATION_RETRIES="1")
        first = _cite_here(tmp_path, f"@doi:{doi}", "--format", "plain", env=online)
        assert first.returncode == 0, first.stderr
        assert "Served by the stand-in" in first.stdout
        assert server.count(f"/doi.org/{doi}") == 1
    # Offline now: the folder's ci/cache answers.
    again = _cite_here(tmp_path, f"doi:{doi}", env=clean_env())
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["title"] == "Served by the stand-in"


def test_duplicate_manual_reference_warns_as_in_a_build(manuscript: Path) -> None:
    """The cite stage's own warning, at the later item's line: `manuscript cite` goes
    through the same cite.cite as the build, so it says what the build says."""
    refs = manuscript / "content" / "manual-references.json"
    items = json.loads(refs.read_text(encoding="utf-8"))
    later = {**RAW_REF, "title": "The later definition"}
    text = json.dumps([*items, later], indent=2)
    refs.write_text(text, encoding="utf-8")
    starts = [number for number, line in enumerate(text.splitlines(), start=1)
              if line == "  {"]  # the line each item starts on
    first_line, later_line = starts[-2], starts[-1]
    result = _cite(manuscript, "raw:cite-command-ref")
    assert json.loads(result.stdout)[0]["title"] == "The later definition"  # later wins
    warnings = [line for line in result.stderr.splitlines() if "also defined" in line]
    assert len(warnings) == 1, result.stderr
    assert re.fullmatch(rf"warning: \S*content/manual-references\.json:{later_line}: manual "
                        r"reference raw:cite-command-ref is also defined at \S*content/"
                        rf"manual-references\.json:{first_line}; the later one is used",
                        warnings[0]), warnings[0]
    # The build says the same, once.
    built = run_manuscript(manuscript, "build", "--no-pdf")
    assert sum("raw:cite-command-ref is also defined" in line
               for line in built.stderr.splitlines()) == 1, built.stderr
