"""Manuscripts as a reader gets them, built once per test session and shared by the
print tests (tests/test_print.py) and the browser tests (tests/browser/test_reading.py):
the showcase fixture, and the six shared corpus manuscripts when ../shared is present
(the same builds as tests/test_corpus.py's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORPUS, CORPUS_MANUSCRIPTS, ROOT, copy_manuscript, corpus_build, run_manuscript

SHOWCASE = ROOT / "tests" / "fixtures" / "showcase"
MANUSCRIPTS = ("showcase", *CORPUS_MANUSCRIPTS)

_built: dict[str, Path] = {}


def build_reading(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built copy of ``name`` (output/ and webpage/); skips a corpus one without ../shared."""
    if name in _built:
        return _built[name]
    if name == "showcase":
        root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("showcase"))
        run_manuscript(root, "build", "--offline")
    else:
        if not (CORPUS / name).is_dir():
            pytest.skip(f"../shared/corpus/{name} is not present")
        build = corpus_build(name, tmp_path_factory)
        assert build.returncode == 0, build.stderr
        root = build.root
    _built[name] = root
    return root
