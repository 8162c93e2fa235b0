"""Manuscripts as a reader gets them, built once per test session and shared by the
print tests (tests/test_print.py) and the browser tests (tests/browser/test_reading.py):
the showcase fixture, and the two shared corpus manuscripts when ../shared is present.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import CORPUS, ROOT, copy_manuscript, run_manuscript

SHOWCASE = ROOT / "tests" / "fixtures" / "showcase"
MANUSCRIPTS = ("showcase", "meta-review", "rootstock-tour")

_built: dict[str, Path] = {}


def build_reading(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built copy of ``name`` (output/ and webpage/); skips a corpus one without ../shared."""
    if name in _built:
        return _built[name]
    if name == "showcase":
        root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("showcase"))
        run_manuscript(root, "build", "--offline")
    else:
        source = CORPUS / name
        if not source.is_dir():
            pytest.skip(f"../shared/corpus/{name} is not present")
        root = copy_manuscript(source, tmp_path_factory.mktemp(name), "analyses")
        shutil.copy(source / "upstream" / "references.json",
                    root / "content" / "manual-references-upstream.json")
        args_file = source / "process-args.txt"
        args = args_file.read_text(encoding="utf-8").split() if args_file.is_file() else []
        run_manuscript(root, "build", "--offline", *args)
    _built[name] = root
    return root
