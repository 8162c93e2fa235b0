"""``manuscript cite KEY…``: resolve citation keys as a build would, and print them.

What ``manubot cite`` does for authors checking an identifier, but offline first and
with the bundled pandoc: keys go through the cite stage's own pieces (``cite.resolve.cite``),
so a key resolves here exactly when (and as) it would in a build — from the manual
references, the earlier ``output/``, the requests cache, then the network unless
offline. Outside a manuscript (no ``content/``) only the folder's ``ci/cache`` (when it
exists) and the network answer.

The command's module: it may import every module of ``cite`` and the package's core
(config, pandoc, process, render); nothing below imports it but the CLI.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from .. import pandoc
from ..config import Config, make_config
from ..errors import CitationError
from .model import UnresolvedCitations
from .resolve import cite
from .sources import DEFAULT_REQUESTS_CACHE, SOURCES

logger = logging.getLogger(__name__)

# The bibliography alone, as text: no divs or spans around each entry (citeproc's
# csl-entry / csl-left-margin), which only a Markdown renderer would understand.
_MARKDOWN = "markdown-fenced_divs-native_divs-bracketed_spans-native_spans-raw_html"
_NOCITE = b"---\nnocite: '@*'\n---\n"


def cite_config(root: Path, *, offline: bool, verbose: bool,
                env: Mapping[str, str] | None = None) -> tuple[Config, bool]:
    """The Config to cite with, and whether ``root`` is a manuscript.

    ``make_config`` refuses a folder without ``content/``; outside a manuscript a bare
    Config of the folder is enough, since only its cache is read.
    """
    env = dict(os.environ if env is None else env)
    if (root / "content").is_dir():
        return make_config(root, offline=True if offline else None, verbose=verbose,
                           env=env), True
    return Config(root=root.resolve(), offline=offline or env.get("MANUSCRIPT_OFFLINE") == "1",
                  verbose=verbose, env=MappingProxyType(env)), False


def resolve_keys(config: Config, keys: Sequence[str], *, in_manuscript: bool) -> list[dict]:
    """CSL items for ``keys`` (``@`` optional), in the order given; CitationError naming
    every key that resolves nowhere."""
    input_ids = list(dict.fromkeys(_bare(key) for key in keys))
    if in_manuscript:
        from .. import process

        settings = process.load_variables(config, datetime.now(UTC))["pandoc"]
        sources = SOURCES
    else:
        # Only the folder's own cache, and never created where no manuscript lives.
        has_cache = (config.root / "ci" / "cache").is_dir()
        settings = {"manubot-requests-cache-path": DEFAULT_REQUESTS_CACHE if has_cache
                    else ""}
        sources = tuple(source for source in SOURCES if not source.earlier)  # no output/
    try:
        bibliography = cite(config, input_ids, {}, settings, sources=sources,
                            raise_unresolved=True)  # the keys asked for: all or fail
    except UnresolvedCitations as error:
        raise CitationError(_unresolved_message(config, error, in_manuscript)) from None
    by_id = {item["id"]: item for item in bibliography.csl_items}
    ordered = [by_id[bibliography.short_ids[key]] for key in input_ids
               if key in bibliography.short_ids]
    return list({item["id"]: item for item in ordered}.values())


def _bare(key: str) -> str:
    bare = key.strip().removeprefix("@")
    if not bare:
        raise CitationError(f"empty citation key {key!r}")
    return bare


def _unresolved_message(config: Config, error: UnresolvedCitations,
                        in_manuscript: bool) -> str:
    failures = error.failures
    # Keys whose services could not be reached: one line per service, not per key.
    lines = [f"  @{failure.key} {failure.problem}" for failure in failures
             if not failure.unreachable]
    lines += [f"  {text}" for text, _ in error.unreachable]
    cache = config.root / "ci" / "cache"
    if not config.offline:
        how = ""
    elif in_manuscript:
        how = " offline (from the manual references, output/ and ci/cache)"
    elif cache.is_dir():
        how = f" offline (from {cache})"
    else:
        how = (f": offline, and {config.root} is not a manuscript (no content/) and has "
               "no ci/cache to look in")
    return (f"{len(failures)} citation key(s) could not be resolved{how}:\n"
            + "\n".join(lines))


def format_items(items: list[dict], output_format: str, csl: Path | None) -> str:
    """``items`` as CSL JSON, as the ``csl`` style formats them, or as BibTeX/BibLaTeX."""
    if output_format == "csljson":
        return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
    if output_format in ("bibtex", "biblatex"):
        # Manubot's provenance note (source file, standard_id) would become a BibTeX
        # note that bibliographies print; it belongs to the CSL JSON only.
        items = [{k: v for k, v in item.items() if k != "note"} for item in items]
    text = json.dumps(items, ensure_ascii=False)
    with tempfile.TemporaryDirectory(prefix="manuscript-cite-") as folder:
        refs = Path(folder) / "references.json"
        refs.write_text(text, encoding="utf-8")
        if output_format in ("bibtex", "biblatex"):
            args = [str(refs), "--from", "csljson", "--to", output_format]
            stdin = None
        else:
            writer = _MARKDOWN if output_format == "markdown" else "plain"
            args = ["--from", "markdown", "--to", writer, "--citeproc", f"--csl={csl}",
                    f"--bibliography={refs}", "--wrap=none"]
            stdin = _NOCITE
        result = pandoc.run(args, stdin)
    for warning in result.warnings:
        logger.warning("pandoc: %s", warning)
    output = result.output.decode("utf-8")
    return output if output.endswith("\n") else output + "\n"


def style_for(config: Config, in_manuscript: bool) -> Path:
    """The manuscript's citation style, as the HTML uses it; outside one, the bundled one."""
    from .. import render

    if in_manuscript:
        return render.find_theme(config).csl
    return render.data_dir() / "csl" / "manuscript.csl"
