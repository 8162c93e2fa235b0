"""Make the theme's bundled fonts: static WOFF2 instances of OFL fonts, plus their CSS.

Run once when the fonts change; the results are committed (``build/manuscript/data/fonts``
and ``data/theme/css/05-fonts.css``). The sources are ordinary packages, fetched with their
usual clients::

    pip download --no-deps fontpkg-source-serif-4 fontpkg-source-sans-3 fontpkg-source-code-pro
    apt-get download fonts-noto-core && dpkg-deb -x fonts-noto-core_*.deb noto
    python tools/make_fonts.py --wheels DIR_WITH_WHEELS --noto noto/usr/share/fonts/truetype/noto

Why instances: the packages ship variable fonts; WeasyPrint embeds a variable font's
default master only, and static files are what every browser and PDF viewer handles alike.
Why no hinting: it roughly doubles the files and modern renderers ignore it.
The symbol fonts keep only what the text fonts lack, so the page loads them (by
``unicode-range``) only when such a character occurs; WeasyPrint embeds only used glyphs.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "build" / "manuscript" / "data" / "fonts"
CSS = ROOT / "build" / "manuscript" / "data" / "theme" / "css" / "05-fonts.css"
OPSZ = 11  # Source Serif's optical size for running text (10.5 pt print, 17 px screen)
# Each text face is split in two files, as Google Fonts does: an English page loads only
# the "latin" part. The symbol fonts keep the symbol blocks (no braille, cards, chess…).
LATIN = {*range(0x20, 0x100), 0x131, 0x152, 0x153, 0x2BB, 0x2BC, 0x2C6, 0x2DA, 0x2DC,
         *range(0x2000, 0x2070), 0x2074, 0x20AC, 0x2122, 0x2191, 0x2193, 0x2212, 0x2215,
         0xFEFF, 0xFFFD}
SYMBOL_BLOCKS = {*range(0x2100, 0x2800), *range(0x2900, 0x2C00), *range(0x1F100, 0x1F200)}


@dataclass(frozen=True)
class Face:
    family: str  # CSS font-family
    file: str  # output name, also the PostScript name
    source: str  # wheel member or Noto file name
    weight: int
    style: str = "normal"


FACES = (
    Face("Source Serif 4", "SourceSerif4-Regular", "SourceSerif4[opsz,wght].ttf", 400),
    Face("Source Serif 4", "SourceSerif4-Bold", "SourceSerif4[opsz,wght].ttf", 700),
    Face("Source Serif 4", "SourceSerif4-Italic", "SourceSerif4-Italic[opsz,wght].ttf", 400,
         "italic"),
    Face("Source Serif 4", "SourceSerif4-BoldItalic", "SourceSerif4-Italic[opsz,wght].ttf",
         700, "italic"),
    Face("Source Sans 3", "SourceSans3-Regular", "SourceSans3[wght].ttf", 400),
    Face("Source Sans 3", "SourceSans3-Bold", "SourceSans3[wght].ttf", 700),
    Face("Source Sans 3", "SourceSans3-Italic", "SourceSans3-Italic[wght].ttf", 400, "italic"),
    Face("Source Code Pro", "SourceCodePro-Regular", "SourceCodePro[wght].ttf", 400),
)
SYMBOLS = (
    Face("Noto Sans Symbols", "NotoSansSymbols-Regular", "NotoSansSymbols-Regular.ttf", 400),
    Face("Noto Sans Symbols 2", "NotoSansSymbols2-Regular", "NotoSansSymbols2-Regular.ttf",
         400),
)


def wheel_fonts(wheels: Path) -> dict[str, bytes]:
    found = {}
    for wheel in sorted(wheels.glob("fontpkg_*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.endswith(".ttf"):
                    found[Path(name).name] = archive.read(name)
                elif name.endswith("/LICENSE"):
                    found[f"{wheel.name.split('-')[0]}.LICENSE"] = archive.read(name)
    return found


def instance(data: bytes, face: Face) -> TTFont:
    font = TTFont(io.BytesIO(data))
    if "fvar" in font:
        axes = {"wght": face.weight}
        if any(a.axisTag == "opsz" for a in font["fvar"].axes):
            axes["opsz"] = OPSZ
        font = instancer.instantiateVariableFont(font, axes)
    return font


def rename(font: TTFont, face: Face, part: str = "") -> None:
    """Names of one file. Each part gets a family name of its own: WeasyPrint tells fonts
    apart by their description (family, style, weight), and two files described alike
    share one embedded font, so the second one's glyphs print wrong."""
    style = {(400, "normal"): "Regular", (700, "normal"): "Bold", (400, "italic"): "Italic",
             (700, "italic"): "Bold Italic"}[(face.weight, face.style)]
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (16, 17, 21, 22, 25):
            names.removeNames(nameID=record.nameID)
    legacy_style = style if style in ("Regular", "Bold", "Italic", "Bold Italic") else "Regular"
    family = f"{face.family} {part.capitalize()}".strip()
    file = f"{face.file}-{part.capitalize()}" if part else face.file
    for name_id, value in ((1, family), (2, legacy_style), (3, file),
                           (4, f"{family} {style}"), (6, file)):
        names.setName(value, name_id, 3, 1, 0x409)
        names.setName(value, name_id, 1, 0, 0)


def shrink(font: TTFont, unicodes: set[int] | None) -> None:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.notdef_outline = True
    options.glyph_names = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=unicodes if unicodes is not None else font.getBestCmap())
    subsetter.subset(font)


def ranges(codepoints: set[int]) -> str:
    spans, start, prev = [], None, None
    for cp in sorted(codepoints):
        if start is None:
            start = prev = cp
        elif cp == prev + 1:
            prev = cp
        else:
            spans.append((start, prev))
            start = prev = cp
    if start is not None:
        spans.append((start, prev))
    return ", ".join(f"U+{a:X}" if a == b else f"U+{a:X}-{b:X}" for a, b in spans)


def save(font: TTFont, name: str) -> None:
    font.flavor = "woff2"
    font.save(FONTS / f"{name}.woff2")


def font_face(face: Face, file: str, unicode_range: str) -> str:
    extra = f" unicode-range: {unicode_range};" if unicode_range else ""
    return (f'@font-face {{ font-family: "{face.family}"; '
            f'src: url("fonts/{file}.woff2") format("woff2"); font-weight: {face.weight}; '
            f"font-style: {face.style}; font-display: swap;{extra} }}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--noto", type=Path, required=True)
    args = parser.parse_args()
    sources = wheel_fonts(args.wheels)
    FONTS.mkdir(parents=True, exist_ok=True)
    covered: set[int] = set()
    css = ["/* Bundled fonts (OFL; see data/fonts/README.md). Generated by tools/make_fonts.py.",
           "   Relative URLs: output/fonts/ and webpage/v/<version>/fonts/ sit beside the page. */"]
    for path in FONTS.glob("*.woff2"):
        path.unlink()
    for face in FACES:
        full = instance(sources[face.source], face)
        rename(full, face)
        cmap = set(full.getBestCmap())
        covered |= cmap
        # Two families, not one family of two files: WeasyPrint tells fonts apart by their
        # description (family, style, weight) and would embed the second file's glyphs
        # under the first's name. Browsers fetch "latin" (by its unicode-range), and the
        # "… Ext" family, next in the font stack, only for a character outside it.
        for part, wanted in (("latin", cmap & LATIN), ("ext", cmap - LATIN)):
            font = instance(sources[face.source], face)
            rename(font, face, part)
            shrink(font, wanted)
            save(font, f"{face.file}-{part}")
            family = face.family if part == "latin" else f"{face.family} Ext"
            css.append(font_face(dataclasses.replace(face, family=family),
                                 f"{face.file}-{part}",
                                 ranges(wanted) if part == "latin" else ""))
    for face in SYMBOLS:
        font = TTFont(args.noto / face.source)
        # only what the text fonts lack
        wanted = {cp for cp in font.getBestCmap() if cp not in covered and cp in SYMBOL_BLOCKS}
        shrink(font, wanted)
        rename(font, face)
        covered |= wanted
        save(font, face.file)
        # no unicode-range either: fetched only for a character the text fonts lack
        css.append(font_face(face, face.file, ""))
    for name, data in sources.items():
        if name.endswith(".LICENSE"):
            slug = name.split(".")[0].removeprefix("fontpkg_").replace("_", "-")
            (FONTS / f"LICENSE-{slug}.txt").write_bytes(data)
    ofl = sources["fontpkg_source_sans_3.LICENSE"].decode("utf-8")
    (FONTS / "LICENSE-noto.txt").write_text(
        "Copyright 2012-2020 Google Inc. and Google LLC (Noto Sans Symbols, Noto Sans Symbols 2;"
        " from Debian's fonts-noto-core 20201225-1).\n\n"
        + ofl[ofl.index("This Font Software is licensed"):], encoding="utf-8")
    CSS.write_text("\n".join(css) + "\n", encoding="utf-8")
    for path in sorted(FONTS.glob("*.woff2")):
        print(f"{path.name}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
