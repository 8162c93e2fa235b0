"""What the cite concerns hand each other: the bibliography, and the keys that failed.

Holds ``Bibliography`` (the stage's result, as written to ``output/``), ``Failure`` and
``UnresolvedCitations`` (a key found nowhere, with its places), and how a failure is put
in words. The bottom of the package: it may import the package's core (config, errors,
network, sources of the Markdown) and no other module of ``cite``.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import CitationError
from ..network import HINT, unreachable_reason
from ..sources import find_occurrences

TSV_FIELDS = ("input_id", "dealiased_id", "standard_id", "short_id")


@dataclass
class Bibliography:
    csl_items: list[dict]
    rows: list[dict[str, str]]  # citations.tsv
    short_ids: dict[str, str] = field(default_factory=dict)  # input_id → short_id
    cited_earlier: str = "{}\n"  # sources.EARLIER_FILE's text

    @functools.cached_property  # written to output/ and handed to pandoc: encode once
    def references_json(self) -> str:
        return json.dumps(self.csl_items, indent=2, ensure_ascii=False) + "\n"

    @property
    def citations_tsv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TSV_FIELDS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


@dataclass(frozen=True)
class Failure:
    """A key that could not be resolved, and every place the content cites it."""

    key: str
    problem: str
    places: tuple[tuple[Path, int], ...]
    # The services that could not be reached for this key (network.py): keys failed
    # for the same hosts are reported together, in one line.
    unreachable: tuple[str, ...] = ()


class UnresolvedCitations(CitationError):
    """Keys found nowhere: one line per key — or, for keys whose services could not be
    reached, one line per host with the hint ``--offline`` — and one annotation per place.
    ``bibliography`` holds what did resolve (rootstock publishes with the rest unresolved)."""

    def __init__(self, failures: list[Failure], root: Path,
                 reasons: dict[str, str] | None = None,
                 bibliography: Bibliography | None = None) -> None:
        self.failures = failures
        self.bibliography = bibliography
        lines = [f"  @{f.key} {f.problem} (cited at {_where(root, f.places)})"
                 for f in failures if not f.unreachable]
        self.unreachable = _by_hosts(failures, reasons or {})
        lines += [f"  {text}" for text, _ in self.unreachable]
        first = next((place for f in failures for place in f.places), (None, None))
        super().__init__(f"{len(failures)} citation(s) could not be resolved:\n"
                         + "\n".join(lines), *first)

    @property
    def annotations(self) -> list[tuple[Path, int | None, str]]:
        """One per place a failed key is cited, saying what failed for that key."""
        return [(path, line, f"@{f.key} {f.problem}")
                for f in self.failures for path, line in f.places] or super().annotations


def _by_hosts(failures: list[Failure], reasons: dict[str, str]
              ) -> list[tuple[str, list[Failure]]]:
    """The failures whose services could not be reached, one line per set of hosts."""
    groups: dict[tuple[str, ...], list[Failure]] = {}
    for failure in failures:
        if failure.unreachable:
            groups.setdefault(failure.unreachable, []).append(failure)
    lines = []
    for hosts, group in groups.items():
        which = " and ".join(f"{host} ({reasons.get(host, 'no answer')})" for host in hosts)
        keys = ", ".join(f"@{f.key}" for f in group[:3])
        more = f" and {len(group) - 3} more" if len(group) > 3 else ""
        lines.append((f"{len(group)} citation(s) ({keys}{more}) not looked up: {which} "
                      f"could not be reached; {HINT}", group))
    return lines


def places(config: Config, input_id: str) -> tuple[tuple[Path, int], ...]:
    """Where the content cites ``input_id`` (``@key`` or ``@{key}``)."""
    found = find_occurrences(config.content_dir, f"@{input_id}")
    found += find_occurrences(config.content_dir, f"@{{{input_id}}}")
    return tuple(dict.fromkeys(found))


def _where(root: Path, places: tuple[tuple[Path, int], ...]) -> str:
    return ", ".join(f"{rel(root, p)}:{n}" for p, n in places) or "an unknown place"


def rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def error_text(error: BaseException) -> str:
    """What a failed lookup says: a network failure in a few words (requests' own text
    nests the whole chain, ``HTTPSConnectionPool(…NameResolutionError…)``), else the
    error's type and first line."""
    import requests  # 0.1 s: only when a lookup failed

    if isinstance(error, requests.HTTPError) and error.response is not None:
        return f"HTTP {error.response.status_code} {error.response.reason}".rstrip()
    if isinstance(error, requests.RequestException):
        return unreachable_reason(error) or type(error).__name__
    return f"{type(error).__name__}: {first_line(error)}"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "the answer could not be understood"
