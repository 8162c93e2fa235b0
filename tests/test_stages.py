"""The stage cache: skipped stages repeat their warnings and never trust a changed output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import clean_env, run_manuscript

WARNING = "unknown cross-reference @fig:nope"


def tiny_manuscript(root: Path, text: str = "Text citing @fig:nope here.") -> Path:
    """The smallest Manubot manuscript: metadata, one section, one image."""
    content = root / "content"
    (content / "images").mkdir(parents=True)
    (content / "metadata.yaml").write_text("title: Tiny\nlang: en-US\nauthors: []\n",
                                           encoding="utf-8")
    (content / "01.one.md").write_text(f"## One\n\n{text}\n\n![A dot.](images/dot.svg)\n",
                                       encoding="utf-8")
    (content / "images" / "dot.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>', encoding="utf-8")
    return root


def build(root: Path, *args: str) -> tuple[int, str]:
    completed = run_manuscript(root, "build", *args, check=False,
                               env=clean_env(SOURCE_DATE_EPOCH="1700000000"))
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed.returncode, completed.stderr


def skipped(stderr: str) -> set[str]:
    return {line.split()[0] for line in stderr.splitlines() if "(unchanged, skipped)" in line}


def test_strict_gives_the_same_verdict_on_every_build(tmp_path: Path) -> None:
    root = tiny_manuscript(tmp_path)
    code, stderr = build(root, "--strict", "--no-pdf")
    assert code == 1 and WARNING in stderr and "--strict" in stderr
    assert not (root / "output" / "manuscript.html").exists()  # nothing written

    code, stderr = build(root, "--no-pdf")
    assert code == 0 and stderr.count(WARNING) == 1
    html = (root / "output" / "manuscript.html").read_bytes()

    code, stderr = build(root, "--strict", "--no-pdf")
    assert skipped(stderr) == {"process", "cite", "html"}  # the verdict comes from the cache
    assert code == 1 and stderr.count(WARNING) == 1
    # The replayed warning keeps its place, for GitHub annotations and editors.
    assert f"content/01.one.md:3: {WARNING}" in stderr

    code, stderr = build(root, "--no-pdf")
    assert code == 0 and stderr.count(WARNING) == 1 and "html" in skipped(stderr)
    assert (root / "output" / "manuscript.html").read_bytes() == html

    # Fixed: the warning is gone for good, and --strict passes.
    (root / "content" / "01.one.md").write_text("## One\n\nFine.\n", encoding="utf-8")
    code, stderr = build(root, "--strict", "--no-pdf")
    assert code == 0 and WARNING not in stderr
    code, stderr = build(root, "--strict", "--no-pdf")
    assert code == 0 and WARNING not in stderr and "html" in skipped(stderr)


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tiny_manuscript(tmp_path_factory.mktemp("tiny"), "No problems here.")
    code, stderr = build(root)
    assert code == 0, stderr
    return root


@pytest.fixture
def built(built_once: Path, tmp_path: Path) -> Path:
    """A copy of a good build (cp -a keeps the website's hard links)."""
    subprocess.run(["cp", "-a", str(built_once), str(tmp_path / "ms")], check=True)
    return tmp_path / "ms"


@pytest.mark.parametrize(("name", "stage", "damage"), [
    ("manuscript.html", "html", lambda p: p.write_bytes(p.read_bytes().replace(b"Tiny", b"Tinx"))),
    ("manuscript.html", "html", lambda p: p.unlink()),
    ("manuscript.pdf", "pdf", lambda p: p.write_bytes(p.read_bytes()[:100])),
    ("references.json", "cite", lambda p: p.write_text("{", encoding="utf-8")),
    ("citations.tsv", "cite", lambda p: p.write_text("garbage\n", encoding="utf-8")),
    ("variables.json", "process", lambda p: p.write_text("[]", encoding="utf-8")),
    ("manuscript.md", "process", lambda p: p.write_bytes(b"\xff\xfe")),
], ids=["edited-html", "deleted-html", "truncated-pdf", "bad-references", "bad-tsv",
        "variables-wrong-shape", "md-not-utf8"])
def test_a_changed_output_is_rebuilt_not_reused(built: Path, name: str, stage: str,
                                                damage) -> None:
    output = built / "output"
    good = (output / name).read_bytes()
    site_page = (built / "webpage" / "index.html").read_bytes()
    damage(output / name)
    code, stderr = build(built)
    assert code == 0, stderr
    assert stage not in skipped(stderr), stderr
    assert (output / name).read_bytes() == good
    # The website never published the damaged file.
    assert (built / "webpage" / "index.html").read_bytes() == site_page


@pytest.mark.parametrize("state", [b"{not json", b"[]", b'{"format": 2, "stages": {"html": 1}}',
                                   b"\x00" * 10])
def test_a_corrupt_state_file_is_no_state(built: Path, state: bytes) -> None:
    before = {p.name: p.read_bytes() for p in (built / "output").iterdir() if p.is_file()}
    (built / "output" / ".build-state.json").write_bytes(state)
    code, stderr = build(built)
    assert code == 0, stderr
    assert skipped(stderr) == set()
    after = {p.name: p.read_bytes() for p in (built / "output").iterdir() if p.is_file()}
    assert after == before  # the same build again, and a valid state file once more
    assert json.loads(after[".build-state.json"])["format"] == 2


def test_state_records_digests_and_warnings(tmp_path: Path) -> None:
    root = tiny_manuscript(tmp_path)
    assert build(root, "--no-pdf")[0] == 0
    state = json.loads((root / "output" / ".build-state.json").read_text(encoding="utf-8"))
    html = state["stages"]["html"]
    import hashlib

    digest = hashlib.sha256((root / "output" / "manuscript.html").read_bytes()).hexdigest()
    assert html["outputs"] == {"manuscript.html": digest}
    [warning] = html["warnings"]
    assert warning["message"].endswith(WARNING)
    assert warning["file"].endswith("content/01.one.md") and warning["line"] == 3


def test_a_prose_edit_a_second_later_looks_no_citation_up_again(tmp_path: Path) -> None:
    """The page's <meta> block carries the build time to the second; cite does not read
    it, so a later build of edited prose reuses the resolved references."""
    root = tiny_manuscript(tmp_path, "Text.")
    first = run_manuscript(root, "build", "--no-pdf", env=clean_env(SOURCE_DATE_EPOCH="1700000000"))
    assert "cite" not in skipped(first.stderr)
    (root / "content" / "01.one.md").write_text("## One\n\nOther text.\n", encoding="utf-8")
    later = run_manuscript(root, "build", "--no-pdf", env=clean_env(SOURCE_DATE_EPOCH="1700000007"))
    assert "process" not in skipped(later.stderr) and "cite" in skipped(later.stderr)
    assert "2023-11-14T22:13:27" in (root / "output" / "manuscript.html").read_text()


def test_a_parse_warning_is_logged_once_per_build_whoever_parses(tmp_path: Path) -> None:
    """pandoc's warnings while parsing belong to the Markdown, not to the stage that
    happened to parse it: once per build, whether cite, html or no stage parsed."""
    root = tiny_manuscript(tmp_path)
    (root / "content" / "01.one.md").write_text(
        "## One\n\nSee [a].\n\n[a]: https://x.example\n[a]: https://y.example\n",
        encoding="utf-8")
    duplicate = "Duplicate link reference '[a]'"
    code, stderr = build(root, "--no-pdf")  # cite parses
    assert code == 0 and stderr.count(duplicate) == 1
    code, stderr = build(root, "--no-pdf")  # nobody parses
    assert skipped(stderr) == {"process", "cite", "html"} and stderr.count(duplicate) == 1
    theme = root / "build" / "theme" / "css"
    theme.mkdir(parents=True)
    (theme / "extra.css").write_text("p { margin: 0 }\n", encoding="utf-8")
    code, stderr = build(root, "--no-pdf")  # html parses, cite is skipped
    assert "html" not in skipped(stderr) and "cite" in skipped(stderr)
    assert stderr.count(duplicate) == 1
    code, stderr = build(root, "--no-pdf", "--strict")
    assert code == 1 and stderr.count(duplicate) == 1
