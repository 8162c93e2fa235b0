"""Hostile input executes nothing and leaks nothing (the bad-input table has the rest).

Each test builds a copy of the bundled manuscript with one hostile addition and checks
the outcome itself: no command ran, no file from outside the manuscript is in the PDF
(its embedded files and every decompressed stream are inspected with pypdf), a link
out of the manuscript is refused, a YAML bomb is refused, pandoc is stopped.
"""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader
from pypdf.generic import IndirectObject, StreamObject

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from localserver import serve_folder
from manuscript import yamlfile
from manuscript.config import make_config
from manuscript.errors import ConfigError
from manuscript.serve import Server

CANARY = "manuscript-canary-5f1d0c7e"  # a "CI token" in the build's environment


@pytest.fixture(scope="module")
def good_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("safety-good"))
    run_manuscript(root, "build")
    return root


@pytest.fixture
def manuscript(good_build: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ms"
    shutil.copytree(good_build, root, symlinks=True)
    return root


def add_section(root: Path, text: str) -> Path:
    path = root / "content" / "05.hostile.md"
    path.write_text(f"## Hostile\n\n{text}\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- templates


def test_jinja_payload_runs_in_no_command(manuscript: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    add_section(manuscript, "{{ cycler.__init__.__globals__.os.popen("
                f"'touch {marker}').read() }}}}")
    for command in ("build", "check"):
        completed = run_manuscript(manuscript, command, check=False)
        assert completed.returncode == 1, completed.stderr
        assert "05.hostile.md:3: Jinja2 template refused" in completed.stderr
        assert not marker.exists(), f"manuscript {command} ran the payload"
    # serve builds in-process, through the same process stage
    server = Server(make_config(manuscript, env={"MANUSCRIPT_OFFLINE": "1"}, pdf=False),
                    port=0)
    try:
        assert server.rebuild() is False
        assert "Jinja2 template refused" in str(server.last_error)
    finally:
        server.httpd.server_close()
    assert not marker.exists(), "manuscript serve ran the payload"


def test_sandbox_keeps_what_manuscripts_write(manuscript: Path) -> None:
    add_section(manuscript, "{% set n = [] %}{% do n.append(manubot.authors|length) %}"
                "{% for a in manubot.authors %}{% if loop.first %}{% continue %}{% endif %}"
                "{{ a.name|upper }};{% endfor %} n={{ n[0] }} {{ '%03d' % 7 }} "
                "{{ 'x' * 3 }} {{ '{}-{}'.format(1, 2) }}")
    run_manuscript(manuscript, "build", "--no-pdf")
    markdown = (manuscript / "output" / "manuscript.md").read_text(encoding="utf-8")
    assert "ZHIYUAN LI;BEN LENGERICH; n=3 007 xxx 1-2" in markdown


# ---------------------------------------------------------------- the PDF


def _pdf_leaks(path: Path, secrets: list[bytes]) -> list[str]:
    """Embedded files and file-attachment annotations, and any secret found in any
    stream once decompressed (attachments are Flate-compressed, so raw bytes hide them)."""
    reader = PdfReader(path)
    found = []
    if "/EmbeddedFiles" in reader.trailer["/Root"].get("/Names", {}):
        found.append("/EmbeddedFiles")
    for page in reader.pages:
        for annotation in page.get("/Annots") or []:
            if annotation.get_object().get("/Subtype") == "/FileAttachment":
                found.append("/FileAttachment")
    numbers = [(number, generation) for generation, entries in reader.xref.items()
               for number in entries]
    numbers += [(number, 0) for number in reader.xref_objStm]
    data = [path.read_bytes()]
    for number, generation in numbers:
        obj = reader.get_object(IndirectObject(number, generation, reader))
        if isinstance(obj, StreamObject):
            data.append(obj.get_data())
    for secret in secrets:
        if any(secret in chunk for chunk in data):
            found.append(secret.decode())
    return found


def test_no_local_file_reaches_the_pdf(manuscript: Path) -> None:
    inside = manuscript / "content" / "manual-references.json"
    add_section(manuscript, "\n\n".join([
        '<a rel="attachment" href="file:///proc/self/environ">env</a>',
        '<a rel="attachment" href="file:///etc/passwd">passwd</a>',
        '<link rel="attachment" href="/proc/self/environ">',
        f'<a rel="attachment" href="{inside.as_uri()}">inside the manuscript</a>',
        '<img src="file:///proc/self/environ" alt="environ">',
        "![passwd](../../../../../../../../../../../etc/passwd)",
    ]))
    completed = run_manuscript(manuscript, "build", env=clean_env(MANUSCRIPT_CANARY=CANARY))
    pdf = manuscript / "output" / "manuscript.pdf"
    first_user = Path("/etc/passwd").read_text(encoding="utf-8").splitlines()[0]
    assert _pdf_leaks(pdf, [CANARY.encode(), first_user.encode()]) == []
    assert completed.stderr.count("link not attached to the PDF") == 4
    # the place named is where that URL is first written in the Markdown
    assert "05.hostile.md:3: file not read for the PDF (outside the manuscript folder): " \
        "file:///proc/self/environ" in completed.stderr
    assert "05.hostile.md:5: file not read for the PDF (outside the manuscript folder): " \
        "file:///etc/passwd" in completed.stderr
    # the check itself can see an attachment: WeasyPrint run directly does attach
    from weasyprint import HTML
    leaky = manuscript / "leaky.pdf"
    HTML(string=f'<a rel="attachment" href="{inside.as_uri()}">x</a>').write_pdf(leaky)
    assert "/FileAttachment" in _pdf_leaks(leaky, [])


# ---------------------------------------------------------------- links


def test_links_inside_the_manuscript_still_work(manuscript: Path) -> None:
    images = manuscript / "content" / "images"
    (images / "alias.svg").symlink_to("orcid.svg")
    add_section(manuscript, "![An alias](images/alias.svg)")
    run_manuscript(manuscript, "build")
    published = manuscript / "webpage" / "images" / "alias.svg"
    assert published.read_bytes() == (images / "orcid.svg").read_bytes()


def test_link_out_of_the_manuscript_writes_nothing(manuscript: Path) -> None:
    (manuscript / "content" / "images" / "env.txt").symlink_to("/proc/self/environ")
    add_section(manuscript, "New text that would change every output.")
    before = sorted(p.relative_to(manuscript) for p in (manuscript / "webpage").rglob("*"))
    completed = run_manuscript(manuscript, "build", check=False,
                               env=clean_env(MANUSCRIPT_CANARY=CANARY))
    assert completed.returncode == 1
    assert "images/env.txt: symbolic link to" in completed.stderr
    assert sorted(p.relative_to(manuscript)
                  for p in (manuscript / "webpage").rglob("*")) == before
    assert "New text" not in (manuscript / "output" / "manuscript.md").read_text()


# ---------------------------------------------------------------- bounds


def test_alias_bomb_is_refused_and_fair_aliases_are_not(tmp_path: Path) -> None:
    laughs = "a: &a [" + ",".join(['"lol"'] * 9) + "]\n" + "".join(
        f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n"
        for p, c in zip("abcdefghi", "bcdefghij", strict=True))  # 9**10 values
    with pytest.raises(ConfigError, match="aliases are expanded"):
        yamlfile.loads(laughs, tmp_path / "m.yaml")
    shared = yamlfile.loads("uw: &uw [University of Wisconsin]\nauthors:\n"
                            "  - {name: A, affiliations: *uw}\n", tmp_path / "m.yaml")
    assert shared.data["authors"][0]["affiliations"] == ["University of Wisconsin"]
    assert shared.line("authors", 0, "name") == 3


def test_pandoc_is_stopped_at_its_time_limit(manuscript: Path) -> None:
    # Made by the template, so the check of the section's own text cannot see it.
    add_section(manuscript, "{{ '[' * 40 }}x")
    completed = run_manuscript(manuscript, "build", check=False,
                               env=clean_env(MANUSCRIPT_PANDOC_TIMEOUT="1"))
    assert completed.returncode == 1
    assert "pandoc did not finish within 1 s and was stopped" in completed.stderr
    assert "Traceback" not in completed.stderr


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; counts them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.socket.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def test_a_host_that_never_answers_is_tried_once(manuscript: Path,
                                                 silent_server: SilentServer) -> None:
    """Markdown images are fetched by the HTML stage (images.py), raw HTML ones by the
    PDF's fetcher, both through the run's one door (network.py): the host is asked once
    in the whole build, and said unreachable in one line besides each image's warning."""
    base = f"http://127.0.0.1:{silent_server.port}"
    markdown = [f"![image {n}]({base}/{n}.png)" for n in range(10)]
    raw = [f'<img src="{base}/raw{n}.png" alt="raw {n}">' for n in range(10)]
    add_section(manuscript, "\n\n".join(markdown + raw))
    env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_REMOTE_TIMEOUT="1",
                    MANUSCRIPT_REMOTE_BUDGET="5", NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(proxy, None)
    completed = run_manuscript(manuscript, "build", env=env)
    host = f"127.0.0.1:{silent_server.port}"
    assert len(silent_server.accepted) == 1, completed.stderr
    # Each image's warning (the Markdown ones from the HTML stage and the PDF, the raw
    # ones from the PDF) says why, and one line says it of the host.
    assert completed.stderr.count(f"{host} could not be reached (no answer in time)") == 31
    assert completed.stderr.count(f"network: {host} could not be reached") == 1
    assert "05.hostile.md:23: remote image not included in the PDF" in completed.stderr


# ---------------------------------------------------------------- format workers

LOOP = "```{=typst}\n#for i in range(100000) { for j in range(100000) { } }\n```"


def _processes_naming(text: str) -> list[int]:
    """Pids whose command line holds ``text`` (a /proc scan: no psutil)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # ended meanwhile
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc")
def test_a_killed_build_leaves_no_worker_and_no_secret(manuscript: Path,
                                                       tmp_path: Path) -> None:
    """SIGKILL of the build (CI cancelling a job): its format worker ends too, though
    it was busy in Typst, and neither its job file nor its environment held the
    build's environment (a token)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    add_section(manuscript, LOOP)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = clean_env(TMPDIR=str(scratch), SECRET_TOKEN=CANARY)
    build = subprocess.Popen([sys.executable, "-m", "manuscript", "-C", str(manuscript),
                              "build", "--pdf-engine", "typst"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while not workers and time.monotonic() < deadline:
            time.sleep(0.1)
            folders = list(scratch.glob("manuscript-worker-*"))
            workers = [pid for folder in folders for pid in _processes_naming(str(folder))]
        assert workers, "the build started no worker"
        folder = next(scratch.glob("manuscript-worker-*"))
        assert CANARY.encode() not in (folder / "job.pickle").read_bytes()
        for pid in workers:
            assert CANARY.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
    finally:
        build.send_signal(signal.SIGKILL)
        build.wait()
    deadline = time.monotonic() + 5
    while _processes_naming(str(folder)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _processes_naming(str(folder))
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, "the worker outlived the build"
    assert not folder.exists(), "the worker's job was left in the temporary folder"


def test_a_read_only_image_cache_is_a_clear_error(manuscript: Path, tmp_path: Path) -> None:
    """A remote image fetched into a ci/cache/images that cannot be written (chattr +i:
    even root cannot write there): a clear error naming the folder, not a traceback."""
    import subprocess

    from PIL import Image

    served = tmp_path / "served"
    served.mkdir()
    Image.new("RGB", (4, 4), "red").save(served / "red.png")
    images = manuscript / "ci" / "cache" / "images"
    images.mkdir(parents=True)
    locked = subprocess.run(["chattr", "+i", str(images)], capture_output=True, text=True,
                            check=False)
    if locked.returncode:
        pytest.skip(f"cannot make a read-only folder here: {locked.stderr.strip()}")
    try:
        with serve_folder(served) as base:
            add_section(manuscript, f"![red]({base}/red.png)")
            env = clean_env(MANUSCRIPT_OFFLINE="0", NO_PROXY="127.0.0.1",
                            no_proxy="127.0.0.1")
            for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                          "ALL_PROXY"):
                env.pop(proxy, None)
            completed = run_manuscript(manuscript, "build", "--no-pdf", env=env, check=False)
    finally:
        subprocess.run(["chattr", "-i", str(images)], check=False)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    assert "ci/cache/images: cannot write the cache of remote images" in completed.stderr


def test_the_link_cache_in_any_shape_is_rebuilt(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """``check --links`` reads ci/cache/links.json before asking the network (which the
    tests never do): nesting 100,000 deep, garbage or a folder is a warning, no entry."""
    from datetime import date

    from manuscript.checks import links

    for name, content in (("deep", "[" * 100_000 + "]" * 100_000), ("garbage", "\x00{"),
                          ("folder", None)):
        path = tmp_path / name / "links.json"
        path.parent.mkdir()
        if content is None:
            path.mkdir()
        else:
            path.write_text(content, encoding="utf-8")
        caplog.clear()
        assert links._Cache.load(path, date.today()).entries == {}
        assert [r.message for r in caplog.records
                if "unreadable" in r.message and "links are checked again" in r.message]
