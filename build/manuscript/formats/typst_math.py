"""The Typst PDF draws the same formulas as the page and the WeasyPrint PDF: MathJax's SVG.

pandoc's Typst writer translates TeX into Typst math, and that translation is where the
Typst PDF failed on real manuscripts (``\\S`` as the unknown variable ``sect``,
``\\otimes`` as ``times.circle``, which Typst 0.15 no longer knows, ``\\big\\|`` printed
as the word "parallel", scripts stacked like limits). MathJax, which typesets the HTML
and the WeasyPrint PDF (math.py), already sets every formula of the corpus as TeX
does; so each formula is typeset once more here (or taken from the html stage's cache,
read only: that stage owns it) and its SVG becomes a file in Typst's root folder.

``data/formats/typst/finish.lua`` (after crossref.lua and citeproc) replaces every Math
element by a call of the template's ``mjx`` function with the formula's id, which draws
the SVG at MathJax's own size: width, height and depth in ex, converted by the text
font's x-height, as the browser and WeasyPrint convert them; an inline formula sits on
the baseline (``box(baseline: depth)``), a display formula is centred with its number.
A formula MathJax refused shows its TeX, as on the page (the html stage warns about it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

from .. import math
from ..config import Config

_SVG = re.compile(r"<svg\b.*</svg>", re.DOTALL)  # the outermost: MathJax may nest some
_EX = re.compile(r"^\s*(-?[0-9.]+)ex\s*$")
_VALIGN = re.compile(r"vertical-align:\s*(-?[0-9.]+)ex")
FOLDER = "math"  # in Typst's root


def prepare(config: Config, ast: dict, workdir: Path) -> tuple[dict[str, str], dict]:
    """Typeset the AST's formulas, write their SVGs under ``workdir/math``.

    Returns the table finish.lua reads (formula key → id) and the template's data
    (id → file, size in ex, TeX; or the TeX alone for a formula MathJax refused).
    """
    formulas = math.collect(ast)
    if not formulas:
        return {}, {}
    results = math.typeset_readonly(formulas, config.cache_dir / math.CACHE_FILE)
    folder = workdir / FOLDER
    folder.mkdir(exist_ok=True)
    keys: dict[str, str] = {}
    data: dict[str, dict] = {}
    for n, formula in enumerate(formulas, 1):
        ident = f"m{n}"
        keys[formula.key] = ident
        result = results[formula]
        entry = svg_entry(result.html) if result.error is None else None
        if entry is None:
            data[ident] = {"tex": formula.tex, "display": formula.display, "error": True}
            continue
        svg, width, height, depth = entry
        name = f"{FOLDER}/{ident}.svg"
        (workdir / name).write_text(svg, encoding="utf-8")
        data[ident] = {"file": name, "width": width, "height": height, "depth": depth,
                       "tex": formula.tex, "display": formula.display}
    return keys, data


def svg_entry(html: str) -> tuple[str, float, float, float] | None:
    """MathJax's SVG out of its ``<mjx-container>``, with its width, height and depth
    (below the baseline) in ex; None if there is none or it is not well-formed XML."""
    match = _SVG.search(html)
    if match is None:
        return None
    svg = match.group()
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError:
        return None
    width, height = _EX.match(root.get("width", "")), _EX.match(root.get("height", ""))
    if width is None or height is None:
        return None
    valign = _VALIGN.search(root.get("style", ""))
    depth = -float(valign.group(1)) if valign else 0.0
    return svg, float(width.group(1)), float(height.group(1)), depth


def write_table(keys: dict[str, str], workdir: Path) -> list[str]:
    """pandoc arguments that hand finish.lua the table (a file: formulas can be long)."""
    if not keys:
        return []
    table = workdir / "typst-math.json"
    table.write_text(json.dumps(keys, ensure_ascii=False), encoding="utf-8")
    return [f"--metadata=manuscript-typst-math:{table}"]
