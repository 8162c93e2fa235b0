"""Bad input around citations: manual references, earlier outputs, the lookup cache.

The bundled manuscript cites nothing, so rows that need the cite stage to run add a
section citing a manual reference (``CITING``) — offline, as every case runs.
"""

from __future__ import annotations

import json

from table import Case

SECTION = "content/09.citations.md"
CITING = "## Citations\n\nAs shown before [@raw:demo].\n"
DEMO = json.dumps([{"id": "raw:demo", "type": "book", "title": "A Demo Book",
                    "author": [{"family": "Writer", "given": "Wendy"}],
                    "issued": {"date-parts": [[2020]]}}], indent=2)
WITH_CITATION = {SECTION: CITING, "content/manual-references.json": DEMO}

CASES = [
    Case(
        "manual-references-not-a-list",
        {"content/manual-references.json": '{\n  "id": "raw:demo",\n  "title": "A"\n}\n'},
        "a bibliography must be a list of CSL items, not an object",
        "content/manual-references.json:1",
    ),
    Case(
        "manual-reference-not-an-object",
        {"content/manual-references.json": '[\n  {"id": "raw:a", "title": "A"},\n  42\n]\n'},
        "manual reference item 1 is a number, not a CSL item",
        "content/manual-references.json",
    ),
    Case(
        "manual-reference-without-id",
        {"content/manual-references.json": '[\n  {"type": "book", "title": "No id"}\n]\n'},
        "manual reference item 0 has no usable id",  # skipped, as manubot skips it
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "citation-found-nowhere-offline",
        {SECTION: "## Citations\n\nKnown [@raw:demo].\n\nUnknown [@doi:10.5555/nowhere].\n",
         "content/manual-references.json": DEMO},
        "@doi:10.5555/nowhere",  # published with a warning, as rootstock does
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "corrupt-requests-cache",
        {**WITH_CITATION, "ci/cache/requests-cache.sqlite": b"\x00not SQLite\xff" * 100},
        "the citation cache is unreadable",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "earlier-references-json-not-a-list",
        {**WITH_CITATION, "output/references.json": '{"references": []}\n'},
        "ignoring an earlier output that is not a list of CSL items",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "earlier-references-json-items-not-objects",
        {**WITH_CITATION, "output/references.json": '["doi:10.1/x", 7]\n'},
        "ignoring item 0 of an earlier output",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "earlier-citations-tsv-wrong-shape",
        {**WITH_CITATION, "output/citations.tsv": '{"input_id": "raw:demo"}\n'},
        "ignoring an earlier output without the columns",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "test-citation-server-not-local",
        {**WITH_CITATION, SECTION: "## Citations\n\nSee [@doi:10.5555/anything].\n"},
        "must be an http:// URL on this machine",
        env={"MANUSCRIPT_OFFLINE": "0", "MANUSCRIPT_TEST_CITATION_SERVER": "http://example.org"},
    ),
]
