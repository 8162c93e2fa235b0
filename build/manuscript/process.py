"""Stage 1, process: content/ → manuscript Markdown and template variables.

Uses the ``manubot`` library's own pieces (CI detection, author affiliations,
header-includes template, Jinja2 settings, YAML dumper) so the output matches what
``manubot process`` writes, but assembles them without its hidden network calls:
manubot sends a HEAD request to the site's URL in CI mode and runs ``git fetch`` of
rootstock; neither is needed to write the manuscript.

Pure in the middle: ``process()`` reads files and returns a ``Processed``; writing is
``write_processed()``, done by the build once every stage has succeeded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urljoin

import jinja2
from manubot import __version__ as manubot_version
from manubot.process.manuscript import get_manuscript_stats
from manubot.process.util import add_author_affiliations
from manubot.util import get_configured_yaml

from . import credit, rootstock, sandbox, yamlfile
from . import metadata as metadata_checks
from .config import Config, VariablesFile, pandoc_defaults_folder
from .errors import ConfigError, ContentError
from .sources import Section, check_inside, check_tree, parse_json, read_sections, read_text_file

logger = logging.getLogger(__name__)

# Metadata keys manubot moves into pandoc's YAML block.
_PANDOC_KEYS = ("title", "keywords", "lang")


@dataclass(frozen=True)
class Processed:
    markdown: str  # output/manuscript.md
    variables: dict  # output/variables.json
    sections: tuple[Section, ...]


def process(config: Config, now: datetime | None = None, *,
            metadata: dict | None = None) -> Processed:
    """``metadata``: use this instead of reading metadata.yaml (``manuscript check`` goes
    on past a metadata.yaml it has reported, to check the citations too)."""
    check_sources(config)
    sections = read_sections(config.content_dir)
    text = "\n\n".join(section.text for section in sections) + "\n"
    variables = load_variables(config, now or _now(config.env), metadata)
    variables["manubot"]["manuscript_stats"] = get_manuscript_stats(text)
    rendered = _render(text, variables, sections)
    return Processed(markdown=_front_matter(variables["pandoc"]) + rendered,
                     variables=variables, sections=tuple(sections))


def check_sources(config: Config) -> None:
    """Before anything is read or written: no link in content/ leads outside the root.

    ``build()`` calls this even when the process stage is unchanged, since a new link
    to a folder outside changes no file digest and ``content/images`` is published.
    """
    check_tree(config.root, config.content_dir)
    for section in config.content_dir.glob("[0-9]*.md"):
        if section.is_dir():  # no file digest changes when a folder appears
            raise ContentError("is a folder, not a file", section)
    # The theme and rootstock's settings are read too: a CSS or JS file there is
    # inlined into the page (build/theme/css/x.css -> /proc/self/environ would be).
    # build/themes: rootstock's, where its reference DOCX (default.docx) is read from.
    for folder in ("build/theme", "build/themes", "build/assets", "build/pandoc/defaults"):
        check_tree(config.root, config.root / folder)
    check_tree(config.root, pandoc_defaults_folder(config.root, config.env))


def write_processed(config: Config, processed: Processed) -> None:
    from .fsutil import write_text_atomic

    variables = json.dumps(processed.variables, ensure_ascii=False, indent=2) + "\n"
    write_text_atomic(config.output_dir / "variables.json", variables)
    write_text_atomic(config.output_dir / "manuscript.md", processed.markdown)


def load_variables(config: Config, now: datetime, metadata: dict | None = None) -> dict:
    """What manubot's ``load_variables`` returns, without network or git side effects."""
    if metadata is None:
        metadata = _read_metadata(config.content_dir / "metadata.yaml")
    metadata = dict(metadata)
    variables: dict = {"pandoc": {}, "manubot": {}}
    for key in _PANDOC_KEYS:
        if key in metadata:
            variables["pandoc"][key] = metadata.pop(key)

    manuscript_date = metadata.pop("date", None)
    if isinstance(manuscript_date, str):
        manuscript_date = date.fromisoformat(manuscript_date)  # checked by _read_metadata
    manuscript_date = manuscript_date or now.date()
    variables["pandoc"]["date-meta"] = manuscript_date.isoformat()
    manubot = variables["manubot"]
    manubot["date"] = manuscript_date.isoformat()
    manubot["date_long"] = _long_date(manuscript_date)
    manubot["generated"] = now.isoformat(timespec="seconds")
    manubot["generated_date_long"] = _long_date(now)

    authors = metadata.pop("authors", None) or metadata.pop("author_info", None) or []
    authors = rootstock.author_order(config, metadata, manubot, authors)
    credit.normalize_authors(authors, config.content_dir / "metadata.yaml")  # CRediT roles
    variables["pandoc"]["author-meta"] = [author["name"] for author in authors]
    manubot["authors"] = authors
    add_author_affiliations(manubot)

    ci_params = _ci_parameters(config)
    if ci_params:
        manubot["ci_source"] = ci_params
    manubot.update(manuscript_urls(metadata.pop("html_url", None), ci_params))
    manubot.update({"manubot_version": manubot_version, "rootstock_commit": None})
    thumbnail = thumbnail_url(config.root, metadata.pop("thumbnail", None), ci_params)
    if thumbnail:
        manubot["thumbnail_url"] = thumbnail

    for key in ("pandoc", "manubot"):
        variables[key].update(metadata.pop(key, None) or {})  # a mapping: checked
    variables.update(metadata)
    for spec in config.template_variables:
        if spec.is_url:  # fetched once into ci/cache, read from there offline
            spec = rootstock.cached_template_variables(config, spec)
        variables.update(_read_template_variables(config.root, spec))

    variables["pandoc"]["header-includes"] = sandbox.header_includes(variables)
    _add_manubot_cite_settings(config, variables["pandoc"])
    return variables


def manuscript_urls(html_url: str | None, ci_params: dict | None) -> dict:
    """Manubot's URL scheme (github.io site, versioned permalinks), with no HEAD request."""
    urls: dict[str, str] = {}
    if html_url is None:
        if not ci_params:
            return urls
        html_url = "https://{repo_owner}.github.io/{repo_name}/".format(**ci_params)
    urls["html_url"] = html_url
    urls["pdf_url"] = urljoin(html_url, "manuscript.pdf")
    if ci_params:
        urls["html_url_versioned"] = urljoin(html_url, "v/{commit}/".format(**ci_params))
        urls["pdf_url_versioned"] = urljoin(urls["html_url_versioned"], "manuscript.pdf")
    return urls


def thumbnail_url(root: Path, thumbnail: str | None, ci_params: dict | None) -> str | None:
    """An explicit URL, else ``thumbnail.png`` found in the manuscript as a GitHub raw URL."""
    if thumbnail and thumbnail.startswith(("http://", "https://")):
        return thumbnail
    if not thumbnail:
        found = sorted(root.glob("**/thumbnail.png"),
                       key=lambda p: (len(p.relative_to(root).parts), p))
        found = [p for p in found if p.relative_to(root).parts[0] not in {"output", "webpage"}]
        if not found:
            return None
        thumbnail = found[0].relative_to(root).as_posix()
    if not ci_params:
        return None
    return f"https://github.com/{ci_params['repo_slug']}/raw/{ci_params['triggering_commit']}/{thumbnail}"


def _ci_parameters(config: Config) -> dict | None:
    """manubot's CI detection, worked out once by the config."""
    return dict(config.ci.params) if config.ci.params is not None else None


def _add_manubot_cite_settings(config: Config, pandoc: dict) -> None:
    """The bibliography fields manubot's process writes for its pandoc filter.

    Paths are relative to the manuscript root, as ``manubot process`` run from the root
    writes them; our cite stage reads the same settings.
    """
    bibliographies = pandoc.get("bibliography", [])
    if isinstance(bibliographies, str):
        bibliographies = [bibliographies]
    manual = config.layout().manual_references
    bibliographies.extend(_relative(config.root, p) for p in manual)
    for bibliography in bibliographies:
        # cite reads these and pandoc's citeproc could print their contents.
        if isinstance(bibliography, str) and (config.root / bibliography).exists():
            check_inside(config.root, config.root / bibliography)
    pandoc["bibliography"] = bibliographies
    pandoc["manubot-output-bibliography"] = "output/references.json"
    pandoc["manubot-output-citekeys"] = "output/citations.tsv"
    # An author's own value in metadata.yaml's pandoc: block wins, as with manubot.
    pandoc.setdefault("manubot-requests-cache-path", "ci/cache/requests-cache")
    pandoc.setdefault("manubot-clear-requests-cache", False)


def _render(text: str, variables: dict, sections: list[Section]) -> str:
    """Manubot's Jinja2 templating of the sections, in a sandbox (see sandbox.py)."""
    try:
        return sandbox.template_with_jinja2(text, variables)
    except jinja2.TemplateNotFound as error:  # sections are one template: no files
        section, line = _locate(sections, sandbox.error_line(error))
        raise ContentError(f"Jinja2 template refused: sections cannot include, import or "
                           f"extend other templates ({error.name})", section, line) from None
    except jinja2.TemplateError as error:
        section, line = _locate(sections, sandbox.error_line(error))
        kind = "refused" if isinstance(error, jinja2.exceptions.SecurityError) else "error"
        raise ContentError(f"Jinja2 template {kind}: {error.message}", section, line) from None
    except RecursionError:
        raise ContentError("Jinja2 template nested too deeply", sections[0].path) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as error:
        # A runtime error in the template's own expressions ({{ 1/0 }}, range(10**9)).
        section, line = _locate(sections, sandbox.error_line(error))
        raise ContentError(f"Jinja2 template error: {type(error).__name__}: {error}",
                           section, line) from None


def _locate(sections: list[Section], lineno: int | None) -> tuple[Path | None, int | None]:
    """Map a line of the concatenated text back to its content file and line."""
    if lineno is None:
        return None, None
    start = 1
    for section in sections:
        n_lines = section.text.count("\n") + 2  # sections are joined by a blank line
        if lineno < start + n_lines:
            return section.path, lineno - start + 1
        start += n_lines
    return None, None


def _front_matter(pandoc: dict) -> str:
    dumped = get_configured_yaml().dump(
        pandoc,
        default_flow_style=False,
        explicit_start=True,
        explicit_end=True,
        width=float("inf"),
        allow_unicode=True,
        sort_keys=False,
    )
    return dumped + "\n"


def _read_metadata(path: Path) -> dict:
    if not path.is_file() and not path.is_symlink():
        logger.warning("%s is missing: the manuscript has no title or authors", path)
        return {}
    loaded = yamlfile.load(path)
    if loaded.data is None:
        return {}
    if not isinstance(loaded.data, dict):
        raise ConfigError("metadata.yaml must be a mapping of keys to values", path, 1)
    metadata_checks.check_metadata(loaded, path)
    return loaded.data


def _load_yaml(path: Path) -> object:
    return yamlfile.load(path).data


def _read_template_variables(root: Path, spec: VariablesFile) -> dict:
    """``--template-variables-path``: ``[namespace=]path`` (JSON, YAML or TOML)."""
    namespace, location, path = spec.namespace, spec.location, spec.path
    if not path.is_file():
        raise ConfigError(f"template variables file not found: {location}", root)
    # Its values are printed by {{ }} in the sections: a file outside the manuscript
    # (manuscript.toml is part of a pull request) would be published.
    check_inside(root, path)
    if path.suffix == ".json":
        data = parse_json(read_text_file(path), path, ConfigError)
    elif path.suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(read_text_file(path))
        except tomllib.TOMLDecodeError as error:  # its message ends "(at line N, column M)"
            raise ConfigError(f"invalid TOML: {error}", path) from None
        except RecursionError:
            raise ConfigError("invalid TOML: nested too deeply", path) from None
    else:
        data = _load_yaml(path)
    if namespace:
        return {namespace: data}
    if not isinstance(data, dict):
        raise ConfigError("template variables must be a mapping (or use namespace=path)", path)
    return data


def _relative(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return os.fspath(path)


def _long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _now(env: Mapping[str, str]) -> datetime:
    """The build time; SOURCE_DATE_EPOCH pins it for reproducible builds."""
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(UTC).astimezone()
