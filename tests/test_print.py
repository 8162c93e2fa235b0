"""The PDF as a reader prints it: measure, reference density, fonts, missing images.

Run on the showcase fixture and on both shared corpus manuscripts (skipped without
../shared). Text positions come from pdfplumber, which reads what WeasyPrint laid out.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path

import pytest

from helpers import parse_html, select, text_of
from reading import MANUSCRIPTS, build_reading

pdfplumber = pytest.importorskip("pdfplumber", reason="pip install -e '.[test]'")

FONTS_CSS = (Path(__file__).resolve().parents[1] / "build" / "manuscript" / "data" / "theme"
             / "css" / "05-fonts.css")
BODY_SIZE = 10.5  # pt, 90-print.css
REFS_SIZE = 8.5
_ENTRY_START = re.compile(r"^\d{1,4}\.\s")


@pytest.fixture(scope="module", params=MANUSCRIPTS)
def pdf_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_reading(request.param, tmp_path_factory) / "output" / "manuscript.pdf"


def _lines(pdf_path: Path, size: float) -> list[tuple[int, float, float, str]]:
    """(page, x0, x1, text) of every line set in a serif font at ``size`` points."""
    lines: list[tuple[int, float, float, str]] = []
    with pdfplumber.open(pdf_path) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            rows: dict[float, list[dict]] = defaultdict(list)
            for char in page.chars:
                if abs(char["size"] - size) < 0.2 and "Serif" in char["fontname"]:
                    rows[round(char["top"])].append(char)
            for chars in rows.values():
                chars.sort(key=lambda c: c["x0"])
                text = "".join(c["text"] for c in chars)
                lines.append((number, chars[0]["x0"], chars[-1]["x1"], text))
    return lines


def test_body_measure_is_65_to_80_characters(pdf_path: Path) -> None:
    lines = _lines(pdf_path, BODY_SIZE)
    assert len(lines) > 20, "no body text found at the body size"
    width = max(x1 - x0 for _, x0, x1, _ in lines)
    # full lines (justified to the measure), not the last line of a paragraph
    full = [len(text) for _, x0, x1, text in lines if x1 - x0 > 0.95 * width]
    median = statistics.median(full)
    assert 65 <= median <= 80, f"median {median} characters a line over {len(full)} full lines"


def test_references_at_least_20_a_page(pdf_path: Path) -> None:
    entries: dict[int, int] = defaultdict(int)
    for page, _, _, text in _lines(pdf_path, REFS_SIZE):
        if _ENTRY_START.match(text):
            entries[page] += 1
    pages = sorted(entries)
    assert pages, "no numbered reference entries found"
    full_pages = pages[:-1]  # the last page of the list is as full as it happens to be
    if not full_pages:
        pytest.skip("the reference list fits on one page")
    sparse = {page: entries[page] for page in full_pages if entries[page] < 20}
    assert not sparse, f"pages with fewer than 20 references: {sparse}"


def _bundled_families() -> set[str]:
    families = set(re.findall(r'font-family: "([^"]+)"', FONTS_CSS.read_text(encoding="utf-8")))
    assert families, f"no @font-face in {FONTS_CSS}"
    return {family.replace(" ", "-") for family in families}


def _svg_families(images: Path) -> set[str]:
    """Fonts an SVG figure names itself: the author's choice, drawn as the SVG asks."""
    names: set[str] = set()
    for svg in images.rglob("*.svg") if images.is_dir() else ():
        text = svg.read_text(encoding="utf-8", errors="replace")
        for value in re.findall(r"font-family\s*[:=]\s*[\"']?([^;\">]+)", text):
            names |= {n.strip(" '\"").replace(" ", "-") for n in value.split(",")}
    return names - {"serif", "sans-serif", "monospace", ""}


def test_only_bundled_fonts_are_embedded(pdf_path: Path) -> None:
    from pypdf import PdfReader

    bundled = _bundled_families() | _svg_families(pdf_path.parents[1] / "content" / "images")
    embedded: set[str] = set()
    for page in PdfReader(pdf_path).pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for font in fonts.values():
            name = str(font.get_object().get("/BaseFont", "")).lstrip("/")
            embedded.add(name.split("+", 1)[-1])
    assert embedded
    foreign = {name for name in embedded
               if not any(name.rstrip(",").startswith(family) for family in bundled)}
    assert not foreign, f"fonts not bundled with the theme: {foreign} (bundled: {bundled})"


def test_no_clipped_icon_text(pdf_path: Path) -> None:
    with pdfplumber.open(pdf_path) as pdf:
        text = "\n".join(page.extract_text() or "" for page in pdf.pages)
    squashed = re.sub(r"\s+", "", text)
    for icon in ("ORCIDicon", "GitHubicon", "Twittericon", "Mastodonicon", "RCIDicon"):
        assert icon not in squashed, f"an icon's alt text reached the PDF's text: {icon}"


def test_missing_image_is_a_placeholder_with_the_caption_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = build_reading("showcase", tmp_path_factory)
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    missing = select(page, "figure .image-missing[data-file='images/missing-figure.png']")
    assert len(missing) == 1, "no placeholder for the missing figure image"
    icons = select(page, ".icon-missing[data-file='images/orcid-missing.svg']")
    assert [text_of(icon) for icon in icons] == ["ORCID"], "the icon did not become its label"
    assert not select(page, "img[src='images/missing-figure.png']")
    with pdfplumber.open(root / "output" / "manuscript.pdf") as pdf:
        text = re.sub(r"\s+", " ", " ".join(page.extract_text() or "" for page in pdf.pages))
    assert text.count("A figure whose image file is missing.") == 1, "caption printed twice"
    assert "images/missing-figure.png" in text, "the placeholder does not name the file"


def test_print_fonts_are_the_bundled_woff2_files() -> None:
    """The PDF reads each bundled font from its TrueType copy (pdf._font_response):
    it must be the very font the page gets, or the PDF would set other glyphs."""
    import gzip
    import io

    from fontTools.ttLib import woff2

    folder = FONTS_CSS.parents[2] / "fonts"
    sources = sorted(folder.glob("*.woff2"))
    assert sources
    copies = {path.name for path in (folder / "print").glob("*.ttf.gz")}
    assert copies == {f"{source.stem}.ttf.gz" for source in sources}, \
        "run tools/make_print_fonts.py"
    for source in sources:
        expected = io.BytesIO()
        woff2.decompress(io.BytesIO(source.read_bytes()), expected)
        copy = gzip.decompress((folder / "print" / f"{source.stem}.ttf.gz").read_bytes())
        assert copy == expected.getvalue(), f"{source.name}: run tools/make_print_fonts.py"
