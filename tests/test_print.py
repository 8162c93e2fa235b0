"""The PDF as a reader prints it: measure, reference density, fonts, missing images.

Run on the showcase fixture and on the six shared corpus manuscripts (skipped without
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

THEME_CSS = Path(__file__).resolve().parents[1] / "build" / "manuscript" / "data" / "theme" / "css"
FONTS_CSS = THEME_CSS / "05-fonts.css"
# Families an author's CSS may name, given bundled files (WeasyPrint embeds them under
# the family's name: "Arial" in xswap's PDF is Source Sans 3).
ALIASES_CSS = THEME_CSS / "06-font-aliases.css"
BODY_SIZE = 10.5  # pt, 90-print.css
REFS_SIZE = 8.5
_ENTRY_START = re.compile(r"^\d{1,4}\.\s")
# Lines of 8.5 pt references on a full A4 page: 53-61 on the six corpus manuscripts (a
# page that opens the list with its heading included). A blank line's worth of space
# between entries of two lines would leave about two thirds of that: under 40.
MIN_REFERENCE_LINES = 50


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


def test_reference_pages_are_full(pdf_path: Path) -> None:
    """A journal-like reference list: every page of it but the last is filled with
    references at their small size, with no loose space between entries. Counted in
    lines, not entries: how long an entry is depends on the manuscript's CSL style
    (meta-review's prints 26-28 a page, xswap's, with every author named, 12)."""
    lines: dict[int, int] = defaultdict(int)
    entries: dict[int, int] = defaultdict(int)
    for page, _, _, text in _lines(pdf_path, REFS_SIZE):
        lines[page] += 1
        entries[page] += bool(_ENTRY_START.match(text))
    pages = sorted(page for page in entries if entries[page])
    assert pages, "no numbered reference entries found"
    full_pages = pages[:-1]  # the last page of the list is as full as it happens to be
    if not full_pages:
        pytest.skip("the reference list fits on one page")
    sparse = {page: lines[page] for page in full_pages if lines[page] < MIN_REFERENCE_LINES}
    assert not sparse, f"reference pages with fewer than {MIN_REFERENCE_LINES} lines: {sparse}"


def _bundled_families() -> set[str]:
    families = set(re.findall(r'font-family: "([^"]+)"', FONTS_CSS.read_text(encoding="utf-8")))
    assert families, f"no @font-face in {FONTS_CSS}"
    aliases = re.findall(r'font-family: "([^"]+)"; src: url\("fonts/', ALIASES_CSS.read_text(
        encoding="utf-8"))
    return {family.replace(" ", "-") for family in families | set(aliases)}


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


# ---- wide tables and long formulas on paper -------------------------------------------

_DIGITS = ("3.14159265358979323846264338327950", "288419716939937510582097494459230",
           "781640628620899862803482534211706")
_E = ("2.71828182845904523536028747135266", "249775724709369995957496696762772",
      "407663035354759457138217852516642")
_LONG_URL = "https://example.org/archive/datasets/2024/release_candidate/table-of-results.html"
_ABC = "a + b + c"
# The section a test adds to a copy of the showcase: rootstock's "table too wide to fit
# within page" (33-digit numbers, code links), one cell holding a long URL, and formulas
# of the same glyphs as a short one (to compare their scale) but 1.5 and 4 columns wide.
_PRINT_CASES = f"""## Print cases

| | Digits 1-33 | Digits 34-66 | Digits 67-99 | Ref. |
|:--|:------------|:------------|:------------|:-----|
| pi | {_DIGITS[0]} | {_DIGITS[1]} | {_DIGITS[2]} | [`piday.org`](https://www.piday.org/million/) |
| e | {_E[0]} | {_E[1]} | {_E[2]} | [`nasa.gov`](https://apod.nasa.gov/htmltest/gifcity/e.2mil) |
| url | {_LONG_URL} | 1 | 2 | 3 |

Table: A table too wide to fit within the page. {{#tbl:print-wide}}

A short formula:

$${_ABC}$$

A formula one and a half columns wide:

$${" + ".join([_ABC] * 10)}$$ {{#eq:print-long}}

A formula four columns wide:

$${" + ".join([_ABC] * 48)}$$

The end of the print cases.
"""


@pytest.fixture(scope="module")
def print_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from helpers import copy_manuscript, run_manuscript
    from reading import SHOWCASE

    root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("print-cases"))
    (root / "content" / "40.print-cases.md").write_text(_PRINT_CASES, encoding="utf-8")
    run_manuscript(root, "build", "--offline")
    page = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "<colgroup>" in page.split("print-wide", 1)[1].split("</table>", 1)[0], \
        "pandoc wrote no column widths: the test no longer covers a wide table"
    return root / "output" / "manuscript.pdf"


def _column(pdf_path: Path) -> tuple[float, float]:
    """The text column's left and right edge: where justified body lines start and end."""
    lines = _lines(pdf_path, BODY_SIZE)
    return min(x0 for _, x0, _, _ in lines), max(x1 for _, _, x1, _ in lines)


def _page_with(pdf, text: str):
    for page in pdf.pages:
        if text in (page.extract_text() or ""):
            return page
    raise AssertionError(f"{text!r} is on no page")


def test_wide_table_fits_the_column_and_breaks_only_at_sensible_points(
    print_cases: Path,
) -> None:
    left, right = _column(print_cases)
    with pdfplumber.open(print_cases) as pdf:
        page = _page_with(pdf, "Digits 1-33")
        head = min(w["top"] for w in page.extract_words() if w["text"] == "Digits")
        end = min([w["top"] for w in page.extract_words() if w["text"] == "short"]
                  + [page.height])  # the text after the table, or the page's end
        cells = [c for c in page.chars if head - 1 <= c["top"] < end and c["size"] < 8.2]
        assert cells, "no table text found"
        outside = {c["text"] for c in cells if c["x1"] > right + 0.5 or c["x0"] < left - 0.5}
        assert not outside, f"table text beyond the column ({left:.0f}-{right:.0f} pt): {outside}"
        words = page.within_bbox((0, head - 1, page.width, end)).extract_words()
    texts = [w["text"] for w in words]
    # the narrow "Ref." column: its code whole, not one letter a line
    assert "piday.org" in texts and "nasa.gov" in texts, texts
    # the long URL: broken into lines only after / . _ and the like, never mid-word
    pieces = [t for t in texts if t and (t in _LONG_URL and len(t) > 3)]
    assert "".join(pieces) == _LONG_URL, f"URL pieces {pieces}"
    assert len(pieces) > 1, "the URL was not broken: the column is too wide"
    for piece in pieces[:-1]:
        assert piece[-1] in "/._-?&=#~:", f"the URL breaks after {piece!r}"
    # each number is all there, read down its column (its cell's lines start there)
    columns: dict[int, list[dict]] = defaultdict(list)
    for word in words:
        columns[round(word["x0"])].append(word)
    read = ["".join(w["text"] for w in sorted(column, key=lambda w: w["top"]))
            for column in columns.values()]
    for number in _DIGITS:
        assert any(number in text for text in read), f"{number} lost in the table: {read}"


def _ink(page, top: float, bottom: float) -> tuple[float, float, float, float]:
    """x0, x1, top, bottom of what is drawn (not text) between ``top`` and ``bottom``."""
    shapes = [o for o in page.curves + page.rects + page.lines
              if o["top"] >= top and o["bottom"] <= bottom]
    assert shapes, "no formula drawn there"
    return (min(o["x0"] for o in shapes), max(o["x1"] for o in shapes),
            min(o["top"] for o in shapes), max(o["bottom"] for o in shapes))


def test_long_formula_is_not_shrunk_below_70_percent_nor_off_the_paper(
    print_cases: Path,
) -> None:
    """math.MIN_DISPLAY_SCALE: a formula 1.5 columns wide is set at 70 % of its size
    (scaled to fit, it was 2/3 and less), overflowing into the margin, with its number
    below it, in the column; one 4 columns wide is scaled to stay on the paper."""
    _, right = _column(print_cases)
    with pdfplumber.open(print_cases) as pdf:
        page = _page_with(pdf, "A formula one and a half")
        words = page.extract_words()

        def place(word: str) -> tuple[float, float]:
            found = [w for w in words if w["text"] == word]
            assert found, f"{word!r} not on the page"
            return found[0]["top"], found[0]["bottom"]

        short = _ink(page, place("short")[1], place("one")[0])
        number = [w for w in words if re.fullmatch(r"\(\d+\)", w["text"])
                  and w["top"] > place("one")[1]]
        assert number, "the long formula's number is not on its page"
        long = _ink(page, place("one")[1], place("four")[0])
        longest = _ink(page, place("four")[1], place("end")[0])
        paper = page.width - 5 * 72 / 25.4  # 5 mm from the paper's edge
    scale = (long[3] - long[2]) / (short[3] - short[2])
    assert scale >= 0.69, f"the long formula is set at {scale:.0%} of the short one's size"
    assert long[1] > right + 5, "the long formula was shrunk into the column"
    assert number[0]["x1"] <= right + 0.5, f"the equation number is not in the column: {number}"
    assert longest[1] <= paper, "the longest formula runs off the paper"


def test_no_page_ends_with_a_lead_in(pdf_path: Path) -> None:
    """A paragraph ending with a colon introduces what follows (a formula, a list): it
    is never the last text of a page, its subject on the next (pdf.keep_lead_ins)."""
    stranded = []
    with pdfplumber.open(pdf_path) as pdf:
        for number, page in enumerate(pdf.pages[:-1], start=1):
            rows: dict[float, list[dict]] = defaultdict(list)
            for char in page.chars:
                if abs(char["size"] - BODY_SIZE) < 0.2 and "Serif" in char["fontname"]:
                    rows[round(char["top"])].append(char)
            if not rows:
                continue
            last = sorted(rows[max(rows)], key=lambda c: c["x0"])
            text = "".join(c["text"] for c in last).rstrip()
            bottom = max(c["bottom"] for c in last)
            below = [o for o in page.curves + page.rects + page.lines + page.images
                     + [c for c in page.chars if c["size"] > 9]  # not the page number
                     if o["top"] > bottom]
            if text.endswith(":") and not below:
                stranded.append((number, text))
    assert not stranded, f"pages ending with a lead-in: {stranded}"


def test_links_printed_as_urls_are_not_hyphenated(pdf_path: Path) -> None:
    """Each line's piece of a link that shows its URL (or DOI) is a piece of that URL:
    hyphenation set "https://doi.org/10.1371/jour-" and "nal.pcbi…" on two lines."""
    from urllib.parse import unquote

    wrong = []
    with pdfplumber.open(pdf_path) as pdf:
        for page in pdf.pages:
            for link in page.hyperlinks:
                chars = [c for c in page.chars
                         if c["x0"] >= link["x0"] - 0.5 and c["x1"] <= link["x1"] + 0.5
                         and c["top"] >= link["top"] - 1 and c["bottom"] <= link["bottom"] + 1]
                text = "".join(c["text"] for c in sorted(chars, key=lambda c: c["x0"]))
                uri = unquote(link.get("uri") or "").lower()
                if uri.startswith("http") and "/" in text and " " not in text \
                        and text.lower() not in uri:
                    wrong.append((text, uri))
    assert not wrong, f"link texts that are not pieces of their URL: {wrong[:5]}"


def test_author_icons_stay_with_their_links(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The ORCID, GitHub and Twitter icons of the author block are on the line of the
    link they label (pdf.keep_icons_with_labels): the Twitter bird ended a line and the
    handle began the next."""
    from urllib.parse import urlsplit

    root = build_reading("meta-review", tmp_path_factory)
    profiles = []
    with pdfplumber.open(root / "output" / "manuscript.pdf") as pdf:
        page = pdf.pages[0]
        shapes = page.curves + page.rects + page.lines
        for link in page.hyperlinks:
            url = urlsplit(link.get("uri") or "")
            if url.netloc in ("twitter.com", "github.com", "orcid.org") \
                    and url.path.strip("/").count("/") == 0:
                profiles.append(link)
    assert len(profiles) >= 15, "the author block's profile links are not on page 1"
    alone = [link["uri"] for link in profiles
             if not any(link["x0"] - 15 <= s["x1"] <= link["x0"] + 0.5
                        and s["bottom"] > link["top"] and s["top"] < link["bottom"]
                        for s in shapes)]
    assert not alone, f"links whose icon is not beside them: {alone}"


def test_inline_code_is_not_hyphenated(pdf_path: Path) -> None:
    """A line that ends inside inline code ends with the code's own characters: a hyphen
    added there ("at-" / "tributes") makes another word, one a reader might type."""
    page_html = parse_html((pdf_path.parent / "manuscript.html").read_text(encoding="utf-8"))
    codes = [text_of(code) for code in select(page_html, "code")]
    added = []
    with pdfplumber.open(pdf_path) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            rows: dict[float, list[dict]] = defaultdict(list)
            for char in page.chars:
                rows[round(char["top"])].append(char)
            for chars in rows.values():
                chars.sort(key=lambda c: c["x0"])
                tail: list[dict] = []  # the line's last run of code characters
                for char in reversed(chars):
                    if ("Code" not in char["fontname"] or char["text"].isspace()
                            or (tail and tail[0]["x0"] - char["x1"] > 1)):
                        break
                    tail.insert(0, char)
                piece = "".join(c["text"] for c in tail)
                if piece.endswith("-") and not any(piece in code for code in codes):
                    added.append((number, piece))
    assert not added, f"code hyphenated at a line's end: {added}"
