"""The cite stage as a package of concerns: keys, local sources, lookups, orchestration.

- ``model``: what the others hand each other (Bibliography, Failure, UnresolvedCitations);
- ``keys``: citation keys found in the AST, aliases, standard ids, written back;
- ``sources``: the local sources in the order they answer (``SOURCES``), each giving
  its digest to the stage's key — adding a source touches that list only;
- ``fetch``: manubot's lookups through the requests cache and the network door;
- ``resolve``: the orchestration (``cite``) and the publishing policy;
- ``command``: ``manuscript cite KEY…``.

Each module imports only those listed before it (``model`` at the bottom;
tests/test_architecture.py checks it). This file re-exports what the rest of the
package uses, and imports neither ``fetch`` (0.3 s of requests) nor ``command``.
"""

from __future__ import annotations

from .keys import UNRESOLVED_CLASS, collect_citekeys, mark_unresolved, rewrite_ids
from .model import TSV_FIELDS, Bibliography, Failure, UnresolvedCitations
from .resolve import cite, explain_bibliography_error, fail_on_errors, warn_unresolved
from .sources import (
    DEFAULT_REQUESTS_CACHE,
    EARLIER_FILE,
    SOURCES,
    bibliography_files,
    sources_digest,
    write_bibliography_cache,
)

__all__ = [
    "DEFAULT_REQUESTS_CACHE",
    "EARLIER_FILE",
    "SOURCES",
    "TSV_FIELDS",
    "UNRESOLVED_CLASS",
    "Bibliography",
    "Failure",
    "UnresolvedCitations",
    "bibliography_files",
    "cite",
    "collect_citekeys",
    "explain_bibliography_error",
    "fail_on_errors",
    "mark_unresolved",
    "rewrite_ids",
    "sources_digest",
    "warn_unresolved",
    "write_bibliography_cache",
]
