"""GitHub annotations cannot be forged by a file name: each is one line, its properties
escaped as GitHub's runner reads them (``%0A``, ``%2C``, ``%3A``)."""

from __future__ import annotations

from pathlib import Path

from helpers import SEED_ENV, clean_env, run_manuscript
from manuscript.log import annotation


def test_properties_and_message_are_escaped() -> None:
    line = annotation("warning", "content/02.a,line=1\n::error::x.md", 3, 2,
                      "50% done\r\n::error::forged")
    assert line == ("::warning file=content/02.a%2Cline=1%0A%3A%3Aerror%3A%3Ax.md,line=3,"
                    "col=2::50%25 done%0D%0A::error::forged\n")
    assert line.count("\n") == 1


def test_a_section_name_forges_no_annotation(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "metadata.yaml").write_text("title: T\n", encoding="utf-8")
    name = "02.a,line=77,title=Forged\n::error file=x.md,line=1::forged.md"
    (content / name).write_text("## Intro\n\nSee @fig:missing.\n", encoding="utf-8")
    completed = run_manuscript(tmp_path, "build", "--no-pdf",
                               env=clean_env(GITHUB_ACTIONS="true", **{
                                   k: v for k, v in SEED_ENV.items() if k != "GITHUB_ACTIONS"}))
    commands = [line for line in completed.stdout.splitlines() if line.startswith("::")]
    assert commands, completed.stdout + completed.stderr
    assert not [line for line in commands if line.startswith("::error")], commands
    ours = [line for line in commands if "fig:missing" in line]
    assert len(ours) == 1, commands
    properties = ours[0].split(" ", 1)[1].split("::", 1)[0]
    assert properties == ("file=content/02.a%2Cline=77%2Ctitle=Forged%0A%3A%3Aerror file=x.md"
                          "%2Cline=1%3A%3Aforged.md,line=3"), ours[0]


def test_check_annotates_a_file_whose_name_holds_a_colon(tmp_path: Path) -> None:
    content = tmp_path / "content"
    content.mkdir()
    (content / "metadata.yaml").write_text("title: T\n", encoding="utf-8")
    (content / "02.a:b,c.md").write_text("## Intro\n\nSee @fig:missing.\n", encoding="utf-8")
    completed = run_manuscript(tmp_path, "check", env=clean_env(**SEED_ENV), check=False)
    commands = [line for line in completed.stdout.splitlines() if line.startswith("::")]
    assert any(line.startswith("::error file=content/02.a%3Ab%2Cc.md,line=3,col=5::")
               for line in commands), completed.stdout
