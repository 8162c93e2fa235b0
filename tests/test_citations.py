"""Citations: CSL items made valid for pandoc, and citation services that fail.

The services are a real HTTP server on 127.0.0.1 (``citation_server``); the build is
pointed at it by ``MANUSCRIPT_TEST_CITATION_SERVER``, which also refuses any other host,
so nothing here reaches the network.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import sys
from pathlib import Path

import jsonschema
import pytest
import requests_cache

from citation_server import (
    CitationServer,
    Reply,
    arxiv_atom,
    doi_csl,
    json_reply,
    pubmed_article,
    pubmed_set,
    pubmed_xml,
    script_side_services,
)
from helpers import SEED_ENV, clean_env, parse_html, run_manuscript, select, text_of
from manuscript import cite, csl, pandoc

# ---------------------------------------------------------------- a small manuscript


def write_manuscript(root: Path, text: str, references: object = (),
                     pandoc_options: str = "") -> Path:
    content = root / "content"
    content.mkdir(parents=True, exist_ok=True)
    (content / "metadata.yaml").write_text(
        f'title: "Citations"\nlang: en-US\nauthors: []\n{pandoc_options}', encoding="utf-8")
    (content / "01.text.md").write_text(f"## Text\n\n{text}\n", encoding="utf-8")
    (content / "90.back-matter.md").write_text(
        '## References\n\n<div id="refs"></div>\n', encoding="utf-8")
    (content / "manual-references.json").write_text(json.dumps(list(references), indent=2),
                                                     encoding="utf-8")
    return root


def reference_list(root: Path) -> list[str]:
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    return [text_of(entry) for entry in select(page, "#refs .csl-entry")]


def online_env(server: CitationServer, **extra: str) -> dict[str, str]:
    """Lookups allowed, but only to the local server, with small timeouts and retries."""
    return clean_env(**{
        "MANUSCRIPT_OFFLINE": "0",
        "MANUSCRIPT_TEST_CITATION_SERVER": server.url,
        "MANUSCRIPT_CITATION_TIMEOUT": "0.5",
        "MANUSCRIPT_CITATION_RETRIES": "2",
        "MANUSCRIPT_CITATION_BACKOFF": "0.05",
        "MANUSCRIPT_CITATION_RETRY_AFTER_MAX": "1",
        **extra,
    })


def crossref_record(doi: str, title: str, authors: list[tuple[str, str]], journal: str,
                    year: int, **extra: object) -> dict:
    """A record as Crossref's works API gives it: lists where CSL has strings, and more."""
    return {
        "indexed": {"date-parts": [[2024, 3, 2]], "date-time": "2024-03-02T10:11:12Z",
                    "timestamp": 1709374272000},
        "reference-count": 42,
        "publisher": "Springer Science and Business Media LLC",
        "issue": "1",
        "license": [{"start": {"date-parts": [[2019, 1, 1]]}, "content-version": "tdm",
                     "URL": "https://www.springer.com/tdm"}],
        "content-domain": {"domain": ["link.springer.com"], "crossmark-restriction": False},
        "short-title": [],
        "published-print": {"date-parts": [[year, 1]]},
        "DOI": doi,
        "type": "journal-article",
        "created": {"date-parts": [[year, 1, 7]], "timestamp": 1546889452000},
        "page": "44-56",
        "source": "Crossref",
        "is-referenced-by-count": 5000,
        "title": [title],
        "prefix": doi.split("/")[0],
        "volume": "25",
        "author": [{"given": given, "family": family, "sequence": "first", "affiliation": [],
                    "ORCID": "https://orcid.org/0000-0002-1825-0097",
                    "authenticated-orcid": False} for given, family in authors],
        "member": "297",
        "link": [{"URL": f"https://www.nature.com/articles/{doi}.pdf",
                  "content-type": "application/pdf", "intended-application": "text-mining"}],
        "relation": {"is-preprint-of": [{"id-type": "doi", "id": "10.1/x",
                                         "asserted-by": "subject"}]},
        "subject": ["General Biochemistry, Genetics and Molecular Biology"],
        "container-title": [journal],
        "short-container-title": ["Nat Med"],
        "issued": {"date-parts": [[year, 1]]},
        "ISSN": ["1078-8956", "1546-170X"],
        "URL": f"https://doi.org/{doi}",
        **extra,
    }


CROSSREF = [
    {**crossref_record("10.1038/s41591-018-0300-7",
                       "High-performance medicine: the convergence of human and artificial "
                       "intelligence", [("Eric J.", "Topol")], "Nature Medicine", 2019),
     "id": "doi:10.1038/s41591-018-0300-7"},
    {**crossref_record("10.1038/nature21056",
                       "Dermatologist-level classification of skin cancer with deep neural "
                       "networks", [("Andre", "Esteva"), ("Brett", "Kuprel")], "Nature", 2017),
     "id": "raw:esteva2017"},
    {**crossref_record("10.1056/nejmra1814259", "Machine Learning in Medicine",
                       [("Alvin", "Rajkomar"), ("Jeffrey", "Dean")],
                       "New England Journal of Medicine", 2019),
     "id": "doi:10.1056/NEJMra1814259"},
]


# ---------------------------------------------------------------- CSL normalisation


def test_raw_crossref_manual_references_build_and_show(tmp_path: Path) -> None:
    root = write_manuscript(
        tmp_path,
        "As reviewed [@doi:10.1038/s41591-018-0300-7], images [@raw:esteva2017] and "
        "records [@doi:10.1056/NEJMra1814259].",
        CROSSREF)
    done = run_manuscript(root, "-v", "build", "--no-pdf")

    entries = reference_list(root)
    assert len(entries) == 3
    expected = [("High-performance medicine", "Topol", "Nature Medicine", "2019"),
                ("Dermatologist-level classification", "Esteva", "Nature", "2017"),
                ("Machine Learning in Medicine", "Rajkomar", "New England Journal of Medicine",
                 "2019")]
    for title, author, journal, year in expected:
        entry = next(e for e in entries if title in e)
        assert author in entry and journal in entry and year in entry, entry
    assert "Kuprel" in next(e for e in entries if "Esteva" in e)

    references = json.loads((root / "output" / "references.json").read_text())
    csl.validator().validate(references)  # what pandoc was given, valid as written
    topol = next(r for r in references if r["DOI"] == "10.1038/s41591-018-0300-7")
    assert topol["container-title"] == "Nature Medicine"
    assert topol["title"].startswith("High-performance medicine")
    assert "standard_id: doi:10.1038/s41591-018-0300-7" in topol["note"]
    assert "short-title" not in topol and "subject" not in topol and "link" not in topol
    # Nothing a reader sees was lost: debug lines only, no warning.
    assert " lost " not in done.stderr
    assert "dropped CSL field subject" in done.stderr
    assert "dropped CSL field author/0/ORCID" in done.stderr


def test_losing_a_shown_field_warns_once_per_item(tmp_path: Path) -> None:
    record = {**CROSSREF[0], "container-title": ["Nature Medicine", "Nat Med"],
              "issued": {"date-parts": [["spring"]], "extra": 1}}
    root = write_manuscript(tmp_path, "See [@doi:10.1038/s41591-018-0300-7].", [record])
    done = run_manuscript(root, "build", "--no-pdf")
    warnings = [line for line in done.stderr.splitlines() if "lost" in line]
    assert len(warnings) == 1, done.stderr
    assert "content/manual-references.json" in warnings[0]
    assert "container-title" in warnings[0] and "issued" in warnings[0]
    assert "doi:10.1038/s41591-018-0300-7" in warnings[0] or "item 0" in warnings[0]


def test_yaml_manual_references_are_fixed_too(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, "See [@raw:book].")
    (root / "content" / "manual-references.json").unlink()
    (root / "content" / "manual-references.yaml").write_text(
        "- id: raw:book\n  type: book\n  title: [A Title Given As A List]\n"
        "  author: [{family: Writer, given: Wendy}]\n  issued: '2001-05'\n"
        "  accessed: 2020-02-03\n"
        "  publisher: [Good Press]\n  keywords: [a, b]\n", encoding="utf-8")
    run_manuscript(root, "build", "--no-pdf")
    (entry,) = reference_list(root)
    assert "A Title Given As A List" in entry and "Writer" in entry
    assert "2001" in entry and "Good Press" in entry
    (book,) = json.loads((root / "output" / "references.json").read_text())
    assert book["accessed"] == {"date-parts": [[2020, 2, 3]]}  # a YAML date, kept
    assert book["issued"] == {"date-parts": [[2001, 5]]}


def test_unusable_manual_reference_names_file_and_item(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, "See [@raw:a].",
                            [{"id": "raw:a", "title": "A"}, "just a string"])
    done = run_manuscript(root, "build", "--no-pdf", check=False)
    assert done.returncode == 1
    error = next(line for line in done.stderr.splitlines() if line.startswith("error:"))
    assert "content/manual-references.json" in error and "item 1 is a string" in error, \
        done.stderr


def test_manual_reference_without_id_is_skipped_as_manubot_skips_it(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, "See [@raw:a].",
                            [{"title": "no id at all"}, {"id": "raw:a", "title": "A"}])
    done = run_manuscript(root, "build", "--no-pdf")
    warning = next(line for line in done.stderr.splitlines() if "no usable id" in line)
    assert warning.startswith("warning: content/manual-references.json: manual reference "
                              "item 0 ")
    assert len(reference_list(root)) == 1  # the usable one is cited
    assert "Traceback" not in done.stderr


def test_pandoc_bibliography_error_names_the_item_not_a_temp_file(tmp_path: Path) -> None:
    """If pandoc still refused a bibliography, the message says which reference."""
    items = [{"id": "ok", "type": "book", "title": "Fine"},
             {"id": "bad", "type": "book", "title": ["Not", "a", "string"],
              "note": "source_bibliography: manual-references.json\nstandard_id: raw:bad"}]
    refs = tmp_path / "references.json"
    refs.write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(Exception) as raised:
        pandoc.run(["--from=markdown", "--to=html", "--citeproc", f"--bibliography={refs}"],
                   b"[@ok]")
    explained = cite.explain_bibliography_error(str(raised.value), refs, items)
    assert explained is not None and str(tmp_path) not in explained
    assert "'bad'" in explained and "manual-references.json" in explained
    assert "raw:bad" in explained


def test_an_empty_name_dropped_is_no_loss() -> None:
    record = {"id": "raw:x", "type": "book", "title": "T",
              "author": [{"family": "Kept"}, {}, {"family": "Gone", "affiliation": []}]}
    result = csl.normalize(record)
    assert result.item["author"] == [{"family": "Kept"}, {"family": "Gone"}]
    assert result.lost == []
    assert csl.normalize({**record, "author": [{"family": "Kept"}, {"name": "X"}]}).lost == [
        "author"]


def test_every_item_normalized_is_schema_valid() -> None:
    for record in CROSSREF:
        result = csl.normalize(record)
        jsonschema.validate([result.item], csl.validator().schema)
        assert result.lost == []
        assert csl.normalize(result.item).dropped == []  # idempotent


# ---------------------------------------------------------------- failing services


def cached_statuses(root: Path) -> list[int]:
    cache = requests_cache.SQLiteCache(str(root / "ci" / "cache" / "requests-cache"))
    return [response.status_code for response in cache.responses.values()]


TEXT = ("DOI [@doi:10.5555/flaky], PubMed [@pmid:11111], arXiv [@arxiv:2106.00001v1] "
        "and a short body [@doi:10.5555/cut].")


def test_retries_then_caches_only_good_answers(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, TEXT)
    with CitationServer() as server:
        script_side_services(server)
        server.script("/doi.org/10.5555/flaky",
                      Reply(status=500, body=b"oops", content_type="text/plain"),
                      json_reply(doi_csl("10.5555/flaky", "Flaky Service Paper", "Flake"),
                                 content_type="application/vnd.citationstyles.csl+json"))
        server.script("eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi",
                      Reply(status=429, body=b"slow down", content_type="text/plain",
                            headers={"Retry-After": "3600"}),  # capped to 1 s by the build
                      Reply(body=pubmed_xml("11111", "Rate Limited Paper", "Limit"),
                            content_type="text/xml"))
        # A 503 is retried; a service that does not answer in time is not (the run's
        # door marks its host unreachable: test_network.py).
        server.script("export.arxiv.org/api/query",
                      Reply(status=503, body=b"busy", content_type="text/plain"),
                      Reply(body=arxiv_atom("2106.00001v1", "Slow Paper", "S. Low"),
                            content_type="application/atom+xml"))
        server.script("/doi.org/10.5555/cut",
                      json_reply(doi_csl("10.5555/cut", "Cut Short Paper", "Cutter"),
                                 truncate=True),
                      json_reply(doi_csl("10.5555/cut", "Cut Short Paper", "Cutter")))
        done = run_manuscript(root, "build", "--no-pdf", env=online_env(server))

        assert server.count("/doi.org/10.5555/flaky") == 2
        assert server.count("efetch.fcgi") == 2
        assert server.count("export.arxiv.org/api/query") == 2
        assert server.count("/doi.org/10.5555/cut") == 2
        assert all(request.split("/", 1)[0] != "127.0.0.1" for request in server.requests)
    entries = " | ".join(reference_list(root))
    for title in ("Flaky Service Paper", "Rate Limited Paper", "Slow Paper", "Cut Short Paper"):
        assert title in entries
    assert "Traceback" not in done.stderr
    statuses = cached_statuses(root)
    assert statuses and set(statuses) == {200}

    # Every service now fails: a build that needs the lookups again is answered by the cache.
    (root / "output" / "references.json").unlink()
    (root / "output" / "citations.tsv").unlink()
    (root / "content" / "01.text.md").write_text(f"## Text\n\n{TEXT} Again.\n")
    with CitationServer() as broken:
        broken.script("", Reply(status=500, body=b"down", content_type="text/plain"))
        run_manuscript(root, "build", "--no-pdf", env=online_env(broken))
        assert broken.count("/doi.org/10.5555/flaky") == 0
        assert broken.count("efetch.fcgi") == 0
    assert "Flaky Service Paper" in " | ".join(reference_list(root))


def test_key_found_nowhere_fails_naming_each_key_and_place(tmp_path: Path) -> None:
    """With manubot's ``manubot-fail-on-errors: true``: by default such a build publishes
    with warnings (``test_key_found_nowhere_is_a_warning_at_each_place``)."""
    root = write_manuscript(tmp_path, "Good [@doi:10.5555/good].\n\nBad [@doi:10.5555/down] "
                                      "and worse [@pmid:22222].\n\nAgain [@doi:10.5555/down].",
                            pandoc_options="pandoc:\n  manubot-fail-on-errors: true\n")
    with CitationServer() as server:
        script_side_services(server)
        server.script("/doi.org/10.5555/good", json_reply(doi_csl("10.5555/good", "Good", "G")))
        server.script("/doi.org/10.5555/down",
                      Reply(status=503, body=b"", content_type="text/plain"))
        server.script("efetch.fcgi", Reply(body=b"<html>maintenance</html>",
                                           content_type="text/html"))
        done = run_manuscript(root, "build", "--no-pdf", env=online_env(server, **SEED_ENV),
                              check=False)
        # 503 is retried (1 + 2 retries) before giving up; manubot then tries other routes.
        assert server.count("/doi.org/10.5555/down") == 3
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines()]
    first_error = next(line for line in error_lines if line.startswith("error:"))
    assert first_error.split(": ")[1].endswith("content/01.text.md:5")  # the first place
    assert "2 citation(s) could not be resolved" in done.stderr
    down = next(line for line in error_lines if "@doi:10.5555/down" in line)
    assert "content/01.text.md:5" in down and "content/01.text.md:7" in down
    assert any("@pmid:22222" in line and "content/01.text.md:5" in line for line in error_lines)
    assert not (root / "output" / "references.json").exists()
    assert not (root / "output" / "manuscript.html").exists()
    assert set(cached_statuses(root)) <= {200}  # neither the 503 nor the HTML page was kept
    # In GitHub Actions: one annotation per place, each about its own key.
    annotations = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert [a.split(" lookup failed")[0] for a in annotations] == [
        "::error file=content/01.text.md,line=5::@doi:10.5555/down",
        "::error file=content/01.text.md,line=7::@doi:10.5555/down",
        "::error file=content/01.text.md,line=5::@pmid:22222"], done.stdout
    assert "<html>maintenance</html>" not in done.stderr  # manubot's dump of the answer


A_AND_B = "A [@doi:10.5555/a] and B [@arxiv:2106.00002v1]."


def build_online_with_papers_a_and_b(root: Path) -> None:
    """A build that looks up A_AND_B's two citations from the local service."""
    with CitationServer() as server:
        script_side_services(server)
        server.script("/doi.org/10.5555/a", json_reply(doi_csl("10.5555/a", "Paper A", "Aa")))
        server.script("export.arxiv.org/api/query",
                      Reply(body=arxiv_atom("2106.00002v1", "Paper B", "B. Bee"),
                            content_type="application/atom+xml"))
        run_manuscript(root, "build", "--no-pdf", env=online_env(server))


def test_clear_cache_refetches_and_falls_back_with_a_warning(tmp_path: Path) -> None:
    clear = "pandoc:\n  manubot-clear-requests-cache: true\n"
    root = write_manuscript(tmp_path, A_AND_B, pandoc_options=clear)
    build_online_with_papers_a_and_b(root)

    (root / "content" / "01.text.md").write_text(
        "## Text\n\nA [@doi:10.5555/a] and B [@arxiv:2106.00002v1], changed.\n")
    with CitationServer() as server:
        server.script("", Reply(status=500, body=b"down", content_type="text/plain"))
        done = run_manuscript(root, "build", "--no-pdf", env=online_env(server))
        assert server.count("/doi.org/10.5555/a") >= 1  # asked again: the cache was stale
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line.upper()]
    assert any("@doi:10.5555/a" in w and "cached answer" in w for w in warnings), done.stderr
    assert any("@arxiv:2106.00002v1" in w for w in warnings), done.stderr
    entries = " | ".join(reference_list(root))
    assert "Paper A" in entries and "Paper B" in entries

    # Without the cache, the earlier output/references.json answers, with a warning.
    for path in (root / "ci" / "cache").iterdir():
        path.unlink()
    (root / "content" / "01.text.md").write_text(
        "## Text\n\nA [@doi:10.5555/a] and B [@arxiv:2106.00002v1], changed twice.\n")
    with CitationServer() as server:
        server.script("", Reply(status=500, body=b"down", content_type="text/plain"))
        done = run_manuscript(root, "build", "--no-pdf", env=online_env(server))
    assert "@doi:10.5555/a" in done.stderr and "earlier build's output/references.json" in (
        done.stderr)
    assert "Paper A" in " | ".join(reference_list(root))


def test_a_citation_cut_and_pasted_back_is_still_known_offline(tmp_path: Path) -> None:
    """Offline, with references known only from the output branch: a build without one
    citation (a half-saved section in serve) must not forget it for the next build."""
    root = write_manuscript(tmp_path, A_AND_B)
    build_online_with_papers_a_and_b(root)
    shutil.rmtree(root / "ci" / "cache")  # what a fresh clone with the output branch has

    (root / "content" / "01.text.md").write_text("## Text\n\nB [@arxiv:2106.00002v1].\n")
    run_manuscript(root, "build", "--no-pdf")  # offline, A cut
    assert "Paper A" not in " | ".join(reference_list(root))
    (root / "content" / "01.text.md").write_text("## Text\n\nNo citation left.\n")
    run_manuscript(root, "build", "--no-pdf")  # offline, B cut too
    (root / "content" / "01.text.md").write_text(f"## Text\n\n{A_AND_B}\n")
    done = run_manuscript(root, "build", "--no-pdf", check=False)  # both pasted back
    assert done.returncode == 0, done.stderr
    entries = " | ".join(reference_list(root))
    assert "Paper A" in entries and "Paper B" in entries


def test_lookups_run_concurrently_within_the_per_host_bound(tmp_path: Path) -> None:
    ids = [f"2106.{n:05d}v1" for n in range(10, 20)]
    root = write_manuscript(tmp_path, " ".join(f"[@arxiv:{i}]" for i in ids))
    with CitationServer(latency=0.3) as server:
        for arxiv_id in ids:
            server.script(f"id_list={arxiv_id}",
                          Reply(body=arxiv_atom(arxiv_id, f"Paper {arxiv_id}", "N. Ame"),
                                content_type="application/atom+xml"))
        run_manuscript(root, "build", "--no-pdf",
                       env=online_env(server, MANUSCRIPT_CITATION_PER_HOST="3",
                                      MANUSCRIPT_CITATION_TIMEOUT="5"))
        assert 2 <= server.max_in_flight["export.arxiv.org"] <= 3
    entries = reference_list(root)
    assert sorted(e for e in entries if "Paper" in e) == sorted(entries)
    assert {i for i in ids if any(f"Paper {i}" in e for e in entries)} == set(ids)
    rows = (root / "output" / "citations.tsv").read_text().splitlines()[1:]
    standard = [row.split("\t")[2] for row in rows]
    references = json.loads((root / "output" / "references.json").read_text())
    assert [r["note"].split("standard_id: ")[1].split()[0] for r in references] == sorted(
        standard)


def test_lookups_are_spread_over_the_services(tmp_path: Path) -> None:
    """Keys come sorted (all arXiv ids, then all DOIs): taken in that order, every worker
    would queue behind arXiv's per-host bound while doi.org sat idle."""
    arxiv = [f"2106.{n:05d}v1" for n in range(100, 140)]
    dois = [f"10.5555/spread{n}" for n in range(8)]
    root = write_manuscript(tmp_path, " ".join([f"[@arxiv:{i}]" for i in arxiv]
                                               + [f"[@doi:{d}]" for d in dois]))
    with CitationServer(latency=0.05) as server:
        script_side_services(server)
        for arxiv_id in arxiv:
            server.script(f"id_list={arxiv_id}",
                          Reply(body=arxiv_atom(arxiv_id, f"Paper {arxiv_id}", "N. Ame"),
                                content_type="application/atom+xml"))
        for doi in dois:
            server.script(f"/doi.org/{doi}", json_reply(doi_csl(doi, f"Spread {doi}", "S")))
        run_manuscript(root, "build", "--no-pdf",
                       env=online_env(server, MANUSCRIPT_CITATION_PER_HOST="2",
                                      MANUSCRIPT_CITATION_TIMEOUT="5"))
        hosts = [target.split("/", 1)[0] for _, target in server.arrivals]
    assert "doi.org" in hosts[:10], hosts[:10]
    assert len(reference_list(root)) == len(arxiv) + len(dois)


def test_retry_after_is_waited_for_before_the_retry(tmp_path: Path) -> None:
    """A 429's Retry-After is honoured: the retry comes no sooner than asked (the backoff
    alone would retry at once), and the answer after it is used."""
    root = write_manuscript(tmp_path, "Limited [@pmid:33333].")
    with CitationServer() as server:
        server.script("efetch.fcgi",
                      Reply(status=429, body=b"slow down", content_type="text/plain",
                            headers={"Retry-After": "2"}),
                      Reply(body=pubmed_xml("33333", "Patient Client Paper", "Wait"),
                            content_type="text/xml"))
        run_manuscript(root, "build", "--no-pdf",
                       env=online_env(server, MANUSCRIPT_CITATION_RETRY_AFTER_MAX="5",
                                      MANUSCRIPT_CITATION_TIMEOUT="5"))
        times = [at for at, target in server.arrivals if "efetch.fcgi" in target]
    assert len(times) == 2
    assert times[1] - times[0] >= 1.9  # a lower bound the feature must produce, not a speed
    assert "Patient Client Paper" in " | ".join(reference_list(root))


def test_pubmed_ids_are_fetched_together(tmp_path: Path) -> None:
    """NCBI allows a few requests a second: many PubMed ids cost one efetch request. An id
    the batch answer lacks is asked for alone, and one found nowhere still fails by name."""
    ids = ["40001", "40002", "40003", "40004"]
    root = write_manuscript(tmp_path, " ".join(f"[@pmid:{i}]" for i in ids))
    with CitationServer() as server:
        server.script("id=40001%2C40002%2C40003%2C40004", Reply(body=pubmed_set(
            [pubmed_article(i, f"Batch paper {i}", "Batch") for i in ids[:3]]),
            content_type="text/xml"))
        server.script("id=40004&", Reply(body=pubmed_xml("40004", "Lone paper", "Lone"),
                                         content_type="text/xml"))
        run_manuscript(root, "build", "--no-pdf", env=online_env(server))
        fetches = [r for r in server.requests if "efetch.fcgi" in r]
    assert len(fetches) == 2, fetches
    entries = " | ".join(reference_list(root))
    assert all(f"Batch paper {i}" in entries for i in ids[:3]) and "Lone paper" in entries
    references = json.loads((root / "output" / "references.json").read_text())
    assert sorted(r["PMID"] for r in references) == ids


def test_test_server_must_be_on_this_machine(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, "[@doi:10.5555/x]")
    env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_TEST_CITATION_SERVER="http://example.org")
    done = run_manuscript(root, "build", "--no-pdf", env=env, check=False)
    assert done.returncode == 1
    assert "must be an http:// URL on this machine" in done.stderr


def test_requests_cache_path_option_is_honoured(tmp_path: Path) -> None:
    options = "pandoc:\n  manubot-requests-cache-path: .cache/lookups\n" \
              "  manubot-bibliography-cache: references.yaml\n"
    root = write_manuscript(tmp_path, "See [@doi:10.5555/opt].", pandoc_options=options)
    with CitationServer() as server:
        script_side_services(server)
        server.script("/doi.org/10.5555/opt", json_reply(doi_csl("10.5555/opt", "Opt", "O")))
        run_manuscript(root, "build", "--no-pdf", env=online_env(server))
    assert (root / ".cache" / "lookups.sqlite").is_file()
    assert not (root / "ci" / "cache" / "requests-cache.sqlite").exists()
    written = (root / "references.yaml").read_text()
    assert "title: Opt" in written

    # The bibliography cache answers next time, like a manual reference (no lookup, offline).
    (root / "output").rename(root / "output-old")
    (root / ".cache" / "lookups.sqlite").unlink()
    run_manuscript(root, "build", "--no-pdf")
    assert "Opt" in " | ".join(reference_list(root))


def test_corrupt_cache_is_moved_aside(tmp_path: Path) -> None:
    root = write_manuscript(tmp_path, "No citations here.")
    cache = root / "ci" / "cache"
    cache.mkdir(parents=True)
    (cache / "requests-cache.sqlite").write_bytes(b"\x00garbage, not SQLite\xff" * 64)
    done = run_manuscript(root, "build", "--no-pdf")
    assert "citation cache is unreadable" in done.stderr
    assert [p.name.startswith("requests-cache.sqlite.corrupt-") for p in cache.iterdir()].count(
        True) == 1
    with sqlite3.connect(cache / "requests-cache.sqlite") as db:
        db.execute("select count(*) from responses")
    unchanged = run_manuscript(root, "build", "--no-pdf")  # cite skipped: nothing replayed
    assert "unreadable" not in unchanged.stderr
    (root / "content" / "manual-references.json").write_text("[ ]\n")  # an input of cite
    again = run_manuscript(root, "build", "--no-pdf")
    cite_line = next(line for line in again.stderr.splitlines() if line.startswith("cite "))
    assert "skipped" not in cite_line  # cite ran again, and
    assert "unreadable" not in again.stderr  # the event is neither seen again nor replayed
    assert len(list(cache.glob("*.corrupt-*"))) == 1


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def test_key_found_nowhere_is_a_warning_at_each_place(tmp_path: Path) -> None:
    """Rootstock's policy: the build publishes, each place is a warning (an annotation in
    GitHub Actions), and the text shows the key where the citation would be."""
    root = write_manuscript(tmp_path, "Good [@doi:10.5555/good].\n\nBad [@doi:10.5555/down]."
                                      "\n\nAgain [@doi:10.5555/down].")
    with CitationServer() as server:
        script_side_services(server)
        server.script("/doi.org/10.5555/good", json_reply(doi_csl("10.5555/good", "Good", "G")))
        server.script("/doi.org/10.5555/down",
                      Reply(status=503, body=b"", content_type="text/plain"))
        done = run_manuscript(root, "build", "--no-pdf", env=online_env(server, **SEED_ENV))
    annotations = [line.split(" lookup failed")[0] for line in done.stdout.splitlines()
                   if line.startswith("::warning") and "10.5555/down" in line]
    assert annotations == ["::warning file=content/01.text.md,line=5::content/01.text.md:5: "
                           "@doi:10.5555/down",
                           "::warning file=content/01.text.md,line=7::content/01.text.md:7: "
                           "@doi:10.5555/down"], done.stdout
    assert len(reference_list(root)) == 1  # the good one; the other is no entry
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    shown = re.findall(r'<span\s+class="citation-unresolved">\[<strong>doi:10\.5555/down\?'
                       r'</strong>\]</span>', html)
    assert len(shown) == 2, html
