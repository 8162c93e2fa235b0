"""The page's pandoc run gets a larger GHC allocation area (fewer garbage collections);
it changes nothing pandoc writes, and never fights a heap limit set lower."""

from __future__ import annotations

import pytest

from manuscript import pandoc

MARKDOWN = b"# Title\n\nSome *text* [@key], and a list:\n\n- one\n- two\n"
ARGS = ["--from=markdown", "--to=html5", "--standalone", "--metadata=title:T"]


def test_same_output_with_the_larger_nursery() -> None:
    plain = pandoc.run(ARGS, MARKDOWN)
    larger = pandoc.run(ARGS, MARKDOWN, nursery_mb=pandoc.LARGE_NURSERY_MB)
    assert larger == plain and larger.output.startswith(b"<!DOCTYPE html>")


def test_a_lower_heap_limit_keeps_the_default_nursery(monkeypatch: pytest.MonkeyPatch) -> None:
    # GHC warns "maximum heap size (-M) is smaller than minimum alloc area size (-A)"
    # on stderr, which the build would report (and --strict would fail on).
    monkeypatch.setenv("MANUSCRIPT_PANDOC_MEMORY_MB", "200")
    result = pandoc.run(ARGS, MARKDOWN, nursery_mb=pandoc.LARGE_NURSERY_MB)
    assert result.warnings == ()
