"""Manual references (``content/manual-references*.json|yaml``): syntax, CSL validity,
duplicate ids, and items without a type or a title. BibTeX files need pandoc to read
and are left to the cite stage."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path

from manubot.cite.csl_item import CSL_Item

from .. import csl, yamlfile
from ..errors import ManuscriptError
from ..problems import Problem
from ..sources import json_item_positions, read_text_file

Position = tuple[int | None, int | None]


def check(paths: Iterable[Path], validate: bool = True) -> list[Problem]:
    """``validate=False``: leave out CSL validity and duplicate ids, which the build's
    cite and process stages report themselves (and validating costs most of the time)."""
    problems: list[Problem] = []
    seen: dict[str, tuple[Path, int | None]] = {}
    for path in paths:
        if path.suffix not in (".json", ".yaml", ".yml") or not path.is_file():
            continue
        try:
            items = _items(path)
        except _Unreadable as error:
            problems.append(error.problem)
            continue
        for index, (item, (line, col)) in enumerate(items):
            if validate:
                problems += _item_problems(path, index, item, line, col, seen)
            elif isinstance(item, dict):
                problems += _missing_fields(path, index, item, line, col)
    return problems


def _item_problems(path: Path, index: int, item: object, line: int | None, col: int | None,
                   seen: dict[str, tuple[Path, int | None]]) -> list[Problem]:
    def problem(severity: str, code: str, message: str) -> Problem:
        return Problem(path, line, col, severity, code, message)  # type: ignore[arg-type]

    name = _name(index, item)
    item, no_id = _with_manubot_id(item)
    if no_id:
        return [problem("warning", "reference-invalid", f"manual reference {name} {no_id}")]
    try:
        result = csl.normalize(item, f"{path.name} {name}")
    except csl.InvalidItem as error:
        return [problem("error", "reference-invalid", f"manual reference {name} {error}")]
    assert isinstance(item, dict)
    problems = []
    if result.dropped:
        problems.append(problem("warning", "reference-invalid",
                                f"manual reference {name}: not valid CSL JSON, dropped: "
                                f"{', '.join(result.dropped)}"))
    problems += _missing_fields(path, index, item, line, col)
    try:
        standard_id = CSL_Item(dict(result.item)).standardize_id()["id"]
    except Exception:  # manubot raises bare ValueErrors and worse for odd ids; cite reports
        return problems
    if standard_id in seen:
        first_path, first_line = seen[standard_id]
        problems.append(problem("warning", "reference-duplicate-id",
                                f"manual reference {standard_id} is also defined at "
                                f"{first_path.name}:{first_line}; the later one is used"))
    seen[standard_id] = (path, line)
    return problems


def _with_manubot_id(item: object) -> tuple[object, str | None]:
    """The item with its id where manubot finds one (``standard_citation``, or
    ``note: "standard_id: …"``, before ``id``), or why it has none: manubot skips such
    an item, so the build warns and skips it too."""
    if not isinstance(item, dict) or (
            item.get("id") not in (None, "") and not item.get("standard_citation")):
        return item, None
    try:
        found = CSL_Item(copy.deepcopy(item)).infer_id()
    except Exception:  # manubot raises a bare ValueError, and worse for odd notes
        return item, ("has no id (nor standard_citation, nor a note with standard_id): "
                      "it is skipped, so nothing can cite it")
    return dict(found), None


def _missing_fields(path: Path, index: int, item: dict, line: int | None,
                    col: int | None) -> list[Problem]:
    name = _name(index, item)
    problems = []
    if not item.get("type"):
        problems.append(Problem(path, line, col, "warning", "reference-no-type",
                                f"manual reference {name} has no type (article-journal, "
                                "book, webpage, …)"))
    if not item.get("title"):
        problems.append(Problem(path, line, col, "warning", "reference-no-title",
                                f"manual reference {name} has no title"))
    return problems


def _name(index: int, item: object) -> str:
    name = f"item {index + 1}"
    if isinstance(item, dict) and isinstance(item.get("id"), str | int):
        name += f" ({item['id']})"
    return name


class _Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _items(path: Path) -> list[tuple[object, Position]]:
    try:
        if path.suffix == ".json":
            text = read_text_file(path)
            try:
                items = json.loads(text)
            except json.JSONDecodeError as error:
                problem = Problem(path, error.lineno, error.colno, "error", "reference-syntax",
                                  f"invalid JSON: {error.msg}")
                raise _Unreadable(problem) from None
            except RecursionError:
                raise _Unreadable(Problem(path, None, None, "error", "reference-syntax",
                                          "invalid JSON: nested too deeply")) from None
            positions = json_item_positions(text)
        else:
            loaded = yamlfile.load(path)
            items = loaded.data
            positions = [(loaded.line(i), loaded.col(i)) for i in range(len(items))] \
                if isinstance(items, list) else []
    except ManuscriptError as error:
        raise _Unreadable(Problem(path, error.line, None, "error", "reference-syntax",
                                  error.message)) from None
    if items is None:
        return []
    if not isinstance(items, list):
        raise _Unreadable(Problem(path, 1, 1, "error", "reference-syntax",
                                  "manual references must be a list of CSL items"))
    return [(item, positions[i] if i < len(positions) else (None, None))
            for i, item in enumerate(items)]
