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
<w:instrText>DETEXT</w:instrText>``) and over several raw elements: fields are read as
Word reads them, from ``begin`` to ``end`` across the raw elements in document order, and
every element holding a part of a refused field goes (so none is left half open).
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
REFUSED = frozenset({"INCLUDETEXT", "INCLUDEPICTURE", "INCLUDE", "DDEAUTO", "DDE", "LINK",
                     "IMPORT", "EMBED", "MACROBUTTON", "DATABASE", "RD", "PRINT", "ADDIN"})
_RAW_FORMATS = ("openxml", "docx")
# The parts of a field, in document order, under any prefix (raw XML may bind its own):
# <w:fldChar w:fldCharType="begin|separate|end"/>, the instruction's text in
# <w:instrText> (or <w:delInstrText>), and <w:fldSimple w:instr="…">, a whole field.
_PX = r"(?:[\w.-]+:)?"
_PARTS = re.compile(
    rf"<{_PX}fldChar\b[^>]*?{_PX}fldCharType\s*=\s*[\"']?(?P<char>\w+)"
    rf"|<{_PX}(?:del)?instrText\b[^>]*>(?P<text>.*?)</{_PX}(?:del)?instrText\s*>"
    rf"|<{_PX}fldSimple\b[^>]*?(?<![\w.-]){_PX}instr\s*=\s*(?:\"(?P<dq>[^\"]*)\"|'(?P<sq>[^']*)')",
    re.S | re.I)


class _Field:
    def __init__(self, element: int) -> None:
        self.elements = {element}
        self.instruction = ""


def _refused(instruction: str) -> str | None:
    words = html.unescape(re.sub(r"<!\[CDATA\[|\]\]>", "", instruction)).split()
    name = words[0].upper() if words else ""
    return name if name in REFUSED else None


def drop_refused_fields(ast: dict, config: Config | None = None) -> list[str]:
    """Remove the raw OpenXML elements that hold a part of a refused field; their names.

    Fields are read as Word reads them, across elements: from ``begin`` to ``end``, the
    instruction being the text of every ``instrText`` in between, named by its first
    word (nested fields are fields of their own); a ``fldSimple`` is one field.
    """
    raws: list[tuple[list, int, str]] = []  # (parent list, index, XML)

    def walk(node: object) -> None:
        if isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, dict) and child.get("t") in ("RawBlock", "RawInline") \
                        and isinstance(child.get("c"), list) and len(child["c"]) == 2 \
                        and str(child["c"][0]).lower() in _RAW_FORMATS:
                    raws.append((node, index, str(child["c"][1])))
                else:
                    walk(child)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)

    walk(ast.get("meta", {}))
    walk(ast.get("blocks", []))
    removed: dict[int, str] = {}  # element number → the field it helped make
    texts: dict[str, list[str]] = {}  # field → instruction texts, to find its line
    open_fields: list[_Field] = []

    def judge(field: _Field) -> None:
        name = _refused(field.instruction)
        if name:
            for number in field.elements:
                removed.setdefault(number, name)
            texts.setdefault(name, []).append(field.instruction.strip())

    for number, (_, _, xml) in enumerate(raws):
        for part in _PARTS.finditer(xml):
            char = (part.group("char") or "").lower()
            if char == "begin":
                open_fields.append(_Field(number))
            elif char in ("separate", "end") and open_fields:
                open_fields[-1].elements.add(number)
                if char == "end":
                    judge(open_fields.pop())
            elif part.group("text") is not None:
                if not open_fields:  # an instruction without its begin: judged alone
                    open_fields.append(_Field(number))
                open_fields[-1].elements.add(number)
                open_fields[-1].instruction += part.group("text")
            elif part.group("dq") is not None or part.group("sq") is not None:
                simple = _Field(number)
                simple.instruction = part.group("dq") or part.group("sq") or ""
                judge(simple)
    for field in open_fields:  # never ended: Word would still read what it can
        judge(field)
    for number in removed:
        parent, index, _ = raws[number]
        parent[index] = ({"t": "Str", "c": ""} if parent[index]["t"] == "RawInline"
                         else {"t": "Plain", "c": []})
    for name in sorted(texts):
        _warn(name, texts[name], config)
    return sorted(texts)


def _warn(name: str, instructions: list[str], config: Config | None) -> None:
    """One warning per field name, at the first line that names it (or holds a part)."""
    places: list = []
    needles = [name, name.lower(), name.title(), *instructions,
               *[word for text in instructions for word in text.split()[:1]]]
    for needle in needles if config is not None else []:
        places = find_occurrences(config.content_dir, needle) if needle else []
        if places:
            break
    where = ""
    if places and config is not None:
        path, line = places[0]
        where = f"{path.relative_to(config.root).as_posix()}:{line}: "
    logger.warning("%sthe Word field %s in raw OpenXML would read files or run code when "
                   "Word updates fields; removed from manuscript.docx", where, name,
                   extra=log.annotate(*places[0]) if places else {})
