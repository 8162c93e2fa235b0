"""Word fields that read files or run code, taken out of raw ``{=openxml}`` before pandoc.

A section may hold raw Office XML (```{=openxml}``), which pandoc copies into the
DOCX as it is. Most of it is formatting; a *field* is an instruction Word carries out
when it opens or updates the document: ``INCLUDETEXT "C:\\\\…"`` and ``INCLUDEPICTURE``
read a file (or a URL) into the document, ``DDE``/``DDEAUTO`` start a program,
``LINK``/``EMBED`` load an object from another file, ``MACROBUTTON`` runs a macro,
``DATABASE`` queries a data source, ``RD`` reads another document, ``PRINT`` sends
printer codes. A co-author who opens the Word file would have their files read or a
program started. So each raw element holding such a field is removed, with a warning
at its ``file:line``; other fields (``PAGE``, ``SEQ``, ``TOC``) stay.

A field's instruction may be split over several runs (``<w:instrText>INCLU</w:instrText>
<w:instrText>DETEXT</w:instrText>``) and over several raw elements: the instructions of
all raw elements are read as one text, as Word does, and every element that holds a part
of a refused field goes.
"""

from __future__ import annotations

import html
import logging
import re
from typing import TYPE_CHECKING

from .. import log
from ..sources import find_occurrences

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)

# Word field codes that read a file or a URL, start a program or run a macro.
REFUSED = ("INCLUDETEXT", "INCLUDEPICTURE", "INCLUDE", "DDEAUTO", "DDE", "LINK", "IMPORT",
           "EMBED", "MACROBUTTON", "DATABASE", "RD", "PRINT", "ADDIN")
_REFUSED = re.compile(r"(?<![A-Z0-9_])(" + "|".join(REFUSED) + r")(?![A-Z0-9_])")
_RAW_FORMATS = ("openxml", "docx")
# A field's instruction: the text of <w:instrText> (and <w:delInstrText>), or the
# w:instr attribute of <w:fldSimple>.
_INSTR_TEXT = re.compile(r"<w:(?:del)?instrText\b[^>]*>(.*?)</w:(?:del)?instrText\s*>", re.S)
_INSTR_ATTR = re.compile(r"""\bw:instr\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _instructions(xml: str) -> str:
    parts = [m.group(1) for m in _INSTR_TEXT.finditer(xml)]
    parts += [m.group(1) or m.group(2) or "" for m in _INSTR_ATTR.finditer(xml)]
    return html.unescape("".join(parts))


def drop_refused_fields(ast: dict, config: Config | None = None) -> list[str]:
    """Remove the raw OpenXML elements that hold a refused field; the fields removed."""
    raws: list[tuple[list, int, str]] = []  # (parent list, index, instruction text)

    def walk(node: object) -> None:
        if isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, dict) and child.get("t") in ("RawBlock", "RawInline") \
                        and isinstance(child.get("c"), list) and len(child["c"]) == 2 \
                        and str(child["c"][0]).lower() in _RAW_FORMATS:
                    instructions = _instructions(str(child["c"][1]))
                    if instructions:
                        raws.append((node, index, instructions))
                else:
                    walk(child)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(ast.get("blocks", []))
    walk(ast.get("meta", {}))
    text = "".join(instructions for _, _, instructions in raws)
    spans = []  # where each element's instructions are in the whole text
    start = 0
    for _, _, instructions in raws:
        spans.append((start, start + len(instructions)))
        start += len(instructions)
    removed: dict[int, str] = {}
    needles: dict[str, list[str]] = {}  # each field: its text, then its elements' texts
    for match in _REFUSED.finditer(text.upper()):
        field = text[match.start():match.end()]
        needles.setdefault(field.upper(), [field])
        for number, (begin, end) in enumerate(spans):
            if begin < match.end() and match.start() < end:
                removed.setdefault(number, field)
                needles[field.upper()].append(raws[number][2].strip())
    for number in sorted(removed, reverse=True):  # later indexes first
        parent, index, _ = raws[number]
        parent[index] = ({"t": "Str", "c": ""} if parent[index]["t"] == "RawInline"
                         else {"t": "Plain", "c": []})
    for field, texts in sorted(needles.items()):
        places = []
        for needle in texts if config is not None else []:
            places = find_occurrences(config.content_dir, needle) if needle else []
            if places:
                break
        where = ""
        if places and config is not None:
            path, line = places[0]
            where = f"{path.relative_to(config.root).as_posix()}:{line}: "
        logger.warning("%sthe Word field %s in raw OpenXML would read files or run code "
                       "when Word updates fields; removed from manuscript.docx", where,
                       field, extra=log.annotate(*places[0]) if places else {})
    return sorted(needles)
