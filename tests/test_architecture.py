"""The package's import graph has no circle.

A circle of imports means no module of it can be understood, tested or moved without
the others, and it is what function-local "import here: X imports this module" dodges
hide. So every import counts — at module level and inside functions, relative
(``from .x import``, ``from . import x``) or absolute (``import manuscript.x``) — except
those under ``if TYPE_CHECKING:``, which never run (annotations only). An import of
``pkg.mod`` is an edge to ``pkg.mod`` and, from outside ``pkg``, to ``pkg`` (its
``__init__`` runs first); the root package, run before every module, is not counted.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import manuscript

PACKAGE = Path(manuscript.__file__).parent
NAME = "manuscript"


def _module_name(path: Path) -> str:
    parts = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes inside ``if TYPE_CHECKING:`` blocks."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and (
                (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
                or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")):
            for statement in node.body:
                skipped.update(id(inner) for inner in ast.walk(statement))
    return skipped


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` imports (see the module docstring)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    skipped = _type_checking_only(tree)
    targets: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                targets.append(submodule if submodule in modules else source)
    found: set[str] = set()
    for target in targets:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]  # manuscript.x.name → manuscript.x
        if target not in modules:
            continue
        found.add(target)
        # Importing manuscript.x.y from outside manuscript.x runs manuscript.x's
        # __init__ first: a dependency too (the package's own root runs for every module).
        parent = target.rsplit(".", 1)[0]
        while parent != NAME and not (name == parent or name.startswith(parent + ".")):
            found.add(parent)
            parent = parent.rsplit(".", 1)[0]
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as [a, b, …, a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The walk is what the test above relies on: a circle made by a function-local
    relative import, an absolute import or a ``from . import`` is found; a
    TYPE_CHECKING import is not an edge; a submodule imported from outside its package
    is an edge to the package too."""
    files = {
        "manuscript/__init__.py": "",
        "manuscript/a.py": "def f():\n    from .b import x\n",
        "manuscript/b.py": "import manuscript.c\n",
        "manuscript/c.py": "from . import a\n",
        "manuscript/d.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from .e import y\n"),
        "manuscript/e.py": "from .d import z\n",
        "manuscript/p/__init__.py": "from . import q\n",
        "manuscript/p/q.py": "import manuscript.d\n",
        "manuscript/r.py": "from .p.q import w\n",
    }
    for relative, text in files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    root = tmp_path / "manuscript"
    modules = {".".join(["manuscript", *p.relative_to(root).with_suffix("").parts])
               .removesuffix(".__init__"): p for p in root.rglob("*.py")}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["manuscript.a"] == {"manuscript.b"}
    assert graph["manuscript.b"] == {"manuscript.c"}
    assert graph["manuscript.c"] == {"manuscript.a"}
    assert graph["manuscript.d"] == set()
    assert graph["manuscript.p"] == {"manuscript.p.q"}  # its own package: no edge back
    assert graph["manuscript.p.q"] == {"manuscript.d"}
    assert graph["manuscript.r"] == {"manuscript.p.q", "manuscript.p"}  # p's __init__ runs
    assert find_cycle(graph) == ["manuscript.a", "manuscript.b", "manuscript.c",
                                 "manuscript.a"]
    graph["manuscript.c"] = set()
    assert find_cycle(graph) is None


# The cite package's concerns, lowest first: each may import only those before it
# (cite/__init__.py says why).
CITE_LAYERS = ("model", "keys", "sources", "fetch", "resolve", "command")


def test_cite_concerns_import_only_lower_ones() -> None:
    graph = import_graph()
    for index, layer in enumerate(CITE_LAYERS):
        allowed = {f"{NAME}.cite.{lower}" for lower in CITE_LAYERS[:index]}
        used = {target for target in graph[f"{NAME}.cite.{layer}"]
                if target.startswith(f"{NAME}.cite.")}
        assert used <= allowed, f"cite.{layer} imports {sorted(used - allowed)}"


def test_config_and_the_cli_name_formats_without_importing_renderers() -> None:
    """The registry is a leaf: config.py and the CLI read the format and engine names
    there, so checking an option imports no renderer (nor the formats package)."""
    code = ("import sys, manuscript.config, manuscript.cli\n"
            "print(sorted(m for m in sys.modules if m.startswith('manuscript.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = set(ast.literal_eval(done.stdout.strip()))
    assert "manuscript.registry" in loaded
    assert not {m for m in loaded
                if m.startswith(("manuscript.formats", "manuscript.render", "manuscript.pdf",
                                 "manuscript.cite"))}, loaded
    assert imports_of("manuscript.registry", PACKAGE / "registry.py",
                      _modules()) == {"manuscript.errors"}
