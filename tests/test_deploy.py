"""The deploy stage against a real local bare repository (no mocks of git)."""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import manuscript.deploy as deploy_module
from manuscript.deploy import deploy
from manuscript.errors import DeployError
from manuscript.webpage import build_webpage

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TOKEN = "ghs_FAKEtoken1234567890abcdefSECRET"


def git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout


def make_remote(tmp: Path) -> Path:
    remote = tmp / "remote.git"
    git("init", "-q", "--bare", str(remote))
    return remote


def make_clone(tmp: Path, name: str, remote: Path) -> Path:
    """A user's repository whose ``origin`` is the bare remote."""
    root = tmp / name
    git("init", "-q", str(root))
    git("remote", "add", "origin", str(remote), cwd=root)
    (root / "README.md").write_text("user file\n", encoding="utf-8")
    git("add", "README.md", cwd=root)
    return root


def make_site(root: Path, version: str, day: int = 0) -> tuple[Path, Path]:
    """Fake build outputs plus the real website stage, inside ``root``."""
    out = root / "output"
    out.mkdir(exist_ok=True)
    (out / "manuscript.html").write_text(f"<html>manuscript {version}</html>", encoding="utf-8")
    (out / "manuscript.pdf").write_bytes(f"%PDF-1.7 {version}".encode())
    images = root / "content" / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / "fig.png").write_bytes(b"\x89PNG same image")
    site = root / "webpage"
    build_webpage(out, site, version, assets=[images], now=T0 + timedelta(days=day))
    return site, out


def remote_files(remote: Path, branch: str) -> list[str]:
    return git("--git-dir", str(remote), "ls-tree", "-r", "--name-only", branch).split()


def remote_show(remote: Path, spec: str) -> str:
    return git("--git-dir", str(remote), "show", spec)


def remote_refs(remote: Path) -> str:
    return git("--git-dir", str(remote), "for-each-ref")


def test_deploy_a_then_b(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root_a = make_clone(tmp_path, "a", remote)
    site, out = make_site(root_a, "A", 0)
    status_before = git("status", "--porcelain", cwd=root_a)
    deploy(root_a, site, out, source_commit="A" * 8, ci_run_url="https://ci.example/run/1")

    # B is built in a fresh clone whose webpage/ has never seen A.
    root_b = make_clone(tmp_path, "b", remote)
    site, out = make_site(root_b, "B", 1)
    deploy(root_b, site, out, source_commit="B" * 8, ci_run_url="https://ci.example/run/2")

    files = remote_files(remote, "gh-pages")
    for name in ("v/A/index.html", "v/B/index.html", "v/A/images/fig.png", "v/B/manuscript.pdf"):
        assert name in files
    assert ".nojekyll" in files and "images/fig.png" in files
    assert not any("/.store/" in f or f.startswith("v/.store") for f in files)
    assert "manuscript B" in remote_show(remote, "gh-pages:index.html")
    assert "manuscript B" in remote_show(remote, "gh-pages:v/latest/index.html")
    assert "url=../B/" in remote_show(remote, "gh-pages:v/freeze/index.html")
    data = json.loads(remote_show(remote, "gh-pages:v/versions.json"))
    assert data["latest"] == "B"
    assert [item["version"] for item in data["versions"]] == ["B", "A"]
    listing = remote_show(remote, "gh-pages:v/index.html")
    assert listing.index('href="./B/"') < listing.index('href="./A/"')

    assert sorted(remote_files(remote, "output")) == ["manuscript.html", "manuscript.pdf"]
    assert "manuscript B" in remote_show(remote, "output:manuscript.html")
    log = git("--git-dir", str(remote), "log", "--format=%s", "output")
    assert log.splitlines() == [
        "Deploy BBBBBBBB from https://ci.example/run/2",
        "Deploy AAAAAAAA from https://ci.example/run/1",
    ]
    assert "Deploy BBBBBBBB" in git("--git-dir", str(remote), "log", "-1", "gh-pages")

    # The user's repository is untouched: same status, no refs, nothing committed.
    assert git("status", "--porcelain", cwd=root_a) == status_before
    assert git("for-each-ref", cwd=root_a) == ""


def test_redeploy_same_version_is_a_no_op(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    deploy(root, site, out)
    refs = remote_refs(remote)
    deploy(root, site, out)
    assert remote_refs(remote) == refs


def test_concurrent_deploys_both_land(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    # Seed the remote so both deploys must merge into an existing gh-pages.
    seed = make_clone(tmp_path, "seed", remote)
    deploy(seed, *make_site(seed, "S", 0))

    jobs = []
    for name, day in (("X", 1), ("Y", 2)):
        root = make_clone(tmp_path, name.lower(), remote)
        jobs.append((root, *make_site(root, name, day)))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(root: Path, site: Path, out: Path) -> None:
        try:
            barrier.wait()
            deploy(root, site, out, retries=10)
        except BaseException as error:  # reported below, in the test thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    files = remote_files(remote, "gh-pages")
    for name in "SXY":
        assert f"v/{name}/index.html" in files
    data = json.loads(remote_show(remote, "gh-pages:v/versions.json"))
    assert {item["version"] for item in data["versions"]} == {"S", "X", "Y"}
    listing = remote_show(remote, "gh-pages:v/index.html")
    assert all(f'href="./{name}/"' in listing for name in "SXY")


def test_failed_build_deploys_nothing(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    deploy(root, site, out)
    refs = remote_refs(remote)

    (out / "manuscript.html").unlink()
    with pytest.raises(DeployError, match=r"manuscript\.html"):
        deploy(root, site, out)
    empty = tmp_path / "empty-site"
    empty.mkdir()
    site2, out2 = make_site(make_clone(tmp_path, "b", remote), "B")
    with pytest.raises(DeployError, match=r"index\.html"):
        deploy(root, empty, out2)
    assert remote_refs(remote) == refs
    assert site2.exists()


def test_no_push_leaves_remote_alone(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    deploy(root, *make_site(root, "A"), push=False)
    assert remote_refs(remote) == ""


def test_remote_as_path_and_unknown_remote(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    deploy(root, site, out, remote=str(remote))
    assert "v/A/index.html" in remote_files(remote, "gh-pages")
    with pytest.raises(DeployError, match="unknown remote"):
        deploy(root, site, out, remote="nosuchremote")


def test_pruned_version_stays_a_removed_page_on_gh_pages(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    out = root / "output"
    site = root / "webpage"
    for i, name in enumerate("AB"):
        make_site(root, name, i)
        deploy(root, site, out)
    # Prune locally to one version; the deploy replaces A by its "removed" page.
    (out / "manuscript.html").write_text("<html>manuscript C</html>", encoding="utf-8")
    build_webpage(out, site, "C", prune_keep=1, now=T0 + timedelta(days=5))
    deploy(root, site, out)
    assert "was removed" in remote_show(remote, "gh-pages:v/A/index.html")
    assert "v/A/manuscript.pdf" not in remote_files(remote, "gh-pages")


def _record_subprocess(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict]]:
    """Wrap the real subprocess.run to see every argv and env that deploy passes to git."""
    calls: list[tuple[list[str], dict]] = []
    real = subprocess.run

    def recording(args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((list(args), dict(kwargs.get("env") or {})))
        return real(args, **kwargs)

    monkeypatch.setattr(deploy_module.subprocess, "run", recording)
    return calls


def test_token_never_logged(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    calls = _record_subprocess(monkeypatch)
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    deploy(root, site, out, token=TOKEN, ci_run_url="https://ci.example/run/1")
    assert "v/A/index.html" in remote_files(remote, "gh-pages")

    # An https remote that refuses the connection at once: the token goes in a header.
    with pytest.raises(DeployError) as info:
        deploy(root, site, out, remote="https://127.0.0.1:9/owner/repo.git", token=TOKEN)
    assert TOKEN not in str(info.value)
    header_envs = [env for _, env in calls if "GIT_CONFIG_COUNT" in env]
    assert header_envs, "the token must be passed to git through GIT_CONFIG_* variables"
    assert any(
        env.get(f"GIT_CONFIG_KEY_{int(env['GIT_CONFIG_COUNT']) - 1}")
        == "http.https://127.0.0.1:9/.extraheader"
        for env in header_envs
    )

    # A failure message that contains the token (it is in the URL the user gave).
    leaky = f"http://x-access-token:{TOKEN}@127.0.0.1:9/owner/repo.git"
    with pytest.raises(DeployError) as info:
        deploy(root, site, out, remote=leaky, token=TOKEN)
    assert TOKEN not in str(info.value)

    # A real git failure whose message echoes the token back: the error is scrubbed.
    runner = deploy_module._Git(tmp_path, {}, deploy_module._secrets(TOKEN))
    with pytest.raises(DeployError) as info:
        runner.run("-C", str(root), "rev-parse", TOKEN)
    assert TOKEN not in str(info.value) and "***" in str(info.value)

    for argv, _ in calls:
        # Only the URL the user wrote the token into may carry it; we never add it to argv.
        assert not any(TOKEN in arg and arg != leaky for arg in argv) or "rev-parse" in argv, argv
    captured = capfd.readouterr()
    assert TOKEN not in captured.out and TOKEN not in captured.err
    assert TOKEN not in caplog.text
    assert caplog.text  # the deploy did log (so the assertion above means something)


def test_scrub_replaces_token_and_its_basic_auth_form() -> None:
    import base64

    secrets = deploy_module._secrets(TOKEN)
    runner = deploy_module._Git(Path("/nonexistent"), {}, secrets)
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    message = (
        f"fatal: unable to access 'https://x-access-token:{TOKEN}@github.com/o/r.git/': "
        f"header AUTHORIZATION: basic {basic} token={TOKEN}"
    )
    scrubbed = runner.scrub(message)
    assert TOKEN not in scrubbed and basic not in scrubbed
    assert scrubbed.count("***") >= 3


def test_manubot_layout_on_gh_pages_is_kept(tmp_path: Path) -> None:
    """A gh-pages made by `manubot webpage` (symlinks, no versions.json) is migrated."""
    remote = make_remote(tmp_path)
    old = tmp_path / "old"
    git("init", "-q", "-b", "gh-pages", str(old))
    (old / "v" / "OLD").mkdir(parents=True)
    (old / "v" / "OLD" / "index.html").write_text("<html>old</html>", encoding="utf-8")
    (old / "v" / "latest").symlink_to("OLD")
    (old / "index.html").symlink_to("v/latest/index.html")
    (old / "CNAME").write_text("example.org\n", encoding="utf-8")
    git("add", "-A", cwd=old)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "old", cwd=old)
    git("push", "-q", str(remote), "gh-pages", cwd=old)

    root = make_clone(tmp_path, "a", remote)
    deploy(root, *make_site(root, "A"))
    files = remote_files(remote, "gh-pages")
    assert {"v/OLD/index.html", "v/A/index.html", "v/latest/index.html", "CNAME"} <= set(files)
    assert "manuscript A" in remote_show(remote, "gh-pages:index.html")
    assert "manuscript A" in remote_show(remote, "gh-pages:v/latest/index.html")
    listing = remote_show(remote, "gh-pages:v/index.html")
    assert listing.index('href="./A/"') < listing.index('href="./OLD/"')
    assert "date unknown" in listing


def test_an_interrupted_build_is_not_deployed(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    (out / ".build-journal.json").write_text('{"entries": []}', encoding="utf-8")
    with pytest.raises(DeployError, match="interrupted build"):
        deploy(root, site, out)
    assert remote_refs(remote) == ""


def test_the_build_state_is_not_published(tmp_path: Path) -> None:
    remote = make_remote(tmp_path)
    root = make_clone(tmp_path, "a", remote)
    site, out = make_site(root, "A")
    (out / ".build-state.json").write_text("{}", encoding="utf-8")
    deploy(root, site, out)
    assert sorted(remote_files(remote, "output")) == ["manuscript.html", "manuscript.pdf"]
