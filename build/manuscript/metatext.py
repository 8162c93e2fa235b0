"""Metadata is text: raw markup in ``metadata.yaml`` is shown as written, never run.

Manubot writes the metadata (title, keywords, author names, the ``pandoc:`` mapping)
into the YAML block of ``manuscript.md``, and pandoc reads that YAML as Markdown: a
title holding ``<script>…</script>`` became a raw HTML element in ``<h1>`` and in the
``<meta>`` tags of ``<head>``, and ``` `<w:r>…</w:r>`{=openxml} ``` a live Word run.
Metadata is meant as text (it also fills the Word document properties, JATS and the
Typst title page), so every raw element in it becomes its text here, once, for the page
and every format. Markdown formatting (``*E. coli*``) stays.

The section bodies are the author's content and keep their raw HTML; the page's
Content-Security-Policy is what keeps a script there from running (``csp.py``).
"""

from __future__ import annotations

# Where each raw element keeps its [format, text].
_RAW = ("RawInline", "RawBlock")


def as_text(meta: dict) -> int:
    """Turn every raw element in the metadata into plain text, in place; how many."""
    count = 0

    def walk(node: object) -> None:
        nonlocal count
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            kind = node.get("t")
            if kind in _RAW and isinstance(node.get("c"), list) and len(node["c"]) == 2:
                text = str(node["c"][1])
                count += 1
                if kind == "RawInline":
                    node["t"], node["c"] = "Str", text
                else:  # a block: a paragraph of that text
                    node["t"], node["c"] = "Plain", [{"t": "Str", "c": text}]
                return
            for value in node.values():  # a node's "c", or the mapping of keys
                walk(value)

    walk(meta)
    return count
