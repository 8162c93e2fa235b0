"""Which Chromium the browser tests and ``manuscript screenshot`` use: the system's,
else the one ``python -m playwright install chromium`` puts where Playwright looks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from manuscript import screenshot
from manuscript.errors import RenderError


@pytest.fixture
def no_system_chromium(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A machine without the system's Chromium; Playwright keeps its browsers in tmp."""
    monkeypatch.setattr(screenshot, "CHROMIUM_PATH", tmp_path / "no-such-chromium")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    browsers = tmp_path / "browsers"
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(browsers))
    return browsers


def test_without_any_chromium_the_error_says_how_to_install(no_system_chromium: Path) -> None:
    with pytest.raises(RenderError, match="playwright install chromium"):
        screenshot.find_chromium()


def test_playwrights_own_chromium_is_found(no_system_chromium: Path) -> None:
    # Where `python -m playwright install chromium` would put it (asked of Playwright
    # itself, in a child process as find_chromium asks, so a new Playwright's layout is
    # followed, and a Playwright already running in this process is no obstacle).
    asked = subprocess.run(
        [sys.executable, "-c", "from playwright.sync_api import sync_playwright\n"
         "with sync_playwright() as p: print(p.chromium.executable_path)"],
        capture_output=True, text=True, check=True)
    expected = Path(asked.stdout.strip())
    assert no_system_chromium in expected.parents
    expected.parent.mkdir(parents=True)
    expected.write_bytes(b"")
    assert screenshot.find_chromium() == expected


def test_the_systems_chromium_comes_first() -> None:
    found = screenshot.find_chromium()
    if not str(found).startswith(("/usr/", "/bin/", "/snap/")):
        pytest.skip(f"no system Chromium here ({found}); nothing to prefer")
    assert "ms-playwright" not in str(found)
