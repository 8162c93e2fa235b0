"""One pandoc run per format: the prepared AST in, with our crossref filter and CSL."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from .. import pandoc

logger = logging.getLogger(__name__)

# Already reported (with file:line) by the HTML stage, from the same document.
_REPORTED_BY_HTML = re.compile(r"crossref: (unknown reference|duplicate label)")
_BUILD_META = Path(__file__).parent.parent / "data" / "filters" / "build-meta.lua"


def run(ast: dict, *, to: str, filters: Sequence[Path], workdir: Path,
        csl: Path | None = None, csl_items: list[dict] | None = None,
        args: Sequence[str] = (), output: Path | None = None, quiet: bool = False,
        after: Sequence[Path] = ()) -> bytes:
    """pandoc ``--from=json --to=TO``; with ``csl``, citeproc formats the citations.

    ``after``: filters run last, after citeproc (which makes the reference list).

    ``workdir`` is pandoc's resource path (images are relative to it). With ``output``,
    pandoc writes that file (binary formats) and its bytes are returned. ``quiet``
    logs pandoc's warnings at debug level (a helper run that repeats another's).
    """
    command = ["--from=json", f"--to={to}", "--standalone",
               *[f"--lua-filter={f}" for f in filters],
               f"--resource-path={workdir}", *args]
    if csl is not None:
        refs = workdir / "references.json"
        refs.write_text(json.dumps(csl_items or [], ensure_ascii=False), encoding="utf-8")
        command += ["--citeproc", f"--bibliography={refs}", f"--csl={csl}",
                    "--metadata=link-citations:true"]
        if to.startswith("docx"):  # the writer that copies metadata into the file
            # build-meta.lua after --citeproc (pandoc runs them in this order): the paths
            # citeproc read are no business of the document. (JATS still needs them.)
            command.append(f"--lua-filter={_BUILD_META}")
    command += [f"--lua-filter={f}" for f in after]
    if output is not None:
        command.append(f"--output={output}")
    result = pandoc.run(command, json.dumps(ast).encode("utf-8"))
    for warning in result.warnings:
        repeated = quiet or _REPORTED_BY_HTML.search(warning)
        level = logging.DEBUG if repeated else logging.WARNING
        logger.log(level, "%s: %s", to.split("+")[0], warning)
    return output.read_bytes() if output is not None else result.output
