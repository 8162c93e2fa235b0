"""Profile the WeasyPrint PDF stage alone: `python -m bench.pdf_profile NAME [options]`.

Builds NAME (fm-survey, rootstock-tour, meta-review or large) once without its PDF in a
temporary folder, then times ``pdf.render_pdf`` on that build's page, in this process,
as the build's pdf stage calls it. Findings: bench/weasyprint-profile.md. Never run by
the test suite.

    python -m bench.pdf_profile meta-review --runs 3             # pdf stage seconds
    python -m bench.pdf_profile large --phases                   # parse/style/layout/write
    python -m bench.pdf_profile large --cprofile 40              # top 40 functions
    python -m bench.pdf_profile meta-review --drop-css 20-interactive  # one stylesheet less
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .toolchains import clean_env, run, tool
from .workloads import discover, generate_large

REPO = Path(__file__).resolve().parents[1]


def prepare(name: str, corpus: Path, tmp: Path) -> Path:
    """A fresh copy of the workload, built with ``--no-pdf``; its root."""
    if name == "large":
        workload = generate_large(corpus, tmp / "large-src")
    else:
        found = {w.name: w for w in discover(REPO, corpus)}
        if name not in found:
            raise SystemExit(f"pdf_profile: no workload {name!r} (have {sorted(found)})")
        workload = found[name]
    root = workload.copy_to(tmp / "build", reference=False)
    run([tool("manuscript"), "-C", str(root), "build", "--offline", "--no-pdf",
         *workload.process_args], root, clean_env())
    return root


def drop_css(html: str, names: list[str]) -> str:
    """The page without the given theme stylesheets (each inlined as its file's text)."""
    folder = REPO / "build" / "manuscript" / "data" / "theme" / "css"
    for name in names:
        text = (folder / f"{name}.css").read_text(encoding="utf-8")
        if text not in html:
            raise SystemExit(f"pdf_profile: {name}.css is not in the page")
        html = html.replace(text, "")
    return html


def render(root: Path, html: str) -> bytes:
    from manuscript import images, pdf
    from manuscript.config import make_config

    config = make_config(root, offline=True)
    with images.pdf_base(config) as base:
        return pdf.render_pdf(html, base, offline=True, readable=(config.root, config.cache_dir))


def _remove(root, predicate) -> int:
    """Remove the elements ``predicate`` picks from an ElementTree; how many."""
    found = [(parent, child) for parent in root.iter() for child in parent if predicate(child)]
    for parent, child in found:
        parent.remove(child)
    return len(found)


def _figure_image(element) -> bool | None:
    """Whether ``element`` is an SVG (True) or raster (False) image file; None if it
    is no image or a formula's (``data:``, math.print_formulas)."""
    src = element.get("src", "")
    if element.tag != "img" or src.startswith("data:"):
        return None
    return ".svg" in src


# What one variant leaves out of the page, to measure what it costs (an experiment: the
# PDF is not the same document any more).
VARIANTS = {
    "no-math": lambda root: _remove(root, lambda e: e.tag == "mjx-container"),
    "no-assistive-mml": lambda root: _remove(root, lambda e: e.tag == "mjx-assistive-mml"),
    "no-images": lambda root: _remove(root, lambda e: _figure_image(e) is not None),
    "no-svg-images": lambda root: _remove(root, lambda e: _figure_image(e) is True),
    "no-raster-images": lambda root: _remove(root, lambda e: _figure_image(e) is False),
}
RAGGED = "<style>@media print { body { text-align: left; hyphens: manual; } }</style></head>"


def phases(root: Path, html: str, variant: str | None = None,
           tags: bool = True) -> dict[str, float]:
    """CPU seconds of WeasyPrint's phases, as ``render_pdf`` runs them (same fetcher,
    tags). CPU time, not wall-clock: the 2 shared cores make wall-clock noisy."""
    from weasyprint import HTML

    from manuscript import images, pdf
    from manuscript.config import make_config
    from manuscript.math import print_formulas

    config = make_config(root, offline=True)
    times: dict[str, float] = {}
    with images.pdf_base(config) as base:
        base_url = f"{base.resolve().as_uri()}/"
        origins = pdf._Origins(html, base_url, base)
        start = time.process_time()
        document = HTML(string=html, base_url=base_url, url_fetcher=pdf._fetcher(
            True, (config.root, config.cache_dir), origins))
        print_formulas(document.etree_element)
        if variant in VARIANTS:
            times["removed"] = VARIANTS[variant](document.etree_element)
        times["parse HTML"] = time.process_time() - start
        start = time.process_time()
        rendered = document.render(pdf_tags=tags)
        times["style + layout"] = time.process_time() - start
        start = time.process_time()
        rendered.write_pdf(pdf_tags=tags)
        times["write PDF"] = time.process_time() - start
        times["pages"] = len(rendered.pages)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pdf_profile")
    parser.add_argument("name")
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--cprofile", type=int, metavar="N", default=0)
    parser.add_argument("--drop-css", action="append", default=[], metavar="NN-name")
    parser.add_argument("--variant", choices=[*VARIANTS, "ragged", "no-tags"])
    parser.add_argument("--save", type=Path, help="write the PDF of the last run here")
    parser.add_argument("--root", type=Path, help="a folder already built with --no-pdf")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pdf-profile-") as tmp:
        root = args.root or prepare(args.name, args.corpus, Path(tmp))
        html = drop_css((root / "output" / "manuscript.html").read_text(encoding="utf-8"),
                        args.drop_css)
        if args.phases:
            if args.variant == "ragged":
                html = html.replace("</head>", RAGGED, 1)
            for _ in range(args.runs):
                times = phases(root, html, args.variant, tags=args.variant != "no-tags")
                print(args.variant or "as built",
                      " ".join(f"{k}={v:.2f}" for k, v in times.items()), flush=True)
            return 0
        if args.cprofile:
            profile = cProfile.Profile()
            profile.runcall(render, root, html)
            stats = pstats.Stats(profile, stream=sys.stdout)
            stats.sort_stats("cumulative").print_stats(args.cprofile)
            stats.sort_stats("tottime").print_stats(args.cprofile)
            return 0
        wall, cpu = [], []
        for _ in range(args.runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            data = render(root, html)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        if args.save:
            args.save.write_bytes(data)
        print(f"{args.name}: pdf wall {statistics.median(wall):.2f} s, CPU "
              f"{statistics.median(cpu):.2f} s (medians of {args.runs}; CPU: "
              f"{' '.join(f'{s:.2f}' for s in cpu)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
