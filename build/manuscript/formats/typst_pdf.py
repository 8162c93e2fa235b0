"""``manuscript.pdf`` typeset by Typst (``--pdf-engine typst``; WeasyPrint is the default).

pandoc's Typst writer, with citeproc (so citations and the reference list read exactly
as in the HTML) and our template (``data/formats/typst/template.typ``), then the
``typst`` package compiles in-process: no system install, fonts embedded in the
package, tagged PDF with bookmarks from the headings, links, and title and authors in
the document properties.

The manuscript's data reaches the template as JSON in ``sys.inputs`` rather than as
text spliced into Typst code. Typst reads files only below its root, a temporary
folder holding fetched remote images and a link to ``content/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .. import log
from ..errors import RenderError
from . import document as d
from . import images, run

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

OUTPUT = "manuscript.pdf"
RUNNING_HEAD_CHARS = 70


def template() -> Path:
    from ..render import data_dir

    return data_dir() / "formats" / "typst" / "template.typ"


def render(config: Config, ast: dict, csl_items: list[dict], variables: dict,
           theme: Theme) -> dict[str, bytes]:
    doc = d.prepare(ast, variables)
    if doc.abstract:
        doc.ast["meta"]["abstract"] = {"t": "MetaBlocks", "c": doc.abstract}
    if doc.abstract_heading:
        doc.ast["meta"]["abstract-title"] = {"t": "MetaInlines",
                                            "c": doc.abstract_heading["c"][2]}
    _warn_repeated_ids(config, drop_repeated_ids(doc.ast))
    with tempfile.TemporaryDirectory(prefix="manuscript-typst-") as tmp:
        workdir = Path(tmp)
        images.localize(doc.ast, config, workdir, raster=False)
        start = time.perf_counter()
        source = run.run(doc.ast, to="typst", filters=theme.filters, workdir=workdir,
                         csl=theme.csl, csl_items=csl_items,
                         args=[f"--template={template()}"])
        middle = time.perf_counter()
        if config.offline:
            refuse_packages(config, source)
        pdf = compile_pdf(source, workdir, inputs(doc), offline=config.offline)
        logger.debug("typst: pandoc %.2f s, Typst compile %.2f s", middle - start,
                     time.perf_counter() - middle)
        return {OUTPUT: pdf}


# Where each element type keeps its Attr ([id, classes, attributes]) in pandoc's JSON.
_ATTR_INDEX = {"Header": 1, "Div": 0, "Span": 0, "CodeBlock": 0, "Code": 0, "Link": 0,
               "Image": 0, "Table": 0, "Figure": 0}


def drop_repeated_ids(ast: dict) -> dict[str, list[str]]:
    """Keep each element id on its first element only.

    Pandoc only warns about duplicate identifiers (a section repeated, two headings with
    the same text), and a browser takes the first; a Typst label on several elements stops
    the compilation as soon as something links to it. So links go to the first, as in HTML.
    Returns each repeated id with the plain text of every element that had it.
    """
    seen: dict[str, list[str]] = {}

    def walk(node: object) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        index = _ATTR_INDEX.get(node.get("t", ""))
        if index is not None and isinstance(node.get("c"), list):
            attr = node["c"][index]
            if attr and attr[0]:
                texts = seen.setdefault(attr[0], [])
                texts.append(_plain(node["c"][2]) if node["t"] == "Header" else "")
                if len(texts) > 1:
                    attr[0] = ""
        for value in node.values():
            walk(value)

    walk(ast["blocks"])
    return {key: texts for key, texts in seen.items() if len(texts) > 1}


def _plain(inlines: list[dict]) -> str:
    return "".join(i["c"] if i["t"] == "Str" else " " if i["t"] in ("Space", "SoftBreak")
                   else _plain(i["c"][-1]) if i["t"] in ("Emph", "Strong", "Span") else ""
                   for i in inlines)


def _warn_repeated_ids(config: Config, repeated: dict[str, list[str]]) -> None:
    """One warning per repeated id, naming where it is first written when that is known:
    an explicit ``{#id}``, else the first heading line with the heading's text."""
    from ..sources import find_occurrences

    for key, texts in repeated.items():
        places = find_occurrences(config.content_dir, "{#" + key)
        if not places and texts[0]:
            places = [(path, line) for path, line in find_occurrences(config.content_dir,
                                                                     texts[0])
                      if _is_heading(path, line)]
        where = ""
        if places:
            path, line = places[0]
            where = f"{path.relative_to(config.root).as_posix()}:{line}: "
        logger.warning("%sthe id %r is used by %d elements (repeated headings?); the Typst "
                       "PDF keeps it on the first, as a browser does", where, key, len(texts),
                       extra=log.annotate(*places[0]) if places else {})


def _is_heading(path: Path, line: int) -> bool:
    return path.read_text(encoding="utf-8-sig").splitlines()[line - 1].lstrip().startswith("#")


def inputs(doc: d.Document) -> dict[str, str]:
    """The template's data (see template.typ), as one JSON string."""
    language, _, region = doc.lang.partition("-")
    head = doc.title if len(doc.title) <= RUNNING_HEAD_CHARS else \
        doc.title[:RUNNING_HEAD_CHARS].rsplit(" ", 1)[0] + " …"
    data = {
        "title": doc.title,
        "running-head": head,
        "date": doc.date,
        # Typst takes ISO 639 languages and ISO 3166 regions only ("en", "US").
        "lang": language.lower() if re.fullmatch(r"[A-Za-z]{2,3}", language) else "en",
        "region": region.upper() if re.fullmatch(r"[A-Za-z]{2}", region) else None,
        "keywords": doc.keywords,
        "affiliations": doc.affiliations,
        "authors": [
            {"name": a.name, "orcid": a.orcid, "email": a.email,
             "corresponding": a.corresponding,
             "affiliations": doc.affiliation_numbers(a),
             "roles": [role.name for role in a.roles]}
            for a in doc.authors
        ],
    }
    return {"manuscript": json.dumps(data, ensure_ascii=False)}


# A package import as raw Typst writes it: "@namespace/name:version".
_PACKAGE = re.compile(rb'"@([A-Za-z][\w-]*)/([\w-]+)(?::[^"\s]*)?"')


def refuse_packages(config: Config, source: bytes) -> None:
    """Under ``--offline``, raw Typst importing a package (``#import "@preview/…"``) is
    an error naming its ``file:line``: Typst would try packages.typst.org (or use a
    package cached on this machine, which another machine does not have)."""
    match = _PACKAGE.search(source)
    if match is None:
        return
    from ..sources import find_occurrences

    spec = match.group(0).decode("utf-8", "replace").strip('"')
    places = find_occurrences(config.content_dir, spec.split(":")[0])
    raise RenderError(f"the raw Typst imports the package {spec}, and packages are not "
                      "fetched offline (--offline, MANUSCRIPT_OFFLINE=1); build online or "
                      "remove the import", *(places[0] if places else (None, None)))


# An address that refuses at once: Typst's package downloader honours the proxy
# variables, so offline a package named by code the scan above cannot see (a string
# built at run time) fails without reaching the network.
_NO_NETWORK = "http://127.0.0.1:9"


def compile_pdf(source: bytes, root: Path, sys_inputs: dict[str, str], *,
                offline: bool = False) -> bytes:
    """Typst source → PDF; Typst's warnings are ours, an error is a RenderError.

    Packages: none from this machine's Typst data folder (``@local/…`` would read
    outside the manuscript), and offline none from its cache or the network either.
    """
    import typst

    main = root / "manuscript.typ"
    main.write_bytes(source)
    packages = root / ".no-packages"  # an empty folder: no package is found in it
    packages.mkdir(exist_ok=True)
    cache = {"package_cache_path": str(packages)} if offline else {}
    try:
        with _proxies(_NO_NETWORK if offline else None):
            pdf, warnings = typst.compile_with_warnings(
                str(main), root=str(root), sys_inputs=sys_inputs, ignore_system_fonts=True,
                font_paths=_font_paths(), package_path=str(packages), **cache)
    except typst.TypstError as error:
        if offline and "package" in str(getattr(error, "message", error)):
            raise RenderError("raw Typst uses a package, and packages are not fetched "
                              f"offline: {_diagnostic(error)}") from None
        raise RenderError(f"Typst failed: {_diagnostic(error)}") from None
    for warning in warnings:
        logger.warning("Typst: %s", _diagnostic(warning))
    return pdf  # type: ignore[return-value]


_PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
                    "ALL_PROXY", "no_proxy", "NO_PROXY")


@contextlib.contextmanager
def _proxies(proxy: str | None) -> Iterator[None]:
    """With ``proxy``, every proxy variable names it (and none is bypassed) while Typst
    compiles; the environment is restored after."""
    if proxy is None:
        yield
        return
    saved = {name: os.environ.get(name) for name in _PROXY_VARIABLES}
    for name in _PROXY_VARIABLES:
        os.environ[name] = "" if name.lower() == "no_proxy" else proxy
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _font_paths() -> list[str]:
    """Fonts bundled with the package, if any (``data/fonts/``), before Typst's own."""
    from ..render import data_dir

    fonts = data_dir() / "fonts"
    return [str(fonts)] if fonts.is_dir() else []


def _diagnostic(problem: object) -> str:
    """Typst's message with the offending source line, without the box drawing."""
    text = str(getattr(problem, "diagnostic", "") or getattr(problem, "message", problem))
    lines = [re.sub(r"^\s*[│┌─]+\s?", "", line).rstrip() for line in text.splitlines()]
    return " ".join(line for line in lines if line.strip() and line.strip() != "│")[:500]
