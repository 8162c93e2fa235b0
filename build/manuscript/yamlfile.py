"""YAML as the manuscript reads it: PyYAML's SafeLoader, bounded, strict, with lines.

Why our own SafeLoader subclass rather than ``yaml.safe_load``:

* **Bounded.** An alias is a pointer, so a 1 KB file of nested aliases ("billion
  laughs") loads as a small graph but expands to gigabytes once anything walks it
  (JSON for ``variables.json``, YAML for pandoc). We count the nodes the document
  would have once every alias is expanded and refuse it above ``MAX_NODES``, before
  constructing anything. Aliases themselves stay allowed: Manubot accepts them, and a
  shared affiliation list is a fair use.
* **Strict.** PyYAML keeps the last of two equal keys and drops the first without a
  word (``title:`` twice); YAML 1.2 calls that invalid, and it is always a mistake.
* **With lines.** Validation of metadata needs the line of each key; the composed
  node graph has them (``start_mark``), the constructed dicts do not.
* **No tracebacks.** A value PyYAML resolves but cannot construct (``2024-02-31``
  looks like a date; a 5000-digit integer) or nesting too deep for its recursive
  composer becomes an error with its line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import ConfigError, ManuscriptError
from .sources import read_text_file

MAX_NODES = 200_000  # expanded size; fm-survey's metadata has ~60, a 1000-item bibliography ~50k
MAX_DEPTH = 100  # nesting; metadata needs 5
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Loaded:
    data: object
    # (key or index, …) → 1-based line where that key or item starts
    lines: Mapping[tuple, int] = field(default_factory=dict)
    # the same keys → 1-based column (characters) where that key or item starts
    columns: Mapping[tuple, int] = field(default_factory=dict)
    # a key given twice: (its name, line, column of the later one, line of the first);
    # only filled when ``loads(…, keep_duplicates=True)``, otherwise it is an error
    duplicates: tuple[tuple[str, int, int, int], ...] = ()

    def line(self, *where: object) -> int | None:
        """The line of ``where``, or of its nearest ancestor that has one."""
        found = self._nearest(where)
        return self.lines[found] if found is not None else None

    def col(self, *where: object) -> int | None:
        """The column of ``where`` (or of its nearest ancestor), as ``line`` finds it."""
        found = self._nearest(where)
        return self.columns.get(found) if found is not None else None

    def _nearest(self, where: tuple) -> tuple | None:
        path = tuple(where)
        while path:
            if path in self.lines:
                return path
            path = path[:-1]
        return None


class _Loader(yaml.SafeLoader):
    def construct_object(self, node: Node, deep: bool = False) -> object:
        # Turn a value that cannot be constructed into a marked error at that node.
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError) as error:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid value {_shown(node)}: {error}", node.start_mark) from None


def load(path: Path, error: type[ManuscriptError] = ConfigError, *,
         keep_duplicates: bool = False) -> Loaded:
    """Read and parse ``path``; problems are ``error(message, path, line)``."""
    return loads(read_text_file(path), path, error, keep_duplicates=keep_duplicates)


def loads(text: str, path: Path, error: type[ManuscriptError] = ConfigError, *,
          keep_duplicates: bool = False) -> Loaded:
    """``keep_duplicates``: record a repeated key (the later value wins, as in PyYAML)
    rather than fail, so ``manuscript check`` can report it beside everything else."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as problem:  # a control character
        line = text.count("\n", 0, problem.position) + 1
        raise error(f"YAML error: character #x{problem.character:04x} is not allowed",
                    path, line) from None
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            mark = loader.get_mark()
            raise error("YAML nested too deeply", path, mark.line + 1) from None
        if node is None:
            return Loaded(None)
        walk = _Walk(path, error, {}, keep_duplicates)
        walk.node(node, (), 0)
        return Loaded(loader.construct_document(node), walk.lines, walk.columns,
                      tuple(walk.duplicates))
    except yaml.constructor.ConstructorError as problem:
        mark = problem.problem_mark
        raise error(f"YAML: {problem.problem}", path, mark.line + 1 if mark else None) from None
    except yaml.MarkedYAMLError as problem:
        mark = problem.problem_mark or problem.context_mark
        line = mark.line + 1 if mark else None
        message = " ".join(str(part) for part in (problem.context, problem.problem) if part)
        raise error(f"YAML syntax error: {message}", path, line) from None
    except yaml.YAMLError as problem:
        raise error(f"YAML error: {problem}", path) from None
    finally:
        loader.dispose()


class _Walk:
    """Count expanded nodes, check depth and duplicate keys, and record lines."""

    def __init__(self, path: Path, error: type[ManuscriptError], lines: dict[tuple, int],
                 keep_duplicates: bool = False):
        self.path, self.error, self.lines = path, error, lines
        self.columns: dict[tuple, int] = {}
        self.keep_duplicates = keep_duplicates
        self.duplicates: list[tuple[str, int, int, int]] = []
        self.count = 0
        self.active: set[int] = set()  # nodes on the current path: an alias cycle repeats one

    def node(self, node: Node, where: tuple, depth: int) -> None:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise self.error(f"YAML too large once its aliases are expanded (more than "
                             f"{MAX_NODES:,} values): an alias bomb?", self.path, line)
        if depth > MAX_DEPTH:
            raise self.error(f"YAML nested more than {MAX_DEPTH} levels deep", self.path, line)
        if id(node) in self.active:
            raise self.error("YAML alias refers to itself (a recursive structure)",
                             self.path, line)
        if isinstance(node, ScalarNode):
            return
        self.active.add(id(node))
        if isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                self.lines.setdefault((*where, index), item.start_mark.line + 1)
                self.columns.setdefault((*where, index), item.start_mark.column + 1)
                self.node(item, (*where, index), depth + 1)
        elif isinstance(node, MappingNode):
            self.mapping(node, where, depth)
        self.active.discard(id(node))

    def mapping(self, node: MappingNode, where: tuple, depth: int) -> None:
        seen: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.tag != _MERGE:
                line = key.start_mark.line + 1
                if (key.tag, key.value) in seen and self.keep_duplicates:
                    self.duplicates.append((key.value, line, key.start_mark.column + 1,
                                            seen[(key.tag, key.value)]))
                elif (key.tag, key.value) in seen:
                    first = seen[(key.tag, key.value)]
                    raise self.error(f"duplicate key {key.value!r} (first given on line "
                                     f"{first}); remove one", self.path, line)
                seen[(key.tag, key.value)] = line
                self.lines.setdefault((*where, key.value), line)
                self.columns.setdefault((*where, key.value), key.start_mark.column + 1)
                child = (*where, key.value)
            else:
                child = (*where, None)
                self.node(key, child, depth + 1)
            self.node(value, child, depth + 1)


def _shown(node: Node) -> str:
    if isinstance(node, ScalarNode):
        value = node.value
        return repr(value if len(value) <= 40 else value[:40] + "…")
    return node.id
