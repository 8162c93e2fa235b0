"""The ``manuscript`` command: thin. Arguments → Config → a stage call; errors → exit codes.

Exit codes: 0 success, 1 a problem in the manuscript or its build (one message, no
traceback unless --verbose), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from . import __version__, log, network
from .config import Config, make_config
from .errors import ManuscriptError, OutputError
from .network import OfflineViolation
from .progress import Progress
from .registry import PDF_ENGINES, SUPPORTED, output_names

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = Path(args.directory)
    progress = Progress.for_terminal(sys.stderr, quiet=args.quiet,
                                     github_actions=_in_github_actions())
    args.progress = progress
    counter = log.setup(args.verbose, _in_github_actions(), root.resolve(),
                        quiet=args.quiet, progress=progress)
    try:
        if args.command == "init":  # makes the manuscript that a Config describes
            return _init(root, args)
        if args.command == "cite":  # also outside a manuscript: makes its own Config
            return _cite(root, args)
        config = make_config(
            root,
            template_variables_paths=getattr(args, "template_variables_path", None) or (),
            strict=True if getattr(args, "strict", False) else None,
            offline=True if getattr(args, "offline", False) else None,
            pdf=False if getattr(args, "no_pdf", False) else None,
            formats=getattr(args, "format", None) or (),
            pdf_engine=getattr(args, "pdf_engine", None),
            verbose=args.verbose,
        )
        if args.command not in ("deploy", "screenshot"):
            _guard(config)
        try:
            args.run(config, args, counter)
        finally:
            config.network.report()  # one line per host that could not be reached
    except OfflineViolation:
        return 1  # logged where it happened (a library may have swallowed it since)
    except ManuscriptError as error:
        logger.error("%s", error, exc_info=args.verbose,
                     extra=log.annotate_error(error))
        return 1
    except KeyboardInterrupt:
        return 130
    # A connection refused under --offline is a bug even when a library swallowed it.
    return 1 if network.violations() else 0


def _guard(config: Config) -> None:
    """--offline: from here on, in this process and every process it starts, any
    connection past the door fails loudly (network.guard_offline). Not for ``deploy``,
    which is git's business, nor ``screenshot``, whose browser loads the page."""
    if config.offline:
        network.guard_offline()


def _build(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .build import build

    start = time.perf_counter()
    report = build(config, warning_count=lambda: counter.count, progress=args.progress)
    seconds = time.perf_counter() - start
    where = config.output_dir.relative_to(config.root)
    if report.summary is None:
        logger.info("built %s in %.2f s", where, seconds)
    else:
        logger.info("built %s in %.2f s: %s", where, seconds, report.summary.counts())


def _check(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .check import check
    from .errors import CheckFailed

    report = check(config, external_links=args.links)
    print(log.format_problems(report.problems, config.root, args.output_format), end="")
    if _in_github_actions():
        log.annotate_problems(report.problems, config.root)
    if report.references is not None:
        logger.info("%d sections, %d references", report.sections, report.references)
    failing = report.errors or (report.warnings if config.strict else [])
    if failing:
        raise CheckFailed(report.problems, failing[0], config.strict)


def _webpage(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .images import page_assets
    from .sources import check_inside, check_tree
    from .webpage import build_webpage

    version = args.version or config.version
    for asset in page_assets(config):
        check_tree(config.root, asset)  # publish no link that leads out of the manuscript
    extra = [config.output_dir / name for name in output_names(config.formats)]
    # output/ as it is found, perhaps checked out from a pull request: a manuscript.pdf
    # linking to /etc/passwd was published as the site's PDF; webpage/ linked out had the
    # site written outside the manuscript.
    for path in [config.output_dir / "manuscript.html", config.output_dir / "manuscript.pdf",
                 *extra, config.webpage_dir, config.output_dir]:
        if path.is_symlink():
            check_inside(config.root, path)
    target = build_webpage(config.output_dir, config.webpage_dir, version,
                           assets=page_assets(config) + [p for p in extra if p.is_file()],
                           prune_keep=args.prune_keep)
    logger.info("website: version %s in %s", version, target)


def _deploy(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .deploy import deploy
    from .sources import check_inside

    for folder in (config.webpage_dir, config.output_dir):
        if folder.is_symlink():  # pushed to the world: nothing from outside the manuscript
            check_inside(config.root, folder)
    deploy(config.root, config.webpage_dir, config.output_dir, remote=args.remote,
           source_commit=config.ci.commit, ci_run_url=config.ci.run_url,
           token=config.env.get("GITHUB_TOKEN") or None)
    logger.info("deployed to %s (gh-pages and output branches)", args.remote)


def _serve(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .serve import serve

    serve(config, host=args.host, port=args.port)


def _screenshot(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .screenshot import take_screenshots

    for path in take_screenshots(config):
        logger.info("wrote %s", path)


def _init(root: Path, args: argparse.Namespace) -> int:
    from .init import adopt, format_result, new_manuscript

    make = adopt if args.adopt else new_manuscript
    result = make(root / args.target, args.package_spec)
    if not args.quiet:  # what was written and what to do next: not a problem
        print(format_result(result))
    return 0


def _cite(root: Path, args: argparse.Namespace) -> int:
    from .cite.command import cite_config, format_items, resolve_keys, style_for
    from .fsutil import write_text_atomic

    output = Path(args.output) if args.output else None
    if output is not None and output.is_dir():  # said before any lookup, not after
        raise OutputError("is a folder: give -o a file name", output)
    config, in_manuscript = cite_config(root, offline=args.offline, verbose=args.verbose)
    _guard(config)
    try:
        items = resolve_keys(config, args.keys, in_manuscript=in_manuscript)
    finally:
        config.network.report()
    csl = style_for(config, in_manuscript) if args.output_format in ("markdown", "plain") else None
    text = format_items(items, args.output_format, csl)
    if output is not None:
        try:
            write_text_atomic(output, text)
        except OSError as error:
            raise OutputError(f"cannot write: {error.strerror or error}", output) from None
    else:
        sys.stdout.write(text)
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line. Its help texts are also the README's command reference
    (``python -m manuscript.clidoc --update`` writes it): say everything there."""
    parser = argparse.ArgumentParser(
        prog="manuscript",
        description="Build a Manubot manuscript (content/) into HTML, PDF and a website.",
        epilog="Run in a manuscript's root folder, or anywhere with -C DIR. Exit status: 0 "
               "success; 1 a problem in the manuscript or its build, reported as one "
               "message naming its file:line (-v adds the traceback), with the last good "
               "output/ left as it was; 2 a bad command line.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    parser.add_argument("-C", dest="directory", default=".", metavar="DIR",
                        help="the manuscript's root folder (default: the current folder)")
    talk = parser.add_mutually_exclusive_group()
    talk.add_argument("-v", "--verbose", action="store_true",
                      help="log details, and show tracebacks for errors")
    talk.add_argument("-q", "--quiet", action="store_true",
                      help="print only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build", help="content/ → output/ (md, html, pdf) and webpage/",
        description="content/ → output/ (manuscript.md, variables.json, references.json, "
                    "citations.tsv, manuscript.html, manuscript.pdf) and webpage/. Each "
                    "stage prints one line with its time; a stage whose inputs are "
                    "unchanged is skipped (and repeats its warnings). The last line sums "
                    "up: words (of the text, without references, math, tables and code), "
                    "figures, tables, display equations, citations (distinct "
                    "references), PDF pages and the time. On a terminal, a status line "
                    "shows the running stage: lookups done, the PDF page being laid out.")
    build.add_argument("--strict", action="store_true",
                       help="fail if anything warns (exit 1, outputs unchanged)")
    build.add_argument("--offline", action="store_true",
                       help="never use the network: citations, and a CSL style, template "
                            "variables or images named by URL, come from ci/cache/ (a CSL "
                            "style also from the installed official styles)")
    build.add_argument("--no-pdf", action="store_true",
                       help="skip the PDF (as BUILD_PDF=false)")
    build.add_argument("--format", action="append", choices=SUPPORTED, metavar="NAME",
                       help=f"also write this format ({', '.join(SUPPORTED)}; see Other "
                            "formats in the README); repeatable")
    build.add_argument("--pdf-engine", choices=PDF_ENGINES,
                       help="what typesets the PDF: weasyprint (the default: the HTML page "
                            "printed) or typst (from the same document, with its own "
                            "template)")
    build.add_argument("--template-variables-path", action="append", metavar="[NS=]PATH",
                       help="extra Jinja2 variables from a JSON, YAML or TOML file or URL, "
                            "as manubot process takes them; repeatable")
    build.set_defaults(run=_build)

    check = sub.add_parser(
        "check", help="report every problem as path:line:col; write nothing",
        description="Run every check (metadata, manual references, citations, "
                    "cross-references, images, internal links, spelling; external links "
                    "with --links) and print every problem as path:line:col: severity: "
                    "message [code]. Writes nothing; exits 1 on an error (--strict: on a "
                    "warning too).")
    check.add_argument("--offline", action="store_true",
                       help="never use the network (citations from manual references, the "
                            "earlier output and ci/cache; no external links)")
    check.add_argument("--links", action="store_true",
                       help="also check external links (HEAD/GET, 5 s timeout, 4 at a time; "
                            "answers kept a week in ci/cache/links.json)")
    check.add_argument("--strict", action="store_true", help="fail on warnings too")
    check.add_argument("--format", dest="output_format", choices=("text", "json"),
                       default="text",
                       help="text: one path:line:col: severity: message [code] line per "
                            "problem (default); json: a list of objects, for editors")
    check.add_argument("--template-variables-path", action="append", metavar="[NS=]PATH",
                       help="extra Jinja2 variables (JSON/YAML/TOML), as for build")
    check.set_defaults(run=_check)

    webpage = sub.add_parser(
        "webpage", help="output/ → webpage/v/<version>/",
        description="Add output/ to the versioned website: webpage/v/VERSION/, listed in "
                    "webpage/versions.json (build does this too).")
    webpage.add_argument("--version", dest="version", metavar="V",
                         help="the version's name (default: the commit)")
    webpage.add_argument("--prune-keep", type=int, metavar="N",
                         help="keep only the N newest versions")
    webpage.set_defaults(run=_webpage)

    deploy = sub.add_parser(
        "deploy", help="webpage/ → gh-pages, output/ → output branch",
        description="Publish webpage/ to the gh-pages branch, beside the versions "
                    "published before, and replace the output branch with output/; "
                    "pushes with GITHUB_TOKEN when it is set.")
    deploy.add_argument("--remote", default="origin", metavar="R",
                        help="remote name or URL (default: origin)")
    deploy.set_defaults(run=_deploy)

    serve = sub.add_parser(
        "serve", help="rebuild on change and reload the browser",
        description="Live preview: build (without the PDF), serve the page at "
                    "http://HOST:PORT/ and rebuild on every change, reloading the browser.")
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="the port (default: 8000)")
    serve.add_argument("--no-pdf", action="store_true", default=True, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    init = sub.add_parser(
        "init", help="start a new manuscript, or --adopt a rootstock one",
        description="Write a manuscript that builds at once, offline: content/ (metadata, "
                    "front and back matter, an abstract and an example section with a "
                    "citation, a figure, a table and an equation), manuscript.toml, "
                    "requirements.txt, the GitHub workflow, .gitignore and a README. It "
                    "overwrites nothing, and refuses a folder that already has content/. "
                    "With --adopt, switch an existing Manubot (rootstock) repository to "
                    "this pipeline instead.")
    init.add_argument("target", nargs="?", default=".", metavar="DIR",
                      help="where (default: the current folder); created if missing")
    init.add_argument("--adopt", action="store_true",
                      help="add this pipeline to an existing Manubot (rootstock) repository "
                           "(workflow, requirements.txt, manuscript.toml with build.sh's "
                           "options); content/ and build/ stay untouched")
    init.add_argument("--package-spec", metavar="SPEC",
                      help="the pip requirement for this package written to requirements.txt "
                           "(default: where the running manuscript was installed from: its git "
                           "commit or archive URL, or a wheel of a local folder written into "
                           "vendor/)")
    init.set_defaults(run=_init)

    cite = sub.add_parser(
        "cite", help="resolve citation keys as a build would; print them",
        description="Resolve identifiers as a build does: manual references, the earlier "
                    "output/references.json, ci/cache/, then the network; print them as "
                    "CSL JSON, as the manuscript's CSL style formats them, or as BibTeX "
                    "(no system pandoc needed). Works outside a "
                    "manuscript too (then only ./ci/cache/, if present, and the network "
                    "answer). A key found nowhere: exit 1 naming it.")
    cite.add_argument("keys", nargs="+", metavar="KEY",
                      help="doi:…, pmid:…, pmcid:…, arxiv:…, isbn:…, url:…, wikidata:…, "
                           "raw:… (a leading @ is fine)")
    cite.add_argument("--format", dest="output_format", default="csljson",
                      choices=("csljson", "markdown", "plain", "bibtex", "biblatex"),
                      help="CSL JSON (the default), the entries as the manuscript's CSL "
                           "style formats them (markdown, plain), or BibTeX/BibLaTeX")
    cite.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")
    cite.add_argument("--offline", action="store_true",
                      help="never use the network (the cache still answers)")
    cite.set_defaults(run=_cite)

    shots = sub.add_parser(
        "screenshot", help="output/screenshots/*.png (needs Chromium)",
        description="Screenshots of the built page: output/screenshots/*.png at 1280 px "
                    "and 375 px wide, light and dark (the first three screens), and "
                    "output/screenshots/crops/ with the first figure, table, equation and "
                    "the start of the references of each. Needs Chromium.")
    shots.set_defaults(run=_screenshot)
    return parser


def _in_github_actions() -> bool:
    import os

    return os.environ.get("GITHUB_ACTIONS") == "true"


if __name__ == "__main__":
    sys.exit(main())
