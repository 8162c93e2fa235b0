"""The GitHub Actions workflow: triggers, permissions, pins, deploy guard, README agreement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "manuscript.yaml"
INSTALL = "python -m pip install -r requirements.lock && python -m pip install --no-deps ."
BUILD = "manuscript build --strict"
PINS = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/cache": ("5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
}


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return workflow["jobs"][job]["steps"]


def runs(workflow: dict[str, Any], job: str) -> list[str]:
    return [step["run"] for step in steps(workflow, job) if "run" in step]


def uses(workflow: dict[str, Any], job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in steps(workflow, job) if s.get("uses", "").startswith(action + "@")]


def test_triggers(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on:` as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)


def test_permissions(workflow: dict[str, Any]) -> None:
    assert workflow.get("permissions") in ({}, {"contents": "read"})
    assert workflow["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["deploy"]["permissions"] == {"contents": "write"}


def test_every_action_pinned_to_a_full_sha() -> None:
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.match(r"\s*-?\s*uses:", line)]
    assert lines
    for line in lines:
        match = re.search(r"uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*(v\S+)\s*$", line)
        assert match, f"not pinned to a 40-hex SHA with a # vX comment: {line.strip()}"
        action, sha, tag = match.groups()
        if action in PINS:
            assert (sha, tag) == PINS[action], line


def test_build_job(workflow: dict[str, Any]) -> None:
    build_runs = runs(workflow, "build")
    assert INSTALL in build_runs and BUILD in build_runs
    python = uses(workflow, "build", "actions/setup-python")[0]["with"]
    assert str(python["python-version"]) == "3.11" and python["cache"] == "pip"
    cache = uses(workflow, "build", "actions/cache")[0]["with"]
    assert cache["path"].rstrip("/") == "ci/cache"
    uploads = uses(workflow, "build", "actions/upload-artifact")
    paths = [u["with"]["path"] for u in uploads]
    assert any(p.strip().startswith("output") for p in paths)
    assert any(p.strip().startswith("webpage") for p in paths)
    assert all(u.get("if") == "always()" for u in uploads)
    assert workflow["env"]["GITHUB_PULL_REQUEST_SHA"] == "${{ github.event.pull_request.head.sha }}"


def test_deploy_job(workflow: dict[str, Any]) -> None:
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" or deploy["needs"] == ["build"]
    condition = deploy["if"]
    # Only a push to the default branch: a pull_request event can never satisfy it.
    assert "github.event_name == 'push'" in condition
    assert "github.event.repository.default_branch" in condition
    assert "||" not in condition and "pull_request" not in condition
    assert deploy["concurrency"] == {
        "group": "deploy-${{ github.repository }}",
        "cancel-in-progress": False,
    }
    deploy_runs = runs(workflow, "deploy")
    assert INSTALL in deploy_runs
    assert any(r.strip().startswith("manuscript deploy") for r in deploy_runs)
    step = next(s for s in steps(workflow, "deploy") if "manuscript deploy" in s.get("run", ""))
    assert step["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    names = {s["with"]["name"] for s in uses(workflow, "deploy", "actions/download-artifact")}
    assert names == {"output", "webpage"}


def test_readme_quick_start_matches_workflow() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    match = re.search(r"^#+\s*Quick start\s*$(.*?)(?=^#{1,2}\s|\Z)", text, re.M | re.S | re.I)
    if not match:
        pytest.skip("README.md has no 'Quick start' section yet (written separately)")
    section = match.group(1)
    assert INSTALL in section, "README Quick start must use the workflow's install command"
    assert BUILD in section, "README Quick start must use the workflow's build command"


def test_workflow_matches_github_schema() -> None:
    """Validate against GitHub's workflow JSON schema, which check-jsonschema vendors.

    actionlint's PyPI wrapper downloads its binary at install time, which a machine that
    reaches only the package registries cannot do; the schema check runs offline.
    """
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
         "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
