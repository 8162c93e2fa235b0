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
from . import images, run, typst_math

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)

OUTPUT = "manuscript.pdf"
RUNNING_HEAD_CHARS = 70


def template() -> Path:
    from ..render import data_dir

    return data_dir() / "formats" / "typst" / "template.typ"


def finish_filter() -> Path:
    return template().parent / "finish.lua"


def render(config: Config, ast: dict, csl_items: list[dict], variables: dict,
           theme: Theme) -> dict[str, bytes]:
    doc = d.prepare(ast, variables)
    if doc.abstract:
        doc.ast["meta"]["abstract"] = {"t": "MetaBlocks", "c": doc.abstract}
    if doc.abstract_heading:
        doc.ast["meta"]["abstract-title"] = {"t": "MetaInlines",
                                            "c": doc.abstract_heading["c"][2]}
    _warn_repeated_ids(config, drop_repeated_ids(doc.ast))
    curly_quotes_in_headings(doc.ast["blocks"])
    with tempfile.TemporaryDirectory(prefix="manuscript-typst-") as tmp:
        workdir = Path(tmp)
        images.localize(doc.ast, config, workdir, raster=False)
        keys, formulas = typst_math.prepare(config, doc.ast, workdir)
        marked = Marked.mark(doc.ast)
        start = time.perf_counter()
        source = run.run(doc.ast, to="typst", filters=theme.filters, workdir=workdir,
                         csl=theme.csl, csl_items=csl_items,
                         args=[f"--template={template()}",
                               *typst_math.write_table(keys, workdir)],
                         after=[finish_filter()])
        middle = time.perf_counter()
        if config.offline:
            refuse_packages(config, source)
        sys_inputs = inputs(doc)
        sys_inputs["math"] = json.dumps(formulas, ensure_ascii=False)
        pdf = compile_pdf(source, workdir, sys_inputs, marked, d.Places(config.content_dir),
                          offline=config.offline)
        logger.debug("typst: pandoc %.2f s, Typst compile %.2f s", middle - start,
                     time.perf_counter() - middle)
        return {OUTPUT: pdf}


def curly_quotes_in_headings(node: object) -> None:
    """Quotes in a heading become the curly characters the HTML shows.

    pandoc writes a quotation as Typst's smart quotes (``"…"``): curly on the page, but
    the PDF's bookmarks (the outline) get the straight ``"`` of the source.
    """
    if isinstance(node, list):
        for item in node:
            curly_quotes_in_headings(item)
    elif isinstance(node, dict):
        if node.get("t") == "Header":
            node["c"][2] = _unquote(node["c"][2])
        elif node.get("t") in ("Div", "BlockQuote"):
            curly_quotes_in_headings(node.get("c"))


def _unquote(value: object) -> object:
    """``value`` (pandoc JSON) with each Quoted inline as its text between quotes."""
    if isinstance(value, list):
        out: list = []
        for item in value:
            if isinstance(item, dict) and item.get("t") == "Quoted":
                kind, inlines = item["c"]
                open_, close = d.QUOTES.get(kind.get("t", ""), ('"', '"'))
                out += [{"t": "Str", "c": open_}, *_unquote(inlines), {"t": "Str", "c": close}]
            else:
                out.append(_unquote(item))
        return out
    if isinstance(value, dict):
        return {key: _unquote(item) for key, item in value.items()}
    return value


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
                texts.append(d.stringify(node["c"][2]) if node["t"] == "Header" else "")
                if len(texts) > 1:
                    attr[0] = ""
        for value in node.values():
            walk(value)

    walk(ast["blocks"])
    return {key: texts for key, texts in seen.items() if len(texts) > 1}


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


# ------------------------------------------------------------ Typst's errors, placed
#
# Typst names a line of the generated manuscript.typ, a temporary file; the user needs
# the Markdown's. So every top-level block (and every block of a Div) is framed by
# comments naming it, and every raw Typst inline by block comments; a diagnostic's
# line is mapped to the innermost frame around it, and that element to its place in
# the sources (document.Places). An element Typst cannot typeset is then left out and
# the rest compiled again: an author's raw Typst is dropped, any other block replaced
# by a visible placeholder, each with a warning naming its file:line.

_BLOCK = re.compile(r"^// manuscript-block (\d+)$|^// manuscript-end (\d+)$", re.M)
_INLINE = re.compile(r"/\*manuscript-raw (\d+)\*/|/\*manuscript-raw-end (\d+)\*/")
MAX_REPAIRS = 20  # elements left out before the build gives up


class Marked:
    """The elements framed in the source, by number."""

    def __init__(self) -> None:
        self.blocks: list[dict] = []
        self.inlines: list[dict] = []

    @classmethod
    def mark(cls, ast: dict) -> Marked:
        marked = cls()
        ast["blocks"] = marked._blocks(ast["blocks"])
        return marked

    def _blocks(self, blocks: list[dict]) -> list[dict]:
        out: list[dict] = []
        for block in blocks:
            n = len(self.blocks)
            self.blocks.append(block)
            if block.get("t") == "Div" and block["c"][0][0] != "refs" and block["c"][1]:
                block["c"][1] = self._blocks(block["c"][1])  # citeproc fills #refs
            else:
                self._inlines(block)
            out += [_raw_block(f"// manuscript-block {n}"), block,
                    _raw_block(f"// manuscript-end {n}")]
        return out

    def _inlines(self, node: object) -> None:
        """Frame every raw Typst element below ``node`` (inlines, and blocks in lists,
        quotes or tables) with block comments."""
        if isinstance(node, dict):
            for value in node.values():
                self._inlines(value)
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                item = node[index]
                kind = item.get("t") if isinstance(item, dict) else None
                if kind in ("RawInline", "RawBlock") and item["c"][0] == "typst":
                    n = len(self.inlines)
                    self.inlines.append(item)
                    frame = _raw_inline if kind == "RawInline" else _raw_block
                    node[index:index + 1] = [frame(f"/*manuscript-raw {n}*/"), item,
                                             frame(f"/*manuscript-raw-end {n}*/")]
                else:
                    self._inlines(item)


def _raw_block(text: str) -> dict:
    return {"t": "RawBlock", "c": ["typst", text]}


def _raw_inline(text: str) -> dict:
    return {"t": "RawInline", "c": ["typst", text]}


class Diagnostic:
    """One error or warning of Typst: its message, hints and place in manuscript.typ."""

    def __init__(self, severity: str, message: str) -> None:
        self.severity, self.message = severity, message
        self.line: int | None = None
        self.column: int | None = None
        self.in_main = False
        self.hints: list[str] = []
        self.snippet = ""

    def text(self) -> str:
        message = self.message if len(self.message) <= 200 else self.message[:200] + " …"
        hints = "".join(f" (hint: {hint})" for hint in self.hints[:2])
        snippet = f" in `{self.snippet}`" if self.snippet else ""
        return f"{message}{snippet}{hints}"


_LOCATION = re.compile(r"┌─ (?P<path>.+?):(?P<line>\d+):(?P<col>\d+)\s*$")
_SOURCE_LINE = re.compile(r"^\s*\d+\s*│ ?(?P<text>.*)$")


def diagnostics(text: str, root: Path | None = None) -> list[Diagnostic]:
    """Typst's formatted diagnostics (``TypstError.diagnostic``), parsed; paths below
    ``root`` (Typst's temporary root folder) as relative ones."""
    folders = {str(root.resolve()) + "/", str(root) + "/"} if root is not None else set()

    def relative(message: str) -> str:
        for folder in folders:
            message = message.replace(folder, "")
        return message

    found: list[Diagnostic] = []
    for line in text.splitlines():
        head = re.match(r"^(error|warning): (.*)$", line)
        if head:
            found.append(Diagnostic(head.group(1), relative(head.group(2).strip())))
            continue
        if not found:
            continue
        current = found[-1]
        location = _LOCATION.search(line)
        if location and current.line is None:
            current.line, current.column = int(location["line"]), int(location["col"])
            current.in_main = Path(location["path"]).name == "manuscript.typ"
            continue
        hint = re.match(r"^\s*= hint: (.*)$", line)
        if hint:
            current.hints.append(relative(hint.group(1).strip()))
            continue
        source = _SOURCE_LINE.match(line)
        if source and not current.snippet and source["text"].strip():
            current.snippet = source["text"].strip()[:120]
    return found


class _Source:
    """manuscript.typ as text, with the frames around a line or character found."""

    def __init__(self, text: str) -> None:
        self.text = text

    def offset(self, line: int, column: int) -> int:
        starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        return starts[min(line, len(starts)) - 1] + max(column - 1, 0)

    def frame(self, diagnostic: Diagnostic) -> tuple[str, int, int, int] | None:
        """("inline" | "block", number, start, end) of the innermost frame around the
        diagnostic's place (start/end: character offsets of the frame's markers)."""
        if not diagnostic.in_main or diagnostic.line is None:
            return None
        at = self.offset(diagnostic.line, diagnostic.column or 1)
        for kind, pattern in (("inline", _INLINE), ("block", _BLOCK)):
            best = None
            opened: dict[int, int] = {}
            for match in pattern.finditer(self.text):
                if match.group(1) is not None:
                    opened[int(match.group(1))] = match.start()
                    continue
                n = int(match.group(2))
                begin = opened.pop(n, None)
                if begin is not None and begin <= at < match.end() \
                        and (best is None or begin > best[2]):
                    best = (kind, n, begin, match.end())
            if best is not None:
                return best
        return None


def compile_pdf(source: bytes, root: Path, sys_inputs: dict[str, str],
                marked: Marked | None = None, places: d.Places | None = None, *,
                offline: bool = False) -> bytes:
    """Typst source → PDF; Typst's warnings are ours, with their Markdown place.

    An element Typst cannot typeset is left out with a warning (see above); an error
    that is in no element is a RenderError. Packages: none from this machine's Typst
    data folder (``@local/…`` would read outside the manuscript), and offline none from
    its cache or the network either."""
    import typst

    main = root / "manuscript.typ"
    packages = root / ".no-packages"  # an empty folder: no package is found in it
    packages.mkdir(exist_ok=True)
    cache = {"package_cache_path": str(packages)} if offline else {}
    text = _Source(source.decode("utf-8"))
    marked = marked or Marked()
    left_out: set[tuple[str, int]] = set()
    while True:
        main.write_text(text.text, encoding="utf-8")
        try:
            with _proxies(_NO_NETWORK if offline else None):
                pdf, warnings = typst.compile_with_warnings(
                    str(main), root=str(root), sys_inputs=sys_inputs,
                    ignore_system_fonts=True, font_paths=_font_paths(),
                    package_path=str(packages), **cache)
            break
        except typst.TypstError as error:
            message = str(getattr(error, "message", error))
            if offline and "package" in message:
                raise RenderError("raw Typst uses a package, and packages are not fetched "
                                  f"offline: {message.strip()}") from None
            found = [x for x in diagnostics(str(getattr(error, "diagnostic", "") or ""), root)
                     if x.severity == "error"] \
                or diagnostics(f"error: {error.message}", root)
            text = _left_out(text, found, marked, places, left_out)
    for warning in warnings:
        found = diagnostics(str(getattr(warning, "diagnostic", "") or ""), root) \
            or diagnostics(f"warning: {getattr(warning, 'message', warning)}", root)
        for diagnostic in found:
            where, place = _where(text, diagnostic, marked, places)
            logger.warning("%sTypst: %s", where, diagnostic.text(),
                           extra=log.annotate(*place) if place else {})
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


def _left_out(text: _Source, errors: list[Diagnostic], marked: Marked,
              places: d.Places | None, left_out: set[tuple[str, int]]) -> _Source:
    """The source without the elements the errors are in (each warned about), or a
    RenderError for an error that is in no element, or once too many are left out."""
    cuts: dict[tuple[str, int], tuple[int, int, Diagnostic]] = {}
    for error in errors:
        frame = text.frame(error)
        where, place = _where(text, error, marked, places)
        too_many = len(left_out) + len(cuts) >= MAX_REPAIRS
        if frame is None or (frame[0], frame[1]) in left_out or too_many:
            path, line = place if place else (None, None)
            why = f" ({len(left_out)} parts were left out already)" if too_many else ""
            raise RenderError(f"Typst failed: {error.text()}{why}", path, line)
        kind, n, begin, end = frame
        cuts.setdefault((kind, n), (begin, end, error))
    pieces, done = [], 0
    for (kind, n), (begin, end, error) in sorted(cuts.items(), key=lambda c: c[1][0]):
        if begin < done:  # inside a frame cut already
            continue
        left_out.add((kind, n))
        element = marked.inlines[n] if kind == "inline" else marked.blocks[n]
        where, place = _where(text, error, marked, places)
        extra = log.annotate(*place) if place else {}
        if element.get("t") in ("RawBlock", "RawInline"):
            logger.warning("%sraw Typst left out of the PDF: %s", where, error.text(),
                           extra=extra)
            replacement = ""
        else:
            logger.warning("%sTypst cannot typeset this part, the PDF shows a placeholder "
                           "instead: %s", where, error.text(), extra=extra)
            replacement = _placeholder(element)
        pieces += [text.text[done:begin], replacement]
        done = end
    return _Source("".join([*pieces, text.text[done:]]))


def _placeholder(block: dict) -> str:
    """What stands for a block Typst could not typeset: visible, keeping its label."""
    anchor = ""
    content = block.get("c")
    index = _ATTR_INDEX.get(block.get("t", ""))
    if index is not None and isinstance(content, list) and content[index][0]:
        anchor = f"#metadata(none)#label({json.dumps(content[index][0], ensure_ascii=False)})"
    return (f"\n{anchor}#block(stroke: 0.5pt + red, inset: 4pt)[#text(fill: red)"
            "[This part could not be typeset; see the build's warnings.]]\n")


def _where(text: _Source, diagnostic: Diagnostic, marked: Marked,
           places: d.Places | None) -> tuple[str, tuple[Path, int] | None]:
    """``file:line: `` of the element the diagnostic is in, and (file, line)."""
    frame = text.frame(diagnostic)
    if frame is None or places is None:
        return "", None
    kind, n = frame[0], frame[1]
    element = marked.inlines[n] if kind == "inline" else marked.blocks[n]
    place = places.of(element)
    return places.where(element), place


def _font_paths() -> list[str]:
    """Fonts bundled with the package, if any (``data/fonts/``), before Typst's own."""
    from ..render import data_dir

    fonts = data_dir() / "fonts"
    return [str(fonts)] if fonts.is_dir() else []
