"""The theme's bundled fonts (``data/fonts``): written beside the page, found by the PDF.

The page's CSS (``data/theme/css/05-fonts.css``) links them as ``fonts/<file>.woff2``,
relative to the page: ``output/fonts/`` here, and ``webpage/v/<version>/fonts/`` once
published. WeasyPrint reads the HTML with ``content/`` as its base, so the PDF's URL
fetcher maps that same relative path back to the package (``bundled_font``).
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

logger = logging.getLogger(__name__)

FOLDER = "fonts"


def fonts_dir() -> Path:
    return Path(str(resources.files("manuscript") / "data" / FOLDER))


def font_files() -> list[Path]:
    """The font files and their licences (the OFL requires the licence to travel along)."""
    return sorted(p for p in fonts_dir().iterdir()
                  if p.suffix == ".woff2" or p.name.startswith("LICENSE"))


def bundled_font(url: str, base_url: str) -> Path | None:
    """The bundled file a page-relative ``fonts/<file>`` URL stands for, if any."""
    if not url.startswith(base_url + FOLDER + "/"):
        return None
    name = url[len(base_url) + len(FOLDER) + 1:]
    path = fonts_dir() / name
    return path if "/" not in name and path.suffix == ".woff2" and path.is_file() else None
