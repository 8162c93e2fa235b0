"""Stage 3, render: the cited AST → ``manuscript.html`` in ONE pandoc run.

Cross-references are numbered by a Lua filter inside pandoc (no JSON round trip
through Python), citeproc formats citations, and our template and theme make a
single self-contained page. A manuscript's own ``build/`` overrides the bundled
files: ``build/assets/style.csl`` (as in rootstock) and ``build/theme/`` (same
layout as our ``data/theme/``: ``template.html``, ``css/*.css``, ``js/*.js``), and the
usable settings of rootstock's ``build/pandoc/defaults/{common,html}.yaml`` (a CSL
style there may be a URL). What rootstock files this replaces is reported by
``rootstock.py``; images are made local and checked by ``images.py``.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from . import credit, cslstyle, csp, images, metatext, pandoc, rootstock, yamlfile
from .config import Config, pandoc_defaults_folder
from .errors import ConfigError, OutputError, RenderError
from .math import prepare as prepare_math
from .sources import check_inside, find_occurrences, read_text_file

logger = logging.getLogger(__name__)

# math.lua places math.py's SVG; images.lua marks missing images; pagetitle.lua: <title>
FILTERS = ("crossref.lua", "images.lua", "pagetitle.lua", "math.lua")
# Manubot's header template links its favicon on manubot.org; the page serves its own.
_REMOTE_ICON = re.compile(r'[ \t]*<link rel="(?:icon|mask-icon)"[^>]*manubot\.org[^>]*/>\n?')
_XREF_WARNING = re.compile(r"crossref: unknown reference @(\S+)")
# Reported with its file:line:col by the build's source checks (check.py), so not here.
_DUPLICATE_LABEL = re.compile(r"crossref: duplicate label ")
_TITLE_WARNING = re.compile(r"pagetitle: (no title in the metadata.*)")


@dataclass(frozen=True)
class Theme:
    template: Path
    css: tuple[Path, ...]
    js: tuple[Path, ...]
    csl: Path
    filters: tuple[Path, ...]
    defaults: dict = field(default_factory=dict)  # from the manuscript's pandoc defaults
    defaults_files: tuple[Path, ...] = ()

    def files(self) -> tuple[Path, ...]:
        return (self.template, *self.css, *self.js, self.csl, *self.filters,
                *self.defaults_files)


def data_dir() -> Path:
    return Path(str(resources.files("manuscript") / "data"))


def find_theme(config: Config) -> Theme:
    bundled, local = data_dir() / "theme", config.root / "build" / "theme"

    def layered(pattern: str) -> tuple[Path, ...]:
        # A file in the manuscript's build/theme replaces the bundled file of that name.
        chosen = {p.name: p for p in sorted(bundled.glob(pattern))}
        chosen.update({p.name: inside(p) for p in sorted(local.glob(pattern))})
        return tuple(chosen[name] for name in sorted(chosen))

    def inside(path: Path) -> Path:
        check_inside(config.root, path)  # inlined into the page: no link out
        return path

    template = local / "template.html"
    if template.is_symlink():
        inside(template)
    if template.is_file():
        _check_partials(config.root, template)
    rootstock.report_customisations(config.root)
    defaults = read_pandoc_defaults(config.root, config.env)
    return Theme(
        template=template if template.is_file() else bundled / "template.html",
        css=layered("css/*.css"),
        js=layered("js/*.js"),
        csl=_csl(config, defaults),
        filters=tuple(data_dir() / "filters" / name for name in FILTERS),
        defaults=_without_our_metadata(defaults.settings),
        defaults_files=defaults.files,
    )


# Metadata every page run sets itself (--metadata). pandoc collects a key given by both
# the defaults file and --metadata into a list, which is not "true": rootstock's
# common.yaml sets link-citations too, and citations lost their links to the references.
OUR_METADATA = {"link-citations": "true"}


def _without_our_metadata(settings: dict) -> dict:
    metadata = settings.get("metadata")
    if not isinstance(metadata, dict) or not metadata.keys() & OUR_METADATA.keys():
        return settings
    rest = {k: v for k, v in metadata.items() if k not in OUR_METADATA}
    return {**{k: v for k, v in settings.items() if k != "metadata"},
            **({"metadata": rest} if rest else {})}


# A partial in pandoc's template language: $name()$, ${name()}, ${var:name()},
# $var:name()[sep]$. pandoc reads it from the template's folder, name + the template's
# extension when it has none.
_PARTIAL = re.compile(r"\$\{?\s*(?:[\w.-]+:)?(?P<name>[^\s${}():]+)\(\)")


def _check_partials(root: Path, template: Path) -> None:
    """Every partial the manuscript's template names must be a file inside the
    manuscript: pandoc resolves ``${ ../../../x() }`` from the template's folder, and a
    partial is read and written into the page, so any ``.html`` on the machine (or one
    a link in build/theme/ points at) was published."""
    text = template.read_text(encoding="utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _PARTIAL.finditer(line):
            name = match.group("name")
            path = template.parent / (name if Path(name).suffix else name + template.suffix)
            written = Path(os.path.normpath(path.absolute()))
            leaves = not written.is_relative_to(Path(os.path.normpath(root.absolute())))
            if leaves or (path.exists() and not path.resolve().is_relative_to(root.resolve())):
                raise ConfigError(f"the template's partial {name}() leads outside the "
                                  "manuscript folder: refused", template, number)


# Settings of rootstock's build/pandoc/defaults/*.yaml that still mean something when
# pandoc runs once with our template and filters. The rest (filters, input/output files,
# include-after-body of rootstock's theme, math method) is what this pipeline replaces:
# rootstock.report_replaced_key warns about it when a manuscript changed it.
_DEFAULTS_KEYS = ("metadata", "variables", "toc-depth", "number-sections", "wrap",
                  "html-q-tags", "shift-heading-level-by", "number-offset")


@dataclass(frozen=True)
class PandocDefaults:
    settings: dict  # the usable part, merged, without metadata.csl
    files: tuple[Path, ...]
    csl: str | None = None  # metadata.csl as written: a path from the root, or a URL
    csl_place: tuple[Path, int | None] | None = None  # the file (and line) that set it


def read_pandoc_defaults(root: Path, env: Mapping[str, str] | None = None) -> PandocDefaults:
    """The usable part of a rootstock manuscript's ``common.yaml`` + ``html.yaml``.

    The folder is ``$PANDOC_DATA_DIR/defaults`` as in rootstock's build.sh (default
    ``build/pandoc``). ``pdf-weasyprint.yaml`` is read only to report changed settings:
    the PDF is made from the HTML, so only the HTML's settings apply.
    """
    folder = pandoc_defaults_folder(root, env)
    merged: dict = {}
    csl, csl_place = None, None
    reported_filters: set[str] = set()
    files = tuple(folder / name for name in rootstock.DEFAULTS_FILES
                  if (folder / name).is_file())
    for path in files:
        check_inside(root, path)  # PANDOC_DATA_DIR=/etc, or a link out: refused
        # The bounded reader of metadata.yaml: a byte that is not UTF-8, nesting 50,000
        # deep (RecursionError) were tracebacks here, and aliases (a billion laughs)
        # went on to pandoc, which ran out of memory.
        text = read_text_file(path)
        try:
            data = yamlfile.loads(text, path).data or {}
        except ConfigError as error:
            raise ConfigError(f"invalid YAML: {error.message.removeprefix('YAML ')}",
                              path, error.line) from None
        if not isinstance(data, dict):
            raise ConfigError("pandoc defaults must be a mapping of options", path, 1)
        lines = rootstock.key_lines(text)
        for key, value in data.items():
            if key == "filters":  # each one honoured, or reported once by name
                rootstock.report_filters(root, path, value, text, reported_filters)
            elif key not in _DEFAULTS_KEYS or path.name == "pdf-weasyprint.yaml":
                rootstock.report_replaced_key(root, path, key, value, lines.get((key,)))
            elif key in ("metadata", "variables") and not isinstance(value, dict):
                # pandoc's own error names only our temporary copy ("Aeson exception:
                # Expecting MapVal" in /tmp/manuscript-html-…/defaults.yaml).
                raise ConfigError(f"'{key}' must be a mapping of names to values",
                                  path, lines.get((key,)))
            elif isinstance(value, dict):
                if key == "metadata" and "csl" in value:
                    value = dict(value)
                    csl = str(value.pop("csl"))
                    csl_place = (path, lines.get(("metadata", "csl")))
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return PandocDefaults(merged, files, csl, csl_place)


_STOCK_CSL = "build/assets/style.csl"


def _csl(config: Config, defaults: PandocDefaults) -> Path:
    """The citation style: metadata.csl of the defaults (path, URL or name), else
    rootstock's ``build/assets/style.csl``, else the bundled style; always a local,
    independent style (cslstyle.py), so pandoc never fetches one."""
    if defaults.csl is None or defaults.csl_place is None:
        stock = config.root / _STOCK_CSL
        if stock.is_file():
            check_inside(config.root, stock)  # a link out would be read and published
            return cslstyle.independent(config, stock, stock, None)
        return data_dir() / "csl" / "manuscript.csl"
    source, line = defaults.csl_place
    if defaults.csl == _STOCK_CSL and not (config.root / _STOCK_CSL).is_file():
        return data_dir() / "csl" / "manuscript.csl"  # rootstock's setting, file deleted
    return cslstyle.resolve(config, defaults.csl, source, line)


def render_html(config: Config, ast: dict, references: list[dict], theme: Theme,
                variables: dict, version: str = "") -> str:
    """Run pandoc once: JSON AST in, standalone HTML out."""
    ast = dict(ast, meta={k: v for k, v in ast["meta"].items()
                          if k not in ("bibliography", "references")})
    metatext.as_text(ast["meta"])  # done by the build already; any other caller too
    images.prepare(config, ast)  # remote images → local copies; missing ones reported
    with tempfile.TemporaryDirectory(prefix="manuscript-html-") as tmp:
        tmpdir = Path(tmp)
        refs = tmpdir / "references.json"
        _write_input(refs, json.dumps(references, ensure_ascii=False))
        # pandoc ignores the header-includes metadata once --include-in-header is given,
        # so Manubot's <meta> tags go into the same file, ahead of the theme's styles.
        manubot_head = str(variables.get("pandoc", {}).get("header-includes", ""))
        head = tmpdir / "theme-head.html"
        _write_input(head, _REMOTE_ICON.sub("", manubot_head) + _wrap("style", theme.css))
        tail = tmpdir / "theme-tail.html"
        _write_input(tail, _wrap("script", theme.js))
        args = [
            "--from=json", "--to=html5", "--standalone",
            f"--template={theme.template}",
            "--mathml",  # only for math that math.lua did not replace (none, normally)
            "--section-divs", "--toc", "--toc-depth=3",
            f"--resource-path={config.content_dir}",  # where images.lua looks for images
            *[f"--lua-filter={f}" for f in theme.filters],
            "--citeproc", f"--lua-filter={data_dir() / 'filters' / 'links.lua'}",
            # last: the values the template writes into attributes, as escaped text
            f"--lua-filter={data_dir() / 'filters' / 'metatext.lua'}",
            f"--bibliography={refs}", f"--csl={theme.csl}",
            *[f"--metadata={key}:{value}" for key, value in OUR_METADATA.items()],
            f"--include-in-header={head}", f"--include-after-body={tail}",
            f"--variable=manuscript-version:{html.escape(version)}",
            "--variable=pdf-url:manuscript.pdf", f"--variable=manuscript-csp:{csp.PLACEHOLDER}",
            *[f"--variable={key}:{value}" for key, value in page_variables(variables, version)],
            *prepare_math(config, ast, tmpdir),
        ]
        if theme.defaults:
            defaults = tmpdir / "defaults.yaml"
            defaults.write_text(yaml.safe_dump(theme.defaults), encoding="utf-8")
            args.insert(0, f"--defaults={defaults}")
        try:
            result = pandoc.run(args, json.dumps(ast).encode("utf-8"),
                                nursery_mb=pandoc.LARGE_NURSERY_MB)
        except RenderError as error:  # never name the temporary references file
            # Imported here: cite loads jsonschema (0.3 s), which the format workers,
            # importing this module for the theme, need not.
            from .cite.resolve import explain_bibliography_error

            explained = explain_bibliography_error(error.message, refs, references)
            if explained is None:
                raise
            raise RenderError(explained) from None
    for warning in result.warnings:
        _report(config, warning)
    return csp.add_policy(result.output.decode("utf-8"), [_wrap("script", theme.js)],
                          theme.template.read_text(encoding="utf-8"), variables)


def render_blocks(config: Config, blocks: list[dict], theme: Theme, api: list[int],
                  meta: dict) -> str:
    """Blocks alone, as the page writes them: the same writer settings, and the filter
    that changes local blocks (links.lua); for blocks that depend on nothing else in the
    document (``incremental.local``). A warning means they do: then ``""``."""
    ast = {"pandoc-api-version": api, "meta": meta, "blocks": blocks}  # meta: lang…
    args = ["--from=json", "--to=html5", "--mathml", "--section-divs",
            f"--lua-filter={data_dir() / 'filters' / 'links.lua'}"]
    with tempfile.TemporaryDirectory(prefix="manuscript-blocks-") as tmp:
        if theme.defaults:
            defaults = Path(tmp) / "defaults.yaml"
            defaults.write_text(yaml.safe_dump(theme.defaults), encoding="utf-8")
            args.insert(0, f"--defaults={defaults}")
        result = pandoc.run(args, json.dumps(ast).encode("utf-8"))
    return "" if result.warnings else result.output.decode("utf-8")


def page_variables(variables: dict, version: str) -> list[tuple[str, str]]:
    """Template variables made here rather than in pandoc's template language.

    JSON-LD is serialized by Python so it is always valid JSON (pandoc's templates
    cannot escape JSON). Opt-in features are read from metadata.yaml's top level, where
    manubot leaves keys it does not interpret.
    """
    pandoc_vars, manubot = variables.get("pandoc", {}), variables.get("manubot", {})
    html_url = manubot.get("html_url")
    article: dict = {"@context": "https://schema.org", "@type": "ScholarlyArticle"}
    article["headline"] = str(pandoc_vars.get("title", ""))
    article["author"] = [
        {"@type": "Person", "name": author["name"],
         **({"identifier": f"https://orcid.org/{author['orcid']}"} if author.get("orcid") else {}),
         **({"affiliation": [{"@type": "Organization", "name": a}
                             for a in author.get("affiliations", [])]}
            if author.get("affiliations") else {})}
        for author in manubot.get("authors", []) if author.get("name")
    ]
    contributors = credit.jsonld_roles(manubot.get("authors", []))
    if contributors:
        article["contributor"] = contributors
    optional = {"datePublished": pandoc_vars.get("date-meta"),
                "dateModified": manubot.get("generated"),
                "keywords": pandoc_vars.get("keywords"),
                "inLanguage": pandoc_vars.get("lang"),
                "url": html_url, "version": version or None}
    article.update({key: value for key, value in optional.items() if value})
    result = [("manuscript-jsonld", jsonld_text(article))]
    # A --variable is written into the page as it is: each value is escaped here (an
    # author's metadata.yaml may set manubot.ci_source and html_url).
    if html_url:
        result.append(("manuscript-html-url", html.escape(str(html_url))))
    source = manubot.get("ci_source") or {}
    if source.get("repo_slug") and source.get("commit"):  # not when built locally
        result.append(("manuscript-commit", html.escape(str(source["commit"])[:7])))
        result.append(("manuscript-commit-url", html.escape(
            f"https://github.com/{source['repo_slug']}/commit/{source['commit']}")))
    if variables.get("manuscript-hypothesis") is True:
        result.append(("manuscript-hypothesis", "true"))
    if variables.get("manuscript-analytics"):  # an HTML snippet by design (see csp.py)
        result.append(("manuscript-analytics", str(variables["manuscript-analytics"])))
    return result


def jsonld_text(data: dict) -> str:
    """JSON for a ``<script type="application/ld+json">`` block: every ``<`` as
    ``\\u003c``, so no value can close the block (``</script>``) or open a comment
    (``<!--``, which changes how the browser finds the block's end)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def _wrap(tag: str, paths: tuple[Path, ...]) -> str:
    if not paths:
        return ""
    body = "\n".join(p.read_text(encoding="utf-8") for p in paths)
    return f"<{tag}>\n{body}\n</{tag}>\n"


def _report(config: Config, warning: str) -> None:
    """Log a pandoc/filter warning, with the content file and line when we can find it."""
    if _DUPLICATE_LABEL.search(warning):
        return
    match = _XREF_WARNING.search(warning)
    if match:
        places = find_occurrences(config.content_dir, f"@{match.group(1)}")
        for path, line in places or [(None, None)]:
            where = f"{path.relative_to(config.root)}:{line}: " if path else ""
            logger.warning("%sunknown cross-reference @%s", where, match.group(1),
                           extra={"file": path, "line": line})
        return
    match = _TITLE_WARNING.search(warning)
    if match:
        metadata = config.content_dir / "metadata.yaml"
        logger.warning("%s: %s", metadata.relative_to(config.root), match.group(1),
                       extra={"file": metadata, "line": None})
        return
    logger.warning("pandoc: %s", warning)


def _write_input(path: Path, text: str) -> None:
    """One of pandoc's input files, in the system's temporary folder (a full disk there
    is the machine's problem, not the manuscript's: say so, without a traceback)."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise OutputError(f"cannot write pandoc's input in the temporary folder "
                          f"({error.strerror}); free some space there or set TMPDIR",
                          path.parent) from error
