"""The names of the output formats and PDF engines, and the modules that implement them.

A leaf: config.py (checking ``formats`` and ``pdf-engine``) and the CLI read the names
here without importing a renderer (pandoc, WeasyPrint, python-docx…); only
``formats.render_formats`` and the build import ``IMPLEMENTATIONS``' modules, when used.
It imports nothing of the package but errors.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import ConfigError

# Formats ``--format`` / ``formats = [...]`` select (the Typst PDF is a PDF engine).
SUPPORTED = ("docx", "jats", "latex")
PDF_ENGINES = ("weasyprint", "typst")
# What implements each format ("typst": the Typst PDF engine) and the WeasyPrint engine.
IMPLEMENTATIONS = {
    "docx": "manuscript.formats.docx",
    "jats": "manuscript.formats.jats",
    "latex": "manuscript.formats.latex",
    "typst": "manuscript.formats.typst_pdf",
    "weasyprint": "manuscript.pdf",
}
OUTPUTS = {
    "docx": ("manuscript.docx",),
    "jats": ("manuscript.jats.xml",),
    "latex": ("manuscript.tex", "references.bib"),
    "typst": ("manuscript.pdf",),
}
# What the web page's download list calls each output.
LABELS = {
    "manuscript.docx": "Word",
    "manuscript.jats.xml": "JATS XML",
    "manuscript.tex": "LaTeX",
    "references.bib": "BibTeX",
}


def check_formats(names: Sequence[str]) -> tuple[str, ...]:
    """Validated, de-duplicated format names (a typo is a ConfigError)."""
    for name in names:
        if name not in SUPPORTED:
            raise ConfigError(f"unknown format {name!r} (known: {', '.join(SUPPORTED)})")
    return tuple(dict.fromkeys(names))


def output_names(formats: Sequence[str]) -> list[str]:
    """The files ``formats.render_formats(..., formats)`` writes into output/."""
    return [name for fmt in formats for name in OUTPUTS[fmt]]

