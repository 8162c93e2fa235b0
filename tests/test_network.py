"""The one door to the network (manuscript/network.py), end to end.

* Offline, nothing connects: build (PDF and Word, so the worker too), check, cite of
  every identifier type (ISBN included: isbnlib once asked googleapis.com) and serve on a
  corpus manuscript, each process watched by an audit hook of its own (a
  ``sitecustomize`` that records every ``socket.connect`` and name lookup to a file),
  besides the package's own guard, which must never have fired.
* No network: a manuscript citing 100 DOIs, its services a 127.0.0.1 server that accepts
  and never answers, asks each host at most once (counted by the server) and says so in
  one line per host, with the hint ``--offline`` and no raw exception text.
* The format worker never fetches: a remote image that redirects to an internal answer,
  or is 300 MB, leaves no byte of it in the DOCX; a good one is there, fetched once.
* The door itself: a deadline on the whole answer (one byte a second, body or headers),
  a size limit on what arrives, http(s) only at every redirect hop.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from helpers import clean_env, run_manuscript
from manuscript.network import Door, FetchError, Unreachable
from network_server import CANARY, HostileServer, png

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "rootstock-tour"
KEYS = ("doi:10.1101/142760", "pmid:29424689", "pmcid:PMC5640358", "arxiv:1407.3561v1",
        "isbn:9781339919881", "url:https://example.org", "wikidata:Q50051684")

_SITECUSTOMIZE = '''
import os, socket, sys
_LOG = os.environ["NETWORK_ATTEMPTS_LOG"]
_LOCAL = (None, "", "localhost", "127.0.0.1", "::1", b"localhost", b"127.0.0.1")

def _record(what):
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {' '.join(sys.argv[:3])}: {what}\\n")

def _hook(event, args):
    if event == "socket.connect":
        sock, address = args[0], args[1]
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            _record(f"connect {address!r}")
    elif event == "socket.getaddrinfo" and args[0] not in _LOCAL:
        _record(f"getaddrinfo {args[0]!r}")

sys.addaudithook(_hook)
'''


def _watched_env(tmp_path: Path, **extra: str) -> tuple[dict[str, str], Path]:
    """An offline environment whose Python processes record every connection attempt."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")
    log = tmp_path / "attempts.log"
    log.write_text("", encoding="utf-8")
    env = clean_env(NETWORK_ATTEMPTS_LOG=str(log), **extra)
    env["PYTHONPATH"] = str(site) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env, log


def _corpus_copy(tmp_path: Path) -> Path:
    if not CORPUS.is_dir():
        pytest.skip("the corpus is not here")
    root = tmp_path / "tour"
    shutil.copytree(CORPUS, root, symlinks=True)
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    # rootstock's webpage/ links (files naming their targets in this copy) are another
    # test's subject (test_rootstock.py); the build makes webpage/ afresh without them.
    shutil.rmtree(root / "webpage", ignore_errors=True)
    (root / "output").mkdir(exist_ok=True)
    for name in ("references.json", "citations.tsv"):
        shutil.copy(root / "upstream" / name, root / "output" / name)
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_build_check_cite_serve_connect_nowhere(tmp_path: Path) -> None:
    root = _corpus_copy(tmp_path)
    env, log = _watched_env(tmp_path)
    # The probe works: a connection from a watched process is recorded.
    subprocess.run([sys.executable, "-c", "import socket; socket.socket().connect_ex("
                    "('127.0.0.1', 9))"], env=env, check=True)
    assert "connect ('127.0.0.1', 9)" in log.read_text(encoding="utf-8")
    log.write_text("", encoding="utf-8")

    runs = [run_manuscript(root, "build", "--offline", "--format", "docx", env=env),
            run_manuscript(root, "check", "--offline", env=env, check=False),
            run_manuscript(root, "cite", "--offline", *KEYS, env=env, check=False),
            run_manuscript(tmp_path, "cite", "--offline", *KEYS, env=env, check=False)]
    assert (root / "output" / "manuscript.docx").is_file()
    # Outside a manuscript nothing is cached: every key is unknown, said without a lookup.
    assert runs[3].returncode == 1 and "isbn:9781339919881" in runs[3].stderr
    assert "not known offline" in runs[3].stderr

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "manuscript", "-C", str(root), "serve",
                               "--port", str(port)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        page = _get_when_up(f"http://127.0.0.1:{port}/", server)
        assert b"<html" in page.lower()
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    for run in [*runs, subprocess.CompletedProcess([], 0, out, err)]:
        assert "bug:" not in run.stderr, run.stderr  # the package's own guard never fired
        assert "Traceback" not in run.stderr, run.stderr
        assert "googleapis" not in run.stderr and "ISBNLib" not in run.stderr, run.stderr
    assert log.read_text(encoding="utf-8") == ""


def _get_when_up(url: str, process: subprocess.Popen) -> bytes:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.communicate()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.read()
        except OSError:
            time.sleep(0.5)
    raise AssertionError("serve did not answer")


def test_the_guard_fails_loudly_on_a_connection_past_the_door(tmp_path: Path) -> None:
    """What the offline tests rely on: under MANUSCRIPT_OFFLINE=1 any process that
    imports the package refuses a connection of its own, naming the host."""
    code = ("import socket, manuscript\n"
            "from manuscript import network\n"
            "try:\n    socket.create_connection(('192.0.2.1', 80), timeout=1)\n"
            "except network.OfflineViolation as error:\n    print('refused:', error)\n"
            "try:\n    socket.getaddrinfo('example.org', 443)\n"
            "except network.OfflineViolation as error:\n    print('refused:', error)\n"
            "print(len(network.violations()))\n")
    done = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True,
                          text=True, check=True)
    assert "refused: bug: a connection to 192.0.2.1:80 was attempted" in done.stdout
    assert "refused: bug: a name lookup of 'example.org'" in done.stdout
    assert done.stdout.strip().endswith("2")


def _hundred_dois(root: Path) -> Path:
    content = root / "content"
    content.mkdir(parents=True)
    (content / "metadata.yaml").write_text('title: "DOIs"\nlang: en-US\nauthors: []\n',
                                           encoding="utf-8")
    cited = " ".join(f"[@doi:10.5555/n{index}]" for index in range(100))
    (content / "01.text.md").write_text(f"## Text\n\n{cited}\n", encoding="utf-8")
    (content / "90.back-matter.md").write_text('## References\n\n<div id="refs"></div>\n',
                                               encoding="utf-8")
    return root


@pytest.mark.parametrize("command", ["build", "check"])
def test_no_network_asks_each_host_once_and_says_so_once(tmp_path: Path,
                                                         command: str) -> None:
    root = _hundred_dois(tmp_path / "ms")
    with HostileServer() as server:
        env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_TEST_CITATION_SERVER=server.url,
                        MANUSCRIPT_CITATION_TIMEOUT="1", MANUSCRIPT_CITATION_RETRIES="2",
                        MANUSCRIPT_CITATION_BACKOFF="0.05")
        start = time.monotonic()
        # --strict: rootstock's policy publishes a build whose citations were not found
        # (with these warnings); the lines are the same either way.
        done = run_manuscript(root, command, *(["--no-pdf"] if command == "build" else []),
                              "--strict", env=env, check=False)
        seconds = time.monotonic() - start
        asked = dict(server.silent)
    assert done.returncode == 1, done.stderr
    assert asked and all(count == 1 for count in asked.values()), asked
    for host in asked:
        lines = [line for line in done.stderr.splitlines() if host in line]
        assert len(lines) == 1, (host, done.stderr)
        assert "--offline" in lines[0]
    assert "100 citation(s)" in done.stderr
    for raw in ("HTTPSConnectionPool", "HTTPConnectionPool", "NameResolutionError",
                "Max retries", "Traceback", "ReadTimeout"):
        assert raw not in done.stderr, done.stderr
    assert seconds < 60  # one timeout per host, not one per key (and not 3 retries each)


def test_a_citation_service_sending_one_byte_a_second_is_cut_off(tmp_path: Path) -> None:
    """Each receive gets a byte within the timeout, so only a deadline on the whole
    answer ends it (cite/fetch.py: twice MANUSCRIPT_CITATION_TIMEOUT)."""
    with HostileServer() as server:
        env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_TEST_CITATION_SERVER=server.url,
                        MANUSCRIPT_CITATION_TIMEOUT="1.5")
        start = time.monotonic()
        done = run_manuscript(tmp_path, "cite", "doi:10.5555/trickle/x", "doi:10.5555/y",
                              env=env, check=False)
        seconds = time.monotonic() - start
        asked = [path for path in server.requests if path.startswith("/doi.org/")]
    assert done.returncode == 1
    assert "doi.org (no answer in time) could not be reached" in done.stderr, done.stderr
    assert asked == ["/doi.org/10.5555/trickle/x"] or asked == ["/doi.org/10.5555/y"], asked
    assert seconds < 20, done.stderr


def test_the_format_worker_never_fetches(tmp_path: Path) -> None:
    from helpers import ROOT, copy_manuscript

    root = copy_manuscript(ROOT, tmp_path / "ms")
    with HostileServer() as server:
        (root / "content" / "02.introduction.md").write_text(
            "## Introduction\n\n"
            f"![Good]({server.url}/png)\n\n"
            f"![Redirected]({server.url}/redirect?to=/canary)\n\n"
            f"![Huge]({server.url}/huge)\n", encoding="utf-8")
        env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_REMOTE_TIMEOUT="10")
        done = run_manuscript(root, "build", "--no-pdf", "--format", "docx", env=env)
        requests = list(server.requests)
    # Each asked once: by the build before the worker started; the html stage found them
    # in the cache (or failed already), the worker asked nothing.
    assert sorted(requests) == sorted(["/png", "/redirect?to=/canary", "/canary", "/huge"])
    assert "not a PNG, JPEG, GIF, WebP or SVG image" in done.stderr
    assert "larger than the 20 MB limit" in done.stderr
    docx = root / "output" / "manuscript.docx"
    assert docx.stat().st_size < 5 * 2**20
    with zipfile.ZipFile(docx) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    assert not any(CANARY in data for data in members.values())
    assert any(data == png() for name, data in members.items() if name.startswith("word/media/"))
    assert "remote image not in the image cache" in done.stderr  # the placeholders


def test_the_door_bounds_time_size_and_schemes() -> None:
    with HostileServer() as server:
        cases = [("/trickle/a", "took longer than 2 s", FetchError),
                 ("/trickle-headers", "could not be reached (no answer in time)", Unreachable),
                 ("/huge", "larger than the 20 MB limit", FetchError),
                 ("/huge-declared", "larger than the 20 MB limit (300 MB)", FetchError),
                 ("/redirect?to=ftp://127.0.0.1/x", "only http and https", FetchError),
                 ("/redirect?to=file:///etc/passwd", "only http and https", FetchError)]
        for route, message, kind in cases:
            door = Door(offline=False)  # a fresh one: a slow host is not asked twice
            start = time.monotonic()
            with pytest.raises(kind) as raised:
                door.fetch(server.url + route, max_bytes=20 * 2**20, timeout=2)
            assert message in raised.value.message
            assert time.monotonic() - start < 4.5, route
        door = Door(offline=False)
        answer = door.fetch(f"{server.url}/redirect?to=/redirect?to=/png",
                            max_bytes=2**20, timeout=5)
        assert answer.data == png() and answer.url.endswith("/png")
        assert door.probe(f"{server.url}/png", timeout=2) is None
        # Offline, the door refuses before any connection.
        with pytest.raises(FetchError, match="offline"):
            Door(offline=True).fetch(f"{server.url}/png", max_bytes=2**20, timeout=2)
        # A host that did not answer is not asked again in the run.
        door = Door(offline=False)
        with pytest.raises(Unreachable):
            door.fetch(f"{server.url}/silent", max_bytes=10, timeout=1)
        with pytest.raises(Unreachable, match="no answer in time"):
            door.fetch(f"{server.url}/png", max_bytes=2**20, timeout=5)
        assert server.silent["silent"] == 1 and server.requests.count("/png") == 2
