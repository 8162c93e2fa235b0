"""``manuscript serve``: a real server on 127.0.0.1 (port 0) over a copy of the manuscript."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT, copy_manuscript, serving
from manuscript import serve as serve_module
from manuscript.config import make_config
from manuscript.serve import Server, serve

TITLE = "Do Biomedical Tasks Require Biomedical Foundation Models?"
WORD = "Zyzzogeton4711"  # appears nowhere in the manuscript until a test adds it
BUILD_TIMEOUT = 30.0  # generous: a safety net against hangs, not a speed assertion


def get(port: int, path: str, timeout: float = BUILD_TIMEOUT) -> tuple[int, str]:
    """GET the raw ``path`` (http.client sends it as is: no dot-segment normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = copy_manuscript(ROOT, tmp_path_factory.mktemp("serve"))
    config = make_config(root, env={"MANUSCRIPT_OFFLINE": "1"}, pdf=False)
    server = Server(config, port=0)
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


def test_root_serves_the_manuscript_with_the_reload_script(server: Server) -> None:
    assert server.build_number == 1
    status, body = get(server.port, "/")
    assert status == 200
    assert TITLE in body
    assert "/__livereload?v=" in body and f"var v = {server.build_number};" in body
    assert body.index("/__livereload") < body.rindex("</body>")
    # Injected when serving only: the file on disk has no script.
    on_disk = (server.config.output_dir / "manuscript.html").read_text(encoding="utf-8")
    assert "__livereload" not in on_disk
    assert get(server.port, "/manuscript.html")[1] == body


def test_images_are_served_through_the_symlink(server: Server) -> None:
    status, body = get(server.port, "/images/orcid.svg")
    assert status == 200
    assert "<svg" in body


@pytest.mark.parametrize("path", [
    "/../content/metadata.yaml",
    "/images/../../content/metadata.yaml",
    "/%2e%2e/content/metadata.yaml",
    "/%2E%2E%2Fcontent%2Fmetadata.yaml",
    "/images/..%2f..%2fcontent%2fmetadata.yaml",
    "/images%2f..%2f..%2fcontent/metadata.yaml",
    "/..%5ccontent%5cmetadata.yaml",
    "/%252e%252e/content/metadata.yaml",
    "/.build-state.json",
    "/nonexistent.html",
])
def test_paths_outside_the_served_folder_are_404(server: Server, path: str) -> None:
    status, body = get(server.port, path)
    assert status == 404
    assert "title:" not in body


def test_livereload_blocks_until_timeout_without_a_change(
        server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_module, "LONG_POLL_SECONDS", 0.3)
    status, body = get(server.port, f"/__livereload?v={server.build_number}")
    assert (status, body) == (204, "")
    # An older number answers at once: the page is out of date.
    assert get(server.port, "/__livereload?v=0") == (200, f"{server.build_number}\n")
    assert get(server.port, "/__livereload?v=x")[0] == 400


def test_edit_rebuilds_a_failed_build_keeps_the_last_good_page(server: Server) -> None:
    content = server.config.content_dir
    before = server.build_number

    # An edit: a long poll started now returns once the rebuild is done.
    result: dict[str, tuple[int, str]] = {}
    poll = threading.Thread(target=lambda: result.update(
        r=get(server.port, f"/__livereload?v={before}")))
    poll.start()
    with (content / "02.introduction.md").open("a", encoding="utf-8") as f:
        f.write(f"\n\nA paragraph with the word {WORD}.\n")
    poll.join(BUILD_TIMEOUT)
    status, body = result["r"]
    assert status == 200 and int(body) > before
    after_edit = int(body)
    status, page = get(server.port, "/")
    assert status == 200 and WORD in page and f"var v = {after_edit};" in page

    # Broken YAML: the build fails, the last good page stays.
    metadata = content / "metadata.yaml"
    good = metadata.read_text(encoding="utf-8")
    attempts = server.build_attempts
    metadata.write_text("title: [unclosed\n  bad: : :\n", encoding="utf-8")
    assert server.wait_for_attempt(attempts, BUILD_TIMEOUT)
    assert server.last_error is not None and "metadata.yaml" in str(server.last_error)
    assert server.build_number == after_edit
    status, page = get(server.port, "/")
    assert status == 200 and WORD in page and TITLE in page

    # Fixed: the next change retries and succeeds.
    metadata.write_text(good, encoding="utf-8")
    status, body = get(server.port, f"/__livereload?v={after_edit}")
    assert status == 200 and int(body) > after_edit
    assert server.last_error is None
    assert WORD in get(server.port, "/")[1]


def test_serve_entry_point_sets_ready_and_stops(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    config = make_config(root, env={"MANUSCRIPT_OFFLINE": "1"}, pdf=False)
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=serve, args=(config,),
                              kwargs={"port": 0, "ready": ready, "stop": stop})
    thread.start()
    try:
        assert ready.wait(BUILD_TIMEOUT)
        assert (root / "output" / "manuscript.html").is_file()
    finally:
        stop.set()
        thread.join(BUILD_TIMEOUT)
    assert not thread.is_alive()


def test_pandoc_defaults_are_watched(server: Server) -> None:
    """rootstock's build/pandoc/defaults/*.yaml feed the html stage: an edit rebuilds."""
    defaults = server.config.root / "build" / "pandoc" / "defaults"
    assert defaults in server.watched()
    before = server.build_number
    defaults.mkdir(parents=True, exist_ok=True)
    (defaults / "html.yaml").write_text("variables:\n  lang-note: watched\n", encoding="utf-8")
    assert server.wait_for_build(before, BUILD_TIMEOUT) > before
    (defaults / "html.yaml").unlink()
    assert server.wait_for_build(before + 1, BUILD_TIMEOUT) > before + 1


def test_a_failed_build_reloads_the_page_with_its_error_then_clears(tmp_path: Path) -> None:
    """A page polling with its build and attempt learns of a failed build (and reloads to
    show the error over the previous build), and of the fix (and loses the error)."""
    root = copy_manuscript(ROOT, tmp_path)
    with serving(root) as server:
        status, page = get(server.port, "/")
        assert status == 200 and "manuscript-problems" not in page
        shown = (server.build_number, server.build_attempts)
        assert f"var a = {shown[1]};" in page
        metadata = root / "content" / "metadata.yaml"
        good = metadata.read_text(encoding="utf-8")
        metadata.write_text("title: [unclosed\n", encoding="utf-8")
        poll = f"/__livereload?v={shown[0]}&a={shown[1]}"
        assert get(server.port, poll) == (200, f"{shown[0]}\n")
        status, page = get(server.port, "/")
        assert status == 200 and TITLE in page  # the last good page…
        assert "The last build failed" in page and "metadata.yaml" in page  # …with why
        failed = server.build_attempts
        assert f"var a = {failed};" in page

        metadata.write_text(good, encoding="utf-8")
        status, body = get(server.port, f"/__livereload?v={shown[0]}&a={failed}")
        assert status == 200 and int(body) > shown[0]
        assert "manuscript-problems" not in get(server.port, "/")[1]


def test_without_a_good_build_the_root_explains_and_reloads_once_one_succeeds(
        tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path)
    metadata = root / "content" / "metadata.yaml"
    good = metadata.read_text(encoding="utf-8")
    metadata.write_text("title: [unclosed\n", encoding="utf-8")
    with serving(root) as server:
        assert server.build_number == 0 and server.last_error is not None
        status, page = get(server.port, "/")
        assert status == 503
        assert "No page yet" in page and "metadata.yaml" in page
        assert "var v = 0;" in page and "/__livereload" in page
        assert get(server.port, "/nonexistent.html")[0] == 404

        metadata.write_text(good, encoding="utf-8")
        assert get(server.port, f"/__livereload?v=0&a={server.build_attempts}")[0] == 200
        status, page = get(server.port, "/")
        assert status == 200 and TITLE in page and "No page yet" not in page


def test_an_edit_of_manuscript_toml_applies_without_a_restart(tmp_path: Path) -> None:
    """manuscript.toml is watched, so its edits count: here a template-variables file it
    names (itself watched from then on) supplies a word the content uses."""
    root = copy_manuscript(ROOT, tmp_path)
    section = root / "content" / "02.introduction.md"
    section.write_text(section.read_text(encoding="utf-8") + "\n\nThe word {{ serve_word }}.\n",
                       encoding="utf-8")
    variables = root / "words.json"
    variables.write_text(f'{{"serve_word": "{WORD}"}}', encoding="utf-8")
    with serving(root) as server:
        assert WORD not in get(server.port, "/")[1]  # serve_word is undefined
        before = server.build_number
        (root / "manuscript.toml").write_text('template-variables-path = ["words.json"]\n',
                                              encoding="utf-8")
        after_toml = server.wait_for_build(before, BUILD_TIMEOUT)
        assert after_toml > before
        assert WORD in get(server.port, "/")[1]
        assert variables in server.watched()

        variables.write_text('{"serve_word": "Quokkaphant"}', encoding="utf-8")
        assert server.wait_for_build(after_toml, BUILD_TIMEOUT) > after_toml
        assert "Quokkaphant" in get(server.port, "/")[1]

        attempts = server.build_attempts  # a broken manuscript.toml fails like any input
        (root / "manuscript.toml").write_text("strict = 'yes'\n", encoding="utf-8")
        assert server.wait_for_attempt(attempts, BUILD_TIMEOUT)
        assert "manuscript.toml" in str(server.last_error)
        assert "Quokkaphant" in get(server.port, "/")[1]


def get_as(port: int, path: str, host: str | None) -> int:
    """The status of GET ``path`` sent with this Host header (None: no Host at all)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=BUILD_TIMEOUT)
    try:
        conn.putrequest("GET", path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_only_local_names_and_addresses_are_served(server: Server) -> None:
    """DNS rebinding: attacker.example made to resolve to 127.0.0.1 reaches serve with
    its own name in Host; the draft (and the reload poll) must not be served to it."""
    port = server.port
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}",
                 f"[::1]:{port}"):
        assert get_as(port, "/", host) == 200, host
    for host in (f"attacker.example:{port}", f"localhost.attacker.example:{port}",
                 f"127.0.0.1.nip.io:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1",
                 "", None):
        assert get_as(port, "/", host) == 403, host
        assert get_as(port, "/__livereload?v=0", host) == 403, host


def test_the_name_serve_listens_on_is_served_too() -> None:
    from manuscript.serve.web import allowed_host

    assert allowed_host("my-laptop.local:8000", ("192.168.1.4", 8000), "my-laptop.local")
    assert not allowed_host("attacker.example:8000", ("192.168.1.4", 8000),
                            "my-laptop.local")
    assert allowed_host("192.168.1.4:8000", ("0.0.0.0", 8000), "0.0.0.0")
