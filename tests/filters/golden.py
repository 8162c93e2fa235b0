"""Golden tests for the pandoc Lua filters in build/manuscript/data/filters.

Each case is ``tests/filters/<filter>/<case>.md`` beside the expected HTML
fragment ``<case>.html``; a case may also have ``<case>.stderr`` holding the
filter's expected warnings (one per line, without pandoc's location prefix).
The case is run through

    pandoc <case>.md --from=markdown --to=html5 --mathml
           --lua-filter=build/manuscript/data/filters/<filter>.lua

Usage:
    python tests/filters/golden.py [--update] [FILTER ...]

Without --update, prints a unified diff for every case that differs and exits
1. With --update, rewrites the expected files from the current output.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CASES_DIR = REPO / "tests" / "filters"
FILTERS_DIR = REPO / "build" / "manuscript" / "data" / "filters"

# pandoc.log.warn() output: "[WARNING] Scripting warning at FILE line N column M: MESSAGE".
# The location is that of the filter's own source, so it is stripped.
_LUA_WARNING = re.compile(r"^\[WARNING\] Scripting warning at .*? line \d+ column \d+: (.*)$")
_PLAIN_WARNING = re.compile(r"^\[WARNING\] (.*)$")


@dataclass(frozen=True)
class Case:
    filter_name: str
    source: Path

    @property
    def name(self) -> str:
        return f"{self.filter_name}/{self.source.stem}"

    @property
    def expected_html(self) -> Path:
        return self.source.with_suffix(".html")

    @property
    def expected_stderr(self) -> Path:
        return self.source.with_suffix(".stderr")

    @property
    def filter_path(self) -> Path:
        return FILTERS_DIR / f"{self.filter_name}.lua"


def pandoc_path() -> str:
    """The pandoc binary: $PANDOC, pypandoc's bundled binary, or pandoc on PATH."""
    if os.environ.get("PANDOC"):
        return os.environ["PANDOC"]
    try:
        import pypandoc

        return pypandoc.get_pandoc_path()
    except (ImportError, OSError):
        found = shutil.which("pandoc")
        if found:
            return found
        raise RuntimeError("pandoc not found: set $PANDOC or install pypandoc-binary") from None


def discover_cases(filter_names: list[str] | None = None) -> list[Case]:
    """Every ``tests/filters/<filter>/*.md`` whose filter exists, sorted."""
    cases = []
    for directory in sorted(p for p in CASES_DIR.iterdir() if p.is_dir()):
        if directory.name.startswith(("_", ".")):
            continue
        if filter_names and directory.name not in filter_names:
            continue
        if not (FILTERS_DIR / f"{directory.name}.lua").is_file():
            continue
        cases.extend(Case(directory.name, md) for md in sorted(directory.glob("*.md")))
    return cases


def normalize_warnings(stderr: str) -> str:
    """Warning messages, one per line, without pandoc's location prefix."""
    lines = []
    for line in stderr.splitlines():
        match = _LUA_WARNING.match(line) or _PLAIN_WARNING.match(line)
        lines.append(match.group(1) if match else line)
    return "".join(f"{line}\n" for line in lines if line.strip())


def run_case(case: Case) -> tuple[str, str]:
    """Run pandoc with the case's filter; return (html, normalized warnings)."""
    result = subprocess.run(
        [
            pandoc_path(),
            case.source.name,
            "--from=markdown",
            "--to=html5",
            "--mathml",
            f"--lua-filter={case.filter_path}",
        ],
        cwd=case.source.parent,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"pandoc failed on {case.name} ({result.returncode}):\n{result.stderr}")
    return result.stdout, normalize_warnings(result.stderr)


def _diff(expected: str, actual: str, label: str) -> str:
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            fromfile=f"{label} (expected)",
            tofile=f"{label} (actual)",
        )
    )


def check_case(case: Case) -> str:
    """A unified diff between expected and actual output; empty if they match."""
    html, warnings = run_case(case)
    expected_html = (
        case.expected_html.read_text(encoding="utf-8") if case.expected_html.exists() else ""
    )
    diffs = [_diff(expected_html, html, str(case.expected_html.relative_to(REPO)))]
    if case.expected_stderr.exists():
        expected_warnings = case.expected_stderr.read_text(encoding="utf-8")
        diffs.append(
            _diff(expected_warnings, warnings, str(case.expected_stderr.relative_to(REPO)))
        )
    return "".join(diffs)


def update_case(case: Case) -> None:
    """Rewrite the expected files; a .stderr file is kept only if there are warnings."""
    html, warnings = run_case(case)
    case.expected_html.write_text(html, encoding="utf-8")
    if warnings:
        case.expected_stderr.write_text(warnings, encoding="utf-8")
    elif case.expected_stderr.exists():
        case.expected_stderr.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the expected files")
    parser.add_argument("filters", nargs="*", help="only these filters (default: all)")
    args = parser.parse_args(argv)

    cases = discover_cases(args.filters or None)
    if not cases:
        print("no golden cases found", file=sys.stderr)
        return 1
    failed = 0
    for case in cases:
        if args.update:
            update_case(case)
            print(f"updated {case.name}")
            continue
        diff = check_case(case)
        if diff:
            failed += 1
            print(f"FAIL {case.name}")
            print(diff, end="" if diff.endswith("\n") else "\n")
        else:
            print(f"ok   {case.name}")
    if not args.update:
        print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
