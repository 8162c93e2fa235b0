"""``manuscript init``: a new manuscript builds at once; ``--adopt`` takes over a rootstock one.

The new manuscript is built with the commands its own README gives, strictly and
offline. Adoption runs on a copy of the whole rootstock feature tour (skipped when
../shared is absent): ``content/`` and ``build/`` must stay byte-identical, and the
adopted repository must build with the numbering and references rootstock produced.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers import (
    CORPUS,
    ROOT,
    clean_env,
    copy_corpus,
    parse_html,
    pdf_words,
    run_manuscript,
    select,
    text_of,
)
from manuscript.config import read_config_file
from manuscript.init import INSTALL_SPEC, Pin, config_toml, installed_pin
from test_corpus import _numbers, _pages, _xrefs

TOUR = CORPUS / "rootstock-tour"
# Where the pin does not matter: without --package-spec, init from this test environment
# (an editable install) builds a wheel of it (tests/test_install.py tests that).
PIN = ("--package-spec", "fm-survey-manuscript @ git+https://example.org/fork/fm-survey@0123abc")
LABELS = ["fig:logistic", "tbl:example", "eq:logistic"]


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root``: relative path → bytes (links by their target)."""
    files: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            files[key] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            files[key] = path.read_bytes()
    return files


def quick_start(readme: str) -> list[str]:
    block = re.search(r"## Quick start\n\n```sh\n(.*?)```", readme, re.DOTALL)
    assert block, "README has a Quick start code block"
    return block.group(1).strip().splitlines()


@pytest.fixture(scope="module")
def new_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``manuscript init paper`` built with its README's own build and test commands."""
    base = tmp_path_factory.mktemp("init")
    run_manuscript(base, "init", "paper", *PIN)
    root = base / "paper"
    for command in quick_start((root / "README.md").read_text(encoding="utf-8")):
        # The set-up part installs this package; the test venv has it already.
        args = command.split("&& manuscript ", 1)[1].split()
        run_manuscript(root, *args)
    return root


def test_new_manuscript_quick_start_is_two_setup_and_build_commands(new_build: Path) -> None:
    commands = quick_start((new_build / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2
    setup = ("python3 -m venv .venv && . .venv/bin/activate && "
             "python -m pip install -r requirements.txt")
    assert all(c.startswith(setup + " && manuscript build") for c in commands)
    assert commands[1].endswith("--strict")  # the test: what CI runs, failing on warnings


def test_new_manuscript_builds_figure_table_equation_citation(new_build: Path) -> None:
    page = parse_html((new_build / "output" / "manuscript.html").read_text(encoding="utf-8"))
    assert [label for label, _ in _numbers(page)] == LABELS
    targets = {href for href, _ in _xrefs(page)}
    assert targets == {f"#{label}" for label in LABELS}
    ids = {e.etree_element.get("id") for e in select(page, "[id]")}
    assert all(href[1:] in ids for href in targets)
    entries = [text_of(e) for e in select(page, "#refs .csl-entry")]
    assert len(entries) == 1 and "Open collaborative writing with Manubot" in entries[0]
    assert select(page, "img[src='images/logistic.svg']")
    assert (new_build / "output" / "images" / "logistic.svg").exists()
    text = pdf_words(new_build / "output" / "manuscript.pdf")
    assert "Manuscript Title" in text and "Open collaborative writing with Manubot" in text
    assert (new_build / "webpage" / "index.html").is_file()


def test_new_manuscript_files(new_build: Path) -> None:
    ignored = (new_build / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert {"/output/", "/webpage/", "/ci/cache/", ".venv/"} <= set(ignored)
    assert read_config_file(new_build) == {}  # only commented examples
    metadata = yaml.safe_load((new_build / "content" / "metadata.yaml").read_text())
    # An ORCID must be valid or absent: the template has none until the author adds one.
    assert all("orcid" not in author for author in metadata["authors"])
    assert {"title", "keywords", "lang", "authors"} <= set(metadata)


def _distribution(folder: Path, direct_url: dict | None) -> Path:
    """An installed fm-survey-manuscript as importlib.metadata finds it (first on sys.path)."""
    info = folder / "fm_survey_manuscript-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fm-survey-manuscript\n"
                                   "Version: 0.1.0\n", encoding="utf-8")
    if direct_url is not None:
        (info / "direct_url.json").write_text(json.dumps(direct_url), encoding="utf-8")
    return folder


@pytest.mark.parametrize(("direct_url", "spec"), [
    ({"url": "https://github.com/AdaptInfer/fm-survey",
      "vcs_info": {"vcs": "git", "commit_id": "a" * 40, "requested_revision": "main"}},
     f"fm-survey-manuscript @ git+https://github.com/AdaptInfer/fm-survey@{'a' * 40}"),
    ({"url": "https://example.org/dist/fm_survey_manuscript-0.1.0-py3-none-any.whl",
      "archive_info": {"hashes": {"sha256": "b" * 64}}},
     "fm-survey-manuscript @ https://example.org/dist/fm_survey_manuscript-0.1.0-py3-none-any"
     f".whl#sha256={'b' * 64}"),
    (None, "fm-survey-manuscript==0.1.0"),  # from an index
], ids=["git-commit", "archive-url", "index"])
def test_init_pins_where_the_package_was_installed_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct_url: dict | None,
        spec: str) -> None:
    monkeypatch.syspath_prepend(str(_distribution(tmp_path / "site", direct_url)))
    assert installed_pin() == Pin(spec, source=installed_pin().source)


def test_init_carries_a_local_wheel_into_vendor(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A wheel installed from this disk is out of CI's reach: it is copied beside."""
    wheel = tmp_path / "fm_survey_manuscript-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK wheel bytes")
    monkeypatch.syspath_prepend(str(_distribution(
        tmp_path / "site", {"url": wheel.as_uri(), "archive_info": {}})))
    pin = installed_pin()
    assert pin.spec == f"./vendor/{wheel.name}"
    assert pin.files == {f"vendor/{wheel.name}": b"PK wheel bytes"}


def test_readme_installs_what_init_then_pins() -> None:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split(
        "## Use it for your own manuscript", 1)[1].split("\n## ", 1)[0]
    installs = re.findall(r'pip install "([^"]+)"', section)
    assert installs == [INSTALL_SPEC]  # init then pins the commit pip recorded
    assert "manuscript init --adopt" in section


def test_package_spec_option(tmp_path: Path) -> None:
    spec = "fm-survey-manuscript @ git+https://example.org/fork/fm-survey@0123abc"
    run_manuscript(tmp_path, "init", "paper", "--package-spec", spec)
    assert _requirements(tmp_path / "paper") == [spec]
    bad = run_manuscript(tmp_path, "init", "other", "--package-spec", "x\n-e /tmp",
                         check=False)
    assert bad.returncode == 1 and "--package-spec" in bad.stderr
    assert not (tmp_path / "other").exists()


def test_workflow_is_this_repositorys_installing_the_pin(tmp_path: Path) -> None:
    run_manuscript(tmp_path, "init", "paper", *PIN)
    ours = yaml.safe_load((ROOT / ".github/workflows/manuscript.yaml").read_text())
    theirs = yaml.safe_load((tmp_path / "paper/.github/workflows/manuscript.yaml").read_text())
    installs = 0
    for job in ("build", "deploy"):
        for step in theirs["jobs"][job]["steps"]:
            if step.get("name") == "Install":
                assert step["run"] == "python -m pip install -r requirements.txt"
                installs += 1
            if "cache-dependency-path" in step.get("with", {}):
                assert step["with"]["cache-dependency-path"] == "requirements.txt"
    assert installs == 2
    # Errors fail it, warnings are annotations: strictness is the author's choice, in
    # manuscript.toml. This repository's own CI builds with --strict.
    assert _build_command(theirs) == "manuscript build"
    assert _build_command(ours) == "manuscript build --strict"
    # Apart from where the package comes from, the same workflow as this repository's.
    assert _without_install(theirs) == _without_install(ours)


def test_refuses_a_folder_with_content(tmp_path: Path) -> None:
    run_manuscript(tmp_path, "init", "paper", *PIN)
    before = tree(tmp_path)
    completed = run_manuscript(tmp_path, "init", "paper", check=False)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr
    assert re.search(r"^error: \S*paper/content: already holds a manuscript.*--adopt",
                     completed.stderr, re.MULTILINE), completed.stderr
    assert tree(tmp_path) == before


def test_refuses_a_file_as_target(tmp_path: Path) -> None:
    (tmp_path / "paper").write_text("not a folder\n")
    completed = run_manuscript(tmp_path, "init", "paper", check=False)
    assert completed.returncode == 1 and "not a folder" in completed.stderr


def test_init_in_a_fresh_clone_keeps_its_files(tmp_path: Path) -> None:
    """The usual start: a new GitHub repository with a README and .gitignore, cloned."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "README.md").write_text("# My paper\n")
    (tmp_path / ".gitignore").write_text("output/*\n*.pyc")
    completed = run_manuscript(tmp_path, "init", *PIN)
    assert (tmp_path / "README.md").read_text() == "# My paper\n"
    assert "kept  README.md" in completed.stdout
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[:2] == ["output/*", "*.pyc"]
    assert "/output/" not in lines  # already ignored, however it was spelled
    assert {"/webpage/", "/ci/cache/", ".venv/"} <= set(lines)
    assert (tmp_path / "content" / "02.example.md").is_file()


def test_config_toml_round_trips_awkward_paths() -> None:
    options = {"template-variables-path": ['a "quoted" \\ path', "ns=é/ü.json", "tab\there"],
               "pdf": False}
    assert tomllib.loads(config_toml(options)) == options


ROOTSTOCK_PROCESS = """\
#!/usr/bin/env bash
BUILD_PDF="${BUILD_PDF:-false}"
manubot process \\
  --content-directory=content \\
  --output-directory=output \\
  --template-variables-path=stats=analyses/stats.json \\
  --template-variables-path "$EXTRA_VARIABLES" \\
  --cache-directory=ci/cache \\
  --skip-citations \\
  --log-level=INFO
"""


def test_adopt_carries_build_sh_options(tmp_path: Path) -> None:
    run_manuscript(tmp_path, "init", "paper", *PIN)
    root = tmp_path / "paper"
    for name in ("manuscript.toml", "requirements.txt", ".github"):
        path = root / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    (root / "build").mkdir()
    (root / "build" / "build.sh").write_text(ROOTSTOCK_PROCESS)
    (root / "analyses").mkdir()
    (root / "analyses" / "stats.json").write_text('{"n_samples": 4321}')
    with (root / "content" / "02.example.md").open("a") as section:
        section.write("\nWe measured {{stats.n_samples}} samples.\n")

    completed = run_manuscript(root, "init", "--adopt", *PIN)
    assert read_config_file(root) == {"template-variables-path": ["stats=analyses/stats.json"],
                                      "pdf": False}
    assert re.search(r"not carried +build/build\.sh:3 .*EXTRA_VARIABLES", completed.stdout)
    run_manuscript(root, "build", "--strict")
    assert "We measured 4321 samples." in (root / "output/manuscript.html").read_text()
    assert not (root / "output" / "manuscript.pdf").exists()  # pdf = false carried


def test_adopt_refuses_a_folder_without_content(tmp_path: Path) -> None:
    completed = run_manuscript(tmp_path, "init", "--adopt", check=False)
    assert completed.returncode == 1 and "not a Manubot manuscript" in completed.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def adopted_tour(tmp_path_factory: pytest.TempPathFactory):
    if not TOUR.is_dir():
        pytest.skip("../shared/corpus is not present")
    # Whole, webpage/ links as real links; the upstream references in output/ as a
    # previous build's outputs (tests/test_corpus.py adopts the core.symlinks=false form).
    root = copy_corpus("rootstock-tour", tmp_path_factory.mktemp("tour") / "rootstock-tour")
    before = {top: tree(root / top) for top in ("content", "build", ".github")}
    completed = run_manuscript(root, "init", "--adopt", *PIN, env=clean_env())
    after = {top: tree(root / top) for top in ("content", "build", ".github")}
    built = run_manuscript(root, "build", "--offline", check=False)
    return root, completed, before, after, built


def test_adopt_leaves_content_and_build_untouched(adopted_tour) -> None:
    _, _, before, after, _ = adopted_tour
    assert after["content"] == before["content"]
    assert after["build"] == before["build"]
    # Their workflow stays (the user removes it); ours is added beside it.
    added = set(after[".github"]) - set(before[".github"])
    assert added == {"workflows/manuscript.yaml"}
    assert all(after[".github"][k] == v for k, v in before[".github"].items())


def test_adopted_workflow_fails_on_errors_only(adopted_tour) -> None:
    """Rootstock published with warnings: the first push after switching is not red
    for a warning. Strictness stays the author's choice (``strict = true``)."""
    root, _, _, _, _ = adopted_tour
    workflow = yaml.safe_load((root / ".github/workflows/manuscript.yaml").read_text())
    assert _build_command(workflow) == "manuscript build"
    assert "strict" not in read_config_file(root)


def test_adopt_reports_what_of_build_is_honoured(adopted_tour) -> None:
    root, completed, _, _, _ = adopted_tour
    out = completed.stdout
    assert re.search(r"honoured +build/assets/style\.csl", out)
    assert re.search(r"honoured +build/pandoc/defaults/common\.yaml .*metadata", out)
    assert re.search(r"replaced +build/themes .*build/theme/", out)
    assert re.search(r"replaced +build/plugins", out)
    assert re.search(r"replaced +build/build\.sh .*manuscript build", out)
    assert "git rm .github/workflows/manubot.yaml" in out
    assert (root / "manuscript.toml").is_file() and (root / "requirements.txt").is_file()


def test_adopted_tour_builds_as_upstream(adopted_tour) -> None:
    root, _, _, _, built = adopted_tour
    assert built.returncode == 0, built.stderr
    ours, upstream = _pages("rootstock-tour", root)
    references = json.loads((TOUR / "upstream" / "references.json").read_text())
    assert len(select(ours, "#refs .csl-entry")) == len(references)
    assert _spaced(_numbers(ours)) == _spaced(_numbers(upstream)) and _numbers(upstream)
    assert _xrefs(ours) == _xrefs(upstream)
    assert (root / "output" / "manuscript.pdf").stat().st_size > 0


def _spaced(numbers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(label, number.replace("\u00a0", " ")) for label, number in numbers]


def _requirements(root: Path) -> list[str]:
    lines = (root / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def _build_command(workflow: dict) -> str:
    return next(s["run"] for s in workflow["jobs"]["build"]["steps"] if s.get("name") == "Build")


def _without_install(workflow: dict) -> dict:
    """The workflow with the install and build commands and the pip cache key taken out."""
    jobs = {}
    for name, job in workflow["jobs"].items():
        steps = []
        for step in job["steps"]:
            step = dict(step)
            if step.get("name") in ("Install", "Build"):
                step.pop("run")
            if "with" in step:
                step["with"] = {k: v for k, v in step["with"].items()
                                if k != "cache-dependency-path"}
            steps.append(step)
        jobs[name] = {**job, "steps": steps}
    return {**workflow, "jobs": jobs}
