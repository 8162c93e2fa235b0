"""Extra output formats from the same processed document as the HTML.

``render_formats()`` takes what the HTML stage takes (the AST with citations already
rewritten to short ids, the CSL items, the template variables and the theme, whose
CSL style and crossref filter are reused) and returns ``{output name: bytes}``:

========  =============================================================
docx      ``manuscript.docx`` — Word, for co-authors
jats      ``manuscript.jats.xml`` — JATS Publishing 1.2, for PMC and preprint servers
latex     ``manuscript.tex`` + ``references.bib`` — for journals (natbib, BibTeX)
typst     ``manuscript.pdf`` — the PDF typeset by Typst instead of WeasyPrint
========  =============================================================

JATS and LaTeX reference images relatively (``images/…``), as the HTML does, so they
find them in ``output/images`` (a link to ``content/images``); Word and the Typst PDF
embed theirs.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ManuscriptError, RenderError

# The names and what implements them: a leaf module, so that config.py and the CLI
# read them without importing the renderers.
from ..registry import (  # noqa: F401 -- re-exported
    IMPLEMENTATIONS,
    LABELS,
    OUTPUTS,
    PDF_ENGINES,
    SUPPORTED,
    check_formats,
    output_names,
)

if TYPE_CHECKING:
    from ..config import Config
    from ..render import Theme

logger = logging.getLogger(__name__)


def downloads(formats: Sequence[str]) -> list[tuple[str, str]]:
    """(file, label) of every extra output, for the web page's download buttons."""
    return [(name, LABELS[name]) for name in output_names(formats)]


def add_downloads(ast: dict, files: list[tuple[str, str]]) -> None:
    """The web page's download list, as metadata its template reads."""
    ast["meta"]["manuscript-downloads"] = {"t": "MetaList", "c": [
        {"t": "MetaMap", "c": {"href": {"t": "MetaString", "c": name},
                               "label": {"t": "MetaString", "c": label}}}
        for name, label in files]}


def inputs_digest(root: Path) -> str:
    """What the formats read besides the document: this package's code and data, and
    the manuscript's own Word reference document."""
    from ..fsutil import digest, files_digest
    from .docx import reference_docx

    return digest([_code_digest(), files_digest([reference_docx(root)])])


@functools.cache
def _code_digest() -> str:
    from ..fsutil import digest, files_digest
    from ..render import data_dir

    here = Path(__file__).parent
    # The crossref filter has branches for these formats that leave the HTML unchanged.
    data = [p for folder in ("formats", "filters") for p in (data_dir() / folder).rglob("*")
            if p.is_file()]
    return digest([files_digest(here.glob("*.py")), files_digest(data)])


def render_formats(config: Config, ast: dict, csl_items: list[dict], variables: dict,
                   theme: Theme, formats: Sequence[str]) -> dict[str, bytes]:
    """Render each of ``formats`` (SUPPORTED names, or "typst" for the Typst PDF)."""
    # One after the other, in this thread: the stage cache records the warnings a stage
    # logs from its own thread, to replay them when the stage is skipped. (The build
    # calls this in a worker process, background.start, whose records come back as data.)
    outputs: dict[str, bytes] = {}
    for fmt in formats:
        module = importlib.import_module(IMPLEMENTATIONS[fmt])  # imported when used
        try:
            outputs.update(module.render(config, ast, csl_items, variables, theme))
        except ManuscriptError:
            raise
        except Exception as error:  # a bug of ours: one typed line, not a traceback
            path, line = _place_of_failure(config, error)
            logger.debug("%s failed", fmt, exc_info=True)
            raise RenderError(f"{NAMES[fmt]} could not be made: unexpected "
                              f"{type(error).__name__}: {error} (please report this)",
                              path, line) from error
    return outputs


# What messages call each format.
NAMES = {"docx": "Word (manuscript.docx)", "jats": "JATS (manuscript.jats.xml)",
         "latex": "LaTeX (manuscript.tex)", "typst": "the Typst PDF"}
_ELEMENT_NAMES = ("block", "element", "node", "inline", "header", "heading")


def _place_of_failure(config: Config, error: BaseException) -> tuple[Path | None, int | None]:
    """The Markdown place of the AST element the failing code was handling, if any:
    the innermost frame of this package with one in a local variable."""
    from .document import Places

    frames = []
    trace = error.__traceback__
    while trace is not None:
        frames.append(trace.tb_frame)
        trace = trace.tb_next
    for frame in reversed(frames):
        if not frame.f_globals.get("__name__", "").startswith(__name__):
            continue
        for name in _ELEMENT_NAMES:
            value = frame.f_locals.get(name)
            if isinstance(value, dict) and isinstance(value.get("t"), str):
                place = Places(config.content_dir).of(value)
                if place is not None:
                    return place
    return None, None
