"""Math: every TeX formula → SVG with MathJax 3, once, for the HTML and the PDF alike.

The render stage collects the formulas of the pandoc AST and typesets each distinct one
here (once: results are kept by digest in ``ci/cache/math.json``, so a rebuild after a
text edit typesets nothing again); ``data/filters/math.lua``, after crossref.lua, puts
them in place of pandoc's Math elements. The page then carries, per formula, an inline
SVG (glyphs as paths: no math font needed, ``currentColor`` follows dark mode) with
MathJax's assistive MathML beside it for screen readers. WeasyPrint draws the same
SVG into the PDF, as an image with the TeX as its alt text (``print_formulas``), so both
outputs come from one engine and the PDF's text layer holds no TeX.

Why MathJax in an embedded V8 (decision, measured 2026-11-29 on the shared 2-core build
machine; ``python -m bench --only math`` prints the current figures):

- ziamath (the previous PDF engine, pure Python): 19 ms per formula, and it set
  ``\\big\\langle`` as "\\ langle", ``:=`` as ": =", ``\\left( … \\right)`` around tall
  content taller than the page, silently; an undefined macro is printed, not reported.
  Chromium's MathML with a bundled math font would still draw ``\\boxed`` (menclose)
  without its box, and be a second engine beside the PDF's.
- MathJax 3.2.2 (TeX input with its packages, SVG output), bundled into one 1.8 MB file
  (0.6 MB gzipped) by ``tools/mathjax/build.sh``, run by ``mini-racer`` (V8, PyPI):
  0.2-0.4 s to start (only when a formula is not cached), then 4-11 ms per formula (300
  distinct formulas: 1.7-3.4 s while other work shared the machine); every case above
  comes out as TeX sets it, and bad TeX raises an error that we report with file:line.
  MathJax 3 does not break long lines: the PDF scales a too-wide formula down, to no
  less than ``MIN_DISPLAY_SCALE``.
"""

from __future__ import annotations

import base64
import functools
import html as htmllib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .config import Config
from .errors import RenderError
from .fsutil import digest, read_json_state, write_text_atomic
from .limits import env_limit
from .log import annotate
from .sources import find_occurrences

logger = logging.getLogger(__name__)

CACHE_FILE = "math.json"  # in ci/cache/, beside the citation cache
TIMEOUT_MS = 10_000  # per formula; MathJax itself stops runaway macro expansion sooner

# Per build (issue #18: 32 formulas of 20 KB took 244 s and made a 319 MB page; a page
# of eight 100x100 matrices is 81 MB). Measured here: a formula is typeset in 4-11 ms
# (300 in 1.7-3.4 s), a 30x30 matrix is 2.3 MB of SVG and MathML, a 100x100 one 10 MB.
# Each can be raised with its MANUSCRIPT_MATH_* variable (limits.py).
TIMEOUT = 120.0  # s for all the formulas a build typesets (MANUSCRIPT_MATH_TIMEOUT)
TEX_KB = 1024  # TeX of all distinct formulas (MANUSCRIPT_MATH_TEX_KB)
FORMULA_KB = 5120  # one formula's SVG and MathML (MANUSCRIPT_MATH_FORMULA_KB)
TOTAL_MB = 50  # all formulas' SVG and MathML (MANUSCRIPT_MATH_TOTAL_MB)


@dataclass(frozen=True)
class Formula:
    tex: str
    display: bool

    @property
    def key(self) -> str:
        """The key math.lua looks the formula up by: mathtype initial + TeX."""
        return ("D" if self.display else "I") + self.tex


@dataclass(frozen=True)
class Typeset:
    html: str  # an <mjx-container>, or a <code class="math-error"> with the TeX
    error: str | None = None


def bundle() -> Path:
    return Path(str(resources.files("manuscript") / "data" / "math" / "mathjax-svg.js"))


def collect(ast: dict) -> list[Formula]:
    """The distinct formulas of a pandoc JSON AST, in document order."""
    seen: dict[Formula, None] = {}
    for node in _math_nodes(ast):
        mathtype, tex = node["c"]
        seen.setdefault(Formula(tex, mathtype["t"] == "DisplayMath"), None)
    return list(seen)


def _math_nodes(value: object) -> Iterator[dict]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("t") == "Math":
                yield item
            else:
                stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))


class Engine:
    """MathJax in one V8 context, started on first use (a manuscript without math, or
    whose formulas are all cached, never pays for it).

    Use it as a context manager: the V8 context must be closed before the interpreter
    exits, or mini-racer 0.14 can hang the process at exit (seen 2 runs in 6 here).
    """

    def __init__(self) -> None:
        self._context = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None

    def _start(self):
        from concurrent.futures import ThreadPoolExecutor

        from py_mini_racer import MiniRacer

        # Made on a thread of its own: mini-racer adopts an asyncio loop running in the
        # thread that makes it (Playwright's, in a process that also drives a browser),
        # and then refuses every call with a time limit from outside that loop.
        with ThreadPoolExecutor(1) as thread:
            context = thread.submit(MiniRacer).result()
        context.eval(bundle().read_text(encoding="utf-8"))
        return context

    def typeset(self, formula: Formula) -> Typeset:
        from py_mini_racer import JSTimeoutException

        if self._context is None:
            self._context = self._start()
        try:
            answer = json.loads(self._context.call("typeset", formula.tex, formula.display,
                                                   timeout=TIMEOUT_MS))
        except JSTimeoutException:
            answer = {"error": f"gave up after {TIMEOUT_MS / 1000:g} s"}
        if "html" in answer:
            return Typeset(answer["html"])
        return Typeset(error_html(formula, answer["error"]), answer["error"])


def error_html(formula: Formula, message: str) -> str:
    """A formula MathJax refused: its TeX, visibly marked, in both outputs."""
    tex, why = htmllib.escape(formula.tex), htmllib.escape(message, quote=True)
    kind = "display" if formula.display else "inline"
    return f'<code class="math-error {kind}" title="TeX error: {why}">{tex}</code>'


@dataclass(frozen=True)
class Limits:
    """The math budget of one build (see TIMEOUT …)."""

    seconds: float = TIMEOUT
    tex_bytes: int = TEX_KB * 1024
    formula_bytes: int = FORMULA_KB * 1024
    total_bytes: int = TOTAL_MB * 1024 * 1024

    @classmethod
    def from_env(cls) -> Limits:
        return cls(env_limit("MANUSCRIPT_MATH_TIMEOUT", TIMEOUT),
                   int(env_limit("MANUSCRIPT_MATH_TEX_KB", TEX_KB) * 1024),
                   int(env_limit("MANUSCRIPT_MATH_FORMULA_KB", FORMULA_KB) * 1024),
                   int(env_limit("MANUSCRIPT_MATH_TOTAL_MB", TOTAL_MB) * 1024 * 1024))


class OverBudget(Exception):
    """A math limit met at ``formula`` (``prepare`` names its file:line)."""

    def __init__(self, formula: Formula, message: str) -> None:
        super().__init__(message)
        self.formula, self.message = formula, message


def typeset_all(formulas: Iterable[Formula], cache: Path | None = None,
                limits: Limits | None = None) -> dict[Formula, Typeset]:
    """Typeset each formula, or take it from ``cache`` (a JSON file keyed by a digest of
    the engine and the formula), which is rewritten to hold this build's formulas only:
    a rebuild after a text edit typesets nothing again.

    Within ``limits``: the TeX of all formulas is measured first, then each formula's
    output and the total as they come (cached ones too: the cache is a file anyone can
    edit), and the time spent typesetting; the first formula past a limit raises
    OverBudget, and nothing is written.
    """
    limits = limits or Limits()
    formulas = list(formulas)
    tex = 0
    for formula in formulas:
        tex += len(formula.tex.encode("utf-8"))
        if tex > limits.tex_bytes:
            raise OverBudget(formula, f"the formulas' TeX exceeds {_size(limits.tex_bytes)} "
                             "in all (MANUSCRIPT_MATH_TEX_KB) by this one")
    stored = _read_cache(cache) if cache else {}
    kept: dict[str, dict] = {}
    results = {}
    total = 0
    deadline = time.monotonic() + limits.seconds
    with Engine() as engine:
        for formula in formulas:
            key = digest([bundle_digest(), formula.key])
            entry = stored.get(key)
            if not isinstance(entry, dict) or not isinstance(entry.get("html"), str):
                # The budget is checked between formulas, each with its own time limit:
                # a call cut short at the budget's end would leave mini-racer a late
                # callback into a context closed meanwhile (it prints a traceback).
                typeset = None if time.monotonic() >= deadline else engine.typeset(formula)
                if typeset is None or time.monotonic() >= deadline:
                    raise OverBudget(formula, f"typesetting the formulas took more than "
                                     f"{limits.seconds:g} s (MANUSCRIPT_MATH_TIMEOUT); "
                                     "stopped at this one")
                entry = {"html": typeset.html, "error": typeset.error}
            size = len(entry["html"].encode("utf-8"))
            if size > limits.formula_bytes:
                raise OverBudget(formula, f"this formula typesets to {_size(size)}, more than "
                                 f"{_size(limits.formula_bytes)} (MANUSCRIPT_MATH_FORMULA_KB)")
            total += size
            if total > limits.total_bytes:
                raise OverBudget(formula, f"the formulas typeset to more than "
                                 f"{_size(limits.total_bytes)} in all "
                                 "(MANUSCRIPT_MATH_TOTAL_MB) by this one")
            kept[key] = entry
            results[formula] = Typeset(entry["html"], entry.get("error"))
    if cache and kept != stored:
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache, json.dumps(kept, ensure_ascii=False))
    return results


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / 1024 / 1024:.1f} MB"
    return f"{count // 1024} KB" if count >= 1024 else f"{count} bytes"


def typeset_readonly(formulas: Iterable[Formula], cache: Path) -> dict[Formula, Typeset]:
    """As ``typeset_all``, but ``cache`` is only read: the format worker (the Typst PDF)
    runs beside the html stage, which owns the cache and rewrites it to this build's
    formulas; a formula not there yet is typeset here, in memory."""
    stored = _read_cache(cache)
    results = {}
    with Engine() as engine:
        for formula in formulas:
            entry = stored.get(digest([bundle_digest(), formula.key]))
            if isinstance(entry, dict) and isinstance(entry.get("html"), str):
                results[formula] = Typeset(entry["html"], entry.get("error"))
            else:
                results[formula] = engine.typeset(formula)
    return results


def _read_cache(path: Path) -> dict:
    def shape(data: object) -> dict:
        if not isinstance(data, dict):
            raise TypeError("not a mapping")
        return data

    return read_json_state(path, "formulas are typeset again", shape) or {}


@functools.cache
def bundle_digest() -> str:
    """Part of the HTML stage's key: a new MathJax bundle re-typesets everything."""
    return digest([bundle().read_bytes()])


def prepare(config: Config, ast: dict, folder: Path) -> list[str]:
    """Typeset the AST's formulas; pandoc arguments that put them in place.

    Formulas MathJax cannot typeset are warned about with their ``file:line`` and shown
    as their TeX source.
    """
    formulas = collect(ast)
    if not formulas:
        return []
    try:
        results = typeset_all(formulas, config.cache_dir / CACHE_FILE, Limits.from_env())
    except OSError as error:  # the bundle is missing: a broken installation
        raise RenderError(f"math engine unavailable: {error}") from error
    except OverBudget as over:
        places = _places(over.formula, config.content_dir)
        raise RenderError(f"math: {over.message}; set the variable to allow more",
                          *(places[0] if places else (None, None))) from None
    for formula, result in results.items():
        if result.error:
            _warn(formula, result.error, config.content_dir)
    table = folder / "math.json"
    table.write_text(json.dumps({f.key: r.html for f, r in results.items()}, ensure_ascii=False),
                     encoding="utf-8")
    return [f"--metadata=manuscript-math:{table}"]


def _places(formula: Formula, content_dir: Path) -> list[tuple[Path, int]]:
    """Where the formula is written: the lines holding its longest line of TeX."""
    needle = max(formula.tex.strip().splitlines() or [""], key=len).strip()
    return find_occurrences(content_dir, needle) if needle else []


def _warn(formula: Formula, message: str, content_dir: Path) -> None:
    places = _places(formula, content_dir)
    for path, line in places or [(None, None)]:
        where = f"{path.relative_to(content_dir.parent)}:{line}: " if path else ""
        logger.warning("%smath could not be typeset (%s): %s", where, message, formula.tex,
                       extra=annotate(path, line))


_SVG_NS = "http://www.w3.org/2000/svg"
_SVG = "{" + _SVG_NS + "}"
_XMLNS = "{http://www.w3.org/2000/xmlns/}"


def print_formulas(root) -> None:
    """Make each formula an ``<img>`` of its SVG, alt text its TeX, in WeasyPrint's
    parsed page (the PDF only; the page keeps its inline SVG and MathML).

    WeasyPrint draws an image of the SVG exactly as the inline SVG (the same drawing
    code, the same size from the SVG's ``width``/``height`` in ex, the same
    ``vertical-align``), but (measured, bench/weasyprint-profile.md) an inline SVG's
    every ``<g>`` and ``<path>`` first goes through the HTML cascade, which draws
    nothing, and a formula written twice is parsed twice; an image is parsed once per
    distinct formula. MathJax's assistive MathML is for screen readers of the page and
    hidden in print: it leaves too (the PDF's tag for the formula carries the TeX).
    """
    for container in list(root.iter("mjx-container")):
        tex = container.get("data-tex")
        for index, child in enumerate(list(container)):
            if child.tag == "mjx-assistive-mml":
                container.remove(child)
            elif child.tag == f"{_SVG}svg" and tex is not None:
                display = container.get("display") == "true"
                img = container.makeelement("img", {
                    "src": _svg_data_url(child), "alt": tex, "class": "mjx-svg",
                    "style": _width_style(child, display) + child.get("style", "")})
                img.tail = child.tail
                container.remove(child)
                container.insert(index, img)


# The smallest a display formula wider than the column is scaled to in the PDF: 70 %
# of 10.5 pt is the size of a TeX subscript, still read at arm's length. MathJax 3
# cannot break a line (v4 can), and scaling to fit set a long formula in 4 pt type.
# Below the floor it runs into the right margin, as TeX sets an overfull display
# (30-math.css), and its number moves below it, as amsmath does.
MIN_DISPLAY_SCALE = 0.7


def _width_style(svg, display: bool = False) -> str:
    """The SVG's ``width`` (MathJax: in ex) as CSS, as WeasyPrint applies it to an inline
    SVG: there a CSS ex is the x-height of the text's font, inside an image's SVG half
    an em, which set formulas 5 % larger than the page's. The height follows from the
    width (the theme's ``height: auto``). A display formula also gets its floor,
    ``--mjx-floor`` (``MIN_DISPLAY_SCALE`` of its width), for the theme's ``min-width``."""
    width = svg.get("width", "")
    try:
        number = float(width.removesuffix("ex"))
    except ValueError:
        return ""
    if not width.endswith("ex"):
        return ""
    floor = f"--mjx-floor: {number * MIN_DISPLAY_SCALE:.3f}ex; " if display else ""
    return f"width: {width}; {floor}"


def _svg_data_url(svg) -> str:
    from xml.etree import ElementTree

    for element in svg.iter():  # the HTML parser keeps xmlns="…" as an attribute
        for name in [n for n in element.attrib if n.startswith(_XMLNS)]:
            del element.attrib[name]
    try:  # MathJax writes only SVG elements: one default namespace, no prefixes
        text = ElementTree.tostring(svg, encoding="unicode", default_namespace=_SVG_NS)
    except ValueError:  # an element outside the SVG namespace: prefixes, still valid
        text = ElementTree.tostring(svg, encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(text.encode("utf-8")).decode("ascii")
