"""Publish ``webpage/`` to the ``gh-pages`` branch and ``output/`` to ``output`` (like ghp-import).

All git work happens in a throw-away bare repository with a temporary index (plumbing:
``hash-object``, ``update-index``, ``write-tree``, ``commit-tree``), so the user's
repository, working tree and index are never touched; only the remote is written.

gh-pages is *added to*, never replaced: each attempt starts from the remote branch's tree
and overlays the new version, ``v/latest``, ``v/freeze``, the root files and a merged
``v/versions.json`` / ``v/index.html``, so versions published by earlier or concurrent
deploys are kept. Both branches are pushed in one ``git push --atomic``; when another
deploy pushed first (non-fast-forward), we fetch again and re-apply, ``retries`` times.

Auth: a ``token`` (GITHUB_TOKEN) is sent for https remotes as an ``http.<origin>/.extraheader``
passed through ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` in the environment — never in argv or
a config file — and scrubbed from every log line and error. A deploy key needs nothing
here: use an ssh remote URL and the user's own SSH config / agent.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from manuscript.errors import DeployError, WebpageError
from manuscript.journal import JOURNAL
from manuscript.webpage import (
    STORE,
    VERSIONS_JSON,
    merge_versions,
    read_versions,
    validate_version,
    versions_index,
    versions_json,
)

logger = logging.getLogger(__name__)

PAGES_BRANCH = "gh-pages"
OUTPUT_BRANCH = "output"
GIT_TIMEOUT = 600  # seconds; a stuck network operation must not hang CI forever
# Push failures that mean "someone else pushed first": fetch again and re-apply.
_RETRYABLE = (
    "non-fast-forward",
    "fetch first",
    "cannot lock ref",
    "failed to lock",
    "failed to update ref",
    "but expected",
    "incorrect old value",
    "stale info",
)
# Variables that would point our git commands at another repository or index.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
)
_BOT_NAME = "github-actions[bot]"
_BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"


@dataclass
class _Git:
    """Runs git in the temporary repository; every text it emits is scrubbed of secrets."""

    git_dir: Path
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        # Credentials written into a remote URL by the user (https://user:pass@host/...).
        return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)

    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[bytes]:
        logger.debug("git %s", self.scrub(" ".join(args)))
        try:
            result = subprocess.run(
                ["git", *args],
                input=input,
                capture_output=True,
                env={**self.env, **(env or {})},
                timeout=GIT_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise DeployError(self.scrub(f"git {args[0]} failed: {error}")) from None
        if check and result.returncode != 0:
            raise DeployError(self.scrub(f"git {args[0]} failed: {self.output(result)}"))
        return result

    def output(self, result: subprocess.CompletedProcess[bytes]) -> str:
        text = (result.stdout + b"\n" + result.stderr).decode("utf-8", "replace").strip()
        return self.scrub(text)

    def text(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        return self.run(*args, input=input, env=env).stdout.decode("utf-8", "replace").strip()


def deploy(
    root: Path,
    webpage_dir: Path,
    output_dir: Path,
    *,
    remote: str = "origin",
    source_commit: str | None = None,
    ci_run_url: str | None = None,
    token: str | None = None,
    retries: int = 5,
    push: bool = True,
) -> None:
    """Publish ``webpage_dir`` to ``gh-pages`` and ``output_dir`` to ``output`` on ``remote``."""
    root, webpage_dir, output_dir = Path(root), Path(webpage_dir), Path(output_dir)
    local = _check_built(webpage_dir, output_dir)  # before touching the network
    version = local["latest"]
    url = _remote_url(root, remote)
    message = _commit_message(source_commit or f"version {version}", ci_run_url)
    with tempfile.TemporaryDirectory(prefix="manuscript-deploy-") as tmp:
        git = _open_repository(Path(tmp), url, token)
        for attempt in range(retries + 1):
            heads = _fetch(git, url)
            pages = _pages_commit(git, Path(tmp), heads.get(PAGES_BRANCH), webpage_dir, local,
                                  message)
            output = _tree_commit(git, Path(tmp), heads.get(OUTPUT_BRANCH),
                                  _files(output_dir, hidden=False), message)
            logger.info("deploy: %s %s, %s %s (version %s)", PAGES_BRANCH, pages[:12],
                        OUTPUT_BRANCH, output[:12], version)
            if not push:
                logger.info("deploy: --no-push, nothing published to %s", git.scrub(url))
                return
            if _push(git, url, pages, output):
                logger.info("deploy: published version %s to %s", version, git.scrub(url))
                return
            if attempt < retries:
                _back_off(attempt, retries)
        raise DeployError(
            f"git push kept being rejected after {retries} retries (other deploys pushing?)"
        )


def _check_built(webpage_dir: Path, output_dir: Path) -> dict:
    """The local version list, once we know a complete build is there to deploy."""
    if (output_dir / JOURNAL).exists():
        raise DeployError("an interrupted build left its changes half applied; "
                          "run `manuscript build` to complete them first", output_dir / JOURNAL)
    if not (webpage_dir / "index.html").is_file():
        raise DeployError("no index.html: build the website before deploying", webpage_dir)
    if not (output_dir / "manuscript.html").is_file():
        raise DeployError("no manuscript.html: build the manuscript before deploying", output_dir)
    try:
        local = read_versions(webpage_dir / "v" / VERSIONS_JSON)
    except WebpageError as error:
        raise DeployError(str(error)) from error
    version = local["latest"]
    if not version or not (webpage_dir / "v" / version).is_dir():
        raise DeployError("no version list: build the website with `manuscript build`", webpage_dir)
    return local


def _commit_message(what: str, ci_run_url: str | None) -> str:
    # [skip ci]: a push made with a deploy key would otherwise start the workflow again.
    return f"Deploy {what}" + (f" from {ci_run_url}" if ci_run_url else "") + "\n\n[skip ci]\n"


def _open_repository(tmp: Path, url: str, token: str | None) -> _Git:
    git_dir = tmp / "repo.git"
    git = _Git(git_dir, _git_env(git_dir, url, token), _secrets(token))
    git.run("init", "--quiet", "--bare", str(git_dir))
    _set_identity(git)
    return git


def _push(git: _Git, url: str, pages: str, output: str) -> bool:
    """Push both branches atomically: True if done, False if someone else pushed first."""
    result = git.run(
        "push", "--atomic", "--porcelain", url,
        f"{pages}:refs/heads/{PAGES_BRANCH}",
        f"{output}:refs/heads/{OUTPUT_BRANCH}",
        check=False,
    )  # fmt: skip
    if result.returncode == 0:
        return True
    text = git.output(result)
    if not any(marker in text for marker in _RETRYABLE):
        raise DeployError(f"git push failed: {text}")
    return False


def _back_off(attempt: int, retries: int) -> None:
    delay = min(8.0, 0.5 * 2**attempt) * random.uniform(0.5, 1.5)
    logger.warning("deploy: remote changed while deploying; retrying in %.1fs (%d/%d)",
                   delay, attempt + 1, retries)
    time.sleep(delay)


def _remote_url(root: Path, remote: str) -> str:
    """A remote name of the repository at ``root``, or a URL / path as given."""
    if "://" not in remote and not Path(remote).is_absolute():
        result = subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", remote],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode == 0 and result.stdout.strip():
            remote = result.stdout.strip()
    if "://" in remote or re.match(r"^[\w.-]+@[\w.-]+:", remote):
        return remote
    path = Path(remote) if Path(remote).is_absolute() else root / remote
    if not path.exists():
        raise DeployError(f"unknown remote {remote!r}: not a remote name, URL or path")
    return str(path.resolve())


def _secrets(token: str | None) -> list[str]:
    if not token:
        return []
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    # Longest first, so a secret that contains another is replaced whole.
    return sorted({token, basic}, key=len, reverse=True)


def _git_env(git_dir: Path, url: str, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _GIT_LOCATION_VARS}
    env["GIT_DIR"] = str(git_dir)
    env["GIT_TERMINAL_PROMPT"] = "0"  # fail instead of waiting for a password in CI
    env["LC_ALL"] = "C"  # English messages: we match push rejections by text
    parts = urlsplit(url)
    if token and parts.scheme == "https" and parts.hostname:
        # Same mechanism as actions/checkout, scoped to this host only.
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env[f"GIT_CONFIG_KEY_{count}"] = f"http.{parts.scheme}://{parts.netloc}/.extraheader"
        env[f"GIT_CONFIG_VALUE_{count}"] = f"AUTHORIZATION: basic {basic}"
        env["GIT_CONFIG_COUNT"] = str(count + 1)
    elif token:
        logger.info("deploy: token not used: the remote is not an https URL")
    return env


def _set_identity(git: _Git) -> None:
    """CI runners have no git identity; fall back to the Actions bot, keep a user's own."""
    for key, names in (
        ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME")),
        ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL")),
    ):
        if git.run("config", "--get", key, check=False).returncode != 0:
            for name in names:
                git.env.setdefault(name, _BOT_NAME if key == "user.name" else _BOT_EMAIL)


def _fetch(git: _Git, url: str) -> dict[str, str]:
    """Fetch the tips of the remote's gh-pages and output branches (those that exist)."""
    listing = git.text("ls-remote", "--heads", url, PAGES_BRANCH, OUTPUT_BRANCH)
    heads: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, ref = line.partition("\t")
        branch = ref.removeprefix("refs/heads/")
        if branch in (PAGES_BRANCH, OUTPUT_BRANCH):
            heads[branch] = sha
    if heads:
        # Only the tips: their trees are all we build on, and the remote has the history.
        refspecs = [f"+refs/heads/{b}:refs/remotes/target/{b}" for b in heads]
        git.run("fetch", "--quiet", "--no-tags", "--depth=1", url, *refspecs)
        for branch in heads:
            heads[branch] = git.text("rev-parse", f"refs/remotes/target/{branch}")
    return heads


def _files(directory: Path, skip: tuple[str, ...] = (), hidden: bool = True,
           follow: bool = False) -> dict[str, Path]:
    """Relative POSIX path → file, for every file under ``directory`` (symlinks kept as links).

    ``hidden=False`` leaves out dot files: output/'s build state is no reader's business.
    ``follow``: a link to a file or folder inside ``directory`` is published as what it
    points to (rootstock's ``webpage/index.html`` → ``v/latest/index.html``): the site is
    served as real files; a link leading out of it, or to nothing, is left out.
    """
    found: dict[str, Path] = {}
    inside = directory.resolve()
    for dirpath, dirnames, filenames in os.walk(directory):
        rel_dir = Path(dirpath).relative_to(directory)
        if follow:
            for name in [*dirnames, *filenames]:
                path = Path(dirpath) / name
                if path.is_symlink() and (rel_dir / name).as_posix() not in skip:
                    found.update(_followed(path, (rel_dir / name).as_posix(), inside))
            dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
            filenames = [f for f in filenames if not (Path(dirpath) / f).is_symlink()]
        # Skip our own scratch (.build-*, .old-*) and the store; prune before descending.
        dirnames[:] = [
            d
            for d in dirnames
            if (rel_dir / d).as_posix() not in skip and not d.startswith((".build-", ".old-"))
            and (hidden or not d.startswith("."))
        ]
        for name in filenames:
            if name.startswith((".old-", ".tmp-")) or (rel_dir / name).as_posix() in skip:
                continue
            if not hidden and name.startswith("."):
                continue
            found[(rel_dir / name).as_posix()] = Path(dirpath) / name
    return found


def _followed(link: Path, rel: str, inside: Path) -> dict[str, Path]:
    target = link.resolve()
    if not target.is_relative_to(inside) or not target.exists():
        logger.debug("deploy: leaving out %s (a link out of the site, or to nothing)", rel)
        return {}
    if target.is_file():
        return {rel: target}
    return {f"{rel}/{sub}": path for sub, path in _files(target).items()
            if not path.is_symlink() or path.resolve().is_relative_to(inside)}


def _hash_files(git: _Git, files: dict[str, Path]) -> dict[str, tuple[str, str]]:
    """Write local files as blobs; return path → (mode, blob sha)."""
    entries: dict[str, tuple[str, str]] = {}
    regular = {rel: p for rel, p in files.items() if not p.is_symlink()}
    if regular:
        paths = list(regular.items())
        out = git.text("hash-object", "-w", "--stdin-paths", input="\n".join(
            str(p) for _, p in paths).encode() + b"\n")  # fmt: skip
        for (rel, path), sha in zip(paths, out.split(), strict=True):
            mode = "100755" if path.stat().st_mode & 0o111 else "100644"
            entries[rel] = (mode, sha)
    for rel, path in files.items():
        if path.is_symlink():
            sha = git.text("hash-object", "-w", "--stdin", input=os.readlink(path).encode())
            entries[rel] = ("120000", sha)
    return entries


def _blob(git: _Git, data: str) -> tuple[str, str]:
    return ("100644", git.text("hash-object", "-w", "--stdin", input=data.encode("utf-8")))


def _commit(
    git: _Git, tmp: Path, parent: str | None, entries: dict[str, tuple[str, str]], message: str
) -> str:
    """Write ``entries`` as a tree in a temporary index and commit it on ``parent``."""
    index = tmp / "index"
    index.unlink(missing_ok=True)
    env = {"GIT_INDEX_FILE": str(index)}
    info = b"".join(
        f"{mode} {sha}\t{path}".encode() + b"\0" for path, (mode, sha) in entries.items()
    )
    git.run("update-index", "-z", "--index-info", input=info, env=env)
    tree = git.text("write-tree", env=env)
    if parent and git.text("rev-parse", f"{parent}^{{tree}}") == tree:
        return parent  # nothing changed: pushing the same tip is a no-op
    args = ["commit-tree", tree, "-F", "-"] + (["-p", parent] if parent else [])
    return git.text(*args, input=message.encode("utf-8"))


def _tree_commit(
    git: _Git, tmp: Path, parent: str | None, files: dict[str, Path], message: str
) -> str:
    return _commit(git, tmp, parent, _hash_files(git, files), message)


def _remote_entries(git: _Git, commit: str | None) -> dict[str, tuple[str, str]]:
    if not commit:
        return {}
    out = git.run("ls-tree", "-r", "-z", "--full-tree", commit).stdout.decode("utf-8")
    entries: dict[str, tuple[str, str]] = {}
    for record in filter(None, out.split("\0")):
        meta, _, path = record.partition("\t")
        mode, _kind, sha = meta.split()
        entries[path] = (mode, sha)
    return entries


def _pages_commit(
    git: _Git,
    tmp: Path,
    parent: str | None,
    webpage_dir: Path,
    local: dict,
    message: str,
) -> str:
    """The remote gh-pages tree with the local build overlaid; nothing published is lost."""
    version: str = local["latest"]
    entries = _remote_entries(git, parent)
    remote_versions = _remote_versions(git, tmp, entries)
    remote_names = {item["version"] for item in remote_versions} | {
        path.split("/")[1] for path in entries if path.startswith("v/") and path.count("/") >= 2
    }
    local_files = _files(webpage_dir, skip=(f"v/{STORE}",), follow=True)
    replaced = _replaced(local_files, local, remote_names)

    def is_replaced(path: str) -> bool:
        return any(path == prefix or path.startswith(prefix + "/") for prefix in replaced)

    entries = {path: entry for path, entry in entries.items() if not is_replaced(path)}
    entries.update(_hash_files(git, {r: p for r, p in local_files.items() if is_replaced(r)}))

    merged = merge_versions(_with_unlisted(remote_versions, remote_names), local["versions"])
    for item in merged:
        if item["version"] == version:
            item["removed"] = False  # just published, whatever an older list says
    entries[f"v/{VERSIONS_JSON}"] = _blob(git, versions_json(version, merged))
    entries["v/index.html"] = _blob(git, versions_index(version, merged))
    entries.setdefault(".nojekyll", _blob(git, ""))
    return _commit(git, tmp, parent, entries, message)


def _remote_versions(git: _Git, tmp: Path, entries: dict[str, tuple[str, str]]) -> list[dict]:
    """The version list already on gh-pages (none if missing or unreadable)."""
    if f"v/{VERSIONS_JSON}" not in entries:
        return []
    blob = git.run("cat-file", "blob", entries[f"v/{VERSIONS_JSON}"][1]).stdout
    try:
        with tempfile.NamedTemporaryFile("wb", dir=tmp, delete=False) as handle:
            handle.write(blob)
        return read_versions(Path(handle.name))["versions"]
    except WebpageError as error:
        logger.warning("deploy: ignoring unreadable remote versions.json: %s", error)
        return []


def _replaced(local_files: dict[str, Path], local: dict, remote_names: set[str]) -> set[str]:
    """What the local build replaces wholesale: the root files, the pointers, this version;
    other local versions only where the remote lacks them or the local build pruned them."""
    replaced = {rel.split("/")[0] for rel in local_files if not rel.startswith("v/")}
    replaced |= {"v/latest", "v/freeze", "v/index.html", f"v/{VERSIONS_JSON}",
                 f"v/{local['latest']}"}
    for item in local["versions"]:
        if item["version"] not in remote_names or item["removed"]:
            replaced.add(f"v/{item['version']}")
    return replaced


def _with_unlisted(remote_versions: list[dict], remote_names: set[str]) -> list[dict]:
    """Versions published without a versions.json (e.g. by `manubot webpage`) are listed
    too, with an unknown date, so the index does not hide them."""
    listed = {item["version"] for item in remote_versions}
    versions = list(remote_versions)
    for name in sorted(remote_names - listed):
        try:
            validate_version(name)
        except WebpageError:
            continue
        versions.append({"version": name, "date": "", "removed": False})
    return versions
