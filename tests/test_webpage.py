"""The website stage: versions, pointers, dedup on disk, pruning, bad versions."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from manuscript.config import CIIdentity, ci_identity
from manuscript.errors import ConfigError, WebpageError
from manuscript.webpage import build_webpage

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
BIG = os.urandom(200_000)  # an image that does not change between builds


def make_build(tmp: Path, name: str, body: str) -> tuple[Path, Path]:
    """A fake build: output/manuscript.{html,pdf} plus content/images/."""
    out = tmp / f"out-{name}"
    out.mkdir()
    (out / "manuscript.html").write_text(
        f'<html><body><h1>{body}</h1><img src="images/fig.png"></body></html>', encoding="utf-8"
    )
    (out / "manuscript.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(50_000))
    images = tmp / f"images-{name}" / "images"
    images.mkdir(parents=True)
    (images / "fig.png").write_bytes(BIG)
    (images / "sub").mkdir()
    (images / "sub" / "logo.svg").write_text("<svg/>", encoding="utf-8")
    return out, images


def disk_use(root: Path) -> int:
    """What du counts: each inode once."""
    seen: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        st = path.lstat()
        if path.is_file() and not path.is_symlink():
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def build_three(tmp_path: Path, **kwargs) -> Path:
    site = tmp_path / "webpage"
    for i, name in enumerate("ABC"):
        out, images = make_build(tmp_path, name, f"content {name}")
        build_webpage(out, site, name, assets=[images], now=T0 + timedelta(days=i), **kwargs)
    return site


def test_three_versions(tmp_path: Path) -> None:
    site = build_three(tmp_path)
    v = site / "v"
    for name in "ABC":
        assert f"content {name}" in (v / name / "index.html").read_text()
        assert (v / name / "manuscript.pdf").is_file()
        assert (v / name / "images" / "fig.png").read_bytes() == BIG
        assert (v / name / "images" / "sub" / "logo.svg").is_file()
    assert "content C" in (v / "latest" / "index.html").read_text()
    assert (v / "latest" / "images" / "fig.png").is_file()
    # The root shows the manuscript itself, with its images beside it.
    assert "content C" in (site / "index.html").read_text()
    assert (site / "manuscript.pdf").read_bytes() == (v / "C" / "manuscript.pdf").read_bytes()
    assert (site / "images" / "fig.png").is_file()
    freeze = (v / "freeze" / "index.html").read_text()
    assert 'http-equiv="refresh" content="0; url=../C/"' in freeze
    assert '<link rel="canonical" href="../C/">' in freeze
    assert "<script" not in freeze
    listing = (v / "index.html").read_text()
    positions = [listing.index(f'href="./{name}/"') for name in "CBA"]
    assert positions == sorted(positions), "versions must be listed newest first"
    assert "2024-05-01" in listing and "2024-05-03" in listing
    data = json.loads((v / "versions.json").read_text())
    assert data["latest"] == "C"
    assert [item["version"] for item in data["versions"]] == ["C", "B", "A"]
    assert data["versions"][2]["date"].startswith("2024-05-01T12:00")
    assert (site / ".nojekyll").exists()
    # No scratch left behind.
    assert not [p for p in site.rglob(".build-*")] and not [p for p in site.rglob(".old-*")]


def test_disk_use_grows_with_the_change_only(tmp_path: Path) -> None:
    site = tmp_path / "webpage"
    out, images = make_build(tmp_path, "A", "same")
    build_webpage(out, site, "A", assets=[images], now=T0)
    one_build = disk_use(site)
    build_size = sum(p.stat().st_size for p in (site / "v" / "A").rglob("*") if p.is_file())
    # Only manuscript.html changes in B and C.
    for i, name in enumerate("BC", start=1):
        (out / "manuscript.html").write_text(f"<html>changed {name}</html>", encoding="utf-8")
        build_webpage(out, site, name, assets=[images], now=T0 + timedelta(days=i))
        assert disk_use(site) - one_build < build_size
    # Two tiny changed HTML files plus two small pages at most.
    assert disk_use(site) - one_build < 10_000
    assert (site / "v" / "A" / "images" / "fig.png").stat().st_ino == (
        site / "v" / "C" / "images" / "fig.png"
    ).stat().st_ino


def test_rebuild_same_version_keeps_first_date(tmp_path: Path) -> None:
    site = tmp_path / "webpage"
    out, _ = make_build(tmp_path, "A", "first")
    build_webpage(out, site, "A", now=T0)
    (out / "manuscript.html").write_text("<html>second</html>", encoding="utf-8")
    build_webpage(out, site, "A", now=T0 + timedelta(days=5))
    data = json.loads((site / "v" / "versions.json").read_text())
    assert len(data["versions"]) == 1 and data["versions"][0]["date"].startswith("2024-05-01")
    assert "second" in (site / "index.html").read_text()


def test_prune_keeps_newest_and_leaves_removed_page(tmp_path: Path) -> None:
    site = build_three(tmp_path, prune_keep=2)
    v = site / "v"
    assert "content C" in (v / "C" / "index.html").read_text()
    assert "content B" in (v / "B" / "index.html").read_text()
    stub = (v / "A" / "index.html").read_text()
    assert "removed" in stub and 'href="../latest/"' in stub
    assert sorted(p.name for p in (v / "A").iterdir()) == ["index.html"]
    data = json.loads((v / "versions.json").read_text())
    assert {i["version"]: i["removed"] for i in data["versions"]} == {
        "A": True,
        "B": False,
        "C": False,
    }
    assert "removed" in (v / "index.html").read_text()


def test_prune_collects_unused_store_files(tmp_path: Path) -> None:
    site = build_three(tmp_path, prune_keep=1)
    store = site / "v" / ".store"
    # Every stored file is still linked from some published path.
    assert all(p.stat().st_nlink > 1 for p in store.iterdir())


@pytest.mark.parametrize(
    "version", ["latest", "freeze", "index.html", "..", ".", "", "a/b", "a b", ".store", "ü"]
)
def test_bad_version_rejected(tmp_path: Path, version: str) -> None:
    out, _ = make_build(tmp_path, "A", "x")
    with pytest.raises(WebpageError):
        build_webpage(out, tmp_path / "webpage", version)
    assert not (tmp_path / "webpage").exists()


def test_missing_html_rejected(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(WebpageError, match=r"manuscript\.html"):
        build_webpage(tmp_path / "out", tmp_path / "webpage", "A")


def test_missing_pdf_is_allowed(tmp_path: Path) -> None:
    out, _ = make_build(tmp_path, "A", "no pdf")
    (out / "manuscript.pdf").unlink()
    build_webpage(out, tmp_path / "webpage", "A", now=T0)
    assert not (tmp_path / "webpage" / "v" / "A" / "manuscript.pdf").exists()
    assert "no pdf" in (tmp_path / "webpage" / "index.html").read_text()


def test_ci_identity_from_the_environment(tmp_path: Path) -> None:
    sha, pr = "a" * 40, "b" * 40
    github = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "owner/paper",
              "GITHUB_SHA": sha, "GITHUB_RUN_ID": "7"}
    push = ci_identity(tmp_path, github)
    assert (push.version, push.commit, push.repo_slug) == (sha, sha, "owner/paper")
    assert push.run_url == "https://github.com/owner/paper/actions/runs/7"
    assert push.params is not None and push.params["job_url"] == push.run_url
    # On a pull request GITHUB_SHA is a merge commit; the version is the PR's head.
    pull = ci_identity(tmp_path, {**github, "GITHUB_PULL_REQUEST_SHA": pr})
    assert (pull.version, pull.commit) == (pr, sha)
    enterprise = ci_identity(tmp_path, {**github, "GITHUB_SERVER_URL": "https://git.example"})
    assert enterprise.run_url == "https://git.example/owner/paper/actions/runs/7"
    travis = {"TRAVIS": "true", "TRAVIS_REPO_SLUG": "o/p", "TRAVIS_COMMIT": sha,
              "TRAVIS_BUILD_WEB_URL": "https://travis.example/b", "TRAVIS_JOB_WEB_URL": "j"}
    assert ci_identity(tmp_path, travis).version == sha
    assert ci_identity(tmp_path, {"GITHUB_SHA": sha}) == CIIdentity()  # not on Actions
    with pytest.raises(ConfigError, match="GITHUB_REPOSITORY"):
        ci_identity(tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_SHA": sha})


def test_version_from_git(tmp_path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "commit", "-q", "--allow-empty", "-m", "x"],
        env=env,
        check=True,
    )
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ci_identity(tmp_path, {}).version == head
    assert ci_identity(tmp_path / "not-a-repo", {}).version == "local"


def test_root_assets_follow_the_latest_version(tmp_path: Path) -> None:
    site = tmp_path / "webpage"
    (site).mkdir()
    (site / "README.md").write_text("kept\n", encoding="utf-8")
    out, images = make_build(tmp_path, "A", "with images")
    build_webpage(out, site, "A", assets=[images], now=T0)
    assert (site / "images" / "fig.png").is_file()
    build_webpage(out, site, "B", now=T0 + timedelta(days=1))  # B has no images
    assert not (site / "images").exists()
    assert (site / "v" / "A" / "images" / "fig.png").is_file()
    assert (site / "README.md").read_text() == "kept\n"
