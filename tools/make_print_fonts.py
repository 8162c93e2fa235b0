"""Make the PDF's copies of the bundled fonts: each WOFF2 file as a gzipped TrueType file.

Run after ``tools/make_fonts.py`` (whenever the WOFF2 files change); the results are
committed in ``build/manuscript/data/fonts/print/``::

    python tools/make_print_fonts.py

Why: WeasyPrint turns every WOFF2 font it loads back into TrueType with fontTools, whose
glyf reconstruction is pure Python: 1.4 s for our 18 files, on every PDF build, a fifth
of the PDF stage of a 27-page manuscript (bench/weasyprint-profile.md). A TrueType file
goes to FreeType as it is, and gzip (C) undoes in milliseconds. The bytes are those
WeasyPrint would make itself (``woff2.decompress``), so the PDF is the same;
tests/test_print.py checks that every file matches its WOFF2 source.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from fontTools.ttLib import woff2

FONTS = Path(__file__).resolve().parents[1] / "build" / "manuscript" / "data" / "fonts"


def print_font(woff2_bytes: bytes) -> bytes:
    """The gzipped TrueType file of one WOFF2 font (reproducible: no time stamp)."""
    out = io.BytesIO()
    woff2.decompress(io.BytesIO(woff2_bytes), out)
    return gzip.compress(out.getvalue(), compresslevel=9, mtime=0)


def main() -> None:
    folder = FONTS / "print"
    folder.mkdir(exist_ok=True)
    wanted = set()
    for source in sorted(FONTS.glob("*.woff2")):
        target = folder / f"{source.stem}.ttf.gz"
        wanted.add(target.name)
        target.write_bytes(print_font(source.read_bytes()))
        print(target.relative_to(FONTS.parent), target.stat().st_size)
    for stale in folder.glob("*.ttf.gz"):
        if stale.name not in wanted:
            stale.unlink()


if __name__ == "__main__":
    main()
