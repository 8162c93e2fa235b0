"""Progress on a terminal, -q, and the closing summary of a build.

The terminal is a real pseudo-terminal (``os.openpty``): the build runs as a user would
run it, and what it wrote is replayed through a small model of a terminal (carriage
return, erase line) to get the lines a user is left with on screen. In a pipe, as in
CI and every other test, the output must stay the plain lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pypandoc
import pytest
from pypdf import PdfReader

from citation_server import CitationServer, json_reply, script_side_services
from helpers import ROOT, SEED_ENV, clean_env, copy_manuscript, run_manuscript
from manuscript.progress import Progress

SHOWCASE = ROOT / "tests" / "fixtures" / "showcase"
ERASE = "\x1b[2K"
SUMMARY = re.compile(r"^built output in \d+\.\d\d s: (.*)$", re.M)


def run_in_terminal(root: Path, *args: str, env: dict[str, str], columns: int = 100,
                    term: str = "xterm-256color") -> tuple[int, str]:
    """``manuscript -C root ARGS`` with stdout and stderr on a pseudo-terminal."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "manuscript", "-C", str(root), *args],
                               stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                               env={**env, "TERM": term})
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return process.wait(timeout=120), b"".join(chunks).decode("utf-8")


def screen(raw: str) -> list[str]:
    """The lines left on a terminal after ``raw``: \\r returns, ERASE empties the line."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    position = 0
    while position < len(raw):
        if raw.startswith(ERASE, position):
            line = [" "] * column
            position += len(ERASE)
            continue
        char = raw[position]
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line).rstrip())
            line, column = [], 0
        else:
            line[column:column + 1] = [char]
            column += 1
        position += 1
    if "".join(line).strip():
        lines.append("".join(line).rstrip())
    return lines


def without_times(lines: list[str]) -> list[str]:
    return [re.sub(r" +\d+\.\d\d s", " N s", line) for line in lines]  # widths vary too


def showcase(tmp_path: Path, name: str) -> Path:
    return copy_manuscript(SHOWCASE, tmp_path / name)


# ------------------------------------------------------------------ the status line


def test_terminal_shows_stages_and_pdf_pages_and_leaves_the_plain_lines(
        tmp_path: Path) -> None:
    piped = run_manuscript(showcase(tmp_path, "piped"), "build", "--offline")
    code, raw = run_in_terminal(showcase(tmp_path, "tty"), "build", "--offline",
                                env=clean_env())
    assert code == 0, raw
    pages = len(PdfReader(tmp_path / "tty" / "output" / "manuscript.pdf").pages)
    # The status line: each stage by name, and every page WeasyPrint laid out.
    statuses = [part.split("\r")[0] for part in raw.split(ERASE)[1:]]
    for stage in ("process", "cite", "html", "pdf", "webpage", "write"):
        assert any(re.search(rf"^\S  {stage}  ", status) for status in statuses), stage
    shown_pages = {int(m) for s in statuses for m in re.findall(r"^\S  pdf  page (\d+)", s)}
    assert shown_pages == set(range(1, pages + 1))
    # ... is gone when the build ends, and no log line was garbled by it.
    assert without_times(screen(raw)) == without_times(piped.stderr.splitlines())


def test_citation_lookups_count_on_a_terminal(tmp_path: Path) -> None:
    root = tmp_path / "m"
    content = root / "content"
    content.mkdir(parents=True)
    (content / "metadata.yaml").write_text('title: "Lookups"\nlang: en-US\nauthors: []\n')
    dois = [f"10.5555/progress.{n}" for n in range(1, 4)]
    (content / "01.text.md").write_text(
        "## Text\n\n" + " ".join(f"Claim [@doi:{doi}]." for doi in dois) + "\n")
    (content / "90.back-matter.md").write_text('## References\n\n<div id="refs"></div>\n')
    with CitationServer(latency=0.2) as server:
        script_side_services(server)
        for doi in dois:
            server.script(f"/doi.org/{doi}", json_reply(
                {"type": "article", "title": f"Paper {doi}", "DOI": doi,
                 "issued": {"date-parts": [[2020]]}}))
        env = clean_env(MANUSCRIPT_OFFLINE="0", MANUSCRIPT_TEST_CITATION_SERVER=server.url)
        code, raw = run_in_terminal(root, "build", "--no-pdf", env=env)
    assert code == 0, raw
    counts = re.findall(r"cite  (\d)/(\d) references", raw)
    assert ("0", "3") in counts and ("3", "3") in counts, raw
    assert [done for done, _ in counts] == sorted(done for done, _ in counts)


@pytest.mark.parametrize("how", ["-q", "GITHUB_ACTIONS", "TERM=dumb"])
def test_no_status_line_when_quiet_in_ci_or_on_a_dumb_terminal(tmp_path: Path,
                                                                how: str) -> None:
    root = showcase(tmp_path, "m")
    run_manuscript(root, "build", "--offline", "--no-pdf")
    args = ["-q"] if how == "-q" else []
    env = clean_env(**(SEED_ENV if how == "GITHUB_ACTIONS" else {}))
    term = "dumb" if how == "TERM=dumb" else "xterm-256color"
    code, raw = run_in_terminal(root, *args, "build", "--offline", "--no-pdf", env=env,
                                term=term)
    assert code == 0, raw
    assert ERASE not in raw and "\x1b" not in raw


def test_a_pipe_gets_plain_lines_only(tmp_path: Path) -> None:
    completed = run_manuscript(showcase(tmp_path, "m"), "build", "--offline", "--no-pdf")
    assert "\r" not in completed.stderr and "\x1b" not in completed.stderr
    stages = [line.split()[0] for line in completed.stderr.splitlines()
              if re.match(r"^\w+ +\d+\.\d\d s$", line)]
    assert stages == ["process", "parse", "cite", "html", "webpage", "write"]
    assert SUMMARY.match(completed.stderr.splitlines()[-1])


def test_progress_is_for_terminals_only() -> None:
    master, slave = os.openpty()
    with open(slave, "w", encoding="utf-8") as tty, open(os.devnull, "w") as pipe:
        env = {"TERM": "xterm"}
        assert Progress.for_terminal(tty, quiet=False, github_actions=False, env=env).enabled
        assert not Progress.for_terminal(pipe, quiet=False, github_actions=False,
                                         env=env).enabled
        assert not Progress.for_terminal(tty, quiet=True, github_actions=False,
                                         env=env).enabled
        assert not Progress.for_terminal(tty, quiet=False, github_actions=True,
                                         env=env).enabled
        assert not Progress.for_terminal(tty, quiet=False, github_actions=False,
                                         env={"TERM": "dumb"}).enabled
    os.close(master)


# ------------------------------------------------------------------ -q


def test_quiet_prints_the_warnings_and_nothing_else(tmp_path: Path) -> None:
    loud = run_manuscript(showcase(tmp_path, "loud"), "build", "--offline", "--no-pdf")
    quiet = run_manuscript(showcase(tmp_path, "quiet"), "-q", "build", "--offline",
                           "--no-pdf")
    warnings = [line for line in loud.stderr.splitlines() if line.startswith("warning:")]
    assert warnings  # the showcase has missing images on purpose
    assert quiet.stderr.splitlines() == warnings
    assert quiet.stdout == ""


def test_quiet_init_writes_the_manuscript_and_says_nothing(tmp_path: Path) -> None:
    loud = run_manuscript(tmp_path, "init", "loud")
    quiet = run_manuscript(tmp_path, "-q", "init", "quiet")
    assert "Next:" in loud.stdout  # the report -q leaves out
    assert quiet.stdout == "" and quiet.stderr == ""
    written = sorted(p.relative_to(tmp_path / "loud") for p in (tmp_path / "loud").rglob("*"))
    assert written and written == sorted(
        p.relative_to(tmp_path / "quiet") for p in (tmp_path / "quiet").rglob("*"))


# ------------------------------------------------------------------ the summary


def _counts(stderr: str) -> dict[str, int]:
    line = SUMMARY.findall(stderr)
    assert len(line) == 1, stderr
    return {noun.rstrip("s"): int(number.replace(",", ""))
            for number, noun in re.findall(r"(\d[\d,]*) ((?:PDF )?\w+)", line[0])}


_MATH_ENVIRONMENT = re.compile(r"\s*\\begin\{(align|equation|gather|multline|eqnarray)\*?\}")


def _source_counts(root: Path) -> dict[str, int]:
    """Figures, tables, display equations and cited works, from pandoc's own reading of
    the sources (not from anything the build wrote)."""
    markdown = "\n\n".join(path.read_text(encoding="utf-8")
                           for path in sorted((root / "content").glob("[0-9]*.md")))
    ast = json.loads(pypandoc.convert_text(markdown, "json", format="markdown"))
    found = {"Figure": 0, "Table": 0, "Math": 0}
    cited: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("t") in ("Figure", "Table"):
                found[node["t"]] += 1
            if node.get("t") == "Math" and node["c"][0]["t"] == "DisplayMath":
                found["Math"] += 1
            # A LaTeX math environment without $$ is display math too, as pandoc's HTML
            # writer shows it (the showcase has one).
            if node.get("t") in ("RawBlock", "RawInline") and node["c"][0] in ("tex", "latex") \
                    and _MATH_ENVIRONMENT.match(node["c"][1]):
                found["Math"] += 1
            if node.get("t") == "Cite":
                cited.update(c["citationId"] for c in node["c"][0]
                             if not re.match(r"(fig|tbl|eq):", c["citationId"]))
            walk(node.get("c"))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(ast["blocks"])
    return {"figure": found["Figure"], "table": found["Table"],
            "equation": found["Math"], "citation": len(cited)}


def test_summary_counts_what_the_sources_hold_cold_and_warm(tmp_path: Path) -> None:
    root = showcase(tmp_path, "m")
    cold = _counts(run_manuscript(root, "build", "--offline").stderr)
    expected = _source_counts(root)
    assert expected["figure"] and expected["table"] and expected["equation"]
    assert {noun: cold[noun] for noun in expected} == expected
    assert cold["PDF page"] == len(PdfReader(root / "output" / "manuscript.pdf").pages)
    assert cold["citation"] == len(json.loads(
        (root / "output" / "references.json").read_text(encoding="utf-8")))
    warm = run_manuscript(root, "build", "--offline")
    assert warm.stderr.count("(unchanged, skipped)") >= 4  # nothing ran again...
    assert _counts(warm.stderr) == cold  # ...and the numbers are the same
    no_pdf = _counts(run_manuscript(root, "build", "--offline", "--no-pdf").stderr)
    assert "PDF page" not in no_pdf and no_pdf == {k: v for k, v in cold.items()
                                                   if k != "PDF page"}


def test_summary_words_grow_by_the_words_written(tmp_path: Path) -> None:
    root = showcase(tmp_path, "m")
    before = _counts(run_manuscript(root, "build", "--offline", "--no-pdf").stderr)
    heading = "A section added"
    sentence = "Twelve plain words, written here, should raise the count by twelve exactly."
    # Math and a citation are not words.
    text = f"## {heading}\n\n{sentence} $x^2$ [@raw:ref-02]\n\n$$ y = 1 $$\n"
    (root / "content" / "40.added.md").write_text(text, encoding="utf-8")
    after = _counts(run_manuscript(root, "build", "--offline", "--no-pdf").stderr)
    assert after["word"] - before["word"] == len(heading.split()) + len(sentence.split())
    assert after["figure"] == before["figure"]
    assert after["equation"] == before["equation"] + 1
    assert after["citation"] == before["citation"]  # ref-02 was cited already
