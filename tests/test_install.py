"""The package installs on its own from a git URL, and the installed command works.

This is how every other manuscript gets the pipeline (``requirements.txt`` holds
``fm-survey-manuscript @ git+https://github.com/…@<tag>``), so it is tested for real:
pip clones this repository's committed HEAD (uncommitted changes are not in a clone,
as they would not be on GitHub), builds a wheel from that clean tree with the project's
own build backend, and installs it, not editable, into a new virtual environment.

To stay offline and fast, the new environment borrows the test environment's
dependencies instead of downloading them: a ``.pth`` file puts the test environment's
site-packages on its path, *after* its own. Only a plain path line, so the ``.pth``
files in there (such as this package's editable install) are not processed, and
``import manuscript`` can only find the freshly installed copy. pip itself and the build
backend (hatchling, a test dependency) come through the same path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, pdf_words


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True).stdout


def _is_git_checkout() -> bool:
    try:
        return Path(_git("rev-parse", "--show-toplevel").strip()).resolve() == ROOT
    except (OSError, subprocess.CalledProcessError):
        return False


pytestmark = pytest.mark.skipif(not _is_git_checkout(),
                                reason="not a git checkout: nothing to install from a git URL")


class Installed:
    def __init__(self, venv: Path, spec: str, commit: str) -> None:
        self.venv, self.spec, self.commit = venv, spec, commit
        self.python = venv / "bin" / "python"
        self.command = venv / "bin" / "manuscript"

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = clean_env()
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        completed = subprocess.run([str(self.command), *args], cwd=cwd, env=env,
                                   capture_output=True, text=True, check=False)
        assert completed.returncode == 0, f"{args}: {completed.stdout}\n{completed.stderr}"
        return completed


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    commit = _git("rev-parse", "HEAD").strip()
    # pip's URL parser wants a host in a named git+file URL; localhost is the local disk.
    spec = f"fm-survey-manuscript @ git+file://localhost{ROOT.as_posix()}@{commit}"
    venv = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "borrowed-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--no-deps", "--no-build-isolation", "--no-cache-dir", "--ignore-installed", spec],
        env=env, check=True, capture_output=True, text=True)
    return Installed(venv, spec, commit)


def test_installed_package_is_the_fresh_one(installed: Installed) -> None:
    where = subprocess.run(
        [str(installed.python), "-c", "import manuscript; print(manuscript.__file__)"],
        capture_output=True, text=True, check=True, cwd=installed.venv).stdout.strip()
    assert Path(where).is_relative_to(installed.venv)
    assert installed.command.is_file()


def test_wheel_holds_every_file_of_the_package(installed: Installed) -> None:
    """Everything committed under build/manuscript/ (data included) is installed."""
    site = installed.venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    package = site / "site-packages" / "manuscript"
    committed = _git("ls-tree", "-r", "--name-only", installed.commit,
                     "build/manuscript/").splitlines()
    assert any(p.startswith("build/manuscript/data/init/") for p in committed)
    missing = [p for p in committed
               if not (package / Path(p).relative_to("build/manuscript")).is_file()]
    assert missing == []


def test_installed_command_starts_and_builds_a_manuscript(installed: Installed,
                                                          tmp_path: Path) -> None:
    installed.run("init", "paper", "--package-spec", installed.spec, cwd=tmp_path)
    paper = tmp_path / "paper"
    pins = (paper / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert installed.spec in pins
    installed.run("build", "--offline", "--strict", cwd=paper)
    html = (paper / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "Manuscript Title" in html and 'id="fig:logistic"' in html
    assert "Open collaborative writing with Manubot" in pdf_words(
        paper / "output" / "manuscript.pdf")
