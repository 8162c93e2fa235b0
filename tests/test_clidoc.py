"""The README's command reference is the command line's own help, and stays so."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from manuscript import clidoc
from manuscript.cli import _parser

README = ROOT / "README.md"


def test_readme_command_reference_is_up_to_date() -> None:
    readme = README.read_text(encoding="utf-8")
    assert clidoc.updated(readme, clidoc.render()) == readme, (
        f"README.md's command reference differs from the --help texts in cli.py; "
        f"run: {clidoc.UPDATE_COMMAND}")


def _commands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_and_option_is_explained(name: str) -> None:
    """The reference is only as good as the help texts: none may be missing."""
    command = _commands()[name]
    assert command.description, f"manuscript {name}: no description="
    for action in command._actions:
        assert action.help, f"manuscript {name} {action.option_strings or action.dest}: no help="


def test_reference_shows_each_option_with_its_help() -> None:
    block = clidoc.render()
    for name, command in _commands().items():
        section = block.split(f"### `manuscript {name}`")[1].split("\n### ")[0]
        assert f"usage: manuscript {name}" in section
        for action in command._actions:
            if action.help in (None, argparse.SUPPRESS) or "-h" in action.option_strings:
                continue
            text = clidoc._escape(action.help)
            assert text in section, (name, action.help)


def _clidoc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "manuscript.clidoc", *args],
                          capture_output=True, text=True, check=False)


def test_check_fails_on_a_stale_readme_naming_the_update_command(tmp_path: Path) -> None:
    stale = tmp_path / "README.md"
    current = README.read_text(encoding="utf-8")
    stale.write_text(current.replace("print only warnings and errors", "say little"),
                     encoding="utf-8")
    checked = _clidoc("--check", "--readme", str(stale))
    assert checked.returncode == 1
    assert clidoc.UPDATE_COMMAND in checked.stderr
    assert _clidoc("--update", "--readme", str(stale)).returncode == 0
    assert stale.read_text(encoding="utf-8") == current
    assert _clidoc("--check", "--readme", str(stale)).returncode == 0


def test_update_touches_only_the_text_between_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nBefore.\n\n{clidoc.START}\nold\n{clidoc.END}\n\nAfter.\n",
                      encoding="utf-8")
    assert _clidoc("--update", "--readme", str(readme)).returncode == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\nBefore.\n\n" + clidoc.START)
    assert text.endswith(clidoc.END + "\n\nAfter.\n") and "\nold\n" not in text
    assert "### `manuscript build`" in text


def test_a_readme_without_markers_is_an_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# No markers\n", encoding="utf-8")
    completed = _clidoc("--update", "--readme", str(readme))
    assert completed.returncode == 1 and "Traceback" not in completed.stderr
    assert clidoc.START in completed.stderr
    assert readme.read_text(encoding="utf-8") == "# No markers\n"
