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

from . import math as math_bench
from . import toolchains
from .workloads import Workload, discover

REPO = Path(__file__).resolve().parent.parent
Samples = dict[str, list[float]]

ROWS = [  # (key in the samples, label)
    ("ours cold", "ours: `build --offline`, cold"),
    ("ours cold process", "ours cold, stage `process`"),
    ("ours cold cite", "ours cold, stage `cite`"),
    ("ours cold html", "ours cold, stage `html`"),
    ("ours cold pdf", "ours cold, stage `pdf`"),
    ("ours cold webpage", "ours cold, stage `webpage`"),
    ("ours warm", "ours: warm (nothing changed)"),
    ("ours no-pdf", "ours: `--no-pdf`, cold"),
    ("reference process", "reference: `manubot process`"),
    ("reference html", "reference: pandoc → HTML"),
    ("reference pdf", "reference: pandoc → print HTML + WeasyPrint"),
    ("reference total", "reference: total"),
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
    args = parser.parse_args(argv)

    workloads = discover(REPO, args.corpus)
    notes: list[str] = []
    if len(workloads) == 1:
        notes.append(f"{args.corpus} is absent: only the bundled manuscript is benchmarked")
    math_sources = [w.source for w in workloads if w.name != "fm-survey"]
    math_sources.append(REPO / "tests" / "fixtures" / "showcase")
    if args.only:
        workloads = [w for w in workloads if w.name == args.only]
        if not workloads and args.only != "math":
            parser.error(f"no workload named {args.only!r}")

    schema = args.corpus.parent / "csl-schema" / "csl-data.json"
    xnos, xnos_note = toolchains.probe_xnos(args.xnos_venv / "bin")
    notes.append(xnos_note)
    csl = REPO / "build" / "manuscript" / "data" / "csl" / "manuscript.csl"
    results: dict[str, Samples] = {}
    for workload in workloads:
        samples, offline_failures = measure(workload, args.runs, schema, xnos, csl)
        results[workload.name] = samples
        if offline_failures:
            notes.append(f"{workload.name}: the reference cite filter tried the network for "
                         f"{len(offline_failures)} id(s) and failed fast: "
                         + ", ".join(sorted(offline_failures)))
        print(table(workload.name, samples), flush=True)

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


def measure(workload: Workload, runs: int, schema: Path, xnos: list[str],
            csl: Path) -> tuple[Samples, set[str]]:
    """Interleaved runs (ours, then the reference) so that machine load hits both alike."""
    samples: Samples = {}
    failures: set[str] = set()
    for i in range(runs):
        print(f"{workload.name}: run {i + 1}/{runs}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"bench-{workload.name}-") as tmp:
            ours = toolchains.ours(workload, Path(tmp))
            ref, failed = toolchains.reference(workload, Path(tmp), schema, xnos, csl)
        failures |= failed
        for prefix, timings in (("ours", ours), ("reference", ref)):
            for key, seconds in timings.items():
                samples.setdefault(f"{prefix} {key}", []).append(seconds)
    return samples, failures


def table(name: str, samples: Samples) -> str:
    """A Markdown table: median (min-max) per measurement, then the speedups."""
    lines = [f"\n### {name}\n", "| measurement | median s | min-max s |", "|---|---:|---:|"]
    for key, label in ROWS:
        if values := samples.get(key):
            lines.append(f"| {label} | {statistics.median(values):.2f} | "
                         f"{min(values):.2f}-{max(values):.2f} |")
    med = {k: statistics.median(v) for k, v in samples.items()}
    full = med["reference total"] / med["ours cold"]
    html = (med["reference process"] + med["reference html"]) / med["ours no-pdf"]
    lines.append(f"| **speedup, full build** (reference total / ours cold) | **{full:.1f}x** | |")
    lines.append(f"| **speedup, no PDF** (reference process + html / ours no-pdf) "
                 f"| **{html:.1f}x** | |")
    return "\n".join(lines) + "\n"


def pandoc_version() -> str:
    out = subprocess.run([toolchains.PANDOC, "--version"], capture_output=True, text=True)
    return out.stdout.split()[1] if out.stdout else "?"


if __name__ == "__main__":
    sys.exit(main())
