"""The benchmark's generated `large` workload has the size issue 13 asks for, deterministically."""

from __future__ import annotations

import re
from pathlib import Path

from bench.workloads import generate_large


def _markdown(folder: Path) -> str:
    return "".join(p.read_text() for p in sorted((folder / "content").glob("*.md")))


def test_large_workload_counts_and_determinism(needs_shared: Path, tmp_path: Path) -> None:
    corpus = needs_shared / "corpus"
    first = _markdown(Path(generate_large(corpus, tmp_path / "a").source))
    second = _markdown(Path(generate_large(corpus, tmp_path / "b").source))
    assert first == second
    assert 250_000 < len(first.encode()) < 350_000
    labels = {kind: len(set(re.findall(r"\{#" + kind + r":([\w-]+)", first)))
              for kind in ("fig", "tbl", "eq")}
    assert labels == {"fig": 40, "tbl": 20, "eq": 100}
    assert len(set(re.findall(r"@(raw:ref-\d+)", first))) == 600
