"""The citation benchmark's workload and simulated services: every reference is a
persistent id the service answers, and the injected faults are reproducible."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from bench.citation_server import Faults
from bench.citations import Service, generate, persistent_id


def test_cited_workload_ids_and_answers(needs_shared: Path, tmp_path: Path) -> None:
    workload, items = generate(needs_shared / "corpus", tmp_path / "cited")
    text = "".join(p.read_text() for p in sorted((workload.source / "content").glob("*.md")))
    assert "@raw:" not in text and not re.search(r"!\[[^\]]*\]\(https?://", text)
    ids = {persistent_id(n) for n in range(len(items))}
    assert len(items) == len(ids) == 600 and all(f"@{i}" in text for i in ids)
    assert Counter(i.split(":")[0] for i in ids) == {"doi": 360, "pmid": 120, "arxiv": 120}

    service = Service(items)
    doi, pmid, arxiv = persistent_id(0)[4:], persistent_id(6)[5:], persistent_id(8)[6:]
    answers = [service(f"doi.org/{doi}"), service(f"shortdoi.org/{doi}?format=json"),
               service(f"www.ncbi.nlm.nih.gov/pmc/utils/idconv/v1.0/?ids={doi}&tool=manubot"),
               service(f"eutils.ncbi.nlm.nih.gov/entrez/eutils/efetch.fcgi?db=pubmed&id={pmid}"),
               service(f"export.arxiv.org/api/query?id_list={arxiv}&max_results=1")]
    assert all(a is not None and a.status == 200 for a in answers)
    assert items[0]["title"].encode()[:20] in answers[0].body
    assert service("doi.org/10.1/unknown") is None


def test_faults_are_reproducible_and_near_their_rates() -> None:
    faults = Faults()
    targets = [f"doi.org/10.1/{n}" for n in range(4000)]
    first = [faults.reply(t, 1) for t in targets]
    assert [r and r.status for r in first] == [r and r.status for r in
                                               (faults.reply(t, 1) for t in targets)]
    statuses = Counter(r.status for r in first if r is not None)
    assert 0.04 < statuses[500] / len(targets) < 0.06
    assert 0.005 < statuses[429] / len(targets) < 0.015
    assert all(r.headers == {"Retry-After": "1"} for r in first if r and r.status == 429)
