"""Cold citation resolution at scale: ours (concurrent) against manubot's one-at-a-time.

The `large` workload, but its 600 references are persistent identifiers (60 % DOIs, 20 %
PubMed ids, 20 % arXiv ids) found in no local file, so every one is looked up. A local
server (``citation_server.py``) answers as doi.org content negotiation, shortDOI, the PMC
id converter, NCBI E-utilities and the arXiv export API would, with 100 ms latency, 5 %
500s and 1 % 429s with ``Retry-After: 1`` (the same requests fail in every run: the seed,
the request and its attempt number decide).

* ours: ``manuscript build --no-pdf`` with ``MANUSCRIPT_TEST_CITATION_SERVER`` pointing at
  the server, nothing cached; the ``cite`` stage's seconds (and the whole build's);
* the reference: manubot 0.6.1's ``pandoc-manubot-cite`` filter as rootstock runs it
  (pandoc 2.19.2 from the pinned venv), one lookup at a time, through ``cite_local.py``,
  which sends manubot's requests to the same server (bench only).

Unresolved keys are counted from each toolchain's references.json.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import toolchains
from .citation_server import (
    CitationServer,
    Faults,
    Reply,
    arxiv_atom,
    json_reply,
    pubmed_article,
    pubmed_set,
)
from .workloads import Workload, generate_large

BENCH_DIR = Path(__file__).resolve().parent
LATENCY = 0.1  # seconds per answer
RAW = re.compile(r"@raw:ref-(\d{3})\b")
REMOTE_IMAGE = re.compile(r"(!\[[^\]]*\]\()https?://[^)\s]+")


def persistent_id(n: int) -> str:
    """Reference ``n``'s identifier: DOIs of three publishers, PubMed ids, arXiv ids."""
    kind = n % 10
    if kind < 6:
        return "doi:" + (f"10.1371/journal.pcbi.{1005000 + n}" if n % 3 == 0 else
                         f"10.1038/s41586-019-{1000 + n}-x" if n % 3 == 1 else
                         f"10.1101/2020.{n % 12 + 1:02d}.{n % 28 + 1:02d}.{900000 + n}")
    if kind < 8:
        return f"pmid:{29000000 + n * 37}"
    return f"arxiv:{17 + n % 8:02d}{n % 12 + 1:02d}.{10000 + n:05d}v{1 + n % 3}"


class Service:
    """What the simulated services answer for the workload's references."""

    def __init__(self, items: list[dict]) -> None:
        self.by_doi: dict[str, tuple[int, dict]] = {}
        self.by_pmid: dict[str, tuple[int, dict]] = {}
        self.by_arxiv: dict[str, tuple[int, dict]] = {}
        for n, item in enumerate(items):
            prefix, accession = persistent_id(n).split(":", 1)
            index = {"doi": self.by_doi, "pmid": self.by_pmid, "arxiv": self.by_arxiv}[prefix]
            index[accession.lower()] = (n, item)

    def __call__(self, target: str) -> Reply | None:
        parts = urlsplit("//" + target)
        host, path, query = parts.hostname, unquote(parts.path), parse_qs(parts.query)
        if host == "doi.org" and not path.startswith("/api/"):
            return self._doi(path[1:].lower())
        if host == "shortdoi.org" and path[1:].lower() in self.by_doi:
            n, _ = self.by_doi[path[1:].lower()]
            return json_reply({"DOI": path[1:], "ShortDOI": f"10/b{n:05x}"})
        if host == "www.ncbi.nlm.nih.gov" and path.startswith("/pmc/utils/idconv"):
            return self._idconv(query.get("ids", [""])[0].lower())
        if host == "eutils.ncbi.nlm.nih.gov" and path.endswith("/efetch.fcgi"):
            ids = [i for i in ",".join(query.get("id", [])).split(",") if i in self.by_pmid]
            articles = [pubmed_article(i, _title(self.by_pmid[i][1]),
                                       _family(self.by_pmid[i][1])) for i in ids]
            return Reply(body=pubmed_set(articles), content_type="text/xml")
        if host == "export.arxiv.org" and path == "/api/query":
            arxiv_id = query.get("id_list", [""])[0].lower()
            if arxiv_id in self.by_arxiv:
                _, item = self.by_arxiv[arxiv_id]
                return Reply(body=arxiv_atom(arxiv_id, _title(item), _family(item)),
                             content_type="application/atom+xml")
        return None

    def _doi(self, doi: str) -> Reply | None:
        if doi not in self.by_doi:
            return None
        _, item = self.by_doi[doi]
        csl = {k: v for k, v in item.items() if k != "id"} | {"DOI": doi}
        return json_reply(csl, content_type="application/vnd.citationstyles.csl+json")

    def _idconv(self, doi: str) -> Reply:
        # Every DOI here is in PubMed Central, so manubot asks nothing more (its PubMed
        # search for a DOI goes through a 2-requests-per-second limiter in both toolchains).
        if doi not in self.by_doi:
            return Reply(body=b'<pmcids><record status="error"/></pmcids>',
                         content_type="text/xml")
        n, _ = self.by_doi[doi]
        return Reply(body=(f'<pmcids status="ok"><record requested-id="{doi}" '
                           f'pmcid="PMC{6000000 + n}" pmid="{31000000 + n}" doi="{doi}"/>'
                           "</pmcids>").encode(), content_type="text/xml")


def _title(item: dict) -> str:
    return str(item.get("title") or "Untitled")


def _family(item: dict) -> str:
    authors = item.get("author") or [{}]
    return str(authors[0].get("family") or authors[0].get("literal") or "Anonymous")


def generate(corpus: Path, dest: Path) -> tuple[Workload, list[dict]]:
    """The `large` workload with persistent ids instead of raw: manual references (the
    remote images become a local one, so that only citations need the server)."""
    workload = generate_large(corpus, dest)
    manual = dest / "content" / "manual-references.json"
    items = json.loads(manual.read_text())
    manual.write_text("[]\n")
    for section in (dest / "content").glob("*.md"):
        text = RAW.sub(lambda m: "@" + persistent_id(int(m[1])), section.read_text())
        section.write_text(REMOTE_IMAGE.sub(r"\1images/workflow.svg", text))
    return Workload("large-cited", workload.source), items


def measure(workload: Workload, items: list[dict], tmp: Path, venv: Path | None,
            schema: Path) -> dict[str, float]:
    """One cold run of ours and (with the pinned venv) of manubot's filter, each against a
    fresh server. Seconds, unresolved counts and the requests each made."""
    result: dict[str, float] = {}
    with CitationServer(LATENCY, faults=Faults(), fallback=Service(items)) as server:
        folder = workload.copy_to(tmp / "ours-cite", reference=False)
        env = toolchains.clean_env() | {"MANUSCRIPT_OFFLINE": "0",
                                        "MANUSCRIPT_TEST_CITATION_SERVER": server.url}
        try:
            ran = toolchains.run([toolchains.tool("manuscript"), "-C", str(folder), "build",
                                  "--no-pdf"], folder, env)
            result["ours build"] = ran.seconds
            result["ours cite"] = toolchains.stages(ran.stderr)["cite"]
            result["ours mem"] = ran.peak_mb
        except RuntimeError as error:
            print(f"bench: ours failed the citation run:\n{str(error)[-1500:]}",
                  file=sys.stderr)
        result["ours unresolved"] = len(items) - _resolved(
            folder / "output" / "references.json", len(items))
        result["ours requests"] = len(server.requests)
        result["ours faults"] = sum(server.faults_served.values())
    if venv is None:
        return result
    with CitationServer(LATENCY, faults=Faults(), fallback=Service(items)) as server:
        folder = workload.copy_to(tmp / "manubot-cite", reference=True)
        shutil.rmtree(folder / "output", ignore_errors=True)
        env = toolchains.clean_env() | {"BENCH_CSL_SCHEMA": str(schema),
                                        "BENCH_CITATION_SERVER": server.url}
        python = venv / "bin" / "python"
        toolchains.run([str(venv / "bin" / "manubot"), "process", "--content-directory=content",
                        "--output-directory=output", "--cache-directory=ci/cache",
                        "--skip-citations", "--log-level=WARNING"], folder, env)
        cite_filter = folder / "pandoc-manubot-cite-local"
        cite_filter.write_text(
            f'#!/bin/sh\nexec "{python}" "{BENCH_DIR / "cite_local.py"}" "$@"\n')
        cite_filter.chmod(0o755)
        pandoc = next((venv / "lib").glob("python*/site-packages/pypandoc/files/pandoc"))
        ran = toolchains.run([str(pandoc), "output/manuscript.md", "--from=markdown",
                              "--to=json", f"--filter={cite_filter}",
                              "--metadata=manubot-output-bibliography:output/references.json",
                              "--metadata=manubot-output-citekeys:output/citations.tsv",
                              "--metadata=manubot-requests-cache-path:ci/cache/requests-cache",
                              "--output=output/cited.json"], folder, env)
        result["manubot cite"] = ran.seconds
        result["manubot mem"] = ran.peak_mb
        result["manubot unresolved"] = len(items) - _resolved(
            folder / "output" / "references.json", len(items))
        result["manubot requests"] = len(server.requests)
        result["manubot faults"] = sum(server.faults_served.values())
    return result


def _resolved(references: Path, count: int) -> int:
    """How many of the workload's ``count`` identifiers have an item in ``references``."""
    if not references.is_file():
        return 0
    wanted = {persistent_id(n).lower().replace("pmid:", "pubmed:") for n in range(count)}
    notes = (str(item.get("note", "")) for item in json.loads(references.read_text()))
    found = {line.split(": ", 1)[1].lower() for note in notes for line in note.splitlines()
             if line.startswith("standard_id: ")}
    return len(wanted & found)


def table(samples: dict[str, list[float]]) -> str:
    """Median seconds, the speedup and the unresolved counts."""
    import statistics

    med = {k: statistics.median(v) for k, v in samples.items()}
    rows = [("ours cite", "ours: stage `cite` of `build --no-pdf`, cold", "s"),
            ("ours build", "ours: the whole `build --no-pdf`", "s"),
            ("manubot cite", "manubot 0.6.1: `pandoc-manubot-cite` filter (pandoc 2.19)", "s"),
            ("ours unresolved", "ours: keys unresolved (of 600)", ""),
            ("manubot unresolved", "manubot: keys unresolved (of 600)", ""),
            ("ours requests", "ours: requests served (faults injected)", ""),
            ("manubot requests", "manubot: requests served (faults injected)", ""),
            ("ours mem", "ours: peak memory, MB", ""),
            ("manubot mem", "manubot filter: peak memory, MB", "")]
    lines = ["\n### citations (large, 600 persistent ids, 100 ms latency, 5 % 500, 1 % 429)\n",
             "| measurement | median |", "|---|---:|"]
    for key, label, unit in rows:
        if key not in med:
            continue
        value = f"{med[key]:.2f}" if unit else f"{med[key]:.0f}"
        if key.endswith("requests"):
            value += f" ({med[key.replace('requests', 'faults')]:.0f})"
        lines.append(f"| {label} | {value} |")
    if "manubot cite" in med and "ours cite" in med:
        lines.append(f"| **speedup, cold resolution** (manubot / ours `cite`; target ≥ 8x) "
                     f"| **{med['manubot cite'] / med['ours cite']:.1f}x** |")
        lines.append(f"| speedup against our whole `build --no-pdf` "
                     f"| {med['manubot cite'] / med['ours build']:.1f}x |")
    return "\n".join(lines) + "\n"
