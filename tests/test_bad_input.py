"""Bad input: one message naming file and line, exit 1, and the last good output kept."""

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


def _snapshot(output: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns)
            for p in output.iterdir() if p.is_file()}


def _break_and_build(root: Path, name: str, data: bytes) -> tuple[str, dict, dict]:
    before = _snapshot(root / "output")
    (root / "content" / name).write_bytes(data)
    completed = run_manuscript(root, "build", check=False)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    return completed.stderr, before, _snapshot(root / "output")


def test_yaml_syntax_error_names_file_and_line(manuscript: Path) -> None:
    text = (manuscript / "content" / "metadata.yaml").read_text(encoding="utf-8")
    broken = text.replace("lang: en-US", "lang: [en-US", 1)  # line 9
    stderr, before, after = _break_and_build(manuscript, "metadata.yaml", broken.encode())
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert "content/metadata.yaml:" in errors[0]
    line = int(errors[0].split("content/metadata.yaml:")[1].split(":")[0])
    assert 9 <= line <= 11  # the flow sequence opened on line 9 is never closed
    assert after == before


def test_invalid_manual_references_json(manuscript: Path) -> None:
    broken = b'[\n  {"id": "raw:a", "title": "A"},\n  {"id": "raw:b" "title": "B"}\n]\n'
    stderr, before, after = _break_and_build(manuscript, "manual-references.json", broken)
    assert "content/manual-references.json:3: invalid JSON" in stderr
    assert after == before


def test_section_that_is_not_utf8(manuscript: Path) -> None:
    data = "## Introduction\n\nFine line.\nCaf\u00e9 in Latin-1\n".encode("latin-1")
    stderr, before, after = _break_and_build(manuscript, "02.introduction.md", data)
    assert "content/02.introduction.md:4: not valid UTF-8" in stderr
    assert after == before


def test_verbose_shows_the_traceback(manuscript: Path) -> None:
    (manuscript / "content" / "manual-references.json").write_text("{", encoding="utf-8")
    completed = run_manuscript(manuscript, "-v", "build", check=False)
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr
