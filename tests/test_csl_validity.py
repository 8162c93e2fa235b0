"""csl.py answers "is this item valid?" with jsonschema-rs and explains with jsonschema:
the two must agree on every item, valid or not, or references would be pruned
differently (and pages differ) depending on which one looked."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path

from manuscript import csl

WRONG_VALUES = ([], ["one"], ["a", "b"], {}, {"x": 1}, 3, 2.5, True, None, "text",
                [{"family": "F"}], {"date-parts": [[2020]]}, {"date-parts": "2020"})


def variants(item: dict) -> Iterator[dict]:
    """The item, then each of its fields (and a few it lacks) given each wrong value."""
    yield item
    for key in [*item, "type", "issued", "author", "volume", "no-such-field"]:
        for value in WRONG_VALUES:
            yield {**item, key: value}
    for name in ({"family": "F", "given": 3}, {"literal": ["x"]}, {"ORCID": "0000"}, "Name"):
        yield {**item, "author": [{"family": "Kept"}, name]}
    yield {**item, "type": "no-such-type"}


def agree(items: list[dict]) -> None:
    checked = 0
    for item in items:
        for variant in variants(item):
            expected = not list(csl.validator().iter_errors([variant]))
            assert csl._is_valid(variant) == expected, variant
            checked += 1
    assert checked > len(items)


def test_fast_check_agrees_with_jsonschema_on_corpus_items(needs_shared: Path) -> None:
    items = []
    for name in ("rootstock-tour", "meta-review"):
        path = needs_shared / "corpus" / name / "upstream" / "references.json"
        items += json.loads(path.read_text(encoding="utf-8"))
    assert len(items) > 100
    # every tenth item (jsonschema takes ~1 ms an item), each with ~200 variants; the
    # longest author lists are cut to 20 names, which the schema checks alike
    agree([{k: v[:20] if k == "author" else v for k, v in item.items()}
           for item in items[::10]])


def test_fast_check_agrees_on_small_items() -> None:
    agree([{"id": "raw:a", "type": "book", "title": "T"},
           {"id": 7, "type": "article-journal", "author": [{"family": "A", "given": "B"}],
            "issued": {"date-parts": [[2020, 1, 2]]}, "container-title": "J"}])


def test_a_yaml_date_is_explained_by_jsonschema() -> None:
    """A value JSON has no type for: jsonschema-rs refuses it, jsonschema finds the path."""
    item = {"id": "raw:d", "type": "book", "title": "T", "note": datetime.date(2020, 1, 2)}
    assert not csl._is_valid(item)
    assert csl.normalize(item).dropped == ["note"]
