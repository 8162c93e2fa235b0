"""The package installs on its own from a git URL, and the installed command works.

This is how every other manuscript gets the pipeline (``manuscript init`` pins in
``requirements.txt`` the commit it was installed from, ``fm-survey-manuscript @
git+https://github.com/…@<commit>``, or a wheel of a local folder), so it is tested for real:
pip clones this repository's committed HEAD (uncommitted changes are not in a clone,
as they would not be on GitHub), builds a wheel from that clean tree with the project's
own build backend, and installs it, not editable, into a new virtual environment.

To stay offline and fast, the new environment borrows the test environment's
dependencies instead of downloading them: a ``.pth`` file puts the test environment's
site-packages on its path, *after* its own. Only a plain path line, so the ``.pth``
files in there (such as this package's editable install) are not processed, and
``import manuscript`` can only find the freshly installed copy. pip itself and the build
backend (hatchling, a test dependency) come through the same path. A second environment,
made the same way, installs what ``init`` pinned, as a new manuscript's CI does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, pdf_words, run_manuscript


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


def _borrowing_venv(venv: Path) -> Path:
    """A new environment with the test environment's packages on its path (see above)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site, "borrowed-dependencies.pth").write_text("\n".join(borrowed) + "\n")
    return venv


def _pip_install(venv: Path, *args: str, cwd: Path | None = None) -> None:
    """Offline: no index; the dependencies are the borrowed ones."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    completed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--no-deps", "--no-build-isolation", "--no-cache-dir", "--ignore-installed", *args],
        env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr


def _pins(paper: Path) -> list[str]:
    return [line for line in (paper / "requirements.txt").read_text(encoding="utf-8")
            .splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    commit = _git("rev-parse", "HEAD").strip()
    # pip's URL parser wants a host in a named git+file URL; localhost is the local disk.
    spec = f"fm-survey-manuscript @ git+file://localhost{ROOT.as_posix()}@{commit}"
    venv = _borrowing_venv(tmp_path_factory.mktemp("install") / "venv")
    _pip_install(venv, spec)
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


def test_init_pins_the_commit_it_came_from_and_a_second_venv_builds_it(
        installed: Installed, tmp_path: Path) -> None:
    """PEP 610: pip recorded the git URL and commit; init pins exactly that, and what it
    pins installs (in a second environment, as the new README and workflow do) and builds."""
    installed.run("init", "paper", cwd=tmp_path)
    paper = tmp_path / "paper"
    assert _pins(paper) == [installed.spec]
    second = _borrowing_venv(tmp_path / "venv2")
    _pip_install(second, "-r", "requirements.txt", cwd=paper)
    again = Installed(second, installed.spec, installed.commit)
    where = subprocess.run(
        [str(again.python), "-c", "import manuscript; print(manuscript.__file__)"],
        capture_output=True, text=True, check=True, cwd=second).stdout
    assert Path(where.strip()).is_relative_to(second)
    again.run("build", "--offline", "--strict", cwd=paper)
    html = (paper / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "Manuscript Title" in html and 'id="fig:logistic"' in html
    assert "Open collaborative writing with Manubot" in pdf_words(
        paper / "output" / "manuscript.pdf")


def test_init_from_a_local_folder_pins_a_wheel_it_writes_beside(tmp_path: Path) -> None:
    """The test environment runs this checkout as an editable install: CI could not reach
    that folder, so init writes a wheel of it into vendor/ and pins it by relative path."""
    run_manuscript(tmp_path, "init", "paper")
    paper = tmp_path / "paper"
    (pin,) = _pins(paper)
    assert re.fullmatch(r"\./vendor/fm_survey_manuscript-[^/]+\.whl", pin), pin
    with zipfile.ZipFile(paper / pin) as wheel:
        names = wheel.namelist()
    assert "manuscript/cli.py" in names and "manuscript/data/init/workflow.yaml" in names
    venv = _borrowing_venv(tmp_path / "venv")
    _pip_install(venv, "-r", "requirements.txt", cwd=paper)
    installed = Installed(venv, pin, "")
    installed.run("build", "--offline", "--no-pdf", cwd=paper)
    assert 'id="fig:logistic"' in (paper / "output" / "manuscript.html").read_text(
        encoding="utf-8")
