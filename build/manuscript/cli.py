"""The ``manuscript`` command: thin. Arguments → Config → a stage call; errors → exit codes.

Exit codes: 0 success, 1 a problem in the manuscript or its build (one message, no
traceback unless --verbose), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from . import __version__, log
from .config import Config, make_config
from .errors import ManuscriptError
from .formats import PDF_ENGINES, SUPPORTED, output_names

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = Path(args.directory)
    counter = log.setup(args.verbose, _in_github_actions(), root.resolve())
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
        args.run(config, args, counter)
    except ManuscriptError as error:
        logger.error("%s", error, exc_info=args.verbose,
                     extra=log.annotate_error(error))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _build(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .build import build

    report = build(config, warning_count=lambda: counter.count)
    total = sum(seconds for _, seconds, _ in report.timings)
    logger.info("built %s in %.2f s", config.output_dir.relative_to(config.root), total)


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
    from .sources import check_tree
    from .webpage import build_webpage

    version = args.version or config.version
    for asset in page_assets(config):
        check_tree(config.root, asset)  # publish no link that leads out of the manuscript
    extra = [config.output_dir / name for name in output_names(config.formats)]
    target = build_webpage(config.output_dir, config.webpage_dir, version,
                           assets=page_assets(config) + [p for p in extra if p.is_file()],
                           prune_keep=args.prune_keep)
    logger.info("website: version %s in %s", version, target)


def _deploy(config: Config, args: argparse.Namespace, counter: log.CountingHandler) -> None:
    from .deploy import deploy

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
    from .init import DEFAULT_PACKAGE_SPEC, adopt, format_result, new_manuscript

    make = adopt if args.adopt else new_manuscript
    result = make(root / args.target, args.package_spec or DEFAULT_PACKAGE_SPEC)
    print(format_result(result))
    return 0


def _cite(root: Path, args: argparse.Namespace) -> int:
    from .citecmd import cite_config, format_items, resolve_keys, style_for
    from .fsutil import write_text_atomic

    config, in_manuscript = cite_config(root, offline=args.offline, verbose=args.verbose)
    items = resolve_keys(config, args.keys, in_manuscript=in_manuscript)
    csl = style_for(config, in_manuscript) if args.output_format in ("markdown", "plain") else None
    text = format_items(items, args.output_format, csl)
    if args.output:
        write_text_atomic(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="manuscript",
        description="Build a Manubot manuscript (content/) into HTML, PDF and a website.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-C", dest="directory", default=".", metavar="DIR",
                        help="the manuscript's root folder (default: the current folder)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log details, and show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="content/ → output/ (md, html, pdf) and webpage/")
    build.add_argument("--strict", action="store_true", help="fail if anything warns")
    build.add_argument("--offline", action="store_true",
                       help="never use the network for citations (the cache still answers)")
    build.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    build.add_argument("--format", action="append", choices=SUPPORTED, metavar="NAME",
                       help=f"also write this format ({', '.join(SUPPORTED)}); repeatable")
    build.add_argument("--pdf-engine", choices=PDF_ENGINES,
                       help="what typesets the PDF (default: weasyprint)")
    build.add_argument("--template-variables-path", action="append", metavar="[NS=]PATH",
                       help="extra Jinja2 variables (JSON/YAML/TOML), as manubot process takes")
    build.set_defaults(run=_build)

    check = sub.add_parser(
        "check", help="report every problem (metadata, references, citations, "
                      "cross-references, images, links, spelling) as path:line:col; "
                      "write nothing; exit 1 on an error (--strict: on a warning too)")
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

    webpage = sub.add_parser("webpage", help="output/ → webpage/v/<version>/")
    webpage.add_argument("--version", dest="version", help="default: the commit")
    webpage.add_argument("--prune-keep", type=int, metavar="N",
                         help="keep only the N newest versions")
    webpage.set_defaults(run=_webpage)

    deploy = sub.add_parser("deploy", help="webpage/ → gh-pages, output/ → output branch")
    deploy.add_argument("--remote", default="origin", help="remote name or URL (default: origin)")
    deploy.set_defaults(run=_deploy)

    serve = sub.add_parser("serve", help="rebuild on change and reload the browser")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-pdf", action="store_true", default=True, help=argparse.SUPPRESS)
    serve.set_defaults(run=_serve)

    init = sub.add_parser("init", help="start a new manuscript, or --adopt a rootstock one")
    init.add_argument("target", nargs="?", default=".", metavar="DIR",
                      help="where (default: the current folder); created if missing")
    init.add_argument("--adopt", action="store_true",
                      help="add this pipeline to an existing Manubot (rootstock) repository; "
                           "content/ and build/ stay untouched")
    init.add_argument("--package-spec", metavar="SPEC",
                      help="the pip requirement for this package written to requirements.txt "
                           "(default: this version's release on GitHub)")
    init.set_defaults(run=_init)

    cite = sub.add_parser("cite", help="resolve citation keys as a build would; print them")
    cite.add_argument("keys", nargs="+", metavar="KEY",
                      help="doi:…, pmid:…, arxiv:…, url:…, raw:… (a leading @ is fine)")
    cite.add_argument("--format", dest="output_format", default="csljson",
                      choices=("csljson", "markdown", "plain", "bibtex", "biblatex"),
                      help="CSL JSON (default), as the manuscript's CSL style formats it "
                           "(markdown, plain), or BibTeX/BibLaTeX")
    cite.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")
    cite.add_argument("--offline", action="store_true",
                      help="never use the network (the cache still answers)")
    cite.set_defaults(run=_cite)

    shots = sub.add_parser("screenshot", help="output/screenshots/*.png (needs chromium)")
    shots.set_defaults(run=_screenshot)
    return parser


def _in_github_actions() -> bool:
    import os

    return os.environ.get("GITHUB_ACTIONS") == "true"


if __name__ == "__main__":
    sys.exit(main())
