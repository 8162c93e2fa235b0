"""-v shows the traceback that bad input otherwise hides (the cases are in bad_inputs/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import ROOT, copy_manuscript, run_manuscript


@pytest.fixture(scope="module")
def good_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("good"))
    run_manuscript(root, "build")
    return root


@pytest.fixture
def manuscript(good_build: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ms"
    shutil.copytree(good_build, root, symlinks=True)  # copy2 keeps the mtimes
    return root


def test_verbose_shows_the_traceback(manuscript: Path) -> None:
    (manuscript / "content" / "manual-references.json").write_text("{", encoding="utf-8")
    completed = run_manuscript(manuscript, "-v", "build", check=False)
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr
