"""``python -m bench``: time ``manuscript build`` and the reference toolchain, print tables."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import citations, toolchains
from . import math_engine as math_bench
from .workloads import Workload, discover, generate_large

REPO = Path(__file__).resolve().parent.parent
Samples = dict[str, list[float]]

ROWS = [  # (key in the samples, label)
    ("ours cold", "ours: `build --offline`, cold"),
    ("ours cold process", "ours cold, stage `process`"),
    ("ours cold cite", "ours cold, stage `cite`"),
    ("ours cold html", "ours cold, stage `html`"),
    ("ours cold pdf", "ours cold, stage `pdf` (WeasyPrint)"),
    ("ours typst", "ours: `build --offline --pdf-engine typst`, cold"),
    ("ours typst pdf", "ours cold, stage `pdf` with `--pdf-engine typst`"),
    ("ours cold webpage", "ours cold, stage `webpage`"),
    ("ours warm", "ours: warm (nothing changed)"),
    ("ours no-pdf", "ours: `--no-pdf`, cold"),
    ("pinned process", "reference (pinned, as users run it): `manubot process`"),
    ("pinned html", "reference (pinned): pandoc 2.19 + xnos + cite → HTML"),
    ("pinned pdf", "reference (pinned): again to PDF via WeasyPrint 53.4"),
    ("pinned total", "reference (pinned): total"),
    ("reference process", "reference (pandoc 3, no numbering): `manubot process`"),
    ("reference html", "reference (pandoc 3, no numbering): pandoc → HTML"),
    ("reference pdf", "reference (pandoc 3, no numbering): print HTML + WeasyPrint 70"),
    ("reference total", "reference (pandoc 3, no numbering): total"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus",
                        help="folder of corpus manuscripts (default ../shared/corpus)")
    parser.add_argument("--only", metavar="NAME", help="benchmark this workload only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results here")
    parser.add_argument("--xnos-venv", type=Path, default=Path("/tmp/benchvenv"),
                        help="venv holding pandoc-fignos/eqnos/tablenos (default /tmp/benchvenv)")
    parser.add_argument("--pinned-venv", type=Path, default=Path("/tmp/bench-rootstock-venv"),
                        help="venv for rootstock's pinned toolchain, made on first use "
                             "(default /tmp/bench-rootstock-venv)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                        help="skip the untimed first run of every toolchain")
    args = parser.parse_args(argv)

    workloads = discover(REPO, args.corpus)
    generated = tempfile.TemporaryDirectory(prefix="bench-large-")
    if args.only in (None, "large") and (args.corpus / "meta-review" / "content").is_dir():
        workloads.append(generate_large(args.corpus, Path(generated.name)))
    notes: list[str] = []
    if len(workloads) == 1:
        notes.append(f"{args.corpus} is absent: only the bundled manuscript is benchmarked")
    math_sources = [w.source for w in workloads if w.name != "fm-survey"]
    math_sources.append(REPO / "tests" / "fixtures" / "showcase")
    if args.only:
        workloads = [w for w in workloads if w.name == args.only]
        if not workloads and args.only not in ("math", "citations"):
            parser.error(f"no workload named {args.only!r}")

    schema = args.corpus.parent / "csl-schema" / "csl-data.json"
    xnos, xnos_note = toolchains.probe_xnos(args.xnos_venv / "bin")
    notes.append(xnos_note)
    csl = REPO / "build" / "manuscript" / "data" / "csl" / "manuscript.csl"
    rootstock_build = args.corpus / "rootstock-tour" / "build"
    pinned = (toolchains.pinned_venv(args.pinned_venv), rootstock_build) \
        if rootstock_build.is_dir() and args.only not in ("math", "citations") else None
    if pinned is None and args.only not in ("math", "citations"):
        notes.append(f"{rootstock_build} is absent: no pinned reference")
    results: dict[str, Samples] = {}
    if workloads and args.warm_up:
        warm_up(warm_up_workload(discover(REPO, args.corpus)), schema, xnos, csl, pinned)
    for workload in workloads:
        samples, offline_failures = measure(workload, args.runs, schema, xnos, csl, pinned)
        results[workload.name] = samples
        if offline_failures:
            notes.append(f"{workload.name}: the reference cite filter tried the network for "
                         f"{len(offline_failures)} id(s) and failed fast: "
                         + ", ".join(sorted(offline_failures)))
        print(table(workload.name, samples), flush=True)

    if args.only in (None, "citations"):
        if (args.corpus / "meta-review" / "content").is_dir():
            results["citations"] = measure_citations(args, schema)
            print(citations.table(results["citations"]), flush=True)
        else:
            notes.append(f"{args.corpus} is absent: no citation benchmark")
    if args.only in (None, "math"):
        print(math_bench.table(math_sources, args.runs), flush=True)

    meta = {
        "date": datetime.date.today().isoformat(),
        "pandoc": pandoc_version(),
        "cpus": os.cpu_count(),
        "runs": args.runs,
    }
    print(f"{meta['date']}, pandoc {meta['pandoc']}, {meta['cpus']} CPUs, "
          f"{args.runs} run(s) each")
    for note in notes:
        print(f"note: {note}")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "notes": notes, "results": results},
                                        indent=2) + "\n")
    return 0


def measure(workload: Workload, runs: int, schema: Path, xnos: list[str], csl: Path,
            pinned: tuple[Path, Path] | None) -> tuple[Samples, set[str]]:
    """Interleaved runs (ours, then the reference) so that machine load hits both alike."""
    samples: Samples = {}
    failures: set[str] = set()
    for i in range(runs):
        print(f"{workload.name}: run {i + 1}/{runs}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-{workload.name}-") as tmp:
            ours = toolchains.ours(workload, Path(tmp))
            ref, failed = toolchains.reference(workload, Path(tmp), schema, xnos, csl)
            pin: toolchains.Timings = {}
            if pinned is not None:
                pin, pin_failed = toolchains.pinned(workload, Path(tmp), *pinned, schema)
                failed |= pin_failed
        failures |= failed
        for prefix, timings in (("ours", ours), ("reference", ref), ("pinned", pin)):
            for key, seconds in timings.items():
                samples.setdefault(f"{prefix} {key}", []).append(seconds)
    return samples, failures


def warm_up_workload(available: list[Workload]) -> Workload:
    """rootstock-tour when the corpus is there (it has formulas, figures, remote images:
    it starts every program a build starts), else the bundled manuscript."""
    return next((w for w in available if w.name == "rootstock-tour"), available[0])


def warm_up(workload: Workload, schema: Path, xnos: list[str], csl: Path,
            pinned: tuple[Path, Path] | None) -> None:
    """One untimed run of every toolchain before any timed one.

    The first command of a benchmark pays what later ones find done: programs and
    libraries read from disk into the page cache (pandoc 2.19 and 3, WeasyPrint, V8 and
    the MathJax bundle, typst, fonts), compiled bytecode written. Without this run those
    costs land on whichever toolchain runs first in the first workload's first run.
    """
    print(f"warm-up: one untimed run of every toolchain on {workload.name}",
          file=sys.stderr, flush=True)
    measure(workload, 1, schema, xnos, csl, pinned)


MEMORY_ROWS = [  # (key in the samples, label)
    ("ours mem cold", "ours: `build`, cold"),
    ("ours mem warm", "ours: `build`, warm"),
    ("ours mem no-pdf", "ours: `build --no-pdf`, cold"),
    ("ours mem typst", "ours: `build --pdf-engine typst`, cold"),
    ("pinned mem process", "reference (pinned): `manubot process`"),
    ("pinned mem html", "reference (pinned): pandoc → HTML"),
    ("pinned mem pdf", "reference (pinned): pandoc → PDF (WeasyPrint 53.4)"),
    ("reference mem process", "reference (pandoc 3): `manubot process`"),
    ("reference mem html", "reference (pandoc 3): pandoc → HTML"),
    ("reference mem pdf", "reference (pandoc 3): print HTML, WeasyPrint 70"),
]
MEMORY_TARGET_MB = 1024


def measure_citations(args: argparse.Namespace, schema: Path) -> Samples:
    """Cold resolution of the `large` workload's 600 persistent ids: ours, then manubot's."""
    samples: Samples = {}
    venv = toolchains.pinned_venv(args.pinned_venv)
    with tempfile.TemporaryDirectory(prefix="bench-citations-") as tmp:
        workload, items = citations.generate(args.corpus, Path(tmp) / "source")
        for i in range(args.runs):
            print(f"citations: run {i + 1}/{args.runs}", file=sys.stderr, flush=True)
            result = citations.measure(workload, items, Path(tmp) / f"run-{i}", venv, schema)
            for key, value in result.items():
                samples.setdefault(key, []).append(value)
    return samples


def table(name: str, samples: Samples) -> str:
    """A Markdown table: median (min-max) per measurement, then the speedups."""
    lines = [f"\n### {name}\n", "| measurement | median s | min-max s |", "|---|---:|---:|"]
    for key, label in ROWS:
        if values := samples.get(key):
            lines.append(f"| {label} | {statistics.median(values):.2f} | "
                         f"{min(values):.2f}-{max(values):.2f} |")
    med = {k: statistics.median(v) for k, v in samples.items()}
    for ref, label in (("pinned", "pinned reference"),
                       ("reference", "pandoc-3 reference, a lower bound")):
        if f"{ref} total" not in med:
            continue
        full = med[f"{ref} total"] / med["ours cold"]
        html = (med[f"{ref} process"] + med[f"{ref} html"]) / med["ours no-pdf"]
        lines.append(f"| **speedup, HTML + PDF** ({label}: total / ours cold) "
                     f"| **{full:.1f}x** | |")
        lines.append(f"| **speedup, HTML only** ({label}: process + html / ours no-pdf) "
                     f"| **{html:.1f}x** | |")
        if "ours typst" in med:
            typst = med[f"{ref} total"] / med["ours typst"]
            lines.append(f"| **speedup, HTML + PDF with Typst** ({label}: total / ours "
                         f"typst cold) | **{typst:.1f}x** | |")
    return "\n".join(lines) + "\n" + memory_table(samples)


def memory_table(samples: Samples) -> str:
    """Peak resident memory of each command (largest process of its tree), max of the runs."""
    rows = [(label, max(samples[key])) for key, label in MEMORY_ROWS if samples.get(key)]
    if not rows:
        return ""
    lines = ["", "| peak memory (largest process) | MB |", "|---|---:|"]
    lines += [f"| {label} | {mb:.0f} |" for label, mb in rows]
    ours = max(mb for label, mb in rows if label.startswith("ours"))
    verdict = "met" if ours <= MEMORY_TARGET_MB else "MISSED"
    lines.append(f"| **ours, largest** (target ≤ {MEMORY_TARGET_MB} MB: {verdict}) "
                 f"| **{ours:.0f}** |")
    return "\n".join(lines) + "\n"


def pandoc_version() -> str:
    out = subprocess.run([toolchains.PANDOC, "--version"], capture_output=True, text=True)
    return out.stdout.split()[1] if out.stdout else "?"


if __name__ == "__main__":
    sys.exit(main())
