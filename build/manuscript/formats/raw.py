"""Raw XML an author wrote for one format (```` ```{=jats} ````, `` `…`{=openxml} ``).

pandoc copies raw output into the file as it is. Malformed XML there made the whole
JATS file unreadable (lxml stopped the format worker with ``XMLSyntaxError``) and a
Word file that Word refuses to open; so each raw element is parsed first, and one that
is not well-formed is left out with a warning naming its ``file:line``: the rest of
the file is still written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .. import log
from .document import Places

logger = logging.getLogger(__name__)

# Word's namespaces a raw OpenXML fragment may use without declaring them (pandoc's
# document.xml declares these).
OPENXML_NAMESPACES = {
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "m": "http://schemas.openxmlformats.org/officeDocument/2006/math",
    "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
    "pic": "http://schemas.openxmlformats.org/drawingml/2006/picture",
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
    "o": "urn:schemas-microsoft-com:office:office",
    "v": "urn:schemas-microsoft-com:vml",
    "w10": "urn:schemas-microsoft-com:office:word",
    "w14": "http://schemas.microsoft.com/office/word/2010/wordml",
    "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
}
# JATS: the writer's root declares these.
JATS_NAMESPACES = {
    "xlink": "http://www.w3.org/1999/xlink",
    "mml": "http://www.w3.org/1998/Math/MathML",
    "ali": "http://www.niso.org/schemas/ali/1.0/",
}


def problem(fragment: str, namespaces: dict[str, str]) -> str | None:
    """Why ``fragment`` is not well-formed XML content (None if it is)."""
    from lxml import etree

    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in namespaces.items())
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                             huge_tree=False)
    try:
        etree.fromstring(f"<fragment {declared}>{fragment}</fragment>".encode(), parser)
    except etree.XMLSyntaxError as error:
        return str(error.msg or error).split(" (line", 1)[0]
    return None


def drop_malformed(ast: dict, formats: Iterable[str], namespaces: dict[str, str],
                   label: str, places: Places) -> None:
    """Leave out every raw element of ``formats`` that is not well-formed XML."""
    formats = set(formats)

    def keep(node: dict) -> bool:
        if node.get("t") not in ("RawBlock", "RawInline"):
            return True
        content = node.get("c")
        if not (isinstance(content, list) and len(content) == 2
                and content[0] in formats and isinstance(content[1], str)):
            return True
        why = problem(content[1], namespaces)
        if why is None:
            return True
        place = places.of(node)
        logger.warning("%sraw %s left out (not well-formed XML: %s)", places.where(node),
                       label, why, extra=log.annotate(*place) if place else {})
        return False

    def walk(value: object) -> None:
        if isinstance(value, list):
            value[:] = [item for item in value if not isinstance(item, dict) or keep(item)]
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(ast["blocks"])
    walk(ast["meta"])
